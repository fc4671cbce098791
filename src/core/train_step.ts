/**
 * {@link TrainStep}: the one update the Trainer and the online loop drive, whatever the
 * family. A step takes a {@link Batch}, updates the model (and whatever else the family trains:
 * actor, critic, target networks) in place, and returns scalar tensors by name, lazily: nothing
 * is read back inside a step. The trainer reads them at log steps only.
 *
 * - {@link makeTrainStep} builds a step from an update function and its optimizers, traced once
 *   with `compile()` when `config.compile` is on (falling back to eager execution, with the
 *   reason logged, when tracing fails);
 * - {@link defaultTrainStep}: `model.loss(batch)` -> backward -> one optimizer (AdamW/Adam/LaProp
 *   from the config) for any {@link WorldModel};
 * - a family with more than a world-model loss brings its own step as the `trainStep` of its
 *   `FamilySpec`; `createTrainStep` (training/) picks the family's step, else the default.
 *
 * ## Writing a family's step (`FamilySpec.trainStep`)
 *
 * A family with more than a world-model loss (DreamerV3's actor-critic, TD-MPC2's policy and
 * target Q-networks) registers `trainStep: (model, config, options) => makeTrainStep({ name,
 * optimizers: { model, actor, critic }, update, state, loadState, compile: config.compile, log:
 * options.log })` in its spec (DreamerV3's: `models/dreamerv3/trainer.ts`; TD-MPC2's:
 * `models/tdmpc2/training.ts`). For `compile()` the update must:
 * - be synchronous and take the same code path on every call (no JS branching on step counts:
 *   periodic work such as copying target networks every N updates goes in `beforeUpdate`/
 *   `afterUpdate`, which run outside the trace, or becomes an every-step EMA);
 * - update state in place (optimizers, `assign()`, `softUpdate`), never read values;
 * - draw random numbers from generators (the global one by default), never `Math.random`.
 * Everything the update's future depends on that is not in `model.stateDict()` or the
 * optimizers (e.g. a return normaliser's running statistics kept as JS numbers, an update
 * counter) goes in `state()`/`loadState()`, so checkpoints resume exactly.
 * @module
 */

import { warn } from "../log.ts";
import { ConfigError } from "../errors.ts";
import type { Batch } from "./batch.ts";
import type { WorldModel } from "./world_model.ts";
import { compile, type CompiledStep } from "../tensor/compile.ts";
import { tidy } from "../tensor/memory.ts";
import { defaultGenerator } from "../tensor/random.ts";
import { realize, Tensor } from "../tensor/tensor.ts";
import {
  Adam,
  AdamW,
  LaProp,
  type Optimizer,
  type OptimizerOptions,
  type OptimizerState,
} from "../optim/optimizer.ts";
import { type LRSchedule, warmupCosineLR, warmupLinearLR, warmupLR } from "../optim/schedule.ts";
import type { TrainingConfig } from "./training_config.ts";

/** What a {@link TrainStep} saves besides the model's state dict. */
export interface TrainStepState {
  /** Optimizer states by name (moments as tensors, the rest JSON). */
  readonly optimizers: Readonly<Record<string, OptimizerState>>;
  /** Other tensors the step owns (not in `model.stateDict()`), by dotted name. */
  readonly tensors?: Readonly<Record<string, Tensor>>;
  /** Other JSON-serialisable values (counters, running statistics). */
  readonly values?: Readonly<Record<string, unknown>>;
}

/** One training update, driven by the Trainer and the online loop. */
export interface TrainStep {
  /** What runs, for logs and summaries (e.g. `"mlp: adamw, compiled"`). */
  readonly description: string;
  /** The optimizers, by name (`"model"` for the default step). */
  readonly optimizers: Readonly<Record<string, Optimizer>>;
  /** True while updates run compiled (false when compile is off or tracing failed). */
  readonly compiled: boolean;
  /** Why the step runs eagerly although compile was requested, or null. */
  readonly fallbackReason: string | null;
  /**
   * True when the step resets its model's state wherever `extras.isFirst` marks an episode
   * start, so its batches may be windows of the replay stream that span episodes (DreamerV3's
   * replay samples so); the online loop then samples with `crossEpisodes`. Absent or false:
   * each sequence lies within one episode.
   */
  readonly crossEpisodes?: boolean;
  /**
   * Runs one update on `batch` (the caller keeps and disposes the batch) and returns scalar
   * tensors by name (`loss`, its components, diagnostics), realized but never read back: the
   * caller owns them and disposes them.
   */
  step(batch: Batch): Record<string, Tensor>;
  /** Optimizer states and any other state the step's future depends on. */
  stateDict(): TrainStepState;
  /** Restores {@link stateDict} output (same optimizers and parameter layout). */
  loadStateDict(state: TrainStepState): void;
  /** Frees the compiled programs and optimizer buffers (the model's parameters stay valid). */
  dispose(): void;
}

