/**
 * Smoke benchmark of the peer adapters: `deno run -A bench/peers/smoke.ts [options]`.
 *
 * Options:
 *   --peers=a,b     only these peers (tfjs-webgpu, tfjs-wasm, tfjs-cpu, jax-js-webgpu, jax-js-wasm)
 *   --quick         matmul 256/512 only
 *   --budget=S      seconds of timed runs per workload (default 3; at least 1 run, at most --reps)
 *   --reps=N        most timed runs per workload (default 5)
 *   --json=FILE     also write the raw results as JSON
 *   --wait-idle[=F] before each workload, wait (up to 2 min) until other processes use under F
 *                   (default 0.1) of the CPUs: the machine is shared, so this cuts the noise
 *
 * A peer whose setup fails is reported with the reason and skipped; a failing workload shows
 * "error" in its cell and the message below the table. A cell marked `*` was measured while other
 * processes used more than 15% of the machine's CPUs (from /proc), so it is likely too slow. Times are medians of the timed runs, each
 * run being one factory-returned call (workload + one read). Factories warm up before timing.
 */
import type { PeerLib } from "./types.ts";
import {
  conv2dFlops,
  cpuSnapshot,
  foreignLoad,
  matmulFlops,
  mlpStepFlops,
  waitIdle,
} from "./util.ts";

const args = new Map<string, string>();
for (const a of Deno.args) {
  const [k, v] = a.replace(/^--/, "").split("=");
  args.set(k, v ?? "true");
}
const only = args.get("peers")?.split(",");
const quick = args.has("quick");
const budgetMs = Number(args.get("budget") ?? 3) * 1000;
const maxReps = Number(args.get("reps") ?? 5);
const idle = args.has("wait-idle")
  ? (args.get("wait-idle") === "true" ? 0.1 : Number(args.get("wait-idle")))
  : undefined;

if (!Deno.env.get("XDG_RUNTIME_DIR")) {
  // Silences the "XDG_RUNTIME_DIR is invalid or not set" warning of the GL adapter.
  const dir = `/tmp/xdg-${Deno.uid() ?? "user"}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}

interface PeerSpec {
  name: string;
  load: () => Promise<PeerLib>;
}
const peers: PeerSpec[] = [
  {
    name: "jax-js-wasm",
    load: async () => (await import("./jaxjs.ts")).setup("wasm"),
  },
  {
    name: "jax-js-webgpu",
    load: async () => (await import("./jaxjs.ts")).setup("webgpu"),
  },
  { name: "tfjs-wasm", load: async () => (await import("./tfjs.ts")).setup("wasm") },
  { name: "tfjs-webgpu", load: async () => (await import("./tfjs.ts")).setup("webgpu") },
  { name: "tfjs-cpu", load: async () => (await import("./tfjs.ts")).setup("cpu") },
].filter((p) => !only || only.includes(p.name));

interface Workload {
  name: string;
  /** How the table shows the median time: GFLOP/s, ms, ms + GFLOP/s, or ms + steps/s. */
  unit: "gflops" | "ms" | "ms+gflops" | "steps";
  /** Flops of one run. */
  flops?: number;
  make: (lib: PeerLib) => Promise<() => Promise<void>>;
}
const workloads: Workload[] = [];
for (const n of quick ? [256, 512] : [256, 512, 1024]) {
  for (const v of ["nn", "tn"] as const) {
    workloads.push({
      name: `matmul ${n} ${v} x10 (GFLOP/s)`,
      unit: "gflops",
      flops: matmulFlops(n, 10),
      make: (l) => l.matmul(n, v, 10),
    });
  }
}
workloads.push({
  name: "matmul 512 nt x10 (GFLOP/s)",
  unit: "gflops",
  flops: matmulFlops(512, 10),
  make: (l) => l.matmul(512, "nt", 10),
});
workloads.push({
  name: "elementwise 1M x 8 ops (ms)",
  unit: "ms",
  make: (l) => l.elementwiseChain(1 << 20, 8),
});
workloads.push({ name: "softmax 1024x1024 (ms)", unit: "ms", make: (l) => l.softmax(1024, 1024) });
workloads.push({
  name: "conv2d 16x32x32x32->64 k3 s1 p1 (ms)",
  unit: "ms+gflops",
  flops: conv2dFlops(16, 32, 32, 64, 3, 1, 1),
  make: (l) => l.conv2d(16, 32, 32, 64, 3, 1, 1),
});
const mlpDims = [64, 512, 512, 64];
workloads.push({
  name: "MLP 64-512-512-64 B256 Adam step (ms)",
  unit: "steps",
  flops: mlpStepFlops(256, mlpDims),
  make: (l) => l.mlpTrainStep(256, mlpDims),
});

interface Cell {
  ms?: number;
  min?: number;
  runs?: number;
  prepMs?: number;
  /** Share of the CPUs used by other processes during the timed runs. */
  foreign?: number;
  error?: string;
}
const results: Record<string, Record<string, Cell>> = {};
const setupInfo: Record<string, string> = {};
const errors: string[] = [];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const short = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

let adapterInfo = "no navigator.gpu";
try {
  const adapter = await navigator.gpu?.requestAdapter();
  adapterInfo = adapter ? adapter.info.description || adapter.info.vendor : "no adapter";
} catch (e) {
  adapterInfo = `requestAdapter failed: ${short(e)}`;
}
const loadavg = () => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
};
console.log(
  `${
    new Date().toISOString()
  } deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
    `adapter: ${adapterInfo} (DENO_WEBGPU_BACKEND=${
      Deno.env.get("DENO_WEBGPU_BACKEND") ?? "unset"
    }), loadavg ${loadavg()}`,
);

