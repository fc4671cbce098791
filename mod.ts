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
  SizeLimitError,
  WorldFluxError,
} from "./src/errors.ts";

// Tensors, autograd and compiled steps (the list is src/tensor/api.ts, shared with /tensor)
export * from "./src/tensor/api.ts";

// nn (the list is src/nn/api.ts, shared with /nn)
export * from "./src/nn/api.ts";

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
export {
  type AtomicRecovery,
  recoverAtomic,
  recoverDir,
  strandedCopies,
  writeDirAtomic,
  writeFileAtomic,
} from "./src/io/atomic.ts";
export { allocationLimit, checkAllocation, setAllocationLimit } from "./src/io/limits.ts";
export {
  decodeNpy,
  encodeNpy,
  type NpyArray,
  type NpyData,
  type NpyDataTypes,
  type NpyDType,
  type NpyInput,
  type NpyInputData,
  type NpyReadOptions,
  npyToNumbers,
} from "./src/io/npy.ts";
export {
  decodeNpz,
  encodeNpz,
  loadNpz,
  type NpzArrays,
  type NpzReadOptions,
  type NpzWriteOptions,
  saveNpz,
} from "./src/io/npz.ts";
export { ReplayBuffer } from "./src/training/replay_buffer.ts";
export { readReplayArrays } from "./src/training/replay_file.ts";
export type {
  ActionDtype,
  EpisodeInput,
  FlagInput,
  NumericInput,
  ObsDtype,
  ReplayBufferOptions,
  ReplayLoadOptions,
  ReplaySample,
  ReplaySaveOptions,
  SampleOptions,
} from "./src/training/replay_types.ts";

// Training
export { TrainingError } from "./src/training/errors.ts";
export {
  parseTrainingConfig,
  type ParseTrainingConfigOptions,
  TRAINING_CONFIG_DEFAULTS,
  TRAINING_CONFIG_FIELDS,
  TRAINING_DEVICES,
  TRAINING_OPTIMIZERS,
  TRAINING_SCHEDULERS,
  type TrainingConfig,
  trainingConfigFromSnakeCase,
  type TrainingConfigInput,
  trainingConfigToSnakeCase,
} from "./src/core/training_config.ts";
export {
  createOptimizer,
  defaultTrainStep,
  type DefaultTrainStepHooks,
  disposeBatch,
  learningRateSchedule,
  makeTrainStep,
  type TrainStep,
  type TrainStepFactory,
  type TrainStepOptions,
  type TrainStepSpec,
  type TrainStepState,
} from "./src/core/train_step.ts";
export { createTrainStep, resolveController } from "./src/training/family.ts";
export {
  type Callback,
  type CallbackResult,
  CheckpointCallback,
  type CheckpointCallbackOptions,
  EarlyStoppingCallback,
  type EarlyStoppingOptions,
  LoggingCallback,
  type LoggingCallbackOptions,
  type Metrics,
  ProgressCallback,
  type ProgressCallbackOptions,
  type TrainingContext,
  type TrainingState,
  type TrainSummary,
} from "./src/training/callbacks.ts";
export {
  CHECKPOINT_FILES,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointContents,
  type CheckpointManifest,
  checkpointName,
  type GeneratorState,
  latestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  restoreCheckpoint,
  type RestoredCheckpoint,
  saveCheckpoint,
  type TrainerCheckpointState,
} from "./src/training/checkpoint.ts";
export {
  type BatchSource,
  train,
  Trainer,
  type TrainerOptions,
  type TrainFunctionOptions,
  type TrainOptions,
  type TrainResult,
} from "./src/training/trainer.ts";
export {
  type ActInfo,
  type ActOutput,
  type ActResult,
  type Controller,
  type ControllerFactory,
  type ControllerOptions,
  randomController,
} from "./src/core/controller.ts";
export {
  actGreedy,
  actWith,
  type EnvAction,
  evaluateController,
  type EvaluateOptions,
  type StepRecorder,
  toEnvAction,
} from "./src/core/acting.ts";
export {
  type EpisodeRecord,
  type EvalRecord,
  type OnlineOptions,
  type OnlineResult,
  trainOnline,
} from "./src/training/online.ts";

// Environments
export * from "./src/envs/mod.ts";

// Devices
export { type DeviceRequest, getDefaultDevice, setDefaultDevice } from "./src/backend/device.ts";
export { initWebGPU } from "./backend.ts";
export { setKernelWorkerUrl } from "./src/backend/wasm/pool.ts";

