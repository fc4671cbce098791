/**
 * Config of the `jepa` family: a zod schema (every field has a default and a range), the
 * presets, and a parameter count computed from the shapes alone.
 * @module
 */

import { z } from "zod";
import { configSchemaFor, type FamilyConfigSchema } from "../../core/config_schema.ts";
import { type ActivationName, ACTIVATIONS } from "../../nn/layers.ts";
import { mlpParameterCount } from "../../nn/mlp.ts";
import { RANGES } from "../../core/config_ranges.ts";
import { baseConfigSchema, type PresetSpec } from "../../core/registry.ts";

/** A validated `jepa` config (camelCase; `config.json` stores it snake_case). */
export interface JEPAConfig {
  /** Vector observations only: `[obsDim]` (default `[4]`). */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 2). */
  readonly actionDim: number;
  /** `continuous` (default) or `discrete`. */
  readonly actionType: "continuous" | "discrete";
  /** Size of the latent embedding (default 32). */
  readonly latentDim: number;
  /** Width of the hidden layers of the encoders and the predictor (default 128). */
  readonly hiddenDim: number;
  /** Hidden layers of each encoder (default 2). */
  readonly depth: number;
  /** Hidden layers of the predictor (default 2). */
  readonly predictorDepth: number;
  /** Hidden activation (default `silu`). */
  readonly act: ActivationName;
  /** Normalisation after each hidden Linear (default `layer`). */
  readonly norm: "layer" | "rms" | "none";
  /** Decay of the target encoder's moving average of the context encoder (default 0.99). */
  readonly emaDecay: number;
  /** Weight of the k-th step of the latent rollout in the prediction loss: `discount^k` (default 0.9). */
  readonly horizonDiscount: number;
  /** Weight of the latent prediction loss (default 1). */
  readonly predictionScale: number;
  /** Weight of the variance term (VICReg: per-dimension std of the embeddings at least 1; default 1). */
  readonly varianceScale: number;
  /** Weight of the covariance term (VICReg: off-diagonal covariance of the embeddings; default 0.04). */
  readonly covarianceScale: number;
}

const schema = baseConfigSchema.extend({
  obsShape: z.array(z.number().int().positive()).length(
    1,
    "the jepa family takes vector observations [D]",
  ).default([4]),
  actionDim: z.number().int().positive().default(2),
  latentDim: RANGES.width(2).default(32),
  hiddenDim: RANGES.width().default(128),
  depth: RANGES.layers().default(2),
  predictorDepth: RANGES.layers().default(2),
  act: z.enum(ACTIVATIONS).default("silu"),
  norm: z.enum(["layer", "rms", "none"]).default("layer"),
  emaDecay: z.number().min(0).max(1).lt(1, "emaDecay must be below 1 (1 freezes the target)")
    .default(0.99),
  horizonDiscount: z.number().positive().max(1).default(0.9),
  predictionScale: RANGES.scale().default(1),
  varianceScale: RANGES.scale().default(1),
  covarianceScale: RANGES.scale().default(0.04),
});

/** The zod schema of {@link JEPAConfig} (every field has a default). */
export const jepaConfigSchema: FamilyConfigSchema<JEPAConfig> = configSchemaFor<JEPAConfig>()(
  schema,
);

/** Presets: `jepa:ci` (tests), `jepa:small` (default), `jepa:medium`. */
export const JEPA_PRESETS: Readonly<Record<string, PresetSpec<JEPAConfig>>> = {
  ci: {
    config: { latentDim: 16, hiddenDim: 64, depth: 1, predictorDepth: 1 },
    description: "JEPA latent predictive world model, CI size",
  },
  small: {
    config: { latentDim: 32, hiddenDim: 128, depth: 2, predictorDepth: 2 },
    description: "JEPA latent predictive world model, small",
  },
  medium: {
    config: { latentDim: 64, hiddenDim: 256, depth: 2, predictorDepth: 3 },
    description: "JEPA latent predictive world model, medium",
  },
};

/**
 * Parameters of a `jepa` model from the config alone: the context encoder, its moving-average
 * copy (the target encoder: stored, not trained) and the predictor (latent + action -> latent).
 */
export function countJEPAParameters(c: JEPAConfig): number {
  const encoder = mlpParameterCount(c.obsShape[0], c.hiddenDim, c.depth, c.latentDim, c.norm);
  const predictor = mlpParameterCount(
    c.latentDim + c.actionDim,
    c.hiddenDim,
    c.predictorDepth,
    c.latentDim,
    c.norm,
  );
  return 2 * encoder + predictor;
}
