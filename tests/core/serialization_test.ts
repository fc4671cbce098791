import assert from "node:assert/strict";
import {
  CheckpointError,
  type CheckpointProblem,
  createWorldModel,
  FamilyUnavailableError,
  fromPretrained,
  randn,
  readSafetensors,
  saveSafetensors,
  tensor,
  type WorldModel,
} from "../../mod.ts";
import { tempDir, unregisterReferenceFamilies } from "./helpers.ts";

const opts = { obsShape: [4], actionDim: 2, seed: 3 };

/** Reads every tensor of a model's decode and rollout outputs, as plain arrays. */
async function outputs(model: WorldModel): Promise<number[][]> {
  const obs = randn([3, 4], { seed: 11 });
  const actions = randn([6, 3, 2], { seed: 12 });
  const s = model.encode(obs, { deterministic: true });
  const dec = model.decode(s).predictions;
  const traj = model.rollout(s, actions, { deterministic: true });
  const ts = [
    s.get("latent"),
    dec.obs,
    dec.reward,
    dec.continue,
    traj.rewards!,
    traj.continues!,
    traj.finalState.get("latent"),
  ];
  return await Promise.all(ts.map(async (t) => Array.from(await t.data() as Float32Array)));
}

async function savedModel(): Promise<{ model: WorldModel; dir: string }> {
  const model = await createWorldModel("mlp:ci", opts);
  const dir = `${await tempDir()}/model`;
  await model.savePretrained(dir);
  return { model, dir };
}

async function expectProblem(
  dir: string,
  problem: CheckpointProblem,
  message: RegExp,
  load: (d: string) => Promise<unknown> = (d) => fromPretrained(d),
): Promise<void> {
  await assert.rejects(load(dir), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${e}`);
    assert.equal(e.problem, problem, e.message);
    assert.match(e.message, message);
    return true;
  });
}

async function editJson(path: string, edit: (o: Record<string, unknown>) => void): Promise<void> {
  const o = JSON.parse(await Deno.readTextFile(path));
  edit(o);
  await Deno.writeTextFile(path, JSON.stringify(o));
}

Deno.test("save/load: round trip gives bit-identical decode and rollout outputs", async () => {
  const { model, dir } = await savedModel();
  for (const f of ["config.json", "model.safetensors", "worldflux_meta.json"]) {
    assert.ok((await Deno.stat(`${dir}/${f}`)).isFile, f);
  }
  const viaFactory = await createWorldModel(dir);
  const viaLoader = await fromPretrained(dir, { expectModelType: "mlp" });
  const want = await outputs(model);
  assert.deepEqual(await outputs(viaFactory), want);
  assert.deepEqual(await outputs(viaLoader), want);
  assert.equal(await viaFactory.contractFingerprint(), await model.contractFingerprint());
  assert.deepEqual(viaFactory.config, model.config);
  // a model with different initial weights gives different outputs: the weights were loaded
  const other = await createWorldModel("mlp:ci", { ...opts, seed: 4 });
  assert.notDeepEqual(await outputs(other), want);
  for (const m of [model, viaFactory, viaLoader, other]) m.dispose();
});

Deno.test("save/load: the files use the reference's names and keys", async () => {
  const { model, dir } = await savedModel();
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  assert.equal(config.model_type, "mlp");
  assert.deepEqual(config.obs_shape, [4]);
  assert.equal(config.action_dim, 2);
  assert.equal(config.latent_dim, 8);
  assert.ok(!("obsShape" in config));
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/worldflux_meta.json`));
  for (
    const k of [
      "save_format_version",
      "worldflux_version",
      "api_version",
      "model_type",
      "contract_fingerprint",
      "created_at_utc",
    ]
  ) assert.ok(k in meta, k);
  assert.equal(meta.save_format_version, 1);
  assert.equal(meta.api_version, "v3");
  assert.equal(meta.contract_fingerprint, await model.contractFingerprint());
  assert.match(meta.created_at_utc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const st = await readSafetensors(`${dir}/model.safetensors`);
  assert.deepEqual(Object.keys(st.tensors).sort(), Object.keys(model.stateDict()).sort());
  assert.ok("observationEncoder.net.0.weight" in st.tensors);
  assert.equal(st.metadata.format, "pt");
  model.dispose();
});

