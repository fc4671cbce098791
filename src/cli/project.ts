/**
 * `worldflux.toml`: the project file that `worldflux init` writes and `worldflux train` /
 * `worldflux verify` read. Keys are snake_case; an unknown key is an error that lists the valid
 * ones (and the closest). Relative paths are relative to the file's directory.
 *
 * ```toml
 * name = "my-world-model"        # optional
 * plugins = ["./my_plugin.ts"]   # optional: local plugin modules (relative paths; URLs refused)
 *
 * [model]
 * family = "dreamerv3"           # or preset = "dreamerv3:ci" (a full name or an alias)
 * preset = "ci"
 * [model.overrides]              # config fields of the family (validated by its schema)
 * units = 64
 *
 * [data]
 * source = "random"              # "random" | "npz" | "env" | "gym"
 *
 * [training]                     # TrainingConfig, snake_case (see parseTrainingConfig)
 * total_steps = 200
 *
 * [verify]                       # thresholds of `worldflux verify --mode quick`
 * episodes = 5
 * ```
 * @module
 */

import { parse as parseToml } from "smol-toml";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.ts";
import { closestNames } from "../core/naming.ts";
import { parseTrainingConfig, type TrainingConfig } from "../core/training_config.ts";

/** Where the training data comes from. */
export const DATA_SOURCES = ["random", "npz", "env", "gym"] as const;
/** One of {@link DATA_SOURCES}. */
export type DataSource = (typeof DATA_SOURCES)[number];

/** `[data] source = "random"`: a replay buffer of random episodes (the contract smoke). */
export interface RandomDataConfig {
  /** The data source. */
  readonly source: "random";
  /** Observation shape of one step (default `[8]`). */
  readonly obsShape: readonly number[];
  /** Action size, or number of actions when discrete (default 2). */
  readonly actionDim: number;
  /** `"continuous"` (default) or `"discrete"`. */
  readonly actionType: "continuous" | "discrete";
  /** Episodes to generate (default 16). */
  readonly episodes: number;
  /** Steps per episode (default 64). */
  readonly episodeLength: number;
}

/** `[data] source = "npz"`: a replay buffer saved with `ReplayBuffer.save` (or NumPy). */
export interface NpzDataConfig {
  /** The data source. */
  readonly source: "npz";
  /** Absolute path of the `.npz` file. */
  readonly path: string;
  /** The path as written in the file. */
  readonly pathAsWritten: string;
  /**
   * Episodes kept out of training for `verify` (default: null, meaning 10% of the episodes, at
   * least one when there are two or more).
   */
  readonly holdoutEpisodes: number | null;
  /** Accept NaN and infinite values in the file (default false: refused, naming the key). */
  readonly allowNonFinite: boolean;
}

/** `[data] source = "env"`: online training in a built-in environment. */
export interface EnvDataConfig {
  /** The data source. */
  readonly source: "env";
  /** Environment id (`worldflux` lists them in `init --help`). */
  readonly env: string;
  /** Pixel observations (64x64 RGB, CHW uint8; default false). */
  readonly pixels: boolean;
  /** Action repeat (default 1). */
  readonly frameSkip: number;
  /** Time limit in base environment steps (default: the environment's). */
  readonly maxEpisodeSteps: number | null;
}

/**
 * `[data] source = "gym"`: online training in a Gymnasium environment, through the Python bridge
 * (`makeEnv("gym:<env>")`; see `src/envs/gym/env.ts` for what runs where).
 *
 * ```toml
 * [data]
 * source = "gym"
 * env = "ALE/Breakout-v5"        # any Gymnasium id ("module:Id-v0" imports module first)
 * python = "/path/to/python"     # optional: default WORLDFLUX_PYTHON, else python3
 * [data.kwargs]                  # optional: keyword arguments of gymnasium.make
 * full_action_space = true
 * ```
 */
export interface GymDataConfig {
  /** The data source. */
  readonly source: "gym";
  /** Gymnasium id (without `gym:`). */
  readonly env: string;
  /** Keyword arguments of `gymnasium.make` (JSON values). */
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** Interpreter (null: `WORLDFLUX_PYTHON`, else `python3`). */
  readonly python: string | null;
  /** Directories put on the host's `sys.path` (resolved against the file's directory). */
  readonly pythonPath: readonly string[];
  /** Observations are the rendered frame (`render_mode="rgb_array"`), CHW uint8 (default false). */
  readonly pixels: boolean;
  /** Side of pixel / Atari observations (null: 64 for frames, else no resize). */
  readonly size: number | null;
  /** Grayscale frames (default false). */
  readonly grayscale: boolean;
  /** Action repeat in Python (null: 4 for Atari, 1 else). */
  readonly frameSkip: number | null;
  /** Time limit in base steps (null: Gymnasium's). */
  readonly maxEpisodeSteps: number | null;
  /** Atari: a lost life is `terminated` (default false). */
  readonly terminalOnLifeLoss: boolean;
  /** Atari: up to this many no-op frames after a reset (default 0). */
  readonly noopMax: number;
  /** Timeout of each reply of the Python process, in seconds (null: 60). */
  readonly timeoutSec: number | null;
}

