/**
 * The elementwise op table: every elementwise op is declared here once (name, arity, type rule,
 * expression in the op language). WGSL, JavaScript and wasm code are all generated from these
 * entries, and the autograd layer attaches each op's gradient rule to the same entry.
 * @module
 */

import { type Ast, parseExpr } from "../ir/expr.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Gradient rule of an elementwise op: given the output gradient `g`, the inputs and the output
 * (all broadcast to the output shape), returns one gradient per input (`null`: none). The caller
 * sums each gradient back to its input's shape.
 */
export type GradRule = (g: Tensor, x: readonly Tensor[], out: Tensor) => (Tensor | null)[];

/**
 * How an op types its result:
 * - `float`: inputs are converted to float32, result float32 (exp, div, ...)
 * - `same`: inputs promoted to a common type (bool counts as int32), result of that type
 * - `cmp`: inputs promoted, result bool
 * - `logic`: bool inputs, bool result
 * - `where`: first argument bool, the others promoted
 */
export type TypeRule = "float" | "same" | "cmp" | "logic" | "where";

/** One elementwise op. `expr` uses variables `a`, `b`, `c` for the arguments. */
export interface ElementwiseOp {
  readonly name: string;
  readonly arity: 1 | 2 | 3;
  readonly rule: TypeRule;
  readonly expr: string;
  /** Parsed `expr`, filled in once at module load. */
  readonly ast: Ast;
  /** Gradient rule; absent for ops that are not differentiable (comparisons, logic). */
  readonly grad?: GradRule;
}

type Decl = [name: string, arity: 1 | 2 | 3, rule: TypeRule, expr: string];

// Notes on the expressions:
// - tanh clamps its input: tanh(±15) is ±1 in float32, and some GPU drivers return NaN for
//   tanh of large arguments (they compute (e^2x - 1) / (e^2x + 1)).
// - softplus follows PyTorch's threshold of 20, and is computed stably below it (SOFTPLUS).
// - pow handles negative bases with integer exponents like PyTorch (sign from the parity).
/**
 * softplus: `max(a, 0) + log1p(e^-|a|)`, with log1p(y) as its series `y - y^2/2 + y^3/3 - y^4/4`
 * below y = 0.05 (relative error < 2e-6) so that e^a survives where `1 + e^a` rounds to 1 in
 * float32 (a < -17), as PyTorch's log1p does.
 */
const SOFTPLUS =
  "where(a > 20.0, a, max(a, 0.0) + where(exp(-abs(a)) < 0.05, exp(-abs(a)) * (1.0 - exp(-abs(a)) * (0.5 - exp(-abs(a)) * (0.33333334 - exp(-abs(a)) * 0.25))), log(1.0 + exp(-abs(a)))))";

const DECLS: Decl[] = [
  // arithmetic
  ["add", 2, "same", "a + b"],
  ["sub", 2, "same", "a - b"],
  ["mul", 2, "same", "a * b"],
  ["div", 2, "float", "a / b"],
  [
    "pow",
    2,
    "float",
    "where(b == 0.0, 1.0, where(a >= 0.0, pow(a, b), " +
    "where(b == floor(b), pow(-a, b) * (1.0 - 2.0 * (abs(b) - 2.0 * floor(abs(b) * 0.5))), " +
    "pow(a, b))))",
  ],
  ["maximum", 2, "same", "max(a, b)"],
  ["minimum", 2, "same", "min(a, b)"],
  ["neg", 1, "same", "-a"],
  ["abs", 1, "same", "abs(a)"],
  ["sign", 1, "same", "sign(a)"],
  ["square", 1, "same", "a * a"],
  ["reciprocal", 1, "float", "1.0 / a"],
  ["floor", 1, "float", "floor(a)"],
  ["ceil", 1, "float", "ceil(a)"],
  ["round", 1, "float", "round(a)"],
  ["clamp", 3, "same", "min(max(a, b), c)"],
  // transcendental
  ["exp", 1, "float", "exp(a)"],
  ["log", 1, "float", "log(a)"],
  ["sqrt", 1, "float", "sqrt(a)"],
  ["rsqrt", 1, "float", "1.0 / sqrt(a)"],
  ["sin", 1, "float", "sin(a)"],
  ["cos", 1, "float", "cos(a)"],
  ["tanh", 1, "float", "tanh(min(max(a, -15.0), 15.0))"],
  ["sigmoid", 1, "float", "1.0 / (1.0 + exp(-a))"],
  ["relu", 1, "same", "max(a, 0)"],
  ["silu", 1, "float", "a / (1.0 + exp(-a))"],
  ["elu", 1, "float", "where(a > 0.0, a, exp(min(a, 0.0)) - 1.0)"],
  [
    "softplus",
    1,
    "float",
    SOFTPLUS,
  ],
  [
    "mish",
    1,
    "float",
    `a * tanh(min(max(${SOFTPLUS}, -15.0), 15.0))`,
  ],
  [
    "gelu",
    1,
    "float",
    "0.5 * a * (1.0 + tanh(min(max(0.7978845608 * (a + 0.044715 * a * a * a), -15.0), 15.0)))",
  ],
  ["symlog", 1, "float", "sign(a) * log(abs(a) + 1.0)"],
  ["symexp", 1, "float", "sign(a) * (exp(abs(a)) - 1.0)"],
  // comparisons and logic
  ["gt", 2, "cmp", "a > b"],
  ["ge", 2, "cmp", "a >= b"],
  ["lt", 2, "cmp", "a < b"],
  ["le", 2, "cmp", "a <= b"],
  ["eq", 2, "cmp", "a == b"],
  ["ne", 2, "cmp", "a != b"],
  ["logicalAnd", 2, "logic", "a && b"],
  ["logicalOr", 2, "logic", "a || b"],
  ["logicalNot", 1, "logic", "!a"],
  ["where", 3, "where", "where(a, b, c)"],
  // identity, used to materialise views and casts
  ["copy", 1, "same", "a"],
];

