/**
 * Config of the `dreamerv3` family: the zod schema (every field has a default), the presets
 * (dimensions of the reference catalog: deter/stoch/classes per preset), the observation layout
 * derived from a config, and the parameter count computed from shapes alone.
 *
 * Structure and defaults follow the official DreamerV3 (danijar/dreamerv3): `dreamerv3/rssm.py`
 * (RSSM core, encoder, decoder), `dreamerv3/configs.yaml` (sizes, loss scales, optimizer,
 * actor-critic), `embodied/jax/heads.py` and `embodied/jax/outs.py` (heads and output
 * distributions), `embodied/jax/opt.py` (LaProp + AGC).
 * @module
 */

import { z } from "zod";
import { configSchemaFor, type FamilyConfigSchema } from "../../core/config_schema.ts";
import { ConfigError } from "../../errors.ts";
import { RANGES } from "../../core/config_ranges.ts";
import { baseConfigSchema, type BuiltinNames, type PresetSpec } from "../../core/registry.ts";

/** A validated `dreamerv3` config (camelCase; `config.json` stores it snake_case). */
export interface DreamerV3Config {
  /** Per-example observation shape: `[C, H, W]` (image) or `[D]` (vector). Default `[3, 64, 64]`. */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 6). */
  readonly actionDim: number;
  /** `continuous` (default) or `discrete`. */
  readonly actionType: "continuous" | "discrete";
  /**
   * Dict observations: shape by key (`{ image: [3, 64, 64], state: [5] }`); null (default) means
   * one observation `obs` of `obsShape`. Vector keys share one MLP, image keys (same H, W) are
   * stacked on channels into one CNN, as the official MultiEncoder does.
   */
  readonly observations: Readonly<Record<string, readonly number[]>> | null;
  /** Size of the deterministic GRU state h (reference/001: 64 for ci ... 8192). */
  readonly deter: number;
  /** Number of categorical latents (reference/001 `stoch_discrete`). */
  readonly stoch: number;
  /** Classes per categorical latent (reference/001 `stoch_classes`). */
  readonly classes: number;
  /** Width of the RSSM's input/prior/posterior layers (official `rssm.hidden`). */
  readonly hidden: number;
  /** Block-diagonal groups of the GRU core (official 8). */
  readonly blocks: number;
  /** Width of the encoder/decoder MLPs and of the heads (official `units`). */
  readonly units: number;
  /** Channels of the first conv stage; each stride-2 stage doubles it. */
  readonly cnnDepth: number;
  /**
   * Spatial size at which the conv stack stops (official minres 4); it also stops at an odd size
   * of at most 16 (10x10 grids: one stage to 5x5).
   */
  readonly minRes: number;
  /** Dense layers of the vector encoder (official 3). */
  readonly encLayers: number;
  /** Dense layers of the vector decoder (official 3). */
  readonly decLayers: number;
  /** Dense layers of the reward head (official 1). */
  readonly rewLayers: number;
  /** Dense layers of the continue head (official 1). */
  readonly conLayers: number;
  /** Prior layers on h (official `imglayers` 2). */
  readonly imgLayers: number;
  /** Normalisation after every hidden Linear/conv: `rms` (official) or `layer`. */
  readonly norm: "rms" | "layer";
  /** Epsilon of the norms (official 1e-4). */
  readonly normEps: number;
  /** Uniform mix of the latent categoricals (official 0.01). */
  readonly unimix: number;
  /** Free nats of the KL terms (official 1.0). */
  readonly freeNats: number;
  /** Weight of the dynamics KL, `max(free, KL(sg(post) || prior))`. */
  readonly dynScale: number;
  /** Weight of the representation KL, `max(free, KL(post || sg(prior)))`. */
  readonly repScale: number;
  /** Weight of the observation reconstruction. */
  readonly recScale: number;
  /** Weight of the reward prediction. */
  readonly rewScale: number;
  /** Weight of the continue prediction. */
  readonly conScale: number;
  /**
   * Weight of the replay value loss (official `loss_scales.repval` 0.3): the critic also learns
   * returns along the replayed sequences, bootstrapped on imagined returns; 0 turns it off.
   */
  readonly repvalScale: number;
  /** Two-hot bins of the reward head and the critic (official 255). */
  readonly bins: number;
  /** Bins are `symexp(linspace(-binRange, binRange, bins))` (official 20; `twohotBins`). */
  readonly binRange: number;
  /** Build the actor and critic (the DreamerV3 agent); false gives the world model alone. */
  readonly actorCritic: boolean;
  /** Dense layers of the actor and of the critic (official 3). */
  readonly acLayers: number;
  /** Imagination horizon of the actor-critic (official `imag_length` 15). */
  readonly imagLength: number;
  /** Discount horizon: gamma = 1 - 1 / horizon (official 333). */
  readonly horizon: number;
  /** Lambda of the lambda-returns (official 0.95). */
  readonly lambda: number;
  /** Entropy bonus of the actor (official 3e-4). */
  readonly actorEntropy: number;
  /** Smallest std of the bounded-normal policy (official 0.1). */
  readonly minStd: number;
  /** Largest std of the bounded-normal policy (official 1.0). */
  readonly maxStd: number;
  /**
   * Uniform mix of the discrete policy (official 0: `heads.py`'s `categorical` output ignores the
   * policy's `unimix`, which only the `onehot` output reads).
   */
  readonly actorUnimix: number;
  /** Scale of the actor's output initialisation (official 0.01). */
  readonly actorOutScale: number;
  /** EMA rate of the slow critic (official `slowvalue.rate` 0.02, every update). */
  readonly slowCriticRate: number;
  /** Weight of the critic's regulariser towards the slow critic (official `slowreg` 1.0). */
  readonly slowReg: number;
  /** EMA rate of the return percentiles (official `retnorm.rate` 0.01, i.e. decay 0.99). */
  readonly retNormRate: number;
  /** Smallest return scale, `max(limit, P95 - P5)` (official 1.0). */
  readonly retNormLimit: number;
  /** Lower return percentile (official 5). */
  readonly retNormLow: number;
  /** Upper return percentile (official 95). */
  readonly retNormHigh: number;
  /** Optimizer of the world model and of the actor-critic: `laprop` (official) or `adam`. */
  readonly optimizer: "laprop" | "adam";
  /** Learning rate of the world model (official 4e-5). */
  readonly lr: number;
  /** Learning rate of the actor and critic (official 4e-5). */
  readonly acLr: number;
  /** Updates over which the learning rates ramp up linearly from 0 (official `opt.warmup` 1000). */
  readonly warmup: number;
  /** Optimizer epsilon (official 1e-20 with LaProp). */
  readonly eps: number;
  /** Adaptive gradient clipping per parameter tensor (official 0.3; 0 disables). */
  readonly agc: number;
  /** Global gradient-norm clip applied in the fused optimizer step (null: none). */
  readonly gradClip: number | null;
}

