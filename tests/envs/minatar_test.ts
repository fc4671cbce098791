/**
 * MinAtar Breakout: the rules of kenjyoung/MinAtar's `breakout.py` checked on move sequences
 * worked out by hand (walls, paddle, bricks, refill, loss of the ball), the sticky-action rule
 * against the draws of an identically seeded generator, determinism per seed, `reset({ state })`,
 * the observation layout and the picture.
 */

import assert from "node:assert/strict";
import {
  BREAKOUT_STATE_SIZE,
  contains,
  makeEnv,
  MINATAR_COLORS,
  MinAtarBreakoutEnv,
  Rng,
} from "../../src/envs/mod.ts";

const N = 10;

/** A state for `reset({ state })`; bricks as [x, y] cells, or "rows" for rows 1..3 full. */
function state(s: {
  ball: [x: number, y: number, dir: number];
  paddle: number;
  last?: [number, number];
  strike?: boolean;
  lastAction?: number;
  bricks?: readonly (readonly [number, number])[] | "rows";
}): number[] {
  const out = new Array(BREAKOUT_STATE_SIZE).fill(0);
  const [x, y, dir] = s.ball;
  const [lx, ly] = s.last ?? [x, y];
  out.splice(0, 8, x, y, dir, s.paddle, lx, ly, s.strike ? 1 : 0, s.lastAction ?? 0);
  if (s.bricks === "rows") {
    for (let i = N; i < 4 * N; i++) out[8 + i] = 1;
  } else for (const [bx, by] of s.bricks ?? []) out[8 + by * N + bx] = 1;
  return out;
}

/** The deterministic game (no sticky actions) started from `s`. */
function game(s: Parameters<typeof state>[0]): MinAtarBreakoutEnv {
  const env = new MinAtarBreakoutEnv({ stickyActionProb: 0 });
  env.reset({ state: state(s) });
  return env;
}

/** Where the channel `c` of an observation is 1, as [x, y] cells. */
function cells(obs: ArrayLike<number>, c: number): [number, number][] {
  const out: [number, number][] = [];
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) if (obs[c * N * N + y * N + x] === 1) out.push([x, y]);
  }
  return out;
}

const PADDLE = 0, BALL = 1, TRAIL = 2, BRICK = 3;
const NOOP = 0, LEFT = 1, RIGHT = 2;

function ballOf(env: MinAtarBreakoutEnv): [number, number, number] {
  return [env.ballX, env.ballY, env.ballDir];
}

Deno.test("MinAtar Breakout: spaces, no time limit, the start state of MinAtar's reset", async () => {
  const env = await makeEnv("MinAtar/Breakout-v1");
  assert.deepEqual(env.observationSpace.shape, [4, 10, 10]);
  assert.equal(env.observationSpace.dtype, "float32");
  assert.deepEqual(env.actionSpace, { kind: "discrete", n: 3 });
  assert.equal(env.maxEpisodeSteps, Infinity);
  const starts = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const { obs } = env.reset({ seed });
    assert.ok(contains(env.observationSpace, obs));
    assert.deepEqual(cells(obs, PADDLE), [[4, 9]]);
    const ball = cells(obs, BALL);
    assert.equal(ball.length, 1);
    starts.add(JSON.stringify(ball[0]));
    // the trail starts under the ball; bricks fill rows 1..3
    assert.deepEqual(cells(obs, TRAIL), ball);
    const bricks = cells(obs, BRICK);
    assert.equal(bricks.length, 30);
    assert.ok(bricks.every(([, y]) => y >= 1 && y <= 3));
  }
  // both starts occur: column 0 heading down-right, column 9 heading down-left
  assert.deepEqual([...starts].sort(), ["[0,3]", "[9,3]"]);
  const b = new MinAtarBreakoutEnv();
  for (let seed = 0; seed < 20; seed++) {
    b.reset({ seed });
    assert.equal(b.ballDir, b.ballX === 0 ? 2 : 3);
  }
});

