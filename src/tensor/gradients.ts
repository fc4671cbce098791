/**
 * The gradient table: every differentiable op's gradient rule, by the op's name, in one place
 * (in the spirit of tinygrad's `gradient.py`). An op records its name, the values its rule
 * reads and its attributes (`recordGrad(out, "matmul", [a, b], [a, b], { aShape, bShape })`);
 * `backward()` (autograd.ts) runs the rule.
 *
 * - Elementwise ops: their rules are data, expressions of the op table (ops_table.ts `GRADS`),
 *   evaluated here with tensor ops ({@link evalGradRule}).
 * - Reductions, movement ops, matmul, gather/scatter, the softmax family, convolutions,
 *   pooling, normalisation: the entries of {@link GRADIENTS} below.
 * - Fused ops of a model family (e.g. DreamerV3's GRU update): their module adds the rule with
 *   {@link defineGradient} beside the op (a lower layer never imports a family).
 *
 * Rules are written over {@link GradTensor} (what `Tensor` implements) and a {@link TensorKit}
 * for the tensors that are not a method's result, so this table sits below the `Tensor` class.
 * @module
 */

import type { ConvGeometry, PoolGeometry } from "../backend/types.ts";
import type { Ast } from "../ir/expr.ts";
import type { Shape } from "../ir/view.ts";
import {
  attachGrad,
  type GradientRule,
  type GradOperand,
  type GradTensor,
  padTo,
  sumTo,
  type TensorKit,
} from "./autograd.ts";
import { ELEMENTWISE, GRAD_INPUTS, GRAD_OPERATORS, type GradRule } from "./ops_table.ts";

// ---------------------------------------------------------------------------------------------
// Elementwise ops: rules from the op table
// ---------------------------------------------------------------------------------------------

/** Attributes of an elementwise op: its broadcast output shape and its inputs' shapes. */
export interface ElementwiseAttrs {
  readonly shape: Shape;
  readonly shapes: readonly Shape[];
}

/**
 * The rule of an elementwise op from its op-table gradient: saved are the inputs, then the
 * output; each input's gradient is summed back to its shape (float32 inputs only).
 */
function elementwiseRule(grad: GradRule): GradientRule<ElementwiseAttrs> {
  return (g, saved, { shape, shapes }, kit) => {
    const n = shapes.length;
    const xs = saved.slice(0, n).map((t) => t.expand(shape));
    const gs = evalGradRule(grad, g, xs, saved[n], kit);
    return gs.map((gi, i) => (gi && saved[i].dtype === "float32" ? sumTo(gi, shapes[i]) : null));
  };
}

/**
 * Evaluates an op-table gradient rule (see {@link GradRule}) with tensor ops: `g` the output
 * gradient, `xs` the inputs (`a`, `b`, `c`), `out` the output. A subexpression shared by the
 * rule's expressions is computed once; number-only subexpressions fold in double precision.
 */
function evalGradRule(
  rule: GradRule,
  g: GradTensor,
  xs: readonly GradTensor[],
  out: GradTensor,
  kit: TensorKit,
): (GradTensor | null)[] {
  const memo = new Map<Ast, GradOperand>();
  const value = (e: Ast): GradOperand => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    let v: GradOperand;
    switch (e.t) {
      case "num":
        v = e.v;
        break;
      case "var":
        v = e.name === "g" ? g : e.name === "out" ? out : xs[GRAD_INPUTS.indexOf(e.name)];
        break;
      case "un": {
        const a = value(e.a);
        v = typeof a === "number" && e.op === "-"
          ? -a
          : kit.elementwise(GRAD_OPERATORS.unary[e.op], [a]);
        break;
      }
      case "bin": {
        const a = value(e.a), b = value(e.b);
        v = typeof a === "number" && typeof b === "number"
          ? foldNumbers(e.op, a, b)
          : kit.elementwise(GRAD_OPERATORS.binary[e.op], [a, b]);
        break;
      }
      case "call":
        v = kit.elementwise(e.fn, e.args.map(value));
        break;
    }
    memo.set(e, v);
    return v;
  };
  return rule.map((e) => {
    if (e === null) return null;
    const v = value(e);
    if (typeof v === "number" || typeof v === "boolean") {
      throw new Error("internal: a gradient rule evaluated to a number");
    }
    return v;
  });
}

/** `a op b` for two numbers of a gradient rule (arithmetic only). */
function foldNumbers(op: string, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
  }
  throw new Error(`internal: gradient rule applies "${op}" to two numbers`);
}

// ---------------------------------------------------------------------------------------------
// The other ops
// ---------------------------------------------------------------------------------------------

/** A rule with typed attributes, as a table entry. */
function rule<A>(fn: GradientRule<A>): GradientRule {
  return fn as GradientRule;
}

/** Attributes of a reduction: the reduced axes, the shape with them kept as 1, the input shape. */
export interface ReduceAttrs {
  readonly axes: readonly number[];
  readonly keptShape: Shape;
  readonly inShape: Shape;
}

