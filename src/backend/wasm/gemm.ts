/**
 * SIMD matrix multiplication for the wasm cpu backend, generated with the emitter.
 *
 * BLIS-style: B is packed into column panels of NR = 8 (k-major), A into row panels of MR = 4,
 * and a 4x8 micro-kernel keeps 8 f32x4 accumulators in registers, broadcasting A values with
 * `v128.load32_splat` and multiplying with relaxed fused multiply-adds. Packing reads operands
 * through arbitrary strides, so A^T, B^T and broadcast operands run as fast as plain ones.
 *
 * Exported: `gemm(a, sam, sak, b, sbk, sbn, c, ldc, m0, m1, n, k, scratch, beta)` computes rows
 * [m0, m1) of C = A @ B (C row-major with leading dimension ldc), or C += A @ B when `beta` is 1
 * (omitted: 0); pointers are byte offsets, strides are in elements; `scratch` needs
 * `gemmScratchBytes` bytes.
 * @module
 */

import { F32, type FnBuilder, I32, type ModuleBuilder, V128 } from "./emit.ts";

/** Rows per micro-tile. */
export const MR = 4;
/**
 * k steps per iteration of the micro-kernel's loop: two halve the loop's pointer and branch
 * work per multiply-add (a 512 x 512 x 512 product on one thread ~10% less CPU time, the
 * `tdmpc2:5m` plan 10-15%; more did not help, nor 5 or 6 rows per tile).
 */
const KU = 2;
/** Columns per micro-tile. */
export const NR = 8;
/** K block (packed panels stay in L1/L2). */
export const KC = 256;
/** N block. */
export const NC = 512;

/** Scratch bytes one gemm call needs (packed A panel + packed B block). */
export const gemmScratchBytes: number = (MR * KC + KC * NC) * 4 + 64;

/** Byte pattern of an i8x16.shuffle picking f32 lanes (0-3: first operand, 4-7: second). */
function lanes(l: readonly number[]): number[] {
  return l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
}

/**
 * Transposes the 4x4 block in v128 locals `r` (rows) into `c` (columns), with `t` as scratch
 * (eight shuffles: unpack low/high, then move low/high halves).
 */
function transpose4(
  f: FnBuilder,
  r: readonly number[],
  c: readonly number[],
  t: readonly number[],
) {
  for (const [x, y, d] of [[0, 1, 0], [2, 3, 2]]) {
    f.get(r[x]).get(r[y]).shuffle(lanes([0, 4, 1, 5])).set(t[d]);
    f.get(r[x]).get(r[y]).shuffle(lanes([2, 6, 3, 7])).set(t[d + 1]);
  }
  f.get(t[0]).get(t[2]).shuffle(lanes([0, 1, 4, 5])).set(c[0]);
  f.get(t[0]).get(t[2]).shuffle(lanes([2, 3, 6, 7])).set(c[1]);
  f.get(t[1]).get(t[3]).shuffle(lanes([0, 1, 4, 5])).set(c[2]);
  f.get(t[1]).get(t[3]).shuffle(lanes([2, 3, 6, 7])).set(c[3]);
}