Deno.test("MinAtar Breakout: the paddle moves one column per step and stops at the edges", () => {
  const env = game({ ball: [5, 5, 0], paddle: 1, bricks: "rows" });
  const cols = [LEFT, LEFT, NOOP, RIGHT, RIGHT].map((a) => {
    env.step(a);
    return env.paddle;
  });
  assert.deepEqual(cols, [0, 0, 0, 1, 2]);
  const r = game({ ball: [5, 5, 0], paddle: 8, bricks: "rows" });
  r.step(RIGHT);
  r.step(RIGHT);
  assert.equal(r.paddle, 9);
});

Deno.test("MinAtar Breakout: a side wall reverses the horizontal motion, the ball then falls past the paddle", () => {
  // (0,5) heading down-left: the column is clamped to 0, the direction becomes down-right.
  const env = game({ ball: [0, 5, 3], paddle: 6 });
  let r = env.step(NOOP);
  assert.deepEqual(ballOf(env), [0, 6, 2]);
  assert.deepEqual(cells(r.obs, BALL), [[0, 6]]);
  assert.deepEqual(cells(r.obs, TRAIL), [[0, 5]]);
  assert.equal(r.reward, 0);
  env.step(NOOP);
  assert.deepEqual(ballOf(env), [1, 7, 2]);
  r = env.step(NOOP);
  assert.deepEqual(ballOf(env), [2, 8, 2]);
  assert.equal(r.terminated, false);
  // row 9 at column 3: the paddle (6) is neither under the ball (2) nor at 3: lost.
  r = env.step(NOOP);
  assert.equal(r.terminated, true);
  assert.equal(r.reward, 0);
  assert.deepEqual(cells(r.obs, BALL), [[3, 9]]);
  // after the loss nothing moves and nothing is paid (MinAtar's act() on a terminal state)
  const again = env.step(LEFT);
  assert.equal(again.terminated, true);
  assert.equal(again.reward, 0);
  assert.deepEqual(again.obs, r.obs);
  // the right wall: (9,5) heading up-right becomes up-left at column 9
  const w = game({ ball: [9, 5, 1], paddle: 4 });
  w.step(NOOP);
  assert.deepEqual(ballOf(w), [9, 4, 0]);
});

Deno.test("MinAtar Breakout: the top wall reverses the vertical motion", () => {
  const env = game({ ball: [5, 0, 1], paddle: 4 });
  env.step(NOOP);
  assert.deepEqual(ballOf(env), [6, 0, 2]);
  env.step(NOOP);
  assert.deepEqual(ballOf(env), [7, 1, 2]);
  // a top corner reverses both: (0,0) heading up-left stays at (0,0), heading down-right
  const c = game({ ball: [0, 0, 0], paddle: 4 });
  c.step(NOOP);
  assert.deepEqual(ballOf(c), [0, 0, 2]);
});

Deno.test("MinAtar Breakout: paddle bounces — straight back up under the ball, back the way it came at the corner", () => {
  // The paddle under the ball's column: vertical reverse, the ball stays in row 8 and moves on.
  const straight = game({ ball: [4, 8, 2], paddle: 4, bricks: "rows" });
  let r = straight.step(NOOP);
  assert.equal(r.terminated, false);
  assert.deepEqual(ballOf(straight), [5, 8, 1]);
  straight.step(NOOP);
  assert.deepEqual(ballOf(straight), [6, 7, 1]);
  // The paddle at the target column only: both directions reverse.
  const corner = game({ ball: [3, 8, 2], paddle: 4, bricks: "rows" });
  r = corner.step(NOOP);
  assert.equal(r.terminated, false);
  assert.deepEqual(ballOf(corner), [4, 8, 0]);
  corner.step(NOOP);
  assert.deepEqual(ballOf(corner), [3, 7, 0]);
  // The paddle's move of this step counts: from 3 to 4 catches a ball falling to (4, 9).
  const moved = game({ ball: [5, 8, 3], paddle: 3, bricks: "rows" });
  r = moved.step(RIGHT);
  assert.equal(moved.paddle, 4);
  assert.equal(r.terminated, false);
  assert.deepEqual(ballOf(moved), [4, 8, 1]);
  // ... and moving away loses it.
  const away = game({ ball: [5, 8, 3], paddle: 4, bricks: "rows" });
  assert.equal(away.step(LEFT).terminated, true);
});

