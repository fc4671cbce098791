/**
 * MinAtar Breakout (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed for Thorough and
 * Reproducible Reinforcement Learning Experiments"), written from the rules of its published
 * source (`kenjyoung/MinAtar`, `minatar/environments/breakout.py`, the `Environment` wrapper's
 * sticky actions and the gymnasium registration `MinAtar/Breakout-v1`).
 *
 * The game on a 10 x 10 grid (row 0 at the top, column 0 on the left):
 * - A paddle in row 9 moves one column left or right per step (clamped to 0..9).
 * - The ball moves one cell diagonally per step in one of four directions (up-left, up-right,
 *   down-right, down-left). It starts in row 3, either in column 0 heading down-right or in
 *   column 9 heading down-left (one random draw per episode).
 * - Resolution of a move, in this order:
 *   1. a column outside 0..9 is clamped and the horizontal direction reverses (the ball then
 *      moves only vertically this step);
 *   2. a row above 0 is clamped to 0 and the vertical direction reverses; otherwise
 *   3. a brick in the target cell is broken (reward +1, the ball stays in its row, vertical
 *      direction reverses) — unless a brick was broken on the previous step, in which case the
 *      ball moves into the brick's cell and the brick stays (MinAtar's `strike` flag); otherwise
 *   4. reaching row 9: when no brick is left, rows 1..3 are refilled; if the paddle (after this
 *      step's move) is under the ball's column before the move, the ball bounces straight back
 *      up (vertical reverse, stays in its row); else if the paddle is in the target column, the
 *      ball bounces back the way it came (both directions reverse, stays in its row); else the
 *      ball is lost and the episode terminates.
 * - Reward 1 per brick; three full rows of bricks (rows 1..3) at the start.
 * - Sticky actions: before each step, with probability 0.1 the previous executed action is
 *   repeated instead of the chosen one (MinAtar's `sticky_action_prob`).
 *
 * Observation: float32 CHW `[4, 10, 10]` of 0/1, channels paddle, ball, trail (the ball's cell
 * before its last move, which shows its direction), brick — `obs[c * 100 + y * 10 + x]` equals
 * MinAtar's `state()[y, x, c]` (MinAtar is HWC; our grid and pixel observations are CHW).
 * Float32 rather than uint8 because uint8 observations mean 0..255 pixels in this library (the
 * replay buffer and the controllers divide them by 255).
 *
 * Actions: `Discrete(3)` = MinAtar's minimal action set for Breakout (no-op, left, right), which
 * is what the gymnasium id `MinAtar/Breakout-v1` exposes (`-v0` keeps all 6, three of which are
 * no-ops here). No time limit: MinAtar registers its games without `max_episode_steps`; pass
 * `maxEpisodeSteps` to `makeEnv` to cap episodes.
 *
 * One documented departure: MinAtar keeps the previous action for the sticky rule across
 * episodes (it lives in the wrapper, which `reset` does not touch). Here a seeded reset starts
 * from no-op, like a freshly built MinAtar environment, so that `reset({ seed })` alone
 * determines the episode; an unseeded reset keeps it, as MinAtar does.
 * @module
 */

import { BaseEnv, type BaseEnvOptions, readState, type Transition } from "../base.ts";
import type { Canvas, Rgb } from "../render.ts";
import type { Rng } from "../../rng.ts";
import {
  type Action,
  type Box,
  box,
  type Discrete,
  discrete,
  discreteIndex,
  type ResetOptions,
  type ResetResult,
} from "../types.ts";

/** Rules of MinAtar Breakout. */
export const MINATAR_BREAKOUT = {
  /** Side of the square grid. */
  size: 10,
  /** Observation channels, in order. */
  channels: ["paddle", "ball", "trail", "brick"] as const,
  /** Probability that the previous action is repeated instead of the chosen one. */
  stickyActionProb: 0.1,
  /** Rows filled with bricks at the start and when the last brick is gone. */
  brickRows: [1, 2, 3] as const,
  /** Row of the ball at the start of an episode. */
  startRow: 3,
  /** Column of the paddle at the start of an episode. */
  startPaddle: 4,
  /** Action indices (MinAtar's minimal action set). */
  actions: { noop: 0, left: 1, right: 2 } as const,
} as const;

/**
 * Ball directions: 0 up-left, 1 up-right, 2 down-right, 3 down-left (MinAtar's numbering); the
 * cell change of each, with y growing downwards.
 */
export const BALL_MOVES: readonly (readonly [dx: number, dy: number])[] = [
  [-1, -1],
  [1, -1],
  [1, 1],
  [-1, 1],
];

/** The direction after reversing the horizontal motion (a side wall). */
const FLIP_X = [1, 0, 3, 2] as const;
/** The direction after reversing the vertical motion (top wall, brick, straight paddle hit). */
const FLIP_Y = [3, 2, 1, 0] as const;
/** The direction after reversing both (the paddle met by the ball's corner). */
const FLIP_XY = [2, 3, 0, 1] as const;

