/**
 * SIMD (f32x4) elementary functions for the generated wasm kernels: exp, log, tanh, sin, cos and
 * pow, Cephes-style (range reduction + minimax polynomials), accurate to a few float32 ulps over
 * their normal domains (see tests/backend/wasm_test.ts for the measured errors). Every emitter reads its argument(s) from v128 locals and leaves the result on the
 * stack; temporaries come from a per-function pool of v128 locals.
 *
 * No relaxed (possibly fused) instructions are used here, so results do not depend on the CPU.
 * @module
 */

import { type FnBuilder, V128 } from "./emit.ts";

const pools = new WeakMap<FnBuilder, number[]>();

/** A v128 temporary local of `f` (return it with {@link vfree}). */
export function vtmp(f: FnBuilder): number {
  const pool = pools.get(f);
  const l = pool?.pop();
  return l ?? f.local(V128);
}

/** Returns temporaries to the pool. */
export function vfree(f: FnBuilder, ...ls: number[]): void {
  let pool = pools.get(f);
  if (!pool) pools.set(f, pool = []);
  pool.push(...ls);
}

/** Pushes `c[0] * x^(n-1) + ... + c[n-1]` (Horner) with x in local `x`. */
function horner(f: FnBuilder, x: number, c: readonly number[]): void {
  f.v128f(c[0]);
  for (let i = 1; i < c.length; i++) {
    f.get(x).op("f32x4.mul").v128f(c[i]).op("f32x4.add");
  }
}

const SIGN = -0x80000000;

/** Cephes' minimax polynomial of (e^r - 1 - r) / r^2 on |r| <= ln(2) / 2. */
const EXP_POLY = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
];

/**
 * The shared part of the exponentials: with the clamped argument in `t`, pushes p = e^r for
 * r = t - n ln 2 and leaves n = round(t log2 e) (i32 lanes) in `n`; `t` and `fx` are clobbered.
 */
function expReduced(f: FnBuilder, t: number, fx: number, n: number): void {
  const z = vtmp(f);
  // fx = round(t log2 e) with the 1.5 * 2^23 trick (|fx| <= 150): the integer sits in the low
  // mantissa bits of fx + 1.5 * 2^23 (rounded to nearest even, as f32x4.nearest would)
  f.get(t).v128f(1.44269504088896341).op("f32x4.mul").v128f(12582912).op("f32x4.add").set(fx);
  f.get(fx).v128i(0x4b400000).op("i32x4.sub").set(n);
  f.get(fx).v128f(12582912).op("f32x4.sub").set(fx);
  // r = t - fx * ln2 (Cody-Waite: fx * C1 is exact)
  f.get(t).get(fx).v128f(0.693359375).op("f32x4.mul").op("f32x4.sub");
  f.get(fx).v128f(-2.12194440e-4).op("f32x4.mul").op("f32x4.sub").set(t);
  f.get(t).get(t).op("f32x4.mul").set(z);
  horner(f, t, EXP_POLY);
  f.get(z).op("f32x4.mul").get(t).op("f32x4.add").v128f(1).op("f32x4.add");
  vfree(f, z);
}

/** exp(x): exp(89) = inf, exp(-104) = 0, denormal results rounded once; NaN propagates. */
export function exp(f: FnBuilder, x: number): void {
  const t = vtmp(f), fx = vtmp(f), n = vtmp(f);
  // Clamp (pmax/pmin keep NaN: they return their first operand when a comparison fails).
  f.get(x).v128f(-104).op("f32x4.pmax").v128f(89).op("f32x4.pmin").set(t);
  expReduced(f, t, fx, n);
  // * 2^n as 2^(n >> 1) * 2^(n - (n >> 1)): both factors are normal for n in [-150, 128], so
  // denormal results are rounded once (by the last multiplication).
  f.get(n).i32(1).op("i32x4.shr_s").set(fx); // fx reused as n1 (i32)
  f.get(fx).v128i(127).op("i32x4.add").i32(23).op("i32x4.shl").op("f32x4.mul");
  f.get(n).get(fx).op("i32x4.sub").v128i(127).op("i32x4.add").i32(23).op("i32x4.shl");
  f.op("f32x4.mul");
  vfree(f, t, fx, n);
}

/**
 * exp(x) for x <= 0 (NaN propagates): a softmax's `exp(x - max)`, whose terms below 2^-126 are
 * 0 beside its sum of at least 1. Same range reduction and polynomial as {@link exp}; the
 * results below 2^-126 (x < -87.3) are 0 instead of rounded denormals, so one scaling suffices
 * (5 fewer instructions of ~32: a softmax row's second pass is mostly this).
 */
export function expNonPositive(f: FnBuilder, x: number): void {
  const t = vtmp(f), fx = vtmp(f), n = vtmp(f);
  f.get(x).v128f(-104).op("f32x4.pmax").set(t);
  expReduced(f, t, fx, n);
  // * 2^n with n >= -126 a normal power of two; n <= -127 gives the bits of 0.
  f.get(n).v128i(-127).op("i32x4.max_s").v128i(127).op("i32x4.add").i32(23).op("i32x4.shl");
  f.op("f32x4.mul");
  vfree(f, t, fx, n);
}

