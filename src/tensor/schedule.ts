/**
 * The scheduler turns a set of lazy nodes into backend kernels.
 *
 * Fusion rules (in topological order over the unrealized graph):
 * - `const` and `index` nodes are never materialised: they become uniforms / the index.
 * - an elementwise node with one consumer that can take an expression (elementwise, reduce,
 *   concat) is *deferred*: its consumer inlines it, through any non-expanding view.
 * - a matmul with one elementwise consumer is deferred too: the consumer becomes the matmul's
 *   epilogue when it reads the product at its own index (bias, activation, residual, ...).
 * - everything else (targets, shared values, kernels, reductions) gets its own buffer.
 * @module
 */

import { DeviceError } from "../errors.ts";
import type { Backend, BufView, DeviceBuffer, Kernel } from "../backend/types.ts";
import { castTo, type Expr, instantiate, type VType, vtypeOf } from "../ir/expr.ts";
import { elementwiseOp } from "./ops_table.ts";
import { type LazyNode, release, type Src } from "./lazy.ts";
import { KERNEL_BUILDERS } from "./kernel_builders.ts";
import {
  contiguousStrides,
  contiguousView,
  isContiguous,
  numel,
  permuteView,
  reshapeView,
  sameShape,
  type Shape,
  sliceView,
  type View,
} from "../ir/view.ts";

/** Largest number of ops fused into one kernel before a producer gets its own buffer. */
const MAX_FUSED_OPS = 48;

/**
 * Whether fusion is enabled (tests turn it off to check fused against unfused results), and
 * whether a producer inlined through a permuting or reshaping view reads its sources through
 * the moved views (else through a frame node; benchmarks compare both).
 */
export const scheduleOptions: { fusion: boolean; moveViews: boolean } = {
  fusion: true,
  moveViews: true,
};

/**
 * A hook run for every kernel the scheduler emits (compile() records through it). `producer`
 * rebuilds a kernel whose parameters change from call to call (optimizer hyperparameters).
 */
export type KernelSink = (backend: Backend, kernel: Kernel, producer?: () => Kernel) => void;

let sink: KernelSink | null = null;

/** Routes emitted kernels to `s` instead of running them (null restores running). */
export function setKernelSink(s: KernelSink | null): KernelSink | null {
  const prev = sink;
  sink = s;
  return prev;
}

/**
 * Emits a kernel outside a schedule (optimizer updates); compile() records it too. `producer`
 * gives the kernel to run on each replay of a compiled step. @internal
 */
export function emitKernel(backend: Backend, k: Kernel, producer?: () => Kernel): void {
  if (sink) sink(backend, k, producer);
  else backend.run(k);
}

function emit(backend: Backend, k: Kernel): void {
  if (sink) sink(backend, k);
  else backend.run(k);
}

function offsetView(v: View, off: number): View {
  return off === 0 ? v : { shape: v.shape, strides: v.strides, offset: v.offset + off };
}

function isFuserConsumer(n: LazyNode): boolean {
  const k = n.op.kind;
  return k === "ew" || k === "cast" || k === "reduce" || k === "concat";
}

/**
 * Nodes to realize together with the next schedule on their backend (e.g. the loss after
 * `backward()`, so the forward pass is not computed twice).
 */
const pendingTargets = new Set<LazyNode>();

/** Adds a node to the next schedule of its backend. @internal */
export function addPendingTarget(n: LazyNode): void {
  // Once per node: the set holds one reference, released when the node is scheduled.
  if (!n.realized && !n.freed && !pendingTargets.has(n)) {
    n.refs++;
    pendingTargets.add(n);
  }
}

function takePending(backend: Backend): LazyNode[] {
  const out: LazyNode[] = [];
  for (const n of pendingTargets) {
    if (n.backend !== backend) continue;
    pendingTargets.delete(n);
    out.push(n);
  }
  return out;
}

/**
 * Realizes `targets` (and what they need) on their backend. `into` maps nodes to regions they
 * are computed into (in-place updates of parameters and arenas); those nodes are not marked
 * realized, so they never alias the region.
 */
