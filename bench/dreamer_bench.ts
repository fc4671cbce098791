/**
 * DreamerV3 benchmarks (issue 5):
 *
 * - one world-model train step of `dreamer:ci` with vector obs 8, action 2, batch 16, sequence
 *   64: forward, backward, clip, optimizer (Adam with the fused global-norm clip, as the PyTorch
 *   reference step; and the official LaProp with per-tensor AGC), compiled and uncompiled.
 *   Target: <= 29 ms (PyTorch CPU, 2 threads: 58 ms);
 * - a 15-step imagination of `dreamerv3:size12m` at batch 16 (prior steps with sampled latents,
 *   rewards and continues from the heads, no gradients). PyTorch CPU: 150 ms.
 *
 * On every backend available: `cpu-reference` (the TypeScript reference backend), `cpu-wasm`
 * (the WebAssembly SIMD backend, when it loads) and `webgpu` (when an adapter is available; set
 * XDG_RUNTIME_DIR to a 0700 directory). A webgpu iteration runs 4 steps and reads once (one read
 * costs >= 12 ms there), so its per-step time is the reported time / 4.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno bench -A --no-check bench/dreamer_bench.ts
 *
 * DREAMER_BENCH_PROFILE=1 prints kernel counts per step (forward, backward, optimizer) first.
 */

import { cpuBackend, getBackend, setCpuBackend } from "../src/backend/device.ts";
import type { Backend } from "../src/backend/types.ts";
import { JsBackend } from "../src/backend/cpu/js_backend.ts";
import {
  type Batch,
  compile,
  type CompiledStep,
  createWorldModel,
  DreamerTrainer,
  type DreamerV3WorldModel,
  initWebGPU,
  noGrad,
  randn,
  State,
  type Tensor,
  zeros,
} from "../mod.ts";
import { realizeAsync } from "../tensor.ts";

type Device = "cpu" | "webgpu";
interface Target {
  readonly name: string;
  readonly device: Device;
  readonly backend: Backend | null; // the cpu backend to install (null: webgpu)
  readonly stepsPerIter: number;
}

const targets: Target[] = [{
  name: "cpu-reference",
  device: "cpu",
  backend: new JsBackend(),
  stepsPerIter: 1,
}];
try {
  const { WasmBackend } = await import("../src/backend/wasm/backend.ts");
  targets.push({ name: "cpu-wasm", device: "cpu", backend: new WasmBackend(), stepsPerIter: 1 });
} catch (e) {
  console.error(`cpu-wasm: not available (${(e as Error).message})`);
}
try {
  await initWebGPU();
  targets.push({ name: "webgpu", device: "webgpu", backend: null, stepsPerIter: 4 });
} catch (e) {
  console.error(`webgpu: not available (${(e as Error).message})`);
}
const defaultCpu = cpuBackend();

function use(t: Target): void {
  setCpuBackend(t.backend ?? defaultCpu);
}

function ciBatch(device: Device): Batch {
  const B = 16, T = 64;
  return {
    obs: randn([B, T, 8], { device, seed: 1 }),
    actions: randn([B, T, 2], { device, seed: 2 }).tanh(),
    rewards: randn([B, T], { device, seed: 3 }),
    terminations: zeros([B, T], { device }),
  };
}

interface CiSetup {
  readonly model: DreamerV3WorldModel;
  readonly batch: Batch;
  readonly trainer: DreamerTrainer;
}

async function ciSetup(t: Target, official: boolean): Promise<CiSetup> {
  use(t);
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [8],
    actionDim: 2,
    actorCritic: false,
    device: t.device,
  }) as DreamerV3WorldModel;
  const trainer = new DreamerTrainer(
    model,
    official
      ? { optimizer: "laprop", agc: 0.3, lr: 4e-5 }
      : { optimizer: "adam", agc: 0, gradClip: 1000, lr: 1e-4, eps: 1e-8 },
  );
  return { model, batch: ciBatch(t.device), trainer };
}

async function imagSetup(t: Target) {
  use(t);
  const model = await createWorldModel("dreamerv3:size12m", {
    device: t.device,
  }) as DreamerV3WorldModel;
  const { deter, stoch, classes, actionDim } = model.config;
  const start = new State({
    deter: randn([16, deter], { device: t.device, seed: 4 }).tanh(),
    stoch: zeros([16, stoch * classes], { device: t.device }),
  });
  const actions = randn([15, 16, actionDim], { device: t.device, seed: 5 }).tanh();
  return { model, start, actions };
}

async function finish(ts: Tensor[]): Promise<void> {
  await realizeAsync(...ts);
  for (const x of ts) x.dispose();
}

// ---------------------------------------------------------------------------------------------
// Profile (kernel counts per phase), printed once
// ---------------------------------------------------------------------------------------------

