/**
 * The differentiable ops under test, shared by the finite-difference gradient check
 * (gradcheck_test.ts, cpu) and the webgpu-vs-cpu gradient parity test (parity_test.ts).
 *
 * A case is a function of float32 inputs (host data, seeded) to one tensor; the tests reduce it
 * to the scalar `L = sum(f(x) * w)` with fixed random weights `w` of the output's shape, so that
 * every output element contributes (a plain `sum` would hide e.g. softmax's gradient, which sums
 * to zero). Input domains avoid kinks and ties by a margin larger than the largest
 * finite-difference perturbation (3 * h = 0.03 with the default step): relu/abs/sign/elu inputs
 * are at least 0.1 from 0, maximum/minimum/clamp operands at least 0.1 apart, floor/ceil/round
 * inputs at least 0.2 from integers and half-integers, max/min/sort/maxPool inputs distinct
 * with gaps >= 0.1, pow bases positive (plus one integer-exponent case with negative bases),
 * log/sqrt/rsqrt/reciprocal inputs in [0.3, 3].
 * @module
 */

import {
  avgPool2d,
  causalAlibiBias,
  concat,
  conv2d,
  convTranspose2d,
  Generator,
  layerNorm,
  maxPool2d,
  rmsNorm,
  scaledDotProductAttention,
  sort,
  stack,
  type Tensor,
  tensor,
  topk,
  TransformerBlock,
  upsampleNearest2d,
  where,
} from "../../mod.ts";
import { scatterAdd } from "../../tensor.ts";
import { ELEMENTWISE } from "../../src/tensor/ops_table.ts";
import { numel, Rng } from "../util.ts";

/** Device names. */
export type Dev = "cpu" | "webgpu";

