/**
 * {@link TrainingConfig}: every knob of the offline {@link Trainer} and the online loop, validated
 * by a zod schema, with the reference's defaults (WorldFlux 0.1.1 `TrainingConfig`).
 *
 * | field            | default       | source                                                    |
 * | ---------------- | ------------- | --------------------------------------------------------- |
 * | `totalSteps`     | 100_000       | reference (`total_steps`)                                 |
 * | `batchSize`      | 16            | reference                                                 |
 * | `sequenceLength` | 50            | reference                                                 |
 * | `learningRate`   | 3e-4          | reference                                                 |
 * | `gradClip`       | 100           | reference (global-norm clip; 0 turns it off)              |
 * | `weightDecay`    | 0             | reference                                                 |
 * | `warmupSteps`    | 0             | reference                                                 |
 * | `optimizer`      | `"adamw"`     | reference (with `weightDecay` 0 the update is Adam's)     |
 * | `scheduler`      | `"none"`      | reference (`none`/`constant`, `linear`, `cosine`)         |
 * | `logInterval`    | 100           | reference                                                 |
 * | `evalInterval`   | 1000          | reference                                                 |
 * | `saveInterval`   | 10_000        | reference                                                 |
 * | `outputDir`      | `"./outputs"` | reference                                                 |
 * | `device`         | `"auto"`      | reference (`"auto"` keeps the model where it was created) |
 * | `seed`           | 42            | reference                                                 |
 * | `compile`        | true          | ours: trace the update once with `compile()`              |
 * | `trainRatio`     | 1             | ours (online): gradient updates per environment step      |
 * | `prefillSteps`   | 1000          | ours (online): random-action steps before learning (TD-MPC2's minimum `seed_steps`) |
 * | `prefillUpdates` | 0             | ours (online): extra updates when the prefill ends (TD-MPC2 pretrains `seed_steps` updates) |
 * | `evalEpisodes`   | 10            | ours (online): episodes per evaluation (TD-MPC2's `eval_episodes`) |
 * | `bufferCapacity` | 1_000_000     | ours (online): replay capacity, capped at `totalSteps`    |
 *
 * Offline, a step is one gradient update; online (`trainOnline`), a step is one environment step
 * (as TD-MPC2 and DreamerV3 count), and the intervals count environment steps too. DreamerV3's
 * `train_ratio` (replayed steps per environment step) is `trainRatio * batchSize * sequenceLength`.
 *
 * On disk (`worldflux.toml`'s `[training]` table, `training_config.json` in checkpoints) the keys
 * are snake_case; {@link parseTrainingConfig} reads either spelling and refuses unknown keys.
 * @module
 */

import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { configSchemaFor } from "./config_schema.ts";
import { camelToSnake, closestNames, snakeToCamel } from "./naming.ts";

/** Optimizers the default training step can build. */
export const TRAINING_OPTIMIZERS = ["adamw", "adam", "laprop"] as const;
/** Learning-rate schedules of the default training step. */
export const TRAINING_SCHEDULERS = ["none", "constant", "linear", "cosine"] as const;
/** Device requests of a training run. */
export const TRAINING_DEVICES = ["auto", "cpu", "webgpu"] as const;

/** A validated training configuration (camelCase; snake_case on disk). */
export interface TrainingConfig {
  /** Gradient updates (offline) or environment steps (online) to run (default 100_000). */
  readonly totalSteps: number;
  /** Sequences per batch (default 16). */
  readonly batchSize: number;
  /** Steps per sampled sequence (default 50). */
  readonly sequenceLength: number;
  /** Learning rate of the default optimizer (default 3e-4). */
  readonly learningRate: number;
  /** Global gradient-norm clip; 0 turns clipping off (default 100). */
  readonly gradClip: number;
  /** Weight decay (decoupled for AdamW/LaProp, L2 for Adam; default 0). */
  readonly weightDecay: number;
  /** Linear learning-rate warmup steps (default 0). */
  readonly warmupSteps: number;
  /** `"adamw"` (default), `"adam"` or `"laprop"`. */
  readonly optimizer: (typeof TRAINING_OPTIMIZERS)[number];
  /** `"none"`/`"constant"` (default: constant after warmup), `"linear"` or `"cosine"` to 0. */
  readonly scheduler: (typeof TRAINING_SCHEDULERS)[number];
  /** Read the loss back and log every this many steps (default 100). */
  readonly logInterval: number;
  /** Evaluate every this many steps (default 1000). */
  readonly evalInterval: number;
  /** Write a checkpoint every this many steps (default 10_000). */
  readonly saveInterval: number;
  /** Directory of metrics and checkpoints (default `./outputs`). */
  readonly outputDir: string;
  /** `"auto"` (default: the model's device), `"cpu"` or `"webgpu"`. */
  readonly device: (typeof TRAINING_DEVICES)[number];
  /** Seed of the global generator, the replay sampling and the environments (default 42). */
  readonly seed: number;
  /** Trace the update once with `compile()` and replay it (default true). */
  readonly compile: boolean;
  /** Online: gradient updates per environment step, may be fractional (default 1). */
  readonly trainRatio: number;
  /** Online: environment steps with random actions before the first update (default 1000). */
  readonly prefillSteps: number;
  /**
   * Online: extra gradient updates run once, at the first learning step right after the prefill,
   * before acting with the controller (default 0). TD-MPC2's online trainer pretrains on the seed
   * data with as many updates as there were seed steps (`seed_steps`, 5,000 for 1,000-step
   * episodes); set it to `prefillSteps` for that.
   */
  readonly prefillUpdates: number;
  /** Online: episodes per evaluation; 0 turns evaluation off (default 10). */
  readonly evalEpisodes: number;
  /** Online: replay capacity in transitions, capped at `totalSteps` (default 1_000_000). */
  readonly bufferCapacity: number;
}

