/**
 * What planners need from a world model, and the shared machinery: imagined returns of many
 * candidate action sequences in one batch per step, repeated states, warm starts, payloads.
 *
 * Planners work with any {@link WorldModelProtocol} that predicts rewards: a step is
 * `transition(state, action)` then `decode(next)` (`reward`, and `continue` when predicted); the
 * terminal value is the mean of `decode(final).predictions.q_values` when the model predicts Q
 * values; the policy prior is `decode(state).predictions.action`. A model can provide faster,
 * more faithful versions through the optional methods of {@link PlanningHooks} (TD-MPC2 does:
 * one dynamics and reward evaluation per step, a terminal Q of two random heads at a policy
 * sample, sampled policy-prior actions).
 * @module
 */

import { CapabilityError } from "../core/errors.ts";
import type { ActionPayload } from "../core/payloads.ts";
import type { ActionKind } from "../core/spec.ts";
import { State } from "../core/state.ts";
import type { WorldModelProtocol } from "../core/world_model.ts";
import { concat, oneHot, zeros } from "../tensor/creation.ts";
import type { Generator } from "../tensor/random.ts";
import { keep, Tensor } from "../tensor/tensor.ts";

/** Optional planning methods a world model may implement (duck-typed, see the module doc). */
export interface PlanningHooks {
  /** One imagined step of a batch: next state, reward `[N]`, continue flag/probability `[N]` or null. */
  imagineStep?(
    state: State,
    action: ActionPayload,
  ): { state: State; reward: Tensor; continue: Tensor | null };
  /**
   * The first step from each of `B` states under `n` actions each (`action` rows `b * n ..`
   * belong to state `b`): the same as `imagineStep` on the repeated states, cheaper.
   */
  imagineStepShared?(
    state: State,
    n: number,
    action: ActionPayload,
  ): { state: State; reward: Tensor; continue: Tensor | null };
  /** Value `[N]` of the states at the end of the horizon (e.g. a Q of the policy's action). */
  terminalValue?(state: State, opts: { generator?: Generator }): Tensor | null;
  /** A policy-prior action `[N, A]` (one-hot when discrete), sampled unless deterministic. */
  policyAction?(state: State, opts: { generator?: Generator; deterministic?: boolean }): Tensor;
  /** Discount of imagined returns. */
  readonly planningDiscount?: number;
  /**
   * True when `imagineStep` and `imagineStepShared` are deterministic functions of the state and
   * the action (no sampling, no dropout): a sampling planner then rolls the policy prior's
   * trajectories out once per plan and reuses them in every iteration, instead of imagining the
   * same steps again (TD-MPC2's latent dynamics and reward head).
   */
  readonly deterministicImagination?: boolean;
}

/**
 * The imagined part of candidates' returns, before the terminal value: the states reached, the
 * discounted rewards so far `[N]`, the product of the continue predictions `[N]` (null when the
 * model predicts none) and the discount of the terminal value.
 */
export interface Rollout {
  /** States after the last step `[N]`. */
  readonly state: State;
  /** `sum_t discount^t * alive_t * r_t` `[N]`. */
  readonly rewards: Tensor;
  /** Product of the continue predictions `[N]`, or null. */
  readonly alive: Tensor | null;
  /** `discount^H`. */
  readonly discount: number;
}

/**
 * Two rollouts from the same `B` states joined per state: rows `b * n ..` of the result are
 * state `b`'s rows of `first` (`n1` per state) then of `second` (`n2` per state).
 */
export function joinRollouts(first: Rollout, second: Rollout, batch: number): Rollout {
  const join = (a: Tensor, b: Tensor): Tensor => {
    const [n1, ...rest] = a.shape;
    const n2 = b.shape[0];
    return concat([
      a.reshape([batch, n1 / batch, ...rest]),
      b.reshape([batch, n2 / batch, ...rest]),
    ], 1).reshape([n1 + n2, ...rest]);
  };
  const alive = first.alive && second.alive ? join(first.alive, second.alive) : null;
  return {
    state: first.state.map((t, key) => join(t, second.state.get(key))),
    rewards: join(first.rewards, second.rewards),
    alive,
    discount: first.discount,
  };
}

/** A world model as planners see it. */
export type PlanningModel = WorldModelProtocol & PlanningHooks;

/** Options shared by the planners. */
export interface PlannerBaseOptions {
  /** Planning horizon (default 3). */
  readonly horizon?: number;
  /** Discount of imagined returns (default: the model's `planningDiscount`, else 0.99). */
  readonly discount?: number;
  /** Random stream of the samples (default: the global generator). */
  readonly generator?: Generator;
  /** Add the terminal value (default true when the model provides one). */
  readonly useValue?: boolean;
  /** Bounds of continuous actions (default [-1, 1]). */
  readonly actionBounds?: readonly [number, number];
  /** Use modes instead of samples in the model's transitions (generic path; default false). */
  readonly deterministic?: boolean;
}

/** Options of one `plan()` call. */
export interface PlanOptions {
  /** First step of an episode: no warm start from the previous plan. */
  readonly t0?: boolean;
  /** No exploration noise on the returned first action (official `eval_mode`). */
  readonly evalMode?: boolean;
}

