/**
 * DreamerV3's losses piece by piece against values worked out by hand from the official
 * formulas (danijar/dreamerv3 `agent.py` `imag_loss`, `repl_loss`, `lambda_return`;
 * `embodied/jax/utils.py` `Normalize`; `outs.py` `Categorical`, `Normal`): lambda-returns with
 * continues and episode ends, percentiles, return normalisation, advantages, the actor loss for
 * discrete and continuous policies, the critic's two-hot loss with the slow-critic regulariser,
 * the replay value loss's targets across an episode boundary, the RSSM's successor states at
 * episode ends, the learning-rate warmup, and the controller feeding the RSSM the action it
 * executes. All on the cpu device.
 */

import assert from "node:assert/strict";
import {
  createWorldModel,
  DreamerTrainer,
  dreamerV3Controller,
  type DreamerV3WorldModel,
  manualSeed,
  noGrad,
  randn,
  type Tensor,
  tensor,
  zeros,
} from "../../mod.ts";
import {
  binaryLoss,
  imaginationLoss,
  lambdaReturns,
  percentiles,
  replayReturns,
  twohot,
} from "../../src/models/dreamerv3/mod.ts";

async function arr(t: Tensor): Promise<number[]> {
  return Array.from(await t.data() as Float32Array, Number);
}

function close(a: readonly number[], b: readonly number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    assert.ok(e <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

async function ciModel(
  extra: Record<string, unknown> = {},
): Promise<DreamerV3WorldModel> {
  return await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed: 3,
    ...extra,
  }) as DreamerV3WorldModel;
}

Deno.test("dreamerv3 lambda-returns: hand-worked values with continues, discount and episode ends", async () => {
  // Time-major [3, 1]: rew = (-, 1, 2), con = (-, 1, 0.5), val = (v0, 10, 20); disc 0.9, lam 0.5.
  // ret_1 = 2 + 0.9 * 0.5 * (0.5 * 20 + 0.5 * 20) = 11
  // ret_0 = 1 + 0.9 * 1 * (0.5 * 10 + 0.5 * 11) = 10.45
  const rew = tensor([[0], [1], [2]]), con = tensor([[1], [1], [0.5]]);
  const val = tensor([[7], [10], [20]]);
  close(await arr(lambdaReturns(rew, con, val, 0.9, 0.5)), [10.45, 11], 1e-6, "returns");
  // An episode end at entry 1 (last = 1): ret_0 bootstraps on val_1 alone: 1 + 0.9 * 10 = 10.
  const last = tensor([[0], [1], [0]]);
  close(await arr(lambdaReturns(rew, con, val, 0.9, 0.5, last)), [10, 11], 1e-6, "with last");
  // The official discount 1 - 1/333 and lambda 0.95 on a constant reward of 1 with con 1 and a
  // value of 0 everywhere: ret_1 = 1, ret_0 = 1 + g * (0.95 * 1) with g = 332/333.
  const g = 1 - 1 / 333;
  const ones = tensor([[1], [1], [1]]), zero = tensor([[0], [0], [0]]);
  close(await arr(lambdaReturns(ones, ones, zero, g, 0.95)), [1 + g * 0.95, 1], 1e-6, "official");
});

Deno.test("dreamerv3 percentiles: linear interpolation as jnp.percentile, with a mask", async () => {
  // Sorted [1, 1, 2, 3, 4, 5, 6, 9]: q5 at position 0.35 -> 1; q95 at 6.65 -> 6 + 0.65 * 3.
  const x = tensor([3, 1, 4, 1, 5, 9, 2, 6]);
  const [p5, p95] = percentiles(x, [5, 95]);
  close([await p5.item(), await p95.item()], [1, 7.95], 1e-6, "percentiles");
  // Masking out the 9: [1, 1, 2, 3, 4, 5, 6], q95 at 5.7 -> 5.7; q5 at 0.3 -> 1.
  const [m5, m95] = percentiles(x, [5, 95], tensor([1, 1, 1, 1, 1, 0, 1, 1]));
  close([await m5.item(), await m95.item()], [1, 5.7], 1e-6, "masked percentiles");
});