/** Attributes of the convolutions: the forward geometry, and whether a bias was added. */
export interface ConvAttrs {
  readonly geom: ConvGeometry;
  readonly hasBias: boolean;
}

/** Attributes of layerNorm / rmsNorm. */
export interface NormAttrs {
  readonly mode: "layer" | "rms";
  readonly eps: number;
  readonly rank: number;
  readonly hasWeight: boolean;
  readonly hasBias: boolean;
}

/** A convolution kernel node (the forward ops' builder in functional.ts makes the same). */
function convNode(
  kit: TensorKit,
  mode: "conv2d" | "convTranspose2d" | "conv2dWeightGrad" | "convTranspose2dWeightGrad",
  x: GradTensor,
  w: GradTensor,
  geom: ConvGeometry,
  shape: number[],
): GradTensor {
  return kit.kernel("conv", [x, w], { mode, geom, hasBias: false }, shape, "float32", mode);
}

/** The geometry of a convolution's input gradient: the forward one with in and out swapped. */
function swappedGeometry(geom: ConvGeometry): ConvGeometry {
  const { cin, cout, h, w, outH, outW } = geom;
  return { ...geom, cin: cout, cout: cin, h: outH, w: outW, outH: h, outW: w };
}

/** Gradient rules of the ops that are not elementwise, by op name. */
const RULES: Readonly<Record<string, GradientRule>> = {
  // --- reductions --------------------------------------------------------------------------
  sum: rule<ReduceAttrs>((g, _s, { keptShape, inShape }) => [g.reshape(keptShape).expand(inShape)]),
  prod: rule<ReduceAttrs>((g, [x, y], { axes, keptShape }) => {
    // d/dx_i = product of the other entries. y / x is that only without zeros: where the
    // reduced slice has one zero, only the zero's position gets a gradient (the product of
    // the nonzero entries); with two or more zeros, no position does.
    const yk = y.reshape(keptShape);
    const gk = g.reshape(keptShape);
    const ax = axes as number[];
    const zero = x.eq(0);
    const zeros = zero.sum(ax, true);
    const safe = zero.ifElse(1, x);
    const onlyZero = zero.logicalAnd(zeros.eq(1)).ifElse(safe.prod(ax, true), 0);
    return [zeros.eq(0).ifElse(yk.div(safe), onlyZero).mul(gk)];
  }),
  max: rule<ReduceAttrs>((g, [x, y], a) => extremumGrad(g, x, y, a)),
  min: rule<ReduceAttrs>((g, [x, y], a) => extremumGrad(g, x, y, a)),
  // --- the softmax family (one last-axis kernel each; `axis` is the input's) ----------------
  softmax: rule<{ axis: number }>((g, [y], { axis }) => [y.mul(g.sub(g.mul(y).sum(axis, true)))]),
  logsoftmax: rule<{ axis: number }>((g, [y], { axis }) => [g.sub(y.exp().mul(g.sum(axis, true)))]),
  logsumexp: rule<{ axis: number }>((g, [x, y]) => [x.sub(y).exp().mul(g)]),
  // --- movement ------------------------------------------------------------------------------
  reshape: rule<{ from: Shape }>((g, _s, { from }) => [g.reshape(from)]),
  permute: rule<{ inverse: readonly number[] }>((g, _s, { inverse }) => [g.permute(inverse)]),
  expand: rule<{ from: Shape }>((g, _s, { from }) => [sumTo(g, from)]),
  slice: rule<{ from: Shape; begin: readonly number[] }>((g, _s, { from, begin }, kit) => [
    padTo(g, from, begin, kit),
  ]),
  concat: rule<{ sizes: readonly number[]; axis: number }>((g, _s, { sizes, axis }) =>
    g.split(sizes, axis)
  ),
  to: rule<{ device: GradTensor["device"] }>((g, _s, { device }) => [g.to(device)]),
  // --- linear algebra and indexing ---------------------------------------------------------
  matmul: rule<{ aShape: Shape; bShape: Shape }>((g, [x, y], { aShape, bShape }) => [
    sumTo(g.matmul(y.mT), aShape),
    sumTo(x.mT.matmul(g), bShape),
  ]),
  gather: rule<{ axis: number; xShape: Shape }>((g, [ix], { axis, xShape }, kit) => [
    kit.scatterAdd(g, ix, axis, xShape),
  ]),
  scatterAdd: rule<{ axis: number }>((g, [ix], { axis }) => [g.gather(ix, axis)]),
  // --- convolutions and pooling (NCHW) -----------------------------------------------------
  conv2d: rule<ConvAttrs>((g, [xs, ws], { geom, hasBias }, kit) => {
    const { n, cin, h, w, cout, kh, kw } = geom;
    const dx = convNode(kit, "convTranspose2d", g, ws, swappedGeometry(geom), [n, cin, h, w]);
    const dw = convNode(kit, "conv2dWeightGrad", xs, g, geom, [cout, cin, kh, kw]);
    return hasBias ? [dx, dw, g.sum([0, 2, 3])] : [dx, dw];
  }),
  convTranspose2d: rule<ConvAttrs>((g, [xs, ws], { geom, hasBias }, kit) => {
    // d/dx is a plain convolution of g with the same weight read as [cout=cin, cin=cout, k, k].
    const { n, cin, h, w, cout, kh, kw } = geom;
    const dx = convNode(kit, "conv2d", g, ws, swappedGeometry(geom), [n, cin, h, w]);
    const dw = convNode(kit, "convTranspose2dWeightGrad", xs, g, geom, [cin, cout, kh, kw]);
    return hasBias ? [dx, dw, g.sum([0, 2, 3])] : [dx, dw];
  }),
  maxPool2d: rule<{ geom: PoolGeometry; inShape: Shape }>((g, [xs], { geom, inShape }, kit) => [
    kit.kernel("pool", [xs, g], { mode: "maxGrad", geom }, inShape, "float32"),
  ]),
  avgPool2d: rule<{ geom: PoolGeometry; inShape: Shape }>((g, _s, { geom, inShape }, kit) => [
    kit.kernel("pool", [g, g], { mode: "avgGrad", geom }, inShape, "float32"),
  ]),
  upsampleNearest2d: rule<{ back: PoolGeometry; inShape: Shape }>((g, _s, a, kit) => [
    kit.kernel("pool", [g], { mode: "upsampleGrad", geom: a.back }, a.inShape, "float32"),
  ]),
  // --- normalisation over the last axis ----------------------------------------------------
  layerNorm: rule<NormAttrs>(normGrad),
  rmsNorm: rule<NormAttrs>(normGrad),
};

