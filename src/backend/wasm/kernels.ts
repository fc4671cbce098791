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

import type { EwKernel, Kernel, ReduceKernel } from "../types.ts";
import type { WasmBuffer, WasmHeap } from "./heap.ts";
import type { WasmBackend } from "./backend.ts";
import { ModuleBuilder } from "./emit.ts";
import { Unsupported } from "./codegen_expr.ts";
import { type Prepared, prepareEw, prepareReduce } from "./codegen_ew.ts";

/** The generated-kernel runner of a heap. */
export interface WasmKernels {
  /** Runs `k` if it has a wasm implementation; returns whether it did. */
  run(backend: WasmBackend, k: Kernel): boolean;
  /** Compiled generated kernels (for tests and profiling). */
  readonly compiled: number;
}

/** Bytes of the parameter block of generated kernels. */
const PARAM_BYTES = 1 << 16;

type Fn = (params: number) => void;

/** Creates the kernel runner for a heap. */
export function wasmKernels(heap: WasmHeap): WasmKernels {
  return new Runner(heap);
}

class Runner implements WasmKernels {
  private readonly cache = new Map<string, Fn | null>();
  private readonly params: number;
  private readonly P: Int32Array;

  constructor(readonly heap: WasmHeap) {
    this.params = heap.reserve(PARAM_BYTES);
    this.P = new Int32Array(heap.memory.buffer, this.params, PARAM_BYTES / 4);
  }

  get compiled(): number {
    let n = 0;
    for (const v of this.cache.values()) if (v) n++;
    return n;
  }

  run(backend: WasmBackend, k: Kernel): boolean {
    switch (k.kind) {
      case "ew":
        return this.ew(k);
      case "reduce":
        return this.reduce(k);
      default:
        void backend;
        return false;
    }
  }

  private compile(p: Prepared): Fn | null {
    let fn = this.cache.get(p.key);
    if (fn !== undefined) return fn;
    try {
      const f = p.build();
      const mb = new ModuleBuilder().importMemory(1, this.heap.maxPages, true);
      mb.add("k", f);
      const mod = new WebAssembly.Module(mb.bytes() as BufferSource);
      const inst = new WebAssembly.Instance(mod, { env: { memory: this.heap.memory } });
      fn = inst.exports.k as Fn;
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      fn = null;
    }
    this.cache.set(p.key, fn);
    return fn;
  }

  /** Writes words, input pointers and the output pointer; calls the kernel. */
  private call(fn: Fn, words: readonly number[], ptrs: readonly number[]): boolean {
    const P = this.P;
    if (words.length + ptrs.length > P.length) return false;
    for (let i = 0; i < words.length; i++) P[i] = words[i];
    for (let i = 0; i < ptrs.length; i++) P[words.length + i] = ptrs[i];
    fn(this.params);
    return true;
  }

  private ew(k: EwKernel): boolean {
    const p = prepareEw(k);
    if (!p) return true;
    const fn = this.compile(p);
    if (!fn) return false;
    const ptrs = k.inputs.map((b) => (b as WasmBuffer).ptr);
    ptrs.push((k.out.buf as WasmBuffer).ptr);
    return this.call(fn, p.words, ptrs);
  }

  private reduce(k: ReduceKernel): boolean {
    const p = prepareReduce(k);
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
    const fn = this.compile(p);
    if (!fn) return false;
    const ptrs = k.inputs.map((b) => (b as WasmBuffer).ptr);
    ptrs.push(out.ptr + o * 4);
    return this.call(fn, p.words, ptrs);
  }
}