/** The `[data]` table. */
export type DataConfig = RandomDataConfig | NpzDataConfig | EnvDataConfig | GymDataConfig;

/** The data sources that train online in an environment. */
export type OnlineDataConfig = EnvDataConfig | GymDataConfig;

/** The `[model]` table. */
export interface ModelConfig {
  /** The model name passed to `createWorldModel` (`family:preset` or an alias). */
  readonly spec: string;
  /** `family` as written (null when only `preset` was given). */
  readonly family: string | null;
  /** `preset` as written. */
  readonly preset: string;
  /** Config fields of the family (snake_case, as written). */
  readonly overrides: Readonly<Record<string, unknown>>;
}

/** The `[verify]` table: thresholds of `worldflux verify --mode quick`. */
export interface VerifyConfig {
  /** Evaluation episodes per policy for env runs (default 5). */
  readonly episodes: number;
  /** Batches of held-out data the loss is averaged over (default 8). */
  readonly batches: number;
  /**
   * Env runs: the trained policy's mean return must beat the random policy's by this fraction of
   * `max(|random return|, 1)` (default 0.1).
   */
  readonly minReturnGain: number;
  /** The held-out loss of the trained model must be at most this times the untrained one's (default 0.95). */
  readonly maxLossRatio: number;
}

/** A validated `worldflux.toml`. */
export interface ProjectConfig {
  /** The file it came from (absolute), or null when built in code. */
  readonly path: string | null;
  /** Directory relative paths resolve against. */
  readonly baseDir: string;
  /** `name` (default: the directory's name). */
  readonly name: string;
  /** Plugin modules to load before the model is built (resolved). */
  readonly plugins: readonly string[];
  /** The `[model]` table. */
  readonly model: ModelConfig;
  /** The `[data]` table. */
  readonly data: DataConfig;
  /** The training config; `outputDir` is resolved against `baseDir`. */
  readonly training: TrainingConfig;
  /** The `[verify]` table. */
  readonly verify: VerifyConfig;
  /** The tables as read, for the run manifest. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** Defaults of the `[verify]` table. */
export const VERIFY_DEFAULTS: VerifyConfig = Object.freeze({
  episodes: 5,
  batches: 8,
  minReturnGain: 0.1,
  maxLossRatio: 0.95,
});

type Table = Record<string, unknown>;

function isTable(x: unknown): x is Table {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Date);
}

function checkKeys(where: string, table: Table, valid: readonly string[]): void {
  for (const k of Object.keys(table)) {
    if (valid.includes(k)) continue;
    const near = closestNames(k, valid);
    throw new ConfigError(
      `${where}: unknown key "${k}"${near.length ? ` (did you mean "${near[0]}"?)` : ""}; ` +
        `valid keys: ${valid.join(", ")}`,
    );
  }
}

function num(x: unknown): unknown {
  return typeof x === "bigint" ? Number(x) : x;
}

function str(where: string, key: string, v: unknown): string {
  if (typeof v !== "string" || v.trim() === "") {
    throw new ConfigError(`${where}: ${key} must be a non-empty string, got ${show(v)}`);
  }
  return v;
}

function int(where: string, key: string, v: unknown, min: number): number {
  const n = num(v);
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    throw new ConfigError(`${where}: ${key} must be an integer >= ${min}, got ${show(v)}`);
  }
  return n;
}

function real(where: string, key: string, v: unknown, min: number, max = Infinity): number {
  const n = num(v);
  if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(`${where}: ${key} must be a number ${range}, got ${show(v)}`);
  }
  return n;
}

function bool(where: string, key: string, v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new ConfigError(`${where}: ${key} must be true or false, got ${show(v)}`);
  }
  return v;
}

function show(v: unknown): string {
  if (typeof v === "bigint") return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function resolvePath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(join(baseDir, p));
}

