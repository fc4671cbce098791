/**
 * The components of the `mlp` family, one per pluggable slot. Each is a `Module` (its
 * parameters appear in the model's state dict under the slot name, e.g.
 * `observationEncoder.net.0.weight`) and implements the slot's interface from `src/core`, so
 * any of them can be swapped with `componentOverrides`.
 * @module
 */

import type { Decoder, DynamicsModel, ObservationEncoder } from "../../core/components.ts";
import { GaussianLatentSpace } from "../../core/latent.ts";
import { State } from "../../core/state.ts";
import type { LayerOptions } from "../../nn/layers.ts";
import { Module, type Sequential } from "../../nn/module.ts";
import { mlp, type MLPOptions } from "../../nn/mlp.ts";
import { concat, zeros } from "../../tensor/creation.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import type { MLPConfig } from "./config.ts";

/** Layer options shared by the family's MLPs (device, generator, norm, activation). */
export type MLPLayerOptions = MLPOptions & LayerOptions;

function hidden(c: MLPConfig): number[] {
  return Array(c.depth).fill(c.hiddenDim);
}

/**
 * Observation encoder: `obs [B, D]` -> Gaussian parameters `[B, 2L]` -> state
 * `{ latent, mean, std }` (`latent` is a reparameterised sample, or the mean when
 * deterministic).
 */
export class MLPEncoder extends Module implements ObservationEncoder {
  /** `obs -> [mean, rawStd]`. */
  readonly net: Sequential;
  /** How the parameters become a distribution (std via softplus). */
  readonly latentSpace: GaussianLatentSpace;

  /** Builds the encoder for `config`. */
  constructor(config: MLPConfig, layer: MLPLayerOptions) {
    super();
    this.latentSpace = new GaussianLatentSpace(config.latentDim, {
      stdParam: "softplus",
      minStd: config.minStd,
    });
    this.net = mlp(config.obsShape[0], hidden(config), this.latentSpace.paramDim, layer);
  }

  /** Encodes `observations.obs`. */
  encode(
    observations: Readonly<Record<string, Tensor>>,
    opts: { deterministic?: boolean } = {},
  ): State {
    const params = this.net.forward(observations.obs);
    const { mean, std } = this.latentSpace.split(params);
    const latent = opts.deterministic ? mean : this.latentSpace.sample(params);
    return new State({ latent, mean, std });
  }
}

/**
 * Dynamics: `latent' = latent + f(concat(latent, action))` (a residual MLP). A missing
 * `conditioned.action` (e.g. from a conditioner that drops actions) is read as zeros.
 */
export class MLPDynamics extends Module implements DynamicsModel {
  /** `[latent, action] -> delta`. */
  readonly net: Sequential;

  /** Builds the dynamics for `config`. */
  constructor(readonly config: MLPConfig, layer: MLPLayerOptions) {
    super();
    this.net = mlp(config.latentDim + config.actionDim, hidden(config), config.latentDim, layer);
  }

  /** The next state `{ latent }`. */
  transition(state: State, conditioned: Readonly<Record<string, Tensor>>): State {
    const z = state.get("latent");
    const a = conditioned.action ??
      zeros([z.shape[0], this.config.actionDim], { device: z.device });
    const delta = this.net.forward(concat([z, a], -1));
    return new State({ latent: z.add(delta) });
  }
}

/**
 * Decoder: three heads on the latent: the observation `[B, D]`, the reward `[B, 1]` and the
 * continue probability `[B, 1]` (sigmoid of a logit). Reward and continue heads start at zero.
 */
export class MLPDecoder extends Module implements Decoder {
  /** `latent -> obs`. */
  readonly obs: Sequential;
  /** `latent -> reward`. */
  readonly reward: Sequential;
  /** `latent -> continue logit`. */
  readonly cont: Sequential;

  /** Builds the heads for `config`. */
  constructor(config: MLPConfig, layer: MLPLayerOptions) {
    super();
    const h = hidden(config);
    this.obs = mlp(config.latentDim, h, config.obsShape[0], layer);
    this.reward = mlp(config.latentDim, h, 1, { ...layer, outInit: "zeros" });
    this.cont = mlp(config.latentDim, h, 1, { ...layer, outInit: "zeros" });
  }

  /** Predictions `{ obs, reward, continue }` of a state. */
  decode(state: State): Record<string, Tensor> {
    const z = state.get("latent");
    return {
      obs: this.obs.forward(z),
      reward: this.reward.forward(z),
      continue: this.cont.forward(z).sigmoid(),
    };
  }
}
