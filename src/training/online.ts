/**
 * {@link trainOnline}: the online loop. Collect `prefillSteps` environment steps with random
 * actions, run `prefillUpdates` gradient updates on them once (TD-MPC2's pretraining), then act
 * with the family's {@link Controller}, add every transition to a replay buffer, run
 * `trainRatio` gradient updates per environment step, and evaluate `evalEpisodes`
 * episodes every `evalInterval` environment steps (and at the end), with the returns in the logs.
 *
 * A step here is an environment step: `totalSteps`, `logInterval`, `evalInterval` and
 * `saveInterval` count environment steps; `state.updates` counts gradient updates.
 *
 * Actions come from a {@link Controller} (see `core/controller.ts` for the protocol): the
 * `controller` option, else the `controller` of the model's family spec (DreamerV3's actor,
 * TD-MPC2's MPPI), else random actions (with a note).
 *
 * Resuming: a checkpoint written at the end of a training episode (a periodic one: the
 * `CheckpointCallback` waits for the episode to end when a save falls due) holds the model, the
 * optimizers, every random stream (the global one the controllers draw from, the replay
 * sampler's, the evaluations', the prefill's), the replay buffer and the loop's counters,
 * episodes and evaluations (`online_state.ts`); `resumeFrom` continues the run from it exactly
 * (same updates, episodes and evaluations as the uninterrupted run, on the cpu backend). The next
 * training episode starts from its seed, so the environment needs no saving.
 * @module
 */

import type { WorldModel } from "../core/world_model.ts";
import { ConfigError, WorldFluxError } from "../errors.ts";
import { CheckpointError } from "../core/errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { tensor } from "../tensor/creation.ts";
import { readTensors } from "../tensor/read.ts";
import { encodeNpz } from "../io/npz.ts";
import { actionDim, type Env } from "../envs/types.ts";
import { actWith, evaluateController } from "../core/acting.ts";
import { type ActInfo, type Controller, nextSeed, randomController } from "../core/controller.ts";
import { resolveController } from "./family.ts";
import type { Callback, Metrics, TrainingState, TrainSummary } from "./callbacks.ts";
import {
  parseTrainingConfig,
  type TrainingConfig,
  type TrainingConfigInput,
} from "../core/training_config.ts";
import { ReplayBuffer } from "./replay_buffer.ts";
import { disposeBatch, type TrainStep } from "../core/train_step.ts";
import { deriveSeed, Rng } from "../rng.ts";
import { assembleCallbacks, RunCore } from "./trainer.ts";
import { CHECKPOINT_FILES } from "./checkpoint.ts";
import {
  checkEnvSignature,
  envSignature,
  type EpisodeRecord,
  type EvalRecord,
  type OnlineLoopState,
  onlineStateFromJson,
  onlineStateToJson,
} from "./online_state.ts";

/** Options of {@link trainOnline}. */
export interface OnlineOptions {
  /** Acts after the prefill (default: the family's controller, else random). */
  readonly controller?: Controller;
  /**
   * Environment for evaluation episodes (default: the training one, evaluated at the next
   * episode boundary so no training episode is cut).
   */
  readonly evalEnv?: Env;
  /** The replay buffer to fill (default: a new one of `min(bufferCapacity, totalSteps)`). */
  readonly buffer?: ReplayBuffer;
  /** Callbacks (as the Trainer's). */
  readonly callbacks?: readonly Callback[];
  /** Add the Progress/Logging/Checkpoint defaults (default true). */
  readonly defaultCallbacks?: boolean;
  /** A ready-made training step (kept by the caller; by default one is built and freed). */
  readonly trainStep?: TrainStep;
  /**
   * Longest evaluation episode in decisions (default 1000), also on environments whose own time
   * limit is longer (an Atari game's 27,000 decisions would make every evaluation of a policy
   * that never serves take hours); a shorter time limit of the environment ends episodes first.
   */
  readonly evalMaxSteps?: number;
  /** Where notes go (default: stderr). */
  readonly log?: (message: string) => void;
  /**
   * Continue a run from a checkpoint directory, or from the newest resumable checkpoint in a
   * directory of them (the run's `outputDir`): one written at the end of a training episode.
   * The config must be the checkpoint's (only `totalSteps` may grow) and `env` the same
   * environment; the replay buffer comes from the checkpoint (do not pass `buffer`).
   */
  readonly resumeFrom?: string;
}

