/**
 * {@link WorldModel}: the base class every family extends, and {@link WorldModelProtocol}, the
 * interface the rest of worldflux (planners, training, CLI) programs against.
 *
 * Public methods coerce their inputs (legacy call forms included), validate them against
 * `ioContract()` (strict in api `"v3"`, warnings in `"v0.2"`), then call a protected `*Impl`
 * hook. The default hooks route through the five pluggable components, so a family that builds
 * its model from components only implements `ioContract()` and `lossImpl()`.
 * @module
 */

import type { DeviceName } from "../backend/types.ts";
import { ConfigError, ShapeError } from "../errors.ts";
import { Module } from "../nn/module.ts";
import { zeros } from "../tensor/creation.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { Batch } from "./batch.ts";
import {
  type ActionConditioner,
  COMPONENT_SLOTS,
  type ComponentHost,
  type ComponentOf,
  type ComponentSlot,
  type Decoder,
  DefaultActionConditioner,
  type DynamicsModel,
  type ObservationEncoder,
  OpenLoopRolloutExecutor,
  type RolloutExecutor,
} from "./components.ts";
import { CapabilityError, ComponentError, ContractError } from "./errors.ts";
import { type LossOutput, ModelOutput, type Trajectory } from "./outputs.ts";
import {
  type ActionPayload,
  type ActionSequence,
  type ConditionPayload,
  isActionPayload,
  isWorldModelInput,
  normalizePlannedAction,
  type WorldModelInput,
} from "./payloads.ts";
import type { ModelIOContract } from "./spec.ts";
import { State } from "./state.ts";
import { API_VERSIONS, type ApiVersion, type Capability } from "./types.ts";
import {
  checkAction,
  checkBatch,
  checkConditions,
  checkObservations,
  checkPredictions,
  checkState,
  ContractValidator,
} from "./validation.ts";
import { savePretrained } from "./serialization.ts";

/** Observations as accepted by `encode`/`update`: a tensor (legacy), tensors by key, or a {@link WorldModelInput}. */
export type ObservationInput = Tensor | Readonly<Record<string, Tensor>> | WorldModelInput;

/** An action as accepted by `transition`/`update`: a payload, a tensor (legacy), or none. */
export type ActionInput = ActionPayload | Tensor | null | undefined;

/** Actions of a rollout: a `[T, B, ...]` tensor, an {@link ActionSequence}, a planner's payload, or none. */
export type ActionSequenceInput = Tensor | ActionSequence | ActionPayload | null | undefined;

/** Options of `encode`. */
export interface EncodeOptions {
  /** Use the posterior's mode instead of a sample. */
  readonly deterministic?: boolean;
}

/** Options of `transition`. */
export interface TransitionOptions {
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
  /** Use the prior's mode instead of a sample. */
  readonly deterministic?: boolean;
}

/** Options of `update`. */
export interface UpdateOptions {
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
}

/** Options of `rollout`. */
export interface RolloutOptions {
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
  /** Use modes instead of samples. */
  readonly deterministic?: boolean;
  /** Only `"autoregressive"` (other modes were removed: use planners). */
  readonly mode?: string;
}

/** Options of `initialState`. */
export interface InitialStateOptions {
  /** Device (default: the model's). */
  readonly device?: DeviceName;
}

/** How a family builds a model: what `createWorldModel` passes to the family's factory. */
export interface WorldModelOptions {
  /** API compatibility mode (default `"v3"`). */
  readonly apiVersion?: ApiVersion;
  /** Device of the parameters (default `"cpu"`). */
  readonly device?: DeviceName;
}

/**
 * The world-model interface: what planners, trainers and the CLI use. {@link WorldModel}
 * implements it; anything else implementing it works with them too.
 */
