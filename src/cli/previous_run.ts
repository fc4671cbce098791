/**
 * The artifacts of a previous run in an output directory, kept until the new run exists: a
 * fresh run moves them into `.previous-run-<id>/` beside them before it writes anything, puts
 * them back if it fails, and deletes them only once it has written its own manifest. A run that
 * was killed leaves the aside directory behind; the next fresh run puts it back first (the
 * killed run's partial artifacts go), so a typo or a crash never costs the last complete run.
 *
 * @example
 * ```ts
 * import { setAsidePreviousRun } from "./previous_run.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/run_manifest.json`, "{}");
 * const previous = await setAsidePreviousRun(dir);
 * // ... the new run fails:
 * await previous.restore();
 * console.log(await Deno.readTextFile(`${dir}/run_manifest.json`)); // {}
 * ```
 * @module
 */

import { join } from "node:path";

/** Files and directories a run writes into its output directory (besides its checkpoints). */
export const RUN_ARTIFACTS = [
  "run_manifest.json",
  "metrics.jsonl",
  "model",
  "holdout.npz",
  "quick_verify.json",
] as const;

const ASIDE_PREFIX = ".previous-run-";

/** Whether `name` in an output directory is an artifact of a run. */
function isArtifact(name: string): boolean {
  return (RUN_ARTIFACTS as readonly string[]).includes(name) ||
    /^checkpoint_(\d+|best|final)$/.test(name);
}

async function list(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

async function removeArtifacts(dir: string): Promise<void> {
  for (const e of await list(dir)) {
    if (isArtifact(e.name)) await Deno.remove(join(dir, e.name), { recursive: true });
  }
}

/** Moves every artifact of `from` into `to` (same file system: renames). */
async function moveArtifacts(from: string, to: string): Promise<number> {
  let n = 0;
  for (const e of await list(from)) {
    if (!isArtifact(e.name)) continue;
    await Deno.rename(join(from, e.name), join(to, e.name));
    n++;
  }
  return n;
}

/** The aside directories in `dir`, newest first. */
async function asides(dir: string): Promise<string[]> {
  const found: [number, string][] = [];
  for (const e of await list(dir)) {
    if (e.isDirectory && e.name.startsWith(ASIDE_PREFIX)) {
      const p = join(dir, e.name);
      found.push([(await Deno.lstat(p)).mtime?.getTime() ?? 0, p]);
    }
  }
  return found.sort((a, b) => b[0] - a[0]).map(([, p]) => p);
}

/** A previous run set aside by {@link setAsidePreviousRun}. */
export interface PreviousRun {
  /** Artifacts set aside (0: the directory held no run). */
  readonly count: number;
  /** The new run failed: remove what it wrote and put the previous run back. */
  restore(): Promise<void>;
  /** The new run exists: delete the previous one (and any older aside directory). */
  discard(): Promise<void>;
}

/**
 * Puts back a run that an interrupted fresh run had set aside in `dir` (its partial artifacts
 * are removed); returns whether one was restored. Call it before a fresh run starts.
 */
export async function restoreInterruptedRun(dir: string): Promise<boolean> {
  const found = await asides(dir);
  if (!found.length) return false;
  await removeArtifacts(dir);
  await moveArtifacts(found[0], dir);
  for (const a of found) await Deno.remove(a, { recursive: true });
  return true;
}

/**
 * Moves the artifacts of a previous run in `dir` aside (into `.previous-run-<id>/` in `dir`)
 * before a fresh run writes its own; see the module docs.
 */
export async function setAsidePreviousRun(dir: string): Promise<PreviousRun> {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  const aside = join(dir, `${ASIDE_PREFIX}${rnd[0].toString(36)}${rnd[1].toString(36)}`);
  await Deno.mkdir(aside);
  const count = await moveArtifacts(dir, aside);
  return {
    count,
    async restore() {
      await removeArtifacts(dir);
      await moveArtifacts(aside, dir);
      await Deno.remove(aside, { recursive: true });
    },
    discard: () => discardPreviousRuns(dir),
  };
}

/** Deletes the runs set aside in `dir` (a resumed run that completed supersedes them). */
export async function discardPreviousRuns(dir: string): Promise<void> {
  for (const a of await asides(dir)) await Deno.remove(a, { recursive: true });
}
