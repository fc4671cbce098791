/**
 * The fast cpu backend: tensors live in one shared WebAssembly memory. Matmul and convolutions
 * (im2col/col2im + the packed gemm) run as SIMD wasm split over worker threads when large;
 * softmax, norms and the fused optimizer update run from the same core module (rows / element
 * ranges split over the threads when large); fused elementwise chains and reductions run as
 * wasm generated per kernel structure on the calling thread (see kernels.ts). Kernels without a
 * wasm version (pooling, sort) run the reference TypeScript code on the same memory; random
 * numbers (threefry, the same bits as the reference) and gather/scatter-add run in wasm too.
 * @module
 */

import { DeviceError } from "../../errors.ts";
import type { Expr } from "../../ir/expr.ts";
import { numel, type View } from "../../ir/view.ts";
import { JsBackend } from "../cpu/js_backend.ts";
import type { BackendMemory, DeviceBuffer, Kernel, MatmulKernel, ReadRequest } from "../types.ts";
import { ModuleBuilder } from "./emit.ts";
import {
  addColsGemm,
  addGemm,
  addSmallGemm,
  addTranspose,
  gemmScratchBytes,
  KC,
  MR,
  NC,
  NR,
} from "./gemm.ts";
import { type WasmBuffer, WasmHeap } from "./heap.ts";
import { WorkerPool } from "./pool.ts";
import {
  CORE_EXPORTS,
  type CoreExports,
  maxSlices,
  type WasmKernels,
  wasmKernels,
} from "./kernels.ts";
import { addConv } from "./conv.ts";
import { addRows } from "./rows.ts";
import { addOptim } from "./optim.ts";
import { addRandom } from "./random.ts";
import { addGather } from "./gather.ts";
import { JOB } from "./pool_protocol.ts";

/** Tuning switches (benchmarks compare variants in one process). @internal */
export const wasmOptions: { smallGemm: boolean; fewRows: boolean } = {
  smallGemm: true,
  fewRows: true,
};

/**
 * Rows up to which a product whose B is too large for `gemm_small` runs as `gemm_cols` (B walked
 * once, column strips split over the threads) instead of the packed gemm, whose packing of B
 * costs as much as the product when A has few rows (a recurrent step's 16 rows).
 */
const FEW_ROWS = 32;

/** m * n * k at or below which a matmul with k-contiguous operands runs as dot products. */
const SMALL_MNK = 96 * 96 * 96;

/**
 * Largest B (k * n elements) the unpacked register-blocked gemm_small takes: B then stays in
 * cache while every row block of A streams past it, and packing would only cost time (measured
 * 1.4-2x faster than the packed gemm for tall products with k, n <= ~128).
 */
const SMALL_B = 65536;

/**
 * Work (flops) below which a matmul stays on the calling thread: a [256, 32] x [32, 32] product
 * (0.5 MFLOP) already gains from two threads (see PARALLEL_ELEMENTS in kernels.ts).
 */
const PARALLEL_FLOPS = 1 << 17;
/**
 * Flops below which a split matmul is quiet-only: on the calling thread while the pool is contended
 * (see CONTENDED_ELEMENTS in kernels.ts; the limit before PARALLEL_FLOPS was lowered).
 */
const CONTENDED_FLOPS = 1 << 21;
/**
 * Rows below which a matmul is not cut into more slices than threads: every slice packs all of B
 * (KC x NC panels), so thin slices repeat that work (measured: [256, 512] x [512, 512] on 2
 * threads, 8 slices of 32 rows 62-77 GFLOP/s, 4 slices of 64 rows 83).
 */
const MIN_SLICE_ROWS = 64;
/**
 * Floats of B (k x n, n rounded up to 8) up to which a matmul split over threads packs B once on
 * the calling thread and every slice reads it, instead of each slice packing all of B.
 */
const PREPACK_FLOATS = 1 << 20;

