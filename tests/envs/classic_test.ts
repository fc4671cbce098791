/**
 * Classic-control dynamics: Gymnasium 1.3.0 reference trajectories, single steps recomputed
 * here from the published equations (written independently of src/envs), termination,
 * truncation, seeding and space bounds.
 */

import assert from "node:assert/strict";
import {
  AcrobotEnv,
  angleNormalize,
  CartPoleEnv,
  contains,
  type Env,
  makeEnvSync,
  MountainCarContinuousEnv,
  PendulumEnv,
  RandomPolicy,
} from "../../src/envs/mod.ts";
import {
  ACROBOT_REF,
  CARTPOLE_REF,
  MOUNTAIN_CAR_REF,
  nums,
  PENDULUM_REF,
} from "./reference_data.ts";

function assertNear(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = "",
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const lim = tol * Math.max(1, Math.abs(expected[i]));
    assert.ok(
      err <= lim,
      `${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (|err| ${err})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Gymnasium reference trajectories
// ---------------------------------------------------------------------------------------------

Deno.test("CartPole-v1 follows Gymnasium's trajectory", () => {
  const env = new CartPoleEnv();
  env.reset({ state: CARTPOLE_REF.init });
  const obs = nums(CARTPOLE_REF.obs);
  const rewards = nums(CARTPOLE_REF.rewards);
  CARTPOLE_REF.actions.forEach((a, t) => {
    const r = env.step(a);
    assertNear(r.obs, obs.slice(4 * t, 4 * t + 4), 1e-6, `obs@${t}`);
    assert.equal(r.reward, rewards[t]);
    assert.equal(r.terminated, false);
    assert.equal(r.truncated, false);
  });
  assertNear(env.state, CARTPOLE_REF.stateFinal, 1e-12, "final state");
});

Deno.test("CartPole-v1 terminates like Gymnasium and pays 0 after termination", () => {
  const env = new CartPoleEnv();
  env.reset({ state: [0, 0, 0, 0] });
  let n = 0;
  let r;
  do {
    r = env.step(1);
    n++;
    assert.equal(r.reward, 1);
  } while (!r.terminated && n < 100);
  assert.equal(n, CARTPOLE_REF.pushRightSteps);
  const after = env.step(1);
  assert.equal(after.reward, 0);
  assert.equal(after.terminated, true);
  assertNear(after.obs, CARTPOLE_REF.pushRightLastObs, 1e-6, "obs after termination");
});

// Gymnasium under NumPy 2 multiplies the float32 torque in float32 (3.0 * u, u**2): ~1e-7
// relative differences from this float64 implementation, far below float32 observations.
Deno.test("Pendulum-v1 follows Gymnasium's trajectory (including torque clipping)", () => {
  const env = new PendulumEnv();
  env.reset({ state: PENDULUM_REF.init });
  const actions = nums(PENDULUM_REF.actions);
  const obs = nums(PENDULUM_REF.obs);
  const rewards = nums(PENDULUM_REF.rewards);
  assert.ok(actions.some((u) => Math.abs(u) > 2), "the reference exercises clipping");
  actions.forEach((u, t) => {
    const r = env.step(Float32Array.of(u));
    assertNear(r.obs, obs.slice(3 * t, 3 * t + 3), 1e-6, `obs@${t}`);
    assertNear([r.reward], [rewards[t]], 1e-6, `reward@${t}`);
    assert.equal(r.terminated, false);
  });
  assertNear(env.state, PENDULUM_REF.stateFinal, 1e-6, "final state");
});

Deno.test("MountainCarContinuous-v0 follows Gymnasium's trajectory to the goal", () => {
  const env = new MountainCarContinuousEnv();
  env.reset({ state: MOUNTAIN_CAR_REF.init });
  const actions = nums(MOUNTAIN_CAR_REF.actions);
  const obs = nums(MOUNTAIN_CAR_REF.obs);
  const rewards = nums(MOUNTAIN_CAR_REF.rewards);
  actions.forEach((a, t) => {
    const r = env.step([a]);
    assertNear(r.obs, obs.slice(2 * t, 2 * t + 2), 2e-6, `obs@${t}`);
    assertNear([r.reward], [rewards[t]], 1e-9, `reward@${t}`);
    assert.equal(r.terminated, t === MOUNTAIN_CAR_REF.terminatedAt - 1, `terminated@${t}`);
  });
  // the over-range action (1.5) is clipped for the force but penalized as given: 0.1 * 1.5^2
  assertNear([rewards[3]], [-0.225], 1e-9);
  assertNear([rewards.at(-1)!], [100 - 0.1], 1e-9);
});

Deno.test("Acrobot-v1 follows Gymnasium's trajectory until the tip clears the bar", () => {
  const env = new AcrobotEnv();
  env.reset({ state: ACROBOT_REF.init });
  const obs = nums(ACROBOT_REF.obs);
  ACROBOT_REF.actions.forEach((a, t) => {
    const r = env.step(a);
    // the pumping trajectory is sensitive: compare with a tolerance that grows along it
    assertNear(r.obs, obs.slice(6 * t, 6 * t + 6), 1e-5, `obs@${t}`);
    const last = t === ACROBOT_REF.terminatedAt - 1;
    assert.equal(r.terminated, last, `terminated@${t}`);
    assert.equal(r.reward, last ? 0 : -1);
  });
  assertNear(env.state, ACROBOT_REF.stateFinal, 1e-7, "final state");
});

// ---------------------------------------------------------------------------------------------
// Single steps recomputed from the equations
// ---------------------------------------------------------------------------------------------

Deno.test("CartPole step equals Barto et al.'s equations with explicit Euler", () => {
  const g = 9.8, mc = 1.0, mp = 0.1, l = 0.5, dt = 0.02;
  const s0 = [0.3, -0.4, 0.1, 0.7];
  for (const a of [0, 1]) {
    const F = a === 1 ? 10 : -10;
    const [x, xd, th, thd] = s0;
    // theta'' = (g sin th + cos th (-F - mp l thd^2 sin th) / (mc + mp)) /
    //           (l (4/3 - mp cos^2 th / (mc + mp)))
    const thdd =
      (g * Math.sin(th) + Math.cos(th) * (-F - mp * l * thd ** 2 * Math.sin(th)) / (mc + mp)) /
      (l * (4 / 3 - (mp * Math.cos(th) ** 2) / (mc + mp)));
    // x'' = (F + mp l (thd^2 sin th - thdd cos th)) / (mc + mp)
    const xdd = (F + mp * l * (thd ** 2 * Math.sin(th) - thdd * Math.cos(th))) / (mc + mp);
    const expected = [x + dt * xd, xd + dt * xdd, th + dt * thd, thd + dt * thdd];
    const env = new CartPoleEnv();
    env.reset({ state: s0 });
    env.step(a);
    assertNear(env.state, expected, 1e-13, `action ${a}`);
  }
});

Deno.test("Pendulum step equals the swing-up equations (semi-implicit Euler, speed clip)", () => {
  const cases: [number, number, number][] = [[0.5, 1.0, 0.7], [-3.0, 7.9, 2], [4.0, -7.95, -2]];
  for (const [th, thd, u] of cases) {
    const env = new PendulumEnv();
    env.reset({ state: [th, thd] });
    const r = env.step([u]);
    // ml^2/3 th'' = mgl/2 sin th + u  ->  th'' = 3g/(2l) sin th + 3u/(ml^2)
    const acc = 1.5 * 10 * Math.sin(th) + 3 * u;
    const newThd = Math.max(-8, Math.min(8, thd + acc * 0.05));
    const newTh = th + newThd * 0.05;
    assertNear(env.state, [newTh, newThd], 1e-13, `state (${th}, ${thd}, ${u})`);
    const wrapped = Math.atan2(Math.sin(th), Math.cos(th)); // in (-pi, pi]
    const cost = wrapped ** 2 + 0.1 * thd ** 2 + 0.001 * u ** 2;
    assertNear([r.reward], [-cost], 1e-12, "reward");
    assertNear(r.obs, [Math.cos(newTh), Math.sin(newTh), newThd], 1e-6, "obs");
  }
  assertNear([angleNormalize(3 * Math.PI), angleNormalize(-3.5 * Math.PI)], [
    -Math.PI,
    0.5 * Math.PI,
  ], 1e-12);
});

Deno.test("MountainCar step equals Moore's equations (velocity and position bounds)", () => {
  const cases: [number, number, number][] = [[-0.5, 0.01, 0.6], [-1.19, -0.05, -1], [
    0.2,
    0.069,
    1,
  ]];
  for (const [x, v, u] of cases) {
    const env = new MountainCarContinuousEnv();
    env.reset({ state: [x, v] });
    const r = env.step([u]);
    let nv = v + 0.0015 * u - 0.0025 * Math.cos(3 * x);
    nv = Math.max(-0.07, Math.min(0.07, nv));
    let nx = x + nv;
    if (nx < -1.2) {
      nx = -1.2;
      if (nv < 0) nv = 0;
    }
    nx = Math.min(nx, 0.6);
    assertNear(r.obs, [nx, nv], 1e-7, `(${x}, ${v}, ${u})`);
    assertNear([r.reward], [-0.1 * u * u + (nx >= 0.45 ? 100 : 0)], 1e-12, "reward");
  }
});

Deno.test("Acrobot dynamics equal a 2x2 solve of the Lagrangian equations; RK4 matches a fine integration", () => {
  const m1 = 1, m2 = 1, l1 = 1, lc1 = 0.5, lc2 = 0.5, I1 = 1, I2 = 1, g = 9.8;
  // M(q) q'' = tau - h(q, q') written out from the Lagrangian of the double pendulum (book form)
  function accel(s: number[], tau: number): [number, number] {
    const [t1, t2, w1, w2] = s;
    const M11 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2 * l1 * lc2 * Math.cos(t2)) + I1 + I2;
    const M12 = m2 * (lc2 * lc2 + l1 * lc2 * Math.cos(t2)) + I2;
    const M22 = m2 * lc2 * lc2 + I2;
    const G2 = m2 * lc2 * g * Math.sin(t1 + t2);
    const G1 = (m1 * lc1 + m2 * l1) * g * Math.sin(t1) + G2;
    const C1 = -m2 * l1 * lc2 * Math.sin(t2) * (w2 * w2 + 2 * w1 * w2);
    const C2 = m2 * l1 * lc2 * Math.sin(t2) * w1 * w1;
    const b1 = -(C1 + G1);
    const b2 = tau - (C2 + G2);
    const det = M11 * M22 - M12 * M12;
    return [(b1 * M22 - M12 * b2) / det, (M11 * b2 - M12 * b1) / det];
  }
  const f = (s: number[], tau: number) => [s[2], s[3], ...accel(s, tau)];
  const s0 = [0.4, -0.7, 0.3, -1.1];
  for (const a of [0, 1, 2]) {
    const tau = a - 1;
    // reference: 2000 RK4 sub-steps of 1e-4 s (converged far below the 0.2 s step's error)
    let s = [...s0];
    const h = 0.2 / 2000;
    for (let i = 0; i < 2000; i++) {
      const k1 = f(s, tau);
      const k2 = f(s.map((v, j) => v + (h / 2) * k1[j]), tau);
      const k3 = f(s.map((v, j) => v + (h / 2) * k2[j]), tau);
      const k4 = f(s.map((v, j) => v + h * k3[j]), tau);
      s = s.map((v, j) => v + (h / 6) * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]));
    }
    const env = new AcrobotEnv();
    env.reset({ state: s0 });
    env.step(a);
    // one 0.2 s RK4 step has local error O(dt^5): ~1e-4 on these velocities
    assertNear(env.state, s, 2e-3, `torque ${tau}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Episodes, seeding, spaces
// ---------------------------------------------------------------------------------------------

const CLASSIC: [string, number][] = [
  ["CartPole-v1", 500],
  ["Pendulum-v1", 200],
  ["MountainCarContinuous-v0", 999],
  ["Acrobot-v1", 500],
];

function runRandom(env: Env, seed: number, steps: number) {
  const pol = new RandomPolicy(env.actionSpace, seed + 1);
  const obs: number[] = [...env.reset({ seed }).obs];
  const rewards: number[] = [];
  for (let t = 0; t < steps; t++) {
    const r = env.step(pol.act());
    obs.push(...r.obs);
    rewards.push(r.reward);
    if (r.terminated || r.truncated) obs.push(...env.reset().obs);
  }
  return { obs, rewards };
}

Deno.test("same seed, same episode; different seeds, different initial states", () => {
  for (const [id] of CLASSIC) {
    const a = runRandom(makeEnvSync(id), 7, 300);
    const b = runRandom(makeEnvSync(id), 7, 300);
    assert.deepEqual(a, b, id);
    const e = makeEnvSync(id);
    const o1 = e.reset({ seed: 1 }).obs;
    const o2 = e.reset({ seed: 2 }).obs;
    const o1again = e.reset({ seed: 1 }).obs;
    assert.notDeepEqual([...o1], [...o2], id);
    assert.deepEqual([...o1], [...o1again], id);
    // an unseeded reset continues the stream
    assert.notDeepEqual([...e.reset().obs], [...o1again], id);
  }
});

Deno.test("initial state distributions match Gymnasium's", () => {
  const cart = new CartPoleEnv();
  const pend = new PendulumEnv();
  const car = new MountainCarContinuousEnv();
  const acro = new AcrobotEnv();
  cart.reset({ seed: 0 });
  pend.reset({ seed: 0 });
  car.reset({ seed: 0 });
  acro.reset({ seed: 0 });
  const n = 2000;
  const sums = { cart: 0, th: 0, car: 0 };
  let maxTh = 0;
  for (let i = 0; i < n; i++) {
    cart.reset();
    for (const v of cart.state) assert.ok(v >= -0.05 && v < 0.05);
    sums.cart += cart.state[0];
    pend.reset();
    assert.ok(Math.abs(pend.state[0]) <= Math.PI && Math.abs(pend.state[1]) <= 1);
    sums.th += pend.state[0];
    maxTh = Math.max(maxTh, Math.abs(pend.state[0]));
    car.reset();
    assert.ok(car.state[0] >= -0.6 && car.state[0] < -0.4 && car.state[1] === 0);
    sums.car += car.state[0];
    acro.reset();
    for (const v of acro.state) {
      assert.ok(Math.abs(v) <= 0.1);
      assert.equal(v, Math.fround(v), "Acrobot's initial state is float32");
    }
  }
  assert.ok(Math.abs(sums.cart / n) < 0.004);
  assert.ok(Math.abs(sums.th / n) < 0.15);
  assert.ok(maxTh > 3.0, "pendulum angles cover [-pi, pi]");
  assert.ok(Math.abs(sums.car / n + 0.5) < 0.01);
});

Deno.test("time limits truncate at the registry's lengths; observations stay in their spaces", () => {
  for (const [id, limit] of CLASSIC) {
    const env = makeEnvSync(id);
    assert.equal(env.maxEpisodeSteps, limit, id);
    // MountainCar/Pendulum/Acrobot random episodes run to the limit; CartPole does with a
    // balancing controller (push against the pole's lean)
    const pol = new RandomPolicy(env.actionSpace, 3);
    let r = env.reset({ seed: 3 });
    let steps = 0;
    let done = false;
    let last;
    while (!done) {
      const act = id === "CartPole-v1" ? (r.obs[2] + 0.5 * r.obs[3] > 0 ? 1 : 0) : pol.act();
      assert.ok(contains(env.actionSpace, act));
      last = env.step(act);
      r = last;
      steps++;
      for (let i = 0; i < last.obs.length; i++) {
        assert.ok(
          last.obs[i] >= env.observationSpace.low[i] && last.obs[i] <= env.observationSpace.high[i],
          `${id} obs[${i}] = ${last.obs[i]} out of bounds`,
        );
      }
      done = last.terminated || last.truncated;
    }
    assert.equal(steps, limit, id);
    assert.equal(last!.truncated, true, id);
    assert.equal(last!.terminated, false, id);
    assert.throws(
      () => env.step(env.actionSpace.kind === "discrete" ? 0 : [0]),
      /finished episode/,
    );
  }
});

Deno.test("spaces match Gymnasium's", () => {
  const cart = makeEnvSync("CartPole-v1");
  assert.deepEqual(cart.actionSpace, { kind: "discrete", n: 2 });
  assert.deepEqual(cart.observationSpace.shape, [4]);
  assert.deepEqual(
    [...cart.observationSpace.high],
    [
      4.8,
      Infinity,
      Math.fround((12 * 2 * Math.PI) / 360 * 2),
      Infinity,
    ].map(Math.fround),
  );
  const pend = makeEnvSync("Pendulum-v1");
  assert.equal(pend.actionSpace.kind, "box");
  if (pend.actionSpace.kind === "box") {
    assert.deepEqual([...pend.actionSpace.low, ...pend.actionSpace.high], [-2, 2]);
  }
  assert.deepEqual([...pend.observationSpace.high], [1, 1, 8]);
  const car = makeEnvSync("MountainCarContinuous-v0");
  assert.deepEqual([...car.observationSpace.low], [-1.2, -0.07].map(Math.fround));
  const acro = makeEnvSync("Acrobot-v1");
  assert.deepEqual(acro.actionSpace, { kind: "discrete", n: 3 });
  assert.deepEqual(
    [...acro.observationSpace.high],
    [1, 1, 1, 1, 4 * Math.PI, 9 * Math.PI].map(Math.fround),
  );
  for (const e of [cart, pend, car, acro]) assert.equal(e.observationSpace.dtype, "float32");
});

Deno.test("invalid actions and misuse are rejected", () => {
  const cart = new CartPoleEnv();
  assert.throws(() => cart.step(0), /before reset/);
  cart.reset({ seed: 0 });
  assert.throws(() => cart.step(2), RangeError);
  assert.throws(() => cart.step(0.5), RangeError);
  assert.equal(cart.step([0.1, 0.9]).terminated, false, "a score vector selects its argmax");
  const pend = new PendulumEnv();
  pend.reset({ seed: 0 });
  assert.throws(() => pend.step([NaN]), RangeError);
  assert.throws(() => pend.step([1, 2]), RangeError);
  assert.throws(() => pend.reset({ state: [1] }), RangeError);
});
