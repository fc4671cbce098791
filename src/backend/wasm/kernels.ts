/**
 * Generated wasm kernels of the cpu backend (besides matmul): fused elementwise chains,
 * reductions, softmax, norms, the optimizer update and convolutions. `run` returns false for a
 * kernel it does not handle (the reference TypeScript then runs it on the same memory).
 *
 * Elementwise and reduction kernels are compiled per structural key (one wasm module each,
 * cached); the fixed kernels (softmax, norms, optimizer, im2col/col2im + gemm for convolutions)
 * live in the backend's core module, which worker threads also run.
 * @module
 */

import type {
  BufView,
  ConvKernel,
  EwKernel,
  GatherKernel,
  Kernel,
  NormKernel,
  OptimKernel,
  ReduceKernel,
  RngKernel,
  SoftmaxKernel,
} from "../types.ts";
import { f32Bits } from "../plan.ts";
import type { WasmBuffer, WasmHeap } from "./heap.ts";
import type { WorkerPool } from "./pool.ts";
import { ModuleBuilder } from "./emit.ts";
import { Unsupported } from "./codegen_expr.ts";
import { type Prepared, prepareEw, prepareReduce } from "./codegen_ew.ts";
import { CW } from "./conv.ts";
import { NR } from "./gemm.ts";
import { JOB } from "./pool_protocol.ts";
import { OPTIM_HYPER } from "./optim.ts";

/** Exports of the core module that worker threads can run. */
export const CORE_EXPORTS = [
  "gemm",
  "gemm_pp",
  "gemm_packB",
  "gemm_small",
  "gemm_cols",
  "conv_task",
  "softmax_rows",
  "norm_rows",
  "optim_range",
  "rng_fill",
  "gather_run",
] as const;

type CoreFn = (...args: number[]) => void;

/** The core module's kernels (see gemm.ts, conv.ts, rows.ts, optim.ts). */
export type CoreExports = Record<(typeof CORE_EXPORTS)[number], CoreFn>;

/** What the fixed kernels need from the backend. */
export interface CoreContext {
  readonly core: CoreExports;
  readonly threads: WorkerPool;
  /** gemm scratch of each thread. */
  readonly gemmScratch: readonly number[];
}

/**
 * Slices per thread of a parallel kernel: threads claim slices until none are left, so smaller
 * slices balance the work when one core is slower (busy with other processes).
 */
export const SLICES_PER_THREAD = 4;

/**
 * Most slices a parallel kernel of `threads` threads is cut into: SLICES_PER_THREAD each, within
 * the pool's job table (JOB.MAX_SLICES; more would run every slice on the calling thread).
 */
export function maxSlices(threads: number): number {
  return Math.min(threads * SLICES_PER_THREAD, JOB.MAX_SLICES);
}

/**
 * Elements below which row/optimizer kernels stay on the calling thread. Workers spin between
 * the back-to-back kernels of a step, so a split costs ~1 us: kernels of a few thousand
 * elements already gain (2026-12-06, 2 threads, wall time: the `tdmpc2:ci` update 8.1 -> 6.2 ms
 * and the HalfCheetah-size MPPI plan 15.3 -> 12.2 ms with this, PARALLEL_GENERATED and the
 * matmul's PARALLEL_FLOPS lowered 8-16x; 16x lower again was no faster).
 */
const PARALLEL_ELEMENTS = 1 << 12;
/**
 * Elements below which a split row/optimizer kernel is quiet-only: it gains from the workers on a
 * quiet machine only, and runs on the calling thread while the pool is contended (a worker was
 * seen descheduled mid-slice: other processes busy on the cores, see WorkerPool.contended). The
 * limit these kernels had before PARALLEL_ELEMENTS was lowered.
 */
const CONTENDED_ELEMENTS = 1 << 16;
/** Flops below which a convolution stays on the calling thread. */
const PARALLEL_FLOPS = 1 << 21;
/** Floats of the im2col scratch of one task (larger tiles are split; grows when needed). */
const COL_CAP = 1 << 18;
/**
 * Pixels a convolution's product should have at least: images with fewer (the deeper layers of
 * an image encoder: 8x8, 4x4) are taken in groups, one product over all their pixels, instead of
 * one product per image that packs the whole weight matrix for 16-64 columns.
 */
