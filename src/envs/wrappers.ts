/**
 * Environment wrappers: {@link TimeLimit}, {@link ActionRepeat}, {@link PixelObservation},
 * {@link NormalizeAction} and {@link DiscreteToContinuous}.
 *
 * `makeEnv` stacks them as: base env -> TimeLimit (in base steps) -> ActionRepeat ->
 * NormalizeAction / DiscreteToContinuous -> PixelObservation.
 * @module
 */

import { hwcToChw } from "./render.ts";
import {
  type Action,
  type Box,
  box,
  continuousAction,
  type Env,
  type Observation,
  type ResetOptions,
  type ResetResult,
  shapeSize,
  type Space,
  type StepResult,
} from "./types.ts";

/** Base wrapper: forwards everything to the inner environment. */
export class Wrapper<O extends Observation = Observation, I extends Observation = Observation>
  implements Env<O> {
  /** The wrapped environment. */
  readonly inner: Env<I>;

  /** Wraps `inner`. */
  constructor(inner: Env<I>) {
    this.inner = inner;
  }

  /** Id of the environment. */
  get id(): string {
    return this.inner.id;
  }
  /** Observation space. */
  get observationSpace(): Box {
    return this.inner.observationSpace;
  }
  /** Action space. */
  get actionSpace(): Space {
    return this.inner.actionSpace;
  }
  /** Steps after which episodes are truncated. */
  get maxEpisodeSteps(): number {
    return this.inner.maxEpisodeSteps;
  }
  /** Size of `render()`. */
  get renderSize(): number {
    return this.inner.renderSize;
  }
  /** Starts an episode. */
  reset(options?: ResetOptions): ResetResult<O> {
    return this.inner.reset(options) as unknown as ResetResult<O>;
  }
  /** Applies `action`. */
  step(action: Action): StepResult<O> {
    return this.inner.step(action) as unknown as StepResult<O>;
  }
  /** RGB picture, HWC. */
  render(): Uint8Array {
    return this.inner.render();
  }
  /** Closes the inner environment. */
  close(): void {
    this.inner.close();
  }

  /** The innermost (unwrapped) environment. */
  get unwrapped(): Env {
    let e: Env = this.inner;
    while (e instanceof Wrapper) e = e.inner;
    return e;
  }
}

/**
 * Truncates episodes after `maxSteps` steps (Gymnasium semantics: `truncated` becomes true on
 * the `maxSteps`-th step, even if the step also terminated). Stepping a finished episode
 * without a reset throws.
 */
export class TimeLimit<O extends Observation = Observation> extends Wrapper<O, O> {
  /** The limit in steps of the inner environment. */
  readonly maxSteps: number;
  private elapsed = 0;
  private done = false;
  private started = false;

  /** Truncates `inner` after `maxSteps` steps. */
  constructor(inner: Env<O>, maxSteps: number) {
    super(inner);
    if (!(Number.isInteger(maxSteps) && maxSteps >= 1)) {
      throw new RangeError(`TimeLimit: maxSteps must be an integer >= 1, got ${maxSteps}`);
    }
    this.maxSteps = maxSteps;
  }

  /** Steps after which episodes are truncated. */
  override get maxEpisodeSteps(): number {
    return Math.min(this.maxSteps, this.inner.maxEpisodeSteps);
  }

  /** Steps taken in the current episode. */
  get elapsedSteps(): number {
    return this.elapsed;
  }

  /** Starts an episode. */
  override reset(options?: ResetOptions): ResetResult<O> {
    this.elapsed = 0;
    this.done = false;
    this.started = true;
    return this.inner.reset(options);
  }

  /** Applies `action`. */
  override step(action: Action): StepResult<O> {
    if (!this.started) throw new Error(`${this.id}: step() before reset()`);
    if (this.done) throw new Error(`${this.id}: step() on a finished episode; call reset()`);
    const r = this.inner.step(action);
    this.elapsed++;
    const truncated = r.truncated || this.elapsed >= this.maxSteps;
    this.done = r.terminated || truncated;
    return truncated === r.truncated ? r : { ...r, truncated };
  }
}

/**
 * Repeats each action `repeat` times, summing rewards and stopping early when the episode ends
 * (DreamerV3 / TD-MPC2 "action repeat"). `info.innerSteps` tells how many inner steps ran.
 */
export class ActionRepeat<O extends Observation = Observation> extends Wrapper<O, O> {
  /** Inner steps per step. */
  readonly repeat: number;

  /** Repeats each action `repeat` times. */
  constructor(inner: Env<O>, repeat: number) {
    super(inner);
    if (!(Number.isInteger(repeat) && repeat >= 1)) {
      throw new RangeError(`ActionRepeat: repeat must be an integer >= 1, got ${repeat}`);
    }
    this.repeat = repeat;
  }

  /** Steps after which episodes are truncated. */
  override get maxEpisodeSteps(): number {
    return Math.ceil(this.inner.maxEpisodeSteps / this.repeat);
  }

