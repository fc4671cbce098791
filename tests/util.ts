/**
 * Shared test helpers: tolerance comparison with useful failure messages, WebGPU availability
 * (initialised once per test process), and a seeded random-data generator.
 * @module
 */

import { initWebGPU } from "../mod.ts";

// ---------------------------------------------------------------------------------------------
// assertClose
// ---------------------------------------------------------------------------------------------

/** Nested number arrays (as returned by `Tensor.array()`). */
export type Nested = number | boolean | Nested[];

/** What {@link assertClose} compares: typed arrays, flat or nested arrays, or one number. */
export type Numbers = ArrayLike<number> | Nested;

/** Tolerances of {@link assertClose}. */
export interface CloseOptions {
  /** Relative tolerance (default 1e-5). */
  readonly rtol?: number;
  /** Absolute tolerance added to the relative one (default 0). */
  readonly atol?: number;
  /**
   * Smallest magnitude the relative tolerance is taken of, so that exact zeros and tiny values
   * in `expected` are compared against the scale of the data (default `1e-3 * max|expected|`).
   */
  readonly floor?: number;
  /**
   * Per-element magnitude of the computation (e.g. `sum |x_i|` for a sum, `sum |a_ik| |b_kj|` for
   * a matmul): the relative tolerance is taken of `max(|expected|, floor, scale[i])`, so values
   * that come out near zero by cancellation are compared at the scale of their terms.
   */
  readonly scale?: ArrayLike<number>;
  /** Shape of flat data, for multi-indices in messages (nested arrays carry their own). */
  readonly shape?: readonly number[];
  /** Prefix of the failure message. */
  readonly label?: string;
}

function flattenNested(x: Numbers): { values: number[]; shape: number[] | null } {
  if (typeof x === "number" || typeof x === "boolean") {
    return { values: [Number(x)], shape: [] };
  }
  if (!Array.isArray(x)) {
    return { values: Array.from(x as ArrayLike<number>, Number), shape: null };
  }
  const shape: number[] = [];
  const values: number[] = [];
  const walk = (v: Nested, depth: number) => {
    if (Array.isArray(v)) {
      if (shape.length <= depth) shape.push(v.length);
      else if (shape[depth] !== v.length) {
        throw new Error(`assertClose: ragged nested array at depth ${depth}`);
      }
      for (const e of v) walk(e, depth + 1);
    } else values.push(Number(v));
  };
  walk(x as Nested, 0);
  return { values, shape };
}

function unravel(i: number, shape: readonly number[] | null): string {
  if (!shape || shape.length === 0) return `${i}`;
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(r % shape[d]);
    r = Math.floor(r / shape[d]);
  }
  return `${i} [${idx.join(", ")}]`;
}

const fmtShape = (s: readonly number[] | null) => (s ? `[${s.join(", ")}]` : "flat");

/**
 * Asserts `|actual - expected| <= atol + rtol * max(|expected|, floor, scale)` elementwise, where
 * `floor` defaults to `1e-3 * max|expected|` (so exact zeros are compared at the data's scale)
 * and `scale` (optional, per element) is the magnitude of the terms the value was computed from.
 * NaN matches NaN and infinities must match exactly. On failure the message gives the number of
 * mismatches, the first mismatching index (flat and multi-index), both values, the tolerance,
 * the largest error and both shapes.
 */
export function assertClose(actual: Numbers, expected: Numbers, opts: CloseOptions = {}): void {
  const a = flattenNested(actual);
  const e = flattenNested(expected);
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 0;
  // flat data (typed or a plain 1-D array) takes `opts.shape` when one is given
  const given = opts.shape ? [...opts.shape] : null;
  const flat = (s: number[] | null, n: number) =>
    !s || (given && s.length === 1 && s[0] === n && numel(given) === n);
  const shapeA = flat(a.shape, a.values.length) ? given : a.shape;
  const shapeE = flat(e.shape, e.values.length) ? given : e.shape;
  const where = opts.label ? `${opts.label}: ` : "";
  if (a.values.length !== e.values.length) {
    throw new Error(
      `${where}assertClose: ${a.values.length} actual values vs ${e.values.length} expected ` +
        `(shapes ${fmtShape(shapeA)} vs ${fmtShape(shapeE)})`,
    );
  }
  if (shapeA && shapeE && fmtShape(shapeA) !== fmtShape(shapeE)) {
    throw new Error(
      `${where}assertClose: shapes differ: actual ${fmtShape(shapeA)} vs expected ` +
        fmtShape(shapeE),
    );
  }
  let maxAbs = 0;
  for (const v of e.values) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  const floor = opts.floor ?? 1e-3 * maxAbs;
  let bad = 0;
  let first = -1;
  let firstTol = 0;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < e.values.length; i++) {
    const x = a.values[i];
    const y = e.values[i];
    let ok: boolean;
    let tol = 0;
    let diff = 0;
    if (Number.isNaN(y) || Number.isNaN(x)) ok = Number.isNaN(x) && Number.isNaN(y);
    else if (!Number.isFinite(y) || !Number.isFinite(x)) ok = x === y;
    else {
      diff = Math.abs(x - y);
      tol = atol + rtol * Math.max(Math.abs(y), floor, opts.scale?.[i] ?? 0);
      ok = diff <= tol;
    }
    if (!ok) {
      bad++;
      if (first < 0) {
        first = i;
        firstTol = tol;
      }
      const rel = diff / Math.max(Math.abs(y), floor, Number.MIN_VALUE);
      if (!Number.isFinite(diff) || Number.isNaN(x) || Number.isNaN(y) || rel > worst) {
        worst = Number.isFinite(rel) ? rel : Infinity;
        worstAt = i;
      }
    }
  }
  if (bad === 0) return;
  const shape = shapeE ?? shapeA;
  throw new Error(
    `${where}assertClose: ${bad} of ${e.values.length} elements differ ` +
      `(rtol ${rtol}, atol ${atol}, floor ${floor.toPrecision(3)}); first at index ` +
      `${unravel(first, shape)}: actual ${a.values[first]} vs expected ${e.values[first]} ` +
      `(|diff| ${Math.abs(a.values[first] - e.values[first]).toPrecision(3)} > tol ${
        firstTol.toPrecision(3)
      }); worst at ${unravel(worstAt, shape)}: actual ` +
      `${a.values[worstAt]} vs expected ${e.values[worstAt]}; shapes actual ${
        fmtShape(shapeA)
      }, expected ${fmtShape(shapeE)}`,
  );
}

