/**
 * Policies and data collection: {@link RandomPolicy}, {@link rollout} (a fixed number of steps,
 * step-aligned arrays for a replay buffer; {@link rolloutVector} for a {@link VectorEnv}),
 * {@link collectEpisodes} (whole episodes with T+1 observations) and {@link evaluatePolicy}
 * (returns over episodes).
 *
 * Layout of {@link RolloutData} (all arrays flat, row-major, T = number of steps):
 *
 * | field        | type                        | shape                 | meaning                                      |
 * | ------------ | --------------------------- | --------------------- | -------------------------------------------- |
 * | `obs`        | Float32Array \| Uint8Array  | [T, ...obsShape]      | observation on which `actions[t]` was chosen |
 * | `actions`    | Float32Array                | [T, actionDim]        | Box: the action sent; Discrete: one-hot      |
 * | `rewards`    | Float32Array                | [T]                   | reward of step t                             |
 * | `dones`      | Float32Array (0/1)          | [T]                   | step t ended its episode (terminated or truncated) |
 * | `terminated` | Float32Array (0/1)          | [T]                   | step t reached a terminal state              |
 * | `truncated`  | Float32Array (0/1)          | [T]                   | step t hit the time limit                    |
 * | `firsts`     | Float32Array (0/1)          | [T]                   | `obs[t]` is the first of an episode (after a reset) |
 * | `finalObs`   | Float32Array \| Uint8Array  | [...obsShape]         | observation after the last step              |
 *
 * After `dones[t] = 1` the environment is reset, so `obs[t + 1]` starts a new episode
 * (`firsts[t + 1] = 1`). Every array has the same leading length T, as in the reference's
 * `.npz` (`obs`, `actions`, `rewards`, `dones`); `ReplayBuffer.addEpisode` takes the result as
 * is. {@link Episode} instead keeps T+1 observations (the final one included), for learners
 * that need the last next-observation; `addEpisode` takes it too (dropping the last row).
 * @module
 */

import { Rng } from "../rng.ts";
import {
  type Action,
  actionDim,
  discreteIndex,
  type Env,
  type Info,
  type Observation,
  sample,
  shapeSize,
  type Space,
  type VectorEnv,
} from "./types.ts";

/** What a policy is told besides the observation. */
export interface PolicyContext {
  /** Step index within the current episode (0 right after a reset). */
  readonly episodeStep: number;
  /** Info of the last reset/step. */
  readonly info: Info;
}

/** Chooses actions from observations. */
export interface Policy {
  /** Action for `obs`. */
  act(obs: Observation, context: PolicyContext): Action;
  /** Called before each episode's first action. */
  reset?(): void;
}

/** A policy, or a plain function of the observation. */
export type PolicyLike = Policy | ((obs: Observation, context: PolicyContext) => Action);

function asPolicy(p: PolicyLike): Policy {
  return typeof p === "function" ? { act: p } : p;
}

/**
 * Uniformly random actions from an action space, with its own seeded RNG (reproducible
 * independently of the environment's seed): discrete indices, or box vectors.
 */
export class RandomPolicy implements Policy {
  /** The action space sampled from. */
  readonly space: Space;
  /** The policy's own RNG. */
  readonly rng: Rng;

  /** Random actions from `space`, seeded with `seed` (entropy when absent). */
  constructor(space: Space, seed?: number) {
    this.space = space;
    this.rng = seed === undefined ? Rng.fromEntropy() : new Rng(seed);
  }

  /** A uniformly random action (index or Float32Array). */
  act(): number | Float32Array {
    const a = sample(this.space, this.rng);
    return typeof a === "number" ? a : Float32Array.from(a);
  }
}

/** Step-aligned arrays from {@link rollout}; see the module documentation for the layout. */
export interface RolloutData<O extends Observation = Observation> {
  /** Number of steps T. */
  readonly steps: number;
  /** Shape of one observation. */
  readonly obsShape: readonly number[];
  /** Element type of `obs`. */
  readonly obsDtype: "float32" | "uint8";
  /** Width of an action row (Discrete: n). */
  readonly actionDim: number;
  /** `[T, ...obsShape]` observations (see the module documentation). */
  readonly obs: O;
  /** `[T, actionDim]` actions (Discrete: one-hot). */
  readonly actions: Float32Array;
  /** `[T]` rewards. */
  readonly rewards: Float32Array;
  /** `[T]` 1 where the step ended its episode. */
  readonly dones: Float32Array;
  /** `[T]` 1 where the step reached a terminal state. */
  readonly terminated: Float32Array;
  /** `[T]` 1 where the step hit the time limit. */
  readonly truncated: Float32Array;
  /** `[T]` 1 where `obs[t]` follows a reset. */
  readonly firsts: Float32Array;
  /** Observation after the last step. */
  readonly finalObs: O;
  /** Returns of the episodes that ended within the rollout, in order. */
  readonly episodeReturns: number[];
  /** Lengths (in steps) of the episodes that ended within the rollout. */
  readonly episodeLengths: number[];
}

