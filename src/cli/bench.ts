/**
 * `worldflux bench`: a short built-in performance check of this machine — matmul GFLOP/s per
 * device, and the time of one compiled training step of `dreamer:ci` and `tdmpc2:ci` (random
 * data) per device. Not a substitute for `deno task bench` (the benchmark suite, with peers).
 * @module
 */

import { tryWebGPU } from "../backend/device.ts";
import type { DeviceName } from "../backend/types.ts";
import "../backend/webgpu/backend.ts";
import { createWorldModel } from "../core/factory.ts";
import { WorldModelRegistry } from "../core/registry.ts";
import { randn } from "../tensor/random.ts";
import { tidy } from "../tensor/memory.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { parseTrainingConfig } from "../core/training_config.ts";
import { disposeBatch } from "../core/train_step.ts";
import { createTrainStep } from "../training/family.ts";
import { type Command, EXIT, oneOf, parseCommandArgs } from "./command.ts";
import { formatTable } from "./models.ts";
import { resolveRunDevice } from "./run.ts";
import { randomReplayBuffer } from "./run_data.ts";

/** One measurement. */
export interface BenchResult {
  /** What was measured. */
  readonly name: string;
  /** Device it ran on. */
  readonly device: DeviceName;
  /** The figure: GFLOP/s for matmuls, milliseconds per step for training steps. */
  readonly value: number;
  /** Unit of `value`. */
  readonly unit: "GFLOP/s" | "ms/step";
  /** Repetitions timed. */
  readonly iterations: number;
  /** Extra information (first-step time including the trace, ...). */
  readonly note: string;
}

/** What `bench --format json` prints. */
export interface BenchReport {
  readonly quick: boolean;
  readonly devices: { readonly name: DeviceName; readonly note: string }[];
  readonly auto: { readonly device: DeviceName; readonly reason: string };
  readonly results: BenchResult[];
  readonly note: string;
}

const NOT_A_SUITE =
  'a quick check of this machine, not a substitute for "deno task bench" (the benchmark suite)';

async function benchMatmul(
  n: number,
  device: DeviceName,
  minSeconds: number,
): Promise<BenchResult> {
  const chain = 4;
  const a = tidy(() => randn([n, n], { device, seed: 1 }).mul(1 / Math.sqrt(n)));
  const x = randn([n, n], { device, seed: 2 });
  const once = async () => {
    const y = tidy(() => {
      let y: Tensor = x;
      for (let i = 0; i < chain; i++) y = y.matmul(a);
      return y;
    });
    await y.data();
    y.dispose();
  };
  try {
    await once(); // kernels compiled, buffers pooled
    let iters = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < minSeconds * 1000 || iters < 2) {
      await once();
      iters++;
    }
    const sec = (performance.now() - t0) / 1000;
    return {
      name: `matmul ${n}x${n} (chain of ${chain})`,
      device,
      value: (2 * n ** 3 * chain * iters) / sec / 1e9,
      unit: "GFLOP/s",
      iterations: iters,
      note: "includes one read of the result per iteration",
    };
  } finally {
    a.dispose();
    x.dispose();
  }
}

async function benchTrainStep(
  spec: string,
  device: DeviceName,
  steps: number,
): Promise<BenchResult> {
  // The family's own sequence length (TD-MPC2: horizon + 1), as `init` scaffolds it.
  const family = WorldModelRegistry.resolve(spec).family;
  const seqLen = WorldModelRegistry.family(family).scaffold?.batch.sequenceLength ?? 16;
  const batchSize = 16;
  const model = await createWorldModel(spec, { obsShape: [8], actionDim: 2, device, seed: 0 });
  const buffer = randomReplayBuffer({
    source: "random",
    obsShape: [8],
    actionDim: 2,
    actionType: "continuous",
    episodes: 8,
    episodeLength: 64,
  }, 0);
  const cfg = parseTrainingConfig({ batchSize, sequenceLength: seqLen, seed: 0, compile: true });
  const notes: string[] = [];
  const step = createTrainStep(model, cfg, { log: (m) => notes.push(m) });
  const run = async (i: number, read: boolean) => {
    const batch = buffer.sample(batchSize, seqLen, { seed: i, device });
    let out: Record<string, Tensor>;
    try {
      out = step.step(batch);
    } finally {
      disposeBatch(batch);
    }
    if (read) await out.loss.data();
    for (const t of Object.values(out)) t.dispose();
  };
  try {
    const t0 = performance.now();
    await run(0, true); // traced and compiled here
    const first = performance.now() - t0;
    await run(1, true);
    const t1 = performance.now();
    for (let i = 0; i < steps; i++) await run(2 + i, i === steps - 1);
    const ms = (performance.now() - t1) / steps;
    return {
      name: `${spec} train step (B${batchSize} x T${seqLen}, obs 8)`,
      device,
      value: ms,
      unit: "ms/step",
      iterations: steps,
      note: `${step.compiled ? "compiled" : "eager"}; first step ${(first / 1000).toFixed(1)}s ` +
        `(trace + compile)`,
    };
  } finally {
    step.dispose();
    model.dispose();
  }
}

