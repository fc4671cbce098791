/**
 * The op constructors behind the `Tensor` methods and the functional ops: elementwise ops from
 * the op table (with broadcasting and type promotion), reductions, the softmax family,
 * hand-written kernel nodes, concatenation, matmul, gather and scatter-add. Each checks its
 * operands (typed errors that say how to fix the call), creates the graph node, and records the
 * op's gradient rule by name (gradients.ts).
 *
 * They are generic over the tensor type ({@link OpTensor}, which `Tensor` implements): a result
 * is made by an operand (`_make`), so this file does not import the class, whose methods call it.
 * @module
 */

import { DeviceError, DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { Backend, ReduceOp } from "../backend/types.ts";
import { type DType, promote } from "../ir/dtype.ts";
import {
  broadcastShapes,
  contiguousView,
  expandView,
  normAxis,
  sameShape,
  type Shape,
  type View,
} from "../ir/view.ts";
import type { GradTensor } from "./autograd.ts";
import { recordGrad } from "./gradients.ts";
import { LazyNode, type NodeOp, type Src } from "./lazy.ts";
import { type ElementwiseOp, elementwiseOp } from "./ops_table.ts";
import { composite } from "./scope.ts";

/**
 * What the op constructors need of a tensor besides what autograd does: its device, its graph
 * source, a way to make a tensor of its own kind over a new node, and the view ops they use.
 * `Tensor` implements it (`T` is `Tensor`).
 * @internal
 */
export interface OpTensor<T extends OpTensor<T>> extends GradTensor {
  readonly _backend: Backend;
  /** A new tensor of this kind over `node` seen through `view`. */
  _make(node: LazyNode, view: View): T;
  _src(): Src;
  reshape(shape: readonly number[]): T;
  expand(shape: readonly number[]): T;
  permute(perm: readonly number[]): T;
  squeeze(axes?: number | number[]): T;
  unsqueeze(axis: number): T;
  cast(dtype: DType): T;
}

/** An operand: a tensor or a scalar. */
export type Operand<T> = T | number | boolean;

/** A tensor of `like`'s kind over a fresh node. */
function fromNodeLike<T extends OpTensor<T>>(
  like: T,
  backend: Backend,
  shape: Shape,
  dtype: DType,
  op: NodeOp,
  srcs: Src[],
): T {
  return like._make(new LazyNode(backend, [...shape], dtype, op, srcs), contiguousView(shape));
}

/** A scalar constant on `like`'s device, broadcast to `shape`. @internal */
export function constantLike<T extends OpTensor<T>>(
  like: T,
  value: number,
  dtype: DType,
  shape: Shape = [],
): T {
  const node = new LazyNode(like._backend, [], dtype, { kind: "const", value });
  const t = like._make(node, contiguousView([]));
  return shape.length ? t.expand(shape) : t;
}

function sameBackend<T extends OpTensor<T>>(ts: T[], op: string): Backend {
  const be = ts[0]._backend;
  for (const t of ts) {
    if (t._backend !== be) {
      throw new DeviceError(
        `${op}: tensors are on different devices (${ts.map((x) => x.device).join(", ")}); ` +
          `move them with t.to("${ts[0].device}")`,
      );
    }
  }
  return be;
}

/** An operand as a tensor: a scalar becomes a constant on `like`'s device. @internal */
export function toTensor<T extends OpTensor<T>>(x: Operand<T>, like: T): T {
  if (typeof x === "object") return x._check("op");
  if (typeof x === "boolean") return constantLike(like, x ? 1 : 0, "bool");
  const dtype: DType = Number.isInteger(x) && like.dtype !== "float32" ? "int32" : "float32";
  return constantLike(like, x, dtype);
}

/** Applies an elementwise op from the op table with broadcasting. @internal */
export function elementwise<T extends OpTensor<T>>(op: string, args: Operand<T>[]): T {
  const def = elementwiseOp(op);
  const first = args.find((a): a is T => typeof a === "object");
  if (!first) throw new Error(`internal: ${op} needs at least one tensor argument`);
  const ts = args.map((a) => toTensor(a, first));
  try {
    return elementwiseOf(op, def, ts);
  } finally {
    // Number operands became constant tensors for this op alone: its node keeps what it needs,
    // so they are released now instead of counting as live tensors until garbage collection.
    ts.forEach((t, i) => {
      if (t !== args[i]) t.dispose();
    });
  }
}

function elementwiseOf<T extends OpTensor<T>>(op: string, def: ElementwiseOp, ts: T[]): T {
  const be = sameBackend(ts, op);
  let shape: number[] = ts[0].shape;
  for (let i = 1; i < ts.length; i++) shape = broadcastShapes(shape, ts[i].shape, op);
  const inDtype = ts.slice(def.rule === "where" ? 1 : 0).map((t) => t.dtype).reduce(promote);
  const dtype: DType = def.rule === "float"
    ? "float32"
    : def.rule === "cmp" || def.rule === "logic"
    ? "bool"
    : def.rule === "same" && inDtype === "bool" && op !== "copy" && op !== "maximum" &&
        op !== "minimum"
    ? "int32"
    : inDtype;
  if (def.rule === "logic" || def.rule === "where") {
    const c = def.rule === "where" ? [ts[0]] : ts;
    for (const t of c) {
      if (t.dtype !== "bool") {
        throw new DTypeError(
          op,
          `expects bool ${def.rule === "where" ? "condition" : "operands"}, got ${t.dtype}`,
        );
      }
    }
  }
  const srcs = ts.map((t) => ({ node: t._node, view: expandView(t._view, shape) }));
  const out = fromNodeLike(ts[0], be, shape, dtype, { kind: "ew", op }, srcs);
  if (!def.grad || dtype !== "float32") return out;
  return recordGrad(out, op, ts, [...ts, out], { shape, shapes: ts.map((t) => t.shape) });
}

/** Normalised, sorted, distinct reduction axes (all when omitted). @internal */
export function normAxes(
  axes: number | number[] | null | undefined,
  rank: number,
  op: string,
): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(a, rank, op));
  if (new Set(list).size !== list.length) {
    throw new ShapeError(op, `axes ${fmtShape(list)} repeat an axis`);
  }
  return list.sort((a, b) => a - b);
}

