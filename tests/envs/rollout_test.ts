/**
 * Data collection: the step-aligned layout of `rollout` (for ReplayBuffer.addEpisode), whole
 * episodes with T+1 observations, RandomPolicy seeding, and the random-policy baselines.
 */

import assert from "node:assert/strict";
import {
  collectEpisodes,
  evaluatePolicy,
  makeEnv,
  makeEnvSync,
  RandomPolicy,
  rollout,
  rolloutVector,
  SyncVectorEnv,
} from "../../src/envs/mod.ts";

Deno.test("rollout: step-aligned arrays with auto-reset, one-hot discrete actions", () => {
  const env = makeEnvSync("CartPole-v1");
  const T = 300;
  const data = rollout(env, new RandomPolicy(env.actionSpace, 1), T, 42);
  assert.equal(data.steps, T);
  assert.deepEqual(data.obsShape, [4]);
  assert.equal(data.obsDtype, "float32");
  assert.equal(data.actionDim, 2);
  assert.equal(data.obs.length, T * 4);
  assert.equal(data.actions.length, T * 2);
  for (const a of [data.rewards, data.dones, data.terminated, data.truncated, data.firsts]) {
    assert.equal(a.length, T);
  }
  assert.ok(data.episodeReturns.length >= 5, "several random CartPole episodes in 300 steps");

  // replay the same seeds by hand and compare every field
  const ref = makeEnvSync("CartPole-v1");
  const pol = new RandomPolicy(ref.actionSpace, 1);
  let obs = ref.reset({ seed: 42 }).obs;
  let ret = 0;
  let ep = 0;
  for (let t = 0; t < T; t++) {
    assert.deepEqual([...data.obs.subarray(4 * t, 4 * t + 4)], [...obs], `obs[${t}]`);
    const a = pol.act() as number;
    assert.deepEqual([...data.actions.subarray(2 * t, 2 * t + 2)], a === 1 ? [0, 1] : [1, 0]);
    const r = ref.step(a);
    assert.equal(data.rewards[t], r.reward);
    assert.equal(data.terminated[t], r.terminated ? 1 : 0);
    assert.equal(data.dones[t], r.terminated || r.truncated ? 1 : 0);
    assert.equal(data.firsts[t], t === 0 || data.dones[t - 1] === 1 ? 1 : 0);
    ret += r.reward;
    obs = r.obs;
    if (r.terminated || r.truncated) {
      assert.equal(data.episodeReturns[ep], ret);
      ep++;
      ret = 0;
      if (t + 1 < T) obs = ref.reset().obs;
    }
  }
  assert.deepEqual([...data.finalObs], [...obs]);
  assert.equal(
    data.episodeLengths.reduce((a, b) => a + b, 0),
    data.episodeReturns.reduce((a, b) => a + b, 0),
  );
});

Deno.test("rollout of pixel observations: uint8 [T, 3, 64, 64]; continuous actions as sent", async () => {
  const env = await makeEnv("Pendulum-v1", { pixels: true });
  const data = rollout(env, new RandomPolicy(env.actionSpace, 0), 20, 0);
  assert.ok(data.obs instanceof Uint8Array);
  assert.equal(data.obs.length, 20 * 3 * 64 * 64);
  assert.deepEqual(data.obsShape, [3, 64, 64]);
  assert.equal(data.obsDtype, "uint8");
  assert.equal(data.actionDim, 1);
  const again = new RandomPolicy(env.actionSpace, 0);
  for (let t = 0; t < 20; t++) assert.equal(data.actions[t], (again.act() as Float32Array)[0]);
  for (let t = 0; t < 20; t++) assert.ok(Math.abs(data.actions[t]) <= 2);
  // a plain function works as a policy
  const zero = rollout(env, () => [0], 5, 0);
  assert.deepEqual([...zero.actions], [0, 0, 0, 0, 0]);
});

Deno.test("collectEpisodes: T+1 observations, done on the last step, reproducible", () => {
  const env = makeEnvSync("CartPole-v1");
  const eps = collectEpisodes(env, new RandomPolicy(env.actionSpace, 3), 4, { seed: 9 });
  assert.equal(eps.length, 4);
  for (const e of eps) {
    assert.equal(e.obs.length, (e.length + 1) * 4);
    assert.equal(e.actions.length, e.length * 2);
    assert.equal(e.rewards.length, e.length);
    assert.equal(e.dones[e.length - 1], 1);
    assert.equal(e.dones.reduce((a, b) => a + b, 0), 1);
    assert.equal(e.end, "terminated");
    assert.equal(e.terminated[e.length - 1], 1);
    assert.equal(e.truncated[e.length - 1], 0);
    assert.equal(e.return, e.length, "CartPole pays 1 per step");
  }
  assert.notDeepEqual(eps[0].obs.subarray(0, 4), eps[1].obs.subarray(0, 4));
  const again = collectEpisodes(env, new RandomPolicy(env.actionSpace, 3), 4, { seed: 9 });
  assert.deepEqual(again.map((e) => [...e.obs]), eps.map((e) => [...e.obs]));
  // a time-limited episode ends truncated, not terminated
  const pend = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: 15 });
  const [p] = collectEpisodes(pend, new RandomPolicy(pend.actionSpace, 0), 1, { seed: 0 });
  assert.equal(p.length, 15);
  assert.equal(p.end, "truncated");
  assert.deepEqual([p.truncated[14], p.terminated[14], p.dones[14]], [1, 0, 1]);
  assert.equal(p.obs.length, 16 * 3);
});

