/**
 * Neural-network primitives on tensors: convolutions (NCHW, PyTorch weight layouts), pooling,
 * nearest upsampling, layer/RMS normalisation, sorting, scatter-add. Each has a gradient (its
 * rule in the gradient table, gradients.ts).
 * @module
 */

import { DTypeError, fmtShape, ShapeError } from "../errors.ts";
import type { ConvGeometry, PoolGeometry } from "../backend/types.ts";
import { recordGrad } from "./gradients.ts";
import { composite } from "./scope.ts";
import { kernelNode, scatterAddOp } from "./ops.ts";
import type { Tensor } from "./tensor.ts";
import { normAxis } from "../ir/view.ts";

/** Options of conv2d / convTranspose2d. */
export interface ConvOptions {
  /** Stride in both directions (default 1). */
  readonly stride?: number;
  /** Zero padding on every side (default 0). */
  readonly padding?: number;
  /** Bias `[cout]`. */
  readonly bias?: Tensor | null;
  /** Extra rows/columns added to one side of a transposed conv's output (default 0). */
  readonly outputPadding?: number;
}

function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== "float32") throw new DTypeError(op, `expects float32 tensors, got ${t.dtype}`);
  }
}

function checkRank(op: string, name: string, t: Tensor, rank: number, layout: string): void {
  if (t.rank !== rank) {
    throw new ShapeError(
      op,
      `${name} must be ${layout} (rank ${rank}), got shape ${fmtShape(t.shape)}`,
    );
  }
}

function convNode(
  mode: "conv2d" | "convTranspose2d" | "conv2dWeightGrad" | "convTranspose2dWeightGrad",
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  geom: ConvGeometry,
  shape: number[],
): Tensor {
  const inputs = bias ? [x, w, bias] : [x, w];
  return kernelNode("conv", inputs, { mode, geom, hasBias: !!bias }, shape, "float32", mode);
}

/**
 * 2-D convolution. `x`: `[n, cin, h, w]`; `weight`: `[cout, cin, kh, kw]`.
 *
 * @example
 * ```ts
 * import { conv2d, randn } from "@worldflux/worldflux";
 * const y = conv2d(randn([1, 3, 64, 64]), randn([32, 3, 4, 4]), { stride: 2, padding: 1 });
 * console.log(y.shape); // [1, 32, 32, 32]
 * ```
 */
export function conv2d(x: Tensor, weight: Tensor, opts: ConvOptions = {}): Tensor {
  checkFloat("conv2d", x, weight);
  checkRank("conv2d", "input", x, 4, "[n, cin, h, w]");
  checkRank("conv2d", "weight", weight, 4, "[cout, cin, kh, kw]");
  const stride = opts.stride ?? 1;
  const padding = opts.padding ?? 0;
  const [n, cin, h, w] = x.shape;
  const [cout, cin2, kh, kw] = weight.shape;
  if (cin !== cin2) {
    throw new ShapeError(
      "conv2d",
      `input has ${cin} channels (axis 1 of ${fmtShape(x.shape)}) but weight expects ${cin2} ` +
        `(axis 1 of ${fmtShape(weight.shape)})`,
    );
  }
  const outH = Math.floor((h + 2 * padding - kh) / stride) + 1;
  const outW = Math.floor((w + 2 * padding - kw) / stride) + 1;
  if (outH <= 0 || outW <= 0) {
    throw new ShapeError(
      "conv2d",
      `kernel ${kh}x${kw} does not fit input ${h}x${w} with padding ${padding}`,
    );
  }
  const bias = opts.bias ?? null;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError("conv2d", `bias must be [${cout}], got ${fmtShape(bias.shape)}`);
  }
  const geom: ConvGeometry = { n, cin, h, w, cout, kh, kw, stride, padding, outH, outW };
  const out = convNode("conv2d", x, weight, bias, geom, [n, cout, outH, outW]);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return recordGrad(out, "conv2d", inputs, [x, weight], { geom, hasBias: !!bias });
}

