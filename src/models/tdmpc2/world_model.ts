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
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { ShapeError } from "../../errors.ts";
import { type Batch, batchObservations } from "../../core/batch.ts";
import { DefaultActionConditioner } from "../../core/components.ts";
import type { DynamicsModel, ObservationEncoder } from "../../core/components.ts";
import { SimNormLatentSpace } from "../../core/latent.ts";
import type { LossOutput } from "../../core/outputs.ts";
import type { ActionPayload, ConditionPayload } from "../../core/payloads.ts";
import { type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { checkBatch } from "../../core/validation.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import type { EnsembleMLP } from "../../nn/mlp.ts";
import { Module } from "../../nn/module.ts";
import { arange, concat, full, oneHot, stack, zeros } from "../../tensor/creation.ts";
import { topk } from "../../tensor/functional.ts";
import { categorical, type Generator, rand, randn } from "../../tensor/random.ts";
import { noGrad, type Tensor } from "../../tensor/tensor.ts";
import {
  countTDMPC2Parameters,
  type TDMPC2Config,
  tdmpc2ConfigSchema,
  type TDMPC2Dims,
  tdmpc2Dims,
  tdmpc2Discount,
} from "./config.ts";
import {
  type BinSpec,
  boundedLogStd,
  gaussianLogProb,
  RunningScale,
  softCE,
  squash,
  twoHotInv,
} from "./math.ts";
import {
  mapQWeights,
  qEnsemble,
  qForward,
  type QWeights,
  qWeightsOf,
  selectHeads,
  TDMLP,
} from "./networks.ts";

/** Options of {@link TDMPC2WorldModel} (what the registry's factory passes). */
export interface TDMPC2WorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"tdmpc2"`). */
  readonly modelType?: string;
}

/** Random streams of stochastic parts (policy noise, dropout, random Q pairs). */
export interface RandomOpts {
  /** Generator of the draws (default: the global one). */
  readonly generator?: Generator;
}

/** A sample of the policy prior (official `WorldModel.pi` and its info dict). */
export interface PolicySample {
  /** Sampled (squashed) action `[..., A]` (one-hot, straight-through, when discrete). */
  readonly action: Tensor;
  /** Mean action `tanh(mu)` `[..., A]` (one-hot argmax when discrete). */
  readonly mean: Tensor;
  /** `-log pi(a)` `[..., 1]`. */
  readonly entropy: Tensor;
  /** The entropy scaled by the action size (official `scaled_entropy`) `[..., 1]`. */
  readonly scaledEntropy: Tensor;
}

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
export class TDMPC2WorldModel extends WorldModel<TDMPC2Config> {
  /** Reward head on (z, a) (two-hot logits, or a scalar in the legacy variant). */
  readonly reward: TDMLP;
  /** Policy prior on z: mean and raw log-std `[2A]` (logits `[A]` when discrete). */
  readonly pi: TDMLP;
  /** The Q ensemble on (z, a): `numQNetworks` heads as one batched MLP. */
  readonly qs: EnsembleMLP;
  /** Termination logit on z (episodic models only). */
  readonly termination: TDMLP | null;
  /** Target Q heads (buffers `targetQs.*`, soft-updated copies of `qs`). */
  readonly targetQs: QWeights;
  /** Running 5-95 percentile scale of Q values (buffer `scale.value`). */
  readonly runningScale: RunningScale;
  /** The two-hot bins. */
  readonly bins: BinSpec;
  /** The discount (configured, or the official heuristic from the episode length). */
  readonly discount: number;
  /** Layer sizes. */
  readonly dims: TDMPC2Dims;
  /** The latent space (SimNorm, groups of `simnormDim`). */
  readonly latentSpace: SimNormLatentSpace;

  /** Builds the networks from a validated config. */
  constructor(config: TDMPC2Config, opts: TDMPC2WorldModelOptions = {}) {
    super(opts.modelType ?? "tdmpc2", tdmpc2ConfigSchema.parse(config), opts);
    const c = this.config;
    for (
      const cap of [
        "latent_dynamics",
        "representation",
        "reward_pred",
        "continue_pred",
        "planning",
        "value",
        "policy",
      ] as const
    ) this.capabilities.add(cap);
    const d = tdmpc2Dims(c);
    this.dims = d;
    this.bins = { numBins: c.numBins, vmin: c.vmin, vmax: c.vmax };
    this.discount = tdmpc2Discount(c);
    this.latentSpace = new SimNormLatentSpace(c.latentDim, c.simnormDim);
    const layer = { generator: opts.generator, device: this.device };
    const za = c.latentDim + d.actionFeatures;
    // Component slots: the base class routes encode/transition through them (overridable).
    this.observationEncoder = new TDMPC2Encoder(c, d, layer);
    this.actionConditioner = new DefaultActionConditioner(this.contract.actionSpec);
    this.dynamicsModel = new TDMPC2Dynamics(c, d, layer);
    // Heads (official world_model.py: zero-init reward[-1].weight and the Q output weights).
    this.reward = new TDMLP(za, d.hidden, d.headOut, { ...layer, zeroOut: true });
    this.pi = new TDMLP(c.latentDim, d.hidden, d.piOut, layer);
    this.qs = qEnsemble(c.numQNetworks, za, d.hidden, d.headOut, { ...layer, dropout: c.dropout });
    this.termination = c.episodic ? new TDMLP(c.latentDim, d.hidden, 1, layer) : null;
    // Target heads: buffers (saved with the model, not trained), soft-updated from qs.
    this.targetQs = mapQWeights(qWeightsOf(this.qs), (t, name) => {
      const copy = noGrad(() => t.clone()).realize();
      this.registerBuffer(`targetQs.${name}`, copy);
      return copy;
    });
    this.runningScale = new RunningScale(c.tau, this.device);
    this.registerBuffer("scale.value", this.runningScale.value);
    // Official: the model is in eval mode except inside an update.
    this.eval();
  }

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
  // Building blocks (official WorldModel methods: encode, next, reward, pi, Q, termination)
  // -------------------------------------------------------------------------------------------

  /** Action features `[B, A]` from a payload or tensor (through the action conditioner). */
  actionFeatures(
    action: ActionPayload | Tensor | null,
    batch: number,
    device?: DeviceName,
  ): Tensor {
    const payload = this.coerceAction(action);
    const conditioner = this.actionConditioner ??
      new DefaultActionConditioner(this.contract.actionSpec);
    const f = conditioner.condition(new State({}, { batchSize: batch }), payload, null).action;
    return f ?? zeros([batch, this.dims.actionFeatures], { device: device ?? this.device });
  }

  /** Latent `[B, L]` of observations `[B, D]` (official `encode`). */
  encodeLatent(obs: Tensor): Tensor {
    return this.encodeImpl({ obs }, { deterministic: true }).get("latent");
  }

  /** Next latent from `z` `[B, L]` and action features `a` `[B, A]` (official `next`). */
  nextLatent(z: Tensor, a: Tensor): Tensor {
    const dyn = this.dynamicsModel;
    if (dyn instanceof TDMPC2Dynamics) return dyn.next(z, a);
    return dyn!.transition(new State({ latent: z }), { action: a }).get("latent");
  }

  /** Reward logits (or the legacy scalar) of (z, a) `[..., K]` (official `reward`). */
  rewardLogits(z: Tensor, a: Tensor): Tensor {
    return this.reward.forward(concat([z, a], -1));
  }

  /** Scalar value `[...]` of reward/Q head outputs `[..., K]` (two-hot inverse, or legacy). */
  headValue(out: Tensor): Tensor {
    return this.config.variant === "legacy" ? out.squeeze(-1) : twoHotInv(out, this.bins);
  }

  /** Loss `[...]` of head outputs `[..., K]` against scalar targets `[...]` (CE or MSE). */
  headLoss(out: Tensor, target: Tensor): Tensor {
    return this.config.variant === "legacy"
      ? out.squeeze(-1).sub(target).square()
      : softCE(out, target, this.bins);
  }

  /** Predicted reward `[B]` of (z, a). */
  rewardValue(z: Tensor, a: Tensor): Tensor {
    return this.headValue(this.rewardLogits(z, a));
  }

  /** Termination logits `[..., 1]` of latents (official `termination(..., unnormalized=True)`). */
  terminationLogit(z: Tensor): Tensor {
    if (!this.termination) throw new ShapeError("terminationLogit", "the model is not episodic");
    return this.termination.forward(z);
  }

  /**
   * Samples the policy prior at `z` (official `WorldModel.pi`): `mu, log_std = pi(z)`,
   * `log_std` bounded to `[logStdMin, logStdMax]` through tanh, a reparameterised sample
   * squashed by tanh, and the (scaled) entropy. Discrete actions: a straight-through one-hot
   * sample of the categorical with logits `pi(z)`.
   */
  policy(z: Tensor, opts: RandomOpts = {}): PolicySample {
    const c = this.config;
    const out = this.pi.forward(z);
    const A = c.actionDim;
    if (c.actionType === "discrete") {
      const probs = out.softmax(-1);
      const logp = out.logSoftmax(-1);
      const idx = categorical(out, { generator: opts.generator });
      const action = oneHot(idx, A).add(probs.sub(probs.detach()));
      const entropy = probs.mul(logp).sum(-1, true).neg();
      return { action, mean: oneHot(out.argmax(-1), A), entropy, scaledEntropy: entropy };
    }
    const [mu, rawLogStd] = out.split([A, A], -1);
    const logStd = boundedLogStd(rawLogStd, c.logStdMin, c.logStdMax);
    const eps = randn(mu.shape, { generator: opts.generator, device: mu.device });
    const logProb = gaussianLogProb(eps, logStd);
    const scaledLogProb = logProb.mul(A); // official: scale by the action size
    const sq = squash(mu, mu.add(eps.mul(logStd.exp())), logProb);
    const entropyScale = scaledLogProb.div(sq.logProb.add(1e-8));
    return {
      action: sq.action,
      mean: sq.mean,
      entropy: sq.logProb.neg(),
      scaledEntropy: sq.logProb.neg().mul(entropyScale),
    };
  }

  /** The policy's mean action `[B, A]` (deterministic). */
  policyMean(z: Tensor): Tensor {
    const c = this.config;
    const out = this.pi.forward(z);
    if (c.actionType === "discrete") return oneHot(out.argmax(-1), c.actionDim);
    return out.narrow(-1, 0, c.actionDim).tanh();
  }

  /** The live Q weights (the `qs` parameters). */
  qWeights(): QWeights {
    return qWeightsOf(this.qs);
  }

  /**
   * Q logits of every head `[numQ, N, K]` for `z` `[N, L]` and actions `a` `[N, A]` (official
   * `Q(..., return_type='all')`); dropout in training mode.
   */
  qAll(z: Tensor, a: Tensor, opts: RandomOpts = {}): Tensor {
    return qForward(this.qWeights(), concat([z, a], -1), {
      dropoutP: this.qs.training ? this.config.dropout : 0,
      generator: opts.generator,
    });
  }

  /**
   * Q value `[N]` of (z, a) from two random heads (official `Q(..., return_type='min'|'avg')`):
   * `min` or average of the pair, from the target heads (`target`), from the live heads with
   * their parameters detached (`detach`, the policy loss), or the live heads. The pair is
   * drawn on the device and only those two heads are evaluated (their weights are gathered
   * first: the same values as evaluating all heads and picking two).
   */
  qPair(
    z: Tensor,
    a: Tensor,
    opts: RandomOpts & { reduce: "min" | "avg"; target?: boolean; detach?: boolean },
  ): Tensor {
    const c = this.config;
    const live = this.qWeights();
    const base = opts.target
      ? this.targetQs
      : opts.detach
      ? mapQWeights(live, (t) => t.detach())
      : live;
    const idx = topk(rand([c.numQNetworks], { generator: opts.generator, device: z.device }), 2)
      .indices;
    const dropoutP = !opts.target && this.qs.training ? c.dropout : 0;
    const logits = qForward(selectHeads(base, idx), concat([z, a], -1), {
      dropoutP,
      generator: opts.generator,
    });
    const v = this.headValue(logits); // [2, N]
    return opts.reduce === "min" ? v.min(0) : v.sum(0).div(2);
  }

  /** Soft update of the target heads: `target <- (1 - tau) * target + tau * qs` (official). */
  softUpdateTargetQ(tau = this.config.tau): void {
    const src = this.qWeights();
    const pairs: [Tensor, Tensor][] = [];
    mapQWeights(this.targetQs, (t, name) => {
      pairs.push([t, pick(src, name)]);
      return t;
    });
    noGrad(() => {
      for (const [t, s] of pairs) t.assign(t.add(s.sub(t).mul(tau)));
    });
  }

  /** Copies the live heads into the target heads. */
  resetTargetQ(): void {
    this.softUpdateTargetQ(1);
  }

  // -------------------------------------------------------------------------------------------
  // Planning support (used by src/planners through these documented methods)
  // -------------------------------------------------------------------------------------------

  /** Discount of imagined returns. */
  get planningDiscount(): number {
    return this.discount;
  }

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

function pick(q: QWeights, name: string): Tensor {
  const [group, idx, field] = name.split(".");
  if (group === "out") return q.out[idx as "weight" | "bias"];
  const list = group === "layers" ? q.layers : q.norms;
  return list[Number(idx)][field as "weight" | "bias"];
}