/** A partial config in camelCase or snake_case (what {@link parseTrainingConfig} takes). */
export type TrainingConfigInput = Partial<TrainingConfig> | Readonly<Record<string, unknown>>;

const posInt = z.number().int().min(1);
const nonNegInt = z.number().int().min(0);

const rawSchema = z.object({
  totalSteps: posInt.default(100_000),
  batchSize: posInt.default(16),
  sequenceLength: posInt.default(50),
  learningRate: z.number().positive().finite().default(3e-4),
  gradClip: z.number().min(0).finite().default(100),
  weightDecay: z.number().min(0).finite().default(0),
  warmupSteps: nonNegInt.default(0),
  optimizer: z.enum(TRAINING_OPTIMIZERS).default("adamw"),
  scheduler: z.enum(TRAINING_SCHEDULERS).default("none"),
  logInterval: posInt.default(100),
  evalInterval: posInt.default(1000),
  saveInterval: posInt.default(10_000),
  outputDir: z.string().min(1).default("./outputs"),
  device: z.enum(TRAINING_DEVICES).default("auto"),
  seed: z.number().int().min(-(2 ** 53 - 1)).max(2 ** 53 - 1).default(42),
  compile: z.boolean().default(true),
  trainRatio: z.number().positive().finite().default(1),
  prefillSteps: nonNegInt.default(1000),
  prefillUpdates: nonNegInt.default(0),
  evalEpisodes: nonNegInt.default(10),
  bufferCapacity: posInt.default(1_000_000),
}).strict();
/** The schema, checked against {@link TrainingConfig} field by field. */
const schema = configSchemaFor<TrainingConfig>()(rawSchema);

/** What each field must be, for error messages. */
const RULES: Record<keyof TrainingConfig, string> = {
  totalSteps: "an integer >= 1",
  batchSize: "an integer >= 1",
  sequenceLength: "an integer >= 1",
  learningRate: "a number > 0",
  gradClip: "a number >= 0 (0 turns clipping off)",
  weightDecay: "a number >= 0",
  warmupSteps: "an integer >= 0",
  optimizer: `one of ${TRAINING_OPTIMIZERS.map((x) => `"${x}"`).join(", ")}`,
  scheduler: `one of ${TRAINING_SCHEDULERS.map((x) => `"${x}"`).join(", ")}`,
  logInterval: "an integer >= 1",
  evalInterval: "an integer >= 1",
  saveInterval: "an integer >= 1",
  outputDir: "a non-empty path",
  device: `one of ${TRAINING_DEVICES.map((x) => `"${x}"`).join(", ")}`,
  seed: "a safe integer",
  compile: "true or false",
  trainRatio: "a number > 0",
  prefillSteps: "an integer >= 0",
  prefillUpdates: "an integer >= 0",
  evalEpisodes: "an integer >= 0",
  bufferCapacity: "an integer >= 1",
};

/** Every field of {@link TrainingConfig}, in declaration order. */
export const TRAINING_CONFIG_FIELDS: readonly (keyof TrainingConfig)[] = Object.freeze(
  Object.keys(rawSchema.shape) as (keyof TrainingConfig)[],
);

/** The defaults of every field. */
export const TRAINING_CONFIG_DEFAULTS: TrainingConfig = Object.freeze(
  schema.parse({}),
);

