/**
 * HalfCheetah-v5 and Hopper-v5 on MuJoCo wasm: the compiled models, observation layout, reward
 * terms, reset noise and seeding, the Hopper's health and termination, rest under zero action,
 * `reset({ state })`, Gymnasium keyword arguments, and parity with Gymnasium's own environments
 * through the Gymnasium bridge (`makeEnv("gym:HalfCheetah-v5")`; ignored, as the bridge tests,
 * when WORLDFLUX_PYTHON names no Python with gymnasium and mujoco outside CI).
 */

import assert from "node:assert/strict";
import {
  contactMarginRule,
  type Env,
  HALF_CHEETAH_MJCF,
  HALF_CHEETAH_MODEL,
  HalfCheetahEnv,
  HOPPER_MODEL,
  HopperEnv,
  hopperMjcf,
  type Info,
  loadMujoco,
  type LocomotionEnv,
  makeEnv,
  makeEnvSync,
  modelFromXml,
  planarHinges,
  RandomPolicy,
  Rng,
} from "../../src/envs/mod.ts";
import { ConfigError } from "../../src/errors.ts";
import { SKIP_GYM, TEST_PYTHON } from "./gym_helpers.ts";
import type { GymEnv } from "../../src/envs/gym/env.ts";

function near(a: number, b: number, tol: number, what: string) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: got ${a}, expected ${b}`);
}

/** A state `[qpos, qvel]` with distinct, physically harmless values. */
function distinctState(env: LocomotionEnv): number[] {
  const s = [...env.initQpos];
  for (let i = 2; i < env.nq; i++) s[i] += 0.01 * i;
  s[0] = 0.37;
  for (let i = 0; i < env.nv; i++) s.push(0.1 * (i + 1) * (i % 2 ? -1 : 1));
  return s;
}

/** The locomotion env under `makeEnv`'s wrappers. */
function baseOf(env: Env): LocomotionEnv {
  const e = env as unknown as { unwrapped?: Env };
  return (e.unwrapped ?? env) as LocomotionEnv;
}

function zeros(env: LocomotionEnv): number[] {
  return new Array(env.nu).fill(0);
}

Deno.test("the model tables compile to Gymnasium's published robots", async () => {
  const mj = await loadMujoco();
  const cheetah = await HalfCheetahEnv.create();
  const hopper = await HopperEnv.create();
  try {
    assert.deepEqual([cheetah.nq, cheetah.nv, cheetah.nu], [9, 9, 6]);
    assert.deepEqual([hopper.nq, hopper.nv, hopper.nu], [6, 6, 3]);
    near(cheetah.dt, 0.05, 1e-15, "HalfCheetah dt = 5 x 10 ms");
    near(hopper.dt, 0.008, 1e-15, "Hopper dt = 4 x 2 ms");
    assert.deepEqual([...cheetah.initQpos], new Array(9).fill(0));
    assert.deepEqual([...hopper.initQpos], [0, 1.25, 0, 0, 0, 0], "rootz starts at 1.25 m");
    for (const [env, model] of [[cheetah, HALF_CHEETAH_MODEL], [hopper, HOPPER_MODEL]] as const) {
      const m = modelFromXml(mj, env.id === "Hopper-v5" ? hopperMjcf() : HALF_CHEETAH_MJCF);
      try {
        const hinges = planarHinges(model);
        hinges.forEach((h, i) => {
          assert.equal(m.actuator_gear[6 * i], h.gear, `${h.name} gear`);
          assert.deepEqual([...m.actuator_ctrlrange.subarray(2 * i, 2 * i + 2)], [-1, 1]);
          // joints: rootx, rootz, rooty, then the hinges
          near(m.jnt_range[2 * (3 + i)], h.range[0], 1e-12, `${h.name} lower limit`);
          near(m.jnt_range[2 * (3 + i) + 1], h.range[1], 1e-12, `${h.name} upper limit`);
        });
        const total = m.body_mass.reduce((a, b) => a + b, 0);
        if (env.id === "HalfCheetah-v5") near(total, 14, 1e-12, "settotalmass");
        else {
          // density 1000: torso 3.67, thigh 4.06, leg 2.78, foot 5.32 kg
          const masses = [...m.body_mass.subarray(1)].map((x) => Math.round(x * 100) / 100);
          assert.deepEqual(masses, [3.67, 4.06, 2.78, 5.32]);
        }
      } finally {
        m.delete();
      }
    }
  } finally {
    cheetah.close();
    hopper.close();
  }
});

Deno.test("observations: qpos without the root x, then qvel (Hopper: clipped to +-10)", async () => {
  for (const id of ["HalfCheetah-v5", "Hopper-v5"] as const) {
    const env = id === "HalfCheetah-v5" ? await HalfCheetahEnv.create() : await HopperEnv.create();
    const full = id === "HalfCheetah-v5"
      ? await HalfCheetahEnv.create({ excludeCurrentPositionsFromObservation: false })
      : await HopperEnv.create({ excludeCurrentPositionsFromObservation: false });
    try {
      const n = env.nq + env.nv;
      assert.deepEqual(env.observationSpace.shape, [n - 1]);
      assert.equal(n - 1, id === "HalfCheetah-v5" ? 17 : 11);
      assert.deepEqual(full.observationSpace.shape, [n]);
      assert.deepEqual(env.actionSpace.shape, [env.nu]);
      assert.ok(
        env.actionSpace.low.every((v) => v === -1) && env.actionSpace.high.every((v) => v === 1),
      );
      const s = distinctState(env);
      if (id === "Hopper-v5") {
        s[env.nq + 2] = 25; // rooty velocity beyond the clip
        s[env.nq + 4] = -13;
      }
      const { obs, info } = env.reset({ state: s });
      const clip = id === "Hopper-v5" ? 10 : Infinity;
      const expected = [
        ...s.slice(1, env.nq),
        ...s.slice(env.nq).map((v) => Math.min(Math.max(v, -clip), clip)),
      ];
      assert.deepEqual([...obs], [...Float32Array.from(expected)]);
      assert.deepEqual([...full.reset({ state: s }).obs], [
        ...Float32Array.from([s[0], ...expected]),
      ]);
      assert.equal(info.x_position, 0.37);
      if (id === "Hopper-v5") near(info.z_distance_from_origin as number, s[1] - 1.25, 1e-15, "z");
      // the state round-trips exactly; stepping from it twice gives the same result
      assert.deepEqual([...env.state], s);
      const a = new Array(env.nu).fill(0.3);
      const r1 = env.step(a);
      env.reset({ state: s });
      const r2 = env.step(a);
      assert.deepEqual([...r1.obs], [...r2.obs]);
      assert.equal(r1.reward, r2.reward);
      near(env.time, env.dt, 1e-12, "one step is dt of simulated time");
      assert.throws(() => env.reset({ state: s.slice(1) }), /needs \d+ values/);
      assert.throws(() => env.reset({ state: [...s.slice(1), NaN] }), RangeError);
    } finally {
      env.close();
      full.close();
    }
  }
});

Deno.test("reward = forward - ctrl (+ survive); info terms add up; ctrl cost on the action as given", async () => {
  const configs = [
    { id: "HalfCheetah-v5", kwargs: {} },
    { id: "HalfCheetah-v5", kwargs: { forward_reward_weight: 2, ctrl_cost_weight: 0.5 } },
    { id: "Hopper-v5", kwargs: { terminate_when_unhealthy: false } },
    { id: "Hopper-v5", kwargs: { ctrl_cost_weight: 0.1, healthy_reward: 3 } },
  ];
  for (const { id, kwargs } of configs) {
    const env = await makeEnv(id, { kwargs });
    const base = baseOf(env);
    const wf = (kwargs as { forward_reward_weight?: number }).forward_reward_weight ?? 1;
    const wc = (kwargs as { ctrl_cost_weight?: number }).ctrl_cost_weight ??
      (id === "Hopper-v5" ? 1e-3 : 0.1);
    try {
      const pol = new RandomPolicy(env.actionSpace, 3);
      let x = env.reset({ seed: 1 }).info.x_position as number;
      let healthySteps = 0;
      for (let t = 0; t < 60; t++) {
        const a = pol.act() as Float32Array;
        const r = env.step(a);
        const i = r.info as Record<string, number>;
        const survive = i.reward_survive ?? 0;
        near(r.reward, i.reward_forward + i.reward_ctrl + survive, 1e-12, `${id} decomposition`);
        near(i.reward_ctrl, -wc * a.reduce((s, v) => s + v * v, 0), 1e-12, "ctrl cost");
        near(i.x_velocity, (i.x_position - x) / base.dt, 1e-9, "x velocity");
        near(i.reward_forward, wf * i.x_velocity, 1e-12, "forward reward");
        if (id === "Hopper-v5") {
          const healthReward = (kwargs as { healthy_reward?: number }).healthy_reward ?? 1;
          assert.ok(survive === 0 || survive === healthReward);
          if (survive) healthySteps++;
          near(i.z_distance_from_origin, base.state[1] - 1.25, 1e-12, "z distance");
        }
        x = i.x_position;
        if (r.terminated) break;
      }
      if (id === "Hopper-v5") assert.ok(healthySteps > 0);
      // MuJoCo clamps ctrl to [-1, 1]; the cost uses the action as given (as Gymnasium)
      const s = distinctState(base);
      env.reset({ state: s });
      const big = env.step(new Array(base.nu).fill(2));
      env.reset({ state: s });
      const one = env.step(new Array(base.nu).fill(1));
      assert.deepEqual([...big.obs], [...one.obs]);
      near((big.info.reward_ctrl as number) / (one.info.reward_ctrl as number), 4, 1e-12, "2^2");
    } finally {
      env.close();
    }
  }
});

Deno.test("reset noise and seeding: per-seed determinism, Gymnasium's distributions", async () => {
  for (const id of ["HalfCheetah-v5", "Hopper-v5"]) {
    const run = async (seed: number) => {
      const env = await makeEnv(id);
      const pol = new RandomPolicy(env.actionSpace, 9);
      const out = [...env.reset({ seed }).obs];
      for (let t = 0; t < 50; t++) {
        const r = env.step(pol.act());
        out.push(...r.obs, r.reward);
        if (r.terminated) out.push(...env.reset().obs);
      }
      env.close();
      return out;
    };
    assert.deepEqual(await run(4), await run(4), `${id}: same seed, same episode`);
    assert.notDeepEqual(await run(4), await run(5), `${id}: other seed, other episode`);
  }
  const cheetah = await HalfCheetahEnv.create();
  const hopper = await HopperEnv.create();
  const quiet = await HopperEnv.create({ resetNoiseScale: 0 });
  try {
    const vel: number[] = [];
    cheetah.reset({ seed: 0 });
    hopper.reset({ seed: 0 });
    for (let k = 0; k < 40; k++) {
      const c = cheetah.state;
      for (let i = 0; i < 9; i++) assert.ok(Math.abs(c[i]) <= 0.1, "qpos ~ U(-0.1, 0.1)");
      vel.push(...c.subarray(9));
      const h = hopper.state;
      for (let i = 0; i < 12; i++) {
        const ref = i === 1 ? 1.25 : 0;
        assert.ok(Math.abs(h[i] - ref) <= 0.005, "Hopper qpos, qvel ~ init + U(-0.005, 0.005)");
      }
      cheetah.reset();
      hopper.reset();
    }
    // HalfCheetah's velocities are 0.1 N(0, 1): 360 draws
    const mean = vel.reduce((a, b) => a + b, 0) / vel.length;
    const std = Math.sqrt(vel.reduce((a, b) => a + (b - mean) ** 2, 0) / vel.length);
    assert.ok(Math.abs(mean) < 0.02 && std > 0.085 && std < 0.115, `mean ${mean}, std ${std}`);
    assert.ok(vel.some((v) => Math.abs(v) > 0.1), "normal, not uniform: some beyond the scale");
    quiet.reset({ seed: 3 });
    assert.deepEqual([...quiet.state], [0, 1.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  } finally {
    cheetah.close();
    hopper.close();
    quiet.close();
  }
});

Deno.test("Hopper-v5: healthy ranges are open, a push topples it and ends the episode", async () => {
  const env = await HopperEnv.create();
  try {
    const at = (i: number, v: number) => {
      const s = [0, 1.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
      s[i] = v;
      env.reset({ state: s });
      return env.isHealthy;
    };
    assert.equal(at(1, 1.25), true);
    assert.equal(at(1, 0.7), false, "z must exceed 0.7");
    assert.equal(at(1, 0.7001), true);
    assert.equal(at(2, 0.2), false, "the angle must be inside (-0.2, 0.2)");
    assert.equal(at(2, -0.1999), true);
    assert.equal(at(8, 100), false, "velocities must be inside (-100, 100)");
    assert.equal(at(8, -99.9), true);
    assert.equal(at(0, 1e6), true, "the root x is not checked");
    // a push: the torso spins at 5 rad/s with no torque applied
    const push = [0, 1.25, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0];
    env.reset({ state: push });
    let t = 0;
    let r;
    do {
      r = env.step([0, 0, 0]);
      t++;
      if (!r.terminated) assert.equal(r.info.reward_survive, 1);
    } while (!r.terminated && t < 200);
    assert.ok(r.terminated && t < 20, `toppled after ${t} steps`);
    assert.equal(r.info.reward_survive, 0);
    assert.ok(env.state[2] >= 0.2, "ended by the angle");
    const fell = t;
    env.reset({ state: push.map((v, i) => (i === 8 ? -v : v)) });
    for (t = 1; !env.step([0, 0, 0]).terminated && t < 200; t++);
    assert.ok(t < 20 && env.state[2] <= -0.2, "pushed the other way, it topples backwards");
    near(r.reward, (r.info.reward_forward as number) + (r.info.reward_ctrl as number), 1e-12, "");
    // without termination it goes on, unrewarded while unhealthy
    const cont = await HopperEnv.create({ terminateWhenUnhealthy: false });
    cont.reset({ state: push });
    for (let k = 0; k < 40; k++) {
      const s = cont.step([0, 0, 0]);
      assert.equal(s.terminated, false);
      if (k >= fell - 1) assert.equal(s.info.reward_survive, 0);
    }
    cont.close();
    // ranges from kwargs: a z range that excludes the start ends the first step
    const strict = await makeEnv("Hopper-v5", { kwargs: { healthy_z_range: [0.7, 1.2] } });
    strict.reset({ seed: 0 });
    assert.equal(strict.step([0, 0, 0]).terminated, true);
    assert.throws(() => strict.step([0, 0, 0]), /finished episode/);
    strict.close();
  } finally {
    env.close();
  }
});

Deno.test("rest stays at rest under zero action (reset_noise_scale 0)", async () => {
  // HalfCheetah drops onto the floor from its reference pose and settles
  const cheetah = await HalfCheetahEnv.create({ resetNoiseScale: 0 });
  try {
    cheetah.reset({ seed: 0 });
    for (let t = 0; t < 300; t++) cheetah.step(zeros(cheetah));
    const settled = cheetah.state;
    for (let t = 0; t < 500; t++) {
      const r = cheetah.step(zeros(cheetah));
      assert.ok(Math.abs(r.reward) < 1e-6, `reward ${r.reward} at rest`);
    }
    const after = cheetah.state;
    for (let i = 0; i < after.length; i++) near(after[i], settled[i], 1e-6, `state[${i}]`);
    assert.ok(Math.abs(after[0]) < 0.02, "no drift along x");
  } finally {
    cheetah.close();
  }
  // Hopper: free fall (exactly -g t) until the foot touches, then it topples and lies still
  const hopper = await HopperEnv.create({ resetNoiseScale: 0, terminateWhenUnhealthy: false });
  try {
    hopper.reset({ seed: 0 });
    for (let t = 1; t <= 5; t++) {
      const r = hopper.step(zeros(hopper));
      const s = hopper.state;
      near(s[7], -9.81 * t * hopper.dt, 1e-9, `z velocity after ${t} steps`);
      near(s[1], 1.25 - 0.5 * 9.81 * (t * hopper.dt) ** 2, 1e-9, `z after ${t} steps`);
      for (const i of [0, 2, 3, 4, 5]) assert.ok(Math.abs(s[i]) < 1e-15, "no other motion");
      assert.equal(r.reward, 1, "healthy, still");
    }
    for (let t = 0; t < 1000; t++) hopper.step(zeros(hopper));
    const lying = hopper.state;
    assert.ok(lying[1] < 0.7, "it fell");
    for (let t = 0; t < 200; t++) {
      const r = hopper.step(zeros(hopper));
      assert.ok(Math.abs(r.reward) < 1e-6, `reward ${r.reward} lying still`);
    }
    const after = hopper.state;
    for (let i = 0; i < after.length; i++) near(after[i], lying[i], 1e-6, `state[${i}]`);
  } finally {
    hopper.close();
  }
});

Deno.test("Gymnasium keyword arguments: accepted names, types and values", async () => {
  const skip = await makeEnv("HalfCheetah-v5", { kwargs: { frame_skip: 10 } });
  assert.equal(baseOf(skip).dt, 0.1);
  skip.close();
  const full = await makeEnv("Hopper-v5", {
    kwargs: { exclude_current_positions_from_observation: false, reset_noise_scale: 0 },
  });
  assert.deepEqual(full.observationSpace.shape, [12]);
  assert.deepEqual([...full.reset({ seed: 0 }).obs].slice(0, 2), [0, 1.25]);
  full.close();
  const bad: [string, Record<string, unknown>, RegExp][] = [
    [
      "HalfCheetah-v5",
      { healthy_reward: 1 },
      /unknown keyword argument "healthy_reward".*accepted: frame_skip/,
    ],
    ["HalfCheetah-v5", { xml_file: "x.xml" }, /custom models are not supported/],
    ["HalfCheetah-v5", { ctrl_cost_weight: "0.1" }, /ctrl_cost_weight must be a number/],
    ["HalfCheetah-v5", { frame_skip: 2.5 }, /frame_skip must be an integer/],
    ["HalfCheetah-v5", { frame_skip: 0 }, /frameSkip must be an integer >= 1/],
    ["HalfCheetah-v5", { reset_noise_scale: -1 }, /resetNoiseScale must be a finite number >= 0/],
    ["Hopper-v5", { healthy_z_range: [1, 0.5] }, /healthyZRange must be \[lo, hi\]/],
    ["Hopper-v5", { healthy_angle_range: 0.2 }, /healthy_angle_range must be \[lo, hi\]/],
    ["Hopper-v5", { terminate_when_unhealthy: 1 }, /must be a boolean/],
    ["CartPole-v1", { reset_noise_scale: 0 }, /takes no keyword arguments/],
  ];
  for (const [id, kwargs, msg] of bad) {
    await assert.rejects(() => makeEnv(id, { kwargs }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${id} ${JSON.stringify(kwargs)}: ${e}`);
      assert.match((e as Error).message, msg);
      return true;
    });
  }
});

