/**
 * Loss helpers of the `dreamerv3` family, in tensor ops (nothing is read back): two-hot
 * encoding over exponentially spaced bins (evenly spaced in symlog space) and its
 * cross-entropy and expected value, both in raw space (official `embodied/jax/outs.py` TwoHot
 * with `heads.py` `symexp_twohot` bins), the
 * Bernoulli loss of the continue head (`outs.Binary`), lambda-returns (`dreamerv3/agent.py`
 * `lambda_return`), percentiles for return normalisation, and adaptive gradient clipping per
 * parameter tensor (`embodied/jax/opt.py` `clip_by_agc`).
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { arange, stack, tensor } from "../../tensor/creation.ts";
import { sort } from "../../tensor/functional.ts";
import { keep, noGrad, type Tensor } from "../../tensor/tensor.ts";

/**
 * The official two-hot bins (`heads.py` `symexp_twohot`), as a float32 tensor `[K]` of raw
 * values: `half = symexp(linspace(-range, 0, ceil(K / 2)))` followed by its negated mirror
 * (`-half[:-1][::-1]` for odd K, `-half[::-1]` for even K). The bins are spaced evenly in
 * symlog space but hold raw values, so the encoding interpolates and the prediction averages in
 * raw space; exactly symmetric (bin `K-1-i` is minus bin `i`, the middle bin of an odd K is 0).
 */
export function twohotBins(bins: number, range: number, device: DeviceName): Tensor {
  const n = bins % 2 ? (bins - 1) / 2 + 1 : bins / 2;
  const half = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.fround(-range + (range * i) / (n - 1)); // float32 linspace, as jnp
    half[i] = -Math.expm1(-x); // symexp(x) = -(exp(-x) - 1) for x <= 0
  }
  half[n - 1] = 0;
  const v = new Float32Array(bins);
  v.set(half, 0);
  for (let i = 0; i < bins - n; i++) v[bins - 1 - i] = -half[i];
  return tensor(v, [bins], { device });
}

/**
 * DreamerV3's two-hot encoding of raw values `y` (`[N]`) over ascending `bins` `[K]` (outs.py
 * `TwoHot.loss`): `[N, K]`, weight `|bins[above] - y| / (|bins[below] - y| + |bins[above] - y|)`
 * on the bin below and the complement on the bin above; all weight on one bin outside the range
 * or exactly on a bin. No gradient flows to `y`.
 */
export function twohot(y: Tensor, bins: Tensor): Tensor {
  const k = bins.shape[0];
  const yv = y.detach();
  const yc = yv.unsqueeze(-1); // [N, 1]
  const below = bins.le(yc).sum(-1).sub(1).clamp(0, k - 1); // int32 [N]
  const above = bins.gt(yc).sum(-1).neg().add(k).clamp(0, k - 1);
  const equal = below.eq(above);
  const distBelow = equal.ifElse(1, bins.gather(below).sub(yv).abs());
  const distAbove = equal.ifElse(1, bins.gather(above).sub(yv).abs());
  const total = distBelow.add(distAbove);
  const wBelow = distAbove.div(total).unsqueeze(-1);
  const wAbove = distBelow.div(total).unsqueeze(-1);
  const classes = arange(k, { dtype: "int32", device: y.device });
  const oh = (i: Tensor) => i.unsqueeze(-1).eq(classes).cast("float32");
  return wBelow.mul(oh(below)).add(wAbove.mul(oh(above)));
}

/** Two-hot cross-entropy per row: `-sum(twohot(target) * logSoftmax(logits))`, `[N]`. */
export function twohotLoss(logits: Tensor, target: Tensor, bins: Tensor): Tensor {
  const t = twohot(target.detach(), bins);
  return t.mul(logits.logSoftmax(-1)).sum(-1).neg();
}

/**
 * Expected value `sum(softmax(logits) * bins)` in raw space, `[N]` (outs.py `TwoHot.pred`),
 * summed pairwise over the symmetric bins (`(p[K-1-i] - p[i]) * bins[K-1-i]`, as outs.py's
 * symmetric sum) so that equal logits (a zero-initialised head) give exactly 0.
 */
export function twohotPred(logits: Tensor, bins: Tensor): Tensor {
  const k = bins.shape[0];
  const m = k >> 1; // lower half [0, m), upper half [k - m, k)
  const p = logits.softmax(-1);
  const upper = p.narrow(-1, k - m, m);
  const rev = arange(m - 1, { end: -1, step: -1, device: p.device }); // m-1 .. 0, no upload
  const lowerRev = p.gather(rev, -1);
  return upper.sub(lowerRev).mul(bins.narrow(0, k - m, m)).sum(-1);
}

/**
 * KL balancing with free bits (official rssm.py `loss`) for categoricals `[..., S, K]` with
 * `unimix` mixed in: `dyn = max(free, KL(sg(post) || prior))`, `rep = max(free, KL(post ||
 * sg(prior)))`, summed over the S latents, shape `[...]`; `kl` is the raw KL (no gradient).
 */
