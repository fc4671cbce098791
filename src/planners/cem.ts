/**
 * Cross-entropy method planners: {@link CEMPlanner} (Gaussian over continuous action
 * sequences: the elites' mean and standard deviation become the next sampling distribution)
 * and {@link CategoricalCEMPlanner} (independent categoricals per step over discrete actions:
 * the elites' action frequencies, smoothed, become the next probabilities). Both are the
 * shared sampling planner (`sampling.ts`: warm start, policy trajectories, batched scoring,
 * elites on the device, no read-back) with their own refit.
 * @module
 */

import { full, oneHot } from "../tensor/creation.ts";
import { categorical } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type PlanningModel, shiftSequence } from "./helpers.ts";
import { drawGaussian, exploreFirst, type Gaussian, startGaussian } from "./gaussian.ts";
import { type Elites, type Refit, type SamplingOptions, SamplingPlanner } from "./sampling.ts";

/** Options of {@link CEMPlanner} (policy trajectories default to 0; plans are not compiled). */
export interface CEMOptions extends SamplingOptions {
  /** Smallest standard deviation (default 0.05). */
  readonly minStd?: number;
  /** Largest and initial standard deviation (default 2). */
  readonly maxStd?: number;
  /** Weight of the previous mean/std in each update (default 0: plain CEM). */
  readonly momentum?: number;
}

/** Score of a NaN return: never an elite while any candidate has a number. */
const NAN_LAST = -3e38;

/** The best elite's value `[B]` (elites come best first). */
function bestValue(e: Elites): Tensor {
  return e.values.narrow(1, 0, 1).reshape([e.values.shape[0]]);
}

/** Gaussian CEM's refit: the elites' mean and standard deviation, optionally with momentum. */
function cemRefit(opts: CEMOptions): Refit<Gaussian> {
  const minStd = opts.minStd ?? 0.05, maxStd = opts.maxStd ?? 2, mom = opts.momentum ?? 0;
  return {
    nanScore: NAN_LAST,
    start: (f, prev) => startGaussian(f, prev, maxStd),
    draw: drawGaussian,
    refit(_f, d, elites) {
      const eMean = elites.actions.mean(2);
      const eStd = elites.actions.sub(eMean.unsqueeze(2)).square().mean(2).sqrt();
      const mean = mom > 0 ? d.mean.mul(mom).add(eMean.mul(1 - mom)) : eMean;
      const std = (mom > 0 ? d.std.mul(mom).add(eStd.mul(1 - mom)) : eStd).clamp(minStd, maxStd);
      return { mean, std };
    },
    choose(f, d, elites, evalMode) {
      const actions = evalMode ? d.mean : exploreFirst(f, d.mean, d.std);
      return { actions: actions.clamp(f.bounds[0], f.bounds[1]), value: bestValue(elites) };
    },
    keep: (d) => d.mean,
  };
}

/**
 * Gaussian CEM over continuous action sequences. The plan is the final mean, with exploration
 * noise on its first step unless `evalMode`.
 */
export class CEMPlanner extends SamplingPlanner<Gaussian> {
  /** A planner for `model`. */
  constructor(model: PlanningModel, opts: CEMOptions = {}) {
    super(model, opts, {
      name: "CEMPlanner",
      discrete: false,
      other: "CategoricalCEMPlanner",
      numPiTrajs: 0,
      compile: false,
    }, cemRefit(opts));
  }

  /** The mean of the last plan `[H, B, A]` (the next plan's warm start), or null. */
  get previousMean(): Tensor | null {
    return this.previous;
  }
}

/** Options of {@link CategoricalCEMPlanner} (policy trajectories default to 0; not compiled). */
export interface CategoricalCEMOptions extends SamplingOptions {
  /** Weight of the previous probabilities in each update (default 0.1). */
  readonly smoothing?: number;
  /** Floor of every probability before renormalising (default 1e-3; keeps exploring). */
  readonly minProb?: number;
}

/** Categorical CEM's refit: the elites' action frequencies, smoothed and floored. */
function categoricalRefit(opts: CategoricalCEMOptions): Refit<Tensor> {
  const alpha = opts.smoothing ?? 0.1, minProb = opts.minProb ?? 1e-3;
  return {
    nanScore: NAN_LAST,
    start: (f, prev) =>
      prev
        ? shiftSequence(prev, 1 / f.dim)
        : full([f.H, f.B, f.dim], 1 / f.dim, { device: f.device }),
    draw(f, probs, n) {
      const logits = probs.log().unsqueeze(2).expand([f.H, f.B, n, f.dim]);
      return oneHot(categorical(logits, { ...f.g }), f.dim); // [H, B, n, K]
    },
    refit(_f, probs, elites) {
      const freq = elites.actions.mean(2); // [H, B, K]
      const p = freq.mul(1 - alpha).add(probs.mul(alpha)).maximum(minProb);
      return p.div(p.sum(-1, true));
    },
    choose(f, probs, elites, evalMode) {
      const idx = evalMode ? probs.argmax(-1) : categorical(probs.log(), { ...f.g });
      return { actions: oneHot(idx, f.dim), value: bestValue(elites) };
    },
    keep: (probs) => probs,
  };
}

/**
 * CEM over discrete action sequences: one categorical per step (and state), sampled as one-hot
 * actions, refit to the elites' action frequencies. The plan is one-hot: the most likely action
 * per step in `evalMode`, else a draw from the final probabilities.
 */
export class CategoricalCEMPlanner extends SamplingPlanner<Tensor> {
  /** A planner for a model with discrete actions. */
  constructor(model: PlanningModel, opts: CategoricalCEMOptions = {}) {
    super(model, opts, {
      name: "CategoricalCEMPlanner",
      discrete: true,
      other: "CEMPlanner",
      numPiTrajs: 0,
      compile: false,
    }, categoricalRefit(opts));
  }

  /** The probabilities of the last plan `[H, B, K]`, or null. */
  get previousProbs(): Tensor | null {
    return this.previous;
  }
}
