/**
 * {@link MPPIPlanner}: TD-MPC2's planner (official `tdmpc2/tdmpc2.py`, `TDMPC2._plan` and
 * `_estimate_value`): Gaussian action sequences plus policy-prior trajectories, scored by
 * imagined returns with a terminal value; the top elites re-weighted by
 * `exp(temperature * (value - max))` give the next mean and standard deviation (clamped to
 * `[minStd, maxStd]`); the plan warm-starts from the previous mean shifted by one step. All
 * candidates of an iteration go through the model as one batch; elite selection runs on the
 * device and nothing is read back: `plan()` submits the work and returns the plan as a tensor
 * in the payload (read it when the action is needed). Plans are compiled (`compile()`): the first
 * plan of each kind (cold or warm start, exploring or evaluating, input layout) is traced, later
 * ones replay its kernel list — all iterations as one prepared sequence, no graph building —
 * with the same random draws and results as the uncompiled plan.
 * @module
 */

import type { ActionPayload } from "../core/payloads.ts";
import { compile, type CompiledStep } from "../tensor/compile.ts";
import { full } from "../tensor/creation.ts";
import { nanToNum, topk } from "../tensor/functional.ts";
import { categorical, randn } from "../tensor/random.ts";
import { tidy } from "../tensor/memory.ts";
import { noGrad, realize, type Tensor } from "../tensor/tensor.ts";
import { concat } from "../tensor/creation.ts";
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
  State,
  zeroSequence,
} from "./helpers.ts";

/** Options of {@link MPPIPlanner} (defaults: official TD-MPC2 `config.yaml`). */
export interface MPPIOptions extends PlannerBaseOptions {
  /** Iterations (default 6). */
  readonly iterations?: number;
  /** Candidate sequences per state and iteration, policy trajectories included (default 512). */
  readonly numSamples?: number;
  /** Elites (default 64). */
  readonly numElites?: number;
  /** Policy-prior trajectories among the samples (default 24; 0 without a policy). */
  readonly numPiTrajs?: number;
  /** Smallest standard deviation (default 0.05). */
  readonly minStd?: number;
  /** Largest and initial standard deviation (default 2). */
  readonly maxStd?: number;
  /** Temperature of the elite scores (default 0.5). */
  readonly temperature?: number;
  /**
   * Compile the plan (default true): traced once per kind of call, then replayed. `false`
   * builds and schedules the graph on every call (same results).
   */
  readonly compile?: boolean;
}

/** Elites of `[H, B, N, A]` candidates by value `[B, N]`: values `[B, E]`, actions `[H, B, E, A]`. */
export function selectElites(
  actions: Tensor,
  values: Tensor,
  numElites: number,
): { values: Tensor; actions: Tensor } {
  const [H, B, , A] = actions.shape;
  const top = topk(values, numElites, 1);
  const idx = top.indices.reshape([1, B, numElites, 1]).expand([H, B, numElites, A]);
  return { values: top.values, actions: actions.gather(idx, 2) };
}

