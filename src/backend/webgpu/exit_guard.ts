/**
 * Keeps a thread that used WebGPU from finishing its exit while the process exits (Linux with
 * glibc, where Deno's WebGPU reaches Mesa through libglvnd's `libEGL.so.1`).
 *
 * Why: every thread that makes an EGL call gets a per-thread record in libEGL, freed by a pthread
 * key destructor when the thread ends. libEGL's library destructor, which `exit()` runs, frees all
 * those records too, without excluding threads that end at the same moment. Deno runs the
 * JavaScript of each `deno test` module (and of each Worker) on a thread of its own and, at the
 * end, stops those threads in the background and calls `exit()` right away (`shutdown_background`,
 * then `std::process::exit`). A thread that ran WebGPU work and ends during `exit()` then frees
 * its record while libEGL frees it too: glibc aborts ("corrupted size vs. prev_size in fastbins",
 * "double free") or the process dies of SIGSEGV in libEGL, after every test passed. Measured here
 * (Mesa llvmpipe, glvnd 1.6, Deno 2.9.6, a loaded 2-core machine): 1 exit in 10 for a test file
 * that does WebGPU work.
 *
 * The fix: the first time a non-main thread requests a WebGPU adapter, it registers a thread-exit
 * function (glibc's `__cxa_thread_atexit_impl`, what C++ `thread_local` and Rust use) that parks
 * the ending thread for {@link PARK_SECONDS} seconds. glibc runs these functions before the
 * pthread key destructors, so a thread stopped while the process exits is still parked when
 * `exit()` ends the process, and its EGL record is never freed twice. A thread that ends while
 * the process goes on is merely late by that time. The main thread is never parked (`exit()`
 * runs the calling thread's exit functions first and would wait); nothing else waits for these
 * threads (Deno neither joins Worker threads nor its background threads at exit).
 *
 * It needs the `ffi` permission already granted (it never prompts) and does nothing elsewhere or
 * when `WORLDFLUX_WEBGPU_EXIT_GUARD=off`. Costs: a Worker that used WebGPU and calls `Deno.exit()`
 * itself exits {@link PARK_SECONDS} seconds later; a thread that hosts several isolates in turn
 * (a `deno test` thread running one test file after another) is parked once per isolate.
 *
 * What it does not cover: a thread still *using* EGL while the process exits, as when a Worker
 * that used WebGPU is terminated right before `Deno.exit()` and still tears its device down (wgpu
 * then panics on a display libEGL has already freed, or glibc aborts): measured 3 crashes in 20
 * such exits without the guard, 2 in 20 with it. worldflux itself uses WebGPU only from the thread
 * that created the device, whose isolate Deno tears down before it exits.
 * @module
 */

/** How long an ending thread that used WebGPU is parked before its pthread key destructors. */
export const PARK_SECONDS = 3;

/** Whether this isolate's thread is guarded (a thread hosts one isolate at a time). */
let guarded = false;

/** Whether the calling thread is guarded already (by {@link guardWebGPUThreadExit}). */
export function webgpuThreadExitGuarded(): boolean {
  return guarded;
}

function envSaysOff(): boolean {
  try {
    return Deno.env.get("WORLDFLUX_WEBGPU_EXIT_GUARD") === "off";
  } catch {
    return false; // no --allow-env: the default applies
  }
}

function ffiGranted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Guards the calling thread (see the module documentation) and returns whether it is guarded
 * now. Safe to call often: the work is done once per thread and isolate.
 *
 * @example
 * ```ts
 * import { guardWebGPUThreadExit } from "./exit_guard.ts";
 * guardWebGPUThreadExit(); // before the first navigator.gpu.requestAdapter() of this thread
 * ```
 */
export function guardWebGPUThreadExit(): boolean {
  if (guarded) return true;
  if (typeof Deno === "undefined") return false; // a browser page: no such threads
  if (Deno.build.os !== "linux" || envSaysOff() || !ffiGranted()) return false;
  let libc;
  try {
    libc = Deno.dlopen("libc.so.6", {
      gettid: { parameters: [], result: "i32" },
      dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
      __cxa_thread_atexit_impl: { parameters: ["function", "pointer", "pointer"], result: "i32" },
    });
  } catch {
    return false; // not glibc (musl, ...): its libc has no such registry under this name
  }
  try {
    // exit() runs the calling thread's exit functions first: never park the main thread.
    if (libc.symbols.gettid() === Deno.pid) return false;
    const sleep = libc.symbols.dlsym(null, new TextEncoder().encode("sleep\0"));
    if (sleep === null) return false;
    // sleep(PARK_SECONDS) at thread exit: the "object" argument is the number of seconds.
    const seconds = Deno.UnsafePointer.create(BigInt(PARK_SECONDS));
    guarded = libc.symbols.__cxa_thread_atexit_impl(sleep, seconds, null) === 0;
    return guarded;
  } finally {
    libc.close();
  }
}