/** Reference dims and chosen widths of a size (reference/001 gives deter/stoch/classes). */
interface SizeDims {
  deter: number;
  stoch: number;
  classes: number;
  hidden: number;
  units: number;
  cnnDepth: number;
}

const schema = baseConfigSchema.extend({
  obsShape: z.array(z.number().int().positive()).min(1).max(3).default([3, 64, 64]),
  actionDim: z.number().int().positive().default(6),
  observations: z.record(z.string(), z.array(z.number().int().positive()).min(1).max(3))
    .nullable().default(null),
  deter: RANGES.width().default(2048),
  stoch: RANGES.width().default(16),
  classes: RANGES.width(2).default(16),
  hidden: RANGES.width().default(256),
  blocks: RANGES.width().default(8),
  units: RANGES.width().default(256),
  cnnDepth: RANGES.width().default(16),
  minRes: RANGES.width().default(4),
  encLayers: RANGES.layers().default(3),
  decLayers: RANGES.layers().default(3),
  rewLayers: RANGES.layers(0).default(1),
  conLayers: RANGES.layers(0).default(1),
  imgLayers: RANGES.layers().default(2),
  norm: z.enum(["rms", "layer"]).default("rms"),
  normEps: z.number().positive().max(1).default(1e-4),
  unimix: z.number().min(0).max(0.5).default(0.01),
  freeNats: RANGES.scale().default(1.0),
  dynScale: RANGES.scale().default(1.0),
  repScale: RANGES.scale().default(0.1),
  recScale: RANGES.scale().default(1.0),
  rewScale: RANGES.scale().default(1.0),
  conScale: RANGES.scale().default(1.0),
  repvalScale: RANGES.scale().default(0.3),
  bins: RANGES.width(3).default(255),
  binRange: RANGES.bounded().positive().default(20),
  actorCritic: z.boolean().default(true),
  acLayers: RANGES.layers().default(3),
  imagLength: RANGES.layers().default(15),
  horizon: RANGES.positive().default(333),
  lambda: z.number().min(0).max(1).default(0.95),
  actorEntropy: RANGES.scale().default(3e-4),
  minStd: RANGES.std().default(0.1),
  maxStd: RANGES.std().default(1.0),
  actorUnimix: z.number().min(0).max(0.5).default(0),
  actorOutScale: RANGES.scale().default(0.01),
  slowCriticRate: z.number().min(0).max(1).default(0.02),
  slowReg: RANGES.scale().default(1.0),
  retNormRate: z.number().min(0).max(1).default(0.01),
  retNormLimit: RANGES.positive().default(1.0),
  retNormLow: z.number().min(0).max(100).default(5),
  retNormHigh: z.number().min(0).max(100).default(95),
  optimizer: z.enum(["laprop", "adam"]).default("laprop"),
  lr: RANGES.lr().default(4e-5),
  acLr: RANGES.lr().default(4e-5),
  warmup: z.number().int().min(0).max(1e9).default(1000),
  eps: z.number().positive().max(1).default(1e-20),
  agc: RANGES.nonNegative().default(0.3),
  gradClip: RANGES.positive().nullable().default(null),
}).superRefine((c, ctx) => {
  if (c.minStd > c.maxStd) {
    ctx.addIssue({ code: "custom", path: ["minStd"], message: "minStd must not exceed maxStd" });
  }
  if (c.retNormLow >= c.retNormHigh) {
    ctx.addIssue({
      code: "custom",
      path: ["retNormHigh"],
      message: "retNormHigh must exceed retNormLow",
    });
  }
});

