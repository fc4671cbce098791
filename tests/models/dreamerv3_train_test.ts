/**
 * `dreamer:ci` learns synthetic sequence tasks (tests/models/dreamerv3_synthetic.ts: a driven,
 * damped pendulum with reward cos(theta)) on the cpu backend, with the official optimizer
 * (LaProp + AGC 0.3; a learning rate of 3e-3 without warmup for short runs instead of 4e-5 warmed
 * up over 1,000 updates):
 *
 * - vector observations (8-dim, a random linear map of (cos, sin, omega) plus noise): 200
 *   updates of 16 x 16 steps. Held-out reconstruction falls >= 20x, reward cross-entropy
 *   >= 3x, and the prior's cross-entropy of the posterior, H(post, prior) = KL + H(post), falls
 *   >= 1.4x (the KL terms themselves stay at the 1-nat free-bits floor by design). Open-loop
 *   imagination over 15 steps from a 16-step context, with the true actions, predicts the
 *   observations with < 0.6x the error of the best constant predictor (last observation or
 *   mean observation) and the rewards with < 0.8x the error of the constant (mean) reward.
 * - 16x16 images (a blob at the pendulum's tip, CNN encoder/decoder): 200 updates of 8 x 16
 *   steps. Reconstruction falls >= 10x, reward cross-entropy >= 2x; imagination over 15 steps
 *   predicts rewards with < 0.8x the constant predictor's error and frames better than the
 *   last frame repeated. The cpu reference backend runs the convolutions slowly, so the images
 *   are 16x16 and 1 channel.
 */

import assert from "node:assert/strict";
import {
  type Batch,
  createWorldModel,
  DreamerTrainer,
  type DreamerV3WorldModel,
  manualSeed,
  noGrad,
  stack,
  State,
  type Tensor,
  tidy,
} from "../../mod.ts";
import {
  type Episodes,
  pendulumEpisodes,
  prng,
  randomBatch,
  windowBatch,
} from "./dreamerv3_synthetic.ts";

async function evaluate(model: DreamerV3WorldModel, batch: Batch): Promise<Record<string, number>> {
  manualSeed(99);
  const out = tidy(() => model.loss(batch));
  const r: Record<string, number> = {};
  for (const [k, v] of Object.entries(out.metrics)) r[k] = await v.item();
  return r;
}

async function train(
  model: DreamerV3WorldModel,
  data: Episodes,
  steps: number,
  B: number,
  T: number,
): Promise<void> {
  const trainer = new DreamerTrainer(model, { optimizer: "laprop", lr: 3e-3, agc: 0.3, warmup: 0 });
  const r = prng(3);
  manualSeed(7);
  for (let i = 0; i < steps; i++) {
    const b = randomBatch(data, B, T, r);
    const m = trainer.compiledStep(b);
    if (i % 50 === 49) assert.ok(Number.isFinite(await m["wm/total"].item()), `step ${i}`);
    for (const t of Object.values(m)) t.dispose();
    for (const t of [b.obs, b.actions, b.rewards, b.terminations]) (t as Tensor).dispose();
  }
  trainer.dispose();
}

/** Imagines 15 steps (true actions) after a 16-step context; errors vs constant predictors. */
async function imagination(model: DreamerV3WorldModel, data: Episodes, n: number) {
  const ctxT = 16, H = 15;
  const starts: [number, number][] = Array.from(
    { length: n },
    (_, i) => [i % data.count, (i * 7) % (data.length - ctxT - H)],
  );
  const full = windowBatch(data, starts, ctxT + H);
  const obs = full.obs as Tensor, acts = full.actions!, rews = full.rewards!;
  const { pred, rewards } = noGrad(() => {
    manualSeed(5);
    const ctx = {
      obs: obs.narrow(1, 0, ctxT),
      actions: acts.narrow(1, 0, ctxT),
      rewards: rews.narrow(1, 0, ctxT),
      terminations: rews.narrow(1, 0, ctxT).mul(0),
    };
    const { post } = model.lossWithStates(ctx);
    const last = (t: Tensor) => t.reshape([n, ctxT, t.shape[1]]).narrow(1, ctxT - 1, 1).squeeze(1);
    const s = new State({ deter: last(post.deter), stoch: last(post.stoch) });
    // actions ctxT-1 .. ctxT+H-2 lead to observations ctxT .. ctxT+H-1
    const traj = model.rollout(s, acts.narrow(1, ctxT - 1, H).swapAxes(0, 1), {
      deterministic: true,
    });
    const frames = traj.states.slice(1).map((st) => model.decode(st).predictions.obs);
    return { pred: stack(frames, 1), rewards: traj.rewards! };
  });
  const truth = obs.narrow(1, ctxT, H);
  const per = (x: Tensor) => x.square().reshape([n, H, -1]).sum(-1); // [n, H]
  const err = async (x: Tensor) => await per(x).mean().item();
  const rTrue = rews.narrow(1, ctxT - 1, H).swapAxes(0, 1);
  return {
    model: await err(pred.sub(truth)),
    perStep: Array.from(await per(pred.sub(truth)).mean(0).data() as Float32Array),
    persistence: await err(truth.sub(obs.narrow(1, ctxT - 1, 1))),
    mean: await err(truth.sub(obs.mean([0, 1], true))),
    meanPerStep: Array.from(
      await per(truth.sub(obs.mean([0, 1], true))).mean(0).data() as Float32Array,
    ),
    reward: await rewards.sub(rTrue).square().mean().item(),
    rewardConst: await rTrue.sub(rTrue.mean()).square().mean().item(),
  };
}

