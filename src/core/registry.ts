/**
 * The family registry: each world-model family registers a zod config schema, an async
 * factory, presets (`family:size`), aliases and catalog metadata. The factory, the catalog
 * and the loader all resolve names through it. Aliases ({@link MODEL_ALIASES}) and catalog
 * entries ({@link MODEL_CATALOG}) are live views of what is registered.
 * @module
 */

import { z } from "zod";
import type { DeviceName } from "../backend/types.ts";
import { ConfigError } from "../errors.ts";
import { checkAllocation } from "../io/limits.ts";
import { Module } from "../nn/module.ts";
import { Generator } from "../tensor/random.ts";
import { FamilyUnavailableError, UnknownModelError } from "./errors.ts";
import { closestNames, snakeToCamel } from "./naming.ts";
import type { ApiVersion, Maturity, Surface, Tier } from "./types.ts";
import { MATURITIES, SURFACES, TIERS } from "./types.ts";
import type { ControllerFactory } from "./controller.ts";
import type { TrainingConfig } from "./training_config.ts";
import type { TrainStepFactory } from "./train_step.ts";
import type { WorldModel } from "./world_model.ts";
import type { ConfigIssue, ConfigSchema } from "./config_schema.ts";

/** The fields every family config has. */
export interface BaseConfig {
  /** Per-example observation shape. */
  readonly obsShape: readonly number[];
  /** Action feature size (number of actions when discrete). */
  readonly actionDim: number;
  /** `continuous` or `discrete` actions. */
  readonly actionType: "continuous" | "discrete";
}

/**
 * The zod schema of {@link BaseConfig}; family schemas extend it:
 * `baseConfigSchema.extend({ hiddenDim: z.number().int().positive().default(128) })`.
 */
export const baseConfigSchema = z.object({
  obsShape: z.array(z.number().int().positive()).min(1).default([4]),
  actionDim: z.number().int().positive().default(6),
  actionType: z.enum(["continuous", "discrete"]).default("continuous"),
});

/** Everything a family factory gets besides the config. */
export interface BuildContext {
  /** The family name. */
  readonly modelType: string;
  /** The preset the config came from (null for a saved model or a bare config). */
  readonly preset: string | null;
  /** Device of the parameters. */
  readonly device: DeviceName;
  /** API compatibility mode of the model. */
  readonly apiVersion: ApiVersion;
  /** Random stream for parameter initialisation (seeded by `createWorldModel(..., { seed })`). */
  readonly generator: Generator;
}

/** A preset: overrides of the schema defaults plus catalog metadata. */
export interface PresetSpec<C = Record<string, unknown>> {
  /** Config overrides (camelCase) applied over the schema defaults. */
  readonly config: Partial<C>;
  /** One line about it. */
  readonly description?: string;
  /** Defaults to the family's. */
  readonly maturity?: Maturity;
  /** Defaults to the family's (or is derived from maturity and tier). */
  readonly surface?: Surface;
  /** Defaults to the family's. */
  readonly tier?: Tier | null;
}

/**
 * What a family registers (`C`: its validated config type; `M`: its model class, which its
 * factory builds and its step and controller receive).
 */