/** max / min: the gradient split evenly among the positions that attain the extremum. */
function extremumGrad(
  g: GradTensor,
  x: GradTensor,
  y: GradTensor,
  { axes, keptShape }: ReduceAttrs,
): GradTensor[] {
  const yk = y.reshape(keptShape);
  const gk = g.reshape(keptShape);
  const mask = x.eq(yk).cast("float32");
  return [mask.div(mask.sum(axes as number[], true)).mul(gk)];
}

/**
 * layerNorm / rmsNorm over the last axis; saved: the input, then the weight if any. The input's
 * gradient is one backward row kernel (the "norm" kernel with `backward`: the row statistics
 * recomputed, sums in float64 on the cpu device); the weight's is `sum(g * xhat)` over the
 * leading axes with `xhat` the plain normalisation, the bias's `sum(g)`.
 */
function normGrad(
  g: GradTensor,
  [xs, ws]: GradTensor[],
  { mode, eps, rank, hasWeight, hasBias }: NormAttrs,
  kit: TensorKit,
): (GradTensor | null)[] {
  const cols = xs.shape[rank - 1];
  const rows = cols === 0 ? 0 : xs.size / cols;
  const base = { mode, rows, cols, eps, hasBias: false };
  const dx = kit.kernel(
    "norm",
    ws ? [xs, g, ws] : [xs, g],
    { ...base, hasWeight: !!ws, backward: true },
    xs.shape,
    "float32",
  );
  const lead = Array.from({ length: rank - 1 }, (_, i) => i);
  const grads: (GradTensor | null)[] = [dx];
  if (hasWeight) {
    const xhat = kit.kernel("norm", [xs], { ...base, hasWeight: false }, xs.shape, "float32");
    grads.push(g.mul(xhat).sum(lead));
  }
  if (hasBias) grads.push(g.sum(lead));
  return grads;
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/** Every gradient rule by op name: the elementwise ops', the rules above, and the families'. */
const GRADIENTS = new Map<string, GradientRule>([
  ...Object.values(ELEMENTWISE).flatMap((op): [string, GradientRule][] =>
    op.grad ? [[op.name, rule(elementwiseRule(op.grad))]] : []
  ),
  ...Object.entries(RULES),
]);

/**
 * Adds the gradient rule of an op defined outside the tensor layer (a family's fused op), from
 * the op's own module; its name must be new.
 *
 * @example
 * ```ts ignore
 * defineGradient<{ k: number }>("scaleBy", (g, _saved, { k }) => [g.mul(k)]);
 * const y = recordGrad(x.mul(k), "scaleBy", [x], [], { k });
 * ```
 * @internal
 */
export function defineGradient<A, T extends GradTensor = GradTensor>(
  op: string,
  fn: GradientRule<A, T>,
): void {
  if (GRADIENTS.has(op)) throw new Error(`internal: the gradient of "${op}" is defined twice`);
  GRADIENTS.set(op, fn as unknown as GradientRule);
}

/**
 * Records that `out` was computed by `op` from `inputs` (when grads are enabled and an input
 * requires them): its rule in the table will read the values of `save` (in that order) and
 * `attrs`. Returns `out`.
 * @internal
 */
export function recordGrad<T extends GradTensor>(
  out: T,
  op: string,
  inputs: readonly GradTensor[],
  save: readonly GradTensor[],
  attrs?: unknown,
): T {
  const fn = GRADIENTS.get(op);
  if (!fn) throw new Error(`internal: no gradient rule for "${op}" (src/tensor/gradients.ts)`);
  return attachGrad(out, op, fn, inputs, save, attrs);
}
