/**
 * Builders of the hand-written kernels: each turns a `kernel` node (its params and contiguous,
 * realized operands) into the backend {@link Kernel}. Matmul is built by the scheduler itself
 * because it takes strided operands and fuses epilogues.
 * @module
 */

import type { Backend, BufView, ConvGeometry, Kernel, PoolGeometry } from "../backend/types.ts";
import type { LazyNode } from "./lazy.ts";

/** Builds the hand-written kernel for a `kernel` node from its contiguous operands. */
export type KernelBuilderFn = (
  node: LazyNode,
  operands: BufView[],
  out: BufView,
  backend: Backend,
) => Kernel;

type P = Record<string, unknown>;

function params(n: LazyNode): P {
  return (n.op as { params: P }).params;
}

function outView(_n: LazyNode, out: BufView): BufView {
  return out;
}

/** Hand-written kernel builders by node name. */
export const KERNEL_BUILDERS: Record<string, KernelBuilderFn> = {
  softmax: (n, [x], out) => {
    const p = params(n) as {
      mode: "softmax" | "logsoftmax" | "logsumexp";
      rows: number;
      cols: number;
    };
    return { kind: "softmax", mode: p.mode, x, out: outView(n, out), rows: p.rows, cols: p.cols };
  },
  norm: (n, ops, out) => {
    const p = params(n) as {
      mode: "layer" | "rms";
      rows: number;
      cols: number;
      eps: number;
      hasWeight: boolean;
      hasBias: boolean;
      backward?: boolean;
    };
    // operands: x, then dy (backward), weight, bias when present
    let i = 1;
    const dy = p.backward ? ops[i++] : null;
    const weight = p.hasWeight ? ops[i++] : null;
    const bias = p.hasBias ? ops[i++] : null;
    return {
      kind: "norm",
      mode: p.mode,
      x: ops[0],
      dy,
      weight,
      bias,
      out: outView(n, out),
      rows: p.rows,
      cols: p.cols,
      eps: p.eps,
    };
  },
  conv: (n, ops, out) => {
    const p = params(n) as { mode: "conv2d"; geom: ConvGeometry; hasBias: boolean };
    return {
      kind: "conv",
      mode: p.mode,
      geom: p.geom,
      x: ops[0],
      w: ops[1],
      bias: p.hasBias ? ops[2] : null,
      out: outView(n, out),
    };
  },
  pool: (n, ops, out) => {
    const p = params(n) as { mode: "max"; geom: PoolGeometry };
    return {
      kind: "pool",
      mode: p.mode,
      geom: p.geom,
      x: ops[0],
      dy: ops[1] ?? null,
      out: outView(n, out),
    };
  },
  gather: (n, [src, indices], out) => {
    const p = params(n) as { outer: number; axisSize: number; nIdx: number; inner: number };
    return { kind: "gather", mode: "gather", src, indices, out: outView(n, out), ...p };
  },
  scatterAdd: (n, [src, indices], out) => {
    const p = params(n) as { outer: number; axisSize: number; nIdx: number; inner: number };
    return { kind: "gather", mode: "scatterAdd", src, indices, out: outView(n, out), ...p };
  },
  sort: (n, [x], out) => {
    const p = params(n) as { rows: number; cols: number; descending: boolean };
    return {
      kind: "sort",
      descending: p.descending,
      x,
      indices: outView(n, out),
      rows: p.rows,
      cols: p.cols,
    };
  },
};
