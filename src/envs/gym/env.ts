/**
 * Gymnasium environments as worldflux environments: {@link GymEnv} (the synchronous
 * {@link Env} interface of the built-ins) and {@link GymVectorEnv} (`numEnvs` copies in one
 * Python process, {@link VectorEnv} with same-step autoreset). `makeEnv("gym:<id>")` and
 * `makeVectorEnv("gym:<id>", { numEnvs })` build them; any id Gymnasium can `make` works,
 * including `"module:Id-v0"` (Gymnasium imports `module`, which registers `Id-v0`).
 *
 * What runs where (each on the cheaper side):
 * - In Python: action repeat (`frameSkip`: one round trip per agent step, not per frame), the
 *   Atari pre-processing, frame resizing and grayscale (a 64x64 frame crosses the pipe, not a
 *   210x160 one), the time limit (Gymnasium's own `TimeLimit`, or ALE's frame limit).
 * - In TypeScript: action checks and packing, `normalizeActions` / `continuousActions`.
 *
 * Atari (`ALE/...` ids) is pre-processed as DreamerV3 does by default (`atari: false` turns it
 * off and gives Gymnasium's v5 environment as is): ALE made with `frameskip=1` and
 * `repeat_action_probability=0.25` (v5's sticky actions, applied per emulator frame as in v5), the
 * action repeated `frameSkip` = 4 times here with the maximum of the last two frames (flicker),
 * resized to `size` x `size` = 64 (area average; OpenCV's INTER_AREA when installed), RGB or
 * `grayscale`, observations CHW uint8 `[3, 64, 64]` (`[1, 64, 64]` gray) as every worldflux pixel
 * observation. Losing a life does **not** end the episode (DreamerV3's `lives: unused`; Gymnasium's
 * default too): `terminalOnLifeLoss` makes it `terminated`. Episodes are truncated at ALE's
 * 108000-frame limit (27000 agent steps). `noopMax` adds up to N no-op frames after each reset
 * (default 0, as DreamerV3's Atari config). The action set is Gymnasium's default (the minimal
 * one, 4 actions for Breakout); pass `kwargs: { full_action_space: true }` for all 18 as DreamerV3.
 *
 * Observations: Box spaces arrive as float32 (any float/int dtype converted in Python), image
 * spaces (uint8 `[H, W, C]`) as CHW uint8; Dict/Tuple spaces need `flatten: true`
 * (Gymnasium's FlattenObservation). Discrete action spaces with a `start` are shifted to 0..n-1.
 * @module
 */

import {
  type Action,
  type Box,
  box,
  discrete,
  type Env,
  type Info,
  type Observation,
  type ResetOptions,
  type ResetResult,
  shapeSize,
  type Space,
  type StepResult,
  type VectorActions,
  type VectorEnv,
  type VectorResetResult,
  type VectorStepResult,
} from "../types.ts";
import { packActions } from "../vector.ts";
import {
  DEFAULT_GYM_MAKE_TIMEOUT_MS,
  DEFAULT_GYM_TIMEOUT_MS,
  GymBridge,
  type GymHello,
} from "./bridge.ts";
import { GymBridgeError } from "./errors.ts";
import type { Frame, ShapedArray } from "./wire.ts";

