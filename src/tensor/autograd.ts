/**
 * The backward engine: the gradient mode (`noGrad`), what an op output remembers for backward
 * ({@link GradCtx}), and reverse-mode differentiation over those records (`backward`), with the
 * merging of gradient terms that keeps recurrences cheap (one matmul for a weight used at every
 * step, one concat for a tensor sliced per step).
 *
 * The engine does not know the `Tensor` class: it works on what it needs of a tensor
 * ({@link GradTensor}, which `Tensor` implements) and makes new tensors through a
 * {@link TensorKit} its caller passes in (tensor.ts). The rules it runs are the gradient table's
 * (gradients.ts), stored in each record. So this file sits below both the class and the table.
 * @module
 */

import { DisposedError, DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { DeviceName } from "../backend/types.ts";
import type { DType } from "../ir/dtype.ts";
import {
  contiguousView,
  isContiguous,
  permuteView,
  sameShape,
  type Shape,
  type View,
} from "../ir/view.ts";
import { type LazyNode, release, retain } from "./lazy.ts";
import { addPendingTarget } from "./schedule.ts";
import { keep, type Releasable } from "./scope.ts";

// ---------------------------------------------------------------------------------------------
// Gradient mode
// ---------------------------------------------------------------------------------------------

let gradEnabled = true;

/** True when ops record gradients. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (like `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` with gradient recording switched on or off. @internal */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---------------------------------------------------------------------------------------------
// What the engine and the gradient rules need of a tensor
// ---------------------------------------------------------------------------------------------

/** An operand of a tensor op: a tensor or a scalar. */
export type GradOperand = GradTensor | number | boolean;

/**
 * The part of a tensor the engine and the gradient rules use: its graph node and view, its
 * autograd fields, and the ops gradient rules are written with. `Tensor` implements it.
 * @internal
 */
export interface GradTensor {
  readonly _node: LazyNode;
  readonly _view: View;
  readonly shape: number[];
  readonly rank: number;
  readonly size: number;
  readonly dtype: DType;
  readonly device: DeviceName;
  readonly isDisposed: boolean;
  requiresGrad: boolean;
  grad: GradTensor | null;
  readonly _ctx: GradCtx | null;
  _check(op: string): this;
  _setCtx(ctx: GradCtx): void;
  dispose(): void;
  add(other: GradOperand): GradTensor;
  sub(other: GradOperand): GradTensor;
  mul(other: GradOperand): GradTensor;
  div(other: GradOperand): GradTensor;
  exp(): GradTensor;
  square(): GradTensor;
  rsqrt(): GradTensor;
  eq(other: GradOperand): GradTensor;
  logicalAnd(other: GradOperand): GradTensor;
  ifElse(a: GradOperand, b: GradOperand): GradTensor;
  cast(dtype: DType): GradTensor;
  to(device: DeviceName): GradTensor;
  sum(axes?: number | number[] | null, keepDims?: boolean): GradTensor;
  mean(axes?: number | number[] | null, keepDims?: boolean): GradTensor;
  prod(axes?: number | number[] | null, keepDims?: boolean): GradTensor;
  reshape(shape: readonly number[]): GradTensor;
  expand(shape: readonly number[]): GradTensor;
  permute(perm: readonly number[]): GradTensor;
  split(sizes: number | readonly number[], axis?: number): GradTensor[];
  gather(indices: GradTensor, axis?: number): GradTensor;
  matmul(other: GradTensor): GradTensor;
  readonly mT: GradTensor;
}

/**
 * How the engine and the gradient rules make tensors that are not the result of a tensor
 * method (tensor.ts passes its own to {@link backward}).
 * @internal
 */
export interface TensorKit {
  /** A tensor over an existing node and view (a saved value, an operand of a recorded op). */
  wrap(node: LazyNode, view: View): GradTensor;
  /** A constant on `like`'s device, broadcast to `shape`. */
  constant(like: GradTensor, value: number, dtype: DType, shape: Shape): GradTensor;
  /** Concatenation along `axis`. */
  concat(ts: GradTensor[], axis: number): GradTensor;
  /** An op of the elementwise op table (ops_table.ts), broadcasting. */
  elementwise(op: string, args: GradOperand[]): GradTensor;
  /** A hand-written kernel node (kernel_builders.ts). */
  kernel(
    name: string,
    inputs: GradTensor[],
    params: Record<string, unknown>,
    shape: Shape,
    dtype: DType,
    op?: string,
  ): GradTensor;
  /** Adds `src` into zeros of `shape` at `indices` along `axis`. */
  scatterAdd(src: GradTensor, indices: GradTensor, axis: number, shape: Shape): GradTensor;
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/**
 * A gradient rule: the gradients of an op's inputs (null: none) from the gradient `g` of its
 * output, the values it saved in the forward pass (in the order it saved them), and the
 * attributes it recorded (shapes, axes, options). Rules are entries of the gradient table
 * (gradients.ts).
 */
export type GradientRule<A = unknown, T extends GradTensor = GradTensor> = {
  // A method signature, so that a rule written over `Tensor` (the only kind of tensor the
  // engine ever passes) is a rule over `GradTensor` too.
  rule(g: T, saved: T[], attrs: A, kit: TensorKit): (T | null)[];
}["rule"];

/** A saved value: a node reference held by an autograd record. */
interface Saved {
  readonly node: LazyNode;
  readonly view: View;
  readonly dtype: DType;
  /** The node's version when saved: an in-place update since then invalidates the graph. */
  readonly version: number;
}

/** What an op output remembers for backward. @internal */
export class GradCtx implements Releasable {
  /** Values the rule reads, held as node references so `dispose()` of inputs is safe. */
  saved: Saved[];
  /** True once backward (or the collection of its tensor) freed the saved values. */
  released = false;

  constructor(
    /** The op that produced the tensor (its rule's name in the gradient table). */
    readonly op: string,
    /** Inputs, in order; gradients route to the ones that require grad. */
    readonly parents: readonly GradTensor[],
    saved: Saved[],
    /** The op's gradient rule. */
    readonly rule: GradientRule,
    /** What the rule needs besides the saved values (shapes, axes, options). */
    readonly attrs: unknown,
  ) {
    this.saved = saved;
  }

  /** Frees the saved values (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.saved) release(s.node);
    this.saved = [];
  }
}

/**
 * Records on `out` that `rule` computes its inputs' gradients, when grads are enabled and an
 * input requires them. `save` lists the tensors whose values the rule reads. Ops call this
 * through the gradient table's `recordGrad` (gradients.ts), which finds the rule by name.
 * @internal
 */
export function attachGrad<T extends GradTensor>(
  out: T,
  op: string,
  rule: GradientRule,
  inputs: readonly GradTensor[],
  save: readonly GradTensor[],
  attrs: unknown,
): T {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  const saved: Saved[] = save.map((t) => {
    retain(t._node);
    return { node: t._node, view: t._view, dtype: t.dtype, version: t._node.version };
  });
  out.requiresGrad = true;
  out._setCtx(new GradCtx(op, inputs, saved, rule, attrs));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shapes of gradients
// ---------------------------------------------------------------------------------------------

/** Sums a gradient of a broadcast shape back to `shape`. @internal */
export function sumTo<T extends GradTensor>(g: T, shape: Shape): T;
export function sumTo(g: GradTensor, shape: Shape): GradTensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < g.rank; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  }
  let r = axes.length ? g.sum(axes, true) : g;
  if (lead > 0) r = r.reshape(shape);
  else if (!sameShape(r.shape, shape)) r = r.reshape(shape);
  return r;
}

/** Zero-pads `g` into `shape` at `begin` (the backward of slice). @internal */
export function padTo(
  g: GradTensor,
  shape: Shape,
  begin: readonly number[],
  kit: TensorKit,
): GradTensor {
  let r = g;
  for (let d = 0; d < shape.length; d++) {
    const b = begin[d] ?? 0;
    const after = shape[d] - b - r.shape[d];
    if (b === 0 && after === 0) continue;
    const parts: GradTensor[] = [];
    const zshape = (n: number) => r.shape.map((s, i) => (i === d ? n : s));
    if (b > 0) parts.push(kit.constant(r, 0, r.dtype, zshape(b)));
    parts.push(r);
    if (after > 0) parts.push(kit.constant(r, 0, r.dtype, zshape(after)));
    r = kit.concat(parts, d);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------

function savedTensors(ctx: GradCtx, kit: TensorKit): GradTensor[] {
  return ctx.saved.map((s) => {
    if (s.node.version !== s.version) {
      throw new DisposedError(
        `backward: a value saved by "${ctx.op}" (shape ${fmtShape(s.view.shape)}) was updated ` +
          `in place after the forward pass (an optimizer step or assign() between forward and ` +
          `backward); run backward before updating parameters`,
      );
    }
    return kit.wrap(s.node, s.view);
  });
}

/**
 * Reverse-mode differentiation. Computes d(sum of outputs * seeds)/d(each input). With `inputs`
 * null, accumulates into the `.grad` of every reachable leaf that requires grad (backward());
 * otherwise returns the gradients of `inputs` (zeros for unreachable ones) and leaves `.grad`.
 * @internal
 */
export function backward(
  outputs: GradTensor[],
  seeds: GradTensor[] | undefined,
  inputs: GradTensor[] | null,
  retainGraph: boolean,
  kit: TensorKit,
): GradTensor[] {
  for (const o of outputs) {
    o._check("backward");
    if (!o.requiresGrad) {
      throw new DTypeError(
        "backward",
        "the tensor does not require grad: no input of its graph has requiresGrad set, or it " +
          "was computed under noGrad()",
      );
    }
  }
  // Topological order over tensors with autograd contexts (iterative DFS).
  const order: GradTensor[] = [];
  const seen = new Set<GradTensor>();
  for (const root of outputs) {
    if (seen.has(root)) continue;
    const stack: [GradTensor, number][] = [[root, 0]];
    seen.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const parents = t._ctx?.parents ?? [];
      if (i < parents.length) {
        top[1]++;
        const p = parents[i];
        if (p.requiresGrad && !seen.has(p)) {
          seen.add(p);
          stack.push([p, 0]);
        }
      } else {
        stack.pop();
        order.push(t);
      }
    }
  }
  // Gradient terms per tensor, summed when the tensor's own backward runs (see sumGradTerms).
  const grads = new Map<GradTensor, GradTensor[]>();
  const addTerm = (t: GradTensor, g: GradTensor) => {
    const list = grads.get(t);
    if (list) list.push(g);
    else grads.set(t, [g]);
  };
  outputs.forEach((o, i) => {
    let seed = seeds?.[i];
    if (!seed) {
      if (o.size !== 1) {
        throw new ShapeError(
          "backward",
          `needs a scalar output or an explicit gradient, got shape ${fmtShape(o.shape)}`,
        );
      }
      seed = kit.constant(o, 1, "float32", o.shape);
    } else if (!sameShape(seed.shape, o.shape)) {
      throw new ShapeError(
        "backward",
        `gradient shape ${fmtShape(seed.shape)} does not match output shape ${fmtShape(o.shape)}`,
      );
    }
    addTerm(o, seed);
  });
  // The outputs (the loss) are realized with the next schedule, which computes the gradients:
  // the forward pass then runs once even when the loss is read after the optimizer step.
  for (const o of outputs) addPendingTarget(o._node);
  const wanted = inputs ? new Set(inputs) : null;
  const result = new Map<GradTensor, GradTensor>();
  withGradMode(false, () => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const terms = grads.get(t);
      if (!terms) continue;
      grads.delete(t);
      const g = sumGradTerms(terms, kit);
      const ctx = t._ctx;
      if (wanted?.has(t)) result.set(t, g);
      if (!ctx) {
        if (!wanted && t.requiresGrad) {
          const acc = t.grad && !t.grad.isDisposed ? t.grad.add(g) : g;
          t.grad = keep(acc);
        }
        continue;
      }
      if (ctx.released) {
        throw new DisposedError(
          `backward: the graph through "${ctx.op}" was already freed by an earlier backward(); ` +
            `pass { retainGraph: true } to backward through it twice`,
        );
      }
      const gs = ctx.rule(g, savedTensors(ctx, kit), ctx.attrs, kit);
      ctx.parents.forEach((p, j) => {
        const gj = gs[j];
        if (!gj || !p.requiresGrad) return;
        addTerm(p, gj);
      });
      if (!retainGraph) ctx.release();
    }
  });
  if (!inputs) return [];
  return inputs.map((x) => keep(result.get(x) ?? kit.constant(x, 0, "float32", x.shape)));
}

// ---------------------------------------------------------------------------------------------
// Summing gradient terms
// ---------------------------------------------------------------------------------------------

/** Autograd options (tests compare merged and unmerged gradient sums). @internal */
export const gradOptions: { mergeMatmulTerms: boolean; mergeSliceTerms: boolean } = {
  mergeMatmulTerms: true,
  mergeSliceTerms: true,
};

/**
 * A gradient term that is a zero-padded slice (what `padTo`, the backward of slicing, builds):
 * a concat along `axis` whose parts are zero constants except `inner`, starting at `begin`.
 */
function paddedSliceTerm(
  t: GradTensor,
  kit: TensorKit,
): { axis: number; begin: number; inner: GradTensor } | null {
  const node = t._node;
  if (node.realized || node.op.kind !== "concat") return null;
  const v = t._view;
  if (!isContiguous(v) || v.offset !== 0 || !sameShape(v.shape, node.shape)) return null;
  const axis = node.op.axis;
  let inner: GradTensor | null = null;
  let begin = 0, at = 0;
  for (const s of node.srcs) {
    const isZero = s.node.op.kind === "const" && s.node.op.value === 0;
    if (!isZero) {
      if (inner) return null;
      inner = kit.wrap(s.node, s.view);
      begin = at;
    }
    at += s.view.shape[axis];
  }
  return inner ? { axis, begin, inner } : null;
}

/**
 * Merges terms that are zero-padded slices of one shape along one axis with disjoint ranges —
 * the gradients of the per-step slices of a tensor computed for all steps at once — into ONE
 * concat of the slices (zeros in the gaps), instead of T full-size padded tensors and T adds.
 * Returns the remaining terms and the merged ones.
 */
function mergeSliceTerms(terms: GradTensor[], kit: TensorKit): GradTensor[] {
  const groups = new Map<string, { axis: number; begin: number; inner: GradTensor }[]>();
  const out: GradTensor[] = [];
  for (const t of terms) {
    const p = paddedSliceTerm(t, kit);
    if (!p) {
      out.push(t);
      continue;
    }
    const key = `${t.shape.join(",")}|${p.axis}|${t.dtype}`;
    const g = groups.get(key);
    if (g) g.push(p);
    else groups.set(key, [p]);
  }
  for (const [key, ps] of groups) {
    const shape = key.split("|")[0].split(",").map(Number);
    const axis = ps[0].axis;
    ps.sort((a, b) => a.begin - b.begin);
    const disjoint = ps.every((p, i) =>
      i === 0 || ps[i - 1].begin + ps[i - 1].inner.shape[axis] <= p.begin
    );
    if (ps.length === 1 || !disjoint) {
      for (const p of ps) {
        out.push(padTo(p.inner, shape, shape.map((_, d) => (d === axis ? p.begin : 0)), kit));
      }
      continue;
    }
    const like = ps[0].inner;
    const dtype = like.dtype;
    const zerosOf = (n: number) =>
      kit.constant(like, 0, dtype, shape.map((s, d) => (d === axis ? n : s)));
    const parts: GradTensor[] = [];
    let at = 0;
    for (const p of ps) {
      if (p.begin > at) parts.push(zerosOf(p.begin - at));
      parts.push(p.inner);
      at = p.begin + p.inner.shape[axis];
    }
    if (at < shape[axis]) parts.push(zerosOf(shape[axis] - at));
    out.push(kit.concat(parts, axis));
  }
  return out;
}

/** A gradient term that is a matmul product, as (a, b) with term = a @ b. */
function matmulTerm(t: GradTensor, kit: TensorKit): [GradTensor, GradTensor] | null {
  const node = t._node;
  const op = node.op;
  if (node.realized || op.kind !== "kernel" || op.name !== "matmul" || node.srcs.length !== 2) {
    return null;
  }
  const r = node.shape.length;
  const [sa, sb] = node.srcs;
  // Only unbroadcast operands (same rank as the product): then concatenation is exact.
  if (sa.view.shape.length !== r || sb.view.shape.length !== r) return null;
  const a = kit.wrap(sa.node, sa.view);
  const b = kit.wrap(sb.node, sb.view);
  const v = t._view;
  if (v.offset !== 0 || !sameShape(v.shape, node.shape) && v.shape.length !== r) return null;
  const cs = contiguousView(node.shape);
  if (isContiguous(v) && sameShape(v.shape, node.shape) && v.offset === 0) return [a, b];
  // A view with the last two axes swapped: (a @ b)^T = b^T @ a^T.
  const swapped = permuteView(cs, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
  if (sameShape(v.shape, swapped.shape) && v.strides.every((s, i) => s === swapped.strides[i])) {
    return [b.mT, a.mT];
  }
  return null;
}

/**
 * Sums gradient terms. Terms that are matmul products of one shape — the gradients of a weight
 * used at every step of a recurrence — are merged into ONE matmul over the concatenated operands
 * (sum_t a_t @ b_t = [a_1 .. a_T] @ [b_1; ..; b_T]), instead of T small products and T adds;
 * zero-padded slices with disjoint ranges (a tensor sliced per step) become one concat.
 */
function sumGradTerms(terms: GradTensor[], kit: TensorKit): GradTensor {
  if (terms.length === 1) return terms[0];
  if (gradOptions.mergeSliceTerms) {
    terms = mergeSliceTerms(terms, kit);
    if (terms.length === 1) return terms[0];
  }
  if (!gradOptions.mergeMatmulTerms) return terms.reduce((a, b) => a.add(b));
  const groups = new Map<string, [GradTensor, GradTensor][]>();
  const rest: GradTensor[] = [];
  for (const t of terms) {
    const mm = matmulTerm(t, kit);
    if (!mm) {
      rest.push(t);
      continue;
    }
    const key = t.shape.join(",");
    const g = groups.get(key);
    if (g) g.push(mm);
    else groups.set(key, [mm]);
  }
  const parts: GradTensor[] = [...rest];
  for (const pairs of groups.values()) {
    // Merging costs copies of the operands; it pays on the cpu (memory traffic of T full-size
    // products) and for large products anywhere; small GPU products stay separate (each copy is
    // a dispatch there).
    const [a0, b0] = pairs[0];
    const out = a0.shape[a0.rank - 2] * b0.shape[b0.rank - 1] *
      a0.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const big = out >= 65536;
    // Large copies must cost less than the adds they save: a weight's gradient over T steps
    // (operands [in, rows] and [rows, out], sums of [in, out]) merges; the gradient of an
    // activation read by several large weights (g_i @ W_i^T: operands as large as the weights,
    // sums of a few rows) does not, or every step would copy the weights. Small merges always
    // pay (fewer kernels).
    const copied = pairs.reduce((s, [a, b]) => s + a.size + b.size, 0);
    const cheap = copied <= (pairs.length - 1) * out || copied < 65536;
    if (pairs.length === 1 || !cheap || (!big && a0.device !== "cpu")) {
      for (const [a, b] of pairs) parts.push(a.matmul(b));
    } else {
      // (transposed left operands, a weight gradient's x_t^T: concatenated as the contiguous
      // x_t along rows and viewed transposed, so each part is a plain copy, not a transpose)
      const ats = pairs.map((p) => p[0].mT);
      const a = ats.every((t) => isContiguous(t._view))
        ? kit.concat(ats, -2).mT
        : kit.concat(pairs.map((p) => p[0]), -1);
      const b = kit.concat(pairs.map((p) => p[1]), -2);
      parts.push(a.matmul(b));
    }
  }
  let sum = parts[0];
  for (let i = 1; i < parts.length; i++) sum = sum.add(parts[i]);
  return sum;
}