/** The zod schema of {@link DreamerV3Config} (every field has a default). */
export const dreamerV3ConfigSchema: FamilyConfigSchema<DreamerV3Config> = configSchemaFor<
  DreamerV3Config
>()(schema);

function size(d: SizeDims): Partial<DreamerV3Config> {
  return { ...d };
}

/**
 * Presets. deter/stoch/classes are reference/001's; hidden, units and the CNN depth are chosen
 * so that the counted parameters at the default shapes (obs [3, 64, 64], 6 continuous actions,
 * actor-critic included) match the size in the name (see `countDreamerV3Parameters`).
 */
export const DREAMERV3_PRESETS: Readonly<Record<string, PresetSpec<DreamerV3Config>>> = {
  ci: {
    config: size({ deter: 64, stoch: 4, classes: 4, hidden: 32, units: 32, cnnDepth: 3 }),
    description: "DreamerV3 (RSSM), CI size (~0.1M)",
    tier: "compatibility",
  },
  size12m: {
    config: size({ deter: 2048, stoch: 16, classes: 16, hidden: 256, units: 256, cnnDepth: 16 }),
    description: "DreamerV3 (RSSM), ~12M parameters",
    tier: "reference",
  },
  size25m: {
    config: size({ deter: 4096, stoch: 32, classes: 16, hidden: 256, units: 256, cnnDepth: 12 }),
    description: "DreamerV3 (RSSM), ~25M parameters",
    tier: "reference",
  },
  size50m: {
    config: size({ deter: 4096, stoch: 32, classes: 32, hidden: 512, units: 512, cnnDepth: 28 }),
    description: "DreamerV3 (RSSM), ~50M parameters",
    tier: "reference",
  },
  size100m: {
    config: size({ deter: 8192, stoch: 32, classes: 32, hidden: 512, units: 512, cnnDepth: 24 }),
    description: "DreamerV3 (RSSM), ~100M parameters",
    tier: "reference",
  },
  size200m: {
    config: size({
      deter: 8192,
      stoch: 32,
      classes: 32,
      hidden: 1024,
      units: 1024,
      cnnDepth: 64,
    }),
    description: "DreamerV3 (RSSM), ~200M parameters",
    tier: "reference",
  },
  official_xl: {
    config: size({
      deter: 8192,
      stoch: 32,
      classes: 64,
      hidden: 1024,
      units: 1024,
      cnnDepth: 64,
    }),
    description: "DreamerV3 (RSSM), official XL configuration (~200-300M), proof preset",
    tier: "proof",
  },
};

// ---------------------------------------------------------------------------------------------
// Observation layout
// ---------------------------------------------------------------------------------------------

/** Largest spatial size the conv stack may stop at (the official encoder asserts <= 16). */
const MAX_LAST_RES = 16;

