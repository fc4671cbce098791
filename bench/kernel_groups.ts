/**
 * How the profiling benches (`step_profile.ts`, `dreamer_update_profile.ts`) name a kernel's group:
 * its kind and shape (matmuls by batch x M x N x K and the operands' layout: `n` plain, `t`
 * transposed, `s` other strides).
 * @module
 */

import type { Kernel } from "../src/backend/types.ts";
import type { View } from "../src/ir/view.ts";

/** `n` row-major, `t` transposed (column-major), `s` anything else, for the last two axes. */
export function layout(v: View): string {
  const r = v.shape.length;
  const [s0, s1] = [v.strides[r - 2], v.strides[r - 1]];
  if (s1 === 1 && (s0 === v.shape[r - 1] || v.shape[r - 2] === 1)) return "n";
  if (s0 === 1 && (s1 === v.shape[r - 2] || v.shape[r - 1] === 1)) return "t";
  return "s";
}

/** The group of a kernel: kind and shape. */
export function describe(k: Kernel): string {
  switch (k.kind) {
    case "matmul": {
      const b = k.batch.length ? `${k.batch.join("x")} x ` : "";
      const ep = k.epilogue ? " +epi" : "";
      return `matmul ${b}${k.m}x${k.n}x${k.k} ${layout(k.a.view)}${layout(k.b.view)}${ep}`;
    }
    case "ew":
      return `ew [${k.out.view.shape.join(",")}]`;
    case "reduce":
      return `reduce ${k.op} ${k.outSize} x ${k.reduceSize}`;
    case "softmax":
    case "norm":
      return `${k.kind} ${k.rows} x ${k.cols}`;
    default: {
      const shape = (k as { out?: { view: View } }).out?.view.shape;
      return shape ? `${k.kind} [${shape.join(",")}]` : k.kind;
    }
  }
}
