/**
 * Error hygiene: a parse error never quotes the file it read (a symlink to a secret), argument
 * errors are typed, a disposed model says so, and notes carry the `worldflux:` prefix once.
 */

import assert from "node:assert/strict";
import {
  ConfigError,
  createWorldModel,
  decodeNpy,
  DisposedError,
  fromPretrained,
  randn,
  readCheckpoint,
  readSafetensors,
  ReplayBuffer,
  Trainer,
  WorldFluxError,
} from "../../mod.ts";
import { loadProjectConfig } from "../../src/cli/project.ts";
import { quickVerify } from "../../src/cli/verify.ts";
import { captureWarnings } from "./helpers.ts";

const SECRET = "hunter2-do-not-print";

async function messageOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    assert.ok(e instanceof WorldFluxError, `a typed error, got ${e}`);
    return e.message;
  }
  throw new Error("expected an error");
}

Deno.test("errors: parse errors never quote the file (symlinked secrets in JSON, TOML, npy, safetensors)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const secret = `${dir}/secret.txt`;
    await Deno.writeTextFile(secret, `${SECRET}\n{"a": ${SECRET}}\n`);
    const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
    await model.savePretrained(`${dir}/model`);
    model.dispose();
    // The meta of a saved model is a link to the secret.
    await Deno.remove(`${dir}/model/worldflux_meta.json`);
    await Deno.symlink(secret, `${dir}/model/worldflux_meta.json`);
    const m1 = await messageOf(fromPretrained(`${dir}/model`));
    assert.match(m1, /worldflux_meta\.json is not valid JSON \(syntax error at line 1, column 1\)/);
    // A checkpoint manifest, a run manifest, a project file, an .npy header, a safetensors header.
    await Deno.mkdir(`${dir}/ck`);
    await Deno.symlink(secret, `${dir}/ck/manifest.json`);
    const m2 = await messageOf(readCheckpoint(`${dir}/ck`));
    assert.match(m2, /not valid JSON \(syntax error at line 1, column 1\)/);
    await Deno.mkdir(`${dir}/run`);
    await Deno.symlink(secret, `${dir}/run/run_manifest.json`);
    const report = await quickVerify(`${dir}/run`, { write: false });
    const m3 = JSON.stringify(report);
    assert.match(m3, /not valid JSON/);
    await Deno.writeTextFile(`${dir}/worldflux.toml`, `token = "${SECRET}"\n[data\n`);
    const m4 = await messageOf(loadProjectConfig(`${dir}/worldflux.toml`));
    assert.match(m4, /is not valid TOML: .*\(line 2, column \d+\)/);
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (2,), '${SECRET}': 1}`;
    const npy = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
    const m5 = await messageOf(() =>
      decodeNpy(new Uint8Array([...npy, ...new TextEncoder().encode(header)]))
    );
    assert.match(m5, /the \.npy header must have exactly the keys|malformed \.npy header/);
    const st = new TextEncoder().encode(`{"${SECRET}": nope}`);
    const bytes = new Uint8Array(8 + st.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(st.length), true);
    bytes.set(st, 8);
    await Deno.writeFile(`${dir}/w.safetensors`, bytes);
    const m6 = await messageOf(readSafetensors(`${dir}/w.safetensors`));
    assert.match(m6, /the header is not valid JSON \(syntax error at line 1, column/);
    for (const m of [m1, m2, m3, m4, m5, m6]) assert.ok(!m.includes("hunter2"), m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: typed argument errors; a disposed model says it was disposed", async () => {
  const buf = new ReplayBuffer({ capacity: 10, obsShape: [2], actionDim: 1 });
  buf.addEpisode({ obs: new Float32Array(8), actions: new Float32Array(4), rewards: [0, 0, 0, 0] });
  assert.throws(() => buf.sample(0, 2), ConfigError);
  assert.throws(() => buf.sample(2, 1.5), ConfigError);
  const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
  model.dispose();
  const err = (() => {
    try {
      model.encode(randn([2, 4]));
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof DisposedError, String(err));
  const msg = err.message;
  assert.match(msg, /freed by MLPWorldModel\.dispose\(\).*create or load it again/);
  assert.ok(!msg.includes("tidy"), msg);
});

Deno.test("errors: notes carry the worldflux: prefix once", async () => {
  const model = await createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2 });
  const warnings = await captureWarnings(async () => {
    // sequenceLength 6 != horizon + 1: the tdmpc2 step notes it through the default log.
    const t = new Trainer(model, { totalSteps: 1, sequenceLength: 6 }, {
      defaultCallbacks: false,
    });
    await t.setup();
    t.dispose();
  });
  assert.ok(
    warnings.some((w) => /^worldflux: tdmpc2 uses the first horizon/.test(w)),
    warnings.join("\n"),
  );
  assert.ok(!warnings.some((w) => w.includes("worldflux: worldflux:")), warnings.join("\n"));
  model.dispose();
});
