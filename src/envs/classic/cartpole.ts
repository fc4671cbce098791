/**
 * CartPole-v1: the cart-pole balancing task of Barto, Sutton & Anderson (1983), with
 * Gymnasium's constants, explicit Euler integration (tau = 0.02 s), termination at
 * |x| > 2.4 or |theta| > 12 degrees, reward 1 per step (including the terminating one).
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Rgb } from "../render.ts";
import { View } from "../render.ts";
import type { Rng } from "../../rng.ts";
import { type Action, type Box, box, type Discrete, discrete, discreteIndex } from "../types.ts";

/** Gymnasium's CartPole constants. */
export const CARTPOLE = {
  gravity: 9.8,
  massCart: 1.0,
  massPole: 0.1,
  /** Half the pole's length (m). */
  length: 0.5,
  forceMag: 10.0,
  tau: 0.02,
  thetaThreshold: (12 * 2 * Math.PI) / 360,
  xThreshold: 2.4,
} as const;

/**
 * Cart-pole. State / observation `[x, x_dot, theta, theta_dot]` (theta = 0 upright, positive
 * clockwise: the pole leans towards +x); actions 0 (push left, -10 N) and 1 (push right).
 * Initial state uniform in [-0.05, 0.05]^4. `reset({ state })` takes the 4 state values.
 */
export class CartPoleEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "CartPole-v1";
  /** Observation space (layout in the class documentation). */
  readonly observationSpace: Box = box(
    [-4.8, -Infinity, -CARTPOLE.thetaThreshold * 2, -Infinity],
    [4.8, Infinity, CARTPOLE.thetaThreshold * 2, Infinity],
    [4],
  );
  /** Action space (see the class documentation). */
  readonly actionSpace: Discrete = discrete(2);
  /** Physical state `[x, x_dot, theta, theta_dot]` (float64, as Gymnasium keeps it). */
  readonly state: Float64Array = new Float64Array(4);
  private stepsBeyondTerminated: number | null = null;

  /** Creates the environment; `options` set the render size. */
  constructor(options: BaseEnvOptions = {}) {
    super(options);
  }

  /** Draws the initial state (distribution in the class documentation). */
  protected initialState(rng: Rng): void {
    for (let i = 0; i < 4; i++) this.state[i] = rng.uniform(-0.05, 0.05);
  }

  /** Sets the physical state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    this.state.set(readState(this.id, state, 4));
  }

  /** Clears per-episode bookkeeping. */
  protected override onReset(): void {
    this.stepsBeyondTerminated = null;
  }

  /** Observation of the current state. */
  protected observe(): Float32Array {
    return Float32Array.from(this.state);
  }

  /** Advances the dynamics by one step. */
  protected transition(action: Action): Transition {
    const a = discreteIndex(action, 2);
    const { gravity, massCart, massPole, length, forceMag, tau } = CARTPOLE;
    const totalMass = massPole + massCart;
    const poleMassLength = massPole * length;
    let [x, xDot, theta, thetaDot] = this.state;
    const force = a === 1 ? forceMag : -forceMag;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const temp = (force + poleMassLength * thetaDot * thetaDot * sin) / totalMass;
    const thetaAcc = (gravity * sin - cos * temp) /
      (length * (4.0 / 3.0 - (massPole * cos * cos) / totalMass));
    const xAcc = temp - (poleMassLength * thetaAcc * cos) / totalMass;
    x = x + tau * xDot;
    xDot = xDot + tau * xAcc;
    theta = theta + tau * thetaDot;
    thetaDot = thetaDot + tau * thetaAcc;
    this.state.set([x, xDot, theta, thetaDot]);
    const terminated = x < -CARTPOLE.xThreshold || x > CARTPOLE.xThreshold ||
      theta < -CARTPOLE.thetaThreshold || theta > CARTPOLE.thetaThreshold;
    let reward: number;
    if (!terminated) reward = 1.0;
    else if (this.stepsBeyondTerminated === null) {
      this.stepsBeyondTerminated = 0;
      reward = 1.0;
    } else {
      this.stepsBeyondTerminated += 1;
      reward = 0.0;
    }
    return { reward, terminated };
  }

  /** Draws the current state. */
  protected draw(canvas: Canvas): void {
    drawCartPole(canvas, this.state[0], this.state[2]);
  }
}

const WHITE: Rgb = [255, 255, 255];
const TRACK: Rgb = [0, 0, 0];
const CART: Rgb = [0, 0, 0];
const POLE: Rgb = [202, 152, 101];
const AXLE: Rgb = [129, 132, 203];

/**
 * Draws a cart at `x` with its pole at angle `theta` (Gymnasium's palette: black cart, tan pole,
 * violet axle, black track). The view spans x in [-2.4, 2.4]; sizes are enlarged a little so
 * the pole stays at least ~2 px wide at 64x64.
 */
export function drawCartPole(canvas: Canvas, x: number, theta: number): void {
  const v = new View(canvas.width, canvas.height, -2.4, 2.4, -1.9, 2.9);
  const px = v.scale;
  canvas.clear(WHITE);
  canvas.line(v.p(-2.4, 0), v.p(2.4, 0), Math.max(1, 0.03 * px), TRACK);
  const cw = 0.6;
  const ch = 0.36;
  canvas.fillPolygon([
    v.p(x - cw / 2, -ch / 2),
    v.p(x + cw / 2, -ch / 2),
    v.p(x + cw / 2, ch / 2),
    v.p(x - cw / 2, ch / 2),
  ], CART);
  const axleY = ch / 4;
  const poleLen = 2 * CARTPOLE.length;
  const poleW = Math.max(0.1, 2.6 / px);
  const tip = v.p(x + poleLen * Math.sin(theta), axleY + poleLen * Math.cos(theta));
  canvas.line(v.p(x, axleY), tip, v.len(poleW), POLE);
  canvas.fillCircle(...v.p(x, axleY), v.len(poleW * 0.55), AXLE);
}
