/**
 * worldflux: world models (DreamerV3, TD-MPC2, ...) for Deno, on a tensor layer of its own that
 * runs WGSL kernels on WebGPU and TypeScript/WebAssembly kernels on the CPU.
 *
 * @example
 * ```ts
 * import { tensor, tidy } from "@worldflux/worldflux";
 * const y = tidy(() => tensor([[1, 2], [3, 4]]).matmul(tensor([[1], [1]])).relu());
 * console.log(await y.array()); // [[3], [7]]
 * ```
 * @module
 */

// Errors
export {
  ConfigError,
  DeviceError,
  DisposedError,
  DTypeError,
  FormatError,
  KernelError,
  ShapeError,
  WorldFluxError,
} from "./src/errors.ts";

// Tensors
export type { DType, TensorData } from "./src/tensor/dtype.ts";
export type { DeviceName } from "./src/backend/types.ts";
export {
  isGradEnabled,
  keep,
  type NestedArray,
  noGrad,
  realize,
  realizeAsync,
  Tensor,
  type TensorLike,
} from "./src/tensor/tensor.ts";
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
export { type MemoryInfo, memoryInfo, tidy } from "./src/tensor/memory.ts";

// Devices
export {
  type AutoDecision,
  type DeviceRequest,
  getDefaultDevice,
  initWebGPU,
  resolveAuto,
  setDefaultDevice,
} from "./src/backend/device.ts";
import "./src/backend/webgpu/backend.ts";
