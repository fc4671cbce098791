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

// Autograd and compiled steps
export { backwardGrad as grad, valueAndGrad } from "./src/tensor/autograd.ts";
export {
  compile,
  type CompiledStep,
  isTracing,
  onReplay,
  type StepOutput,
} from "./src/tensor/compile.ts";

// nn
export {
  type LoadStateDictOptions,
  type LoadStateDictResult,
  Module,
  Parameter,
  Sequential,
  StateDictError,
} from "./src/nn/module.ts";
export {
  type Init,
  type InitOptions,
  initWeight,
  truncNormalInit,
  uniformInit,
  zerosInit,
} from "./src/nn/init.ts";
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
} from "./src/nn/layers.ts";
export { BlockLayerNorm, GRUCell, type GRUCellOptions } from "./src/nn/gru.ts";
export {
  EnsembleLayerNorm,
  EnsembleLinear,
  EnsembleMLP,
  type EnsembleMLPOptions,
  mlp,
  type MLPOptions,
  NormedLinear,
  type NormedLinearOptions,
} from "./src/nn/mlp.ts";
export { type ArenaLayout, type ArenaSlot, ParamArena, ShadowArena } from "./src/nn/arena.ts";

// optim
export {
  Adam,
  AdamW,
  LaProp,
  Optimizer,
  type OptimizerOptions,
  type OptimizerState,
  type ParamGroupSpec,
} from "./src/optim/optimizer.ts";
export { adaptiveClipGrad, clipGradNorm } from "./src/optim/clip.ts";
export {
  constantLR,
  type LRSchedule,
  warmupCosineLR,
  warmupLinearLR,
  warmupLR,
} from "./src/optim/schedule.ts";
export { EMA, softUpdate } from "./src/optim/ema.ts";

// io
export {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  readSafetensorsMetadata,
  type SafetensorsEntry,
  type SafetensorsFile,
  saveSafetensors,
} from "./src/io/safetensors.ts";
export { writeDirAtomic, writeFileAtomic } from "./src/io/atomic.ts";

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
