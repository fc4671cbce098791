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
  randomController,
  ReplayBuffer,
  tdmpc2Controller,
  type TDMPC2WorldModel,
  type TrainingConfigInput,
  trainOnline,
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

const point = async (seed: number): Promise<Setup> => {
  const env = new PointEnv(10);
  const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1, seed });
  return { model, env, controller: randomController(env.actionSpace) }; // the global stream
};

/** Updates at even steps from 12; the save due at 30 falls on an episode end and an update. */
const POINT = {
  totalSteps: 62,
  prefillSteps: 11,
  trainRatio: 0.5,
  batchSize: 4,
  sequenceLength: 4,
  logInterval: 31,
  evalInterval: 31,
  evalEpisodes: 2,
  saveInterval: 30,
  seed: 2,
} as const;

Deno.test("online resume: the update before the checkpoint is logged after the resume (mlp, trainRatio 0.5)", async () => {
  const { straight, resumed, killedAt } = await straightAndResumed(point, POINT, 30);
  assert.equal(killedAt, 30);
  // Step 31 logs the update made at step 30, before the kill: its outputs were checkpointed.
  assert.ok(Number.isFinite(resumed.logs.get(31)?.loss));
  assertSameRun(straight, resumed, killedAt);
  assert.deepEqual((straight.evaluations as { envStep: number }[]).map((e) => e.envStep), [40, 62]);
});

/** A killed point run's directory (checkpoint_000030) and its config. */
async function killedPointRun(): Promise<string> {
  const dir = await tempDir();
  const r = await segment(point, { ...POINT, outputDir: dir }, { killAt: 30 });
  assert.deepEqual(r, { killedAt: 30 });
  return dir;
}

/** Replaces a file of a checkpoint and records it in the manifest (as a forger would). */
async function forge(ck: string, name: string, bytes: Uint8Array): Promise<void> {
  await Deno.writeFile(`${ck}/${name}`, bytes);
  const m = JSON.parse(await Deno.readTextFile(`${ck}/manifest.json`));
  m.files[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  await Deno.writeTextFile(`${ck}/manifest.json`, JSON.stringify(m));
}

async function refused(
  dir: string,
  config: TrainingConfigInput,
  problem: string,
  message: RegExp,
  make: (seed: number) => Promise<Setup> = point,
): Promise<void> {
  await assert.rejects(
    () => segment(make, { ...POINT, ...config, outputDir: dir }, { resumeFrom: dir }),
    (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `${e}`);
      assert.equal(e.problem, problem, e.message);
      assert.match(e.message, message);
      return true;
    },
  );
}

Deno.test("online resume: a truncated or foreign replay buffer is refused with a typed error", async () => {
  const dir = await killedPointRun();
  const ck = `${dir}/checkpoint_000030`;
  const bytes = await Deno.readFile(`${ck}/replay_buffer.npz`);
  await Deno.writeFile(`${ck}/replay_buffer.npz`, bytes.subarray(0, bytes.length >> 1));
  await refused(dir, {}, "checksum_mismatch", /replay_buffer\.npz does not match.*truncated/);
  // A consistent manifest around another buffer (20 transitions, not the 30 of the run).
  const other = new ReplayBuffer({ capacity: 62, obsShape: [1], actionDim: 1 });
  for (let t = 0; t < 20; t++) other.addStep([0], [0], 0, false, t % 10 === 9);
  await forge(ck, "replay_buffer.npz", encodeNpz(other.toArrays()));
  await refused(dir, {}, "run_mismatch", /holds 20 transitions, 30 expected/);
  // Garbage with a right checksum: the npz reader's error, as a checkpoint error.
  await forge(ck, "replay_buffer.npz", new TextEncoder().encode("not a zip"));
  await refused(dir, {}, "invalid_field", /the replay buffer: /);
});

Deno.test("online resume: another environment, or a config that changes the run, is refused", async () => {
  const dir = await killedPointRun();
  const renamed = async (seed: number): Promise<Setup> => {
    const s = await point(seed);
    const e = s.env;
    const env: Env = {
      id: "Point-v1",
      observationSpace: e.observationSpace,
      actionSpace: e.actionSpace,
      maxEpisodeSteps: e.maxEpisodeSteps,
      renderSize: e.renderSize,
      render: () => e.render(),
      reset: (o) => e.reset(o),
      step: (a) => e.step(a),
      close: () => e.close(),
    };
    return { ...s, env };
  };
  await refused(dir, {}, "run_mismatch", /on Point-v0 \(.*\); this run is on Point-v1/, renamed);
  await refused(dir, { batchSize: 8 }, "run_mismatch", /batchSize \(4 there, 8 here\)/);
  await refused(
    dir,
    { sequenceLength: 2, evalEpisodes: 1 },
    "run_mismatch",
    /sequenceLength.*evalEpisodes/,
  );
  // More steps are fine: the run is extended.
  const longer = await segment(point, { ...POINT, totalSteps: 70, outputDir: dir }, {
    resumeFrom: dir,
  });
  assert.equal((longer as Outcome).steps, 70);
});

Deno.test("online resume: a checkpoint written mid-episode (best loss) cannot continue the run", async () => {
  const dir = await tempDir();
  const s = await point(1);
  // checkpoint_best at a log (step 31 or 62): in the middle of an episode.
  await trainOnline(s.model, s.env, { ...POINT, outputDir: dir, saveInterval: 1000 }, {
    defaultCallbacks: false,
    log: () => {},
    callbacks: [new CheckpointCallback({ saveFinal: false })],
  });
  const m = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint_best/manifest.json`));
  assert.ok(m.step === 31 || m.step === 62, `best at ${m.step}`); // logs; episodes end at 10k
  assert.equal(m.resumable, false);
  assert.equal(m.files["replay_buffer.npz"], undefined);
  await refused(`${dir}/checkpoint_best`, {}, "not_resumable", /middle of a training episode/);
  // A directory holding only that checkpoint has nothing to resume from.
  await assert.rejects(
    () => segment(point, { ...POINT, outputDir: dir }, { resumeFrom: dir }),
    (e: unknown) => e instanceof CheckpointError && e.problem === "missing_directory",
  );
  const buffer = new ReplayBuffer({ capacity: 10, obsShape: [1], actionDim: 1 });
  await assert.rejects(
    async () =>
      await trainOnline(s.model, s.env, { ...POINT, outputDir: dir }, {
        defaultCallbacks: false,
        resumeFrom: dir,
        buffer,
      }),
    /resumeFrom brings the run's replay buffer/,
  );
});
