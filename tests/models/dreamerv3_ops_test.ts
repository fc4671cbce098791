/**
 * DreamerV3 building blocks: the fused ops against their compositions (values and gradients),
 * the RSSM core against a plain host implementation of the official `rssm.py` `_core`
 * equations (block structure), two-hot and KL balancing against the PyTorch fixtures, the
 * exactly-zero initial reward prediction, the autograd merges the observe loop relies on (the
 * GRU weight gradient is one matmul over all B*T rows), all on the cpu backend.
 */

import assert from "node:assert/strict";
import {
  balancedKL,
  gruUpdate,
  normAffine,
  rssmOptions,
  straightThroughSample,
  twohot,
  twohotBins,
  twohotLoss,
  twohotPred,
} from "../../src/models/dreamerv3/mod.ts";
import {
  concat,
  createWorldModel,
  DreamerTrainer,
  type DreamerV3WorldModel,
  layerNorm,
  manualSeed,
  noGrad,
  randn,
  realize,
  rmsNorm,
  type Tensor,
  tensor,
  zeros,
} from "../../mod.ts";
import { gradOptions } from "../../src/tensor/autograd.ts";
import { setKernelSink } from "../../src/tensor/schedule.ts";
import { fx, loadFixture } from "../grad_util.ts";

async function arr(t: Tensor): Promise<number[]> {
  return Array.from(await t.data() as Float32Array, Number);
}

function close(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  }
  assert.ok(worst <= tol, `${what}: max rel error ${worst} > ${tol}`);
}

