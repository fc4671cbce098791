/**
 * Errors of the world-model contract. Each one names what was expected and what came, so that
 * a message alone is enough to fix the call, the checkpoint or the plugin.
 * @module
 */

import { ConfigError, FormatError, WorldFluxError } from "../errors.ts";

/** What a {@link ContractError} is about; v0.2 mode warns once per kind. */
export type ContractViolationKind =
  | "observation_key"
  | "observation_shape"
  | "observation_dtype"
  | "action_kind"
  | "action_shape"
  | "action_dtype"
  | "action_payload"
  | "action_value"
  | "non_finite"
  | "extras_key_format"
  | "extras_key_undeclared"
  | "extras_schema"
  | "state_key"
  | "state_shape"
  | "batch_key"
  | "batch_layout"
  | "batch_shape"
  | "planner_metadata"
  | "deprecated"
  | "output";

/**
 * A call that does not match the model's `ioContract()`. The message names the call, the field,
 * what the contract expects and what came, e.g.
 * `encode: obs: expected shape [B, 4] (float32), got [2, 5] (float32)`.
 */
export class ContractError extends WorldFluxError {
  /** The public call that was checked (`encode`, `transition`, `loss`, ...). */
  readonly op: string;
  /** The offending field (`obs`, `action.tensor`, `conditions.extras["wf.x.y"]`, ...). */
  readonly field: string;
  /** What the contract expects, as shown in the message. */
  readonly expected: string;
  /** What the call gave, as shown in the message. */
  readonly actual: string;
  /** The kind of violation (v0.2 mode warns once per kind). */
  readonly kind: ContractViolationKind;

  /** Creates the error; `hint` is appended to the message. */
  constructor(
    op: string,
    kind: ContractViolationKind,
    field: string,
    expected: string,
    actual: string,
    hint?: string,
  ) {
    super(
      "contract",
      `${op}: ${field}: expected ${expected}, got ${actual}${hint ? ` (${hint})` : ""}`,
    );
    this.op = op;
    this.kind = kind;
    this.field = field;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A contract that contradicts itself (e.g. a required state key the state spec lacks). */
export class ContractDefinitionError extends WorldFluxError {
  /** Creates the error. */
  constructor(message: string) {
    super("contract_definition", message);
  }
}

/** A model asked for something it does not advertise (`supports(cap)` is false). */
export class CapabilityError extends WorldFluxError {
  /** The missing capability. */
  readonly capability: string;
  /** Creates the error. */
  constructor(capability: string, message: string) {
    super("capability", message);
    this.capability = capability;
  }
}

/** A component override for an unknown slot, of the wrong kind, or incompatible with the model. */
export class ComponentError extends ConfigError {
  /** The slot (`observationEncoder`, `actionConditioner`, ...). */
  readonly slot: string;
  /** Creates the error. */
  constructor(slot: string, message: string) {
    super(message);
    this.slot = slot;
  }
}

/** A model name that resolves to nothing: unknown family, preset or alias. */
export class UnknownModelError extends ConfigError {
  /** The name as given. */
  readonly model: string;
  /** Closest known names, best first. */
  readonly suggestions: readonly string[];
  /** Creates the error. */
  constructor(model: string, message: string, suggestions: readonly string[]) {
    super(message);
    this.model = model;
    this.suggestions = suggestions;
  }
}

/** A known model whose family is not registered in this process (not imported or not built yet). */
export class FamilyUnavailableError extends ConfigError {
  /** The family (model type) that is missing. */
  readonly family: string;
  /** Creates the error. */
  constructor(family: string, message: string) {
    super(message);
    this.family = family;
  }
}

/** A plugin that cannot be registered; `reason` says why (incompatible version, bad manifest, ...). */
export class PluginError extends WorldFluxError {
  /** The plugin name (or the specifier it was loaded from). */
  readonly plugin: string;
  /** Why it was refused. */
  readonly reason: string;
  /** Creates the error. */
  constructor(plugin: string, reason: string, options?: ErrorOptions) {
    super("plugin", `plugin "${plugin}" refused: ${reason}`, options);
    this.plugin = plugin;
    this.reason = reason;
  }
}

/** What is wrong with a saved model directory. */
export type CheckpointProblem =
  | "missing_directory"
  | "missing_file"
  | "bad_json"
  | "missing_field"
  | "invalid_field"
  | "invalid_config"
  | "unsupported_version"
  | "model_type_mismatch"
  | "fingerprint_mismatch"
  | "bad_weights"
  | "missing_tensor"
  | "extra_tensor"
  | "shape_mismatch"
  | "dtype_mismatch"
  | "checksum_mismatch"
  | "missing_checksum"
  | "component_override"
  | "not_resumable"
  | "run_mismatch";

/** A saved model directory that cannot be loaded; `problem` says which check failed. */
export class CheckpointError extends FormatError {
  /** Which check failed. */
  readonly problem: CheckpointProblem;
  /** Creates the error (`path`: the offending file or directory). */
  constructor(problem: CheckpointProblem, message: string, path?: string) {
    super(message, path);
    this.problem = problem;
  }
}