/** How the observations of a config are split between the MLP and the CNN. */
export interface ObsLayout {
  /** Every observation key with its shape (`obs` for a single observation). */
  readonly keys: readonly { key: string; shape: readonly number[] }[];
  /** Vector keys (rank 1 or 2; rank 2 is flattened), in key order. */
  readonly vecKeys: readonly string[];
  /** Flattened size of each vector key. */
  readonly vecDims: readonly number[];
  /** Total vector size. */
  readonly vecDim: number;
  /** Image keys `[C, H, W]`, in key order. */
  readonly imgKeys: readonly string[];
  /** Channels of each image key. */
  readonly imgChannels: readonly number[];
  /** Total channels, height and width of the stacked images (0s without images). */
  readonly img: { channels: number; height: number; width: number };
  /** Stride-2 conv stages. */
  readonly stages: number;
  /** Spatial size after the stages. */
  readonly minH: number;
  /** Spatial size after the stages. */
  readonly minW: number;
}

/** The observation layout of a config (throws a ConfigError for unusable image sizes). */
export function obsLayout(c: DreamerV3Config): ObsLayout {
  const entries = c.observations
    ? Object.keys(c.observations).sort().map((key) => ({ key, shape: c.observations![key] }))
    : [{ key: "obs", shape: c.obsShape }];
  if (entries.length === 0) throw new ConfigError("dreamerv3: observations must not be empty");
  const vecKeys: string[] = [];
  const vecDims: number[] = [];
  const imgKeys: string[] = [];
  const imgChannels: number[] = [];
  let height = 0, width = 0;
  for (const { key, shape } of entries) {
    if (shape.length === 3) {
      if (imgKeys.length && (shape[1] !== height || shape[2] !== width)) {
        throw new ConfigError(
          `dreamerv3: image observations must share H and W (got [${shape}] for "${key}" and ` +
            `${height}x${width})`,
        );
      }
      imgKeys.push(key);
      imgChannels.push(shape[0]);
      height = shape[1];
      width = shape[2];
    } else {
      vecKeys.push(key);
      vecDims.push(shape.reduce((a, b) => a * b, 1));
    }
  }
  let stages = 0, minH = 0, minW = 0;
  if (imgKeys.length) {
    // Stride-2 stages halve the size down to minRes, or until it is odd (a 10x10 grid: one stage
    // to 5x5). The last size must stay within the official encoder's bound (its flattened
    // output asserts 3 <= size <= 16), so 84x84 (-> 21x21) is refused as it is there.
    minH = height;
    minW = width;
    while (Math.min(minH, minW) > c.minRes && minH % 2 === 0 && minW % 2 === 0) {
      minH /= 2;
      minW /= 2;
      stages++;
    }
    if (stages === 0) {
      throw new ConfigError(
        `dreamerv3: images of ${height}x${width} cannot go through a stride-2 conv stage ` +
          `(${
            Math.min(height, width) <= c.minRes ? `not larger than minRes ${c.minRes}` : "odd size"
          }); ` +
          `use an even size larger than minRes, or give the observation as a vector`,
      );
    }
    if (Math.max(minH, minW) > Math.max(MAX_LAST_RES, c.minRes)) {
      throw new ConfigError(
        `dreamerv3: image size ${height}x${width} halves only down to ${minH}x${minW} (larger ` +
          `than ${MAX_LAST_RES}); use sizes like 16, 32, 64 or set minRes`,
      );
    }
  }
  return {
    keys: entries,
    vecKeys,
    vecDims,
    vecDim: vecDims.reduce((a, b) => a + b, 0),
    imgKeys,
    imgChannels,
    img: { channels: imgChannels.reduce((a, b) => a + b, 0), height, width },
    stages,
    minH,
    minW,
  };
}

/** Conv channels per stage: `cnnDepth * 2^i`. */
export function cnnDepths(c: DreamerV3Config, stages: number): number[] {
  return Array.from({ length: stages }, (_, i) => c.cnnDepth * 2 ** i);
}

/** Size of the encoder's embedding. */
export function embedDim(c: DreamerV3Config, l: ObsLayout = obsLayout(c)): number {
  const vec = l.vecKeys.length ? c.units : 0;
  const img = l.imgKeys.length ? l.minH * l.minW * cnnDepths(c, l.stages)[l.stages - 1] : 0;
  return vec + img;
}

