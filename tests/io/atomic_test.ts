/**
 * Atomic writes and their crash windows: the states a crash leaves (built by hand, name for name
 * as writeDirAtomic makes them) are repaired by recoverAtomic / recoverDir and by the next
 * replacement; a child process killed at random points of a replacement loop always leaves a
 * complete copy after recovery.
 */

import assert from "node:assert/strict";
import {
  recoverAtomic,
  recoverDir,
  strandedCopies,
  writeDirAtomic,
  writeFileAtomic,
} from "../../src/io/atomic.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function version(dir: string): Promise<string> {
  const a = await Deno.readTextFile(`${dir}/a.txt`);
  const b = await Deno.readTextFile(`${dir}/b.txt`);
  assert.equal(a, b, `a complete copy (both files of one version) in ${dir}`);
  return a;
}

const fill = (v: string) => async (d: string) => {
  await writeFileAtomic(`${d}/a.txt`, v);
  await writeFileAtomic(`${d}/b.txt`, v);
};

Deno.test("atomic: a crash between the two renames (name missing, old copy aside) is repaired", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeDirAtomic(`${root}/ck`, fill("v1"));
    // The state after a crash between rename(ck -> .old) and rename(tmp -> ck).
    await Deno.rename(`${root}/ck`, `${root}/.ck.tmp-a1b2.old`);
    await Deno.mkdir(`${root}/.ck.tmp-c3d4`);
    await Deno.writeTextFile(`${root}/.ck.tmp-c3d4/a.txt`, "v2");
    await Deno.writeTextFile(`${root}/.ck.tmp-x9.old`, "stray file, not a directory");
    assert.deepEqual(await strandedCopies(`${root}/ck`), [`${root}/.ck.tmp-a1b2.old`]);
    const r = await recoverAtomic(`${root}/ck`);
    assert.deepEqual(r.restored, [`${root}/ck`]);
    assert.equal(r.removed.length, 2);
    assert.deepEqual(await names(root), ["ck"]);
    assert.equal(await version(`${root}/ck`), "v1");
    // Nothing to do the second time.
    assert.deepEqual(await recoverAtomic(`${root}/ck`), { restored: [], removed: [] });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("atomic: the next replacement repairs first; recoverDir repairs every name in a directory", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeDirAtomic(`${root}/best`, fill("v1"));
    await writeDirAtomic(`${root}/model`, fill("m1"));
    await Deno.rename(`${root}/best`, `${root}/.best.tmp-1.old`);
    await Deno.mkdir(`${root}/.best.tmp-2`);
    // A crash while removing the old copy after a successful swap: name present, old half gone.
    await Deno.mkdir(`${root}/.model.tmp-3.old`);
    await Deno.writeTextFile(`${root}/.model.tmp-4`, "unfinished file write");
    await Deno.writeTextFile(`${root}/.other.json.tmp-5`, "unfinished");
    await writeDirAtomic(`${root}/best`, fill("v2"));
    assert.equal(await version(`${root}/best`), "v2");
    assert.ok(!(await names(root)).some((n) => n.startsWith(".best.")));
    const r = await recoverDir(root);
    assert.deepEqual(r.restored, []);
    assert.equal(r.removed.length, 3);
    assert.deepEqual(await names(root), ["best", "model"]);
    assert.equal(await version(`${root}/model`), "m1");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("atomic: writeFileAtomic replaces a symlink at the target, never writes through it", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/outside.txt`, "keep me");
    await Deno.symlink(`${root}/outside.txt`, `${root}/link.txt`);
    await writeFileAtomic(`${root}/link.txt`, "new");
    assert.equal(await Deno.readTextFile(`${root}/outside.txt`), "keep me");
    assert.ok((await Deno.lstat(`${root}/link.txt`)).isFile);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const CHILD = `
import { writeDirAtomic, writeFileAtomic } from ${
  JSON.stringify(new URL("../../src/io/atomic.ts", import.meta.url).href)
};
const path = Deno.args[0];
for (let v = 0; ; v++) {
  await writeDirAtomic(path, async (d) => {
    await writeFileAtomic(d + "/a.txt", String(v));
    await writeFileAtomic(d + "/b.txt", String(v));
  });
  if (v === 0) console.log("ready");
}
`;

Deno.test("atomic: kill -9 at random points of a replacement loop: after recovery a complete copy is there", async () => {
  const root = await Deno.makeTempDir();
  const script = `${root}/child.ts`;
  await Deno.writeTextFile(script, CHILD);
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  try {
    for (let i = 0; i < 8; i++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", script, `${root}/ck`],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "ready": one complete copy exists
      await new Promise((r) => setTimeout(r, rand() * 40));
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await recoverAtomic(`${root}/ck`);
      await version(`${root}/ck`);
      assert.deepEqual((await names(root)).filter((n) => n.startsWith(".ck.")), []);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
