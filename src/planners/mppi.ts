/**
 * {@link MPPIPlanner}: TD-MPC2's planner (official `tdmpc2/tdmpc2.py`, `TDMPC2._plan` and
 * `_estimate_value`): Gaussian action sequences plus policy-prior trajectories, scored by
 * imagined returns with a terminal value; the top elites re-weighted by
 * `exp(temperature * (value - max))` give the next mean and standard deviation (clamped to
 * `[minStd, maxStd]`); the plan is one elite drawn by score. It is the shared sampling planner
 * (`sampling.ts`: warm start from the previous mean, batched scoring, elites on the device, no
 * read-back) with MPPI's refit, and compiled by default (`compile()`): the first plan of each
 * kind (cold or warm start, exploring or evaluating, input layout) is traced, later ones replay
 * its kernel list — all iterations as one prepared sequence, no graph building — with the same
 * random draws and results as the uncompiled plan.
 * @module
 */

import { categorical } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { PlanningModel } from "./helpers.ts";
import { drawGaussian, exploreFirst, type Gaussian, startGaussian } from "./gaussian.ts";
import { type Refit, type SamplingOptions, SamplingPlanner } from "./sampling.ts";

/** Options of {@link MPPIPlanner} (defaults: official TD-MPC2 `config.yaml`; 24 policy trajectories; compiled). */
export interface MPPIOptions extends SamplingOptions {
  /** Smallest standard deviation (default 0.05). */
  readonly minStd?: number;
  /** Largest and initial standard deviation (default 2). */
  readonly maxStd?: number;
  /** Temperature of the elite scores (default 0.5). */
  readonly temperature?: number;
}

/** MPPI's Gaussian also carries the last elites' normalised scores `[B, E]` (null before). */
export interface ScoredGaussian extends Gaussian {
  /** The last elites' normalised scores `[B, E]` (null before the first refit). */
  readonly score: Tensor | null;
}

/**
 * MPPI's refit: the elites weighted by `exp(temperature * (value - max))` give the mean and the
 * standard deviation; the plan is one elite drawn by its weight (official gumbel_softmax_sample).
 */
function mppiRefit(minStd: number, maxStd: number, temperature: number): Refit<ScoredGaussian> {
  return {
    nanScore: 0, // official: nan_to_num(value, 0)
    start: (f, prev) => ({ ...startGaussian(f, prev, maxStd), score: null }),
    draw: drawGaussian,
    refit(f, _d, elites) {
      const B = f.B, E = elites.values.shape[1];
      const maxV = elites.values.max(1, true);
      let score = elites.values.sub(maxV).mul(temperature).exp();
      score = score.div(score.sum(1, true)); // [B, E]
      const w = score.reshape([1, B, E, 1]);
      const denom = score.sum(1).add(1e-9).reshape([1, B, 1]);
      const mean = w.mul(elites.actions).sum(2).div(denom);
      const std = w.mul(elites.actions.sub(mean.unsqueeze(2)).square()).sum(2).div(denom).sqrt()
        .clamp(minStd, maxStd);
      return { mean, std, score };
    },
    choose(f, d, elites, evalMode) {
      const { H, B, dim: A } = f;
      const pick = categorical(d.score!.log(), f.g); // [B]
      const idx = pick.reshape([1, B, 1, 1]).expand([H, B, 1, A]);
      const chosen = elites.actions.gather(idx, 2).squeeze(2); // [H, B, A]
      const value = elites.values.gather(pick.reshape([B, 1]), 1).reshape([B]);
      const actions = evalMode ? chosen : exploreFirst(f, chosen, d.std);
      return { actions: actions.clamp(f.bounds[0], f.bounds[1]), value };
    },
    keep: (d) => d.mean,
  };
}

/**
 * Model predictive path integral planning, as TD-MPC2. The plan is the elite sequence drawn by
 * score, with exploration noise on its first step unless `evalMode`.
 *
 * @example
 * ```ts
 * import { createWorldModel, firstAction, MPPIPlanner, randn } from "@worldflux/worldflux";
 * import type { TDMPC2WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2 });
 * const tdmpc2 = model as TDMPC2WorldModel;
 * const planner = new MPPIPlanner(tdmpc2, { ...tdmpc2.plannerDefaults(), numSamples: 64 });
 * const plan = planner.plan(randn([1, 4]), { t0: true }); // observations, encoded first
 * console.log(firstAction(plan).tensor!.shape); // [1, 2]
 * ```
 */
export class MPPIPlanner extends SamplingPlanner<ScoredGaussian> {
  /** Settings in use. */
  readonly settings: Required<
    Pick<
      MPPIOptions,
      | "iterations"
      | "numSamples"
      | "numElites"
      | "numPiTrajs"
      | "minStd"
      | "maxStd"
      | "temperature"
    >
  >;

  /** A planner for `model` (TD-MPC2 models: `new MPPIPlanner(model, model.plannerDefaults())`). */
  constructor(model: PlanningModel, opts: MPPIOptions = {}) {
    const minStd = opts.minStd ?? 0.05, maxStd = opts.maxStd ?? 2;
    const temperature = opts.temperature ?? 0.5;
    super(model, opts, {
      name: "MPPIPlanner",
      discrete: false,
      other: "CategoricalCEMPlanner",
      numPiTrajs: 24,
      compile: true,
    }, mppiRefit(minStd, maxStd, temperature));
    this.settings = { ...this.sizes, minStd, maxStd, temperature };
  }

  /** The mean of the last plan `[H, B, A]` (the next plan's warm start), or null. */
  get previousMean(): Tensor | null {
    return this.previous;
  }
}
