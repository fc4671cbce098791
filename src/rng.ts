/**
 * The host-side seeded random numbers: xoshiro128** (Blackman & Vigna) seeded through
 * splitmix32, and the hash that derives a run's independent stream seeds. Environments
 * (`reset({ seed })`), the replay buffer's sampling and the trainers' stream seeds all draw
 * from here, so one seed reproduces the same numbers on every platform. The tensor layer's
 * generator (`tensor/random.ts`) is a separate, device-side stream.
 *
 * Two families of streams predate this module and fold a seed's high 32 bits into the low ones
 * with different odd multipliers: the environments with {@link ENV_SEED_FOLD} (the default), the
 * replay buffer with {@link SAMPLING_SEED_FOLD}. Both are kept so that every seed still gives
 * the numbers it always gave.
 * @module
 */

/** The murmur3 finalizer: a well-mixed unsigned 32-bit word from any 32-bit word. */
export function mix32(x: number): number {
  let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** The 32-bit golden-ratio increment of splitmix32. */
const GOLDEN = 0x9e3779b9;

/** The environments' fold of a seed's high word (the default of {@link Rng}). */
export const ENV_SEED_FOLD = 0x27d4eb2d;

/** The replay buffer's fold of a seed's high word. */
export const SAMPLING_SEED_FOLD = GOLDEN;

/**
 * A 32-bit stream seed derived from a run's seed and a stream number, so the streams of one run
 * (batch sampling, evaluation, exploration, ...) are independent and each is reproducible.
 */
export function deriveSeed(seed: number, stream: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(stream + 1, GOLDEN)) >>> 0;
  h ^= Math.floor(Math.trunc(seed) / 2 ** 32) >>> 0;
  return mix32(h);
}

/** Serializable state of an {@link Rng} (four unsigned 32-bit words). */
export type RngState = readonly [number, number, number, number];

/**
 * xoshiro128** generator. `uniform()` returns doubles in [0, 1) with 53 random bits; `normal()`
 * uses the Box-Muller transform (no cached second value, so the state alone determines the
 * stream). `getState()` / `setState()` let checkpoints save and restore it.
 *
 * @example
 * ```ts
 * import { Rng } from "@worldflux/worldflux";
 * const rng = new Rng(7);
 * const die = 1 + rng.int(6); // the same roll for seed 7 on every platform
 * console.log(die >= 1 && die <= 6); // true
 * ```
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * Seeds from any finite number (integers up to 2^53 use all their bits); `fold` is the
   * multiplier of the seed's high word (see the module doc).
   */
  constructor(seed = 0, fold: number = ENV_SEED_FOLD) {
    this.seed(seed, fold);
  }

  /** A generator seeded from the platform's entropy source (for unseeded environments). */
  static fromEntropy(): Rng {
    const words = new Uint32Array(2);
    crypto.getRandomValues(words);
    return new Rng(words[0] * 2 ** 21 + (words[1] >>> 11));
  }

  /** Re-seeds the generator. */
  seed(seed: number, fold: number = ENV_SEED_FOLD): void {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be finite, got ${seed}`);
    const n = Math.trunc(seed);
    const lo = n >>> 0;
    const hi = Math.floor(n / 2 ** 32) | 0;
    let st = lo ^ Math.imul(hi, fold);
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      st = (st + GOLDEN) | 0;
      out.push(mix32(st));
    }
    [this.s0, this.s1, this.s2, this.s3] = out;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number;
  /** Uniform double in [low, high). */
  uniform(low: number, high: number): number;
  uniform(low = 0, high = 1): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    const u = (a * 67108864 + b) / 9007199254740992;
    return low + (high - low) * u;
  }

  /** Standard normal sample (Box-Muller), scaled: `mean + std * z`. */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.uniform(); // (0, 1]
    const u2 = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) {
      throw new RangeError(`Rng.int: n must be >= 1, got ${n}`);
    }
    return Math.floor(this.uniform() * n);
  }

  /** Current state (for checkpoints). */
  getState(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Restores a state from {@link getState}. */
  setState(state: RngState): void {
    if (state.length !== 4) throw new RangeError("Rng state must have 4 words");
    [this.s0, this.s1, this.s2, this.s3] = state.map((v) => v | 0);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      throw new RangeError("Rng state must not be all zero");
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
