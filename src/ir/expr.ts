/**
 * The kernel expression IR and the small expression language the op table is written in.
 *
 * Op-table entries are strings such as `"a / (1.0 + exp(-a))"`. They are parsed once into an
 * untyped AST; the scheduler substitutes each argument with a typed {@link Expr} (a buffer load,
 * a scalar uniform, or another op) and the backends generate WGSL, JavaScript or wasm from the
 * typed tree. One definition per op, every backend generated from it.
 * @module
 */

import type { DType } from "./dtype.ts";
import type { Shape, View } from "./view.ts";

// ---------------------------------------------------------------------------------------------
// Untyped AST of the op language
// ---------------------------------------------------------------------------------------------

/** Binary operators of the op language. */
export type BinOp = "+" | "-" | "*" | "/" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "&&" | "||";
/** Unary operators of the op language. */
export type UnOp = "-" | "!";
/**
 * What every code generator needs to know of a built-in function of the op language. Each
 * target implements every built-in in its own table (`JS_BUILTINS`, `WGSL_BUILTINS`,
 * `WASM_BUILTINS`, typed by {@link BuiltinName} so a missing one does not compile): a new
 * built-in is one entry here and one emitter per target.
 */
export interface Builtin {
  /** Number of arguments. */
  readonly arity: 1 | 2 | 3;
  /**
   * Integer arguments are converted to float32 and the result is float32 (`exp`); otherwise
   * integers stay integers (`abs`, `min`). `where` has its own rule (bool condition, promoted
   * values).
   */
  readonly floatOnly: boolean;
  /**
   * The result of float32 arguments is itself a float32 value (`abs`, `floor`, `min`): a target
   * computing in double (JavaScript) need not round it back to float32.
   */
  readonly exactInF32: boolean;
  /** Extra per-element cost over a plain arithmetic op (8: a transcendental function). */
  readonly cost: number;
}

/** The built-in functions of the op language. */
export const BUILTINS = {
  exp: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  log: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  sqrt: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  abs: { arity: 1, floatOnly: false, exactInF32: true, cost: 0 },
  sign: { arity: 1, floatOnly: false, exactInF32: true, cost: 0 },
  floor: { arity: 1, floatOnly: true, exactInF32: true, cost: 0 },
  ceil: { arity: 1, floatOnly: true, exactInF32: true, cost: 0 },
  round: { arity: 1, floatOnly: true, exactInF32: true, cost: 0 },
  tanh: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  sin: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  cos: { arity: 1, floatOnly: true, exactInF32: false, cost: 8 },
  min: { arity: 2, floatOnly: false, exactInF32: true, cost: 0 },
  max: { arity: 2, floatOnly: false, exactInF32: true, cost: 0 },
  pow: { arity: 2, floatOnly: true, exactInF32: false, cost: 8 },
  where: { arity: 3, floatOnly: false, exactInF32: true, cost: 0 },
} as const satisfies Record<string, Builtin>;

/** The name of a built-in function. */
export type BuiltinName = keyof typeof BUILTINS;

/** Built-in functions of the op language by arity (the parser's function table). */
const FUNCTIONS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(BUILTINS).map(([name, b]) => [name, b.arity]),
);

/** Parsed op-language expression. */
export type Ast =
  | { t: "num"; v: number }
  | { t: "var"; name: string }
  | { t: "un"; op: UnOp; a: Ast }
  | { t: "bin"; op: BinOp; a: Ast; b: Ast }
  | { t: "call"; fn: string; args: Ast[] };

const PREC: Record<string, number> = {
  "||": 1,
  "&&": 2,
  "==": 3,
  "!=": 3,
  "<": 4,
  "<=": 4,
  ">": 4,
  ">=": 4,
  "+": 5,
  "-": 5,
  "*": 6,
  "/": 6,
};

/** Parses an op-language string. Throws on a syntax error (a bug in the op table). */
export function parseExpr(src: string): Ast {
  return shareSubtrees(parseTree(src, FUNCTIONS), new Map());
}

/**
 * Parses several expressions whose functions are `functions` (name -> arity) instead of the
 * built-ins, identical subtrees being one object across all of them: the op table's gradient
 * rules, which call table ops (`sigmoid(a)`) and share values between an op's input gradients.
 */
export function parseExprList(
  srcs: readonly string[],
  functions: Readonly<Record<string, number>>,
): Ast[] {
  const byKey = new Map<string, Ast>();
  return srcs.map((src) => shareSubtrees(parseTree(src, functions), byKey));
}

