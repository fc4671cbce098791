/**
 * Every PyTorch fixture in tests/fixtures/torch (definitions in tests/fixtures/README.md)
 * against our implementation, on cpu and on webgpu: every output and every gradient of the
 * fixture, with the fixture README's mixed tolerance
 * `|ours - ref| <= 1e-4 * max(|ref|, 1e-3 * max|ref|)`.
 *
 * Models are built from our modules and loaded with `loadStateDict` (strict), so PyTorch's
 * parameter names must line up: `Sequential(Linear, LayerNorm, Activation, Linear)` gives
 * `0.weight`, `1.weight`, `3.weight`, ...; the DreamerV3 GRU cell has `weight`, `norm.weight`,
 * `norm.bias`. A fixture without a handler here fails the test.
 */

import assert from "node:assert/strict";
import {
  Activation,
  Conv2d,
  ConvTranspose2d,
  GRUCell,
  LayerNorm,
  Linear,
  linspace,
  type Module,
  Sequential,
  SimNorm,
  type Tensor,
} from "../../mod.ts";
import { assertClose, webgpu } from "../util.ts";
import {
  type Dev,
  type Fixture,
  fixtureNames,
  fixtureStateDict,
  fx,
  loadFixture,
  twohot,
  twohotLoss,
} from "../grad_util.ts";

const GPU = await webgpu();
const RTOL = 1e-4;

interface Result {
  readonly outputs: Record<string, Tensor>;
  readonly grads: Record<string, Tensor>;
  /**
   * Absolute tolerances (keyed "output <name>" / "gradient <name>") for values whose float32
   * floor is above the mixed tolerance.
   */
  readonly atol?: Record<string, number>;
}

/** Loads a fixture's params into a module (strict) and returns its parameters by name. */
function load(m: Module, f: Fixture): Record<string, Tensor> {
  m.loadStateDict(fixtureStateDict(f.params));
  return Object.fromEntries(m.namedParameters());
}

/** The `.grad` of every named parameter (throws when one has none). */
function paramGrads(params: Record<string, Tensor>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, p] of Object.entries(params)) {
    if (!p.grad) throw new Error(`parameter ${k} got no gradient`);
    out[k] = p.grad;
  }
  return out;
}

/** A float32 leaf requiring gradients. */
const leaf = (f: Fixture, name: string, dev: Dev) => fx(f.inputs[name], dev).setRequiresGrad();

/** `unimix` log-probabilities: `log((1 - mix) softmax(l) + mix / K)`. */
function unimixLogp(logits: Tensor, mix: number): Tensor {
  const k = logits.shape[logits.rank - 1];
  return logits.softmax(-1).mul(1 - mix).add(mix / k).log();
}

/** KL between categoricals, summed over classes and latents: `[B, L, K] -> [B]`. */
function catKl(logp: Tensor, logq: Tensor): Tensor {
  return logp.exp().mul(logp.sub(logq)).sum([1, 2]);
}

const HANDLERS: Record<string, (f: Fixture, dev: Dev) => Result> = {
  conv2d_k4s2p1(f, dev) {
    const conv = new Conv2d(3, 4, 4, { stride: 2, padding: 1, device: dev });
    const params = load(conv, f);
    const x = leaf(f, "x", dev);
    const y = conv.forward(x);
    y.mul(fx(f.inputs.grad_output, dev)).sum().backward();
    return { outputs: { y }, grads: { x: x.grad!, ...paramGrads(params) } };
  },

  conv_transpose2d_k4s2p1(f, dev) {
    const conv = new ConvTranspose2d(4, 3, 4, { stride: 2, padding: 1, device: dev });
    const params = load(conv, f);
    const x = leaf(f, "x", dev);
    const y = conv.forward(x);
    y.mul(fx(f.inputs.grad_output, dev)).sum().backward();
    return { outputs: { y }, grads: { x: x.grad!, ...paramGrads(params) } };
  },

  mlp_ln_silu_mse(f, dev) {
    const net = new Sequential(
      new Linear(5, 7, { device: dev }),
      new LayerNorm(7, { eps: f.config.ln_eps, device: dev }),
      new Activation("silu"),
      new Linear(7, 3, { device: dev }),
    );
    const params = load(net, f);
    const x = leaf(f, "x", dev);
    const y = net.forward(x);
    const loss = y.sub(fx(f.inputs.target, dev)).square().mean();
    loss.backward();
    return { outputs: { y, loss }, grads: { x: x.grad!, ...paramGrads(params) } };
  },

  dreamer_gru_step: (f, dev) => gruStep(f, dev),
  dreamer_gru_step_g1: (f, dev) => gruStep(f, dev),

  symlog(f, dev) {
    const x = leaf(f, "x", dev);
    const xs = leaf(f, "x_small", dev);
    const y = x.symlog();
    const ys = xs.symexp();
    y.mul(fx(f.inputs.grad_output, dev)).sum()
      .add(ys.mul(fx(f.inputs.grad_output_small, dev)).sum()).backward();
    return { outputs: { y, y_small: ys }, grads: { x: x.grad!, x_small: xs.grad! } };
  },

  twohot_ce: (f, dev) => twohotCase(f, dev),
  twohot_ce_tdmpc2: (f, dev) => twohotCase(f, dev),

  simnorm(f, dev) {
    const x = leaf(f, "x", dev);
    const y = new SimNorm(f.config.group).forward(x);
    y.mul(fx(f.inputs.grad_output, dev)).sum().backward();
    return { outputs: { y }, grads: { x: x.grad! } };
  },

  kl_categorical_free_bits(f, dev) {
    const c = f.config;
    const post = leaf(f, "post_logits", dev);
    const prior = leaf(f, "prior_logits", dev);
    const lp = unimixLogp(post, c.unimix);
    const lq = unimixLogp(prior, c.unimix);
    const klRaw = catKl(lp, lq);
    // Free bits: max(free, kl); KL balancing with stop-gradients through detach().
    const dyn = catKl(lp.detach(), lq).maximum(c.free_nats);
    const rep = catKl(lp, lq.detach()).maximum(c.free_nats);
    const loss = dyn.mul(c.dyn_scale).add(rep.mul(c.rep_scale)).mean();
    loss.backward();
    return {
      outputs: { kl_raw: klRaw, dyn, rep, loss },
      grads: { post_logits: post.grad!, prior_logits: prior.grad! },
    };
  },

  ln_mish_simnorm(f, dev) {
    const net = new Sequential(
      new Linear(6, 16, { device: dev }),
      new LayerNorm(16, { eps: f.config.ln_eps, device: dev }),
      new Activation("mish"),
      new SimNorm(f.config.simnorm_group),
    );
    const params = load(net, f);
    const x = leaf(f, "x", dev);
    const y = net.forward(x);
    y.mul(fx(f.inputs.grad_output, dev)).sum().backward();
    return { outputs: { y }, grads: { x: x.grad!, ...paramGrads(params) } };
  },
};

