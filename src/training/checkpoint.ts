/**
 * Training checkpoints: everything a run's future depends on, in one directory written
 * atomically (built beside its final name, then renamed into place), so a crash never leaves a
 * half-written checkpoint where a good one was.
 *
 * ```
 * checkpoint_000020/
 *   manifest.json            format name and version, step, model type, sha256 of every file
 *   model/                   a savePretrained directory (config.json, model.safetensors with
 *                            dotted PyTorch-style names, worldflux_meta.json): load it with
 *                            createWorldModel(dir + "/model")
 *   optimizer.safetensors    moments: "<optimizer>.state.<i>.exp_avg" / ".exp_avg_sq"
 *   optimizer.json           per optimizer: step, param_groups, hyperparameters
 *   train_state.safetensors  tensors of the training step outside the model (when any)
 *   trainer_state.json       step, updates, best loss, generator states ({seed, counter}),
 *                            callback states, the training step's JSON values
 *   training_config.json     the TrainingConfig, snake_case
 *   replay_buffer.npz        online runs, at the end of a training episode: the replay buffer
 *                            (the `ReplayBuffer.save` layout); the loop's own state (episodes,
 *                            evaluations, counters, random streams) is in trainer_state.json
 * ```
 *
 * An online run's checkpoint resumes exactly only when it was written at the end of a training
 * episode, before the environment was reset (then nothing of the environment needs saving: the
 * next episode starts from its seed); `resumable` in the manifest says whether it was.
 * @module
 */

import { ConfigError, FormatError } from "../errors.ts";
import { CheckpointError } from "../core/errors.ts";
import { sha256Hex } from "../core/spec.ts";
import { checkContract, directoryFiles, loadSavedWeights } from "../core/from_pretrained.ts";
import {
  checkMeta,
  parseJsonObject as parseSavedJson,
  PRETRAINED_FILES,
  requireChecksums,
  savePretrained,
} from "../core/serialization.ts";
import { WORLDFLUX_VERSION } from "../core/version.ts";
import type { WorldModel } from "../core/world_model.ts";
import { writeDirAtomic, writeFileAtomic } from "../io/atomic.ts";
import { parseJson } from "../io/json.ts";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.ts";
import { tensor } from "../tensor/creation.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { OptimizerState } from "../optim/optimizer.ts";
import {
  parseTrainingConfig,
  type TrainingConfig,
  trainingConfigToSnakeCase,
} from "../core/training_config.ts";
import type { TrainStep, TrainStepState } from "../core/train_step.ts";

/** Format name in `manifest.json`. */
export const CHECKPOINT_FORMAT = "worldflux-training-checkpoint";
/** Layout version written (and the only one read). */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** File names inside a checkpoint directory. */
export const CHECKPOINT_FILES = {
  manifest: "manifest.json",
  model: "model",
  optimizer: "optimizer.safetensors",
  optimizerMeta: "optimizer.json",
  trainState: "train_state.safetensors",
  trainer: "trainer_state.json",
  config: "training_config.json",
  replay: "replay_buffer.npz",
} as const;

/** A generator's whole state. */
export interface GeneratorState {
  /** The seed. */
  readonly seed: number;
  /** Keys handed out. */
  readonly counter: number;
}

/** The trainer's part of a checkpoint (`trainer_state.json`). */
export interface TrainerCheckpointState {
  /** Steps done (gradient updates offline, environment steps online). */
  readonly step: number;
  /** Gradient updates done. */
  readonly updates: number;
  /** Lowest logged loss so far (Infinity before the first log). */
  readonly bestLoss: number;
  /** Every generator the run draws from, by role (`global`, `sampler`, `eval`). */
  readonly rng: Readonly<Record<string, GeneratorState>>;
  /** Callback states by callback key. */
  readonly callbacks: Readonly<Record<string, unknown>>;
  /** Whatever else the run keeps (the online loop's counters, episodes and evaluations). */
  readonly extra: Readonly<Record<string, unknown>>;
  /**
   * False for checkpoints a run cannot continue from exactly (an online run's written in the
   * middle of a training episode: it holds no replay buffer).
   */
  readonly resumable: boolean;
}

