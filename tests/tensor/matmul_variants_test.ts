// The WebGPU matmul picks vec4 inner loops by operand layout (plain, A @ B^T, A^T @ B) when
// sizes and strides are multiples of 4, and a generic loop otherwise: each path against cpu.
import { randn, type Tensor, tidy } from "../../mod.ts";
import { assertClose, webgpu } from "../util.ts";

const cases: [string, number, number, number, number[]][] = [
  ["aligned", 64, 128, 96, []],
  ["aligned batched", 32, 64, 48, [3]],
  ["aligned broadcast batch", 16, 32, 8, [2, 2]],
  ["k not aligned", 64, 126, 96, []],
  ["m and n odd", 33, 64, 17, []],
  ["tiny", 4, 4, 4, []],
];

const hasGpu = await webgpu();
for (const [label, m, k, n, batch] of cases) {
  for (const variant of ["nn", "nt", "tn", "tt"] as const) {
    Deno.test({
      name: `webgpu matmul ${variant} ${label} [${batch}] ${m}x${k}x${n} matches cpu`,
      ignore: !hasGpu,
      fn: async () => {
        const aShape = variant[0] === "t" ? [...batch, k, m] : [...batch, m, k];
        const bShape = variant[1] === "t" ? [...batch, n, k] : [...batch, k, n];
        const mk = (t: Tensor, tr: boolean) => (tr ? t.mT : t);
        const run = (dev: "cpu" | "webgpu") =>
          tidy(() => {
            const a = randn(aShape, { seed: 1, device: dev });
            const b = randn(bShape, { seed: 2, device: dev });
            return mk(a, variant[0] === "t").matmul(mk(b, variant[1] === "t")).add(1).relu();
          });
        const want = await run("cpu").data() as Float32Array;
        const got = await run("webgpu").data() as Float32Array;
        // float32 sums of k unit-size terms carry ~sqrt(k) * 6e-8 absolute error near zero
        assertClose(got, want, { rtol: 1e-4, atol: 2e-6 * Math.sqrt(k) * 4 });
      },
    });
  }
}
