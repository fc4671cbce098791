/**
 * Kernel fusion: how many dispatches a graph takes, that shared values are computed once, that
 * fusion does not change results, and that expressions over more buffers than a kernel can bind
 * still run.
 */

import assert from "node:assert/strict";
import { concat, realize, type Tensor, tensor, where } from "../../mod.ts";
import type { Backend, Kernel } from "../../src/backend/types.ts";
import { getBackend } from "../../src/backend/device.ts";
import { type Expr, walkExpr } from "../../src/ir/expr.ts";
import { scheduleOptions, setKernelSink } from "../../src/tensor/schedule.ts";
import { assertClose, assertSame, numel, Rng, webgpu } from "../util.ts";

const GPU = await webgpu();
type Dev = "cpu" | "webgpu";
const DEVICES: Dev[] = GPU ? ["cpu", "webgpu"] : ["cpu"];

function data(rng: Rng, shape: number[], dev: Dev, lo = -2, hi = 2): Tensor {
  return tensor(rng.uniform(numel(shape), lo, hi), shape, { device: dev });
}

/** Runs `fn` and returns the kernels it emitted (they still run). */
function recordKernels(fn: () => void): Kernel[] {
  const seen: Kernel[] = [];
  const prev = setKernelSink((backend: Backend, kernel: Kernel) => {
    seen.push(kernel);
    backend.run(kernel);
  });
  try {
    fn();
  } finally {
    setKernelSink(prev);
  }
  return seen;
}

/** Dispatches recorded by `dev`'s backend while `fn` runs. */
function dispatches(dev: Dev, fn: () => void): number {
  const be = getBackend(dev);
  const before = be.dispatchCount;
  fn();
  return be.dispatchCount - before;
}

/** How often function `fn` (e.g. "exp") is evaluated by the emitted kernels. */
function countCalls(kernels: Kernel[], fn: string): number {
  let n = 0;
  for (const k of kernels) {
    const root: Expr | null = k.kind === "ew" || k.kind === "reduce"
      ? k.expr
      : k.kind === "matmul"
      ? k.epilogue
      : null;
    if (root) walkExpr(root, (e) => void (e.k === "call" && e.fn === fn && n++));
  }
  return n;
}

function withFusion<T>(on: boolean, fn: () => T): T {
  const prev = scheduleOptions.fusion;
  scheduleOptions.fusion = on;
  try {
    return fn();
  } finally {
    scheduleOptions.fusion = prev;
  }
}

const gpuTest = (name: string, fn: () => Promise<void> | void) =>
  Deno.test({ name, ignore: !GPU, fn });

gpuTest("fusion: a chain of five elementwise ops is one dispatch on webgpu", async () => {
  const rng = new Rng(1);
  const chain = (x: Tensor, b: Tensor) => x.mul(2).add(b).tanh().mul(x).exp();
  for (const shape of [[1000], [3, 67, 5]]) {
    const bshape = shape.slice(-1);
    const xs = rng.uniform(numel(shape), -2, 2);
    const bs = rng.uniform(bshape[0], -1, 1);
    const x = tensor(xs, shape, { device: "webgpu" });
    const b = tensor(bs, bshape, { device: "webgpu" });
    const y = chain(x, b);
    assert.equal(dispatches("webgpu", () => y.realize()), 1, `chain over [${shape}]`);
    const yc = chain(tensor(xs, shape), tensor(bs, bshape));
    assertClose(await y.data(), await yc.data(), { label: `values [${shape}]` });
    // the same chain unfused takes one dispatch per op
    const y2 = chain(x, b);
    assert.equal(withFusion(false, () => dispatches("webgpu", () => y2.realize())), 5);
    assertClose(await y2.data(), await y.data(), { label: "unfused on webgpu" });
  }
});

gpuTest("fusion: matmul + bias + relu is one dispatch on webgpu", async () => {
  const rng = new Rng(2);
  for (const [m, k, n] of [[16, 8, 12], [33, 70, 129]]) {
    const a = data(rng, [m, k], "webgpu");
    const b = data(rng, [k, n], "webgpu");
    const bias = data(rng, [n], "webgpu");
    const y = a.matmul(b).add(bias).relu();
    assert.equal(dispatches("webgpu", () => y.realize()), 1, `${m}x${k}x${n}`);
    const [ac, bc, biasc] = await Promise.all([a, b, bias].map((t) => t.data()));
    const yc = tensor(ac, [m, k]).matmul(tensor(bc, [k, n])).add(tensor(biasc, [n])).relu();
    assertClose(await y.data(), await yc.data(), { rtol: 1e-4, floor: 1e-2 });
    // a transposed operand read in place: still one dispatch
    const bt = data(rng, [n, k], "webgpu");
    const y2 = a.matmul(bt.mT).add(bias).relu();
    assert.equal(dispatches("webgpu", () => y2.realize()), 1, "with B^T");
    // unfused: matmul, add, relu
    const y3 = a.matmul(b).add(bias).relu();
    assert.equal(withFusion(false, () => dispatches("webgpu", () => y3.realize())), 3);
    assertSame(await y3.data(), await y.data(), "fused vs unfused epilogue on webgpu");
  }
});

