import assert from "node:assert/strict";
import {
  CatalogEntry,
  ConfigError,
  countMLPParameters,
  createWorldModel,
  type FamilySpec,
  FamilyUnavailableError,
  getModelInfo,
  listModels,
  MLP_PRESETS,
  type MLPConfig,
  mlpConfigSchema,
  MLPWorldModel,
  MODEL_ALIASES,
  MODEL_CATALOG,
  randn,
  resolveModelName,
  UnknownModelError,
  WorldModelRegistry,
} from "../../mod.ts";
import {
  REFERENCE_PRESETS,
  registerStandInFamilies,
  unregisterReferenceFamilies,
} from "./helpers.ts";

/** The aliases of reference/001 (and the *-ci ones), with the preset each must resolve to. */
const REFERENCE_ALIASES: Record<string, string> = {
  "dreamer": "dreamerv3:size12m",
  "dreamer-ci": "dreamerv3:ci",
  "dreamer-small": "dreamerv3:size12m",
  "dreamer-medium": "dreamerv3:size50m",
  "dreamer-large": "dreamerv3:size200m",
  "dreamerv3:official": "dreamerv3:official_xl",
  "tdmpc": "tdmpc2:5m",
  "tdmpc2-ci": "tdmpc2:ci",
  "tdmpc-small": "tdmpc2:5m",
  "tdmpc-medium": "tdmpc2:48m",
  "tdmpc-large": "tdmpc2:317m",
  "dreamer:ci": "dreamerv3:ci",
  "mlp-ci": "mlp:ci",
  "mlp": "mlp:small",
};

Deno.test("factory: reference aliases say their family is not available until it is registered", async () => {
  const restore = unregisterReferenceFamilies();
  try {
    for (const alias of Object.keys(REFERENCE_ALIASES).filter((a) => !a.startsWith("mlp"))) {
      await assert.rejects(createWorldModel(alias), (e: unknown) => {
        assert.ok(e instanceof FamilyUnavailableError, `${alias}: ${e}`);
        assert.match(e.message, /family, which is not available/);
        assert.match(e.message, new RegExp(`no "${e.family}" family is registered`));
        assert.ok(["dreamerv3", "tdmpc2"].includes(e.family));
        return true;
      });
    }
    await assert.rejects(createWorldModel("tdmpc2:19m"), FamilyUnavailableError);
  } finally {
    restore();
  }
});

Deno.test("factory: every alias resolves once its family is registered", async () => {
  const unregister = registerStandInFamilies();
  try {
    for (const [alias, id] of Object.entries(REFERENCE_ALIASES)) {
      assert.equal(resolveModelName(alias), id, alias);
      assert.equal(resolveModelName(alias.toUpperCase()), id, `${alias} (case-insensitive)`);
    }
    // every alias in the live table resolves to a registered preset
    for (const alias of Object.keys(MODEL_ALIASES)) {
      const id = resolveModelName(alias);
      assert.ok(id in MODEL_CATALOG, `${alias} -> ${id}`);
    }
    for (const [family, presets] of Object.entries(REFERENCE_PRESETS)) {
      for (const p of presets) assert.ok(`${family}:${p}` in MODEL_CATALOG);
    }
    const m = await createWorldModel("dreamer-ci", { obsShape: [4], actionDim: 2 });
    assert.equal(m.modelType, "dreamerv3");
    const t = await createWorldModel("tdmpc-large", { obsShape: [4], actionDim: 2 });
    assert.equal(t.modelType, "tdmpc2");
    m.dispose();
    t.dispose();
  } finally {
    unregister();
  }
  // the built-in families are back after the stand-ins are removed
  assert.ok(WorldModelRegistry.has("dreamerv3"));
  assert.ok("dreamerv3:ci" in MODEL_CATALOG);
  assert.ok("dreamer" in MODEL_ALIASES, "built-in aliases stay");
});

Deno.test("factory: unknown names list the closest ones", async () => {
  await assert.rejects(createWorldModel("mlp:smal"), (e: unknown) => {
    assert.ok(e instanceof UnknownModelError);
    assert.equal(e.suggestions[0], "mlp:small");
    assert.match(e.message, /unknown preset "smal" of the mlp family; closest: "mlp:small"/);
    assert.match(e.message, /Presets of mlp: ci, small, medium, large/);
    return true;
  });
  await assert.rejects(createWorldModel("mpl:small"), (e: unknown) => {
    assert.ok(e instanceof UnknownModelError);
    assert.ok(e.suggestions.includes("mlp:small"), e.message);
    assert.match(e.message, /unknown model "mpl:small"; closest: .*"mlp:small"/);
    return true;
  });
  await assert.rejects(createWorldModel("zzzzzz"), /unknown model "zzzzzz"\. Known families: mlp/);
});

