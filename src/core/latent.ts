/**
 * Latent spaces: how a network's output parameterises a latent distribution, and how to
 * sample it, take its mode, and measure KL divergence and entropy. Everything is built from
 * tensor ops, so samples (reparameterised or straight-through) and KL terms are differentiable.
 * @module
 */

import { ShapeError } from "../errors.ts";
import { oneHot } from "../tensor/creation.ts";
import { categorical, type Generator, randn } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { simnorm } from "../nn/layers.ts";

/** Options of sampling. */
export interface LatentSampleOptions {
  /** Return the mode instead of a sample. */
  readonly deterministic?: boolean;
  /** Random stream (default: the global generator). */
  readonly generator?: Generator;
  /** Seed of a reproducible one-off draw. */
  readonly seed?: number;
}

/** Options of KL divergences. */
export interface KLOptions {
  /** Free nats: the KL is clipped below at this value (`max(kl, freeNats)`), so it has no gradient there. */
  readonly freeNats?: number;
}

/** A latent distribution family over the last axis of a parameter tensor. */
export interface LatentSpace {
  /** Size of the last axis of the parameters. */
  readonly paramDim: number;
  /** Size of the last axis of samples. */
  readonly sampleDim: number;
  /** A sample (differentiable w.r.t. the parameters), or the mode when deterministic. */
  sample(params: Tensor, opts?: LatentSampleOptions): Tensor;
  /** The mode. */
  mode(params: Tensor): Tensor;
  /** KL(posterior || prior) summed over the latent, shape `params.shape[:-1]`. */
  klDivergence(posterior: Tensor, prior: Tensor, opts?: KLOptions): Tensor;
  /** Entropy summed over the latent, shape `params.shape[:-1]`. */
  entropy(params: Tensor): Tensor;
}

function lastDim(t: Tensor, want: number, who: string): void {
  if (t.shape[t.rank - 1] !== want) {
    throw new ShapeError(who, `expected parameters [..., ${want}], got [${t.shape.join(", ")}]`);
  }
}

function applyFreeNats(kl: Tensor, opts: KLOptions): Tensor {
  return opts.freeNats && opts.freeNats > 0 ? kl.maximum(opts.freeNats) : kl;
}

/** Options of {@link GaussianLatentSpace}. */
export interface GaussianLatentOptions {
  /** Smallest standard deviation (default 0.1). */
  readonly minStd?: number;
  /** Largest standard deviation with `stdParam: "sigmoid"` (default 2). */
  readonly maxStd?: number;
  /**
   * How the raw output becomes a standard deviation: `"sigmoid"` (default):
   * `min + (max - min) * sigmoid(raw)`; `"softplus"`: `softplus(raw) + min`.
   */
  readonly stdParam?: "sigmoid" | "softplus";
}

/**
 * Diagonal Gaussian: parameters `[..., 2 * dim]` are the mean and a raw standard deviation.
 * Samples are reparameterised (`mean + std * eps`).
 *
 * @example
 * ```ts
 * import { GaussianLatentSpace, randn } from "@worldflux/worldflux";
 * const space = new GaussianLatentSpace(8, { stdParam: "softplus" });
 * const params = randn([4, space.paramDim]);
 * const z = space.sample(params);                  // [4, 8]
 * const kl = space.klToStandardNormal(params);     // [4]
 * console.log(z.shape, kl.shape);
 * ```
 */
export class GaussianLatentSpace implements LatentSpace {
  /** Smallest standard deviation. */
  readonly minStd: number;
  /** Largest standard deviation (sigmoid parameterisation). */
  readonly maxStd: number;
  /** How raw outputs become standard deviations. */
  readonly stdParam: "sigmoid" | "softplus";

  /** A Gaussian over `dim` dimensions. */
  constructor(readonly dim: number, opts: GaussianLatentOptions = {}) {
    this.minStd = opts.minStd ?? 0.1;
    this.maxStd = opts.maxStd ?? 2;
    this.stdParam = opts.stdParam ?? "sigmoid";
  }

  /** `2 * dim`. */
  get paramDim(): number {
    return 2 * this.dim;
  }

  /** `dim`. */
  get sampleDim(): number {
    return this.dim;
  }

  /** Mean and standard deviation, `[..., dim]` each. */
  split(params: Tensor): { mean: Tensor; std: Tensor } {
    lastDim(params, this.paramDim, "GaussianLatentSpace");
    const [mean, raw] = params.chunk(2, -1);
    const std = this.stdParam === "softplus"
      ? raw.softplus().add(this.minStd)
      : raw.sigmoid().mul(this.maxStd - this.minStd).add(this.minStd);
    return { mean, std };
  }

