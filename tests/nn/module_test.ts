/**
 * nn: Module naming and state dicts, train/eval, initialisers, ensembles and the block GRU.
 */

import assert from "node:assert/strict";
import {
  Activation,
  concat,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  EnsembleLinear,
  EnsembleMLP,
  Generator,
  grad,
  GRUCell,
  initWeight,
  LayerNorm,
  layerNorm,
  Linear,
  mlp,
  Module,
  ones,
  Parameter,
  randn,
  RMSNorm,
  Sequential,
  StateDictError,
  type Tensor,
  tensor,
  tidy,
  truncNormalInit,
} from "../../mod.ts";
import { assertClose, Rng, webgpu } from "../util.ts";
import { type Dev, values } from "../grad_util.ts";

const GPU = await webgpu();
const DEVICES: Dev[] = GPU ? ["cpu", "webgpu"] : ["cpu"];

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

class Encoder extends Module {
  layers = [new Linear(2, 3), new Linear(3, 3, { bias: false })];
  forward(x: Tensor): Tensor {
    return this.layers[1].forward(this.layers[0].forward(x).relu());
  }
}

class Block extends Module {
  fc = new Linear(3, 4);
  norm = new LayerNorm(4);
  _private = new Linear(1, 1); // underscore fields are not part of the module tree
}

class Net extends Module {
  encoder = new Encoder();
  blocks = [new Block(), new Block()];
  head = new Sequential(new Linear(4, 4), new Activation("relu"), new Linear(4, 1));
  scale = new Parameter(ones([1]));
  notAModule = { w: new Linear(1, 1) }; // plain objects are not searched
  tied: Linear;
  constructor() {
    super();
    this.tied = this.head.layers[0] as Linear; // shared: listed once, under its first name
  }
}

const NET_NAMES = [
  "encoder.layers.0.weight",
  "encoder.layers.0.bias",
  "encoder.layers.1.weight",
  "blocks.0.fc.weight",
  "blocks.0.fc.bias",
  "blocks.0.norm.weight",
  "blocks.0.norm.bias",
  "blocks.1.fc.weight",
  "blocks.1.fc.bias",
  "blocks.1.norm.weight",
  "blocks.1.norm.bias",
  "head.0.weight",
  "head.0.bias",
  "head.2.weight",
  "head.2.bias",
  "scale",
];

Deno.test("module: dotted names of nested modules, arrays and Sequential", () => {
  const net = new Net();
  const named = net.namedParameters();
  assert.deepEqual(named.map(([k]) => k), NET_NAMES);
  // parameters() is the same list, in the same order
  assert.deepEqual(net.parameters(), named.map(([, p]) => p));
  // the shapes follow PyTorch's layouts
  const byName = Object.fromEntries(named);
  assert.deepEqual(byName["encoder.layers.0.weight"].shape, [3, 2]);
  assert.deepEqual(byName["blocks.1.norm.bias"].shape, [4]);
  assert.deepEqual(byName["head.2.weight"].shape, [1, 4]);
  assert.deepEqual(Object.keys(net.stateDict()), NET_NAMES);
  assert.deepEqual(
    net.namedModules().map(([k]) => k),
    [
      "",
      "encoder",
      "encoder.layers.0",
      "encoder.layers.1",
      "blocks.0",
      "blocks.0.fc",
      "blocks.0.norm",
      "blocks.1",
      "blocks.1.fc",
      "blocks.1.norm",
      "head",
      "head.0",
      "head.1",
      "head.2",
      "tied",
    ],
  );
  assert.equal(net.numParameters(), named.reduce((s, [, p]) => s + p.size, 0));
  // A prefix is prepended to every name.
  assert.deepEqual(
    new Block().namedParameters("x.y").map(([k]) => k),
    ["x.y.fc.weight", "x.y.fc.bias", "x.y.norm.weight", "x.y.norm.bias"],
  );
  // mlp() numbers its Sequential: Linear (no bias when normed), norm, act, ..., out Linear.
  assert.deepEqual(
    Object.keys(mlp(3, [5, 5], 2).stateDict()),
    ["0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias", "6.weight", "6.bias"],
  );
});

