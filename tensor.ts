/**
 * The tensor layer on its own (`@worldflux/worldflux/tensor`): lazy `Tensor`s, creation, random
 * numbers, functional ops, memory scopes, autograd and `compile()`, plus what the root module
 * leaves out because only code that writes its own compiled steps, memory management or
 * kernels needs it: the trace hooks (`isTracing`, `onReplay`), `keep`, `realizeAsync`,
 * `isGradEnabled` and `scatterAdd`.
 *
 * @example
 * ```ts
 * import { isTracing, tensor, tidy } from "@worldflux/worldflux/tensor";
 * console.log(isTracing()); // false: not inside a compile() trace
 * const y = tidy(() => tensor([1, 2]).mul(2));
 * console.log(await y.array()); // [2, 4]
 * ```
 * @module
 */

export * from "./src/tensor/api.ts";
// What only code that writes its own compiled steps, memory management or kernels needs.
export { realizeAsync } from "./src/tensor/tensor.ts";
export { isGradEnabled } from "./src/tensor/autograd.ts";
export { keep, type Scoped } from "./src/tensor/scope.ts";
export { scatterAdd } from "./src/tensor/functional.ts";
export { isTracing, onReplay } from "./src/tensor/compile.ts";