/** Asserts that two arrays hold exactly the same numbers (NaN equals NaN). */
export function assertSame(actual: Numbers, expected: Numbers, label?: string): void {
  assertClose(actual, expected, { rtol: 0, atol: 0, floor: 0, label });
}

// ---------------------------------------------------------------------------------------------
// WebGPU availability
// ---------------------------------------------------------------------------------------------

let gpuProbe: Promise<string | null> | null = null;
let gpuReason = "";

/**
 * Initialises the WebGPU backend once per process and resolves to whether it is usable. When it
 * is not, the reason is printed once and kept for {@link webgpuSkipReason}; tests that need it
 * register with `Deno.test({ ignore: !(await webgpu()), ... })`. Setting the environment
 * variable `WORLDFLUX_TEST_NO_WEBGPU=1` simulates a machine without an adapter.
 */
export async function webgpu(): Promise<boolean> {
  if (!gpuProbe) {
    // WORLDFLUX_TEST_NO_WEBGPU=1 runs the suite as on a machine without an adapter
    const off = Deno.env.get("WORLDFLUX_TEST_NO_WEBGPU");
    gpuProbe = off && off !== "0"
      ? Promise.resolve("disabled by WORLDFLUX_TEST_NO_WEBGPU")
      : initWebGPU().then(() => null).catch((e) => String((e as Error)?.message ?? e));
    const reason = await gpuProbe;
    if (reason !== null) {
      gpuReason = `no usable WebGPU adapter (${reason}): webgpu tests are skipped`;
      console.warn(`[tests] ${gpuReason}`);
    }
  }
  return (await gpuProbe) === null;
}

/** Why WebGPU tests are skipped ("" when WebGPU is available or not probed yet). */
export function webgpuSkipReason(): string {
  return gpuReason;
}

// ---------------------------------------------------------------------------------------------
// Seeded random data
// ---------------------------------------------------------------------------------------------

/** A small seeded generator (mulberry32) for reproducible test data. */
export class Rng {
  private s: number;

  /** Creates a generator from a 32-bit seed. */
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer uniform in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** One element of a list. */
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A standard normal sample (Box-Muller). */
  gauss(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** `n` float32 values uniform in [lo, hi). */
  uniform(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }

  /** `n` float32 values from N(mean, std^2). */
  normal(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.gauss();
    return out;
  }

  /** `n` int32 values uniform in [lo, hi] (inclusive). */
  ints(n: number, lo: number, hi: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }

  /** `n` bools (0/1) that are 1 with probability `p`. */
  bools(n: number, p = 0.5): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() < p ? 1 : 0;
    return out;
  }

  /** A random shape of `rank` axes with sizes drawn from `sizes`, at most `maxNumel` elements. */
  shape(rank: number, sizes: readonly number[] = SHAPE_SIZES, maxNumel = 6000): number[] {
    for (;;) {
      const s = Array.from({ length: rank }, () => this.pick(sizes));
      if (s.reduce((a, b) => a * b, 1) <= maxNumel) return s;
    }
  }
}

/** Axis sizes random shapes are made of: size 1, small odd sizes, and sizes around 64. */
export const SHAPE_SIZES: readonly number[] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 31, 63, 65, 67];

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Runs a child Deno script (`-A --no-check`), waits until it prints `READY`, kills it with
 * SIGKILL (a crash, no cleanup) and returns what it printed and how it ended.
 */
export async function killAtReady(
  script: URL,
  args: readonly string[],
): Promise<{ out: string; stderr: string; status: Deno.CommandStatus }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", script.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("READY")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  reader.releaseLock();
  await child.stdout.cancel();
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  return { out, stderr, status: await child.status };
}