Deno.test("module: buffers are in the state dict under dotted names", async () => {
  const net = new Net();
  net.blocks[1].registerBuffer("running", tensor([1, 2, 3]));
  const sd = net.stateDict();
  assert.ok("blocks.1.running" in sd);
  const other = new Net();
  other.blocks[1].registerBuffer("running", tensor([0, 0, 0]));
  other.loadStateDict(sd);
  assert.deepEqual(await values(other.blocks[1].getBuffer("running")), [1, 2, 3]);
});

// ---------------------------------------------------------------------------------------------
// State dicts
// ---------------------------------------------------------------------------------------------

for (const dev of DEVICES) {
  Deno.test(`module: stateDict/loadStateDict round trip (${dev})`, async () => {
    const a = mlp(4, [8], 3, { device: dev, generator: new Generator(1) });
    const b = mlp(4, [8], 3, { device: dev, generator: new Generator(2) });
    const x = randn([5, 4], { seed: 3, device: dev });
    const ya = await values(a.forward(x));
    assert.notDeepEqual(await values(b.forward(x)), ya);
    const before = b.parameters();
    const r = b.loadStateDict(a.stateDict());
    assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] });
    // in place: the same Parameter objects, now with a's values
    assert.deepEqual(b.parameters(), before);
    for (const [k, p] of b.namedParameters()) {
      assert.deepEqual(await values(p), await values(a.stateDict()[k]), k);
    }
    assert.deepEqual(await values(b.forward(x)), ya);
    // {shape, data} records (as read from files) load too
    const c = mlp(4, [8], 3, { device: dev, generator: new Generator(4) });
    const records: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, p] of a.namedParameters()) {
      records[k] = { shape: p.shape, data: await p.data() as Float32Array };
    }
    c.loadStateDict(records);
    assert.deepEqual(await values(c.forward(x)), ya);
  });
}

Deno.test({
  name: "module: a cpu state dict loads into a webgpu module",
  ignore: !GPU,
  fn: async () => {
    const a = mlp(4, [8], 3, { device: "cpu", generator: new Generator(1) });
    const b = mlp(4, [8], 3, { device: "webgpu", generator: new Generator(2) });
    b.loadStateDict(a.stateDict());
    for (const [k, p] of b.namedParameters()) {
      assert.equal(p.device, "webgpu");
      assert.deepEqual(await values(p), await values(a.stateDict()[k]), k);
    }
  },
});

async function snapshot(m: Module): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of m.parameters()) out.push(await values(p));
  return out;
}

Deno.test("module: loadStateDict strict errors name the keys and shapes", async () => {
  const net = mlp(4, [8], 3, { generator: new Generator(1) });
  const good = mlp(4, [8], 3, { generator: new Generator(2) }).stateDict();
  const before = await snapshot(net);

  // missing key
  const missing = { ...good };
  delete missing["3.bias"];
  assert.throws(() => net.loadStateDict(missing), (e: unknown) => {
    assert.ok(e instanceof StateDictError, String(e));
    assert.match(e.message, /missing keys: 3\.bias/);
    return true;
  });
  // unexpected key
  assert.throws(() => net.loadStateDict({ ...good, "9.weight": tensor([1]) }), (e: unknown) => {
    assert.ok(e instanceof StateDictError);
    assert.match(e.message, /unexpected keys: 9\.weight/);
    return true;
  });
  // wrong shape: names the key and both shapes
  const wrong = { ...good, "3.weight": tensor(new Float32Array(24), [8, 3]) };
  assert.throws(() => net.loadStateDict(wrong), (e: unknown) => {
    assert.ok(e instanceof StateDictError);
    assert.match(e.message, /"3\.weight"/);
    assert.match(e.message, /\[8, 3\]/);
    assert.match(e.message, /\[3, 8\]/);
    return true;
  });
  // wrong shape is an error without strict too
  assert.throws(() => net.loadStateDict(wrong, { strict: false }), StateDictError);
  // a failed load leaves the module untouched (no half-loaded model)
  assert.deepEqual(await snapshot(net), before);

  // strict: false loads the subset and reports the rest
  const subset = { "0.weight": good["0.weight"], "extra": tensor([1]) };
  const r = net.loadStateDict(subset, { strict: false });
  assert.deepEqual(r.unexpectedKeys, ["extra"]);
  assert.deepEqual(r.missingKeys, ["1.weight", "1.bias", "3.weight", "3.bias"]);
  assert.deepEqual(await values(net.stateDict()["0.weight"]), await values(good["0.weight"]));
  assert.deepEqual((await snapshot(net)).slice(1), before.slice(1));
});

