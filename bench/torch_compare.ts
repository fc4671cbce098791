/**
 * Ours against PyTorch CPU at the sizes people train (issue 13): the same workloads run by our
 * `cpu` device (wasm SIMD) and by PyTorch (bench/torch_compare.py, eager; optionally
 * `torch.compile`), each in its own process, timed in alternating blocks in the same period, with
 * the peak RSS of every process. Prints the ratio table (PyTorch time / ours: above 1 we are
 * faster), the torch version and the BLAS it loaded, and how busy the rest of the machine was.
 *
 *   WORLDFLUX_TORCH_PYTHON=/work/venv/bin/python XDG_RUNTIME_DIR=/tmp/xdg \
 *     deno run -A bench/torch_compare.ts [--only a,b] [--rounds 5] [--compile] [--md out.md]
 *
 * Workloads: matmul512 (a chain of 10 products x <- x W; ours, jax-js wasm in our process, MKL
 * sgemm), dreamer-ci, tdmpc2-ci, tdmpc2-5m, tdmpc2-5m-plan, tdmpc2-cheetah, tdmpc2-cheetah-plan
 * (the HalfCheetah evidence runs' size and planner), dreamer-12m-vec, dreamer-12m-img,
 * dreamer-12m-imag. Without WORLDFLUX_TORCH_PYTHON only our side runs. `--compile` adds
 * `torch.compile` (inductor) columns where compiling works on this machine. Threads: ours use
 * every core (WORLDFLUX_CPU_THREADS), PyTorch WORLDFLUX_TORCH_THREADS (default 2).
 *
 * `--flops` adds a second table: floating-point operations per call (matmuls and convolutions,
 * 2 per multiply-add; PyTorch's counted by its FlopCounterMode, ours summed over the kernels of one
 * compiled replay, see `kernelFlops` in kernel_groups.ts), each side's achieved GFLOP/s, and the
 * GFLOP/s our side would need for the issue's target ratio (`TARGETS`). With `--rounds 0` nothing
 * is timed: the counts alone, which need no quiet machine.
 *
 * `--base DIR` adds our side from another checkout (e.g. an older commit with this file copied
 * into its bench/) as a "before" column: before and after in the same run.
 *
 * Each side runs `--iters` calls per block (default: about 2 s of work), `--rounds` blocks
 * each, alternating which side goes first; a block is reported with the share of the machine
 * other processes used meanwhile ("others' CPU"), medians and minimums over all calls.
 * @module
 */

import { CHEETAH_SIZE } from "./tdmpc2_workload.ts";
import { cpuThreads } from "../src/backend/device.ts";
import { profileReplays } from "./kernel_groups.ts";
import { matmulFlops } from "./peers/util.ts";

/** Splits a text stream into lines (JSR, home of @std/streams, is not reachable here). */
function lineStream(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, ctl) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) ctl.enqueue(p);
    },
    flush(ctl) {
      if (rest) ctl.enqueue(rest);
    },
  });
}

const WORKLOADS = [
  "matmul512",
  "dreamer-ci",
  "tdmpc2-ci",
  "tdmpc2-5m",
  "tdmpc2-5m-plan",
  "tdmpc2-cheetah",
  "tdmpc2-cheetah-plan",
  "dreamer-12m-vec",
  "dreamer-12m-img",
  "dreamer-12m-imag",
] as const;
type Workload = typeof WORKLOADS[number];

const LABELS: Record<Workload, string> = {
  "matmul512": "matmul 512, chain of 10 (GFLOP/s)",
  "dreamer-ci": "`dreamer:ci` world-model step, vector obs 8, B16 T64, Adam + clip",
  "tdmpc2-ci": "`tdmpc2:ci` update, obs 39, act 6, B256 H3",
  "tdmpc2-5m": "`tdmpc2:5m` update",
  "tdmpc2-5m-plan": "`tdmpc2:5m` MPPI plan, 512 x 6",
  "tdmpc2-cheetah": "HalfCheetah run size update (obs 17, latent 64, MLPs 128, 2 Q heads)",
  "tdmpc2-cheetah-plan": "HalfCheetah run size MPPI plan, 256 x 4",
  "dreamer-12m-vec": "`dreamerv3:size12m` world-model step, vector obs 8, B16 T64",
  "dreamer-12m-img": "`dreamerv3:size12m` world-model step, 64x64x3 images, B16 T64",
  "dreamer-12m-imag": "`dreamerv3:size12m` imagination, 15 steps, B16",
};

