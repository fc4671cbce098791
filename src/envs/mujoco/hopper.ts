/**
 * Hopper-v5 (Gymnasium) on MuJoCo wasm: the one-legged planar hopper (torso, thigh, leg, foot on
 * three actuated hinges) as Gymnasium publishes it, with Gymnasium v5's observation, reward,
 * health-based termination, reset noise and keyword arguments.
 *
 * | quantity    | value                                                                           |
 * | ----------- | ------------------------------------------------------------------------------- |
 * | observation | `qpos[1:6]` (rootz, rooty, 3 hinge angles), `clip(qvel, -10, 10)`: 11 float32  |
 * | action      | 3 torques in [-1, 1] x gear 200 N m                                              |
 * | reward      | `healthy_reward * healthy + forward_reward_weight * dx/dt - ctrl_cost_weight * sum(a^2)` |
 * | step        | 4 x 2 ms (RK4), `dt` = 0.008 s; terminates when unhealthy; 1000-step limit      |
 * | reset       | qpos `[0, 1.25, 0, 0, 0, 0] + U(-s, s)`, qvel `U(-s, s)`, s = 0.005              |
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { Transition } from "../base.ts";
import type { Rng } from "../../rng.ts";
import type { Info } from "../types.ts";
import { contactMarginRule, loadMujoco, type MujocoModule } from "./loader.ts";
import {
  checkNumberOption,
  checkRangeOption,
  type KwargSpec,
  LOCOMOTION_KWARGS,
  LocomotionEnv,
  type LocomotionOptions,
  locomotionOptionsFromKwargs,
  type LocomotionStep,
} from "./locomotion.ts";
import { planarMjcf, type PlanarModel } from "./planar_model.ts";

const DEG = Math.PI / 180;
const TORSO = "0.7 0.5 0.3 1";
const FOOT = "0.9 0.6 0.6 1";

/**
 * The hopper as published with Gymnasium (`hopper.xml`, after openai/gym's Walker2d): capsules
 * with masses from their volumes (density 1000: torso 3.67 kg, thigh 4.06 kg, leg 2.78 kg, foot
 * 5.32 kg), RK4 at 2 ms, hinge armature 1 and damping 1, every geom colliding (contact margin
 * 1 mm per geom: see {@link hopperMjcf}), foot friction 2.0, other geoms 0.9, the torso's height
 * `qpos[1]` starting at 1.25 m.
 */
export const HOPPER_MODEL: PlanarModel = {
  name: "hopper",
  timestep: 0.002,
  integrator: "RK4",
  jointDefaults: { armature: 1, damping: 1, limited: true },
  geomDefaults: {
    contype: 1,
    conaffinity: 1,
    condim: 1,
    margin: 0.001,
    solimp: "0.8 0.8 0.01",
    solref: "0.02 1",
  },
  floor: { size: "20 20 0.125", conaffinity: 1, condim: 3 },
  torsoAt: [0, 1.25],
  rootZRef: 1.25,
  torso: [{ name: "torso_geom", halfLength: 0.2, radius: 0.05, friction: 0.9, rgba: TORSO }],
  limbs: [{
    name: "thigh",
    at: [0, -0.2],
    hinge: { name: "thigh_joint", axis: -1, range: [-150 * DEG, 0], gear: 200 },
    capsule: {
      name: "thigh_geom",
      at: [0, -0.225],
      halfLength: 0.225,
      radius: 0.05,
      friction: 0.9,
    },
    children: [{
      name: "leg",
      at: [0, -0.7],
      hinge: { name: "leg_joint", at: [0, 0.25], axis: -1, range: [-150 * DEG, 0], gear: 200 },
      capsule: { name: "leg_geom", halfLength: 0.25, radius: 0.04, friction: 0.9 },
      children: [{
        name: "foot",
        at: [0.13, -0.35],
        hinge: {
          name: "foot_joint",
          at: [-0.13, 0.1],
          axis: -1,
          range: [-45 * DEG, 45 * DEG],
          gear: 200,
        },
        capsule: {
          name: "foot_geom",
          at: [-0.065, 0.1],
          halfLength: 0.195,
          tilt: -Math.PI / 2,
          radius: 0.06,
          friction: 2.0,
          rgba: FOOT,
        },
      }],
    }],
  }],
};

