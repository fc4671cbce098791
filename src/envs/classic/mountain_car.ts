/**
 * MountainCarContinuous-v0: Moore's (1990) mountain car with a continuous force, Gymnasium's
 * constants (power 0.0015, gravity term 0.0025 cos 3x, |v| <= 0.07, x in [-1.2, 0.6], goal
 * x >= 0.45), reward 100 on reaching the goal minus 0.1 u^2 per step. The state is kept in
 * float32 between steps, as Gymnasium does.
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Point, Rgb } from "../render.ts";
import { View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, continuousAction } from "../types.ts";

/** Gymnasium's MountainCarContinuous constants. */
export const MOUNTAIN_CAR = {
  minAction: -1.0,
  maxAction: 1.0,
  minPosition: -1.2,
  maxPosition: 0.6,
  maxSpeed: 0.07,
  goalPosition: 0.45,
  goalVelocity: 0,
  power: 0.0015,
} as const;

/** Height of the hills at `x`: `sin(3x) * 0.45 + 0.55`. */
export function mountainHeight(x: number): number {
  return Math.sin(3 * x) * 0.45 + 0.55;
}

/**
 * Mountain car with continuous action. State / observation `[position, velocity]`; action
 * `[force]` (clipped to [-1, 1] for the dynamics; the 0.1 u^2 penalty uses the action as given,
 * like Gymnasium). Initial position uniform in [-0.6, -0.4], velocity 0. `reset({ state })`
 * takes `[position, velocity]`.
 */
export class MountainCarContinuousEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "MountainCarContinuous-v0";
  /** Observation space (layout in the class documentation). */
  readonly observationSpace: Box = box(
    [MOUNTAIN_CAR.minPosition, -MOUNTAIN_CAR.maxSpeed],
    [MOUNTAIN_CAR.maxPosition, MOUNTAIN_CAR.maxSpeed],
    [2],
  );
  /** Action space (see the class documentation). */
  readonly actionSpace: Box = box(MOUNTAIN_CAR.minAction, MOUNTAIN_CAR.maxAction, [1]);
  /** Physical state `[position, velocity]`. */
  readonly state: Float64Array = new Float64Array(2);

  /** Creates the environment; `options` set the render size. */
  constructor(options: BaseEnvOptions = {}) {
    super(options);
  }

  /** Draws the initial state (distribution in the class documentation). */
  protected initialState(rng: Rng): void {
    this.state[0] = rng.uniform(-0.6, -0.4);
    this.state[1] = 0;
  }

  /** Sets the physical state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    this.state.set(readState(this.id, state, 2));
  }

  /** Observation of the current state. */
  protected observe(): Float32Array {
    return Float32Array.from(this.state);
  }

  /** Advances the dynamics by one step. */
  protected transition(action: Action): Transition {
    const c = MOUNTAIN_CAR;
    const a = continuousAction(action, 1)[0];
    let [position, velocity] = this.state;
    const force = Math.min(Math.max(a, c.minAction), c.maxAction);
    velocity += force * c.power - 0.0025 * Math.cos(3 * position);
    if (velocity > c.maxSpeed) velocity = c.maxSpeed;
    if (velocity < -c.maxSpeed) velocity = -c.maxSpeed;
    position += velocity;
    if (position > c.maxPosition) position = c.maxPosition;
    if (position < c.minPosition) position = c.minPosition;
    if (position === c.minPosition && velocity < 0) velocity = 0;
    const terminated = position >= c.goalPosition && velocity >= c.goalVelocity;
    let reward = 0;
    if (terminated) reward = 100.0;
    reward -= a * a * 0.1;
    this.state[0] = Math.fround(position);
    this.state[1] = Math.fround(velocity);
    return { reward, terminated };
  }

  /** Draws the current state. */
  protected draw(canvas: Canvas): void {
    drawMountainCar(canvas, this.state[0]);
  }
}

const SKY: Rgb = [255, 255, 255];
const GROUND: Rgb = [186, 214, 160];
const LINE: Rgb = [0, 0, 0];
const CAR: Rgb = [0, 0, 0];
const WHEEL: Rgb = [128, 128, 128];
const FLAG: Rgb = [204, 204, 0];

/**
 * Draws the hills (filled, with a black outline), the goal flag at x = 0.45 and the car at
 * `position`, tilted along the slope. The view spans x in [-1.2, 0.6].
 */
export function drawMountainCar(canvas: Canvas, position: number): void {
  const c = MOUNTAIN_CAR;
  const v = new View(canvas.width, canvas.height, c.minPosition, c.maxPosition, -0.3, 1.5);
  canvas.clear(SKY);
  const n = 48;
  const curve: Point[] = [];
  for (let i = 0; i <= n; i++) {
    const x = c.minPosition - 0.1 + ((c.maxPosition - c.minPosition + 0.2) * i) / n;
    curve.push(v.p(x, mountainHeight(x)));
  }
  canvas.fillPolygon(
    [...curve, v.p(c.maxPosition + 0.1, -1), v.p(c.minPosition - 0.1, -1)],
    GROUND,
  );
  canvas.polyline(curve, Math.max(1, v.len(0.015)), LINE);
  // flag
  const fx = c.goalPosition;
  const fy = mountainHeight(fx);
  canvas.line(v.p(fx, fy), v.p(fx, fy + 0.2), Math.max(1, v.len(0.015)), LINE);
  canvas.fillPolygon([v.p(fx, fy + 0.2), v.p(fx, fy + 0.13), v.p(fx + 0.1, fy + 0.165)], FLAG);
  // car, tilted along the slope
  const angle = Math.atan(1.35 * Math.cos(3 * position));
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  const base = [position, mountainHeight(position)] as const;
  const at = (u: number, w: number): Point =>
    v.p(base[0] + u * ca - w * sa, base[1] + u * sa + w * ca);
  const clearance = 0.035;
  const cw = 0.2;
  const ch = 0.09;
  canvas.fillPolygon([
    at(-cw / 2, clearance),
    at(cw / 2, clearance),
    at(cw / 2, clearance + ch),
    at(-cw / 2, clearance + ch),
  ], CAR);
  const r = 0.035;
  canvas.fillCircle(...at(-cw / 3, r), v.len(r), WHEEL);
  canvas.fillCircle(...at(cw / 3, r), v.len(r), WHEEL);
}