export type { EpisodeRecord, EvalRecord } from "./online_state.ts";

/** What {@link trainOnline} returns. */
export interface OnlineResult {
  /** The trained model (same object). */
  readonly model: WorldModel;
  /** How the run went (steps are environment steps). */
  readonly summary: TrainSummary;
  /** The filled replay buffer. */
  readonly buffer: ReplayBuffer;
  /** Every evaluation, in order. */
  readonly evaluations: readonly EvalRecord[];
  /** Every finished training episode, in order. */
  readonly episodes: readonly EpisodeRecord[];
  /**
   * Seconds of training before this call, when it resumed a run (0 otherwise): the training
   * time recorded in the checkpoint, over every earlier segment up to it. Work done after that
   * checkpoint by a run that was then killed is not counted (it is redone here). The run's
   * training time is this plus `summary.wallTimeSec`.
   */
  readonly priorWallTimeSec: number;
}

function stats(xs: readonly number[]): { mean: number; std: number; min: number; max: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs) };
}

/** The metrics of an evaluation (what `onEval` gets and `state.lastEval` holds). */
function evalMetrics(rec: EvalRecord): Metrics {
  const s = stats(rec.returns);
  return Object.freeze({
    eval_return_mean: s.mean,
    eval_return_std: s.std,
    eval_return_min: s.min,
    eval_return_max: s.max,
    eval_length_mean: rec.lengths.reduce((a, b) => a + b, 0) / rec.lengths.length,
    updates: rec.updates,
  });
}

/**
 * The replay buffer of the checkpoint in `dir` (checked against the loop's state), with
 * the capacity the run's config gives (the most recent transitions kept, as the run's own ring
 * would have kept them).
 */
async function restoreBuffer(
  dir: string,
  restored: OnlineLoopState,
  opts: { capacity: number; seed: number; device: WorldModel["device"] },
): Promise<ReplayBuffer> {
  const path = `${dir}/${CHECKPOINT_FILES.replay}`;
  let buffer: ReplayBuffer;
  try {
    buffer = await ReplayBuffer.load(path, opts);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        "missing_file",
        `the checkpoint ${dir} has no ${CHECKPOINT_FILES.replay} (an online checkpoint written ` +
          `at the end of a training episode holds its replay buffer); resume from another one`,
        path,
      );
    }
    if (e instanceof WorldFluxError && !(e instanceof CheckpointError)) {
      throw new CheckpointError("invalid_field", `the replay buffer: ${e.message}`, path);
    }
    throw e;
  }
  const sig = restored.env;
  const want = Math.min(restored.bufferSize, opts.capacity);
  const problems = [
    buffer.size !== want && `it holds ${buffer.size} transitions, ${want} expected`,
    buffer.episodeInProgress && "it ends in the middle of an episode",
    (buffer.obsShape.join(",") !== sig.obsShape.join(",") ||
      buffer.obsDtype !== (sig.obsDtype === "uint8" ? "uint8" : "float32")) &&
    `its observations are [${buffer.obsShape}] ${buffer.obsDtype}, the run's [${sig.obsShape}] ` +
      `${sig.obsDtype}`,
  ].filter((p): p is string => typeof p === "string");
  if (problems.length) {
    throw new CheckpointError(
      "run_mismatch",
      `the replay buffer does not belong to this checkpoint: ${problems.join("; ")}; resume ` +
        `from another checkpoint`,
      path,
    );
  }
  return buffer;
}

