/**
 * Convolutions of the wasm cpu backend: im2col / col2im (SIMD where the layout allows) feeding
 * the packed SIMD gemm of gemm.ts. All four modes of the reference (conv2d, convTranspose2d and
 * their weight gradients) are split into tasks that worker threads run:
 *
 * - conv2d: task = (batch, tile of output pixels): im2col the tile, `y[b][:, tile] = W @ col`
 *   (the bias is written first and the gemm accumulates onto it).
 * - convTranspose2d: task = (batch, chunk of output channels): `col = W^T[chunk] @ x[b]`, then
 *   col2im scatters the chunk's columns into its own channels (no write conflicts).
 * - weight gradients: task = range of columns of dW (rows of the im2col matrix): for every batch
 *   and pixel tile, im2col the range (rows along pixels, unit-stride SIMD copies) and accumulate
 *   `dW[:, range] += A_b @ col^T` (the gemm packs the transposed operand in registers).
 *
 * Small images (`GROUP` > 1: the deeper layers of an image encoder, 4x4-8x8) go in groups: the
 * columns of a group's images side by side in one matrix (`copy_rows` gathers an operand the
 * same way, and scatters a conv2d's group product back to its images), so each product has
 * `GROUP * P` columns (or inner dimension, for weight gradients) instead of P = 16-64, and the
 * weights are packed once per group instead of once per image.
 *
 * `conv_task(params, t0, t1, gemmScratch, colScratch)` runs tasks [t0, t1) described by the
 * parameter block (int32 words, see {@link CW}).
 * @module
 */

import { F32, type FnBuilder, I32, type ModuleBuilder } from "./emit.ts";

/** Word indices of the conv parameter block. */
export const CW = {
  MODE: 0, // 0 conv2d, 1 convTranspose2d, 2 weight gradient
  // image geometry for im2col / col2im: channels, height, width, grid height/width
  C: 1,
  H: 2,
  W: 3,
  OH: 4,
  OW: 5,
  KH: 6,
  KW: 7,
  STRIDE: 8,
  PAD: 9,
  IMG: 10, // image pointer (bytes) of batch 0
  IMG_BATCH: 11, // image batch stride (elements)
  A: 12, // gemm A: weights (modes 0, 1) or per-batch matrix (mode 2)
  A_BATCH: 13,
  M: 14, // gemm rows: cout (0), cin (2)
  OUT: 15, // output pointer (bytes)
  OUT_BATCH: 16,
  BIAS: 17, // 0: none
  TILE: 18, // pixels per task (0, 2), channels per task (1)
  TILES: 19, // tasks per batch (0, 1)
  KCHUNK: 20, // dW columns per task (2)
  N: 21, // batch
  COUT: 22, // output channels (1): rows of W^T per channel = KH * KW
  CIN: 23, // gemm K (1)
  GROUP: 24, // images per task (modes 0, 1) or per product (2); 1: one image at a time
  XS: 25, // byte offset of the group scratch from the im2col scratch (GROUP > 1)
  WORDS: 26,
} as const;

/** Pushes `max(lo, 0)`-style bounds: the first grid index whose sample is inside [0, size). */
function bounds(
  f: FnBuilder,
  size: number,
  grid: number,
  stride: number,
  pad: number,
  k: number,
  lo: number,
  hi: number,
): void {
  // valid g: 0 <= g*stride - pad + k < size
  const a = f.local(I32);
  f.get(pad).get(k).op("i32.sub").set(a);
  f.get(a).i32(0).op("i32.le_s").if(() => f.i32(0).set(lo), () => {
    f.get(a).get(stride).op("i32.add").i32(1).op("i32.sub").get(stride).op("i32.div_s").set(lo);
  });
  f.get(size).i32(1).op("i32.sub").get(pad).op("i32.add").get(k).op("i32.sub").set(a);
  f.get(a).i32(0).op("i32.lt_s").if(() => f.i32(0).set(hi), () => {
    f.get(a).get(stride).op("i32.div_s").i32(1).op("i32.add").set(hi);
  });
  f.get(hi).get(grid).op("i32.gt_s").if(() => f.get(grid).set(hi));
  f.get(lo).get(grid).op("i32.gt_s").if(() => f.get(grid).set(lo));
  f.get(lo).get(hi).op("i32.gt_s").if(() => f.get(hi).set(lo));
}

