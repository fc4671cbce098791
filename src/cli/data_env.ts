/**
 * The environment of an online data source (`[data] source = "env"` or `"gym"`): the exact
 * `makeEnv(id, options)` arguments (recorded in the run manifest as `make_env`, so `worldflux
 * verify` rebuilds the same environment), what the manifest says about it, and which of those
 * arguments `verify` may take from a manifest (data, never code: see {@link verifyEnvArgs}).
 * @module
 */

import { GymEnv } from "../envs/gym/env.ts";
import type { MakeEnvOptions } from "../envs/registry.ts";
import type { Env } from "../envs/types.ts";
import { Wrapper } from "../envs/wrappers.ts";
import { ConfigError } from "../errors.ts";
import type { OnlineDataConfig } from "./project.ts";

/** Arguments of `makeEnv`. */
export interface EnvArgs {
  /** The registry id (`gym:` + the Gymnasium id for `"gym"`). */
  readonly id: string;
  /** The options (JSON-serialisable). */
  readonly options: MakeEnvOptions;
}

/** The `makeEnv` arguments of an online data source (actions normalized to [-1, 1] for boxes). */
export function onlineEnvArgs(d: OnlineDataConfig): EnvArgs {
  if (d.source === "env") {
    return {
      id: d.env,
      options: {
        pixels: d.pixels,
        frameSkip: d.frameSkip,
        maxEpisodeSteps: d.maxEpisodeSteps ?? undefined,
        normalizeActions: true,
      },
    };
  }
  return {
    id: `gym:${d.env}`,
    options: {
      pixels: d.pixels,
      size: d.size ?? undefined,
      frameSkip: d.frameSkip ?? undefined,
      maxEpisodeSteps: d.maxEpisodeSteps ?? undefined,
      kwargs: d.kwargs,
      normalizeActions: true,
      gym: {
        python: d.python ?? undefined,
        pythonPath: d.pythonPath.length ? d.pythonPath : undefined,
        grayscale: d.grayscale,
        terminalOnLifeLoss: d.terminalOnLifeLoss,
        noopMax: d.noopMax,
        timeoutMs: d.timeoutSec === null ? undefined : Math.round(d.timeoutSec * 1000),
      },
    },
  };
}

/** The Gymnasium environment under the TypeScript wrappers, if `env` is one. */
export function gymEnvOf(env: Env): GymEnv | null {
  const base = env instanceof Wrapper ? env.unwrapped : env;
  return base instanceof GymEnv ? base : null;
}

/** What a project file given to `verify` trusts for a Gymnasium environment. */
export interface TrustedGym {
  /** The interpreter (`[data] python`; null: `WORLDFLUX_PYTHON`, else `python3`). */
  readonly python: string | null;
  /** `[data] python_path`. */
  readonly pythonPath: readonly string[];
  /** `[data] env` (a `module:Id` id imports `module`). */
  readonly env: string | null;
}

/**
 * The `makeEnv` arguments `verify` uses for a recorded `make_env`: run_manifest.json is a data
 * file, so whatever would run code is taken from the project file given to verify instead (or the
 * defaults): the interpreter, the directories on Python's path, and a `module:Id` id (Gymnasium
 * imports `module`), which is refused unless that project names it. Ids of installed packages and
 * keyword arguments are data and are kept.
 */
export function verifyEnvArgs(recorded: EnvArgs, trusted: TrustedGym | null): EnvArgs {
  if (!recorded.id.startsWith("gym:")) return recorded;
  const gymId = recorded.id.slice(4);
  if (gymId.includes(":") && gymId !== trusted?.env) {
    throw new ConfigError(
      `the run's environment "${gymId}" imports a Python module named only by ` +
        `run_manifest.json: pass the project file that names it (-c worldflux.toml)`,
    );
  }
  const gym = { ...recorded.options.gym };
  delete gym.python;
  delete gym.pythonPath;
  if (trusted?.python) gym.python = trusted.python;
  if (trusted?.pythonPath.length) gym.pythonPath = trusted.pythonPath;
  return { id: recorded.id, options: { ...recorded.options, gym } };
}

/** What the manifest says about a Gymnasium environment (versions, pre-processing, kwargs). */
export function gymManifestInfo(env: Env): Record<string, unknown> | null {
  const gym = gymEnvOf(env);
  if (!gym) return null;
  const s = gym.spec;
  const p = s.host.packages;
  return {
    gym_id: s.gymId,
    python: s.host.executable,
    python_version: s.host.python,
    gymnasium: p.gymnasium ?? null,
    numpy: p.numpy ?? null,
    ale_py: p["ale-py"] ?? null,
    mujoco: p.mujoco ?? null,
    atari_preprocessing: s.atari,
    frame_skip: s.frameSkip,
    resize: s.resize,
    make_kwargs: s.kwargs,
  };
}
