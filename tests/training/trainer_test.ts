import assert from "node:assert/strict";
import {
  type Batch,
  type BatchSource,
  compile,
  createOptimizer,
  createWorldModel,
  makeTrainStep,
  mlpConfigSchema,
  mlpFamilySpec,
  MLPWorldModel,
  parseTrainingConfig,
  type Tensor,
  tensor,
  train,
  Trainer,
  TrainingError,
  WorldModelRegistry,
} from "../../mod.ts";
import { cpuBackend } from "../../src/backend/device.ts";
import { FakeFamilyModel, FAST, mlpModel, pointMassBuffer, recorder, tempDir } from "./helpers.ts";

const quiet = { defaultCallbacks: false, log: () => {} } as const;

function losses(rec: ReturnType<typeof recorder>): number[] {
  return [...rec.logs.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m.loss);
}

Deno.test("trainer: trains the mlp family from a replay buffer, compiled, and summarises", async () => {
  const model = await mlpModel();
  const rec = recorder();
  const trainer = new Trainer(model, {
    ...FAST,
    totalSteps: 200,
    logInterval: 20,
    learningRate: 3e-3,
    outputDir: await tempDir(),
  }, { ...quiet, callbacks: [rec] });
  const { model: out, summary } = await trainer.train(pointMassBuffer());
  assert.equal(out, model);
  const l = losses(rec);
  assert.equal(l.length, 10);
  assert.ok(l[9] < l[0] * 0.7, `loss ${l[0]} -> ${l[9]}`);
  assert.equal(summary.mode, "offline");
  assert.equal(summary.steps, 200);
  assert.equal(summary.updates, 200);
  assert.equal(summary.startStep, 0);
  assert.equal(summary.stoppedEarly, false);
  assert.equal(summary.compiled, true);
  assert.match(summary.trainStep, /^mlp \(model: AdamW; compiled\)$/);
  assert.equal(summary.bestLoss, Math.min(...l));
  assert.ok(summary.stepsPerSec > 0);
  // Every loss component, the model's metrics, the clip norm, lr and speed are logged.
  const m = rec.logs.get(200)!;
  for (const k of ["loss", "recon", "reward", "continue", "consistency", "kl", "recon_mse"]) {
    assert.ok(Number.isFinite(m[k]), k);
  }
  assert.ok(m.grad_norm > 0);
  assert.equal(m.lr, 3e-3);
  assert.ok(m.steps_per_sec > 0 && m.wall_time > 0);
  trainer.dispose();
});

Deno.test("trainer: values are read back only at log steps (one read per log)", async () => {
  const be = cpuBackend();
  const orig = be.read.bind(be);
  let reads = 0;
  be.read = ((...a: Parameters<typeof orig>) => {
    reads++;
    return orig(...a);
  }) as typeof be.read;
  try {
    const rec = recorder();
    const trainer = new Trainer(await mlpModel(), {
      ...FAST,
      totalSteps: 30,
      logInterval: 10,
      outputDir: await tempDir(),
    }, { ...quiet, callbacks: [rec] });
    await trainer.train(pointMassBuffer());
    assert.deepEqual([...rec.logs.keys()], [10, 20, 30]);
    assert.equal(reads, 3);
    // The last step is always logged, even off the interval.
    reads = 0;
    await trainer.train(pointMassBuffer(), { totalSteps: 37 });
    assert.deepEqual([...rec.logs.keys()], [10, 20, 30, 37]);
    assert.equal(reads, 1);
  } finally {
    be.read = orig;
  }
});

Deno.test("trainer: train() one-liner (snake_case keys too) returns the trained model", async () => {
  const model = await mlpModel();
  const before = await model.parameters()[0].data();
  const dir = await tempDir();
  const trained = await train(model, pointMassBuffer(), {
    total_steps: 5,
    batch_size: 4,
    sequence_length: 8,
    output_dir: dir,
    defaultCallbacks: false,
  });
  assert.equal(trained, model);
  const after = await model.parameters()[0].data();
  assert.notDeepEqual(Array.from(after), Array.from(before));
});

Deno.test("trainer: a family's trainStep is used (fake family: two optimizers, extra state)", async () => {
  const model = new FakeFamilyModel();
  const rec = recorder();
  const trainer = new Trainer(model, {
    ...FAST,
    totalSteps: 10,
    outputDir: await tempDir(),
  }, { ...quiet, callbacks: [rec] });
  const { summary } = await trainer.train(pointMassBuffer());
  assert.equal(model.built, 1);
  assert.deepEqual(Object.keys(trainer.trainStep.optimizers), ["encoder", "rest"]);
  assert.match(summary.trainStep, /^fakefam \(encoder: Adam, rest: Adam; compiled\)$/);
  const m = rec.logs.get(10)!;
  assert.ok(m.ema_drift > 0 && Number.isFinite(m.loss));
  assert.equal(trainer.trainStep.stateDict().values!.counter, 10);
});

