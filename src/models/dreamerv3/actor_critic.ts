/**
 * The actor-critic of DreamerV3, trained in imagination (official `dreamerv3/agent.py`:
 * `imagine`, `imag_loss`, `lambda_return`; `configs.yaml`: `imag_length` 15, `horizon` 333,
 * `lam` 0.95, `actent` 3e-4, `slowreg` 1.0, `slowvalue.rate` 0.02, `retnorm` perc 5/95 with rate
 * 0.01 and limit 1.0):
 *
 * - imagination starts from every posterior state of the batch (gradients stopped), runs
 *   `imagLength` steps of the RSSM prior with actions sampled from the actor, and predicts
 *   rewards, continue probabilities and values on the `H + 1` features, without gradients;
 * - returns are lambda-returns with discount `1 - 1 / horizon` (the discount is applied here,
 *   so the continue head stays a probability: the official `contdisc: False` form);
 * - returns are normalised by `max(limit, P95 - P5)`, the percentiles tracked as EMAs;
 * - actor: REINFORCE on the normalised advantage plus an entropy bonus, weighted by the
 *   cumulative continue probability; critic: two-hot regression to the returns plus a
 *   regulariser towards the slow critic (an EMA of the critic, kept as buffers).
 * @module
 */

import { type LossOutput, Trajectory } from "../../core/outputs.ts";
import { State } from "../../core/state.ts";
import { Module } from "../../nn/module.ts";
import { softUpdate } from "../../optim/ema.ts";
import { stack, zeros } from "../../tensor/creation.ts";
import type { Generator } from "../../tensor/random.ts";
import { noGrad, type Tensor } from "../../tensor/tensor.ts";
import { type DreamerV3Config, featDim } from "./config.ts";
import { Actor, TwoHotHead } from "./heads.ts";
import { lambdaReturns, percentiles, twohotLoss } from "./losses.ts";
import type { NetOptions } from "./networks.ts";
import type { RSSMState } from "./rssm.ts";
import type { DreamerV3WorldModel } from "./world_model.ts";

/** An imagined trajectory (time first). */
export interface Imagined {
  /** RSSM states `[H + 1, N, ...]` (the start first). */
  readonly deter: Tensor;
  /** `[H + 1, N, S * K]`. */
  readonly stoch: Tensor;
  /** Features `[H + 1, N, F]`. */
  readonly feat: Tensor;
  /**
   * Actions `[H + 1, N, A]` with the policy (the last one is sampled at the final state and
   * not executed), or the given `[H, N, A]`.
   */
  readonly actions: Tensor;
}

/** What {@link ActorCritic.loss} returns. */
export interface ActorCriticLoss extends LossOutput {
  /** The imagined trajectory the loss was computed on. */
  readonly traj: Imagined;
}

/** Options of imagination. */
export interface ImagineOptions {
  /** Steps (default `imagLength`). */
  readonly horizon?: number;
  /** Policy and prior modes instead of samples. */
  readonly deterministic?: boolean;
  /** Random stream (default: the global generator). */
  readonly generator?: Generator;
}

/** The actor, the critic, the slow critic and the return-normalisation statistics. */
export class ActorCritic extends Module {
  /** The policy. */
  actor: Actor;
  /** The critic (two-hot over symlog bins, zero-initialised output). */
  critic: TwoHotHead;
  readonly #slow: TwoHotHead;
  readonly #wm: DreamerV3WorldModel;
  readonly #lo: Tensor;
  readonly #hi: Tensor;

  /** Creates the actor-critic of `wm`. */
  constructor(wm: DreamerV3WorldModel, readonly config: DreamerV3Config, o: NetOptions) {
    super();
    const F = featDim(config);
    this.#wm = wm;
    this.actor = new Actor(F, config, o);
    this.critic = new TwoHotHead(F, config, config.acLayers, o);
    // The slow critic starts as a copy; its tensors are buffers (state dict, not parameters).
    this.#slow = new TwoHotHead(F, config, config.acLayers, o);
    this.#slow.loadStateDict(this.critic.stateDict());
    this.#slow.requiresGrad_(false);
    for (const [name, p] of this.#slow.namedParameters()) {
      this.registerBuffer(`slowCritic.${name}`, p);
    }
    this.#lo = this.registerBuffer("retnormLo", zeros([1], { device: o.device }).realize());
    this.#hi = this.registerBuffer("retnormHi", zeros([1], { device: o.device }).realize());
  }