export interface FamilySpec<C = Record<string, unknown>, M extends WorldModel = WorldModel> {
  /** Schema of the camelCase config; every field needs a default; must define obsShape and actionDim. */
  readonly configSchema: ConfigSchema<C>;
  /** Builds a model (may be async). Parameters go on `ctx.device`, drawn from `ctx.generator`. */
  readonly factory: (config: C, ctx: BuildContext) => M | Promise<M>;
  /**
   * The family's full update for the Trainer and the online loop (the world model and whatever
   * else it trains: an actor-critic, a policy prior, target networks), built with
   * `makeTrainStep`. Absent: the generic step (`model.loss(batch)`, backward, one optimizer
   * from the TrainingConfig).
   */
  readonly trainStep?: TrainStepFactory<M>;
  /**
   * How the family acts in an environment (the online loop and evaluations). Absent: the
   * online loop acts at random and says so.
   */
  readonly controller?: ControllerFactory<M>;
  /** Presets by size name (`ci`, `small`, `size12m`, ...). */
  readonly presets: Readonly<Record<string, PresetSpec<C>>>;
  /** Preset used for the bare family name (default: the first preset). */
  readonly defaultPreset?: string;
  /** Model aliases this family provides (`"mlp" -> "mlp:small"`), added to {@link MODEL_ALIASES}. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Other names of the family itself (`dreamer` for `dreamerv3`). */
  readonly familyAliases?: readonly string[];
  /** Maturity of the family or preset. */
  readonly maturity: Maturity;
  /** Default surface of its presets (derived from maturity and tier when omitted). */
  readonly surface?: Surface;
  /** Default tier of its presets (reference families; null otherwise). */
  readonly tier?: Tier | null;
  /** One line about the family. */
  readonly description: string;
  /** Default observation kind shown in the catalog (`vector`, `image`). */
  readonly defaultObs?: string;
  /**
   * Parameter count of a config computed from shapes, without allocating. When given, the
   * catalog uses it (tests compare it with a real build); otherwise the catalog builds the model
   * on the cpu backend once per preset.
   */
  readonly countParameters?: (config: C) => number;
  /** What `worldflux init` writes for the family (absent: `init` does not offer it). */
  readonly scaffold?: FamilyScaffold;
}

/**
 * What `worldflux init` scaffolds for a family: the `[training]` settings it writes and the
 * `[model.overrides]` it suggests. A family without one is not offered by `init`.
 */
export interface FamilyScaffold {
  /** Place in `init`'s family list (ascending; the first is its default). */
  readonly order: number;
  /** Batch shape of offline runs (random or npz data). */
  readonly batch: { readonly batchSize: number; readonly sequenceLength: number };
  /** The `[training]` settings of online runs (env or gym data). */
  readonly online: Partial<TrainingConfig>;
  /** Online settings that differ for pixel observations. */
  readonly onlinePixels?: Partial<TrainingConfig>;
  /** `[model.overrides]` set for online runs (snake_case keys), with the comment above them. */
  readonly onlineOverrides?: {
    readonly comment: string;
    readonly values: Readonly<Record<string, number>>;
  };
  /** One override shown commented out otherwise (`units = 64`). */
  readonly overrideExample: string;
}

/** A registered family. */
interface Family {
  readonly name: string;
  readonly spec: FamilySpec;
  readonly presets: Map<string, PresetSpec>;
}

/**
 * Groups of names that stand for one family, known whether or not it is registered (the
 * reference catalog's `dreamer`/`dreamerv3`: see {@link WorldModelRegistry.registerBuiltinNames}).
 */
const BUILTIN_FAMILY_ALIASES: string[][] = [];

/**
 * Model aliases (lower case) -> model specs, live: the built-in names (the reference catalog's,
 * registered with the built-in families) and those families and plugins add. An alias of a family
 * that is not registered resolves with an error saying the family is not available.
 */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {};
/** Aliases registered as built-in names: they cannot be unregistered. */
const BUILTIN_ALIAS_NAMES = new Set<string>();

/** Names that stay known whatever is registered (see {@link WorldModelRegistry.registerBuiltinNames}). */
export interface BuiltinNames {
  /** Model aliases (lower case) -> model specs. */
  readonly aliases: Readonly<Record<string, string>>;
  /** Family name -> the other names of the family. */
  readonly familyAliases: Readonly<Record<string, readonly string[]>>;
}

/** A resolved model name. */
export interface ResolvedModel {
  /** The name as given. */
  readonly input: string;
  /** The canonical `family:preset`. */
  readonly id: string;
  /** The family (model type). */
  readonly family: string;
  /** The preset name within the family. */
  readonly preset: string;
  /** Aliases followed, in order. */
  readonly aliasChain: readonly string[];
}

/** The static catalog metadata of a preset. */
export interface CatalogInfo {
  /** `family:preset`. */
  readonly id: string;
  /** The family (model type). */
  readonly family: string;
  /** The preset name within the family. */
  readonly preset: string;
  /** One line about it. */
  readonly description: string;
  /** Maturity of the family or preset. */
  readonly maturity: Maturity;
  /** The narrowest listing that shows it. */
  readonly surface: Surface;
  /** Role of a reference-family preset (null otherwise). */
  readonly tier: Tier | null;
  /** Default observation kind (`vector`, `image`). */
  readonly defaultObs: string;
}

