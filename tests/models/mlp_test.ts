import assert from "node:assert/strict";
import {
  Adam,
  type Batch,
  countMLPParameters,
  createWorldModel,
  manualSeed,
  mlpConfigSchema,
  randn,
  tensor,
  tidy,
  type WorldModel,
} from "../../mod.ts";
import { keep } from "../../tensor.ts";
import { pointMassBatch } from "./synthetic.ts";

/** Held-out loss and its parts (one evaluation, with a fixed sampling seed). */
async function evaluate(model: WorldModel, batch: Batch): Promise<Record<string, number>> {
  manualSeed(123);
  const out = tidy(() => model.loss(batch));
  const r: Record<string, number> = { loss: await out.loss.item() };
  for (const [k, t] of Object.entries(out.metrics)) r[k] = await t.item();
  return r;
}

/** Trains on 16 fixed batches of 32 sequences x 8 steps with Adam; returns losses before/after. */
async function train(discrete: boolean, steps: number) {
  const model = await createWorldModel("mlp:ci", {
    obsShape: [4],
    actionDim: discrete ? 4 : 2,
    actionType: discrete ? "discrete" : "continuous",
    hiddenDim: 64,
    latentDim: 8,
    seed: 1,
  });
  const data = Array.from({ length: 16 }, (_, i) => pointMassBatch(32, 8, 100 + i, { discrete }));
  for (const b of data) for (const t of Object.values(b)) keep(t);
  const heldOut = pointMassBatch(64, 8, 999, { discrete });
  const before = await evaluate(model, heldOut);
  const opt = new Adam(model.parameters(), { lr: 3e-3 });
  manualSeed(7);
  for (let i = 0; i < steps; i++) {
    const loss = tidy(() => {
      const out = model.loss(data[i % data.length]);
      out.loss.backward();
      opt.step();
      opt.zeroGrad();
      return out.loss;
    });
    if (i % 50 === 0) assert.ok(Number.isFinite(await loss.item()), `step ${i}`);
    loss.dispose();
  }
  const after = await evaluate(model, heldOut);
  opt.dispose();
  return { model, before, after, heldOut };
}

Deno.test("mlp: trains on a synthetic sequence task (held-out loss falls 4x in 400 Adam steps)", async () => {
  const { model, before, after, heldOut } = await train(false, 400);
  const factor = before.loss / after.loss;
  assert.ok(
    factor >= 4,
    `loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)} (x${factor.toFixed(2)})`,
  );
  assert.ok(after.recon_mse < before.recon_mse / 4, "reconstruction");
  assert.ok(after.reward_mse < before.reward_mse / 2, "reward");
  assert.ok(after.continue_bce < before.continue_bce / 2, "continue");
  assert.ok(after.consistency_mse < before.consistency_mse / 4, "latent consistency");

  // Imagination: rewards of a 3-step open-loop rollout from the first observation track the
  // true rewards of the held-out sequences (an untrained model predicts 0 everywhere).
  const obs0 = (heldOut.obs as ReturnType<typeof tensor>).narrow(1, 0, 1).squeeze(1);
  const acts = heldOut.actions!.narrow(1, 0, 3).swapAxes(0, 1); // [3, B, 2]
  const trueR = heldOut.rewards!.narrow(1, 0, 3).swapAxes(0, 1); // [3, B]
  const terms = await heldOut.terminations!.narrow(1, 0, 2).sum().item();
  const s = model.encode(obs0, { deterministic: true });
  const traj = model.rollout(s, acts);
  const mse = await traj.rewards!.sub(trueR).square().mean().item();
  const zeroMse = await trueR.square().mean().item();
  assert.ok(
    mse < zeroMse / 2,
    `rollout reward mse ${mse} vs ${zeroMse} (episodes ending early: ${terms})`,
  );
  // actions matter after training
  const other = model.rollout(s, acts.neg());
  assert.ok(
    (await traj.finalState.get("latent").sub(other.finalState.get("latent")).abs().max().item()) >
      1e-3,
  );
  model.dispose();
});

Deno.test("mlp: trains with discrete actions (held-out loss falls 3x in 250 steps)", async () => {
  const { model, before, after } = await train(true, 250);
  const factor = before.loss / after.loss;
  assert.ok(
    factor >= 3,
    `loss ${before.loss.toFixed(3)} -> ${after.loss.toFixed(3)} (x${factor.toFixed(2)})`,
  );
  model.dispose();
});

Deno.test("mlp: masked steps do not affect the loss", async () => {
  const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
  const base = pointMassBatch(2, 5, 1);
  const mask = tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]);
  const garbage = (fill: number): Batch => {
    const pad = tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]);
    const keepMask = pad.neg().add(1);
    return {
      obs: (base.obs as ReturnType<typeof tensor>).mul(keepMask.unsqueeze(-1)).add(
        pad.unsqueeze(-1).mul(fill),
      ),
      actions: base.actions!.mul(keepMask.unsqueeze(-1)).add(pad.unsqueeze(-1).mul(fill)),
      rewards: base.rewards!.mul(keepMask).add(pad.mul(fill)),
      terminations: base.terminations!.mul(keepMask),
      mask,
    };
  };
  const a = await evaluate(model, garbage(0));
  const b = await evaluate(model, garbage(100));
  for (const k of Object.keys(a)) {
    assert.ok(
      Math.abs(a[k] - b[k]) <= 1e-5 * Math.max(1, Math.abs(a[k])),
      `${k}: ${a[k]} vs ${b[k]}`,
    );
  }
  model.dispose();
});

Deno.test("mlp: contract, components and parameter names", async () => {
  const model = await createWorldModel("mlp:small", { obsShape: [6], actionDim: 3 });
  const c = model.ioContract();
  assert.deepEqual(c.observationSpec.modalities.obs.shape, [6]);
  assert.deepEqual(c.actionSpec, { kind: "continuous", dim: 3, discrete: false, numActions: null });
  assert.deepEqual(Object.keys(c.predictionSpec.tensors), ["obs", "reward", "continue"]);
  assert.deepEqual(c.requiredStateKeys, ["latent"]);
  assert.deepEqual(c.requiredBatchKeys, ["obs", "actions", "rewards", "terminations"]);
  assert.ok(model.supportsReward && model.supportsContinue && model.supports("planning"));
  assert.deepEqual(model.componentSlots(), [
    "observationEncoder",
    "actionConditioner",
    "dynamicsModel",
    "decoder",
    "rolloutExecutor",
  ]);
  assert.equal(model.numParameters(), countMLPParameters(mlpConfigSchema.parse(model.config)));
  const names = Object.keys(model.stateDict());
  assert.ok(
    names.every((n) =>
      /^(observationEncoder|dynamicsModel|decoder)\.[a-z]+\.\d+\.(weight|bias)$/.test(n)
    ),
    names.join(),
  );
  const s0 = model.initialState(2);
  assert.deepEqual(s0.keys(), ["latent", "mean", "std"]);
  assert.deepEqual(model.decode(s0).predictions.continue.shape, [2, 1]);
  // continue predictions are probabilities
  const p = await model.decode(model.encode(randn([5, 6]))).predictions.continue.data();
  assert.ok(Array.from(p).every((x) => x > 0 && x < 1));
  model.dispose();
});
