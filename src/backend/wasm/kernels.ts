/**
 * Generated wasm kernels of the cpu backend (besides matmul): fused elementwise chains,
 * reductions, softmax, norms, the optimizer update and convolutions. `run` returns false for a
 * kernel it does not handle (the reference TypeScript then runs it on the same memory).
 * @module
 */

import type { Kernel } from "../types.ts";
import type { WasmHeap } from "./heap.ts";
import type { WasmBackend } from "./backend.ts";

/** The generated-kernel runner of a heap. */
export interface WasmKernels {
  /** Runs `k` if it has a wasm implementation; returns whether it did. */
  run(backend: WasmBackend, k: Kernel): boolean;
  /** Whether `k` has a wasm implementation. */
  handles(k: Kernel): boolean;
}

/** Creates the kernel runner for a heap. */
export function wasmKernels(_heap: WasmHeap): WasmKernels {
  return { run: () => false, handles: () => false };
}
