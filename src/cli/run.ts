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
 * | `checkpoint_*`      | training checkpoints (`checkpoint_final` at the end; resumable offline) |
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
import { camelToSnake, mapKeys } from "../core/naming.ts";
import { UnknownModelError } from "../core/errors.ts";
import { loadPlugin } from "../core/plugins.ts";
import { MODEL_CATALOG } from "../core/registry.ts";
import { createWorldModel, resolveModelName } from "../core/factory.ts";
import { savePretrained } from "../core/serialization.ts";
import type { WorldModel } from "../core/world_model.ts";
import { WORLDFLUX_VERSION } from "../core/version.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { recoverDir } from "../io/atomic.ts";
import { checkAllocation } from "../io/limits.ts";
import type { NpyArray } from "../io/npy.ts";
import { makeEnv } from "../envs/registry.ts";
import { GymBridgeError } from "../envs/gym/errors.ts";
import { Rng } from "../rng.ts";
import type { Env, Space } from "../envs/types.ts";
import type { Callback, Metrics, TrainSummary } from "../training/callbacks.ts";
import { type TrainingConfig, trainingConfigToSnakeCase } from "../core/training_config.ts";
import { type Controller, randomController } from "../core/controller.ts";
import { resolveController } from "../training/family.ts";
import { type OnlineResult, trainOnline } from "../training/online.ts";
import { ReplayBuffer } from "../training/replay_buffer.ts";
import { readReplayArrays } from "../training/replay_file.ts";
import { Trainer } from "../training/trainer.ts";
import {
  type DataConfig,
  type NpzDataConfig,
  type ProjectConfig,
  type RandomDataConfig,
  resolveProjectPlugin,
} from "./project.ts";
import {
  discardPreviousRuns,
  type PreviousRun,
  restoreInterruptedRun,
  setAsidePreviousRun,
} from "./previous_run.ts";
import { gymManifestInfo, onlineEnvArgs } from "./data_env.ts";
import { LEARNING_BUDGET, learningBudgetShortfalls } from "./learning_budget.ts";

/** Version of the run manifest's layout. */
export const RUN_MANIFEST_VERSION = 1;

/** What a run is evidence of (the reference's two newcomer lanes). */
export type RunClassification = "contract_smoke" | "meaningful_local_training";

