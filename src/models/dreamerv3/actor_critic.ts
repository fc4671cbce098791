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
import { concat, ones, stack, zeros } from "../../tensor/creation.ts";
import type { Generator } from "../../tensor/random.ts";
import { noGrad, realize, type Tensor } from "../../tensor/tensor.ts";
import { type DreamerV3Config, featDim } from "./config.ts";
import { Actor, type BinaryHead, TwoHotHead } from "./heads.ts";
import { lambdaReturns, percentiles, twohotLoss } from "./losses.ts";
import type { NetOptions } from "./networks.ts";
import type { RSSM, RSSMState } from "./rssm.ts";

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
  /** The lambda-return from each start `[N]` (no gradient): the replay value loss bootstraps on it. */
  readonly startReturn: Tensor;
  /** The imagined steps' weights `[H, N]` (cumulative discounted continues; no gradient). */
  readonly weight: Tensor;
}

/**
 * The replayed sequence the replay value loss trains the critic on (`[B, T]` layouts, the
 * world model's data convention: `rewards[t]` and `terminations[t]` belong to `actions[t]`).
 */
export interface ReplayValueInputs {
  /** Posterior features `[B, T, F]` (with gradient: the loss trains the representation too). */
  readonly feat: Tensor;
  /** Features of the state each action leads to `[B, T, F]` (see `lossWithStates`). */
  readonly succ: Tensor;
  /** Rewards `[B, T]`. */
  readonly rewards: Tensor;
  /** Terminations `[B, T]` (0/1). */
  readonly terminations: Tensor;
  /** Episode starts `[B, T]` (0/1) or null (one episode per sequence). */
  readonly isFirst: Tensor | null;
  /** Real steps `[B, T]` (0/1) or null (all real). */
  readonly mask: Tensor | null;
  /** The imagined lambda-return from each posterior state `[B, T]` (no gradient). */
  readonly boot: Tensor;
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

/**
 * What the actor-critic uses of its world model (the `DreamerV3WorldModel` that owns it):
 * imagination through the RSSM and the reward and continue heads. Named here so that the actor-critic
 * and the world model do not import each other.
 */
export interface ImaginationModel {
  /** The RSSM (prior steps in imagination). */
  readonly rssm: RSSM;
  /** Reward head (two-hot). */
  readonly reward: TwoHotHead;
  /** Continue head (Bernoulli). */
  readonly cont: BinaryHead;
  /** The two-hot bins of the reward and critic heads. */
  readonly bins: Tensor;
  /** Random stream of the latent samples (undefined: the global generator). */
  readonly sampleGenerator: Generator | undefined;
  /** Features `concat(deter, stoch)` of an RSSM state. */
  features(s: RSSMState): Tensor;
  /** Action features (one-hot for discrete actions) of `a`. */
  actionFeatures(a: Tensor): Tensor;
  /** Open-loop imagination of given action features from `initialState`. */
  imagineWith(initialState: State, actions: Tensor, deterministic?: boolean): Trajectory;
  /** The heads' predictions from features. */
  predictFeatures(feat: Tensor, opts?: { obs?: boolean }): Record<string, Tensor>;
}

/** The actor, the critic, the slow critic and the return-normalisation statistics. */
export class ActorCritic extends Module {
  /** The policy. */
  actor: Actor;
  /** The critic (two-hot over the exponentially spaced bins, zero-initialised output). */
  critic: TwoHotHead;
  readonly #slow: TwoHotHead;
  readonly #wm: ImaginationModel;
  readonly #lo: Tensor;
  readonly #hi: Tensor;

