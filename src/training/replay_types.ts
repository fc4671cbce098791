/**
 * What a replay buffer takes and gives (its options, the episodes it stores, the samples it
 * draws, the options of saving and loading) and the storage layout of one row, shared by the
 * buffer (`replay_buffer.ts`) and its file format (`replay_file.ts`).
 * @module
 */

import type { DeviceName } from "../backend/types.ts";

/** Storage type of observations. */
export type ObsDtype = "float32" | "uint8";
/** Storage type of actions: float vectors (continuous, or one-hot) or discrete indices. */
export type ActionDtype = "float32" | "int32";

/** Options of {@link ReplayBuffer}. */
export interface ReplayBufferOptions {
  /** Transitions kept; the oldest are overwritten beyond it. */
  readonly capacity: number;
  /** Shape of one observation (`[39]`, `[3, 64, 64]`). */
  readonly obsShape: readonly number[];
  /** Width of an action vector (for discrete actions: the number of actions). */
  readonly actionDim: number;
  /** `"float32"` (default) or `"uint8"` (pixels, stored as bytes). */
  readonly obsDtype?: ObsDtype;
  /**
   * `"float32"` (default): actions `[T, actionDim]` (continuous values, or one-hot; a discrete
   * index given to `addStep`/`addEpisode` is stored one-hot). `"int32"`: discrete indices in
   * `[0, actionDim)`, one per step, sampled as `actions [B, T]` int32.
   */
  readonly actionDtype?: ActionDtype;
  /** Seed of the sampling stream (default 0). */
  readonly seed?: number;
  /** Default device of sampled batches (default: the current default device). */
  readonly device?: DeviceName;
  /**
   * Store NaN and infinite observations, actions and rewards (default false: they are refused
   * with a ContractError naming the field and step, as they would turn every loss that samples
   * them into NaN, or, clamped somewhere, silently into something else).
   */
  readonly allowNonFinite?: boolean;
}

/** Numbers, flat or nested by rows (`number[][]` for `[T, D]`). */
export type NumericInput = ArrayLike<number> | readonly NumericInput[];

/** Flags, flat (`boolean[]`, `Uint8Array` of 0/1, numbers). */
export type FlagInput = ArrayLike<number | boolean>;

/**
 * One or more episodes in the layout described in the module docs (`rollout()`'s result from
 * `src/envs` fits as is; its other fields are ignored).
 */
export interface EpisodeInput {
  /** `[T, ...obsShape]` (or `[T + 1, ...obsShape]`, whose last row is dropped). */
  readonly obs: NumericInput;
  /** `[T, actionDim]`; or `[T]` discrete indices (stored one-hot for float32 actions). */
  readonly actions: NumericInput;
  /** `[T]` rewards of each step's action. */
  readonly rewards: ArrayLike<number>;
  /** `[T]` the episode ended with that step (terminal unless `truncated`/`terminated` say). */
  readonly dones?: FlagInput;
  /** `[T]` the step reached a terminal state. */
  readonly terminated?: FlagInput;
  /** `[T]` the episode was cut there (time limit): an end, not terminal. */
  readonly truncated?: FlagInput;
  /** `[T]` `obs[t]` starts an episode (after a reset). */
  readonly firsts?: FlagInput;
}

/** Options of {@link ReplayBuffer.sample} and {@link ReplayBuffer.sampleArrays}. */
export interface SampleOptions {
  /** Seed for this draw only (same seed, same batch; the buffer's own stream is untouched). */
  readonly seed?: number;
  /** Device of the batch's tensors (default: the buffer's `device`, else the default device). */
  readonly device?: DeviceName;
  /** Give episodes shorter than `T` one zero-padded sequence each, with `mask` (default false). */
  readonly pad?: boolean;
  /**
   * Windows of the stored stream that may span episodes (default false; see the module docs):
   * `isFirst` marks each episode start inside a sequence. `pad` is ignored (no sequence is short).
   */
  readonly crossEpisodes?: boolean;
  /**
   * uint8 observations: `false` (default) gives float32 in [0, 1] (value / 255); `true` keeps the
   * values 0..255, as an int32 tensor (the tensor layer has no uint8 dtype). Ignored for float32.
   */
  readonly rawPixels?: boolean;
}

/** A sample as host arrays, row-major `[B, T, ...]` (see {@link ReplayBuffer.sampleArrays}). */
export interface ReplaySample {
  /** `B`. */
  readonly batchSize: number;
  /** `T`. */
  readonly seqLen: number;
  /** `[B, T, ...obsShape]` in the storage type (uint8 pixels stay uint8). */
  readonly obs: Float32Array | Uint8Array;
  /** `[B, T, actionDim]` float32, or `[B, T]` int32 indices. */
  readonly actions: Float32Array | Int32Array;
  /** `[B, T]`. */
  readonly rewards: Float32Array;
  /** `[B, T]`, 1 at terminal steps. */
  readonly terminations: Float32Array;
  /** `[B, T]`, 1 where a step starts an episode. */
  readonly isFirst: Float32Array;
  /** `[B, T]`, 1 at real steps, 0 at padding; null without `pad`. */
  readonly mask: Float32Array | null;
  /** Position of each sequence's first step, counted from the oldest stored step. */
  readonly starts: Float64Array;
}

/** Saving options. */
export interface ReplaySaveOptions {
  /** Deflate the arrays (`np.savez_compressed`); default false (`np.savez`). */
  readonly compressed?: boolean;
  /** Deflate level 1-9 (default 6). */
  readonly level?: number;
}

/** Loading options. */
export interface ReplayLoadOptions {
  /** Capacity of the new buffer (default: the file's `capacity`); if smaller than the stored
   * transitions, only the most recent ones are kept. */
  readonly capacity?: number;
  /** Seed of the sampling stream (default 0). */
  readonly seed?: number;
  /** Default device of sampled batches. */
  readonly device?: DeviceName;
  /** Accept NaN and infinite values in the file (default false: a FormatError names the key). */
  readonly allowNonFinite?: boolean;
  /**
   * Largest total of array bytes accepted from the file (default: what a buffer of the file's
   * `capacity` (or `capacity` above, if larger) holds, in the widest dtypes the format allows,
   * within the allocation limit of `src/io/limits.ts`).
   */
  readonly maxBytes?: number;
}

/** Bytes of storage per transition of a buffer with these options. */
export function transitionBytes(
  obsSize: number,
  actionDim: number,
  obsDtype: ObsDtype,
  actionDtype: ActionDtype,
): number {
  const obs = obsSize * (obsDtype === "uint8" ? 1 : 4);
  const act = actionDtype === "int32" ? 4 : actionDim * 4;
  return obs + act + 4 + 1 + 4; // + reward, flags, step-in-episode
}

/** Row flag: an episode boundary follows this step (saved as `dones`). */
export const LAST = 1;
/** Row flag: a terminal step, no bootstrapping past it (saved as `terminations`). */
export const TERMINAL = 2;
