/**
 * Parameter initialisers. Each draws from a {@link Generator} (the global one by default) with
 * counter-based keys, so an initialisation is identical on every device.
 * @module
 */

import type { DeviceName } from "../backend/types.ts";
import { getDefaultDevice } from "../backend/device.ts";
import { full } from "../tensor/creation.ts";
import { defaultGenerator, type Generator, rand, randn } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { where } from "../tensor/creation.ts";

/** Where initial values are drawn. */
export interface InitOptions {
  /** Random stream (default: the global generator). */
  readonly generator?: Generator;
  /** Device (default: the default device). */
  readonly device?: DeviceName;
}

/** A named initialiser or a function of (shape, fanIn, fanOut, options). */
export type Init =
  | "default"
  | "zeros"
  | "ones"
  | "truncNormal"
  | "xavierUniform"
  | ((shape: number[], fanIn: number, fanOut: number, opts: InitOptions) => Tensor);

/** Uniform in `[low, high)`. */
export function uniformInit(
  shape: number[],
  low: number,
  high: number,
  opts: InitOptions = {},
): Tensor {
  const g = opts.generator ?? defaultGenerator();
  return rand(shape, { generator: g, device: opts.device ?? getDefaultDevice() }).mul(high - low)
    .add(low);
}

/** Normal with standard deviation `std`, truncated at two standard deviations. */
export function truncNormalInit(shape: number[], std: number, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator();
  const device = opts.device ?? getDefaultDevice();
  // Resample values beyond 2 sigma (three rounds leave ~1e-5 of them, then clamp).
  let z = randn(shape, { generator: g, device });
  for (let i = 0; i < 3; i++) {
    const r = randn(shape, { generator: g, device });
    z = where(z.abs().gt(2), r, z);
  }
  return z.clamp(-2, 2).mul(std);
}

/** Zeros. */
export function zerosInit(shape: number[], opts: InitOptions = {}): Tensor {
  return full(shape, 0, { device: opts.device ?? getDefaultDevice() });
}

/**
 * The initial value of a weight of `shape` with the given fans:
 * - `default`: PyTorch's Linear/Conv default, U(-1/sqrt(fanIn), 1/sqrt(fanIn))
 * - `truncNormal`: DreamerV3's fan-in truncated normal, std sqrt(1/fanIn) / 0.8796 (the
 *   correction for truncation at 2 sigma)
 * - `xavierUniform`: U(-a, a), a = sqrt(6 / (fanIn + fanOut))
 * - `zeros` / `ones`
 */
export function initWeight(
  init: Init,
  shape: number[],
  fanIn: number,
  fanOut: number,
  opts: InitOptions = {},
): Tensor {
  if (typeof init === "function") return init(shape, fanIn, fanOut, opts);
  switch (init) {
    case "zeros":
      return zerosInit(shape, opts);
    case "ones":
      return full(shape, 1, { device: opts.device ?? getDefaultDevice() });
    case "truncNormal":
      return truncNormalInit(shape, Math.sqrt(1 / Math.max(fanIn, 1)) / 0.87962566103423978, opts);
    case "xavierUniform": {
      const a = Math.sqrt(6 / Math.max(fanIn + fanOut, 1));
      return uniformInit(shape, -a, a, opts);
    }
    default: {
      const b = 1 / Math.sqrt(Math.max(fanIn, 1));
      return uniformInit(shape, -b, b, opts);
    }
  }
}
