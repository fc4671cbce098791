/**
 * {@link createWorldModel}: one call from a preset (`family:size`), an alias or a saved
 * directory to a ready model, with shape and config overrides validated by the family's zod
 * schema, the device, the API version and component overrides.
 * @module
 */

import { warn } from "../log.ts";
import { type DeviceRequest, ensureDevice, getDefaultDevice } from "../backend/device.ts";
import { ConfigError } from "../errors.ts";
import { Generator } from "../tensor/random.ts";
import { applyComponentOverrides, type ComponentOverrides } from "./components.ts";
import { UnknownModelError } from "./errors.ts";
import { WorldModelRegistry } from "./registry.ts";
import { fromPretrained } from "./from_pretrained.ts";
import { API_VERSIONS, type ApiVersion } from "./types.ts";
import { WorldModel } from "./world_model.ts";

export { MODEL_ALIASES } from "./registry.ts";

/** Options of {@link createWorldModel} (besides config overrides). */
export interface CreateWorldModelOptions {
  /** Per-example observation shape (overrides the preset's). */
  readonly obsShape?: readonly number[];
  /** Action size (overrides the preset's). */
  readonly actionDim?: number;
  /** Device (default: the default device; `"auto"` picks webgpu when available). */
  readonly device?: DeviceRequest;
  /** API compatibility mode (default `"v3"`, strict contracts). */
  readonly apiVersion?: ApiVersion;
  /** Components by slot: registered ids, classes or instances. */
  readonly componentOverrides?: ComponentOverrides;
  /** Seed of the parameter initialisation (default 0). */
  readonly seed?: number;
}

/** Options plus any config field of the family (camelCase or snake_case), e.g. `hiddenDim: 64`. */
export type CreateWorldModelArgs = CreateWorldModelOptions & { readonly [field: string]: unknown };

const OPTION_KEYS = new Set(["device", "apiVersion", "componentOverrides", "seed"]);

let warnedV02 = false;

async function isDirectory(path: string): Promise<boolean> {
  if (typeof Deno === "undefined") return false;
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

function looksLikePath(spec: string): boolean {
  return /[\\/]/.test(spec) || spec.startsWith(".") || spec.startsWith("~");
}

/**
 * Creates a world model from a preset (`"mlp:small"`, `"dreamerv3:size12m"`), an alias
 * (`"dreamer"`, `"tdmpc-small"`) or a directory written by `savePretrained`. Unknown names list
 * the closest known ones; unknown config fields list the valid ones.
 *
 * @example
 * ```ts
 * import { createWorldModel, randn } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:small", {
 *   obsShape: [8],
 *   actionDim: 2,
 *   hiddenDim: 64,          // a config override, validated by the family's schema
 *   device: "cpu",
 * });
 * const state = model.encode(randn([4, 8]));
 * const traj = model.rollout(state, randn([10, 4, 2]));
 * console.log(traj.rewards!.shape); // [10, 4]
 * ```
 */
export async function createWorldModel(
  spec: string,
  opts: CreateWorldModelArgs = {},
): Promise<WorldModel> {
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new ConfigError("createWorldModel needs a model name, alias or directory");
  }
  const apiVersion = opts.apiVersion ?? "v3";
  if (!API_VERSIONS.includes(apiVersion)) {
    throw new ConfigError(
      `unsupported apiVersion "${apiVersion}"; expected ${
        API_VERSIONS.map((v) => `"${v}"`).join(" or ")
      }`,
    );
  }
  if (apiVersion === "v0.2" && !warnedV02) {
    warnedV02 = true;
    warn(
      'apiVersion "v0.2" turns contract violations into warnings; it is a migration ' +
        "aid and will be removed",
    );
  }
  const overrides: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (!OPTION_KEYS.has(k) && v !== undefined) overrides[k] = v;
  }

  // A saved model directory.
  const known = (() => {
    try {
      WorldModelRegistry.resolve(spec);
      return true;
    } catch (e) {
      return !(e instanceof UnknownModelError);
    }
  })();
  if (looksLikePath(spec) || (!known && await isDirectory(spec))) {
    if (Object.keys(overrides).length) {
      throw new ConfigError(
        `config overrides (${Object.keys(overrides).join(", ")}) cannot be applied when loading ` +
          `the saved model ${spec}; its config.json defines the model`,
      );
    }
    return await fromPretrained(spec, {
      device: opts.device,
      apiVersion: opts.apiVersion,
      componentOverrides: opts.componentOverrides,
    });
  }

  const resolved = WorldModelRegistry.resolve(spec);
  const config = WorldModelRegistry.presetConfig(resolved, overrides);
  const device = await ensureDevice(opts.device ?? getDefaultDevice());
  const model = await WorldModelRegistry.build(resolved.family, config, {
    preset: resolved.preset,
    device,
    apiVersion,
    generator: new Generator(opts.seed ?? 0),
  });
  if (!(model instanceof WorldModel)) {
    throw new ConfigError(`the ${resolved.family} factory did not return a WorldModel subclass`);
  }
  try {
    if (opts.componentOverrides) applyComponentOverrides(model, opts.componentOverrides);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Resolves a name to `family:preset` without building (see `WorldModelRegistry.resolve`). */
export function resolveModelName(name: string): string {
  return WorldModelRegistry.resolve(name).id;
}
