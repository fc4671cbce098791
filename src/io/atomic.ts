/**
 * Atomic writes: data goes to a temporary file (or directory) beside the target and is renamed
 * into place, so a crash never leaves a half-written file where a good one was.
 * @module
 */

function dirname(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
  const p = path.replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1);
}

function tempName(path: string): string {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  return `${dirname(path)}/.${basename(path)}.tmp-${rnd[0].toString(36)}${rnd[1].toString(36)}`;
}

/** Writes `data` to `path` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Builds a directory atomically: `fill(tmpDir)` writes its contents into a temporary directory
 * beside `path`, which then replaces `path` (an existing directory is moved aside first and
 * removed after the swap).
 */
export async function writeDirAtomic(
  path: string,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
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
    await Deno.stat(path);
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
