/**
 * Shared machinery of the MuJoCo locomotion tasks (`HalfCheetah-v5`, `Hopper-v5`), following
 * Gymnasium's `MujocoEnv` and its v5 locomotion environments:
 *
 * - a step sets `ctrl` to the action (MuJoCo clamps it to the control range; the control cost
 *   uses the action as given) and advances `frameSkip` timesteps, so `dt = frameSkip * timestep`;
 * - the forward reward is `forwardRewardWeight * (x_after - x_before) / dt` of the root x slide,
 *   the control cost `ctrlCostWeight * sum(action^2)`;
 * - observations are `qpos` (without the root x unless asked) then `qvel`, as float32;
 * - `reset({ state })` takes `[qpos (nq), qvel (nv)]` (the full physical state, root x
 *   included), and `reset()` draws the model's reference pose plus noise of scale
 *   `resetNoiseScale` (distribution per task).
 *
 * Gymnasium's keyword arguments (`forward_reward_weight`, ...) map onto the options through
 * {@link locomotionOptionsFromKwargs}, so `makeEnv(id, { kwargs })` takes the same names as
 * `gymnasium.make(id, **kwargs)`.
 * @module
 */

import { ConfigError } from "../../errors.ts";
import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import { type Canvas, type Rgb, View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, continuousAction, type Info } from "../types.ts";
import { type MjData, type MjModel, modelFromXml, type MujocoModule } from "./loader.ts";
import type { PlanarCapsule, PlanarLimb, PlanarModel } from "./planar_model.ts";

/** Options shared by the locomotion tasks (Gymnasium's keyword arguments, camel-cased). */
export interface LocomotionOptions extends BaseEnvOptions {
  /** MuJoCo timesteps per environment step (Gymnasium `frame_skip`). */
  readonly frameSkip?: number;
  /** Weight of the forward velocity reward (`forward_reward_weight`, default 1). */
  readonly forwardRewardWeight?: number;
  /** Weight of the control cost (`ctrl_cost_weight`). */
  readonly ctrlCostWeight?: number;
  /** Scale of the reset noise (`reset_noise_scale`; 0: always the reference pose at rest). */
  readonly resetNoiseScale?: number;
  /**
   * Leave the root x position out of the observation
   * (`exclude_current_positions_from_observation`, default true).
   */
  readonly excludeCurrentPositionsFromObservation?: boolean;
}

/** Defaults a task gives to {@link LocomotionEnv}. */
export interface LocomotionDefaults {
  /** Default `frameSkip`. */
  readonly frameSkip: number;
  /** Default `ctrlCostWeight`. */
  readonly ctrlCostWeight: number;
  /** Default `resetNoiseScale`. */
  readonly resetNoiseScale: number;
}

/** Terms of a locomotion step computed by {@link LocomotionEnv}. */
export interface LocomotionStep {
  /** Root x after the step (m). */
  readonly xPosition: number;
  /** `(x_after - x_before) / dt` (m/s). */
  readonly xVelocity: number;
  /** `forwardRewardWeight * xVelocity`. */
  readonly forwardReward: number;
  /** `ctrlCostWeight * sum(action^2)` (subtracted from the reward). */
  readonly ctrlCost: number;
}

/** Checks a number option: finite, and `>= min` when given; throws a {@link ConfigError}. */
export function checkNumberOption(
  id: string,
  name: string,
  v: number,
  min = -Infinity,
): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    throw new ConfigError(
      `${id}: ${name} must be a finite number${min > -Infinity ? ` >= ${min}` : ""}, got ${v}`,
    );
  }
  return v;
}

/** Checks a `[lo, hi]` range option (bounds may be infinite, `lo <= hi`). */
export function checkRangeOption(
  id: string,
  name: string,
  r: readonly number[],
): readonly [number, number] {
  if (
    !Array.isArray(r) || r.length !== 2 || typeof r[0] !== "number" ||
    typeof r[1] !== "number" || Number.isNaN(r[0]) || Number.isNaN(r[1]) || r[0] > r[1]
  ) {
    throw new ConfigError(`${id}: ${name} must be [lo, hi] with lo <= hi, got ${r}`);
  }
  return [r[0], r[1]];
}

