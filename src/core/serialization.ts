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

import { warn } from "../log.ts";
import type { DeviceName } from "../backend/types.ts";
import { type DeviceRequest, ensureDevice, getDefaultDevice } from "../backend/device.ts";
import { ConfigError, fmtShape, FormatError } from "../errors.ts";
import { strandedCopies, writeDirAtomic, writeFileAtomic } from "../io/atomic.ts";
import { parseJson } from "../io/json.ts";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Generator } from "../tensor/random.ts";
import {
  applyComponentOverrides,
  COMPONENT_SLOTS,
  type ComponentOverrides,
  resolveSlot,
} from "./components.ts";
import { CheckpointError, ComponentError } from "./errors.ts";
import { camelToSnake } from "./naming.ts";
import { configToDisk, WorldModelRegistry } from "./registry.ts";
import { compareVersions, parseVersion } from "./semver.ts";
import { sha256Hex } from "./spec.ts";
import { API_VERSIONS, type ApiVersion } from "./types.ts";
import { WORLDFLUX_VERSION } from "./version.ts";
import type { WorldModel } from "./world_model.ts";

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
export async function savePretrained(model: WorldModel, dir: string): Promise<void> {
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

async function readBytes(dir: string, name: string): Promise<Uint8Array> {
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

function parseJsonObject(bytes: Uint8Array, dir: string, name: string): Record<string, unknown> {
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
function checkMeta(raw: Record<string, unknown>, path: string): PretrainedMeta {
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

/** Options of {@link fromPretrained}. */
export interface FromPretrainedOptions {
  /** Device of the parameters (default: the default device). */
  readonly device?: DeviceRequest;
  /** Overrides the saved api_version. */
  readonly apiVersion?: ApiVersion;
  /** Refuse a directory holding another family. */
  readonly expectModelType?: string;
  /**
   * Component overrides (also required for slots that were overridden with a class or an
   * instance when saved; slots overridden with a registered id are re-applied automatically).
   */
  readonly componentOverrides?: ComponentOverrides;
  /**
   * Load a `config.json` that no longer matches the `config_sha256` recorded when saving (an
   * intended edit; the config is still validated by the family's schema). Default false.
   */
  readonly allowEditedConfig?: boolean;
  /**
   * Load a directory whose `worldflux_meta.json` lacks `weights_sha256` or `config_sha256`
   * (written by another tool, or edited): its files cannot be verified. Default false.
   */
  readonly allowMissingChecksum?: boolean;
}

/**
 * Loads a model saved by `savePretrained`, checking every file and field: a missing file, bad
 * JSON, a missing or invalid meta field, an unsupported save_format_version, another model
 * type, a contract fingerprint that no longer matches, missing/extra tensors, shapes, dtypes
 * and the weights checksum each give their own {@link CheckpointError}.
 *
 * @example
 * ```ts
 * import { createWorldModel, fromPretrained } from "@worldflux/worldflux";
 * const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2 });
 * const dir = await Deno.makeTempDir();
 * await model.savePretrained(dir);
 * const loaded = await fromPretrained(dir, { expectModelType: "mlp" });
 * console.log(await loaded.contractFingerprint() === await model.contractFingerprint()); // true
 * ```
 */
export async function fromPretrained(
  dir: string,
  opts: FromPretrainedOptions = {},
): Promise<WorldModel> {
  const root = dir.replace(/\/+$/, "") || "/";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const stranded = await strandedCopies(root);
      throw new CheckpointError(
        "missing_directory",
        `no saved model at ${root} (no such directory)` +
          (stranded.length
            ? `; an interrupted save left the previous copy at ${stranded[0]}: ` +
              `recoverAtomic("${root}") (or the next run in that directory) puts it back`
            : ""),
        root,
      );
    }
    throw e;
  }
  if (!info.isDirectory) {
    throw new CheckpointError(
      "missing_directory",
      `${root} is a file; a saved model is a directory with ${
        Object.values(PRETRAINED_FILES).join(", ")
      }`,
      root,
    );
  }
  const metaPath = `${root}/${PRETRAINED_FILES.meta}`;
  const configPath = `${root}/${PRETRAINED_FILES.config}`;
  const weightsPath = `${root}/${PRETRAINED_FILES.weights}`;

  // 1. Metadata and config (checked against its recorded sha256).
  const meta = checkMeta(
    parseJsonObject(await readBytes(root, PRETRAINED_FILES.meta), root, PRETRAINED_FILES.meta),
    metaPath,
  );
  requireChecksums(meta, metaPath, opts.allowMissingChecksum ?? false);
  const configBytes = await readBytes(root, PRETRAINED_FILES.config);
  if (meta.config_sha256 && !opts.allowEditedConfig) {
    const sha = await sha256Hex(configBytes);
    if (sha !== meta.config_sha256) {
      throw new CheckpointError(
        "checksum_mismatch",
        `${PRETRAINED_FILES.config} does not match the config_sha256 recorded in ` +
          `${PRETRAINED_FILES.meta} (sha256 ${sha.slice(0, 16)}..., recorded ` +
          `${meta.config_sha256.slice(0, 16)}...): it was edited after saving; if the edit is ` +
          `intended, load with { allowEditedConfig: true }`,
        configPath,
      );
    }
  }
  if (compareVersions(meta.worldflux_version, WORLDFLUX_VERSION) > 0) {
    warn(
      `${root} was saved by worldflux ${meta.worldflux_version}, newer than this ` +
        `${WORLDFLUX_VERSION}; loading it anyway`,
    );
  }
  const config = parseJsonObject(configBytes, root, PRETRAINED_FILES.config);
  const { model_type: configType, ...fields } = config;
  if (typeof configType !== "string" || !configType) {
    throw new CheckpointError("missing_field", `config.json has no "model_type"`, configPath);
  }
  if (configType !== meta.model_type) {
    throw new CheckpointError(
      "model_type_mismatch",
      `config.json says model_type "${configType}" but worldflux_meta.json says "${meta.model_type}"`,
      configPath,
    );
  }
  if (opts.expectModelType && opts.expectModelType !== meta.model_type) {
    throw new CheckpointError(
      "model_type_mismatch",
      `${root} holds a "${meta.model_type}" model, not the expected "${opts.expectModelType}"`,
      metaPath,
    );
  }

  // 2. Build the model from the config (the family must be registered).
  let cfg: Record<string, unknown>;
  try {
    cfg = WorldModelRegistry.buildConfig(meta.model_type, fields, {}, PRETRAINED_FILES.config);
  } catch (e) {
    if (
      e instanceof ConfigError && !(e instanceof CheckpointError) &&
      WorldModelRegistry.has(meta.model_type)
    ) {
      throw new CheckpointError("invalid_config", e.message, configPath);
    }
    throw e;
  }
  const device: DeviceName = await ensureDevice(opts.device ?? getDefaultDevice());
  const apiVersion = opts.apiVersion ?? meta.api_version;
  const model = await WorldModelRegistry.build(meta.model_type, cfg, {
    preset: null,
    device,
    apiVersion,
    generator: new Generator(0),
  });
  try {
    // 3. The contract must be the one the weights were trained against.
    const fp = await model.contractFingerprint();
    if (fp !== meta.contract_fingerprint) {
      throw new CheckpointError(
        "fingerprint_mismatch",
        `contract fingerprint mismatch: the saved model has ${
          meta.contract_fingerprint.slice(0, 16)
        }..., ` +
          `this ${meta.model_type} model built from config.json has ${fp.slice(0, 16)}... ` +
          `(the family's I/O contract changed, or the files were edited)`,
        metaPath,
      );
    }

    // 4. Weights: names, shapes and dtypes, then the checksum.
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(weightsPath);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new CheckpointError(
          "missing_file",
          `missing file ${PRETRAINED_FILES.weights} in the saved model ${root}`,
          weightsPath,
        );
      }
      throw e;
    }
    let file;
    try {
      file = decodeSafetensors(bytes, weightsPath);
    } catch (e) {
      if (e instanceof FormatError) throw new CheckpointError("bad_weights", e.message);
      throw e;
    }
    const own = model.stateDict();
    const list = (names: string[]) =>
      names.slice(0, 8).map((n) => `"${n}"`).join(", ") +
      (names.length > 8 ? `, ... (${names.length} in all)` : "");
    const missing = Object.keys(own).filter((k) => !(k in file.tensors));
    if (missing.length) {
      throw new CheckpointError(
        "missing_tensor",
        `${PRETRAINED_FILES.weights} lacks ${missing.length === 1 ? "tensor" : "tensors"} ${
          list(missing)
        } of the ${meta.model_type} model`,
        weightsPath,
      );
    }
    const extra = Object.keys(file.tensors).filter((k) => !(k in own));
    if (extra.length) {
      throw new CheckpointError(
        "extra_tensor",
        `${PRETRAINED_FILES.weights} has ${extra.length === 1 ? "tensor" : "tensors"} ${
          list(extra)
        } that the ${meta.model_type} model does not have`,
        weightsPath,
      );
    }
    for (const [name, t] of Object.entries(own) as [string, Tensor][]) {
      const e = file.tensors[name];
      if (e.shape.length !== t.shape.length || e.shape.some((d, i) => d !== t.shape[i])) {
        throw new CheckpointError(
          "shape_mismatch",
          `tensor "${name}" has shape ${fmtShape(e.shape)} in ${PRETRAINED_FILES.weights} but ` +
            `${fmtShape(t.shape)} in the ${meta.model_type} model`,
          weightsPath,
        );
      }
      if (e.dtype !== t.dtype) {
        throw new CheckpointError(
          "dtype_mismatch",
          `tensor "${name}" is ${e.fileDtype} (${e.dtype}) in ${PRETRAINED_FILES.weights} but ` +
            `${t.dtype} in the ${meta.model_type} model`,
          weightsPath,
        );
      }
    }
    if (meta.weights_sha256) {
      const sha = await sha256Hex(bytes);
      if (sha !== meta.weights_sha256) {
        throw new CheckpointError(
          "checksum_mismatch",
          `${PRETRAINED_FILES.weights} does not match its checksum: sha256 ${
            sha.slice(0, 16)
          }..., ` +
            `worldflux_meta.json records ${meta.weights_sha256.slice(0, 16)}...`,
          weightsPath,
        );
      }
    }
    const records: Record<string, { shape: number[]; data: Float32Array | Int32Array }> = {};
    for (const [name, e] of Object.entries(file.tensors)) {
      records[name] = { shape: e.shape, data: e.data };
    }
    model.loadStateDict(records);

    // 5. Component overrides recorded at save time, then the caller's.
    const overrides: Record<string, unknown> = {};
    for (const [slotName, id] of Object.entries(meta.component_overrides ?? {})) {
      const slot = resolveSlot(slotName);
      if (!slot) {
        throw new CheckpointError(
          "component_override",
          `worldflux_meta.json names an unknown component slot "${slotName}" (slots: ${
            COMPONENT_SLOTS.join(", ")
          })`,
          metaPath,
        );
      }
      const given = Object.entries(opts.componentOverrides ?? {}).some(([k, v]) =>
        v !== undefined && resolveSlot(k) === slot
      );
      if (given) continue;
      if (id === null) {
        throw new CheckpointError(
          "component_override",
          `the model was saved with a custom ${slot} (a class or instance, not a registered id); ` +
            `pass it again: fromPretrained(dir, { componentOverrides: { ${slot}: ... } })`,
          metaPath,
        );
      }
      overrides[slot] = id;
    }
    Object.assign(overrides, opts.componentOverrides ?? {});
    if (Object.keys(overrides).length) {
      try {
        applyComponentOverrides(model, overrides as ComponentOverrides);
      } catch (e) {
        if (e instanceof ComponentError) {
          throw new CheckpointError("component_override", e.message, metaPath);
        }
        throw e;
      }
    }
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