Deno.test("dreamerv3 imagination loss: weights, returns, normalisation, advantages, actor and critic losses by hand", async () => {
  const model = await ciModel();
  const c = model.config;
  const bins = model.bins;
  const disc = 1 - 1 / 333;
  // H = 2 imagined steps from N = 2 starts.
  const rewH = [[0, 0], [1, 2], [1, 0]]; // [H + 1, N]
  const conH = [[1, 0.9], [0.8, 0.5], [1, 1]];
  const valH = [[5, 1], [6, 2], [7, 3]];
  const slowH = [4, 0.5, 5, 1]; // [H * N], t-major
  const logpiH = [-0.5, -0.7, -0.2, -1.0];
  const entH = [0.6, 0.5, 0.4, 0.3];
  const logitsH = Array.from(
    { length: 4 },
    (_, r) => [...Array(255)].map((_, k) => Math.cos(k * (r + 1) * 0.1)),
  );
  // Hand computation (float64): the official formulas.
  const lam = 0.95;
  const ret = [[0, 0], [0, 0]];
  for (let n = 0; n < 2; n++) {
    let r = valH[2][n];
    for (let t = 1; t >= 0; t--) {
      r = rewH[t + 1][n] + disc * conH[t + 1][n] * ((1 - lam) * valH[t + 1][n] + lam * r);
      ret[t][n] = r;
    }
  }
  // n = 0: ret_1 = 1 + g * 1 * 7 (= 7.97898), ret_0 = 1 + g * 0.8 * (0.05 * 6 + 0.95 * ret_1).
  close([ret[1][0]], [1 + disc * 7], 1e-12, "hand ret_1");
  const weight = [[1, 0.9], [1 * disc * 0.8, 0.9 * disc * 0.5]]; // prod_{i<=t}(disc con_i)/disc
  const flat = [ret[0][0], ret[0][1], ret[1][0], ret[1][1]].sort((a, b) => a - b);
  const perc = (q: number) => {
    const pos = (q / 100) * 3, lo = Math.floor(pos), f = pos - lo;
    return flat[lo] + (flat[Math.min(lo + 1, 3)] - flat[lo]) * f;
  };
  const lo0 = -5, hi0 = 95; // EMA state before the update
  const lo = 0.99 * lo0 + 0.01 * perc(5), hi = 0.99 * hi0 + 0.01 * perc(95);
  const scale = Math.max(1, hi - lo);
  const adv = [0, 1].map((t) => [0, 1].map((n) => (ret[t][n] - valH[t][n]) / scale));
  const wF = [weight[0][0], weight[0][1], weight[1][0], weight[1][1]];
  const advF = [adv[0][0], adv[0][1], adv[1][0], adv[1][1]];
  const policyWant = -wF.reduce((s, w, i) => s + w * (logpiH[i] * advF[i] + 3e-4 * entH[i]), 0) / 4;
  const ce = async (logits: number[], target: number) => {
    const tt = await arr(twohot(tensor([target]), bins));
    const lse = Math.log(logits.reduce((s, v) => s + Math.exp(v), 0));
    return -tt.reduce((s, p, k) => s + p * (logits[k] - lse), 0);
  };
  const retF = [ret[0][0], ret[0][1], ret[1][0], ret[1][1]];
  let valueWant = 0;
  for (let i = 0; i < 4; i++) {
    valueWant += wF[i] * ((await ce(logitsH[i], retF[i])) + (await ce(logitsH[i], slowH[i])));
  }
  valueWant /= 4;

  const logpi = tensor(logpiH).setRequiresGrad();
  const ent = tensor(entH).setRequiresGrad();
  const logits = tensor(logitsH).setRequiresGrad();
  const l = imaginationLoss({
    rew: tensor(rewH),
    con: tensor(conH),
    val: tensor(valH),
    slowVal: tensor(slowH),
    logpi,
    entropy: ent,
    criticLogits: logits,
    bins,
    mask: null,
    retLo: tensor([lo0]),
    retHi: tensor([hi0]),
  }, c);
  close(await arr(l.ret), retF, 1e-5, "returns");
  close(await arr(l.weight), wF, 1e-6, "weights");
  close([await l.retLo.item(), await l.retHi.item()], [lo, hi], 1e-6, "percentile EMAs");
  close(await arr(l.adv), advF, 1e-5, "advantages");
  close([await l.policy.item()], [policyWant], 1e-5, "policy loss");
  close([await l.value.item()], [valueWant], 1e-5, "value loss");
  l.policy.add(l.value).backward();
  // REINFORCE: d policy / d logpi_i = -w_i adv_i / (H N); the entropy bonus -w_i 3e-4 / (H N).
  close(await arr(logpi.grad!), wF.map((w, i) => -w * advF[i] / 4), 1e-5, "d logpi");
  close(await arr(ent.grad!), wF.map((w) => -w * 3e-4 / 4), 1e-5, "d entropy");
  // With the EMAs at 0 (the first update) the scale is the limit 1: adv = ret - val.
  const first = imaginationLoss({
    rew: tensor(rewH),
    con: tensor(conH),
    val: tensor(valH),
    slowVal: tensor(slowH),
    logpi: tensor(logpiH),
    entropy: tensor(entH),
    criticLogits: tensor(logitsH),
    bins,
    mask: tensor([1, 0]), // the second start is padding: no weight, no percentile
    retLo: zeros([1]),
    retHi: zeros([1]),
  }, c);
  close(
    await arr(first.adv),
    [0, 1].flatMap((t) => [0, 1].map((n) => ret[t][n] - valH[t][n])),
    1e-5,
    "adv, scale 1",
  );
  close(await arr(first.weight), [1, 0, weight[1][0], 0], 1e-6, "masked weights");
  const kept = [ret[0][0], ret[1][0]].sort((a, b) => a - b);
  close(
    [await first.retHi.item()],
    [0.01 * (kept[0] + 0.95 * (kept[1] - kept[0]))],
    1e-6,
    "masked P95",
  );
  model.dispose();
});

