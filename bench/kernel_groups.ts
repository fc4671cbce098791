/**
 * How the profiling benches (`step_profile.ts`, `dreamer_update_profile.ts`) name a kernel's group:
 * its kind and shape (matmuls by batch x M x N x K and the operands' layout: `n` plain, `t`
 * transposed, `s` other strides).
 * @module
 */

import process from "node:process";
import type { Kernel } from "../src/backend/types.ts";
import type { View } from "../src/ir/view.ts";
import { setReplayProfiler } from "../src/tensor/compile.ts";

/** `n` row-major, `t` transposed (column-major), `s` anything else, for the last two axes. */
export function layout(v: View): string {
  const r = v.shape.length;
  const [s0, s1] = [v.strides[r - 2], v.strides[r - 1]];
  if (s1 === 1 && (s0 === v.shape[r - 1] || v.shape[r - 2] === 1)) return "n";
  if (s0 === 1 && (s1 === v.shape[r - 2] || v.shape[r - 1] === 1)) return "t";
  return "s";
}

/** The group of a kernel: kind and shape. */
export function describe(k: Kernel): string {
  switch (k.kind) {
    case "matmul": {
      const b = k.batch.length ? `${k.batch.join("x")} x ` : "";
      const ep = k.epilogue ? " +epi" : "";
      return `matmul ${b}${k.m}x${k.n}x${k.k} ${layout(k.a.view)}${layout(k.b.view)}${ep}`;
    }
    case "ew":
      return `ew [${k.out.view.shape.join(",")}]`;
    case "reduce":
      return `reduce ${k.op} ${k.outSize} x ${k.reduceSize}`;
    case "softmax":
    case "norm":
      return `${k.kind} ${k.rows} x ${k.cols}`;
    default: {
      const shape = (k as { out?: { view: View } }).out?.view.shape;
      return shape ? `${k.kind} [${shape.join(",")}]` : k.kind;
    }
  }
}

/**
 * Floating-point operations of a kernel's multiply-adds (2 each), as PyTorch's FlopCounterMode
 * counts them: matmuls `2 * batch * m * n * k`; convolutions `2 * n * cout * cin * kh * kw`
 * times the output pixels (the input pixels for transposed ones), weight gradients as their
 * forward. Other kernels: 0.
 */
export function kernelFlops(k: Kernel): number {
  if (k.kind === "matmul") return 2 * k.m * k.n * k.k * k.batch.reduce((a, b) => a * b, 1);
  if (k.kind === "conv") {
    const g = k.geom;
    const transposed = k.mode === "convTranspose2d" || k.mode === "convTranspose2dWeightGrad";
    const pixels = transposed ? g.h * g.w : g.outH * g.outW;
    return 2 * g.n * g.cout * g.cin * g.kh * g.kw * pixels;
  }
  return 0;
}

/** Time and count of one kernel group over the profiled replays. */
export interface KernelGroup {
  /** Milliseconds summed over the replays. */
  ms: number;
  /** Kernels run. */
  n: number;
  /** Floating-point operations of the group's matmuls and convolutions ({@link kernelFlops}). */
  flop: number;
}

/**
 * Runs `run` `steps` times with every replayed kernel timed by `clock` and grouped by
 * {@link describe}; returns the groups (largest first) and the time per run. Shared by the
 * profiling benches so each groups kernels the same way.
 */
export async function profileReplays(
  run: () => Promise<void>,
  steps: number,
  clock: () => number,
): Promise<{ rows: [string, KernelGroup][]; perRun: number }> {
  const groups = new Map<string, KernelGroup>();
  setReplayProfiler((k, ms) => {
    const key = describe(k);
    const g = groups.get(key) ?? { ms: 0, n: 0, flop: 0 };
    g.ms += ms;
    g.n++;
    g.flop += kernelFlops(k);
    groups.set(key, g);
  }, clock);
  const t0 = clock();
  try {
    for (let i = 0; i < steps; i++) await run();
  } finally {
    setReplayProfiler(null);
  }
  const perRun = (clock() - t0) / steps;
  return { rows: [...groups.entries()].sort((a, b) => b[1].ms - a[1].ms), perRun };
}

/** Per-run totals of profiled kernel groups and the breakdown the profiling benches print. */
export interface KernelReport {
  /** Kernel milliseconds per run. */
  totalMs: number;
  /** Kernels per run. */
  kernels: number;
  /** GFLOP of matmuls and convolutions per run. */
  gflop: number;
  /** "by kind" line, then the table of the `top` largest groups (per run). */
  lines: string[];
}

/**
 * Sums {@link profileReplays}' groups per run and formats the breakdown by kernel kind and the
 * table of the largest groups, so step_profile and dreamer_update_profile report alike.
 */
export function kernelReport(
  rows: [string, KernelGroup][],
  steps: number,
  top: number,
  per: string,
): KernelReport {
  const sum = (f: (g: KernelGroup) => number) => rows.reduce((s, [, g]) => s + f(g), 0) / steps;
  const totalMs = sum((g) => g.ms);
  const byKind = new Map<string, number>();
  for (const [key, g] of rows) {
    const kind = key.split(" ")[0];
    byKind.set(kind, (byKind.get(kind) ?? 0) + g.ms / steps);
  }
  const lines = [
    "by kind: " +
    [...byKind.entries()].sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${ms.toFixed(1)}`)
      .join(", "),
    `ms/${per.padEnd(4)}  share  count  GFLOP/s  kernel`,
  ];
  for (const [key, g] of rows.slice(0, top)) {
    const ms = g.ms / steps;
    const gf = g.flop ? (g.flop / (g.ms * 1e6)).toFixed(1) : "";
    lines.push(
      `${ms.toFixed(2).padStart(7)}  ${(100 * ms / totalMs).toFixed(1).padStart(4)}%  ${
        String(g.n / steps).padStart(5)
      }  ${gf.padStart(7)}  ${key}`,
    );
  }
  return { totalMs, kernels: sum((g) => g.n), gflop: sum((g) => g.flop) / 1e9, lines };
}

/**
 * The profiling benches' clock in ms: the process's CPU time (`--cpu`: each kernel's own work,
 * little disturbed by other processes with one thread) or the wall clock.
 */
export function profileClock(cpuTime: boolean): () => number {
  return cpuTime
    ? () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e3;
    }
    : () => performance.now();
}