const TOP_KEYS = ["name", "plugins", "model", "data", "training", "verify"] as const;
const MODEL_KEYS = ["family", "preset", "overrides"] as const;
const DATA_KEYS: Record<DataSource, readonly string[]> = {
  random: ["source", "obs_shape", "action_dim", "action_type", "episodes", "episode_length"],
  npz: ["source", "path", "holdout_episodes", "allow_non_finite"],
  env: ["source", "env", "pixels", "frame_skip", "max_episode_steps"],
  gym: [
    "source",
    "env",
    "kwargs",
    "python",
    "python_path",
    "pixels",
    "size",
    "grayscale",
    "frame_skip",
    "max_episode_steps",
    "terminal_on_life_loss",
    "noop_max",
    "timeout_sec",
  ],
};
const VERIFY_KEYS = ["episodes", "batches", "min_return_gain", "max_loss_ratio"] as const;
/** Config fields `[data]` sets; `[model.overrides]` may not. */
const DATA_OWNED = [
  "obs_shape",
  "action_dim",
  "action_type",
  "obsShape",
  "actionDim",
  "actionType",
];

function parseModel(where: string, t: Table): ModelConfig {
  checkKeys(where, t, MODEL_KEYS);
  const family = t.family === undefined ? null : str(where, "family", t.family);
  const presetRaw = t.preset === undefined ? null : str(where, "preset", t.preset);
  if (family === null && presetRaw === null) {
    throw new ConfigError(
      `${where}: give family (with preset, default "ci") or preset = "family:preset"`,
    );
  }
  let spec: string;
  if (family === null) spec = presetRaw!;
  else if (presetRaw === null) spec = `${family}:ci`;
  else if (presetRaw.includes(":")) {
    if (!presetRaw.toLowerCase().startsWith(`${family.toLowerCase()}:`)) {
      throw new ConfigError(
        `${where}: preset "${presetRaw}" names another family than family = "${family}"`,
      );
    }
    spec = presetRaw;
  } else spec = `${family}:${presetRaw}`;
  let overrides: Table = {};
  if (t.overrides !== undefined) {
    if (!isTable(t.overrides)) {
      throw new ConfigError(`${where}: overrides must be a table ([model.overrides])`);
    }
    overrides = Object.fromEntries(Object.entries(t.overrides).map(([k, v]) => [k, num(v)]));
    for (const k of Object.keys(overrides)) {
      if (DATA_OWNED.includes(k)) {
        throw new ConfigError(
          `${where}.overrides: ${k} is set by the data ([data]), not by the model overrides`,
        );
      }
    }
  }
  return { spec, family, preset: presetRaw ?? "ci", overrides };
}

function parseData(where: string, t: Table, baseDir: string): DataConfig {
  if (t.source === undefined) {
    throw new ConfigError(`${where}: source is required (one of ${DATA_SOURCES.join(", ")})`);
  }
  const source = t.source;
  if (typeof source !== "string" || !(DATA_SOURCES as readonly string[]).includes(source)) {
    const near = typeof source === "string" ? closestNames(source, DATA_SOURCES) : [];
    throw new ConfigError(
      `${where}: source must be one of ${DATA_SOURCES.map((s) => `"${s}"`).join(", ")}, got ` +
        `${show(source)}${near.length ? ` (did you mean "${near[0]}"?)` : ""}`,
    );
  }
  const s = source as DataSource;
  for (const k of Object.keys(t)) {
    if (DATA_KEYS[s].includes(k)) continue;
    const other = DATA_SOURCES.find((o) => o !== s && DATA_KEYS[o].includes(k));
    if (other) {
      throw new ConfigError(`${where}: ${k} is only used with source = "${other}"`);
    }
  }
  checkKeys(where, t, DATA_KEYS[s]);
  if (s === "random") {
    let obsShape: number[] = [8];
    if (t.obs_shape !== undefined) {
      const v = t.obs_shape;
      if (!Array.isArray(v) || v.length === 0) {
        throw new ConfigError(`${where}: obs_shape must be a list of positive integers`);
      }
      obsShape = v.map((d) => int(where, "obs_shape", d, 1));
    }
    const actionType = t.action_type === undefined ? "continuous" : t.action_type;
    if (actionType !== "continuous" && actionType !== "discrete") {
      throw new ConfigError(
        `${where}: action_type must be "continuous" or "discrete", got ${show(actionType)}`,
      );
    }
    return {
      source: "random",
      obsShape,
      actionDim: t.action_dim === undefined ? 2 : int(where, "action_dim", t.action_dim, 1),
      actionType,
      episodes: t.episodes === undefined ? 16 : int(where, "episodes", t.episodes, 1),
      episodeLength: t.episode_length === undefined
        ? 64
        : int(where, "episode_length", t.episode_length, 2),
    };
  }
  if (s === "npz") {
    if (t.path === undefined) throw new ConfigError(`${where}: path is required with "npz"`);
    const p = str(where, "path", t.path);
    return {
      source: "npz",
      path: resolvePath(baseDir, p),
      pathAsWritten: p,
      holdoutEpisodes: t.holdout_episodes === undefined
        ? null
        : int(where, "holdout_episodes", t.holdout_episodes, 0),
      allowNonFinite: t.allow_non_finite === undefined
        ? false
        : bool(where, "allow_non_finite", t.allow_non_finite),
    };
  }
  if (t.env === undefined) throw new ConfigError(`${where}: env is required with "${s}"`);
  if (s === "gym") return parseGym(where, t, baseDir);
  return {
    source: "env",
    env: str(where, "env", t.env),
    pixels: t.pixels === undefined ? false : bool(where, "pixels", t.pixels),
    frameSkip: t.frame_skip === undefined ? 1 : int(where, "frame_skip", t.frame_skip, 1),
    maxEpisodeSteps: t.max_episode_steps === undefined
      ? null
      : int(where, "max_episode_steps", t.max_episode_steps, 1),
  };
}

