/**
 * The wasm cpu backend (src/backend/wasm) against the reference TypeScript backend: every
 * elementwise op of the op table (odd sizes, broadcasting, strided/transposed views, inlined
 * `frame` views, ranks 0-4, int32/bool), the SIMD elementary functions (accuracy measured over
 * ranges and at special values), reductions over each axis (large ones too, argmax/argmin ties
 * and NaN), softmax/logSoftmax/logsumexp and layer/rms norms on short and long rows,
 * convolutions (forward and both gradients; worker threads on large ones), the fused optimizer
 * update, matmul with transposed operands, and the prepared (compiled replay) path.
 *
 * Tolerances: elementwise ops and reductions |a - b| <= 1e-5 * max(|b|, 1e-3 * max|ref|);
 * matmul and convolutions 1e-4 * max(|b|, 1e-3 * max|ref|, s) where s is the same computation
 * on |inputs| (the magnitude of the summed terms: float32 accumulation vs the float64
 * reference); the optimizer 1e-5. The backend must not fall back to the reference for any
 * kernel kind it implements.
 */

import { equal } from "node:assert/strict";
import { assertClose, Rng } from "../util.ts";
import { arange, tensor } from "../../src/tensor/creation.ts";
import { rand, randn, randomBits } from "../../src/tensor/random.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";
import {
  conv2d,
  convTranspose2d,
  layerNorm,
  rmsNorm,
  scatterAdd,
} from "../../src/tensor/functional.ts";
import { ELEMENTWISE } from "../../src/tensor/ops_table.ts";
import { setCpuBackend } from "../../src/backend/device.ts";
import { JsBackend } from "../../src/backend/cpu/js_backend.ts";
import { WasmBackend } from "../../src/backend/wasm/backend.ts";
import { WasmHeap } from "../../src/backend/wasm/heap.ts";
import type { Backend, Kernel, OptimKernel } from "../../src/backend/types.ts";
import { contiguousView } from "../../src/ir/view.ts";

const ref = new JsBackend();
const wasm = new WasmBackend();

/** Kernel kinds the wasm backend implements (no fallback allowed). */
const WASM_KINDS = [
  "ew",
  "reduce",
  "matmul",
  "softmax",
  "norm",
  "optim",
  "conv",
  "rng",
  "gather",
];

function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name: `wasm: ${name}`, sanitizeOps: false, sanitizeResources: false, fn });
}

type Out = ArrayLike<number>;

/** Runs `fn` with `b` serving the cpu device; returns the values of the tensors it returns. */
async function on(b: Backend, fn: () => Tensor[]): Promise<Out[]> {
  const prev = setCpuBackend(b);
  try {
    const ts = fn();
    const out: Out[] = [];
    for (const t of ts) out.push(await t.data());
    return out;
  } finally {
    setCpuBackend(prev);
  }
}

function noFallbacks(label: string): void {
  for (const kind of WASM_KINDS) {
    equal(wasm.fallbacks.get(kind) ?? 0, 0, `${label}: ${kind} fell back to the reference`);
  }
}

/** Largest relative error (floor 1e-3 max|ref|) seen per op, for the summary. */
const worstByOp = new Map<string, number>();

function record(key: string, got: Out, want: Out): void {
  let mx = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i])) mx = Math.max(mx, Math.abs(want[i]));
  }
  let worst = worstByOp.get(key) ?? 0;
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    worst = Math.max(worst, Math.abs(a - b) / Math.max(Math.abs(b), 1e-3 * mx, 1e-38));
  }
  worstByOp.set(key, worst);
}

/**
 * Compares wasm and reference on `fn` (1e-5 relative, floor 1e-3 max|ref|, or `floor` when
 * given: an absolute floor for outputs that a float32 kernel computes from terms of that size).
 */
async function same(
  label: string,
  fn: () => Tensor[],
  rtol = 1e-5,
  key?: string,
  floor?: number,
): Promise<void> {
  const [r, w] = [await on(ref, fn), await on(wasm, fn)];
  r.forEach((x, i) => {
    assertClose(w[i], x, { rtol, floor, label: `${label} #${i}` });
    if (key) record(key, w[i], x);
  });
  noFallbacks(label);
}

/**
 * Compares with the magnitude of the summed terms: `fnAbs` is the same computation on absolute
 * values, run on the reference.
 */
async function sameSums(
  label: string,
  fn: (abs: boolean) => Tensor[],
  rtol = 1e-4,
): Promise<void> {
  const r = await on(ref, () => fn(false));
  const w = await on(wasm, () => fn(false));
  const mag = await on(ref, () => fn(true));
  r.forEach((x, i) => assertClose(w[i], x, { rtol, scale: mag[i], label: `${label} #${i}` }));
  noFallbacks(label);
}

// ---------------------------------------------------------------------------------------------
// Elementwise ops
// ---------------------------------------------------------------------------------------------

const rng = new Rng(7);

/** Float data for an op's argument `i`, in the op's normal domain. */
function floatArg(op: string, i: number, n: number, r: Rng): Float32Array {
  const x = r.uniform(n, -4, 4);
  switch (op) {
    case "log":
    case "sqrt":
    case "rsqrt":
      return r.uniform(n, 1e-3, 50);
    case "floor":
    case "ceil":
    case "round":
      // halves (ties) and values close to integers
      return x.map((v, k) => (k % 3 === 0 ? Math.round(v * 2) / 2 : v));
    case "pow":
      if (i === 1) return x.map((v, k) => (k % 3 === 0 ? Math.round(v) : v * 0.75));
      return x.map((v, k) => (k % 5 === 0 ? 0 : v * 2));
    case "div":
    case "reciprocal":
      return x.map((v) => (Math.abs(v) < 1e-2 ? 0.5 : v));
    case "symexp":
    case "exp":
      return r.uniform(n, -20, 20);
    case "sigmoid":
    case "silu":
    case "elu":
    case "softplus":
    case "mish":
    case "fastMish":
    case "gelu":
    case "tanh":
      return r.uniform(n, -25, 25);
    case "clamp":
      return i === 0 ? x : i === 1 ? r.uniform(n, -2, 0) : r.uniform(n, 0, 2);
    case "eq":
    case "ne":
      return x.map((v) => Math.round(v));
    default:
      return x;
  }
}

type ArgKind = "f32" | "i32" | "bool";

