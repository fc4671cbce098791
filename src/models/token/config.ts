/**
 * Config of the `token` family: a zod schema (every field has a default and a range), the
 * presets, and a parameter count computed from the shapes alone.
 * @module
 */

import { z } from "zod";
import { configSchemaFor, type FamilyConfigSchema } from "../../core/config_schema.ts";
import { type ActivationName, ACTIVATIONS } from "../../nn/layers.ts";
import { mlpParameterCount } from "../../nn/mlp.ts";
import { RANGES } from "../../core/config_ranges.ts";
import { baseConfigSchema, type PresetSpec } from "../../core/registry.ts";

/** A validated `token` config (camelCase; `config.json` stores it snake_case). */
export interface TokenConfig {
  /** Vector observations only: `[obsDim]` (default `[4]`). */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 2). */
  readonly actionDim: number;
  /** `continuous` (default) or `discrete`. */
  readonly actionType: "continuous" | "discrete";
  /** Tokens per observation (default 4). */
  readonly tokensPerObs: number;
  /** Codebook entries of the VQ tokenizer (default 64). */
  readonly codebookSize: number;
  /** Size of a codebook vector (default 8). */
  readonly codeDim: number;
  /** Width of the tokenizer's encoder and decoder MLPs (default 128). */
  readonly hiddenDim: number;
  /** Hidden layers of the tokenizer's encoder and decoder (default 2). */
  readonly tokenizerDepth: number;
  /** Hidden activation of the tokenizer (default `silu`). */
  readonly act: ActivationName;
  /** Normalisation of the tokenizer's hidden layers (default `layer`). */
  readonly norm: "layer" | "rms" | "none";
  /** Width of the transformer (default 64). */
  readonly embedDim: number;
  /** Attention heads (default 4; must divide `embedDim`). */
  readonly heads: number;
  /** Transformer blocks (default 2). */
  readonly layers: number;
  /** Steps of history a state keeps for imagination (default 8). */
  readonly contextSteps: number;
  /** Weight of the tokenizer's reconstruction MSE (default 1). */
  readonly reconScale: number;
  /** Weight of the codebook loss `|sg(z_e) - z_q|^2` (default 1). */
  readonly codebookScale: number;
  /** Weight of the commitment loss `|z_e - sg(z_q)|^2` (VQ-VAE's beta; default 0.25). */
  readonly commitmentScale: number;
  /** Weight of the next-token cross-entropy (default 1). */
  readonly tokenScale: number;
  /** Weight of the reward MSE (default 1). */
  readonly rewardScale: number;
  /** Weight of the continue binary cross-entropy (default 1). */
  readonly continueScale: number;
}

const schema = baseConfigSchema.extend({
  obsShape: z.array(z.number().int().positive()).length(
    1,
    "the token family takes vector observations [D]",
  ).default([4]),
  actionDim: z.number().int().positive().default(2),
  tokensPerObs: RANGES.width().max(256).default(4),
  codebookSize: RANGES.width(2).max(65536).default(64),
  codeDim: RANGES.width().default(8),
  hiddenDim: RANGES.width().default(128),
  tokenizerDepth: RANGES.layers().default(2),
  act: z.enum(ACTIVATIONS).default("silu"),
  norm: z.enum(["layer", "rms", "none"]).default("layer"),
  embedDim: RANGES.width().default(64),
  heads: RANGES.width().max(1024).default(4),
  layers: RANGES.layers().default(2),
  contextSteps: RANGES.width().max(4096).default(8),
  reconScale: RANGES.scale().default(1),
  codebookScale: RANGES.scale().default(1),
  commitmentScale: RANGES.scale().default(0.25),
  tokenScale: RANGES.scale().default(1),
  rewardScale: RANGES.scale().default(1),
  continueScale: RANGES.scale().default(1),
}).refine((c) => c.embedDim % c.heads === 0, {
  message: "embedDim must be divisible by heads",
  path: ["heads"],
});

/** The zod schema of {@link TokenConfig} (every field has a default). */
export const tokenConfigSchema: FamilyConfigSchema<TokenConfig> = configSchemaFor<TokenConfig>()(
  schema,
);

/** Presets: `token:ci` (tests), `token:small` (default), `token:medium`. */
export const TOKEN_PRESETS: Readonly<Record<string, PresetSpec<TokenConfig>>> = {
  ci: {
    config: {
      tokensPerObs: 4,
      codebookSize: 32,
      codeDim: 8,
      hiddenDim: 64,
      tokenizerDepth: 1,
      embedDim: 32,
      heads: 2,
      layers: 1,
      contextSteps: 4,
    },
    description: "IRIS-style token world model, CI size",
  },
  small: {
    config: {
      tokensPerObs: 4,
      codebookSize: 64,
      codeDim: 8,
      hiddenDim: 128,
      tokenizerDepth: 2,
      embedDim: 64,
      heads: 4,
      layers: 2,
      contextSteps: 8,
    },
    description: "IRIS-style token world model, small",
  },
  medium: {
    config: {
      tokensPerObs: 8,
      codebookSize: 256,
      codeDim: 16,
      hiddenDim: 256,
      tokenizerDepth: 2,
      embedDim: 128,
      heads: 4,
      layers: 4,
      contextSteps: 16,
    },
    description: "IRIS-style token world model, medium",
  },
};

/**
 * Parameters of a `token` model from the config alone: the tokenizer (encoder MLP to
 * `tokensPerObs * codeDim`, codebook, decoder MLP back to the observation) and the transformer
 * (token and slot embeddings, action embedding, blocks, final norm, token/reward/continue heads).
 */
export function countTokenParameters(c: TokenConfig): number {
  const obs = c.obsShape[0];
  const k = c.tokensPerObs, e = c.codeDim, d = c.embedDim, n = c.codebookSize;
  const tokenizer = mlpParameterCount(obs, c.hiddenDim, c.tokenizerDepth, k * e, c.norm) +
    n * e + mlpParameterCount(k * e, c.hiddenDim, c.tokenizerDepth, obs, c.norm);
  const block = 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) +
    (4 * d * d + d);
  const transformer = n * d + (k + 1) * d + (c.actionDim * d + d) + c.layers * block + 2 * d +
    (d * n + n) + 2 * (d + 1);
  return tokenizer + transformer;
}
