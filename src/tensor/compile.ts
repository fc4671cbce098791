/**
 * `compile(stepFn)`: traces a fixed-shape step (forward, backward, optimizer update) once and
 * replays its kernel list afterwards — no graph building, no scheduling, no fusion decisions,
 * one submit per call on WebGPU, and no GPU->CPU wait inside.
 *
 * How it stays correct:
 * - inputs are copied into buffers owned by the compiled step; outputs are returned as copies;
 * - every buffer allocated while tracing is owned by the compiled step (intermediates reuse
 *   each other's buffers in trace order, which replay preserves);
 * - state updated in place (parameter arenas, optimizer moments, assign targets) is written
 *   into the same buffers on every replay;
 * - random draws take the keys the generators would hand out if the step ran uncompiled, and
 *   optimizer hyperparameters (step count, schedules) are recomputed per call, so a compiled
 *   step gives the same results as the uncompiled one;
 * - a call with other input shapes, dtypes or devices traces again.
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Backend, DeviceBuffer, Kernel } from "../backend/types.ts";
import { cpuBackend, webgpuIfReady } from "../backend/device.ts";
import type { LazyNode } from "./lazy.ts";
import { setBufferLog } from "./lazy.ts";
import { type Generator, setKeyLog } from "./random.ts";
import { realizeNodes, setKernelSink } from "./schedule.ts";
import { noGrad } from "./autograd.ts";
import { keep } from "./scope.ts";
import { Tensor } from "./tensor.ts";
import { contiguousView } from "../ir/view.ts";
import { LazyNode as Node } from "./lazy.ts";

/** A recorded kernel, or a JS hook to run at that point of the replay. */
type Recorded =
  | {
    readonly backend: Backend;
    readonly kernel: Kernel;
    readonly producer?: () => Kernel;
    /** Set after the trace for kernels that never change: the backend's prepared runner. */
    prepared?: () => void;
  }
  | { readonly hook: () => void };

interface CaptureState {
  readonly records: Recorded[];
}

let capture: CaptureState | null = null;

let replayProfiler: ((k: Kernel, ms: number) => void) | null = null;
let profilerClock: () => number = () => performance.now();

/**
 * Times every kernel of compiled replays (prepared ones and those run afresh, such as random
 * numbers with new keys; profiling; null turns it off) with `clock`
 * (milliseconds; default the wall clock). @internal
 */
export function setReplayProfiler(
  f: ((k: Kernel, ms: number) => void) | null,
  clock: () => number = () => performance.now(),
): void {
  replayProfiler = f;
  profilerClock = clock;
}

/** True while a compiled step is being traced. */
export function isTracing(): boolean {
  return capture !== null;
}

/**
 * Registers a function to run at this point of every replay of the step being traced (for
 * JS-side state a step changes, e.g. an optimizer's step counter, which later recorded kernel
 * producers read). No-op outside a trace.
 */
export function onReplay(hook: () => void): void {
  capture?.records.push({ hook });
}

/** Output structure of a compiled step. */
export type StepOutput = Tensor | Tensor[] | Record<string, Tensor> | void;

/** A compiled step: call it like the original function. */
export interface CompiledStep<A extends Tensor[], R extends StepOutput> {
  (...args: A): R;
  /** Number of kernels replayed per call (of the latest trace). */
  readonly kernelCount: number;
  /** How many times the step was traced (a new input signature traces again). */
  readonly traceCount: number;
  /** Frees the buffers owned by the compiled step. */
  dispose(): void;
}

interface Program {
  readonly slots: Tensor[];
  readonly records: Recorded[];
  readonly outputs: Tensor[];
  readonly shape: "single" | "array" | "record" | "void";
  readonly keys: string[];
  readonly owned: Map<Backend, DeviceBuffer[]>;
  readonly keyPlan: { generator: Generator; key: string }[];
}

function signature(args: Tensor[]): string {
  return args.map((a) => `${a.device}:${a.dtype}:[${a.shape}]`).join("|");
}

function flattenOutput(r: StepOutput): { list: Tensor[]; shape: Program["shape"]; keys: string[] } {
  if (r === undefined) return { list: [], shape: "void", keys: [] };
  if (r instanceof Tensor) return { list: [r], shape: "single", keys: [] };
  if (Array.isArray(r)) return { list: r, shape: "array", keys: [] };
  const keys = Object.keys(r);
  return { list: keys.map((k) => (r as Record<string, Tensor>)[k]), shape: "record", keys };
}

