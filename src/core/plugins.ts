/**
 * Plugins: a manifest (name, pluginApiVersion, worldfluxVersionRange, capabilities) and a
 * `register(ctx)` function that adds families, presets, aliases and components through the
 * context it is given. {@link registerPlugin} checks the manifest against this worldflux before
 * running anything; {@link loadPlugin} imports a module by specifier and registers the plugin it
 * exports. Registrations a plugin is not entitled to by its declared capabilities are refused,
 * and a plugin that fails midway is rolled back.
 * @module
 */

import { z } from "zod";
import {
  ComponentRegistry,
  type ComponentSlot,
  type ComponentSpec,
  resolveSlot,
} from "./components.ts";
import { PluginError } from "./errors.ts";
import { camelToSnake } from "./naming.ts";
import { type FamilySpec, type PresetSpec, WorldModelRegistry } from "./registry.ts";
import { parseRange, satisfies } from "./semver.ts";
import type { WorldModel } from "./world_model.ts";
import { PLUGIN_API_VERSION, WORLDFLUX_VERSION } from "./version.ts";

/** What a plugin may register. */
export type PluginCapability =
  | "model-family"
  | "model-preset"
  | "model-alias"
  | "component"
  | "observation-encoder"
  | "action-conditioner"
  | "dynamics-model"
  | "decoder"
  | "rollout-executor";

/** Every plugin capability (`component` allows every slot; the others one slot each). */
export const PLUGIN_CAPABILITIES: readonly PluginCapability[] = [
  "model-family",
  "model-preset",
  "model-alias",
  "component",
  "observation-encoder",
  "action-conditioner",
  "dynamics-model",
  "decoder",
  "rollout-executor",
];

/** A plugin's manifest. */
export interface PluginManifest {
  /** Unique plugin name (`my_plugin`). */
  readonly name: string;
  /** The plugin's own version. */
  readonly version?: string;
  /** Plugin API the plugin was written for (`"1.0"`; same major, minor <= {@link PLUGIN_API_VERSION}). */
  readonly pluginApiVersion: string;
  /** worldflux versions it works with, as a semver range (`">=0.1.0 <0.2.0"`). */
  readonly worldfluxVersionRange: string;
  /** What it registers. */
  readonly capabilities: readonly PluginCapability[];
  /** The plugin is experimental. */
  readonly experimental?: boolean;
  /** One line about it. */
  readonly description?: string;
}

/** The registration API a plugin's `register` receives. */
export interface PluginContext {
  /** The running worldflux version. */
  readonly worldfluxVersion: string;
  /** The manifest being registered. */
  readonly manifest: PluginManifest;
  /** Registers a family (capability `model-family`). */
  registerFamily<C, M extends WorldModel = WorldModel>(type: string, spec: FamilySpec<C, M>): void;
  /** Adds a preset to a registered family (capability `model-preset`). */
  registerPreset(family: string, name: string, preset: PresetSpec): void;
  /** Adds a model alias (capability `model-alias`). */
  registerAlias(alias: string, target: string): void;
  /** Registers a component (capability `component` or the slot's own, e.g. `action-conditioner`). */
  registerComponent<S extends ComponentSlot>(id: string, spec: ComponentSpec<S>): void;
}

/** A plugin: its manifest and a registration function. */
export interface WorldFluxPlugin {
  /** The plugin's manifest. */
  readonly manifest: PluginManifest;
  /** Registers what the plugin provides through `ctx`. */
  register(ctx: PluginContext): void | Promise<void>;
}

const manifestSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@/-]*$/, "letters, digits, _ . @ / -"),
  version: z.string().optional(),
  pluginApiVersion: z.string().min(1),
  worldfluxVersionRange: z.string().min(1),
  capabilities: z.array(z.string()).min(1),
  experimental: z.boolean().optional(),
  description: z.string().optional(),
});

/** Result of {@link checkPluginCompatibility}. */
export interface PluginCompatibility {
  /** True when the plugin can be registered. */
  readonly compatible: boolean;
  /** Why not (empty when compatible). */
  readonly reasons: readonly string[];
}

/**
 * Checks a manifest against this worldflux: its shape, the plugin API version, the worldflux
 * version range and the capabilities.
 *
 * @example
 * ```ts
 * import { checkPluginCompatibility } from "@worldflux/worldflux";
 * const r = checkPluginCompatibility({
 *   name: "old_plugin",
 *   pluginApiVersion: "1.0",
 *   worldfluxVersionRange: ">=9.0.0",
 *   capabilities: ["model-alias"],
 * });
 * console.log(r.compatible, r.reasons[0]);
 * ```
 */