Deno.test("dreamerv3 actor: discrete (categorical, no unimix) and continuous (bounded normal) log-probabilities and entropies by hand", async () => {
  const model = await ciModel();
  const actor = model.actorCritic!.actor;
  // A zero weight makes the logits the bias: [0, ln 3] -> p = [0.25, 0.75].
  noGrad(() => {
    actor.mean.weight.assign(zeros(actor.mean.weight.shape));
    actor.mean.bias!.assign(tensor([0, Math.log(3)]));
  });
  const feat = randn([3, 64 + 16]);
  const d = actor.dist(feat);
  close(
    await arr(d.logp(tensor([[0, 1], [1, 0], [0, 1]]))),
    [Math.log(0.75), Math.log(0.25), Math.log(0.75)],
    1e-6,
    "logp",
  );
  const h = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)); // 0.5623
  close(await arr(d.entropy()), [h, h, h], 1e-6, "entropy");
  close(await arr(d.mode()), [0, 1, 0, 1, 0, 1], 0, "mode");
  model.dispose();

  const cont = await ciModel({ actionType: "continuous" });
  const a = cont.actorCritic!.actor;
  // mean = tanh(0) = 0; std = (1 - 0.1) * sigmoid(-2 + 2) + 0.1 = 0.55 in both dimensions.
  noGrad(() => {
    a.mean.weight.assign(zeros(a.mean.weight.shape));
    a.mean.bias!.assign(zeros([2]));
    a.std!.weight.assign(zeros(a.std!.weight.shape));
    a.std!.bias!.assign(tensor([-2, -2]));
  });
  const dc = a.dist(randn([2, 64 + 16]));
  const half = 0.5 * Math.log(2 * Math.PI);
  // logp(a) = sum_i -0.5 ((a_i - 0) / 0.55)^2 - log 0.55 - 0.5 log 2 pi.
  const lp = (x: number) => -0.5 * (x / 0.55) ** 2 - Math.log(0.55) - half;
  close(
    await arr(dc.logp(tensor([[0.55, 0], [-1.1, 0.3]]))),
    [lp(0.55) + lp(0), lp(-1.1) + lp(0.3)],
    1e-5,
    "normal logp",
  );
  const hN = 2 * (Math.log(0.55) + half + 0.5);
  close(await arr(dc.entropy()), [hN, hN], 1e-6, "normal entropy");
  cont.dispose();
});

