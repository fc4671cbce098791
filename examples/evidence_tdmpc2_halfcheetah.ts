/**
 * TD-MPC2 learns HalfCheetah-v5 online, in process (MuJoCo wasm), through the run machinery that
 * `worldflux train` uses (`runProject` on a project built here), and writes an evidence bundle.
 *
 *   deno run -A examples/evidence_tdmpc2_halfcheetah.ts [--steps 100000] [--seed 0]
 *     [--out outputs/evidence/tdmpc2_halfcheetah/seed0] [--latent 64] [--mlp 128] [--enc 128]
 *     [--q 2] [--samples 256] [--iterations 4] [--elites 64] [--pi-trajs 24] [--prefill 5000]
 *     [--prefill-updates -1] [--action-repeat 1] [--discount-max 0.99] [--rho 0.7]
 *     [--eval-interval 10000] [--eval-episodes 5] [--final-episodes 10] [--save-interval 25000]
 *     [--gym] [--resume DIR]
 *
 * `--resume DIR` continues a run that was killed (a session that stopped, kill -9): DIR is one of
 * its checkpoints or its output directory (then its newest resumable checkpoint); the output
 * directory is DIR's run unless `--out` says otherwise. Give the killed run's flags again (the
 * config must match the checkpoint's; `--steps` may grow). The run continues exactly as if it had
 * never stopped (the checkpoints are written at the end of a training episode, with the replay
 * buffer), and the bundle covers the whole run; `summary.json` says it was resumed, and its
 * training wall time sums the segments (the work between the last checkpoint and the kill, redone,
 * is not counted). A shorter `--save-interval` loses less to a kill (a checkpoint of the small
 * size with 100k transitions is ~15 MB; the newest 5 are kept).
 *
 * The bundle in `--out`:
 *
 * | file                  | what                                                                 |
 * | --------------------- | -------------------------------------------------------------------- |
 * | `run_manifest.json`   | `runProject`'s manifest: versions, device, model, data, config, wall time |
 * | `metrics.jsonl`       | losses, `steps_per_sec`, evaluations and checkpoints as they happen   |
 * | `checkpoint_*`        | training checkpoints every `--save-interval` environment steps        |
 * | `model/`              | the trained model (`fromPretrained`, `collect_mujoco.ts --policy`)    |
 * | `returns.json`        | every evaluation's returns, the random baseline, the training episodes |
 * | `summary.json`        | budget, wall time, baseline, final and best evaluation, curve, settings |
 * | `returns.png`         | the return curve against the random policy                           |
 * | `report.html`         | all of it on one self-contained page                                 |
 *
 * `--gym` runs Gymnasium's own HalfCheetah-v5 through the bridge (`[data] source = "gym"`; needs
 * a Python with gymnasium and mujoco, `WORLDFLUX_PYTHON`) instead of ours in process.
 *
 * Model: TD-MPC2 with the official losses and optimizer settings (the `tdmpc2:ci` preset as the
 * base, every size and planner field set here): latent `--latent`, MLPs `--mlp` wide, encoder
 * `--enc`, `--q` Q heads (2, as the official smallest size, `model_size: 1`), horizon 3, batch
 * 256. Every step count (`--steps`, `--prefill`, `--eval-interval`, `--save-interval`,
 * `--log-interval`) is in environment steps (HalfCheetah-v5 steps); with `--action-repeat k` the
 * agent acts (plans, stores a transition, updates) once per k environment steps, and the records
 * (curve, budget) count environment steps. The default, 1, is the official one for the Gymnasium
 * MuJoCo tasks (`tdmpc2/envs/mujoco.py`; only the official DMControl wrapper repeats, twice): with 2
 * the agent gets half the decisions and updates of a budget and reached 1,632 at 70,000 steps
 * where 1 reached 1,160 at 20,000 (docs/learning_results.md). The
 * official online trainer's schedule: `--prefill` random environment steps (5,000 = 5 episodes,
 * `seed_steps`), then `--prefill-updates` updates on them at once (-1: as many as the prefill's
 * agent steps, the official rule), then one update per agent step. The official MuJoCo task settings
 * (`tdmpc2/envs/mujoco.py`): `discount_max` 0.99 (so the discount of the 1,000-step episodes is
 * 0.99) and `rho` 0.7. MPPI with the policy prior, `--samples` x `--iterations` (official 512 x
 * 6), `--elites` (64) elites, `--pi-trajs` (24) policy trajectories. Evaluations of
 * `--eval-episodes` greedy episodes every `--eval-interval` steps, and a final one of
 * `--final-episodes` (0: the loop's last evaluation stands for it). Issue 12's bar: a 10-episode
 * greedy evaluation >= 2,000 within 100,000 steps.
 * @module
 */