Deno.test("makeEnv: 1000-step limit, makeEnvSync once loaded, close() frees", async () => {
  await loadMujoco();
  for (const id of ["HalfCheetah-v5", "Hopper-v5"]) {
    const env: Env = makeEnvSync(id, { kwargs: { reset_noise_scale: 0 } });
    assert.equal(env.maxEpisodeSteps, 1000);
    env.reset({ seed: 0 });
    env.close();
    env.close();
    assert.throws(() => env.step(new Array(id === "Hopper-v5" ? 3 : 6).fill(0)), /after close/);
  }
  const cheetah = await makeEnv("HalfCheetah-v5");
  cheetah.reset({ seed: 0 });
  const pol = new RandomPolicy(cheetah.actionSpace, 0);
  let n = 0;
  let r;
  do {
    r = cheetah.step(pol.act());
    n++;
  } while (!r.truncated && !r.terminated);
  assert.equal(n, 1000);
  assert.equal(r.terminated, false, "HalfCheetah never terminates");
  cheetah.close();
});

Deno.test("Hopper contacts get 2 mm of margin whichever rule this MuJoCo combines margins by", async () => {
  const mj = await loadMujoco();
  const rule = contactMarginRule(mj);
  assert.ok(rule === "max" || rule === "sum");
  const env = await HopperEnv.create();
  try {
    // the foot's lowest point 1.5 mm above the floor: inside a 2 mm margin, outside 1 mm
    const foot = 0.04; // height of the foot capsule's bottom at the reference pose
    env.reset({ state: [0, 1.25 - foot + 0.0015, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
    const d = (env as unknown as { md: { d: { nefc: number; efc_margin: Float64Array } } }).md.d;
    assert.ok(d.nefc > 0, "the contact is active");
    near(d.efc_margin[0], 0.002, 1e-12, "contact margin");
  } finally {
    env.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Parity with Gymnasium's own environments, through the Gymnasium bridge
// ---------------------------------------------------------------------------------------------

/** 100 random actions (float32, as Gymnasium's action space), a few beyond [-1, 1]. */
function actionSequence(nu: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from(
    { length: 100 },
    () => Float32Array.from({ length: nu }, () => rng.uniform(-1.1, 1.1)),
  );
}

const PARITY_CASES: { env: string; kwargs: Record<string, unknown>; openLoop: number }[] = [
  { env: "HalfCheetah-v5", kwargs: { reset_noise_scale: 0 }, openLoop: 40 },
  {
    env: "HalfCheetah-v5",
    kwargs: {
      reset_noise_scale: 0,
      forward_reward_weight: 2,
      ctrl_cost_weight: 0.3,
      exclude_current_positions_from_observation: false,
    },
    openLoop: 40,
  },
  { env: "Hopper-v5", kwargs: { reset_noise_scale: 0 }, openLoop: 100 },
  {
    env: "Hopper-v5",
    kwargs: {
      reset_noise_scale: 0,
      terminate_when_unhealthy: false,
      healthy_reward: 2,
      healthy_z_range: [0.8, 100],
      healthy_angle_range: [-0.3, 0.3],
      frame_skip: 3,
    },
    openLoop: 100,
  },
];

/** Both observations are float32 roundings of float64 states: equal to a float32 ulp or two. */
function sameObs(ours: ArrayLike<number>, theirs: ArrayLike<number>, what: string) {
  assert.equal(ours.length, theirs.length, `${what}: observation size`);
  for (let i = 0; i < ours.length; i++) near(ours[i], theirs[i], 2e-6, `${what}: obs[${i}]`);
}

function sameInfo(ours: Info, theirs: Info, what: string) {
  for (const [key, v] of Object.entries(theirs)) {
    if (typeof v === "number") near(ours[key] as number, v, 1e-6, `${what}: info.${key}`);
  }
}

Deno.test({
  name:
    "parity with Gymnasium's HalfCheetah-v5 / Hopper-v5 (bridge): same actions, same observations and rewards",
  ignore: SKIP_GYM,
  fn: async () => {
    for (const [k, c] of PARITY_CASES.entries()) {
      const actions = actionSequence(c.env === "Hopper-v5" ? 3 : 6, 100 + k);
      const what = `${c.env} ${JSON.stringify(c.kwargs)}`;
      const ours = await makeEnv(c.env, { kwargs: c.kwargs, maxEpisodeSteps: Infinity });
      const gym = await makeEnv(`gym:${c.env}`, {
        kwargs: c.kwargs,
        gym: { python: TEST_PYTHON! },
      }) as GymEnv;
      try {
        const r0 = ours.reset({ seed: 0 });
        const g0 = gym.reset({ seed: 0 });
        sameObs(r0.obs, g0.obs, `${what}: first`);
        sameInfo(r0.info, g0.info, `${what}: reset`);
        // Open loop: the same actions from the same start, until the episode ends. The two
        // MuJoCo builds differ by ~1e-15 per step; HalfCheetah's contacts amplify that chaotically
        // after ~50 steps (as they amplify a 1e-14 nudge of Gymnasium's own initial state), so
        // its window is 40 steps; the Hopper's is the whole sequence.
        for (let t = 0; t < c.openLoop; t++) {
          const r = ours.step(actions[t]);
          const g = gym.step(actions[t]);
          const at = `${what}: open loop, step ${t + 1}`;
          sameObs(r.obs, g.obs, at);
          near(r.reward, g.reward, 1e-6, `${at}: reward`);
          sameInfo(r.info, g.info, at);
          assert.equal(r.terminated, g.terminated, `${at}: terminated`);
          if (g.terminated) break;
        }
        // One step at a time from Gymnasium's own states, all 100 steps (through terminations):
        // the next state agrees to 1e-10 (measured: <= 2e-12), the observations to float32
        // rounding, the reward terms to 1e-6 (Gymnasium computes the control cost in float32),
        // the termination exactly.
        gym.reset({ seed: 0 });
        let state = gym.getState();
        for (let t = 0; t < 100; t++) {
          gym.reset({ state });
          const g = gym.step(actions[t]);
          const next = gym.getState();
          ours.reset({ state });
          const r = ours.step(actions[t]);
          const at = `${what}: step ${t + 1} from Gymnasium's state`;
          const s = baseOf(ours).state;
          for (let i = 0; i < s.length; i++) near(s[i], next[i], 1e-10, `${at}: state[${i}]`);
          sameObs(r.obs, g.obs, at);
          near(r.reward, g.reward, 1e-6, `${at}: reward`);
          sameInfo(r.info, g.info, at);
          assert.equal(r.terminated, g.terminated, `${at}: terminated`);
          state = next;
        }
      } finally {
        ours.close();
        gym.close();
      }
    }
  },
});
