/**
 * {@link Trainer}: offline training of a world model from a replay buffer, and the one-liner
 * {@link train}.
 *
 * Per step: the sampler generator hands out a seed, the buffer samples a `[batchSize,
 * sequenceLength]` batch with it, the {@link TrainStep} updates the model (compiled by default),
 * and the step's scalar tensors are dropped unread, except at log steps (every `logInterval`
 * steps and the last one), where they are read back in one batch (one device sync per log, never
 * per step) and handed to the callbacks with `lr`, `steps_per_sec` and `wall_time`.
 *
 * Determinism: `config.seed` seeds the global generator (model-side randomness: latent samples,
 * dropout) and two streams of the run (replay sampling and evaluation, which never disturbs the
 * training draws). A checkpoint holds the model, the optimizers, every generator, the step, the
 * best loss and the callbacks' state, so a run resumed from one continues exactly as the
 * uninterrupted run would (same losses, step for step, on the cpu backend).
 * @module
 */

import { warn } from "../log.ts";
import type { DeviceName } from "../backend/types.ts";
import { ensureDevice } from "../backend/device.ts";
import { ConfigError } from "../errors.ts";
import { deriveSeed } from "../rng.ts";
import { CheckpointError } from "../core/errors.ts";
import type { Batch } from "../core/batch.ts";
import type { WorldModel } from "../core/world_model.ts";
import { recoverAtomic, recoverDir } from "../io/atomic.ts";
import { tidy } from "../tensor/memory.ts";
import { defaultGenerator, Generator } from "../tensor/random.ts";
import { full } from "../tensor/creation.ts";
import { readTensors } from "../tensor/read.ts";
import { keep, noGrad, realize, type Tensor } from "../tensor/tensor.ts";
import {
  type Callback,
  type CallbackResult,
  CheckpointCallback,
  LoggingCallback,
  type Metrics,
  ProgressCallback,
  type TrainingContext,
  type TrainingState,
  type TrainSummary,
} from "./callbacks.ts";
import {
  latestCheckpoint,
  restoreCheckpoint,
  saveCheckpoint as writeCheckpoint,
  type TrainerCheckpointState,
} from "./checkpoint.ts";
import {
  ONLINE_RESUME_FIELDS,
  parseTrainingConfig,
  type TrainingConfig,
  type TrainingConfigInput,
  TRAJECTORY_FIELDS,
} from "../core/training_config.ts";
import { TrainingError } from "./errors.ts";
import type { ReplayBuffer } from "./replay_buffer.ts";
import { disposeBatch, type TrainStep } from "../core/train_step.ts";
import { createTrainStep } from "./family.ts";
import { nextSeed } from "../core/controller.ts";

/** Anything that samples batches like a ReplayBuffer. */
export interface BatchSource {
  /** `batchSize` sequences of `seqLen` steps; `seed` makes the draw reproducible. */
  sample(
    batchSize: number,
    seqLen: number,
    opts: { readonly seed?: number; readonly device?: DeviceName },
  ): Batch;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /**
   * Callbacks, called in order after the defaults. A callback of a default's class replaces
   * that default.
   */
  readonly callbacks?: readonly Callback[];
  /**
   * Add {@link ProgressCallback}, {@link LoggingCallback} and {@link CheckpointCallback}
   * (default true, as the reference's Trainer always logs and checkpoints).
   */
  readonly defaultCallbacks?: boolean;
  /**
   * Resume from a checkpoint directory, or from the newest checkpoint in a directory of them
   * (an `outputDir`). Restores weights, optimizers, generators, step, best loss and callbacks.
   */
  readonly resumeFrom?: string;
  /** Where notes go (default: stderr). */
  readonly log?: (message: string) => void;
  /** A ready-made training step (default: the family's `trainStep`, else the generic one). */
  readonly trainStep?: TrainStep;
}

/** Options of {@link Trainer.train}. */
export interface TrainOptions {
  /** Buffer evaluated every `evalInterval` steps (mean loss over `evalBatches` batches). */
  readonly evalBuffer?: BatchSource;
  /** Batches per evaluation (default 10, as the reference's `evaluate`). */
  readonly evalBatches?: number;
  /** Overrides `config.totalSteps` for this call. */
  readonly totalSteps?: number;
}

