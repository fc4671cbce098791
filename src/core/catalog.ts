/**
 * The model catalog: {@link listModels} and {@link getModelInfo} over the registered families'
 * presets, filtered by surface and maturity, with parameter counts counted from the models
 * (from shapes when a family can, else by building the model once on the cpu backend).
 * @module
 */

import { ConfigError } from "../errors.ts";
import { UnknownModelError } from "./errors.ts";
import {
  type CatalogEntry,
  type CatalogInfo,
  MODEL_CATALOG,
  WorldModelRegistry,
} from "./registry.ts";
import { MATURITIES, type Maturity, type Surface, SURFACES } from "./types.ts";

export { CatalogEntry, MODEL_ALIASES, MODEL_CATALOG } from "./registry.ts";

/** Catalog information about one preset, with its counted parameters. */
export interface ModelInfo extends CatalogInfo {
  /** Parameters at the preset's default shapes (counted, not typed in). */
  readonly params: number;
  /** `params` rounded for display (`"~12.3M"`). */
  readonly paramsLabel: string;
  /** Aliases that resolve to this preset. */
  readonly aliases: readonly string[];
  /** The alias asked for, when `getModelInfo` was given one. */
  readonly alias?: string;
}

/** Options of {@link listModels}. */
export interface ListModelsOptions {
  /** Return details by id instead of the ids. */
  readonly verbose?: boolean;
  /** Only this maturity (`"reference-family"` is accepted for `"reference"`). */
  readonly maturity?: Maturity | "reference-family" | null;
  /** Widest surface to include (default `"supported"`; `"all"` includes experimental families). */
  readonly surface?: Surface;
}

/** `12345678` -> `"~12.3M"`. */
export function formatParamCount(n: number): string {
  if (n >= 1e9) return `~${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `~${(n / 1e6).toFixed(n >= 1e8 ? 0 : 1)}M`;
  if (n >= 1e3) return `~${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}K`;
  return `${n}`;
}

async function info(entry: CatalogEntry): Promise<ModelInfo> {
  const params = await WorldModelRegistry.countPresetParameters(entry.id);
  return {
    ...entry.info(),
    params,
    paramsLabel: formatParamCount(params),
    aliases: entry.aliases,
  };
}

function select(opts: ListModelsOptions): CatalogEntry[] {
  const surface = opts.surface ?? "supported";
  if (!SURFACES.includes(surface)) {
    throw new ConfigError(`unknown surface "${surface}"; expected one of ${SURFACES.join(", ")}`);
  }
  let maturity = opts.maturity ?? null;
  if (maturity === "reference-family") maturity = "reference";
  if (maturity !== null && !MATURITIES.includes(maturity)) {
    throw new ConfigError(
      `unknown maturity "${maturity}"; expected one of ${MATURITIES.join(", ")}`,
    );
  }
  const rank = SURFACES.indexOf(surface);
  return Object.values(MODEL_CATALOG).filter((e) =>
    SURFACES.indexOf(e.surface) <= rank && (maturity === null || e.maturity === maturity)
  );
}

/**
 * Lists presets: by default the supported surface (reference families' local-training
 * presets); `surface: "public"` adds advanced proof-oriented presets, `"all"` adds experimental
 * and skeleton families. `verbose` returns {@link ModelInfo} by id, with counted parameters.
 *
 * @example
 * ```ts
 * import { listModels } from "@worldflux/worldflux";
 * console.log(await listModels({ surface: "all" }));       // [..., "mlp:ci", "mlp:small", ...]
 * const details = await listModels({ surface: "all", verbose: true });
 * console.log(details["mlp:small"].paramsLabel);
 * ```
 */
export function listModels(opts?: ListModelsOptions & { verbose?: false }): Promise<string[]>;
/** Lists presets with details by id. */
export function listModels(
  opts: ListModelsOptions & { verbose: true },
): Promise<Record<string, ModelInfo>>;
/** Lists presets (ids, or details by id when verbose). */
export function listModels(
  opts?: ListModelsOptions,
): Promise<string[] | Record<string, ModelInfo>>;
export async function listModels(
  opts: ListModelsOptions = {},
): Promise<string[] | Record<string, ModelInfo>> {
  const entries = select(opts);
  if (!opts.verbose) return entries.map((e) => e.id);
  const out: Record<string, ModelInfo> = {};
  for (const e of entries) out[e.id] = await info(e);
  return out;
}

/**
 * Catalog information about a preset or alias (throws an {@link UnknownModelError} listing
 * close names, or a `FamilyUnavailableError` for a family that is not registered).
 *
 * @example
 * ```ts
 * import { getModelInfo } from "@worldflux/worldflux";
 * const i = await getModelInfo("mlp");
 * console.log(i.id, i.maturity, i.params); // "mlp:small" "experimental" ...
 * ```
 */
export async function getModelInfo(name: string): Promise<ModelInfo> {
  const r = WorldModelRegistry.resolve(name);
  const entry = MODEL_CATALOG[r.id];
  if (!entry) throw new UnknownModelError(name, `no catalog entry for "${r.id}"`, []);
  const i = await info(entry);
  return r.aliasChain.length ? { ...i, alias: name.trim().toLowerCase() } : i;
}