/**
 * The ratio PyTorch time / ours each workload must reach (issue 13: every row 1.5x, the ci rows
 * 3x; issue 12: the `tdmpc2:5m` plan 1.3x). matmul512's bar is absolute: `MATMUL_TARGET_GFLOPS`.
 */
const TARGETS: Record<Workload, number> = {
  "matmul512": NaN,
  "dreamer-ci": 3,
  "tdmpc2-ci": 3,
  "tdmpc2-5m": 1.5,
  "tdmpc2-5m-plan": 1.3,
  "tdmpc2-cheetah": 1.5,
  "tdmpc2-cheetah-plan": 1.5,
  "dreamer-12m-vec": 1.5,
  "dreamer-12m-img": 1.5,
  "dreamer-12m-imag": 1.5,
};
/** Issue 13's matmul bar: 100 GFLOP/s at 512 on 2 threads. */
const MATMUL_TARGET_GFLOPS = 100;

// ------------------------------------------------------------------------------------------------
// Worker side (ours): `--worker <workload>`; line protocol shared with torch_compare.py.
// ------------------------------------------------------------------------------------------------

interface Side {
  readonly run: () => Promise<void>;
}

async function ourSides(w: Workload): Promise<{ sides: Record<string, Side>; params: number }> {
  const wf = await import("../mod.ts");
  const { Generator, rand, randn } = await import("../src/tensor/random.ts");
  const { keep } = await import("../src/tensor/tensor.ts");
  type Tensor = import("../mod.ts").Tensor;
  const count = (ps: Tensor[]) => ps.reduce((a, p) => a + p.size, 0);
  const finish = async (ts: Tensor[]) => {
    await (await import("../tensor.ts")).realizeAsync(...ts);
    for (const t of ts) t.dispose();
  };
  if (w === "matmul512") {
    const ours = await (await import("./peers/worldflux.ts")).setup("cpu");
    const sides: Record<string, Side> = { ours: { run: await ours.matmul(512, "nn", 10) } };
    try {
      const jax = await (await import("./peers/jaxjs.ts")).setup("wasm");
      sides["jax-js-wasm"] = { run: await jax.matmul(512, "nn", 10) };
    } catch (e) {
      console.error(`jax-js wasm unavailable: ${(e as Error).message}`);
    }
    return { sides, params: 0 };
  }
  if (w.startsWith("dreamer-") && w !== "dreamer-12m-imag") {
    const image = w === "dreamer-12m-img";
    const model = await wf.createWorldModel(
      w === "dreamer-ci" ? "dreamer:ci" : "dreamerv3:size12m",
      { obsShape: image ? [3, 64, 64] : [8], actionDim: image ? 6 : 2, actorCritic: false },
    ) as import("../mod.ts").DreamerV3WorldModel;
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
    const run = () => finish(Object.values(trainer.compiledStep(batch)));
    return { sides: { ours: { run } }, params: count(model.worldModelParameters()) };
  }
  if (w === "dreamer-12m-imag") {
    const model = await wf.createWorldModel(
      "dreamerv3:size12m",
      {},
    ) as import("../mod.ts").DreamerV3WorldModel;
    const { deter, stoch, classes, actionDim } = model.config;
    const d0 = keep(randn([16, deter], { seed: 4 }).tanh().realize());
    const z0 = keep(wf.zeros([16, stoch * classes]).contiguous().realize());
    const acts = keep(randn([15, 16, actionDim], { seed: 5 }).tanh().realize());
    const imagine = wf.compile((d: Tensor, z: Tensor, a: Tensor) =>
      wf.noGrad(() => {
        const traj = model.rollout(new wf.State({ deter: d, stoch: z }), a);
        return [traj.rewards!, traj.continues!, traj.finalState.get("deter")];
      })
    );
    const run = () => finish(imagine(d0, z0, acts));
    return { sides: { ours: { run } }, params: count(model.parameters()) };
  }
  // TD-MPC2 (the cheetah size: examples/evidence_tdmpc2_halfcheetah.ts's model and planner)
  const cheetah = w.startsWith("tdmpc2-cheetah");
  const D = cheetah ? 17 : 39;
  const model = await wf.createWorldModel(
    cheetah ? "tdmpc2:ci" : w === "tdmpc2-ci" ? "tdmpc2:ci" : "tdmpc2:5m",
    {
      obsShape: [D],
      actionDim: 6,
      seed: 1,
      ...(cheetah ? CHEETAH_SIZE : {}),
    },
  ) as import("../mod.ts").TDMPC2WorldModel;
  const params = count(model.parameters());
  if (w === "tdmpc2-5m-plan" || w === "tdmpc2-cheetah-plan") {
    const planner = new wf.MPPIPlanner(model, {
      ...model.plannerDefaults(),
      generator: new Generator(5),
    });
    const obs = keep(randn([1, D], { seed: 6 }).realize());
    const run = async () => {
      const p = planner.plan(model.encode(obs));
      await (p.tensor as Tensor).data();
    };
    return { sides: { ours: { run } }, params };
  }
  const agent = new wf.TDMPC2Agent(model, { seed: 3 });
  const g = new Generator(2);
  const B = 256, T = 4;
  const batch: [Tensor, Tensor, Tensor, Tensor] = [
    keep(randn([B, T, D], { generator: g }).realize()),
    keep(rand([B, T, 6], { generator: g }).mul(2).sub(1).realize()),
    keep(randn([B, T], { generator: g }).realize()),
    keep(wf.zeros([B, T]).contiguous().realize()),
  ];
  const step = agent.compiled();
  const run = async () => {
    const info = step(...batch);
    await info.total_loss.item();
    for (const x of Object.values(info)) x.dispose();
  };
  return { sides: { ours: { run } }, params };
}

