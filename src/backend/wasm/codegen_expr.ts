/**
 * wasm SIMD code generation for planned expressions ({@link ExprPlan}), shared by the fused
 * elementwise and reduction kernels.
 *
 * A kernel is a loop nest over the (collapsed) outer frame. One axis is vectorised 4 lanes at a
 * time (with a tail of `n % 4` lanes); the others are scalar loops. Every view over the outer
 * frame (loads, inlined `frame` views, `index`, the output) is a *cursor*: a pointer advanced
 * incrementally by its stride per loop level. Stride classes (0, 1, other) per axis are part of
 * the compiled kernel's key, so a stride-1 axis loads with `v128.load`, a broadcast axis with a
 * splat, others gather 4 lanes; and every node is computed at the outermost loop level it depends
 * on (broadcast operands and constants are hoisted). Inside `frame` nodes (inlined producers seen
 * through a view) indices are recomputed per lane with scalar division, correctness first.
 *
 * Values in registers: f32 -> f32x4, i32 -> i32x4, bool -> lane masks (all ones / zero), stored as
 * 0/1 int32. Words (shapes, strides, offsets, constants), then input and output pointers, are
 * read from a parameter block. The function is `k(params, a0, a1, outOff)`: the outermost loop
 * runs over [a0, a1) of its axis (threads split it), `outOff` is a byte offset kernels may add to
 * their output pointer.
 * @module
 */

import { type BuiltinName, type Expr, exprChildren, type VType } from "../../ir/expr.ts";
import { type ExprOf, ExprWalk, type FrameCtx, frameCtx } from "../codegen.ts";
import type { ExprPlan, ViewPlan } from "../plan.ts";
import { FnBuilder, I32, V128 } from "./emit.ts";
import * as M from "./math.ts";

/** Stride class along an axis: 0 (broadcast), 1 (unit), 2 (any other). */
export type SClass = 0 | 1 | 2;

/** Thrown for expressions the wasm generator does not handle (the reference runs them). */
export class Unsupported extends Error {}

/** A view over the outer frame. */
export interface Cursor {
  /** `mem`: byte pointer into an input/output buffer; `elem`: element index (frames, index). */
  readonly kind: "mem" | "elem";
  /** The load / frame node (null for the output or `index`). */
  readonly node: Expr | null;
  /** Plan of the view (null: the frame's own linear index, offset 0). */
  readonly plan: ViewPlan | null;
  /** Buffer: input number, -1 for the output, -2 for none. */
  readonly buffer: number;
}

/** The outer-context cursors of an expression, in a deterministic order. */
export function outerCursors(expr: Expr, plan: ExprPlan): Cursor[] {
  const out: Cursor[] = [];
  const seen = new Set<Expr>();
  let index: Cursor | null = null;
  const go = (e: Expr) => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case "load":
        out.push({ kind: "mem", node: e, plan: plan.views.get(e)!, buffer: e.input });
        return;
      case "frame":
        out.push({ kind: "elem", node: e, plan: plan.views.get(e)!, buffer: -2 });
        return;
      case "index":
        if (!index) out.push(index = { kind: "elem", node: null, plan: null, buffer: -2 });
        return;
      case "acc":
        throw new Unsupported("acc outside a matmul epilogue");
      default:
        return exprChildren(e).forEach(go);
    }
  };
  go(expr);
  return out;
}

/**
 * Runtime strides (elements) of a cursor over the outer frame of rank `rank` (0 for a virtual
 * size-1 axis when the planned frame has rank 0).
 */
export function cursorStrides(
  c: Cursor,
  plan: ExprPlan,
  words: readonly number[],
  rank: number,
  virtual: boolean,
): number[] {
  if (virtual) return [0];
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    if (c.plan && !c.plan.linear) out.push(words[c.plan.slot + 1 + d]);
    else out.push(words[plan.outer.slot + rank + d]);
  }
  return out;
}

/** Stride class of a stride. */
export function sclass(s: number): SClass {
  return s === 0 ? 0 : s === 1 ? 1 : 2;
}

