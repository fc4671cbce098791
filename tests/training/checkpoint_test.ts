import assert from "node:assert/strict";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  CheckpointError,
  type CheckpointProblem,
  createWorldModel,
  latestCheckpoint,
  listCheckpoints,
  makeTrainStep,
  parseTrainingConfig,
  readCheckpoint,
  readSafetensors,
  restoreCheckpoint,
  saveCheckpoint,
  Trainer,
  type WorldModel,
} from "../../mod.ts";
import { FakeFamilyModel, FAST, mlpModel, pointMassBuffer, tempDir } from "./helpers.ts";

const quiet = { defaultCallbacks: false, log: () => {} } as const;

async function trained(model: WorldModel, steps = 6): Promise<Trainer> {
  const t = new Trainer(model, { ...FAST, totalSteps: steps, outputDir: await tempDir() }, quiet);
  await t.train(pointMassBuffer());
  return t;
}

async function problem(p: Promise<unknown>): Promise<CheckpointProblem> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${e}`);
  return e.problem;
}

Deno.test("checkpoint: one directory with the model, optimizer moments, generators, step and config", async () => {
  const model = await mlpModel();
  const t = await trained(model);
  const dir = `${await tempDir()}/ck`;
  await t.saveCheckpoint(dir);
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names.sort(), [
    "manifest.json",
    "model",
    "optimizer.json",
    "optimizer.safetensors",
    "trainer_state.json",
    "training_config.json",
  ]);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
  assert.equal(manifest.format, CHECKPOINT_FORMAT);
  assert.equal(manifest.format_version, CHECKPOINT_FORMAT_VERSION);
  assert.equal(manifest.model_type, "mlp");
  assert.equal(manifest.step, 6);
  assert.equal(manifest.resumable, true);
  assert.match(manifest.files["optimizer.safetensors"].sha256, /^[0-9a-f]{64}$/);

  // model/ is a savePretrained directory: it loads as a model with the same weights.
  const again = await createWorldModel(`${dir}/model`);
  const a = model.stateDict(), b = again.stateDict();
  for (const k of Object.keys(a)) {
    assert.deepEqual(Array.from(await b[k].data()), Array.from(await a[k].data()), k);
  }
  const w = await readSafetensors(`${dir}/model/model.safetensors`);
  assert.ok("observationEncoder.net.0.weight" in w.tensors);

  // Optimizer moments with PyTorch-like names; scalars in JSON.
  const opt = await readSafetensors(`${dir}/optimizer.safetensors`);
  const nParams = model.parameters().length;
  assert.equal(Object.keys(opt.tensors).length, 2 * nParams);
  assert.ok("model.state.0.exp_avg" in opt.tensors && "model.state.0.exp_avg_sq" in opt.tensors);
  const sd = t.trainStep.optimizers.model.stateDict();
  assert.deepEqual(
    Array.from(opt.tensors["model.state.3.exp_avg_sq"].data),
    Array.from(await sd.state["3"].expAvgSq.data()),
  );
  const optJson = JSON.parse(await Deno.readTextFile(`${dir}/optimizer.json`));
  assert.equal(optJson.model.step, 6);
  assert.equal(optJson.model.hyper.grad_clip, 100);

  const ts = JSON.parse(await Deno.readTextFile(`${dir}/trainer_state.json`));
  assert.equal(ts.step, 6);
  assert.equal(ts.updates, 6);
  assert.equal(typeof ts.best_loss, "number");
  assert.deepEqual(Object.keys(ts.rng), ["global", "sampler", "eval"]);
  assert.equal(ts.rng.sampler.counter, 6);
  assert.equal(ts.rng.global.seed, 42);
  assert.ok(ts.rng.global.counter > 0);
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/training_config.json`));
  assert.equal(cfg.total_steps, 6);
  assert.equal(cfg.batch_size, 8);

  const ck = await readCheckpoint(dir);
  assert.equal(ck.trainer.step, 6);
  assert.equal(ck.config.totalSteps, 6);
});

