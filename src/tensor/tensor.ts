/**
 * The {@link Tensor}: an immutable value on a device, backed by a lazy graph node and a strided
 * view. Ops record nodes; values are computed when read (`await t.data()`) or `realize()`d.
 *
 * Here: the class, whose methods are the tensor API, and what only the class can make: the
 * constructors the backward engine uses ({@link TENSOR_KIT}) and realizing several tensors at
 * once. The methods call the files below, which do the work: the op constructors are ops.ts,
 * the movement ops (views) movement.ts, in-place writes assign.ts, reading values back read.ts;
 * each differentiable op records its gradient rule by name (`recordGrad`, the gradient table in
 * gradients.ts); the backward engine is autograd.ts; tensor lifetimes (tidy scopes,
 * finalisation) are scope.ts. They work on interfaces the class implements (`OpTensor`,
 * `GradTensor`, `Scoped`), so none imports this file. Tensors over new nodes (from host data,
 * constants) are made in creation.ts, above the class.
 * @module
 */

import { DisposedError, DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { Backend, DeviceName } from "../backend/types.ts";
import { getBackend } from "../backend/device.ts";
import { assertDType, type DType, type TensorData } from "../ir/dtype.ts";
import { LazyNode, release, retain, type Src } from "./lazy.ts";
import {
  argReduce,
  concatOp,
  constantLike,
  elementwise,
  gatherOp,
  kernelNode,
  lastAxisKernel,
  matmulOp,
  normAxes,
  type OpTensor,
  reduce,
  scatterAddOp,
} from "./ops.ts";
import {
  chunkOp,
  expandOp,
  flattenOp,
  narrowOp,
  permuteOp,
  repeatOp,
  reshapeOp,
  sliceOp,
  splitOp,
  squeezeOp,
  swapAxesOp,
  unsqueezeOp,
} from "./movement.ts";
import { assignInPlace } from "./assign.ts";
import { type NestedArray, nestedArray, readTensors, resolveTransfers } from "./read.ts";
import { realizeNodes } from "./schedule.ts";
import { backward as runBackward, type GradCtx, type TensorKit } from "./autograd.ts";
import { recordGrad } from "./gradients.ts";
import { composite, type Held, trackTensor, untrackTensor } from "./scope.ts";
import {
  contiguousView,
  isContiguous,
  normAxis,
  numel,
  type Shape,
  type View,
} from "../ir/view.ts";

/** A value accepted where a tensor operand is expected: a tensor or a scalar. */
export type TensorLike = Tensor | number | boolean;

// The gradient mode and tensor lifetimes, as the tensor module's users know them.
export { isGradEnabled, noGrad, withGradMode } from "./autograd.ts";
export { composite, keep } from "./scope.ts";

// ---------------------------------------------------------------------------------------------
// Tensor
// ---------------------------------------------------------------------------------------------

/**
 * An n-dimensional array on a device (`"cpu"` or `"webgpu"`), immutable, computed lazily.
 *
 * @example
 * ```ts
 * import { tensor } from "@worldflux/worldflux";
 * const x = tensor([[1, 2], [3, 4]]);
 * const y = x.mul(2).add(1).sum();
 * console.log(await y.item()); // 24
 * ```
 */
export class Tensor implements OpTensor<Tensor> {
  /** @internal */
  _node: LazyNode;
  /** @internal */
  _view: View;
  /** @internal */
  _ctx: GradCtx | null = null;
  /** @internal */
  _disposed = false;
  /** @internal Who freed it, when not the tensor's own `dispose()` (e.g. `"MLPWorldModel.dispose()"`). */
  _disposedBy: string | null = null;
  private readonly held: Held;
  /** Whether gradients flow to this tensor (leaf tensors accumulate them in `grad`). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;

  /** @internal Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(node: LazyNode, view: View) {
    this._node = node;
    this._view = view;
    retain(node);
    this.held = { node, ctx: null };
    trackTensor(this, this.held);
  }

  /** The shape (sizes of each axis). */
  get shape(): number[] {
    return this._view.shape as number[];
  }

  /** Element type. */
  get dtype(): DType {
    return this._node.dtype;
  }

  /** Device holding the value. */
  get device(): DeviceName {
    return this._node.backend.name;
  }

  /** Number of axes. */
  get rank(): number {
    return this._view.shape.length;
  }

  /** Number of axes (NumPy/PyTorch name). */
  get ndim(): number {
    return this._view.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this._view.shape);
  }

  /** True after `dispose()`. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** @internal */
  get _backend(): Backend {
    return this._node.backend;
  }

  /** @internal Throws when the tensor was disposed. */
  _check(op: string): this {
    if (this._disposed) {
      throw new DisposedError(
        this._disposedBy
          ? `${op}: a tensor (shape ${fmtShape(this.shape)}) of a module freed by ` +
            `${this._disposedBy} was used; a disposed model or module cannot be used again: ` +
            `create or load it again`
          : `${op}: the tensor (shape ${fmtShape(this.shape)}) was disposed; keep it out of ` +
            `tidy() with keep(t) or return it from the tidy function`,
      );
    }
    return this;
  }

  /**
   * Points this tensor at another storage node (arena packing, device moves); the tensor object
   * (and every reference to it, e.g. in a module) stays the same.
   * @internal
   */
  _rebind(node: LazyNode, view: View): void {
    this._check("rebind");
    retain(node);
    const old = this._node;
    this._node = node;
    this._view = view;
    this.held.node = node;
    release(old);
  }

  /** @internal A tensor over `node` seen through `view` (how the op constructors make results). */
  _make(node: LazyNode, view: View): Tensor {
    return new Tensor(node, view);
  }

  /** @internal Sets the autograd context. */
  _setCtx(ctx: GradCtx): void {
    this._ctx = ctx;
    this.held.ctx = ctx;
  }

  /** A one-line description (shape, dtype, device). */
  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${
      this.requiresGrad ? ", requiresGrad" : ""
    })`;
  }

  // -------------------------------------------------------------------------------------------
  // Reading and lifetime
  // -------------------------------------------------------------------------------------------

  /** Computes the value now (submits work; does not wait for the device). Returns `this`. */
  realize(): this {
    this._check("realize");
    realizeNodes([this._node]);
    return this;
  }

  /** Reads the values as a flat typed array (bool as Uint8Array). */
  async data(): Promise<TensorData> {
    const [d] = await readTensors<Tensor>([this]);
    return d;
  }

  /** Reads the values as nested arrays. */
  async array(): Promise<NestedArray> {
    return nestedArray(await this.data(), this.shape, this.dtype === "bool");
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new ShapeError("item", `needs a one-element tensor, got shape ${fmtShape(this.shape)}`);
    }
    const d = await this.data();
    return d[0];
  }

  /** Releases the tensor's memory now (further use throws). Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    // The autograd context stays alive while other tensors' graphs may need it; it is released
    // by backward() or when this object is garbage collected.
    untrackTensor(this, this._ctx);
    release(this._node);
  }

  /** `using t = ...` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  // -------------------------------------------------------------------------------------------
  // Conversion
  // -------------------------------------------------------------------------------------------

  /** A copy of the value on another device (lazy; webgpu -> cpu resolves on read). */
  to(device: DeviceName): Tensor {
    this._check("to");
    if (device === this.device && getBackend(device) === this._backend) return this;
    const be = getBackend(device);
    const node = new LazyNode(be, this.shape, this.dtype, { kind: "transfer" }, [this._src()]);
    const out = new Tensor(node, contiguousView(this.shape));
    return recordGrad(out, "to", [this], [], { device: this.device });
  }

  /** Converts the element type (float -> int truncates toward zero; != 0 -> true). */
  cast(dtype: DType): Tensor {
    this._check("cast");
    assertDType(dtype, "cast");
    if (dtype === this.dtype) return this;
    const node = new LazyNode(this._backend, this.shape, dtype, { kind: "cast" }, [this._src()]);
    return new Tensor(node, contiguousView(this.shape));
  }

  /** The same value, cut from the autograd graph. */
  detach(): Tensor {
    this._check("detach");
    return new Tensor(this._node, this._view);
  }

  /**
   * Writes `value` (broadcast and cast to this tensor's shape and dtype) into this tensor's
   * storage, in place. Used for parameters and optimizer state: their storage (and any arena
   * they live in) stays put, which compiled steps rely on. Values computed from this tensor
   * before the update and not yet realized can no longer be read (that throws).
   */
  assign(value: TensorLike): this {
    assignInPlace<Tensor>(this, value);
    return this;
  }

  /** A new tensor with the same value and its own storage. */
  clone(): Tensor {
    return this.ew("copy", []);
  }

  /** A contiguous copy if the view is strided, else `this`. */
  contiguous(): Tensor {
    if (
      isContiguous(this._view) && this._view.offset === 0 && this.size === numel(this._node.shape)
    ) {
      return this;
    }
    return this.ew("copy", []);
  }

  /** @internal */
  _src(): Src {
    return { node: this._node, view: this._view };
  }

  // -------------------------------------------------------------------------------------------
  // Elementwise
  // -------------------------------------------------------------------------------------------

  /** @internal Applies an op-table op to `this` and `others`, broadcasting. */
  ew(op: string, others: TensorLike[]): Tensor {
    return elementwise<Tensor>(op, [this, ...others]);
  }

  /** `this + other`. */
  add(other: TensorLike): Tensor {
    return this.ew("add", [other]);
  }
  /** `this - other`. */
  sub(other: TensorLike): Tensor {
    return this.ew("sub", [other]);
  }
  /** `this * other`. */
  mul(other: TensorLike): Tensor {
    return this.ew("mul", [other]);
  }
  /** `this / other` (true division, float result). */
  div(other: TensorLike): Tensor {
    return this.ew("div", [other]);
  }
  /**
   * `this ** other`. Negative bases with integer exponents give signed results, and
   * `0 ** negative` is `Infinity`, as in PyTorch, on every backend.
   */
  pow(other: TensorLike): Tensor {
    // Shortcuts keep pow's float32 result type, so they are for float32 inputs only.
    if (typeof other === "number" && this.dtype === "float32") {
      if (other === 1) return this.ew("copy", []);
      if (other === 2) return this.square();
      if (other === 0.5) return this.sqrt();
      if (other === -1) return this.reciprocal();
    }
    return this.ew("pow", [other]);
  }
  /** Elementwise maximum. */
  maximum(other: TensorLike): Tensor {
    return this.ew("maximum", [other]);
  }
  /** Elementwise minimum. */
  minimum(other: TensorLike): Tensor {
    return this.ew("minimum", [other]);
  }
  /** `-this`. */
  neg(): Tensor {
    return this.ew("neg", []);
  }
  /** `|this|`. */
  abs(): Tensor {
    return this.ew("abs", []);
  }
  /** -1, 0 or 1. */
  sign(): Tensor {
    return this.ew("sign", []);
  }
  /** `this * this`. */
  square(): Tensor {
    return this.ew("square", []);
  }
  /** `1 / this`. */
  reciprocal(): Tensor {
    return this.ew("reciprocal", []);
  }
  /** Rounds down. */
  floor(): Tensor {
    return this.ew("floor", []);
  }
  /** Rounds up. */
  ceil(): Tensor {
    return this.ew("ceil", []);
  }
  /** Rounds half to even. */
  round(): Tensor {
    return this.ew("round", []);
  }
  /** `e ** this`. */
  exp(): Tensor {
    return this.ew("exp", []);
  }
  /** Natural logarithm. */
  log(): Tensor {
    return this.ew("log", []);
  }
  /** Square root. */
  sqrt(): Tensor {
    return this.ew("sqrt", []);
  }
  /** `1 / sqrt(this)`. */
  rsqrt(): Tensor {
    return this.ew("rsqrt", []);
  }
  /** Sine. */
  sin(): Tensor {
    return this.ew("sin", []);
  }
  /** Cosine. */
  cos(): Tensor {
    return this.ew("cos", []);
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return this.ew("tanh", []);
  }
  /** Logistic sigmoid. */
  sigmoid(): Tensor {
    return this.ew("sigmoid", []);
  }
  /** `max(this, 0)`. */
  relu(): Tensor {
    return this.ew("relu", []);
  }
  /** `this * sigmoid(this)` (swish). */
  silu(): Tensor {
    return this.ew("silu", []);
  }
  /** Exponential linear unit (alpha 1). */
  elu(): Tensor {
    return this.ew("elu", []);
  }
  /** `this * tanh(softplus(this))` (full float32 relative precision far below 0, as PyTorch). */
  mish(): Tensor {
    return this.ew("mish", []);
  }
  /**
   * Mish with one exponential: `this / (1 + 2 / n)`, `n = e^x (e^x + 2)` (e^x at min(x, 20)),
   * the algebra of `tanh(softplus(x)) = n / (n + 2)`; a third of {@link Tensor.mish}'s
   * transcendental work, a few ulps from it (TD-MPC2's activation).
   *
   * @example
   * ```ts
   * import { tensor } from "@worldflux/worldflux";
   * console.log(await tensor([-1, 0, 1]).fastMish().data()); // ~[-0.3034, 0, 0.8651]
   * ```
   */
  fastMish(): Tensor {
    return this.ew("fastMish", []);
  }
  /**
   * `log(1 + e ** this)` (linear above 20, as PyTorch; `e ** this` to full float32 relative
   * precision far below 0, as PyTorch's log1p gives).
   */
  softplus(): Tensor {
    return this.ew("softplus", []);
  }
  /** GELU (tanh approximation). */
  gelu(): Tensor {
    return this.ew("gelu", []);
  }
  /** `sign(x) * log(|x| + 1)` (DreamerV3). */
  symlog(): Tensor {
    return this.ew("symlog", []);
  }
  /** `sign(x) * (e ** |x| - 1)`, the inverse of symlog. */
  symexp(): Tensor {
    return this.ew("symexp", []);
  }
  /** Clamps into `[min, max]` (either bound may be null). */
  clamp(min: TensorLike | null, max: TensorLike | null): Tensor {
    if (min === null && max === null) return this.ew("copy", []);
    if (min === null) return this.minimum(max!);
    if (max === null) return this.maximum(min);
    return this.ew("clamp", [min, max]);
  }
  /** `this > other` (bool). */
  gt(other: TensorLike): Tensor {
    return this.ew("gt", [other]);
  }
  /** `this >= other` (bool). */
  ge(other: TensorLike): Tensor {
    return this.ew("ge", [other]);
  }
  /** `this < other` (bool). */
  lt(other: TensorLike): Tensor {
    return this.ew("lt", [other]);
  }
  /** `this <= other` (bool). */
  le(other: TensorLike): Tensor {
    return this.ew("le", [other]);
  }
  /** `this == other` (bool). */
  eq(other: TensorLike): Tensor {
    return this.ew("eq", [other]);
  }
  /** `this != other` (bool). */
  ne(other: TensorLike): Tensor {
    return this.ew("ne", [other]);
  }
  /** Logical and of bools. */
  logicalAnd(other: TensorLike): Tensor {
    return this.ew("logicalAnd", [other]);
  }
  /** Logical or of bools. */
  logicalOr(other: TensorLike): Tensor {
    return this.ew("logicalOr", [other]);
  }
  /** Logical not of a bool tensor. */
  logicalNot(): Tensor {
    return this.ew("logicalNot", []);
  }
  /** For a bool tensor: `this ? a : b`, elementwise with broadcasting. */
  ifElse(a: TensorLike, b: TensorLike): Tensor {
    return this.ew("where", [a, b]);
  }

  // -------------------------------------------------------------------------------------------
  // Reductions
  // -------------------------------------------------------------------------------------------

  /** Sum over `axes` (all when omitted). */
  sum(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce<Tensor>(this, "sum", axes, keepDims);
  }

  /** Mean over `axes` (all when omitted). */
  mean(axes?: number | number[] | null, keepDims = false): Tensor {
    const ax = normAxes(axes, this.rank, "mean");
    const n = ax.reduce((a, d) => a * this.shape[d], 1);
    return composite(() => reduce<Tensor>(this, "sum", ax, keepDims).div(n));
  }

  /** Maximum over `axes` (all when omitted). */
  max(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce<Tensor>(this, "max", axes, keepDims);
  }

  /** Minimum over `axes` (all when omitted). */
  min(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce<Tensor>(this, "min", axes, keepDims);
  }

  /** Product over `axes` (all when omitted). */
  prod(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce<Tensor>(this, "prod", axes, keepDims);
  }

  /** Variance over `axes` (population variance unless `unbiased`). */
  variance(axes?: number | number[] | null, keepDims = false, unbiased = false): Tensor {
    const ax = normAxes(axes, this.rank, "variance");
    const n = ax.reduce((a, d) => a * this.shape[d], 1);
    return composite(() => {
      const mu = this.mean(ax, true);
      return this.sub(mu).square().sum(ax, keepDims).div(unbiased ? Math.max(n - 1, 1) : n);
    });
  }

  /** Standard deviation over `axes`. */
  std(axes?: number | number[] | null, keepDims = false, unbiased = false): Tensor {
    return composite(() => this.variance(axes, keepDims, unbiased).sqrt());
  }

  /** Index of the maximum along `axis` (int32; first on ties). */
  argmax(axis = -1, keepDims = false): Tensor {
    return argReduce<Tensor>(this, "argmax", axis, keepDims);
  }

  /** Index of the minimum along `axis` (int32; first on ties). */
  argmin(axis = -1, keepDims = false): Tensor {
    return argReduce<Tensor>(this, "argmin", axis, keepDims);
  }

  /** `log(sum(exp(this)))` along `axis`, computed stably. */
  logsumexp(axis = -1, keepDims = false): Tensor {
    return composite(() => {
      const out = lastAxisKernel<Tensor>(this, axis, "logsumexp");
      if (keepDims || this.rank === 0) return out;
      return out.squeeze(normAxis(axis, this.rank, "logsumexp"));
    });
  }

  /** Softmax along `axis`. */
  softmax(axis = -1): Tensor {
    return composite(() => lastAxisKernel<Tensor>(this, axis, "softmax"));
  }

  /** Log-softmax along `axis`. */
  logSoftmax(axis = -1): Tensor {
    return composite(() => lastAxisKernel<Tensor>(this, axis, "logsoftmax"));
  }

  // -------------------------------------------------------------------------------------------
  // Movement (views: no copies)
  // -------------------------------------------------------------------------------------------

  /** Same values in a new shape (one axis may be -1). */
  reshape(shape: readonly number[]): Tensor {
    return reshapeOp<Tensor>(this, shape);
  }

  /** Alias of `reshape`. */
  view(shape: readonly number[]): Tensor {
    return this.reshape(shape);
  }

  /** Flattens axes `start..end` into one. */
  flatten(start = 0, end = -1): Tensor {
    return flattenOp<Tensor>(this, start, end);
  }

  /** Reorders axes. */
  permute(perm: readonly number[]): Tensor {
    return permuteOp<Tensor>(this, perm);
  }

  /** Reverses the axes, or applies `perm`; for two axes, swaps the last two when omitted. */
  transpose(perm?: readonly number[]): Tensor {
    if (perm) return this.permute(perm);
    const r = this.rank;
    return this.permute(Array.from({ length: r }, (_, i) => r - 1 - i));
  }

  /** Swaps two axes. */
  swapAxes(a: number, b: number): Tensor {
    return swapAxesOp<Tensor>(this, a, b);
  }

  /** The last two axes swapped (matrix transpose, batched). */
  get mT(): Tensor {
    return this.swapAxes(-1, -2);
  }

  /** Broadcasts to `shape` (size-1 axes and new leading axes; -1 keeps a size). */
  expand(shape: readonly number[]): Tensor {
    return expandOp<Tensor>(this, shape);
  }

  /** Alias of `expand`. */
  broadcastTo(shape: readonly number[]): Tensor {
    return this.expand(shape);
  }

  /**
   * Slices `starts[d] .. starts[d] + sizes[d]` along the leading axes (size -1: to the end;
   * negative starts count from the end).
   */
  slice(starts: readonly number[], sizes?: readonly number[]): Tensor {
    return sliceOp<Tensor>(this, starts, sizes);
  }

  /** Narrows one axis to `start .. start + length`. */
  narrow(axis: number, start: number, length: number): Tensor {
    return narrowOp<Tensor>(this, axis, start, length);
  }

  /** Removes size-1 axes (the given ones, or all). */
  squeeze(axes?: number | number[]): Tensor {
    return squeezeOp<Tensor>(this, axes);
  }

  /** Inserts a size-1 axis at `axis`. */
  unsqueeze(axis: number): Tensor {
    return unsqueezeOp<Tensor>(this, axis);
  }

  /** Splits along `axis` into pieces of the given sizes (or `n` equal pieces). */
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    return splitOp<Tensor>(this, sizes, axis);
  }

  /** Splits into `n` nearly equal chunks along `axis` (like `torch.chunk`). */
  chunk(n: number, axis = 0): Tensor[] {
    return chunkOp<Tensor>(this, n, axis);
  }

  /** Repeats the tensor along each axis (like `torch.Tensor.repeat`). */
  repeat(reps: readonly number[]): Tensor {
    return repeatOp<Tensor>(this, reps);
  }

  // -------------------------------------------------------------------------------------------
  // Indexing
  // -------------------------------------------------------------------------------------------

  /**
   * Gathers along `axis` with int32 `indices` (like `torch.gather` when `indices` has this
   * tensor's rank; like `torch.index_select` when it is 1-D). Negative indices count from the end.
   */
  gather(indices: Tensor, axis = 0): Tensor {
    return composite(() => gatherOp<Tensor>(this, indices, axis));
  }

  // -------------------------------------------------------------------------------------------
  // Linear algebra
  // -------------------------------------------------------------------------------------------

  /** Matrix product with NumPy/PyTorch semantics (batched, broadcasting batch axes). */
  matmul(other: Tensor): Tensor {
    return composite(() => matmulOp<Tensor>(this, other));
  }

  // -------------------------------------------------------------------------------------------
  // Autograd
  // -------------------------------------------------------------------------------------------

  /** Marks the tensor as requiring gradients; returns `this`. */
  setRequiresGrad(flag = true): this {
    if (flag && this.dtype !== "float32") {
      throw new DTypeError(
        "requiresGrad",
        `only float32 tensors can require gradients, got ${this.dtype}`,
      );
    }
    this.requiresGrad = flag;
    return this;
  }

  /** True for tensors created by the user (no autograd history). */
  get isLeaf(): boolean {
    return this._ctx === null;
  }

  /**
   * Backpropagates from this tensor (a scalar unless `gradient` is given) and accumulates into
   * the `grad` of every leaf that requires gradients.
   */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    backwardImpl([this], gradient ? [gradient] : undefined, null, opts.retainGraph ?? false);
  }

  /** Sets `grad` to null. */
  zeroGrad(): void {
    if (this.grad) this.grad.dispose();
    this.grad = null;
  }
}

// ---------------------------------------------------------------------------------------------
// The backward engine's view of the class
// ---------------------------------------------------------------------------------------------

/**
 * The constructors the backward engine and the gradient rules use (they run on
 * {@link GradTensor}s, which here are always `Tensor`s). @internal
 */
export const TENSOR_KIT: TensorKit = {
  wrap: (node: LazyNode, view: View) => new Tensor(node, view),
  constant: (like: Tensor, value: number, dtype: DType, shape: Shape) =>
    constantLike(like, value, dtype, shape),
  concat: (ts: Tensor[], axis: number) => concatOp(ts, axis),
  elementwise: (op: string, args: TensorLike[]) => elementwise(op, args),
  kernel: (
    name: string,
    inputs: Tensor[],
    params: Record<string, unknown>,
    shape: Shape,
    dtype: DType,
    op?: string,
  ) => kernelNode(name, inputs, params, shape, dtype, op),
  scatterAdd: (src: Tensor, indices: Tensor, axis: number, shape: Shape) =>
    scatterAddOp(src, indices, axis, shape),
};

/**
 * Reverse-mode differentiation (autograd.ts's `backward`) over tensors. With `inputs` null,
 * accumulates into the `.grad` of every reachable leaf that requires grad; otherwise returns the
 * gradients of `inputs` and leaves `.grad` untouched.
 * @internal
 */
export function backwardImpl(
  outputs: Tensor[],
  seeds: Tensor[] | undefined,
  inputs: Tensor[] | null,
  retainGraph: boolean,
): Tensor[] {
  return runBackward(outputs, seeds, inputs, retainGraph, TENSOR_KIT) as Tensor[];
}

/** Realizes several tensors at once (one schedule, shared fusion decisions). */
export function realize(...ts: Tensor[]): void {
  const byBackend = new Map<Backend, LazyNode[]>();
  for (const t of ts) {
    t._check("realize");
    let list = byBackend.get(t._backend);
    if (!list) byBackend.set(t._backend, list = []);
    list.push(t._node);
  }
  for (const [, nodes] of byBackend) realizeNodes(nodes);
}

/** Like {@link realize}, also resolving cross-device reads, and waiting for the devices. */
export async function realizeAsync(...ts: Tensor[]): Promise<void> {
  await resolveTransfers(ts);
  realize(...ts);
  await Promise.all([...new Set(ts.map((t) => t._backend))].map((b) => b.sync()));
}
