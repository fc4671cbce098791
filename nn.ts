/**
 * Building networks (`@worldflux/worldflux/nn`): `Module`s and `Parameter`s, layers, ensembles,
 * initialisers, and the families' own building blocks that the root module leaves out because
 * only code assembling new models needs them (TD-MPC2's fused Mish activation, its
 * initialisation, the batched Q-ensemble forward pass; DreamerV3's layer options, norm affine
 * parameters and prepared linear weights).
 *
 * @example
 * ```ts
 * import { fastMish, Linear } from "@worldflux/worldflux/nn";
 * import { randn } from "@worldflux/worldflux/tensor";
 * const layer = new Linear(4, 8);
 * console.log(fastMish(layer.forward(randn([2, 4]))).shape); // [2, 8]
 * ```
 * @module
 */

export type { Tensor } from "./src/tensor/tensor.ts";
export type { Generator } from "./src/tensor/random.ts";
export * from "./src/nn/api.ts";
export {
  fastMish,
  qForward,
  type QWeights,
  TDMLP,
  tdmpc2Init,
} from "./src/models/tdmpc2/networks.ts";
export {
  type NetOptions,
  type NormAffine,
  type PreparedLinear,
} from "./src/models/dreamerv3/mod.ts";