/** One whole (or cut) episode; T = number of steps. */
export interface Episode<O extends Observation = Observation> {
  /** Number of steps T. */
  readonly length: number;
  /** Shape of one observation. */
  readonly obsShape: readonly number[];
  /** Width of an action row (Discrete: n). */
  readonly actionDim: number;
  /** `[T + 1, ...obsShape]`: the reset observation, then each step's observation. */
  readonly obs: O;
  /** `[T, actionDim]` (Discrete: one-hot). */
  readonly actions: Float32Array;
  /** `[T]`. */
  readonly rewards: Float32Array;
  /** `[T]`: 1 at the last step when the episode ended (terminated or truncated), else 0. */
  readonly dones: Float32Array;
  /** `[T]`: 1 at the last step when it reached a terminal state, else 0. */
  readonly terminated: Float32Array;
  /** `[T]`: 1 at the last step when the time limit cut the episode, else 0. */
  readonly truncated: Float32Array;
  /**
   * How the episode ended: a terminal state, the time limit, or the `maxSteps` cap of
   * {@link runEpisode} (then no flag is set).
   */
  readonly end: "terminated" | "truncated" | "cap";
  /** Sum of the rewards. */
  readonly return: number;
}

/** Writes `action` as a row of `actionDim` floats (one-hot for discrete spaces). */
export function encodeAction(space: Space, action: Action, out: Float32Array, offset = 0): void {
  if (space.kind === "discrete") {
    out.fill(0, offset, offset + space.n);
    out[offset + discreteIndex(action, space.n)] = 1;
    return;
  }
  const n = shapeSize(space.shape);
  if (typeof action === "number") {
    if (n !== 1) throw new RangeError(`action needs ${n} values, got a number`);
    out[offset] = action;
    return;
  }
  if (action.length !== n) throw new RangeError(`action needs ${n} values, got ${action.length}`);
  for (let i = 0; i < n; i++) out[offset + i] = action[i];
}

function allocObs(env: Env, rows: number): Observation {
  const n = rows * shapeSize(env.observationSpace.shape);
  return env.observationSpace.dtype === "uint8" ? new Uint8Array(n) : new Float32Array(n);
}

/**
 * Runs `policy` in `env` for `steps` steps, resetting with `seed` first and automatically
 * (unseeded, continuing the env's random stream) after every episode end. Returns step-aligned
 * arrays (see the module documentation).
 */
export function rollout<O extends Observation = Observation>(
  env: Env<O>,
  policyLike: PolicyLike,
  steps: number,
  seed?: number,
): RolloutData<O> {
  if (!(Number.isInteger(steps) && steps >= 1)) {
    throw new RangeError(`rollout: steps must be an integer >= 1, got ${steps}`);
  }
  const policy = asPolicy(policyLike);
  const space = env.actionSpace;
  const aDim = actionDim(space);
  const oSize = shapeSize(env.observationSpace.shape);
  const obs = allocObs(env, steps) as O;
  const actions = new Float32Array(steps * aDim);
  const rewards = new Float32Array(steps);
  const dones = new Float32Array(steps);
  const terminated = new Float32Array(steps);
  const truncated = new Float32Array(steps);
  const firsts = new Float32Array(steps);
  const episodeReturns: number[] = [];
  const episodeLengths: number[] = [];

  let r = env.reset(seed === undefined ? {} : { seed });
  let cur: O = r.obs;
  let info: Info = r.info;
  let epStep = 0;
  let epReturn = 0;
  policy.reset?.();
  for (let t = 0; t < steps; t++) {
    if (epStep === 0) firsts[t] = 1;
    obs.set(cur, t * oSize);
    const action = policy.act(cur, { episodeStep: epStep, info });
    encodeAction(space, action, actions, t * aDim);
    const s = env.step(action);
    rewards[t] = s.reward;
    terminated[t] = s.terminated ? 1 : 0;
    truncated[t] = s.truncated ? 1 : 0;
    epReturn += s.reward;
    epStep++;
    cur = s.obs;
    info = s.info;
    if (s.terminated || s.truncated) {
      dones[t] = 1;
      episodeReturns.push(epReturn);
      episodeLengths.push(epStep);
      epReturn = 0;
      epStep = 0;
      if (t + 1 < steps) {
        r = env.reset();
        cur = r.obs;
        info = r.info;
        policy.reset?.();
      }
    }
  }
  return {
    steps,
    obsShape: [...env.observationSpace.shape],
    obsDtype: env.observationSpace.dtype,
    actionDim: aDim,
    obs,
    actions,
    rewards,
    dones,
    terminated,
    truncated,
    firsts,
    finalObs: cur,
    episodeReturns,
    episodeLengths,
  };
}