  /** The slow critic (EMA of the critic). */
  get slowCritic(): TwoHotHead {
    return this.#slow;
  }

  /** Current return percentiles `[1]` each (lazy tensors of the buffers). */
  get returnRange(): { lo: Tensor; hi: Tensor } {
    return { lo: this.#lo, hi: this.#hi };
  }

  /** Parameters of the actor and the critic (what the actor-critic optimizer updates). */
  trainableParameters(): Tensor[] {
    return [...this.actor.parameters(), ...this.critic.parameters()];
  }

  /** `slow <- (1 - rate) * slow + rate * critic` (official `slowvalue`, every update). */
  updateSlowCritic(): void {
    softUpdate(this.#slow, this.critic, this.config.slowCriticRate);
  }

  /**
   * Imagines from `start` (`[N, ...]`, gradients stopped) with `actions [H, N, A]` or, when null,
   * with the actor. Runs under the caller's gradient mode.
   */
  imagine(start: RSSMState, actions: Tensor | null, opts: ImagineOptions = {}): Imagined {
    const wm = this.#wm;
    const H = actions ? actions.shape[0] : opts.horizon ?? this.config.imagLength;
    const gen = opts.generator ?? wm.sampleGenerator;
    let s: RSSMState = { deter: start.deter.detach(), stoch: start.stoch.detach() };
    const deters = [s.deter], stochs = [s.stoch], feats = [wm.features(s)];
    const acts: Tensor[] = [];
    const policy = (f: Tensor) => {
      const d = this.actor.dist(f.detach());
      return opts.deterministic ? d.mode() : d.sample(gen);
    };
    const weights = wm.rssm.prepare(s.deter.shape[0]); // once for the H steps
    for (let t = 0; t < H; t++) {
      const a = actions ? actions.narrow(0, t, 1).squeeze(0) : policy(feats[t]);
      acts.push(a);
      s = wm.rssm.imgStep(s, a, { deterministic: opts.deterministic, generator: gen, weights });
      deters.push(s.deter);
      stochs.push(s.stoch);
      feats.push(wm.features(s));
    }
    if (!actions) acts.push(policy(feats[H]));
    return {
      deter: stack(deters, 0),
      stoch: stack(stochs, 0),
      feat: stack(feats, 0),
      actions: acts.length
        ? stack(acts, 0)
        : zeros([0, start.deter.shape[0], this.config.actionDim]),
    };
  }

  /**
   * Imagination as a {@link Trajectory}: with `actions [T, B, A]`, or with the policy for
   * `horizon` steps when `actions` is null. Rewards and continue probabilities per step.
   */
  rollout(state: State, actions: Tensor | null, opts: ImagineOptions = {}): Trajectory {
    const wm = this.#wm;
    if (actions) return wm.imagineWith(state, wm.actionFeatures(actions), opts.deterministic);
    const start = { deter: state.get("deter"), stoch: state.get("stoch") };
    const traj = this.imagine(start, null, opts);
    const H = traj.feat.shape[0] - 1;
    const b = state.batchSize;
    const states = [state];
    for (let t = 1; t <= H; t++) {
      states.push(
        new State({
          deter: traj.deter.narrow(0, t, 1).squeeze(0),
          stoch: traj.stoch.narrow(0, t, 1).squeeze(0),
        }),
      );
    }
    const F = traj.feat.shape[2];
    const p = wm.predict(traj.feat.narrow(0, 1, H).reshape([H * b, F]), { obs: false });
    return new Trajectory({
      states,
      actions: traj.actions.narrow(0, 0, H),
      rewards: p.reward.reshape([H, b]),
      continues: p.continue.reshape([H, b]),
    });
  }

  /**
   * The actor-critic loss on an imagination from `start` (`[N, ...]` posterior states). Updates
   * the return percentiles (EMA, in place) as part of the computation.
   */
  loss(
    start: RSSMState,
    opts: { generator?: Generator; mask?: Tensor | null } = {},
  ): ActorCriticLoss {
    const c = this.config;
    const wm = this.#wm;
    const bins = wm.bins;
    const disc = 1 - 1 / c.horizon;
    const lam = c.lambda;
    // Imagination and its targets: no gradients (REINFORCE actor, fixed world model).
    const t = noGrad(() => {
      const traj = this.imagine(start, null, { generator: opts.generator });
      const [H1, N, F] = traj.feat.shape;
      const fN = traj.feat.reshape([H1 * N, F]);
      const rew = wm.reward.pred(fN, bins).reshape([H1, N]);
      const con = wm.cont.logit(fN).sigmoid().reshape([H1, N]);
      const val = this.critic.pred(fN, bins).reshape([H1, N]);
      const H = H1 - 1;
      const slowVal = this.#slow.pred(traj.feat.narrow(0, 0, H).reshape([H * N, F]), bins);
      // weight_t = prod_{i <= t} (disc * con_i) / disc (agent.py imag_loss).
      const ws: Tensor[] = [con.narrow(0, 0, 1).squeeze(0)];
      for (let i = 1; i < H1; i++) ws.push(ws[i - 1].mul(con.narrow(0, i, 1).squeeze(0)).mul(disc));
      // Starts that are padding (mask 0) carry no weight and no percentile.
      const m = opts.mask ? opts.mask.reshape([1, N]) : null;
      let weight = stack(ws.slice(0, H), 0); // [H, N]
      if (m) weight = weight.mul(m);
      const ret = lambdaReturns(rew, con, val, disc, lam); // [H, N]
      // Return normalisation: EMAs of the 5th / 95th percentiles, scale max(limit, hi - lo).
      const [p5, p95] = percentiles(
        ret,
        [c.retNormLow, c.retNormHigh],
        m ? m.expand([H, N]) : null,
      );
      const rate = c.retNormRate;
      const lo = this.#lo.mul(1 - rate).add(p5.mul(rate));
      const hi = this.#hi.mul(1 - rate).add(p95.mul(rate));
      this.#lo.assign(lo);
      this.#hi.assign(hi);
      const scale = this.#hi.sub(this.#lo).maximum(c.retNormLimit);
      const adv = ret.sub(val.narrow(0, 0, H)).div(scale);
      // Averages over the real starts: sum / (H * count).
      const count = m ? m.sum().maximum(1).mul(H) : null;
      return { traj, H, N, F, weight, ret, adv, slowVal, rew, con, val, m, count };
    });
    const { traj, H, N, F, weight, ret, adv, slowVal, m, count } = t;
    const avg = (x: Tensor) => (count ? x.sum().div(count) : x.mean());
    const avgH = (x: Tensor) => (m ? avg(x.mul(m)) : x.mean()); // x [H, N], unweighted
    const fIn = traj.feat.narrow(0, 0, H).reshape([H * N, F]);
    const dist = this.actor.dist(fIn);
    const A = traj.actions.shape[2];
    const logpi = dist.logp(traj.actions.narrow(0, 0, H).reshape([H * N, A]));
    const ent = dist.entropy();
    const w = weight.reshape([H * N]);
    const policy = avg(w.mul(logpi.mul(adv.reshape([H * N])).add(ent.mul(c.actorEntropy))).neg());
    const logits = this.critic.logits(fIn);
    const retN = ret.reshape([H * N]);
    const vloss = twohotLoss(logits, retN, bins).add(
      twohotLoss(logits, slowVal, bins).mul(c.slowReg),
    );
    const value = avg(w.mul(vloss));
    const loss = policy.add(value);
    return {
      loss,
      components: { policy, value },
      metrics: {
        policy: policy.detach(),
        value: value.detach(),
        entropy: avgH(ent.detach().reshape([H, N])),
        ret: avgH(ret),
        imag_reward: avgH(t.rew.narrow(0, 1, H)),
        ret_lo: this.#lo.reshape([]),
        ret_hi: this.#hi.reshape([]),
      },
      traj,
    };
  }
}