const GROUP_PIXELS = 256;

/** The generated-kernel runner of a heap. */
export interface WasmKernels {
  /** Runs `k` if it has a wasm implementation; returns whether it did. */
  run(k: Kernel): boolean;
  /** Whether `k` has a wasm implementation. */
  handles(k: Kernel): boolean;
  /**
   * Plans `k` once and returns a function running it (null: no wasm implementation). Generated
   * kernels keep their compiled function and parameter words; the others re-run `run`.
   */
  prepare(k: Kernel): (() => void) | null;
  /** Compiled generated kernels (for tests and profiling). */
  readonly compiled: number;
}

/** Bytes of the parameter block of generated kernels. */
const PARAM_BYTES = 1 << 16;

type Fn = (params: number, a0: number, a1: number, outOff: number) => void;

/** A compiled generated kernel and where its module bytes live (workers compile them). */
interface Compiled {
  readonly fn: Fn;
  readonly id: number;
  readonly ptr: number;
  readonly len: number;
}

/**
 * Estimated work (elements x per-element weight, see codegen_ew.ts) from which a generated
 * kernel splits over the threads: a plain 8K-element add, a 1K-element chain with exp (see
 * PARALLEL_ELEMENTS for the measurement).
 */
const PARALLEL_GENERATED = 1 << 13;
/** Work below which a split generated kernel is quiet-only (see CONTENDED_ELEMENTS). */
const CONTENDED_GENERATED = 1 << 18;
/** Bytes of one chunk of the module-bytes store in the heap. */
const MODULE_STORE = 1 << 22;

/** Creates the kernel runner for a heap. */
export function wasmKernels(heap: WasmHeap, ctx: CoreContext): WasmKernels {
  return new Runner(heap, ctx);
}

