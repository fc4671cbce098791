/**
 * An evidence bundle of DreamerV3 learning Breakout (the seed's
 * `examples/benchmarks/evidence_dreamerv3_breakout.py`): one online run through `runProject`
 * (what `worldflux train` runs), then the random baseline, a final greedy evaluation, the curve
 * and a report.
 *
 *   deno run -A examples/evidence_dreamerv3_breakout.ts                         # ALE/Breakout-v5
 *   deno run -A examples/evidence_dreamerv3_breakout.ts --env MinAtar/Breakout-v1
 *   deno run -A examples/evidence_dreamerv3_breakout.ts --env MinAtar/Breakout-v1 --smoke
 *
 * `ALE/Breakout-v5` is Atari Breakout from pixels through the Gymnasium bridge
 * (`[data] source = "gym"`; needs Python with gymnasium and ale-py); `MinAtar/Breakout-v1` is the
 * built-in MinAtar Breakout (10x10x4 grid, in process, no Python). `--smoke` is a budget of a few
 * hundred steps that checks the pipeline, not learning (the test suite runs it).
 *
 * Writes into `--out` (default `outputs/evidence_dreamerv3_breakout/<env>`):
 *
 * | file                          | what                                                       |
 * | ----------------------------- | ---------------------------------------------------------- |
 * | `run_manifest.json`           | the run (`run_classification`, `degraded_modes`, budget, model, data) |
 * | `metrics.jsonl`               | every log, evaluation and checkpoint                       |
 * | `checkpoint_*`, `model/`      | training checkpoints and the trained model                 |
 * | `returns.json`                | every evaluation and training-episode return, the random baseline, the final evaluation |
 * | `summary.json`, `returns.png` | budget, wall time, best/final evaluation; the curve        |
 * | `imagination.png`/`.svg`      | real frames over the model's open-loop imagination         |
 * | `report.html`                 | all of it on one self-contained page                       |
 * @module
 */

import { join, resolve } from "node:path";
import {
  listEnvs,
  makeEnv,
  type MakeEnvOptions,
  parseTrainingConfig,
  randomController,
  resolveController,
} from "../mod.ts";
import { parseProjectConfig, runProject } from "../cli.ts";
import { finalEvaluation, parseFlags, randomBaseline, writeLearningRecord } from "./learn_lib.ts";
import { imaginationPng, imaginationSvg, imagine, playGreedy } from "./lib/imagination.ts";
import { dataUri, esc } from "../src/web/charts.js";

/** Budgets and model settings per environment (flags override them). */
const DEFAULTS = {
  "MinAtar/Breakout-v1": {
    steps: 30_000,
    prefill: 2000,
    evalInterval: 2500,
    evalEpisodes: 10,
    preset: "ci",
    lr: 3e-4,
    acLr: 3e-4,
    batchSize: 16,
    seqLen: 32,
    replayRatio: 128,
  },
  "ALE/Breakout-v5": {
    steps: 100_000,
    prefill: 5000,
    evalInterval: 10_000,
    evalEpisodes: 5,
    preset: "ci",
    lr: 1e-4,
    acLr: 3e-5,
    batchSize: 16,
    seqLen: 64,
    replayRatio: 32,
  },
} as const;

/** The smoke budget: the pipeline end to end in seconds, not learning. */
const SMOKE = {
  steps: 300,
  prefill: 150,
  evalInterval: 300,
  evalEpisodes: 2,
  batchSize: 4,
  seqLen: 8,
  replayRatio: 8,
  randomEpisodes: 10,
  finalEpisodes: 2,
  saveInterval: 150,
} as const;

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`Usage: deno run -A examples/evidence_dreamerv3_breakout.ts [--env ALE/Breakout-v5 |
       MinAtar/Breakout-v1] [--smoke] [--steps N] [--seed 0] [--preset ci] [--out DIR]
       [--prefill N] [--eval-interval N] [--eval-episodes N] [--random-episodes 100]
       [--final-episodes 20] [--batch-size B] [--seq-len T] [--replay-ratio R] [--lr X] [--ac-lr X]
       [--warmup UPDATES] [--deter N] [--stoch N] [--classes N] [--hidden N] [--units N]
       [--cnn-depth N] [--horizon N] [--actor-entropy X]`);
  Deno.exit(0);
}

