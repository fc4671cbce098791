/**
 * Imagination of a saved world model next to reality (the seed's
 * `examples/visualize_imagination.py`): the model filters the first `--warmup` observations of a
 * real trajectory, then imagines the rest open-loop along the real actions.
 *
 *   deno run -A examples/visualize_imagination.ts --model outputs/dreamerv3_offline/model \
 *     --data trajectories.npz [--episode K]
 *   deno run -A examples/visualize_imagination.ts --model outputs/evidence/model \
 *     --env MinAtar/Breakout-v1 [--seed 0] [--steps 40]
 *
 * The trajectory is an episode of a replay-buffer `.npz` (`--data`; the longest by default), or one played in an
 * environment (`--env`, with `--pixels`/`--size`/`--frame-skip` as the model was trained) by the
 * model's own controller, greedy (random actions for a family without one). Writes into `--out`
 * (default `outputs/imagination`):
 *
 * - `imagination.png`: real frames (top) over decoded imagined frames (bottom), every other
 *   imagined step (pixel and MinAtar-grid observations of models with a decoder);
 * - `imagination.svg`: real vs imagined rewards, and decoded dimensions (vectors), the decoded
 *   observation's error (images) or the imagined latent's agreement with the encoded real
 *   observation (models without a decoder, e.g. TD-MPC2);
 * - `imagination.json`: the numbers.
 * @module
 */

import { join, resolve } from "node:path";
import {
  fromPretrained,
  makeEnv,
  parseTrainingConfig,
  randomController,
  resolveController,
} from "../mod.ts";
import {
  imaginationPng,
  imaginationSvg,
  imagine,
  playGreedy,
  type Trajectory,
  trajectoryFromNpz,
} from "./lib/imagination.ts";
import { parseFlags, writeJson } from "./learn_lib.ts";

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`Usage: deno run -A examples/visualize_imagination.ts --model DIR
       (--data FILE.npz [--episode K (default: the longest)] | --env ID [--pixels] [--size 64] [--frame-skip 1]
       [--seed 0] [--steps 40]) [--warmup 5] [--out outputs/imagination]`);
  Deno.exit(0);
}
const flags = parseFlags(Deno.args, {
  model: "",
  data: "",
  episode: -1,
  env: "",
  pixels: false,
  size: 64,
  frameSkip: 1,
  seed: 0,
  steps: 40,
  warmup: 5,
  out: "outputs/imagination",
});
if (!flags.model) throw new Error("--model DIR is required (a directory saved by savePretrained)");
if ((flags.data === "") === (flags.env === "")) {
  throw new Error("give exactly one of --data FILE.npz and --env ID");
}

const model = await fromPretrained(resolve(flags.model));
let traj: Trajectory;
let source: Record<string, unknown>;
if (flags.data) {
  traj = await trajectoryFromNpz(
    resolve(flags.data),
    flags.episode < 0 ? undefined : flags.episode,
  );
  source = { data: flags.data, episode: flags.episode };
} else {
  const env = await makeEnv(flags.env, {
    pixels: flags.pixels,
    size: flags.size,
    frameSkip: flags.frameSkip,
    normalizeActions: true,
  });
  const controller = resolveController(model, {
    actionSpace: env.actionSpace,
    observationSpace: env.observationSpace,
    config: parseTrainingConfig({ seed: flags.seed }),
  }) ?? randomController(env.actionSpace, flags.seed);
  model.eval();
  traj = await playGreedy(env, controller, { seed: flags.seed, steps: flags.steps });
  env.close();
  source = { env: flags.env, seed: flags.seed, pixels: flags.pixels, frame_skip: flags.frameSkip };
}
const expected = model.ioContract().observationSpec.modalities.obs?.shape;
if (expected && expected.join(",") !== traj.obsShape.join(",")) {
  throw new Error(
    `the model takes observations of [${expected}], the trajectory has [${traj.obsShape}]: ` +
      `use the data or environment settings it was trained on`,
  );
}

const im = await imagine(model, traj, Math.min(flags.warmup, traj.actions.length - 1));
const out = resolve(flags.out);
await Deno.mkdir(out, { recursive: true });
await Deno.writeTextFile(join(out, "imagination.svg"), imaginationSvg(im));
const png = imaginationPng(im);
if (png) await Deno.writeFile(join(out, "imagination.png"), png);
await writeJson(join(out, "imagination.json"), {
  model: flags.model,
  model_type: model.modelType,
  source,
  warmup: im.warmup,
  horizon: im.horizon,
  real_rewards: im.realRewards,
  imagined_rewards: im.imaginedRewards,
  obs_error: im.obsError,
  latent_cosine: im.latentCosine,
});
model.dispose();
const mae = (a: readonly number[], b: readonly number[]) =>
  a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / Math.max(1, a.length);
console.log(
  `${model.modelType}: ${im.horizon} steps imagined after ${im.warmup} observed; reward error ` +
    `${mae(im.imaginedRewards, im.realRewards.slice(im.warmup)).toFixed(3)} per step` +
    (im.obsError
      ? `, decoded observation error ${mae(im.obsError, im.obsError.map(() => 0)).toFixed(3)}`
      : ""),
);
console.log(
  `wrote ${join(out, "imagination.svg")}${png ? `, ${join(out, "imagination.png")}` : ""}, ` +
    `${join(out, "imagination.json")}`,
);
