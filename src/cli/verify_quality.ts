/**
 * The quality half of `worldflux verify`: the trained model against the untrained one on
 * held-out data (random and npz runs), and its policy against random play (env and gym runs).
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { DeviceName } from "../backend/types.ts";
import { createWorldModel } from "../core/factory.ts";
import type { WorldModel } from "../core/world_model.ts";
import { makeEnv } from "../envs/registry.ts";
import { type EnvArgs, verifyEnvArgs } from "./data_env.ts";
import { defaultGenerator } from "../tensor/random.ts";
import { noGrad, type Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/memory.ts";
import { parseTrainingConfig, type TrainingConfig } from "../core/training_config.ts";
import { randomController } from "../core/controller.ts";
import { evaluateController } from "../core/acting.ts";
import { resolveController } from "../training/family.ts";
import { ReplayBuffer } from "../training/replay_buffer.ts";
import { disposeBatch } from "../core/train_step.ts";
import { VERIFY_DEFAULTS } from "./project.ts";
import { randomReplayBuffer } from "./run_data.ts";
import type { RunManifest } from "./run_manifest.ts";
import type { QuickVerifyOptions, QuickVerifyReport, VerifyCheck } from "./verify_report.ts";

/**
 * Mean loss of `model` over `batches` batches of `buffer` (the same batches and random draws for
 * every model given the same `seed`; no gradients).
 */