function makeArg(
  op: string,
  i: number,
  shape: number[],
  kind: ArgKind,
  seed: number,
): () => Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = new Rng(seed);
  if (kind === "bool") {
    const d = r.bools(n);
    return () => tensor(d, shape);
  }
  if (kind === "i32") {
    const d = op === "clamp" && i > 0
      ? r.ints(n, i === 1 ? -3 : 0, i === 1 ? 0 : 3)
      : r.ints(n, -9, 9);
    return () => tensor(d, shape);
  }
  const d = floatArg(op, i, n, r);
  return () => tensor(d, shape);
}

/** Argument kinds each op is tested with. */
function kindsOf(op: string): ArgKind[][] {
  const def = ELEMENTWISE[op];
  const n = def.arity;
  const all = (k: ArgKind) => Array.from({ length: n }, () => k);
  switch (def.rule) {
    case "logic":
      return [all("bool")];
    case "where":
      return [["bool", "f32", "f32"], ["bool", "i32", "f32"], ["bool", "i32", "i32"], [
        "bool",
        "bool",
        "bool",
      ]];
    case "cmp":
      return [all("f32"), all("i32"), n === 2 ? ["i32", "f32"] : all("f32")];
    case "same":
      return [all("f32"), all("i32"), ...(op === "add" || op === "abs" ? [all("bool")] : [])];
    default:
      return [all("f32"), ...(op === "exp" || op === "div" ? [all("i32")] : [])];
  }
}

const S = [37, 13];

for (const op of Object.keys(ELEMENTWISE)) {
  test(`elementwise ${op}`, async () => {
    const arity = ELEMENTWISE[op].arity;
    let seed = 100;
    for (const kinds of kindsOf(op)) {
      const tag = `${op}(${kinds.join(",")})`;
      // contiguous, odd sizes
      const args = kinds.map((k, i) => makeArg(op, i, S, k, seed++));
      await same(
        `${tag} [37,13]`,
        () => {
          const xs = args.map((a) => a());
          return [xs[0].ew(op, xs.slice(1))];
        },
        1e-5,
        op,
      );
      // transposed views of every operand
      const targs = kinds.map((k, i) => makeArg(op, i, [13, 37], k, seed++));
      await same(
        `${tag} transposed`,
        () => {
          const xs = targs.map((a) => a().transpose());
          return [xs[0].ew(op, xs.slice(1))];
        },
        1e-5,
        op,
      );
      // broadcasting: a row vector and a column vector
      if (arity > 1) {
        const bargs = kinds.map((k, i) =>
          makeArg(op, i, i === 0 ? S : i === 1 ? [13] : [37, 1], k, seed++)
        );
        await same(
          `${tag} broadcast`,
          () => {
            const xs = bargs.map((a) => a());
            const swapped = kinds[0] === kinds[1] ? [xs[1].ew(op, [xs[0], ...xs.slice(2)])] : [];
            return [xs[0].ew(op, xs.slice(1)), ...swapped];
          },
          1e-5,
          op,
        );
      }
      // rank 0 and rank 4 (permuted)
      const sargs = kinds.map((k, i) => makeArg(op, i, [], k, seed++));
      await same(
        `${tag} rank 0`,
        () => {
          const xs = sargs.map((a) => a());
          return [xs[0].ew(op, xs.slice(1))];
        },
        1e-5,
        op,
      );
      const r4 = kinds.map((k, i) => makeArg(op, i, [3, 5, 2, 7], k, seed++));
      await same(
        `${tag} rank 4`,
        () => {
          const xs = r4.map((a) => a().permute([2, 0, 3, 1]));
          return [xs[0].ew(op, xs.slice(1))];
        },
        1e-5,
        op,
      );
    }
  });
}

test("elementwise sizes around the vector width, offsets and slices", async () => {
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1023, 4099]) {
    const a = rng.uniform(n + 5, -3, 3), b = rng.uniform(n, -3, 3);
    await same(`n=${n}`, () => {
      const x = tensor(a).realize().narrow(0, 5, n), y = tensor(b);
      return [x.mul(y).add(1).exp(), x.gt(y), x.cast("int32").mul(3)];
    });
  }
  // transposed operands and outputs: the last two axes are tiled (blocks of 8 rows)
  for (const [r, c] of [[1, 9], [3, 5], [8, 4], [9, 17], [17, 9], [64, 33], [301, 300]]) {
    const a = rng.uniform(r * c, -3, 3), b = rng.uniform(c, -3, 3);
    await same(`transpose ${r}x${c}`, () => {
      const x = tensor(a, [r, c]);
      return [
        x.transpose().add(0),
        x.transpose().mul(tensor(b, [c, 1])),
        x.exp().transpose().sub(1),
        x.transpose().reshape([c, r, 1]).add(tensor(b, [c, 1, 1])),
      ];
    });
  }
});

test("fused chains through inlined views (frame nodes)", async () => {
  const kinds = new Set<string>();
  const orig = wasm.run.bind(wasm);
  let frames = 0;
  wasm.run = (k: Kernel) => {
    kinds.add(k.kind);
    if ((k.kind === "ew" || k.kind === "reduce") && JSON.stringify(k.expr).includes('"frame"')) {
      frames++;
    }
    orig(k);
  };
  try {
    const a = rng.uniform(37 * 13, -2, 2), b = rng.uniform(37 * 13, -2, 2);
    const c = rng.uniform(2 * 3 * 5 * 7, -2, 2);
    await same("frames", () => {
      const x = tensor(a, S), y = tensor(b, [13, 37]), z = tensor(c, [2, 3, 5, 7]);
      return [
        x.exp().transpose().add(y),
        x.mul(2).slice([1, 2], [5, 9]).add(1),
        x.transpose().mul(2).reshape([13 * 37]).add(1),
        x.exp().transpose().mul(2).slice([1, 2], [5, 9]).transpose().sin(),
        x.tanh().transpose().sum(0),
        x.mul(x).transpose().argmax(0),
        z.exp().permute([3, 1, 0, 2]).mul(2).reshape([7, 30]).sum(1),
        arange(24).reshape([4, 6]).transpose().mul(3),
        arange(12, { dtype: "float32" }).reshape([3, 4]).exp().transpose().add(1),
        x.gt(0).transpose().logicalAnd(y.lt(0)),
      ];
    });
  } finally {
    wasm.run = orig;
  }
  if (frames === 0) throw new Error("no kernel with a frame node was generated");
});

