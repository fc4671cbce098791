/**
 * {@link TDMPC2Agent}: the full TD-MPC2 update (official `tdmpc2/tdmpc2.py`, `TDMPC2._update`,
 * `update_pi` and `_td_target`): the world-model
 * loss with one Adam step (encoder at `encLrScale` of the learning rate, global-norm clip), the
 * policy update on detached latents with its own Adam (eps 1e-5) and the running Q scale, then
 * the soft update of the target Q heads. Nothing is read back: the update can be wrapped in
 * `compile()` (see {@link TDMPC2Agent.compiled}) and replayed with one submit per step.
 * @module
 */

import type { Batch } from "../../core/batch.ts";
import { batchObservations } from "../../core/batch.ts";
import { Module } from "../../nn/module.ts";
import { Adam } from "../../optim/optimizer.ts";
import { compile, type CompiledStep, onReplay } from "../../tensor/compile.ts";
import { zeros } from "../../tensor/creation.ts";
import { Generator } from "../../tensor/random.ts";
import { tidy } from "../../tensor/memory.ts";
import { addPendingTarget } from "../../tensor/schedule.ts";
import { realize, type Tensor } from "../../tensor/tensor.ts";
import type { TDMPC2WorldModel } from "./world_model.ts";

/** Options of {@link TDMPC2Agent} (defaults from the model's config). */
export interface TDMPC2AgentOptions {
  /** Learning rate (default `config.lr`, official 3e-4). */
  readonly lr?: number;
  /** Encoder learning-rate multiplier (default `config.encLrScale`, official 0.3). */
  readonly encLrScale?: number;
  /** Global gradient-norm clip of both optimizers (default `config.gradClip`, official 20). */
  readonly gradClip?: number;
  /** Random stream of dropout, policy noise and Q-pair draws (default: seeded with `seed`). */
  readonly generator?: Generator;
  /** Seed of the default generator (default 0). */
  readonly seed?: number;
  /**
   * Profiling hook, called when the update reaches the end of a phase: `"start"`,
   * `"world_model_forward"`, `"world_model"` (its backward and Adam step), `"policy_forward"`,
   * `"policy"` (backward and Adam), `"targets"` (running Q scale and target soft update). With a
   * hook the forward passes are computed before their backward passes (one schedule each
   * instead of one per optimizer step). In a compiled update the hook runs at the same points of
   * every replay (on cpu backends kernels run during the replay, so the time between calls is
   * the phase's time).
   */
  readonly onPhase?: (phase: UpdatePhase) => void;
}

/** Phases of an update, as reported to {@link TDMPC2AgentOptions.onPhase}. */
export type UpdatePhase =
  | "start"
  | "world_model_forward"
  | "world_model"
  | "policy_forward"
  | "policy"
  | "targets";

/** The tensors of one update (what a compiled update takes). */
export type UpdateInputs = [obs: Tensor, actions: Tensor, rewards: Tensor, terminations: Tensor];

/** Statistics of one update (lazy scalars, official names). */
export type UpdateInfo = Record<
  | "consistency_loss"
  | "reward_loss"
  | "value_loss"
  | "termination_loss"
  | "total_loss"
  | "grad_norm"
  | "pi_loss"
  | "pi_grad_norm"
  | "pi_entropy"
  | "pi_scaled_entropy"
  | "pi_scale",
  Tensor
>;

function paramsOf(x: unknown): Tensor[] {
  return x instanceof Module ? x.parameters() : [];
}

/**
 * The TD-MPC2 agent update.
 *
 * @example
 * ```ts
 * import { createWorldModel, randn, TDMPC2Agent, type TDMPC2WorldModel, zeros } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [4], actionDim: 2 }) as TDMPC2WorldModel;
 * const agent = new TDMPC2Agent(model);
 * const batch = { obs: randn([8, 4, 4]), actions: randn([8, 4, 2]).tanh(), rewards: zeros([8, 4]) };
 * const info = agent.update(batch);
 * console.log(await info.total_loss.item() > 0); // true
 * ```
 */
export class TDMPC2Agent {
  /** World-model optimizer (encoder, dynamics, reward, Q heads, termination). */
  readonly optim: Adam;
  /** Policy optimizer. */
  readonly piOptim: Adam;
  /** Random stream of the updates. */
  readonly generator: Generator;
  #compiled: CompiledStep<UpdateInputs, UpdateInfo> | null = null;
  readonly #onPhase: TDMPC2AgentOptions["onPhase"];