/** How one of Gymnasium's keyword arguments maps onto an option. */
export interface KwargSpec {
  /** The option's name. */
  readonly option: string;
  /** Value type. */
  readonly kind: "number" | "integer" | "boolean" | "range";
}

/** Gymnasium keyword arguments shared by the locomotion tasks. */
export const LOCOMOTION_KWARGS: Readonly<Record<string, KwargSpec>> = {
  frame_skip: { option: "frameSkip", kind: "integer" },
  forward_reward_weight: { option: "forwardRewardWeight", kind: "number" },
  ctrl_cost_weight: { option: "ctrlCostWeight", kind: "number" },
  reset_noise_scale: { option: "resetNoiseScale", kind: "number" },
  exclude_current_positions_from_observation: {
    option: "excludeCurrentPositionsFromObservation",
    kind: "boolean",
  },
};

/**
 * Converts Gymnasium keyword arguments (`{ reset_noise_scale: 0 }`) into options by `table`.
 * Unknown names and wrong types throw a {@link ConfigError} listing the accepted names; the
 * values themselves are checked by the environment's constructor.
 */
export function locomotionOptionsFromKwargs(
  id: string,
  kwargs: Readonly<Record<string, unknown>>,
  table: Readonly<Record<string, KwargSpec>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(kwargs)) {
    const spec = table[name];
    if (!spec) {
      const hint = name === "xml_file" || name === "default_camera_config"
        ? " (the model is built in; custom models are not supported)"
        : "";
      throw new ConfigError(
        `${id}: unknown keyword argument "${name}"${hint}; accepted: ${
          Object.keys(table).join(", ")
        }`,
      );
    }
    const ok = spec.kind === "boolean"
      ? typeof value === "boolean"
      : spec.kind === "range"
      ? Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")
      : typeof value === "number" && (spec.kind === "number" || Number.isInteger(value));
    if (!ok) {
      const want = spec.kind === "range"
        ? "[lo, hi] numbers"
        : `a${spec.kind === "integer" ? "n" : ""} ${spec.kind}`;
      throw new ConfigError(`${id}: ${name} must be ${want}, got ${JSON.stringify(value)}`);
    }
    out[spec.option] = value;
  }
  return out;
}

/**
 * Base of the MuJoCo locomotion tasks (see the module documentation). Subclasses give the
 * model, the reset noise of the velocities, the observation's velocity clip and the reward.
 * Create the tasks with their static `create()` (or `makeEnv`); `close()` frees the wasm
 * model and data.
 */
export abstract class LocomotionEnv extends BaseEnv {
  /** Observation space: `Box(-inf, inf, [nq + nv - 1])` float32 (`nq + nv` with the root x). */
  readonly observationSpace: Box;
  /** Action space: `Box(-1, 1, [nu])`. */
  readonly actionSpace: Box;
  /** MuJoCo timesteps per step. */
  readonly frameSkip: number;
  /** Duration of one step (s): `frameSkip * timestep`. */
  readonly dt: number;
  /** Weight of the forward reward. */
  readonly forwardRewardWeight: number;
  /** Weight of the control cost. */
  readonly ctrlCostWeight: number;
  /** Scale of the reset noise. */
  readonly resetNoiseScale: number;
  /** Whether the root x position is left out of observations. */
  readonly excludeCurrentPositions: boolean;
  /** Number of generalized coordinates. */
  readonly nq: number;
  /** Number of degrees of freedom. */
  readonly nv: number;
  /** Number of actuators. */
  readonly nu: number;
  /** The model's reference pose (Gymnasium's `init_qpos`). */
  readonly initQpos: Float64Array;
  private readonly mj: MujocoModule;
  private model: MjModel | null;
  private data: MjData | null;
  private readonly colors: Rgb[];

