/**
 * `TDMPC2WorldModel`: the implicit TD-MPC2 world model (Hansen et al. 2024), structured as the
 * official `tdmpc2/common/world_model.py`: a NormedLinear encoder to a SimNorm latent (groups
 * of 8), SimNorm dynamics on (z, a), a two-hot reward head on (z, a), an ensemble of two-hot Q
 * heads on (z, a) (one batched matmul per layer, dropout after the first Linear, zero-init
 * output layers) with target heads updated by soft updates, a tanh-Gaussian policy prior with a
 * bounded log-std, and (episodic tasks) a termination head.
 *
 * Data convention (as the `mlp` family and the official buffer): `batch.actions[:, t]` is taken
 * in `batch.obs[:, t]`, earns `batch.rewards[:, t]`, and `batch.terminations[:, t] = 1` when
 * that step ends the episode. `loss()` uses the first `horizon + 1` steps of a sequence.
 *
 * Contract: state `latent` `[L]` (plus `reward` `[1]` after `transition`: the reward of the
 * step that led there); `decode()` predicts `reward` `[1]`, `continue` `[1]`, `q_values`
 * `[numQ]` (Q of the policy's mean action, per head) and `action` `[A]` (the policy's mean
 * action). The agent update (world model, policy, target heads) is {@link TDMPC2Agent}.
 *
 * The networks and the official building blocks on them (encode, next, reward, pi, Q,
 * termination, target heads) are {@link TDMPC2Network} (`network.ts`); this file is how they
 * meet the `WorldModel` contract: the IO contract, the encode/transition/decode hooks, the
 * planning hooks and the losses.
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { ShapeError } from "../../errors.ts";
import { type Batch, batchObservations } from "../../core/batch.ts";
import { DefaultActionConditioner } from "../../core/components.ts";
import type { LossOutput } from "../../core/outputs.ts";
import type { ActionPayload, ConditionPayload } from "../../core/payloads.ts";
import { type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { checkBatch } from "../../core/validation.ts";
import { arange, concat, full, stack, zeros } from "../../tensor/creation.ts";
import { noGrad, type Tensor } from "../../tensor/tensor.ts";
import { countTDMPC2Parameters, type TDMPC2Config, tdmpc2ConfigSchema } from "./config.ts";
import { qForward } from "./networks.ts";
import { TDMPC2Dynamics } from "./components.ts";
import { type RandomOpts, TDMPC2Network } from "./network.ts";

/** Time-major training tensors (what the loss and the agent work on). */
export interface TimeMajorBatch {
  /** Observations `[H + 1, B, D]`. */
  readonly obs: Tensor;
  /** Action features `[H, B, A]` (one-hot when discrete). */
  readonly actions: Tensor;
  /** Rewards `[H, B]`. */
  readonly rewards: Tensor;
  /** Terminations `[H, B]` (episodic models), else null. */
  readonly terminations: Tensor | null;
}

/** The world-model loss terms and what the policy update reuses. */
export interface WorldModelLossParts {
  /** `consistency * 20 + reward * 0.1 + termination + value * 0.1` (official `total_loss`). */
  readonly total: Tensor;
  /** Latent consistency (MSE, rho-weighted mean over the horizon), unweighted. */
  readonly consistency: Tensor;
  /** Reward cross-entropy (or MSE), unweighted. */
  readonly reward: Tensor;
  /** Value cross-entropy (or MSE) over every Q head, unweighted. */
  readonly value: Tensor;
  /** Termination BCE (0 for non-episodic models), unweighted. */
  readonly termination: Tensor;
  /** Latents of the rollout `[H + 1, B, L]` (with gradients). */
  readonly zs: Tensor;
}

/**
 * TD-MPC2 world model. Build it with `createWorldModel("tdmpc2:5m", { obsShape, actionDim })`;
 * train it with {@link TDMPC2Agent} (`model.createAgent()`), plan with `MPPIPlanner`.
 *
 * @example
 * ```ts
 * import { createWorldModel, randn } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [39], actionDim: 6 });
 * const s = model.encode(randn([4, 39]));
 * const out = model.decode(s);
 * console.log(out.predictions.q_values.shape); // [4, 2]
 * ```
 */
