/**
 * CartPoleSwingup-mujoco: DeepMind Control Suite's `cartpole/swingup` task on MuJoCo (wasm,
 * `npm:mujoco-js`), with the suite's MJCF model re-written here (slider + hinge, RK4 at 10 ms,
 * contacts disabled, motor gear 10) and its smooth reward:
 * `upright * (4 + small_control) / 5 * (1 + small_velocity) / 2 * (1 + centered) / 2`.
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Rgb } from "../render.ts";
import { View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, continuousAction } from "../types.ts";
import {
  loadMujoco,
  type MjData,
  type MjModel,
  modelFromXml,
  type MujocoModule,
} from "./loader.ts";

/**
 * The cart-pole MJCF (after dm_control's `suite/cartpole.xml`, without its visual assets):
 * a 1 kg cart on a slider limited to [-1.8, 1.8] m, a 1 m, 0.1 kg capsule pole on a hinge
 * about the y axis (pole up at hinge angle 0), a motor on the slider with gear 10 and control
 * range [-1, 1], RK4 integration at 0.01 s, contacts disabled.
 */
export const CARTPOLE_MJCF = `<mujoco model="cart-pole">
  <option timestep="0.01" integrator="RK4">
    <flag contact="disable" energy="enable"/>
  </option>
  <default>
    <default class="pole">
      <joint type="hinge" axis="0 1 0" damping="2e-6"/>
      <geom type="capsule" fromto="0 0 0 0 0 1" size="0.045" mass=".1"/>
    </default>
  </default>
  <worldbody>
    <light name="light" pos="0 0 6"/>
    <geom name="floor" pos="0 0 -.05" size="4 4 .2" type="plane"/>
    <geom name="rail1" type="capsule" pos="0  .07 1" zaxis="1 0 0" size="0.02 2"/>
    <geom name="rail2" type="capsule" pos="0 -.07 1" zaxis="1 0 0" size="0.02 2"/>
    <body name="cart" pos="0 0 1">
      <joint name="slider" type="slide" limited="true" axis="1 0 0" range="-1.8 1.8"
             solreflimit=".08 1" damping="5e-4"/>
      <geom name="cart" type="box" size="0.2 0.15 0.1" mass="1"/>
      <body name="pole_1" childclass="pole">
        <joint name="hinge_1"/>
        <geom name="pole_1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="slide" joint="slider" gear="10" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
`;

/**
 * dm_control's `rewards.tolerance` with `bounds = (0, 0)`: 1 at 0, falling with |x| / margin
 * through a Gaussian (`value_at_margin` at the margin) or a quadratic (0 beyond the margin).
 */
export function tolerance(
  x: number,
  margin: number,
  sigmoid: "gaussian" | "quadratic" = "gaussian",
  valueAtMargin = 0.1,
): number {
  if (x === 0) return 1;
  const d = Math.abs(x) / margin;
  if (sigmoid === "gaussian") {
    const scale = Math.sqrt(-2 * Math.log(valueAtMargin));
    return Math.exp(-0.5 * (d * scale) ** 2);
  }
  const scaled = d * Math.sqrt(1 - valueAtMargin);
  return Math.abs(scaled) < 1 ? 1 - scaled * scaled : 0;
}

/** The swing-up reward of dm_control's `Balance(swing_up=True, sparse=False)`. */
export function swingupReward(
  cartPosition: number,
  poleAngle: number,
  control: number,
  angularVelocity: number,
): number {
  const upright = (Math.cos(poleAngle) + 1) / 2;
  const centered = (1 + tolerance(cartPosition, 2)) / 2;
  const smallControl = (4 + tolerance(control, 1, "quadratic", 0)) / 5;
  const smallVelocity = (1 + tolerance(angularVelocity, 5)) / 2;
  return upright * smallControl * smallVelocity * centered;
}

/**
 * Cart-pole swing-up on MuJoCo. Observation `[x, cos theta, sin theta, x_dot, theta_dot]`
 * (dm_control's `position` then `velocity`; theta = 0 upright); action `[u]` in [-1, 1]
 * (clipped); reward in [0, 1] per 10 ms step, no termination (1000-step limit in the registry:
 * 10 s, as the suite). Initial state: x ~ N(0, 0.01^2), theta ~ pi + N(0, 0.01^2), velocities
 * ~ N(0, 0.01^2). `reset({ state })` takes `[x, theta, x_dot, theta_dot]`.
 *
 * Create it with `await CartPoleSwingupMujocoEnv.create()` (or `makeEnv`), which loads the
 * wasm module once; `close()` frees the model and data.
 */
export class CartPoleSwingupMujocoEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "CartPoleSwingup-mujoco";
  /** Observation space (layout in the class documentation). */
  readonly observationSpace: Box = box(-Infinity, Infinity, [5]);
  /** Action space (see the class documentation). */
  readonly actionSpace: Box = box(-1, 1, [1]);
  private readonly mj: MujocoModule;
  private model: MjModel | null;
  private data: MjData | null;

  /** Builds the environment on a loaded MuJoCo module (see {@link loadMujoco}). */
  constructor(mj: MujocoModule, options: BaseEnvOptions = {}) {
    super(options);
    this.mj = mj;
    this.model = modelFromXml(mj, CARTPOLE_MJCF);
    this.data = new mj.MjData(this.model);
    if (this.model.nq !== 2 || this.model.nv !== 2 || this.model.nu !== 1) {
      throw new Error("CartPoleSwingup-mujoco: unexpected model dimensions");
    }
  }

  /** Loads MuJoCo (once per process) and builds the environment. */
  static async create(options: BaseEnvOptions = {}): Promise<CartPoleSwingupMujocoEnv> {
    return new CartPoleSwingupMujocoEnv(await loadMujoco(), options);
  }

  /** The live model and data (throws after `close()`). */
  private get md(): { m: MjModel; d: MjData } {
    if (!this.model || !this.data) throw new Error(`${this.id}: used after close()`);
    return { m: this.model, d: this.data };
  }

  /** `[x, theta, x_dot, theta_dot]` (a copy; qpos then qvel). */
  get state(): Float64Array {
    const { d } = this.md;
    const qpos = d.qpos;
    const qvel = d.qvel;
    return Float64Array.of(qpos[0], qpos[1], qvel[0], qvel[1]);
  }

  /** Simulated time of the current episode (s). */
  get time(): number {
    return this.md.d.time;
  }

  /** Draws the initial state (distribution in the class documentation). */
  protected initialState(rng: Rng): void {
    this.setState([
      0.01 * rng.normal(),
      Math.PI + 0.01 * rng.normal(),
      0.01 * rng.normal(),
      0.01 * rng.normal(),
    ]);
  }

  /** Sets the physical state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    const s = readState(this.id, state, 4);
    const { m, d } = this.md;
    this.mj.mj_resetData(m, d);
    d.qpos.set([s[0], s[1]]);
    d.qvel.set([s[2], s[3]]);
    this.mj.mj_forward(m, d);
  }

  /** Observation of the current state. */
  protected observe(): Float32Array {
    const { d } = this.md;
    const qpos = d.qpos;
    const qvel = d.qvel;
    return Float32Array.of(qpos[0], Math.cos(qpos[1]), Math.sin(qpos[1]), qvel[0], qvel[1]);
  }

  /** Advances the dynamics by one step. */
  protected transition(action: Action): Transition {
    const { m, d } = this.md;
    const u = Math.min(Math.max(continuousAction(action, 1)[0], -1), 1);
    d.ctrl[0] = u;
    this.mj.mj_step(m, d);
    const qpos = d.qpos;
    const qvel = d.qvel;
    if (!Number.isFinite(qpos[0]) || !Number.isFinite(qpos[1])) {
      throw new Error(`${this.id}: simulation diverged`);
    }
    return { reward: swingupReward(qpos[0], qpos[1], u, qvel[1]), terminated: false };
  }

  /** Draws the current state. */
  protected draw(canvas: Canvas): void {
    const { d } = this.md;
    const qpos = d.qpos;
    drawCartPoleSwingup(canvas, qpos[0], qpos[1]);
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

const SKY_TOP: Rgb = [64, 92, 128];
const SKY_BOTTOM: Rgb = [150, 176, 204];
const FLOOR: Rgb = [42, 60, 82];
const FLOOR_LINE: Rgb = [90, 115, 140];
const RAIL: Rgb = [110, 110, 120];
const CART: Rgb = [150, 92, 48];
const POLE: Rgb = [240, 180, 100];
const HINGE: Rgb = [60, 40, 30];

/**
 * Draws the MuJoCo cart-pole from its joint positions, seen from the front as dm_control's
 * fixed camera (x right, z up): a gradient sky, the floor, the rail at z = 1, the cart
 * (0.4 x 0.2 m) at `x` and the 1 m pole at hinge angle `theta` (0 = up, positive towards +x).
 * The view spans x in [-2, 2], z in [-1, 3].
 */
export function drawCartPoleSwingup(canvas: Canvas, x: number, theta: number): void {
  const v = new View(canvas.width, canvas.height, -2, 2, -1, 3);
  const floorZ = -0.05;
  // sky gradient in horizontal bands
  const bands = 16;
  for (let i = 0; i < bands; i++) {
    const t = i / (bands - 1);
    const c: Rgb = [
      Math.round(SKY_TOP[0] + (SKY_BOTTOM[0] - SKY_TOP[0]) * t),
      Math.round(SKY_TOP[1] + (SKY_BOTTOM[1] - SKY_TOP[1]) * t),
      Math.round(SKY_TOP[2] + (SKY_BOTTOM[2] - SKY_TOP[2]) * t),
    ];
    const z0 = 3.1 - ((3.1 - floorZ) * i) / bands;
    const z1 = 3.1 - ((3.1 - floorZ) * (i + 1)) / bands;
    canvas.fillRect(...v.p(-2.3, z0), ...v.p(2.3, z1), c);
  }
  canvas.fillRect(...v.p(-2.3, floorZ), ...v.p(2.3, -1.1), FLOOR);
  canvas.line(v.p(-2.3, floorZ), v.p(2.3, floorZ), Math.max(1, v.len(0.03)), FLOOR_LINE);
  // rail (capsule of radius 0.02 from -2 to 2 at z = 1)
  canvas.capsule(v.p(-2, 1), v.p(2, 1), Math.max(1, v.len(0.05)), RAIL);
  // cart
  canvas.fillRect(...v.p(x - 0.2, 0.9), ...v.p(x + 0.2, 1.1), CART);
  // pole: capsule from the hinge (cart centre) to 1 m along the pole
  const tip = v.p(x + Math.sin(theta), 1 + Math.cos(theta));
  canvas.capsule(v.p(x, 1), tip, Math.max(2, v.len(0.09)), POLE);
  canvas.fillCircle(...v.p(x, 1), Math.max(0.8, v.len(0.04)), HINGE);
}
