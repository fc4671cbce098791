/**
 * {@link runProject}: what `worldflux train` does with a {@link ProjectConfig} — build the model
 * from `[model]` and the data's shapes, train it offline from a replay buffer (`random`, `npz`)
 * or online in an environment (`env`: a built-in one, `gym`: a Gymnasium one through the Python
 * bridge), and write the run's artifacts into the output directory:
 *
 * | file                | what                                                              |
 * | ------------------- | ----------------------------------------------------------------- |
 * | `run_manifest.json` | version, device and why, model, data, config, steps, wall time, final metrics, `run_classification`, `degraded_modes` |
 * | `metrics.jsonl`     | JSON lines of every log, evaluation and checkpoint (LoggingCallback) |
 * | `checkpoint_*`      | training checkpoints (`checkpoint_final` at the end); `--resume-from` continues a run from one (online: from the periodic ones, written at the end of a training episode with the replay buffer) |
 * | `model/`            | the trained model (`savePretrained`: config.json, model.safetensors, worldflux_meta.json) |
 * | `holdout.npz`       | `npz` data only: the episodes kept out of training for `verify`    |
 *
 * Examples call it too (`examples/compare_unified_training.ts`), so the demo and the CLI share
 * one training contract.
 * @module
 */

import { warn } from "../log.ts";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type AutoDecision, type DeviceRequest, resolveAuto } from "../backend/device.ts";
import type { DeviceName } from "../backend/types.ts";
import "../backend/webgpu/backend.ts";
import { ConfigError } from "../errors.ts";
import { camelToSnake } from "../core/naming.ts";
import { UnknownModelError } from "../core/errors.ts";
import { loadPlugin } from "../core/plugins.ts";
import { createWorldModel, resolveModelName } from "../core/factory.ts";
import { savePretrained } from "../core/serialization.ts";
import type { WorldModel } from "../core/world_model.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { recoverDir } from "../io/atomic.ts";
import type { Env } from "../envs/types.ts";
import type { Callback, TrainSummary } from "../training/callbacks.ts";
import type { TrainingConfig } from "../core/training_config.ts";
import { type Controller, randomController } from "../core/controller.ts";
import { resolveController } from "../training/family.ts";
import { type OnlineResult, trainOnline } from "../training/online.ts";
import { Trainer } from "../training/trainer.ts";
import { type ProjectConfig, resolveProjectPlugin } from "./project.ts";
import {
  discardPreviousRuns,
  type PreviousRun,
  restoreInterruptedRun,
  setAsidePreviousRun,
} from "./previous_run.ts";
import { LEARNING_BUDGET, learningBudgetShortfalls } from "./learning_budget.ts";
import type { ReplayBuffer } from "../training/replay_buffer.ts";
import { openRunData } from "./run_data.ts";
import {
  buildRunManifest,
  listCheckpointNames,
  type RunManifest,
  snakeKeys,
} from "./run_manifest.ts";

/** Options of {@link runProject}. */
export interface RunProjectOptions {
  /** Overrides `[training] total_steps`. */
  readonly steps?: number;
  /** Overrides `[training] device`. */
  readonly device?: DeviceRequest;
  /** Overrides `[training] output_dir` (relative to the working directory). */
  readonly outputDir?: string;
  /**
   * Resume a run from a checkpoint (or the newest resumable one in a directory of them): offline
   * from any; online from one written at the end of a training episode (the periodic ones), with
   * the same environment and config (only the steps may grow).
   */
  readonly resumeFrom?: string;
  /** Extra callbacks (after the defaults: progress, metrics.jsonl, checkpoints). */
  readonly callbacks?: readonly Callback[];
  /** Online: the controller (default: the family's, else random actions). */
  readonly controller?: Controller;
  /** Where notes go (default: stderr with a `worldflux:` prefix). */
  readonly log?: (message: string) => void;
  /** The command line, recorded in the manifest. */
  readonly command?: readonly string[];
  /** Return the trained model (and the env) instead of disposing of it; the caller owns them. */
  readonly keepModel?: boolean;
}

/** What {@link runProject} returns. */
export interface RunProjectResult {
  /** The manifest written to `<outputDir>/run_manifest.json`. */
  readonly manifest: RunManifest;
  /** Absolute output directory. */
  readonly outputDir: string;
  /** The trained model (only with `keepModel`). */
  readonly model?: WorldModel;
  /** The environment (online runs with `keepModel`; close it when done). */
  readonly env?: Env;
  /** The online loop's result (online runs). */
  readonly online?: OnlineResult;
  /** The training summary. */
  readonly summary: TrainSummary;
}

