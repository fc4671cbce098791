/**
 * TD-MPC2's whole agent update against an independent float64 PyTorch implementation of the
 * official definitions (`tests/fixtures/gen_torch.py`, case `tdmpc2_update`): two updates from
 * given weights and batches — TD targets from the target heads, consistency / reward / value
 * losses with rho^t weights, the global-norm clip, Adam with the encoder at `encLrScale`, the
 * policy loss on detached latents with the Q heads after the world-model step, the running Q
 * scale, and the target soft update — compared statistic by statistic and parameter by
 * parameter. The fixture removes the policy noise (log-std bounded to [-20, -19.9]) and dropout;
 * the policy's entropy terms are checked here against values computed by hand from the draws.
 */

import assert from "node:assert/strict";
import {
  createWorldModel,
  Generator,
  randn,
  TDMPC2Agent,
  type TDMPC2WorldModel,
  tensor,
} from "../../mod.ts";
import { fixtureStateDict, type FixtureTensor, loadFixture, values } from "../grad_util.ts";

const f = loadFixture("tdmpc2_update");
const c = f.config;

/** |a - b| <= rtol * max(|b|, floor): relative, with an absolute floor for values near 0. */
function close(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rtol: number,
  floor: number,
  what: string,
) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= rtol * Math.max(Math.abs(b[i]), floor),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

async function fixtureModel(): Promise<TDMPC2WorldModel> {
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [c.D],
    actionDim: c.A,
    latentDim: c.L,
    simnormDim: c.G,
    hiddenDim: c.M,
    encDim: c.E,
    numEncLayers: 2,
    numQNetworks: c.NQ,
    numBins: c.K,
    vmin: c.vmin,
    vmax: c.vmax,
    dropout: 0,
    horizon: c.H,
    rho: c.rho,
    discount: c.discount,
    lr: c.lr,
    encLrScale: c.enc_lr_scale,
    gradClip: c.grad_clip,
    tau: c.tau,
    consistencyCoef: c.consistency_coef,
    rewardCoef: c.reward_coef,
    valueCoef: c.value_coef,
    entropyCoef: c.entropy_coef,
    logStdMin: c.log_std_min,
    logStdMax: c.log_std_max,
  }) as TDMPC2WorldModel;
  model.loadStateDict({
    ...fixtureStateDict(f.params),
    "scale.value": { shape: [1], data: Float32Array.of(1) },
  });
  return model;
}

function input(name: string): ReturnType<typeof tensor> {
  const t: FixtureTensor = f.inputs[name];
  return tensor(Float32Array.from(t.data), t.shape);
}

for (const compiled of [false, true]) {
  Deno.test(`tdmpc2 update (${compiled ? "compiled" : "eager"}): two updates equal the float64 PyTorch reference (statistics, every parameter, target heads, Q scale)`, async () => {
    const model = await fixtureModel();
    const agent = new TDMPC2Agent(model, { seed: 7 });
    const step = compiled ? agent.compiled() : null;
    try {
      for (let k = 0; k < 2; k++) {
        const obs = input(`batch${k}.obs`);
        const actions = input(`batch${k}.actions`);
        const rewards = input(`batch${k}.rewards`);
        const terms = tensor(new Float32Array(rewards.size), rewards.shape);
        const info = step
          ? step(obs, actions, rewards, terms)
          : agent.updateTensors(obs, actions, rewards, terms);
        for (const [name, t] of Object.entries(info)) {
          const ref = f.outputs[`update${k}.${name}`];
          if (!ref) continue; // termination_loss (0) and the entropies (entropy_coef 0 here)
          close(await values(t), ref.data, 2e-4, 1e-3, `update ${k} ${name}`);
        }
        for (const t of [obs, actions, rewards, terms, ...Object.values(info)]) t.dispose();
      }
      const state = model.stateDict();
      for (const [name, ref] of Object.entries(f.outputs)) {
        if (!name.startsWith("after.")) continue;
        const key = name.slice("after.".length);
        const t = state[key];
        assert.ok(t, `no parameter or buffer ${key}`);
        assert.deepEqual(t.shape, ref.shape, key);
        // The two steps move each parameter by up to ~2 lr: compare at a fraction of that.
        close(await values(t), ref.data, 1e-4, 0.2, key);
        const before = f.params[key]?.data ?? [1];
        const moved = ref.data.some((v, i) => Math.abs(v - before[i]) > 1e-6);
        assert.ok(moved, `${key} should change over two updates`);
      }
    } finally {
      step?.dispose();
      agent.dispose();
      model.dispose();
    }
  });
}

