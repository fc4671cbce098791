/**
 * The one body of the sampling planners (CEM, categorical CEM, MPPI): draw candidate action
 * sequences from a distribution, add the policy prior's trajectories, score every candidate by
 * its imagined return in one batch, keep the elites, refit the distribution to them, and after
 * the last iteration choose the plan. What differs between the planners is only how the
 * distribution is drawn, refit and turned into a plan: a {@link Refit}. Everything else —
 * option defaults, warm starts from the previous plan shifted by a step, the memory scope,
 * elite selection on the device, compiling the plan, the payload — is written here once.
 *
 * A plan never reads back: it submits its work and returns the plan as a tensor in the payload.
 * Compiled plans (`compile: true`) trace once per kind of call (input layout, cold or warm
 * start, exploring or evaluating, the model's train mode) and replay its kernel list after,
 * with the same random draws and results as the uncompiled plan.
 * @module
 */

import type { ActionPayload } from "../core/payloads.ts";
import { compile, type CompiledStep } from "../tensor/compile.ts";
import { concat } from "../tensor/creation.ts";
import { nanToNum, topk } from "../tensor/functional.ts";
import { tidy } from "../tensor/memory.ts";
import type { Generator } from "../tensor/random.ts";
import { noGrad, realize, type Tensor } from "../tensor/tensor.ts";
import {
  Imaginer,
  joinRollouts,
  planInput,
  plannedPayload,
  type PlannerBaseOptions,
  type PlanningModel,
  type PlanOptions,
  repeatState,
  replaceKept,
  State,
} from "./helpers.ts";

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

/** The elites of one iteration: values `[B, E]` (best first) and actions `[H, B, E, A]`. */
export interface Elites {
  /** Imagined returns, best first. */
  readonly values: Tensor;
  /** Their action sequences. */
  readonly actions: Tensor;
}

/** What a {@link Refit} works in: the plan's sizes, bounds and random stream. */
export interface SampleFrame {
  /** Horizon. */
  readonly H: number;
  /** States planned from. */
  readonly B: number;
  /** Action size (continuous) or number of actions (discrete, one-hot). */
  readonly dim: number;
  /** Device of the plan's tensors. */
  readonly device: "cpu" | "webgpu";
  /** Bounds of continuous actions. */
  readonly bounds: readonly [number, number];
  /** The random stream of the draws (`{ generator: undefined }`: the global one). */
  readonly g: { readonly generator?: Generator };
}

/**
 * How one sampling planner draws, refits and chooses. `D` is its distribution (e.g. a mean and
 * a standard deviation per step); `keep(d)` is the tensor `[H, B, dim]` the next plan starts
 * from (`start` shifts it by one step: `shiftSequence`).
 */
export interface Refit<D> {
  /** Score of a candidate whose imagined return is NaN. */
  readonly nanScore: number;
  /** The first distribution: from the previous plan's kept tensor, or cold (`prev` null). */
  start(f: SampleFrame, prev: Tensor | null): D;
  /** `n` candidates per state `[H, B, n, dim]`. */
  draw(f: SampleFrame, d: D, n: number): Tensor;
  /** The distribution fitted to one iteration's elites. */
  refit(f: SampleFrame, d: D, elites: Elites): D;
  /** The plan `[H, B, dim]` and its value `[B]` from the last distribution and elites. */
  choose(
    f: SampleFrame,
    d: D,
    elites: Elites,
    evalMode: boolean,
  ): { actions: Tensor; value: Tensor };
  /** The tensor kept for the next plan's warm start. */
  keep(d: D): Tensor;
}

/** Sizes of a sampling plan, resolved from the options. */
export interface SamplingSettings {
  /** Iterations. */
  readonly iterations: number;
  /** Candidates per state and iteration, policy trajectories included. */
  readonly numSamples: number;
  /** Elites. */
  readonly numElites: number;
  /** Policy-prior trajectories among the samples (0 without a policy). */
  readonly numPiTrajs: number;
}

/** Options every sampling planner takes. */
export interface SamplingOptions extends PlannerBaseOptions {
  /** Iterations (default 6). */
  readonly iterations?: number;
  /** Candidates per state and iteration, policy trajectories included (default 512). */
  readonly numSamples?: number;
  /** Elites (default 64). */
  readonly numElites?: number;
  /** Policy-prior trajectories among the samples (default: the planner's; 0 without a policy). */
  readonly numPiTrajs?: number;
  /**
   * Compile the plan: traced once per kind of call, then replayed (default: true for MPPI,
   * false for CEM). `false` builds and schedules the graph on every call (same results).
   */
  readonly compile?: boolean;
}

/** What a planner built on {@link SamplingPlanner} fixes: its name, action kind and defaults. */
export interface SamplingKind {
  /** Class name, for errors. */
  readonly name: string;
  /** Plans one-hot discrete actions (else continuous). */
  readonly discrete: boolean;
  /** The planner to use for the other kind of actions, for errors. */
  readonly other: string;
  /** Default number of policy-prior trajectories. */
  readonly numPiTrajs: number;
  /** Compile plans unless the options say otherwise. */
  readonly compile: boolean;
}

/**
 * The shared body of CEM, categorical CEM and MPPI: each planner extends it with its
 * {@link Refit} and kind, and names the kept distribution (`previousMean`, `previousProbs`).
 * A new sampling planner is a `Refit` and a subclass of a few lines (see `cem.ts`).
 */