Deno.test("dreamerv3 replay value loss: targets across an episode end, a terminal step, a time limit and padding by hand", async () => {
  const disc = 0.9, lam = 0.5;
  const row = (xs: number[]) => tensor([xs]);
  const base = {
    rewards: row([1, 2, 3, 4, 5]),
    boot: row([10, 20, 30, 40, 50]), // imagined return from each posterior state
    succValue: row([100, 200, 300, 400, 500]), // critic at the state each action leads to
  };
  // Row 2 starts a new episode; row 1's action ended the previous one, terminally.
  // ret_3 = 4 + 0.9 (0.5 * 50 + 0.5 * 50) = 49; ret_2 = 3 + 0.9 (0.5 * 40 + 0.5 * 49) = 43.05;
  // ret_1 = 2 (terminal); ret_0 = 1 + 0.9 (0.5 * 20 + 0.5 * 2) = 10.9.
  const term = await arr(replayReturns(
    {
      ...base,
      terminations: row([0, 1, 0, 0, 0]),
      isFirst: row([0, 0, 1, 0, 0]),
      mask: null,
    },
    disc,
    lam,
  ));
  close(term, [10.9, 2, 43.05, 49], 1e-6, "terminal end");
  // The same end by a time limit: row 1 bootstraps on the critic at its successor (200).
  // ret_1 = 2 + 0.9 * 200 = 182; ret_0 = 1 + 0.9 (0.5 * 20 + 0.5 * 182) = 91.9.
  const trunc = await arr(replayReturns(
    {
      ...base,
      terminations: row([0, 0, 0, 0, 0]),
      isFirst: row([0, 0, 1, 0, 0]),
      mask: null,
    },
    disc,
    lam,
  ));
  close(trunc, [91.9, 182, 43.05, 49], 1e-6, "time limit");
  // Padding after row 2: row 2 bootstraps on its successor's value (300).
  // ret_2 = 3 + 0.9 * 300 = 273; ret_1 = 2 + 0.9 (0.5 * 30 + 0.5 * 273) = 138.35;
  // ret_0 = 1 + 0.9 (0.5 * 20 + 0.5 * 138.35) = 72.2575.
  const padded = await arr(replayReturns(
    {
      ...base,
      terminations: row([0, 0, 0, 0, 0]),
      isFirst: null,
      mask: row([1, 1, 1, 0, 0]),
    },
    disc,
    lam,
  ));
  close(padded.slice(0, 3), [72.2575, 138.35, 273], 1e-6, "padding");
});