export function realizeNodes(
  targets: readonly LazyNode[],
  into: ReadonlyMap<LazyNode, BufView> = new Map(),
): void {
  const be = targets[0]?.backend;
  const extra = be ? takePending(be) : [];
  const all = extra.length ? [...targets, ...extra] : targets;
  try {
    realizeNodesNow(all, into);
  } finally {
    for (const n of extra) release(n);
  }
}

function realizeNodesNow(targets: readonly LazyNode[], into: ReadonlyMap<LazyNode, BufView>): void {
  const pending = targets.filter((t) => !t.realized || into.has(t));
  if (pending.length === 0) return;
  for (const t of pending) {
    if (t.freed) throw new DeviceError("cannot realize a tensor that was disposed");
  }
  // 1. Topological order of the unrealized graph, iteratively.
  const order: LazyNode[] = [];
  const consumers = new Map<LazyNode, LazyNode[]>();
  const state = new Map<LazyNode, number>(); // 1 = visiting, 2 = done
  for (const root of pending) {
    if (state.has(root)) continue;
    const stack: [LazyNode, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (i < n.srcs.length) {
        top[1]++;
        const s = n.srcs[i].node;
        if (s.realized && s.version !== n.srcVersions[i]) {
          throw new DeviceError(
            `a value (shape [${n.shape}]) was computed from a tensor that has since been ` +
              `updated in place (a parameter after an optimizer step, or an assign()); realize ` +
              `or read such values before the update`,
          );
        }
        let list = consumers.get(s);
        if (!list) consumers.set(s, list = []);
        list.push(n);
        if (!s.realized && !state.has(s)) {
          state.set(s, 1);
          stack.push([s, 0]);
        }
      } else {
        stack.pop();
        state.set(n, 2);
        order.push(n);
      }
    }
  }
  // Every unrealized node is kept alive by its unrealized consumers (or by tensors), and
  // topological order visits a node before its consumers, so no extra retains are needed; a
  // value is freed as soon as its last consumer has been emitted, and its buffer is reused.
  const sched = new Scheduler(consumers, new Set(pending), into);
  for (const n of order) {
    if (n.freed || n.realized || into.has(n)) continue;
    if (sched.isDeferred(n)) continue;
    sched.materialize(n);
  }
  // In-place writes go last, after every other target has read the old contents.
  for (const [n, dest] of into) if (!n.freed) sched.materializeInto(n, dest);
}

class Scheduler {
  /** Region the node being materialised is written to (set by materializeInto). */
  private dest: BufView | null = null;

  constructor(
    readonly consumers: Map<LazyNode, LazyNode[]>,
    readonly targets: Set<LazyNode>,
    readonly into: ReadonlyMap<LazyNode, BufView>,
  ) {}

  /**
   * Computes `n` into the region `dest` without marking `n` realized. A node that is already
   * realized is copied. A kernel that would read the region it writes goes through a temporary.
   */
  materializeInto(n: LazyNode, dest: BufView): void {
    const be = n.backend;
    if (n.realized) {
      const kb = new KernelBuilder(this, be, 0, false);
      const expr = kb.loadExpr(n, contiguousView(n.shape));
      this.emitChecked(be, { kind: "ew", out: dest, expr, inputs: kb.inputs, consts: kb.consts });
      return;
    }
    this.dest = dest;
    try {
      this.materialize(n);
    } finally {
      this.dest = null;
    }
  }

  /** The output buffer of the node being materialised: the destination region or a new one. */
  private outFor(n: LazyNode): { buf: DeviceBuffer; offset: number; external: boolean } {
    const d = this.dest;
    if (d) {
      this.dest = null; // only the outermost node goes to the destination
      return { buf: d.buf, offset: d.view.offset, external: true };
    }
    return { buf: n.backend.alloc(numel(n.shape)), offset: 0, external: false };
  }