/**
 * 2-D transposed convolution. `x`: `[n, cin, h, w]`; `weight`: `[cin, cout, kh, kw]`
 * (PyTorch's layout). Output size `(h - 1) * stride - 2 * padding + kh + outputPadding`.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, opts: ConvOptions = {}): Tensor {
  checkFloat("convTranspose2d", x, weight);
  checkRank("convTranspose2d", "input", x, 4, "[n, cin, h, w]");
  checkRank("convTranspose2d", "weight", weight, 4, "[cin, cout, kh, kw]");
  const stride = opts.stride ?? 1;
  const padding = opts.padding ?? 0;
  const op = opts.outputPadding ?? 0;
  const [n, cin, h, w] = x.shape;
  const [cin2, cout, kh, kw] = weight.shape;
  if (cin !== cin2) {
    throw new ShapeError(
      "convTranspose2d",
      `input has ${cin} channels (axis 1 of ${fmtShape(x.shape)}) but weight expects ${cin2} ` +
        `(axis 0 of ${fmtShape(weight.shape)})`,
    );
  }
  const outH = (h - 1) * stride - 2 * padding + kh + op;
  const outW = (w - 1) * stride - 2 * padding + kw + op;
  if (outH <= 0 || outW <= 0) {
    throw new ShapeError("convTranspose2d", `output would be ${outH}x${outW}`);
  }
  const bias = opts.bias ?? null;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError("convTranspose2d", `bias must be [${cout}], got ${fmtShape(bias.shape)}`);
  }
  const geom: ConvGeometry = { n, cin, h, w, cout, kh, kw, stride, padding, outH, outW };
  const out = convNode("convTranspose2d", x, weight, bias, geom, [n, cout, outH, outW]);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return recordGrad(out, "convTranspose2d", inputs, [x, weight], { geom, hasBias: !!bias });
}

function poolGeom(op: string, x: Tensor, k: number, stride: number): PoolGeometry {
  checkFloat(op, x);
  checkRank(op, "input", x, 4, "[n, c, h, w]");
  const [n, c, h, w] = x.shape;
  const outH = Math.floor((h - k) / stride) + 1;
  const outW = Math.floor((w - k) / stride) + 1;
  if (k < 1 || stride < 1 || outH <= 0 || outW <= 0) {
    throw new ShapeError(op, `window ${k} stride ${stride} does not fit ${h}x${w}`);
  }
  return { n, c, h, w, k, stride, outH, outW };
}

/** Max pooling with a `k x k` window (stride defaults to k). */
export function maxPool2d(x: Tensor, k: number, stride: number = k): Tensor {
  const geom = poolGeom("maxPool2d", x, k, stride);
  const out = kernelNode(
    "pool",
    [x],
    { mode: "max", geom },
    [geom.n, geom.c, geom.outH, geom.outW],
    "float32",
    "maxPool2d",
  );
  return recordGrad(out, "maxPool2d", [x], [x], { geom, inShape: x.shape });
}

/** Average pooling with a `k x k` window (stride defaults to k). */
export function avgPool2d(x: Tensor, k: number, stride: number = k): Tensor {
  const geom = poolGeom("avgPool2d", x, k, stride);
  const out = kernelNode(
    "pool",
    [x],
    { mode: "avg", geom },
    [geom.n, geom.c, geom.outH, geom.outW],
    "float32",
    "avgPool2d",
  );
  return recordGrad(out, "avgPool2d", [x], [], { geom, inShape: x.shape });
}

/** Nearest-neighbour upsampling by an integer factor. */
export function upsampleNearest2d(x: Tensor, factor: number): Tensor {
  checkFloat("upsampleNearest2d", x);
  checkRank("upsampleNearest2d", "input", x, 4, "[n, c, h, w]");
  if (!Number.isInteger(factor) || factor < 1) {
    throw new ShapeError("upsampleNearest2d", `factor must be a positive integer, got ${factor}`);
  }
  const [n, c, h, w] = x.shape;
  const geom: PoolGeometry = {
    n,
    c,
    h,
    w,
    k: factor,
    stride: factor,
    outH: h * factor,
    outW: w * factor,
  };
  const out = kernelNode(
    "pool",
    [x],
    { mode: "upsample", geom },
    [n, c, h * factor, w * factor],
    "float32",
    "upsampleNearest2d",
  );
  const back: PoolGeometry = {
    n,
    c,
    h: h * factor,
    w: w * factor,
    k: factor,
    stride: factor,
    outH: h,
    outW: w,
  };
  return recordGrad(out, "upsampleNearest2d", [x], [], { back, inShape: [n, c, h, w] });
}