export class TDMPC2WorldModel extends TDMPC2Network {
  /** The schema defaults of every field. */
  static defaults(): TDMPC2Config {
    return tdmpc2ConfigSchema.parse({});
  }

  /** Trainable parameters counted from the config (no allocation). */
  static countParameters(c: TDMPC2Config): number {
    return countTDMPC2Parameters(c);
  }

  /**
   * Observations `obs [B, D]`; actions of the configured type; state `latent` (required) and
   * `reward` (after `transition`); predictions `reward`, `continue`, `q_values`, `action`;
   * batches need `obs`, `actions`, `rewards` (`terminations` for episodic models).
   */
  ioContract(): ModelIOContract {
    const c = this.config;
    return standardIOContract({
      obsShape: c.obsShape,
      actionDim: c.actionDim,
      actionType: c.actionType,
      capabilities: this.capabilities,
      stateSpec: {
        tensors: {
          latent: { kind: "vector", shape: [c.latentDim] },
          reward: { kind: "vector", shape: [1] },
        },
      },
      requiredStateKeys: ["latent"],
      requiredBatchKeys: c.episodic
        ? ["obs", "actions", "rewards", "terminations"]
        : ["obs", "actions", "rewards"],
      extra: {
        predictionSpec: {
          tensors: {
            reward: { kind: "vector", shape: [1] },
            continue: { kind: "vector", shape: [1] },
            q_values: { kind: "vector", shape: [c.numQNetworks] },
            action: { kind: "vector", shape: [c.actionDim] },
          },
        },
      },
    });
  }

  /** Checks a batch against the contract (as `loss()` does). */
  validateBatch(batch: Batch, op = "update"): void {
    checkBatch(this.validator, this.contract, op, batch);
  }

  // -------------------------------------------------------------------------------------------
  // Planning support (used by src/planners through these documented methods)
  // -------------------------------------------------------------------------------------------

  /** Discount of imagined returns. */
  get planningDiscount(): number {
    return this.discount;
  }

  /** Imagined steps are deterministic (latent dynamics and reward head: no sampling, no dropout). */
  readonly deterministicImagination: boolean = true;

  /** The official MPPI settings of this config (for `new MPPIPlanner(model.plannerDefaults())`). */
  plannerDefaults(): {
    horizon: number;
    iterations: number;
    numSamples: number;
    numElites: number;
    numPiTrajs: number;
    minStd: number;
    maxStd: number;
    temperature: number;
  } {
    const c = this.config;
    return {
      horizon: c.horizon,
      iterations: c.iterations + 2 * Number(c.actionDim >= 20), // official heuristic
      numSamples: c.numSamples,
      numElites: c.numElites,
      numPiTrajs: c.numPiTrajs,
      minStd: c.minStd,
      maxStd: c.maxStd,
      temperature: c.temperature,
    };
  }

  /**
   * One imagined step for planners: next state, reward `[B]` of (z, a), and (episodic models)
   * the 0/1 continue flag of the next latent (official `_estimate_value`: termination when the
   * termination probability exceeds 0.5), else null.
   */
  imagineStep(
    state: State,
    action: ActionPayload | Tensor,
  ): { state: State; reward: Tensor; continue: Tensor | null } {
    const z = state.get("latent");
    const a = this.actionFeatures(action, z.shape[0], z.device);
    const next = this.nextLatent(z, a);
    const r = this.rewardValue(z, a);
    const cont = this.termination
      ? this.terminationLogit(next).reshape([-1]).le(0).cast("float32")
      : null;
    return {
      state: new State({ latent: next, reward: r.unsqueeze(-1) }),
      reward: r,
      continue: cont,
    };
  }

