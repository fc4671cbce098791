/**
 * {@link State}: a model's latent state as named tensors (`[B, ...]` each) plus metadata.
 * @module
 */

import type { DeviceName } from "../backend/types.ts";
import { ShapeError } from "../errors.ts";
import type { Tensor } from "../tensor/tensor.ts";

/**
 * A latent state: tensors by key, each with the batch on axis 0, and free-form metadata.
 * Families choose their keys (`latent`, `deter`, `stoch`, ...) and declare them in
 * `ioContract().stateSpec`. States are values: methods return new states.
 *
 * @example
 * ```ts
 * import { State, zeros } from "@worldflux/worldflux";
 * const s = new State({ latent: zeros([3, 8]) });
 * console.log(s.batchSize, s.keys()); // 3 ["latent"]
 * const frozen = s.detach();
 * frozen.dispose();
 * ```
 */
export class State {
  /** Tensors by key, batch on axis 0. */
  readonly tensors: Readonly<Record<string, Tensor>>;
  /** Metadata (not tensors): e.g. `{ step: 3 }`. */
  readonly meta: Readonly<Record<string, unknown>>;

  /** Creates a state (`meta.batchSize` overrides the batch size of an empty state). */
  constructor(tensors: Record<string, Tensor>, meta: Record<string, unknown> = {}) {
    this.tensors = Object.freeze({ ...tensors });
    this.meta = Object.freeze({ ...meta });
  }

  /** The batch size: axis 0 of the first tensor (or `meta.batchSize`). */
  get batchSize(): number {
    const first = Object.values(this.tensors)[0];
    if (first) return first.rank === 0 ? 1 : first.shape[0];
    const b = this.meta.batchSize;
    if (typeof b === "number") return b;
    throw new ShapeError("State.batchSize", "the state has no tensors and no meta.batchSize");
  }

  /** Device of the tensors (null for an empty state). */
  get device(): DeviceName | null {
    return Object.values(this.tensors)[0]?.device ?? null;
  }

  /** The tensor keys. */
  keys(): string[] {
    return Object.keys(this.tensors);
  }

  /** True when the state has `key`. */
  has(key: string): boolean {
    return key in this.tensors;
  }

  /** The tensor under `key` (throws naming the keys present when missing). */
  get(key: string): Tensor {
    const t = this.tensors[key];
    if (!t) {
      throw new ShapeError(
        "State.get",
        `no tensor "${key}" in the state; it has ${this.keys().join(", ") || "no tensors"}`,
      );
    }
    return t;
  }

  /** A new state with some tensors replaced or added (and metadata merged). */
  with(tensors: Record<string, Tensor>, meta: Record<string, unknown> = {}): State {
    return new State({ ...this.tensors, ...tensors }, { ...this.meta, ...meta });
  }

  /** The same values, cut from the autograd graph. */
  detach(): State {
    return this.map((t) => t.detach());
  }

  /** Copies with their own storage. */
  clone(): State {
    return this.map((t) => t.clone());
  }

  /** Copies on another device. */
  to(device: DeviceName): State {
    return this.map((t) => t.to(device));
  }

  /** Applies `fn` to every tensor. */
  map(fn: (t: Tensor, key: string) => Tensor): State {
    const out: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(this.tensors)) out[k] = fn(t, k);
    return new State(out, { ...this.meta });
  }

  /** Releases every tensor of the state. */
  dispose(): void {
    for (const t of Object.values(this.tensors)) t.dispose();
  }

  /** `using s = model.encode(obs)` support. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