Deno.test("fusion: dispatch counts of common patterns", () => {
  for (const dev of DEVICES) {
    const rng = new Rng(3);
    const x = data(rng, [40, 30], dev);
    assert.equal(
      dispatches(dev, () => x.mul(3).exp().sum(1).realize()),
      1,
      `${dev}: a reduction takes its elementwise prologue along`,
    );
    assert.equal(
      dispatches(dev, () => x.add(1).softmax(-1).realize()),
      2,
      `${dev}: softmax (hand-written) after its input chain`,
    );
    assert.equal(
      dispatches(dev, () => x.add(1).transpose().mul(2).reshape([-1]).sin().realize()),
      1,
      `${dev}: views between elementwise ops do not stop fusion`,
    );
    assert.equal(
      dispatches(dev, () => concat([x.exp(), x.mul(2), x.abs().add(1)], 1).realize()),
      3,
      `${dev}: concat writes each fused part into the output`,
    );
    assert.equal(
      dispatches(dev, () => x.sub(x.mean(-1, true)).square().realize()),
      3,
      `${dev}: sum, its division (read through an expanding view, so not recomputed per ` +
        `element), and the chain`,
    );
  }
});

Deno.test("fusion: a shared intermediate is computed once", async () => {
  for (const dev of DEVICES) {
    const rng = new Rng(4);
    const x = data(rng, [50, 7], dev);
    // used twice by one consumer chain
    const s = x.exp();
    const y = s.add(1).mul(s.sub(1));
    const ks = recordKernels(() => y.realize());
    assert.equal(countCalls(ks, "exp"), 1, `${dev}: exp evaluated once`);
    assert.equal(ks.length, 2, `${dev}: the shared value and its consumer`);
    const xs = await x.data();
    assertClose(await y.data(), Float32Array.from(xs, (v) => Math.exp(2 * v) - 1), {
      label: `${dev}: values`,
    });
    // shared by two outputs realized together
    const s2 = x.mul(0.5).exp();
    const a = s2.mul(2);
    const b = s2.add(3).sum(0);
    const ks2 = recordKernels(() => realize(a, b));
    assert.equal(countCalls(ks2, "exp"), 1, `${dev}: exp once for two outputs`);
    assertClose(await a.data(), Float32Array.from(xs, (v) => 2 * Math.exp(v / 2)));
    // a shared matmul product is computed once
    const w = data(rng, [7, 9], dev);
    const p = x.matmul(w);
    const z = p.relu().add(p.sigmoid());
    const ks3 = recordKernels(() => z.realize());
    assert.equal(ks3.filter((k) => k.kind === "matmul").length, 1, `${dev}: one matmul`);
    assert.equal(countCalls(ks3, "exp"), 1, `${dev}: sigmoid once`);
  }
});

/** A graph with most kinds of nodes; returns several outputs. */
function mixedGraph(dev: Dev): Tensor[] {
  const rng = new Rng(5);
  const x = data(rng, [6, 9, 11], dev);
  const y = data(rng, [11], dev);
  const w = data(rng, [11, 13], dev);
  const bias = data(rng, [13], dev);
  const ints = tensor(rng.ints(6 * 9, -5, 5), [6, 9], { dtype: "int32", device: dev });
  const h = x.mul(1.7).add(y).tanh().mul(x.sigmoid()); // chain with broadcasting
  const pre = h.matmul(w).add(bias).relu(); // fused epilogue
  const red = h.exp().sum([0, 2]).log(); // reduction with a prologue, then an epilogue-like op
  const sm = pre.sub(pre.max(-1, true)).softmax(-1).mul(3).add(1); // kernel between chains
  const views = h.permute([2, 0, 1]).slice([1, 1, 0], [8, 4, 9]).reshape([32, 9]).square();
  const cat = concat([h.slice([0, 0, 0], [6, 9, 2]).neg(), x.abs().slice([0, 0, 3], [6, 9, 4])], 2)
    .sqrt();
  const mixed = ints.cast("float32").mul(h.mean(-1)).add(ints.gt(0).cast("float32"));
  const wh = where(h.gt(0), h.mul(2), x.exp().neg()).sum(-1).div(11);
  const deep = Array.from({ length: 60 }, (_, i) => i).reduce(
    (t, i) => (i % 3 === 0 ? t.mul(0.99) : i % 3 === 1 ? t.add(0.01) : t.sin()),
    h,
  );
  return [h, pre, red, sm, views, cat, mixed, wh, deep];
}

Deno.test("fusion: fused and unfused results are identical on cpu", async () => {
  const fused = mixedGraph("cpu");
  realize(...fused);
  const unfused = withFusion(false, () => {
    const ts = mixedGraph("cpu");
    realize(...ts);
    return ts;
  });
  for (let i = 0; i < fused.length; i++) {
    assertSame(await fused[i].data(), await unfused[i].data(), `output ${i}`);
  }
});

