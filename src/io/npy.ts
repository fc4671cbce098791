/**
 * The NumPy `.npy` format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * the magic `\x93NUMPY`, a major/minor version (1.0, 2.0 or 3.0), the header length (2 bytes
 * little-endian in 1.0, 4 bytes in 2.0/3.0), a header that is the repr of a Python dict
 * (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, space-padded and ending in a
 * newline so that the data starts on a 64-byte boundary), then the raw elements.
 *
 * Reading is strict: the header must be exactly that dict (these three keys, literal values
 * only: nothing is ever evaluated or unpickled), the dtype one of the plain numeric ones below
 * (object, string and structured dtypes are refused), and the data exactly as long as the
 * declared shape needs: the declared size is checked against the bytes present before anything
 * is allocated, so a malformed or hostile file gives a {@link FormatError}, never a hang or a
 * huge allocation. Big-endian data is converted to the host order; `fortran_order: True` arrays
 * are transposed to C (row-major) order.
 *
 * Element types in memory ({@link NpyDataTypes}): each dtype gets its natural typed array, with
 * two conventions: `float16` is widened to a `Float32Array` (and narrowed, rounding to nearest
 * even, when written), and `bool` is a `Uint8Array` of 0/1. 64-bit integers stay exact, as
 * `BigInt64Array`/`BigUint64Array`; {@link npyToNumbers} converts any array to plain numbers,
 * refusing integers beyond 2^53 instead of rounding them. Writing `int64`/`uint64` also accepts
 * plain numbers (safe integers).
 *
 * Writing always produces format 1.0 (2.0 only if the header would not fit), little-endian,
 * C order, header padded to 64 bytes: the same bytes `np.save` writes.
 * @module
 */

import { DTypeError, FormatError, ShapeError } from "../errors.ts";
import { checkAllocation } from "./limits.ts";

/** The typed array that holds each dtype in memory. */
export interface NpyDataTypes {
  /** Half floats, widened to float32 in memory. */
  float16: Float32Array;
  /** Single floats. */
  float32: Float32Array;
  /** Double floats. */
  float64: Float64Array;
  /** Signed bytes. */
  int8: Int8Array;
  /** 16-bit signed integers. */
  int16: Int16Array;
  /** 32-bit signed integers. */
  int32: Int32Array;
  /** Exact 64-bit integers; see {@link npyToNumbers}. */
  int64: BigInt64Array;
  /** Bytes. */
  uint8: Uint8Array;
  /** 16-bit unsigned integers. */
  uint16: Uint16Array;
  /** 32-bit unsigned integers. */
  uint32: Uint32Array;
  /** Exact 64-bit unsigned integers; see {@link npyToNumbers}. */
  uint64: BigUint64Array;
  /** 0/1 bytes. */
  bool: Uint8Array;
}

/** The dtypes read and written: `float16`..`float64`, `int8`..`int64`, `uint8`..`uint64`, `bool`. */
export type NpyDType = keyof NpyDataTypes;

/** Any typed array an {@link NpyArray} may hold. */
export type NpyData = NpyDataTypes[NpyDType];

/**
 * An array read from (or to be written to) a `.npy` file: dtype, shape (`[]` for a 0-d array)
 * and the elements in C order. A union over the dtypes, so checking `dtype` narrows `data`.
 */
export type NpyArray = {
  [K in NpyDType]: { readonly dtype: K; readonly shape: number[]; readonly data: NpyDataTypes[K] };
}[NpyDType];

/** Elements accepted when writing: a typed array, plain numbers, or chunks concatenated in order. */
export type NpyInputData =
  | NpyData
  | Float64Array
  | readonly number[]
  | readonly (NpyData | Float64Array | readonly number[])[];

/**
 * An array to write. `dtype` defaults to the dtype of the typed array (`Float32Array` ->
 * float32, `Uint8Array` -> uint8, `BigInt64Array` -> int64, ...; plain numbers -> float64);
 * `shape` defaults to `[length]`. Elements of another type are converted when the conversion is
 * exact for integers (a non-integer or out-of-range value for an integer dtype is an error).
 */
export interface NpyInput {
  /** Element type in the file (default: from the typed array). */
  readonly dtype?: NpyDType;
  /** Shape (default `[data length]`; `[]` for a 0-d array). */
  readonly shape?: readonly number[];
  /** Elements in C order. */
  readonly data: NpyInputData;
}