export interface WorldModelProtocol {
  /** The family (`"mlp"`, `"dreamerv3"`, ...). */
  readonly modelType: string;
  /** The family config (camelCase). */
  readonly config: Readonly<Record<string, unknown>>;
  /** API compatibility mode. */
  apiVersion: ApiVersion;
  /** Device of the parameters. */
  readonly device: DeviceName;
  /** Advertised capabilities. */
  readonly capabilities: ReadonlySet<Capability>;
  /** Observations -> latent state (posterior). */
  encode(obs: ObservationInput, opts?: EncodeOptions): State;
  /** State and action -> next state (prior, imagination). */
  transition(state: State, action: ActionInput, opts?: TransitionOptions): State;
  /** State, action and the observation that followed -> next state (posterior). */
  update(state: State, action: ActionInput, obs: ObservationInput, opts?: UpdateOptions): State;
  /** State -> predictions (`obs`, `reward`, `continue`, ...). */
  decode(state: State, opts?: DecodeOptions): ModelOutput;
  /** Open-loop imagination over a sequence of actions. */
  rollout(initialState: State, actions: ActionSequenceInput, opts?: RolloutOptions): Trajectory;
  /** Training loss of a batch. */
  loss(batch: Batch): LossOutput;
  /** The state before any observation. */
  initialState(batchSize: number, opts?: InitialStateOptions): State;
  /** The runtime I/O contract. */
  ioContract(): ModelIOContract;
  /** True when `decode` predicts rewards. */
  readonly supportsReward: boolean;
  /** True when `decode` predicts continue probabilities. */
  readonly supportsContinue: boolean;
  /** True when the model advertises `capability`. */
  supports(capability: Capability): boolean;
  /** Trainable parameters. */
  parameters(): Tensor[];
  /** Writes `config.json`, `model.safetensors` and `worldflux_meta.json` into `dir` (atomically). */
  savePretrained(dir: string): Promise<void>;
  /** sha256 of the canonical JSON of `ioContract()`. */
  contractFingerprint(): Promise<string>;
}

/**
 * Base class of world models. A family extends it, fills the component slots it uses in its
 * constructor, adds its capabilities, and implements `ioContract()` and `lossImpl()`; hooks
 * (`encodeImpl`, `transitionImpl`, ...) can be overridden where a family does not route
 * through components (e.g. an RSSM's `updateImpl`).
 *
 * @example
 * ```ts
 * import { createWorldModel, randn } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
 * const state = model.encode(randn([3, 4]));
 * const traj = model.rollout(state, randn([5, 3, 2]));
 * console.log(traj.rewards!.shape); // [5, 3]
 * ```
 */
