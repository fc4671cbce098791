/**
 * {@link Batch}: training data for `loss()`, in the legacy form (`obs`, `actions`, `rewards`,
 * `terminations`, ...) and the universal one (`inputs`, `targets`, `conditions`, `lengths`,
 * `masks`, `extras`), with per-field axis layouts such as `"BT..."`.
 * @module
 */

import { Tensor } from "../tensor/tensor.ts";

/** Tensors by key, or one tensor (legacy single-modality form). */
export type TensorOrRecord = Tensor | Readonly<Record<string, Tensor>>;

/**
 * A batch of sequences. Legacy fields hold `[B, T, ...]` tensors (`rewards`/`terminations`
 * `[B, T]`); universal fields hold tensors by key. `layouts` states a field's axes when it
 * differs from the contract's default (`{ obs: "BT..." }`); with `strictLayout`, undeclared
 * `conditions` keys are refused.
 *
 * @example
 * ```ts
 * import { type Batch, randn, zeros } from "@worldflux/worldflux";
 * const batch: Batch = {
 *   obs: randn([8, 16, 4]),
 *   actions: randn([8, 16, 2]),
 *   rewards: zeros([8, 16]),
 *   terminations: zeros([8, 16]),
 * };
 * console.log(batch.obs instanceof Object);
 * ```
 */
export interface Batch {
  /** Observations `[B, T, ...]` (or by modality). */
  readonly obs?: TensorOrRecord | null;
  /** Actions `[B, T, A]` (discrete: `[B, T]` int32 or one-hot). */
  readonly actions?: Tensor | null;
  /** Next observations, when stored separately. */
  readonly nextObs?: TensorOrRecord | null;
  /** Rewards `[B, T]`. */
  readonly rewards?: Tensor | null;
  /** Episode ends `[B, T]` (1 = terminal). */
  readonly terminations?: Tensor | null;
  /** Valid-step mask `[B, T]`. */
  readonly mask?: Tensor | null;
  /** Context tensors (e.g. history) by key, or one tensor. */
  readonly context?: TensorOrRecord | null;
  /** Generic targets by key, or one tensor. */
  readonly target?: TensorOrRecord | null;
  /** Universal inputs by key. */
  readonly inputs?: Readonly<Record<string, Tensor>>;
  /** Universal targets by key. */
  readonly targets?: Readonly<Record<string, Tensor>>;
  /** Conditioning tensors by key. */
  readonly conditions?: Readonly<Record<string, Tensor>>;
  /** Valid lengths `[B]` of variable-length fields, by field. */
  readonly lengths?: Readonly<Record<string, Tensor>>;
  /** Validity masks of variable-length fields, by field. */
  readonly masks?: Readonly<Record<string, Tensor>>;
  /** Anything else, by key. */
  readonly extras?: Readonly<Record<string, unknown>>;
  /** Axis layout per field when given explicitly, e.g. `{ obs: "BT..." }`. */
  readonly layouts?: Readonly<Record<string, string>>;
  /** Refuse undeclared `conditions` keys. */
  readonly strictLayout?: boolean;
}

/** The legacy tensor fields of a {@link Batch}. */
export const BATCH_FIELDS = [
  "obs",
  "actions",
  "nextObs",
  "rewards",
  "terminations",
  "mask",
  "context",
  "target",
] as const;

/** The keyed containers of a {@link Batch}. */
export const BATCH_CONTAINERS = [
  "inputs",
  "targets",
  "conditions",
  "lengths",
  "masks",
  "extras",
] as const;

/**
 * Looks up a (dotted) batch key: a legacy field (`obs`, `obs.rgb`), a container
 * (`inputs.obs`), or a bare key found in `inputs`, `targets`, `conditions` or `extras`.
 * Returns undefined when absent.
 */
export function resolveBatchKey(batch: Batch, key: string): unknown {
  const parts = key.replace(/:/g, ".").split(".").filter((p) => p.length > 0);
  if (parts.length === 0) return undefined;
  const [root, ...rest] = parts;
  const b = batch as Record<string, unknown>;
  let cur: unknown;
  if (
    (BATCH_FIELDS as readonly string[]).includes(root) ||
    (BATCH_CONTAINERS as readonly string[]).includes(root)
  ) {
    cur = b[root];
  } else {
    cur = batch.inputs?.[root] ?? batch.targets?.[root] ?? batch.conditions?.[root] ??
      batch.extras?.[root];
  }
  for (const p of rest) {
    if (cur === null || typeof cur !== "object" || cur instanceof Tensor) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === null ? undefined : cur;
}

/** Observations of a batch by modality: `obs` (a tensor becomes `{ obs }`), else `inputs`. */
export function batchObservations(batch: Batch): Record<string, Tensor> {
  const o = batch.obs;
  if (o instanceof Tensor) return { obs: o };
  if (o) return { ...o };
  return { ...(batch.inputs ?? {}) };
}