Deno.test("dreamerv3 world model: every action is judged from the state it leads to (core step + prior sample), the RSSM resets at isFirst", async () => {
  manualSeed(5);
  const model = await ciModel();
  const B = 2, T = 6;
  const obs = randn([B, T, 4]);
  const idx = [[0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1]];
  const actions = tensor(idx.flat().flatMap((i) => (i ? [0, 1] : [1, 0])), [B, T, 2]);
  // Sequence 0: an episode ends terminally with row 2 (row 3 starts the next one); sequence 1:
  // an episode ends by a time limit with row 3.
  const terminations = tensor([[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]]);
  const isFirst = tensor([[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0]]);
  const batch = { obs, actions, rewards: randn([B, T]), terminations, extras: { isFirst } };
  const embed = model.encoder.forward({ obs: obs.reshape([B * T, 4]) }).reshape([B, T, -1]);
  const r = model.rssm.observe(embed, actions, isFirst);
  const D = model.config.deter;
  const at = (x: Tensor, b: number, t: number) =>
    x.narrow(0, b, 1).narrow(1, t, 1).reshape([1, -1]);
  // succDeter[t] = core(h_t, z_t, a_t), never reset; it is h_{t+1} unless t+1 starts an episode.
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const core = model.rssm.core(
        at(r.deter, b, t),
        at(r.stoch, b, t),
        model.rssm.actionPart(model.rssm.actionEmbed(at(actions, b, t))),
      );
      close(await arr(at(r.succDeter, b, t)), await arr(core), 1e-5, `succ ${b},${t}`);
    }
  }
  // Where isFirst, h is the core on the zero state and a zero action (h0), whatever came before.
  const zero = model.rssm.initial(1);
  const h0 = model.rssm.core(
    zero.deter,
    zero.stoch,
    model.rssm.actionPart(model.rssm.actionEmbed(zeros([1, 2]))),
  );
  close(await arr(at(r.deter, 0, 3)), await arr(h0), 1e-6, "reset at isFirst");
  close(await arr(at(r.deter, 1, 4)), await arr(h0), 1e-6, "reset at isFirst");
  close(await arr(at(r.deter, 0, 2)), await arr(at(r.succDeter, 0, 1)), 1e-6, "continued h");

  // The loss judges every action from the state it leads to as imagination would: the core
  // step (the next step's h where the episode goes on) and a prior sample, never the next
  // posterior (terminations, which have no next observation, would be the only prior rows).
  const res = model.lossWithStates(batch);
  const F = res.feat.shape[2];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const s = await arr(at(res.succ, b, t));
      const want = await arr(model.rssm.core(
        at(res.feat, b, t).narrow(1, 0, D),
        at(res.feat, b, t).narrow(1, D, F - D),
        model.rssm.actionPart(model.rssm.actionEmbed(at(actions, b, t))),
      ));
      close(s.slice(0, D), want, 1e-5, `successor h ${b},${t}`);
      const z = s.slice(D);
      for (let k = 0; k < z.length; k += model.config.classes) {
        const one = z.slice(k, k + model.config.classes);
        assert.deepEqual([...one].sort(), [...Array(one.length - 1).fill(0), 1], "one-hot z");
      }
    }
  }
  // Its z is a sample of the prior at that h: the draws after the posterior's, replayed.
  const { Generator } = await import("../../mod.ts");
  model.sampleGenerator = new Generator(21);
  const again = model.lossWithStates(batch).succ.reshape([B * T, F]);
  model.sampleGenerator = undefined;
  const g = new Generator(21);
  model.rssm.gumbel([B, T], g); // the posterior samples' noise
  const zWant = model.rssm.sample(
    model.rssm.priorLogits(again.narrow(1, 0, D)),
    model.rssm.gumbel([B * T], g),
  );
  close(await arr(again.narrow(1, D, F - D)), await arr(zWant), 0, "prior samples");
  // The continue loss is the mean over all B * T actions of BCE(logit(succ_t), 1 - term_t): the
  // terminal action inside sequence 0 counts like any other.
  const logit = model.cont.logit(res.succ.reshape([B * T, F]));
  const want = await binaryLoss(logit, terminations.reshape([B * T]).neg().add(1)).mean().item();
  close([await res.out.metrics.con.item()], [want], 1e-6, "continue loss");
  model.dispose();
});

Deno.test("dreamerv3 trainer: learning rates warm up linearly over 1000 updates (official opt.warmup)", async () => {
  const model = await ciModel({ lr: 1e-3, acLr: 2e-3 });
  const trainer = new DreamerTrainer(model);
  assert.equal(model.config.warmup, 1000);
  close([trainer.wmOpt.lr, trainer.acOpt!.lr], [1e-3 / 1000, 2e-3 / 1000], 1e-9, "first step");
  trainer.dispose();
  const flat = new DreamerTrainer(model, { warmup: 0 });
  close([flat.wmOpt.lr], [1e-3], 0, "no warmup");
  flat.dispose();
  model.dispose();
});

Deno.test("dreamerv3 controller: the RSSM is fed the action the environment executes", async () => {
  const model = await ciModel();
  const space = { kind: "discrete", n: 2 } as const;
  const c = dreamerV3Controller(model);
  const info = { explore: false, envStep: 0, episodeStep: 0, actionSpace: space };
  const o1 = new Float32Array([0.1, -0.2, 0.3, 0.05]), o2 = new Float32Array([0.2, 0.1, -0.1, 0]);
  const r1 = await c.act(o1, c.reset!({ explore: false }), info) as {
    action: Tensor;
    state: { deter: Tensor; stoch: Tensor; action: Tensor };
  };
  const a1 = await arr(r1.action);
  // The executed action (argmax of the one-hot) is the one carried to the next step.
  close(await arr(r1.state.action), a1, 0, "state action");
  const d1 = await arr(r1.state.deter), z1 = await arr(r1.state.stoch);
  const r2 = await c.act(o2, r1.state, info) as typeof r1;
  // The second posterior is the RSSM's step from the first state with that action.
  const want = noGrad(() =>
    model.rssm.obsStep(
      { deter: tensor([d1]), stoch: tensor([z1]) },
      tensor([a1]),
      model.encoder.forward({ obs: tensor([Array.from(o2)]) }),
      { deterministic: true },
    )
  );
  close(await arr(r2.state.deter), await arr(want.deter), 1e-6, "deter after a1");
  // Continuous actions: the replay stores the action clipped to [-1, 1] while the RSSM saw the
  // sample; the core's a / max(1, |a|) makes them the same input.
  const s = model.rssm.initial(1);
  const cont = await ciModel({ actionType: "continuous" });
  const core = (a: number[]) =>
    cont.rssm.core(
      cont.rssm.initial(1).deter,
      cont.rssm.initial(1).stoch,
      cont.rssm.actionPart(cont.rssm.actionEmbed(tensor([a]))),
    );
  close(await arr(core([1.7, -0.4])), await arr(core([1, -0.4])), 1e-6, "clipped = sampled");
  void s;
  cont.dispose();
  model.dispose();
});

