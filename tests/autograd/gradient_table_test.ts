/**
 * The gradient table (src/tensor/gradients.ts): an op outside the tensor layer adds its rule
 * with defineGradient and records it by name; the engine runs it with the saved values and the
 * attributes; a name is defined once; recording an op without a rule is refused at once (not at
 * backward time).
 */

import assert from "node:assert/strict";
import { tensor } from "../../mod.ts";
import { defineGradient, recordGrad } from "../../src/tensor/gradients.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import { noGrad } from "../../src/tensor/autograd.ts";
import { values } from "../grad_util.ts";

/** `x * k + y` with a hand-written rule: d/dx = g * k (from the attributes), d/dy = g * x. */
function scaleAdd(x: Tensor, y: Tensor, k: number): Tensor {
  const out = noGrad(() => x.mul(k).add(y));
  return recordGrad(out, "testScaleAdd", [x, y], [x], { k });
}

defineGradient<{ k: number }, Tensor>("testScaleAdd", (g, [xs], { k }) => [
  g.mul(k),
  g.mul(xs),
]);

Deno.test("gradient table: a rule defined outside the tensor layer runs with saved values and attributes", async () => {
  const x = tensor([1, 2, 3]).setRequiresGrad();
  const y = tensor([4, 5, 6]).setRequiresGrad();
  scaleAdd(x, y, 3).sum().backward();
  assert.deepEqual(await values(x.grad!), [3, 3, 3]);
  assert.deepEqual(await values(y.grad!), [1, 2, 3]);
});

Deno.test("gradient table: nothing is recorded without an input requiring a gradient", () => {
  const out = scaleAdd(tensor([1]), tensor([2]), 2);
  assert.equal(out.requiresGrad, false);
  assert.equal(out.isLeaf, true);
});

Deno.test("gradient table: a name is defined once; an op without a rule cannot record", () => {
  assert.throws(() => defineGradient("testScaleAdd", (g) => [g]), /defined twice/);
  assert.throws(() => defineGradient("matmul", (g) => [g]), /defined twice/);
  assert.throws(() => defineGradient("add", (g) => [g]), /defined twice/);
  const x = tensor([1]).setRequiresGrad();
  assert.throws(() => recordGrad(x.mul(2), "noSuchOp", [x], []), /no gradient rule for "noSuchOp"/);
});
