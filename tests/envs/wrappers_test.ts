/**
 * Wrappers and the registry: TimeLimit, ActionRepeat, PixelObservation, NormalizeAction,
 * DiscreteToContinuous, makeEnv / makeEnvSync options.
 */

import assert from "node:assert/strict";
import {
  ActionRepeat,
  CartPoleEnv,
  chwToHwc,
  DiscreteToContinuous,
  envSpec,
  listEnvs,
  makeEnv,
  makeEnvSync,
  NormalizeAction,
  PendulumEnv,
  PixelObservation,
  TimeLimit,
} from "../../src/envs/mod.ts";

Deno.test("registry lists the environments with their limits", () => {
  assert.deepEqual(listEnvs(), [
    "CartPole-v1",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "Acrobot-v1",
    "CartPoleSwingup-mujoco",
    "HalfCheetah-v5",
    "Hopper-v5",
    "MinAtar/Breakout-v1",
  ]);
  assert.equal(envSpec("CartPole-v1").rewardThreshold, 475);
  assert.equal(envSpec("HalfCheetah-v5").rewardThreshold, 4800);
  assert.equal(envSpec("Hopper-v5").rewardThreshold, 3800);
  assert.throws(
    () => makeEnvSync("Nope-v0"),
    /unknown environment "Nope-v0"; registered: CartPole-v1/,
  );
});

Deno.test("TimeLimit truncates on the limit-th step; custom limits; Infinity disables it", () => {
  const env = new TimeLimit(new PendulumEnv(), 3);
  env.reset({ seed: 0 });
  assert.deepEqual([0, 1, 2].map(() => env.step([0]).truncated), [false, false, true]);
  assert.equal(env.elapsedSteps, 3);
  assert.throws(() => env.step([0]), /finished episode/);
  env.reset();
  assert.equal(env.step([0]).truncated, false);
  const custom = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: 10 });
  assert.equal(custom.maxEpisodeSteps, 10);
  const none = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: Infinity });
  assert.equal(none.maxEpisodeSteps, Infinity);
  none.reset({ seed: 0 });
  for (let i = 0; i < 300; i++) assert.equal(none.step([0]).truncated, false);
});

Deno.test("ActionRepeat sums rewards, stops at episode ends and divides the limit", () => {
  const base = new TimeLimit(new PendulumEnv(), 200);
  const rep = new ActionRepeat(base, 4);
  assert.equal(rep.maxEpisodeSteps, 50);
  const plain = new PendulumEnv();
  rep.reset({ state: [1, 0] });
  plain.reset({ state: [1, 0] });
  const r = rep.step([0.5]);
  let sum = 0;
  let last;
  for (let k = 0; k < 4; k++) {
    last = plain.step([0.5]);
    sum += last.reward;
  }
  assert.ok(Math.abs(r.reward - sum) < 1e-12);
  assert.deepEqual([...r.obs], [...last!.obs]);
  assert.equal(r.info.innerSteps, 4);
  // CartPole terminating inside a repeat: stop early
  const cp = new ActionRepeat(new CartPoleEnv(), 8);
  cp.reset({ state: [0, 0, 0.2, 0] });
  const t = cp.step(0);
  assert.equal(t.terminated, true);
  assert.ok((t.info.innerSteps as number) < 8);
  assert.equal(t.reward, t.info.innerSteps);
  // makeEnv: 999 base steps with frameSkip 2 -> 500 agent steps, the last one a single step
  const car = makeEnvSync("MountainCarContinuous-v0", { frameSkip: 2 });
  assert.equal(car.maxEpisodeSteps, 500);
  car.reset({ seed: 0 });
  let n = 0;
  let s;
  do {
    s = car.step([0]);
    n++;
  } while (!s.truncated && !s.terminated);
  assert.equal(n, 500);
  assert.equal(s.info.innerSteps, 1);
});

