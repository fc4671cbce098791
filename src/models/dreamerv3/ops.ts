/**
 * Fused ops of the RSSM recurrence with hand-written gradients. They compute exactly the
 * functions of their compositions from tensor ops (tests/models/dreamerv3_ops_test.ts compares
 * values and gradients), with fewer kernels per time step: the observe loop runs them `T` times
 * forward and backward, so a composite's extra reductions and slice/pad kernels add up.
 *
 * - {@link normAffine}: RMS/layer norm with a per-element scale (and shift): forward one row
 *   reduction plus an elementwise expression; backward one (rms) or two (layer) row reductions
 *   plus one elementwise kernel. The scale's gradient is an elementwise term (the caller passes
 *   a broadcast view of the parameter, so the terms of all steps add up before one reduction).
 * - {@link gruUpdate}: the GRU gate math of DreamerV3's core
 *   (`h' = u * tanh(sigmoid(r) * c) + (1 - u) * h`, `u = sigmoid(update - 1)`, rssm.py
 *   `_core`) with the gradient of the gates written as one kernel (no slice/pad chain).
 * - {@link straightThroughSample}: a one-hot categorical sample (Gumbel-max over the unimixed
 *   probabilities) whose gradient is the straight-through gradient of the unimixed
 *   probabilities (`onehot + probs - sg(probs)`, outs.py `OneHot`).
 * @module
 */

import { concat, oneHot } from "../../tensor/creation.ts";
import { defineGradient, recordGrad } from "../../tensor/gradients.ts";
import { type Tensor, withGradMode } from "../../tensor/tensor.ts";

/** What normAffine's forward and gradient share: the row size, full shape, norm, eps, act. */
interface NormAffineAttrs {
  readonly d: number;
  readonly full: readonly number[];
  readonly kind: "rms" | "layer";
  readonly eps: number;
  readonly act: "silu" | null;
  readonly hasShift: boolean;
  readonly hasMu: boolean;
  readonly scaleShape: readonly number[];
  readonly shiftShape: readonly number[] | null;
}

/** `x - mean` for a layer norm (from the row sums `mu`), `x` for an RMS norm. */
function centred(t: Tensor, mu: Tensor | null, a: NormAffineAttrs): Tensor {
  return mu ? t.sub(mu.expand(a.full).mul(1 / a.d)) : t;
}

/** `1 / sqrt(mean + eps)` in the full frame, from the row sums of squares `ss`. */
function rOf(ss: Tensor, a: NormAffineAttrs): Tensor {
  return ss.expand(a.full).mul(1 / a.d).add(a.eps).rsqrt();
}

/** The normalised, scaled (and shifted) rows, before the activation. */
function affine(
  xs: Tensor,
  sq: Tensor,
  sc: Tensor,
  mus: Tensor | null,
  sh: Tensor | null,
  a: NormAffineAttrs,
): Tensor {
  const y = centred(xs, mus, a).mul(rOf(sq, a)).mul(sc);
  return sh ? y.add(sh) : y;
}

/**
 * `norm(x) * scale (+ shift)` over the last axis: `rms`: `x / sqrt(mean(x^2) + eps)`; `layer`:
 * `(x - mean) / sqrt(var + eps)`. `scale`/`shift` broadcast against `x`.
 */
export function normAffine(
  x: Tensor,
  scale: Tensor,
  shift: Tensor | null,
  kind: "rms" | "layer",
  eps: number,
  act: "silu" | null = null,
): Tensor {
  // Kernel economy: a computed node read by two consumers, or read through a broadcasting view,
  // gets its own kernel. So the row statistics are plain sums (reductions, saved for the
  // backward pass) whose scaling, eps and rsqrt are computed in the full frame from a broadcast
  // view, every use builds fresh expression nodes that fuse, and the activation is part of the
  // op so that its input is never materialised for its own backward.
  const a: NormAffineAttrs = {
    d: x.shape[x.rank - 1],
    full: x.shape,
    kind,
    eps,
    act,
    hasShift: !!shift,
    hasMu: kind === "layer",
    scaleShape: scale.shape,
    shiftShape: shift ? shift.shape : null,
  };
  let mu: Tensor | null = null, r: Tensor, out: Tensor;
  withGradMode(false, () => {
    mu = kind === "layer" ? x.sum(-1, true) : null; // d * mean
    r = centred(x, mu, a).square().sum(-1, true); // d * (mean square or variance), [..., 1]
    const y = affine(x, r, scale, mu, shift, a);
    out = act === "silu" ? y.silu() : y;
  });
  const inputs = shift ? [x, scale, shift] : [x, scale];
  const saved = [x, r!, scale, ...(shift ? [shift] : []), ...(mu ? [mu] : [])];
  return recordGrad(out!, "normAffine", inputs, saved, a);
}

