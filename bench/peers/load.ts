/**
 * Loads benchmark targets by name (worldflux on each device and the peer libraries), reporting
 * and skipping those that cannot start here.
 */
import type { PeerLib } from "./types.ts";

/** Every target name. */
export const TARGETS = [
  "worldflux-webgpu",
  "worldflux-cpu",
  "worldflux-cpu-reference",
  "tfjs-webgpu",
  "tfjs-wasm",
  "tfjs-cpu",
  "jax-js-webgpu",
  "jax-js-wasm",
] as const;

/** A target name. */
export type TargetName = typeof TARGETS[number];

async function load(name: TargetName): Promise<PeerLib> {
  switch (name) {
    case "worldflux-webgpu":
      return (await import("./worldflux.ts")).setup("webgpu");
    case "worldflux-cpu":
      return (await import("./worldflux.ts")).setup("cpu");
    case "worldflux-cpu-reference":
      return (await import("./worldflux.ts")).setup("cpu-reference");
    case "tfjs-webgpu":
      return (await import("./tfjs.ts")).setup("webgpu");
    case "tfjs-wasm":
      return (await import("./tfjs.ts")).setup("wasm");
    case "tfjs-cpu":
      return (await import("./tfjs.ts")).setup("cpu");
    case "jax-js-webgpu":
      return (await import("./jaxjs.ts")).setup("webgpu");
    case "jax-js-wasm":
      return (await import("./jaxjs.ts")).setup("wasm");
  }
}

/** Loads the named targets; failures are printed and left out. */
export async function loadTargets(names: readonly TargetName[]): Promise<PeerLib[]> {
  if (!Deno.env.get("XDG_RUNTIME_DIR")) {
    const dir = `/tmp/xdg-${Deno.uid() ?? "user"}`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  }
  const only = Deno.env.get("BENCH_TARGETS")?.split(",");
  const out: PeerLib[] = [];
  for (const n of names) {
    if (only && !only.includes(n)) continue;
    try {
      out.push(await load(n));
    } catch (e) {
      console.error(`bench: skipping ${n}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return out;
}

/**
 * Registers one Deno.bench per (workload, target). Workloads are prepared up front (warm-up
 * included); one that fails on a target is reported and skipped. `baseline` names the target
 * the others are compared with.
 */
export async function registerBenches(
  libs: PeerLib[],
  workloads: { name: string; flops?: number; make: (l: PeerLib) => Promise<() => Promise<void>> }[],
  baseline: string,
  opts: { n?: number; warmup?: number } = {},
): Promise<void> {
  for (const w of workloads) {
    for (const lib of libs) {
      let run: () => Promise<void>;
      try {
        run = await w.make(lib);
      } catch (e) {
        console.error(
          `bench: ${lib.name} cannot run "${w.name}": ${(e as Error).message.split("\n")[0]}`,
        );
        continue;
      }
      Deno.bench({
        name: lib.name,
        group: w.name,
        baseline: lib.name === baseline,
        n: opts.n ?? 10,
        warmup: opts.warmup ?? 1,
        fn: run,
      });
    }
  }
}
