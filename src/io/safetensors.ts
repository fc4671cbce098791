/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON (`{name: {dtype, shape, data_offsets: [begin, end]}, ...,
 * "__metadata__": {str: str}}`, padded with spaces to a multiple of 8), then the raw
 * little-endian tensor bytes. Writes are atomic; a malformed file gives a {@link FormatError}
 * before any large allocation.
 * @module
 */

import { FormatError } from "../errors.ts";
import type { DType } from "../ir/dtype.ts";
import { readTensors } from "../tensor/read.ts";
import { realize, type Tensor } from "../tensor/tensor.ts";
import { tensor as makeTensor } from "../tensor/creation.ts";
import type { DeviceName } from "../backend/types.ts";
import { writeFileAtomic } from "./atomic.ts";
import { readFileBytes } from "./files.ts";
import { parseJson } from "./json.ts";
import { checkAllocation } from "./limits.ts";
import { halfToFloat } from "./npy.ts";

/** Largest header accepted (the reference implementation's limit). */
const MAX_HEADER = 100 * 1024 * 1024;

/** Dtypes of the format we read and write, with their element sizes. */
const DTYPE_SIZES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** A tensor read from a file: its dtype in the file and the values converted for worldflux. */
export interface SafetensorsEntry {
  /** The dtype in the file (`F32`, `I64`, ...). */
  readonly fileDtype: string;
  /** Shape. */
  readonly shape: number[];
  /** Values: float dtypes as Float32Array, integer and bool dtypes as Int32Array. */
  readonly data: Float32Array | Int32Array;
  /** The worldflux dtype the values map to. */
  readonly dtype: DType;
}

/** A parsed file. */
export interface SafetensorsFile {
  /** Tensors by name. */
  readonly tensors: Record<string, SafetensorsEntry>;
  /** The `__metadata__` strings. */
  readonly metadata: Record<string, string>;
}

function fileDtypeOf(t: Tensor): string {
  return t.dtype === "float32" ? "F32" : t.dtype === "int32" ? "I32" : "BOOL";
}

