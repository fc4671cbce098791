/**
 * DreamerV3 and TD-MPC2 through the same API on the same environment: the same project format
 * (`worldflux.toml` tables, built in code here), the same training contract (`runProject`, which
 * `worldflux train` runs: online training with each family's own controller), the same quick
 * verification (`quickVerify`, which `worldflux verify --mode quick` runs), then evaluation
 * against a random policy and imagination pictures (imagined vs real trajectories).
 *
 *   deno task demo                                                  # = the --quick form
 *   deno run -A examples/compare_unified_training.ts --quick
 *   deno run -A examples/compare_unified_training.ts                # longer runs
 *   deno run -A examples/compare_unified_training.ts --quick --pixels   # DreamerV3 from 64x64 pixels
 *
 * Outputs (default `outputs/`): `summary.json`, `report.html` (self-contained), and per family
 * `<family>/` with the run's artifacts (`run_manifest.json`, `metrics.jsonl`, `model/`,
 * checkpoints), `quick_verify.json`, and `imagination.svg` (and `imagination.png` with pixels).
 *
 * A contract demonstration, not a benchmark or a paper reproduction: CI-sized models, short
 * budgets, one seed. Quick verify separates workflow completion (artifacts valid) from quality
 * (the policy beats random play); a `warning` means the first without the second.
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { makeEnv, parseTrainingConfig, randomController, resolveController } from "../mod.ts";
import {
  evaluateController,
  parseProjectConfig,
  quickVerify,
  type QuickVerifyReport,
  type RunManifest,
  runProject,
} from "../cli.ts";
import { dataUri, esc, lineChart, lossChart, type Series } from "../src/web/charts.js";
import {
  type Imagination,
  imaginationPng,
  imaginationSvg,
  imagine,
  playGreedy,
} from "./lib/imagination.ts";

/** Pendulum's observation dimensions, for the imagination figure. */
const OBS_NAMES = ["cos(theta)", "sin(theta)", "angular velocity"];

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    pixels: { type: "boolean", default: false },
    out: { type: "string", default: "outputs" },
    families: { type: "string", default: "tdmpc2,dreamerv3" },
    seed: { type: "string", default: "0" },
    steps: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  console.log(`Usage: deno run -A examples/compare_unified_training.ts [--quick] [--pixels]
       [--out DIR] [--families tdmpc2,dreamerv3] [--seed N] [--steps N]

--steps overrides the environment steps of every family (prefill: at most half).`);
  Deno.exit(0);
}

const QUICK = args.quick!;
const PIXELS = args.pixels!;
const OUT = resolve(args.out!);
const SEED = Number(args.seed);
const STEPS = args.steps === undefined ? null : Number(args.steps);
const ENV = "Pendulum-v1";
const FRAME_SKIP = 2; // 100 decisions per 200-step episode; returns are over the base steps
const RANDOM_EPISODES = 10;
const t0 = performance.now();

const COLORS: Record<string, string> = { tdmpc2: "#d62728", dreamerv3: "#1f77b4" };
const NAMES: Record<string, string> = { tdmpc2: "TD-MPC2", dreamerv3: "DreamerV3" };

/** The worldflux.toml tables of each family's run, with `--steps` applied. */
function projectTables(family: string): Record<string, unknown> {
  const t = familyTables(family);
  if (STEPS === null) return t;
  const training = t.training as Record<string, number>;
  return {
    ...t,
    training: {
      ...training,
      total_steps: STEPS,
      prefill_steps: Math.min(training.prefill_steps, Math.floor(STEPS / 2)),
      eval_interval: Math.min(training.eval_interval, STEPS),
    },
  };
}

