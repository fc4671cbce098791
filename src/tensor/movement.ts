/**
 * The movement ops behind the `Tensor` methods: new views of the same storage (reshape, permute,
 * expand, slice: no copy, except a reshape no strided view can express), each recording its
 * gradient rule by name (gradients.ts), and the ops built on them (flatten, swapAxes, narrow,
 * squeeze, unsqueeze, split, chunk, repeat). Each checks its arguments with typed errors that
 * say how to fix the call.
 *
 * Generic over the tensor type ({@link OpTensor}, ops.ts): a view is made by the operand
 * (`_make`), so this file does not import the class, whose methods call it.
 * @module
 */

import { fmtShape, ShapeError } from "../errors.ts";
import {
  expandView,
  inferShape,
  normAxis,
  permuteView,
  reshapeView,
  sameShape,
  sliceView,
} from "../ir/view.ts";
import { recordGrad } from "./gradients.ts";
import { elementwise, type OpTensor } from "./ops.ts";
import { composite } from "./scope.ts";

/** `x`'s values in a new shape (one axis may be -1); a copy when no view can express it. */
export function reshapeOp<T extends OpTensor<T>>(x: T, shape: readonly number[]): T {
  x._check("reshape");
  const target = inferShape(shape, x.size, x.shape);
  if (sameShape(target, x.shape)) return x;
  const v = reshapeView(x._view, target);
  const out = composite(() => {
    const base = v ? x : elementwise<T>("copy", [x]);
    return x._make(base._node, v ?? reshapeView(base._view, target)!);
  });
  return recordGrad(out, "reshape", [x], [], { from: x.shape });
}

