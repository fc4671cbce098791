// Regression: generated kernels are cached by a structural key; a shared subexpression must be
// keyed by WHICH node it repeats (min(a, c) * c and min(a, c) * a once shared a key).
import assert from "node:assert/strict";
import { setDefaultDevice, tensor } from "../../mod.ts";
import { webgpu } from "../util.ts";

for (const device of ["cpu", "webgpu"] as const) {
  Deno.test({
    name: `plan keys distinguish which shared node repeats (${device})`,
    ignore: device === "webgpu" && !(await webgpu()),
    fn: async () => {
      const prev = await setDefaultDevice(device);
      try {
        const a = tensor([1, 2, 3, 4]), c = tensor([10, 20, 30, 40]);
        assert.deepEqual(await a.minimum(c).mul(c).array(), [10, 40, 90, 160]);
        assert.deepEqual(await a.minimum(c).mul(a).array(), [1, 4, 9, 16]);
      } finally {
        void prev;
        await setDefaultDevice("cpu");
      }
    },
  });
}