/** Random-policy baselines (20 episodes, policy seed 0, env seed 0). */
const BASELINES: [string, number, number][] = [
  ["CartPole-v1", 15, 35],
  ["Pendulum-v1", -1500, -900],
  ["MountainCarContinuous-v0", -36, -31],
  ["Acrobot-v1", -500, -420],
  ["CartPoleSwingup-mujoco", 5, 80],
  ["HalfCheetah-v5", -330, -230],
  ["Hopper-v5", 10, 22],
];

Deno.test("random-policy returns are the known baselines", async () => {
  const lines: string[] = [];
  for (const [id, lo, hi] of BASELINES) {
    const env = await makeEnv(id);
    const res = evaluatePolicy(env, new RandomPolicy(env.actionSpace, 0), 20, { seed: 0 });
    env.close();
    assert.equal(res.returns.length, 20);
    assert.ok(res.mean >= lo && res.mean <= hi, `${id}: random mean return ${res.mean}`);
    lines.push(`${id}: ${res.mean.toFixed(2)} +- ${res.std.toFixed(2)}`);
  }
  console.log(`random-policy mean returns (20 episodes): ${lines.join("; ")}`);
});

Deno.test("rollout and collectEpisodes feed ReplayBuffer.addEpisode as they are", async () => {
  const { ReplayBuffer } = await import("../../src/training/replay_buffer.ts");
  const env = await makeEnv("CartPole-v1", { pixels: true });
  const data = rollout(env, new RandomPolicy(env.actionSpace, 0), 200, 0);
  const buf = new ReplayBuffer({
    capacity: 1000,
    obsShape: data.obsShape,
    actionDim: data.actionDim,
    obsDtype: data.obsDtype,
    seed: 0,
  });
  buf.addEpisode(data);
  assert.equal(buf.size, 200);
  // the episodes that ended inside the rollout, plus its unfinished tail
  assert.equal(buf.numEpisodes, data.episodeReturns.length + (data.dones[199] ? 0 : 1));
  const eps = collectEpisodes(env, new RandomPolicy(env.actionSpace, 1), 2, { seed: 1 });
  for (const e of eps) buf.addEpisode(e);
  assert.equal(buf.size, 200 + eps[0].length + eps[1].length, "T+1 observations: last row dropped");
  const s = buf.sampleArrays(4, 8);
  assert.equal(s.obs.length, 4 * 8 * 3 * 64 * 64);
  assert.ok(s.obs instanceof Uint8Array);
  // sampled one-hot actions and terminal flags are consistent with CartPole's data
  for (let i = 0; i < 4 * 8; i++) assert.equal(s.actions[2 * i] + s.actions[2 * i + 1], 1);
  env.close();
});

Deno.test("rolloutVector over a SyncVectorEnv equals rollout of each environment alone", () => {
  const T = 300;
  const venv = new SyncVectorEnv([0, 1, 2].map(() => makeEnvSync("CartPole-v1")));
  const data = rolloutVector(
    venv,
    [0, 1, 2].map((i) => new RandomPolicy(venv.actionSpace, i)),
    T,
    5,
  );
  assert.equal(data.length, 3);
  for (let i = 0; i < 3; i++) {
    const alone = rollout(
      makeEnvSync("CartPole-v1"),
      new RandomPolicy(venv.actionSpace, i),
      T,
      5 + i,
    );
    for (
      const k of [
        "obs",
        "actions",
        "rewards",
        "dones",
        "terminated",
        "truncated",
        "firsts",
      ] as const
    ) {
      assert.deepEqual(data[i][k], alone[k], `env ${i}: ${k}`);
    }
    assert.deepEqual(data[i].finalObs, alone.finalObs);
    assert.deepEqual(data[i].episodeReturns, alone.episodeReturns);
    assert.ok(data[i].episodeReturns.length >= 3); // random CartPole episodes are short
  }
  assert.throws(() => rolloutVector(venv, [new RandomPolicy(venv.actionSpace)], 2), RangeError);
  venv.close();
});