/** The action space of a model, as planners use it. */
export interface ActionSpace {
  /** Payload kind of actions. */
  readonly kind: ActionKind;
  /** Continuous: action size; discrete: number of actions. */
  readonly dim: number;
  /** Discrete actions (planned as one-hot vectors). */
  readonly discrete: boolean;
}

/** The action space of `model` (from its contract). */
export function actionSpaceOf(model: WorldModelProtocol): ActionSpace {
  const s = model.ioContract().actionSpec;
  const discrete = s.kind === "discrete";
  return { kind: s.kind, dim: discrete ? (s.numActions ?? s.dim) : s.dim, discrete };
}

/**
 * Each state repeated `n` times, batch-major (`[B, ...]` -> `[B * n, ...]`, example `b` at rows
 * `b * n .. b * n + n - 1`).
 */
export function repeatState(state: State, n: number): State {
  if (n === 1) return state;
  return state.map((t) => {
    const [b, ...rest] = t.shape;
    return t.unsqueeze(1).expand([b, n, ...rest]).reshape([b * n, ...rest]);
  });
}

/** `[H, B, ...]` shifted one step earlier, the last step filled with `fill` (warm start). */
export function shiftSequence(x: Tensor, fill: number): Tensor {
  const H = x.shape[0];
  if (H === 1) return x.mul(0).add(fill);
  return concat([x.narrow(0, 1, H - 1), x.narrow(0, H - 1, 1).mul(0).add(fill)], 0);
}

/**
 * The model calls of planning: one imagined step, the terminal value, the policy prior and the
 * discounted return of many candidate sequences at once, through the model's
 * {@link PlanningHooks} when present and its contract otherwise.
 */
export class Imaginer {
  /** The action space. */
  readonly space: ActionSpace;
  /** Discount of imagined returns. */
  readonly discount: number;
  readonly #model: PlanningModel;
  readonly #generator: Generator | undefined;
  readonly #useValue: boolean;
  readonly #deterministic: boolean;
  /** What the model's contract predicts (read once: the contract is fixed per model). */
  readonly #predicts: { readonly qValues: boolean; readonly action: boolean };

  /** Wraps `model` for planning. */
  constructor(model: PlanningModel, opts: PlannerBaseOptions = {}) {
    if (!model.supportsReward) {
      throw new CapabilityError(
        "reward_pred",
        `planning needs a model that predicts rewards; ${model.modelType} does not`,
      );
    }
    this.#model = model;
    this.space = actionSpaceOf(model);
    this.discount = opts.discount ?? model.planningDiscount ?? 0.99;
    this.#generator = opts.generator;
    this.#useValue = opts.useValue ?? true;
    this.#deterministic = opts.deterministic ?? false;
    const predicted = model.ioContract().predictionSpec.tensors;
    this.#predicts = { qValues: !!predicted.q_values, action: !!predicted.action };
  }

  /** The model. */
  get model(): PlanningModel {
    return this.#model;
  }

  /** A payload of actions `[N, A]` (one-hot `[N, K]` when discrete). */
  payload(actions: Tensor): ActionPayload {
    return { kind: this.space.kind, tensor: actions };
  }

