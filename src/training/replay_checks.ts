/**
 * The checks and copies of what users hand a replay buffer: nested or flat rows, positive
 * sizes, uint8 pixels, finite values, action indices. Errors name the call, the field and the
 * step, and say how to fix it.
 * @module
 */

import { ContractError } from "../core/errors.ts";
import { ConfigError } from "../errors.ts";
import type { NumericInput } from "./replay_types.ts";

/** Rows given as nested arrays (else one flat array-like). */
function isNested(x: NumericInput): x is readonly NumericInput[] {
  return Array.isArray(x) && x.length > 0 && typeof x[0] === "object" && x[0] !== null;
}

/** Flattens nested rows (typed arrays pass through). */
export function flatten(x: NumericInput): ArrayLike<number> {
  if (!isNested(x)) return x as ArrayLike<number>;
  const out: number[] = [];
  const walk = (v: NumericInput) => {
    if (isNested(v)) { for (const r of v) walk(r); }
    else {
      const a = v as ArrayLike<number>;
      for (let i = 0; i < a.length; i++) out.push(a[i]);
    }
  };
  walk(x);
  return out;
}

/** `v` when it is a positive safe integer; else a ConfigError naming `what`. */
export function checkPositiveInt(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new ConfigError(`ReplayBuffer: ${what} must be a positive integer, got ${v}`);
  }
  return v;
}

/** Copies `len` values (typed-array `set` when possible). */
export function copyRows(
  dst: Float32Array | Uint8Array | Int32Array,
  at: number,
  src: ArrayLike<number>,
  from: number,
  len: number,
): void {
  if (ArrayBuffer.isView(src)) {
    dst.set((src as unknown as Float32Array).subarray(from, from + len), at);
  } else {
    for (let k = 0; k < len; k++) dst[at + k] = src[from + k];
  }
}

/** Refuses pixels that are not integers in 0..255 (they would not survive uint8 storage). */
export function checkPixels(o: ArrayLike<number>, op: string): void {
  for (let i = 0; i < o.length; i++) {
    const v = o[i];
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) {
      throw new ContractError(
        op,
        "observation_dtype",
        `obs[${i}]`,
        "uint8 pixels: integers in 0..255",
        String(v),
        `pass pixels as a Uint8Array, or use obsDtype "float32"`,
      );
    }
  }
}

/** Index of the first NaN or infinite value, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) return i; // NaN and ±Infinity give NaN
  }
  return -1;
}

/** Refuses NaN and infinite values (`width` values per step) with a ContractError. */
export function checkFinite(
  values: ArrayLike<number>,
  op: string,
  field: string,
  width: number,
): void {
  const i = firstNonFinite(values);
  if (i < 0) return;
  const step = Math.floor(i / width);
  throw new ContractError(
    op,
    "non_finite",
    width === 1 ? `${field}[${step}]` : `${field}[${step}][${i - step * width}]`,
    "finite numbers",
    String(values[i]),
    "create the buffer with { allowNonFinite: true } to store non-finite values",
  );
}

/** A discrete action that is not an index of the action set. */
export function badIndex(
  op: string,
  v: number,
  t: number,
  n: number,
  hint?: string,
): ContractError {
  return new ContractError(
    op,
    "action_value",
    `actions[${t}]`,
    `an action index in [0, ${n}) (actionDim ${n})`,
    `index ${v}`,
    hint ?? "an index outside the action set would be stored as no action at all",
  );
}