/** Options of {@link decodeNpy}. */
export interface NpyReadOptions {
  /** Largest header accepted in bytes (default 10000, NumPy's own limit). */
  readonly maxHeaderBytes?: number;
  /**
   * Let the result share memory with `bytes` when the data is aligned, little-endian and C-order
   * (default false: the result owns a copy).
   */
  readonly share?: boolean;
  /** Name used in error messages (e.g. the file or the `.npz` member). */
  readonly name?: string;
}

interface DTypeInfo {
  readonly kind: "f" | "i" | "u" | "b";
  readonly size: number;
}

const INFO: Record<NpyDType, DTypeInfo> = {
  float16: { kind: "f", size: 2 },
  float32: { kind: "f", size: 4 },
  float64: { kind: "f", size: 8 },
  int8: { kind: "i", size: 1 },
  int16: { kind: "i", size: 2 },
  int32: { kind: "i", size: 4 },
  int64: { kind: "i", size: 8 },
  uint8: { kind: "u", size: 1 },
  uint16: { kind: "u", size: 2 },
  uint32: { kind: "u", size: 4 },
  uint64: { kind: "u", size: 8 },
  bool: { kind: "b", size: 1 },
};

const BY_CODE = new Map<string, NpyDType>(
  (Object.entries(INFO) as [NpyDType, DTypeInfo][]).map(([d, i]) => [`${i.kind}${i.size}`, d]),
);

/** All dtypes, for validation. */
export const NPY_DTYPES: readonly NpyDType[] = Object.keys(INFO) as NpyDType[];

/** The NumPy descr string written for a dtype (`<f4`, `|b1`, ...). */
export function npyDescr(dtype: NpyDType): string {
  const i = INFO[dtype];
  return `${i.size === 1 ? "|" : "<"}${i.kind}${i.size}`;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** NumPy's limit on dimensions is 32 (64 in NumPy 2); we accept up to 64. */
const MAX_NDIM = 64;

function fail(name: string | undefined, msg: string): never {
  throw new FormatError(name ? `${name}: ${msg}` : msg);
}

// ---------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------

type PyValue = string | boolean | bigint[];

/**
 * Parses the header: a Python dict literal of strings, True/False and tuples of non-negative
 * integers, nothing else. Returns the entries in order; throws on anything unexpected.
 */
function parseHeaderDict(text: string, name?: string): Map<string, PyValue> {
  let i = 0;
  const n = text.length;
  const bad = (what: string): never =>
    fail(name, `malformed .npy header (${what} at offset ${i} of the header)`);
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) {
      i++;
    }
  };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') bad("expected a string");
    const end = text.indexOf(q, i + 1);
    if (end < 0) bad("unterminated string");
    const s = text.slice(i + 1, end);
    if (s.includes("\\") || s.includes("\n")) bad("escape sequences are not supported");
    i = end + 1;
    return s;
  };
  const int = (): bigint => {
    const m = /^[0-9]+/.exec(text.slice(i, i + 40));
    if (!m) bad("expected a non-negative integer");
    i += m![0].length;
    if (text[i] === "L") i++; // Python 2 longs, as old NumPy wrote them
    if (m![0].length > 30) bad("integer too large");
    return BigInt(m![0]);
  };
  const value = (): PyValue => {
    if (text[i] === "'" || text[i] === '"') return str();
    if (text.startsWith("True", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("False", i)) {
      i += 5;
      return false;
    }
    if (text[i] === "(") {
      i++;
      const out: bigint[] = [];
      ws();
      if (text[i] === ")") {
        i++;
        return out;
      }
      for (;;) {
        ws();
        out.push(int());
        if (out.length > MAX_NDIM) bad(`more than ${MAX_NDIM} dimensions`);
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === ")") {
            i++;
            return out;
          }
          continue;
        }
        if (text[i] === ")") {
          // `(3)` is an int in Python, not a tuple: NumPy never writes it.
          if (out.length === 1) bad("a one-element tuple needs a trailing comma");
          i++;
          return out;
        }
        bad("expected ',' or ')' in the shape");
      }
    }
    if (text[i] === "[") bad("structured dtypes (a list descr) are not supported");
    return bad("expected a string, True, False or a tuple");
  };
  const out = new Map<string, PyValue>();
  ws();
  if (text[i] !== "{") bad("expected '{'");
  i++;
  for (;;) {
    ws();
    if (text[i] === "}") {
      i++;
      break;
    }
    const key = str();
    ws();
    if (text[i] !== ":") bad("expected ':'");
    i++;
    ws();
    const v = value();
    if (out.has(key)) bad(`duplicate key '${key}'`);
    out.set(key, v);
    ws();
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] === "}") {
      i++;
      break;
    }
    bad("expected ',' or '}'");
  }
  ws();
  if (i !== n) bad("unexpected text after the dict");
  return out;
}