function peakRssMb(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function worker(w: Workload): Promise<void> {
  const t0 = performance.now();
  const { sides, params } = await ourSides(w);
  // Warm-up: the fixed count, then more calls until 1.5 s have passed (at most 200), so a
  // millisecond-long step is timed after V8 has optimised the replay loop, not in its first
  // calls. torch_compare.py warms up by the same rule.
  const warm = w.startsWith("dreamer-12m") ? 2 : 3;
  for (const s of Object.values(sides)) {
    const w0 = performance.now();
    for (let i = 0; i < 200 && (i < warm || performance.now() - w0 < 1500); i++) await s.run();
  }
  const say = (x: unknown) => console.log(JSON.stringify(x));
  say({ ready: true, params, sides: Object.keys(sides), setup_s: (performance.now() - t0) / 1e3 });
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    lineStream(),
  );
  for await (const line of lines) {
    const [cmd, a, b] = line.trim().split(/\s+/);
    if (cmd === "run") {
      // "run K" (the first side) or "run K side"
      const side = sides[b ?? Object.keys(sides)[0]];
      const ms: number[] = [];
      for (let i = 0; i < Number(a); i++) {
        const t = performance.now();
        await side.run();
        ms.push(performance.now() - t);
      }
      say({ ms });
    } else if (cmd === "flops") {
      // One call's matmul and convolution flops, summed over the kernels its compiled replay
      // runs (matmul512 is not a compiled call: its chain is counted from the shapes).
      if (w === "matmul512") say({ flops: matmulFlops(512, 10) });
      else {
        const side = sides[Object.keys(sides)[0]];
        const { rows } = await profileReplays(side.run, 1, () => performance.now());
        const flops = rows.reduce((s, [, g]) => s + g.flop, 0);
        say({ flops: flops || null, kernels: rows.reduce((s, [, g]) => s + g.n, 0) });
      }
    } else if (cmd === "rss") say({ peak_rss_mb: peakRssMb() });
    else if (cmd === "quit") break;
  }
  Deno.exit(0);
}

// ------------------------------------------------------------------------------------------------
// Orchestrator
// ------------------------------------------------------------------------------------------------

/** A worker process speaking the line protocol. */
class Proc {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(readonly name: string, cmd: string, args: string[]) {
    this.#child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(lineStream()).getReader();
    this.#stdin = this.#child.stdin.getWriter();
  }

  get pid(): number {
    return this.#child.pid;
  }