/** Serialises tensors (read from their devices) into safetensors bytes. */
export async function encodeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  // Like the reference writer: larger elements first (keeps every tensor aligned), then by name.
  const width = (t: Tensor) => (t.dtype === "bool" ? 1 : 4);
  const names = Object.keys(tensors).sort((a, b) =>
    width(tensors[b]) - width(tensors[a]) || (a < b ? -1 : a > b ? 1 : 0)
  );
  for (const n of names) {
    if (n === "__metadata__") throw new FormatError(`"__metadata__" cannot be a tensor name`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new FormatError(`metadata value of "${k}" must be a string`);
  }
  const list = names.map((n) => tensors[n]);
  realize(...list);
  const data = await readTensors(list);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  names.forEach((n, i) => {
    const t = list[i];
    const d = data[i];
    const bytes = t.dtype === "bool"
      ? Uint8Array.from(d as Uint8Array)
      : new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
    header[n] = {
      dtype: fileDtypeOf(t),
      shape: t.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    offset += bytes.length;
    chunks.push(bytes);
  });
  let json = JSON.stringify(header);
  const pad = (8 - (new TextEncoder().encode(json).length % 8)) % 8;
  json += " ".repeat(pad);
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let at = 8 + hbytes.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Writes tensors to `path` atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { saveSafetensors, loadSafetensors, tensor } from "@worldflux/worldflux";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveSafetensors(path, { "layer.weight": tensor([[1, 2], [3, 4]]) }, { format: "pt" });
 * const loaded = await loadSafetensors(path);
 * console.log(await loaded["layer.weight"].array()); // [[1, 2], [3, 4]]
 * ```
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, await encodeSafetensors(tensors, metadata));
}

/** Parses safetensors bytes, validating every field before copying data. */
export function decodeSafetensors(bytes: Uint8Array, path?: string): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new FormatError(`not a valid safetensors file: ${msg}`, path);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.length) {
    fail(`header length ${n} runs past the end of the ${bytes.length}-byte file`);
  }
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail("the header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = parseJson(text);
  } catch (e) {
    fail(`the header is ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const tensors: Record<string, SafetensorsEntry> = {};
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  const entries = new Map<
    string,
    { dtype: string; shape: number[]; count: number; begin: number; end: number }
  >();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (info === null || typeof info !== "object" || Array.isArray(info)) {
        fail("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__["${k}"] is not a string`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    const e = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== "object") fail(`entry "${name}" is not an object`);
    const dtype = e.dtype;
    if (typeof dtype !== "string" || !(dtype in DTYPE_SIZES)) {
      fail(
        `entry "${name}" has unsupported dtype ${JSON.stringify(dtype)}; supported: ${
          Object.keys(DTYPE_SIZES).join(", ")
        }`,
      );
    }
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.some((s) => !Number.isSafeInteger(s) || s < 0)) {
      fail(`entry "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 ||
      offs.some((o) => !Number.isSafeInteger(o) || o < 0)
    ) {
      fail(`entry "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as number[];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = DTYPE_SIZES[dtype as string];
    if (end < begin || end > dataLen) {
      fail(
        `entry "${name}" spans bytes [${begin}, ${end}) outside the ${dataLen}-byte data section`,
      );
    }
    if (end - begin !== count * size) {
      fail(
        `entry "${name}" has ${end - begin} bytes but shape ${
          JSON.stringify(shape)
        } of ${dtype} needs ${count * size}`,
      );
    }
    ranges.push([begin, end, name]);
    entries.set(name, { dtype: dtype as string, shape: shape as number[], count, begin, end });
  }
  // The data buffer must be indexed entirely, without overlaps or holes (as the reference
  // implementation checks; it rules out polyglot files).
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, name] of ranges) {
    if (begin < at) fail(`entry "${name}" overlaps the entry before it (bytes ${begin} < ${at})`);
    if (begin > at) fail(`bytes [${at}, ${begin}) of the data section belong to no entry`);
    at = end;
  }
  if (at !== dataLen) {
    fail(`bytes [${at}, ${dataLen}) of the data section belong to no entry`);
  }
  // Every entry becomes a 4-byte-per-element array (float32 or int32).
  let decoded = 0;
  for (const e of entries.values()) decoded += e.count * 4;
  checkAllocation(
    path ?? "safetensors",
    decoded,
    "its tensors are more than this machine can load",
  );
  for (const [name, e] of entries) {
    tensors[name] = decodeEntry(
      bytes.subarray(dataStart + e.begin, dataStart + e.end),
      e.dtype,
      e.shape,
      e.count,
      (msg) => fail(`entry "${name}" ${msg}`),
    );
  }
  return { tensors, metadata };
}

function decodeEntry(
  raw: Uint8Array,
  dtype: string,
  shape: number[],
  count: number,
  fail: (msg: string) => never,
): SafetensorsEntry {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let data: Float32Array | Int32Array;
  let wf: DType;
  switch (dtype) {
    case "F32":
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
      wf = "float32";
      break;
    case "F64":
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getFloat64(i * 8, true);
      wf = "float32";
      break;
    case "F16":
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = halfToFloat(dv.getUint16(i * 2, true));
      wf = "float32";
      break;
    case "BF16":
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const b = new DataView(new ArrayBuffer(4));
        b.setUint32(0, dv.getUint16(i * 2, true) << 16, true);
        data[i] = b.getFloat32(0, true);
      }
      wf = "float32";
      break;
    case "I64":
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = dv.getBigInt64(i * 8, true);
        // int32 storage: refuse values that would wrap instead of corrupting them silently
        if (v < -2147483648n || v > 2147483647n) {
          fail(`holds the I64 value ${v} at index ${i}, outside the int32 range of worldflux`);
        }
        data[i] = Number(v);
      }
      wf = "int32";
      break;
    case "I32":
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt32(i * 4, true);
      wf = "int32";
      break;
    case "I16":
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt16(i * 2, true);
      wf = "int32";
      break;
    case "I8":
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt8(i);
      wf = "int32";
      break;
    case "U8":
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getUint8(i);
      wf = "int32";
      break;
    default: // BOOL
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getUint8(i) !== 0 ? 1 : 0;
      wf = "bool";
  }
  return { fileDtype: dtype, shape, data, dtype: wf };
}

/** Reads a safetensors file into entries (without creating tensors). */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const bytes = await readFileBytes(path);
  return decodeSafetensors(bytes, path);
}

/** Loads a safetensors file as tensors on `device` (default: the default device). */
export async function loadSafetensors(
  path: string,
  opts: { device?: DeviceName } = {},
): Promise<Record<string, Tensor>> {
  const f = await readSafetensors(path);
  const out: Record<string, Tensor> = {};
  for (const [name, e] of Object.entries(f.tensors)) {
    out[name] = makeTensor(e.data, e.shape, { dtype: e.dtype, device: opts.device });
  }
  return out;
}

/** Reads only the `__metadata__` of a safetensors file. */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  return (await readSafetensors(path)).metadata;
}
