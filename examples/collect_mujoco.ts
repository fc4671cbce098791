/**
 * Collects episodes of a MuJoCo locomotion task (`HalfCheetah-v5`, `Hopper-v5`; any registered
 * environment works) with the random policy or a saved model's controller, into a `.npz` replay
 * buffer (`ReplayBuffer.save`: what `ReplayBuffer.load` and `worldflux train` with
 * `[data] source = "npz"` read) and a dataset manifest beside it.
 *
 *   deno run -A examples/collect_mujoco.ts [--env HalfCheetah-v5] [--episodes 10] [--seed 0]
 *     [--policy random | <saved model dir>] [--out data/halfcheetah_random.npz]
 *     [--kwargs '{"reset_noise_scale": 0.1}'] [--max-steps 1000] [--compressed]
 *
 * Episode `i` starts from `reset({ seed: seed + i })`. `--policy random` draws uniform actions
 * from a stream seeded with `seed`; `--policy DIR` loads the model saved in DIR (`worldflux
 * train`'s `outputs/model`, `model.save(...)`) and acts with its family's controller, greedily
 * (as evaluations do), with the global generator seeded with `seed`. `--max-steps` overrides the
 * registry's time limit (episodes still end at a termination). `--kwargs` takes the
 * environment's Gymnasium keyword arguments as JSON.
 *
 * Writes `OUT` (the `.npz`: `obs [N, obs]` float32, `actions [N, A]`, `rewards [N]`, `dones [N]`,
 * `terminations [N]`, `obs_shape`, `action_dim`, `capacity`, `first_step`; see
 * `ReplayBuffer.save`) and `OUT` with `.manifest.json` instead of `.npz` (see
 * {@link DatasetManifest}). Both are written atomically.
 * @module
 */

import {
  createWorldModel,
  defaultGenerator,
  makeEnv,
  parseTrainingConfig,
  randomController,
  ReplayBuffer,
  resolveController,
  WORLDFLUX_VERSION,
} from "../mod.ts";
import { evaluateController } from "../cli.ts";
import { ConfigError } from "../src/errors.ts";
import type { Controller } from "../src/core/controller.ts";
import { loadedMujoco } from "../src/envs/mujoco/loader.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";
import { type Box, shapeSize, type Space } from "../src/envs/types.ts";
import { meanStd, parseFlags } from "./learn_lib.ts";

/** What {@link collectDataset} does. */
export interface CollectOptions {
  /** Registered environment id. */
  readonly env: string;
  /** Gymnasium keyword arguments of the environment. */
  readonly kwargs?: Readonly<Record<string, unknown>>;
  /** Number of episodes (1 .. 100,000). */
  readonly episodes: number;
  /** Seed of the first episode's reset (episode i: seed + i) and of the policy. */
  readonly seed: number;
  /** `"random"`, or the directory of a saved model (its family's controller acts). */
  readonly policy: string;
  /** Path of the `.npz` to write (the manifest goes beside it). */
  readonly out: string;
  /** Time limit in steps (default: the registry's). */
  readonly maxSteps?: number;
  /** Deflate the arrays (default false). */
  readonly compressed?: boolean;
}

