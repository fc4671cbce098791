/**
 * Saved model directories: `config.json` (the family config with the reference's snake_case
 * keys and `model_type`), `model.safetensors` (the state dict under its dotted PyTorch-style
 * names) and `worldflux_meta.json` (save_format_version, worldflux_version, api_version,
 * model_type, contract_fingerprint, weights_sha256, config_sha256, created_at_utc). A directory
 * is written beside the target and renamed into place; loading checks every file and field and
 * says precisely what is wrong ({@link CheckpointError} with a `problem` code).
 *
 * Integrity: the sha256 of `model.safetensors` and of `config.json` are recorded when saving and
 * checked when loading. An edited config is refused (unless `allowEditedConfig`), and so is a
 * directory whose meta lacks either checksum (unless `allowMissingChecksum`): a file this
 * library wrote always has both, so a missing one means an edited or foreign file. The config
 * is then validated by the family's schema, which range-checks every hyperparameter.
 * @module
 */

import { writeDirAtomic, writeFileAtomic } from "../io/atomic.ts";
import { parseJson } from "../io/json.ts";
import { encodeSafetensors } from "../io/safetensors.ts";
import { CheckpointError } from "./errors.ts";
import { camelToSnake, mapKeys } from "./naming.ts";
import { parseVersion } from "./semver.ts";
import { sha256Hex } from "./spec.ts";
import { API_VERSIONS, type ApiVersion } from "./types.ts";
import { WORLDFLUX_VERSION } from "./version.ts";
import type { Tensor } from "../tensor/tensor.ts";

/**
 * What {@link savePretrained} reads of a model (every `WorldModel` has it). Saving names only
 * these members, not the `WorldModel` class, whose `savePretrained` method calls this module.
 */
export interface SavableModel {
  /** The family, written as `model_type`. */
  readonly modelType: string;
  /** The API version, written as `api_version`. */
  readonly apiVersion: ApiVersion;
  /** The config written to `config.json` (camelCase keys). */
  configForSave(): Record<string, unknown>;
  /** The weights written to `model.safetensors`. */
  stateDict(): Record<string, Tensor>;
  /** Registered component ids by slot (null: a custom class or instance). */
  componentOverrideSources(): Readonly<Partial<Record<string, string | null>>>;
  /** sha256 of the model's I/O contract. */
  contractFingerprint(): Promise<string>;
}

/** The directory layout version written by {@link savePretrained}. */
export const SAVE_FORMAT_VERSION = 1;

/** File names of a saved model. */
export const PRETRAINED_FILES = {
  config: "config.json",
  weights: "model.safetensors",
  meta: "worldflux_meta.json",
} as const;

/** Contents of `worldflux_meta.json`. */
export interface PretrainedMeta {
  /** Layout version of the directory (1). */
  readonly save_format_version: number;
  /** worldflux version that wrote it. */
  readonly worldflux_version: string;
  /** API version of the saved model. */
  readonly api_version: ApiVersion;
  /** The family. */
  readonly model_type: string;
  /** sha256 of the canonical JSON of the model's I/O contract. */
  readonly contract_fingerprint: string;
  /** When it was written (ISO 8601, UTC). */
  readonly created_at_utc: string;
  /** sha256 of `model.safetensors` (checked on load; required unless `allowMissingChecksum`). */
  readonly weights_sha256?: string;
  /** sha256 of `config.json` (checked on load; required unless `allowMissingChecksum`). */
  readonly config_sha256?: string;
  /** Component slots overridden when saved: registered id, or null for a class/instance. */
  readonly component_overrides?: Readonly<Record<string, string | null>>;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/**
 * Saves a model into `dir` (replacing an existing directory atomically).
 *
 * @example
 * ```ts
 * import { createWorldModel, fromPretrained } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
 * const dir = await Deno.makeTempDir();
 * await model.savePretrained(`${dir}/model`);
 * const again = await fromPretrained(`${dir}/model`);
 * console.log(again.modelType); // "mlp"
 * ```
 */
export async function savePretrained(model: SavableModel, dir: string): Promise<void> {
  const config = json({ model_type: model.modelType, ...configToDisk(model.configForSave()) });
  const weights = await encodeSafetensors(model.stateDict(), { format: "pt" });
  const overrides: Record<string, string | null> = {};
  for (const [slot, id] of Object.entries(model.componentOverrideSources())) {
    overrides[camelToSnake(slot)] = id ?? null;
  }
  const meta: PretrainedMeta = {
    save_format_version: SAVE_FORMAT_VERSION,
    worldflux_version: WORLDFLUX_VERSION,
    api_version: model.apiVersion,
    model_type: model.modelType,
    contract_fingerprint: await model.contractFingerprint(),
    weights_sha256: await sha256Hex(weights),
    config_sha256: await sha256Hex(new TextEncoder().encode(config)),
    created_at_utc: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    ...(Object.keys(overrides).length ? { component_overrides: overrides } : {}),
  };
  await writeDirAtomic(dir, async (tmp) => {
    await writeFileAtomic(`${tmp}/${PRETRAINED_FILES.config}`, config);
    await writeFileAtomic(`${tmp}/${PRETRAINED_FILES.weights}`, weights);
    await writeFileAtomic(`${tmp}/${PRETRAINED_FILES.meta}`, json(meta));
  });
}

/** @internal */
export async function readBytes(dir: string, name: string): Promise<Uint8Array> {
  const path = `${dir}/${name}`;
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        "missing_file",
        `missing file ${name} in the saved model ${dir}`,
        path,
      );
    }
    throw e;
  }
}

