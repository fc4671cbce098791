/**
 * Finite-difference gradient checks of every differentiable op on the cpu backend (the cases
 * are in cases.ts: every op-table op with a gradient rule, broadcasting, reductions, softmax
 * family, norms, matmul, movement, gather/scatterAdd, convolutions, pooling, upsampling,
 * sort/topk, cast, where, detach).
 *
 * Method: for `L(x) = sum(f(x) * w)` (fixed random `w`), each input `x_i` is checked along
 * several directions `d`: three random ones (normal, clipped to [-3, 3]) and three single
 * coordinates. The perturbed inputs `x± = fl32(x_i ± h d)` are rounded to float32 (that is what
 * a tensor holds) and the analytic side uses the exact perturbation actually applied:
 *
 *     fd = L(x+) - L(x-)          (L summed in float64 from the float32 outputs)
 *     an = <grad_i, x+ - x->      (float64)
 *
 * so float32 rounding of the inputs cancels out. Central differences are exact up to
 * O(h^2 f''') (relative ~1e-4 at h = 1e-2 for these smooth, unit-scale functions) and the
 * outputs carry float32 rounding (the cpu backend computes in float64 and stores float32), so
 * the check is
 *
 *     |fd - an| <= 2e-3 * max(sum_k |grad_ik (x+ - x-)_k|, |fd|) + 64 * 2^-24 * sum_j |y_j w_j|
 *
 * The relative term is ten times tighter than a plain 1e-2 step-size check and loose enough for
 * the truncation error; the absolute term bounds the rounding noise of the two float32 forward
 * passes (64 ulps of the loss's absolute mass), which only matters for tiny or zero directional
 * derivatives (floor/ceil/round/sign, whose gradient is exactly 0 and whose forward does not
 * move). A wrong rule that returns 0 where the derivative is not 0 fails on the |fd| term.
 */

import assert from "node:assert/strict";
import { grad, noGrad, type Tensor, tensor } from "../../mod.ts";
import { Rng } from "../util.ts";
import { GRAD_CASES, type GradCase, lossWeights, uncoveredElementwise } from "./cases.ts";

const RTOL = 2e-3;
const NOISE_ULPS = 64;
const U = 2 ** -24;

/** Forward of a case on cpu for given input values: `sum(y * w)` in float64, and `sum |y w|`. */
async function lossAt(
  c: GradCase,
  vals: readonly Float32Array[],
  w: Float32Array,
): Promise<[number, number]> {
  const xs = vals.map((v, i) => tensor(v, c.inputs[i].shape, { device: "cpu" }));
  const y = noGrad(() => c.build(xs, "cpu"));
  const d = await y.data() as Float32Array;
  y.dispose();
  for (const x of xs) x.dispose();
  let s = 0, mass = 0;
  for (let j = 0; j < d.length; j++) {
    s += d[j] * w[j];
    mass += Math.abs(d[j] * w[j]);
  }
  return [s, mass];
}

/** Analytic gradients of `sum(y * w)` for every input, and the output shape. */
async function analytic(
  c: GradCase,
  index: number,
): Promise<{ grads: Float32Array[]; w: Float32Array; outShape: number[] }> {
  const xs = c.inputs.map((i) => tensor(i.data, i.shape, { device: "cpu" }).setRequiresGrad());
  const y = c.build(xs, "cpu");
  const w = lossWeights(index, y.shape);
  const loss = y.mul(tensor(w, y.shape, { device: "cpu" })).sum();
  const gs: Tensor[] = grad(loss, xs);
  gs.forEach((g, i) =>
    assert.deepEqual(g.shape, [...c.inputs[i].shape], `gradient ${i} has the input's shape`)
  );
  const grads = [];
  for (const g of gs) grads.push(await g.data() as Float32Array);
  return { grads, w, outShape: y.shape };
}

function directions(n: number, rng: Rng): { kind: string; d: Float64Array }[] {
  const out: { kind: string; d: Float64Array }[] = [];
  for (let r = 0; r < 3; r++) {
    const d = new Float64Array(n);
    for (let k = 0; k < n; k++) d[k] = Math.max(-3, Math.min(3, rng.gauss()));
    out.push({ kind: `random direction ${r}`, d });
  }
  const coords = new Set<number>();
  while (coords.size < Math.min(3, n)) coords.add(rng.int(0, n - 1));
  for (const k of coords) {
    const d = new Float64Array(n);
    d[k] = 1;
    out.push({ kind: `coordinate ${k}`, d });
  }
  return out;
}