import { join, resolve } from "node:path";
import { makeEnv, parseTrainingConfig, resolveController, type TDMPC2WorldModel } from "../mod.ts";
import { parseProjectConfig, type RunManifest, runProject } from "../cli.ts";
import {
  finalEvaluation,
  parseFlags,
  randomBaseline,
  resumedRecord,
  runDirOf,
  writeJson,
  writeLearningRecord,
} from "./learn_lib.ts";
import { dataUri, esc, lineChart } from "../src/web/charts.js";

const ENV = "HalfCheetah-v5";
/** Issue 12's bar for the 10-episode greedy evaluation. */
const BAR = 2000;

/** Flags of the evidence run (defaults: the 100k-step run at the small size). */
export const EVIDENCE_DEFAULTS = {
  steps: 100_000,
  seed: 0,
  out: "",
  prefill: 5000,
  prefillUpdates: -1,
  actionRepeat: 1,
  evalInterval: 10_000,
  evalEpisodes: 5,
  finalEpisodes: 10,
  baselineEpisodes: 10,
  saveInterval: 25_000,
  logInterval: 1000,
  batchSize: 256,
  latent: 64,
  mlp: 128,
  enc: 128,
  q: 2,
  discountMax: 0.99,
  rho: 0.7,
  samples: 256,
  iterations: 4,
  elites: 64,
  piTrajs: 24,
  maxEpisodeSteps: 1000,
  gym: false,
  resume: "",
};

/** The evidence run's flags. */
export type EvidenceFlags = typeof EVIDENCE_DEFAULTS;

/** The `worldflux.toml` tables of the run. */
export function evidenceProject(f: EvidenceFlags, out: string): Record<string, unknown> {
  const k = f.actionRepeat;
  const agentSteps = (name: string, n: number): number => {
    if (!(Number.isInteger(k) && k >= 1)) {
      throw new RangeError(`--action-repeat must be an integer >= 1, got ${k}`);
    }
    if (n % k !== 0) {
      throw new RangeError(`--${name} (${n}) must be a multiple of --action-repeat (${k})`);
    }
    return n / k;
  };
  const prefill = agentSteps("prefill", f.prefill);
  return {
    name: `tdmpc2-halfcheetah-s${f.seed}`,
    model: {
      family: "tdmpc2",
      preset: "ci",
      overrides: {
        latent_dim: f.latent,
        hidden_dim: f.mlp,
        enc_dim: f.enc,
        num_enc_layers: 2,
        num_q_networks: f.q,
        horizon: 3,
        rho: f.rho,
        discount_max: f.discountMax,
        episode_length: Math.ceil(f.maxEpisodeSteps / k), // agent steps per episode
        num_samples: f.samples,
        iterations: f.iterations,
        num_elites: f.elites,
        num_pi_trajs: f.piTrajs,
      },
    },
    data: f.gym
      ? { source: "gym", env: ENV, max_episode_steps: f.maxEpisodeSteps, frame_skip: k }
      : { source: "env", env: ENV, max_episode_steps: f.maxEpisodeSteps, frame_skip: k },
    training: {
      total_steps: agentSteps("steps", f.steps),
      prefill_steps: prefill,
      prefill_updates: f.prefillUpdates < 0 ? prefill : f.prefillUpdates,
      batch_size: f.batchSize,
      sequence_length: 4, // horizon + 1
      train_ratio: 1,
      eval_interval: agentSteps("eval-interval", f.evalInterval),
      eval_episodes: f.evalEpisodes,
      save_interval: agentSteps("save-interval", f.saveInterval),
      log_interval: agentSteps("log-interval", f.logInterval),
      seed: f.seed,
      output_dir: out,
    },
  };
}