/**
 * Refuses a `worldflux_meta.json` without the checksums `keys` (default both) unless `allow`: a
 * directory this library wrote always has them. `how` says how to accept it anyway.
 */
export function requireChecksums(
  meta: { readonly weights_sha256?: unknown; readonly config_sha256?: unknown },
  metaPath: string,
  allow: boolean,
  keys: readonly ("weights_sha256" | "config_sha256")[] = ["weights_sha256", "config_sha256"],
  how = "load with { allowMissingChecksum: true } only if you trust the files",
): void {
  if (allow) return;
  for (const k of keys) {
    if (meta[k] === undefined) {
      throw new CheckpointError(
        "missing_checksum",
        `${PRETRAINED_FILES.meta} has no "${k}", so the files cannot be verified (worldflux ` +
          `always records it: the meta was edited or written by another tool); ${how}`,
        metaPath,
      );
    }
  }
}

/** @internal */
export function parseJsonObject(
  bytes: Uint8Array,
  dir: string,
  name: string,
): Record<string, unknown> {
  const path = `${dir}/${name}`;
  let v: unknown;
  try {
    v = parseJson(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new CheckpointError("bad_json", `${name} is ${(e as Error).message}`, path);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new CheckpointError("bad_json", `${name} must hold a JSON object`, path);
  }
  return v as Record<string, unknown>;
}

/** Checks `worldflux_meta.json` field by field. */
/** @internal */
export function checkMeta(raw: Record<string, unknown>, path: string): PretrainedMeta {
  const need = (k: string) => {
    if (!(k in raw) || raw[k] === null) {
      throw new CheckpointError("missing_field", `worldflux_meta.json has no "${k}"`, path);
    }
    return raw[k];
  };
  const bad = (k: string, want: string) =>
    new CheckpointError(
      "invalid_field",
      `worldflux_meta.json: "${k}" must be ${want}, got ${JSON.stringify(raw[k])}`,
      path,
    );
  const fmt = need("save_format_version");
  if (!(fmt === SAVE_FORMAT_VERSION || fmt === String(SAVE_FORMAT_VERSION))) {
    throw new CheckpointError(
      "unsupported_version",
      `save_format_version ${
        JSON.stringify(fmt)
      } is not supported by worldflux ${WORLDFLUX_VERSION} ` +
        `(it reads save_format_version ${SAVE_FORMAT_VERSION})`,
      path,
    );
  }
  const wv = need("worldflux_version");
  if (typeof wv !== "string") throw bad("worldflux_version", "a version string");
  try {
    parseVersion(wv);
  } catch {
    throw bad("worldflux_version", "a semantic version");
  }
  const api = need("api_version");
  if (!API_VERSIONS.includes(api as ApiVersion)) {
    throw bad("api_version", `one of ${API_VERSIONS.join(", ")}`);
  }
  const mt = need("model_type");
  if (typeof mt !== "string" || !mt) throw bad("model_type", "a non-empty string");
  const fp = need("contract_fingerprint");
  if (typeof fp !== "string" || !/^[0-9a-f]{64}$/.test(fp)) {
    throw bad("contract_fingerprint", "a sha256 hex digest");
  }
  const at = need("created_at_utc");
  if (typeof at !== "string" || Number.isNaN(Date.parse(at))) {
    throw bad("created_at_utc", "an ISO date");
  }
  for (const k of ["weights_sha256", "config_sha256"]) {
    const sha = raw[k];
    if (sha !== undefined && (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha))) {
      throw bad(k, "a sha256 hex digest");
    }
  }
  const co = raw.component_overrides;
  if (co !== undefined && (co === null || typeof co !== "object" || Array.isArray(co))) {
    throw bad("component_overrides", "an object");
  }
  return raw as unknown as PretrainedMeta;
}

/** `config` with snake_case keys (for `config.json`). */
export function configToDisk(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return mapKeys(config, camelToSnake);
}