/** The dataset manifest written beside the `.npz` (`<name>.manifest.json`). */
export interface DatasetManifest {
  /** Manifest format tag. */
  readonly format: "worldflux.dataset/1";
  /** The `.npz` file (name beside the manifest), its SHA-256 and layout. */
  readonly data: {
    readonly file: string;
    readonly sha256: string;
    readonly layout: string;
    readonly transitions: number;
    readonly obs_shape: readonly number[];
    readonly action_dim: number;
  };
  /** The environment: id, keyword arguments, time limit, spaces. */
  readonly env: {
    readonly id: string;
    readonly kwargs: Readonly<Record<string, unknown>>;
    readonly max_episode_steps: number | null;
    readonly observation_space: Readonly<Record<string, unknown>>;
    readonly action_space: Readonly<Record<string, unknown>>;
  };
  /** How actions were chosen. */
  readonly policy: Readonly<Record<string, unknown>>;
  /** Reset seed of each episode. */
  readonly seeds: readonly number[];
  /** Number of episodes. */
  readonly episodes: number;
  /** Environment steps in total (= transitions). */
  readonly steps: number;
  /** Return of each episode. */
  readonly returns: readonly number[];
  /** Length of each episode. */
  readonly lengths: readonly number[];
  /** How each episode ended. */
  readonly ends: readonly ("terminated" | "truncated")[];
  /** Mean and standard deviation of the returns. */
  readonly return_mean: number;
  /** Standard deviation (population) of the returns. */
  readonly return_std: number;
  /** Software versions. */
  readonly versions: { readonly worldflux: string; readonly mujoco: string | null };
  /** When the collection finished (ISO 8601). */
  readonly created: string;
  /** Wall time of the collection (s). */
  readonly wall_time_s: number;
}

/** Where the manifest of `npzPath` goes: the same name with `.manifest.json`. */
export function manifestPath(npzPath: string): string {
  return npzPath.replace(/\.npz$/, "") + ".manifest.json";
}