/** Options of a Gymnasium environment (`makeEnv("gym:...", { gym: {...} })` passes them on). */
export interface GymEnvOptions {
  /** Interpreter (default: `WORLDFLUX_PYTHON`, else `python3`). */
  readonly python?: string;
  /** Directories prepended to the host's `sys.path` (modules that register custom environments). */
  readonly pythonPath?: readonly string[];
  /** Keyword arguments of `gymnasium.make` (JSON values), e.g. `{ reset_noise_scale: 0 }`. */
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** Action repeat in Python, rewards summed (default 4 for Atari, else 1). */
  readonly frameSkip?: number;
  /** Side of pixel observations (Atari / `pixels`; default 64); also resizes image spaces. */
  readonly size?: number;
  /** Grayscale pixel observations (`[1, size, size]`; default false). */
  readonly grayscale?: boolean;
  /** Observations are the rendered frame (Gymnasium `render_mode="rgb_array"`), CHW uint8. */
  readonly pixels?: boolean;
  /** Make the environment with `render_mode="rgb_array"` so `render()` works (default false). */
  readonly render?: boolean;
  /** Side of `render()` frames (default `size`, else 64). */
  readonly renderSize?: number;
  /** Time limit in base steps (Gymnasium's `max_episode_steps`; ALE: emulator frames). */
  readonly maxEpisodeSteps?: number;
  /** Atari pre-processing for `ALE/` ids (default true; see the module documentation). */
  readonly atari?: boolean;
  /** Atari: a lost life ends the episode as `terminated` (default false). */
  readonly terminalOnLifeLoss?: boolean;
  /** Atari: up to this many no-op frames after each reset (default 0). */
  readonly noopMax?: number;
  /** Flatten Dict/Tuple observation spaces (Gymnasium's FlattenObservation). */
  readonly flatten?: boolean;
  /** Timeout of every reply after `make`, in ms (default {@link DEFAULT_GYM_TIMEOUT_MS}). */
  readonly timeoutMs?: number;
  /** Timeout of start-up and `make`, in ms (default {@link DEFAULT_GYM_MAKE_TIMEOUT_MS}). */
  readonly makeTimeoutMs?: number;
  /** Echo the host's stderr (warnings, prints of environments; default false: kept for errors). */
  readonly forwardStderr?: boolean;
}

/** CPU the host process spent so far (its serving thread), from the `stats` request. */
export interface GymHostStats {
  /** Requests served. */
  readonly requests: number;
  /** CPU seconds in the protocol: reading and parsing requests, encoding and writing replies. */
  readonly cpuProtocol: number;
  /** CPU seconds in the requests' work: the environments and their pre-processing. */
  readonly cpuWork: number;
}

function hostStats(bridge: GymBridge, timeoutMs: number): GymHostStats {
  const h = bridge.call("stats", {}, [], timeoutMs).header;
  return {
    requests: Number(h.requests),
    cpuProtocol: Number(h.cpu_protocol),
    cpuWork: Number(h.cpu_work),
  };
}

/** What `make` told about the environment. */
export interface GymEnvSpec {
  /** Gymnasium's id (from its spec). */
  readonly gymId: string;
  /** Gymnasium's `reward_threshold`, if any. */
  readonly rewardThreshold: number | null;
  /** Whether the Atari pre-processing runs. */
  readonly atari: boolean;
  /** Action repeat in Python. */
  readonly frameSkip: number;
  /** How frames are resized (null: no frames resized). */
  readonly resize: string | null;
  /** Gymnasium's render mode. */
  readonly renderMode: string | null;
  /**
   * State access: `mujoco` (qpos then qvel, `nq + nv` values) or `state` (`env.unwrapped.state`,
   * classic control; an environment without one raises a `GymUnsupportedError` on use).
   */
  readonly state: { readonly kind: "mujoco" | "state"; readonly nq?: number; readonly nv?: number };
  /** The keyword arguments `gymnasium.make` got. */
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** The host's handshake (interpreter and package versions). */
  readonly host: GymHello;
}

interface SpaceReply {
  readonly kind: "box" | "discrete";
  readonly shape?: number[];
  readonly dtype?: "float32" | "uint8";
  readonly n?: number;
}

/** A started host holding `numEnvs` made environments. */
interface Made {
  readonly bridge: GymBridge;
  readonly id: string;
  readonly observationSpace: Box;
  readonly actionSpace: Space;
  readonly maxEpisodeSteps: number;
  readonly spec: GymEnvSpec;
  readonly timeoutMs: number;
}

