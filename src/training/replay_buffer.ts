/**
 * {@link ReplayBuffer}: transitions in preallocated typed arrays (a ring buffer over
 * `capacity` steps), sampled as `[B, T]` sequences that never cross an episode boundary, and
 * saved/loaded as NumPy `.npz` with the reference's keys.
 *
 * ## Data layout
 *
 * One row per environment step `t` (TD-MPC2 convention, as the world models read batches):
 * `obs[t]` is the observation the agent saw, `actions[t]` the action it then took, `rewards[t]`
 * and `dones[t]` the result of that action (`dones[t]` = the episode ended with that step). So an
 * episode of `T` actions is `obs [T, ...obsShape]`, `actions [T, A]`, `rewards [T]`, `dones [T]`:
 * the reference's `.npz` layout, and the layout of `rollout()` in `src/envs` (whose result can be
 * passed to `addEpisode` as is). The observation reached after the last action has no row of its
 * own (a row needs an action); `addEpisode` accepts `obs` with `T + 1` rows, as episode
 * collectors that include it return, and drops that last one.
 *
 * Episodes end where `dones`, `terminated` or `truncated` is set (or `firsts` starts the next
 * one), and at the end of the arrays given to `addEpisode`. A step is *terminal* (the batch's
 * `terminations`, no bootstrapping past it) where `terminated` is set; without `terminated`,
 * where `dones` is set and `truncated` is not (so the reference's bare `dones` are terminal). A
 * row therefore carries two flags: *last* (an episode boundary follows; saved as `dones`, which
 * the reference uses to split episodes) and *terminal* (saved as the extra key `terminations`).
 *
 * ## Memory
 *
 * Per transition: `obsSize * (4 | 1)` bytes of observations (float32, or uint8 pixels kept as
 * uint8), `actionDim * 4` of actions (float32; 4 bytes total for `actionDtype: "int32"`), 4 of
 * reward, 1 of flags and 4 of step-in-episode counter. For obs 39 and 6 actions: 189 bytes, so
 * 1M transitions take 189 MB. Episodes cost one number each. Nothing is stored per step as a
 * JS object.
 *
 * ## Sampling
 *
 * `sample(B, T)` draws each sequence start uniformly among the valid starts: positions whose next
 * `T - 1` steps are stored and in the same episode. Episodes with fewer than `T` stored steps are
 * skipped; with `{ pad: true }` each of them (and the in-progress one) instead gives one sequence
 * from its first stored step, padded with zeros past its end, and the batch gets `mask [B, T]`
 * (1 = real step). `extras.isFirst [B, T]` is 1 where a step starts an episode, which can only be
 * at `t = 0`.
 *
 * With `{ crossEpisodes: true }` sequences are windows of the stream of stored steps, as
 * DreamerV3's replay samples them: each start is uniform over all positions with `T - 1` stored
 * steps after it, whatever episodes they belong to, so every stored step (an episode's last
 * steps included) is in as many windows as any other; `isFirst` then marks every step of the
 * sequence that starts an episode (a model resets its state there) and no padding is needed.
 *
 * @example
 * ```ts
 * import { ReplayBuffer } from "./replay_buffer.ts";
 * const buf = new ReplayBuffer({ capacity: 1000, obsShape: [3], actionDim: 1, seed: 0 });
 * buf.addEpisode({
 *   obs: new Float32Array(3 * 10),
 *   actions: new Float32Array(10),
 *   rewards: new Float32Array(10),
 *   dones: Array.from({ length: 10 }, (_, t) => t === 9),
 * });
 * const batch = buf.sample(4, 5, { device: "cpu" });
 * console.log((batch.obs as { shape: number[] }).shape); // [4, 5, 3]
 * ```
 * @module
 */