/** Runs the checks (see the module docs); `progress` gets a line before each. */
export async function runBench(
  opts: { quick?: boolean; devices?: "all" | DeviceName; progress?: (line: string) => void } = {},
): Promise<BenchReport> {
  const quick = opts.quick ?? false;
  const progress = opts.progress ?? (() => {});
  const auto = await resolveRunDevice("auto");
  const devices: { name: DeviceName; note: string }[] = [];
  const want = opts.devices ?? "all";
  if (want === "all" || want === "cpu") devices.push({ name: "cpu", note: "cpu kernels" });
  if (want === "all" || want === "webgpu") {
    const gpu = await tryWebGPU();
    if (gpu.backend) {
      const fallback = (gpu.backend as unknown as { isFallbackAdapter?: boolean })
        .isFallbackAdapter;
      devices.push({
        name: "webgpu",
        note: gpu.reason + (fallback ? " (software adapter: runs on the CPU)" : ""),
      });
    } else if (want === "webgpu") {
      throw new Error(`webgpu: ${gpu.reason}`);
    } else progress(`webgpu skipped: ${gpu.reason}`);
  }
  const sizes = quick ? [256, 512] : [256, 512, 1024];
  const minSec = quick ? 0.3 : 1;
  const steps = quick ? 5 : 20;
  const total = devices.length * (sizes.length + 2);
  let k = 0;
  const results: BenchResult[] = [];
  for (const d of devices) {
    for (const n of sizes) {
      progress(`[${++k}/${total}] ${d.name}: matmul ${n}`);
      results.push(await benchMatmul(n, d.name, minSec));
    }
    for (const spec of ["dreamer:ci", "tdmpc2:ci"]) {
      progress(`[${++k}/${total}] ${d.name}: ${spec} train step`);
      results.push(await benchTrainStep(spec, d.name, steps));
    }
  }
  return {
    quick,
    devices,
    auto: { device: auto.selected, reason: auto.reason },
    results,
    note: NOT_A_SUITE,
  };
}

const HELP = `Usage: worldflux bench [--quick] [--device all|cpu|webgpu] [--format table|json]

A short built-in performance check of this machine: matmul GFLOP/s per device,
and the time of one compiled training step of dreamer:ci and tdmpc2:ci (random
data, batch 16) per device, with the first step's trace-and-compile time.

It is a quick check, not a substitute for "deno task bench" (the benchmark
suite in bench/, with other libraries for comparison).

Options:
  --quick             Fewer sizes and repetitions (a few seconds per device)
  --device <d>        all (default: cpu and webgpu when an adapter exists),
                      cpu or webgpu
  --format <fmt>      table (default) or json
  -h, --help          Show this help`;

/** The `bench` command. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Quick performance check: matmul GFLOP/s and train-step times per device",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("bench", args, {
      quick: { type: "boolean", default: false },
      device: { type: "string", default: "all" },
      format: { type: "string", default: "table" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    const devices = oneOf(
      "bench",
      "--device",
      values.device as string,
      [
        "all",
        "cpu",
        "webgpu",
      ] as const,
    );
    const format = oneOf("bench", "--format", values.format as string, ["table", "json"]);
    const report = await runBench({
      quick: values.quick as boolean,
      devices,
      progress: (l) => console.error(`bench ${l}`),
    });
    if (format === "json") {
      console.log(JSON.stringify(report, null, 2));
      return EXIT.OK;
    }
    const rows = report.results.map((r) => [
      r.name,
      r.device,
      r.value.toFixed(1),
      r.unit,
      r.note,
    ]);
    console.log(formatTable(["CHECK", "DEVICE", "VALUE", "UNIT", "NOTE"], rows));
    console.log(
      `\ndevices: ${report.devices.map((d) => `${d.name} (${d.note})`).join("; ")}` +
        `\nauto picks ${report.auto.device}: ${report.auto.reason}` +
        `\nThis is ${NOT_A_SUITE}.`,
    );
    return EXIT.OK;
  },
};