/** The wasm cpu backend. */
export class WasmBackend extends JsBackend {
  /** The heap all cpu tensors live in. */
  readonly heap: WasmHeap;
  /** Kernel threads (size 1: no workers). */
  readonly threads: WorkerPool;
  private readonly core: CoreExports;
  private readonly gemmSmall: (...a: number[]) => void;
  private readonly transpose: (...a: number[]) => void;
  /** Scratch for a small transposed B laid out row-major (see planMatmul). */
  private readonly bT: number;
  /** Scratch of a B packed once for all slices (see PREPACK_FLOATS). */
  private readonly prepacked: number;
  private readonly scratch: number[];
  private readonly kernels: WasmKernels;
  /** Kernel kinds run by the TypeScript reference instead of wasm (counted, for reports). */
  readonly fallbacks: Map<string, number> = new Map();

  override readonly maxBufferElements: number;

  constructor(threads = navigator.hardwareConcurrency || 1, heap = new WasmHeap()) {
    super();
    this.heap = heap;
    this.maxBufferElements = Math.floor(heap.limitBytes / 4);
    const mb = new ModuleBuilder().importMemory(1, heap.maxPages, true);
    addGemm(mb);
    addSmallGemm(mb);
    addColsGemm(mb);
    addTranspose(mb);
    addConv(mb);
    addRows(mb);
    addOptim(mb);
    addRandom(mb);
    addGather(mb);
    const module = new WebAssembly.Module(mb.bytes() as BufferSource);
    const inst = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
    this.core = inst.exports as unknown as CoreExports;
    this.gemmSmall = inst.exports.gemm_small as (...a: number[]) => void;
    this.transpose = inst.exports.transpose_into as (...a: number[]) => void;
    this.bT = heap.reserve(SMALL_B * 4 + 64);
    this.prepacked = heap.reserve(PREPACK_FLOATS * 4 + 64);
    this.threads = new WorkerPool(heap.memory, module, [...CORE_EXPORTS], Math.max(1, threads));
    this.scratch = Array.from(
      { length: this.threads.size > 1 ? maxSlices(this.threads.size) : 1 },
      () => heap.reserve(gemmScratchBytes),
    );
    this.kernels = wasmKernels(heap, {
      core: this.core,
      threads: this.threads,
      gemmScratch: this.scratch,
    });
    if (this.threads.size > 1) this.threads.warm();
  }

  override alloc(n: number): WasmBuffer {
    return this.heap.alloc(n);
  }

  override free(buf: DeviceBuffer): void {
    this.heap.release(buf as WasmBuffer);
  }

  override readSync(req: ReadRequest): Float32Array | Int32Array {
    const b = req.buf as WasmBuffer;
    return req.dtype === "float32"
      ? b.f.slice(req.offset, req.offset + req.n)
      : b.i.slice(req.offset, req.offset + req.n);
  }

  override memory(): BackendMemory & { heapBytes: number; heapLimitBytes: number } {
    return {
      buffers: this.heap.liveBuffers,
      bytes: this.heap.liveBytes,
      pooledBytes: this.heap.pooledBytes,
      heapBytes: this.heap.sizeBytes,
      heapLimitBytes: this.heap.limitBytes,
    };
  }

  override run(k: Kernel): void {
    if (k.kind === "matmul") {
      this.dispatchCount++;
      return this.planMatmul(k)();
    }
    if (this.kernels.run(k)) {
      this.dispatchCount++;
      return;
    }
    this.fallbacks.set(k.kind, (this.fallbacks.get(k.kind) ?? 0) + 1);
    super.run(k);
  }

  /** Plans a kernel once (wasm kernels are cached by the runner; matmul tasks are cheap). */
  override prepare(k: Kernel): () => void {
    if (k.kind === "matmul") {
      const run = this.planMatmul(k, true);
      return () => {
        this.dispatchCount++;
        run();
      };
    }
    const p = this.kernels.prepare(k);
    if (p) {
      return () => {
        this.dispatchCount++;
        p();
      };
    }
    return super.prepare(k);
  }