interface Header {
  readonly dtype: NpyDType;
  readonly littleEndian: boolean;
  readonly fortranOrder: boolean;
  readonly shape: number[];
  /** Offset of the first data byte. */
  readonly dataOffset: number;
}

function parseDescr(descr: string, name?: string): { dtype: NpyDType; littleEndian: boolean } {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) {
    if (/^\W*O/.test(descr)) fail(name, `object arrays are not supported (descr '${descr}')`);
    fail(name, `unsupported dtype descr '${descr}'`);
  }
  const [, order, kindRaw, sizeRaw] = m;
  if (kindRaw === "O") {
    fail(name, `object arrays are not supported: a loader never unpickles (descr '${descr}')`);
  }
  const kind = kindRaw === "?" ? "b" : kindRaw;
  const size = sizeRaw === "" ? (kind === "b" ? 1 : NaN) : Number(sizeRaw);
  const dtype = BY_CODE.get(`${kind}${size}`);
  if (!dtype || order === "") {
    fail(
      name,
      `unsupported dtype descr '${descr}' (supported: ${NPY_DTYPES.map(npyDescr).join(" ")}, ` +
        `either byte order)`,
    );
  }
  if (order === "|" && size !== 1) {
    fail(name, `descr '${descr}': '|' (no byte order) is only valid for 1-byte types`);
  }
  return { dtype, littleEndian: order === "<" || order === "|" || (order === "=" && HOST_LE) };
}

