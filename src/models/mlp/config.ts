/**
 * Config of the `mlp` family: a zod schema (every field has a default), the presets, and a
 * parameter count computed from the shapes alone.
 * @module
 */

import { z } from "zod";
import { configSchemaFor, type FamilyConfigSchema } from "../../core/config_schema.ts";
import { type ActivationName, ACTIVATIONS } from "../../nn/layers.ts";
import { RANGES } from "../../core/config_ranges.ts";
import { baseConfigSchema, type PresetSpec } from "../../core/registry.ts";
import { mlpParameterCount } from "../../nn/mlp.ts";

/** A validated `mlp` config (camelCase; `config.json` stores it snake_case). */
export interface MLPConfig {
  /** Vector observations only: `[obsDim]` (default `[4]`). */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 2). */
  readonly actionDim: number;
  /** `continuous` (default) or `discrete`. */
  readonly actionType: "continuous" | "discrete";
  /** Size of the Gaussian latent (default 32). */
  readonly latentDim: number;
  /** Width of every hidden layer (default 128). */
  readonly hiddenDim: number;
  /** Hidden layers per MLP (default 2). */
  readonly depth: number;
  /** Hidden activation (default `silu`). */
  readonly act: ActivationName;
  /** Normalisation after each hidden Linear (default `layer`). */
  readonly norm: "layer" | "rms" | "none";
  /** Smallest standard deviation of the latent (default 0.1). */
  readonly minStd: number;
  /** Weight of the observation reconstruction, MSE (default 1). */
  readonly reconScale: number;
  /** Weight of the reward prediction, MSE (default 1). */
  readonly rewardScale: number;
  /** Weight of the continue prediction, binary cross-entropy (default 1). */
  readonly continueScale: number;
  /** Weight of the latent consistency: predicted next latent vs encoded next observation (default 1). */
  readonly consistencyScale: number;
  /** Weight of the KL of the latent to N(0, 1) (default 1e-3). */
  readonly klScale: number;
}

const schema = baseConfigSchema.extend({
  obsShape: z.array(z.number().int().positive()).length(
    1,
    "the mlp family takes vector observations [D]",
  )
    .default([4]),
  actionDim: z.number().int().positive().default(2),
  latentDim: RANGES.width().default(32),
  hiddenDim: RANGES.width().default(128),
  depth: RANGES.layers().default(2),
  act: z.enum(ACTIVATIONS).default("silu"),
  norm: z.enum(["layer", "rms", "none"]).default("layer"),
  minStd: RANGES.std().default(0.1),
  reconScale: RANGES.scale().default(1),
  rewardScale: RANGES.scale().default(1),
  continueScale: RANGES.scale().default(1),
  consistencyScale: RANGES.scale().default(1),
  klScale: RANGES.scale().default(1e-3),
});

/** The zod schema of {@link MLPConfig} (every field has a default). */
export const mlpConfigSchema: FamilyConfigSchema<MLPConfig> = configSchemaFor<MLPConfig>()(schema);

/** Presets: `mlp:ci` (tests), `mlp:small` (default), `mlp:medium`, `mlp:large`. */
export const MLP_PRESETS: Readonly<Record<string, PresetSpec<MLPConfig>>> = {
  ci: {
    config: { latentDim: 8, hiddenDim: 32, depth: 1 },
    description: "MLP world model, CI size",
  },
  small: {
    config: { latentDim: 32, hiddenDim: 128, depth: 2 },
    description: "MLP world model, small",
  },
  medium: {
    config: { latentDim: 64, hiddenDim: 256, depth: 2 },
    description: "MLP world model, medium",
  },
  large: {
    config: { latentDim: 128, hiddenDim: 512, depth: 3 },
    description: "MLP world model, large",
  },
};

/**
 * Parameters of an `mlp` model, from the config alone: encoder (obs -> 2 * latent), dynamics
 * (latent + action -> latent), decoder heads (latent -> obs, reward, continue).
 */
export function countMLPParameters(c: MLPConfig): number {
  const h = (i: number, o: number) => mlpParameterCount(i, c.hiddenDim, c.depth, o, c.norm);
  const obs = c.obsShape[0];
  return h(obs, 2 * c.latentDim) + h(c.latentDim + c.actionDim, c.latentDim) +
    h(c.latentDim, obs) + 2 * h(c.latentDim, 1);
}
