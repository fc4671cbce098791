/**
 * `worldflux verify --target DIR --mode quick`: checks a training run's artifacts and re-evaluates
 * its model, then writes `<target>/quick_verify.json` with one of three statuses:
 *
 * - `pass`: every artifact is there and parses, and the quality thresholds were met;
 * - `warning`: the workflow completed and the artifacts are valid, but a quality threshold was
 *   missed (the reference's "workflow warning": interpretable, not a quality gate pass);
 * - `fail`: an artifact is missing or broken (manifest, metrics, model, checkpoint, held-out data).
 *
 * Quality, by the run's data (the reference's quick-verify tiers):
 *
 * | data     | tier             | gate                                                              |
 * | -------- | ---------------- | ----------------------------------------------------------------- |
 * | `random` | `synthetic`      | loss on fresh random episodes <= `max_loss_ratio` x the untrained model's |
 * | `npz`    | `offline`        | loss on the held-out episodes <= `max_loss_ratio` x the untrained model's |
 * | `env`, `gym` | `real_env_smoke` | mean return of the family's policy over `episodes` episodes beats random play by `min_return_gain` x max(abs(random), 1) |
 *
 * The untrained model is the same preset and config rebuilt with the run's initialisation seed.
 * @module
 */

import { join, resolve } from "node:path";
import { WORLDFLUX_VERSION } from "../core/version.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { type Command, EXIT, formatRows, oneOf, parseCommandArgs, UsageError } from "./command.ts";
import { loadProjectConfig, type ProjectConfig } from "./project.ts";
import { checkArtifacts } from "./verify_artifacts.ts";
import { checkQuality, qualityTier } from "./verify_quality.ts";
import {
  type QuickVerifyOptions,
  type QuickVerifyReport,
  verdict,
  type VerifyCheck,
} from "./verify_report.ts";

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Verifies the run in `target` (see the module docs), writes `quick_verify.json` there and
 * returns the report. Never throws for a broken run: that is a `fail` report.
 */
