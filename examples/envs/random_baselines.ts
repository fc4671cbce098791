/**
 * Random-policy baselines and filmstrips of every registered environment.
 *
 *   deno run -A examples/envs/random_baselines.ts [episodes=20] [outDir=outputs/envs]
 *
 * Prints the mean +- std return of a uniformly random policy over `episodes` episodes (policy
 * seed 0, env seed 0) and writes `<outDir>/<env id>.png`: 16 frames of a random episode (every
 * 4th step, 64x64 each) as the pixel observations DreamerV3 would see.
 */

import {
  encodeRgbPng,
  evaluatePolicy,
  listEnvs,
  makeEnv,
  RandomPolicy,
  tileFrames,
} from "../../src/envs/mod.ts";

const episodes = Number(Deno.args[0] ?? 20);
const outDir = Deno.args[1] ?? "outputs/envs";
await Deno.mkdir(outDir, { recursive: true });

for (const id of listEnvs()) {
  const env = await makeEnv(id);
  const t0 = performance.now();
  const res = evaluatePolicy(env, new RandomPolicy(env.actionSpace, 0), episodes, { seed: 0 });
  const ms = performance.now() - t0;
  const steps = res.lengths.reduce((a, b) => a + b, 0);

  const policy = new RandomPolicy(env.actionSpace, 1);
  env.reset({ seed: 1 });
  const frames = [env.render()];
  for (let t = 1; frames.length < 16; t++) {
    const r = env.step(policy.act());
    if (t % 4 === 0) frames.push(env.render());
    if (r.terminated || r.truncated) env.reset();
  }
  env.close();
  const strip = tileFrames(frames, env.renderSize, 8);
  await Deno.writeFile(
    `${outDir}/${id.replaceAll("/", "_")}.png`,
    encodeRgbPng(strip.image, strip.width, strip.height),
  );
  console.log(
    `${id.padEnd(26)} random return ${res.mean.toFixed(2).padStart(9)} +- ${
      res.std.toFixed(2).padStart(7)
    }  (mean length ${(steps / episodes).toFixed(1)}, ${(steps / (ms / 1000)).toFixed(0)} steps/s)`,
  );
}
