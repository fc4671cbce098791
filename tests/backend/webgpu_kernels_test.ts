/**
 * The hand-written WebGPU kernels (src/backend/webgpu/kernels_extra.ts, kernels/{conv,pool,
 * gather,sort,optim}.wgsl) against the cpu reference backend, through the public ops (forward
 * and gradients), plus the PyTorch conv fixtures and the fused optimizer kernel run directly.
 *
 * Tolerances (see assertClose): convolutions |a - b| <= 1e-4 * max(|b|, 1e-3 * max|ref|) plus
 * 4 float32 ulps of the magnitude of the summed terms; average pooling and upsampling
 * gradients the same with 1e-6; the optimizer 1e-5 plus 4 ulps of the magnitude of the state;
 * max pooling, upsampling, gather, scatter-add and sort (indices and values) exactly.
 * Skipped where there is no WebGPU adapter.
 */

import assert, { deepEqual, equal, fail } from "node:assert/strict";
import {
  avgPool2d,
  conv2d,
  convTranspose2d,
  initWebGPU,
  layerNorm,
  maxPool2d,
  randint,
  randn,
  rmsNorm,
  sort,
  type Tensor,
  tensor,
  topk,
  upsampleNearest2d,
} from "../../mod.ts";
import { scatterAdd } from "../../tensor.ts";
import { getBackend } from "../../src/backend/device.ts";
import type { Backend, BufView, DeviceBuffer, OptimKernel } from "../../src/backend/types.ts";

let reason = "";
const GPU = await initWebGPU().then(() => true, (e: Error) => {
  reason = e.message;
  return false;
});
if (!GPU) console.warn(`webgpu_kernels_test: no WebGPU (${reason}); tests ignored`);

type Dev = "cpu" | "webgpu";

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !GPU, sanitizeOps: false, sanitizeResources: false, fn });
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers
// ---------------------------------------------------------------------------------------------

/** Unit roundoff of float32. */
const U32 = 2 ** -24;
/** Multiple of `U32 * scale[i]` allowed on top of the relative tolerance (see below). */
const SUM_ULPS = 4;

/**
 * |a - b| <= rtol * max(|b|, 1e-3 * max|b|) + SUM_ULPS * U32 * scale[i] elementwise (NaN only
 * against NaN). `scale[i]` is the sum of the magnitudes of the terms element i was computed
 * from (the same op run on the cpu with |inputs|): the reference sums in float64, the kernels in
 * float32, so a sum of hundreds of terms that cancels to a small value legitimately differs by a
 * few float32 roundings of its terms, which the relative tolerance alone would not allow.
 */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  label: string,
  scale?: ArrayLike<number>,
): void {
  equal(actual.length, expected.length, `${label}: length`);
  let mx = 0;
  for (let i = 0; i < expected.length; i++) mx = Math.max(mx, Math.abs(expected[i]));
  const floor = 1e-3 * mx;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], b = expected[i];
    const tol = rtol * Math.max(Math.abs(b), floor) + (scale ? SUM_ULPS * U32 * scale[i] : 0);
    if (Number.isNaN(b) ? Number.isNaN(a) : Math.abs(a - b) <= tol) continue;
    fail(
      `${label}: element ${i} is ${a}, expected ${b} (tolerance ${tol}: rtol ${rtol}, floor ` +
        `${floor}${scale ? `, magnitude of terms ${scale[i]}` : ""})`,
    );
  }
}

/** Bitwise-equal values (NaN equals NaN; -0 equals 0). */
function assertExact(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], b = expected[i];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    fail(`${label}: element ${i} is ${a}, expected ${b}`);
  }
}

const CONV_RTOL = 1e-4;

interface Results {
  readonly cpu: ArrayLike<number>[];
  readonly gpu: ArrayLike<number>[];
  /** With `magnitudes`: the cpu results of the same computation on |inputs|. */
  readonly mag: ArrayLike<number>[];
}

/**
 * Runs `f` on both devices with the same inputs (made on the cpu) and returns the reads; with
 * `magnitudes`, also on the cpu with every input replaced by its absolute value.
 */
