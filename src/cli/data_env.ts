/**
 * The environment of an online data source (`[data] source = "env"` or `"gym"`): the exact
 * `makeEnv(id, options)` arguments (recorded in the run manifest as `make_env`, so `worldflux
 * verify` rebuilds the same environment, with the same Python interpreter) and what the manifest
 * says about it.
 * @module
 */

import { GymEnv } from "../envs/gym/env.ts";
import type { MakeEnvOptions } from "../envs/registry.ts";
import type { Env } from "../envs/types.ts";
import { Wrapper } from "../envs/wrappers.ts";
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

/**
 * The arguments to record: for a Gymnasium environment the interpreter is pinned to the one that
 * ran (`sys.executable`), so a later `verify` does not depend on `WORLDFLUX_PYTHON`.
 */
export function recordedEnvArgs(args: EnvArgs, env: Env): EnvArgs {
  const gym = gymEnvOf(env);
  if (!gym) return args;
  return {
    id: args.id,
    options: { ...args.options, gym: { ...args.options.gym, python: gym.spec.host.executable } },
  };
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