/** Loop nest layout and hooks. */
export interface NestSpec {
  /** Rank of the loop nest (>= 1). */
  readonly rank: number;
  /** The planned frame had rank 0: axis 0 is a virtual axis of size 1 with no words. */
  readonly virtual: boolean;
  /** The vectorised axis. Loops run over axes 0..rank-1 in order. */
  readonly vec: number;
  /** Cursors (the caller appends its output cursor, if any). */
  readonly cursors: readonly Cursor[];
  /** Stride class of each cursor along each axis. */
  readonly classes: readonly (readonly SClass[])[];
  /** Number of input buffers (pointers follow the words). */
  readonly inputs: number;
  /** Number of plan words. */
  readonly words: number;
  /**
   * Tile the two innermost axes (vec must be the last): loops run `[..., rank-2 in blocks of
   * tile, rank-1 (vector), rank-2 within the block]`, so transposed operands are read in
   * cache- and TLB-friendly tiles. A power of two.
   */
  readonly tile?: number;
}

/** One loop level: an axis, run whole, vectorised, in blocks, or within the current block. */
export interface Level {
  readonly axis: number;
  readonly kind: "full" | "vec" | "block" | "inner";
}

/** A frame evaluated per lane: `L` is the local holding its 4 linear indices. */
type LaneCtx = FrameCtx<number>;

/** Lanes 0-1 of the first operand, then lanes 0-1 of the second. */
export const LOW_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
/** Lanes 2-3 moved to lanes 0-1. */
export const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

/**
 * Generates a loop nest evaluating an expression. Subclasses (kernels) provide the hooks:
 * `before(level)` / `after(level)` run around loop `level` (level = rank: the innermost point),
 * `inner()` at the innermost point. Values are rendered by the shared walk ({@link ExprWalk}):
 * a node pushes its instructions and is stored in a v128 local; its context is a lane frame
 * (inside `frame` nodes) or null (the outer frame, read through the loop cursors).
 */
export abstract class NestGen extends ExprWalk<number, void, LaneCtx | null> {
  readonly f: FnBuilder;
  /** Word loads, spliced in front of the body at the end. */
  private readonly pro: FnBuilder;
  private readonly wordLocals = new Map<number, number>();
  private readonly levels = new Map<Expr, number>();
  /** cur[c][level + 1]: cursor c's pointer at a loop level (level -1 at index 0). */
  private readonly cur: number[][] = [];
  private readonly cursorOf = new Map<Expr | null, number>();
  /** Stride in bytes/elements of cursor c along axis d (a local), when its class is not 0. */
  private readonly strideLocal: (number | null)[][] = [];
  /** Lane offsets (0, s, 2s, 3s) of element cursors along the vector axis. */
  private readonly laneOff: (number | null)[] = [];
  /** Whether the code being generated is the tail (n % 4 lanes) of the vector loop. */
  protected tail = false;
  /** Valid lanes in the tail (i32 local). */
  protected readonly rem: number;
  /** Lane-valid mask in the tail (v128 local). */
  protected readonly validMask: number;
  /** Current loop level being emitted (-1: prologue). */
  private level = -1;
  /** The loop levels, outermost first. */
  private readonly lv: Level[] = [];
  /** Block start (element index) of each blocked axis. */
  private readonly blockStart = new Map<number, number>();

  constructor(plan: ExprPlan, readonly spec: NestSpec, readonly root: Expr | null) {
    super(plan);
    this.f = new FnBuilder([I32, I32, I32, I32], []);
    this.pro = new FnBuilder([I32, I32, I32, I32], []);
    this.rem = this.f.local(I32);
    this.validMask = this.f.local(V128);
    spec.cursors.forEach((c, i) => {
      if (c.node || c.buffer === -2) this.cursorOf.set(c.node, i);
    });
    const R = spec.rank;
    const tiled = spec.tile !== undefined && R >= 2 && spec.vec === R - 1;
    for (let d = 0; d < (tiled ? R - 2 : R); d++) {
      this.lv.push({ axis: d, kind: d === spec.vec ? "vec" : "full" });
    }
    if (tiled) {
      this.lv.push({ axis: R - 2, kind: "block" });
      this.lv.push({ axis: R - 1, kind: "vec" });
      this.lv.push({ axis: R - 2, kind: "inner" });
    }
  }

