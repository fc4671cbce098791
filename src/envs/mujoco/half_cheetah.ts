/**
 * HalfCheetah-v5 (Gymnasium) on MuJoCo wasm: the planar cheetah of Wawrzyński's "A Cat-Like
 * Robot Real-Time Learning to Run" as Gymnasium publishes it (9 bodies with the world, a torso
 * with a head, back and front legs of thigh, shin and foot on six actuated hinges), with
 * Gymnasium v5's observation, reward, reset noise and keyword arguments.
 *
 * | quantity        | value                                                                   |
 * | --------------- | ----------------------------------------------------------------------- |
 * | observation     | `qpos[1:9]` (rootz, rooty, 6 hinge angles), `qvel[0:9]`: 17 float32     |
 * | action          | 6 torques in [-1, 1] x gears 120, 90, 60 (back) 120, 60, 30 (front) N m |
 * | reward          | `forward_reward_weight * dx/dt - ctrl_cost_weight * sum(a^2)`           |
 * | step            | 5 x 10 ms (Euler), `dt` = 0.05 s; never terminates; 1000-step limit     |
 * | reset           | qpos `U(-0.1, 0.1)` around 0, qvel `0.1 N(0, 1)`                         |
 * @module
 */

import type { Transition } from "../base.ts";
import type { Rng } from "../../rng.ts";
import { loadMujoco, type MujocoModule } from "./loader.ts";
import {
  LOCOMOTION_KWARGS,
  LocomotionEnv,
  type LocomotionOptions,
  locomotionOptionsFromKwargs,
  type LocomotionStep,
} from "./locomotion.ts";
import { planarMjcf, type PlanarModel } from "./planar_model.ts";

const SHIN = "0.9 0.6 0.6 1";

/**
 * The half cheetah as published with Gymnasium (`half_cheetah.xml`): 14 kg in total
 * (masses from the capsules' volumes), capsules of radius 0.046 m, Euler at 10 ms, joint
 * springs towards 0 with limits, armature 0.1, contacts between the body and the floor only
 * (friction 0.4).
 */
export const HALF_CHEETAH_MODEL: PlanarModel = {
  name: "half_cheetah",
  timestep: 0.01,
  totalMass: 14,
  jointDefaults: {
    armature: 0.1,
    damping: 0.01,
    stiffness: 8,
    limited: true,
    solimplimit: "0 0.8 0.03",
    solreflimit: "0.02 1",
  },
  geomDefaults: {
    contype: 1,
    conaffinity: 0,
    condim: 3,
    friction: "0.4 0.1 0.1",
    solimp: "0 0.8 0.01",
    solref: "0.02 1",
  },
  floor: { size: "40 40 40", conaffinity: 1, condim: 3 },
  torsoAt: [0, 0.7],
  torso: [
    { name: "torso", from: [-0.5, 0], to: [0.5, 0], radius: 0.046 },
    { name: "head", at: [0.6, 0.1], halfLength: 0.15, tilt: 0.87, radius: 0.046 },
  ],
  limbs: [
    {
      name: "bthigh",
      at: [-0.5, 0],
      hinge: {
        name: "bthigh",
        axis: 1,
        range: [-0.52, 1.05],
        stiffness: 240,
        damping: 6,
        gear: 120,
      },
      capsule: { name: "bthigh", at: [0.1, -0.13], halfLength: 0.145, tilt: -3.8, radius: 0.046 },
      children: [{
        name: "bshin",
        at: [0.16, -0.25],
        hinge: {
          name: "bshin",
          axis: 1,
          range: [-0.785, 0.785],
          stiffness: 180,
          damping: 4.5,
          gear: 90,
        },
        capsule: {
          name: "bshin",
          at: [-0.14, -0.07],
          halfLength: 0.15,
          tilt: -2.03,
          radius: 0.046,
          rgba: SHIN,
        },
        children: [{
          name: "bfoot",
          at: [-0.28, -0.14],
          hinge: {
            name: "bfoot",
            axis: 1,
            range: [-0.4, 0.785],
            stiffness: 120,
            damping: 3,
            gear: 60,
          },
          capsule: {
            name: "bfoot",
            at: [0.03, -0.097],
            halfLength: 0.094,
            tilt: -0.27,
            radius: 0.046,
            rgba: SHIN,
          },
        }],
      }],
    },
    {
      name: "fthigh",
      at: [0.5, 0],
      hinge: { name: "fthigh", axis: 1, range: [-1, 0.7], stiffness: 180, damping: 4.5, gear: 120 },
      capsule: { name: "fthigh", at: [-0.07, -0.12], halfLength: 0.133, tilt: 0.52, radius: 0.046 },
      children: [{
        name: "fshin",
        at: [-0.14, -0.24],
        hinge: {
          name: "fshin",
          axis: 1,
          range: [-1.2, 0.87],
          stiffness: 120,
          damping: 3,
          gear: 60,
        },
        capsule: {
          name: "fshin",
          at: [0.065, -0.09],
          halfLength: 0.106,
          tilt: -0.6,
          radius: 0.046,
          rgba: SHIN,
        },
        children: [{
          name: "ffoot",
          at: [0.13, -0.18],
          hinge: {
            name: "ffoot",
            axis: 1,
            range: [-0.5, 0.5],
            stiffness: 60,
            damping: 1.5,
            gear: 30,
          },
          capsule: {
            name: "ffoot",
            at: [0.045, -0.07],
            halfLength: 0.07,
            tilt: -0.6,
            radius: 0.046,
            rgba: SHIN,
          },
        }],
      }],
    },
  ],
};

