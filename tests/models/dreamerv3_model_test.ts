/**
 * The DreamerV3 model behind the world-model contract (cpu backend): shapes and keys of every
 * call, discrete actions, dict observations, `isFirst` resets, save/load bit-identical, the
 * actor-critic update (return normalisation, slow critic) and the compiled update equal to the
 * uncompiled one.
 */

import assert from "node:assert/strict";
import {
  type Batch,
  createWorldModel,
  DreamerTrainer,
  dreamerV3TrainStep,
  type DreamerV3WorldModel,
  fromPretrained,
  manualSeed,
  ones,
  parseTrainingConfig,
  randn,
  readSafetensors,
  ReplayBuffer,
  type Tensor,
  tensor,
  train,
  zeros,
} from "../../mod.ts";
import { dreamerV3ConfigSchema, obsLayout } from "../../src/models/dreamerv3/config.ts";
import { webgpu } from "../util.ts";

async function arr(t: Tensor): Promise<number[]> {
  return Array.from(await t.data() as Float32Array, Number);
}

function batchOf(B: number, T: number, obs: number[], A: number, seed = 0): Batch {
  return {
    obs: randn([B, T, ...obs], { seed }),
    actions: randn([B, T, A], { seed: seed + 1 }).tanh(),
    rewards: randn([B, T], { seed: seed + 2 }),
    terminations: zeros([B, T]),
  };
}

async function model(opts: Record<string, unknown> = {}): Promise<DreamerV3WorldModel> {
  return await createWorldModel("dreamer:ci", {
    obsShape: [6],
    actionDim: 2,
    seed: 7,
    ...opts,
  }) as DreamerV3WorldModel;
}

Deno.test("dreamerv3 contract: states, predictions, rollouts and losses have the declared shapes", async () => {
  const m = await model();
  const c = m.config;
  const SK = c.stoch * c.classes;
  assert.equal(m.modelType, "dreamerv3");
  assert.ok(m.supportsReward && m.supportsContinue && m.supports("policy"));
  const contract = m.ioContract();
  assert.deepEqual(Object.keys(contract.stateSpec.tensors), ["deter", "stoch"]);
  assert.deepEqual(Object.keys(contract.predictionSpec.tensors), ["obs", "reward", "continue"]);
  assert.deepEqual(contract.requiredBatchKeys, ["obs", "actions", "rewards", "terminations"]);
  const s = m.encode(randn([3, 6]));
  assert.deepEqual([s.get("deter").shape, s.get("stoch").shape], [[3, c.deter], [3, SK]]);
  // stoch is one-hot per latent
  const z = await arr(s.get("stoch"));
  assert.equal(z.reduce((a, b) => a + b, 0), 3 * c.stoch);
  const s1 = m.transition(s, randn([3, 2]));
  const s2 = m.update(s1, randn([3, 2]), randn([3, 6]));
  const p = m.decode(s2).predictions;
  assert.deepEqual([p.obs.shape, p.reward.shape, p.continue.shape], [[3, 6], [3, 1], [3, 1]]);
  const traj = m.rollout(s, randn([5, 3, 2]));
  assert.equal(traj.horizon, 5);
  assert.deepEqual([traj.rewards!.shape, traj.continues!.shape], [[5, 3], [5, 3]]);
  // No actions: the policy imagines imagLength steps.
  const pol = m.rollout(s, null);
  assert.equal(pol.horizon, c.imagLength);
  assert.deepEqual(pol.actions.shape, [c.imagLength, 3, 2]);
  const init = m.initialState(4);
  assert.deepEqual(await arr(init.get("deter").sum()), [0]);
  const out = m.loss(batchOf(2, 5, [6], 2));
  assert.deepEqual(Object.keys(out.components), [
    "reconstruction",
    "reward",
    "continue",
    "dyn",
    "rep",
  ]);
  const sum = Object.values(out.components).reduce((a, b) => a.add(b));
  assert.ok(Math.abs((await out.loss.item()) - (await sum.item())) < 1e-4);
  // Free bits: the KL terms are at least 1 nat.
  assert.ok((await out.metrics.dyn.item()) >= 1 && (await out.metrics.rep.item()) >= 1);
  // A batch missing a key fails the contract.
  assert.throws(() => m.loss({ obs: randn([2, 5, 6]), actions: randn([2, 5, 2]) }), /rewards/);
  m.dispose();
});