Deno.test("MinAtar Breakout: a brick is broken for reward 1 and reflects the ball", () => {
  const env = game({ ball: [5, 4, 0], paddle: 4, bricks: "rows" });
  let r = env.step(NOOP);
  assert.equal(r.reward, 1);
  assert.equal(r.terminated, false);
  // the ball stays in row 4, moves to column 4 and now heads down-left
  assert.deepEqual(ballOf(env), [4, 4, 3]);
  assert.equal(env.strike, true);
  const bricks = cells(r.obs, BRICK);
  assert.equal(bricks.length, 29);
  assert.ok(!bricks.some(([x, y]) => x === 4 && y === 3));
  r = env.step(NOOP);
  assert.equal(r.reward, 0);
  assert.deepEqual(ballOf(env), [3, 5, 3]);
  assert.equal(env.strike, false);
  // From above: (5,0) heading down-left breaks (4,1) and goes back up.
  const top = game({ ball: [5, 0, 3], paddle: 4, bricks: "rows" });
  r = top.step(NOOP);
  assert.equal(r.reward, 1);
  assert.deepEqual(ballOf(top), [4, 0, 0]);
});

Deno.test("MinAtar Breakout: right after a strike the ball passes into the next brick without breaking it", () => {
  const env = game({ ball: [5, 4, 0], paddle: 4, strike: true, bricks: "rows" });
  let r = env.step(NOOP);
  assert.equal(r.reward, 0);
  assert.deepEqual(ballOf(env), [4, 3, 0]);
  assert.equal(cells(r.obs, BRICK).length, 30);
  assert.equal(env.strike, true);
  // still struck: it passes through (3, 2) and (2, 1) too, then reaches the empty row 0
  r = env.step(NOOP);
  assert.deepEqual(ballOf(env), [3, 2, 0]);
  r = env.step(NOOP);
  assert.deepEqual(ballOf(env), [2, 1, 0]);
  r = env.step(NOOP);
  assert.deepEqual(ballOf(env), [1, 0, 0]);
  assert.equal(env.strike, false);
  assert.equal(r.reward, 0);
  assert.equal(cells(r.obs, BRICK).length, 30);
});

Deno.test("MinAtar Breakout: the rows are refilled when the ball reaches the bottom with no brick left", () => {
  const env = game({ ball: [4, 8, 2], paddle: 4, bricks: [] });
  const r = env.step(NOOP);
  assert.equal(r.terminated, false);
  const bricks = cells(r.obs, BRICK);
  assert.equal(bricks.length, 30);
  assert.ok(bricks.every(([, y]) => y >= 1 && y <= 3));
  // not while one brick is left
  const one = game({ ball: [4, 8, 2], paddle: 4, bricks: [[7, 2]] });
  assert.deepEqual(cells(one.step(NOOP).obs, BRICK), [[7, 2]]);
  // not before the ball reaches row 9
  const mid = game({ ball: [4, 5, 2], paddle: 4, bricks: [] });
  assert.equal(cells(mid.step(NOOP).obs, BRICK).length, 0);
  // the refill happens before the paddle check, so also on the losing step
  const lost = game({ ball: [1, 8, 2], paddle: 8, bricks: [] });
  const l = lost.step(NOOP);
  assert.equal(l.terminated, true);
  assert.equal(cells(l.obs, BRICK).length, 30);
});

