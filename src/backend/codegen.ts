/**
 * The one code-generation core every target shares: the walk over a planned {@link Expr} with
 * common-subexpression elimination, and the coordinate / index emitter that unravels a frame's
 * linear index and indexes a strided view. A target (JavaScript, WGSL, wasm SIMD) supplies only
 * its syntax: how a node of each kind is written once its operands are values, how a value is
 * bound to a name (or a local), how words are read, and how a coordinate is divided out.
 *
 * Two kinds of target fit: text targets, where a rendered node is a string of code and a value is
 * the name it was bound to (`codegen_text.ts`: one C-style renderer with a syntax table for
 * JavaScript and one for WGSL, in the spirit of tinygrad's `CStyleLanguage` and its small WGSL
 * subclass), and the wasm stack machine, where rendering a node pushes its instructions and a
 * value is the local it was stored in (`wasm/codegen_expr.ts`). Evaluation order is the same for
 * both: operands left to right before their node, each node once (a shared subtree is one
 * object, see `shareSubtrees` in `ir/expr.ts`).
 * @module
 */

import type { Expr, VType } from "../ir/expr.ts";
import type { ExprPlan, FramePlan, ViewPlan } from "./plan.ts";

/** A frame being indexed: its linear index `L`, its plan, and its coordinates so far. */
export interface FrameCtx<V> {
  readonly L: V;
  readonly plan: FramePlan;
  readonly coords: Map<number, V>;
}

/** A frame context over index `L` (coordinates are emitted on first use). */
export function frameCtx<V>(L: V, plan: FramePlan): FrameCtx<V> {
  return { L, plan, coords: new Map() };
}

/** Nodes of one kind, for the per-kind hooks. */
export type ExprOf<K extends Expr["k"]> = Extract<Expr, { k: K }>;

/**
 * The walk. `V` is a value (a name, a local), `R` a rendered node (a string of code; nothing on
 * a stack machine, whose hooks emit as they are called), `C` the context a node is evaluated in
 * (a frame; wasm also has an outer context of loop cursors).
 */
export abstract class ExprWalk<V, R, C> {
  /** Values computed so far (common subexpressions are computed once). */
  protected memo: Map<Expr, V> = new Map();

  constructor(readonly plan: ExprPlan) {}

  /** The value of `e` in context `ctx`, rendering and binding it on first use. */
  value(e: Expr, ctx: C): V {
    const hit = this.memo.get(e);
    if (hit !== undefined) return hit;
    const slot = this.reserve(e);
    const r = this.render(e, ctx);
    const v = this.bind(e, r, slot);
    if (!this.inline(e)) this.memo.set(e, v);
    return v;
  }

  /** Renders one node: its operands' values first (left to right), then the node. */
  render(e: Expr, ctx: C): R {
    switch (e.k) {
      case "load":
        return this.load(e, ctx);
      case "const":
        return this.constant(e);
      case "lit":
        return this.literal(e);
      case "index":
        return this.frameIndex(ctx);
      case "acc":
        return this.accumulator();
      case "un":
        return this.unary(e, this.value(e.a, ctx));
      case "bin": {
        const a = this.value(e.a, ctx);
        return this.binary(e, a, this.value(e.b, ctx));
      }
      case "call":
        return this.call(e, e.args.map((x) => this.value(x, ctx)));
      case "cast":
        return this.cast(this.value(e.a, ctx), e.a.t, e.t);
      case "frame":
        return this.use(this.value(e.body, this.enterFrame(e, ctx)));
    }
  }

  /**
   * Coordinate `d` of frame `f`, emitted on first use. The one formula: divide the index by the
   * axis' contiguous stride unless it is the last axis, take the remainder by the axis' size
   * unless it is the first; a rank-1 frame's coordinate is its index.
   */
  coord(f: FrameCtx<V>, d: number): V {
    const hit = f.coords.get(d);
    if (hit !== undefined) return hit;
    const { slot, rank } = f.plan;
    const c = this.unravel(f, slot + d, slot + rank + d, d < rank - 1, d > 0);
    f.coords.set(d, c);
    return c;
  }

  /**
   * Element index of planned view `p` over frame `f`: its offset plus the frame's index (a view
   * reading the frame in order), or plus each coordinate times the view's stride.
   */
  viewIndex(f: FrameCtx<V>, p: ViewPlan): R {
    let i = this.indexWord(p.slot);
    if (p.linear) return this.indexAdd(i, f.L);
    for (let d = 0; d < p.rank; d++) i = this.indexMulAdd(i, this.coord(f, d), p.slot + 1 + d);
    return i;
  }

  /** True when a node's code is used in place rather than bound (and then not memoised). */
  protected abstract inline(e: Expr): boolean;
  /**
   * Where a node's value will go, chosen before its operands are rendered (wasm allocates the
   * local here, so locals are numbered outermost first); text targets name it in `bind`.
   */
  protected reserve(_e: Expr): V | undefined {
    return undefined;
  }
  /** Binds a rendered node to a value (`slot`: what `reserve` chose). */
  protected abstract bind(e: Expr, r: R, slot: V | undefined): V;
  /** A value used as a rendered node (the result of a `frame` node is its body's value). */
  protected abstract use(v: V): R;

  protected abstract load(e: ExprOf<"load">, ctx: C): R;
  protected abstract constant(e: ExprOf<"const">): R;
  protected abstract literal(e: ExprOf<"lit">): R;
  protected abstract frameIndex(ctx: C): R;
  protected abstract accumulator(): R;
  protected abstract unary(e: ExprOf<"un">, a: V): R;
  protected abstract binary(e: ExprOf<"bin">, a: V, b: V): R;
  protected abstract call(e: ExprOf<"call">, xs: readonly V[]): R;
  protected abstract cast(a: V, from: VType, to: VType): R;
  /** The context of a `frame` node's body: its linear index computed from the node's view. */
  protected abstract enterFrame(e: ExprOf<"frame">, ctx: C): C;

  /**
   * Emits a coordinate of frame `f` from its size (word `shapeWord`) and contiguous stride (word
   * `strideWord`): the frame index divided by the stride if `divide`, then its remainder by the
   * size if `remainder` (neither: the index itself).
   */
  protected abstract unravel(
    f: FrameCtx<V>,
    shapeWord: number,
    strideWord: number,
    divide: boolean,
    remainder: boolean,
  ): V;
  /** An index starting at word `k` (a view's offset). */
  protected abstract indexWord(k: number): R;
  /** `i + L`. */
  protected abstract indexAdd(i: R, L: V): R;
  /** `i + c * word k`. */
  protected abstract indexMulAdd(i: R, c: V, k: number): R;
}
