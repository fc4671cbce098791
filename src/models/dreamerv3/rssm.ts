/**
 * The RSSM of DreamerV3, after the official `dreamerv3/rssm.py` (class RSSM):
 *
 * - core (`_core`): the action is normalised `a / max(1, |a|)` (stop-gradient on the divisor);
 *   h, flat(z) and a each go through Linear -> norm -> SiLU (`dynin0..2`, width `hidden`); the
 *   three are concatenated and given to every one of the `blocks` groups together with the
 *   group's own slice of h; `dynhid` (block linear, `deter` wide) -> norm -> SiLU; `dyngru`
 *   (block-diagonal linear to `3 * deter`) gives per group reset | candidate | update;
 *   `h' = u * tanh(sigmoid(r) * c) + (1 - u) * h` with `u = sigmoid(update - 1)`;
 * - posterior (`_observe`): `concat(h, embedding)` -> Linear -> norm -> SiLU -> logits;
 * - prior (`_prior`): `imglayers` (2) Linear -> norm -> SiLU layers on h -> logits;
 * - latents: `stoch` categoricals of `classes` with 1% unimix; one-hot samples with
 *   straight-through gradients (`outs.OneHot`);
 * - `is_first` zeroes h, z and the previous action before the core (`nn.mask(..., ~reset)`).
 *
 * The observe loop keeps everything that does not depend on the recurrence out of the loop:
 * the action layer (`dynin2`) and the embedding's part of the posterior layer run once over all
 * `B * T` steps, the Gumbel noise of every step is drawn in one draw, the prior runs once over
 * all `h` after the loop. Inside the loop only the recurrence remains, and nothing is read back.
 * @module
 */

import { Module } from "../../nn/module.ts";
import { concat, eye, stack, zeros } from "../../tensor/creation.ts";
import { gruUpdate, normAffine, straightThroughSample } from "./ops.ts";
import { balancedKL } from "./losses.ts";
import { type Generator, rand } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import type { DreamerV3Config } from "./config.ts";
import {
  BlockLinear,
  DenseStack,
  type NetOptions,
  Norm,
  NormLinear,
  officialLinear,
} from "./networks.ts";
import type { Linear } from "../../nn/layers.ts";

/** An RSSM state: `deter [N, D]` and flat one-hot `stoch [N, S * K]`. */
export interface RSSMState {
  /** Deterministic state h. */
  readonly deter: Tensor;
  /** Stochastic state z (flat one-hot, straight-through). */
  readonly stoch: Tensor;
}

/** What {@link RSSM.observe} returns (all `[B, T, ...]`). */
export interface ObserveResult {
  /** h of every step `[B, T, D]`. */
  readonly deter: Tensor;
  /** Posterior samples `[B, T, S * K]`. */
  readonly stoch: Tensor;
  /** Posterior logits `[B, T, S * K]`. */
  readonly postLogits: Tensor;
  /** Prior logits `[B, T, S * K]` (from the same h). */
  readonly priorLogits: Tensor;
  /**
   * `[B, T, D]`: the h that `actions[t]` leads to from step t (the core on step t's state and
   * action, never reset): step t+1's h unless step t+1 starts an episode, and for the last step
   * the state after the sequence.
   */
  readonly succDeter: Tensor;
}

/** A norm's affine part as broadcast views. */
export interface NormAffine {
  /** Scale `[N, dim]` (a broadcast view of the parameter). */
  readonly scale: Tensor;
  /** Shift `[N, dim]` (layer norm) or null. */
  readonly shift: Tensor | null;
  /** `rms` or `layer`. */
  readonly kind: "rms" | "layer";
  /** Epsilon. */
  readonly eps: number;
}

/** A Linear's weight `[in, out]`, broadcast bias `[N, out]` and the norm after it. */
export interface PreparedLinear {
  /** `[in, out]` (a transposed view of the parameter). */
  readonly w: Tensor;
  /** `[N, out]` (a broadcast view). */
  readonly b: Tensor;
  /** The norm's affine part. */
  readonly norm: NormAffine;
}

