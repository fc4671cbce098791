/**
 * Deterministic memory: tidy scopes, dispose(), `using`, use-after-dispose errors, and live
 * buffer / tensor / node counts that stay flat over many tidy'd ops.
 */

import assert from "node:assert/strict";
import {
  concat,
  DisposedError,
  dropout,
  eye,
  linspace,
  type MemoryInfo,
  memoryInfo,
  oneHot,
  randint,
  randn,
  stack,
  type Tensor,
  tensor,
  tidy,
} from "../../mod.ts";
import { keep } from "../../tensor.ts";
import { getBackend } from "../../src/backend/device.ts";
import { assertClose, webgpu } from "../util.ts";

const GPU = await webgpu();
type Dev = "cpu" | "webgpu";

/** The counts that must not grow: tensors, graph nodes and the device's live buffers. */
function counts(dev: Dev): { tensors: number; nodes: number; buffers: number; bytes: number } {
  const m: MemoryInfo = memoryInfo();
  const be = dev === "cpu" ? m.cpu : m.webgpu!;
  return { tensors: m.tensors, nodes: m.nodes, buffers: be.buffers, bytes: be.bytes };
}

for (const dev of ["cpu", "webgpu"] as Dev[]) {
  /** A test on `dev`, ignored (with the printed reason) when `dev` is webgpu and there is none. */
  const test = (name: string, fn: () => void | Promise<void>) =>
    Deno.test({ name: `memory (${dev}): ${name}`, ignore: dev === "webgpu" && !GPU, fn });

  test(`10,000 small tidy'd ops leave live buffers, tensors and nodes flat`, async () => {
    const x = randn([8, 33], { seed: 1, device: dev }).realize();
    const w = randn([33, 5], { seed: 2, device: dev }).realize();
    let acc = tensor([0], [1], { device: dev });
    const step = (i: number) => {
      // a mix of fused chains, a reduction, a matmul with epilogue and a kept result
      const next = tidy(() => {
        const h = x.mul(i % 7).add(1).tanh();
        const y = h.matmul(w).relu().sum().reshape([1]);
        const z = h.softmax(-1).max().reshape([1]);
        return acc.mul(0.5).add(y).add(z).realize();
      });
      acc.dispose();
      acc = next;
    };
    for (let i = 0; i < 200; i++) step(i); // warm-up: pools, pipelines, caches
    await acc.data();
    const before = counts(dev);
    const ITER = 10_000;
    for (let i = 0; i < ITER; i++) {
      step(i);
      if (i % 2500 === 2499) await acc.data(); // submit and wait now and then
    }
    await acc.data();
    const after = counts(dev);
    assert.deepEqual(after, before, `after ${ITER} tidy'd steps on ${dev}`);
    // the result is still right (a fixed point of acc = 0.5 acc + c, c the same every 7 steps)
    assert.ok(Number.isFinite((await acc.data())[0]));
    acc.dispose();
    x.dispose();
    w.dispose();
  });

  test(`10,000 tidy'd single ops without reading leave counts flat`, async () => {
    const x = tensor(new Float32Array(100).fill(1), [100], { device: dev });
    for (let i = 0; i < 100; i++) tidy(() => void x.add(i).realize());
    const before = counts(dev);
    for (let i = 0; i < 10_000; i++) tidy(() => void x.add(i).exp().realize());
    assert.deepEqual(counts(dev), before);
    await x.data();
    x.dispose();
  });

  test(`dispose() and \`using\` release tensors, nodes and buffers`, async () => {
    const base = counts(dev);
    const t = tensor([1, 2, 3], [3], { device: dev });
    const c1 = counts(dev);
    assert.equal(c1.tensors, base.tensors + 1);
    assert.equal(c1.nodes, base.nodes + 1);
    assert.equal(c1.buffers, base.buffers + 1);
    // a lazy op holds nodes (its own and the constant 2) but no buffer until realized; the
    // number operand is not a live tensor of its own
    const y = t.mul(2);
    assert.equal(counts(dev).buffers, c1.buffers);
    assert.equal(counts(dev).tensors, c1.tensors + 1);
    assert.equal(counts(dev).nodes, c1.nodes + 2);
    y.realize();
    assert.equal(counts(dev).buffers, c1.buffers + 1);
    y.dispose();
    y.dispose(); // idempotent
    assert.deepEqual(counts(dev), c1);
    t.dispose();
    assert.deepEqual(counts(dev), base);
    {
      using u = tensor([4, 5], [2], { device: dev });
      using v = u.add(1).realize();
      assert.equal(counts(dev).buffers, base.buffers + 2);
      assertClose(await v.data(), [5, 6]);
    }
    assert.deepEqual(counts(dev), base, "`using` released both at the end of the block");
  });

  test(`a disposed tensor throws DisposedError when used`, async () => {
    const t = tensor([[1, 2], [3, 4]], undefined, { device: dev });
    const other = tensor([[1, 1], [1, 1]], undefined, { device: dev });
    t.dispose();
    assert.ok(t.isDisposed);
    const uses: [string, () => unknown][] = [
      ["add", () => t.add(1)],
      ["as the other operand", () => other.add(t)],
      ["exp", () => t.exp()],
      ["sum", () => t.sum()],
      ["reshape", () => t.reshape([4])],
      ["permute", () => t.permute([1, 0])],
      ["slice", () => t.slice([0], [1])],
      ["matmul", () => other.matmul(t)],
      ["softmax", () => t.softmax(-1)],
      ["cast", () => t.cast("int32")],
      ["realize", () => t.realize()],
    ];
    for (const [what, fn] of uses) {
      assert.throws(fn, DisposedError, what);
    }
    await assert.rejects(() => t.data(), DisposedError);
    const s = tensor([5], [1], { device: dev });
    s.dispose();
    await assert.rejects(() => s.item(), DisposedError);
    // the message says what happened and what to do
    assert.throws(() => t.add(1), /disposed/);
    other.dispose();
  });

  test(`consumers keep what they need when an input is disposed`, async () => {
    const base = counts(dev);
    const x = tensor([1, 2, 3], [3], { device: dev });
    const y = tidy(() => x.mul(10).add(1)); // pending: holds x's node
    x.dispose();
    assertClose(await y.data(), [11, 21, 31]);
    y.dispose();
    assert.deepEqual(counts(dev), base, "x's buffer went with y");
    // one op with a number operand: nothing else holds x2 once z is gone
    const x2 = tensor([1, 2, 3], [3], { device: dev });
    const z = x2.add(0.5);
    x2.dispose();
    assertClose(await z.data(), [1.5, 2.5, 3.5]);
    z.dispose();
    assert.deepEqual(counts(dev), base, "x2's buffer went with z");
  });

  test(`ops built from other ops free their intermediates`, async () => {
    // disposing an op's inputs and result releases everything: the op's own intermediates
    // (and the number operands it used) do not live on until garbage collection. The test
    // itself creates no tensor but the inputs, so every leftover would be the op's own.
    type In = { x: Tensor; xi: Tensor; xt: Tensor; v: Tensor; idx: Tensor };
    const cases: [string, (i: In) => Tensor][] = [
      ["mul by a number", ({ x }) => x.mul(3)],
      ["mean", ({ x }) => x.mean(-1)],
      ["variance", ({ x }) => x.variance([0, 1], true)],
      ["std", ({ x }) => x.std()],
      ["softmax over axis 0", ({ x }) => x.softmax(0)],
      ["logSoftmax", ({ x }) => x.logSoftmax(-1)],
      ["logsumexp", ({ x }) => x.logsumexp(0)],
      ["stack", ({ x }) => stack([x, x], 1)],
      ["concat with a cast", ({ x, xi }) => concat([x, xi], 0)],
      ["matrix @ vector", ({ x, v }) => x.matmul(v)],
      ["vector @ vector", ({ v }) => v.matmul(v)],
      ["matmul of int32", ({ xi, xt }) => xi.matmul(xt)],
      ["repeat", ({ x }) => x.repeat([2, 1, 2])],
      ["reshape that copies", ({ xt }) => {
        using view = xt.mT;
        return view.reshape([-1]);
      }],
      ["gather", ({ x, idx }) => x.gather(idx, 1)],
      ["oneHot", ({ xi }) => oneHot(xi, 7)],
      ["randint", () => randint(0, 9, [5], { seed: 1, device: dev })],
      ["dropout", ({ x }) => dropout(x, 0.5, { seed: 2 })],
      ["eye", () => eye(3, { device: dev })],
      ["linspace", () => linspace(0, 1, 7, { device: dev })],
    ];
    for (const [name, op] of cases) {
      if (dev === "webgpu" && name === "gather") continue; // webgpu gather: kernels_extra tests
      const base = counts(dev);
      const inputs: In = {
        x: tensor([1, -2, 3, 4, 5, -6], [2, 3], { device: dev }),
        xi: tensor([1, 0, 3, 4, 5, 6], [2, 3], { dtype: "int32", device: dev }),
        xt: tensor([1, -2, 3, 4, 5, -6], [3, 2], { device: dev }),
        v: tensor([1, 2, 3], [3], { device: dev }),
        idx: tensor([2, 0], [2], { dtype: "int32", device: dev }),
      };
      const y = op(inputs).realize();
      await y.data();
      for (const t of [...Object.values(inputs), y]) t.dispose();
      assert.deepEqual(counts(dev), base, name);
    }
  });

  test(`tidy returns nested results intact and frees the rest`, async () => {
    const base = counts(dev);
    const x = tensor([1, 2, 3, 4], [2, 2], { device: dev });
    let inner: Tensor | null = null;
    const r = tidy(() => {
      const h = x.add(1); // freed
      const a = h.mul(2);
      const b = h.sub(1);
      const c = h.sum();
      const kept = keep(h.neg());
      // a nested tidy's result joins the outer scope and is freed with it
      inner = tidy(() => x.mul(100).add(h));
      return { a, list: [b, { c }], map: new Map([["m", a.add(b)]]), kept, n: 3 };
    });
    assert.ok(inner !== null && (inner as Tensor).isDisposed, "nested result freed with outer");
    assert.equal(r.n, 3);
    assertClose(await r.a.data(), [4, 6, 8, 10]);
    assertClose(await (r.list[0] as Tensor).data(), [1, 2, 3, 4]);
    assertClose(await (r.list[1] as { c: Tensor }).c.item(), 14);
    assertClose(await r.map.get("m")!.data(), [5, 8, 11, 14]);
    assertClose(await r.kept.data(), [-2, -3, -4, -5]);
    // x + the five results are alive; h, the nested result and the map's operands are not
    assert.equal(counts(dev).tensors, base.tensors + 6);
    for (const t of [r.a, r.list[0] as Tensor, (r.list[1] as { c: Tensor }).c, r.kept]) {
      t.dispose();
    }
    r.map.get("m")!.dispose();
    x.dispose();
    assert.deepEqual(counts(dev), base);
  });

  test(`tidy frees everything when its function throws`, () => {
    const base = counts(dev);
    const x = tensor([1, 2], [2], { device: dev });
    assert.throws(() =>
      tidy(() => {
        x.mul(2).add(1).realize();
        throw new Error("boom");
      }), /boom/);
    x.dispose();
    assert.deepEqual(counts(dev), base);
  });
}

Deno.test({
  name: "memory (webgpu): pooled buffers are reused, not reallocated",
  ignore: !GPU,
  fn: async () => {
    const be = getBackend("webgpu");
    const x = tensor(new Float32Array(5000).fill(1), [5000], { device: "webgpu" });
    for (let i = 0; i < 10; i++) tidy(() => void x.add(i).realize());
    const pooled = be.memory().pooledBytes;
    for (let i = 0; i < 1000; i++) tidy(() => void x.add(i).realize());
    assert.equal(be.memory().pooledBytes, pooled, "the pool does not grow");
    await x.data();
    x.dispose();
  },
});
