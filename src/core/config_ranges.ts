/**
 * Ranges of the hyperparameters that family configs share. Every family schema builds its fields
 * from these, so a typo or an edited `config.json` (`kl_scale = 2^31`, `min_std = 1e9`, a
 * negative or zero width) is refused by the schema, naming the field and its range, before a
 * model is built. The bounds are generous (far beyond any published setting) and only rule out
 * values that cannot train: they are sanity limits, not tuning advice. Sizes are also bounded by
 * the allocation limit through the family's parameter count (`src/io/limits.ts`).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { RANGES } from "./config_ranges.ts";
 * const schema = z.object({ hidden: RANGES.width().default(64), klScale: RANGES.scale() });
 * console.log(schema.safeParse({ hidden: 0, klScale: 2 ** 31 }).success); // false
 * ```
 * @module
 */

import { z } from "zod";

/** Largest width of a layer, latent or embedding (units, channels, bins, samples). */
export const MAX_WIDTH = 1 << 20;
/** Largest number of stacked layers. */
export const MAX_LAYERS = 256;
/** Largest weight of a loss term or coefficient. */
export const MAX_SCALE = 1e4;
/** Largest clip norm, temperature or other positive magnitude. */
export const MAX_MAGNITUDE = 1e6;
/** Largest standard deviation (of latents, policies and samplers, in normalised units). */
export const MAX_STD = 100;

/** Builders of the shared hyperparameter ranges (each returns a fresh zod number schema). */
export const RANGES = {
  /** A width or count of units, 1 .. 2^20 (`min` raises the lower bound). */
  width: (min = 1): z.ZodNumber => z.number().int().min(min).max(MAX_WIDTH),
  /** A number of layers, `min` .. 256. */
  layers: (min = 1): z.ZodNumber => z.number().int().min(min).max(MAX_LAYERS),
  /** A loss weight or coefficient, 0 .. 1e4. */
  scale: (): z.ZodNumber => z.number().min(0).max(MAX_SCALE),
  /** A learning rate, (0, 1]. */
  lr: (): z.ZodNumber => z.number().positive().max(1),
  /** A rate, probability or fraction, 0 .. 1. */
  unit: (): z.ZodNumber => z.number().min(0).max(1),
  /** A standard deviation, (0, 100]. */
  std: (): z.ZodNumber => z.number().positive().max(MAX_STD),
  /** A positive magnitude (clip norm, temperature, epsilon), (0, 1e6]. */
  positive: (): z.ZodNumber => z.number().positive().max(MAX_MAGNITUDE),
  /** A non-negative magnitude, 0 .. 1e6. */
  nonNegative: (): z.ZodNumber => z.number().min(0).max(MAX_MAGNITUDE),
  /** A step count or horizon, 1 .. 1e9. */
  steps: (): z.ZodNumber => z.number().int().min(1).max(1e9),
  /** A value in symlog space or a log-std bound, -1e3 .. 1e3. */
  bounded: (): z.ZodNumber => z.number().min(-1e3).max(1e3),
};
