/**
 * Gather and scatter-add along an axis for the wasm cpu backend, with the reference's semantics
 * (src/backend/cpu/js_kernels.ts): negative indices count from the end, out-of-range indices
 * read 0 (gather) or are skipped (scatter-add). Scatter-add accumulates in the reference's order,
 * so results are bit-identical.
 *
 * `gather_run(src, idx, out, o0, o1, axisSize, nIdx, inner, scatter)`: contiguous
 * `[outer, axisSize, inner]` source / `[outer, nIdx, inner]` indices and output (gather), or the
 * reverse (scatter-add: `src` is `[outer, nIdx, inner]`, `out` `[outer, axisSize, inner]`,
 * zeroed here); rows [o0, o1) of the outer axis (threads split rows). Pointers are byte
 * addresses of element 0.
 * @module
 */

import { I32, type ModuleBuilder } from "./emit.ts";

/** Adds `gather_run` to a module (memory must be imported). */
export function addGather(m: ModuleBuilder): void {
  m.func("gather_run", new Array<number>(9).fill(I32), [], (f) => {
    const [src, idx, out, o0, o1, axisSize, nIdx, inner, scatter] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const o = f.local(I32), p = f.local(I32), np = f.local(I32), a = f.local(I32);
    const pi = f.local(I32), i = f.local(I32), base = f.local(I32), q = f.local(I32);
    const ob = f.local(I32), off = f.local(I32), ok = f.local(I32);
    // np = nIdx * inner: positions (j, i) of one outer row, p = j * inner + i
    f.get(nIdx).get(inner).op("i32.mul").set(np);
    f.for(o, () => f.get(o0), () => f.get(o1), 1, () => {
      // pi: byte address of idx[o, 0, 0]; base: of the axis-sized side's row [o, 0, 0]
      f.get(idx).get(o).get(np).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(pi);
      f.get(o).get(axisSize).op("i32.mul").get(inner).op("i32.mul").i32(2).op("i32.shl").set(off);
      f.get(scatter).if(() => {
        // zero out[o] first
        f.get(out).get(off).op("i32.add").set(base);
        f.for(q, 0, () => f.get(axisSize).get(inner).op("i32.mul"), 1, () => {
          f.get(base).get(q).i32(2).op("i32.shl").op("i32.add").f32(0).op("f32.store");
        });
      }, () => {
        f.get(src).get(off).op("i32.add").set(base);
      });
      // ob: byte address of the nIdx-sized side's row [o, 0, 0]
      f.get(o).get(np).op("i32.mul").i32(2).op("i32.shl").set(off);
      f.get(scatter).if(() => f.get(src).get(off).op("i32.add").set(ob), () => {
        f.get(out).get(off).op("i32.add").set(ob);
      });
      f.i32(0).set(i);
      f.for(p, 0, () => f.get(np), 1, () => {
        // a = idx[o, p]; negative from the end
        f.get(pi).get(p).i32(2).op("i32.shl").op("i32.add").op("i32.load").set(a);
        f.get(a).i32(0).op("i32.lt_s").if(() => f.get(a).get(axisSize).op("i32.add").set(a));
        // q: byte address of [o, a, i] on the axis-sized side (valid when 0 <= a < axisSize)
        f.get(base).get(a).get(inner).op("i32.mul").get(i).op("i32.add").i32(2).op("i32.shl");
        f.op("i32.add").set(q);
        f.get(a).get(axisSize).op("i32.lt_u").set(ok); // also false for a < 0
        f.get(scatter).if(() => {
          f.get(ok).if(() => {
            f.get(q).get(q).op("f32.load");
            f.get(ob).get(p).i32(2).op("i32.shl").op("i32.add").op("f32.load");
            f.op("f32.add").op("f32.store");
          });
        }, () => {
          f.get(ok).if(() => {
            f.get(ob).get(p).i32(2).op("i32.shl").op("i32.add").get(q).op("f32.load");
            f.op("f32.store");
          }, () => {
            f.get(ob).get(p).i32(2).op("i32.shl").op("i32.add").f32(0).op("f32.store");
          });
        });
        // i = p % inner, incrementally
        f.get(i).i32(1).op("i32.add").set(i);
        f.get(i).get(inner).op("i32.eq").if(() => f.i32(0).set(i));
      });
    });
  });
}