// ---------------------------------------------------------------------------------------------
// train / eval, Dropout
// ---------------------------------------------------------------------------------------------

Deno.test("module: train()/eval() propagate; Dropout is identity in eval", async () => {
  const drop = new Dropout(0.5, new Generator(11));
  const net = new Sequential(new Linear(4, 4), new Sequential(drop, new Activation("relu")));
  const all = () => net.namedModules().map(([, m]) => m.training);
  assert.ok(all().every((t) => t));
  assert.equal(net.eval(), net);
  assert.ok(all().every((t) => !t));
  const x = randn([64, 16], { seed: 5 });
  const xv = await values(x);
  assert.deepEqual(await values(drop.forward(x)), xv, "eval: dropout is the identity");
  net.train();
  assert.ok(all().every((t) => t));
  const y = await values(drop.forward(x));
  let zeros = 0;
  y.forEach((v, i) => {
    if (v === 0) zeros++;
    else assert.ok(Math.abs(v - 2 * xv[i]) <= 1e-6 * Math.abs(xv[i]), "kept values scaled by 2");
  });
  assert.ok(zeros > 0.4 * y.length && zeros < 0.6 * y.length, `${zeros} of ${y.length} dropped`);
  net.train(false);
  assert.ok(all().every((t) => !t));
  assert.throws(() => new Dropout(1), /\[0, 1\)/);
});

Deno.test("module: requiresGrad_(false) freezes, zeroGrad clears, params survive tidy", () => {
  const lin = new Linear(3, 2);
  const x = randn([4, 3], { seed: 1 });
  tidy(() => lin.forward(x).sum()).backward();
  assert.ok(lin.weight.grad && lin.bias!.grad);
  lin.zeroGrad();
  assert.equal(lin.weight.grad, null);
  assert.ok(!lin.weight.isDisposed, "parameters survive tidy");
  lin.requiresGrad_(false);
  assert.equal(lin.forward(x).sum().requiresGrad, false);
});

Deno.test({
  name: "module: to(device) moves parameters in place",
  ignore: !GPU,
  fn: async () => {
    const net = mlp(3, [4], 2, { device: "cpu", generator: new Generator(3) });
    const ps = net.parameters();
    const vals = await snapshot(net);
    await net.to("webgpu");
    assert.deepEqual(net.parameters(), ps);
    assert.ok(ps.every((p) => p.device === "webgpu"));
    assert.deepEqual(await snapshot(net), vals);
  },
});

// ---------------------------------------------------------------------------------------------
// Initialisers
// ---------------------------------------------------------------------------------------------

function stats(v: number[]): { mean: number; std: number; min: number; max: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}

