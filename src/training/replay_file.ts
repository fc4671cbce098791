/**
 * The replay buffer's file: NumPy `.npz` with the reference's keys. Reading checks the small
 * metadata first and the declared sizes of the per-step arrays before inflating any of them;
 * building checks every array's shape, dtype and values against the others. Writing is the
 * buffer's `save` (`toArrays` gives the layout).
 * @module
 */

import { FormatError } from "../errors.ts";
import { readFileBytes } from "../io/files.ts";
import { checkAllocation } from "../io/limits.ts";
import { decodeNpz, listZipMembers, type NpyArray, type NpzArrays } from "../io/npz.ts";
import { npyToNumbers } from "../io/npy.ts";
import { firstNonFinite } from "./replay_checks.ts";
import {
  type ActionDtype,
  LAST,
  type ObsDtype,
  type ReplayBufferOptions,
  type ReplayLoadOptions,
  TERMINAL,
  transitionBytes,
} from "./replay_types.ts";

/** Metadata arrays of a replay-buffer file (small; read first). */
const META_KEYS = ["obs_shape", "action_dim", "capacity", "first_step"] as const;
/** Per-step arrays of a replay-buffer file; any other member of the archive is never inflated. */
const STEP_KEYS = ["obs", "actions", "rewards", "dones", "terminations"] as const;
/** Bytes of metadata accepted (a few integers and their .npy headers). */
const META_MAX_BYTES = 1 << 20;
/** Widest element of a per-step array the loader accepts (float64 / int64). */
const MAX_ITEM_BYTES = 8;
/** Room for the `.npy` header of each per-step array (NumPy's header limit). */
const NPY_HEADER_BYTES = 10000;

/** Checked rows of a replay file, in the buffer's row layout, ready to append. */
export interface ReplayRows {
  /** Observations, `count` rows. */
  readonly obs: ArrayLike<number>;
  /** Actions (vectors, or indices for an int32-index buffer). */
  readonly actions: ArrayLike<number>;
  /** Rewards. */
  readonly rewards: ArrayLike<number>;
  /** Row flags (`LAST`, `TERMINAL`). */
  readonly flags: Uint8Array;
  /** Rows. */
  readonly count: number;
  /** Step within its episode of the first row. */
  readonly firstStep: number;
}

/**
 * Checks arrays in the `.npz` layout (see `ReplayBuffer.load`) and their sizes against the
 * allocation limit, builds the buffer with `create` (given the options the file and `opts`
 * call for), then checks the rows against it. Every error is a FormatError naming the key.
 */
