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
import * as wf from "../mod.ts";
import { cpuBackend } from "../src/backend/device.ts";
import { Generator, rand, randn } from "../src/tensor/random.ts";
import { keep } from "../src/tensor/tensor.ts";

type Tensor = wf.Tensor;

/** The HalfCheetah evidence runs' model and planner (over `tdmpc2:ci`). */
const CHEETAH = {
  latentDim: 64,
  hiddenDim: 128,
  encDim: 128,
  numQNetworks: 2,
  numSamples: 256,
  iterations: 4,
  numElites: 64,
  numPiTrajs: 24,
};

async function setup(w: string): Promise<() => Promise<void>> {
  const cheetah = w.startsWith("cheetah");
  const OBS = cheetah ? 17 : 39;
  const model = await wf.createWorldModel(cheetah ? "tdmpc2:ci" : `tdmpc2:${w.split("-")[0]}`, {
    obsShape: [OBS],
    actionDim: 6,
    seed: 1,
    ...(cheetah ? CHEETAH : {}),
  }) as wf.TDMPC2WorldModel;
  if (w.endsWith("-plan")) {
    const planner = new wf.MPPIPlanner(model, {
      ...model.plannerDefaults(),
      generator: new Generator(5),
    });
    const obs = keep(randn([1, OBS], { seed: 6 }).realize());
    return async () => {
      const p = planner.plan(model.encode(obs));
      await (p.tensor as Tensor).data();
    };
  }
  const agent = new wf.TDMPC2Agent(model, { seed: 3 });
  const g = new Generator(2);
  const B = 256, T = 4;
  const batch: [Tensor, Tensor, Tensor, Tensor] = [
    keep(randn([B, T, OBS], { generator: g }).realize()),
    keep(rand([B, T, 6], { generator: g }).mul(2).sub(1).realize()),
    keep(randn([B, T], { generator: g }).realize()),
    keep(wf.zeros([B, T]).contiguous().realize()),
  ];
  const step = agent.compiled();
  return async () => {
    const info = step(...batch);
    await info.total_loss.item();
    for (const x of Object.values(info)) x.dispose();
  };
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
