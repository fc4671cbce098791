import assert from "node:assert/strict";
import {
  CategoricalLatentSpace,
  GaussianLatentSpace,
  randn,
  SimNormLatentSpace,
  tensor,
  valueAndGrad,
} from "../../mod.ts";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])),
      `[${i}] ${a[i]} vs ${b[i]}`,
    );
  }
};
const softplus = (x: number) => Math.log1p(Math.exp(x));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

Deno.test("latent: Gaussian split, sample, mode, KL and entropy against closed forms", async () => {
  const p = [0.5, -1, 0.3, 2]; // mean [0.5, -1], raw std [0.3, 2]
  const q = [0, 0.2, -0.4, 0.1];
  for (const stdParam of ["softplus", "sigmoid"] as const) {
    const space = new GaussianLatentSpace(2, { stdParam, minStd: 0.1, maxStd: 2 });
    const std = (
      r: number,
    ) => (stdParam === "softplus" ? softplus(r) + 0.1 : 0.1 + 1.9 * sigmoid(r));
    const P = tensor([p]);
    const Q = tensor([q]);
    const { mean, std: s } = space.split(P);
    close(await mean.data(), [0.5, -1]);
    close(await s.data(), [std(0.3), std(2)]);
    assert.deepEqual(await space.mode(P).data(), await mean.data());
    assert.deepEqual(await space.sample(P, { deterministic: true }).data(), await mean.data());
    let kl = 0;
    let klN = 0;
    let ent = 0;
    for (let i = 0; i < 2; i++) {
      const [m1, s1, m2, s2] = [p[i], std(p[i + 2]), q[i], std(q[i + 2])];
      kl += Math.log(s2 / s1) + (s1 * s1 + (m1 - m2) ** 2) / (2 * s2 * s2) - 0.5;
      klN += 0.5 * (s1 * s1 + m1 * m1 - 1) - Math.log(s1);
      ent += 0.5 * Math.log(2 * Math.PI * Math.E * s1 * s1);
    }
    close(await space.klDivergence(P, Q).data(), [kl]);
    close(await space.klDivergence(P, P).data(), [0]);
    close(await space.klToStandardNormal(P).data(), [klN]);
    close(await space.entropy(P).data(), [ent]);
    close(await space.klDivergence(P, Q, { freeNats: 100 }).data(), [100]);
  }
});

Deno.test("latent: Gaussian samples are reparameterised (gradients reach mean and std)", async () => {
  const space = new GaussianLatentSpace(3, { stdParam: "softplus" });
  const params = randn([4096, 6], { seed: 1 }).mul(0.1);
  const z = space.sample(params, { seed: 2 });
  // sample statistics follow the parameters
  const { mean, std } = space.split(params);
  const zs = await z.sub(mean).div(std).data();
  let m = 0;
  let v = 0;
  for (const x of zs) m += x / zs.length;
  for (const x of zs) v += (x - m) ** 2 / zs.length;
  assert.ok(Math.abs(m) < 0.05 && Math.abs(v - 1) < 0.05, `${m} ${v}`);
  const [, [g]] = valueAndGrad((x) => space.sample(x, { seed: 3 }).sum())(
    tensor([[1, 2, 3, 0, 0, 0]]),
  );
  const gd = await g.data();
  close(gd.slice(0, 3), [1, 1, 1]); // d/dmean
  assert.ok(Array.from(gd.slice(3)).some((x) => x !== 0)); // d/dstd flows through eps
});