/**
 * Trains `model` online in `env` (see the module docs): random prefill, then the controller;
 * `trainRatio` updates per environment step from the replay buffer; periodic evaluations.
 *
 * @example
 * ```ts
 * import { createWorldModel, randomController, trainOnline } from "@worldflux/worldflux";
 * // A tiny environment: push a point towards 0; reward -|x|; 20 steps per episode.
 * let x = 0, t = 0;
 * const space = { kind: "box", low: new Float32Array([-1]), high: new Float32Array([1]),
 *   shape: [1], dtype: "float32" } as const;
 * const env = {
 *   id: "Point-v0", observationSpace: space, actionSpace: space, maxEpisodeSteps: 20,
 *   renderSize: 8, render: () => new Uint8Array(192), close: () => {},
 *   reset: () => { x = 0.5; t = 0; return { obs: new Float32Array([x]), info: {} }; },
 *   step: (a: number | ArrayLike<number>) => {
 *     x = Math.max(-1, Math.min(1, x + 0.1 * (typeof a === "number" ? a : a[0])));
 *     t++;
 *     return { obs: new Float32Array([x]), reward: -Math.abs(x), terminated: false,
 *       truncated: t >= 20, info: {} };
 *   },
 * };
 * const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1 });
 * const { summary, evaluations } = await trainOnline(model, env, {
 *   totalSteps: 200,
 *   prefillSteps: 100,
 *   batchSize: 8,
 *   sequenceLength: 8,
 *   evalInterval: 200,
 *   evalEpisodes: 2,
 *   outputDir: await Deno.makeTempDir(),
 * }, { controller: randomController(space, 1), defaultCallbacks: false });
 * console.log(summary.updates, evaluations.length); // 101 1
 * // With a CheckpointCallback (a default) a killed run continues from its output directory:
 * // await trainOnline(model, env, sameConfig, { resumeFrom: outputDir });
 * ```
 */
