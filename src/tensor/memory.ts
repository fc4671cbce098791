/**
 * Deterministic memory management: `tidy` scopes and `memoryInfo`. Tensors are also released
 * when garbage collected, but GPU memory should not wait for the collector.
 * @module
 */

import { cpuBackend, webgpuIfReady } from "../backend/device.ts";
import { graphStats } from "./lazy.ts";
import { adoptIntoScope, keep, popScope, pushScope, type Scoped, tensorStats } from "./scope.ts";
import { Tensor } from "./tensor.ts";

/** Buffers and bytes of one device. */
export interface DeviceMemory {
  /** Buffers handed out and not yet freed. */
  readonly buffers: number;
  /** Bytes of those buffers. */
  readonly bytes: number;
  /** Bytes held in the pool for reuse. */
  readonly pooledBytes: number;
  /** Current size of the cpu heap (wasm backend). */
  readonly heapBytes?: number;
  /** Limit of the cpu heap (wasm backend). */
  readonly heapLimitBytes?: number;
}

/** Live memory, per device. */
export interface MemoryInfo {
  /** Tensors not yet disposed (or collected). */
  readonly tensors: number;
  /** Graph nodes alive (values and pending computations). */
  readonly nodes: number;
  /** Buffers and bytes held by the cpu backend. */
  readonly cpu: DeviceMemory;
  /** Buffers and bytes held by the webgpu backend (null when not initialised). */
  readonly webgpu: DeviceMemory | null;
  /** Buffers handed out, over all devices. */
  readonly buffers: number;
  /** Bytes of those buffers, over all devices. */
  readonly bytes: number;
}

/**
 * Live tensors, GPU/CPU buffers and bytes.
 *
 * @example
 * ```ts
 * import { memoryInfo } from "@worldflux/worldflux";
 * console.log(memoryInfo().tensors);
 * ```
 */
export function memoryInfo(): MemoryInfo {
  const cpu = cpuBackend().memory();
  const gpu = webgpuIfReady()?.memory() ?? null;
  return {
    tensors: tensorStats.live,
    nodes: graphStats.liveNodes,
    cpu,
    webgpu: gpu,
    buffers: cpu.buffers + (gpu?.buffers ?? 0),
    bytes: cpu.bytes + (gpu?.bytes ?? 0),
  };
}

function collect(value: unknown, out: Set<Scoped>, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== "object") return;
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, depth + 1);
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns (in a tensor, array,
 * Map or plain object) and those passed to `keep()`. Async functions are awaited.
 *
 * @example
 * ```ts
 * import { tidy, tensor } from "@worldflux/worldflux";
 * const y = tidy(() => tensor([1, 2, 3]).mul(2).add(1).sum());
 * console.log(await y.item()); // 15
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope = pushScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    popScope(scope);
    for (const t of scope) t.dispose();
    throw e;
  }
  popScope(scope);
  if (result instanceof Promise) {
    throw new TypeError("tidy() takes a synchronous function; await inside it is not supported");
  }
  const kept = new Set<Scoped>();
  collect(result, kept);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  // Returned tensors belong to the enclosing scope, if any.
  for (const t of kept) if (scope.has(t)) adoptIntoScope(t);
  return result;
}

export { keep };