  /** The outermost loop level: its axis and kind (the range threads split). */
  get outerLevel(): Level {
    return this.lv[0];
  }

  /** Number of loop levels (hooks get level indices; `levelCount` is the innermost point). */
  get levelCount(): number {
    return this.lv.length;
  }

  /** Local holding word `k` of the parameter block. */
  word(k: number): number {
    let l = this.wordLocals.get(k);
    if (l === undefined) {
      l = this.f.local(I32);
      this.pro.get(0).op("i32.load", k * 4).set(l);
      this.wordLocals.set(k, l);
    }
    return l;
  }

  /** Local holding the pointer of input `i` (-1: the output). */
  bufPtr(i: number): number {
    return this.word(this.spec.words + (i < 0 ? this.spec.inputs : i));
  }

  /** Pushes the size of axis d. */
  size(d: number): void {
    if (this.spec.virtual) this.f.i32(1);
    else this.f.get(this.word(this.plan.outer.slot + d));
  }

  private cls(c: number, d: number): SClass {
    return this.spec.classes[c][d];
  }

  /** Deepest loop level at which cursor c moves (-1: never). */
  private cursorLevel(c: number): number {
    for (let l = this.lv.length - 1; l >= 0; l--) if (this.cls(c, this.lv[l].axis) !== 0) return l;
    return -1;
  }

  /** Builds the function. */
  build(): FnBuilder {
    const f = this.f;
    const { spec } = this;
    // Cursor pointers at level -1 and stride locals.
    spec.cursors.forEach((c, ci) => {
      const scale = c.kind === "mem" ? 4 : 1;
      const p = f.local(I32);
      if (c.kind === "mem") f.get(this.bufPtr(c.buffer));
      else f.i32(0);
      if (c.plan) {
        f.get(this.word(c.plan.slot));
        if (scale === 4) f.i32(2).op("i32.shl");
        f.op("i32.add");
      }
      f.set(p);
      this.cur[ci] = [p];
      this.strideLocal[ci] = [];
      for (let d = 0; d < spec.rank; d++) {
        if (this.cls(ci, d) === 0) {
          this.strideLocal[ci].push(null);
          continue;
        }
        const s = f.local(I32);
        if (c.plan && !c.plan.linear) f.get(this.word(c.plan.slot + 1 + d));
        else f.get(this.word(this.plan.outer.slot + spec.rank + d));
        if (scale === 4) f.i32(2).op("i32.shl");
        f.set(s);
        this.strideLocal[ci].push(s);
      }
      // lane offsets of element cursors along the vector axis
      const cv = this.cls(ci, spec.vec);
      if (c.kind === "elem" && cv !== 0) {
        const lo = f.local(V128);
        if (cv === 1) f.v128i(0, 1, 2, 3).set(lo);
        else {
          const s = this.strideLocal[ci][spec.vec]!;
          f.v128i(0, 1, 2, 3).get(s).op("i32x4.splat").op("i32x4.mul").set(lo);
        }
        this.laneOff[ci] = lo;
      } else this.laneOff[ci] = null;
    });
    if (this.root) this.computeLevels(this.root);
    this.prologue();
    this.emitLevel(-1);
    this.loops(0);
    // Splice the word loads in front.
    f.code.unshift(...this.pro.code);
    return f;
  }

  /** Hook: extra prologue code (after cursors, before level -1 values). */
  protected prologue(): void {}
  /** Hook before loop `level` (level = rank: before the innermost point). */
  protected before(_level: number): void {}
  /** Hook after loop `level`. */
  protected after(_level: number): void {}
  /** Hook at the innermost point. */
  protected abstract inner(): void;

  private computeLevels(root: Expr): void {
    const go = (e: Expr): number => {
      const hit = this.levels.get(e);
      if (hit !== undefined) return hit;
      let l = -1;
      switch (e.k) {
        case "load":
        case "frame":
          l = this.cursorLevel(this.cursorOf.get(e)!);
          break;
        case "index":
          l = this.cursorLevel(this.cursorOf.get(null)!);
          break;
        case "const":
        case "lit":
          l = -1;
          break;
        case "acc":
          throw new Unsupported("acc");
        default:
          for (const a of exprChildren(e)) l = Math.max(l, go(a));
      }
      this.levels.set(e, l);
      return l;
    };
    go(root);
  }