async function onBoth(
  inputs: Tensor[],
  f: (xs: Tensor[], dev: Dev, abs: boolean) => Tensor[],
  magnitudes = false,
): Promise<Results> {
  const run = async (dev: Dev, abs: boolean) => {
    const outs = f(inputs.map((t) => (abs ? t.abs() : t).to(dev)), dev, abs);
    const res: ArrayLike<number>[] = [];
    for (const o of outs) {
      equal(o.device, dev);
      res.push(await o.data());
    }
    return res;
  };
  return {
    cpu: await run("cpu", false),
    gpu: await run("webgpu", false),
    mag: magnitudes ? await run("cpu", true) : [],
  };
}

/**
 * Forward value and the gradients of `sum(y * gy)` w.r.t. every input (`gy` seeded normal; its
 * absolute value on the magnitude run, so that every product term is |term|).
 */
function withGrads(fn: (xs: Tensor[]) => Tensor, gySeed: number) {
  return (xs: Tensor[], dev: Dev, abs: boolean): Tensor[] => {
    const leaves = xs.map((x) => x.detach().setRequiresGrad());
    const y = fn(leaves);
    const gy = randn(y.shape, { seed: gySeed, device: "cpu" });
    y.mul((abs ? gy.abs() : gy).to(dev)).sum().backward();
    return [y, ...leaves.map((l) => l.grad!)];
  };
}

// ---------------------------------------------------------------------------------------------
// Convolutions
// ---------------------------------------------------------------------------------------------

interface ConvCase {
  readonly n: number;
  readonly cin: number;
  readonly cout: number;
  readonly h: number;
  readonly w: number;
  readonly k: number;
  readonly stride: number;
  readonly padding: number;
  readonly bias: boolean;
  readonly outputPadding?: number;
}

const CONV_CASES: ConvCase[] = [
  { n: 2, cin: 3, cout: 4, h: 8, w: 8, k: 4, stride: 2, padding: 1, bias: true },
  { n: 3, cin: 5, cout: 6, h: 7, w: 9, k: 3, stride: 1, padding: 1, bias: true },
  { n: 1, cin: 4, cout: 3, h: 5, w: 5, k: 1, stride: 1, padding: 0, bias: false },
  { n: 1, cin: 7, cout: 13, h: 11, w: 6, k: 3, stride: 2, padding: 0, bias: true },
  { n: 3, cin: 2, cout: 9, h: 9, w: 13, k: 5, stride: 3, padding: 2, bias: false },
  { n: 1, cin: 10, cout: 1, h: 6, w: 7, k: 2, stride: 1, padding: 1, bias: true },
  // Large enough for the weight gradient to be split over several partial sums.
  { n: 3, cin: 6, cout: 18, h: 40, w: 44, k: 4, stride: 2, padding: 1, bias: true },
];

function fmtCase(c: ConvCase): string {
  return `n${c.n} ${c.cin}->${c.cout} ${c.h}x${c.w} k${c.k} s${c.stride} p${c.padding}` +
    `${c.outputPadding ? ` op${c.outputPadding}` : ""}${c.bias ? " bias" : ""}`;
}

async function checkConv(c: ConvCase, transposed: boolean, seed: number): Promise<void> {
  const x = randn([c.n, c.cin, c.h, c.w], { seed, device: "cpu" });
  const wShape = transposed ? [c.cin, c.cout, c.k, c.k] : [c.cout, c.cin, c.k, c.k];
  const w = randn(wShape, { seed: seed + 1, device: "cpu" });
  const b = randn([c.cout], { seed: seed + 2, device: "cpu" });
  const inputs = c.bias ? [x, w, b] : [x, w];
  const op = transposed ? convTranspose2d : conv2d;
  const { cpu, gpu, mag } = await onBoth(
    inputs,
    withGrads(([xx, ww, bb]) =>
      op(xx, ww, {
        stride: c.stride,
        padding: c.padding,
        bias: bb ?? null,
        outputPadding: c.outputPadding,
      }), seed + 3),
    true,
  );
  const names = ["y", "dx", "dw", "db"];
  const label = `${transposed ? "convTranspose2d" : "conv2d"} ${fmtCase(c)}`;
  cpu.forEach((ref, i) => assertClose(gpu[i], ref, CONV_RTOL, `${label} ${names[i]}`, mag[i]));
}

test("webgpu conv2d forward and gradients match cpu", async () => {
  let seed = 10;
  for (const c of CONV_CASES) await checkConv(c, false, seed += 10);
});

