/**
 * What models return: {@link ModelOutput} (from `decode`), {@link Trajectory} (from `rollout`)
 * and {@link LossOutput} (from `loss`). Every tensor is lazy: nothing is read back.
 * @module
 */

import type { Tensor } from "../tensor/tensor.ts";
import type { State } from "./state.ts";

/** Fields of a {@link ModelOutput}. */
export interface ModelOutputInit {
  /** Predictions by key. */
  readonly predictions: Record<string, Tensor>;
  /** The decoded state. */
  readonly state?: State | null;
  /** Model uncertainty, when available. */
  readonly uncertainty?: Tensor | null;
  /** Anything else. */
  readonly aux?: Record<string, unknown>;
}

/**
 * Predictions decoded from a state, by key (`obs`, `reward` `[B, 1]`, `continue` `[B, 1]`
 * probabilities, `q_values`, ...). `preds` is an alias of `predictions`.
 *
 * @example
 * ```ts
 * import { ModelOutput, zeros } from "@worldflux/worldflux";
 * const out = new ModelOutput({ predictions: { reward: zeros([2, 1]) } });
 * console.log(out.preds.reward.shape); // [2, 1]
 * ```
 */
export class ModelOutput {
  /** Predictions by key. */
  readonly predictions: Readonly<Record<string, Tensor>>;
  /** The decoded state, when returned. */
  readonly state: State | null;
  /** Model uncertainty (e.g. ensemble disagreement), when available. */
  readonly uncertainty: Tensor | null;
  /** Anything else. */
  readonly aux: Readonly<Record<string, unknown>>;

  /** Creates an output. */
  constructor(init: ModelOutputInit) {
    this.predictions = Object.freeze({ ...init.predictions });
    this.state = init.state ?? null;
    this.uncertainty = init.uncertainty ?? null;
    this.aux = Object.freeze({ ...(init.aux ?? {}) });
  }

  /** Alias of {@link ModelOutput.predictions} (the v0.2 name). */
  get preds(): Readonly<Record<string, Tensor>> {
    return this.predictions;
  }
}

/** Fields of a {@link Trajectory}. */
export interface TrajectoryInit {
  /** `T + 1` states, the initial one first. */
  readonly states: readonly State[];
  /** `[T, B, ...]` actions. */
  readonly actions: Tensor;
  /** `[T, B]` rewards. */
  readonly rewards?: Tensor | null;
  /** `[T, B]` continue probabilities. */
  readonly continues?: Tensor | null;
}

/**
 * An imagined rollout: `T + 1` states (the initial one first), the `[T, B, ...]` actions, and
 * when the model predicts them, rewards and continue probabilities `[T, B]`.
 */
export class Trajectory {
  /** `T + 1` states. */
  readonly states: readonly State[];
  /** `[T, B, ...]` actions (`[T, B, 0]` when none were given). */
  readonly actions: Tensor;
  /** `[T, B]` rewards, or null. */
  readonly rewards: Tensor | null;
  /** `[T, B]` continue probabilities, or null. */
  readonly continues: Tensor | null;

  /** Creates a trajectory. */
  constructor(init: TrajectoryInit) {
    this.states = Object.freeze([...init.states]);
    this.actions = init.actions;
    this.rewards = init.rewards ?? null;
    this.continues = init.continues ?? null;
  }

  /** Number of steps `T`. */
  get horizon(): number {
    return this.states.length - 1;
  }

  /** The last state. */
  get finalState(): State {
    return this.states[this.states.length - 1];
  }

  /** Releases the states (except the initial one, which the caller owns), rewards and continues. */
  dispose(): void {
    for (const s of this.states.slice(1)) s.dispose();
    this.rewards?.dispose();
    this.continues?.dispose();
  }
}

/**
 * A training loss: the scalar to minimise, its weighted parts, and lazy scalar metrics (read
 * them when logging, not every step).
 */
export interface LossOutput {
  /** Scalar loss. */
  readonly loss: Tensor;
  /** Weighted loss terms by name (they sum to `loss`). */
  readonly components: Readonly<Record<string, Tensor>>;
  /** Scalar diagnostics by name. */
  readonly metrics: Readonly<Record<string, Tensor>>;
}
