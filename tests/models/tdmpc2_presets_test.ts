import assert from "node:assert/strict";
import {
  countTDMPC2Parameters,
  createWorldModel,
  getModelInfo,
  listModels,
  MODEL_CATALOG,
  randn,
  resolveModelName,
  TDMPC2_PRESETS,
  tdmpc2ConfigSchema,
  type TDMPC2WorldModel,
  type Tensor,
  WorldModelRegistry,
} from "../../mod.ts";

/** Parameters each preset's name states (ci: the reference's ~0.1M ceiling). */
const NAMED: Record<string, number> = {
  "5m": 5e6,
  proof_5m: 5e6,
  "5m_legacy": 5e6,
  "19m": 19e6,
  "48m": 48e6,
  "317m": 317e6,
};

const ALIASES: Record<string, string> = {
  tdmpc: "tdmpc2:5m",
  tdmpc2: "tdmpc2:5m",
  "tdmpc2-ci": "tdmpc2:ci",
  "tdmpc-ci": "tdmpc2:ci",
  "tdmpc-small": "tdmpc2:5m",
  "tdmpc-medium": "tdmpc2:48m",
  "tdmpc-large": "tdmpc2:317m",
  "tdmpc-proof": "tdmpc2:proof_5m",
  "tdmpc2:proof": "tdmpc2:proof_5m",
  "tdmpc-legacy": "tdmpc2:5m_legacy",
  "tdmpc:ci": "tdmpc2:ci",
};

Deno.test("tdmpc2 presets: counted parameters within 25% of each name (obs [39], action 6), without allocating", () => {
  for (const [name, preset] of Object.entries(TDMPC2_PRESETS)) {
    const c = tdmpc2ConfigSchema.parse({ ...preset.config, obsShape: [39], actionDim: 6 });
    const n = countTDMPC2Parameters(c);
    const want = NAMED[name];
    if (want === undefined) {
      assert.equal(name, "ci");
      assert.ok(n < 1e5, `ci: ${n}`);
      continue;
    }
    assert.ok(Math.abs(n - want) / want <= 0.25, `${name}: ${n} vs ${want}`);
    // the catalog reports the same count (from shapes: nothing is built)
    assert.equal(WorldModelRegistry.cachedParameterCount(`tdmpc2:${name}`), n, name);
  }
  // the official 5M structure: 4,964,458 trainable parameters at obs 39, action 6
  assert.equal(WorldModelRegistry.cachedParameterCount("tdmpc2:5m"), 4964458);
});

Deno.test("tdmpc2 presets: real builds match the count (ci, 5m, 5m_legacy)", async () => {
  for (const name of ["ci", "5m", "5m_legacy"]) {
    const m = await createWorldModel(`tdmpc2:${name}`, { obsShape: [39], actionDim: 6 });
    const c = tdmpc2ConfigSchema.parse(m.config);
    assert.equal(m.numParameters(), countTDMPC2Parameters(c), name);
    m.dispose();
  }
  // episodic models add a termination head; discrete actions a categorical policy
  const e = await createWorldModel("tdmpc2:ci", {
    obsShape: [5],
    actionDim: 3,
    actionType: "discrete",
    episodic: true,
  });
  assert.equal(e.numParameters(), countTDMPC2Parameters(tdmpc2ConfigSchema.parse(e.config)));
  e.dispose();
});

Deno.test("tdmpc2 presets: every alias resolves, catalog tiers and surfaces", async () => {
  for (const [alias, id] of Object.entries(ALIASES)) assert.equal(resolveModelName(alias), id);
  const tiers: Record<string, string> = {
    ci: "compatibility",
    "5m": "reference",
    proof_5m: "proof",
    "5m_legacy": "compatibility",
    "19m": "reference",
    "48m": "reference",
    "317m": "reference",
  };
  for (const [p, tier] of Object.entries(tiers)) {
    const e = MODEL_CATALOG[`tdmpc2:${p}`];
    assert.ok(e, p);
    assert.equal(e.tier, tier, p);
    assert.equal(e.maturity, "reference");
  }
  const supported = await listModels();
  assert.ok(supported.includes("tdmpc2:5m") && !supported.includes("tdmpc2:proof_5m"));
  assert.ok((await listModels({ surface: "public" })).includes("tdmpc2:proof_5m"));
  const info = await getModelInfo("tdmpc-large");
  assert.ok(info.params! > 0.75 * 317e6 && info.params! < 1.25 * 317e6);
});

