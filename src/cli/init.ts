/**
 * `worldflux init DIR`: scaffolds a project — `worldflux.toml` (the chosen family and data, every
 * other setting commented with its default), a README with the next commands, a `data/` folder
 * and a `.gitignore` for `outputs/`. Without DIR on a terminal it asks for what its options did
 * not say (`prompt.ts`); with DIR, or without a terminal, it asks nothing.
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
  TRAINING_DEVICES,
  type TrainingConfig,
} from "../core/training_config.ts";
import { listModels } from "../core/catalog.ts";
import { type Command, EXIT, oneOf, parseCommandArgs, UsageError } from "./command.ts";
import { DASHBOARD_PORT } from "./dashboard_server.ts";
import { DATA_SOURCES, type DataSource, parseProjectConfig, VERIFY_DEFAULTS } from "./project.ts";
import { PromptClosedError, Prompter, stdioTerminal, type Terminal } from "./prompt.ts";
import { parse as parseToml } from "smol-toml";

/** The Gymnasium environment `init --data gym` writes unless `--env` names another. */
export const GYM_INIT_ENV = "ALE/Breakout-v5";

/** Whether a scaffolded Gymnasium environment observes frames (Atari pre-processing). */
function gymFrames(o: ProjectTemplateOptions): boolean {
  return o.data === "gym" && o.env.startsWith("ALE/");
}

/** A `[training] device` value. */
type TrainingDevice = (typeof TRAINING_DEVICES)[number];

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
  /** The `[training] device` written (default `"auto"`: left commented). */
  readonly device?: TrainingDevice;
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
  const set: Partial<TrainingConfig> = {
    ...templateTraining(o.family, o.data, o.pixels || gymFrames(o)),
    ...(o.device && o.device !== "auto" ? { device: o.device } : {}),
  };
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
                      [--data random|npz|env|gym] [--env ID] [--pixels]
                      [--device auto|cpu|webgpu] [--name NAME] [--force]
       worldflux init [options]    (on a terminal: asks for the rest)

Scaffolds a worldflux project in DIR: worldflux.toml (the chosen family and
data; every other setting commented with its default), README.md, data/ and a
.gitignore for outputs/. DIR is created if needed; a non-empty DIR is refused
unless --force (then the scaffold's files are replaced, never written through a
symlink; an existing data/ and other files are kept).

Without DIR on a terminal, init asks for the directory, family, preset, data
source, environment and device, each with its default in brackets (Enter takes
it); options given on the command line are not asked. Without DIR and without
a terminal (a script, a pipe) it asks nothing: DIR is required.