Deno.test("factory: config overrides are validated by the family's schema", async () => {
  const m = await createWorldModel("mlp:ci", {
    obsShape: [6],
    actionDim: 3,
    hiddenDim: 24,
    latent_dim: 5, // snake_case is accepted
  });
  assert.deepEqual(m.config.obsShape, [6]);
  assert.equal(m.config.actionDim, 3);
  assert.equal(m.config.hiddenDim, 24);
  assert.equal(m.config.latentDim, 5);
  assert.equal(m.config.depth, MLP_PRESETS.ci.config.depth);
  m.dispose();
  await assert.rejects(createWorldModel("mlp:ci", { hiddenDm: 3 }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(
      e.message,
      /unknown config field "hiddenDm" for the mlp family \(did you mean "hiddenDim"\?\)/,
    );
    assert.match(
      e.message,
      /valid fields: obsShape, actionDim, actionType, latentDim, hiddenDim, depth/,
    );
    return true;
  });
  await assert.rejects(
    createWorldModel("mlp:ci", { hiddenDim: "wide" }),
    /invalid mlp config: hiddenDim: .*expected number/,
  );
  await assert.rejects(
    createWorldModel("mlp:ci", { obsShape: [3, 8, 8] }),
    /obsShape: the mlp family takes vector observations/,
  );
  await assert.rejects(
    createWorldModel("mlp:ci", { apiVersion: "v9" as never }),
    /unsupported apiVersion "v9"/,
  );
});

Deno.test("factory: device, seed and apiVersion", async () => {
  const a = await createWorldModel("mlp:ci", { device: "cpu", seed: 5 });
  const b = await createWorldModel("mlp:ci", { device: "cpu", seed: 5 });
  const c = await createWorldModel("mlp:ci", { device: "cpu", seed: 6 });
  assert.equal(a.device, "cpu");
  assert.ok(a.parameters().every((p) => p.device === "cpu"));
  const w = (m: typeof a) => m.stateDict()["observationEncoder.net.0.weight"].data();
  assert.deepEqual(await w(a), await w(b));
  assert.notDeepEqual(await w(a), await w(c));
  assert.equal(a.apiVersion, "v3");
  for (const m of [a, b, c]) m.dispose();
});

Deno.test("catalog: listModels defaults to the supported surface; all includes experimental", async () => {
  const unregister = registerStandInFamilies();
  try {
    const supported = await listModels();
    assert.ok(supported.includes("dreamerv3:size12m"));
    assert.ok(supported.includes("tdmpc2:5m"));
    assert.ok(!supported.includes("dreamerv3:official_xl"), "proof presets are advanced (public)");
    assert.ok(
      !supported.some((id) => id.startsWith("mlp:")),
      "experimental families need surface all",
    );
    const pub = await listModels({ surface: "public" });
    assert.ok(pub.includes("dreamerv3:official_xl") && pub.includes("tdmpc2:proof_5m"));
    assert.ok(!pub.some((id) => id.startsWith("mlp:")));
    const all = await listModels({ surface: "all" });
    for (const id of ["mlp:ci", "mlp:small", "dreamerv3:ci", "tdmpc2:317m"]) {
      assert.ok(all.includes(id), id);
    }
    const experimental = await listModels({ surface: "all", maturity: "experimental" });
    assert.deepEqual(
      experimental.filter((id) => id.startsWith("mlp:")),
      ["mlp:ci", "mlp:small", "mlp:medium", "mlp:large"],
    );
    for (const id of ["jepa:ci", "jepa:small", "token:ci", "token:small"]) {
      assert.ok(experimental.includes(id), id);
      assert.ok(!supported.includes(id) && !pub.includes(id), id);
    }
    assert.ok(
      (await listModels({ surface: "all", maturity: "reference-family" })).every((id) =>
        !id.startsWith("mlp")
      ),
    );
    const verbose = await listModels({ surface: "all", verbose: true });
    assert.equal(verbose["dreamerv3:official_xl"].tier, "proof");
    assert.equal(verbose["dreamerv3:official_xl"].surface, "public");
    assert.equal(verbose["dreamerv3:ci"].tier, "compatibility");
    assert.equal(verbose["mlp:small"].maturity, "experimental");
    assert.equal(verbose["mlp:small"].surface, "all");
    assert.deepEqual(verbose["mlp:small"].aliases, ["mlp"]);
    assert.ok(verbose["dreamerv3:size12m"].aliases.includes("dreamer"));
    await assert.rejects(listModels({ surface: "everything" as never }), /unknown surface/);
  } finally {
    unregister();
  }
});