const flags = parseFlags(Deno.args, {
  env: "ALE/Breakout-v5",
  smoke: false,
  steps: 0,
  seed: 0,
  preset: "",
  out: "",
  prefill: 0,
  evalInterval: 0,
  evalEpisodes: 0,
  randomEpisodes: 100,
  finalEpisodes: 20,
  batchSize: 0,
  seqLen: 0,
  replayRatio: 0,
  lr: 0,
  acLr: 0,
  warmup: -1,
  // Size overrides of the preset (0: the preset's) and the return horizon (discount 1 - 1/h).
  deter: 0,
  stoch: 0,
  classes: 0,
  hidden: 0,
  units: 0,
  cnnDepth: 0,
  horizon: 0,
  actorEntropy: 0, // entropy bonus of the actor (0: the preset's, official 3e-4)
});
const SIZE_FLAGS = [
  "deter",
  "stoch",
  "classes",
  "hidden",
  "units",
  "cnnDepth",
  "horizon",
  "actorEntropy",
] as const;
const sizeOverrides = Object.fromEntries(
  SIZE_FLAGS.filter((k) => flags[k] > 0).map((
    k,
  ) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), flags[k]]),
);
const envId = flags.env.replace(/^gym:/, "");
if (!(envId in DEFAULTS)) {
  throw new Error(`--env must be one of ${Object.keys(DEFAULTS).join(", ")}, got ${flags.env}`);
}
const d = DEFAULTS[envId as keyof typeof DEFAULTS];
const smoke = flags.smoke;
const pick = (flag: number, full: number, small?: number) =>
  flag || (smoke && small !== undefined ? small : full);