Deno.test("tdmpc2 config: fields, defaults from the official config.yaml, validation", () => {
  const c = tdmpc2ConfigSchema.parse({});
  const expect: Record<string, unknown> = {
    latentDim: 512,
    hiddenDim: 512,
    encDim: 256,
    numEncLayers: 2,
    numQNetworks: 5,
    simnormDim: 8,
    numBins: 101,
    vmin: -10,
    vmax: 10,
    dropout: 0.01,
    horizon: 3,
    rho: 0.5,
    consistencyCoef: 20,
    rewardCoef: 0.1,
    valueCoef: 0.1,
    terminationCoef: 1,
    entropyCoef: 1e-4,
    lr: 3e-4,
    encLrScale: 0.3,
    gradClip: 20,
    tau: 0.01,
    logStdMin: -10,
    logStdMax: 2,
    iterations: 6,
    numSamples: 512,
    numElites: 64,
    numPiTrajs: 24,
    minStd: 0.05,
    maxStd: 2,
    temperature: 0.5,
  };
  for (const [k, v] of Object.entries(expect)) assert.equal((c as never)[k], v, k);
  assert.ok(!tdmpc2ConfigSchema.safeParse({ latentDim: 30 }).success, "latent in groups of 8");
  assert.ok(!tdmpc2ConfigSchema.safeParse({ obsShape: [3, 64, 64] }).success);
});

Deno.test("tdmpc2 contract: state latent (SimNorm), predictions reward/continue/q_values/action", async () => {
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [7],
    actionDim: 3,
  }) as TDMPC2WorldModel;
  const c = model.ioContract();
  assert.deepEqual(c.requiredStateKeys, ["latent"]);
  assert.deepEqual(Object.keys(c.predictionSpec.tensors), [
    "reward",
    "continue",
    "q_values",
    "action",
  ]);
  assert.ok(model.supports("planning") && model.supports("value") && model.supports("policy"));
  const s = model.encode(randn([4, 7]));
  assert.deepEqual(s.keys(), ["latent"]);
  // SimNorm: every group of 8 sums to one
  const g = await s.get("latent").reshape([4, 4, 8]).sum(-1).data();
  assert.ok(Array.from(g).every((v) => Math.abs(v - 1) < 1e-5));
  const out = model.decode(s).predictions;
  assert.deepEqual(out.reward.shape, [4, 1]);
  assert.deepEqual(out.continue.shape, [4, 1]);
  assert.deepEqual(out.q_values.shape, [4, 2]);
  assert.deepEqual(out.action.shape, [4, 3]);
  // zero-initialised heads: reward and Q start at 0 (symexp of the centre bin)
  assert.ok(Array.from(await out.q_values.data()).every((v) => Math.abs(v) < 1e-5));
  const next = model.transition(s, randn([4, 3]).tanh());
  assert.deepEqual(next.keys(), ["latent", "reward"]);
  const traj = model.rollout(s, randn([5, 4, 3]).tanh());
  assert.deepEqual(traj.rewards!.shape, [5, 4]);
  assert.deepEqual(traj.continues!.shape, [5, 4]);
  // parameter names mirror the official modules
  const names = Object.keys(model.stateDict());
  for (
    const n of [
      "observationEncoder.net.layers.0.weight",
      "observationEncoder.net.layers.1.ln.weight",
      "dynamicsModel.net.layers.2.ln.bias",
      "reward.layers.2.weight",
      "pi.layers.2.bias",
      "qs.layers.0.weight",
      "qs.norms.1.bias",
      "qs.out.weight",
      "targetQs.out.weight",
      "scale.value",
    ]
  ) assert.ok(names.includes(n), n);
  model.dispose();
});

Deno.test("tdmpc2 planning hooks: the shared first step equals the step on repeated latents (official and legacy)", async () => {
  for (const variant of ["official", "legacy"] as const) {
    const model = await createWorldModel("tdmpc2:ci", {
      obsShape: [7],
      actionDim: 3,
      variant,
      episodic: true,
      seed: 2,
    }) as TDMPC2WorldModel;
    // non-zero heads so that rewards differ
    for (const p of model.reward.parameters()) p.assign(randn(p.shape, { seed: 7 }).mul(0.3));
    const s = model.encode(randn([2, 7], { seed: 1 }));
    const a = randn([2 * 5, 3], { seed: 2 }).tanh();
    const shared = model.imagineStepShared(s, 5, a);
    const z = s.get("latent");
    const rep = model.imagineStep(
      s.with({ latent: z.unsqueeze(1).expand([2, 5, 32]).reshape([10, 32]) }),
      a,
    );
    const close = async (x: Tensor, y: Tensor, what: string) => {
      const [u, v] = [await x.data(), await y.data()];
      for (let i = 0; i < u.length; i++) {
        assert.ok(Math.abs(u[i] - v[i]) < 1e-5, `${variant} ${what}`);
      }
    };
    await close(shared.state.get("latent"), rep.state.get("latent"), "latent");
    await close(shared.reward, rep.reward, "reward");
    await close(shared.continue!, rep.continue!, "continue");
    assert.deepEqual(shared.reward.shape, [10]);
    // the step's reward is the reward head of (z, a), as decode() reports after transition()
    const viaContract = model.decode(
      model.transition(s.with({ latent: z.unsqueeze(1).expand([2, 5, 32]).reshape([10, 32]) }), a),
    );
    await close(viaContract.predictions.reward.reshape([10]), rep.reward, "decode(transition)");
    model.dispose();
  }
});