/** Weights of the recurrence prepared for one batch size (see {@link RSSM.prepare}). */
export interface CoreWeights {
  /** Batch size. */
  readonly n: number;
  /** Dense block-diagonal matrices (small `deter`) instead of batched block matmuls. */
  readonly dense: boolean;
  /** `dynin0` (h). */
  readonly in0: PreparedLinear;
  /** `dynin1` (flat z). */
  readonly in1: PreparedLinear;
  /**
   * Every dense product of h in one matrix: `[D, 2H]` = posterior (h part) | dynin0, and in
   * dense mode also blockdiag(dynhid, h part): `[D, 2H + D]`.
   */
  readonly hW: Tensor;
  /** `dynhid`'s weights on `[x0, x1]`: `[2H, D]`. */
  readonly x01W: Tensor;
  /** Norm after `dynhid`. */
  readonly dynNorm: NormAffine;
  /** Dense mode: blockdiag(`dyngru`) `[D, 3D]`. */
  readonly gruW: Tensor | null;
  /** `dyngru` bias `[N, 3D]`. */
  readonly gruB: Tensor;
  /** Posterior layer, h part `[D, H]`. */
  readonly postW: Tensor;
  /** Posterior norm. */
  readonly postNorm: NormAffine;
  /** Posterior logits `[H, S K]`. */
  readonly logitW: Tensor;
  /** Posterior logits bias `[N, S K]`. */
  readonly logitB: Tensor;
  /** `hidden`. */
  readonly hidden: number;
}

/**
 * Largest `deter` run with dense block-diagonal matrices (above: batched block matmuls); both
 * compute the same function (tests switch it to check that).
 */
export const rssmOptions: { denseBlocksMax: number } = { denseBlocksMax: 512 };

/** `silu(norm(x) * scale (+ shift))`. */
function normSilu(x: Tensor, a: NormAffine): Tensor {
  return normAffine(x, a.scale, a.shift, a.kind, a.eps, "silu");
}

/** `[G, p, q]` blocks -> the dense block-diagonal `[G p, G q]`. */
export function blockDiag(w: Tensor): Tensor {
  const [g, p, q] = w.shape;
  const mask = eye(g, { device: w.device }).reshape([g, 1, g, 1]);
  return w.reshape([g, p, 1, q]).mul(mask).reshape([g * p, g * q]);
}

/** `a / max(1, |a|)` with the divisor's gradient stopped (rssm.py `_core`). */
export function normaliseAction(a: Tensor): Tensor {
  return a.div(a.abs().maximum(1).detach());
}

/** The DreamerV3 RSSM. Parameter names follow the official module names. */
export class RSSM extends Module {
  /** h -> hidden. */
  dynin0: NormLinear;
  /** flat z -> hidden. */
  dynin1: NormLinear;
  /** action -> hidden. */
  dynin2: NormLinear;
  /** Block linear on `[h_g, x0, x1, x2]` -> deter. */
  dynhid: BlockLinear;
  /** Norm after `dynhid`. */
  dynhidnorm: Norm;
  /** Block-diagonal linear -> 3 * deter gates. */
  dyngru: BlockLinear;
  /** Posterior layer on `concat(h, embedding)`. */
  obs0: NormLinear;
  /** Posterior logits. */
  obslogit: Linear;
  /** Prior layers on h. */
  prior: DenseStack;
  /** Prior logits. */
  priorlogit: Linear;

  /** Deterministic size. */
  readonly deterDim: number;
  /** Flat stochastic size `stoch * classes`. */
  readonly stochDim: number;

