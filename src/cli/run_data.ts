/**
 * The data of a `worldflux train` run, by `[data] source`: random episodes (the contract
 * smoke), an `.npz` file split into training and held-out episodes, or an environment (built
 * twice: one to train in, one to evaluate in), with what the run manifest records about it.
 * @module
 */

import { ConfigError } from "../errors.ts";
import { checkAllocation } from "../io/limits.ts";
import type { NpyArray } from "../io/npy.ts";
import { makeEnv } from "../envs/registry.ts";
import { GymBridgeError } from "../envs/gym/errors.ts";
import { Rng } from "../rng.ts";
import type { Env, Space } from "../envs/types.ts";
import type { TrainingConfig } from "../core/training_config.ts";
import { ReplayBuffer } from "../training/replay_buffer.ts";
import { readReplayArrays } from "../training/replay_file.ts";
import type { DataConfig, NpzDataConfig, RandomDataConfig } from "./project.ts";
import { gymManifestInfo, onlineEnvArgs } from "./data_env.ts";

/**
 * A replay buffer of random episodes (the contract smoke's data): observations N(0, 1) (uint8
 * noise for 3-d shapes), uniform actions in [-1, 1] (or indices), rewards N(0, 1).
 */
export function randomReplayBuffer(d: RandomDataConfig, seed: number): ReplayBuffer {
  const rng = new Rng(seed);
  const image = d.obsShape.length === 3;
  const obsSize = d.obsShape.reduce((a, b) => a * b, 1);
  const T = d.episodeLength;
  checkAllocation(
    `[data] episodes (${d.episodes}) x episode_length (${T})`,
    d.episodes * T * (obsSize * (image ? 1 : 4) + d.actionDim * 4 + 13) + T * obsSize * 4,
    "the random episodes do not fit; lower episodes or episode_length",
  );
  const buffer = new ReplayBuffer({
    capacity: d.episodes * T,
    obsShape: d.obsShape,
    actionDim: d.actionDim,
    obsDtype: image ? "uint8" : "float32",
    actionDtype: d.actionType === "discrete" ? "int32" : "float32",
    seed,
  });
  for (let e = 0; e < d.episodes; e++) {
    const obs = image ? new Uint8Array(T * obsSize) : new Float32Array(T * obsSize);
    for (let i = 0; i < obs.length; i++) obs[i] = image ? rng.int(256) : rng.normal();
    const actions = d.actionType === "discrete"
      ? Int32Array.from({ length: T }, () => rng.int(d.actionDim))
      : Float32Array.from({ length: T * d.actionDim }, () => rng.uniform(-1, 1));
    const rewards = Float32Array.from({ length: T }, () => rng.normal());
    const dones = Uint8Array.from({ length: T }, (_, t) => (t === T - 1 ? 1 : 0));
    buffer.addEpisode({
      obs,
      actions: d.actionType === "discrete"
        ? actions
        : Array.from({ length: T }, (_, t) =>
          actions.subarray(t * d.actionDim, (t + 1) * d.actionDim)),
      rewards,
      dones,
      terminated: new Uint8Array(T),
      truncated: dones,
    });
  }
  return buffer;
}

/** Default number of held-out episodes: 10%, at least one when there are two or more. */
export function defaultHoldout(episodes: number): number {
  return episodes >= 2 ? Math.max(1, Math.floor(episodes * 0.1)) : 0;
}

function sliceRows(a: NpyArray, from: number, to: number): NpyArray {
  const row = a.shape.slice(1).reduce((x, y) => x * y, 1);
  const data = (a.data as unknown as { subarray(s: number, e: number): unknown }).subarray(
    from * row,
    to * row,
  );
  return { ...a, shape: [to - from, ...a.shape.slice(1)], data } as NpyArray;
}

/**
 * Loads an `.npz` replay buffer and splits off its last `holdout` episodes (default
 * {@link defaultHoldout}) for verification.
 */
export async function loadNpzWithHoldout(
  d: NpzDataConfig,
  seed: number,
): Promise<{ train: ReplayBuffer; holdout: ReplayBuffer | null; episodes: number; k: number }> {
  const arrays = await readReplayArrays(d.path);
  const dones = arrays.dones;
  if (!dones || !arrays.obs) {
    // Let the buffer loader name what is missing.
    return {
      train: ReplayBuffer.fromArrays(arrays, { path: d.path, allowNonFinite: d.allowNonFinite }),
      holdout: null,
      episodes: 0,
      k: 0,
    };
  }
  const N = dones.shape[0] ?? 0;
  const flags = dones.data as ArrayLike<number | bigint | boolean>;
  const ends: number[] = [];
  for (let i = 0; i < N; i++) if (flags[i]) ends.push(i);
  const episodes = ends.length;
  const k = d.holdoutEpisodes ?? defaultHoldout(episodes);
  if (k > 0 && k >= episodes) {
    throw new ConfigError(
      `[data] holdout_episodes = ${k}, but ${d.pathAsWritten} holds ${episodes} complete ` +
        `episode(s): keep at least one for training`,
    );
  }
  if (k === 0) {
    return {
      train: ReplayBuffer.fromArrays(arrays, {
        path: d.path,
        seed,
        allowNonFinite: d.allowNonFinite,
      }),
      holdout: null,
      episodes,
      k,
    };
  }
  const cut = ends[episodes - k - 1] + 1; // first row of the held-out episodes
  const perStep = Object.keys(arrays).filter((key) =>
    arrays[key].shape.length >= 1 && arrays[key].shape[0] === N && key !== "obs_shape"
  );
  const part = (from: number, to: number, first: boolean) => {
    const out: Record<string, NpyArray> = {};
    for (const [key, v] of Object.entries(arrays)) {
      if (perStep.includes(key)) out[key] = sliceRows(v, from, to);
      else if (key === "first_step" && !first) continue;
      else out[key] = v;
    }
    return ReplayBuffer.fromArrays(out, {
      path: d.path,
      seed,
      capacity: Math.max(1, to - from),
      allowNonFinite: d.allowNonFinite,
    });
  };
  return { train: part(0, cut, true), holdout: part(cut, N, false), episodes, k };
}

