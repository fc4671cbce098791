/**
 * Environment registry: `makeEnv(id, options)` builds a registered environment with its time
 * limit and the requested wrappers.
 *
 * | id                         | observation        | action              | limit | source                   |
 * | -------------------------- | ------------------ | ------------------- | ----- | ------------------------ |
 * | `CartPole-v1`              | Box f32 [4]        | Discrete 2          | 500   | Barto et al. 1983        |
 * | `Pendulum-v1`              | Box f32 [3]        | Box [-2, 2] [1]     | 200   | classic swing-up         |
 * | `MountainCarContinuous-v0` | Box f32 [2]        | Box [-1, 1] [1]     | 999   | Moore 1990               |
 * | `Acrobot-v1`               | Box f32 [6]        | Discrete 3          | 500   | Sutton 1996, RK4         |
 * | `CartPoleSwingup-mujoco`   | Box f32 [5]        | Box [-1, 1] [1]     | 1000  | dm_control, MuJoCo wasm  |
 * | `HalfCheetah-v5`           | Box f32 [17]       | Box [-1, 1] [6]     | 1000  | Gymnasium v5, MuJoCo wasm |
 * | `Hopper-v5`                | Box f32 [11]       | Box [-1, 1] [3]     | 1000  | Gymnasium v5, MuJoCo wasm |
 * | `MinAtar/Breakout-v1`      | Box f32 [4, 10, 10] | Discrete 3         | none  | Young & Tian 2019        |
 *
 * With `pixels: true` observations are `Box` uint8 `[3, size, size]` (CHW). The MuJoCo
 * locomotion tasks take Gymnasium's keyword arguments as `kwargs`:
 *
 * ```ts
 * import { makeEnv } from "./registry.ts";
 * const env = await makeEnv("HalfCheetah-v5", { kwargs: { reset_noise_scale: 0 } });
 * ```
 *
 * Ids that start with `gym:` name a Gymnasium environment (`gym:ALE/Breakout-v5`,
 * `gym:HalfCheetah-v5`, `gym:my_module:MyEnv-v0`), served by a Python process through the bridge
 * of `gym/env.ts`; `kwargs` go to `gymnasium.make`, and `options.gym` holds what only they take
 * (interpreter, Atari pre-processing, ...). {@link makeVectorEnv} builds `numEnvs` copies of any id.
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { BaseEnvOptions } from "./base.ts";
import { AcrobotEnv } from "./classic/acrobot.ts";
import { CartPoleEnv } from "./classic/cartpole.ts";
import { MountainCarContinuousEnv } from "./classic/mountain_car.ts";
import { PendulumEnv } from "./classic/pendulum.ts";
import { MinAtarBreakoutEnv } from "./minatar/breakout.ts";
import { CartPoleSwingupMujocoEnv } from "./mujoco/cartpole_swingup.ts";
import { HalfCheetahEnv, halfCheetahOptionsFromKwargs } from "./mujoco/half_cheetah.ts";
import { HOPPER_KWARGS, HopperEnv, hopperOptionsFromKwargs } from "./mujoco/hopper.ts";
import { LOCOMOTION_KWARGS } from "./mujoco/locomotion.ts";
import { loadedMujoco } from "./mujoco/loader.ts";
import { prepareHostScript } from "./gym/bridge.ts";
import { GymEnv, type GymEnvOptions, GymVectorEnv } from "./gym/env.ts";
import type { Env, VectorEnv } from "./types.ts";
import { SyncVectorEnv } from "./vector.ts";
import {
  ActionRepeat,
  DiscreteToContinuous,
  NormalizeAction,
  PixelObservation,
  TimeLimit,
} from "./wrappers.ts";

/** Options of {@link makeEnv}. */
export interface MakeEnvOptions {
  /** Observations are the rendered RGB picture, uint8 CHW `[3, size, size]` (default false). */
  readonly pixels?: boolean;
  /** Picture size for `render()` and pixel observations (default 64). */
  readonly size?: number;
  /** Action repeat: each `step` runs the base env this many times, summing rewards (default 1). */
  readonly frameSkip?: number;
  /**
   * Time limit in **base** env steps (default: the registry's). With `frameSkip` k the wrapped
   * env's `maxEpisodeSteps` is `ceil(maxEpisodeSteps / k)`. `Infinity` disables the limit.
   */
  readonly maxEpisodeSteps?: number;
  /** Map a bounded continuous action space to [-1, 1] ({@link NormalizeAction}; default false). */
  readonly normalizeActions?: boolean;
  /** Expose a discrete action space as Box(-1, 1, [n]) with argmax ({@link DiscreteToContinuous}). */
  readonly continuousActions?: boolean;
  /** Renderer supersampling per axis (default 3). */
  readonly renderSupersample?: number;
  /**
   * The environment's own arguments, named as Gymnasium's keyword arguments of the same id
   * (`{ reset_noise_scale: 0 }` for `HalfCheetah-v5`; ranges as `[lo, hi]`). Environments
   * without arguments, and unknown names, throw a `ConfigError`. For `gym:` ids they are the
   * keyword arguments of `gymnasium.make` (JSON values), checked by Gymnasium.
   */
  readonly kwargs?: EnvKwargs;
  /**
   * `gym:` ids only: the options of the Gymnasium bridge (`python`, `grayscale`,
   * `terminalOnLifeLoss`, timeouts, ...). `pixels`, `size`, `frameSkip`, `maxEpisodeSteps` and
   * `kwargs` above apply to them too (action repeat and resizing run in Python; the time limit is
   * Gymnasium's). Passing it with a built-in id is an error.
   */
  readonly gym?: GymMakeOptions;
}

