/**
 * `JEPAWorldModel`: a joint-embedding predictive world model (JEPA, LeCun 2022; the
 * action-conditioned form of I-JEPA / V-JEPA world models). A context encoder embeds
 * observations; a predictor, conditioned on actions, rolls the embedding forward; the loss
 * compares the predicted embeddings with those of a target encoder, a moving average (EMA) of the
 * context encoder, so the loss lives in latent space and nothing is reconstructed.
 *
 * Collapse (every observation mapped to one point, which predicts itself perfectly) is what a
 * latent-space loss invites. Two things prevent it, as in the JEPA literature: the target is a
 * slowly moving copy with stopped gradients (BYOL / I-JEPA), and the VICReg variance and
 * covariance terms (Bardes et al. 2022) keep every embedding dimension spread (std at least 1)
 * and decorrelated. The loss reports `r2`, the fraction of the target embeddings' variance the
 * predictions explain, which a collapsed model cannot raise.
 *
 * There is no decoder: `decode` throws a `CapabilityError`, and rollouts return states only
 * (no reward or continue predictions). `encode`, `transition`, `update` and `rollout` go through
 * the contract as for any family.
 *
 * Data convention (as `mlp`): `batch.actions[:, t]` is taken in `batch.obs[:, t]` and leads to
 * `batch.obs[:, t + 1]`; `batch.terminations[:, t] = 1` when that step ended the episode (so
 * `obs[:, t + 1]` is not its successor).
 * @module
 */