/**
 * {@link rollout} over a {@link VectorEnv}: `steps` vector steps (`steps * numEnvs` environment
 * steps, one round trip each for a Gymnasium vector), resetting with `seed` first (environment i
 * with `seed + i`) and automatically after every episode end (the vector's same-step autoreset).
 * Returns one {@link RolloutData} per environment, each in `rollout`'s layout, ready for
 * `ReplayBuffer.addEpisode`. `policy` acts on one environment's observation at a time; pass one
 * policy per environment when it keeps per-episode state (its `reset` is called per episode).
 *
 * @example
 * ```ts
 * import { makeVectorEnv, RandomPolicy, rolloutVector } from "./src/envs/mod.ts";
 * const venv = await makeVectorEnv("CartPole-v1", { numEnvs: 4 });
 * const data = rolloutVector(venv, new RandomPolicy(venv.actionSpace, 0), 100, 0);
 * console.log(data.length, data[0].steps); // 4 100
 * venv.close();
 * ```
 */
export function rolloutVector<O extends Observation = Observation>(
  venv: VectorEnv<O>,
  policyLike: PolicyLike | readonly PolicyLike[],
  steps: number,
  seed?: number,
): RolloutData<O>[] {
  if (!(Number.isInteger(steps) && steps >= 1)) {
    throw new RangeError(`rolloutVector: steps must be an integer >= 1, got ${steps}`);
  }
  const n = venv.numEnvs;
  const policies = Array.isArray(policyLike)
    ? (policyLike as readonly PolicyLike[]).map(asPolicy)
    : Array.from({ length: n }, () => asPolicy(policyLike as PolicyLike));
  if (policies.length !== n) {
    throw new RangeError(`rolloutVector: ${policies.length} policies for ${n} environments`);
  }
  const space = venv.actionSpace;
  const aDim = actionDim(space);
  const oSize = shapeSize(venv.observationSpace.shape);
  const uint8 = venv.observationSpace.dtype === "uint8";
  const alloc = (rows: number) =>
    (uint8 ? new Uint8Array(rows * oSize) : new Float32Array(rows * oSize)) as O;
  const out = Array.from({ length: n }, () => ({
    obs: alloc(steps),
    actions: new Float32Array(steps * aDim),
    rewards: new Float32Array(steps),
    dones: new Float32Array(steps),
    terminated: new Float32Array(steps),
    truncated: new Float32Array(steps),
    firsts: new Float32Array(steps),
    episodeReturns: [] as number[],
    episodeLengths: [] as number[],
  }));
  const r = venv.reset(seed === undefined ? {} : { seed });
  let cur = r.obs;
  let infos = r.infos;
  const epStep = new Array<number>(n).fill(0);
  const epReturn = new Array<number>(n).fill(0);
  for (const p of new Set(policies)) p.reset?.();
  const actions: Action[] = new Array(n);
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < n; i++) {
      const row = cur.subarray(i * oSize, (i + 1) * oSize) as O;
      const o = out[i];
      if (epStep[i] === 0) o.firsts[t] = 1;
      o.obs.set(row, t * oSize);
      actions[i] = policies[i].act(row, { episodeStep: epStep[i], info: infos[i] ?? {} });
      encodeAction(space, actions[i], o.actions, t * aDim);
    }
    const s = venv.step(actions);
    for (let i = 0; i < n; i++) {
      const o = out[i];
      o.rewards[t] = s.rewards[i];
      o.terminated[t] = s.terminated[i];
      o.truncated[t] = s.truncated[i];
      epReturn[i] += s.rewards[i];
      epStep[i]++;
      if (s.terminated[i] || s.truncated[i]) {
        o.dones[t] = 1;
        o.episodeReturns.push(epReturn[i]);
        o.episodeLengths.push(epStep[i]);
        epReturn[i] = 0;
        epStep[i] = 0;
        policies[i].reset?.();
      }
    }
    cur = s.obs;
    infos = s.infos;
  }
  return out.map((o, i) => ({
    steps,
    obsShape: [...venv.observationSpace.shape],
    obsDtype: venv.observationSpace.dtype,
    actionDim: aDim,
    ...o,
    finalObs: cur.slice(i * oSize, (i + 1) * oSize) as O,
  }));
}

