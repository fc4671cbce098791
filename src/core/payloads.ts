/**
 * Payloads of the universal API: actions ({@link ActionPayload}, {@link ActionSequence}),
 * conditions ({@link ConditionPayload}) and model inputs ({@link WorldModelInput}); the planner
 * metadata key and helpers that turn a planner's output into actions.
 * @module
 */

import { Tensor } from "../tensor/tensor.ts";
import { fmtShape } from "../errors.ts";
import { ContractError } from "./errors.ts";
import type { ActionKind } from "./spec.ts";
import type { ApiVersion } from "./types.ts";

export type { ActionKind } from "./spec.ts";

/** Planner metadata: how many steps an `ActionPayload` from a planner holds (int >= 1). */
export const PLANNER_HORIZON_KEY = "wf.planner.horizon";

/** Legacy planner metadata key (accepted with a warning in v0.2, refused in v3). */
export const PLANNER_SEQUENCE_KEY = "wf.planner.sequence";

/**
 * An action of any modality. At most one primary field (`tensor`, `tokens`, `latent`, `text`)
 * is set; kind `"none"` sets none.
 *
 * @example
 * ```ts
 * import { type ActionPayload, tensor } from "@worldflux/worldflux";
 * const a: ActionPayload = { kind: "continuous", tensor: tensor([[0.1, -0.2]]) };
 * const d: ActionPayload = { kind: "discrete", tensor: tensor([2], [1], { dtype: "int32" }) };
 * console.log(a.kind, d.kind);
 * ```
 */
export interface ActionPayload {
  /** Which modality the action is in (must match a variant of the model's action union). */
  readonly kind: ActionKind;
  /** `[B, dim]` (continuous), `[B]` int32 indices or `[B, n]` one-hot (discrete), `[T, B, ...]` from planners. */
  readonly tensor?: Tensor | null;
  /** Token ids. */
  readonly tokens?: Tensor | null;
  /** Latent action codes. */
  readonly latent?: Tensor | null;
  /** Text commands, one per example. */
  readonly text?: readonly string[] | null;
  /** Namespaced metadata (`wf.<domain>.<name>`), e.g. `wf.planner.horizon`. */
  readonly extras?: Readonly<Record<string, unknown>>;
}

/** A sequence of actions for `rollout`: a `[T, B, ...]` tensor or one payload per step. */
export interface ActionSequence {
  /** `[T, B, ...]` actions. */
  readonly tensor?: Tensor | null;
  /** One payload per step (when the steps are not one tensor). */
  readonly payloads?: readonly ActionPayload[] | null;
  /** Kind of the `tensor`'s steps (default: the model's `actionSpec.kind`). */
  readonly kind?: ActionKind;
}

/** Optional side conditions of a call. */
export interface ConditionPayload {
  /** Text conditioning (a tensor of embeddings, or one string per example). */
  readonly textCondition?: Tensor | readonly string[] | null;
  /** Goal tensor `[B, ...]`. */
  readonly goal?: Tensor | null;
  /** Spatial conditioning `[B, ...]`. */
  readonly spatial?: Tensor | null;
  /** Camera pose `[B, ...]`. */
  readonly cameraPose?: Tensor | null;
  /** Namespaced extras (`wf.<domain>.<name>`), declared by the model's contract. */
  readonly extras?: Readonly<Record<string, unknown>>;
}

/** The universal model input: observations by key plus optional context, action and conditions. */
export interface WorldModelInput {
  /** Observations by modality, `[B, ...]` each. */
  readonly observations: Readonly<Record<string, Tensor>>;
  /** Context tensors (e.g. history) by key, or one tensor. */
  readonly context?: Readonly<Record<string, Tensor>>;
  /** The action that led here, if any. */
  readonly action?: ActionPayload | null;
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
}

/** Number of steps of an {@link ActionSequence}. */
export function sequenceLength(seq: ActionSequence): number {
  if (seq.tensor) return seq.tensor.shape[0];
  return seq.payloads?.length ?? 0;
}

/** The primary tensor of a payload (`tensor`, then `tokens`, then `latent`), or null. */
export function primaryTensor(p: ActionPayload): Tensor | null {
  return p.tensor ?? p.tokens ?? p.latent ?? null;
}

/** True for an {@link ActionPayload} (has a `kind`). */
export function isActionPayload(x: unknown): x is ActionPayload {
  return typeof x === "object" && x !== null && !(x instanceof Tensor) &&
    typeof (x as { kind?: unknown }).kind === "string";
}

/** True for a {@link WorldModelInput} (has `observations` that is a record, not a tensor). */
export function isWorldModelInput(x: unknown): x is WorldModelInput {
  if (typeof x !== "object" || x === null || x instanceof Tensor) return false;
  const o = (x as { observations?: unknown }).observations;
  return typeof o === "object" && o !== null && !(o instanceof Tensor);
}

function plannerError(field: string, expected: string, actual: string): ContractError {
  return new ContractError("normalizePlannedAction", "planner_metadata", field, expected, actual);
}

