/**
 * Environments for model-based RL, independent of the tensor layer: a Gym-like interface,
 * classic-control tasks (CartPole-v1, Pendulum-v1, MountainCarContinuous-v0, Acrobot-v1) written
 * from the published equations with Gymnasium's constants, MinAtar Breakout (a 10x10 grid game
 * from its published rules), a MuJoCo (wasm) cart-pole swing-up, Gymnasium's MuJoCo locomotion
 * tasks (HalfCheetah-v5, Hopper-v5),
 * a 64x64 software renderer for pixel observations, wrappers, and data-collection helpers. Any
 * Gymnasium environment runs behind the same interface through the Python bridge (`gym:` ids,
 * `gym/env.ts`), one or `numEnvs` at a time (`makeVectorEnv`, `rolloutVector`).
 *
 * ```ts
 * import { makeEnv, RandomPolicy, rollout } from "./src/envs/mod.ts";
 * const env = await makeEnv("CartPole-v1", { pixels: true });
 * const data = rollout(env, new RandomPolicy(env.actionSpace, 0), 1000, 0);
 * // data.obs: Uint8Array [1000, 3, 64, 64]; data.actions: Float32Array [1000, 2] (one-hot)
 * ```
 * @module
 */

export * from "./types.ts";
export { Rng, type RngState } from "../rng.ts";
export { BaseEnv, type BaseEnvOptions, readState, type Transition } from "./base.ts";
export {
  Canvas,
  chwToHwc,
  encodeRgbPng,
  hwcToChw,
  type Point,
  type Rgb,
  tileFrames,
  View,
} from "./render.ts";
export { CARTPOLE, CartPoleEnv, drawCartPole } from "./classic/cartpole.ts";
export { angleNormalize, drawPendulum, PENDULUM, PendulumEnv } from "./classic/pendulum.ts";
export {
  drawMountainCar,
  MOUNTAIN_CAR,
  MountainCarContinuousEnv,
  mountainHeight,
} from "./classic/mountain_car.ts";
export {
  ACROBOT,
  acrobotDerivs,
  AcrobotEnv,
  acrobotRk4,
  drawAcrobot,
  wrap,
} from "./classic/acrobot.ts";
export {
  BALL_MOVES,
  BREAKOUT_STATE_SIZE,
  drawBreakoutGrid,
  MINATAR_BREAKOUT,
  MINATAR_COLORS,
  MinAtarBreakoutEnv,
  type MinAtarBreakoutOptions,
} from "./minatar/breakout.ts";
export {
  CARTPOLE_MJCF,
  CartPoleSwingupMujocoEnv,
  drawCartPoleSwingup,
  swingupReward,
  tolerance,
} from "./mujoco/cartpole_swingup.ts";
export {
  HALF_CHEETAH_MJCF,
  HALF_CHEETAH_MODEL,
  HalfCheetahEnv,
  type HalfCheetahOptions,
  halfCheetahOptionsFromKwargs,
} from "./mujoco/half_cheetah.ts";
export {
  HOPPER_KWARGS,
  HOPPER_MODEL,
  HopperEnv,
  hopperMjcf,
  type HopperOptions,
  hopperOptionsFromKwargs,
} from "./mujoco/hopper.ts";
export {
  type KwargSpec,
  LOCOMOTION_KWARGS,
  LocomotionEnv,
  type LocomotionOptions,
  type LocomotionStep,
} from "./mujoco/locomotion.ts";
export {
  type MjcfAttributes,
  type PlanarCapsule,
  type PlanarHinge,
  planarHinges,
  type PlanarLimb,
  planarMjcf,
  type PlanarModel,
  type PlanarPoint,
} from "./mujoco/planar_model.ts";
export {
  contactMarginRule,
  loadedMujoco,
  loadMujoco,
  type MjData,
  type MjModel,
  modelFromXml,
  type MujocoModule,
} from "./mujoco/loader.ts";
export {
  ActionRepeat,
  DiscreteToContinuous,
  NormalizeAction,
  obsSize,
  PixelObservation,
  TimeLimit,
  Wrapper,
} from "./wrappers.ts";
export {
  type EnvKwargs,
  type EnvSpec,
  envSpec,
  GYM_PREFIX,
  type GymMakeOptions,
  isGymId,
  listEnvs,
  makeEnv,
  type MakeEnvOptions,
  makeEnvSync,
  makeVectorEnv,
  type MakeVectorEnvOptions,
  registerEnv,
} from "./registry.ts";
export { actionRows, packActions, SyncVectorEnv } from "./vector.ts";
export {
  GymEnv,
  type GymEnvOptions,
  type GymEnvSpec,
  type GymHostStats,
  GymVectorEnv,
} from "./gym/env.ts";
export {
  DEFAULT_GYM_MAKE_TIMEOUT_MS,
  DEFAULT_GYM_TIMEOUT_MS,
  GYM_PROTOCOL,
  GymBridge,
  type GymBridgeOptions,
  type GymHello,
  prepareHostScript,
  resolvePython,
} from "./gym/bridge.ts";
export * from "./gym/errors.ts";
export type { Frame, ShapedArray, WireArray } from "./gym/wire.ts";
export {
  collectEpisodes,
  encodeAction,
  type Episode,
  type EpisodeOptions,
  evaluatePolicy,
  type EvaluationResult,
  type Policy,
  type PolicyContext,
  type PolicyLike,
  RandomPolicy,
  rollout,
  type RolloutData,
  rolloutVector,
  runEpisode,
} from "./rollout.ts";