  /**
   * Plans a matmul (+ its epilogue as an in-place elementwise pass): the per-batch pointer
   * arithmetic, the thread split and the kernel choice happen once; the returned function only
   * calls wasm. Small products with a row-major or k-contiguous B use the unpacked
   * `gemm_small`; the rest the packed gemm, split over threads when large. `prepared` also
   * plans the epilogue once (compiled replay).
   */
  private planMatmul(k: MatmulKernel, prepared = false): () => void {
    const { m, n } = k;
    const K = k.k;
    const steps: (() => void)[] = [];
    let biasFolded = false;
    if (m > 0 && n > 0) {
      const outBuf = k.out.buf as WasmBuffer;
      const out0 = outBuf.ptr + k.out.view.offset * 4;
      if (K === 0) {
        const from = k.out.view.offset, to = from + numel([...k.batch, m, n]);
        steps.push(() => outBuf.f.fill(0, from, to));
      } else {
        const a = k.a, b = k.b;
        const r = a.view.strides.length;
        const [sam, sak] = [a.view.strides[r - 2], a.view.strides[r - 1]];
        const [sbk, sbn] = [b.view.strides[r - 2], b.view.strides[r - 1]];
        const aPtr = (a.buf as WasmBuffer).ptr, bPtr = (b.buf as WasmBuffer).ptr;
        const nb = numel(k.batch);
        const threads = this.threads.size;
        const flops = 2 * m * n * K * nb;
        const quietOnly = flops < CONTENDED_FLOPS;
        // Kernel choice: unpacked when B is small (row-major B as is; a transposed B is first
        // laid out row-major in scratch, once per batch), dot products for small k-contiguous
        // products, else the packed gemm.
        const smallB = wasmOptions.smallGemm && K * n <= SMALL_B;
        const transposeB = smallB && sbn !== 1 && m >= 32;
        const small = (smallB && (sbn === 1 || transposeB)) ||
          (m * n * K <= SMALL_MNK && sak === 1 && sbk === 1);
        // Few rows: gemm_cols when B is large, and for every k-contiguous B (its 4 x 2 dot
        // tiles beat gemm_small's one-row dot products on small products too).
        const dot = sak === 1 && sbk === 1 && sbn !== 1;
        if (wasmOptions.fewRows && m <= FEW_ROWS && (dot || (!small && sbn === 1))) {
          steps.push(
            this.planColsGemm(k, nb, threads > 1 && flops >= PARALLEL_FLOPS, quietOnly),
          );
          return this.withEpilogue(k, steps, prepared);
        }
        // Split rows (MR-aligned) of each batch over the threads when the work is large.
        // (several slices per thread: they are claimed dynamically, see WorkerPool; one per
        // thread for a quiet-only product, whose slices are too short for balancing to pay)
        // The packed gemm keeps slices of at least MIN_SLICE_ROWS rows beyond one per thread.
        const maxParts = Math.min(
          quietOnly ? threads : maxSlices(threads),
          Math.floor(m / (2 * MR)),
        );
        const parts = threads > 1 && flops >= PARALLEL_FLOPS && m >= 2 * MR
          ? (small ? maxParts : Math.max(
            Math.min(threads, maxParts),
            // (a multiple of the threads, so that no thread is left with one slice more)
            Math.min(maxParts, Math.round(m / MIN_SLICE_ROWS / threads) * threads),
          ))
          : 1;
        const tasks: number[][] = [];
        const pre: number[][] = [];
        // gemm_small adds a bias repeated over the rows itself (the epilogue's only work)
        const bias = small ? rowBias(k) : null;
        biasFolded = bias !== null;
        for (let bi = 0; bi < nb; bi++) {
          let rem = bi, ao = a.view.offset, bo = b.view.offset, biasAt = 0;
          for (let d = k.batch.length - 1; d >= 0; d--) {
            const c = rem % k.batch[d];
            rem = Math.floor(rem / k.batch[d]);
            ao += c * a.view.strides[d];
            bo += c * b.view.strides[d];
            if (bias) biasAt += c * bias.view.strides[d];
          }
          const biasPtr = bias ? (bias.buf as WasmBuffer).ptr + (bias.view.offset + biasAt) * 4 : 0;
          const cPtr = out0 + bi * m * n * 4;
          const rowsPer = Math.ceil(m / parts / MR) * MR;
          for (let p = 0; p < parts; p++) {
            const m0 = p * rowsPer, m1 = Math.min(m, m0 + rowsPer);
            if (m0 >= m1) continue;
            if (small) {
              const aRow = aPtr + (ao + m0 * sam) * 4;
              const cRow = cPtr + m0 * n * 4;
              const task = (bp: number, bk: number, bn: number) =>
                tasks.push([aRow, sam, sak, bp, bk, bn, cRow, n, m1 - m0, n, K, biasPtr]);
              if (transposeB) {
                if (p === 0) pre.push([bPtr + bo * 4, sbk, sbn, K, n, this.bT]);
                task(this.bT, n, 1);
              } else task(bPtr + bo * 4, sbk, sbn);
            } else {
              tasks.push([aPtr + ao * 4, sam, sak, bPtr + bo * 4, sbk, sbn, cPtr, n, m0, m1, n, K]);
              if (p === 0) pre.push([bPtr + bo * 4, sbk, sbn, K, n, this.prepacked]);
            }
          }
        }
        if (small && (parts > 1 || transposeB)) {
          // Per batch: transpose B (when needed), then one pool round over the row slices.
          const g = this.gemmSmall;
          const perBatch = tasks.length / nb;
          const groups = Array.from(
            { length: nb },
            (_, bi) => tasks.slice(bi * perBatch, (bi + 1) * perBatch),
          );
          steps.push(() => {
            for (let bi = 0; bi < nb; bi++) {
              if (transposeB) this.transpose(...pre[bi]);
              const group = groups[bi];
              if (group.length > 1) this.threads.run("gemm_small", group, g, quietOnly);
              else g(...group[0]);
            }
          });
        } else if (small) {
          const g = this.gemmSmall;
          if (tasks.length === 1) {
            const [t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11] = tasks[0];
            steps.push(() => g(t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11));
          } else {steps.push(() => {
              for (const t of tasks) g(...t);
            });}
        } else if (parts > 1 && K * Math.ceil(n / NR) * NR <= PREPACK_FLOATS) {
          // Per batch: B packed once here, then one pool round of slices that read it (gemm_pp
          // takes the packed B and its padded width in place of B and its strides).
          const npad = Math.ceil(n / NR) * NR;
          const perBatch = tasks.length / nb;
          const rounds = pre.map((_, bi) =>
            tasks.slice(bi * perBatch, (bi + 1) * perBatch).map((
              t,
              j,
            ) => [t[0], t[1], t[2], this.prepacked, npad, 0, ...t.slice(6), this.scratch[j]])
          );
          // The packing itself is split over the threads too: the KC x NC blocks of B in
          // column ranges (NR-aligned), each packed where gemm_pp reads it.
          const packs = pre.map(([bp, bk, bn]) =>
            packTasks(bp, bk, bn, K, n, this.prepacked, threads)
          );
          const core = this.core;
          steps.push(() => {
            for (let bi = 0; bi < nb; bi++) {
              this.threads.run("gemm_packB", packs[bi], core.gemm_packB, quietOnly);
              this.threads.run("gemm_pp", rounds[bi], core.gemm_pp, quietOnly);
            }
          });
        } else if (parts > 1) {
          // One pool round per group of `threads` tasks (batch-major).
          const groups: number[][][] = [];
          // (each slice of a round has its own packing scratch: slices are claimed dynamically)
          const round = this.scratch.length;
          for (let i = 0; i < tasks.length; i += round) {
            groups.push(tasks.slice(i, i + round).map((t, j) => [...t, this.scratch[j]]));
          }
          steps.push(() => {
            for (const g of groups) this.threads.run("gemm", g, this.core.gemm, quietOnly);
          });
        } else {
          const withScratch = tasks.map((t) => [...t, this.scratch[0]]);
          steps.push(() => {
            for (const t of withScratch) this.core.gemm(...t);
          });
        }
      }
    }
    return this.withEpilogue(k, steps, prepared, biasFolded);
  }