function checkInt(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
    throw new RangeError(`gym: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

function make(id: string, options: GymEnvOptions, numEnvs: number, vector: boolean): Made {
  if (typeof id !== "string" || id.trim() === "") {
    throw new RangeError(
      `gym: the environment id must be a non-empty string, got ${JSON.stringify(id)}`,
    );
  }
  checkInt("numEnvs", numEnvs, 1);
  checkInt("frameSkip", options.frameSkip, 1);
  checkInt("size", options.size, 1);
  checkInt("renderSize", options.renderSize, 8);
  checkInt("noopMax", options.noopMax, 0);
  if (options.maxEpisodeSteps !== undefined && options.maxEpisodeSteps !== Infinity) {
    checkInt("maxEpisodeSteps", options.maxEpisodeSteps, 1);
  }
  const bridge = GymBridge.start({
    python: options.python,
    startTimeoutMs: options.makeTimeoutMs,
    forwardStderr: options.forwardStderr,
  });
  bridge.envId = id;
  let frame: Frame;
  try {
    frame = bridge.call(
      "make",
      {
        id,
        kwargs: options.kwargs ?? {},
        num_envs: numEnvs,
        vector,
        python_path: options.pythonPath ?? [],
        options: {
          atari: options.atari ?? true,
          repeat: options.frameSkip ?? null,
          size: options.size ?? null,
          gray: options.grayscale ?? false,
          pixels: options.pixels ?? false,
          render: options.render ?? false,
          max_episode_steps: options.maxEpisodeSteps === Infinity
            ? null
            : options.maxEpisodeSteps ?? null,
          life_loss: options.terminalOnLifeLoss ?? false,
          noop_max: options.noopMax ?? 0,
          flatten: options.flatten ?? false,
        },
      },
      [],
      options.makeTimeoutMs ?? DEFAULT_GYM_MAKE_TIMEOUT_MS,
    );
  } catch (e) {
    bridge.close();
    throw e;
  }
  const h = frame.header;
  const a = frame.arrays;
  const os = h.observation_space as SpaceReply;
  const observationSpace = box(
    a.obs_low.data as Float32Array,
    a.obs_high.data as Float32Array,
    os.shape!,
    os.dtype,
  );
  const as = h.action_space as SpaceReply;
  const actionSpace: Space = as.kind === "discrete"
    ? discrete(as.n!)
    : box(a.act_low.data as Float32Array, a.act_high.data as Float32Array, as.shape!);
  const limit = h.max_episode_steps as number | null;
  const gymId = String(h.id);
  bridge.envId = `gym:${gymId}`;
  return {
    bridge,
    id: `gym:${gymId}`,
    observationSpace,
    actionSpace,
    maxEpisodeSteps: limit ?? Infinity,
    timeoutMs: options.timeoutMs ?? DEFAULT_GYM_TIMEOUT_MS,
    spec: {
      gymId,
      rewardThreshold: (h.reward_threshold as number | null) ?? null,
      atari: Boolean(h.atari),
      frameSkip: Number(h.repeat),
      resize: (h.resize as string | null) ?? null,
      renderMode: (h.render_mode as string | null) ?? null,
      state: h.state as GymEnvSpec["state"],
      kwargs: (h.kwargs as Record<string, unknown>) ?? {},
      host: bridge.hello,
    },
  };
}

function obsOf(m: Made, arr: ShapedArray): Observation {
  const d = arr.data;
  if (m.observationSpace.dtype === "uint8") {
    return d instanceof Uint8Array ? d : Uint8Array.from(d as ArrayLike<number>);
  }
  return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
}

function stateArray(m: Made, state: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(state);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) throw new RangeError(`${m.id}: state[${i}] is ${out[i]}`);
  }
  return out;
}

/**
 * One Gymnasium environment behind the synchronous {@link Env} interface (made with
 * `makeEnv("gym:<id>")`). Episodes follow Gymnasium: `terminated` vs `truncated` as the
 * environment reports them, an unseeded reset continues the random stream. `reset({ state })`
 * and {@link GymEnv.setState} set the physical state after the reset (`env.unwrapped.state` for
 * classic control, qpos then qvel for MuJoCo via `env.unwrapped.set_state`), for parity tests.
 *
 * @example
 * ```ts ignore
 * import { makeEnv } from "@worldflux/worldflux";
 * const env = await makeEnv("gym:CartPole-v1");
 * const { obs } = env.reset({ seed: 0 });
 * const r = env.step(1);
 * env.close(); // ends the Python process
 * ```
 */
export class GymEnv implements Env<Observation> {
  /** `gym:` + Gymnasium's id. */
  readonly id: string;
  /** Observation space (after pre-processing). */
  readonly observationSpace: Box;
  /** Action space (discrete actions are 0..n-1). */
  readonly actionSpace: Space;
  /** Steps after which the episode is truncated (agent steps), `Infinity` if none. */
  readonly maxEpisodeSteps: number;
  /** Side of `render()` frames. */
  readonly renderSize: number;
  /** What `make` told about the environment. */
  readonly spec: GymEnvSpec;
  private readonly made: Made;
  private started = false;
  private done = false;
  private closed = false;

  private constructor(made: Made, renderSize: number) {
    this.made = made;
    this.id = made.id;
    this.observationSpace = made.observationSpace;
    this.actionSpace = made.actionSpace;
    this.maxEpisodeSteps = made.maxEpisodeSteps;
    this.spec = made.spec;
    this.renderSize = renderSize;
  }

  /** Starts a host and makes the environment `id` (Gymnasium's id, without `gym:`). */
  static create(id: string, options: GymEnvOptions = {}): GymEnv {
    const made = make(id, options, 1, false);
    return new GymEnv(made, options.renderSize ?? options.size ?? 64);
  }

  /** The host's process id. */
  get pid(): number {
    return this.made.bridge.pid;
  }

  /** CPU the host spent so far in the protocol and in the environment (the bridge's cost). */
  hostStats(): GymHostStats {
    return hostStats(this.made.bridge, this.made.timeoutMs);
  }

  /** Sends `op` to the host (after checking the environment is open). */
  private call(
    op: string,
    fields: Record<string, unknown>,
    arrays: Parameters<GymBridge["call"]>[2] = [],
  ): Frame {
    if (this.closed) {
      throw new GymBridgeError(
        "gym_closed",
        this.made.bridge.python,
        `${this.id}: ${op}() after close()`,
      );
    }
    return this.made.bridge.call(op, { index: 0, ...fields }, arrays, this.made.timeoutMs);
  }

  /** Starts an episode (seeded with `seed`; from `state` when given). */
  reset(options: ResetOptions = {}): ResetResult<Observation> {
    const arrays: [string, Float64Array, number[]][] = [];
    if (options.state !== undefined) {
      const s = stateArray(this.made, options.state);
      arrays.push(["state", s, [1, s.length]]);
    }
    if (options.seed !== undefined && !Number.isInteger(options.seed)) {
      throw new RangeError(`${this.id}: seed must be an integer, got ${options.seed}`);
    }
    const f = this.call(
      "reset",
      { seeds: options.seed === undefined ? null : [options.seed] },
      arrays,
    );
    this.started = true;
    this.done = false;
    const infos = f.header.infos as Info[];
    return { obs: obsOf(this.made, f.arrays.obs), info: infos[0] ?? {} };
  }

  /** Applies `action` (`frameSkip` times in Python). */
  step(action: Action): StepResult<Observation> {
    if (!this.started) throw new Error(`${this.id}: step() before reset()`);
    if (this.done) throw new Error(`${this.id}: step() on a finished episode; call reset()`);
    const packed = packActions(this.actionSpace, [action], 1);
    const shape = this.actionSpace.kind === "box" ? [1, ...this.actionSpace.shape] : [1];
    const f = this.call("step", {}, [["actions", packed, shape]]);
    const terminated = (f.arrays.terminated.data as Uint8Array)[0] === 1;
    const truncated = (f.arrays.truncated.data as Uint8Array)[0] === 1;
    this.done = terminated || truncated;
    return {
      obs: obsOf(this.made, f.arrays.obs),
      reward: (f.arrays.reward.data as Float64Array)[0],
      terminated,
      truncated,
      info: (f.header.infos as Info[])[0] ?? {},
    };
  }

  /**
   * RGB frame of the current state, HWC `[renderSize, renderSize, 3]`: the screen for Atari,
   * Gymnasium's `render()` otherwise (needs `render: true` or `pixels: true`).
   */
  render(): Uint8Array {
    const f = this.call("render", { size: this.renderSize });
    return f.arrays.frame.data as Uint8Array;
  }

  /**
   * The frame at its own size, HWC uint8 RGB (`render()` resizes it to `renderSize`): the full
   * 210x160 screen for Atari.
   */
  renderNative(): { readonly data: Uint8Array; readonly height: number; readonly width: number } {
    const f = this.call("render", { size: null }).arrays.frame;
    return { data: f.data as Uint8Array, height: f.shape[0], width: f.shape[1] };
  }

  /** The physical state (see the class documentation), as float64. */
  getState(): Float64Array {
    return this.call("get_state", {}).arrays.state.data as Float64Array;
  }

  /** Sets the physical state and returns the observation of it. */
  setState(state: ArrayLike<number>): Observation {
    const s = stateArray(this.made, state);
    const f = this.call("set_state", {}, [["state", s, [s.length]]]);
    this.done = false;
    return obsOf(this.made, f.arrays.obs);
  }

  /** Closes the environment and reaps the Python process. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.made.bridge.close();
  }
}

/**
 * `numEnvs` copies of a Gymnasium environment in one Python process, stepped with one round trip
 * per vector step (see {@link VectorStepResult} for the same-step autoreset). Made by
 * `makeVectorEnv("gym:<id>", { numEnvs })`.
 */
export class GymVectorEnv implements VectorEnv<Observation> {
  /** `gym:` + Gymnasium's id. */
  readonly id: string;
  /** Number of environments. */
  readonly numEnvs: number;
  /** Space of one observation. */
  readonly observationSpace: Box;
  /** Space of one action. */
  readonly actionSpace: Space;
  /** Steps after which an episode is truncated. */
  readonly maxEpisodeSteps: number;
  /** What `make` told about the environment. */
  readonly spec: GymEnvSpec;
  private readonly made: Made;
  private readonly obsSize: number;
  private started = false;
  private closed = false;

  private constructor(made: Made, numEnvs: number) {
    this.made = made;
    this.id = made.id;
    this.numEnvs = numEnvs;
    this.observationSpace = made.observationSpace;
    this.actionSpace = made.actionSpace;
    this.maxEpisodeSteps = made.maxEpisodeSteps;
    this.spec = made.spec;
    this.obsSize = shapeSize(made.observationSpace.shape);
  }

  /** Starts a host with `numEnvs` copies of `id` (Gymnasium's id, without `gym:`). */
  static create(id: string, numEnvs: number, options: GymEnvOptions = {}): GymVectorEnv {
    return new GymVectorEnv(make(id, options, numEnvs, true), numEnvs);
  }

  /** The host's process id. */
  get pid(): number {
    return this.made.bridge.pid;
  }

  /** CPU the host spent so far in the protocol and in the environment (the bridge's cost). */
  hostStats(): GymHostStats {
    return hostStats(this.made.bridge, this.made.timeoutMs);
  }

  /** Sends `op` to the host (after checking the environment is open). */
  private call(
    op: string,
    fields: Record<string, unknown>,
    arrays: Parameters<GymBridge["call"]>[2] = [],
  ): Frame {
    if (this.closed) {
      throw new GymBridgeError(
        "gym_closed",
        this.made.bridge.python,
        `${this.id}: ${op}() after close()`,
      );
    }
    return this.made.bridge.call(op, fields, arrays, this.made.timeoutMs);
  }

  /** Resets every environment (environment i seeded with `seed + i` when seeded). */
  reset(options: { readonly seed?: number } = {}): VectorResetResult<Observation> {
    const seed = options.seed;
    if (seed !== undefined && !Number.isInteger(seed)) {
      throw new RangeError(`${this.id}: seed must be an integer, got ${seed}`);
    }
    const seeds = seed === undefined
      ? null
      : Array.from({ length: this.numEnvs }, (_, i) => seed + i);
    const f = this.call("reset", { seeds });
    this.started = true;
    return { obs: obsOf(this.made, f.arrays.obs), infos: f.header.infos as Info[] };
  }

  /** Steps every environment (see {@link VectorStepResult}). */
  step(actions: VectorActions): VectorStepResult<Observation> {
    if (!this.started) throw new Error(`${this.id}: step() before reset()`);
    const n = this.numEnvs;
    const packed = packActions(this.actionSpace, actions, n);
    const shape = this.actionSpace.kind === "box" ? [n, ...this.actionSpace.shape] : [n];
    const f = this.call("step", {}, [["actions", packed, shape]]);
    const finalObs: (Observation | null)[] = new Array(n).fill(null);
    const finalInfos: (Info | null)[] = new Array(n).fill(null);
    const ended = (f.header.final as number[] | undefined) ?? [];
    if (ended.length) {
      const all = obsOf(this.made, f.arrays.final_obs);
      const infos = f.header.final_infos as Info[];
      ended.forEach((i, k) => {
        finalObs[i] = all.subarray(k * this.obsSize, (k + 1) * this.obsSize);
        finalInfos[i] = infos[k];
      });
    }
    return {
      obs: obsOf(this.made, f.arrays.obs),
      rewards: f.arrays.reward.data as Float64Array,
      terminated: f.arrays.terminated.data as Uint8Array,
      truncated: f.arrays.truncated.data as Uint8Array,
      finalObs,
      infos: f.header.infos as Info[],
      finalInfos,
    };
  }

  /** Closes the environments and reaps the Python process. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.made.bridge.close();
  }
}