// ============================================================================================
// World-model contract (src/core) and the built-in families (src/models)
// ============================================================================================
export {
  CapabilityError,
  CheckpointError,
  type CheckpointProblem,
  ComponentError,
  ContractDefinitionError,
  ContractError,
  type ContractViolationKind,
  FamilyUnavailableError,
  PluginError,
  UnknownModelError,
} from "./src/core/errors.ts";
export {
  API_VERSIONS,
  type ApiVersion,
  CAPABILITIES,
  type Capability,
  MATURITIES,
  type Maturity,
  type Surface,
  SURFACES,
  type Tier,
  TIERS,
} from "./src/core/types.ts";
export {
  ACTION_KINDS,
  type ActionKind,
  type ActionSpec,
  canonicalJson,
  type ConditionSpec,
  isNamespacedExtraKey,
  MODALITY_KINDS,
  type ModalityKind,
  type ModalitySpec,
  ModelIOContract,
  type ModelIOContractInit,
  NAMESPACED_EXTRA_KEY_PATTERN,
  type ObservationSpec,
  type PredictionSpec,
  type SequenceFieldSpec,
  standardIOContract,
  type StandardIOContractOptions,
  type StateSpec,
} from "./src/core/spec.ts";
export {
  type ActionPayload,
  type ActionSequence,
  type ConditionPayload,
  firstAction,
  normalizePlannedAction,
  PLANNER_HORIZON_KEY,
  PLANNER_SEQUENCE_KEY,
  primaryTensor,
  type WorldModelInput,
} from "./src/core/payloads.ts";
export { State } from "./src/core/state.ts";
export { type Batch, resolveBatchKey, type TensorOrRecord } from "./src/core/batch.ts";
export {
  type LossOutput,
  ModelOutput,
  type ModelOutputInit,
  Trajectory,
  type TrajectoryInit,
} from "./src/core/outputs.ts";
export { ContractValidator } from "./src/core/validation.ts";
export {
  type ActionConditioner,
  applyComponentOverrides,
  type Component,
  COMPONENT_SLOTS,
  type ComponentClass,
  type ComponentContext,
  type ComponentHost,
  type ComponentOf,
  type ComponentOverride,
  type ComponentOverrides,
  ComponentRegistry,
  type ComponentSlot,
  type ComponentSpec,
  type Decoder,
  DefaultActionConditioner,
  type DynamicsModel,
  type DynamicsOptions,
  type EncodeComponentOptions,
  type ObservationEncoder,
  OpenLoopRolloutExecutor,
  type RolloutExecutor,
  type RolloutExecutorOptions,
  type RolloutHost,
} from "./src/core/components.ts";
export {
  type ActionInput,
  type ActionSequenceInput,
  type DecodeOptions,
  type EncodeOptions,
  type InitialStateOptions,
  type ObservationInput,
  type RolloutOptions,
  type TransitionOptions,
  type UpdateOptions,
  WorldModel,
  type WorldModelOptions,
  type WorldModelProtocol,
} from "./src/core/world_model.ts";
export {
  type ConfigIssue,
  type ConfigSchema,
  configSchemaFor,
  type FamilyConfigSchema,
  type NoExtraFields,
} from "./src/core/config_schema.ts";
export {
  type BaseConfig,
  type BuildContext,
  type BuiltinNames,
  CatalogEntry,
  type CatalogInfo,
  type FamilyScaffold,
  type FamilySpec,
  MODEL_ALIASES,
  MODEL_CATALOG,
  type PresetSpec,
  type ResolvedModel,
  WorldModelRegistry,
} from "./src/core/registry.ts";
export {
  formatParamCount,
  getModelInfo,
  listModels,
  type ListModelsOptions,
  type ModelInfo,
} from "./src/core/catalog.ts";
export {
  createWorldModel,
  type CreateWorldModelArgs,
  type CreateWorldModelOptions,
  resolveModelName,
} from "./src/core/factory.ts";
export {
  PRETRAINED_FILES,
  type PretrainedMeta,
  type SavableModel,
  SAVE_FORMAT_VERSION,
  savePretrained,
} from "./src/core/serialization.ts";
export { fromPretrained, type FromPretrainedOptions } from "./src/core/from_pretrained.ts";
export {
  checkPluginCompatibility,
  listPlugins,
  loadPlugin,
  PLUGIN_CAPABILITIES,
  type PluginCapability,
  type PluginCompatibility,
  type PluginContext,
  type PluginManifest,
  registerPlugin,
  unregisterPlugin,
  type WorldFluxPlugin,
} from "./src/core/plugins.ts";
export { compareVersions, parseVersion, satisfies, type SemVer } from "./src/core/semver.ts";
export { PLUGIN_API_VERSION, WORLDFLUX_VERSION } from "./src/core/version.ts";
export {
  type CategoricalLatentOptions,
  CategoricalLatentSpace,
  type GaussianLatentOptions,
  GaussianLatentSpace,
  type KLOptions,
  type LatentSampleOptions,
  type LatentSpace,
  SimNormLatentSpace,
} from "./src/core/latent.ts";
export {
  countMLPParameters,
  MLP_PRESETS,
  type MLPConfig,
  mlpConfigSchema,
  MLPDecoder,
  MLPDynamics,
  MLPEncoder,
  mlpFamilySpec,
  MLPWorldModel,
  type MLPWorldModelOptions,
  registerMLPFamily,
} from "./src/models/mlp/mod.ts";
export {
  countJEPAParameters,
  JEPA_PRESETS,
  type JEPAConfig,
  jepaConfigSchema,
  JEPAEncoder,
  jepaFamilySpec,
  JEPAPredictor,
  jepaTrainStep,
  JEPAWorldModel,
  type JEPAWorldModelOptions,
  registerJEPAFamily,
  vicregTerms,
} from "./src/models/jepa/mod.ts";
export {
  countTokenParameters,
  registerTokenFamily,
  TOKEN_PRESETS,
  type TokenConfig,
  tokenConfigSchema,
  tokenFamilySpec,
  type Tokenized,
  TokenTransformer,
  TokenWorldModel,
  type TokenWorldModelOptions,
  VQTokenizer,
} from "./src/models/token/mod.ts";
// DreamerV3
export {
  Actor,
  ActorCritic,
  type ActorCriticLoss,
  BinaryHead,
  BlockLinear,
  type CoreWeights,
  countDreamerV3Parameters,
  DenseStack,
  type DreamerLossResult,
  DreamerTrainer,
  type DreamerTrainerOptions,
  DREAMERV3_PRESETS,
  type DreamerV3Config,
  dreamerV3ConfigSchema,
  dreamerV3Controller,
  type DreamerV3ControllerOptions,
  type DreamerV3ControllerState,
  dreamerV3FamilySpec,
  dreamerV3TrainStep,
  DreamerV3WorldModel,
  type DreamerV3WorldModelOptions,
  type Imagined,
  type ImagineOptions,
  MultiDecoder,
  MultiEncoder,
  Norm,
  type NormAffine,
  NormLinear,
  type ObserveResult,
  type ObsLayout,
  type PolicyDist,
  type PreparedLinear,
  registerDreamerV3Family,
  type ReplayValueInputs,
  RSSM,
  type RSSMState,
  TwoHotHead,
} from "./src/models/dreamerv3/mod.ts";
import { registerBuiltinFamilies } from "./src/models/registry_setup.ts";
export { registerBuiltinFamilies };
// Models are built by name (`createWorldModel("dreamer:ci")`): the built-in families are
// registered when the library is imported.
registerBuiltinFamilies();
// ============================================================================================
// End of the world-model contract section
// ============================================================================================