/** Runs the evidence run and writes the bundle into `out`; returns `summary.json`'s object. */
export async function runEvidence(
  f: EvidenceFlags,
  out: string,
  command: string,
): Promise<Record<string, unknown>> {
  out = resolve(out);
  const tables = evidenceProject(f, out);
  const project = parseProjectConfig(tables, { baseDir: out });
  const t0 = performance.now();
  const result = await runProject(project, {
    outputDir: out,
    keepModel: true,
    command: command.split(" "),
    resumeFrom: f.resume ? resolve(f.resume) : undefined,
  });
  const trainSec = result.online!.priorWallTimeSec + (performance.now() - t0) / 1000;
  result.env?.close();
  const model = result.model! as TDMPC2WorldModel;
  // the environment of the run (with its action repeat) for the final evaluation; the random
  // baseline acts at every environment step
  const id = f.gym ? `gym:${ENV}` : ENV;
  const opts = { maxEpisodeSteps: f.maxEpisodeSteps, normalizeActions: true };
  const evalEnv = await makeEnv(id, { ...opts, frameSkip: f.actionRepeat });
  const plainEnv = f.actionRepeat === 1 ? evalEnv : await makeEnv(id, opts);
  try {
    const config = parseTrainingConfig(result.manifest.training.config, { keys: "snake" });
    const controller = resolveController(model, {
      actionSpace: evalEnv.actionSpace,
      observationSpace: evalEnv.observationSpace,
      config,
    })!;
    const baseline = randomBaseline(plainEnv, f.baselineEpisodes, 10_000 + f.seed);
    const t1 = performance.now();
    const final = f.finalEpisodes > 0
      ? await finalEvaluation(model, evalEnv, controller, f.finalEpisodes, f.seed)
      : null;
    const finalSec = (performance.now() - t1) / 1000;
    const summary = await writeLearningRecord({
      family: "tdmpc2",
      envId: f.gym ? `gym:${ENV}` : ENV,
      config: { ...config, outputDir: out },
      baselineEpisodes: f.baselineEpisodes,
      baseline,
      result: result.online!,
      final,
      trainSec,
      finalSec,
      resumed: resumedRecord(result.online!),
      actionRepeat: f.actionRepeat,
      settings: {
        model: {
          ...(tables.model as Record<string, unknown>),
          discount: model.discount,
          parameters: model.numParameters(),
        },
        planner: { ...model.plannerDefaults() },
        env: {
          id: ENV,
          through: f.gym ? "Gymnasium bridge" : "in process (MuJoCo wasm)",
          max_episode_steps: f.maxEpisodeSteps,
          action_repeat: f.actionRepeat,
          normalize_actions: true,
        },
      },
      command,
      title: `TD-MPC2 ON HALFCHEETAH-V5 (SEED ${f.seed})`,
      references: [{ y: BAR, label: `BAR ${BAR}` }],
    });
    const withBar = { ...summary, bar: BAR };
    await writeJson(join(out, "summary.json"), withBar);
    const returns = JSON.parse(await Deno.readTextFile(join(out, "returns.json")));
    const curve = dataUri(await Deno.readFile(join(out, "returns.png")), "image/png");
    await Deno.writeTextFile(
      join(out, "report.html"),
      reportHtml(withBar, returns, result.manifest, curve, command),
    );
    return withBar;
  } finally {
    if (plainEnv !== evalEnv) plainEnv.close();
    evalEnv.close();
    model.dispose();
  }
}

interface ReturnsJson {
  random_baseline: { mean: number; std: number; episodes: number };
  evaluations: { env_step: number; mean: number; std: number; returns: number[] }[];
  final_evaluation: { env_step: number; mean: number; std: number; returns: number[] };
  training_episodes: [number, number][];
}

