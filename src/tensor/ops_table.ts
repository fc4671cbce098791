/**
 * The elementwise op table: every elementwise op is declared here once (name, arity, type rule,
 * expression in the op language). WGSL, JavaScript and wasm code are all generated from these
 * entries, and the autograd layer attaches each op's gradient rule to the same entry.
 * @module
 */

import { type Ast, type BinOp, parseExpr, parseExprList, type UnOp } from "../ir/expr.ts";

/**
 * Gradient rule of an elementwise op: one expression per input (`null`: no gradient), written in
 * the op language over the output gradient `g`, the inputs `a`, `b`, `c` (broadcast to the output
 * shape) and the output `out`. Functions are the table's ops (`sigmoid(a)`, `maximum(a, 1e-38)`),
 * operators are the table's arithmetic, comparison and logic ops ({@link GRAD_OPERATORS}), and
 * numbers are constants (`3.0 * 0.5` is folded in double precision, as JavaScript would). A
 * subexpression written twice, within one input's gradient or across them, is computed once. The
 * tensor layer evaluates the rule with its own ops (so gradients fuse like any other op) and sums
 * each gradient back to its input's shape.
 */
export type GradRule = readonly (Ast | null)[];

/** The table op each operator of a gradient rule stands for. */
export const GRAD_OPERATORS: {
  readonly binary: Readonly<Record<BinOp, string>>;
  readonly unary: Readonly<Record<UnOp, string>>;
} = {
  binary: {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "==": "eq",
    "!=": "ne",
    "&&": "logicalAnd",
    "||": "logicalOr",
  },
  unary: { "-": "neg", "!": "logicalNot" },
};

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
  /** Gradient rule, parsed; absent for ops that are not differentiable (comparisons, logic). */
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
/** fastMish's exponential. */
const MISH_E = "exp(min(a, 20.0))";

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
  // Mish with one exponential (TD-MPC2's activation, see models/tdmpc2/networks.ts fastMish):
  // tanh(softplus(a)) = n / (n + 2) for n = e^a (e^a + 2); e^a at min(a, 20), where the ratio is
  // 1 in float32. The same operations in the same order as fastMish's, so the same values.
  ["fastMish", 1, "float", `a / ((1.0 / (${MISH_E} * (${MISH_E} + 2.0))) * 2.0 + 1.0)`],
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

/** fastMish's e^a and `1 / (n + 2)` in the language of gradient rules (table ops by name). */
const MISH_GE = "exp(minimum(a, 20.0))";
const MISH_R = `(1.0 / (${MISH_GE} * (${MISH_GE} + 2.0) + 2.0))`;

/** GELU's inner tanh, as its gradient needs it. */
const GELU_T = "tanh((a * a * a * 0.044715 + a) * 0.7978845608)";

/**
 * Gradient rules (see {@link GradRule}), one per differentiable op: each input's gradient as an
 * expression over `g`, the inputs and `out`.
 */
const GRADS: Record<string, readonly (string | null)[]> = {
  add: ["g", "g"],
  sub: ["g", "-g"],
  mul: ["g * b", "g * a"],
  div: ["g / b", "-(g * out / b)"],
  pow: ["g * b * pow(a, b - 1)", "g * out * log(maximum(a, 1e-38)) * (a > 0)"],
  maximum: ["g * ((a > b) + (a == b) * 0.5)", "g * ((b > a) + (a == b) * 0.5)"],
  minimum: ["g * ((a < b) + (a == b) * 0.5)", "g * ((b < a) + (a == b) * 0.5)"],
  neg: ["-g"],
  abs: ["g * sign(a)"],
  sign: ["g * 0"],
  square: ["g * a * 2"],
  reciprocal: ["-(g * out * out)"],
  floor: ["g * 0"],
  ceil: ["g * 0"],
  round: ["g * 0"],
  clamp: ["g * (a >= b && a <= c)", "g * (a < b)", "g * (a > c)"],
  exp: ["g * out"],
  log: ["g / a"],
  sqrt: ["g * 0.5 / out"],
  rsqrt: ["g * (out * out * out) * -0.5"],
  sin: ["g * cos(a)"],
  cos: ["-(g * sin(a))"],
  tanh: ["g * (-(out * out) + 1)"],
  sigmoid: ["g * out * (-out + 1)"],
  relu: ["g * (a > 0)"],
  silu: ["g * (sigmoid(a) * (a * (-sigmoid(a) + 1) + 1))"],
  elu: ["g * where(a > 0, 1, out + 1)"],
  softplus: ["g * sigmoid(a)"],
  mish: [
    "g * (tanh(softplus(a)) + a * sigmoid(a) * (-(tanh(softplus(a)) * tanh(softplus(a))) + 1))",
  ],
  // 1 / (n + 2) = r; mish'(a) = 1 - 2r + 4 a e^a (e^a + 1) r^2
  fastMish: [
    `g * (${MISH_R} * (a * ${MISH_GE} * (${MISH_GE} + 1.0) * 4.0 * ${MISH_R} - 2.0) + 1.0)`,
  ],
  gelu: [
    `g * ((${GELU_T} + 1) * 0.5 + a * 0.5 * ((-(${GELU_T} * ${GELU_T}) + 1) * ` +
    "(a * a * (3.0 * 0.044715 * 0.7978845608) + 0.7978845608)))",
  ],
  symlog: ["g / (abs(a) + 1)"],
  symexp: ["g * exp(abs(a))"],
  where: [null, "where(a, g, 0)", "where(a, 0, g)"],
  copy: ["g"],
};

/** The functions gradient rules may call: every table op, by its arity. */
const GRAD_FUNCTIONS: Readonly<Record<string, number>> = Object.fromEntries(
  DECLS.map(([name, arity]) => [name, arity]),
);

/** The names of an op's inputs in its gradient rule, in order. */
export const GRAD_INPUTS: readonly string[] = ["a", "b", "c"];

/** Parses an op's gradient rule (undefined: the op has none); checks the names it reads. */
function parseGrad(name: string, arity: number): GradRule | undefined {
  const srcs = GRADS[name];
  if (!srcs) return undefined;
  if (srcs.length !== arity) throw new Error(`op table: ${name} has ${arity} inputs`);
  const known = new Set(["g", "out", ...GRAD_INPUTS.slice(0, arity)]);
  const check = (e: Ast): void => {
    if (e.t === "var" && !known.has(e.name)) {
      throw new Error(`op table: the gradient of ${name} reads an unknown name "${e.name}"`);
    }
    if (e.t === "un") check(e.a);
    if (e.t === "bin") [e.a, e.b].forEach(check);
    if (e.t === "call") e.args.forEach(check);
  };
  const asts = parseExprList(srcs.map((s) => s ?? "0"), GRAD_FUNCTIONS);
  asts.forEach(check);
  return srcs.map((s, i) => (s === null ? null : asts[i]));
}

/** All elementwise ops by name. */
export const ELEMENTWISE: Readonly<Record<string, ElementwiseOp>> = Object.fromEntries(
  DECLS.map((
    [name, arity, rule, expr],
  ) => [name, { name, arity, rule, expr, ast: parseExpr(expr), grad: parseGrad(name, arity) }]),
);

/** Looks up an op, throwing for an unknown name (a programming error). */
export function elementwiseOp(name: string): ElementwiseOp {
  const op = ELEMENTWISE[name];
  if (!op) throw new Error(`unknown elementwise op "${name}"`);
  return op;
}
