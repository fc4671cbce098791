/**
 * Creating tensors: from data, filled, ranges, and joining (`concat`, `stack`, `where`, `oneHot`),
 * and the internal constructors of tensors over new nodes they build on (a buffer of host data, a
 * constant, any node: `fromData`, `constant`, `fromNode`).
 * @module
 */

import { DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { Backend, DeviceName } from "../backend/types.ts";
import { getBackend, getDefaultDevice } from "../backend/device.ts";
import { assertDType, type DType } from "../ir/dtype.ts";
import { assertShape, contiguousView, numel, type Shape } from "../ir/view.ts";
import { LazyNode, type NodeOp, type Src } from "./lazy.ts";
import { concatOp, elementwise } from "./ops.ts";
import type { NestedArray } from "./read.ts";
import { composite } from "./scope.ts";
import { Tensor, type TensorLike } from "./tensor.ts";

/** Where and as what a new tensor is created. */
export interface CreateOptions {
  /** Element type (default float32; int32 for integer ranges). */
  readonly dtype?: DType;
  /** Device (default: `getDefaultDevice()`). */
  readonly device?: DeviceName;
}

// ---------------------------------------------------------------------------------------------
// Tensors over new nodes (what the creation functions below and random.ts build on)
// ---------------------------------------------------------------------------------------------

/** Creates a tensor over a fresh node. @internal */
export function fromNode(
  backend: Backend,
  shape: Shape,
  dtype: DType,
  op: NodeOp,
  srcs: Src[] = [],
): Tensor {
  const node = new LazyNode(backend, [...shape], dtype, op, srcs);
  return new Tensor(node, contiguousView(shape));
}

/** A scalar constant node on a backend, broadcast to `shape`. @internal */
export function constant(backend: Backend, value: number, dtype: DType, shape: Shape = []): Tensor {
  const node = new LazyNode(backend, [], dtype, { kind: "const", value });
  const t = new Tensor(node, contiguousView([]));
  return shape.length ? t.expand(shape) : t;
}

/** Creates a realized tensor from data on a device. @internal */
export function fromData(
  data: Float32Array | Int32Array,
  shape: Shape,
  dtype: DType,
  device: DeviceName = getDefaultDevice(),
): Tensor {
  const be = getBackend(device);
  const n = numel(shape);
  const buf = be.alloc(n);
  if (n > 0) be.write(buf, data.length === n ? data : data.subarray(0, n));
  const node = new LazyNode(be, [...shape], dtype, { kind: "buffer" });
  node.setBuffer(buf);
  if (dtype === "int32" && n > 0) {
    let lo = data[0], hi = data[0];
    for (let i = 1; i < n; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      else if (v > hi) hi = v;
    }
    node.hostRange = [lo, hi];
  }
  return new Tensor(node, contiguousView(shape));
}

/**
 * The smallest and largest element of an int32 tensor when they are known without reading it
 * back from its device: it was created from host data (`tensor(...)`) and not written since, and
 * it shows every element of its storage (a reshape or permutation, not a slice). Null otherwise
 * (computed on the device, e.g. an argmax). Lets the contract refuse out-of-range action indices
 * without a device sync.
 */
export function knownIntRange(t: Tensor): readonly [number, number] | null {
  const node = t._node;
  if (node.op.kind !== "buffer" || node.version !== 0 || !node.hostRange) return null;
  const v = t._view;
  if (numel(v.shape) !== numel(node.shape)) return null;
  if (v.shape.some((d, i) => d > 1 && v.strides[i] === 0)) return null;
  return node.hostRange;
}

// ---------------------------------------------------------------------------------------------
// The creation functions
// ---------------------------------------------------------------------------------------------

function flatten(data: NestedArray, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(data)) {
    if (shape.length <= depth) shape.push(data.length);
    else if (shape[depth] !== data.length) {
      throw new ShapeError(
        "tensor",
        `ragged nested array: axis ${depth} has lengths ${shape[depth]} and ${data.length}`,
      );
    }
    for (const d of data) flatten(d, shape, out, depth + 1);
  } else {
    if (shape.length !== depth) {
      throw new ShapeError("tensor", `ragged nested array: a number at depth ${depth}`);
    }
    out.push(typeof data === "boolean" ? (data ? 1 : 0) : data);
  }
}

function inferDType(data: NestedArray): DType {
  let d: unknown = data;
  while (Array.isArray(d)) d = d[0];
  return typeof d === "boolean" ? "bool" : "float32";
}

function toStorage(values: ArrayLike<number>, dtype: DType): Float32Array | Int32Array {
  if (dtype === "float32") {
    return values instanceof Float32Array ? values : Float32Array.from(values);
  }
  if (values instanceof Int32Array) return values;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = dtype === "bool" ? (v ? 1 : 0) : Math.trunc(v);
  }
  return out;
}

/**
 * Creates a tensor from nested arrays, or from flat data and a shape.
 *
 * @example
 * ```ts
 * import { tensor } from "@worldflux/worldflux";
 * const a = tensor([[1, 2], [3, 4]]);                 // float32 [2, 2]
 * const b = tensor(new Int32Array([1, 2, 3]), [3], { dtype: "int32" });
 * console.log(a.shape, b.dtype); // [2, 2] int32
 * ```
 */
