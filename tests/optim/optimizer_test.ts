/**
 * Optimizers against a plain-JS reference of their published formulas (float64, with the
 * parameters and moments rounded to float32 where our arenas store them), on every device:
 *
 * - Adam (torch.optim.Adam): g += wd * p (L2); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * - AdamW: p -= lr * wd * p (decoupled), then the Adam step without L2
 * - LaProp (Ziyin et al. 2020; DreamerV3's scale_by_rms -> scale_by_momentum):
 *   v = b2 v + (1-b2) g^2; m = b1 m + (1-b1) g / (sqrt(v / (1 - b2^t)) + eps);
 *   p -= lr * wd * p; p -= lr * m / (1 - b1^t)
 * - global-norm clipping (gradClip): g *= min(1, maxNorm / (||g||_2 + 1e-6)) over all groups
 *
 * Gradients are fed directly into `.grad` (fixed random sequences), so the reference needs no
 * model. A parameter without a gradient in a step counts as a zero gradient (documented
 * behaviour: its moments still decay).
 */

import assert from "node:assert/strict";
import {
  Adam,
  AdamW,
  adaptiveClipGrad,
  clipGradNorm,
  constantLR,
  EMA,
  LaProp,
  Linear,
  type Optimizer,
  Parameter,
  softUpdate,
  type Tensor,
  tensor,
  warmupCosineLR,
  warmupLinearLR,
  warmupLR,
} from "../../mod.ts";
import { ParamArena } from "../../src/nn/arena.ts";
import { assertClose, Rng, webgpu } from "../util.ts";
import { type Dev, values } from "../grad_util.ts";

const GPU = await webgpu();
const DEVICES: Dev[] = GPU ? ["cpu", "webgpu"] : ["cpu"];
const RTOL: Record<Dev, number> = { cpu: 1e-6, webgpu: 1e-5 };
const f32 = Math.fround;

// ---------------------------------------------------------------------------------------------
// Reference
// ---------------------------------------------------------------------------------------------

type Rule = "adam" | "adamw" | "laprop";

interface RefGroup {
  readonly idx: number[];
  readonly lrScale: number;
  readonly wd: number;
}

interface RefOptions {
  readonly rule: Rule;
  readonly lr: (t: number) => number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly groups: RefGroup[];
  readonly clip: number | null;
}

class Ref {
  readonly m: number[][];
  readonly v: number[][];
  t = 0;
  lastNorm = 0;

  constructor(readonly p: number[][], readonly o: RefOptions) {
    this.m = p.map((x) => x.map(() => 0));
    this.v = p.map((x) => x.map(() => 0));
  }