/** `run_manifest.json` (snake_case, as on disk). */
export interface RunManifest {
  /** Version of this layout ({@link RUN_MANIFEST_VERSION}). */
  readonly schema_version: number;
  /** Always `worldflux-run`. */
  readonly kind: "worldflux-run";
  /** The worldflux version that trained. */
  readonly worldflux_version: string;
  /** When the manifest was written (ISO 8601). */
  readonly created_at_utc: string;
  /** The project's name and config file. */
  readonly project: { readonly name: string; readonly config_path: string | null };
  /** The command line, when the run came from the CLI. */
  readonly command: readonly string[] | null;
  /** `contract_smoke` (random data) or `meaningful_local_training` (environment or dataset). */
  readonly run_classification: RunClassification;
  /** What made this run weaker than it looks (empty for a clean run); see the README. */
  readonly degraded_modes: readonly string[];
  /**
   * Online runs: the learning budget's thresholds and whether the run met them (see
   * `learning_budget.ts`; a shortfall adds the degraded mode `below_learning_budget`). Null
   * offline.
   */
  readonly learning_budget: {
    readonly min_env_steps: number;
    readonly min_updates: number;
    readonly met: boolean;
    readonly shortfalls: readonly string[];
  } | null;
  /** Notes the run printed (fallbacks, warnings). */
  readonly notes: readonly string[];
  /** Plugin modules loaded for the run. */
  readonly plugins: readonly string[];
  /** The device asked for, the one used, and why (`auto`). */
  readonly device: {
    readonly requested: DeviceRequest;
    readonly selected: DeviceName;
    readonly reason: string;
  };
  /** The model: preset, tier, counted parameters, shapes, how to rebuild it untrained. */
  readonly model: {
    readonly spec: string;
    readonly id: string;
    readonly family: string;
    readonly preset: string;
    readonly tier: string | null;
    readonly maturity: string | null;
    readonly parameters: number;
    readonly obs_shape: readonly number[];
    readonly action_dim: number;
    readonly action_type: "continuous" | "discrete";
    /** Arguments of `createWorldModel(spec, ...)` besides the device (snake_case). */
    readonly create_args: Readonly<Record<string, unknown>>;
    /** Seed of the parameter initialisation (the untrained baseline of `verify`). */
    readonly init_seed: number;
    readonly contract_fingerprint: string;
    readonly dir: string;
  };
  /** The data: source and its details. */
  readonly data: Readonly<Record<string, unknown>> & { readonly source: DataConfig["source"] };
  /** The training config (snake_case) and how the run went. */
  readonly training: {
    readonly mode: "offline" | "online";
    readonly config: Readonly<Record<string, unknown>>;
    readonly total_steps: number;
    readonly steps: number;
    readonly updates: number;
    readonly wall_time_sec: number;
    readonly steps_per_sec: number;
    readonly compiled: boolean;
    readonly train_step: string;
    readonly controller: string | null;
    readonly resumed_from: string | null;
    readonly stopped_early: boolean;
    readonly stop_reason: string | null;
    readonly best_loss: number | null;
  };
  /** Metrics of the last log (every loss component). */
  readonly final_metrics: Metrics | null;
  /** Online runs: the evaluations (returns of the family's policy, greedy). */
  readonly evaluation: {
    readonly final_mean_return: number | null;
    readonly best_mean_return: number | null;
    readonly history: readonly {
      readonly env_step: number;
      readonly updates: number;
      readonly mean_return: number;
      readonly returns: readonly number[];
    }[];
  } | null;
  /** Thresholds `verify --mode quick` applies (from `[verify]`). */
  readonly verify: Readonly<Record<string, number>>;
  /** Files of the run, relative to the output directory. */
  readonly artifacts: {
    readonly model: string;
    readonly metrics: string;
    readonly checkpoints: readonly string[];
    readonly final_checkpoint: string | null;
    readonly holdout: string | null;
  };
  /** The runtime that trained. */
  readonly runtime: {
    readonly deno: string;
    readonly os: string;
    readonly arch: string;
    readonly cpus: number;
  };
}

