import assert from "node:assert/strict";
import {
  type ActionPayload,
  ContractDefinitionError,
  ContractError,
  createWorldModel,
  mlpConfigSchema,
  MLPWorldModel,
  ModelIOContract,
  type ModelIOContractInit,
  randn,
  State,
  tensor,
  zeros,
} from "../../mod.ts";
import { checkAction, ContractValidator } from "../../src/core/validation.ts";
import { ReplayBuffer } from "../../src/training/replay_buffer.ts";
import { assertContractError, captureWarnings } from "./helpers.ts";

/** The mlp model with a declared goal extra (schema) and a declared flag extra (key only). */
class GoalMLP extends MLPWorldModel {
  override ioContract(): ModelIOContract {
    return new ModelIOContract({
      ...(super.ioContract().toJSON() as ModelIOContractInit),
      conditionExtrasSchema: { "wf.goal.xy": { kind: "vector", shape: [2] } },
      conditionSpec: { allowedExtraKeys: ["wf.goal.flag"] },
    });
  }
}

const small = { obsShape: [4], actionDim: 2, latentDim: 4, hiddenDim: 8, depth: 1 };
const model = new GoalMLP(mlpConfigSchema.parse(small));
const state = model.encode(randn([3, 4], { seed: 1 }), { deterministic: true });

Deno.test("contract: wrong observation shape names obs, [B, 4] and [2, 5]", () => {
  assertContractError(() => model.encode(randn([2, 5])), {
    kind: "observation_shape",
    field: "obs",
    includes: ["encode", "[B, 4]", "[2, 5]"],
  });
  // wrong rank too
  assertContractError(() => model.encode(randn([4])), {
    field: "obs",
    includes: ["[B, 4]", "[4]"],
  });
});

Deno.test("contract: wrong observation dtype names float32 and int32", () => {
  assertContractError(() => model.encode(zeros([2, 4], { dtype: "int32" })), {
    kind: "observation_dtype",
    field: "obs",
    includes: ["float32", "int32", "[2, 4]"],
  });
});

Deno.test("contract: missing and undeclared observation keys", () => {
  assertContractError(() => model.encode({ observations: {} }), {
    kind: "observation_key",
    field: "obs",
    includes: ["[B, 4]", "nothing"],
  });
  assertContractError(() => model.encode({ obs: randn([2, 4]), rgb: randn([2, 4]) }), {
    kind: "observation_key",
    field: "rgb",
    includes: ["declared observations (obs)", `"rgb"`],
  });
});

Deno.test("contract: wrong action kind names both kinds and shapes", () => {
  const discrete: ActionPayload = { kind: "discrete", tensor: zeros([3], { dtype: "int32" }) };
  assertContractError(() => model.transition(state, discrete), {
    kind: "action_kind",
    field: "action.kind",
    includes: [`"continuous"`, "[3, 2]", `"discrete"`, "[3] (int32)"],
  });
});

Deno.test("contract: wrong action dim (legacy tensor form) names [3, 2] and [3, 5]", () => {
  assertContractError(() => model.transition(state, randn([3, 5])), {
    kind: "action_shape",
    field: "action.tensor",
    includes: ["[3, 2]", "[3, 5]", "dim 2"],
  });
  // batch size of the action differs from the state's
  assertContractError(() => model.transition(state, randn([4, 2])), {
    field: "action.tensor",
    includes: ["[3, 2]", "[4, 2]"],
  });
  // dtype
  assertContractError(
    () =>
      model.transition(state, { kind: "continuous", tensor: zeros([3, 2], { dtype: "int32" }) }),
    { kind: "action_dtype", field: "action.tensor", includes: ["float32", "int32"] },
  );
});

Deno.test("contract: discrete models take int32 [B] or one-hot [B, n]", async () => {
  const m = await createWorldModel("mlp:ci", {
    obsShape: [4],
    actionDim: 3,
    actionType: "discrete",
  });
  const s = m.encode(randn([2, 4]));
  m.transition(s, tensor(new Int32Array([0, 2]), [2], { dtype: "int32" }));
  m.transition(s, { kind: "discrete", tensor: zeros([2, 3]) });
  assertContractError(() => m.transition(s, randn([2, 2])), {
    kind: "action_shape",
    field: "action.tensor",
    includes: ["int32 [2]", "float32 [2, 3]", "[2, 2] (float32)"],
  });
  m.dispose();
});