  /** Emits every outer-context node of level `level` (post-order). */
  private emitLevel(level: number): void {
    this.level = level;
    if (!this.root) return;
    const done = new Set<Expr>();
    const go = (e: Expr) => {
      if (done.has(e)) return;
      done.add(e);
      if (this.levels.get(e)! < level) return;
      // a frame's body is evaluated per lane, inside the frame node
      if (e.k !== "frame") exprChildren(e).forEach(go);
      if (this.levels.get(e) === level) this.value(e, null);
    };
    go(this.root);
  }

  /** Cursor pointer local at the current level. */
  protected curPtr(c: number): number {
    const ps = this.cur[c];
    return ps[Math.min(this.level + 1, ps.length - 1)];
  }

  /** Loop level `level` and everything inside. */
  private loops(level: number): void {
    const f = this.f;
    const { spec } = this;
    this.before(level);
    if (level === this.lv.length) {
      this.level = level - 1;
      this.inner();
      this.after(level);
      return;
    }
    const { axis, kind } = this.lv[level];
    const tile = spec.tile ?? 1;
    // cursor locals of this level
    const moving: number[] = [];
    spec.cursors.forEach((_, ci) => {
      const parent = this.cur[ci][level]; // level-1 slot
      if (this.cls(ci, axis) === 0) {
        this.cur[ci][level + 1] = parent;
        return;
      }
      const p = f.local(I32);
      f.get(parent).set(p);
      this.cur[ci][level + 1] = p;
      moving.push(ci);
    });
    const i = f.local(I32);
    const n = f.local(I32);
    // The outermost level runs over [a0, a1) (params 1, 2); its axis ends at a1 for inner loops.
    const outerAxis = this.lv[0].axis;
    if (level === 0 || (kind === "inner" && axis === outerAxis)) f.get(2);
    else this.size(axis);
    f.set(n);
    if (level === 0) {
      for (const ci of moving) {
        const p = this.cur[ci][1];
        f.get(p).get(1).get(this.strideLocal[ci][axis]!).op("i32.mul").op("i32.add").set(p);
      }
    }
    if (kind === "inner") {
      // n = min(tile, n - blockStart)
      const b = this.blockStart.get(axis)!;
      f.get(n).get(b).op("i32.sub").set(n);
      f.get(n).i32(tile).op("i32.gt_s").if(() => f.i32(tile).set(n));
    }
    if (kind === "block") this.blockStart.set(axis, i);
    if (level === 0) f.get(1).set(i);
    else f.i32(0).set(i);
    const advance = (shift: number) => {
      for (const ci of moving) {
        const p = this.cur[ci][level + 1];
        f.get(p).get(this.strideLocal[ci][axis]!);
        if (shift) f.i32(shift).op("i32.shl");
        f.op("i32.add").set(p);
      }
    };
    const body = () => {
      this.emitLevel(level);
      this.loops(level + 1);
    };
    if (kind !== "vec") {
      const step = kind === "block" ? tile : 1;
      f.block(() => {
        f.loop(() => {
          f.get(i).get(n).op("i32.ge_s").op("br_if", 1);
          body();
          f.get(i).i32(step).op("i32.add").set(i);
          advance(Math.log2(step));
          f.op("br", 0);
        });
      });
    } else {
      const snapshot = new Map(this.memo);
      f.block(() => {
        f.loop(() => {
          f.get(n).get(i).op("i32.sub").i32(4).op("i32.lt_s").op("br_if", 1);
          this.tail = false;
          body();
          f.get(i).i32(4).op("i32.add").set(i);
          advance(2);
          f.op("br", 0);
        });
      });
      this.memo = new Map(snapshot);
      f.get(i).get(n).op("i32.lt_s").if(() => {
        f.get(n).get(i).op("i32.sub").set(this.rem);
        f.v128i(0, 1, 2, 3).get(this.rem).op("i32x4.splat").op("i32x4.lt_s").set(this.validMask);
        this.tail = true;
        body();
        this.tail = false;
      });
      this.memo = snapshot;
    }
    this.level = level - 1;
    this.after(level);
  }