const sigmoidOf = (a: Tensor) => a.sigmoid();
const zero = (g: Tensor) => g.mul(0);

/** Gradient rules, one per differentiable op (composed of tensor ops, so they fuse). */
const GRADS: Record<string, GradRule> = {
  add: (g) => [g, g],
  sub: (g) => [g, g.neg()],
  mul: (g, [a, b]) => [g.mul(b), g.mul(a)],
  div: (g, [, b], out) => [g.div(b), g.mul(out).div(b).neg()],
  pow: (g, [a, b], out) => [
    g.mul(b).mul(a.pow(b.sub(1))),
    g.mul(out).mul(a.maximum(1e-38).log()).mul(a.gt(0)),
  ],
  maximum: (g, [a, b]) => {
    const half = a.eq(b).mul(0.5);
    return [g.mul(a.gt(b).add(half)), g.mul(b.gt(a).add(half))];
  },
  minimum: (g, [a, b]) => {
    const half = a.eq(b).mul(0.5);
    return [g.mul(a.lt(b).add(half)), g.mul(b.lt(a).add(half))];
  },
  neg: (g) => [g.neg()],
  abs: (g, [a]) => [g.mul(a.sign())],
  sign: (g) => [zero(g)],
  square: (g, [a]) => [g.mul(a).mul(2)],
  reciprocal: (g, _x, out) => [g.mul(out).mul(out).neg()],
  floor: (g) => [zero(g)],
  ceil: (g) => [zero(g)],
  round: (g) => [zero(g)],
  clamp: (g, [a, lo, hi]) => [
    g.mul(a.ge(lo).logicalAnd(a.le(hi))),
    g.mul(a.lt(lo)),
    g.mul(a.gt(hi)),
  ],
  exp: (g, _x, out) => [g.mul(out)],
  log: (g, [a]) => [g.div(a)],
  sqrt: (g, _x, out) => [g.mul(0.5).div(out)],
  rsqrt: (g, _x, out) => [g.mul(out.mul(out).mul(out)).mul(-0.5)],
  sin: (g, [a]) => [g.mul(a.cos())],
  cos: (g, [a]) => [g.mul(a.sin()).neg()],
  tanh: (g, _x, out) => [g.mul(out.mul(out).neg().add(1))],
  sigmoid: (g, _x, out) => [g.mul(out).mul(out.neg().add(1))],
  relu: (g, [a]) => [g.mul(a.gt(0))],
  silu: (g, [a]) => {
    const s = sigmoidOf(a);
    return [g.mul(s.mul(a.mul(s.neg().add(1)).add(1)))];
  },
  elu: (g, [a], out) => [g.mul(a.gt(0).ifElse(1, out.add(1)))],
  softplus: (g, [a]) => [g.mul(sigmoidOf(a))],
  mish: (g, [a]) => {
    const t = a.softplus().tanh();
    return [g.mul(t.add(a.mul(sigmoidOf(a)).mul(t.mul(t).neg().add(1))))];
  },
  gelu: (g, [a]) => {
    const k = 0.7978845608;
    const t = a.mul(a).mul(a).mul(0.044715).add(a).mul(k).tanh();
    const dt = t.mul(t).neg().add(1).mul(a.mul(a).mul(3 * 0.044715 * k).add(k));
    return [g.mul(t.add(1).mul(0.5).add(a.mul(0.5).mul(dt)))];
  },
  symlog: (g, [a]) => [g.div(a.abs().add(1))],
  symexp: (g, [a]) => [g.mul(a.abs().exp())],
  where: (g, [c]) => [null, c.ifElse(g, 0), c.ifElse(0, g)],
  copy: (g) => [g],
};

/** All elementwise ops by name. */
export const ELEMENTWISE: Readonly<Record<string, ElementwiseOp>> = Object.fromEntries(
  DECLS.map((
    [name, arity, rule, expr],
  ) => [name, { name, arity, rule, expr, ast: parseExpr(expr), grad: GRADS[name] }]),
);

/** Looks up an op, throwing for an unknown name (a programming error). */
export function elementwiseOp(name: string): ElementwiseOp {
  const op = ELEMENTWISE[name];
  if (!op) throw new Error(`unknown elementwise op "${name}"`);
  return op;
}
