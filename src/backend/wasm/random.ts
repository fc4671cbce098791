/**
 * Counter-based random numbers for the wasm cpu backend: threefry2x32-20 on four counters at
 * once (i32x4), bit-identical to src/backend/rng.ts for `bits` and `uniform`; `normal` uses the
 * same Box-Muller transform with the SIMD log/cos of math.ts (the angle reduced in float64), a
 * few float32 ulps from the float64 reference.
 *
 * `rng_fill(out, i0, i1, dist, k0, k1, counter)` writes draws `counter + i` for i in [i0, i1) to
 * `out[i]` (byte address of element 0); dist 0 uniform, 1 normal, 2 bits.
 * @module
 */

import { type FnBuilder, I32, type ModuleBuilder, V128 } from "./emit.ts";
import * as M from "./math.ts";
import { storeLanes, vecLoop } from "./rows.ts";

const ROT = [13, 15, 26, 6, 17, 29, 16, 24];

/**
 * threefry2x32-20 of the pairs (x0[v], x1[v]) under the key schedule ks[0..2] (v128 locals), in
 * place. Several vectors are interleaved round by round: one block is a serial chain of 80
 * dependent operations, so independent chains keep the SIMD units busy.
 */
function threefry(f: FnBuilder, ks: number[], x0: number[], x1: number[]): void {
  const V = x0.length;
  for (let v = 0; v < V; v++) {
    f.get(x0[v]).get(ks[0]).op("i32x4.add").set(x0[v]);
    f.get(x1[v]).get(ks[1]).op("i32x4.add").set(x1[v]);
  }
  for (let i = 0; i < 5; i++) {
    const base = (i & 1) * 4;
    for (let j = 0; j < 4; j++) {
      const r = ROT[base + j];
      for (let v = 0; v < V; v++) {
        f.get(x0[v]).get(x1[v]).op("i32x4.add").set(x0[v]);
        f.get(x1[v]).i32(r).op("i32x4.shl").get(x1[v]).i32(32 - r).op("i32x4.shr_u");
        f.op("v128.or").get(x0[v]).op("v128.xor").set(x1[v]);
      }
    }
    for (let v = 0; v < V; v++) {
      f.get(x0[v]).get(ks[(i + 1) % 3]).op("i32x4.add").set(x0[v]);
      f.get(x1[v]).get(ks[(i + 2) % 3]).op("i32x4.add").v128i(i + 1).op("i32x4.add").set(x1[v]);
    }
  }
}

/** Lanes per unrolled step of the main loop (4 interleaved vectors). */
const UNROLL = 4;

/** Adds `rng_fill` to a module (memory must be imported). */
export function addRandom(m: ModuleBuilder): void {
  m.func("rng_fill", [I32, I32, I32, I32, I32, I32, I32], [], (f) => {
    const [out, i0, i1, dist, k0, k1, counter] = [0, 1, 2, 3, 4, 5, 6];
    const ks = [f.local(V128), f.local(V128), f.local(V128)];
    const c = f.local(I32), n = f.local(I32), addr = f.local(I32), rem = f.local(I32);
    const x0 = Array.from({ length: UNROLL }, () => f.local(V128));
    const x1 = Array.from({ length: UNROLL }, () => f.local(V128));
    const v = f.local(V128), mask = f.local(V128), u = f.local(V128), base = f.local(I32);
    f.get(k0).op("i32x4.splat").set(ks[0]);
    f.get(k1).op("i32x4.splat").set(ks[1]);
    f.get(k0).get(k1).op("i32.xor").i32(0x1bd11bda).op("i32.xor").op("i32x4.splat").set(ks[2]);
    f.get(i1).get(i0).op("i32.sub").set(n);
    /** Draws for `count` vectors starting at element c + base; stores (tail: rem lanes). */
    const draw = (count: number, tail: boolean) => {
      for (let q = 0; q < count; q++) {
        // counters (counter + i0 + c + 4q + lane) mod 2^32
        f.get(counter).get(i0).op("i32.add").get(c).op("i32.add").op("i32x4.splat");
        f.v128i(4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3).op("i32x4.add").set(x0[q]);
        f.v128i(0).set(x1[q]);
      }
      threefry(f, ks, x0.slice(0, count), x1.slice(0, count));
      for (let q = 0; q < count; q++) {
        f.get(dist).i32(2).op("i32.eq").if(() => f.get(x0[q]).set(v), () => {
          // uniform: (b0 >>> 9) * 2^-23
          f.get(x0[q]).i32(9).op("i32x4.shr_u").op("f32x4.convert_i32x4_s");
          f.v128f(1 / 8388608).op("f32x4.mul").set(v);
          f.get(dist).i32(1).op("i32.eq").if(() => {
            // normal: sqrt(-2 log(u1)) cos(2 pi u2), u1 = ((b0 >>> 9) + 0.5) 2^-23 in (0, 1)
            f.get(v).v128f(0.5 / 8388608).op("f32x4.add").set(u);
            M.log(f, u);
            f.v128f(-2).op("f32x4.mul").op("f32x4.sqrt").set(v);
            f.get(x1[q]).i32(9).op("i32x4.shr_u").op("f32x4.convert_i32x4_s");
            f.v128f(1 / 8388608).op("f32x4.mul").set(u);
            M.sincos(f, u, true, 2 * Math.PI);
            f.get(v).op("f32x4.mul").set(v);
          });
        });
        f.get(out).get(i0).get(c).op("i32.add").i32(2).op("i32.shl").op("i32.add");
        f.i32(16 * q).op("i32.add").set(addr);
        storeLanes(f, addr, v, tail, rem);
      }
    };
    // main loop: UNROLL vectors per step
    f.i32(0).set(c);
    f.block(() =>
      f.loop(() => {
        f.get(n).get(c).op("i32.sub").i32(4 * UNROLL).op("i32.lt_s").op("br_if", 1);
        draw(UNROLL, false);
        f.get(c).i32(4 * UNROLL).op("i32.add").set(c);
        f.op("br", 0);
      })
    );
    // the rest, one vector at a time
    f.get(c).set(base);
    f.get(n).get(base).op("i32.sub").set(n);
    f.get(i0).get(base).op("i32.add").set(i0);
    vecLoop(f, c, n, mask, (tail) => {
      f.get(n).get(c).op("i32.sub").set(rem);
      draw(1, tail);
    });
  });
}