/** Options of {@link runProject}. */
export interface RunProjectOptions {
  /** Overrides `[training] total_steps`. */
  readonly steps?: number;
  /** Overrides `[training] device`. */
  readonly device?: DeviceRequest;
  /** Overrides `[training] output_dir` (relative to the working directory). */
  readonly outputDir?: string;
  /** Resume an offline run from a checkpoint (or a directory of them). */
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

/** Snake-case keys of a config-override record. */
function snakeKeys(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return mapKeys(o, camelToSnake);
}

/** Rewrites camelCase field names in a family's config error to the snake_case of the file. */
function snakeMessage(msg: string): string {
  return msg.replace(/\b([a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+)\b/g, (w) => camelToSnake(w));
}

/**
 * A replay buffer of random episodes (the contract smoke's data): observations N(0, 1) (uint8
 * noise for 3-d shapes), uniform actions in [-1, 1] (or indices), rewards N(0, 1).
 */
export function randomReplayBuffer(d: RandomDataConfig, seed: number): ReplayBuffer {
  const rng = new Rng(seed);
  const image = d.obsShape.length === 3;
  const obsSize = d.obsShape.reduce((a, b) => a * b, 1);
  const T = d.episodeLength;
  checkAllocation(
    `[data] episodes (${d.episodes}) x episode_length (${T})`,
    d.episodes * T * (obsSize * (image ? 1 : 4) + d.actionDim * 4 + 13) + T * obsSize * 4,
    "the random episodes do not fit; lower episodes or episode_length",
  );
  const buffer = new ReplayBuffer({
    capacity: d.episodes * T,
    obsShape: d.obsShape,
    actionDim: d.actionDim,
    obsDtype: image ? "uint8" : "float32",
    actionDtype: d.actionType === "discrete" ? "int32" : "float32",
    seed,
  });
  for (let e = 0; e < d.episodes; e++) {
    const obs = image ? new Uint8Array(T * obsSize) : new Float32Array(T * obsSize);
    for (let i = 0; i < obs.length; i++) obs[i] = image ? rng.int(256) : rng.normal();
    const actions = d.actionType === "discrete"
      ? Int32Array.from({ length: T }, () => rng.int(d.actionDim))
      : Float32Array.from({ length: T * d.actionDim }, () => rng.uniform(-1, 1));
    const rewards = Float32Array.from({ length: T }, () => rng.normal());
    const dones = Uint8Array.from({ length: T }, (_, t) => (t === T - 1 ? 1 : 0));
    buffer.addEpisode({
      obs,
      actions: d.actionType === "discrete"
        ? actions
        : Array.from({ length: T }, (_, t) =>
          actions.subarray(t * d.actionDim, (t + 1) * d.actionDim)),
      rewards,
      dones,
      terminated: new Uint8Array(T),
      truncated: dones,
    });
  }
  return buffer;
}

/** Default number of held-out episodes: 10%, at least one when there are two or more. */
export function defaultHoldout(episodes: number): number {
  return episodes >= 2 ? Math.max(1, Math.floor(episodes * 0.1)) : 0;
}

function sliceRows(a: NpyArray, from: number, to: number): NpyArray {
  const row = a.shape.slice(1).reduce((x, y) => x * y, 1);
  const data = (a.data as unknown as { subarray(s: number, e: number): unknown }).subarray(
    from * row,
    to * row,
  );
  return { ...a, shape: [to - from, ...a.shape.slice(1)], data } as NpyArray;
}

/**
 * Loads an `.npz` replay buffer and splits off its last `holdout` episodes (default
 * {@link defaultHoldout}) for verification.
 */
export async function loadNpzWithHoldout(
  d: NpzDataConfig,
  seed: number,
): Promise<{ train: ReplayBuffer; holdout: ReplayBuffer | null; episodes: number; k: number }> {
  const arrays = await readReplayArrays(d.path);
  const dones = arrays.dones;
  if (!dones || !arrays.obs) {
    // Let the buffer loader name what is missing.
    return {
      train: ReplayBuffer.fromArrays(arrays, { path: d.path, allowNonFinite: d.allowNonFinite }),
      holdout: null,
      episodes: 0,
      k: 0,
    };
  }
  const N = dones.shape[0] ?? 0;
  const flags = dones.data as ArrayLike<number | bigint | boolean>;
  const ends: number[] = [];
  for (let i = 0; i < N; i++) if (flags[i]) ends.push(i);
  const episodes = ends.length;
  const k = d.holdoutEpisodes ?? defaultHoldout(episodes);
  if (k > 0 && k >= episodes) {
    throw new ConfigError(
      `[data] holdout_episodes = ${k}, but ${d.pathAsWritten} holds ${episodes} complete ` +
        `episode(s): keep at least one for training`,
    );
  }
  if (k === 0) {
    return {
      train: ReplayBuffer.fromArrays(arrays, {
        path: d.path,
        seed,
        allowNonFinite: d.allowNonFinite,
      }),
      holdout: null,
      episodes,
      k,
    };
  }
  const cut = ends[episodes - k - 1] + 1; // first row of the held-out episodes
  const perStep = Object.keys(arrays).filter((key) =>
    arrays[key].shape.length >= 1 && arrays[key].shape[0] === N && key !== "obs_shape"
  );
  const part = (from: number, to: number, first: boolean) => {
    const out: Record<string, NpyArray> = {};
    for (const [key, v] of Object.entries(arrays)) {
      if (perStep.includes(key)) out[key] = sliceRows(v, from, to);
      else if (key === "first_step" && !first) continue;
      else out[key] = v;
    }
    return ReplayBuffer.fromArrays(out, {
      path: d.path,
      seed,
      capacity: Math.max(1, to - from),
      allowNonFinite: d.allowNonFinite,
    });
  };
  return { train: part(0, cut, true), holdout: part(cut, N, false), episodes, k };
}

function describeSpace(s: Space): Record<string, unknown> {
  return s.kind === "discrete" ? { kind: "discrete", n: s.n } : {
    kind: "box",
    shape: s.shape,
    dtype: s.dtype,
    low: Array.from(s.low),
    high: Array.from(s.high),
  };
}

async function listCheckpointNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory && /^checkpoint_/.test(e.name)) out.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
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

function countParameters(model: WorldModel): number {
  return model.parameters().reduce((n, t) => n + t.size, 0);
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
  if (opts.resumeFrom && (data.source === "env" || data.source === "gym")) {
    throw new ConfigError(
      `--resume-from: online runs ([data] source = "${data.source}") cannot be resumed (the ` +
        "replay buffer and the environment state are not checkpointed); start a new run",
    );
  }
  // Everything is validated (names, data, model) before the output directory is touched.
  resolveModelName(project.model.spec);

  const degraded: string[] = [];
  let buffer: ReplayBuffer | null = null;
  let holdout: ReplayBuffer | null = null;
  let env: Env | null = null;
  let evalEnv: Env | null = null;
  let shapes: {
    obsShape: readonly number[];
    actionDim: number;
    actionType: "continuous" | "discrete";
  };
  let dataInfo: Record<string, unknown>;
  if (data.source === "random") {
    buffer = randomReplayBuffer(data, cfg.seed);
    shapes = data;
    degraded.push("synthetic_data");
    dataInfo = {
      source: "random",
      obs_shape: data.obsShape,
      action_dim: data.actionDim,
      action_type: data.actionType,
      episodes: data.episodes,
      episode_length: data.episodeLength,
      transitions: buffer.size,
      seed: cfg.seed,
    };
  } else if (data.source === "npz") {
    const split = await loadNpzWithHoldout(data, cfg.seed);
    buffer = split.train;
    holdout = split.holdout;
    shapes = {
      obsShape: buffer.obsShape,
      actionDim: buffer.actionDim,
      actionType: buffer.actionDtype === "int32" ? "discrete" : "continuous",
    };
    if (!holdout) {
      degraded.push("no_holdout_data");
      note(`${data.pathAsWritten}: no episodes held out; verify will evaluate on training data`);
    }
    dataInfo = {
      source: "npz",
      path: data.pathAsWritten,
      transitions: buffer.size + (holdout?.size ?? 0),
      episodes: split.episodes,
      train_transitions: buffer.size,
      holdout_episodes: split.k,
      holdout_transitions: holdout?.size ?? 0,
    };
  } else {
    const args = onlineEnvArgs(data);
    try {
      env = await makeEnv(args.id, args.options);
      evalEnv = await makeEnv(args.id, args.options);
    } catch (e) {
      env?.close();
      // The bridge's errors say what to install or which id was meant: keep their type.
      if (e instanceof GymBridgeError) {
        e.message = `[data] env = "${data.env}": ${e.message}`;
        throw e;
      }
      throw new ConfigError(`[data] env: ${(e as Error).message}`);
    }
    const space = env.actionSpace;
    shapes = {
      obsShape: env.observationSpace.shape,
      actionDim: space.kind === "discrete" ? space.n : space.shape[0],
      actionType: space.kind === "discrete" ? "discrete" : "continuous",
    };
    const common = {
      episode_steps: Number.isFinite(env.maxEpisodeSteps) ? env.maxEpisodeSteps : null,
      normalize_actions: space.kind === "box",
      observation_space: describeSpace(env.observationSpace),
      action_space: describeSpace(space),
      make_env: args,
    };
    dataInfo = data.source === "env"
      ? {
        source: "env",
        env: data.env,
        pixels: data.pixels,
        frame_skip: data.frameSkip,
        max_episode_steps: data.maxEpisodeSteps,
        ...common,
      }
      : {
        source: "gym",
        env: data.env,
        kwargs: data.kwargs,
        pixels: data.pixels,
        size: data.size,
        grayscale: data.grayscale,
        frame_skip: data.frameSkip,
        max_episode_steps: data.maxEpisodeSteps,
        terminal_on_life_loss: data.terminalOnLifeLoss,
        noop_max: data.noopMax,
        gym: gymManifestInfo(env),
        ...common,
      };
  }

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
    const entry = MODEL_CATALOG[id];
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
    if (cfg.compile && !summary.compiled) degraded.push("eager_updates");
    if (summary.stoppedEarly) degraded.push("stopped_early");

    await savePretrained(model, join(outputDir, "model"));
    if (holdout) await holdout.save(join(outputDir, "holdout.npz"));
    const checkpoints = await listCheckpointNames(outputDir);
    const evals = online?.evaluations ?? [];
    const manifest: RunManifest = {
      schema_version: RUN_MANIFEST_VERSION,
      kind: "worldflux-run",
      worldflux_version: WORLDFLUX_VERSION,
      created_at_utc: new Date().toISOString(),
      project: { name: project.name, config_path: project.path },
      command: opts.command ? [...opts.command] : null,
      run_classification: data.source === "random" ? "contract_smoke" : "meaningful_local_training",
      degraded_modes: degraded,
      learning_budget: learningBudget,
      notes,
      plugins: project.plugins,
      device: { requested, selected: device.selected, reason: device.reason },
      model: {
        spec: project.model.spec,
        id,
        family: model.modelType,
        preset: id.split(":")[1] ?? project.model.preset,
        tier: entry?.tier ?? null,
        maturity: entry?.maturity ?? null,
        parameters: countParameters(model),
        obs_shape: [...shapes.obsShape],
        action_dim: shapes.actionDim,
        action_type: shapes.actionType,
        create_args: createArgs,
        init_seed: cfg.seed,
        contract_fingerprint: await model.contractFingerprint(),
        dir: "model",
      },
      data: dataInfo as RunManifest["data"],
      training: {
        mode: summary.mode,
        config: trainingConfigToSnakeCase(cfg),
        total_steps: summary.totalSteps,
        steps: summary.steps,
        updates: summary.updates,
        wall_time_sec: summary.wallTimeSec,
        steps_per_sec: summary.stepsPerSec,
        compiled: summary.compiled,
        train_step: summary.trainStep,
        controller: controllerName,
        resumed_from: summary.resumedFrom,
        stopped_early: summary.stoppedEarly,
        stop_reason: summary.stopReason,
        best_loss: summary.bestLoss,
      },
      final_metrics: summary.lastMetrics,
      evaluation: env
        ? {
          final_mean_return: evals.length ? evals[evals.length - 1].meanReturn : null,
          best_mean_return: evals.length ? Math.max(...evals.map((e) => e.meanReturn)) : null,
          history: evals.map((e) => ({
            env_step: e.envStep,
            updates: e.updates,
            mean_return: e.meanReturn,
            returns: e.returns,
          })),
        }
        : null,
      verify: snakeKeys(project.verify as unknown as Record<string, unknown>) as Record<
        string,
        number
      >,
      artifacts: {
        model: "model",
        metrics: "metrics.jsonl",
        checkpoints,
        final_checkpoint: checkpoints.includes("checkpoint_final") ? "checkpoint_final" : null,
        holdout: holdout ? "holdout.npz" : null,
      },
      runtime: {
        deno: Deno.version.deno,
        os: Deno.build.os,
        arch: Deno.build.arch,
        cpus: navigator.hardwareConcurrency,
      },
    };
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
