/**
 * The step a model trains with and the controller it acts with: its family's (the `trainStep`
 * and `controller` of the registered `FamilySpec`), else the generic step and no controller.
 * The loops ask here and never name a family.
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Controller, ControllerOptions } from "../core/controller.ts";
import { type FamilySpec, WorldModelRegistry } from "../core/registry.ts";
import type { TrainingConfig } from "../core/training_config.ts";
import { defaultTrainStep, type TrainStep, type TrainStepOptions } from "../core/train_step.ts";
import type { WorldModel } from "../core/world_model.ts";

/** The registered spec of `model`'s family, or null for a model of no registered family. */
function familyOf(model: WorldModel): FamilySpec | null {
  return WorldModelRegistry.has(model.modelType)
    ? WorldModelRegistry.family(model.modelType)
    : null;
}

function isTrainStep(x: unknown): x is TrainStep {
  const s = x as TrainStep;
  return !!s && typeof s.step === "function" && typeof s.stateDict === "function" &&
    typeof s.loadStateDict === "function" && typeof s.optimizers === "object";
}

/**
 * The training step of `model`: its family's `trainStep` when the family has one, else
 * {@link defaultTrainStep} (`model.loss(batch)`, backward, the config's optimizer).
 *
 * @example
 * ```ts
 * import { createTrainStep, createWorldModel, parseTrainingConfig } from "@worldflux/worldflux";
 * const model = await createWorldModel("tdmpc2:ci", { obsShape: [3], actionDim: 1 });
 * const step = createTrainStep(model, parseTrainingConfig({ batchSize: 4, sequenceLength: 4 }));
 * console.log(Object.keys(step.optimizers)); // [ "model", "pi" ]
 * step.dispose();
 * ```
 */
export function createTrainStep(
  model: WorldModel,
  config: TrainingConfig,
  options: TrainStepOptions = {},
): TrainStep {
  const make = familyOf(model)?.trainStep;
  if (!make) return defaultTrainStep(model, config, options);
  const s = make(model, config, options);
  if (!isTrainStep(s)) {
    throw new ConfigError(
      `the trainStep of the ${model.modelType} family must return a TrainStep ({ step, ` +
        `stateDict, loadStateDict, optimizers, dispose })`,
    );
  }
  return s;
}

/** The controller of `model`'s family, or null when its family has none. */
export function resolveController(
  model: WorldModel,
  options: ControllerOptions,
): Controller | null {
  return familyOf(model)?.controller?.(model, options) ?? null;
}