Deno.test("init: PyTorch default U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for Linear and convs", async () => {
  const g = new Generator(21);
  const cases: [string, Parameter, Parameter, number][] = [];
  const lin = new Linear(64, 128, { generator: g });
  cases.push(["Linear", lin.weight, lin.bias!, 64]);
  const conv = new Conv2d(8, 16, 3, { generator: g });
  cases.push(["Conv2d", conv.weight, conv.bias!, 8 * 9]);
  // PyTorch takes a transposed conv's fan-in from weight.size(1) * k * k (the output channels).
  const convT = new ConvTranspose2d(16, 4, 4, { generator: g });
  cases.push(["ConvTranspose2d", convT.weight, convT.bias!, 4 * 16]);
  for (const [name, w, b, fanIn] of cases) {
    const bound = 1 / Math.sqrt(fanIn);
    const s = stats(await values(w));
    assert.ok(s.min >= -bound && s.max <= bound, `${name}: within ±${bound}`);
    assert.ok(s.max > 0.95 * bound && s.min < -0.95 * bound, `${name}: fills the range`);
    assert.ok(Math.abs(s.std / (bound / Math.sqrt(3)) - 1) < 0.1, `${name}: uniform std`);
    const sb = stats(await values(b));
    assert.ok(sb.min >= -bound && sb.max <= bound, `${name} bias within ±${bound}`);
  }
});

Deno.test("init: truncNormal is within 2 std with the fan-in scaled std", async () => {
  // truncNormalInit(std): N(0, std^2) truncated at ±2 std (its own std is 0.8796 * std)
  const v = await values(truncNormalInit([200, 100], 0.5, { generator: new Generator(3) }));
  const s = stats(v);
  assert.ok(s.min >= -1 && s.max <= 1, `within 2 std: [${s.min}, ${s.max}]`);
  assert.ok(s.max > 0.95 && s.min < -0.95, "reaches the truncation points");
  assert.ok(Math.abs(s.mean) < 0.01, `mean ${s.mean}`);
  assert.ok(Math.abs(s.std / (0.5 * 0.87962566) - 1) < 0.03, `std ${s.std}`);
  // "truncNormal" (DreamerV3): std sqrt(1 / fanIn) after the truncation correction
  const fanIn = 256;
  const w = await values(initWeight("truncNormal", [128, fanIn], fanIn, 128, {
    generator: new Generator(4),
  }));
  const sw = stats(w);
  const target = Math.sqrt(1 / fanIn);
  assert.ok(Math.abs(sw.std / target - 1) < 0.03, `std ${sw.std} vs ${target}`);
  assert.ok(sw.max <= (2 * target) / 0.87962566 + 1e-7, "within 2 std of the raw normal");
  // GRUCell uses it by default: fan-in = hidden/blocks + input
  const cell = new GRUCell(32, 64, { blocks: 4, generator: new Generator(5) });
  const sc = stats(await values(cell.weight));
  assert.ok(Math.abs(sc.std / Math.sqrt(1 / (16 + 32)) - 1) < 0.05, `GRU std ${sc.std}`);
});

Deno.test("init: zeros for output heads; same generator, same values on every device", async () => {
  const head = mlp(4, [8], 3, { outInit: "zeros", generator: new Generator(1) });
  const out = head.layers[head.layers.length - 1] as Linear;
  assert.ok((await values(out.weight)).every((v) => v === 0));
  assert.ok((await values(out.bias!)).every((v) => v === 0));
  assert.ok((await values((head.layers[0] as Linear).weight)).some((v) => v !== 0));
  const ens = new EnsembleMLP(3, 4, [8], 2, { generator: new Generator(1) });
  assert.ok((await values(ens.out.weight)).every((v) => v === 0), "ensemble Q heads are zeros");
  // xavierUniform bound
  const xv = stats(
    await values(initWeight("xavierUniform", [30, 20], 20, 30, {
      generator: new Generator(2),
    })),
  );
  const a = Math.sqrt(6 / 50);
  assert.ok(xv.min >= -a && xv.max <= a && xv.max > 0.9 * a);
  if (GPU) {
    const c = new Linear(5, 7, { generator: new Generator(9), device: "cpu" });
    const w = new Linear(5, 7, { generator: new Generator(9), device: "webgpu" });
    assertClose(await values(w.weight), await values(c.weight), { rtol: 1e-6 });
    assertClose(await values(w.bias!), await values(c.bias!), { rtol: 1e-6 });
  }
});

