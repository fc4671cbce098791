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
 * ```sh
 * WORLDFLUX_PYTHON=/path/to/python deno run -A bench/gym_throughput.ts [--rounds 3] [--quick]
 * ```
 *
 * Prints a markdown table for docs/benchmarks.md: the best round of each side (the least disturbed
 * by other work on a shared machine) and, in parentheses, the median. Not part of the tests: speed
 * is measured here, correctness in tests/envs/gym_test.ts.
 * @module
 */

import { fileURLToPath } from "node:url";
import { GymBridge } from "../src/envs/gym/bridge.ts";
import { GymEnv, GymVectorEnv } from "../src/envs/gym/env.ts";
import { Rng } from "../src/envs/rng.ts";
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Env steps per second through the bridge (making and resetting are not timed). */
function bridgeRate(c: Config): number {
  const rng = new Rng(0);
  if (c.n === 1) {
    const env = GymEnv.create(c.id, { python: PYTHON });
    try {
      const actions: Action[] = Array.from({ length: 64 }, () => sample(env.actionSpace, rng));
      env.reset({ seed: 0 });
      const t = performance.now();
      for (let i = 0; i < c.steps; i++) {
        const r = env.step(actions[i % 64]);
        if (r.terminated || r.truncated) env.reset();
      }
      return c.steps / ((performance.now() - t) / 1000);
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
    const t = performance.now();
    for (let i = 0; i < c.steps; i++) venv.step(batches[i % 64]);
    return (c.steps * c.n) / ((performance.now() - t) / 1000);
  } finally {
    venv.close();
  }
}

/** Env steps per second in Python (`mode`: host or plain). */
async function nativeRate(c: Config, mode: "host" | "plain"): Promise<number> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-B", NATIVE, c.id, String(c.n), String(c.steps), mode],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) {
    throw new Error(`gym_native.py ${c.id} ${mode}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text).env_steps_per_sec;
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

const rows: string[] = [];
const fmt = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(0));
console.error(`python: ${PYTHON}; ${ROUNDS} round(s)`);
const ping = pingMicros();
for (const c of CONFIGS) {
  const bridge: number[] = [];
  const host: number[] = [];
  const plain: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bridge.push(bridgeRate(c));
    host.push(await nativeRate(c, "host"));
    plain.push(await nativeRate(c, "plain"));
    console.error(
      `${c.id} x${c.n} round ${r + 1}: bridge ${fmt(bridge[r])}, host ${fmt(host[r])}, ` +
        `plain ${fmt(plain[r])} steps/s`,
    );
  }
  const b = Math.max(...bridge), h = Math.max(...host), p = Math.max(...plain);
  const mb = median(bridge), mh = median(host), mp = median(plain);
  const cost = (x: number, y: number) => `${((1 - x / y) * 100).toFixed(0)}%`;
  const perCall = (1e6 / b - 1e6 / h) * c.n; // microseconds per round trip
  rows.push(
    `| ${c.id} | ${c.n} | ${fmt(b)} (${fmt(mb)}) | ${fmt(h)} (${fmt(mh)}) | ${fmt(p)} (${
      fmt(mp)
    }) | ` +
      `${cost(b, h)} (${cost(mb, mh)}) | ${perCall.toFixed(0)} us |`,
  );
}
const load = (() => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "n/a";
  }
})();
console.log(
  `Empty round trip (ping): ${ping.toFixed(0)} us (median of 5 x 2000); load average ${load}\n`,
);
console.log(
  "| environment | envs | bridge steps/s best (median) | host in-process steps/s | " +
    "plain Gymnasium steps/s | bridge cost vs in-process | extra per round trip (best) |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