export function tensor(
  data: NestedArray | Float32Array | Int32Array | Uint8Array | readonly number[],
  shape?: readonly number[],
  opts: CreateOptions = {},
): Tensor {
  let values: ArrayLike<number>;
  let dims: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    values = data as ArrayLike<number>;
    dtype = opts.dtype ??
      (data instanceof Int32Array ? "int32" : data instanceof Uint8Array ? "bool" : "float32");
    dims = shape ? assertShape(shape, "tensor") : [values.length];
  } else {
    const flat: number[] = [];
    const inferred: number[] = [];
    flatten(data as NestedArray, inferred, flat, 0);
    values = flat;
    dtype = opts.dtype ?? inferDType(data as NestedArray);
    dims = shape ? assertShape(shape, "tensor") : inferred;
  }
  assertDType(dtype, "tensor");
  if (numel(dims) !== values.length) {
    throw new ShapeError(
      "tensor",
      `${values.length} values do not fill shape ${fmtShape(dims)} (${numel(dims)} elements)`,
    );
  }
  return fromData(toStorage(values, dtype), dims, dtype, opts.device ?? getDefaultDevice());
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const dims = assertShape(shape, "full");
  const dtype = assertDType(opts.dtype ?? "float32", "full");
  const be = getBackend(opts.device ?? getDefaultDevice());
  // A constant broadcast to the shape; materialised (one fill kernel) only when needed.
  return constant(be, value, dtype, dims);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** Zeros with the shape, dtype and device of `t`. */
export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, device: t.device });
}

/** Ones with the shape, dtype and device of `t`. */
export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device });
}

/** `value` with the shape, dtype and device of `t`. */
export function fullLike(t: Tensor, value: number): Tensor {
  return full(t.shape, value, { dtype: t.dtype, device: t.device });
}

/**
 * `0, 1, ..., n - 1` (int32 by default), or `start, start + step, ...` below `end` when
 * `end` is given.
 */
export function arange(
  n: number,
  opts: CreateOptions & { end?: number; step?: number } = {},
): Tensor {
  const start = opts.end === undefined ? 0 : n;
  const end = opts.end === undefined ? n : opts.end;
  const step = opts.step ?? 1;
  if (step === 0) throw new ShapeError("arange", "step must not be 0");
  const count = Math.max(0, Math.ceil((end - start) / step));
  const integral = Number.isInteger(start) && Number.isInteger(step);
  const dtype = opts.dtype ?? (integral ? "int32" : "float32");
  const be = getBackend(opts.device ?? getDefaultDevice());
  return composite(() => {
    let t = fromNode(be, [count], dtype === "bool" ? "int32" : dtype, { kind: "index" });
    if (step !== 1) t = t.mul(step);
    if (start !== 0) t = t.add(start);
    return t.cast(dtype);
  });
}

/** `count` evenly spaced values from `start` to `end` inclusive. */
export function linspace(
  start: number,
  end: number,
  count: number,
  opts: CreateOptions = {},
): Tensor {
  const step = count > 1 ? (end - start) / (count - 1) : 0;
  return composite(() =>
    arange(count, { device: opts.device }).cast("float32").mul(step).add(start)
  );
}

/** The `n x n` identity matrix. */
export function eye(n: number, opts: CreateOptions = {}): Tensor {
  return composite(() => {
    const i = arange(n, { device: opts.device });
    return i.reshape([n, 1]).eq(i.reshape([1, n])).cast(opts.dtype ?? "float32");
  });
}

/** Concatenates along `axis`. */
export function concat(ts: readonly Tensor[], axis = 0): Tensor {
  return concatOp([...ts], axis);
}

/** Stacks along a new `axis`. */
export function stack(ts: readonly Tensor[], axis = 0): Tensor {
  if (ts.length === 0) throw new ShapeError("stack", "needs at least one tensor");
  const r = ts[0].rank;
  const a = axis < 0 ? axis + r + 1 : axis;
  for (const t of ts) {
    if (t.shape.length !== r || t.shape.some((s, i) => s !== ts[0].shape[i])) {
      throw new ShapeError(
        "stack",
        `all tensors need one shape, got ${ts.map((t) => fmtShape(t.shape)).join(", ")}`,
      );
    }
  }
  return composite(() => concatOp(ts.map((t) => t.unsqueeze(a)), a));
}

/** `cond ? a : b`, elementwise with broadcasting (`cond` is bool). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (cond.dtype !== "bool") {
    throw new DTypeError(
      "where",
      `the condition must be bool, got ${cond.dtype}; compare first (t.gt(0))`,
    );
  }
  return elementwise("where", [cond, a, b]);
}

/** One-hot encoding of int32 `indices` into `n` classes (float32, new last axis). */
export function oneHot(indices: Tensor, n: number): Tensor {
  if (indices.dtype !== "int32") {
    throw new DTypeError("oneHot", `indices must be int32, got ${indices.dtype}`);
  }
  return composite(() => {
    const classes = arange(n, { device: indices.device });
    return indices.unsqueeze(-1).eq(classes).cast("float32");
  });
}
