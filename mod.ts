/**
 * worldflux: world models (DreamerV3, TD-MPC2, ...) for Deno on WebGPU and CPU.
 * @module
 */
export * from "./src/tensor/creation.ts";
