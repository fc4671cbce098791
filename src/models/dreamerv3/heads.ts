/**
 * Heads of the `dreamerv3` family on the features `concat(h, flat z)`, after the official
 * `embodied/jax/heads.py` (MLPHead, Head) and `dreamerv3/configs.yaml`:
 *
 * - {@link TwoHotHead}: reward (`rewhead`, 1 layer) and critic (`value`, 3 layers): NormLinear
 *   layers then a zero-initialised Linear to `bins` logits (`outscale: 0.0`), so the initial
 *   prediction is exactly 0; discrete regression over exponentially spaced bins (`twohotBins`).
 * - {@link BinaryHead}: continue (`conhead`, 1 layer), a Bernoulli logit.
 * - {@link Actor}: `policy` (3 layers); continuous actions: bounded normal (`tanh` mean, std
 *   `(max - min) * sigmoid(raw + 2) + min`); discrete: categorical (uniform mix `actorUnimix`,
 *   official 0); output layers initialised at `outscale 0.01`.
 * @module
 */

import type { Linear } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import { oneHot } from "../../tensor/creation.ts";
import { type Generator, rand, randn } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import type { DreamerV3Config } from "./config.ts";
import { twohotLoss, twohotPred } from "./losses.ts";
import { DenseStack, type NetOptions, officialLinear } from "./networks.ts";

/** MLP layers and a Linear to `bins` logits (zero-initialised); predictions by two-hot. */
export class TwoHotHead extends Module {
  /** Hidden layers. */
  mlp: DenseStack;
  /** `[units] -> [bins]`, zero-initialised. */
  out: Linear;

  /** Creates the head. */
  constructor(inF: number, c: DreamerV3Config, layers: number, o: NetOptions) {
    super();
    this.mlp = new DenseStack(inF, c.units, layers, o);
    this.out = officialLinear(this.mlp.outDim, c.bins, o, 0);
  }

  /** Logits `[N, bins]`. */
  logits(feat: Tensor): Tensor {
    return this.out.forward(this.mlp.forward(feat));
  }

  /** Expected value `[N]` (exactly 0 at initialisation). */
  pred(feat: Tensor, bins: Tensor): Tensor {
    return twohotPred(this.logits(feat), bins);
  }

  /** Two-hot cross-entropy `[N]` against raw targets `[N]`. */
  loss(feat: Tensor, target: Tensor, bins: Tensor): Tensor {
    return twohotLoss(this.logits(feat), target, bins);
  }
}

/** MLP layers and a Bernoulli logit. */
export class BinaryHead extends Module {
  /** Hidden layers. */
  mlp: DenseStack;
  /** `[units] -> [1]`. */
  out: Linear;

  /** Creates the head. */
  constructor(inF: number, c: DreamerV3Config, layers: number, o: NetOptions) {
    super();
    this.mlp = new DenseStack(inF, c.units, layers, o);
    this.out = officialLinear(this.mlp.outDim, 1, o);
  }

  /** Logit `[N]`. */
  logit(feat: Tensor): Tensor {
    const y = this.out.forward(this.mlp.forward(feat));
    return y.reshape([y.shape[0]]);
  }
}

/** A policy distribution over `[N, A]` actions. */
export interface PolicyDist {
  /** A sample `[N, A]` (one-hot for discrete actions). */
  sample(generator?: Generator): Tensor;
  /** The mode `[N, A]`. */
  mode(): Tensor;
  /** Log-probability `[N]` of actions `[N, A]`. */
  logp(action: Tensor): Tensor;
  /** Entropy `[N]`. */
  entropy(): Tensor;
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** The actor: bounded normal (continuous) or unimixed categorical (discrete). */
export class Actor extends Module {
  /** Hidden layers. */
  mlp: DenseStack;
  /** Mean (continuous) or logits (discrete) layer. */
  mean: Linear;
  /** Std layer (continuous only). */
  std: Linear | null;

  /** Creates the actor. */
  constructor(inF: number, readonly config: DreamerV3Config, o: NetOptions) {
    super();
    const c = config;
    this.mlp = new DenseStack(inF, c.units, c.acLayers, o);
    this.mean = officialLinear(this.mlp.outDim, c.actionDim, o, c.actorOutScale);
    this.std = c.actionType === "continuous"
      ? officialLinear(this.mlp.outDim, c.actionDim, o, c.actorOutScale)
      : null;
  }

  /** The policy at `feat [N, F]`. */
  dist(feat: Tensor): PolicyDist {
    const c = this.config;
    const x = this.mlp.forward(feat);
    if (this.std) {
      const mean = this.mean.forward(x).tanh();
      const std = this.std.forward(x).add(2).sigmoid().mul(c.maxStd - c.minStd).add(c.minStd);
      return {
        sample: (generator) =>
          mean.add(std.mul(randn(mean.shape, { generator, device: mean.device }))),
        mode: () => mean,
        logp: (a) =>
          a.detach().sub(mean).div(std).square().mul(-0.5).sub(std.log()).sub(HALF_LOG_2PI)
            .sum(-1),
        entropy: () => std.log().add(HALF_LOG_2PI + 0.5).sum(-1),
      };
    }
    const A = c.actionDim;
    const logits = this.mean.forward(x);
    // outs.Categorical: with a uniform mix, the log of the mixed probabilities; without, the log
    // softmax (finite where a probability underflows to 0).
    const logp = c.actorUnimix > 0
      ? logits.softmax(-1).mul(1 - c.actorUnimix).add(c.actorUnimix / A).log()
      : logits.logSoftmax(-1);
    const probs = logp.exp();
    return {
      sample: (generator) => {
        const u = rand(probs.shape, { generator, device: probs.device });
        const g = u.maximum(1e-20).log().neg().maximum(1e-20).log().neg();
        return oneHot(logp.detach().add(g).argmax(-1), A);
      },
      mode: () => oneHot(logp.argmax(-1), A),
      logp: (a) => a.detach().mul(logp).sum(-1),
      entropy: () => probs.mul(logp).sum(-1).neg(),
    };
  }
}