/** Natural log: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf; denormals handled. */
export function log(f: FnBuilder, x: number): void {
  const xs = vtmp(f), e = vtmp(f), m = vtmp(f), z = vtmp(f), mask = vtmp(f), fe = vtmp(f);
  // Denormals: scale by 2^23 first.
  f.get(x).v128f(1.17549435e-38).op("f32x4.lt").set(mask);
  f.get(x).v128f(8388608).op("f32x4.mul").get(x).get(mask).op("v128.bitselect").set(xs);
  f.get(xs).i32(23).op("i32x4.shr_u").v128i(126).op("i32x4.sub");
  f.get(mask).v128i(23).op("v128.and").op("i32x4.sub").set(e);
  f.get(xs).v128i(0x007fffff).op("v128.and").v128i(0x3f000000).op("v128.or").set(m);
  // m in [0.5, 1): if m < sqrt(1/2) { e -= 1; m = 2m - 1 } else m = m - 1
  f.get(m).v128f(0.707106781186547524).op("f32x4.lt").set(mask);
  f.get(e).get(mask).op("i32x4.add").op("f32x4.convert_i32x4_s").set(fe);
  f.get(m).v128f(1).op("f32x4.sub").get(m).get(mask).op("v128.and").op("f32x4.add").set(m);
  f.get(m).get(m).op("f32x4.mul").set(z);
  horner(f, m, [
    7.0376836292e-2,
    -1.1514610310e-1,
    1.1676998740e-1,
    -1.2420140846e-1,
    1.4249322787e-1,
    -1.6668057665e-1,
    2.0000714765e-1,
    -2.4999993993e-1,
    3.3333331174e-1,
  ]);
  f.get(m).op("f32x4.mul").get(z).op("f32x4.mul");
  f.get(fe).v128f(-2.12194440e-4).op("f32x4.mul").op("f32x4.add");
  f.get(z).v128f(0.5).op("f32x4.mul").op("f32x4.sub");
  f.get(m).op("f32x4.add");
  f.get(fe).v128f(0.693359375).op("f32x4.mul").op("f32x4.add");
  f.set(z);
  // Special values.
  f.v128f(-Infinity).get(z).get(x).v128f(0).op("f32x4.eq").op("v128.bitselect").set(z);
  f.v128f(NaN).get(z).get(x).v128f(0).op("f32x4.lt").get(x).get(x).op("f32x4.ne").op("v128.or");
  f.op("v128.bitselect").set(z);
  f.v128f(Infinity).get(z).get(x).v128f(Infinity).op("f32x4.eq").op("v128.bitselect");
  vfree(f, xs, e, m, z, mask, fe);
}

/** tanh(x): odd polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) otherwise. */
export function tanh(f: FnBuilder, x: number): void {
  const ax = vtmp(f), z = vtmp(f), small = vtmp(f), big = vtmp(f);
  f.get(x).op("f32x4.abs").set(ax);
  f.get(x).get(x).op("f32x4.mul").set(z);
  horner(f, z, [
    -5.70498872745e-3,
    2.06390887954e-2,
    -5.37397155531e-2,
    1.33314422036e-1,
    -3.33332819422e-1,
  ]);
  f.get(z).op("f32x4.mul").get(x).op("f32x4.mul").get(x).op("f32x4.add").set(small);
  f.get(ax).get(ax).op("f32x4.add").set(z);
  exp(f, z);
  f.v128f(1).op("f32x4.add").set(big);
  f.v128f(1).v128f(2).get(big).op("f32x4.div").op("f32x4.sub");
  // copy the sign of x
  f.get(x).v128i(SIGN).op("v128.and").op("v128.or").set(big);
  f.get(small).get(big).get(ax).v128f(0.625).op("f32x4.lt").op("v128.bitselect");
  vfree(f, ax, z, small, big);
}

/** Lanes 0-1 of `a` then lanes 0-1 of `b` (i8x16.shuffle pattern). */
const LOW_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** Lanes 2-3 moved to 0-1. */
const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

/**
 * sin (`cos = false`) or cos of x. The argument is reduced in float64 (r = |x| - k pi/2 with a
 * three-part pi/2), so the result stays accurate for large arguments (|x| < 3e9; beyond, values
 * stay in [-1, 1] but lose accuracy); sin/cos(±inf) = NaN. With `scale`, of `scale * x` (the
 * product taken in float64). The sign of sin follows x (scale > 0).
 */