/** The bridge's options that {@link MakeEnvOptions} does not already name. */
export type GymMakeOptions = Omit<
  GymEnvOptions,
  "kwargs" | "pixels" | "size" | "frameSkip" | "maxEpisodeSteps"
>;

/** Options of {@link makeVectorEnv}. */
export interface MakeVectorEnvOptions extends MakeEnvOptions {
  /** Number of environments (default 1). */
  readonly numEnvs?: number;
}

/** Prefix of Gymnasium ids. */
export const GYM_PREFIX = "gym:";

/** Whether `id` names a Gymnasium environment (`gym:...`). */
export function isGymId(id: string): boolean {
  return id.startsWith(GYM_PREFIX);
}

function gymOptions(options: MakeEnvOptions): GymEnvOptions {
  return {
    ...options.gym,
    kwargs: options.kwargs,
    pixels: options.pixels,
    size: options.size,
    frameSkip: options.frameSkip,
    maxEpisodeSteps: options.maxEpisodeSteps,
  };
}

function gymId(id: string): string {
  const rest = id.slice(GYM_PREFIX.length);
  if (!rest) throw new RangeError(`"${id}": name a Gymnasium environment after "gym:"`);
  return rest;
}

/** The TypeScript-side wrappers a Gymnasium environment takes (the rest runs in Python). */
function wrapGym(env: Env, options: MakeEnvOptions): Env {
  let out = env;
  if (options.normalizeActions && out.actionSpace.kind === "box") out = new NormalizeAction(out);
  if (options.continuousActions && out.actionSpace.kind === "discrete") {
    out = new DiscreteToContinuous(out);
  }
  return out;
}

/** Gymnasium-style keyword arguments of an environment (see {@link MakeEnvOptions.kwargs}). */
export type EnvKwargs = Readonly<Record<string, unknown>>;

/** A registered environment. */
export interface EnvSpec {
  /** Registry id. */
  readonly id: string;
  /** Default time limit in base steps. */
  readonly maxEpisodeSteps: number;
  /** Return at which the task counts as solved (Gymnasium's `reward_threshold`), if any. */
  readonly rewardThreshold?: number;
  /** Whether the constructor needs an asynchronously loaded module (MuJoCo). */
  readonly async: boolean;
  /** Builds the base (unwrapped) environment; may return a promise when `async`. */
  readonly create: (options: BaseEnvOptions, kwargs: EnvKwargs) => Env | Promise<Env>;
  /** Synchronous constructor, available once any asynchronous module has loaded. */
  readonly createSync?: (options: BaseEnvOptions, kwargs: EnvKwargs) => Env | null;
  /** Names of the keyword arguments `create` accepts (none when absent). */
  readonly kwargs?: readonly string[];
  /** One-line description. */
  readonly description: string;
}

