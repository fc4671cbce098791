/**
 * `worldflux verify --target DIR --mode quick`: checks a training run's artifacts and re-evaluates
 * its model, then writes `<target>/quick_verify.json` with one of three statuses:
 *
 * - `pass`: every artifact is there and parses, and the quality thresholds were met;
 * - `warning`: the workflow completed and the artifacts are valid, but a quality threshold was
 *   missed (the reference's "workflow warning": interpretable, not a quality gate pass);
 * - `fail`: an artifact is missing or broken (manifest, metrics, model, checkpoint, held-out data).
 *
 * Quality, by the run's data (the reference's quick-verify tiers):
 *
 * | data     | tier             | gate                                                              |
 * | -------- | ---------------- | ----------------------------------------------------------------- |
 * | `random` | `synthetic`      | loss on fresh random episodes <= `max_loss_ratio` x the untrained model's |
 * | `npz`    | `offline`        | loss on the held-out episodes <= `max_loss_ratio` x the untrained model's |
 * | `env`, `gym` | `real_env_smoke` | mean return of the family's policy over `episodes` episodes beats random play by `min_return_gain` x max(abs(random), 1) |
 *
 * The untrained model is the same preset and config rebuilt with the run's initialisation seed.
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { DeviceRequest } from "../backend/device.ts";
import type { DeviceName } from "../backend/types.ts";
import { createWorldModel } from "../core/factory.ts";
import { fromPretrained } from "../core/from_pretrained.ts";
import type { WorldModel } from "../core/world_model.ts";
import { WORLDFLUX_VERSION } from "../core/version.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { parseJson } from "../io/json.ts";
import { makeEnv } from "../envs/registry.ts";
import { type EnvArgs, type TrustedGym, verifyEnvArgs } from "./data_env.ts";
import { defaultGenerator } from "../tensor/random.ts";
import { noGrad, type Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/memory.ts";
import { readCheckpoint } from "../training/checkpoint.ts";
import { parseTrainingConfig } from "../core/training_config.ts";
import { randomController } from "../core/controller.ts";
import { evaluateController } from "../core/acting.ts";
import { resolveController } from "../training/family.ts";
import { ReplayBuffer } from "../training/replay_buffer.ts";
import { disposeBatch } from "../core/train_step.ts";
import { type Command, EXIT, formatRows, oneOf, parseCommandArgs, UsageError } from "./command.ts";
import { loadProjectConfig, type ProjectConfig, VERIFY_DEFAULTS } from "./project.ts";
import {
  loadProjectPlugins,
  randomReplayBuffer,
  resolveRunDevice,
  type RunManifest,
} from "./run.ts";

/** Status of a quick verification. */
export type VerifyStatus = "pass" | "warning" | "fail";

/** One check of a verification. */
export interface VerifyCheck {
  /** What was checked (`run_manifest.json`, `return_gain`, ...). */
  readonly name: string;
  /** Whether it passed. */
  readonly ok: boolean;
  /** What was found, in words. */
  readonly detail: string;
  /** The measured value (quality checks). */
  readonly value?: number | null;
  /** The threshold it was compared with (quality checks). */
  readonly threshold?: number | null;
  /** False for informative checks that do not decide the status. */
  readonly gating?: boolean;
}

/** `quick_verify.json` (snake_case, as on disk). */
export interface QuickVerifyReport {
  /** Version of this layout. */
  readonly schema_version: 1;
  /** Always `worldflux-quick-verify`. */
  readonly kind: "worldflux-quick-verify";
  /** `pass`, `warning` or `fail`. */
  readonly status: VerifyStatus;
  /** One sentence on what the status means for this run. */
  readonly summary: string;
  /** Always `quick`. */
  readonly mode: "quick";
  /** `synthetic` (random data), `offline` (npz) or `real_env_smoke` (env). */
  readonly tier: "synthetic" | "offline" | "real_env_smoke" | null;
  /** The verified output directory (absolute). */
  readonly target: string;
  /** The worldflux version that verified. */
  readonly worldflux_version: string;
  /** When (ISO 8601). */
  readonly checked_at_utc: string;
  /** The run's classification (from its manifest). */
  readonly run_classification: string | null;
  /** The run's degraded modes (from its manifest). */
  readonly degraded_modes: readonly string[];
  /** The model verified. */
  readonly model: { readonly id: string; readonly family: string } | null;
  /** Device the model was evaluated on. */
  readonly device: string | null;
  /** Checks of the artifacts (any failure makes the status `fail`). */
  readonly artifacts: readonly VerifyCheck[];
  /** Quality checks (a missed gating one makes the status `warning`). */
  readonly quality: readonly VerifyCheck[];
  /** Measured values (losses, returns) by name. */
  readonly metrics: Readonly<Record<string, number | number[] | null>>;
  /** Seconds the verification took. */
  readonly wall_time_sec: number;
}

