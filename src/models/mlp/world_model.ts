/**
 * `MLPWorldModel`: the simplest complete world model, and the template for families. It fills
 * the component slots in its constructor, declares its contract in `ioContract()`, and
 * implements the loss in `lossImpl()`; the base class does validation, legacy call forms,
 * rollouts, save/load and component overrides.
 *
 * Data convention (TD-MPC2 style): `batch.actions[:, t]` is taken in `batch.obs[:, t]` and
 * earns `batch.rewards[:, t]`; `batch.terminations[:, t] = 1` when that step ends the episode.
 * So `decode(transition(encode(obs_t), a_t))` predicts `reward_t` and `1 - termination_t`,
 * which is exactly what `rollout` reports per step.
 * @module
 */

import { type Batch, batchObservations } from "../../core/batch.ts";
import { DefaultActionConditioner } from "../../core/components.ts";
import type { LossOutput } from "../../core/outputs.ts";
import { type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import type { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { MLPDecoder, MLPDynamics, MLPEncoder } from "./components.ts";
import { type MLPConfig, mlpConfigSchema } from "./config.ts";

/** Options of {@link MLPWorldModel} (what the registry's factory passes). */
export interface MLPWorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"mlp"`; lets plugins register the template under another name). */
  readonly modelType?: string;
}

/** Mean of `x` (flat `[N]`) weighted by `w` (`[N]`, or null for a plain mean). */
function weightedMean(x: Tensor, w: Tensor | null): Tensor {
  if (!w) return x.mean();
  return x.mul(w).sum().div(w.sum().maximum(1));
}

/**
 * MLP world model: Gaussian latent from an MLP encoder, residual MLP dynamics on
 * (latent, action), and decoder heads for the observation, reward and continue probability.
 *
 * Loss = recon (MSE of decoded observations) + reward (MSE) + continue (BCE) + consistency
 * (MSE between the predicted next latent and the encoded next observation's mean, with the
 * gradient stopped on the target) + a small KL of the latent to N(0, 1); each term is scaled
 * by its `*Scale` config field.
 *
 * @example
 * ```ts
 * import { Adam, createWorldModel, randn, zeros } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
 * const opt = new Adam(model.parameters(), { lr: 1e-3 });
 * const batch = {
 *   obs: randn([8, 5, 4]),
 *   actions: randn([8, 5, 2]),
 *   rewards: zeros([8, 5]),
 *   terminations: zeros([8, 5]),
 * };
 * const { loss } = model.loss(batch);
 * loss.backward();
 * opt.step();
 * console.log(await loss.item());
 * ```
 */
export class MLPWorldModel extends WorldModel<MLPConfig> {
  /** Builds the components from a validated config. */
  constructor(config: MLPConfig, opts: MLPWorldModelOptions = {}) {
    super(opts.modelType ?? "mlp", mlpConfigSchema.parse(config), opts);
    const c = this.config;
    // Capabilities first: they shape the contract (which predictions decode returns).
    for (
      const cap of [
        "latent_dynamics",
        "representation",
        "obs_decoder",
        "reward_pred",
        "continue_pred",
        "planning",
      ] as const
    ) this.capabilities.add(cap);
    const layer = {
      device: this.device,
      generator: opts.generator,
      norm: c.norm,
      act: c.act,
    };
    // The five slots: the base class routes encode/transition/decode/rollout through them.
    this.observationEncoder = new MLPEncoder(c, layer);
    this.actionConditioner = new DefaultActionConditioner(this.contract.actionSpec);
    this.dynamicsModel = new MLPDynamics(c, layer);
    this.decoder = new MLPDecoder(c, layer);
    // (rolloutExecutor: the base class's open-loop executor.)
  }

  /** The schema defaults of every field. */
  static defaults(): MLPConfig {
    return mlpConfigSchema.parse({});
  }

  /**
   * Observations `obs [B, D]`; actions of the configured type; state `latent` (required) and
   * `mean`/`std` (after `encode`); predictions `obs`, `reward`, `continue`; batches need `obs`,
   * `actions`, `rewards`, `terminations` (`[B, T, ...]`).
   */
  ioContract(): ModelIOContract {
    const c = this.config;
    const latent = { kind: "vector" as const, shape: [c.latentDim] };
    return standardIOContract({
      obsShape: c.obsShape,
      actionDim: c.actionDim,
      actionType: c.actionType,
      capabilities: this.capabilities,
      stateSpec: { tensors: { latent, mean: latent, std: latent } },
      requiredStateKeys: ["latent"],
      requiredBatchKeys: ["obs", "actions", "rewards", "terminations"],
    });
  }

  /** The loss of a `[B, T, ...]` batch, through the components. */
  protected lossImpl(batch: Batch): LossOutput {
    const c = this.config;
    const obs = batchObservations(batch).obs;
    const [B, T] = obs.shape;
    const L = c.latentDim;
    const N = B * T;
    const flat = (t: Tensor) => t.reshape([N, ...t.shape.slice(2)]);
    const mask = batch.mask ? flat(batch.mask) : null; // [N] or null

    // 1. Encode every observation and reconstruct it.
    const enc = this.encodeImpl({ obs: flat(obs) }, { deterministic: false });
    const recon = this.decodeImpl(enc, { conditions: null }).obs;
    const reconLoss = weightedMean(recon.sub(flat(obs)).square().mean(-1), mask);

    // 2. One step of the dynamics from every step, with the action taken there.
    const next = this.transitionImpl(
      new State({ latent: enc.get("latent") }),
      { kind: c.actionType, tensor: flat(batch.actions!) },
      { conditions: null, deterministic: false },
    );

    // 3. Reward and continue of every step, predicted from the predicted next state.
    const pred = this.decodeImpl(next, { conditions: null });
    const terminal = flat(batch.terminations!);
    const alive = terminal.neg().add(1);
    const rewardLoss = weightedMean(
      pred.reward.reshape([N]).sub(flat(batch.rewards!)).square(),
      mask,
    );
    const p = pred.continue.reshape([N]).clamp(1e-6, 1 - 1e-6);
    const bce = alive.mul(p.log()).add(terminal.mul(p.neg().add(1).log())).neg();
    const continueLoss = weightedMean(bce, mask);

    // 4. Consistency: the prediction from step t should land on the encoding of obs_{t+1} (its
    // mean when the encoder gives one), a fixed target. The last step has no successor in the
    // sequence and a terminal step none at all.
    let consistency: Tensor = reconLoss.mul(0);
    if (T > 1) {
      const M = B * (T - 1);
      const first = (t: Tensor) => t.reshape([B, T, ...t.shape.slice(1)]).narrow(1, 0, T - 1);
      const predicted = first(next.get("latent")).reshape([M, L]);
      const targetSrc = enc.has("mean") ? enc.get("mean") : enc.get("latent");
      const target = targetSrc.reshape([B, T, L]).narrow(1, 1, T - 1).reshape([M, L]).detach();
      let w = first(alive).reshape([M]);
      if (mask) {
        // both ends of the pair must be valid steps
        const m = mask.reshape([B, T]);
        w = w.mul(m.narrow(1, 0, T - 1).mul(m.narrow(1, 1, T - 1)).reshape([M]));
      }
      consistency = weightedMean(predicted.sub(target).square().mean(-1), w);
    }

    // 5. A small KL of the posterior to N(0, 1) keeps the latent scale in check.
    let kl: Tensor = reconLoss.mul(0);
    if (enc.has("mean") && enc.has("std")) {
      const m = enc.get("mean");
      const v = enc.get("std").square();
      kl = weightedMean(v.add(m.square()).sub(v.log()).sub(1).mul(0.5).sum(-1), mask);
    }

    const components = {
      recon: reconLoss.mul(c.reconScale),
      reward: rewardLoss.mul(c.rewardScale),
      continue: continueLoss.mul(c.continueScale),
      consistency: consistency.mul(c.consistencyScale),
      kl: kl.mul(c.klScale),
    };
    const loss = Object.values(components).reduce((a, b) => a.add(b));
    return {
      loss,
      components,
      metrics: {
        recon_mse: reconLoss.detach(),
        reward_mse: rewardLoss.detach(),
        continue_bce: continueLoss.detach(),
        consistency_mse: consistency.detach(),
        kl: kl.detach(),
      },
    };
  }
}
