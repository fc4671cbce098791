/**
 * Specs and the runtime I/O contract of a world model: what observations, actions, conditions,
 * states, batches and predictions look like. A model returns its {@link ModelIOContract} from
 * `ioContract()`; strict mode validates every call against it, and `contractFingerprint()`
 * hashes its canonical JSON.
 * @module
 */

import type { DType } from "../ir/dtype.ts";
import { BATCH_CONTAINERS, BATCH_FIELDS } from "./batch.ts";
import { ContractDefinitionError } from "./errors.ts";
import type { Capability } from "./types.ts";

/** Common modality kinds. */
export type ModalityKind = "image" | "video" | "text" | "tokens" | "vector" | "audio" | "other";

/** Every modality kind. */
export const MODALITY_KINDS: readonly ModalityKind[] = [
  "image",
  "video",
  "text",
  "tokens",
  "vector",
  "audio",
  "other",
];

/**
 * One tensor of a modality, without its leading batch (and time) axes. A `-1` in `shape` accepts
 * any size on that axis.
 */
export interface ModalitySpec {
  /** What the tensor holds. */
  readonly kind: ModalityKind;
  /** Trailing shape (per example), e.g. `[3, 64, 64]`. */
  readonly shape: readonly number[];
  /** Element type (default `float32`). */
  readonly dtype?: DType;
  /** Axis layout, e.g. `"CHW"` (informational). */
  readonly layout?: string | null;
  /** Human-readable name. */
  readonly name?: string | null;
}

/** Observation (or generic input/target) tensors by key. */
export interface ObservationSpec {
  /** Tensors by key. */
  readonly modalities: Readonly<Record<string, ModalitySpec>>;
}

/** Kinds of action payloads. */
export type ActionKind = "none" | "continuous" | "discrete" | "token" | "latent" | "text";

/** Every action kind. */
export const ACTION_KINDS: readonly ActionKind[] = [
  "none",
  "continuous",
  "discrete",
  "token",
  "latent",
  "text",
];

/**
 * Actions a model accepts. Continuous/token/latent actions are `[B, dim]` tensors; discrete
 * actions are int32 indices `[B]` or float one-hot `[B, numActions]`.
 */
export interface ActionSpec {
  /** Kind of payload accepted. */
  readonly kind: ActionKind;
  /** Feature size (0 for kind `"none"`). */
  readonly dim: number;
  /** True for discrete actions. */
  readonly discrete?: boolean;
  /** Number of discrete actions (defaults to `dim`). */
  readonly numActions?: number | null;
}

/** Optional conditioning signals and the extras keys a model accepts. */
export interface ConditionSpec {
  /** Tensors by key. */
  readonly modalities?: Readonly<Record<string, ModalitySpec>>;
  /** Declared `ConditionPayload.extras` keys (`wf.<domain>.<name>`). */
  readonly allowedExtraKeys?: readonly string[];
}

/** Latent-state tensors by key (shapes without the batch axis). */
export interface StateSpec {
  /** Tensors by key. */
  readonly tensors: Readonly<Record<string, ModalitySpec>>;
}

/** Prediction tensors of `decode()` by key (shapes without the batch axis). */
export interface PredictionSpec {
  /** Tensors by key. */
  readonly tensors: Readonly<Record<string, ModalitySpec>>;
}

/**
 * Axis layout and length rules of one batch field. Layouts use `B` (batch) and `T` (time) and
 * `...` for the per-example axes: `"BT..."`, `"BT"`, `"B..."`.
 */
export interface SequenceFieldSpec {
  /** Axis layout, e.g. `"BT..."`. */
  readonly layout?: string | null;
  /** The field may be padded; `Batch.lengths[field]` / `Batch.masks[field]` say how far. */
  readonly variableLength?: boolean;
  /** Axes the layout must contain (default `["B"]`). */
  readonly requiredAxes?: readonly string[];
  /** Allow more than one `T` axis. */
  readonly allowMultipleTimeAxes?: boolean;
}

