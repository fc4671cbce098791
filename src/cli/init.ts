/**
 * `worldflux init DIR`: scaffolds a project — `worldflux.toml` (the chosen family and data, every
 * other setting commented with its default), a README with the next commands, a `data/` folder
 * and a `.gitignore` for `outputs/`.
 * @module
 */

import { join, relative, resolve } from "node:path";
import { camelToSnake } from "../core/naming.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { lexists } from "../io/files.ts";
import { resolveModelName } from "../core/factory.ts";
import { type FamilyScaffold, WorldModelRegistry } from "../core/registry.ts";
import { listEnvs } from "../envs/registry.ts";
import {
  TRAINING_CONFIG_DEFAULTS,
  TRAINING_CONFIG_FIELDS,
  type TrainingConfig,
} from "../core/training_config.ts";
import { type Command, EXIT, oneOf, parseCommandArgs, UsageError } from "./command.ts";
import { DASHBOARD_PORT } from "./dashboard_server.ts";
import { DATA_SOURCES, type DataSource, parseProjectConfig, VERIFY_DEFAULTS } from "./project.ts";
import { parse as parseToml } from "smol-toml";

/** The Gymnasium environment `init --data gym` writes unless `--env` names another. */
export const GYM_INIT_ENV = "ALE/Breakout-v5";

/** Whether a scaffolded Gymnasium environment observes frames (Atari pre-processing). */
function gymFrames(o: ProjectTemplateOptions): boolean {
  return o.data === "gym" && o.env.startsWith("ALE/");
}

/**
 * The families `init` scaffolds: the registered ones with a `scaffold` in their spec, in its
 * order (the first is the default of `--family`).
 */
export function initFamilies(): string[] {
  return WorldModelRegistry.families()
    .filter((f) => WorldModelRegistry.family(f).scaffold)
    .sort((a, b) => scaffoldOf(a).order - scaffoldOf(b).order);
}

function scaffoldOf(family: string): FamilyScaffold {
  const s = WorldModelRegistry.family(family).scaffold;
  if (!s) throw new UsageError(`the ${family} family has no init scaffold`, "init");
  return s;
}

/** Options of {@link projectToml}. */
export interface ProjectTemplateOptions {
  readonly name: string;
  readonly family: string;
  readonly preset: string;
  readonly data: DataSource;
  readonly env: string;
  readonly pixels: boolean;
}

const COMMENTS: Record<keyof TrainingConfig, string> = {
  totalSteps: "updates (offline) or environment steps (env)",
  batchSize: "sequences per batch",
  sequenceLength: "steps per sampled sequence",
  learningRate: "generic step only", // + which families use their own settings (stepComment)
  gradClip: "global-norm clip, 0 = off (generic step)",
  weightDecay: "generic step",
  warmupSteps: "linear learning-rate warmup (generic step)",
  optimizer: "adamw | adam | laprop (generic step)",
  scheduler: "none | constant | linear | cosine (generic step)",
  logInterval: "read the losses back and log every N steps",
  evalInterval: "evaluate every N steps",
  saveInterval: "checkpoint every N steps",
  outputDir: "relative to this file",
  device: "auto | cpu | webgpu (auto says what it picked and why)",
  seed: "seeds the model, the sampling and the environments",
  compile: "trace the update once and replay it",
  trainRatio: "env: gradient updates per environment step",
  prefillSteps: "env: random-action steps before the first update",
  prefillUpdates: "env: extra updates once the prefill ends (TD-MPC2: = prefill_steps)",
  evalEpisodes: "env: episodes per evaluation",
  bufferCapacity: "env: replay capacity (capped at total_steps)",
};

/** The `[training]` values a scaffolded project sets (the rest is commented with defaults). */
export function templateTraining(
  family: string,
  data: DataSource,
  pixels = false,
): Partial<TrainingConfig> {
  const s = scaffoldOf(family);
  if (data !== "env" && data !== "gym") {
    return {
      totalSteps: data === "random" ? 200 : 5000,
      ...s.batch,
      logInterval: data === "random" ? 20 : 100,
      saveInterval: data === "random" ? 100 : 1000,
    };
  }
  return { ...s.online, ...(pixels ? s.onlinePixels : {}) };
}