export function sincos(f: FnBuilder, x: number, cos: boolean, scale = 1): void {
  const ax = vtmp(f), j = vtmp(f), y = vtmp(f), sign = vtmp(f), z = vtmp(f), r = vtmp(f);
  const h = vtmp(f), k = vtmp(f);
  f.get(x).op("f32x4.abs").set(ax);
  // Per half (two f64 lanes): k = floor(|x| 2/pi + 1/2); r = (|x| - k P1) - k P2
  for (let half = 0; half < 2; half++) {
    f.get(ax);
    if (half) f.get(ax).shuffle(HIGH);
    f.op("f64x2.promote_low_f32x4");
    if (scale !== 1) f.v128d(scale).op("f64x2.mul"); // the argument is scale * x, in f64
    f.set(h);
    f.get(h).v128d(2 / Math.PI).op("f64x2.mul").v128d(0.5).op("f64x2.add").op("f64x2.floor").set(k);
    // pi/2 = P1 + P2 + P3 with 21-bit P1, P2: k * P1 and k * P2 are exact for k < 2^31
    f.get(h).get(k).v128d(1.570796012878418).op("f64x2.mul").op("f64x2.sub");
    f.get(k).v128d(3.139164164167596e-7).op("f64x2.mul").op("f64x2.sub");
    f.get(k).v128d(6.223372171896613e-14).op("f64x2.mul").op("f64x2.sub");
    f.op("f32x4.demote_f64x2_zero");
    f.get(k).op("i32x4.trunc_sat_f64x2_s_zero");
    if (half) {
      // combine with the first half
      f.set(k).set(h);
      f.get(r).get(h).shuffle(LOW_LOW).set(r);
      f.get(j).get(k).shuffle(LOW_LOW).set(j);
    } else f.set(j).set(r);
  }
  // Huge arguments (|x| > ~1e15) reduce inexactly: keep r in range so results stay in [-1, 1].
  f.get(r).v128f(-0.7853982).op("f32x4.pmax").v128f(0.7853982).op("f32x4.pmin").set(r);
  // j = 2k (the octant of Cephes)
  f.get(j).i32(1).op("i32x4.shl").set(j);
  if (cos) {
    f.get(j).v128i(2).op("i32x4.sub").set(j);
    // sign flips when (j & 4) == 0
    f.get(j).op("v128.not").v128i(4).op("v128.and").i32(29).op("i32x4.shl").set(sign);
  } else {
    f.get(x).v128i(SIGN).op("v128.and").get(j).v128i(4).op("v128.and").i32(29).op("i32x4.shl");
    f.op("v128.xor").set(sign);
  }
  f.get(r).get(r).op("f32x4.mul").set(z);
  // cos polynomial -> y
  horner(f, z, [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]);
  f.get(z).op("f32x4.mul").get(z).op("f32x4.mul");
  f.get(z).v128f(0.5).op("f32x4.mul").op("f32x4.sub").v128f(1).op("f32x4.add").set(y);
  // sin polynomial
  horner(f, z, [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]);
  f.get(z).op("f32x4.mul").get(r).op("f32x4.mul").get(r).op("f32x4.add");
  // select: (j & 2) == 0 -> sin polynomial, else cos polynomial
  f.get(y).get(j).v128i(2).op("v128.and").v128i(0).op("i32x4.eq").op("v128.bitselect");
  f.get(sign).op("v128.xor").set(z);
  // |x| = inf -> NaN
  f.v128f(NaN).get(z).get(ax).v128f(Infinity).op("f32x4.eq").op("v128.bitselect");
  vfree(f, ax, j, y, sign, z, r, h, k);
}

/**
 * pow(a, b) = exp(b * log|a|) with the sign and special cases of `Math.pow`: b = 0 gives 1,
 * a negative base gives NaN unless b is an integer (odd integers keep the sign of a).
 */
export function pow(f: FnBuilder, a: number, b: number): void {
  const aa = vtmp(f), t = vtmp(f), isInt = vtmp(f), odd = vtmp(f), neg = vtmp(f);
  f.get(a).op("f32x4.abs").set(aa);
  log(f, aa);
  f.get(b).op("f32x4.mul").set(t);
  exp(f, t);
  f.set(t);
  // integer b: b == floor(b); odd when |b| < 2^24 and the integer is odd
  f.get(b).op("f32x4.floor").get(b).op("f32x4.eq").set(isInt);
  f.get(b).op("i32x4.trunc_sat_f32x4_s").v128i(1).op("v128.and").i32(31).op("i32x4.shl");
  f.get(b).op("f32x4.abs").v128f(16777216).op("f32x4.lt").op("v128.and");
  f.get(isInt).op("v128.and").set(odd); // sign bit where b is an odd integer
  // negative base (sign bit set, including -0)
  f.get(a).v128i(SIGN).op("v128.and").set(neg);
  // result sign: neg & odd
  f.get(t).get(neg).get(odd).op("v128.and").op("v128.xor").set(t);
  // finite a < 0 with non-integer b -> NaN
  f.v128f(NaN).get(t).get(a).v128f(0).op("f32x4.lt").get(isInt).op("v128.andnot");
  f.get(a).v128f(-Infinity).op("f32x4.ne").op("v128.and");
  f.op("v128.bitselect").set(t);
  // b == 0 -> 1 (even for NaN a)
  f.v128f(1).get(t).get(b).v128f(0).op("f32x4.eq").op("v128.bitselect");
  vfree(f, aa, t, isInt, odd, neg);
}
