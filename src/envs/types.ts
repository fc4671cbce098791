/**
 * Gym-like environment interface: spaces, reset/step results, and the {@link Env} contract.
 *
 * Conventions (shared by every environment in `src/envs`):
 * - Vector observations are `Float32Array`s of `observationSpace.shape` (float32 `Box`).
 * - Pixel observations (the `PixelObservation` wrapper, `makeEnv(id, { pixels: true })`) are
 *   `Uint8Array`s in CHW layout: `Box` uint8 `[3, size, size]` with bounds 0..255.
 * - Grid observations (MinAtar games) are `Float32Array`s in CHW layout: `Box` float32
 *   `[channels, rows, columns]` of 0/1 (float, not uint8: uint8 always means 0..255 pixels, which
 *   the replay buffer and the controllers scale by 1/255). A rank-3 float32 box goes to
 *   DreamerV3's conv encoder like pixels do.
 * - `render()` always returns RGB in **HWC** layout: `Uint8Array` of `size * size * 3`, row 0 at
 *   the top of the picture (ready for a PNG encoder).
 * - Continuous actions are `ArrayLike<number>` of the action space's shape; discrete actions are
 *   an integer index, or a vector of `n` scores / a one-hot vector (its argmax is taken).
 * - Every observation array returned by `reset`/`step` is freshly allocated, so callers may
 *   keep it (e.g. in a replay buffer) without copying.
 * @module
 */

import type { Rng } from "../rng.ts";

/** Element type of a {@link Box}. */
export type BoxDType = "float32" | "uint8";