/** Size of the features `concat(h, flat z)`. */
export function featDim(c: DreamerV3Config): number {
  return c.deter + c.stoch * c.classes;
}

// ---------------------------------------------------------------------------------------------
// Parameter count
// ---------------------------------------------------------------------------------------------

/** Linear with bias. */
const lin = (i: number, o: number) => i * o + o;
/** Linear -> norm (rms: scale; layer: scale and shift). */
const normLin = (c: DreamerV3Config, i: number, o: number) =>
  lin(i, o) + (c.norm === "layer" ? 2 * o : o);
const norm = (c: DreamerV3Config, d: number) => (c.norm === "layer" ? 2 * d : d);
const mlpStack = (c: DreamerV3Config, i: number, layers: number) => {
  let n = 0, d = i;
  for (let k = 0; k < layers; k++) {
    n += normLin(c, d, c.units);
    d = c.units;
  }
  return n;
};

/** Parameters of the RSSM (core, prior, posterior). */
export function countRSSMParameters(c: DreamerV3Config, embed: number): number {
  const D = c.deter, H = c.hidden, SK = c.stoch * c.classes, g = c.blocks;
  const A = c.actionDim;
  let n = normLin(c, D, H) + normLin(c, SK, H) + normLin(c, A, H); // dynin0..2
  n += (D / g) * D + 3 * H * D + D + norm(c, D); // dynhid (block linear) + norm
  n += (D / g) * 3 * D + 3 * D; // dyngru (block-diagonal)
  n += normLin(c, D + embed, H) + lin(H, SK); // posterior
  let d = D;
  for (let i = 0; i < c.imgLayers; i++) {
    n += normLin(c, d, H);
    d = H;
  }
  n += lin(H, SK); // prior logits
  return n;
}

/**
 * Trainable parameters of a `dreamerv3` model, from the config alone (no allocation): encoder,
 * RSSM, decoder, reward and continue heads, and (with `actorCritic`) actor and critic. The slow
 * critic and the return-normalisation statistics are buffers, not parameters.
 */
export function countDreamerV3Parameters(c: DreamerV3Config): number {
  const l = obsLayout(c);
  const F = featDim(c);
  const E = embedDim(c, l);
  let n = countRSSMParameters(c, E);
  if (l.vecKeys.length) {
    n += mlpStack(c, l.vecDim, c.encLayers); // encoder
    n += mlpStack(c, F, c.decLayers) + lin(c.units, l.vecDim); // decoder
  }
  if (l.imgKeys.length) {
    const ds = cnnDepths(c, l.stages);
    let cin = l.img.channels;
    for (const d of ds) {
      n += cin * 16 * d + d + norm(c, d); // stride-2 conv k4 + norm
      cin = d;
    }
    const last = ds[ds.length - 1];
    n += F * l.minH * l.minW * last + l.minH * l.minW * last + norm(c, last); // to spatial
    for (let i = ds.length - 1; i >= 1; i--) {
      n += ds[i] * 16 * ds[i - 1] + ds[i - 1] + norm(c, ds[i - 1]);
    }
    n += ds[0] * 16 * l.img.channels + l.img.channels; // output transposed conv
  }
  n += mlpStack(c, F, c.rewLayers) + lin(c.rewLayers ? c.units : F, c.bins);
  n += mlpStack(c, F, c.conLayers) + lin(c.conLayers ? c.units : F, 1);
  if (c.actorCritic) {
    const A = c.actionDim;
    n += mlpStack(c, F, c.acLayers) +
      (c.actionType === "discrete" ? lin(c.units, A) : 2 * lin(c.units, A));
    n += mlpStack(c, F, c.acLayers) + lin(c.units, c.bins);
  }
  return n;
}

/**
 * The reference catalog's names of DreamerV3 models: known (saying the family is not available)
 * even while the family is not registered.
 */
export const DREAMERV3_REFERENCE_NAMES: BuiltinNames = {
  aliases: {
    "dreamer": "dreamerv3:size12m",
    "dreamerv3": "dreamerv3:size12m",
    "dreamer-ci": "dreamer:ci",
    "dreamerv3-ci": "dreamer:ci",
    "dreamer-small": "dreamerv3:size12m",
    "dreamer-medium": "dreamerv3:size50m",
    "dreamer-large": "dreamerv3:size200m",
    "dreamerv3:official": "dreamerv3:official_xl",
  },
  familyAliases: { dreamerv3: ["dreamer"] },
};