function parseTree(src: string, functions: Readonly<Record<string, number>>): Ast {
  const toks = src.match(
    /\d+\.\d*(?:e[+-]?\d+)?|\d+(?:e[+-]?\d+)?|[A-Za-z_]\w*|<=|>=|==|!=|&&|\|\||[-+*/<>(),!]/g,
  ) ?? [];
  let p = 0;
  const peek = () => toks[p];
  const next = () => toks[p++];
  const expect = (t: string) => {
    if (next() !== t) throw new Error(`op language: expected "${t}" in "${src}"`);
  };
  const primary = (): Ast => {
    const t = next();
    if (t === undefined) throw new Error(`op language: unexpected end of "${src}"`);
    if (t === "(") {
      const e = binary(0);
      expect(")");
      return e;
    }
    if (t === "-" || t === "!") return { t: "un", op: t, a: primary() };
    if (/^\d/.test(t)) return { t: "num", v: Number(t) };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === "(") {
        next();
        const args: Ast[] = [];
        if (peek() !== ")") {
          do args.push(binary(0)); while (peek() === "," && next());
        }
        expect(")");
        if (functions[t] === undefined) throw new Error(`op language: unknown function ${t}`);
        if (functions[t] !== args.length) {
          throw new Error(`op language: ${t} takes ${functions[t]} arguments`);
        }
        return { t: "call", fn: t, args };
      }
      return { t: "var", name: t };
    }
    throw new Error(`op language: unexpected "${t}" in "${src}"`);
  };
  const binary = (minPrec: number): Ast => {
    let lhs = primary();
    for (;;) {
      const op = peek();
      const pr = op === undefined ? undefined : PREC[op];
      if (pr === undefined || pr < minPrec) break;
      next();
      const rhs = binary(pr + 1);
      lhs = { t: "bin", op: op as BinOp, a: lhs, b: rhs };
    }
    return lhs;
  };
  const ast = binary(0);
  if (p !== toks.length) throw new Error(`op language: trailing tokens in "${src}"`);
  return ast;
}

/**
 * The same tree with identical subtrees as one object (`exp(-abs(a))` written five times is one
 * node): {@link instantiate} maps each object to one Expr, so every backend computes it once.
 */
function shareSubtrees(root: Ast, byKey: Map<string, Ast>): Ast {
  const go = (a: Ast): [Ast, string] => {
    let node: Ast, key: string;
    switch (a.t) {
      case "num":
        [node, key] = [a, `n${a.v}`];
        break;
      case "var":
        [node, key] = [a, `v${a.name}`];
        break;
      case "un": {
        const [x, kx] = go(a.a);
        [node, key] = [{ ...a, a: x }, `u${a.op}(${kx})`];
        break;
      }
      case "bin": {
        const [x, kx] = go(a.a), [y, ky] = go(a.b);
        [node, key] = [{ ...a, a: x, b: y }, `(${kx}${a.op}${ky})`];
        break;
      }
      case "call": {
        const xs = a.args.map(go);
        node = { ...a, args: xs.map((x) => x[0]) };
        key = `${a.fn}(${xs.map((x) => x[1]).join(",")})`;
        break;
      }
    }
    const hit = byKey.get(key);
    if (hit) return [hit, key];
    byKey.set(key, node);
    return [node, key];
  };
  return go(root)[0];
}

// ---------------------------------------------------------------------------------------------
// Typed kernel IR
// ---------------------------------------------------------------------------------------------

/** Value types inside generated code. Bool tensors are stored as i32 and loaded as bool. */
export type VType = "f32" | "i32" | "bool";

/** The value type a tensor of `dtype` has inside expressions. */
export function vtypeOf(dtype: DType): VType {
  return dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "bool";
}

/** The dtype a value of type `v` is stored as. */
export function dtypeOf(v: VType): DType {
  return v === "f32" ? "float32" : v === "i32" ? "int32" : "bool";
}

/**
 * Typed expression of a fused kernel. Every node is evaluated at the current *frame index*: a
 * linear index into a frame shape. The kernel's outer frame is its output shape; a `frame` node
 * re-indexes into the shape of an inlined producer through a strided view.
 */