/** Adds the gemm functions to a module (memory must be imported). */
export function addGemm(m: ModuleBuilder): void {
  // packB(b, sbk, sbn, kc, nc, dst): dst[p][k][0..8) = B[k][p*8 + j], zero-padded.
  m.func("gemm_packB", [I32, I32, I32, I32, I32, I32], [], (f) => {
    const [b, sbk, sbn, kc, nc, dst] = [0, 1, 2, 3, 4, 5];
    const p = f.local(I32), k = f.local(I32), j = f.local(I32), cols = f.local(I32);
    const src = f.local(I32), out = f.local(I32), sbk4 = f.local(I32), sbn4 = f.local(I32);
    const k0 = f.local(I32), po = f.local(I32);
    const cp = Array.from({ length: NR }, () => f.local(I32));
    const v = Array.from({ length: NR }, () => f.local(V128));
    const w = Array.from({ length: NR }, () => f.local(V128));
    const t = Array.from({ length: 4 }, () => f.local(V128));
    f.get(sbk).i32(2).op("i32.shl").set(sbk4);
    f.get(sbn).i32(2).op("i32.shl").set(sbn4);
    f.get(dst).set(out);
    f.for(p, 0, () => f.get(nc), NR, () => {
      // cols = min(8, nc - p)
      f.get(nc).get(p).op("i32.sub").set(cols);
      f.get(cols).i32(NR).op("i32.gt_s").if(() => {
        f.i32(NR).set(cols);
      });
      f.get(sbk).i32(1).op("i32.eq").get(sbn).i32(1).op("i32.ne").op("i32.and").if(() => {
        // k-contiguous B (a transposed operand). Full panels: 4 k at a time, eight columns
        // loaded as vectors and transposed in registers; the k tail and partial panels walk
        // each column along k, scattered into the panel (missing columns are zero).
        f.i32(0).set(k0);
        f.get(cols).i32(NR).op("i32.eq").if(() => {
          for (let q = 0; q < NR; q++) {
            f.get(b).get(p).i32(q).op("i32.add").get(sbn4).op("i32.mul").op("i32.add").set(cp[q]);
          }
          f.get(kc).i32(-4).op("i32.and").set(k0);
          f.get(out).set(po);
          f.for(k, 0, () => f.get(k0), 4, () => {
            for (let q = 0; q < NR; q++) {
              f.get(cp[q]).op("v128.load", 0, 2).set(v[q]);
              f.get(cp[q]).i32(16).op("i32.add").set(cp[q]);
            }
            transpose4(f, v.slice(0, 4), w.slice(0, 4), t);
            transpose4(f, v.slice(4, 8), w.slice(4, 8), t);
            for (let q = 0; q < 4; q++) {
              f.get(po).get(w[q]).op("v128.store", q * NR * 4, 2);
              f.get(po).get(w[4 + q]).op("v128.store", q * NR * 4 + 16, 2);
            }
            f.get(po).i32(4 * NR * 4).op("i32.add").set(po);
          });
        });
        f.for(j, 0, NR, 1, () => {
          f.get(b).get(p).get(j).op("i32.add").get(sbn4).op("i32.mul").op("i32.add").set(src);
          f.for(k, () => f.get(k0), () => f.get(kc), 1, () => {
            f.get(out).get(k).i32(NR * 4).op("i32.mul").op("i32.add").get(j).i32(2).op("i32.shl")
              .op("i32.add");
            f.get(j).get(cols).op("i32.lt_s").if(() => {
              f.get(src).get(k).i32(2).op("i32.shl").op("i32.add").op("f32.load");
            }, () => {
              f.f32(0);
            }, F32);
            f.op("f32.store");
          });
        });
        f.get(out).get(kc).i32(NR * 4).op("i32.mul").op("i32.add").set(out);
      }, () => {
        f.for(k, 0, () => f.get(kc), 1, () => {
          // src = b + k*sbk4 + p*sbn4
          f.get(b).get(k).get(sbk4).op("i32.mul").op("i32.add").get(p).get(sbn4).op("i32.mul")
            .op("i32.add").set(src);
          f.get(cols).i32(NR).op("i32.eq").get(sbn).i32(1).op("i32.eq").op("i32.and").if(() => {
            f.get(out).get(src).op("v128.load", 0, 2).op("v128.store", 0, 2);
            f.get(out).get(src).op("v128.load", 16, 2).op("v128.store", 16, 2);
          }, () => {
            f.for(j, 0, NR, 1, () => {
              f.get(out).get(j).i32(2).op("i32.shl").op("i32.add");
              f.get(j).get(cols).op("i32.lt_s").if(() => {
                f.get(src).get(j).get(sbn4).op("i32.mul").op("i32.add").op("f32.load");
              }, () => {
                f.f32(0);
              }, F32);
              f.op("f32.store");
            });
          });
          f.get(out).i32(NR * 4).op("i32.add").set(out);
        });
      });
    });
  });

  // packA(a, sam, sak, rows, kc, dst): dst[k][0..4) = A[i][k] for i < rows, zero-padded.
  m.func("gemm_packA", [I32, I32, I32, I32, I32, I32], [], (f) => {
    const [a, sam, sak, rows, kc, dst] = [0, 1, 2, 3, 4, 5];
    const k = f.local(I32), i = f.local(I32), out = f.local(I32), sam4 = f.local(I32);
    const sak4 = f.local(I32), src = f.local(I32), k0 = f.local(I32);
    const rp = Array.from({ length: MR }, () => f.local(I32));
    const v = Array.from({ length: MR }, () => f.local(V128));
    const w = Array.from({ length: MR }, () => f.local(V128));
    const t = Array.from({ length: 4 }, () => f.local(V128));
    f.get(sam).i32(2).op("i32.shl").set(sam4);
    f.get(sak).i32(2).op("i32.shl").set(sak4);
    f.get(dst).set(out);
    f.i32(0).set(k0);
    f.get(rows).i32(MR).op("i32.eq").get(sak).i32(1).op("i32.eq").op("i32.and").if(() => {
      // Row-major A (k contiguous): 4 k at a time, the 4 rows loaded as vectors and transposed
      // in registers; the k tail below.
      for (let r = 0; r < MR; r++) {
        f.get(a).i32(r).get(sam4).op("i32.mul").op("i32.add").set(rp[r]);
      }
      f.get(kc).i32(-4).op("i32.and").set(k0);
      f.for(k, 0, () => f.get(k0), 4, () => {
        for (let r = 0; r < MR; r++) {
          f.get(rp[r]).op("v128.load", 0, 2).set(v[r]);
          f.get(rp[r]).i32(16).op("i32.add").set(rp[r]);
        }
        transpose4(f, v, w, t);
        for (let q = 0; q < 4; q++) f.get(out).get(w[q]).op("v128.store", q * MR * 4, 2);
        f.get(out).i32(4 * MR * 4).op("i32.add").set(out);
      });
    });
    f.for(k, () => f.get(k0), () => f.get(kc), 1, () => {
      f.get(a).get(k).get(sak4).op("i32.mul").op("i32.add").set(src);
      f.get(rows).i32(MR).op("i32.eq").get(sam).i32(1).op("i32.eq").op("i32.and").if(() => {
        f.get(out).get(src).op("v128.load", 0, 2).op("v128.store", 0, 2);
      }, () => {
        f.for(i, 0, MR, 1, () => {
          f.get(out).get(i).i32(2).op("i32.shl").op("i32.add");
          f.get(i).get(rows).op("i32.lt_s").if(() => {
            f.get(src).get(i).get(sam4).op("i32.mul").op("i32.add").op("f32.load");
          }, () => {
            f.f32(0);
          }, F32);
          f.op("f32.store");
        });
      });
      f.get(out).i32(MR * 4).op("i32.add").set(out);
    });
  });

  // micro(ap, bp, kc, c, ldc4, rows, cols, accumulate): the 4x8 tile.
  m.func("gemm_micro", [I32, I32, I32, I32, I32, I32, I32, I32], [], (f) => micro(f));

  const packB = m.indexOf("gemm_packB");
  const packA = m.indexOf("gemm_packA");
  const microIdx = m.indexOf("gemm_micro");

  // gemm(a, sam, sak, b, sbk, sbn, c, ldc, m0, m1, n, k, scratch, beta), and gemm_pp with the
  // same arguments where b is B packed in blocks (KC x NC block (kk, nn) at b + (kk * npad +
  // nn * kc) floats, npad = n rounded up to NR; see packTasks in backend.ts) and sbk its npad
  // (sbn unused).
  const params = new Array<number>(14).fill(I32);
  for (const prepacked of [false, true]) {
    m.func(prepacked ? "gemm_pp" : "gemm", params, [], (f) => {
      const [a, sam, sak, b, sbk, sbn, c, ldc, m0, m1, n, K, scratch, beta] = [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
      ];
      const kk = f.local(I32), kc = f.local(I32), nn = f.local(I32), nc = f.local(I32);
      const mm = f.local(I32), rows = f.local(I32), p = f.local(I32), cols = f.local(I32);
      const bpack = f.local(I32), ldc4 = f.local(I32);
      f.get(scratch).i32(MR * KC * 4).op("i32.add").set(bpack);
      f.get(ldc).i32(2).op("i32.shl").set(ldc4);
      forBlocks(f, K, n, kk, kc, nn, nc, () => {
        if (prepacked) {
          // block (kk, nn) of the packed B
          f.get(b).get(kk).get(sbk).op("i32.mul").get(nn).get(kc).op("i32.mul").op("i32.add")
            .i32(2).op("i32.shl").op("i32.add").set(bpack);
        } else {
          // pack B[kk:kk+kc, nn:nn+nc]
          f.get(b).get(kk).get(sbk).op("i32.mul").get(nn).get(sbn).op("i32.mul").op("i32.add")
            .i32(2).op("i32.shl").op("i32.add");
          f.get(sbk).get(sbn).get(kc).get(nc).get(bpack).op("call", packB);
        }
        f.for(mm, () => f.get(m0), () => f.get(m1), MR, () => {
          f.get(m1).get(mm).op("i32.sub").set(rows);
          f.get(rows).i32(MR).op("i32.gt_s").if(() => f.i32(MR).set(rows));
          // pack A[mm:mm+rows, kk:kk+kc]
          f.get(a).get(mm).get(sam).op("i32.mul").get(kk).get(sak).op("i32.mul").op("i32.add")
            .i32(2).op("i32.shl").op("i32.add");
          f.get(sam).get(sak).get(rows).get(kc).get(scratch).op("call", packA);
          f.for(p, 0, () => f.get(nc), NR, () => {
            f.get(nc).get(p).op("i32.sub").set(cols);
            f.get(cols).i32(NR).op("i32.gt_s").if(() => f.i32(NR).set(cols));
            f.get(scratch);
            f.get(bpack).get(p).get(kc).op("i32.mul").i32(2).op("i32.shl").op("i32.add");
            f.get(kc);
            // c + (mm * ldc + nn + p) * 4
            f.get(c).get(mm).get(ldc).op("i32.mul").get(nn).op("i32.add").get(p).op("i32.add")
              .i32(2).op("i32.shl").op("i32.add");
            f.get(ldc4).get(rows).get(cols).get(kk).i32(0).op("i32.gt_s").get(beta).op("i32.or");
            f.op("call", microIdx);
          });
        });
      });
    });
  }
}

