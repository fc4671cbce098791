/**
 * Throughput of the Gymnasium bridge: environment steps per second through `gym:` environments
 * (CartPole-v1, ALE/Breakout-v5 at 64x64, HalfCheetah-v5; 1 and 8 environments per process) beside
 * the same work done in Python without the bridge, measured in alternating rounds in one run:
 *
 * - `host in-process`: the host's own code (same pre-processing, same copies) called directly in
 *   Python (`bench/gym_native.py host`): the bridge's cost is the gap to this;
 * - `plain Gymnasium`: `gymnasium.make(id)` / `make_vec(id, n)` as a Python user steps it (ALE v5
 *   with its own frameskip 4 and 210x160 RGB frames, so no pooling or resizing).
 *
 * Two measures per side: env steps per second of wall time (the best round, the least disturbed
 * by other work on a shared machine; the median in parentheses), and env steps per second of CPU
 * time (Linux: both processes' user + system time from /proc for the bridge, the Python process's
 * for the others), which depends much less on the machine's load: the bridge's cost in CPU is the
 * protocol's work on both sides.
 *
 * ```sh
 * WORLDFLUX_PYTHON=/path/to/python deno run -A bench/gym_throughput.ts [--rounds 5] [--quick]
 * ```
 *
 * Prints markdown tables for docs/benchmarks.md. Not part of the tests: speed is measured here,
 * correctness in tests/envs/gym_test.ts.
 * @module
 */

import { fileURLToPath } from "node:url";
import { GymBridge } from "../src/envs/gym/bridge.ts";
import { GymEnv, GymVectorEnv } from "../src/envs/gym/env.ts";
import { Rng } from "../src/rng.ts";
import { type Action, sample } from "../src/envs/types.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const roundsArg = args.indexOf("--rounds");
const ROUNDS = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 1 : 5;
const PYTHON = Deno.env.get("WORLDFLUX_PYTHON") ?? "python3";
const NATIVE = fileURLToPath(new URL("./gym_native.py", import.meta.url));

interface Config {
  readonly id: string;
  readonly n: number;
  /** Vector steps per round (env steps = steps * n). */
  readonly steps: number;
}

const scale = quick ? 0.2 : 1;
const CONFIGS: Config[] = [
  { id: "CartPole-v1", n: 1, steps: 5000 },
  { id: "CartPole-v1", n: 8, steps: 1500 },
  { id: "ALE/Breakout-v5", n: 1, steps: 1500 },
  { id: "ALE/Breakout-v5", n: 8, steps: 300 },
  { id: "HalfCheetah-v5", n: 1, steps: 3000 },
  { id: "HalfCheetah-v5", n: 8, steps: 500 },
].map((c) => ({ ...c, steps: Math.max(50, Math.round(c.steps * scale)) }));

/** A rate per wall second and per CPU second. */
interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

/** The bridge's CPU per round trip, in microseconds (Python's own counters + our process). */
interface Split {
  /** The host's CPU in the environments and their pre-processing. */
  readonly work: number;
  /** The host's CPU in the protocol (framing, JSON, copies). */
  readonly protocol: number;
  /** This process's CPU (encoding, decoding, system calls). */
  readonly deno: number;
}

const splits = new Map<string, Split[]>();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** User + system CPU seconds of process `pid` so far (Linux /proc). */
function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
}

/**
 * Times `run` (`envSteps` env steps in `calls` round trips) in wall time and in CPU time of this
 * process + the host; records the CPU split per round trip under `key`.
 */
function timed(
  env: GymEnv | GymVectorEnv,
  key: string,
  envSteps: number,
  calls: number,
  run: () => void,
): Rate {
  const s0 = env.hostStats();
  const d0 = cpuSeconds("self");
  const c0 = d0 + cpuSeconds(env.pid);
  const t = performance.now();
  run();
  const wall = (performance.now() - t) / 1000;
  const d1 = cpuSeconds("self");
  const cpu = d1 + cpuSeconds(env.pid) - c0;
  const s1 = env.hostStats();
  const per = (x: number) => (x * 1e6) / calls;
  const list = splits.get(key) ?? [];
  list.push({
    work: per(s1.cpuWork - s0.cpuWork),
    protocol: per(s1.cpuProtocol - s0.cpuProtocol),
    deno: per(d1 - d0),
  });
  splits.set(key, list);
  return { wall: envSteps / wall, cpu: envSteps / Math.max(cpu, 1 / TICKS) };
}

/** Env steps per second through the bridge (making and resetting are not timed). */
function bridgeRate(c: Config): Rate {
  const rng = new Rng(0);
  if (c.n === 1) {
    const env = GymEnv.create(c.id, { python: PYTHON });
    try {
      const actions: Action[] = Array.from({ length: 64 }, () => sample(env.actionSpace, rng));
      env.reset({ seed: 0 });
      return timed(env, `${c.id} ${c.n}`, c.steps, c.steps, () => {
        for (let i = 0; i < c.steps; i++) {
          const r = env.step(actions[i % 64]);
          if (r.terminated || r.truncated) env.reset();
        }
      });
    } finally {
      env.close();
    }
  }
  const venv = GymVectorEnv.create(c.id, c.n, { python: PYTHON });
  try {
    const batches = Array.from(
      { length: 64 },
      () => Array.from({ length: c.n }, () => sample(venv.actionSpace, rng)),
    );
    venv.reset({ seed: 0 });
    return timed(venv, `${c.id} ${c.n}`, c.steps * c.n, c.steps, () => {
      for (let i = 0; i < c.steps; i++) venv.step(batches[i % 64]);
    });
  } finally {
    venv.close();
  }
}

