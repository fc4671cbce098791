/**
 * The `token` family: it learns a small synthetic task (the point mass of synthetic.ts) through
 * its registered training step, deterministically per seed; its contract (windowed token
 * states, imagination by sampled tokens, decode back to observations); save/load; presets with
 * counted parameters on the `all` surface only. The attention's gradient is checked against
 * finite differences in tests/autograd (cases.ts: "scaled dot-product attention", "transformer
 * block").
 * @module
 */

import assert from "node:assert/strict";
import {
  ContractError,
  countTokenParameters,
  createWorldModel,
  fromPretrained,
  getModelInfo,
  listModels,
  randn,
  type Tensor,
  TOKEN_PRESETS,
  tokenConfigSchema,
  type WorldModel,
} from "../../mod.ts";
import { type PointMassRun, trainPointMass } from "./synthetic.ts";
import { tempDir } from "../core/helpers.ts";

/** Trains `token:ci` with the family's step (see synthetic.ts). */
function train(seed: number, steps: number): Promise<PointMassRun> {
  return trainPointMass("token:ci", { seed, steps, batchSize: 16, learningRate: 3e-3 });
}

Deno.test("token: learns the point-mass task (300 steps: loss falls 3x, token accuracy > 0.5, imagined rewards track the true ones)", async () => {
  const { model, before, after, heldOut } = await train(1, 300);
  // measured (seed 1): loss 5.53 -> 1.49, recon 0.352 -> 0.027, token CE 3.70 -> 1.05,
  // accuracy 0.02 -> 0.66, reward 0.646 -> 0.139, continue 0.693 -> 0.191
  const factor = before.loss / after.loss;
  assert.ok(
    factor >= 3,
    `loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)} (x${factor.toFixed(2)})`,
  );
  assert.ok(after.recon_mse < before.recon_mse / 8, "tokenizer reconstruction");
  assert.ok(after.token_ce < before.token_ce / 2.5, "next-token cross-entropy");
  assert.ok(after.token_accuracy > 0.5, `token accuracy ${after.token_accuracy}`);
  assert.ok(after.reward_mse < before.reward_mse / 3, "reward");
  assert.ok(after.continue_bce < before.continue_bce / 2, "continue");

  // Observations survive the tokenizer: decode(encode(obs)) is close to obs.
  const obs0 = (heldOut.obs as Tensor).narrow(1, 0, 1).squeeze(1); // [64, 4]
  const s = model.encode(obs0);
  const recon = model.decode(s).predictions.obs;
  const reconMse = await recon.sub(obs0).square().mean().item();
  const obsVar = await obs0.sub(obs0.mean(0, true)).square().mean().item();
  assert.ok(reconMse < obsVar / 5, `decode(encode(obs)) mse ${reconMse} vs variance ${obsVar}`);

  // Imagination: rewards of a 3-step open-loop rollout (most likely tokens) track the true
  // rewards of the held-out sequences (an untrained model predicts 0 everywhere).
  const acts = heldOut.actions!.narrow(1, 0, 3).swapAxes(0, 1); // [3, B, 2]
  const trueR = heldOut.rewards!.narrow(1, 0, 3).swapAxes(0, 1); // [3, B]
  const traj = model.rollout(s, acts, { deterministic: true });
  const mse = await traj.rewards!.sub(trueR).square().mean().item();
  const zeroMse = await trueR.square().mean().item();
  assert.ok(mse < zeroMse / 2, `imagined reward mse ${mse} vs ${zeroMse} for predicting 0`);
  model.dispose();
});

Deno.test("token: training is deterministic per seed", async () => {
  const a = await train(2, 30);
  const b = await train(2, 30);
  assert.deepEqual(b.losses, a.losses);
  const sa = a.model.stateDict(), sb = b.model.stateDict();
  for (const k of Object.keys(sa)) {
    assert.deepEqual(Array.from(await sb[k].data()), Array.from(await sa[k].data()), k);
  }
  for (const m of [a.model, b.model]) m.dispose();
});