Deno.test("dreamerv3 contract: discrete actions (indices or one-hot) and dict observations", async () => {
  const d = await model({ actionType: "discrete", actionDim: 4 });
  const s = d.encode(randn([2, 6]));
  const a = tensor(Int32Array.from([1, 3]), [2], { dtype: "int32" });
  const t1 = d.transition(s, { kind: "discrete", tensor: a }, { deterministic: true });
  const t2 = d.transition(s, tensor([[0, 1, 0, 0], [0, 0, 0, 1]]), { deterministic: true });
  assert.deepEqual(await arr(t1.get("deter")), await arr(t2.get("deter")));
  const pol = d.rollout(s, null);
  const acts = await arr(pol.actions);
  assert.ok(acts.every((v) => v === 0 || v === 1), "discrete policy actions are one-hot");
  const b: Batch = {
    obs: randn([2, 4, 6]),
    actions: tensor(Int32Array.from([0, 1, 2, 3, 3, 2, 1, 0]), [2, 4], { dtype: "int32" }),
    rewards: zeros([2, 4]),
    terminations: zeros([2, 4]),
  };
  assert.ok(Number.isFinite(await d.loss(b).loss.item()));
  d.dispose();

  const m = await createWorldModel("dreamer:ci", {
    observations: { image: [3, 16, 16], state: [5] },
    actionDim: 2,
  }) as DreamerV3WorldModel;
  const obs = { image: randn([2, 3, 3, 16, 16]).sigmoid(), state: randn([2, 3, 5]) };
  const out = m.loss({
    obs,
    actions: randn([2, 3, 2]),
    rewards: zeros([2, 3]),
    terminations: zeros([2, 3]),
  });
  assert.ok(Number.isFinite(await out.loss.item()));
  const st = m.encode({ image: randn([2, 3, 16, 16]), state: randn([2, 5]) });
  const p = m.decode(st).predictions;
  assert.deepEqual([p.image.shape, p.state.shape, p.reward.shape], [[2, 3, 16, 16], [2, 5], [
    2,
    1,
  ]]);
  m.dispose();
});

Deno.test("dreamerv3 image sizes: stride-2 stages down to minRes or an odd size <= 16, as the official bound", async () => {
  const layout = (shape: number[], over: Record<string, unknown> = {}) =>
    obsLayout(dreamerV3ConfigSchema.parse({ obsShape: shape, ...over }));
  const dims = (l: ReturnType<typeof layout>) => [l.stages, l.minH, l.minW];
  assert.deepEqual(dims(layout([3, 64, 64])), [4, 4, 4]);
  assert.deepEqual(dims(layout([4, 10, 10])), [1, 5, 5]); // MinAtar: 10 -> 5
  assert.deepEqual(dims(layout([3, 80, 80])), [4, 5, 5]);
  assert.deepEqual(dims(layout([3, 96, 96])), [5, 3, 3]);
  assert.deepEqual(dims(layout([3, 20, 20], { minRes: 10 })), [1, 10, 10]);
  assert.throws(() => layout([3, 84, 84]), /84x84 halves only down to 21x21/);
  assert.throws(() => layout([4, 5, 5]), /cannot go through a stride-2 conv stage \(odd size\)/);
  assert.throws(() => layout([4, 4, 4]), /not larger than minRes 4/);
  // A 10x10 grid encodes, decodes to its own size and gives a finite loss.
  const m = await createWorldModel("dreamer:ci", {
    obsShape: [4, 10, 10],
    actionDim: 3,
    actionType: "discrete",
    seed: 1,
  }) as DreamerV3WorldModel;
  const p = m.decode(m.encode(randn([2, 4, 10, 10]).sigmoid())).predictions;
  assert.deepEqual(p.obs.shape, [2, 4, 10, 10]);
  const out = m.loss({
    obs: randn([2, 3, 4, 10, 10]).sigmoid(),
    actions: tensor(Int32Array.from([0, 1, 2, 2, 1, 0]), [2, 3], { dtype: "int32" }),
    rewards: zeros([2, 3]),
    terminations: zeros([2, 3]),
  });
  assert.ok(Number.isFinite(await out.loss.item()));
  m.dispose();
});