/** What {@link Trainer.train} returns. */
export interface TrainResult {
  /** The trained model (the same object, updated in place). */
  readonly model: WorldModel;
  /** How the run went. */
  readonly summary: TrainSummary;
}

/** What a run adds to its checkpoints besides the model, optimizers, generators and callbacks. */
export interface RunCheckpointExtra {
  /** JSON kept in `trainer_state.json` as `extra`. */
  readonly state: Record<string, unknown>;
  /** Files of the checkpoint directory, by name. */
  readonly files?: Readonly<Record<string, Uint8Array>>;
}

/**
 * Why an online run cannot continue from `dir` (a checkpoint not written at the end of a
 * training episode), and where to resume from instead.
 */
function notResumable(dir: string): CheckpointError {
  return new CheckpointError(
    "not_resumable",
    `${dir} was written in the middle of a training episode (a best-loss or final checkpoint, ` +
      `or one from a version that did not save the replay buffer): it cannot continue an ` +
      `online run exactly; resume from a periodic checkpoint (checkpoint_<step>) or from the ` +
      `run's output directory (its newest resumable checkpoint is taken)`,
    dir,
  );
}

/**
 * The machinery shared by the offline Trainer and the online loop: callbacks, state, generators,
 * log reads and checkpoints.
 * @internal
 */
export class RunCore implements TrainingContext {
  readonly model: WorldModel;
  readonly config: TrainingConfig;
  readonly state: TrainingState;
  readonly callbacks: Callback[];
  readonly generators: { sampler: Generator; eval: Generator };
  trainStep!: TrainStep;
  resumedFrom: string | null = null;
  lastCheckpoint: string | null = null;
  /**
   * What the run adds to its checkpoints: JSON (the online loop's counters, episodes and
   * evaluations) and files (its replay buffer), given whether the checkpoint is resumable.
   */
  checkpointExtra: (resumable: boolean) => Promise<RunCheckpointExtra> = () =>
    Promise.resolve({ state: {} });
  /** The `extra` JSON of the checkpoint resumed from. */
  restoredExtra: Readonly<Record<string, unknown>> = {};
  readonly #log: (message: string) => void;
  #global: Generator | null = null;
  #startTime = 0;
  #lastLogTime = 0;
  #lastLogStep = 0;
  /** On the device: the first step whose loss was not finite, or -1 (see {@link watchLoss}). */
  #firstBad: Tensor | null = null;

  constructor(
    model: WorldModel,
    config: TrainingConfig,
    mode: "offline" | "online",
    callbacks: Callback[],
    log: ((message: string) => void) | undefined,
  ) {
    this.model = model;
    this.config = config;
    this.callbacks = callbacks;
    this.#log = log ?? warn;
    this.state = {
      mode,
      step: 0,
      totalSteps: config.totalSteps,
      updates: 0,
      bestLoss: Infinity,
      improved: false,
      lastMetrics: null,
      lastEval: null,
      resumablePoint: mode === "offline",
      shouldStop: false,
      stopReason: null,
    };
    this.generators = {
      sampler: new Generator(deriveSeed(config.seed, 1)),
      eval: new Generator(deriveSeed(config.seed, 2)),
    };
  }

  log(message: string): void {
    this.#log(message);
  }

  stop(reason?: string): void {
    this.state.shouldStop = true;
    this.state.stopReason ??= reason ?? "stopped by a callback";
  }