  /** `mean + std * eps` (or the mean when deterministic). */
  sample(params: Tensor, opts: LatentSampleOptions = {}): Tensor {
    const { mean, std } = this.split(params);
    if (opts.deterministic) return mean;
    const eps = randn(mean.shape, {
      generator: opts.generator,
      seed: opts.seed,
      device: mean.device,
    });
    return mean.add(std.mul(eps));
  }

  /** The mean. */
  mode(params: Tensor): Tensor {
    return this.split(params).mean;
  }

  /** KL between two diagonal Gaussians, summed over `dim`. */
  klDivergence(posterior: Tensor, prior: Tensor, opts: KLOptions = {}): Tensor {
    const p = this.split(posterior);
    const q = this.split(prior);
    const pv = p.std.square();
    const qv = q.std.square();
    const kl = qv.div(pv).log().add(pv.add(p.mean.sub(q.mean).square()).div(qv)).sub(1).mul(0.5)
      .sum(-1);
    return applyFreeNats(kl, opts);
  }

  /** KL to the standard normal, summed over `dim`. */
  klToStandardNormal(params: Tensor, opts: KLOptions = {}): Tensor {
    const { mean, std } = this.split(params);
    const v = std.square();
    const kl = v.add(mean.square()).sub(v.log()).sub(1).mul(0.5).sum(-1);
    return applyFreeNats(kl, opts);
  }

  /** `sum 0.5 * log(2 pi e std^2)`. */
  entropy(params: Tensor): Tensor {
    const { std } = this.split(params);
    return std.log().add(0.5 * Math.log(2 * Math.PI * Math.E)).sum(-1);
  }

  /** Log density of `x` `[..., dim]`, summed over `dim`. */
  logProb(x: Tensor, params: Tensor): Tensor {
    const { mean, std } = this.split(params);
    const z = x.sub(mean).div(std);
    return z.square().mul(-0.5).sub(std.log()).sub(0.5 * Math.log(2 * Math.PI)).sum(-1);
  }
}

/** Options of {@link CategoricalLatentSpace}. */
export interface CategoricalLatentOptions {
  /** Mix of the uniform distribution into the probabilities (DreamerV3: 0.01). */
  readonly unimix?: number;
}

/**
 * `groups` independent categoricals of `classes` classes each (DreamerV3's stochastic state):
 * parameters are logits `[..., groups * classes]` (or `[..., groups, classes]`; outputs keep the
 * layout). Probabilities mix in `unimix` of the uniform distribution; samples and modes are
 * one-hot with straight-through gradients (`onehot + probs - stopgrad(probs)`).
 *
 * @example
 * ```ts
 * import { CategoricalLatentSpace, randn } from "@worldflux/worldflux";
 * const space = new CategoricalLatentSpace(4, 8, { unimix: 0.01 });
 * const logits = randn([2, space.paramDim]);
 * const z = space.sample(logits);                       // [2, 32], one-hot per group
 * console.log(z.shape, space.entropy(logits).shape);    // [2, 32] [2]
 * ```
 */
export class CategoricalLatentSpace implements LatentSpace {
  /** Weight of the uniform distribution mixed into the probabilities. */
  readonly unimix: number;

  /** `groups` categoricals with `classes` classes. */
  constructor(readonly groups = 32, readonly classes = 32, opts: CategoricalLatentOptions = {}) {
    this.unimix = opts.unimix ?? 0.01;
    if (this.unimix < 0 || this.unimix >= 1) {
      throw new ShapeError(
        "CategoricalLatentSpace",
        `unimix must be in [0, 1), got ${this.unimix}`,
      );
    }
  }

  /** `groups * classes`. */
  get paramDim(): number {
    return this.groups * this.classes;
  }

  /** `groups * classes`. */
  get sampleDim(): number {
    return this.groups * this.classes;
  }

