import assert from "node:assert/strict";
import { openRegularFile } from "../../src/io/files.ts";

Deno.test("openRegularFile: a regular file opens; nothing, a directory or a symlink gives null", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wf_files_" });
  try {
    await Deno.writeTextFile(`${dir}/a.txt`, "abc");
    await Deno.symlink(`${dir}/a.txt`, `${dir}/link.txt`);
    await Deno.symlink(`${dir}/gone.txt`, `${dir}/dangling.txt`);
    await Deno.mkdir(`${dir}/sub`);
    const opened = await openRegularFile(`${dir}/a.txt`);
    assert.ok(opened);
    assert.equal(opened.info.size, 3);
    const buf = new Uint8Array(3);
    assert.equal(await opened.file.read(buf), 3);
    assert.equal(new TextDecoder().decode(buf), "abc");
    opened.file.close();
    for (const name of ["link.txt", "dangling.txt", "sub", "missing.txt", "a.txt/below"]) {
      assert.equal(await openRegularFile(`${dir}/${name}`), null, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