export async function quickVerify(
  target: string,
  opts: QuickVerifyOptions = {},
): Promise<QuickVerifyReport> {
  const t0 = performance.now();
  const dir = resolve(target);
  const log = opts.log ?? (() => {});
  const { artifacts, manifest, model, device } = await checkArtifacts(dir, target, opts, log);
  const quality: VerifyCheck[] = [];
  const metrics: Record<string, number | number[] | null> = {};
  const artifactsOk = artifacts.every((a) => a.ok);
  const tier = qualityTier(manifest?.data?.source ?? null);
  if (artifactsOk && manifest && model && device) {
    await checkQuality({ dir, manifest, model, device }, opts, log, {
      artifacts,
      quality,
      metrics,
    });
  }
  model?.dispose();

  const { status, summary } = verdict(artifacts, quality);
  const report: QuickVerifyReport = {
    schema_version: 1,
    kind: "worldflux-quick-verify",
    status,
    summary,
    mode: "quick",
    tier,
    target: dir,
    worldflux_version: WORLDFLUX_VERSION,
    checked_at_utc: new Date().toISOString(),
    run_classification: manifest?.run_classification ?? null,
    degraded_modes: manifest?.degraded_modes ?? [],
    model: manifest ? { id: manifest.model.id, family: manifest.model.family } : null,
    device,
    artifacts,
    quality,
    metrics,
    wall_time_sec: (performance.now() - t0) / 1000,
  };
  if (opts.write ?? true) {
    try {
      await writeFileAtomic(join(dir, "quick_verify.json"), JSON.stringify(report, null, 2) + "\n");
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return report;
}

/** The report as text (what `worldflux verify` prints). */
export function formatVerifyReport(r: QuickVerifyReport): string {
  const mark = (ok: boolean, gating = true) => (ok ? "ok  " : gating ? "FAIL" : "info");
  const lines = [
    `quick verify: ${r.status.toUpperCase()}${r.model ? ` (${r.model.id}, tier ${r.tier})` : ""}`,
    `  ${r.summary}`,
    "",
    "artifacts",
    ...r.artifacts.map((a) => `  [${mark(a.ok)}] ${a.name}: ${a.detail}`),
  ];
  if (r.quality.length) {
    lines.push("", "quality");
    for (const q of r.quality) {
      lines.push(
        `  [${q.ok ? "ok  " : q.gating === false ? "info" : "MISS"}] ${q.name}: ${q.detail}`,
      );
    }
  }
  const rows: [string, string][] = [
    ["classification", r.run_classification ?? "?"],
    ["degraded modes", r.degraded_modes.length ? r.degraded_modes.join(", ") : "none"],
  ];
  lines.push("", formatRows(rows, 0));
  return lines.join("\n");
}

const HELP = `Usage: worldflux verify --target DIR [--mode quick] [--episodes N]
                        [--device auto|cpu|webgpu] [--format text|json]
                        [-c worldflux.toml]

Checks the artifacts of a "worldflux train" run in DIR (run_manifest.json,
metrics.jsonl, model/, checkpoint_final, holdout.npz), re-evaluates the model
and writes DIR/quick_verify.json with a status:

  pass     artifacts valid and quality thresholds met
  warning  the workflow completed and the artifacts are valid, but a quality
           threshold was missed (not a quality gate pass)
  fail     an artifact is missing or broken

Quality, by the run's data ([verify] thresholds in worldflux.toml):
  random  loss on fresh random episodes <= max_loss_ratio (0.95) x the
          untrained model's (tier "synthetic")
  npz     loss on the held-out episodes <= max_loss_ratio x the untrained
          model's (tier "offline")
  env     the family's policy beats random play over N episodes by
          min_return_gain (0.1) x max(|random return|, 1) (tier "real_env_smoke")

Options:
  --target <dir>          Output directory of the run (required)
  --mode <mode>           Verification mode; only "quick" (default)
  --episodes <n>          Evaluation episodes per policy (env runs)
  --device <device>       auto (default), cpu or webgpu
  --format <text|json>    Output format (default: text)
  -c, --config <file>     Project file whose plugins the model needs (default:
                          ./worldflux.toml when present); plugins named only by
                          run_manifest.json are never loaded. For gym runs the
                          Python interpreter, python_path and a module:Id env
                          also come from it (default: WORLDFLUX_PYTHON, else
                          python3), never from run_manifest.json
  -h, --help              Show this help

Exit codes: 0 pass or warning, 1 fail, 2 wrong command line.`;

/** The `verify` command. */
export const verifyCommand: Command = {
  name: "verify",
  summary: "Check a run's artifacts and re-evaluate its model (quick_verify.json)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("verify", args, {
      target: { type: "string" },
      mode: { type: "string", default: "quick" },
      episodes: { type: "string" },
      device: { type: "string", default: "auto" },
      format: { type: "string", default: "text" },
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    if (values.target === undefined) throw new UsageError("--target DIR is required", "verify");
    oneOf("verify", "--mode", values.mode as string, ["quick"]);
    const format = oneOf("verify", "--format", values.format as string, ["text", "json"]);
    const device = oneOf(
      "verify",
      "--device",
      values.device as string,
      [
        "auto",
        "cpu",
        "webgpu",
      ] as const,
    );
    let episodes: number | undefined;
    if (values.episodes !== undefined) {
      episodes = Number(values.episodes);
      if (!/^\d+$/.test(values.episodes as string) || episodes < 1) {
        throw new UsageError(
          `--episodes must be a positive integer, got "${values.episodes}"`,
          "verify",
        );
      }
    }
    // The project file is trusted with code (its plugins, its Python); the default one only when
    // readable.
    let project: ProjectConfig | null = null;
    if (values.config !== undefined) {
      project = await loadProjectConfig(values.config as string);
    } else if (await isFile("worldflux.toml")) {
      project = await loadProjectConfig("worldflux.toml").catch(() => null);
    }
    const data = project?.data;
    const report = await quickVerify(values.target as string, {
      episodes,
      device,
      plugins: project?.plugins ?? [],
      gym: data?.source === "gym"
        ? { python: data.python, pythonPath: data.pythonPath, env: data.env }
        : undefined,
      log: format === "text" ? (m) => console.error(`verify: ${m}`) : undefined,
    });
    console.log(format === "json" ? JSON.stringify(report, null, 2) : formatVerifyReport(report));
    return report.status === "fail" ? EXIT.FAILURE : EXIT.OK;
  },
};
