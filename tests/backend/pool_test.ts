/**
 * The kernel thread pool: slices run on every thread and the caller; a worker that fails outside
 * a kernel (here: a pool protocol it does not speak, as when its module changed on disk while
 * the program ran) is retired with its reason, and kernels still complete on the others.
 * @module
 */

import assert from "node:assert/strict";
import { F32, type FnBuilder, I32, ModuleBuilder } from "../../src/backend/wasm/emit.ts";
import { WorkerPool } from "../../src/backend/wasm/pool.ts";
import { POOL_PROTOCOL } from "../../src/backend/wasm/pool_protocol.ts";

/**
 * A module sharing `memory` with one exported kernel `name` built by `build`: the module (for the
 * pool's workers) and the kernel (for the calling thread).
 */
function kernelModule(
  memory: WebAssembly.Memory,
  name: string,
  params: number[],
  build: (f: FnBuilder) => void,
) {
  const pages = memory.buffer.byteLength / 65536;
  const m = new ModuleBuilder().importMemory(pages, pages, true);
  m.func(name, params, [], build);
  const module = new WebAssembly.Module(m.bytes() as BufferSource);
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  return { module, kernel: inst.exports[name] as (...a: number[]) => void };
}

/** A module with `fill(ptr, n, v)`: f32 memory[ptr .. ptr + 4n) = v. */
function fillModule(memory: WebAssembly.Memory) {
  const { module, kernel } = kernelModule(memory, "fill", [I32, I32, F32], (f) => {
    const i = f.local(I32);
    f.for(i, 0, () => f.get(1), 1, () => {
      f.get(0).get(i).i32(2).op("i32.shl").op("i32.add").get(2).op("f32.store");
    });
  });
  return { module, fill: kernel };
}

/**
 * Waits until `cond` holds. Starting a worker (a thread, an isolate, the module) takes ~0.1 s on a
 * quiet machine and over 10 s on a loaded one (CI saw that): the limit only catches a hang.
 */
async function waitFor(cond: () => boolean, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function runSlices(pool: WorkerPool, memory: WebAssembly.Memory, fill: (...a: number[]) => void) {
  const n = 16, per = 1000;
  const args = Array.from({ length: n }, (_, s) => [s * per * 4, per, s + 1]);
  pool.run("fill", args, fill);
  const out = new Float32Array(memory.buffer, 0, n * per);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < per; j++) assert.equal(out[s * per + j], s + 1, `slice ${s}`);
  }
}

Deno.test("pool: slices run on the workers and the caller; every slice is written once", async () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const { module, fill } = fillModule(memory);
  // Workers leave after idleMs without work: long enough that the first is still there when the
  // second is up on a loaded machine (with 500 ms they took turns and were never both ready).
  const pool = new WorkerPool(memory, module, ["fill"], 3, 60_000);
  try {
    pool.warm();
    await waitFor(() => pool.ready === 2);
    runSlices(pool, memory, fill);
    assert.deepEqual(pool.failures, []);
  } finally {
    pool.close();
  }
});

Deno.test("pool: a worker of another protocol is retired with its reason; kernels still run", async () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const { module, fill } = fillModule(memory);
  const pool = new WorkerPool(memory, module, ["fill"], 2, 500, POOL_PROTOCOL + 1);
  const errors: unknown[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  try {
    pool.warm();
    await waitFor(() => pool.failures.length === 1);
    assert.match(pool.failures[0], /protocol/);
    assert.match(String(errors[0]), /not used again/);
    runSlices(pool, memory, fill); // the caller does all of it
    assert.equal(pool.ready, 0);
    assert.equal(pool.failures.length, 1); // not restarted
  } finally {
    console.error = orig;
    pool.close();
  }
});

/** A module with `spin(n)`: n iterations of a loop (a slice whose length the test chooses). */
function spinModule(memory: WebAssembly.Memory) {
  const { module, kernel } = kernelModule(memory, "spin", [I32], (f) => {
    const i = f.local(I32);
    f.for(i, 0, () => f.get(0), 1, () => {
      f.i32(0).get(i).op("i32.store"); // a store, so the loop is not removed
    });
  });
  return { module, spin: kernel };
}

