/**
 * Follows a JSON-lines file that another process appends to (a run's `metrics.jsonl` while
 * `worldflux train` writes it), the way `tail -F` does, for `worldflux dashboard`:
 *
 * - each {@link JsonLinesTail.poll} returns the complete lines written since the last one; a
 *   partial last line (a write in progress) waits for its newline;
 * - a file that was replaced (a new inode: a fresh run moves the old one aside), cut back (a new
 *   run truncates it, a resumed run rewrites it up to its checkpoint) or rewritten with other
 *   bytes under the part already read says `reset`, and is read again from its start;
 * - reads are bounded: at most `maxReadBytes` per poll and `maxLineBytes` per line (a longer line
 *   is skipped and counted, never held in memory); lines that are not JSON objects are skipped
 *   and counted too;
 * - only a regular file at the path is read, never one through a symlink.
 *
 * @example
 * ```ts
 * import { JsonLinesTail } from "./jsonl_tail.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * await Deno.writeTextFile(path, '{"step":1}\n{"step":');
 * const tail = new JsonLinesTail(path);
 * console.log((await tail.poll()).records); // [ { step: 1 } ]  (the partial line waits)
 * await Deno.writeTextFile(path, '2}\n', { append: true });
 * console.log((await tail.poll()).records); // [ { step: 2 } ]
 * ```
 * @module
 */

import { openRegularFile } from "../io/files.ts";
import { checkAllocation } from "../io/limits.ts";

/** Options of {@link JsonLinesTail}. */
export interface JsonLinesTailOptions {
  /** Longest line read, in bytes (default 1 MiB); longer lines are skipped. */
  readonly maxLineBytes?: number;
  /** Most bytes read by one poll (default 4 MiB); the rest comes with the next polls. */
  readonly maxReadBytes?: number;
}

/** What one {@link JsonLinesTail.poll} found. */
export interface TailUpdate {
  /** The file is not the one read before (replaced, cut back, rewritten, or gone): forget the
   * earlier records; `records` start from the top of the new file. */
  readonly reset: boolean;
  /** The JSON objects of the complete lines read by this poll, in file order. */
  readonly records: Record<string, unknown>[];
  /** Lines skipped by this poll: not a JSON object, or longer than `maxLineBytes`. */
  readonly skipped: number;
  /** Whether a regular file is at the path. */
  readonly exists: boolean;
  /** Bytes of the file read so far (the end of the last complete line). */
  readonly offset: number;
  /** Whether bytes after `offset` are waiting (a partial line, or more than one poll reads). */
  readonly pending: boolean;
}

/** Bytes compared at the top of the file and just before the offset to notice a rewrite. */
const WITNESS_BYTES = 256;
const NEWLINE = 10;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads `length` bytes at `offset` (fewer when the file ends first). */
async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  checkAllocation("jsonl read", length, "lower maxReadBytes / maxLineBytes");
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Follows one JSON-lines file (see the module docs). */
export class JsonLinesTail {
  /** The file followed. */
  readonly path: string;
  readonly #maxLine: number;
  readonly #maxRead: number;
  readonly #decoder = new TextDecoder();
  #ino: number | null = null;
  #offset = 0;
  /** The first bytes of the file as read, and the bytes just before the offset. */
  #head = new Uint8Array(0);
  #before = new Uint8Array(0);
  /** Inside a line longer than the limit: drop bytes up to its newline. */
  #skipping = false;
  #existed = false;

  /** Follows `path` (which need not exist yet). */
  constructor(path: string, options: JsonLinesTailOptions = {}) {
    this.path = path;
    this.#maxLine = options.maxLineBytes ?? 2 ** 20;
    this.#maxRead = Math.max(options.maxReadBytes ?? 4 * 2 ** 20, this.#maxLine);
  }

