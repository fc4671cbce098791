/**
 * A run interrupted and resumed from its last checkpoint gives the same values, step for step,
 * as the uninterrupted run with the same seed (cpu backend): every logged metric of every step
 * (loss, each component, the model's metrics, the clip norm, lr) is compared with `===`.
 * @module
 */

import { killAtReady } from "../util.ts";
import assert from "node:assert/strict";
import {
  CheckpointCallback,
  createWorldModel,
  EarlyStoppingCallback,
  LoggingCallback,
  manualSeed,
  type Metrics,
  randn,
  Trainer,
  type WorldModel,
} from "../../mod.ts";
import {
  FakeFamilyModel,
  FAST,
  mlpModel,
  pointMassBuffer,
  recorder,
  stopAt,
  tempDir,
} from "./helpers.ts";

const quiet = { defaultCallbacks: false, log: () => {} } as const;
const TIMING = new Set(["steps_per_sec", "wall_time"]);

/** The metrics of steps 1..n, without the timings. */
function series(logs: Map<number, Metrics>, n: number): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  for (let s = 1; s <= n; s++) {
    const m = logs.get(s);
    assert.ok(m, `no metrics at step ${s}`);
    out.push(Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.has(k))));
  }
  return out;
}

function assertSameSeries(a: Record<string, number>[], b: Record<string, number>[]): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    for (const k of Object.keys(a[i])) {
      assert.ok(
        Object.is(a[i][k], b[i][k]),
        `step ${i + 1}: ${k} is ${b[i][k]} after the resume, ${a[i][k]} uninterrupted`,
      );
    }
    assert.deepEqual(Object.keys(b[i]).sort(), Object.keys(a[i]).sort());
  }
}

/** Same config, fresh objects, a scrambled global generator: what a new process would have. */
async function interruptedAndResumed(
  make: (seed: number) => Promise<WorldModel> | WorldModel,
  config: Record<string, unknown>,
  extra: () => unknown[] = () => [],
): Promise<{ straight: Record<string, number>[]; resumed: Record<string, number>[] }> {
  const total = 40;
  const a = recorder();
  await new Trainer(await make(1), { ...config, totalSteps: total, outputDir: await tempDir() }, {
    ...quiet,
    callbacks: [a, ...(extra() as never[])],
  }).train(pointMassBuffer());

  const dir = await tempDir();
  const b = recorder();
  const first = await new Trainer(await make(1), { ...config, totalSteps: total, outputDir: dir }, {
    ...quiet,
    callbacks: [
      b,
      new CheckpointCallback({ saveInterval: 20, saveBest: false, saveFinal: false }),
      stopAt(20),
      ...(extra() as never[]),
    ],
  }).train(pointMassBuffer());
  assert.equal(first.summary.steps, 20);

  manualSeed(12345);
  randn([7]).dispose();
  // Another initialisation: everything must come from the checkpoint.
  const model = await make(99);
  const second = await new Trainer(model, { ...config, totalSteps: total, outputDir: dir }, {
    ...quiet,
    callbacks: [b, ...(extra() as never[])],
    resumeFrom: dir,
  }).train(pointMassBuffer());
  assert.equal(second.summary.startStep, 20);
  assert.equal(second.summary.steps, 40);
  assert.equal(second.summary.resumedFrom, `${dir}/checkpoint_000020`);
  return { straight: series(a.logs, total), resumed: series(b.logs, total) };
}

Deno.test("resume: 20 steps + checkpoint + restart + 20 steps equals 40 straight steps (mlp, compiled)", async () => {
  const { straight, resumed } = await interruptedAndResumed(mlpModel, { ...FAST, compile: true });
  assertSameSeries(straight, resumed);
  // The comparison is not vacuous: the losses move, and steps differ from each other.
  assert.ok(new Set(straight.map((m) => m.loss)).size === 40);
  assert.ok("grad_norm" in straight[0] && "recon" in straight[0] && "kl" in straight[0]);
});

Deno.test("resume: the same with eager updates (compile off), warmup + cosine schedule, AdamW decay", async () => {
  const { straight, resumed } = await interruptedAndResumed(mlpModel, {
    ...FAST,
    compile: false,
    warmupSteps: 10,
    scheduler: "cosine",
    weightDecay: 0.01,
  });
  assertSameSeries(straight, resumed);
  assert.ok(straight[4].lr < straight[12].lr); // the schedule is really in play
});

Deno.test("resume: a family's own step (two optimizers, EMA tensor, JS counter) and callback state", async () => {
  const stops: EarlyStoppingCallback[] = [];
  const { straight, resumed } = await interruptedAndResumed(
    (seed) => new FakeFamilyModel(seed),
    { ...FAST, compile: true },
    () => {
      const es = new EarlyStoppingCallback({ patience: 1000, minDelta: 0 });
      stops.push(es);
      return [es];
    },
  );
  assertSameSeries(straight, resumed);
  assert.ok(straight.every((m) => Number.isFinite(m.ema_drift)));
  // straight run, interrupted run, resumed run: the resumed early-stopping state continues the
  // interrupted one and ends where the straight one ended.
  assert.deepEqual(stops[2].stateDict(), stops[0].stateDict());
});

Deno.test("resume: TD-MPC2 (agent update: two optimizers, its own random stream, target heads)", async () => {
  const { straight, resumed } = await interruptedAndResumed(
    (seed) => createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2, seed }),
    { batchSize: 16, sequenceLength: 4, logInterval: 1, compile: true },
  );
  assertSameSeries(straight, resumed);
  assert.ok("pi_loss" in straight[0] && "value_loss" in straight[0]);
});

Deno.test("resume: a killed process resumes from its last checkpoint; metrics.jsonl reads as one run", async () => {
  const dir = await tempDir();
  const { out, stderr, status } = await killAtReady(new URL("./resume_child.ts", import.meta.url), [
    dir,
    "25",
  ]);
  assert.match(out, /READY 25/, `child output: ${out}\n${stderr}`);
  assert.equal(status.signal, "SIGKILL");
  const before = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((l) => l.kind === "train");
  assert.equal(before.length, 25); // the killed run got past its step-20 checkpoint

  // Restart from the directory: the newest checkpoint is step 20.
  manualSeed(7);
  const resumed = new Trainer(await mlpModel(3), {
    ...FAST,
    totalSteps: 40,
    saveInterval: 10,
    outputDir: dir,
  }, {
    ...quiet,
    callbacks: [new LoggingCallback()],
    resumeFrom: dir,
  });
  const { summary } = await resumed.train(pointMassBuffer());
  assert.equal(summary.resumedFrom, `${dir}/checkpoint_000020`);
  const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const train = lines.filter((l) => l.kind === "train");
  assert.deepEqual(train.map((l) => l.step), Array.from({ length: 40 }, (_, i) => i + 1));

  const ref = recorder();
  await new Trainer(await mlpModel(1), { ...FAST, totalSteps: 40, outputDir: await tempDir() }, {
    ...quiet,
    callbacks: [ref],
  }).train(pointMassBuffer());
  const fromFile = new Map<number, Metrics>(train.map((l) => [l.step, l]));
  const want = series(ref.logs, 40);
  const got = series(fromFile, 40).map((m) =>
    Object.fromEntries(Object.keys(want[0]).map((k) => [k, m[k]]))
  );
  assertSameSeries(want, got);
});
