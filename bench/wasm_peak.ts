/**
 * What the cpu device can reach at best on this machine: the arithmetic ceiling of wasm SIMD128
 * in Deno, beside the native ceiling PyTorch's MKL (AVX-512) reaches, and our gemm against both.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno run -A --no-check bench/wasm_peak.ts \
 *     [--seconds 0.5] [--reps 5] [--gemm | --gemm-gflops X] [--accumulators 4,6,8,10,12]
 *
 * The wasm ceiling: a function generated with our emitter (as the gemm kernels are) runs a long
 * loop of independent multiply-add chains on registers only, no memory access: `accumulators`
 * v128 accumulators, each updated `acc = acc * a + b` with `f32x4.relaxed_madd` (one fused
 * multiply-add on CPUs with FMA) or with `f32x4.mul` then `f32x4.add`. Enough independent chains
 * hide the latency, so the loop runs at the throughput of the FP pipes: with L cycles of latency
 * and P pipes, L x P chains are needed (Zen 4/5: 4 x 2 = 8); more than ~14 spill (x64 has 16
 * vector registers). Each count of accumulators is timed on 1 thread and on 2 threads at once
 * (two Workers, as our pool's threads), best of `--reps` runs of `--seconds` each; the best count
 * is the ceiling.
 *
 * The clock: a chain of dependent `i32.add`s (one cycle each on any x86 core) gives the cycles per
 * second the core actually runs at, hence flops per cycle (SIMD128 FMAs: 4 lanes x 2 flops x the
 * FMA pipes; 16 with two pipes, where AVX-512 gives 64).
 *
 * The native ceiling (when WORLDFLUX_TORCH_PYTHON names a Python with torch, e.g.
 * /work/venv/bin/python): `torch.mm` of 4096 x 4096 on 1 and 2 threads, best of `--reps`: MKL's
 * sgemm with AVX-512, close to what the hardware allows.
 *
 * Our gemm: `--gemm` times the chain of ten 512 x 512 products `bench/torch_compare.ts` calls
 * matmul512 (the same peer code, `bench/peers/worldflux.ts`) in this process after the ceiling
 * runs; or `--gemm-gflops X` takes that row's figure from a torch_compare run. Printed: its share
 * of the 2-thread wasm ceiling.
 * @module
 */

import { F32, type FnBuilder, I32, ModuleBuilder, V128 } from "../src/backend/wasm/emit.ts";

/** How the multiply-add of the ceiling loop is written. */
export type PeakKind = "fma" | "mul+add";

/**
 * A module exporting `peak(iters: i32, a: f32, b: f32) -> f32`: `accumulators` v128 chains
 * (chain j starts at j in every lane), each updated `acc = acc * a + b` `iters x unroll` times;
 * returns lane 0 of the sum of the chains (the result keeps the loop alive).
 */
export function peakModule(kind: PeakKind, accumulators: number, unroll: number): Uint8Array {
  if (!(accumulators >= 1 && unroll >= 1)) {
    throw new RangeError(
      `peakModule: accumulators and unroll must be >= 1 (got ${accumulators}, ${unroll})`,
    );
  }
  const m = new ModuleBuilder();
  m.func("peak", [I32, F32, F32], [F32], (f: FnBuilder) => {
    const [iters, a, b] = [0, 1, 2];
    const i = f.local(I32), va = f.local(V128), vb = f.local(V128);
    const acc = Array.from({ length: accumulators }, () => f.local(V128));
    f.get(a).op("f32x4.splat").set(va);
    f.get(b).op("f32x4.splat").set(vb);
    acc.forEach((l, j) => f.f32(j).op("f32x4.splat").set(l));
    f.for(i, 0, () => f.get(iters), 1, () => {
      for (let u = 0; u < unroll; u++) {
        for (const l of acc) {
          if (kind === "fma") f.get(l).get(va).get(vb).op("f32x4.relaxed_madd").set(l);
          else f.get(l).get(va).op("f32x4.mul").get(vb).op("f32x4.add").set(l);
        }
      }
    });
    f.get(acc[0]);
    for (const l of acc.slice(1)) f.get(l).op("f32x4.add");
    f.op("f32x4.extract_lane", 0);
  });
  return m.bytes();
}

