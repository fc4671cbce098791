/**
 * The cpu backend's buffer, shared by the backend that allocates it (`js_backend.ts`) and the
 * hand-written kernels that read and write it (`js_kernels.ts`).
 * @module
 */

import type { DeviceBuffer } from "../types.ts";

/** A cpu buffer: one ArrayBuffer seen as float32 and int32. */
export interface CpuBuffer extends DeviceBuffer {
  readonly f: Float32Array;
  readonly i: Int32Array;
}