Deno.test("MinAtar Breakout: clearing the last brick, a wall, then a refill at the paddle (a hand-played sequence)", () => {
  // One brick left at (2,3); the ball at (4,5) heading up-left hits it on the second step.
  const env = game({ ball: [4, 5, 0], paddle: 6, bricks: [[2, 3]] });
  const actions = [NOOP, NOOP, LEFT, LEFT, LEFT, LEFT, LEFT, NOOP];
  const seq = actions.map((a) => {
    const r = env.step(a);
    return {
      ball: ballOf(env),
      paddle: env.paddle,
      reward: r.reward,
      term: r.terminated,
      bricks: cells(r.obs, BRICK).length,
    };
  });
  assert.deepEqual(seq.map((s) => s.ball), [
    [3, 4, 0], // up-left
    [2, 4, 3], // brick (2,3) broken: stays in row 4, now down-left
    [1, 5, 3],
    [0, 6, 3],
    [0, 7, 2], // left wall: column clamped, now down-right
    [1, 8, 2],
    [2, 8, 1], // row 9 with the paddle (1) under the ball's column (1): straight back up
    [3, 7, 1],
  ]);
  assert.deepEqual(seq.map((s) => s.paddle), [6, 6, 5, 4, 3, 2, 1, 1]);
  assert.deepEqual(seq.map((s) => s.reward), [0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(seq.map((s) => s.term), actions.map(() => false));
  // the last brick goes at step 2; the rows come back when the ball reaches the bottom (step 7)
  assert.deepEqual(seq.map((s) => s.bricks), [1, 0, 0, 0, 0, 0, 30, 30]);
});

Deno.test("MinAtar Breakout: sticky actions repeat the previous executed action with probability 0.1", () => {
  const env = new MinAtarBreakoutEnv();
  assert.equal(env.stickyActionProb, 0.1);
  const seed = 3;
  env.reset({ seed });
  // The same generator, drawn in the same order: the start side, then one draw per step.
  const rng = new Rng(seed);
  rng.int(2);
  let prev = NOOP;
  let paddle = 4;
  let sticky = 0;
  const steps = 400;
  const chosen = new Rng(99);
  for (let t = 0; t < steps; t++) {
    const a = chosen.int(3);
    const repeat = rng.uniform() < 0.1;
    const executed = repeat ? prev : a;
    if (repeat && executed !== a) sticky++;
    prev = executed;
    paddle = executed === LEFT
      ? Math.max(0, paddle - 1)
      : executed === RIGHT
      ? Math.min(9, paddle + 1)
      : paddle;
    const r = env.step(a);
    assert.equal(env.lastAction, executed, `step ${t}`);
    assert.equal(env.paddle, paddle, `step ${t}`);
    if (r.terminated) {
      // an unseeded reset draws the start side and keeps the previous action
      env.reset();
      rng.int(2);
      paddle = 4;
    }
  }
  assert.ok(sticky > 0, "no step was sticky with an effect: the test saw nothing");
  // With probability 1 the first executed action repeats forever; with 0 never.
  const always = new MinAtarBreakoutEnv({ stickyActionProb: 1 });
  always.reset({ state: state({ ball: [5, 5, 0], paddle: 4, lastAction: RIGHT, bricks: "rows" }) });
  always.step(LEFT);
  always.step(LEFT);
  assert.equal(always.paddle, 6);
  const never = game({ ball: [5, 5, 0], paddle: 4, lastAction: RIGHT, bricks: "rows" });
  never.step(LEFT);
  assert.equal(never.paddle, 3);
  assert.throws(() => new MinAtarBreakoutEnv({ stickyActionProb: 1.5 }), /stickyActionProb/);
});

Deno.test("MinAtar Breakout: seeded resets clear the sticky action, unseeded ones keep it", () => {
  const env = new MinAtarBreakoutEnv({ stickyActionProb: 1 });
  env.reset({ seed: 0 });
  assert.equal(env.lastAction, NOOP);
  env.reset({ state: state({ ball: [5, 5, 0], paddle: 4, lastAction: LEFT, bricks: "rows" }) });
  env.step(RIGHT); // sticky: LEFT again
  assert.equal(env.paddle, 3);
  env.reset();
  assert.equal(env.lastAction, LEFT);
  env.reset({ seed: 1 });
  assert.equal(env.lastAction, NOOP);
});

Deno.test("MinAtar Breakout: same seed and actions, same episode; different seeds differ", () => {
  const play = (seed: number) => {
    const env = new MinAtarBreakoutEnv();
    const policy = new Rng(7);
    const out: number[] = [];
    let { obs } = env.reset({ seed });
    out.push(...obs);
    for (let t = 0; t < 300; t++) {
      const r = env.step(policy.int(3));
      out.push(...r.obs, r.reward, r.terminated ? 1 : 0);
      obs = r.obs;
      if (r.terminated) obs = env.reset().obs;
    }
    return out;
  };
  assert.deepEqual(play(5), play(5));
  assert.notDeepEqual(play(5), play(6));
});

Deno.test("MinAtar Breakout: reset({ state }) round-trips getState() and rejects bad states", () => {
  const env = new MinAtarBreakoutEnv({ stickyActionProb: 0 });
  env.reset({ seed: 2 });
  for (let t = 0; t < 6; t++) env.step(t % 3);
  const s = env.getState();
  const next = env.step(RIGHT);
  const copy = new MinAtarBreakoutEnv({ stickyActionProb: 0 });
  copy.reset({ state: s });
  assert.deepEqual(copy.getState(), s);
  const again = copy.step(RIGHT);
  assert.deepEqual(again.obs, next.obs);
  assert.equal(again.reward, next.reward);
  assert.deepEqual(copy.getState(), env.getState());
  // a ball in row 9 is a lost ball: the restored state is terminal
  const lost = game({ ball: [3, 9, 2], paddle: 6 });
  assert.equal(lost.terminal, true);
  assert.equal(lost.step(NOOP).terminated, true);
  assert.throws(() => env.reset({ state: [1, 2, 3] }), /state needs 108 values, got 3/);
  const bad = Array.from(s);
  bad[2] = 4;
  assert.throws(
    () => env.reset({ state: bad }),
    /state\[2\] \(ballDir\) must be an integer in 0..3, got 4/,
  );
  bad[2] = 0;
  bad[20] = 0.5;
  assert.throws(() => env.reset({ state: bad }), /brick 12/);
  bad[20] = 0;
  bad[7] = 3;
  assert.throws(() => env.reset({ state: bad }), /lastAction/);
});

Deno.test("MinAtar Breakout: the picture shows the grid in MinAtar's colours at 64x64", async () => {
  const env = await makeEnv("MinAtar/Breakout-v1");
  env.reset({
    state: state({ ball: [6, 6, 0], last: [7, 7], paddle: 2, bricks: [[0, 1], [9, 3]] }),
  });
  const img = env.render();
  assert.equal(img.length, 64 * 64 * 3);
  // the centre pixel of cell (x, y): cells are 6.4 pixels wide
  const at = (x: number, y: number) => {
    const px = Math.floor((x + 0.5) * 6.4), py = Math.floor((y + 0.5) * 6.4);
    const i = (py * 64 + px) * 3;
    return [img[i], img[i + 1], img[i + 2]];
  };
  assert.deepEqual(at(2, 9), [...MINATAR_COLORS[1]]); // paddle
  assert.deepEqual(at(6, 6), [...MINATAR_COLORS[2]]); // ball
  assert.deepEqual(at(7, 7), [...MINATAR_COLORS[3]]); // trail
  assert.deepEqual(at(0, 1), [...MINATAR_COLORS[4]]); // bricks
  assert.deepEqual(at(9, 3), [...MINATAR_COLORS[4]]);
  assert.deepEqual(at(5, 5), [0, 0, 0]); // empty
  // every pixel is one of the five colours: cell edges fall on pixel edges
  const palette = new Set(MINATAR_COLORS.map((c) => c.join(",")));
  for (let i = 0; i < img.length; i += 3) {
    assert.ok(palette.has(`${img[i]},${img[i + 1]},${img[i + 2]}`), `pixel ${i / 3}`);
  }
  // pixel observations through the wrapper
  const px = await makeEnv("MinAtar/Breakout-v1", { pixels: true });
  assert.deepEqual(px.observationSpace.shape, [3, 64, 64]);
  assert.equal(px.reset({ seed: 0 }).obs.length, 3 * 64 * 64);
});
