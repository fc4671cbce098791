/**
 * `run_manifest.json`: what a `worldflux train` run was (project, command, device, model, data,
 * training, evaluation, artifacts, runtime), as `worldflux verify` and readers of a run
 * directory see it; and how a run builds it.
 * @module
 */

import type { DeviceRequest } from "../backend/device.ts";
import type { DeviceName } from "../backend/types.ts";
import { camelToSnake, mapKeys } from "../core/naming.ts";
import { MODEL_CATALOG } from "../core/registry.ts";
import type { WorldModel } from "../core/world_model.ts";
import { WORLDFLUX_VERSION } from "../core/version.ts";
import type { Metrics, TrainSummary } from "../training/callbacks.ts";
import { type TrainingConfig, trainingConfigToSnakeCase } from "../core/training_config.ts";
import type { OnlineResult } from "../training/online.ts";
import type { DataConfig, ProjectConfig } from "./project.ts";

/** Version of the run manifest's layout. */
export const RUN_MANIFEST_VERSION = 1;

/** What a run is evidence of (the reference's two newcomer lanes). */
export type RunClassification = "contract_smoke" | "meaningful_local_training";

/** `run_manifest.json` (snake_case, as on disk). */
export interface RunManifest {
  /** Version of this layout ({@link RUN_MANIFEST_VERSION}). */
  readonly schema_version: number;
  /** Always `worldflux-run`. */
  readonly kind: "worldflux-run";
  /** The worldflux version that trained. */
  readonly worldflux_version: string;
  /** When the manifest was written (ISO 8601). */
  readonly created_at_utc: string;
  /** The project's name and config file. */
  readonly project: { readonly name: string; readonly config_path: string | null };
  /** The command line, when the run came from the CLI. */
  readonly command: readonly string[] | null;
  /** `contract_smoke` (random data) or `meaningful_local_training` (environment or dataset). */
  readonly run_classification: RunClassification;
  /** What made this run weaker than it looks (empty for a clean run); see the README. */
  readonly degraded_modes: readonly string[];
  /**
   * Online runs: the learning budget's thresholds and whether the run met them (see
   * `learning_budget.ts`; a shortfall adds the degraded mode `below_learning_budget`). Null
   * offline.
   */
  readonly learning_budget: {
    readonly min_env_steps: number;
    readonly min_updates: number;
    readonly met: boolean;
    readonly shortfalls: readonly string[];
  } | null;
  /** Notes the run printed (fallbacks, warnings). */
  readonly notes: readonly string[];
  /** Plugin modules loaded for the run. */
  readonly plugins: readonly string[];
  /** The device asked for, the one used, and why (`auto`). */
  readonly device: {
    readonly requested: DeviceRequest;
    readonly selected: DeviceName;
    readonly reason: string;
  };
  /** The model: preset, tier, counted parameters, shapes, how to rebuild it untrained. */
  readonly model: {
    readonly spec: string;
    readonly id: string;
    readonly family: string;
    readonly preset: string;
    readonly tier: string | null;
    readonly maturity: string | null;
    readonly parameters: number;
    readonly obs_shape: readonly number[];
    readonly action_dim: number;
    readonly action_type: "continuous" | "discrete";
    /** Arguments of `createWorldModel(spec, ...)` besides the device (snake_case). */
    readonly create_args: Readonly<Record<string, unknown>>;
    /** Seed of the parameter initialisation (the untrained baseline of `verify`). */
    readonly init_seed: number;
    readonly contract_fingerprint: string;
    readonly dir: string;
  };
  /** The data: source and its details. */
  readonly data: Readonly<Record<string, unknown>> & { readonly source: DataConfig["source"] };
  /** The training config (snake_case) and how the run went. */
  readonly training: {
    readonly mode: "offline" | "online";
    readonly config: Readonly<Record<string, unknown>>;
    readonly total_steps: number;
    readonly steps: number;
    readonly updates: number;
    readonly wall_time_sec: number;
    readonly steps_per_sec: number;
    readonly compiled: boolean;
    readonly train_step: string;
    readonly controller: string | null;
    readonly resumed_from: string | null;
    readonly stopped_early: boolean;
    readonly stop_reason: string | null;
    readonly best_loss: number | null;
  };
  /** Metrics of the last log (every loss component). */
  readonly final_metrics: Metrics | null;
  /** Online runs: the evaluations (returns of the family's policy, greedy). */
  readonly evaluation: {
    readonly final_mean_return: number | null;
    readonly best_mean_return: number | null;
    readonly history: readonly {
      readonly env_step: number;
      readonly updates: number;
      readonly mean_return: number;
      readonly returns: readonly number[];
    }[];
  } | null;
  /** Thresholds `verify --mode quick` applies (from `[verify]`). */
  readonly verify: Readonly<Record<string, number>>;
  /** Files of the run, relative to the output directory. */
  readonly artifacts: {
    readonly model: string;
    readonly metrics: string;
    readonly checkpoints: readonly string[];
    readonly final_checkpoint: string | null;
    readonly holdout: string | null;
  };
  /** The runtime that trained. */
  readonly runtime: {
    readonly deno: string;
    readonly os: string;
    readonly arch: string;
    readonly cpus: number;
  };
}