/** Values and gradients (w.r.t. `inputs`) of `f` for an upstream gradient `gOut`. */
async function valueAndGrads(
  f: (xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  gOut: Tensor,
): Promise<number[][]> {
  const xs = inputs.map((x) => x.detach().setRequiresGrad());
  const y = f(xs);
  y.mul(gOut).sum().backward();
  const out = [await arr(y)];
  for (const x of xs) out.push(await arr(x.grad!));
  return out;
}

Deno.test("dreamerv3 ops: normAffine equals norm * scale (+ shift) (+ silu) with gradients", async () => {
  manualSeed(1);
  for (const kind of ["rms", "layer"] as const) {
    for (const act of [null, "silu"] as const) {
      const x = randn([6, 10]).mul(2).add(0.3);
      const s = randn([10]).mul(0.3).add(1);
      const b = randn([10]).mul(0.2);
      const row = (p: Tensor) => p.reshape([1, 10]).expand([6, 10]);
      const g = randn([6, 10]);
      const shift = kind === "layer";
      const ins = shift ? [x, s, b] : [x, s];
      const fused = await valueAndGrads(
        ([xx, ss, bb]) => normAffine(xx, row(ss), shift ? row(bb) : null, kind, 1e-4, act),
        ins,
        g,
      );
      const ref = await valueAndGrads(
        ([xx, ss, bb]) => {
          const y = kind === "rms" ? rmsNorm(xx, ss, 1e-4) : layerNorm(xx, ss, bb, 1e-4);
          return act ? y.silu() : y;
        },
        ins,
        g,
      );
      for (let i = 0; i < (shift ? 4 : 3); i++) {
        close(fused[i], ref[i], 2e-5, `${kind}/${act}/${i}`);
      }
    }
  }
});

Deno.test("dreamerv3 ops: gruUpdate equals the composed GRU gates with gradients", async () => {
  manualSeed(2);
  const [n, g, p] = [5, 4, 3];
  const gates = randn([n, g, 3 * p]).mul(1.5);
  const h = randn([n, g, p]).mul(0.7);
  const gOut = randn([n, g, p]);
  const fused = await valueAndGrads(([gt, hh]) => gruUpdate(gt, hh), [gates, h], gOut);
  const ref = await valueAndGrads(
    ([gt, hh]) => {
      const [r, c, u] = gt.split([p, p, p], 2);
      const rr = r.sigmoid();
      const cc = c.mul(rr).tanh();
      const uu = u.sub(1).sigmoid();
      return uu.mul(cc).add(uu.neg().add(1).mul(hh));
    },
    [gates, h],
    gOut,
  );
  for (let i = 0; i < 3; i++) close(fused[i], ref[i], 2e-5, `gru ${i}`);
});

Deno.test("dreamerv3 ops: straight-through sample is one-hot with the unimixed probs' gradient", async () => {
  manualSeed(3);
  const logits = randn([4, 3, 5]).mul(2);
  const gumbel = randn([4, 3, 5]);
  const gOut = randn([4, 3, 5]);
  const x = logits.detach().setRequiresGrad();
  const { sample } = straightThroughSample(x, gumbel, 0.01);
  const v = await arr(sample);
  for (let i = 0; i < v.length; i += 5) {
    const row = v.slice(i, i + 5);
    assert.deepEqual(row.filter((q) => q === 1).length, 1);
    assert.equal(row.reduce((a, q) => a + q, 0), 1);
  }
  sample.mul(gOut).sum().backward();
  const y = logits.detach().setRequiresGrad();
  y.softmax(-1).mul(0.99).add(0.01 / 5).mul(gOut).sum().backward();
  close(await arr(x.grad!), await arr(y.grad!), 1e-5, "straight-through gradient");
});

/** The official bins (heads.py `symexp_twohot`) in float64: symexp(linspace(-20, 0, 128)), mirrored. */
function officialBins(): number[] {
  const half = Array.from({ length: 128 }, (_, i) => -Math.expm1(-(-20 + (20 * i) / 127)));
  half[127] = 0;
  return [...half, ...half.slice(0, 127).reverse().map((v) => -v)];
}

Deno.test("dreamerv3 ops: two-hot over the official raw-space bins (hand-computed); zero logits predict exactly 0", async () => {
  const ref = officialBins();
  const bins = twohotBins(255, 20, "cpu");
  const got = await arr(bins);
  close(got, ref, 1e-6, "bins = symexp(linspace(-20, 20, 255))");
  assert.equal(got[127], 0);
  for (let i = 0; i < 127; i++) assert.equal(got[254 - i], -got[i], `bin ${254 - i} mirrors ${i}`);
  // Encoding in raw space: y between bins i and i + 1 puts (b[i+1] - y) / (b[i+1] - b[i]) on i.
  const ys = [0, 0.1, -2.5, 1000, 3e9, got[140]];
  const enc = await arr(twohot(tensor(ys), bins));
  ys.forEach((y, r) => {
    const row = enc.slice(r * 255, (r + 1) * 255);
    const want = new Array(255).fill(0);
    const hi = ref.findIndex((b) => b > y);
    if (hi <= 0) want[hi < 0 ? 254 : 0] = 1; // outside the range: all on the end bin
    else if (ref[hi - 1] === y) want[hi - 1] = 1; // exactly on a bin
    else {
      want[hi - 1] = (ref[hi] - y) / (ref[hi] - ref[hi - 1]);
      want[hi] = (y - ref[hi - 1]) / (ref[hi] - ref[hi - 1]);
    }
    close(row, want, 2e-5, `twohot(${y})`);
  });
  // y = 0.1 lies between bins 127 (0) and 128 (e^(20/127) - 1 = 0.17056...).
  const b128 = Math.expm1(20 / 127);
  close([enc[255 + 127], enc[255 + 128]], [1 - 0.1 / b128, 0.1 / b128], 1e-6, "twohot(0.1)");
  // Cross-entropy: -sum(target * log_softmax(logits)) with target from the raw value.
  const lg = [...Array(255)].map((_, i) => Math.sin(i * 0.37) * 2);
  const lse = Math.log(lg.reduce((s, v) => s + Math.exp(v), 0));
  const wantLoss = -(enc[255 + 127] * (lg[127] - lse) + enc[255 + 128] * (lg[128] - lse));
  const loss = twohotLoss(tensor([lg]), tensor([0.1]), bins);
  close(await arr(loss), [wantLoss], 1e-5, "loss");
  // The prediction is the raw-space mean: half the mass at 0 and half at bin 128 + 36 (symlog
  // 5.67, about 289) predicts their average (about 145), not symexp of the symlog mean (~16).
  const two = new Array(255).fill(-1e4);
  two[127] = 0;
  two[164] = 0;
  close(await arr(twohotPred(tensor([two]), bins)), [ref[164] / 2], 1e-5, "bimodal mean");
  // The prediction of a two-hot target's log-probabilities recovers the target.
  const logT = enc.slice(255, 510).map((p) => (p > 0 ? Math.log(p) : -1e4));
  close(await arr(twohotPred(tensor([logT]), bins)), [0.1], 1e-5, "pred(twohot(0.1))");
  // A zero-initialised head: every prediction is exactly 0 (symmetric pairwise sum).
  assert.deepEqual(await arr(twohotPred(zeros([3, 255]), bins)), [0, 0, 0]);
});

Deno.test("dreamerv3 ops: KL balancing with free bits matches the PyTorch fixture", async () => {
  const f = loadFixture("kl_categorical_free_bits");
  const post = fx(f.inputs.post_logits, "cpu").setRequiresGrad();
  const prior = fx(f.inputs.prior_logits, "cpu").setRequiresGrad();
  const c = f.config;
  const { dyn, rep, kl } = balancedKL(post, prior, c.unimix, c.free_nats);
  close(await arr(kl), f.outputs.kl_raw.data, 1e-5, "kl");
  close(await arr(dyn), f.outputs.dyn.data, 1e-5, "dyn");
  close(await arr(rep), f.outputs.rep.data, 1e-5, "rep");
  const loss = dyn.mul(c.dyn_scale).add(rep.mul(c.rep_scale)).mean();
  close([await loss.item()], f.outputs.loss.data, 1e-5, "loss");
  loss.backward();
  close(await arr(post.grad!), f.grads.post_logits.data, 1e-5, "d post");
  close(await arr(prior.grad!), f.grads.prior_logits.data, 1e-5, "d prior");
});

// ---------------------------------------------------------------------------------------------
// The RSSM core against the official equations, computed on the host in float64.
// ---------------------------------------------------------------------------------------------

type Mat = number[][];
const silu = (v: number) => v / (1 + Math.exp(-v));
const sigm = (v: number) => 1 / (1 + Math.exp(-v));
function linear(x: number[], w: Mat, b: number[]): number[] {
  return w.map((row, o) => row.reduce((s, wi, i) => s + wi * x[i], b[o]));
}
function rmsSilu(x: number[], scale: number[], eps: number): number[] {
  const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
  return x.map((v, i) => silu((v / Math.sqrt(ms + eps)) * scale[i]));
}
async function mat(t: Tensor): Promise<Mat> {
  const d = await arr(t);
  const [r, c] = t.shape;
  return Array.from({ length: r }, (_, i) => d.slice(i * c, (i + 1) * c));
}

/** rssm.py `_core` for one example, from the model's parameters (official layout). */
async function officialCore(
  model: DreamerV3WorldModel,
  h: number[],
  z: number[],
  a: number[],
): Promise<number[]> {
  const r = model.rssm;
  const { deter: D, hidden: H, blocks: G } = model.config;
  const eps = model.config.normEps;
  const per = D / G;
  const an = a.map((v) => v / Math.max(1, Math.abs(v)));
  const lin = async (l: typeof r.dynin0, x: number[]) =>
    rmsSilu(
      linear(x, await mat(l.linear.weight), await arr(l.linear.bias!)),
      await arr(l.norm.weight),
      eps,
    );
  const x = [...await lin(r.dynin0, h), ...await lin(r.dynin1, z), ...await lin(r.dynin2, an)];
  const hw = await arr(r.dynhid.hweight); // [G, per, per]
  const xw = await mat(r.dynhid.xweight!); // [3H, D]
  const hb = await arr(r.dynhid.bias);
  // Group g: input [h_g, x] through kernel[g] = [hweight[g]; xweight[:, g-th block]].
  const y = new Array(D).fill(0);
  for (let g = 0; g < G; g++) {
    for (let o = 0; o < per; o++) {
      let s = hb[g * per + o];
      for (let i = 0; i < per; i++) s += h[g * per + i] * hw[(g * per + i) * per + o];
      for (let i = 0; i < 3 * H; i++) s += x[i] * xw[i][g * per + o];
      y[g * per + o] = s;
    }
  }
  const hid = rmsSilu(y, await arr(r.dynhidnorm.weight), eps);
  const gw = await arr(r.dyngru.hweight); // [G, per, 3 per]
  const gb = await arr(r.dyngru.bias);
  const out = new Array(D).fill(0);
  for (let g = 0; g < G; g++) {
    const gate = new Array(3 * per).fill(0).map((_, o) => {
      let s = gb[g * 3 * per + o];
      for (let i = 0; i < per; i++) s += hid[g * per + i] * gw[(g * per + i) * 3 * per + o];
      return s;
    });
    for (let j = 0; j < per; j++) {
      const reset = sigm(gate[j]);
      const cand = Math.tanh(reset * gate[per + j]);
      const update = sigm(gate[2 * per + j] - 1);
      out[g * per + j] = update * cand + (1 - update) * h[g * per + j];
    }
  }
  return out;
}

Deno.test("dreamerv3 rssm: the core equals the official block GRU equations (dense and blocked paths)", async () => {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [5],
    actionDim: 3,
    seed: 4,
  }) as DreamerV3WorldModel;
  // Non-trivial norm scales and biases so that every parameter matters.
  noGrad(() => {
    for (const p of model.rssm.parameters()) p.assign(p.add(randn(p.shape).mul(0.1)));
  });
  const { deter: D, stoch: S, classes: K } = model.config;
  manualSeed(5);
  const h = randn([2, D]), z = randn([2, S * K]), a = randn([2, 3]).mul(2);
  const want: number[][] = [];
  const [hv, zv, av] = [await arr(h), await arr(z), await arr(a)];
  for (let b = 0; b < 2; b++) {
    want.push(
      await officialCore(
        model,
        hv.slice(b * D, (b + 1) * D),
        zv.slice(b * S * K, (b + 1) * S * K),
        av.slice(b * 3, b * 3 + 3),
      ),
    );
  }
  const prev = rssmOptions.denseBlocksMax;
  try {
    for (const max of [512, 0]) {
      rssmOptions.denseBlocksMax = max;
      const r = model.rssm;
      const got = await arr(r.core(h, z, r.actionPart(r.actionEmbed(a))));
      close(got, want.flat(), 1e-4, max ? "dense" : "blocked");
    }
  } finally {
    rssmOptions.denseBlocksMax = prev;
  }
  model.dispose();
});

