import assert from "node:assert/strict";
import { JsonLinesTail } from "../../src/cli/jsonl_tail.ts";
import { tempDir } from "./helpers.ts";

const line = (step: number, extra = "") => JSON.stringify({ kind: "train", step, extra }) + "\n";
const steps = (records: Record<string, unknown>[]) => records.map((r) => r.step);

async function append(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { append: true });
}

/** A temp dir with `metrics.jsonl` (not created) for one test. */
async function withFile(fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("wf_tail_");
  try {
    await fn(`${dir}/metrics.jsonl`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jsonl tail: appended lines arrive once, a partial last line waits for its newline", () =>
  withFile(async (path) => {
    const tail = new JsonLinesTail(path);
    let u = await tail.poll();
    assert.deepEqual([u.exists, u.reset, u.records.length], [false, false, 0]);
    await Deno.writeTextFile(path, line(1) + line(2) + '{"kind":"train","st');
    u = await tail.poll();
    assert.deepEqual(steps(u.records), [1, 2]);
    assert.equal(u.pending, true); // the partial line
    assert.equal(u.offset, (line(1) + line(2)).length);
    u = await tail.poll();
    assert.deepEqual([u.records.length, u.reset], [0, false]);
    await append(path, 'ep":3}\n' + line(4));
    u = await tail.poll();
    assert.deepEqual(steps(u.records), [3, 4]);
    assert.deepEqual([u.reset, u.pending], [false, false]);
  }));

Deno.test("jsonl tail: a file cut back, rewritten in place or replaced is read again from its top", () =>
  withFile(async (path, dir) => {
    const tail = new JsonLinesTail(path);
    await Deno.writeTextFile(path, line(1, "old") + line(2, "old") + line(3, "old"));
    assert.deepEqual(steps((await tail.poll()).records), [1, 2, 3]);

    // A new run truncates the file (same inode) and has written less so far.
    await Deno.writeTextFile(path, line(1, "new"));
    let u = await tail.poll();
    assert.equal(u.reset, true);
    assert.deepEqual(u.records.map((r) => r.extra), ["new"]);

    // ... or has already written more than was read: same inode, longer, other bytes.
    await Deno.writeTextFile(path, line(1, "third") + line(2, "third") + line(3, "third"));
    u = await tail.poll();
    assert.equal(u.reset, true);
    assert.deepEqual(u.records.map((r) => r.extra), ["third", "third", "third"]);

    // A resumed run keeps the lines up to its checkpoint and continues (same length here).
    await Deno.writeTextFile(path, line(1, "third") + line(2, "third") + line(3, "resum"));
    u = await tail.poll();
    assert.equal(u.reset, true);
    assert.deepEqual(u.records.map((r) => r.extra), ["third", "third", "resum"]);

    // A fresh run moves the old file aside and writes a new one (a new inode).
    await Deno.rename(path, `${dir}/aside.jsonl`);
    await Deno.writeTextFile(path, line(7, "resum") + line(8, "resum") + line(9, "resum"));
    u = await tail.poll();
    assert.equal(u.reset, true);
    assert.deepEqual(steps(u.records), [7, 8, 9]);

    // Gone: reset, nothing there; back: read from the top.
    await Deno.remove(path);
    u = await tail.poll();
    assert.deepEqual([u.reset, u.exists], [true, false]);
    assert.equal((await tail.poll()).reset, false);
    await Deno.writeTextFile(path, line(1));
    u = await tail.poll();
    assert.deepEqual([u.reset, u.exists, steps(u.records)], [false, true, [1]]);
  }));

Deno.test("jsonl tail: lines that are not JSON objects, or too long, are skipped and counted", () =>
  withFile(async (path) => {
    const tail = new JsonLinesTail(path, { maxLineBytes: 64 });
    const long = JSON.stringify({ step: 99, pad: "x".repeat(200) }) + "\n";
    await Deno.writeTextFile(
      path,
      line(1) + "not json\n[1, 2]\n3\nnull\n\r\n" + long + line(2).replace("\n", "\r\n"),
    );
    let u = await tail.poll();
    assert.deepEqual(steps(u.records), [1, 2]);
    assert.equal(u.skipped, 5); // not json, [1, 2], 3, null, the long line
    // A long line still being written is dropped up to its newline, never held.
    await append(path, '{"step": 100, "pad": "' + "y".repeat(100));
    u = await tail.poll();
    assert.deepEqual([u.records.length, u.skipped], [0, 0]);
    await append(path, "y".repeat(100));
    assert.deepEqual((await tail.poll()).records, []);
    await append(path, '"}\n' + line(3));
    u = await tail.poll();
    assert.deepEqual([steps(u.records), u.skipped], [[3], 1]);
  }));

Deno.test("jsonl tail: a large file is read over several polls of at most maxReadBytes", () =>
  withFile(async (path) => {
    const text = Array.from({ length: 200 }, (_, i) => line(i)).join("");
    await Deno.writeTextFile(path, text);
    const tail = new JsonLinesTail(path, { maxLineBytes: 128, maxReadBytes: 1024 });
    const got: unknown[] = [];
    let polls = 0;
    for (;;) {
      const u = await tail.poll();
      polls++;
      assert.ok(u.offset <= polls * 1024);
      got.push(...steps(u.records));
      if (!u.pending) break;
    }
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i));
    assert.ok(polls >= Math.ceil(text.length / 1024), `${polls} polls`);
  }));

Deno.test("jsonl tail: a symlink at the path is not followed", () =>
  withFile(async (path, dir) => {
    await Deno.writeTextFile(`${dir}/elsewhere.jsonl`, line(1));
    await Deno.symlink(`${dir}/elsewhere.jsonl`, path);
    const u = await new JsonLinesTail(path).poll();
    assert.deepEqual([u.exists, u.records.length], [false, 0]);
  }));