defineGradient<NormAffineAttrs, Tensor>("normAffine", (gOut, sv, a) => {
  const [xs, rs, ss] = sv;
  const sh = a.hasShift ? sv[3] : null;
  const mus = a.hasMu ? sv[a.hasShift ? 4 : 3] : null;
  const { full, d } = a;
  // Gradient at the norm's output (through silu: s(y) (1 + y (1 - s(y))), y recomputed).
  const gy = () => {
    if (a.act !== "silu") return gOut;
    const sig = () => affine(xs, rs, ss, mus, sh, a).sigmoid();
    return gOut.mul(sig()).mul(affine(xs, rs, ss, mus, sh, a).mul(sig().neg().add(1)).add(1));
  };
  const xhat = () => centred(xs, mus, a).mul(rOf(rs, a));
  // dx = r * (g s - xhat * mean(g s xhat) [- mean(g s)])
  const dot = gy().mul(ss).mul(xhat()).sum(-1, true);
  let inner = gy().mul(ss).sub(xhat().mul(dot.expand(full).mul(1 / d)));
  if (a.kind === "layer") inner = inner.sub(gy().mul(ss).sum(-1, true).expand(full).mul(1 / d));
  const grads: Tensor[] = [inner.mul(rOf(rs, a)), reduceTo(gy().mul(xhat()), a.scaleShape)];
  if (a.shiftShape) grads.push(reduceTo(gy(), a.shiftShape));
  return grads;
});

/** Sums a gradient over broadcast axes back to `shape`. */
function reduceTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((s, i) => s === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return g.sum(axes, true).reshape([...shape]);
}

/**
 * The DreamerV3 GRU update. `gates [N, G, 3p]` (per group: reset | candidate | update, the
 * official `dyngru` output), `h [N, G, p]` -> `h' [N, G, p]`.
 */
export function gruUpdate(gates: Tensor, h: Tensor): Tensor {
  const p = gates.shape[2] / 3;
  let out: Tensor;
  withGradMode(false, () => {
    out = h.add(gruU(gates, p).mul(gruC(gates, p).sub(h))); // u * c + (1 - u) * h
  });
  return recordGrad(out!, "gruUpdate", [gates, h], [gates, h]);
}

// Fresh expression nodes per use (see normAffine): everything fuses into one kernel each.
/** The reset gate `sigmoid(r)` of gates `[N, G, 3p]`. */
const gruR = (gt: Tensor, p: number) => gt.narrow(2, 0, p).sigmoid();
/** The candidate `tanh(sigmoid(r) * c)`. */
const gruC = (gt: Tensor, p: number) => gt.narrow(2, p, p).mul(gruR(gt, p)).tanh();
/** The update gate `sigmoid(u - 1)`. */
const gruU = (gt: Tensor, p: number) => gt.narrow(2, 2 * p, p).sub(1).sigmoid();

defineGradient<undefined, Tensor>("gruUpdate", (gy, [gt, hs]) => {
  const [n, g, p3] = gt.shape;
  const p = p3 / 3;
  const dh = gy.mul(gruU(gt, p).neg().add(1));
  // The gates' gradient as a concat over the gate axis of [N, G, 3, p]: one kernel per part,
  // each evaluating only its own formula from views of the saved buffers.
  const g4 = gt.reshape([n, g, 3, p]);
  const part = (j: number) => g4.narrow(2, j, 1);
  const gy4 = () => gy.reshape([n, g, 1, p]);
  const h4 = hs.reshape([n, g, 1, p]);
  const r = () => part(0).sigmoid();
  const u = () => part(2).sub(1).sigmoid();
  const c = () => part(1).mul(r()).tanh();
  const dcPre = () => gy4().mul(u()).mul(c().square().neg().add(1)); // through tanh
  const dr = dcPre().mul(part(1)).mul(r()).mul(r().neg().add(1));
  const dc = dcPre().mul(r());
  const du = gy4().mul(c().sub(h4)).mul(u()).mul(u().neg().add(1));
  return [concat([dr, dc, du], 2).reshape([n, g, p3]), dh];
});

/**
 * A one-hot sample of categoricals `[..., S, K]` from logits (Gumbel-max with `gumbel` noise of
 * the same shape; the mode when null) over `probs = (1 - unimix) softmax(logits) + unimix / K`.
 * The value is the one-hot; the gradient is that of `probs` (straight-through). Also returns
 * the unimixed probabilities (no gradient).
 */
export function straightThroughSample(
  logits: Tensor,
  gumbel: Tensor | null,
  unimix: number,
): { sample: Tensor; probs: Tensor } {
  const k = logits.shape[logits.rank - 1];
  let soft: Tensor, probs: Tensor, hot: Tensor;
  withGradMode(false, () => {
    soft = logits.softmax(-1);
    probs = unimix > 0 ? soft.mul(1 - unimix).add(unimix / k) : soft;
    const score = gumbel ? probs.log().add(gumbel) : probs;
    hot = oneHot(score.argmax(-1), k);
  });
  const sample = recordGrad(hot!, "straightThrough", [logits], [soft!], { unimix });
  return { sample, probs: probs! };
}

defineGradient<{ unimix: number }, Tensor>("straightThrough", (g, [s], { unimix }) => {
  const gp = () => (unimix > 0 ? g.mul(1 - unimix) : g);
  return [s.mul(gp().sub(gp().mul(s).sum(-1, true)))];
});
