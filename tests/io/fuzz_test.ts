/**
 * The fuzz test (issue 14): seeded mutations of every format worldflux loads from users and
 * downloaded projects — `.npy`, `.npz` replay buffers, saved models, training checkpoints and
 * `worldflux.toml` — run by `fuzz_driver.ts` in a process of its own. It asserts no hang (the
 * run is cut off after a generous bound and the case it was on is named), no raw exception (only
 * typed WorldFluxErrors), no peak memory beyond the allocation limit set for the run (plus the
 * runtime's own), and that data under a checksum is never loaded altered.
 *
 * CI runs 300 cases per format with a fixed seed. A longer run:
 * `WORLDFLUX_FUZZ_CASES=5000 WORLDFLUX_FUZZ_SEED=7 deno test -A tests/io/fuzz_test.ts`.
 */

import assert from "node:assert/strict";

const CASES = Number(Deno.env.get("WORLDFLUX_FUZZ_CASES") ?? 300);
const SEED = Number(Deno.env.get("WORLDFLUX_FUZZ_SEED") ?? 1);
const DRIVER = new URL("./fuzz_driver.ts", import.meta.url).pathname;
/** A hang detector, not a speed check: far beyond what the run takes on a loaded machine. */
const HANG_MS = Math.max(600_000, CASES * 5 * 400);

Deno.test("fuzz: mutated npy, npz, saved models, checkpoints and worldflux.toml never hang, never throw raw, never load altered data", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      DRIVER,
      "--cases",
      String(CASES),
      "--seed",
      String(SEED),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, HANG_MS);
  const out = await child.output();
  clearTimeout(timer);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  const last = lines.filter((l) => l.startsWith("case ")).pop() ?? "before the first case";
  assert.ok(!timedOut, `the fuzz run hung (killed after ${HANG_MS / 1000} s at ${last})`);
  const reportLine = lines.find((l) => l.startsWith('{"report"'));
  assert.ok(
    out.success && reportLine,
    `the fuzz run failed at ${last}:\n${new TextDecoder().decode(out.stderr).slice(-3000)}`,
  );
  const { report } = JSON.parse(reportLine!);
  assert.deepEqual(report.violations, [], JSON.stringify(report.violations.slice(0, 20), null, 2));
  for (const format of ["npy", "npz", "model", "checkpoint", "toml"]) {
    const c = report.counts[format];
    assert.equal(c.cases, CASES, format);
    assert.equal(c.loaded + c.refused, CASES, `${format}: every case loaded or refused`);
    assert.ok(c.refused > 0, `${format}: the mutations reach the checks`);
  }
});