  private finish(n: LazyNode, out: { buf: DeviceBuffer; external: boolean }): void {
    if (!out.external) n.setBuffer(out.buf);
  }

  /** Emits a kernel; when it reads the buffer it writes, computes into a temporary and copies. */
  emitChecked(be: Backend, k: Kernel): void {
    const out = k.kind === "sort" ? k.indices : (k as { out: BufView }).out;
    if (!out || !readsBuffer(k, out.buf)) return emit(be, k);
    const n = numel(out.view.shape);
    const tmp = be.alloc(n);
    const tv = contiguousView(out.view.shape);
    const tv2 = { buf: tmp, view: tv };
    emit(be, (k.kind === "sort" ? { ...k, indices: tv2 } : { ...k, out: tv2 }) as Kernel);
    emit(be, {
      kind: "ew",
      out,
      expr: { k: "load", input: 0, view: tv, t: outType(k) },
      inputs: [tmp],
      consts: [],
    });
    be.free(tmp);
  }

  isDeferred(n: LazyNode): boolean {
    if (this.targets.has(n)) return false;
    const k = n.op.kind;
    if (k === "const" || k === "index") return true;
    if (!scheduleOptions.fusion) return false;
    const cs = this.consumers.get(n) ?? [];
    if (cs.length !== 1) return false;
    if (k === "ew" || k === "cast") return isFuserConsumer(cs[0]);
    if (k === "kernel" && (n.op as { name: string }).name === "matmul") {
      const c = cs[0].op.kind;
      return c === "ew" || c === "cast";
    }
    return false;
  }

  /** Computes node `n` into a fresh buffer (no-op if already realized). */
  materialize(n: LazyNode): void {
    if (n.realized) return;
    const be = n.backend;
    const op = n.op;
    switch (op.kind) {
      case "buffer":
        throw new DeviceError(`internal: buffer node ${n.id} has no buffer`);
      case "const":
      case "index":
      case "ew":
      case "cast": {
        const out = this.outFor(n);
        const [kb, expr] = this.build(be, true, (kb) => kb.nodeExpr(n, n.shape));
        this.emitEw(be, kb, expr, { buf: out.buf, view: contiguousView(n.shape, out.offset) });
        this.finish(n, out);
        return;
      }
      case "reduce":
        return this.materializeReduce(n);
      case "concat":
        return this.materializeConcat(n);
      case "rng": {
        const out = this.outFor(n);
        emit(be, {
          kind: "rng",
          dist: op.dist,
          key: op.key,
          counter: 0,
          out: { buf: out.buf, view: contiguousView(n.shape, out.offset) },
          n: numel(n.shape),
        });
        this.finish(n, out);
        return;
      }
      case "transfer":
        return this.materializeTransfer(n);
      case "kernel":
        return this.materializeKernel(n);
    }
  }

  /**
   * Builds a fused expression within the backend's input limit: when a build binds too many
   * buffers it is rebuilt with a smaller fusion budget (producers then get their own buffers).
   */
  build(be: Backend, epilogue: boolean, fn: (kb: KernelBuilder) => Expr): [KernelBuilder, Expr] {
    for (let budget = MAX_FUSED_OPS;; budget = Math.floor(budget / 2)) {
      const kb = new KernelBuilder(this, be, budget, epilogue);
      const expr = fn(kb);
      const limit = be.maxKernelInputs - (kb.epilogueOf ? 2 : 0);
      if (kb.inputs.length <= limit || budget === 0) {
        if (kb.inputs.length > limit) {
          throw new DeviceError(
            `internal: a kernel needs ${kb.inputs.length} inputs, more than the ${limit} the ` +
              `${be.name} device can bind`,
          );
        }
        return [kb, expr];
      }
    }
  }