/** A space as JSON (unbounded limits as "inf" / "-inf", which JSON numbers cannot hold). */
function describeSpace(s: Space | Box): Record<string, unknown> {
  const bound = (v: number) => Number.isFinite(v) ? v : v > 0 ? "inf" : "-inf";
  return s.kind === "discrete" ? { kind: "discrete", n: s.n } : {
    kind: "box",
    shape: s.shape,
    low: Array.from(s.low, bound),
    high: Array.from(s.high, bound),
  };
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Collects the episodes, writes the `.npz` and its manifest, and returns the manifest. Throws a
 * `ConfigError` for bad options and a `SizeLimitError` when the episodes could not fit in memory
 * (before anything is collected or written).
 */
export async function collectDataset(o: CollectOptions): Promise<DatasetManifest> {
  if (!Number.isSafeInteger(o.episodes) || o.episodes < 1) {
    throw new ConfigError(`--episodes must be a positive integer, got ${o.episodes}`);
  }
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) {
    throw new ConfigError(`--seed must be a non-negative integer, got ${o.seed}`);
  }
  if (o.maxSteps !== undefined && (!Number.isInteger(o.maxSteps) || o.maxSteps < 1)) {
    throw new ConfigError(`--max-steps must be a positive integer, got ${o.maxSteps}`);
  }
  if (!o.out.endsWith(".npz")) throw new ConfigError(`--out must name a .npz file, got ${o.out}`);
  const kwargs = o.kwargs ?? {};
  const env = await makeEnv(o.env, { kwargs, maxEpisodeSteps: o.maxSteps });
  try {
    const limit = env.maxEpisodeSteps;
    if (!Number.isFinite(limit)) {
      throw new ConfigError(`${o.env} has no time limit: give --max-steps`);
    }
    const space = env.actionSpace;
    // room for every episode at its longest (the buffer checks the size against the allocation
    // limit before allocating)
    const buffer = new ReplayBuffer({
      capacity: o.episodes * limit,
      obsShape: env.observationSpace.shape,
      actionDim: space.kind === "discrete" ? space.n : shapeSize(space.shape),
      obsDtype: env.observationSpace.dtype === "uint8" ? "uint8" : "float32",
      seed: o.seed,
    });
    let controller: Controller;
    let policy: Record<string, unknown>;
    if (o.policy === "random") {
      controller = randomController(space, o.seed);
      policy = { kind: "random", seed: o.seed, distribution: "uniform over the action space" };
    } else {
      const model = await createWorldModel(o.policy);
      const c = resolveController(model, {
        actionSpace: space,
        observationSpace: env.observationSpace,
        config: parseTrainingConfig({ seed: o.seed }),
      });
      if (!c) {
        throw new ConfigError(
          `the ${model.modelType} model in ${o.policy} has no controller to act with ` +
            `(TD-MPC2 and DreamerV3 have one); use --policy random`,
        );
      }
      model.eval();
      defaultGenerator().setState({ seed: o.seed, counter: 0 });
      controller = c;
      policy = {
        kind: "model",
        path: o.policy,
        model_type: model.modelType,
        parameters: model.numParameters(),
        controller: `${model.modelType} (greedy: explore = false)`,
        generator_seed: o.seed,
      };
    }
    const t0 = performance.now();
    const { returns } = await evaluateController(env, controller, {
      episodes: o.episodes,
      seed: o.seed,
      record: buffer,
    });
    const wall = (performance.now() - t0) / 1000;
    // episode lengths and ends from the recorded flags
    const arrays = buffer.toArrays();
    const dones = arrays.dones.data as Uint8Array;
    const terms = arrays.terminations.data as Uint8Array;
    const lengths: number[] = [];
    const ends: ("terminated" | "truncated")[] = [];
    let start = 0;
    for (let i = 0; i < dones.length; i++) {
      if (!dones[i]) continue;
      lengths.push(i + 1 - start);
      ends.push(terms[i] ? "terminated" : "truncated");
      start = i + 1;
    }
    const dir = o.out.includes("/") ? o.out.slice(0, o.out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir, { recursive: true });
    await buffer.save(o.out, { compressed: o.compressed });
    const { mean, std } = meanStd(returns);
    const manifest: DatasetManifest = {
      format: "worldflux.dataset/1",
      data: {
        file: o.out.slice(o.out.lastIndexOf("/") + 1),
        sha256: await sha256(o.out),
        layout:
          "ReplayBuffer.save (.npz): obs, actions, rewards, dones, terminations, obs_shape, " +
          "action_dim, capacity, first_step",
        transitions: buffer.size,
        obs_shape: buffer.obsShape,
        action_dim: buffer.actionDim,
      },
      env: {
        id: o.env,
        kwargs,
        max_episode_steps: limit,
        observation_space: describeSpace(env.observationSpace),
        action_space: describeSpace(space),
      },
      policy,
      seeds: Array.from({ length: o.episodes }, (_, i) => o.seed + i),
      episodes: o.episodes,
      steps: buffer.size,
      returns,
      lengths,
      ends,
      return_mean: mean,
      return_std: std,
      versions: {
        worldflux: WORLDFLUX_VERSION,
        mujoco: loadedMujoco()?.mj_versionString() ?? null,
      },
      created: new Date().toISOString(),
      wall_time_s: wall,
    };
    await writeFileAtomic(manifestPath(o.out), JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  } finally {
    env.close();
  }
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args, {
    env: "HalfCheetah-v5",
    episodes: 10,
    seed: 0,
    policy: "random",
    out: "",
    kwargs: "{}",
    maxSteps: 0,
    compressed: false,
  });
  let kwargs: Record<string, unknown>;
  try {
    kwargs = JSON.parse(flags.kwargs);
  } catch (e) {
    throw new ConfigError(`--kwargs must be a JSON object: ${(e as Error).message}`);
  }
  const slug = flags.env.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/_v\d+$/, "");
  const out = flags.out ||
    `data/${slug}_${flags.policy === "random" ? "random" : "policy"}_s${flags.seed}.npz`;
  const m = await collectDataset({
    env: flags.env,
    kwargs,
    episodes: flags.episodes,
    seed: flags.seed,
    policy: flags.policy,
    out,
    maxSteps: flags.maxSteps || undefined,
    compressed: flags.compressed,
  });
  console.log(
    `${m.env.id}: ${m.episodes} episodes, ${m.steps} steps (${m.policy.kind} policy) in ` +
      `${m.wall_time_s.toFixed(1)} s; return ${m.return_mean.toFixed(2)} +- ` +
      `${m.return_std.toFixed(2)}\n  ${out}\n  ${manifestPath(out)}`,
  );
}