Deno.test("dreamerv3 rssm: observe gives the same values and gradients in dense and blocked modes", async () => {
  // Blocked mode shares h's dense products (posterior | dynin0) between a step's posterior and
  // the next step's core, as dense mode does with dynhid's part too: both must be one function.
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actorCritic: false,
    seed: 7,
  }) as DreamerV3WorldModel;
  noGrad(() => {
    for (const p of model.rssm.parameters()) p.assign(p.add(randn(p.shape).mul(0.1)));
  });
  const r = model.rssm;
  const [B, T, E] = [3, 5, r.embedDim];
  manualSeed(8);
  const embed = randn([B, T, E]), actions = randn([B, T, 2]);
  const isFirst = tensor([[0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 1, 0, 0, 0]]);
  const start = { deter: randn([B, r.deterDim]).tanh(), stoch: zeros([B, r.stochDim]) };
  const w = randn([B, T, r.deterDim]);
  const params = r.parameters();
  const runs: number[][][] = [];
  const prev = rssmOptions.denseBlocksMax;
  try {
    for (const max of [512, 0]) {
      rssmOptions.denseBlocksMax = max;
      manualSeed(9); // the same Gumbel noise
      const o = r.observe(embed, actions, isFirst, { start });
      const loss = o.deter.mul(w).sum().add(o.postLogits.square().sum())
        .add(o.priorLogits.sin().sum()).add(o.succDeter.square().sum());
      for (const p of params) p.zeroGrad();
      loss.backward();
      const out = [await arr(o.deter), await arr(o.postLogits), await arr(o.succDeter)];
      for (const p of params) out.push(await arr(p.grad!));
      runs.push(out);
    }
  } finally {
    rssmOptions.denseBlocksMax = prev;
  }
  assert.equal(runs[0].length, 3 + params.length);
  runs[0].forEach((x, i) => close(runs[1][i], x, 2e-4, `output/gradient ${i}`));
  model.dispose();
});