  /** Creates the actor-critic of `wm`. */
  constructor(wm: ImaginationModel, readonly config: DreamerV3Config, o: NetOptions) {
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
    const p = wm.predictFeatures(traj.feat.narrow(0, 1, H).reshape([H * b, F]), { obs: false });
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
    // Imagination and what the heads predict along it: no gradients (REINFORCE actor, fixed
    // world model).
    const t = noGrad(() => {
      const traj = this.imagine(start, null, { generator: opts.generator });
      const [H1, N, F] = traj.feat.shape;
      const fN = traj.feat.reshape([H1 * N, F]);
      const H = H1 - 1;
      return {
        traj,
        H,
        N,
        F,
        rew: wm.reward.pred(fN, bins).reshape([H1, N]),
        // The starts are observed states and none is terminal (the replay keeps no terminal
        // observation; the official weights a terminal start by its continue, ~0): their
        // continue is 1. The head, trained on the states actions lead to, judges the rest.
        con: concat([
          ones([1, N], { device: fN.device }),
          wm.cont.logit(traj.feat.narrow(0, 1, H1 - 1).reshape([(H1 - 1) * N, F])).sigmoid()
            .reshape([H1 - 1, N]),
        ], 0),
        val: this.critic.pred(fN, bins).reshape([H1, N]),
        slowVal: this.#slow.pred(traj.feat.narrow(0, 0, H).reshape([H * N, F]), bins),
      };
    });
    const { traj, H, N, F } = t;
    const fIn = traj.feat.narrow(0, 0, H).reshape([H * N, F]);
    const dist = this.actor.dist(fIn);
    const A = traj.actions.shape[2];
    const l = imaginationLoss({
      rew: t.rew,
      con: t.con,
      val: t.val,
      slowVal: t.slowVal,
      logpi: dist.logp(traj.actions.narrow(0, 0, H).reshape([H * N, A])),
      entropy: dist.entropy(),
      criticLogits: this.critic.logits(fIn),
      bins,
      mask: opts.mask ?? null,
      retLo: this.#lo,
      retHi: this.#hi,
    }, c);
    // The advantages read the new statistics: compute them before the buffers are overwritten.
    realize(l.retLo, l.retHi);
    this.#lo.assign(l.retLo);
    this.#hi.assign(l.retHi);
    const m = opts.mask ? opts.mask.reshape([1, N]) : null;
    const count = m ? m.sum().maximum(1).mul(H) : null;
    // Unweighted averages of [H, N] values over the real starts.
    const avgH = (x: Tensor) => (m && count ? x.mul(m).sum().div(count) : x.mean());
    return {
      loss: l.policy.add(l.value),
      components: { policy: l.policy, value: l.value },
      metrics: {
        policy: l.policy.detach(),
        value: l.value.detach(),
        entropy: avgH(l.entropy),
        ret: avgH(l.ret),
        val: avgH(t.val.narrow(0, 0, H)),
        adv_mag: avgH(l.adv.abs()),
        imag_reward: avgH(t.rew.narrow(0, 1, H)),
        imag_con: avgH(t.con.narrow(0, 1, H)),
        weight: avgH(l.weight),
        ret_lo: this.#lo.reshape([]),
        ret_hi: this.#hi.reshape([]),
      },
      traj,
      startReturn: l.ret.narrow(0, 0, 1).reshape([N]),
      weight: l.weight,
    };
  }

