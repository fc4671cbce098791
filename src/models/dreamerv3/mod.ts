/**
 * The `dreamerv3` family: DreamerV3's RSSM world model (block-diagonal normed GRU core,
 * categorical latents with unimix and straight-through samples, symlog MLP and CNN
 * encoders/decoders, two-hot reward head, Bernoulli continue head, KL balancing with free bits)
 * and its actor-critic trained in imagination, with the presets of the reference catalog
 * (`dreamer:ci`, `dreamerv3:size12m` ... `size200m`, `official_xl`) and its aliases. It trains
 * with {@link dreamerV3TrainStep} and acts with {@link dreamerV3Controller} (its actor).
 * @module
 */

import { tidy } from "../../tensor/memory.ts";
import { type FamilySpec, WorldModelRegistry } from "../../core/registry.ts";
import {
  countDreamerV3Parameters,
  DREAMERV3_PRESETS,
  type DreamerV3Config,
  dreamerV3ConfigSchema,
} from "./config.ts";
import { dreamerV3Controller } from "./controller.ts";
import { dreamerV3TrainStep } from "./trainer.ts";
import { DreamerV3WorldModel } from "./world_model.ts";

export {
  countDreamerV3Parameters,
  DREAMERV3_PRESETS,
  type DreamerV3Config,
  dreamerV3ConfigSchema,
  type ObsLayout,
  obsLayout,
} from "./config.ts";
export {
  BlockLinear,
  DenseStack,
  MultiDecoder,
  MultiEncoder,
  type NetOptions,
  Norm,
  NormLinear,
} from "./networks.ts";
export {
  blockDiag,
  type CoreWeights,
  type NormAffine,
  type ObserveResult,
  type PreparedLinear,
  RSSM,
  rssmOptions,
  type RSSMState,
} from "./rssm.ts";
export { Actor, BinaryHead, type PolicyDist, TwoHotHead } from "./heads.ts";
export { gruUpdate, normAffine, straightThroughSample } from "./ops.ts";
export {
  agcClip,
  balancedKL,
  binaryLoss,
  lambdaReturns,
  percentiles,
  twohot,
  twohotBins,
  twohotLoss,
  twohotPred,
} from "./losses.ts";
export {
  ActorCritic,
  type ActorCriticLoss,
  imaginationLoss,
  type ImaginationLossInputs,
  type ImaginationLossResult,
  type Imagined,
  type ImagineOptions,
  type ReplayReturnInputs,
  replayReturns,
  type ReplayValueInputs,
} from "./actor_critic.ts";
export {
  type DreamerLossResult,
  DreamerV3WorldModel,
  type DreamerV3WorldModelOptions,
} from "./world_model.ts";
export { DreamerTrainer, type DreamerTrainerOptions, dreamerV3TrainStep } from "./trainer.ts";
export {
  dreamerV3Controller,
  type DreamerV3ControllerOptions,
  type DreamerV3ControllerState,
} from "./controller.ts";

/** Everything the registry needs to know about the `dreamerv3` family. */
export const dreamerV3FamilySpec: FamilySpec<DreamerV3Config, DreamerV3WorldModel> = {
  configSchema: dreamerV3ConfigSchema,
  // (in tidy: the temporaries of parameter initialisation are freed now, not when collected)
  factory: (config, ctx) =>
    tidy(() =>
      new DreamerV3WorldModel(config, {
        device: ctx.device,
        apiVersion: ctx.apiVersion,
        generator: ctx.generator,
        modelType: ctx.modelType,
      })
    ),
  trainStep: dreamerV3TrainStep,
  controller: (model) => dreamerV3Controller(model),
  presets: DREAMERV3_PRESETS,
  defaultPreset: "size12m",
  familyAliases: ["dreamer"],
  maturity: "reference",
  tier: "reference",
  description: "DreamerV3 (RSSM world model with actor-critic in imagination)",
  defaultObs: "image",
  countParameters: countDreamerV3Parameters,
  scaffold: {
    order: 0,
    batch: { batchSize: 16, sequenceLength: 16 },
    online: {
      totalSteps: 4000,
      batchSize: 16,
      sequenceLength: 16,
      prefillSteps: 500,
      trainRatio: 0.5,
      logInterval: 250,
      evalInterval: 500,
      evalEpisodes: 3,
      saveInterval: 1000,
    },
    onlinePixels: { totalSteps: 6000 },
    onlineOverrides: {
      comment: "Learning rates above the official 4e-5: the small presets learn faster with them.",
      values: { lr: 0.001, ac_lr: 0.0003 },
    },
    overrideExample: "units = 64",
  },
};

/** Registers the `dreamerv3` family (a no-op when it is already registered). */
export function registerDreamerV3Family(): void {
  if (!WorldModelRegistry.has("dreamerv3")) {
    WorldModelRegistry.register("dreamerv3", dreamerV3FamilySpec);
  }
}
