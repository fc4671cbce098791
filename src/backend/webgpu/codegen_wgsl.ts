/**
 * WGSL code generation for fused expressions: turns a planned {@link Expr} into WGSL
 * statements. Used for elementwise kernels, reduction prologues and matmul epilogues; the
 * surrounding kernel comes from a template in `kernels/`.
 * @module
 */

import { type BuiltinName, type Expr, type VType, walkExpr } from "../../ir/expr.ts";
import { TextExprGen, type TextScope, type TextSyntax } from "../codegen_text.ts";
import type { ExprPlan } from "../plan.ts";

/** WGSL scalar type of a value type. */
export function wgslType(t: VType): string {
  return t === "f32" ? "f32" : t === "i32" ? "i32" : "bool";
}

/** WGSL storage element type of a value type (bool is stored as i32). */
export function storageType(t: VType): string {
  return t === "f32" ? "f32" : "i32";
}

/**
 * The function every kernel gets in front of its source (see `WebGPUBackend.compile`) to write
 * infinities and NaN: `f32_bits(0xff800000u)` is -inf. WGSL evaluates `bitcast<f32>` of a
 * literal at shader-creation time, where a value that is not a finite f32 is an error (Chrome's
 * compiler, Tint, refuses it; wgpu's naga lets it pass); a function's parameter is a runtime
 * value, so this is valid everywhere.
 */
export const WGSL_PRELUDE = "fn f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }\n";

/** A float literal in WGSL syntax (non-finite values through `f32_bits`, see WGSL_PRELUDE). */
export function f32Lit(v: number): string {
  if (Number.isNaN(v)) return "f32_bits(0x7fc00000u)";
  if (v === Infinity) return "f32_bits(0x7f800000u)";
  if (v === -Infinity) return "f32_bits(0xff800000u)";
  const s = String(Math.abs(v));
  return v < 0 || Object.is(v, -0) ? `(-${s}f)` : `${s}f`;
}

/** The op language's built-in functions in WGSL. */
const WGSL_BUILTINS: Record<
  BuiltinName,
  (xs: readonly string[], t: VType, s: TextScope) => string
> = {
  exp: (xs) => `exp(${xs[0]})`,
  log: (xs) => `log(${xs[0]})`,
  sqrt: (xs) => `sqrt(${xs[0]})`,
  abs: (xs) => `abs(${xs[0]})`,
  sign: (xs) => `sign(${xs[0]})`,
  floor: (xs) => `floor(${xs[0]})`,
  ceil: (xs) => `ceil(${xs[0]})`,
  round: (xs) => `round(${xs[0]})`,
  tanh: (xs, _t, s) => {
    // WGSL's tanh may be (e^2x - 1) / (e^2x + 1) (llvmpipe: absolute error ~6e-8, so
    // tanh(2e-9) came out 3e-8): its series below |x| = 0.05 (relative error < 1e-9).
    const v = s.fresh("th");
    s.lines.push(`let ${v}: f32 = ${xs[0]};`);
    return `select(tanh(${v}), ${v} * (1.0 - ${v} * ${v} * (0.33333334 - ${v} * ${v} * ` +
      `0.13333334)), abs(${v}) < 0.05)`;
  },
  sin: (xs) => `sin(${xs[0]})`,
  cos: (xs) => `cos(${xs[0]})`,
  min: (xs) => `min(${xs[0]}, ${xs[1]})`,
  max: (xs) => `max(${xs[0]}, ${xs[1]})`,
  pow: (xs, _t, s) => {
    // WGSL leaves pow(0, y < 0) undefined (llvmpipe gives 0); IEEE and the cpu give inf.
    const [x, y] = [s.fresh("px"), s.fresh("py")];
    s.lines.push(`let ${x}: f32 = ${xs[0]};`, `let ${y}: f32 = ${xs[1]};`);
    return `select(pow(${x}, ${y}), ${f32Lit(Infinity)}, ${x} == 0.0 && ${y} < 0.0)`;
  },
  where: (xs) => `select(${xs[2]}, ${xs[1]}, ${xs[0]})`,
};

/**
 * WGSL's spelling of the op language: typed `let` bindings, u32 frame indices, constants
 * bitcast from the parameter words, `select` for `where` and bool conversions.
 */
export const WGSL_SYNTAX: TextSyntax = {
  bind: (name, t, code) => `let ${name}: ${wgslType(t)} = ${code};`,
  bindIndex: (name, code) => `let ${name}: u32 = ${code};`,
  bindCoord: (name, code) => `let ${name} = ${code};`,
  coord: (L, stride, shape) =>
    stride === null
      ? (shape === null ? L : `${L} % ${shape}`)
      : shape === null
      ? `${L} / ${stride}`
      : `(${L} / ${stride}) % ${shape}`,
  load: (input, index, t) => t === "bool" ? `(${input}[${index}] != 0i)` : `${input}[${index}]`,
  constant: (k, t, s) => {
    const w = s.w(k);
    return t === "f32" ? `bitcast<f32>(${w})` : t === "i32" ? `bitcast<i32>(${w})` : `(${w} != 0u)`;
  },
  literal: (
    v,
    t,
  ) => (t === "f32" ? f32Lit(v) : t === "i32" ? `${Math.trunc(v)}i` : String(v !== 0)),
  frameIndex: (L) => `i32(${L})`,
  accumulator: "acc",
  unary: (op, a) => `(${op}${a})`,
  binary: (op, a, b) => `(${a} ${op} ${b})`,
  builtins: WGSL_BUILTINS,
  cast: castWgsl,
  finish: (_e, code) => code,
  inline: (e) => e.k === "lit" || e.k === "acc",
};

/** Emits WGSL statements computing an expression; words are hoisted as `w<k>` lets. */
export class WgslExprGen extends TextExprGen {
  constructor(plan: ExprPlan, inputPrefix = "in") {
    super(plan, WGSL_SYNTAX, inputPrefix);
  }

  /** `let wK = P.w[..][..];` lines for every word used. */
  hoist(base = 0, uniform = "P"): string {
    return [...this.usedWords].sort((a, b) => a - b).map((k) =>
      `let w${k}: u32 = ${uniform}.w[${(base + k) >> 2}u][${(base + k) & 3}u];`
    ).join("\n  ");
  }
}

/** Converts between WGSL value types. */
export function castWgsl(a: string, from: VType, to: VType): string {
  if (from === to) return a;
  if (to === "bool") return from === "f32" ? `(${a} != 0.0f)` : `(${a} != 0i)`;
  if (from === "bool") return to === "f32" ? `select(0.0f, 1.0f, ${a})` : `select(0i, 1i, ${a})`;
  return to === "f32" ? `f32(${a})` : `i32(${a})`;
}

/** WGSL for storing a value of type `t` into its storage array. */
export function storeWgsl(v: string, t: VType): string {
  return t === "bool" ? `select(0i, 1i, ${v})` : v;
}

/** The storage type each input buffer is read as (from the loads of an expression). */
export function inputTypes(expr: Expr, n: number): VType[] {
  const types = new Array<VType>(n).fill("f32");
  walkExpr(expr, (e) => {
    if (e.k === "load") types[e.input] = e.t === "f32" ? "f32" : "i32";
  });
  return types;
}

/** Replaces `{{NAME}}` markers of a template. */
export function fillTemplate(tpl: string, values: Record<string, string>): string {
  return tpl.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`template marker {{${k}}} has no value`);
    return v;
  });
}