/** The MJCF compiled for `HalfCheetah-v5` (from {@link HALF_CHEETAH_MODEL}). */
export const HALF_CHEETAH_MJCF: string = planarMjcf(HALF_CHEETAH_MODEL);

/** Options of {@link HalfCheetahEnv} (Gymnasium's keyword arguments, camel-cased). */
export type HalfCheetahOptions = LocomotionOptions;

/**
 * Converts `gymnasium.make("HalfCheetah-v5", **kwargs)` arguments (`frame_skip`,
 * `forward_reward_weight`, `ctrl_cost_weight`, `reset_noise_scale`,
 * `exclude_current_positions_from_observation`) into options.
 */
export function halfCheetahOptionsFromKwargs(
  kwargs: Readonly<Record<string, unknown>>,
): HalfCheetahOptions {
  return locomotionOptionsFromKwargs(
    "HalfCheetah-v5",
    kwargs,
    LOCOMOTION_KWARGS,
  ) as HalfCheetahOptions;
}

/**
 * HalfCheetah-v5. Observation (17 float32): `[rootz, rooty, bthigh, bshin, bfoot, fthigh,
 * fshin, ffoot]` positions then the 9 velocities `[rootx, rootz, rooty, ...hinges]` (18 with
 * `excludeCurrentPositionsFromObservation: false`, rootx first). Action: 6 values in [-1, 1].
 * Reward `forward - ctrl` with `info` `{ x_position, x_velocity, reward_forward, reward_ctrl }`
 * (`reward_ctrl` is the negative cost, as Gymnasium). Never terminates; the registry's limit
 * is 1000 steps. Reset: qpos `init + U(-s, s)`, qvel `s N(0, 1)` with s = `resetNoiseScale`
 * (0.1); `reset({ state })` takes `[qpos (9), qvel (9)]`.
 *
 * @example
 * ```ts
 * import { HalfCheetahEnv } from "./half_cheetah.ts";
 * const env = await HalfCheetahEnv.create({ resetNoiseScale: 0 });
 * env.reset({ seed: 0 });
 * const { reward, info } = env.step([0, 0, 0, 0, 0, 0]);
 * env.close();
 * ```
 */
export class HalfCheetahEnv extends LocomotionEnv {
  /** Registry id. */
  readonly id = "HalfCheetah-v5";

  /** Builds the environment on a loaded MuJoCo module (see {@link loadMujoco}). */
  constructor(mj: MujocoModule, options: HalfCheetahOptions = {}) {
    super(mj, "HalfCheetah-v5", HALF_CHEETAH_MODEL, HALF_CHEETAH_MJCF, options, {
      frameSkip: 5,
      ctrlCostWeight: 0.1,
      resetNoiseScale: 0.1,
    });
  }

  /** Loads MuJoCo (once per process) and builds the environment. */
  static async create(options: HalfCheetahOptions = {}): Promise<HalfCheetahEnv> {
    return new HalfCheetahEnv(await loadMujoco(), options);
  }

  /** Velocities start at `scale * N(0, 1)`. */
  protected velocityNoise(rng: Rng, scale: number): number {
    return scale * rng.normal();
  }

  /** `forward - ctrl`; never terminal. */
  protected score(s: LocomotionStep): Transition {
    return {
      reward: s.forwardReward - s.ctrlCost,
      terminated: false,
      info: {
        x_position: s.xPosition,
        x_velocity: s.xVelocity,
        reward_forward: s.forwardReward,
        reward_ctrl: -s.ctrlCost,
      },
    };
  }

  /** 2.2 m wide around the torso, from below the floor to 1.8 m. */
  protected get view(): { halfWidth: number; z: [number, number] } {
    return { halfWidth: 1.1, z: [-0.4, 1.8] };
  }
}