function copyOut(t: Tensor): Tensor {
  // A fresh buffer with the value (the program's buffer is overwritten by the next call).
  return keep(noGrad(() => t.ew("copy", [])).realize());
}

/**
 * Compiles a step function of tensors. The function must be synchronous, must not read values
 * (`await t.data()`), and must update state in place (optimizers and `assign()` do).
 *
 * @example
 * ```ts
 * import { Adam, compile, Linear, randn } from "@worldflux/worldflux";
 * const net = new Linear(4, 1);
 * const opt = new Adam(net.parameters(), { lr: 1e-2 });
 * const step = compile((x, y) => {
 *   const loss = net.forward(x).sub(y).square().mean();
 *   loss.backward();
 *   opt.step();
 *   opt.zeroGrad();
 *   return loss;
 * });
 * for (let i = 0; i < 3; i++) console.log(await step(randn([8, 4]), randn([8, 1])).item());
 * ```
 */
export function compile<A extends Tensor[], R extends StepOutput>(
  fn: (...args: A) => R,
): CompiledStep<A, R> {
  const programs = new Map<string, Program>();
  let traces = 0;
  let last: Program | null = null;

  const call = ((...args: A): R => {
    if (capture) throw new ConfigError("compiled steps cannot be nested (called while tracing)");
    for (const a of args) {
      if (!(a instanceof Tensor)) throw new ConfigError("compiled steps take tensors as arguments");
      a._check("compiled step");
    }
    const sig = signature(args);
    let prog = programs.get(sig);
    if (!prog) {
      prog = trace(fn, args);
      programs.set(sig, prog);
      traces++;
      last = prog;
      return rebuild(prog, prog.outputs.map(copyOut)) as R;
    }
    last = prog;
    return replay(prog, args) as R;
  }) as CompiledStep<A, R>;

  Object.defineProperty(call, "kernelCount", {
    get: () => last?.records.filter((r) => "kernel" in r).length ?? 0,
  });
  Object.defineProperty(call, "traceCount", { get: () => traces });
  (call as { dispose: () => void }).dispose = () => {
    for (const p of programs.values()) {
      for (const s of p.slots) s.dispose();
      for (const [be, bufs] of p.owned) for (const b of bufs) be.free(b);
    }
    programs.clear();
  };
  return call;
}

function rebuild(prog: Program, outs: Tensor[]): StepOutput {
  switch (prog.shape) {
    case "void":
      return undefined;
    case "single":
      return outs[0];
    case "array":
      return outs;
    case "record":
      return Object.fromEntries(prog.keys.map((k, i) => [k, outs[i]]));
  }
}

function writeInputs(prog: Program, args: Tensor[]): void {
  args.forEach((a, i) => {
    const slot = prog.slots[i];
    const v = a.contiguous();
    realizeNodes(
      [v._node],
      new Map([[v._node, {
        buf: slot._node.buffer!,
        view: contiguousView(slot.shape, slot._node.bufferOffset),
      }]]),
    );
  });
}