export { RUN_ARTIFACTS } from "./previous_run.ts";

/** Rewrites camelCase field names in a family's config error to the snake_case of the file. */
function snakeMessage(msg: string): string {
  return msg.replace(/\b([a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+)\b/g, (w) => camelToSnake(w));
}

/** The device a run asks for, resolved (with the reason `"auto"` chose what it chose). */
export async function resolveRunDevice(
  requested: DeviceRequest,
): Promise<{ selected: DeviceName; reason: string }> {
  if (requested === "auto") {
    const d: AutoDecision = await resolveAuto();
    return { selected: d.device, reason: d.reason };
  }
  return { selected: requested, reason: `requested explicitly (device = "${requested}")` };
}

/**
 * Loads the plugin modules a project names (once each): local module files only (relative paths
 * from the working directory; see {@link resolveProjectPlugin}), a URL is refused before
 * anything is imported.
 */
export async function loadProjectPlugins(plugins: readonly string[]): Promise<void> {
  for (const p of plugins) {
    await loadPlugin(pathToFileURL(resolveProjectPlugin(p, Deno.cwd(), "plugins")));
  }
}

/** Builds the project's model for the given shapes (config errors name the file's section). */
export async function buildProjectModel(
  project: ProjectConfig,
  shapes: { obsShape: readonly number[]; actionDim: number; actionType: "continuous" | "discrete" },
  device: DeviceName,
  seed: number,
): Promise<{ model: WorldModel; createArgs: Record<string, unknown> }> {
  const createArgs: Record<string, unknown> = {
    ...project.model.overrides,
    obsShape: [...shapes.obsShape],
    actionDim: shapes.actionDim,
  };
  if (shapes.actionType === "discrete") createArgs.actionType = "discrete";
  try {
    const model = await createWorldModel(project.model.spec, { ...createArgs, device, seed });
    return { model, createArgs: snakeKeys(createArgs) };
  } catch (e) {
    const where = project.path ? `${project.path.split(/[\\/]/).pop()} [model]` : "[model]";
    if (e instanceof UnknownModelError) e.message = `${where}: ${e.message}`;
    else if (e instanceof ConfigError) {
      throw new ConfigError(`${where}: ${snakeMessage(e.message)}`);
    }
    throw e;
  }
}

/**
 * Trains the project's model and writes the run's artifacts (see the module docs). Resolves to
 * the manifest; with `keepModel` also the model (and env) for further use by the caller.
 */
export async function runProject(
  project: ProjectConfig,
  opts: RunProjectOptions = {},
): Promise<RunProjectResult> {
  const log = opts.log ?? warn;
  const notes: string[] = [];
  const note = (m: string) => {
    notes.push(m);
    log(m);
  };
  await loadProjectPlugins(project.plugins);
  const requested: DeviceRequest = opts.device ?? project.training.device;
  const device = await resolveRunDevice(requested);
  const outputDir = resolve(opts.outputDir ?? project.training.outputDir);
  const cfg: TrainingConfig = Object.freeze({
    ...project.training,
    outputDir,
    device: device.selected,
    totalSteps: opts.steps ?? project.training.totalSteps,
  });
  if (!(Number.isInteger(cfg.totalSteps) && cfg.totalSteps >= 1)) {
    throw new ConfigError(`--steps must be a positive integer, got ${cfg.totalSteps}`);
  }
  const data = project.data;
  // Everything is validated (names, data, model) before the output directory is touched.
  resolveModelName(project.model.spec);

  const { buffer, holdout, env, evalEnv, shapes, dataInfo, degraded } = await openRunData(
    data,
    cfg,
    note,
  );

  let built: Awaited<ReturnType<typeof buildProjectModel>>;
  try {
    built = await buildProjectModel(project, shapes, device.selected, cfg.seed);
  } catch (e) {
    env?.close();
    evalEnv?.close();
    throw e;
  }
  const { model, createArgs } = built;
  let kept = false;
  let previous: PreviousRun | null = null;
  try {
    buffer?.checkSampleSize(cfg.batchSize, cfg.sequenceLength, [
      "[training] batch_size",
      "[training] sequence_length",
    ]);
    // The previous run in the output directory is kept aside until this one exists.
    await Deno.mkdir(outputDir, { recursive: true });
    for (const p of (await recoverDir(outputDir)).restored) {
      note(`${p} was left aside by an interrupted save; it is restored`);
    }
    if (!opts.resumeFrom) {
      if (await restoreInterruptedRun(outputDir)) {
        note(
          `${outputDir}: a run was interrupted before it completed; the complete run before it ` +
            `was put back (and is replaced only if this one completes)`,
        );
      }
      previous = await setAsidePreviousRun(outputDir);
      if (previous.count) {
        log(`${outputDir} holds a previous run: it is replaced when this run completes`);
      }
    }
    const id = resolveModelName(project.model.spec);
    const { summary, online, controllerName, learningBudget } = await trainRunModel(
      model,
      { buffer, env, evalEnv },
      cfg,
      opts,
      { degraded, note },
    );
    if (cfg.compile && !summary.compiled) degraded.push("eager_updates");
    if (summary.stoppedEarly) degraded.push("stopped_early");

    await savePretrained(model, join(outputDir, "model"));
    if (holdout) await holdout.save(join(outputDir, "holdout.npz"));
    const checkpoints = await listCheckpointNames(outputDir);
    const manifest = await buildRunManifest({
      project,
      command: opts.command,
      degraded,
      learningBudget,
      notes,
      device: { requested, ...device },
      id,
      model,
      shapes,
      createArgs,
      cfg,
      dataInfo,
      summary,
      controllerName,
      online: env ? online : undefined,
      checkpoints,
      holdout: holdout !== null,
    });
    await writeFileAtomic(
      join(outputDir, "run_manifest.json"),
      JSON.stringify(
        manifest,
        (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
        2,
      ) +
        "\n",
    );
    await (previous?.discard() ?? discardPreviousRuns(outputDir));
    previous = null;
    kept = opts.keepModel ?? false;
    return {
      manifest,
      outputDir,
      summary,
      online,
      ...(kept ? { model, env: env ?? undefined } : {}),
    };
  } catch (e) {
    if (previous) {
      await previous.restore();
      log(`the run failed: the previous run in ${outputDir} is back in place`);
    }
    throw e;
  } finally {
    if (!kept) {
      model.dispose();
      env?.close();
    }
    evalEnv?.close();
  }
}

/** How a run's model was trained: the summary, and for online runs the loop's result. */
interface RunTraining {
  readonly summary: TrainSummary;
  readonly online: OnlineResult | undefined;
  readonly controllerName: string | null;
  readonly learningBudget: RunManifest["learning_budget"];
}

/**
 * Trains the run's model: online in `env` with the family's controller (random actions without
 * one, noted as degraded; a learning-budget check), else offline from `buffer` with a Trainer.
 */
async function trainRunModel(
  model: WorldModel,
  d: { buffer: ReplayBuffer | null; env: Env | null; evalEnv: Env | null },
  cfg: TrainingConfig,
  opts: RunProjectOptions,
  run: { degraded: string[]; note: (message: string) => void },
): Promise<RunTraining> {
  const { buffer, env, evalEnv } = d;
  const { degraded, note } = run;
  let summary: TrainSummary;
  let online: OnlineResult | undefined;
  let controllerName: string | null = null;
  let learningBudget: RunManifest["learning_budget"] = null;
  if (env) {
    const space = env.actionSpace;
    const controller = opts.controller ??
      resolveController(model, {
        actionSpace: space,
        observationSpace: env.observationSpace,
        config: cfg,
      });
    if (!controller) {
      degraded.push("random_policy");
      note(
        `the ${model.modelType} family has no controller: it acts randomly (the run trains ` +
          `the world model only)`,
      );
      controllerName = "random";
    } else controllerName = opts.controller ? "custom" : `${model.modelType}`;
    online = await trainOnline(model, env, cfg, {
      controller: controller ?? randomController(space),
      evalEnv: evalEnv ?? undefined,
      callbacks: opts.callbacks,
      log: note,
      resumeFrom: opts.resumeFrom,
    });
    summary = online.summary;
    const shortfalls = learningBudgetShortfalls({
      ownPolicy: Boolean(controller),
      envSteps: summary.steps,
      updates: summary.updates,
      prefillSteps: cfg.prefillSteps,
      evalSteps: online.evaluations.map((e) => e.envStep),
    });
    learningBudget = {
      min_env_steps: LEARNING_BUDGET.minEnvSteps,
      min_updates: LEARNING_BUDGET.minUpdates,
      met: shortfalls.length === 0,
      shortfalls,
    };
    if (shortfalls.length) {
      degraded.push("below_learning_budget");
      note(`below a learning budget (a smoke test of the online loop): ${shortfalls.join("; ")}`);
    }
  } else {
    const trainer = new Trainer(model, cfg, {
      callbacks: opts.callbacks,
      resumeFrom: opts.resumeFrom,
      log: note,
    });
    try {
      summary = (await trainer.train(buffer!)).summary;
    } finally {
      trainer.dispose();
    }
  }
  return { summary, online, controllerName, learningBudget };
}