/** Reads and validates the magic, version and header; `bytes` must hold at least the header. */
function readHeader(bytes: Uint8Array, opts: NpyReadOptions): Header {
  const name = opts.name;
  const maxHeader = opts.maxHeaderBytes ?? 10000;
  if (bytes.length < 10) {
    fail(name, `not a .npy file: ${bytes.length} bytes is shorter than a header`);
  }
  for (let k = 0; k < 6; k++) {
    if (bytes[k] !== MAGIC[k]) fail(name, "not a .npy file (the magic \\x93NUMPY is missing)");
  }
  const major = bytes[6], minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    fail(name, `unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number, hlen: number;
  if (major === 1) {
    start = 10;
    hlen = dv.getUint16(8, true);
  } else {
    if (bytes.length < 12) fail(name, "truncated .npy header");
    start = 12;
    hlen = dv.getUint32(8, true);
  }
  if (hlen > maxHeader) {
    fail(name, `.npy header of ${hlen} bytes exceeds the limit of ${maxHeader} bytes`);
  }
  if (start + hlen > bytes.length) {
    fail(name, `truncated .npy header: ${hlen} bytes declared, ${bytes.length - start} present`);
  }
  const raw = bytes.subarray(start, start + hlen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      fail(name, "the .npy 3.0 header is not valid UTF-8");
    }
  } else {
    text = "";
    for (let k = 0; k < raw.length; k++) text += String.fromCharCode(raw[k]); // latin-1
  }
  const dict = parseHeaderDict(text, name);
  const keys = [...dict.keys()].sort();
  if (keys.join(",") !== "descr,fortran_order,shape") {
    fail(
      name,
      `the .npy header must have exactly the keys 'descr', 'fortran_order', 'shape' (got ${
        keys.map((k) => `'${k}'`).join(", ") || "none"
      })`,
    );
  }
  const descr = dict.get("descr");
  const fortran = dict.get("fortran_order");
  const shapeV = dict.get("shape");
  if (typeof descr !== "string") {
    fail(name, "'descr' must be a string (structured dtypes are not supported)");
  }
  if (typeof fortran !== "boolean") fail(name, "'fortran_order' must be True or False");
  if (!Array.isArray(shapeV)) fail(name, "'shape' must be a tuple of integers");
  const { dtype, littleEndian } = parseDescr(descr, name);
  const shape: number[] = [];
  for (const d of shapeV) {
    if (d > BigInt(Number.MAX_SAFE_INTEGER)) fail(name, `dimension ${d} is too large`);
    shape.push(Number(d));
  }
  return { dtype, littleEndian, fortranOrder: fortran, shape, dataOffset: start + hlen };
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function alloc(dtype: NpyDType, n: number): NpyData {
  switch (dtype) {
    case "float16":
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "int8":
      return new Int8Array(n);
    case "int16":
      return new Int16Array(n);
    case "int32":
      return new Int32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "uint8":
    case "bool":
      return new Uint8Array(n);
    case "uint16":
      return new Uint16Array(n);
    case "uint32":
      return new Uint32Array(n);
    case "uint64":
      return new BigUint64Array(n);
  }
}

type Ctor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): NpyData };

function ctorOf(dtype: NpyDType): Ctor {
  return alloc(dtype, 0).constructor as unknown as Ctor;
}

/** Half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A number to half-precision bits, rounding to nearest even (as NumPy's astype(float16)). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0); // inf / nan
  // Unbiased exponent; half's normal range is [-14, 15].
  const ue = e - 127;
  if (ue > 15) return sign | 0x7c00;
  if (ue >= -14) {
    // Normal: keep 10 of 23 mantissa bits, round to nearest even on the 13 dropped bits.
    let h = ((ue + 15) << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into the exponent (ok)
    return sign | h;
  }
  if (ue < -25) return sign; // underflows to zero (also for float32 denormals)
  // Subnormal half: value = m' * 2^-24 with the implicit bit made explicit.
  m |= 0x800000;
  const shift = -ue - 14 + 13; // 14..24 bits dropped
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (h & 1))) h++;
  return sign | h;
}

/** Multiplies dims, failing as soon as the element count cannot fit `limit` elements. */
function checkedNumel(shape: readonly number[], limit: number): number | null {
  if (shape.some((d) => d === 0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > limit) return null;
  }
  return n;
}

/** Reorders Fortran-order elements of `shape` into C order. */
function fortranToC<T extends NpyData>(src: T, shape: readonly number[]): T {
  const nd = shape.length;
  const n = src.length;
  if (nd < 2 || n === 0) return src;
  const out = new (src.constructor as { new (n: number): T })(n);
  const fstride = new Array<number>(nd);
  fstride[0] = 1;
  for (let k = 1; k < nd; k++) fstride[k] = fstride[k - 1] * shape[k - 1];
  const idx = new Array<number>(nd).fill(0);
  let f = 0;
  const last = nd - 1;
  const s = src as unknown as { [i: number]: number | bigint };
  const o = out as unknown as { [i: number]: number | bigint };
  for (let c = 0; c < n; c++) {
    o[c] = s[f];
    let k = last;
    idx[k]++;
    f += fstride[k];
    while (idx[k] === shape[k] && k > 0) {
      f -= shape[k] * fstride[k];
      idx[k] = 0;
      k--;
      idx[k]++;
      f += fstride[k];
    }
  }
  return out;
}

/**
 * Parses `.npy` bytes. Throws a {@link FormatError} for anything malformed, unsupported, or
 * inconsistent (data shorter or longer than the shape needs).
 *
 * @example
 * ```ts
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * const a = decodeNpy(encodeNpy({ shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }));
 * console.log(a.dtype, a.shape, a.data); // float32 [2, 2] Float32Array [1, 2, 3, 4]
 * ```
 */
export function decodeNpy(bytes: Uint8Array, opts: NpyReadOptions = {}): NpyArray {
  const h = readHeader(bytes, opts);
  const name = opts.name;
  const size = INFO[h.dtype].size;
  const present = bytes.length - h.dataOffset;
  const n = checkedNumel(h.shape, Math.floor(present / size));
  if (n === null || n * size > present) {
    fail(
      name,
      `truncated .npy data: shape (${
        h.shape.join(", ")
      }) of ${h.dtype} needs more than the ${present} bytes present`,
    );
  }
  if (n * size !== present) {
    fail(
      name,
      `.npy data of shape (${h.shape.join(", ")}) ${h.dtype} is ${
        n * size
      } bytes but ${present} follow the header`,
    );
  }
  const wide = h.dtype === "float16" ? 4 : size; // float16 is widened to float32
  checkAllocation(
    name ?? ".npy array",
    n * wide,
    `its shape (${h.shape.join(", ")}) of ${h.dtype} is more than this machine can load`,
  );
  const at = bytes.byteOffset + h.dataOffset;
  let data: NpyData;
  if (h.dtype === "float16") {
    const dv = new DataView(bytes.buffer, at, n * 2);
    const out = new Float32Array(n);
    for (let k = 0; k < n; k++) out[k] = halfToFloat(dv.getUint16(2 * k, h.littleEndian));
    data = out;
  } else if (h.dtype === "bool") {
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) out[k] = bytes[h.dataOffset + k] !== 0 ? 1 : 0;
    data = out;
  } else if (h.littleEndian === HOST_LE || size === 1) {
    if (opts.share && at % size === 0) data = new (ctorOf(h.dtype))(bytes.buffer, at, n);
    else {
      const copy = bytes.slice(h.dataOffset, h.dataOffset + n * size);
      data = new (ctorOf(h.dtype))(copy.buffer, 0, n);
    }
  } else {
    // Swap bytes into a copy.
    const copy = new Uint8Array(n * size);
    const src = bytes.subarray(h.dataOffset, h.dataOffset + n * size);
    for (let k = 0; k < n * size; k += size) {
      for (let j = 0; j < size; j++) copy[k + j] = src[k + size - 1 - j];
    }
    data = new (ctorOf(h.dtype))(copy.buffer, 0, n);
  }
  if (h.fortranOrder) data = fortranToC(data, h.shape);
  return { dtype: h.dtype, shape: h.shape, data } as NpyArray;
}

/**
 * Every element as a plain number (a `Float64Array`). 64-bit integers beyond ±2^53 cannot be
 * represented exactly and give a {@link FormatError} naming `what`.
 */
export function npyToNumbers(a: NpyArray, what = "array"): Float64Array {
  const d = a.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const out = new Float64Array(d.length);
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    for (let k = 0; k < d.length; k++) {
      const v = d[k];
      if (v > max || v < -max) {
        throw new FormatError(
          `${what}: ${a.dtype} value ${v} is beyond 2^53 and has no exact number`,
        );
      }
      out[k] = Number(v);
    }
    return out;
  }
  return Float64Array.from(d as ArrayLike<number>);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

function dtypeOfData(d: unknown): NpyDType {
  if (d instanceof Float32Array) return "float32";
  if (d instanceof Float64Array) return "float64";
  if (d instanceof Int8Array) return "int8";
  if (d instanceof Int16Array) return "int16";
  if (d instanceof Int32Array) return "int32";
  if (d instanceof BigInt64Array) return "int64";
  if (d instanceof Uint8Array) return "uint8";
  if (d instanceof Uint16Array) return "uint16";
  if (d instanceof Uint32Array) return "uint32";
  if (d instanceof BigUint64Array) return "uint64";
  return "float64";
}

const INT_RANGE: Partial<Record<NpyDType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 2 ** 32 - 1],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

function isChunkList(
  d: NpyInputData,
): d is readonly (NpyData | Float64Array | readonly number[])[] {
  return Array.isArray(d) && d.length > 0 && typeof d[0] === "object";
}

/** Converts one chunk to the dtype's typed array (no copy when it already is one). */
function convertChunk(
  c: NpyData | Float64Array | readonly number[],
  dtype: NpyDType,
  where: string,
): NpyData {
  const natural = dtypeOfData(c);
  if (ArrayBuffer.isView(c) && natural === dtype && dtype !== "float64") return c as NpyData;
  if (c instanceof Float64Array && dtype === "float64") return c;
  if (dtype === "bool") {
    const out = new Uint8Array(c.length);
    for (let k = 0; k < c.length; k++) out[k] = (c as ArrayLike<number | bigint>)[k] ? 1 : 0;
    return out;
  }
  const src = c as ArrayLike<number | bigint>;
  const out = alloc(dtype, c.length);
  const range = INT_RANGE[dtype];
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    for (let k = 0; k < src.length; k++) {
      const v = src[k];
      if (typeof v === "bigint") out[k] = v;
      else {
        if (!Number.isInteger(v) || v < range![0] || v > range![1]) {
          throw new DTypeError("npy", `${where}: ${v} is not a ${dtype} value (a safe integer)`);
        }
        out[k] = BigInt(v);
      }
    }
    return out;
  }
  const o = out as { [i: number]: number };
  for (let k = 0; k < src.length; k++) {
    const v = Number(src[k]);
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw new DTypeError("npy", `${where}: ${v} is not a ${dtype} value`);
    }
    o[k] = v;
  }
  return out;
}

function toLEBytes(c: NpyData, dtype: NpyDType): Uint8Array {
  if (dtype === "float16") {
    const f = c as Float32Array;
    const out = new Uint8Array(f.length * 2);
    const dv = new DataView(out.buffer);
    for (let k = 0; k < f.length; k++) dv.setUint16(2 * k, floatToHalf(f[k]), true);
    return out;
  }
  if (dtype === "bool") {
    const u = c as Uint8Array;
    for (let k = 0; k < u.length; k++) {
      if (u[k] > 1) return Uint8Array.from(u, (v) => (v ? 1 : 0));
    }
  }
  const bytes = new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
  const size = INFO[dtype].size;
  if (HOST_LE || size === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let k = 0; k < bytes.length; k += size) {
    for (let j = 0; j < size; j++) out[k + j] = bytes[k + size - 1 - j];
  }
  return out;
}

/** The header bytes (magic through padding) of an array. */
export function npyHeaderBytes(dtype: NpyDType, shape: readonly number[]): Uint8Array {
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${npyDescr(dtype)}', 'fortran_order': False, 'shape': ${shp}, }`;
  let major = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const text = dict + " ".repeat(total - pre - dict.length - 1) + "\n";
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, text.length, true);
  else dv.setUint32(8, text.length, true);
  for (let k = 0; k < text.length; k++) out[pre + k] = text.charCodeAt(k);
  return out;
}