Deno.test("checkpoint: a family's extra step state (tensors and values) is saved and restored", async () => {
  const model = new FakeFamilyModel();
  const t = await trained(model, 9);
  const dir = `${await tempDir()}/ck`;
  await t.saveCheckpoint(dir);
  const extra = await readSafetensors(`${dir}/train_state.safetensors`);
  assert.deepEqual(Object.keys(extra.tensors), ["ema"]);
  const ts = JSON.parse(await Deno.readTextFile(`${dir}/trainer_state.json`));
  assert.deepEqual(ts.train_step, { counter: 9 });
  const opt = JSON.parse(await Deno.readTextFile(`${dir}/optimizer.json`));
  assert.deepEqual(Object.keys(opt), ["encoder", "rest"]);

  const fresh = new FakeFamilyModel(5);
  const t2 = new Trainer(fresh, { ...FAST, totalSteps: 9, outputDir: await tempDir() }, quiet);
  await t2.setup();
  await restoreCheckpoint(dir, { model: fresh, trainStep: t2.trainStep });
  const s1 = t.trainStep.stateDict(), s2 = t2.trainStep.stateDict();
  assert.equal(s2.values!.counter, 9);
  assert.deepEqual(
    Array.from(await s2.tensors!.ema.data()),
    Array.from(await s1.tensors!.ema.data()),
  );
  assert.equal(s2.optimizers.encoder.step, 9);
});

Deno.test("checkpoint: damaged or mismatched checkpoints give a CheckpointError naming the problem", async () => {
  const model = await mlpModel();
  const t = await trained(model, 3);
  const root = await tempDir();
  const good = `${root}/good`;
  await t.saveCheckpoint(good);
  const copy = async (name: string) => {
    const d = `${root}/${name}`;
    await Deno.mkdir(`${d}/model`, { recursive: true });
    for await (const e of Deno.readDir(good)) {
      if (e.isFile) await Deno.copyFile(`${good}/${e.name}`, `${d}/${e.name}`);
    }
    for await (const e of Deno.readDir(`${good}/model`)) {
      await Deno.copyFile(`${good}/model/${e.name}`, `${d}/model/${e.name}`);
    }
    return d;
  };
  const target = { model, trainStep: t.trainStep };

  const edited = await copy("edited");
  const ts = JSON.parse(await Deno.readTextFile(`${edited}/trainer_state.json`));
  ts.step = 1000;
  await Deno.writeTextFile(`${edited}/trainer_state.json`, JSON.stringify(ts));
  assert.equal(await problem(restoreCheckpoint(edited, target)), "checksum_mismatch");

  const missing = await copy("missing");
  await Deno.remove(`${missing}/optimizer.safetensors`);
  assert.equal(await problem(restoreCheckpoint(missing, target)), "missing_file");

  const future = await copy("future");
  const m = JSON.parse(await Deno.readTextFile(`${future}/manifest.json`));
  m.format_version = 99;
  await Deno.writeTextFile(`${future}/manifest.json`, JSON.stringify(m));
  const e = await restoreCheckpoint(future, target).catch((e) => e);
  assert.equal(e.problem, "unsupported_version");
  assert.match(e.message, /format_version 99 is not supported .* reads format_version 1/);

  // model/ checks its own weights: without the recorded sha256 the checkpoint is refused.
  const unverified = await copy("unverified");
  const mm = JSON.parse(await Deno.readTextFile(`${unverified}/model/worldflux_meta.json`));
  delete mm.weights_sha256;
  await Deno.writeTextFile(`${unverified}/model/worldflux_meta.json`, JSON.stringify(mm));
  const ue = await restoreCheckpoint(unverified, target).catch((e) => e);
  assert.equal(ue.problem, "missing_checksum", ue.message);
  assert.match(ue.message, /has no "weights_sha256".*resume from another one/);

  const badJson = await copy("bad_json");
  await Deno.writeTextFile(`${badJson}/manifest.json`, "{ not json");
  assert.equal(await problem(readCheckpoint(badJson)), "bad_json");

  assert.equal(await problem(readCheckpoint(`${root}/nothing`)), "missing_directory");

  // Another observation size: the model's contract differs.
  const other = await createWorldModel("mlp:ci", { obsShape: [5], actionDim: 2 });
  const t3 = new Trainer(other, { totalSteps: 1 }, quiet);
  await t3.setup();
  assert.equal(
    await problem(restoreCheckpoint(good, { model: other, trainStep: t3.trainStep })),
    "fingerprint_mismatch",
  );
  // Another family.
  const fake = new FakeFamilyModel();
  const t4 = new Trainer(fake, { totalSteps: 1 }, quiet);
  await t4.setup();
  assert.equal(
    await problem(restoreCheckpoint(good, { model: fake, trainStep: t4.trainStep })),
    "model_type_mismatch",
  );
  // A training step with other optimizers.
  const twoOpts = makeTrainStep({
    name: "two",
    optimizers: { a: t.trainStep.optimizers.model, b: t.trainStep.optimizers.model },
    update: () => ({}),
  });
  const err = await restoreCheckpoint(good, { model, trainStep: twoOpts }).catch((e) => e);
  assert.equal(err.problem, "invalid_field");
  assert.match(
    err.message,
    /saved state has optimizers \[model\] but this training step has \[a, b\]/,
  );
  // Resuming from a directory without checkpoints.
  await assert.rejects(
    () => new Trainer(model, { totalSteps: 5 }, { ...quiet, resumeFrom: root }).setup(),
    /no checkpoint to resume from/,
  );
});