  /**
   * Appends the epilogue (an in-place elementwise pass over the product; none when the product
   * already added it: `biasFolded`) and joins the steps.
   */
  private withEpilogue(
    k: MatmulKernel,
    steps: (() => void)[],
    prepared: boolean,
    biasFolded = false,
  ): () => void {
    const { m, n } = k;
    if (m > 0 && n > 0) {
      if (k.epilogue && !biasFolded) {
        // out = epilogue(out): the accumulator becomes a load of the output at the same index.
        const idx = k.inputs.length;
        const outView = {
          shape: [...k.batch, m, n],
          strides: k.out.view.strides,
          offset: k.out.view.offset,
        };
        const expr = replaceAcc(k.epilogue, { k: "load", input: idx, view: outView, t: "f32" });
        const ew: Kernel = {
          kind: "ew",
          out: k.out,
          expr,
          inputs: [...k.inputs, k.out.buf],
          consts: k.consts,
        };
        const p = prepared ? this.kernels.prepare(ew) : null;
        steps.push(p ?? (() => this.runUncounted(ew)));
      }
    }
    if (steps.length === 1) return steps[0];
    return () => {
      for (const s of steps) s();
    };
  }

  /**
   * Plans `gemm_cols` over every batch: the columns of each batch in strips (multiples of the
   * kernel's strip width), all strips of all batches in one pool round when `parallel`.
   */
  private planColsGemm(
    k: MatmulKernel,
    nb: number,
    parallel: boolean,
    quietOnly: boolean,
  ): () => void {
    const { m, n } = k;
    const K = k.k;
    const a = k.a, b = k.b;
    const r = a.view.strides.length;
    const [sam, sak] = [a.view.strides[r - 2], a.view.strides[r - 1]];
    const [sbk, sbn] = [b.view.strides[r - 2], b.view.strides[r - 1]];
    const aPtr = (a.buf as WasmBuffer).ptr, bPtr = (b.buf as WasmBuffer).ptr;
    const out0 = (k.out.buf as WasmBuffer).ptr + k.out.view.offset * 4;
    const unit = sbn === 1 ? 8 : 2;
    const strips = Math.ceil(n / unit);
    // Per batch: enough strips for every thread to claim a few (they are claimed dynamically).
    const slices = quietOnly ? this.threads.size : 2 * this.threads.size;
    const per = parallel ? Math.min(strips, Math.max(1, Math.ceil(slices / nb))) : 1;
    const width = Math.ceil(strips / per) * unit;
    const tasks: number[][] = [];
    for (let bi = 0; bi < nb; bi++) {
      let rem = bi, ao = a.view.offset, bo = b.view.offset;
      for (let d = k.batch.length - 1; d >= 0; d--) {
        const c = rem % k.batch[d];
        rem = Math.floor(rem / k.batch[d]);
        ao += c * a.view.strides[d];
        bo += c * b.view.strides[d];
      }
      const cPtr = out0 + bi * m * n * 4;
      for (let c0 = 0; c0 < n; c0 += width) {
        const cols = Math.min(width, n - c0);
        tasks.push([
          aPtr + ao * 4,
          sam,
          sak,
          bPtr + (bo + c0 * sbn) * 4,
          sbk,
          sbn,
          cPtr + c0 * 4,
          n,
          m,
          cols,
          K,
        ]);
      }
    }
    const g = this.core.gemm_cols;
    if (tasks.length > 1 && parallel) {
      const rounds: number[][][] = [];
      for (let i = 0; i < tasks.length; i += JOB.MAX_SLICES) {
        rounds.push(tasks.slice(i, i + JOB.MAX_SLICES));
      }
      return () => {
        for (const r of rounds) this.threads.run("gemm_cols", r, g, quietOnly);
      };
    }
    return () => {
      for (const t of tasks) g(...t);
    };
  }

