/**
 * Pendulum-v1: the inverted-pendulum swing-up with Gymnasium's constants (g = 10, m = l = 1,
 * dt = 0.05, |thdot| <= 8, |u| <= 2) and semi-implicit Euler integration; reward
 * `-(angle_normalize(theta)^2 + 0.1 thdot^2 + 0.001 u^2)`. Never terminates (200-step limit in
 * the registry).
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Rgb } from "../render.ts";
import { View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, continuousAction } from "../types.ts";

/** Gymnasium's Pendulum constants. */
export const PENDULUM = {
  maxSpeed: 8,
  maxTorque: 2.0,
  dt: 0.05,
  g: 10.0,
  m: 1.0,
  l: 1.0,
} as const;

/** `((x + pi) mod 2 pi) - pi` with a non-negative modulo (Python's `%`). */
export function angleNormalize(x: number): number {
  const twoPi = 2 * Math.PI;
  let r = (x + Math.PI) % twoPi;
  if (r < 0) r += twoPi;
  return r - Math.PI;
}

/**
 * Pendulum. State `[theta, theta_dot]` (theta = 0 upright, counter-clockwise positive);
 * observation `[cos theta, sin theta, theta_dot]`; action `[u]`, clipped to [-2, 2]. Initial
 * state uniform in [-pi, pi] x [-1, 1]. `reset({ state })` takes `[theta, theta_dot]`.
 */
export class PendulumEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "Pendulum-v1";
  /** Observation space (layout in the class documentation). */
  readonly observationSpace: Box = box([-1, -1, -PENDULUM.maxSpeed], [1, 1, PENDULUM.maxSpeed], [
    3,
  ]);
  /** Action space (see the class documentation). */
  readonly actionSpace: Box = box(-PENDULUM.maxTorque, PENDULUM.maxTorque, [1]);
  /** Physical state `[theta, theta_dot]`. */
  readonly state: Float64Array = new Float64Array(2);
  /** Last applied (clipped) torque, or null after a reset. */
  lastU: number | null = null;
  private readonly g: number;

  /** Creates the environment; `options` set the render size. */
  constructor(options: BaseEnvOptions & { readonly g?: number } = {}) {
    super(options);
    this.g = options.g ?? PENDULUM.g;
  }

  /** Draws the initial state (distribution in the class documentation). */
  protected initialState(rng: Rng): void {
    this.state[0] = rng.uniform(-Math.PI, Math.PI);
    this.state[1] = rng.uniform(-1, 1);
  }

  /** Sets the physical state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    this.state.set(readState(this.id, state, 2));
  }

  /** Clears per-episode bookkeeping. */
  protected override onReset(): void {
    this.lastU = null;
  }

  /** Observation of the current state. */
  protected observe(): Float32Array {
    const [th, thdot] = this.state;
    return Float32Array.of(Math.cos(th), Math.sin(th), thdot);
  }

  /** Advances the dynamics by one step. */
  protected transition(action: Action): Transition {
    const { maxSpeed, maxTorque, dt, m, l } = PENDULUM;
    const g = this.g;
    const [th, thdot] = this.state;
    const u = Math.min(Math.max(continuousAction(action, 1)[0], -maxTorque), maxTorque);
    this.lastU = u;
    const an = angleNormalize(th);
    const costs = an * an + 0.1 * thdot * thdot + 0.001 * (u * u);
    let newThdot = thdot + ((3 * g) / (2 * l) * Math.sin(th) + (3.0 / (m * l * l)) * u) * dt;
    newThdot = Math.min(Math.max(newThdot, -maxSpeed), maxSpeed);
    const newTh = th + newThdot * dt;
    this.state[0] = newTh;
    this.state[1] = newThdot;
    return { reward: -costs, terminated: false };
  }

  /** Draws the current state. */
  protected draw(canvas: Canvas): void {
    drawPendulum(canvas, this.state[0]);
  }
}

const WHITE: Rgb = [255, 255, 255];
const ROD: Rgb = [204, 77, 77];
const AXLE: Rgb = [0, 0, 0];

/**
 * Draws the pendulum rod (length 1, width 0.2, round ends, Gymnasium's red) at angle `theta`
 * from upright, counter-clockwise; the view spans [-1.3, 1.3]^2.
 */
export function drawPendulum(canvas: Canvas, theta: number): void {
  const v = new View(canvas.width, canvas.height, -1.3, 1.3, -1.3, 1.3);
  canvas.clear(WHITE);
  const tip = v.p(-Math.sin(theta), Math.cos(theta));
  canvas.capsule(v.p(0, 0), tip, v.len(0.2), ROD);
  canvas.fillCircle(...v.p(0, 0), v.len(0.05), AXLE);
}