if (Deno.env.get("DREAMER_BENCH_PROFILE") === "1") {
  for (const t of targets.filter((x) => x.device === "cpu")) {
    const { model, batch, trainer } = await ciSetup(t, false);
    const be = getBackend("cpu") as unknown as { dispatchCount: number };
    for (let i = 0; i < 3; i++) await finish(Object.values(trainer.step(batch)));
    // forward only
    let d0 = be.dispatchCount, t0 = performance.now();
    const out = model.lossWithStates(batch).out;
    await realizeAsync(out.loss);
    const fwd = [be.dispatchCount - d0, performance.now() - t0];
    // forward + backward (gradients realized)
    d0 = be.dispatchCount;
    t0 = performance.now();
    const o2 = model.lossWithStates(batch).out;
    o2.loss.backward();
    const ps = model.worldModelParameters();
    await realizeAsync(o2.loss, ...ps.map((p) => p.grad!));
    const fb = [be.dispatchCount - d0, performance.now() - t0];
    for (const p of ps) p.zeroGrad();
    // full step (uncompiled) and compiled
    d0 = be.dispatchCount;
    t0 = performance.now();
    await finish(Object.values(trainer.step(batch)));
    const full = [be.dispatchCount - d0, performance.now() - t0];
    for (let i = 0; i < 3; i++) await finish(Object.values(trainer.compiledStep(batch)));
    d0 = be.dispatchCount;
    t0 = performance.now();
    await finish(Object.values(trainer.compiledStep(batch)));
    const comp = [be.dispatchCount - d0, performance.now() - t0];
    console.log(
      `[${t.name}] dreamer:ci B16 T64 kernels: forward ${fwd[0]}, forward+backward ${fb[0]}, ` +
        `full step ${full[0]} (optimizer and clip ${full[0] - fb[0]}); compiled step replays ` +
        `${trainer.compiledKernelCount} kernels (${comp[0]} dispatches incl. input copies). ` +
        `Eager times (graph building and scheduling included): forward ${fwd[1].toFixed(1)} ms, ` +
        `forward+backward ${fb[1].toFixed(1)} ms, step ${full[1].toFixed(1)} ms; compiled step ` +
        `${comp[1].toFixed(1)} ms`,
    );
    trainer.dispose();
    model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Benches
// ---------------------------------------------------------------------------------------------

for (const t of targets) {
  const n = t.stepsPerIter;
  const suffix = n > 1 ? ` (x${n} steps)` : "";
  for (const official of [false, true]) {
    const opt = official ? "LaProp+AGC" : "Adam+clip";
    let s: CiSetup | null = null;
    Deno.bench({
      name: `dreamer:ci WM step B16 T64 ${opt}, compiled [${t.name}]${suffix}`,
      group: `ci-${opt}`,
      baseline: t.name === "cpu-wasm",
      async fn(b) {
        s ??= await ciSetup(t, official);
        use(t);
        for (let i = 0; i < 2 && s.trainer.compiledKernelCount === 0; i++) {
          await finish(Object.values(s.trainer.compiledStep(s.batch)));
        }
        b.start();
        let last: Tensor[] = [];
        for (let i = 0; i < n; i++) {
          for (const x of last) x.dispose();
          last = Object.values(s.trainer.compiledStep(s.batch));
        }
        await finish(last);
        b.end();
      },
    });
    if (official) continue;
    let e: CiSetup | null = null;
    Deno.bench({
      name: `dreamer:ci WM step B16 T64 ${opt}, uncompiled [${t.name}]${suffix}`,
      group: `ci-${opt}-eager`,
      async fn(b) {
        e ??= await ciSetup(t, official);
        use(t);
        b.start();
        let last: Tensor[] = [];
        for (let i = 0; i < n; i++) {
          for (const x of last) x.dispose();
          last = Object.values(e.trainer.step(e.batch));
        }
        await finish(last);
        b.end();
      },
    });
  }
  let imc: Awaited<ReturnType<typeof imagSetup>> | null = null;
  let imagine: CompiledStep<Tensor[], Tensor[]> | null = null;
  Deno.bench({
    name: `dreamerv3:size12m imagination 15 steps B16, compiled [${t.name}]${suffix}`,
    group: "imagine-12m",
    async fn(b) {
      imc ??= await imagSetup(t);
      use(t);
      const m = imc;
      imagine ??= compile((d: Tensor, z: Tensor, a: Tensor) =>
        noGrad(() => {
          const traj = m.model.rollout(new State({ deter: d, stoch: z }), a);
          return [traj.rewards!, traj.continues!, traj.finalState.get("deter")];
        })
      );
      const args = [m.start.get("deter"), m.start.get("stoch"), m.actions];
      if (imagine.traceCount === 0) await finish(imagine(...args));
      b.start();
      let last: Tensor[] = [];
      for (let i = 0; i < n; i++) {
        for (const x of last) x.dispose();
        last = imagine(...args);
      }
      await finish(last);
      b.end();
    },
  });
  let im: Awaited<ReturnType<typeof imagSetup>> | null = null;
  Deno.bench({
    name: `dreamerv3:size12m imagination 15 steps B16, uncompiled [${t.name}]${suffix}`,
    group: "imagine-12m",
    async fn(b) {
      im ??= await imagSetup(t);
      use(t);
      const m = im;
      b.start();
      const outs: Tensor[] = [];
      for (let i = 0; i < n; i++) {
        const traj = noGrad(() => m.model.rollout(m.start, m.actions));
        outs.push(traj.rewards!, traj.continues!, traj.finalState.get("deter"));
      }
      await realizeAsync(...outs);
      b.end();
    },
  });
}