export async function heldoutLoss(
  model: WorldModel,
  buffer: ReplayBuffer,
  o: { batches: number; batchSize: number; seqLen: number; seed: number; device: DeviceName },
): Promise<number> {
  const g = defaultGenerator();
  const saved = g.state();
  const wasTraining = model.training;
  model.eval();
  // Short episodes (env evaluations) are sampled zero-padded, with a mask.
  let pad = false;
  try {
    buffer.sampleArrays(1, o.seqLen, { seed: 0 });
  } catch {
    pad = true;
  }
  let total = 0;
  try {
    g.setState({ seed: o.seed, counter: 0 });
    for (let i = 0; i < o.batches; i++) {
      const batch = buffer.sample(o.batchSize, o.seqLen, {
        seed: o.seed + 7919 * (i + 1),
        device: o.device,
        pad,
      });
      let t: Tensor;
      try {
        t = tidy(() => noGrad(() => model.loss(batch).loss.reshape([])));
      } finally {
        disposeBatch(batch);
      }
      total += await t.item();
      t.dispose();
    }
  } finally {
    g.setState(saved);
    model.train(wasTraining);
  }
  return total / o.batches;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** The quality tier of a run's data source (`null`: unknown source). */
export function qualityTier(source: string | null): QuickVerifyReport["tier"] {
  return source === "random"
    ? "synthetic"
    : source === "npz"
    ? "offline"
    : source === "env" || source === "gym"
    ? "real_env_smoke"
    : null;
}

/** A run whose artifacts are valid, as the quality checks need it. */
export interface VerifiedRun {
  /** The run's directory (absolute). */
  readonly dir: string;
  /** Its manifest. */
  readonly manifest: RunManifest;
  /** The trained model. */
  readonly model: WorldModel;
  /** The device it is on. */
  readonly device: DeviceName;
}

/**
 * Re-evaluates a run with valid artifacts by its data source (see `verify.ts`), adding quality
 * checks and measured values to `quality` and `metrics`; an evaluation that throws becomes a
 * failed `evaluation` check and a failed `model` artifact (added to `artifacts`).
 */
export async function checkQuality(
  run: VerifiedRun,
  opts: QuickVerifyOptions,
  log: (message: string) => void,
  out: {
    readonly artifacts: VerifyCheck[];
    readonly quality: VerifyCheck[];
    readonly metrics: Record<string, number | number[] | null>;
  },
): Promise<void> {
  const { dir, manifest, model, device } = run;
  const { artifacts, quality, metrics } = out;
  const source = manifest.data?.source ?? null;
  const th = { ...VERIFY_DEFAULTS, ...camelVerify(manifest.verify ?? {}) };

  const episodes = opts.episodes ?? th.episodes;
  const tc = parseTrainingConfig(manifest.training.config, { keys: "snake" });
  let fresh: WorldModel | null = null;
  const untrained = async () =>
    fresh ??= await createWorldModel(manifest!.model.spec, {
      ...manifest!.model.create_args,
      device: device!,
      seed: manifest!.model.init_seed,
    });
  const lossCheck = async (buffer: ReplayBuffer, what: string, gating: boolean) => {
    const lo = {
      batches: th.batches,
      batchSize: tc.batchSize,
      seqLen: tc.sequenceLength,
      seed: 12345,
      device: device!,
    };
    log(`held-out loss on ${what}`);
    const trained = await heldoutLoss(model!, buffer, lo);
    const base = await heldoutLoss(await untrained(), buffer, lo);
    const ratio = base > 0 ? trained / base : trained <= base ? 0 : Infinity;
    metrics.heldout_loss = trained;
    metrics.untrained_heldout_loss = base;
    metrics.heldout_loss_ratio = Number.isFinite(ratio) ? ratio : null;
    quality.push({
      name: "heldout_loss_ratio",
      ok: ratio <= th.maxLossRatio,
      value: Number.isFinite(ratio) ? ratio : null,
      threshold: th.maxLossRatio,
      gating,
      detail: `loss on ${what}: ${trained.toPrecision(4)} trained vs ${base.toPrecision(4)} ` +
        `untrained (ratio ${ratio.toFixed(3)}, must be <= ${th.maxLossRatio})`,
    });
  };
  try {
    if (source === "random") {
      const d = manifest.data as Record<string, unknown>;
      const buf = randomReplayBuffer({
        source: "random",
        obsShape: d.obs_shape as number[],
        actionDim: d.action_dim as number,
        actionType: d.action_type as "continuous" | "discrete",
        episodes: Math.max(2, Math.ceil((d.episodes as number) / 4)),
        episodeLength: d.episode_length as number,
      }, (manifest.model.init_seed + 1_000_003) >>> 0);
      await lossCheck(buf, "fresh random episodes", true);
    } else if (source === "npz") {
      let buf: ReplayBuffer;
      let what: string;
      if (manifest.artifacts.holdout) {
        buf = await ReplayBuffer.load(join(dir, manifest.artifacts.holdout));
        what = "the held-out episodes";
      } else {
        const base = manifest.project.config_path ? dirname(manifest.project.config_path) : ".";
        const p = String((manifest.data as Record<string, unknown>).path);
        buf = await ReplayBuffer.load(resolve(base, p));
        what = "the training data (nothing was held out)";
      }
      await lossCheck(buf, what, true);
    } else if (source === "env" || source === "gym") {
      await policyQuality(manifest.data as Record<string, unknown>, model, {
        opts,
        log,
        th,
        tc,
        episodes,
        quality,
        metrics,
        lossCheck,
      });
    }
  } catch (e) {
    quality.push({
      name: "evaluation",
      ok: false,
      gating: true,
      detail: `the model could not be evaluated: ${(e as Error).message}`,
    });
    artifacts.push({ name: "model", ok: false, detail: "fails on evaluation (see quality)" });
  } finally {
    (fresh as WorldModel | null)?.dispose();
  }
  const updates = Number(manifest.training.updates ?? 0);
  if (!(updates > 0)) {
    quality.push({
      name: "updates",
      ok: false,
      value: updates,
      threshold: 1,
      gating: true,
      detail: "no gradient update ran (total_steps <= prefill_steps?): the model is untrained",
    });
  }
}

function camelVerify(v: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "number") out[k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] = x;
  }
  return out;
}

/** What {@link policyQuality} works with (the quality run's settings and outputs). */
interface PolicyQualityContext {
  readonly opts: QuickVerifyOptions;
  readonly log: (message: string) => void;
  readonly th: { readonly episodes: number; readonly minReturnGain: number };
  readonly tc: TrainingConfig;
  readonly episodes: number;
  readonly quality: VerifyCheck[];
  readonly metrics: Record<string, number | number[] | null>;
  readonly lossCheck: (buffer: ReplayBuffer, what: string, gating: boolean) => Promise<void>;
}