/** `manifest.json`. */
export interface CheckpointManifest {
  /** Always {@link CHECKPOINT_FORMAT}. */
  readonly format: string;
  /** {@link CHECKPOINT_FORMAT_VERSION}. */
  readonly format_version: number;
  /** Version that wrote it. */
  readonly worldflux_version: string;
  /** Family of the model. */
  readonly model_type: string;
  /** Steps done when it was written. */
  readonly step: number;
  /** Whether a run can continue from it exactly. */
  readonly resumable: boolean;
  /** ISO time of writing. */
  readonly created_at_utc: string;
  /** sha256 and size of every file outside `model/` (which checks its own weights). */
  readonly files: Readonly<Record<string, { sha256: string; bytes: number }>>;
}

/** What {@link saveCheckpoint} writes. */
export interface CheckpointContents {
  /** The model (weights go to `model/`). */
  readonly model: WorldModel;
  /** The training step (optimizers and extra state). */
  readonly trainStep: TrainStep;
  /** The run's config. */
  readonly config: TrainingConfig;
  /** Step, best loss, generators, callbacks. */
  readonly trainer: TrainerCheckpointState;
  /**
   * More files of the run, by name (the online loop's `replay_buffer.npz`), listed with their
   * sha256 in the manifest like the others.
   */
  readonly files?: Readonly<Record<string, Uint8Array>>;
}

/** A checkpoint read back by {@link restoreCheckpoint}. */
export interface RestoredCheckpoint {
  /** The directory. */
  readonly dir: string;
  /** Its manifest. */
  readonly manifest: CheckpointManifest;
  /** The config it was written with. */
  readonly config: TrainingConfig;
  /** Step, best loss, generators, callbacks. */
  readonly trainer: TrainerCheckpointState;
  /** The training step's JSON values. */
  readonly trainStepValues: Readonly<Record<string, unknown>>;
}

function json(v: unknown): string {
  return JSON.stringify(v, null, 2) + "\n";
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** Splits optimizer states into safetensors tensors and JSON. */
function splitOptimizers(
  optimizers: Readonly<Record<string, OptimizerState>>,
): { tensors: Record<string, Tensor>; meta: Record<string, unknown> } {
  const tensors: Record<string, Tensor> = {};
  const meta: Record<string, unknown> = {};
  for (const [name, st] of Object.entries(optimizers)) {
    for (const [idx, m] of Object.entries(st.state)) {
      tensors[`${name}.state.${idx}.exp_avg`] = m.expAvg;
      tensors[`${name}.state.${idx}.exp_avg_sq`] = m.expAvgSq;
    }
    meta[name] = {
      step: st.step,
      param_groups: st.paramGroups.map((g) => ({
        lr_scale: g.lrScale,
        weight_decay: g.weightDecay,
        params: g.params,
      })),
      hyper: {
        lr: st.hyper.lr,
        betas: st.hyper.betas,
        eps: st.hyper.eps,
        weight_decay: st.hyper.weightDecay,
        grad_clip: st.hyper.gradClip,
      },
    };
  }
  return { tensors, meta };
}

/**
 * Writes a checkpoint directory atomically (see the module docs for the layout). An existing
 * directory at `dir` is replaced only once the new one is complete.
 */
export async function saveCheckpoint(dir: string, contents: CheckpointContents): Promise<void> {
  const { model, trainStep, config, trainer } = contents;
  const reserved = new Set<string>(Object.values(CHECKPOINT_FILES));
  for (const name of Object.keys(contents.files ?? {})) {
    if (
      (reserved.has(name) && name !== CHECKPOINT_FILES.replay) || !/^[\w.-]+$/.test(name) ||
      name.startsWith(".")
    ) {
      throw new ConfigError(
        `saveCheckpoint: "${name}" cannot be a file of a checkpoint (a plain file name, not one ` +
          `of ${[...reserved].join(", ")}, is expected)`,
      );
    }
  }
  const state: TrainStepState = trainStep.stateDict();
  const opt = splitOptimizers(state.optimizers);
  const optBytes = await encodeSafetensors(opt.tensors, { format: "pt" });
  const extraTensors = state.tensors ?? {};
  const trainStateBytes = Object.keys(extraTensors).length
    ? await encodeSafetensors(extraTensors, { format: "pt" })
    : null;
  const trainerJson = {
    step: trainer.step,
    updates: trainer.updates,
    best_loss: finiteOrNull(trainer.bestLoss),
    rng: trainer.rng,
    callbacks: trainer.callbacks,
    train_step: state.values ?? {},
    extra: trainer.extra,
    resumable: trainer.resumable,
  };
  const files: Record<string, Uint8Array> = {
    [CHECKPOINT_FILES.optimizer]: optBytes,
    [CHECKPOINT_FILES.optimizerMeta]: new TextEncoder().encode(json(opt.meta)),
    [CHECKPOINT_FILES.trainer]: new TextEncoder().encode(json(trainerJson)),
    [CHECKPOINT_FILES.config]: new TextEncoder().encode(json(trainingConfigToSnakeCase(config))),
  };
  if (trainStateBytes) files[CHECKPOINT_FILES.trainState] = trainStateBytes;
  Object.assign(files, contents.files ?? {});
  const listing: Record<string, { sha256: string; bytes: number }> = {};
  for (const [name, bytes] of Object.entries(files)) {
    listing[name] = { sha256: await sha256Hex(bytes), bytes: bytes.length };
  }
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_FORMAT_VERSION,
    worldflux_version: WORLDFLUX_VERSION,
    model_type: model.modelType,
    step: trainer.step,
    resumable: trainer.resumable,
    created_at_utc: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    files: listing,
  };
  const parent = dir.replace(/\/+$/, "").replace(/\/[^/]*$/, "");
  if (parent && parent !== dir) await Deno.mkdir(parent, { recursive: true });
  await writeDirAtomic(dir, async (tmp) => {
    await savePretrained(model, `${tmp}/${CHECKPOINT_FILES.model}`);
    for (const [name, bytes] of Object.entries(files)) {
      await writeFileAtomic(`${tmp}/${name}`, bytes);
    }
    await writeFileAtomic(`${tmp}/${CHECKPOINT_FILES.manifest}`, json(manifest));
  });
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

async function readBytes(dir: string, name: string): Promise<Uint8Array> {
  const path = `${dir}/${name}`;
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError("missing_file", `the checkpoint ${dir} has no ${name}`, path);
    }
    throw e;
  }
}

