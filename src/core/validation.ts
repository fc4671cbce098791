/**
 * Strict mode: checks of calls against a {@link ModelIOContract}. Each check reports a
 * {@link ContractError} naming the field, what the contract expects and what came; a
 * {@link ContractValidator} throws it (api `"v3"`) or warns once per kind (api `"v0.2"`).
 * Only shapes, dtypes and keys are inspected: nothing is read from a device.
 * @module
 */

import { fmtShape } from "../errors.ts";
import { knownIntRange } from "../tensor/creation.ts";
import { Tensor } from "../tensor/tensor.ts";
import { type Batch, resolveBatchKey } from "./batch.ts";
import { ContractError, type ContractViolationKind } from "./errors.ts";
import { type ActionPayload, type ConditionPayload, primaryTensor } from "./payloads.ts";
import {
  type ActionSpec,
  isNamespacedExtraKey,
  type ModalitySpec,
  type ModelIOContract,
} from "./spec.ts";
import type { State } from "./state.ts";
import type { ApiVersion } from "./types.ts";

/** Throws contract violations (v3) or warns once per kind (v0.2). */
export class ContractValidator {
  readonly #warned = new Set<ContractViolationKind>();

  /** A validator for `apiVersion`. */
  constructor(readonly apiVersion: ApiVersion = "v3") {}

  /** True in v3 (violations throw). */
  get strict(): boolean {
    return this.apiVersion === "v3";
  }

