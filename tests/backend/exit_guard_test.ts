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

/** The number of `clock_nanosleep` (glibc's `sleep`) in /proc/<pid>/task/<tid>/syscall. */
const NANOSLEEP: string | undefined = { x86_64: "230", aarch64: "115" }[Deno.build.arch];

/** The syscall a thread is blocked in ("running" when it runs), or null once it is gone. */
function threadSyscall(tid: number): string | null {
  try {
    return Deno.readTextFileSync(`/proc/self/task/${tid}/syscall`).split(" ")[0].trim();
  } catch {
    return null;
  }
}

/**
 * Runs the worker with `what`, terminates it and follows its thread until it is gone: whether it
 * was seen parked (asleep in `clock_nanosleep`, which a Deno thread otherwise never calls) and
 * whether it ended within 15 s.
 */
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
  let parked = false;
  let state = threadSyscall(reply.tid);
  while (state !== null && Date.now() - t0 < 15_000) {
    parked ||= state === NANOSLEEP;
    await new Promise((r) => setTimeout(r, 20));
    state = threadSyscall(reply.tid);
  }
  return { reply, parked, ended: state === null };
}

Deno.test({
  name:
    "exit guard: a Worker's thread is parked when it ends, and still ends; the main thread is not",
  ignore: !linuxGlibc || NANOSLEEP === undefined,
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
    // Unguarded, a terminated Worker's thread ends in ~0.1 s without ever sleeping.
    assert.equal(r.parked, true, `the ending thread should sleep ${PARK_SECONDS} s`);
    assert.equal(r.ended, true, "a parked thread must still end");
  },
});

Deno.test({
  name: "exit guard: requesting a WebGPU adapter guards the requesting thread",
  ignore: !linuxGlibc || NANOSLEEP === undefined,
  async fn() {
    const r = await endWorker("adapter");
    if (!r.reply.adapter) {
      console.warn(
        "exit guard test: no WebGPU adapter in a Worker here; the guard is still checked",
      );
    }
    assert.equal(r.reply.guarded, true);
    assert.equal(r.parked, true);
    assert.equal(r.ended, true);
  },
});
