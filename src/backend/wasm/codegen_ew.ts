/**
 * Fused elementwise and reduction kernels as generated wasm (see codegen_expr.ts for the loop
 * nest). One compiled function per structural key: the plan key (shapes live in words) plus the
 * stride classes of every view, the reduction layout and the types.
 * @module
 */

import { BUILTINS, type Expr, type VType, walkExpr } from "../../ir/expr.ts";
import { numel, type Shape } from "../../ir/view.ts";
import { collapseFrame, type ExprPlan, planExpr } from "../plan.ts";
import type { EwKernel, ReduceKernel } from "../types.ts";
import { type FnBuilder, I32, V128 } from "./emit.ts";
import {
  type Cursor,
  cursorStrides,
  HIGH,
  LOW_LOW,
  NestGen,
  type NestSpec,
  outerCursors,
  sclass,
} from "./codegen_expr.ts";

/** A planned kernel ready to compile/run: its key, the words and how to build it. */
export interface Prepared {
  readonly key: string;
  readonly words: number[];
  readonly build: () => FnBuilder;
  /** Size of the outermost loop's axis (the range [0, outer) threads split). */
  readonly outer: number;
  /** Split points of the outer range must be multiples of this (vector width, tile). */
  readonly unit: number;
  /** Estimated cost: frame elements x (1 + 8 per transcendental/division in the expression). */
  readonly work: number;
  /** Output elements per step of the outer range (reductions), 0: no output offset needed. */
  readonly outStride: number;
  /** Whether the outer range may be split over threads. */
  readonly splittable: boolean;
}

function specOf(
  plan: ExprPlan,
  expr: Expr,
  shape: Shape,
  words: number[],
  inputs: number,
  out: Cursor | null,
): { spec: Omit<NestSpec, "vec">; classKey: string } {
  const virtual = shape.length === 0;
  const rank = virtual ? 1 : shape.length;
  const cursors = outerCursors(expr, plan);
  if (out) cursors.push(out);
  const classes = cursors.map((c) => cursorStrides(c, plan, words, rank, virtual).map(sclass));
  return {
    spec: { rank, virtual, cursors, classes, inputs, words: words.length },
    classKey: classes.map((c) => c.join("")).join("."),
  };
}

/** Per-element weight of an expression: 1 + 8 per transcendental function or division. */
function weight(expr: Expr): number {
  let w = 1;
  walkExpr(expr, (e) => {
    if (e.k === "bin" && e.op === "/") w += 8;
    else if (e.k === "call") w += BUILTINS[e.fn].cost;
    else if (e.k === "frame") w += 4; // per-lane index arithmetic
  });
  return w;
}

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

class EwGen extends NestGen {
  constructor(plan: ExprPlan, spec: NestSpec, root: Expr, private readonly outCursor: number) {
    super(plan, spec, root);
  }

  protected inner(): void {
    const f = this.f;
    const root = this.root!;
    let v = this.value(root, null);
    if (root.t === "bool") {
      const t = f.local(V128);
      f.get(v).op("i32x4.neg").set(t);
      v = t;
    }
    this.store(this.outCursor, v);
  }
}

/** Rows per tile when the last two axes are tiled. */
const EW_TILE = 8;