  async read(): Promise<Record<string, unknown>> {
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error(`${this.name}: worker exited`);
      const s = value.trim();
      if (s.startsWith("{")) return JSON.parse(s);
      console.error(`[${this.name}] ${s}`);
    }
  }

  async ask(cmd: string): Promise<Record<string, unknown>> {
    await this.#stdin.write(new TextEncoder().encode(cmd + "\n"));
    return await this.read();
  }

  async close(): Promise<void> {
    try {
      await this.#stdin.write(new TextEncoder().encode("quit\n"));
      await this.#stdin.close();
    } catch { /* already gone */ }
    await this.#child.status;
  }
}

/** CPU seconds of a process (all threads) from /proc. */
function procCpu(pid: number): number {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function machineBusy(): number {
  const c = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  return (c[0] + c[1] + c[2] + c[5] + c[6] + c[7]) / 100;
}

/** Share of the machine other processes used while `fn` ran (0..1). */
async function othersLoad<T>(pids: number[], fn: () => Promise<T>): Promise<[T, number]> {
  const cores = navigator.hardwareConcurrency || 1;
  const w0 = performance.now(), m0 = machineBusy();
  const p0 = pids.reduce((a, p) => a + procCpu(p), 0);
  const r = await fn();
  const wall = (performance.now() - w0) / 1e3;
  const other = (machineBusy() - m0) - (pids.reduce((a, p) => a + procCpu(p), 0) - p0);
  return [r, Math.max(0, Math.min(1, other / (wall * cores)))];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2) : NaN;
}

interface Column {
  readonly name: string; // ours | jax-js-wasm | torch | torch.compile
  readonly ms: number[];
  rss: number;
  params: number;
  /** Flops of one call (`--flops`; null: not counted). */
  flops?: number | null;
  error?: string;
}

interface Result {
  readonly workload: Workload;
  readonly columns: Column[];
  readonly load: number[];
}

interface Args {
  base: string | null;
  only: Workload[];
  rounds: number;
  iters: number | null;
  compile: boolean;
  flops: boolean;
  md: string | null;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = get("--only")?.split(",") ?? [...WORKLOADS];
  for (const w of only) {
    if (!(WORKLOADS as readonly string[]).includes(w)) {
      throw new Error(`unknown workload "${w}"; expected one of ${WORKLOADS.join(", ")}`);
    }
  }
  return {
    base: get("--base") ?? null,
    only: only as Workload[],
    rounds: Number(get("--rounds") ?? 5),
    iters: get("--iters") ? Number(get("--iters")) : null,
    compile: argv.includes("--compile"),
    flops: argv.includes("--flops"),
    md: get("--md") ?? null,
  };
}

async function compare(w: Workload, args: Args, py: string | null, info: Record<string, unknown>) {
  const here = new URL(".", import.meta.url).pathname;
  const procs: { proc: Proc; cols: Column[]; sides: string[] }[] = [];
  const start = async (name: string, cmd: string, argv: string[]) => {
    const proc = new Proc(name, cmd, argv);
    const ready = await proc.read();
    // Worker sides (ours, jax-js-wasm) by their own names; the base checkout runs ours only.
    const own = ((ready.sides as string[] | undefined) ?? []).filter((s) =>
      name !== "base" || s === "ours"
    );
    const cols = (own.length ? own : [name]).map((s) => ({
      name: name === "base" ? `base ${s}` : s,
      ms: [] as number[],
      rss: NaN,
      params: Number(ready.params ?? 0),
    }));
    if (ready.torch) Object.assign(info, ready);
    procs.push({ proc, cols, sides: own });
    console.error(`  ${name}: ready in ${Number(ready.setup_s).toFixed(1)} s`);
  };
  // One process at a time while setting up (tracing and compiling disturb each other).
  await start("ours", Deno.execPath(), [
    "run",
    "-A",
    "--no-check",
    `${here}torch_compare.ts`,
    "--worker",
    w,
  ]);
  if (args.base) {
    await start("base", Deno.execPath(), [
      "run",
      "-A",
      "--no-check",
      `${args.base}/bench/torch_compare.ts`,
      "--worker",
      w,
    ]);
  }
  const failed: Column[] = [];
  if (py) {
    for (const c of args.compile ? [false, true] : [false]) {
      const name = c ? "torch.compile" : "torch";
      try {
        await start(name, py, [`${here}torch_compare.py`, w, ...(c ? ["--compile"] : [])]);
      } catch (e) {
        failed.push({ name, ms: [], rss: NaN, params: 0, error: (e as Error).message });
      }
    }
  }
  const pids = procs.map((p) => p.proc.pid);
  // Calls per block: about 2 s of the slowest side (at least 2).
  let iters = args.iters;
  if (iters === null && args.rounds > 0) {
    let slow = 0;
    for (const p of procs) {
      for (const [i] of p.cols.entries()) {
        const r = await p.proc.ask(p.sides.length ? `run 1 ${p.sides[i]}` : "run 1");
        slow = Math.max(slow, (r.ms as number[])[0]);
      }
    }
    iters = Math.max(2, Math.min(20, Math.round(2000 / slow)));
  }
  const load: number[] = [];
  const order = procs.flatMap((p) => p.cols.map((c, i) => ({ p, c, i })));
  for (let r = 0; r < args.rounds; r++) {
    const seq = r % 2 ? [...order].reverse() : order;
    for (const { p, c, i } of seq) {
      const cmd = p.sides.length ? `run ${iters} ${p.sides[i]}` : `run ${iters}`;
      const [res, l] = await othersLoad(pids, () => p.proc.ask(cmd));
      c.ms.push(...(res.ms as number[]));
      load.push(l);
      await sleep(300); // let OpenMP threads stop spinning before the other side runs
    }
  }
  for (const p of procs) {
    if (args.flops) {
      // ours (first side) and eager PyTorch; the others run the same work as one of these
      const c = p.cols[0];
      if (c.name === "ours" || c.name === "torch") {
        const f = (await p.proc.ask("flops")).flops;
        c.flops = typeof f === "number" ? f : null;
      }
    }
    const rss = Number((await p.proc.ask("rss")).peak_rss_mb);
    for (const c of p.cols) c.rss = rss;
    await p.proc.close();
  }
  return { workload: w, columns: [...procs.flatMap((p) => p.cols), ...failed], load };
}

