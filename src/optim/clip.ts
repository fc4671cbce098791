/**
 * Gradient clipping on `.grad` tensors, lazily (no read-back): global-norm clipping as
 * `torch.nn.utils.clip_grad_norm_`, and adaptive gradient clipping (Brock et al. 2021, used by
 * DreamerV3). Optimizers also clip the global norm inside their fused step (`gradClip`).
 * @module
 */

import { noGrad, type Tensor } from "../tensor/tensor.ts";
import { keep } from "../tensor/tensor.ts";

/**
 * Scales the gradients of `params` so their global L2 norm is at most `maxNorm`; returns the
 * norm before clipping (a lazy scalar tensor).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  return noGrad(() => {
    const withGrad = params.filter((p) => p.grad && !p.grad.isDisposed);
    let sq: Tensor | null = null;
    for (const p of withGrad) {
      const s = p.grad!.square().sum();
      sq = sq ? sq.add(s) : s;
    }
    if (!sq) return keep(params[0].mul(0).sum());
    const norm = sq.sqrt();
    const scale = norm.add(1e-6).reciprocal().mul(maxNorm).minimum(1);
    for (const p of withGrad) p.grad = keep(p.grad!.mul(scale));
    return keep(norm);
  });
}

/**
 * Adaptive gradient clipping: each unit's (output row's) gradient norm is limited to
 * `clip * max(norm of its weights, eps)`. Vectors (biases, norms) are clipped as one unit.
 */
export function adaptiveClipGrad(params: readonly Tensor[], clip = 0.3, eps = 1e-3): void {
  noGrad(() => {
    for (const p of params) {
      const g = p.grad;
      if (!g || g.isDisposed) continue;
      const axes = p.rank <= 1 ? null : Array.from({ length: p.rank - 1 }, (_, i) => i + 1);
      const unitNorm = (t: Tensor) =>
        axes === null ? t.square().sum().sqrt() : t.square().sum(axes, true).sqrt();
      const pn = unitNorm(p).maximum(eps);
      const gn = unitNorm(g).maximum(1e-6);
      const factor = pn.mul(clip).div(gn).minimum(1);
      p.grad = keep(g.mul(factor));
    }
  });
}
