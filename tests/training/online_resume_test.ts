/**
 * Online runs resume exactly: a run stopped right after a periodic checkpoint and resumed from
 * it ends with the same parameters, updates, logged metrics, training episodes, evaluations and
 * replay buffer as the run that was never stopped (TD-MPC2 with MPPI, DreamerV3 with its actor,
 * cpu backend). The checkpoint waits for the end of a training episode; hostile or mismatched
 * checkpoints are refused with typed errors.
 * @module
 */

import assert from "node:assert/strict";
import {
  type Callback,
  CheckpointCallback,
  CheckpointError,
  type Controller,
  createWorldModel,
  encodeSafetensors,
  type Env,
  LoggingCallback,
  makeEnvSync,
  manualSeed,
  type Metrics,
  randn,
  ReplayBuffer,
  tdmpc2Controller,
  type TDMPC2WorldModel,
  trainOnline,
  type TrainingConfigInput,
  type WorldModel,
} from "../../mod.ts";
import { encodeNpz } from "../../src/io/npz.ts";
import { sha256Hex } from "../../src/core/spec.ts";
import { PointEnv, tempDir } from "./helpers.ts";

const TIMING = new Set(["steps_per_sec", "wall_time"]);

/** A stop from a callback right after a checkpoint: what a kill leaves behind. */
class Killed extends Error {}

async function paramsHash(model: WorldModel): Promise<string> {
  return await sha256Hex(await encodeSafetensors(model.stateDict(), { format: "pt" }));
}

function bufferBytes(buffer: ReplayBuffer): Uint8Array {
  return encodeNpz(buffer.toArrays());
}

interface Setup {
  model: WorldModel;
  env: Env;
  evalEnv?: Env;
  controller?: Controller;
}

interface Outcome {
  hash: string;
  logs: Map<number, Record<string, number>>;
  episodes: unknown;
  evaluations: unknown;
  buffer: Uint8Array;
  updates: number;
  steps: number;
  startStep: number;
  resumedFrom: string | null;
  priorWallTimeSec: number;
  checkpoints: number[];
}

/**
 * One segment of a run: `killAt` stops it by throwing from the first periodic checkpoint's
 * `onCheckpoint` at or after that step (the checkpoint is complete on disk).
 */
async function segment(
  make: (seed: number) => Promise<Setup>,
  config: TrainingConfigInput,
  opts: { resumeFrom?: string; killAt?: number; seed?: number } = {},
): Promise<Outcome | { killedAt: number }> {
  const s = await make(opts.seed ?? 1);
  const logs = new Map<number, Record<string, number>>();
  const checkpoints: number[] = [];
  const callbacks: Callback[] = [
    new LoggingCallback(),
    new CheckpointCallback({ saveBest: false, saveFinal: false }),
    {
      key: "recorder",
      onLog: (step: number, m: Metrics) =>
        void logs.set(
          step,
          Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.has(k))),
        ),
      onCheckpoint: (step: number) => {
        checkpoints.push(step);
        if (opts.killAt !== undefined && step >= opts.killAt) throw new Killed(String(step));
      },
    },
  ];
  try {
    const r = await trainOnline(s.model, s.env, config, {
      defaultCallbacks: false,
      log: () => {},
      callbacks,
      controller: s.controller,
      evalEnv: s.evalEnv,
      resumeFrom: opts.resumeFrom,
    });
    return {
      hash: await paramsHash(s.model),
      logs,
      episodes: r.episodes,
      evaluations: r.evaluations,
      buffer: bufferBytes(r.buffer),
      updates: r.summary.updates,
      steps: r.summary.steps,
      startStep: r.summary.startStep,
      resumedFrom: r.summary.resumedFrom,
      priorWallTimeSec: r.priorWallTimeSec,
      checkpoints,
    };
  } catch (e) {
    if (e instanceof Killed) return { killedAt: Number(e.message) };
    throw e;
  } finally {
    s.env.close();
    s.evalEnv?.close();
  }
}