/**
 * Emits the loops over the KC x NC blocks of a k x n operand: `kk`/`nn` step over the block
 * origins, `kc`/`nc` hold each block's size (the last ones may be smaller).
 */
function forBlocks(
  f: FnBuilder,
  K: number,
  n: number,
  kk: number,
  kc: number,
  nn: number,
  nc: number,
  body: () => void,
): void {
  f.for(kk, 0, () => f.get(K), KC, () => {
    f.get(K).get(kk).op("i32.sub").set(kc);
    f.get(kc).i32(KC).op("i32.gt_s").if(() => f.i32(KC).set(kc));
    f.for(nn, 0, () => f.get(n), NC, () => {
      f.get(n).get(nn).op("i32.sub").set(nc);
      f.get(nc).i32(NC).op("i32.gt_s").if(() => f.i32(NC).set(nc));
      body();
    });
  });
}

/** The 4x8 micro-kernel body, its k loop unrolled `KU` times (the k tail one at a time). */
function micro(f: FnBuilder): void {
  const [ap, bp, kc, c, ldc4, rows, cols, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7];
  const acc = Array.from({ length: 2 * MR }, () => f.local(V128));
  const b0 = f.local(V128), b1 = f.local(V128), av = f.local(V128);
  const k = f.local(I32), pa = f.local(I32), pb = f.local(I32), kEnd = f.local(I32);
  const tmp = f.local(V128), addr = f.local(I32);
  for (const x of acc) f.v128f(0).set(x);
  f.get(ap).set(pa);
  f.get(bp).set(pb);
  const step = (u: number) => {
    f.get(pb).op("v128.load", u * NR * 4, 2).set(b0);
    f.get(pb).op("v128.load", u * NR * 4 + 16, 2).set(b1);
    for (let r = 0; r < MR; r++) {
      f.get(pa).op("v128.load32_splat", (u * MR + r) * 4, 2).set(av);
      f.get(av).get(b0).get(acc[2 * r]).op("f32x4.relaxed_madd").set(acc[2 * r]);
      f.get(av).get(b1).get(acc[2 * r + 1]).op("f32x4.relaxed_madd").set(acc[2 * r + 1]);
    }
  };
  f.get(kc).i32(-KU).op("i32.and").set(kEnd);
  const body = () => {
    for (let u = 0; u < KU; u++) step(u);
    f.get(pa).i32(KU * MR * 4).op("i32.add").set(pa);
    f.get(pb).i32(KU * NR * 4).op("i32.add").set(pb);
  };
  // do { body; k += KU } while (k < kEnd): one branch per iteration; entered when kEnd > 0
  f.i32(0).set(k);
  f.get(kEnd).i32(0).op("i32.gt_s").if(() => {
    f.loop(() => {
      body();
      f.get(k).i32(KU).op("i32.add").tee(k).get(kEnd).op("i32.lt_s").op("br_if", 0);
    });
  });
  f.for(k, () => f.get(kEnd), () => f.get(kc), 1, () => {
    step(0);
    f.get(pa).i32(MR * 4).op("i32.add").set(pa);
    f.get(pb).i32(NR * 4).op("i32.add").set(pb);
  });
  // Write back: full tiles with vector stores, edges lane by lane.
  f.get(rows).i32(MR).op("i32.eq").get(cols).i32(NR).op("i32.eq").op("i32.and").if(() => {
    for (let r = 0; r < MR; r++) {
      for (let h = 0; h < 2; h++) {
        f.get(c).get(ldc4).i32(r).op("i32.mul").op("i32.add").set(addr);
        f.get(addr);
        f.get(accumulate).if(() => {
          f.get(addr).op("v128.load", h * 16, 2).get(acc[2 * r + h]).op("f32x4.add");
        }, () => {
          f.get(acc[2 * r + h]);
        }, V128);
        f.op("v128.store", h * 16, 2);
      }
    }
  }, () => {
    // Spill the accumulators to the stack-free path: per row, per column.
    for (let r = 0; r < MR; r++) {
      f.i32(r).get(rows).op("i32.lt_s").if(() => {
        for (let h = 0; h < 2; h++) {
          f.get(acc[2 * r + h]).set(tmp);
          for (let l = 0; l < 4; l++) {
            f.i32(h * 4 + l).get(cols).op("i32.lt_s").if(() => {
              f.get(c).get(ldc4).i32(r).op("i32.mul").op("i32.add").i32((h * 4 + l) * 4).op(
                "i32.add",
              )
                .set(addr);
              f.get(addr);
              f.get(tmp).op("f32x4.extract_lane", l);
              f.get(addr).op("f32.load").f32(0).get(accumulate).op("select");
              f.op("f32.add");
              f.op("f32.store");
            });
          }
        }
      });
    }
  });
}

