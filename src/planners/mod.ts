/**
 * Planners over any world model that predicts rewards: {@link MPPIPlanner} (TD-MPC2's),
 * {@link CEMPlanner}, {@link CategoricalCEMPlanner} (discrete actions) and the baselines
 * {@link RandomShootingPlanner} and {@link PolicyPlanner}. `plan(state)` returns an
 * `ActionPayload` whose tensor is the planned `[H, B, A]` sequence with
 * `extras["wf.planner.horizon"] = H` (use `firstAction` for the action to take now).
 * @module
 */

export {
  type ActionSpace,
  actionSpaceOf,
  Imaginer,
  joinRollouts,
  type PlannerBaseOptions,
  type PlanningHooks,
  type PlanningModel,
  type PlanOptions,
  repeatState,
  type Rollout,
  shiftSequence,
} from "./helpers.ts";
export { type MPPIOptions, MPPIPlanner, type ScoredGaussian } from "./mppi.ts";
export { type Gaussian } from "./gaussian.ts";
export {
  type Elites,
  type Refit,
  type SampleFrame,
  type SamplingKind,
  type SamplingOptions,
  SamplingPlanner,
  type SamplingSettings,
  selectElites,
} from "./sampling.ts";
export {
  type CategoricalCEMOptions,
  CategoricalCEMPlanner,
  type CEMOptions,
  CEMPlanner,
} from "./cem.ts";
export {
  PolicyPlanner,
  type PolicyPlannerOptions,
  type RandomShootingOptions,
  RandomShootingPlanner,
} from "./baselines.ts";