/**
 * The `.npy` bytes of an array as a list of pieces (header, then the data chunks, shared with the
 * input where no conversion is needed): lets large arrays be written without one more copy.
 */
export function npyParts(
  a: NpyInput,
  where = "array",
): { parts: Uint8Array[]; byteLength: number } {
  const raw = a.data;
  const chunks = isChunkList(raw) ? raw : [raw as NpyData | Float64Array | readonly number[]];
  const dtype = a.dtype ?? (chunks.length ? dtypeOfData(chunks[0]) : "float64");
  if (!(dtype in INFO)) throw new DTypeError("npy", `${where}: unknown dtype "${dtype}"`);
  let n = 0;
  for (const c of chunks) n += c.length;
  const shape = a.shape ? [...a.shape] : [n];
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(
        "npy",
        `${where}: invalid dimension ${d} in shape [${shape.join(", ")}]`,
      );
    }
  }
  const numel = shape.reduce((p, d) => p * d, 1);
  if (numel !== n) {
    throw new ShapeError(
      "npy",
      `${where}: ${n} elements do not fill shape [${shape.join(", ")}] (${numel} elements)`,
    );
  }
  const header = npyHeaderBytes(dtype, shape);
  const parts = [header];
  let byteLength = header.length;
  for (const c of chunks) {
    if (c.length === 0) continue;
    const b = toLEBytes(convertChunk(c, dtype, where), dtype);
    parts.push(b);
    byteLength += b.length;
  }
  return { parts, byteLength };
}

/**
 * Serialises an array to `.npy` bytes (format 1.0, little-endian, C order), as `np.save` does.
 *
 * @example
 * ```ts
 * import { encodeNpy } from "./npy.ts";
 * const bytes = encodeNpy({ dtype: "int64", shape: [], data: [6] }); // a 0-d int64
 * console.log(bytes.length); // 136 (128-byte header + 8)
 * ```
 */
export function encodeNpy(a: NpyInput): Uint8Array {
  const { parts, byteLength } = npyParts(a);
  const out = new Uint8Array(byteLength);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