  step(grads: (number[] | null)[]): void {
    const o = this.o;
    const lr0 = o.lr(this.t);
    this.t++;
    const t = this.t;
    const gs = grads.map((g, i) => g ?? this.p[i].map(() => 0));
    // L2 decay (plain Adam) goes into the gradient before clipping, as torch's Adam.
    for (const grp of o.groups) {
      if (o.rule !== "adam" || grp.wd === 0) continue;
      for (const i of grp.idx) gs[i] = gs[i].map((g, k) => f32(g + grp.wd * this.p[i][k]));
    }
    let scale = 1;
    if (o.clip !== null) {
      let sq = 0;
      for (const g of gs) for (const x of g) sq += x * x;
      this.lastNorm = Math.sqrt(sq);
      scale = Math.min(1, o.clip / (this.lastNorm + 1e-6));
    }
    for (const grp of o.groups) {
      const lr = lr0 * grp.lrScale;
      for (const i of grp.idx) {
        const p = this.p[i], m = this.m[i], v = this.v[i];
        for (let k = 0; k < p.length; k++) {
          const g = gs[i][k] * scale;
          if (o.rule === "laprop") {
            v[k] = f32(o.b2 * v[k] + (1 - o.b2) * g * g);
            const vhat = v[k] / (1 - o.b2 ** t);
            m[k] = f32(o.b1 * m[k] + (1 - o.b1) * g / (Math.sqrt(vhat) + o.eps));
            p[k] = f32(p[k] - lr * grp.wd * p[k] - lr * m[k] / (1 - o.b1 ** t));
          } else {
            const decay = o.rule === "adamw" ? lr * grp.wd * p[k] : 0;
            m[k] = f32(o.b1 * m[k] + (1 - o.b1) * g);
            v[k] = f32(o.b2 * v[k] + (1 - o.b2) * g * g);
            const mhat = m[k] / (1 - o.b1 ** t);
            const vhat = v[k] / (1 - o.b2 ** t);
            p[k] = f32(p[k] - decay - lr * mhat / (Math.sqrt(vhat) + o.eps));
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const SHAPES = [[3, 4], [5], [2, 2, 2]];

function initialValues(seed: number): number[][] {
  const r = new Rng(seed);
  return SHAPES.map((s) => Array.from(r.normal(s.reduce((a, b) => a * b, 1))));
}

/** Gradient sequences: step s, parameter i (null: no gradient in that step). */
function gradSequence(seed: number, steps: number, scale = 1): (number[] | null)[][] {
  const r = new Rng(seed);
  return Array.from(
    { length: steps },
    (_, s) =>
      SHAPES.map((sh, i) =>
        s === 2 && i === 1
          ? null
          : Array.from(r.normal(sh.reduce((a, b) => a * b, 1), 0, scale * (i + 1)))
      ),
  );
}

function makeParams(init: number[][], dev: Dev): Parameter[] {
  return init.map((v, i) =>
    new Parameter(tensor(Float32Array.from(v), SHAPES[i], { device: dev }))
  );
}

function setGrads(ps: Tensor[], gs: (number[] | null)[], dev: Dev): void {
  ps.forEach((p, i) => {
    const g = gs[i];
    if (g === null) p.zeroGrad();
    else p.grad = tensor(Float32Array.from(g), p.shape, { device: dev });
  });
}

/** Array-scale tolerance: `|a - b| <= rtol * max|b|` (values are sums of O(max|b|) terms). */
function scaled(ref: number[], rtol: number, label: string) {
  return { rtol, floor: Math.max(...ref.map(Math.abs)), label };
}

async function compare(ps: Tensor[], ref: number[][], dev: Dev, label: string): Promise<void> {
  for (let i = 0; i < ps.length; i++) {
    assertClose(await values(ps[i]), ref[i], scaled(ref[i], RTOL[dev], `${label}: param ${i}`));
  }
}

interface Setup {
  readonly name: string;
  readonly rule: Rule;
  readonly make: (ps: Tensor[]) => Optimizer;
  readonly ref: Omit<RefOptions, "rule">;
}

const ALL = [{ idx: [0, 1, 2], lrScale: 1, wd: 0 }];

const SETUPS: Setup[] = [
  {
    name: "Adam defaults",
    rule: "adam",
    make: (ps) => new Adam(ps),
    ref: { lr: () => 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, groups: ALL, clip: null },
  },
  {
    name: "Adam lr 0.05, betas (0.8, 0.99), eps 1e-6, L2 weight decay 0.1",
    rule: "adam",
    make: (ps) => new Adam(ps, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
    ref: {
      lr: () => 0.05,
      b1: 0.8,
      b2: 0.99,
      eps: 1e-6,
      groups: [{ idx: [0, 1, 2], lrScale: 1, wd: 0.1 }],
      clip: null,
    },
  },
  {
    name: "AdamW lr 0.05, decoupled weight decay 0.1",
    rule: "adamw",
    make: (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 0.1 }),
    ref: {
      lr: () => 0.05,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      groups: [{ idx: [0, 1, 2], lrScale: 1, wd: 0.1 }],
      clip: null,
    },
  },
  {
    name: "AdamW default weight decay 0.01",
    rule: "adamw",
    make: (ps) => new AdamW(ps, { lr: 0.01 }),
    ref: {
      lr: () => 0.01,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      groups: [{ idx: [0, 1, 2], lrScale: 1, wd: 0.01 }],
      clip: null,
    },
  },
  {
    name: "LaProp defaults (lr 4e-5, eps 1e-20)",
    rule: "laprop",
    make: (ps) => new LaProp(ps),
    ref: { lr: () => 4e-5, b1: 0.9, b2: 0.999, eps: 1e-20, groups: ALL, clip: null },
  },
  {
    name: "LaProp lr 0.01, weight decay 0.05, eps 1e-8",
    rule: "laprop",
    make: (ps) => new LaProp(ps, { lr: 0.01, weightDecay: 0.05, eps: 1e-8 }),
    ref: {
      lr: () => 0.01,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      groups: [{ idx: [0, 1, 2], lrScale: 1, wd: 0.05 }],
      clip: null,
    },
  },
  {
    name: "Adam with groups: lrScale 0.3 and a group weight decay",
    rule: "adam",
    make: (ps) =>
      new Adam([{ params: [ps[0], ps[2]], lrScale: 0.3 }, { params: [ps[1]], weightDecay: 0.2 }], {
        lr: 0.02,
      }),
    ref: {
      lr: () => 0.02,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      groups: [{ idx: [0, 2], lrScale: 0.3, wd: 0 }, { idx: [1], lrScale: 1, wd: 0.2 }],
      clip: null,
    },
  },
  {
    name: "LaProp with groups (lrScale 0.5) and gradClip 1 over all groups",
    rule: "laprop",
    make: (ps) =>
      new LaProp([{ params: [ps[1]], lrScale: 0.5 }, { params: [ps[0], ps[2]] }], {
        lr: 0.01,
        gradClip: 1,
      }),
    ref: {
      lr: () => 0.01,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-20,
      groups: [{ idx: [1], lrScale: 0.5, wd: 0 }, { idx: [0, 2], lrScale: 1, wd: 0 }],
      clip: 1,
    },
  },
  {
    name: "AdamW with a warmup-cosine schedule and gradClip 3",
    rule: "adamw",
    make: (ps) => new AdamW(ps, { lr: warmupCosineLR(0.05, 2, 6, 0.005), gradClip: 3 }),
    ref: {
      lr: warmupCosineLR(0.05, 2, 6, 0.005),
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      groups: [{ idx: [0, 1, 2], lrScale: 1, wd: 0.01 }],
      clip: 3,
    },
  },
];

for (const dev of DEVICES) {
  for (const s of SETUPS) {
    Deno.test(`optim: ${s.name} matches the reference over 6 steps (${dev})`, async () => {
      const init = initialValues(1);
      const ps = makeParams(init, dev);
      const opt = s.make(ps);
      const ref = new Ref(init.map((v) => v.map(f32)), { ...s.ref, rule: s.rule });
      const grads = gradSequence(2, 6);
      for (let t = 0; t < grads.length; t++) {
        assert.ok(Math.abs(opt.lr - s.ref.lr(t)) < 1e-12, `lr before step ${t}`);
        setGrads(ps, grads[t], dev);
        opt.step();
        ref.step(grads[t]);
        await compare(ps, ref.p, dev, `${s.name} step ${t}`);
        if (s.ref.clip !== null) {
          assertClose(await opt.lastGradNorm!.item(), ref.lastNorm, {
            rtol: 1e-5,
            label: "lastGradNorm",
          });
        }
        // Moments, through the state dict. They are compared at the scale of the whole array
        // (floor = max|m|): a moment can be a small difference of O(|g|) terms, where the kernel
        // (which normalises with the unrounded v) and the reference (rounded v) may differ by
        // float32 ulps of the terms.
        const st = opt.stateDict();
        const order = s.ref.groups.flatMap((g) => g.idx);
        for (let j = 0; j < order.length; j++) {
          const i = order[j];
          assertClose(await values(st.state[String(j)].expAvg), ref.m[i], {
            rtol: RTOL[dev],
            floor: Math.max(...ref.m[i].map(Math.abs)),
            label: `exp_avg of param ${i}`,
          });
          assertClose(await values(st.state[String(j)].expAvgSq), ref.v[i], {
            rtol: RTOL[dev],
            floor: Math.max(...ref.v[i].map(Math.abs)),
            label: `exp_avg_sq of param ${i}`,
          });
        }
      }
      assert.equal(opt.stepCount, 6);
      opt.dispose();
    });
  }

  Deno.test(`optim: L2 (Adam) and decoupled (AdamW) decay differ as specified (${dev})`, async () => {
    // One step with a zero gradient: AdamW shrinks p by lr * wd * p exactly; Adam's L2 term
    // becomes the gradient, so its first step is lr * sign(p) (Adam's normalised first step).
    const init = [[2, -0.5, 1e-3, -4]];
    const a = new Parameter(tensor(Float32Array.from(init[0]), [4], { device: dev }));
    const b = new Parameter(tensor(Float32Array.from(init[0]), [4], { device: dev }));
    const adam = new Adam([a], { lr: 0.1, weightDecay: 0.5 });
    const adamw = new AdamW([b], { lr: 0.1, weightDecay: 0.5 });
    a.grad = tensor([0, 0, 0, 0], [4], { device: dev });
    b.grad = tensor([0, 0, 0, 0], [4], { device: dev });
    adam.step();
    adamw.step();
    assertClose(await values(b), init[0].map((p) => p * (1 - 0.1 * 0.5)), { rtol: 1e-6 });
    // m/(1-b1) = g, sqrt(v/(1-b2)) = |g|: the step is lr * g / (|g| + eps)
    assertClose(
      await values(a),
      init[0].map((p) => p - (0.1 * (0.5 * p)) / (Math.abs(0.5 * p) + 1e-8)),
      { rtol: 1e-5 },
    );
  });

  Deno.test(`optim: gradClip equals clipGradNorm followed by an unclipped step (${dev})`, async () => {
    for (const maxNorm of [0.5, 100]) {
      const init = initialValues(3);
      const p1 = makeParams(init, dev);
      const p2 = makeParams(init, dev);
      const o1 = new Adam(p1, { lr: 0.05, gradClip: maxNorm });
      const o2 = new Adam(p2, { lr: 0.05 });
      for (const gs of gradSequence(4, 4)) {
        setGrads(p1, gs, dev);
        setGrads(p2, gs, dev);
        const norm = clipGradNorm(p2, maxNorm);
        o1.step();
        o2.step();
        assertClose(await o1.lastGradNorm!.item(), await norm.item(), { rtol: 1e-5 });
        let sq = 0;
        for (const g of gs) for (const x of g ?? []) sq += x * x;
        assertClose(await norm.item(), Math.sqrt(sq), { rtol: 1e-5 });
        for (let i = 0; i < p1.length; i++) {
          assertClose(await values(p1[i]), await values(p2[i]), {
            rtol: RTOL[dev],
            label: `maxNorm ${maxNorm} param ${i}`,
          });
        }
      }
    }
  });

  Deno.test(`optim: clipGradNorm and adaptiveClipGrad match the reference (${dev})`, async () => {
    const r = new Rng(5);
    const w = new Parameter(tensor(r.normal(12, 0, 0.1), [3, 4], { device: dev }));
    const bias = new Parameter(tensor(r.normal(3, 0, 1), [3], { device: dev }));
    const gw = Array.from(r.normal(12, 0, 1));
    gw.splice(8, 4, 1e-3, -1e-3, 2e-3, 0); // row 2: a small gradient (not clipped)
    const gb = Array.from(r.normal(3, 0, 0.01));
    w.grad = tensor(Float32Array.from(gw), [3, 4], { device: dev });
    bias.grad = tensor(Float32Array.from(gb), [3], { device: dev });
    const wv = await values(w), bv = await values(bias);
    adaptiveClipGrad([w, bias], 0.3, 1e-3);
    const norm = (a: number[]) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
    const expectW: number[] = [];
    for (let row = 0; row < 3; row++) {
      const pr = wv.slice(row * 4, row * 4 + 4), gr = gw.slice(row * 4, row * 4 + 4);
      const f = Math.min(1, (0.3 * Math.max(norm(pr), 1e-3)) / Math.max(norm(gr), 1e-6));
      if (row < 2) assert.ok(f < 1, `row ${row} is clipped`);
      else assert.equal(f, 1, "row 2 is not clipped");
      expectW.push(...gr.map((g) => g * f));
    }
    const fb = Math.min(1, (0.3 * Math.max(norm(bv), 1e-3)) / Math.max(norm(gb), 1e-6));
    assertClose(await values(w.grad!), expectW, { rtol: 1e-5, label: "AGC weight" });
    assertClose(await values(bias.grad!), gb.map((g) => g * fb), { rtol: 1e-5, label: "AGC bias" });
  });

  Deno.test(`optim: stateDict/loadStateDict round trip continues identically (${dev})`, async () => {
    for (
      const make of [
        (ps: Tensor[]) => new Adam(ps, { lr: 0.03, gradClip: 2 }),
        (ps: Tensor[]) => new LaProp(ps, { lr: 0.01, weightDecay: 0.1 }),
      ]
    ) {
      const init = initialValues(7);
      const grads = gradSequence(8, 6);
      const p1 = makeParams(init, dev);
      const o1 = make(p1);
      for (const gs of grads.slice(0, 3)) {
        setGrads(p1, gs, dev);
        o1.step();
      }
      // A fresh model with the saved parameters and optimizer state.
      const saved = o1.stateDict();
      assert.equal(saved.step, 3);
      const copies: number[][] = [];
      for (const p of p1) copies.push(await values(p));
      const p2 = makeParams(copies, dev);
      const o2 = make(p2);
      // state tensors are read out (as a checkpoint would) and loaded back
      const state: Record<string, { expAvg: Tensor; expAvgSq: Tensor }> = {};
      for (const [k, s] of Object.entries(saved.state)) {
        state[k] = {
          expAvg: tensor(await s.expAvg.data() as Float32Array, s.expAvg.shape, { device: dev }),
          expAvgSq: tensor(await s.expAvgSq.data() as Float32Array, s.expAvgSq.shape, {
            device: dev,
          }),
        };
      }
      o2.loadStateDict({ step: saved.step, paramGroups: saved.paramGroups, state });
      assert.equal(o2.stepCount, 3);
      for (const gs of grads.slice(3)) {
        setGrads(p1, gs, dev);
        setGrads(p2, gs, dev);
        o1.step();
        o2.step();
        for (let i = 0; i < p1.length; i++) {
          assert.deepEqual(await values(p2[i]), await values(p1[i]), `param ${i}`);
        }
      }
      // A state for another layout is refused.
      const other = make([new Parameter(tensor([1, 2], [2], { device: dev }))]);
      assert.throws(() => other.loadStateDict(saved), /groups of sizes/);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Schedules, EMA, soft updates
// ---------------------------------------------------------------------------------------------

Deno.test("schedules: warmup, cosine and linear decay values", () => {
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  const c = constantLR(0.1);
  near(c(0), 0.1);
  near(c(1e6), 0.1);
  const w = warmupLR(1e-3, 10);
  near(w(0), 1e-4);
  near(w(4), 5e-4);
  near(w(9), 1e-3);
  near(w(10), 1e-3);
  near(w(1000), 1e-3);
  near(warmupLR(0.5, 0)(0), 0.5);
  const cos = warmupCosineLR(1, 10, 110, 0.1);
  near(cos(0), 0.1);
  near(cos(9), 1);
  near(cos(10), 1);
  near(cos(60), 0.1 + 0.9 * 0.5);
  near(cos(35), 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.25)));
  near(cos(110), 0.1);
  near(cos(500), 0.1);
  const lin = warmupLinearLR(2, 4, 24, 0.2);
  near(lin(1), 1);
  near(lin(4), 2);
  near(lin(14), 1.1);
  near(lin(24), 0.2);
  near(lin(100), 0.2);
  // monotone warmup, non-increasing decay
  for (let t = 1; t < 200; t++) {
    if (t < 10) assert.ok(cos(t) > cos(t - 1));
    else assert.ok(cos(t) <= cos(t - 1) + 1e-15);
  }
});

for (const dev of DEVICES) {
  Deno.test(`ema: EMA (arena and per-tensor paths) and softUpdate (${dev})`, async () => {
    const r = new Rng(9);
    const src = SHAPES.map((s) =>
      new Parameter(tensor(r.normal(s.reduce((a, b) => a * b, 1)), s, { device: dev }))
    );
    const arena = new ParamArena(src);
    const emaArena = new EMA(src, 0.9, arena);
    const emaPlain = new EMA(src, 0.9);
    const expected: number[][] = [];
    for (const p of src) expected.push(await values(p));
    for (let k = 0; k < 3; k++) {
      for (const p of src) p.assign(p.mul(0.5).add(k + 1));
      arena.bumpVersions();
      emaArena.update();
      emaPlain.update();
      for (let i = 0; i < src.length; i++) {
        const cur = await values(src[i]);
        expected[i] = expected[i].map((e, j) => 0.9 * e + 0.1 * cur[j]);
        assertClose(
          await values(emaArena.shadow[i]),
          expected[i],
          scaled(expected[i], 1e-6, `arena EMA step ${k} param ${i}`),
        );
        assertClose(
          await values(emaPlain.shadow[i]),
          expected[i],
          scaled(expected[i], 1e-6, `plain EMA step ${k} param ${i}`),
        );
      }
    }
    // softUpdate on modules (tau) and copies (tau = 1)
    const a = new Linear(3, 2, { device: dev }), b = new Linear(3, 2, { device: dev });
    const av = await values(a.weight), bv = await values(b.weight);
    softUpdate(a, b, 0.25);
    assertClose(await values(a.weight), av.map((x, i) => 0.75 * x + 0.25 * bv[i]), { rtol: 1e-6 });
    softUpdate(a, b, 1);
    assert.deepEqual(await values(a.weight), bv);
    assert.deepEqual(await values(a.bias!), await values(b.bias!));
    assert.throws(() => softUpdate([a.weight], [b.weight, b.bias!], 0.5), /parameters/);
    assert.throws(() => softUpdate([a.weight], [b.bias!], 0.5), /shape/);
  });
}