import type { DeviceName } from "../backend/types.ts";
import { getDefaultDevice } from "../backend/device.ts";
import type { Batch } from "../core/batch.ts";
import { ConfigError, ShapeError, WorldFluxError } from "../errors.ts";
import { checkAllocation } from "../io/limits.ts";
import { type NpyArray, type NpyInput, saveNpz } from "../io/npz.ts";
import { tensor } from "../tensor/creation.ts";
import { Rng, type RngState, SAMPLING_SEED_FOLD } from "../rng.ts";
import {
  badIndex,
  checkFinite,
  checkPixels,
  checkPositiveInt,
  copyRows,
  flatten,
} from "./replay_checks.ts";
import { readReplayArrays, replayFromArrays } from "./replay_file.ts";
import {
  type ActionDtype,
  type EpisodeInput,
  LAST,
  type NumericInput,
  type ObsDtype,
  type ReplayBufferOptions,
  type ReplayLoadOptions,
  type ReplaySample,
  type ReplaySaveOptions,
  type SampleOptions,
  TERMINAL,
  transitionBytes,
} from "./replay_types.ts";

/** The sampling stream of `seed` (the replay buffer's fold of its high word: see `rng.ts`). */
function samplingRng(seed: number): Rng {
  if (!Number.isFinite(seed)) {
    throw new ConfigError(`ReplayBuffer: seed must be a finite number, got ${seed}`);
  }
  return new Rng(seed, SAMPLING_SEED_FOLD);
}

// ---------------------------------------------------------------------------------------------
// ReplayBuffer
// ---------------------------------------------------------------------------------------------

/**
 * A ring buffer of transitions in typed arrays. See the module docs for the layout, memory and
 * sampling rules.
 */
export class ReplayBuffer {
  /** Transitions kept. */
  readonly capacity: number;
  /** Shape of one observation. */
  readonly obsShape: readonly number[];
  /** Elements of one observation. */
  readonly obsSize: number;
  /** Width of an action vector (number of actions for int32 indices). */
  readonly actionDim: number;
  /** Storage type of observations. */
  readonly obsDtype: ObsDtype;
  /** Storage type of actions. */
  readonly actionDtype: ActionDtype;
  /** Default device of sampled batches (undefined: the default device at sampling time). */
  readonly device: DeviceName | undefined;
  /** NaN and infinite values are stored (else refused). */
  readonly allowNonFinite: boolean;

  readonly #obs: Float32Array | Uint8Array;
  readonly #actions: Float32Array | Int32Array;
  /** Values per stored action row (actionDim, or 1 for int32 indices). */
  readonly #actWidth: number;
  readonly #rewards: Float32Array;
  readonly #flags: Uint8Array;
  /** Step index of each row within its episode (mod 2^32). */
  readonly #epStep: Uint32Array;
  #size = 0;
  /** Transitions ever added; row `g` lives at `g % capacity`. */
  #total = 0;
  /** Absolute index of each episode's first step; live ones from `#epHead`. */
  #epStarts: number[] = [];
  #epHead = 0;
  /** An episode is in progress (its last row has no LAST flag). */
  #open = false;
  #curStep = 0;
  #rng: Rng;
  #version = 0;
  #cache: { key: string; version: number; cum: Float64Array } | null = null;

  /** Creates an empty buffer; all storage is allocated here. */
  constructor(opts: ReplayBufferOptions) {
    this.capacity = checkPositiveInt(opts.capacity, "capacity");
    if (!Array.isArray(opts.obsShape) || opts.obsShape.length === 0) {
      throw new ConfigError(
        `ReplayBuffer: obsShape must be a non-empty array, got ${opts.obsShape}`,
      );
    }
    opts.obsShape.forEach((d, i) => checkPositiveInt(d, `obsShape[${i}]`));
    this.obsShape = [...opts.obsShape];
    this.obsSize = this.obsShape.reduce((p, d) => p * d, 1);
    this.actionDim = checkPositiveInt(opts.actionDim, "actionDim");
    this.obsDtype = opts.obsDtype ?? "float32";
    this.actionDtype = opts.actionDtype ?? "float32";
    if (this.obsDtype !== "float32" && this.obsDtype !== "uint8") {
      throw new ConfigError(
        `ReplayBuffer: obsDtype must be "float32" or "uint8", got "${this.obsDtype}"`,
      );
    }
    if (this.actionDtype !== "float32" && this.actionDtype !== "int32") {
      throw new ConfigError(
        `ReplayBuffer: actionDtype must be "float32" or "int32", got "${this.actionDtype}"`,
      );
    }
    this.device = opts.device;
    this.allowNonFinite = opts.allowNonFinite ?? false;
    const n = this.capacity;
    const perStep = transitionBytes(this.obsSize, this.actionDim, this.obsDtype, this.actionDtype);
    checkAllocation(
      "ReplayBuffer capacity",
      n * perStep,
      `${n} transitions of ${perStep} bytes each do not fit; lower the capacity (bufferCapacity ` +
        `in a training config)`,
    );
    this.#obs = this.obsDtype === "uint8"
      ? new Uint8Array(n * this.obsSize)
      : new Float32Array(n * this.obsSize);
    this.#actWidth = this.actionDtype === "int32" ? 1 : this.actionDim;
    this.#actions = this.actionDtype === "int32"
      ? new Int32Array(n)
      : new Float32Array(n * this.actionDim);
    this.#rewards = new Float32Array(n);
    this.#flags = new Uint8Array(n);
    this.#epStep = new Uint32Array(n);
    this.#rng = samplingRng(opts.seed ?? 0);
  }

