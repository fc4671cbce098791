/**
 * TD-MPC2's encoder and latent dynamics as the `WorldModel` contract's component slots
 * (`observationEncoder`, `dynamicsModel`): the official `_encoder` and `_dynamics` networks.
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import type { DynamicsModel, ObservationEncoder } from "../../core/components.ts";
import { State } from "../../core/state.ts";
import { Module } from "../../nn/module.ts";
import { concat, zeros } from "../../tensor/creation.ts";
import type { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import type { TDMPC2Config, TDMPC2Dims } from "./config.ts";
import { TDMLP } from "./networks.ts";

/** Observation encoder: `obs [B, D]` -> SimNorm latent (official `layers.enc`, state obs). */
export class TDMPC2Encoder extends Module implements ObservationEncoder {
  /** `obs -> latent` (NormedLinear layers, the last with SimNorm). */
  readonly net: TDMLP;

  /** Builds the encoder. */
  constructor(
    c: TDMPC2Config,
    d: TDMPC2Dims,
    opts: { generator?: Generator; device?: DeviceName },
  ) {
    super();
    this.net = new TDMLP(d.obsDim, d.encHidden, c.latentDim, {
      ...opts,
      outAct: "simnorm",
      simnormDim: c.simnormDim,
    });
  }

  /** Encodes `observations.obs` into `{ latent }`. */
  encode(observations: Readonly<Record<string, Tensor>>): State {
    return new State({ latent: this.net.forward(observations.obs) });
  }
}

/**
 * Latent dynamics on (z, a): official `_dynamics` (NormedLinear layers ending in SimNorm), or
 * in the legacy variant `simnorm(z + mlp(z, a))` (residual). A missing action reads as zeros.
 */
export class TDMPC2Dynamics extends Module implements DynamicsModel {
  /** `[z, a] -> z'` (or the residual). */
  readonly net: TDMLP;
  readonly #legacy: boolean;
  readonly #simnormDim: number;
  readonly #actionDim: number;

  /** Builds the dynamics. */
  constructor(
    c: TDMPC2Config,
    d: TDMPC2Dims,
    opts: { generator?: Generator; device?: DeviceName },
  ) {
    super();
    this.#legacy = c.variant === "legacy";
    this.#simnormDim = c.simnormDim;
    this.#actionDim = d.actionFeatures;
    this.net = new TDMLP(c.latentDim + d.actionFeatures, d.hidden, c.latentDim, {
      ...opts,
      outAct: this.#legacy ? null : "simnorm",
      simnormDim: c.simnormDim,
    });
  }

  /** The next latent from `z` `[..., L]` and action features `a` `[..., A]`. */
  next(z: Tensor, a: Tensor): Tensor {
    const y = this.net.forward(concat([z, a], -1));
    if (!this.#legacy) return y;
    const s = z.add(y);
    const lead = s.shape.slice(0, -1);
    const L = s.shape[s.rank - 1];
    return s.reshape([...lead, L / this.#simnormDim, this.#simnormDim]).softmax(-1).reshape(
      [...lead, L],
    );
  }

  /**
   * Next latents `[B * n, L]` of each latent `z` `[B, L]` under `n` actions `a` `[B, n, A]`,
   * without repeating `z` in the first layer (see `TDMLP.forwardShared`).
   */
  nextShared(z: Tensor, a: Tensor): Tensor {
    const y = this.net.forwardShared(z, a);
    if (!this.#legacy) return y;
    const [B, n] = a.shape;
    const L = z.shape[1];
    const g = this.#simnormDim;
    return z.unsqueeze(1).add(y.reshape([B, n, L])).reshape([B * n, L / g, g]).softmax(-1)
      .reshape([B * n, L]);
  }

  /** The next state `{ latent }`. */
  transition(state: State, conditioned: Readonly<Record<string, Tensor>>): State {
    const z = state.get("latent");
    const a = conditioned.action ?? zeros([z.shape[0], this.#actionDim], { device: z.device });
    return new State({ latent: this.next(z, a) });
  }
}