// ---------------------------------------------------------------------------------------------
// Ensembles
// ---------------------------------------------------------------------------------------------

/** The member MLP's parameter name of an EnsembleMLP parameter. */
function memberName(ensName: string, hidden: number): string {
  const [kind, a, b] = ensName.split(".");
  if (kind === "layers") return `${3 * Number(a)}.${b}`;
  if (kind === "norms") return `${3 * Number(a) + 1}.${b}`;
  return `${3 * hidden}.${a}`; // out.weight / out.bias
}

/** Member `i` of an EnsembleMLP as a separate Sequential of our layers, with copied params. */
async function member(ens: EnsembleMLP, i: number, dev: Dev): Promise<Sequential> {
  const slice = async (p: Tensor) => {
    const d = await p.data() as Float32Array;
    const per = p.size / p.shape[0];
    return { shape: p.shape.slice(1), data: d.slice(i * per, (i + 1) * per) };
  };
  const layers: Module[] = [];
  const sd: Record<string, { shape: number[]; data: Float32Array }> = {};
  let at = 0;
  for (let l = 0; l < ens.layers.length; l++) {
    const lin = ens.layers[l];
    layers.push(new Linear(lin.inFeatures, lin.outFeatures, { device: dev }));
    sd[`${at}.weight`] = await slice(lin.weight);
    sd[`${at}.bias`] = await slice(lin.bias!);
    layers.push(new LayerNorm(lin.outFeatures, { device: dev }));
    sd[`${at + 1}.weight`] = await slice(ens.norms[l].weight);
    sd[`${at + 1}.bias`] = await slice(ens.norms[l].bias);
    layers.push(new Activation(ens.act));
    at += 3;
  }
  layers.push(new Linear(ens.out.inFeatures, ens.out.outFeatures, { device: dev }));
  sd[`${at}.weight`] = await slice(ens.out.weight);
  sd[`${at}.bias`] = await slice(ens.out.bias!);
  const seq = new Sequential(...layers);
  seq.loadStateDict(sd);
  return seq;
}

