/**
 * The lazy graph. Every op records a {@link LazyNode}; nothing runs until the scheduler
 * realizes a set of nodes. A node always produces a contiguous array of its own shape; tensors
 * look at a node through a strided {@link View}, so movement ops never create nodes.
 *
 * Lifetime: a node counts its references (tensors plus unrealized consumer nodes). When a node
 * is realized it drops its sources, which cuts the graph; when its count reaches zero its buffer
 * returns to the backend pool.
 * @module
 */

import type { Backend, DeviceBuffer, ReduceOp } from "../backend/types.ts";
import type { DType } from "../ir/dtype.ts";
import type { Shape, View } from "../ir/view.ts";

/** A source edge: a node seen through a view. */
export interface Src {
  readonly node: LazyNode;
  readonly view: View;
}

/** Op-specific parameters of hand-written kernels, see `schedule.ts`. */
export type KernelParams = Readonly<Record<string, unknown>>;

/** What a node computes. */
export type NodeOp =
  | { readonly kind: "buffer" }
  | { readonly kind: "const"; readonly value: number }
  | { readonly kind: "index" }
  | { readonly kind: "ew"; readonly op: string }
  | { readonly kind: "cast" }
  | {
    readonly kind: "reduce";
    readonly op: ReduceOp | "argmax" | "argmin";
    readonly axes: number[];
  }
  | { readonly kind: "kernel"; readonly name: string; readonly params: KernelParams }
  | { readonly kind: "concat"; readonly axis: number }
  | {
    readonly kind: "rng";
    readonly dist: "uniform" | "normal" | "bits";
    readonly key: [number, number];
  }
  | { readonly kind: "transfer" };

let nextId = 1;

/** While compile() traces, every node that receives a buffer is logged here. @internal */
let bufferLog: LazyNode[] | null = null;

/** Starts (array) or stops (null) logging nodes that receive buffers. @internal */
export function setBufferLog(log: LazyNode[] | null): void {
  bufferLog = log;
}

/** Live-node statistics for `memoryInfo()`. */
export const graphStats: { liveNodes: number } = { liveNodes: 0 };

/** A node of the lazy graph. */
export class LazyNode {
  /** Unique id. */
  readonly id: number = nextId++;
  /** Sources; emptied once the node is realized. */
  srcs: Src[];
  /** What the node computes; becomes `buffer` once realized. */
  op: NodeOp;
  /** The buffer holding the node's contiguous value once realized. */
  buffer: DeviceBuffer | null = null;
  /** Element offset of the value inside `buffer` (nonzero for arena-backed parameters). */
  bufferOffset = 0;
  /** True when `buffer` is shared (an arena): never returned to the pool by this node. */
  borrowed = false;
  /** Tensors and unrealized consumers holding this node. */
  refs = 0;
  /** Set once freed, to catch use-after-dispose. */
  freed = false;
  /** Bumped by every in-place write into the buffer (parameter updates). */
  version = 0;
  /** Version of each source when this node was recorded (to detect stale reads). */
  srcVersions: number[];
  /**
   * Smallest and largest element of an int32 buffer written from host data (known without a
   * read-back, for checks such as action indices); null when unknown. Valid while `version` is 0.
   */
  hostRange: readonly [number, number] | null = null;

  constructor(
    readonly backend: Backend,
    readonly shape: Shape,
    readonly dtype: DType,
    op: NodeOp,
    srcs: Src[] = [],
  ) {
    this.op = op;
    this.srcs = srcs;
    this.srcVersions = srcs.map((s) => s.node.version);
    for (const s of srcs) s.node.refs++;
    graphStats.liveNodes++;
  }

  /** True when the node holds its value in a buffer. */
  get realized(): boolean {
    return this.buffer !== null;
  }

  /** Marks the node realized into `buffer` and releases its sources. */
  setBuffer(buffer: DeviceBuffer, offset = 0, borrowed = false): void {
    if (bufferLog) bufferLog.push(this);
    this.buffer = buffer;
    this.bufferOffset = offset;
    this.borrowed = borrowed;
    const srcs = this.srcs;
    this.srcs = [];
    this.srcVersions = [];
    this.op = { kind: "buffer" };
    for (const s of srcs) release(s.node);
  }
}

/** Adds a reference. */
export function retain(node: LazyNode): void {
  node.refs++;
}

/** Drops a reference; frees the node (and, transitively, its sources) at zero. */
export function release(node: LazyNode): void {
  const stack = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if (--n.refs > 0) continue;
    if (n.freed) continue;
    n.freed = true;
    graphStats.liveNodes--;
    if (n.buffer && !n.borrowed) n.backend.free(n.buffer);
    n.buffer = null;
    for (const s of n.srcs) stack.push(s.node);
    n.srcs = [];
  }
}
