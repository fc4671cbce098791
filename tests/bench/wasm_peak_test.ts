/**
 * The arithmetic of bench/wasm_peak.ts's ceiling loops at tiny loop counts (nothing timed): each
 * chain must do exactly the updates the flop count assumes, or the GFLOP/s it prints are wrong.
 * @module
 */

import assert from "node:assert/strict";
import {
  CLOCK_CHAIN,
  clockModule,
  FUSION_PROBE,
  maddFused,
  peakFlops,
  peakFunction,
  peakModule,
} from "../../bench/wasm_peak.ts";

Deno.test("peak loop: every chain does iters x unroll updates acc = acc * a + b", () => {
  for (const kind of ["fma", "mul+add"] as const) {
    // 4 chains starting at 0..3, 3 x 2 = 6 updates of acc * 2 + 1: (j + 1) * 2^6 - 1 (exact)
    assert.equal(peakFunction(kind, 4, 2)(3, 2, 1), (1 + 2 + 3 + 4) * 64 - 4, kind);
    // 5 chains, 4 x 3 = 12 updates of acc * 1 + 0.5: j + 6
    assert.equal(peakFunction(kind, 5, 3)(4, 1, 0.5), (0 + 1 + 2 + 3 + 4) + 5 * 6, kind);
    assert.equal(peakFunction(kind, 3, 1)(0, 2, 1), 0 + 1 + 2, kind);
  }
  assert.equal(peakFlops(3, 4, 2), 3 * 2 * 4 * 4 * 2);
});

Deno.test("fusion probe: mul+add rounds the product, relaxed_madd either way", () => {
  const { a, b } = FUSION_PROBE;
  assert.equal(Math.fround(a), a);
  assert.equal(Math.fround(b), b);
  assert.equal(peakFunction("mul+add", 1, 1)(2, a, b), 2 ** -23);
  const fma = peakFunction("fma", 1, 1)(2, a, b);
  assert.equal(fma, maddFused() ? 2 ** -23 + 2 ** -46 : 2 ** -23);
});

Deno.test("clock loop: iters x CLOCK_CHAIN dependent additions", () => {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(clockModule() as BufferSource));
  const clock = inst.exports.clock as (iters: number, y: number) => number;
  assert.equal(clock(2, 3), 2 * CLOCK_CHAIN * 3);
});

Deno.test("peakModule rejects an empty loop shape", () => {
  assert.throws(() => peakModule("fma", 0, 1), RangeError);
  assert.throws(() => peakModule("fma", 2, 0), RangeError);
});
