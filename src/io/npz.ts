/**
 * NumPy `.npz` archives: a ZIP file of `.npy` members, one per array (`obs.npy` holds `obs`).
 * `np.savez` stores the members (ZIP method 0) and `np.savez_compressed` deflates them (method 8);
 * both are read here, and {@link saveNpz} writes either (`compressed: false`, the default, is
 * `np.savez`; `compressed: true` is `np.savez_compressed`), atomically (temp file + rename).
 *
 * The ZIP container is parsed here, strictly (end-of-central-directory record, ZIP64 records and
 * extra fields, central and local headers, sizes, CRC-32), and deflate streams go through
 * `fflate`. Every declared size is checked against the bytes present (and, for deflated members,
 * against the largest size deflate can produce from them, 1032:1) before anything is allocated,
 * and inflation stops as soon as a member outgrows its declared size: a malformed or hostile
 * archive gives a {@link FormatError}, never a hang or a huge allocation. Encrypted members,
 * other compression methods and duplicate names are refused; members that are not `.npy` files
 * are ignored, as `np.load` only turns `.npy` members into arrays.
 *
 * Arrays come back as {@link NpyArray}s: `{ dtype, shape, data }` with `data` a typed array of
 * the dtype (`float32` -> Float32Array, `int64` -> BigInt64Array (exact; {@link npyToNumbers}
 * converts to numbers where safe), `bool` -> Uint8Array of 0/1, `float16` -> Float32Array; see
 * {@link NpyDataTypes}).
 * @module
 */

import { Deflate, Inflate } from "fflate";
import { ConfigError, FormatError } from "../errors.ts";
import { writeFileAtomic } from "./atomic.ts";
import { readFileBytes } from "./files.ts";
import { checkAllocation } from "./limits.ts";
import { decodeNpy, type NpyArray, type NpyInput, npyParts } from "./npy.ts";

export type { NpyArray, NpyDataTypes, NpyDType, NpyInput } from "./npy.ts";

/** Arrays of an archive by name (the member name without `.npy`). */
export type NpzArrays = Record<string, NpyArray>;

/** Options of {@link encodeNpz} and {@link saveNpz}. */
export interface NpzWriteOptions {
  /** Deflate the members, as `np.savez_compressed` (default false: stored, as `np.savez`). */
  readonly compressed?: boolean;
  /** Deflate level 1-9 when compressed (default 6, zlib's default, as NumPy uses). */
  readonly level?: number;
  /** Always write ZIP64 size fields (as NumPy does); by default only where sizes need them. */
  readonly zip64?: boolean;
  /**
   * Modification time recorded for the members (default: the ZIP epoch, 1980-01-01 00:00, so
   * that the same arrays always give the same bytes and the same sha256; NumPy records the
   * current time).
   */
  readonly mtime?: Date;
}

/** Options of {@link decodeNpz} and {@link loadNpz}. */
export interface NpzReadOptions {
  /**
   * Largest total of uncompressed bytes of the members read (default: the allocation limit of
   * `limits.ts`, the physical memory). Members not read (see `only`) are never inflated.
   */
  readonly maxBytes?: number;
  /** Largest `.npy` header accepted (default 10000 bytes, as NumPy). */
  readonly maxHeaderBytes?: number;
  /** Read only these arrays (names without `.npy`); the others are skipped without inflating. */
  readonly only?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, as ZIP), slicing by 8
// ---------------------------------------------------------------------------------------------

const CRC_TABLES = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
    }
  }
  return t;
})();

