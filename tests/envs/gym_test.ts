/**
 * The Gymnasium bridge against real Gymnasium (live, not recorded numbers): dynamics parity of
 * our CartPole-v1 and Pendulum-v1 with Gymnasium's from the same states and actions, ALE Breakout
 * frames, HalfCheetah-v5 with kwargs and state get/set, vectors, and every failure path (crash,
 * exception mid-episode, timeout, missing interpreter / packages, unknown id) with the child
 * process reaped each time. Interpreter: see gym_helpers.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CartPoleEnv,
  type Env,
  GymBridgeError,
  GymCrashError,
  GymDependencyError,
  type GymEnv,
  GymEnvError,
  type GymMakeOptions,
  GymTimeoutError,
  GymUnknownEnvError,
  GymUnsupportedError,
  GymVectorEnv,
  makeEnv,
  type MakeEnvOptions,
  makeEnvSync,
  makeVectorEnv,
  type PendulumEnv,
  PythonNotFoundError,
  RandomPolicy,
  Rng,
  rollout,
  rolloutVector,
  SyncVectorEnv,
  type TimeLimit,
} from "../../src/envs/mod.ts";
import { assertClose } from "../util.ts";
import { FIXTURES, processGone, python, SKIP_GYM } from "./gym_helpers.ts";

const ignore = SKIP_GYM;

function gymEnv(id: string, gym: GymMakeOptions = {}, extra: MakeEnvOptions = {}): GymEnv {
  return makeEnvSync(`gym:${id}`, { ...extra, gym: { python: python(), ...gym } }) as GymEnv;
}

/** The error `fn` throws, checked to be an instance of `cls`. */
function thrown<E extends Error>(fn: () => unknown, cls: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.stack ?? e}`);
    return e;
  }
  assert.fail(`expected ${cls.name}, nothing was thrown`);
}

/** Runs `body` with a Gymnasium env and checks that its Python process is gone afterwards. */
async function withGym(env: GymEnv, body: (env: GymEnv) => void | Promise<void>): Promise<void> {
  const pid = env.pid;
  assert.ok(pid > 0);
  try {
    await body(env);
  } finally {
    env.close();
  }
  assert.ok(await processGone(pid), `the host (pid ${pid}) is still there after close()`);
}

interface Tolerance {
  /** Observations (float32), absolute and relative. */
  readonly obs: number;
  /** Rewards, relative to max(1, |reward|). */
  readonly reward: number;
  /** Float64 states after one step from the same state, relative and absolute (default 1e-12, 1e-15). */
  readonly state?: number;
}

/**
 * Steps ours and theirs with the same actions from the same state and compares every transition
 * (observation, reward, flags). With `state` (our float64 physical state), theirs is set to our
 * exact state before every step and the float64 states after it must agree (to 1e-12): a one-step
 * check of the equations that chaos cannot blur. Without it the episode runs open loop.
 */
function compareEpisode(
  ours: Env,
  theirs: GymEnv,
  initial: number[],
  act: (obs: Float32Array, t: number) => number | Float32Array,
  tol: Tolerance,
  label: string,
  state?: () => Float64Array,
): { steps: number; end: string } {
  const a = ours.reset({ state: initial });
  const b = theirs.reset({ state: initial });
  assertClose(b.obs as Float32Array, a.obs as Float32Array, { atol: tol.obs, rtol: 0, label });
  let obs = a.obs as Float32Array;
  for (let t = 0;; t++) {
    const where = `${label} step ${t}`;
    if (state) theirs.setState(state());
    const action = act(obs, t);
    const x = ours.step(action);
    const y = theirs.step(action);
    if (state) {
      assertClose(theirs.getState(), state(), {
        rtol: tol.state ?? 1e-12,
        atol: tol.state ?? 1e-15,
        label: `${where} state`,
      });
    }
    assertClose(y.obs as Float32Array, x.obs as Float32Array, {
      atol: tol.obs,
      rtol: tol.obs,
      label: `${where} obs`,
    });
    assert.ok(
      Math.abs(y.reward - x.reward) <= tol.reward * Math.max(1, Math.abs(x.reward)),
      `${where}: reward ${y.reward} (gym) vs ${x.reward} (ours)`,
    );
    assert.equal(y.terminated, x.terminated, `${where}: terminated`);
    assert.equal(y.truncated, x.truncated, `${where}: truncated`);
    obs = x.obs as Float32Array;
    if (x.terminated || x.truncated) {
      return { steps: t + 1, end: x.terminated ? "terminated" : "truncated" };
    }
  }
}

/** A controller that keeps the pole up (so episodes run into the 500-step limit). */
const balance = (o: Float32Array): number =>
  o[2] + 0.5 * o[3] + 0.01 * o[0] + 0.05 * o[1] > 0 ? 1 : 0;

Deno.test({
  name: "gym: CartPole-v1 through the bridge equals our CartPole step by step",
  ignore,
  fn: async () => {
    const ours = makeEnvSync("CartPole-v1");
    const physics = (ours as TimeLimit).unwrapped as CartPoleEnv;
    await withGym(gymEnv("CartPole-v1"), (theirs) => {
      assert.equal(theirs.id, "gym:CartPole-v1");
      assert.equal(theirs.maxEpisodeSteps, 500);
      assert.deepEqual(theirs.actionSpace, ours.actionSpace);
      assert.deepEqual(theirs.observationSpace.shape, [4]);
      assertClose(theirs.observationSpace.high, ours.observationSpace.high, { rtol: 1e-7 });
      const rng = new Rng(7);
      const ends: string[] = [];
      for (let e = 0; e < 6; e++) {
        const init = Array.from({ length: 4 }, () => rng.uniform(-0.05, 0.05));
        // Random pushes end in a fall; the balancing controller runs into the 500-step limit.
        // Open loop, the unstable upright equilibrium amplifies last-bit differences of sin/cos
        // (1e-16) to ~1e-5 over 400 steps: the per-step check (e >= 3) is the tight one.
        const r = compareEpisode(
          ours,
          theirs,
          init,
          (o) => (e >= 2 ? balance(o) : rng.int(2)),
          { obs: e >= 2 ? 1e-3 : 1e-6, reward: 0 },
          `episode ${e}`,
          e >= 3 ? () => physics.state : undefined,
        );
        ends.push(r.end);
      }
      assert.ok(ends.includes("terminated") && ends.includes("truncated"), ends.join(","));
    });
    ours.close();
  },
});

Deno.test({
  name: "gym: Pendulum-v1 through the bridge equals our Pendulum step by step",
  ignore,
  fn: async () => {
    const ours = makeEnvSync("Pendulum-v1");
    const physics = (ours as TimeLimit).unwrapped as PendulumEnv;
    await withGym(gymEnv("Pendulum-v1"), (theirs) => {
      assert.equal(theirs.maxEpisodeSteps, 200);
      const rng = new Rng(3);
      for (let e = 0; e < 4; e++) {
        const init = [rng.uniform(-Math.PI, Math.PI), rng.uniform(-1, 1)];
        // Torques beyond the [-2, 2] bounds check the clipping on both sides. Gymnasium computes
        // the torque term in float32 (NumPy keeps the float32 action's dtype in `3 / (m l^2) * u`),
        // we in float64: one step agrees to ~1e-8, not 1e-12.
        const r = compareEpisode(
          ours,
          theirs,
          init,
          () => Float32Array.of(rng.uniform(-3, 3)),
          { obs: 1e-5, reward: 1e-5, state: 1e-7 },
          `episode ${e}`,
          e >= 2 ? () => physics.state : undefined,
        );
        assert.equal(r.end, "truncated");
        assert.equal(r.steps, 200);
      }
    });
    ours.close();
  },
});

Deno.test({
  name: "gym: seeding, get/set state and a Gymnasium-side reset agree with Gymnasium's semantics",
  ignore,
  fn: async () => {
    await withGym(gymEnv("CartPole-v1"), (env) => {
      const a = env.reset({ seed: 42 }).obs;
      const b = env.reset({ seed: 42 }).obs;
      const c = env.reset().obs; // continues the stream: another state
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, c);
      const s = [0.1, -0.2, 0.03, 0.4];
      const o = env.setState(s);
      assertClose(o as Float32Array, s, { rtol: 1e-7 });
      assertClose(env.getState(), s, { rtol: 0, atol: 0 });
      assert.throws(() => env.setState([1, 2, 3]), GymBridgeError);
      env.reset({ seed: 1 });
      assert.throws(() => env.step(2), RangeError);
      assert.throws(() => env.step(0.5), RangeError);
    });
  },
});

Deno.test({
  name: "gym: ALE/Breakout-v5 gives 64x64 CHW uint8 frames (RGB and grayscale), vectors too",
  ignore,
  fn: async () => {
    await withGym(gymEnv("ALE/Breakout-v5"), (env) => {
      assert.deepEqual(env.observationSpace.shape, [3, 64, 64]);
      assert.equal(env.observationSpace.dtype, "uint8");
      assert.deepEqual(env.actionSpace, { kind: "discrete", n: 4 });
      assert.equal(env.maxEpisodeSteps, 27000); // ALE's 108000 frames / action repeat 4
      assert.equal(env.spec.atari, true);
      assert.equal(env.spec.frameSkip, 4);
      assert.equal(env.spec.kwargs.repeat_action_probability, 0.25);
      assert.equal(env.spec.kwargs.frameskip, 1);
      const r = env.reset({ seed: 0 });
      assert.ok(r.obs instanceof Uint8Array);
      assert.equal(r.obs.length, 3 * 64 * 64);
      assert.ok(r.obs.some((v) => v > 0), "the first frame is black");
      assert.equal(r.info.lives, 5);
      const first = Uint8Array.from(r.obs);
      let changed = false;
      let total = 0;
      for (let t = 0; t < 100; t++) {
        const s = env.step(t % 2 === 0 ? 1 : 3); // FIRE, LEFT
        assert.equal(s.obs.length, 3 * 64 * 64);
        total += s.reward;
        if (s.obs.some((v, i) => v !== first[i])) changed = true;
        assert.equal(s.terminated, false); // no life-loss termination by default
      }
      assert.ok(changed, "100 steps left the frame unchanged");
      assert.ok(total >= 0);
      const frame = env.render();
      assert.equal(frame.length, 64 * 64 * 3);
    });
    await withGym(gymEnv("ALE/Breakout-v5", { grayscale: true }, { size: 32 }), (env) => {
      assert.deepEqual(env.observationSpace.shape, [1, 32, 32]);
      assert.equal(env.reset({ seed: 0 }).obs.length, 32 * 32);
    });
    const venv = await makeVectorEnv("gym:ALE/Breakout-v5", {
      numEnvs: 2,
      gym: { python: python() },
    });
    const pid = (venv as GymVectorEnv).pid;
    try {
      const r = venv.reset({ seed: 0 });
      assert.equal(r.obs.length, 2 * 3 * 64 * 64);
      const s = venv.step(new Int32Array([1, 0]));
      assert.equal(s.obs.length, 2 * 3 * 64 * 64);
      assert.equal(s.rewards.length, 2);
    } finally {
      venv.close();
    }
    assert.ok(await processGone(pid));
  },
});

/** Area average (each output pixel the mean over its footprint), written here independently. */
function areaResize(src: Uint8Array, h: number, w: number, size: number): Float64Array {
  const out = new Float64Array(3 * size * size);
  const sy = h / size, sx = w / size;
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let y = Math.floor(oy * sy); y < Math.min(h, Math.ceil((oy + 1) * sy)); y++) {
          const wy = Math.min((oy + 1) * sy, y + 1) - Math.max(oy * sy, y);
          for (let x = Math.floor(ox * sx); x < Math.min(w, Math.ceil((ox + 1) * sx)); x++) {
            const wx = Math.min((ox + 1) * sx, x + 1) - Math.max(ox * sx, x);
            acc += wy * wx * src[(y * w + x) * 3 + c];
          }
        }
        out[(c * size + oy) * size + ox] = acc / (sy * sx);
      }
    }
  }
  return out;
}

Deno.test({
  name: "gym: Atari frames are the area average of the screen (CHW), render() the same frame HWC",
  ignore,
  fn: async () => {
    await withGym(gymEnv("ALE/Breakout-v5"), (env) => {
      const { obs } = env.reset({ seed: 3 }); // after a reset both pooled frames are this screen
      const screen = env.renderNative();
      assert.deepEqual([screen.height, screen.width], [210, 160]);
      const want = areaResize(screen.data, 210, 160, 64);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(obs[i] - want[i]));
      assert.ok(worst <= 0.5 + 1e-3, `largest difference ${worst}`); // rounding only
      const hwc = env.render();
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < 64 * 64; p++) assert.equal(hwc[p * 3 + c], obs[c * 4096 + p]);
      }
    });
  },
});

Deno.test({
  name: "gym: Atari life loss ends the episode only with terminalOnLifeLoss",
  ignore,
  fn: () => {
    const plain = gymEnv("ALE/Breakout-v5");
    const lifeLoss = gymEnv("ALE/Breakout-v5", { terminalOnLifeLoss: true });
    try {
      plain.reset({ seed: 9 });
      lifeLoss.reset({ seed: 9 });
      const rng = new Rng(9);
      let t = 0;
      for (; t < 2000; t++) {
        const a = rng.int(4);
        const x = plain.step(a);
        const y = lifeLoss.step(a);
        if (y.terminated) {
          // (the terminating step stops repeating the action at the lost life: frames differ)
          assert.equal(y.info.lives, 4);
          assert.equal(x.info.lives, 4);
          assert.equal(x.terminated, false); // default: a lost life goes on
          break;
        }
        assert.deepEqual(y.obs, x.obs, `step ${t}: the same seed and actions give the same frames`);
      }
      assert.ok(t < 2000, "no life was lost in 2000 random steps");
    } finally {
      plain.close();
      lifeLoss.close();
    }
  },
});

Deno.test({
  name: "gym: HalfCheetah-v5 runs, takes kwargs, and its qpos/qvel state can be read and set",
  ignore,
  fn: async () => {
    const kwargs = { reset_noise_scale: 0 };
    await withGym(gymEnv("HalfCheetah-v5", {}, { kwargs }), async (env) => {
      assert.deepEqual(env.observationSpace.shape, [17]);
      assert.equal(env.actionSpace.kind, "box");
      assert.deepEqual(env.actionSpace.kind === "box" && env.actionSpace.shape, [6]);
      assert.equal(env.maxEpisodeSteps, 1000);
      assert.deepEqual(env.spec.state, { kind: "mujoco", nq: 9, nv: 9 });
      const r = env.reset({ seed: 0 });
      // No reset noise: the initial state is the model's qpos0 and zero velocities.
      assert.ok(Array.from(r.obs).every((v) => v === 0), `obs ${r.obs}`);
      const rng = new Rng(0);
      const actions = Array.from(
        { length: 20 },
        () => Float32Array.from({ length: 6 }, () => rng.uniform(-1, 1)),
      );
      const first = actions.map((a) => env.step(a));
      const mid = env.getState();
      assert.equal(mid.length, 18);
      // Setting a state replays the same transitions (a second process from that state).
      await withGym(gymEnv("HalfCheetah-v5", {}, { kwargs }), (other) => {
        other.reset({ seed: 5 });
        other.setState(mid);
        const again = env.step(actions[0]);
        const copy = other.step(actions[0]);
        assertClose(copy.obs as Float32Array, again.obs as Float32Array, {
          rtol: 1e-6,
          atol: 1e-9,
        });
        assert.equal(copy.reward, again.reward);
      });
      assert.ok(first.every((s) => !s.terminated && !s.truncated));
      assert.ok(first.some((s) => s.reward !== 0));
      env.reset({ state: mid });
      assertClose(env.getState(), mid, { rtol: 0, atol: 0 });
    });
  },
});

Deno.test({
  name: "gym: vectors autoreset on the same step, like SyncVectorEnv of built-ins",
  ignore,
  fn: () => {
    const n = 3;
    const venv = GymVectorEnv.create("CartPole-v1", n, { python: python() });
    const ours = new SyncVectorEnv([0, 1, 2].map(() => makeEnvSync("CartPole-v1")));
    try {
      assert.equal(venv.numEnvs, n);
      for (const v of [venv, ours] as const) {
        const r = v.reset({ seed: 10 });
        assert.equal(r.obs.length, n * 4);
        let ended = 0;
        for (let t = 0; t < 60; t++) {
          const s = v.step(new Int32Array(n).fill(t % 3 === 0 ? 0 : 1));
          for (let i = 0; i < n; i++) {
            const done = s.terminated[i] === 1 || s.truncated[i] === 1;
            assert.equal(s.finalObs[i] !== null, done, `${v.id} env ${i} step ${t}`);
            if (done) {
              ended++;
              // The row holds the next episode's first observation: near the origin again.
              const row = (s.obs as Float32Array).subarray(i * 4, i * 4 + 4);
              assert.ok(row.every((x) => Math.abs(x) <= 0.05), `${v.id} reset row ${row}`);
              assert.ok(Math.abs((s.finalObs[i] as Float32Array)[2]) > 0.2);
            }
          }
        }
        assert.ok(ended >= n, `${v.id}: only ${ended} episodes ended`);
      }
      // Seeds: environment i gets seed + i, as single environments seeded so.
      const single = gymEnv("CartPole-v1");
      try {
        const r = venv.reset({ seed: 20 });
        assert.deepEqual(
          Array.from((r.obs as Float32Array).subarray(4, 8)),
          Array.from(single.reset({ seed: 21 }).obs),
        );
      } finally {
        single.close();
      }
    } finally {
      venv.close();
      ours.close();
    }
  },
});

Deno.test({
  name: "gym: rolloutVector through one host equals a rollout of each environment alone",
  ignore,
  fn: async () => {
    const T = 120;
    const venv = await makeVectorEnv("gym:CartPole-v1", { numEnvs: 2, gym: { python: python() } });
    try {
      const data = rolloutVector(
        venv,
        [0, 1].map((i) => new RandomPolicy(venv.actionSpace, i)),
        T,
        3,
      );
      for (let i = 0; i < 2; i++) {
        const single = gymEnv("CartPole-v1");
        try {
          const alone = rollout(single, new RandomPolicy(venv.actionSpace, i), T, 3 + i);
          for (const k of ["obs", "actions", "rewards", "dones", "terminated", "firsts"] as const) {
            assert.deepEqual(data[i][k], alone[k], `env ${i}: ${k}`);
          }
          assert.ok(alone.episodeReturns.length >= 2);
        } finally {
          single.close();
        }
      }
    } finally {
      venv.close();
    }
    const atari = await makeVectorEnv("gym:ALE/Breakout-v5", {
      numEnvs: 2,
      gym: { python: python() },
    });
    try {
      const data = rolloutVector(atari, new RandomPolicy(atari.actionSpace, 0), 30, 0);
      assert.equal(data[1].obsDtype, "uint8");
      assert.equal(data[1].obs.length, 30 * 3 * 64 * 64);
      assert.deepEqual(data[1].obsShape, [3, 64, 64]);
    } finally {
      atari.close();
    }
  },
});

Deno.test({
  name: "gym: an environment raising mid-episode gives GymEnvError with the traceback's last line",
  ignore,
  fn: async () => {
    await withGym(
      gymEnv("worldflux_test_envs:WorldfluxCrash-v0", { pythonPath: [FIXTURES] }),
      (env) => {
        env.reset({ seed: 0 });
        env.step(0);
        env.step(1);
        const e = thrown(() => env.step(0), GymEnvError);
        assert.match(e.message, /RuntimeError: boom at step 3/);
        assert.equal(e.pythonType, "builtins.RuntimeError");
        assert.match(e.traceback, /worldflux_test_envs\.py/);
        // The host survived: the next episode runs.
        env.reset();
        env.step(0);
      },
    );
  },
});

Deno.test({
  name: "gym: a host that dies gives GymCrashError with its last stderr line and exit code",
  ignore,
  fn: async () => {
    const env = gymEnv("worldflux_test_envs:WorldfluxExit-v0", { pythonPath: [FIXTURES] });
    const pid = env.pid;
    env.reset();
    env.step(0);
    const err = thrown(() => env.step(0), GymCrashError);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /fatal: simulated crash of the environment/);
    assert.ok(await processGone(pid));
    assert.throws(() => env.step(0), GymBridgeError); // the environment is unusable now
    env.close();
  },
});

Deno.test({
  name: "gym: a reply that does not come gives GymTimeoutError and the host is killed",
  ignore,
  fn: async () => {
    const env = gymEnv("worldflux_test_envs:WorldfluxSleep-v0", {
      pythonPath: [FIXTURES],
      timeoutMs: 500,
    });
    const pid = env.pid;
    env.reset();
    const t0 = performance.now();
    assert.throws(() => env.step(0), GymTimeoutError);
    assert.ok(performance.now() - t0 < 20_000);
    assert.ok(await processGone(pid), "the sleeping host was not killed");
    env.close();
  },
});

Deno.test({
  name: "gym: prints of an environment go to stderr and do not disturb the protocol",
  ignore,
  fn: async () => {
    await withGym(
      gymEnv("worldflux_test_envs:WorldfluxPrint-v0", { pythonPath: [FIXTURES] }),
      (env) => {
        env.reset({ seed: 0 });
        let steps = 0;
        for (;;) {
          const s = env.step(1);
          steps++;
          assert.equal(s.reward, 1);
          assert.equal(s.info.t, steps);
          if (s.terminated) break;
        }
        assert.equal(steps, 5);
        assert.throws(() => env.step(1), /finished episode/);
      },
    );
  },
});

const IMAGE = "worldflux_test_envs:WorldfluxImage-v0";
const picture = (y: number, x: number, c: number, t: number) => (7 * y + 3 * x + 50 * c + t) % 256;

Deno.test({
  name: "gym: image observation spaces arrive CHW; a discrete start is shifted to 0..n-1",
  ignore,
  fn: async () => {
    await withGym(gymEnv(IMAGE, { pythonPath: [FIXTURES] }), (env) => {
      assert.deepEqual(env.observationSpace.shape, [3, 24, 32]);
      assert.equal(env.observationSpace.dtype, "uint8");
      assert.deepEqual(env.actionSpace, { kind: "discrete", n: 3 });
      assert.equal(env.maxEpisodeSteps, 9);
      const { obs } = env.reset({ seed: 0 });
      for (const [y, x, c] of [[0, 0, 0], [5, 7, 1], [23, 31, 2]]) {
        assert.equal(obs[(c * 24 + y) * 32 + x], picture(y, x, c, 0));
      }
      assert.equal(env.step(0).reward, -1); // index 0 is Gymnasium's action -1
      const s = env.step(2);
      assert.equal(s.reward, 1);
      assert.equal(s.obs[0], picture(0, 0, 0, 2));
    });
    await withGym(
      gymEnv(IMAGE, { pythonPath: [FIXTURES], grayscale: true }, { size: 16 }),
      (env) => {
        assert.deepEqual(env.observationSpace.shape, [1, 16, 16]);
        assert.equal(env.reset().obs.length, 256);
      },
    );
  },
});

Deno.test({
  name: "gym: pixels observe the rendered frame; frameSkip repeats in Python within the time limit",
  ignore,
  fn: async () => {
    await withGym(
      gymEnv(IMAGE, { pythonPath: [FIXTURES] }, { pixels: true, size: 20, frameSkip: 2 }),
      (env) => {
        assert.deepEqual(env.observationSpace.shape, [3, 20, 20]);
        assert.equal(env.maxEpisodeSteps, 5); // ceil(9 / 2)
        const { obs } = env.reset({ seed: 0 });
        const screen = env.renderNative();
        assert.deepEqual([screen.height, screen.width], [40, 30]);
        const want = areaResize(screen.data, 40, 30, 20);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(obs[i] - want[i]) <= 0.5 + 1e-3);
        const rewards: number[] = [];
        let last;
        do {
          last = env.step(2); // +1 per base step
          rewards.push(last.reward);
        } while (!last.terminated && !last.truncated);
        assert.deepEqual(rewards, [2, 2, 2, 2, 1]); // the 9th base step hits the limit
        assert.equal(last.truncated, true);
        assert.equal(last.info.t, 9);
        assert.equal(env.render().length, 20 * 20 * 3);
      },
    );
  },
});

Deno.test({
  name: "gym: Dict observations need flatten (Gymnasium's FlattenObservation)",
  ignore,
  fn: async () => {
    const e = thrown(
      () => gymEnv("worldflux_test_envs:WorldfluxDict-v0", { pythonPath: [FIXTURES] }),
      GymUnsupportedError,
    );
    assert.match(e.message, /flatten: true/);
    await withGym(
      gymEnv("worldflux_test_envs:WorldfluxDict-v0", { pythonPath: [FIXTURES], flatten: true }),
      (env) => {
        assert.deepEqual(env.observationSpace.shape, [5]);
        assert.deepEqual(Array.from(env.reset().obs), [0.5, -0.5, 0, 0, 1]);
      },
    );
  },
});

Deno.test({
  name: "gym: a missing interpreter gives PythonNotFoundError",
  ignore,
  fn: () => {
    const err = thrown(
      () => makeEnvSync("gym:CartPole-v1", { gym: { python: "/nonexistent/worldflux-python3" } }),
      PythonNotFoundError,
    );
    assert.match(err.message, /nonexistent\/worldflux-python3.*WORLDFLUX_PYTHON/s);
  },
});

Deno.test({
  name: "gym: missing packages give GymDependencyError naming what to install",
  ignore,
  fn: async () => {
    // An interpreter without site-packages (-S) has neither gymnasium nor numpy.
    const dir = await Deno.makeTempDir();
    try {
      const bare = join(dir, "bare-python");
      await Deno.writeTextFile(bare, `#!/bin/sh\nexec "${python()}" -S "$@"\n`);
      await Deno.chmod(bare, 0o755);
      const e1 = thrown(
        () => makeEnvSync("gym:CartPole-v1", { gym: { python: bare } }),
        GymDependencyError,
      );
      assert.deepEqual([...e1.missing].sort(), ["gymnasium", "numpy"]);
      assert.match(e1.message, /-m pip install gymnasium numpy /);
      assert.match(e1.message, /--index-url file:\/\/\/opt\/pypi\/simple/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    // A missing extra: ale-py (shadowed by a module that fails to import).
    const e2 = thrown(
      () => gymEnv("ALE/Breakout-v5", { pythonPath: [join(FIXTURES, "shadow_ale")] }),
      GymDependencyError,
    );
    assert.match(e2.message, /pip install ale-py/);
    const e3 = thrown(
      () => gymEnv("HalfCheetah-v5", { pythonPath: [join(FIXTURES, "shadow_mujoco")] }),
      GymDependencyError,
    );
    assert.match(e3.message, /pip install "gymnasium\[mujoco\]"/);
  },
});

