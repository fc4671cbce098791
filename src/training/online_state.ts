/**
 * What an online run's checkpoint holds besides the model, the optimizers and the generators
 * (`checkpoint.ts`): the loop's own state, kept as JSON in `trainer_state.json` (`extra.online`),
 * and the replay buffer, kept beside it as `replay_buffer.npz`. With both, and a checkpoint
 * written at the end of a training episode, {@link trainOnline} continues the run exactly as if
 * it had never stopped: the next training episode starts from its own seed, so no environment
 * state is saved.
 *
 * ```text
 * extra.online = {
 *   version: 1,
 *   env: { id, obs_shape, obs_dtype, action },      // the run's environment, checked on resume
 *   episodes: [[env_step, return, length], ...],     // every finished training episode
 *   evaluations: [{ env_step, updates, returns, lengths, mean_return }, ...],
 *   debt, pretrained, pad, pending_eval, waiting_noted, since_log,   // the loop's counters
 *   prefill_rng: [4 x u32], replay_rng: [4 x u32],  // the random prefill's and the buffer's streams
 *   last_update: { name: value } | null,            // the latest update's outputs, not yet logged
 *   buffer_size: n,                                  // transitions in the buffer (checked)
 *   wall_time_sec: s,                                // training time up to the checkpoint
 * }
 * ```
 *
 * Reading checks every field and says what is wrong (a {@link CheckpointError}).
 * @module
 */

import { CheckpointError } from "../core/errors.ts";
import type { Env } from "../envs/types.ts";
import { actionDim } from "../envs/types.ts";
import type { RngState } from "../rng.ts";

/** One evaluation. */
export interface EvalRecord {
  /** Environment step at which it ran. */
  readonly envStep: number;
  /** Gradient updates done by then. */
  readonly updates: number;
  /** Return of each episode. */
  readonly returns: readonly number[];
  /** Length of each episode. */
  readonly lengths: readonly number[];
  /** Mean return. */
  readonly meanReturn: number;
}

/** One finished training episode. */
export interface EpisodeRecord {
  /** Environment step at which it ended. */
  readonly envStep: number;
  /** Its return. */
  readonly return: number;
  /** Its length. */
  readonly length: number;
}

/** Layout version of `extra.online`. */
export const ONLINE_STATE_VERSION = 1;

/** The environment of an online run as its checkpoint records it. */
export interface EnvSignature {
  /** Environment id. */
  readonly id: string;
  /** Observation shape. */
  readonly obsShape: readonly number[];
  /** Observation dtype. */
  readonly obsDtype: string;
  /** Action space: `discrete(n)` or `box(d)`. */
  readonly action: string;
}

/** The online loop's state at the end of a training episode. */
export interface OnlineLoopState {
  /** The run's environment. */
  readonly env: EnvSignature;
  /** Every finished training episode. */
  readonly episodes: readonly EpisodeRecord[];
  /** Every evaluation. */
  readonly evaluations: readonly EvalRecord[];
  /** Updates owed (fractional `trainRatio`). */
  readonly debt: number;
  /** The prefill updates ran. */
  readonly pretrained: boolean;
  /** Short episodes are sampled zero-padded. */
  readonly pad: boolean;
  /** An evaluation waits for the end of the training episode. */
  readonly pendingEval: boolean;
  /** The "waiting for replay data" note was given. */
  readonly waitingNoted: boolean;
  /** Returns of the episodes since the last log. */
  readonly sinceLog: readonly number[];
  /** State of the random prefill's stream. */
  readonly prefillRng: RngState;
  /** State of the replay buffer's own sampling stream. */
  readonly replayRng: RngState;
  /** Outputs of the latest update not logged yet, or null. */
  readonly lastUpdate: Readonly<Record<string, number>> | null;
  /** Transitions in the replay buffer. */
  readonly bufferSize: number;
  /** Seconds of training up to the checkpoint, over every segment of the run. */
  readonly wallTimeSec: number;
}

/** The signature of `env` (what a resumed run must run on). */
export function envSignature(env: Env): EnvSignature {
  const space = env.actionSpace;
  return {
    id: env.id,
    obsShape: [...env.observationSpace.shape],
    obsDtype: env.observationSpace.dtype,
    action: space.kind === "discrete" ? `discrete(${space.n})` : `box(${actionDim(space)})`,
  };
}

function describe(s: EnvSignature): string {
  return `${s.id} (observations [${s.obsShape.join(", ")}] ${s.obsDtype}, actions ${s.action})`;
}

/**
 * Throws a {@link CheckpointError} (`run_mismatch`) when the checkpoint's environment is not
 * `current` (another id, observation shape or dtype, or action space).
 */
export function checkEnvSignature(saved: EnvSignature, current: EnvSignature, dir: string): void {
  const same = saved.id === current.id && saved.obsDtype === current.obsDtype &&
    saved.action === current.action && saved.obsShape.length === current.obsShape.length &&
    saved.obsShape.every((d, i) => d === current.obsShape[i]);
  if (same) return;
  throw new CheckpointError(
    "run_mismatch",
    `${dir} was written by a run on ${describe(saved)}; this run is on ${describe(current)}: ` +
      `resume with the environment of the checkpoint ([data] env and its options) or start a ` +
      `new run`,
    dir,
  );
}

