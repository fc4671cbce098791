/** Helpers shared by the peer adapters and the smoke script (no dependency on any library). */

import type { Run } from "./types.ts";

/** Deterministic standard-normal samples (xorshift32 + Box-Muller), scaled by `scale`. */
export function randn(count: number, seed = 1, scale = 1): Float32Array<ArrayBuffer> {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t) * scale;
    if (i + 1 < count) out[i + 1] = r * Math.sin(t) * scale;
  }
  return out;
}

/** Runs `run` once (JIT/shader compilation), and once more when that took under `fastMs`. */
export async function warmUp(run: Run, fastMs = 1000): Promise<void> {
  const t0 = performance.now();
  await run();
  if (performance.now() - t0 < fastMs) await run();
}

/** Multiply-add count (x2) of a chain of `chain` n x n matmuls. */
export function matmulFlops(n: number, chain: number): number {
  return 2 * n * n * n * chain;
}

/** Flops of a conv2d (2 per multiply-add), given NCHW/OIHW sizes. */
export function conv2dFlops(
  batch: number,
  cin: number,
  hw: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
): number {
  const out = Math.floor((hw + 2 * pad - k) / stride) + 1;
  return 2 * batch * cout * out * out * cin * k * k;
}

/** Flops of one MLP training step (forward + two backward matmuls per layer). */
export function mlpStepFlops(batch: number, dims: number[]): number {
  let f = 0;
  for (let i = 0; i + 1 < dims.length; i++) f += 6 * batch * dims[i] * dims[i + 1];
  return f;
}

/** Transposes NCHW data to NHWC. */
export function nchwToNhwc(
  x: Float32Array,
  n: number,
  c: number,
  h: number,
  w: number,
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          out[((b * h + y) * w + xx) * c + ch] = x[((b * c + ch) * h + y) * w + xx];
        }
      }
    }
  }
  return out;
}

/** Transposes OIHW conv weights to HWIO (tfjs filter layout). */
export function oihwToHwio(
  x: Float32Array,
  o: number,
  i: number,
  kh: number,
  kw: number,
): Float32Array<ArrayBuffer> {
  const out = new Float32Array(x.length);
  for (let a = 0; a < o; a++) {
    for (let b = 0; b < i; b++) {
      for (let y = 0; y < kh; y++) {
        for (let xx = 0; xx < kw; xx++) {
          out[((y * kw + xx) * i + b) * o + a] = x[((a * i + b) * kh + y) * kw + xx];
        }
      }
    }
  }
  return out;
}

/** Initial MLP parameters: He-normal weights [in, out] and zero biases, deterministic. */
export function mlpInit(dims: number[], seed = 100): {
  w: Float32Array<ArrayBuffer>[];
  b: Float32Array<ArrayBuffer>[];
} {
  const w: Float32Array<ArrayBuffer>[] = [];
  const b: Float32Array<ArrayBuffer>[] = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    w.push(randn(dims[i] * dims[i + 1], seed + i, Math.sqrt(2 / dims[i])));
    b.push(new Float32Array(dims[i + 1]));
  }
  return { w, b };
}

/** CPU time counters (seconds) of the whole machine and of this process, from /proc (Linux). */
export interface CpuSnapshot {
  wall: number;
  machineBusy: number;
  self: number;
}

const clockTicks = 100; // USER_HZ on Linux

/** Reads /proc/stat and /proc/self/stat; undefined where /proc is unavailable. */
export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7];
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const self = Number(fields[11]) + Number(fields[12]); // utime, stime (all threads)
    return {
      wall: performance.now() / 1000,
      machineBusy: busy / clockTicks,
      self: self / clockTicks,
    };
  } catch {
    return undefined;
  }
}

/**
 * Share of the machine's CPU capacity used by other processes between two snapshots (0..1):
 * the noise indicator of a measurement on a shared machine.
 */
export function foreignLoad(a?: CpuSnapshot, b?: CpuSnapshot): number | undefined {
  if (!a || !b || b.wall - a.wall <= 0) return undefined;
  const cores = navigator.hardwareConcurrency || 1;
  const other = (b.machineBusy - a.machineBusy) - (b.self - a.self);
  return Math.max(0, other / ((b.wall - a.wall) * cores));
}

/** Waits (at most `maxMs`) until other processes use under `threshold` of the CPUs for 1 s. */
export async function waitIdle(threshold = 0.1, maxMs = 120_000): Promise<number | undefined> {
  const end = performance.now() + maxMs;
  let load: number | undefined;
  do {
    const a = cpuSnapshot();
    await new Promise((r) => setTimeout(r, 1000));
    load = foreignLoad(a, cpuSnapshot());
    if (load === undefined || load < threshold) return load;
  } while (performance.now() < end);
  return load;
}