/**
 * Adds `gemm_small(a, sam, sak, b, sbk, sbn, c, ldc, m, n, k, bias)`: an unpacked SIMD matmul
 * for small products (the per-step matmuls of a recurrent cell, heads on a few rows), where
 * packing would cost more than the product; `bias` 0, or the byte address of n floats added to
 * every row (a Linear layer's `x W^T + b` in one pass, the sum starting from the bias as in
 * PyTorch's addmm). Two layouts are handled:
 * - B contiguous along n (`sbn == 1`): each row of C is built 8 columns at a time from a
 *   broadcast of A[i, k] times two vectors of B's row k;
 * - A and B contiguous along k (`sak == sbk == 1`, e.g. x @ W^T of a Linear layer): four
 *   columns at a time as dot products along k, with the 4 partial sums transposed together.
 * Vector loads may read up to 28 bytes past a row (inside the heap; the values are unused).
 */
export function addSmallGemm(m: ModuleBuilder): void {
  m.func("gemm_small", new Array<number>(12).fill(I32), [], (f) => {
    const [a, sam, sak, b, sbk, sbn, c, ldc, M, N, K, bias] = [...Array(12).keys()];
    const i = f.local(I32), j = f.local(I32), kk = f.local(I32), pa = f.local(I32);
    const pb = f.local(I32), pc = f.local(I32), rem = f.local(I32), lane = f.local(I32);
    const acc0 = f.local(V128), acc1 = f.local(V128), av = f.local(V128);
    const acc2 = f.local(V128), acc3 = f.local(V128), t = f.local(V128);
    const sak4 = f.local(I32), sbk4 = f.local(I32), sam4 = f.local(I32), sbn4 = f.local(I32);
    const ldc4 = f.local(I32), s = f.local(F32), pb1 = f.local(I32), pb2 = f.local(I32);
    const pb3 = f.local(I32);
    f.get(sak).i32(2).op("i32.shl").set(sak4);
    f.get(sbk).i32(2).op("i32.shl").set(sbk4);
    f.get(sam).i32(2).op("i32.shl").set(sam4);
    f.get(sbn).i32(2).op("i32.shl").set(sbn4);
    f.get(ldc).i32(2).op("i32.shl").set(ldc4);
    const sv = f.local(F32);
    // Stores the low `rem` lanes (1..4) of `vec` at `addr`.
    const storeLanes = (addr: () => void, vec: number) => {
      f.get(rem).i32(4).op("i32.ge_s").if(() => {
        addr();
        f.get(vec).op("v128.store", 0, 2);
      }, () => {
        f.for(lane, 0, () => f.get(rem), 1, () => {
          // lane `lane` (dynamic, < 3): select(a, b, c) is c ? a : b
          f.get(vec).op("f32x4.extract_lane", 1).get(vec).op("f32x4.extract_lane", 0);
          f.get(lane).i32(1).op("i32.eq").op("select").set(sv);
          f.get(vec).op("f32x4.extract_lane", 2).get(sv);
          f.get(lane).i32(2).op("i32.eq").op("select").set(sv);
          addr();
          f.get(lane).i32(2).op("i32.shl").op("i32.add").get(sv).op("f32.store");
        });
      });
    };
    f.get(sbn).i32(1).op("i32.eq").if(() => {
      // Register-blocked form on unpacked operands: 4 rows x 8 columns per step (8
      // accumulators), rows past M re-read the last row (their results are not stored).
      const accs = [
        acc0,
        acc1,
        acc2,
        acc3,
        f.local(V128),
        f.local(V128),
        f.local(V128),
        f.local(V128),
      ];
      const b0 = f.local(V128), b1 = f.local(V128), kEnd = f.local(I32);
      const pr = [pa, f.local(I32), f.local(I32), f.local(I32)];
      f.for(i, 0, () => f.get(M), 4, () => {
        f.for(j, 0, () => f.get(N), 8, () => {
          // the accumulators start at the bias row (columns j..j+7) or 0
          f.get(bias).if(() => {
            f.get(bias).get(j).i32(2).op("i32.shl").op("i32.add").set(pb);
            f.get(pb).op("v128.load", 0, 2).set(b0);
            f.get(pb).op("v128.load", 16, 2).set(b1);
          }, () => {
            f.v128f(0).set(b0);
            f.v128f(0).set(b1);
          });
          for (let r = 0; r < 4; r++) {
            f.get(b0).set(accs[2 * r]);
            f.get(b1).set(accs[2 * r + 1]);
          }
          for (let r = 0; r < 4; r++) {
            // row min(i + r, M - 1)
            f.get(a);
            f.get(i).i32(r).op("i32.add").get(M).i32(1).op("i32.sub").get(i).i32(r).op("i32.add")
              .get(M).op("i32.lt_s").op("select");
            f.get(sam4).op("i32.mul").op("i32.add").set(pr[r]);
          }
          f.get(b).get(j).i32(2).op("i32.shl").op("i32.add").set(pb);
          // One k step from B row `bRow`: A values at pr[r] + aOff.
          const kStep = (bRow: number, aOff: number) => {
            f.get(bRow).op("v128.load", 0, 2).set(b0);
            f.get(bRow).op("v128.load", 16, 2).set(b1);
            for (let r = 0; r < 4; r++) {
              f.get(pr[r]).op("v128.load32_splat", aOff, 2).set(av);
              f.get(av).get(b0).get(accs[2 * r]).op("f32x4.relaxed_madd").set(accs[2 * r]);
              f.get(av).get(b1).get(accs[2 * r + 1]).op("f32x4.relaxed_madd").set(accs[2 * r + 1]);
            }
          };
          f.i32(0).set(kk);
          f.get(sak).i32(1).op("i32.eq").get(K).i32(2).op("i32.ge_s").op("i32.and").if(() => {
            // k-contiguous A: two k steps per iteration (A at immediate offsets 0 and 4), one
            // branch and five pointer adds per 16 multiply-adds; the odd k below.
            f.get(K).i32(-2).op("i32.and").set(kEnd);
            f.loop(() => {
              f.get(pb).get(sbk4).op("i32.add").set(pb1);
              kStep(pb, 0);
              kStep(pb1, 4);
              for (const p of pr) f.get(p).i32(8).op("i32.add").set(p);
              f.get(pb1).get(sbk4).op("i32.add").set(pb);
              f.get(kk).i32(2).op("i32.add").tee(kk).get(kEnd).op("i32.lt_s").op("br_if", 0);
            });
          });
          f.for(kk, () => f.get(kk), () => f.get(K), 1, () => {
            kStep(pb, 0);
            for (const p of pr) f.get(p).get(sak4).op("i32.add").set(p);
            f.get(pb).get(sbk4).op("i32.add").set(pb);
          });
          for (let r = 0; r < 4; r++) {
            f.get(i).i32(r).op("i32.add").get(M).op("i32.lt_s").if(() => {
              f.get(c).get(i).i32(r).op("i32.add").get(ldc4).op("i32.mul").op("i32.add").get(j).i32(
                2,
              )
                .op("i32.shl").op("i32.add").set(pc);
              f.get(N).get(j).op("i32.sub").set(rem);
              storeLanes(() => f.get(pc), accs[2 * r]);
              f.get(rem).i32(4).op("i32.sub").set(rem);
              f.get(rem).i32(0).op("i32.gt_s").if(() => {
                storeLanes(() => f.get(pc).i32(16).op("i32.add"), accs[2 * r + 1]);
              });
            });
          }
        });
      });
    }, () => {
      // Dot-product form (A and B contiguous along k), 4 columns per step.
      f.for(i, 0, () => f.get(M), 1, () => {
        f.for(j, 0, () => f.get(N), 4, () => {
          f.get(N).get(j).op("i32.sub").set(rem);
          f.get(b).get(j).get(sbn4).op("i32.mul").op("i32.add").set(pb);
          // columns past N re-read the last column (results unused)
          const col = (x: number, dst: number) => {
            f.get(b).get(j).i32(x).op("i32.add").get(N).i32(1).op("i32.sub").get(j).i32(x)
              .op("i32.add").get(N).op("i32.lt_s").op("select").get(sbn4).op("i32.mul")
              .op("i32.add").set(dst);
          };
          col(1, pb1);
          col(2, pb2);
          col(3, pb3);
          f.get(a).get(i).get(sam4).op("i32.mul").op("i32.add").set(pa);
          for (const x of [acc0, acc1, acc2, acc3]) f.v128f(0).set(x);
          f.for(kk, 0, () => f.get(K).i32(-4).op("i32.and"), 4, () => {
            f.get(pa).op("v128.load", 0, 2).set(av);
            f.get(av).get(pb).op("v128.load", 0, 2).get(acc0).op("f32x4.relaxed_madd").set(acc0);
            f.get(av).get(pb1).op("v128.load", 0, 2).get(acc1).op("f32x4.relaxed_madd").set(acc1);
            f.get(av).get(pb2).op("v128.load", 0, 2).get(acc2).op("f32x4.relaxed_madd").set(acc2);
            f.get(av).get(pb3).op("v128.load", 0, 2).get(acc3).op("f32x4.relaxed_madd").set(acc3);
            f.get(pa).i32(16).op("i32.add").set(pa);
            for (const p of [pb, pb1, pb2, pb3]) f.get(p).i32(16).op("i32.add").set(p);
          });
          // Horizontal sums of the 4 accumulators into one vector (4x4 transpose + adds).
          // t = [a0.x+a0.y, a1.x+a1.y, a0.z+a0.w, a1.z+a1.w] style pairwise reduction:
          const hadd = (x: number, y: number) => {
            // [x0+x1, x2+x3, y0+y1, y2+y3]
            f.get(x).get(y).shuffle([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
            f.get(x).get(y).shuffle([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]);
            f.op("f32x4.add");
          };
          hadd(acc0, acc1);
          f.set(t); // [a0(02), a0(13), a1(02), a1(13)] pairwise sums
          hadd(acc2, acc3);
          f.set(av);
          hadd(t, av);
          f.set(acc0); // [sum0, sum1, sum2, sum3]
          // Tail along k (K % 4 elements): scalar, per column.
          f.get(K).i32(3).op("i32.and").if(() => {
            for (let x = 0; x < 4; x++) {
              const p = [pb, pb1, pb2, pb3][x];
              f.f32(0).set(s);
              f.for(kk, () => f.get(K).i32(-4).op("i32.and"), () => f.get(K), 1, () => {
                f.get(s);
                f.get(pa).get(kk).get(K).i32(-4).op("i32.and").op("i32.sub").i32(2).op("i32.shl")
                  .op("i32.add").op("f32.load");
                f.get(p).get(kk).get(K).i32(-4).op("i32.and").op("i32.sub").i32(2).op("i32.shl")
                  .op("i32.add").op("f32.load");
                f.op("f32.mul").op("f32.add").set(s);
              });
              f.get(acc0).get(acc0).op("f32x4.extract_lane", x).get(s).op("f32.add")
                .op("f32x4.replace_lane", x).set(acc0);
            }
          });
          f.get(bias).if(() => {
            f.get(acc0).get(bias).get(j).i32(2).op("i32.shl").op("i32.add").op("v128.load", 0, 2);
            f.op("f32x4.add").set(acc0);
          });
          f.get(c).get(i).get(ldc4).op("i32.mul").op("i32.add").get(j).i32(2).op("i32.shl")
            .op("i32.add").set(pc);
          storeLanes(() => f.get(pc), acc0);
        });
      });
    });
  });
}

/**
 * Adds `transpose_into(src, s0, s1, rows, cols, dst)`: dst[r * cols + c] = src[r * s0 + c * s1]
 * (element strides): lays a transposed operand out row-major for `gemm_small`.
 */
export function addTranspose(m: ModuleBuilder): void {
  m.func("transpose_into", [I32, I32, I32, I32, I32, I32], [], (f) => {
    const [src, s0, s1, rows, cols, dst] = [0, 1, 2, 3, 4, 5];
    const r = f.local(I32), c = f.local(I32), ps = f.local(I32), pd = f.local(I32);
    const s04 = f.local(I32), s14 = f.local(I32);
    f.get(s0).i32(2).op("i32.shl").set(s04);
    f.get(s1).i32(2).op("i32.shl").set(s14);
    f.get(dst).set(pd);
    f.for(r, 0, () => f.get(rows), 1, () => {
      f.get(src).get(r).get(s04).op("i32.mul").op("i32.add").set(ps);
      f.for(c, 0, () => f.get(cols), 1, () => {
        f.get(pd).get(ps).op("f32.load").op("f32.store");
        f.get(ps).get(s14).op("i32.add").set(ps);
        f.get(pd).i32(4).op("i32.add").set(pd);
      });
    });
  });
}

/**
 * Adds `gemm_cols(a, sam, sak, b, sbk, sbn, c, ldc, m, n, k)` (the arguments of `gemm_small`):
 * an unpacked SIMD matmul for products with few rows and a large B (a recurrent step: 16 rows
 * against a 512 x 2048 weight), which reads B once. Columns are the outer loop: each strip of B
 * is read from memory once and reused from cache by every 4-row tile of A (small and
 * cache-resident); packing B would cost as much as the product. Two forms:
 * - B contiguous along n (`sbn == 1`): strips of 8 columns, 4 x 8 register tiles (A splatted);
 * - A and B contiguous along k (`sak == sbk == 1`, `x @ W^T`): strips of 2 columns, 4 x 2 tiles
 *   of dot products along k (8 accumulators, summed horizontally once per tile).
 * Rows past M and columns past N re-read the last row / column (their results are not stored);
 * vector loads may read up to 28 bytes past a row (inside the heap; the values are unused).
 */
export function addColsGemm(m: ModuleBuilder): void {
  m.func("gemm_cols", [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], [], (f) => {
    const [a, sam, sak, b, sbk, sbn, c, ldc, M, N, K] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const i = f.local(I32), j = f.local(I32), kk = f.local(I32), pb = f.local(I32);
    const pc = f.local(I32), rem = f.local(I32), lane = f.local(I32), sv = f.local(F32);
    const sam4 = f.local(I32), sak4 = f.local(I32), sbk4 = f.local(I32), sbn4 = f.local(I32);
    const ldc4 = f.local(I32), kEnd = f.local(I32), o = f.local(I32), pb1 = f.local(I32);
    const accs = Array.from({ length: 8 }, () => f.local(V128));
    const b0 = f.local(V128), b1 = f.local(V128), av = f.local(V128);
    const t0 = f.local(V128), t1 = f.local(V128), s = f.local(F32);
    const pr = [f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
    f.get(sam).i32(2).op("i32.shl").set(sam4);
    f.get(sak).i32(2).op("i32.shl").set(sak4);
    f.get(sbk).i32(2).op("i32.shl").set(sbk4);
    f.get(sbn).i32(2).op("i32.shl").set(sbn4);
    f.get(ldc).i32(2).op("i32.shl").set(ldc4);
    // pr[r] = a + min(i + r, M - 1) * sam4
    const rowPointers = () => {
      for (let r = 0; r < 4; r++) {
        f.get(a);
        f.get(i).i32(r).op("i32.add").get(M).i32(1).op("i32.sub").get(i).i32(r).op("i32.add")
          .get(M).op("i32.lt_s").op("select");
        f.get(sam4).op("i32.mul").op("i32.add").set(pr[r]);
      }
    };
    // pc = the output of row i + r at column j
    const outPointer = (r: number) => {
      f.get(c).get(i).i32(r).op("i32.add").get(ldc4).op("i32.mul").op("i32.add")
        .get(j).i32(2).op("i32.shl").op("i32.add").set(pc);
    };
    // Stores the low `rem` lanes (1..4) of `vec` at `addr`.
    const storeLanes = (addr: () => void, vec: number) => {
      f.get(rem).i32(4).op("i32.ge_s").if(() => {
        addr();
        f.get(vec).op("v128.store", 0, 2);
      }, () => {
        f.for(lane, 0, () => f.get(rem), 1, () => {
          f.get(vec).op("f32x4.extract_lane", 1).get(vec).op("f32x4.extract_lane", 0);
          f.get(lane).i32(1).op("i32.eq").op("select").set(sv);
          f.get(vec).op("f32x4.extract_lane", 2).get(sv);
          f.get(lane).i32(2).op("i32.eq").op("select").set(sv);
          addr();
          f.get(lane).i32(2).op("i32.shl").op("i32.add").get(sv).op("f32.store");
        });
      });
    };
    // [x0+x1, x2+x3, y0+y1, y2+y3]
    const hadd = (x: number, y: number) => {
      f.get(x).get(y).shuffle([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
      f.get(x).get(y).shuffle([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]);
      f.op("f32x4.add");
    };
    f.get(sbn).i32(1).op("i32.eq").if(() => {
      // 8-column strips of a row-major B; 4 x 8 tiles.
      f.for(j, 0, () => f.get(N), 8, () => {
        f.for(i, 0, () => f.get(M), 4, () => {
          for (const x of accs) f.v128f(0).set(x);
          rowPointers();
          f.get(b).get(j).i32(2).op("i32.shl").op("i32.add").set(pb);
          f.for(kk, 0, () => f.get(K), 1, () => {
            f.get(pb).op("v128.load", 0, 2).set(b0);
            f.get(pb).op("v128.load", 16, 2).set(b1);
            for (let r = 0; r < 4; r++) {
              f.get(pr[r]).op("v128.load32_splat", 0, 2).set(av);
              f.get(av).get(b0).get(accs[2 * r]).op("f32x4.relaxed_madd").set(accs[2 * r]);
              f.get(av).get(b1).get(accs[2 * r + 1]).op("f32x4.relaxed_madd")
                .set(accs[2 * r + 1]);
              f.get(pr[r]).get(sak4).op("i32.add").set(pr[r]);
            }
            f.get(pb).get(sbk4).op("i32.add").set(pb);
          });
          for (let r = 0; r < 4; r++) {
            f.get(i).i32(r).op("i32.add").get(M).op("i32.lt_s").if(() => {
              outPointer(r);
              f.get(N).get(j).op("i32.sub").set(rem);
              storeLanes(() => f.get(pc), accs[2 * r]);
              f.get(rem).i32(4).op("i32.sub").set(rem);
              f.get(rem).i32(0).op("i32.gt_s").if(() => {
                storeLanes(() => f.get(pc).i32(16).op("i32.add"), accs[2 * r + 1]);
              });
            });
          }
        });
      });
    }, () => {
      // Dot products along k: 2-column strips (columns of B contiguous along k), 4 x 2 tiles.
      f.get(K).i32(-4).op("i32.and").i32(2).op("i32.shl").set(kEnd); // bytes of the vector part
      f.for(j, 0, () => f.get(N), 2, () => {
        f.get(b).get(j).get(sbn4).op("i32.mul").op("i32.add").set(pb);
        // column j + 1, or j again past N
        f.get(b).get(j).i32(1).op("i32.add").get(j).get(j).i32(1).op("i32.add").get(N)
          .op("i32.lt_s").op("select").get(sbn4).op("i32.mul").op("i32.add").set(pb1);
        f.for(i, 0, () => f.get(M), 4, () => {
          for (const x of accs) f.v128f(0).set(x);
          rowPointers();
          f.for(o, 0, () => f.get(kEnd), 16, () => {
            f.get(pb).get(o).op("i32.add").op("v128.load", 0, 2).set(b0);
            f.get(pb1).get(o).op("i32.add").op("v128.load", 0, 2).set(b1);
            for (let r = 0; r < 4; r++) {
              f.get(pr[r]).get(o).op("i32.add").op("v128.load", 0, 2).set(av);
              f.get(av).get(b0).get(accs[2 * r]).op("f32x4.relaxed_madd").set(accs[2 * r]);
              f.get(av).get(b1).get(accs[2 * r + 1]).op("f32x4.relaxed_madd")
                .set(accs[2 * r + 1]);
            }
          });
          // accs[0] = [r0c0, r0c1, r1c0, r1c1], accs[4] = the same for rows 2 and 3.
          for (const r of [0, 2]) {
            hadd(accs[2 * r], accs[2 * r + 1]);
            f.set(t0);
            hadd(accs[2 * r + 2], accs[2 * r + 3]);
            f.set(t1);
            hadd(t0, t1);
            f.set(accs[2 * r]);
          }
          // Tail along k (K % 4): scalar, per output.
          f.get(K).i32(3).op("i32.and").if(() => {
            for (let r = 0; r < 4; r++) {
              for (let q = 0; q < 2; q++) {
                f.f32(0).set(s);
                f.for(o, () => f.get(kEnd), () => f.get(K).i32(2).op("i32.shl"), 4, () => {
                  f.get(s);
                  f.get(pr[r]).get(o).op("i32.add").op("f32.load");
                  f.get(q ? pb1 : pb).get(o).op("i32.add").op("f32.load");
                  f.op("f32.mul").op("f32.add").set(s);
                });
                const acc = accs[r < 2 ? 0 : 4], ln = (r % 2) * 2 + q;
                f.get(acc).get(acc).op("f32x4.extract_lane", ln).get(s).op("f32.add")
                  .op("f32x4.replace_lane", ln).set(acc);
              }
            }
          });
          for (let r = 0; r < 4; r++) {
            f.get(i).i32(r).op("i32.add").get(M).op("i32.lt_s").if(() => {
              outPointer(r);
              const acc = accs[r < 2 ? 0 : 4];
              f.get(j).i32(1).op("i32.add").get(N).op("i32.lt_s").if(() => {
                f.get(pc).get(acc).op("v128.store64_lane", r % 2, 0);
              }, () => {
                f.get(pc).get(acc).op("v128.store32_lane", (r % 2) * 2, 0);
              });
            });
          }
        });
      });
    });
  });
}
