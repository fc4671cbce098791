/**
 * How TD-MPC2 trains and acts, as its family spec carries them:
 *
 * - {@link tdmpc2TrainStep}: the {@link TDMPC2Agent} update (world model with its Q ensemble,
 *   policy prior, running Q scale, soft-updated target heads);
 * - {@link tdmpc2Controller}: MPPI with the policy prior ({@link MPPIPlanner}, the official
 *   settings).
 *
 * The family's own optimizer settings apply (TD-MPC2: its config's `lr`, `encLrScale`,
 * `gradClip`), not the TrainingConfig's `learningRate`/`gradClip`/`optimizer`, which belong to the
 * generic step; the TrainingConfig drives the loop (batches, seed, intervals, compile).
 * @module
 */

import { warn } from "../../log.ts";
import { TDMPC2Agent } from "./agent.ts";
import type { TDMPC2WorldModel } from "./world_model.ts";
import { type MPPIOptions, MPPIPlanner } from "../../planners/mppi.ts";
import { tensor } from "../../tensor/creation.ts";
import { tidy } from "../../tensor/memory.ts";
import type { TrainingConfig } from "../../core/training_config.ts";
import type { Controller } from "../../core/controller.ts";
import { makeTrainStep, type TrainStep, type TrainStepOptions } from "../../core/train_step.ts";

/**
 * TD-MPC2's agent update as a {@link TrainStep}: optimizers `model` (world model and Q heads)
 * and `pi` (policy prior); the agent's random stream (dropout, policy noise, Q-pair draws,
 * seeded with `config.seed`) is part of the step's state, so checkpoints resume exactly. Returns
 * the official statistics plus `loss` (= `total_loss`). The update uses the first `horizon + 1`
 * steps of each sequence: `sequenceLength` should be `horizon + 1` (a note says so otherwise).
 *
 * @example
 * ```ts
 * import { createWorldModel, parseTrainingConfig, tdmpc2TrainStep } from "@worldflux/worldflux";
 * import type { TDMPC2WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [5], actionDim: 2 });
 * const step = tdmpc2TrainStep(
 *   model as TDMPC2WorldModel,
 *   parseTrainingConfig({ batchSize: 16, sequenceLength: 4 }),
 * );
 * console.log(Object.keys(step.optimizers)); // [ "model", "pi" ]
 * step.dispose();
 * ```
 */
export function tdmpc2TrainStep(
  model: TDMPC2WorldModel,
  config: TrainingConfig,
  options: TrainStepOptions = {},
): TrainStep {
  const horizon = model.config.horizon;
  if (config.sequenceLength !== horizon + 1) {
    (options.log ?? warn)(
      `tdmpc2 uses the first horizon + 1 = ${horizon + 1} steps of each sequence; ` +
        `sequenceLength is ${config.sequenceLength}` +
        (config.sequenceLength > horizon + 1
          ? " (the rest is sampled and unused: set sequenceLength to horizon + 1)"
          : " (a shorter latent rollout than the model's horizon)"),
    );
  }
  const agent = new TDMPC2Agent(model, { seed: config.seed });
  return makeTrainStep({
    name: "tdmpc2",
    optimizers: { model: agent.optim, pi: agent.piOptim },
    compile: config.compile,
    log: options.log,
    update: (batch) => {
      const info = agent.update(batch);
      return { loss: info.total_loss, ...info };
    },
    state: () => ({ values: { generator: agent.generator.state() } }),
    loadState: (s) => {
      const g = s.values.generator as { seed?: unknown; counter?: unknown } | undefined;
      if (g && typeof g.seed === "number" && typeof g.counter === "number") {
        agent.generator.setState({ seed: g.seed, counter: g.counter });
      }
    },
  });
}

/**
 * TD-MPC2's controller: MPPI with the policy prior over the model's latent dynamics (the
 * official settings from `model.plannerDefaults()`, overridable), warm-started from the previous
 * plan within an episode; exploration noise on the first action while training, none in
 * evaluation (a separate planner, so evaluations never disturb the training warm start). Actions
 * are in [-1, 1]: make the environment with `normalizeActions: true`. Random draws come from
 * the global generator. Each action is one device read.
 *
 * @example
 * ```ts
 * import { createWorldModel, tdmpc2Controller } from "@worldflux/worldflux";
 * import type { TDMPC2WorldModel } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [3], actionDim: 1 });
 * const c = tdmpc2Controller(model as TDMPC2WorldModel, { iterations: 2, numSamples: 32 });
 * const info = {
 *   explore: false,
 *   envStep: 0,
 *   episodeStep: 0,
 *   actionSpace: { kind: "box", low: new Float32Array([-1]), high: new Float32Array([1]),
 *     shape: [1], dtype: "float32" },
 * } as const;
 * const r = await c.act(new Float32Array([1, 0, 0]), c.reset!({ explore: false }), info);
 * console.log("action" in (r as object)); // true
 * ```
 */
export function tdmpc2Controller(
  model: TDMPC2WorldModel,
  options: MPPIOptions = {},
): Controller<{ readonly t0: boolean }> {
  const settings = { ...model.plannerDefaults(), ...options };
  const train = new MPPIPlanner(model, settings);
  const evaluate = new MPPIPlanner(model, settings);
  const obsShape = model.config.obsShape as readonly number[];
  const A = model.config.actionDim;
  return {
    reset: ({ explore }) => {
      (explore ? train : evaluate).reset();
      return { t0: true };
    },
    act: (obs, state, info) => {
      const planner = info.explore ? train : evaluate;
      const action = tidy(() => {
        const o = tensor(Float32Array.from(obs), [1, ...obsShape], { device: model.device });
        const plan = planner.plan(o, { t0: state?.t0 ?? true, evalMode: !info.explore });
        return plan.tensor!.narrow(0, 0, 1).reshape([A]); // first step of [H, 1, A]
      });
      return { action, state: { t0: false } };
    },
  };
}