Deno.test("catalog: parameter counts are counted from models", async () => {
  // The mlp family counts from shapes; the count equals a real build for every preset.
  for (const preset of Object.keys(MLP_PRESETS)) {
    const info = await getModelInfo(`mlp:${preset}`);
    const model = await createWorldModel(`mlp:${preset}`);
    assert.equal(info.params, model.numParameters(), preset);
    assert.equal(MODEL_CATALOG[`mlp:${preset}`].params, info.params);
    model.dispose();
  }
  for (
    const cfg of [{ norm: "rms" }, { norm: "none", depth: 3 }, {
      actionType: "discrete",
      actionDim: 5,
    }]
  ) {
    const model = await createWorldModel("mlp:ci", cfg);
    assert.equal(countMLPParameters(mlpConfigSchema.parse(model.config)), model.numParameters());
    model.dispose();
  }
  // A family without countParameters is built once on the cpu and cached.
  let builds = 0;
  WorldModelRegistry.register("counted", {
    configSchema: mlpConfigSchema,
    factory: (config, ctx) => (builds++, new MLPWorldModel(config, ctx)),
    presets: { tiny: { config: { latentDim: 2, hiddenDim: 4, depth: 1 } } },
    maturity: "skeleton",
    description: "counted by building",
  });
  try {
    const entry = MODEL_CATALOG["counted:tiny"];
    assert.ok(entry instanceof CatalogEntry);
    assert.equal(entry.params, null);
    assert.equal(entry.surface, "all");
    const info = await getModelInfo("counted:tiny");
    const built = await createWorldModel("counted:tiny");
    assert.equal(info.params, built.numParameters());
    assert.equal(entry.params, info.params);
    await getModelInfo("counted:tiny");
    assert.equal(builds, 2, "one build for the count (cached), one for createWorldModel");
    assert.equal(JSON.parse(JSON.stringify(entry)).params, info.params);
    built.dispose();
  } finally {
    WorldModelRegistry.unregister("counted");
  }
});

Deno.test("registry: registration is checked", () => {
  const base: FamilySpec<MLPConfig> = {
    configSchema: mlpConfigSchema,
    factory: (config, ctx) => new MLPWorldModel(config, ctx),
    presets: { a: { config: {} } },
    maturity: "experimental",
    description: "x",
  };
  assert.throws(() => WorldModelRegistry.register("mlp", base), /already registered/);
  assert.throws(() => WorldModelRegistry.register("Bad:Name", base), /lower case/);
  assert.throws(
    () => WorldModelRegistry.register("nopreset", { ...base, presets: {} }),
    /needs a preset/,
  );
  assert.throws(
    () =>
      WorldModelRegistry.register("badpreset", {
        ...base,
        presets: { a: { config: { hiddenDim: -1 } } },
      }),
    /preset "badpreset:a": invalid badpreset config: hiddenDim/,
  );
  assert.ok(!WorldModelRegistry.has("badpreset"), "a failed registration leaves nothing behind");
  assert.throws(
    () =>
      WorldModelRegistry.register("noshape", {
        ...base,
        configSchema: { shape: {}, safeParse: () => ({ success: true, data: {} as MLPConfig }) },
      }),
    /obsShape and actionDim/,
  );
  assert.throws(
    () => WorldModelRegistry.registerAlias("mlp", "mlp:ci"),
    /already points to "mlp:small"/,
  );
  WorldModelRegistry.registerAlias("mlp", "mlp:small"); // same target: no-op
  assert.ok(!WorldModelRegistry.unregisterAlias("dreamer"), "built-in aliases stay");
});

Deno.test("registry: a family factory must return a model of that family", async () => {
  WorldModelRegistry.register("liar", {
    configSchema: mlpConfigSchema,
    factory: (config, ctx) => new MLPWorldModel(config, { ...ctx, modelType: "mlp" }),
    presets: { a: { config: {} } },
    maturity: "experimental",
    description: "returns an mlp",
  });
  try {
    await assert.rejects(createWorldModel("liar:a"), /returned a model of type "mlp"/);
  } finally {
    WorldModelRegistry.unregister("liar");
  }
  void randn;
});
