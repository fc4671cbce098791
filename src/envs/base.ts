/**
 * Shared machinery of the built-in environments: seeding, reset/step bookkeeping and
 * rendering through a reusable {@link Canvas}.
 * @module
 */

import { Canvas } from "./render.ts";
import { Rng } from "../rng.ts";
import type {
  Action,
  Box,
  Env,
  Info,
  ResetOptions,
  ResetResult,
  Space,
  StepResult,
} from "./types.ts";

/** Constructor options shared by the built-in environments. */
export interface BaseEnvOptions {
  /** Width and height of `render()` (default 64). */
  readonly renderSize?: number;
  /** Supersampling factor of the renderer per axis (default 3). */
  readonly renderSupersample?: number;
}

/** Result of a physics transition, before the observation is built. */
export interface Transition {
  /** Reward of the step. */
  readonly reward: number;
  /** Whether a terminal state was reached. */
  readonly terminated: boolean;
  /** Diagnostics of the step (default: an empty object). */
  readonly info?: Info;
}

/**
 * Base class of the built-in vector-observation environments. Subclasses hold their physical
 * state and implement `initialState`, `setState`, `observe`, `transition` and `draw`.
 * Unlimited episodes: `makeEnv` adds the registry's `TimeLimit`.
 */
export abstract class BaseEnv implements Env<Float32Array> {
  abstract readonly id: string;
  /** Observation space. */
  abstract readonly observationSpace: Box;
  /** Action space. */
  abstract readonly actionSpace: Space;
  readonly maxEpisodeSteps: number = Infinity;
  readonly renderSize: number;
  private readonly supersample: number;
  private rngInstance: Rng | null = null;
  private canvas: Canvas | null = null;
  /** Whether `reset` has been called. */
  protected started = false;
  /** Whether `close` has been called. */
  protected closed = false;

  /** Creates the environment; `options` set the render size. */
  constructor(options: BaseEnvOptions = {}) {
    this.renderSize = options.renderSize ?? 64;
    this.supersample = options.renderSupersample ?? 3;
    if (!Number.isInteger(this.renderSize) || this.renderSize < 8) {
      throw new RangeError(`renderSize must be an integer >= 8, got ${this.renderSize}`);
    }
  }

  /** The environment's RNG (seeded from entropy on first use when never seeded). */
  protected get rng(): Rng {
    return (this.rngInstance ??= Rng.fromEntropy());
  }

  /** Re-seeds when `options.seed` is given, then draws (or sets) the initial state. */
  reset(options: ResetOptions = {}): ResetResult<Float32Array> {
    if (this.closed) throw new Error(`${this.id}: reset() after close()`);
    if (options.seed !== undefined) {
      if (this.rngInstance) this.rngInstance.seed(options.seed);
      else this.rngInstance = new Rng(options.seed);
    }
    if (options.state !== undefined) this.setState(options.state);
    else this.initialState(this.rng);
    this.started = true;
    this.onReset();
    return { obs: this.observe(), info: this.resetInfo() };
  }

  /** Advances one step; base environments never truncate. */
  step(action: Action): StepResult<Float32Array> {
    if (!this.started) throw new Error(`${this.id}: step() before reset()`);
    if (this.closed) throw new Error(`${this.id}: step() after close()`);
    const { reward, terminated, info } = this.transition(action);
    return { obs: this.observe(), reward, terminated, truncated: false, info: info ?? {} };
  }

  /** RGB picture of the current state, HWC `[renderSize, renderSize, 3]`. */
  render(): Uint8Array {
    const c = (this.canvas ??= new Canvas(this.renderSize, this.renderSize, this.supersample));
    this.draw(c);
    return c.toImage();
  }

  /** Marks the environment closed. */
  close(): void {
    this.closed = true;
    this.canvas = null;
  }

  /** Draws a random initial state. */
  protected abstract initialState(rng: Rng): void;
  /** Sets the physical state exactly (layout documented by the subclass). */
  abstract setState(state: ArrayLike<number>): void;
  /** Observation of the current state (a fresh array). */
  protected abstract observe(): Float32Array;
  /** Advances the physics by one step. */
  protected abstract transition(action: Action): Transition;
  /** Draws the current state. */
  protected abstract draw(canvas: Canvas): void;
  /** Hook after every reset. */
  protected onReset(): void {}
  /** Diagnostics returned by `reset` (default: an empty object). */
  protected resetInfo(): Info {
    return {};
  }
}

/** Checks that `state` has `n` finite values and returns them as a Float64Array. */
export function readState(id: string, state: ArrayLike<number>, n: number): Float64Array {
  if (state.length !== n) {
    throw new RangeError(`${id}: state needs ${n} values, got ${state.length}`);
  }
  const out = Float64Array.from(state);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(out[i])) throw new RangeError(`${id}: state[${i}] is ${out[i]}`);
  }
  return out;
}