  /** Emits an elementwise kernel, or a matmul with epilogue when the builder found one. */
  emitEw(be: Backend, kb: KernelBuilder, expr: Expr, out: BufView): void {
    if (kb.epilogueOf) {
      const m = kb.epilogueOf;
      const [a, b] = this.matmulOperands(m);
      this.emitChecked(be, {
        kind: "matmul",
        out,
        a: a.bv,
        b: b.bv,
        batch: a.batch,
        m: a.rows,
        n: b.cols,
        k: a.cols,
        epilogue: expr,
        inputs: kb.inputs,
        consts: kb.consts,
      });
      return;
    }
    this.emitChecked(be, { kind: "ew", out, expr, inputs: kb.inputs, consts: kb.consts });
  }

  materializeReduce(n: LazyNode): void {
    const op = n.op as { kind: "reduce"; op: string; axes: number[] };
    const src = n.srcs[0];
    const rank = src.view.shape.length;
    const keep: number[] = [];
    for (let d = 0; d < rank; d++) if (!op.axes.includes(d)) keep.push(d);
    const perm = [...keep, ...op.axes];
    const pv = permuteView(src.view, perm);
    const outSize = numel(n.shape);
    const reduceSize = op.axes.reduce((a, d) => a * src.view.shape[d], 1);
    const out = this.outFor(n);
    const [kb, expr] = this.build(
      n.backend,
      false,
      (kb) => kb.srcExpr({ node: src.node, view: pv }, pv.shape),
    );
    this.emitChecked(n.backend, {
      kind: "reduce",
      op: op.op as "sum",
      out: { buf: out.buf, view: contiguousView(n.shape, out.offset) },
      outSize,
      reduceSize,
      frame: pv.shape,
      expr,
      inputs: kb.inputs,
      consts: kb.consts,
    });
    this.finish(n, out);
  }

  materializeConcat(n: LazyNode): void {
    const axis = (n.op as { axis: number }).axis;
    const out = this.outFor(n);
    const full = contiguousView(n.shape, out.offset);
    let at = 0;
    for (const s of n.srcs) {
      const len = s.view.shape[axis];
      if (len === 0) continue;
      const starts = n.shape.map((_, d) => (d === axis ? at : 0));
      const sizes = s.view.shape.map((x) => x);
      const [kb, expr] = this.build(n.backend, false, (kb) => kb.srcExpr(s, s.view.shape));
      this.emitEw(n.backend, kb, expr, { buf: out.buf, view: sliceView(full, starts, sizes) });
      at += len;
    }
    this.finish(n, out);
  }

  materializeTransfer(n: LazyNode): void {
    const src = n.srcs[0];
    const from = src.node.backend;
    if (!from.readSync) {
      throw new DeviceError(
        `moving a tensor from ${from.name} to ${n.backend.name} needs an asynchronous read: ` +
          `use "await t.to('${n.backend.name}').data()" or "await realizeAsync(t)"`,
      );
    }
    const bv = this.contiguousOperand(src);
    const data = from.readSync({
      buf: bv.buf,
      offset: bv.view.offset,
      n: numel(n.shape),
      dtype: n.dtype,
    });
    this.freeTemp(src, bv);
    const out = this.outFor(n);
    n.backend.write(out.buf, data, out.offset);
    this.finish(n, out);
  }

  /** A realized, contiguous buffer view of a source (a copy kernel when the view is strided). */
  contiguousOperand(s: Src): BufView {
    this.materialize(s.node);
    const v = offsetView(s.view, s.node.bufferOffset);
    if (isContiguous(v) && numel(v.shape) === numel(s.view.shape)) {
      return { buf: s.node.buffer!, view: contiguousView(v.shape, v.offset) };
    }
    const be = s.node.backend;
    const tmp = be.alloc(numel(s.view.shape));
    const kb = new KernelBuilder(this, be, 0, false);
    const expr = kb.loadExpr(s.node, s.view);
    emit(be, {
      kind: "ew",
      out: { buf: tmp, view: contiguousView(s.view.shape) },
      expr,
      inputs: kb.inputs,
      consts: kb.consts,
    });
    return { buf: tmp, view: contiguousView(s.view.shape) };
  }

