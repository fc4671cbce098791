import assert from "node:assert/strict";
import {
  checkPluginCompatibility,
  compareVersions,
  ComponentRegistry,
  createWorldModel,
  getModelInfo,
  listModels,
  listPlugins,
  loadPlugin,
  MODEL_ALIASES,
  PluginError,
  type PluginManifest,
  randn,
  registerPlugin,
  satisfies,
  unregisterPlugin,
  WORLDFLUX_VERSION,
  WorldModelRegistry,
} from "../../mod.ts";
import { tempDir } from "./helpers.ts";

const PLUGIN_URL = new URL("../../examples/plugins/minimal_plugin.ts", import.meta.url);

const manifest = (m: Partial<PluginManifest> = {}): PluginManifest => ({
  name: "test_plugin",
  pluginApiVersion: "1.0",
  worldfluxVersionRange: ">=0.1.0 <1.0.0",
  capabilities: ["model-alias"],
  ...m,
});

Deno.test("plugins: the minimal plugin registers its alias and component", async () => {
  const m = await loadPlugin(PLUGIN_URL);
  assert.equal(m.name, "minimal_plugin");
  assert.ok("minimal_plugin" in listPlugins());
  assert.equal(MODEL_ALIASES["minimalplugin-mlp"], "mlp:minimalplugin");
  assert.ok(ComponentRegistry.has("minimal_plugin.zero_action_conditioner"));
  assert.equal(
    ComponentRegistry.list()["minimal_plugin.zero_action_conditioner"].slot,
    "actionConditioner",
  );
  // loading it again is a no-op
  assert.equal(await loadPlugin(PLUGIN_URL), m);

  // the alias works through createWorldModel
  const model = await createWorldModel("minimalplugin-mlp", { obsShape: [4], actionDim: 2 });
  assert.equal(model.modelType, "mlp");
  assert.equal(model.config.latentDim, 4);
  assert.equal(model.config.hiddenDim, 16);
  const info = await getModelInfo("minimalplugin-mlp");
  assert.equal(info.id, "mlp:minimalplugin");
  assert.equal(info.alias, "minimalplugin-mlp");
  assert.equal(info.params, model.numParameters());
  assert.ok((await listModels({ surface: "all" })).includes("mlp:minimalplugin"));

  // its component overrides the action conditioner: rollouts ignore the actions
  const zeroed = await createWorldModel("minimalplugin-mlp", {
    obsShape: [4],
    actionDim: 2,
    componentOverrides: { action_conditioner: "minimal_plugin.zero_action_conditioner" },
  });
  const s = zeroed.encode(randn([2, 4], { seed: 1 }), { deterministic: true });
  const a = zeroed.rollout(s, randn([4, 2, 2], { seed: 2 }));
  const b = zeroed.rollout(s, randn([4, 2, 2], { seed: 3 }).mul(10));
  assert.deepEqual(
    await a.finalState.get("latent").data(),
    await b.finalState.get("latent").data(),
  );
  assert.deepEqual(await a.rewards!.data(), await b.rewards!.data());
  // while the default conditioner does not
  const s2 = model.encode(randn([2, 4], { seed: 1 }), { deterministic: true });
  const c = model.rollout(s2, randn([4, 2, 2], { seed: 2 }));
  const d = model.rollout(s2, randn([4, 2, 2], { seed: 3 }).mul(10));
  assert.notDeepEqual(
    await c.finalState.get("latent").data(),
    await d.finalState.get("latent").data(),
  );

  // unregistering removes everything it registered
  assert.ok(unregisterPlugin("minimal_plugin"));
  assert.ok(!("minimalplugin-mlp" in MODEL_ALIASES));
  assert.ok(!ComponentRegistry.has("minimal_plugin.zero_action_conditioner"));
  assert.ok(!WorldModelRegistry.presets("mlp").includes("minimalplugin"));
  model.dispose();
  zeroed.dispose();
});