function gruStep(f: Fixture, dev: Dev): Result {
  const c = f.config;
  const cell = new GRUCell(c.input, c.hidden, { blocks: c.blocks, eps: c.ln_eps, device: dev });
  const params = load(cell, f);
  const x = leaf(f, "x", dev);
  const h = leaf(f, "h", dev);
  const hNew = cell.forward(x, h);
  hNew.mul(fx(f.inputs.grad_output, dev)).sum().backward();
  return { outputs: { h_new: hNew }, grads: { x: x.grad!, h: h.grad!, ...paramGrads(params) } };
}

function twohotCase(f: Fixture, dev: Dev): Result {
  const c = f.config;
  const bins = linspace(c.bins_low, c.bins_high, c.num_bins, { device: dev });
  const logits = leaf(f, "logits", dev);
  const target = twohot(fx(f.inputs.x, dev).symlog(), bins);
  const loss = twohotLoss(logits, target);
  const pred = logits.softmax(-1).mul(bins).sum(-1).symexp();
  loss.backward();
  // The two-hot weights are affine in y with slope 1/spacing, so float32 rounding of y =
  // symlog(x) and of the bins (an ulp of up to 2^-23 * max|bins|) moves a weight by up to
  // ulp/spacing: 1e-6 already at x = 0.37 (K = 255), far above the mixed tolerance's floor of
  // 1e-7. The targets get an absolute tolerance of 4 such ulps (6e-5 for K = 255, 2.4e-5 for
  // K = 101), and the logits' gradient (softmax - target) / batch that divided by the batch; a
  // wrong encoding is off by O(0.1). Loss and prediction keep the plain 1e-4.
  const spacing = (c.bins_high - c.bins_low) / (c.num_bins - 1);
  const ulp = 2 ** -23 * Math.max(Math.abs(c.bins_low), Math.abs(c.bins_high));
  const targetAtol = (4 * ulp) / spacing;
  return {
    outputs: { bins, loss, target, pred },
    grads: { logits: logits.grad! },
    atol: { "output target": targetAtol, "gradient logits": targetAtol / logits.shape[0] },
  };
}

async function check(name: string, dev: Dev): Promise<void> {
  const f = loadFixture(name);
  const handler = HANDLERS[name];
  assert.ok(handler, `fixture ${name} has no handler in torch_test.ts`);
  const r = handler(f, dev);
  for (
    const [kind, ref, ours] of [
      ["output", f.outputs, r.outputs],
      ["gradient", f.grads, r.grads],
    ] as const
  ) {
    assert.deepEqual(
      Object.keys(ours).sort(),
      Object.keys(ref).sort(),
      `${name}: ${kind}s computed vs in the fixture`,
    );
    for (const [k, t] of Object.entries(ref)) {
      const got = ours[k];
      assert.deepEqual(got.shape, t.shape, `${name} ${kind} ${k}: shape`);
      assertClose(await got.data() as Float32Array, Float64Array.from(t.data), {
        rtol: RTOL,
        atol: r.atol?.[`${kind} ${k}`] ?? 0,
        shape: t.shape,
        label: `${name} (${dev}) ${kind} ${k}`,
      });
    }
  }
}

/** Fixtures whose checks live in their own test file (whole-update cases, not one op). */
const OWNED_ELSEWHERE: Record<string, string> = {
  tdmpc2_update: "tests/models/tdmpc2_update_test.ts",
};
const NAMES = fixtureNames().filter((n) => !(n in OWNED_ELSEWHERE));

Deno.test("torch fixtures: every fixture owned elsewhere exists and is loaded by its test file", () => {
  const all = fixtureNames();
  for (const [name, file] of Object.entries(OWNED_ELSEWHERE)) {
    assert.ok(all.includes(name), `fixture ${name} listed as owned by ${file} does not exist`);
    const src = Deno.readTextFileSync(new URL(`../../${file}`, import.meta.url));
    assert.ok(src.includes(`loadFixture("${name}")`), `${file} does not load fixture ${name}`);
  }
});

Deno.test("torch fixtures: every fixture has a handler, every handler a fixture", () => {
  assert.ok(NAMES.length >= 11, `found ${NAMES.length} fixtures`);
  assert.deepEqual(NAMES, Object.keys(HANDLERS).sort());
});

for (const name of NAMES) {
  Deno.test(`torch fixture ${name} (cpu)`, () => check(name, "cpu"));
  Deno.test({
    name: `torch fixture ${name} (webgpu)`,
    ignore: !GPU,
    fn: () => check(name, "webgpu"),
  });
}