function describeSpace(s: Space): Record<string, unknown> {
  return s.kind === "discrete" ? { kind: "discrete", n: s.n } : {
    kind: "box",
    shape: s.shape,
    dtype: s.dtype,
    low: Array.from(s.low),
    high: Array.from(s.high),
  };
}

/** A run's data, opened: a buffer (offline) or environments (online), and their description. */
export interface RunData {
  /** The training data (offline runs). */
  readonly buffer: ReplayBuffer | null;
  /** Held-out episodes (npz runs that hold some out). */
  readonly holdout: ReplayBuffer | null;
  /** The environment to train in (online runs; the caller closes it). */
  readonly env: Env | null;
  /** The environment to evaluate in (online runs; the caller closes it). */
  readonly evalEnv: Env | null;
  /** Observation shape and action space of the data. */
  readonly shapes: {
    obsShape: readonly number[];
    actionDim: number;
    actionType: "continuous" | "discrete";
  };
  /** What the manifest records under `data`. */
  readonly dataInfo: Record<string, unknown>;
  /** Degraded modes found so far (`synthetic_data`, `no_holdout_data`); the run adds more. */
  readonly degraded: string[];
}

/** Opens the data of `[data]` (`note` records what the run should know about it). */
export async function openRunData(
  data: DataConfig,
  cfg: TrainingConfig,
  note: (message: string) => void,
): Promise<RunData> {
  const degraded: string[] = [];
  let buffer: ReplayBuffer | null = null;
  let holdout: ReplayBuffer | null = null;
  let env: Env | null = null;
  let evalEnv: Env | null = null;
  let shapes: {
    obsShape: readonly number[];
    actionDim: number;
    actionType: "continuous" | "discrete";
  };
  let dataInfo: Record<string, unknown>;
  if (data.source === "random") {
    buffer = randomReplayBuffer(data, cfg.seed);
    shapes = data;
    degraded.push("synthetic_data");
    dataInfo = {
      source: "random",
      obs_shape: data.obsShape,
      action_dim: data.actionDim,
      action_type: data.actionType,
      episodes: data.episodes,
      episode_length: data.episodeLength,
      transitions: buffer.size,
      seed: cfg.seed,
    };
  } else if (data.source === "npz") {
    const split = await loadNpzWithHoldout(data, cfg.seed);
    buffer = split.train;
    holdout = split.holdout;
    shapes = {
      obsShape: buffer.obsShape,
      actionDim: buffer.actionDim,
      actionType: buffer.actionDtype === "int32" ? "discrete" : "continuous",
    };
    if (!holdout) {
      degraded.push("no_holdout_data");
      note(`${data.pathAsWritten}: no episodes held out; verify will evaluate on training data`);
    }
    dataInfo = {
      source: "npz",
      path: data.pathAsWritten,
      transitions: buffer.size + (holdout?.size ?? 0),
      episodes: split.episodes,
      train_transitions: buffer.size,
      holdout_episodes: split.k,
      holdout_transitions: holdout?.size ?? 0,
    };
  } else {
    const args = onlineEnvArgs(data);
    try {
      env = await makeEnv(args.id, args.options);
      evalEnv = await makeEnv(args.id, args.options);
    } catch (e) {
      env?.close();
      // The bridge's errors say what to install or which id was meant: keep their type.
      if (e instanceof GymBridgeError) {
        e.message = `[data] env = "${data.env}": ${e.message}`;
        throw e;
      }
      throw new ConfigError(`[data] env: ${(e as Error).message}`);
    }
    const space = env.actionSpace;
    shapes = {
      obsShape: env.observationSpace.shape,
      actionDim: space.kind === "discrete" ? space.n : space.shape[0],
      actionType: space.kind === "discrete" ? "discrete" : "continuous",
    };
    const common = {
      episode_steps: Number.isFinite(env.maxEpisodeSteps) ? env.maxEpisodeSteps : null,
      normalize_actions: space.kind === "box",
      observation_space: describeSpace(env.observationSpace),
      action_space: describeSpace(space),
      make_env: args,
    };
    dataInfo = data.source === "env"
      ? {
        source: "env",
        env: data.env,
        pixels: data.pixels,
        frame_skip: data.frameSkip,
        max_episode_steps: data.maxEpisodeSteps,
        ...common,
      }
      : {
        source: "gym",
        env: data.env,
        kwargs: data.kwargs,
        pixels: data.pixels,
        size: data.size,
        grayscale: data.grayscale,
        frame_skip: data.frameSkip,
        max_episode_steps: data.maxEpisodeSteps,
        terminal_on_life_loss: data.terminalOnLifeLoss,
        noop_max: data.noopMax,
        gym: gymManifestInfo(env),
        ...common,
      };
  }

  return { buffer, holdout, env, evalEnv, shapes, dataInfo, degraded };
}
