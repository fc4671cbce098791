/**
 * Atomic writes: data goes to a temporary file (or directory) beside the target and is renamed
 * into place, so a crash never leaves a half-written file where a good one was.
 *
 * Temporary names are `.<name>.tmp-<random>` beside the target. Replacing a directory takes two
 * renames (the old copy aside as `.<name>.tmp-<random>.old`, then the new one in): a crash
 * between them leaves the name missing and the good old copy stranded. {@link recoverAtomic}
 * repairs that (the old copy is renamed back) and removes other leftovers; {@link writeDirAtomic}
 * runs it before every replacement, and a run calls {@link recoverDir} on its output directory
 * when it starts.
 * @module
 */

import { lexists } from "./files.ts";

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  const p = path.replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1);
}

/** The prefix of every temporary name of `name`. */
function tempPrefix(name: string): string {
  return `.${name}.tmp-`;
}

function tempName(path: string): string {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  return `${dirname(path)}/${tempPrefix(basename(path))}${rnd[0].toString(36)}${
    rnd[1].toString(36)
  }`;
}

/** Writes `data` to `path` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    // createNew: never write through something already at the temporary name (a symlink).
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    // rename replaces `path` itself, never what a symlink at `path` points to.
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Builds a directory atomically: `fill(tmpDir)` writes its contents into a temporary directory
 * beside `path`, which then replaces `path` (an existing directory is moved aside first and
 * removed after the swap). Leftovers of an interrupted earlier replacement of `path` are repaired
 * first ({@link recoverAtomic}).
 */
export async function writeDirAtomic(
  path: string,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  await recoverAtomic(path);
  const tmp = tempName(path);
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  let old: string | null = null;
  try {
    await Deno.lstat(path);
    old = tempName(path) + ".old";
    await Deno.rename(path, old);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    if (old) await Deno.rename(old, path).catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  if (old) await Deno.remove(old, { recursive: true }).catch(() => {});
}

/** What {@link recoverAtomic} and {@link recoverDir} did. */
export interface AtomicRecovery {
  /** Paths whose previous copy was found stranded and renamed back into place. */
  readonly restored: readonly string[];
  /** Temporary files and directories removed (unfinished writes, superseded copies). */
  readonly removed: readonly string[];
}

async function entries(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  // No file system here (a browser page trains without one): nothing was left to recover.
  if (typeof Deno === "undefined") return out;
  try {
    for await (const e of Deno.readDir(dir)) out.push(e);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
    throw e;
  }
  return out;
}

/**
 * Repairs what a crash in {@link writeDirAtomic} or {@link writeFileAtomic} may have left beside
 * `path`: when `path` is missing and its previous copy was stranded as `.<name>.tmp-*.old` (a
 * crash between the two renames of a replacement), the newest such copy is renamed back; every
 * other temporary of `path` is removed. A write in progress in another process would lose its
 * temporary: one writer per path.
 *
 * @example
 * ```ts
 * import { recoverAtomic, writeDirAtomic } from "./atomic.ts";
 * const root = await Deno.makeTempDir();
 * await writeDirAtomic(`${root}/model`, (d) => Deno.writeTextFile(`${d}/a.txt`, "1"));
 * await Deno.rename(`${root}/model`, `${root}/.model.tmp-x1.old`); // as a crash leaves it
 * console.log((await recoverAtomic(`${root}/model`)).restored); // [".../model"]
 * ```
 */
export async function recoverAtomic(path: string): Promise<AtomicRecovery> {
  const dir = dirname(path);
  const prefix = tempPrefix(basename(path));
  const temps = (await entries(dir)).filter((e) => e.name.startsWith(prefix));
  const restored: string[] = [];
  const removed: string[] = [];
  if (temps.length === 0) return { restored, removed };
  const olds = temps.filter((e) => e.name.endsWith(".old") && e.isDirectory);
  let keep: string | null = null;
  if (olds.length && !(await lexists(path))) {
    let newest = -Infinity;
    for (const e of olds) {
      const t = (await Deno.lstat(`${dir}/${e.name}`)).mtime?.getTime() ?? 0;
      if (t > newest) [newest, keep] = [t, e.name];
    }
    await Deno.rename(`${dir}/${keep}`, path);
    restored.push(path);
  }
  for (const e of temps) {
    if (e.name === keep) continue;
    await Deno.remove(`${dir}/${e.name}`, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    removed.push(`${dir}/${e.name}`);
  }
  return { restored, removed };
}

/**
 * Previous copies of `path` stranded beside it by an interrupted replacement (what
 * {@link recoverAtomic} would restore), newest first; for error messages.
 */
export async function strandedCopies(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = tempPrefix(basename(path));
  const found: [number, string][] = [];
  for (const e of await entries(dir)) {
    if (e.name.startsWith(prefix) && e.name.endsWith(".old") && e.isDirectory) {
      const t = (await Deno.lstat(`${dir}/${e.name}`)).mtime?.getTime() ?? 0;
      found.push([t, `${dir}/${e.name}`]);
    }
  }
  return found.sort((a, b) => b[0] - a[0]).map(([, p]) => p);
}

/**
 * {@link recoverAtomic} for every name in `dir` that has temporaries beside it: what a run calls
 * on its output directory when it starts (stranded checkpoints and models come back, unfinished
 * writes go).
 */
export async function recoverDir(dir: string): Promise<AtomicRecovery> {
  const root = dir.replace(/\/+$/, "") || "/";
  const names = new Set<string>();
  for (const e of await entries(root)) {
    const m = /^\.(.+)\.tmp-[0-9a-z]+(\.old)?$/.exec(e.name);
    if (m) names.add(m[1]);
  }
  const restored: string[] = [];
  const removed: string[] = [];
  for (const name of names) {
    const r = await recoverAtomic(`${root}/${name}`);
    restored.push(...r.restored);
    removed.push(...r.removed);
  }
  return { restored, removed };
}