/** Continues a CRC-32 over `data` (start with 0). */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    c = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^ t[768 + data[i + 4]] ^ t[512 + data[i + 5]] ^ t[256 + data[i + 6]] ^
      t[data[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
const CHUNK = 1 << 20;

interface Member {
  readonly name: Uint8Array;
  readonly utf8: boolean;
  readonly crc: number;
  readonly usize: number;
  readonly csize: number;
  readonly method: number;
  readonly body: Uint8Array[];
  readonly zip64: boolean;
  offset: number;
}

function dosDateTime(d: Date): [number, number] {
  const year = Math.min(Math.max(d.getFullYear(), 1980), 2107);
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  const date = ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  return [time, date];
}

function deflateParts(parts: Uint8Array[], level: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const z = new Deflate({ level: level as 1 }, (chunk) => {
    if (chunk.length) out.push(chunk);
  });
  const pieces: Uint8Array[] = [];
  for (const p of parts) {
    for (let at = 0; at < p.length; at += CHUNK) pieces.push(p.subarray(at, at + CHUNK));
  }
  if (pieces.length === 0) z.push(new Uint8Array(0), true);
  pieces.forEach((p, i) => z.push(p, i === pieces.length - 1));
  return out;
}

/**
 * Serialises arrays into `.npz` bytes (`name` -> member `name.npy`).
 *
 * @example
 * ```ts
 * import { decodeNpz, encodeNpz } from "./npz.ts";
 * const bytes = encodeNpz({
 *   x: { shape: [2], data: new Float32Array([1, 2]) },
 *   n: { dtype: "int64", shape: [], data: [7] },
 * }, { compressed: true });
 * const arrays = decodeNpz(bytes);
 * console.log(arrays.x.data, arrays.n.data); // Float32Array [1, 2] BigInt64Array [7n]
 * ```
 */
export function encodeNpz(
  arrays: Readonly<Record<string, NpyInput>>,
  opts: NpzWriteOptions = {},
): Uint8Array {
  const compressed = opts.compressed ?? false;
  const level = opts.level ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new ConfigError(`npz: level must be an integer 1-9, got ${level}`);
  }
  const [time, date] = dosDateTime(opts.mtime ?? new Date(1980, 0, 1));
  const members: Member[] = [];
  const enc = new TextEncoder();
  for (const [key, arr] of Object.entries(arrays)) {
    if (key.length === 0) throw new FormatError("npz: array names must not be empty");
    const { parts, byteLength } = npyParts(arr, `npz array "${key}"`);
    let crc = 0;
    for (const p of parts) crc = crc32(p, crc);
    const body = compressed ? deflateParts(parts, level) : parts;
    const csize = body.reduce((s, b) => s + b.length, 0);
    const name = enc.encode(`${key}.npy`);
    if (name.length > 0xffff) throw new FormatError(`npz: array name "${key}" is too long`);
    members.push({
      name,
      utf8: /[^\x20-\x7e]/.test(key),
      crc,
      usize: byteLength,
      csize,
      method: compressed ? 8 : 0,
      body,
      zip64: opts.zip64 === true || byteLength >= U32_MAX || csize >= U32_MAX,
      offset: 0,
    });
  }
  // Layout: local headers + bodies, central directory, (ZIP64 end records), end record.
  let at = 0;
  for (const m of members) {
    m.offset = at;
    at += 30 + m.name.length + (m.zip64 ? 20 : 0) + m.csize;
  }
  const cdStart = at;
  const central = members.map((m) => {
    const big = [
      m.zip64 ? m.usize : -1,
      m.zip64 ? m.csize : -1,
      m.offset >= U32_MAX ? m.offset : -1,
    ]
      .filter((v) => v >= 0);
    return { extra: big.length ? 4 + 8 * big.length : 0, big };
  });
  let cdSize = 0;
  members.forEach((m, i) => (cdSize += 46 + m.name.length + central[i].extra));
  const needZip64End = members.length >= 0xffff || cdStart >= U32_MAX || cdSize >= U32_MAX ||
    opts.zip64 === true;
  const total = cdStart + cdSize + (needZip64End ? 56 + 20 : 0) + 22;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const u16 = (o: number, v: number) => dv.setUint16(o, v, true);
  const u32 = (o: number, v: number) => dv.setUint32(o, v >>> 0, true);
  const u64 = (o: number, v: number) => dv.setBigUint64(o, BigInt(v), true);
  for (const m of members) {
    let o = m.offset;
    const flags = m.utf8 ? 0x800 : 0;
    u32(o, SIG_LOCAL);
    u16(o + 4, m.zip64 ? 45 : 20);
    u16(o + 6, flags);
    u16(o + 8, m.method);
    u16(o + 10, time);
    u16(o + 12, date);
    u32(o + 14, m.crc);
    u32(o + 18, m.zip64 ? U32_MAX : m.csize);
    u32(o + 22, m.zip64 ? U32_MAX : m.usize);
    u16(o + 26, m.name.length);
    u16(o + 28, m.zip64 ? 20 : 0);
    out.set(m.name, o + 30);
    o += 30 + m.name.length;
    if (m.zip64) {
      u16(o, 1);
      u16(o + 2, 16);
      u64(o + 4, m.usize);
      u64(o + 12, m.csize);
      o += 20;
    }
    for (const b of m.body) {
      out.set(b, o);
      o += b.length;
    }
  }
  let o = cdStart;
  members.forEach((m, i) => {
    const { extra, big } = central[i];
    u32(o, SIG_CENTRAL);
    u16(o + 4, (3 << 8) | (m.zip64 ? 45 : 20)); // made by: Unix
    u16(o + 6, m.zip64 ? 45 : 20);
    u16(o + 8, m.utf8 ? 0x800 : 0);
    u16(o + 10, m.method);
    u16(o + 12, time);
    u16(o + 14, date);
    u32(o + 16, m.crc);
    u32(o + 20, m.zip64 ? U32_MAX : m.csize);
    u32(o + 24, m.zip64 ? U32_MAX : m.usize);
    u16(o + 28, m.name.length);
    u16(o + 30, extra);
    u16(o + 32, 0); // comment
    u16(o + 34, 0); // disk
    u16(o + 36, 0); // internal attributes
    u32(o + 38, 0o100644 << 16); // regular file, rw-r--r--
    u32(o + 42, m.offset >= U32_MAX ? U32_MAX : m.offset);
    out.set(m.name, o + 46);
    o += 46 + m.name.length;
    if (extra) {
      u16(o, 1);
      u16(o + 2, extra - 4);
      big.forEach((v, k) => u64(o + 4 + 8 * k, v));
      o += extra;
    }
  });
  if (needZip64End) {
    const rec = o;
    u32(o, SIG_ZIP64_EOCD);
    u64(o + 4, 44);
    u16(o + 12, (3 << 8) | 45);
    u16(o + 14, 45);
    u32(o + 16, 0);
    u32(o + 20, 0);
    u64(o + 24, members.length);
    u64(o + 32, members.length);
    u64(o + 40, cdSize);
    u64(o + 48, cdStart);
    o += 56;
    u32(o, SIG_ZIP64_LOCATOR);
    u32(o + 4, 0);
    u64(o + 8, rec);
    u32(o + 16, 1);
    o += 20;
  }
  u32(o, SIG_EOCD);
  u16(o + 4, 0);
  u16(o + 6, 0);
  u16(o + 8, Math.min(members.length, 0xffff));
  u16(o + 10, Math.min(members.length, 0xffff));
  u32(o + 12, Math.min(cdSize, U32_MAX));
  u32(o + 16, Math.min(cdStart, U32_MAX));
  u16(o + 20, 0);
  return out;
}

/**
 * Writes arrays to `path` as `.npz`, atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { loadNpz, saveNpz } from "./npz.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npz" });
 * await saveNpz(path, { rewards: { data: new Float32Array([0, 1]) } }, { compressed: true });
 * console.log((await loadNpz(path)).rewards.shape); // [2]
 * ```
 */
export async function saveNpz(
  path: string,
  arrays: Readonly<Record<string, NpyInput>>,
  opts: NpzWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, opts));
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/** A member as listed by the central directory. */
export interface NpzMemberInfo {
  /** File name in the archive (`obs.npy`). */
  readonly name: string;
  /** 0 (stored) or 8 (deflated). */
  readonly method: number;
  /** Bytes of (possibly deflated) data in the archive. */
  readonly compressedSize: number;
  /** Uncompressed bytes. */
  readonly size: number;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc: number;
  /** Offset of the member's data in the archive. */
  readonly dataOffset: number;
}