/** Env steps per second in Python (`mode`: host or plain). */
async function nativeRate(c: Config, mode: "host" | "plain"): Promise<Rate> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-B", NATIVE, c.id, String(c.n), String(c.steps), mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) {
    throw new Error(`gym_native.py ${c.id} ${mode}: ${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(text);
  return { wall: r.env_steps_per_sec, cpu: r.env_steps_per_cpu_sec };
}

/** Median round trip of an empty request (`ping`), in microseconds. */
function pingMicros(): number {
  const b = GymBridge.start({ python: PYTHON });
  try {
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (let i = 0; i < 2000; i++) b.call("ping", {}, [], 10_000);
      rounds.push(((performance.now() - t) * 1000) / 2000);
    }
    return median(rounds);
  } finally {
    b.close();
  }
}

const fmt = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(0));
const cost = (x: number, y: number) => `${((1 - x / y) * 100).toFixed(0)}%`;
const best = (xs: Rate[], k: keyof Rate) => Math.max(...xs.map((x) => x[k]));
const mid = (xs: Rate[], k: keyof Rate) => median(xs.map((x) => x[k]));

const wallRows: string[] = [];
const cpuRows: string[] = [];
console.error(`python: ${PYTHON}; ${ROUNDS} round(s)`);
const ping = pingMicros();
for (const c of CONFIGS) {
  const bridge: Rate[] = [];
  const host: Rate[] = [];
  const plain: Rate[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bridge.push(bridgeRate(c));
    host.push(await nativeRate(c, "host"));
    plain.push(await nativeRate(c, "plain"));
    console.error(
      `${c.id} x${c.n} round ${r + 1}: wall bridge ${fmt(bridge[r].wall)}, host ` +
        `${fmt(host[r].wall)}, plain ${fmt(plain[r].wall)}; cpu bridge ${fmt(bridge[r].cpu)}, ` +
        `host ${fmt(host[r].cpu)}, plain ${fmt(plain[r].cpu)} steps/s`,
    );
  }
  const [b, h, p] = [best(bridge, "wall"), best(host, "wall"), best(plain, "wall")];
  const [mb, mh, mp] = [mid(bridge, "wall"), mid(host, "wall"), mid(plain, "wall")];
  wallRows.push(
    `| ${c.id} | ${c.n} | ${fmt(b)} (${fmt(mb)}) | ${fmt(h)} (${fmt(mh)}) | ${fmt(p)} (${
      fmt(mp)
    }) | ${cost(b, h)} (${cost(mb, mh)}) |`,
  );
  const [cb, ch, cp] = [mid(bridge, "cpu"), mid(host, "cpu"), mid(plain, "cpu")];
  const perCall = (1e6 / cb - 1e6 / ch) * c.n; // CPU microseconds per round trip
  cpuRows.push(
    `| ${c.id} | ${c.n} | ${fmt(cb)} | ${fmt(ch)} | ${fmt(cp)} | ${cost(cb, ch)} | ` +
      `${perCall.toFixed(0)} us |`,
  );
}
let load = "n/a";
try {
  load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
} catch { /* not Linux */ }
console.log(
  `Empty round trip (ping): ${ping.toFixed(0)} us (median of 5 x 2000); load average ${load}\n`,
);
console.log("Wall time, env steps/s: best round (median)\n");
console.log(
  "| environment | envs | bridge | host in-process | plain Gymnasium | bridge cost vs in-process |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of wallRows) console.log(r);
console.log("\nCPU time (both processes for the bridge), env steps per CPU second, median:\n");
console.log(
  "| environment | envs | bridge | host in-process | plain Gymnasium | bridge cost vs in-process | " +
    "bridge CPU per round trip |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of cpuRows) console.log(r);
console.log(
  "\nThe bridge's CPU per round trip (median over the rounds), in microseconds: the host's work " +
    "(environments, pre-processing) and its protocol (Python thread CPU time), and this " +
    "process's CPU:\n",
);
console.log(
  "| environment | envs | host work | host protocol | Deno side | bridge share of the CPU |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const c of CONFIGS) {
  const xs = splits.get(`${c.id} ${c.n}`) ?? [];
  const w = median(xs.map((x) => x.work));
  const p = median(xs.map((x) => x.protocol));
  const d = median(xs.map((x) => x.deno));
  console.log(
    `| ${c.id} | ${c.n} | ${w.toFixed(0)} | ${p.toFixed(0)} | ${d.toFixed(0)} | ` +
      `${((100 * (p + d)) / (w + p + d)).toFixed(0)}% |`,
  );
}