/** A reduction over `axes` (sum, prod, max, min). @internal */
export function reduce<T extends OpTensor<T>>(
  t: T,
  op: ReduceOp,
  axes: number | number[] | null | undefined,
  keepDims: boolean,
): T {
  t._check(op);
  const ax = normAxes(axes, t.rank, op);
  const keptShape = t.shape.map((s, d) => (ax.includes(d) ? 1 : s));
  const outShape = t.shape.filter((_, d) => !ax.includes(d));
  if ((op === "max" || op === "min") && ax.some((d) => t.shape[d] === 0)) {
    throw new ShapeError(op, `cannot reduce an empty axis of shape ${fmtShape(t.shape)}`);
  }
  const dtype: DType = op === "sum" || op === "prod"
    ? (t.dtype === "bool" ? "int32" : t.dtype)
    : t.dtype;
  let out: T;
  if (ax.length === 0) out = elementwise("copy", [t]);
  else {out = fromNodeLike(t, t._backend, outShape, dtype, { kind: "reduce", op, axes: ax }, [
      t._src(),
    ]);}
  if (keepDims) out = out.reshape(keptShape);
  if (dtype !== "float32") return out;
  const attrs = { axes: ax, keptShape, inShape: t.shape };
  return recordGrad(out, op, [t], op === "sum" ? [] : [t, out], attrs);
}

/** argmax / argmin along one axis (int32). @internal */
export function argReduce<T extends OpTensor<T>>(
  t: T,
  op: "argmax" | "argmin",
  axis: number,
  keepDims: boolean,
): T {
  t._check(op);
  const a = normAxis(axis, t.rank, op);
  if (t.shape[a] === 0) throw new ShapeError(op, `axis ${a} is empty`);
  const outShape = t.shape.filter((_, d) => d !== a);
  let out = fromNodeLike(t, t._backend, outShape, "int32", { kind: "reduce", op, axes: [a] }, [
    t._src(),
  ]);
  if (keepDims) out = out.unsqueeze(a);
  return out;
}