export function checkPluginCompatibility(
  manifest: unknown,
  opts: { worldfluxVersion?: string } = {},
): PluginCompatibility {
  const version = opts.worldfluxVersion ?? WORLDFLUX_VERSION;
  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) {
    return {
      compatible: false,
      reasons: parsed.error.issues.map((i) =>
        `manifest.${i.path.join(".") || "(root)"}: ${i.message}`
      ),
    };
  }
  const m = parsed.data;
  const reasons: string[] = [];
  const api = /^(\d+)(?:\.(\d+))?(?:\.\d+)?$/.exec(m.pluginApiVersion.trim());
  const [ourMajor, ourMinor] = PLUGIN_API_VERSION.split(".").map(Number);
  if (!api) {
    reasons.push(
      `pluginApiVersion "${m.pluginApiVersion}" is not a version; this worldflux implements ` +
        `plugin API ${PLUGIN_API_VERSION}`,
    );
  } else if (+api[1] !== ourMajor || +(api[2] ?? 0) > ourMinor) {
    reasons.push(
      `pluginApiVersion ${m.pluginApiVersion} is not supported: this worldflux implements plugin ` +
        `API ${PLUGIN_API_VERSION} (plugins for ${ourMajor}.0 to ${PLUGIN_API_VERSION})`,
    );
  }
  try {
    parseRange(m.worldfluxVersionRange);
    if (!satisfies(version, m.worldfluxVersionRange)) {
      reasons.push(
        `it requires worldflux ${m.worldfluxVersionRange}, but this is worldflux ${version}`,
      );
    }
  } catch (e) {
    reasons.push(
      `worldfluxVersionRange "${m.worldfluxVersionRange}" is invalid: ${(e as Error).message}`,
    );
  }
  const unknown = m.capabilities.filter((c) =>
    !(PLUGIN_CAPABILITIES as readonly string[]).includes(c)
  );
  if (unknown.length) {
    reasons.push(
      `unknown capabilities ${unknown.map((c) => `"${c}"`).join(", ")}; known: ${
        PLUGIN_CAPABILITIES.join(", ")
      }`,
    );
  }
  return { compatible: reasons.length === 0, reasons };
}

interface LoadedPlugin {
  readonly manifest: PluginManifest;
  readonly undo: (() => void)[];
}

const plugins = new Map<string, LoadedPlugin>();

/**
 * Checks a plugin's manifest and runs its `register(ctx)`. An incompatible manifest is refused
 * with a {@link PluginError} giving the reason; a registration outside the declared capabilities
 * is refused; if `register` throws, what it registered is removed again.
 *
 * @example
 * ```ts
 * import { createWorldModel, registerPlugin, unregisterPlugin } from "@worldflux/worldflux";
 * await registerPlugin({
 *   manifest: {
 *     name: "docs_plugin",
 *     pluginApiVersion: "1.0",
 *     worldfluxVersionRange: ">=0.1.0 <1.0.0",
 *     capabilities: ["model-alias"],
 *   },
 *   register(ctx) {
 *     ctx.registerAlias("docs-mlp", "mlp:ci");
 *   },
 * });
 * const model = await createWorldModel("docs-mlp", { obsShape: [4], actionDim: 2 });
 * console.log(model.modelType); // "mlp"
 * unregisterPlugin("docs_plugin");
 * ```
 */
