/**
 * What the WebGPU kernels (`kernels.ts`, `kernels_extra.ts`) need from the device: buffers,
 * compiled pipelines and dispatches. `WebGPUBackend` implements it; the kernels never see the
 * backend class.
 * @module
 */

import type { DeviceBuffer } from "../types.ts";

/** A compiled kernel: pipeline plus the layout pattern of its bindings. */
export interface CompiledKernel {
  readonly pipeline: GPUComputePipeline;
  /** Binding access pattern after the uniform, e.g. `"wrr"` (w = read_write, r = read). */
  readonly pattern: string;
  /** Uniform words the kernel reads (bound size is this rounded up to vec4). */
  readonly words: number;
}

/** The device as the kernels use it. */
export interface KernelHost {
  /** A software adapter (smaller workgroups). */
  readonly isFallbackAdapter: boolean;
  /** The most workgroups one dispatch may launch along each of x, y and z. */
  readonly maxGroupsPerDim: number;
  /** A pooled buffer of `n` elements. */
  alloc(n: number): DeviceBuffer;
  /**
   * The compiled kernel for `key`, building its source with `source()` on a miss. `pattern`
   * gives the access of bindings 1.. ("w" read_write, "r" read).
   */
  compile(
    key: string,
    pattern: string,
    words: number,
    source: () => string,
    entry?: string,
  ): CompiledKernel;
  /** Records one dispatch of `k` over `groups` workgroups (times `z`). */
  dispatch(
    k: CompiledKernel,
    buffers: readonly DeviceBuffer[],
    words: ArrayLike<number>,
    groups: number,
    z?: number,
  ): void;
  /** Records one dispatch with explicit x/y/z workgroup counts. */
  dispatch3(
    k: CompiledKernel,
    buffers: readonly DeviceBuffer[],
    words: ArrayLike<number>,
    x: number,
    y: number,
    z: number,
  ): void;
}