for (const spec of peers) {
  results[spec.name] = {};
  let lib: PeerLib;
  const t0 = performance.now();
  try {
    lib = await spec.load();
  } catch (e) {
    setupInfo[spec.name] = `FAILED: ${short(e)}`;
    console.log(`${spec.name}: setup failed: ${short(e)} (skipped)`);
    continue;
  }
  setupInfo[spec.name] = `setup ${(performance.now() - t0).toFixed(0)} ms`;
  console.log(`${spec.name}: ${setupInfo[spec.name]}`);
  for (const w of workloads) {
    const cell: Cell = {};
    results[spec.name][w.name] = cell;
    try {
      const p0 = performance.now();
      const run = await w.make(lib);
      cell.prepMs = performance.now() - p0;
      // Shared machine: with --wait-idle, a measurement disturbed by other processes is redone
      // (up to 3 attempts) and the least disturbed one is kept.
      const attempts = idle === undefined ? 1 : 3;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (idle !== undefined) await waitIdle(idle);
        const times: number[] = [];
        const snap = cpuSnapshot();
        const start = performance.now();
        while (
          times.length < maxReps && (times.length === 0 || performance.now() - start < budgetMs)
        ) {
          const r0 = performance.now();
          await run();
          times.push(performance.now() - r0);
        }
        const foreign = foreignLoad(snap, cpuSnapshot()) ?? 0;
        if (cell.foreign === undefined || foreign < cell.foreign) {
          Object.assign(cell, {
            foreign,
            ms: median(times),
            min: Math.min(...times),
            runs: times.length,
          });
        }
        console.log(
          `  ${w.name}: median ${median(times).toFixed(1)} ms, min ${
            Math.min(...times).toFixed(1)
          } ms, ${times.length} runs, prepare+warm-up ${cell.prepMs.toFixed(0)} ms, ` +
            `others' CPU ${(foreign * 100).toFixed(0)}%`,
        );
        if (foreign <= 0.15) break;
      }
    } catch (e) {
      cell.error = short(e);
      errors.push(`${spec.name} / ${w.name}: ${short(e)}`);
      console.log(`  ${w.name}: ERROR ${short(e)}`);
    }
  }
  try {
    await lib.dispose();
  } catch (e) {
    errors.push(`${spec.name} / dispose: ${short(e)}`);
  }
}

const fmt = (w: Workload, c: Cell | undefined): string => {
  if (!c) return "-";
  if (c.error) return "error";
  if (c.ms === undefined) return "-";
  return value(w, { ...c, ms: c.ms }) + ((c.foreign ?? 0) > 0.15 ? "*" : "");
};
const value = (w: Workload, c: Cell & { ms: number }): string => {
  const gf = ((w.flops ?? 0) / c.ms / 1e6).toFixed(1);
  switch (w.unit) {
    case "gflops":
      return gf;
    case "ms+gflops":
      return `${c.ms.toFixed(1)} (${gf} GF/s)`;
    case "steps":
      return `${c.ms.toFixed(1)} (${(1000 / c.ms).toFixed(1)}/s)`;
    default:
      return c.ms.toFixed(1);
  }
};
const names = peers.map((p) => p.name);
const lines: string[] = [];
lines.push(`| workload | ${names.join(" | ")} |`);
lines.push(`|---|${names.map(() => "---:").join("|")}|`);
for (const w of workloads) {
  lines.push(`| ${w.name} | ${names.map((n) => fmt(w, results[n][w.name])).join(" | ")} |`);
}
lines.push(`| setup | ${names.map((n) => setupInfo[n]).join(" | ")} |`);
console.log(`\nloadavg at the end: ${loadavg()}\n\n${lines.join("\n")}`);
if (errors.length) console.log(`\nErrors:\n${errors.map((e) => `- ${e}`).join("\n")}`);
const prep = names.map((n) =>
  Object.values(results[n]).reduce((s, c) => s + (c.prepMs ?? 0), 0) / 1000
);
console.log(
  `\nPrepare + warm-up time, all workloads: ${
    names.map((n, i) => `${n} ${prep[i].toFixed(1)} s`).join(", ")
  }`,
);
try {
  const hwm = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s*(\d+)/);
  if (hwm) console.log(`Peak RSS of this process: ${(Number(hwm[1]) / 1024).toFixed(0)} MiB`);
} catch {
  // no /proc
}
const jsonPath = args.get("json");
if (jsonPath) {
  await Deno.writeTextFile(jsonPath, JSON.stringify({ setupInfo, results, errors }, null, 2));
}
// jax-js' wasm worker pool and tfjs keep the event loop alive: exit explicitly.
Deno.exit(0);
