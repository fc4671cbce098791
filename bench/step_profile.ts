/**
 * Where the time of a compiled step goes on the `cpu` device: every kernel of a few replays
 * timed (`setReplayProfiler`), grouped by kind and shape (matmuls by batch x M x N x K and the
 * operands' layout: `n` plain, `t` transposed, `s` other strides), the largest groups first.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno run -A --no-check bench/step_profile.ts \
 *     [dreamer-12m-vec|dreamer-12m-img|dreamer-ci|tdmpc2-ci|tdmpc2-ci-plan|tdmpc2-5m|tdmpc2-5m-plan|tdmpc2-cheetah|
 *      tdmpc2-cheetah-plan]
 *     [--steps 3] [--top 30]
 *
 * `tdmpc2-cheetah` is the size of the HalfCheetah-v5 evidence runs
 * (examples/evidence_tdmpc2_halfcheetah.ts: obs 17, latent 64, MLPs 128, encoder 128, 2 Q heads;
 * MPPI 256 x 4, 64 elites, 24 policy trajectories), as bench/tdmpc2_bench.ts's `cheetah`.
 *
 * Profiling adds a clock read per kernel (~1 us): the total is close to, not equal to, the
 * unprofiled step. `--cpu` times kernels by the process's CPU time instead of the wall clock
 * (~4 us per read): with `WORLDFLUX_CPU_THREADS=1` that is each kernel's own work, which other
 * processes on a shared machine disturb much less than its wall time.
 * @module
 */

import * as wf from "../mod.ts";
import { realizeAsync } from "../tensor.ts";
import { rand, randn } from "../src/tensor/random.ts";
import { keep } from "../src/tensor/tensor.ts";
import { kernelReport, profileClock, profileReplays } from "./kernel_groups.ts";
import { tdmpc2Workload } from "./tdmpc2_workload.ts";

type Tensor = wf.Tensor;

async function setup(w: string): Promise<() => Promise<void>> {
  const finish = async (ts: Tensor[]) => {
    await realizeAsync(...ts);
    for (const t of ts) t.dispose();
  };
  if (w.startsWith("dreamer-")) {
    const image = w === "dreamer-12m-img";
    const model = await wf.createWorldModel(
      w === "dreamer-ci" ? "dreamer:ci" : "dreamerv3:size12m",
      { obsShape: image ? [3, 64, 64] : [8], actionDim: image ? 6 : 2, actorCritic: false },
    ) as wf.DreamerV3WorldModel;
    const trainer = new wf.DreamerTrainer(model, {
      optimizer: "adam",
      agc: 0,
      gradClip: 1000,
      lr: 1e-4,
      eps: 1e-8,
    });
    const B = 16, T = 64;
    const obs = image ? rand([B, T, 3, 64, 64], { seed: 1 }) : randn([B, T, 8], { seed: 1 });
    const batch = {
      obs: keep(obs.realize()),
      actions: keep(randn([B, T, image ? 6 : 2], { seed: 2 }).tanh().realize()),
      rewards: keep(randn([B, T], { seed: 3 }).realize()),
      terminations: keep(wf.zeros([B, T]).contiguous().realize()),
    };
    return () => finish(Object.values(trainer.compiledStep(batch)));
  }
  return tdmpc2Workload(
    w.startsWith("tdmpc2-cheetah") ? "cheetah" : w.startsWith("tdmpc2-ci") ? "ci" : "5m",
    w.endsWith("-plan") ? "plan" : "update",
  );
}

const argv = Deno.args;
const w = argv.find((a) => !a.startsWith("--") && !/^\d+$/.test(a)) ?? "dreamer-12m-vec";
const opt = (k: string, d: number) => {
  const i = argv.indexOf(k);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const steps = opt("--steps", 3), top = opt("--top", 30);
const cpuClock = argv.includes("--cpu");
const clock = profileClock(cpuClock);
const run = await setup(w);
for (let i = 0; i < 2; i++) await run();
const { rows, perRun: wall } = await profileReplays(run, steps, clock);
const report = kernelReport(rows, steps, top, "step");
console.log(
  `${w}: ${wall.toFixed(1)} ms ${cpuClock ? "CPU" : ""} per step (profiled), kernels ` +
    `${report.totalMs.toFixed(1)} ms, ${report.kernels} kernels per step, ` +
    `${report.gflop.toFixed(2)} GFLOP`,
);
for (const line of report.lines) console.log(line);
Deno.exit(0);