Deno.test("checkpoint: a failed write leaves the previous checkpoint in place, and no temp files", async () => {
  const model = await mlpModel();
  const t = await trained(model, 2);
  const root = await tempDir();
  const dir = `${root}/checkpoint_000002`;
  await t.saveCheckpoint(dir);
  const before = await Deno.readTextFile(`${dir}/manifest.json`);
  // The model's weights fail to serialise half-way through the new checkpoint.
  const broken = Object.create(model, {
    stateDict: {
      value: () => {
        throw new Error("disk full");
      },
    },
  }) as WorldModel;
  const cfg = parseTrainingConfig({ totalSteps: 2 });
  await assert.rejects(
    () =>
      saveCheckpoint(dir, {
        model: broken,
        trainStep: t.trainStep,
        config: cfg,
        trainer: {
          step: 3,
          updates: 3,
          bestLoss: 1,
          rng: {},
          callbacks: {},
          extra: {},
          resumable: true,
        },
      }),
    /disk full/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/manifest.json`), before);
  assert.equal((await readCheckpoint(dir)).trainer.step, 2);
  const left: string[] = [];
  for await (const e of Deno.readDir(root)) left.push(e.name);
  assert.deepEqual(left, ["checkpoint_000002"]);
});

Deno.test("checkpoint: listCheckpoints and latestCheckpoint find the newest complete one", async () => {
  const model = await mlpModel();
  const t = await trained(model, 2);
  const root = await tempDir();
  assert.equal(await latestCheckpoint(root), null);
  await t.saveCheckpoint(`${root}/checkpoint_000010`);
  await t.train(pointMassBuffer(), { totalSteps: 4 });
  await t.saveCheckpoint(`${root}/checkpoint_000004`);
  await Deno.mkdir(`${root}/checkpoint_000099`); // incomplete: no manifest
  const list = await listCheckpoints(root);
  assert.deepEqual(list.map((c) => c.step), [4, 10, 99]);
  // By the step recorded inside (2 for the one named 10, 4 for the other).
  assert.equal(await latestCheckpoint(root), `${root}/checkpoint_000004`);
  assert.equal(await latestCheckpoint(`${root}/checkpoint_000010`), `${root}/checkpoint_000010`);
});

Deno.test("checkpoint: a run starting after a crash mid-replacement restores checkpoint_best and resumes from it", async () => {
  const model = await mlpModel();
  const t = await trained(model, 3);
  const out = await tempDir();
  await t.saveCheckpoint(`${out}/checkpoint_best`);
  // The crash window of replacing checkpoint_best: the good copy aside, the new one unfinished,
  // and an unfinished file write of another artifact.
  await Deno.rename(`${out}/checkpoint_best`, `${out}/.checkpoint_best.tmp-k9.old`);
  await Deno.mkdir(`${out}/.checkpoint_best.tmp-k8/model`, { recursive: true });
  await Deno.writeTextFile(`${out}/.metrics.jsonl.tmp-k7`, "{");
  const notes: string[] = [];
  const again = await mlpModel(5);
  const resumed = new Trainer(again, { ...FAST, totalSteps: 6, outputDir: out }, {
    defaultCallbacks: false,
    log: (m) => notes.push(m),
    resumeFrom: out, // no numbered checkpoint: checkpoint_best is the newest
  });
  await resumed.setup();
  assert.equal(resumed.state.step, 3);
  assert.ok(notes.some((n) => /checkpoint_best was left aside .* restored/.test(n)), notes.join());
  const left: string[] = [];
  for await (const e of Deno.readDir(out)) left.push(e.name);
  assert.deepEqual(left, ["checkpoint_best"]);
  // A final checkpoint alone is found too.
  await Deno.rename(`${out}/checkpoint_best`, `${out}/checkpoint_final`);
  assert.equal(await latestCheckpoint(out), `${out}/checkpoint_final`);
  resumed.dispose();
  t.dispose();
});