  /** Creates the optimizers over the model's parameters. */
  constructor(readonly model: TDMPC2WorldModel, opts: TDMPC2AgentOptions = {}) {
    const c = model.config;
    const lr = opts.lr ?? c.lr;
    const gradClip = opts.gradClip ?? c.gradClip;
    this.generator = opts.generator ?? new Generator(opts.seed ?? 0);
    this.#onPhase = opts.onPhase;
    // Official param groups: encoder at lr * enc_lr_scale, then dynamics, reward, (termination)
    // and the Q heads at lr.
    this.optim = new Adam(
      [
        { params: paramsOf(model.observationEncoder), lrScale: opts.encLrScale ?? c.encLrScale },
        {
          params: [
            ...paramsOf(model.dynamicsModel),
            ...model.reward.parameters(),
            ...(model.termination?.parameters() ?? []),
          ],
        },
        { params: model.qs.parameters() },
      ],
      { lr, gradClip },
    );
    this.piOptim = new Adam(model.pi.parameters(), { lr, eps: 1e-5, gradClip });
  }

  /** One update from a `[B, T, ...]` batch (validated against the model's contract). */
  update(batch: Batch): UpdateInfo {
    this.model.validateBatch(batch);
    return tidy(() => {
      const obs = batchObservations(batch).obs;
      const terms = batch.terminations ?? zeros(batch.rewards!.shape, { device: obs.device });
      return this.updateTensors(obs, batch.actions!, batch.rewards!, terms);
    });
  }

  /**
   * One update from tensors: `obs [B, T, D]`, `actions [B, T, A]` (int32 `[B, T]` when
   * discrete), `rewards [B, T]`, `terminations [B, T]`. Returns lazy statistics (every other
   * tensor of the update is released when it returns).
   */
  updateTensors(obs: Tensor, actions: Tensor, rewards: Tensor, terminations: Tensor): UpdateInfo {
    return tidy(() => this.#update(obs, actions, rewards, terminations));
  }

  #update(obs: Tensor, actions: Tensor, rewards: Tensor, terminations: Tensor): UpdateInfo {
    const m = this.model;
    const g = { generator: this.generator };
    const phase = (p: UpdatePhase) => {
      const hook = this.#onPhase;
      if (!hook) return;
      hook(p);
      onReplay(() => hook(p));
    };
    phase("start");
    m.train();
    try {
      // 1. World model (official: total_loss.backward(); clip; optim.step()).
      const tb = m.timeMajor({ obs, actions, rewards, terminations });
      const wm = m.worldModelLoss(tb, g);
      const zs = wm.zs.detach();
      const stats = {
        consistency_loss: wm.consistency.detach(),
        reward_loss: wm.reward.detach(),
        value_loss: wm.value.detach(),
        termination_loss: wm.termination.detach(),
        total_loss: wm.total.detach(),
      };
      if (this.#onPhase) {
        realize(zs, ...Object.values(stats));
        phase("world_model_forward");
      }
      wm.total.backward();
      // Computed with the gradients, in the optimizer's schedule (before parameters change).
      for (const t of [zs, ...Object.values(stats)]) addPendingTarget(t._node);
      this.optim.step();
      this.optim.zeroGrad();
      const gradNorm = this.optim.lastGradNorm!.clone();
      phase("world_model");

      // 2. Policy on the detached latents, Q heads detached (official update_pi).
      const pl = m.policyLoss(zs, g);
      const piStats = {
        pi_loss: pl.loss.detach(),
        pi_entropy: pl.entropy.detach(),
        pi_scaled_entropy: pl.scaledEntropy.detach(),
      };
      if (this.#onPhase) {
        realize(pl.scale, ...Object.values(piStats));
        phase("policy_forward");
      }
      pl.loss.backward();
      for (const t of [pl.scale, ...Object.values(piStats)]) addPendingTarget(t._node);
      this.piOptim.step();
      this.piOptim.zeroGrad();
      phase("policy");
      m.runningScale.commit(pl.scale);

      // 3. Target Q heads (official soft_update_target_Q).
      m.softUpdateTargetQ();
      phase("targets");
      return {
        ...stats,
        grad_norm: gradNorm,
        ...piStats,
        pi_grad_norm: this.piOptim.lastGradNorm!.clone(),
        pi_scale: pl.scale.reshape([]),
      };
    } finally {
      m.eval();
    }
  }

  /**
   * The update as a compiled step (traced on the first call, replayed afterwards with equal
   * results): `step(obs, actions, rewards, terminations)`.
   */
  compiled(): CompiledStep<UpdateInputs, UpdateInfo> {
    return this.#compiled ??= compile((obs, actions, rewards, terminations) =>
      this.updateTensors(obs, actions, rewards, terminations)
    );
  }

  /** Frees the optimizers' buffers and the compiled step. */
  dispose(): void {
    this.#compiled?.dispose();
    this.optim.dispose();
    this.piOptim.dispose();
  }
}
