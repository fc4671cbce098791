/**
 * {@link dreamerV3Controller}: how DreamerV3 acts in an environment (official
 * `dreamerv3/agent.py` `policy`): the RSSM filters the observations (one posterior step per
 * environment step, fed the previous action), and the actor picks the next action from the
 * features `concat(h, z)`.
 *
 * The controller state carries the posterior `deter [1, D]`, `stoch [1, S * K]` and the previous
 * action `[1, A]` across the steps of an episode. `reset()` starts an episode (`is_first`): the
 * first step then runs from the zero state with a zero action, as the world-model loss does at
 * `isFirst` (`RSSM.observe`). While exploring, the actor and the posterior are sampled; in
 * evaluation the actor's mode is taken (and the posterior's mode). Per step the only device read
 * is the action the loop reads back; the new state is realized in the same schedule, so its
 * graph never grows across steps.
 * @module
 */

import type { ActInfo, ActOutput, Controller } from "../../core/controller.ts";
import type { Observation } from "../../envs/types.ts";
import { tensor, zeros } from "../../tensor/creation.ts";
import { tidy } from "../../tensor/memory.ts";
import type { Generator } from "../../tensor/random.ts";
import { keep, noGrad, realize, type Tensor } from "../../tensor/tensor.ts";
import type { DreamerV3WorldModel } from "./world_model.ts";

/**
 * The state of a {@link dreamerV3Controller} within an episode: the posterior after the last
 * observation and the action taken there. A state is consumed by the `act` it is passed to (its
 * tensors are released once the next state exists): pass each state once, as the online loop
 * does.
 */
export interface DreamerV3ControllerState {
  /** Deterministic state `[1, D]`. */
  readonly deter: Tensor;
  /** Flat one-hot stochastic state `[1, S * K]`. */
  readonly stoch: Tensor;
  /** The action taken after that observation `[1, A]` (one-hot when discrete). */
  readonly action: Tensor;
}

/** Options of {@link dreamerV3Controller}. */
export interface DreamerV3ControllerOptions {
  /** Random stream of the actor and latent samples (default: the model's, else the global). */
  readonly generator?: Generator;
  /** Take the posterior's mode in evaluation (default true; false samples it as in training). */
  readonly evalLatentMode?: boolean;
}

function release(s: DreamerV3ControllerState | null | undefined): void {
  if (!s) return;
  for (const t of [s.deter, s.stoch, s.action]) if (!t.isDisposed) t.dispose();
}

/**
 * DreamerV3's actor as a {@link Controller} (see the module docs). The model needs an
 * actor-critic (`actorCritic: true`, the default) and a single observation key (`obsShape`).
 * Discrete actions come out as a one-hot vector (the loop takes its argmax), continuous ones in
 * [-1, 1] (make the environment with `normalizeActions: true`).
 *
 * @example
 * ```ts
 * import { createWorldModel, dreamerV3Controller } from "@worldflux/worldflux";
 * import type { DreamerV3WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("dreamer:ci", {
 *   obsShape: [4],
 *   actionDim: 2,
 *   actionType: "discrete",
 * }) as DreamerV3WorldModel;
 * const space = { kind: "discrete", n: 2 } as const;
 * const c = dreamerV3Controller(model);
 * const info = { explore: true, envStep: 0, episodeStep: 0, actionSpace: space };
 * const r = await c.act(new Float32Array(4), c.reset!({ explore: true }), info);
 * console.log("action" in (r as object)); // true
 * ```
 */
export function dreamerV3Controller(
  model: DreamerV3WorldModel,
  options: DreamerV3ControllerOptions = {},
): Controller<DreamerV3ControllerState | null> {
  const ac = model.actorCritic;
  if (!ac) {
    throw new TypeError("dreamerV3Controller: the model has no actor (config actorCritic: false)");
  }
  const c = model.config;
  if (c.observations) {
    throw new TypeError(
      "dreamerV3Controller: dict observations are not supported; use a single obsShape",
    );
  }
  const obsShape = [...c.obsShape];
  const A = c.actionDim;
  const evalLatentMode = options.evalLatentMode ?? true;
  // The last state handed out per mode: released when the next episode of that mode begins
  // (the final state of an episode is never passed back).
  const last = new Map<boolean, DreamerV3ControllerState>();

  return {
    reset: ({ explore }) => {
      release(last.get(explore));
      last.delete(explore);
      return null; // is_first: the zero state and a zero action
    },
    act: (
      obs: Observation,
      state: DreamerV3ControllerState | null | undefined,
      info: ActInfo,
    ): ActOutput<DreamerV3ControllerState> => {
      if (state && state.deter.isDisposed) {
        throw new Error("dreamerV3Controller: this state was already used by act()");
      }
      const explore = info.explore;
      const gen = options.generator ?? model.sampleGenerator;
      const next = noGrad(() =>
        tidy(() => {
          const device = model.device;
          // As the replay buffer samples them: pixels (uint8) scaled to [0, 1].
          const x = obs instanceof Uint8Array
            ? Float32Array.from(obs, (v) => v / 255)
            : Float32Array.from(obs);
          const o = tensor(x, [1, ...obsShape], { device });
          const embed = model.encoder.forward({ [model.layout.keys[0].key]: o });
          const prev = state ?? {
            ...model.rssm.initial(1),
            action: zeros([1, A], { device }),
          };
          const s = model.rssm.obsStep(prev, prev.action, embed, {
            deterministic: !explore && evalLatentMode,
            generator: gen,
          });
          const dist = ac.actor.dist(model.features(s));
          const action = explore ? dist.sample(gen) : dist.mode();
          return { deter: s.deter, stoch: s.stoch, action };
        })
      );
      realize(next.deter, next.stoch, next.action); // one schedule; read back by the loop
      for (const t of [next.deter, next.stoch, next.action]) keep(t);
      if (state) {
        release(state);
        if (last.get(explore) === state) last.delete(explore);
      }
      last.set(explore, next);
      return { action: next.action.reshape([A]), state: next };
    },
  };
}
