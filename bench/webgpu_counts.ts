/**
 * What a compiled training step costs the WebGPU device in commands, figures that hold on any
 * adapter (issue 13): per replayed step, the compute dispatches, the command-buffer submits, the
 * host syncs inside the step (buffer reads and queue waits: the target is 0) and the host
 * uploads (`queue.writeBuffer`), for the `dreamer:ci` world-model step (B16 T64, Adam + clip),
 * the `tdmpc2:ci` update (B256 H3) and an MPPI plan of `tdmpc2:ci` (64 samples x 6
 * iterations). Wall times on this machine's software adapter (llvmpipe) are printed too, but
 * they say little about a real GPU.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno run -A bench/webgpu_counts.ts [--steps 5]
 * @module
 */

import {
  compile,
  createWorldModel,
  DreamerTrainer,
  type DreamerV3WorldModel,
  Generator,
  initWebGPU,
  MPPIPlanner,
  randn,
  TDMPC2Agent,
  type TDMPC2WorldModel,
  type Tensor,
  zeros,
} from "../mod.ts";
import { webgpuIfReady } from "../src/backend/device.ts";
import type { Backend } from "../src/backend/types.ts";
import { rand } from "../src/tensor/random.ts";
import { keep } from "../src/tensor/tensor.ts";

interface Counters {
  dispatches: number;
  submits: number;
  syncs: number;
  uploads: number;
}

/** Counts the device commands of everything `fn` does (synchronously) on `be`. */
function counting(be: Backend, fn: () => void): Counters {
  const gpu = be as Backend & { submitCount: number; sync(): Promise<void> };
  const c: Counters = { dispatches: 0, submits: 0, syncs: 0, uploads: 0 };
  const orig = { read: gpu.read, sync: gpu.sync, write: gpu.write };
  gpu.read = (...a) => (c.syncs++, orig.read.apply(gpu, a));
  gpu.sync = () => (c.syncs++, orig.sync.apply(gpu));
  gpu.write = (...a) => (c.uploads++, orig.write.apply(gpu, a));
  const d0 = gpu.dispatchCount, s0 = gpu.submitCount;
  try {
    fn();
  } finally {
    Object.assign(gpu, orig);
  }
  c.dispatches = gpu.dispatchCount - d0;
  c.submits = gpu.submitCount - s0;
  return c;
}

interface Workload {
  readonly name: string;
  /** Runs one (compiled) step; returns tensors to read afterwards (outside the count). */
  readonly step: () => Tensor[];
}

async function workloads(): Promise<Workload[]> {
  const device = "webgpu" as const;
  const dreamer = await createWorldModel("dreamer:ci", {
    obsShape: [8],
    actionDim: 2,
    actorCritic: false,
    device,
  }) as DreamerV3WorldModel;
  const trainer = new DreamerTrainer(dreamer, {
    optimizer: "adam",
    agc: 0,
    gradClip: 1000,
    lr: 1e-4,
    eps: 1e-8,
  });
  const B = 16, T = 64;
  const batch = {
    obs: keep(randn([B, T, 8], { seed: 1, device })),
    actions: keep(randn([B, T, 2], { seed: 2, device }).tanh()),
    rewards: keep(randn([B, T], { seed: 3, device })),
    terminations: keep(zeros([B, T], { device })),
  };
  const tdmpc2 = await createWorldModel("tdmpc2:ci", {
    obsShape: [39],
    actionDim: 6,
    seed: 1,
    device,
  }) as TDMPC2WorldModel;
  const agent = new TDMPC2Agent(tdmpc2, { seed: 3 });
  const update = agent.compiled();
  const g = new Generator(2);
  const tb = [
    keep(randn([256, 4, 39], { generator: g, device })),
    keep(rand([256, 4, 6], { generator: g, device }).mul(2).sub(1)),
    keep(randn([256, 4], { generator: g, device })),
    keep(zeros([256, 4], { device })),
  ] as const;
  const planner = new MPPIPlanner(tdmpc2, {
    ...tdmpc2.plannerDefaults(),
    generator: new Generator(5),
  });
  const obs = keep(randn([1, 39], { seed: 6, device }));
  const encode = compile((o: Tensor) => tdmpc2.encode(o).get("latent"));
  return [
    {
      name: "`dreamer:ci` world-model step (B16 T64, Adam + clip)",
      step: () => Object.values(trainer.compiledStep(batch)),
    },
    {
      name: "`tdmpc2:ci` update (B256 H3)",
      step: () => Object.values(update(...tb)),
    },
    {
      name: "`tdmpc2:ci` MPPI plan (64 samples x 6 iterations)",
      step: () => {
        const p = planner.plan(obs);
        return [p.tensor!];
      },
    },
    {
      name: "(for scale: a compiled `tdmpc2:ci` encode of one observation)",
      step: () => [encode(obs)],
    },
  ];
}

async function main(): Promise<void> {
  const i = Deno.args.indexOf("--steps");
  const steps = i >= 0 ? Number(Deno.args[i + 1]) : 5;
  await initWebGPU();
  const be = webgpuIfReady()!;
  const adapter = (be as unknown as { adapterSummary?: string }).adapterSummary ?? "adapter";
  const rows: string[] = [];
  for (const w of await workloads()) {
    // Trace and warm up (the first calls compile shaders).
    for (let k = 0; k < 2; k++) {
      const outs = w.step();
      for (const t of outs) await t.data();
    }
    const per: Counters[] = [];
    const ms: number[] = [];
    for (let k = 0; k < steps; k++) {
      let outs: Tensor[] = [];
      const t0 = performance.now();
      per.push(counting(be, () => (outs = w.step())));
      for (const t of outs) await t.data(); // outside the count: the caller's read
      ms.push(performance.now() - t0);
      for (const t of outs) t.dispose();
    }
    const same = (f: (c: Counters) => number) => {
      const v = per.map(f);
      return v.every((x) => x === v[0]) ? String(v[0]) : `${Math.min(...v)}-${Math.max(...v)}`;
    };
    const med = [...ms].sort((a, b) => a - b)[ms.length >> 1];
    rows.push(
      `| ${w.name} | ${same((c) => c.dispatches)} | ${same((c) => c.submits)} | ${
        same((c) => c.syncs)
      } | ${same((c) => c.uploads)} | ${med.toFixed(1)} |`,
    );
  }
  console.log(
    [
      `WebGPU (${adapter}), per replayed compiled step (${steps} steps):`,
      "",
      "| workload | dispatches | submits | host syncs in the step | uploads | ms incl. one read |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n"),
  );
  Deno.exit(0);
}

if (import.meta.main) await main();
