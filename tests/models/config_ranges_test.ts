/**
 * Every family's schema range-checks its hyperparameters (src/core/config_ranges.ts): absurd,
 * negative and zero values are refused naming the field, whatever the source (createWorldModel
 * overrides, worldflux.toml, an edited config.json).
 */

import assert from "node:assert/strict";
import { ConfigError, MODEL_CATALOG, WorldModelRegistry } from "../../mod.ts";

const CASES: Record<string, [string, unknown][]> = {
  mlp: [
    ["klScale", 2 ** 31],
    ["minStd", 1e9],
    ["reconScale", -1],
    ["hiddenDim", 0],
    ["latentDim", 2 ** 30],
    ["depth", 1e6],
  ],
  tdmpc2: [
    ["minStd", 1e9],
    ["consistencyCoef", 2 ** 31],
    ["lr", 10],
    ["hiddenDim", -4],
    ["numBins", 1],
    ["vmax", 1e9],
    ["gradClip", 0],
    ["tau", 2],
  ],
  dreamerv3: [
    ["minStd", 1e9],
    ["dynScale", 2 ** 31],
    ["repScale", -0.1],
    ["deter", 0],
    ["lr", 5],
    ["eps", 0],
    ["imagLength", 1e6],
    ["binRange", -1],
  ],
};

for (const [family, cases] of Object.entries(CASES)) {
  Deno.test(`config ranges: ${family} refuses absurd, negative and zero hyperparameters`, () => {
    for (const [field, value] of cases) {
      assert.throws(
        () => WorldModelRegistry.buildConfig(family, {}, { [field]: value }),
        (e) => e instanceof ConfigError && e.message.includes(field),
        `${family}.${field} = ${value}`,
      );
    }
    // Cross-field: the smallest std may not exceed the largest.
    if (family !== "mlp") {
      assert.throws(
        () => WorldModelRegistry.buildConfig(family, {}, { minStd: 2, maxStd: 1 }),
        /minStd must not exceed maxStd/,
      );
    }
    // Every preset is inside the ranges.
    const presets = Object.keys(MODEL_CATALOG).filter((id) => id.startsWith(`${family}:`));
    assert.ok(presets.length > 0);
    for (const id of presets) WorldModelRegistry.presetConfig(WorldModelRegistry.resolve(id));
  });
}