test("kernels that differ only in which shared node they reuse compile apart", async () => {
  // min(a, c) * c and min(a, c) * a have the same plan key (a repeated node is "^" in it); the
  // wasm kernel cache keys the sharing too. Checked against known values: the reference
  // backend's own cache is keyed by the plan key alone.
  const prev = setCpuBackend(wasm);
  try {
    const a = tensor([1, 2, 3, 4]), c = tensor([10, 20, 30, 40]);
    assertClose(await a.minimum(c).mul(c).data(), [10, 40, 90, 160], { rtol: 0 });
    assertClose(await a.minimum(c).mul(a).data(), [1, 4, 9, 16], { rtol: 0 });
    assertClose(await a.sub(c).mul(a.sub(c)).sum().data(), [2430], { rtol: 0 });
  } finally {
    setCpuBackend(prev);
  }
});

test("random chains of views, broadcasts and ops (fresh reference per case)", async () => {
  const UN = ["exp", "tanh", "abs", "neg", "sigmoid", "square", "relu", "floor", "sqrt", "sin"];
  const BIN = ["add", "sub", "mul", "maximum", "minimum", "div"];
  for (let it = 0; it < 150; it++) {
    const r0 = new Rng(1000 + it);
    const shape = r0.shape(r0.int(0, 4), [1, 2, 3, 4, 5, 7, 8, 9, 13, 17], 3000);
    const n = shape.reduce((a, b) => a * b, 1);
    const dA = r0.uniform(n, 0.5, 2), dB = r0.uniform(n, 0.5, 2);
    const perm = shape.map((_, i) => i).sort(() => r0.next() - 0.5);
    const bshape = shape.map((s) => (r0.chance(0.4) ? 1 : s));
    const dC = r0.uniform(bshape.reduce((a, b) => a * b, 1), 0.5, 2);
    const ops = Array.from({ length: r0.int(1, 5) }, () => r0.pick([...UN, ...BIN, "T"]));
    const redOp = r0.pick(["sum", "max", "min", "argmax", "none"]);
    const build = (): Tensor[] => {
      const r = new Rng(it);
      let x = tensor(dA, shape).permute(perm);
      let y = tensor(dB, shape).permute(perm), z = tensor(dC, bshape).permute(perm);
      for (const op of ops) {
        if (op === "T") {
          const p = x.shape.map((_, i) => i).sort(() => r.next() - 0.5);
          [x, y, z] = [x.permute(p), y.permute(p), z.permute(p)];
        } else if (UN.includes(op)) {
          x = (x as unknown as Record<string, () => Tensor>)[op]().abs().add(0.5);
        } else x = x.ew(op, [r.chance(0.5) ? y : z]);
      }
      if (redOp === "none" || !x.shape.length) return [x];
      const ax = r.int(0, x.shape.length - 1);
      const red = redOp === "argmax"
        ? x.argmax(ax)
        : (x as unknown as Record<string, (a: number) => Tensor>)[redOp](ax);
      return [x, red];
    };
    const want = await on(new JsBackend(), build);
    const got = await on(wasm, build);
    want.forEach((w, i) =>
      assertClose(got[i], w, { rtol: 1e-5, label: `case ${it} ${ops} #${i}` })
    );
  }
  noFallbacks("random chains");
});

