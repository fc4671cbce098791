/**
 * Two small file helpers every reader of the io layer shares: reading a file whose absence is a
 * format problem of the caller's input ({@link readFileBytes}), and asking whether anything,
 * a dangling symlink included, is at a name ({@link lexists}).
 * @module
 */

import { FormatError } from "../errors.ts";

/**
 * The bytes of `path`; a missing file is a {@link FormatError} naming it (other I/O errors pass
 * through).
 *
 * @example
 * ```ts
 * import { readFileBytes } from "./files.ts";
 * try {
 *   await readFileBytes("/nonexistent.npz");
 * } catch (e) {
 *   console.log((e as Error).message); // /nonexistent.npz: file not found
 * }
 * ```
 */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new FormatError("file not found", path);
    throw e;
  }
}

/** Whether something is at `path` (a symlink counts, even a dangling one: `lstat`). */
export async function lexists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