export async function registerPlugin(plugin: WorldFluxPlugin): Promise<PluginManifest> {
  const name = String((plugin?.manifest as { name?: unknown } | undefined)?.name ?? "(unnamed)");
  if (!plugin || typeof plugin !== "object" || typeof plugin.register !== "function") {
    throw new PluginError(
      name,
      "a plugin is an object with a manifest and a register(ctx) function",
    );
  }
  const compat = checkPluginCompatibility(plugin.manifest);
  if (!compat.compatible) throw new PluginError(name, compat.reasons.join("; "));
  const manifest = plugin.manifest;
  if (plugins.has(manifest.name)) {
    throw new PluginError(manifest.name, "a plugin with this name is already registered");
  }
  const caps = new Set(manifest.capabilities);
  const undo: (() => void)[] = [];
  const need = (cap: PluginCapability, what: string, alt?: PluginCapability) => {
    if (!caps.has(cap) && !(alt && caps.has(alt))) {
      throw new PluginError(
        manifest.name,
        `it registers ${what} but its manifest does not declare the "${cap}" capability` +
          (alt ? ` (or "${alt}")` : ""),
      );
    }
  };
  const ctx: PluginContext = {
    worldfluxVersion: WORLDFLUX_VERSION,
    manifest,
    registerFamily(type, spec) {
      need("model-family", `the family "${type}"`);
      WorldModelRegistry.register(type, spec);
      undo.push(() => WorldModelRegistry.unregister(type));
    },
    registerPreset(family, presetName, preset) {
      need("model-preset", `the preset "${family}:${presetName}"`);
      WorldModelRegistry.registerPreset(family, presetName, preset);
      undo.push(() => WorldModelRegistry.unregisterPreset(family, presetName));
    },
    registerAlias(alias, target) {
      need("model-alias", `the alias "${alias}"`);
      WorldModelRegistry.registerAlias(alias, target, `plugin:${manifest.name}`);
      undo.push(() => WorldModelRegistry.unregisterAlias(alias));
    },
    registerComponent(id, spec) {
      const slot = resolveSlot(spec.slot);
      const slotCap = slot ? camelToSnake(slot).replace(/_/g, "-") as PluginCapability : undefined;
      need("component", `the component "${id}"`, slotCap);
      ComponentRegistry.register(id, spec);
      undo.push(() => ComponentRegistry.unregister(id));
    },
  };
  try {
    await plugin.register(ctx);
  } catch (e) {
    for (const u of undo.reverse()) u();
    if (e instanceof PluginError) throw e;
    throw new PluginError(manifest.name, `register() failed: ${(e as Error).message}`, {
      cause: e,
    });
  }
  plugins.set(manifest.name, { manifest, undo });
  return manifest;
}

/** Removes a plugin and everything it registered; true when it was registered. */
export function unregisterPlugin(name: string): boolean {
  const p = plugins.get(name);
  if (!p) return false;
  for (const u of [...p.undo].reverse()) u();
  plugins.delete(name);
  return true;
}

/** Registered plugins by name. */
export function listPlugins(): Record<string, PluginManifest> {
  return Object.fromEntries([...plugins].map(([k, v]) => [k, v.manifest]));
}

function isPlugin(x: unknown): x is WorldFluxPlugin {
  return typeof x === "object" && x !== null &&
    typeof (x as { register?: unknown }).register === "function" &&
    typeof (x as { manifest?: unknown }).manifest === "object";
}

/**
 * Imports a module (a file URL, a path, `jsr:`/`npm:`/`https:` specifier) and registers the
 * plugin it exports: its default export, a named `plugin` export, or `manifest` + `register`
 * exports. Loading the same plugin twice returns its manifest without registering again.
 *
 * @example
 * ```ts
 * import { loadPlugin } from "@worldflux/worldflux";
 * // a path (relative to the working directory), a file URL, or a jsr:/npm:/https: specifier
 * const manifest = await loadPlugin("./examples/plugins/minimal_plugin.ts");
 * console.log(manifest.name); // "minimal_plugin"
 * ```
 */
export async function loadPlugin(specifier: string | URL): Promise<PluginManifest> {
  const spec = specifier instanceof URL ? specifier.href : specifier;
  const resolved = /^[./]/.test(spec) && typeof Deno !== "undefined"
    ? new URL(spec, `file://${Deno.cwd()}/`).href
    : spec;
  let mod: Record<string, unknown>;
  try {
    mod = await import(resolved);
  } catch (e) {
    throw new PluginError(spec, `cannot import ${resolved}: ${(e as Error).message}`, { cause: e });
  }
  const candidate = isPlugin(mod.default)
    ? mod.default
    : isPlugin(mod.plugin)
    ? mod.plugin
    : isPlugin(mod)
    ? {
      manifest: mod.manifest as PluginManifest,
      register: mod.register as WorldFluxPlugin["register"],
    }
    : null;
  if (!candidate) {
    throw new PluginError(
      spec,
      "the module exports no plugin (export default { manifest, register }, export const plugin, " +
        "or export manifest and register)",
    );
  }
  const existing = plugins.get(candidate.manifest?.name);
  if (existing && existing.manifest === candidate.manifest) return existing.manifest;
  return await registerPlugin(candidate);
}
