/**
 * {@link DreamerTrainer}: the full DreamerV3 update as one function of tensors — the world-model
 * loss, (with an actor-critic) the actor and critic losses in imagination from every posterior
 * state and the replay value loss, all with the parameters before the update; one backward
 * pass, adaptive gradient clipping, the optimizers' steps (learning rates warmed up linearly
 * over `warmup` updates) and the slow critic's EMA. Nothing is read back, so the update can be
 * `compile()`d (`compiledStep`). {@link dreamerV3TrainStep} wraps it as the family's training step.
 * @module
 */

import { type Batch, batchObservations } from "../../core/batch.ts";
import type { TrainingConfig } from "../../core/training_config.ts";
import { makeTrainStep, type TrainStep, type TrainStepOptions } from "../../core/train_step.ts";
import { compile, type CompiledStep } from "../../tensor/compile.ts";
import { addPendingTarget } from "../../tensor/schedule.ts";
import { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { Adam, LaProp, type Optimizer } from "../../optim/optimizer.ts";
import { warmupLR } from "../../optim/schedule.ts";
import { agcClip } from "./losses.ts";
import type { DreamerV3WorldModel } from "./world_model.ts";

/** Options of {@link DreamerTrainer} (defaults from the model's config). */
export interface DreamerTrainerOptions {
  /** `laprop` (official) or `adam`. */
  readonly optimizer?: "laprop" | "adam";
  /** World-model learning rate. */
  readonly lr?: number;
  /** Actor and critic learning rate. */
  readonly acLr?: number;
  /** Updates over which both learning rates ramp up linearly from 0 (0: none). */
  readonly warmup?: number;
  /** Optimizer epsilon. */
  readonly eps?: number;
  /** Adaptive gradient clipping (0 disables). */
  readonly agc?: number;
  /** Global-norm clip inside the fused optimizer step (null: none). */
  readonly gradClip?: number | null;
  /** Train the actor-critic too (default: when the model has one). */
  readonly actorCritic?: boolean;
  /** Random stream of the latent and action samples (default: the model's / global). */
  readonly generator?: Generator;
}

/** Computes `t` together with the next schedule (before parameters change) and returns it. */
function pend(t: Tensor): Tensor {
  const c = t.contiguous();
  addPendingTarget(c._node);
  return c;
}

/**
 * Trains a {@link DreamerV3WorldModel}: `step(batch)` runs one update and returns lazy scalar
 * metrics (`wm/...`, `ac/...`); `compiledStep(batch)` does the same through `compile()` (one
 * trace per batch layout, then replays).
 *
 * @example
 * ```ts
 * import { createWorldModel, DreamerTrainer, randn, zeros } from "@worldflux/worldflux";
 * import type { DreamerV3WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("dreamer:ci", { obsShape: [8], actionDim: 2 });
 * const trainer = new DreamerTrainer(model as DreamerV3WorldModel, { lr: 1e-3 });
 * const m = trainer.step({
 *   obs: randn([2, 6, 8]),
 *   actions: randn([2, 6, 2]),
 *   rewards: zeros([2, 6]),
 *   terminations: zeros([2, 6]),
 * });
 * console.log(await m["wm/total"].item());
 * ```
 */
export class DreamerTrainer {
  /** World-model optimizer. */
  readonly wmOpt: Optimizer;
  /** Actor-critic optimizer (null when the actor-critic is not trained). */
  readonly acOpt: Optimizer | null;
  /** AGC threshold. */
  readonly agc: number;
  readonly #wmParams: Tensor[];
  readonly #acParams: Tensor[];
  readonly #compiled = new Map<string, CompiledStep<Tensor[], Record<string, Tensor>>>();
  readonly #generator: Generator | undefined;

  /** Creates the optimizers for `model`. */
  constructor(readonly model: DreamerV3WorldModel, opts: DreamerTrainerOptions = {}) {
    const c = model.config;
    const kind = opts.optimizer ?? c.optimizer;
    const warmup = opts.warmup ?? c.warmup;
    const make = (params: Tensor[], lr: number) => {
      const o = {
        lr: warmup > 0 ? warmupLR(lr, warmup) : lr,
        eps: opts.eps ?? c.eps,
        gradClip: opts.gradClip ?? c.gradClip,
      };
      return kind === "adam" ? new Adam(params, o) : new LaProp(params, o);
    };
    this.agc = opts.agc ?? c.agc;
    this.#wmParams = model.worldModelParameters();
    this.wmOpt = make(this.#wmParams, opts.lr ?? c.lr);
    const ac = (opts.actorCritic ?? true) ? model.actorCritic : null;
    this.#acParams = ac ? ac.trainableParameters() : [];
    this.acOpt = ac ? make(this.#acParams, opts.acLr ?? c.acLr) : null;
    this.#generator = opts.generator;
  }

  /** One update (uncompiled); returns lazy scalar metrics. The batch is validated. */
  step(batch: Batch): Record<string, Tensor> {
    this.model.checkBatch(batch);
    return this.update(batch);
  }

  /**
   * One update through `compile()`: the first call per batch layout traces, later calls replay
   * the kernel list (same results as `step`). Returns the metrics (copies).
   */
  compiledStep(batch: Batch): Record<string, Tensor> {
    const model = this.model;
    const obs = batchObservations(batch);
    const keys = model.layout.keys.map((k) => k.key);
    const isFirst = model.isFirstOf(batch);
    const mask = batch.mask ?? null;
    const args: Tensor[] = [
      ...keys.map((k) => obs[k]),
      batch.actions!,
      batch.rewards!,
      batch.terminations!,
      ...(mask ? [mask] : []),
      ...(isFirst ? [isFirst] : []),
    ];
    const sig = `${mask ? "m" : ""}${isFirst ? "f" : ""}`;
    let fn = this.#compiled.get(sig);
    if (!fn) {
      model.checkBatch(batch);
      fn = compile((...ts: Tensor[]) => {
        let i = 0;
        const o: Record<string, Tensor> = {};
        for (const k of keys) o[k] = ts[i++];
        const b: Batch = {
          obs: model.config.observations ? o : o[keys[0]],
          actions: ts[i++],
          rewards: ts[i++],
          terminations: ts[i++],
          mask: mask ? ts[i++] : null,
          extras: isFirst ? { isFirst: ts[i++] } : undefined,
        };
        return this.update(b);
      });
      this.#compiled.set(sig, fn);
    }
    return fn(...args);
  }

  /** Kernels replayed per compiled call (of the latest trace), 0 before the first. */
  get compiledKernelCount(): number {
    let n = 0;
    for (const f of this.#compiled.values()) n = f.kernelCount;
    return n;
  }

  /**
   * The update itself (no validation, no compile): what `step` runs and `compiledStep` traces.
   * Synchronous, in place, tensors only; returns lazy scalar metrics.
   *
   * As the official `Agent.train`, every loss is computed with the parameters before the update
   * and one backward pass serves them all: the world-model loss, the actor-critic loss on an
   * imagination from every posterior state (gradients stopped at the starts) and the replay
   * value loss (`repvalScale`, whose gradient reaches the critic and the world model); then
   * adaptive gradient clipping per parameter tensor, both optimizers' steps, and the slow
   * critic's EMA.
   */
  update(batch: Batch): Record<string, Tensor> {
    const model = this.model;
    const gen = this.#generator;
    const prevGen = model.sampleGenerator;
    if (gen) model.sampleGenerator = gen;
    try {
      const metrics: Record<string, Tensor> = {};
      const { out, post, feat, succ } = model.lossWithStates(batch);
      for (const [k, v] of Object.entries(out.metrics)) metrics[`wm/${k}`] = pend(v);
      const ac = this.acOpt ? model.actorCritic : null;
      let loss = out.loss;
      if (ac) {
        const [B, T] = feat.shape;
        const bt = (x: Tensor | null | undefined) => (x ? x.reshape([B, T]) : null);
        const mask = bt(batch.mask);
        // Imagination starts from every real step (padding, mask 0, carries no weight).
        const starts = { deter: post.deter.detach(), stoch: post.stoch.detach() };
        const l = ac.loss(starts, { generator: gen, mask: mask ? mask.reshape([B * T]) : null });
        for (const [k, v] of Object.entries(l.metrics)) metrics[`ac/${k}`] = pend(v);
        loss = loss.add(l.loss);
        const scale = model.config.repvalScale;
        if (scale > 0) {
          const repval = ac.replayLoss({
            feat,
            succ,
            rewards: bt(batch.rewards)!,
            terminations: bt(batch.terminations)!,
            isFirst: bt(model.isFirstOf(batch)),
            mask,
            boot: l.startReturn.reshape([B, T]),
          });
          metrics["ac/repval"] = pend(repval.detach());
          loss = loss.add(repval.mul(scale));
        }
      }
      loss.backward();
      agcClip(this.#wmParams, this.agc);
      agcClip(this.#acParams, this.agc);
      // The actor-critic's gradients are computed in the world-model step's schedule, before
      // that step changes the parameters they were computed from.
      for (const p of this.#acParams) {
        if (p.grad && !p.grad.isDisposed) addPendingTarget(p.grad._node);
      }
      this.wmOpt.step();
      this.wmOpt.zeroGrad();
      if (ac && this.acOpt) {
        this.acOpt.step();
        this.acOpt.zeroGrad();
        ac.updateSlowCritic();
      }
      return metrics;
    } finally {
      model.sampleGenerator = prevGen;
    }
  }

  /** Frees the optimizers' state and the compiled steps. */
  dispose(): void {
    for (const f of this.#compiled.values()) f.dispose();
    this.#compiled.clear();
    this.wmOpt.dispose();
    this.acOpt?.dispose();
  }
}

/**
 * The full DreamerV3 update as the family's training step (the `trainStep` of its spec, which the
 * Trainer and the online loop use): world model, then (with an actor-critic) the actor and critic
 * in imagination, with the family's own optimizer settings (`optimizer`, `lr`, `acLr`, `eps`,
 * `agc`, `gradClip` of the model config; the TrainingConfig drives the loop, the seed of the
 * latent/action samples and `compile`). Returns `loss` (the world-model total) and the `wm/...`,
 * `ac/...` metrics; the random stream is checkpointed.
 *
 * @example
 * ```ts
 * import { createWorldModel, dreamerV3TrainStep, parseTrainingConfig } from "@worldflux/worldflux";
 * import type { DreamerV3WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("dreamer:ci", { obsShape: [4], actionDim: 2 });
 * const step = dreamerV3TrainStep(
 *   model as DreamerV3WorldModel,
 *   parseTrainingConfig({ batchSize: 2, sequenceLength: 4 }),
 * );
 * console.log(Object.keys(step.optimizers)); // [ "model", "actorCritic" ]
 * step.dispose();
 * ```
 */
export function dreamerV3TrainStep(
  model: DreamerV3WorldModel,
  config: TrainingConfig,
  options: TrainStepOptions = {},
): TrainStep {
  const generator = new Generator(config.seed);
  const trainer = new DreamerTrainer(model, { generator });
  return makeTrainStep({
    name: "dreamerv3",
    crossEpisodes: true, // the RSSM resets at isFirst; the losses handle episode ends
    optimizers: trainer.acOpt
      ? { model: trainer.wmOpt, actorCritic: trainer.acOpt }
      : { model: trainer.wmOpt },
    compile: config.compile,
    log: options.log,
    update: (batch) => {
      const m = trainer.update(batch);
      return { loss: m["wm/total"], ...m };
    },
    state: () => ({ values: { generator: generator.state() } }),
    loadState: (s) => {
      const g = s.values.generator as { seed?: unknown; counter?: unknown } | undefined;
      if (g && typeof g.seed === "number" && typeof g.counter === "number") {
        generator.setState({ seed: g.seed, counter: g.counter });
      }
    },
  });
}