  // -------------------------------------------------------------------------------------------
  // Values
  // -------------------------------------------------------------------------------------------

  protected inline(_e: Expr): boolean {
    return false;
  }

  protected override reserve(_e: Expr): number {
    return this.f.local(V128);
  }

  protected bind(_e: Expr, _r: void, out: number | undefined): number {
    this.f.set(out!);
    return out!;
  }

  protected use(v: number): void {
    this.f.get(v);
  }

  protected load(e: ExprOf<"load">, ctx: LaneCtx | null): void {
    if (ctx) {
      this.viewIndex(ctx, this.plan.views.get(e)!);
      this.gather(this.bufPtr(e.input));
    } else this.outerLoad(this.cursorOf.get(e)!);
    if (e.t === "bool") this.f.v128i(0).op("i32x4.ne");
  }

  protected constant(e: ExprOf<"const">): void {
    this.f.get(this.word(this.plan.constBase + e.slot)).op("i32x4.splat");
    if (e.t === "bool") this.f.v128i(0).op("i32x4.ne");
  }

  protected literal(e: ExprOf<"lit">): void {
    if (e.t === "f32") this.f.v128f(e.v);
    else if (e.t === "i32") this.f.v128i(Math.trunc(e.v));
    else this.f.v128i(e.v !== 0 ? -1 : 0);
  }

  protected frameIndex(ctx: LaneCtx | null): void {
    if (ctx) this.f.get(ctx.L);
    else this.elemLanes(this.cursorOf.get(null)!);
  }

  protected accumulator(): void {
    throw new Unsupported("acc");
  }

  protected enterFrame(e: ExprOf<"frame">, ctx: LaneCtx | null): LaneCtx {
    const f = this.f;
    const L = f.local(V128);
    if (ctx) this.viewIndex(ctx, this.plan.views.get(e)!);
    else this.elemLanes(this.cursorOf.get(e)!);
    f.set(L);
    return frameCtx(L, this.plan.frames.get(e)!);
  }

  protected unary(e: ExprOf<"un">, a: number): void {
    this.f.get(a);
    if (e.op === "!") this.f.op("v128.not");
    else this.f.op(e.t === "f32" ? "f32x4.neg" : "i32x4.neg");
  }

  protected cast(a: number, from: VType, to: VType): void {
    this.f.get(a);
    castOp(this.f, from, to);
  }

  protected binary(e: ExprOf<"bin">, a: number, b: number): void {
    this.f.get(a).get(b);
    binOp(this.f, e.op, e.a.t);
  }

  protected call(e: ExprOf<"call">, xs: readonly number[]): void {
    const f = this.f;
    if ((e.fn === "min" || e.fn === "max") && e.t === "f32") {
      // Against a literal, pmin/pmax (one instruction) give Math.min/max's result:
      // NaN stays NaN (it is the first operand) and only a zero literal needs care.
      const li = e.args.findIndex((x) => x.k === "lit");
      const lit = li >= 0 ? (e.args[li] as { v: number }).v : NaN;
      if (li >= 0 && !Number.isNaN(lit) && !Object.is(lit, -0)) {
        f.get(xs[1 - li]).get(xs[li]).op(e.fn === "min" ? "f32x4.pmin" : "f32x4.pmax");
        // max(-0, 0) is +0: adding +0 turns the -0 that pmax keeps into +0
        if (lit === 0 && e.fn === "max") f.v128i(0).op("f32x4.add");
        return;
      }
    }
    callOp(f, e.fn, e.t, xs);
  }

  /** Pushes the lanes of an element cursor at the current position (tail lanes clamped). */
  private elemLanes(ci: number): void {
    const f = this.f;
    const p = this.curPtr(ci);
    const lo = this.laneOff[ci];
    f.get(p).op("i32x4.splat");
    if (lo === null) return;
    f.get(lo).op("i32x4.add");
    if (this.tail) {
      f.get(p).op("i32x4.splat").get(this.validMask).op("v128.bitselect");
    }
  }