test("webgpu convTranspose2d forward and gradients match cpu", async () => {
  let seed = 100;
  const cases: ConvCase[] = [
    ...CONV_CASES,
    {
      n: 2,
      cin: 5,
      cout: 3,
      h: 4,
      w: 6,
      k: 3,
      stride: 2,
      padding: 1,
      bias: true,
      outputPadding: 1,
    },
    {
      n: 1,
      cin: 3,
      cout: 5,
      h: 3,
      w: 2,
      k: 4,
      stride: 3,
      padding: 0,
      bias: false,
      outputPadding: 2,
    },
  ];
  for (const c of cases) await checkConv(c, true, seed += 10);
});

test("webgpu conv kernels read operands at buffer offsets", async () => {
  // Narrowed realized inputs start inside their buffers.
  const x = randn([4, 3, 9, 9], { seed: 1, device: "cpu" });
  const w = randn([3, 6, 3, 3], { seed: 2, device: "cpu" });
  const bias = randn([7], { seed: 3, device: "cpu" });
  const { cpu, gpu, mag } = await onBoth([x, w, bias], ([xx, ww, bb]) => {
    const xs = xx.realize().narrow(0, 1, 2);
    const ws = ww.realize().narrow(1, 2, 3).contiguous().realize();
    const wt = ww.realize().narrow(0, 1, 2);
    const bs = bb.realize();
    return [
      conv2d(xs, ws, { stride: 2, padding: 1, bias: bs.narrow(0, 4, 3) }),
      convTranspose2d(xs.narrow(1, 1, 2), wt, { stride: 2, padding: 1, bias: bs.narrow(0, 1, 6) }),
    ];
  }, true);
  cpu.forEach((ref, i) => assertClose(gpu[i], ref, CONV_RTOL, `offset case ${i}`, mag[i]));
});

interface Fixture {
  config: Record<string, number>;
  inputs: Record<string, { shape: number[]; data: number[] }>;
  params: Record<string, { shape: number[]; data: number[] }>;
  outputs: Record<string, { shape: number[]; data: number[] }>;
  grads: Record<string, { shape: number[]; data: number[] }>;
}