  /** Device check, seeding, the training step, and the resume. */
  async setup(resumeFrom: string | undefined, given: TrainStep | undefined): Promise<void> {
    const want = this.config.device;
    if (want !== "auto") {
      await ensureDevice(want);
      if (this.model.device !== want) {
        throw new ConfigError(
          `the model is on ${this.model.device} but the training config asks for ${want}: ` +
            `create the model with { device: "${want}" } (or set device = "auto")`,
        );
      }
    }
    this.#global = defaultGenerator();
    this.#global.setState({ seed: this.config.seed, counter: 0 });
    this.trainStep = given ?? createTrainStep(this.model, this.config, { log: this.#log });
    await this.#recover(this.config.outputDir);
    if (resumeFrom) await this.#resume(resumeFrom);
  }

  /** Repairs what a crash left in `dir` (stranded checkpoints back, unfinished writes gone). */
  async #recover(dir: string): Promise<void> {
    const r = await recoverDir(dir);
    for (const p of r.restored) {
      this.log(`${p} was left aside by an interrupted save; it is restored`);
    }
  }

  async #resume(from: string): Promise<void> {
    const self = await recoverAtomic(from);
    for (const p of self.restored) {
      this.log(`${p} was left aside by an interrupted save; it is restored`);
    }
    await this.#recover(from);
    const dir = await latestCheckpoint(from);
    if (!dir) {
      throw new CheckpointError(
        "missing_directory",
        `no checkpoint to resume from in ${from} (expected a checkpoint directory or a ` +
          `directory of checkpoint_* directories)`,
        from,
      );
    }
    const ck = await restoreCheckpoint(dir, { model: this.model, trainStep: this.trainStep });
    if (!ck.trainer.resumable) {
      if (this.state.mode === "online") throw notResumable(dir);
      this.log(`${dir} cannot be resumed exactly (it lacks the replay data); continuing anyway`);
    }
    const t = ck.trainer;
    const rng = t.rng;
    if (rng.global) defaultGenerator().setState(rng.global);
    if (rng.sampler) this.generators.sampler.setState(rng.sampler);
    if (rng.eval) this.generators.eval.setState(rng.eval);
    this.state.step = t.step;
    this.state.updates = t.updates;
    this.state.bestLoss = t.bestLoss;
    for (const [key, cb] of this.#keyed()) {
      if (key in t.callbacks && cb.loadStateDict) cb.loadStateDict(t.callbacks[key]);
    }
    const online = this.state.mode === "online";
    const changed = (online ? ONLINE_RESUME_FIELDS : TRAJECTORY_FIELDS)
      .filter((f) => ck.config[f] !== this.config[f]);
    if (this.config.scheduler !== "none" && ck.config.totalSteps !== this.config.totalSteps) {
      changed.push("totalSteps");
    }
    if (changed.length && online) {
      throw new CheckpointError(
        "run_mismatch",
        `${dir} was written by an online run whose config differs from this one in ` +
          `${
            changed.map((f) => `${f} (${ck.config[f]} there, ${this.config[f]} here)`).join(", ")
          }: the resumed run would not continue that run; resume with the checkpoint's config ` +
          `(${dir}/training_config.json; only totalSteps may grow) or start a new run`,
        dir,
      );
    }
    if (changed.length) {
      this.log(
        `resuming ${dir} with a config that differs in ${changed.join(", ")}: the run will not ` +
          `match the uninterrupted one`,
      );
    }
    this.resumedFrom = dir;
    this.restoredExtra = t.extra;
  }

