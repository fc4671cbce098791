/**
 * {@link fromPretrained}: a saved model directory (see `serialization.ts` for the layout) back
 * to a model: the family rebuilds it from `config.json` through the registry, then the weights
 * are checked and loaded. Kept apart from saving, which needs no registry (the registry, the
 * model and saving would otherwise import each other).
 * @module
 */

import { warn } from "../log.ts";
import type { DeviceName } from "../backend/types.ts";
import { type DeviceRequest, ensureDevice, getDefaultDevice } from "../backend/device.ts";
import { ConfigError, fmtShape, FormatError } from "../errors.ts";
import { strandedCopies } from "../io/atomic.ts";
import { checkAllocation } from "../io/limits.ts";
import { decodeSafetensors } from "../io/safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Generator } from "../tensor/random.ts";
import {
  applyComponentOverrides,
  COMPONENT_SLOTS,
  type ComponentOverrides,
  resolveSlot,
} from "./components.ts";
import { CheckpointError, ComponentError } from "./errors.ts";
import { WorldModelRegistry } from "./registry.ts";
import { compareVersions } from "./semver.ts";
import {
  checkMeta,
  parseJsonObject,
  PRETRAINED_FILES,
  type PretrainedMeta,
  readBytes,
  requireChecksums,
} from "./serialization.ts";
import { sha256Hex } from "./spec.ts";
import type { ApiVersion } from "./types.ts";
import { WORLDFLUX_VERSION } from "./version.ts";
import type { WorldModel } from "./world_model.ts";

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
 * `dir` is a directory (a path or a `file:` URL), or an `http(s):` URL whose files are fetched
 * (`<dir>/config.json`, ...): how a browser page loads a model (see `examples/browser/`).
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
  dir: string | URL,
  opts: FromPretrainedOptions = {},
): Promise<WorldModel> {
  const files = isRemote(dir) ? urlFiles(new URL(dir)) : await directoryFiles(localPath(dir));
  const root = files.root;
  const metaPath = `${root}/${PRETRAINED_FILES.meta}`;
  const configPath = `${root}/${PRETRAINED_FILES.config}`;

  // 1. Metadata and config (checked against its recorded sha256).
  const meta = checkMeta(
    parseJsonObject(await files.read(PRETRAINED_FILES.meta), root, PRETRAINED_FILES.meta),
    metaPath,
  );
  requireChecksums(meta, metaPath, opts.allowMissingChecksum ?? false);
  const configBytes = await files.read(PRETRAINED_FILES.config);
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
    await checkContract(
      model,
      meta,
      metaPath,
      `this ${meta.model_type} model built from config.json`,
      "the family's I/O contract changed, or the files were edited",
    );

    // 4. Weights: names, shapes and dtypes, then the checksum.
    await loadSavedWeights(model, files, meta);

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

/**
 * Refuses a model whose I/O contract is not the one its saved weights were trained against
 * (`fingerprint_mismatch`); `what` names the model in hand, `why` says how they come to differ.
 * @internal
 */
export async function checkContract(
  model: WorldModel,
  meta: PretrainedMeta,
  metaPath: string,
  what: string,
  why: string,
): Promise<void> {
  const fp = await model.contractFingerprint();
  if (fp !== meta.contract_fingerprint) {
    throw new CheckpointError(
      "fingerprint_mismatch",
      `contract fingerprint mismatch: the saved model has ${
        meta.contract_fingerprint.slice(0, 16)
      }..., ${what} has ${fp.slice(0, 16)}... (${why})`,
      metaPath,
    );
  }
}

/**
 * Loads a saved model's weights into `model` after the checks every load makes, for
 * `fromPretrained` and a training checkpoint's `model/` alike: the safetensors file decodes, its
 * tensors are the model's (no missing, no extra one), each of the model's shape and dtype, and the
 * file matches the sha256 recorded in the meta (when recorded).
 * @internal
 */
export async function loadSavedWeights(
  model: WorldModel,
  files: SavedFiles,
  meta: PretrainedMeta,
): Promise<void> {
  const weightsPath = `${files.root}/${PRETRAINED_FILES.weights}`;
  const bytes = await files.read(PRETRAINED_FILES.weights);
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
        `${PRETRAINED_FILES.weights} does not match its checksum: sha256 ${sha.slice(0, 16)}..., ` +
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
}

/**
 * A saved model's files, read by name (a missing one is a `missing_file` CheckpointError).
 * @internal
 */
export interface SavedFiles {
  /** The directory or URL, as error messages name it (no trailing slash). */
  readonly root: string;
  read(name: string): Promise<Uint8Array>;
}

/** Whether `dir` names a saved model served over HTTP(S) (read with fetch). */
function isRemote(dir: string | URL): boolean {
  const href = dir instanceof URL ? dir.href : dir;
  return /^https?:\/\//i.test(href);
}

/** The path of a local directory given as a path or a `file:` URL. */
function localPath(dir: string | URL): string {
  if (!(dir instanceof URL)) return dir;
  if (dir.protocol !== "file:") {
    throw new CheckpointError(
      "missing_directory",
      `cannot read a saved model from ${dir.href}: expected a directory path, a file: URL or an ` +
        `http(s): URL`,
      dir.href,
    );
  }
  return decodeURIComponent(dir.pathname);
}

/** The files of a saved model directory (it must exist and be a directory). @internal */
export async function directoryFiles(dir: string): Promise<SavedFiles> {
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
  return { root, read: (name) => readBytes(root, name) };
}

/**
 * The files of a saved model served over HTTP(S) (a browser page: `examples/browser/`), fetched
 * from `base` (a directory URL; a trailing slash is added). A file whose announced size is over
 * the allocation limit is refused before its body is read.
 */
function urlFiles(base: URL): SavedFiles {
  const dirUrl = new URL(base.href.endsWith("/") ? base.href : `${base.href}/`);
  const root = dirUrl.href.replace(/\/+$/, "");
  return {
    root,
    async read(name: string): Promise<Uint8Array> {
      const url = new URL(name, dirUrl).href;
      let res: Response;
      try {
        res = await fetch(url);
      } catch (e) {
        throw new CheckpointError(
          "missing_file",
          `cannot fetch ${name} of the saved model ${root}: ${(e as Error).message}`,
          url,
        );
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new CheckpointError(
          "missing_file",
          res.status === 404
            ? `missing file ${name} in the saved model ${root} (HTTP 404)`
            : `cannot fetch ${name} of the saved model ${root}: HTTP ${res.status}`,
          url,
        );
      }
      const announced = Number(res.headers.get("content-length") ?? NaN);
      if (Number.isFinite(announced)) {
        try {
          checkAllocation(url, announced, "serve a smaller model or raise the allocation limit");
        } catch (e) {
          await res.body?.cancel();
          throw e;
        }
      }
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}
