/**
 * Functional autograd: `valueAndGrad(fn)(...args)` and `grad(outputs, inputs)`, like JAX's and
 * `torch.autograd.grad`. They compute gradients without touching any `.grad` (the engine is
 * autograd.ts, the rules gradients.ts).
 * @module
 */

import { DTypeError } from "../errors.ts";
import { withGradMode } from "./autograd.ts";
import { backwardImpl, type Tensor } from "./tensor.ts";

/**
 * Gradients of `outputs` (scalars, or weighted by `seeds`) with respect to `inputs`, which must
 * require gradients. Leaves `.grad` untouched.
 */
export function backwardGrad(
  outputs: Tensor | Tensor[],
  inputs: Tensor[],
  opts: { seeds?: Tensor[]; retainGraph?: boolean } = {},
): Tensor[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  for (const x of inputs) {
    if (!x.requiresGrad) {
      throw new DTypeError("grad", "every input must require gradients (x.setRequiresGrad())");
    }
  }
  return backwardImpl(outs, opts.seeds, inputs, opts.retainGraph ?? false);
}

/**
 * Wraps a scalar-valued function: the result returns `[value, grads]`, the gradients of the
 * value with respect to each tensor argument (computed on detached copies of the arguments, so
 * the caller's tensors and their `.grad` are untouched).
 *
 * @example
 * ```ts
 * import { tensor, valueAndGrad } from "@worldflux/worldflux";
 * const f = valueAndGrad((x) => x.square().sum());
 * const [v, [g]] = f(tensor([1, 2, 3]));
 * console.log(await v.item(), await g.array()); // 14 [2, 4, 6]
 * ```
 */
export function valueAndGrad<A extends Tensor[]>(
  fn: (...args: A) => Tensor,
): (...args: A) => [Tensor, Tensor[]] {
  return (...args: A) => {
    const xs = args.map((a) => a.detach().setRequiresGrad(true)) as unknown as A;
    const value = withGradMode(true, () => fn(...xs));
    if (!value.requiresGrad) {
      return [value, xs.map((x) => x.mul(0))];
    }
    const grads = backwardImpl([value], undefined, xs, false);
    return [value.detach(), grads];
  };
}
