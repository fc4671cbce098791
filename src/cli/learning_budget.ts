/**
 * What a *learning budget* is: the bar an online run (`[data] source = "env"`, or any other
 * environment source) must clear before its manifest may call it `meaningful_local_training`
 * with no degraded modes. Below it the run is a smoke test of the online loop, not evidence
 * that the family learns, and `run_manifest.json` says so with the degraded mode
 * `below_learning_budget`.
 *
 * An online run has a learning budget when all of these hold:
 *
 * | requirement                     | why                                                        |
 * | ------------------------------- | ---------------------------------------------------------- |
 * | the family's own policy acts    | random actions after the prefill train nothing to act (that run is `random_policy`) |
 * | >= 3,000 environment steps      | TD-MPC2 beats random play on Pendulum-v1 by 1,000 after 2,000 steps (docs/learning_results.md); fewer is a smoke test |
 * | >= 1,000 gradient updates       | DreamerV3's learning rates warm up over the first 1,000 updates (official `opt.warmup`); TD-MPC2 seeds 1,000 steps |
 * | an evaluation after the prefill | the returns in the manifest are those of the learned policy, not of the prefill |
 *
 * The thresholds are deliberately modest: a learning budget does not promise that the task is
 * solved (the evaluation history says how far it got), only that the run gave the family a
 * chance to learn.
 * @module
 */

/** The thresholds of a learning budget (see the module docs). */
export const LEARNING_BUDGET: Readonly<{ minEnvSteps: number; minUpdates: number }> = Object
  .freeze({ minEnvSteps: 3000, minUpdates: 1000 });

/** What {@link learningBudgetShortfalls} looks at: how an online run went. */
export interface OnlineRunFacts {
  /** True when the family's controller acted after the prefill (false: random actions). */
  readonly ownPolicy: boolean;
  /** Environment steps taken. */
  readonly envSteps: number;
  /** Gradient updates done. */
  readonly updates: number;
  /** Random-action steps before the first update. */
  readonly prefillSteps: number;
  /** Environment steps at which the policy was evaluated. */
  readonly evalSteps: readonly number[];
}

/**
 * Why an online run falls short of a learning budget: one sentence per unmet requirement,
 * empty when the run has one.
 *
 * @example
 * ```ts
 * import { learningBudgetShortfalls } from "./learning_budget.ts";
 * const why = learningBudgetShortfalls({
 *   ownPolicy: true, envSteps: 20_000, updates: 4_750, prefillSteps: 1_000, evalSteps: [20_000],
 * });
 * console.log(why.length); // 0
 * ```
 */
export function learningBudgetShortfalls(run: OnlineRunFacts): string[] {
  const out: string[] = [];
  const { minEnvSteps, minUpdates } = LEARNING_BUDGET;
  if (!run.ownPolicy) out.push("the family's policy never acted (random actions throughout)");
  if (run.envSteps < minEnvSteps) {
    out.push(`${run.envSteps} environment steps, fewer than ${minEnvSteps}`);
  }
  if (run.updates < minUpdates) {
    out.push(`${run.updates} gradient updates, fewer than ${minUpdates}`);
  }
  if (!run.evalSteps.some((s) => s > run.prefillSteps)) {
    out.push(`no evaluation after the ${run.prefillSteps} prefill steps`);
  }
  return out;
}