  /**
   * {@link TDMPC2WorldModel.imagineStep} from each state `[B]` under `n` actions each (rows
   * `b * n ..` of `action` belong to state `b`), sharing each latent's part of the first layer
   * of the dynamics and reward heads (planning: every candidate starts from the same latent).
   */
  imagineStepShared(
    state: State,
    n: number,
    action: ActionPayload | Tensor,
  ): { state: State; reward: Tensor; continue: Tensor | null } {
    const z = state.get("latent");
    const [B, L] = z.shape;
    const a = this.actionFeatures(action, B * n, z.device);
    const dyn = this.dynamicsModel;
    if (!(dyn instanceof TDMPC2Dynamics)) {
      const zr = z.unsqueeze(1).expand([B, n, L]).reshape([B * n, L]);
      return this.imagineStep(new State({ latent: zr }), a);
    }
    const a3 = a.reshape([B, n, this.dims.actionFeatures]);
    const next = dyn.nextShared(z, a3);
    const r = this.headValue(this.reward.forwardShared(z, a3));
    const cont = this.termination
      ? this.terminationLogit(next).reshape([-1]).le(0).cast("float32")
      : null;
    return {
      state: new State({ latent: next, reward: r.unsqueeze(-1) }),
      reward: r,
      continue: cont,
    };
  }

  /** Terminal value `[B]`: Q (average of two random heads) of a policy sample (official). */
  terminalValue(state: State, opts: RandomOpts = {}): Tensor {
    const z = state.get("latent");
    const a = this.policy(z, opts).action;
    return this.qPair(z, a, { ...opts, reduce: "avg" });
  }

  /** A policy-prior action `[B, A]` at the state (a sample, or the mean when deterministic). */
  policyAction(state: State, opts: RandomOpts & { deterministic?: boolean } = {}): Tensor {
    const z = state.get("latent");
    return opts.deterministic ? this.policyMean(z) : this.policy(z, opts).action;
  }

  // -------------------------------------------------------------------------------------------
  // WorldModel hooks
  // -------------------------------------------------------------------------------------------

  /** Next state `{ latent, reward }`: the dynamics and the reward of the step taken. */
  protected override transitionImpl(
    state: State,
    action: ActionPayload | null,
    opts: { conditions: ConditionPayload | null; deterministic: boolean },
  ): State {
    const conditioner = this.actionConditioner ??
      new DefaultActionConditioner(this.contract.actionSpec);
    const conditioned = conditioner.condition(state, action, opts.conditions);
    const z = state.get("latent");
    const a = conditioned.action ??
      zeros([z.shape[0], this.dims.actionFeatures], { device: z.device });
    const next = this.dynamicsModel!.transition(state, { ...conditioned, action: a }, {
      deterministic: opts.deterministic,
    });
    return next.with({ reward: this.rewardValue(z, a).unsqueeze(-1) });
  }

  /**
   * Predictions of a state: `reward` (of the step that led here when the state came from
   * `transition`, else of the policy's mean action), `continue` (1 - termination probability,
   * or 1), `q_values` of every head at the policy's mean action, and that `action`.
   */
  protected override decodeImpl(
    state: State,
    opts: { conditions: ConditionPayload | null },
  ): Record<string, Tensor> {
    if (this.decoder) return this.decoder.decode(state, opts.conditions);
    const z = state.get("latent");
    const a = this.policyMean(z);
    const q = this.headValue(qForward(this.qWeights(), concat([z, a], -1))); // [numQ, B]
    const reward = state.has("reward") ? state.get("reward") : this.rewardValue(z, a).unsqueeze(-1);
    const cont = this.termination
      ? this.terminationLogit(z).sigmoid().neg().add(1)
      : full([z.shape[0], 1], 1, { device: z.device });
    return { reward, continue: cont, q_values: q.transpose([1, 0]), action: a };
  }