Deno.test("dreamerv3 autograd: per-step slices merge into one concat (same gradients as unmerged)", async () => {
  manualSeed(6);
  const x0 = randn([3, 6, 4]);
  const w = randn([4, 4]);
  const grads: number[][] = [];
  for (const merge of [true, false]) {
    gradOptions.mergeSliceTerms = merge;
    try {
      const x = x0.detach().setRequiresGrad();
      let h = zeros([3, 4]);
      for (let t = 0; t < 6; t++) h = h.matmul(w).tanh().add(x.narrow(1, t, 1).squeeze(1));
      h.square().sum().backward();
      grads.push(await arr(x.grad!));
    } finally {
      gradOptions.mergeSliceTerms = true;
    }
  }
  close(grads[0], grads[1], 1e-6, "merged vs unmerged");
});

Deno.test("dreamerv3 autograd: the GRU weight gradient is one matmul over all B*T rows", async () => {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actorCritic: false,
  }) as DreamerV3WorldModel;
  const [B, T] = [4, 6];
  const batch = {
    obs: randn([B, T, 4]),
    actions: randn([B, T, 2]),
    rewards: randn([B, T]),
    terminations: zeros([B, T]),
  };
  realize(...Object.values(batch));
  const trainer = new DreamerTrainer(model, { lr: 1e-3 });
  const mm: string[] = [];
  const prev = setKernelSink((be, k) => {
    if (k.kind === "matmul") mm.push(`${k.m}x${k.k}x${k.n}`);
    be.run(k);
  });
  try {
    await trainer.step(batch)["wm/total"].item();
  } finally {
    setKernelSink(prev);
  }
  const D = model.config.deter;
  // dyngru: [D, 3D] (dense block-diagonal form); its gradient [D, B*(T+1)] @ [B*(T+1), 3D].
  assert.ok(mm.includes(`${D}x${B * (T + 1)}x${3 * D}`), `one merged matmul: ${mm.join(" ")}`);
  assert.ok(!mm.includes(`${D}x${B}x${3 * D}`), "no per-step weight-gradient products");
  trainer.dispose();
  model.dispose();
});

Deno.test("dreamerv3 heads: the reward and critic start at exactly 0; concat of features", async () => {
  const model = await createWorldModel("dreamer:ci", { obsShape: [4], actionDim: 2 });
  const s = model.encode(randn([5, 4]));
  const p = model.decode(s).predictions;
  assert.deepEqual(await arr(p.reward), [0, 0, 0, 0, 0]);
  const m = model as DreamerV3WorldModel;
  const v = m.actorCritic!.critic.pred(concat([s.get("deter"), s.get("stoch")], -1), m.bins);
  assert.deepEqual(await arr(v), [0, 0, 0, 0, 0]);
  model.dispose();
});
