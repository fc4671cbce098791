/**
 * Worker of `exit_guard_test.ts`: on "guard" it guards its thread directly, on "adapter" it
 * requests a WebGPU adapter the library's way; it answers with its thread id, whether its thread
 * is guarded and, for "adapter", whether an adapter came.
 * @module
 */

/// <reference lib="deno.worker" />

import { requestAdapter } from "../../src/backend/webgpu/adapter.ts";
import {
  guardWebGPUThreadExit,
  webgpuThreadExitGuarded,
} from "../../src/backend/webgpu/exit_guard.ts";

const libc = Deno.dlopen("libc.so.6", { gettid: { parameters: [], result: "i32" } });

self.onmessage = async (e: MessageEvent<"guard" | "adapter">) => {
  let adapter: boolean | null = null;
  if (e.data === "guard") guardWebGPUThreadExit();
  else adapter = await requestAdapter().then(() => true, () => false);
  self.postMessage({ tid: libc.symbols.gettid(), guarded: webgpuThreadExitGuarded(), adapter });
};