/** The worldflux.toml tables of each family's run (what `worldflux init --data env` writes). */
function familyTables(family: string): Record<string, unknown> {
  const common = {
    log_interval: 100,
    eval_episodes: QUICK ? 3 : 5,
    save_interval: QUICK ? 1000 : 5000,
    seed: SEED,
  };
  if (family === "tdmpc2") {
    return {
      name: "compare-tdmpc2",
      // MPPI with 3 iterations instead of the official 6: half the planning time, enough here.
      model: { family: "tdmpc2", preset: "ci", overrides: { iterations: 3 } },
      data: { source: "env", env: ENV, frame_skip: FRAME_SKIP },
      training: {
        ...common,
        total_steps: QUICK ? 2000 : 6000,
        prefill_steps: 500,
        batch_size: 64,
        sequence_length: 4, // horizon 3 + 1
        train_ratio: 1,
        eval_interval: QUICK ? 250 : 500,
      },
      verify: { episodes: 3 },
    };
  }
  return {
    name: "compare-dreamerv3",
    // Larger learning rates than the official 4e-5 (world model) and 4e-5 (actor-critic): the
    // CI-sized model learns Pendulum within the quick budget with them.
    model: { family: "dreamerv3", preset: "ci", overrides: { lr: 1e-3, ac_lr: 3e-4 } },
    data: { source: "env", env: ENV, frame_skip: FRAME_SKIP, pixels: PIXELS },
    training: {
      ...common,
      total_steps: QUICK ? 3500 : 10000,
      prefill_steps: 500,
      batch_size: 16,
      sequence_length: 16,
      train_ratio: 0.5, // one update per 2 env steps: replay ratio 128 (16 x 16 / 2)
      eval_interval: 500,
    },
    verify: { episodes: 3 },
  };
}

interface LogRow {
  readonly step: number;
  readonly [metric: string]: number;
}

