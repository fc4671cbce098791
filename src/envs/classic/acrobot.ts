/**
 * Acrobot-v1: Sutton's (1996) two-link underactuated swing-up with Gymnasium's constants
 * ("book" dynamics, unit masses, lengths and moments of inertia, torque in {-1, 0, +1}), one
 * 4th-order Runge-Kutta step of dt = 0.2 s per action, angles wrapped to [-pi, pi], velocities
 * bounded by 4 pi and 9 pi; reward -1 per step until the tip is above the bar
 * (`-cos(t1) - cos(t1 + t2) > 1`).
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Rgb } from "../render.ts";
import { View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, type Discrete, discrete, discreteIndex } from "../types.ts";

/** Gymnasium's Acrobot constants. */
export const ACROBOT = {
  dt: 0.2,
  linkLength1: 1.0,
  linkLength2: 1.0,
  linkMass1: 1.0,
  linkMass2: 1.0,
  linkComPos1: 0.5,
  linkComPos2: 0.5,
  linkMoi: 1.0,
  maxVel1: 4 * Math.PI,
  maxVel2: 9 * Math.PI,
  availTorque: [-1.0, 0.0, 1.0],
  g: 9.8,
} as const;

/** Time derivative of `[theta1, theta2, dtheta1, dtheta2]` under torque `a` ("book" form). */
export function acrobotDerivs(s: ArrayLike<number>, a: number): [number, number, number, number] {
  const m1 = ACROBOT.linkMass1;
  const m2 = ACROBOT.linkMass2;
  const l1 = ACROBOT.linkLength1;
  const lc1 = ACROBOT.linkComPos1;
  const lc2 = ACROBOT.linkComPos2;
  const I1 = ACROBOT.linkMoi;
  const I2 = ACROBOT.linkMoi;
  const g = ACROBOT.g;
  const theta1 = s[0];
  const theta2 = s[1];
  const dtheta1 = s[2];
  const dtheta2 = s[3];
  const d1 = m1 * lc1 ** 2 + m2 * (l1 ** 2 + lc2 ** 2 + 2 * l1 * lc2 * Math.cos(theta2)) + I1 + I2;
  const d2 = m2 * (lc2 ** 2 + l1 * lc2 * Math.cos(theta2)) + I2;
  const phi2 = m2 * lc2 * g * Math.cos(theta1 + theta2 - Math.PI / 2.0);
  const phi1 = -m2 * l1 * lc2 * dtheta2 ** 2 * Math.sin(theta2) -
    2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Math.sin(theta2) +
    (m1 * lc1 + m2 * l1) * g * Math.cos(theta1 - Math.PI / 2) +
    phi2;
  const ddtheta2 = (a + (d2 / d1) * phi1 - m2 * l1 * lc2 * dtheta1 ** 2 * Math.sin(theta2) - phi2) /
    (m2 * lc2 ** 2 + I2 - d2 ** 2 / d1);
  const ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
  return [dtheta1, dtheta2, ddtheta1, ddtheta2];
}

/** One classical RK4 step of size `dt` of {@link acrobotDerivs} with constant torque `a`. */
export function acrobotRk4(s: ArrayLike<number>, a: number, dt: number): Float64Array {
  const y0 = Float64Array.from(s);
  const dt2 = dt / 2;
  const add = (y: ArrayLike<number>, k: ArrayLike<number>, h: number) =>
    Float64Array.from({ length: 4 }, (_, i) => y[i] + h * k[i]);
  const k1 = acrobotDerivs(y0, a);
  const k2 = acrobotDerivs(add(y0, k1, dt2), a);
  const k3 = acrobotDerivs(add(y0, k2, dt2), a);
  const k4 = acrobotDerivs(add(y0, k3, dt), a);
  const out = new Float64Array(4);
  for (let i = 0; i < 4; i++) out[i] = y0[i] + (dt / 6.0) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  return out;
}

/** Wraps `x` into [m, M] by whole periods (Gymnasium's `wrap`). */
export function wrap(x: number, m: number, M: number): number {
  const diff = M - m;
  while (x > M) x = x - diff;
  while (x < m) x = x + diff;
  return x;
}

