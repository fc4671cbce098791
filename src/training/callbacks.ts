/**
 * Training callbacks: the {@link Callback} interface the {@link Trainer} and the online loop call,
 * and the reference's four: {@link LoggingCallback} (JSON lines), {@link CheckpointCallback}
 * (periodic, last N, best, final), {@link EarlyStoppingCallback} (patience on a monitored metric)
 * and {@link ProgressCallback} (a live bar on a terminal, plain lines otherwise).
 *
 * Values are read back from the device only at log steps (every `logInterval` steps), so
 * `onStepEnd` gets metrics at those steps only and `onLog` is where losses arrive.
 * @module
 */

import type { WorldModel } from "../core/world_model.ts";
import { ConfigError } from "../errors.ts";
import { type TrainingConfig, trainingConfigToSnakeCase } from "../core/training_config.ts";
import { checkpointName, listCheckpoints } from "./checkpoint.ts";
import type { TrainStep } from "../core/train_step.ts";

/** Scalar metrics by name. */
export type Metrics = Readonly<Record<string, number>>;

/** What a callback hook may return: `"stop"` ends training after the current step. */
export type CallbackResult = void | "stop" | Promise<void | "stop">;

/** Live state of a training run (read-only for callbacks). */
export interface TrainingState {
  /** `"offline"` (Trainer, steps are updates) or `"online"` (steps are environment steps). */
  readonly mode: "offline" | "online";
  /** Steps done. */
  step: number;
  /** Steps the run goes to. */
  totalSteps: number;
  /** Gradient updates done. */
  updates: number;
  /** Lowest logged `loss` (Infinity before the first log). */
  bestLoss: number;
  /** Whether the latest log improved `bestLoss`. */
  improved: boolean;
  /** Metrics of the latest log, or null. */
  lastMetrics: Metrics | null;
  /** Metrics of the latest evaluation, or null. */
  lastEval: Metrics | null;
  /**
   * Whether a checkpoint written now lets the run continue exactly: always in offline training;
   * in the online loop only at the end of a step that ended a training episode (at `onStepEnd`),
   * where no environment state has to be saved.
   */
  resumablePoint: boolean;
  /** Set when a callback (or `stop()`) asked to stop. */
  shouldStop: boolean;
  /** Why training stopped early, or null. */
  stopReason: string | null;
}

/** What callbacks see of the run. */
export interface TrainingContext {
  /** The model being trained. */
  readonly model: WorldModel;
  /** The run's config. */
  readonly config: TrainingConfig;
  /** Live state. */
  readonly state: Readonly<TrainingState>;
  /** The update being driven. */
  readonly trainStep: TrainStep;
  /** The checkpoint the run resumed from, or null. */
  readonly resumedFrom: string | null;
  /** Asks the run to stop after the current step. */
  stop(reason?: string): void;
  /** Writes a checkpoint of the current state into `dir` (atomically). */
  saveCheckpoint(dir: string): Promise<void>;
  /** Reports a note (default: stderr). */
  log(message: string): void;
}

/** Summary of a finished run. */
export interface TrainSummary {
  /** `"offline"` or `"online"`. */
  readonly mode: "offline" | "online";
  /** Family of the model. */
  readonly modelType: string;
  /** Step the run started at (0, or the resumed checkpoint's). */
  readonly startStep: number;
  /** Step the run ended at. */
  readonly steps: number;
  /** Steps the run was configured for. */
  readonly totalSteps: number;
  /** Gradient updates done in total. */
  readonly updates: number;
  /** True when a callback stopped the run before `totalSteps`. */
  readonly stoppedEarly: boolean;
  /** Why it stopped early, or null. */
  readonly stopReason: string | null;
  /** Lowest logged loss, or null when nothing was logged. */
  readonly bestLoss: number | null;
  /** Metrics of the last log. */
  readonly lastMetrics: Metrics | null;
  /** Metrics of the last evaluation. */
  readonly lastEval: Metrics | null;
  /** Seconds this run took. */
  readonly wallTimeSec: number;
  /** Steps per second over this run. */
  readonly stepsPerSec: number;
  /** The training step's description (optimizers, compiled or eager). */
  readonly trainStep: string;
  /** True when updates ran compiled. */
  readonly compiled: boolean;
  /** The checkpoint the run resumed from, or null. */
  readonly resumedFrom: string | null;
  /** Where metrics and checkpoints went. */
  readonly outputDir: string;
  /** The last checkpoint written, or null. */
  readonly lastCheckpoint: string | null;
}