export class SamplingPlanner<D> {
  /** Horizon. */
  readonly horizon: number;
  readonly #im: Imaginer;
  readonly #opts: SamplingOptions;
  readonly #refit: Refit<D>;
  readonly #sizes: SamplingSettings;
  readonly #compile: boolean;
  #prev: Tensor | null = null;
  /** Compiled plans by kind of call (see `plan`). */
  readonly #compiled = new Map<string, CompiledStep<Tensor[], Tensor[]>>();

  /** A planner for `model` that draws and refits with `refit`. */
  constructor(
    model: PlanningModel,
    opts: SamplingOptions,
    kind: SamplingKind,
    refit: Refit<D>,
  ) {
    this.#im = new Imaginer(model, opts);
    if (this.#im.space.discrete !== kind.discrete) {
      throw new TypeError(
        `${kind.name} plans ${
          kind.discrete ? "discrete" : "continuous"
        } actions; use ${kind.other}`,
      );
    }
    this.#opts = opts;
    this.#refit = refit;
    this.#compile = opts.compile ?? kind.compile;
    this.horizon = opts.horizon ?? 3;
    const numSamples = opts.numSamples ?? 512;
    this.#sizes = {
      iterations: opts.iterations ?? 6,
      numSamples,
      numElites: Math.min(opts.numElites ?? 64, numSamples),
      numPiTrajs: this.#im.hasPolicy
        ? Math.min(opts.numPiTrajs ?? kind.numPiTrajs, numSamples - 1)
        : 0,
    };
  }

  /** The resolved sizes. */
  get sizes(): SamplingSettings {
    return this.#sizes;
  }

  /** The kept distribution of the last plan `[H, B, dim]` (the next warm start), or null. */
  get previous(): Tensor | null {
    return this.#prev;
  }

  /** Forgets the warm start (a new episode). */
  reset(): void {
    this.#prev = replaceKept(this.#prev, null);
  }

  /**
   * Plans from encoded states (`[B]`; or observations, encoded first). Returns the plan
   * `[H, B, dim]` as a payload with `extras["wf.planner.horizon"] = H` and the estimated value
   * `[B]` in `extras["wf.planner.value"]`.
   */
  plan(from: State | Tensor, opts: PlanOptions = {}): ActionPayload {
    const H = this.horizon;
    const input = planInput(this.#im.model, from);
    const B = input.batch;
    const prev = this.#prev;
    const warm = !opts.t0 && prev && prev.shape[1] === B && prev.shape[0] === H ? prev : null;
    const evalMode = !!opts.evalMode;
    let out: { actions: Tensor; kept: Tensor; value: Tensor };
    if (this.#compile) {
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
          return [o.actions, o.kept, o.value];
        });
        this.#compiled.set(kind, fn);
      }
      const [actions, kept, value] = fn(...args);
      out = { actions, kept, value };
    } else {
      out = this.#plan(input, warm, evalMode);
      realize(out.actions, out.kept, out.value); // one schedule (submitted, not awaited)
    }
    this.#prev = replaceKept(this.#prev, out.kept);
    return plannedPayload(this.#im.space, out.actions, { "wf.planner.value": out.value });
  }

  /** Frees the buffers of the compiled plans (they are traced again when needed). */
  dispose(): void {
    for (const fn of this.#compiled.values()) fn.dispose();
    this.#compiled.clear();
    this.reset();
  }

  /** The plan's computation: the plan `[H, B, dim]`, the kept distribution, the value `[B]`. */
  #plan(
    input: ReturnType<typeof planInput>,
    warm: Tensor | null,
    evalMode: boolean,
  ): { actions: Tensor; kept: Tensor; value: Tensor } {
    const im = this.#im;
    const refit = this.#refit;
    const { iterations, numSamples: N, numPiTrajs: P, numElites: E } = this.#sizes;
    const { batch: B, device } = input;
    const f: SampleFrame = {
      H: this.horizon,
      B,
      dim: im.space.dim,
      device,
      bounds: this.#opts.actionBounds ?? [-1, 1],
      g: { generator: this.#opts.generator },
    };
    const { H, dim } = f;
    return noGrad(() =>
      tidy(() => {
        const state = input.state();
        // Policy-prior trajectories [H, B, P, dim] (official MPPI: pi rollouts with next()).
        // With deterministic imagined steps their rollout is the same in every iteration: it
        // is imagined once, and each iteration imagines only its new samples.
        const pi = P > 0 && im.deterministicSteps ? im.policyTrajectories(state, P, H) : null;
        const piActs = P > 0
          ? (pi ? pi.actions : im.policyRollout(repeatState(state, P), H)).reshape([H, B, P, dim])
          : null;
        let d = refit.start(f, warm);
        let elites: Elites | null = null;
        for (let it = 0; it < iterations; it++) {
          const sampled = refit.draw(f, d, N - P);
          const actions = piActs ? concat([piActs, sampled], 2) : sampled; // [H, B, N, dim]
          const value = (pi
            ? im.withValue(joinRollouts(
              pi.rollout,
              im.rollout(state, sampled.reshape([H, B * (N - P), dim]), N - P),
              B,
            ))
            : im.returns(state, actions.reshape([H, B * N, dim]), N)).reshape([B, N]);
          elites = selectElites(actions, nanToNum(value, refit.nanScore), E);
          d = refit.refit(f, d, elites);
        }
        const chosen = refit.choose(f, d, elites!, evalMode);
        return { actions: chosen.actions, kept: refit.keep(d), value: chosen.value };
      })
    );
  }
}
