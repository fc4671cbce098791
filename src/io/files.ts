/**
 * Small file helpers the readers share: reading a file whose absence is a format problem of the
 * caller's input ({@link readFileBytes}), asking whether anything, a dangling symlink included,
 * is at a name ({@link lexists}), and opening only a regular file that is really at a name, never
 * one a symlink points to ({@link openRegularFile}).
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

/**
 * Opens the regular file at `path` for reading, or returns null when there is none: nothing
 * there, a directory, or a symlink (never followed, even to a regular file; checked again on the
 * opened file, so a symlink swapped in between is refused too). For servers and readers that
 * must read only the files a directory holds itself (`worldflux dashboard`). The caller closes
 * the file.
 *
 * @example
 * ```ts
 * import { openRegularFile } from "./files.ts";
 * const opened = await openRegularFile("/etc/hostname");
 * console.log(opened?.info.size);
 * opened?.file.close();
 * ```
 */
export async function openRegularFile(
  path: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo } | null> {
  let link: Deno.FileInfo;
  try {
    link = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
  if (!link.isFile) return null;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const info = await file.stat();
  if (!info.isFile || info.ino !== link.ino || info.dev !== link.dev) {
    file.close();
    return null;
  }
  return { file, info };
}