/**
 * Hooks called by the Trainer and the online loop; every hook is optional and may be async.
 * Returning `"stop"` from `onStepEnd`, `onLog` or `onEval` (or calling `ctx.stop()`) ends
 * training after the current step.
 */
export interface Callback {
  /** Key of this callback's state in checkpoints (default: its class name). */
  readonly key?: string;
  /** Before the first step (after a resume, `ctx.state.step` is the checkpoint's). */
  onTrainBegin?(ctx: TrainingContext): void | Promise<void>;
  /** After every step; `logs` holds the metrics at log steps, undefined otherwise. */
  onStepEnd?(step: number, logs: Metrics | undefined, ctx: TrainingContext): CallbackResult;
  /** At log steps: every loss component, `lr`, `steps_per_sec`, `wall_time`, ... */
  onLog?(step: number, metrics: Metrics, ctx: TrainingContext): CallbackResult;
  /** After an evaluation; `details` holds non-scalar results (e.g. episode returns). */
  onEval?(
    step: number,
    metrics: Metrics,
    ctx: TrainingContext,
    details?: Readonly<Record<string, unknown>>,
  ): CallbackResult;
  /** After a checkpoint was written. */
  onCheckpoint?(step: number, dir: string, ctx: TrainingContext): void | Promise<void>;
  /** After the last step (not called when training throws). */
  onTrainEnd?(summary: TrainSummary, ctx: TrainingContext): void | Promise<void>;
  /** Always called last, even when training throws: release files, timers. */
  close?(): void | Promise<void>;
  /** State to checkpoint (JSON). */
  stateDict?(): unknown;
  /** Restores `stateDict()` output when resuming. */
  loadStateDict?(state: unknown): void;
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toFixed(4);
}

function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "") || "."}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// LoggingCallback
// ---------------------------------------------------------------------------------------------

/** Options of {@link LoggingCallback}. */
export interface LoggingCallbackOptions {
  /** File to write (default `<outputDir>/metrics.jsonl`). */
  readonly path?: string;
}

/**
 * Writes JSON lines to `<outputDir>/metrics.jsonl`, one per event, as they happen (each line is
 * handed to the OS when written, so a killed run keeps every line up to its last log):
 *
 * - `{"kind": "run", "step", "model_type", "train_step", "resumed_from", "config", "time"}`
 * - `{"kind": "train", "step", "loss", <every component and metric>, "lr", "steps_per_sec",
 *   "wall_time", "time"}` at every log step (non-finite values as null)
 * - `{"kind": "eval", "step", <metrics>, <details>, "time"}` after evaluations
 * - `{"kind": "checkpoint", "step", "path", "time"}` and a final `{"kind": "end", ...summary}`.
 *
 * When a run resumes from step S (or a Trainer trains again from step S), lines of steps after S
 * (written by an interrupted run after its checkpoint) are dropped first and the rest kept, so
 * the file reads as one uninterrupted run. A run from step 0 starts the file afresh.
 *
 * @example
 * ```ts
 * import { LoggingCallback } from "@worldflux/worldflux";
 * const cb = new LoggingCallback({ path: "./outputs/metrics.jsonl" });
 * console.log(typeof cb.onLog); // "function"
 * ```
 */
export class LoggingCallback implements Callback {
  /** Checkpoint key. */
  readonly key = "logging";
  readonly #opts: LoggingCallbackOptions;
  #file: Deno.FsFile | null = null;
  #path = "";

  /** Creates the callback. */
  constructor(opts: LoggingCallbackOptions = {}) {
    this.#opts = opts;
  }

  /** The file being written (after `onTrainBegin`). */
  get path(): string {
    return this.#path;
  }

  async #write(obj: Record<string, unknown>): Promise<void> {
    if (!this.#file) return;
    const line = JSON.stringify(obj, (_k, v) => (typeof v === "number" ? finite(v) : v)) + "\n";
    const bytes = new TextEncoder().encode(line);
    let off = 0;
    while (off < bytes.length) off += await this.#file.write(bytes.subarray(off));
  }