Deno.test("dreamerv3 train: dreamer:ci learns a vector sequence task; imagination beats constant predictors", async () => {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [8],
    actionDim: 2,
    actorCritic: false,
    seed: 1,
  }) as DreamerV3WorldModel;
  const data = pendulumEpisodes(64, 64, 1);
  const test = pendulumEpisodes(16, 64, 2);
  const heldOut = randomBatch(test, 32, 32, prng(4));
  const before = await evaluate(model, heldOut);
  await train(model, data, 200, 16, 16);
  const after = await evaluate(model, heldOut);
  const fmt = (k: string) => `${k} ${before[k].toFixed(3)} -> ${after[k].toFixed(3)}`;
  assert.ok(after.rec <= before.rec / 20, fmt("rec"));
  assert.ok(after.rew <= before.rew / 3, fmt("rew"));
  const ce = (m: Record<string, number>) => m.kl + m.post_ent;
  assert.ok(ce(after) <= ce(before) / 1.4, `H(post, prior) ${ce(before)} -> ${ce(after)}`);
  assert.ok(after.dyn < 1.6 && after.rep < 1.6, `${fmt("dyn")}, ${fmt("rep")}`);
  const im = await imagination(model, test, 32);
  const best = Math.min(im.persistence, im.mean);
  assert.ok(im.model < 0.6 * best, `imagined obs error ${im.model} vs constant ${best}`);
  assert.ok(
    im.reward < 0.8 * im.rewardConst,
    `imagined reward error ${im.reward} vs ${im.rewardConst}`,
  );
  console.log(
    `vector: rec x${(before.rec / after.rec).toFixed(1)}, reward CE x${
      (before.rew / after.rew).toFixed(1)
    }, H(post,prior) x${(ce(before) / ce(after)).toFixed(2)}, kl ${after.kl.toFixed(2)}; ` +
      `imagination obs ${im.model.toFixed(3)} vs last ${im.persistence.toFixed(3)} / mean ${
        im.mean.toFixed(3)
      }, reward ${im.reward.toFixed(3)} vs ${im.rewardConst.toFixed(3)}`,
  );
  model.dispose();
});

Deno.test("dreamerv3 train: dreamer:ci learns 16x16 image observations (CNN encoder/decoder)", async () => {
  const shape = [1, 16, 16];
  const model = await createWorldModel("dreamer:ci", {
    obsShape: shape,
    actionDim: 2,
    cnnDepth: 4,
    actorCritic: false,
    seed: 1,
  }) as DreamerV3WorldModel;
  const data = pendulumEpisodes(48, 48, 1, { obsShape: shape, dt: 0.08 });
  const test = pendulumEpisodes(8, 48, 2, { obsShape: shape, dt: 0.08 });
  const heldOut = randomBatch(test, 16, 16, prng(4));
  const before = await evaluate(model, heldOut);
  await train(model, data, 200, 8, 16);
  const after = await evaluate(model, heldOut);
  const fmt = (k: string) => `${k} ${before[k].toFixed(3)} -> ${after[k].toFixed(3)}`;
  assert.ok(after.rec <= before.rec / 10, fmt("rec"));
  assert.ok(after.rew <= before.rew / 2, fmt("rew"));
  const im = await imagination(model, test, 16);
  // Better than a constant predictor, with a margin that does not hinge on the float summation
  // order of one backend (observed 0.55-0.75x across backends and kernel versions).
  assert.ok(
    im.reward < 0.85 * im.rewardConst,
    `imagined reward error ${im.reward} vs ${im.rewardConst}`,
  );
  assert.ok(
    im.model < im.persistence,
    `imagined frames ${im.model} vs last frame ${im.persistence}`,
  );
  console.log(
    `image: rec x${(before.rec / after.rec).toFixed(1)}, reward CE x${
      (before.rew / after.rew).toFixed(1)
    }; imagination frames ${im.model.toFixed(2)} vs last ${im.persistence.toFixed(2)} / mean ${
      im.mean.toFixed(2)
    } (per step ${im.perStep.map((x) => x.toFixed(1)).join(" ")}), reward ${
      im.reward.toFixed(3)
    } vs ${im.rewardConst.toFixed(3)}`,
  );
  model.dispose();
});