export type Expr =
  | { readonly k: "load"; readonly input: number; readonly view: View; readonly t: VType }
  | { readonly k: "const"; readonly slot: number; readonly t: VType }
  | { readonly k: "lit"; readonly v: number; readonly t: VType }
  | { readonly k: "index"; readonly t: "i32" }
  | { readonly k: "un"; readonly op: UnOp; readonly a: Expr; readonly t: VType }
  | { readonly k: "bin"; readonly op: BinOp; readonly a: Expr; readonly b: Expr; readonly t: VType }
  | {
    readonly k: "call";
    readonly fn: BuiltinName;
    readonly args: readonly Expr[];
    readonly t: VType;
  }
  | { readonly k: "cast"; readonly a: Expr; readonly t: VType }
  | {
    readonly k: "frame";
    readonly shape: Shape;
    readonly view: View;
    readonly body: Expr;
    readonly t: VType;
  }
  | { readonly k: "acc"; readonly t: "f32" };

/** Casts `e` to `t` (no-op when it already has that type). */
export function castTo(e: Expr, t: VType): Expr {
  if (e.t === t) return e;
  if (e.k === "lit") return { k: "lit", v: t === "bool" ? (e.v !== 0 ? 1 : 0) : e.v, t };
  return { k: "cast", a: e, t };
}

function isCmp(op: BinOp): boolean {
  return op === "<" || op === "<=" || op === ">" || op === ">=" || op === "==" || op === "!=";
}

/**
 * Instantiates a parsed op-language AST with typed arguments. `compute` is the value type the
 * arithmetic runs in (f32 for float ops; the promoted input type for type-preserving ops).
 */
export function instantiate(ast: Ast, args: Record<string, Expr>, compute: VType): Expr {
  const num = compute === "bool" ? "i32" : compute;
  const memo = new Map<Ast, Expr>(); // shared subtrees (see shareSubtrees) stay shared
  const go = (a: Ast): Expr => {
    let e = memo.get(a);
    if (!e) memo.set(a, e = build(a));
    return e;
  };
  const build = (a: Ast): Expr => {
    switch (a.t) {
      case "num":
        return { k: "lit", v: a.v, t: num };
      case "var": {
        const e = args[a.name];
        if (!e) throw new Error(`op language: unbound variable ${a.name}`);
        return castTo(e, e.t === "bool" ? "bool" : num);
      }
      case "un": {
        const x = go(a.a);
        if (a.op === "!") return { k: "un", op: "!", a: castTo(x, "bool"), t: "bool" };
        return { k: "un", op: "-", a: x, t: x.t };
      }
      case "bin": {
        let x = go(a.a);
        let y = go(a.b);
        if (a.op === "&&" || a.op === "||") {
          return { k: "bin", op: a.op, a: castTo(x, "bool"), b: castTo(y, "bool"), t: "bool" };
        }
        if (x.t === "bool") x = castTo(x, num);
        if (y.t === "bool") y = castTo(y, num);
        const t: VType = x.t === "f32" || y.t === "f32" ? "f32" : "i32";
        x = castTo(x, t);
        y = castTo(y, t);
        return { k: "bin", op: a.op, a: x, b: y, t: isCmp(a.op) ? "bool" : t };
      }
      case "call": {
        if (a.fn === "where") {
          const c = castTo(go(a.args[0]), "bool");
          let x = go(a.args[1]);
          let y = go(a.args[2]);
          const t: VType = x.t === "f32" || y.t === "f32"
            ? "f32"
            : x.t === "i32" || y.t === "i32"
            ? "i32"
            : "bool";
          x = castTo(x, t);
          y = castTo(y, t);
          return { k: "call", fn: "where", args: [c, x, y], t };
        }
        const fn = a.fn as BuiltinName;
        if (BUILTINS[fn] === undefined) throw new Error(`op language: unknown function ${a.fn}`);
        const floatOnly = BUILTINS[fn].floatOnly;
        let xs = a.args.map(go).map((x) => (x.t === "bool" ? castTo(x, num) : x));
        const t: VType = floatOnly || xs.some((x) => x.t === "f32") ? "f32" : "i32";
        xs = xs.map((x) => castTo(x, t));
        return { k: "call", fn, args: xs, t };
      }
    }
  };
  return go(ast);
}

/** The operands of a node, in evaluation order (a `frame` node's operand is its body). */
export function exprChildren(e: Expr): readonly Expr[] {
  switch (e.k) {
    case "un":
    case "cast":
      return [e.a];
    case "bin":
      return [e.a, e.b];
    case "call":
      return e.args;
    case "frame":
      return [e.body];
    default:
      return [];
  }
}

/** Visits each node of an expression DAG once (children before parents). */
export function walkExpr(root: Expr, fn: (e: Expr) => void): void {
  const seen = new Set<Expr>();
  const go = (e: Expr) => {
    if (seen.has(e)) return;
    seen.add(e);
    exprChildren(e).forEach(go);
    fn(e);
  };
  go(root);
}