  /** Runs a kernel without counting a dispatch (parts of a planned kernel); fallbacks count. */
  private runUncounted(k: Kernel): void {
    if (this.kernels.run(k)) return;
    this.fallbacks.set(k.kind, (this.fallbacks.get(k.kind) ?? 0) + 1);
    super.run(k);
  }
}

/**
 * Argument lists of `gemm_packB` that together pack all of B (k x n at `b`, strides in
 * elements) in the layout `gemm_pp` reads at `dst`: each KC x NC block cut into NR-aligned
 * column ranges, about two per thread.
 */
function packTasks(
  b: number,
  sbk: number,
  sbn: number,
  K: number,
  n: number,
  dst: number,
  threads: number,
): number[][] {
  const npad = Math.ceil(n / NR) * NR;
  const blocks = Math.ceil(K / KC) * Math.ceil(n / NC);
  const cut = Math.max(1, Math.ceil((2 * threads) / blocks));
  const tasks: number[][] = [];
  for (let kk = 0; kk < K; kk += KC) {
    const kc = Math.min(KC, K - kk);
    for (let nn = 0; nn < n; nn += NC) {
      const nc = Math.min(NC, n - nn);
      const per = Math.ceil(nc / cut / NR) * NR;
      for (let c0 = 0; c0 < nc; c0 += per) {
        const c1 = Math.min(nc, c0 + per);
        tasks.push([
          b + (kk * sbk + (nn + c0) * sbn) * 4,
          sbk,
          sbn,
          kc,
          c1 - c0,
          dst + (kk * npad + nn * kc + c0 * kc) * 4,
        ]);
      }
    }
  }
  return tasks;
}