Deno.test("trainer: when tracing fails the step runs eagerly (reason logged), same results", async () => {
  const run = async (compileOn: boolean, failAfterStep = false) => {
    const model = await mlpModel();
    const cfg = parseTrainingConfig({ ...FAST, totalSteps: 6, compile: compileOn });
    const opt = createOptimizer(model.parameters(), cfg);
    const inner = compile((x: Tensor) => x.mul(2));
    const notes: string[] = [];
    const update = (b: Batch) => {
      if (!failAfterStep) inner((b.obs as Tensor).narrow(0, 0, 1)).dispose();
      const out = model.loss(b);
      out.loss.backward();
      opt.step();
      opt.zeroGrad();
      if (failAfterStep) inner((b.obs as Tensor).narrow(0, 0, 1)).dispose();
      return { loss: out.loss };
    };
    const step = makeTrainStep({
      name: "nested",
      optimizers: { model: opt },
      update,
      compile: compileOn,
      log: (m) => notes.push(m),
    });
    const rec = recorder();
    const trainer = new Trainer(model, { ...cfg, outputDir: await tempDir() }, {
      ...quiet,
      trainStep: step,
      callbacks: [rec],
    });
    const { summary } = await trainer.train(pointMassBuffer());
    return { losses: losses(rec), notes, summary, step };
  };
  const eager = await run(false);
  const fellBack = await run(true);
  assert.deepEqual(fellBack.losses, eager.losses);
  assert.equal(fellBack.summary.compiled, false);
  assert.match(fellBack.step.fallbackReason!, /nested/);
  assert.equal(fellBack.notes.length, 1);
  assert.match(fellBack.notes[0], /compile\(\) could not trace the update, running it eagerly/);
  assert.match(fellBack.summary.trainStep, /eager \(compile failed: .*nested/);
  // A trace that fails after an optimizer stepped cannot be undone: the error surfaces.
  await assert.rejects(() => run(true, true), /nested/);
});

Deno.test("trainer: evaluation uses its own random stream (training losses are unchanged)", async () => {
  const run = async (withEval: boolean) => {
    const rec = recorder();
    const evals: number[] = [];
    const trainer = new Trainer(await mlpModel(), {
      ...FAST,
      totalSteps: 12,
      evalInterval: 4,
      outputDir: await tempDir(),
    }, {
      ...quiet,
      callbacks: [rec, { onEval: (_s, m) => void evals.push(m.eval_loss) }],
    });
    const { summary } = await trainer.train(
      pointMassBuffer(),
      withEval ? { evalBuffer: pointMassBuffer(9, 3), evalBatches: 2 } : {},
    );
    return { losses: losses(rec), evals, summary };
  };
  const plain = await run(false);
  const evaluated = await run(true);
  assert.deepEqual(evaluated.losses, plain.losses);
  assert.equal(evaluated.evals.length, 3);
  assert.ok(evaluated.evals.every((x) => Number.isFinite(x) && x > 0));
  assert.ok(evaluated.summary.lastEval!.eval_recon > 0);
  assert.equal(plain.summary.lastEval, null);
});

Deno.test("trainer: a non-finite loss stops training with a TrainingError naming it", async () => {
  const step = makeTrainStep({
    name: "nan",
    optimizers: {},
    update: () => ({ loss: tensor(NaN), recon: tensor(1), reward: tensor(Infinity) }),
  });
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 10,
    logInterval: 5,
    outputDir: await tempDir(),
  }, { ...quiet, trainStep: step });
  const err = await trainer.train(pointMassBuffer()).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof TrainingError, String(err));
  assert.equal(err.step, 1, "the first step with a non-finite loss");
  assert.match(
    err.message,
    /step 1: non-finite loss, reward \(loss=NaN, reward=Infinity; found at the log of step 5\)/,
  );
  assert.equal(trainer.state.step, 5);
});

/** A buffer whose batches from the `from`-th sample on have NaN rewards. */
function poisonedFrom(from: number, buf = pointMassBuffer()): BatchSource {
  let calls = 0;
  return {
    sample(B, T, opts) {
      const batch = buf.sample(B, T, opts);
      if (++calls < from) return batch;
      batch.rewards!.dispose();
      return { ...batch, rewards: tensor(new Float32Array(B * T).fill(NaN), [B, T]) };
    },
  };
}

