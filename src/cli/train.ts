/**
 * `worldflux train`: trains the model of a `worldflux.toml` project (see `project.ts` for the
 * file and `run.ts` for what is written) and prints where the artifacts went.
 * @module
 */

import { relative } from "node:path";
import type { DeviceRequest } from "../backend/device.ts";
import { type Command, EXIT, formatRows, oneOf, parseCommandArgs, UsageError } from "./command.ts";
import { loadProjectConfig } from "./project.ts";
import { runProject } from "./run.ts";

const HELP = `Usage: worldflux train [-c worldflux.toml] [--steps N] [--device auto|cpu|webgpu]
                       [--resume-from DIR] [--output DIR]

Trains the project's model ([model]) on its data ([data]) with its training config
([training]) and writes into the output directory (default: [training] output_dir,
"./outputs" next to worldflux.toml):

  run_manifest.json   version, device (and why "auto" chose it), model preset and
                      parameter count, data, config, steps, wall time, final metrics,
                      run_classification, degraded_modes
  metrics.jsonl       one JSON line per log, evaluation and checkpoint
  checkpoint_*/       training checkpoints (checkpoint_final at the end)
  model/              the trained model (config.json, model.safetensors,
                      worldflux_meta.json; load it with fromPretrained)
  holdout.npz         [data] source = "npz": the episodes kept out for verify

Data sources: "random" trains on random episodes (run_classification
"contract_smoke": checks the installation and the contracts, learns nothing
real); "npz" trains offline on a saved ReplayBuffer; "env" trains online in a
built-in environment with the family's controller (TD-MPC2: MPPI with its
policy prior; DreamerV3: its actor), both "meaningful_local_training".

Then check the run: worldflux verify --target ./outputs --mode quick

Options:
  -c, --config <file>     Project file (default: ./worldflux.toml)
  --steps <n>             Override [training] total_steps
  --device <device>       auto, cpu or webgpu (overrides [training] device)
  --resume-from <dir>     Resume a run from a checkpoint directory (or the newest
                          resumable checkpoint in a directory of them); online runs
                          resume from their periodic checkpoints (written at the end
                          of a training episode, with the replay buffer)
  --output <dir>          Output directory (overrides [training] output_dir)
  -h, --help              Show this help

Exit codes: 0 trained, 1 the run failed (including an invalid worldflux.toml),
2 wrong command line.`;

/** The `train` command. */
export const trainCommand: Command = {
  name: "train",
  summary: "Train the model of a worldflux.toml project and write its artifacts",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("train", args, {
      config: { type: "string", short: "c", default: "worldflux.toml" },
      steps: { type: "string" },
      device: { type: "string" },
      "resume-from": { type: "string" },
      output: { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    let steps: number | undefined;
    if (values.steps !== undefined) {
      steps = Number(values.steps);
      if (!/^\d+$/.test(values.steps as string) || !(steps >= 1)) {
        throw new UsageError(`--steps must be a positive integer, got "${values.steps}"`, "train");
      }
    }
    const device = values.device === undefined
      ? undefined
      : oneOf("train", "--device", values.device as string, ["auto", "cpu", "webgpu"] as const);
    const project = await loadProjectConfig(values.config as string);
    const result = await runProject(project, {
      steps,
      device: device as DeviceRequest | undefined,
      resumeFrom: values["resume-from"] as string | undefined,
      outputDir: values.output as string | undefined,
      command: ["worldflux", "train", ...args],
    });
    const m = result.manifest;
    const rel = relative(Deno.cwd(), result.outputDir) || ".";
    const rows: [string, string][] = [
      ["model", `${m.model.id} (${m.model.parameters.toLocaleString("en-US")} parameters)`],
      ["device", `${m.device.selected} (${m.device.reason})`],
      ["data", describeData(m.data)],
      [
        "steps",
        `${m.training.steps}/${m.training.total_steps} ${
          m.training.mode === "online" ? "env steps" : "updates"
        }` +
        (m.training.mode === "online" ? `, ${m.training.updates} updates` : "") +
        ` in ${m.training.wall_time_sec.toFixed(1)}s`,
      ],
    ];
    if (m.final_metrics?.loss !== undefined) {
      rows.push(["final loss", m.final_metrics.loss.toPrecision(4)]);
    }
    if (m.evaluation?.final_mean_return != null) {
      rows.push([
        "eval return",
        `${m.evaluation.final_mean_return.toFixed(1)} (best ${
          m.evaluation.best_mean_return!.toFixed(1)
        })`,
      ]);
    }
    rows.push(["classification", m.run_classification]);
    rows.push(["degraded modes", m.degraded_modes.length ? m.degraded_modes.join(", ") : "none"]);
    rows.push(["outputs", `${rel}/ (run_manifest.json, metrics.jsonl, model/, checkpoints)`]);
    console.log(`trained ${m.model.id}\n${formatRows(rows)}`);
    console.log(`\nnext: worldflux verify --target ${rel} --mode quick`);
    return EXIT.OK;
  },
};

function describeData(d: Readonly<Record<string, unknown>>): string {
  switch (d.source) {
    case "random":
      return `random (${d.episodes} episodes x ${d.episode_length} steps, obs ${
        JSON.stringify(d.obs_shape)
      })`;
    case "npz":
      return `${d.path} (${d.train_transitions} transitions, ${d.holdout_episodes} episode(s) held out)`;
    default:
      return `${d.env} online${d.pixels ? " (pixels)" : ""}`;
  }
}