  /** Logits as `[..., groups, classes]`, and whether the input was flat. */
  #grouped(params: Tensor): { logits: Tensor; flat: boolean } {
    const r = params.rank;
    if (r >= 2 && params.shape[r - 2] === this.groups && params.shape[r - 1] === this.classes) {
      return { logits: params, flat: false };
    }
    lastDim(params, this.paramDim, "CategoricalLatentSpace");
    return {
      logits: params.reshape([...params.shape.slice(0, -1), this.groups, this.classes]),
      flat: true,
    };
  }

  #out(t: Tensor, flat: boolean): Tensor {
    return flat ? t.reshape([...t.shape.slice(0, -2), this.paramDim]) : t;
  }

  /** Probabilities `[..., groups, classes]` with the uniform mix. */
  probs(params: Tensor): Tensor {
    const p = this.#grouped(params).logits.softmax(-1);
    return this.unimix > 0 ? p.mul(1 - this.unimix).add(this.unimix / this.classes) : p;
  }

  /** Log-probabilities `[..., groups, classes]` with the uniform mix. */
  logProbs(params: Tensor): Tensor {
    if (this.unimix > 0) return this.probs(params).log();
    return this.#grouped(params).logits.logSoftmax(-1);
  }

  /** One-hot sample with straight-through gradients (the mode when deterministic). */
  sample(params: Tensor, opts: LatentSampleOptions = {}): Tensor {
    if (opts.deterministic) return this.mode(params);
    const { flat } = this.#grouped(params);
    const probs = this.probs(params);
    const idx = categorical(probs.log(), { generator: opts.generator, seed: opts.seed });
    return this.#out(oneHot(idx, this.classes).add(probs.sub(probs.detach())), flat);
  }

  /** One-hot argmax with straight-through gradients. */
  mode(params: Tensor): Tensor {
    const { flat } = this.#grouped(params);
    const probs = this.probs(params);
    return this.#out(oneHot(probs.argmax(-1), this.classes).add(probs.sub(probs.detach())), flat);
  }

  /** KL between the (unimixed) categoricals, summed over groups. */
  klDivergence(posterior: Tensor, prior: Tensor, opts: KLOptions = {}): Tensor {
    const lp = this.logProbs(posterior);
    const lq = this.logProbs(prior);
    const kl = lp.exp().mul(lp.sub(lq)).sum([-2, -1]);
    return applyFreeNats(kl, opts);
  }

  /** Entropy summed over groups. */
  entropy(params: Tensor): Tensor {
    const lp = this.logProbs(params);
    return lp.exp().mul(lp).sum([-2, -1]).neg();
  }
}

/**
 * SimNorm (TD-MPC2): the latent is split into groups of `groupSize` and each group is a softmax
 * (a point on a simplex). Deterministic: sample and mode are the normalised latent; KL and
 * entropy treat each group as a categorical distribution.
 *
 * @example
 * ```ts
 * import { SimNormLatentSpace, randn } from "@worldflux/worldflux";
 * const space = new SimNormLatentSpace(16, 8);
 * const z = space.sample(randn([2, 16]));
 * console.log(z.shape); // [2, 16]
 * ```
 */
export class SimNormLatentSpace implements LatentSpace {
  /** A `dim`-dimensional latent in groups of `groupSize`. */
  constructor(readonly dim: number, readonly groupSize = 8) {
    if (dim % groupSize !== 0) {
      throw new ShapeError("SimNormLatentSpace", `dim ${dim} is not a multiple of ${groupSize}`);
    }
  }

  /** `dim`. */
  get paramDim(): number {
    return this.dim;
  }

  /** `dim`. */
  get sampleDim(): number {
    return this.dim;
  }

  /** Number of simplices. */
  get groups(): number {
    return this.dim / this.groupSize;
  }

  /** The SimNorm of the parameters. */
  sample(params: Tensor, _opts: LatentSampleOptions = {}): Tensor {
    return this.mode(params);
  }

  /** The SimNorm of the parameters. */
  mode(params: Tensor): Tensor {
    lastDim(params, this.dim, "SimNormLatentSpace");
    return simnorm(params, this.groupSize);
  }

  #logProbs(params: Tensor): Tensor {
    lastDim(params, this.dim, "SimNormLatentSpace");
    return params.reshape([...params.shape.slice(0, -1), this.groups, this.groupSize]).logSoftmax(
      -1,
    );
  }

  /** KL between the per-group softmax distributions, summed over groups. */
  klDivergence(posterior: Tensor, prior: Tensor, opts: KLOptions = {}): Tensor {
    const lp = this.#logProbs(posterior);
    const lq = this.#logProbs(prior);
    return applyFreeNats(lp.exp().mul(lp.sub(lq)).sum([-2, -1]), opts);
  }

  /** Entropy of the per-group softmax distributions, summed over groups. */
  entropy(params: Tensor): Tensor {
    const lp = this.#logProbs(params);
    return lp.exp().mul(lp).sum([-2, -1]).neg();
  }
}
