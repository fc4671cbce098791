/**
 * Config of the `tdmpc2` family: a zod schema (every field has a default, taken from the
 * official TD-MPC2 `tdmpc2/config.yaml`), the presets (the official model sizes, so that a
 * preset's name states its parameter count), the discount heuristic and a parameter count
 * computed from the shapes alone.
 * @module
 */

import { z } from "zod";
import { configSchemaFor, type FamilyConfigSchema } from "../../core/config_schema.ts";
import { RANGES } from "../../core/config_ranges.ts";
import { baseConfigSchema, type BuiltinNames, type PresetSpec } from "../../core/registry.ts";

/** A validated `tdmpc2` config (camelCase; `config.json` stores it snake_case). */
export interface TDMPC2Config {
  /** Vector observations `[D]` (default `[39]`). */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 6). */
  readonly actionDim: number;
  /** `continuous` (default) or `discrete` (one-hot actions; a categorical policy prior). */
  readonly actionType: "continuous" | "discrete";
  /**
   * `official` (TD-MPC2: SimNorm dynamics, two-hot reward and value heads) or `legacy` (the
   * simplified compatibility variant: residual SimNorm dynamics, scalar reward and Q heads
   * trained with MSE).
   */
  readonly variant: "official" | "legacy";
  /** Size of the SimNorm latent (official `latent_dim`, default 512). */
  readonly latentDim: number;
  /** Width of the dynamics, reward, policy and Q MLPs (official `mlp_dim`, default 512). */
  readonly hiddenDim: number;
  /** Width of the encoder's hidden layers (official `enc_dim`, default 256). */
  readonly encDim: number;
  /** Encoder layers (official `num_enc_layers`, default 2: max(n - 1, 1) hidden + 1 out). */
  readonly numEncLayers: number;
  /** Q heads of the ensemble (official `num_q`, default 5). */
  readonly numQNetworks: number;
  /** SimNorm group size (official `simnorm_dim`, default 8). */
  readonly simnormDim: number;
  /** Bins of the two-hot reward and value heads (official `num_bins`, default 101). */
  readonly numBins: number;
  /** Lowest bin, in symlog space (official `vmin`, default -10). */
  readonly vmin: number;
  /** Highest bin, in symlog space (official `vmax`, default 10). */
  readonly vmax: number;
  /** Dropout after the first Linear of each Q head (official `dropout`, default 0.01). */
  readonly dropout: number;
  /** Smallest policy log-std (official `log_std_min`, default -10). */
  readonly logStdMin: number;
  /** Largest policy log-std (official `log_std_max`, default 2). */
  readonly logStdMax: number;
  /** Latent rollout length of the loss and of planning (official `horizon`, default 3). */
  readonly horizon: number;
  /** Temporal weight of the loss terms, `rho^t` (official `rho`, default 0.5). */
  readonly rho: number;
  /** Weight of the latent consistency loss (official `consistency_coef`, default 20). */
  readonly consistencyCoef: number;
  /** Weight of the reward loss (official `reward_coef`, default 0.1). */
  readonly rewardCoef: number;
  /** Weight of the value loss (official `value_coef`, default 0.1). */
  readonly valueCoef: number;
  /** Weight of the termination loss (official `termination_coef`, default 1). */
  readonly terminationCoef: number;
  /** Entropy bonus of the policy loss (official `entropy_coef`, default 1e-4). */
  readonly entropyCoef: number;
  /** Episodes can terminate: a termination head and `(1 - terminated)` in TD targets. */
  readonly episodic: boolean;
  /** Adam learning rate (official `lr`, default 3e-4). */
  readonly lr: number;
  /** Learning-rate multiplier of the encoder (official `enc_lr_scale`, default 0.3). */
  readonly encLrScale: number;
  /** Global gradient-norm clip (official `grad_clip_norm`, default 20). */
  readonly gradClip: number;
  /** Soft-update rate of the target Q heads and of the Q scale (official `tau`, default 0.01). */
  readonly tau: number;
  /** Discount; null derives it from `episodeLength` (official heuristic). */
  readonly discount: number | null;
  /** Episode length the discount heuristic uses (default 1000, giving 0.995). */
  readonly episodeLength: number;
  /** Heuristic: `frac = episodeLength / discountDenom` (default 5). */
  readonly discountDenom: number;
  /** Heuristic lower bound (default 0.95). */
  readonly discountMin: number;
  /** Heuristic upper bound (default 0.995). */
  readonly discountMax: number;
  /** MPPI iterations (official `iterations`, default 6). */
  readonly iterations: number;
  /** MPPI samples (official `num_samples`, default 512). */
  readonly numSamples: number;
  /** MPPI elites (official `num_elites`, default 64). */
  readonly numElites: number;
  /** Policy-prior trajectories among the samples (official `num_pi_trajs`, default 24). */
  readonly numPiTrajs: number;
  /** Smallest MPPI std (official `min_std`, default 0.05). */
  readonly minStd: number;
  /** Largest (and initial) MPPI std (official `max_std`, default 2). */
  readonly maxStd: number;
  /** MPPI score temperature (official `temperature`, default 0.5). */
  readonly temperature: number;
}

