/**
 * A minimal worldflux plugin: a manifest and a `register(ctx)` function. It registers
 *
 * - a preset of the built-in `mlp` family (`mlp:minimalplugin`, a very small config) and the
 *   model alias `minimalplugin-mlp` for it, and
 * - the component `minimal_plugin.zero_action_conditioner`: an action conditioner that drops
 *   the action, so the dynamics sees no action at all.
 *
 * Load it with `await loadPlugin(new URL("./minimal_plugin.ts", import.meta.url))` (or by path
 * from a config file), then:
 *
 * ```ts
 * const model = await createWorldModel("minimalplugin-mlp", {
 *   obsShape: [4],
 *   actionDim: 2,
 *   componentOverrides: { actionConditioner: "minimal_plugin.zero_action_conditioner" },
 * });
 * ```
 *
 * Everything goes through `ctx`, not through an imported registry: a plugin loaded from
 * another copy of worldflux still registers with the one that loads it. Imports from worldflux
 * are types only.
 * @module
 */

import type {
  ActionConditioner,
  PluginContext,
  PluginManifest,
  Tensor,
  WorldFluxPlugin,
} from "../../mod.ts";

/** The model alias this plugin registers. */
export const MODEL_ALIAS = "minimalplugin-mlp";

/** The component id this plugin registers. */
export const COMPONENT_ID = "minimal_plugin.zero_action_conditioner";

/**
 * An action conditioner that discards the action: it returns no `action` tensor, and the
 * dynamics of the built-in families then sees zeros. Rollouts become independent of actions.
 */
export class ZeroActionConditioner implements ActionConditioner {
  /** No tensors for the dynamics. */
  condition(): Record<string, Tensor> {
    return {};
  }
}

/** What this plugin is and what it needs. */
export const manifest: PluginManifest = {
  name: "minimal_plugin",
  version: "0.1.0",
  pluginApiVersion: "1.0",
  worldfluxVersionRange: ">=0.1.0 <0.2.0",
  capabilities: ["model-preset", "model-alias", "action-conditioner"],
  experimental: true,
  description: "Minimal plugin: an mlp alias and a zero action conditioner",
};

/** Registers the preset, the alias and the component. */
export function register(ctx: PluginContext): void {
  ctx.registerPreset("mlp", "minimalplugin", {
    config: { latentDim: 4, hiddenDim: 16, depth: 1 },
    description: "Minimal plugin's tiny MLP world model",
  });
  ctx.registerAlias(MODEL_ALIAS, "mlp:minimalplugin");
  ctx.registerComponent(COMPONENT_ID, {
    slot: "actionConditioner",
    create: () => new ZeroActionConditioner(),
    name: "Zero action conditioner",
    description: "Drops the action (the dynamics sees zeros)",
  });
}

/** The plugin object `loadPlugin` picks up. */
const plugin: WorldFluxPlugin = { manifest, register };
export default plugin;
