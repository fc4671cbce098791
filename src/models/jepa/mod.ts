/**
 * The `jepa` family (experimental): a joint-embedding predictive world model. A context encoder
 * embeds observations, an action-conditioned predictor rolls embeddings forward, and the loss
 * compares predictions with a moving-average target encoder's embeddings in latent space, with
 * VICReg terms against collapse ({@link JEPAWorldModel}). No decoder: `decode` throws a
 * `CapabilityError`. It trains with {@link jepaTrainStep} (the generic step plus the target
 * encoder's moving average) and has no controller (online runs act at random).
 * @module
 */

import { tidy } from "../../tensor/memory.ts";
import { type FamilySpec, WorldModelRegistry } from "../../core/registry.ts";
import { defaultTrainStep, type TrainStep, type TrainStepOptions } from "../../core/train_step.ts";
import type { TrainingConfig } from "../../core/training_config.ts";
import { countJEPAParameters, JEPA_PRESETS, type JEPAConfig, jepaConfigSchema } from "./config.ts";
import { JEPAWorldModel } from "./world_model.ts";

export { countJEPAParameters, JEPA_PRESETS, type JEPAConfig, jepaConfigSchema } from "./config.ts";
export {
  JEPAEncoder,
  JEPAPredictor,
  JEPAWorldModel,
  type JEPAWorldModelOptions,
  vicregTerms,
} from "./world_model.ts";

/**
 * JEPA's training step: the generic step (`model.loss(batch)`, backward, the TrainingConfig's
 * optimizer over the context encoder and the predictor), then the target encoder's moving
 * average (`updateTarget`), traced with the update. The target encoder is in the model's state
 * dict, so checkpoints carry it.
 *
 * @example
 * ```ts
 * import { createWorldModel, jepaTrainStep, parseTrainingConfig } from "@worldflux/worldflux";
 * import type { JEPAWorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("jepa:ci", { obsShape: [4], actionDim: 2 });
 * const step = jepaTrainStep(model as JEPAWorldModel, parseTrainingConfig({ batchSize: 8 }));
 * console.log(step.description.startsWith("jepa")); // true
 * step.dispose();
 * ```
 */
export function jepaTrainStep(
  model: JEPAWorldModel,
  config: TrainingConfig,
  options: TrainStepOptions = {},
): TrainStep {
  return defaultTrainStep(model, config, options, {
    name: `${model.modelType} (EMA target encoder, decay ${model.config.emaDecay})`,
    afterOptimizerStep: () => model.updateTarget(),
  });
}

/** Everything the registry needs to know about the `jepa` family. */
export const jepaFamilySpec: FamilySpec<JEPAConfig, JEPAWorldModel> = {
  configSchema: jepaConfigSchema,
  // (in tidy: the temporaries of parameter initialisation are freed now, not when collected)
  factory: (config, ctx) =>
    tidy(() =>
      new JEPAWorldModel(config, {
        device: ctx.device,
        apiVersion: ctx.apiVersion,
        generator: ctx.generator,
        modelType: ctx.modelType,
      })
    ),
  trainStep: jepaTrainStep,
  presets: JEPA_PRESETS,
  defaultPreset: "small",
  aliases: { "jepa-ci": "jepa:ci" },
  maturity: "experimental",
  surface: "all",
  tier: null,
  description: "JEPA latent predictive world model (EMA target encoder, no decoder)",
  defaultObs: "vector",
  countParameters: countJEPAParameters,
};

/** Registers the `jepa` family (a no-op when it is already registered). */
export function registerJEPAFamily(): void {
  if (!WorldModelRegistry.has("jepa")) WorldModelRegistry.register("jepa", jepaFamilySpec);
}