/** `extra.online` of a checkpoint (see the module docs). */
export function onlineStateToJson(s: OnlineLoopState): Record<string, unknown> {
  return {
    version: ONLINE_STATE_VERSION,
    env: {
      id: s.env.id,
      obs_shape: s.env.obsShape,
      obs_dtype: s.env.obsDtype,
      action: s.env.action,
    },
    episodes: s.episodes.map((e) => [e.envStep, e.return, e.length]),
    evaluations: s.evaluations.map((e) => ({
      env_step: e.envStep,
      updates: e.updates,
      returns: e.returns,
      lengths: e.lengths,
      mean_return: e.meanReturn,
    })),
    debt: s.debt,
    pretrained: s.pretrained,
    pad: s.pad,
    pending_eval: s.pendingEval,
    waiting_noted: s.waitingNoted,
    since_log: s.sinceLog,
    prefill_rng: s.prefillRng,
    replay_rng: s.replayRng,
    last_update: s.lastUpdate,
    buffer_size: s.bufferSize,
    wall_time_sec: s.wallTimeSec,
  };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isWord = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2 ** 32 - 1;

/**
 * Reads `extra.online` of the checkpoint at `path` (its `trainer_state.json`), checking every
 * field; a checkpoint without it (not written at the end of a training episode, or by an older
 * version) or with a bad field is a {@link CheckpointError} naming the field.
 */
export function onlineStateFromJson(
  extra: Readonly<Record<string, unknown>>,
  path: string,
): OnlineLoopState {
  const raw = extra.online;
  if (!isObject(raw)) {
    throw new CheckpointError(
      "not_resumable",
      `no "extra.online": the checkpoint holds no online loop state (it was not written at the ` +
        `end of a training episode, or by an offline run); resume from a periodic checkpoint of ` +
        `an online run`,
      path,
    );
  }
  const bad = (key: string, want: string): never => {
    throw new CheckpointError(
      "invalid_field",
      `"extra.online.${key}" must be ${want}, got ${JSON.stringify(raw[key])?.slice(0, 200)}`,
      path,
    );
  };
  const get = <T>(key: string, ok: (v: unknown) => boolean, want: string): T => {
    if (!ok(raw[key])) bad(key, want);
    return raw[key] as T;
  };
  if (raw.version !== ONLINE_STATE_VERSION) {
    throw new CheckpointError(
      "unsupported_version",
      `"extra.online.version" is ${JSON.stringify(raw.version)}; this version reads ` +
        `${ONLINE_STATE_VERSION}: resume with the version that wrote the checkpoint`,
      path,
    );
  }
  const env = get<Record<string, unknown>>("env", isObject, "an object");
  const shape = env.obs_shape;
  if (
    typeof env.id !== "string" || typeof env.obs_dtype !== "string" ||
    typeof env.action !== "string" || !Array.isArray(shape) || !shape.every(isCount)
  ) bad("env", "{id, obs_shape, obs_dtype, action}");
  const rng = (key: string): RngState => {
    const v = raw[key];
    if (!Array.isArray(v) || v.length !== 4 || !v.every(isWord) || v.every((w) => w === 0)) {
      bad(key, "4 unsigned 32-bit words, not all zero");
    }
    return v as unknown as RngState;
  };
  const numbers = (v: unknown) => Array.isArray(v) && v.every(isFiniteNumber);
  const counts = (v: unknown) => Array.isArray(v) && v.every(isCount);
  const episodes = get<unknown[]>("episodes", Array.isArray, "an array").map((e, i) => {
    if (
      !Array.isArray(e) || e.length !== 3 || !isCount(e[0]) || !isFiniteNumber(e[1]) ||
      !isCount(e[2])
    ) {
      bad("episodes", `[env_step, return, length] triples (entry ${i} is not)`);
    }
    const [envStep, ret, length] = e as [number, number, number];
    return { envStep, return: ret, length };
  });
  const evaluations = get<unknown[]>("evaluations", Array.isArray, "an array").map((e, i) => {
    const o = e as Record<string, unknown>;
    if (
      !isObject(e) || !isCount(o.env_step) || !isCount(o.updates) || !numbers(o.returns) ||
      !counts(o.lengths) || (o.returns as number[]).length !== (o.lengths as number[]).length ||
      !isFiniteNumber(o.mean_return)
    ) {
      bad(
        "evaluations",
        `{env_step, updates, returns, lengths, mean_return} objects (entry ${i} is not)`,
      );
    }
    return {
      envStep: o.env_step as number,
      updates: o.updates as number,
      returns: o.returns as number[],
      lengths: o.lengths as number[],
      meanReturn: o.mean_return as number,
    };
  });
  const last = raw.last_update;
  if (last !== null && !(isObject(last) && Object.values(last).every(isFiniteNumber))) {
    bad("last_update", "null or an object of finite numbers");
  }
  const flag = (key: string) => get<boolean>(key, (v) => typeof v === "boolean", "true or false");
  return {
    env: {
      id: env.id as string,
      obsShape: shape as number[],
      obsDtype: env.obs_dtype as string,
      action: env.action as string,
    },
    episodes,
    evaluations,
    debt: get<number>("debt", (v) => isFiniteNumber(v) && v >= 0, "a number >= 0"),
    pretrained: flag("pretrained"),
    pad: flag("pad"),
    pendingEval: flag("pending_eval"),
    waitingNoted: flag("waiting_noted"),
    sinceLog: get<number[]>("since_log", numbers, "an array of finite numbers"),
    prefillRng: rng("prefill_rng"),
    replayRng: rng("replay_rng"),
    lastUpdate: last as Record<string, number> | null,
    bufferSize: get<number>("buffer_size", isCount, "an integer >= 0"),
    wallTimeSec: get<number>("wall_time_sec", (v) => isFiniteNumber(v) && v >= 0, "a number >= 0"),
  };
}