/** Moves `axis` last, runs a last-axis kernel (softmax family), and moves it back. @internal */
export function lastAxisKernel<T extends OpTensor<T>>(
  t: T,
  axis: number,
  mode: "softmax" | "logsoftmax" | "logsumexp",
): T {
  t._check(mode);
  if (t.dtype !== "float32") t = t.cast("float32");
  const r = Math.max(t.rank, 1);
  const a = t.rank === 0 ? 0 : normAxis(axis, t.rank, mode);
  const x0 = t.rank === 0 ? t.reshape([1]) : t;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm.splice(a, 1);
  perm.push(a);
  const xp = x0.permute(perm);
  const cols = xp.shape[r - 1];
  const rows = xp.size / Math.max(cols, 1);
  const outShape = mode === "logsumexp" ? [...xp.shape.slice(0, -1), 1] : xp.shape;
  const op = mode === "logsoftmax" ? "logSoftmax" : mode;
  let y = kernelNode("softmax", [xp], { mode, rows, cols }, outShape, "float32", op);
  const inv = new Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  y = y.permute(inv);
  if (t.rank === 0) y = y.reshape([]);
  return recordGrad(y, mode, [t], mode === "logsumexp" ? [t, y] : [y], { axis: a });
}

/** Creates a hand-written-kernel node; the schedule's builder for `name` makes the kernel. */
export function kernelNode<T extends OpTensor<T>>(
  name: string,
  inputs: T[],
  params: Record<string, unknown>,
  shape: Shape,
  dtype: DType,
  op: string = name,
): T {
  // `op` is the public name errors report (e.g. "layerNorm" for the "norm" kernel)
  for (const t of inputs) t._check(op);
  const be = sameBackend(inputs, op);
  const srcs = inputs.map((t) => t._src());
  return fromNodeLike(inputs[0], be, shape, dtype, { kind: "kernel", name, params }, srcs);
}

/** Concatenates tensors along an axis. @internal */
export function concatOp<T extends OpTensor<T>>(ts: T[], axis: number): T {
  return composite(() => concatImpl(ts, axis));
}

function concatImpl<T extends OpTensor<T>>(ts: T[], axis: number): T {
  if (ts.length === 0) throw new ShapeError("concat", "needs at least one tensor");
  for (const t of ts) t._check("concat");
  const be = sameBackend(ts, "concat");
  const r = ts[0].rank;
  const a = normAxis(axis, r, "concat");
  const dtype = ts.map((t) => t.dtype).reduce(promote);
  for (const t of ts) {
    if (t.rank !== r || t.shape.some((s, d) => d !== a && s !== ts[0].shape[d])) {
      throw new ShapeError(
        "concat",
        `shapes ${ts.map((x) => fmtShape(x.shape)).join(", ")} differ outside axis ${a}`,
      );
    }
  }
  if (ts.length === 1) return ts[0];
  const shape = [...ts[0].shape];
  shape[a] = ts.reduce((s, t) => s + t.shape[a], 0);
  const casted = ts.map((t) => t.cast(dtype));
  const srcs = casted.map((t) => t._src());
  const out = fromNodeLike(ts[0], be, shape, dtype, { kind: "concat", axis: a }, srcs);
  return recordGrad(out, "concat", casted, [], { sizes: ts.map((t) => t.shape[a]), axis: a });
}

