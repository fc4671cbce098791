/**
 * The WebGPU exit guard (`src/backend/webgpu/exit_guard.ts`): a non-main thread that requested a
 * WebGPU adapter is parked when it ends, so that it cannot free libEGL's per-thread record while
 * `exit()` frees it too; the main thread is never parked. What the guard prevents (a crash at
 * exit in about 1 run in 10 under load) is measured by `scripts/webgpu_exit_race.ts`; these tests
 * check that the guard is in place and that a parked thread still ends.
 * @module
 */

import assert from "node:assert/strict";
import { PARK_SECONDS } from "../../src/backend/webgpu/exit_guard.ts";

const linuxGlibc = Deno.build.os === "linux" && (() => {
  try {
    Deno.dlopen("libc.so.6", { __cxa_thread_atexit_impl: { parameters: [], result: "void" } })
      .close();
    return true;
  } catch {
    return false;
  }
})();

interface Reply {
  tid: number;
  guarded: boolean;
  adapter: boolean | null;
}

function threadAlive(tid: number): boolean {
  try {
    Deno.statSync(`/proc/self/task/${tid}`);
    return true;
  } catch {
    return false;
  }
}

/** Runs the worker with `what`, terminates it and follows its thread until it is gone. */
async function endWorker(what: "guard" | "adapter") {
  const w = new Worker(new URL("./exit_guard_worker.ts", import.meta.url), { type: "module" });
  const reply = await new Promise<Reply>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<Reply>) => resolve(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
    w.postMessage(what);
  });
  w.terminate();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 1000));
  const aliveAfter1s = threadAlive(reply.tid);
  while (threadAlive(reply.tid) && Date.now() - t0 < 15_000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return { reply, aliveAfter1s, goneWithin15s: !threadAlive(reply.tid) };
}

Deno.test({
  name:
    "exit guard: a Worker's thread is parked when it ends, and still ends; the main thread is not",
  ignore: !linuxGlibc,
  async fn() {
    // `deno run` runs a program on the main thread (`deno test` runs this file on another one).
    const url = new URL("../../src/backend/webgpu/exit_guard.ts", import.meta.url).href;
    const main = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { guardWebGPUThreadExit as g } from "${url}"; console.log(g());`],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(new TextDecoder().decode(main.stdout).trim(), "false", "main thread parked");
    const r = await endWorker("guard");
    assert.equal(r.reply.guarded, true);
    // Unguarded, a terminated Worker's thread is gone in ~0.1 s; parked, it lives PARK_SECONDS.
    assert.equal(r.aliveAfter1s, true, `the thread should be parked for ${PARK_SECONDS} s`);
    assert.equal(r.goneWithin15s, true, "a parked thread must still end");
  },
});

Deno.test({
  name: "exit guard: requesting a WebGPU adapter guards the requesting thread",
  ignore: !linuxGlibc,
  async fn() {
    const r = await endWorker("adapter");
    if (!r.reply.adapter) {
      console.warn(
        "exit guard test: no WebGPU adapter in a Worker here; the guard is still checked",
      );
    }
    assert.equal(r.reply.guarded, true);
    assert.equal(r.aliveAfter1s, true);
    assert.equal(r.goneWithin15s, true);
  },
});
