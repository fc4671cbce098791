/**
 * Tensor-layer benchmark (issue 2, plus the cpu side of issue 8): our webgpu and cpu backends
 * against tfjs-webgpu, tfjs-wasm and jax-js (webgpu and wasm), same workloads, same process, same
 * adapter. Every run ends with one read of the full result (the cost of a read, >= ~12 ms on
 * Deno's WebGPU, is part of each iteration, as for the peers).
 *
 *   deno bench -A --no-check bench/tensor_bench.ts
 *   BENCH_TARGETS=worldflux-cpu,jax-js-wasm deno bench -A --no-check bench/tensor_bench.ts
 *
 * Group names carry the work per iteration (GFLOP) so time/iter converts to GFLOP/s.
 */
import { loadTargets, registerBenches } from "./peers/load.ts";
import { conv2dFlops, matmulFlops } from "./peers/util.ts";
import type { PeerLib } from "./peers/types.ts";

const libs = await loadTargets([
  "worldflux-webgpu",
  "worldflux-cpu",
  "tfjs-webgpu",
  "tfjs-wasm",
  "jax-js-webgpu",
  "jax-js-wasm",
]);

const gf = (f: number) => (f / 1e9).toFixed(3);
const workloads: {
  name: string;
  flops?: number;
  make: (l: PeerLib) => Promise<() => Promise<void>>;
}[] = [];
for (const n of [256, 512, 1024]) {
  for (const v of ["nn", "tn", "nt"] as const) {
    const chain = 10;
    const f = matmulFlops(n, chain);
    workloads.push({
      name: `matmul ${n} ${v} x${chain} (${gf(f)} GFLOP)`,
      flops: f,
      make: (l) => l.matmul(n, v, chain),
    });
  }
}
workloads.push({
  name: "elementwise chain 8 ops x 1M",
  make: (l) => l.elementwiseChain(1 << 20, 8),
});
workloads.push({ name: "softmax 1024x1024", make: (l) => l.softmax(1024, 1024) });
{
  const f = conv2dFlops(16, 32, 32, 64, 3, 1, 1);
  workloads.push({
    name: `conv2d 16x32x32x32 -> 64 k3 s1 p1 (${gf(f)} GFLOP)`,
    flops: f,
    make: (l) => l.conv2d(16, 32, 32, 64, 3, 1, 1),
  });
}
{
  const f = conv2dFlops(16, 3, 64, 32, 4, 2, 1);
  workloads.push({
    name: `conv2d 16x3x64x64 -> 32 k4 s2 p1 (${gf(f)} GFLOP)`,
    flops: f,
    make: (l) => l.conv2d(16, 3, 64, 32, 4, 2, 1),
  });
}
await registerBenches(libs, workloads, "worldflux-webgpu", { n: 8, warmup: 1 });