  /** Frees the temporary made by {@link contiguousOperand}, if one was made. */
  freeTemp(s: Src, bv: BufView): void {
    if (bv.buf !== s.node.buffer) s.node.backend.free(bv.buf);
  }

  /** A realized operand seen through its (strided) view. */
  stridedOperand(s: Src): BufView {
    this.materialize(s.node);
    return { buf: s.node.buffer!, view: offsetView(s.view, s.node.bufferOffset) };
  }

  matmulOperands(n: LazyNode): [
    { bv: BufView; batch: number[]; rows: number; cols: number },
    { bv: BufView; batch: number[]; rows: number; cols: number },
  ] {
    const [sa, sb] = n.srcs;
    const rank = n.shape.length;
    const batch = n.shape.slice(0, rank - 2);
    const m = n.shape[rank - 2];
    const nn = n.shape[rank - 1];
    const k = sa.view.shape[sa.view.shape.length - 1];
    const expandTo = (s: Src, rows: number, cols: number): BufView => {
      const bv = this.stridedOperand(s);
      const v = bv.view;
      const r = v.shape.length;
      const lead = rank - r;
      const strides = batch.map((_, d) => {
        const sd = d - lead;
        return sd < 0 || v.shape[sd] === 1 ? 0 : v.strides[sd];
      });
      return {
        buf: bv.buf,
        view: {
          shape: [...batch, rows, cols],
          strides: [
            ...strides,
            rows === 1 ? 0 : v.strides[r - 2],
            cols === 1 ? 0 : v.strides[r - 1],
          ],
          offset: v.offset,
        },
      };
    };
    return [
      { bv: expandTo(sa, m, k), batch, rows: m, cols: k },
      { bv: expandTo(sb, k, nn), batch, rows: k, cols: nn },
    ];
  }

  materializeKernel(n: LazyNode): void {
    const op = n.op as { kind: "kernel"; name: string; params: Record<string, unknown> };
    const be = n.backend;
    if (op.name === "matmul") {
      const out = this.outFor(n);
      const [a, b] = this.matmulOperands(n);
      this.emitChecked(be, {
        kind: "matmul",
        out: { buf: out.buf, view: contiguousView(n.shape, out.offset) },
        a: a.bv,
        b: b.bv,
        batch: a.batch,
        m: a.rows,
        n: b.cols,
        k: a.cols,
        epilogue: null,
        inputs: [],
        consts: [],
      });
      this.finish(n, out);
      return;
    }
    const build = KERNEL_BUILDERS[op.name];
    if (!build) throw new DeviceError(`internal: no kernel builder for "${op.name}"`);
    const out = this.outFor(n);
    const operands = n.srcs.map((s) => this.contiguousOperand(s));
    const kernel = build(
      n,
      operands,
      { buf: out.buf, view: contiguousView(n.shape, out.offset) },
      be,
    );
    this.emitChecked(be, kernel);
    n.srcs.forEach((s, i) => this.freeTemp(s, operands[i]));
    this.finish(n, out);
  }
}

/** Builds one fused expression: tracks its input buffers, uniform constants and frames. */
class KernelBuilder {
  readonly inputs: DeviceBuffer[] = [];
  readonly consts: number[] = [];
  epilogueOf: LazyNode | null = null;
  private readonly inputIndex = new Map<DeviceBuffer, number>();
  private readonly memo = new Map<string, Expr>();
  private readonly constSlots = new Map<string, number>();
  private ops = 0;
  private frameDepth = 0;
  private frameId = 0;
  private frames = 0;

  constructor(
    readonly sched: Scheduler,
    readonly backend: Backend,
    readonly budget: number,
    readonly allowEpilogue: boolean,
  ) {}

  private inputSlot(buf: DeviceBuffer): number {
    let i = this.inputIndex.get(buf);
    if (i === undefined) {
      i = this.inputs.length;
      this.inputs.push(buf);
      this.inputIndex.set(buf, i);
    }
    return i;
  }