  /** Transitions stored (at most `capacity`). */
  get size(): number {
    return this.#size;
  }

  /** Episodes with at least one stored step, the one in progress included. */
  get numEpisodes(): number {
    return this.#size === 0 ? 0 : this.#epStarts.length - this.#epHead;
  }

  /** Transitions ever added (stored or overwritten). */
  get totalSteps(): number {
    return this.#total;
  }

  /** Whether an episode is in progress (begun by `addStep`, not yet done or truncated). */
  get episodeInProgress(): boolean {
    return this.#open;
  }

  /** Bytes of the preallocated storage. */
  get memoryBytes(): number {
    return this.#obs.byteLength + this.#actions.byteLength + this.#rewards.byteLength +
      this.#flags.byteLength + this.#epStep.byteLength;
  }

  /** Bytes of storage per transition. */
  get bytesPerTransition(): number {
    return this.memoryBytes / this.capacity;
  }

  /** State of the sampling stream (for checkpoints). */
  getRngState(): number[] {
    return [...this.#rng.getState()];
  }

  /** Restores the sampling stream from {@link getRngState}. */
  setRngState(state: readonly number[]): void {
    if (
      state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff) ||
      state.every((v) => v === 0)
    ) {
      throw new ConfigError(
        `ReplayBuffer.setRngState: expected 4 unsigned 32-bit integers, not all zero (a state ` +
          `from getRngState), got ${JSON.stringify(state.slice(0, 8))}`,
      );
    }
    this.#rng.setState(state as RngState);
  }

  // -------------------------------------------------------------------------------------------
  // Adding
  // -------------------------------------------------------------------------------------------

  /**
   * Adds one or more complete episodes (see {@link EpisodeInput}; several episodes may be
   * concatenated, split at their terminal/truncated steps). The last step always ends an
   * episode. An episode in progress from `addStep` is ended first (as truncated).
   */
  addEpisode(ep: EpisodeInput): void {
    const op = "ReplayBuffer.addEpisode";
    const rewards = ep.rewards;
    const T = rewards?.length;
    if (!Number.isInteger(T)) throw new ShapeError(op, "rewards must be an array of numbers");
    const { dones, terminated, truncated, firsts } = ep;
    const flagInputs = { dones, terminated, truncated, firsts };
    for (const [name, f] of Object.entries(flagInputs)) {
      if (f && f.length !== T) {
        throw new ShapeError(op, `${name} has ${f.length} entries, rewards has ${T}`);
      }
    }
    if (T === 0) return;
    const D = this.obsSize;
    const obs = flatten(ep.obs);
    if (obs.length !== T * D && obs.length !== (T + 1) * D) {
      throw new ShapeError(
        op,
        `obs has ${obs.length} values; expected ${T} (or ${T + 1}) rows of [${this.obsShape}] = ${
          T * D
        } (or ${(T + 1) * D})`,
      );
    }
    const actions = this.#actionRows(flatten(ep.actions), T, op);
    const flags = new Uint8Array(T);
    for (let t = 0; t < T; t++) {
      const d = dones ? !!dones[t] : false;
      const tr = truncated ? !!truncated[t] : false;
      const terminal = terminated ? !!terminated[t] : d && !tr;
      const last = d || tr || terminal || (firsts && t + 1 < T ? !!firsts[t + 1] : false);
      flags[t] = (last ? LAST : 0) | (terminal ? TERMINAL : 0);
    }
    flags[T - 1] |= LAST;
    const obsRows = this.#obsRows(obs, T, op);
    if (!this.allowNonFinite) {
      if (this.obsDtype === "float32") checkFinite(obsRows, op, "obs", D);
      if (this.actionDtype === "float32") checkFinite(actions, op, "actions", this.actionDim);
      checkFinite(rewards, op, "rewards", 1);
    }
    this.#closeOpen();
    this.#append(obsRows, actions, rewards, flags, T, 0);
  }