Deno.test({
  name: "gym: an unknown id gives GymUnknownEnvError with close registered ids",
  ignore,
  fn: async () => {
    const e = thrown(() => gymEnv("CartPol-v1"), GymUnknownEnvError);
    assert.match(e.message, /CartPole-v1/);
    assert.equal(e.envId, "CartPol-v1");
    assert.throws(() => gymEnv("NoSuchNamespace/Nothing-v0"), GymUnknownEnvError);
    await assert.rejects(() => makeEnv("gym:"), RangeError);
    assert.throws(() => makeEnvSync("CartPole-v1", { gym: {} }), RangeError);
  },
});

Deno.test({
  name: "gym: normalizeActions wraps a Gymnasium Box action space in TypeScript",
  ignore,
  fn: async () => {
    const env = await makeEnv("gym:Pendulum-v1", {
      normalizeActions: true,
      gym: { python: python() },
    });
    try {
      assert.deepEqual(env.actionSpace.kind === "box" && Array.from(env.actionSpace.high), [1]);
      env.reset({ seed: 0 });
      const s = env.step([1]);
      assert.equal(s.obs.length, 3);
    } finally {
      env.close();
    }
  },
});

async function runScript(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "script.ts");
  await Deno.writeTextFile(file, code);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", "--config", denoJson, file],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const out = await child.output();
  await Deno.remove(dir, { recursive: true });
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const registryUrl = new URL("../../src/envs/registry.ts", import.meta.url).href;
const denoJson = fileURLToPath(new URL("../../deno.json", import.meta.url));

