/**
 * Autograd semantics (PyTorch-like): requiresGrad, backward() accumulation, retainGraph,
 * explicit seeds, noGrad, detach, the functional grad()/valueAndGrad(), and the in-place
 * version check.
 */

import assert from "node:assert/strict";
import {
  DisposedError,
  DTypeError,
  grad,
  noGrad,
  Parameter,
  ShapeError,
  tensor,
  valueAndGrad,
} from "../../mod.ts";
import { isGradEnabled } from "../../tensor.ts";
import { values } from "../grad_util.ts";

Deno.test("autograd: requiresGrad, leaves, and float32 only", () => {
  const x = tensor([1, 2, 3]);
  assert.equal(x.requiresGrad, false);
  assert.equal(x.isLeaf, true);
  x.setRequiresGrad();
  const y = x.mul(2);
  assert.equal(y.requiresGrad, true);
  assert.equal(y.isLeaf, false);
  assert.equal(tensor([1, 2]).mul(2).requiresGrad, false);
  assert.throws(() => tensor(Int32Array.from([1]), [1]).setRequiresGrad(), DTypeError);
});

Deno.test("autograd: backward accumulates into .grad; zeroGrad clears", async () => {
  const x = tensor([1, -2, 3]).setRequiresGrad();
  x.square().sum().backward(); // 2x
  assert.deepEqual(await values(x.grad!), [2, -4, 6]);
  x.mul(3).sum().backward(); // + 3
  assert.deepEqual(await values(x.grad!), [5, -1, 9]);
  x.zeroGrad();
  assert.equal(x.grad, null);
  // a leaf used twice in one graph: contributions add up (d/dx (x*x + x) = 2x + 1)
  x.mul(x).add(x).sum().backward();
  assert.deepEqual(await values(x.grad!), [3, -3, 7]);
  // a broadcast leaf gets a gradient of its own shape
  const b = tensor([[1], [2]]).setRequiresGrad();
  b.add(tensor([[1, 2, 3], [4, 5, 6]])).sum().backward();
  assert.deepEqual(b.grad!.shape, [2, 1]);
  assert.deepEqual(await values(b.grad!), [3, 3]);
});

Deno.test("autograd: the graph is freed by backward unless retainGraph", async () => {
  const x = tensor([1, 2]).setRequiresGrad();
  const y = x.exp().sum();
  y.backward(undefined, { retainGraph: true });
  y.backward();
  assertNear(await values(x.grad!), [2 * Math.E, 2 * Math.exp(2)]);
  assert.throws(() => y.backward(), (e: unknown) => {
    assert.ok(e instanceof DisposedError);
    assert.match(e.message, /retainGraph/);
    return true;
  });
});

Deno.test("autograd: non-scalar outputs need a seed (vector-Jacobian product)", async () => {
  const x = tensor([1, 2, 3]).setRequiresGrad();
  const y = x.square();
  assert.throws(() => y.backward(), ShapeError);
  assert.throws(() => y.backward(tensor([1, 1])), ShapeError);
  y.backward(tensor([1, 0.5, -1]));
  assert.deepEqual(await values(x.grad!), [2, 2, -6]);
  const [g] = grad(x.square(), [x], { seeds: [tensor([0, 1, 1])] });
  assert.deepEqual(await values(g), [0, 4, 6]);
});

Deno.test("autograd: noGrad and detach record nothing", () => {
  const x = tensor([1, 2]).setRequiresGrad();
  assert.equal(isGradEnabled(), true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return x.mul(2).exp();
  });
  assert.equal(isGradEnabled(), true);
  assert.equal(y.requiresGrad, false);
  assert.throws(() => y.sum().backward(), DTypeError);
  assert.equal(x.detach().requiresGrad, false);
  // noGrad restores the mode after a throw
  assert.throws(() =>
    noGrad(() => {
      throw new Error("boom");
    }), /boom/);
  assert.equal(isGradEnabled(), true);
});

Deno.test("autograd: grad() leaves .grad alone; unreachable inputs get zeros", async () => {
  const x = tensor([1, 2]).setRequiresGrad();
  const z = tensor([5, 6, 7]).setRequiresGrad();
  const [gx, gz] = grad(x.square().sum(), [x, z]);
  assert.deepEqual(await values(gx), [2, 4]);
  assert.deepEqual(await values(gz), [0, 0, 0]);
  assert.equal(x.grad, null);
  assert.throws(() => grad(x.sum(), [tensor([1])]), DTypeError);
  // gradients with respect to an intermediate
  const h = x.mul(3);
  const [gh] = grad(h.square().sum(), [h]);
  assert.deepEqual(await values(gh), [6, 12]);
});

Deno.test("autograd: valueAndGrad returns the value and the gradients of each argument", async () => {
  const f = valueAndGrad((a, b) => a.mul(b).sum().add(a.square().sum()));
  const a = tensor([1, 2]);
  const b = tensor([3, -1]);
  const [v, [ga, gb]] = f(a, b);
  assert.equal(await v.item(), 1 * 3 + 2 * -1 + 1 + 4);
  assert.deepEqual(await values(ga), [3 + 2, -1 + 4]);
  assert.deepEqual(await values(gb), [1, 2]);
  assert.equal(v.requiresGrad, false);
  assert.equal(a.requiresGrad, false, "the caller's tensors are untouched");
  assert.equal(a.grad, null);
  // a function that does not depend on its argument: zero gradients
  const [c, [gc]] = valueAndGrad((x) => tensor([1, 2]).sum().add(x.mul(0).sum().detach()))(
    tensor([4, 5, 6]),
  );
  assert.equal(await c.item(), 3);
  assert.deepEqual(await values(gc), [0, 0, 0]);
});

Deno.test("autograd: updating a saved value in place before backward is refused", () => {
  const p = new Parameter(tensor([1, 2, 3]));
  const loss = p.square().sum(); // saves p
  p.assign(tensor([0, 0, 0]));
  assert.throws(() => loss.backward(), (e: unknown) => {
    assert.ok(e instanceof DisposedError);
    assert.match(e.message, /in place/);
    return true;
  });
});

function assertNear(a: number[], b: number[]): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-5 * Math.abs(b[i]), `${v} vs ${b[i]}`));
}