/** Largest expansion of deflate (a 258-byte match per ~2 bits), plus slack for tiny members. */
const MAX_DEFLATE_RATIO = 1032;

/** Lists the members of a ZIP archive, validating its structure (not the member data). */
export function listZipMembers(bytes: Uint8Array, where = "npz"): NpzMemberInfo[] {
  const bad = (msg: string): never => {
    throw new FormatError(`${where}: ${msg}`);
  };
  const n = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r16 = (o: number) => dv.getUint16(o, true);
  const r32 = (o: number) => dv.getUint32(o, true);
  const r64 = (o: number): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`a ZIP64 field (${v}) is beyond 2^53`);
    return Number(v);
  };
  if (n < 22) bad(`not a ZIP archive (${n} bytes)`);
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  let eocd = -1;
  for (let e = n - 22; e >= Math.max(0, n - 22 - 0xffff); e--) {
    if (r32(e) === SIG_EOCD && e + 22 + r16(e + 20) === n) {
      eocd = e;
      break;
    }
  }
  if (eocd < 0) bad("not a ZIP archive (no end-of-central-directory record)");
  if (r16(eocd + 4) !== 0 || r16(eocd + 6) !== 0) bad("multi-disk archives are not supported");
  let count = r16(eocd + 10);
  if (r16(eocd + 8) !== count) bad("multi-disk archives are not supported");
  let cdSize = r32(eocd + 12);
  let cdOff = r32(eocd + 16);
  let cdLimit = eocd; // the central directory ends before the end records
  const loc = eocd - 20;
  if (loc >= 0 && r32(loc) === SIG_ZIP64_LOCATOR) {
    if (r32(loc + 4) !== 0 || r32(loc + 16) !== 1) bad("multi-disk archives are not supported");
    const rec = r64(loc + 8);
    if (rec + 56 > loc || r32(rec) !== SIG_ZIP64_EOCD) bad("bad ZIP64 end-of-central-directory");
    if (r32(rec + 16) !== 0 || r32(rec + 20) !== 0) bad("multi-disk archives are not supported");
    const c64 = r64(rec + 24);
    if (r64(rec + 32) !== c64) bad("multi-disk archives are not supported");
    count = c64;
    cdSize = r64(rec + 40);
    cdOff = r64(rec + 48);
    cdLimit = rec;
  }
  if (cdOff + cdSize > cdLimit) {
    bad(`the central directory (${cdSize} bytes at ${cdOff}) runs past its end (${cdLimit})`);
  }
  if (count * 46 > cdSize) bad(`${count} entries cannot fit a ${cdSize}-byte central directory`);
  const members: NpzMemberInfo[] = [];
  const names = new Set<string>();
  const utf8 = new TextDecoder("utf-8", { fatal: false });
  let o = cdOff;
  const cdEnd = cdOff + cdSize;
  for (let i = 0; i < count; i++) {
    if (o + 46 > cdEnd || r32(o) !== SIG_CENTRAL) bad(`central directory entry ${i} is malformed`);
    const flags = r16(o + 8);
    const method = r16(o + 10);
    const crc = r32(o + 16);
    let csize = r32(o + 20);
    let usize = r32(o + 24);
    const nameLen = r16(o + 28);
    const extraLen = r16(o + 30);
    const commentLen = r16(o + 32);
    let disk = r16(o + 34);
    let off = r32(o + 42);
    const next = o + 46 + nameLen + extraLen + commentLen;
    if (next > cdEnd) bad(`central directory entry ${i} runs past the directory`);
    const nameBytes = bytes.subarray(o + 46, o + 46 + nameLen);
    const name = flags & 0x800 ? utf8.decode(nameBytes) : String.fromCharCode(...nameBytes); // CP437; NumPy names are ASCII
    // ZIP64 extra field: the fields that are 0xFFFFFFFF in the record, in this order.
    const need = [usize === U32_MAX, csize === U32_MAX, off === U32_MAX, disk === 0xffff];
    if (need.some((x) => x)) {
      let e = o + 46 + nameLen;
      const eEnd = e + extraLen;
      let found = false;
      while (e + 4 <= eEnd) {
        const id = r16(e), len = r16(e + 2);
        if (e + 4 + len > eEnd) bad(`"${name}": malformed extra field`);
        if (id === 1) {
          let p = e + 4;
          const take = (): number => {
            if (p + 8 > e + 4 + len) bad(`"${name}": ZIP64 extra field too short`);
            const v = r64(p);
            p += 8;
            return v;
          };
          if (need[0]) usize = take();
          if (need[1]) csize = take();
          if (need[2]) off = take();
          if (need[3]) {
            if (p + 4 > e + 4 + len) bad(`"${name}": ZIP64 extra field too short`);
            disk = r32(p);
          }
          found = true;
          break;
        }
        e += 4 + len;
      }
      if (!found) bad(`"${name}": sizes of 0xFFFFFFFF without a ZIP64 extra field`);
    }
    if (disk !== 0) bad(`"${name}": multi-disk archives are not supported`);
    if (flags & 1) bad(`"${name}" is encrypted`);
    if (method !== 0 && method !== 8) {
      bad(`"${name}": compression method ${method} is not supported (only stored and deflate)`);
    }
    if (method === 0 && csize !== usize) {
      bad(`"${name}": a stored member with compressed size ${csize} != size ${usize}`);
    }
    if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 1024) {
      bad(`"${name}": declared size ${usize} is more than deflate can produce from ${csize} bytes`);
    }
    if (names.has(name)) bad(`duplicate member "${name}"`);
    names.add(name);
    // Local header: same name; data within the archive, before the central directory.
    if (off + 30 > cdOff || r32(off) !== SIG_LOCAL) bad(`"${name}": bad local header at ${off}`);
    const lNameLen = r16(off + 26), lExtraLen = r16(off + 28);
    const dataOffset = off + 30 + lNameLen + lExtraLen;
    if (dataOffset > cdOff) bad(`"${name}": local header runs into the central directory`);
    const lName = bytes.subarray(off + 30, off + 30 + lNameLen);
    if (lNameLen !== nameLen || lName.some((b, k) => b !== nameBytes[k])) {
      bad(`"${name}": local and central names differ`);
    }
    if (r16(off + 8) !== method) bad(`"${name}": local and central compression methods differ`);
    if (dataOffset + csize > cdOff) {
      bad(`"${name}": ${csize} bytes of data run past the end of the members (truncated file?)`);
    }
    members.push({ name, method, compressedSize: csize, size: usize, crc, dataOffset });
    o = next;
  }
  return members;
}

