/**
 * Parameter arenas: the parameters of a model packed into a few flat buffers (chunks), with
 * shadow arenas of the same layout for gradients and optimizer moments. An optimizer step over
 * an arena is then one fused dispatch per chunk, and EMA / soft target updates one elementwise
 * kernel per chunk. Parameters keep their identity: they are re-pointed at their slot.
 * @module
 */

import { DeviceError, fmtShape } from "../errors.ts";
import type { Backend, BufView, DeviceBuffer } from "../backend/types.ts";
import { LazyNode } from "../tensor/lazy.ts";
import { realizeNodes } from "../tensor/schedule.ts";
import { keep, Tensor } from "../tensor/tensor.ts";
import { contiguousView } from "../ir/view.ts";

/** Element alignment of slots (256 bytes: any binding offset alignment, and vec4 loads). */
const ALIGN = 64;

/** Where one parameter lives in an arena. */
export interface ArenaSlot {
  /** Index of the chunk buffer. */
  readonly chunk: number;
  /** Element offset inside the chunk. */
  readonly offset: number;
  /** Shape of the parameter. */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
}

/** The layout shared by an arena and its shadows. */
export interface ArenaLayout {
  /** The device backend holding the chunks. */
  readonly backend: Backend;
  /** Elements per chunk buffer. */
  readonly chunkSizes: readonly number[];
  /** One slot per parameter, in order. */
  readonly slots: readonly ArenaSlot[];
}

function planLayout(backend: Backend, shapes: readonly (readonly number[])[]): ArenaLayout {
  const maxChunk = Math.min(backend.maxBufferElements, 1 << 26);
  const chunkSizes: number[] = [];
  const slots: ArenaSlot[] = [];
  let at = 0;
  for (const shape of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > maxChunk) {
      throw new DeviceError(
        `a parameter of shape ${fmtShape(shape)} (${size} elements) exceeds the largest buffer ` +
          `this device allows (${maxChunk} elements)`,
      );
    }
    if (chunkSizes.length === 0 || at + size > maxChunk) {
      if (chunkSizes.length) chunkSizes[chunkSizes.length - 1] = at;
      chunkSizes.push(0);
      at = 0;
    }
    slots.push({ chunk: chunkSizes.length - 1, offset: at, shape: [...shape], size });
    at = Math.ceil((at + size) / ALIGN) * ALIGN;
  }
  if (chunkSizes.length) chunkSizes[chunkSizes.length - 1] = Math.max(at, ALIGN);
  return { backend, chunkSizes, slots };
}

/** Flat buffers with an arena's layout (gradients, moments), zero-initialised. */
export class ShadowArena {
  /** The chunk buffers. */
  readonly buffers: DeviceBuffer[];
  /** One tensor per slot, viewing its region (kept alive with the arena). */
  readonly slotTensors: Tensor[];
  /** One tensor per chunk, viewing the whole chunk. */
  readonly chunkTensors: Tensor[];
  private disposed = false;

  /** Allocates zeroed buffers with `layout`. */
  constructor(
    /** The layout shared with the parameter arena. */
    readonly layout: ArenaLayout,
    dtype: "float32" = "float32",
  ) {
    const be = layout.backend;
    this.buffers = layout.chunkSizes.map((n) => {
      const b = be.alloc(n);
      be.write(b, new Float32Array(n));
      return b;
    });
    this.slotTensors = layout.slots.map((s) => this.viewTensor(s.chunk, s.offset, s.shape, dtype));
    this.chunkTensors = layout.chunkSizes.map((n, i) => this.viewTensor(i, 0, [n], dtype));
  }

  /** A tensor viewing a region of a chunk. */
  private viewTensor(
    chunk: number,
    offset: number,
    shape: readonly number[],
    dtype: "float32",
  ): Tensor {
    const node = new LazyNode(this.layout.backend, [...shape], dtype, { kind: "buffer" });
    node.setBuffer(this.buffers[chunk], offset, true);
    return keep(new Tensor(node, contiguousView(shape)));
  }

  /** The region of slot `i`. */
  slot(i: number): BufView {
    const s = this.layout.slots[i];
    return { buf: this.buffers[s.chunk], view: contiguousView(s.shape, s.offset) };
  }

  /** The region of chunk `i`. */
  chunk(i: number): BufView {
    return { buf: this.buffers[i], view: contiguousView([this.layout.chunkSizes[i]]) };
  }

  /** Marks every view stale-checked: call after an in-place write into the buffers. */
  bumpVersions(): void {
    for (const t of this.slotTensors) t._node.version++;
    for (const t of this.chunkTensors) t._node.version++;
  }

  /** Frees the buffers. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.slotTensors, ...this.chunkTensors]) t.dispose();
    for (const b of this.buffers) this.layout.backend.free(b);
  }
}

/**
 * Parameters packed into flat chunks. Creating an arena copies each parameter into its slot and
 * re-points the parameter there; `shadow()` makes same-layout buffers for gradients/moments.
 */
export class ParamArena {
  /** Layout of the chunks and slots. */
  readonly layout: ArenaLayout;
  /** Storage of the parameters (chunk tensors and slot tensors are views of it). */
  readonly storage: ShadowArena;

  /** Packs `params` (all on one device). */
  constructor(readonly params: readonly Tensor[]) {
    if (params.length === 0) throw new DeviceError("an arena needs at least one parameter");
    const be = params[0]._backend;
    for (const p of params) {
      if (p._backend !== be) {
        throw new DeviceError(
          `arena parameters must share one device, got ${p.device} and ${params[0].device}`,
        );
      }
      if (p.dtype !== "float32") {
        throw new DeviceError(`arena parameters must be float32, got ${p.dtype}`);
      }
    }
    this.layout = planLayout(be, params.map((p) => p.shape));
    this.storage = new ShadowArena(this.layout);
    // Copy each parameter into its slot (one schedule), then re-point it there.
    const into = new Map<LazyNode, BufView>();
    const values = params.map((p) => p.contiguous());
    values.forEach((v, i) => into.set(v._node, this.storage.slot(i)));
    realizeNodes(values.map((v) => v._node), into);
    params.forEach((p, i) => {
      const s = this.layout.slots[i];
      const node = new LazyNode(be, [...s.shape], "float32", { kind: "buffer" });
      node.setBuffer(this.storage.buffers[s.chunk], s.offset, true);
      p._rebind(node, contiguousView(s.shape));
    });
  }

  /** The backend of the arena. */
  get backend(): Backend {
    return this.layout.backend;
  }

  /** Number of chunks. */
  get chunks(): number {
    return this.layout.chunkSizes.length;
  }

  /** The region of chunk `i` of the parameters. */
  chunk(i: number): BufView {
    return this.storage.chunk(i);
  }

  /** A zeroed buffer set with this layout. */
  shadow(): ShadowArena {
    return new ShadowArena(this.layout);
  }

  /** True when `other` has the same layout (shapes and order). */
  sameLayout(other: ParamArena): boolean {
    const a = this.layout.slots, b = other.layout.slots;
    return a.length === b.length &&
      a.every((s, i) =>
        s.chunk === b[i].chunk && s.offset === b[i].offset && s.size === b[i].size
      ) &&
      this.layout.chunkSizes.every((n, i) => n === other.layout.chunkSizes[i]);
  }

  /** Call after writing the parameter buffers in place: invalidates stale lazy values. */
  bumpVersions(): void {
    for (const p of this.params) p._node.version++;
    this.storage.bumpVersions();
  }
}