Deno.test("contract: action union accepts any variant and lists all when none matches", () => {
  const c = new ModelIOContract({
    actionSpec: { kind: "continuous", dim: 2 },
    actionUnionSpec: [{ kind: "continuous", dim: 2 }, { kind: "discrete", dim: 4 }],
  });
  const v = new ContractValidator("v3");
  checkAction(v, c, "t", { kind: "continuous", tensor: zeros([3, 2]) });
  checkAction(v, c, "t", { kind: "discrete", tensor: zeros([3], { dtype: "int32" }) });
  const err = assertContractError(
    () => checkAction(v, c, "t", { kind: "token", tokens: zeros([3, 2], { dtype: "int32" }) }),
    {
      kind: "action_kind",
      field: "action.kind",
      includes: ["one of", `"continuous"`, `"discrete"`, `"token"`],
    },
  );
  assert.match(err.message, /4 actions/);
  // same kind, wrong size: the error of that variant
  assertContractError(() => checkAction(v, c, "t", { kind: "discrete", tensor: zeros([3, 5]) }), {
    field: "action.tensor",
    includes: ["[B, 4]", "[3, 5]"],
  });
});

Deno.test("contract: undeclared extras key names the key and the declared ones", () => {
  assertContractError(
    () =>
      model.transition(state, randn([3, 2]), {
        conditions: { extras: { "wf.other.key": randn([3, 2]) } },
      }),
    {
      kind: "extras_key_undeclared",
      field: `conditions.extras["wf.other.key"]`,
      includes: ["wf.goal.flag", "wf.goal.xy", `"wf.other.key"`],
    },
  );
  // declared keys pass (schema-checked and key-only)
  model.transition(state, randn([3, 2]), {
    conditions: { extras: { "wf.goal.xy": randn([3, 2]), "wf.goal.flag": true } },
  });
});

Deno.test("contract: badly named extras key names the required form", () => {
  for (const key of ["goal", "wf.goal", "xx.goal.xy", "wf..x"]) {
    assertContractError(
      () => model.decode(state, { conditions: { extras: { [key]: 1 } } }),
      {
        kind: "extras_key_format",
        field: `conditions.extras["${key}"]`,
        includes: ["wf.<domain>.<name>", `"${key}"`],
      },
    );
  }
});

Deno.test("contract: declared extras are checked for shape and dtype", () => {
  assertContractError(
    () =>
      model.transition(state, randn([3, 2]), {
        conditions: { extras: { "wf.goal.xy": randn([3, 3]) } },
      }),
    { kind: "extras_schema", field: `conditions.extras["wf.goal.xy"]`, includes: ["2]", "[3, 3]"] },
  );
  assertContractError(
    () =>
      model.transition(state, randn([3, 2]), {
        conditions: { extras: { "wf.goal.xy": zeros([3, 2], { dtype: "int32" }) } },
      }),
    {
      kind: "extras_schema",
      field: `conditions.extras["wf.goal.xy"]`,
      includes: ["float32", "int32"],
    },
  );
});

Deno.test("contract: missing state key names the required and the present keys", () => {
  const bad = new State({ foo: zeros([3, 4]) });
  for (const call of [() => model.transition(bad, randn([3, 2])), () => model.decode(bad)]) {
    assertContractError(call, {
      kind: "state_key",
      field: "state.tensors",
      includes: ["latent", "foo", `missing "latent"`],
    });
  }
  assertContractError(() => model.decode(new State({ latent: zeros([3, 7]) })), {
    kind: "state_shape",
    field: "state.tensors.latent",
    includes: ["[B, 4]", "[3, 7]"],
  });
});

const batch = () => ({
  obs: randn([2, 4, 4]),
  actions: randn([2, 4, 2]),
  rewards: zeros([2, 4]),
  terminations: zeros([2, 4]),
});

Deno.test("contract: missing batch key names the key and what the batch has", () => {
  const { rewards: _r, ...noRewards } = batch();
  assertContractError(() => model.loss(noRewards), {
    kind: "batch_key",
    field: "batch.rewards",
    includes: ["required batch key", "BT", "obs, actions, terminations"],
  });
  const { obs: _o, ...noObs } = batch();
  assertContractError(() => model.loss(noObs), {
    kind: "batch_key",
    field: "batch.obs",
    includes: ["BT..."],
  });
});