function parseJsonObject(bytes: Uint8Array, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = parseJson(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError("bad_json", (e as Error).message, path);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new CheckpointError("bad_json", "must hold a JSON object", path);
  }
  return v as Record<string, unknown>;
}

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  ok: (v: unknown) => boolean,
  want: string,
): T {
  if (!(key in obj)) throw new CheckpointError("missing_field", `no "${key}"`, path);
  const v = obj[key];
  if (!ok(v)) {
    throw new CheckpointError(
      "invalid_field",
      `"${key}" must be ${want}, got ${JSON.stringify(v)}`,
      path,
    );
  }
  return v as T;
}

const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);

function checkGenerators(raw: unknown, path: string): Record<string, GeneratorState> {
  if (!isObject(raw)) {
    throw new CheckpointError("invalid_field", `"rng" must be an object of generators`, path);
  }
  const out: Record<string, GeneratorState> = {};
  for (const [k, g] of Object.entries(raw as Record<string, unknown>)) {
    const s = g as Record<string, unknown>;
    if (!isObject(g) || !Number.isFinite(s.seed) || !isCount(s.counter)) {
      throw new CheckpointError(
        "invalid_field",
        `"rng.${k}" must be {seed: number, counter: integer >= 0}, got ${JSON.stringify(g)}`,
        path,
      );
    }
    out[k] = { seed: s.seed as number, counter: s.counter as number };
  }
  return out;
}

/**
 * Reads and checks `manifest.json` (format, version, every file's size and sha256), the config
 * and the trainer state, without creating tensors.
 *
 * @example
 * ```ts
 * import { createWorldModel, readCheckpoint, Trainer } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 1 });
 * const trainer = new Trainer(model, { totalSteps: 10 }, { defaultCallbacks: false });
 * const dir = `${await Deno.makeTempDir()}/checkpoint_000000`;
 * await trainer.saveCheckpoint(dir);
 * const ck = await readCheckpoint(dir);
 * console.log(ck.manifest.format, ck.trainer.step); // worldflux-training-checkpoint 0
 * // A new run continues from it (or from its parent directory: the newest checkpoint there).
 * const again = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 1 });
 * const resumed = new Trainer(again, { totalSteps: 10 }, {
 *   defaultCallbacks: false,
 *   resumeFrom: dir,
 * });
 * await resumed.setup();
 * console.log(resumed.state.step); // 0
 * ```
 */
