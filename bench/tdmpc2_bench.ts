/**
 * TD-MPC2 benchmarks, as the issue states them: one full agent update (world model + policy +
 * target soft update, compiled) of `tdmpc2:ci` and of `tdmpc2:5m` (obs 39, action 6, batch 256,
 * horizon 3), and one MPPI plan of `tdmpc2:5m` (512 samples x 6 iterations, 64 elites, 24
 * policy trajectories, horizon 3), on every backend that comes up: `wasm` (the WebAssembly SIMD
 * cpu backend, the default "cpu"), `cpu-ref` (the reference TypeScript cpu backend) and
 * `webgpu`. PyTorch CPU (OpenBLAS, 2 threads) on these machines: 27 ms, 552 ms and 577 ms.
 *
 * Where the time goes (cpu backends): the compiled update reports the end of each phase through
 * the agent's `onPhase` hook at the same points of every replay (world-model forward, its
 * backward and Adam step, policy forward, its backward and Adam step, running Q scale and
 * target heads), with the kernels of each phase, and the fused Adam kernels are timed inside. A
 * table with medians, minimums, PyTorch's times, the targets, kernels per call and this split is
 * printed at the end.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno bench -A --no-check bench/tdmpc2_bench.ts
 *
 * Environment: `TDMPC2_BENCH_BACKENDS=wasm,reference,webgpu` (default: all that initialise);
 * `TDMPC2_BENCH_PROFILE=0` skips the split. On webgpu a step only submits work: each timed
 * iteration reads one scalar back (Deno polls the device every ~10 ms, see
 * notes/performance-facts.md), so webgpu times include one read.
 * @module
 */

import { CHEETAH_SIZE } from "./tdmpc2_workload.ts";
import type { Backend, DeviceName } from "../src/backend/types.ts";
import {
  cpuBackend,
  setCpuBackend,
  setDefaultDevice,
  webgpuIfReady,
} from "../src/backend/device.ts";
import { JsBackend } from "../src/backend/cpu/js_backend.ts";
import { WasmBackend } from "../src/backend/wasm/backend.ts";
import "../src/backend/webgpu/backend.ts";
import { createWorldModel } from "../src/core/factory.ts";
import { registerBuiltinFamilies } from "../src/models/registry_setup.ts";
import { TDMPC2Agent } from "../src/models/tdmpc2/agent.ts";
import type { TDMPC2WorldModel } from "../src/models/tdmpc2/world_model.ts";
import { MPPIPlanner } from "../src/planners/mppi.ts";
import { full } from "../src/tensor/creation.ts";
import { Generator, rand, randn } from "../src/tensor/random.ts";
import { keep, type Tensor } from "../src/tensor/tensor.ts";

registerBuiltinFamilies();

const OBS = 39, ACT = 6, BATCH = 256, HORIZON = 3;

/**
 * Sizes: the `ci` and `5m` presets (obs 39), and `cheetah`, the size and planner of the
 * HalfCheetah-v5 evidence runs (examples/evidence_tdmpc2_halfcheetah.ts: obs 17, latent 64, MLPs
 * 128, encoder 128, 2 Q heads; MPPI 256 x 4, 64 elites, 24 policy trajectories).
 */
const SIZES: Record<string, { preset: string; obs: number; config: Record<string, number> }> = {
  ci: { preset: "ci", obs: OBS, config: {} },
  "5m": { preset: "5m", obs: OBS, config: {} },
  cheetah: {
    preset: "ci",
    obs: 17,
    config: CHEETAH_SIZE,
  },
};
const PYTORCH_MS: Record<string, number> = { "update ci": 27, "update 5m": 552, "plan 5m": 577 };
const TARGET_MS: Record<string, number> = { "update ci": 13.5, "update 5m": 552, "plan 5m": 577 };

interface Target {
  readonly name: string;
  readonly device: DeviceName;
  readonly backend: () => Backend | null;
}

const wanted = (Deno.env.get("TDMPC2_BENCH_BACKENDS") ?? "wasm,reference,webgpu").split(",");
const profile = Deno.env.get("TDMPC2_BENCH_PROFILE") !== "0";
// The default cpu backend (WebAssembly SIMD unless WORLDFLUX_CPU_BACKEND=reference), and the
// TypeScript reference backend.
const defaultCpu = cpuBackend();
let wasm: Backend | null = defaultCpu instanceof WasmBackend ? defaultCpu : null;
let wasmError = "";
if (!wasm && wanted.includes("wasm")) {
  try {
    wasm = new WasmBackend();
  } catch (e) {
    wasmError = (e as Error).message;
  }
}
const reference = defaultCpu instanceof WasmBackend ? new JsBackend() : defaultCpu;
let gpuOk = false;
let gpuError = "";
if (wanted.includes("webgpu")) {
  try {
    await setDefaultDevice("webgpu");
    await setDefaultDevice("cpu");
    gpuOk = true;
  } catch (e) {
    gpuError = (e as Error).message;
  }
}
const TARGETS: Target[] = [
  ...(wasm && wanted.includes("wasm")
    ? [{ name: "wasm", device: "cpu" as const, backend: () => wasm }]
    : []),
  ...(wanted.includes("reference")
    ? [{ name: "cpu-ref", device: "cpu" as const, backend: () => reference }]
    : []),
  ...(gpuOk ? [{ name: "webgpu", device: "webgpu" as const, backend: () => null }] : []),
];