  /** Pushes the 4 lanes of a memory cursor (a load) at the current position. */
  private outerLoad(ci: number): void {
    const f = this.f;
    const p = this.curPtr(ci);
    const cv = this.cls(ci, this.spec.vec);
    if (cv === 0) {
      f.get(p).op("v128.load32_splat", 0, 2);
      return;
    }
    if (cv === 1) {
      f.get(p).op("v128.load", 0, 2);
      return;
    }
    const s = this.strideLocal[ci][this.spec.vec]!;
    const v = M.vtmp(f);
    f.get(p).op("v128.load32_zero", 0, 2).set(v);
    for (let l = 1; l < 4; l++) {
      this.laneAddr(p, s, l);
      f.get(v).op("v128.load32_lane", l).set(v);
    }
    f.get(v);
    M.vfree(f, v);
  }

  /** Pushes the byte address of lane l (clamped to lane 0 beyond the tail). */
  protected laneAddr(p: number, strideBytes: number, l: number): void {
    const f = this.f;
    f.get(p).get(strideBytes).i32(l).op("i32.mul").op("i32.add");
    if (this.tail) f.get(p).get(this.rem).i32(l).op("i32.gt_s").op("select");
  }

  /** Stores the v128 in local `v` through memory cursor `ci` (tail: valid lanes only). */
  protected store(ci: number, v: number): void {
    const f = this.f;
    const p = this.curPtr(ci);
    const cv = this.cls(ci, this.spec.vec);
    if (cv === 1 && !this.tail) {
      f.get(p).get(v).op("v128.store", 0, 2);
      return;
    }
    const s = cv === 0 ? null : this.strideLocal[ci][this.spec.vec]!;
    for (let l = 0; l < (s === null ? 1 : 4); l++) {
      const emit = () => {
        if (l === 0 || s === null) f.get(p);
        else f.get(p).get(s).i32(l).op("i32.mul").op("i32.add");
        f.get(v).op("v128.store32_lane", l);
      };
      if (l > 0 && this.tail) f.get(this.rem).i32(l).op("i32.gt_s").if(emit);
      else emit();
    }
  }

  /** Gathers 4 f32/i32 from `ptr + 4 * idx[l]` with the i32x4 indices on the stack. */
  private gather(ptr: number): void {
    const f = this.f;
    const idx = M.vtmp(f), v = M.vtmp(f);
    f.set(idx);
    f.get(ptr).get(idx).op("i32x4.extract_lane", 0).i32(2).op("i32.shl").op("i32.add");
    f.op("v128.load32_zero", 0, 2).set(v);
    for (let l = 1; l < 4; l++) {
      f.get(ptr).get(idx).op("i32x4.extract_lane", l).i32(2).op("i32.shl").op("i32.add");
      f.get(v).op("v128.load32_lane", l).set(v);
    }
    f.get(v);
    M.vfree(f, idx, v);
  }

  protected indexWord(k: number): void {
    this.f.get(this.word(k)).op("i32x4.splat");
  }

  protected indexAdd(_i: void, L: number): void {
    this.f.get(L).op("i32x4.add");
  }

  protected indexMulAdd(_i: void, c: number, k: number): void {
    this.f.get(c).get(this.word(k)).op("i32x4.splat");
    this.f.op("i32x4.mul").op("i32x4.add");
  }

  /** A coordinate of the lanes of a frame (scalar division per lane). */
  protected unravel(
    ctx: LaneCtx,
    shapeWord: number,
    strideWord: number,
    divide: boolean,
    remainder: boolean,
  ): number {
    if (!divide && !remainder) return ctx.L;
    const f = this.f;
    const c = f.local(V128);
    const shape = this.word(shapeWord), stride = this.word(strideWord);
    f.v128i(0).set(c);
    for (let l = 0; l < 4; l++) {
      f.get(c);
      f.get(ctx.L).op("i32x4.extract_lane", l);
      if (divide) f.get(stride).op("i32.div_u");
      if (remainder) f.get(shape).op("i32.rem_u");
      f.op("i32x4.replace_lane", l).set(c);
    }
    return c;
  }
}

