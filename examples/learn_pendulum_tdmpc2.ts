/**
 * TD-MPC2 learns Pendulum-v1 with the online loop: random prefill, then MPPI with the policy
 * prior (the family's controller), one agent update per environment step, greedy evaluations.
 *
 *   deno run -A examples/learn_pendulum_tdmpc2.ts [--steps 6000] [--seed 0]
 *     [--out outputs/learning/tdmpc2]
 *
 * Writes `<out>/metrics.jsonl` (losses and evaluations as they happen), `returns.json` (every
 * evaluation's returns, the random baseline), `summary.json` (budget, wall time, baseline,
 * final and best evaluation) and `returns.png` (the return curve against the random policy).
 *
 * Model: TD-MPC2 with the official hyperparameters (loss coefficients, rho 0.5, lr 3e-4 with the
 * encoder at 0.3x, tau 0.01, 101 two-hot bins, SimNorm groups of 8, 5 Q heads with dropout
 * 0.01, horizon 3, batch 256, discount from the episode length: 200 -> 0.975) at a small size
 * (latent 64, MLPs 128 wide) and MPPI with 256 samples x 4 iterations (official: 512 x 6; 64
 * elites, 24 policy trajectories, temperature 0.5 as official) to fit a 2-core machine.
 * @module
 */

import { createWorldModel, makeEnvSync, tdmpc2Controller, type TDMPC2WorldModel } from "../mod.ts";
import { onlineConfig, parseFlags, runLearning } from "./learn_lib.ts";

const flags = parseFlags(Deno.args, {
  steps: 6000,
  seed: 0,
  out: "outputs/learning/tdmpc2",
  prefill: 1000,
  evalInterval: 1000,
  evalEpisodes: 5,
  finalEpisodes: 10,
  baselineEpisodes: 20,
  batchSize: 256,
  trainRatio: 1,
  latent: 64,
  mlp: 128,
  samples: 256,
  iterations: 4,
});

const envId = "Pendulum-v1";
const env = makeEnvSync(envId, { normalizeActions: true });
const evalEnv = makeEnvSync(envId, { normalizeActions: true });
const modelConfig = {
  obsShape: env.observationSpace.shape,
  actionDim: 1,
  latentDim: flags.latent,
  hiddenDim: flags.mlp,
  encDim: flags.mlp,
  numEncLayers: 2,
  numQNetworks: 5,
  horizon: 3,
  episodeLength: env.maxEpisodeSteps, // official discount heuristic: (200/5 - 1) / (200/5)
  numSamples: flags.samples,
  iterations: flags.iterations,
  numElites: 64,
  numPiTrajs: 24,
  seed: flags.seed,
};
// The tdmpc2:ci preset is only the base: every size and planner field is set above.
const model = await createWorldModel("tdmpc2:ci", modelConfig) as TDMPC2WorldModel;
const controller = tdmpc2Controller(model);

await runLearning({
  family: "tdmpc2",
  envId,
  model,
  env,
  evalEnv,
  controller,
  config: onlineConfig(flags, {
    trainRatio: flags.trainRatio,
    batchSize: flags.batchSize,
    sequenceLength: 4, // horizon + 1
  }),
  baselineEpisodes: flags.baselineEpisodes,
  finalEpisodes: flags.finalEpisodes,
  settings: {
    model: { ...modelConfig, discount: model.discount, parameters: model.numParameters() },
    planner: { ...model.plannerDefaults() },
    env: { id: envId, normalizeActions: true },
  },
  command: `deno run -A examples/learn_pendulum_tdmpc2.ts ${Deno.args.join(" ")}`.trim(),
  title: `TD-MPC2 ON PENDULUM-V1 (SEED ${flags.seed})`,
  references: [{ y: 0, label: "MAX RETURN 0" }],
});
Deno.exit(0);