/** Instantiates {@link peakModule}: `(iters, a, b) => lane 0 of the summed chains`. */
export function peakFunction(
  kind: PeakKind,
  accumulators: number,
  unroll: number,
): (iters: number, a: number, b: number) => number {
  const bytes = peakModule(kind, accumulators, unroll);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource));
  return inst.exports.peak as (iters: number, a: number, b: number) => number;
}

/**
 * Operands of the fusion probe: one chain from 0, two updates `acc * a + b` give `b * a + b`,
 * where `b * a = -(1 - 2^-46)` rounds to -1 in f32: a fused multiply-add returns
 * `2^-23 + 2^-46`, a multiply then an add `2^-23`.
 */
export const FUSION_PROBE = { a: -(1 - 2 ** -23), b: 1 + 2 ** -23 } as const;

/**
 * Whether `f32x4.relaxed_madd` runs as one fused multiply-add here (V8 emits an FMA instruction
 * when the CPU has one; otherwise a multiply and an add, and the "fma" rows measure those).
 */
export function maddFused(): boolean {
  const r = peakFunction("fma", 1, 1)(2, FUSION_PROBE.a, FUSION_PROBE.b);
  return r === 2 ** -23 + 2 ** -46;
}

/** Flops of one `peak(iters)` call: 4 lanes x 2 (multiply and add) per chain update. */
export function peakFlops(iters: number, accumulators: number, unroll: number): number {
  return iters * unroll * accumulators * 8;
}

/**
 * A module exporting `clock(iters: i32, y: i32) -> i32`: `iters x CLOCK_CHAIN` dependent
 * `x = x + y` (y a parameter, so nothing folds); one cycle each.
 */
export function clockModule(): Uint8Array {
  const m = new ModuleBuilder();
  m.func("clock", [I32, I32], [I32], (f: FnBuilder) => {
    const [iters, y] = [0, 1];
    const i = f.local(I32), x = f.local(I32);
    f.for(i, 0, () => f.get(iters), 1, () => {
      for (let u = 0; u < CLOCK_CHAIN; u++) f.get(x).get(y).op("i32.add").set(x);
    });
    f.get(x);
  });
  return m.bytes();
}

/** Dependent additions per iteration of the clock loop. */
export const CLOCK_CHAIN = 64;

/** Updates per chain per loop iteration of the timed ceiling functions. */
const UNROLL = 8;
const WORKER_NAME = "wasm-peak";

// ------------------------------------------------------------------------------------------------
// Worker: times the ceiling loop (or the clock) on request.
// ------------------------------------------------------------------------------------------------

interface Job {
  readonly kind: PeakKind | "clock";
  readonly accumulators: number;
  readonly seconds: number;
}

interface JobResult {
  readonly flops: number; // cycles for the clock
  readonly start: number; // epoch ms
  readonly end: number;
}

/** Runs `fn(iters)` long enough to tier up, then picks iters for `seconds` per call. */
function calibrate(fn: (iters: number) => void, seconds: number): number {
  let iters = 1000;
  const until = performance.now() + 300; // V8 compiles hot wasm with TurboFan in the background
  while (performance.now() < until) fn(iters);
  for (;;) {
    const t = performance.now();
    fn(iters);
    const ms = performance.now() - t;
    if (ms > 50) return Math.max(1, Math.round(iters * seconds * 1e3 / ms));
    iters *= 4;
  }
}