const schema = baseConfigSchema.extend({
  obsShape: z.array(z.number().int().positive()).length(
    1,
    "the tdmpc2 family takes vector observations [D]",
  ).default([39]),
  actionDim: z.number().int().positive().default(6),
  variant: z.enum(["official", "legacy"]).default("official"),
  latentDim: RANGES.width().default(512),
  hiddenDim: RANGES.width().default(512),
  encDim: RANGES.width().default(256),
  numEncLayers: RANGES.layers().default(2),
  numQNetworks: RANGES.layers(2).default(5),
  simnormDim: RANGES.width().default(8),
  numBins: RANGES.width(2).default(101),
  vmin: RANGES.bounded().default(-10),
  vmax: RANGES.bounded().default(10),
  dropout: z.number().min(0).max(0.99).default(0.01),
  logStdMin: RANGES.bounded().default(-10),
  logStdMax: RANGES.bounded().default(2),
  horizon: RANGES.layers().default(3),
  rho: z.number().positive().max(1).default(0.5),
  consistencyCoef: RANGES.scale().default(20),
  rewardCoef: RANGES.scale().default(0.1),
  valueCoef: RANGES.scale().default(0.1),
  terminationCoef: RANGES.scale().default(1),
  entropyCoef: RANGES.scale().default(1e-4),
  episodic: z.boolean().default(false),
  lr: RANGES.lr().default(3e-4),
  encLrScale: RANGES.scale().default(0.3),
  gradClip: RANGES.positive().default(20),
  tau: RANGES.unit().default(0.01),
  discount: RANGES.unit().nullable().default(null),
  episodeLength: RANGES.steps().default(1000),
  discountDenom: RANGES.positive().default(5),
  discountMin: RANGES.unit().default(0.95),
  discountMax: RANGES.unit().default(0.995),
  iterations: RANGES.layers().default(6),
  numSamples: RANGES.width(2).default(512),
  numElites: RANGES.width().default(64),
  numPiTrajs: RANGES.width(0).default(24),
  minStd: RANGES.std().default(0.05),
  maxStd: RANGES.std().default(2),
  temperature: RANGES.positive().default(0.5),
}).superRefine((c, ctx) => {
  if (c.minStd > c.maxStd) {
    ctx.addIssue({ code: "custom", path: ["minStd"], message: "minStd must not exceed maxStd" });
  }
  if (c.logStdMin >= c.logStdMax) {
    ctx.addIssue({
      code: "custom",
      path: ["logStdMax"],
      message: "logStdMax must exceed logStdMin",
    });
  }
  if (c.latentDim % c.simnormDim !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["latentDim"],
      message: `latentDim ${c.latentDim} must be a multiple of simnormDim ${c.simnormDim}`,
    });
  }
  if (c.vmax <= c.vmin) {
    ctx.addIssue({ code: "custom", path: ["vmax"], message: "vmax must exceed vmin" });
  }
  if (c.numElites > c.numSamples) {
    ctx.addIssue({ code: "custom", path: ["numElites"], message: "numElites > numSamples" });
  }
  if (c.numPiTrajs >= c.numSamples) {
    ctx.addIssue({ code: "custom", path: ["numPiTrajs"], message: "numPiTrajs >= numSamples" });
  }
});

/** The zod schema of {@link TDMPC2Config} (every field has a default). */
export const tdmpc2ConfigSchema: FamilyConfigSchema<TDMPC2Config> = configSchemaFor<TDMPC2Config>()(
  schema,
);

/** The official 5M sizes (tdmpc2/config.yaml defaults). */
const SIZE_5M = { encDim: 256, hiddenDim: 512, latentDim: 512, numEncLayers: 2, numQNetworks: 5 };

/**
 * Presets: the official TD-MPC2 model sizes (`tdmpc2/common/__init__.py` `MODEL_SIZE`:
 * 1, 5, 19, 48, 317 M) plus `ci` (tests) and the proof / legacy variants of 5m.
 */
export const TDMPC2_PRESETS: Readonly<Record<string, PresetSpec<TDMPC2Config>>> = {
  ci: {
    config: {
      encDim: 32,
      hiddenDim: 32,
      latentDim: 32,
      numEncLayers: 2,
      numQNetworks: 2,
      numSamples: 64,
      numElites: 8,
      numPiTrajs: 4,
    },
    description: "TD-MPC2, CI size (quick validation)",
    tier: "compatibility",
  },
  "5m": { config: SIZE_5M, description: "TD-MPC2 5M (official default size)", tier: "reference" },
  proof_5m: {
    config: SIZE_5M,
    description: "TD-MPC2 5M, proof-canonical preset",
    tier: "proof",
  },
  "5m_legacy": {
    config: { ...SIZE_5M, variant: "legacy" },
    description: "TD-MPC2 5M dims, simplified variant (residual SimNorm dynamics, MSE heads)",
    tier: "compatibility",
  },
  "19m": {
    config: { encDim: 1024, hiddenDim: 1024, latentDim: 768, numEncLayers: 3, numQNetworks: 5 },
    description: "TD-MPC2 19M",
    tier: "reference",
  },
  "48m": {
    config: { encDim: 1792, hiddenDim: 1792, latentDim: 768, numEncLayers: 4, numQNetworks: 5 },
    description: "TD-MPC2 48M",
    tier: "reference",
  },
  "317m": {
    config: { encDim: 4096, hiddenDim: 4096, latentDim: 1376, numEncLayers: 5, numQNetworks: 8 },
    description: "TD-MPC2 317M",
    tier: "reference",
  },
};