/**
 * The MJCF of `Hopper-v5` for a MuJoCo build whose contacts combine geom margins by `rule`
 * (see {@link contactMarginRule}). Current MuJoCo (`"sum"`, as Gymnasium runs it here on 3.14)
 * gives a body-floor contact of the published model 1 + 1 = 2 mm of margin; an older build
 * (`"max"`, mujoco-js's 3.3.8) would give 1 mm, so there every geom gets 2 mm to keep the
 * contacts' 2 mm. With `"sum"` the text is the published model.
 */
export function hopperMjcf(rule: "max" | "sum" = "sum"): string {
  if (rule === "sum") return planarMjcf(HOPPER_MODEL);
  const margin = 2 * Number(HOPPER_MODEL.geomDefaults.margin);
  return planarMjcf({ ...HOPPER_MODEL, geomDefaults: { ...HOPPER_MODEL.geomDefaults, margin } });
}

/** Options of {@link HopperEnv} (Gymnasium's keyword arguments, camel-cased). */
export interface HopperOptions extends LocomotionOptions {
  /** Reward of every healthy step (`healthy_reward`, default 1). */
  readonly healthyReward?: number;
  /** End the episode (terminated) when unhealthy (`terminate_when_unhealthy`, default true). */
  readonly terminateWhenUnhealthy?: boolean;
  /** Open range of `qpos[2:]` and `qvel` (`healthy_state_range`, default [-100, 100]). */
  readonly healthyStateRange?: readonly [number, number];
  /** Open range of the torso height `qpos[1]` (`healthy_z_range`, default [0.7, Infinity]). */
  readonly healthyZRange?: readonly [number, number];
  /** Open range of the torso angle `qpos[2]` (`healthy_angle_range`, default [-0.2, 0.2]). */
  readonly healthyAngleRange?: readonly [number, number];
}

/** Gymnasium keyword arguments `Hopper-v5` accepts, and the options they set. */
export const HOPPER_KWARGS: Readonly<Record<string, KwargSpec>> = {
  ...LOCOMOTION_KWARGS,
  healthy_reward: { option: "healthyReward", kind: "number" },
  terminate_when_unhealthy: { option: "terminateWhenUnhealthy", kind: "boolean" },
  healthy_state_range: { option: "healthyStateRange", kind: "range" },
  healthy_z_range: { option: "healthyZRange", kind: "range" },
  healthy_angle_range: { option: "healthyAngleRange", kind: "range" },
};

/**
 * Converts `gymnasium.make("Hopper-v5", **kwargs)` arguments (those of HalfCheetah plus
 * `healthy_reward`, `terminate_when_unhealthy`, `healthy_state_range`, `healthy_z_range`,
 * `healthy_angle_range`; ranges as `[lo, hi]`, `Infinity` for Python's `inf`) into options.
 */
export function hopperOptionsFromKwargs(kwargs: Readonly<Record<string, unknown>>): HopperOptions {
  return locomotionOptionsFromKwargs("Hopper-v5", kwargs, HOPPER_KWARGS) as HopperOptions;
}

/**
 * Hopper-v5. Observation (11 float32): `[rootz, rooty, thigh, leg, foot]` positions then the 6
 * velocities `[rootx, rootz, rooty, ...hinges]` clipped to [-10, 10] (12 with
 * `excludeCurrentPositionsFromObservation: false`). Action: 3 values in [-1, 1]. Healthy: every
 * `qpos[2:]` and `qvel` strictly inside `healthyStateRange`, the height `qpos[1]` inside
 * `healthyZRange`, the torso angle `qpos[2]` inside `healthyAngleRange`. Reward
 * `survive + forward - ctrl`, the survive term only while healthy; `info` `{ x_position,
 * z_distance_from_origin, x_velocity, reward_forward, reward_ctrl, reward_survive }`. Terminates
 * when unhealthy (unless `terminateWhenUnhealthy: false`). Reset: qpos `init + U(-s, s)`, qvel
 * `U(-s, s)`, s = 0.005; `reset({ state })` takes `[qpos (6), qvel (6)]` (qpos[1] is the
 * torso's height, 1.25 m at the reference pose).
 *
 * @example
 * ```ts
 * import { HopperEnv } from "./hopper.ts";
 * const env = await HopperEnv.create();
 * env.reset({ seed: 0 });
 * const { terminated, info } = env.step([0, 0, 0]);
 * env.close();
 * ```
 */
