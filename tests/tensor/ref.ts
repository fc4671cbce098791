/**
 * Host-side reference implementations for the tensor tests: plain loops over row-major arrays,
 * written independently of the library (no shared code with src/), in float64.
 * @module
 */

import type { DType } from "../../mod.ts";
import { numel } from "../util.ts";

/** A row-major array on the host. */
export interface HostArray {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /**
   * Optional per-element magnitude of the terms each value is computed from (see `assertClose`'s
   * `scale`): a float32 result that cancels to near zero is compared at this scale.
   */
  readonly scale?: ArrayLike<number>;
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= shape[d];
  }
  return st;
}

/** Multi-index of a flat row-major index. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** NumPy broadcasting of several shapes (throws on a mismatch). */
export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(r).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = r - s.length + i;
      if (s[i] !== 1) {
        if (out[d] !== 1 && out[d] !== s[i]) throw new Error(`ref: shapes do not broadcast`);
        out[d] = s[i];
      }
    }
  }
  return out;
}

/** For each flat index of `out`, the flat index of the broadcast source of shape `src`. */
export function broadcastIndex(src: readonly number[], out: readonly number[]): Int32Array {
  const n = numel(out);
  const map = new Int32Array(n);
  const sst = strides(src);
  const lead = out.length - src.length;
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out);
    let k = 0;
    for (let d = 0; d < src.length; d++) if (src[d] !== 1) k += idx[d + lead] * sst[d];
    map[i] = k;
  }
  return map;
}

/** Rounds a float64 value to what a tensor of `dtype` stores. */
export function store(v: number, dtype: DType): number {
  if (dtype === "float32") return Math.fround(v);
  if (dtype === "int32") return Math.trunc(v) | 0;
  return v !== 0 ? 1 : 0;
}

/** Elementwise map with broadcasting: `f` sees float64 values of the inputs. */
export function mapRef(
  inputs: readonly HostArray[],
  f: (...xs: number[]) => number,
  dtype: DType,
  scale?: (...xs: number[]) => number,
): HostArray {
  const shape = broadcastShape(...inputs.map((x) => x.shape));
  const maps = inputs.map((x) => broadcastIndex(x.shape, shape));
  const n = numel(shape);
  const data = new Array<number>(n);
  const sc = scale ? new Array<number>(n) : undefined;
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs.length; j++) args[j] = inputs[j].data[maps[j][i]];
    data[i] = store(f(...args), dtype);
    if (sc) sc[i] = scale!(...args);
  }
  return { data, shape, dtype, scale: sc };
}

/** Axis permutation. */
export function permuteRef(x: HostArray, perm: readonly number[]): HostArray {
  const shape = perm.map((p) => x.shape[p]);
  const st = strides(x.shape);
  const n = numel(shape);
  const data = new Array<number>(n);
  const scale = x.scale ? new Array<number>(n) : undefined;
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    let k = 0;
    for (let d = 0; d < perm.length; d++) k += idx[d] * st[perm[d]];
    data[i] = x.data[k];
    if (scale) scale[i] = x.scale![k];
  }
  return { data, shape, dtype: x.dtype, scale };
}

/** `x[starts[d] : starts[d] + sizes[d]]` with non-negative, resolved starts and sizes. */
export function sliceRef(
  x: HostArray,
  starts: readonly number[],
  sizes: readonly number[],
): HostArray {
  const shape = x.shape.map((s, d) => (d < sizes.length ? sizes[d] : s));
  const st = strides(x.shape);
  const n = numel(shape);
  const data = new Array<number>(n);
  const scale = x.scale ? new Array<number>(n) : undefined;
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    let k = 0;
    for (let d = 0; d < shape.length; d++) k += (idx[d] + (starts[d] ?? 0)) * st[d];
    data[i] = x.data[k];
    if (scale) scale[i] = x.scale![k];
  }
  return { data, shape, dtype: x.dtype, scale };
}

/** Broadcasts to `shape`. */
export function expandRef(x: HostArray, shape: readonly number[]): HostArray {
  const map = broadcastIndex(x.shape, shape);
  return { data: Array.from(map, (k) => x.data[k]), shape: [...shape], dtype: x.dtype };
}

/** Concatenation along `axis` (all of one dtype). */
export function concatRef(xs: readonly HostArray[], axis: number, dtype: DType): HostArray {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis], 0);
  const n = numel(shape);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    let j = 0;
    let at = idx[axis];
    while (at >= xs[j].shape[axis]) at -= xs[j++].shape[axis];
    const src = [...idx];
    src[axis] = at;
    const st = strides(xs[j].shape);
    data[i] = store(xs[j].data[src.reduce((k, c, d) => k + c * st[d], 0)], dtype);
  }
  return { data, shape, dtype };
}

/** Reduction ops of {@link reduceRef}. */
export type RefReduce = "sum" | "mean" | "max" | "min" | "prod" | "argmax" | "argmin";

