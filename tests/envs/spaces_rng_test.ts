/** The environments' RNG (xoshiro128**) and the space helpers. */

import assert from "node:assert/strict";
import {
  actionDim,
  box,
  contains,
  discrete,
  discreteIndex,
  Rng,
  sample,
} from "../../src/envs/mod.ts";

Deno.test("Rng: reproducible, seed-sensitive, state save/restore", () => {
  const a = new Rng(123);
  const b = new Rng(123);
  const xs = Array.from({ length: 50 }, () => a.nextU32());
  assert.deepEqual(Array.from({ length: 50 }, () => b.nextU32()), xs);
  assert.notDeepEqual(Array.from({ length: 50 }, () => new Rng(124).nextU32()), xs);
  // seeds above 2^32 use their high bits
  assert.notEqual(new Rng(2 ** 40).nextU32(), new Rng(0).nextU32());
  const c = new Rng(5);
  c.uniform();
  const st = c.getState();
  const next = [c.uniform(), c.normal(), c.int(10)];
  c.setState(st);
  assert.deepEqual([c.uniform(), c.normal(), c.int(10)], next);
  assert.throws(() => c.setState([0, 0, 0, 0]), RangeError);
  assert.throws(() => new Rng(NaN), RangeError);
});

Deno.test("Rng: uniform in [0, 1), normal moments, integers in range", () => {
  const r = new Rng(0);
  const n = 20000;
  let s = 0, s2 = 0, zs = 0, zs2 = 0;
  const counts = new Array(7).fill(0);
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    assert.ok(u >= 0 && u < 1);
    s += u;
    s2 += u * u;
    const z = r.normal();
    zs += z;
    zs2 += z * z;
    counts[r.int(7)]++;
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.01);
  assert.ok(Math.abs(s2 / n - 1 / 3) < 0.01);
  assert.ok(Math.abs(zs / n) < 0.03);
  assert.ok(Math.abs(zs2 / n - 1) < 0.04);
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 7) < 0.015);
  const u = r.uniform(-2, 3);
  assert.ok(u >= -2 && u < 3);
});

Deno.test("spaces: construction, contains, sample, actionDim, discreteIndex", () => {
  const b = box([-1, 0], [1, 5], [2]);
  assert.equal(actionDim(b), 2);
  assert.ok(contains(b, [0, 5]));
  assert.ok(!contains(b, [0, 5.1]));
  assert.ok(!contains(b, [0]));
  assert.ok(contains(box(-2, 2, [1]), 1.5));
  assert.throws(() => box([1], [0], [1]), RangeError);
  assert.throws(() => box([0, 0], [1], [2]), RangeError);
  const d = discrete(3);
  assert.equal(actionDim(d), 3);
  assert.ok(contains(d, 2) && !contains(d, 3) && !contains(d, 1.5));
  const rng = new Rng(1);
  for (let i = 0; i < 200; i++) {
    assert.ok(contains(b, sample(b, rng)));
    assert.ok(contains(d, sample(d, rng)));
  }
  const unbounded = box(-Infinity, Infinity, [3]);
  assert.ok(sample(unbounded, rng).every(Number.isFinite));
  const half = box(0, Infinity, [100]);
  assert.ok(sample(half, rng).every((v) => v >= 0 && Number.isFinite(v)));
  const pix = box(0, 255, [3, 2, 2], "uint8");
  const p = sample(pix, rng);
  assert.ok(p instanceof Uint8Array && p.length === 12 && contains(pix, p));
  assert.equal(discreteIndex(2, 3), 2);
  assert.equal(discreteIndex([0.1, 0.7, 0.2], 3), 1);
  assert.equal(discreteIndex([1], 3), 1);
  assert.throws(() => discreteIndex(3, 3), RangeError);
  assert.throws(() => discreteIndex([0, 1], 3), RangeError);
});
