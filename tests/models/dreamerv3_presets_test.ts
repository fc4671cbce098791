/**
 * DreamerV3 presets: every preset and alias of reference/001 resolves; deter/stoch/classes are
 * the reference's; the parameter count computed from shapes (no allocation) is within 25% of
 * the size in the preset's name and equals a real build (ci, size12m and variants); the
 * catalog reports the counted number and the tier.
 */

import assert from "node:assert/strict";
import {
  countDreamerV3Parameters,
  createWorldModel,
  DREAMERV3_PRESETS,
  type DreamerV3Config,
  dreamerV3ConfigSchema,
  Generator,
  getModelInfo,
  listModels,
  resolveModelName,
  WorldModelRegistry,
} from "../../mod.ts";

const NAMED: Record<string, number> = {
  ci: 0.1e6,
  size12m: 12e6,
  size25m: 25e6,
  size50m: 50e6,
  size100m: 100e6,
  size200m: 200e6,
  official_xl: 250e6, // "~200-300M" in reference/001: the middle of the range
};

/** reference/001's table: deter, stoch (discrete), classes. */
const REFERENCE_DIMS: Record<string, [number, number, number]> = {
  ci: [64, 4, 4],
  size12m: [2048, 16, 16],
  size25m: [4096, 32, 16],
  size50m: [4096, 32, 32],
  size100m: [8192, 32, 32],
  size200m: [8192, 32, 32],
  official_xl: [8192, 32, 64],
};

function presetConfig(name: string, over: Partial<DreamerV3Config> = {}): DreamerV3Config {
  return dreamerV3ConfigSchema.parse({ ...DREAMERV3_PRESETS[name].config, ...over });
}

Deno.test("dreamerv3 presets: names, aliases and tiers of reference/001 resolve", async () => {
  assert.deepEqual(Object.keys(DREAMERV3_PRESETS).sort(), Object.keys(NAMED).sort());
  const aliases: Record<string, string> = {
    "dreamer": "dreamerv3:size12m",
    "dreamer-ci": "dreamerv3:ci",
    "dreamer:ci": "dreamerv3:ci",
    "dreamer-small": "dreamerv3:size12m",
    "dreamer-medium": "dreamerv3:size50m",
    "dreamer-large": "dreamerv3:size200m",
    "dreamerv3:official": "dreamerv3:official_xl",
    "dreamerv3": "dreamerv3:size12m",
  };
  for (const [alias, id] of Object.entries(aliases)) {
    assert.equal(resolveModelName(alias), id, alias);
  }
  const verbose = await listModels({ verbose: true, surface: "public" });
  assert.equal(verbose["dreamerv3:ci"].tier, "compatibility");
  for (const p of ["size12m", "size25m", "size50m", "size100m", "size200m"]) {
    assert.equal(verbose[`dreamerv3:${p}`].tier, "reference", p);
  }
  assert.equal(verbose["dreamerv3:official_xl"].tier, "proof");
  assert.equal(verbose["dreamerv3:official_xl"].surface, "public");
  for (const [p, [d, s, k]] of Object.entries(REFERENCE_DIMS)) {
    const c = presetConfig(p);
    assert.deepEqual([c.deter, c.stoch, c.classes], [d, s, k], p);
    assert.deepEqual([c.obsShape, c.actionDim], [[3, 64, 64], 6], `${p}: default shapes`);
  }
});

Deno.test("dreamerv3 presets: counted parameters are within 25% of each preset's name", async () => {
  for (const [p, named] of Object.entries(NAMED)) {
    const n = countDreamerV3Parameters(presetConfig(p));
    const ratio = n / named;
    assert.ok(ratio >= 0.75 && ratio <= 1.25, `${p}: ${n} parameters (${ratio.toFixed(2)}x)`);
    // The catalog shows the counted number.
    const info = await getModelInfo(`dreamerv3:${p}`);
    assert.equal(info.params, n, p);
  }
  assert.equal(
    (await getModelInfo("dreamer-ci")).params,
    countDreamerV3Parameters(presetConfig("ci")),
  );
});

Deno.test("dreamerv3 presets: the count equals a real build (ci, size12m, variants)", async () => {
  const cases: [string, Partial<DreamerV3Config>][] = [
    ["ci", {}],
    ["ci", { obsShape: [8], actionDim: 2 }],
    ["ci", { actionType: "discrete", actionDim: 5, norm: "layer" }],
    ["ci", { observations: { image: [3, 16, 16], state: [5] }, actorCritic: false }],
    ["ci", { obsShape: [3, 32, 32], rewLayers: 2, conLayers: 0 }],
    ["ci", { obsShape: [4, 10, 10], actionType: "discrete", actionDim: 3 }], // MinAtar grid
    ["size12m", {}],
  ];
  for (const [p, over] of cases) {
    const c = presetConfig(p, over);
    const model = await WorldModelRegistry.build(
      "dreamerv3",
      c as unknown as Record<string, unknown>,
      {
        preset: p,
        device: "cpu",
        apiVersion: "v3",
        generator: new Generator(0),
      },
    );
    try {
      assert.equal(
        model.numParameters(),
        countDreamerV3Parameters(c),
        `${p} ${JSON.stringify(over)}`,
      );
    } finally {
      model.dispose();
    }
  }
  // createWorldModel with shape overrides builds the same architecture.
  const m = await createWorldModel("dreamer:ci", { obsShape: [8], actionDim: 2 });
  assert.equal(
    m.numParameters(),
    countDreamerV3Parameters(presetConfig("ci", { obsShape: [8], actionDim: 2 })),
  );
  m.dispose();
});
