/**
 * WebGPU-vs-cpu gradient parity for every case of cases.ts (the same op list as the
 * finite-difference check): the same float32 inputs on both devices, `L = sum(f(x) * w)`, and
 * the forward output and every input gradient compared elementwise with the mixed tolerance
 * `|gpu - cpu| <= 1e-4 * max(|cpu|, 1e-3 * max|cpu|)`.
 *
 * The cpu backend computes in float64 and stores float32, the webgpu one computes in float32:
 * 1e-4 leaves room for float32 accumulation orders (matmul, conv, reductions) and for the GPU's
 * transcendental functions, while a wrong or missing kernel gradient is off by O(1).
 */

import { grad, type Tensor, tensor } from "../../mod.ts";
import { assertClose, webgpu } from "../util.ts";
import { type Dev, GRAD_CASES, type GradCase, lossWeights } from "./cases.ts";

const GPU = await webgpu();
const RTOL = 1e-4;

async function run(
  c: GradCase,
  index: number,
  dev: Dev,
): Promise<{ y: Float32Array; shape: number[]; grads: Float32Array[] }> {
  const xs = c.inputs.map((i) => tensor(i.data, i.shape, { device: dev }).setRequiresGrad());
  const y = c.build(xs, dev);
  const w = tensor(lossWeights(index, y.shape), y.shape, { device: dev });
  const gs: Tensor[] = grad(y.mul(w).sum(), xs);
  const grads: Float32Array[] = [];
  for (const g of gs) grads.push(await g.data() as Float32Array);
  const out = { y: await y.data() as Float32Array, shape: y.shape, grads };
  for (const t of [...xs, ...gs, y, w]) t.dispose();
  return out;
}

GRAD_CASES.forEach((c, index) => {
  Deno.test({
    name: `grad parity (webgpu vs cpu): ${c.name}`,
    ignore: !GPU,
    fn: async () => {
      const cpu = await run(c, index, "cpu");
      const gpu = await run(c, index, "webgpu");
      assertClose(gpu.y, cpu.y, { rtol: RTOL, shape: cpu.shape, label: `${c.name}: forward` });
      c.inputs.forEach((inp, i) =>
        assertClose(gpu.grads[i], cpu.grads[i], {
          rtol: RTOL,
          shape: inp.shape,
          label: `${c.name}: gradient of input ${i}`,
        })
      );
    },
  });
});

Deno.test({
  name: "grad parity: gradients flow across devices through to()",
  ignore: !GPU,
  fn: async () => {
    // x lives on cpu, the computation on webgpu: the gradient comes back to cpu.
    const xv = Float32Array.from([0.5, -1, 2, 0.25, -0.75, 1.5]);
    const x = tensor(xv, [2, 3], { device: "cpu" }).setRequiresGrad();
    const y = x.to("webgpu").tanh().mul(x.to("webgpu")).sum();
    const [g] = grad(y, [x]);
    if (g.device !== "cpu") throw new Error(`gradient on ${g.device}, expected cpu`);
    const expected = Array.from(xv, (v) => Math.tanh(v) + v * (1 - Math.tanh(v) ** 2));
    assertClose(await g.data() as Float32Array, expected, { rtol: 1e-5 });
  },
});