interface FamilyResult {
  family: string;
  manifest: RunManifest;
  verify: QuickVerifyReport;
  logs: LogRow[];
  evals: { step: number; mean: number; returns: readonly number[] }[];
  episodes: { step: number; ret: number }[];
  random: { mean: number; std: number; returns: number[] };
  policyEval: { mean: number; returns: number[] };
  imagination: Imagination;
  files: { svg: string; png: string | null };
  wallTime: number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const std = (xs: readonly number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

async function runFamily(family: string): Promise<FamilyResult> {
  const tf = performance.now();
  const dir = join(OUT, family);
  const project = parseProjectConfig(projectTables(family), { baseDir: OUT });
  console.log(
    `\n=== ${NAMES[family] ?? family} on ${ENV}${
      family === "dreamerv3" && PIXELS ? " (pixels)" : ""
    } ===`,
  );
  const logs: LogRow[] = [];
  const result = await runProject(project, {
    outputDir: dir,
    keepModel: true,
    callbacks: [{
      onLog: (step, m) => void logs.push({ ...m, step }),
    }],
    command: ["examples/compare_unified_training.ts", ...Deno.args],
  });
  const model = result.model!;
  result.env?.close();
  try {
    const online = result.online!;
    // The same environment settings as the run, for the baseline and the pictures.
    const env = await makeEnv(ENV, {
      frameSkip: FRAME_SKIP,
      normalizeActions: true,
      pixels: family === "dreamerv3" && PIXELS,
    });
    const space = env.actionSpace;
    console.log(`random policy: ${RANDOM_EPISODES} episodes`);
    const { returns: randomReturns } = await evaluateController(env, randomController(space, 11), {
      episodes: RANDOM_EPISODES,
      seed: 500_000,
    });
    const controller = resolveController(model, {
      actionSpace: space,
      observationSpace: env.observationSpace,
      config: parseTrainingConfig(result.manifest.training.config, { keys: "snake" }),
    }) ?? randomController(space, 12);
    env.close();
    console.log("imagination pictures");
    const imagEnv = await makeEnv(ENV, {
      frameSkip: FRAME_SKIP,
      normalizeActions: true,
      pixels: PIXELS && model.modelType === "dreamerv3",
    });
    model.eval();
    const traj = await playGreedy(imagEnv, controller, { seed: 777, steps: 50 });
    imagEnv.close();
    const im = await imagine(model, traj, 10);
    const svg = imaginationSvg(im, { color: COLORS[family], obsNames: OBS_NAMES });
    await Deno.writeTextFile(join(dir, "imagination.svg"), svg);
    const png = imaginationPng(im);
    if (png) await Deno.writeFile(join(dir, "imagination.png"), png);
    model.dispose();
    console.log("quick verify");
    const verify = await quickVerify(dir, { log: (m) => console.log(`verify: ${m}`) });
    console.log(`quick verify: ${verify.status} (${verify.summary})`);
    const pol = (verify.metrics.policy_returns as number[] | undefined) ?? [];
    return {
      family,
      manifest: result.manifest,
      verify,
      logs,
      evals: online.evaluations.map((e) => ({
        step: e.envStep,
        mean: e.meanReturn,
        returns: e.returns,
      })),
      episodes: online.episodes.map((e) => ({ step: e.envStep, ret: e.return })),
      random: { mean: mean(randomReturns), std: std(randomReturns), returns: randomReturns },
      policyEval: { mean: mean(pol), returns: pol },
      imagination: im,
      files: { svg: `${family}/imagination.svg`, png: png ? `${family}/imagination.png` : null },
      wallTime: (performance.now() - tf) / 1000,
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------
// Run both families
// ------------------------------------------------------------------------------------------------

await Deno.mkdir(OUT, { recursive: true });
const families = args.families!.split(",").map((s) => s.trim()).filter(Boolean);
const results: FamilyResult[] = [];
for (const f of families) results.push(await runFamily(f));
const totalWall = (performance.now() - t0) / 1000;

// ------------------------------------------------------------------------------------------------
// summary.json
// ------------------------------------------------------------------------------------------------

const lossKeys = (r: FamilyResult) =>
  Object.keys(r.logs.at(-1) ?? {}).filter((k) =>
    /loss|wm\/|ac\//.test(k) && !/^(step|lr|steps_per_sec|wall_time)$/.test(k)
  );
const summary = {
  kind: "worldflux-compare-unified-training",
  worldflux_version: results[0]?.manifest.worldflux_version,
  created_at_utc: new Date().toISOString(),
  mode: QUICK ? "quick" : "full",
  env: ENV,
  frame_skip: FRAME_SKIP,
  pixels: PIXELS,
  seed: SEED,
  device: results[0]?.manifest.device ?? null,
  total_wall_time_sec: totalWall,
  note: "A contract demonstration (same API, training contract and quick verification for both " +
    "families), not a benchmark, paper reproduction or proof claim: CI-sized models, short " +
    "budgets, one seed.",
  families: Object.fromEntries(results.map((r) => {
    const m = r.manifest;
    const last: Record<string, number> = r.logs.at(-1) ?? {};
    return [r.family, {
      model: m.model.id,
      parameters: m.model.parameters,
      observations: r.family === "dreamerv3" && PIXELS ? "pixels 3x64x64" : "state vector [3]",
      env_steps: m.training.steps,
      updates: m.training.updates,
      train_wall_time_sec: m.training.wall_time_sec,
      wall_time_sec: r.wallTime,
      final_eval_return: m.evaluation?.final_mean_return ?? null,
      best_eval_return: m.evaluation?.best_mean_return ?? null,
      eval_curve: r.evals.map((e) => ({ env_step: e.step, mean_return: e.mean })),
      random_baseline: {
        mean_return: r.random.mean,
        std_return: r.random.std,
        episodes: r.random.returns.length,
      },
      losses: {
        final: Object.fromEntries(lossKeys(r).map((k) => [k, last[k]])),
        best_loss: m.training.best_loss,
      },
      quick_verify: {
        status: r.verify.status,
        tier: r.verify.tier,
        summary: r.verify.summary,
        policy_mean_return: r.verify.metrics.policy_mean_return ?? null,
        random_mean_return: r.verify.metrics.random_mean_return ?? null,
        return_gain: r.verify.metrics.return_gain ?? null,
        file: `${r.family}/quick_verify.json`,
      },
      run_classification: m.run_classification,
      degraded_modes: m.degraded_modes,
      artifacts: {
        run_manifest: `${r.family}/run_manifest.json`,
        metrics: `${r.family}/metrics.jsonl`,
        model: `${r.family}/model`,
        imagination: [r.files.svg, ...(r.files.png ? [r.files.png] : [])],
      },
    }];
  })),
};
await Deno.writeTextFile(join(OUT, "summary.json"), JSON.stringify(summary, null, 2) + "\n");

// ------------------------------------------------------------------------------------------------
// report.html
// ------------------------------------------------------------------------------------------------

function returnCurves(): string {
  const series: Series[] = results.map((r) => ({
    name: `${NAMES[r.family]} (greedy eval)`,
    xs: r.evals.map((e) => e.step),
    ys: r.evals.map((e) => e.mean),
    color: COLORS[r.family],
    dots: true,
  }));
  const rnd = mean(results.map((r) => r.random.mean));
  return lineChart({
    title: `Evaluation return on ${ENV} (mean of the evaluation episodes)`,
    width: 760,
    height: 320,
    xLabel: "environment steps (decisions; frame skip 2)",
    yLabel: "return",
    series,
    hlines: [{ y: rnd, label: "random policy", color: "#7f7f7f" }],
  });
}

function trainReturns(r: FamilyResult): string {
  return lineChart({
    title: `${NAMES[r.family]}: training episode returns`,
    width: 380,
    height: 250,
    xLabel: "environment steps",
    yLabel: "return",
    series: [{
      name: "training episode",
      xs: r.episodes.map((e) => e.step),
      ys: r.episodes.map((e) => e.ret),
      color: COLORS[r.family],
      dots: true,
      width: 1,
    }],
    hlines: [{ y: r.random.mean, label: "random policy", color: "#7f7f7f" }],
  });
}

function lossCurves(r: FamilyResult): string {
  return lossChart({
    title: `${NAMES[r.family]}: losses`,
    rows: r.logs,
    xLabel: "environment steps",
  });
}

async function fileUri(path: string, mime: string): Promise<string> {
  return dataUri(await Deno.readFile(join(OUT, path)), mime);
}

const fmt = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d);
const badge = (s: string) => `<span class="badge ${s}">${s.toUpperCase()}</span>`;

const rowsHtml = results.map((r) => {
  const m = r.manifest;
  return `<tr>
  <td><b>${NAMES[r.family]}</b><br><code>${m.model.id}</code></td>
  <td>${m.model.parameters.toLocaleString("en-US")}</td>
  <td>${r.family === "dreamerv3" && PIXELS ? "pixels 3×64×64" : "state [3]"}</td>
  <td>${m.training.steps.toLocaleString("en-US")} / ${
    m.training.updates.toLocaleString("en-US")
  }</td>
  <td>${fmt(m.training.wall_time_sec, 0)} s</td>
  <td><b>${fmt(m.evaluation?.final_mean_return)}</b> (best ${
    fmt(m.evaluation?.best_mean_return)
  })</td>
  <td>${fmt(r.random.mean)} ± ${fmt(r.random.std)}</td>
  <td>${badge(r.verify.status)}<br><small>${
    fmt(r.verify.metrics.policy_mean_return as number)
  } vs ${fmt(r.verify.metrics.random_mean_return as number)}</small></td>
</tr>`;
}).join("\n");

const sections: string[] = [];
for (const r of results) {
  const im = r.imagination;
  const svg = await Deno.readTextFile(join(OUT, r.files.svg));
  const png = r.files.png ? await fileUri(r.files.png, "image/png") : null;
  const explain = r.family === "tdmpc2"
    ? "TD-MPC2 has no observation decoder (an implicit model): the figure compares the rewards it " +
      "predicts along the real actions with the real rewards, and the cosine similarity of each " +
      "imagined latent with the encoding of the real observation at that step."
    : png
    ? "DreamerV3 decodes its imagined latent states: the strip shows real frames (top) and decoded " +
      "imagined frames (bottom), every other step of the open-loop imagination; the charts compare rewards."
    : "DreamerV3 decodes its imagined latent states: real (black) and decoded imagined (dashed) " +
      "observation dimensions, and real vs imagined rewards.";
  const v = r.verify;
  sections.push(`<section>
<h2>${NAMES[r.family]} <small><code>${r.manifest.model.id}</code> ${badge(v.status)}</small></h2>
<div class="row">${lossCurves(r)}${trainReturns(r)}</div>
<h3>Imagination: ${im.horizon} steps open-loop after ${im.warmup} observed steps</h3>
<p>${esc(explain)} The episode is played by the trained policy (greedy) from a fixed seed; the
model sees the first ${im.warmup} observations, then imagines along the real actions.</p>
${png ? `<p><img class="strip" src="${png}" alt="real (top) vs imagined (bottom) frames"></p>` : ""}
<div class="figure">${svg.replace(/^<svg /, '<svg class="fig" ')}</div>
<h3>Quick verify: ${badge(v.status)}</h3>
<p>${esc(v.summary)}. Run classification: <code>${esc(r.manifest.run_classification)}</code>;
degraded modes: ${
    r.manifest.degraded_modes.length
      ? r.manifest.degraded_modes.map((d) => `<code>${esc(d)}</code>`).join(", ")
      : "none"
  }; the policy: ${esc(r.manifest.training.controller ?? "-")} (${
    esc(r.manifest.training.train_step)
  }).</p>
<ul>${
    [...v.artifacts, ...v.quality].map((c) =>
      `<li><b>${c.ok ? "✓" : c.gating === false ? "ℹ" : "✗"} ${esc(c.name)}</b>: ${
        esc(c.detail)
      }</li>`
    ).join("")
  }</ul>
<p class="files">Files: <a href="${r.family}/run_manifest.json">run_manifest.json</a> ·
<a href="${r.family}/metrics.jsonl">metrics.jsonl</a> · <a href="${r.family}/quick_verify.json">quick_verify.json</a> ·
<a href="${r.family}/model/config.json">model/</a> · <a href="${r.files.svg}">imagination.svg</a>${
    r.files.png ? ` · <a href="${r.files.png}">imagination.png</a>` : ""
  }</p>
</section>`);
}

const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>worldflux: DreamerV3 vs TD-MPC2 through one API</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px; color: #222; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.note { background: #fff8e1; border: 1px solid #f0d98c; padding: 8px 12px; font-size: 13px; }
.badge { font-size: 12px; padding: 2px 6px; border-radius: 4px; color: #fff; font-weight: bold; }
.badge.pass { background: #2e7d32; } .badge.warning { background: #ef8f00; } .badge.fail { background: #c62828; }
.row { display: flex; flex-wrap: wrap; gap: 8px; }
svg.fig, .figure svg { max-width: 100%; height: auto; }
img.strip { image-rendering: pixelated; width: 100%; border: 1px solid #ddd; }
small { color: #555; font-weight: normal; } code { font-size: 90%; }
.files { font-size: 13px; } ul { font-size: 13px; }
</style></head><body>
<h1>DreamerV3 and TD-MPC2 through one API</h1>
<p>worldflux ${
  esc(String(summary.worldflux_version))
} · ${ENV} (frame skip ${FRAME_SKIP}, actions in [-1, 1]) ·
${QUICK ? "quick mode" : "full mode"} · seed ${SEED} · device ${
  esc(results[0]?.manifest.device.selected ?? "?")
}
· ${fmt(totalWall, 0)} s in total · ${esc(new Date().toISOString())}</p>
<p class="note">${esc(summary.note)} Both families went through the same calls: a project config
(<code>[model]</code>, <code>[data] source = "env"</code>, <code>[training]</code>),
<code>runProject</code> (what <code>worldflux train</code> runs: online training with each family's
own controller — TD-MPC2: MPPI with its policy prior; DreamerV3: its actor), and
<code>quickVerify</code> (what <code>worldflux verify --mode quick</code> runs). Quick verify
separates workflow completion (artifacts valid) from quality (the policy beats random play): a
WARNING means the first without the second.</p>
<table>
<tr><th>family</th><th>parameters</th><th>observations</th><th>env steps / updates</th><th>train time</th>
<th>final eval return</th><th>random policy (${RANDOM_EPISODES} ep.)</th><th>quick verify (policy vs random)</th></tr>
${rowsHtml}
</table>
<h2>Learning curves</h2>
<div class="figure">${returnCurves()}</div>
${sections.join("\n")}
<p class="files">summary: <a href="summary.json">summary.json</a></p>
</body></html>
`;
await Deno.writeTextFile(join(OUT, "report.html"), html);

console.log(`\n=== summary (${fmt(totalWall, 0)} s) ===`);
for (const r of results) {
  const m = r.manifest;
  console.log(
    `${NAMES[r.family].padEnd(9)} ${m.model.id.padEnd(13)} eval return ${
      fmt(m.evaluation?.final_mean_return)
    } (best ${fmt(m.evaluation?.best_mean_return)}) vs random ${fmt(r.random.mean)} | ` +
      `${m.training.steps} env steps, ${
        fmt(m.training.wall_time_sec, 0)
      } s | quick verify ${r.verify.status}` +
      (m.degraded_modes.length ? ` | degraded: ${m.degraded_modes.join(", ")}` : ""),
  );
}
console.log(`outputs: ${OUT}/summary.json, ${OUT}/report.html`);