/** Options of {@link parseTrainingConfig}. */
export interface ParseTrainingConfigOptions {
  /**
   * Key spelling accepted: `"any"` (default: camelCase or snake_case), `"camel"`, or `"snake"`
   * (`worldflux.toml`, JSON on disk).
   */
  readonly keys?: "any" | "camel" | "snake";
  /** Where the config came from, for error messages (e.g. `"worldflux.toml [training]"`). */
  readonly source?: string;
}

function describe(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Validates a (partial) training config: missing fields get their defaults; an unknown key is a
 * {@link ConfigError} that lists the valid fields (and the closest one); a bad value names the
 * field, what it must be, and what it got. TOML integers that arrive as bigints are accepted.
 *
 * @example
 * ```ts
 * import { parseTrainingConfig } from "@worldflux/worldflux";
 * const cfg = parseTrainingConfig({ total_steps: 500, batchSize: 8 });
 * console.log(cfg.totalSteps, cfg.batchSize, cfg.learningRate); // 500 8 0.0003
 * ```
 */
export function parseTrainingConfig(
  input: TrainingConfigInput | null | undefined = {},
  opts: ParseTrainingConfigOptions = {},
): TrainingConfig {
  const where = opts.source ? `${opts.source}: ` : "training config: ";
  const keys = opts.keys ?? "any";
  if (input === null || input === undefined) input = {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError(`${where}expected a table of fields, got ${describe(input)}`);
  }
  const fields = TRAINING_CONFIG_FIELDS as readonly string[];
  const shown = (f: string) => (keys === "snake" ? camelToSnake(f) : f);
  const out: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const [rawKey, rawValue] of Object.entries(input)) {
    if (rawValue === undefined) continue;
    const camel = snakeToCamel(rawKey);
    const spelledOk = keys === "any" ||
      (keys === "camel" ? rawKey === camel : rawKey === camelToSnake(camel));
    if (!fields.includes(camel) || !spelledOk) {
      const names = fields.map(shown);
      const near = closestNames(keys === "snake" ? camelToSnake(camel) : camel, names);
      throw new ConfigError(
        `${where}unknown field "${rawKey}"${near.length ? ` (did you mean "${near[0]}"?)` : ""}; ` +
          `valid fields: ${names.join(", ")}`,
      );
    }
    if (camel in origin) {
      throw new ConfigError(
        `${where}"${origin[camel]}" and "${rawKey}" are the same field; give it once`,
      );
    }
    origin[camel] = rawKey;
    out[camel] = typeof rawValue === "bigint" ? Number(rawValue) : rawValue;
  }
  const r = schema.safeParse(out);
  if (!r.success) {
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const issue of r.error.issues) {
      const f = String(issue.path[0] ?? "");
      if (seen.has(f)) continue;
      seen.add(f);
      const rule = RULES[f as keyof TrainingConfig];
      const got = f in out ? `, got ${describe(out[f])}` : "";
      problems.push(`${origin[f] ?? shown(f)} must be ${rule ?? issue.message}${got}`);
    }
    throw new ConfigError(`${where}${problems.join("; ")}`);
  }
  return Object.freeze(r.data);
}

/** The config with snake_case keys (for `worldflux.toml`, JSON files and checkpoints). */
export function trainingConfigToSnakeCase(config: TrainingConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of TRAINING_CONFIG_FIELDS) out[camelToSnake(f)] = config[f];
  return out;
}

/** Reads a snake_case table (`worldflux.toml`'s `[training]`, JSON); camelCase keys are refused. */
export function trainingConfigFromSnakeCase(
  table: Readonly<Record<string, unknown>>,
  source = "training config",
): TrainingConfig {
  return parseTrainingConfig(table, { keys: "snake", source });
}

/** Fields whose change alters the training trajectory (compared when resuming). */
export const TRAJECTORY_FIELDS: readonly (keyof TrainingConfig)[] = [
  "batchSize",
  "sequenceLength",
  "learningRate",
  "gradClip",
  "weightDecay",
  "warmupSteps",
  "optimizer",
  "scheduler",
  "seed",
  "trainRatio",
  "prefillSteps",
];

/**
 * Fields an online run must keep to be resumed (a change refuses the resume): the trajectory's,
 * plus the prefill updates, the replay capacity and the evaluation schedule (the run's records).
 * `totalSteps` may change: a resumed run can be extended.
 */
export const ONLINE_RESUME_FIELDS: readonly (keyof TrainingConfig)[] = [
  ...TRAJECTORY_FIELDS,
  "prefillUpdates",
  "bufferCapacity",
  "evalInterval",
  "evalEpisodes",
];
