/**
 * The backend interface: what the scheduler hands to a device. A backend owns buffers and runs
 * {@link Kernel}s; it knows nothing of tensors, graphs or autograd.
 * @module
 */

import type { DType } from "../ir/dtype.ts";
import type { Expr } from "../ir/expr.ts";
import type { Shape, View } from "../ir/view.ts";

/** Devices a tensor can live on. */
export type DeviceName = "cpu" | "webgpu";

/** An opaque buffer of 4-byte elements owned by a backend. */
export interface DeviceBuffer {
  /** Unique id (for caching bind groups and debugging). */
  readonly id: number;
  /** Capacity in elements. */
  readonly size: number;
}

/** A strided region of a buffer. */
export interface BufView {
  readonly buf: DeviceBuffer;
  readonly view: View;
}

/** Reductions over axes. */
export type ReduceOp = "sum" | "max" | "min" | "prod";

/** Activation applied in place by some fused kernels. */
export type Activation = "none" | "relu" | "silu" | "tanh" | "sigmoid";

/** Elementwise fused kernel: `out[i] = expr(i)` over the output shape (`out.view.shape`). */
export interface EwKernel {
  readonly kind: "ew";
  readonly out: BufView;
  readonly expr: Expr;
  readonly inputs: readonly DeviceBuffer[];
  readonly consts: readonly number[];
}

/**
 * Reduction over the last `reduceSize` positions of a frame: the expression is evaluated on the
 * frame `[...outShape, ...reduceShape]` at linear index `o * reduceSize + r`; out is contiguous.
 */
export interface ReduceKernel {
  readonly kind: "reduce";
  readonly op: ReduceOp | "argmax" | "argmin";
  readonly out: BufView;
  readonly outSize: number;
  readonly reduceSize: number;
  /** Frame shape the expression is indexed in (`numel = outSize * reduceSize`). */
  readonly frame: Shape;
  readonly expr: Expr;
  readonly inputs: readonly DeviceBuffer[];
  readonly consts: readonly number[];
}

/**
 * Batched matmul `out[b] = epilogue(a[b] @ b[b])`. `a.view` has shape `[...batch, M, K]`,
 * `b.view` `[...batch, K, N]` (batch axes broadcast with stride 0; transposed operands are just
 * strides). `out` is contiguous `[...batch, M, N]`. The optional epilogue is an expression over
 * the output frame in which `{k: "acc"}` is the product.
 */
export interface MatmulKernel {
  readonly kind: "matmul";
  readonly out: BufView;
  readonly a: BufView;
  readonly b: BufView;
  readonly batch: Shape;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly epilogue: Expr | null;
  readonly inputs: readonly DeviceBuffer[];
  readonly consts: readonly number[];
}

/** softmax / logSoftmax / logsumexp over the last axis of a contiguous `[rows, cols]`. */
export interface SoftmaxKernel {
  readonly kind: "softmax";
  readonly mode: "softmax" | "logsoftmax" | "logsumexp";
  readonly x: BufView;
  readonly out: BufView;
  readonly rows: number;
  readonly cols: number;
}

/**
 * layerNorm / rmsNorm over the last axis of a contiguous `[rows, cols]`. With `dy` the kernel is
 * the normalisation's backward instead: `out` is the gradient with respect to `x` for the output
 * gradient `dy` (also `[rows, cols]`), through the weight when one is given (`bias` is null).
 */
export interface NormKernel {
  readonly kind: "norm";
  readonly mode: "layer" | "rms";
  readonly x: BufView;
  readonly dy: BufView | null;
  readonly weight: BufView | null;
  readonly bias: BufView | null;
  readonly out: BufView;
  readonly rows: number;
  readonly cols: number;
  readonly eps: number;
}

/** Geometry of a 2-D convolution (NCHW, PyTorch weight layouts). */
export interface ConvGeometry {
  readonly n: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  readonly padding: number;
  readonly outH: number;
  readonly outW: number;
}

/**
 * conv2d: x `[n, cin, h, w]`, weight `[cout, cin, kh, kw]` -> `[n, cout, outH, outW]`.
 * convTranspose2d: x `[n, cin, h, w]`, weight `[cin, cout, kh, kw]` -> `[n, cout, outH, outW]`.
 * conv2dWeightGrad: x `[n, cin, h, w]`, dy `[n, cout, outH, outW]` -> dW `[cout, cin, kh, kw]`.
 * convTranspose2dWeightGrad: x `[n, cin, h, w]`, dy `[n, cout, outH, outW]` -> dW
 * `[cin, cout, kh, kw]`. All operands contiguous.
 */
export interface ConvKernel {
  readonly kind: "conv";
  readonly mode: "conv2d" | "convTranspose2d" | "conv2dWeightGrad" | "convTranspose2dWeightGrad";
  readonly geom: ConvGeometry;
  readonly x: BufView;
  readonly w: BufView;
  readonly bias: BufView | null;
  readonly out: BufView;
}

/** Geometry of 2-D pooling / upsampling on NCHW. */
export interface PoolGeometry {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly k: number;
  readonly stride: number;
  readonly outH: number;
  readonly outW: number;
}

