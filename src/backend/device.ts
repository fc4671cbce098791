/**
 * Device registry: which backend serves each device name, the default device, and how `"auto"`
 * chooses. The webgpu backend is created on first request (adapter and device are async).
 * @module
 */

import { DeviceError } from "../errors.ts";
import type { Backend, DeviceName } from "./types.ts";
import { JsBackend } from "./cpu/js_backend.ts";

/** A device request: a concrete device or `"auto"`. */
export type DeviceRequest = DeviceName | "auto";

/** Why `"auto"` picked what it picked (shown by `doctor` and in run manifests). */
export interface AutoDecision {
  /** The device picked. */
  readonly device: DeviceName;
  /** Why, in one sentence. */
  readonly reason: string;
}

let cpu: Backend = new JsBackend();
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

/** Hook deciding `"auto"`; replaced when faster cpu kernels are available. @internal */
let autoChooser: () => Promise<AutoDecision> = async () => {
  const gpu = await tryWebGPU();
  if (!gpu.backend) return { device: "cpu", reason: gpu.reason };
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
  if (device === "cpu") return cpu;
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
  const prev = cpu;
  cpu = b;
  return prev;
}

/** The backend currently serving `"cpu"`. @internal */
export function cpuBackend(): Backend {
  return cpu;
}
