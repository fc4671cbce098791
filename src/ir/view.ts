/**
 * Strided views: how a tensor's logical multi-index maps to an element of its base storage.
 * Movement ops (reshape, permute, expand, slice) are pure view arithmetic and never copy.
 * @module
 */

import { fmtShape, ShapeError } from "../errors.ts";

/** A shape: non-negative integer sizes. */
export type Shape = readonly number[];

/** Maps a multi-index `i` to storage element `offset + sum(i[d] * strides[d])`. */
export interface View {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Number of elements of a shape. */
export function numel(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major (C) strides of a shape. */
export function contiguousStrides(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = shape[d] === 1 ? 0 : acc;
    acc *= shape[d];
  }
  return st;
}

/** A contiguous view of a fresh buffer of this shape. */
export function contiguousView(shape: Shape, offset = 0): View {
  return { shape: [...shape], strides: contiguousStrides(shape), offset };
}

/** True when the view reads elements offset..offset+numel in row-major order. */
export function isContiguous(v: View): boolean {
  let acc = 1;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    if (v.shape[d] === 1) continue;
    if (v.strides[d] !== acc) return false;
    acc *= v.shape[d];
  }
  return true;
}

/** True when the view is contiguous and starts at element 0 of its base. */
export function isIdentity(v: View, baseNumel: number): boolean {
  return v.offset === 0 && numel(v.shape) === baseNumel && isContiguous(v);
}

/** Normalises a possibly negative axis. */
export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1) && !(rank === 0 && a === 0)) {
    throw new ShapeError(op, `axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, op = "broadcast"): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        op,
        `shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast: axis ${i} (from the left of ` +
          `the broadcast shape) has ${da} vs ${db}; sizes must match or be 1`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Permutes the axes of a view. */
export function permuteView(v: View, perm: readonly number[]): View {
  const r = v.shape.length;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) {
    throw new ShapeError("permute", `perm ${fmtShape(perm)} is not a permutation of ${r} axes`);
  }
  return {
    shape: perm.map((p) => v.shape[p]),
    strides: perm.map((p) => v.strides[p]),
    offset: v.offset,
  };
}

/** Broadcasts a view to a larger shape (new leading axes or size-1 axes get stride 0). */
export function expandView(v: View, shape: Shape): View {
  const r = shape.length;
  if (r < v.shape.length) {
    throw new ShapeError(
      "expand",
      `cannot expand ${fmtShape(v.shape)} to fewer dimensions ${fmtShape(shape)}`,
    );
  }
  const strides = new Array<number>(r);
  const lead = r - v.shape.length;
  for (let d = 0; d < r; d++) {
    if (d < lead) {
      strides[d] = 0;
      continue;
    }
    const src = v.shape[d - lead];
    if (src === shape[d]) strides[d] = v.strides[d - lead];
    else if (src === 1) strides[d] = 0;
    else {
      throw new ShapeError(
        "expand",
        `cannot expand ${fmtShape(v.shape)} to ${fmtShape(shape)}: axis ${d} has size ${src}, ` +
          `only size-1 axes can be expanded`,
      );
    }
  }
  return { shape: [...shape], strides, offset: v.offset };
}

/** Slices a view: `starts[d]..starts[d]+sizes[d]` along each axis (size -1 = to the end). */
export function sliceView(v: View, starts: readonly number[], sizes: readonly number[]): View {
  const r = v.shape.length;
  if (starts.length > r || sizes.length > starts.length) {
    throw new ShapeError(
      "slice",
      `starts ${fmtShape(starts)} / sizes ${fmtShape(sizes)} do not fit a tensor of shape ` +
        fmtShape(v.shape),
    );
  }
  let offset = v.offset;
  const shape = [...v.shape];
  for (let d = 0; d < starts.length; d++) {
    const dim = v.shape[d];
    let s = starts[d];
    if (s < 0) s += dim;
    let n = sizes[d] ?? -1;
    if (n < 0) n = dim - s;
    if (!Number.isInteger(s) || !Number.isInteger(n) || s < 0 || n < 0 || s + n > dim) {
      throw new ShapeError(
        "slice",
        `axis ${d}: start ${starts[d]} size ${sizes[d] ?? -1} is outside [0, ${dim}) of shape ` +
          fmtShape(v.shape),
      );
    }
    offset += s * v.strides[d];
    shape[d] = n;
  }
  return { shape, strides: [...v.strides], offset };
}

/**
 * Reshapes a view without copying when the strides allow it (NumPy's no-copy reshape);
 * returns `null` when a copy is needed.
 */
export function reshapeView(v: View, shape: Shape): View | null {
  if (numel(shape) !== numel(v.shape)) {
    throw new ShapeError(
      "reshape",
      `cannot reshape ${fmtShape(v.shape)} (${numel(v.shape)} elements) to ${fmtShape(shape)} ` +
        `(${numel(shape)} elements)`,
    );
  }
  if (isContiguous(v)) return contiguousView(shape, v.offset);
  // Drop size-1 axes, then match groups of old axes to groups of new axes.
  const oldDims: number[] = [];
  const oldStr: number[] = [];
  for (let d = 0; d < v.shape.length; d++) {
    if (v.shape[d] !== 1) {
      oldDims.push(v.shape[d]);
      oldStr.push(v.strides[d]);
    }
  }
  const newStr = new Array<number>(shape.length).fill(0);
  let oi = 0;
  const newNon1: number[] = [];
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) newNon1.push(d);
  let nj = 0;
  while (oi < oldDims.length && nj < newNon1.length) {
    let op = oldDims[oi];
    let np = shape[newNon1[nj]];
    const oStart = oi;
    const nStart = nj;
    while (op !== np) {
      if (op < np) op *= oldDims[++oi];
      else np *= shape[newNon1[++nj]];
    }
    // Old axes oStart..oi must be mutually contiguous.
    for (let k = oStart; k < oi; k++) {
      if (oldStr[k] !== oldStr[k + 1] * oldDims[k + 1]) return null;
    }
    // Assign new strides from the innermost old axis outward.
    let st = oldStr[oi];
    for (let k = nj; k >= nStart; k--) {
      newStr[newNon1[k]] = st;
      st *= shape[newNon1[k]];
    }
    oi++;
    nj++;
  }
  return { shape: [...shape], strides: newStr, offset: v.offset };
}

/**
 * Resolves a reshape target that may contain one `-1`; `from` (the source shape) is named in the
 * error when the sizes do not match.
 */
export function inferShape(shape: readonly number[], total: number, from?: Shape): number[] {
  const neg = shape.filter((s) => s === -1).length;
  if (neg > 1) throw new ShapeError("reshape", `at most one -1 allowed, got ${fmtShape(shape)}`);
  const known = shape.reduce((a, s) => (s === -1 ? a : a * s), 1);
  const out = shape.map((s) => (s === -1 ? (known === 0 ? 0 : total / known) : s));
  if (out.some((s) => !Number.isInteger(s) || s < 0) || numel(out) !== total) {
    throw new ShapeError(
      "reshape",
      `cannot reshape ${from ? `${fmtShape(from)} (${total} elements)` : `${total} elements`} ` +
        `to ${fmtShape(shape)}`,
    );
  }
  return out;
}

/** Checks that a shape is a list of non-negative integers. */
export function assertShape(shape: readonly number[], op: string): number[] {
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new ShapeError(op, `shape must be a list of non-negative integers, got ${String(shape)}`);
  }
  return [...shape];
}

/** Equality of shapes. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