const registry = new Map<string, EnvSpec>();

/** Registers (or replaces) an environment. */
export function registerEnv(spec: EnvSpec): void {
  registry.set(spec.id, spec);
}

/** Ids of the registered environments. */
export function listEnvs(): string[] {
  return [...registry.keys()];
}

/** The spec registered under `id` (throws with the list of known ids when unknown). */
export function envSpec(id: string): EnvSpec {
  const spec = registry.get(id);
  if (!spec) throw new Error(`unknown environment "${id}"; registered: ${listEnvs().join(", ")}`);
  return spec;
}

registerEnv({
  id: "CartPole-v1",
  maxEpisodeSteps: 500,
  rewardThreshold: 475,
  async: false,
  create: (o) => new CartPoleEnv(o),
  description: "Cart-pole balancing (Barto et al. 1983), 2 discrete actions, +1 per step",
});
registerEnv({
  id: "Pendulum-v1",
  maxEpisodeSteps: 200,
  async: false,
  create: (o) => new PendulumEnv(o),
  description: "Inverted pendulum swing-up, torque in [-2, 2]",
});
registerEnv({
  id: "MountainCarContinuous-v0",
  maxEpisodeSteps: 999,
  rewardThreshold: 90,
  async: false,
  create: (o) => new MountainCarContinuousEnv(o),
  description: "Mountain car (Moore 1990), continuous force in [-1, 1], +100 at the goal",
});
registerEnv({
  id: "Acrobot-v1",
  maxEpisodeSteps: 500,
  rewardThreshold: -100,
  async: false,
  create: (o) => new AcrobotEnv(o),
  description: "Acrobot swing-up (Sutton 1996), 3 discrete torques, -1 per step",
});
registerEnv({
  id: "CartPoleSwingup-mujoco",
  maxEpisodeSteps: 1000,
  async: true,
  create: (o) => CartPoleSwingupMujocoEnv.create(o),
  createSync: (o) => {
    const mj = loadedMujoco();
    return mj ? new CartPoleSwingupMujocoEnv(mj, o) : null;
  },
  description: "dm_control cartpole-swingup on MuJoCo (wasm), force in [-1, 1], reward in [0, 1]",
});
registerEnv({
  id: "HalfCheetah-v5",
  maxEpisodeSteps: 1000,
  rewardThreshold: 4800,
  async: true,
  kwargs: Object.keys(LOCOMOTION_KWARGS),
  create: (o, k) => HalfCheetahEnv.create({ ...o, ...halfCheetahOptionsFromKwargs(k) }),
  createSync: (o, k) => {
    const mj = loadedMujoco();
    return mj ? new HalfCheetahEnv(mj, { ...o, ...halfCheetahOptionsFromKwargs(k) }) : null;
  },
  description: "Gymnasium's HalfCheetah-v5 on MuJoCo (wasm): run forward, 6 torques in [-1, 1]",
});
registerEnv({
  id: "Hopper-v5",
  maxEpisodeSteps: 1000,
  rewardThreshold: 3800,
  async: true,
  kwargs: Object.keys(HOPPER_KWARGS),
  create: (o, k) => HopperEnv.create({ ...o, ...hopperOptionsFromKwargs(k) }),
  createSync: (o, k) => {
    const mj = loadedMujoco();
    return mj ? new HopperEnv(mj, { ...o, ...hopperOptionsFromKwargs(k) }) : null;
  },
  description: "Gymnasium's Hopper-v5 on MuJoCo (wasm): hop forward without falling, 3 torques",
});

registerEnv({
  id: "MinAtar/Breakout-v1",
  // MinAtar registers its games without a time limit.
  maxEpisodeSteps: Infinity,
  async: false,
  create: (o) => new MinAtarBreakoutEnv(o),
  description: "MinAtar Breakout (Young & Tian 2019), 10x10x4 grid, 3 actions, sticky 0.1",
});