Options:
  --family <name>    Model family (default: ${initFamilies()[0]})
  --preset <name>    Preset of the family (default: ci)
  --data <source>    random (default: the contract smoke), npz, env or gym
  --env <id>         Environment for --data env (default: Pendulum-v1); one of
                     ${listEnvs().join(", ")}
                     For --data gym: any Gymnasium id (default: ${GYM_INIT_ENV});
                     it runs in Python (WORLDFLUX_PYTHON, else python3)
  --pixels           Pixel observations for --data env (dreamerv3)
  --device <name>    [training] device: auto (default: left commented), cpu or
                     webgpu
  --name <name>      Project name (default: the directory's name)
  --force            Write into a non-empty directory
  -h, --help         Show this help

Then:
  cd DIR && worldflux train && worldflux verify --target ./outputs --mode quick

Exit codes: 0 created, 1 refused (non-empty DIR), cancelled or failed, 2 wrong
command line.`;

/** The directory `init` offers when it asks. */
export const INIT_DEFAULT_DIR = "my-world-model";

/** What `init` scaffolds, from the command line or from the answers. */
interface InitChoices {
  readonly dir: string;
  readonly family: string;
  readonly preset: string;
  readonly data: DataSource;
  readonly env: string;
  readonly pixels: boolean;
  readonly device: TrainingDevice;
}

type InitValues = Readonly<Record<string, string | boolean | undefined>>;

/** The data sources with what each means, for the question. */
const DATA_HELP: Record<DataSource, string> = {
  random: "random episodes: the contract smoke (learns nothing real)",
  npz: "a saved replay buffer (.npz) in data/",
  env: "online, in a built-in environment",
  gym: "online, in a Gymnasium environment (Python)",
};

/** The environment of `data`: `--env` checked, or the default. */
function envFor(data: DataSource, given: string | undefined): string {
  return data === "gym"
    ? (given ?? GYM_INIT_ENV).replace(/^gym:/, "")
    : oneOf("init", "--env", given ?? "Pendulum-v1", listEnvs());
}

function checkPixels(pixels: boolean, data: DataSource): void {
  if (pixels && data !== "env" && data !== "gym") {
    throw new UsageError("--pixels needs --data env or gym", "init");
  }
}

/** The choices of a command line with DIR (what `init DIR ...` has always done). */
function choicesFromFlags(values: InitValues, dir: string): InitChoices {
  const families = initFamilies();
  const family = oneOf("init", "--family", (values.family as string) ?? families[0], families);
  const data = oneOf("init", "--data", (values.data as string) ?? "random", DATA_SOURCES);
  const env = envFor(data, values.env as string | undefined);
  const pixels = values.pixels as boolean;
  checkPixels(pixels, data);
  const device = oneOf("init", "--device", (values.device as string) ?? "auto", TRAINING_DEVICES);
  return { dir, family, preset: (values.preset as string) ?? "ci", data, env, pixels, device };
}

/** The entries of `dir` (none when it does not exist); null when it is not a directory. */
async function entriesOf(dir: string): Promise<string[] | null> {
  const entries: string[] = [];
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) return null;
    for await (const e of Deno.readDir(dir)) entries.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return entries;
}

function notEmpty(dir: string, n: number): string {
  return `${dir} is not empty (${n} entr${n === 1 ? "y" : "ies"})`;
}

/** Asks for every choice its flag did not give (flags are checked first, as without a terminal). */
async function askChoices(values: InitValues, p: Prompter): Promise<InitChoices> {
  // Wrong flags are usage errors before any question.
  const flagFamily = values.family === undefined
    ? undefined
    : oneOf("init", "--family", values.family as string, initFamilies());
  const flagData = values.data === undefined
    ? undefined
    : oneOf("init", "--data", values.data as string, DATA_SOURCES);
  const pixels = values.pixels as boolean;
  if (flagData) checkPixels(pixels, flagData);
  if (flagData && flagData !== "gym" && values.env !== undefined) {
    envFor(flagData, values.env as string);
  }
  const flagDevice = values.device === undefined
    ? undefined
    : oneOf("init", "--device", values.device as string, TRAINING_DEVICES);

  await p.say("A new worldflux project (Enter takes the default in brackets; Ctrl-C stops).\n");
  const dir = await p.ask({
    label: "Directory",
    default: INIT_DEFAULT_DIR,
    check: async (d) => {
      const entries = await entriesOf(d);
      if (entries === null) return `${d} exists and is not a directory`;
      return entries.length && !values.force
        ? `${notEmpty(d, entries.length)}; name another (or run init with --force)`
        : null;
    },
  });
  const family = flagFamily ??
    await p.ask({ label: "Model family", choices: initFamilies(), default: initFamilies()[0] });
  let preset = values.preset as string | undefined;
  if (preset === undefined) {
    const presets = (await listModels({ surface: "all" }))
      .filter((id) => id.startsWith(`${family}:`))
      .map((id) => id.slice(family.length + 1));
    preset = await p.ask({
      label: "Preset",
      choices: presets,
      default: presets.includes("ci") ? "ci" : presets[0],
    });
  }
  let data = flagData;
  if (!data) {
    // --pixels observes frames: only the online sources render them.
    const sources = DATA_SOURCES.filter((d) => !pixels || d === "env" || d === "gym");
    await p.say(sources.map((d) => `  ${d.padEnd(7)} ${DATA_HELP[d]}\n`).join(""));
    data = await p.ask({
      label: "Data source",
      choices: sources,
      default: sources[0],
    }) as DataSource;
  }
  let env = values.env as string | undefined;
  if (env === undefined && data === "env") {
    env = await p.ask({ label: "Environment", choices: listEnvs(), default: "Pendulum-v1" });
  } else if (env === undefined && data === "gym") {
    env = await p.ask({
      label: "Gymnasium environment id",
      default: GYM_INIT_ENV,
      check: (id) => /^[\w./:-]+$/.test(id) ? null : `"${id}" is not a Gymnasium id`,
    });
  }
  const device = flagDevice ??
    (await p.ask({
      label: "Device",
      choices: TRAINING_DEVICES,
      default: "auto",
    }) as TrainingDevice);
  return { dir, family, preset, data, env: envFor(data, env), pixels, device };
}

/** Writes the scaffold of `c` (see the module docs). */
async function scaffold(c: InitChoices, values: InitValues): Promise<number> {
  const { dir, family, data, env } = c;
  const entries = await entriesOf(dir);
  if (entries === null) {
    console.error(`error: ${dir} exists and is not a directory`);
    return EXIT.FAILURE;
  }
  if (entries.length && !values.force) {
    console.error(
      `error: ${notEmpty(dir, entries.length)}; use --force to write the scaffold into it`,
    );
    return EXIT.FAILURE;
  }
  const abs = resolve(dir);
  const name = (values.name as string | undefined) ??
    (abs.split(/[\\/]/).filter(Boolean).pop() ?? "worldflux-project");
  const o: ProjectTemplateOptions = {
    name,
    family,
    preset: c.preset,
    data,
    env,
    pixels: c.pixels,
    device: c.device,
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
}

/**
 * The `init` command asking its questions on `terminal()` (called only when DIR is missing).
 * Tests hand in their own streams; the CLI uses {@link initCommand} (stdin and stdout).
 *
 * @example
 * ```ts
 * import { makeInitCommand } from "./init.ts";
 * const answers = "my-project\n\n\n\n\n"; // directory, then the defaults
 * const cmd = makeInitCommand(() => ({
 *   input: ReadableStream.from([new TextEncoder().encode(answers)]),
 *   output: new WritableStream(),
 *   isTerminal: true,
 * }));
 * await cmd.run([]);
 * ```
 */
export function makeInitCommand(terminal: () => Terminal): Command {
  return {
    name: "init",
    summary: "Scaffold a project: worldflux.toml, README, data/",
    get help(): string {
      return help();
    },
    async run(args: string[]): Promise<number> {
      const { values, positionals } = parseCommandArgs("init", args, {
        family: { type: "string" },
        preset: { type: "string" },
        data: { type: "string" },
        env: { type: "string" },
        pixels: { type: "boolean", default: false },
        device: { type: "string" },
        name: { type: "string" },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      }, true);
      if (values.help) {
        console.log(help());
        return EXIT.OK;
      }
      if (positionals.length > 1) {
        throw new UsageError(`expected one directory, got ${positionals.length}`, "init");
      }
      if (positionals.length === 1) {
        return scaffold(choicesFromFlags(values, positionals[0]), values);
      }
      const term = terminal();
      if (!term.isTerminal) throw new UsageError("DIR is required", "init");
      const prompter = new Prompter(term);
      let choices: InitChoices;
      try {
        choices = await askChoices(values, prompter);
        await prompter.say("\n");
      } catch (e) {
        if (!(e instanceof PromptClosedError)) throw e;
        console.error("init: cancelled (the input ended); nothing was written");
        return EXIT.FAILURE;
      } finally {
        prompter.close();
      }
      return scaffold(choices, values);
    },
  };
}

/** The `init` command (asks on stdin/stdout when DIR is missing and both are a terminal). */
export const initCommand: Command = makeInitCommand(stdioTerminal);