interface Row {
  readonly workload: string;
  readonly target: string;
  readonly ms: number[];
  kernels: number;
}
const rows: Row[] = [];

/** Runs `fn` with the target's backend serving "cpu" and its device as the default. */
async function within<T>(t: Target, fn: () => Promise<T>): Promise<T> {
  const be = t.backend();
  const prev = be ? setCpuBackend(be) : null;
  if (t.device === "webgpu") await setDefaultDevice("webgpu");
  try {
    return await fn();
  } finally {
    if (t.device === "webgpu") await setDefaultDevice("cpu");
    if (prev) setCpuBackend(prev);
  }
}

/** Per-phase times and kernel counts of the compiled update (cpu backends), per replay. */
interface PhaseProfile {
  /** While true, phase marks are recorded. */
  on: boolean;
  last: { t: number; kernels: number } | null;
  readonly ms: Record<string, number[]>;
  readonly kernels: Record<string, number>;
  /** Time in the fused optimizer (Adam) kernels per update. */
  readonly optimMs: number[];
}

/** Model, batch and agent of a preset on a target (built once per target). */
interface Setup {
  readonly model: TDMPC2WorldModel;
  readonly agent: TDMPC2Agent;
  readonly batch: [Tensor, Tensor, Tensor, Tensor];
  readonly profile: PhaseProfile;
}
const setups = new Map<string, Setup>();

async function setup(size: string, t: Target): Promise<Setup> {
  const key = `${size}|${t.name}`;
  const { preset, obs: OBS, config } = SIZES[size];
  let s = setups.get(key);
  if (!s) {
    const model = await createWorldModel(`tdmpc2:${preset}`, {
      obsShape: [OBS],
      ...config,
      actionDim: ACT,
      device: t.device,
      seed: 1,
    }) as TDMPC2WorldModel;
    const g = new Generator(2);
    const T = HORIZON + 1;
    const dev = { generator: g, device: t.device };
    const batch: [Tensor, Tensor, Tensor, Tensor] = [
      keep(randn([BATCH, T, OBS], dev).realize()),
      keep(rand([BATCH, T, ACT], dev).mul(2).sub(1).realize()),
      keep(randn([BATCH, T], dev).realize()),
      keep(full([BATCH, T], 0, { device: t.device }).contiguous().realize()),
    ];
    const profile: PhaseProfile = { on: false, last: null, ms: {}, kernels: {}, optimMs: [] };
    const be = t.backend();
    const onPhase = (phase: string) => {
      if (!profile.on || !be) return;
      const now = { t: performance.now(), kernels: be.dispatchCount };
      if (phase !== "start" && profile.last) {
        (profile.ms[phase] ??= []).push(now.t - profile.last.t);
        profile.kernels[phase] = now.kernels - profile.last.kernels;
      }
      profile.last = now;
    };
    s = { model, agent: new TDMPC2Agent(model, { seed: 3, onPhase }), batch, profile };
    setups.set(key, s);
  }
  return s;
}

const preset5m = (w: string) => w.includes("5m");

function timed(
  workload: string,
  group: string,
  t: Target,
  slow: boolean,
  make: () => Promise<{ run: () => Promise<void>; kernels: () => number }>,
): void {
  const row: Row = { workload, target: t.name, ms: [], kernels: 0 };
  rows.push(row);
  let work: { run: () => Promise<void>; kernels: () => number } | null = null;
  Deno.bench({
    name: `${workload} [${t.name}]`,
    group,
    baseline: t.name === "wasm",
    n: slow ? (preset5m(workload) ? 1 : 2) : undefined,
    warmup: slow ? 1 : undefined,
    fn: async (b) => {
      await within(t, async () => {
        work ??= await make();
        b.start();
        const t0 = performance.now();
        await work.run();
        row.ms.push(performance.now() - t0);
        b.end();
        row.kernels = work.kernels();
      });
    },
  });
}

