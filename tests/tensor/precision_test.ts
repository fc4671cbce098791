/**
 * Float32 precision of softplus and mish far below zero, where `1 + e^x` rounds to 1: the result
 * must be e^x (softplus) and x e^x (mish) to full relative precision, as PyTorch's log1p gives,
 * on every backend (WGSL's tanh of tiny arguments needed its series for mish); and pow at 0,
 * which WGSL leaves undefined.
 * @module
 */

import { tensor } from "../../src/tensor/creation.ts";
import { assertClose, webgpu } from "../util.ts";

const XS = [2, 0.5, -0.01, -1, -5, -10, -17, -20, -30, -60];
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const mish = (x: number) => x * Math.tanh(softplus(x));

for (const device of ["cpu", "webgpu"] as const) {
  Deno.test({
    name: `precision (${device}): softplus and mish keep their relative precision down to -60`,
    ignore: device === "webgpu" && !(await webgpu()),
    fn: async () => {
      const x = tensor(XS, [XS.length], { device });
      const opts = { rtol: 1e-5, floor: 0 };
      assertClose(await x.softplus().data(), XS.map(softplus), { ...opts, label: "softplus" });
      assertClose(await x.mish().data(), XS.map(mish), { ...opts, label: "mish" });
    },
  });
  Deno.test({
    name: `precision (${device}): 0 ** negative is Infinity, 0 ** 0 is 1, 0 ** positive is 0`,
    ignore: device === "webgpu" && !(await webgpu()),
    fn: async () => {
      const base = tensor([0, 0, 0, 0, 2], [5], { device });
      const exp = tensor([-1, -0.5, 0, 0.5, -1], [5], { device });
      assertClose(await base.pow(exp).data(), [Infinity, Infinity, 1, 0, 0.5], { label: "pow" });
    },
  });
}