/** The worker's global scope (this file is type-checked as a main module). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(message: JobResult): void;
}

function workerMain(scope: WorkerScope): void {
  const cache = new Map<string, { run: (iters: number) => void; iters: number; per: number }>();
  scope.onmessage = (e: MessageEvent<Job>) => {
    const { kind, accumulators, seconds } = e.data;
    const key = `${kind} ${accumulators} ${seconds}`;
    let c = cache.get(key);
    if (!c) {
      if (kind === "clock") {
        const inst = new WebAssembly.Instance(
          new WebAssembly.Module(clockModule() as BufferSource),
        );
        const clock = inst.exports.clock as (iters: number, y: number) => number;
        const run = (iters: number) => void clock(iters, 3);
        c = { run, iters: calibrate(run, seconds), per: CLOCK_CHAIN };
      } else {
        const peak = peakFunction(kind, accumulators, UNROLL);
        // acc -> acc * (1 - 2^-20) + 2^-20: every chain stays near 1 (no overflow, no denormals)
        const run = (iters: number) => void peak(iters, 1 - 2 ** -20, 2 ** -20);
        c = { run, iters: calibrate(run, seconds), per: peakFlops(1, accumulators, UNROLL) };
      }
      cache.set(key, c);
    }
    const start = performance.timeOrigin + performance.now();
    c.run(c.iters);
    const end = performance.timeOrigin + performance.now();
    scope.postMessage({ flops: c.iters * c.per, start, end });
  };
}

// ------------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------------

/** Best rate over `reps` runs of `job` on `workers` at once: per thread and in total (per s). */
async function timeJob(
  workers: Worker[],
  job: Job,
  reps: number,
): Promise<{ perThread: number; total: number }> {
  const ask = (w: Worker) =>
    new Promise<JobResult>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<JobResult>) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage(job);
    });
  // first call per worker: compile, tier up, calibrate (not timed)
  await Promise.all(workers.map(ask));
  let perThread = 0, total = 0;
  for (let r = 0; r < reps; r++) {
    const res = await Promise.all(workers.map(ask));
    const each = res.map((x) => x.flops / ((x.end - x.start) / 1e3));
    const span = Math.max(...res.map((x) => x.end)) - Math.min(...res.map((x) => x.start));
    perThread = Math.max(perThread, Math.min(...each));
    total = Math.max(total, res.reduce((a, x) => a + x.flops, 0) / (span / 1e3));
  }
  return { perThread, total };
}