export async function trainOnline(
  model: WorldModel,
  env: Env,
  config: TrainingConfigInput | TrainingConfig = {},
  options: OnlineOptions = {},
): Promise<OnlineResult> {
  const cfg = parseTrainingConfig(config);
  const core = new RunCore(
    model,
    cfg,
    "online",
    assembleCallbacks(options.callbacks, options.defaultCallbacks ?? true),
    options.log,
  );
  const st: TrainingState = core.state;
  const space = env.actionSpace;
  const obsSpace = env.observationSpace;
  if (options.resumeFrom && options.buffer) {
    throw new ConfigError(
      "trainOnline: resumeFrom brings the run's replay buffer from the checkpoint; do not pass " +
        "a buffer as well",
    );
  }
  const bufferOptions = {
    capacity: Math.min(cfg.bufferCapacity, cfg.totalSteps),
    seed: deriveSeed(cfg.seed, 5),
    device: model.device,
  };
  await core.setup(options.resumeFrom, options.trainStep);
  const signature = envSignature(env);
  const restored: OnlineLoopState | null = core.resumedFrom
    ? onlineStateFromJson(core.restoredExtra, `${core.resumedFrom}/${CHECKPOINT_FILES.trainer}`)
    : null;
  let buffer: ReplayBuffer;
  if (restored) {
    checkEnvSignature(restored.env, signature, core.resumedFrom!);
    buffer = await restoreBuffer(core.resumedFrom!, restored, bufferOptions);
  } else {
    buffer = options.buffer ?? new ReplayBuffer({
      ...bufferOptions,
      obsShape: obsSpace.shape,
      actionDim: actionDim(space),
      obsDtype: obsSpace.dtype === "uint8" ? "uint8" : "float32",
    });
  }
  buffer.checkSampleSize(cfg.batchSize, cfg.sequenceLength, [
    "batchSize (batch_size)",
    "sequenceLength (sequence_length)",
  ]);
  const controller: Controller = options.controller ??
    resolveController(model, { actionSpace: space, observationSpace: obsSpace, config: cfg }) ??
    (() => {
      core.log(
        `the ${model.modelType} family has no controller, and no controller was given: ` +
          `acting randomly after the prefill too`,
      );
      return randomController(space);
    })();
  if (typeof controller?.act !== "function") {
    throw new WorldFluxError("config", "the controller must have act(obs, state, info)");
  }
  const prefillRng = new Rng(deriveSeed(cfg.seed, 4));
  const random = randomController(space, prefillRng);
  const evalSeedBase = deriveSeed(cfg.seed, 3);
  const evalMax = options.evalMaxSteps ?? 1000;

  const evaluations: EvalRecord[] = [...(restored?.evaluations ?? [])];
  const episodes: EpisodeRecord[] = [...(restored?.episodes ?? [])];
  let sincelog: number[] = [...(restored?.sinceLog ?? [])];
  let pad = restored?.pad ?? false;
  let waitingNoted = restored?.waitingNoted ?? false;
  let debt = restored?.debt ?? 0;
  let pretrained = restored?.pretrained ?? false;
  let pendingEval = restored?.pendingEval ?? false;
  let lastOut: Record<string, Tensor> | null = null;
  const priorWallTimeSec = restored?.wallTimeSec ?? 0;
  if (restored) {
    prefillRng.setState(restored.prefillRng);
    buffer.setRngState(restored.replayRng);
    const last = restored.lastUpdate;
    if (last) {
      lastOut = Object.fromEntries(
        Object.entries(last).map(([k, v]) => [k, tensor([v], [], { device: model.device })]),
      );
    }
    const lastEval = restored.evaluations.at(-1);
    if (lastEval) st.lastEval = evalMetrics(lastEval);
  }
  core.checkpointExtra = async (resumable) => {
    const state: Record<string, unknown> = {
      env_steps: st.step,
      updates: st.updates,
      episodes: episodes.length,
    };
    if (!resumable) return { state };
    const names = lastOut ? Object.keys(lastOut) : [];
    const values = lastOut ? await readTensors(names.map((k) => lastOut![k])) : [];
    state.online = onlineStateToJson({
      env: signature,
      episodes,
      evaluations,
      debt,
      pretrained,
      pad,
      pendingEval,
      waitingNoted,
      sinceLog: sincelog,
      prefillRng: prefillRng.getState(),
      replayRng: buffer.getRngState() as unknown as OnlineLoopState["replayRng"],
      lastUpdate: lastOut
        ? Object.fromEntries(names.map((k, i) => [k, Number(values[i][0])]))
        : null,
      bufferSize: buffer.size,
      wallTimeSec: priorWallTimeSec + core.elapsed(),
    });
    return { state, files: { [CHECKPOINT_FILES.replay]: encodeNpz(buffer.toArrays()) } };
  };

  const evaluate = async (evalEnv: Env): Promise<void> => {
    if (cfg.evalEpisodes <= 0) return;
    const returns: number[] = [];
    const lengths: number[] = [];
    await core.withEvalRandomness(async () => {
      const wasTraining = model.training;
      model.eval();
      try {
        const r = await evaluateController(evalEnv, controller, {
          episodes: cfg.evalEpisodes,
          seed: evalSeedBase,
          maxSteps: evalMax,
          envStep: st.step,
        });
        returns.push(...r.returns);
        lengths.push(...r.lengths);
      } finally {
        model.train(wasTraining);
      }
    });
    const rec: EvalRecord = {
      envStep: st.step,
      updates: st.updates,
      returns,
      lengths,
      meanReturn: stats(returns).mean,
    };
    evaluations.push(rec);
    const metrics = evalMetrics(rec);
    st.lastEval = metrics;
    await core.dispatch("onEval", st.step, metrics, core, {
      eval_returns: returns,
      eval_lengths: lengths,
    });
  };

  // Families whose step resets the state at `isFirst` (DreamerV3) train on windows of the
  // stream that span episodes, so an episode's last steps are sampled as often as the others.
  const crossEpisodes = core.trainStep.crossEpisodes ?? false;
  const update = (): void => {
    let batch;
    try {
      batch = buffer.sample(cfg.batchSize, cfg.sequenceLength, {
        seed: nextSeed(core.generators.sampler),
        device: model.device,
        pad,
        crossEpisodes,
      });
    } catch (e) {
      if (!(e instanceof WorldFluxError && e.code === "replay_insufficient")) throw e;
      if (!pad && !crossEpisodes) {
        pad = true;
        core.log(
          `no stored episode has ${cfg.sequenceLength} steps yet: sampling shorter episodes ` +
            `zero-padded, with a mask, from now on`,
        );
        return update();
      }
      if (!waitingNoted) core.log(`waiting for replay data: ${(e as Error).message}`);
      waitingNoted = true;
      return;
    }
    let out: Record<string, Tensor>;
    try {
      out = core.trainStep.step(batch);
    } finally {
      disposeBatch(batch);
    }
    st.updates++;
    core.watchLoss(st.step, out);
    if (lastOut) { for (const t of Object.values(lastOut)) t.dispose(); }
    lastOut = out;
  };

  const startStep = st.step;
  try {
    core.begin();
    await core.dispatch("onTrainBegin", core);
    // Training episodes start from seeds of their own, so evaluations on the same environment
    // (which reseed it) never change them, and a resumed run starts its next episode as the
    // uninterrupted run did.
    const trainSeedBase = deriveSeed(cfg.seed, 7);
    let { obs } = env.reset({ seed: trainSeedBase + episodes.length });
    let cs = controller.reset?.({ explore: true });
    let epReturn = 0;
    let epLen = 0;
    while (st.step < st.totalSteps && !st.shouldStop) {
      st.resumablePoint = false;
      const prefill = st.step < cfg.prefillSteps;
      const info: ActInfo = {
        explore: true,
        envStep: st.step,
        episodeStep: epLen,
        actionSpace: space,
      };
      const a = prefill
        ? await actWith(random, obs, undefined, info)
        : await actWith(controller, obs, cs, info);
      if (!prefill) cs = a.state;
      const r = env.step(a.action);
      buffer.addStep(obs, a.action, r.reward, r.terminated, r.truncated);
      epReturn += r.reward;
      epLen++;
      obs = r.obs;
      st.step++;
      const step = st.step;
      const done = r.terminated || r.truncated;
      if (done) {
        episodes.push({ envStep: step, return: epReturn, length: epLen });
        sincelog.push(epReturn);
        epReturn = 0;
        epLen = 0;
      }
      if (step >= cfg.prefillSteps) {
        if (!pretrained) {
          // TD-MPC2's pretraining on the seed data, once, before the controller acts.
          pretrained = true;
          for (let i = 0; i < cfg.prefillUpdates; i++) update();
        }
        debt += cfg.trainRatio;
        while (debt >= 1) {
          debt -= 1;
          update();
        }
      }
      let logs: Metrics | undefined;
      if (step % cfg.logInterval === 0 || step === st.totalSteps) {
        const extra: Record<string, number> = {
          env_steps: step,
          updates: st.updates,
          episodes: episodes.length,
          buffer_size: buffer.size,
        };
        if (sincelog.length) extra.train_return = stats(sincelog).mean;
        sincelog = [];
        const out = lastOut;
        lastOut = null;
        logs = await core.logStep(step, out, extra);
      }
      const evalDue = step % cfg.evalInterval === 0 || step === st.totalSteps;
      if (evalDue && cfg.evalEpisodes > 0) {
        if (options.evalEnv) await evaluate(options.evalEnv);
        else pendingEval = true;
      }
      if (pendingEval && (done || step === st.totalSteps)) {
        pendingEval = false;
        await evaluate(env); // at an episode boundary, or after the last step
      }
      if (done && step < st.totalSteps) {
        obs = env.reset({ seed: trainSeedBase + episodes.length }).obs;
        cs = controller.reset?.({ explore: true });
      }
      // A checkpoint here needs no environment state: the next episode starts from its seed.
      st.resumablePoint = done;
      await core.dispatch("onStepEnd", step, logs, core);
    }
    if (pendingEval) {
      st.resumablePoint = false;
      await evaluate(env);
    }
    const summary = core.summary(startStep);
    await core.dispatch("onTrainEnd", summary, core);
    return {
      model,
      summary: { ...summary, lastCheckpoint: core.lastCheckpoint },
      buffer,
      evaluations,
      episodes,
      priorWallTimeSec,
    };
  } finally {
    if (lastOut) { for (const t of Object.values(lastOut as Record<string, Tensor>)) t.dispose(); }
    await core.close();
  }
}