/** The learning-rate comment: which registered families train with a step of their own. */
function stepComment(): string {
  const own = WorldModelRegistry.families().filter((f) => WorldModelRegistry.family(f).trainStep);
  return `${COMMENTS.learningRate}${
    own.length ? ` (${own.join("/")} use their own optimizer settings)` : ""
  }`;
}

/** `left` with a `# comment` aligned at column 32. */
function c(left: string, comment: string): string {
  return `${left.padEnd(31)} # ${comment}`;
}

function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (typeof v === "number" && !Number.isInteger(v)) return String(v);
  return String(v);
}

/** The `[model.overrides]` part: active settings for online runs, else a commented example. */
function overridesBlock(o: ProjectTemplateOptions): string {
  const head = "# Config fields of the family (snake_case), checked against its schema.";
  const online = o.data === "env" || o.data === "gym";
  const s = scaffoldOf(o.family);
  if (online && s.onlineOverrides) {
    const lines = Object.entries(s.onlineOverrides.values).map(([k, v]) => `${k} = ${v}`);
    return `${head}\n# ${s.onlineOverrides.comment}\n[model.overrides]\n${lines.join("\n")}`;
  }
  return `${head} For example:\n# [model.overrides]\n# ${s.overrideExample}`;
}

/** The text of a scaffolded `worldflux.toml`. */
export function projectToml(o: ProjectTemplateOptions): string {
  const set = templateTraining(o.family, o.data, o.pixels || gymFrames(o));
  const training = TRAINING_CONFIG_FIELDS.map((f) => {
    const key = camelToSnake(f);
    const value = f in set ? set[f] : TRAINING_CONFIG_DEFAULTS[f];
    const line = `${key} = ${tomlValue(value)}`;
    return c(`${f in set ? "" : "# "}${line}`, f === "learningRate" ? stepComment() : COMMENTS[f]);
  });
  const envs = listEnvs().join(", ");
  const dataLines: Record<DataSource, string[]> = {
    random: [
      c(`source = "random"`, "random episodes: the contract smoke (learns nothing real)"),
      `obs_shape = [8]`,
      `action_dim = 2`,
      c(`# action_type = "continuous"`, `or "discrete"`),
      `episodes = 16`,
      `episode_length = 64`,
      "",
      `# Train on a saved ReplayBuffer (.npz, e.g. written by ReplayBuffer.save or NumPy):`,
      `# source = "npz"`,
      `# path = "data/trajectories.npz"`,
      c(`# holdout_episodes = 1`, "kept out of training for verify (default: 10%)"),
      "",
      `# Train online in a built-in environment with the family's controller:`,
      `# source = "env"`,
      c(`# env = "Pendulum-v1"`, envs),
      "",
      `# ... or in any Gymnasium environment (a Python with gymnasium; ale-py for ALE/):`,
      `# source = "gym"`,
      `# env = "ALE/Breakout-v5"`,
    ],
    npz: [
      c(`source = "npz"`, "a saved ReplayBuffer (ReplayBuffer.save, or NumPy)"),
      `path = "data/trajectories.npz"`,
      c(`# holdout_episodes = 1`, "kept out of training for verify (default: 10%)"),
    ],
    gym: [
      c(`source = "gym"`, "online training in a Gymnasium environment (Python bridge)"),
      c(`env = "${o.env}"`, "any Gymnasium id; the interpreter needs its package"),
      c(`# python = "python3"`, "default: WORLDFLUX_PYTHON, else python3"),
      c(`${o.pixels ? "" : "# "}pixels = true`, "observe rendered frames (render_mode rgb_array)"),
      c(`# frame_skip = 4`, "action repeat, in Python (Atari default 4, else 1)"),
      c(`# size = 64`, "side of frame observations (Atari default 64)"),
      c(`# grayscale = false`, "Atari: [1, size, size] frames"),
      c(`# terminal_on_life_loss = false`, "Atari: a lost life ends the episode"),
      c(`# max_episode_steps = 1000`, "time limit in base steps (default: Gymnasium's)"),
      c(`# [data.kwargs]`, "keyword arguments of gymnasium.make"),
      `# full_action_space = true`,
    ],
    env: [
      c(`source = "env"`, "online training in a built-in environment"),
      c(`env = "${o.env}"`, envs),
      c(`pixels = ${o.pixels}`, "64x64 RGB observations (dreamerv3)"),
      c(`${o.env === "Pendulum-v1" ? "" : "# "}frame_skip = 2`, "action repeat"),
      c(`# max_episode_steps = 200`, "time limit in base steps (default: the environment's)"),
    ],
  };
  const d = VERIFY_DEFAULTS;
  const verify = [
    c(`# episodes = ${d.episodes}`, "env: evaluation episodes per policy"),
    c(`# batches = ${d.batches}`, "held-out batches the loss is averaged over"),
    c(`# min_return_gain = ${d.minReturnGain}`, "env: beat random by this x max(|random|, 1)"),
    c(`# max_loss_ratio = ${d.maxLossRatio}`, "held-out loss <= this x the untrained model's"),
  ];
  return `# worldflux.toml: read by "worldflux train" and "worldflux verify".
# Keys are snake_case and an unknown key is an error. Relative paths are relative to this file.

name = ${JSON.stringify(o.name)}
${c(`# plugins = ["./my_plugin.ts"]`, "local plugin modules (paths; URLs are refused)")}

[model]
${
    c(
      `family = "${o.family}"`,
      `${initFamilies().join(" | ")} ("worldflux models list --surface all")`,
    )
  }
${c(`preset = "${o.preset}"`, `"worldflux models info ${o.family}:${o.preset}" shows its size`)}
# obs_shape, action_dim and action_type come from [data].

${overridesBlock(o)}

[data]
${dataLines[o.data].join("\n")}

[training]
${training.join("\n")}

[verify]
${verify.join("\n")}
`;
}

function projectReadme(o: ProjectTemplateOptions, dir: string): string {
  const what = o.data === "random"
    ? "random episodes (the contract smoke: it checks the installation and the contracts and " +
      "learns nothing real)"
    : o.data === "npz"
    ? "the replay buffer in `data/trajectories.npz` (put it there first)"
    : o.data === "gym"
    ? `online experience from the Gymnasium environment \`${o.env}\` (run by Python: see ` +
      "`worldflux doctor` for the interpreter and its packages)"
    : `online experience from \`${o.env}\`${o.pixels ? " (pixels)" : ""}`;
  return `# ${o.name}

A worldflux project: a \`${o.family}:${o.preset}\` world model trained on ${what}.

\`\`\`sh
cd ${dir}
worldflux train                                # reads worldflux.toml, writes outputs/
worldflux verify --target ./outputs --mode quick
\`\`\`

While \`worldflux train\` runs (or after), \`worldflux dashboard\` in another terminal serves a live page
of \`outputs/\` on this machine (http://127.0.0.1:${DASHBOARD_PORT}/): the return and loss curves as
they grow, the run manifest, the quick-verify result and the imagination pictures.

(Inside a worldflux checkout, \`worldflux\` is \`deno run -A cli.ts\`.)

- \`worldflux.toml\`: the model, the data, the training config and the verify thresholds; every
  setting is listed there with its default.
- \`data/\`: datasets (\`.npz\` replay buffers with the keys \`obs\`, \`actions\`, \`rewards\`,
  \`dones\`, \`obs_shape\`, \`action_dim\`, \`capacity\`; see \`ReplayBuffer.save\`).
- \`outputs/\`: written by \`worldflux train\`: \`run_manifest.json\` (what ran, where, how long,
  final metrics, \`run_classification\` and \`degraded_modes\`), \`metrics.jsonl\`, checkpoints,
  and the trained model in \`outputs/model\` (load it with \`fromPretrained\`).

To move from the contract smoke to meaningful local training, set \`[data] source = "env"\` and
\`env = "Pendulum-v1"\` (or train on your own \`.npz\`), rerun \`worldflux train\` with a learning
budget (online: at least 3,000 environment steps and 1,000 gradient updates, as
\`worldflux init --data env\` sets them), and check that \`outputs/run_manifest.json\` says
\`"run_classification": "meaningful_local_training"\` with no \`degraded_modes\`.
`;
}