/** Snake-case keys of a config-override record. */
export function snakeKeys(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return mapKeys(o, camelToSnake);
}

function countParameters(model: WorldModel): number {
  return model.parameters().reduce((n, t) => n + t.size, 0);
}

/** What a finished run knows, for its manifest. */
export interface RunManifestInputs {
  /** The project. */
  readonly project: ProjectConfig;
  /** The command line. */
  readonly command?: readonly string[];
  /** Degraded modes. */
  readonly degraded: readonly string[];
  /** The learning budget check (online runs), else null. */
  readonly learningBudget: RunManifest["learning_budget"];
  /** Notes of the run. */
  readonly notes: readonly string[];
  /** The device asked for and the one used. */
  readonly device: { requested: DeviceRequest; selected: DeviceName; reason: string };
  /** The catalog id of the model. */
  readonly id: string;
  /** The trained model. */
  readonly model: WorldModel;
  /** Observation shape and action space. */
  readonly shapes: {
    obsShape: readonly number[];
    actionDim: number;
    actionType: "continuous" | "discrete";
  };
  /** The model's create arguments. */
  readonly createArgs: RunManifest["model"]["create_args"];
  /** The run's training config. */
  readonly cfg: TrainingConfig;
  /** What the data records. */
  readonly dataInfo: Record<string, unknown>;
  /** How training went. */
  readonly summary: TrainSummary;
  /** The controller that acted (online runs). */
  readonly controllerName: string | null;
  /** The online loop's result (online runs). */
  readonly online?: OnlineResult;
  /** Checkpoint directories written. */
  readonly checkpoints: readonly string[];
  /** Held-out episodes were saved (`holdout.npz`). */
  readonly holdout: boolean;
}

/** The manifest of a finished run (the model's contract fingerprint is computed here). */
export async function buildRunManifest(inputs: RunManifestInputs): Promise<RunManifest> {
  const m = inputs;
  const { model, cfg, summary, shapes } = m;
  const entry = MODEL_CATALOG[m.id];
  const evals = m.online?.evaluations ?? [];
  return {
    schema_version: RUN_MANIFEST_VERSION,
    kind: "worldflux-run",
    worldflux_version: WORLDFLUX_VERSION,
    created_at_utc: new Date().toISOString(),
    project: { name: m.project.name, config_path: m.project.path },
    command: m.command ? [...m.command] : null,
    run_classification: m.project.data.source === "random"
      ? "contract_smoke"
      : "meaningful_local_training",
    degraded_modes: m.degraded,
    learning_budget: m.learningBudget,
    notes: m.notes,
    plugins: m.project.plugins,
    device: { requested: m.device.requested, selected: m.device.selected, reason: m.device.reason },
    model: {
      spec: m.project.model.spec,
      id: m.id,
      family: model.modelType,
      preset: m.id.split(":")[1] ?? m.project.model.preset,
      tier: entry?.tier ?? null,
      maturity: entry?.maturity ?? null,
      parameters: countParameters(model),
      obs_shape: [...shapes.obsShape],
      action_dim: shapes.actionDim,
      action_type: shapes.actionType,
      create_args: m.createArgs,
      init_seed: cfg.seed,
      contract_fingerprint: await model.contractFingerprint(),
      dir: "model",
    },
    data: m.dataInfo as RunManifest["data"],
    training: {
      mode: summary.mode,
      config: trainingConfigToSnakeCase(cfg),
      total_steps: summary.totalSteps,
      steps: summary.steps,
      updates: summary.updates,
      wall_time_sec: summary.wallTimeSec,
      steps_per_sec: summary.stepsPerSec,
      compiled: summary.compiled,
      train_step: summary.trainStep,
      controller: m.controllerName,
      resumed_from: summary.resumedFrom,
      stopped_early: summary.stoppedEarly,
      stop_reason: summary.stopReason,
      best_loss: summary.bestLoss,
    },
    final_metrics: summary.lastMetrics,
    evaluation: m.online
      ? {
        final_mean_return: evals.length ? evals[evals.length - 1].meanReturn : null,
        best_mean_return: evals.length ? Math.max(...evals.map((e) => e.meanReturn)) : null,
        history: evals.map((e) => ({
          env_step: e.envStep,
          updates: e.updates,
          mean_return: e.meanReturn,
          returns: e.returns,
        })),
      }
      : null,
    verify: snakeKeys(m.project.verify as unknown as Record<string, unknown>) as Record<
      string,
      number
    >,
    artifacts: {
      model: "model",
      metrics: "metrics.jsonl",
      checkpoints: m.checkpoints,
      final_checkpoint: m.checkpoints.includes("checkpoint_final") ? "checkpoint_final" : null,
      holdout: m.holdout ? "holdout.npz" : null,
    },
    runtime: {
      deno: Deno.version.deno,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
    },
  };
}

export async function listCheckpointNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory && /^checkpoint_/.test(e.name)) out.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}