/** A (possibly unbounded) box of values: `low <= x <= high` elementwise. */
export interface Box {
  /** Discriminant. */
  readonly kind: "box";
  /** Lower bounds, one per element (row-major over `shape`); `-Infinity` when unbounded. */
  readonly low: Float32Array;
  /** Upper bounds, one per element; `Infinity` when unbounded. */
  readonly high: Float32Array;
  /** Shape of one element. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: BoxDType;
}

/** Integer actions `0 .. n-1`. */
export interface Discrete {
  /** Discriminant. */
  readonly kind: "discrete";
  /** Number of actions. */
  readonly n: number;
}

/** An observation or action space. */
export type Space = Box | Discrete;

/** An observation: float32 vectors, or uint8 pixels (CHW). */
export type Observation = Float32Array | Uint8Array;

/**
 * An action: a number (discrete index, or the single value of a 1-element box), or an array of
 * the action space's size (continuous values; for discrete spaces, scores whose argmax is taken).
 */
export type Action = number | ArrayLike<number>;

/** Free-form diagnostic information returned by `reset` and `step`. */
export type Info = Record<string, unknown>;

/** Options of {@link Env.reset}. */
export interface ResetOptions {
  /** Re-seeds the environment's RNG before drawing the initial state (Gymnasium semantics: an
   * unseeded reset continues the current random stream). */
  readonly seed?: number;
  /** Exact initial physical state instead of a random one (documented per environment), for
   * tests and reproductions. */
  readonly state?: ArrayLike<number>;
}

/** Result of {@link Env.reset}. */
export interface ResetResult<O extends Observation = Observation> {
  /** The observation. */
  readonly obs: O;
  /** Diagnostics. */
  readonly info: Info;
}

/** Result of {@link Env.step}. */
export interface StepResult<O extends Observation = Observation> {
  /** The observation. */
  readonly obs: O;
  /** Reward of the step. */
  readonly reward: number;
  /** The MDP reached a terminal state (no bootstrapping past it). */
  readonly terminated: boolean;
  /** The episode was cut short (time limit); the state is not terminal. */
  readonly truncated: boolean;
  /** Diagnostics. */
  readonly info: Info;
}

/** A Gym-like environment. */
export interface Env<O extends Observation = Observation> {
  /** Registry id (e.g. `"CartPole-v1"`), with wrappers' suffixes where they change it. */
  readonly id: string;
  /** Space of the observations. */
  readonly observationSpace: Box;
  /** Space of the actions. */
  readonly actionSpace: Space;
  /** Steps (of this env's `step`) after which the episode is truncated; `Infinity` if none. */
  readonly maxEpisodeSteps: number;
  /** Width and height of `render()` in pixels. */
  readonly renderSize: number;
  /** Starts an episode; see {@link ResetOptions}. */
  reset(options?: ResetOptions): ResetResult<O>;
  /** Applies `action` for one step. */
  step(action: Action): StepResult<O>;
  /** RGB picture of the current state, HWC `[renderSize, renderSize, 3]`, row 0 on top. */
  render(): Uint8Array;
  /** Releases resources (wasm memory for MuJoCo tasks). Idempotent. */
  close(): void;
}

/**
 * Actions of {@link VectorEnv.step}: one {@link Action} per environment, or all of them packed in
 * one typed array: `[numEnvs * actionSize]` for a box space; `[numEnvs]` indices (or
 * `[numEnvs * n]` scores, argmax per row) for a discrete one.
 */
export type VectorActions = readonly Action[] | Float32Array | Int32Array;

/** Result of {@link VectorEnv.reset}. */
export interface VectorResetResult<O extends Observation = Observation> {
  /** `[numEnvs, ...observationSpace.shape]`, row i from environment i. */
  readonly obs: O;
  /** Diagnostics per environment. */
  readonly infos: readonly Info[];
}

/**
 * Result of {@link VectorEnv.step}, with **same-step autoreset**: an environment whose episode
 * ended in this step (terminated or truncated) has already been reset, so its row of `obs` is
 * the first observation of its next episode, and the last observation of the ended one is in
 * `finalObs[i]` (null for the environments that go on). Gymnasium 1.x vector environments default
 * to next-step autoreset (the step after the end returns the reset observation and ignores its
 * action); same-step loses no step and matches {@link RolloutData}'s layout.
 */
export interface VectorStepResult<O extends Observation = Observation> {
  /** `[numEnvs, ...observationSpace.shape]`: the observation each environment continues from. */
  readonly obs: O;
  /** `[numEnvs]` rewards of this step. */
  readonly rewards: Float64Array;
  /** `[numEnvs]` 1 where the step reached a terminal state. */
  readonly terminated: Uint8Array;
  /** `[numEnvs]` 1 where the step hit the time limit. */
  readonly truncated: Uint8Array;
  /** Last observation of the episodes that ended in this step (null where none ended). */
  readonly finalObs: readonly (O | null)[];
  /** Diagnostics of the step, per environment (for an ended episode: of its reset). */
  readonly infos: readonly Info[];
  /** Diagnostics of the last step of the episodes that ended (null where none ended). */
  readonly finalInfos: readonly (Info | null)[];
}

/** `numEnvs` copies of one environment stepped together, with same-step autoreset. */
export interface VectorEnv<O extends Observation = Observation> {
  /** Registry id of each environment. */
  readonly id: string;
  /** Number of environments. */
  readonly numEnvs: number;
  /** Space of one environment's observation. */
  readonly observationSpace: Box;
  /** Space of one environment's action. */
  readonly actionSpace: Space;
  /** Steps after which an episode is truncated; `Infinity` if none. */
  readonly maxEpisodeSteps: number;
  /** Resets every environment; with `seed`, environment i is seeded with `seed + i` (Gymnasium). */
  reset(options?: { readonly seed?: number }): VectorResetResult<O>;
  /** Applies one action per environment (see {@link VectorStepResult} for autoreset). */
  step(actions: VectorActions): VectorStepResult<O>;
  /** Releases every environment. Idempotent. */
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// Space helpers
// ---------------------------------------------------------------------------------------------

/** Product of a shape's dimensions. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Builds a {@link Box}. `low`/`high` are scalars (broadcast) or arrays of `shapeSize(shape)`.
 */
export function box(
  low: number | ArrayLike<number>,
  high: number | ArrayLike<number>,
  shape: readonly number[],
  dtype: BoxDType = "float32",
): Box {
  const size = shapeSize(shape);
  const fill = (v: number | ArrayLike<number>, what: string): Float32Array => {
    if (typeof v === "number") return new Float32Array(size).fill(v);
    if (v.length !== size) {
      throw new RangeError(`box: ${what} has ${v.length} values, shape [${shape}] needs ${size}`);
    }
    return Float32Array.from(v);
  };
  const lo = fill(low, "low");
  const hi = fill(high, "high");
  for (let i = 0; i < size; i++) {
    if (!(lo[i] <= hi[i])) throw new RangeError(`box: low[${i}]=${lo[i]} > high[${i}]=${hi[i]}`);
  }
  return { kind: "box", low: lo, high: hi, shape: [...shape], dtype };
}

/** Builds a {@link Discrete} space of `n` actions. */
export function discrete(n: number): Discrete {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`discrete: n must be >= 1, got ${n}`);
  return { kind: "discrete", n };
}

/**
 * Width of an action vector for `space`: the box's element count, or `n` for a discrete space
 * (actions stored one-hot, as DreamerV3 expects).
 */
export function actionDim(space: Space): number {
  return space.kind === "box" ? shapeSize(space.shape) : space.n;
}

/** Whether `space` contains `x` (a number or an array of the box's size). */
export function contains(space: Space, x: Action): boolean {
  if (space.kind === "discrete") {
    return typeof x === "number" && Number.isInteger(x) && x >= 0 && x < space.n;
  }
  const size = shapeSize(space.shape);
  if (typeof x === "number") {
    return size === 1 && x >= space.low[0] && x <= space.high[0];
  }
  if (x.length !== size) return false;
  for (let i = 0; i < size; i++) {
    const v = x[i];
    if (!(v >= space.low[i] && v <= space.high[i])) return false;
    if (space.dtype === "uint8" && !Number.isInteger(v)) return false;
  }
  return true;
}

/**
 * Samples uniformly from a space: a discrete index, or a box vector (uniform on bounded
 * dimensions; standard normal on unbounded ones, exponential on half-bounded ones, as Gymnasium).
 */
export function sample(space: Discrete, rng: Rng): number;
/** Samples a box vector. */
export function sample(space: Box, rng: Rng): Float32Array | Uint8Array;
/** Samples from any space. */
export function sample(space: Space, rng: Rng): number | Float32Array | Uint8Array;
export function sample(space: Space, rng: Rng): number | Float32Array | Uint8Array {
  if (space.kind === "discrete") return rng.int(space.n);
  const size = shapeSize(space.shape);
  const out = space.dtype === "uint8" ? new Uint8Array(size) : new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const lo = space.low[i];
    const hi = space.high[i];
    let v: number;
    if (Number.isFinite(lo) && Number.isFinite(hi)) {
      v = space.dtype === "uint8" ? lo + rng.int(hi - lo + 1) : rng.uniform(lo, hi);
    } else if (Number.isFinite(lo)) v = lo - Math.log(1 - rng.uniform());
    else if (Number.isFinite(hi)) v = hi + Math.log(1 - rng.uniform());
    else v = rng.normal();
    out[i] = v;
  }
  return out;
}