GRAD_CASES.forEach((c, index) => {
  if (c.fd === false) return;
  Deno.test(`gradcheck (cpu): ${c.name}`, async () => {
    const { grads, w } = await analytic(c, index);
    const h = c.h ?? 1e-2;
    const rng = new Rng(7 + index);
    const base = c.inputs.map((i) => i.data);
    const failures: string[] = [];
    for (let i = 0; i < c.inputs.length; i++) {
      const x = c.inputs[i].data;
      for (const { kind, d } of directions(x.length, rng)) {
        const xp = new Float32Array(x.length);
        const xm = new Float32Array(x.length);
        for (let k = 0; k < x.length; k++) {
          xp[k] = x[k] + h * d[k];
          xm[k] = x[k] - h * d[k];
        }
        const [lp, mp] = await lossAt(c, base.map((b, j) => (j === i ? xp : b)), w);
        const [lm, mm] = await lossAt(c, base.map((b, j) => (j === i ? xm : b)), w);
        const fd = lp - lm;
        let an = 0, scale = 0;
        for (let k = 0; k < x.length; k++) {
          const t = grads[i][k] * (xp[k] - xm[k]);
          an += t;
          scale += Math.abs(t);
        }
        const tol = RTOL * Math.max(scale, Math.abs(fd)) + NOISE_ULPS * U * (mp + mm);
        if (!(Math.abs(fd - an) <= tol)) {
          failures.push(
            `input ${i} ${JSON.stringify(c.inputs[i].shape)}, ${kind}: finite difference ` +
              `${fd.toPrecision(8)} vs analytic ${an.toPrecision(8)} (|diff| ` +
              `${Math.abs(fd - an).toPrecision(3)} > tol ${tol.toPrecision(3)}, relative ` +
              `${(Math.abs(fd - an) / Math.max(scale, 1e-30)).toPrecision(3)})`,
          );
        }
      }
    }
    assert.deepEqual(failures, [], `${c.name}:\n  ${failures.join("\n  ")}`);
  });
});

Deno.test("gradcheck: every op-table op with a gradient rule has a case", () => {
  assert.deepEqual(uncoveredElementwise(), []);
});

Deno.test("gradcheck: the check itself catches a wrong gradient", async () => {
  // A deliberately wrong rule must fail the same comparison (guards against a vacuous check):
  // silu's derivative replaced by sigmoid (off by x * s * (1 - s)).
  const xv = new Float32Array([0.5, -1.2, 2.0, 0.3]);
  const x = tensor(xv, [4], { device: "cpu" });
  const wrong = await x.sigmoid().data() as Float32Array;
  const h = 1e-2;
  const d = [1, -0.5, 0.25, 2];
  const xp = Float32Array.from(xv, (v, k) => v + h * d[k]);
  const xm = Float32Array.from(xv, (v, k) => v - h * d[k]);
  const f = async (v: Float32Array) => {
    const s = await tensor(v, [4], { device: "cpu" }).silu().sum().item();
    return s;
  };
  const fd = (await f(xp)) - (await f(xm));
  let an = 0, scale = 0;
  for (let k = 0; k < 4; k++) {
    an += wrong[k] * (xp[k] - xm[k]);
    scale += Math.abs(wrong[k] * (xp[k] - xm[k]));
  }
  assert.ok(Math.abs(fd - an) > RTOL * Math.max(scale, Math.abs(fd)) + 1e-6);
});

Deno.test("gradcheck: detach() stops gradients; x + sg(f(x) - x) is straight-through", async () => {
  // y = (x + sg(tanh(x) - x)) * (sg(x) + 1) + x^2: forward tanh(x) * (x + 1) + x^2, gradient
  // 1 * (x + 1) + 2x (the detached parts are constants).
  const c = GRAD_CASES.find((k) => k.fd === false)!;
  const xv = c.inputs[0].data;
  const x = tensor(xv, c.inputs[0].shape, { device: "cpu" }).setRequiresGrad();
  const y = c.build([x], "cpu");
  const [g] = grad(y.sum(), [x]);
  const gv = await g.data() as Float32Array;
  const yv = await y.data() as Float32Array;
  for (let k = 0; k < xv.length; k++) {
    const v = xv[k];
    assert.ok(Math.abs(yv[k] - (Math.tanh(v) * (v + 1) + v * v)) < 1e-5, `forward at ${k}`);
    assert.ok(Math.abs(gv[k] - (v + 1 + 2 * v)) < 1e-5, `gradient at ${k}: ${gv[k]}`);
  }
  // A graph that only goes through detach() does not require gradients at all.
  assert.equal(x.detach().square().sum().requiresGrad, false);
});
