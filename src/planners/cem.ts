/**
 * Cross-entropy method planners: {@link CEMPlanner} (Gaussian over continuous action
 * sequences: the elites' mean and standard deviation become the next sampling distribution)
 * and {@link CategoricalCEMPlanner} (independent categoricals per step over discrete actions:
 * the elites' action frequencies, smoothed, become the next probabilities). Both warm-start
 * from the previous plan shifted by one step, evaluate every candidate of an iteration as one
 * batch, select elites on the device, and return the plan as a tensor without reading back.
 * @module
 */

import type { ActionPayload } from "../core/payloads.ts";
import { concat, full, oneHot } from "../tensor/creation.ts";
import { nanToNum } from "../tensor/functional.ts";
import { tidy } from "../tensor/memory.ts";
import { categorical, randn } from "../tensor/random.ts";
import { noGrad, realize, type Tensor } from "../tensor/tensor.ts";
import {
  Imaginer,
  planInput,
  plannedPayload,
  type PlannerBaseOptions,
  type PlanningModel,
  type PlanOptions,
  repeatState,
  replaceKept,
  shiftSequence,
  type State,
  zeroSequence,
} from "./helpers.ts";
import { selectElites } from "./mppi.ts";

/** Options of {@link CEMPlanner}. */
export interface CEMOptions extends PlannerBaseOptions {
  /** Iterations (default 6). */
  readonly iterations?: number;
  /** Candidates per state and iteration, policy trajectories included (default 512). */
  readonly numSamples?: number;
  /** Elites (default 64). */
  readonly numElites?: number;
  /** Policy-prior trajectories among the samples (default 0). */
  readonly numPiTrajs?: number;
  /** Smallest standard deviation (default 0.05). */
  readonly minStd?: number;
  /** Largest and initial standard deviation (default 2). */
  readonly maxStd?: number;
  /** Weight of the previous mean/std in each update (default 0: plain CEM). */
  readonly momentum?: number;
}

/** Gaussian CEM over continuous action sequences. */
export class CEMPlanner {
  /** Horizon. */
  readonly horizon: number;
  readonly #im: Imaginer;
  readonly #o: Required<
    Pick<
      CEMOptions,
      "iterations" | "numSamples" | "numElites" | "numPiTrajs" | "minStd" | "maxStd" | "momentum"
    >
  >;
  readonly #opts: CEMOptions;
  #prevMean: Tensor | null = null;

  /** A planner for `model`. */
  constructor(model: PlanningModel, opts: CEMOptions = {}) {
    this.#im = new Imaginer(model, opts);
    if (this.#im.space.discrete) {
      throw new TypeError("CEMPlanner plans continuous actions; use CategoricalCEMPlanner");
    }
    this.#opts = opts;
    this.horizon = opts.horizon ?? 3;
    const numSamples = opts.numSamples ?? 512;
    this.#o = {
      iterations: opts.iterations ?? 6,
      numSamples,
      numElites: Math.min(opts.numElites ?? 64, numSamples),
      numPiTrajs: this.#im.hasPolicy ? Math.min(opts.numPiTrajs ?? 0, numSamples - 1) : 0,
      minStd: opts.minStd ?? 0.05,
      maxStd: opts.maxStd ?? 2,
      momentum: opts.momentum ?? 0,
    };
  }

  /** Forgets the warm start. */
  reset(): void {
    this.#prevMean = replaceKept(this.#prevMean, null);
  }

  /**
   * Plans from states `[B]` (or observations). Returns the final mean sequence `[H, B, A]`
   * (exploration noise on its first step unless `evalMode`) with `wf.planner.horizon`.
   */
  plan(from: State | Tensor, opts: PlanOptions = {}): ActionPayload {
    const im = this.#im;
    const o = this.#o;
    const H = this.horizon;
    const A = im.space.dim;
    const [lo, hi] = this.#opts.actionBounds ?? [-1, 1];
    const g = { generator: this.#opts.generator };
    const input = planInput(im.model, from);
    const { batch: B, device } = input;
    const N = o.numSamples, P = o.numPiTrajs, E = o.numElites, mom = o.momentum;
    const prev = this.#prevMean;
    const warm = !opts.t0 && prev && prev.shape[1] === B && prev.shape[0] === H ? prev : null;
    const out = noGrad(() =>
      tidy(() => {
        const state = input.state();
        const piActs = P > 0
          ? im.policyRollout(repeatState(state, P), H).reshape([H, B, P, A])
          : null;
        let mean = warm ? shiftSequence(warm, 0) : zeroSequence(H, B, A, device);
        let std = full([H, B, A], o.maxStd, { device });
        let best: Tensor | null = null;
        for (let it = 0; it < o.iterations; it++) {
          const r = randn([H, B, N - P, A], { ...g, device });
          const sampled = mean.unsqueeze(2).add(std.unsqueeze(2).mul(r)).clamp(lo, hi);
          const actions = piActs ? concat([piActs, sampled], 2) : sampled;
          const value = im.returns(state, actions.reshape([H, B * N, A]), N).reshape([B, N]);
          const elite = selectElites(actions, nanToNum(value, -3e38), E);
          const eMean = elite.actions.mean(2);
          const eStd = elite.actions.sub(eMean.unsqueeze(2)).square().mean(2).sqrt();
          mean = mom > 0 ? mean.mul(mom).add(eMean.mul(1 - mom)) : eMean;
          std = (mom > 0 ? std.mul(mom).add(eStd.mul(1 - mom)) : eStd).clamp(o.minStd, o.maxStd);
          best = elite.values.narrow(1, 0, 1).reshape([B]);
        }
        let actions = mean;
        if (!opts.evalMode) {
          const first = mean.narrow(0, 0, 1).add(
            std.narrow(0, 0, 1).mul(randn([1, B, A], { ...g, device })),
          );
          actions = H > 1 ? concat([first, mean.narrow(0, 1, H - 1)], 0) : first;
        }
        return { actions: actions.clamp(lo, hi), mean, best: best! };
      })
    );
    realize(out.actions, out.mean, out.best);
    this.#prevMean = replaceKept(this.#prevMean, out.mean);
    return plannedPayload(im.space, out.actions, { "wf.planner.value": out.best });
  }
}