/** The uncompressed bytes of one member, checked against its size and CRC-32. */
export function readZipMember(bytes: Uint8Array, m: NpzMemberInfo, where = "npz"): Uint8Array {
  const bad = (msg: string): never => {
    throw new FormatError(`${where}: "${m.name}": ${msg}`);
  };
  const src = bytes.subarray(m.dataOffset, m.dataOffset + m.compressedSize);
  let out: Uint8Array;
  if (m.method === 0) out = src;
  else {
    out = new Uint8Array(m.size);
    let at = 0;
    let ended = false;
    const z = new Inflate((chunk, final) => {
      if (at + chunk.length > m.size) bad(`inflates to more than its declared ${m.size} bytes`);
      out.set(chunk, at);
      at += chunk.length;
      if (final) ended = true;
    });
    try {
      if (src.length === 0) z.push(src, true);
      for (let p = 0; p < src.length; p += 1 << 16) {
        z.push(src.subarray(p, p + (1 << 16)), p + (1 << 16) >= src.length);
      }
    } catch (e) {
      if (e instanceof FormatError) throw e;
      bad(`corrupt deflate data (${(e as Error).message})`);
    }
    if (!ended || at !== m.size) bad(`inflates to ${at} bytes, not the declared ${m.size}`);
  }
  if (crc32(out) !== m.crc) bad("CRC-32 mismatch (corrupt data)");
  return out;
}