/** The self-contained report page (the curve PNG inlined as a data URI). */
function reportHtml(
  summary: Record<string, unknown>,
  r: ReturnsJson,
  m: RunManifest,
  curvePng: string,
  command: string,
): string {
  const s = summary as {
    seed: number;
    env: string;
    budget: Record<string, unknown>;
    settings: { model: Record<string, unknown>; planner: Record<string, unknown> };
    final_eval: { mean: number; std: number; episodes: number; env_step: number };
    best_eval: { mean: number; env_step: number };
  };
  const chart = lineChart({
    title: `TD-MPC2 on ${s.env}, seed ${s.seed}: episode returns`,
    width: 760,
    height: 340,
    xLabel: "environment steps",
    yLabel: "episode return",
    series: [
      {
        name: "training episodes (exploring; random in the prefill)",
        xs: r.training_episodes.map((e) => e[0]),
        ys: r.training_episodes.map((e) => e[1]),
        color: "#9ecae1",
        dots: true,
        width: 1,
      },
      {
        name: `greedy evaluation (mean of ${r.evaluations[0]?.returns.length ?? 0})`,
        xs: r.evaluations.map((e) => e.env_step),
        ys: r.evaluations.map((e) => e.mean),
        color: "#d62728",
        dots: true,
      },
    ],
    hlines: [
      { y: r.random_baseline.mean, label: "random policy", color: "#7f7f7f" },
      { y: BAR, label: `issue 12 bar (${BAR})`, color: "#2ca02c" },
    ],
  });
  const row = (k: string, v: unknown) =>
    `<tr><th>${esc(k)}</th><td>${esc(typeof v === "string" ? v : JSON.stringify(v))}</td></tr>`;
  const met = s.final_eval.episodes >= 10 && s.final_eval.mean >= BAR &&
    s.final_eval.env_step <= 100_000;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TD-MPC2 on ${esc(s.env)}: evidence</title>
<style>body{font-family:Helvetica,Arial,sans-serif;max-width:900px;margin:24px auto;
padding:0 16px;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ddd;
padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}th{background:#f5f5f5;
font-weight:normal}img{max-width:100%}.ok{color:#2ca02c}.no{color:#d62728}</style></head><body>
<h1>TD-MPC2 on ${esc(s.env)}, seed ${s.seed}</h1>
<p>worldflux ${esc(m.worldflux_version)} · ${esc(m.device.selected)} device ·
${esc(m.created_at_utc)} · run classification <code>${esc(m.run_classification)}</code>,
degraded modes: ${m.degraded_modes.map((x) => `<code>${esc(x)}</code>`).join(", ") || "none"}</p>
<p>Final greedy evaluation (${s.final_eval.episodes} episodes at ${s.final_eval.env_step}
steps): <b>${s.final_eval.mean.toFixed(1)} ± ${s.final_eval.std.toFixed(1)}</b>; best evaluation
${s.best_eval.mean.toFixed(1)} at ${s.best_eval.env_step} steps; random policy
${r.random_baseline.mean.toFixed(1)} ± ${r.random_baseline.std.toFixed(1)}
(${r.random_baseline.episodes} episodes). Issue 12's bar (a 10-episode greedy evaluation &ge;
${BAR} within 100,000 steps): <b class="${met ? "ok" : "no"}">${
    met ? "met" : "not met"
  }</b> by this run.</p>
${chart}
<p><img src="${curvePng}" alt="evaluation returns over environment steps"></p>
<h2>Evaluations</h2>
<table><tr><th>env steps</th><th>mean</th><th>std</th><th>returns</th></tr>
${
    r.evaluations.map((e) =>
      `<tr><td>${e.env_step}</td><td>${e.mean.toFixed(1)}</td><td>${e.std.toFixed(1)}</td><td>${
        e.returns.map((x) => x.toFixed(0)).join(", ")
      }</td></tr>`
    ).join("\n")
  }
</table>
<h2>Budget and settings</h2>
<table>${Object.entries(s.budget).map(([k, v]) => row(k, v)).join("")}
${row("model", s.settings.model)}${row("planner", s.settings.planner)}
${row("data", m.data)}${row("command", command)}</table>
<h2>Files</h2>
<p><a href="run_manifest.json">run_manifest.json</a> · <a href="metrics.jsonl">metrics.jsonl</a>
· <a href="returns.json">returns.json</a> · <a href="summary.json">summary.json</a> ·
<a href="returns.png">returns.png</a> · <a href="model/config.json">model/</a> · checkpoints:
${m.artifacts.checkpoints.map((c) => `<code>${esc(c)}</code>`).join(", ") || "none"}</p>
</body></html>
`;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, EVIDENCE_DEFAULTS);
  const out = flags.out || (flags.resume ? await runDirOf(flags.resume) : "") ||
    `outputs/evidence/tdmpc2_halfcheetah/seed${flags.seed}`;
  await runEvidence(
    flags,
    out,
    `deno run -A examples/evidence_tdmpc2_halfcheetah.ts ${Deno.args.join(" ")}`.trim(),
  );
  Deno.exit(0);
}