/** The matrix product (batched, broadcasting batch axes). @internal */
export function matmulOp<T extends OpTensor<T>>(a: T, b: T): T {
  a._check("matmul");
  b._check("matmul");
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(
      "matmul",
      `operands must have rank >= 1, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  // [k] @ [..., k, n] -> [..., n]; [k] @ [k] -> [] (b's own squeeze already removed its axis)
  if (a.rank === 1) return matmulOp(a.unsqueeze(0), b).squeeze(b.rank === 1 ? -1 : -2);
  if (b.rank === 1) return matmulOp(a, b.unsqueeze(-1)).squeeze(-1);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) {
    throw new ShapeError(
      "matmul",
      `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2}, ` +
        `axis -1 of the first vs axis -2 of the second)`,
    );
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "matmul");
  const af = a.dtype === "float32" ? a : a.cast("float32");
  const bf = b.dtype === "float32" ? b : b.cast("float32");
  const out = kernelNode("matmul", [af, bf], {}, [...batch, m, n], "float32");
  return recordGrad(out, "matmul", [af, bf], [af, bf], { aShape: a.shape, bShape: b.shape });
}

/** Gathers along `axis` with int32 indices. @internal */
export function gatherOp<T extends OpTensor<T>>(x: T, indices: T, axis: number): T {
  x._check("gather");
  indices._check("gather");
  if (indices.dtype !== "int32") {
    throw new DTypeError("gather", `indices must be int32, got ${indices.dtype}`);
  }
  const a = normAxis(axis, x.rank, "gather");
  let idx = indices;
  let outShape: number[];
  if (indices.rank === 1 && x.rank > 1) {
    // index_select: out shape = x.shape with axis replaced by the index count
    outShape = x.shape.map((s, d) => (d === a ? indices.shape[0] : s));
    const bshape = x.shape.map((_, d) => (d === a ? indices.shape[0] : 1));
    idx = indices.reshape(bshape).expand(outShape);
  } else {
    if (indices.rank !== x.rank) {
      throw new ShapeError(
        "gather",
        `indices of rank ${indices.rank} (${fmtShape(indices.shape)}) do not fit input ` +
          `${fmtShape(x.shape)}: use 1-D indices or indices of the same rank`,
      );
    }
    for (let d = 0; d < x.rank; d++) {
      if (d !== a && indices.shape[d] !== x.shape[d]) {
        throw new ShapeError(
          "gather",
          `indices ${fmtShape(indices.shape)} and input ${fmtShape(x.shape)} differ at axis ${d}`,
        );
      }
    }
    outShape = indices.shape;
  }
  const outer = x.shape.slice(0, a).reduce((p, s) => p * s, 1);
  const inner = x.shape.slice(a + 1).reduce((p, s) => p * s, 1);
  const xf = x.dtype === "float32" ? x : x.cast("float32");
  const params = { outer, axisSize: x.shape[a], nIdx: outShape[a], inner };
  let out = kernelNode("gather", [xf, idx], params, outShape, "float32");
  out = recordGrad(out, "gather", [xf], [idx], { axis: a, xShape: x.shape });
  return x.dtype === "float32" ? out : out.cast(x.dtype);
}

/** Scatter-adds `src` into zeros of `shape` at `indices` along `axis`. @internal */
export function scatterAddOp<T extends OpTensor<T>>(
  src: T,
  indices: T,
  axis: number,
  shape: Shape,
): T {
  return composite(() => scatterAddImpl(src, indices, axis, shape));
}

function scatterAddImpl<T extends OpTensor<T>>(src: T, indices: T, axis: number, shape: Shape): T {
  const a = normAxis(axis, shape.length, "scatterAdd");
  if (!sameShape(src.shape, indices.shape)) {
    throw new ShapeError(
      "scatterAdd",
      `source ${fmtShape(src.shape)} and indices ${fmtShape(indices.shape)} must have one shape`,
    );
  }
  const outer = shape.slice(0, a).reduce((p, s) => p * s, 1);
  const inner = shape.slice(a + 1).reduce((p, s) => p * s, 1);
  const params = { outer, axisSize: shape[a], nIdx: src.shape[a], inner };
  const out = kernelNode("scatterAdd", [src.cast("float32"), indices], params, shape, "float32");
  return recordGrad(out, "scatterAdd", [src], [indices], { axis: a });
}