Deno.test("latent: Categorical with unimix and straight-through samples", async () => {
  const space = new CategoricalLatentSpace(3, 4, { unimix: 0.01 });
  const logits = randn([5, 12], { seed: 4 }).mul(5);
  const probs = space.probs(logits);
  assert.deepEqual(probs.shape, [5, 3, 4]);
  const pd = await probs.data();
  for (let g = 0; g < 15; g++) {
    const row = Array.from(pd.slice(g * 4, g * 4 + 4));
    close([row.reduce((a, b) => a + b)], [1]);
    assert.ok(Math.min(...row) >= 0.01 / 4 - 1e-7, "unimix floor");
  }
  const sample = space.sample(logits, { seed: 5 });
  assert.deepEqual(sample.shape, [5, 12]);
  const sd = await sample.data();
  for (let g = 0; g < 15; g++) {
    const row = Array.from(sd.slice(g * 4, g * 4 + 4));
    assert.deepEqual(row.sort(), [0, 0, 0, 1], "exactly one-hot values");
  }
  // mode = one-hot of the argmax
  const mode = await space.mode(logits).data();
  const am = await probs.argmax(-1).data();
  for (let g = 0; g < 15; g++) assert.equal(mode[g * 4 + am[g]], 1);
  // straight-through: the gradient is the gradient of the probabilities
  const w = randn([5, 12], { seed: 6 });
  const [, [gs]] = valueAndGrad((x) => space.sample(x, { seed: 7 }).mul(w).sum())(logits);
  const [, [gp]] = valueAndGrad((x) => space.probs(x).reshape([5, 12]).mul(w).sum())(logits);
  close(await gs.data(), await gp.data());
  // the [.., groups, classes] layout is kept
  assert.deepEqual(space.sample(logits.reshape([5, 3, 4])).shape, [5, 3, 4]);
});

Deno.test("latent: Categorical KL and entropy", async () => {
  const space = new CategoricalLatentSpace(2, 3, { unimix: 0.01 });
  const a = [1, 2, 0, -1, 0, 3];
  const b = [0, 0, 1, 2, -2, 0];
  const mix = (l: number[]) => {
    const e = l.map(Math.exp);
    const s = e.reduce((x, y) => x + y);
    return e.map((x) => 0.99 * (x / s) + 0.01 / 3);
  };
  let kl = 0;
  let ent = 0;
  for (let g = 0; g < 2; g++) {
    const p = mix(a.slice(g * 3, g * 3 + 3));
    const q = mix(b.slice(g * 3, g * 3 + 3));
    for (let i = 0; i < 3; i++) {
      kl += p[i] * Math.log(p[i] / q[i]);
      ent -= p[i] * Math.log(p[i]);
    }
  }
  close(await space.klDivergence(tensor([a]), tensor([b])).data(), [kl]);
  close(await space.klDivergence(tensor([a]), tensor([a])).data(), [0]);
  close(await space.entropy(tensor([a])).data(), [ent]);
  close(await space.entropy(tensor([[0, 0, 0, 0, 0, 0]])).data(), [2 * Math.log(3)]);
  close(await space.klDivergence(tensor([a]), tensor([b]), { freeNats: 1 }).data(), [
    Math.max(kl, 1),
  ]);
});

Deno.test("latent: SimNorm sample, KL and entropy", async () => {
  const space = new SimNormLatentSpace(8, 4);
  const x = randn([3, 8], { seed: 8 });
  const z = await space.sample(x).data();
  for (let g = 0; g < 6; g++) {
    close([Array.from(z.slice(g * 4, g * 4 + 4)).reduce((a, b) => a + b)], [1]);
  }
  assert.deepEqual(z, await space.mode(x).data());
  close(await space.klDivergence(x, x).data(), [0, 0, 0]);
  const y = randn([3, 8], { seed: 9 });
  const kl = await space.klDivergence(x, y).data();
  const zy = await space.sample(y).data();
  for (let r = 0; r < 3; r++) {
    let want = 0;
    for (let i = r * 8; i < r * 8 + 8; i++) want += z[i] * Math.log(z[i] / zy[i]);
    close([kl[r]], [want], 1e-4);
  }
  close(await space.entropy(tensor([[0, 0, 0, 0, 5, 5, 5, 5]])).data(), [2 * Math.log(4)]);
  assert.throws(() => new SimNormLatentSpace(10, 4), /not a multiple/);
});