function warnOnce(key: string, msg: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(`worldflux (v0.2 compatibility): ${msg}`);
}
const warned = new Set<string>();

/** `[H, B, ...]` from a planner tensor for horizon `h` (a single step may omit `H`/`B`). */
function tensorForHorizon(t: Tensor, h: number): Tensor {
  if (h === 1) {
    if (t.rank === 1) return t.unsqueeze(0).unsqueeze(0);
    if (t.rank === 2) return t.unsqueeze(0);
    if (t.shape[0] !== 1) {
      throw plannerError(
        "tensor",
        `first axis 1 for a single-step plan (extras["${PLANNER_HORIZON_KEY}"] = 1)`,
        fmtShape(t.shape),
      );
    }
    return t;
  }
  if (t.rank === 1) {
    throw plannerError(
      "tensor",
      `rank >= 2 for a ${h}-step plan ([${h}, B, ...])`,
      fmtShape(t.shape),
    );
  }
  if (t.shape[0] !== h) {
    throw plannerError(
      "tensor",
      `first axis ${h} (extras["${PLANNER_HORIZON_KEY}"] = ${h})`,
      fmtShape(t.shape),
    );
  }
  return t.rank === 2 ? t.unsqueeze(1) : t;
}

/**
 * Turns a planner's output into an {@link ActionSequence} `[H, B, ...]`, with
 * `H = extras["wf.planner.horizon"]`. In v3 the horizon is required and the legacy
 * `wf.planner.sequence` key is refused; in v0.2 a missing horizon is inferred from the tensor
 * (with a warning).
 *
 * @example
 * ```ts
 * import { normalizePlannedAction, PLANNER_HORIZON_KEY, zeros } from "@worldflux/worldflux";
 * const plan = { kind: "continuous", tensor: zeros([5, 1, 2]), extras: { [PLANNER_HORIZON_KEY]: 5 } } as const;
 * console.log(normalizePlannedAction(plan).tensor!.shape); // [5, 1, 2]
 * ```
 */
export function normalizePlannedAction(
  payload: ActionPayload,
  opts: { apiVersion?: ApiVersion } = {},
): ActionSequence {
  const strict = (opts.apiVersion ?? "v3") === "v3";
  const extras = payload.extras ?? {};
  if (PLANNER_SEQUENCE_KEY in extras) {
    const msg =
      `extras["${PLANNER_SEQUENCE_KEY}"] is removed; use extras["${PLANNER_HORIZON_KEY}"]`;
    if (strict) {
      throw plannerError(
        `extras["${PLANNER_SEQUENCE_KEY}"]`,
        `extras["${PLANNER_HORIZON_KEY}"]`,
        "the legacy key",
      );
    }
    warnOnce("planner_sequence", msg);
  }
  const primary = primaryTensor(payload);
  let horizon: number;
  const raw = extras[PLANNER_HORIZON_KEY];
  if (raw === undefined || raw === null) {
    if (strict || !primary) {
      throw plannerError(
        `extras["${PLANNER_HORIZON_KEY}"]`,
        "an integer >= 1 (planner payloads must state their horizon)",
        "nothing",
      );
    }
    horizon = primary.rank <= 1
      ? 1
      : primary.rank === 2
      ? Math.max(primary.shape[0], 1)
      : primary.shape[0];
    warnOnce(
      "planner_horizon",
      `planner payload without extras["${PLANNER_HORIZON_KEY}"]; inferred horizon ${horizon}`,
    );
  } else {
    horizon = Number(raw);
    if (!Number.isInteger(horizon) || horizon < 1) {
      throw plannerError(`extras["${PLANNER_HORIZON_KEY}"]`, "an integer >= 1", String(raw));
    }
  }
  if (primary) return { tensor: tensorForHorizon(primary, horizon), kind: payload.kind };
  if (horizon === 1) return { payloads: [payload] };
  throw plannerError("tensor", `a tensor for a ${horizon}-step plan`, "no tensor/tokens/latent");
}

/**
 * The first step of a planner's output, as a one-step payload (`wf.planner.horizon` = 1).
 *
 * @example
 * ```ts
 * import { firstAction, PLANNER_HORIZON_KEY, zeros } from "@worldflux/worldflux";
 * const plan = { kind: "continuous", tensor: zeros([5, 3, 2]), extras: { [PLANNER_HORIZON_KEY]: 5 } } as const;
 * console.log(firstAction(plan).tensor!.shape); // [3, 2]
 * ```
 */
export function firstAction(
  payload: ActionPayload,
  opts: { apiVersion?: ApiVersion } = {},
): ActionPayload {
  const seq = normalizePlannedAction(payload, opts);
  if (seq.tensor) {
    return {
      kind: payload.kind,
      tensor: seq.tensor.narrow(0, 0, 1).squeeze(0),
      extras: { [PLANNER_HORIZON_KEY]: 1 },
    };
  }
  const p = seq.payloads![0];
  return { ...p, extras: { ...(p.extras ?? {}), [PLANNER_HORIZON_KEY]: 1 } };
}