/** Options of {@link CategoricalCEMPlanner}. */
export interface CategoricalCEMOptions extends PlannerBaseOptions {
  /** Iterations (default 6). */
  readonly iterations?: number;
  /** Candidates per state and iteration, policy trajectories included (default 512). */
  readonly numSamples?: number;
  /** Elites (default 64). */
  readonly numElites?: number;
  /** Policy-prior trajectories among the samples (default 0). */
  readonly numPiTrajs?: number;
  /** Weight of the previous probabilities in each update (default 0.1). */
  readonly smoothing?: number;
  /** Floor of every probability before renormalising (default 1e-3; keeps exploring). */
  readonly minProb?: number;
}

/**
 * CEM over discrete action sequences: one categorical per step (and state), sampled as one-hot
 * actions, refit to the elites' action frequencies.
 */
export class CategoricalCEMPlanner {
  /** Horizon. */
  readonly horizon: number;
  readonly #im: Imaginer;
  readonly #opts: CategoricalCEMOptions;
  #prevProbs: Tensor | null = null;

  /** A planner for a model with discrete actions. */
  constructor(model: PlanningModel, opts: CategoricalCEMOptions = {}) {
    this.#im = new Imaginer(model, opts);
    if (!this.#im.space.discrete) {
      throw new TypeError("CategoricalCEMPlanner plans discrete actions; use CEMPlanner");
    }
    this.#opts = opts;
    this.horizon = opts.horizon ?? 3;
  }

  /** Forgets the warm start. */
  reset(): void {
    this.#prevProbs = replaceKept(this.#prevProbs, null);
  }

  /** The probabilities of the last plan `[H, B, K]`, or null. */
  get previousProbs(): Tensor | null {
    return this.#prevProbs;
  }

  /**
   * Plans from states `[B]` (or observations). Returns one-hot actions `[H, B, K]`: the most
   * likely action per step in `evalMode`, else a draw from the final probabilities.
   */
  plan(from: State | Tensor, opts: PlanOptions = {}): ActionPayload {
    const im = this.#im;
    const H = this.horizon;
    const K = im.space.dim;
    const N = this.#opts.numSamples ?? 512;
    const E = Math.min(this.#opts.numElites ?? 64, N);
    const P = im.hasPolicy ? Math.min(this.#opts.numPiTrajs ?? 0, N - 1) : 0;
    const iterations = this.#opts.iterations ?? 6;
    const alpha = this.#opts.smoothing ?? 0.1;
    const minProb = this.#opts.minProb ?? 1e-3;
    const g = { generator: this.#opts.generator };
    const input = planInput(im.model, from);
    const { batch: B, device } = input;
    const prev = this.#prevProbs;
    const warm = !opts.t0 && prev && prev.shape[1] === B && prev.shape[0] === H ? prev : null;
    const out = noGrad(() =>
      tidy(() => {
        const state = input.state();
        const piActs = P > 0
          ? im.policyRollout(repeatState(state, P), H).reshape([H, B, P, K])
          : null;
        let probs = warm ? shiftSequence(warm, 1 / K) : full([H, B, K], 1 / K, { device });
        let best: Tensor | null = null;
        for (let it = 0; it < iterations; it++) {
          const logits = probs.log().unsqueeze(2).expand([H, B, N - P, K]);
          const sampled = oneHot(categorical(logits, { ...g }), K); // [H, B, N - P, K]
          const actions = piActs ? concat([piActs, sampled], 2) : sampled;
          const value = im.returns(state, actions.reshape([H, B * N, K]), N).reshape([B, N]);
          const elite = selectElites(actions, nanToNum(value, -3e38), E);
          const freq = elite.actions.mean(2); // [H, B, K]
          probs = freq.mul(1 - alpha).add(probs.mul(alpha)).maximum(minProb);
          probs = probs.div(probs.sum(-1, true));
          best = elite.values.narrow(1, 0, 1).reshape([B]);
        }
        const idx = opts.evalMode ? probs.argmax(-1) : categorical(probs.log(), { ...g });
        return { actions: oneHot(idx, K), probs, best: best! };
      })
    );
    realize(out.actions, out.probs, out.best);
    this.#prevProbs = replaceKept(this.#prevProbs, out.probs);
    return plannedPayload(im.space, out.actions, { "wf.planner.value": out.best });
  }
}
