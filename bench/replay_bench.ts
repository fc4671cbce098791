/**
 * ReplayBuffer at scale: 1M vector transitions (obs 39 float32, 6 actions), episodes of 1000
 * steps, sampling 256 x 4 batches (target: under 5 ms, storage under 400 MB), plus a pixel buffer
 * (uint8 3x64x64) for 16 x 64 Dreamer-style batches and the short-episode (exact) sampling path.
 *
 *   deno bench -A --no-check --v8-flags=--expose-gc bench/replay_bench.ts
 */

import { ReplayBuffer } from "../src/training/replay_buffer.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import type { Batch } from "../src/core/batch.ts";

const MB = 1024 * 1024;
const rss0 = Deno.memoryUsage().rss;

function fill(buf: ReplayBuffer, steps: number, epLen: (i: number) => number): void {
  const D = buf.obsSize, A = buf.actionDim;
  let added = 0, ep = 0;
  while (added < steps) {
    const T = Math.min(epLen(ep++), steps - added);
    const obs = buf.obsDtype === "uint8" ? new Uint8Array(T * D) : new Float32Array(T * D);
    for (let i = 0; i < obs.length; i++) obs[i] = buf.obsDtype === "uint8" ? i & 255 : i * 1e-3;
    const dones = new Uint8Array(T);
    dones[T - 1] = 1;
    buf.addEpisode({
      obs,
      actions: new Float32Array(T * A).fill(0.5),
      rewards: new Float32Array(T).fill(1),
      dones,
    });
    added += T;
  }
}

function dispose(b: Batch): void {
  for (const v of [b.obs, b.actions, b.rewards, b.terminations, b.mask, b.extras?.isFirst]) {
    (v as Tensor | undefined)?.dispose();
  }
}

const t0 = performance.now();
const big = new ReplayBuffer({ capacity: 1_000_000, obsShape: [39], actionDim: 6, seed: 1 });
fill(big, 1_000_000, () => 1000);
const fillMs = performance.now() - t0;
// With --v8-flags=--expose-gc, collect the episodes' temporary arrays before measuring.
(globalThis as { gc?: () => void }).gc?.();
const rss1 = Deno.memoryUsage().rss;
console.log(
  `[replay] 1M x obs 39 f32 + act 6: storage ${(big.memoryBytes / MB).toFixed(1)} MiB ` +
    `(${big.bytesPerTransition} B/transition), process RSS +${
      ((rss1 - rss0) / MB).toFixed(0)
    } MiB, ` +
    `filled in ${fillMs.toFixed(0)} ms, ${big.numEpisodes} episodes`,
);

const short = new ReplayBuffer({ capacity: 200_000, obsShape: [39], actionDim: 6, seed: 2 });
fill(short, 200_000, (i) => 2 + (i * 7919) % 9); // 2..10 steps: most starts invalid for T = 8

const pixels = new ReplayBuffer({
  capacity: 20_000,
  obsShape: [3, 64, 64],
  actionDim: 2,
  obsDtype: "uint8",
  seed: 3,
});
fill(pixels, 20_000, () => 500);

Deno.bench("replay: sample 256 x 4 from 1M (obs 39), cpu tensors", { group: "vector" }, () => {
  dispose(big.sample(256, 4, { device: "cpu" }));
});

Deno.bench(
  "replay: sampleArrays 256 x 4 from 1M (obs 39), host arrays",
  { group: "vector" },
  () => {
    big.sampleArrays(256, 4);
  },
);

Deno.bench("replay: sample 256 x 64 from 1M (obs 39), cpu tensors", { group: "vector" }, () => {
  dispose(big.sample(256, 64, { device: "cpu" }));
});

Deno.bench("replay: sample 256 x 8, episodes of 2-10 steps (exact path)", () => {
  dispose(short.sample(256, 8, { device: "cpu" }));
});

Deno.bench("replay: sample 256 x 8 padded, episodes of 2-10 steps", () => {
  dispose(short.sample(256, 8, { device: "cpu", pad: true }));
});

Deno.bench("replay: sample 16 x 64 pixels 3x64x64 uint8 -> float32 [0,1]", () => {
  dispose(pixels.sample(16, 64, { device: "cpu" }));
});

Deno.bench("replay: addStep (obs 39) into a full 1M buffer", { n: 100_000 }, () => {
  big.addStep(new Float32Array(39), new Float32Array(6), 1, false);
});
