/**
 * JavaScript code generation for fused expressions (the cpu reference backend). The generated
 * functions are plain loops; they are the oracle the other backends are tested against.
 * @module
 */

import { type BuiltinName, BUILTINS, type Expr, type VType } from "../../ir/expr.ts";
import type { ExprPlan, FramePlan, ViewPlan } from "../plan.ts";

interface FrameCtx {
  readonly L: string;
  readonly plan: FramePlan;
  readonly coords: Map<number, string>;
}

/** Emits straight-line JS computing an expression; words are read as hoisted `w<k>` consts. */
export class JsExprGen {
  readonly lines: string[] = [];
  readonly usedWords = new Set<number>();
  private readonly names = new Map<Expr, string>();
  private nextVar = 0;

  constructor(readonly plan: ExprPlan) {}

  w(k: number): string {
    this.usedWords.add(k);
    return `w${k}`;
  }

  fresh(prefix = "v"): string {
    return `${prefix}${this.nextVar++}`;
  }

  /** Coordinate `d` of a frame (emitted on first use). */
  coord(f: FrameCtx, d: number): string {
    let c = f.coords.get(d);
    if (c) return c;
    c = this.fresh("c");
    const { slot, rank } = f.plan;
    const shape = this.w(slot + d);
    const stride = this.w(slot + rank + d);
    if (d === 0) this.lines.push(`const ${c} = Math.floor(${f.L} / ${stride});`);
    else if (d === rank - 1) this.lines.push(`const ${c} = ${f.L} % ${shape};`);
    else this.lines.push(`const ${c} = Math.floor(${f.L} / ${stride}) % ${shape};`);
    f.coords.set(d, c);
    return c;
  }

  /** Element index of a planned view over frame `f`. */
  index(f: FrameCtx, p: ViewPlan): string {
    if (p.linear) return `${this.w(p.slot)} + ${f.L}`;
    const terms = [this.w(p.slot)];
    for (let d = 0; d < p.rank; d++) terms.push(`${this.coord(f, d)} * ${this.w(p.slot + 1 + d)}`);
    return terms.join(" + ");
  }

  frame(L: string, plan: FramePlan): FrameCtx {
    return { L, plan, coords: new Map() };
  }

  /** Returns a JS expression (usually a variable) for `e` in frame `f`. */
  gen(e: Expr, f: FrameCtx): string {
    const named = this.names.get(e);
    if (named) return named;
    let code = this.genUncached(e, f);
    // Every float op rounds to float32, as on the GPU: results then do not depend on how ops
    // are fused (a fused chain computed in float64 would round only once).
    if (e.t === "f32" && roundsF32(e)) code = `Math.fround(${code})`;
    if (e.k === "lit" || e.k === "acc" || e.k === "index") return code;
    const v = this.fresh();
    this.lines.push(`const ${v} = ${code};`);
    this.names.set(e, v);
    return v;
  }

  private genUncached(e: Expr, f: FrameCtx): string {
    switch (e.k) {
      case "load": {
        const p = this.plan.views.get(e)!;
        const x = `in${e.input}[${this.index(f, p)}]`;
        return e.t === "bool" ? `(${x} !== 0)` : x;
      }
      case "const": {
        const k = this.plan.constBase + e.slot;
        if (e.t === "f32") return `F[${k}]`;
        this.usedWords.add(k);
        return e.t === "bool" ? `(w${k} !== 0)` : `w${k}`;
      }
      case "lit":
        return e.t === "bool" ? (e.v !== 0 ? "true" : "false") : numLit(e.v);
      case "index":
        return f.L;
      case "acc":
        return "Math.fround(acc)";
      case "un": {
        const a = this.gen(e.a, f);
        return e.op === "!" ? `(!${a})` : e.t === "i32" ? `((-${a}) | 0)` : `(-${a})`;
      }
      case "bin": {
        const a = this.gen(e.a, f);
        const b = this.gen(e.b, f);
        const t = e.a.t;
        switch (e.op) {
          case "+":
          case "-":
            return t === "i32" ? `((${a} ${e.op} ${b}) | 0)` : `(${a} ${e.op} ${b})`;
          case "*":
            return t === "i32" ? `Math.imul(${a}, ${b})` : `(${a} * ${b})`;
          case "/":
            return `(${a} / ${b})`;
          case "==":
            return `(${a} === ${b})`;
          case "!=":
            return `(${a} !== ${b})`;
          default:
            return `(${a} ${e.op} ${b})`;
        }
        break;
      }
      case "call":
        return JS_BUILTINS[e.fn](e.args.map((a) => this.gen(a, f)), e.t);
      case "cast":
        return castJs(this.gen(e.a, f), e.a.t, e.t);
      case "frame": {
        const vp = this.plan.views.get(e)!;
        const fp = this.plan.frames.get(e)!;
        const L = this.fresh("L");
        this.lines.push(`const ${L} = ${this.index(f, vp)};`);
        return this.gen(e.body, this.frame(L, fp));
      }
    }
  }

  /** `const wK = W[K];` lines for every word used. */
  hoist(): string {
    return [...this.usedWords].sort((a, b) => a - b).map((k) => `const w${k} = W[${k}];`).join(
      "\n",
    );
  }
}

/** The op language's built-in functions in JavaScript (`roundEven` is in scope of the kernel). */
const JS_BUILTINS: Record<BuiltinName, (xs: readonly string[], t: VType) => string> = {
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
