/**
 * TD-MPC2 trained offline from a replay buffer (the seed's `examples/train_tdmpc2.py`):
 *
 *   deno run -A examples/train_tdmpc2.ts --test                              # seconds
 *   deno run -A examples/train_tdmpc2.ts --data trajectories.npz --steps 100000
 *
 * `--test` trains `tdmpc2:ci` for 10 updates on random episodes of 24-d observations and 6-d
 * continuous actions (the contract smoke: `run_classification = contract_smoke`, degraded mode
 * `synthetic_data`); `--data` trains on a saved replay buffer, whose shapes set the model's. The
 * sequences are the official horizon 3 plus one step, in batches of 256. The run goes through
 * `runProject`, what `worldflux train` runs: `metrics.jsonl`, checkpoints, `model/` (load it with
 * `fromPretrained`) and `run_manifest.json` in `--out` (`examples/lib/offline_example.ts` has the
 * flags and how to write a `.npz`).
 * @module
 */

import { runOfflineExample } from "./lib/offline_example.ts";

await runOfflineExample({
  family: "tdmpc2",
  script: "examples/train_tdmpc2.ts",
  preset: "ci",
  batchSize: 256,
  sequenceLength: 4,
  testData: {
    obs_shape: [24],
    action_dim: 6,
    action_type: "continuous",
    episodes: 4,
    episode_length: 32,
  },
  testBatch: { batchSize: 16, sequenceLength: 4 },
}, Deno.args);
