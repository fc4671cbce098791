/**
 * Typed errors: shape and dtype mismatches throw ShapeError / DTypeError naming the op, the
 * shapes and the axis; device problems throw DeviceError; each error says what to do.
 */

import assert from "node:assert/strict";
import {
  concat,
  conv2d,
  DeviceError,
  DTypeError,
  layerNorm,
  oneHot,
  setDefaultDevice,
  ShapeError,
  stack,
  type Tensor,
  tensor,
  where,
  WorldFluxError,
  zeros,
} from "../../mod.ts";
import { webgpu } from "../util.ts";

const GPU = await webgpu();

type ErrorClass = new (...args: never[]) => Error;

/** Asserts that `fn` throws an instance of `cls` whose message contains every needle. */
function throwsWith(fn: () => unknown, cls: ErrorClass, needles: string[]): Error {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkError(caught, cls, needles);
}

async function rejectsWith(fn: () => Promise<unknown>, cls: ErrorClass, needles: string[]) {
  let caught: unknown = null;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  return checkError(caught, cls, needles);
}

function checkError(caught: unknown, cls: ErrorClass, needles: string[]): Error {
  if (caught === null) throw new Error(`expected ${cls.name}, nothing was thrown`);
  if (!(caught instanceof cls)) {
    throw new Error(`expected ${cls.name}, got ${(caught as Error)?.name}: ${caught}`);
  }
  const msg = (caught as Error).message;
  for (const n of needles) {
    if (!msg.includes(n)) throw new Error(`message lacks "${n}": ${msg}`);
  }
  assert.ok(caught instanceof WorldFluxError, "every typed error is a WorldFluxError");
  return caught as Error;
}

const t = (shape: number[], dtype: "float32" | "int32" | "bool" = "float32"): Tensor =>
  zeros(shape, { dtype });

Deno.test("errors: matmul with different inner dimensions names both shapes and axes", () => {
  const e = throwsWith(() => t([2, 3]).matmul(t([4, 5])), ShapeError, [
    "matmul",
    "[2, 3]",
    "[4, 5]",
    "3 vs 4",
    "axis -1",
    "axis -2",
  ]);
  assert.equal((e as ShapeError).op, "matmul");
  assert.equal((e as ShapeError).code, "shape_mismatch");
  throwsWith(() => t([5, 2, 3]).matmul(t([4, 3, 2])), ShapeError, ["matmul", "[5]", "[4]"]);
  throwsWith(() => t([3]).matmul(t([4])), ShapeError, ["matmul", "3 vs 4"]);
  throwsWith(() => t([]).matmul(t([3])), ShapeError, ["matmul", "rank"]);
});

Deno.test("errors: shapes that do not broadcast name the op, both shapes and the axis", () => {
  throwsWith(() => t([2, 3]).add(t([4, 3])), ShapeError, ["add", "[2, 3]", "[4, 3]", "axis 0"]);
  throwsWith(() => t([5, 1, 3]).mul(t([2, 4])), ShapeError, [
    "mul",
    "[5, 1, 3]",
    "[2, 4]",
    "axis 2",
  ]);
  throwsWith(() => where(t([2], "bool"), t([3]), 0), ShapeError, ["where", "[2]", "[3]"]);
  throwsWith(() => t([2, 3]).expand([2, 4]), ShapeError, ["expand", "[2, 3]", "[2, 4]", "axis 1"]);
});

Deno.test("errors: concat and stack name the shapes and the axis", () => {
  throwsWith(() => concat([t([2, 3]), t([3, 4])], 1), ShapeError, [
    "concat",
    "[2, 3]",
    "[3, 4]",
    "axis 1",
  ]);
  throwsWith(() => concat([t([2, 3]), t([2, 3, 1])], 0), ShapeError, ["concat", "[2, 3, 1]"]);
  throwsWith(() => concat([t([2, 3])], 2), ShapeError, ["concat", "axis 2", "rank 2"]);
  throwsWith(() => stack([t([2, 3]), t([3, 2])]), ShapeError, ["stack", "[2, 3]", "[3, 2]"]);
});

Deno.test("errors: reshape names both shapes", () => {
  throwsWith(() => t([2, 3]).reshape([4, 2]), ShapeError, ["reshape", "[2, 3]", "[4, 2]"]);
  throwsWith(() => t([2, 3]).reshape([-1, 4]), ShapeError, ["reshape", "[2, 3]", "[-1, 4]"]);
  throwsWith(() => t([2, 3]).reshape([-1, -1]), ShapeError, ["reshape", "-1"]);
});

