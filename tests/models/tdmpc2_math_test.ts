import assert from "node:assert/strict";
import {
  binCenters,
  layerNorm,
  noGrad,
  randn,
  RunningScale,
  simnorm,
  softCE,
  type TDMPC2Config,
  tdmpc2ConfigSchema,
  tdmpc2Discount,
  tensor,
  twoHot,
  twoHotInv,
} from "../../mod.ts";
import { fastMish } from "../../nn.ts";
import { fixtureStateDict, fx, loadFixture, values } from "../grad_util.ts";
import { assertSame } from "../util.ts";

const BINS = { numBins: 101, vmin: -10, vmax: 10 };

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

Deno.test("tdmpc2 math: two-hot cross-entropy matches the PyTorch fixture (loss, targets, decode, gradient)", async () => {
  const f = loadFixture("twohot_ce_tdmpc2");
  const logits = fx(f.inputs.logits, "cpu").setRequiresGrad();
  const x = fx(f.inputs.x, "cpu");
  close(await values(binCenters(BINS, "cpu")), f.outputs.bins.data, 1e-6, "bins");
  close(await values(twoHot(x, BINS)), f.outputs.target.data, 1e-5, "two-hot target");
  const loss = softCE(logits, x, BINS).mean();
  close([await loss.item()], f.outputs.loss.data, 1e-5, "loss");
  loss.backward();
  close(await values(logits.grad!), f.grads.logits.data, 1e-5, "grad");
  close(await values(twoHotInv(logits.detach(), BINS)), f.outputs.pred.data, 1e-4, "pred");
});

Deno.test("tdmpc2 math: two-hot round trip in symlog space and at the clamps", async () => {
  const x = tensor([0, 1, -1, 2.5, 1e6, -1e6]);
  const t = twoHot(x, BINS);
  assert.deepEqual(t.shape, [6, 101]);
  close(await values(t.sum(-1)), [1, 1, 1, 1, 1, 1], 1e-6, "targets sum to one");
  // decoding the two-hot target (as probabilities) returns x inside the range
  const back = await values(t.mul(binCenters(BINS, "cpu")).sum(-1).symexp());
  close(back.slice(0, 4), [0, 1, -1, 2.5], 1e-5, "inverse");
  close(back.slice(4), [Math.expm1(10), -Math.expm1(10)], 1e-5, "clamped to the range");
});

Deno.test("tdmpc2 math: a NaN target gives a NaN two-hot row and a NaN loss (not a zero target)", async () => {
  const x = tensor([NaN, 1]);
  const t = await values(twoHot(x, BINS));
  assert.ok(t.slice(0, 101).every(Number.isNaN), "the NaN row is NaN");
  assert.ok(t.slice(101).every(Number.isFinite), "the other row is unchanged");
  close([Array.from(t.slice(101)).reduce((a, b) => a + b, 0)], [1], 1e-6, "sums to 1");
  const loss = await softCE(randn([2, 101], { seed: 3 }), x, BINS).mean().item();
  assert.ok(Number.isNaN(loss), `loss ${loss}`);
});

Deno.test("tdmpc2 math: running 5-95 percentile scale (official RunningScale)", async () => {
  // 256 values 0..255 shuffled: positions 12.75 and 242.25 -> 12.75 and 242.25.
  const n = 256;
  const data = Float32Array.from({ length: n }, (_, i) => (i * 97) % n);
  const s = new RunningScale(0.01, "cpu");
  const p = await values(s.percentile(tensor(data, [n, 1])));
  close(p, [12.75, 242.25], 1e-6, "percentiles");
  const next = s.next(tensor(data, [n, 1]));
  close(await values(next), [1 + 0.01 * (229.5 - 1)], 1e-6, "lerp toward the range");
  s.commit(next);
  close(await values(s.value), [3.285], 1e-6, "committed in place");
  // a narrow batch is clamped to a range of 1
  const flat = new RunningScale(0.5, "cpu");
  flat.commit(flat.next(tensor(new Float32Array(n).fill(3), [n, 1])));
  close(await values(flat.value), [1], 0, "min range 1");
});

Deno.test("tdmpc2 math: discount heuristic from the episode length (official _get_discount)", () => {
  const c = (o: Partial<TDMPC2Config>) => tdmpc2ConfigSchema.parse(o);
  assert.equal(tdmpc2Discount(c({})), 0.995); // 1000 steps: 199/200 capped at 0.995
  assert.equal(tdmpc2Discount(c({ episodeLength: 100 })), 0.95); // 19/20
  assert.ok(Math.abs(tdmpc2Discount(c({ episodeLength: 500 })) - 0.99) < 1e-12);
  assert.equal(tdmpc2Discount(c({ episodeLength: 10 })), 0.95); // floor
  assert.equal(tdmpc2Discount(c({ discount: 0.9 })), 0.9);
});

Deno.test("tdmpc2 math: one-exponential mish matches PyTorch (Linear -> LayerNorm -> Mish -> SimNorm fixture, values and gradients)", async () => {
  const f = loadFixture("ln_mish_simnorm");
  const p = fixtureStateDict(f.params);
  const t = (k: string) => tensor(p[k].data, p[k].shape).setRequiresGrad();
  const [w, b, lw, lb] = ["0.weight", "0.bias", "1.weight", "1.bias"].map(t);
  const x = fx(f.inputs.x, "cpu").setRequiresGrad();
  const y = simnorm(fastMish(layerNorm(x.matmul(w.mT).add(b), lw, lb, 1e-5)), 8);
  close(await values(y), f.outputs.y.data, 1e-5, "y");
  y.mul(fx(f.inputs.grad_output, "cpu")).sum().backward();
  close(await values(x.grad!), f.grads.x.data, 1e-4, "dx");
  close(await values(w.grad!), f.grads["0.weight"].data, 1e-4, "dW");
  close(await values(lw.grad!), f.grads["1.weight"].data, 1e-4, "dLN.weight");
});

Deno.test("tdmpc2 math: mish without a gradient (one fused op) gives the same bits as with one", async () => {
  const x = randn([4096], { seed: 4 }).mul(8);
  const withGrad = fastMish(x.detach().setRequiresGrad());
  const without = noGrad(() => fastMish(x.detach().setRequiresGrad()));
  const plain = fastMish(x);
  assertSame(await without.data(), await withGrad.data(), "noGrad vs grad");
  assertSame(await plain.data(), await withGrad.data(), "no requiresGrad vs grad");
  // the op's own gradient (the op table's rule) agrees with the saved-exponential one
  const a = x.detach().setRequiresGrad(), b = x.detach().setRequiresGrad();
  fastMish(a).sum().backward();
  b.fastMish().sum().backward();
  close(await values(b.grad!), await values(a.grad!), 1e-6, "fastMish'");
});

Deno.test("tdmpc2 math: mish agrees with the op table's mish over a wide range (values and gradients)", async () => {
  const x = randn([4096], { seed: 3 }).mul(8);
  const a = x.detach().setRequiresGrad();
  const b = x.detach().setRequiresGrad();
  const ya = fastMish(a), yb = b.mish();
  close(await values(ya), await values(yb), 1e-5, "mish");
  ya.sum().backward();
  yb.sum().backward();
  close(await values(a.grad!), await values(b.grad!), 1e-5, "mish'");
});