Deno.test("dreamerv3 rssm: isFirst resets the state (steps before it do not matter)", async () => {
  const m = await model({ actorCritic: false });
  const b = batchOf(2, 6, [6], 2, 10);
  const first = zeros([2, 6]).add(tensor([[0, 0, 0, 1, 0, 0]]));
  const post = (bb: Batch) => {
    manualSeed(3);
    return arr(m.lossWithStates({ ...bb, extras: { isFirst: first } }).post.deter);
  };
  const a = await post(b);
  // Change everything before step 3: steps 3.. are unchanged.
  const keep = zeros([2, 6, 1]).add(tensor([0, 0, 0, 1, 1, 1]).reshape([1, 6, 1]));
  const noise = randn([2, 6, 6], { seed: 99 }).mul(keep.neg().add(1));
  const b2 = {
    ...b,
    obs: (b.obs as Tensor).add(noise),
    actions: b.actions!.mul(keep).add(keep.neg().add(1)),
  };
  const c = await post(b2);
  const D = m.config.deter;
  for (let i = 0; i < 2; i++) {
    for (let t = 0; t < 6; t++) {
      const x = a.slice((i * 6 + t) * D, (i * 6 + t + 1) * D);
      const y = c.slice((i * 6 + t) * D, (i * 6 + t + 1) * D);
      const same = x.every((v, j) => v === y[j]);
      // h_0 = core(0, 0, 0) never depends on the data; steps 1, 2 see the changed steps.
      assert.equal(same, t === 0 || t >= 3, `batch ${i} step ${t}`);
    }
  }
  m.dispose();
});

Deno.test("dreamerv3 save/load: the round trip is bit-identical (parameters, buffers, outputs)", async () => {
  const m = await model();
  // Train one full step so the slow critic and return statistics are not at their initial values.
  const trainer = new DreamerTrainer(m, { lr: 1e-3, acLr: 1e-3 });
  await trainer.step(batchOf(2, 4, [6], 2))["ac/value"].item();
  trainer.dispose();
  const dir = await Deno.makeTempDir({ prefix: "wf-dreamer-" });
  try {
    await m.savePretrained(`${dir}/m`);
    const loaded = await fromPretrained(`${dir}/m`) as DreamerV3WorldModel;
    assert.equal(loaded.modelType, "dreamerv3");
    const sa = m.stateDict(), sb = loaded.stateDict();
    assert.deepEqual(Object.keys(sb).sort(), Object.keys(sa).sort());
    assert.ok(Object.keys(sa).some((k) => k.startsWith("actorCritic.slowCritic.")));
    assert.ok("actorCritic.retnormLo" in sa);
    for (const k of Object.keys(sa)) {
      const x = new Uint8Array((await sa[k].data() as Float32Array).buffer);
      const y = new Uint8Array((await sb[k].data() as Float32Array).buffer);
      assert.deepEqual(y, x, k);
    }
    const file = await readSafetensors(`${dir}/m/model.safetensors`);
    assert.ok(Object.keys(file.tensors).includes("rssm.dyngru.hweight"));
    const o = randn([2, 6], { seed: 5 }), acts = randn([4, 2, 2], { seed: 6 });
    const outs = async (x: DreamerV3WorldModel) => {
      const s = x.encode(o, { deterministic: true });
      const t = x.rollout(s, acts, { deterministic: true });
      return [...await arr(t.rewards!), ...await arr(t.finalState.get("deter"))];
    };
    assert.deepEqual(await outs(loaded), await outs(m));
    loaded.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    m.dispose();
  }
});

Deno.test("dreamerv3 actor-critic: one update moves the return range and the slow critic", async () => {
  const m = await model();
  const ac = m.actorCritic!;
  const trainer = new DreamerTrainer(m, { lr: 3e-3, acLr: 3e-3 });
  const b = { ...batchOf(4, 6, [6], 2, 20), rewards: ones([4, 6]).mul(5) };
  const slow0 = await arr(ac.slowCritic.out.weight);
  for (let i = 0; i < 3; i++) {
    const met = trainer.step(b);
    for (const k of ["ac/policy", "ac/value", "ac/entropy", "wm/total"]) {
      assert.ok(Number.isFinite(await met[k].item()), k);
    }
  }
  const slow1 = await arr(ac.slowCritic.out.weight);
  const crit = await arr(ac.critic.out.weight);
  assert.ok(slow1.some((v, i) => v !== slow0[i]), "the slow critic follows the critic");
  assert.ok(slow1.some((v, i) => v !== crit[i]), "...slowly");
  // The return percentiles (EMA from 0) move towards the imagined returns.
  const hi = await ac.returnRange.hi.item();
  assert.ok(hi !== 0, `return percentile ${hi}`);
  trainer.dispose();
  m.dispose();
});