Deno.test("errors: axes out of range and other shape errors name the op and the axis", () => {
  throwsWith(() => t([2, 3]).sum(2), ShapeError, ["sum", "axis 2", "rank 2"]);
  throwsWith(() => t([2, 3]).softmax(-3), ShapeError, ["softmax", "axis -3", "rank 2"]);
  throwsWith(() => t([2, 3]).argmax(5), ShapeError, ["argmax", "axis 5"]);
  throwsWith(() => t([2, 3]).sum([1, -1]), ShapeError, ["sum", "repeat"]);
  throwsWith(() => t([2, 3]).squeeze(1), ShapeError, ["squeeze", "axis 1", "[2, 3]"]);
  throwsWith(() => t([2, 3]).split([1, 1], 1), ShapeError, ["split", "axis 1", "[2, 3]"]);
  throwsWith(() => t([2, 3]).slice([0, 2], [2, 2]), ShapeError, ["slice", "axis 1", "[2, 3]"]);
  throwsWith(() => t([2, 3]).permute([0, 0]), ShapeError, ["permute"]);
  throwsWith(() => layerNorm(t([2, 3]), t([4])), ShapeError, [
    "layerNorm",
    "weight",
    "[4]",
    "[2, 3]",
  ]);
  throwsWith(() => t([2, 3]).gather(t([2, 3, 1], "int32"), 1), ShapeError, ["gather", "[2, 3, 1]"]);
  throwsWith(() => tensor([[1, 2], [3]]), ShapeError, ["tensor", "ragged", "axis 1"]);
  throwsWith(() => tensor([1, 2, 3], [2, 2]), ShapeError, ["tensor", "[2, 2]"]);
  throwsWith(
    () => conv2d(t([1, 3, 8, 8]), t([4, 2, 3, 3])),
    ShapeError,
    ["conv2d", "[1, 3, 8, 8]", "[4, 2, 3, 3]", "axis 1"],
  );
});

Deno.test("errors: item() of a tensor with more than one element", async () => {
  await rejectsWith(() => t([2, 3]).item(), ShapeError, ["item", "[2, 3]"]);
  assert.equal(await t([1, 1]).add(4).item(), 4);
});

Deno.test("errors: dtype mismatches throw DTypeError naming the op and the dtypes", () => {
  const e = throwsWith(() => t([4]).gather(t([2]), 0), DTypeError, ["gather", "int32", "float32"]);
  assert.equal((e as DTypeError).code, "dtype_mismatch");
  assert.equal((e as DTypeError).op, "gather");
  throwsWith(() => where(t([2]), 1, 0), DTypeError, ["where", "bool", "float32"]);
  throwsWith(() => where(t([2], "int32"), 1, 0), DTypeError, ["where", "bool", "int32"]);
  throwsWith(() => t([2]).ifElse(1, 0), DTypeError, ["where", "bool", "float32"]);
  throwsWith(() => t([2]).logicalAnd(t([2], "bool")), DTypeError, ["logicalAnd", "bool"]);
  throwsWith(() => t([2], "int32").logicalNot(), DTypeError, ["logicalNot", "int32"]);
  throwsWith(() => oneHot(t([3]), 4), DTypeError, ["oneHot", "int32", "float32"]);
  throwsWith(() => t([2], "int32").setRequiresGrad(), DTypeError, ["float32", "int32"]);
  throwsWith(() => layerNorm(t([2, 3], "int32")), DTypeError, ["layerNorm", "int32"]);
  throwsWith(() => t([2]).cast("float64" as "float32"), DTypeError, ["float64"]);
});

Deno.test("errors: an unknown device is a DeviceError", async () => {
  await rejectsWith(
    () => setDefaultDevice("tpu" as "cpu"),
    DeviceError,
    ["tpu", "webgpu", "cpu"],
  );
});

Deno.test({
  name: "errors: a tensor over the WebGPU binding limit is refused with a clear DeviceError",
  ignore: !GPU,
  fn: async () => {
    // 33,600,000 float32 = 134.4 MB > 128 MiB (maxStorageBufferBindingSize here)
    // (zeros() is a broadcast constant: realizing it stores one number; computing from it
    // needs the whole buffer)
    const big = zeros([33_600_000], { device: "webgpu" });
    throwsWith(() => big.add(1).realize(), DeviceError, ["33600000", "MiB", "limit", "split"]);
    await rejectsWith(() => big.data(), DeviceError, ["33600000", "MiB"]);
    throwsWith(
      () => tensor(new Float32Array(33_600_000), [33_600_000], { device: "webgpu" }),
      DeviceError,
      ["MiB"],
    );
    // the device still works afterwards
    const ok = zeros([1000], { device: "webgpu" }).add(2).sum();
    assert.equal(await ok.item(), 2000);
    // just under the limit is fine
    const under = zeros([33_554_432], { device: "webgpu" }).add(1).realize();
    assert.equal(await under.max().item(), 1);
    under.dispose();
  },
});

Deno.test({
  name: "errors: combining a webgpu tensor with a cpu tensor throws DeviceError",
  ignore: !GPU,
  fn: async () => {
    const g = tensor([1, 2, 3], [3], { device: "webgpu" });
    const c = tensor([1, 2, 3], [3], { device: "cpu" });
    throwsWith(() => g.add(c), DeviceError, ["add", "webgpu", "cpu", "to("]);
    throwsWith(() => c.mul(g), DeviceError, ["mul", "cpu", "webgpu"]);
    throwsWith(() => g.reshape([3, 1]).matmul(c.reshape([1, 3])), DeviceError, ["matmul"]);
    throwsWith(() => concat([g, c]), DeviceError, ["concat"]);
    throwsWith(() => where(g.gt(1), g, c), DeviceError, ["where"]);
    throwsWith(() => layerNorm(g, c), DeviceError, ["layerNorm"]);
    // moving one of them fixes it
    assert.deepEqual(Array.from(await g.add(c.to("webgpu")).data()), [2, 4, 6]);
    assert.deepEqual(Array.from(await g.to("cpu").add(c).data()), [2, 4, 6]);
  },
});