  /** The uniform SimNorm latent (every group at 1 / simnormDim). */
  protected override initialStateImpl(batchSize: number, device: DeviceName): State {
    const c = this.config;
    return new State({
      latent: full([batchSize, c.latentDim], 1 / c.simnormDim, { device }),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Losses
  // -------------------------------------------------------------------------------------------

  /**
   * The training tensors of a `[B, T, ...]` batch, time-major, over the first `H + 1` steps
   * (`H = min(horizon, T - 1)`): observations `[H + 1, B, D]`, action features, rewards and
   * terminations `[H, B, ...]`.
   */
  timeMajor(batch: Batch): TimeMajorBatch {
    const obs = batchObservations(batch).obs;
    if (!obs || obs.rank !== 3) {
      throw new ShapeError("tdmpc2.loss", `batch.obs must be [B, T, D], got [${obs?.shape}]`);
    }
    const [B, T] = obs.shape;
    if (T < 2) throw new ShapeError("tdmpc2.loss", `sequences need T >= 2 steps, got ${T}`);
    const H = Math.min(this.config.horizon, T - 1);
    const tm = (t: Tensor, n: number) => t.narrow(1, 0, n).swapAxes(0, 1).contiguous();
    const act = batch.actions!;
    const actT = tm(act, H); // [H, B, ...]
    const feats = this.actionFeatures(actT.reshape([H * B, ...act.shape.slice(2)]), H * B)
      .reshape([H, B, this.dims.actionFeatures]);
    const terms = batch.terminations && this.config.episodic ? tm(batch.terminations, H) : null;
    return {
      obs: tm(obs, H + 1),
      actions: feats,
      rewards: tm(batch.rewards!, H),
      terminations: terms,
    };
  }

  /**
   * TD targets `[H, B]` (official `_td_target`, no gradient): `r + discount * (1 - term) *
   * min(Q_target(z', pi(z')))` over two random target heads.
   */
  tdTargets(nextZ: Tensor, rewards: Tensor, terms: Tensor | null, opts: RandomOpts = {}): Tensor {
    return noGrad(() => {
      const [H, B, L] = nextZ.shape;
      const flat = nextZ.reshape([H * B, L]);
      const a = this.policy(flat, opts).action;
      let q = this.qPair(flat, a, { ...opts, reduce: "min", target: true }).reshape([H, B]);
      q = q.mul(this.discount);
      if (terms) q = q.mul(terms.neg().add(1));
      return rewards.add(q);
    });
  }

  /**
   * The world-model loss of time-major tensors (official `TDMPC2._update`, up to the backward
   * pass): consistency (MSE of the latent rollout to the encoded next observations), reward and
   * value (two-hot cross-entropy, value over every Q head against the TD targets), weighted by
   * `rho^t` and averaged over the horizon (and heads); termination BCE for episodic models.
   */
  worldModelLoss(tb: TimeMajorBatch, opts: RandomOpts = {}): WorldModelLossParts {
    const c = this.config;
    const [H, B] = tb.rewards.shape;
    const D = tb.obs.shape[2];
    const L = c.latentDim;
    const A = this.dims.actionFeatures;
    const dev = tb.obs.device;
    // Targets: encodings of the next observations and TD targets (no gradient).
    const nextZ = noGrad(() =>
      this.encodeLatent(tb.obs.narrow(0, 1, H).reshape([H * B, D])).reshape([H, B, L])
    );
    const td = this.tdTargets(nextZ, tb.rewards, tb.terminations, opts);
    // Latent rollout.
    let z = this.encodeLatent(tb.obs.narrow(0, 0, 1).reshape([B, D]));
    const zs = [z];
    for (let t = 0; t < H; t++) {
      z = this.nextLatent(z, tb.actions.narrow(0, t, 1).reshape([B, A]));
      zs.push(z);
    }
    const zsAll = stack(zs, 0); // [H + 1, B, L]
    const w = arange(H, { device: dev }).cast("float32").mul(Math.log(c.rho)).exp(); // rho^t [H]
    const consistency = zsAll.narrow(0, 1, H).sub(nextZ).square().mean([1, 2]).mul(w).sum().div(H);
    // Predictions at z_0 .. z_{H-1} with the actions taken.
    const zPrev = zsAll.narrow(0, 0, H).reshape([H * B, L]);
    const aFlat = tb.actions.reshape([H * B, A]);
    const rewardLoss = this.headLoss(this.rewardLogits(zPrev, aFlat), tb.rewards.reshape([H * B]))
      .reshape([H, B]).mean(1).mul(w).sum().div(H);
    const qs = this.qAll(zPrev, aFlat, opts); // [numQ, H * B, K]
    const N = qs.shape[0];
    // (one two-hot target per row, broadcast over the heads)
    const valueLoss = this.headLoss(qs, td.reshape([H * B]))
      .reshape([N, H, B]).mean(2).mul(w).sum().div(H * N);
    let termination: Tensor;
    if (this.termination && tb.terminations) {
      const logits = this.terminationLogit(zsAll.narrow(0, 1, H)).reshape([H, B]);
      // BCE with logits: softplus(x) - y * x
      termination = logits.softplus().sub(tb.terminations.mul(logits)).mean();
    } else {
      termination = full([], 0, { device: dev });
    }
    const total = consistency.mul(c.consistencyCoef)
      .add(rewardLoss.mul(c.rewardCoef))
      .add(termination.mul(c.terminationCoef))
      .add(valueLoss.mul(c.valueCoef));
    return {
      total,
      consistency,
      reward: rewardLoss,
      value: valueLoss,
      termination,
      zs: zsAll,
    };
  }

  /**
   * The policy loss on latents `zs` `[H + 1, B, L]` (official `update_pi`, detached Q
   * parameters): `mean_t rho^t * -(entropyCoef * scaledEntropy + Q / scale).mean()`, with the
   * running Q scale updated from `Q` at `t = 0` first. Returns the loss and the new scale value
   * (lazy; write it with `runningScale.commit`).
   */
  policyLoss(
    zs: Tensor,
    opts: RandomOpts = {},
  ): { loss: Tensor; scale: Tensor; entropy: Tensor; scaledEntropy: Tensor } {
    const c = this.config;
    const [T1, B, L] = zs.shape;
    const flat = zs.reshape([T1 * B, L]);
    const p = this.policy(flat, opts);
    const q = this.qPair(flat, p.action, { ...opts, reduce: "avg", detach: true }).reshape([T1, B]);
    const scale = this.runningScale.next(q.narrow(0, 0, 1).reshape([B, 1]));
    const qn = q.div(scale);
    const w = arange(T1, { device: zs.device }).cast("float32").mul(Math.log(c.rho)).exp();
    const obj = p.scaledEntropy.reshape([T1, B]).mul(c.entropyCoef).add(qn).mean(1).neg();
    return {
      loss: obj.mul(w).mean(),
      scale,
      entropy: p.entropy.mean(),
      scaledEntropy: p.scaledEntropy.mean(),
    };
  }

  /**
   * World-model loss of a `[B, T, ...]` batch: weighted `consistency`, `reward`, `value` and
   * `termination` components (they sum to `loss`, the official `total_loss`); metrics hold the
   * unweighted terms under the official names (`consistency_loss`, ..., `total_loss`).
   */
  protected lossImpl(batch: Batch): LossOutput {
    const c = this.config;
    const parts = this.worldModelLoss(this.timeMajor(batch));
    return {
      loss: parts.total,
      components: {
        consistency: parts.consistency.mul(c.consistencyCoef),
        reward: parts.reward.mul(c.rewardCoef),
        value: parts.value.mul(c.valueCoef),
        termination: parts.termination.mul(c.terminationCoef),
      },
      metrics: {
        consistency_loss: parts.consistency.detach(),
        reward_loss: parts.reward.detach(),
        value_loss: parts.value.detach(),
        termination_loss: parts.termination.detach(),
        total_loss: parts.total.detach(),
      },
    };
  }
}
