/**
 * {@link TrainingError}: a training run that cannot go on (a non-finite loss, a broken update).
 * @module
 */

import { WorldFluxError } from "../errors.ts";

/** A training run that cannot go on: a non-finite loss, an update that failed, bad data. */
export class TrainingError extends WorldFluxError {
  /** The training step at which it happened (gradient updates offline, env steps online). */
  readonly step: number;
  /** Creates the error. */
  constructor(step: number, message: string, options?: ErrorOptions) {
    super("training", `step ${step}: ${message}`, options);
    this.step = step;
  }
}