Deno.test("token: contract (windowed token states; transition samples tokens; decode to observations)", async () => {
  const m = await createWorldModel("token:ci", { obsShape: [5], actionDim: 3, seed: 2 });
  try {
    const c = m.ioContract();
    assert.deepEqual(Object.keys(c.stateSpec.tensors), [
      "tokens",
      "actions",
      "valid",
      "reward",
      "continue",
    ]);
    assert.deepEqual(Object.keys(c.predictionSpec.tensors), ["obs", "reward", "continue"]);
    assert.deepEqual(c.requiredBatchKeys, ["obs", "actions", "rewards", "terminations"]);
    assert.ok(m.supportsReward && m.supportsContinue && m.supports("obs_decoder"));
    assert.deepEqual(m.componentSlots(), ["rolloutExecutor"]);
    const s = m.encode(randn([2, 5], { seed: 1 }));
    assert.equal(s.get("tokens").dtype, "int32");
    assert.deepEqual(s.get("tokens").shape, [2, 4, 4]);
    assert.deepEqual(await s.get("valid").array(), [[0, 0, 0, 1], [0, 0, 0, 1]]);
    const n = m.transition(s, randn([2, 3]));
    assert.deepEqual(await n.get("valid").array(), [[0, 0, 1, 1], [0, 0, 1, 1]]);
    const toks = Array.from(await n.get("tokens").data() as Int32Array);
    assert.ok(toks.every((t) => t >= 0 && t < 32), "tokens index the codebook");
    // the action taken is stored with the step it was taken in; the newest has none yet
    const a = randn([2, 3], { seed: 4 });
    const acts = m.transition(s, a, { deterministic: true }).get("actions");
    assert.deepEqual(
      Array.from(await acts.narrow(1, 2, 1).reshape([2, 3]).data()),
      Array.from(await a.data()),
    );
    assert.deepEqual(Array.from(await acts.narrow(1, 3, 1).data()), [0, 0, 0, 0, 0, 0]);
    // deterministic transitions repeat; the window keeps `contextSteps` steps
    const d1 = await m.transition(s, a, { deterministic: true }).get("tokens").array();
    const d2 = await m.transition(s, a, { deterministic: true }).get("tokens").array();
    assert.deepEqual(d1, d2);
    const traj = m.rollout(s, randn([6, 2, 3]));
    assert.equal(traj.states.length, 7);
    assert.deepEqual(traj.rewards!.shape, [6, 2]);
    assert.deepEqual(await traj.finalState.get("valid").array(), [[1, 1, 1, 1], [1, 1, 1, 1]]);
    const p = m.decode(m.update(s, randn([2, 3]), randn([2, 5]))).predictions;
    assert.deepEqual(p.obs.shape, [2, 5]);
    assert.deepEqual(p.reward.shape, [2, 1]);
    const cont = Array.from(await p.continue.data());
    assert.ok(cont.every((x) => x > 0 && x < 1), "continue is a probability");
    assert.throws(() => m.transition(s, randn([2, 4])), ContractError);
    assert.throws(() => m.encode(randn([2, 4])), ContractError);
    assert.throws(
      () => m.loss({ obs: randn([2, 4, 5]), actions: randn([2, 4, 3]) }),
      ContractError,
    );
  } finally {
    m.dispose();
  }
});

Deno.test("token: save/load round trip is bit-identical", async () => {
  const m = await createWorldModel("token:ci", { obsShape: [4], actionDim: 2, seed: 3 });
  const outputs = async (model: WorldModel) => {
    const s = model.encode(randn([3, 4], { seed: 11 }));
    const dec = model.decode(s).predictions;
    const traj = model.rollout(s, randn([3, 3, 2], { seed: 12 }), { deterministic: true });
    const ts = [dec.obs, traj.rewards!, traj.continues!, traj.finalState.get("tokens")];
    const sd = model.stateDict();
    for (const k of Object.keys(sd).sort()) ts.push(sd[k]);
    return await Promise.all(ts.map(async (t) => Array.from(await t.data() as Float32Array)));
  };
  const dir = `${await tempDir()}/token`;
  await m.savePretrained(dir);
  const loaded = await fromPretrained(dir, { expectModelType: "token" });
  assert.deepEqual(await outputs(loaded), await outputs(m));
  assert.equal(await loaded.contractFingerprint(), await m.contractFingerprint());
  assert.deepEqual(loaded.config, m.config);
  for (const x of [m, loaded]) x.dispose();
});

Deno.test("token: presets are experimental, on the all surface only, with counted parameters", async () => {
  assert.ok(!(await listModels()).some((id) => id.startsWith("token:")));
  assert.ok(!(await listModels({ surface: "public" })).some((id) => id.startsWith("token:")));
  const all = await listModels({ surface: "all", maturity: "experimental", verbose: true });
  for (const preset of Object.keys(TOKEN_PRESETS)) {
    const info = all[`token:${preset}`];
    assert.ok(info, preset);
    assert.equal(info.maturity, "experimental");
    assert.equal(info.surface, "all");
    const model = await createWorldModel(`token:${preset}`);
    assert.equal(info.params, model.numParameters(), preset);
    model.dispose();
  }
  for (
    const cfg of [{ norm: "none", tokenizerDepth: 3 }, { actionType: "discrete", actionDim: 5 }, {
      obsShape: [7],
      layers: 3,
    }]
  ) {
    const model = await createWorldModel("token:ci", cfg);
    assert.equal(
      countTokenParameters(tokenConfigSchema.parse(model.config)),
      model.numParameters(),
    );
    model.dispose();
  }
  assert.equal((await getModelInfo("iris")).id, "token:small");
  assert.throws(() => tokenConfigSchema.parse({ embedDim: 30, heads: 4 }), /divisible/);
});