const help = () =>
  `Usage: worldflux init DIR [--family ${initFamilies().join("|")}] [--preset NAME]
                      [--data random|npz|env|gym] [--env ID] [--pixels] [--name NAME]
                      [--force]

Scaffolds a worldflux project in DIR: worldflux.toml (the chosen family and
data; every other setting commented with its default), README.md, data/ and a
.gitignore for outputs/. DIR is created if needed; a non-empty DIR is refused
unless --force (then the scaffold's files are replaced, never written through a
symlink; an existing data/ and other files are kept).

Options:
  --family <name>    Model family (default: ${initFamilies()[0]})
  --preset <name>    Preset of the family (default: ci)
  --data <source>    random (default: the contract smoke), npz, env or gym
  --env <id>         Environment for --data env (default: Pendulum-v1); one of
                     ${listEnvs().join(", ")}
                     For --data gym: any Gymnasium id (default: ${GYM_INIT_ENV});
                     it runs in Python (WORLDFLUX_PYTHON, else python3)
  --pixels           Pixel observations for --data env (dreamerv3)
  --name <name>      Project name (default: the directory's name)
  --force            Write into a non-empty directory
  -h, --help         Show this help

Then:
  cd DIR && worldflux train && worldflux verify --target ./outputs --mode quick

Exit codes: 0 created, 1 refused (non-empty DIR) or failed, 2 wrong command line.`;

