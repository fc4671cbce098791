/**
 * WGSL code generation for fused expressions: turns a planned {@link Expr} into WGSL
 * statements. Used for elementwise kernels, reduction prologues and matmul epilogues; the
 * surrounding kernel comes from a template in `kernels/`.
 * @module
 */

import type { BuiltinName, Expr, VType } from "../../ir/expr.ts";
import type { ExprPlan, FramePlan, ViewPlan } from "../plan.ts";

interface FrameCtx {
  readonly L: string;
  readonly plan: FramePlan;
  readonly coords: Map<number, string>;
}

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

/** Where a built-in's WGSL goes: fresh names, and lines before the expression (`let` bindings). */
interface WgslScope {
  fresh(prefix?: string): string;
  readonly lines: string[];
}

/** The op language's built-in functions in WGSL. */
const WGSL_BUILTINS: Record<BuiltinName, (xs: readonly string[], s: WgslScope) => string> = {
  exp: (xs) => `exp(${xs[0]})`,
  log: (xs) => `log(${xs[0]})`,
  sqrt: (xs) => `sqrt(${xs[0]})`,
  abs: (xs) => `abs(${xs[0]})`,
  sign: (xs) => `sign(${xs[0]})`,
  floor: (xs) => `floor(${xs[0]})`,
  ceil: (xs) => `ceil(${xs[0]})`,
  round: (xs) => `round(${xs[0]})`,
  tanh: (xs, s) => {
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
  pow: (xs, s) => {
    // WGSL leaves pow(0, y < 0) undefined (llvmpipe gives 0); IEEE and the cpu give inf.
    const [x, y] = [s.fresh("px"), s.fresh("py")];
    s.lines.push(`let ${x}: f32 = ${xs[0]};`, `let ${y}: f32 = ${xs[1]};`);
    return `select(pow(${x}, ${y}), ${f32Lit(Infinity)}, ${x} == 0.0 && ${y} < 0.0)`;
  },
  where: (xs) => `select(${xs[2]}, ${xs[1]}, ${xs[0]})`,
};

/** Emits WGSL statements computing an expression; words are hoisted as `w<k>` lets. */
export class WgslExprGen {
  readonly lines: string[] = [];
  readonly usedWords = new Set<number>();
  private readonly names = new Map<Expr, string>();
  private nextVar = 0;

  constructor(readonly plan: ExprPlan, readonly inputPrefix = "in") {}

  w(k: number): string {
    this.usedWords.add(k);
    return `w${k}`;
  }

  fresh(prefix = "v"): string {
    return `${prefix}${this.nextVar++}`;
  }

  frame(L: string, plan: FramePlan): FrameCtx {
    return { L, plan, coords: new Map() };
  }

  coord(f: FrameCtx, d: number): string {
    let c = f.coords.get(d);
    if (c) return c;
    c = this.fresh("c");
    const { slot, rank } = f.plan;
    const shape = this.w(slot + d);
    const stride = this.w(slot + rank + d);
    if (rank === 1) this.lines.push(`let ${c} = ${f.L};`);
    else if (d === 0) this.lines.push(`let ${c} = ${f.L} / ${stride};`);
    else if (d === rank - 1) this.lines.push(`let ${c} = ${f.L} % ${shape};`);
    else this.lines.push(`let ${c} = (${f.L} / ${stride}) % ${shape};`);
    f.coords.set(d, c);
    return c;
  }

  index(f: FrameCtx, p: ViewPlan): string {
    if (p.linear) return `${this.w(p.slot)} + ${f.L}`;
    const terms = [this.w(p.slot)];
    for (let d = 0; d < p.rank; d++) terms.push(`${this.coord(f, d)} * ${this.w(p.slot + 1 + d)}`);
    return terms.join(" + ");
  }

  gen(e: Expr, f: FrameCtx): string {
    const named = this.names.get(e);
    if (named) return named;
    const code = this.genUncached(e, f);
    if (e.k === "lit" || e.k === "acc") return code;
    const v = this.fresh();
    this.lines.push(`let ${v}: ${wgslType(e.t)} = ${code};`);
    this.names.set(e, v);
    return v;
  }

  private genUncached(e: Expr, f: FrameCtx): string {
    switch (e.k) {
      case "load": {
        const p = this.plan.views.get(e)!;
        const x = `${this.inputPrefix}${e.input}[${this.index(f, p)}]`;
        return e.t === "bool" ? `(${x} != 0i)` : x;
      }
      case "const": {
        const w = this.w(this.plan.constBase + e.slot);
        return e.t === "f32"
          ? `bitcast<f32>(${w})`
          : e.t === "i32"
          ? `bitcast<i32>(${w})`
          : `(${w} != 0u)`;
      }
      case "lit":
        return e.t === "f32"
          ? f32Lit(e.v)
          : e.t === "i32"
          ? `${Math.trunc(e.v)}i`
          : String(e.v !== 0);
      case "index":
        return `i32(${f.L})`;
      case "acc":
        return "acc";
      case "un": {
        const a = this.gen(e.a, f);
        return e.op === "!" ? `(!${a})` : `(-${a})`;
      }
      case "bin":
        return `(${this.gen(e.a, f)} ${e.op} ${this.gen(e.b, f)})`;
      case "call":
        return WGSL_BUILTINS[e.fn](e.args.map((a) => this.gen(a, f)), this);
      case "cast":
        return castWgsl(this.gen(e.a, f), e.a.t, e.t);
      case "frame": {
        const vp = this.plan.views.get(e)!;
        const fp = this.plan.frames.get(e)!;
        const L = this.fresh("L");
        this.lines.push(`let ${L}: u32 = ${this.index(f, vp)};`);
        return this.gen(e.body, this.frame(L, fp));
      }
    }
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
  const seen = new Set<Expr>();
  const walk = (e: Expr) => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case "load":
        types[e.input] = e.t === "f32" ? "f32" : "i32";
        return;
      case "un":
      case "cast":
        return walk(e.a);
      case "bin":
        walk(e.a);
        return walk(e.b);
      case "call":
        return e.args.forEach(walk);
      case "frame":
        return walk(e.body);
    }
  };
  walk(expr);
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
