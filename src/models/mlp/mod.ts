/**
 * The `mlp` family: a small, complete world model (MLP encoder to a Gaussian latent, residual
 * MLP dynamics, observation/reward/continue heads) for vector observations and continuous or
 * discrete actions. Maturity experimental, listed on the `all` surface.
 *
 * It is also the template for new families: a config schema ({@link mlpConfigSchema}), presets,
 * a parameter count from shapes, components ({@link MLPEncoder}, {@link MLPDynamics},
 * {@link MLPDecoder}), the model ({@link MLPWorldModel}) and {@link registerMLPFamily}, which
 * registers all of it with the {@link WorldModelRegistry}.
 * @module
 */

import { tidy } from "../../tensor/memory.ts";
import { type FamilySpec, WorldModelRegistry } from "../../core/registry.ts";
import { countMLPParameters, MLP_PRESETS, type MLPConfig, mlpConfigSchema } from "./config.ts";
import { MLPWorldModel } from "./world_model.ts";

export { countMLPParameters, MLP_PRESETS, type MLPConfig, mlpConfigSchema } from "./config.ts";
export { MLPDecoder, MLPDynamics, MLPEncoder } from "./components.ts";
export { MLPWorldModel, type MLPWorldModelOptions } from "./world_model.ts";

/** Everything the registry needs to know about the `mlp` family. */
export const mlpFamilySpec: FamilySpec<MLPConfig> = {
  configSchema: mlpConfigSchema,
  // The factory gets the validated config and the build context (device, seeded generator,
  // apiVersion, and the family name it is registered under).
  // (in tidy: the temporaries of parameter initialisation are freed now, not when collected)
  factory: (config, ctx) => tidy(() => new MLPWorldModel(config, ctx)),
  presets: MLP_PRESETS,
  defaultPreset: "small",
  aliases: { "mlp": "mlp:small", "mlp-ci": "mlp:ci" },
  maturity: "experimental",
  surface: "all",
  tier: null,
  description: "MLP world model (Gaussian latent, residual MLP dynamics)",
  defaultObs: "vector",
  countParameters: countMLPParameters,
  scaffold: {
    order: 2,
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
    overrideExample: "hidden_dim = 64",
  },
};

/** Registers the `mlp` family (a no-op when it is already registered). */
export function registerMLPFamily(): void {
  if (!WorldModelRegistry.has("mlp")) WorldModelRegistry.register("mlp", mlpFamilySpec);
}