/**
 * The discount of a task from its episode length (official `TDMPC2._get_discount`):
 * `clamp((frac - 1) / frac, min, max)` with `frac = episodeLength / discountDenom`, or the
 * configured `discount` when set.
 */
export function tdmpc2Discount(c: TDMPC2Config): number {
  if (c.discount !== null) return c.discount;
  const frac = c.episodeLength / c.discountDenom;
  return Math.min(Math.max((frac - 1) / frac, c.discountMin), c.discountMax);
}

/** Layer sizes of the family's MLPs (shared by the builder and the parameter count). */
export interface TDMPC2Dims {
  /** Observation size. */
  readonly obsDim: number;
  /** Size of the action features (the one-hot size when discrete). */
  readonly actionFeatures: number;
  /** Encoder hidden widths (official: `max(num_enc_layers - 1, 1) * [enc_dim]`). */
  readonly encHidden: number[];
  /** Hidden widths of dynamics, reward, policy, Q and termination MLPs (`2 * [mlp_dim]`). */
  readonly hidden: number[];
  /** Outputs of the reward and Q heads (bins, or 1 in the legacy variant). */
  readonly headOut: number;
  /** Outputs of the policy (2A mean / log-std, or A logits when discrete). */
  readonly piOut: number;
}

/** The layer sizes of a config. */
export function tdmpc2Dims(c: TDMPC2Config): TDMPC2Dims {
  return {
    obsDim: c.obsShape[0],
    actionFeatures: c.actionDim,
    encHidden: Array(Math.max(c.numEncLayers - 1, 1)).fill(c.encDim),
    hidden: [c.hiddenDim, c.hiddenDim],
    headOut: c.variant === "legacy" ? 1 : c.numBins,
    piOut: c.actionType === "discrete" ? c.actionDim : 2 * c.actionDim,
  };
}

/**
 * Parameters of a TD-MPC2 MLP (official `layers.mlp`): NormedLinear layers (weight, bias,
 * LayerNorm weight and bias) for the hidden widths, then a Linear (or a NormedLinear when the
 * output has an activation such as SimNorm).
 */
export function tdmlpParameterCount(
  inDim: number,
  hidden: readonly number[],
  outDim: number,
  normedOut: boolean,
): number {
  let n = 0;
  let d = inDim;
  for (const h of hidden) {
    n += d * h + h + 2 * h;
    d = h;
  }
  return n + d * outDim + outDim + (normedOut ? 2 * outDim : 0);
}

/**
 * Trainable parameters of a `tdmpc2` model from the config alone (no allocation): encoder,
 * dynamics, reward, policy, Q ensemble and (episodic) termination head. Target Q heads are
 * buffers, not counted (as the official `total_params`).
 */
export function countTDMPC2Parameters(c: TDMPC2Config): number {
  const d = tdmpc2Dims(c);
  const L = c.latentDim;
  const za = L + d.actionFeatures;
  const legacy = c.variant === "legacy";
  let n = tdmlpParameterCount(d.obsDim, d.encHidden, L, true);
  n += tdmlpParameterCount(za, d.hidden, L, !legacy);
  n += tdmlpParameterCount(za, d.hidden, d.headOut, false);
  n += tdmlpParameterCount(L, d.hidden, d.piOut, false);
  n += c.numQNetworks * tdmlpParameterCount(za, d.hidden, d.headOut, false);
  if (c.episodic) n += tdmlpParameterCount(L, d.hidden, 1, false);
  return n;
}

/**
 * The reference catalog's names of TD-MPC2 models: known (saying the family is not available)
 * even while the family is not registered.
 */
export const TDMPC2_REFERENCE_NAMES: BuiltinNames = {
  aliases: {
    "tdmpc": "tdmpc2:5m",
    "tdmpc2": "tdmpc2:5m",
    "tdmpc2-ci": "tdmpc2:ci",
    "tdmpc-ci": "tdmpc2:ci",
    "tdmpc-small": "tdmpc2:5m",
    "tdmpc-medium": "tdmpc2:48m",
    "tdmpc-large": "tdmpc2:317m",
    "tdmpc-proof": "tdmpc2:proof_5m",
    "tdmpc2:proof": "tdmpc2:proof_5m",
    "tdmpc-legacy": "tdmpc2:5m_legacy",
  },
  familyAliases: { tdmpc2: ["tdmpc"] },
};
