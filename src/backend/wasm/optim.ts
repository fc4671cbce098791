/**
 * The fused optimizer update (Adam/AdamW and LaProp) of the wasm cpu backend, over an element
 * range so large parameter arenas split over threads. Four elements per step, computed in
 * float64 (two f64x2 halves) exactly as the reference does: the stored state then equals the
 * reference's to the last bit, and the loop stays memory-bound.
 *
 * `optim_range(p, g, m, v, i0, i1, rule, hyper)`: pointers are byte addresses of element 0;
 * `rule` 0 adam, 1 laprop; `hyper` points to float64 values
 * `[lr, b1, 1 - b1, b2, 1 - b2, eps, lr * wd, bc1, bc2, gscale]` (`gscale` includes the
 * device-side `scale` factor).
 * @module
 */

import { type FnBuilder, I32, type ModuleBuilder, V128 } from "./emit.ts";
import { HIGH, LOW_LOW } from "./codegen_expr.ts";
import { storeLanes, vecLoop } from "./rows.ts";

/** Names of the float64 hyperparameters, in memory order. */
export const OPTIM_HYPER = [
  "lr",
  "b1",
  "ob1",
  "b2",
  "ob2",
  "eps",
  "lrwd",
  "bc1",
  "bc2",
  "gs",
] as const;

/** Adds `optim_range` to a module (memory must be imported). */
export function addOptim(m: ModuleBuilder): void {
  m.func("optim_range", [I32, I32, I32, I32, I32, I32, I32, I32], [], (f) => {
    const [p, g, mm, vv, i0, i1, rule, hp] = [0, 1, 2, 3, 4, 5, 6, 7];
    const S: Record<string, number> = {};
    OPTIM_HYPER.forEach((n, k) => {
      const l = f.local(V128);
      f.get(hp).op("f64.load", k * 8).op("f64x2.splat").set(l);
      S[n] = l;
    });
    const c = f.local(I32), n = f.local(I32), off = f.local(I32), rem = f.local(I32);
    const addr = f.local(I32), mask = f.local(V128);
    const P4 = f.local(V128), G4 = f.local(V128), M4 = f.local(V128), V4 = f.local(V128);
    const half = [0, 1].map(() => ({
      p: f.local(V128),
      g: f.local(V128),
      m: f.local(V128),
      v: f.local(V128),
    }));
    f.get(i1).get(i0).op("i32.sub").set(n);
    const load = (base: number, dst: number) => {
      f.get(base).get(off).op("i32.add").op("v128.load", 0, 2).set(dst);
    };
    const promote = (src: number, h: number, dst: number) => {
      f.get(src);
      if (h) f.get(src).shuffle(HIGH);
      f.op("f64x2.promote_low_f32x4").set(dst);
    };
    const combine = (a: number, b: number, dst: number) => {
      f.get(a).op("f32x4.demote_f64x2_zero").get(b).op("f32x4.demote_f64x2_zero");
      f.shuffle(LOW_LOW).set(dst);
    };
    const store = (base: number, v: number, tail: boolean) => {
      f.get(base).get(off).op("i32.add").set(addr);
      storeLanes(f, addr, v, tail, rem);
    };
    vecLoop(f, c, n, mask, (tail) => {
      f.get(c).get(i0).op("i32.add").i32(2).op("i32.shl").set(off);
      f.get(n).get(c).op("i32.sub").set(rem);
      load(p, P4);
      load(g, G4);
      load(mm, M4);
      load(vv, V4);
      for (let h = 0; h < 2; h++) {
        const x = half[h];
        promote(P4, h, x.p);
        promote(G4, h, x.g);
        promote(M4, h, x.m);
        promote(V4, h, x.v);
        step(f, S, x, rule);
      }
      combine(half[0].p, half[1].p, P4);
      combine(half[0].m, half[1].m, M4);
      combine(half[0].v, half[1].v, V4);
      store(p, P4, tail);
      store(mm, M4, tail);
      store(vv, V4, tail);
    });
  });
}

/** One f64x2 half of the update (in place on the locals of `x`). */
function step(
  f: FnBuilder,
  S: Record<string, number>,
  x: { p: number; g: number; m: number; v: number },
  rule: number,
): void {
  const mul = "f64x2.mul", add = "f64x2.add", sub = "f64x2.sub", div = "f64x2.div";
  // gi = g * gscale; v = b2 v + ((1 - b2) gi) gi
  f.get(x.g).get(S.gs).op(mul).set(x.g);
  f.get(S.b2).get(x.v).op(mul).get(S.ob2).get(x.g).op(mul).get(x.g).op(mul).op(add).set(x.v);
  f.get(rule).if(() => {
    // LaProp: m = b1 m + ((1 - b1) gi) / (sqrt(v / bc2) + eps); p -= (lr wd) p; p -= (lr m) / bc1
    f.get(S.b1).get(x.m).op(mul).get(S.ob1).get(x.g).op(mul);
    f.get(x.v).get(S.bc2).op(div).op("f64x2.sqrt").get(S.eps).op(add).op(div).op(add).set(x.m);
    f.get(x.p).get(S.lrwd).get(x.p).op(mul).op(sub).set(x.p);
    f.get(x.p).get(S.lr).get(x.m).op(mul).get(S.bc1).op(div).op(sub).set(x.p);
  }, () => {
    // AdamW: p -= (lr wd) p; m = b1 m + (1 - b1) gi; p -= (lr (m / bc1)) / (sqrt(v / bc2) + eps)
    f.get(x.p).get(S.lrwd).get(x.p).op(mul).op(sub).set(x.p);
    f.get(S.b1).get(x.m).op(mul).get(S.ob1).get(x.g).op(mul).op(add).set(x.m);
    f.get(x.p).get(S.lr).get(x.m).get(S.bc1).op(div).op(mul);
    f.get(x.v).get(S.bc2).op(div).op("f64x2.sqrt").get(S.eps).op(add).op(div).op(sub).set(x.p);
  });
}
