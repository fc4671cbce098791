/**
 * `DreamerV3WorldModel`: the RSSM world model of DreamerV3 behind the world-model contract
 * (state keys `deter`, `stoch`; predictions `obs`, `reward`, `continue`; batches `obs`,
 * `actions`, `rewards`, `terminations`, optional `extras.isFirst` and `mask`).
 *
 * Data convention (the repository's, TD-MPC2 style, as the replay buffer samples it):
 * `actions[:, t]` is taken after observation t and earns `rewards[:, t]`; `terminations[:, t]`
 * says that action ended the episode. The RSSM (official convention) feeds step t the previous
 * action, so the state that follows action t predicts `rewards[:, t]` and
 * `1 - terminations[:, t]`: the core step with action t from step t's posterior and a sample of
 * the prior, the state imagination would reach. (The official layout stores the observation an
 * action leads to, the terminal one included, and trains the heads on its posterior; this
 * replay keeps no terminal observation, and judging only terminations from the prior would
 * teach the continue head that prior samples end episodes.) This is what `rollout` reports:
 * `decode(transition(s_t, a_t))` predicts the reward of a_t. `extras.isFirst` resets the state
 * (sequences may span episodes).
 *
 * Loss (official `dreamerv3/agent.py` `loss`): reconstruction (vectors: squared error of
 * symlog(obs), images: squared error, both summed over the observation's elements), reward
 * (two-hot cross-entropy over 255 exponentially spaced bins), continue (Bernoulli), dyn and rep
 * (KL balancing with free bits), each averaged over `[B, T]` and weighted by its scale.
 * @module
 */