export function replayFromArrays<B extends { readonly allowNonFinite: boolean }>(
  a: Readonly<Record<string, NpyArray>>,
  opts: ReplayLoadOptions & { path?: string },
  create: (options: ReplayBufferOptions) => B,
): { buffer: B; rows: ReplayRows } {
  const path = opts.path;
  const { bad, need, isInt, shp, intScalar } = fileChecks(a, path);
  const numeric = (key: string, x: NpyArray): Float64Array | Float32Array => {
    if (x.dtype === "bool") bad(key, "must be numeric, got bool");
    return x.data instanceof Float32Array ? x.data : npyToNumbers(x, `"${key}"`);
  };
  const { obsShape, actionDim, capacity: fileCapacity } = replayMeta(a, path);
  // Per-step arrays.
  const obs = need("obs");
  if (!["float16", "float32", "float64", "uint8"].includes(obs.dtype) && !isInt(obs)) {
    bad("obs", `must be float or uint8, got ${obs.dtype}`);
  }
  const N = obs.shape[0];
  if (
    obs.shape.length !== obsShape.length + 1 || obsShape.some((d, i) => obs.shape[i + 1] !== d)
  ) {
    bad("obs", `has shape ${shp(obs)}, expected [N, ${obsShape.join(", ")}] (from obs_shape)`);
  }
  const rewards = need("rewards");
  if (rewards.shape.length !== 1 || rewards.shape[0] !== N) {
    bad("rewards", `has shape ${shp(rewards)}, expected [${N}] (one per obs row)`);
  }
  const flagsOf = (key: string): Uint8Array => {
    const x = need(key);
    if (x.shape.length !== 1 || x.shape[0] !== N) {
      bad(key, `has shape ${shp(x)}, expected [${N}] (one per obs row)`);
    }
    if (x.dtype === "bool" || x.dtype === "uint8") return x.data as Uint8Array;
    const out = new Uint8Array(N);
    const d = x.data as ArrayLike<number | bigint>;
    for (let i = 0; i < N; i++) out[i] = d[i] ? 1 : 0;
    return out;
  };
  const dones = flagsOf("dones");
  const terms = a.terminations ? flagsOf("terminations") : dones;
  const actions = need("actions");
  let actionDtype: ActionDtype = "float32";
  if (actions.shape.length === 1 && isInt(actions) && actionDim >= 1 && actions.shape[0] === N) {
    actionDtype = "int32";
  } else if (
    !(actions.shape.length === 2 && actions.shape[0] === N && actions.shape[1] === actionDim) &&
    !(actions.shape.length === 1 && actions.shape[0] === N && actionDim === 1)
  ) {
    bad(
      "actions",
      `has shape ${shp(actions)}, expected [${N}, ${actionDim}] (rows x action_dim)`,
    );
  }
  if (actions.dtype === "bool") bad("actions", "must be numeric, got bool");
  const firstStep = a.first_step ? intScalar("first_step", 0) : 0;
  if (N > fileCapacity && opts.capacity === undefined) {
    bad("capacity", `is ${fileCapacity} but the file holds ${N} transitions`);
  }
  const flags = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    if (terms[i] && !dones[i]) {
      bad("terminations", `step ${i} is terminal but "dones" does not end an episode there`);
    }
    flags[i] = (dones[i] ? LAST : 0) | (terms[i] ? TERMINAL : 0);
  }
  const capacity = opts.capacity ?? fileCapacity;
  const obsDtype: ObsDtype = obs.dtype === "uint8" ? "uint8" : "float32";
  const obsSize = obsShape.reduce((p, d) => p * d, 1);
  const perStep = transitionBytes(obsSize, actionDim, obsDtype, actionDtype);
  checkAllocation(
    `${path ? `${path}: ` : ""}"capacity"`,
    capacity * perStep,
    `a buffer of capacity ${capacity} (${perStep} bytes per transition) does not fit; load ` +
      `it with a smaller { capacity } (the most recent transitions are kept)`,
  );
  const buffer = create({
    capacity,
    obsShape,
    actionDim,
    obsDtype,
    actionDtype,
    seed: opts.seed,
    device: opts.device,
    allowNonFinite: opts.allowNonFinite,
  });
  let actRows: ArrayLike<number>;
  if (actionDtype === "int32") {
    const v = npyToNumbers(actions, `"actions"`);
    for (let i = 0; i < N; i++) {
      if (!Number.isInteger(v[i]) || v[i] < 0 || v[i] >= actionDim) {
        bad("actions", `index ${v[i]} at row ${i} is not in [0, ${actionDim})`);
      }
    }
    actRows = v;
  } else actRows = numeric("actions", actions);
  const obsRows = obs.dtype === "uint8" ? obs.data as Uint8Array : numeric("obs", obs);
  const rewardRows = numeric("rewards", rewards);
  if (!buffer.allowNonFinite) {
    const rows: [string, ArrayLike<number>, number][] = [
      ["obs", obsRows, obsSize],
      ["actions", actRows, actionDtype === "int32" ? 1 : actionDim],
      ["rewards", rewardRows, 1],
    ];
    for (const [key, values, width] of rows) {
      const i = firstNonFinite(values);
      if (i >= 0) {
        bad(
          key,
          `${values[i]} at row ${Math.floor(i / width)}: non-finite data is refused (load ` +
            `with { allowNonFinite: true }, or set [data] allow_non_finite = true in ` +
            `worldflux.toml, to accept it)`,
        );
      }
    }
  }
  return {
    buffer,
    rows: { obs: obsRows, actions: actRows, rewards: rewardRows, flags, count: N, firstStep },
  };
}

