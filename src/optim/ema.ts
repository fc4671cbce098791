/**
 * Exponential moving averages of parameters: soft target updates (TD-MPC2's target Q heads,
 * DreamerV3's slow critic). `target <- (1 - tau) * target + tau * source`, in place. When both
 * sides are arenas with one layout the update is one kernel per chunk.
 * @module
 */

import { ConfigError, fmtShape } from "../errors.ts";
import { ParamArena } from "../nn/arena.ts";
import type { Module } from "../nn/module.ts";
import { noGrad, type Tensor } from "../tensor/tensor.ts";

function paramsOf(x: Module | readonly Tensor[]): readonly Tensor[] {
  return Array.isArray(x) ? x as readonly Tensor[] : (x as Module).parameters();
}

/**
 * `target <- (1 - tau) * target + tau * source` for matching parameter lists (or modules).
 * `tau = 1` copies.
 */
export function softUpdate(
  target: Module | readonly Tensor[],
  source: Module | readonly Tensor[],
  tau: number,
): void {
  const t = paramsOf(target), s = paramsOf(source);
  if (t.length !== s.length) {
    throw new ConfigError(
      `softUpdate: ${t.length} target parameters vs ${s.length} source parameters`,
    );
  }
  noGrad(() => {
    t.forEach((p, i) => {
      const q = s[i];
      if (p.shape.length !== q.shape.length || p.shape.some((d, j) => d !== q.shape[j])) {
        throw new ConfigError(
          `softUpdate: parameter ${i} has shape ${fmtShape(p.shape)} vs ${fmtShape(q.shape)}`,
        );
      }
      p.assign(tau === 1 ? q : p.mul(1 - tau).add(q.mul(tau)));
    });
  });
}

/**
 * An EMA of a set of parameters, kept in its own arena so that each update is one fused kernel
 * per chunk.
 */
export class EMA {
  /** The averaged copies (same shapes as the source parameters). */
  readonly shadow: Tensor[];
  private readonly arena: ParamArena;
  private readonly sourceArena: ParamArena | null;

  /**
   * Starts an average of `source` (its current values). When `sourceArena` (the arena the
   * source parameters live in, e.g. created by an optimizer) is given, updates run per chunk.
   */
  constructor(readonly source: readonly Tensor[], readonly decay = 0.98, sourceArena?: ParamArena) {
    this.shadow = noGrad(() => source.map((p) => p.clone().realize()));
    this.arena = new ParamArena(this.shadow);
    this.sourceArena = sourceArena && this.arena.sameLayout(sourceArena) ? sourceArena : null;
  }

  /** `shadow <- decay * shadow + (1 - decay) * source`. */
  update(): void {
    const tau = 1 - this.decay;
    if (this.sourceArena) {
      noGrad(() => {
        this.arena.storage.chunkTensors.forEach((c, i) => {
          const src = this.sourceArena!.storage.chunkTensors[i];
          c.assign(c.mul(this.decay).add(src.mul(tau)));
        });
      });
      this.arena.bumpVersions();
      return;
    }
    softUpdate(this.shadow, this.source, tau);
  }
}