function fmt(x: number, digits = 1): string {
  if (!isFinite(x)) return "-";
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(digits);
}

function table(results: Result[], info: Record<string, unknown>, args: Args): string {
  const hasCompile = args.compile, hasBase = !!args.base;
  const head = [
    "workload",
    ...(hasBase ? ["before: ours ms (min)", "ratio before"] : []),
    "ours ms (min)",
    "PyTorch ms (min)",
    "ratio (min ratio)",
    ...(hasCompile ? ["torch.compile ms (min)", "ratio"] : []),
    "peak RSS ours / PyTorch MB",
    "others' CPU",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  for (const r of results) {
    const col = (n: string) => r.columns.find((c) => c.name === n);
    const ours = col("ours")!, th = col("torch"), tc = col("torch.compile");
    const base = col("base ours");
    const isMatmul = r.workload === "matmul512";
    const gf = (ms: number) => (2 * 512 ** 3 * 10) / (ms * 1e6);
    const cell = (c: Column | undefined) => {
      if (!c || !c.ms.length) return c?.error ? "fails" : "-";
      const m = median(c.ms), lo = Math.min(...c.ms);
      return isMatmul ? `${fmt(gf(m))} (${fmt(gf(lo))})` : `${fmt(m)} (${fmt(lo)})`;
    };
    // time of `c` over time of `o`: how much faster `o` is
    const ratio = (c: Column | undefined, o: Column | undefined) => {
      if (!c || !c.ms.length || !o || !o.ms.length) return "-";
      return `${(median(c.ms) / median(o.ms)).toFixed(2)} (${
        (Math.min(...c.ms) / Math.min(...o.ms)).toFixed(2)
      })`;
    };
    const loads = r.load.map((x) => Math.round(x * 100));
    const cells = [
      LABELS[r.workload],
      ...(hasBase ? [cell(base), ratio(th, base)] : []),
      cell(ours),
      cell(th),
      ratio(th, ours),
      ...(hasCompile ? [cell(tc), ratio(tc, ours)] : []),
      `${fmt(ours.rss, 0)} / ${th ? fmt(th.rss, 0) : "-"}`,
      loads.length ? `${median(loads)}% (max ${Math.max(...loads)}%)` : "-",
    ];
    lines.push(`| ${cells.join(" | ")} |`);
    const jax = col("jax-js-wasm");
    if (jax && jax.ms.length) {
      const row = head.map(() => "");
      row[0] = "matmul 512, jax-js wasm in our process (GFLOP/s); ratio = ours / jax-js";
      row[head.indexOf("ours ms (min)")] = cell(jax);
      row[head.indexOf("ratio (min ratio)")] = ratio(jax, ours);
      lines.push(`| ${row.join(" | ")} |`);
    }
  }
  const params = results.filter((r) => r.workload !== "matmul512").map((r) => {
    const c = (n: string) => r.columns.find((x) => x.name === n)?.params ?? 0;
    return `${r.workload} ${(c("ours") / 1e6).toFixed(2)}M / ${(c("torch") / 1e6).toFixed(2)}M`;
  });
  return [
    `PyTorch ${info.torch ?? "(not run)"} (${info.blas ?? "?"}, CPU capability ${
      info.capability ?? "?"
    }, ${info.threads ?? "?"} threads, eager${hasCompile ? "; torch.compile: inductor" : ""}); ` +
    `ours: Deno ${Deno.version.deno}, cpu device (wasm SIMD, ${cpuThreads()} ` +
    `threads), compiled steps${hasBase ? `; before: ${args.base}` : ""}. Ratio = PyTorch time / ` +
    `ours (above 1: we are faster); medians (minimums) over ${args.rounds} alternating blocks ` +
    `per side. Parameters ours / PyTorch: ${params.join(", ")}.`,
    "",
    ...lines,
  ].join("\n");
}

/**
 * The `--flops` table: flops per call of each side, the GFLOP/s each achieved (flops over the
 * median time), and what ours needs to reach the workload's target: our flops in PyTorch's median
 * time divided by the target ratio (matmul512: the absolute bar).
 */
function flopsTable(results: Result[]): string {
  const head = [
    "workload",
    "GFLOP per call PyTorch / ours",
    "PyTorch GFLOP/s",
    "ours GFLOP/s",
    "target",
    "ours needs GFLOP/s",
  ];
  const lines = [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`];
  const g = (f: number | null | undefined) =>
    !f ? "-" : f < 1e9 ? (f / 1e9).toFixed(3) : fmt(f / 1e9, 2);
  for (const r of results) {
    const col = (n: string) => r.columns.find((c) => c.name === n);
    const ours = col("ours")!, th = col("torch");
    const rate = (c: Column | undefined) =>
      c?.flops && c.ms.length ? fmt(c.flops / (median(c.ms) * 1e6)) : "-";
    const isMatmul = r.workload === "matmul512";
    const target = TARGETS[r.workload];
    const needs = isMatmul
      ? fmt(MATMUL_TARGET_GFLOPS)
      : ours.flops && th?.ms.length
      ? fmt(ours.flops * target / (median(th.ms) * 1e6))
      : "-";
    const cells = [
      LABELS[r.workload],
      `${g(th?.flops)} / ${g(ours.flops)}`,
      rate(th),
      rate(ours),
      isMatmul ? `${MATMUL_TARGET_GFLOPS} GFLOP/s` : `${target}x`,
      needs,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return [
    "Floating-point operations of the matmuls and convolutions of one call (2 per multiply-add, " +
    "forward and backward; PyTorch: FlopCounterMode; ours: the kernels of one compiled replay). " +
    "GFLOP/s = flops / median time; ours needs = our flops x target / PyTorch's median time.",
    "",
    ...lines,
  ].join("\n");
}

async function main(argv: string[]): Promise<void> {
  const wi = argv.indexOf("--worker");
  if (wi >= 0) return await worker(argv[wi + 1] as Workload);
  const args = parseArgs(argv);
  const py = Deno.env.get("WORLDFLUX_TORCH_PYTHON") ?? null;
  if (!py) console.error("WORLDFLUX_TORCH_PYTHON is not set: only our side runs");
  const info: Record<string, unknown> = {};
  const results: Result[] = [];
  const t0 = new Date();
  for (const w of args.only) {
    console.error(`${w} (load average ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")})`);
    results.push(await compare(w, args, py, info));
  }
  const out = `Measured ${t0.toISOString().slice(0, 16).replace("T", " ")} UTC, ${
    Math.round((Date.now() - t0.getTime()) / 60000)
  } min.\n\n${table(results, info, args)}\n${args.flops ? `\n${flopsTable(results)}\n` : ""}`;
  console.log(out);
  if (args.md) await Deno.writeTextFile(args.md, out);
}

if (import.meta.main) await main(Deno.args);
