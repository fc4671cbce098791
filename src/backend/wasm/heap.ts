/**
 * The cpu tensor heap: one shared `WebAssembly.Memory` (visible to every kernel module and
 * worker thread) with a size-class allocator. Growth is bounded by a limit that
 * `memoryInfo()` reports; running out gives a clear error.
 * @module
 */

import { DeviceError } from "../../errors.ts";
import { sizeClass } from "../cpu/js_backend.ts";
import type { DeviceBuffer } from "../types.ts";

/** A region of the heap; `f`/`i` view it as float32/int32 (views stay valid across growth). */
export interface WasmBuffer extends DeviceBuffer {
  /** Byte offset in the memory. */
  readonly ptr: number;
  readonly f: Float32Array;
  readonly i: Int32Array;
}

const PAGE = 65536;
/** Bytes kept free at the top of the heap: vector kernels may read up to 16 bytes past a tensor. */
const GUARD = 64;
/** Bytes reserved at the bottom (address 0 stays unused so a zero pointer is never valid). */
const BASE = 1024;

let nextId = 1;

/** The shared heap. */
export class WasmHeap {
  /** The memory every module imports. */
  readonly memory: WebAssembly.Memory;
  /** Most bytes the heap may grow to. */
  readonly limitBytes: number;
  private top = BASE;
  private readonly free = new Map<number, WasmBuffer[]>();
  /** Bytes handed out. */
  liveBytes = 0;
  /** Buffers handed out. */
  liveBuffers = 0;
  /** Bytes in the free lists. */
  pooledBytes = 0;

  /** Creates a heap of `initialBytes`, growing up to `limitBytes` (at most 4 GiB). */
  constructor(initialBytes = 64 << 20, limitBytes = defaultLimit()) {
    const maxPages = Math.min(65536, Math.floor(limitBytes / PAGE));
    const initial = Math.min(maxPages, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial, maximum: maxPages, shared: true });
    this.limitBytes = maxPages * PAGE;
  }

  /** Current size of the memory in bytes. */
  get sizeBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Maximum pages (what modules declare for the imported memory). */
  get maxPages(): number {
    return this.limitBytes / PAGE;
  }

  /** Allocates at least `n` 4-byte elements, 16-byte aligned. */
  alloc(n: number): WasmBuffer {
    const elems = Math.max(4, Math.ceil(sizeClass(Math.max(n, 1)) / 4) * 4);
    const bytes = elems * 4;
    const list = this.free.get(elems);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= bytes;
    else {
      if (this.top + bytes + GUARD > this.sizeBytes) this.grow(this.top + bytes + GUARD);
      const ptr = this.top;
      this.top += bytes;
      const sab = this.memory.buffer;
      buf = {
        id: nextId++,
        size: elems,
        ptr,
        f: new Float32Array(sab, ptr, elems),
        i: new Int32Array(sab, ptr, elems),
      };
    }
    this.liveBytes += bytes;
    this.liveBuffers++;
    return buf;
  }

  /** Returns a buffer to its size class. */
  release(b: WasmBuffer): void {
    const bytes = b.size * 4;
    this.liveBytes -= bytes;
    this.liveBuffers--;
    this.pooledBytes += bytes;
    let list = this.free.get(b.size);
    if (!list) this.free.set(b.size, list = []);
    list.push(b);
  }

  /** Reserves a raw region (kernel scratch) that is never freed. */
  reserve(bytes: number): number {
    const aligned = Math.ceil(bytes / 64) * 64;
    if (this.top + aligned + GUARD > this.sizeBytes) this.grow(this.top + aligned + GUARD);
    const ptr = Math.ceil(this.top / 64) * 64;
    this.top = ptr + aligned;
    return ptr;
  }

  private grow(needed: number): void {
    if (needed > this.limitBytes) {
      const gib = (this.limitBytes / 2 ** 30).toFixed(2);
      throw new DeviceError(
        `cpu tensor memory is exhausted: ${(needed / 2 ** 20).toFixed(0)} MiB needed, the heap ` +
          `limit is ${gib} GiB (live ${(this.liveBytes / 2 ** 20).toFixed(0)} MiB, pooled ` +
          `${(this.pooledBytes / 2 ** 20).toFixed(0)} MiB); dispose tensors you no longer need ` +
          `(tidy, dispose) or raise the limit with WORLDFLUX_CPU_HEAP_MB`,
      );
    }
    const cur = this.sizeBytes;
    // Grow by at least half the current size to keep growth rare.
    const target = Math.min(this.limitBytes, Math.max(needed, cur + (cur >> 1)));
    this.memory.grow(Math.ceil((target - cur) / PAGE));
  }
}

function defaultLimit(): number {
  let env: string | undefined;
  try {
    env = Deno.env.get("WORLDFLUX_CPU_HEAP_MB");
  } catch {
    env = undefined;
  }
  if (env && Number(env) > 0) return Math.min(Number(env) * 2 ** 20, 4 * 2 ** 30 - PAGE);
  let total = 8 * 2 ** 30;
  try {
    total = Deno.systemMemoryInfo().total;
  } catch {
    // no --allow-sys: assume 8 GiB
  }
  return Math.min(4 * 2 ** 30 - PAGE, Math.floor(total * 0.75));
}
