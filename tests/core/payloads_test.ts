import assert from "node:assert/strict";
import {
  type ActionPayload,
  ContractError,
  createWorldModel,
  firstAction,
  ModelOutput,
  normalizePlannedAction,
  PLANNER_HORIZON_KEY,
  PLANNER_SEQUENCE_KEY,
  randn,
  resolveBatchKey,
  State,
  zeros,
} from "../../mod.ts";
import { captureWarnings } from "./helpers.ts";

const plan = (
  h: number | undefined,
  shape: number[],
  extras: Record<string, unknown> = {},
): ActionPayload => ({
  kind: "continuous",
  tensor: zeros(shape),
  extras: h === undefined ? extras : { ...extras, [PLANNER_HORIZON_KEY]: h },
});

Deno.test("payloads: the planner horizon key and normalizePlannedAction", async () => {
  assert.equal(PLANNER_HORIZON_KEY, "wf.planner.horizon");
  assert.deepEqual(normalizePlannedAction(plan(5, [5, 3, 2])).tensor!.shape, [5, 3, 2]);
  assert.deepEqual(normalizePlannedAction(plan(1, [3, 2])).tensor!.shape, [1, 3, 2]);
  assert.deepEqual(normalizePlannedAction(plan(1, [2])).tensor!.shape, [1, 1, 2]);
  assert.deepEqual(normalizePlannedAction(plan(4, [4, 2])).tensor!.shape, [4, 1, 2]);
  assert.throws(() => normalizePlannedAction(plan(4, [5, 3, 2])), (e: unknown) => {
    assert.ok(e instanceof ContractError);
    assert.match(e.message, /first axis 4.*got \[5, 3, 2\]/);
    return true;
  });
  assert.throws(
    () => normalizePlannedAction(plan(undefined, [5, 3, 2])),
    /wf\.planner\.horizon.*nothing/,
  );
  assert.throws(() => normalizePlannedAction(plan(0, [5, 3, 2])), /an integer >= 1, got 0/);
  assert.throws(
    () => normalizePlannedAction(plan(5, [5, 3, 2], { [PLANNER_SEQUENCE_KEY]: true })),
    /legacy key/,
  );
  // v0.2 infers the horizon and accepts the legacy key, with warnings
  const w = await captureWarnings(() => {
    const seq = normalizePlannedAction(
      plan(undefined, [5, 3, 2], { [PLANNER_SEQUENCE_KEY]: true }),
      {
        apiVersion: "v0.2",
      },
    );
    assert.deepEqual(seq.tensor!.shape, [5, 3, 2]);
  });
  assert.equal(w.length, 2);
  const f = firstAction(plan(5, [5, 3, 2]));
  assert.deepEqual(f.tensor!.shape, [3, 2]);
  assert.equal(f.extras![PLANNER_HORIZON_KEY], 1);
  const none = normalizePlannedAction({ kind: "none", extras: { [PLANNER_HORIZON_KEY]: 1 } });
  assert.equal(none.payloads!.length, 1);
});

Deno.test("payloads: rollout takes a planner payload, an ActionSequence, or nothing", async () => {
  const m = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
  const s = m.encode(randn([3, 4]));
  const actions = randn([5, 3, 2], { seed: 4 });
  const a = m.rollout(s, actions);
  const b = m.rollout(s, {
    kind: "continuous",
    tensor: actions,
    extras: { [PLANNER_HORIZON_KEY]: 5 },
  });
  const c = m.rollout(s, {
    payloads: [0, 1, 2, 3, 4].map((t) => ({
      kind: "continuous" as const,
      tensor: actions.narrow(0, t, 1).squeeze(0),
    })),
  });
  assert.equal(a.horizon, 5);
  assert.equal(a.states.length, 6);
  assert.deepEqual(a.rewards!.shape, [5, 3]);
  assert.deepEqual(a.continues!.shape, [5, 3]);
  assert.deepEqual(c.actions.shape, [5, 3, 0]);
  const last = async (t: typeof a) => await t.finalState.get("latent").data();
  assert.deepEqual(await last(b), await last(a));
  assert.deepEqual(await last(c), await last(a));
  const empty = m.rollout(s, null);
  assert.equal(empty.horizon, 0);
  assert.equal(empty.rewards, null);
  m.dispose();
});

Deno.test("state, outputs and batches", async () => {
  const s = new State({ latent: zeros([3, 4]), h: zeros([3, 2]) }, { step: 1 });
  assert.equal(s.batchSize, 3);
  assert.equal(s.device, "cpu");
  assert.deepEqual(s.keys(), ["latent", "h"]);
  assert.throws(() => s.get("z"), /no tensor "z" in the state; it has latent, h/);
  const t = s.with({ z: zeros([3, 1]) }, { step: 2 });
  assert.deepEqual(t.keys(), ["latent", "h", "z"]);
  assert.equal(t.meta.step, 2);
  const x = randn([2, 2]).setRequiresGrad();
  const y = new State({ v: x.mul(2) });
  assert.ok(y.detach().get("v").isLeaf);
  const c = y.clone();
  assert.deepEqual(await c.get("v").data(), await y.get("v").data());
  c.dispose();
  assert.ok(c.get("v").isDisposed);
  assert.equal(new State({}, { batchSize: 5 }).batchSize, 5);
  const out = new ModelOutput({ predictions: { reward: zeros([2, 1]) } });
  assert.equal(out.preds, out.predictions);
  const batch = {
    obs: { rgb: zeros([1, 2, 3]) },
    inputs: { depth: zeros([1]) },
    extras: { "wf.x.y": 1 },
  };
  assert.equal(resolveBatchKey(batch, "obs.rgb"), batch.obs.rgb);
  assert.equal(resolveBatchKey(batch, "depth"), batch.inputs.depth);
  assert.equal(resolveBatchKey(batch, "inputs.depth"), batch.inputs.depth);
  assert.equal(resolveBatchKey(batch, "rewards"), undefined);
});
