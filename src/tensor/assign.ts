/**
 * Writing a value into a tensor's storage in place (`Tensor.assign`): how parameters and
 * optimizer state are updated. The storage (and any arena it lives in) stays put, which compiled
 * steps rely on; the storage's version is bumped, so values computed from the old contents and
 * not yet realized can no longer be read (the scheduler throws).
 *
 * Generic over the tensor type ({@link OpTensor}, ops.ts), so this file does not import the
 * class, whose `assign` calls it.
 * @module
 */

import { DeviceError, fmtShape, ShapeError } from "../errors.ts";
import { broadcastShapes, contiguousView, isContiguous, numel, sameShape } from "../ir/view.ts";
import { withGradMode } from "./autograd.ts";
import { elementwise, type Operand, type OpTensor, toTensor } from "./ops.ts";
import { realizeNodes } from "./schedule.ts";

/**
 * Writes `value` (broadcast and cast to `target`'s shape and dtype) into `target`'s storage.
 * Throws when `target` is a view of another tensor's storage or `value` does not broadcast.
 */
export function assignInPlace<T extends OpTensor<T>>(target: T, value: Operand<T>): T {
  target._check("assign");
  const node = target._node;
  if (!node.realized) realizeNodes([node]);
  if (
    !isContiguous(target._view) || target._view.offset !== 0 || target.size !== numel(node.shape)
  ) {
    throw new ShapeError(
      "assign",
      `the target (shape ${fmtShape(target.shape)}) is a view of another tensor; assign to the ` +
        `tensor that owns the storage`,
    );
  }
  const v = withGradMode(false, () => {
    const t = typeof value === "object" ? value._check("assign") : toTensor<T>(value, target);
    if (t._backend !== target._backend) {
      throw new DeviceError(`assign: value is on ${t.device}, target on ${target.device}`);
    }
    broadcastShapes(t.shape, target.shape, "assign");
    if (t.rank > target.rank || !sameShape(broadcastShapes(t.shape, target.shape), target.shape)) {
      throw new ShapeError(
        "assign",
        `value of shape ${fmtShape(t.shape)} does not broadcast to ${fmtShape(target.shape)}`,
      );
    }
    const c = t.cast(target.dtype).expand(target.shape);
    return isContiguous(c._view) && c._view.offset === 0 && c.size === numel(c._node.shape)
      ? c
      : elementwise<T>("copy", [c]);
  });
  const dest = { buf: node.buffer!, view: contiguousView(target.shape, node.bufferOffset) };
  realizeNodes([v._node], new Map([[v._node, dest]]));
  node.version++;
  return target;
}
