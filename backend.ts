/**
 * Devices (`@worldflux/worldflux/backend`): which device tensors go to by default, what `"auto"`
 * chooses and why, bringing up WebGPU, and how much memory each device holds. The root module
 * keeps what most programs call (`setDefaultDevice`, `getDefaultDevice`, `initWebGPU`); this
 * entry adds the decision behind `"auto"` and the memory figures.
 *
 * @example
 * ```ts
 * import { resolveAuto } from "@worldflux/worldflux/backend";
 * const choice = await resolveAuto();
 * console.log(choice.device, choice.reason); // e.g. "cpu", "no WebGPU adapter"
 * ```
 * @module
 */

import "./src/backend/webgpu/backend.ts";
export type { DeviceName } from "./src/backend/types.ts";
import { initWebGPU as initWebGPUBackend } from "./src/backend/device.ts";
export {
  type AutoDecision,
  type DeviceRequest,
  getDefaultDevice,
  resolveAuto,
  setDefaultDevice,
} from "./src/backend/device.ts";
export { type DeviceMemory, type MemoryInfo, memoryInfo } from "./src/tensor/memory.ts";
export { setKernelWorkerUrl } from "./src/backend/wasm/pool.ts";

/**
 * Brings up the WebGPU device (adapter with its real limits). Call it (or
 * `await setDefaultDevice("webgpu")`) before creating webgpu tensors.
 *
 * @example
 * ```ts
 * import { initWebGPU, tensor } from "@worldflux/worldflux";
 * try {
 *   await initWebGPU();
 *   console.log(await tensor([1, 2], [2], { device: "webgpu" }).sum().item()); // 3
 * } catch (e) {
 *   console.log("no WebGPU here:", (e as Error).message);
 * }
 * ```
 */
export async function initWebGPU(): Promise<void> {
  await initWebGPUBackend();
}