/** Options of {@link collectEpisodes} and {@link evaluatePolicy}. */
export interface EpisodeOptions {
  /** Seed of the first reset (later resets continue the env's random stream). */
  readonly seed?: number;
  /** Safety cap on the steps of one episode when the env has no time limit (default 100000). */
  readonly maxSteps?: number;
}

/** Runs one episode from a reset (seeded when `seed` is given). */
export function runEpisode<O extends Observation = Observation>(
  env: Env<O>,
  policyLike: PolicyLike,
  options: EpisodeOptions = {},
): Episode<O> {
  const policy = asPolicy(policyLike);
  const space = env.actionSpace;
  const aDim = actionDim(space);
  const oSize = shapeSize(env.observationSpace.shape);
  const cap = Math.min(env.maxEpisodeSteps, options.maxSteps ?? 100_000);
  const r = env.reset(options.seed === undefined ? {} : { seed: options.seed });
  policy.reset?.();
  const obsRows: O[] = [r.obs];
  const actionRows: Float32Array[] = [];
  const rewards: number[] = [];
  let info = r.info;
  let cur = r.obs;
  let terminated = false;
  let truncated = false;
  while (!terminated && !truncated && rewards.length < cap) {
    const action = policy.act(cur, { episodeStep: rewards.length, info });
    const row = new Float32Array(aDim);
    encodeAction(space, action, row);
    const s = env.step(action);
    actionRows.push(row);
    rewards.push(s.reward);
    obsRows.push(s.obs);
    terminated = s.terminated;
    truncated = s.truncated;
    cur = s.obs;
    info = s.info;
  }
  const T = rewards.length;
  const obs = allocObs(env, T + 1) as O;
  obsRows.forEach((o, i) => obs.set(o, i * oSize));
  const actions = new Float32Array(T * aDim);
  actionRows.forEach((a, i) => actions.set(a, i * aDim));
  const dones = new Float32Array(T);
  const term = new Float32Array(T);
  const trunc = new Float32Array(T);
  if (T > 0) {
    dones[T - 1] = terminated || truncated ? 1 : 0;
    term[T - 1] = terminated ? 1 : 0;
    trunc[T - 1] = truncated ? 1 : 0;
  }
  return {
    length: T,
    obsShape: [...env.observationSpace.shape],
    actionDim: aDim,
    obs,
    actions,
    rewards: Float32Array.from(rewards),
    dones,
    terminated: term,
    truncated: trunc,
    end: terminated ? "terminated" : truncated ? "truncated" : "cap",
    return: rewards.reduce((a, b) => a + b, 0),
  };
}

/**
 * Collects `episodes` whole episodes (T+1 observations each). The first reset uses `seed`; the
 * following ones continue the environment's random stream, so the set is reproducible.
 */
export function collectEpisodes<O extends Observation = Observation>(
  env: Env<O>,
  policy: PolicyLike,
  episodes: number,
  options: EpisodeOptions = {},
): Episode<O>[] {
  const out: Episode<O>[] = [];
  for (let i = 0; i < episodes; i++) {
    out.push(runEpisode(env, policy, { ...options, seed: i === 0 ? options.seed : undefined }));
  }
  return out;
}

/** Summary of {@link evaluatePolicy}. */
export interface EvaluationResult {
  /** Return of each episode. */
  readonly returns: number[];
  /** Length of each episode. */
  readonly lengths: number[];
  /** Mean return. */
  readonly mean: number;
  /** Standard deviation of the returns (population). */
  readonly std: number;
  /** Lowest return. */
  readonly min: number;
  /** Highest return. */
  readonly max: number;
}

/** Runs `episodes` episodes and summarizes their returns (no data kept). */
export function evaluatePolicy(
  env: Env,
  policy: PolicyLike,
  episodes: number,
  options: EpisodeOptions = {},
): EvaluationResult {
  const p = asPolicy(policy);
  const returns: number[] = [];
  const lengths: number[] = [];
  const cap = Math.min(env.maxEpisodeSteps, options.maxSteps ?? 100_000);
  for (let i = 0; i < episodes; i++) {
    const r = env.reset(i === 0 && options.seed !== undefined ? { seed: options.seed } : {});
    p.reset?.();
    let total = 0;
    let n = 0;
    let done = false;
    let cur = r.obs;
    let info = r.info;
    while (!done && n < cap) {
      const s = env.step(p.act(cur, { episodeStep: n, info }));
      total += s.reward;
      n++;
      done = s.terminated || s.truncated;
      cur = s.obs;
      info = s.info;
    }
    returns.push(total);
    lengths.push(n);
  }
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  return {
    returns,
    lengths,
    mean,
    std,
    min: Math.min(...returns),
    max: Math.max(...returns),
  };
}
