/**
 * The nn layer's user-facing exports, listed once: the root module (`mod.ts`) and the `/nn`
 * entry (`nn.ts`, which adds the families' building blocks) both re-export this module.
 * @module
 */

export {
  type LoadStateDictOptions,
  type LoadStateDictResult,
  Module,
  Parameter,
  Sequential,
  StateDictError,
} from "./module.ts";
export {
  type Init,
  type InitOptions,
  initWeight,
  truncNormalInit,
  uniformInit,
  zerosInit,
} from "./init.ts";
export {
  activate,
  Activation,
  type ActivationName,
  ACTIVATIONS,
  Conv2d,
  type ConvLayerOptions,
  ConvTranspose2d,
  Dropout,
  LayerNorm,
  type LayerOptions,
  Linear,
  makeNorm,
  type NormKind,
  RMSNorm,
  SimNorm,
  simnorm,
} from "./layers.ts";
export { BlockLayerNorm, GRUCell, type GRUCellOptions } from "./gru.ts";
export {
  EnsembleLayerNorm,
  EnsembleLinear,
  EnsembleMLP,
  type EnsembleMLPOptions,
  mlp,
  type MLPOptions,
  NormedLinear,
  type NormedLinearOptions,
} from "./mlp.ts";
export {
  alibiSlopes,
  causalAlibiBias,
  CausalSelfAttention,
  MASKED,
  scaledDotProductAttention,
  TransformerBlock,
} from "./attention.ts";
