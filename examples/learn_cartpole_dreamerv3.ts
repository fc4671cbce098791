/**
 * DreamerV3 learns CartPole-v1 with the online loop: random prefill, then its actor on the
 * filtered RSSM state (the family's controller: posterior and previous action carried across
 * steps, reset at episode starts), world-model and actor-critic updates at a replay ratio,
 * greedy evaluations (the actor's mode).
 *
 *   deno run -A examples/learn_cartpole_dreamerv3.ts [--steps 20000] [--seed 0]
 *     [--out outputs/learning/dreamerv3] [--pixels] [--actor-entropy 3e-4] [--cnn-depth N]
 *     [--save-interval N] [--resume DIR]
 *
 * `--save-interval N` writes a resumable checkpoint into the output directory every N
 * environment steps (at the end of the training episode it falls in; the newest 2 kept: from
 * pixels a checkpoint holds the frames, ~12 KB a step); `--resume DIR` (a checkpoint, or the
 * output directory) continues a killed run exactly, with the same flags (`--out` defaults to
 * DIR's run), and its records cover the whole run.
 *
 * `--pixels` learns from 64x64 RGB frames of the built-in renderer (the CNN encoder and decoder)
 * instead of the 4 state values.
 *
 * Writes `<out>/metrics.jsonl`, `returns.json`, `summary.json` and `returns.png` (see
 * `learn_pendulum_tdmpc2.ts`).
 *
 * Model: DreamerV3 with vector observations and discrete actions (the actor's categorical head,
 * one-hot actions in the replay buffer), the `dreamer:ci` size (deter 64 in 8 GRU blocks, 32-unit
 * MLPs) with 32 x 4 categorical latents (the official size1m's; the preset's 4 x 4 latent has
 * only 256 codes, and with it the continue head never told safe states from failing ones: runs
 * solved CartPole and lost it again, docs/learning_results.md), official loss and actor-critic
 * settings (KL balancing with free bits, two-hot reward and critic over 255 bins, imagination 15
 * steps, lambda 0.95, return normalisation, slow critic, LaProp with AGC 0.3), replay ratio 128
 * (one update of 16 x 32 steps every 4 environment steps); for the 20,000-step budget, horizon
 * 100 (discount 0.99; official 333), learning rates 3e-4 (official 4e-5) and sequences of 32
 * steps (official 64). Evaluations: 10 greedy episodes every 1,000 steps. With these defaults
 * seeds 0, 1 and 2 reach 475 within 20,000 steps and hold it (docs/results/dreamerv3_cartpole_seeds).
 * From pixels, `--pixels --steps 30000 --actor-entropy 0.003` with `WORLDFLUX_CPU_THREADS=2`, one run
 * at a time: seeds 0 and 1 reach 400 in 53-55 minutes (docs/results/dreamerv3_cartpole_pixels/2threads-30k).
 * @module
 */

import {
  createWorldModel,
  dreamerV3Controller,
  type DreamerV3WorldModel,
  makeEnvSync,
  PixelObservation,
} from "../mod.ts";
import { onlineConfig, parseFlags, runDirOf, runLearning } from "./learn_lib.ts";

const flags = parseFlags(Deno.args, {
  steps: 20_000,
  seed: 0,
  out: "outputs/learning/dreamerv3",
  prefill: 1000,
  evalInterval: 1000,
  evalEpisodes: 10,
  finalEpisodes: 10,
  baselineEpisodes: 20,
  batchSize: 16,
  seqLen: 32,
  replayRatio: 128, // replayed steps (batch x sequence) per environment step
  lr: 3e-4,
  acLr: 3e-4,
  preset: "dreamer:ci",
  horizon: 100, // discount 1 - 1/horizon (official 333)
  // Size overrides of the preset (0: the preset's); the official size1m has stoch 32, classes 4.
  deter: 0,
  stoch: 32,
  classes: 0,
  hidden: 0,
  units: 0,
  cnnDepth: 0, // channels of the first conv stage (doubling per stage); the preset's is 3
  actorEntropy: 0, // entropy bonus of the actor (0: the preset's, official 3e-4)
  // Learn from 64x64 RGB frames of the built-in renderer (PixelObservation) instead of the state.
  pixels: false,
  saveInterval: 0, // resumable checkpoints every N environment steps (0: none)
  resume: "", // continue a killed run from a checkpoint or its output directory
});
if (flags.resume && flags.out === "outputs/learning/dreamerv3") {
  flags.out = await runDirOf(flags.resume);
}

const envId = "CartPole-v1";
const makeCartPole = () => {
  const e = makeEnvSync(envId);
  return flags.pixels ? new PixelObservation(e) : e;
};
const env = makeCartPole();
const evalEnv = makeCartPole();
const modelConfig = {
  obsShape: env.observationSpace.shape,
  actionDim: 2,
  actionType: "discrete" as const,
  lr: flags.lr,
  acLr: flags.acLr,
  horizon: flags.horizon,
  seed: flags.seed,
  ...Object.fromEntries(
    (["deter", "stoch", "classes", "hidden", "units", "cnnDepth", "actorEntropy"] as const).filter((
      k,
    ) => flags[k] > 0)
      .map((k) => [k, flags[k]]),
  ),
};
const model = await createWorldModel(flags.preset, modelConfig) as DreamerV3WorldModel;
const controller = dreamerV3Controller(model);
const trainRatio = flags.replayRatio / (flags.batchSize * flags.seqLen);

await runLearning({
  family: "dreamerv3",
  envId: env.id,
  model,
  env,
  evalEnv,
  controller,
  config: onlineConfig(flags, {
    trainRatio,
    batchSize: flags.batchSize,
    sequenceLength: flags.seqLen,
  }),
  baselineEpisodes: flags.baselineEpisodes,
  finalEpisodes: flags.finalEpisodes,
  saveInterval: flags.saveInterval,
  resumeFrom: flags.resume || undefined,
  settings: {
    preset: flags.preset,
    model: { ...modelConfig, parameters: model.numParameters() },
    replay_ratio: flags.replayRatio,
    config: {
      deter: model.config.deter,
      stoch: model.config.stoch,
      classes: model.config.classes,
      hidden: model.config.hidden,
      units: model.config.units,
      cnnDepth: model.config.cnnDepth,
      actorEntropy: model.config.actorEntropy,
      imagLength: model.config.imagLength,
      horizon: model.config.horizon,
      optimizer: model.config.optimizer,
      agc: model.config.agc,
    },
    env: { id: env.id, pixels: flags.pixels },
  },
  command: `deno run -A examples/learn_cartpole_dreamerv3.ts ${Deno.args.join(" ")}`.trim(),
  title: `DREAMERV3 ON CARTPOLE-V1${flags.pixels ? " FROM PIXELS" : ""} (SEED ${flags.seed})`,
  references: [{ y: 500, label: "MAX RETURN 500" }],
});
Deno.exit(0);