/** Waits (up to 2 s) for the kernel worker threads to be up. */
/** Waits (up to 120 s: worker startup is slow on a loaded machine) until the workers are up. */
async function workersUp(): Promise<void> {
  for (let i = 0; i < 6000 && wasm.threads.ready < wasm.threads.size - 1; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("large generated kernels split over the worker threads", async () => {
  await workersUp();
  const before = wasm.threads.dispatched;
  const a = rng.uniform(1001 * 257, -2, 2), b = rng.uniform(1001 * 257, -2, 2);
  const c = rng.uniform(5 * 301 * 203, -2, 2);
  await same("split", () => {
    const x = tensor(a, [1001, 257]), y = tensor(b, [1001, 257]);
    const z = tensor(c, [5, 301, 203]);
    return [
      x.mul(y).exp().tanh().mul(x.sin().add(3)),
      x.reshape([1001 * 257]).exp().add(1),
      x.transpose().mul(2).exp(),
      z.permute([0, 2, 1]).exp().mul(0.5),
      x.exp().sum(1),
      x.exp().sum(0),
      x.exp().argmax(1),
      z.sin().max(2),
      z.exp().permute([1, 0, 2]).sum(1),
    ];
  });
  if (wasm.threads.size > 1 && wasm.threads.dispatched === before) {
    throw new Error("no generated kernel ran on a worker thread");
  }
});

// ---------------------------------------------------------------------------------------------
// Elementary functions: accuracy
// ---------------------------------------------------------------------------------------------

interface Range {
  readonly fn: string;
  readonly label: string;
  readonly gen: (r: Rng, n: number) => [Float32Array, Float32Array?];
  readonly ref: (a: number, b: number) => number;
}

const uni = (lo: number, hi: number) => (r: Rng, n: number): [Float32Array] => [
  r.uniform(n, lo, hi),
];
const logUni = (lo: number, hi: number, neg = false) => (r: Rng, n: number): [Float32Array] => [
  r.uniform(n, Math.log(lo), Math.log(hi)).map((v, i) => (neg && i % 2 ? -1 : 1) * Math.exp(v)),
];

const RANGES: Range[] = [
  { fn: "exp", label: "[-1, 1]", gen: uni(-1, 1), ref: Math.exp },
  { fn: "exp", label: "|x| < 1e-4", gen: uni(-1e-4, 1e-4), ref: Math.exp },
  { fn: "exp", label: "[-87, 88.7]", gen: uni(-87, 88.7), ref: Math.exp },
  { fn: "log", label: "[0.5, 2]", gen: uni(0.5, 2), ref: Math.log },
  { fn: "log", label: "1 +- 1e-4", gen: uni(1 - 1e-4, 1 + 1e-4), ref: Math.log },
  { fn: "log", label: "[1e-30, 1e30]", gen: logUni(1e-30, 1e30), ref: Math.log },
  { fn: "log", label: "denormals", gen: logUni(1e-44, 1e-38), ref: Math.log },
  { fn: "tanh", label: "[-1, 1]", gen: uni(-1, 1), ref: Math.tanh },
  { fn: "tanh", label: "|x| < 1e-4", gen: uni(-1e-4, 1e-4), ref: Math.tanh },
  { fn: "tanh", label: "[-20, 20]", gen: uni(-20, 20), ref: Math.tanh },
  { fn: "sin", label: "[-pi, pi]", gen: uni(-Math.PI, Math.PI), ref: Math.sin },
  { fn: "sin", label: "|x| < 1e-4", gen: uni(-1e-4, 1e-4), ref: Math.sin },
  { fn: "sin", label: "[-1e4, 1e4]", gen: uni(-1e4, 1e4), ref: Math.sin },
  { fn: "sin", label: "[-1e6, 1e6]", gen: uni(-1e6, 1e6), ref: Math.sin },
  { fn: "cos", label: "[-pi, pi]", gen: uni(-Math.PI, Math.PI), ref: Math.cos },
  { fn: "cos", label: "|x| < 1e-4", gen: uni(-1e-4, 1e-4), ref: Math.cos },
  { fn: "cos", label: "[-1e4, 1e4]", gen: uni(-1e4, 1e4), ref: Math.cos },
  { fn: "cos", label: "[-1e6, 1e6]", gen: uni(-1e6, 1e6), ref: Math.cos },
  { fn: "sin", label: "[-3e9, 3e9]", gen: uni(-3e9, 3e9), ref: Math.sin },
  {
    fn: "pow",
    label: "a in [0, 10], b in [-3, 3]",
    gen: (r, n) => [r.uniform(n, 0, 10), r.uniform(n, -3, 3)],
    ref: Math.pow,
  },
  {
    fn: "pow",
    label: "|b log a| < 80",
    gen: (r, n) => [logUni(1e-10, 1e10)(r, n)[0], r.uniform(n, -3.4, 3.4)],
    ref: Math.pow,
  },
  {
    fn: "pow",
    label: "a < 0, integer b",
    gen: (r, n) => [r.uniform(n, -10, 0), r.uniform(n, -8, 8).map(Math.round)],
    ref: Math.pow,
  },
];

/** Relative error of a float32 result against the float64 function rounded to float32. */
function relErr(got: number, want: number): number {
  if (Number.isNaN(want) || Number.isNaN(got)) {
    return Number.isNaN(want) && Number.isNaN(got) ? 0 : 1;
  }
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want ? 0 : 1;
  if (want === 0) return Math.abs(got) <= 2 ** -149 ? 0 : 1;
  return Math.abs(got - want) / Math.abs(want);
}

function runFn(fn: string, a: Float32Array, b?: Float32Array): () => Tensor[] {
  return () => {
    const x = tensor(a);
    if (fn === "pow") return [x.pow(tensor(b!))];
    return [(x as unknown as Record<string, () => Tensor>)[fn]()];
  };
}

test("elementary functions: accuracy over ranges (max relative error <= 1e-5)", async () => {
  const r = new Rng(3);
  const rows: string[] = [];
  for (const range of RANGES) {
    const n = 1 << 16;
    const [a, b] = range.gen(r, n);
    const [w] = await on(wasm, runFn(range.fn, a, b));
    let worst = 0, at = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.fround(range.ref(a[i], b ? b[i] : 0));
      const e = relErr(w[i], want);
      if (e > worst) [worst, at] = [e, i];
    }
    rows.push(`${range.fn.padEnd(4)} ${range.label.padEnd(28)} ${worst.toExponential(2)}`);
    if (worst > 1e-5) {
      throw new Error(
        `${range.fn} ${range.label}: relative error ${worst} at x = ${a[at]}` +
          `${b ? `, y = ${b[at]}` : ""}: got ${w[at]}, want ${range.ref(a[at], b ? b[at] : 0)}`,
      );
    }
  }
  console.log(`max relative error vs float64 (65536 samples each):\n  ${rows.join("\n  ")}`);
  noFallbacks("accuracy");
});

test("elementary functions: special values and overflow boundaries", async () => {
  const cases: [string, number, number][] = [
    ["exp", 89, Infinity],
    ["exp", 88.8, Infinity],
    ["exp", 88.72, Math.exp(Math.fround(88.72))],
    ["exp", -104, 0],
    ["exp", -87.5, Math.fround(Math.exp(-87.5))],
    ["exp", Infinity, Infinity],
    ["exp", -Infinity, 0],
    ["exp", NaN, NaN],
    ["exp", 0, 1],
    ["log", 0, -Infinity],
    ["log", -0, -Infinity],
    ["log", -1, NaN],
    ["log", -Infinity, NaN],
    ["log", Infinity, Infinity],
    ["log", NaN, NaN],
    ["log", 1, 0],
    ["log", 1.401298464324817e-45, Math.fround(Math.log(1.401298464324817e-45))],
    ["log", 3.4028234663852886e38, Math.fround(Math.log(3.4028234663852886e38))],
    ["tanh", Infinity, 1],
    ["tanh", -Infinity, -1],
    ["tanh", 0, 0],
    ["tanh", NaN, NaN],
    ["sin", Infinity, NaN],
    ["sin", NaN, NaN],
    ["sin", 0, 0],
    ["cos", -Infinity, NaN],
    ["cos", 0, 1],
    ["sqrt", -1, NaN],
    ["sqrt", Infinity, Infinity],
  ];
  const xs = new Float32Array(cases.map((c) => c[1]));
  for (const fn of new Set(cases.map((c) => c[0]))) {
    const [w] = await on(wasm, runFn(fn, xs));
    cases.forEach(([f, x, want], i) => {
      if (f !== fn) return;
      const got = w[i];
      const ok = Number.isNaN(want) ? Number.isNaN(got) : relErr(got, Math.fround(want)) <= 3e-7;
      if (!ok) throw new Error(`${fn}(${x}) = ${got}, expected ${want}`);
    });
  }
  // exp in the denormal range: within 2 denormal steps of the correctly rounded value
  const d = new Rng(5).uniform(4096, -103.9, -87.4);
  const [w] = await on(wasm, runFn("exp", d));
  for (let i = 0; i < d.length; i++) {
    const want = Math.fround(Math.exp(d[i]));
    if (Math.abs(w[i] - want) > 2 * 2 ** -149 + 2e-7 * want) {
      throw new Error(`exp(${d[i]}) = ${w[i]}, expected ${want}`);
    }
  }
  // pow special cases (Math.pow semantics, as the reference)
  const P: [number, number][] = [];
  for (const a of [0, -0, 1, -1, 2, -2, 0.5, Infinity, -Infinity, NaN]) {
    for (const b of [0, -0, 1, -1, 2, 3, -3, 0.5, -0.5, Infinity, -Infinity, NaN]) P.push([a, b]);
  }
  const pa = new Float32Array(P.map((p) => p[0])), pb = new Float32Array(P.map((p) => p[1]));
  await same("pow specials", () => [tensor(pa).pow(tensor(pb))]);
});

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

test("reductions over each axis, ranks 1-4, all ops", async () => {
  const shapes = [[1001], [37, 13], [7, 5, 9], [3, 4, 5, 6], [2, 1, 33, 3]];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = rng.uniform(n, -2, 2), i = rng.ints(n, -5, 5), b = rng.bools(n);
    for (let ax = -1; ax < shape.length; ax++) {
      const axes = ax < 0 ? null : ax;
      const tag = `${JSON.stringify(shape)} axis ${axes}`;
      await same(`float ${tag}`, () => {
        const x = tensor(f, shape);
        return [x.sum(axes), x.max(axes), x.min(axes), x.prod(axes), x.mean(axes)];
      });
      await same(`int/bool ${tag}`, () => {
        const x = tensor(i, shape), y = tensor(b, shape);
        return [x.sum(axes), x.max(axes), x.min(axes), x.prod(axes), y.sum(axes), y.max(axes)];
      });
      if (ax >= 0) {
        await same(`arg ${tag}`, () => {
          const x = tensor(f, shape), y = tensor(i, shape);
          return [x.argmax(ax), x.argmin(ax), y.argmax(ax), y.argmin(ax)];
        });
      }
      // a fused prologue read through a transposed view
      if (shape.length >= 2 && ax >= 0) {
        await same(`fused ${tag}`, () => {
          const x = tensor(f, shape);
          const p = x.transpose();
          const tax = shape.length - 1 - ax;
          return [p.mul(p).add(1).sum(tax), p.exp().max(tax), p.sub(0.5).argmax(tax)];
        });
      }
    }
    // several axes at once
    if (shape.length >= 3) {
      await same(`axes [0, 2] of ${shape}`, () => {
        const x = tensor(f, shape);
        return [x.sum([0, 2]), x.max([0, 2]), x.variance([0, 2])];
      });
    }
  }
});