  /** Builds the RSSM for `embed`-sized embeddings. */
  constructor(readonly config: DreamerV3Config, readonly embedDim: number, o: NetOptions) {
    super();
    const c = config;
    const D = c.deter, H = c.hidden, SK = c.stoch * c.classes;
    this.deterDim = D;
    this.stochDim = SK;
    this.dynin0 = new NormLinear(D, H, o);
    this.dynin1 = new NormLinear(SK, H, o);
    this.dynin2 = new NormLinear(c.actionDim, H, o);
    this.dynhid = new BlockLinear(D, 3 * H, D, c.blocks, o);
    this.dynhidnorm = new Norm(D, o.norm, o.eps, o.device);
    this.dyngru = new BlockLinear(D, 0, 3 * D, c.blocks, o);
    this.obs0 = new NormLinear(D + embedDim, H, o);
    this.obslogit = officialLinear(H, SK, o);
    this.prior = new DenseStack(D, H, c.imgLayers, o);
    this.priorlogit = officialLinear(H, SK, o);
  }

  /** Zero state `[n, ...]`. */
  initial(n: number): RSSMState {
    const device = this.dynin0.linear.weight.device;
    return {
      deter: zeros([n, this.deterDim], { device }),
      stoch: zeros([n, this.stochDim], { device }),
    };
  }

  /** `dynin2(a / max(1, |a|))` for actions `[..., A]`. */
  actionEmbed(action: Tensor): Tensor {
    return this.dynin2.forward(normaliseAction(action));
  }

  /**
   * Weights of the recurrence prepared once per call for batch `n`: per-step biases and norm
   * scales as broadcast views (their gradients then add up over the steps elementwise and are
   * reduced once, instead of one reduction per step), and, for small `deter`, the block
   * structure as dense block-diagonal matrices (the same function with fewer kernels).
   */
  prepare(n: number): CoreWeights {
    const c = this.config;
    const D = this.deterDim, H = c.hidden;
    const row = (p: Tensor) => p.reshape([1, p.size]).expand([n, p.size]);
    const aff = (nm: Norm): NormAffine => ({
      scale: row(nm.weight),
      shift: nm.bias ? row(nm.bias) : null,
      kind: nm.kind,
      eps: nm.eps,
    });
    const lin = (l: NormLinear) => ({
      w: l.linear.weight.mT,
      b: row(l.linear.bias!),
      norm: aff(l.norm),
    });
    const dense = D <= rssmOptions.denseBlocksMax;
    // Every dense product of h in one matmul, h @ [W_post | W_in0 (| blockdiag(W_hid,h))]: h is
    // read once, and its gradient is one product instead of one per weight (blocked mode keeps
    // dynhid's blocks as a batched product: dense, they would cost `blocks` times the work).
    // Blocked mode stacks the weights as stored ([out, in] rows) and reads the stack transposed:
    // a k-contiguous B, which a product of few rows walks along memory (a row-major [D, 2H] one
    // strides over D rows per column strip: see bench/step_profile.ts, 16-row products).
    const wPost = this.obs0.linear.weight.narrow(1, 0, D), wIn0 = this.dynin0.linear.weight;
    return {
      n,
      dense,
      in0: lin(this.dynin0),
      in1: lin(this.dynin1),
      hW: dense
        ? concat([wPost.mT, wIn0.mT, blockDiag(this.dynhid.hweight)], 1)
        : concat([wPost, wIn0], 0).mT,
      // [2H, D] as a k-contiguous copy, made once per loop: stored row-major ([in, out]), the
      // per-step product of few rows strides over 2H rows per column strip (16 x 2048 x 512 at
      // size12m, 2 threads: 52 GFLOP/s row-major, 77 k-contiguous; the size12m imagination
      // 38.3 -> 36.5 ms, bench/step_profile.ts and torch_compare.ts, 2026-12-06).
      x01W: this.dynhid.xweight!.narrow(0, 0, 2 * H).mT.contiguous().mT,
      dynNorm: aff(this.dynhidnorm),
      gruW: dense ? blockDiag(this.dyngru.hweight) : null, // [D, 3D]
      gruB: row(this.dyngru.bias),
      postW: this.obs0.linear.weight.narrow(1, 0, D).mT, // [D, H]
      postNorm: aff(this.obs0.norm),
      logitW: this.obslogit.weight.mT,
      logitB: row(this.obslogit.bias!),
      hidden: H,
    };
  }