/**
 * Parses `.npz` bytes into arrays by name. Throws a {@link FormatError} for a malformed archive
 * or member.
 */
export function decodeNpz(bytes: Uint8Array, opts: NpzReadOptions = {}, where = "npz"): NpzArrays {
  const members = listZipMembers(bytes, where).filter((m) =>
    m.name.endsWith(".npy") && (!opts.only || opts.only.includes(m.name.slice(0, -4)))
  );
  const total = members.reduce((s, m) => s + m.size, 0);
  if (opts.maxBytes !== undefined && total > opts.maxBytes) {
    throw new FormatError(
      `${where}: ${total} bytes of arrays exceed the limit of ${opts.maxBytes} bytes`,
    );
  }
  checkAllocation(
    `${where}: arrays`,
    total,
    "the archive declares more data than this machine can load (read fewer arrays with `only`)",
  );
  const out: NpzArrays = {};
  for (const m of members) {
    const key = m.name.slice(0, -4);
    const name = `${where}: "${m.name}"`;
    const raw = readZipMember(bytes, m, where);
    out[key] = decodeNpy(raw, {
      name,
      maxHeaderBytes: opts.maxHeaderBytes,
      share: m.method === 8, // inflated bytes are ours alone
    });
  }
  return out;
}

/**
 * Reads a `.npz` file (from `np.savez`, `np.savez_compressed` or {@link saveNpz}).
 *
 * @example
 * ```ts
 * import { loadNpz, saveNpz } from "./npz.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npz" });
 * await saveNpz(path, { flags: { dtype: "bool", data: new Uint8Array([1, 0]) } });
 * const { flags } = await loadNpz(path);
 * console.log(flags.dtype, flags.data); // bool Uint8Array [1, 0]
 * ```
 */
export async function loadNpz(path: string, opts: NpzReadOptions = {}): Promise<NpzArrays> {
  const bytes = await readFileBytes(path);
  return decodeNpz(bytes, opts, path);
}