  /** One step of every row: next state, reward `[N]`, continue `[N]` or null. */
  step(state: State, actions: Tensor): { state: State; reward: Tensor; continue: Tensor | null } {
    const m = this.#model;
    const p = this.payload(actions);
    if (m.imagineStep) return m.imagineStep(state, p);
    const next = m.transition(state, p, { deterministic: this.#deterministic });
    const pred = m.decode(next).predictions;
    const n = actions.shape[0];
    return {
      state: next,
      reward: pred.reward.reshape([n]),
      continue: pred.continue ? pred.continue.reshape([n]) : null,
    };
  }

  /** The terminal value `[N]` of states, or null when the model has none (or it is off). */
  value(state: State): Tensor | null {
    if (!this.#useValue) return null;
    const m = this.#model;
    if (m.terminalValue) return m.terminalValue(state, { generator: this.#generator });
    if (!this.#predicts.qValues) return null;
    const q = m.decode(state).predictions.q_values;
    return q ? q.mean(-1) : null;
  }

  /** True when the model has a policy prior. */
  get hasPolicy(): boolean {
    return !!this.#model.policyAction || this.#predicts.action;
  }

  /** Policy-prior actions `[N, A]` at the states (one-hot when discrete). */
  policy(state: State, deterministic = false): Tensor {
    const m = this.#model;
    if (m.policyAction) {
      return m.policyAction(state, { generator: this.#generator, deterministic });
    }
    const a = m.decode(state).predictions.action;
    if (!a) throw new CapabilityError("policy", `${m.modelType} has no policy prior`);
    if (this.space.discrete && a.dtype === "int32") return oneHot(a, this.space.dim);
    return a;
  }

  /**
   * A rollout of the policy prior from each state: actions `[H, N, A]` (official MPPI's policy
   * trajectories: the last action is drawn at the last state, without stepping further).
   */
  policyRollout(state: State, horizon: number, deterministic = false): Tensor {
    const acts: Tensor[] = [];
    let s = state;
    for (let t = 0; t < horizon; t++) {
      const a = this.policy(s, deterministic);
      acts.push(a.unsqueeze(0));
      if (t < horizon - 1) s = this.step(s, a).state;
    }
    return concat(acts, 0);
  }

  /**
   * True when the model's imagined steps are deterministic ({@link PlanningHooks}
   * `deterministicImagination`), so that a rollout can be reused for the same actions.
   */
  get deterministicSteps(): boolean {
    return !!this.#model.imagineStep && this.#model.deterministicImagination === true;
  }

  /**
   * Discounted returns `[N]` of action sequences `[H, N, A]` (official `_estimate_value`):
   * `sum_t discount^t * alive_t * r_t + discount^H * alive_H * V(s_H)`, `alive` the product of
   * the continue predictions so far. The sequences start from `state` (`[N]`), or with
   * `repeat = n` from `state` `[N / n]`, each state starting `n` consecutive sequences.
   */
  returns(state: State, actions: Tensor, repeat = 1): Tensor {
    return this.withValue(this.rollout(state, actions, repeat));
  }

  /** The imagined part of {@link Imaginer.returns}: the steps, without the terminal value. */
  rollout(state: State, actions: Tensor, repeat = 1): Rollout {
    return this.#imagine(
      state,
      actions.shape[0],
      repeat,
      (t) => actions.narrow(0, t, 1).squeeze(0),
    );
  }

  /**
   * `P` policy-prior trajectories from each state `[B]` and their rollout: actions `[H, B * P, A]`
   * (rows `b * P ..` from state `b`), each drawn at the state the previous ones reached, as
   * {@link Imaginer.policyRollout}, and every step imagined (the last one too), as
   * {@link Imaginer.rollout} would for these actions.
   */
  policyTrajectories(
    state: State,
    P: number,
    horizon: number,
  ): { actions: Tensor; rollout: Rollout } {
    const acts: Tensor[] = [];
    const rollout = this.#imagine(state, horizon, P, (t, s) => {
      const a = this.policy(t === 0 ? repeatState(s, P) : s);
      acts.push(a.unsqueeze(0));
      return a;
    });
    return { actions: concat(acts, 0), rollout };
  }

  /** The returns `[N]` of a rollout: its rewards plus the discounted terminal value. */
  withValue(r: Rollout): Tensor {
    const v = this.value(r.state);
    if (!v) return r.rewards;
    const tail = v.mul(r.discount);
    return r.rewards.add(r.alive ? tail.mul(r.alive) : tail);
  }

  /** `H` imagined steps under the actions `actionAt(t, state)` (`repeat`: as `returns`). */
  #imagine(
    state: State,
    H: number,
    repeat: number,
    actionAt: (t: number, s: State) => Tensor,
  ): Rollout {
    const m = this.#model;
    let s = state;
    let G: Tensor | null = null;
    let alive: Tensor | null = null;
    let disc = 1;
    for (let t = 0; t < H; t++) {
      const a = actionAt(t, s);
      const out = t === 0 && repeat > 1
        ? (m.imagineStepShared
          ? m.imagineStepShared(s, repeat, this.payload(a))
          : this.step(repeatState(s, repeat), a))
        : this.step(s, a);
      let r = out.reward.mul(disc);
      if (alive) r = r.mul(alive);
      G = G ? G.add(r) : r;
      if (out.continue) alive = alive ? alive.mul(out.continue) : out.continue;
      disc *= this.discount;
      s = out.state;
    }
    return { state: s, rewards: G!, alive, discount: disc };
  }
}

/** A planner's output: the planned `[H, B, A]` sequence as an {@link ActionPayload}. */
export function plannedPayload(
  space: ActionSpace,
  actions: Tensor,
  extras: Record<string, unknown> = {},
): ActionPayload {
  return {
    kind: space.kind,
    tensor: actions,
    extras: { "wf.planner.horizon": actions.shape[0], ...extras },
  };
}

/**
 * What a planner plans from: the batch size and device of encoded states `[B]` or observations
 * `[B, ...]`, and a function giving the state (observations are encoded when it is called, so
 * that a planner can call it inside its memory scope).
 */
export function planInput(
  model: WorldModelProtocol,
  from: State | Tensor,
): { batch: number; device: "cpu" | "webgpu"; state: () => State } {
  if (from instanceof State) {
    return { batch: from.batchSize, device: from.device ?? "cpu", state: () => from };
  }
  return {
    batch: from.shape[0],
    device: from.device,
    state: () => model.encode(from, { deterministic: true }),
  };
}

/** Zeros `[H, B, A]` (a fresh mean). */
export function zeroSequence(h: number, b: number, a: number, device: "cpu" | "webgpu"): Tensor {
  return zeros([h, b, a], { device });
}

/** Replaces a kept tensor (disposing the previous one). */
export function replaceKept(prev: Tensor | null, next: Tensor | null): Tensor | null {
  if (prev && prev !== next && !prev.isDisposed) prev.dispose();
  return next ? keep(next) : null;
}

export { State, Tensor };
