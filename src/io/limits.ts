/**
 * The allocation limit. Every size that comes from a user or a file (a replay buffer's capacity,
 * a sampled batch, the arrays of an `.npz`, a tensor in a safetensors file, a model config's
 * widths) is turned into the bytes it will allocate and checked here, before allocating, so a
 * typo or a hostile file gives a {@link SizeLimitError} that names the key and the limit instead
 * of an `Array buffer allocation failed`, a swap storm or a RangeError.
 *
 * The limit defaults to the machine's physical memory (8 GiB when `--allow-sys` is not granted);
 * the environment variable `WORLDFLUX_MAX_ALLOC_MB` or {@link setAllocationLimit} change it.
 *
 * @example
 * ```ts
 * import { checkAllocation, setAllocationLimit } from "./limits.ts";
 * setAllocationLimit(2 ** 20);
 * try {
 *   checkAllocation("capacity", 2 ** 30, "lower the capacity");
 * } catch (e) {
 *   console.log((e as Error).message); // capacity: needs 1.0 GiB, more than ... 1.0 MiB; ...
 * }
 * setAllocationLimit(null);
 * ```
 * @module
 */

import { ConfigError, SizeLimitError } from "../errors.ts";

const FALLBACK = 8 * 2 ** 30;

let override: number | null = null;
let cachedDefault: number | null = null;

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

function defaultLimit(): number {
  if (cachedDefault !== null) return cachedDefault;
  let limit = FALLBACK;
  if (granted({ name: "sys", kind: "systemMemoryInfo" })) {
    try {
      limit = Deno.systemMemoryInfo().total;
    } catch {
      // keep the fallback
    }
  }
  if (granted({ name: "env", variable: "WORLDFLUX_MAX_ALLOC_MB" })) {
    const mb = Number(Deno.env.get("WORLDFLUX_MAX_ALLOC_MB"));
    if (mb > 0) limit = mb * 2 ** 20;
  }
  return (cachedDefault = limit);
}

/** The largest allocation (bytes) a size from a user or a file may ask for. */
export function allocationLimit(): number {
  return override ?? defaultLimit();
}

/** Sets the allocation limit in bytes; `null` restores the default (physical memory). */
export function setAllocationLimit(bytes: number | null): void {
  if (bytes !== null && !(bytes > 0)) {
    throw new ConfigError(
      `setAllocationLimit: expected a positive byte count or null, got ${bytes}`,
    );
  }
  override = bytes;
}

/**
 * Throws a {@link SizeLimitError} when `bytes` (what `key` would allocate) is not a finite count
 * within `limit` (default: {@link allocationLimit}). `hint` says how to fix it.
 */
export function checkAllocation(
  key: string,
  bytes: number,
  hint: string,
  limit: number = allocationLimit(),
): void {
  if (!(bytes <= limit)) throw new SizeLimitError(key, bytes, limit, `${hint} ${LIMIT_HINT}`);
}

const LIMIT_HINT =
  "(the limit defaults to the physical memory; WORLDFLUX_MAX_ALLOC_MB or setAllocationLimit() " +
  "change it)";
