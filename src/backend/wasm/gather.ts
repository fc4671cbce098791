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
 *
 * A gather whose index is the same along a whole `inner` row (an index_select, e.g. picking
 * ensemble heads: indices `[k]` expanded over the row) copies that row four floats at a time;
 * other rows go element by element. The values are the same either way.
 * @module
 */

import { F32, type FnBuilder, I32, type ModuleBuilder, V128 } from "./emit.ts";

/** Adds `gather_run` to a module (memory must be imported). */
export function addGather(m: ModuleBuilder): void {
  m.func("gather_run", new Array<number>(9).fill(I32), [], (f) => {
    const [src, idx, out, o0, o1, axisSize, nIdx, inner, scatter] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const o = f.local(I32), p = f.local(I32), np = f.local(I32), a = f.local(I32);
    const pi = f.local(I32), i = f.local(I32), base = f.local(I32), q = f.local(I32);
    const ob = f.local(I32), off = f.local(I32);
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
      f.get(scatter).op("i32.eqz").if(
        () => gatherRows(f, [pi, base, ob, axisSize, nIdx, inner]),
        () => {
          // scatter-add, element by element in the reference's order
          f.i32(0).set(i);
          f.for(p, 0, () => f.get(np), 1, () => {
            // a = idx[o, p]; negative from the end
            f.get(pi).get(p).i32(2).op("i32.shl").op("i32.add").op("i32.load").set(a);
            f.get(a).i32(0).op("i32.lt_s").if(() => f.get(a).get(axisSize).op("i32.add").set(a));
            // q: byte address of [o, a, i] on the axis-sized side (valid when 0 <= a < axisSize)
            f.get(base).get(a).get(inner).op("i32.mul").get(i).op("i32.add").i32(2).op("i32.shl");
            f.op("i32.add").set(q);
            f.get(a).get(axisSize).op("i32.lt_u").if(() => { // also false for a < 0
              f.get(q).get(q).op("f32.load");
              f.get(ob).get(p).i32(2).op("i32.shl").op("i32.add").op("f32.load");
              f.op("f32.add").op("f32.store");
            });
            // i = p % inner, incrementally
            f.get(i).i32(1).op("i32.add").set(i);
            f.get(i).get(inner).op("i32.eq").if(() => f.i32(0).set(i));
          });
        },
      );
    });
  });
}

/**
 * The gather of one outer row: for each of its `nIdx` index rows, a uniform index copies the
 * source row with v128 loads (an out-of-range index writes zeros), else element by element.
 * Locals: `pi` the byte address of the row's indices, `base` of the source row `[o, 0, 0]`,
 * `ob` of the output row.
 */
function gatherRows(f: FnBuilder, [pi, base, ob, axisSize, nIdx, inner]: number[]): void {
  const j = f.local(I32), ri = f.local(I32), dst = f.local(I32), a = f.local(I32);
  const c = f.local(I32), uni = f.local(I32), src = f.local(I32), x = f.local(I32);
  const av = f.local(V128);
  const addr = (ptr: number) => f.get(ptr).get(c).i32(2).op("i32.shl").op("i32.add");
  f.for(j, 0, () => f.get(nIdx), 1, () => {
    // ri, dst: byte addresses of idx[o, j, 0] and out[o, j, 0]
    f.get(j).get(inner).op("i32.mul").i32(2).op("i32.shl").set(x);
    f.get(pi).get(x).op("i32.add").set(ri);
    f.get(ob).get(x).op("i32.add").set(dst);
    f.get(ri).op("i32.load").set(a);
    // uniform row? (4 indices at a time, then the tail)
    f.get(a).op("i32x4.splat").set(av);
    f.i32(1).set(uni);
    f.i32(0).set(c);
    f.block(() =>
      f.loop(() => {
        f.get(inner).get(c).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
        addr(ri).op("v128.load", 0, 2).get(av).op("i32x4.eq").op("i32x4.all_true").set(uni);
        f.get(uni).op("i32.eqz").op("br_if", 1);
        f.get(c).i32(4).op("i32.add").set(c);
        f.op("br", 0);
      })
    );
    f.for(c, () => f.get(c), () => f.get(inner), 1, () => {
      addr(ri).op("i32.load").get(a).op("i32.ne").if(() => f.i32(0).set(uni));
    });
    f.get(uni).if(() => {
      f.get(a).i32(0).op("i32.lt_s").if(() => f.get(a).get(axisSize).op("i32.add").set(a));
      f.get(a).get(axisSize).op("i32.lt_u").if(() => {
        // copy source row a
        f.get(base).get(a).get(inner).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(src);
        f.i32(0).set(c);
        f.block(() =>
          f.loop(() => {
            f.get(inner).get(c).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
            addr(dst);
            addr(src).op("v128.load", 0, 2);
            f.op("v128.store", 0, 2);
            f.get(c).i32(4).op("i32.add").set(c);
            f.op("br", 0);
          })
        );
        f.for(c, () => f.get(c), () => f.get(inner), 1, () => {
          addr(dst);
          addr(src).op("f32.load");
          f.op("f32.store");
        });
      }, () => {
        f.for(c, 0, () => f.get(inner), 1, () => addr(dst).f32(0).op("f32.store"));
      });
    }, () => {
      f.for(c, 0, () => f.get(inner), 1, () => {
        addr(ri).op("i32.load").set(a);
        f.get(a).i32(0).op("i32.lt_s").if(() => f.get(a).get(axisSize).op("i32.add").set(a));
        addr(dst);
        f.get(a).get(axisSize).op("i32.lt_u").if(
          () => {
            f.get(base).get(a).get(inner).op("i32.mul").get(c).op("i32.add").i32(2).op("i32.shl");
            f.op("i32.add").op("f32.load");
          },
          () => f.f32(0),
          F32,
        );
        f.op("f32.store");
      });
    });
  });
}