Deno.test("contract: batch layouts, B/T agreement and per-step shapes", () => {
  assertContractError(() => model.loss({ ...batch(), rewards: zeros([2]) }), {
    kind: "batch_layout",
    field: "batch.rewards",
    includes: ["layout BT", "[2] (float32)"],
  });
  assertContractError(() => model.loss({ ...batch(), actions: randn([2, 3, 2]) }), {
    kind: "batch_shape",
    field: "batch.actions",
    includes: ["T = 4", "[2, 3, 2]"],
  });
  assertContractError(() => model.loss({ ...batch(), obs: randn([2, 4, 5]) }), {
    kind: "observation_shape",
    field: "batch.obs",
    includes: ["[2, 4, 4]", "[2, 4, 5]"],
  });
  assertContractError(() => model.loss({ ...batch(), actions: randn([2, 4, 3]) }), {
    kind: "action_shape",
    field: "batch.actions",
    includes: ["[2, 4, 2]", "[2, 4, 3]"],
  });
  assertContractError(() => model.loss({ ...batch(), layouts: { rewards: "TB" } }), {
    kind: "batch_layout",
    field: "batch.layouts.rewards",
    includes: [`"BT"`, `"TB"`],
  });
  assertContractError(
    () => model.loss({ ...batch(), lengths: { obs: zeros([2], { dtype: "int32" }) } }),
    {
      kind: "batch_layout",
      field: "batch.lengths.obs",
      includes: ["variable-length", `"obs"`],
    },
  );
  model.loss(batch()); // a good batch passes
});

Deno.test("contract: rollout actions [T, B, A] and removed rollout modes", () => {
  assertContractError(() => model.rollout(state, randn([5, 3, 3])), {
    kind: "action_shape",
    field: "actions",
    includes: ["[T, 3, 2]", "[5, 3, 3]"],
  });
  assertContractError(() => model.rollout(state, randn([5, 2, 2])), {
    field: "actions",
    includes: ["[T, 3, 2]", "[5, 2, 2]"],
  });
  assertContractError(() => model.rollout(state, randn([5, 3, 2]), { mode: "tree" }), {
    kind: "deprecated",
    field: "mode",
    includes: [`"autoregressive"`, `"tree"`],
  });
});

Deno.test("contract: legacy call forms give the same results as the universal ones", async () => {
  const obs = randn([3, 4], { seed: 7 });
  const a = model.encode(obs, { deterministic: true });
  const b = model.encode({ obs }, { deterministic: true });
  const c = model.encode({ observations: { obs } }, { deterministic: true });
  const la = await a.get("latent").data();
  assert.deepEqual(await b.get("latent").data(), la);
  assert.deepEqual(await c.get("latent").data(), la);
  const act = randn([3, 2], { seed: 8 });
  const n1 = model.transition(a, act);
  const n2 = model.transition(a, { kind: "continuous", tensor: act });
  assert.deepEqual(await n1.get("latent").data(), await n2.get("latent").data());
  // update re-encodes the observation for this family
  const u = model.update(a, act, obs);
  assert.deepEqual(u.keys(), ["latent", "mean", "std"]);
});

Deno.test("contract: api v0.2 warns once per kind and lets calls proceed", async () => {
  const m = new GoalMLP(mlpConfigSchema.parse(small), { apiVersion: "v0.2" });
  const s = m.encode(randn([3, 4]), { deterministic: true });
  const warnings = await captureWarnings(() => {
    for (let i = 0; i < 3; i++) {
      const next = m.transition(s, randn([3, 2]), { conditions: { extras: { goal: 1 } } });
      assert.equal(next.batchSize, 3);
    }
    m.decode(s, { conditions: { extras: { "wf.not.declared": 1 } } });
    m.rollout(s, randn([2, 3, 2]), { mode: "tree" });
  });
  assert.equal(warnings.length, 3, warnings.join("\n"));
  assert.match(warnings[0], /extras\["goal"\].*wf\.<domain>\.<name>/);
  assert.match(warnings[1], /undeclared key "wf\.not\.declared"/);
  assert.match(warnings[2], /mode/);
  m.dispose();
});