  /**
   * Adds one step of online collection: the observation seen, the action taken, its reward, and
   * whether the episode terminated (`done`) or was truncated with it. The first call, and the
   * first after an episode ended, starts a new episode. `action` may be a discrete index
   * (stored one-hot for float32 actions).
   */
  addStep(
    obs: NumericInput,
    action: number | ArrayLike<number>,
    reward: number,
    done = false,
    truncated = false,
  ): void {
    const op = "ReplayBuffer.addStep";
    const o = flatten(obs);
    const D = this.obsSize;
    if (o.length !== D) {
      throw new ShapeError(op, `obs has ${o.length} values; expected [${this.obsShape}] = ${D}`);
    }
    const a = this.#actionRows(typeof action === "number" ? [action] : action, 1, op);
    if (!this.allowNonFinite) {
      if (this.obsDtype === "float32") checkFinite(o, op, "obs", D);
      if (this.actionDtype === "float32") checkFinite(a, op, "action", this.actionDim);
      checkFinite([reward], op, "reward", 1);
    }
    const N = this.capacity;
    const p = this.#total % N;
    const store = this.#obs;
    if (
      store instanceof Uint8Array && !(o instanceof Uint8Array || o instanceof Uint8ClampedArray)
    ) {
      checkPixels(o, op);
    }
    if (ArrayBuffer.isView(o)) store.set(o as ArrayLike<number>, p * D);
    else for (let i = 0; i < D; i++) store[p * D + i] = o[i];
    this.#actions.set(a, p * this.#actWidth);
    this.#rewards[p] = reward;
    this.#flags[p] = (done ? LAST | TERMINAL : 0) | (truncated ? LAST : 0);
    if (!this.#open) {
      this.#epStarts.push(this.#total);
      this.#curStep = 0;
      this.#open = true;
    }
    this.#epStep[p] = this.#curStep >>> 0;
    this.#curStep++;
    if (done || truncated) this.#open = false;
    this.#total++;
    if (this.#size < N) this.#size++;
    this.#dropOverwritten();
    this.#version++;
  }

  /** Validates/converts actions to storage rows (`T * actWidth` values). */
  #actionRows(a: ArrayLike<number>, T: number, op: string): Float32Array | Int32Array {
    const A = this.actionDim;
    if (this.actionDtype === "int32") {
      if (a.length !== T) {
        throw new ShapeError(op, `actions has ${a.length} values; expected ${T} indices`);
      }
      const out = new Int32Array(T);
      for (let t = 0; t < T; t++) {
        const v = a[t];
        if (!Number.isInteger(v) || v < 0 || v >= A) throw badIndex(op, v, t, A);
        out[t] = v;
      }
      return out;
    }
    if (a.length === T * A) return a instanceof Float32Array ? a : Float32Array.from(a);
    if (A > 1 && a.length === T) {
      // Discrete indices -> one-hot.
      const out = new Float32Array(T * A);
      for (let t = 0; t < T; t++) {
        const v = a[t];
        if (!Number.isInteger(v) || v < 0 || v >= A) {
          throw badIndex(op, v, t, A, `${T} values for ${T} steps are read as discrete indices`);
        }
        out[t * A + v] = 1;
      }
      return out;
    }
    throw new ShapeError(
      op,
      `actions has ${a.length} values; expected ${T} rows of ${A}${
        A > 1 ? ` (or ${T} indices)` : ""
      }`,
    );
  }