/** Reduction over `axes` (sorted, non-negative); argmax/argmin take one axis, first on ties. */
export function reduceRef(
  x: HostArray,
  op: RefReduce,
  axes: readonly number[],
  keepDims: boolean,
  dtype: DType,
  withScale = true,
): HostArray {
  const keptShape = x.shape.map((s, d) => (axes.includes(d) ? 1 : s));
  const outShape = keepDims ? keptShape : x.shape.filter((_, d) => !axes.includes(d));
  const nOut = numel(keptShape);
  const acc = new Array<number>(nOut);
  const best = new Array<number>(nOut).fill(0);
  const count = new Array<number>(nOut).fill(0);
  const init = op === "sum" || op === "mean"
    ? 0
    : op === "prod"
    ? 1
    : op === "max" || op === "argmax"
    ? -Infinity
    : Infinity;
  acc.fill(init);
  const kst = strides(keptShape);
  const n = numel(x.shape);
  const rank = x.shape.length;
  const reduced = x.shape.map((_, d) => axes.includes(d));
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      // next multi-index in row-major order
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < x.shape[d]) break;
        idx[d] = 0;
      }
    }
    let o = 0;
    let r = 0;
    for (let d = 0; d < rank; d++) {
      if (reduced[d]) r = r * x.shape[d] + idx[d];
      else o += idx[d] * kst[d];
    }
    const v = x.data[i];
    switch (op) {
      case "sum":
      case "mean":
        acc[o] += v;
        break;
      case "prod":
        acc[o] *= v;
        break;
      case "max":
        acc[o] = Math.max(acc[o], v);
        break;
      case "min":
        acc[o] = Math.min(acc[o], v);
        break;
      case "argmax":
        if (count[o] === 0 || v > acc[o]) {
          acc[o] = v;
          best[o] = r;
        }
        break;
      case "argmin":
        if (count[o] === 0 || v < acc[o]) {
          acc[o] = v;
          best[o] = r;
        }
        break;
    }
    count[o]++;
  }
  const data = acc.map((a, o) =>
    op === "mean"
      ? store(a / count[o], dtype)
      : op === "argmax" || op === "argmin"
      ? best[o]
      : store(a, dtype)
  );
  // sums cancel: their natural scale is the sum (mean) of the magnitudes
  let scale: number[] | undefined;
  if ((op === "sum" || op === "mean") && withScale) {
    const abs = { ...x, data: Array.from(x.data, Math.abs) };
    scale = reduceRef(abs, op, axes, keepDims, "float32", false).data as number[];
  }
  return { data, shape: outShape, dtype, scale };
}

/** Applies `f` to each row along `axis` (rows are gathered, transformed, scattered back). */
export function alongAxis(
  x: HostArray,
  axis: number,
  f: (row: number[]) => number[],
  keep = true,
): HostArray {
  const len = x.shape[axis];
  const outLen = keep ? len : 1;
  const outShape = x.shape.map((s, d) => (d === axis ? outLen : s));
  const st = strides(x.shape);
  const ost = strides(outShape);
  const data = new Array<number>(numel(outShape));
  const lineShape = x.shape.map((s, d) => (d === axis ? 1 : s));
  for (let i = 0; i < numel(lineShape); i++) {
    const idx = unravel(i, lineShape);
    const base = idx.reduce((k, c, d) => k + c * st[d], 0);
    const obase = idx.reduce((k, c, d) => k + c * ost[d], 0);
    const row = Array.from({ length: len }, (_, j) => x.data[base + j * st[axis]]);
    const y = f(row);
    for (let j = 0; j < outLen; j++) data[obase + j * ost[axis]] = y[j];
  }
  return { data, shape: outShape, dtype: "float32" };
}

/**
 * Batched matmul with broadcast batch axes, in float64 (operands of rank >= 2); `scale` is
 * `|a| @ |b|`, the magnitude of the terms of each dot product.
 */
export function matmulRef(a: HostArray, b: HostArray): HostArray {
  const r = matmulPlain(a, b);
  const abs = (x: HostArray) => ({ ...x, data: Array.from(x.data, Math.abs) });
  return { ...r, scale: matmulPlain(abs(a), abs(b)).data };
}

function matmulPlain(a: HostArray, b: HostArray): HostArray {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const ai = broadcastIndex(a.shape.slice(0, -2), batch);
  const bi = broadcastIndex(b.shape.slice(0, -2), batch);
  const nb = numel(batch);
  const data = new Array<number>(nb * m * n);
  for (let q = 0; q < nb; q++) {
    const ao = ai[q] * m * k;
    const bo = bi[q] * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let l = 0; l < k; l++) s += a.data[ao + i * k + l] * b.data[bo + l * n + j];
        data[(q * m + i) * n + j] = s;
      }
    }
  }
  return { data, shape: [...batch, m, n], dtype: "float32" };
}

/** Round half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