import { type Batch, batchObservations } from "../../core/batch.ts";
import type { DynamicsModel, ObservationEncoder } from "../../core/components.ts";
import { DefaultActionConditioner } from "../../core/components.ts";
import type { LossOutput } from "../../core/outputs.ts";
import { type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import type { LayerOptions } from "../../nn/layers.ts";
import { Module, type Sequential } from "../../nn/module.ts";
import { mlp, type MLPOptions } from "../../nn/mlp.ts";
import { softUpdate } from "../../optim/ema.ts";
import { concat, ones, zeros } from "../../tensor/creation.ts";
import type { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { type JEPAConfig, jepaConfigSchema } from "./config.ts";

/** Layer options of the family's MLPs. */
type JEPALayerOptions = MLPOptions & LayerOptions;

/** An encoder: `obs [B, D] -> latent [B, L]` (the context encoder, and its EMA copy). */
export class JEPAEncoder extends Module implements ObservationEncoder {
  /** `obs -> latent`. */
  readonly net: Sequential;

  /** Builds the encoder for `config`. */
  constructor(config: JEPAConfig, layer: JEPALayerOptions) {
    super();
    this.net = mlp(
      config.obsShape[0],
      Array(config.depth).fill(config.hiddenDim),
      config.latentDim,
      layer,
    );
  }

  /** `{ latent }` of `observations.obs`. */
  encode(observations: Readonly<Record<string, Tensor>>): State {
    return new State({ latent: this.net.forward(observations.obs) });
  }
}

/**
 * The action-conditioned predictor: `latent' = latent + f(concat(latent, action))` (a residual
 * MLP). A missing `conditioned.action` is read as zeros.
 */
export class JEPAPredictor extends Module implements DynamicsModel {
  /** `[latent, action] -> delta`. */
  readonly net: Sequential;

  /** Builds the predictor for `config`. */
  constructor(readonly config: JEPAConfig, layer: JEPALayerOptions) {
    super();
    this.net = mlp(
      config.latentDim + config.actionDim,
      Array(config.predictorDepth).fill(config.hiddenDim),
      config.latentDim,
      layer,
    );
  }

  /** The predicted next state `{ latent }`. */
  transition(state: State, conditioned: Readonly<Record<string, Tensor>>): State {
    const z = state.get("latent");
    const a = conditioned.action ??
      zeros([z.shape[0], this.config.actionDim], { device: z.device });
    return new State({ latent: z.add(this.net.forward(concat([z, a], -1))) });
  }
}

/** Options of {@link JEPAWorldModel} (what the registry's factory passes). */
export interface JEPAWorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"jepa"`). */
  readonly modelType?: string;
}

/** Mean of `x` (`[N]`) weighted by `w` (`[N]`). */
function weightedMean(x: Tensor, w: Tensor): Tensor {
  return x.mul(w).sum().div(w.sum().maximum(1));
}

/**
 * VICReg's regularisers of embeddings `z [N, L]`: `variance` = mean over dimensions of
 * `relu(1 - std)`, `covariance` = sum of squared off-diagonal covariances / L.
 */
export function vicregTerms(z: Tensor): { variance: Tensor; covariance: Tensor } {
  const [n, l] = z.shape;
  const centered = z.sub(z.mean(0, true));
  const cov = centered.mT.matmul(centered).div(Math.max(n - 1, 1)); // [L, L]
  const varPerDim = centered.square().sum(0).div(Math.max(n - 1, 1)); // [L] = diag(cov)
  const variance = varPerDim.add(1e-4).sqrt().neg().add(1).relu().mean();
  const covariance = cov.square().sum().sub(varPerDim.square().sum()).div(l);
  return { variance, covariance };
}

/**
 * JEPA world model: context encoder (trained), target encoder (an EMA of the context encoder,
 * never trained by gradients: `requiresGrad` is off and {@link JEPAWorldModel.updateTarget}
 * moves it), and an action-conditioned residual predictor.
 *
 * Loss of a `[B, T]` batch: from the context embedding of the first step, the predictor rolls
 * out over the batch's actions; step k's prediction is compared (mean squared error) with the
 * target encoder's embedding of observation k, weighted by `horizonDiscount^k` and by whether
 * the episode is still running; plus the VICReg variance and covariance terms of the context
 * embeddings of every step.
 *
 * @example
 * ```ts
 * import { createWorldModel, randn } from "@worldflux/worldflux";
 * const model = await createWorldModel("jepa:ci", { obsShape: [4], actionDim: 2 });
 * const state = model.encode(randn([3, 4]));
 * const traj = model.rollout(state, randn([5, 3, 2]));
 * console.log(traj.finalState.get("latent").shape); // [3, 16]
 * ```
 */
export class JEPAWorldModel extends WorldModel<JEPAConfig> {
  /** The EMA copy of the context encoder that embeds the prediction targets. */
  readonly targetEncoder: JEPAEncoder;

  /** Builds the encoders and the predictor from a validated config. */
  constructor(config: JEPAConfig, opts: JEPAWorldModelOptions = {}) {
    super(opts.modelType ?? "jepa", jepaConfigSchema.parse(config), opts);
    const c = this.config;
    for (const cap of ["latent_dynamics", "representation"] as const) this.capabilities.add(cap);
    const layer: JEPALayerOptions = {
      device: this.device,
      generator: opts.generator,
      norm: c.norm,
      act: c.act,
    };
    this.observationEncoder = new JEPAEncoder(c, layer);
    this.actionConditioner = new DefaultActionConditioner(this.contract.actionSpec);
    this.dynamicsModel = new JEPAPredictor(c, layer);
    this.targetEncoder = new JEPAEncoder(c, layer);
    softUpdate(this.targetEncoder, this.observationEncoder as JEPAEncoder, 1);
    this.targetEncoder.requiresGrad_(false);
  }

  /** The schema defaults of every field. */
  static defaults(): JEPAConfig {
    return jepaConfigSchema.parse({});
  }

  /**
   * Observations `obs [B, D]`; actions of the configured type; state `latent [B, L]`; no
   * predictions (no decoder); batches need `obs`, `actions`, `terminations` (`[B, T, ...]`).
   */
  ioContract(): ModelIOContract {
    const c = this.config;
    return standardIOContract({
      obsShape: c.obsShape,
      actionDim: c.actionDim,
      actionType: c.actionType,
      capabilities: this.capabilities,
      stateSpec: { tensors: { latent: { kind: "vector", shape: [c.latentDim] } } },
      requiredStateKeys: ["latent"],
      requiredBatchKeys: ["obs", "actions", "terminations"],
    });
  }

  /**
   * Moves the target encoder towards the context encoder:
   * `target <- emaDecay * target + (1 - emaDecay) * context`, in place (the family's training
   * step calls it after every optimizer step).
   */
  updateTarget(): void {
    softUpdate(
      this.targetEncoder,
      this.observationEncoder as JEPAEncoder,
      1 - this.config.emaDecay,
    );
  }

  /** The latent-space loss of a `[B, T, ...]` batch. */
  protected lossImpl(batch: Batch): LossOutput {
    const c = this.config;
    const obs = batchObservations(batch).obs;
    const [B, T] = obs.shape;
    const L = c.latentDim;
    const N = B * T;
    const flatObs = obs.reshape([N, ...obs.shape.slice(2)]);
    const context = this.encodeImpl({ obs: flatObs }, { deterministic: true }).get("latent");
    const target = this.targetEncoder.encode({ obs: flatObs }).get("latent").detach()
      .reshape([B, T, L]);
    const ctx = context.reshape([B, T, L]);
    const step = (t: Tensor, k: number) => t.narrow(1, k, 1).squeeze(1);
    const mask = batch.mask ?? null; // [B, T]
    const alive = batch.terminations!.neg().add(1); // [B, T]

    // Latent rollout from the first step's context embedding over the batch's actions.
    let z = new State({ latent: step(ctx, 0) });
    let running: Tensor = mask ? step(mask, 0) : ones([B], { device: obs.device });
    let predLoss: Tensor = context.sum().mul(0);
    let weightSum = 0;
    let residual: Tensor = predLoss;
    let spread: Tensor = predLoss;
    for (let k = 0; k + 1 < T; k++) {
      z = this.transitionImpl(z, { kind: c.actionType, tensor: step(batch.actions!, k) }, {
        conditions: null,
        deterministic: true,
      });
      running = running.mul(step(alive, k));
      if (mask) running = running.mul(step(mask, k + 1));
      const tgt = step(target, k + 1);
      const err = z.get("latent").sub(tgt).square().mean(-1); // [B]
      const w = c.horizonDiscount ** k;
      predLoss = predLoss.add(weightedMean(err, running).mul(w));
      weightSum += w;
      // Explained variance of the targets (diagnostic): squared error vs spread around the mean.
      residual = residual.add(weightedMean(err, running));
      spread = spread.add(tgt.sub(tgt.mean(0, true)).square().mean(-1).mean());
    }
    if (weightSum > 0) predLoss = predLoss.div(weightSum);
    const { variance, covariance } = vicregTerms(context);
    const components = {
      prediction: predLoss.mul(c.predictionScale),
      variance: variance.mul(c.varianceScale),
      covariance: covariance.mul(c.covarianceScale),
    };
    const loss = components.prediction.add(components.variance).add(components.covariance);
    return {
      loss,
      components,
      metrics: {
        prediction_mse: predLoss.detach(),
        r2: residual.div(spread.maximum(1e-8)).neg().add(1).detach(),
        embedding_std: context.sub(context.mean(0, true)).square().mean(0).sqrt().mean()
          .detach(),
        variance: variance.detach(),
        covariance: covariance.detach(),
      },
    };
  }
}