/** Number of values of the state given to `reset({ state })` (see {@link MinAtarBreakoutEnv}). */
export const BREAKOUT_STATE_SIZE = 108;

const N = MINATAR_BREAKOUT.size;

/** Options of {@link MinAtarBreakoutEnv}. */
export interface MinAtarBreakoutOptions extends BaseEnvOptions {
  /** Probability that a step repeats the previous action (default 0.1). */
  readonly stickyActionProb?: number;
}

/**
 * MinAtar Breakout (rules in the module documentation).
 *
 * `reset({ state })` takes {@link BREAKOUT_STATE_SIZE} = 108 integers: `[ballX, ballY, ballDir,
 * paddle, lastX, lastY, strike (0/1), lastAction, ...bricks]`, `bricks` the 100 cells of the
 * row-major 10 x 10 brick map (0/1); `getState()` returns the same layout. A ball in row 9 is a
 * lost ball (the game only puts it there when it terminates), so such a state is terminal.
 *
 * ```ts
 * import { makeEnv } from "./src/envs/mod.ts";
 * const env = await makeEnv("MinAtar/Breakout-v1");
 * const { obs } = env.reset({ seed: 0 }); // Float32Array [4, 10, 10]
 * const { reward, terminated } = env.step(2); // paddle right
 * ```
 */
export class MinAtarBreakoutEnv extends BaseEnv {
  /** Registry id. */
  readonly id = "MinAtar/Breakout-v1";
  /** Observation space: float32 `[4, 10, 10]` of 0/1 (channels paddle, ball, trail, brick). */
  readonly observationSpace: Box = box(0, 1, [4, N, N]);
  /** Actions 0 no-op, 1 left, 2 right. */
  readonly actionSpace: Discrete = discrete(3);
  /** Ball column. */
  ballX = 0;
  /** Ball row. */
  ballY = 0;
  /** Ball direction (see {@link BALL_MOVES}). */
  ballDir = 0;
  /** Paddle column (the paddle is in row 9). */
  paddle = 0;
  /** Ball column before its last move (the trail). */
  lastX = 0;
  /** Ball row before its last move. */
  lastY = 0;
  /** A brick was broken on the last step (the next brick in the way is passed into). */
  strike = false;
  /** The action executed on the last step (what a sticky step repeats). */
  lastAction = 0;
  /** The ball was lost. */
  terminal = false;
  /** Bricks, row-major 10 x 10, 1 where a brick is. */
  readonly bricks: Uint8Array = new Uint8Array(N * N);

  /** Probability that a step repeats the previous action (MinAtar's `sticky_action_prob`). */
  readonly stickyActionProb: number;