Deno.test("PixelObservation: uint8 CHW observations equal the rendered picture", async () => {
  for (const id of ["CartPole-v1", "Pendulum-v1", "CartPoleSwingup-mujoco"]) {
    const env = await makeEnv(id, { pixels: true });
    try {
      assert.equal(env.id, `${id}/pixels`);
      assert.deepEqual(env.observationSpace.shape, [3, 64, 64]);
      assert.equal(env.observationSpace.dtype, "uint8");
      assert.equal(env.observationSpace.high[0], 255);
      const r = env.reset({ seed: 0 });
      assert.ok(r.obs instanceof Uint8Array);
      assert.equal(r.obs.length, 3 * 64 * 64);
      assert.deepEqual(chwToHwc(r.obs as Uint8Array, 64, 64), env.render());
      assert.ok(r.info.state instanceof Float32Array, "the vector state rides along in info");
      let s = env.step(env.actionSpace.kind === "discrete" ? 1 : [1]);
      assert.deepEqual(chwToHwc(s.obs as Uint8Array, 64, 64), env.render());
      for (let k = 0; k < 10 && !s.terminated; k++) {
        s = env.step(env.actionSpace.kind === "discrete" ? 1 : [1]);
      }
      assert.notDeepEqual(s.obs, r.obs, "the picture changes");
    } finally {
      env.close();
    }
  }
  const hwc = new PixelObservation(new PendulumEnv({ renderSize: 32 }), { layout: "HWC" });
  assert.deepEqual(hwc.observationSpace.shape, [32, 32, 3]);
  assert.deepEqual(hwc.reset({ seed: 0 }).obs, hwc.render());
  const big = makeEnvSync("CartPole-v1", { pixels: true, size: 96 });
  assert.deepEqual(big.observationSpace.shape, [3, 96, 96]);
  assert.equal(big.reset({ seed: 0 }).obs.length, 3 * 96 * 96);
});

Deno.test("NormalizeAction maps [-1, 1] onto the bounds (and clips)", () => {
  const env = new NormalizeAction(new PendulumEnv());
  assert.equal(env.actionSpace.kind, "box");
  assert.deepEqual([...env.toInner([-1]), ...env.toInner([0]), ...env.toInner([0.5])], [-2, 0, 1]);
  assert.deepEqual([...env.toInner([3])], [2]);
  const a = new PendulumEnv();
  env.reset({ state: [0.3, 0.1] });
  a.reset({ state: [0.3, 0.1] });
  assert.deepEqual(env.step([0.25]), a.step([0.5]));
  const viaMake = makeEnvSync("Pendulum-v1", { normalizeActions: true });
  if (viaMake.actionSpace.kind === "box") {
    assert.deepEqual([...viaMake.actionSpace.low, ...viaMake.actionSpace.high], [-1, 1]);
  } else assert.fail("box expected");
  assert.throws(() => new NormalizeAction(new CartPoleEnv()), TypeError);
});

Deno.test("DiscreteToContinuous: argmax of a [-1, 1]^n vector", () => {
  const env = new DiscreteToContinuous(new CartPoleEnv());
  assert.deepEqual(env.actionSpace, {
    kind: "box",
    low: Float32Array.of(-1, -1),
    high: Float32Array.of(1, 1),
    shape: [2],
    dtype: "float32",
  });
  const ref = new CartPoleEnv();
  env.reset({ state: [0, 0, 0.01, 0] });
  ref.reset({ state: [0, 0, 0.01, 0] });
  assert.deepEqual(env.step([-0.2, 0.7]), ref.step(1));
  assert.deepEqual(env.step([0.9, -1]), ref.step(0));
  const viaMake = makeEnvSync("Acrobot-v1", { continuousActions: true });
  assert.deepEqual(viaMake.actionSpace.kind === "box" && viaMake.actionSpace.shape, [3]);
});

Deno.test("makeEnvSync refuses MuJoCo before the module is loaded in a fresh process", async () => {
  // run in a subprocess so that no other test has loaded the module
  const code = `
    import { makeEnvSync } from "${new URL("../../src/envs/mod.ts", import.meta.url).href}";
    try { makeEnvSync("CartPoleSwingup-mujoco"); console.log("no error"); }
    catch (e) { console.log(e.message); }
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.match(text, /needs asynchronous loading: use await makeEnv/);
});