  /** Observations in the storage type (validating pixels), first `T` rows. */
  #obsRows(o: ArrayLike<number>, T: number, op: string): ArrayLike<number> {
    const n = T * this.obsSize;
    const rows = o.length === n
      ? o
      : ArrayBuffer.isView(o)
      ? (o as unknown as Float32Array).subarray(0, n)
      : Array.prototype.slice.call(o, 0, n) as number[];
    if (
      this.obsDtype === "uint8" &&
      !(rows instanceof Uint8Array || rows instanceof Uint8ClampedArray)
    ) {
      checkPixels(rows, op);
    }
    return rows;
  }

  /** Ends an episode left open by `addStep` (as truncated). */
  #closeOpen(): void {
    if (!this.#open) return;
    if (this.#size > 0) this.#flags[(this.#total - 1) % this.capacity] |= LAST;
    this.#open = false;
  }

  /** Appends `n` rows; `firstStep` is the step index of row 0 if it starts a new episode. */
  #append(
    obs: ArrayLike<number>,
    actions: ArrayLike<number>,
    rewards: ArrayLike<number>,
    flags: Uint8Array,
    n: number,
    firstStep: number,
  ): void {
    const N = this.capacity;
    const D = this.obsSize;
    const W = this.#actWidth;
    const skip = Math.max(0, n - N); // rows overwritten within this very call
    let t = skip;
    while (t < n) {
      const p = (this.#total + t) % N;
      const len = Math.min(n - t, N - p);
      copyRows(this.#obs, p * D, obs, t * D, len * D);
      copyRows(this.#actions, p * W, actions, t * W, len * W);
      copyRows(this.#rewards, p, rewards, t, len);
      this.#flags.set(flags.subarray(t, t + len), p);
      t += len;
    }
    for (let k = 0; k < n; k++) {
      const g = this.#total + k;
      if (!this.#open) {
        this.#epStarts.push(g);
        this.#curStep = k === 0 ? firstStep : 0;
        this.#open = true;
      }
      if (k >= skip) this.#epStep[g % N] = this.#curStep >>> 0;
      this.#curStep++;
      if (flags[k] & LAST) this.#open = false;
    }
    this.#total += n;
    this.#size = Math.min(N, this.#size + n);
    this.#dropOverwritten();
    this.#version++;
  }

  #dropOverwritten(): void {
    const oldest = this.#total - this.#size;
    const s = this.#epStarts;
    while (this.#epHead + 1 < s.length && s[this.#epHead + 1] <= oldest) this.#epHead++;
    if (this.#epHead > 4096 && this.#epHead * 2 > s.length) {
      this.#epStarts = s.slice(this.#epHead);
      this.#epHead = 0;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sampling
  // -------------------------------------------------------------------------------------------

  /** Whether the `T` steps from logical position `i` are stored in one episode. */
  #valid(i: number, T: number): boolean {
    const N = this.capacity;
    const base = this.#total - this.#size;
    const p = (base + i) % N, q = (base + i + T - 1) % N;
    // Rows are contiguous within an episode, so the step counter advances by exactly T - 1
    // iff no episode starts in between.
    return ((this.#epStep[q] - this.#epStep[p]) >>> 0) === T - 1;
  }

  /** Cumulative counts of valid starts per live episode (cached until the next add). */
  #counts(T: number, pad: boolean): Float64Array {
    const key = `${T}:${pad}`;
    const c = this.#cache;
    if (c && c.key === key && c.version === this.#version) return c.cum;
    const s = this.#epStarts;
    const oldest = this.#total - this.#size;
    const cum = new Float64Array(s.length - this.#epHead);
    let acc = 0;
    for (let k = this.#epHead; k < s.length; k++) {
      const a = Math.max(s[k], oldest);
      const e = k + 1 < s.length ? s[k + 1] : this.#total;
      const L = e - a;
      acc += L >= T ? L - T + 1 : pad && L > 0 ? 1 : 0;
      cum[k - this.#epHead] = acc;
    }
    this.#cache = { key, version: this.#version, cum };
    return cum;
  }

  /** Starts (logical) and valid lengths of `B` sequences. */
  #draw(
    B: number,
    T: number,
    pad: boolean,
    rng: Rng,
    cross = false,
  ): { starts: Float64Array; lens: Int32Array } {
    const starts = new Float64Array(B);
    const lens = new Int32Array(B);
    const size = this.#size;
    if (cross) {
      if (size < T) {
        throw new WorldFluxError(
          "replay_insufficient",
          `ReplayBuffer.sample: ${size} stored steps, fewer than the ${T} of one sequence; add data ` +
            `or use a shorter seqLen`,
        );
      }
      for (let b = 0; b < B; b++) starts[b] = rng.int(size - T + 1);
      lens.fill(T);
      return { starts, lens };
    }
    let cum: Float64Array | null = null;
    for (let b = 0; b < B; b++) {
      let found = false;
      if (!pad && size >= T) {
        // Fast path: uniform candidates, accepted when valid (uniform over valid starts).
        const m = size - T + 1;
        for (let attempt = 0; attempt < 32; attempt++) {
          const i = rng.int(m);
          if (this.#valid(i, T)) {
            starts[b] = i;
            lens[b] = T;
            found = true;
            break;
          }
        }
      }
      if (found) continue;
      // Exact path: pick an episode in proportion to its valid starts.
      cum ??= this.#counts(T, pad);
      const total = cum.length ? cum[cum.length - 1] : 0;
      if (total === 0) {
        throw new WorldFluxError(
          "replay_insufficient",
          `ReplayBuffer.sample: no stored episode has ${T} steps (size ${size}, ${this.numEpisodes} ` +
            `episodes); add data, use a shorter seqLen, or sample with { pad: true }`,
        );
      }
      const u = rng.int(total);
      let lo = 0, hi = cum.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cum[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      const k = this.#epHead + lo;
      const oldest = this.#total - this.#size;
      const a = Math.max(this.#epStarts[k], oldest);
      const e = k + 1 < this.#epStarts.length ? this.#epStarts[k + 1] : this.#total;
      const off = u - (lo > 0 ? cum[lo - 1] : 0);
      starts[b] = a - oldest + off;
      lens[b] = Math.min(T, e - a - off);
    }
    return { starts, lens };
  }

  #gather(
    B: number,
    T: number,
    opts: SampleOptions,
    obsAs: "store" | "float" | "int32",
  ): ReplaySample & { obsOut: Float32Array | Uint8Array | Int32Array } {
    if (!Number.isSafeInteger(B) || B < 1) {
      throw new ConfigError(`sample: batchSize must be an integer >= 1, got ${B}`);
    }
    if (!Number.isSafeInteger(T) || T < 1) {
      throw new ConfigError(`sample: seqLen must be an integer >= 1, got ${T}`);
    }
    this.checkSampleSize(B, T);
    const rng = opts.seed !== undefined ? samplingRng(opts.seed) : this.#rng;
    const cross = opts.crossEpisodes ?? false;
    const pad = !cross && (opts.pad ?? false);
    const { starts, lens } = this.#draw(B, T, pad, rng, cross);
    const N = this.capacity;
    const D = this.obsSize;
    const W = this.#actWidth;
    const base = this.#total - this.#size;
    const n = B * T;
    const obsOut = obsAs === "float"
      ? new Float32Array(n * D)
      : obsAs === "int32"
      ? new Int32Array(n * D)
      : this.obsDtype === "uint8"
      ? new Uint8Array(n * D)
      : new Float32Array(n * D);
    const actOut = this.actionDtype === "int32" ? new Int32Array(n) : new Float32Array(n * W);
    const rewards = new Float32Array(n);
    const terms = new Float32Array(n);
    const isFirst = new Float32Array(n);
    const mask = pad ? new Float32Array(n) : null;
    const scale = obsAs === "float" && this.obsDtype === "uint8" ? 1 / 255 : 0;
    const src = this.#obs;
    const acts = this.#actions;
    for (let b = 0; b < B; b++) {
      const L = lens[b];
      const p0 = (base + starts[b]) % N;
      const row = b * T;
      let t = 0;
      while (t < L) {
        const p = (p0 + t) % N;
        const len = Math.min(L - t, N - p);
        const o = (row + t) * D;
        const m = len * D;
        if (scale) {
          const out = obsOut as Float32Array;
          for (let k = 0, s = p * D; k < m; k++) out[o + k] = src[s + k] * scale;
        } else obsOut.set(src.subarray(p * D, p * D + m), o);
        actOut.set(acts.subarray(p * W, (p + len) * W), (row + t) * W);
        for (let k = 0; k < len; k++) {
          rewards[row + t + k] = this.#rewards[p + k];
          terms[row + t + k] = this.#flags[p + k] & TERMINAL ? 1 : 0;
          isFirst[row + t + k] = this.#epStep[p + k] === 0 ? 1 : 0;
        }
        t += len;
      }
      if (mask) mask.fill(1, row, row + L);
    }
    return {
      batchSize: B,
      seqLen: T,
      obs: obsOut as Float32Array | Uint8Array,
      obsOut,
      actions: actOut,
      rewards,
      terminations: terms,
      isFirst,
      mask,
      starts,
    };
  }

  /**
   * Throws a {@link SizeLimitError} when a sample of `batchSize` x `seqLen` steps would allocate
   * more than the allocation limit (`src/io/limits.ts`); {@link sample} checks it before
   * allocating. `names` are the names the caller knows the two sizes by (for the message).
   */
  checkSampleSize(
    batchSize: number,
    seqLen: number,
    names: readonly [string, string] = ["batchSize", "seqLen"],
  ): void {
    // Host arrays plus the tensors made from them (float32 obs, flags as float32, starts).
    const perStep = this.obsSize * 4 * 2 + this.#actWidth * 4 * 2 + 4 * 4 * 2;
    checkAllocation(
      `sample(${names[0]} = ${batchSize}, ${names[1]} = ${seqLen})`,
      batchSize * seqLen * perStep,
      `${batchSize * seqLen} steps of ${perStep} bytes each do not fit; lower ${names[0]} or ` +
        names[1],
    );
  }

  /**
   * Samples `batchSize` sequences of `seqLen` steps as host arrays (no tensors): observations in
   * the storage type (uint8 pixels stay bytes). Same draws as {@link sample} for the same stream.
   */
  sampleArrays(batchSize: number, seqLen: number, opts: SampleOptions = {}): ReplaySample {
    const { obsOut: _, ...rest } = this.#gather(batchSize, seqLen, opts, "store");
    return rest;
  }

  /**
   * Samples `batchSize` sequences of `seqLen` steps as a {@link Batch} of new tensors on
   * `opts.device` (the caller owns and disposes them): `obs [B, T, ...obsShape]` (float32; uint8
   * pixels scaled to [0, 1] unless `rawPixels`), `actions [B, T, A]` float32 (or `[B, T]` int32
   * indices), `rewards [B, T]`, `terminations [B, T]` (float32 0/1), `extras.isFirst [B, T]`
   * (float32 0/1), with `pad`: `mask [B, T]` (float32 0/1). `layouts` states each field's axes
   * as the standard contract does (`obs`, `actions`, `mask`: "BT..."; `rewards`,
   * `terminations`, `isFirst`: "BT").
   */
  sample(batchSize: number, seqLen: number, opts: SampleOptions = {}): Batch {
    const obsAs = this.obsDtype === "uint8" && opts.rawPixels ? "int32" : "float";
    const s = this.#gather(batchSize, seqLen, opts, obsAs);
    const device = opts.device ?? this.device ?? getDefaultDevice();
    const B = batchSize, T = seqLen;
    const bt = [B, T];
    const obs = tensor(s.obsOut as Float32Array | Int32Array, [B, T, ...this.obsShape], {
      dtype: obsAs === "int32" ? "int32" : "float32",
      device,
    });
    const actions = this.actionDtype === "int32"
      ? tensor(s.actions, bt, { dtype: "int32", device })
      : tensor(s.actions, [B, T, this.actionDim], { dtype: "float32", device });
    const layouts: Record<string, string> = {
      obs: "BT...",
      actions: "BT...",
      rewards: "BT",
      terminations: "BT",
      isFirst: "BT",
    };
    if (s.mask) layouts.mask = "BT..."; // the standard contract's layout of `mask`
    return {
      obs,
      actions,
      rewards: tensor(s.rewards, bt, { dtype: "float32", device }),
      terminations: tensor(s.terminations, bt, { dtype: "float32", device }),
      ...(s.mask ? { mask: tensor(s.mask, bt, { dtype: "float32", device }) } : {}),
      extras: { isFirst: tensor(s.isFirst, bt, { dtype: "float32", device }) },
      layouts,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Files
  // -------------------------------------------------------------------------------------------

  /** Rows of a storage array in logical order (oldest first), as one or two views. */
  #ordered<A extends Float32Array | Uint8Array | Int32Array>(arr: A, width: number): A[] {
    const N = this.capacity;
    const p = (this.#total - this.#size) % N;
    const end = p + this.#size;
    if (end <= N) return [arr.subarray(p * width, end * width) as A];
    return [arr.subarray(p * width, N * width) as A, arr.subarray(0, (end - N) * width) as A];
  }

  /** The arrays written by {@link save} (views of the storage where possible). */
  toArrays(): Record<string, NpyInput> {
    const n = this.#size;
    const flags = this.#ordered(this.#flags, 1);
    const dones = new Uint8Array(n), terms = new Uint8Array(n);
    let k = 0;
    for (const f of flags) {
      for (let i = 0; i < f.length; i++, k++) {
        dones[k] = f[i] & LAST ? 1 : 0;
        terms[k] = f[i] & TERMINAL ? 1 : 0;
      }
    }
    const first = n > 0 ? this.#epStep[(this.#total - this.#size) % this.capacity] : 0;
    return {
      obs: {
        dtype: this.obsDtype,
        shape: [n, ...this.obsShape],
        data: this.#ordered(this.#obs, this.obsSize),
      },
      actions: this.actionDtype === "int32"
        ? { dtype: "int64", shape: [n], data: this.#ordered(this.#actions as Int32Array, 1) }
        : {
          dtype: "float32",
          shape: [n, this.actionDim],
          data: this.#ordered(this.#actions as Float32Array, this.actionDim),
        },
      rewards: { dtype: "float32", shape: [n], data: this.#ordered(this.#rewards, 1) },
      dones: { dtype: "bool", shape: [n], data: dones },
      obs_shape: { dtype: "int64", shape: [this.obsShape.length], data: [...this.obsShape] },
      action_dim: { dtype: "int64", shape: [], data: [this.actionDim] },
      capacity: { dtype: "int64", shape: [], data: [this.capacity] },
      terminations: { dtype: "bool", shape: [n], data: terms },
      first_step: { dtype: "int64", shape: [], data: [first] },
    };
  }

  /**
   * Saves the stored transitions (oldest first) as `.npz`, atomically, with the reference's keys
   * `obs [N, ...obs_shape]` (float32 or uint8), `actions [N, A]` float32 (int64 `[N]` for int32
   * indices), `rewards [N]` float32, `dones [N]` bool (episode ends), `obs_shape` int64 `[k]`,
   * `action_dim` and `capacity` (0-d int64), plus `terminations [N]` bool (terminal steps; a
   * truncated episode ends with `dones` 1 and `terminations` 0) and `first_step` (0-d int64: the
   * step index within its episode of the first saved row, non-zero once the ring has overwritten
   * an episode's beginning). An episode in progress ends with `dones` 0 and stays in progress
   * after loading. The sampling stream is not saved (see {@link getRngState}).
   */
  async save(path: string, opts: ReplaySaveOptions = {}): Promise<void> {
    await saveNpz(path, this.toArrays(), { compressed: opts.compressed, level: opts.level });
  }

  /**
   * Loads a buffer saved by {@link save} or written by NumPy with the reference's keys (`obs`,
   * `actions`, `rewards`, `dones`, `obs_shape`, `action_dim`, `capacity`; `terminations` and
   * `first_step` optional: without `terminations`, every `dones` step is terminal). Shapes and
   * dtypes are checked against each other; a mismatch gives a {@link FormatError} naming the key.
   * Float arrays of any width are converted to float32; uint8 `obs` makes a uint8 buffer; integer
   * `actions [N]` make an int32-index buffer.
   */
  static async load(path: string, opts: ReplayLoadOptions = {}): Promise<ReplayBuffer> {
    const a = await readReplayArrays(path, opts);
    return ReplayBuffer.fromArrays(a, { ...opts, path });
  }

  /** Builds a buffer from arrays in the `.npz` layout (see {@link load}). */
  static fromArrays(
    a: Readonly<Record<string, NpyArray>>,
    opts: ReplayLoadOptions & { path?: string } = {},
  ): ReplayBuffer {
    const { buffer, rows } = replayFromArrays(a, opts, (o) => new ReplayBuffer(o));
    buffer.#append(rows.obs, rows.actions, rows.rewards, rows.flags, rows.count, rows.firstStep);
    return buffer;
  }
}