/** Plans an elementwise kernel (null when there is nothing to do). */
export function prepareEw(k: EwKernel): Prepared | null {
  const c = collapseFrame(k.out.view.shape, k.expr, [k.out.view]);
  const plan = planExpr(c.expr, c.shape, k.consts, c.extra);
  if (numel(c.shape) === 0) return null;
  const out: Cursor = { kind: "mem", node: null, plan: plan.extra[0], buffer: -1 };
  const { spec, classKey } = specOf(plan, c.expr, c.shape, plan.words, k.inputs.length, out);
  const R = spec.rank;
  // Gathers along the vector axis (transposed operands or output): tile the last two axes.
  const gathers = R >= 2 && spec.classes.some((c) => c[R - 1] === 2 && c[R - 2] !== 0);
  const full: NestSpec = { ...spec, vec: R - 1, tile: gathers ? EW_TILE : undefined };
  const unit = R === 1 ? 4 : gathers && R === 2 ? EW_TILE : 1;
  return {
    outer: spec.virtual ? 1 : c.shape[0],
    unit,
    work: numel(c.shape) * weight(c.expr),
    outStride: 0,
    splittable: true,
    key: `ew|${plan.key}|${classKey}|${k.inputs.length}|` +
      `${plan.words.length}|${gathers}`,
    words: plan.words,
    build: () => new EwGen(plan, full, c.expr, full.cursors.length - 1).build(),
  };
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

type RedOp = ReduceKernel["op"];

class ReduceGen extends NestGen {
  private readonly outPtr: number;
  private readonly acc: number[] = [];
  private readonly idx: number;
  private readonly rcount: number;
  private readonly t: VType;

  constructor(
    plan: ExprPlan,
    spec: NestSpec,
    root: Expr,
    private readonly op: RedOp,
    /** Kept axes (the reduced ones follow). */
    private readonly kept: number,
    /** Vectorised along the innermost reduced axis (else along the last kept axis). */
    private readonly modeA: boolean,
  ) {
    super(plan, spec, root);
    const f = this.f;
    this.t = root.t === "bool" ? "i32" : root.t;
    this.outPtr = f.local(I32);
    this.idx = f.local(V128);
    this.rcount = f.local(I32);
    for (let i = 0; i < 2; i++) this.acc.push(f.local(V128));
  }

  private get f64(): boolean {
    return this.t === "f32" && (this.op === "sum" || this.op === "prod");
  }

  private get arg(): boolean {
    return this.op === "argmax" || this.op === "argmin";
  }

  protected override prologue(): void {
    this.f.get(this.bufPtr(-1)).get(3).op("i32.add").set(this.outPtr);
  }

  /** Identity of the reduction as a v128 const (f32x4 or i32x4 lanes). */
  private identity(): void {
    const f = this.f;
    const isF = this.t === "f32";
    switch (this.op) {
      case "sum":
        if (isF) f.v128f(0);
        else f.v128i(0);
        return;
      case "prod":
        if (isF) f.v128f(1);
        else f.v128i(1);
        return;
      case "max":
      case "argmax":
        if (isF) f.v128f(-Infinity);
        else f.v128i(-0x80000000);
        return;
      default:
        if (isF) f.v128f(Infinity);
        else f.v128i(0x7fffffff);
    }
  }

  protected override before(level: number): void {
    if (level !== this.kept) return;
    const f = this.f;
    if (this.f64) {
      f.v128d(this.op === "sum" ? 0 : 1).set(this.acc[0]);
      f.v128d(this.op === "sum" ? 0 : 1).set(this.acc[1]);
    } else {
      this.identity();
      f.set(this.acc[0]);
      f.v128i(0).set(this.acc[1]); // NaN lanes of max/min
    }
    if (this.arg) {
      // Each lane starts at its first element (value = the identity): a lane whose elements
      // all equal the identity keeps that index, and ties resolve to the smallest index.
      if (this.modeA) f.v128i(0, 1, 2, 3).set(this.idx);
      else f.v128i(0).set(this.idx);
      f.i32(0).set(this.rcount);
    }
  }

  protected inner(): void {
    const f = this.f;
    const root = this.root!;
    const v = f.local(V128);
    f.get(this.value(root, null));
    if (root.t === "bool") f.op("i32x4.neg");
    f.set(v);
    const masked = this.modeA && this.tail;
    const isF = this.t === "f32";
    if (this.arg) {
      const upd = f.local(V128);
      const max = this.op === "argmax";
      f.get(v).get(this.acc[0]).op(
        isF ? (max ? "f32x4.gt" : "f32x4.lt") : (max ? "i32x4.gt_s" : "i32x4.lt_s"),
      );
      if (isF) {
        f.get(v).get(v).op("f32x4.ne").get(this.acc[0]).get(this.acc[0]).op("f32x4.eq");
        f.op("v128.and").op("v128.or");
      }
      if (masked) f.get(this.validMask).op("v128.and");
      f.set(upd);
      f.get(v).get(this.acc[0]).get(upd).op("v128.bitselect").set(this.acc[0]);
      f.get(this.rcount).op("i32x4.splat");
      if (this.modeA) f.v128i(0, 1, 2, 3).op("i32x4.add");
      f.get(this.idx).get(upd).op("v128.bitselect").set(this.idx);
      f.get(this.rcount);
      if (!this.modeA) f.i32(1);
      else if (this.tail) f.get(this.rem);
      else f.i32(4);
      f.op("i32.add").set(this.rcount);
      return;
    }
    if (masked) {
      f.get(v);
      this.identity();
      f.get(this.validMask).op("v128.bitselect").set(v);
    }
    if (this.f64) {
      const o = this.op === "sum" ? "f64x2.add" : "f64x2.mul";
      f.get(this.acc[0]).get(v).op("f64x2.promote_low_f32x4").op(o).set(this.acc[0]);
      f.get(this.acc[1]).get(v).get(v).shuffle(HIGH).op("f64x2.promote_low_f32x4").op(o);
      f.set(this.acc[1]);
      return;
    }
    if (isF) {
      // pmax/pmin are single instructions (f32x4.max is not) but skip NaN: track it apart.
      f.get(this.acc[0]).get(v).op(this.op === "max" ? "f32x4.pmax" : "f32x4.pmin");
      f.set(this.acc[0]);
      f.get(this.acc[1]).get(v).get(v).op("f32x4.ne").op("v128.or").set(this.acc[1]);
      return;
    }
    const name = this.op === "sum"
      ? "i32x4.add"
      : this.op === "prod"
      ? "i32x4.mul"
      : `i32x4.${this.op}_s`;
    f.get(this.acc[0]).get(v).op(name).set(this.acc[0]);
  }

  protected override after(level: number): void {
    if (level !== this.kept) return;
    const f = this.f;
    const isF = this.t === "f32";
    if (this.modeA) {
      // horizontal combine -> one output
      f.get(this.outPtr);
      if (this.arg) this.combineArg();
      else if (this.f64) {
        const o = this.op === "sum" ? "f64x2.add" : "f64x2.mul";
        const s = f.local(V128);
        f.get(this.acc[0]).get(this.acc[1]).op(o).set(s);
        f.get(s).op("f64x2.extract_lane", 0).get(s).op("f64x2.extract_lane", 1);
        f.op(this.op === "sum" ? "f64.add" : "f64.mul").op("f32.demote_f64");
      } else {
        const a = this.acc[0];
        const ext = isF ? "f32x4.extract_lane" : "i32x4.extract_lane";
        if (isF) {
          const o = `f32.${this.op}`;
          f.f32(NaN);
          f.get(a).op(ext, 0).get(a).op(ext, 1).op(o).get(a).op(ext, 2).get(a).op(ext, 3).op(o);
          f.op(o);
          f.get(this.acc[1]).op("v128.any_true").op("select");
        } else if (this.op === "sum" || this.op === "prod") {
          const o = this.op === "sum" ? "i32.add" : "i32.mul";
          f.get(a).op(ext, 0).get(a).op(ext, 1).op(o).get(a).op(ext, 2).op(o).get(a).op(ext, 3);
          f.op(o);
        } else {
          const r = f.local(I32), x = f.local(I32);
          f.get(a).op(ext, 0).set(r);
          for (let l = 1; l < 4; l++) {
            f.get(a).op(ext, l).set(x);
            f.get(x).get(r).get(x).get(r).op(this.op === "max" ? "i32.gt_s" : "i32.lt_s");
            f.op("select").set(r);
          }
          f.get(r);
        }
      }
      f.op(this.arg || !isF ? "i32.store" : "f32.store");
      f.get(this.outPtr).i32(4).op("i32.add").set(this.outPtr);
      return;
    }
    // Mode B: the 4 lanes are 4 outputs.
    const r = f.local(V128);
    if (this.arg) f.get(this.idx).set(r);
    else if (this.f64) {
      f.get(this.acc[0]).op("f32x4.demote_f64x2_zero").get(this.acc[1]);
      f.op("f32x4.demote_f64x2_zero").shuffle(LOW_LOW).set(r);
    } else if (isF) {
      f.v128f(NaN).get(this.acc[0]).get(this.acc[1]).op("v128.bitselect").set(r);
    } else f.get(this.acc[0]).set(r);
    if (!this.tail) {
      f.get(this.outPtr).get(r).op("v128.store", 0, 2);
      f.get(this.outPtr).i32(16).op("i32.add").set(this.outPtr);
    } else {
      for (let l = 0; l < 4; l++) {
        const st = () => f.get(this.outPtr).get(r).op("v128.store32_lane", l, l * 4);
        if (l === 0) st();
        else f.get(this.rem).i32(l).op("i32.gt_s").if(st);
      }
      f.get(this.outPtr).get(this.rem).i32(2).op("i32.shl").op("i32.add").set(this.outPtr);
    }
  }

  /** Pushes the winning index over the 4 lanes (first NaN, else first extreme value). */
  private combineArg(): void {
    const f = this.f;
    const isF = this.t === "f32";
    const T = isF ? 0x7d : I32;
    const ext = isF ? "f32x4.extract_lane" : "i32x4.extract_lane";
    const b = f.local(T), x = f.local(T), bi = f.local(I32), i = f.local(I32);
    const max = this.op === "argmax";
    f.get(this.acc[0]).op(ext, 0).set(b);
    f.get(this.idx).op("i32x4.extract_lane", 0).set(bi);
    for (let l = 1; l < 4; l++) {
      f.get(this.acc[0]).op(ext, l).set(x);
      f.get(this.idx).op("i32x4.extract_lane", l).set(i);
      // better = x beats b (strictly), or ties with a smaller index
      const cmp = isF ? (max ? "f32.gt" : "f32.lt") : (max ? "i32.gt_s" : "i32.lt_s");
      const eq = isF ? "f32.eq" : "i32.eq";
      f.get(x).get(b).op(cmp);
      f.get(x).get(b).op(eq).get(i).get(bi).op("i32.lt_s").op("i32.and").op("i32.or");
      if (isF) {
        // not NaN b required for a numeric win; a NaN x wins over a numeric b or a later NaN
        f.get(b).get(b).op("f32.eq").op("i32.and");
        f.get(x).get(x).op("f32.ne");
        f.get(b).get(b).op("f32.eq").get(i).get(bi).op("i32.lt_s").op("i32.or").op("i32.and");
        f.op("i32.or");
      }
      f.get(bi).i32(-1).op("i32.eq").op("i32.or");
      f.get(i).i32(-1).op("i32.ne").op("i32.and");
      f.if(() => {
        f.get(x).set(b);
        f.get(i).set(bi);
      });
    }
    f.get(bi);
  }
}

const ORDER_FREE = new Set<RedOp>(["max", "min", "argmax", "argmin"]);

/** Plans a reduction (null when there is nothing to do or reduceSize is 0). */
export function prepareReduce(k: ReduceKernel): Prepared | null {
  if (k.outSize === 0 || k.reduceSize === 0) return null;
  // First reduced axis of the frame: the shortest suffix with product reduceSize.
  let split = k.frame.length, prod = 1;
  while (split > 0 && prod < k.reduceSize) prod *= k.frame[--split];
  const c = collapseFrame(k.frame, k.expr, [], split);
  const plan = planExpr(c.expr, c.shape, k.consts);
  const shape = c.shape;
  // reduced axes of the collapsed frame: the suffix with product reduceSize
  let kept = shape.length, p = 1;
  while (kept > 0 && p < k.reduceSize) p *= shape[--kept];
  const { spec, classKey } = specOf(plan, c.expr, shape, plan.words, k.inputs.length, null);
  const rank = spec.rank;
  if (shape.length === 0) kept = 1; // virtual axis: one output, nothing reduced
  const red = rank - kept;
  let modeA: boolean;
  if (red === 0) modeA = false;
  else if (kept === 0) modeA = true;
  else {
    const gathers = (d: number) =>
      spec.cursors.filter((cu, i) => cu.kind === "mem" && spec.classes[i][d] === 2).length;
    const gA = gathers(rank - 1), gB = gathers(kept - 1);
    const nA = shape[rank - 1], nB = shape[kept - 1];
    if (gA === 0 && nA >= 16) modeA = true;
    else if (gB === 0 && nB >= 4) modeA = false;
    else if (ORDER_FREE.has(k.op) && nA <= 8 && nB >= 4) modeA = false;
    else modeA = gA < gB || (gA === gB && nA >= nB);
  }
  const full: NestSpec = { ...spec, vec: modeA ? rank - 1 : kept - 1 };
  let outStride = 1;
  for (let d = 1; d < kept; d++) outStride *= shape[d];
  return {
    outer: spec.virtual ? 1 : shape[0],
    unit: full.vec === 0 ? 4 : 1,
    work: k.outSize * k.reduceSize * weight(c.expr),
    outStride,
    splittable: kept >= 1,
    key: `red|${k.op}|${plan.key}|${classKey}|${k.inputs.length}|` +
      `${plan.words.length}|` +
      `${kept}|${modeA ? "A" : "B"}`,
    words: plan.words,
    build: () => new ReduceGen(plan, full, c.expr, k.op, kept, modeA).build(),
  };
}
