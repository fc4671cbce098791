/**
 * The `tdmpc2` family: TD-MPC2 (Hansen et al. 2024), a reference-maturity implicit world model
 * built as the official `nicklashansen/tdmpc2` (SimNorm latent, NormedLinear MLPs, two-hot
 * reward and Q-ensemble heads, tanh-Gaussian policy prior, target Q heads), its agent update
 * ({@link TDMPC2Agent}) and the official model sizes as presets (`tdmpc2:ci`, `5m`, `proof_5m`,
 * `5m_legacy`, `19m`, `48m`, `317m`); it trains with {@link tdmpc2TrainStep} and acts with
 * {@link tdmpc2Controller} (MPPI with the policy prior).
 * @module
 */

import { tidy } from "../../tensor/memory.ts";
import { type FamilySpec, WorldModelRegistry } from "../../core/registry.ts";
import {
  countTDMPC2Parameters,
  TDMPC2_PRESETS,
  type TDMPC2Config,
  tdmpc2ConfigSchema,
} from "./config.ts";
import { tdmpc2Controller, tdmpc2TrainStep } from "./training.ts";
import { TDMPC2WorldModel } from "./world_model.ts";

export {
  countTDMPC2Parameters,
  TDMPC2_PRESETS,
  type TDMPC2Config,
  tdmpc2ConfigSchema,
  type TDMPC2Dims,
  tdmpc2Dims,
  tdmpc2Discount,
} from "./config.ts";
export { binCenters, type BinSpec, RunningScale, softCE, twoHot, twoHotInv } from "./math.ts";
export { fastMish, qForward, type QWeights, TDMLP, tdmpc2Init } from "./networks.ts";
export { TDMPC2Dynamics, TDMPC2Encoder } from "./components.ts";
export {
  type PolicySample,
  type RandomOpts,
  TDMPC2Network,
  type TDMPC2WorldModelOptions,
} from "./network.ts";
export { TDMPC2WorldModel, type TimeMajorBatch, type WorldModelLossParts } from "./world_model.ts";
export {
  TDMPC2Agent,
  type TDMPC2AgentOptions,
  type UpdateInfo,
  type UpdateInputs,
  type UpdatePhase,
} from "./agent.ts";
export { tdmpc2Controller, tdmpc2TrainStep } from "./training.ts";

/** Everything the registry needs to know about the `tdmpc2` family. */
export const tdmpc2FamilySpec: FamilySpec<TDMPC2Config, TDMPC2WorldModel> = {
  configSchema: tdmpc2ConfigSchema,
  // (in tidy: the temporaries of parameter initialisation are freed now, not when collected)
  factory: (config, ctx) =>
    tidy(() =>
      new TDMPC2WorldModel(config, {
        device: ctx.device,
        apiVersion: ctx.apiVersion,
        generator: ctx.generator,
        modelType: ctx.modelType,
      })
    ),
  trainStep: tdmpc2TrainStep,
  controller: (model) => tdmpc2Controller(model),
  presets: TDMPC2_PRESETS,
  defaultPreset: "5m",
  familyAliases: ["tdmpc"],
  maturity: "reference",
  tier: "reference",
  description: "TD-MPC2 implicit world model (SimNorm latent, two-hot heads, Q ensemble)",
  defaultObs: "vector",
  countParameters: countTDMPC2Parameters,
  scaffold: {
    order: 1,
    batch: { batchSize: 32, sequenceLength: 4 }, // sequences of horizon + 1 steps
    online: {
      totalSteps: 3000,
      batchSize: 64,
      sequenceLength: 4,
      prefillSteps: 500,
      logInterval: 250,
      evalInterval: 500,
      evalEpisodes: 3,
      saveInterval: 1000,
    },
    onlineOverrides: {
      comment: "MPPI iterations per action (official 6; 3 plans twice as fast).",
      values: { iterations: 3 },
    },
    overrideExample: "latent_dim = 64",
  },
};

/** Registers the `tdmpc2` family (a no-op when it is already registered). */
export function registerTDMPC2Family(): void {
  if (!WorldModelRegistry.has("tdmpc2")) WorldModelRegistry.register("tdmpc2", tdmpc2FamilySpec);
}