Deno.test("contract: ModelIOContract refuses contradictions", () => {
  const bad: [ModelIOContractInit, RegExp][] = [
    [{ requiredStateKeys: ["h"] }, /requiredStateKeys contains "h"/],
    [
      {
        actionSpec: { kind: "continuous", dim: 2 },
        actionUnionSpec: [{ kind: "discrete", dim: 3 }],
      },
      /actionSpec.kind "continuous" is not one of/,
    ],
    [{ conditionSpec: { allowedExtraKeys: ["goal"] } }, /wf.<domain>.<name>/],
    [{ sequenceLayout: { obs: "T..." } }, /no batch axis/],
    [{ requiredBatchKeys: ["pixels"] }, /unknown required batch key "pixels"/],
    [{ sequenceFieldSpec: { obs: { layout: "B...", variableLength: true } } }, /no "T"/],
    [{ actionSpec: { kind: "continuous", dim: -1 } }, /non-negative/],
    [
      { observationSpec: { modalities: { obs: { kind: "vector", shape: [0] } } } },
      /positive integers/,
    ],
  ];
  for (const [init, re] of bad) {
    assert.throws(() => new ModelIOContract(init), (e: unknown) => {
      assert.ok(e instanceof ContractDefinitionError);
      assert.match((e as Error).message, re);
      return true;
    });
  }
});

Deno.test("contract: the fingerprint is the sha256 of canonical JSON and is stable", async () => {
  const c1 = model.ioContract();
  const c2 = new GoalMLP(mlpConfigSchema.parse(small)).ioContract();
  assert.equal(c1.canonicalJson(), c2.canonicalJson());
  const fp = await model.contractFingerprint();
  assert.match(fp, /^[0-9a-f]{64}$/);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(c1.canonicalJson())),
  );
  assert.equal(fp, Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
  // keys are sorted at every level
  const parsed = JSON.parse(c1.canonicalJson());
  assert.deepEqual(Object.keys(parsed), [...Object.keys(parsed)].sort());
  const other = new GoalMLP(mlpConfigSchema.parse({ ...small, obsShape: [5] }));
  assert.notEqual(await other.contractFingerprint(), fp);
  assert.ok(!(await model.contractFingerprint() !== fp));
  assert.ok(ContractError.prototype instanceof Error);
});

for (const family of ["mlp", "dreamerv3", "tdmpc2", "jepa", "token"]) {
  Deno.test(`contract: ${family} refuses discrete indices outside [0, n) in transition, update, rollout, loss and the replay buffer`, async () => {
    const m = await createWorldModel(`${family}:ci`, {
      obsShape: [4],
      actionDim: 3,
      actionType: "discrete",
    });
    const buf = new ReplayBuffer({
      capacity: 64,
      obsShape: [4],
      actionDim: 3,
      actionDtype: "int32",
    });
    buf.addEpisode({
      obs: new Float32Array(4 * 16).map((_, i) => Math.sin(i)),
      actions: Int32Array.from({ length: 16 }, (_, t) => t % 3),
      rewards: new Float32Array(16),
    });
    try {
      const s = m.encode(randn([2, 4], { seed: 2 }));
      const idx = (xs: number[], shape: number[]) =>
        tensor(new Int32Array(xs), shape, { dtype: "int32" });
      // In range: accepted.
      m.transition(s, idx([0, 2], [2]));
      for (const bad of [3, 7, -1, 1e6]) {
        const want = { kind: "action_value" as const, includes: [`index ${bad}`, "[0, 3)"] };
        assertContractError(() => m.transition(s, idx([0, bad], [2])), {
          ...want,
          field: "action.tensor",
        });
        assertContractError(() => m.update(s, idx([bad, 1], [2]), randn([2, 4])), {
          ...want,
          field: "action.tensor",
        });
        assertContractError(() => m.rollout(s, idx([0, 1, bad, 2], [2, 2])), {
          ...want,
          field: "actions",
        });
        const batch = buf.sample(2, 4, { seed: 1 });
        batch.actions!.dispose();
        const batchBad = { ...batch, actions: idx([0, 1, 2, 0, 1, bad, 0, 1], [2, 4]) };
        assertContractError(() => m.loss(batchBad), { ...want, field: "batch.actions" });
        assertContractError(() => buf.addStep([0, 0, 0, 0], bad, 0), {
          ...want,
          field: "actions[0]",
        });
      }
    } finally {
      m.dispose();
    }
  });
}