Deno.test("tdmpc2 policy: entropy and scaled entropy of a sample equal the official formulas computed by hand", async () => {
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [3],
    actionDim: 3,
    seed: 4,
  }) as TDMPC2WorldModel;
  const z = randn([5, model.config.latentDim], { seed: 9 }).softmax(-1);
  const out = await values(model.pi.forward(z));
  const p = model.policy(z, { generator: new Generator(11) });
  // The policy draws its noise first from the generator: the same stream gives the same eps.
  const eps = await values(randn([5, 3], { generator: new Generator(11) }));
  const [ent, sent, act, mean] = await Promise.all(
    [p.entropy, p.scaledEntropy, p.action, p.mean].map(values),
  );
  const { logStdMin: lo, logStdMax: hi } = model.config;
  const A = 3;
  for (let b = 0; b < 5; b++) {
    let gauss = 0, corr = 0;
    for (let i = 0; i < A; i++) {
      const mu = out[b * 2 * A + i];
      const logStd = lo + 0.5 * (hi - lo) * (Math.tanh(out[b * 2 * A + A + i]) + 1);
      const e = eps[b * A + i];
      const a = Math.tanh(mu + e * Math.exp(logStd));
      gauss += -0.5 * e * e - logStd - 0.5 * Math.log(2 * Math.PI);
      corr += Math.log(Math.max(1 - a * a, 0) + 1e-6);
      close([act[b * A + i]], [a], 1e-5, 1e-3, `action ${b},${i}`);
      close([mean[b * A + i]], [Math.tanh(mu)], 1e-6, 1e-3, `mean ${b},${i}`);
    }
    const logProb = gauss - corr;
    const scaled = -logProb * ((gauss * A) / (logProb + 1e-8));
    close([ent[b]], [-logProb], 1e-4, 1, `entropy ${b}`);
    close([sent[b]], [scaled], 1e-4, 1, `scaled entropy ${b}`);
  }
  model.dispose();
});

Deno.test("tdmpc2 qPair: two heads are both used (no draw); five give the min/average of two of them", async () => {
  for (const numQNetworks of [2, 5]) {
    const m = await createWorldModel("tdmpc2:ci", {
      obsShape: [5],
      actionDim: 2,
      seed: 4,
      numQNetworks,
    }) as TDMPC2WorldModel;
    m.eval();
    // Non-zero output layers, so the heads differ.
    for (const [name, p] of m.namedParameters()) {
      if (name.startsWith("qs.out.")) p.assign(randn(p.shape, { seed: 9 }).mul(0.3));
    }
    const z = randn([6, m.config.latentDim], { seed: 2 });
    const a = randn([6, 2], { seed: 3 }).tanh();
    const heads = await m.headValue(m.qAll(z, a)).data(); // [numQ, 6]
    const g = new Generator(7);
    const min = await m.qPair(z, a, { reduce: "min", generator: g }).data();
    const avg = await m.qPair(z, a, { reduce: "avg", generator: g }).data();
    for (let i = 0; i < 6; i++) {
      const col = Array.from({ length: numQNetworks }, (_, h) => heads[h * 6 + i]);
      assert.ok(Math.abs(col[0] - col[1]) > 1e-3, `heads differ: ${col}`);
      if (numQNetworks === 2) {
        assert.ok(Math.abs(min[i] - Math.min(...col)) < 1e-5, `min ${min[i]} vs ${col}`);
        assert.ok(Math.abs(avg[i] - (col[0] + col[1]) / 2) < 1e-5, `avg ${avg[i]} vs ${col}`);
      } else {
        // some pair of distinct heads gives the minimum
        const pairs = col.flatMap((x, h) => col.slice(h + 1).map((y) => Math.min(x, y)));
        assert.ok(pairs.some((p) => Math.abs(p - min[i]) < 1e-5), `min ${min[i]} vs ${col}`);
      }
    }
  }
});