/** Options of {@link quickVerify}. */
export interface QuickVerifyOptions {
  /** Evaluation episodes per policy (default: the run's `[verify] episodes`). */
  readonly episodes?: number;
  /** Device to evaluate on (default `"auto"`). */
  readonly device?: DeviceRequest;
  /** Write `<target>/quick_verify.json` (default true). */
  readonly write?: boolean;
  /** Where progress notes go (default: nowhere). */
  readonly log?: (message: string) => void;
  /**
   * Plugin modules verify may load (resolved paths, from the project file; default none). The
   * run's manifest lists the plugins it used, but run_manifest.json is a data file: a plugin it
   * names is loaded only when it is in this list.
   */
  readonly plugins?: readonly string[];
  /**
   * What the project file trusts for a Gymnasium run (interpreter, Python path, a `module:Id`
   * id); default none: the interpreter is then `WORLDFLUX_PYTHON`, else `python3`.
   */
  readonly gym?: TrustedGym;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<unknown> {
  return parseJson(await Deno.readTextFile(path));
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function validateManifest(m: unknown): string | null {
  if (!isObj(m)) return "not a JSON object";
  if (m.kind !== "worldflux-run") {
    return `kind is ${JSON.stringify(m.kind)}, expected "worldflux-run"`;
  }
  const model = m.model, data = m.data, training = m.training;
  if (!isObj(model) || typeof model.spec !== "string" || !Array.isArray(model.obs_shape)) {
    return "model (spec, obs_shape, ...) is missing";
  }
  if (!isObj(data) || typeof data.source !== "string") return "data.source is missing";
  if (!isObj(training) || !isObj(training.config)) return "training.config is missing";
  if (typeof m.run_classification !== "string") return "run_classification is missing";
  if (!Array.isArray(m.degraded_modes)) return "degraded_modes is missing";
  return null;
}

async function checkMetrics(path: string): Promise<{ ok: boolean; detail: string }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return { ok: false, detail: "missing" };
  }
  const lines = text.split("\n").filter((l) => l.trim());
  let train = 0, evals = 0, end = 0, withLoss = 0;
  for (let i = 0; i < lines.length; i++) {
    let o: unknown;
    try {
      o = JSON.parse(lines[i]);
    } catch {
      return { ok: false, detail: `line ${i + 1} is not JSON` };
    }
    if (!isObj(o)) return { ok: false, detail: `line ${i + 1} is not a JSON object` };
    if (o.kind === "train") {
      train++;
      if (typeof o.loss === "number" && Number.isFinite(o.loss)) withLoss++;
    } else if (o.kind === "eval") evals++;
    else if (o.kind === "end") end++;
  }
  if (end === 0) return { ok: false, detail: "no end line (the run did not finish)" };
  if (withLoss === 0) {
    // Valid for a run without updates (say, all prefill); the quality checks flag that.
    return { ok: true, detail: `${lines.length} lines, no logged loss (no update ran?)` };
  }
  return {
    ok: true,
    detail:
      `${lines.length} lines: ${train} train logs (${withLoss} with a loss), ${evals} evaluations`,
  };
}

/**
 * Mean loss of `model` over `batches` batches of `buffer` (the same batches and random draws for
 * every model given the same `seed`; no gradients).
 */
