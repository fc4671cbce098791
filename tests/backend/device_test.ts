/**
 * Device selection knobs: `WORLDFLUX_CPU_THREADS` (threads of the wasm cpu backend).
 * @module
 */

import assert from "node:assert/strict";
import { cpuThreads } from "../../src/backend/device.ts";

Deno.test("cpuThreads: unset or empty means every logical core", () => {
  const cores = navigator.hardwareConcurrency || 1;
  assert.equal(cpuThreads(undefined), cores);
  assert.equal(cpuThreads(" "), cores);
});

Deno.test("cpuThreads: a positive integer is taken as is", () => {
  assert.equal(cpuThreads("1"), 1);
  assert.equal(cpuThreads("3"), 3);
});

Deno.test("cpuThreads: anything else is a RangeError that names the variable and the value", () => {
  for (const bad of ["0", "-2", "1.5", "two"]) {
    assert.throws(
      () => cpuThreads(bad),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes("WORLDFLUX_CPU_THREADS") &&
        e.message.includes(`"${bad}"`),
    );
  }
});