gpuTest("fusion: fused and unfused results agree on webgpu", async () => {
  const fused = mixedGraph("webgpu");
  realize(...fused);
  const unfused = withFusion(false, () => {
    const ts = mixedGraph("webgpu");
    realize(...ts);
    return ts;
  });
  const cpu = mixedGraph("cpu");
  for (let i = 0; i < fused.length; i++) {
    const f = await fused[i].data();
    assertClose(f, await unfused[i].data(), { label: `output ${i}: fused vs unfused` });
    assertClose(f, await cpu[i].data(), { rtol: 1e-4, label: `output ${i}: webgpu vs cpu` });
  }
});

/** Kernels `fn` emits that re-index through a frame node. */
function frameNodes(kernels: Kernel[]): number {
  let n = 0;
  for (const k of kernels) {
    if (k.kind === "ew" || k.kind === "reduce") {
      walkExpr(k.expr, (e) => void (e.k === "frame" && n++));
    }
  }
  return n;
}

Deno.test("fusion: a producer read through a permutation or a reshape needs no frame node", async () => {
  for (const dev of DEVICES) {
    const rng = new Rng(8);
    const a = data(rng, [2, 37, 9], dev), b = data(rng, [2, 37, 9], dev);
    const wide = data(rng, [74, 12], dev), bias = data(rng, [9], dev);
    const graph = () => [
      // a reduction over a leading axis reads its producer transposed
      a.mul(b).sum(1),
      a.mul(b).add(bias).sum([0, 1]),
      // a transposed elementwise result
      a.sub(b).exp().permute([2, 0, 1]).contiguous(),
      // a reshape of a strided slice (rows of 12, 9 read) stays strided
      wide.slice([0, 0], [74, 9]).tanh().reshape([2, 37, 9]).add(a),
    ];
    let ys: Tensor[] = [];
    const kernels = recordKernels(() => realize(...(ys = graph())));
    assert.equal(frameNodes(kernels), 0, `${dev}: frame nodes`);
    const prev = scheduleOptions.moveViews;
    scheduleOptions.moveViews = false;
    let framed: Tensor[] = [];
    try {
      const k2 = recordKernels(() => realize(...(framed = graph())));
      assert.ok(frameNodes(k2) >= 4, `${dev}: the same graph through frame nodes`);
    } finally {
      scheduleOptions.moveViews = prev;
    }
    const unfused = withFusion(false, () => {
      const ts = graph();
      realize(...ts);
      return ts;
    });
    for (let i = 0; i < ys.length; i++) {
      const y = await ys[i].data();
      assertSame(y, await framed[i].data(), `${dev}: output ${i} moved vs framed`);
      assertSame(y, await unfused[i].data(), `${dev}: output ${i} fused vs unfused`);
    }
  }
});

Deno.test("fusion: expressions over more buffers than a kernel binds still work", async () => {
  for (const dev of DEVICES) {
    const be = getBackend(dev);
    const count = be.maxKernelInputs * 2 + 5; // 35 on llvmpipe (15 inputs), 133 on cpu
    const rng = new Rng(6);
    const parts = Array.from({ length: count }, () => rng.uniform(67 * 3, -1, 1));
    const ts = parts.map((p) => tensor(p, [67, 3], { device: dev }));
    const expected = new Float64Array(67 * 3);
    const scale = new Float64Array(67 * 3); // float32 sums are exact to eps * sum |terms|
    for (const p of parts) {
      p.forEach((v, i) => {
        expected[i] += v;
        scale[i] += Math.abs(v);
      });
    }
    // a sum of `count` distinct tensors, as one elementwise chain
    const sum = ts.reduce((a, b) => a.add(b));
    const n = dispatches(dev, () => sum.realize());
    assert.ok(n > 1, `${dev}: ${count} inputs need more than one kernel (got ${n})`);
    assertClose(await sum.data(), expected, { scale, label: `${dev}: sum of ${count} tensors` });
    // the same as a reduction prologue and as a matmul epilogue
    const total = ts.reduce((a, b) => a.add(b)).sum();
    assertClose(await total.item(), expected.reduce((a, b) => a + b, 0), {
      scale: [scale.reduce((a, b) => a + b, 0)],
      label: `${dev}: reduced`,
    });
    const eye3 = tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], [3, 3], { device: dev });
    const epi = ts.slice(1).reduce((a, b) => a.add(b), ts[0].matmul(eye3));
    assertClose(await epi.data(), expected, { scale, label: `${dev}: matmul epilogue` });
    // a balanced tree of adds (many inputs, little depth)
    let level = ts;
    while (level.length > 1) {
      const next: Tensor[] = [];
      for (let i = 0; i < level.length; i += 2) {
        next.push(i + 1 < level.length ? level[i].add(level[i + 1]) : level[i]);
      }
      level = next;
    }
    assertClose(await level[0].data(), expected, { scale, label: `${dev}: tree of adds` });
  }
});
