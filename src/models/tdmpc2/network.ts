/**
 * The networks of TD-MPC2 and what the official `WorldModel` does with them (encode, next,
 * reward, pi, Q, termination, target Q heads): {@link TDMPC2Network}. How they meet the
 * `WorldModel` contract (IO contract, encode/transition/decode hooks, planning hooks, losses)
 * is `world_model.ts`.
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { ShapeError } from "../../errors.ts";
import { DefaultActionConditioner } from "../../core/components.ts";
import { SimNormLatentSpace } from "../../core/latent.ts";
import type { ActionPayload } from "../../core/payloads.ts";
import { State } from "../../core/state.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import type { EnsembleMLP } from "../../nn/mlp.ts";
import { concat, oneHot, zeros } from "../../tensor/creation.ts";
import { topk } from "../../tensor/functional.ts";
import { categorical, type Generator, rand, randn } from "../../tensor/random.ts";
import { noGrad, type Tensor } from "../../tensor/tensor.ts";
import {
  type TDMPC2Config,
  tdmpc2ConfigSchema,
  type TDMPC2Dims,
  tdmpc2Dims,
  tdmpc2Discount,
} from "./config.ts";
import {
  type BinSpec,
  boundedLogStd,
  gaussianLogProb,
  RunningScale,
  softCE,
  squash,
  twoHotInv,
} from "./math.ts";
import {
  mapQWeights,
  qEnsemble,
  qForward,
  type QWeights,
  qWeightsOf,
  selectHeads,
  TDMLP,
} from "./networks.ts";
import { TDMPC2Dynamics, TDMPC2Encoder } from "./components.ts";

/** Options of {@link TDMPC2Network} and its model (what the registry's factory passes). */
export interface TDMPC2WorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"tdmpc2"`). */
  readonly modelType?: string;
}

/** Random streams of stochastic parts (policy noise, dropout, random Q pairs). */
export interface RandomOpts {
  /** Generator of the draws (default: the global one). */
  readonly generator?: Generator;
}

/** A sample of the policy prior (official `WorldModel.pi` and its info dict). */
export interface PolicySample {
  /** Sampled (squashed) action `[..., A]` (one-hot, straight-through, when discrete). */
  readonly action: Tensor;
  /** Mean action `tanh(mu)` `[..., A]` (one-hot argmax when discrete). */
  readonly mean: Tensor;
  /** `-log pi(a)` `[..., 1]`. */
  readonly entropy: Tensor;
  /** The entropy scaled by the action size (official `scaled_entropy`) `[..., 1]`. */
  readonly scaledEntropy: Tensor;
}

/**
 * The TD-MPC2 networks (official `tdmpc2/common/world_model.py`): encoder and dynamics as the
 * contract's component slots, the reward, policy, Q-ensemble and termination heads, the target
 * Q heads and the running Q scale, and the official building blocks on them. The family's
 * model is {@link TDMPC2WorldModel}, which adds the contract.
 */
export abstract class TDMPC2Network extends WorldModel<TDMPC2Config> {
  /** Reward head on (z, a) (two-hot logits, or a scalar in the legacy variant). */
  readonly reward: TDMLP;
  /** Policy prior on z: mean and raw log-std `[2A]` (logits `[A]` when discrete). */
  readonly pi: TDMLP;
  /** The Q ensemble on (z, a): `numQNetworks` heads as one batched MLP. */
  readonly qs: EnsembleMLP;
  /** Termination logit on z (episodic models only). */
  readonly termination: TDMLP | null;
  /** Target Q heads (buffers `targetQs.*`, soft-updated copies of `qs`). */
  readonly targetQs: QWeights;
  /** Running 5-95 percentile scale of Q values (buffer `scale.value`). */
  readonly runningScale: RunningScale;
  /** The two-hot bins. */
  readonly bins: BinSpec;
  /** The discount (configured, or the official heuristic from the episode length). */
  readonly discount: number;
  /** Layer sizes. */
  readonly dims: TDMPC2Dims;
  /** The latent space (SimNorm, groups of `simnormDim`). */
  readonly latentSpace: SimNormLatentSpace;

  /** Builds the networks from a validated config (`modelType` defaults to `"tdmpc2"`). */
  constructor(config: TDMPC2Config, opts: TDMPC2WorldModelOptions = {}) {
    super(opts.modelType ?? "tdmpc2", tdmpc2ConfigSchema.parse(config), opts);
    const c = this.config;
    for (
      const cap of [
        "latent_dynamics",
        "representation",
        "reward_pred",
        "continue_pred",
        "planning",
        "value",
        "policy",
      ] as const
    ) this.capabilities.add(cap);
    const d = tdmpc2Dims(c);
    this.dims = d;
    this.bins = { numBins: c.numBins, vmin: c.vmin, vmax: c.vmax };
    this.discount = tdmpc2Discount(c);
    this.latentSpace = new SimNormLatentSpace(c.latentDim, c.simnormDim);
    const layer = { generator: opts.generator, device: this.device };
    const za = c.latentDim + d.actionFeatures;
    // Component slots: the base class routes encode/transition through them (overridable).
    this.observationEncoder = new TDMPC2Encoder(c, d, layer);
    this.actionConditioner = new DefaultActionConditioner(this.contract.actionSpec);
    this.dynamicsModel = new TDMPC2Dynamics(c, d, layer);
    // Heads (official world_model.py: zero-init reward[-1].weight and the Q output weights).
    this.reward = new TDMLP(za, d.hidden, d.headOut, { ...layer, zeroOut: true });
    this.pi = new TDMLP(c.latentDim, d.hidden, d.piOut, layer);
    this.qs = qEnsemble(c.numQNetworks, za, d.hidden, d.headOut, { ...layer, dropout: c.dropout });
    this.termination = c.episodic ? new TDMLP(c.latentDim, d.hidden, 1, layer) : null;
    // Target heads: buffers (saved with the model, not trained), soft-updated from qs.
    this.targetQs = mapQWeights(qWeightsOf(this.qs), (t, name) => {
      const copy = noGrad(() => t.clone()).realize();
      this.registerBuffer(`targetQs.${name}`, copy);
      return copy;
    });
    this.runningScale = new RunningScale(c.tau, this.device);
    this.registerBuffer("scale.value", this.runningScale.value);
    // Official: the model is in eval mode except inside an update.
    this.eval();
  }

  // -------------------------------------------------------------------------------------------
  // Building blocks (official WorldModel methods: encode, next, reward, pi, Q, termination)
  // -------------------------------------------------------------------------------------------

  /** Action features `[B, A]` from a payload or tensor (through the action conditioner). */
  actionFeatures(
    action: ActionPayload | Tensor | null,
    batch: number,
    device?: DeviceName,
  ): Tensor {
    const payload = this.coerceAction(action);
    const conditioner = this.actionConditioner ??
      new DefaultActionConditioner(this.contract.actionSpec);
    const f = conditioner.condition(new State({}, { batchSize: batch }), payload, null).action;
    return f ?? zeros([batch, this.dims.actionFeatures], { device: device ?? this.device });
  }

  /** Latent `[B, L]` of observations `[B, D]` (official `encode`). */
  encodeLatent(obs: Tensor): Tensor {
    return this.encodeImpl({ obs }, { deterministic: true }).get("latent");
  }

  /** Next latent from `z` `[B, L]` and action features `a` `[B, A]` (official `next`). */
  nextLatent(z: Tensor, a: Tensor): Tensor {
    const dyn = this.dynamicsModel;
    if (dyn instanceof TDMPC2Dynamics) return dyn.next(z, a);
    return dyn!.transition(new State({ latent: z }), { action: a }).get("latent");
  }

  /** Reward logits (or the legacy scalar) of (z, a) `[..., K]` (official `reward`). */
  rewardLogits(z: Tensor, a: Tensor): Tensor {
    return this.reward.forward(concat([z, a], -1));
  }

  /** Scalar value `[...]` of reward/Q head outputs `[..., K]` (two-hot inverse, or legacy). */
  headValue(out: Tensor): Tensor {
    return this.config.variant === "legacy" ? out.squeeze(-1) : twoHotInv(out, this.bins);
  }

  /** Loss `[...]` of head outputs `[..., K]` against scalar targets `[...]` (CE or MSE). */
  headLoss(out: Tensor, target: Tensor): Tensor {
    return this.config.variant === "legacy"
      ? out.squeeze(-1).sub(target).square()
      : softCE(out, target, this.bins);
  }

  /** Predicted reward `[B]` of (z, a). */
  rewardValue(z: Tensor, a: Tensor): Tensor {
    return this.headValue(this.rewardLogits(z, a));
  }

  /** Termination logits `[..., 1]` of latents (official `termination(..., unnormalized=True)`). */
  terminationLogit(z: Tensor): Tensor {
    if (!this.termination) throw new ShapeError("terminationLogit", "the model is not episodic");
    return this.termination.forward(z);
  }

  /**
   * Samples the policy prior at `z` (official `WorldModel.pi`): `mu, log_std = pi(z)`,
   * `log_std` bounded to `[logStdMin, logStdMax]` through tanh, a reparameterised sample
   * squashed by tanh, and the (scaled) entropy. Discrete actions: a straight-through one-hot
   * sample of the categorical with logits `pi(z)`.
   */
  policy(z: Tensor, opts: RandomOpts = {}): PolicySample {
    const c = this.config;
    const out = this.pi.forward(z);
    const A = c.actionDim;
    if (c.actionType === "discrete") {
      const probs = out.softmax(-1);
      const logp = out.logSoftmax(-1);
      const idx = categorical(out, { generator: opts.generator });
      const action = oneHot(idx, A).add(probs.sub(probs.detach()));
      const entropy = probs.mul(logp).sum(-1, true).neg();
      return { action, mean: oneHot(out.argmax(-1), A), entropy, scaledEntropy: entropy };
    }
    const [mu, rawLogStd] = out.split([A, A], -1);
    const logStd = boundedLogStd(rawLogStd, c.logStdMin, c.logStdMax);
    const eps = randn(mu.shape, { generator: opts.generator, device: mu.device });
    const logProb = gaussianLogProb(eps, logStd);
    const scaledLogProb = logProb.mul(A); // official: scale by the action size
    const sq = squash(mu, mu.add(eps.mul(logStd.exp())), logProb);
    const entropyScale = scaledLogProb.div(sq.logProb.add(1e-8));
    return {
      action: sq.action,
      mean: sq.mean,
      entropy: sq.logProb.neg(),
      scaledEntropy: sq.logProb.neg().mul(entropyScale),
    };
  }

  /** The policy's mean action `[B, A]` (deterministic). */
  policyMean(z: Tensor): Tensor {
    const c = this.config;
    const out = this.pi.forward(z);
    if (c.actionType === "discrete") return oneHot(out.argmax(-1), c.actionDim);
    return out.narrow(-1, 0, c.actionDim).tanh();
  }

  /** The live Q weights (the `qs` parameters). */
  qWeights(): QWeights {
    return qWeightsOf(this.qs);
  }

  /**
   * Q logits of every head `[numQ, N, K]` for `z` `[N, L]` and actions `a` `[N, A]` (official
   * `Q(..., return_type='all')`); dropout in training mode.
   */
  qAll(z: Tensor, a: Tensor, opts: RandomOpts = {}): Tensor {
    return qForward(this.qWeights(), concat([z, a], -1), {
      dropoutP: this.qs.training ? this.config.dropout : 0,
      generator: opts.generator,
    });
  }

  /**
   * Q value `[N]` of (z, a) from two random heads (official `Q(..., return_type='min'|'avg')`):
   * `min` or average of the pair, from the target heads (`target`), from the live heads with
   * their parameters detached (`detach`, the policy loss), or the live heads. The pair is
   * drawn on the device and only those two heads are evaluated (their weights are gathered
   * first: the same values as evaluating all heads and picking two). An ensemble of two heads
   * uses both without a draw.
   */
  qPair(
    z: Tensor,
    a: Tensor,
    opts: RandomOpts & { reduce: "min" | "avg"; target?: boolean; detach?: boolean },
  ): Tensor {
    const c = this.config;
    const live = this.qWeights();
    const base = opts.target
      ? this.targetQs
      : opts.detach
      ? mapQWeights(live, (t) => t.detach())
      : live;
    // With two heads the pair is both of them, in a random order that neither the minimum nor
    // the average sees: no draw, no gather (20 fewer kernels in a `tdmpc2:ci` update).
    const heads = c.numQNetworks === 2 ? base : selectHeads(
      base,
      topk(rand([c.numQNetworks], { generator: opts.generator, device: z.device }), 2).indices,
    );
    const dropoutP = !opts.target && this.qs.training ? c.dropout : 0;
    const logits = qForward(heads, concat([z, a], -1), {
      dropoutP,
      generator: opts.generator,
    });
    const v = this.headValue(logits); // [2, N]
    return opts.reduce === "min" ? v.min(0) : v.sum(0).div(2);
  }

  /** Soft update of the target heads: `target <- (1 - tau) * target + tau * qs` (official). */
  softUpdateTargetQ(tau = this.config.tau): void {
    const src = this.qWeights();
    const pairs: [Tensor, Tensor][] = [];
    mapQWeights(this.targetQs, (t, name) => {
      pairs.push([t, pick(src, name)]);
      return t;
    });
    noGrad(() => {
      for (const [t, s] of pairs) t.assign(t.add(s.sub(t).mul(tau)));
    });
  }

  /** Copies the live heads into the target heads. */
  resetTargetQ(): void {
    this.softUpdateTargetQ(1);
  }
}

function pick(q: QWeights, name: string): Tensor {
  const [group, idx, field] = name.split(".");
  if (group === "out") return q.out[idx as "weight" | "bias"];
  const list = group === "layers" ? q.layers : q.norms;
  return list[Number(idx)][field as "weight" | "bias"];
}