for (const dev of DEVICES) {
  Deno.test(`ensemble: EnsembleMLP equals N separate MLPs one by one (${dev})`, async () => {
    const n = 3;
    const ens = new EnsembleMLP(n, 5, [8, 6], 2, {
      outInit: "default",
      generator: new Generator(7),
      device: dev,
    });
    // non-trivial norm parameters
    const rng = new Rng(3);
    for (const nm of ens.norms) {
      nm.weight.assign(
        tensor(rng.uniform(nm.weight.size, 0.5, 1.5), nm.weight.shape, { device: dev }),
      );
      nm.bias.assign(tensor(rng.normal(nm.bias.size, 0, 0.3), nm.bias.shape, { device: dev }));
    }
    const members: Sequential[] = [];
    for (let i = 0; i < n; i++) members.push(await member(ens, i, dev));

    // shared input [B, in] and per-member input [n, B, in]
    const shared = tensor(rng.normal(4 * 5), [4, 5], { device: dev }).setRequiresGrad();
    const y = ens.forward(shared);
    assert.deepEqual(y.shape, [n, 4, 2]);
    const w = tensor(rng.uniform(n * 4 * 2, -1, 1), [n, 4, 2], { device: dev });
    y.mul(w).sum().backward();
    const yv = await values(y);
    let gx = new Float64Array(20);
    for (let i = 0; i < n; i++) {
      const xi = shared.detach().setRequiresGrad();
      const yi = members[i].forward(xi);
      // outputs: different kernels (one batched product vs one per member) may round a
      // float32 sum differently; 1e-4 with a small absolute floor
      assertClose(await values(yi), yv.slice(i * 8, (i + 1) * 8), {
        rtol: 1e-4,
        atol: 1e-6,
        label: `member ${i} output`,
      });
      yi.mul(w.slice([i], [1]).squeeze(0)).sum().backward();
      // member i's parameter gradients equal slice i of the ensemble's
      const memParams = Object.fromEntries(members[i].namedParameters());
      for (const [name, p] of ens.namedParameters()) {
        const per = p.size / n;
        const mine = memParams[memberName(name, ens.layers.length)];
        assert.deepEqual(mine.shape, p.shape.slice(1), name);
        const slice = (await values(p.grad!)).slice(i * per, (i + 1) * per);
        assertClose(await values(mine.grad!), slice, {
          rtol: 1e-4,
          atol: 1e-6, // float32 sums over the batch in a different order (fused multiply-adds)
          label: `member ${i} gradient of ${name}`,
        });
      }
      const g = await values(xi.grad!);
      gx = gx.map((v, j) => v + g[j]);
    }
    // the shared input's gradient is the sum over members
    assertClose(await values(shared.grad!), gx, { rtol: 1e-4, label: "shared input gradient" });

    const per = tensor(rng.normal(n * 4 * 5), [n, 4, 5], { device: dev });
    const yp = await values(ens.forward(per));
    for (let i = 0; i < n; i++) {
      const yi = await values(members[i].forward(per.slice([i], [1]).squeeze(0)));
      assertClose(yi, yp.slice(i * 8, (i + 1) * 8), {
        rtol: 1e-4,
        atol: 1e-6,
        label: `per-member ${i}`,
      });
    }
  });
}

Deno.test("ensemble: EnsembleLinear checks its input shape", () => {
  const e = new EnsembleLinear(3, 4, 2);
  assert.throws(() => e.forward(randn([2, 4, 4], { seed: 1 })), /\[3, B, 4\]/);
  assert.throws(() => e.forward(randn([5, 3], { seed: 1 })), /\[3, B, 4\]/);
});

// ---------------------------------------------------------------------------------------------
// GRU cell
// ---------------------------------------------------------------------------------------------

/**
 * The block GRU written densely: z = concat(h, x) @ W (W [H + I, 3H], block-diagonal in the h
 * rows, block g's columns g*3p .. (g+1)*3p), then layer norm within each block's 3p columns.
 */
async function denseGru(cell: GRUCell, x: Tensor, h: Tensor, dev: Dev): Promise<Tensor> {
  const g = cell.blocks, hid = cell.hiddenSize, inp = cell.inputSize, p = hid / g;
  const wb = await cell.weight.data() as Float32Array; // [G, p + I, 3p]
  const dense = new Float32Array((hid + inp) * 3 * hid);
  for (let b = 0; b < g; b++) {
    for (let r = 0; r < p + inp; r++) {
      const row = r < p ? b * p + r : hid + (r - p); // h rows of block b, then all x rows
      for (let c = 0; c < 3 * p; c++) {
        dense[row * 3 * hid + b * 3 * p + c] = wb[(b * (p + inp) + r) * 3 * p + c];
      }
    }
  }
  const W = tensor(dense, [hid + inp, 3 * hid], { device: dev });
  const bsz = h.shape[0];
  const z = concat([h, x], 1).matmul(W).reshape([bsz, g, 3 * p]);
  const y = layerNorm(z, null, null, 1e-3)
    .mul(cell.norm.weight.reshape([g, 3 * p]))
    .add(cell.norm.bias.reshape([g, 3 * p]));
  const [reset, cand, update] = y.split([p, p, p], 2);
  const c = reset.sigmoid().mul(cand).tanh();
  const u = update.sub(1).sigmoid();
  return u.mul(c).add(u.neg().add(1).mul(h.reshape([bsz, g, p]))).reshape([bsz, hid]);
}

