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
 * @module
 */

import type { WorldModel } from "../core/world_model.ts";
import { WorldFluxError } from "../errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
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
import { deriveSeed } from "../rng.ts";
import { assembleCallbacks, RunCore } from "./trainer.ts";

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
}

/** One evaluation. */
export interface EvalRecord {
  /** Environment step at which it ran. */
  readonly envStep: number;
  /** Gradient updates done by then. */
  readonly updates: number;
  /** Return of each episode. */
  readonly returns: readonly number[];
  /** Length of each episode. */
  readonly lengths: readonly number[];
  /** Mean return. */
  readonly meanReturn: number;
}

/** One finished training episode. */
export interface EpisodeRecord {
  /** Environment step at which it ended. */
  readonly envStep: number;
  /** Its return. */
  readonly return: number;
  /** Its length. */
  readonly length: number;
}

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
}

function stats(xs: readonly number[]): { mean: number; std: number; min: number; max: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs) };
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
  core.resumable = false;
  const st: TrainingState = core.state;
  const space = env.actionSpace;
  const obsSpace = env.observationSpace;
  const buffer = options.buffer ?? new ReplayBuffer({
    capacity: Math.min(cfg.bufferCapacity, cfg.totalSteps),
    obsShape: obsSpace.shape,
    actionDim: actionDim(space),
    obsDtype: obsSpace.dtype === "uint8" ? "uint8" : "float32",
    seed: deriveSeed(cfg.seed, 5),
    device: model.device,
  });
  buffer.checkSampleSize(cfg.batchSize, cfg.sequenceLength, [
    "batchSize (batch_size)",
    "sequenceLength (sequence_length)",
  ]);
  await core.setup(undefined, options.trainStep);
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
  const random = randomController(space, deriveSeed(cfg.seed, 4));
  const evalSeedBase = deriveSeed(cfg.seed, 3);
  const evalMax = options.evalMaxSteps ?? 1000;

  const evaluations: EvalRecord[] = [];
  const episodes: EpisodeRecord[] = [];
  let sincelog: number[] = [];
  let pad = false;
  let waitingNoted = false;
  let debt = 0;
  let pretrained = false;
  let lastOut: Record<string, Tensor> | null = null;
  core.extraState = () => ({
    env_steps: st.step,
    updates: st.updates,
    episodes: episodes.length,
  });

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
    const s = stats(returns);
    const rec: EvalRecord = {
      envStep: st.step,
      updates: st.updates,
      returns,
      lengths,
      meanReturn: s.mean,
    };
    evaluations.push(rec);
    const metrics: Metrics = Object.freeze({
      eval_return_mean: s.mean,
      eval_return_std: s.std,
      eval_return_min: s.min,
      eval_return_max: s.max,
      eval_length_mean: lengths.reduce((a, b) => a + b, 0) / lengths.length,
      updates: st.updates,
    });
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

  const startStep = 0;
  let pendingEval = false;
  try {
    core.begin();
    await core.dispatch("onTrainBegin", core);
    // Training episodes start from seeds of their own, so evaluations on the same environment
    // (which reseed it) never change them.
    const trainSeedBase = deriveSeed(cfg.seed, 7);
    let { obs } = env.reset({ seed: trainSeedBase });
    let cs = controller.reset?.({ explore: true });
    let epReturn = 0;
    let epLen = 0;
    while (st.step < st.totalSteps && !st.shouldStop) {
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
      await core.dispatch("onStepEnd", step, logs, core);
    }
    if (pendingEval) await evaluate(env);
    const summary = core.summary(startStep);
    await core.dispatch("onTrainEnd", summary, core);
    return {
      model,
      summary: { ...summary, lastCheckpoint: core.lastCheckpoint },
      buffer,
      evaluations,
      episodes,
    };
  } finally {
    if (lastOut) { for (const t of Object.values(lastOut as Record<string, Tensor>)) t.dispose(); }
    await core.close();
  }
}