// TD-MPC2
export {
  binCenters,
  type BinSpec,
  countTDMPC2Parameters,
  type PolicySample,
  type QWeights,
  type RandomOpts,
  registerTDMPC2Family,
  RunningScale,
  softCE,
  TDMLP,
  TDMPC2_PRESETS,
  TDMPC2Agent,
  type TDMPC2AgentOptions,
  type TDMPC2Config,
  tdmpc2ConfigSchema,
  tdmpc2Controller,
  type TDMPC2Dims,
  tdmpc2Dims,
  tdmpc2Discount,
  TDMPC2Dynamics,
  TDMPC2Encoder,
  tdmpc2FamilySpec,
  TDMPC2Network,
  tdmpc2TrainStep,
  TDMPC2WorldModel,
  type TDMPC2WorldModelOptions,
  type TimeMajorBatch,
  twoHot,
  twoHotInv,
  type UpdateInfo,
  type UpdateInputs,
  type UpdatePhase,
  type WorldModelLossParts,
} from "./src/models/tdmpc2/mod.ts";

// Planners
export {
  type ActionSpace,
  actionSpaceOf,
  type CategoricalCEMOptions,
  CategoricalCEMPlanner,
  type CEMOptions,
  CEMPlanner,
  type Elites,
  type Gaussian,
  Imaginer,
  joinRollouts,
  type MPPIOptions,
  MPPIPlanner,
  type PlannerBaseOptions,
  type PlanningHooks,
  type PlanningModel,
  type PlanOptions,
  PolicyPlanner,
  type PolicyPlannerOptions,
  type RandomShootingOptions,
  RandomShootingPlanner,
  type Refit,
  repeatState,
  type Rollout,
  type SampleFrame,
  type SamplingKind,
  type SamplingOptions,
  SamplingPlanner,
  type SamplingSettings,
  type ScoredGaussian,
  selectElites,
  shiftSequence,
} from "./src/planners/mod.ts";
