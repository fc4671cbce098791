/**
 * Device registry: which backend serves each device name, the default device, and how `"auto"`
 * chooses. The webgpu backend is created on first request (adapter and device are async).
 * @module
 */

import { DeviceError } from "../errors.ts";
import type { Backend, DeviceName } from "./types.ts";
import { JsBackend } from "./cpu/js_backend.ts";
import { WasmBackend } from "./wasm/backend.ts";

/** A device request: a concrete device or `"auto"`. */
export type DeviceRequest = DeviceName | "auto";

/** Why `"auto"` picked what it picked (shown by `doctor` and in run manifests). */
export interface AutoDecision {
  /** The device picked. */
  readonly device: DeviceName;
  /** Why, in one sentence. */
  readonly reason: string;
}

let cpu: Backend | null = null;

/** Which cpu implementation serves "cpu": WebAssembly SIMD (default) or the TS reference. */
export type CpuImplementation = "wasm" | "reference";

function envCpuImplementation(): CpuImplementation {
  let v: string | undefined;
  try {
    v = Deno.env.get("WORLDFLUX_CPU_BACKEND");
  } catch {
    v = undefined;
  }
  return v === "reference" || v === "js" ? "reference" : "wasm";
}

/**
 * Threads of the wasm cpu backend: `WORLDFLUX_CPU_THREADS` (a positive integer, like
 * `torch.set_num_threads`), else every logical core. Throws a RangeError on a value that is not
 * a positive integer. `value` defaults to the environment variable.
 */
export function cpuThreads(value: string | undefined = envCpuThreads()): number {
  const cores = navigator.hardwareConcurrency || 1;
  if (value === undefined || value.trim() === "") return cores;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `WORLDFLUX_CPU_THREADS must be a positive integer (got "${value}"); unset it to use ` +
        `every logical core (${cores} here)`,
    );
  }
  return n;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function envCpuThreads(): string | undefined {
  try {
    return Deno.env.get("WORLDFLUX_CPU_THREADS");
  } catch {
    return undefined; // no --allow-env
  }
}

/** Creates a cpu backend of the given implementation. */
export function createCpuBackend(impl: CpuImplementation = envCpuImplementation()): Backend {
  return impl === "reference" ? new JsBackend() : new WasmBackend(cpuThreads());
}
let webgpu: Backend | null = null;
let webgpuInit: Promise<Backend> | null = null;
let defaultDevice: DeviceName = "cpu";
let autoDecision: AutoDecision | null = null;

/** Factory of the webgpu backend, installed by `src/backend/webgpu` (keeps this module small). */
let webgpuFactory: (() => Promise<Backend>) | null = null;

/** Installs the webgpu backend factory. @internal */
export function registerWebGPUFactory(f: () => Promise<Backend>): void {
  webgpuFactory = f;
}

/**
 * The `"auto"` policy: a hardware WebGPU adapter wins; a software adapter (llvmpipe, lavapipe,
 * SwiftShader, WARP: the GPU emulated on the CPU) loses to the WebAssembly SIMD cpu kernels
 * (measured here: matmul 512 at ~6 GFLOP/s on llvmpipe vs ~40 on wasm), as does no adapter.
 * @internal
 */
let autoChooser: () => Promise<AutoDecision> = async () => {
  const gpu = await tryWebGPU();
  if (!gpu.backend) return { device: "cpu", reason: `${gpu.reason}; using the cpu kernels` };
  const fallback = (gpu.backend as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const cpuImpl = cpuBackend() instanceof WasmBackend ? "WebAssembly SIMD" : "reference";
  if (fallback && cpuImpl === "WebAssembly SIMD") {
    const desc = (gpu.backend as unknown as { adapterSummary?: string }).adapterSummary ?? "";
    return {
      device: "cpu",
      reason: `the WebGPU adapter (${desc.replace(/, software fallback$/, "")}) is a software ` +
        `fallback running on the CPU; the ${cpuImpl} cpu kernels ` +
        `(${plural((cpuBackend() as WasmBackend).threads.size, "thread")}) are faster`,
    };
  }
  return { device: "webgpu", reason: gpu.reason };
};

/** Replaces the `"auto"` policy. @internal */
export function setAutoChooser(f: () => Promise<AutoDecision>): void {
  autoChooser = f;
  autoDecision = null;
}

/** Tries to bring up the webgpu backend; never throws. */
export async function tryWebGPU(): Promise<{ backend: Backend | null; reason: string }> {
  try {
    const b = await initWebGPU();
    const info = (b as unknown as { adapterSummary?: string }).adapterSummary ?? "an adapter";
    return { backend: b, reason: `WebGPU is available (${info})` };
  } catch (e) {
    return { backend: null, reason: `no usable WebGPU adapter: ${(e as Error).message}` };
  }
}

/** Initialises (once) and returns the webgpu backend. */
export function initWebGPU(): Promise<Backend> {
  if (webgpu) return Promise.resolve(webgpu);
  if (!webgpuFactory) {
    return Promise.reject(new DeviceError("the webgpu backend is not loaded"));
  }
  if (!webgpuInit) {
    webgpuInit = webgpuFactory().then((b) => (webgpu = b)).catch((e) => {
      webgpuInit = null;
      throw e;
    });
  }
  return webgpuInit;
}

/** Resolves `"auto"` for this machine (cached). */
export async function resolveAuto(): Promise<AutoDecision> {
  if (!autoDecision) autoDecision = await autoChooser();
  return autoDecision;
}

/** Makes sure a device is ready and returns its concrete name. */
export async function ensureDevice(req: DeviceRequest): Promise<DeviceName> {
  if (req === "auto") return (await resolveAuto()).device;
  if (req === "webgpu") await initWebGPU();
  else if (req !== "cpu") {
    throw new DeviceError(`unknown device "${req}"; expected "auto", "webgpu" or "cpu"`);
  }
  return req;
}

/**
 * Sets the device new tensors go to. `"auto"` picks the fastest device on this machine.
 * Resolves to the concrete device once it is ready.
 */
export async function setDefaultDevice(req: DeviceRequest): Promise<DeviceName> {
  defaultDevice = await ensureDevice(req);
  return defaultDevice;
}

/** The device new tensors go to (`"cpu"` until `setDefaultDevice` says otherwise). */
export function getDefaultDevice(): DeviceName {
  return defaultDevice;
}

/** The backend of a ready device; throws a clear error when webgpu was not initialised. */
export function getBackend(device: DeviceName): Backend {
  if (device === "cpu") return cpuBackend();
  if (device === "webgpu") {
    if (!webgpu) {
      throw new DeviceError(
        'the webgpu device is not initialised: call "await setDefaultDevice(\\"webgpu\\")" ' +
          '(or "await initWebGPU()") before creating webgpu tensors',
      );
    }
    return webgpu;
  }
  throw new DeviceError(`unknown device "${device}"; expected "webgpu" or "cpu"`);
}

/** The webgpu backend if it is already initialised. */
export function webgpuIfReady(): Backend | null {
  return webgpu;
}

/** Replaces the backend serving `"cpu"` (the reference or the wasm kernels). @internal */
export function setCpuBackend(b: Backend): Backend {
  const prev = cpuBackend();
  cpu = b;
  autoDecision = null;
  return prev;
}

/** The backend currently serving `"cpu"` (created on first use). @internal */
export function cpuBackend(): Backend {
  if (!cpu) cpu = createCpuBackend();
  return cpu;
}