function normOp(
  mode: "layer" | "rms",
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): Tensor {
  const op = mode === "layer" ? "layerNorm" : "rmsNorm";
  checkFloat(op, x);
  if (x.rank === 0) throw new ShapeError(op, "needs at least one axis");
  const cols = x.shape[x.rank - 1];
  for (const [name, p] of [["weight", weight], ["bias", bias]] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== cols)) {
      throw new ShapeError(
        op,
        `${name} must be [${cols}] (the last axis of ${fmtShape(x.shape)}), got ${
          fmtShape(p.shape)
        }`,
      );
    }
  }
  const rows = x.size / Math.max(cols, 1);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = kernelNode(
    "norm",
    inputs,
    { mode, rows, cols, eps, hasWeight: !!weight, hasBias: !!bias },
    x.shape,
    "float32",
    op,
  );
  const save = weight ? [x, weight] : [x];
  const attrs = { mode, eps, rank: x.rank, hasWeight: !!weight, hasBias: !!bias };
  return recordGrad(out, op, inputs, save, attrs);
}

/** Layer normalisation over the last axis, with optional affine weight and bias. */
export function layerNorm(
  x: Tensor,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return normOp("layer", x, weight, bias, eps);
}

/** RMS normalisation over the last axis, with an optional weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  return normOp("rms", x, weight, null, eps);
}

/** Sorted values and their int32 indices along `axis`. */
export function sort(
  x: Tensor,
  axis = -1,
  descending = false,
): { values: Tensor; indices: Tensor } {
  const a = normAxis(axis, x.rank, "sort");
  const r = x.rank;
  const [values, indices] = composite(() => {
    const perm = Array.from({ length: r }, (_, i) => i);
    perm.splice(a, 1);
    perm.push(a);
    const xp = x.permute(perm);
    const cols = xp.shape[r - 1];
    const rows = xp.size / Math.max(cols, 1);
    const xf = xp.dtype === "float32" ? xp : xp.cast("float32");
    const idxLast = kernelNode("sort", [xf], { rows, cols, descending }, xp.shape, "int32", "sort");
    const inv = new Array<number>(r);
    perm.forEach((p, i) => (inv[p] = i));
    const indices = idxLast.permute(inv);
    return [x.gather(indices, a), indices];
  });
  return { values, indices };
}

/** `x` with NaN replaced by `value` (`torch.nan_to_num` for NaN). */
export function nanToNum(x: Tensor, value = 0): Tensor {
  return x.ne(x).ifElse(value, x);
}

/** The `k` largest (or smallest) values along `axis` and their indices. */
export function topk(
  x: Tensor,
  k: number,
  axis = -1,
  largest = true,
): { values: Tensor; indices: Tensor } {
  const a = normAxis(axis, x.rank, "topk");
  if (k < 0 || k > x.shape[a]) {
    throw new ShapeError("topk", `k = ${k} is outside [0, ${x.shape[a]}] for axis ${a}`);
  }
  const [values, indices] = composite(() => {
    const { values, indices } = sort(x, a, largest);
    return [values.narrow(a, 0, k), indices.narrow(a, 0, k)];
  });
  return { values, indices };
}

/** Adds `src` into zeros of `shape` at int32 `indices` along `axis` (`torch.scatter_add`). */
export function scatterAdd(
  src: Tensor,
  indices: Tensor,
  axis: number,
  shape: readonly number[],
): Tensor {
  if (indices.dtype !== "int32") {
    throw new DTypeError("scatterAdd", `indices must be int32, got ${indices.dtype}`);
  }
  return scatterAddOp(src, indices, axis, shape);
}