/** Adds im2col, col2im and conv_task (needs `gemm` declared first). */
export function addConv(m: ModuleBuilder): void {
  // im2col(src, C, H, W, OH, OW, kh, kw, stride, pad, kd0, kd1, p0, p1, dst, sk, sp)
  m.func("im2col", new Array<number>(17).fill(I32), [], (f) => {
    const [src, , H, W, , OW, kh, kw, stride, pad, kd0, kd1, p0, p1, dst, sk, sp] = Array.from(
      { length: 17 },
      (_, i) => i,
    );
    const kd = f.local(I32), kx = f.local(I32), ky = f.local(I32), c = f.local(I32);
    const lo = f.local(I32), hi = f.local(I32), plane = f.local(I32), q = f.local(I32);
    const p = f.local(I32), oy = f.local(I32), ox = f.local(I32), seg = f.local(I32);
    const iy = f.local(I32), sp4 = f.local(I32), s4 = f.local(I32), srcp = f.local(I32);
    const a = f.local(I32), b = f.local(I32), x = f.local(I32);
    f.get(sp).i32(2).op("i32.shl").set(sp4);
    f.get(stride).i32(2).op("i32.shl").set(s4);
    const zeros = (n: () => void) => {
      // q[0..n) = 0 with step sp
      f.i32(0).set(x);
      f.block(() =>
        f.loop(() => {
          f.get(x);
          n();
          f.op("i32.ge_s").op("br_if", 1);
          f.get(q).f32(0).op("f32.store");
          f.get(q).get(sp4).op("i32.add").set(q);
          f.get(x).i32(1).op("i32.add").set(x);
          f.op("br", 0);
        })
      );
    };
    f.for(kd, () => f.get(kd0), () => f.get(kd1), 1, () => {
      f.get(kd).get(kw).op("i32.rem_u").set(kx);
      f.get(kd).get(kw).op("i32.div_u").set(c);
      f.get(c).get(kh).op("i32.rem_u").set(ky);
      f.get(c).get(kh).op("i32.div_u").set(c);
      bounds(f, W, OW, stride, pad, kx, lo, hi);
      f.get(src).get(c).get(H).op("i32.mul").get(W).op("i32.mul").i32(2).op("i32.shl");
      f.op("i32.add").set(plane);
      f.get(dst).get(kd).get(kd0).op("i32.sub").get(sk).op("i32.mul").i32(2).op("i32.shl");
      f.op("i32.add").set(q);
      f.get(p0).set(p);
      f.get(p0).get(OW).op("i32.div_u").set(oy);
      f.get(p0).get(OW).op("i32.rem_u").set(ox);
      f.block(() =>
        f.loop(() => {
          f.get(p).get(p1).op("i32.ge_s").op("br_if", 1);
          // seg = min(OW, ox + p1 - p)
          f.get(ox).get(p1).op("i32.add").get(p).op("i32.sub").set(seg);
          f.get(seg).get(OW).op("i32.gt_s").if(() => f.get(OW).set(seg));
          f.get(oy).get(stride).op("i32.mul").get(pad).op("i32.sub").get(ky).op("i32.add").set(iy);
          f.get(iy).i32(0).op("i32.lt_s").get(iy).get(H).op("i32.ge_s").op("i32.or").if(() => {
            zeros(() => f.get(seg).get(ox).op("i32.sub"));
          }, () => {
            // [ox, a) zeros, [a, b) copy, [b, seg) zeros with a = clamp(lo), b = clamp(hi)
            f.get(lo).get(ox).get(lo).get(ox).op("i32.gt_s").op("select").set(a);
            f.get(a).get(seg).op("i32.gt_s").if(() => f.get(seg).set(a));
            f.get(hi).get(seg).get(hi).get(seg).op("i32.lt_s").op("select").set(b);
            f.get(b).get(a).op("i32.lt_s").if(() => f.get(a).set(b));
            zeros(() => f.get(a).get(ox).op("i32.sub"));
            // source of column a
            f.get(plane).get(iy).get(W).op("i32.mul").get(a).get(stride).op("i32.mul")
              .op("i32.add").get(pad).op("i32.sub").get(kx).op("i32.add").i32(2).op("i32.shl")
              .op("i32.add").set(srcp);
            copy(f, srcp, q, sp, sp4, stride, s4, () => f.get(b).get(a).op("i32.sub"), x);
            zeros(() => f.get(seg).get(b).op("i32.sub"));
          });
          f.get(p).get(seg).op("i32.add").get(ox).op("i32.sub").set(p);
          f.i32(0).set(ox);
          f.get(oy).i32(1).op("i32.add").set(oy);
          f.op("br", 0);
        })
      );
    });
  });

  // col2im(col, C, H, W, OH, OW, kh, kw, stride, pad, c0, c1, dst, sk): dst += scattered
  // columns; column row r starts at col + r * sk (sk = OH * OW for one image's columns)
  m.func("col2im", new Array<number>(14).fill(I32), [], (f) => {
    const [col, , H, W, OH, OW, kh, kw, stride, pad, c0, c1, dst, sk] = Array.from(
      { length: 14 },
      (_, i) => i,
    );
    const kd = f.local(I32), kx = f.local(I32), ky = f.local(I32), c = f.local(I32);
    const lo = f.local(I32), hi = f.local(I32), src = f.local(I32), iy = f.local(I32);
    const oy = f.local(I32), q = f.local(I32), x = f.local(I32), s4 = f.local(I32);
    const s = f.local(I32), n = f.local(I32);
    f.get(stride).i32(2).op("i32.shl").set(s4);
    f.for(
      kd,
      () => f.get(c0).get(kh).op("i32.mul").get(kw).op("i32.mul"),
      () => {
        f.get(c1).get(kh).op("i32.mul").get(kw).op("i32.mul");
      },
      1,
      () => {
        f.get(kd).get(kw).op("i32.rem_u").set(kx);
        f.get(kd).get(kw).op("i32.div_u").set(c);
        f.get(c).get(kh).op("i32.rem_u").set(ky);
        f.get(c).get(kh).op("i32.div_u").set(c);
        bounds(f, W, OW, stride, pad, kx, lo, hi);
        // this column row: col + (kd - c0*kh*kw) * sk
        f.get(col).get(kd).get(c0).get(kh).op("i32.mul").get(kw).op("i32.mul").op("i32.sub");
        f.get(sk).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(src);
        f.for(iy, 0, () => f.get(OH), 1, () => {
          f.get(iy).get(stride).op("i32.mul").get(pad).op("i32.sub").get(ky).op("i32.add").set(oy);
          f.get(oy).i32(0).op("i32.ge_s").get(oy).get(H).op("i32.lt_s").op("i32.and").if(() => {
            // q = dst + ((c*H + oy)*W + lo*stride - pad + kx)*4
            f.get(dst).get(c).get(H).op("i32.mul").get(oy).op("i32.add").get(W).op("i32.mul");
            f.get(lo).get(stride).op("i32.mul").op("i32.add").get(pad).op("i32.sub").get(kx);
            f.op("i32.add").i32(2).op("i32.shl").op("i32.add").set(q);
            f.get(src).get(iy).get(OW).op("i32.mul").get(lo).op("i32.add").i32(2).op("i32.shl");
            f.op("i32.add").set(s);
            f.get(hi).get(lo).op("i32.sub").set(n);
            f.i32(0).set(x);
            f.get(stride).i32(1).op("i32.eq").if(() => {
              f.block(() =>
                f.loop(() => {
                  f.get(n).get(x).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
                  f.get(q).get(q).op("v128.load", 0, 2).get(s).op("v128.load", 0, 2);
                  f.op("f32x4.add").op("v128.store", 0, 2);
                  f.get(q).i32(16).op("i32.add").set(q);
                  f.get(s).i32(16).op("i32.add").set(s);
                  f.get(x).i32(4).op("i32.add").set(x);
                  f.op("br", 0);
                })
              );
            });
            f.block(() =>
              f.loop(() => {
                f.get(x).get(n).op("i32.ge_s").op("br_if", 1);
                f.get(q).get(q).op("f32.load").get(s).op("f32.load").op("f32.add").op("f32.store");
                f.get(q).get(s4).op("i32.add").set(q);
                f.get(s).i32(4).op("i32.add").set(s);
                f.get(x).i32(1).op("i32.add").set(x);
                f.op("br", 0);
              })
            );
          });
        });
      },
    );
  });

  // copy_rows(dst, ldd, src, lds, rows, n): rows of n floats (row strides in elements): gathers
  // a group's images into one matrix and scatters a group product back to its images
  m.func("copy_rows", new Array<number>(6).fill(I32), [], (f) => {
    const [dst, ldd, src, lds, rows, n] = [0, 1, 2, 3, 4, 5];
    const r = f.local(I32), x = f.local(I32), q = f.local(I32), s = f.local(I32);
    const one = f.local(I32), four = f.local(I32);
    f.i32(1).set(one);
    f.i32(4).set(four);
    f.for(r, 0, () => f.get(rows), 1, () => {
      f.get(dst).get(r).get(ldd).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(q);
      f.get(src).get(r).get(lds).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(s);
      // im2col's unit-stride copy (SIMD, then the rest one at a time)
      copy(f, s, q, one, four, one, four, () => f.get(n), x);
    });
  });

  const im2col = m.indexOf("im2col");
  const col2im = m.indexOf("col2im");
  const gemm = m.indexOf("gemm");
  const copyRows = m.indexOf("copy_rows");

  m.func("conv_task", [I32, I32, I32, I32, I32], [], (f) => {
    const [gp, t0, t1, gs, col] = [0, 1, 2, 3, 4];
    const w: Record<string, number> = {};
    for (const [name, idx] of Object.entries(CW)) {
      if (name === "WORDS") continue;
      const l = f.local(I32);
      f.get(gp).op("i32.load", idx * 4).set(l);
      w[name] = l;
    }
    const t = f.local(I32), b = f.local(I32), p0 = f.local(I32), p1 = f.local(I32);
    const P = f.local(I32), K = f.local(I32), out = f.local(I32), co = f.local(I32);
    const i = f.local(I32), np = f.local(I32), row = f.local(I32), bias = f.local(F32);
    const khkw = f.local(I32), c0 = f.local(I32), c1 = f.local(I32), k0 = f.local(I32);
    const k1 = f.local(I32), beta = f.local(I32), b0 = f.local(I32), b1 = f.local(I32);
    const xs = f.local(I32);
    f.get(w.OH).get(w.OW).op("i32.mul").set(P);
    f.get(col).get(w.XS).op("i32.add").set(xs);
    f.get(w.KH).get(w.KW).op("i32.mul").set(khkw);
    f.get(w.C).get(khkw).op("i32.mul").set(K);
    const geom = () => {
      f.get(w.C).get(w.H).get(w.W).get(w.OH).get(w.OW).get(w.KH).get(w.KW).get(w.STRIDE);
      f.get(w.PAD);
    };
    const img = (batch: number) => {
      f.get(w.IMG).get(batch).get(w.IMG_BATCH).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
    };
    /** Images [b0, b1) of group `grp` and their pixels np = (b1 - b0) * P. */
    const group = (grp: () => void) => {
      grp();
      f.get(w.GROUP).op("i32.mul").set(b0);
      f.get(b0).get(w.GROUP).op("i32.add").set(b1);
      f.get(b1).get(w.N).op("i32.gt_s").if(() => f.get(w.N).set(b1));
      f.get(b1).get(b0).op("i32.sub").get(P).op("i32.mul").set(np);
    };
    /** Pushes the address of image b's columns in a group matrix at `base`: base + (b - b0) P. */
    const groupCol = (base: number) => {
      f.get(base).get(b).get(b0).op("i32.sub").get(P).op("i32.mul").i32(2).op("i32.shl");
      f.op("i32.add");
    };
    /** Rows [0, rows) of `dst` (row stride ld, n values each) = the bias of channel `co`. */
    const fillBias = (dst: () => void, rows: () => void, ld: number, n: number) => {
      f.for(co, 0, rows, 1, () => {
        f.get(w.BIAS).get(co).i32(2).op("i32.shl").op("i32.add").op("f32.load").set(bias);
        dst();
        f.get(co).get(ld).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(row);
        f.for(i, 0, () => f.get(n), 1, () => {
          f.get(row).get(i).i32(2).op("i32.shl").op("i32.add").get(bias).op("f32.store");
        });
      });
    };
    f.for(t, () => f.get(t0), () => f.get(t1), 1, () => {
      f.get(w.MODE).i32(0).op("i32.eq").get(w.GROUP).i32(1).op("i32.gt_s").op("i32.and").if(() => {
        // conv2d over a group of images: col [K, np] of all their pixels, one product into
        // the group scratch [M, np] (bias first), then each image's columns to its output
        group(() => f.get(t));
        f.for(b, () => f.get(b0), () => f.get(b1), 1, () => {
          img(b);
          geom();
          f.i32(0).get(K).i32(0).get(P);
          groupCol(col);
          f.get(np).i32(1).op("call", im2col);
        });
        f.get(w.BIAS).if(() => fillBias(() => f.get(xs), () => f.get(w.M), np, np));
        f.get(w.A).get(K).i32(1).get(col).get(np).i32(1).get(xs).get(np).i32(0).get(w.M);
        f.get(np).get(K).get(gs).get(w.BIAS).i32(0).op("i32.ne").op("call", gemm);
        f.for(b, () => f.get(b0), () => f.get(b1), 1, () => {
          f.get(w.OUT).get(b).get(w.OUT_BATCH).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
          f.get(P);
          groupCol(xs);
          f.get(np).get(w.M).get(P).op("call", copyRows);
        });
      });
      f.get(w.MODE).i32(0).op("i32.eq").get(w.GROUP).i32(1).op("i32.le_s").op("i32.and").if(() => {
        // conv2d: (batch, pixel tile)
        f.get(t).get(w.TILES).op("i32.div_u").set(b);
        f.get(t).get(w.TILES).op("i32.rem_u").get(w.TILE).op("i32.mul").set(p0);
        f.get(p0).get(w.TILE).op("i32.add").set(p1);
        f.get(p1).get(P).op("i32.gt_s").if(() => f.get(P).set(p1));
        f.get(p1).get(p0).op("i32.sub").set(np);
        img(b);
        geom();
        f.i32(0).get(K).get(p0).get(p1).get(col).get(np).i32(1).op("call", im2col);
        // out = y + (b*OUT_BATCH + p0)*4
        f.get(w.OUT).get(b).get(w.OUT_BATCH).op("i32.mul").get(p0).op("i32.add").i32(2);
        f.op("i32.shl").op("i32.add").set(out);
        f.get(w.BIAS).if(() => fillBias(() => f.get(out), () => f.get(w.M), P, np));
        f.get(w.A).get(K).i32(1).get(col).get(np).i32(1).get(out).get(P).i32(0).get(w.M);
        f.get(np).get(K).get(gs).get(w.BIAS).i32(0).op("i32.ne").op("call", gemm);
      });
      f.get(w.MODE).i32(1).op("i32.eq").if(() => {
        // convTranspose2d: (group of images, channel chunk); grid = input pixels (OH x OW).
        // The group's inputs side by side in the group scratch [CIN, np] (one image: read in
        // place), col[(c0..c1)*khkw, np] = W^T rows @ them, then col2im per image.
        group(() => f.get(t).get(w.TILES).op("i32.div_u"));
        f.get(t).get(w.TILES).op("i32.rem_u").get(w.TILE).op("i32.mul").set(c0);
        f.get(c0).get(w.TILE).op("i32.add").set(c1);
        f.get(c1).get(w.COUT).op("i32.gt_s").if(() => f.get(w.COUT).set(c1));
        f.get(w.GROUP).i32(1).op("i32.gt_s").if(() => {
          f.for(b, () => f.get(b0), () => f.get(b1), 1, () => {
            groupCol(xs);
            f.get(np);
            img(b);
            f.get(P).get(w.CIN).get(P).op("call", copyRows);
          });
          f.get(xs).set(row);
        }, () => {
          img(b0);
          f.set(row);
        });
        f.get(w.A).get(c0).get(khkw).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
        f.i32(1).get(w.COUT).get(khkw).op("i32.mul");
        f.get(row).get(np).i32(1).get(col).get(np).i32(0);
        f.get(c1).get(c0).op("i32.sub").get(khkw).op("i32.mul");
        f.get(np).get(w.CIN).get(gs).i32(0).op("call", gemm);
        f.for(b, () => f.get(b0), () => f.get(b1), 1, () => {
          // output image b: channels [c0, c1) = bias (or 0), then scatter-add
          f.get(w.OUT).get(b).get(w.OUT_BATCH).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
          f.set(out);
          f.for(co, () => f.get(c0), () => f.get(c1), 1, () => {
            f.f32(0).set(bias);
            f.get(w.BIAS).if(() => {
              f.get(w.BIAS).get(co).i32(2).op("i32.shl").op("i32.add").op("f32.load").set(bias);
            });
            f.get(out).get(co).get(w.H).op("i32.mul").get(w.W).op("i32.mul").i32(2)
              .op("i32.shl").op("i32.add").set(row);
            f.for(i, 0, () => f.get(w.H).get(w.W).op("i32.mul"), 1, () => {
              f.get(row).get(i).i32(2).op("i32.shl").op("i32.add").get(bias).op("f32.store");
            });
          });
          groupCol(col);
          f.get(w.COUT).get(w.H).get(w.W).get(w.OH).get(w.OW).get(w.KH).get(w.KW);
          f.get(w.STRIDE).get(w.PAD).get(c0).get(c1).get(out).get(np).op("call", col2im);
        });
      });
      f.get(w.MODE).i32(2).op("i32.eq").if(() => {
        // weight gradient: dW[:, k0:k1] = sum_b A_b @ im2col(img_b)[k0:k1]^T
        f.get(t).get(w.KCHUNK).op("i32.mul").set(k0);
        f.get(k0).get(w.KCHUNK).op("i32.add").set(k1);
        f.get(k1).get(K).op("i32.gt_s").if(() => f.get(K).set(k1));
        f.get(k1).get(k0).op("i32.sub").set(c1); // c1 = columns of this task
        f.i32(0).set(beta);
        // a group of images (small images): dY of each side by side in the group scratch [M,
        // np], their im2col rows likewise, one product over all their pixels
        f.get(w.GROUP).i32(1).op("i32.gt_s").if(() => {
          f.i32(0).set(i);
          f.block(() =>
            f.loop(() => {
              f.get(i).get(w.N).get(w.GROUP).op("i32.add").i32(1).op("i32.sub").get(w.GROUP)
                .op("i32.div_u").op("i32.ge_u").op("br_if", 1);
              group(() => f.get(i));
              f.for(b, () => f.get(b0), () => f.get(b1), 1, () => {
                groupCol(xs);
                f.get(np);
                f.get(w.A).get(b).get(w.A_BATCH).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
                f.get(P).get(w.M).get(P).op("call", copyRows);
                img(b);
                geom();
                f.get(k0).get(k1).i32(0).get(P);
                groupCol(col);
                f.get(np).i32(1).op("call", im2col);
              });
              f.get(xs).get(np).i32(1).get(col).i32(1).get(np);
              f.get(w.OUT).get(k0).i32(2).op("i32.shl").op("i32.add").get(K);
              f.i32(0).get(w.M).get(c1).get(np).get(gs).get(beta).op("call", gemm);
              f.i32(1).set(beta);
              f.get(i).i32(1).op("i32.add").set(i);
              f.op("br", 0);
            })
          );
        });
        // one image at a time, in pixel tiles (no images when grouped)
        const ungrouped = () => {
          f.get(w.N).i32(0).get(w.GROUP).i32(1).op("i32.le_s").op("select");
        };
        f.for(b, 0, ungrouped, 1, () => {
          f.i32(0).set(p0);
          f.block(() =>
            f.loop(() => {
              f.get(p0).get(P).op("i32.ge_s").op("br_if", 1);
              f.get(p0).get(w.TILE).op("i32.add").set(p1);
              f.get(p1).get(P).op("i32.gt_s").if(() => f.get(P).set(p1));
              f.get(p1).get(p0).op("i32.sub").set(np);
              img(b);
              geom();
              // col [c1, np] row-major (unit-stride, SIMD copies); the gemm reads it as
              // B = col^T [np, c1] (k-contiguous: packed with in-register transposes)
              f.get(k0).get(k1).get(p0).get(p1).get(col).get(np).i32(1).op("call", im2col);
              // A_b + p0 (rows of P), B = col^T [np, c1], C = dW + k0 (ldc K)
              f.get(w.A).get(b).get(w.A_BATCH).op("i32.mul").get(p0).op("i32.add").i32(2);
              f.op("i32.shl").op("i32.add").get(P).i32(1);
              f.get(col).i32(1).get(np);
              f.get(w.OUT).get(k0).i32(2).op("i32.shl").op("i32.add").get(K);
              f.i32(0).get(w.M).get(c1).get(np).get(gs).get(beta).op("call", gemm);
              f.i32(1).set(beta);
              f.get(p1).set(p0);
              f.op("br", 0);
            })
          );
        });
      });
    });
  });
}