Deno.test("pool: a long wait for a worker's slice marks the pool contended; quiet-only jobs then stay on the caller", async () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const { module, spin } = spinModule(memory);
  const pool = new WorkerPool(memory, module, ["spin"], 2, 60_000);
  try {
    pool.warm();
    await waitFor(() => pool.ready === 1);
    assert.equal(pool.contended, false);
    // Slice 0 is short, slice 1 takes milliseconds: when the worker claims slice 1 (the caller
    // claims from slice 0), the caller waits far beyond its own slice, as for a worker that was
    // descheduled. The worker does not always win the claim: try until it does.
    // While contended (100 ms), a quiet-only job runs on the caller alone (checked only when the
    // window was open before and after it: a test process stalled longer sees it close), and a
    // large one still goes to the workers (`dispatched` counts jobs handed to an idle worker: a
    // worker still finishing the previous job is not counted, so this is tried again too).
    let small = false, large = false;
    for (let i = 0; i < 500 && !(small && large); i++) {
      pool.run("spin", [[10], [20_000_000]], spin);
      if (!pool.contended) continue;
      let before = pool.dispatched;
      pool.run("spin", [[10], [10]], spin, true);
      if (!pool.contended) continue;
      assert.equal(pool.dispatched, before, "quiet-only job dispatched while contended");
      small = true;
      before = pool.dispatched;
      pool.run("spin", [[10], [10]], spin, false);
      if (pool.dispatched > before) large = true;
    }
    assert.ok(small, "a long wait for the worker's slice marks the pool contended");
    assert.ok(large, "a large job goes to the workers while contended");
    assert.ok(pool.contentions >= 1);
  } finally {
    pool.close();
  }
});

/** A module with `inc(ptr, n)`: f32 memory[ptr] += 1, then n iterations of a loop. */
function incModule(memory: WebAssembly.Memory) {
  const { module, kernel } = kernelModule(memory, "inc", [I32, I32], (f) => {
    const i = f.local(I32);
    f.get(0).get(0).op("f32.load").f32(1).op("f32.add").op("f32.store");
    f.for(i, 0, () => f.get(1), 1, () => {
      f.i32(64).get(i).op("i32.store");
    });
  });
  return { module, inc: kernel };
}

Deno.test("pool: back-to-back jobs of different sizes run each slice exactly once", async () => {
  // A thread whose last claim on a finished job comes back void must not take a slice of the next
  // job (a larger one, posted meanwhile) as its own: that slice then ran twice and the caller
  // counted it done early. With the job's generation and slice count in two words a worker
  // delayed between reading them did so (the job table and a neighbour process make the
  // interleaving likely: before the fix this failed within 1-340 thousand jobs in each of five
  // runs). Each slice adds 1 to its own cell (non-atomic: two threads on a cell lose counts too).
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const { module, inc } = incModule(memory);
  const pool = new WorkerPool(memory, module, ["inc"], 2, 60_000);
  // another process busy on the cores: threads get descheduled at any instruction
  const busy = new Deno.Command(Deno.execPath(), {
    args: ["eval", "for (;;) {}"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    pool.warm();
    await waitFor(() => pool.ready === 1);
    const cells = new Float32Array(memory.buffer, 1024, 64);
    const want = new Float64Array(64);
    const sizes = [2, 9, 30];
    for (let j = 0; j < 1_000_000; j++) {
      const count = sizes[j % 3], spin = (j * 7919) % 50;
      pool.run("inc", Array.from({ length: count }, (_, s) => [1024 + 4 * s, spin]), inc);
      for (let s = 0; s < count; s++) want[s]++;
      if (j % 10_000 === 9_999) {
        for (let s = 0; s < 64; s++) assert.equal(cells[s], want[s], `cell ${s} after job ${j}`);
      }
    }
  } finally {
    busy.kill();
    await busy.status;
    pool.close();
  }
});