/** The compiled full update. */
function updateBench(preset: string, t: Target): void {
  const slow = t.name !== "wasm" && preset !== "ci";
  timed(`update ${preset}`, `update ${preset}`, t, slow, async () => {
    const s = await setup(preset, t);
    const step = s.agent.compiled();
    const be = t.backend();
    let optim = 0;
    if (be && profile) {
      // time the fused optimizer kernels (they run through run() on every cpu backend)
      const run = be.run.bind(be);
      be.run = (k) => {
        if (k.kind !== "optim" || !s.profile.on) return run(k);
        const t0 = performance.now();
        run(k);
        optim += performance.now() - t0;
      };
    }
    let calls = 0;
    return {
      run: async () => {
        s.profile.on = profile && calls++ > 0; // not while tracing
        optim = 0;
        const info = step(...s.batch);
        await info.total_loss.item();
        if (s.profile.on) s.profile.optimMs.push(optim);
        s.profile.on = false;
        for (const x of Object.values(info)) x.dispose();
      },
      kernels: () => step.kernelCount,
    };
  });
}

/** One MPPI plan from one observation (official settings). */
function planBench(preset: string, t: Target): void {
  const slow = t.name !== "wasm";
  timed(`plan ${preset}`, `plan ${preset}`, t, slow, async () => {
    const s = await setup(preset, t);
    const planner = new MPPIPlanner(s.model, {
      ...s.model.plannerDefaults(),
      generator: new Generator(5),
    });
    const obs = keep(randn([1, SIZES[preset].obs], { seed: 6, device: t.device }).realize());
    let kernels = 0;
    return {
      run: async () => {
        const be = t.backend() ?? webgpuIfReady();
        const before = be?.dispatchCount ?? 0;
        const p = planner.plan(s.model.encode(obs));
        await (p.tensor as Tensor).data();
        kernels = be ? be.dispatchCount - before : 0;
      },
      kernels: () => kernels,
    };
  });
}

for (const t of TARGETS) {
  updateBench("ci", t);
  updateBench("5m", t);
  planBench("5m", t);
  if (t.name === "wasm") {
    updateBench("cheetah", t);
    planBench("cheetah", t);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
}

addEventListener("unload", () => {
  const get = (w: string, t: string) => rows.find((r) => r.workload === w && r.target === t);
  const lines = [
    "",
    "TD-MPC2 (obs 39, action 6, batch 256, horizon 3), median ms per call:",
    `  ${"workload".padEnd(12)} ${"backend".padEnd(8)} ${"median".padStart(9)} ${
      "min".padStart(9)
    } ${"PyTorch".padStart(8)} ${"target".padStart(7)}  kernels`,
  ];
  for (const w of ["update ci", "update 5m", "plan 5m", "update cheetah", "plan cheetah"]) {
    for (const t of TARGETS) {
      const r = get(w, t.name);
      if (!r || !r.ms.length) continue;
      const ms = median(r.ms);
      const best = Math.min(...r.ms);
      const target = TARGET_MS[w];
      const ok = target === undefined
        ? ""
        : ms <= target
        ? "meets"
        : best <= target
        ? "min meets"
        : "misses";
      lines.push(
        `  ${w.padEnd(12)} ${t.name.padEnd(8)} ${ms.toFixed(1).padStart(9)} ${
          best.toFixed(1).padStart(9)
        } ${String(PYTORCH_MS[w] ?? "-").padStart(8)} ${String(target ?? "-").padStart(7)}  ${
          String(r.kernels).padStart(7)
        }  ${ok}`,
      );
    }
  }
  const split: string[] = [];
  for (const t of TARGETS) {
    for (const preset of ["ci", "5m", "cheetah"]) {
      const su = setups.get(`${preset}|${t.name}`);
      if (!su || !Object.keys(su.profile.ms).length) continue;
      const p = su.profile;
      const part = (k: string, label: string) =>
        `${label} ${median(p.ms[k] ?? []).toFixed(1)} ms (${p.kernels[k] ?? 0})`;
      const total = Object.values(p.ms).reduce((a, ms) => a + median(ms), 0);
      split.push(
        `  update ${preset} [${t.name}], ${total.toFixed(1)} ms: ` +
          [
            part("world_model_forward", "world-model forward"),
            part("world_model", "its backward + Adam"),
            part("policy_forward", "policy forward"),
            part("policy", "its backward + Adam"),
            part("targets", "Q scale + target heads"),
          ].join(", ") + `; Adam kernels ${median(p.optimMs).toFixed(1)} ms`,
      );
    }
  }
  if (split.length) {
    lines.push("", "where the time goes (medians of the same replays; kernels):", ...split);
  }
  if (wasmError) lines.push(`  (wasm backend unavailable: ${wasmError})`);
  if (gpuError) lines.push(`  (webgpu unavailable: ${gpuError})`);
  console.log(lines.join("\n"));
  if (wasm instanceof WasmBackend && wasm !== defaultCpu) wasm.threads.close();
});
