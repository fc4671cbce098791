/**
 * WebGPU kernels beyond the generated ones: convolutions, pooling/upsampling, gather/scatter,
 * sort and the fused optimizer update.
 * @module
 */

import { KernelError } from "../../errors.ts";
import type { Kernel } from "../types.ts";
import type { WebGPUBackend } from "./backend.ts";

/** Runs a hand-written kernel on the WebGPU backend. */
export function runExtraKernel(_be: WebGPUBackend, k: Kernel): void {
  throw new KernelError(`webgpu: kernel "${k.kind}" is not implemented yet`);
}