  /** Opens the file (truncated, or cut back to the resumed step). */
  async onTrainBegin(ctx: TrainingContext): Promise<void> {
    this.#path = this.#opts.path ?? joinPath(ctx.config.outputDir, "metrics.jsonl");
    const dir = this.#path.replace(/\/[^/]*$/, "");
    if (dir && dir !== this.#path) await Deno.mkdir(dir, { recursive: true });
    // A run that continues (resumed, or a second train() call) keeps the lines up to its step.
    let keep = "";
    if (ctx.state.step > 0) {
      try {
        const old = await Deno.readTextFile(this.#path);
        keep = old.split("\n").filter((l) => {
          if (!l.trim()) return false;
          try {
            const o = JSON.parse(l);
            return !(typeof o.step === "number" && o.step > ctx.state.step);
          } catch {
            return false;
          }
        }).map((l) => l + "\n").join("");
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    await Deno.writeTextFile(this.#path, keep);
    this.#file = await Deno.open(this.#path, { append: true });
    await this.#write({
      kind: "run",
      step: ctx.state.step,
      mode: ctx.state.mode,
      model_type: ctx.model.modelType,
      train_step: ctx.trainStep.description,
      resumed_from: ctx.resumedFrom,
      config: trainingConfigToSnakeCase(ctx.config),
      time: new Date().toISOString(),
    });
  }

  /** Writes a `train` line. */
  async onLog(step: number, metrics: Metrics): Promise<void> {
    await this.#write({ kind: "train", step, ...metrics, time: new Date().toISOString() });
  }

  /** Writes an `eval` line. */
  async onEval(
    step: number,
    metrics: Metrics,
    _ctx: TrainingContext,
    details?: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    await this.#write({
      kind: "eval",
      step,
      ...metrics,
      ...(details ?? {}),
      time: new Date().toISOString(),
    });
  }

  /** Writes a `checkpoint` line. */
  async onCheckpoint(step: number, dir: string): Promise<void> {
    await this.#write({ kind: "checkpoint", step, path: dir, time: new Date().toISOString() });
  }

  /** Writes the `end` line. */
  async onTrainEnd(summary: TrainSummary): Promise<void> {
    await this.#write({ kind: "end", step: summary.steps, ...summary });
    await this.#file?.sync().catch(() => {});
  }

  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

// ---------------------------------------------------------------------------------------------
// CheckpointCallback
// ---------------------------------------------------------------------------------------------

/** Options of {@link CheckpointCallback}. */
export interface CheckpointCallbackOptions {
  /** Steps between checkpoints (default: the config's `saveInterval`). */
  readonly saveInterval?: number;
  /** Directory of the checkpoints (default: the config's `outputDir`). */
  readonly dir?: string;
  /** Periodic checkpoints kept, newest first (default 5, the reference's `max_checkpoints`). */
  readonly keepLast?: number;
  /** Write `checkpoint_best` whenever a logged loss improves on the best (default true). */
  readonly saveBest?: boolean;
  /** Write `checkpoint_final` when training ends (default true). */
  readonly saveFinal?: boolean;
}

/**
 * Writes `checkpoint_<step>` (zero-padded to 6 digits) every `saveInterval` steps and keeps the
 * newest `keepLast`; `checkpoint_best` when a logged loss improves; `checkpoint_final` at the end.
 * Each is a complete checkpoint directory, written atomically (see `saveCheckpoint`). A periodic
 * checkpoint that falls due where the run cannot be resumed exactly (the online loop in the
 * middle of a training episode: `state.resumablePoint` false) is written at the first step where
 * it can (the end of that episode), named by that step.
 *
 * @example
 * ```ts
 * import { CheckpointCallback } from "@worldflux/worldflux";
 * const cb = new CheckpointCallback({ saveInterval: 500, keepLast: 3 });
 * console.log(cb.keepLast); // 3
 * ```
 */
export class CheckpointCallback implements Callback {
  /** Checkpoint key. */
  readonly key = "checkpoint";
  /** Periodic checkpoints kept. */
  readonly keepLast: number;
  readonly #opts: CheckpointCallbackOptions;
  #interval = 0;
  #dir = "";
  #kept: { step: number; path: string }[] = [];
  /** A periodic checkpoint fell due and waits for a resumable point. */
  #due = false;
  /** Paths written by this callback, in order. */
  readonly written: string[] = [];

  /** Creates the callback. */
  constructor(opts: CheckpointCallbackOptions = {}) {
    this.#opts = opts;
    this.keepLast = opts.keepLast ?? 5;
    if (!(Number.isInteger(this.keepLast) && this.keepLast >= 1)) {
      throw new ConfigError(`CheckpointCallback: keepLast must be >= 1, got ${this.keepLast}`);
    }
    if (
      opts.saveInterval !== undefined &&
      !(Number.isInteger(opts.saveInterval) && opts.saveInterval >= 1)
    ) {
      throw new ConfigError(
        `CheckpointCallback: saveInterval must be >= 1, got ${opts.saveInterval}`,
      );
    }
  }

  /** Finds the checkpoints already there (a resumed run keeps counting them). */
  async onTrainBegin(ctx: TrainingContext): Promise<void> {
    this.#interval = this.#opts.saveInterval ?? ctx.config.saveInterval;
    this.#dir = this.#opts.dir ?? ctx.config.outputDir;
    await Deno.mkdir(this.#dir, { recursive: true });
    this.#kept = await listCheckpoints(this.#dir);
  }

  async #save(ctx: TrainingContext, name: string): Promise<string> {
    const path = joinPath(this.#dir, name);
    await ctx.saveCheckpoint(path);
    this.written.push(path);
    return path;
  }

  /** Periodic checkpoints and pruning. */
  async onStepEnd(step: number, _logs: Metrics | undefined, ctx: TrainingContext): Promise<void> {
    if (step % this.#interval === 0) this.#due = true;
    if (!this.#due || !ctx.state.resumablePoint) return;
    this.#due = false;
    const path = await this.#save(ctx, checkpointName(step));
    this.#kept = this.#kept.filter((c) => c.step !== step);
    this.#kept.push({ step, path });
    this.#kept.sort((a, b) => a.step - b.step);
    while (this.#kept.length > this.keepLast) {
      const old = this.#kept.shift()!;
      await Deno.remove(old.path, { recursive: true }).catch(() => {});
    }
  }

  /** `checkpoint_best` on improvement. */
  async onLog(_step: number, _metrics: Metrics, ctx: TrainingContext): Promise<void> {
    if ((this.#opts.saveBest ?? true) && ctx.state.improved) {
      await this.#save(ctx, "checkpoint_best");
    }
  }

  /** `checkpoint_final`. */
  async onTrainEnd(_summary: TrainSummary, ctx: TrainingContext): Promise<void> {
    if (this.#opts.saveFinal ?? true) await this.#save(ctx, "checkpoint_final");
  }

  /** Whether a periodic checkpoint waits for a resumable point. */
  stateDict(): { due: boolean } {
    return { due: this.#due };
  }

  /** Restores {@link stateDict} output. */
  loadStateDict(state: unknown): void {
    this.#due = (state as { due?: unknown } | null)?.due === true;
  }
}

// ---------------------------------------------------------------------------------------------
// EarlyStoppingCallback
// ---------------------------------------------------------------------------------------------

/** Options of {@link EarlyStoppingCallback}. */
export interface EarlyStoppingOptions {
  /** Metric to watch, from logs or evaluations (default `"loss"`). */
  readonly monitor?: string;
  /** Steps without improvement before stopping (default 5000, the reference's). */
  readonly patience?: number;
  /** Smallest change that counts as an improvement (default 1e-4). */
  readonly minDelta?: number;
  /** `"min"` (default: lower is better) or `"max"` (e.g. an evaluation return). */
  readonly mode?: "min" | "max";
}

/**
 * Stops training when the monitored metric has not improved by `minDelta` for `patience` steps
 * (checked whenever it is logged or evaluated). Its state is checkpointed, so a resumed run
 * stops where the uninterrupted one would.
 *
 * @example
 * ```ts
 * import { EarlyStoppingCallback } from "@worldflux/worldflux";
 * const cb = new EarlyStoppingCallback({ monitor: "loss", patience: 2000, minDelta: 1e-4 });
 * console.log(cb.patience); // 2000
 * ```
 */
export class EarlyStoppingCallback implements Callback {
  /** Checkpoint key. */
  readonly key = "early_stopping";
  /** Watched metric. */
  readonly monitor: string;
  /** Steps without improvement allowed. */
  readonly patience: number;
  /** Smallest improvement. */
  readonly minDelta: number;
  /** Direction. */
  readonly mode: "min" | "max";
  /** Best value seen (null before the first). */
  best: number | null = null;
  /** Step of the best value. */
  bestStep = 0;

  /** Creates the callback. */
  constructor(opts: EarlyStoppingOptions = {}) {
    this.monitor = opts.monitor ?? "loss";
    this.patience = opts.patience ?? 5000;
    this.minDelta = opts.minDelta ?? 1e-4;
    this.mode = opts.mode ?? "min";
    if (!(this.patience > 0)) {
      throw new ConfigError(`EarlyStoppingCallback: patience must be > 0, got ${this.patience}`);
    }
    if (!(this.minDelta >= 0)) {
      throw new ConfigError(`EarlyStoppingCallback: minDelta must be >= 0, got ${this.minDelta}`);
    }
  }

  #check(step: number, metrics: Metrics, ctx: TrainingContext): void | "stop" {
    const v = metrics[this.monitor];
    if (typeof v !== "number" || Number.isNaN(v)) return;
    const better = this.best === null ||
      (this.mode === "min" ? v < this.best - this.minDelta : v > this.best + this.minDelta);
    if (better) {
      this.best = v;
      this.bestStep = step;
      return;
    }
    if (step - this.bestStep >= this.patience) {
      ctx.stop(
        `early stopping: ${this.monitor} has not improved on ${fmt(this.best!)} (step ` +
          `${this.bestStep}) by ${this.minDelta} for ${step - this.bestStep} steps`,
      );
      return "stop";
    }
  }

  /** Checks logged metrics. */
  onLog(step: number, metrics: Metrics, ctx: TrainingContext): void | "stop" {
    return this.#check(step, metrics, ctx);
  }

  /** Checks evaluation metrics. */
  onEval(step: number, metrics: Metrics, ctx: TrainingContext): void | "stop" {
    return this.#check(step, metrics, ctx);
  }

  /** Best value and its step. */
  stateDict(): unknown {
    return { best: this.best, best_step: this.bestStep };
  }

  /** Restores `stateDict()` output. */
  loadStateDict(s: unknown): void {
    const o = (s ?? {}) as { best?: number | null; best_step?: number };
    this.best = typeof o.best === "number" ? o.best : null;
    this.bestStep = typeof o.best_step === "number" ? o.best_step : 0;
  }
}

// ---------------------------------------------------------------------------------------------
// ProgressCallback
// ---------------------------------------------------------------------------------------------

/** Options of {@link ProgressCallback}. */
export interface ProgressCallbackOptions {
  /** Label in front of the bar (default `"train"`). */
  readonly desc?: string;
  /** Force the live bar (true) or plain lines (false); default `Deno.stdout.isTerminal()`. */
  readonly terminal?: boolean;
  /** Where plain lines go (default `console.log`). */
  readonly write?: (line: string) => void;
  /** Stream of the live bar (default `process.stdout`). */
  readonly stream?: unknown;
}

/**
 * A live progress bar (`npm:cli-progress`) with the loss and steps/s on a terminal; plain lines
 * at every log step otherwise (`step 200/1000 (20.0%) | loss 0.1234 | ... | 812.3 steps/s`).
 *
 * @example
 * ```ts
 * import { ProgressCallback } from "@worldflux/worldflux";
 * const lines: string[] = [];
 * const cb = new ProgressCallback({ terminal: false, write: (l) => lines.push(l) });
 * console.log(cb.terminal); // false
 * ```
 */
export class ProgressCallback implements Callback {
  /** Checkpoint key. */
  readonly key = "progress";
  /** Whether the live bar is used. */
  readonly terminal: boolean;
  readonly #opts: ProgressCallbackOptions;
  // deno-lint-ignore no-explicit-any
  #bar: any = null;
  #total = 0;
  #unit = "steps";

  /** Creates the callback (the terminal check happens here). */
  constructor(opts: ProgressCallbackOptions = {}) {
    this.#opts = opts;
    let tty = false;
    try {
      tty = Deno.stdout.isTerminal();
    } catch {
      tty = false;
    }
    this.terminal = opts.terminal ?? tty;
  }

  #line(s: string): void {
    (this.#opts.write ?? ((l: string) => console.log(l)))(s);
  }

  /**
   * Starts the bar, or prints the first line. The bar's modules (`npm:cli-progress`,
   * `node:process`) are loaded here, only on a terminal: importing this module stays free of
   * Node and terminal APIs (the browser build, see `examples/browser/`).
   */
  async onTrainBegin(ctx: TrainingContext): Promise<void> {
    this.#total = ctx.state.totalSteps;
    this.#unit = ctx.state.mode === "online" ? "env steps" : "steps";
    const desc = this.#opts.desc ?? "train";
    if (this.terminal) {
      const { default: cliProgress } = await import("cli-progress");
      const stream = this.#opts.stream ?? (await import("node:process")).default.stdout;
      this.#bar = new cliProgress.SingleBar({
        format: `${desc} |{bar}| {percentage}% | {value}/{total} ${this.#unit} | loss {loss} | ` +
          `{speed} ${this.#unit}/s | eta {eta_formatted}`,
        stream,
        hideCursor: true,
        barsize: 30,
        etaBuffer: 50,
        fps: 10,
      }, cliProgress.Presets.shades_classic);
      this.#bar.start(this.#total, ctx.state.step, { loss: "-", speed: "-" });
    } else {
      this.#line(
        `${desc}: ${ctx.model.modelType} for ${this.#total} ${this.#unit}` +
          (ctx.state.step ? ` (resuming at ${ctx.state.step})` : "") +
          ` | ${ctx.trainStep.description}`,
      );
    }
  }

  /** Advances the bar. */
  onStepEnd(step: number): void {
    this.#bar?.update(step);
  }

  /** Shows the loss and speed. */
  onLog(step: number, metrics: Metrics): void {
    const speed = metrics.steps_per_sec ?? 0;
    if (this.#bar) {
      this.#bar.update(step, {
        loss: metrics.loss !== undefined ? fmt(metrics.loss) : "-",
        speed: speed.toFixed(1),
      });
      return;
    }
    const parts = Object.entries(metrics)
      .filter(([k]) => !["steps_per_sec", "wall_time", "lr"].includes(k))
      .slice(0, 8)
      .map(([k, v]) => `${k} ${fmt(v)}`);
    const pct = this.#total ? ((100 * step) / this.#total).toFixed(1) : "?";
    const eta = speed > 0 ? ` | eta ${formatSeconds((this.#total - step) / speed)}` : "";
    this.#line(
      `step ${step}/${this.#total} (${pct}%) | ${parts.join(" | ")} | ` +
        `${speed.toFixed(1)} ${this.#unit}/s${eta}`,
    );
  }

  /** Prints evaluation results (plain mode). */
  onEval(step: number, metrics: Metrics): void {
    if (this.#bar) return;
    const parts = Object.entries(metrics).map(([k, v]) => `${k} ${fmt(v)}`);
    this.#line(`eval @ ${step}: ${parts.join(" | ")}`);
  }

  /** Stops the bar, or prints the last line. */
  onTrainEnd(summary: TrainSummary): void {
    this.close();
    this.#line(
      `done: ${summary.steps}/${summary.totalSteps} ${this.#unit} in ` +
        `${formatSeconds(summary.wallTimeSec)} (${
          summary.stepsPerSec.toFixed(1)
        } ${this.#unit}/s)` +
        (summary.bestLoss !== null ? `, best loss ${fmt(summary.bestLoss)}` : "") +
        (summary.stopReason ? ` — ${summary.stopReason}` : ""),
    );
  }

  /** Stops the bar (and its timer). */
  close(): void {
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = null;
    }
  }
}

/** `83` -> `1m23s`. */
function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s - 60 * m)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