  /** Throws `e` in strict mode; otherwise warns (once per kind of violation). */
  report(e: ContractError): void {
    if (this.strict) throw e;
    if (this.#warned.has(e.kind)) return;
    this.#warned.add(e.kind);
    console.warn(`worldflux (api v0.2, contract not enforced): ${e.message}`);
  }
}

/** `[B, T, 4]` for leading axes and a spec shape (`-1` shows as `*`). */
function fmtExpected(lead: readonly (string | number)[], shape: readonly number[]): string {
  return `[${[...lead, ...shape.map((d) => (d === -1 ? "*" : String(d)))].join(", ")}]`;
}

function fmtTensor(t: Tensor): string {
  return `${fmtShape(t.shape)} (${t.dtype})`;
}

function trailingMatches(t: Tensor, lead: number, shape: readonly number[]): boolean {
  if (t.rank !== lead + shape.length) return false;
  return shape.every((d, i) => d === -1 || t.shape[lead + i] === d);
}

/** Leading axes shown in messages: `B` (or the known batch size), then `T` when present. */
function leadAxes(lead: readonly string[], sizes: Record<string, number | undefined>) {
  return lead.map((ax) => sizes[ax] ?? ax);
}

/** Options of the tensor checks: leading axes (`["B"]` or `["T", "B"]` ...) and known sizes. */
export interface LeadOptions {
  /** Leading axes before the per-example shape (default `["B"]`). */
  readonly lead?: readonly string[];
  /** Known sizes of leading axes, e.g. `{ B: 3 }`. */
  readonly sizes?: Readonly<Record<string, number | undefined>>;
  /** Name of the checked field in messages (default: `obs`-style keys, `action.tensor`, ...). */
  readonly field?: string;
}

/** Checks one tensor against a modality spec; returns the violation or null. */
export function checkModality(
  op: string,
  field: string,
  t: unknown,
  spec: ModalitySpec,
  opts: LeadOptions = {},
  kinds: { shape: ContractViolationKind; dtype: ContractViolationKind } = {
    shape: "observation_shape",
    dtype: "observation_dtype",
  },
): ContractError | null {
  const lead = opts.lead ?? ["B"];
  const sizes = opts.sizes ?? {};
  const dtype = spec.dtype ?? "float32";
  const want = fmtExpected(leadAxes(lead, sizes), spec.shape);
  if (!(t instanceof Tensor)) {
    return new ContractError(op, kinds.shape, field, `a tensor ${want} (${dtype})`, describe(t));
  }
  const leadOk = lead.every((ax, i) => sizes[ax] === undefined || t.shape[i] === sizes[ax]);
  if (!trailingMatches(t, lead.length, spec.shape) || !leadOk) {
    return new ContractError(op, kinds.shape, field, `shape ${want} (${dtype})`, fmtTensor(t));
  }
  if (t.dtype !== dtype) {
    return new ContractError(op, kinds.dtype, field, `dtype ${dtype} (${want})`, fmtTensor(t));
  }
  return null;
}

function describe(x: unknown): string {
  if (x === undefined || x === null) return "nothing";
  if (x instanceof Tensor) return fmtTensor(x);
  if (Array.isArray(x)) return `an array of ${x.length}`;
  return typeof x === "object" ? `an object with keys ${Object.keys(x).join(", ")}` : String(x);
}

/**
 * Checks observations by key against the contract's input spec: every declared key present,
 * no undeclared key, shapes and dtypes, and one set of leading sizes across modalities.
 */
export function checkObservations(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  obs: Readonly<Record<string, unknown>>,
  opts: LeadOptions = {},
): void {
  const spec = c.effectiveInputSpec.modalities;
  const declared = Object.keys(spec);
  if (declared.length === 0) return;
  const given = Object.keys(obs);
  for (const k of given) {
    if (!(k in spec)) {
      v.report(
        new ContractError(
          op,
          "observation_key",
          opts.field ? `${opts.field}.${k}` : k,
          `one of the declared observations (${declared.join(", ")})`,
          `an undeclared observation "${k}"`,
        ),
      );
    }
  }
  const sizes: Record<string, number | undefined> = { ...(opts.sizes ?? {}) };
  const lead = opts.lead ?? ["B"];
  const name = (k: string) => (opts.field ? `${opts.field}.${k}` : k);
  for (const k of declared) {
    if (!(k in obs)) {
      v.report(
        new ContractError(
          op,
          "observation_key",
          name(k),
          `a tensor ${fmtExpected(lead, spec[k].shape)} (${spec[k].dtype ?? "float32"})`,
          `nothing (observations given: ${given.join(", ") || "none"})`,
        ),
      );
      continue;
    }
    const err = checkModality(op, name(k), obs[k], spec[k], { lead, sizes });
    if (err) {
      v.report(err);
      continue;
    }
    // Later modalities must agree on the leading sizes of the first.
    const t = obs[k] as Tensor;
    lead.forEach((ax, i) => (sizes[ax] ??= t.shape[i]));
  }
}

function describePayload(p: ActionPayload): string {
  const prim = primaryTensor(p);
  const field = p.tensor ? "tensor" : p.tokens ? "tokens" : p.latent ? "latent" : null;
  if (prim) return `kind "${p.kind}" with ${field} ${fmtTensor(prim)}`;
  if (p.text) return `kind "${p.kind}" with ${p.text.length} texts`;
  return `kind "${p.kind}" without data`;
}

function describeSpec(s: Required<ActionSpec>, lead: readonly (string | number)[]): string {
  switch (s.kind) {
    case "none":
      return `kind "none"`;
    case "discrete": {
      const n = s.numActions ?? s.dim;
      return `kind "discrete" (${n} actions: int32 ${fmtExpected(lead, [])} or float32 ${
        fmtExpected(lead, [n])
      })`;
    }
    case "text":
      return `kind "text"`;
    default:
      return `kind "${s.kind}" (dim ${s.dim}: ${fmtExpected(lead, s.dim > 0 ? [s.dim] : [-1])} ${
        s.kind === "token" ? "int32" : "float32"
      })`;
  }
}

/** Checks a payload against one action variant; returns the violation or null. */
export function checkActionVariant(
  op: string,
  p: ActionPayload,
  s: Required<ActionSpec>,
  opts: LeadOptions = {},
): ContractError | null {
  const lead = opts.lead ?? ["B"];
  const sizes = opts.sizes ?? {};
  const shownLead = leadAxes(lead, sizes);
  const prims = [p.tensor, p.tokens, p.latent, p.text].filter((x) => x != null).length;
  if (prims > 1) {
    return new ContractError(
      op,
      "action_payload",
      "action",
      "at most one of tensor/tokens/latent/text",
      `${prims} of them`,
    );
  }
  if (p.kind !== s.kind) {
    return new ContractError(
      op,
      "action_kind",
      "action.kind",
      describeSpec(s, shownLead),
      describePayload(p),
    );
  }
  if (p.kind === "none") {
    return prims
      ? new ContractError(
        op,
        "action_payload",
        "action",
        `no data for kind "none"`,
        describePayload(p),
      )
      : null;
  }
  if (p.kind === "text") {
    return p.text?.length ? null : new ContractError(
      op,
      "action_payload",
      "action.text",
      "a non-empty list of texts",
      describePayload(p),
    );
  }
  const t = p.kind === "token"
    ? (p.tokens ?? p.tensor)
    : p.kind === "latent"
    ? (p.latent ?? p.tensor)
    : p.tensor;
  const field = opts.field ??
    (p.kind === "token" && p.tokens
      ? "action.tokens"
      : p.kind === "latent" && p.latent
      ? "action.latent"
      : "action.tensor");
  if (!t) {
    return new ContractError(
      op,
      "action_payload",
      field,
      describeSpec(s, shownLead),
      describePayload(p),
    );
  }
  const leadOk = t.rank >= lead.length &&
    lead.every((ax, i) => sizes[ax] === undefined || t.shape[i] === sizes[ax]);
  if (s.kind === "discrete") {
    const n = s.numActions ?? s.dim;
    const ok = leadOk && (
      (t.dtype === "int32" && t.rank === lead.length) ||
      (t.dtype === "float32" && t.rank === lead.length + 1 && t.shape[lead.length] === n)
    );
    if (!ok) {
      const kind = t.dtype === "bool" ? "action_dtype" : "action_shape";
      return new ContractError(op, kind, field, describeSpec(s, shownLead), fmtTensor(t));
    }
    // Indices outside [0, n) would one-hot to all zeros, silently. Checked when the values are
    // known on the host (tensors made from data); indices computed on the device are in range
    // by construction (argmax, sampling).
    const range = t.dtype === "int32" ? knownIntRange(t) : null;
    if (range && (range[0] < 0 || range[1] >= n)) {
      const bad = range[0] < 0 ? range[0] : range[1];
      return new ContractError(
        op,
        "action_value",
        field,
        `action indices in [0, ${n}) (${n} discrete actions)`,
        `index ${bad} (indices from ${range[0]} to ${range[1]})`,
        "an index outside the action set would encode as no action at all",
      );
    }
    return null;
  }
  const wantDtype = s.kind === "token" ? "int32" : "float32";
  const shapeOk = leadOk && t.rank === lead.length + 1 &&
    (s.dim <= 0 || t.shape[lead.length] === s.dim);
  if (!shapeOk) {
    return new ContractError(
      op,
      "action_shape",
      field,
      `shape ${fmtExpected(shownLead, s.dim > 0 ? [s.dim] : [-1])} (${s.kind}, dim ${s.dim})`,
      fmtTensor(t),
    );
  }
  if (t.dtype !== wantDtype) {
    return new ContractError(
      op,
      "action_dtype",
      field,
      `dtype ${wantDtype} (${s.kind})`,
      fmtTensor(t),
    );
  }
  return null;
}

/** Checks a payload against every variant of the contract's action union (one must match). */
export function checkAction(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  p: ActionPayload,
  opts: LeadOptions = {},
): void {
  const variants = c.effectiveActionSpecs;
  const errors = variants.map((s) => checkActionVariant(op, p, s, opts));
  if (errors.some((e) => e === null)) return;
  if (errors.length === 1) {
    v.report(errors[0]!);
    return;
  }
  // Report the variant of the same kind when there is one; otherwise list all variants.
  const same = variants.findIndex((s) => s.kind === p.kind);
  if (same >= 0) {
    v.report(errors[same]!);
    return;
  }
  const lead = leadAxes(opts.lead ?? ["B"], opts.sizes ?? {});
  v.report(
    new ContractError(
      op,
      "action_kind",
      "action.kind",
      `one of ${variants.map((s) => describeSpec(s, lead)).join("; ")}`,
      describePayload(p),
    ),
  );
}

/** Checks condition extras (naming, declaration, declared dtype/shape) and declared modalities. */
export function checkConditions(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  cond: ConditionPayload,
): void {
  const allowed = c.allowedExtraKeys;
  for (const [key, value] of Object.entries(cond.extras ?? {})) {
    const field = `conditions.extras["${key}"]`;
    if (!isNamespacedExtraKey(key)) {
      v.report(
        new ContractError(
          op,
          "extras_key_format",
          field,
          "a key of the form wf.<domain>.<name>",
          `"${key}"`,
        ),
      );
      continue;
    }
    if (!allowed.includes(key)) {
      v.report(
        new ContractError(
          op,
          "extras_key_undeclared",
          field,
          allowed.length
            ? `one of the declared keys (${allowed.join(", ")})`
            : "no extras (the model declares none)",
          `the undeclared key "${key}"`,
        ),
      );
      continue;
    }
    const schema = c.conditionExtrasSchema[key];
    if (schema && value instanceof Tensor) {
      // Extras carry their own leading axes: only the trailing shape is declared.
      const lead = value.rank - schema.shape.length;
      const leadNames = Array.from({ length: Math.max(lead, 0) }, () => "*");
      const err = checkModality(op, field, value, schema, { lead: leadNames }, {
        shape: "extras_schema",
        dtype: "extras_schema",
      });
      if (err) v.report(err);
    }
  }
  const mods = c.conditionSpec.modalities;
  const std: [string, unknown][] = [
    ["goal", cond.goal],
    ["spatial", cond.spatial],
    ["cameraPose", cond.cameraPose],
    ["textCondition", cond.textCondition],
  ];
  for (const [k, t] of std) {
    if (t instanceof Tensor && mods[k]) {
      const err = checkModality(op, `conditions.${k}`, t, mods[k]);
      if (err) v.report(err);
    }
  }
}

/** Checks a state: required keys present, declared tensors of the right shape, one batch size. */
export function checkState(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  state: State,
  opts: { batchSize?: number; what?: string } = {},
): void {
  const what = opts.what ?? "state";
  const present = Object.keys(state.tensors);
  const missing = c.requiredStateKeys.filter((k) => !(k in state.tensors));
  if (missing.length) {
    v.report(
      new ContractError(
        op,
        "state_key",
        `${what}.tensors`,
        `keys ${c.requiredStateKeys.join(", ")} (required)`,
        `keys ${present.join(", ") || "(none)"} (missing ${
          missing.map((k) => `"${k}"`).join(", ")
        })`,
      ),
    );
  }
  let b = opts.batchSize;
  for (const [k, spec] of Object.entries(c.stateSpec.tensors)) {
    const t = state.tensors[k];
    if (!t) continue;
    const err = checkModality(op, `${what}.tensors.${k}`, t, spec, { sizes: { B: b } }, {
      shape: "state_shape",
      dtype: "state_shape",
    });
    if (err) v.report(err);
    else b ??= t.shape[0];
  }
}

/** Checks decoded predictions: each declared key present with shape `[B, ...spec]`. */
export function checkPredictions(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  preds: Readonly<Record<string, Tensor>>,
  batchSize?: number,
): void {
  for (const [k, spec] of Object.entries(c.predictionSpec.tensors)) {
    if (!(k in preds)) continue; // a decoder may predict a subset (e.g. no obs when overridden)
    const err = checkModality(op, `predictions.${k}`, preds[k], spec, { sizes: { B: batchSize } }, {
      shape: "output",
      dtype: "output",
    });
    if (err) v.report(err);
  }
}

/** Leading layout axes of a layout string (`"BT..."` -> `["B", "T"]`) and whether more follow. */
export function parseLayout(layout: string): { axes: string[]; rest: boolean } {
  const rest = layout.endsWith("...");
  return { axes: [...(rest ? layout.slice(0, -3) : layout)], rest };
}

function tensorsAt(batch: Batch, field: string): [string, Tensor][] {
  const v = resolveBatchKey(batch, field);
  if (v instanceof Tensor) return [[`batch.${field}`, v]];
  if (v && typeof v === "object") {
    return Object.entries(v).filter(([, t]) => t instanceof Tensor).map((
      [k, t],
    ) => [`batch.${field}.${k}`, t as Tensor]);
  }
  return [];
}

/**
 * Checks a batch for `loss()`: required keys, per-field layouts (`"BT..."`), one `B` and one `T`
 * across fields, observation and action shapes, and lengths of variable-length fields.
 */
export function checkBatch(
  v: ContractValidator,
  c: ModelIOContract,
  op: string,
  batch: Batch,
): void {
  const fields = c.effectiveSequenceFieldSpec;
  const present = [
    ...Object.entries(batch).filter(([k, x]) =>
      x != null &&
      !["layouts", "strictLayout", "inputs", "targets", "conditions", "lengths", "masks", "extras"]
        .includes(k)
    ).map(([k]) => k),
    ...Object.keys(batch.inputs ?? {}).map((k) => `inputs.${k}`),
    ...Object.keys(batch.targets ?? {}).map((k) => `targets.${k}`),
  ];
  for (const key of c.requiredBatchKeys) {
    if (resolveBatchKey(batch, key) === undefined) {
      const layout = fields[key]?.layout;
      v.report(
        new ContractError(
          op,
          "batch_key",
          `batch.${key}`,
          `a tensor${layout ? ` with layout ${layout}` : ""} (required batch key; required: ${
            c.requiredBatchKeys.join(", ")
          })`,
          `nothing (the batch has: ${present.join(", ") || "no fields"})`,
        ),
      );
    }
  }
  const sizes: Record<string, number | undefined> = {};
  const sizeSource: Record<string, string> = {};
  for (const [field, spec] of Object.entries(fields)) {
    const given = batch.layouts?.[field];
    if (given !== undefined && spec.layout !== null && given !== spec.layout) {
      v.report(
        new ContractError(
          op,
          "batch_layout",
          `batch.layouts.${field}`,
          `"${spec.layout}"`,
          `"${given}"`,
        ),
      );
      continue;
    }
    const layout = given ?? spec.layout;
    if (!layout) continue;
    const { axes, rest } = parseLayout(layout);
    for (const [name, t] of tensorsAt(batch, field)) {
      const okRank = rest ? t.rank >= axes.length : t.rank === axes.length;
      const shownLead = axes.map((ax) => sizes[ax] ?? ax);
      const want = `layout ${layout} ([${shownLead.join(", ")}${rest ? ", ..." : ""}])`;
      if (!okRank) {
        v.report(new ContractError(op, "batch_layout", name, want, fmtTensor(t)));
        continue;
      }
      for (let i = 0; i < axes.length; i++) {
        const ax = axes[i];
        if (ax === "T" && spec.variableLength) continue;
        if (sizes[ax] === undefined) {
          sizes[ax] = t.shape[i];
          sizeSource[ax] = name;
        } else if (sizes[ax] !== t.shape[i]) {
          v.report(
            new ContractError(
              op,
              "batch_shape",
              name,
              `${ax} = ${sizes[ax]} on axis ${i} (as in ${sizeSource[ax]})`,
              fmtTensor(t),
            ),
          );
        }
      }
    }
  }
  // Observations and actions: per-step shapes against the specs.
  const obsLayout = fields.obs?.layout ?? "BT...";
  const obsLead = parseLayout(obsLayout).axes;
  const obsOpts = { lead: obsLead, sizes: { ...sizes } };
  if (batch.obs instanceof Tensor) {
    // A single tensor stands for the single declared modality.
    const key = Object.keys(c.effectiveInputSpec.modalities)[0] ?? "obs";
    checkObservations(v, c, op, { [key]: batch.obs }, { ...obsOpts, field: "batch" });
  } else if (batch.obs) {
    checkObservations(v, c, op, batch.obs, { ...obsOpts, field: "batch.obs" });
  } else if (batch.inputs) {
    checkObservations(v, c, op, batch.inputs, { ...obsOpts, field: "batch.inputs" });
  }
  if (batch.actions instanceof Tensor) {
    const actLead = parseLayout(fields.actions?.layout ?? "BT...").axes;
    const kind = c.actionSpec.kind;
    checkAction(v, c, op, { kind, tensor: batch.actions }, {
      lead: actLead,
      sizes,
      field: "batch.actions",
    });
  }
  for (const [field, t] of Object.entries(batch.lengths ?? {})) {
    if (!fields[field]?.variableLength) {
      v.report(
        new ContractError(
          op,
          "batch_layout",
          `batch.lengths.${field}`,
          `lengths only for variable-length fields (${
            Object.entries(fields).filter(([, s]) => s.variableLength).map(([f]) => f).join(", ") ||
            "none declared"
          })`,
          `lengths for "${field}"`,
        ),
      );
    } else if (t.rank !== 1 || (sizes.B !== undefined && t.shape[0] !== sizes.B)) {
      v.report(
        new ContractError(
          op,
          "batch_layout",
          `batch.lengths.${field}`,
          `shape [${sizes.B ?? "B"}]`,
          fmtTensor(t),
        ),
      );
    }
  }
  if (batch.strictLayout && batch.conditions) {
    const declared = new Set([...Object.keys(c.conditionSpec.modalities), ...c.allowedExtraKeys]);
    for (const k of Object.keys(batch.conditions)) {
      if (!declared.has(k)) {
        v.report(
          new ContractError(
            op,
            "batch_key",
            `batch.conditions.${k}`,
            `one of the declared conditions (${[...declared].join(", ") || "none"})`,
            `the undeclared key "${k}"`,
          ),
        );
      }
    }
  }
}