/** One catalog entry (a preset of a registered family). */
export class CatalogEntry implements CatalogInfo {
  /** `family:preset`. */
  readonly id: string;
  /** The family (model type). */
  readonly family: string;
  /** The preset name within the family. */
  readonly preset: string;
  /** One line about it. */
  readonly description: string;
  /** Maturity of the family or preset. */
  readonly maturity: Maturity;
  /** The narrowest listing that shows it. */
  readonly surface: Surface;
  /** Role of a reference-family preset (null otherwise). */
  readonly tier: Tier | null;
  /** Default observation kind (`vector`, `image`). */
  readonly defaultObs: string;

  /** @internal Created by the registry. */
  constructor(id: string, family: Family, preset: string, p: PresetSpec) {
    const s = family.spec;
    this.id = id;
    this.family = family.name;
    this.preset = preset;
    this.description = p.description ?? `${s.description} (${preset})`;
    this.maturity = p.maturity ?? s.maturity;
    this.tier = p.tier !== undefined ? p.tier : (s.tier ?? null);
    this.surface = p.surface ?? s.surface ?? deriveSurface(this.maturity, this.tier);
    this.defaultObs = s.defaultObs ?? "vector";
  }

  /** Aliases that resolve to this entry. */
  get aliases(): string[] {
    return Object.keys(MODEL_ALIASES).filter((a) => {
      try {
        return WorldModelRegistry.resolve(a).id === this.id;
      } catch {
        return false;
      }
    });
  }

  /**
   * Parameter count at the preset's default shapes: computed from shapes when the family can,
   * else cached from a build (null until `await countPresetParameters(id)` ran).
   */
  get params(): number | null {
    return WorldModelRegistry.cachedParameterCount(this.id);
  }

  /** The static metadata as a plain object. */
  info(): CatalogInfo {
    const { id, family, preset, description, maturity, surface, tier, defaultObs } = this;
    return { id, family, preset, description, maturity, surface, tier, defaultObs };
  }

  /** Plain JSON (with `params` and `aliases`). */
  toJSON(): Record<string, unknown> {
    return { ...this.info(), params: this.params, aliases: this.aliases };
  }
}

/**
 * Catalog entries by `family:preset`, live: one per preset of every registered family. Use
 * `listModels()` for filtered listings with parameter counts.
 */
export const MODEL_CATALOG: Readonly<Record<string, CatalogEntry>> = {};

function deriveSurface(maturity: Maturity, tier: Tier | null): Surface {
  if (maturity !== "reference") return "all";
  return tier === "proof" ? "public" : "supported";
}