  #forget(): void {
    this.#ino = null;
    this.#offset = 0;
    this.#head = new Uint8Array(0);
    this.#before = new Uint8Array(0);
    this.#skipping = false;
  }

  /** Whether the file still holds the bytes read before (same inode, not shorter, same witnesses). */
  async #sameFile(file: Deno.FsFile, info: Deno.FileInfo): Promise<boolean> {
    if (this.#ino !== null && info.ino !== null && info.ino !== this.#ino) return false;
    if (info.size < this.#offset) return false;
    if (this.#offset === 0) return true;
    const head = await readAt(file, 0, this.#head.length);
    if (!sameBytes(head, this.#head)) return false;
    const before = await readAt(file, this.#offset - this.#before.length, this.#before.length);
    return sameBytes(before, this.#before);
  }

  /** Reads what was appended since the last poll (see {@link TailUpdate}). */
  async poll(): Promise<TailUpdate> {
    const records: Record<string, unknown>[] = [];
    let skipped = 0;
    const opened = await openRegularFile(this.path);
    if (!opened) {
      const reset = this.#existed;
      this.#existed = false;
      this.#forget();
      return { reset, records, skipped, exists: false, offset: 0, pending: false };
    }
    const { file, info } = opened;
    try {
      let reset = false;
      if (!(await this.#sameFile(file, info))) {
        reset = this.#offset > 0 || this.#ino !== null;
        this.#forget();
      }
      this.#existed = true;
      this.#ino = info.ino;
      const size = info.size;
      let budget = this.#maxRead;
      while (this.#offset < size && budget > 0) {
        const want = Math.min(size - this.#offset, this.#maxLine, budget);
        const buf = await readAt(file, this.#offset, want);
        if (buf.length === 0) break; // cut back while reading: the next poll notices
        if (this.#skipping) {
          const nl = buf.indexOf(NEWLINE);
          const used = nl < 0 ? buf.length : nl + 1;
          this.#advance(buf, used);
          budget -= used;
          if (nl >= 0) {
            this.#skipping = false;
            skipped++;
          }
          continue;
        }
        const last = buf.lastIndexOf(NEWLINE);
        if (last < 0) {
          // No newline in `want` bytes: a line longer than the limit is skipped; a shorter
          // partial line waits for the writer.
          if (buf.length >= this.#maxLine) {
            this.#skipping = true;
            this.#advance(buf, buf.length);
            budget -= buf.length;
            continue;
          }
          break;
        }
        let start = 0;
        while (start <= last) {
          const nl = buf.indexOf(NEWLINE, start);
          const line = this.#decoder.decode(buf.subarray(start, nl)).trim();
          start = nl + 1;
          if (!line) continue;
          const value = parseLine(line);
          if (value) records.push(value);
          else skipped++;
        }
        this.#advance(buf, last + 1);
        budget -= last + 1;
      }
      return {
        reset,
        records,
        skipped,
        exists: true,
        offset: this.#offset,
        pending: this.#offset < size,
      };
    } finally {
      file.close();
    }
  }

  /** Moves the offset over the first `used` bytes of `buf` (read at the offset). */
  #advance(buf: Uint8Array, used: number): void {
    if (used <= 0) return;
    if (this.#head.length < WITNESS_BYTES && this.#offset < WITNESS_BYTES) {
      const take = Math.min(WITNESS_BYTES - this.#offset, used);
      const head = new Uint8Array(this.#offset + take);
      head.set(this.#head.subarray(0, this.#offset));
      head.set(buf.subarray(0, take), this.#offset);
      this.#head = head;
    }
    const keep = Math.min(WITNESS_BYTES, this.#offset + used);
    const before = new Uint8Array(keep);
    const fromBuf = Math.min(keep, used);
    const fromOld = keep - fromBuf;
    before.set(this.#before.subarray(this.#before.length - fromOld), 0);
    before.set(buf.subarray(used - fromBuf, used), fromOld);
    this.#before = before;
    this.#offset += used;
  }
}

/** The JSON object of one line, or null when it is not one. */
function parseLine(line: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line);
    return v !== null && typeof v === "object" && !Array.isArray(v)
      ? v as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}
