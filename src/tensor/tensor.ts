/**
 * The {@link Tensor}: an immutable value on a device, backed by a lazy graph node and a strided
 * view. Ops record nodes; values are computed when read (`await t.data()`) or `realize()`d.
 *
 * Here: the class (its movement ops, which only change the view, are its own methods), the
 * constructors of tensors over new nodes, and reading values back. The other op constructors
 * are ops.ts; each differentiable op records its gradient rule by name (`recordGrad`, the
 * gradient table in gradients.ts); the backward engine is autograd.ts; tensor lifetimes (tidy
 * scopes, finalisation) are scope.ts. They work on interfaces the class implements
 * (`OpTensor`, `GradTensor`, `Scoped`), so none imports this file; the class hands the engine
 * the constructors it needs ({@link TENSOR_KIT}).
 * @module
 */

import { DeviceError, DisposedError, DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { Backend, DeviceName } from "../backend/types.ts";
import { getBackend, getDefaultDevice } from "../backend/device.ts";
import {
  assertDType,
  type DType,
  storageArray,
  type TensorData,
  toPublicData,
} from "../ir/dtype.ts";
import { LazyNode, type NodeOp, release, retain, type Src } from "./lazy.ts";
import {
  argReduce,
  concatOp,
  elementwise,
  gatherOp,
  kernelNode,
  lastAxisKernel,
  matmulOp,
  normAxes,
  type OpTensor,
  reduce,
  scatterAddOp,
  toTensor,
} from "./ops.ts";
import { realizeNodes } from "./schedule.ts";
import { backward as runBackward, type GradCtx, type TensorKit, withGradMode } from "./autograd.ts";
import { recordGrad } from "./gradients.ts";
import { composite, type Held, trackTensor, untrackTensor } from "./scope.ts";
import {
  broadcastShapes,
  contiguousView,
  expandView,
  inferShape,
  isContiguous,
  normAxis,
  numel,
  permuteView,
  reshapeView,
  sameShape,
  type Shape,
  sliceView,
  type View,
} from "../ir/view.ts";

/** Nested number arrays, as returned by `array()`. */
export type NestedArray = number | boolean | NestedArray[];

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
    const [d] = await readTensors([this]);
    return d;
  }

  /** Reads the values as nested arrays. */
  async array(): Promise<NestedArray> {
    const d = await this.data();
    const isBool = this.dtype === "bool";
    const shape = this.shape;
    if (shape.length === 0) return isBool ? d[0] !== 0 : d[0];
    let i = 0;
    const build = (axis: number): NestedArray => {
      const out: NestedArray[] = [];
      for (let k = 0; k < shape[axis]; k++) {
        if (axis === shape.length - 1) {
          out.push(isBool ? d[i++] !== 0 : d[i++]);
        } else out.push(build(axis + 1));
      }
      return out;
    };
    return build(0);
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
    this._check("assign");
    const node = this._node;
    if (!node.realized) realizeNodes([node]);
    if (!isContiguous(this._view) || this._view.offset !== 0 || this.size !== numel(node.shape)) {
      throw new ShapeError(
        "assign",
        `the target (shape ${fmtShape(this.shape)}) is a view of another tensor; assign to the ` +
          `tensor that owns the storage`,
      );
    }
    const v = withGradMode(false, () => {
      const t = value instanceof Tensor ? value._check("assign") : toTensor<Tensor>(value, this);
      if (t._backend !== this._backend) {
        throw new DeviceError(`assign: value is on ${t.device}, target on ${this.device}`);
      }
      broadcastShapes(t.shape, this.shape, "assign");
      if (t.rank > this.rank || !sameShape(broadcastShapes(t.shape, this.shape), this.shape)) {
        throw new ShapeError(
          "assign",
          `value of shape ${fmtShape(t.shape)} does not broadcast to ${fmtShape(this.shape)}`,
        );
      }
      const c = t.cast(this.dtype).expand(this.shape);
      return isContiguous(c._view) && c._view.offset === 0 && c.size === numel(c._node.shape)
        ? c
        : c.ew("copy", []);
    });
    const dest = { buf: node.buffer!, view: contiguousView(this.shape, node.bufferOffset) };
    realizeNodes([v._node], new Map([[v._node, dest]]));
    node.version++;
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
    this._check("reshape");
    const target = inferShape(shape, this.size, this.shape);
    if (sameShape(target, this.shape)) return this;
    const v = reshapeView(this._view, target);
    const out = composite(() => {
      const base = v ? this : this.ew("copy", []);
      return new Tensor(base._node, v ?? reshapeView(base._view, target)!);
    });
    return recordGrad(out, "reshape", [this], [], { from: this.shape });
  }

  /** Alias of `reshape`. */
  view(shape: readonly number[]): Tensor {
    return this.reshape(shape);
  }

  /** Flattens axes `start..end` into one. */
  flatten(start = 0, end = -1): Tensor {
    if (this.rank === 0) return this.reshape([1]);
    const s = normAxis(start, this.rank, "flatten");
    const e = normAxis(end, this.rank, "flatten");
    const mid = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape([...this.shape.slice(0, s), mid, ...this.shape.slice(e + 1)]);
  }

  /** Reorders axes. */
  permute(perm: readonly number[]): Tensor {
    this._check("permute");
    const p = perm.map((a) => normAxis(a, this.rank, "permute"));
    if (p.every((a, i) => a === i)) return this;
    const out = new Tensor(this._node, permuteView(this._view, p));
    const inverse = new Array<number>(p.length);
    p.forEach((a, i) => (inverse[a] = i));
    return recordGrad(out, "permute", [this], [], { inverse });
  }

  /** Reverses the axes, or applies `perm`; for two axes, swaps the last two when omitted. */
  transpose(perm?: readonly number[]): Tensor {
    if (perm) return this.permute(perm);
    const r = this.rank;
    return this.permute(Array.from({ length: r }, (_, i) => r - 1 - i));
  }

  /** Swaps two axes. */
  swapAxes(a: number, b: number): Tensor {
    const r = this.rank;
    const p = Array.from({ length: r }, (_, i) => i);
    const x = normAxis(a, r, "swapAxes");
    const y = normAxis(b, r, "swapAxes");
    [p[x], p[y]] = [p[y], p[x]];
    return this.permute(p);
  }

  /** The last two axes swapped (matrix transpose, batched). */
  get mT(): Tensor {
    return this.swapAxes(-1, -2);
  }

  /** Broadcasts to `shape` (size-1 axes and new leading axes; -1 keeps a size). */
  expand(shape: readonly number[]): Tensor {
    this._check("expand");
    const lead = shape.length - this.rank;
    const target = shape.map((s, i) => (s === -1 ? this.shape[i - lead] : s));
    if (sameShape(target, this.shape)) return this;
    const out = new Tensor(this._node, expandView(this._view, target));
    return recordGrad(out, "expand", [this], [], { from: this.shape });
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
    this._check("slice");
    const v = sliceView(this._view, starts, sizes ?? starts.map(() => -1));
    if (sameShape(v.shape, this.shape)) return this;
    const out = new Tensor(this._node, v);
    const from = this.shape;
    const begin = starts.map((s, d) => (s < 0 ? s + from[d] : s));
    return recordGrad(out, "slice", [this], [], { from, begin });
  }

  /** Narrows one axis to `start .. start + length`. */
  narrow(axis: number, start: number, length: number): Tensor {
    const a = normAxis(axis, this.rank, "narrow");
    const starts = this.shape.map((_, d) => (d === a ? start : 0));
    const sizes = this.shape.map((s, d) => (d === a ? length : s));
    return this.slice(starts, sizes);
  }

  /** Removes size-1 axes (the given ones, or all). */
  squeeze(axes?: number | number[]): Tensor {
    const ax = axes === undefined
      ? this.shape.map((s, i) => (s === 1 ? i : -1)).filter((i) => i >= 0)
      : (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(a, this.rank, "squeeze"));
    for (const a of ax) {
      if (this.shape[a] !== 1) {
        throw new ShapeError(
          "squeeze",
          `axis ${a} has size ${this.shape[a]}, not 1 (shape ${fmtShape(this.shape)})`,
        );
      }
    }
    return this.reshape(this.shape.filter((_, i) => !ax.includes(i)));
  }

  /** Inserts a size-1 axis at `axis`. */
  unsqueeze(axis: number): Tensor {
    const a = axis < 0 ? axis + this.rank + 1 : axis;
    if (a < 0 || a > this.rank) {
      throw new ShapeError("unsqueeze", `axis ${axis} is out of range for rank ${this.rank}`);
    }
    const s = [...this.shape];
    s.splice(a, 0, 1);
    return this.reshape(s);
  }

  /** Splits along `axis` into pieces of the given sizes (or `n` equal pieces). */
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    const a = normAxis(axis, this.rank, "split");
    const dim = this.shape[a];
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
    if (parts.reduce((x, y) => x + y, 0) !== dim) {
      throw new ShapeError(
        "split",
        `sizes ${fmtShape(parts)} do not add up to ${dim} (axis ${a} of ${fmtShape(this.shape)})`,
      );
    }
    let at = 0;
    return parts.map((p) => {
      const t = this.narrow(a, at, p);
      at += p;
      return t;
    });
  }

  /** Splits into `n` nearly equal chunks along `axis` (like `torch.chunk`). */
  chunk(n: number, axis = 0): Tensor[] {
    const a = normAxis(axis, this.rank, "chunk");
    const dim = this.shape[a];
    const size = Math.ceil(dim / n);
    const parts: number[] = [];
    for (let at = 0; at < dim; at += size) parts.push(Math.min(size, dim - at));
    return this.split(parts, a);
  }

  /** Repeats the tensor along each axis (like `torch.Tensor.repeat`). */
  repeat(reps: readonly number[]): Tensor {
    if (reps.length < this.rank) {
      throw new ShapeError("repeat", `needs at least ${this.rank} repeats, got ${reps.length}`);
    }
    return composite(() => {
      const x = this.reshape([...new Array(reps.length - this.rank).fill(1), ...this.shape]);
      const inter: number[] = [];
      const expanded: number[] = [];
      const final: number[] = [];
      x.shape.forEach((s, i) => {
        inter.push(1, s);
        expanded.push(reps[i], s);
        final.push(reps[i] * s);
      });
      return x.reshape(inter).expand(expanded).reshape(final);
    });
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
// Node construction helpers
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
// The backward engine's view of the class
// ---------------------------------------------------------------------------------------------

/**
 * The constructors the backward engine and the gradient rules use (they run on
 * {@link GradTensor}s, which here are always `Tensor`s). @internal
 */
export const TENSOR_KIT: TensorKit = {
  wrap: (node: LazyNode, view: View) => new Tensor(node, view),
  constant: (like: Tensor, value: number, dtype: DType, shape: Shape) =>
    constant(like._backend, value, dtype, shape),
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

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/**
 * Reads several tensors with one synchronisation per device.
 * @internal
 */
export async function readTensors(ts: readonly Tensor[]): Promise<TensorData[]> {
  for (const t of ts) t._check("data");
  // Resolve cross-device transfers whose source cannot be read synchronously.
  await resolveTransfers(ts.map((t) => t._node));
  const contiguous = ts.map((t) => (isContiguous(t._view) ? t : t.ew("copy", [])));
  const byBackend = new Map<Backend, Tensor[]>();
  for (const t of contiguous) {
    let list = byBackend.get(t._backend);
    if (!list) byBackend.set(t._backend, list = []);
    list.push(t);
  }
  for (const [, list] of byBackend) realizeNodes(list.map((t) => t._node));
  const results = new Map<Tensor, Float32Array | Int32Array>();
  await Promise.all(
    [...byBackend].map(async ([be, list]) => {
      const nonEmpty = list.filter((t) => t.size > 0);
      const data = await be.read(nonEmpty.map((t) => ({
        buf: t._node.buffer!,
        offset: t._node.bufferOffset + t._view.offset,
        n: t.size,
        dtype: t.dtype,
      })));
      nonEmpty.forEach((t, i) => results.set(t, data[i]));
    }),
  );
  const out = contiguous.map((t) =>
    toPublicData(t.dtype, results.get(t) ?? storageArray(t.dtype, 0))
  );
  contiguous.forEach((t, i) => {
    if (t !== ts[i]) t.dispose();
  });
  return out;
}

/** Realizes the sources of transfer nodes that need an asynchronous read. */
async function resolveTransfers(roots: LazyNode[]): Promise<void> {
  const stack = [...roots];
  const seen = new Set<LazyNode>();
  const transfers: LazyNode[] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n.realized) continue;
    seen.add(n);
    if (n.op.kind === "transfer" && !n.srcs[0].node.backend.readSync) transfers.push(n);
    for (const s of n.srcs) stack.push(s.node);
  }
  // Deepest first: a transfer's source may itself contain transfers.
  for (const n of transfers.reverse()) {
    if (n.realized) continue;
    const src = new Tensor(n.srcs[0].node, n.srcs[0].view);
    const [d] = await readTensors([src]);
    src.dispose();
    const stored = n.dtype === "bool"
      ? Int32Array.from(d as Uint8Array)
      : d as Float32Array | Int32Array;
    const buf = n.backend.alloc(numel(n.shape));
    n.backend.write(buf, stored);
    n.setBuffer(buf);
  }
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
  await resolveTransfers(ts.map((t) => t._node));
  realize(...ts);
  await Promise.all([...new Set(ts.map((t) => t._backend))].map((b) => b.sync()));
}