for (const dev of DEVICES) {
  Deno.test(`gru: GRUCell(blocks=G) equals a dense cell with a block-diagonal weight (${dev})`, async () => {
    for (const blocks of [1, 4]) {
      const cell = new GRUCell(5, 8, { blocks, generator: new Generator(blocks), device: dev });
      const rng = new Rng(blocks);
      cell.norm.weight.assign(tensor(rng.uniform(24, 0.5, 1.5), [24], { device: dev }));
      cell.norm.bias.assign(tensor(rng.normal(24, 0, 0.3), [24], { device: dev }));
      assert.deepEqual(cell.weight.shape, [blocks, 8 / blocks + 5, 3 * 8 / blocks]);
      assert.deepEqual(Object.keys(cell.stateDict()), ["weight", "norm.weight", "norm.bias"]);
      const x = tensor(rng.normal(15), [3, 5], { device: dev }).setRequiresGrad();
      const h = tensor(rng.normal(24, 0, 0.5), [3, 8], { device: dev }).setRequiresGrad();
      const ours = cell.forward(x, h);
      const ref = await denseGru(cell, x, h, dev);
      assertClose(await values(ours), await values(ref), { rtol: 1e-5, label: `G=${blocks}` });
      const w = tensor(rng.uniform(24, -1, 1), [3, 8], { device: dev });
      const g1 = grad(ours.mul(w).sum(), [x, h]);
      const g2 = grad(ref.mul(w).sum(), [x, h]);
      for (let i = 0; i < 2; i++) {
        assertClose(await values(g1[i]), await values(g2[i]), { rtol: 1e-4, label: `grad ${i}` });
      }
    }
  });
}

Deno.test("gru: update gate bias -1 and the blocks' independence", async () => {
  // With zero weights and unit norm, the gates are all 0 pre-activation: r = 0.5, c = 0,
  // u = sigmoid(-1), so h' = (1 - sigmoid(-1)) * h.
  const cell = new GRUCell(3, 4, { blocks: 2, init: "zeros" });
  const h = tensor([[1, -2, 3, 0.5]]);
  const y = await values(cell.forward(tensor([[1, 2, 3]]), h));
  const k = 1 - 1 / (1 + Math.exp(1));
  assertClose(y, [k, -2 * k, 3 * k, 0.5 * k], { rtol: 1e-6 });
  // block g's new state does not depend on the other blocks' old state
  const c2 = new GRUCell(3, 4, { blocks: 2, generator: new Generator(8) });
  const hh = tensor([[0.3, -0.2, 0.1, 0.4]]).setRequiresGrad();
  const out = c2.forward(tensor([[1, 2, 3]]), hh);
  const [g] = grad(out.slice([0, 0], [1, 2]).sum(), [hh]);
  const gv = await values(g);
  assert.ok(gv[0] !== 0 && gv[1] !== 0);
  assert.deepEqual(gv.slice(2), [0, 0]);
  assert.throws(() => new GRUCell(3, 5, { blocks: 2 }), /not divisible/);
});

Deno.test("norms: LayerNorm/RMSNorm modules match the functional forms", async () => {
  const x = randn([3, 6], { seed: 2 });
  const ln = new LayerNorm(6, { eps: 1e-3 });
  assertClose(await values(ln.forward(x)), await values(layerNorm(x, null, null, 1e-3)));
  assert.equal(new LayerNorm(6, { affine: false }).parameters().length, 0);
  const rms = new RMSNorm(6);
  const xv = await values(x);
  const expected: number[] = [];
  for (let r = 0; r < 3; r++) {
    const row = xv.slice(r * 6, r * 6 + 6);
    const ms = row.reduce((a, b) => a + b * b, 0) / 6;
    for (const v of row) expected.push(v / Math.sqrt(ms + 1e-6));
  }
  assertClose(await values(rms.forward(x)), expected, { rtol: 1e-5 });
});