export function balancedKL(
  postLogits: Tensor,
  priorLogits: Tensor,
  unimix: number,
  freeNats: number,
): { dyn: Tensor; rep: Tensor; kl: Tensor } {
  const k = postLogits.shape[postLogits.rank - 1];
  const logp = (l: Tensor) => {
    const p = l.softmax(-1);
    return (unimix > 0 ? p.mul(1 - unimix).add(unimix / k) : p).log();
  };
  const lp = logp(postLogits), lq = logp(priorLogits);
  const lpS = lp.detach(), lqS = lq.detach();
  const dynRaw = lpS.exp().mul(lpS.sub(lq)).sum([-2, -1]);
  const repRaw = lp.exp().mul(lp.sub(lqS)).sum([-2, -1]);
  const free = (x: Tensor) => (freeNats > 0 ? x.maximum(freeNats) : x);
  return { dyn: free(dynRaw), rep: free(repRaw), kl: repRaw.detach() };
}

/** Binary cross-entropy with logits, `[N]`: `-(y log sigmoid(l) + (1 - y) log sigmoid(-l))`. */
export function binaryLoss(logit: Tensor, target: Tensor): Tensor {
  // log sigmoid(l) = -softplus(-l); log sigmoid(-l) = -softplus(l)
  const y = target.detach();
  return y.mul(logit.neg().softplus()).add(y.neg().add(1).mul(logit.softplus()));
}

/**
 * Lambda-returns over a time-major `[T + 1, N]` trajectory (agent.py `lambda_return`):
 * `ret_t = rew_{t+1} + disc * con_{t+1} * ((1 - c_{t+1}) * boot_{t+1} + c_{t+1} * ret_{t+1})`
 * with `c = lam * (1 - last)` (`last` null: `c = lam`), seeded with `ret_T = boot_T`. Returns
 * `[T, N]` (`ret_0 .. ret_{T-1}`). Imagination passes the critic's values as `boot` and no
 * `last`; the replay value loss passes the imagined returns and where each episode ends.
 */
export function lambdaReturns(
  rew: Tensor,
  con: Tensor,
  boot: Tensor,
  disc: number,
  lam: number,
  last: Tensor | null = null,
): Tensor {
  const T = rew.shape[0] - 1;
  const at = (x: Tensor, t: number) => x.narrow(0, t, 1).squeeze(0);
  let ret = at(boot, T);
  const out: Tensor[] = new Array(T);
  for (let t = T - 1; t >= 0; t--) {
    const live = at(con, t + 1).mul(disc);
    const c: Tensor | number = last ? at(last, t + 1).neg().add(1).mul(lam) : lam;
    const keepBoot = typeof c === "number" ? live.mul(1 - c) : live.mul(c.neg().add(1));
    const interm = at(rew, t + 1).add(keepBoot.mul(at(boot, t + 1)));
    ret = interm.add(live.mul(c).mul(ret));
    out[t] = ret;
  }
  return stack(out, 0);
}

/**
 * Percentiles of all values of `x` (linear interpolation between order statistics, as
 * `jnp.percentile`), one scalar tensor per `q` in [0, 100]. With `mask` (0/1, the shape of `x`)
 * only the values where it is 1 count (their number is a tensor: nothing is read back).
 */
export function percentiles(x: Tensor, qs: readonly number[], mask?: Tensor | null): Tensor[] {
  if (mask) {
    const m = mask.reshape([x.size]);
    // Masked-out values sort last; the kept ones are sorted[0 .. count - 1]. (Infinity, not a
    // large integer literal: `ifElse` makes integer literals int32.)
    const sorted = sort(m.gt(0).ifElse(x.reshape([x.size]), Infinity), 0).values;
    const last = m.sum().maximum(1).sub(1);
    const at = (i: Tensor) => sorted.gather(i.cast("int32").reshape([1]), 0).reshape([]);
    return qs.map((q) => {
      const pos = last.mul(q / 100);
      const lo = pos.floor();
      const f = pos.sub(lo);
      const a = at(lo);
      const b = at(lo.add(1).minimum(last));
      return a.add(b.sub(a).mul(f));
    });
  }
  const flat = x.reshape([x.size]);
  const sorted = sort(flat, 0).values;
  const n = x.size;
  return qs.map((q) => {
    const pos = (q / 100) * (n - 1);
    const lo = Math.floor(pos), hi = Math.min(lo + 1, n - 1), f = pos - lo;
    const a = sorted.narrow(0, lo, 1).reshape([]);
    if (f === 0 || hi === lo) return a;
    const b = sorted.narrow(0, hi, 1).reshape([]);
    return a.mul(1 - f).add(b.mul(f));
  });
}

/**
 * Adaptive gradient clipping as the official optimizer (`clip_by_agc`): each parameter
 * tensor's gradient is scaled by `1 / max(1, |g| / (clip * max(pmin, |p|)))` (whole-tensor
 * norms). Lazy: replaces `.grad` with the scaled gradient.
 */
export function agcClip(params: readonly Tensor[], clip: number, pmin = 1e-3): void {
  if (!(clip > 0)) return;
  noGrad(() => {
    for (const p of params) {
      const g = p.grad;
      if (!g || g.isDisposed) continue;
      const gn = g.square().sum().sqrt();
      const pn = p.square().sum().sqrt().maximum(pmin).mul(clip);
      const factor = gn.div(pn).maximum(1).reciprocal();
      p.grad = keep(g.mul(factor));
      g.dispose();
    }
  });
}
