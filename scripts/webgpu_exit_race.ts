/**
 * Measures how often a `deno test` process that did WebGPU work dies at exit, with the exit guard
 * of `src/backend/webgpu/exit_guard.ts` off and on (alternating, so both see the same load).
 *
 * Each run is a fresh `deno test` of one small test file that brings up the webgpu device, runs a
 * few matmuls, reads a value back and leaves more work queued. All its tests pass; a non-zero
 * exit is a crash during the process's exit (SIGSEGV in libEGL, or glibc's "corrupted size vs.
 * prev_size in fastbins" / "double free" abort). Run on a loaded machine to see it; with
 * `MALLOC_PERTURB_` set, freed memory is scribbled on and the race ends as SIGSEGV more often.
 *
 * ```sh
 * deno run -A scripts/webgpu_exit_race.ts [runs per mode, default 20]
 * MALLOC_PERTURB_=165 nice -n 5 deno run -A scripts/webgpu_exit_race.ts 100
 * ```
 * @module
 */

const runs = Number(Deno.args[0] ?? 20);
if (!Number.isInteger(runs) || runs < 1) {
  throw new RangeError(`runs per mode must be a positive integer (got "${Deno.args[0]}")`);
}

const root = new URL("../", import.meta.url);
const dir = await Deno.makeTempDir({ prefix: "wf_exit_race_" });
const testFile = `${dir}/webgpu_exit_test.ts`;
await Deno.writeTextFile(
  testFile,
  `import { initWebGPU, randn, realize } from ${JSON.stringify(new URL("mod.ts", root).href)};
Deno.test({ name: "webgpu work, then the process exits", sanitizeOps: false, sanitizeResources: false,
  async fn() {
    await initWebGPU();
    const a = randn([256, 256], { device: "webgpu" });
    let x = a;
    for (let i = 0; i < 8; i++) x = x.matmul(a).tanh();
    await x.sum().data();
    for (let i = 0; i < 8; i++) x = x.matmul(a).tanh();
    realize(x); // left in flight
  } });
`,
);

const modes = ["off", "on"] as const;
const crashes: Record<string, string[]> = { off: [], on: [] };
try {
  for (let i = 1; i <= runs; i++) {
    for (const mode of modes) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "test",
          "-A",
          "--no-check",
          "--config",
          new URL("deno.json", root).pathname,
          testFile,
        ],
        env: { WORLDFLUX_WEBGPU_EXIT_GUARD: mode, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      if (!/1 passed \| 0 failed/.test(text)) {
        throw new Error(`run ${i} (${mode}): the test itself did not pass:\n${text}`);
      }
      if (out.code !== 0) {
        const why = out.signal ??
          text.match(/corrupted[^\n]*|double free[^\n]*|free\(\)[^\n]*/)?.[0];
        crashes[mode].push(`run ${i}: exit ${out.code} ${why ?? ""}`.trim());
      }
    }
    const line = modes.map((m) => `guard ${m}: ${crashes[m].length}/${i} crashed`).join(", ");
    console.log(line);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
for (const mode of modes) {
  for (const c of crashes[mode]) console.log(`guard ${mode}: ${c}`);
}