/** The `init` command. */
export const initCommand: Command = {
  name: "init",
  summary: "Scaffold a project: worldflux.toml, README, data/",
  get help(): string {
    return help();
  },
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseCommandArgs("init", args, {
      family: { type: "string", default: initFamilies()[0] },
      preset: { type: "string", default: "ci" },
      data: { type: "string", default: "random" },
      env: { type: "string" },
      pixels: { type: "boolean", default: false },
      name: { type: "string" },
      force: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    }, true);
    if (values.help) {
      console.log(help());
      return EXIT.OK;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length
          ? `expected one directory, got ${positionals.length}`
          : "DIR is required",
        "init",
      );
    }
    const family = oneOf("init", "--family", values.family as string, initFamilies());
    const data = oneOf("init", "--data", values.data as string, DATA_SOURCES);
    const given = values.env as string | undefined;
    const env = data === "gym"
      ? (given ?? GYM_INIT_ENV).replace(/^gym:/, "")
      : oneOf("init", "--env", given ?? "Pendulum-v1", listEnvs());
    const pixels = values.pixels as boolean;
    if (pixels && data !== "env" && data !== "gym") {
      throw new UsageError("--pixels needs --data env or gym", "init");
    }
    const dir = positionals[0];
    let entries: string[] = [];
    try {
      const st = await Deno.stat(dir);
      if (!st.isDirectory) {
        console.error(`error: ${dir} exists and is not a directory`);
        return EXIT.FAILURE;
      }
      for await (const e of Deno.readDir(dir)) entries.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      entries = [];
    }
    if (entries.length && !values.force) {
      console.error(
        `error: ${dir} is not empty (${entries.length} entr${
          entries.length === 1 ? "y" : "ies"
        }); ` +
          `use --force to write the scaffold into it`,
      );
      return EXIT.FAILURE;
    }
    const abs = resolve(dir);
    const name = (values.name as string | undefined) ??
      (abs.split(/[\\/]/).filter(Boolean).pop() ?? "worldflux-project");
    const o: ProjectTemplateOptions = {
      name,
      family,
      preset: values.preset as string,
      data,
      env,
      pixels,
    };
    // Refuse an unknown preset before writing anything (the error lists the closest names).
    resolveModelName(`${family}:${o.preset}`);
    const toml = projectToml(o);
    parseProjectConfig(parseToml(toml) as Record<string, unknown>, { baseDir: abs });
    await Deno.mkdir(abs, { recursive: true });
    const rel = relative(Deno.cwd(), abs) || ".";
    // Written atomically: a symlink at a scaffold name is replaced, never written through.
    await writeFileAtomic(join(abs, "worldflux.toml"), toml);
    await writeFileAtomic(join(abs, "README.md"), projectReadme(o, rel));
    await writeFileAtomic(join(abs, ".gitignore"), "outputs/\n");
    // data/ is made only when missing: an existing one (a directory, or a link to the user's
    // datasets elsewhere) is left alone.
    if (!(await lexists(join(abs, "data")))) {
      await Deno.mkdir(join(abs, "data"));
      await writeFileAtomic(join(abs, "data", ".gitkeep"), "");
    }
    console.log(
      `created ${rel}/ (${family}:${o.preset}, data: ${data}${
        data === "env" || data === "gym" ? ` ${env}` : ""
      })
  worldflux.toml  model, data, training and verify settings
  README.md       what to run next
  data/           datasets (.npz replay buffers)

next:
  cd ${rel}
  worldflux train
  worldflux verify --target ./outputs --mode quick`,
    );
    return EXIT.OK;
  },
};
