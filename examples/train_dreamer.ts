/**
 * DreamerV3 trained offline from a replay buffer (the seed's `examples/train_dreamer.py`):
 *
 *   deno run -A examples/train_dreamer.ts --test                              # seconds
 *   deno run -A examples/train_dreamer.ts --data trajectories.npz --steps 100000
 *
 * `--test` trains `dreamer:ci` for 10 updates on random 64x64 RGB episodes with 6 discrete
 * actions (the contract smoke: `run_classification = contract_smoke`, degraded mode
 * `synthetic_data`); `--data` trains on a saved replay buffer, whose shapes and action type set
 * the model's (uint8 `[3, H, W]` pixels and float32 grids go to the conv encoder, vectors to the
 * MLP; int64 action indices make a discrete actor). The run goes through `runProject`, what
 * `worldflux train` runs: `metrics.jsonl`, checkpoints, `model/` (load it with `fromPretrained`,
 * picture it with `visualize_imagination.ts`) and `run_manifest.json` in `--out`
 * (`examples/lib/offline_example.ts` has the flags and how to write a `.npz`).
 * @module
 */

import { runOfflineExample } from "./lib/offline_example.ts";

await runOfflineExample({
  family: "dreamerv3",
  script: "examples/train_dreamer.ts",
  preset: "ci",
  // The official batch of 16 sequences of 64 steps.
  batchSize: 16,
  sequenceLength: 64,
  testData: {
    obs_shape: [3, 64, 64],
    action_dim: 6,
    action_type: "discrete",
    episodes: 4,
    episode_length: 32,
  },
  testBatch: { batchSize: 4, sequenceLength: 16 },
}, Deno.args);
