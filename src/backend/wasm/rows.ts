/**
 * Row kernels of the wasm cpu backend, generated with the emitter: softmax / logSoftmax /
 * logsumexp and layerNorm / rmsNorm over the last axis of a contiguous `[rows, cols]`, 4 lanes
 * at a time (8 per loop step). Each function takes a row range so rows split over threads, and
 * emits its row loop once per mode (softmax kind; weight/bias present) so no loop tests a flag.
 * They compute in float32 as PyTorch's CPU kernels do: sums in 4 lanes; a norm's mean as its
 * first value x0 plus the mean of x - x0 (exact differences near a large mean), the variance
 * from it in a second pass, `1 / sqrt(var + eps)` in float64; softmax's exponentials below 2^-126
 * are 0. Within 1e-5 of the float64 reference on rows of thousands, or a few float32 ulps of the
 * terms where an output near 0 is their difference (`x_hat * w + b`, the backward). (They summed
 * in float64 until 2026-12-06: twice the instructions per element, and the norms and softmaxes
 * of a `tdmpc2:ci` update were a third of its kernel time.)
 *
 * - `softmax_rows(x, y, r0, r1, cols, mode)`: mode 0 softmax, 1 logSoftmax, 2 logsumexp (one
 *   output per row).
 * - `norm_rows(x, w, b, y, r0, r1, cols, epsBits, layer, dy)`: `w`/`b` 0 when absent; `epsBits`
 *   the float32 bits of eps; `layer` 1 for layerNorm (subtract the mean), 0 for rmsNorm; `dy` 0,
 *   or the output gradient: then `y` is the gradient with respect to `x` (the backward).
 * @module
 */

import { F32, type FnBuilder, I32, type ModuleBuilder, V128 } from "./emit.ts";
import { HIGH } from "./codegen_expr.ts";
import * as M from "./math.ts";

/**
 * `for (c = 0; c + 4 <= n; c += 4) body(false)`, then `body(true)` for the n % 4 tail with
 * `mask` holding the valid lanes. `c` counts elements; `fromZero` false continues from its value.
 */
export function vecLoop(
  f: FnBuilder,
  c: number,
  n: number,
  mask: number,
  body: (tail: boolean) => void,
  fromZero = true,
): void {
  if (fromZero) f.i32(0).set(c);
  f.block(() => {
    f.loop(() => {
      f.get(n).get(c).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
      body(false);
      f.get(c).i32(4).op("i32.add").set(c);
      f.op("br", 0);
    });
  });
  f.get(c).get(n).op("i32.lt_s").if(() => {
    f.v128i(0, 1, 2, 3).get(n).get(c).op("i32.sub").op("i32x4.splat").op("i32x4.lt_s").set(mask);
    body(true);
  });
}

/**
 * {@link vecLoop} 8 lanes per step: `body(false, 0)` and `body(false, 16)` (the second vector at
 * byte offset 16 from lane group `c`) while 8 lanes remain, then the rest 4 at a time and the
 * tail with `imm` 0. Halves the loop overhead of short rows; two accumulators (one per `imm`)
 * halve a sum's dependency chain. `end8` is a scratch i32 local.
 */
export function vecLoop8(
  f: FnBuilder,
  c: number,
  n: number,
  end8: number,
  mask: number,
  body: (tail: boolean, imm: number) => void,
): void {
  f.i32(0).set(c);
  f.get(n).i32(-8).op("i32.and").set(end8);
  f.block(() => {
    f.loop(() => {
      f.get(c).get(end8).op("i32.ge_s").op("br_if", 1);
      body(false, 0);
      body(false, 16);
      f.get(c).i32(8).op("i32.add").set(c);
      f.op("br", 0);
    });
  });
  vecLoop(f, c, n, mask, (tail) => body(tail, 0), false);
}

/** Stores the lanes of `v` at `ptr + 4c..` (tail: only lanes valid in `mask`'s count `rem`). */
export function storeLanes(f: FnBuilder, addr: number, v: number, tail: boolean, rem: number) {
  if (!tail) {
    f.get(addr).get(v).op("v128.store", 0, 2);
    return;
  }
  f.get(addr).get(v).op("v128.store32_lane", 0, 0);
  for (let l = 1; l < 4; l++) {
    f.get(rem).i32(l).op("i32.gt_s").if(() => {
      f.get(addr).get(v).op("v128.store32_lane", l, l * 4);
    });
  }
}