export async function heldoutLoss(
  model: WorldModel,
  buffer: ReplayBuffer,
  o: { batches: number; batchSize: number; seqLen: number; seed: number; device: DeviceName },
): Promise<number> {
  const g = defaultGenerator();
  const saved = g.state();
  const wasTraining = model.training;
  model.eval();
  // Short episodes (env evaluations) are sampled zero-padded, with a mask.
  let pad = false;
  try {
    buffer.sampleArrays(1, o.seqLen, { seed: 0 });
  } catch {
    pad = true;
  }
  let total = 0;
  try {
    g.setState({ seed: o.seed, counter: 0 });
    for (let i = 0; i < o.batches; i++) {
      const batch = buffer.sample(o.batchSize, o.seqLen, {
        seed: o.seed + 7919 * (i + 1),
        device: o.device,
        pad,
      });
      let t: Tensor;
      try {
        t = tidy(() => noGrad(() => model.loss(batch).loss.reshape([])));
      } finally {
        disposeBatch(batch);
      }
      total += await t.item();
      t.dispose();
    }
  } finally {
    g.setState(saved);
    model.train(wasTraining);
  }
  return total / o.batches;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Verifies the run in `target` (see the module docs), writes `quick_verify.json` there and
 * returns the report. Never throws for a broken run: that is a `fail` report.
 */
export async function quickVerify(
  target: string,
  opts: QuickVerifyOptions = {},
): Promise<QuickVerifyReport> {
  const t0 = performance.now();
  const dir = resolve(target);
  const log = opts.log ?? (() => {});
  const artifacts: VerifyCheck[] = [];
  const quality: VerifyCheck[] = [];
  const metrics: Record<string, number | number[] | null> = {};
  let manifest: RunManifest | null = null;
  let model: WorldModel | null = null;
  let device: DeviceName | null = null;
  const art = (name: string, ok: boolean, detail: string) => artifacts.push({ name, ok, detail });

  // --- Artifacts -------------------------------------------------------------------------------
  try {
    const m = await readJson(join(dir, "run_manifest.json"));
    const problem = validateManifest(m);
    if (problem) art("run_manifest.json", false, problem);
    else {
      manifest = m as RunManifest;
      art(
        "run_manifest.json",
        true,
        `${manifest.model.id}, ${manifest.training.steps} steps, ${manifest.run_classification}`,
      );
    }
  } catch (e) {
    art(
      "run_manifest.json",
      false,
      e instanceof Deno.errors.NotFound
        ? `missing: is ${target} the output directory of "worldflux train"?`
        : `unreadable: ${(e as Error).message}`,
    );
  }
  const mm = await checkMetrics(join(dir, manifest?.artifacts?.metrics ?? "metrics.jsonl"));
  art("metrics.jsonl", mm.ok, mm.detail);
  if (manifest) {
    try {
      const trusted = new Set((opts.plugins ?? []).map((p) => resolve(p)));
      const named = Array.isArray(manifest.plugins) ? manifest.plugins : [];
      const unlisted = named.filter((p) => typeof p !== "string" || !trusted.has(resolve(p)));
      if (unlisted.length) {
        log(
          `the run used ${unlisted.length} plugin(s) not listed in the project file given to ` +
            `verify (-c): not loaded (code is loaded from project files, never from ` +
            `run_manifest.json)`,
        );
      }
      await loadProjectPlugins(named.filter((p) => !unlisted.includes(p)));
      device = (await resolveRunDevice(opts.device ?? "auto")).selected;
      model = await fromPretrained(join(dir, manifest.artifacts?.model ?? "model"), { device });
      const fp = await model.contractFingerprint();
      if (model.modelType !== manifest.model.family) {
        art(
          "model",
          false,
          `holds a ${model.modelType} model, the manifest says ${manifest.model.family}`,
        );
      } else if (fp !== manifest.model.contract_fingerprint) {
        art("model", false, "its contract fingerprint differs from the manifest's");
      } else {
        const n = model.parameters().reduce((a, t) => a + t.size, 0);
        art("model", true, `loads (${n.toLocaleString("en-US")} parameters on ${device})`);
      }
    } catch (e) {
      art("model", false, `does not load: ${(e as Error).message}`);
      model?.dispose();
      model = null;
    }
    const ck = manifest.artifacts?.final_checkpoint;
    if (ck) {
      try {
        const c = await readCheckpoint(join(dir, ck));
        art(ck, true, `step ${c.trainer.step}, ${c.trainer.updates} updates`);
      } catch (e) {
        art(ck, false, (e as Error).message);
      }
    } else art("checkpoint_final", false, "the manifest lists no final checkpoint");
    if (manifest.artifacts?.holdout) {
      try {
        const h = await ReplayBuffer.load(join(dir, manifest.artifacts.holdout));
        art(manifest.artifacts.holdout, true, `${h.size} transitions, ${h.numEpisodes} episodes`);
      } catch (e) {
        art(manifest.artifacts.holdout, false, (e as Error).message);
      }
    }
  }
  const artifactsOk = artifacts.every((a) => a.ok);

  // --- Quality ---------------------------------------------------------------------------------
  const source = manifest?.data?.source ?? null;
  const tier = source === "random"
    ? "synthetic"
    : source === "npz"
    ? "offline"
    : source === "env" || source === "gym"
    ? "real_env_smoke"
    : null;
  if (artifactsOk && manifest && model && device) {
    const th = { ...VERIFY_DEFAULTS, ...camelVerify(manifest.verify ?? {}) };

    const episodes = opts.episodes ?? th.episodes;
    const tc = parseTrainingConfig(manifest.training.config, { keys: "snake" });
    let fresh: WorldModel | null = null;
    const untrained = async () =>
      fresh ??= await createWorldModel(manifest!.model.spec, {
        ...manifest!.model.create_args,
        device: device!,
        seed: manifest!.model.init_seed,
      });
    const lossCheck = async (buffer: ReplayBuffer, what: string, gating: boolean) => {
      const lo = {
        batches: th.batches,
        batchSize: tc.batchSize,
        seqLen: tc.sequenceLength,
        seed: 12345,
        device: device!,
      };
      log(`held-out loss on ${what}`);
      const trained = await heldoutLoss(model!, buffer, lo);
      const base = await heldoutLoss(await untrained(), buffer, lo);
      const ratio = base > 0 ? trained / base : trained <= base ? 0 : Infinity;
      metrics.heldout_loss = trained;
      metrics.untrained_heldout_loss = base;
      metrics.heldout_loss_ratio = Number.isFinite(ratio) ? ratio : null;
      quality.push({
        name: "heldout_loss_ratio",
        ok: ratio <= th.maxLossRatio,
        value: Number.isFinite(ratio) ? ratio : null,
        threshold: th.maxLossRatio,
        gating,
        detail: `loss on ${what}: ${trained.toPrecision(4)} trained vs ${base.toPrecision(4)} ` +
          `untrained (ratio ${ratio.toFixed(3)}, must be <= ${th.maxLossRatio})`,
      });
    };
    try {
      if (source === "random") {
        const d = manifest.data as Record<string, unknown>;
        const buf = randomReplayBuffer({
          source: "random",
          obsShape: d.obs_shape as number[],
          actionDim: d.action_dim as number,
          actionType: d.action_type as "continuous" | "discrete",
          episodes: Math.max(2, Math.ceil((d.episodes as number) / 4)),
          episodeLength: d.episode_length as number,
        }, (manifest.model.init_seed + 1_000_003) >>> 0);
        await lossCheck(buf, "fresh random episodes", true);
      } else if (source === "npz") {
        let buf: ReplayBuffer;
        let what: string;
        if (manifest.artifacts.holdout) {
          buf = await ReplayBuffer.load(join(dir, manifest.artifacts.holdout));
          what = "the held-out episodes";
        } else {
          const base = manifest.project.config_path ? dirname(manifest.project.config_path) : ".";
          const p = String((manifest.data as Record<string, unknown>).path);
          buf = await ReplayBuffer.load(resolve(base, p));
          what = "the training data (nothing was held out)";
        }
        await lossCheck(buf, what, true);
      } else if (source === "env" || source === "gym") {
        const d = manifest.data as Record<string, unknown>;
        // Runs record the exact makeEnv arguments (make_env); older env runs their fields. What
        // would run code (Python's interpreter, path, modules) comes from the project file.
        const recorded = d.make_env as EnvArgs | undefined;
        const args = recorded ? verifyEnvArgs(recorded, opts.gym ?? null) : null;
        if (args?.options.gym && d.gym && typeof d.gym === "object") {
          const ran = (d.gym as Record<string, unknown>).python;
          log(
            `Gymnasium environment: ran with ${ran}, evaluated with ` +
              `${args.options.gym.python ?? "WORLDFLUX_PYTHON, else python3"}`,
          );
        }
        const mk = () =>
          args ? makeEnv(args.id, args.options) : makeEnv(String(d.env), {
            pixels: Boolean(d.pixels),
            frameSkip: Number(d.frame_skip ?? 1),
            maxEpisodeSteps: typeof d.max_episode_steps === "number"
              ? d.max_episode_steps
              : undefined,
            normalizeActions: true,
          });
        const env = await mk();
        try {
          const space = env.actionSpace;
          const controller = resolveController(model, {
            actionSpace: space,
            observationSpace: env.observationSpace,
            config: tc,
          });
          const seed = 900_000;
          log(`random policy: ${episodes} episodes`);
          const { returns: rnd } = await evaluateController(env, randomController(space, 77), {
            episodes,
            seed,
          });
          metrics.random_returns = rnd;
          metrics.random_mean_return = mean(rnd);
          if (!controller) {
            quality.push({
              name: "return_gain",
              ok: false,
              gating: true,
              value: null,
              threshold: th.minReturnGain,
              detail: `the ${model.modelType} family has no controller: no policy to evaluate`,
            });
          } else {
            const cap = Number.isFinite(env.maxEpisodeSteps) ? env.maxEpisodeSteps : 1000;
            const record = new ReplayBuffer({
              capacity: Math.max(2, episodes * cap),
              obsShape: env.observationSpace.shape,
              actionDim: space.kind === "discrete" ? space.n : space.shape[0],
              obsDtype: env.observationSpace.dtype === "uint8" ? "uint8" : "float32",
              seed: 5,
            });
            log(`${model.modelType} policy: ${episodes} episodes`);
            const g = defaultGenerator();
            const saved = g.state();
            g.setState({ seed: 4242, counter: 0 });
            const wasTraining = model.training;
            model.eval();
            let ret: number[];
            try {
              ret = (await evaluateController(env, controller, { episodes, seed, record }))
                .returns;
            } finally {
              model.train(wasTraining);
              g.setState(saved);
            }
            metrics.policy_returns = ret;
            metrics.policy_mean_return = mean(ret);
            const r = mean(rnd), p = mean(ret);
            const gain = (p - r) / Math.max(Math.abs(r), 1);
            metrics.return_gain = gain;
            quality.push({
              name: "return_gain",
              ok: gain >= th.minReturnGain,
              value: gain,
              threshold: th.minReturnGain,
              gating: true,
              detail:
                `mean return ${p.toFixed(1)} (${model.modelType} policy) vs ${r.toFixed(1)} ` +
                `(random) over ${episodes} episodes: gain ${gain.toFixed(3)} x max(|random|, 1), ` +
                `must be >= ${th.minReturnGain}`,
            });
            await lossCheck(record, "the evaluation episodes", false);
          }
        } finally {
          env.close();
        }
      }
    } catch (e) {
      quality.push({
        name: "evaluation",
        ok: false,
        gating: true,
        detail: `the model could not be evaluated: ${(e as Error).message}`,
      });
      artifacts.push({ name: "model", ok: false, detail: "fails on evaluation (see quality)" });
    } finally {
      (fresh as WorldModel | null)?.dispose();
    }
    const updates = Number(manifest.training.updates ?? 0);
    if (!(updates > 0)) {
      quality.push({
        name: "updates",
        ok: false,
        value: updates,
        threshold: 1,
        gating: true,
        detail: "no gradient update ran (total_steps <= prefill_steps?): the model is untrained",
      });
    }
  }
  model?.dispose();

  const broken = artifacts.filter((a) => !a.ok);
  const missed = quality.filter((q) => !q.ok && q.gating !== false);
  const status: VerifyStatus = broken.length ? "fail" : missed.length ? "warning" : "pass";
  const summary = status === "fail"
    ? `artifacts are broken: ${broken.map((a) => `${a.name} (${a.detail})`).join("; ")}`
    : status === "warning"
    ? `the workflow completed and the artifacts are valid, but ${
      missed.map((q) => q.name).join(", ")
    } missed ${missed.length > 1 ? "their thresholds" : "its threshold"}: not a quality gate pass`
    : "the workflow completed, the artifacts are valid and the quality thresholds were met";
  const report: QuickVerifyReport = {
    schema_version: 1,
    kind: "worldflux-quick-verify",
    status,
    summary,
    mode: "quick",
    tier,
    target: dir,
    worldflux_version: WORLDFLUX_VERSION,
    checked_at_utc: new Date().toISOString(),
    run_classification: manifest?.run_classification ?? null,
    degraded_modes: manifest?.degraded_modes ?? [],
    model: manifest ? { id: manifest.model.id, family: manifest.model.family } : null,
    device,
    artifacts,
    quality,
    metrics,
    wall_time_sec: (performance.now() - t0) / 1000,
  };
  if (opts.write ?? true) {
    try {
      await writeFileAtomic(join(dir, "quick_verify.json"), JSON.stringify(report, null, 2) + "\n");
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return report;
}

function camelVerify(v: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "number") out[k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] = x;
  }
  return out;
}

/** The report as text (what `worldflux verify` prints). */
export function formatVerifyReport(r: QuickVerifyReport): string {
  const mark = (ok: boolean, gating = true) => (ok ? "ok  " : gating ? "FAIL" : "info");
  const lines = [
    `quick verify: ${r.status.toUpperCase()}${r.model ? ` (${r.model.id}, tier ${r.tier})` : ""}`,
    `  ${r.summary}`,
    "",
    "artifacts",
    ...r.artifacts.map((a) => `  [${mark(a.ok)}] ${a.name}: ${a.detail}`),
  ];
  if (r.quality.length) {
    lines.push("", "quality");
    for (const q of r.quality) {
      lines.push(
        `  [${q.ok ? "ok  " : q.gating === false ? "info" : "MISS"}] ${q.name}: ${q.detail}`,
      );
    }
  }
  const rows: [string, string][] = [
    ["classification", r.run_classification ?? "?"],
    ["degraded modes", r.degraded_modes.length ? r.degraded_modes.join(", ") : "none"],
  ];
  lines.push("", formatRows(rows, 0));
  return lines.join("\n");
}

const HELP = `Usage: worldflux verify --target DIR [--mode quick] [--episodes N]
                        [--device auto|cpu|webgpu] [--format text|json]
                        [-c worldflux.toml]

Checks the artifacts of a "worldflux train" run in DIR (run_manifest.json,
metrics.jsonl, model/, checkpoint_final, holdout.npz), re-evaluates the model
and writes DIR/quick_verify.json with a status:

  pass     artifacts valid and quality thresholds met
  warning  the workflow completed and the artifacts are valid, but a quality
           threshold was missed (not a quality gate pass)
  fail     an artifact is missing or broken

Quality, by the run's data ([verify] thresholds in worldflux.toml):
  random  loss on fresh random episodes <= max_loss_ratio (0.95) x the
          untrained model's (tier "synthetic")
  npz     loss on the held-out episodes <= max_loss_ratio x the untrained
          model's (tier "offline")
  env     the family's policy beats random play over N episodes by
          min_return_gain (0.1) x max(|random return|, 1) (tier "real_env_smoke")

Options:
  --target <dir>          Output directory of the run (required)
  --mode <mode>           Verification mode; only "quick" (default)
  --episodes <n>          Evaluation episodes per policy (env runs)
  --device <device>       auto (default), cpu or webgpu
  --format <text|json>    Output format (default: text)
  -c, --config <file>     Project file whose plugins the model needs (default:
                          ./worldflux.toml when present); plugins named only by
                          run_manifest.json are never loaded. For gym runs the
                          Python interpreter, python_path and a module:Id env
                          also come from it (default: WORLDFLUX_PYTHON, else
                          python3), never from run_manifest.json
  -h, --help              Show this help

Exit codes: 0 pass or warning, 1 fail, 2 wrong command line.`;

/** The `verify` command. */
export const verifyCommand: Command = {
  name: "verify",
  summary: "Check a run's artifacts and re-evaluate its model (quick_verify.json)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("verify", args, {
      target: { type: "string" },
      mode: { type: "string", default: "quick" },
      episodes: { type: "string" },
      device: { type: "string", default: "auto" },
      format: { type: "string", default: "text" },
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    if (values.target === undefined) throw new UsageError("--target DIR is required", "verify");
    oneOf("verify", "--mode", values.mode as string, ["quick"]);
    const format = oneOf("verify", "--format", values.format as string, ["text", "json"]);
    const device = oneOf(
      "verify",
      "--device",
      values.device as string,
      [
        "auto",
        "cpu",
        "webgpu",
      ] as const,
    );
    let episodes: number | undefined;
    if (values.episodes !== undefined) {
      episodes = Number(values.episodes);
      if (!/^\d+$/.test(values.episodes as string) || episodes < 1) {
        throw new UsageError(
          `--episodes must be a positive integer, got "${values.episodes}"`,
          "verify",
        );
      }
    }
    // The project file is trusted with code (its plugins, its Python); the default one only when
    // readable.
    let project: ProjectConfig | null = null;
    if (values.config !== undefined) {
      project = await loadProjectConfig(values.config as string);
    } else if (await isFile("worldflux.toml")) {
      project = await loadProjectConfig("worldflux.toml").catch(() => null);
    }
    const data = project?.data;
    const report = await quickVerify(values.target as string, {
      episodes,
      device,
      plugins: project?.plugins ?? [],
      gym: data?.source === "gym"
        ? { python: data.python, pythonPath: data.pythonPath, env: data.env }
        : undefined,
      log: format === "text" ? (m) => console.error(`verify: ${m}`) : undefined,
    });
    console.log(format === "json" ? JSON.stringify(report, null, 2) : formatVerifyReport(report));
    return report.status === "fail" ? EXIT.FAILURE : EXIT.OK;
  },
};
