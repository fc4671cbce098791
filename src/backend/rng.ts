/**
 * Counter-based random numbers: threefry2x32 with 20 rounds (Salmon et al. 2011, as in JAX).
 * Element `i` of a draw is a pure function of `(key, counter + i)`, so every backend produces the
 * same bits and results never depend on how work is split. The WGSL version lives in
 * `kernels/rng.wgsl` and must stay bit-identical to this one.
 * @module
 */

const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** threefry2x32-20 of the block `(x0, x1)` under `(k0, k1)`; returns both output words. */
export function threefry2x32(k0: number, k1: number, x0: number, x1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  x0 = (x0 + ks[0]) >>> 0;
  x1 = (x1 + ks[1]) >>> 0;
  for (let i = 0; i < 5; i++) {
    const base = (i & 1) * 4;
    for (let j = 0; j < 4; j++) {
      x0 = (x0 + x1) >>> 0;
      x1 = rotl(x1, ROT[base + j]);
      x1 = (x1 ^ x0) >>> 0;
    }
    x0 = (x0 + ks[(i + 1) % 3]) >>> 0;
    x1 = (x1 + ks[(i + 2) % 3] + i + 1) >>> 0;
  }
  return [x0, x1];
}

/** A float in [0, 1) from the top 23 bits of a word. */
export function bitsToUniform(bits: number): number {
  return (bits >>> 9) * (1 / 8388608);
}

/** Standard normal via Box-Muller from the two words of one block. */
export function bitsToNormal(b0: number, b1: number): number {
  const u1 = ((b0 >>> 9) + 0.5) * (1 / 8388608); // (0, 1): log is finite
  const u2 = (b1 >>> 9) * (1 / 8388608);
  return Math.fround(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}

/** Fills `out` with draws `counter .. counter + n - 1` of `dist` under `key`. */
export function fillRandom(
  out: Float32Array | Int32Array,
  dist: "uniform" | "normal" | "bits",
  key: readonly [number, number],
  counter: number,
  n: number,
  offset = 0,
): void {
  for (let i = 0; i < n; i++) {
    const [b0, b1] = threefry2x32(key[0], key[1], (counter + i) >>> 0, 0);
    out[offset + i] = dist === "uniform"
      ? bitsToUniform(b0)
      : dist === "normal"
      ? bitsToNormal(b0, b1)
      : b0 | 0;
  }
}

/** Splits a 53-bit integer seed into a threefry key. */
export function seedToKey(seed: number): [number, number] {
  const s = Math.floor(Math.abs(seed));
  return [s >>> 0, Math.floor(s / 4294967296) >>> 0];
}

/** Derives an independent key from `key` and a stream number (JAX's `fold_in`). */
export function foldIn(key: readonly [number, number], data: number): [number, number] {
  return threefry2x32(key[0], key[1], data >>> 0, 0);
}