  /**
   * The replay value loss (official `repl_loss`, on with `repval_loss`, weight `repval` 0.3):
   * the critic also regresses, on the replayed posterior states, lambda-returns along the real
   * sequence that bootstrap on the imagined return from each state (`boot`), plus the same
   * regulariser towards the slow critic. In the world model's layout the return of step t is
   * `ret_t = r_t + disc (1 - term_t) ((1 - c_t) next_t + c_t ret_{t+1})`, `c_t = lam` while
   * step t+1 observes the state action t leads to, else 0 (an episode ends: the next row starts
   * another, or is padding); `next_t` is `boot_{t+1}`, or where no observation follows the
   * critic's value of the state action t leads to (a time limit: terminal steps do not
   * bootstrap). The last step only seeds the recursion (`ret_{T-1} = boot_{T-1}`), as in the
   * official loss. Gradients reach the critic and, through `feat`, the world model
   * (`repval_grad`). Returns the mean over the trained steps (`[B, T - 1]`, padding excluded).
   */
  replayLoss(r: ReplayValueInputs): Tensor {
    const c = this.config;
    const wm = this.#wm;
    const bins = wm.bins;
    const [B, T, F] = r.feat.shape;
    if (T < 2) return r.feat.sum().mul(0);
    const disc = 1 - 1 / c.horizon;
    const M = B * (T - 1);
    const first = (x: Tensor) => x.narrow(1, 0, T - 1);
    const ret = noGrad(() => {
      const succValue = this.critic.pred(r.succ.reshape([B * T, F]).detach(), bins);
      return replayReturns(
        {
          rewards: r.rewards,
          terminations: r.terminations,
          isFirst: r.isFirst,
          mask: r.mask,
          boot: r.boot,
          succValue: succValue.reshape([B, T]),
        },
        disc,
        c.lambda,
      );
    });
    const featIn = first(r.feat).reshape([M, F]);
    const slowVal = noGrad(() => this.#slow.pred(featIn.detach(), bins));
    const logits = this.critic.logits(featIn);
    const l = twohotLoss(logits, ret.reshape([M]), bins).add(
      twohotLoss(logits, slowVal, bins).mul(c.slowReg),
    );
    if (!r.mask) return l.mean();
    const w = first(r.mask).reshape([M]);
    return l.mul(w).sum().div(w.sum().maximum(1));
  }
}

/** What {@link imaginationLoss} reads (time first; `N` imagined trajectories of `H` steps). */
export interface ImaginationLossInputs {
  /** Predicted rewards `[H + 1, N]` (entry t: the reward of reaching imagined state t). */
  readonly rew: Tensor;
  /** Continue probabilities `[H + 1, N]` (of each imagined state). */
  readonly con: Tensor;
  /** Critic values `[H + 1, N]`. */
  readonly val: Tensor;
  /** Slow-critic values of the first H states `[H * N]` (the regulariser's targets). */
  readonly slowVal: Tensor;
  /** Log-probability of the action taken at each of the first H states `[H * N]` (gradient to the actor). */
  readonly logpi: Tensor;
  /** Policy entropy at the first H states `[H * N]` (gradient to the actor). */
  readonly entropy: Tensor;
  /** Critic logits at the first H states `[H * N, bins]` (gradient to the critic). */
  readonly criticLogits: Tensor;
  /** Two-hot bins `[bins]`. */
  readonly bins: Tensor;
  /** Real starts `[N]` (0/1) or null (all real). */
  readonly mask: Tensor | null;
  /** EMA of the return's lower percentile before this update `[1]`. */
  readonly retLo: Tensor;
  /** EMA of the return's upper percentile before this update `[1]`. */
  readonly retHi: Tensor;
}

/** What {@link imaginationLoss} computes. */
export interface ImaginationLossResult {
  /** Actor loss (scalar). */
  readonly policy: Tensor;
  /** Critic loss (scalar). */
  readonly value: Tensor;
  /** Lambda-returns `[H, N]` (no gradient). */
  readonly ret: Tensor;
  /** Normalised advantages `(ret - val) / scale` `[H, N]` (no gradient). */
  readonly adv: Tensor;
  /** Step weights: cumulative discounted continue probabilities `[H, N]` (no gradient). */
  readonly weight: Tensor;
  /** Policy entropy `[H, N]` (no gradient). */
  readonly entropy: Tensor;
  /** Updated percentile EMAs `[1]` (the caller stores them). */
  readonly retLo: Tensor;
  /** Updated percentile EMAs `[1]`. */
  readonly retHi: Tensor;
}

/**
 * The actor and critic losses of an imagined batch (official agent.py `imag_loss` with the
 * config's `contdisc: False` form: the discount `disc = 1 - 1 / horizon` is applied here and the
 * continue head predicts a probability):
 *
 * - `weight_t = prod_{i <= t} (disc * con_i) / disc` (stop-gradient), zero for padded starts;
 * - `ret = lambdaReturns(rew, con, val, disc, lambda)` `[H, N]`;
 * - the percentile EMAs move towards the batch's 5th / 95th percentiles of `ret` (rate
 *   `retNormRate`, starting from 0, no debiasing), `scale = max(retNormLimit, hi - lo)`;
 * - `adv = (ret - val_t) / scale`;
 * - policy: `mean(-weight * (logpi * adv + actorEntropy * entropy))` (REINFORCE for discrete
 *   and continuous actions alike);
 * - value: `mean(weight * (twohot_ce(logits, ret) + slowReg * twohot_ce(logits, slowVal)))`;
 *
 * means over the `H * N` entries of the real starts.
 */
export function imaginationLoss(
  x: ImaginationLossInputs,
  c: DreamerV3Config,
): ImaginationLossResult {
  const [H1, N] = x.rew.shape;
  const H = H1 - 1;
  const disc = 1 - 1 / c.horizon;
  const t = noGrad(() => {
    const at = (v: Tensor, i: number) => v.narrow(0, i, 1).squeeze(0);
    // weight_t = prod_{i <= t} (disc * con_i) / disc.
    const ws: Tensor[] = [at(x.con, 0)];
    for (let i = 1; i < H; i++) ws.push(ws[i - 1].mul(at(x.con, i)).mul(disc));
    const m = x.mask ? x.mask.reshape([1, N]) : null;
    let weight = stack(ws, 0); // [H, N]
    if (m) weight = weight.mul(m);
    const ret = lambdaReturns(x.rew, x.con, x.val, disc, c.lambda); // [H, N]
    const [plo, phi] = percentiles(
      ret,
      [c.retNormLow, c.retNormHigh],
      m ? m.expand([H, N]) : null,
    );
    const rate = c.retNormRate;
    const lo = x.retLo.mul(1 - rate).add(plo.mul(rate)).contiguous();
    const hi = x.retHi.mul(1 - rate).add(phi.mul(rate)).contiguous();
    const scale = hi.sub(lo).maximum(c.retNormLimit);
    const adv = ret.sub(x.val.narrow(0, 0, H)).div(scale);
    const count = m ? m.sum().maximum(1).mul(H) : null;
    return { weight, ret, adv, lo, hi, count };
  });
  const avg = (v: Tensor) => (t.count ? v.sum().div(t.count) : v.mean());
  const w = t.weight.reshape([H * N]);
  const advN = t.adv.reshape([H * N]);
  const policy = avg(w.mul(x.logpi.mul(advN).add(x.entropy.mul(c.actorEntropy))).neg());
  const vloss = twohotLoss(x.criticLogits, t.ret.reshape([H * N]), x.bins).add(
    twohotLoss(x.criticLogits, x.slowVal, x.bins).mul(c.slowReg),
  );
  const value = avg(w.mul(vloss));
  return {
    policy,
    value,
    ret: t.ret,
    adv: t.adv,
    weight: t.weight,
    entropy: x.entropy.detach().reshape([H, N]),
    retLo: t.lo,
    retHi: t.hi,
  };
}

/** What {@link replayReturns} reads (`[B, T]` each, the world model's layout). */
export interface ReplayReturnInputs {
  /** Rewards of each step's action. */
  readonly rewards: Tensor;
  /** 1 where the action ended the episode in a terminal state. */
  readonly terminations: Tensor;
  /** 1 where a step starts an episode, or null. */
  readonly isFirst: Tensor | null;
  /** 1 at real steps, or null. */
  readonly mask: Tensor | null;
  /** The imagined lambda-return from each posterior state. */
  readonly boot: Tensor;
  /** The critic's value of the state each action leads to. */
  readonly succValue: Tensor;
}

/**
 * The replay value loss's targets `[B, T - 1]` (agent.py `repl_loss` through `lambda_return`,
 * in the world model's layout): `ret_t = r_t + disc (1 - term_t) ((1 - c_t) next_t + c_t
 * ret_{t+1})` seeded with `ret_{T-1} = boot_{T-1}`, where `c_t = lam` and `next_t = boot_{t+1}`
 * while step t+1 observes the state action t leads to, and `c_t = 0`, `next_t = succValue_t`
 * where it does not (step t+1 starts another episode or is padding).
 */
export function replayReturns(x: ReplayReturnInputs, disc: number, lam: number): Tensor {
  const [_, T] = x.rewards.shape;
  const tm = (v: Tensor) => v.mT; // [B, T] -> [T, B]
  const first = (v: Tensor) => v.narrow(1, 0, T - 1);
  const later = (v: Tensor) => v.narrow(1, 1, T - 1);
  // 1 where step t+1 observes the state action t leads to.
  let observed = x.isFirst ? later(x.isFirst).neg().add(1) : null;
  if (x.mask) observed = observed ? observed.mul(later(x.mask)) : later(x.mask);
  const next = observed
    ? later(x.boot).mul(observed).add(first(x.succValue).mul(observed.neg().add(1)))
    : later(x.boot);
  // Time-major arrays of lambda_return's layout: entry t + 1 holds action t's reward and
  // continue flag, the bootstrap after it and whether the observed sequence ends there.
  const zero = x.boot.narrow(1, 0, 1).mul(0);
  const shift = (v: Tensor) => tm(concat([zero, first(v)], 1));
  const rew = shift(x.rewards);
  const con = shift(x.terminations.neg().add(1));
  const boot = tm(concat([x.boot.narrow(1, 0, 1), next], 1));
  const last = observed ? tm(concat([zero, observed.neg().add(1)], 1)) : null;
  return tm(lambdaReturns(rew, con, boot, disc, lam, last));
}
