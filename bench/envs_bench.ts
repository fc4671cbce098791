/**
 * Environment steps of the MuJoCo locomotion tasks (wasm, npm:mujoco-js): one `step` of
 * HalfCheetah-v5 (5 Euler timesteps) and Hopper-v5 (4 RK4 timesteps) with random actions,
 * resetting at episode ends, and one 64x64 `render`. Gymnasium's own rate on the same machine:
 * `python -c` loop in docs/mujoco_locomotion.md.
 *
 *   deno bench -A --no-check bench/envs_bench.ts
 */

import { type Env, makeEnv, RandomPolicy } from "../src/envs/mod.ts";

for (const id of ["HalfCheetah-v5", "Hopper-v5"]) {
  const env: Env = await makeEnv(id);
  const policy = new RandomPolicy(env.actionSpace, 0);
  const actions = Array.from({ length: 1024 }, () => policy.act());
  env.reset({ seed: 0 });
  let t = 0;
  Deno.bench(`${id}: step (random actions)`, { group: id, baseline: true }, () => {
    const r = env.step(actions[t++ & 1023]);
    if (r.terminated || r.truncated) env.reset();
  });
  Deno.bench(`${id}: render 64x64`, { group: id }, () => {
    env.render();
  });
}