/** Checks of the arrays of a replay-buffer file; every error names the key (and the file). */
function fileChecks(
  a: Readonly<Record<string, NpyArray>>,
  path: string | undefined,
  found: readonly string[] = Object.keys(a),
) {
  const bad = (key: string, msg: string): never => {
    throw new FormatError(`"${key}": ${msg}`, path);
  };
  const need = (key: string): NpyArray => {
    const v = a[key];
    if (!v) {
      throw new FormatError(
        `missing array "${key}" (a replay buffer file has obs, actions, rewards, dones, ` +
          `obs_shape, action_dim, capacity; found: ${found.join(", ") || "none"})`,
        path,
      );
    }
    return v;
  };
  const isInt = (x: NpyArray) => /^u?int/.test(x.dtype);
  const shp = (x: NpyArray) => `[${x.shape.join(", ")}]`;
  const intScalar = (key: string, min: number): number => {
    const x = need(key);
    if (!isInt(x)) bad(key, `must be an integer, got ${x.dtype}`);
    if (x.shape.length > 1 || x.data.length !== 1) {
      bad(key, `must be a scalar, got shape ${shp(x)}`);
    }
    const v = npyToNumbers(x, `${path ? path + ": " : ""}"${key}"`)[0];
    if (v < min) bad(key, `must be >= ${min}, got ${v}`);
    return v;
  };
  return { bad, need, isInt, shp, intScalar };
}

/** The metadata of a replay-buffer file (`obs_shape`, `action_dim`, `capacity`), checked. */
function replayMeta(
  a: Readonly<Record<string, NpyArray>>,
  path: string | undefined,
  found?: readonly string[],
): { obsShape: number[]; actionDim: number; capacity: number } {
  const { bad, need, isInt, shp, intScalar } = fileChecks(a, path, found);
  const os = need("obs_shape");
  if (!isInt(os) || os.shape.length !== 1) {
    bad("obs_shape", `must be a 1-d integer array, got ${os.dtype} ${shp(os)}`);
  }
  const obsShape = Array.from(npyToNumbers(os, '"obs_shape"'));
  if (obsShape.length === 0 || obsShape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    bad("obs_shape", `must hold positive dimensions, got (${obsShape.join(", ")})`);
  }
  return {
    obsShape,
    actionDim: intScalar("action_dim", 1),
    capacity: intScalar("capacity", 1),
  };
}

/**
 * Reads the arrays of a replay-buffer `.npz` (the layout of {@link ReplayBuffer.save}): the small
 * metadata first, then only the per-step arrays, whose declared sizes must fit what a buffer of
 * the file's capacity holds (in the widest dtypes the format allows) before any is inflated.
 * Other members of the archive are never inflated. {@link ReplayBuffer.load} builds a buffer
 * from the result; `worldflux train` splits it for its held-out episodes first.
 */
export async function readReplayArrays(
  path: string,
  opts: Pick<ReplayLoadOptions, "capacity" | "maxBytes"> = {},
): Promise<NpzArrays> {
  const bytes = await readFileBytes(path);
  const meta = decodeNpz(bytes, { only: META_KEYS, maxBytes: META_MAX_BYTES }, path);
  const arrays = listZipMembers(bytes, path).filter((m) => m.name.endsWith(".npy"));
  const names = arrays.map((m) => m.name.slice(0, -4));
  const { obsShape, actionDim, capacity } = replayMeta(meta, path, names);
  const rows = Math.max(capacity, opts.capacity ?? 0);
  const obsSize = obsShape.reduce((p, d) => p * d, 1);
  const rowBytes = (obsSize + actionDim + 3) * MAX_ITEM_BYTES;
  const held = rows * rowBytes + STEP_KEYS.length * NPY_HEADER_BYTES;
  const limit = Math.min(opts.maxBytes ?? Infinity, held);
  const declared = arrays
    .filter((m) => (STEP_KEYS as readonly string[]).includes(m.name.slice(0, -4)))
    .reduce((t, m) => t + m.size, 0);
  if (declared > limit) {
    throw new FormatError(
      `the per-step arrays declare ${declared} bytes, more than a buffer of capacity ${rows} ` +
        `holds (${limit} bytes at most); the file is corrupt or its "capacity" is wrong (pass ` +
        `{ capacity } to load more rows)`,
      path,
    );
  }
  checkAllocation(
    `${path}: per-step arrays`,
    declared,
    "the file is larger than this machine can load; load it on a larger machine or split it",
  );
  const steps = decodeNpz(bytes, { only: STEP_KEYS, maxBytes: limit }, path);
  return { ...meta, ...steps };
}