Deno.test({
  name:
    "gym: the host is reaped when the program ends without close(), and on SIGTERM in a busy loop",
  ignore,
  fn: async () => {
    const py = JSON.stringify(python());
    // 1. The program forgets close(): it still ends, and its host with it.
    const forgot = await runScript(`
      import { makeEnv } from ${JSON.stringify(registryUrl)};
      const env = await makeEnv("gym:CartPole-v1", { gym: { python: ${py} } });
      env.reset({ seed: 0 });
      console.log("pid", env.pid);
    `);
    assert.equal(forgot.code, 0, forgot.stderr);
    const pid1 = Number(/pid (\d+)/.exec(forgot.stdout)?.[1]);
    assert.ok(pid1 > 0, forgot.stdout);
    assert.ok(await processGone(pid1), "the host outlived its program");
    // 2. SIGTERM while the program is busy in a synchronous loop (a training run stepping the
    // environment): the program ends at once and its host with it. A signal listener on the
    // event loop would never run here (the run would go on). SIGINT takes the same path when it
    // is not ignored; a test cannot rely on that (a shell starts background jobs with SIGINT
    // ignored, and children inherit it).
    for (const signal of ["SIGTERM"] as const) {
      const dir = await Deno.makeTempDir();
      const file = join(dir, "script.ts");
      await Deno.writeTextFile(
        file,
        `
      import { makeEnv } from ${JSON.stringify(registryUrl)};
      const env = await makeEnv("gym:CartPole-v1", { gym: { python: ${py} } });
      env.reset({ seed: 0 });
      console.log("pid", env.pid);
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        const r = env.step(0);
        if (r.terminated || r.truncated) env.reset();
      }
    `,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", "--config", denoJson, file],
        stdout: "piped",
        stderr: "piped",
        stdin: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      let text = "";
      while (!/pid \d+\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const pid2 = Number(/pid (\d+)/.exec(text)?.[1]);
      assert.ok(pid2 > 0, text);
      const t0 = performance.now();
      child.kill(signal);
      const status = await child.status;
      const waited = performance.now() - t0;
      await child.stdout.cancel();
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
      assert.equal(status.success, false);
      assert.ok(
        status.signal === signal || status.code === 143,
        `${signal}: ${JSON.stringify(status)}`,
      );
      // not a timing assert: a program that ignored the signal would run its 60 s loop out
      assert.ok(waited < 30_000, `${signal} did not end the program (it ran ${waited} ms)`);
      // the host sees the end of its request pipe and exits (seconds on a loaded machine)
      assert.ok(await processGone(pid2, 20_000), `the host outlived a program ended by ${signal}`);
    }
  },
});
