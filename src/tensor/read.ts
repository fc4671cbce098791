/**
 * Reading tensor values back to the host: several tensors with one synchronisation per device
 * ({@link readTensors}, behind `data()`), the cross-device transfers that must be resolved
 * before (a transfer from a device that cannot be read synchronously reads its source first),
 * and the nested arrays `array()` returns.
 *
 * Generic over the tensor type ({@link OpTensor}, ops.ts): a tensor is made by another's
 * `_make`, so this file does not import the class, whose methods call it.
 * @module
 */

import type { Backend } from "../backend/types.ts";
import { storageArray, type TensorData, toPublicData } from "../ir/dtype.ts";
import { isContiguous, numel } from "../ir/view.ts";
import type { LazyNode } from "./lazy.ts";
import { elementwise, type OpTensor } from "./ops.ts";
import { realizeNodes } from "./schedule.ts";

/** Nested number arrays, as returned by `array()`. */
export type NestedArray = number | boolean | NestedArray[];

/**
 * Reads several tensors with one synchronisation per device.
 * @internal
 */
export async function readTensors<T extends OpTensor<T>>(
  ts: readonly T[],
): Promise<TensorData[]> {
  for (const t of ts) t._check("data");
  // Resolve cross-device transfers whose source cannot be read synchronously.
  await resolveTransfers(ts);
  const contiguous = ts.map((t) => (isContiguous(t._view) ? t : elementwise<T>("copy", [t])));
  const byBackend = new Map<Backend, T[]>();
  for (const t of contiguous) {
    let list = byBackend.get(t._backend);
    if (!list) byBackend.set(t._backend, list = []);
    list.push(t);
  }
  for (const [, list] of byBackend) realizeNodes(list.map((t) => t._node));
  const results = new Map<T, Float32Array | Int32Array>();
  await Promise.all(
    [...byBackend].map(async ([be, list]) => {
      const nonEmpty = list.filter((t) => t.size > 0);
      const data = await be.read(nonEmpty.map((t) => ({
        buf: t._node.buffer!,
        offset: t._node.bufferOffset + t._view.offset,
        n: t.size,
        dtype: t.dtype,
      })));
      nonEmpty.forEach((t, i) => results.set(t, data[i]));
    }),
  );
  const out = contiguous.map((t) =>
    toPublicData(t.dtype, results.get(t) ?? storageArray(t.dtype, 0))
  );
  contiguous.forEach((t, i) => {
    if (t !== ts[i]) t.dispose();
  });
  return out;
}

/**
 * Realizes the sources of the transfer nodes in the graphs of `ts` that need an asynchronous
 * read (a source on a device without `readSync`), so that realizing `ts` needs no wait.
 * @internal
 */
export async function resolveTransfers<T extends OpTensor<T>>(ts: readonly T[]): Promise<void> {
  const stack = ts.map((t) => t._node);
  const seen = new Set<LazyNode>();
  const transfers: LazyNode[] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n) || n.realized) continue;
    seen.add(n);
    if (n.op.kind === "transfer" && !n.srcs[0].node.backend.readSync) transfers.push(n);
    for (const s of n.srcs) stack.push(s.node);
  }
  // Deepest first: a transfer's source may itself contain transfers.
  for (const n of transfers.reverse()) {
    if (n.realized) continue;
    const src = ts[0]._make(n.srcs[0].node, n.srcs[0].view);
    const [d] = await readTensors([src]);
    src.dispose();
    const stored = n.dtype === "bool"
      ? Int32Array.from(d as Uint8Array)
      : d as Float32Array | Int32Array;
    const buf = n.backend.alloc(numel(n.shape));
    n.backend.write(buf, stored);
    n.setBuffer(buf);
  }
}

/** Read values (flat, row-major) as nested arrays of `shape`; bools as `true`/`false`. */
export function nestedArray(d: TensorData, shape: readonly number[], isBool: boolean): NestedArray {
  if (shape.length === 0) return isBool ? d[0] !== 0 : d[0];
  let i = 0;
  const build = (axis: number): NestedArray => {
    const out: NestedArray[] = [];
    for (let k = 0; k < shape[axis]; k++) {
      if (axis === shape.length - 1) {
        out.push(isBool ? d[i++] !== 0 : d[i++]);
      } else out.push(build(axis + 1));
    }
    return out;
  };
  return build(0);
}