Deno.test("trainer: a NaN loss is reported at the first step that had it, not at the next log", async () => {
  for (const compile of [true, false]) {
    const trainer = new Trainer(await mlpModel(), {
      ...FAST,
      compile,
      totalSteps: 40,
      logInterval: 20,
      outputDir: await tempDir(),
    }, quiet);
    const err = await trainer.train(poisonedFrom(13)).then(() => null, (e) => e);
    assert.ok(err instanceof TrainingError, String(err));
    assert.equal(err.step, 13, err.message);
    assert.match(err.message, /found at the log of step 20/);
    trainer.dispose();
  }
});

Deno.test("trainer: TD-MPC2 with all-NaN rewards fails with a TrainingError (two-hot of NaN is NaN)", async () => {
  const model = await createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2 });
  const trainer = new Trainer(model, {
    ...FAST,
    sequenceLength: 4,
    totalSteps: 4,
    logInterval: 2,
    outputDir: await tempDir(),
  }, quiet);
  const err = await trainer.train(poisonedFrom(1)).then(() => null, (e) => e);
  assert.ok(err instanceof TrainingError, String(err));
  assert.equal(err.step, 1, err.message);
  trainer.dispose();
  model.dispose();
});

Deno.test("trainer: refuses a non-model, a non-buffer and unknown config fields", async () => {
  const model = await mlpModel();
  await assert.rejects(
    () => new Trainer(model, { device: "cpu", totalSteps: 1 }, quiet).train({} as never),
    /needs a buffer with sample/,
  );
  assert.throws(() => new Trainer({} as never, {}), /needs a world model/);
  assert.throws(() => new Trainer(model, { totalStep: 1 }), /unknown field "totalStep"/);
});

Deno.test("trainer: TD-MPC2 trains through its agent update (built-in factory)", async () => {
  const model = await createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2 });
  const rec = recorder();
  const notes: string[] = [];
  const trainer = new Trainer(model, {
    batchSize: 16,
    sequenceLength: 8,
    totalSteps: 20,
    logInterval: 10,
    outputDir: await tempDir(),
  }, { defaultCallbacks: false, log: (m) => notes.push(m), callbacks: [rec] });
  const { summary } = await trainer.train(pointMassBuffer());
  assert.deepEqual(Object.keys(trainer.trainStep.optimizers), ["model", "pi"]);
  assert.match(summary.trainStep, /^tdmpc2 \(model: Adam, pi: Adam; compiled\)$/);
  const m = rec.logs.get(20)!;
  for (const k of ["consistency_loss", "reward_loss", "value_loss", "pi_loss", "pi_scale"]) {
    assert.ok(Number.isFinite(m[k]), k);
  }
  assert.equal(m.loss, m.total_loss);
  assert.ok(rec.logs.get(20)!.loss < rec.logs.get(10)!.loss * 1.5);
  assert.ok(notes.some((n) => /first horizon \+ 1 = 4 steps .* sequenceLength is 8/.test(n)));
  trainer.dispose();
});

Deno.test("trainer: the trainStep of a registered family's spec is found by model type", async () => {
  let built = 0;
  WorldModelRegistry.register("regfam", {
    ...mlpFamilySpec,
    aliases: {},
    trainStep: (model, config) => {
      built++;
      const opt = createOptimizer(model.parameters(), config);
      return makeTrainStep({
        name: "regfam",
        optimizers: { only: opt },
        update: (b) => {
          const out = model.loss(b);
          out.loss.backward();
          opt.step();
          opt.zeroGrad();
          return { loss: out.loss };
        },
      });
    },
  });
  const make = () =>
    new MLPWorldModel(mlpConfigSchema.parse({ obsShape: [4], actionDim: 2, hiddenDim: 16 }), {
      modelType: "regfam",
    });
  try {
    const t = new Trainer(make(), { ...FAST, totalSteps: 3, outputDir: await tempDir() }, quiet);
    await t.train(pointMassBuffer());
    assert.equal(built, 1);
    assert.deepEqual(Object.keys(t.trainStep.optimizers), ["only"]);
  } finally {
    WorldModelRegistry.unregister("regfam");
  }
  const t2 = new Trainer(make(), { ...FAST, totalSteps: 1, outputDir: await tempDir() }, quiet);
  await t2.setup();
  assert.deepEqual(Object.keys(t2.trainStep.optimizers), ["model"]);
  assert.equal(built, 1);
});