Deno.test("save/load: saving over an existing directory replaces it atomically", async () => {
  const { model, dir } = await savedModel();
  await Deno.writeTextFile(`${dir}/stale.txt`, "old");
  await model.savePretrained(dir);
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names.sort(), ["config.json", "model.safetensors", "worldflux_meta.json"]);
  // nothing is left beside the target
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  const siblings = [];
  for await (const e of Deno.readDir(parent)) siblings.push(e.name);
  assert.deepEqual(siblings, ["model"]);
  model.dispose();
});

Deno.test("save/load: over HTTP (a browser page's fetch) and from a file: URL, same outputs; a missing file or a failing server is a missing_file", async () => {
  const { model, dir } = await savedModel();
  const served: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const name = new URL(req.url).pathname.replace(/^\/model\//, "");
    served.push(name);
    if (name === "broken/config.json") return new Response("oops", { status: 500 });
    try {
      return new Response(await Deno.readFile(`${dir}/${name}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/model`;
    const want = await outputs(model);
    for (const src of [base, new URL(`${base}/`), new URL(`file://${dir}`)]) {
      const loaded = await fromPretrained(src, { expectModelType: "mlp" });
      assert.deepEqual(await outputs(loaded), want, String(src));
      loaded.dispose();
    }
    assert.deepEqual(served.slice(0, 3), [
      "worldflux_meta.json",
      "config.json",
      "model.safetensors",
    ]);
    await expectProblem(
      `${base}/nothing`,
      "missing_file",
      /missing file worldflux_meta\.json in the saved model http:.*\/nothing \(HTTP 404\)/,
    );
    const metaOnly = await Deno.readFile(`${dir}/worldflux_meta.json`);
    await Deno.mkdir(`${dir}/broken`);
    await Deno.writeFile(`${dir}/broken/worldflux_meta.json`, metaOnly);
    await expectProblem(`${base}/broken`, "missing_file", /cannot fetch config\.json .*HTTP 500/);
    await expectProblem(
      "http://127.0.0.1:9/model",
      "missing_file",
      /cannot fetch worldflux_meta\.json of the saved model http:\/\/127\.0\.0\.1:9\/model/,
    );
  } finally {
    await server.shutdown();
    model.dispose();
  }
});

Deno.test("save/load: missing directory and missing files", async () => {
  await expectProblem("/nonexistent/wf-model", "missing_directory", /no such directory/);
  // A crash mid-replacement left the previous copy aside: the error says where and how.
  const stranded = await savedModel();
  const aside = `${stranded.dir.replace(/model$/, "")}.model.tmp-q1.old`;
  await Deno.rename(stranded.dir, aside);
  await expectProblem(
    stranded.dir,
    "missing_directory",
    /left the previous copy at .*recoverAtomic/,
  );
  stranded.model.dispose();
  for (const f of ["worldflux_meta.json", "config.json", "model.safetensors"]) {
    const { model, dir } = await savedModel();
    await Deno.remove(`${dir}/${f}`);
    await expectProblem(dir, "missing_file", new RegExp(`missing file ${f.replace(".", "\\.")}`));
    model.dispose();
  }
});

Deno.test("save/load: malformed JSON and missing or invalid meta fields", async () => {
  const { model, dir } = await savedModel();
  const meta = `${dir}/worldflux_meta.json`;
  const good = await Deno.readTextFile(meta);
  await Deno.writeTextFile(meta, "{not json");
  await expectProblem(dir, "bad_json", /worldflux_meta.json is not valid JSON/);
  for (
    const k of [
      "worldflux_version",
      "api_version",
      "model_type",
      "contract_fingerprint",
      "created_at_utc",
    ]
  ) {
    await Deno.writeTextFile(meta, good);
    await editJson(meta, (o) => delete o[k]);
    await expectProblem(dir, "missing_field", new RegExp(`has no "${k}"`));
  }
  await Deno.writeTextFile(meta, good);
  await editJson(meta, (o) => (o.api_version = "v9"));
  await expectProblem(dir, "invalid_field", /"api_version" must be one of v3, v0.2/);
  await Deno.writeTextFile(meta, good);
  await editJson(meta, (o) => (o.save_format_version = 2));
  await expectProblem(dir, "unsupported_version", /save_format_version 2 is not supported/);
  model.dispose();
});

Deno.test("save/load: another model type", async () => {
  const { model, dir } = await savedModel();
  await expectProblem(
    dir,
    "model_type_mismatch",
    /holds a "mlp" model, not the expected "dreamerv3"/,
    (d) => fromPretrained(d, { expectModelType: "dreamerv3" }),
  );
  await editJson(`${dir}/worldflux_meta.json`, (o) => (o.model_type = "tdmpc2"));
  await expectProblem(
    dir,
    "model_type_mismatch",
    /config.json says model_type "mlp" but worldflux_meta.json says "tdmpc2"/,
  );
  // consistent files naming a family that is not registered
  await editJson(`${dir}/config.json`, (o) => (o.model_type = "tdmpc2"));
  const restore = unregisterReferenceFamilies();
  try {
    await assert.rejects(fromPretrained(dir, { allowEditedConfig: true }), FamilyUnavailableError);
  } finally {
    restore();
  }
  model.dispose();
});

Deno.test("save/load: contract fingerprint mismatch", async () => {
  const { model, dir } = await savedModel();
  const meta = `${dir}/worldflux_meta.json`;
  await editJson(meta, (o) => (o.contract_fingerprint = "0".repeat(64)));
  await expectProblem(
    dir,
    "fingerprint_mismatch",
    /contract fingerprint mismatch: the saved model has 0000/,
  );
  // an edited config changes the contract (and the fingerprint no longer matches)
  const fresh = await savedModel();
  const edited = (d: string) => fromPretrained(d, { allowEditedConfig: true });
  await editJson(`${fresh.dir}/config.json`, (o) => (o.obs_shape = [5]));
  await expectProblem(fresh.dir, "fingerprint_mismatch", /contract fingerprint mismatch/, edited);
  // an edited config with an unknown field
  await editJson(`${fresh.dir}/config.json`, (o) => (o.hidden_dims = 3));
  await expectProblem(
    fresh.dir,
    "invalid_config",
    /unknown config field "hidden_dims".*hiddenDim/,
    edited,
  );
  model.dispose();
  fresh.model.dispose();
});

async function rewriteWeights(
  dir: string,
  edit: (ts: Record<string, ReturnType<typeof tensor>>) => void,
): Promise<void> {
  const path = `${dir}/model.safetensors`;
  const f = await readSafetensors(path);
  const ts: Record<string, ReturnType<typeof tensor>> = {};
  for (const [k, e] of Object.entries(f.tensors)) {
    ts[k] = tensor(e.data, e.shape, { dtype: e.dtype });
  }
  edit(ts);
  await saveSafetensors(path, ts, f.metadata);
}

Deno.test("save/load: missing tensor, extra tensor, wrong shape, wrong dtype, bad checksum", async () => {
  let s = await savedModel();
  await rewriteWeights(s.dir, (ts) => delete ts["dynamicsModel.net.0.weight"]);
  await expectProblem(s.dir, "missing_tensor", /lacks tensor "dynamicsModel\.net\.0\.weight"/);
  s.model.dispose();

  s = await savedModel();
  await rewriteWeights(s.dir, (ts) => (ts["decoder.extra.weight"] = tensor([1, 2])));
  await expectProblem(
    s.dir,
    "extra_tensor",
    /has tensor "decoder\.extra\.weight" that the mlp model does not have/,
  );
  s.model.dispose();

  s = await savedModel();
  await rewriteWeights(s.dir, (ts) => (ts["decoder.obs.3.bias"] = tensor([1, 2, 3])));
  await expectProblem(
    s.dir,
    "shape_mismatch",
    /tensor "decoder\.obs\.3\.bias" has shape \[3\] in model\.safetensors but \[4\] in the mlp model/,
  );
  s.model.dispose();

  s = await savedModel();
  await rewriteWeights(
    s.dir,
    (ts) => (ts["decoder.obs.3.bias"] = tensor(new Int32Array(4), [4], { dtype: "int32" })),
  );
  await expectProblem(s.dir, "dtype_mismatch", /"decoder\.obs\.3\.bias" is I32 \(int32\).*float32/);
  s.model.dispose();

  s = await savedModel();
  await rewriteWeights(s.dir, (ts) => (ts["decoder.obs.3.bias"] = ts["decoder.obs.3.bias"].add(1)));
  await expectProblem(s.dir, "checksum_mismatch", /does not match its checksum/);
  s.model.dispose();

  s = await savedModel();
  await Deno.writeFile(`${s.dir}/model.safetensors`, new Uint8Array([1, 2, 3]));
  await expectProblem(s.dir, "bad_weights", /not a valid safetensors file/);
  s.model.dispose();
});

Deno.test("save/load: an edited config.json is refused by its sha256; edited or not, hyperparameters are range-checked", async () => {
  const { model, dir } = await savedModel();
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/worldflux_meta.json`));
  assert.match(meta.config_sha256, /^[0-9a-f]{64}$/);
  const path = `${dir}/config.json`;
  const good = await Deno.readTextFile(path);
  // A one-bit edit of a hyperparameter (0.001 -> 0.003: '1' is 0x31, '3' is 0x33).
  assert.ok(good.includes('"kl_scale": 0.001'));
  await Deno.writeTextFile(path, good.replace('"kl_scale": 0.001', '"kl_scale": 0.003'));
  await expectProblem(dir, "checksum_mismatch", /config\.json does not match.*allowEditedConfig/);
  const loaded = await fromPretrained(dir, { allowEditedConfig: true });
  assert.equal((loaded.configForSave() as { klScale: number }).klScale, 0.003);
  loaded.dispose();
  // Absurd, negative and zero values are refused by the schema, edited config or not.
  const edited = (d: string) => fromPretrained(d, { allowEditedConfig: true });
  for (
    const [key, value, field] of [
      ["kl_scale", 2 ** 31, "klScale"],
      ["min_std", 1e9, "minStd"],
      ["recon_scale", -1, "reconScale"],
      ["hidden_dim", 0, "hiddenDim"],
      ["depth", 1e6, "depth"],
    ] as const
  ) {
    await Deno.writeTextFile(path, good);
    await editJson(path, (o) => (o[key] = value));
    await expectProblem(dir, "invalid_config", new RegExp(field), edited);
  }
  model.dispose();
});

Deno.test("save/load: a meta without a checksum is refused unless allowed (a bit-flipped weight never loads silently)", async () => {
  for (const key of ["weights_sha256", "config_sha256"]) {
    const { model, dir } = await savedModel();
    await rewriteWeights(dir, (ts) => (ts["decoder.obs.3.bias"] = ts["decoder.obs.3.bias"].add(1)));
    await editJson(`${dir}/worldflux_meta.json`, (o) => delete o[key]);
    await expectProblem(
      dir,
      "missing_checksum",
      new RegExp(`has no "${key}".*allowMissingChecksum`),
    );
    if (key === "config_sha256") {
      // With the config unverified but the weights' sha256 still there, the flip is caught.
      await expectProblem(
        dir,
        "checksum_mismatch",
        /model\.safetensors does not match its checksum/,
        (d) => fromPretrained(d, { allowMissingChecksum: true }),
      );
    } else {
      // Explicitly allowed: the caller takes the unverified weights.
      (await fromPretrained(dir, { allowMissingChecksum: true })).dispose();
    }
    model.dispose();
  }
});

Deno.test("save/load: createWorldModel(dir) refuses config overrides and keeps api_version", async () => {
  const model = await createWorldModel("mlp:ci", { ...opts, apiVersion: "v0.2" });
  const dir = `${await tempDir()}/m`;
  await model.savePretrained(dir);
  await assert.rejects(createWorldModel(dir, { hiddenDim: 3 }), /cannot be applied when loading/);
  const loaded = await createWorldModel(dir);
  assert.equal(loaded.apiVersion, "v0.2");
  assert.equal((await createWorldModel(dir, { apiVersion: "v3" })).apiVersion, "v3");
  model.dispose();
});