/**
 * Acrobot. State `[theta1, theta2, dtheta1, dtheta2]` (theta1 = 0: first link hanging down;
 * theta2 relative to the first link); observation
 * `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]`; actions 0, 1, 2 = torque -1, 0, +1 on the
 * middle joint. Initial state uniform in [-0.1, 0.1]^4 rounded to float32 (as Gymnasium).
 * `reset({ state })` takes the 4 state values.
 */
export class AcrobotEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "Acrobot-v1";
  /** Observation space (layout in the class documentation). */
  readonly observationSpace: Box = box(
    [-1, -1, -1, -1, -ACROBOT.maxVel1, -ACROBOT.maxVel2],
    [1, 1, 1, 1, ACROBOT.maxVel1, ACROBOT.maxVel2],
    [6],
  );
  /** Action space (see the class documentation). */
  readonly actionSpace: Discrete = discrete(3);
  /** Physical state `[theta1, theta2, dtheta1, dtheta2]`. */
  readonly state: Float64Array = new Float64Array(4);

  /** Creates the environment; `options` set the render size. */
  constructor(options: BaseEnvOptions = {}) {
    super(options);
  }

  /** Draws the initial state (distribution in the class documentation). */
  protected initialState(rng: Rng): void {
    for (let i = 0; i < 4; i++) this.state[i] = Math.fround(rng.uniform(-0.1, 0.1));
  }

  /** Sets the physical state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    this.state.set(readState(this.id, state, 4));
  }

  /** Observation of the current state. */
  protected observe(): Float32Array {
    const s = this.state;
    return Float32Array.of(
      Math.cos(s[0]),
      Math.sin(s[0]),
      Math.cos(s[1]),
      Math.sin(s[1]),
      s[2],
      s[3],
    );
  }

  /** Whether the tip is above the bar (height 1 above the pivot). */
  isTerminal(): boolean {
    const s = this.state;
    return -Math.cos(s[0]) - Math.cos(s[1] + s[0]) > 1.0;
  }

  /** Advances the dynamics by one step. */
  protected transition(action: Action): Transition {
    const torque = ACROBOT.availTorque[discreteIndex(action, 3)];
    const ns = acrobotRk4(this.state, torque, ACROBOT.dt);
    ns[0] = wrap(ns[0], -Math.PI, Math.PI);
    ns[1] = wrap(ns[1], -Math.PI, Math.PI);
    ns[2] = Math.min(Math.max(ns[2], -ACROBOT.maxVel1), ACROBOT.maxVel1);
    ns[3] = Math.min(Math.max(ns[3], -ACROBOT.maxVel2), ACROBOT.maxVel2);
    this.state.set(ns);
    const terminated = this.isTerminal();
    return { reward: terminated ? 0.0 : -1.0, terminated };
  }

  /** Draws the current state. */
  protected draw(canvas: Canvas): void {
    drawAcrobot(canvas, this.state[0], this.state[1]);
  }
}

const WHITE: Rgb = [255, 255, 255];
const BAR: Rgb = [0, 0, 0];
const LINK: Rgb = [0, 204, 204];
const JOINT: Rgb = [204, 204, 0];

/**
 * Draws the acrobot (Gymnasium's palette: cyan links of width 0.2, yellow joints, black goal
 * bar at height 1); the view spans [-2.2, 2.2]^2.
 */
export function drawAcrobot(canvas: Canvas, theta1: number, theta2: number): void {
  const b = ACROBOT.linkLength1 + ACROBOT.linkLength2 + 0.2;
  const v = new View(canvas.width, canvas.height, -b, b, -b, b);
  canvas.clear(WHITE);
  canvas.line(v.p(-b, 1), v.p(b, 1), Math.max(1, v.len(0.03)), BAR);
  const p1: [number, number] = [
    ACROBOT.linkLength1 * Math.sin(theta1),
    -ACROBOT.linkLength1 * Math.cos(theta1),
  ];
  const p2: [number, number] = [
    p1[0] + ACROBOT.linkLength2 * Math.sin(theta1 + theta2),
    p1[1] - ACROBOT.linkLength2 * Math.cos(theta1 + theta2),
  ];
  const w = v.len(0.2);
  canvas.line(v.p(0, 0), v.p(...p1), w, LINK);
  canvas.line(v.p(...p1), v.p(...p2), w, LINK);
  canvas.fillCircle(...v.p(0, 0), v.len(0.1), JOINT);
  canvas.fillCircle(...v.p(...p1), v.len(0.1), JOINT);
}
