/**
 * One TD-MPC2 workload kept warm in a process that measures the CPU time of its own calls, for
 * A/B comparisons on a loaded machine (`cpu_ab.ts` drives two of these, old and new code,
 * alternately). With `WORLDFLUX_CPU_THREADS=1` the kernels run on the calling thread, so the
 * process's CPU time (user + system) is the call's own work, which other processes disturb
 * much less than its wall time.
 *
 *   WORLDFLUX_CPU_THREADS=1 deno run -A --no-check bench/cpu_step.ts \
 *     [cheetah-update|cheetah-plan|ci-update|5m-update|5m-plan]
 *
 * Protocol: after the warm-up (trace + 2 calls) it prints `ready <kernels per call>`; each line
 * `run N` on stdin runs N calls and prints `cpu <ms> <ms> ...` (CPU ms of each call); `quit`
 * ends it. Sizes as bench/tdmpc2_bench.ts (`cheetah`: the HalfCheetah evidence runs).
 * @module
 */

import process from "node:process";
import { cpuBackend } from "../src/backend/device.ts";
import { tdmpc2Workload, type TDMPC2WorkloadSize } from "./tdmpc2_workload.ts";

/** `cheetah-update` -> the cheetah size's update, `5m-plan` -> the 5m plan. */
function setup(w: string): Promise<() => Promise<void>> {
  const [size, kind] = w.split("-");
  if (!["cheetah", "ci", "5m"].includes(size) || (kind !== "update" && kind !== "plan")) {
    throw new Error(`workload: cheetah|ci|5m followed by -update or -plan, got ${w}`);
  }
  return tdmpc2Workload(size as TDMPC2WorkloadSize, kind);
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

const run = await setup(Deno.args[0] ?? "cheetah-update");
for (let i = 0; i < 3; i++) await run();
const be = cpuBackend();
const k0 = be.dispatchCount;
await run();
console.log(`ready ${be.dispatchCount - k0}`);
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let rest = "";
for await (const chunk of lines) {
  rest += chunk;
  let nl;
  while ((nl = rest.indexOf("\n")) >= 0) {
    const line = rest.slice(0, nl).trim();
    rest = rest.slice(nl + 1);
    if (line === "quit") Deno.exit(0);
    const n = Number(line.split(" ")[1] ?? 1);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = cpuMs();
      await run();
      ms.push(cpuMs() - t0);
    }
    console.log(`cpu ${ms.map((x) => x.toFixed(3)).join(" ")}`);
  }
}
