/**
 * WebGPU adapter discovery: which adapter we get, the limits we request (the adapter's real
 * ones, not the WebGPU defaults) and the features we use. `doctor` prints this.
 * @module
 */

import { DeviceError } from "../../errors.ts";
import { guardWebGPUThreadExit } from "./exit_guard.ts";

/** Limits worldflux requests from the adapter (each set to the adapter's maximum). */
export const REQUESTED_LIMITS: readonly string[] = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
  "maxDynamicUniformBuffersPerPipelineLayout",
];

/** Optional features worldflux enables when present. */
export const WANTED_FEATURES: readonly string[] = ["shader-f16", "timestamp-query"];

/** What `doctor` reports about the adapter. */
export interface AdapterReport {
  readonly available: boolean;
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
  readonly features: Record<string, boolean>;
  readonly limits: Record<string, number>;
  /** Why no adapter is available, when `available` is false. */
  readonly error?: string;
}

/**
 * Requests the high-performance adapter, or throws a DeviceError saying why there is none. The
 * calling thread is first guarded against ending during the process's exit (see `exit_guard.ts`):
 * the request itself already makes the EGL calls that give it a per-thread record.
 */
export async function requestAdapter(): Promise<GPUAdapter> {
  const gpu = (globalThis.navigator as { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new DeviceError("navigator.gpu is not available in this runtime (WebGPU disabled?)");
  }
  guardWebGPUThreadExit();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new DeviceError("navigator.gpu.requestAdapter() returned no adapter");
  return adapter;
}

/** True for software adapters (llvmpipe, lavapipe, SwiftShader, WARP). */
export function isFallback(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  if (info.isFallbackAdapter || legacy) return true;
  return /llvmpipe|lavapipe|swiftshader|warp|software/i.test(
    `${info.description} ${info.device} ${info.architecture}`,
  );
}

/** The limits to request: the adapter's values for {@link REQUESTED_LIMITS}. */
export function limitsToRequest(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, number>;
  for (const k of REQUESTED_LIMITS) {
    const v = lim[k];
    if (typeof v === "number") out[k] = v;
  }
  return out;
}

/** Describes the adapter without creating a device; never throws. */
export async function describeAdapter(): Promise<AdapterReport> {
  try {
    const a = await requestAdapter();
    const info = a.info;
    const features: Record<string, boolean> = {};
    for (const f of WANTED_FEATURES) features[f] = a.features.has(f as GPUFeatureName);
    return {
      available: true,
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallbackAdapter: isFallback(a),
      features,
      limits: limitsToRequest(a),
    };
  } catch (e) {
    return {
      available: false,
      vendor: "",
      architecture: "",
      device: "",
      description: "",
      isFallbackAdapter: false,
      features: {},
      limits: {},
      error: (e as Error).message,
    };
  }
}
