/**
 * CartPoleSwingup-mujoco: MuJoCo (wasm, npm:mujoco-js) against MuJoCo 3.14.0's Python bindings
 * on the same MJCF, dm_control's swing-up reward recomputed here, seeding, limits and cleanup.
 */

import assert from "node:assert/strict";
import {
  CARTPOLE_MJCF,
  CartPoleSwingupMujocoEnv,
  loadMujoco,
  makeEnv,
  makeEnvSync,
  modelFromXml,
  RandomPolicy,
  swingupReward,
  tolerance,
} from "../../src/envs/mod.ts";
import { MUJOCO_CARTPOLE_REF } from "./reference_data.ts";

function near(a: number, b: number, tol: number, what: string) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: got ${a}, expected ${b}`);
}

Deno.test("mujoco-js loads in Deno and reports its version", async () => {
  const mj = await loadMujoco();
  assert.match(mj.mj_versionString(), /^3\.\d+\.\d+/);
  assert.equal(await loadMujoco(), mj, "the module is loaded once");
});

Deno.test("CartPoleSwingup-mujoco reproduces MuJoCo 3.14 (Python) on the same model", async () => {
  const env = await CartPoleSwingupMujocoEnv.create();
  try {
    env.reset({ state: [0.01, Math.PI - 0.02, 0.005, -0.003] });
    let sum = 0;
    for (let t = 0; t < 300; t++) {
      const r = env.step([1.3 * Math.sin(t * 0.05)]);
      sum += r.reward;
      const ref = MUJOCO_CARTPOLE_REF.steps[t + 1];
      if (ref) {
        const s = env.state;
        for (let i = 0; i < 2; i++) {
          near(s[i], ref.qpos[i], 1e-8, `qpos[${i}] after ${t + 1} steps`);
          near(s[2 + i], ref.qvel[i], 1e-8, `qvel[${i}] after ${t + 1} steps`);
        }
        near(r.reward, MUJOCO_CARTPOLE_REF.rewardsAt[t + 1], 1e-8, `reward at ${t + 1}`);
      }
    }
    near(sum, MUJOCO_CARTPOLE_REF.rewardSum300, 1e-8, "reward sum");
    near(env.time, 3.0, 1e-12, "simulated time (300 x 10 ms)");
  } finally {
    env.close();
  }
});

Deno.test("swing-up reward equals dm_control's formula", () => {
  // tolerance(bounds=(0,0)): gaussian with value 0.1 at the margin; quadratic with 0 at it
  near(tolerance(2, 2), 0.1, 1e-12, "gaussian at the margin");
  near(tolerance(1, 2), Math.sqrt(0.1) ** 0.5, 1e-12, "gaussian at half the margin: 0.1^(1/4)");
  near(tolerance(0.5, 1, "quadratic", 0), 0.75, 1e-12, "quadratic");
  assert.equal(tolerance(1.5, 1, "quadratic", 0), 0);
  assert.equal(tolerance(0, 5), 1);
  near(swingupReward(0, 0, 0, 0), 1, 1e-12, "upright, centred, still, no control");
  near(swingupReward(0, Math.PI, 0, 0), 0, 1e-12, "hanging down");
  // upright 0.5 (horizontal), centered (1 + 0.1) / 2 at |x| = 2, control (4 + 0) / 5 at |u| = 1,
  // velocity (1 + 0.1) / 2 at |w| = 5
  near(swingupReward(2, Math.PI / 2, 1, 5), 0.5 * 0.55 * 0.8 * 0.55, 1e-12, "all terms");
});

Deno.test("CartPoleSwingup-mujoco: spaces, initial state, 1000-step limit, frameSkip", async () => {
  const env = await makeEnv("CartPoleSwingup-mujoco");
  try {
    assert.deepEqual(env.observationSpace.shape, [5]);
    assert.equal(env.actionSpace.kind, "box");
    if (env.actionSpace.kind === "box") {
      assert.deepEqual([...env.actionSpace.low, ...env.actionSpace.high], [-1, 1]);
    }
    assert.equal(env.maxEpisodeSteps, 1000);
    const { obs } = env.reset({ seed: 0 });
    // [x, cos, sin, x_dot, theta_dot] near the hanging-down state with N(0, 0.01^2) noise
    assert.ok(Math.abs(obs[0]) < 0.05 && obs[1] < -0.99 && Math.abs(obs[2]) < 0.05);
    assert.ok(Math.abs(obs[3]) < 0.05 && Math.abs(obs[4]) < 0.05);
    const pol = new RandomPolicy(env.actionSpace, 0);
    let n = 0;
    let r;
    let ret = 0;
    do {
      r = env.step(pol.act());
      n++;
      ret += r.reward;
      assert.ok(r.reward >= 0 && r.reward <= 1);
      assert.ok(Math.abs(r.obs[0]) <= 1.8 + 0.02, "slider limit");
      near(r.obs[1] ** 2 + r.obs[2] ** 2, 1, 1e-6, "cos^2 + sin^2");
    } while (!r.truncated && !r.terminated);
    assert.equal(n, 1000);
    assert.equal(r.terminated, false);
    assert.ok(ret > 0 && ret < 200, `random return ${ret}`);
  } finally {
    env.close();
  }
  const skip = await makeEnv("CartPoleSwingup-mujoco", { frameSkip: 2 });
  assert.equal(skip.maxEpisodeSteps, 500);
  skip.reset({ seed: 0 });
  let n = 0;
  while (!skip.step([0]).truncated) n++;
  assert.equal(n + 1, 500);
  skip.close();
});

Deno.test("CartPoleSwingup-mujoco is deterministic under a seed; makeEnvSync works once loaded", async () => {
  await loadMujoco();
  const run = () => {
    const env = makeEnvSync("CartPoleSwingup-mujoco");
    const pol = new RandomPolicy(env.actionSpace, 5);
    const out = [...env.reset({ seed: 11 }).obs];
    for (let t = 0; t < 100; t++) out.push(...env.step(pol.act()).obs);
    env.close();
    return out;
  };
  assert.deepEqual(run(), run());
});

Deno.test("MJCF errors carry MuJoCo's message; close() is idempotent and final", async () => {
  const mj = await loadMujoco();
  assert.throws(
    () => modelFromXml(mj, "<mujoco><worldbody><body></worldbody></mujoco>"),
    /MuJoCo could not compile the model: .*XML/,
  );
  assert.throws(
    () =>
      modelFromXml(mj, "<mujoco><worldbody><body><geom type='ball'/></body></worldbody></mujoco>"),
    /invalid keyword: 'ball'.*geom/,
  );
  const m = modelFromXml(mj, CARTPOLE_MJCF);
  assert.equal(m.nq, 2);
  m.delete();
  const env = await CartPoleSwingupMujocoEnv.create();
  env.reset({ seed: 0 });
  env.close();
  env.close();
  assert.throws(() => env.step([0]), /after close/);
});
