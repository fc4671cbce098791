/**
 * Acting with a {@link Controller}: what it answers turned into what the environment takes
 * ({@link actWith}), and evaluation episodes ({@link evaluateController}). The online loop, its
 * evaluations and `worldflux verify` all act through here, so an action is checked the same way
 * everywhere: a discrete action is an index in range or one score per action (argmax), a box
 * action has one finite value per dimension and is clipped to the bounds. Anything else, a NaN
 * from a diverged model included, is a {@link ContractError} naming the value, never a silent 0.
 * @module
 */

import type { Action, Env, Observation, Space } from "../envs/types.ts";
import { discreteIndex } from "../envs/types.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { ActInfo, ActOutput, ActResult, Controller } from "./controller.ts";
import { ContractError } from "./errors.ts";

/** An action as the environment takes it: a discrete index, or a box vector. */
export type EnvAction = number | Float32Array;

function isActOutput<S>(r: ActResult<S>): r is ActOutput<S> {
  return typeof r === "object" && r !== null && !(r instanceof Tensor) &&
    !ArrayBuffer.isView(r) && !Array.isArray(r) && "action" in r;
}

/**
 * The action as executed: a discrete index, or a box vector clipped to the bounds (a tensor is
 * read back and disposed). Throws a {@link ContractError} for an index out of range, the wrong
 * number of values or a value that is not finite.
 *
 * @example
 * ```ts
 * import { toEnvAction } from "@worldflux/worldflux";
 * const box = { kind: "box", low: new Float32Array([-1]), high: new Float32Array([1]),
 *   shape: [1], dtype: "float32" } as const;
 * console.log(await toEnvAction([3], box)); // Float32Array [ 1 ]
 * console.log(await toEnvAction([0.2, 0.7], { kind: "discrete", n: 2 })); // 1
 * ```
 */
export async function toEnvAction(a: Action | Tensor, space: Space): Promise<EnvAction> {
  let v: Action;
  if (a instanceof Tensor) {
    const d = await a.data();
    a.dispose();
    v = Array.from(d as ArrayLike<number>, Number);
  } else v = a;
  if (space.kind === "discrete") {
    const n = space.n;
    const index = typeof v === "number" ? v : v.length === 1 ? v[0] : null;
    if (index !== null && !(Number.isInteger(index) && index >= 0 && index < n)) {
      throw new ContractError(
        "controller.act",
        "action_value",
        "action",
        `an action index in [0, ${n})`,
        `index ${index}`,
      );
    }
    if (typeof v !== "number" && index === null && v.length !== n) {
      throw new ContractError(
        "controller.act",
        "action_shape",
        "action",
        `an index or ${n} scores`,
        `${v.length} values`,
      );
    }
    return discreteIndex(v, n);
  }
  const n = space.low.length;
  const out = new Float32Array(n);
  const bad = (field: string, got: string) =>
    new ContractError("controller.act", "action_shape", field, `${n} finite values`, got);
  if (typeof v === "number") {
    if (n !== 1) throw bad("action", "a number");
    out[0] = v;
  } else {
    if (v.length !== n) throw bad("action", `${v.length} values`);
    for (let i = 0; i < n; i++) out[i] = v[i];
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(out[i])) throw bad(`action[${i}]`, String(out[i]));
    out[i] = Math.min(space.high[i], Math.max(space.low[i], out[i]));
  }
  return out;
}

/**
 * One step of `controller`: its action for `obs` as the environment takes it
 * ({@link toEnvAction}), with its state for the next step (unchanged when it returned a bare
 * action).
 */
export async function actWith<S>(
  controller: Controller<S>,
  obs: Observation,
  state: S | undefined,
  info: ActInfo,
): Promise<{ action: EnvAction; state: S | undefined }> {
  const r = await controller.act(obs, state, info);
  if (isActOutput(r)) {
    return { action: await toEnvAction(r.action, info.actionSpace), state: r.state };
  }
  return { action: await toEnvAction(r, info.actionSpace), state };
}

/**
 * One greedy action of `controller` for `obs` (evaluation mode: `explore: false`), as the
 * environment takes it, with the controller's next state.
 */
export function actGreedy<S>(
  controller: Controller<S>,
  obs: Observation,
  state: S | undefined,
  space: Space,
  episodeStep: number,
): Promise<{ action: EnvAction; state: S | undefined }> {
  return actWith(controller, obs, state, {
    explore: false,
    envStep: 0,
    episodeStep,
    actionSpace: space,
  });
}

/** Where {@link evaluateController} can record the evaluation steps (a `ReplayBuffer`). */
export interface StepRecorder {
  /** Adds one transition. */
  addStep(
    obs: Observation,
    action: EnvAction,
    reward: number,
    terminated: boolean,
    truncated: boolean,
  ): void;
}

/** Options of {@link evaluateController}. */
export interface EvaluateOptions {
  /** Episodes to run. */
  readonly episodes: number;
  /** Episode `i` resets the environment with seed `seed + i`. */
  readonly seed: number;
  /**
   * Longest episode, cut there as truncated even when the environment's own time limit is longer
   * (default: the environment's time limit, or 1000 steps when it has none).
   */
  readonly maxSteps?: number;
  /** The run's step, passed to the controller as `envStep` (default 0). */
  readonly envStep?: number;
  /** Records every step (the last one of an episode cut at `maxSteps` as truncated). */
  readonly record?: StepRecorder;
}

/**
 * Runs `episodes` greedy episodes of `controller` (`explore: false`, a `reset` per episode) and
 * returns each episode's return and length.
 *
 * @example
 * ```ts
 * import { evaluateController, makeEnvSync, randomController } from "@worldflux/worldflux";
 * const env = makeEnvSync("CartPole-v1");
 * const { returns } = await evaluateController(env, randomController(env.actionSpace, 0), {
 *   episodes: 2,
 *   seed: 0,
 * });
 * console.log(returns.length); // 2
 * ```
 */
export async function evaluateController<S>(
  env: Env,
  controller: Controller<S>,
  o: EvaluateOptions,
): Promise<{ returns: number[]; lengths: number[] }> {
  const returns: number[] = [];
  const lengths: number[] = [];
  const limit = o.maxSteps ?? (Number.isFinite(env.maxEpisodeSteps) ? Infinity : 1000);
  const space = env.actionSpace;
  for (let i = 0; i < o.episodes; i++) {
    let obs: Observation = env.reset({ seed: o.seed + i }).obs;
    let cs = controller.reset?.({ explore: false });
    let ret = 0;
    let len = 0;
    for (;;) {
      const a = await actWith(controller, obs, cs, {
        explore: false,
        envStep: o.envStep ?? 0,
        episodeStep: len,
        actionSpace: space,
      });
      cs = a.state;
      const s = env.step(a.action);
      len++;
      const cut = s.truncated || len >= limit;
      o.record?.addStep(obs, a.action, s.reward, s.terminated, cut);
      ret += s.reward;
      obs = s.obs;
      if (s.terminated || cut) break;
    }
    returns.push(ret);
    lengths.push(len);
  }
  return { returns, lengths };
}