test("argmax/argmin: first index on ties, NaN wins", async () => {
  const rows = [
    [1, 3, 3, 2, 3, 0, 1],
    [5, 5, 5, 5, 5, 5, 5],
    [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    [0, 1, NaN, 2, NaN, 9, 9],
    [NaN, 1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6, NaN],
    [-0, 0, -0, 0, 0, 0, 0],
    [2, 1, 1, 1, 2, 1, 2],
  ];
  const flat = new Float32Array(rows.flat());
  await same("ties", () => {
    const x = tensor(flat, [8, 7]);
    return [x.argmax(1), x.argmin(1), x.argmax(0), x.argmin(0), x.max(1), x.min(1)];
  });
  // long rows (vector lanes and the tail): the maximum at several positions
  for (const n of [4, 5, 8, 33, 1000]) {
    for (const pos of [0, 1, 3, n - 1]) {
      if (pos >= n) continue;
      const d = new Float32Array(n).fill(1);
      d[pos] = 7;
      d[n - 1] = 7;
      await same(`ties n=${n} pos=${pos}`, () => [tensor(d).argmax(0), tensor(d).argmin(0)]);
    }
  }
});

test("large reductions", async () => {
  const n = 1 << 20;
  const d = rng.normal(n + 3, 1, 1);
  await same("1M + 3", () => {
    const x = tensor(d);
    return [x.sum(), x.max(), x.argmin(0), x.mean()];
  });
  const m = rng.uniform(1024 * 1024, -1, 1);
  await same("1024 x 1024 rows and columns", () => {
    const x = tensor(m, [1024, 1024]);
    return [x.sum(0), x.sum(1), x.max(0), x.argmax(1)];
  });
});

// ---------------------------------------------------------------------------------------------
// Softmax and norms
// ---------------------------------------------------------------------------------------------

test("softmax / logSoftmax / logsumexp, short and long rows", async () => {
  for (const [rows, cols] of [[1, 1], [3, 2], [37, 13], [5, 4], [4, 1000], [3, 5001], [2, 65]]) {
    const d = rng.uniform(rows * cols, -8, 8);
    await same(`${rows}x${cols}`, () => {
      const x = tensor(d, [rows, cols]);
      return [x.softmax(1), x.logSoftmax(1), x.logsumexp(1), x.softmax(0)];
    });
  }
  const special = new Float32Array([
    ...[1, -Infinity, 2, 3, -Infinity],
    ...[-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    ...[1, NaN, 2, 3, 4],
    ...[1000, -1000, 999, 0, 1],
  ]);
  await same("-inf / NaN rows", () => {
    const x = tensor(special, [4, 5]);
    return [x.softmax(1), x.logSoftmax(1), x.logsumexp(1)];
  });
  // Rows of 13: the max pass reads 8 lanes per step, then 4, then a tail of 1; NaN in each part,
  // and spreads past exp's underflow (terms below 2^-126 are 0 beside a sum >= 1).
  const wide = new Float32Array(5 * 13).map((_, i) => (i % 7) - 3);
  for (const [row, col] of [[0, 1], [1, 6], [2, 9], [3, 12]]) wide[row * 13 + col] = NaN;
  wide.set([0, -90, -100, -87, -88, -200, -Infinity, -50, -103, -104, -105, 1e30, -1e30], 52);
  await same("NaN in each part of a 13-wide row; underflow", () => {
    const x = tensor(wide, [5, 13]);
    return [x.softmax(1), x.logSoftmax(1), x.logsumexp(1)];
  });
  const big = rng.uniform(512 * 300, -5, 5);
  await same("big (threads)", () => {
    const x = tensor(big, [512, 300]);
    return [x.softmax(1), x.logsumexp(1)];
  });
});

// The norms compute in float32 (as PyTorch's CPU kernels): an output near 0 is a difference of
// O(1) terms (x_hat * w + b; the backward's g - x_hat * mean(g x_hat) - mean(g)), so it is
// compared at an absolute floor (forward 1e-5 x 0.1, backward 1e-4 x 1e-2: 1e-6, a few ulps of
// terms up to ~4).
test("layerNorm / rmsNorm with and without weight and bias", async () => {
  for (const [rows, cols] of [[1, 1], [3, 3], [37, 13], [4, 1000], [5, 3001], [512, 256]]) {
    const d = rng.normal(rows * cols, 0.5, 2);
    const w = rng.uniform(cols, 0.5, 1.5), b = rng.uniform(cols, -1, 1);
    await same(
      `${rows}x${cols}`,
      () => {
        const x = tensor(d, [rows, cols]), wt = tensor(w), bs = tensor(b);
        return [
          layerNorm(x, wt, bs),
          layerNorm(x, null, null),
          layerNorm(x, wt, null),
          rmsNorm(x, wt),
          rmsNorm(x),
        ];
      },
      1e-5,
      undefined,
      0.1,
    );
  }
  // a large mean relative to the spread (the mean is kept as the first value + a small delta)
  const d = rng.normal(7 * 333, 1000, 0.5);
  await same(
    "offset rows",
    () => [layerNorm(tensor(d, [7, 333]), null, null)],
    1e-5,
    undefined,
    0.1,
  );
});

test("layerNorm / rmsNorm gradients (the backward row kernel), short and long rows", async () => {
  // rows of 1-3 values, a 4-lane tail, long rows, and enough rows to split over the threads
  for (const [rows, cols] of [[1, 1], [3, 3], [2, 2], [37, 13], [4, 1000], [5, 3001], [512, 256]]) {
    const d = rng.normal(rows * cols, 0.5, 2), gy = rng.normal(rows * cols);
    const w = rng.uniform(cols, 0.5, 1.5), b = rng.uniform(cols, -1, 1);
    await same(
      `${rows}x${cols}`,
      () => {
        const outs: Tensor[] = [];
        const cases: [string, (x: Tensor, wt: Tensor, bs: Tensor) => Tensor][] = [
          ["layer affine", (x, wt, bs) => layerNorm(x, wt, bs)],
          ["layer", (x) => layerNorm(x, null, null)],
          ["rms weight", (x, wt) => rmsNorm(x, wt)],
          ["rms", (x) => rmsNorm(x)],
        ];
        for (const [, fn] of cases) {
          const x = tensor(d, [rows, cols]).setRequiresGrad();
          const wt = tensor(w).setRequiresGrad(), bs = tensor(b).setRequiresGrad();
          fn(x, wt, bs).mul(tensor(gy, [rows, cols])).sum().backward();
          outs.push(x.grad!, ...[wt, bs].flatMap((p) => (p.grad ? [p.grad] : [])));
        }
        return outs;
      },
      1e-4,
      undefined,
      1e-2,
    );
  }
});

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
  readonly outputPadding?: number;
}

const CONV_CASES: ConvCase[] = [
  { n: 2, cin: 3, cout: 4, h: 8, w: 8, k: 4, stride: 2, padding: 1 },
  { n: 3, cin: 5, cout: 6, h: 7, w: 9, k: 3, stride: 1, padding: 1 },
  { n: 1, cin: 4, cout: 3, h: 5, w: 5, k: 1, stride: 1, padding: 0 },
  { n: 1, cin: 7, cout: 13, h: 11, w: 6, k: 3, stride: 2, padding: 0 },
  { n: 3, cin: 2, cout: 9, h: 9, w: 13, k: 5, stride: 3, padding: 2 },
  { n: 1, cin: 10, cout: 1, h: 6, w: 7, k: 2, stride: 1, padding: 1 },
  { n: 3, cin: 6, cout: 18, h: 32, w: 30, k: 4, stride: 2, padding: 1 },
  // large: split over worker threads
  { n: 4, cin: 16, cout: 32, h: 33, w: 31, k: 3, stride: 1, padding: 1 },
  { n: 1, cin: 32, cout: 16, h: 40, w: 40, k: 4, stride: 2, padding: 1 },
  // small images in groups (one product over several images' pixels): a last group smaller
  // than the others (40 = 16 + 16 + 8 outputs of 4x4), 5x3 outputs, and groups over threads
  { n: 40, cin: 8, cout: 12, h: 8, w: 8, k: 4, stride: 2, padding: 1 },
  { n: 7, cin: 3, cout: 5, h: 10, w: 6, k: 3, stride: 2, padding: 1 },
  { n: 24, cin: 16, cout: 32, h: 8, w: 8, k: 4, stride: 2, padding: 1 },
];

async function checkConv(c: ConvCase, transposed: boolean, seed: number): Promise<void> {
  const r = new Rng(seed);
  const x = r.normal(c.n * c.cin * c.h * c.w);
  const wShape = transposed ? [c.cin, c.cout, c.k, c.k] : [c.cout, c.cin, c.k, c.k];
  const w = r.normal(wShape.reduce((a, b) => a * b, 1), 0, 0.5);
  const b = r.normal(c.cout);
  const gy = r.normal(1 << 20);
  const label = `${transposed ? "convT" : "conv"} n${c.n} ${c.cin}->${c.cout} ${c.h}x${c.w} ` +
    `k${c.k} s${c.stride} p${c.padding}`;
  await sameSums(label, (abs) => {
    const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
    const xt = tensor(f(x), [c.n, c.cin, c.h, c.w]).setRequiresGrad();
    const wt = tensor(f(w), wShape).setRequiresGrad();
    const bt = tensor(f(b)).setRequiresGrad();
    const opts = {
      stride: c.stride,
      padding: c.padding,
      bias: bt,
      outputPadding: c.outputPadding,
    };
    const y = transposed ? convTranspose2d(xt, wt, opts) : conv2d(xt, wt, opts);
    const ny = y.shape.reduce((a, b) => a * b, 1);
    y.mul(tensor(f(gy.subarray(0, ny)), y.shape)).sum().backward();
    return [y, xt.grad!, wt.grad!, bt.grad!];
  });
}

test("conv2d forward and gradients (im2col + gemm)", async () => {
  // wait for the worker threads so the large cases run split
  await workersUp();
  const before = wasm.threads.dispatched;
  let seed = 1;
  for (const c of CONV_CASES) {
    // idle workers leave after 2 s, and a slow reference computation can outlast that
    await workersUp();
    await checkConv(c, false, seed++);
  }
  if (wasm.threads.size > 1 && wasm.threads.dispatched === before) {
    throw new Error("no convolution ran on a worker thread");
  }
});

test("convTranspose2d forward and gradients (gemm + col2im)", async () => {
  let seed = 50;
  for (const c of CONV_CASES) await checkConv(c, true, seed++);
  const extra: ConvCase[] = [
    { n: 2, cin: 5, cout: 3, h: 4, w: 6, k: 3, stride: 2, padding: 1, outputPadding: 1 },
    { n: 1, cin: 3, cout: 5, h: 3, w: 2, k: 4, stride: 3, padding: 0, outputPadding: 2 },
  ];
  for (const c of extra) await checkConv(c, true, seed++);
});

test("conv kernels read operands at buffer offsets", async () => {
  const x = rng.normal(4 * 3 * 9 * 9), w = rng.normal(3 * 6 * 3 * 3), b = rng.normal(7);
  await sameSums("offsets", (abs) => {
    const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
    const xs = tensor(f(x), [4, 3, 9, 9]).realize().narrow(0, 1, 2);
    const ww = tensor(f(w), [3, 6, 3, 3]).realize();
    const ws = ww.narrow(1, 2, 3).contiguous().realize();
    const bs = tensor(f(b)).realize();
    return [
      conv2d(xs, ws, { stride: 2, padding: 1, bias: bs.narrow(0, 4, 3) }),
      convTranspose2d(xs.narrow(1, 1, 2), ww.narrow(0, 1, 2), {
        stride: 2,
        padding: 1,
        bias: bs.narrow(0, 1, 6),
      }),
    ];
  });
});

// ---------------------------------------------------------------------------------------------
// Matmul (the gemm gained an accumulate flag; transposed operands)
// ---------------------------------------------------------------------------------------------

test("matmul with transposed and broadcast operands, epilogues", async () => {
  // (130 x 257 x 67 and up split over the threads with B packed once: several K blocks of 256,
  // 300 x 600 x 530 also two N blocks of 512 and a padded last panel)
  for (const [m, k, n] of [[1, 1, 1], [5, 7, 3], [37, 64, 13], [130, 257, 67], [300, 600, 530]]) {
    const a = rng.normal(m * k), b = rng.normal(k * n), bias = rng.normal(n);
    await sameSums(`${m}x${k}x${n}`, (abs) => {
      const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
      const A = tensor(f(a), [m, k]), B = tensor(f(b), [k, n]);
      const At = tensor(f(a), [k, m]).transpose(), Bt = tensor(f(b), [n, k]).transpose();
      return [
        A.matmul(B),
        At.matmul(B),
        A.matmul(Bt),
        At.matmul(Bt),
        A.matmul(B).add(tensor(f(bias))).relu(),
      ];
    });
  }
});

test("Linear layers: x W^T + b with the bias added by the unpacked gemm", async () => {
  // The epilogue `acc + bias` (bias repeated over the rows) runs inside gemm_small: row-major B,
  // k-contiguous B (dot products below 32 rows, a transposed copy from 32), columns not a
  // multiple of 8 or 4, rows not a multiple of 4; per-batch and shared biases, a bias at an
  // offset, the sum written either way round, and 256 rows split over the threads.
  for (const [nb, m, k, n] of [[1, 5, 7, 3], [1, 37, 13, 11], [1, 64, 32, 101], [2, 40, 16, 19]]) {
    const [a, w, bias] = [rng.normal(nb * m * k), rng.normal(nb * n * k), rng.normal(nb * n + 3)];
    await sameSums(`${nb}x${m}x${k}x${n}`, (abs) => {
      const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
      const x = tensor(f(a), [nb, m, k]), W = tensor(f(w), [nb, n, k]);
      const b = tensor(f(bias)).narrow(0, 3, nb * n);
      const shared = b.narrow(0, 0, n), perBatch = b.reshape([nb, 1, n]);
      return [
        x.matmul(W.mT).add(shared),
        shared.add(x.matmul(W.mT)),
        x.matmul(W.mT).add(perBatch),
        x.matmul(W.mT.contiguous()).add(shared),
      ];
    });
  }
  const [a, w, bias] = [rng.normal(256 * 32), rng.normal(32 * 32), rng.normal(32)];
  await sameSums("256 rows over the threads", (abs) => {
    const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
    const W = tensor(f(w), [32, 32]);
    return [tensor(f(a), [256, 32]).matmul(W.mT).add(tensor(f(bias)))];
  });
});

test("batched matmul split over the threads (B packed once per batch), broadcast B", async () => {
  const [nb, m, k, n] = [3, 70, 300, 260]; // k * n above the unpacked-gemm limit
  const a = rng.normal(nb * m * k), b = rng.normal(nb * k * n);
  await sameSums("batched", (abs) => {
    const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
    const A = tensor(f(a), [nb, m, k]), B = tensor(f(b), [nb, k, n]);
    const B0 = tensor(f(b).slice(0, k * n), [k, n]);
    return [A.matmul(B), A.matmul(B0), A.matmul(tensor(f(b), [nb, n, k]).mT)];
  });
});

test("few-row products with a large B (gemm_cols, column strips over the threads)", async () => {
  // k * n above the unpacked-gemm limit, m <= 32: B row-major (8-column strips) and
  // k-contiguous (x @ W^T: 2-column dot-product strips); rows not a multiple of 4, odd columns,
  // k not a multiple of 4; 16 x 512 x 1024 and the batched ones split over the threads.
  for (
    const [nb, m, k, n] of [
      [1, 1, 300, 301],
      [1, 7, 301, 299],
      [1, 13, 258, 515],
      [
        1,
        16,
        512,
        1024,
      ],
      [3, 5, 260, 301],
      [2, 32, 129, 520],
    ]
  ) {
    const a = rng.normal(nb * m * k), b = rng.normal(nb * k * n), bias = rng.normal(n);
    await sameSums(`${nb}x${m}x${k}x${n}`, (abs) => {
      const f = (d: Float32Array) => (abs ? d.map(Math.abs) : d);
      const A = tensor(f(a), [nb, m, k]), B = tensor(f(b), [nb, k, n]);
      const Bt = tensor(f(b), [nb, n, k]).mT;
      const Ak = tensor(f(a), [nb, k, m]).mT; // A transposed: row-major B only
      return [A.matmul(B), A.matmul(Bt), Ak.matmul(B), A.matmul(B).add(tensor(f(bias))).tanh()];
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Optimizer kernel
// ---------------------------------------------------------------------------------------------

function runOptim(b: Backend, rule: "adam" | "laprop", scale: number | null, n: number) {
  const r = new Rng(11);
  const bufs = [r.normal(n), r.normal(n, 0, 0.1), r.normal(n, 0, 0.01), r.uniform(n, 0, 1e-3)];
  const off = 3; // operands at an offset inside their buffers
  const views = bufs.map((d) => {
    const buf = b.alloc(n + off);
    b.write(buf, d, off);
    return { buf, view: contiguousView([n], off) };
  });
  let sv = null;
  if (scale !== null) {
    const sb = b.alloc(2);
    b.write(sb, new Float32Array([0, scale]));
    sv = { buf: sb, view: contiguousView([1], 1) };
  }
  const k: OptimKernel = {
    kind: "optim",
    rule,
    param: views[0],
    grad: views[1],
    m: views[2],
    v: views[3],
    scale: sv,
    n,
    hyper: [1e-3, 0.9, 0.999, 1e-8, 0.01, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 0.5],
  };
  for (let step = 0; step < 3; step++) b.run(k);
  return [0, 2, 3].map((i) => b.readSync!({ buf: views[i].buf, offset: off, n, dtype: "float32" }));
}

test("fused optimizer update (adam, laprop; scale operand)", () => {
  for (const rule of ["adam", "laprop"] as const) {
    for (const scale of [null, 0.25]) {
      for (const n of [1, 5, 1001, 100_003]) {
        const want = runOptim(ref, rule, scale, n);
        const got = runOptim(wasm, rule, scale, n);
        ["param", "m", "v"].forEach((name, i) =>
          assertClose(got[i], want[i], { rtol: 1e-5, label: `${rule} ${scale} n${n} ${name}` })
        );
      }
    }
  }
  noFallbacks("optim");
});

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

test("random numbers: threefry bits and uniforms bit-identical, normals within 1e-5", async () => {
  for (const n of [1, 3, 4, 5, 1001, 300_001]) {
    const fn = () => [
      randomBits([n], { seed: 42 + n }),
      rand([n], { seed: 7 * n }),
      rand([n], { seed: 2 ** 40 + n }),
    ];
    const [r, w] = [await on(ref, fn), await on(wasm, fn)];
    r.forEach((x, i) => assertClose(w[i], x, { rtol: 0, atol: 0, floor: 0, label: `n${n} #${i}` }));
    await same(`randn n${n}`, () => [randn([n], { seed: 3 + n })]);
  }
  // a draw into a slice of a larger buffer (offset) and a fused consumer
  await same("offset", () => {
    const t = randn([2, 7, 5], { seed: 9 });
    return [t.mul(2).add(rand([7, 5], { seed: 10 })), randn([33], { seed: 11 }).exp()];
  });
  noFallbacks("rng");
});

// ---------------------------------------------------------------------------------------------
// Gather / scatter-add
// ---------------------------------------------------------------------------------------------

test("gather and scatter-add along each axis (exact)", async () => {
  for (const shape of [[7], [5, 6], [3, 4, 5], [2, 300, 129]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = rng.normal(n);
    for (let ax = 0; ax < shape.length; ax++) {
      const k = 2 * shape[ax] + 1;
      const iShape = shape.map((s, d) => (d === ax ? k : s));
      const ni = iShape.reduce((a, b) => a * b, 1);
      // in range, negative (from the end) and out of range (reads 0 / skipped)
      const idx = rng.ints(ni, -shape[ax] - 2, shape[ax] + 1);
      // index_select: whole rows copied at once (out-of-range rows read 0)
      const sel = rng.ints(k, -shape[ax] - 2, shape[ax] + 1);
      const g = new Float32Array(ni).map((_, i) => ((i * 37) % 11) - 5);
      const fn = () => {
        const xt = tensor(x, shape), it = tensor(idx, iShape);
        return [
          xt.gather(it, ax),
          xt.gather(tensor(sel), ax),
          scatterAdd(tensor(g, iShape), it, ax, shape),
        ];
      };
      const [r, w] = [await on(ref, fn), await on(wasm, fn)];
      r.forEach((v, i) =>
        assertClose(w[i], v, { rtol: 0, atol: 0, floor: 0, label: `${shape} axis ${ax} #${i}` })
      );
    }
  }
  noFallbacks("gather");
});

// ---------------------------------------------------------------------------------------------
// Prepared kernels (compiled replay)
// ---------------------------------------------------------------------------------------------

test("prepared kernels replay with the same results", async () => {
  const recorded: Kernel[] = [];
  const orig = wasm.run.bind(wasm);
  wasm.run = (k: Kernel) => {
    recorded.push(k);
    orig(k);
  };
  const a = rng.uniform(37 * 13, -2, 2);
  let first: Out[];
  const prev = setCpuBackend(wasm);
  try {
    const x = tensor(a, S);
    const outs = [x.exp().transpose().add(1), x.sum(0), x.softmax(1), layerNorm(x, null, null)];
    first = [];
    for (const o of outs) first.push((await o.data()).slice());
    wasm.run = orig;
    // replay every recorded kernel through prepare() and read the outputs again
    const fns = recorded.map((k) => wasm.prepare(k));
    for (const f of fns) f();
    for (let i = 0; i < outs.length; i++) {
      assertClose(await outs[i].data(), first[i], { rtol: 0, atol: 0, label: `replay ${i}` });
    }
  } finally {
    wasm.run = orig;
    setCpuBackend(prev);
  }
  noFallbacks("prepared");
});

test("kernels keep working while the heap grows (small initial heap, threads)", async () => {
  const small = new WasmBackend(2, new WasmHeap(1 << 16, 512 << 20));
  try {
    const x = rng.uniform(1 << 20, -2, 2), w = rng.normal(8 * 3 * 3 * 3);
    const img = rng.normal(2 * 3 * 40 * 40);
    for (const n of [1000, 100_000, 1 << 20]) {
      const fn = () => {
        const t = tensor(x.subarray(0, n));
        const c = conv2d(tensor(img, [2, 3, 40, 40]), tensor(w, [8, 3, 3, 3]), { padding: 1 });
        return [
          t.exp().mul(2),
          t.sum(),
          t.reshape([n / 8, 8]).softmax(1),
          c,
          randn([n], { seed: n }),
        ];
      };
      const want = await on(ref, fn);
      const got = await on(small, fn);
      want.forEach((v, i) => assertClose(got[i], v, { rtol: 1e-4, label: `n${n} #${i}` }));
    }
    if (small.heap.sizeBytes <= 1 << 16) throw new Error("the heap did not grow");
    equal([...small.fallbacks].length, 0, "fallbacks");
  } finally {
    small.threads.close();
  }
});

test("no kernel kind fell back to the reference", () => {
  noFallbacks("all tests");
  const ops = [...worstByOp].map(([op, e]) => `${op} ${e.toExponential(1)}`);
  console.log(`max relative error vs the reference per elementwise op:\n  ${ops.join(", ")}`);
  // closing the pool lets the test process exit at once
  addEventListener("unload", () => wasm.threads.close());
});