/** A TOML value as plain JSON (integers as numbers); dates and non-finite numbers are refused. */
function jsonValue(where: string, key: string, v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ConfigError(`${where}: ${key} must be finite, got ${v}`);
    return v;
  }
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (Array.isArray(v)) return v.map((x, i) => jsonValue(where, `${key}[${i}]`, x));
  if (isTable(v)) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, jsonValue(where, `${key}.${k}`, x)]),
    );
  }
  throw new ConfigError(
    `${where}: ${key} must be a string, number, boolean, list or table, got ${show(v)}`,
  );
}

function parseGym(where: string, t: Table, baseDir: string): GymDataConfig {
  let env = str(where, "env", t.env);
  if (env.startsWith("gym:")) env = env.slice(4);
  if (t.kwargs !== undefined && !isTable(t.kwargs)) {
    throw new ConfigError(`${where}: kwargs must be a table ([data.kwargs])`);
  }
  let pythonPath: string[] = [];
  if (t.python_path !== undefined) {
    if (!Array.isArray(t.python_path)) {
      throw new ConfigError(`${where}: python_path must be a list of directories`);
    }
    pythonPath = t.python_path.map((p) => resolvePath(baseDir, str(where, "python_path", p)));
  }
  const opt = <T>(key: string, read: (v: unknown) => T): T | null =>
    t[key] === undefined ? null : read(t[key]);
  return {
    source: "gym",
    env,
    kwargs: t.kwargs === undefined ? {} : jsonValue(where, "kwargs", t.kwargs) as Table,
    python: opt("python", (v) => str(where, "python", v)),
    pythonPath,
    pixels: opt("pixels", (v) => bool(where, "pixels", v)) ?? false,
    size: opt("size", (v) => int(where, "size", v, 8)),
    grayscale: opt("grayscale", (v) => bool(where, "grayscale", v)) ?? false,
    frameSkip: opt("frame_skip", (v) => int(where, "frame_skip", v, 1)),
    maxEpisodeSteps: opt("max_episode_steps", (v) => int(where, "max_episode_steps", v, 1)),
    terminalOnLifeLoss:
      opt("terminal_on_life_loss", (v) => bool(where, "terminal_on_life_loss", v)) ??
        false,
    noopMax: opt("noop_max", (v) => int(where, "noop_max", v, 0)) ?? 0,
    timeoutSec: opt("timeout_sec", (v) => real(where, "timeout_sec", v, 0.001)),
  };
}

function parseVerify(where: string, t: Table): VerifyConfig {
  checkKeys(where, t, VERIFY_KEYS);
  const d = VERIFY_DEFAULTS;
  return {
    episodes: t.episodes === undefined ? d.episodes : int(where, "episodes", t.episodes, 1),
    batches: t.batches === undefined ? d.batches : int(where, "batches", t.batches, 1),
    minReturnGain: t.min_return_gain === undefined
      ? d.minReturnGain
      : real(where, "min_return_gain", t.min_return_gain, -1e9),
    maxLossRatio: t.max_loss_ratio === undefined
      ? d.maxLossRatio
      : real(where, "max_loss_ratio", t.max_loss_ratio, 0),
  };
}