/** Options a family's step factory receives. */
export interface TrainStepOptions {
  /** Where to report notes (compile fallbacks, ...). */
  readonly log?: (message: string) => void;
}

/** How to build a {@link TrainStep} with {@link makeTrainStep}. */
export interface TrainStepSpec {
  /** Name for logs (`"mlp"`, `"dreamerv3"`). */
  readonly name: string;
  /** The optimizers the update steps, by name. */
  readonly optimizers: Readonly<Record<string, Optimizer>>;
  /**
   * One full update of a batch: synchronous, in place, tensors only; returns scalar tensors by
   * name (lazy). Compiled when `compile` is true, so it must follow the rules in the module docs.
   */
  readonly update: (batch: Batch) => Record<string, Tensor>;
  /** Trace `update` once with `compile()` and replay it (default true). */
  readonly compile?: boolean;
  /** JS-side work before each update, outside any trace (e.g. a periodic target-network copy). */
  readonly beforeUpdate?: () => void;
  /** JS-side work after each update, outside any trace. */
  readonly afterUpdate?: () => void;
  /** Extra state to checkpoint (tensors not in the model's state dict, JSON values). */
  readonly state?: () => { tensors?: Record<string, Tensor>; values?: Record<string, unknown> };
  /** Restores `state()` output. */
  readonly loadState?: (
    s: { tensors: Readonly<Record<string, Tensor>>; values: Readonly<Record<string, unknown>> },
  ) => void;
  /** Where to report a compile fallback (default `console.warn`). */
  readonly log?: (message: string) => void;
  /** Batches may span episodes (see {@link TrainStep.crossEpisodes}; default false). */
  readonly crossEpisodes?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Batches as tensor lists (compile() takes tensors)
// ---------------------------------------------------------------------------------------------

interface FlatBatch {
  readonly tensors: Tensor[];
  /** Field structure and non-tensor values: one compiled program per structure. */
  readonly structure: string;
  /** Shapes, dtypes and devices: a new one traces again. */
  readonly signature: string;
  readonly rebuild: (ts: readonly Tensor[]) => Batch;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function stableString(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Splits a batch into its tensors (in field order) and a static remainder. */
function flattenBatch(batch: Batch): FlatBatch {
  const tensors: Tensor[] = [];
  const paths: [string, string | null][] = [];
  const statics: Record<string, unknown> = {};
  const nested: Record<string, Record<string, unknown>> = {};
  for (const [field, v] of Object.entries(batch as Record<string, unknown>)) {
    if (v instanceof Tensor) {
      paths.push([field, null]);
      tensors.push(v);
    } else if (isPlainObject(v) && Object.values(v).some((x) => x instanceof Tensor)) {
      const rest: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x instanceof Tensor) {
          paths.push([field, k]);
          tensors.push(x);
        } else rest[k] = x;
      }
      nested[field] = rest;
    } else statics[field] = v;
  }
  const structure = stableString({ paths, statics, nested });
  const signature = tensors.map((t) => `${t.device}:${t.dtype}:[${t.shape}]`).join("|");
  const rebuild = (ts: readonly Tensor[]): Batch => {
    const out: Record<string, unknown> = { ...statics };
    for (const [f, rest] of Object.entries(nested)) out[f] = { ...rest };
    paths.forEach(([f, k], i) => {
      if (k === null) out[f] = ts[i];
      else (out[f] as Record<string, unknown>)[k] = ts[i];
    });
    return out as Batch;
  };
  return { tensors, structure, signature, rebuild };
}

/** Disposes every tensor of a batch (legacy fields and keyed containers). */
export function disposeBatch(batch: Batch): void {
  for (const v of Object.values(batch as Record<string, unknown>)) {
    if (v instanceof Tensor) v.dispose();
    else if (isPlainObject(v)) {
      for (const x of Object.values(v)) if (x instanceof Tensor) x.dispose();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// makeTrainStep
// ---------------------------------------------------------------------------------------------

interface Program {
  readonly fn: CompiledStep<Tensor[], Record<string, Tensor>>;
  readonly traced: Set<string>;
}

class BuiltTrainStep implements TrainStep {
  readonly optimizers: Readonly<Record<string, Optimizer>>;
  readonly #spec: TrainStepSpec;
  readonly #programs = new Map<string, Program>();
  #useCompile: boolean;
  #fallback: string | null = null;

  constructor(spec: TrainStepSpec) {
    if (typeof spec.update !== "function") {
      throw new ConfigError(`makeTrainStep(${spec.name}): update must be a function`);
    }
    this.#spec = spec;
    this.optimizers = Object.freeze({ ...spec.optimizers });
    this.#useCompile = spec.compile ?? true;
  }

  get description(): string {
    const opts = Object.entries(this.optimizers).map(([k, o]) => `${k}: ${o.constructor.name}`);
    const mode = this.#useCompile
      ? "compiled"
      : this.#fallback
      ? `eager (compile failed: ${this.#fallback})`
      : "eager";
    return `${this.#spec.name} (${opts.join(", ") || "no optimizer"}; ${mode})`;
  }

  get compiled(): boolean {
    return this.#useCompile;
  }

  get fallbackReason(): string | null {
    return this.#fallback;
  }

  get crossEpisodes(): boolean {
    return this.#spec.crossEpisodes ?? false;
  }

  step(batch: Batch): Record<string, Tensor> {
    this.#spec.beforeUpdate?.();
    const out = this.#useCompile ? this.#compiledStep(batch) : this.#eager(batch);
    this.#spec.afterUpdate?.();
    return out;
  }

  #eager(batch: Batch): Record<string, Tensor> {
    return tidy(() => {
      const out = this.#spec.update(batch);
      const ts = Object.values(out);
      // Computed now, with the step's schedule, so the graph behind them can go.
      if (ts.length) realize(...ts);
      return out;
    });
  }

  #compiledStep(batch: Batch): Record<string, Tensor> {
    const flat = flattenBatch(batch);
    let prog = this.#programs.get(flat.structure);
    if (!prog) {
      const update = this.#spec.update;
      const fn = compile((...ts: Tensor[]) => update(flat.rebuild(ts)));
      prog = { fn, traced: new Set() };
      this.#programs.set(flat.structure, prog);
    }
    if (prog.traced.has(flat.signature)) return tidy(() => prog.fn(...flat.tensors));
    // A tracing call: if it fails before any optimizer stepped, undo the random draws and run
    // the update eagerly from then on.
    const gen = defaultGenerator();
    const genState = gen.state();
    const steps = Object.values(this.optimizers).map((o) => o.stepCount);
    try {
      const out = tidy(() => prog.fn(...flat.tensors));
      prog.traced.add(flat.signature);
      return out;
    } catch (e) {
      const stepped = Object.values(this.optimizers).some((o, i) => o.stepCount !== steps[i]);
      if (stepped) throw e;
      defaultGenerator().setState(genState);
      this.#fallback = (e as Error).message ?? String(e);
      this.#useCompile = false;
      for (const p of this.#programs.values()) p.fn.dispose();
      this.#programs.clear();
      (this.#spec.log ?? warn)(
        `${this.#spec.name}: compile() could not trace the update, running it ` +
          `eagerly: ${this.#fallback}`,
      );
      return this.#eager(batch);
    }
  }

  stateDict(): TrainStepState {
    const optimizers: Record<string, OptimizerState> = {};
    for (const [k, o] of Object.entries(this.optimizers)) optimizers[k] = o.stateDict();
    const extra = this.#spec.state?.() ?? {};
    return { optimizers, tensors: extra.tensors ?? {}, values: extra.values ?? {} };
  }

  loadStateDict(state: TrainStepState): void {
    const mine = Object.keys(this.optimizers).sort();
    const theirs = Object.keys(state.optimizers ?? {}).sort();
    if (mine.join(",") !== theirs.join(",")) {
      throw new ConfigError(
        `${this.#spec.name}: the saved state has optimizers [${theirs.join(", ")}] but this ` +
          `training step has [${mine.join(", ")}]`,
      );
    }
    for (const [k, o] of Object.entries(this.optimizers)) o.loadStateDict(state.optimizers[k]);
    if (this.#spec.loadState) {
      this.#spec.loadState({ tensors: state.tensors ?? {}, values: state.values ?? {} });
    }
  }

  dispose(): void {
    for (const p of this.#programs.values()) p.fn.dispose();
    this.#programs.clear();
    for (const o of Object.values(this.optimizers)) o.dispose();
  }
}

/**
 * Builds a {@link TrainStep} from an update function and its optimizers: compiled with
 * `compile()` (one program per batch structure; new shapes trace again) unless `compile` is
 * false; a failed trace falls back to eager execution with the reason logged.
 *
 * @example
 * ```ts
 * import { Adam, createWorldModel, makeTrainStep, randn, zeros } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 * const step = makeTrainStep({
 *   name: "mlp",
 *   optimizers: { model: opt },
 *   update: (batch) => {
 *     const out = model.loss(batch);
 *     out.loss.backward();
 *     opt.step();
 *     opt.zeroGrad();
 *     return { loss: out.loss };
 *   },
 * });
 * const batch = {
 *   obs: randn([4, 5, 4]),
 *   actions: randn([4, 5, 2]),
 *   rewards: zeros([4, 5]),
 *   terminations: zeros([4, 5]),
 * };
 * const { loss } = step.step(batch);
 * console.log(await loss.item() > 0); // true
 * ```
 */
export function makeTrainStep(spec: TrainStepSpec): TrainStep {
  return new BuiltTrainStep(spec);
}

// ---------------------------------------------------------------------------------------------
// The default step
// ---------------------------------------------------------------------------------------------

/** The learning rate of a config: a number, or a schedule of the step (warmup, decay). */
export function learningRateSchedule(config: TrainingConfig): number | LRSchedule {
  const lr = config.learningRate;
  const w = config.warmupSteps;
  switch (config.scheduler) {
    case "linear":
      return warmupLinearLR(lr, w, config.totalSteps);
    case "cosine":
      return warmupCosineLR(lr, w, config.totalSteps);
    default:
      return w > 0 ? warmupLR(lr, w) : lr;
  }
}

/** The config's optimizer over `params` (learning rate schedule, weight decay, global clip). */
export function createOptimizer(params: readonly Tensor[], config: TrainingConfig): Optimizer {
  const opts: OptimizerOptions = {
    lr: learningRateSchedule(config),
    weightDecay: config.weightDecay,
    gradClip: config.gradClip > 0 ? config.gradClip : null,
  };
  switch (config.optimizer) {
    case "adam":
      return new Adam(params, opts);
    case "laprop":
      return new LaProp(params, opts);
    default:
      return new AdamW(params, opts);
  }
}

/** What a family adds to {@link defaultTrainStep} (e.g. JEPA's moving-average target encoder). */
export interface DefaultTrainStepHooks {
  /**
   * Runs inside the update right after the optimizer step, traced with it: in-place tensor
   * updates only (`softUpdate`, `assign()`), no reads, the same work every call.
   */
  readonly afterOptimizerStep?: () => void;
  /** Name for logs (default: the model's family). */
  readonly name?: string;
}

/**
 * The generic step for any world model: `model.loss(batch)`, backward, one optimizer step
 * (the config's optimizer over the trainable parameters of the model: those with
 * `requiresGrad`), then `hooks.afterOptimizerStep`. Returns `loss`, every loss component, the
 * model's metrics (prefixed `metrics.` where a name collides) and `grad_norm` when clipping.
 */
export function defaultTrainStep(
  model: WorldModel,
  config: TrainingConfig,
  options: TrainStepOptions = {},
  hooks: DefaultTrainStepHooks = {},
): TrainStep {
  const params = model.parameters().filter((p) => p.requiresGrad !== false);
  if (params.length === 0) {
    throw new ConfigError(`${model.modelType}: the model has no trainable parameters`);
  }
  const opt = createOptimizer(params, config);
  return makeTrainStep({
    name: hooks.name ?? model.modelType,
    optimizers: { model: opt },
    compile: config.compile,
    log: options.log,
    update: (batch) => {
      const out = model.loss(batch);
      out.loss.backward();
      opt.step();
      opt.zeroGrad();
      hooks.afterOptimizerStep?.();
      const r: Record<string, Tensor> = { loss: out.loss };
      for (const [k, t] of Object.entries(out.components)) r[k in r ? `components.${k}` : k] = t;
      for (const [k, t] of Object.entries(out.metrics)) r[k in r ? `metrics.${k}` : k] = t;
      if (opt.lastGradNorm) r.grad_norm = opt.lastGradNorm;
      return r;
    },
  });
}

/**
 * Builds a family's {@link TrainStep}: the `trainStep` of its `FamilySpec` (the Trainer and the
 * online loop call it through `createTrainStep`).
 */
export type TrainStepFactory<M extends WorldModel = WorldModel> = (
  model: M,
  config: TrainingConfig,
  options: TrainStepOptions,
) => TrainStep;