/** `x` with axes `start..end` flattened into one. */
export function flattenOp<T extends OpTensor<T>>(x: T, start: number, end: number): T {
  if (x.rank === 0) return x.reshape([1]);
  const s = normAxis(start, x.rank, "flatten");
  const e = normAxis(end, x.rank, "flatten");
  const mid = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return x.reshape([...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
}

/** `x` with its axes reordered. */
export function permuteOp<T extends OpTensor<T>>(x: T, perm: readonly number[]): T {
  x._check("permute");
  const p = perm.map((a) => normAxis(a, x.rank, "permute"));
  if (p.every((a, i) => a === i)) return x;
  const out = x._make(x._node, permuteView(x._view, p));
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return recordGrad(out, "permute", [x], [], { inverse });
}

/** `x` with axes `a` and `b` swapped. */
export function swapAxesOp<T extends OpTensor<T>>(x: T, a: number, b: number): T {
  const r = x.rank;
  const p = Array.from({ length: r }, (_, i) => i);
  const i = normAxis(a, r, "swapAxes");
  const j = normAxis(b, r, "swapAxes");
  [p[i], p[j]] = [p[j], p[i]];
  return x.permute(p);
}

/** `x` broadcast to `shape` (size-1 axes and new leading axes; -1 keeps a size). */
export function expandOp<T extends OpTensor<T>>(x: T, shape: readonly number[]): T {
  x._check("expand");
  const lead = shape.length - x.rank;
  const target = shape.map((s, i) => (s === -1 ? x.shape[i - lead] : s));
  if (sameShape(target, x.shape)) return x;
  const out = x._make(x._node, expandView(x._view, target));
  return recordGrad(out, "expand", [x], [], { from: x.shape });
}

/**
 * `x` sliced to `starts[d] .. starts[d] + sizes[d]` along its leading axes (size -1: to the
 * end; negative starts count from the end).
 */
export function sliceOp<T extends OpTensor<T>>(
  x: T,
  starts: readonly number[],
  sizes?: readonly number[],
): T {
  x._check("slice");
  const v = sliceView(x._view, starts, sizes ?? starts.map(() => -1));
  if (sameShape(v.shape, x.shape)) return x;
  const out = x._make(x._node, v);
  const from = x.shape;
  const begin = starts.map((s, d) => (s < 0 ? s + from[d] : s));
  return recordGrad(out, "slice", [x], [], { from, begin });
}

/** `x` narrowed along `axis` to `start .. start + length`. */
export function narrowOp<T extends OpTensor<T>>(
  x: T,
  axis: number,
  start: number,
  length: number,
): T {
  const a = normAxis(axis, x.rank, "narrow");
  const starts = x.shape.map((_, d) => (d === a ? start : 0));
  const sizes = x.shape.map((s, d) => (d === a ? length : s));
  return sliceOp(x, starts, sizes);
}

/** `x` without its size-1 axes (the given ones, or all). */
export function squeezeOp<T extends OpTensor<T>>(x: T, axes?: number | number[]): T {
  const ax = axes === undefined
    ? x.shape.map((s, i) => (s === 1 ? i : -1)).filter((i) => i >= 0)
    : (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(a, x.rank, "squeeze"));
  for (const a of ax) {
    if (x.shape[a] !== 1) {
      throw new ShapeError(
        "squeeze",
        `axis ${a} has size ${x.shape[a]}, not 1 (shape ${fmtShape(x.shape)})`,
      );
    }
  }
  return x.reshape(x.shape.filter((_, i) => !ax.includes(i)));
}

/** `x` with a size-1 axis inserted at `axis`. */
export function unsqueezeOp<T extends OpTensor<T>>(x: T, axis: number): T {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  if (a < 0 || a > x.rank) {
    throw new ShapeError("unsqueeze", `axis ${axis} is out of range for rank ${x.rank}`);
  }
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return x.reshape(s);
}

/** `x` split along `axis` into pieces of the given sizes (or `n` equal pieces). */
export function splitOp<T extends OpTensor<T>>(
  x: T,
  sizes: number | readonly number[],
  axis: number,
): T[] {
  const a = normAxis(axis, x.rank, "split");
  const dim = x.shape[a];
  let parts: number[];
  if (typeof sizes === "number") {
    if (dim % sizes !== 0) {
      throw new ShapeError(
        "split",
        `axis ${a} of size ${dim} does not split into ${sizes} parts`,
      );
    }
    parts = new Array(sizes).fill(dim / sizes);
  } else parts = [...sizes];
  if (parts.reduce((p, q) => p + q, 0) !== dim) {
    throw new ShapeError(
      "split",
      `sizes ${fmtShape(parts)} do not add up to ${dim} (axis ${a} of ${fmtShape(x.shape)})`,
    );
  }
  let at = 0;
  return parts.map((p) => {
    const t = narrowOp(x, a, at, p);
    at += p;
    return t;
  });
}

/** `x` split into `n` nearly equal chunks along `axis` (like `torch.chunk`). */
export function chunkOp<T extends OpTensor<T>>(x: T, n: number, axis: number): T[] {
  const a = normAxis(axis, x.rank, "chunk");
  const dim = x.shape[a];
  const size = Math.ceil(dim / n);
  const parts: number[] = [];
  for (let at = 0; at < dim; at += size) parts.push(Math.min(size, dim - at));
  return splitOp(x, parts, a);
}

/** `x` repeated along each axis (like `torch.Tensor.repeat`). */
export function repeatOp<T extends OpTensor<T>>(x: T, reps: readonly number[]): T {
  if (reps.length < x.rank) {
    throw new ShapeError("repeat", `needs at least ${x.rank} repeats, got ${reps.length}`);
  }
  return composite(() => {
    const r = x.reshape([...new Array(reps.length - x.rank).fill(1), ...x.shape]);
    const inter: number[] = [];
    const expanded: number[] = [];
    const final: number[] = [];
    r.shape.forEach((s, i) => {
      inter.push(1, s);
      expanded.push(reps[i], s);
      final.push(reps[i] * s);
    });
    return r.reshape(inter).expand(expanded).reshape(final);
  });
}