  /**
   * The action's part of the `dynhid` pre-activation, with its bias: `dynin2(a) W_a + b`
   * (`aEmb [..., H]` -> `[..., D]`). Independent of the recurrence: the observe loop computes it
   * for all steps at once.
   */
  actionPart(aEmb: Tensor): Tensor {
    const H = this.config.hidden;
    const wa = this.dynhid.xweight!.narrow(0, 2 * H, H); // [H, D]
    return aEmb.matmul(wa).add(this.dynhid.bias);
  }

  /**
   * Products of h with the dense weights that read it (see {@link RSSM.prepare}): `[N, 2H]` =
   * posterior pre-activation | dynin0 pre-activation, then in dense mode dynhid's h part
   * (`[N, 2H + D]`); no biases.
   */
  hProducts(h: Tensor, cw: CoreWeights): Tensor {
    return h.matmul(cw.hW);
  }

  /**
   * The GRU core: `h [N, D]`, `z [N, SK]` and the action's part `aPart [N, D]` (see
   * {@link RSSM.actionPart}) -> h'. `hp` are h's products (`hProducts(h)`), when the caller has
   * them.
   */
  core(
    h: Tensor,
    z: Tensor,
    aPart: Tensor,
    cw: CoreWeights = this.prepare(h.shape[0]),
    hp: Tensor | null = null,
  ): Tensor {
    const n = h.shape[0], g = this.config.blocks, per = this.deterDim / g;
    const H = this.config.hidden, D = this.deterDim;
    // Dense mode: all of h's products at once (also without `hp`: dynhid's part is needed);
    // blocked mode without `hp` (imagination): only dynin0's.
    const P = cw.dense ? (hp ?? h.matmul(cw.hW)) : hp;
    const pre0 = P ? P.narrow(1, H, H) : h.matmul(cw.in0.w);
    const x0 = normSilu(pre0.add(cw.in0.b), cw.in0.norm);
    const x1 = normSilu(z.matmul(cw.in1.w).add(cw.in1.b), cw.in1.norm);
    const x01 = concat([x0, x1], -1).matmul(cw.x01W);
    let y: Tensor;
    if (cw.dense) {
      y = x01.add(P!.narrow(1, 2 * H, D).add(aPart));
    } else {
      const hb = h.reshape([n, g, per]).permute([1, 0, 2]); // [G, N, D/G]
      const yb = hb.matmul(this.dynhid.hweight).permute([1, 0, 2]).reshape([n, D]);
      y = x01.add(yb.add(aPart));
    }
    const hid = normSilu(y, cw.dynNorm);
    // Gates per group [N, G, 3 per]: reset | cand | update.
    let gates: Tensor;
    if (cw.gruW) {
      gates = hid.matmul(cw.gruW).add(cw.gruB).reshape([n, g, 3 * per]);
    } else {
      const hb = hid.reshape([n, g, per]).permute([1, 0, 2]);
      gates = hb.matmul(this.dyngru.hweight).permute([1, 0, 2])
        .add(cw.gruB.reshape([n, g, 3 * per]));
    }
    return gruUpdate(gates, h.reshape([n, g, per])).reshape([n, D]);
  }

  /**
   * Posterior logits from h `[N, D]` and the embedding part `[N, H]` (pre-norm, with bias);
   * `hp`: h's products when the caller has them.
   */
  postLogitsFrom(
    h: Tensor,
    embedPart: Tensor,
    cw: CoreWeights = this.prepare(h.shape[0]),
    hp: Tensor | null = null,
  ): Tensor {
    const pre = hp ? hp.narrow(1, 0, cw.hidden) : h.matmul(cw.postW);
    const x = normSilu(pre.add(embedPart), cw.postNorm);
    return x.matmul(cw.logitW).add(cw.logitB);
  }

  /** The embedding's part of the posterior layer: `e W_e^T + b`, `[..., H]`. */
  embedPart(embed: Tensor): Tensor {
    const w = this.obs0.linear.weight;
    const y = embed.matmul(w.narrow(1, this.deterDim, this.embedDim).mT);
    return this.obs0.linear.bias ? y.add(this.obs0.linear.bias) : y;
  }