  /** Compiles `model` on a loaded MuJoCo module; options override `defaults`. */
  protected constructor(
    mj: MujocoModule,
    id: string,
    model: PlanarModel,
    mjcf: string,
    options: LocomotionOptions,
    defaults: LocomotionDefaults,
  ) {
    super(options);
    const frameSkip = options.frameSkip ?? defaults.frameSkip;
    if (!Number.isInteger(frameSkip) || frameSkip < 1) {
      throw new ConfigError(`${id}: frameSkip must be an integer >= 1, got ${frameSkip}`);
    }
    this.frameSkip = frameSkip;
    this.forwardRewardWeight = checkNumberOption(
      id,
      "forwardRewardWeight",
      options.forwardRewardWeight ?? 1,
    );
    this.ctrlCostWeight = checkNumberOption(
      id,
      "ctrlCostWeight",
      options.ctrlCostWeight ?? defaults.ctrlCostWeight,
    );
    this.resetNoiseScale = checkNumberOption(
      id,
      "resetNoiseScale",
      options.resetNoiseScale ?? defaults.resetNoiseScale,
      0,
    );
    const exclude = options.excludeCurrentPositionsFromObservation ?? true;
    if (typeof exclude !== "boolean") {
      throw new ConfigError(`${id}: excludeCurrentPositionsFromObservation must be a boolean`);
    }
    this.excludeCurrentPositions = exclude;
    this.mj = mj;
    this.model = modelFromXml(mj, mjcf);
    this.data = new mj.MjData(this.model);
    this.nq = this.model.nq;
    this.nv = this.model.nv;
    this.nu = this.model.nu;
    this.dt = this.model.opt.timestep * frameSkip;
    this.initQpos = Float64Array.from(this.model.qpos0);
    const obsSize = this.nq + this.nv - (exclude ? 1 : 0);
    this.observationSpace = box(-Infinity, Infinity, [obsSize]);
    this.actionSpace = box(-1, 1, [this.nu]);
    this.colors = geomColors(model);
  }

  /** The live model and data (throws after `close()`). */
  protected get md(): { m: MjModel; d: MjData } {
    if (!this.model || !this.data) throw new Error(`${this.id}: used after close()`);
    return { m: this.model, d: this.data };
  }

  /** `[qpos (nq), qvel (nv)]`, a copy (the layout `reset({ state })` takes). */
  get state(): Float64Array {
    const { d } = this.md;
    const out = new Float64Array(this.nq + this.nv);
    out.set(d.qpos);
    out.set(d.qvel, this.nq);
    return out;
  }

  /** Simulated time of the current episode (s). */
  get time(): number {
    return this.md.d.time;
  }

  /** Draws the reference pose plus noise (distribution per task). */
  protected initialState(rng: Rng): void {
    const s = this.resetNoiseScale;
    const state = new Float64Array(this.nq + this.nv);
    for (let i = 0; i < this.nq; i++) state[i] = this.initQpos[i] + rng.uniform(-s, s);
    for (let i = 0; i < this.nv; i++) state[this.nq + i] = this.velocityNoise(rng, s);
    this.setState(state);
  }

  /** One reset-noise sample of a velocity (the reference velocity is 0). */
  protected abstract velocityNoise(rng: Rng, scale: number): number;

  /** Sets `[qpos (nq), qvel (nv)]` exactly and runs a forward pass (Gymnasium's `set_state`). */
  setState(state: ArrayLike<number>): void {
    const s = readState(this.id, state, this.nq + this.nv);
    const { m, d } = this.md;
    this.mj.mj_resetData(m, d);
    d.qpos.set(s.subarray(0, this.nq));
    d.qvel.set(s.subarray(this.nq));
    this.mj.mj_forward(m, d);
  }

  /** Largest |velocity| in observations (Infinity: no clip). */
  protected get observedVelocityClip(): number {
    return Infinity;
  }

  /** Observation: `qpos` (from index 1 when the root x is excluded), then `qvel` (clipped). */
  protected observe(): Float32Array {
    const { d } = this.md;
    const qpos = d.qpos;
    const qvel = d.qvel;
    const skip = this.excludeCurrentPositions ? 1 : 0;
    const out = new Float32Array(this.observationSpace.shape[0]);
    let k = 0;
    for (let i = skip; i < this.nq; i++) out[k++] = qpos[i];
    const c = this.observedVelocityClip;
    for (let i = 0; i < this.nv; i++) out[k++] = Math.min(Math.max(qvel[i], -c), c);
    return out;
  }