export class HopperEnv extends LocomotionEnv {
  /** Registry id. */
  readonly id = "Hopper-v5";
  /** Reward of a healthy step. */
  readonly healthyReward: number;
  /** Whether unhealthy states end the episode. */
  readonly terminateWhenUnhealthy: boolean;
  /** Open range of `qpos[2:]` and `qvel`. */
  readonly healthyStateRange: readonly [number, number];
  /** Open range of the torso height. */
  readonly healthyZRange: readonly [number, number];
  /** Open range of the torso angle. */
  readonly healthyAngleRange: readonly [number, number];

  /** Builds the environment on a loaded MuJoCo module (see {@link loadMujoco}). */
  constructor(mj: MujocoModule, options: HopperOptions = {}) {
    super(mj, "Hopper-v5", HOPPER_MODEL, hopperMjcf(contactMarginRule(mj)), options, {
      frameSkip: 4,
      ctrlCostWeight: 1e-3,
      resetNoiseScale: 5e-3,
    });
    const id = "Hopper-v5";
    this.healthyReward = checkNumberOption(id, "healthyReward", options.healthyReward ?? 1);
    this.terminateWhenUnhealthy = options.terminateWhenUnhealthy ?? true;
    if (typeof this.terminateWhenUnhealthy !== "boolean") {
      throw new ConfigError(`${id}: terminateWhenUnhealthy must be a boolean`);
    }
    this.healthyStateRange = checkRangeOption(
      id,
      "healthyStateRange",
      options.healthyStateRange ?? [-100, 100],
    );
    this.healthyZRange = checkRangeOption(
      id,
      "healthyZRange",
      options.healthyZRange ?? [0.7, Infinity],
    );
    this.healthyAngleRange = checkRangeOption(
      id,
      "healthyAngleRange",
      options.healthyAngleRange ?? [-0.2, 0.2],
    );
  }

  /** Loads MuJoCo (once per process) and builds the environment. */
  static async create(options: HopperOptions = {}): Promise<HopperEnv> {
    return new HopperEnv(await loadMujoco(), options);
  }

  /** Whether the current state is healthy (see the class documentation). */
  get isHealthy(): boolean {
    const { d } = this.md;
    const qpos = d.qpos;
    const qvel = d.qvel;
    const inside = (v: number, r: readonly [number, number]) => r[0] < v && v < r[1];
    if (!inside(qpos[1], this.healthyZRange) || !inside(qpos[2], this.healthyAngleRange)) {
      return false;
    }
    for (let i = 2; i < this.nq; i++) if (!inside(qpos[i], this.healthyStateRange)) return false;
    for (let i = 0; i < this.nv; i++) if (!inside(qvel[i], this.healthyStateRange)) return false;
    return true;
  }

  /** Velocities start at `U(-scale, scale)`. */
  protected velocityNoise(rng: Rng, scale: number): number {
    return rng.uniform(-scale, scale);
  }

  /** Observed velocities are clipped to [-10, 10]. */
  protected override get observedVelocityClip(): number {
    return 10;
  }

  /** `survive + forward - ctrl`; terminal when unhealthy (if so configured). */
  protected score(s: LocomotionStep): Transition {
    const healthy = this.isHealthy;
    const survive = healthy ? this.healthyReward : 0;
    return {
      reward: s.forwardReward + survive - s.ctrlCost,
      terminated: !healthy && this.terminateWhenUnhealthy,
      info: {
        x_position: s.xPosition,
        z_distance_from_origin: this.zDistance(),
        x_velocity: s.xVelocity,
        reward_forward: s.forwardReward,
        reward_ctrl: -s.ctrlCost,
        reward_survive: survive,
      },
    };
  }

  /** `x_position` and `z_distance_from_origin` of the current state. */
  protected override resetInfo(): Info {
    return { ...super.resetInfo(), z_distance_from_origin: this.zDistance() };
  }

  /** Height of the torso above its reference height (m). */
  private zDistance(): number {
    return this.md.d.qpos[1] - this.initQpos[1];
  }

  /** 2 m wide around the torso, from below the floor to 1.7 m. */
  protected get view(): { halfWidth: number; z: [number, number] } {
    return { halfWidth: 1.0, z: [-0.3, 1.7] };
  }
}