/**
 * The file of a plugin module named by a project file: a path relative to the project
 * directory (`./plugins/my_plugin.ts`), an absolute path, or a `file:` URL. Anything else that
 * names code by URL (`data:`, `blob:`, `http(s):`, `jsr:`, `npm:`, ...) is refused with a
 * {@link ConfigError} before anything is imported: a project file only runs code that is on this
 * machine, in files the user can read. To use a published plugin, re-export it from a local
 * module (`export { default } from "jsr:@scope/plugin";`) and list that module.
 *
 * @example
 * ```ts
 * import { resolveProjectPlugin } from "./project.ts";
 * console.log(resolveProjectPlugin("./plugins/p.ts", "/home/me/proj", "plugins"));
 * // /home/me/proj/plugins/p.ts
 * ```
 */
export function resolveProjectPlugin(spec: string, baseDir: string, where: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec);
  const drive = /^[a-z]:[\\/]/i.test(spec); // C:\path on Windows
  if (scheme && !drive) {
    if (scheme[1].toLowerCase() === "file") {
      try {
        return fileURLToPath(spec);
      } catch {
        throw new ConfigError(`${where}: "${spec}" is not a valid file: URL`);
      }
    }
    throw new ConfigError(
      `${where}: a ${scheme[1].toLowerCase()}: URL is refused: plugins are local module files, ` +
        `given as paths relative to the project (e.g. "./plugins/my_plugin.ts"); a project ` +
        `file never loads code from a URL. To use a published plugin, re-export it from a ` +
        `local module (export { default } from "jsr:@scope/plugin") and list that module`,
    );
  }
  return resolvePath(baseDir, spec);
}

/**
 * Validates the tables of a `worldflux.toml` (already parsed). `path` names the file in error
 * messages; `baseDir` is where relative paths point from.
 */
export function parseProjectConfig(
  doc: Readonly<Record<string, unknown>>,
  opts: { path?: string | null; baseDir?: string } = {},
): ProjectConfig {
  const file = opts.path ?? null;
  const baseDir = resolve(opts.baseDir ?? (file ? dirname(file) : "."));
  const label = file ? file.split(/[\\/]/).pop()! : "project config";
  const where = (section?: string) => section ? `${label} [${section}]` : label;
  if (!isTable(doc)) throw new ConfigError(`${label}: expected a table`);
  checkKeys(label, doc, TOP_KEYS);
  for (const section of ["model", "data", "training", "verify"]) {
    if (doc[section] !== undefined && !isTable(doc[section])) {
      throw new ConfigError(`${label}: ${section} must be a table ([${section}])`);
    }
  }
  if (doc.model === undefined) throw new ConfigError(`${label}: the [model] table is missing`);
  if (doc.data === undefined) throw new ConfigError(`${label}: the [data] table is missing`);
  const name = doc.name === undefined
    ? (baseDir.split(/[\\/]/).filter(Boolean).pop() ?? "worldflux-project")
    : str(label, "name", doc.name);
  let plugins: string[] = [];
  if (doc.plugins !== undefined) {
    if (!Array.isArray(doc.plugins)) {
      throw new ConfigError(`${label}: plugins must be a list of module specifiers`);
    }
    plugins = doc.plugins.map((p) =>
      resolveProjectPlugin(str(label, "plugins", p), baseDir, `${label}: plugins`)
    );
  }
  const model = parseModel(where("model"), doc.model as Table);
  const data = parseData(where("data"), doc.data as Table, baseDir);
  const trainingTable = (doc.training ?? {}) as Table;
  const training0 = parseTrainingConfig(trainingTable, {
    keys: "snake",
    source: where("training"),
  });
  const training = Object.freeze({
    ...training0,
    outputDir: resolvePath(baseDir, training0.outputDir),
  });
  const verify = parseVerify(where("verify"), (doc.verify ?? {}) as Table);
  return { path: file, baseDir, name, plugins, model, data, training, verify, raw: doc };
}

/** Reads and validates a `worldflux.toml` (TOML syntax errors name the line). */
export async function loadProjectConfig(path: string): Promise<ProjectConfig> {
  const abs = resolve(path);
  let text: string;
  try {
    text = await Deno.readTextFile(abs);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        `${path} not found: run "worldflux init DIR" to create a project, or pass -c FILE`,
      );
    }
    throw e;
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    // The parser's message quotes the offending lines: keep the reason and the position only.
    const err = e as Error & { line?: number; column?: number };
    const reason = err.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    const at = err.line ? ` (line ${err.line}${err.column ? `, column ${err.column}` : ""})` : "";
    throw new ConfigError(`${path} is not valid TOML: ${reason}${at}`);
  }
  return parseProjectConfig(doc, { path: abs });
}
