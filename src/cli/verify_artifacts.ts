/**
 * The artifact half of `worldflux verify`: is every file of a run there, does it parse, does the
 * model load and match its manifest. A broken artifact is a failed check, never an exception.
 * @module
 */

import { join, resolve } from "node:path";
import type { DeviceName } from "../backend/types.ts";
import { fromPretrained } from "../core/from_pretrained.ts";
import type { WorldModel } from "../core/world_model.ts";
import { parseJson } from "../io/json.ts";
import { readCheckpoint } from "../training/checkpoint.ts";
import { ReplayBuffer } from "../training/replay_buffer.ts";
import { loadProjectPlugins, resolveRunDevice } from "./run.ts";
import type { RunManifest } from "./run_manifest.ts";
import type { QuickVerifyOptions, VerifyCheck } from "./verify_report.ts";

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

/** What the artifact checks found: the checks, and the manifest, model and device if they load. */
export interface RunArtifacts {
  /** The checks (any failure makes the verification `fail`). */
  readonly artifacts: VerifyCheck[];
  /** The run's manifest, when valid. */
  readonly manifest: RunManifest | null;
  /** The trained model, when it loads and matches the manifest (the caller disposes it). */
  readonly model: WorldModel | null;
  /** The device it was loaded on. */
  readonly device: DeviceName | null;
}

/**
 * Checks the artifacts of the run in `dir` (`target` as the user wrote it, for messages): the
 * manifest, metrics, the model (loaded, with only the trusted plugins), the final checkpoint and
 * the held-out data.
 */
export async function checkArtifacts(
  dir: string,
  target: string,
  opts: QuickVerifyOptions,
  log: (message: string) => void,
): Promise<RunArtifacts> {
  const artifacts: VerifyCheck[] = [];
  let manifest: RunManifest | null = null;
  let model: WorldModel | null = null;
  let device: DeviceName | null = null;
  const art = (name: string, ok: boolean, detail: string) => artifacts.push({ name, ok, detail });
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
  return { artifacts, manifest, model, device };
}