  /** Prior logits of h `[..., D]`. */
  priorLogits(h: Tensor): Tensor {
    return this.priorlogit.forward(this.prior.forward(h));
  }

  /** Probabilities `[..., S, K]` with the uniform mix. */
  probs(logits: Tensor): Tensor {
    const { stoch: S, classes: K, unimix } = this.config;
    const p = logits.reshape([...logits.shape.slice(0, -1), S, K]).softmax(-1);
    return unimix > 0 ? p.mul(1 - unimix).add(unimix / K) : p;
  }

  /** Log-probabilities `[..., S, K]` with the uniform mix. */
  logProbs(logits: Tensor): Tensor {
    return this.probs(logits).log();
  }

  /**
   * A one-hot sample (or the mode, with `gumbel` null) `[..., S * K]` with straight-through
   * gradients (`onehot + probs - sg(probs)`). `gumbel` is Gumbel noise `[..., S, K]`.
   */
  sample(logits: Tensor, gumbel: Tensor | null): Tensor {
    const { stoch: S, classes: K, unimix } = this.config;
    const l = logits.reshape([...logits.shape.slice(0, -1), S, K]);
    return straightThroughSample(l, gumbel, unimix).sample.reshape(logits.shape);
  }

  /** Gumbel noise `[...shape, S, K]` in one draw. */
  gumbel(shape: readonly number[], generator?: Generator): Tensor {
    const { stoch: S, classes: K } = this.config;
    const device = this.dynin0.linear.weight.device;
    const u = rand([...shape, S, K], { generator, device });
    return u.maximum(1e-20).log().neg().maximum(1e-20).log().neg();
  }

  /** One imagination step: core, then a prior sample (the mode when `deterministic`). */
  imgStep(
    s: RSSMState,
    action: Tensor,
    opts: { deterministic?: boolean; generator?: Generator; weights?: CoreWeights } = {},
  ): RSSMState & { logits: Tensor } {
    const aPart = this.actionPart(this.actionEmbed(action));
    const deter = this.core(s.deter, s.stoch, aPart, opts.weights);
    const logits = this.priorLogits(deter);
    const g = opts.deterministic ? null : this.gumbel([deter.shape[0]], opts.generator);
    return { deter, stoch: this.sample(logits, g), logits };
  }

  /** One observation step: core, then a posterior sample given the embedding `[N, E]`. */
  obsStep(
    s: RSSMState,
    action: Tensor,
    embed: Tensor,
    opts: { deterministic?: boolean; generator?: Generator; weights?: CoreWeights } = {},
  ): RSSMState & { logits: Tensor } {
    const aPart = this.actionPart(this.actionEmbed(action));
    const deter = this.core(s.deter, s.stoch, aPart, opts.weights);
    const logits = this.postLogitsFrom(deter, this.embedPart(embed), opts.weights);
    const g = opts.deterministic ? null : this.gumbel([deter.shape[0]], opts.generator);
    return { deter, stoch: this.sample(logits, g), logits };
  }