/** One differentiable input: float32 host values and a shape. */
export interface Input {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** One gradient case. */
export interface GradCase {
  /** Unique name (also the test name). */
  readonly name: string;
  /** The op-table op this case covers, for elementwise cases. */
  readonly ew?: string;
  /** The differentiable inputs (gradients are checked for every one of them). */
  readonly inputs: readonly Input[];
  /** Builds the output from the inputs on `dev` (non-differentiable extras are made here). */
  readonly build: (xs: Tensor[], dev: Dev) => Tensor;
  /** Finite-difference step (default 1e-2; the direction's entries are within [-3, 3]). */
  readonly h?: number;
  /** False when finite differences cannot see the gradient (stop-gradients). */
  readonly fd?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Input domains
// ---------------------------------------------------------------------------------------------

const rng = new Rng(20240601);

function inp(shape: readonly number[], f: (i: number) => number): Input {
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = f(i);
  return { shape: [...shape], data };
}

/** N(0, std^2). */
const normal = (shape: readonly number[], std = 1) => inp(shape, () => std * rng.gauss());
/** U(lo, hi). */
const uniform = (shape: readonly number[], lo: number, hi: number) =>
  inp(shape, () => lo + (hi - lo) * rng.next());
/** Random sign times U(lo, hi): at least `lo` away from 0. */
const away = (shape: readonly number[], lo = 0.1, hi = 2) =>
  inp(shape, () => (rng.chance(0.5) ? -1 : 1) * (lo + (hi - lo) * rng.next()));
/** Integers plus a fraction in [0.2, 0.3]: >= 0.2 from integers and half-integers. */
const offInteger = (shape: readonly number[]) =>
  inp(shape, () => rng.int(-3, 3) + 0.25 + 0.05 * (2 * rng.next() - 1));
/** A shuffled ramp: all values distinct, `gap` apart, centred on 0. */
function distinct(shape: readonly number[], gap = 0.1): Input {
  const n = numel(shape);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return inp(shape, (i) => (perm[i] - (n - 1) / 2) * gap);
}

/** int32 indices on a device. */
export function ints(values: readonly number[], shape: readonly number[], dev: Dev): Tensor {
  return tensor(Int32Array.from(values), shape, { dtype: "int32", device: dev });
}

/** A bool mask on a device. */
function mask(values: readonly number[], shape: readonly number[], dev: Dev): Tensor {
  return tensor(Uint8Array.from(values), shape, { dtype: "bool", device: dev });
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

const cases: GradCase[] = [];
const add = (c: GradCase) => cases.push(c);

type Unary = (x: Tensor) => Tensor;
type Binary = (a: Tensor, b: Tensor) => Tensor;

/** Unary op-table ops: domain of the input. */
const UNARY: Record<string, (shape: readonly number[]) => Input> = {
  neg: (s) => normal(s, 1.5),
  abs: (s) => away(s),
  sign: (s) => away(s),
  square: (s) => normal(s, 1.5),
  reciprocal: (s) => away(s, 0.3, 3),
  floor: offInteger,
  ceil: offInteger,
  round: offInteger,
  exp: (s) => normal(s, 1.5),
  log: (s) => uniform(s, 0.3, 3),
  sqrt: (s) => uniform(s, 0.3, 3),
  rsqrt: (s) => uniform(s, 0.3, 3),
  sin: (s) => normal(s, 2),
  cos: (s) => normal(s, 2),
  tanh: (s) => normal(s, 1.5),
  sigmoid: (s) => normal(s, 2),
  relu: (s) => away(s),
  silu: (s) => normal(s, 2),
  elu: (s) => away(s, 0.1, 3),
  softplus: (s) => normal(s, 3),
  mish: (s) => normal(s, 2),
  fastMish: (s) => normal(s, 2),
  gelu: (s) => normal(s, 2),
  symlog: (s) => away(s, 0.05, 20),
  symexp: (s) => away(s, 0.05, 3),
  copy: (s) => normal(s),
};

const unaryFn = (op: string): Unary => (x) => x.ew(op, []);

for (const [op, dom] of Object.entries(UNARY)) {
  add({ name: `ew ${op}`, ew: op, inputs: [dom([3, 5])], build: ([x]) => unaryFn(op)(x) });
}
// Through the public methods, on strided (transposed) inputs, and other domains.
add({
  name: "ew softplus (linear region above 20)",
  ew: "softplus",
  inputs: [uniform([7], 21, 30)],
  build: ([x]) => x.softplus(),
});
add({
  name: "ew tanh/sigmoid/exp of a transposed view",
  inputs: [normal([4, 3])],
  build: ([x]) => x.mT.tanh().add(x.mT.sigmoid()).mul(x.mT.mul(0.5).exp()),
});
add({
  name: "ew chain with scalar constants",
  inputs: [uniform([2, 3, 4], 0.3, 2)],
  build: ([x]) => x.mul(3).add(1).div(2).sub(x.pow(3).mul(0.1)).reciprocal().neg(),
});

/** Binary op-table ops: domains of (a, b) as functions of both shapes. */
const BINARY: Record<string, [Binary, (sa: number[], sb: number[]) => [Input, Input]]> = {
  add: [(a, b) => a.add(b), (sa, sb) => [normal(sa), normal(sb)]],
  sub: [(a, b) => a.sub(b), (sa, sb) => [normal(sa), normal(sb)]],
  mul: [(a, b) => a.mul(b), (sa, sb) => [normal(sa), normal(sb)]],
  div: [(a, b) => a.div(b), (sa, sb) => [normal(sa), away(sb, 0.5, 2)]],
  pow: [(a, b) => a.pow(b), (sa, sb) => [uniform(sa, 0.4, 2.5), uniform(sb, -2, 2)]],
  // Values on two interleaved grids 0.2 apart: a on even tenths, b on odd ones (gap >= 0.1).
  maximum: [(a, b) => a.maximum(b), (sa, sb) => [grid(sa, 0), grid(sb, 0.1)]],
  minimum: [(a, b) => a.minimum(b), (sa, sb) => [grid(sa, 0), grid(sb, 0.1)]],
};

function grid(shape: readonly number[], offset: number): Input {
  return inp(shape, () => rng.int(-10, 10) * 0.2 + offset);
}

for (const [op, [fn, dom]] of Object.entries(BINARY)) {
  add({ name: `ew ${op}`, ew: op, inputs: dom([3, 4], [3, 4]), build: ([a, b]) => fn(a, b) });
  add({
    name: `ew ${op} broadcasting [2,1,4] with [3,1]`,
    ew: op,
    inputs: dom([2, 1, 4], [3, 1]),
    build: ([a, b]) => fn(a, b),
  });
  add({
    name: `ew ${op} broadcasting [4] with [3,4] (rank promotion)`,
    ew: op,
    inputs: dom([4], [3, 4]),
    build: ([a, b]) => fn(a, b),
  });
}
add({
  name: "ew pow with negative bases and integer exponents",
  ew: "pow",
  inputs: [away([3, 4], 0.3, 2)],
  build: ([a], dev) =>
    a.pow(tensor(Float32Array.from([2, 3, -1, -2]), [4], { device: dev })).add(a.pow(3)),
});
add({
  name: "ew pow with a scalar exponent (shortcuts and general)",
  ew: "pow",
  inputs: [uniform([5], 0.4, 2)],
  build: ([a]) => a.pow(2).add(a.pow(0.5)).add(a.pow(-1)).add(a.pow(1.7)).add(a.pow(1)),
});

function clampInputs(shape: number[], boundShape: number[]): Input[] {
  const lo = inp(boundShape, () => -0.5 + 0.2 * (2 * rng.next() - 1));
  const hi = inp(boundShape, () => 0.5 + 0.2 * (2 * rng.next() - 1));
  const n = numel(shape);
  const nb = numel(boundShape);
  // Broadcast index of the bound for element i (bound shapes here are [..] suffixes of shape).
  const a = inp(shape, (i) => {
    const j = i % nb;
    const r = rng.int(0, 2);
    if (r === 0) return lo.data[j] - (0.1 + 0.9 * rng.next());
    if (r === 2) return hi.data[j] + (0.1 + 0.9 * rng.next());
    return lo.data[j] + 0.1 + (hi.data[j] - lo.data[j] - 0.2) * rng.next();
  });
  if (n % nb !== 0) throw new Error("clampInputs: bound shape must be a suffix");
  return [a, lo, hi];
}
add({
  name: "ew clamp (tensor bounds)",
  ew: "clamp",
  inputs: clampInputs([3, 5], [3, 5]),
  build: ([a, lo, hi]) => a.clamp(lo, hi),
});
add({
  name: "ew clamp (broadcast bounds [5])",
  ew: "clamp",
  inputs: clampInputs([3, 5], [5]),
  build: ([a, lo, hi]) => a.clamp(lo, hi),
});
add({
  name: "ew clamp (number bounds, one-sided)",
  ew: "clamp",
  // Centres -1, 0, 1 plus up to +-0.4: at least 0.1 away from the bounds +-0.5.
  inputs: [inp([4, 5], () => rng.pick([-1, 0, 1]) + 0.4 * (2 * rng.next() - 1))],
  build: ([a]) => a.clamp(-0.5, 0.5).add(a.clamp(null, 0.5)).add(a.clamp(-0.5, null)),
});

const COND = Array.from({ length: 12 }, () => (rng.chance(0.5) ? 1 : 0));
add({
  name: "ew where",
  ew: "where",
  inputs: [normal([3, 4]), normal([3, 4])],
  build: ([a, b], dev) => where(mask(COND, [3, 4], dev), a, b),
});
add({
  name: "ew where broadcasting a [3,1], b [4] and a scalar",
  ew: "where",
  inputs: [normal([3, 1]), normal([4])],
  build: ([a, b], dev) => {
    const c = mask(COND, [3, 4], dev);
    return where(c, a, b).add(where(c.logicalNot(), a, 0.5)).add(c.ifElse(2, b));
  },
});

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

add({ name: "sum (all)", inputs: [normal([3, 4, 5])], build: ([x]) => x.sum() });
add({ name: "sum axis 1", inputs: [normal([3, 4, 5])], build: ([x]) => x.sum(1) });
add({
  name: "sum axes [0,2] keepDims",
  inputs: [normal([3, 4, 5])],
  build: ([x]) => x.sum([0, 2], true),
});
add({ name: "mean (all)", inputs: [normal([3, 4, 5])], build: ([x]) => x.mean() });
add({
  name: "mean axis -1 keepDims",
  inputs: [normal([3, 4, 5])],
  build: ([x]) => x.mean(-1, true),
});
add({ name: "max (all)", inputs: [distinct([3, 4, 5])], build: ([x]) => x.max() });
add({ name: "max axis 1", inputs: [distinct([3, 4, 5])], build: ([x]) => x.max(1) });
add({
  name: "max axes [0,2] keepDims",
  inputs: [distinct([3, 4, 5])],
  build: ([x]) => x.max([0, 2], true),
});
add({ name: "min (all)", inputs: [distinct([4, 5])], build: ([x]) => x.min() });
add({ name: "min axis 0", inputs: [distinct([3, 4, 5])], build: ([x]) => x.min(0) });
add({
  name: "prod axis 2",
  inputs: [away([3, 4, 5], 0.5, 1.5)],
  build: ([x]) => x.prod(2),
});
add({ name: "prod (all)", inputs: [away([2, 4], 0.6, 1.4)], build: ([x]) => x.prod() });
// Exact zeros: the gradient is the product of the other entries (y / x would be 0 / 0).
// Rows: one zero, two zeros, none.
add({
  name: "prod axis 1 with zeros",
  inputs: [{
    shape: [3, 4],
    data: Float32Array.from([1.5, 0, -2, 0.5, 0, 1.2, 0, 2, 1.1, -0.9, 1.3, 0.8]),
  }],
  build: ([x]) => x.prod(1),
});
add({
  name: "prod (all) with one zero",
  inputs: [{ shape: [5], data: Float32Array.from([1.5, -2, 0, 0.7, 1.25]) }],
  build: ([x]) => x.prod(),
});
add({
  name: "variance/std (composite)",
  inputs: [normal([3, 6])],
  build: ([x]) => x.variance(-1).add(x.std(0, false, true).sum()),
});

// ---------------------------------------------------------------------------------------------
// Softmax family and norms
// ---------------------------------------------------------------------------------------------

add({ name: "softmax axis -1", inputs: [normal([3, 5], 2)], build: ([x]) => x.softmax(-1) });
add({ name: "softmax axis 0", inputs: [normal([3, 5], 2)], build: ([x]) => x.softmax(0) });
add({
  name: "softmax axis 1 of rank 3",
  inputs: [normal([2, 3, 4], 2)],
  build: ([x]) => x.softmax(1),
});
add({ name: "logSoftmax axis -1", inputs: [normal([3, 5], 2)], build: ([x]) => x.logSoftmax() });
add({
  name: "logSoftmax axis 1 of rank 3",
  inputs: [normal([2, 3, 4], 2)],
  build: ([x]) => x.logSoftmax(1),
});
add({ name: "logsumexp axis -1", inputs: [normal([3, 5], 2)], build: ([x]) => x.logsumexp(-1) });
add({
  name: "logsumexp axis 0 keepDims",
  inputs: [normal([3, 5], 2)],
  build: ([x]) => x.logsumexp(0, true),
});
add({
  name: "layerNorm with weight and bias",
  inputs: [normal([4, 6], 2), uniform([6], 0.5, 1.5), normal([6], 0.3)],
  build: ([x, w, b]) => layerNorm(x, w, b),
});
add({
  name: "layerNorm rank 3, weight only, eps 1e-3",
  inputs: [normal([2, 3, 8], 2), uniform([8], 0.5, 1.5)],
  build: ([x, w]) => layerNorm(x, w, null, 1e-3),
});
add({
  name: "layerNorm without affine",
  inputs: [normal([3, 7], 2)],
  build: ([x]) => layerNorm(x),
});
add({
  name: "rmsNorm with weight",
  inputs: [normal([4, 6], 2), uniform([6], 0.5, 1.5)],
  build: ([x, w]) => rmsNorm(x, w),
});
add({ name: "rmsNorm without weight", inputs: [normal([2, 3, 5], 2)], build: ([x]) => rmsNorm(x) });

// ---------------------------------------------------------------------------------------------
// Matmul
// ---------------------------------------------------------------------------------------------

add({
  name: "matmul [3,4] @ [4,5]",
  inputs: [normal([3, 4]), normal([4, 5])],
  build: ([a, b]) => a.matmul(b),
});
add({
  name: "matmul of transposed views a.mT @ b.mT",
  inputs: [normal([4, 3]), normal([5, 4])],
  build: ([a, b]) => a.mT.matmul(b.mT),
});
add({
  name: "matmul batched [2,3,4] @ [2,4,5]",
  inputs: [normal([2, 3, 4]), normal([2, 4, 5])],
  build: ([a, b]) => a.matmul(b),
});
add({
  name: "matmul batch broadcast [2,1,3,4] @ [3,4,2]",
  inputs: [normal([2, 1, 3, 4]), normal([3, 4, 2])],
  build: ([a, b]) => a.matmul(b),
});
add({
  name: "matmul [2,3,4] @ [4,5] (shared right operand)",
  inputs: [normal([2, 3, 4]), normal([4, 5])],
  build: ([a, b]) => a.matmul(b),
});
add({
  name: "matmul vector cases [4] @ [4,5], [3,4] @ [4], [4] @ [4]",
  inputs: [normal([4]), normal([4, 5]), normal([3, 4])],
  build: ([v, b, a]) => v.matmul(b).sum().add(a.matmul(v).sum()).add(v.matmul(v)),
});

// ---------------------------------------------------------------------------------------------
// Movement
// ---------------------------------------------------------------------------------------------

add({ name: "reshape", inputs: [normal([3, 4])], build: ([x]) => x.reshape([2, -1, 3]) });
add({
  name: "reshape of a permuted view (copy)",
  inputs: [normal([3, 4])],
  build: ([x]) => x.mT.reshape([12]),
});
add({ name: "permute", inputs: [normal([2, 3, 4])], build: ([x]) => x.permute([2, 0, 1]) });
add({
  name: "transpose / swapAxes",
  inputs: [normal([2, 3, 4])],
  build: ([x]) => x.transpose().swapAxes(0, 1),
});
add({ name: "expand", inputs: [normal([3, 1])], build: ([x]) => x.expand([2, 3, 4]) });
add({ name: "slice", inputs: [normal([4, 5])], build: ([x]) => x.slice([1, 2], [2, -1]) });
add({
  name: "slice with negative start, narrow",
  inputs: [normal([4, 5])],
  build: ([x]) => x.slice([-3]).narrow(1, 1, 3),
});
add({
  name: "concat axis 1",
  inputs: [normal([2, 3]), normal([2, 1]), normal([2, 4])],
  build: ([a, b, c]) => concat([a, b, c], 1),
});
add({
  name: "concat axis 0 (one input used twice)",
  inputs: [normal([2, 3]), normal([1, 3])],
  build: ([a, b]) => concat([a, b, a], 0),
});
add({
  name: "stack axis 1",
  inputs: [normal([2, 3]), normal([2, 3])],
  build: ([a, b]) => stack([a, b], 1),
});
add({
  name: "split / chunk",
  inputs: [normal([5, 4])],
  build: ([x]) => {
    const [p, q, r] = x.split([1, 3, 1], 0);
    const [s, t] = x.chunk(2, 1);
    return p.mul(2).add(r).sum().add(q.slice([0, 0], [3, 2]).mul(s.slice([0], [3])).sum())
      .add(t.square().sum());
  },
});
add({ name: "squeeze", inputs: [normal([3, 1, 4, 1])], build: ([x]) => x.squeeze(1).squeeze() });
add({ name: "unsqueeze", inputs: [normal([3, 4])], build: ([x]) => x.unsqueeze(1).unsqueeze(-1) });
add({ name: "repeat", inputs: [normal([2, 3])], build: ([x]) => x.repeat([2, 1, 3]) });
add({ name: "flatten", inputs: [normal([2, 3, 4])], build: ([x]) => x.flatten(1) });

// ---------------------------------------------------------------------------------------------
// Indexing
// ---------------------------------------------------------------------------------------------

add({
  name: "gather 1-D indices axis 0 (repeats)",
  inputs: [normal([4, 5])],
  build: ([x], dev) => x.gather(ints([2, 0, 2, 3], [4], dev), 0),
});
add({
  name: "gather 1-D indices axis 1 (repeats, negative index)",
  inputs: [normal([3, 5])],
  build: ([x], dev) => x.gather(ints([1, 4, 1, -1, 0], [5], dev), 1),
});
add({
  name: "gather 1-D on a vector",
  inputs: [normal([6])],
  build: ([x], dev) => x.gather(ints([5, 0, 0, 3], [4], dev)),
});
add({
  name: "gather same-rank axis 1",
  inputs: [normal([3, 5])],
  build: ([x], dev) => x.gather(ints([0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 0, 4], [3, 4], dev), 1),
});
add({
  name: "gather same-rank axis 0",
  inputs: [normal([3, 4])],
  build: ([x], dev) => x.gather(ints([2, 0, 1, 1, 0, 0, 2, 2], [2, 4], dev), 0),
});
add({
  name: "scatterAdd axis 1 (duplicates)",
  inputs: [normal([3, 4])],
  build: ([s], dev) =>
    scatterAdd(s, ints([0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 0, 4], [3, 4], dev), 1, [3, 5]),
});
add({
  name: "scatterAdd axis 0",
  inputs: [normal([2, 3])],
  build: ([s], dev) => scatterAdd(s, ints([3, 0, 1, 3, 3, 0], [2, 3], dev), 0, [4, 3]),
});

// ---------------------------------------------------------------------------------------------
// Convolutions, pooling, upsampling
// ---------------------------------------------------------------------------------------------

add({
  name: "conv2d k3 s1 p1 with bias",
  inputs: [normal([2, 3, 5, 5]), normal([4, 3, 3, 3], 0.3), normal([4], 0.3)],
  build: ([x, w, b]) => conv2d(x, w, { stride: 1, padding: 1, bias: b }),
});
add({
  name: "conv2d k4 s2 p1 with bias",
  inputs: [normal([2, 3, 8, 8]), normal([4, 3, 4, 4], 0.3), normal([4], 0.3)],
  build: ([x, w, b]) => conv2d(x, w, { stride: 2, padding: 1, bias: b }),
});
add({
  name: "conv2d k3 s2 p0 without bias (odd size)",
  inputs: [normal([1, 2, 7, 7]), normal([3, 2, 3, 3], 0.3)],
  build: ([x, w]) => conv2d(x, w, { stride: 2 }),
});
add({
  name: "convTranspose2d k3 s1 p1 with bias",
  inputs: [normal([2, 3, 5, 5]), normal([3, 2, 3, 3], 0.3), normal([2], 0.3)],
  build: ([x, w, b]) => convTranspose2d(x, w, { stride: 1, padding: 1, bias: b }),
});
add({
  name: "convTranspose2d k4 s2 p1 with bias",
  inputs: [normal([2, 4, 4, 4]), normal([4, 3, 4, 4], 0.3), normal([3], 0.3)],
  build: ([x, w, b]) => convTranspose2d(x, w, { stride: 2, padding: 1, bias: b }),
});
add({
  name: "convTranspose2d k3 s2 p1 outputPadding 1 without bias",
  inputs: [normal([1, 2, 3, 3]), normal([2, 3, 3, 3], 0.3)],
  build: ([x, w]) => convTranspose2d(x, w, { stride: 2, padding: 1, outputPadding: 1 }),
});
add({ name: "maxPool2d k2", inputs: [distinct([2, 3, 6, 6])], build: ([x]) => maxPool2d(x, 2) });
add({
  name: "maxPool2d k3 s2 (overlapping windows)",
  inputs: [distinct([1, 2, 7, 7])],
  build: ([x]) => maxPool2d(x, 3, 2),
});
add({ name: "avgPool2d k2", inputs: [normal([2, 3, 6, 6])], build: ([x]) => avgPool2d(x, 2) });
add({
  name: "avgPool2d k3 s2 (overlapping windows)",
  inputs: [normal([1, 2, 7, 7])],
  build: ([x]) => avgPool2d(x, 3, 2),
});
add({
  name: "upsampleNearest2d x2",
  inputs: [normal([2, 3, 3, 4])],
  build: ([x]) => upsampleNearest2d(x, 2),
});
add({
  name: "upsampleNearest2d x3",
  inputs: [normal([1, 2, 2, 3])],
  build: ([x]) => upsampleNearest2d(x, 3),
});

// ---------------------------------------------------------------------------------------------
// Sorting, casts, detach
// ---------------------------------------------------------------------------------------------

add({ name: "sort values ascending", inputs: [distinct([3, 6])], build: ([x]) => sort(x).values });
add({
  name: "sort values descending axis 0",
  inputs: [distinct([5, 3])],
  build: ([x]) => sort(x, 0, true).values,
});
add({
  name: "topk values (largest)",
  inputs: [distinct([3, 7])],
  build: ([x]) => topk(x, 3).values,
});
add({
  name: "topk values (smallest, axis 0)",
  inputs: [distinct([6, 2])],
  build: ([x]) => topk(x, 2, 0, false).values,
});
add({
  name: "cast float32 -> float32",
  inputs: [normal([3, 4])],
  build: ([x]) => x.cast("float32").mul(x.mul(2).cast("float32")),
});
add({
  name: "detach and straight-through x + sg(f(x) - x)",
  // The stop-gradient makes the gradient differ from the forward's derivative on purpose:
  // checked against its closed form in gradcheck_test.ts, and across devices here.
  fd: false,
  inputs: [normal([3, 4])],
  build: ([x]) => x.add(x.tanh().sub(x).detach()).mul(x.detach().add(1)).add(x.square()),
});

// ---------------------------------------------------------------------------------------------
// Attention (the token family's transformer), built from matmul, softmax and movement ops
// ---------------------------------------------------------------------------------------------

add({
  name: "scaled dot-product attention with a causal ALiBi bias [2,2,5,4]",
  inputs: [normal([2, 2, 5, 4]), normal([2, 2, 5, 4]), normal([2, 2, 5, 4])],
  build: ([q, k, v], dev) =>
    scaledDotProductAttention(q, k, v, causalAlibiBias(2, 5, { device: dev })),
});
add({
  name: "transformer block (causal multi-head self-attention, GELU MLP) of x [2,5,8]",
  inputs: [normal([2, 5, 8])],
  build: ([x], dev) => {
    const block = new TransformerBlock(8, 2, { device: dev, generator: new Generator(7) });
    return block.forward(x, causalAlibiBias(2, 5, { device: dev }));
  },
});

/** Every case, in a fixed order. */
export const GRAD_CASES: readonly GradCase[] = cases;

/** Names of the op-table ops with a gradient rule that no case covers (should be empty). */
export function uncoveredElementwise(): string[] {
  const covered = new Set(cases.map((c) => c.ew).filter((e) => e !== undefined));
  return Object.values(ELEMENTWISE).filter((op) => op.grad && !covered.has(op.name)).map((op) =>
    op.name
  );
}

/** Fixed weights in [-1, 1] for `L = sum(y * w)`, seeded by the case's index. */
export function lossWeights(index: number, shape: readonly number[]): Float32Array {
  const r = new Rng(1000 + index);
  return r.uniform(numel(shape), -1, 1);
}