  constSlot(value: number, t: VType): Expr {
    const key = `${t}:${Object.is(value, -0) ? "-0" : value}`;
    let slot = this.constSlots.get(key);
    if (slot === undefined) {
      slot = this.consts.length;
      this.consts.push(value);
      this.consts.push(t === "f32" ? 0 : 1); // type tag word, see backends
      this.constSlots.set(key, slot);
    }
    return { k: "const", slot: slot / 2, t };
  }

  /** A load of a realized node through a view whose shape is the current frame. */
  loadExpr(node: LazyNode, view: View): Expr {
    const slot = this.inputSlot(node.buffer!);
    return {
      k: "load",
      input: slot,
      view: offsetView(view, node.bufferOffset),
      t: vtypeOf(node.dtype),
    };
  }

  /** The value of node `n` evaluated at the current frame, whose shape equals `n.shape`. */
  nodeExpr(n: LazyNode, frame: Shape): Expr {
    return this.srcExpr({ node: n, view: contiguousView(n.shape) }, frame, true);
  }

  /**
   * Expression for source `s` in a frame of shape `frame` (= `s.view.shape`). `self` is true
   * when building the node being materialised itself (so it is inlined, not loaded).
   */
  srcExpr(s: Src, frame: Shape, self = false): Expr {
    const n = s.node;
    const key = `${n.id}|${s.view.offset}|${s.view.strides}|${frame}|${this.frameId}|${self}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const e = this.srcExprUncached(s, frame, self);
    this.memo.set(key, e);
    return e;
  }

  private srcExprUncached(s: Src, frame: Shape, self: boolean): Expr {
    const n = s.node;
    const op = n.op;
    if (n.realized) return this.loadExpr(n, s.view);
    const t = vtypeOf(n.dtype);
    if (op.kind === "const") return this.constSlot(op.value, t);
    const identity = isContiguous(s.view) && s.view.offset === 0 &&
      numel(s.view.shape) === numel(n.shape);
    if (op.kind === "index") {
      const idx: Expr = { k: "index", t: "i32" };
      const body = identity ? idx : this.frame(n.shape, s.view, idx);
      return castTo(body, t);
    }
    const inlinable = self || (this.sched.isDeferred(n) && this.ops < this.budget &&
      numel(s.view.shape) <= numel(n.shape) && this.frameDepth < 6);
    if (inlinable && (op.kind === "ew" || op.kind === "cast")) {
      const inner = (srcs: readonly Src[]): Expr => {
        this.ops++;
        const args = srcs.map((c) => this.srcExpr(c, c.view.shape));
        if (op.kind === "cast") return castTo(args[0], t);
        const def = elementwiseOp(op.op);
        const compute = computeType(def.rule, args.map((a) => a.t));
        const named: Record<string, Expr> = {};
        ["a", "b", "c"].slice(0, args.length).forEach((v, i) => (named[v] = args[i]));
        return castTo(instantiate(def.ast, named, compute), t);
      };
      if (identity && sameShape(n.shape, frame)) return inner(n.srcs);
      // A view that moves every source alike: the producer is computed at the consumer's own
      // index (a frame node re-indexes every lane, which costs far more than the loads).
      const moved = scheduleOptions.moveViews ? movedSources(n, s.view) : null;
      if (moved) return inner(moved);
      const outer = this.frameId;
      this.frameDepth++;
      this.frameId = ++this.frames;
      const body = inner(n.srcs);
      this.frameDepth--;
      this.frameId = outer;
      return this.frame(n.shape, s.view, body);
    }
    if (
      inlinable && this.allowEpilogue && op.kind === "kernel" && op.name === "matmul" &&
      this.epilogueOf === null &&
      identity && sameShape(n.shape, frame) && this.frameDepth === 0 && !self
    ) {
      // The matmul is computed by the kernel being built; its value is the accumulator.
      this.epilogueOf = n;
      for (const c of n.srcs) this.sched.materialize(c.node);
      return { k: "acc", t: "f32" };
    }
    if (self) throw new DeviceError(`internal: cannot inline node of kind ${op.kind}`);
    this.sched.materialize(n);
    return this.loadExpr(n, s.view);
  }

  private frame(shape: Shape, view: View, body: Expr): Expr {
    return { k: "frame", shape, view, body, t: body.t };
  }
}

/**
 * The sources of elementwise node `n` read through `view` (a view of `n`'s contiguous layout)
 * when the view only permutes or reshapes `n` and every source's view can follow it (a reduction
 * over a leading axis permutes its producer; a reshape of a strided slice stays strided): each
 * source then reads the element the view reads. Null when a frame node is needed.
 */
function movedSources(n: LazyNode, view: View): Src[] | null {
  if (view.offset !== 0 || numel(view.shape) !== numel(n.shape)) return null;
  if (n.srcs.some((c) => !sameShape(c.view.shape, n.shape))) return null;
  if (isContiguous(view)) {
    const out: Src[] = [];
    for (const c of n.srcs) {
      const v = reshapeView(c.view, view.shape);
      if (!v) return null;
      out.push({ node: c.node, view: v });
    }
    return out;
  }
  const perm = permutationOf(view, n.shape);
  return perm ? n.srcs.map((c) => ({ node: c.node, view: permuteView(c.view, perm) })) : null;
}

/** `perm` with `view = permuteView(contiguousView(shape), perm)`, or null. */
function permutationOf(view: View, shape: Shape): number[] | null {
  const r = shape.length;
  if (view.shape.length !== r) return null;
  const cs = contiguousStrides(shape);
  const used = new Array<boolean>(r).fill(false);
  const perm: number[] = [];
  for (let i = 0; i < r; i++) {
    // size-1 axes match any unused size-1 axis (their stride is never used)
    let j = -1;
    for (let d = 0; d < r && j < 0; d++) {
      if (used[d] || shape[d] !== view.shape[i]) continue;
      if (shape[d] === 1 || cs[d] === view.strides[i]) j = d;
    }
    if (j < 0) return null;
    used[j] = true;
    perm.push(j);
  }
  return perm;
}

function computeType(rule: string, ts: VType[]): VType {
  if (rule === "float") return "f32";
  if (rule === "logic") return "bool";
  const xs = rule === "where" ? ts.slice(1) : ts;
  if (xs.includes("f32")) return "f32";
  if (xs.includes("i32")) return "i32";
  return rule === "same" || rule === "cmp" ? "bool" : "bool";
}

export { offsetView };

/** Value type of a kernel's output. */
function outType(k: Kernel): VType {
  switch (k.kind) {
    case "ew":
      return k.expr.t === "bool" ? "i32" : k.expr.t;
    case "reduce":
      return k.op === "argmax" || k.op === "argmin" || k.expr.t !== "f32" ? "i32" : "f32";
    case "matmul":
      return k.epilogue && k.epilogue.t !== "f32" ? "i32" : "f32";
    case "sort":
      return "i32";
    case "rng":
      return k.dist === "bits" ? "i32" : "f32";
    default:
      return "f32";
  }
}

/** True when a kernel reads `buf`. */
function readsBuffer(k: Kernel, buf: DeviceBuffer): boolean {
  switch (k.kind) {
    case "ew":
    case "reduce":
      return k.inputs.includes(buf);
    case "matmul":
      return k.a.buf === buf || k.b.buf === buf || k.inputs.includes(buf);
    case "softmax":
      return k.x.buf === buf;
    case "norm":
      return k.x.buf === buf || k.dy?.buf === buf || k.weight?.buf === buf ||
        k.bias?.buf === buf;
    case "conv":
      return k.x.buf === buf || k.w.buf === buf || k.bias?.buf === buf;
    case "pool":
      return k.x.buf === buf || k.dy?.buf === buf;
    case "gather":
      return k.src.buf === buf || k.indices.buf === buf;
    case "sort":
      return k.x.buf === buf;
    default:
      return false;
  }
}
