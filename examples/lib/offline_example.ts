/**
 * The shared body of the family training examples (`train_dreamer.ts`, `train_tdmpc2.ts`): one
 * family, trained offline from a replay buffer through the same run machinery as `worldflux
 * train` (`runProject`: metrics.jsonl, checkpoints, the saved model, run_manifest.json).
 *
 *   --test                       random episodes (the contract smoke), a few updates: seconds
 *   --data trajectories.npz      a saved replay buffer (ReplayBuffer.save, or NumPy with its keys)
 *   --steps N                    gradient updates (default 100000 with --data, 10 with --test)
 *
 * A `.npz` of real episodes comes from any environment, e.g.
 *
 * ```ts
 * import { makeEnv, RandomPolicy, ReplayBuffer, rollout } from "./mod.ts";
 * const env = await makeEnv("Pendulum-v1");
 * const data = rollout(env, new RandomPolicy(env.actionSpace, 0), 5000, 0);
 * const buf = new ReplayBuffer({ capacity: 5000, obsShape: [3], actionDim: 1 });
 * buf.addEpisode(data);
 * await buf.save("trajectories.npz");
 * ```
 *
 * (discrete actions go in as indices with `actionDtype: "int32"`, so that the model's actor is
 * discrete; `rollout` gives them one-hot).
 * @module
 */

import { join, relative, resolve } from "node:path";
import { parseProjectConfig, runProject, type RunProjectResult } from "../../cli.ts";
import { parseFlags } from "../learn_lib.ts";

/** What differs between the families' examples. */
export interface OfflineExampleSpec {
  /** Family name in `[model]`. */
  readonly family: "dreamerv3" | "tdmpc2";
  /** The script, for the usage text and the manifest's command. */
  readonly script: string;
  /** Default preset (`ci`, `size12m`, ...). */
  readonly preset: string;
  /** Default batch size and sequence length of the family. */
  readonly batchSize: number;
  /** Steps per sampled sequence. */
  readonly sequenceLength: number;
  /** `[data]` of the `--test` mode (a `source = "random"` table without `source`). */
  readonly testData: Readonly<Record<string, unknown>>;
  /** Batch size and sequence length of `--test` (smaller: it should take seconds). */
  readonly testBatch: { readonly batchSize: number; readonly sequenceLength: number };
}

/** Runs the example with its command-line arguments; resolves to the run's result. */
export async function runOfflineExample(
  spec: OfflineExampleSpec,
  args: readonly string[],
): Promise<RunProjectResult | null> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(`Usage: deno run -A ${spec.script} (--test | --data FILE.npz) [--steps N]
       [--preset ${spec.preset}] [--batch-size ${spec.batchSize}] [--seq-len ${spec.sequenceLength}]
       [--lr 3e-4] [--seed 0] [--device auto|cpu|webgpu] [--out outputs/${spec.family}_offline]

--test trains on random episodes for a few updates (the contract smoke); --data trains on a
saved replay buffer (10% of its episodes held out for \`worldflux verify\`).`);
    return null;
  }
  const flags = parseFlags(args, {
    test: false,
    data: "",
    steps: 0,
    preset: spec.preset,
    batchSize: 0,
    seqLen: 0,
    lr: 3e-4,
    seed: 0,
    device: "auto",
    out: `outputs/${spec.family}_offline`,
  });
  if (flags.test === (flags.data !== "")) {
    throw new Error(`${spec.script}: give exactly one of --test and --data FILE.npz (see --help)`);
  }
  const steps = flags.steps || (flags.test ? 10 : 100_000);
  const batch = flags.test ? spec.testBatch : {
    batchSize: spec.batchSize,
    sequenceLength: spec.sequenceLength,
  };
  const out = resolve(flags.out);
  const data = flags.test
    ? { source: "random", ...spec.testData }
    : { source: "npz", path: resolve(flags.data) };
  const project = parseProjectConfig({
    name: `${spec.family}-offline`,
    model: { family: spec.family, preset: flags.preset },
    data,
    training: {
      total_steps: steps,
      batch_size: flags.batchSize || batch.batchSize,
      sequence_length: flags.seqLen || batch.sequenceLength,
      learning_rate: flags.lr,
      log_interval: Math.max(1, Math.min(100, Math.floor(steps / 5))),
      save_interval: Math.max(1, Math.min(10_000, Math.floor(steps / 2))),
      seed: flags.seed,
      device: flags.device,
      output_dir: out,
    },
  }, { baseDir: Deno.cwd() });
  console.log(
    `${spec.family} (${project.model.spec}) offline on ${
      flags.test ? "random episodes (--test)" : relative(Deno.cwd(), flags.data)
    }: ${steps} updates of ${project.training.batchSize} x ${project.training.sequenceLength}`,
  );
  const result = await runProject(project, { command: [spec.script, ...args] });
  const m = result.manifest;
  const loss = m.final_metrics?.loss;
  console.log(
    `done: ${m.training.updates} updates in ${m.training.wall_time_sec.toFixed(1)} s, final loss ` +
      `${loss === undefined ? "-" : loss.toFixed(4)} (best ${
        m.training.best_loss?.toFixed(4) ?? "-"
      }); ` +
      `${m.model.parameters.toLocaleString("en-US")} parameters; ${m.run_classification}` +
      (m.degraded_modes.length ? ` (degraded: ${m.degraded_modes.join(", ")})` : ""),
  );
  const rel = (p: string) => {
    const r = relative(Deno.cwd(), join(result.outputDir, p));
    return r.startsWith("..") ? join(result.outputDir, p) : r;
  };
  console.log(
    `wrote ${rel("run_manifest.json")}, ${rel("metrics.jsonl")}, ${rel(m.artifacts.model)}/ ` +
      `(load it with fromPretrained), checkpoints: ${m.artifacts.checkpoints.join(", ") || "none"}`,
  );
  return result;
}