/** `torch.mm` 4096 x 4096 GFLOP/s on 1 and 2 threads (best of `reps`), or null without torch. */
async function torchPeak(reps: number): Promise<Record<string, number> | null> {
  const py = Deno.env.get("WORLDFLUX_TORCH_PYTHON");
  if (!py) return null;
  const script = `
import json, time, torch
n = 4096
a, b = torch.randn(n, n), torch.randn(n, n)
out = {"torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability()}
for t in (1, 2):
    torch.set_num_threads(t)
    torch.mm(a, b)
    best = 0.0
    for _ in range(${reps}):
        s = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - s) / 1e9)
    out[str(t)] = best
print(json.dumps(out))
`;
  const r = await new Deno.Command(py, { args: ["-c", script], stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${py} failed (torch.mm peak)`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

/** Our gemm: best GFLOP/s of torch_compare's matmul512 chain, in this process. */
async function gemmGflops(reps: number): Promise<number> {
  const { setup } = await import("./peers/worldflux.ts");
  const { matmulFlops } = await import("./peers/util.ts");
  const lib = await setup("cpu");
  const run = await lib.matmul(512, "nn", 10);
  let best = 0;
  for (let r = 0; r < Math.max(reps, 5); r++) {
    const t = performance.now();
    await run();
    best = Math.max(best, matmulFlops(512, 10) / ((performance.now() - t) * 1e6));
  }
  await lib.dispose();
  return best;
}

async function main(argv: string[]): Promise<void> {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seconds = Number(get("--seconds") ?? 0.5);
  const reps = Number(get("--reps") ?? 5);
  const counts = (get("--accumulators") ?? "4,6,8,10,12").split(",").map(Number);
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const family = Deno.readTextFileSync("/proc/cpuinfo").match(/cpu family\s*:\s*(\d+)/)?.[1];
  const workers = [0, 1].map(() =>
    new Worker(import.meta.url, { type: "module", name: WORKER_NAME })
  );
  console.error(`clock and ceiling loops, ${seconds} s x ${reps} runs each...`);
  const clock = await timeJob(
    workers.slice(0, 1),
    { kind: "clock", accumulators: 0, seconds },
    reps,
  );
  const ghz = clock.perThread / 1e9;
  const rows: { kind: PeakKind; n: number; one: number; two: number; twoEach: number }[] = [];
  for (const kind of ["fma", "mul+add"] as const) {
    for (const n of counts) {
      const job = { kind, accumulators: n, seconds };
      const one = await timeJob(workers.slice(0, 1), job, reps);
      const two = await timeJob(workers, job, reps);
      rows.push({
        kind,
        n,
        one: one.perThread / 1e9,
        two: two.total / 1e9,
        twoEach: two.perThread / 1e9,
      });
      console.error(
        `  ${kind} x${n}: ${(one.perThread / 1e9).toFixed(1)} / ${
          (two.total / 1e9).toFixed(1)
        } GFLOP/s`,
      );
    }
  }
  for (const w of workers) w.terminate();
  const gemm = get("--gemm-gflops")
    ? Number(get("--gemm-gflops"))
    : argv.includes("--gemm")
    ? await gemmGflops(reps)
    : null;
  const native = await torchPeak(reps);

  const f1 = (x: number) => x.toFixed(1);
  const lines = [
    `CPU: ${cpu} (family ${family}), ${navigator.hardwareConcurrency} threads; Deno ` +
    `${Deno.version.deno}, V8 ${Deno.version.v8}. Clock (dependent i32.add chain, 1 thread): ` +
    `${ghz.toFixed(2)} GHz. Best of ${reps} runs of ${seconds} s. f32x4.relaxed_madd fused ` +
    `(one FMA instruction): ${maddFused() ? "yes" : "no"}.`,
    "",
    "| multiply-add | accumulators | 1 thread GFLOP/s | flops/cycle | 2 threads GFLOP/s total (slowest thread) |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.kind} | ${r.n} | ${f1(r.one)} | ${(r.one / ghz).toFixed(1)} | ${f1(r.two)} (${
        f1(r.twoEach)
      }) |`
    ),
  ];
  const best = (k: PeakKind) =>
    rows.filter((r) => r.kind === k).reduce((a, r) => (r.two > a.two ? r : a));
  const fma = best("fma"), ma = best("mul+add");
  const ceil1 = Math.max(...rows.map((r) => r.one)), ceil2 = Math.max(fma.two, ma.two);
  lines.push(
    "",
    `wasm SIMD128 ceiling: ${f1(ceil1)} GFLOP/s on 1 thread, ${f1(ceil2)} on 2 ` +
      `(fma best with ${fma.n} accumulators: ${f1(fma.two)}; mul+add with ${ma.n}: ${f1(ma.two)}).`,
  );
  if (native) {
    lines.push(
      `native: torch ${native.torch} torch.mm 4096 (MKL, ${native.capability}): ${
        f1(native["1"])
      } GFLOP/s on 1 thread, ${f1(native["2"])} on 2; ${
        (native["2"] / ceil2).toFixed(2)
      }x the wasm ceiling.`,
    );
  }
  if (gemm !== null) {
    lines.push(
      `our gemm, matmul512 chain (2 threads): ${f1(gemm)} GFLOP/s = ${
        (100 * gemm / ceil2).toFixed(0)
      }% of the wasm ceiling${
        native ? `, ${(100 * gemm / native["2"]).toFixed(0)}% of MKL's` : ""
      }.`,
    );
  }
  console.log(lines.join("\n"));
}

if ((globalThis as { name?: string }).name === WORKER_NAME) {
  workerMain(globalThis as unknown as WorkerScope);
} else if (import.meta.main) await main(Deno.args);
