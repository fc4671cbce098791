/**
 * Baselines: {@link RandomShootingPlanner} (uniform random sequences, one evaluation, the
 * best one wins) and {@link PolicyPlanner} (the model's policy prior rolled out in imagination,
 * no search). Same interface and payloads as the search planners.
 * @module
 */

import type { ActionPayload } from "../core/payloads.ts";
import { concat, oneHot } from "../tensor/creation.ts";
import { nanToNum, topk } from "../tensor/functional.ts";
import { tidy } from "../tensor/memory.ts";
import { rand, randint } from "../tensor/random.ts";
import { noGrad, realize, type Tensor } from "../tensor/tensor.ts";
import {
  Imaginer,
  planInput,
  plannedPayload,
  type PlannerBaseOptions,
  type PlanningModel,
  type PlanOptions,
  repeatState,
  type State,
} from "./helpers.ts";

/** Options of {@link RandomShootingPlanner}. */
export interface RandomShootingOptions extends PlannerBaseOptions {
  /** Candidate sequences per state (default 512). */
  readonly numSamples?: number;
  /** Policy-prior trajectories among them (default 0). */
  readonly numPiTrajs?: number;
}

/** Random shooting: the best of `numSamples` uniformly random sequences. */
export class RandomShootingPlanner {
  /** Horizon. */
  readonly horizon: number;
  readonly #im: Imaginer;
  readonly #opts: RandomShootingOptions;

  /** A planner for `model`. */
  constructor(model: PlanningModel, opts: RandomShootingOptions = {}) {
    this.#im = new Imaginer(model, opts);
    this.#opts = opts;
    this.horizon = opts.horizon ?? 3;
  }

  /** Plans from states `[B]` (or observations): the best candidate `[H, B, A]`. */
  plan(from: State | Tensor, _opts: PlanOptions = {}): ActionPayload {
    const im = this.#im;
    const H = this.horizon;
    const A = im.space.dim;
    const N = this.#opts.numSamples ?? 512;
    const P = im.hasPolicy ? Math.min(this.#opts.numPiTrajs ?? 0, N - 1) : 0;
    const [lo, hi] = this.#opts.actionBounds ?? [-1, 1];
    const g = { generator: this.#opts.generator };
    const input = planInput(im.model, from);
    const { batch: B, device } = input;
    const out = noGrad(() =>
      tidy(() => {
        const state = input.state();
        const sampled = im.space.discrete
          ? oneHot(randint(0, A, [H, B, N - P], { ...g, device }), A)
          : rand([H, B, N - P, A], { ...g, device }).mul(hi - lo).add(lo);
        const actions = P > 0
          ? concat([im.policyRollout(repeatState(state, P), H).reshape([H, B, P, A]), sampled], 2)
          : sampled;
        const value = im.returns(state, actions.reshape([H, B * N, A]), N)
          .reshape([B, N]);
        const top = topk(nanToNum(value, -3e38), 1, 1);
        const idx = top.indices.reshape([1, B, 1, 1]).expand([H, B, 1, A]);
        return { actions: actions.gather(idx, 2).squeeze(2), value: top.values.reshape([B]) };
      })
    );
    realize(out.actions, out.value);
    return plannedPayload(im.space, out.actions, { "wf.planner.value": out.value });
  }
}

/** Options of {@link PolicyPlanner}. */
export interface PolicyPlannerOptions extends PlannerBaseOptions {
  /** Use the policy's mean/mode instead of samples (default true). */
  readonly deterministicPolicy?: boolean;
}

/** The model's policy prior rolled out for `horizon` steps (no search). */
export class PolicyPlanner {
  /** Horizon. */
  readonly horizon: number;
  readonly #im: Imaginer;
  readonly #opts: PolicyPlannerOptions;

  /** A planner for a model with a policy prior. */
  constructor(model: PlanningModel, opts: PolicyPlannerOptions = {}) {
    this.#im = new Imaginer(model, opts);
    if (!this.#im.hasPolicy) throw new TypeError(`${model.modelType} has no policy prior`);
    this.#opts = opts;
    this.horizon = opts.horizon ?? 3;
  }

  /** The policy's actions `[H, B, A]` along its own imagined rollout. */
  plan(from: State | Tensor, opts: PlanOptions = {}): ActionPayload {
    const im = this.#im;
    const det = opts.evalMode ?? this.#opts.deterministicPolicy ?? true;
    const input = planInput(im.model, from);
    const actions = noGrad(() => tidy(() => im.policyRollout(input.state(), this.horizon, det)));
    realize(actions);
    return plannedPayload(im.space, actions);
  }
}
