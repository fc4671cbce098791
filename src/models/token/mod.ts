/**
 * The `token` family (experimental): an IRIS-style world model. A VQ tokenizer turns
 * observations into discrete tokens and back; a small causal transformer (attention from the
 * tensor layer's ops, `src/nn/attention.ts`) over tokens and actions predicts the next tokens,
 * the reward and the continue probability ({@link TokenWorldModel}). It trains with the generic
 * step (one loss, one optimizer) and has no controller (online runs act at random).
 * @module
 */

import { tidy } from "../../tensor/memory.ts";
import { type FamilySpec, WorldModelRegistry } from "../../core/registry.ts";
import {
  countTokenParameters,
  TOKEN_PRESETS,
  type TokenConfig,
  tokenConfigSchema,
} from "./config.ts";
import { TokenWorldModel } from "./world_model.ts";

export {
  countTokenParameters,
  TOKEN_PRESETS,
  type TokenConfig,
  tokenConfigSchema,
} from "./config.ts";
export {
  type Tokenized,
  TokenTransformer,
  TokenWorldModel,
  type TokenWorldModelOptions,
  VQTokenizer,
} from "./world_model.ts";

/** Everything the registry needs to know about the `token` family. */
export const tokenFamilySpec: FamilySpec<TokenConfig, TokenWorldModel> = {
  configSchema: tokenConfigSchema,
  // (in tidy: the temporaries of parameter initialisation are freed now, not when collected)
  factory: (config, ctx) =>
    tidy(() =>
      new TokenWorldModel(config, {
        device: ctx.device,
        apiVersion: ctx.apiVersion,
        generator: ctx.generator,
        modelType: ctx.modelType,
      })
    ),
  presets: TOKEN_PRESETS,
  defaultPreset: "small",
  aliases: { "iris": "token:small", "token-ci": "token:ci" },
  maturity: "experimental",
  surface: "all",
  tier: null,
  description: "IRIS-style token world model (VQ tokenizer, causal transformer)",
  defaultObs: "vector",
  countParameters: countTokenParameters,
};

/** Registers the `token` family (a no-op when it is already registered). */
export function registerTokenFamily(): void {
  if (!WorldModelRegistry.has("token")) WorldModelRegistry.register("token", tokenFamilySpec);
}
