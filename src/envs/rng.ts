/**
 * A small seeded random number generator for environments: xoshiro128** (Blackman & Vigna)
 * seeded through splitmix32, so that `reset({ seed })` is reproducible on every platform.
 * Independent of the tensor layer's RNG.
 * @module
 */

/** splitmix32 step: returns the next state and a well-mixed 32-bit output. */
function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z = (z ^ (z >>> 16)) >>> 0;
  return [s, z];
}

/** Serializable state of an {@link Rng} (four unsigned 32-bit words). */
export type RngState = readonly [number, number, number, number];

/**
 * xoshiro128** generator. `uniform()` returns doubles in [0, 1) with 53 random bits; `normal()`
 * uses the Box-Muller transform (no cached second value, so the state alone determines the
 * stream). `getState()` / `setState()` let checkpoints save and restore it.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Seeds from any finite number (integers up to 2^53 use all their bits). */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /** A generator seeded from the platform's entropy source (for unseeded environments). */
  static fromEntropy(): Rng {
    const words = new Uint32Array(2);
    crypto.getRandomValues(words);
    return new Rng(words[0] * 2 ** 21 + (words[1] >>> 11));
  }

  /** Re-seeds the generator. */
  seed(seed: number): void {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be finite, got ${seed}`);
    const n = Math.trunc(seed);
    const lo = Number(BigInt.asUintN(32, BigInt(n)));
    const hi = Number(BigInt.asUintN(32, BigInt(n) >> 32n));
    let st = lo ^ Math.imul(hi, 0x27d4eb2d);
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, z] = splitmix32(st);
      st = next;
      out.push(z);
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