  /**
   * Filters a sequence: embeddings `[B, T, E]`, actions `[B, T, A]` (`actions[t]` taken after
   * observation t), `isFirst [B, T]` (or null: only t = 0 starts, from the zero state; with
   * `start`, t = 0 continues from it unless `isFirst`). Step t runs the core on the previous
   * state and action `actions[t-1]`; where `isFirst` (and at t = 0 without `start`) it runs on
   * the zero state and a zero action instead (`h0`, the same for every row), as the official
   * `_observe` masks them.
   *
   * Besides the posterior, it returns `succDeter [B, T, D]`: the core applied to step t's state
   * and `actions[t]`, the deterministic state that action leads to. It equals step t+1's h
   * except where step t+1 starts a new episode (the episode's last action leads to a state no
   * observation follows) and at the last step; the world model predicts each action's reward and
   * continue flag from it there.
   */
  observe(
    embed: Tensor,
    actions: Tensor,
    isFirst: Tensor | null,
    opts: { generator?: Generator; start?: RSSMState } = {},
  ): ObserveResult {
    const [B, T] = embed.shape;
    const A = actions.shape[2];
    const device = embed.device;
    // 2-D matmuls over all B * T rows (a [B, T, k] @ [k, n] product is a broadcast batch).
    const D = this.deterDim, H = this.config.hidden;
    // The action part of every core step that continues an episode: actions[t] leads from step
    // t to t + 1. Computed for all steps at once.
    const aPart = this.actionPart(this.actionEmbed(actions.reshape([B * T, A]))).reshape([B, T, D]);
    const ePart = this.embedPart(embed.reshape([B * T, embed.shape[2]])).reshape([B, T, H]);
    const noise = this.gumbel([B, T], opts.generator); // [B, T, S, K]
    const cw = this.prepare(B);
    const zero = this.initial(B);
    const zeroPart = this.actionPart(this.actionEmbed(zeros([B, A], { device })));
    // h0: the core on the zero state and a zero action (every episode's first step).
    const h0 = this.core(zero.deter, zero.stoch, zeroPart, cw);
    const keep = isFirst ? isFirst.neg().add(1).unsqueeze(-1) : null; // [B, T, 1]
    const at = (x: Tensor, t: number) => x.narrow(1, t, 1).squeeze(1);
    // Where the episode goes on, the continued h; else h0 (exact: k is 0 or 1).
    const select = (hU: Tensor, k: Tensor) => hU.mul(k).add(h0.mul(k.neg().add(1)));
    const hs: Tensor[] = [];
    const zs: Tensor[] = [];
    const logits: Tensor[] = [];
    const succ: Tensor[] = [];
    let s: RSSMState | null = null;
    let hp: Tensor | null = null;
    if (opts.start) {
      s = opts.start;
      hp = this.hProducts(s.deter, cw);
    }
    for (let t = 0; t < T; t++) {
      let deter: Tensor;
      if (!s) deter = h0; // t = 0 without a start state
      else {
        // The core with the previous step's action: actions[t - 1], or for t = 0 (continuing
        // `start`) a zero action, as before the first action of a sequence.
        const part = t > 0 ? at(aPart, t - 1) : zeroPart;
        const hU = this.core(s.deter, s.stoch, part, cw, hp);
        if (t > 0) succ.push(hU);
        deter = keep ? select(hU, at(keep, t)) : hU;
      }
      hp = this.hProducts(deter, cw);
      const lg = this.postLogitsFrom(deter, at(ePart, t), cw, hp);
      const stoch = this.sample(lg, at(noise, t));
      hs.push(deter);
      zs.push(stoch);
      logits.push(lg);
      s = { deter, stoch };
    }
    // The state the last action leads to.
    succ.push(this.core(s!.deter, s!.stoch, at(aPart, T - 1), cw, hp));
    const deter = stack(hs, 1);
    const stoch = stack(zs, 1);
    const postLogits = stack(logits, 1);
    const priorLogits = this.priorLogits(deter.reshape([B * T, D])).reshape([B, T, this.stochDim]);
    return { deter, stoch, postLogits, priorLogits, succDeter: stack(succ, 1) };
  }

  /**
   * KL balancing with free bits (rssm.py `loss`): `dyn = max(free, KL(sg(post) || prior))`,
   * `rep = max(free, KL(post || sg(prior)))`, summed over the latents, shape `[...]`.
   */
  klLosses(postLogits: Tensor, priorLogits: Tensor): { dyn: Tensor; rep: Tensor; kl: Tensor } {
    const { stoch: S, classes: K, unimix, freeNats } = this.config;
    const g = (l: Tensor) => l.reshape([...l.shape.slice(0, -1), S, K]);
    return balancedKL(g(postLogits), g(priorLogits), unimix, freeNats);
  }

  /** Entropy of the (unimixed) categoricals, summed over latents, `[...]`. */
  entropy(logits: Tensor): Tensor {
    const lp = this.logProbs(logits);
    return lp.exp().mul(lp).sum([-2, -1]).neg();
  }
}