/** Copies n() elements from srcp (step stride) to q (step sp), advancing both. */
function copy(
  f: FnBuilder,
  srcp: number,
  q: number,
  sp: number,
  sp4: number,
  stride: number,
  s4: number,
  n: () => void,
  x: number,
): void {
  f.i32(0).set(x);
  // SIMD when both sides are unit-stride (or stride 2 with a shuffle)
  f.get(sp).i32(1).op("i32.eq").if(() => {
    f.get(stride).i32(1).op("i32.eq").if(() => {
      f.block(() =>
        f.loop(() => {
          n();
          f.get(x).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
          f.get(q).get(srcp).op("v128.load", 0, 2).op("v128.store", 0, 2);
          f.get(q).i32(16).op("i32.add").set(q);
          f.get(srcp).i32(16).op("i32.add").set(srcp);
          f.get(x).i32(4).op("i32.add").set(x);
          f.op("br", 0);
        })
      );
    });
    f.get(stride).i32(2).op("i32.eq").if(() => {
      f.block(() =>
        f.loop(() => {
          n();
          f.get(x).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
          f.get(q).get(srcp).op("v128.load", 0, 2).get(srcp).op("v128.load", 16, 2);
          f.shuffle([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
          f.op("v128.store", 0, 2);
          f.get(q).i32(16).op("i32.add").set(q);
          f.get(srcp).i32(32).op("i32.add").set(srcp);
          f.get(x).i32(4).op("i32.add").set(x);
          f.op("br", 0);
        })
      );
    });
  });
  f.block(() =>
    f.loop(() => {
      f.get(x);
      n();
      f.op("i32.ge_s").op("br_if", 1);
      f.get(q).get(srcp).op("f32.load").op("f32.store");
      f.get(q).get(sp4).op("i32.add").set(q);
      f.get(srcp).get(s4).op("i32.add").set(srcp);
      f.get(x).i32(1).op("i32.add").set(x);
      f.op("br", 0);
    })
  );
}