/**
 * Pooling and nearest upsampling on contiguous NCHW:
 * - `max`, `avg`: window k, stride -> out `[n, c, outH, outW]`
 * - `maxGrad`: routes `dy` (`[n, c, outH, outW]`) to the argmax of each window of `x`
 * - `avgGrad`: spreads `dy` evenly over each window
 * - `upsample`: nearest, factor `k` (out = in * k)
 * - `upsampleGrad`: sums `dy` over each k x k block
 */
export interface PoolKernel {
  readonly kind: "pool";
  readonly mode: "max" | "avg" | "maxGrad" | "avgGrad" | "upsample" | "upsampleGrad";
  readonly geom: PoolGeometry;
  readonly x: BufView;
  readonly dy: BufView | null;
  readonly out: BufView;
}

/**
 * Gather along an axis of a contiguous `[outer, axisSize, inner]` source with int32 indices
 * `[outer, nIdx, inner]` (`mode: "gather"`); or scatter-add of `src` `[outer, nIdx, inner]` into
 * a zero-initialised `[outer, axisSize, inner]` output (`mode: "scatterAdd"`).
 */
export interface GatherKernel {
  readonly kind: "gather";
  readonly mode: "gather" | "scatterAdd";
  readonly src: BufView;
  readonly indices: BufView;
  readonly out: BufView;
  readonly outer: number;
  readonly axisSize: number;
  readonly nIdx: number;
  readonly inner: number;
}

/**
 * Counter-based random numbers (threefry2x32-20, as in JAX): element `i` is derived from
 * `(key, counter + i)` only, so results do not depend on the device or on how work is split.
 */
export interface RngKernel {
  readonly kind: "rng";
  readonly dist: "uniform" | "normal" | "bits";
  readonly key: readonly [number, number];
  readonly counter: number;
  readonly out: BufView;
  readonly n: number;
}

/** Sorts each contiguous row of `[rows, cols]` (stable); writes the int32 indices of the order. */
export interface SortKernel {
  readonly kind: "sort";
  readonly descending: boolean;
  readonly x: BufView;
  readonly indices: BufView;
  readonly rows: number;
  readonly cols: number;
}

/**
 * Fused optimizer update over flat parameter/gradient/moment buffers (see src/optim). The
 * gradient used is `grad * gradScale * scale[0]` (`scale`: a device-side factor such as the
 * global-norm clip, so clipping needs no read-back; null means 1).
 */
export interface OptimKernel {
  readonly kind: "optim";
  readonly rule: "adam" | "laprop";
  readonly param: BufView;
  readonly grad: BufView;
  readonly m: BufView;
  readonly v: BufView;
  readonly scale: BufView | null;
  readonly n: number;
  /** lr, beta1, beta2, eps, weightDecay, bias-correction1, bias-correction2, gradScale. */
  readonly hyper: readonly number[];
}

/** Every kernel a backend must run. */
export type Kernel =
  | EwKernel
  | ReduceKernel
  | MatmulKernel
  | SoftmaxKernel
  | NormKernel
  | ConvKernel
  | PoolKernel
  | GatherKernel
  | RngKernel
  | SortKernel
  | OptimKernel;

/** A read request: `n` contiguous elements from `offset`. */
export interface ReadRequest {
  readonly buf: DeviceBuffer;
  readonly offset: number;
  readonly n: number;
  readonly dtype: DType;
}

/** Buffer and byte counts a backend reports. */
export interface BackendMemory {
  /** Buffers handed out and not yet freed. */
  readonly buffers: number;
  /** Bytes of the buffers handed out. */
  readonly bytes: number;
  /** Bytes held in the pool for reuse. */
  readonly pooledBytes: number;
}

/** A device backend. */
export interface Backend {
  readonly name: DeviceName;
  /** Most distinct input buffers one fused kernel may bind. */
  readonly maxKernelInputs: number;
  /** Largest buffer in elements. */
  readonly maxBufferElements: number;
  /** Allocates a buffer of at least `n` elements (contents undefined). */
  alloc(n: number): DeviceBuffer;
  /** Returns a buffer to the pool. */
  free(buf: DeviceBuffer): void;
  /** Writes data at an element offset. */
  write(buf: DeviceBuffer, data: Float32Array | Int32Array, offset?: number): void;
  /** Reads several regions with one synchronisation. */
  read(reqs: readonly ReadRequest[]): Promise<(Float32Array | Int32Array)[]>;
  /** Reads synchronously when the backend can (cpu); undefined otherwise. */
  readSync?(req: ReadRequest): Float32Array | Int32Array;
  /** Records (or runs) a kernel. */
  run(kernel: Kernel): void;
  /**
   * Does the planning of a kernel once (code generation, parameter words, bindings) and
   * returns a function that runs it again and again: compiled steps replay through it.
   */
  prepare?(kernel: Kernel): () => void;
  /** Submits recorded work without waiting. */
  flush(): void;
  /** Resolves when all submitted work has finished. */
  sync(): Promise<void>;
  /** Buffer statistics. */
  memory(): BackendMemory;
  /** Number of kernel dispatches recorded since creation (tests count fusion with it). */
  readonly dispatchCount: number;
}
