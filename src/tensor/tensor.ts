/**
 * The {@link Tensor}: an immutable value on a device, backed by a lazy graph node and a strided
 * view. Ops record nodes; values are computed when read (`await t.data()`) or `realize()`d.
 *
 * Autograd lives here too: every differentiable op records a backward closure when one of its
 * inputs requires a gradient and gradients are enabled (see `backward`, `grad`, `noGrad`).
 * @module
 */

import { DeviceError, DisposedError, DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { Backend, DeviceName, ReduceOp } from "../backend/types.ts";
import { getBackend, getDefaultDevice } from "../backend/device.ts";
import type { Ast } from "../ir/expr.ts";
import {
  assertDType,
  type DType,
  promote,
  storageArray,
  type TensorData,
  toPublicData,
} from "../ir/dtype.ts";
import { LazyNode, type NodeOp, release, retain, type Src } from "./lazy.ts";
import {
  type ElementwiseOp,
  elementwiseOp,
  GRAD_INPUTS,
  GRAD_OPERATORS,
  type GradRule,
} from "./ops_table.ts";
import { addPendingTarget, realizeNodes } from "./schedule.ts";
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

// ---------------------------------------------------------------------------------------------
// Scopes, statistics and finalisation
// ---------------------------------------------------------------------------------------------

/** Statistics of live tensors. @internal */
export const tensorStats: { live: number } = { live: 0 };

const scopes: Set<Tensor>[] = [];

const finalizer = new FinalizationRegistry<{ node: LazyNode; ctx: GradCtx | null }>((held) => {
  tensorStats.live--;
  release(held.node);
  if (held.ctx) releaseCtx(held.ctx);
});

/** @internal */
export function pushScope(): Set<Tensor> {
  const s = new Set<Tensor>();
  scopes.push(s);
  return s;
}

/** @internal */
export function popScope(s: Set<Tensor>): void {
  const top = scopes.pop();
  if (top !== s) throw new Error("internal: tidy scopes popped out of order");
}

/** Adds a tensor to the innermost open tidy scope (a tidy's result joins its parent). @internal */
export function adoptIntoScope(t: Tensor): void {
  const s = scopes[scopes.length - 1];
  if (s && !t.isDisposed) s.add(t);
}

/** Removes a tensor from every open tidy scope so it survives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/**
 * Runs the body of an op built from other ops: every tensor it creates except its result(s) is
 * disposed when it returns (the result's graph holds the nodes it needs), so the op's
 * intermediates neither count as live tensors nor keep buffers (its inputs' included) alive
 * until garbage collection. @internal
 */
export function composite<T extends Tensor | Tensor[]>(fn: () => T): T {
  const scope = pushScope();
  let out: T;
  try {
    out = fn();
  } catch (e) {
    popScope(scope);
    for (const t of scope) t.dispose();
    throw e;
  }
  popScope(scope);
  const results = new Set<Tensor>(Array.isArray(out) ? out : [out]);
  for (const t of scope) {
    if (results.has(t)) adoptIntoScope(t);
    else t.dispose();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Autograd state
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

/** A saved value: a node reference held by a backward closure. */
interface Saved {
  readonly node: LazyNode;
  readonly view: View;
  readonly dtype: DType;
  /** The node's version when saved: an in-place update since then invalidates the graph. */
  readonly version: number;
}

/** Computes input gradients from the output gradient and the saved values. */
export type BackwardFn = (g: Tensor, saved: Tensor[]) => (Tensor | null)[];

/** What an op output remembers for backward. @internal */
export interface GradCtx {
  /** The op that produced the tensor (for debugging and error messages). */
  readonly op: string;
  /** Inputs, in order; gradients route to the ones that require grad. */
  readonly parents: readonly Tensor[];
  /** Values the rule needs, held as node references so `dispose()` of inputs is safe. */
  saved: Saved[];
  readonly backward: BackwardFn;
  released: boolean;
}

function releaseCtx(ctx: GradCtx): void {
  if (ctx.released) return;
  ctx.released = true;
  for (const s of ctx.saved) release(s.node);
  ctx.saved = [];
}

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
export class Tensor {
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
  private readonly held: { node: LazyNode; ctx: GradCtx | null };
  /** Whether gradients flow to this tensor (leaf tensors accumulate them in `grad`). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;

  /** @internal Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(node: LazyNode, view: View) {
    this._node = node;
    this._view = view;
    retain(node);
    tensorStats.live++;
    this.held = { node, ctx: null };
    finalizer.register(this, this.held, this);
    const scope = scopes[scopes.length - 1];
    if (scope) scope.add(this);
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
    finalizer.unregister(this);
    tensorStats.live--;
    for (const s of scopes) s.delete(this);
    release(this._node);
    // The autograd context stays alive while other tensors' graphs may need it; it is released
    // by backward() or when this object is garbage collected.
    if (this._ctx) {
      const ctx = this._ctx;
      finalizerCtx.register(this, ctx);
    }
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
    return recordGrad(out, "to", [this], false, (g) => [g.to(this.device)]);
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
      const t = value instanceof Tensor ? value._check("assign") : toTensor(value, this);
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
    return elementwise(op, [this, ...others]);
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
    return reduce(this, "sum", axes, keepDims);
  }

  /** Mean over `axes` (all when omitted). */
  mean(axes?: number | number[] | null, keepDims = false): Tensor {
    const ax = normAxes(axes, this.rank, "mean");
    const n = ax.reduce((a, d) => a * this.shape[d], 1);
    return composite(() => reduce(this, "sum", ax, keepDims).div(n));
  }

  /** Maximum over `axes` (all when omitted). */
  max(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce(this, "max", axes, keepDims);
  }

  /** Minimum over `axes` (all when omitted). */
  min(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce(this, "min", axes, keepDims);
  }

  /** Product over `axes` (all when omitted). */
  prod(axes?: number | number[] | null, keepDims = false): Tensor {
    return reduce(this, "prod", axes, keepDims);
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
    return argReduce(this, "argmax", axis, keepDims);
  }

  /** Index of the minimum along `axis` (int32; first on ties). */
  argmin(axis = -1, keepDims = false): Tensor {
    return argReduce(this, "argmin", axis, keepDims);
  }

  /** `log(sum(exp(this)))` along `axis`, computed stably. */
  logsumexp(axis = -1, keepDims = false): Tensor {
    return composite(() => {
      const out = lastAxisKernel(this, axis, "logsumexp");
      if (keepDims || this.rank === 0) return out;
      return out.squeeze(normAxis(axis, this.rank, "logsumexp"));
    });
  }

  /** Softmax along `axis`. */
  softmax(axis = -1): Tensor {
    return composite(() => lastAxisKernel(this, axis, "softmax"));
  }

  /** Log-softmax along `axis`. */
  logSoftmax(axis = -1): Tensor {
    return composite(() => lastAxisKernel(this, axis, "logsoftmax"));
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
    const from = this.shape;
    return recordGrad(out, "reshape", [this], false, (g) => [g.reshape(from)]);
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
    const inv = new Array<number>(p.length);
    p.forEach((a, i) => (inv[a] = i));
    return recordGrad(out, "permute", [this], false, (g) => [g.permute(inv)]);
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
    const from = this.shape;
    return recordGrad(out, "expand", [this], false, (g) => [sumTo(g, from)]);
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
    return recordGrad(out, "slice", [this], false, (g) => [padTo(g, from, begin)]);
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
    return composite(() => gatherOp(this, indices, axis));
  }

  // -------------------------------------------------------------------------------------------
  // Linear algebra
  // -------------------------------------------------------------------------------------------

  /** Matrix product with NumPy/PyTorch semantics (batched, broadcasting batch axes). */
  matmul(other: Tensor): Tensor {
    return composite(() => matmulOp(this, other));
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

const finalizerCtx = new FinalizationRegistry<GradCtx>((ctx) => releaseCtx(ctx));

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

function sameBackend(ts: Tensor[], op: string): Backend {
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

function toTensor(x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x._check("op");
  if (typeof x === "boolean") return constant(like._backend, x ? 1 : 0, "bool");
  const dtype: DType = Number.isInteger(x) && like.dtype !== "float32" ? "int32" : "float32";
  return constant(like._backend, x, dtype);
}

// ---------------------------------------------------------------------------------------------
// Autograd recording
// ---------------------------------------------------------------------------------------------

/**
 * Records a backward rule on `out` when grads are enabled and an input requires them.
 * `save` lists the tensors whose values the rule reads (passed back to it as `saved`, in order);
 * `true` saves the inputs followed by the output, `false` saves nothing.
 * @internal
 */
export function recordGrad(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  save: boolean | Tensor[],
  backward: BackwardFn,
): Tensor {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  const toSave = save === true ? [...inputs, out] : save === false ? [] : save;
  const saved: Saved[] = toSave.map((t) => {
    retain(t._node);
    return { node: t._node, view: t._view, dtype: t.dtype, version: t._node.version };
  });
  out.requiresGrad = true;
  out._setCtx({ op, parents: inputs, saved, backward, released: false });
  return out;
}

/** Sums a gradient of a broadcast shape back to `shape`. @internal */
export function sumTo(g: Tensor, shape: Shape): Tensor {
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
export function padTo(g: Tensor, shape: Shape, begin: readonly number[]): Tensor {
  let r = g;
  for (let d = 0; d < shape.length; d++) {
    const b = begin[d] ?? 0;
    const after = shape[d] - b - r.shape[d];
    if (b === 0 && after === 0) continue;
    const parts: Tensor[] = [];
    const zshape = (n: number) => r.shape.map((s, i) => (i === d ? n : s));
    if (b > 0) parts.push(constant(r._backend, 0, r.dtype, zshape(b)));
    parts.push(r);
    if (after > 0) parts.push(constant(r._backend, 0, r.dtype, zshape(after)));
    r = concatOp(parts, d);
  }
  return r;
}

function savedTensors(ctx: GradCtx): Tensor[] {
  return ctx.saved.map((s) => {
    if (s.node.version !== s.version) {
      throw new DisposedError(
        `backward: a value saved by "${ctx.op}" (shape ${fmtShape(s.view.shape)}) was updated ` +
          `in place after the forward pass (an optimizer step or assign() between forward and ` +
          `backward); run backward before updating parameters`,
      );
    }
    return new Tensor(s.node, s.view);
  });
}

/**
 * Reverse-mode differentiation. Computes d(sum of outputs * seeds)/d(each input). With `inputs`
 * null, accumulates into the `.grad` of every reachable leaf that requires grad (backward());
 * otherwise returns the gradients of `inputs` (zeros for unreachable ones) and leaves `.grad`.
 * @internal
 */
export function backwardImpl(
  outputs: Tensor[],
  seeds: Tensor[] | undefined,
  inputs: Tensor[] | null,
  retainGraph: boolean,
): Tensor[] {
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
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  for (const root of outputs) {
    if (seen.has(root)) continue;
    const stack: [Tensor, number][] = [[root, 0]];
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
  const grads = new Map<Tensor, Tensor[]>();
  const addTerm = (t: Tensor, g: Tensor) => {
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
      seed = constant(o._backend, 1, "float32", o.shape);
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
  const result = new Map<Tensor, Tensor>();
  withGradMode(false, () => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const terms = grads.get(t);
      if (!terms) continue;
      grads.delete(t);
      const g = sumGradTerms(terms);
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
      const gs = ctx.backward(g, savedTensors(ctx));
      ctx.parents.forEach((p, j) => {
        const gj = gs[j];
        if (!gj || !p.requiresGrad) return;
        addTerm(p, gj);
      });
      if (!retainGraph) releaseCtx(ctx);
    }
  });
  if (!inputs) return [];
  return inputs.map((x) => keep(result.get(x) ?? constant(x._backend, 0, "float32", x.shape)));
}

/** Autograd options (tests compare merged and unmerged gradient sums). @internal */
export const gradOptions: { mergeMatmulTerms: boolean; mergeSliceTerms: boolean } = {
  mergeMatmulTerms: true,
  mergeSliceTerms: true,
};

/**
 * A gradient term that is a zero-padded slice (what `padTo`, the backward of slicing, builds):
 * a concat along `axis` whose parts are zero constants except `inner`, starting at `begin`.
 */
function paddedSliceTerm(t: Tensor): { axis: number; begin: number; inner: Tensor } | null {
  const node = t._node;
  if (node.realized || node.op.kind !== "concat") return null;
  const v = t._view;
  if (!isContiguous(v) || v.offset !== 0 || !sameShape(v.shape, node.shape)) return null;
  const axis = node.op.axis;
  let inner: Tensor | null = null;
  let begin = 0, at = 0;
  for (const s of node.srcs) {
    const isZero = s.node.op.kind === "const" && s.node.op.value === 0;
    if (!isZero) {
      if (inner) return null;
      inner = new Tensor(s.node, s.view);
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
function mergeSliceTerms(terms: Tensor[]): Tensor[] {
  const groups = new Map<string, { axis: number; begin: number; inner: Tensor }[]>();
  const out: Tensor[] = [];
  for (const t of terms) {
    const p = paddedSliceTerm(t);
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
        out.push(padTo(p.inner, shape, shape.map((_, d) => (d === axis ? p.begin : 0))));
      }
      continue;
    }
    const be = ps[0].inner._backend;
    const dtype = ps[0].inner.dtype;
    const zerosOf = (n: number) =>
      constant(be, 0, dtype, shape.map((s, d) => (d === axis ? n : s)));
    const parts: Tensor[] = [];
    let at = 0;
    for (const p of ps) {
      if (p.begin > at) parts.push(zerosOf(p.begin - at));
      parts.push(p.inner);
      at = p.begin + p.inner.shape[axis];
    }
    if (at < shape[axis]) parts.push(zerosOf(shape[axis] - at));
    out.push(concatOp(parts, axis));
  }
  return out;
}

/** A gradient term that is a matmul product, as (a, b) with term = a @ b. */
function matmulTerm(t: Tensor): [Tensor, Tensor] | null {
  const node = t._node;
  const op = node.op;
  if (node.realized || op.kind !== "kernel" || op.name !== "matmul" || node.srcs.length !== 2) {
    return null;
  }
  const r = node.shape.length;
  const [sa, sb] = node.srcs;
  // Only unbroadcast operands (same rank as the product): then concatenation is exact.
  if (sa.view.shape.length !== r || sb.view.shape.length !== r) return null;
  const a = new Tensor(sa.node, sa.view);
  const b = new Tensor(sb.node, sb.view);
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
function sumGradTerms(terms: Tensor[]): Tensor {
  if (terms.length === 1) return terms[0];
  if (gradOptions.mergeSliceTerms) {
    terms = mergeSliceTerms(terms);
    if (terms.length === 1) return terms[0];
  }
  if (!gradOptions.mergeMatmulTerms) return terms.reduce((a, b) => a.add(b));
  const groups = new Map<string, [Tensor, Tensor][]>();
  const rest: Tensor[] = [];
  for (const t of terms) {
    const mm = matmulTerm(t);
    if (!mm) {
      rest.push(t);
      continue;
    }
    const key = t.shape.join(",");
    const g = groups.get(key);
    if (g) g.push(mm);
    else groups.set(key, [mm]);
  }
  const parts: Tensor[] = [...rest];
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
        ? concatOp(ats, -2).mT
        : concatOp(pairs.map((p) => p[0]), -1);
      const b = concatOp(pairs.map((p) => p[1]), -2);
      parts.push(a.matmul(b));
    }
  }
  let sum = parts[0];
  for (let i = 1; i < parts.length; i++) sum = sum.add(parts[i]);
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Primitive ops
// ---------------------------------------------------------------------------------------------

/** Applies an elementwise op from the op table with broadcasting. @internal */
export function elementwise(op: string, args: TensorLike[]): Tensor {
  const def = elementwiseOp(op);
  const first = args.find((a): a is Tensor => a instanceof Tensor);
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

/**
 * Evaluates an op-table gradient rule (see {@link GradRule}) with tensor ops: `g` the output
 * gradient, `xs` the inputs (`a`, `b`, `c`), `out` the output. A subexpression shared by the
 * rule's expressions is computed once; number-only subexpressions fold in double precision.
 */
function evalGradRule(
  rule: GradRule,
  g: Tensor,
  xs: readonly Tensor[],
  out: Tensor,
): (Tensor | null)[] {
  const memo = new Map<Ast, TensorLike>();
  const value = (e: Ast): TensorLike => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    let v: TensorLike;
    switch (e.t) {
      case "num":
        v = e.v;
        break;
      case "var":
        v = e.name === "g" ? g : e.name === "out" ? out : xs[GRAD_INPUTS.indexOf(e.name)];
        break;
      case "un": {
        const a = value(e.a);
        v = typeof a === "number" && e.op === "-"
          ? -a
          : elementwise(GRAD_OPERATORS.unary[e.op], [a]);
        break;
      }
      case "bin": {
        const a = value(e.a), b = value(e.b);
        v = typeof a === "number" && typeof b === "number"
          ? foldNumbers(e.op, a, b)
          : elementwise(GRAD_OPERATORS.binary[e.op], [a, b]);
        break;
      }
      case "call":
        v = elementwise(e.fn, e.args.map(value));
        break;
    }
    memo.set(e, v);
    return v;
  };
  return rule.map((e) => {
    if (e === null) return null;
    const v = value(e);
    if (!(v instanceof Tensor)) throw new Error("internal: a gradient rule evaluated to a number");
    return v;
  });
}

/** `a op b` for two numbers of a gradient rule (arithmetic only). */
function foldNumbers(op: string, a: number, b: number): number {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return a / b;
  }
  throw new Error(`internal: gradient rule applies "${op}" to two numbers`);
}

function elementwiseOf(op: string, def: ElementwiseOp, ts: Tensor[]): Tensor {
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
  const out = fromNode(be, shape, dtype, { kind: "ew", op }, srcs);
  const grad = def.grad;
  if (!grad || dtype !== "float32") return out;
  const shapes = ts.map((t) => t.shape);
  return recordGrad(out, op, ts, [...ts, out], (g, saved) => {
    const xs = saved.slice(0, ts.length).map((t) => t.expand(shape));
    const gs = evalGradRule(grad, g, xs, saved[ts.length]);
    return gs.map((gi, i) => (gi && ts[i].dtype === "float32" ? sumTo(gi, shapes[i]) : null));
  });
}

function normAxes(axes: number | number[] | null | undefined, rank: number, op: string): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => normAxis(a, rank, op));
  if (new Set(list).size !== list.length) {
    throw new ShapeError(op, `axes ${fmtShape(list)} repeat an axis`);
  }
  return list.sort((a, b) => a - b);
}

function reduce(
  t: Tensor,
  op: ReduceOp,
  axes: number | number[] | null | undefined,
  keepDims: boolean,
): Tensor {
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
  let out: Tensor;
  if (ax.length === 0) out = t.ew("copy", []);
  else out = fromNode(t._backend, outShape, dtype, { kind: "reduce", op, axes: ax }, [t._src()]);
  if (keepDims) out = out.reshape(keptShape);
  if (dtype !== "float32") return out;
  const inShape = t.shape;
  if (op === "sum") {
    return recordGrad(out, "sum", [t], false, (g) => [g.reshape(keptShape).expand(inShape)]);
  }
  return recordGrad(out, op, [t], [t, out], (g, [x, y]) => {
    const yk = y.reshape(keptShape);
    const gk = g.reshape(keptShape);
    if (op === "prod") {
      // d/dx_i = product of the other entries. y / x is that only without zeros: where the
      // reduced slice has one zero, only the zero's position gets a gradient (the product of
      // the nonzero entries); with two or more zeros, no position does.
      const zero = x.eq(0);
      const zeros = zero.sum(ax, true);
      const safe = zero.ifElse(1, x);
      const onlyZero = zero.logicalAnd(zeros.eq(1)).ifElse(safe.prod(ax, true), 0);
      return [zeros.eq(0).ifElse(yk.div(safe), onlyZero).mul(gk)];
    }
    // Split the gradient evenly among the positions that attain the extremum.
    const mask = x.eq(yk).cast("float32");
    return [mask.div(mask.sum(ax, true)).mul(gk)];
  });
}

function argReduce(t: Tensor, op: "argmax" | "argmin", axis: number, keepDims: boolean): Tensor {
  t._check(op);
  const a = normAxis(axis, t.rank, op);
  if (t.shape[a] === 0) throw new ShapeError(op, `axis ${a} is empty`);
  const outShape = t.shape.filter((_, d) => d !== a);
  let out = fromNode(t._backend, outShape, "int32", { kind: "reduce", op, axes: [a] }, [t._src()]);
  if (keepDims) out = out.unsqueeze(a);
  return out;
}

/** Moves `axis` last, runs a last-axis kernel (softmax family), and moves it back. */
function lastAxisKernel(
  t: Tensor,
  axis: number,
  mode: "softmax" | "logsoftmax" | "logsumexp",
): Tensor {
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
  const save = mode === "logsumexp" ? [t, y] : [y];
  return recordGrad(y, mode, [t], save, (g, s) => {
    if (mode === "softmax") return [s[0].mul(g.sub(g.mul(s[0]).sum(a, true)))];
    if (mode === "logsoftmax") return [g.sub(s[0].exp().mul(g.sum(a, true)))];
    return [s[0].sub(s[1]).exp().mul(g)];
  });
}

/** Creates a hand-written-kernel node; the schedule's builder for `name` makes the kernel. */
export function kernelNode(
  name: string,
  inputs: Tensor[],
  params: Record<string, unknown>,
  shape: Shape,
  dtype: DType,
  op: string = name,
): Tensor {
  // `op` is the public name errors report (e.g. "layerNorm" for the "norm" kernel)
  for (const t of inputs) t._check(op);
  const be = sameBackend(inputs, op);
  return fromNode(be, shape, dtype, { kind: "kernel", name, params }, inputs.map((t) => t._src()));
}

/** Concatenates tensors along an axis. @internal */
export function concatOp(ts: Tensor[], axis: number): Tensor {
  return composite(() => concatImpl(ts, axis));
}

function concatImpl(ts: Tensor[], axis: number): Tensor {
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
  const out = fromNode(be, shape, dtype, { kind: "concat", axis: a }, casted.map((t) => t._src()));
  const sizes = ts.map((t) => t.shape[a]);
  return recordGrad(out, "concat", casted, false, (g) => g.split(sizes, a));
}

function matmulOp(a: Tensor, b: Tensor): Tensor {
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
  const aShape = a.shape, bShape = b.shape;
  return recordGrad(out, "matmul", [af, bf], [af, bf], (g, [x, y]) => [
    sumTo(g.matmul(y.mT), aShape),
    sumTo(x.mT.matmul(g), bShape),
  ]);
}

function gatherOp(x: Tensor, indices: Tensor, axis: number): Tensor {
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
  const xShape = x.shape;
  out = recordGrad(out, "gather", [xf], [idx], (g, [ix]) => [scatterAddOp(g, ix, a, xShape)]);
  return x.dtype === "float32" ? out : out.cast(x.dtype);
}

/** Scatter-adds `src` into zeros of `shape` at `indices` along `axis`. @internal */
export function scatterAddOp(src: Tensor, indices: Tensor, axis: number, shape: Shape): Tensor {
  return composite(() => scatterAddImpl(src, indices, axis, shape));
}

function scatterAddImpl(src: Tensor, indices: Tensor, axis: number, shape: Shape): Tensor {
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
  return recordGrad(out, "scatterAdd", [src], [indices], (g, [ix]) => [g.gather(ix, a)]);
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