  /**
   * Creates the environment; `options` set the render size and the sticky-action probability
   * (default 0.1, MinAtar's; 0 gives the deterministic game, used by the dynamics tests).
   */
  constructor(options: MinAtarBreakoutOptions = {}) {
    super(options);
    this.stickyActionProb = options.stickyActionProb ?? MINATAR_BREAKOUT.stickyActionProb;
    const p = this.stickyActionProb;
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`${this.id}: stickyActionProb must be in [0, 1], got ${p}`);
    }
  }

  /** Starts an episode; a seeded reset also clears the sticky action (module documentation). */
  override reset(options: ResetOptions = {}): ResetResult<Float32Array> {
    if (options.seed !== undefined) this.lastAction = 0;
    return super.reset(options);
  }

  /** Ball in row 3 at column 0 heading down-right or at column 9 heading down-left. */
  protected initialState(rng: Rng): void {
    const right = rng.int(2) === 1;
    this.ballX = right ? N - 1 : 0;
    this.ballDir = right ? 3 : 2;
    this.ballY = MINATAR_BREAKOUT.startRow;
    this.paddle = MINATAR_BREAKOUT.startPaddle;
    this.lastX = this.ballX;
    this.lastY = this.ballY;
    this.strike = false;
    this.terminal = false;
    this.bricks.fill(0);
    this.fillBricks();
  }

  /** Sets the state exactly (layout in the class documentation). */
  setState(state: ArrayLike<number>): void {
    const s = readState(this.id, state, BREAKOUT_STATE_SIZE);
    const int = (i: number, name: string, lo: number, hi: number): number => {
      const v = s[i];
      if (!Number.isInteger(v) || v < lo || v > hi) {
        throw new RangeError(
          `${this.id}: state[${i}] (${name}) must be an integer in ${lo}..${hi}, got ${v}`,
        );
      }
      return v;
    };
    this.ballX = int(0, "ballX", 0, N - 1);
    this.ballY = int(1, "ballY", 0, N - 1);
    this.ballDir = int(2, "ballDir", 0, 3);
    this.paddle = int(3, "paddle", 0, N - 1);
    this.lastX = int(4, "lastX", 0, N - 1);
    this.lastY = int(5, "lastY", 0, N - 1);
    this.strike = int(6, "strike", 0, 1) === 1;
    this.lastAction = int(7, "lastAction", 0, 2);
    // The ball is only ever in the bottom row once lost.
    this.terminal = this.ballY === N - 1;
    for (let i = 0; i < N * N; i++) this.bricks[i] = int(8 + i, `brick ${i}`, 0, 1);
  }

  /** The state in the layout `reset({ state })` takes. */
  getState(): Float64Array {
    const s = new Float64Array(BREAKOUT_STATE_SIZE);
    s.set([
      this.ballX,
      this.ballY,
      this.ballDir,
      this.paddle,
      this.lastX,
      this.lastY,
      this.strike ? 1 : 0,
      this.lastAction,
    ]);
    s.set(this.bricks, 8);
    return s;
  }

  /** The 0/1 grid, CHW `[4, 10, 10]`. */
  protected observe(): Float32Array {
    const o = new Float32Array(4 * N * N);
    o[this.paddle + (N - 1) * N] = 1;
    o[N * N + this.ballY * N + this.ballX] = 1;
    o[2 * N * N + this.lastY * N + this.lastX] = 1;
    for (let i = 0; i < N * N; i++) o[3 * N * N + i] = this.bricks[i];
    return o;
  }

  /** One step of the game (rules in the module documentation). */
  protected transition(action: Action): Transition {
    let a = discreteIndex(action, 3);
    // The sticky draw comes first, on every step, as in MinAtar's wrapper.
    if (this.rng.uniform() < this.stickyActionProb) a = this.lastAction;
    this.lastAction = a;
    if (this.terminal) return { reward: 0, terminated: true };
    const { left, right } = MINATAR_BREAKOUT.actions;
    if (a === left) this.paddle = Math.max(0, this.paddle - 1);
    else if (a === right) this.paddle = Math.min(N - 1, this.paddle + 1);

    let reward = 0;
    this.lastX = this.ballX;
    this.lastY = this.ballY;
    let x = this.ballX + BALL_MOVES[this.ballDir][0];
    let y = this.ballY + BALL_MOVES[this.ballDir][1];
    let struck = false;
    if (x < 0 || x > N - 1) {
      x = Math.min(Math.max(x, 0), N - 1);
      this.ballDir = FLIP_X[this.ballDir];
    }
    if (y < 0) {
      y = 0;
      this.ballDir = FLIP_Y[this.ballDir];
    } else if (this.bricks[y * N + x] === 1) {
      struck = true;
      if (!this.strike) {
        reward += 1;
        this.strike = true;
        this.bricks[y * N + x] = 0;
        y = this.lastY;
        this.ballDir = FLIP_Y[this.ballDir];
      }
    } else if (y === N - 1) {
      if (this.bricks.every((b) => b === 0)) this.fillBricks();
      if (this.ballX === this.paddle) {
        this.ballDir = FLIP_Y[this.ballDir];
        y = this.lastY;
      } else if (x === this.paddle) {
        this.ballDir = FLIP_XY[this.ballDir];
        y = this.lastY;
      } else {
        this.terminal = true;
      }
    }
    if (!struck) this.strike = false;
    this.ballX = x;
    this.ballY = y;
    return { reward, terminated: this.terminal };
  }

  /** Fills rows 1..3 with bricks. */
  private fillBricks(): void {
    for (const r of MINATAR_BREAKOUT.brickRows) this.bricks.fill(1, r * N, (r + 1) * N);
  }

  /** Draws the grid (see {@link drawBreakoutGrid}). */
  protected draw(canvas: Canvas): void {
    drawBreakoutGrid(canvas, this.observe());
  }
}

/**
 * MinAtar's display colours: black for an empty cell, then seaborn's `cubehelix` palette of 4
 * colours for the channels (what MinAtar's `rgb_array` rendering uses), a later channel drawn
 * over an earlier one (brick over trail over ball over paddle).
 */
export const MINATAR_COLORS: readonly Rgb[] = [
  [0, 0, 0],
  [22, 61, 78],
  [84, 121, 47],
  [208, 126, 147],
  [193, 202, 243],
];

/**
 * Draws a Breakout observation (CHW `[4, 10, 10]`, values 0/1 — or a model's reconstruction,
 * thresholded at 0.5) as coloured cells filling the canvas; cell edges fall on pixel edges.
 */
export function drawBreakoutGrid(canvas: Canvas, obs: ArrayLike<number>): void {
  const channels = MINATAR_BREAKOUT.channels.length;
  const n = N;
  const cells = n * n;
  if (obs.length !== channels * cells) {
    throw new RangeError(
      `drawBreakoutGrid: expected ${channels * cells} values ([${channels}, ${n}, ${n}]), ` +
        `got ${obs.length}`,
    );
  }
  canvas.clear(MINATAR_COLORS[0]);
  const edgeX = (i: number) => Math.round((i * canvas.width) / n);
  const edgeY = (i: number) => Math.round((i * canvas.height) / n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      let top = 0;
      for (let c = 0; c < channels; c++) if (obs[c * cells + y * n + x] >= 0.5) top = c + 1;
      if (top === 0) continue;
      canvas.fillRect(edgeX(x), edgeY(y), edgeX(x + 1), edgeY(y + 1), MINATAR_COLORS[top]);
    }
  }
}