/**
 * An env or gym run: the family's policy against random play over the same seeded episodes in
 * the run's environment (rebuilt from the manifest, with code-running parts from the project
 * file), then the loss on the policy's episodes (informative).
 */
async function policyQuality(
  d: Record<string, unknown>,
  model: WorldModel,
  ctx: PolicyQualityContext,
): Promise<void> {
  const { opts, log, th, tc, episodes, quality, metrics, lossCheck } = ctx;
  // Runs record the exact makeEnv arguments (make_env); older env runs their fields. What
  // would run code (Python's interpreter, path, modules) comes from the project file.
  const recorded = d.make_env as EnvArgs | undefined;
  const args = recorded ? verifyEnvArgs(recorded, opts.gym ?? null) : null;
  if (args?.options.gym && d.gym && typeof d.gym === "object") {
    const ran = (d.gym as Record<string, unknown>).python;
    log(
      `Gymnasium environment: ran with ${ran}, evaluated with ` +
        `${args.options.gym.python ?? "WORLDFLUX_PYTHON, else python3"}`,
    );
  }
  const mk = () =>
    args ? makeEnv(args.id, args.options) : makeEnv(String(d.env), {
      pixels: Boolean(d.pixels),
      frameSkip: Number(d.frame_skip ?? 1),
      maxEpisodeSteps: typeof d.max_episode_steps === "number" ? d.max_episode_steps : undefined,
      normalizeActions: true,
    });
  const env = await mk();
  try {
    const space = env.actionSpace;
    const controller = resolveController(model, {
      actionSpace: space,
      observationSpace: env.observationSpace,
      config: tc,
    });
    const seed = 900_000;
    log(`random policy: ${episodes} episodes`);
    const { returns: rnd } = await evaluateController(env, randomController(space, 77), {
      episodes,
      seed,
    });
    metrics.random_returns = rnd;
    metrics.random_mean_return = mean(rnd);
    if (!controller) {
      quality.push({
        name: "return_gain",
        ok: false,
        gating: true,
        value: null,
        threshold: th.minReturnGain,
        detail: `the ${model.modelType} family has no controller: no policy to evaluate`,
      });
    } else {
      const cap = Number.isFinite(env.maxEpisodeSteps) ? env.maxEpisodeSteps : 1000;
      const record = new ReplayBuffer({
        capacity: Math.max(2, episodes * cap),
        obsShape: env.observationSpace.shape,
        actionDim: space.kind === "discrete" ? space.n : space.shape[0],
        obsDtype: env.observationSpace.dtype === "uint8" ? "uint8" : "float32",
        seed: 5,
      });
      log(`${model.modelType} policy: ${episodes} episodes`);
      const g = defaultGenerator();
      const saved = g.state();
      g.setState({ seed: 4242, counter: 0 });
      const wasTraining = model.training;
      model.eval();
      let ret: number[];
      try {
        ret = (await evaluateController(env, controller, { episodes, seed, record }))
          .returns;
      } finally {
        model.train(wasTraining);
        g.setState(saved);
      }
      metrics.policy_returns = ret;
      metrics.policy_mean_return = mean(ret);
      const r = mean(rnd), p = mean(ret);
      const gain = (p - r) / Math.max(Math.abs(r), 1);
      metrics.return_gain = gain;
      quality.push({
        name: "return_gain",
        ok: gain >= th.minReturnGain,
        value: gain,
        threshold: th.minReturnGain,
        gating: true,
        detail: `mean return ${p.toFixed(1)} (${model.modelType} policy) vs ${r.toFixed(1)} ` +
          `(random) over ${episodes} episodes: gain ${gain.toFixed(3)} x max(|random|, 1), ` +
          `must be >= ${th.minReturnGain}`,
      });
      await lossCheck(record, "the evaluation episodes", false);
    }
  } finally {
    env.close();
  }
}