/**
 * Model predictive path integral planning, as TD-MPC2.
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
export class MPPIPlanner {
  /** Horizon. */
  readonly horizon: number;
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
  readonly #im: Imaginer;
  readonly #opts: MPPIOptions;
  #prevMean: Tensor | null = null;
  /** Compiled plans by kind of call (see `plan`). */
  readonly #compiled = new Map<string, CompiledStep<Tensor[], Tensor[]>>();

  /** A planner for `model` (TD-MPC2 models: `new MPPIPlanner(model, model.plannerDefaults())`). */
  constructor(model: PlanningModel, opts: MPPIOptions = {}) {
    this.#im = new Imaginer(model, opts);
    this.#opts = opts;
    this.horizon = opts.horizon ?? 3;
    const numSamples = opts.numSamples ?? 512;
    this.settings = {
      iterations: opts.iterations ?? 6,
      numSamples,
      numElites: Math.min(opts.numElites ?? 64, numSamples),
      numPiTrajs: this.#im.hasPolicy ? Math.min(opts.numPiTrajs ?? 24, numSamples - 1) : 0,
      minStd: opts.minStd ?? 0.05,
      maxStd: opts.maxStd ?? 2,
      temperature: opts.temperature ?? 0.5,
    };
    if (this.#im.space.discrete) {
      throw new TypeError("MPPIPlanner plans continuous actions; use CategoricalCEMPlanner");
    }
  }

  /** The mean of the last plan `[H, B, A]` (the next plan's warm start), or null. */
  get previousMean(): Tensor | null {
    return this.#prevMean;
  }

  /** Forgets the warm start (a new episode). */
  reset(): void {
    this.#prevMean = replaceKept(this.#prevMean, null);
  }

  /**
   * Plans from encoded states (`[B]`; or observations, encoded first). Returns the chosen elite
   * sequence `[H, B, A]` (exploration noise on its first step unless `evalMode`) as a
   * continuous payload with `extras["wf.planner.horizon"] = H` and the estimated value `[B]`
   * in `extras["wf.planner.value"]`.
   */
  plan(from: State | Tensor, opts: PlanOptions = {}): ActionPayload {
    const H = this.horizon;
    const input = planInput(this.#im.model, from);
    const B = input.batch;
    const prev = this.#prevMean;
    const warm = !opts.t0 && prev && prev.shape[1] === B && prev.shape[0] === H ? prev : null;
    const evalMode = !!opts.evalMode;
    let out: { actions: Tensor; mean: Tensor; value: Tensor };
    if (this.#opts.compile ?? true) {
      // One compiled plan per kind of call: inputs (observations, or the state's tensors by
      // key) and the warm start are its arguments.
      const keys = from instanceof State ? from.keys() : null;
      const args = keys ? keys.map((k) => (from as State).get(k)) : [from as Tensor];
      if (warm) args.push(warm);
      // (a model's train/eval mode changes what is traced, e.g. dropout in its heads)
      const training = (this.#im.model as { training?: boolean }).training ?? false;
      const kind = `${keys ? keys.join(",") : "obs"}|${warm ? "w" : "c"}|${evalMode}|${training}`;
      let fn = this.#compiled.get(kind);
      if (!fn) {
        fn = compile((...ts: Tensor[]) => {
          const st = keys
            ? new State(Object.fromEntries(keys.map((k, i) => [k, ts[i]])))
            : (ts[0] as Tensor);
          const o = this.#plan(
            planInput(this.#im.model, st),
            warm ? ts[ts.length - 1] : null,
            evalMode,
          );
          return [o.actions, o.mean, o.value];
        });
        this.#compiled.set(kind, fn);
      }
      const [actions, mean, value] = fn(...args);
      out = { actions, mean, value };
    } else {
      out = this.#plan(input, warm, evalMode);
      realize(out.actions, out.mean, out.value); // one schedule (submitted, not awaited)
    }
    this.#prevMean = replaceKept(this.#prevMean, out.mean);
    return plannedPayload(this.#im.space, out.actions, { "wf.planner.value": out.value });
  }

  /** Frees the buffers of the compiled plans (they are traced again when needed). */
  dispose(): void {
    for (const fn of this.#compiled.values()) fn.dispose();
    this.#compiled.clear();
    this.reset();
  }

  /** The plan's computation: chosen actions `[H, B, A]`, the new mean, the chosen value `[B]`. */
  #plan(
    input: ReturnType<typeof planInput>,
    warm: Tensor | null,
    evalMode: boolean,
  ): { actions: Tensor; mean: Tensor; value: Tensor } {
    const im = this.#im;
    const s = this.settings;
    const H = this.horizon;
    const A = im.space.dim;
    const [lo, hi] = this.#opts.actionBounds ?? [-1, 1];
    const g = { generator: this.#opts.generator };
    const { batch: B, device } = input;
    const N = s.numSamples, P = s.numPiTrajs, E = s.numElites;
    const out = noGrad(() =>
      tidy(() => {
        const state = input.state();
        // Policy-prior trajectories [H, B, P, A] (official: pi rollouts with next()).
        const piActs = P > 0
          ? im.policyRollout(repeatState(state, P), H).reshape([H, B, P, A])
          : null;
        let mean = warm ? shiftSequence(warm, 0) : zeroSequence(H, B, A, device);
        let std = full([H, B, A], s.maxStd, { device });
        let elite: { values: Tensor; actions: Tensor } | null = null;
        let score: Tensor | null = null;
        for (let it = 0; it < s.iterations; it++) {
          const r = randn([H, B, N - P, A], { ...g, device });
          const sampled = mean.unsqueeze(2).add(std.unsqueeze(2).mul(r)).clamp(lo, hi);
          const actions = piActs ? concat([piActs, sampled], 2) : sampled; // [H, B, N, A]
          const value = im.returns(state, actions.reshape([H, B * N, A]), N).reshape([B, N]);
          const v = nanToNum(value);
          elite = selectElites(actions, v, E);
          const maxV = elite.values.max(1, true);
          score = elite.values.sub(maxV).mul(s.temperature).exp();
          score = score.div(score.sum(1, true)); // [B, E]
          const w = score.reshape([1, B, E, 1]);
          const denom = score.sum(1).add(1e-9).reshape([1, B, 1]);
          mean = w.mul(elite.actions).sum(2).div(denom);
          std = w.mul(elite.actions.sub(mean.unsqueeze(2)).square()).sum(2).div(denom).sqrt()
            .clamp(s.minStd, s.maxStd);
        }
        // One elite sequence, drawn by score (official gumbel_softmax_sample).
        const pick = categorical(score!.log(), g); // [B]
        const idx = pick.reshape([1, B, 1, 1]).expand([H, B, 1, A]);
        let chosen = elite!.actions.gather(idx, 2).squeeze(2); // [H, B, A]
        const chosenValue = elite!.values.gather(pick.reshape([B, 1]), 1).reshape([B]);
        if (!evalMode) {
          const first = chosen.narrow(0, 0, 1).add(
            std.narrow(0, 0, 1).mul(randn([1, B, A], { ...g, device })),
          );
          chosen = H > 1 ? concat([first, chosen.narrow(0, 1, H - 1)], 0) : first;
        }
        return { actions: chosen.clamp(lo, hi), mean, value: chosenValue };
      })
    );
    return out;
  }
}