Deno.test("dreamerv3 trainer: image observations and continuous actions on batches spanning episodes (every loss finite, successors at the episode end)", async () => {
  manualSeed(11);
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [3, 16, 16],
    actionDim: 2,
    cnnDepth: 4,
    seed: 2,
  }) as DreamerV3WorldModel;
  const B = 2, T = 6;
  const batch = {
    obs: randn([B, T, 3, 16, 16]).sigmoid(), // pixels in [0, 1], as the replay buffer gives
    actions: randn([B, T, 2]).mul(0.8), // continuous, some outside [-1, 1] as sampled
    rewards: randn([B, T]),
    terminations: tensor([[0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]]),
    extras: { isFirst: tensor([[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]) },
  };
  // The successor of the terminal action (row 2 of sequence 0) is the core step with it.
  const res = model.lossWithStates(batch);
  const D = model.config.deter, F = res.feat.shape[2];
  const at = (x: Tensor, b: number, t: number) =>
    x.narrow(0, b, 1).narrow(1, t, 1).reshape([1, -1]);
  const want = model.rssm.core(
    at(res.feat, 0, 2).narrow(1, 0, D),
    at(res.feat, 0, 2).narrow(1, D, F - D),
    model.rssm.actionPart(model.rssm.actionEmbed(at(batch.actions, 0, 2))),
  );
  close((await arr(at(res.succ, 0, 2))).slice(0, D), await arr(want), 1e-5, "prior successor");
  const next = (await arr(at(res.succ, 1, 2))).slice(0, D);
  close(next, (await arr(at(res.feat, 1, 3))).slice(0, D), 1e-6, "successor h = next h");
  const trainer = new DreamerTrainer(model, { lr: 1e-3, acLr: 1e-3 });
  for (let i = 0; i < 2; i++) {
    const m = trainer.step(batch);
    for (const k of ["wm/rec", "wm/rew", "wm/con", "wm/kl", "ac/policy", "ac/value", "ac/repval"]) {
      const v = await m[k].item();
      assert.ok(Number.isFinite(v), `${k} = ${v}`);
    }
    for (const t of Object.values(m)) t.dispose();
  }
  trainer.dispose();
  model.dispose();
});

Deno.test("dreamerv3 actor-critic: imagined steps are weighted by cumulative discounted continues from a start of weight 1", async () => {
  manualSeed(4);
  const model = await ciModel();
  const ac = model.actorCritic!;
  const N = 6;
  const start = { deter: randn([N, model.config.deter]), stoch: randn([N, 16]).softmax(-1) };
  const l = ac.loss(start);
  const [H1, , F] = l.traj.feat.shape;
  const w = await arr(l.weight); // [H, N]
  const con = await arr(
    model.cont.logit(l.traj.feat.reshape([H1 * N, F])).sigmoid().reshape([H1, N]),
  );
  const g = 1 - 1 / 333;
  // weight_0 = 1 (an observed start is not terminal); weight_t = weight_{t-1} * g * con_t.
  for (let n = 0; n < N; n++) {
    let want = 1;
    for (let t = 0; t < H1 - 1; t++) {
      if (t > 0) want *= g * con[t * N + n];
      close([w[t * N + n]], [want], 1e-5, `weight ${t},${n}`);
    }
  }
  model.dispose();
});