export abstract class WorldModel<C extends object = Record<string, unknown>> extends Module
  implements WorldModelProtocol, ComponentHost {
  /** The family (`"mlp"`, ...). */
  readonly modelType: string;
  /** The validated family config (camelCase). */
  readonly config: Readonly<C> & Readonly<Record<string, unknown>>;
  /** Device of the parameters. */
  readonly device: DeviceName;
  /** Advertised capabilities (families add theirs in the constructor). */
  readonly capabilities: Set<Capability> = new Set();

  /** Pluggable observation encoder (null when the family encodes otherwise). */
  observationEncoder: ObservationEncoder | null = null;
  /** Pluggable action conditioner. */
  actionConditioner: ActionConditioner | null = null;
  /** Pluggable dynamics. */
  dynamicsModel: DynamicsModel | null = null;
  /** Pluggable decoder (optional: without one, `decode` throws a {@link CapabilityError}). */
  decoder: Decoder | null = null;
  /** Pluggable rollout executor (open loop by default). */
  rolloutExecutor: RolloutExecutor = new OpenLoopRolloutExecutor();

  #apiVersion: ApiVersion = "v3";
  #validator = new ContractValidator("v3");
  #contract: ModelIOContract | null = null;
  readonly #componentSources: Partial<Record<ComponentSlot, string | null>> = {};

  /** Stores the family name, config and options; the subclass builds its modules after. */
  protected constructor(modelType: string, config: C, opts: WorldModelOptions = {}) {
    super();
    this.modelType = modelType;
    this.config = Object.freeze({ ...config }) as Readonly<C> & Readonly<Record<string, unknown>>;
    this.device = opts.device ?? "cpu";
    this.apiVersion = opts.apiVersion ?? "v3";
  }

  /** API compatibility mode: `"v3"` throws on contract violations, `"v0.2"` warns. */
  get apiVersion(): ApiVersion {
    return this.#apiVersion;
  }

  set apiVersion(v: ApiVersion) {
    if (!API_VERSIONS.includes(v)) {
      throw new ConfigError(`unsupported apiVersion "${v}"; expected ${API_VERSIONS.join(" or ")}`);
    }
    this.#apiVersion = v;
    this.#validator = new ContractValidator(v);
  }

  /** The validator of this model's API version. */
  protected get validator(): ContractValidator {
    return this.#validator;
  }

  /** The runtime I/O contract (computed once from the config). */
  abstract ioContract(): ModelIOContract;

  /** `ioContract()`, cached. */
  protected get contract(): ModelIOContract {
    return this.#contract ??= this.ioContract();
  }

  // -------------------------------------------------------------------------------------------
  // Capabilities
  // -------------------------------------------------------------------------------------------

  /** True when the model advertises `capability`. */
  supports(capability: Capability): boolean {
    return this.capabilities.has(capability);
  }

  /** Throws a {@link CapabilityError} unless the model advertises `capability`. */
  require(capability: Capability, message?: string): void {
    if (!this.capabilities.has(capability)) {
      throw new CapabilityError(
        capability,
        message ??
          `${this.modelType} does not support "${capability}" (it supports: ${
            [...this.capabilities].join(", ") || "nothing"
          })`,
      );
    }
  }

  /** True when `decode` predicts rewards. */
  get supportsReward(): boolean {
    return this.capabilities.has("reward_pred");
  }

  /** True when `decode` predicts continue probabilities. */
  get supportsContinue(): boolean {
    return this.capabilities.has("continue_pred");
  }

  /** True when the model supports planning. */
  get supportsPlanning(): boolean {
    return this.capabilities.has("planning");
  }

  // -------------------------------------------------------------------------------------------
  // Components
  // -------------------------------------------------------------------------------------------

  /**
   * The slots this family routes through (only those can be overridden): by default the
   * filled slots, plus `decoder` and `rolloutExecutor`, which the base class always uses.
   */
  componentSlots(): readonly ComponentSlot[] {
    return COMPONENT_SLOTS.filter((s) =>
      s === "decoder" || s === "rolloutExecutor" || this.getComponent(s) !== null
    );
  }

  /** The component in `slot`. */
  getComponent<S extends ComponentSlot>(slot: S): ComponentOf[S] | null {
    return (this as unknown as Record<ComponentSlot, ComponentOf[S] | null>)[slot];
  }

  /**
   * Puts `component` in `slot`. `source` is recorded for checkpoints: the registered id it came
   * from, null for a class or instance (the default), false for the family's own component.
   */
  setComponent<S extends ComponentSlot>(
    slot: S,
    component: ComponentOf[S] | null,
    source: string | null | false = null,
  ): void {
    if (slot === "rolloutExecutor" && !component) {
      throw new ComponentError(slot, "a model always has a rollout executor");
    }
    (this as unknown as Record<ComponentSlot, unknown>)[slot] = component;
    if (source === false) delete this.#componentSources[slot];
    else this.#componentSources[slot] = source;
  }

  /** Slots overridden after construction, with the registered id (null for classes/instances). */
  componentOverrideSources(): Readonly<Partial<Record<ComponentSlot, string | null>>> {
    return { ...this.#componentSources };
  }

  // -------------------------------------------------------------------------------------------
  // Coercion of legacy and universal call forms
  // -------------------------------------------------------------------------------------------

  /** Observations by key from any accepted form (a tensor goes under the single declared key). */
  protected coerceObservations(obs: ObservationInput): {
    observations: Record<string, Tensor>;
    conditions: ConditionPayload | null;
  } {
    if (obs instanceof Tensor) {
      const keys = Object.keys(this.contract.effectiveInputSpec.modalities);
      return { observations: { [keys.length === 1 ? keys[0] : "obs"]: obs }, conditions: null };
    }
    if (isWorldModelInput(obs)) {
      return { observations: { ...obs.observations }, conditions: obs.conditions ?? null };
    }
    return { observations: { ...(obs as Record<string, Tensor>) }, conditions: null };
  }

  /** A payload from any accepted action form (a tensor gets the contract's action kind). */
  protected coerceAction(action: ActionInput, op = "transition"): ActionPayload | null {
    if (action === null || action === undefined) return null;
    if (action instanceof Tensor) return { kind: this.contract.actionSpec.kind, tensor: action };
    if (isActionPayload(action)) return action;
    throw new ContractError(
      op,
      "action_payload",
      "action",
      "an ActionPayload, a tensor or null",
      typeof action,
    );
  }

  /** Batch size of a state, or undefined when it has none. */
  #batchOf(state: State): number | undefined {
    try {
      return state.batchSize;
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Public, validated API
  // -------------------------------------------------------------------------------------------

  /**
   * Encodes observations into a state: `encode(tensor)` (legacy), `encode({ obs })` or
   * `encode({ observations, conditions })`.
   */
  encode(obs: ObservationInput, opts: EncodeOptions = {}): State {
    const c = this.contract;
    const v = this.#validator;
    const input = this.coerceObservations(obs);
    checkObservations(v, c, "encode", input.observations);
    if (input.conditions) checkConditions(v, c, "encode", input.conditions);
    const state = this.encodeImpl(input.observations, {
      deterministic: opts.deterministic ?? false,
    });
    checkState(v, c, "encode", state, { what: "returned state" });
    return state;
  }

  /**
   * Predicts the next state: `transition(state, tensor)` (legacy) or
   * `transition(state, { kind, tensor }, { conditions })`.
   */
  transition(state: State, action: ActionInput, opts: TransitionOptions = {}): State {
    const c = this.contract;
    const v = this.#validator;
    checkState(v, c, "transition", state);
    const payload = this.coerceAction(action);
    const b = this.#batchOf(state);
    if (payload) checkAction(v, c, "transition", payload, { sizes: { B: b } });
    if (opts.conditions) checkConditions(v, c, "transition", opts.conditions);
    const next = this.transitionImpl(state, payload, {
      conditions: opts.conditions ?? null,
      deterministic: opts.deterministic ?? false,
    });
    checkState(v, c, "transition", next, { batchSize: b, what: "returned state" });
    return next;
  }

  /** Updates a state with the observation that followed `action` (posterior). */
  update(
    state: State,
    action: ActionInput,
    obs: ObservationInput,
    opts: UpdateOptions = {},
  ): State {
    const c = this.contract;
    const v = this.#validator;
    checkState(v, c, "update", state);
    const payload = this.coerceAction(action, "update");
    const b = this.#batchOf(state);
    if (payload) checkAction(v, c, "update", payload, { sizes: { B: b } });
    const input = this.coerceObservations(obs);
    checkObservations(v, c, "update", input.observations, { sizes: { B: b } });
    const conditions = opts.conditions ?? input.conditions;
    if (conditions) checkConditions(v, c, "update", conditions);
    const next = this.updateImpl(state, payload, input.observations, { conditions });
    checkState(v, c, "update", next, { batchSize: b, what: "returned state" });
    return next;
  }

  /** Decodes a state into predictions. */
  decode(state: State, opts: DecodeOptions = {}): ModelOutput {
    const c = this.contract;
    const v = this.#validator;
    checkState(v, c, "decode", state);
    if (opts.conditions) checkConditions(v, c, "decode", opts.conditions);
    const predictions = this.decodeImpl(state, { conditions: opts.conditions ?? null });
    checkPredictions(v, c, "decode", predictions, this.#batchOf(state));
    return new ModelOutput({ predictions, state });
  }

  /**
   * Imagines forward from `initialState` over `actions` (`[T, B, ...]` tensor, an
   * {@link ActionSequence}, or a planner's {@link ActionPayload} with `wf.planner.horizon`).
   */
  rollout(
    initialState: State,
    actions: ActionSequenceInput,
    opts: RolloutOptions = {},
  ): Trajectory {
    const c = this.contract;
    const v = this.#validator;
    if (opts.mode !== undefined && opts.mode !== "autoregressive") {
      v.report(
        new ContractError(
          "rollout",
          "deprecated",
          "mode",
          `"autoregressive" (other modes were removed; use a planner)`,
          `"${opts.mode}"`,
        ),
      );
    }
    checkState(v, c, "rollout", initialState);
    if (opts.conditions) checkConditions(v, c, "rollout", opts.conditions);
    let seq: ActionSequence;
    if (actions === null || actions === undefined) seq = { payloads: [] };
    else if (actions instanceof Tensor) seq = { tensor: actions };
    else if (isActionPayload(actions)) {
      seq = normalizePlannedAction(actions, { apiVersion: this.#apiVersion });
    } else seq = actions;
    const b = this.#batchOf(initialState);
    if (seq.tensor) {
      checkAction(v, c, "rollout", { kind: seq.kind ?? c.actionSpec.kind, tensor: seq.tensor }, {
        lead: ["T", "B"],
        sizes: { B: b },
        field: "actions",
      });
    }
    for (const p of seq.payloads ?? []) checkAction(v, c, "rollout", p, { sizes: { B: b } });
    return this.rolloutImpl(initialState, seq, {
      conditions: opts.conditions ?? null,
      deterministic: opts.deterministic ?? false,
    });
  }

  /** Training loss of a batch (validated against the contract's batch keys and layouts). */
  loss(batch: Batch): LossOutput {
    const c = this.contract;
    checkBatch(this.#validator, c, "loss", batch);
    const out = this.lossImpl(batch);
    if (!(out.loss instanceof Tensor) || out.loss.size !== 1) {
      this.#validator.report(
        new ContractError("loss", "output", "loss", "a scalar tensor", String(out.loss)),
      );
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // WorldLoom names
  // -------------------------------------------------------------------------------------------

  /**
   * WorldLoom's name of {@link WorldModel.transition}: the next state from a state and an action,
   * without an observation (the prior; imagination). Same arguments, same validation, same result.
   *
   * @example
   * ```ts
   * import { createWorldModel, randn } from "@worldflux/worldflux";
   * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
   * const next = model.predict(model.encode(randn([3, 4])), randn([3, 2]));
   * console.log(next.get("latent").shape); // [3, 8]
   * ```
   */
  predict(state: State, action: ActionInput, opts: TransitionOptions = {}): State {
    return this.transition(state, action, opts);
  }

  /**
   * WorldLoom's name of {@link WorldModel.update}: the next state from a state, the action taken
   * and the observation that followed (the posterior; filtering). Same arguments and result.
   *
   * @example
   * ```ts
   * import { createWorldModel, randn } from "@worldflux/worldflux";
   * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
   * const s = model.observe(model.initialState(3), randn([3, 2]), randn([3, 4]));
   * console.log(s.get("latent").shape); // [3, 8]
   * ```
   */
  observe(
    state: State,
    action: ActionInput,
    obs: ObservationInput,
    opts: UpdateOptions = {},
  ): State {
    return this.update(state, action, obs, opts);
  }

  /**
   * WorldLoom's name of {@link WorldModel.rollout}: open-loop imagination from a state over a
   * sequence of actions (`[T, B, ...]`). Same arguments and result.
   *
   * @example
   * ```ts
   * import { createWorldModel, randn } from "@worldflux/worldflux";
   * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
   * const traj = model.imagine(model.encode(randn([3, 4])), randn([15, 3, 2]));
   * console.log(traj.rewards!.shape); // [15, 3]
   * ```
   */
  imagine(
    initialState: State,
    actions: ActionSequenceInput,
    opts: RolloutOptions = {},
  ): Trajectory {
    return this.rollout(initialState, actions, opts);
  }

  /**
   * WorldLoom's name of {@link WorldModel.loss} (`compute_loss` there): the training loss of a
   * `[B, T, ...]` batch with its components and metrics. Same argument and result.
   *
   * @example
   * ```ts
   * import { createWorldModel, randn, zeros } from "@worldflux/worldflux";
   * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
   * const batch = {
   *   obs: randn([2, 5, 4]),
   *   actions: randn([2, 5, 2]),
   *   rewards: zeros([2, 5]),
   *   terminations: zeros([2, 5]),
   * };
   * console.log(Object.keys(model.computeLoss(batch).components)); // ["recon", "reward", ...]
   * ```
   */
  computeLoss(batch: Batch): LossOutput {
    return this.loss(batch);
  }

  /** The state before any observation (zeros of every declared state tensor by default). */
  initialState(batchSize: number, opts: InitialStateOptions = {}): State {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new ShapeError(
        "initialState",
        `batch size must be a positive integer, got ${batchSize}`,
      );
    }
    return this.initialStateImpl(batchSize, opts.device ?? this.device);
  }

  /** sha256 (hex) of the canonical JSON of `ioContract()`. */
  contractFingerprint(): Promise<string> {
    return this.contract.fingerprint();
  }

  /**
   * Writes `config.json`, `model.safetensors` and `worldflux_meta.json` into `dir`; the directory
   * is written beside the target and renamed into place.
   */
  savePretrained(dir: string): Promise<void> {
    return savePretrained(this, dir);
  }

  /** The config as written to `config.json` (before snake_case conversion). */
  configForSave(): Record<string, unknown> {
    return { ...this.config };
  }

  // -------------------------------------------------------------------------------------------
  // Hooks (called after validation)
  // -------------------------------------------------------------------------------------------

  /** Encodes validated observations (default: the observation encoder). */
  protected encodeImpl(
    observations: Readonly<Record<string, Tensor>>,
    opts: { deterministic: boolean },
  ): State {
    return this.#need("observationEncoder", "encode").encode(observations, opts);
  }

  /** Next state (default: action conditioner, then dynamics). */
  protected transitionImpl(
    state: State,
    action: ActionPayload | null,
    opts: { conditions: ConditionPayload | null; deterministic: boolean },
  ): State {
    const conditioner = this.actionConditioner ??
      new DefaultActionConditioner(this.contract.actionSpec);
    const conditioned = conditioner.condition(state, action, opts.conditions);
    return this.#need("dynamicsModel", "transition").transition(state, conditioned, {
      deterministic: opts.deterministic,
    });
  }

  /** Posterior update (default: re-encode the observation; filtering families override this). */
  protected updateImpl(
    _state: State,
    _action: ActionPayload | null,
    observations: Readonly<Record<string, Tensor>>,
    _opts: { conditions: ConditionPayload | null },
  ): State {
    return this.encodeImpl(observations, { deterministic: false });
  }

  /** Predictions of a state (default: the decoder). */
  protected decodeImpl(
    state: State,
    opts: { conditions: ConditionPayload | null },
  ): Record<string, Tensor> {
    if (!this.decoder) {
      throw new CapabilityError(
        "obs_decoder",
        `${this.modelType} has no decoder: decode() is not available (override the decoder slot ` +
          `to add one)`,
      );
    }
    return this.decoder.decode(state, opts.conditions);
  }

  /** Open-loop rollout of validated actions (default: the rollout executor). */
  protected rolloutImpl(
    initialState: State,
    actions: ActionSequence,
    opts: { conditions: ConditionPayload | null; deterministic: boolean },
  ): Trajectory {
    return this.rolloutExecutor.rolloutOpenLoop(this, initialState, actions, opts);
  }

  /** The loss of a validated batch. */
  protected abstract lossImpl(batch: Batch): LossOutput;

  /** Zeros of every state tensor declared in the contract. */
  protected initialStateImpl(batchSize: number, device: DeviceName): State {
    const tensors: Record<string, Tensor> = {};
    for (const [k, m] of Object.entries(this.contract.stateSpec.tensors)) {
      if (m.shape.includes(-1)) {
        throw new ShapeError(
          "initialState",
          `state tensor "${k}" has a free axis; ${this.modelType} must implement initialStateImpl`,
        );
      }
      tensors[k] = zeros([batchSize, ...m.shape], { dtype: m.dtype ?? "float32", device });
    }
    return new State(tensors, { batchSize });
  }

  #need<S extends ComponentSlot>(slot: S, call: string): ComponentOf[S] {
    const c = this.getComponent(slot);
    if (!c) {
      throw new CapabilityError(
        "latent_dynamics",
        `${this.modelType}.${call}() needs a ${slot} component (none is attached) or an ` +
          `override of ${call}Impl()`,
      );
    }
    return c;
  }
}