/**
 * The bias of a matmul whose epilogue is `acc + bias` with the bias repeated over the rows (stride
 * 0 along m, 1 along n; any batch strides): its buffer and view. Null for any other epilogue.
 */
function rowBias(k: MatmulKernel): { buf: DeviceBuffer; view: View } | null {
  const e = k.epilogue;
  if (!e || e.k !== "bin" || e.op !== "+" || e.t !== "f32") return null;
  const load = e.a.k === "acc" ? e.b : e.b.k === "acc" ? e.a : null;
  if (!load || load.k !== "load" || load.t !== "f32") return null;
  const v = load.view, r = v.strides.length;
  if (r !== k.batch.length + 2 || v.strides[r - 2] !== 0) return null;
  if (v.strides[r - 1] !== 1 && k.n !== 1) return null;
  return { buf: k.inputs[load.input], view: v };
}

function replaceAcc(e: Expr, acc: Expr): Expr {
  const memo = new Map<Expr, Expr>();
  const go = (x: Expr): Expr => {
    const hit = memo.get(x);
    if (hit) return hit;
    let out: Expr;
    switch (x.k) {
      case "acc":
        out = acc;
        break;
      case "un":
      case "cast":
        out = { ...x, a: go(x.a) } as Expr;
        break;
      case "bin":
        out = { ...x, a: go(x.a), b: go(x.b) };
        break;
      case "call":
        out = { ...x, args: x.args.map(go) };
        break;
      case "frame":
        out = { ...x, body: go(x.body) };
        break;
      default:
        out = x;
    }
    memo.set(x, out);
    return out;
  };
  return go(e);
}

export { DeviceError };
