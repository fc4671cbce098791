/**
 * The tensor layer on its own (`@worldflux/worldflux/tensor`): lazy `Tensor`s, creation, random
 * numbers, functional ops, memory scopes, autograd and `compile()`, plus what the root module
 * leaves out because only code that writes its own compiled steps, memory management or
 * kernels needs it: the trace hooks (`isTracing`, `onReplay`), `keep`, `realizeAsync`,
 * `isGradEnabled` and `scatterAdd`.
 *
 * @example
 * ```ts
 * import { isTracing, tensor, tidy } from "@worldflux/worldflux/tensor";
 * console.log(isTracing()); // false: not inside a compile() trace
 * const y = tidy(() => tensor([1, 2]).mul(2));
 * console.log(await y.array()); // [2, 4]
 * ```
 * @module
 */

export type { DType, TensorData } from "./src/ir/dtype.ts";
export {
  type NestedArray,
  realize,
  realizeAsync,
  Tensor,
  type TensorLike,
} from "./src/tensor/tensor.ts";
export { isGradEnabled, noGrad } from "./src/tensor/autograd.ts";
export { keep, type Scoped } from "./src/tensor/scope.ts";
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
} from "./src/tensor/creation.ts";
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
} from "./src/tensor/random.ts";
export {
  avgPool2d,
  conv2d,
  type ConvOptions,
  convTranspose2d,
  layerNorm,
  maxPool2d,
  rmsNorm,
  scatterAdd,
  sort,
  topk,
  upsampleNearest2d,
} from "./src/tensor/functional.ts";
export { type DeviceMemory, type MemoryInfo, memoryInfo, tidy } from "./src/tensor/memory.ts";
export { backwardGrad as grad, valueAndGrad } from "./src/tensor/grad.ts";
export {
  compile,
  type CompiledStep,
  isTracing,
  onReplay,
  type StepOutput,
} from "./src/tensor/compile.ts";
export type { DeviceName } from "./src/backend/types.ts";
