/**
 * JavaScript code generation for fused expressions (the cpu reference backend). The generated
 * functions are plain loops; they are the oracle the other backends are tested against.
 * @module
 */

import { type BuiltinName, BUILTINS, type Expr, type VType } from "../../ir/expr.ts";
import { TextExprGen, type TextScope, type TextSyntax } from "../codegen_text.ts";
import type { ExprPlan } from "../plan.ts";

/** The op language's built-in functions in JavaScript (`roundEven` is in scope of the kernel). */
const JS_BUILTINS: Record<BuiltinName, (xs: readonly string[], t: VType, s: TextScope) => string> =
  {
    exp: (xs) => `Math.exp(${xs[0]})`,
    log: (xs) => `Math.log(${xs[0]})`,
    sqrt: (xs) => `Math.sqrt(${xs[0]})`,
    abs: (xs, t) => (t === "i32" ? `(Math.abs(${xs[0]}) | 0)` : `Math.abs(${xs[0]})`),
    sign: (xs) => `Math.sign(${xs[0]})`,
    floor: (xs) => `Math.floor(${xs[0]})`,
    ceil: (xs) => `Math.ceil(${xs[0]})`,
    round: (xs) => `roundEven(${xs[0]})`,
    tanh: (xs) => `Math.tanh(${xs[0]})`,
    sin: (xs) => `Math.sin(${xs[0]})`,
    cos: (xs) => `Math.cos(${xs[0]})`,
    min: (xs) => `Math.min(${xs[0]}, ${xs[1]})`,
    max: (xs) => `Math.max(${xs[0]}, ${xs[1]})`,
    pow: (xs) => `Math.pow(${xs[0]}, ${xs[1]})`,
    where: (xs) => `(${xs[0]} ? ${xs[1]} : ${xs[2]})`,
  };

/**
 * JavaScript's spelling of the op language. Values are doubles: integer arithmetic is wrapped
 * back to int32 (`| 0`, `Math.imul`) and every float op whose result may not be a float32 value
 * is rounded with `Math.fround`, as on the GPU, so results do not depend on how ops are fused (a
 * fused chain computed in float64 would round only once). Float constants are read from the
 * `F` view of the parameter words.
 */
export const JS_SYNTAX: TextSyntax = {
  bind: (name, _t, code) => `const ${name} = ${code};`,
  bindIndex: (name, code) => `const ${name} = ${code};`,
  bindCoord: (name, code) => `const ${name} = ${code};`,
  coord: (L, stride, shape) => {
    const q = stride === null ? L : `Math.floor(${L} / ${stride})`;
    return shape === null ? q : `${q} % ${shape}`;
  },
  load: (input, index, t) => (t === "bool" ? `(${input}[${index}] !== 0)` : `${input}[${index}]`),
  constant: (k, t, s) => {
    if (t === "f32") return `F[${k}]`;
    return t === "bool" ? `(${s.w(k)} !== 0)` : s.w(k);
  },
  literal: (v, t) => (t === "bool" ? (v !== 0 ? "true" : "false") : numLit(v)),
  frameIndex: (L) => L,
  accumulator: "Math.fround(acc)",
  unary: (op, a, t) => (op === "!" ? `(!${a})` : t === "i32" ? `((-${a}) | 0)` : `(-${a})`),
  binary: (op, a, b, t) => {
    switch (op) {
      case "+":
      case "-":
        return t === "i32" ? `((${a} ${op} ${b}) | 0)` : `(${a} ${op} ${b})`;
      case "*":
        return t === "i32" ? `Math.imul(${a}, ${b})` : `(${a} * ${b})`;
      case "==":
        return `(${a} === ${b})`;
      case "!=":
        return `(${a} !== ${b})`;
      default:
        return `(${a} ${op} ${b})`;
    }
  },
  builtins: JS_BUILTINS,
  cast: castJs,
  finish: (e, code) => (e.t === "f32" && roundsF32(e) ? `Math.fround(${code})` : code),
  inline: (e) => e.k === "lit" || e.k === "acc" || e.k === "index",
};

/** Emits straight-line JS computing an expression; words are read as hoisted `w<k>` consts. */
export class JsExprGen extends TextExprGen {
  constructor(plan: ExprPlan) {
    super(plan, JS_SYNTAX);
  }

  /** `const wK = W[K];` lines for every word used. */
  hoist(): string {
    return [...this.usedWords].sort((a, b) => a - b).map((k) => `const w${k} = W[${k}];`).join(
      "\n",
    );
  }
}

/** Float ops whose float64 result may not be a float32 value (they need `Math.fround`). */
function roundsF32(e: Expr): boolean {
  switch (e.k) {
    case "bin":
      return e.op === "+" || e.op === "-" || e.op === "*" || e.op === "/";
    case "call":
      return !BUILTINS[e.fn].exactInF32;
    case "cast":
      return e.a.t === "i32";
    default:
      return false;
  }
}

function numLit(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  return `(${v})`;
}

/** Converts a JS value between expression types. */
export function castJs(a: string, from: VType, to: VType): string {
  if (from === to) return a;
  if (to === "bool") return `(${a} !== 0)`;
  if (from === "bool") return `(${a} ? 1 : 0)`;
  if (to === "i32") return `(Math.trunc(${a}) | 0)`;
  return a; // i32 -> f32
}

/** JS for storing a value of type `t` into a typed array element. */
export function storeJs(v: string, t: VType): string {
  return t === "bool" ? `(${v} ? 1 : 0)` : v;
}

/** Round half to even, like WGSL `round` and PyTorch. */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