/** The fields of a contract, as passed to `new ModelIOContract(...)` (all optional). */
export interface ModelIOContractInit {
  /** Observations accepted by `encode`/`update` (the v0.2 name of `inputSpec`). */
  readonly observationSpec?: ObservationSpec;
  /** The primary action variant. */
  readonly actionSpec?: ActionSpec;
  /** Latent state tensors. */
  readonly stateSpec?: StateSpec;
  /** Prediction tensors of `decode()`. */
  readonly predictionSpec?: PredictionSpec;
  /** Layout per batch field, e.g. `{ obs: "BT...", rewards: "BT" }`. */
  readonly sequenceLayout?: Readonly<Record<string, string>>;
  /** Batch keys `loss()` needs (dotted paths into `inputs`/`targets`/... are allowed). */
  readonly requiredBatchKeys?: readonly string[];
  /** State keys every state must carry. */
  readonly requiredStateKeys?: readonly string[];
  /** Extra batch fields a model reads (declares their roots). */
  readonly additionalBatchFields?: Readonly<Record<string, ModalitySpec>>;
  /** Inputs of the universal API (defaults to `observationSpec`). */
  readonly inputSpec?: ObservationSpec | null;
  /** Targets of the universal API. */
  readonly targetSpec?: ObservationSpec;
  /** Conditioning signals and declared extras keys. */
  readonly conditionSpec?: ConditionSpec;
  /** Every accepted action variant (defaults to `[actionSpec]`). */
  readonly actionUnionSpec?: readonly ActionSpec[];
  /** dtype/shape of declared condition extras (keys are declared automatically). */
  readonly conditionExtrasSchema?: Readonly<Record<string, ModalitySpec>>;
  /** Per-field sequence rules (merged over `sequenceLayout`). */
  readonly sequenceFieldSpec?: Readonly<Record<string, SequenceFieldSpec>>;
}

