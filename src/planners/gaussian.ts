/**
 * The Gaussian half of CEM and MPPI: both sample continuous action sequences from a mean and a
 * standard deviation per step and state, clamp them to the action bounds, and explore by noise
 * on the plan's first step. Only how the elites refit the Gaussian differs (plain averages or
 * exponentially weighted scores), so those are the two refits' own code.
 * @module
 */

import { concat, full } from "../tensor/creation.ts";
import { randn } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { shiftSequence, zeroSequence } from "./helpers.ts";
import type { SampleFrame } from "./sampling.ts";

/** A Gaussian per step and state: mean and standard deviation `[H, B, A]`. */
export interface Gaussian {
  /** Mean. */
  readonly mean: Tensor;
  /** Standard deviation. */
  readonly std: Tensor;
}

/** The first Gaussian: the previous mean shifted by a step (or zeros) and the largest std. */
export function startGaussian(f: SampleFrame, prev: Tensor | null, maxStd: number): Gaussian {
  const mean = prev ? shiftSequence(prev, 0) : zeroSequence(f.H, f.B, f.dim, f.device);
  return { mean, std: full([f.H, f.B, f.dim], maxStd, { device: f.device }) };
}

/** `n` clamped draws per state `[H, B, n, A]`. */
export function drawGaussian(f: SampleFrame, d: Gaussian, n: number): Tensor {
  const r = randn([f.H, f.B, n, f.dim], { ...f.g, device: f.device });
  return d.mean.unsqueeze(2).add(d.std.unsqueeze(2).mul(r)).clamp(f.bounds[0], f.bounds[1]);
}

/** `plan` `[H, B, A]` with noise of `std` on its first step (exploration), clamped. */
export function exploreFirst(f: SampleFrame, plan: Tensor, std: Tensor): Tensor {
  const first = plan.narrow(0, 0, 1).add(
    std.narrow(0, 0, 1).mul(randn([1, f.B, f.dim], { ...f.g, device: f.device })),
  );
  return f.H > 1 ? concat([first, plan.narrow(0, 1, f.H - 1)], 0) : first;
}