/** The straight run, and the same run killed after its first checkpoint and resumed. */
async function straightAndResumed(
  make: (seed: number) => Promise<Setup>,
  config: TrainingConfigInput,
  killAt: number,
): Promise<{ straight: Outcome; resumed: Outcome; killedAt: number; dir: string }> {
  const straight = await segment(make, { ...config, outputDir: await tempDir() }) as Outcome;
  const dir = await tempDir();
  const cfg = { ...config, outputDir: dir };
  const first = await segment(make, cfg, { killAt });
  assert.ok("killedAt" in first, "the first segment was not stopped");
  // What a new process has: a scrambled global generator, another initialisation.
  manualSeed(4242);
  randn([5]).dispose();
  const resumed = await segment(make, cfg, { resumeFrom: dir, seed: 77 }) as Outcome;
  return { straight, resumed, killedAt: first.killedAt, dir };
}

function assertSameRun(straight: Outcome, resumed: Outcome, killedAt: number): void {
  assert.equal(resumed.startStep, killedAt);
  assert.equal(resumed.steps, straight.steps);
  assert.equal(resumed.updates, straight.updates);
  assert.deepEqual(resumed.episodes, straight.episodes);
  assert.deepEqual(resumed.evaluations, straight.evaluations);
  for (const [step, m] of resumed.logs) {
    assert.deepEqual(m, straight.logs.get(step), `metrics of step ${step}`);
  }
  assert.ok(resumed.logs.size > 0);
  assert.equal(resumed.hash, straight.hash, "parameters differ");
  assert.ok(
    resumed.buffer.length === straight.buffer.length &&
      resumed.buffer.every((b, i) => b === straight.buffer[i]),
    "replay buffers differ",
  );
}

const pendulum = (steps: number) =>
  makeEnvSync("Pendulum-v1", { normalizeActions: true, maxEpisodeSteps: steps });

const tdmpc2 = async (seed: number): Promise<Setup> => {
  const model = await createWorldModel("tdmpc2:ci", { obsShape: [3], actionDim: 1, seed });
  return {
    model,
    env: pendulum(15),
    controller: tdmpc2Controller(model as TDMPC2WorldModel, {
      iterations: 2,
      numSamples: 16,
      numElites: 4,
      numPiTrajs: 2,
    }),
  };
};

Deno.test("online resume: TD-MPC2 (MPPI) killed after a checkpoint and resumed equals the straight run", async () => {
  const config = {
    totalSteps: 75,
    prefillSteps: 20,
    prefillUpdates: 5,
    batchSize: 8,
    sequenceLength: 4,
    logInterval: 5,
    evalInterval: 25,
    evalEpisodes: 1,
    saveInterval: 20,
    seed: 3,
  };
  const { straight, resumed, killedAt } = await straightAndResumed(tdmpc2, config, 40);
  // Saves due at 20, 40, 60 wait for the 15-step episodes to end: 30, 45, 60.
  assert.deepEqual(straight.checkpoints, [30, 45, 60]);
  assert.equal(killedAt, 45);
  assert.deepEqual(resumed.checkpoints, [60]);
  assertSameRun(straight, resumed, killedAt);
  assert.equal(straight.updates, 5 + 56);
  assert.ok(resumed.priorWallTimeSec > 0);
  assert.equal(straight.priorWallTimeSec, 0);
  // The comparison is not vacuous: the run after the resume learns and acts.
  assert.equal((straight.evaluations as unknown[]).length, 3);
  assert.ok(new Set([...straight.logs.values()].map((m) => m.loss)).size > 5);
});

const dreamer = async (seed: number): Promise<Setup> => {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed,
  });
  return { model, env: makeEnvSync("CartPole-v1"), evalEnv: makeEnvSync("CartPole-v1") };
};

Deno.test("online resume: DreamerV3 (actor, trainRatio 0.5, separate eval env), killed in the prefill, equals the straight run", async () => {
  const config = {
    totalSteps: 70,
    prefillSteps: 45,
    trainRatio: 0.5,
    batchSize: 2,
    sequenceLength: 8,
    logInterval: 7,
    evalInterval: 35,
    evalEpisodes: 1,
    saveInterval: 25,
    seed: 4,
  };
  const { straight, resumed, killedAt } = await straightAndResumed(dreamer, config, 25);
  // Killed in the random prefill: its stream resumes too.
  assert.ok(killedAt >= 25 && killedAt < 45, `killed at ${killedAt}`);
  // The checkpoint was written where a training episode ended.
  const ends = (straight.episodes as { envStep: number }[]).map((e) => e.envStep);
  assert.ok(ends.includes(killedAt), `${killedAt} is not an episode end (${ends})`);
  assert.ok(ends.length >= 2, `CartPole episodes: ${ends}`);
  assertSameRun(straight, resumed, killedAt);
});