export async function readCheckpoint(dir: string): Promise<RestoredCheckpoint> {
  const root = dir.replace(/\/+$/, "") || "/";
  try {
    if (!(await Deno.stat(root)).isDirectory) {
      throw new CheckpointError("missing_directory", `${root} is not a directory`, root);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError("missing_directory", `no checkpoint at ${root}`, root);
    }
    throw e;
  }
  const mPath = `${root}/${CHECKPOINT_FILES.manifest}`;
  const m = parseJsonObject(await readBytes(root, CHECKPOINT_FILES.manifest), mPath);
  const format = field<string>(m, "format", mPath, (v) => typeof v === "string", "a string");
  if (format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      "invalid_field",
      `"format" is "${format}", not a training checkpoint ("${CHECKPOINT_FORMAT}")`,
      mPath,
    );
  }
  const version = field<number>(m, "format_version", mPath, isCount, "an integer");
  if (version !== CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointError(
      "unsupported_version",
      `checkpoint format_version ${version} is not supported by worldflux ${WORLDFLUX_VERSION} ` +
        `(it reads format_version ${CHECKPOINT_FORMAT_VERSION})`,
      mPath,
    );
  }
  field<string>(m, "model_type", mPath, (v) => typeof v === "string" && v !== "", "a name");
  field<number>(m, "step", mPath, isCount, "an integer >= 0");
  const files = field<Record<string, { sha256: string; bytes: number }>>(
    m,
    "files",
    mPath,
    isObject,
    "an object",
  );
  // Every listed file must be there and match its checksum.
  const contents: Record<string, Uint8Array> = {};
  for (const [name, info] of Object.entries(files)) {
    if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw new CheckpointError("invalid_field", `bad file name "${name}" in files`, mPath);
    }
    const bytes = await readBytes(root, name);
    if (bytes.length !== info?.bytes || (await sha256Hex(bytes)) !== info?.sha256) {
      throw new CheckpointError(
        "checksum_mismatch",
        `${name} does not match the size and sha256 recorded in ${CHECKPOINT_FILES.manifest} ` +
          `(the file was truncated or edited)`,
        `${root}/${name}`,
      );
    }
    contents[name] = bytes;
  }
  for (const need of [CHECKPOINT_FILES.trainer, CHECKPOINT_FILES.config]) {
    if (!contents[need]) {
      throw new CheckpointError("missing_file", `the manifest does not list ${need}`, mPath);
    }
  }
  const cPath = `${root}/${CHECKPOINT_FILES.config}`;
  let config: TrainingConfig;
  try {
    config = parseTrainingConfig(parseJsonObject(contents[CHECKPOINT_FILES.config], cPath), {
      keys: "snake",
      source: cPath,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError("invalid_config", e.message, cPath);
    throw e;
  }
  const tPath = `${root}/${CHECKPOINT_FILES.trainer}`;
  const t = parseJsonObject(contents[CHECKPOINT_FILES.trainer], tPath);
  const best = field<number | null>(
    t,
    "best_loss",
    tPath,
    (v) => v === null || typeof v === "number",
    "a number or null",
  );
  const trainer: TrainerCheckpointState = {
    step: field<number>(t, "step", tPath, isCount, "an integer >= 0"),
    updates: field<number>(t, "updates", tPath, isCount, "an integer >= 0"),
    bestLoss: best ?? Infinity,
    rng: checkGenerators(t.rng, tPath),
    callbacks: (isObject(t.callbacks) ? t.callbacks : {}) as Record<string, unknown>,
    extra: (isObject(t.extra) ? t.extra : {}) as Record<string, unknown>,
    resumable: t.resumable !== false,
  };
  return {
    dir: root,
    manifest: m as unknown as CheckpointManifest,
    config,
    trainer,
    trainStepValues: (isObject(t.train_step) ? t.train_step : {}) as Record<string, unknown>,
  };
}

function optimizerStates(
  meta: Record<string, unknown>,
  tensors: Record<string, Tensor>,
  path: string,
): Record<string, OptimizerState> {
  const out: Record<string, OptimizerState> = {};
  for (const [name, raw] of Object.entries(meta)) {
    const o = raw as Record<string, unknown>;
    if (!isObject(raw) || !isCount(o.step) || !Array.isArray(o.param_groups)) {
      throw new CheckpointError(
        "invalid_field",
        `optimizer "${name}" needs step and param_groups`,
        path,
      );
    }
    const groups = (o.param_groups as Record<string, unknown>[]).map((g) => ({
      lrScale: Number(g.lr_scale ?? 1),
      weightDecay: Number(g.weight_decay ?? 0),
      params: Array.isArray(g.params) ? (g.params as number[]) : [],
    }));
    const state: Record<string, { expAvg: Tensor; expAvgSq: Tensor }> = {};
    for (const idx of groups.flatMap((g) => g.params)) {
      const a = tensors[`${name}.state.${idx}.exp_avg`];
      const b = tensors[`${name}.state.${idx}.exp_avg_sq`];
      if (!a || !b) {
        throw new CheckpointError(
          "missing_tensor",
          `optimizer "${name}": no moments for parameter ${idx} in ${CHECKPOINT_FILES.optimizer}`,
          path,
        );
      }
      state[String(idx)] = { expAvg: a, expAvgSq: b };
    }
    const h = (o.hyper ?? {}) as Record<string, unknown>;
    out[name] = {
      step: o.step as number,
      paramGroups: groups,
      state,
      hyper: {
        lr: Number(h.lr ?? 0),
        betas: (h.betas as [number, number]) ?? [0.9, 0.999],
        eps: Number(h.eps ?? 1e-8),
        weightDecay: Number(h.weight_decay ?? 0),
        gradClip: (h.grad_clip as number | null) ?? null,
      },
    };
  }
  return out;
}

function decodeTensors(bytes: Uint8Array, path: string, device: Tensor["device"]) {
  let file;
  try {
    file = decodeSafetensors(bytes, path);
  } catch (e) {
    if (e instanceof FormatError) throw new CheckpointError("bad_weights", e.message, path);
    throw e;
  }
  const out: Record<string, Tensor> = {};
  for (const [k, e] of Object.entries(file.tensors)) {
    out[k] = tensor(e.data, e.shape, { dtype: e.dtype, device });
  }
  return out;
}

/**
 * Loads a checkpoint's `model/` weights into `model` (same family, contract and shapes), with the
 * checks `fromPretrained` makes (`checkMeta`, `checkContract`, `loadSavedWeights`): a checkpoint's
 * model is a saved model, loaded into the model in hand instead of a new one.
 */
async function restoreModel(root: string, model: WorldModel): Promise<void> {
  const files = await directoryFiles(`${root}/${CHECKPOINT_FILES.model}`);
  const metaPath = `${files.root}/${PRETRAINED_FILES.meta}`;
  const meta = checkMeta(
    parseSavedJson(await files.read(PRETRAINED_FILES.meta), files.root, PRETRAINED_FILES.meta),
    metaPath,
  );
  if (meta.model_type !== model.modelType) {
    throw new CheckpointError(
      "model_type_mismatch",
      `the checkpoint holds a "${meta.model_type}" model; this model is "${model.modelType}"`,
      metaPath,
    );
  }
  await checkContract(
    model,
    meta,
    metaPath,
    `this ${model.modelType} model`,
    `observation/action shapes or predictions differ: create the model with the checkpoint's ` +
      `config (${files.root}/${PRETRAINED_FILES.config})`,
  );
  requireChecksums(
    meta,
    metaPath,
    false,
    ["weights_sha256"],
    "the checkpoint cannot be verified; resume from another one",
  );
  await loadSavedWeights(model, files, meta);
}

/**
 * Reads a checkpoint and restores the model's weights and the training step's state
 * (optimizers, extra tensors and values). Returns the config and the trainer state (step, best
 * loss, generator states, callback states) for the caller to apply.
 */
export async function restoreCheckpoint(
  dir: string,
  target: { readonly model: WorldModel; readonly trainStep: TrainStep },
): Promise<RestoredCheckpoint> {
  const ck = await readCheckpoint(dir);
  const root = ck.dir;
  if (ck.manifest.model_type !== target.model.modelType) {
    throw new CheckpointError(
      "model_type_mismatch",
      `${root} is a checkpoint of a "${ck.manifest.model_type}" model; this model is ` +
        `"${target.model.modelType}"`,
      `${root}/${CHECKPOINT_FILES.manifest}`,
    );
  }
  const files = ck.manifest.files;
  const device = target.model.device;
  const oPath = `${root}/${CHECKPOINT_FILES.optimizer}`;
  const optTensors = files[CHECKPOINT_FILES.optimizer]
    ? decodeTensors(await readBytes(root, CHECKPOINT_FILES.optimizer), oPath, device)
    : {};
  const metaPath = `${root}/${CHECKPOINT_FILES.optimizerMeta}`;
  const optMeta = files[CHECKPOINT_FILES.optimizerMeta]
    ? parseJsonObject(await readBytes(root, CHECKPOINT_FILES.optimizerMeta), metaPath)
    : {};
  const sPath = `${root}/${CHECKPOINT_FILES.trainState}`;
  const stepTensors = files[CHECKPOINT_FILES.trainState]
    ? decodeTensors(await readBytes(root, CHECKPOINT_FILES.trainState), sPath, device)
    : {};
  const dispose = () => {
    for (const t of [...Object.values(optTensors), ...Object.values(stepTensors)]) t.dispose();
  };
  try {
    const optimizers = optimizerStates(optMeta, optTensors, metaPath);
    await restoreModel(root, target.model);
    try {
      target.trainStep.loadStateDict({
        optimizers,
        tensors: stepTensors,
        values: ck.trainStepValues,
      });
    } catch (e) {
      if (e instanceof ConfigError) {
        throw new CheckpointError("invalid_field", `training step state: ${e.message}`, metaPath);
      }
      throw e;
    }
  } finally {
    dispose();
  }
  return ck;
}

// ---------------------------------------------------------------------------------------------
// Finding checkpoints
// ---------------------------------------------------------------------------------------------

/** Name of the periodic checkpoint of `step` (`checkpoint_000020`, sorted by name = by step). */
export function checkpointName(step: number): string {
  return `checkpoint_${String(step).padStart(6, "0")}`;
}

/** The periodic checkpoints (`checkpoint_<step>`) in `outputDir`, oldest first. */
export async function listCheckpoints(
  outputDir: string,
): Promise<{ step: number; path: string }[]> {
  const out: { step: number; path: string }[] = [];
  const root = outputDir.replace(/\/+$/, "") || "/";
  try {
    for await (const e of Deno.readDir(root)) {
      const m = /^checkpoint_(\d+)$/.exec(e.name);
      if (e.isDirectory && m) out.push({ step: Number(m[1]), path: `${root}/${e.name}` });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * The checkpoint to resume from: `path` itself when it is a checkpoint directory, else the
 * complete checkpoint with the most steps among `path/checkpoint_<step>`, `checkpoint_final` and
 * `checkpoint_best` (a run that kept only its best or final checkpoint resumes from it); null
 * when there is none.
 */
export async function latestCheckpoint(path: string): Promise<string | null> {
  const root = path.replace(/\/+$/, "") || "/";
  try {
    await Deno.stat(`${root}/${CHECKPOINT_FILES.manifest}`);
    return root;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const candidates = (await listCheckpoints(root)).map((c) => c.path);
  candidates.push(`${root}/checkpoint_final`, `${root}/checkpoint_best`);
  let best: { step: number; path: string } | null = null;
  for (const c of candidates) {
    try {
      const m = JSON.parse(await Deno.readTextFile(`${c}/${CHECKPOINT_FILES.manifest}`)); // errors skipped
      if (
        m?.resumable !== false && Number.isSafeInteger(m?.step) && (!best || m.step > best.step)
      ) {
        best = { step: m.step, path: c };
      }
    } catch {
      // not a complete checkpoint
    }
  }
  return best?.path ?? null;
}