/** Pushes the f32 sum of the 4 lanes of `a`. */
function hsum32(f: FnBuilder, a: number): void {
  const t = M.vtmp(f);
  f.get(a).get(a).get(a).shuffle(HIGH).op("f32x4.add").set(t);
  f.get(t).op("f32x4.extract_lane", 0).get(t).op("f32x4.extract_lane", 1).op("f32.add");
  M.vfree(f, t);
}

/** Adds the row kernels to a module (memory must be imported). */
export function addRows(m: ModuleBuilder): void {
  m.func("softmax_rows", [I32, I32, I32, I32, I32, I32], [], (f) => {
    const [x, y, r0, r1, cols, mode] = [0, 1, 2, 3, 4, 5];
    const r = f.local(I32), px = f.local(I32), py = f.local(I32), c = f.local(I32);
    const rem = f.local(I32), addr = f.local(I32), c8 = f.local(I32);
    const mx = f.local(F32), s = f.local(F32);
    const acc = f.local(V128), acc1 = f.local(V128), v = f.local(V128);
    const mask = f.local(V128), s0 = f.local(V128), mxv = f.local(V128), e = f.local(V128);
    const lsv = f.local(V128);
    const load = (off = 0) =>
      f.get(px).get(c).i32(2).op("i32.shl").op("i32.add").op("v128.load", off, 2);
    /** The row loop of one mode (0 softmax, 1 logSoftmax, 2 logsumexp), emitted per mode. */
    const rowsOf = (md: 0 | 1 | 2) => {
      f.for(r, () => f.get(r0), () => f.get(r1), 1, () => {
        f.get(x).get(r).get(cols).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(px);
        // logsumexp writes one value per row
        f.get(y).get(r);
        if (md !== 2) f.get(cols).op("i32.mul");
        f.i32(2).op("i32.shl").op("i32.add").set(py);
        // row max, 8 lanes per step in two accumulators (pmax ignores NaN: a NaN reaches every
        // output through the sum of the exponentials)
        f.v128f(-Infinity).set(acc);
        f.v128f(-Infinity).set(acc1);
        vecLoop8(f, c, cols, c8, mask, (tail, imm) => {
          load(imm).set(v);
          if (tail) f.get(v).v128f(-Infinity).get(mask).op("v128.bitselect").set(v);
          const a = imm ? acc1 : acc;
          f.get(a).get(v).op("f32x4.pmax").set(a);
        });
        f.get(acc).get(acc1).op("f32x4.pmax").set(acc);
        f.get(acc).op("f32x4.extract_lane", 0).get(acc).op("f32x4.extract_lane", 1).op("f32.max");
        f.get(acc).op("f32x4.extract_lane", 2).get(acc).op("f32x4.extract_lane", 3).op("f32.max");
        f.op("f32.max").set(mx);
        f.get(mx).f32(-Infinity).op("f32.eq").if(() => f.f32(0).set(mx));
        f.get(mx).op("f32x4.splat").set(mxv);
        // sum of exp(x - max) (softmax keeps the exponentials in y)
        f.v128f(0).set(s0);
        vecLoop(f, c, cols, mask, (tail) => {
          load().get(mxv).op("f32x4.sub").set(v);
          M.expNonPositive(f, v);
          f.set(e);
          if (tail) f.get(e).v128f(0).get(mask).op("v128.bitselect").set(e);
          f.get(s0).get(e).op("f32x4.add").set(s0);
          if (md === 0) {
            f.get(py).get(c).i32(2).op("i32.shl").op("i32.add").set(addr);
            f.get(cols).get(c).op("i32.sub").set(rem);
            storeLanes(f, addr, e, tail, rem);
          }
        });
        hsum32(f, s0);
        f.set(s);
        if (md === 0) {
          // y = e * (1 / s)
          f.f32(1).get(s).op("f32.div").op("f32x4.splat").set(s0);
          vecLoop(f, c, cols, mask, (tail) => {
            f.get(py).get(c).i32(2).op("i32.shl").op("i32.add").set(addr);
            f.get(cols).get(c).op("i32.sub").set(rem);
            f.get(addr).op("v128.load", 0, 2).get(s0).op("f32x4.mul").set(v);
            storeLanes(f, addr, v, tail, rem);
          });
          return;
        }
        f.get(s).op("f32x4.splat").set(v);
        M.log(f, v);
        f.set(lsv);
        if (md === 2) {
          f.get(py).get(mx).get(lsv).op("f32x4.extract_lane", 0).op("f32.add").op("f32.store");
          return;
        }
        // y = x - max - log(s)
        vecLoop(f, c, cols, mask, (tail) => {
          f.get(py).get(c).i32(2).op("i32.shl").op("i32.add").set(addr);
          f.get(cols).get(c).op("i32.sub").set(rem);
          load().get(mxv).op("f32x4.sub").get(lsv).op("f32x4.sub").set(v);
          storeLanes(f, addr, v, tail, rem);
        });
      });
    };
    f.get(mode).i32(0).op("i32.eq").if(() => rowsOf(0), () => {
      f.get(mode).i32(1).op("i32.eq").if(() => rowsOf(1), () => rowsOf(2));
    });
  });

  m.func("norm_rows", [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], [], (f) => {
    const [x, w, b, y, r0, r1, cols, epsBits, layer, dy] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const r = f.local(I32), px = f.local(I32), py = f.local(I32), c = f.local(I32);
    const rem = f.local(I32), addr = f.local(I32), off = f.local(I32), pg = f.local(I32);
    const end8 = f.local(I32), n = f.local(F32);
    const v = f.local(V128), mask = f.local(V128), s0 = f.local(V128), s1 = f.local(V128);
    const x0v = f.local(V128), dv = f.local(V128), iv = f.local(V128), xh = f.local(V128);
    const g = f.local(V128), av = f.local(V128), bv = f.local(V128);
    f.get(cols).op("f32.convert_i32_s").set(n);
    /** Byte offset of lane group `c` (+ imm) from a row pointer: pushes `ptr + 4c`. */
    const at = (ptr: number) => f.get(ptr).get(c).i32(2).op("i32.shl").op("i32.add");
    /** Pushes x - mean = (x - x0) - d for the 4 values at `px + 4c + imm`. */
    const centered = (imm: number) => {
      at(px).op("v128.load", imm, 2).get(x0v).op("f32x4.sub").get(dv).op("f32x4.sub");
    };
    /** One row's statistics: x0v, dv (layerNorm's mean = x0 + d) and iv = 1 / sqrt(var + eps). */
    const stats = () => {
      // The mean as the row's first value x0 plus the float32 mean d of x - x0: x - x0 is exact
      // for x within a factor 2 of x0 (Sterbenz), so a large mean beside a small spread loses
      // nothing, and d's rounding is relative to the spread. rmsNorm: x0 = d = 0.
      f.v128f(0).set(x0v);
      f.v128f(0).set(dv);
      f.get(layer).if(() => {
        f.get(px).op("v128.load32_splat", 0, 2).set(x0v);
        f.v128f(0).set(s0);
        f.v128f(0).set(s1);
        vecLoop8(f, c, cols, end8, mask, (tail, imm) => {
          at(px).op("v128.load", imm, 2).get(x0v).op("f32x4.sub").set(v);
          if (tail) f.get(v).v128f(0).get(mask).op("v128.bitselect").set(v);
          const s = imm ? s1 : s0;
          f.get(s).get(v).op("f32x4.add").set(s);
        });
        f.get(s0).get(s1).op("f32x4.add").set(s0);
        hsum32(f, s0);
        f.get(n).op("f32.div").op("f32x4.splat").set(dv);
      });
      // variance: sum (x - mean)^2 (two passes: no cancellation)
      f.v128f(0).set(s0);
      f.v128f(0).set(s1);
      vecLoop8(f, c, cols, end8, mask, (tail, imm) => {
        centered(imm);
        f.set(v);
        if (tail) f.get(v).v128f(0).get(mask).op("v128.bitselect").set(v);
        const s = imm ? s1 : s0;
        f.get(s).get(v).get(v).op("f32x4.mul").op("f32x4.add").set(s);
      });
      f.get(s0).get(s1).op("f32x4.add").set(s0);
      // inv = 1 / sqrt(var + eps), in f64 (once per row)
      f.f64(1);
      hsum32(f, s0);
      f.get(n).op("f32.div").op("f64.promote_f32");
      f.get(epsBits).op("f32.reinterpret_i32").op("f64.promote_f32").op("f64.add").op("f64.sqrt");
      f.op("f64.div").op("f32.demote_f64").op("f32x4.splat").set(iv);
    };
    /** Stores v at py + 4c + imm (a tail: its valid lanes). */
    const store = (tail: boolean, imm: number) => {
      if (!tail) {
        at(py).get(v).op("v128.store", imm, 2);
        return;
      }
      at(py).set(addr);
      f.get(cols).get(c).op("i32.sub").set(rem);
      storeLanes(f, addr, v, true, rem);
    };
    /** The row loop of the forward, emitted per combination of weight and bias. */
    const forward = (hasW: boolean, hasB: boolean) => {
      f.for(r, () => f.get(r0), () => f.get(r1), 1, () => {
        f.get(r).get(cols).op("i32.mul").i32(2).op("i32.shl").set(off);
        f.get(x).get(off).op("i32.add").set(px);
        f.get(y).get(off).op("i32.add").set(py);
        stats();
        // out = (x - mean) * inv * w + b
        vecLoop8(f, c, cols, end8, mask, (tail, imm) => {
          centered(imm);
          f.get(iv).op("f32x4.mul");
          if (hasW) at(w).op("v128.load", imm, 2).op("f32x4.mul");
          if (hasB) at(b).op("v128.load", imm, 2).op("f32x4.add");
          f.set(v);
          store(tail, imm);
        });
      });
    };
    /** The row loop of the backward, emitted with and without a weight. */
    const backward = (hasW: boolean) => {
      // xhat = (x - mean) * inv and g = dy (* w); a tail's invalid lanes zeroed
      const loadGrad = (tail: boolean, imm: number) => {
        centered(imm);
        f.get(iv).op("f32x4.mul").set(xh);
        at(pg).op("v128.load", imm, 2);
        if (hasW) at(w).op("v128.load", imm, 2).op("f32x4.mul");
        f.set(g);
        if (tail) {
          f.get(xh).v128f(0).get(mask).op("v128.bitselect").set(xh);
          f.get(g).v128f(0).get(mask).op("v128.bitselect").set(g);
        }
      };
      f.for(r, () => f.get(r0), () => f.get(r1), 1, () => {
        f.get(r).get(cols).op("i32.mul").i32(2).op("i32.shl").set(off);
        f.get(x).get(off).op("i32.add").set(px);
        f.get(y).get(off).op("i32.add").set(py);
        f.get(dy).get(off).op("i32.add").set(pg);
        stats();
        // dx = (g - xhat * mean(g * xhat) - mean(g)) * inv (rmsNorm: no mean(g))
        f.v128f(0).set(s0);
        f.v128f(0).set(s1);
        vecLoop8(f, c, cols, end8, mask, (tail, imm) => {
          loadGrad(tail, imm);
          f.get(s0).get(g).get(xh).op("f32x4.mul").op("f32x4.add").set(s0);
          f.get(s1).get(g).op("f32x4.add").set(s1);
        });
        hsum32(f, s0);
        f.get(n).op("f32.div").op("f32x4.splat").set(av);
        f.v128f(0).set(bv);
        f.get(layer).if(() => {
          hsum32(f, s1);
          f.get(n).op("f32.div").op("f32x4.splat").set(bv);
        });
        vecLoop8(f, c, cols, end8, mask, (tail, imm) => {
          loadGrad(tail, imm);
          f.get(g).get(xh).get(av).op("f32x4.mul").op("f32x4.sub").get(bv).op("f32x4.sub");
          f.get(iv).op("f32x4.mul").set(v);
          store(tail, imm);
        });
      });
    };
    f.get(dy).if(() => {
      f.get(w).if(() => backward(true), () => backward(false));
    }, () => {
      f.get(w).if(() => {
        f.get(b).if(() => forward(true, true), () => forward(true, false));
      }, () => {
        f.get(b).if(() => forward(false, true), () => forward(false, false));
      });
    });
  });
}