/**
 * Converts a discrete action (an index, or `n` scores / a one-hot vector: argmax, first on ties)
 * to an index in `[0, n)`; throws on anything else.
 */
export function discreteIndex(action: Action, n: number): number {
  if (typeof action === "number") {
    if (!Number.isInteger(action) || action < 0 || action >= n) {
      throw new RangeError(`discrete action must be an integer in [0, ${n}), got ${action}`);
    }
    return action;
  }
  if (action.length === 1 && n !== 1) return discreteIndex(action[0], n);
  if (action.length !== n) {
    throw new RangeError(`discrete action vector must have ${n} entries, got ${action.length}`);
  }
  let best = 0;
  for (let i = 1; i < n; i++) if (action[i] > action[best]) best = i;
  if (Number.isNaN(action[best])) throw new RangeError("discrete action vector contains NaN");
  return best;
}

/**
 * Reads a continuous action of `size` values (a number is accepted when `size` is 1); throws on
 * a wrong length or a non-finite value. Does not clip.
 */
export function continuousAction(action: Action, size: number): Float64Array {
  const out = new Float64Array(size);
  if (typeof action === "number") {
    if (size !== 1) throw new RangeError(`continuous action needs ${size} values, got a number`);
    out[0] = action;
  } else {
    if (action.length !== size) {
      throw new RangeError(`continuous action needs ${size} values, got ${action.length}`);
    }
    for (let i = 0; i < size; i++) out[i] = action[i];
  }
  for (let i = 0; i < size; i++) {
    if (!Number.isFinite(out[i])) throw new RangeError(`continuous action has ${out[i]} at ${i}`);
  }
  return out;
}