function wrap(base: Env, spec: EnvSpec, options: MakeEnvOptions): Env {
  let env: Env = base;
  const limit = options.maxEpisodeSteps ?? spec.maxEpisodeSteps;
  if (limit !== Infinity) env = new TimeLimit(env, limit);
  const skip = options.frameSkip ?? 1;
  if (skip !== 1) env = new ActionRepeat(env, skip);
  if (options.normalizeActions && env.actionSpace.kind === "box") env = new NormalizeAction(env);
  if (options.continuousActions && env.actionSpace.kind === "discrete") {
    env = new DiscreteToContinuous(env);
  }
  if (options.pixels) env = new PixelObservation(env);
  return env;
}

function baseOptions(options: MakeEnvOptions): BaseEnvOptions {
  return { renderSize: options.size ?? 64, renderSupersample: options.renderSupersample };
}

/** The spec's kwargs from `options`, after checking that the spec takes any. */
function kwargsFor(spec: EnvSpec, options: MakeEnvOptions): EnvKwargs {
  const kwargs = options.kwargs ?? {};
  const names = Object.keys(kwargs);
  if (names.length > 0 && !spec.kwargs?.length) {
    throw new ConfigError(
      `${spec.id} takes no keyword arguments, got ${names.join(", ")}`,
    );
  }
  return kwargs;
}

/**
 * Builds a registered environment with its time limit and the requested wrappers. Works for
 * every id (MuJoCo tasks load the wasm module on first use; `gym:` ids start a Python process,
 * which `close()` ends).
 */
export async function makeEnv(id: string, options: MakeEnvOptions = {}): Promise<Env> {
  if (isGymId(id)) {
    await prepareHostScript();
    return makeEnvSync(id, options);
  }
  const spec = envSpec(id);
  const base = await spec.create(baseOptions(options), kwargsFor(spec, options));
  return wrap(base, spec, options);
}

/**
 * Synchronous {@link makeEnv} for environments that need no asynchronous loading (all classic
 * control tasks; MuJoCo tasks once `loadMujoco()` has completed). Throws otherwise.
 */
export function makeEnvSync(id: string, options: MakeEnvOptions = {}): Env {
  if (isGymId(id)) return wrapGym(GymEnv.create(gymId(id), gymOptions(options)), options);
  if (options.gym) {
    throw new RangeError(`makeEnv("${id}"): the gym options apply to "gym:" ids only`);
  }
  const spec = envSpec(id);
  let base: Env | null;
  if (spec.async) {
    base = spec.createSync?.(baseOptions(options), kwargsFor(spec, options)) ?? null;
    if (!base) throw new Error(`${id} needs asynchronous loading: use await makeEnv("${id}")`);
  } else {
    base = spec.create(baseOptions(options), kwargsFor(spec, options)) as Env;
  }
  return wrap(base, spec, options);
}

/**
 * `numEnvs` copies of an environment behind the {@link VectorEnv} interface (same-step
 * autoreset): for a `gym:` id one Python process hosts them all and steps them in one round trip
 * ({@link GymVectorEnv}); built-in ids are stepped in turn ({@link SyncVectorEnv}).
 * `normalizeActions` / `continuousActions` are not offered here (vector actions are raw).
 *
 * @example
 * ```ts
 * import { makeVectorEnv } from "./src/envs/registry.ts";
 * const venv = await makeVectorEnv("CartPole-v1", { numEnvs: 4 });
 * venv.reset({ seed: 0 });
 * const r = venv.step(new Int32Array([0, 1, 0, 1]));
 * console.log(r.rewards.length); // 4
 * venv.close();
 * ```
 */
export async function makeVectorEnv(
  id: string,
  options: MakeVectorEnvOptions = {},
): Promise<VectorEnv> {
  const n = options.numEnvs ?? 1;
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`makeVectorEnv: numEnvs must be an integer >= 1, got ${n}`);
  }
  if (options.normalizeActions || options.continuousActions) {
    throw new RangeError(
      "makeVectorEnv: normalizeActions / continuousActions wrap single environments only",
    );
  }
  if (isGymId(id)) {
    await prepareHostScript();
    return GymVectorEnv.create(gymId(id), n, gymOptions(options));
  }
  const envs: Env[] = [];
  try {
    for (let i = 0; i < n; i++) envs.push(await makeEnv(id, options));
  } catch (e) {
    for (const env of envs) env.close();
    throw e;
  }
  return new SyncVectorEnv(envs);
}