  /** Applies `action`. */
  override step(action: Action): StepResult<O> {
    let total = 0;
    let r: StepResult<O> | null = null;
    let k = 0;
    while (k < this.repeat) {
      r = this.inner.step(action);
      k++;
      total += r.reward;
      if (r.terminated || r.truncated) break;
    }
    const last = r as StepResult<O>;
    return { ...last, reward: total, info: { ...last.info, innerSteps: k } };
  }
}

/**
 * Replaces observations by the rendered picture: `Uint8Array` of `[3, size, size]` (CHW, the
 * default) or `[size, size, 3]` (HWC), `Box` uint8 in [0, 255]. The inner observation stays
 * available as `info.state` (a Float32Array) unless `keepState` is false.
 */
export class PixelObservation extends Wrapper<Uint8Array, Observation> {
  /** Pixel layout of the observations. */
  readonly layout: "CHW" | "HWC";
  private readonly keepState: boolean;
  private readonly space: Box;

  /** Renders `inner` as the observation. */
  constructor(inner: Env, options: { layout?: "CHW" | "HWC"; keepState?: boolean } = {}) {
    super(inner);
    this.layout = options.layout ?? "CHW";
    this.keepState = options.keepState ?? true;
    const s = inner.renderSize;
    this.space = box(0, 255, this.layout === "CHW" ? [3, s, s] : [s, s, 3], "uint8");
  }

  /** Id of the environment. */
  override get id(): string {
    return `${this.inner.id}/pixels`;
  }

  /** Observation space. */
  override get observationSpace(): Box {
    return this.space;
  }

  /** The current picture in the chosen layout. */
  private pixels(): Uint8Array {
    const img = this.inner.render();
    const s = this.inner.renderSize;
    return this.layout === "CHW" ? hwcToChw(img, s, s) : img;
  }

  /** Starts an episode. */
  override reset(options?: ResetOptions): ResetResult<Uint8Array> {
    const r = this.inner.reset(options);
    const info = this.keepState ? { ...r.info, state: r.obs } : r.info;
    return { obs: this.pixels(), info };
  }

  /** Applies `action`. */
  override step(action: Action): StepResult<Uint8Array> {
    const r = this.inner.step(action);
    const info = this.keepState ? { ...r.info, state: r.obs } : r.info;
    return { ...r, obs: this.pixels(), info };
  }
}

/**
 * Exposes a bounded continuous action space as [-1, 1]^n: an action `a` (clipped to [-1, 1])
 * is mapped to `low + (a + 1) / 2 * (high - low)` of the inner space.
 */
export class NormalizeAction<O extends Observation = Observation> extends Wrapper<O, O> {
  private readonly space: Box;
  private readonly low: Float32Array;
  private readonly high: Float32Array;

  /** Wraps `inner` (see the class documentation). */
  constructor(inner: Env<O>) {
    super(inner);
    const s = inner.actionSpace;
    if (s.kind !== "box") throw new TypeError("NormalizeAction needs a Box action space");
    for (let i = 0; i < s.low.length; i++) {
      if (!Number.isFinite(s.low[i]) || !Number.isFinite(s.high[i])) {
        throw new RangeError("NormalizeAction needs a bounded action space");
      }
    }
    this.low = s.low;
    this.high = s.high;
    this.space = box(-1, 1, s.shape);
  }

  /** Action space. */
  override get actionSpace(): Box {
    return this.space;
  }

  /** Maps a normalized action to the inner space's bounds. */
  toInner(action: Action): Float32Array {
    const a = continuousAction(action, this.low.length);
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      const c = Math.min(Math.max(a[i], -1), 1);
      out[i] = this.low[i] + ((c + 1) / 2) * (this.high[i] - this.low[i]);
    }
    return out;
  }

  /** Applies `action`. */
  override step(action: Action): StepResult<O> {
    return this.inner.step(this.toInner(action));
  }
}

/**
 * Lets continuous-action agents (e.g. TD-MPC2) act on a discrete environment: the action space
 * becomes `Box(-1, 1, [n])` and the inner action is the argmax of the vector (first on ties).
 */
export class DiscreteToContinuous<O extends Observation = Observation> extends Wrapper<O, O> {
  private readonly space: Box;
  /** Number of discrete actions. */
  readonly n: number;

  /** Wraps `inner` (see the class documentation). */
  constructor(inner: Env<O>) {
    super(inner);
    const s = inner.actionSpace;
    if (s.kind !== "discrete") throw new TypeError("DiscreteToContinuous needs a Discrete space");
    this.n = s.n;
    this.space = box(-1, 1, [s.n]);
  }

  /** Action space. */
  override get actionSpace(): Box {
    return this.space;
  }

  /** Applies `action`. */
  override step(action: Action): StepResult<O> {
    const a = continuousAction(action, this.n);
    let best = 0;
    for (let i = 1; i < this.n; i++) if (a[i] > a[best]) best = i;
    return this.inner.step(best);
  }
}

/** Number of elements of an observation of `env`. */
export function obsSize(env: Env): number {
  return shapeSize(env.observationSpace.shape);
}
