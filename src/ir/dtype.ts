/**
 * Data types. Every dtype is stored in 4 bytes on every backend (`bool` as an int32 0/1), so
 * buffers, offsets and kernels never need per-dtype size logic.
 * @module
 */

import { DTypeError } from "../errors.ts";

/** Element types a tensor can hold. */
export type DType = "float32" | "int32" | "bool";

/** All dtypes, for validation. */
export const DTYPES: readonly DType[] = ["float32", "int32", "bool"];

/** The typed array `data()` returns for each dtype. */
export type DataFor<D extends DType> = D extends "float32" ? Float32Array
  : D extends "int32" ? Int32Array
  : Uint8Array;

/** Any typed array a tensor may be read as. */
export type TensorData = Float32Array | Int32Array | Uint8Array;

/** Bytes per element in device storage (all dtypes use 4). */
export const BYTES_PER_ELEMENT = 4;

/** Checks that `d` names a dtype. */
export function assertDType(d: string, op: string): DType {
  if (!(DTYPES as readonly string[]).includes(d)) {
    throw new DTypeError(op, `unknown dtype "${d}"; expected one of ${DTYPES.join(", ")}`);
  }
  return d as DType;
}

/** Result dtype of arithmetic between two dtypes (bool < int32 < float32), as in PyTorch. */
export function promote(a: DType, b: DType): DType {
  if (a === "float32" || b === "float32") return "float32";
  if (a === "int32" || b === "int32") return "int32";
  return "bool";
}

/**
 * Storage representation: float32 data lives in Float32Array, int32 and bool in Int32Array.
 * @internal
 */
export function storageArray(dtype: DType, n: number): Float32Array | Int32Array {
  return dtype === "float32" ? new Float32Array(n) : new Int32Array(n);
}

/** Converts stored data to what `data()` returns for `dtype` (bool -> Uint8Array). */
export function toPublicData(dtype: DType, stored: Float32Array | Int32Array): TensorData {
  if (dtype === "bool") {
    const out = new Uint8Array(stored.length);
    for (let i = 0; i < stored.length; i++) out[i] = stored[i] !== 0 ? 1 : 0;
    return out;
  }
  return stored;
}