/** Plans a generated kernel: null when there is nothing to compute, undefined if unsupported. */
function plan(k: EwKernel | ReduceKernel): Prepared | null | undefined {
  try {
    return k.kind === "ew" ? prepareEw(k) : prepareReduce(k);
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/** Kernel kinds with a wasm implementation. */
const HANDLED = new Set<string>([
  "ew",
  "reduce",
  "softmax",
  "norm",
  "optim",
  "conv",
  "rng",
  "gather",
]);

const ptrOf = (b: BufView) => (b.buf as WasmBuffer).ptr + b.view.offset * 4;

class Runner implements WasmKernels {
  private readonly cache = new Map<string, Compiled | null>();
  private store = { ptr: 0, used: 0, size: 0 };
  private readonly params: number;
  private readonly P: Int32Array;
  private readonly convParams: number;
  private readonly hyper: number;
  private readonly colScratch: { ptr: number; floats: number }[] = [];

  constructor(readonly heap: WasmHeap, readonly ctx: CoreContext) {
    this.params = heap.reserve(PARAM_BYTES);
    this.P = new Int32Array(heap.memory.buffer, this.params, PARAM_BYTES / 4);
    this.convParams = heap.reserve(CW.WORDS * 4);
    this.hyper = heap.reserve(OPTIM_HYPER.length * 8);
  }

  get compiled(): number {
    let n = 0;
    for (const v of this.cache.values()) if (v) n++;
    return n;
  }

  run(k: Kernel): boolean {
    switch (k.kind) {
      case "ew":
        return this.ew(k);
      case "reduce":
        return this.reduce(k);
      case "softmax":
        return this.softmax(k);
      case "norm":
        return this.norm(k);
      case "optim":
        return this.optim(k);
      case "conv":
        return this.conv(k);
      case "rng":
        return this.rng(k);
      case "gather":
        return this.gather(k);
      default:
        return false;
    }
  }

  handles(k: Kernel): boolean {
    return HANDLED.has(k.kind);
  }

  prepare(k: Kernel): (() => void) | null {
    if (k.kind === "ew" || k.kind === "reduce") {
      const p = plan(k);
      if (p === undefined) return null;
      if (!p) return () => this.run(k);
      const c = this.compile(p);
      if (!c) return null;
      const ptrs = this.pointers(k);
      const words = p.words;
      if (words.length + ptrs.length > this.P.length) return null;
      return () => {
        this.call(c, p, ptrs);
      };
    }
    if (!this.handles(k)) return null;
    return () => {
      if (!this.run(k)) throw new Error(`internal: wasm ${k.kind} kernel failed`);
    };
  }

  /** Input pointers then the output pointer of a generated kernel. */
  private pointers(k: EwKernel | ReduceKernel): number[] {
    const ptrs = k.inputs.map((b) => (b as WasmBuffer).ptr);
    const out = k.out.buf as WasmBuffer;
    ptrs.push(k.kind === "ew" ? out.ptr : out.ptr + k.out.view.offset * 4);
    return ptrs;
  }

  private compile(p: Prepared): Compiled | null {
    let c = this.cache.get(p.key);
    if (c !== undefined) return c;
    try {
      const f = p.build();
      const mb = new ModuleBuilder().importMemory(1, this.heap.maxPages, true);
      mb.add("k", f);
      const bytes = mb.bytes();
      const mod = new WebAssembly.Module(bytes as BufferSource);
      const inst = new WebAssembly.Instance(mod, { env: { memory: this.heap.memory } });
      const [ptr, len] = this.keep(bytes);
      c = { fn: inst.exports.k as Fn, id: this.cache.size + 1, ptr, len };
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      c = null;
    }
    this.cache.set(p.key, c);
    return c;
  }

  /** Copies module bytes into the heap (for the workers); [0, 0] if they do not fit. */
  private keep(bytes: Uint8Array): [number, number] {
    if (this.ctx.threads.size < 2 || bytes.length > MODULE_STORE) return [0, 0];
    const s = this.store;
    if (s.used + bytes.length > s.size) {
      this.store = { ptr: this.heap.reserve(MODULE_STORE), used: 0, size: MODULE_STORE };
    }
    const ptr = this.store.ptr + this.store.used;
    new Uint8Array(this.heap.memory.buffer, ptr, bytes.length).set(bytes);
    this.store.used += bytes.length;
    return [ptr, bytes.length];
  }

  /**
   * Writes words, input pointers and the output pointer; runs the kernel over its outer range,
   * split over the threads when the kernel is large.
   */
  private call(c: Compiled, p: Prepared, ptrs: readonly number[]): boolean {
    const P = this.P;
    const words = p.words;
    if (words.length + ptrs.length > P.length) return false;
    for (let i = 0; i < words.length; i++) P[i] = words[i];
    for (let i = 0; i < ptrs.length; i++) P[words.length + i] = ptrs[i];
    const T = this.ctx.threads.size;
    const quietOnly = p.work < CONTENDED_GENERATED;
    const parts = c.len && p.splittable && p.work >= PARALLEL_GENERATED
      ? Math.min(quietOnly ? T : maxSlices(T), Math.floor(p.outer / p.unit))
      : 1;
    if (parts <= 1) {
      c.fn(this.params, 0, p.outer, 0);
      return true;
    }
    const per = Math.ceil(p.outer / parts / p.unit) * p.unit;
    const lists: number[][] = [];
    for (let a = 0; a < p.outer; a += per) {
      lists.push([this.params, a, Math.min(p.outer, a + per), a * p.outStride * 4]);
    }
    this.ctx.threads.runGenerated(c.id, c.ptr, c.len, lists, c.fn, quietOnly);
    return true;
  }

  private ew(k: EwKernel): boolean {
    const p = plan(k);
    if (p === undefined) return false;
    if (!p) return true;
    const c = this.compile(p);
    if (!c) return false;
    return this.call(c, p, this.pointers(k));
  }

  private reduce(k: ReduceKernel): boolean {
    const p = plan(k);
    if (p === undefined) return false;
    const out = k.out.buf as WasmBuffer;
    const o = k.out.view.offset;
    if (!p) {
      if (k.outSize === 0) return true;
      // Empty reductions: the identity (as the reference: ints and indices as `acc | 0`).
      const isF = k.expr.t === "f32" && k.op !== "argmax" && k.op !== "argmin";
      const v = k.op === "sum" ? 0 : k.op === "prod" ? 1 : k.op === "max" ? -Infinity : Infinity;
      if (isF) out.f.fill(v, o, o + k.outSize);
      else out.i.fill(k.op === "prod" ? 1 : 0, o, o + k.outSize);
      return true;
    }
    const c = this.compile(p);
    if (!c) return false;
    return this.call(c, p, this.pointers(k));
  }

  /**
   * Runs core kernel `name` over [0, total): split over the threads (slices aligned to `align`)
   * from PARALLEL_ELEMENTS of `work` (elements, weighted by their cost), else on the calling
   * thread; below CONTENDED_ELEMENTS the job is quiet-only. `args(a, b, thread)` gives each
   * slice's args.
   */
  private split(
    name: (typeof CORE_EXPORTS)[number],
    total: number,
    work: number,
    align: number,
    args: (a: number, b: number, thread: number) => number[],
  ): void {
    const { core, threads } = this.ctx;
    const parallel = work >= PARALLEL_ELEMENTS, quietOnly = work < CONTENDED_ELEMENTS;
    // one slice per thread for a quiet-only job: its slices are too short for balancing to pay
    const most = quietOnly ? threads.size : maxSlices(threads.size);
    const parts = parallel ? Math.min(most, Math.ceil(total / align)) : 1;
    if (parts <= 1) {
      core[name](...args(0, total, 0));
      return;
    }
    const per = Math.ceil(total / parts / align) * align;
    const lists: number[][] = [];
    for (let p = 0; p < parts; p++) {
      const a = p * per, b = Math.min(total, a + per);
      if (a < b) lists.push(args(a, b, lists.length));
    }
    if (lists.length === 1) core[name](...lists[0]);
    else threads.run(name, lists, core[name], quietOnly);
  }

  private softmax(k: SoftmaxKernel): boolean {
    const { rows, cols } = k;
    if (rows === 0) return true;
    if (cols === 0) {
      // the reference: softmax rows are empty; logsumexp of nothing is log(0) = -inf
      if (k.mode === "logsumexp") {
        const o = k.out.view.offset;
        (k.out.buf as WasmBuffer).f.fill(-Infinity, o, o + rows);
      }
      return true;
    }
    const mode = k.mode === "softmax" ? 0 : k.mode === "logsoftmax" ? 1 : 2;
    const x = ptrOf(k.x), y = ptrOf(k.out);
    this.split("softmax_rows", rows, rows * cols, 1, (a, b) => [x, y, a, b, cols, mode]);
    return true;
  }

  private norm(k: NormKernel): boolean {
    const { rows, cols } = k;
    if (rows === 0) return true;
    if (cols === 0) return true;
    const x = ptrOf(k.x), y = ptrOf(k.out);
    const w = k.weight ? ptrOf(k.weight) : 0, b = k.bias ? ptrOf(k.bias) : 0;
    const eps = f32Bits(k.eps) | 0;
    const layer = k.mode === "layer" ? 1 : 0, dy = k.dy ? ptrOf(k.dy) : 0;
    this.split("norm_rows", rows, rows * cols, 1, (r0, r1) => {
      return [x, w, b, y, r0, r1, cols, eps, layer, dy];
    });
    return true;
  }

  private optim(k: OptimKernel): boolean {
    if (k.n === 0) return true;
    const [lr, b1, b2, eps, wd, bc1, bc2, gradScale] = k.hyper;
    const scale = k.scale ? (k.scale.buf as WasmBuffer).f[k.scale.view.offset] : 1;
    const H = new Float64Array(this.heap.memory.buffer, this.hyper, OPTIM_HYPER.length);
    H.set([lr, b1, 1 - b1, b2, 1 - b2, eps, lr * wd, bc1, bc2, gradScale * scale]);
    const ptrs = [ptrOf(k.param), ptrOf(k.grad), ptrOf(k.m), ptrOf(k.v)];
    const rule = k.rule === "adam" ? 0 : 1;
    this.split("optim_range", k.n, k.n, 4, (a, b) => [...ptrs, a, b, rule, this.hyper]);
    return true;
  }

  private rng(k: RngKernel): boolean {
    if (k.n === 0) return true;
    const dist = k.dist === "uniform" ? 0 : k.dist === "normal" ? 1 : 2;
    const out = ptrOf(k.out);
    const [k0, k1] = k.key;
    // a draw costs about 4 elements of the other row kernels (threefry's 20 rounds)
    this.split("rng_fill", k.n, 4 * k.n, 4, (a, b) => {
      return [out, a, b, dist, k0 | 0, k1 | 0, k.counter | 0];
    });
    return true;
  }

  private gather(k: GatherKernel): boolean {
    const { outer, axisSize, nIdx, inner } = k;
    if (outer === 0 || inner === 0) return true;
    const scatter = k.mode === "scatterAdd" ? 1 : 0;
    if (scatter && nIdx === 0) {
      const o = k.out.view.offset;
      (k.out.buf as WasmBuffer).f.fill(0, o, o + outer * axisSize * inner);
      return true;
    }
    const src = ptrOf(k.src), idx = ptrOf(k.indices), out = ptrOf(k.out);
    const work = outer * Math.max(nIdx, scatter ? axisSize : 0) * inner;
    this.split("gather_run", outer, work, 1, (a, b) => {
      return [src, idx, out, a, b, axisSize, nIdx, inner, scatter];
    });
    return true;
  }

  /** The im2col scratch of thread `t`, at least `floats` large. */
  private col(t: number, floats: number): number {
    const s = this.colScratch[t];
    if (s && s.floats >= floats) return s.ptr;
    const n = Math.max(floats, COL_CAP);
    this.colScratch[t] = { ptr: this.heap.reserve(n * 4 + 64), floats: n };
    return this.colScratch[t].ptr;
  }

  private conv(k: ConvKernel): boolean {
    const g = k.geom;
    const { n, cin, h, w, cout, kh, kw, stride, padding, outH, outW } = g;
    if ([n, cin, h, w, cout, kh, kw, outH, outW].some((v) => v <= 0)) return false;
    const T = this.ctx.threads.size;
    const khkw = kh * kw;
    const W = new Int32Array(this.heap.memory.buffer, this.convParams, CW.WORDS);
    W.fill(0);
    const flops = 2 * n * cout * cin * khkw * outH * outW;
    const parallel = T > 1 && flops >= PARALLEL_FLOPS;
    const x = ptrOf(k.x), wt = ptrOf(k.w), out = ptrOf(k.out);
    W[CW.KH] = kh;
    W[CW.KW] = kw;
    W[CW.STRIDE] = stride;
    W[CW.PAD] = padding;
    W[CW.N] = n;
    W[CW.BIAS] = k.bias ? ptrOf(k.bias) : 0;
    let tasks: number;
    let need: number;
    const image = (c: number, H: number, Wd: number, oh: number, ow: number) => {
      W[CW.C] = c;
      W[CW.H] = H;
      W[CW.W] = Wd;
      W[CW.OH] = oh;
      W[CW.OW] = ow;
    };
    /** Images per group for images of P pixels: 1 (none) unless small images, several tasks each. */
    const groupOf = (P: number, tasksPerGroup = 1) => {
      const g = Math.min(n, Math.floor(GROUP_PIXELS / P));
      return Math.max(1, parallel ? Math.min(g, Math.floor(n * tasksPerGroup / (2 * T))) : g);
    };
    W[CW.GROUP] = 1;
    if (k.mode === "conv2d") {
      const P = outH * outW, K = cin * khkw;
      image(cin, h, w, outH, outW);
      let tile = Math.min(P, Math.max(NR, Math.floor(COL_CAP / K / NR) * NR));
      const per = Math.ceil(P / tile);
      if (parallel && n * per < T) tile = Math.min(tile, Math.ceil(P / Math.ceil(T / n) / NR) * NR);
      const G = tile === P ? groupOf(P) : 1;
      W[CW.MODE] = 0;
      W[CW.IMG] = x;
      W[CW.IMG_BATCH] = cin * h * w;
      W[CW.A] = wt;
      W[CW.M] = cout;
      W[CW.OUT] = out;
      W[CW.OUT_BATCH] = cout * P;
      W[CW.TILE] = tile;
      W[CW.TILES] = Math.ceil(P / tile);
      tasks = n * W[CW.TILES];
      need = K * tile;
      if (G > 1) {
        // groups of G images: im2col [K, G P], then the group product [cout, G P]
        W[CW.GROUP] = G;
        W[CW.XS] = K * G * P * 4;
        tasks = Math.ceil(n / G);
        need = (K + cout) * G * P;
      }
    } else if (k.mode === "convTranspose2d") {
      const P = h * w;
      image(cout, outH, outW, h, w);
      // groups of G small images: their inputs side by side [cin, G P], col [chunk, G P]
      const G = groupOf(P, Math.ceil(cout / Math.max(1, Math.floor(COL_CAP / (khkw * P)))));
      let tile = Math.min(cout, Math.max(1, Math.floor(COL_CAP / (khkw * P * G))));
      if (parallel && Math.ceil(n / G) * Math.ceil(cout / tile) < T) {
        tile = Math.min(tile, Math.ceil(cout / Math.ceil(T / Math.ceil(n / G))));
      }
      W[CW.GROUP] = G;
      W[CW.XS] = tile * khkw * P * G * 4;
      W[CW.MODE] = 1;
      W[CW.IMG] = x;
      W[CW.IMG_BATCH] = cin * h * w;
      W[CW.A] = wt;
      W[CW.OUT] = out;
      W[CW.OUT_BATCH] = cout * outH * outW;
      W[CW.TILE] = tile;
      W[CW.TILES] = Math.ceil(cout / tile);
      W[CW.COUT] = cout;
      W[CW.CIN] = cin;
      tasks = Math.ceil(n / G) * W[CW.TILES];
      need = (tile * khkw + (G > 1 ? cin : 0)) * P * G;
    } else {
      // weight gradients; `k.w` holds dy [n, cout, outH, outW]
      const tr = k.mode === "convTranspose2dWeightGrad";
      const [C, H, Wd, oh, ow] = tr ? [cout, outH, outW, h, w] : [cin, h, w, outH, outW];
      const P = oh * ow, K = C * khkw;
      image(C, H, Wd, oh, ow);
      const kchunk = parallel ? Math.ceil(K / T / NR) * NR : K;
      const tile = Math.min(P, Math.max(NR, Math.floor(COL_CAP / kchunk)));
      // groups of small images: dY [M, G P] and im2col [kchunk, G P] side by side (the product's
      // inner dimension G P instead of P; the weight gradient read and written once per group)
      const G = tile === P ? Math.min(n, Math.floor(GROUP_PIXELS / P)) : 1;
      W[CW.MODE] = 2;
      W[CW.IMG] = tr ? wt : x;
      W[CW.IMG_BATCH] = C * H * Wd;
      W[CW.A] = tr ? x : wt;
      W[CW.A_BATCH] = tr ? cin * h * w : cout * outH * outW;
      W[CW.M] = tr ? cin : cout;
      W[CW.OUT] = out;
      W[CW.TILE] = tile;
      W[CW.KCHUNK] = kchunk;
      tasks = Math.ceil(K / kchunk);
      need = kchunk * tile;
      if (G > 1) {
        const M = tr ? cin : cout;
        W[CW.GROUP] = G;
        W[CW.XS] = kchunk * G * P * 4;
        need = (kchunk + M) * G * P;
      }
    }
    const gp = this.convParams;
    const scratch = this.ctx.gemmScratch;
    // (its own limit, in flops: split jobs are large, never quiet-only)
    this.split("conv_task", tasks, parallel ? Infinity : 0, 1, (a, b, t) => {
      return [gp, a, b, scratch[t], this.col(t, need)];
    });
    return true;
  }
}