  /** Runs the physics for one step and computes the terms every task shares. */
  protected simulate(action: Action): LocomotionStep {
    const { m, d } = this.md;
    const a = continuousAction(action, this.nu);
    const xBefore = d.qpos[0];
    d.ctrl.set(a);
    for (let k = 0; k < this.frameSkip; k++) this.mj.mj_step(m, d);
    const qpos = d.qpos;
    const qvel = d.qvel;
    for (let i = 0; i < this.nq; i++) {
      if (!Number.isFinite(qpos[i])) throw new Error(`${this.id}: simulation diverged`);
    }
    for (let i = 0; i < this.nv; i++) {
      if (!Number.isFinite(qvel[i])) throw new Error(`${this.id}: simulation diverged`);
    }
    let sq = 0;
    for (let i = 0; i < this.nu; i++) sq += a[i] * a[i];
    const xPosition = qpos[0];
    const xVelocity = (xPosition - xBefore) / this.dt;
    return {
      xPosition,
      xVelocity,
      forwardReward: this.forwardRewardWeight * xVelocity,
      ctrlCost: this.ctrlCostWeight * sq,
    };
  }

  /** Advances one step: {@link simulate}, then the task's reward and termination. */
  protected transition(action: Action): Transition {
    return this.score(this.simulate(action));
  }

  /** The task's reward, termination and info from the shared terms. */
  protected abstract score(step: LocomotionStep): Transition;

  /** `x_position` of the current state. */
  protected override resetInfo(): Info {
    return { x_position: this.md.d.qpos[0] };
  }

  /** Side view range of a picture: half width around the tracked x, and `[zLo, zHi]`. */
  protected abstract get view(): { readonly halfWidth: number; readonly z: [number, number] };

  /**
   * Side view (x right, z up) following the torso's centre of mass as Gymnasium's tracking
   * camera: sky, a floor of alternating 0.5 m tiles (so motion shows), and every capsule.
   */
  protected draw(canvas: Canvas): void {
    const { m, d } = this.md;
    const cx = d.subtree_com[3]; // body 1 (torso) subtree, x
    const { halfWidth, z } = this.view;
    const v = new View(canvas.width, canvas.height, cx - halfWidth, cx + halfWidth, z[0], z[1]);
    const left = cx - halfWidth - 0.1;
    const right = cx + halfWidth + 0.1;
    canvas.fillRect(...v.p(left, z[1] + 0.1), ...v.p(right, 0), SKY);
    const tile = 0.5;
    for (let k = Math.floor(left / tile); k * tile < right; k++) {
      canvas.fillRect(...v.p(k * tile, 0), ...v.p((k + 1) * tile, z[0] - 0.1), k & 1 ? F1 : F2);
    }
    const types = m.geom_type;
    const sizes = m.geom_size;
    const xpos = d.geom_xpos;
    const xmat = d.geom_xmat;
    for (let g = 0; g < types.length; g++) {
      if (types[g] !== CAPSULE) continue;
      const r = sizes[3 * g];
      const h = sizes[3 * g + 1];
      const px = xpos[3 * g];
      const pz = xpos[3 * g + 2];
      // the capsule's axis is the geom frame's z column
      const ax = xmat[9 * g + 2];
      const az = xmat[9 * g + 8];
      canvas.capsule(
        v.p(px - h * ax, pz - h * az),
        v.p(px + h * ax, pz + h * az),
        Math.max(1, v.len(2 * r)),
        this.colors[g] ?? LIMB,
      );
    }
  }

  /** Frees the MuJoCo model and data (idempotent). */
  override close(): void {
    if (this.closed) return;
    super.close();
    this.data?.delete();
    this.model?.delete();
    this.data = null;
    this.model = null;
  }
}

const CAPSULE = 3;
const SKY: Rgb = [172, 196, 222];
const F1: Rgb = [70, 84, 100];
const F2: Rgb = [110, 128, 146];
const LIMB: Rgb = [204, 153, 102];

/** Colours of the geoms in MuJoCo's order (floor, torso capsules, limbs depth first). */
function geomColors(model: PlanarModel): Rgb[] {
  const color = (c: PlanarCapsule): Rgb => {
    if (!c.rgba) return LIMB;
    const [r, g, b] = c.rgba.split(/\s+/).map(Number);
    return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
  };
  const out: Rgb[] = [F1, ...model.torso.map(color)];
  const walk = (l: PlanarLimb) => {
    out.push(color(l.capsule));
    for (const c of l.children ?? []) walk(c);
  };
  for (const l of model.limbs) walk(l);
  return out;
}
