/**
 * Learning-rate schedules: functions of the step number (0 for the first step).
 * @module
 */

/** A learning rate as a function of the step (0-based). */
export type LRSchedule = (step: number) => number;

/** A constant learning rate. */
export function constantLR(lr: number): LRSchedule {
  return () => lr;
}

/** Linear warmup from 0 to `lr` over `warmup` steps, then constant. */
export function warmupLR(lr: number, warmup: number): LRSchedule {
  return (t) => (warmup > 0 && t < warmup ? lr * (t + 1) / warmup : lr);
}

/** Linear warmup, then cosine decay to `minLr` at `total` steps. */
export function warmupCosineLR(lr: number, warmup: number, total: number, minLr = 0): LRSchedule {
  return (t) => {
    if (warmup > 0 && t < warmup) return lr * (t + 1) / warmup;
    const p = Math.min(1, (t - warmup) / Math.max(1, total - warmup));
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * p));
  };
}

/** Linear warmup, then linear decay to `endLr` at `total` steps. */
export function warmupLinearLR(lr: number, warmup: number, total: number, endLr = 0): LRSchedule {
  return (t) => {
    if (warmup > 0 && t < warmup) return lr * (t + 1) / warmup;
    const p = Math.min(1, (t - warmup) / Math.max(1, total - warmup));
    return lr + (endLr - lr) * p;
  };
}
