import assert from "node:assert/strict";
import { run } from "./helpers.ts";

Deno.test("cli models list: the supported surface as a table and as JSON", async () => {
  const t = await run(["models", "list"]);
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /^MODEL\s+FAMILY\s+MATURITY\s+SURFACE\s+TIER/);
  assert.match(t.out, /^dreamerv3:ci\s+dreamerv3\s+reference\s+supported\s+compatibility/m);
  assert.doesNotMatch(t.out, /official_xl|mlp:/);
  const j = await run(["models", "list", "--format", "json"]);
  assert.equal(j.code, 0);
  const ids = (JSON.parse(j.out) as { id: string }[]).map((e) => e.id);
  assert.ok(ids.includes("tdmpc2:5m") && ids.includes("dreamerv3:size12m"));
  assert.ok(!ids.includes("tdmpc2:proof_5m"));
  const pub = JSON.parse(
    (await run(["models", "list", "--surface", "public", "--format", "json"])).out,
  );
  assert.ok(
    pub.some((e: { id: string; tier: string }) => e.id === "tdmpc2:proof_5m" && e.tier === "proof"),
  );
});

Deno.test("cli models list --verbose: counted parameters; filters by surface and maturity", async () => {
  const j = await run([
    "models",
    "list",
    "--verbose",
    "--surface",
    "all",
    "--maturity",
    "experimental",
    "--format",
    "json",
  ]);
  assert.equal(j.code, 0, j.err);
  const rows = JSON.parse(j.out) as { id: string; params: number; params_label: string }[];
  // The experimental families, and only they: no stable family's preset slips in.
  const families = new Set(rows.map((r) => r.id.split(":")[0]));
  assert.deepEqual([...families].sort(), ["jepa", "mlp", "token"]);
  assert.ok(rows.every((r) => r.params > 0 && r.params_label.startsWith("~")));
  const t = await run([
    "models",
    "list",
    "--verbose",
    "--surface",
    "all",
    "--maturity",
    "experimental",
  ]);
  assert.match(t.out, /^MODEL\s+MATURITY\s+TIER\s+PARAMS/);
  assert.match(t.out, /^mlp:small\s+experimental\s+-\s+~/m);
  assert.equal((await run(["models", "list", "--surface", "everything"])).code, 2);
});

Deno.test("cli models info: a preset or alias, table and JSON; unknown names list close ones", async () => {
  const t = await run(["models", "info", "tdmpc2:5m"]);
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /^tdmpc2:5m/);
  assert.match(t.out, /tier:\s+reference/);
  assert.match(t.out, /parameters:\s+[\d,]+ \(~5\.0M, counted\)/);
  const j = JSON.parse((await run(["models", "info", "dreamer", "--format", "json"])).out);
  assert.equal(j.id, "dreamerv3:size12m");
  assert.equal(j.alias, "dreamer");
  assert.ok(j.params > 10_000_000);
  const bad = await run(["models", "info", "tdmpc2:5"]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown preset "5" of the tdmpc2 family; closest: "tdmpc2:5m"/);
  assert.equal((await run(["models", "info"])).code, 2);
  assert.equal((await run(["models", "frobnicate"])).code, 2);
  assert.equal((await run(["models"])).code, 2);
  assert.match((await run(["models", "--help"])).out, /Usage: worldflux models <list\|info>/);
});

Deno.test("cli: --help for every command, and the global help lists them", async () => {
  const g = await run(["--help"]);
  for (const c of ["init", "train", "verify", "models", "doctor", "bench"]) {
    assert.match(g.out, new RegExp(`^\\s+${c}\\s`, "m"));
    const h = await run([c, "--help"]);
    assert.equal(h.code, 0, c);
    assert.match(h.out, new RegExp(`Usage: worldflux ${c}`));
  }
  for (const sub of ["list", "info"]) {
    assert.match(
      (await run(["models", sub, "--help"])).out,
      new RegExp(`Usage: worldflux models ${sub}`),
    );
  }
});

Deno.test("cli bench --quick: matmul and compiled train steps on the cpu, and what it is not", async () => {
  const r = await run(["bench", "--quick", "--device", "cpu", "--format", "json"]);
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  const names = report.results.map((x: { name: string }) => x.name);
  assert.ok(names.some((n: string) => n.startsWith("matmul 256x256")));
  assert.ok(names.some((n: string) => n.startsWith("dreamer:ci train step")));
  assert.ok(names.some((n: string) => n.startsWith("tdmpc2:ci train step")));
  for (const x of report.results) assert.ok(x.value > 0 && Number.isFinite(x.value));
  assert.match(report.note, /not a substitute for "deno task bench"/);
  assert.equal((await run(["bench", "--device", "gpu"])).code, 2);
});