/** Converts the v128 on the stack from type `from` to `to`. */
export function castOp(f: FnBuilder, from: VType, to: VType): void {
  if (from === to) return;
  if (to === "bool") {
    if (from === "f32") f.v128f(0).op("f32x4.ne");
    else f.v128i(0).op("i32x4.ne");
    return;
  }
  if (from === "bool") {
    if (to === "f32") f.v128f(1).op("v128.and");
    else f.op("i32x4.neg");
    return;
  }
  f.op(to === "f32" ? "f32x4.convert_i32x4_s" : "i32x4.trunc_sat_f32x4_s");
}

const F_BIN: Record<string, string> = {
  "+": "f32x4.add",
  "-": "f32x4.sub",
  "*": "f32x4.mul",
  "/": "f32x4.div",
  "<": "f32x4.lt",
  "<=": "f32x4.le",
  ">": "f32x4.gt",
  ">=": "f32x4.ge",
  "==": "f32x4.eq",
  "!=": "f32x4.ne",
};

const I_BIN: Record<string, string> = {
  "+": "i32x4.add",
  "-": "i32x4.sub",
  "*": "i32x4.mul",
  "<": "i32x4.lt_s",
  "<=": "i32x4.le_s",
  ">": "i32x4.gt_s",
  ">=": "i32x4.ge_s",
  "==": "i32x4.eq",
  "!=": "i32x4.ne",
  "&&": "v128.and",
  "||": "v128.or",
};

/** Binary operator on the two v128 on the stack (operands of type `t`). */
export function binOp(f: FnBuilder, op: string, t: VType): void {
  const name = t === "f32" ? F_BIN[op] : I_BIN[op];
  if (!name) throw new Unsupported(`binary ${op} on ${t}`);
  f.op(name);
}

/** A built-in function on locals `xs` of type `t`; leaves the result on the stack. */
type WasmBuiltin = (f: FnBuilder, t: VType, xs: readonly number[]) => void;

/** The op language's built-in functions in wasm SIMD (transcendentals from math.ts). */
const WASM_BUILTINS: Record<BuiltinName, WasmBuiltin> = {
  exp: (f, _t, xs) => M.exp(f, xs[0]),
  log: (f, _t, xs) => M.log(f, xs[0]),
  sqrt: (f, _t, xs) => void f.get(xs[0]).op("f32x4.sqrt"),
  abs: (f, t, xs) => void f.get(xs[0]).op(t === "f32" ? "f32x4.abs" : "i32x4.abs"),
  sign: (f, t, xs) => {
    if (t === "f32") {
      // copysign(1, x) where x != 0 and not NaN; x itself otherwise (±0, NaN)
      f.get(xs[0]).v128i(-0x80000000).op("v128.and").v128f(1).op("v128.or");
      f.get(xs[0]);
      f.get(xs[0]).v128f(0).op("f32x4.lt").get(xs[0]).v128f(0).op("f32x4.gt").op("v128.or");
      f.op("v128.bitselect");
    } else {
      f.get(xs[0]).v128i(0).op("i32x4.lt_s").get(xs[0]).v128i(0).op("i32x4.gt_s");
      f.op("i32x4.sub");
    }
  },
  floor: (f, _t, xs) => void f.get(xs[0]).op("f32x4.floor"),
  ceil: (f, _t, xs) => void f.get(xs[0]).op("f32x4.ceil"),
  round: (f, _t, xs) => void f.get(xs[0]).op("f32x4.nearest"),
  tanh: (f, _t, xs) => M.tanh(f, xs[0]),
  sin: (f, _t, xs) => M.sincos(f, xs[0], false),
  cos: (f, _t, xs) => M.sincos(f, xs[0], true),
  min: (f, t, xs) => void f.get(xs[0]).get(xs[1]).op(t === "f32" ? "f32x4.min" : "i32x4.min_s"),
  max: (f, t, xs) => void f.get(xs[0]).get(xs[1]).op(t === "f32" ? "f32x4.max" : "i32x4.max_s"),
  pow: (f, _t, xs) => M.pow(f, xs[0], xs[1]),
  where: (f, _t, xs) => void f.get(xs[1]).get(xs[2]).get(xs[0]).op("v128.bitselect"),
};

/** Built-in function on locals `xs`; leaves the result on the stack. */
export function callOp(f: FnBuilder, fn: BuiltinName, t: VType, xs: readonly number[]): void {
  WASM_BUILTINS[fn](f, t, xs);
}