function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join(".") : "(config)"}: ${i.message}`)
    .join("; ");
}

/**
 * Registry of world-model families: `register(type, spec)` with the family's config schema,
 * factory, presets, aliases and catalog metadata; `resolve(name)` from presets and aliases to a
 * registered preset.
 *
 * @example
 * ```ts
 * import { createWorldModel, mlpFamilySpec, WorldModelRegistry } from "@worldflux/worldflux";
 * // The mlp template under another name, with a preset of its own.
 * WorldModelRegistry.register("docs-family", {
 *   ...mlpFamilySpec,
 *   presets: { tiny: { config: { latentDim: 4, hiddenDim: 8, depth: 1 } } },
 *   defaultPreset: "tiny",
 *   aliases: { "docs-tiny": "docs-family:tiny" },
 *   description: "the mlp template under another name",
 * });
 * const model = await createWorldModel("docs-tiny", { obsShape: [3], actionDim: 1 });
 * console.log(model.modelType); // "docs-family"
 * WorldModelRegistry.unregister("docs-family");
 * ```
 */
export class WorldModelRegistry {
  static readonly #families = new Map<string, Family>();
  /** Alias name -> owner (family or plugin) that registered it. */
  static readonly #aliasOwners = new Map<string, string>();
  static readonly #paramCache = new Map<string, number>();

  /** Registers a family (throws when the name is taken or the spec is inconsistent). */
  static register<C, M extends WorldModel>(type: string, spec: FamilySpec<C, M>): void {
    if (!/^[a-z][a-z0-9_-]*$/.test(type)) {
      throw new ConfigError(
        `family name "${type}" must be lower case letters, digits, "_" or "-" (no ":")`,
      );
    }
    if (WorldModelRegistry.#families.has(type)) {
      throw new ConfigError(
        `the family "${type}" is already registered; unregister it first to replace it`,
      );
    }
    const shape = spec.configSchema?.shape;
    if (!shape || !("obsShape" in shape) || !("actionDim" in shape)) {
      throw new ConfigError(
        `the configSchema of "${type}" must be a zod object with obsShape and actionDim ` +
          `(extend baseConfigSchema)`,
      );
    }
    if (typeof spec.factory !== "function") {
      throw new ConfigError(`the family "${type}" needs a factory(config, ctx) function`);
    }
    for (const hook of ["trainStep", "controller"] as const) {
      if (spec[hook] !== undefined && typeof spec[hook] !== "function") {
        throw new ConfigError(
          `the ${hook} of the family "${type}" must be a function (model, ...) => ${
            hook === "trainStep" ? "TrainStep" : "Controller"
          }, got ${typeof spec[hook]}`,
        );
      }
    }
    if (!MATURITIES.includes(spec.maturity)) {
      throw new ConfigError(`maturity of "${type}" must be one of ${MATURITIES.join(", ")}`);
    }
    if (spec.surface !== undefined && !SURFACES.includes(spec.surface)) {
      throw new ConfigError(`surface of "${type}" must be one of ${SURFACES.join(", ")}`);
    }
    if (spec.tier != null && !TIERS.includes(spec.tier)) {
      throw new ConfigError(`tier of "${type}" must be one of ${TIERS.join(", ")}`);
    }
    const presetNames = Object.keys(spec.presets ?? {});
    if (presetNames.length === 0) throw new ConfigError(`the family "${type}" needs a preset`);
    if (spec.defaultPreset !== undefined && !presetNames.includes(spec.defaultPreset)) {
      throw new ConfigError(`defaultPreset "${spec.defaultPreset}" of "${type}" is not a preset`);
    }
    for (const fa of spec.familyAliases ?? []) {
      const owner = WorldModelRegistry.#canonicalFamily(fa);
      if (owner && owner !== type) {
        throw new ConfigError(`family alias "${fa}" of "${type}" already names "${owner}"`);
      }
    }
    const family: Family = { name: type, spec: spec as unknown as FamilySpec, presets: new Map() };
    WorldModelRegistry.#families.set(type, family);
    try {
      for (const [name, p] of Object.entries(spec.presets)) {
        WorldModelRegistry.registerPreset(type, name, p as PresetSpec);
      }
      for (const [alias, target] of Object.entries(spec.aliases ?? {})) {
        WorldModelRegistry.registerAlias(alias, target, type);
      }
    } catch (e) {
      WorldModelRegistry.unregister(type);
      throw e;
    }
  }

  /** Removes a family with its presets, catalog entries and the aliases it registered. */
  static unregister(type: string): boolean {
    const f = WorldModelRegistry.#families.get(type);
    if (!f) return false;
    for (const preset of [...f.presets.keys()]) WorldModelRegistry.unregisterPreset(type, preset);
    for (const [alias, owner] of [...WorldModelRegistry.#aliasOwners]) {
      if (owner === type) WorldModelRegistry.unregisterAlias(alias);
    }
    WorldModelRegistry.#families.delete(type);
    return true;
  }

  /** True when `type` (or one of its family aliases) is registered. */
  static has(type: string): boolean {
    return WorldModelRegistry.#canonicalFamily(type) !== null;
  }

  /** Registered family names. */
  static families(): string[] {
    return [...WorldModelRegistry.#families.keys()];
  }

  /** The spec of a registered family (throws {@link FamilyUnavailableError}). */
  static family(type: string): FamilySpec {
    return WorldModelRegistry.#family(type).spec;
  }

  /** Preset names of a family. */
  static presets(type: string): string[] {
    return [...WorldModelRegistry.#family(type).presets.keys()];
  }

  /**
   * Adds a preset to a registered family (plugins use this to ship configs of existing
   * families). The preset's config is validated now.
   */
  static registerPreset(type: string, name: string, preset: PresetSpec): void {
    const f = WorldModelRegistry.#family(type);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw new ConfigError(`preset name "${name}" must be letters, digits, "_", "." or "-"`);
    }
    if (f.presets.has(name)) throw new ConfigError(`preset "${type}:${name}" already exists`);
    WorldModelRegistry.buildConfig(type, preset.config, {}, `preset "${type}:${name}"`);
    f.presets.set(name, preset);
    const id = `${type}:${name}`;
    (MODEL_CATALOG as Record<string, CatalogEntry>)[id] = new CatalogEntry(id, f, name, preset);
  }

  /** Removes a preset and its catalog entry. */
  static unregisterPreset(type: string, name: string): boolean {
    const f = WorldModelRegistry.#families.get(type);
    if (!f?.presets.delete(name)) return false;
    const id = `${type}:${name}`;
    delete (MODEL_CATALOG as Record<string, CatalogEntry>)[id];
    WorldModelRegistry.#paramCache.delete(id);
    return true;
  }

  /**
   * Adds an alias (case-insensitive) for a model spec. `owner` (a family or plugin name) is
   * recorded so that unregistering the owner removes it. Re-registering an alias to the same
   * target is a no-op; to another target it is an error (built-in aliases cannot be changed).
   */
  static registerAlias(alias: string, target: string, owner = "user"): void {
    const key = alias.trim().toLowerCase();
    if (!key || !target) throw new ConfigError("alias and target must be non-empty");
    const aliases = MODEL_ALIASES as Record<string, string>;
    if (key in aliases) {
      if (aliases[key] === target) return;
      throw new ConfigError(
        `alias "${key}" already points to "${aliases[key]}"; unregister it before pointing it ` +
          `to "${target}"`,
      );
    }
    aliases[key] = target;
    WorldModelRegistry.#aliasOwners.set(key, owner);
  }

  /**
   * Registers names that stay known whether or not their family is registered (the reference
   * catalog's aliases, `dreamer` for `dreamerv3`): an alias or family alias of a family that is not
   * registered then says the family is not available instead of being unknown, and the aliases
   * cannot be unregistered or repointed. Idempotent; the built-in families register theirs.
   */
  static registerBuiltinNames(names: BuiltinNames): void {
    for (const [family, others] of Object.entries(names.familyAliases)) {
      const group = [family, ...others].map((n) => n.toLowerCase());
      const known = BUILTIN_FAMILY_ALIASES.find((g) => g[0] === group[0]);
      if (!known) BUILTIN_FAMILY_ALIASES.push(group);
      else for (const n of group) if (!known.includes(n)) known.push(n);
    }
    for (const [alias, target] of Object.entries(names.aliases)) {
      WorldModelRegistry.registerAlias(alias, target, "builtin");
      BUILTIN_ALIAS_NAMES.add(alias.trim().toLowerCase());
    }
  }

  /** Removes an alias added with {@link WorldModelRegistry.registerAlias} (built-ins stay). */
  static unregisterAlias(alias: string): boolean {
    const key = alias.trim().toLowerCase();
    if (BUILTIN_ALIAS_NAMES.has(key) || !(key in MODEL_ALIASES)) return false;
    delete (MODEL_ALIASES as Record<string, string>)[key];
    WorldModelRegistry.#aliasOwners.delete(key);
    return true;
  }

  static #canonicalFamily(name: string): string | null {
    const n = name.toLowerCase();
    if (WorldModelRegistry.#families.has(n)) return n;
    for (const [fname, f] of WorldModelRegistry.#families) {
      if ((f.spec.familyAliases ?? []).includes(n)) return fname;
    }
    for (const group of BUILTIN_FAMILY_ALIASES) {
      if (group.includes(n)) {
        const hit = group.find((g) => WorldModelRegistry.#families.has(g));
        if (hit) return hit;
      }
    }
    return null;
  }

  static #family(type: string): Family {
    const name = WorldModelRegistry.#canonicalFamily(type);
    if (!name) throw WorldModelRegistry.#unavailable(type, type);
    return WorldModelRegistry.#families.get(name)!;
  }

  static #knownFamilies(): Set<string> {
    const s = new Set<string>();
    for (const g of BUILTIN_FAMILY_ALIASES) for (const n of g) s.add(n);
    for (const t of Object.values(MODEL_ALIASES)) if (t.includes(":")) s.add(t.split(":")[0]);
    return s;
  }

  static #unavailable(family: string, input: string, via?: string): FamilyUnavailableError {
    const registered = WorldModelRegistry.families();
    const canon = BUILTIN_FAMILY_ALIASES.find((g) => g.includes(family))?.[0] ?? family;
    return new FamilyUnavailableError(
      canon,
      `"${input}"${
        via ? ` resolves to "${via}", which` : ""
      } needs the ${canon} family, which is ` +
        `not available: no "${canon}" family is registered in this process (registered: ${
          registered.join(", ") || "none"
        }). Import the module that registers it or load its plugin (loadPlugin).`,
    );
  }

  /** Every name `resolve` accepts: catalog ids, aliases and family names. */
  static knownNames(): string[] {
    return [
      ...Object.keys(MODEL_CATALOG),
      ...Object.keys(MODEL_ALIASES),
      ...WorldModelRegistry.families(),
    ];
  }

  /**
   * Resolves a preset (`family:preset`), an alias or a bare family name to a registered preset.
   * Unknown names throw an {@link UnknownModelError} listing the closest names; names of
   * families that are not registered throw a {@link FamilyUnavailableError}.
   */
  static resolve(name: string): ResolvedModel {
    const input = name;
    let cur = name.trim();
    const chain: string[] = [];
    for (;;) {
      const key = cur.toLowerCase();
      const target = (MODEL_ALIASES as Record<string, string>)[key];
      if (target === undefined || chain.includes(key)) break;
      chain.push(key);
      cur = target;
    }
    const via = chain.length ? cur : undefined;
    const colon = cur.indexOf(":");
    const fam = (colon < 0 ? cur : cur.slice(0, colon)).toLowerCase();
    const family = WorldModelRegistry.#canonicalFamily(fam);
    if (!family) {
      if (WorldModelRegistry.#knownFamilies().has(fam)) {
        throw WorldModelRegistry.#unavailable(fam, input, via);
      }
      const close = closestNames(input, WorldModelRegistry.knownNames());
      throw new UnknownModelError(
        input,
        `unknown model "${input}"${
          close.length ? `; closest: ${close.map((c) => `"${c}"`).join(", ")}` : ""
        }. ` +
          `Known families: ${WorldModelRegistry.families().join(", ") || "none"}; ` +
          `listModels({ surface: "all" }) lists every preset`,
        close,
      );
    }
    const f = WorldModelRegistry.#families.get(family)!;
    let preset: string;
    if (colon < 0) {
      preset = f.spec.defaultPreset ?? [...f.presets.keys()][0];
    } else {
      const want = cur.slice(colon + 1);
      const hit = f.presets.has(want)
        ? want
        : [...f.presets.keys()].find((p) => p.toLowerCase() === want.toLowerCase());
      if (!hit) {
        const close = closestNames(`${family}:${want}`, [
          ...[...f.presets.keys()].map((p) => `${family}:${p}`),
          ...Object.keys(MODEL_ALIASES),
        ]);
        throw new UnknownModelError(
          input,
          `unknown preset "${want}" of the ${family} family${
            via ? ` (from alias "${input}")` : ""
          }` +
            `${close.length ? `; closest: ${close.map((c) => `"${c}"`).join(", ")}` : ""}. ` +
            `Presets of ${family}: ${[...f.presets.keys()].join(", ")}`,
          close,
        );
      }
      preset = hit;
    }
    return { input, id: `${family}:${preset}`, family, preset, aliasChain: chain };
  }

  /**
   * The validated config of a family: schema defaults <- `base` (a preset's overrides) <-
   * `overrides`. Keys may be camelCase or snake_case. An unknown field throws a
   * {@link ConfigError} listing the valid fields; a bad value names the field and the problem.
   */
  static buildConfig(
    type: string,
    base: Readonly<Record<string, unknown>>,
    overrides: Readonly<Record<string, unknown>> = {},
    source = "config",
  ): Record<string, unknown> {
    const f = WorldModelRegistry.#family(type);
    const schema = f.spec.configSchema;
    const valid = Object.keys(schema.shape);
    const merged: Record<string, unknown> = {};
    for (const obj of [base, overrides]) {
      for (const [k, v] of Object.entries(obj)) {
        if (v === undefined) continue;
        const key = valid.includes(k) ? k : snakeToCamel(k);
        if (!valid.includes(key)) {
          const close = closestNames(key, valid);
          throw new ConfigError(
            `${source}: unknown config field "${k}" for the ${f.name} family` +
              `${close.length ? ` (did you mean ${close.map((c) => `"${c}"`).join(", ")}?)` : ""}` +
              `; valid fields: ${valid.join(", ")}`,
          );
        }
        merged[key] = v;
      }
    }
    const r = schema.safeParse(merged);
    if (!r.success) {
      throw new ConfigError(`${source}: invalid ${f.name} config: ${formatIssues(r.error.issues)}`);
    }
    return r.data as Record<string, unknown>;
  }

  /** The validated config of a resolved preset with `overrides` applied. */
  static presetConfig(
    resolved: ResolvedModel,
    overrides: Readonly<Record<string, unknown>> = {},
  ): Record<string, unknown> {
    const f = WorldModelRegistry.#family(resolved.family);
    const p = f.presets.get(resolved.preset)!;
    return WorldModelRegistry.buildConfig(
      resolved.family,
      p.config as Record<string, unknown>,
      overrides,
      `"${resolved.input}"`,
    );
  }

  /** Runs a family's factory and checks that it returned a model of that family. */
  static async build(
    type: string,
    config: Record<string, unknown>,
    ctx: Omit<BuildContext, "modelType">,
  ): Promise<WorldModel> {
    const f = WorldModelRegistry.#family(type);
    const count = f.spec.countParameters?.(config as never);
    if (count !== undefined) {
      checkAllocation(
        `${f.name} config`,
        count * 4,
        `its widths make ${count} parameters; lower them (or pick a smaller preset)`,
      );
    }
    const model = await f.spec.factory(config, { ...ctx, modelType: f.name });
    const m = model as unknown as { ioContract?: unknown; modelType?: unknown };
    if (!(model instanceof Module) || typeof m.ioContract !== "function") {
      throw new ConfigError(`the factory of "${f.name}" did not return a WorldModel`);
    }
    if (m.modelType !== f.name) {
      throw new ConfigError(
        `the factory of "${f.name}" returned a model of type "${String(m.modelType)}"`,
      );
    }
    return model;
  }

  /** The parameter count of a catalog entry if known without building (else null). */
  static cachedParameterCount(id: string): number | null {
    const cached = WorldModelRegistry.#paramCache.get(id);
    if (cached !== undefined) return cached;
    const r = WorldModelRegistry.resolve(id);
    const count = WorldModelRegistry.#families.get(r.family)?.spec.countParameters;
    if (!count) return null;
    const n = count(WorldModelRegistry.presetConfig(r));
    WorldModelRegistry.#paramCache.set(id, n);
    return n;
  }

  /**
   * Counts the parameters of a preset at its default shapes: from shapes when the family
   * provides `countParameters`, else by building the model once on the cpu backend (cached).
   */
  static async countPresetParameters(id: string): Promise<number> {
    const known = WorldModelRegistry.cachedParameterCount(id);
    if (known !== null) return known;
    const r = WorldModelRegistry.resolve(id);
    const model = await WorldModelRegistry.build(r.family, WorldModelRegistry.presetConfig(r), {
      preset: r.preset,
      device: "cpu",
      apiVersion: "v3",
      generator: new Generator(0),
    });
    try {
      const n = model.numParameters();
      WorldModelRegistry.#paramCache.set(r.id, n);
      return n;
    } finally {
      model.dispose();
    }
  }
}
