/**
 * The C-style text renderer: straight-line code computing a planned expression, one bound name
 * per node, for every target whose kernels are source text (JavaScript on the cpu reference
 * backend, WGSL on WebGPU). The walk, common-subexpression elimination and index arithmetic come
 * from {@link ExprWalk}; a target is a {@link TextSyntax} table (`JS_SYNTAX` in
 * `cpu/codegen_js.ts`, `WGSL_SYNTAX` in `webgpu/codegen_wgsl.ts`) of how each node is spelled.
 * @module
 */

import type { BuiltinName, Expr, VType } from "../ir/expr.ts";
import { type ExprOf, ExprWalk, type FrameCtx, frameCtx } from "./codegen.ts";
import type { ExprPlan } from "./plan.ts";

/** What a syntax entry may use while spelling a node: words, fresh names, lines before it. */
export interface TextScope {
  /** The name of word `k` (the target hoists the words used). */
  w(k: number): string;
  /** A fresh name. */
  fresh(prefix?: string): string;
  /** Statements emitted so far, in order. */
  readonly lines: string[];
}

/** How a text target spells each node once its operands are names. */
export interface TextSyntax {
  /** A statement binding `name` to `code` of value type `t`. */
  bind(name: string, t: VType, code: string): string;
  /** A statement binding a frame's linear index. */
  bindIndex(name: string, code: string): string;
  /** A statement binding a coordinate. */
  bindCoord(name: string, code: string): string;
  /** Frame index `L` divided by `stride` (null: not divided), remainder by `shape` (null: none). */
  coord(L: string, stride: string | null, shape: string | null): string;
  /** Element `index` of input `input` read as type `t`. */
  load(input: string, index: string, t: VType): string;
  /** Constant word `k` as type `t`. */
  constant(k: number, t: VType, s: TextScope): string;
  literal(v: number, t: VType): string;
  /** The current frame index as an i32 value. */
  frameIndex(L: string): string;
  /** A matmul epilogue's accumulator. */
  readonly accumulator: string;
  unary(op: "-" | "!", a: string, t: VType): string;
  /** Binary operator on operands of type `t`. */
  binary(op: string, a: string, b: string, t: VType): string;
  /** The op language's built-in functions; a missing one does not compile. */
  readonly builtins: Record<BuiltinName, (xs: readonly string[], t: VType, s: TextScope) => string>;
  cast(a: string, from: VType, to: VType): string;
  /** The code bound for node `e` (JavaScript rounds float ops to float32 here). */
  finish(e: Expr, code: string): string;
  /** Nodes used in place (a literal), never bound to a name. */
  inline(e: Expr): boolean;
}

/** Renders expressions as statements of a text target; words are read as `w<k>` names. */
export class TextExprGen extends ExprWalk<string, string, FrameCtx<string>> implements TextScope {
  readonly lines: string[] = [];
  readonly usedWords: Set<number> = new Set();
  private nextVar = 0;

  constructor(plan: ExprPlan, readonly syntax: TextSyntax, readonly inputPrefix = "in") {
    super(plan);
  }

  w(k: number): string {
    this.usedWords.add(k);
    return `w${k}`;
  }

  fresh(prefix = "v"): string {
    return `${prefix}${this.nextVar++}`;
  }

  protected inline(e: Expr): boolean {
    return this.syntax.inline(e);
  }

  protected bind(e: Expr, code: string): string {
    code = this.syntax.finish(e, code);
    if (this.syntax.inline(e)) return code;
    const v = this.fresh();
    this.lines.push(this.syntax.bind(v, e.t, code));
    return v;
  }

  protected use(v: string): string {
    return v;
  }

  protected load(e: ExprOf<"load">, f: FrameCtx<string>): string {
    const index = this.viewIndex(f, this.plan.views.get(e)!);
    return this.syntax.load(`${this.inputPrefix}${e.input}`, index, e.t);
  }

  protected constant(e: ExprOf<"const">): string {
    return this.syntax.constant(this.plan.constBase + e.slot, e.t, this);
  }

  protected literal(e: ExprOf<"lit">): string {
    return this.syntax.literal(e.v, e.t);
  }

  protected frameIndex(f: FrameCtx<string>): string {
    return this.syntax.frameIndex(f.L);
  }

  protected accumulator(): string {
    return this.syntax.accumulator;
  }

  protected unary(e: ExprOf<"un">, a: string): string {
    return this.syntax.unary(e.op, a, e.t);
  }

  protected binary(e: ExprOf<"bin">, a: string, b: string): string {
    return this.syntax.binary(e.op, a, b, e.a.t);
  }

  protected call(e: ExprOf<"call">, xs: readonly string[]): string {
    return this.syntax.builtins[e.fn](xs, e.t, this);
  }

  protected cast(a: string, from: VType, to: VType): string {
    return this.syntax.cast(a, from, to);
  }

  protected enterFrame(e: ExprOf<"frame">, f: FrameCtx<string>): FrameCtx<string> {
    const L = this.fresh("L");
    this.lines.push(this.syntax.bindIndex(L, this.viewIndex(f, this.plan.views.get(e)!)));
    return frameCtx(L, this.plan.frames.get(e)!);
  }

  protected unravel(
    f: FrameCtx<string>,
    shapeWord: number,
    strideWord: number,
    divide: boolean,
    remainder: boolean,
  ): string {
    const c = this.fresh("c");
    const shape = this.w(shapeWord);
    const stride = this.w(strideWord);
    const code = this.syntax.coord(f.L, divide ? stride : null, remainder ? shape : null);
    this.lines.push(this.syntax.bindCoord(c, code));
    return c;
  }

  protected indexWord(k: number): string {
    return this.w(k);
  }

  protected indexAdd(i: string, L: string): string {
    return `${i} + ${L}`;
  }

  protected indexMulAdd(i: string, c: string, k: number): string {
    return `${i} + ${c} * ${this.w(k)}`;
  }
}