  #keyed(): [string, Callback][] {
    const seen = new Map<string, number>();
    return this.callbacks.map((cb) => {
      const base = cb.key ?? cb.constructor?.name ?? "callback";
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      return [n ? `${base}#${n}` : base, cb];
    });
  }

  /** Every generator's state. */
  rngState(): Record<string, { seed: number; counter: number }> {
    return {
      global: defaultGenerator().state(),
      sampler: this.generators.sampler.state(),
      eval: this.generators.eval.state(),
    };
  }

  async saveCheckpoint(dir: string): Promise<void> {
    const callbacks: Record<string, unknown> = {};
    for (const [key, cb] of this.#keyed()) if (cb.stateDict) callbacks[key] = cb.stateDict();
    const resumable = this.state.resumablePoint;
    const extra = await this.checkpointExtra(resumable);
    const trainer: TrainerCheckpointState = {
      step: this.state.step,
      updates: this.state.updates,
      bestLoss: this.state.bestLoss,
      rng: this.rngState(),
      callbacks,
      extra: extra.state,
      resumable,
    };
    await writeCheckpoint(dir, {
      model: this.model,
      trainStep: this.trainStep,
      config: this.config,
      trainer,
      files: extra.files,
    });
    this.lastCheckpoint = dir;
    await this.dispatch("onCheckpoint", this.state.step, dir, this);
  }

  /** Calls `hook` on every callback in order; a `"stop"` result stops the run. */
  async dispatch<K extends keyof Callback>(hook: K, ...args: unknown[]): Promise<void> {
    for (const cb of this.callbacks) {
      const f = cb[hook] as ((...a: unknown[]) => CallbackResult) | undefined;
      if (typeof f !== "function") continue;
      const r = await f.apply(cb, args);
      if (r === "stop") this.stop(`stopped by ${cb.key ?? cb.constructor?.name ?? "a callback"}`);
    }
  }

  /** Closes every callback (always, even after an error). */
  async close(): Promise<void> {
    this.#disposeWatch();
    for (const cb of this.callbacks) {
      try {
        await cb.close?.();
      } catch (e) {
        this.log(`closing a callback failed: ${(e as Error).message}`);
      }
    }
  }

  begin(): void {
    if (this.#global && defaultGenerator() !== this.#global) {
      this.log(
        "manualSeed() replaced the global generator after training began: a compiled update " +
          "keeps drawing from the one it was traced with, so this run and its checkpoints may " +
          "not repeat; reseed through config.seed instead",
      );
      this.#global = defaultGenerator();
    }
    this.#startTime = performance.now();
    this.#lastLogTime = this.#startTime;
    this.#lastLogStep = this.state.step;
  }

  /** Seconds since `begin()`. */
  elapsed(): number {
    return (performance.now() - this.#startTime) / 1000;
  }

  /**
   * Notes, on the device and without reading anything back, whether the loss of the update made
   * at `step` is finite: the log that finds a non-finite loss then names the first step that had
   * one, not the log step. One tiny kernel per update.
   */
  watchLoss(step: number, out: Record<string, Tensor>): void {
    const loss = out.loss;
    if (!loss || loss.size !== 1) return;
    noGrad(() => {
      const prev = this.#firstBad ?? full([], -1, { device: loss.device });
      const l = loss.reshape([]);
      // x - x is 0 for finite x and NaN for NaN and ±Infinity (NaN != 0 holds).
      const next = keep(l.sub(l).ne(0).logicalAnd(prev.lt(0)).ifElse(step, prev));
      realize(next);
      prev.dispose();
      this.#firstBad = next;
    });
  }

  /** Frees the device state of {@link watchLoss}. */
  #disposeWatch(): void {
    this.#firstBad?.dispose();
    this.#firstBad = null;
  }

  /**
   * Reads a log step's tensors in one batch (and disposes them), adds `lr`, `steps_per_sec` and
   * `wall_time`, checks the loss is finite (naming the first step whose loss was not, when
   * {@link watchLoss} saw it), updates the best loss, and calls `onLog`.
   */
  async logStep(
    step: number,
    out: Record<string, Tensor> | null,
    extra: Record<string, number> = {},
  ): Promise<Metrics> {
    const metrics: Record<string, number> = {};
    let firstBad = -1;
    if (out) {
      const names = Object.keys(out);
      const watched = this.#firstBad;
      const values = await readTensors([
        ...names.map((k) => out[k]),
        ...(watched ? [watched] : []),
      ]);
      names.forEach((k, i) => {
        metrics[k] = Number(values[i][0]);
        out[k].dispose();
      });
      if (watched) firstBad = Number(values[names.length][0]);
    }
    const bad = Object.entries(metrics).filter(([, v]) => !Number.isFinite(v)).map(([k]) => k);
    if (firstBad >= 0 || bad.length) {
      const at = firstBad >= 0 ? firstBad : step;
      const shown = bad.length ? bad : ["loss"];
      throw new TrainingError(
        at,
        `non-finite ${shown.join(", ")} (${
          bad.length ? bad.map((k) => `${k}=${metrics[k]}`).join(", ") : "at that step"
        }${at !== step ? `; found at the log of step ${step}` : ""}): ` +
          `lower the learning rate, clip gradients (gradClip), or check the data`,
      );
    }
    const opt = Object.values(this.trainStep.optimizers)[0];
    if (opt) metrics.lr = opt.lr;
    Object.assign(metrics, extra);
    const now = performance.now();
    const dt = (now - this.#lastLogTime) / 1000;
    metrics.steps_per_sec = dt > 0 ? (step - this.#lastLogStep) / dt : 0;
    metrics.wall_time = (now - this.#startTime) / 1000;
    this.#lastLogTime = now;
    this.#lastLogStep = step;
    this.state.improved = false;
    if (typeof metrics.loss === "number" && metrics.loss < this.state.bestLoss) {
      this.state.bestLoss = metrics.loss;
      this.state.improved = true;
    }
    this.state.lastMetrics = Object.freeze({ ...metrics });
    await this.dispatch("onLog", step, this.state.lastMetrics, this);
    return this.state.lastMetrics;
  }

  /**
   * Runs `fn` with the global generator switched to the evaluation stream, so evaluation never
   * changes the training draws (and is itself reproducible).
   */
  withEvalRandomness<T>(fn: () => Promise<T>): Promise<T> {
    const g = defaultGenerator();
    const saved = g.state();
    g.setState(this.generators.eval.state());
    const restore = () => {
      this.generators.eval.setState(g.state());
      g.setState(saved);
    };
    return fn().then((r) => {
      restore();
      return r;
    }, (e) => {
      restore();
      throw e;
    });
  }

  summary(startStep: number): TrainSummary {
    const wall = this.elapsed();
    return {
      mode: this.state.mode,
      modelType: this.model.modelType,
      startStep,
      steps: this.state.step,
      totalSteps: this.state.totalSteps,
      updates: this.state.updates,
      stoppedEarly: this.state.step < this.state.totalSteps,
      stopReason: this.state.stopReason,
      bestLoss: Number.isFinite(this.state.bestLoss) ? this.state.bestLoss : null,
      lastMetrics: this.state.lastMetrics,
      lastEval: this.state.lastEval,
      wallTimeSec: wall,
      stepsPerSec: wall > 0 ? (this.state.step - startStep) / wall : 0,
      trainStep: this.trainStep.description,
      compiled: this.trainStep.compiled,
      resumedFrom: this.resumedFrom,
      outputDir: this.config.outputDir,
      lastCheckpoint: this.lastCheckpoint,
    };
  }
}

/** The default callbacks, replaced by the user's of the same class, then the user's. */
export function assembleCallbacks(
  user: readonly Callback[] | undefined,
  withDefaults: boolean,
): Callback[] {
  const mine = [...(user ?? [])];
  if (!withDefaults) return mine;
  const defaults: Callback[] = [];
  for (const C of [ProgressCallback, LoggingCallback, CheckpointCallback]) {
    if (!mine.some((c) => c instanceof C)) defaults.push(new C());
  }
  return [...defaults, ...mine];
}

function disposeAll(out: Record<string, Tensor>): void {
  for (const t of Object.values(out)) t.dispose();
}

/**
 * Trains a world model offline from a replay buffer: seeded, compiled, logged at intervals,
 * checkpointed, resumable (see the module docs).
 *
 * @example
 * ```ts
 * import { createWorldModel, ReplayBuffer, Trainer } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 1 });
 * const buffer = new ReplayBuffer({ capacity: 1000, obsShape: [3], actionDim: 1 });
 * buffer.addEpisode({
 *   obs: new Float32Array(3 * 200).map(() => Math.random()),
 *   actions: new Float32Array(200).map(() => Math.random()),
 *   rewards: new Float32Array(200),
 *   dones: Array.from({ length: 200 }, (_, t) => t === 199),
 * });
 * const outputDir = await Deno.makeTempDir();
 * const trainer = new Trainer(model, {
 *   totalSteps: 20,
 *   batchSize: 4,
 *   sequenceLength: 8,
 *   logInterval: 10,
 *   outputDir,
 * }, { defaultCallbacks: false });
 * const { summary } = await trainer.train(buffer);
 * console.log(summary.steps, summary.lastMetrics!.loss > 0); // 20 true
 * ```
 */
export class Trainer {
  /** The model being trained. */
  readonly model: WorldModel;
  /** The validated config. */
  readonly config: TrainingConfig;
  readonly #core: RunCore;
  readonly #options: TrainerOptions;
  #ready: Promise<void> | null = null;

  /** Validates the config (camelCase or snake_case keys) and assembles the callbacks. */
  constructor(
    model: WorldModel,
    config: TrainingConfigInput | TrainingConfig = {},
    options: TrainerOptions = {},
  ) {
    if (!model || typeof (model as WorldModel).loss !== "function") {
      throw new ConfigError("Trainer needs a world model (an object with loss(batch))");
    }
    this.model = model;
    this.config = parseTrainingConfig(config);
    this.#options = options;
    this.#core = new RunCore(
      model,
      this.config,
      "offline",
      assembleCallbacks(options.callbacks, options.defaultCallbacks ?? true),
      options.log,
    );
  }

  /** Live state (step, best loss, last metrics, stop flag). */
  get state(): Readonly<TrainingState> {
    return this.#core.state;
  }

  /** The callbacks, in call order. */
  get callbacks(): readonly Callback[] {
    return this.#core.callbacks;
  }

  /** The training step (after the first `train()`/`setup()`). */
  get trainStep(): TrainStep {
    return this.#core.trainStep;
  }

  /** Seeds, builds the training step and resumes (once; `train()` calls it). */
  setup(): Promise<void> {
    return this.#ready ??= this.#core.setup(this.#options.resumeFrom, this.#options.trainStep);
  }

  /** Asks training to stop after the current step. */
  stop(reason?: string): void {
    this.#core.stop(reason);
  }

  /** Writes a checkpoint of the current state into `dir`. */
  async saveCheckpoint(dir: string): Promise<void> {
    await this.setup();
    await this.#core.saveCheckpoint(dir);
  }

  /**
   * Trains until `totalSteps` (or a stop), sampling `[batchSize, sequenceLength]` batches from
   * `buffer`. Calling it again continues from the current step.
   */
  async train(buffer: BatchSource, opts: TrainOptions = {}): Promise<TrainResult> {
    if (!buffer || typeof buffer.sample !== "function") {
      throw new ConfigError("Trainer.train needs a buffer with sample(batchSize, seqLen, opts)");
    }
    await this.setup();
    const core = this.#core;
    const cfg = this.config;
    const st = core.state;
    const total = opts.totalSteps ?? cfg.totalSteps;
    if (!(Number.isInteger(total) && total >= 1)) {
      throw new ConfigError(`totalSteps must be a positive integer, got ${total}`);
    }
    const sized = buffer as BatchSource & { checkSampleSize?: ReplayBuffer["checkSampleSize"] };
    sized.checkSampleSize?.(cfg.batchSize, cfg.sequenceLength, [
      "batchSize (batch_size)",
      "sequenceLength (sequence_length)",
    ]);
    st.totalSteps = total;
    st.shouldStop = false;
    st.stopReason = null;
    const startStep = st.step;
    const model = this.model;
    try {
      core.begin();
      await core.dispatch("onTrainBegin", core);
      while (st.step < total && !st.shouldStop) {
        const seed = nextSeed(core.generators.sampler);
        const batch = buffer.sample(cfg.batchSize, cfg.sequenceLength, {
          seed,
          device: model.device,
        });
        let out: Record<string, Tensor>;
        try {
          out = core.trainStep.step(batch);
        } finally {
          disposeBatch(batch);
        }
        st.step++;
        st.updates++;
        const step = st.step;
        core.watchLoss(step, out);
        let logs: Metrics | undefined;
        if (step % cfg.logInterval === 0 || step === total) logs = await core.logStep(step, out);
        else disposeAll(out);
        if (opts.evalBuffer && step % cfg.evalInterval === 0) {
          const m = await this.evaluate(opts.evalBuffer, opts.evalBatches);
          st.lastEval = m;
          await core.dispatch("onEval", step, m, core);
        }
        await core.dispatch("onStepEnd", step, logs, core);
      }
      const summary = core.summary(startStep);
      await core.dispatch("onTrainEnd", summary, core);
      return { model, summary: { ...summary, lastCheckpoint: core.lastCheckpoint } };
    } finally {
      await core.close();
    }
  }

  /**
   * Mean loss, components and metrics over `numBatches` batches of `buffer` (no gradients; the
   * evaluation draws from its own generator stream), as `eval_<name>`.
   */
  async evaluate(buffer: BatchSource, numBatches = 10): Promise<Metrics> {
    await this.setup();
    const core = this.#core;
    const cfg = this.config;
    return await core.withEvalRandomness(async () => {
      const wasTraining = this.model.training;
      this.model.eval();
      const sums: Record<string, Tensor> = {};
      try {
        for (let i = 0; i < numBatches; i++) {
          const batch = buffer.sample(cfg.batchSize, cfg.sequenceLength, {
            seed: nextSeed(core.generators.eval),
            device: this.model.device,
          });
          try {
            tidy(() =>
              noGrad(() => {
                const out = this.model.loss(batch);
                const all: Record<string, Tensor> = { loss: out.loss };
                for (const [k, t] of Object.entries(out.components)) {
                  all[k in all ? `c.${k}` : k] = t;
                }
                for (const [k, t] of Object.entries(out.metrics)) all[k in all ? `m.${k}` : k] = t;
                for (const [k, t] of Object.entries(all)) {
                  const prev = sums[k];
                  sums[k] = keep(prev ? prev.add(t.reshape([])) : t.reshape([]).mul(1));
                  prev?.dispose();
                }
              })
            );
          } finally {
            disposeBatch(batch);
          }
        }
        const names = Object.keys(sums);
        const values = await readTensors(names.map((k) => sums[k]));
        const m: Record<string, number> = {};
        names.forEach((k, i) => (m[`eval_${k}`] = Number(values[i][0]) / numBatches));
        return Object.freeze(m);
      } finally {
        for (const t of Object.values(sums)) t.dispose();
        this.model.train(wasTraining);
      }
    });
  }

  /** Frees the training step (optimizer state, compiled programs); the model stays valid. */
  dispose(): void {
    this.#core.trainStep?.dispose();
  }
}

/** Options of {@link train}: any training-config field, plus the Trainer's options. */
export type TrainFunctionOptions = TrainingConfigInput & TrainerOptions;

const TRAINER_OPTION_KEYS = ["callbacks", "defaultCallbacks", "resumeFrom", "log", "trainStep"];

/**
 * Trains `model` on `buffer` and returns it (the reference's `train(model, buffer,
 * total_steps=...)`): config fields and Trainer options in one object.
 *
 * @example
 * ```ts
 * import { createWorldModel, ReplayBuffer, train } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 1 });
 * const buffer = new ReplayBuffer({ capacity: 500, obsShape: [3], actionDim: 1 });
 * buffer.addEpisode({
 *   obs: new Float32Array(3 * 100).map(() => Math.random()),
 *   actions: new Float32Array(100),
 *   rewards: new Float32Array(100),
 *   dones: Array.from({ length: 100 }, (_, t) => t === 99),
 * });
 * const trained = await train(model, buffer, {
 *   totalSteps: 10,
 *   batchSize: 4,
 *   sequenceLength: 8,
 *   outputDir: await Deno.makeTempDir(),
 *   defaultCallbacks: false,
 * });
 * console.log(trained === model); // true
 * ```
 */
export async function train(
  model: WorldModel,
  buffer: BatchSource,
  options: TrainFunctionOptions = {},
): Promise<WorldModel> {
  const cfg: Record<string, unknown> = {};
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    (TRAINER_OPTION_KEYS.includes(k) ? opts : cfg)[k] = v;
  }
  const trainer = new Trainer(model, cfg, opts as TrainerOptions);
  try {
    const { model: trained } = await trainer.train(buffer);
    return trained;
  } finally {
    trainer.dispose();
  }
}