Deno.test("plugins: an incompatible manifest is refused with the reason", async () => {
  const cases: [Partial<PluginManifest>, RegExp][] = [
    [
      { worldfluxVersionRange: ">=2.0.0" },
      /requires worldflux >=2\.0\.0, but this is worldflux 0\./,
    ],
    [{ pluginApiVersion: "2.0" }, /pluginApiVersion 2\.0 is not supported.*plugin API 1\.0/],
    [{ pluginApiVersion: "1.5" }, /pluginApiVersion 1\.5 is not supported/],
    [{ capabilities: ["teleport"] as never }, /unknown capabilities "teleport"/],
    [{ worldfluxVersionRange: ">=banana" }, /worldfluxVersionRange ">=banana" is invalid/],
    [{ capabilities: [] }, /manifest\.capabilities/],
  ];
  for (const [m, re] of cases) {
    let registered = false;
    await assert.rejects(
      registerPlugin({ manifest: manifest(m), register: () => void (registered = true) }),
      (e: unknown) => {
        assert.ok(e instanceof PluginError, String(e));
        assert.equal(e.plugin, "test_plugin");
        assert.match(e.reason, re);
        assert.match(e.message, /plugin "test_plugin" refused: /);
        return true;
      },
    );
    assert.ok(!registered, "register() must not run for an incompatible plugin");
  }
  const r = checkPluginCompatibility(manifest({ worldfluxVersionRange: "^0.1.0" }));
  assert.deepEqual(r, { compatible: true, reasons: [] });
  const old = checkPluginCompatibility(manifest(), { worldfluxVersion: "1.2.0" });
  assert.equal(old.compatible, false);
  assert.match(old.reasons[0], /this is worldflux 1\.2\.0/);
  await assert.rejects(
    registerPlugin({ manifest: manifest() } as never),
    /a plugin is an object with a manifest and a register\(ctx\) function/,
  );
});

Deno.test("plugins: registrations outside the declared capabilities are refused and rolled back", async () => {
  await assert.rejects(
    registerPlugin({
      manifest: manifest(),
      register(ctx) {
        ctx.registerAlias("test-plugin-alias", "mlp:ci");
        ctx.registerComponent("test_plugin.noop", {
          slot: "actionConditioner",
          create: () => ({ condition: () => ({}) }),
        });
      },
    }),
    (e: unknown) => {
      assert.ok(e instanceof PluginError);
      assert.match(e.reason, /registers the component "test_plugin\.noop".*"component"/);
      return true;
    },
  );
  // the alias registered before the failure was removed again
  assert.ok(!("test-plugin-alias" in MODEL_ALIASES));
  assert.ok(!("test_plugin" in listPlugins()));
  // an error thrown by register() is wrapped and rolled back too
  await assert.rejects(
    registerPlugin({
      manifest: manifest(),
      register(ctx) {
        ctx.registerAlias("test-plugin-alias", "mlp:ci");
        throw new Error("boom");
      },
    }),
    /register\(\) failed: boom/,
  );
  assert.ok(!("test-plugin-alias" in MODEL_ALIASES));
});

Deno.test("plugins: loadPlugin explains modules that export no plugin", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/not_a_plugin.ts`, "export const x = 1;\n");
  await assert.rejects(loadPlugin(`${dir}/not_a_plugin.ts`), /exports no plugin/);
  await assert.rejects(loadPlugin(`${dir}/missing.ts`), /cannot import/);
});

Deno.test("semver: versions and ranges", () => {
  assert.equal(compareVersions("0.1.0", "0.1.1"), -1);
  assert.equal(compareVersions("1.0.0-alpha", "1.0.0"), -1);
  assert.equal(compareVersions("1.0.0-alpha.2", "1.0.0-alpha.10"), -1);
  assert.equal(compareVersions("1.0.0-beta", "1.0.0-alpha.1"), 1);
  assert.equal(compareVersions("2.0.0+build", "2.0.0"), 0);
  const yes: [string, string][] = [
    ["0.1.4", ">=0.1.0,<0.2.0"],
    ["0.1.4", ">=0.1.0 <0.2.0"],
    ["0.1.4", "^0.1.0"],
    ["0.1.4", "~0.1"],
    ["0.1.4", "0.1.x"],
    ["0.1.4", "*"],
    ["1.5.0", "1.0.0 - 2.0.0"],
    ["1.2.3", "^0.9.0 || ~1.2.0"],
    ["1.0.0-rc.1", ">=1.0.0-rc.0 <1.0.0"],
    ["3.0.0", ">2.1"],
    ["2.1.9", "<=2.1"],
  ];
  const no: [string, string][] = [
    ["0.2.0", ">=0.1.0,<0.2.0"],
    ["0.2.0", "^0.1.0"],
    ["1.0.0", "^0.1.0"],
    ["1.3.0", "~1.2"],
    ["1.0.0-rc.1", ">=0.9.0"],
    ["2.1.5", ">2.1"],
    ["2.2.0", "<=2.1"],
  ];
  for (const [v, r] of yes) assert.ok(satisfies(v, r), `${v} satisfies ${r}`);
  for (const [v, r] of no) assert.ok(!satisfies(v, r), `${v} does not satisfy ${r}`);
  assert.ok(satisfies(WORLDFLUX_VERSION, ">=0.1.0 <0.2.0"));
  assert.throws(() => satisfies("1.0", ">=1.0.0"), /not a semantic version/);
});
