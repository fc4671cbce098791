/**
 * The tensor layer's user-facing exports, listed once: the root module (`mod.ts`) and the
 * `/tensor` entry (`tensor.ts`, which adds what only library authors need) both re-export this
 * module, so a name is added to, or removed from, both in one place.
 * @module
 */

export type { DType, TensorData } from "../ir/dtype.ts";
export type { DeviceName } from "../backend/types.ts";
export type { NestedArray } from "./read.ts";
export { realize, Tensor, type TensorLike } from "./tensor.ts";
export { noGrad } from "./autograd.ts";
export {
  arange,
  concat,
  type CreateOptions,
  eye,
  full,
  fullLike,
  linspace,
  oneHot,
  ones,
  onesLike,
  stack,
  tensor,
  where,
  zeros,
  zerosLike,
} from "./creation.ts";
export {
  bernoulli,
  categorical,
  defaultGenerator,
  dropout,
  Generator,
  manualSeed,
  rand,
  randint,
  randn,
  type RandomOptions,
} from "./random.ts";
export {
  avgPool2d,
  conv2d,
  type ConvOptions,
  convTranspose2d,
  layerNorm,
  maxPool2d,
  rmsNorm,
  sort,
  topk,
  upsampleNearest2d,
} from "./functional.ts";
export { type DeviceMemory, type MemoryInfo, memoryInfo, tidy } from "./memory.ts";
export { backwardGrad as grad, valueAndGrad } from "./grad.ts";
export { compile, type CompiledStep, type StepOutput } from "./compile.ts";