Deno.test("dreamerv3 trainer: the compiled update equals the uncompiled one", async () => {
  const runs: number[][] = [];
  for (const compiled of [false, true]) {
    const m = await model({ seed: 11 });
    const trainer = new DreamerTrainer(m, { lr: 1e-3, acLr: 1e-3 });
    manualSeed(42);
    const vals: number[] = [];
    for (let i = 0; i < 3; i++) {
      const b = batchOf(3, 5, [6], 2, 100 + i);
      const met = compiled ? trainer.compiledStep(b) : trainer.step(b);
      vals.push(await met["wm/total"].item(), await met["ac/value"].item());
    }
    vals.push(...await arr(m.rssm.dyngru.hweight.sum().reshape([1])));
    runs.push(vals);
    trainer.dispose();
    m.dispose();
  }
  for (let i = 0; i < runs[0].length; i++) {
    assert.ok(
      Math.abs(runs[0][i] - runs[1][i]) <= 1e-5 * (1 + Math.abs(runs[0][i])),
      `${i}: ${runs[0][i]} vs ${runs[1][i]}`,
    );
  }
});

Deno.test("dreamerv3 trainer: the Trainer runs the family's full update (its spec's trainStep)", async () => {
  const m = await model();
  const buf = new ReplayBuffer({ capacity: 1000, obsShape: [6], actionDim: 2, seed: 0 });
  for (let e = 0; e < 4; e++) {
    buf.addEpisode({
      obs: Float32Array.from({ length: 20 * 6 }, (_, i) => Math.sin(i * 0.1 + e)),
      actions: Float32Array.from({ length: 20 * 2 }, (_, i) => Math.cos(i * 0.3 + e)),
      rewards: Float32Array.from({ length: 20 }, (_, i) => Math.sin(i * 0.2)),
      dones: Array.from({ length: 20 }, (_, t) => t === 19),
    });
  }
  const step = dreamerV3TrainStep(m, parseTrainingConfig({ batchSize: 4, sequenceLength: 8 }));
  assert.deepEqual(Object.keys(step.optimizers), ["model", "actorCritic"]);
  step.dispose();
  const before = await arr(m.rssm.dyngru.hweight);
  const critic0 = await arr(m.actorCritic!.critic.out.weight);
  const dir = await Deno.makeTempDir({ prefix: "wf-dreamer-train-" });
  try {
    await train(m, buf, {
      totalSteps: 3,
      batchSize: 4,
      sequenceLength: 8,
      outputDir: dir,
      defaultCallbacks: false,
    });
    const after = await arr(m.rssm.dyngru.hweight);
    assert.ok(after.some((v, i) => v !== before[i]), "the world model was updated");
    const critic1 = await arr(m.actorCritic!.critic.out.weight);
    assert.ok(critic1.some((v, i) => v !== critic0[i]), "the critic was updated");
  } finally {
    await Deno.remove(dir, { recursive: true });
    m.dispose();
  }
});

const GPU = await webgpu();

Deno.test({
  name: "dreamerv3 webgpu: two full updates (world model + actor-critic) match the cpu",
  ignore: !GPU,
  async fn() {
    const vals: number[][] = [];
    for (const device of ["cpu", "webgpu"] as const) {
      const m = await model({ seed: 3, device });
      const b: Batch = {
        obs: randn([4, 8, 6], { seed: 1, device }),
        actions: randn([4, 8, 2], { seed: 2, device }),
        rewards: randn([4, 8], { seed: 3, device }),
        terminations: zeros([4, 8], { device }),
      };
      manualSeed(5);
      const trainer = new DreamerTrainer(m, { lr: 1e-3, acLr: 1e-3 });
      const out: number[] = [];
      for (let i = 0; i < 2; i++) {
        const met = trainer.step(b);
        for (const k of ["wm/total", "wm/rec", "wm/kl", "ac/value", "ac/entropy"]) {
          out.push(await met[k].item());
        }
      }
      vals.push(out);
      trainer.dispose();
      m.dispose();
    }
    for (let i = 0; i < vals[0].length; i++) {
      assert.ok(
        Math.abs(vals[0][i] - vals[1][i]) <= 1e-4 * (1 + Math.abs(vals[0][i])),
        `${i}: cpu ${vals[0][i]} vs webgpu ${vals[1][i]}`,
      );
    }
  },
});