/** `wf.<domain>.<name>`: the form of every extras key. */
export const NAMESPACED_EXTRA_KEY_PATTERN: RegExp = /^wf\.[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+$/;

/** True for a valid namespaced extras key (`wf.<domain>.<name>`). */
export function isNamespacedExtraKey(key: string): boolean {
  return NAMESPACED_EXTRA_KEY_PATTERN.test(key);
}

/** Batch roots every contract may name (legacy and universal `Batch` fields, and `action`). */
export const RESERVED_BATCH_ROOTS: readonly string[] = [
  ...BATCH_FIELDS,
  ...BATCH_CONTAINERS.filter((c) => c !== "lengths" && c !== "masks"),
  "action",
];

function rootName(key: string): string {
  return key.split(".", 1)[0].split(":", 1)[0];
}

function normModality(m: ModalitySpec): Required<ModalitySpec> {
  return {
    kind: m.kind,
    shape: [...m.shape],
    dtype: m.dtype ?? "float32",
    layout: m.layout ?? null,
    name: m.name ?? null,
  };
}

function normModalities(
  r: Readonly<Record<string, ModalitySpec>> | undefined,
): Record<string, Required<ModalitySpec>> {
  const out: Record<string, Required<ModalitySpec>> = {};
  for (const [k, v] of Object.entries(r ?? {})) out[k] = normModality(v);
  return out;
}

function normAction(a: ActionSpec): Required<ActionSpec> {
  return {
    kind: a.kind,
    dim: a.dim,
    discrete: a.discrete ?? a.kind === "discrete",
    numActions: a.numActions ?? (a.kind === "discrete" ? a.dim : null),
  };
}

function normField(s: SequenceFieldSpec): Required<SequenceFieldSpec> {
  return {
    layout: s.layout ?? null,
    variableLength: s.variableLength ?? false,
    requiredAxes: [...(s.requiredAxes ?? ["B"])],
    allowMultipleTimeAxes: s.allowMultipleTimeAxes ?? false,
  };
}

/**
 * The runtime I/O contract of a model: every field filled with its default and checked for
 * consistency on construction (a contradiction throws {@link ContractDefinitionError}).
 *
 * @example
 * ```ts
 * import { ModelIOContract } from "@worldflux/worldflux";
 * const contract = new ModelIOContract({
 *   observationSpec: { modalities: { obs: { kind: "vector", shape: [4] } } },
 *   actionSpec: { kind: "continuous", dim: 2 },
 *   stateSpec: { tensors: { latent: { kind: "vector", shape: [16] } } },
 *   requiredStateKeys: ["latent"],
 *   requiredBatchKeys: ["obs", "actions"],
 *   sequenceLayout: { obs: "BT...", actions: "BT..." },
 *   conditionExtrasSchema: { "wf.goal.xy": { kind: "vector", shape: [2] } },
 * });
 * console.log(contract.allowedExtraKeys); // ["wf.goal.xy"]
 * ```
 */
export class ModelIOContract {
  /** Observations accepted by `encode`/`update`. */
  readonly observationSpec: ObservationSpec;
  /** The primary action variant. */
  readonly actionSpec: Required<ActionSpec>;
  /** Latent state tensors. */
  readonly stateSpec: StateSpec;
  /** Prediction tensors of `decode()`. */
  readonly predictionSpec: PredictionSpec;
  /** Layout per batch field (`{ obs: "BT..." }`). */
  readonly sequenceLayout: Readonly<Record<string, string>>;
  /** Batch keys `loss()` needs. */
  readonly requiredBatchKeys: readonly string[];
  /** State keys every state carries. */
  readonly requiredStateKeys: readonly string[];
  /** Extra batch fields the model reads. */
  readonly additionalBatchFields: Readonly<Record<string, ModalitySpec>>;
  /** Inputs of the universal API (null: `observationSpec`). */
  readonly inputSpec: ObservationSpec | null;
  /** Targets of the universal API. */
  readonly targetSpec: ObservationSpec;
  /** Conditioning signals and declared extras keys. */
  readonly conditionSpec: Required<ConditionSpec>;
  /** Every accepted action variant (empty: `[actionSpec]`). */
  readonly actionUnionSpec: readonly Required<ActionSpec>[];
  /** dtype/shape of declared condition extras. */
  readonly conditionExtrasSchema: Readonly<Record<string, ModalitySpec>>;
  /** Per-field sequence rules. */
  readonly sequenceFieldSpec: Readonly<Record<string, Required<SequenceFieldSpec>>>;

  /** Fills defaults and validates (throws {@link ContractDefinitionError}). */
  constructor(init: ModelIOContractInit = {}) {
    this.observationSpec = { modalities: normModalities(init.observationSpec?.modalities) };
    this.actionSpec = normAction(init.actionSpec ?? { kind: "continuous", dim: 0 });
    this.stateSpec = { tensors: normModalities(init.stateSpec?.tensors) };
    this.predictionSpec = { tensors: normModalities(init.predictionSpec?.tensors) };
    this.sequenceLayout = { ...(init.sequenceLayout ?? {}) };
    this.requiredBatchKeys = [...(init.requiredBatchKeys ?? [])];
    this.requiredStateKeys = [...(init.requiredStateKeys ?? [])];
    this.additionalBatchFields = normModalities(init.additionalBatchFields);
    this.inputSpec = init.inputSpec
      ? { modalities: normModalities(init.inputSpec.modalities) }
      : null;
    this.targetSpec = { modalities: normModalities(init.targetSpec?.modalities) };
    this.conditionSpec = {
      modalities: normModalities(init.conditionSpec?.modalities),
      allowedExtraKeys: [...(init.conditionSpec?.allowedExtraKeys ?? [])],
    };
    this.actionUnionSpec = (init.actionUnionSpec ?? []).map(normAction);
    this.conditionExtrasSchema = normModalities(init.conditionExtrasSchema);
    const fields: Record<string, Required<SequenceFieldSpec>> = {};
    for (const [k, v] of Object.entries(init.sequenceFieldSpec ?? {})) fields[k] = normField(v);
    this.sequenceFieldSpec = fields;
    this.validate();
    Object.freeze(this);
  }

  /** The inputs of `encode`: `inputSpec`, else `observationSpec`. */
  get effectiveInputSpec(): ObservationSpec {
    return this.inputSpec ?? this.observationSpec;
  }

  /** Every accepted action variant: `actionUnionSpec`, else `[actionSpec]`. */
  get effectiveActionSpecs(): readonly Required<ActionSpec>[] {
    return this.actionUnionSpec.length ? this.actionUnionSpec : [this.actionSpec];
  }

  /** Declared extras keys: `conditionSpec.allowedExtraKeys` plus the keys of the schema. */
  get allowedExtraKeys(): readonly string[] {
    return [
      ...new Set([
        ...this.conditionSpec.allowedExtraKeys,
        ...Object.keys(this.conditionExtrasSchema),
      ]),
    ];
  }

  /** `sequenceLayout` upgraded to field specs, with `sequenceFieldSpec` merged over it. */
  get effectiveSequenceFieldSpec(): Readonly<Record<string, Required<SequenceFieldSpec>>> {
    const out: Record<string, Required<SequenceFieldSpec>> = {};
    for (const [f, layout] of Object.entries(this.sequenceLayout)) {
      out[f] = normField({ layout });
    }
    for (const [f, s] of Object.entries(this.sequenceFieldSpec)) {
      out[f] = s.layout === null && out[f] ? { ...s, layout: out[f].layout } : s;
    }
    return out;
  }

  /** Batch roots this contract may name: the reserved ones and every declared field. */
  allowedBatchRoots(): Set<string> {
    const s = new Set(RESERVED_BATCH_ROOTS);
    for (const k of Object.keys(this.effectiveInputSpec.modalities)) s.add(k);
    for (const k of Object.keys(this.targetSpec.modalities)) s.add(k);
    for (const k of Object.keys(this.conditionSpec.modalities)) s.add(k);
    for (const k of this.allowedExtraKeys) s.add(rootName(k));
    for (const k of Object.keys(this.additionalBatchFields)) s.add(rootName(k));
    return s;
  }

  /** Checks the contract for contradictions (run by the constructor). */
  validate(): void {
    const fail = (msg: string): never => {
      throw new ContractDefinitionError(`invalid ModelIOContract: ${msg}`);
    };
    const checkShape = (where: string, m: ModalitySpec) => {
      if (!m.shape.every((d) => Number.isInteger(d) && (d > 0 || d === -1))) {
        fail(`${where} has shape [${m.shape.join(", ")}]; sizes must be positive integers or -1`);
      }
    };
    for (const [k, m] of Object.entries(this.observationSpec.modalities)) {
      checkShape(`observationSpec.modalities.${k}`, m);
    }
    for (const [k, m] of Object.entries(this.stateSpec.tensors)) {
      checkShape(`stateSpec.tensors.${k}`, m);
    }
    for (const [k, m] of Object.entries(this.conditionExtrasSchema)) {
      checkShape(`conditionExtrasSchema["${k}"]`, m);
    }
    for (const a of [this.actionSpec, ...this.actionUnionSpec]) {
      if (!(ACTION_KINDS as readonly string[]).includes(a.kind)) {
        fail(`unknown action kind "${a.kind}"; expected one of ${ACTION_KINDS.join(", ")}`);
      }
      if (!Number.isInteger(a.dim) || a.dim < 0) {
        fail(`action dim must be a non-negative integer, got ${a.dim}`);
      }
      if (a.discrete && !(a.numActions && a.numActions > 0) && !(a.dim > 0)) {
        fail("discrete actions need numActions or a positive dim");
      }
    }
    if (this.actionUnionSpec.length) {
      const kinds = this.actionUnionSpec.map((a) => a.kind);
      if (new Set(kinds).size !== kinds.length) {
        fail(`actionUnionSpec has duplicate kinds: ${kinds.join(", ")}`);
      }
      if (!kinds.includes(this.actionSpec.kind)) {
        fail(
          `actionSpec.kind "${this.actionSpec.kind}" is not one of the actionUnionSpec kinds ` +
            `(${kinds.join(", ")})`,
        );
      }
    }
    const roots = this.allowedBatchRoots();
    for (const key of this.requiredBatchKeys) {
      if (!roots.has(rootName(key))) {
        fail(`unknown required batch key "${key}"; roots allowed: ${[...roots].sort().join(", ")}`);
      }
    }
    for (const key of this.requiredStateKeys) {
      if (!(key in this.stateSpec.tensors)) {
        fail(`requiredStateKeys contains "${key}" but stateSpec.tensors does not define it`);
      }
    }
    for (const [field, s] of Object.entries(this.effectiveSequenceFieldSpec)) {
      if (!roots.has(rootName(field))) {
        fail(`sequence layout of unknown field "${field}"; roots allowed: ${[...roots].sort()}`);
      }
      const layout = s.layout;
      if (layout === null) {
        if (s.variableLength) {
          fail(`sequenceFieldSpec["${field}"] is variable-length but has no layout`);
        }
        continue;
      }
      if (!/^[A-Z]*(\.\.\.)?$/.test(layout) || layout.length === 0) {
        fail(`layout "${layout}" of "${field}" must be axis letters optionally ending in "..."`);
      }
      if (!layout.includes("B")) fail(`layout "${layout}" of "${field}" has no batch axis "B"`);
      for (const ax of s.requiredAxes) {
        if (!layout.includes(ax)) {
          fail(`sequenceFieldSpec["${field}"] requires axis "${ax}" in layout "${layout}"`);
        }
      }
      if (s.variableLength && !layout.includes("T")) {
        fail(`sequenceFieldSpec["${field}"] is variable-length but layout "${layout}" has no "T"`);
      }
      if (!s.allowMultipleTimeAxes && (layout.match(/T/g)?.length ?? 0) > 1) {
        fail(`layout "${layout}" of "${field}" has more than one "T" axis`);
      }
    }
    for (const key of this.allowedExtraKeys) {
      if (!isNamespacedExtraKey(key)) {
        fail(`extras key "${key}" is not of the form wf.<domain>.<name>`);
      }
    }
  }

  /** The contract as plain JSON (every field, defaults filled). */
  toJSON(): Record<string, unknown> {
    return {
      observationSpec: this.observationSpec,
      actionSpec: this.actionSpec,
      stateSpec: this.stateSpec,
      predictionSpec: this.predictionSpec,
      sequenceLayout: this.sequenceLayout,
      requiredBatchKeys: this.requiredBatchKeys,
      requiredStateKeys: this.requiredStateKeys,
      additionalBatchFields: this.additionalBatchFields,
      inputSpec: this.inputSpec,
      targetSpec: this.targetSpec,
      conditionSpec: this.conditionSpec,
      actionUnionSpec: this.actionUnionSpec,
      conditionExtrasSchema: this.conditionExtrasSchema,
      sequenceFieldSpec: this.sequenceFieldSpec,
    };
  }

  /** Canonical JSON of the contract (sorted keys, no spaces): what the fingerprint hashes. */
  canonicalJson(): string {
    return canonicalJson(this.toJSON());
  }

  /** sha256 (hex) of {@link ModelIOContract.canonicalJson}. */
  fingerprint(): Promise<string> {
    return sha256Hex(this.canonicalJson());
  }
}

/** Options of {@link standardIOContract}. */
export interface StandardIOContractOptions {
  /** Per-example observation shape (rank 3 is an image, otherwise a vector). */
  readonly obsShape: readonly number[];
  /** Action size (number of actions when discrete). */
  readonly actionDim: number;
  /** Default `"continuous"`. */
  readonly actionType?: "continuous" | "discrete";
  /** Capabilities decide the predictions (`obs`, `reward`, `continue`). */
  readonly capabilities: Iterable<Capability>;
  /** Latent state tensors. */
  readonly stateSpec?: StateSpec;
  /** State keys every state carries. */
  readonly requiredStateKeys?: readonly string[];
  /** Default `["obs"]`. */
  readonly requiredBatchKeys?: readonly string[];
  /** Merged over the standard fields. */
  readonly extra?: ModelIOContractInit;
}

/**
 * The conventional contract of a single-observation model: observations under `obs`, one
 * action variant, predictions from the capabilities (`obs`, `reward` `[1]`, `continue` `[1]`),
 * batch layouts `obs`/`actions`/`nextObs`/`mask` `"BT..."` and `rewards`/`terminations` `"BT"`.
 *
 * @example
 * ```ts
 * import { standardIOContract } from "@worldflux/worldflux";
 * const c = standardIOContract({
 *   obsShape: [4],
 *   actionDim: 2,
 *   capabilities: ["obs_decoder", "reward_pred"],
 * });
 * console.log(Object.keys(c.predictionSpec.tensors)); // ["obs", "reward"]
 * ```
 */
export function standardIOContract(opts: StandardIOContractOptions): ModelIOContract {
  const caps = new Set(opts.capabilities);
  const kind: ModalityKind = opts.obsShape.length === 3 ? "image" : "vector";
  const obs: ModalitySpec = { kind, shape: [...opts.obsShape] };
  const actionType = opts.actionType ?? "continuous";
  const predictions: Record<string, ModalitySpec> = {};
  if (caps.has("obs_decoder")) predictions.obs = obs;
  if (caps.has("reward_pred")) predictions.reward = { kind: "vector", shape: [1] };
  if (caps.has("continue_pred")) predictions.continue = { kind: "vector", shape: [1] };
  const obsSpec: ObservationSpec = { modalities: { obs } };
  return new ModelIOContract({
    observationSpec: obsSpec,
    inputSpec: obsSpec,
    targetSpec: { modalities: { nextObs: obs } },
    actionSpec: {
      kind: actionType,
      dim: opts.actionDim,
      discrete: actionType === "discrete",
      numActions: actionType === "discrete" ? opts.actionDim : null,
    },
    stateSpec: opts.stateSpec,
    predictionSpec: { tensors: predictions },
    sequenceLayout: {
      obs: "BT...",
      actions: "BT...",
      rewards: "BT",
      terminations: "BT",
      nextObs: "BT...",
      mask: "BT...",
    },
    requiredBatchKeys: opts.requiredBatchKeys ?? ["obs"],
    requiredStateKeys: opts.requiredStateKeys ?? [],
    ...opts.extra,
  });
}

/**
 * JSON with object keys sorted at every level and no whitespace (`undefined` members dropped),
 * so equal values always give equal text.
 */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") {
      return norm((v as { toJSON(): unknown }).toJSON());
    }
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : norm(x)));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = norm(x);
    }
    return out;
  };
  return JSON.stringify(norm(value));
}

/** sha256 of UTF-8 text, as lowercase hex (Web Crypto). */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