import { type Batch, batchObservations, resolveBatchKey } from "../../core/batch.ts";
import type { ComponentSlot } from "../../core/components.ts";
import { ContractError } from "../../core/errors.ts";
import { type LossOutput, Trajectory } from "../../core/outputs.ts";
import type { ActionPayload, ActionSequence, ConditionPayload } from "../../core/payloads.ts";
import { type ModalitySpec, type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { checkBatch } from "../../core/validation.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import type { DeviceName } from "../../backend/types.ts";
import { concat, oneHot, stack, zeros } from "../../tensor/creation.ts";
import { defaultGenerator, type Generator } from "../../tensor/random.ts";
import { keep, type Tensor } from "../../tensor/tensor.ts";
import { ActorCritic } from "./actor_critic.ts";
import {
  type DreamerV3Config,
  dreamerV3ConfigSchema,
  featDim,
  type ObsLayout,
  obsLayout,
} from "./config.ts";
import { BinaryHead, TwoHotHead } from "./heads.ts";
import { binaryLoss, twohotBins } from "./losses.ts";
import { MultiDecoder, MultiEncoder, netOptions } from "./networks.ts";
import { RSSM, type RSSMState } from "./rssm.ts";

/** Options of {@link DreamerV3WorldModel} (what the registry's factory passes). */
export interface DreamerV3WorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"dreamerv3"`). */
  readonly modelType?: string;
}

/** What {@link DreamerV3WorldModel.lossWithStates} returns. */
export interface DreamerLossResult {
  /** The world-model loss. */
  readonly out: LossOutput;
  /** Posterior states of every step, flattened to `[B * T, ...]` (imagination starts). */
  readonly post: RSSMState;
  /** Posterior features `[B, T, F]` (with gradients; the replay value loss reads them). */
  readonly feat: Tensor;
  /**
   * Features of the state each action leads to `[B, T, F]`: the core step with the action and a
   * prior sample (what the reward and continue heads read).
   */
  readonly succ: Tensor;
}

/** `sum(x * w) / max(sum(w), 1)`, or the mean without weights. */
function weightedMean(x: Tensor, w: Tensor | null): Tensor {
  return w ? x.mul(w).sum().div(w.sum().maximum(1)) : x.mean();
}

/**
 * The DreamerV3 world model (and, with `actorCritic`, its actor and critic).
 *
 * @example
 * ```ts
 * import { createWorldModel, randn, zeros } from "@worldflux/worldflux";
 * const model = await createWorldModel("dreamer:ci", { obsShape: [8], actionDim: 2 });
 * const out = model.loss({
 *   obs: randn([2, 5, 8]),
 *   actions: randn([2, 5, 2]),
 *   rewards: zeros([2, 5]),
 *   terminations: zeros([2, 5]),
 * });
 * console.log(Object.keys(out.components)); // reconstruction, reward, continue, dyn, rep
 * ```
 */
export class DreamerV3WorldModel extends WorldModel<DreamerV3Config> {
  /** Observation encoder (symlog MLP and/or CNN). */
  encoder: MultiEncoder;
  /** The RSSM (core, prior, posterior). */
  rssm: RSSM;
  /** Observation decoder. */
  obsDecoder: MultiDecoder;
  /** Reward head (two-hot). */
  reward: TwoHotHead;
  /** Continue head (Bernoulli). */
  cont: BinaryHead;
  /** Actor and critic (null when `actorCritic` is false). */
  actorCritic: ActorCritic | null;
  /** How observations split between MLP and CNN. */
  readonly layout: ObsLayout;
  /** Random stream of the latent samples (default: the global generator). */
  sampleGenerator: Generator | undefined;
  readonly #bins: Tensor;

  /** Builds the model from a validated config. */
  constructor(config: DreamerV3Config, opts: DreamerV3WorldModelOptions = {}) {
    super(opts.modelType ?? "dreamerv3", dreamerV3ConfigSchema.parse(config), opts);
    const c = this.config;
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
    if (c.actorCritic) {
      this.capabilities.add("policy");
      this.capabilities.add("value");
    }
    this.layout = obsLayout(c);
    const o = netOptions(c, this.device, opts.generator ?? defaultGenerator());
    this.encoder = new MultiEncoder(this.layout, c, o);
    this.rssm = new RSSM(c, this.encoder.outDim, o);
    const F = featDim(c);
    this.obsDecoder = new MultiDecoder(this.layout, c, o);
    this.reward = new TwoHotHead(F, c, c.rewLayers, o);
    this.cont = new BinaryHead(F, c, c.conLayers, o);
    this.actorCritic = c.actorCritic ? new ActorCritic(this, c, o) : null;
    this.#bins = keep(twohotBins(c.bins, c.binRange, this.device));
    this.sampleGenerator = undefined;
  }

  /** The two-hot bins (raw values, see `twohotBins`) `[bins]`. */
  get bins(): Tensor {
    return this.#bins;
  }

  /** Parameters of the world model alone (encoder, RSSM, decoder, reward and continue heads). */
  worldModelParameters(): Tensor[] {
    return [
      ...this.encoder.parameters(),
      ...this.rssm.parameters(),
      ...this.obsDecoder.parameters(),
      ...this.reward.parameters(),
      ...this.cont.parameters(),
    ];
  }

  /** Validates a batch against the contract (what `loss()` does first). */
  checkBatch(batch: Batch): void {
    checkBatch(this.validator, this.contract, "loss", batch);
  }

  /** Only the rollout executor can be overridden (the RSSM does not route through components). */
  override componentSlots(): readonly ComponentSlot[] {
    return ["rolloutExecutor"];
  }

  /**
   * Observations `obs` (or the dict keys), the configured actions; state `deter [D]` and
   * `stoch [S * K]` (flat one-hot); predictions `obs` (dict observations: one per key),
   * `reward`, `continue`; batches need `obs`, `actions`, `rewards`, `terminations`
   * (`extras.isFirst` and `mask` are read when present).
   */
  ioContract(): ModelIOContract {
    const c = this.config;
    const stateSpec = {
      tensors: {
        deter: { kind: "vector" as const, shape: [c.deter] },
        stoch: { kind: "vector" as const, shape: [c.stoch * c.classes] },
      },
    };
    let extra = {};
    if (c.observations) {
      const mods: Record<string, ModalitySpec> = {};
      for (const { key, shape } of obsLayout(c).keys) {
        mods[key] = { kind: shape.length === 3 ? "image" : "vector", shape: [...shape] };
      }
      const preds: Record<string, ModalitySpec> = { ...mods };
      preds.reward = { kind: "vector", shape: [1] };
      preds.continue = { kind: "vector", shape: [1] };
      extra = {
        observationSpec: { modalities: mods },
        inputSpec: { modalities: mods },
        targetSpec: { modalities: {} },
        predictionSpec: { tensors: preds },
      };
    }
    return standardIOContract({
      obsShape: c.observations ? [1] : c.obsShape,
      actionDim: c.actionDim,
      actionType: c.actionType,
      capabilities: this.capabilities,
      stateSpec,
      requiredStateKeys: ["deter", "stoch"],
      requiredBatchKeys: ["obs", "actions", "rewards", "terminations"],
      extra,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------

  /** Features `concat(h, flat z)` `[..., F]`. */
  features(s: RSSMState): Tensor {
    return concat([s.deter, s.stoch], -1);
  }

  /** Actions as float `[..., A]` (discrete int32 indices become one-hot). */
  actionFeatures(a: Tensor): Tensor {
    if (a.dtype === "int32") return oneHot(a, this.config.actionDim);
    return a.dtype === "float32" ? a : a.cast("float32");
  }

  #payloadAction(action: ActionPayload | null, batch: number): Tensor {
    const t = action?.tensor ?? action?.latent ?? null;
    if (!t || action?.kind === "none") {
      return zeros([batch, this.config.actionDim], { device: this.device });
    }
    return this.actionFeatures(t);
  }

  #rssmState(state: State): RSSMState {
    return { deter: state.get("deter"), stoch: state.get("stoch") };
  }

  #state(s: RSSMState): State {
    return new State({ deter: s.deter, stoch: s.stoch });
  }

  /** Observations by key with the batch axes flattened `[N, ...shape]`. */
  #flatObs(obs: Readonly<Record<string, Tensor>>, lead: number): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const { key, shape } of this.layout.keys) {
      const t = obs[key];
      if (!t) {
        throw new ContractError(
          "dreamerv3",
          "batch_key",
          `obs.${key}`,
          `observations under ${this.layout.keys.map((k) => `"${k.key}"`).join(", ")}`,
          `keys ${Object.keys(obs).join(", ") || "none"}`,
        );
      }
      const n = t.size / shape.reduce((a, b) => a * b, 1);
      out[key] = (t.dtype === "float32" ? t : t.cast("float32")).reshape([n, ...shape]);
      void lead;
    }
    return out;
  }

  /** Predictions of features `[N, F]`: observations, reward `[N, 1]`, continue `[N, 1]`. */
  predictFeatures(feat: Tensor, opts: { obs?: boolean } = {}): Record<string, Tensor> {
    const n = feat.shape[0];
    const out: Record<string, Tensor> = {};
    if (opts.obs ?? true) {
      const dec = this.obsDecoder.forward(feat);
      for (const k of this.layout.vecKeys) dec[k] = dec[k].symexp();
      if (this.config.observations) Object.assign(out, dec);
      else out.obs = dec.obs;
    }
    out.reward = this.reward.pred(feat, this.#bins).reshape([n, 1]);
    out.continue = this.cont.logit(feat).sigmoid().reshape([n, 1]);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Contract hooks
  // -------------------------------------------------------------------------------------------

  /** The zero state. */
  protected override initialStateImpl(batchSize: number, device: DeviceName): State {
    const c = this.config;
    return new State({
      deter: zeros([batchSize, c.deter], { device }),
      stoch: zeros([batchSize, c.stoch * c.classes], { device }),
    });
  }

  /** First observation: core on the zero state and zero action, then the posterior. */
  protected override encodeImpl(
    observations: Readonly<Record<string, Tensor>>,
    opts: { deterministic: boolean },
  ): State {
    const flat = this.#flatObs(observations, 1);
    const embed = this.encoder.forward(flat);
    const n = embed.shape[0];
    const s = this.rssm.obsStep(
      this.rssm.initial(n),
      zeros([n, this.config.actionDim], {
        device: this.device,
      }),
      embed,
      { deterministic: opts.deterministic, generator: this.sampleGenerator },
    );
    return this.#state(s);
  }

  /** Prior step: core, then a prior sample (the mode when deterministic). */
  protected override transitionImpl(
    state: State,
    action: ActionPayload | null,
    opts: { conditions: ConditionPayload | null; deterministic: boolean },
  ): State {
    const s = this.#rssmState(state);
    const a = this.#payloadAction(action, s.deter.shape[0]);
    return this.#state(
      this.rssm.imgStep(s, a, {
        deterministic: opts.deterministic,
        generator: this.sampleGenerator,
      }),
    );
  }

  /** Posterior step: core, then a posterior sample given the new observation. */
  protected override updateImpl(
    state: State,
    action: ActionPayload | null,
    observations: Readonly<Record<string, Tensor>>,
    _opts: { conditions: ConditionPayload | null },
  ): State {
    const s = this.#rssmState(state);
    const a = this.#payloadAction(action, s.deter.shape[0]);
    const embed = this.encoder.forward(this.#flatObs(observations, 1));
    return this.#state(this.rssm.obsStep(s, a, embed, { generator: this.sampleGenerator }));
  }

  /** Observations, reward and continue probability of a state. */
  protected override decodeImpl(
    state: State,
    _opts: { conditions: ConditionPayload | null },
  ): Record<string, Tensor> {
    return this.predictFeatures(this.features(this.#rssmState(state)));
  }

  /**
   * Open-loop imagination with the given actions (rewards and continues of all steps in one
   * batched head call). Without actions and with an actor-critic: imagines `imagLength` steps
   * with the policy.
   */
  protected override rolloutImpl(
    initialState: State,
    actions: ActionSequence,
    opts: { conditions: ConditionPayload | null; deterministic: boolean },
  ): Trajectory {
    if ("rolloutExecutor" in this.componentOverrideSources()) {
      return super.rolloutImpl(initialState, actions, opts);
    }
    const steps = actions.tensor ? actions.tensor.shape[0] : actions.payloads?.length ?? 0;
    if (steps === 0 && this.actorCritic) {
      return this.actorCritic.rollout(initialState, null, {
        deterministic: opts.deterministic,
      });
    }
    const b = initialState.batchSize;
    const seq: Tensor[] = [];
    for (let t = 0; t < steps; t++) {
      const a = actions.tensor
        ? actions.tensor.narrow(0, t, 1).squeeze(0)
        : this.#payloadAction(actions.payloads![t], b);
      seq.push(this.actionFeatures(a));
    }
    const acts = steps
      ? stack(seq, 0)
      : zeros([0, b, this.config.actionDim], { device: this.device });
    return this.imagineWith(initialState, acts, opts.deterministic);
  }

  /** Imagines along actions `[T, B, A]` from `initialState`; rewards/continues per step. */
  imagineWith(initialState: State, actions: Tensor, deterministic = false): Trajectory {
    const steps = actions.shape[0];
    const states: State[] = [initialState];
    let s = this.#rssmState(initialState);
    const feats: Tensor[] = [];
    const weights = this.rssm.prepare(s.deter.shape[0]); // once for all steps
    for (let t = 0; t < steps; t++) {
      s = this.rssm.imgStep(s, actions.narrow(0, t, 1).squeeze(0), {
        deterministic,
        generator: this.sampleGenerator,
        weights,
      });
      states.push(this.#state(s));
      feats.push(this.features(s));
    }
    if (steps === 0) return new Trajectory({ states, actions });
    const b = initialState.batchSize;
    const f = stack(feats, 0).reshape([steps * b, featDim(this.config)]);
    const p = this.predictFeatures(f, { obs: false });
    return new Trajectory({
      states,
      actions,
      rewards: p.reward.reshape([steps, b]),
      continues: p.continue.reshape([steps, b]),
    });
  }

  /** The world-model loss of a validated batch. */
  protected lossImpl(batch: Batch): LossOutput {
    return this.lossWithStates(batch).out;
  }

  /** `isFirst [B, T]` of a batch (`extras.isFirst`, `is_first`, ...), or null. */
  isFirstOf(batch: Batch): Tensor | null {
    for (const k of ["isFirst", "is_first"]) {
      const v = resolveBatchKey(batch, k);
      if (v && typeof v === "object" && "shape" in v) {
        const t = v as Tensor;
        return t.dtype === "float32" ? t : t.cast("float32");
      }
    }
    return null;
  }

  /**
   * The world-model loss of a batch (not validated: `loss()` validates first) and the posterior
   * states of every step, flattened to `[B * T, ...]` (where the actor-critic starts imagining).
   */
  lossWithStates(batch: Batch): DreamerLossResult {
    const c = this.config;
    const obsIn = batchObservations(batch);
    const firstKey = this.layout.keys[0].key;
    const src = obsIn[firstKey] ?? (this.config.observations ? undefined : obsIn.obs);
    if (!src) {
      throw new ContractError("loss", "batch_key", "batch.obs", "observations", "nothing");
    }
    const [B, T] = src.shape;
    const N = B * T;
    const F = featDim(c);
    const SK = c.stoch * c.classes;
    const obs = this.#flatObs(obsIn, 2);
    const embed = this.encoder.forward(obs).reshape([B, T, this.encoder.outDim]);
    const actions = this.actionFeatures(batch.actions!); // [B, T, A]
    const isFirst = this.isFirstOf(batch);
    const r = this.rssm.observe(embed, actions, isFirst, { generator: this.sampleGenerator });
    const feat = concat([r.deter, r.stoch], -1); // [B, T, F]
    const featN = feat.reshape([N, F]);

    // Reconstruction: summed over each observation's elements.
    const dec = this.obsDecoder.forward(featN);
    let rec: Tensor | null = null;
    for (const { key, shape } of this.layout.keys) {
      const target = obs[key];
      const err = shape.length === 3
        ? dec[key].sub(target).square().sum([1, 2, 3])
        : dec[key].sub(target.symlog()).square().reshape([N, shape.reduce((a, b) => a * b, 1)])
          .sum(-1);
      rec = rec ? rec.add(err) : err;
    }

    // Reward and continue of action t, from the state it leads to as imagination sees states:
    // the core step with action t (`succDeter`, step t+1's h where step t+1 continues the
    // episode) and a sample of the prior. Not step t+1's posterior: no observation follows an
    // episode's last action (the replay keeps no terminal observation), so terminations would
    // only ever be judged from prior samples and the rest mostly from posteriors, and the
    // continue head would learn "prior sample, so likely terminal" (seen: imagined continue
    // 0.967 per step where the policy survived 100-250 steps).
    const mask = batch.mask ? batch.mask.reshape([B, T]) : null;
    const succDeter = r.succDeter.reshape([N, c.deter]);
    const priorZ = this.rssm.sample(
      this.rssm.priorLogits(succDeter),
      this.rssm.gumbel([N], this.sampleGenerator),
    );
    const succ = concat([succDeter, priorZ], -1).reshape([B, T, F]);
    const succN = succ.reshape([N, F]);
    const rew = this.reward.loss(succN, batch.rewards!.reshape([N]), this.#bins);
    const term = batch.terminations!.reshape([N]);
    const con = binaryLoss(this.cont.logit(succN), term.neg().add(1));

    // KL balancing with free bits.
    const kl = this.rssm.klLosses(r.postLogits.reshape([N, SK]), r.priorLogits.reshape([N, SK]));

    // Weights: the real steps (every action's reward and continue flag is trained).
    const w = mask ? mask.reshape([N]) : null;
    const recM = weightedMean(rec!, w);
    const rewM = weightedMean(rew, w);
    const conM = weightedMean(con, w);
    const dynM = weightedMean(kl.dyn, w);
    const repM = weightedMean(kl.rep, w);
    const components = {
      reconstruction: recM.mul(c.recScale),
      reward: rewM.mul(c.rewScale),
      continue: conM.mul(c.conScale),
      dyn: dynM.mul(c.dynScale),
      rep: repM.mul(c.repScale),
    };
    const loss = components.reconstruction.add(components.reward).add(components.continue)
      .add(components.dyn).add(components.rep);
    const metrics = {
      total: loss.detach(),
      rec: recM.detach(),
      rew: rewM.detach(),
      con: conM.detach(),
      dyn: dynM.detach(),
      rep: repM.detach(),
      kl: weightedMean(kl.kl, w).detach(),
      prior_ent: this.rssm.entropy(r.priorLogits.detach()).mean(),
      post_ent: this.rssm.entropy(r.postLogits.detach()).mean(),
    };
    return {
      out: { loss, components, metrics },
      post: { deter: r.deter.reshape([N, c.deter]), stoch: r.stoch.reshape([N, SK]) },
      feat,
      succ,
    };
  }

  /** Releases the parameters, buffers and the bins. */
  override dispose(): void {
    super.dispose();
    this.#bins.dispose();
  }
}