const steps = pick(flags.steps, d.steps, SMOKE.steps);
const batchSize = pick(flags.batchSize, d.batchSize, SMOKE.batchSize);
const seqLen = pick(flags.seqLen, d.seqLen, SMOKE.seqLen);
const replayRatio = pick(flags.replayRatio, d.replayRatio, SMOKE.replayRatio);
const randomEpisodes = smoke ? SMOKE.randomEpisodes : flags.randomEpisodes;
const finalEpisodes = smoke ? SMOKE.finalEpisodes : flags.finalEpisodes;
const preset = flags.preset || d.preset;
const out = resolve(
  flags.out || join("outputs/evidence_dreamerv3_breakout", envId.replace(/\//g, "_")),
);

// The data table: a built-in environment in process, or a Gymnasium one through the bridge
// (its defaults are DreamerV3's Atari pre-processing: 64x64 frames, action repeat 4, and ALE v5's
// sticky actions).
// Under the smoke budget Atari episodes are capped at 400 frames (100 decisions): an untrained
// greedy policy that never presses FIRE would otherwise play Gymnasium's 108,000 frames.
const data: Record<string, unknown> = listEnvs().includes(envId)
  ? { source: "env", env: envId }
  : { source: "gym", env: envId, ...(smoke ? { max_episode_steps: 400 } : {}) };
const project = parseProjectConfig({
  name: `evidence-dreamerv3-${envId.replace(/\W+/g, "-").toLowerCase()}`,
  model: {
    family: "dreamerv3",
    preset,
    overrides: {
      lr: flags.lr || d.lr,
      ac_lr: flags.acLr || d.acLr,
      // updates of the learning-rate ramp (official 1,000); shorter for short budgets
      ...(flags.warmup >= 0 ? { warmup: flags.warmup } : {}),
      ...sizeOverrides,
    },
  },
  data,
  training: {
    total_steps: steps,
    prefill_steps: pick(flags.prefill, d.prefill, SMOKE.prefill),
    batch_size: batchSize,
    sequence_length: seqLen,
    // replayed steps (batch x sequence) per environment step, as DreamerV3's replay ratio
    train_ratio: replayRatio / (batchSize * seqLen),
    eval_interval: pick(flags.evalInterval, d.evalInterval, SMOKE.evalInterval),
    eval_episodes: pick(flags.evalEpisodes, d.evalEpisodes, SMOKE.evalEpisodes),
    log_interval: smoke ? 100 : 500,
    save_interval: smoke ? SMOKE.saveInterval : Math.max(1000, Math.floor(steps / 4)),
    seed: flags.seed,
    device: "cpu",
    output_dir: out,
  },
}, { baseDir: Deno.cwd() });

const command = `deno run -A examples/evidence_dreamerv3_breakout.ts ${Deno.args.join(" ")}`.trim();
console.log(
  `DreamerV3 (${project.model.spec}) on ${envId}${smoke ? " (smoke budget)" : ""}: ${steps} env ` +
    `steps, replay ratio ${replayRatio} (${batchSize} x ${seqLen}); output ${out}`,
);
const t0 = performance.now();
const run = await runProject(project, { keepModel: true, command: command.split(" ") });
const trainSec = (performance.now() - t0) / 1000;
run.env?.close();
const model = run.model!;
const online = run.online!;
// The evaluations here use the environment exactly as the run made it (the manifest records it).
const made = run.manifest.data.make_env as { id: string; options: MakeEnvOptions };
const evalEnv = await makeEnv(made.id, made.options);
const baseline = randomBaseline(evalEnv, randomEpisodes, 10_000 + flags.seed);
console.log(
  `random policy: ${baseline.mean.toFixed(2)} +- ${
    baseline.std.toFixed(2)
  } over ${randomEpisodes} episodes`,
);
const controller = resolveController(model, {
  actionSpace: evalEnv.actionSpace,
  observationSpace: evalEnv.observationSpace,
  config: parseTrainingConfig(run.manifest.training.config, { keys: "snake" }),
}) ?? randomController(evalEnv.actionSpace, flags.seed);
const t1 = performance.now();
const final = await finalEvaluation(model, evalEnv, controller, finalEpisodes, flags.seed);
const summary = await writeLearningRecord({
  family: "dreamerv3",
  envId,
  config: project.training,
  baseline,
  baselineEpisodes: randomEpisodes,
  result: online,
  final,
  trainSec,
  finalSec: (performance.now() - t1) / 1000,
  settings: {
    preset: project.model.spec,
    parameters: run.manifest.model.parameters,
    replay_ratio: replayRatio,
    smoke,
    model_overrides: project.model.overrides,
  },
  command,
  title: `DREAMERV3 ON ${envId.toUpperCase()} (SEED ${flags.seed})`,
});

// The model's imagination next to a greedy episode (the longest of a few: early policies lose
// the ball within a few steps), observed for its first third (at most 5 steps).
model.eval();
let traj = await playGreedy(evalEnv, controller, { seed: 777, steps: 40 });
for (let seed = 778; seed < 782 && traj.actions.length < 40; seed++) {
  const t = await playGreedy(evalEnv, controller, { seed, steps: 40 });
  if (t.actions.length > traj.actions.length) traj = t;
}
let imaginationNote = "The greedy episode was too short to imagine.";
let strip: string | null = null;
let imagSvg = "";
if (traj.actions.length >= 2) {
  const warmup = Math.max(1, Math.min(5, Math.floor(traj.actions.length / 3)));
  const im = await imagine(model, traj, warmup);
  imagSvg = imaginationSvg(im, { color: "#1f77b4" });
  await Deno.writeTextFile(join(out, "imagination.svg"), imagSvg);
  const png = imaginationPng(im);
  if (png) {
    await Deno.writeFile(join(out, "imagination.png"), png);
    strip = dataUri(png, "image/png");
  }
  imaginationNote = `The model observes the first ${im.warmup} steps of a greedy episode, then ` +
    `imagines ${im.horizon} steps along the real actions: real frames (top) over decoded ` +
    `imagined frames (bottom), every other step.`;
}
evalEnv.close();
model.dispose();

// report.html
const m = run.manifest;
const f = summary.final_eval as { mean: number; std: number; episodes: number };
const b = summary.random_baseline as { mean: number; std: number; episodes: number };
const best = summary.best_eval as { mean: number; env_step: number };
const ratio = b.mean > 0 ? f.mean / b.mean : null;
const row = (k: string, v: string) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
const curve = dataUri(await Deno.readFile(join(out, "returns.png")), "image/png");
const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>DreamerV3 on ${esc(envId)}: evidence</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; max-width: 1000px; margin: 24px auto; padding: 0 16px; color: #222; }
table { border-collapse: collapse; font-size: 14px; } th, td { border: 1px solid #ddd; padding: 5px 8px; text-align: left; }
th { background: #f5f5f5; font-weight: normal; color: #444; }
img { max-width: 100%; } img.strip { image-rendering: pixelated; width: 100%; border: 1px solid #ddd; }
.note { background: #fff8e1; border: 1px solid #f0d98c; padding: 8px 12px; font-size: 13px; }
</style></head><body>
<h1>DreamerV3 on ${esc(envId)}</h1>
<p>worldflux ${esc(m.worldflux_version)} · seed ${flags.seed} · ${esc(m.device.selected)} device ·
${esc(m.created_at_utc)}${
  smoke ? " · <b>smoke budget: checks the pipeline, not learning</b>" : ""
}</p>
<p class="note">Final greedy evaluation <b>${f.mean.toFixed(2)} ± ${f.std.toFixed(2)}</b>
(${f.episodes} episodes) against the random policy's ${b.mean.toFixed(2)} ± ${b.std.toFixed(2)}
(${b.episodes} episodes)${ratio === null ? "" : `: ${ratio.toFixed(1)} times the random mean`};
best evaluation ${best.mean.toFixed(2)} at ${best.env_step.toLocaleString("en-US")} steps.
Run classification <code>${esc(m.run_classification)}</code>, degraded modes:
${
  m.degraded_modes.length
    ? m.degraded_modes.map((x) => `<code>${esc(x)}</code>`).join(", ")
    : "none"
}.</p>
<h2>Learning curve</h2>
<p><img src="${curve}" alt="evaluation returns over environment steps"></p>
<h2>Run</h2>
<table>
${
  row(
    "model",
    `<code>${esc(m.model.id)}</code>, ${
      m.model.parameters.toLocaleString("en-US")
    } parameters, observations [${
      m.model.obs_shape.join(", ")
    }], ${m.model.action_dim} ${m.model.action_type} actions`,
  )
}
${
  row(
    "budget",
    `${m.training.steps.toLocaleString("en-US")} environment steps, ${
      m.training.updates.toLocaleString("en-US")
    } updates of ${batchSize} x ${seqLen}, replay ratio ${replayRatio}`,
  )
}
${
  row(
    "wall time",
    `${m.training.wall_time_sec.toFixed(0)} s training, ${
      (summary.budget as { final_eval_wall_time_sec: number }).final_eval_wall_time_sec
    } s final evaluation (${navigator.hardwareConcurrency} cores)`,
  )
}
${row("data", `<code>${esc(JSON.stringify(m.data))}</code>`)}
${row("command", `<code>${esc(command)}</code>`)}
</table>
<h2>Imagination</h2>
<p>${esc(imaginationNote)}</p>
${
  strip
    ? `<p><img class="strip" src="${strip}" alt="real (top) vs imagined (bottom) frames"></p>`
    : ""
}
${imagSvg}
<h2>Files</h2>
<p><a href="run_manifest.json">run_manifest.json</a> · <a href="metrics.jsonl">metrics.jsonl</a> ·
<a href="returns.json">returns.json</a> · <a href="summary.json">summary.json</a> ·
<a href="returns.png">returns.png</a> · <a href="model/config.json">model/</a> · checkpoints:
${m.artifacts.checkpoints.map((c) => `<code>${esc(c)}</code>`).join(", ") || "none"}</p>
</body></html>
`;
await Deno.writeTextFile(join(out, "report.html"), html);
console.log(
  `${m.run_classification}${
    m.degraded_modes.length ? ` (degraded: ${m.degraded_modes.join(", ")})` : ""
  }; ` +
    `wrote ${out}/{run_manifest.json,returns.json,summary.json,returns.png,report.html,...}`,
);
Deno.exit(0);
