/**
 * The controller protocol of the online loop ({@link Controller}): how a family acts in an
 * environment. A family brings its controller as the `controller` of its `FamilySpec`
 * (`resolveController` in training/ finds it); {@link randomController} acts uniformly at random.
 *
 * A {@link Controller} chooses actions from observations, carrying its own state between steps
 * of an episode (DreamerV3: the RSSM state and previous action; TD-MPC2: whether the episode
 * just began, for MPPI's warm start):
 *
 * ```text
 * interface Controller<S> {
 *   reset?(info: { explore: boolean }): S | undefined;          // at each episode start
 *   act(obs, state: S | undefined, info: ActInfo):               // every step
 *     Action | Tensor | { action: Action | Tensor; state?: S }   // or a Promise of one
 * }
 * ```
 *
 * `info.explore` is true while training (sample, add exploration noise) and false in evaluation
 * (act greedily: the actor's mode, MPPI's mean). Actions are what the environment takes: an
 * index or per-action scores for discrete spaces, a vector for boxes (clipped to the bounds
 * before it is executed and stored; a model trained on [-1, 1] actions wants an environment
 * made with `normalizeActions: true`). A tensor action is read back (one device read per step).
 * Random draws should come from the global generator (which `config.seed` seeds): runs then
 * repeat, and evaluations, which switch the global generator to a stream of their own, leave
 * training untouched.
 * @module
 */

import type { WorldModel } from "./world_model.ts";
import { Rng } from "../rng.ts";
import type { Action, Box, Observation, Space } from "../envs/types.ts";
import { sample as sampleSpace } from "../envs/types.ts";
import { defaultGenerator, type Generator } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { TrainingConfig } from "./training_config.ts";

/** A 53-bit seed from a generator's next key. */
export function nextSeed(g: Generator): number {
  const [a, b] = g.nextKey();
  return (a >>> 0) + (b & 0x1fffff) * 2 ** 32;
}

/** What a controller is told besides the observation. */
export interface ActInfo {
  /** True while training (explore), false in evaluation (act greedily). */
  readonly explore: boolean;
  /** Environment steps done so far in the run (0 during evaluation). */
  readonly envStep: number;
  /** Step within the current episode (0 right after a reset). */
  readonly episodeStep: number;
  /** The environment's action space. */
  readonly actionSpace: Space;
}

/** An action with the controller's next state. */
export interface ActOutput<S> {
  /** The action (host values, or a tensor to read back). */
  readonly action: Action | Tensor;
  /** The state for the next step of the episode. */
  readonly state?: S;
}

/** What `act` returns: an action, or an action with the next state. */
export type ActResult<S> = Action | Tensor | ActOutput<S>;

/** Chooses actions; see the module docs for the protocol. */
export interface Controller<S = unknown> {
  /** Starts an episode; returns the initial controller state. */
  reset?(info: { readonly explore: boolean }): S | undefined;
  /** Chooses the action for `obs`. */
  act(obs: Observation, state: S | undefined, info: ActInfo): ActResult<S> | Promise<ActResult<S>>;
}

/** What a family's controller factory receives. */
export interface ControllerOptions {
  /** The environment's action space. */
  readonly actionSpace: Space;
  /** The environment's observation space. */
  readonly observationSpace: Box;
  /** The run's config. */
  readonly config: TrainingConfig;
}

/**
 * Uniform random actions from `space`. With a `seed` it draws from a stream of its own (the
 * prefill policy); given an {@link Rng}, from that one (whose state the caller can checkpoint:
 * the online loop's prefill); without either, from the global generator, so runs repeat with
 * `config.seed` and evaluations (which switch the global generator to their own stream) leave
 * training untouched.
 *
 * @example
 * ```ts
 * import { randomController } from "@worldflux/worldflux";
 * const c = randomController({ kind: "discrete", n: 3 }, 0);
 * const a = c.act(new Float32Array(4), undefined, {
 *   explore: true,
 *   envStep: 0,
 *   episodeStep: 0,
 *   actionSpace: { kind: "discrete", n: 3 },
 * });
 * console.log(typeof a); // "number"
 * ```
 */
export function randomController(space: Space, seed?: number | Rng): Controller<undefined> {
  if (seed !== undefined) {
    const rng = seed instanceof Rng ? seed : new Rng(seed);
    return { act: () => sampleSpace(space, rng) };
  }
  return { act: () => sampleSpace(space, new Rng(nextSeed(defaultGenerator()))) };
}

/** Builds a family's {@link Controller}: the `controller` of its `FamilySpec`. */
export type ControllerFactory<M extends WorldModel = WorldModel> = (
  model: M,
  options: ControllerOptions,
) => Controller;