function trace<A extends Tensor[], R extends StepOutput>(fn: (...args: A) => R, args: A): Program {
  const backends = [cpuBackend(), webgpuIfReady()].filter((b): b is Backend => b !== null);
  // Input slots: buffers owned by the program, filled with the first call's values.
  const slots = args.map((a) => {
    const be = a._backend;
    const buf = be.alloc(a.size);
    const node = new Node(be, [...a.shape], a.dtype, { kind: "buffer" });
    node.setBuffer(buf, 0, true);
    return keep(new Tensor(node, contiguousView(a.shape)));
  });
  const owned = new Map<Backend, DeviceBuffer[]>();
  slots.forEach((s) => {
    const list = owned.get(s._backend) ?? [];
    list.push(s._node.buffer!);
    owned.set(s._backend, list);
  });
  const state: CaptureState = { records: [] };
  const nodeLog: LazyNode[] = [];
  const keyLog: { generator: Generator; key: [number, number] }[] = [];
  // Every buffer allocated while tracing belongs to the program; buffers freed while tracing
  // are reused by later allocations of the trace only.
  const originals = new Map<Backend, { alloc: Backend["alloc"]; free: Backend["free"] }>();
  const traceAllocated = new Set<DeviceBuffer>();
  for (const be of backends) {
    const orig = { alloc: be.alloc.bind(be), free: be.free.bind(be) };
    originals.set(be, orig);
    const freed: DeviceBuffer[] = [];
    be.alloc = (n: number) => {
      let best = -1;
      for (let i = 0; i < freed.length; i++) {
        const s = freed[i].size;
        if (s >= n && s <= 2 * n + 64 && (best < 0 || s < freed[best].size)) best = i;
      }
      if (best >= 0) return freed.splice(best, 1)[0];
      const b = orig.alloc(n);
      traceAllocated.add(b);
      const list = owned.get(be) ?? [];
      list.push(b);
      owned.set(be, list);
      return b;
    };
    be.free = (b: DeviceBuffer) => {
      if (traceAllocated.has(b)) freed.push(b);
      else orig.free(b);
    };
  }
  capture = state;
  setBufferLog(nodeLog);
  setKeyLog(keyLog);
  const prevSink = setKernelSink((be, k, producer) => {
    state.records.push({ backend: be, kernel: k, producer });
    be.run(k);
  });
  let outputs: Tensor[];
  let shape: Program["shape"];
  let keys: string[];
  try {
    writeInputsTo(slots, args);
    const r = fn(...(slots as unknown as A));
    const flat = flattenOutput(r);
    outputs = flat.list;
    shape = flat.shape;
    keys = flat.keys;
    // Realize the outputs (and anything pending, like a loss after backward) within the trace.
    const byBackend = new Map<Backend, LazyNode[]>();
    for (const o of outputs) {
      const l = byBackend.get(o._backend) ?? [];
      l.push(o.contiguous()._node);
      byBackend.set(o._backend, l);
    }
    outputs = outputs.map((o) => keep(o.detach().contiguous()));
    for (const [, nodes] of byBackend) realizeNodes(nodes);
    for (const o of outputs) o.realize();
  } finally {
    setKernelSink(prevSink);
    setBufferLog(null);
    setKeyLog(null);
    capture = null;
    for (const [be, o] of originals) {
      be.alloc = o.alloc;
      be.free = o.free;
    }
  }
  // Nodes still alive on program-owned buffers must never return them to the pool.
  for (const n of nodeLog) {
    if (!n.freed && n.buffer && traceAllocated.has(n.buffer)) n.borrowed = true;
  }
  // The slots' first values came from a schedule outside the records: drop nothing (the
  // input copies were recorded too, and are skipped on replay below).
  const keyPlan = keyLog.map((e) => ({ generator: e.generator, key: `${e.key[0]},${e.key[1]}` }));
  // Kernels that are the same on every call are planned once by their backend.
  for (const r of state.records) {
    if ("hook" in r || r.producer || r.kernel.kind === "rng" || !r.backend.prepare) continue;
    r.prepared = r.backend.prepare(r.kernel);
  }
  return { slots, records: state.records, outputs, shape, keys, owned, keyPlan };
}

function writeInputsTo(slots: Tensor[], args: Tensor[]): void {
  // Copy the inputs into the slots outside the recording (replay copies them itself).
  const prev = setKernelSink(null);
  try {
    args.forEach((a, i) => {
      const slot = slots[i];
      const v = a.contiguous();
      realizeNodes(
        [v._node],
        new Map([[v._node, { buf: slot._node.buffer!, view: contiguousView(slot.shape, 0) }]]),
      );
    });
  } finally {
    setKernelSink(prev);
  }
}

function replay(prog: Program, args: Tensor[]): StepOutput {
  writeInputs(prog, args);
  // Fresh keys, exactly as the generators would hand them out to an uncompiled call.
  let rekey: Map<string, [number, number]> | null = null;
  if (prog.keyPlan.length) {
    rekey = new Map();
    for (const e of prog.keyPlan) rekey.set(e.key, e.generator.nextKey());
  }
  const used = new Set<Backend>();
  for (const r of prog.records) {
    if ("hook" in r) {
      r.hook();
      continue;
    }
    used.add(r.backend);
    if (r.prepared) {
      if (replayProfiler) {
        const t0 = profilerClock();
        r.prepared();
        replayProfiler(r.kernel, profilerClock() - t0);
      } else r.prepared();
      continue;
    }
    let k = r.producer ? r.producer() : r.kernel;
    if (k.kind === "rng" && rekey) {
      const nk = rekey.get(`${k.key[0]},${k.key[1]}`);
      if (nk) k = { ...k, key: nk };
    }
    if (replayProfiler) {
      const t0 = profilerClock();
      r.backend.run(k);
      replayProfiler(k, profilerClock() - t0);
    } else r.backend.run(k);
    used.add(r.backend);
  }
  // Copy the outputs before submitting: they go out with the step's one submit (copied after
  // the flush, they would wait in a new encoder and cost a second submit per step).
  const outs = prog.outputs.map(copyOut);
  for (const be of used) be.flush();
  return rebuild(prog, outs);
}