async function loadFixture(name: string): Promise<Fixture> {
  const url = new URL(`../fixtures/torch/${name}.json`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

for (
  const [name, transposed] of [["conv2d_k4s2p1", false], ["conv_transpose2d_k4s2p1", true]] as const
) {
  test(`webgpu ${name} matches the PyTorch fixture (forward and gradients)`, async () => {
    const fx = await loadFixture(name);
    const t = (e: { shape: number[]; data: number[] }) =>
      tensor(new Float32Array(e.data), e.shape, { device: "webgpu" });
    const x = t(fx.inputs.x).setRequiresGrad();
    const w = t(fx.params.weight).setRequiresGrad();
    const b = t(fx.params.bias).setRequiresGrad();
    const gy = t(fx.inputs.grad_output);
    const opts = {
      stride: fx.config.stride,
      padding: fx.config.padding,
      bias: b,
      outputPadding: fx.config.output_padding ?? 0,
    };
    const y = transposed ? convTranspose2d(x, w, opts) : conv2d(x, w, opts);
    equal(y.device, "webgpu");
    deepEqual(y.shape, fx.outputs.y.shape);
    y.mul(gy).sum().backward();
    assertClose(await y.data(), fx.outputs.y.data, CONV_RTOL, `${name} y`);
    assertClose(await x.grad!.data(), fx.grads.x.data, CONV_RTOL, `${name} dx`);
    assertClose(await w.grad!.data(), fx.grads.weight.data, CONV_RTOL, `${name} dweight`);
    assertClose(await b.grad!.data(), fx.grads.bias.data, CONV_RTOL, `${name} dbias`);
  });
}

// ---------------------------------------------------------------------------------------------
// Pooling and upsampling
// ---------------------------------------------------------------------------------------------

const POOL_CASES: [number[], number, number][] = [
  [[2, 3, 8, 8], 2, 2],
  [[1, 5, 7, 9], 3, 2], // overlapping windows
  [[3, 2, 6, 5], 3, 1], // heavily overlapping
  [[2, 2, 9, 9], 2, 3], // gaps: some inputs in no window
  [[1, 1, 4, 4], 4, 4],
];

test("webgpu maxPool2d forward and gradient match cpu exactly (ties, -inf)", async () => {
  let seed = 200;
  for (const [shape, k, s] of POOL_CASES) {
    // Small integers: many ties, so the first-argmax routing is exercised.
    const xi = await randint(-3, 3, shape, { seed: seed++, device: "cpu" }).data();
    const xs = Float32Array.from(xi);
    xs[0] =
      xs[1] =
      xs[shape[3]] =
      xs[shape[3] + 1] =
        -Infinity; // an all -inf window
    const x = tensor(xs, shape, { device: "cpu" });
    const { cpu, gpu } = await onBoth([x], withGrads(([xx]) => maxPool2d(xx, k, s), seed++));
    const label = `maxPool2d ${shape} k${k} s${s}`;
    assertExact(gpu[0], cpu[0], `${label} y`);
    assertExact(gpu[1], cpu[1], `${label} dx`);
  }
});

test("webgpu layerNorm / rmsNorm gradients (the backward row kernel) match cpu", async () => {
  // cols <= 64: one thread per row; longer rows: one workgroup per row
  let seed = 250;
  for (const [rows, cols] of [[5, 3], [70, 32], [3, 65], [4, 1000]]) {
    const x = randn([rows, cols], { seed: seed++, device: "cpu" }).mul(2).add(0.5);
    const w = randn([cols], { seed: seed++, device: "cpu" }), b = randn([cols], { seed: seed++ });
    const fns: [string, number, (xs: Tensor[]) => Tensor][] = [
      ["layerNorm affine", 3, ([xx, ww, bb]) => layerNorm(xx, ww, bb)],
      ["layerNorm", 1, ([xx]) => layerNorm(xx)],
      ["rmsNorm weight", 2, ([xx, ww]) => rmsNorm(xx, ww)],
      ["rmsNorm", 1, ([xx]) => rmsNorm(xx)],
    ];
    for (const [name, n, fn] of fns) {
      const { cpu, gpu } = await onBoth([x, w, b].slice(0, n), withGrads(fn, seed++));
      const label = `${name} ${rows}x${cols}`;
      assertClose(gpu[0], cpu[0], 1e-4, `${label} y`);
      for (let i = 1; i <= n; i++) assertClose(gpu[i], cpu[i], 1e-3, `${label} grad ${i - 1}`);
    }
  }
});

test("webgpu avgPool2d forward and gradient match cpu", async () => {
  let seed = 300;
  for (const [shape, k, s] of POOL_CASES) {
    const x = randn(shape, { seed: seed++, device: "cpu" });
    const { cpu, gpu, mag } = await onBoth(
      [x],
      withGrads(([xx]) => avgPool2d(xx, k, s), seed++),
      true,
    );
    const label = `avgPool2d ${shape} k${k} s${s}`;
    assertClose(gpu[0], cpu[0], 1e-6, `${label} y`, mag[0]);
    assertClose(gpu[1], cpu[1], 1e-6, `${label} dx`, mag[1]);
  }
});

test("webgpu upsampleNearest2d forward and gradient match cpu", async () => {
  let seed = 400;
  for (const [shape, f] of [[[2, 3, 5, 4], 2], [[1, 2, 3, 7], 3], [[3, 1, 2, 2], 1]] as const) {
    const x = randn([...shape], { seed: seed++, device: "cpu" });
    const { cpu, gpu, mag } = await onBoth(
      [x],
      withGrads(([xx]) => upsampleNearest2d(xx, f), seed++),
      true,
    );
    assertExact(gpu[0], cpu[0], `upsample ${shape} x${f} y`);
    assertClose(gpu[1], cpu[1], 1e-6, `upsample ${shape} x${f} dx`, mag[1]);
  }
});

// ---------------------------------------------------------------------------------------------
// Gather / scatter-add
// ---------------------------------------------------------------------------------------------

test("webgpu gather and scatterAdd match cpu exactly (negative and out-of-range indices)", async () => {
  const cases: [number[], number, number][] = [
    [[4, 7, 5], 1, 9],
    [[6, 8], 0, 3],
    [[10], 0, 20],
    [[3, 4, 5], 2, 5],
    // Many indices into a long axis: scatterAdd sorts each column's indices first.
    [[2, 300], 1, 700],
    [[3, 200, 4], 1, 500],
    [[2, 40], 1, 3000], // columns longer than one sort chunk
  ];
  let seed = 500;
  for (const [shape, axis, nIdx] of cases) {
    const ishape = shape.map((s, d) => (d === axis ? nIdx : s));
    const n = shape[axis];
    const idx = randint(-n - 2, n + 2, ishape, { seed: seed++, device: "cpu" });
    const x = randn(shape, { seed: seed++, device: "cpu" });
    const src = randn(ishape, { seed: seed++, device: "cpu" });
    const { cpu, gpu } = await onBoth([x, idx, src], ([xx, ii, ss]) => [
      xx.gather(ii, axis),
      scatterAdd(ss, ii, axis, shape),
    ]);
    // Same index order on both: scatter-add sums are bitwise equal too.
    assertExact(gpu[0], cpu[0], `gather ${shape} axis ${axis}`);
    assertExact(gpu[1], cpu[1], `scatterAdd ${shape} axis ${axis}`);
  }
});

test("webgpu gather: 1-D index_select form and its gradient", async () => {
  const x = randn([5, 6, 3], { seed: 1, device: "cpu" });
  const idx = tensor([5, 0, -1, 2, 2, 9, -7], [7], { dtype: "int32", device: "cpu" });
  const { cpu, gpu } = await onBoth([x, idx], ([xx, ii]) => {
    const leaf = xx.detach().setRequiresGrad();
    const y = leaf.gather(ii, 1);
    y.mul(y).sum().backward();
    return [y, leaf.grad!];
  });
  assertExact(gpu[0], cpu[0], "index_select y");
  assertExact(gpu[1], cpu[1], "index_select dx (scatterAdd)");
});

// ---------------------------------------------------------------------------------------------
// Sort
// ---------------------------------------------------------------------------------------------

test("webgpu sort is stable and orders NaN and -0 like cpu", async () => {
  const shapes: [number, number][] = [
    [3, 1],
    [5, 7],
    [64, 100],
    [2, 512],
    [3, 2048],
    [2, 2049], // long rows: chunk sort + merge
    [2, 5000],
    [1, 9000],
  ];
  let seed = 600;
  for (const [rows, cols] of shapes) {
    const xs = Float32Array.from(await randint(-20, 20, [rows, cols], { seed: seed++ }).data());
    const mask = await randint(0, 12, [rows, cols], { seed: seed++ }).data();
    for (let i = 0; i < xs.length; i++) {
      if (mask[i] === 0) xs[i] = NaN;
      else if (mask[i] === 1) xs[i] = -0;
      else if (mask[i] === 2) xs[i] = mask[i - 1] === 3 ? -Infinity : Infinity;
    }
    const x = tensor(xs, [rows, cols], { device: "cpu" });
    for (const descending of [false, true]) {
      const { cpu, gpu } = await onBoth([x], ([xx]) => {
        const s = sort(xx, -1, descending);
        return [s.indices, s.values];
      });
      assertExact(gpu[0], cpu[0], `sort [${rows}, ${cols}] desc=${descending} indices`);
      assertExact(gpu[1], cpu[1], `sort [${rows}, ${cols}] desc=${descending} values`);
    }
  }
});

test("webgpu sort along a middle axis and topk match cpu", async () => {
  const x = randn([4, 33, 5], { seed: 7, device: "cpu" });
  const e = randn([512], { seed: 8, device: "cpu" });
  const { cpu, gpu } = await onBoth([x, e], ([xx, ee]) => [
    sort(xx, 1).indices,
    sort(xx, 1, true).values,
    topk(ee, 64).indices, // MPPI-style elite selection
    topk(ee, 64, 0, false).values,
  ]);
  cpu.forEach((ref, i) => assertExact(gpu[i], ref, `case ${i}`));
});

// ---------------------------------------------------------------------------------------------
// Fused optimizer kernel
// ---------------------------------------------------------------------------------------------

function bufView(buf: DeviceBuffer, offset: number, n: number): BufView {
  return { buf, view: { shape: [n], strides: [1], offset } };
}

async function runOptim(
  be: Backend,
  rule: "adam" | "laprop",
  data: Record<"p" | "g" | "m" | "v", Float32Array>,
  scale: number | null,
  hypers: number[][],
): Promise<Float32Array[]> {
  const n = data.p.length;
  const off = 5; // every operand starts inside its buffer
  const bufs: Record<string, DeviceBuffer> = {};
  for (const key of ["p", "g", "m", "v"] as const) {
    bufs[key] = be.alloc(n + off);
    be.write(bufs[key], data[key], off);
  }
  let scaleView: BufView | null = null;
  if (scale !== null) {
    const sb = be.alloc(4);
    be.write(sb, new Float32Array([0, 0, 0, scale]));
    scaleView = bufView(sb, 3, 1);
  }
  for (const hyper of hypers) {
    const k: OptimKernel = {
      kind: "optim",
      rule,
      param: bufView(bufs.p, off, n),
      grad: bufView(bufs.g, off, n),
      m: bufView(bufs.m, off, n),
      v: bufView(bufs.v, off, n),
      scale: scaleView,
      n,
      hyper,
    };
    be.run(k);
  }
  const out = await be.read(
    (["p", "m", "v"] as const).map((key) => ({ buf: bufs[key], offset: off, n, dtype: "float32" })),
  );
  for (const b of Object.values(bufs)) be.free(b);
  if (scaleView) be.free(scaleView.buf);
  return out as Float32Array[];
}

test("webgpu fused Adam(W) / LaProp update matches cpu", async () => {
  const cpu = getBackend("cpu"), gpu = getBackend("webgpu");
  const n = 1000;
  const mk = async (seed: number, f: (x: Tensor) => Tensor = (x) => x) =>
    Float32Array.from(await f(randn([n], { seed, device: "cpu" })).data());
  const data = {
    p: await mk(1),
    g: await mk(2),
    m: await mk(3, (x) => x.mul(0.1)),
    v: await mk(4, (x) => x.square().mul(0.01)),
  };
  // Three steps: lr, beta1, beta2, eps, weight decay, bias corrections, grad scale.
  const hypers = [1, 2, 3].map((t) => [
    1e-3 * t,
    0.9,
    0.999,
    1e-8,
    t === 2 ? 0 : 0.01,
    1 - 0.9 ** t,
    1 - 0.999 ** t,
    t === 3 ? 0.5 : 1,
  ]);
  // Magnitude of each element's state: m = b1 m + (1 - b1) g can cancel to almost nothing, and
  // the reference runs in float64, the kernel in float32.
  const mag = data.p.map((p, i) =>
    Math.abs(p) + Math.abs(data.m[i]) + data.v[i] + Math.abs(data.g[i]) + data.g[i] ** 2
  );
  for (const rule of ["adam", "laprop"] as const) {
    for (const scale of [null, 0.25]) {
      const ref = await runOptim(cpu, rule, data, scale, hypers);
      const got = await runOptim(gpu, rule, data, scale, hypers);
      ["param", "m", "v"].forEach((name, i) =>
        assertClose(got[i], ref[i], 1e-5, `${rule} scale=${scale} ${name}`, mag)
      );
      // The update did something.
      assert(ref[0].some((p, i) => p !== data.p[i]));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

test("webgpu conv weight gradients and scatterAdd are bitwise deterministic", async () => {
  // Large enough for split weight-gradient sums; many colliding scatter indices.
  const x = randn([4, 5, 40, 36], { seed: 1, device: "webgpu" });
  const w = randn([7, 5, 4, 4], { seed: 2, device: "webgpu" });
  const gy = randn([4, 7, 20, 18], { seed: 3, device: "webgpu" });
  const src = randn([3, 2000], { seed: 4, device: "webgpu" });
  const idx = randint(0, 50, [3, 2000], { seed: 5, device: "webgpu" });
  const run = async () => {
    const ww = w.detach().setRequiresGrad();
    conv2d(x, ww, { stride: 2, padding: 1 }).mul(gy).sum().backward();
    return [await ww.grad!.data(), await scatterAdd(src, idx, 1, [3, 50]).data()];
  };
  const a = await run(), b = await run();
  assertExact(b[0], a[0], "conv2d weight gradient, second run");
  assertExact(b[1], a[1], "scatterAdd, second run");
});
