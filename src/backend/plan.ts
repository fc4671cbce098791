/**
 * Planning shared by every code generator (WGSL, JavaScript, wasm): dimension collapsing of a
 * kernel's outer frame, and the layout of its integer parameters ("words": shapes, strides,
 * offsets, constants). Generated code depends only on the plan's `key`; shapes live in words,
 * so one compiled kernel serves every shape of the same structure.
 * @module
 */

import type { Expr } from "../ir/expr.ts";
import { contiguousStrides, type Shape, type View } from "../ir/view.ts";

/** How a load or frame view is indexed. */
export interface ViewPlan {
  /** Word index of the element offset; strides follow at `slot + 1 ..`. */
  readonly slot: number;
  /** Rank of the frame the view is indexed from. */
  readonly rank: number;
  /** `true` when the view reads the frame in order (`index = offset + L`). */
  readonly linear: boolean;
}

/** A frame: a shape with a linear index, unravelled into coordinates on demand. */
export interface FramePlan {
  /** Word index of the frame's shape; contiguous strides follow at `slot + rank`. */
  readonly slot: number;
  readonly rank: number;
}

/** Result of planning one expression. */
export interface ExprPlan {
  /** Structural key: equal keys generate identical code. */
  readonly key: string;
  /** Parameter words (u32 bit patterns; float constants as their f32 bits). */
  readonly words: number[];
  /** Plan of each load (by node) and of each frame node's view. */
  readonly views: Map<Expr, ViewPlan>;
  /** Plan of each frame node's inner shape. */
  readonly frames: Map<Expr, FramePlan>;
  /** Plan of the outer frame (the kernel's index space). */
  readonly outer: FramePlan;
  /** Word index where constants start (constant `slot` s is word `constBase + s`). */
  readonly constBase: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The u32 bit pattern of a float32 value. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

function isLinear(v: View, frame: Shape): boolean {
  const cs = contiguousStrides(frame);
  for (let d = 0; d < frame.length; d++) {
    if (frame[d] !== 1 && v.strides[d] !== cs[d]) return false;
  }
  return true;
}

/**
 * Plans an expression evaluated over the outer frame `outer`. `extra` are additional views over
 * the outer frame (e.g. a strided output) that get planned first, in order.
 */
export function planExpr(
  expr: Expr,
  outer: Shape,
  consts: readonly number[],
  extra: readonly View[] = [],
): ExprPlan & { extra: ViewPlan[] } {
  const words: number[] = [];
  const views = new Map<Expr, ViewPlan>();
  const frames = new Map<Expr, FramePlan>();
  const key: string[] = [];
  const pushFrame = (shape: Shape): FramePlan => {
    const slot = words.length;
    for (const s of shape) words.push(s);
    // contiguous strides for unravelling (size-1 axes get their true stride, never used)
    let acc = 1;
    const full = new Array<number>(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      full[d] = acc;
      acc *= shape[d];
    }
    for (const s of full) words.push(s);
    return { slot, rank: shape.length };
  };
  const pushView = (v: View, frame: Shape): ViewPlan => {
    const slot = words.length;
    const linear = isLinear(v, frame);
    words.push(v.offset);
    if (!linear) { for (const s of v.strides) words.push(s); }
    return { slot, rank: frame.length, linear };
  };
  const outerPlan = pushFrame(outer);
  key.push(`o${outer.length}`);
  const extraPlans = extra.map((v) => {
    const p = pushView(v, outer);
    key.push(p.linear ? "xl" : `x${p.rank}`);
    return p;
  });
  // Constants: one word each (value bits); the builder stored [value, typeTag] pairs.
  const constBase = words.length;
  for (let i = 0; i < consts.length; i += 2) {
    words.push(consts[i + 1] === 0 ? f32Bits(consts[i]) : consts[i] | 0);
  }
  // Shared subexpressions are keyed by the visit number of their first occurrence, so that
  // min(a, c) * c and min(a, c) * a get different keys.
  const seen = new Map<Expr, number>();
  const walk = (e: Expr, frame: Shape) => {
    const id = seen.get(e);
    if (id !== undefined) {
      key.push(`^${id}`);
      return;
    }
    seen.set(e, seen.size);
    switch (e.k) {
      case "load": {
        const p = pushView(e.view, frame);
        views.set(e, p);
        key.push(`L${e.input}${e.t}${p.linear ? "l" : p.rank}`);
        return;
      }
      case "const":
        key.push(`C${e.slot}${e.t}`);
        return;
      case "lit":
        key.push(`#${e.v}${e.t}`);
        return;
      case "index":
        key.push("I");
        return;
      case "acc":
        key.push("A");
        return;
      case "un":
      case "cast":
        key.push(e.k === "un" ? `u${e.op}${e.t}(` : `c${e.t}(`);
        walk(e.a, frame);
        key.push(")");
        return;
      case "bin":
        key.push(`b${e.op}${e.t}(`);
        walk(e.a, frame);
        walk(e.b, frame);
        key.push(")");
        return;
      case "call":
        key.push(`f${e.fn}${e.t}(`);
        for (const a of e.args) walk(a, frame);
        key.push(")");
        return;
      case "frame": {
        const vp = pushView(e.view, frame);
        views.set(e, vp);
        const fp = pushFrame(e.shape);
        frames.set(e, fp);
        key.push(`F${vp.linear ? "l" : vp.rank}/${fp.rank}(`);
        walk(e.body, e.shape);
        key.push(")");
        return;
      }
    }
  };
  walk(expr, outer);
  return {
    key: key.join(""),
    words,
    views,
    frames,
    outer: outerPlan,
    constBase,
    extra: extraPlans,
  };
}

/**
 * Collapses adjacent axes of an outer frame wherever every view over it (loads in the outer
 * frame, frame-node views, `extra` views) is mergeable, and drops size-1 axes. Returns the new
 * frame, the rewritten expression and extra views. Reduce kernels pass `split` (the index of the
 * first reduced axis) so keep and reduced axes are never merged across.
 */
export function collapseFrame(
  shape: Shape,
  expr: Expr,
  extra: readonly View[] = [],
  split = -1,
): { shape: number[]; expr: Expr; extra: View[] } {
  const views: View[] = [...extra];
  const seen = new Set<Expr>();
  const collect = (e: Expr) => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case "load":
        views.push(e.view);
        return;
      case "frame":
        views.push(e.view);
        return; // inner frames index their own shapes
      case "un":
      case "cast":
        collect(e.a);
        return;
      case "bin":
        collect(e.a);
        collect(e.b);
        return;
      case "call":
        e.args.forEach(collect);
        return;
    }
  };
  collect(expr);
  // The frame's linear index is unchanged by collapsing, so `index` nodes need no care.
  // Groups of original axes; axis groups are merged left to right.
  const groups: number[][] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = groups[groups.length - 1];
    if (last && !(split >= 0 && last[last.length - 1] < split && d >= split)) {
      const p = last[last.length - 1];
      // p and d are adjacent non-unit axes (unit axes between them are dropped)
      if (views.every((v) => v.strides[p] === v.strides[d] * shape[d])) {
        last.push(d);
        continue;
      }
    }
    groups.push([d]);
  }
  const newShape = groups.map((g) => g.reduce((a, d) => a * shape[d], 1));
  if (newShape.length === shape.length) return { shape: [...shape], expr, extra: [...extra] };
  const mapView = (v: View): View => ({
    shape: newShape,
    strides: groups.map((g) => v.strides[g[g.length - 1]]),
    offset: v.offset,
  });
  const rewritten = new Map<Expr, Expr>();
  const rw = (e: Expr): Expr => {
    const hit = rewritten.get(e);
    if (hit) return hit;
    let out: Expr;
    switch (e.k) {
      case "load":
        out = { ...e, view: mapView(e.view) };
        break;
      case "frame":
        out = { ...e, view: mapView(e.view) };
        break;
      case "un":
        out = { ...e, a: rw(e.a) };
        break;
      case "cast":
        out = { ...e, a: rw(e.a) };
        break;
      case "bin":
        out = { ...e, a: rw(e.a), b: rw(e.b) };
        break;
      case "call":
        out = { ...e, args: e.args.map(rw) };
        break;
      default:
        out = e;
    }
    rewritten.set(e, out);
    return out;
  };
  return { shape: newShape, expr: rw(expr), extra: extra.map(mapView) };
}
