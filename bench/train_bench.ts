/**
 * Training-step benchmark (issues 3 and 8): one step of an MLP 64 -> 512 -> 512 -> 64 with
 * ReLU, MSE and Adam at batch 256, the scalar loss read back every step — ours (compiled step)
 * on webgpu and cpu, tfjs (webgpu, wasm, cpu) and jax-js (webgpu, wasm; jit) in one run.
 *
 *   deno bench -A --no-check bench/train_bench.ts
 */
import { loadTargets, registerBenches } from "./peers/load.ts";

const libs = await loadTargets([
  "worldflux-webgpu",
  "worldflux-cpu",
  "tfjs-webgpu",
  "tfjs-wasm",
  "tfjs-cpu",
  "jax-js-webgpu",
  "jax-js-wasm",
]);

await registerBenches(
  libs,
  [{
    name: "MLP 64-512-512-64 B256 train step (ReLU, MSE, Adam; loss read every step)",
    make: (l) => l.mlpTrainStep(256, [64, 512, 512, 64]),
  }],
  "worldflux-cpu",
  { n: 30, warmup: 3 },
);
