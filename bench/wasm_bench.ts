/**
 * The wasm cpu backend against the reference TypeScript backend, same machine, one run:
 * matmul 256/512/1024 (plain, A^T B, A B^T; two threads and one), a chain of 8 elementwise ops
 * on 1M elements, softmax 1024x1024, layerNorm 4096x512, conv2d 16x3x64x64 -> 32 channels
 * (k4 s2 p1) forward and weight gradient, random numbers (1M uniform / normal). After the run a table of median times (and GFLOP/s)
 * is printed; timings on a shared 2-core machine are noisy, so compare medians.
 *
 *   deno bench -A --no-check bench/wasm_bench.ts
 * @module
 */

import { tensor } from "../src/tensor/creation.ts";
import { conv2d, layerNorm } from "../src/tensor/functional.ts";
import { rand, randn } from "../src/tensor/random.ts";
import type { Tensor } from "../src/tensor/tensor.ts";
import { setCpuBackend } from "../src/backend/device.ts";
import { JsBackend } from "../src/backend/cpu/js_backend.ts";
import { WasmBackend } from "../src/backend/wasm/backend.ts";
import type { Backend, ConvKernel, DeviceBuffer } from "../src/backend/types.ts";
import { contiguousView } from "../src/ir/view.ts";

const BACKENDS: Record<string, Backend> = {
  wasm: new WasmBackend(),
  "wasm 1 thread": new WasmBackend(1),
  reference: new JsBackend(),
};

function data(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return a;
}

interface Row {
  readonly workload: string;
  readonly backend: string;
  readonly flops: number;
  readonly ms: number[];
}
const rows: Row[] = [];

/**
 * Registers a benchmark: `setup` runs once per backend (with that backend serving the cpu
 * device) and returns the timed work.
 */
function bench(
  workload: string,
  backendNames: string[],
  setup: (be: Backend) => () => void,
  opts: { flops?: number; refN?: number } = {},
): void {
  for (const name of backendNames) {
    const be = BACKENDS[name];
    const row: Row = { workload, backend: name, flops: opts.flops ?? 0, ms: [] };
    rows.push(row);
    let work: (() => void) | null = null;
    const slow = name === "reference";
    Deno.bench({
      name: `${workload} [${name}]`,
      group: workload,
      baseline: name === "wasm",
      n: slow ? opts.refN ?? 5 : undefined,
      warmup: slow ? 1 : undefined,
      fn: (b) => {
        const prev = setCpuBackend(be);
        try {
          work ??= setup(be);
          b.start();
          const t0 = performance.now();
          work();
          row.ms.push(performance.now() - t0);
          b.end();
        } finally {
          setCpuBackend(prev);
        }
      },
    });
  }
}

/** Realizes a tensor-valued computation and frees the result. */
const realizing = (f: () => Tensor) => () => {
  const y = f().realize();
  y.dispose();
};

const ALL = ["wasm", "wasm 1 thread", "reference"];
const FAST = ["wasm", "reference"];

for (const n of [256, 512, 1024]) {
  const a = data(n * n, 1), b = data(n * n, 2);
  const flops = 2 * n * n * n;
  const refN = n >= 1024 ? 1 : n >= 512 ? 2 : 5;
  bench(`matmul ${n}`, ALL, () => {
    const A = tensor(a, [n, n]).realize(), B = tensor(b, [n, n]).realize();
    return realizing(() => A.matmul(B));
  }, { flops, refN });
  bench(`matmul ${n} A^T B`, ALL, () => {
    const A = tensor(a, [n, n]).realize(), B = tensor(b, [n, n]).realize();
    return realizing(() => A.transpose().matmul(B));
  }, { flops, refN });
  bench(`matmul ${n} A B^T`, ALL, () => {
    const A = tensor(a, [n, n]).realize(), B = tensor(b, [n, n]).realize();
    return realizing(() => A.matmul(B.transpose()));
  }, { flops, refN });
}

const M = 1 << 20;
const ea = data(M, 3, 2), eb = data(M, 4, 2);
bench("elementwise chain of 8 ops, 1M", FAST, () => {
  const x = tensor(ea, [1024, 1024]).realize(), y = tensor(eb, [1024, 1024]).realize();
  // mul, add, exp, tanh, mul, sub, sigmoid, sqrt: one fused kernel
  return realizing(() => x.mul(y).add(1).exp().tanh().mul(x).sub(y).sigmoid().sqrt());
});

bench("softmax 1024x1024", FAST, () => {
  const x = tensor(data(M, 5, 4), [1024, 1024]).realize();
  return realizing(() => x.softmax(-1));
});

bench("layerNorm 4096x512", FAST, () => {
  const x = tensor(data(4096 * 512, 6, 3), [4096, 512]).realize();
  const w = tensor(data(512, 7), [512]).realize(), bias = tensor(data(512, 8), [512]).realize();
  return realizing(() => layerNorm(x, w, bias));
});

bench("randn 1M (threefry + Box-Muller)", FAST, () => {
  let seed = 1;
  return realizing(() => randn([1024, 1024], { seed: seed++ }));
}, { refN: 3 });

bench("rand 1M", FAST, () => {
  let seed = 1;
  return realizing(() => rand([1024, 1024], { seed: seed++ }));
}, { refN: 3 });

const conv = { n: 16, cin: 3, h: 64, w: 64, cout: 32, k: 4, stride: 2, padding: 1 };
const convOut = 32;
const convFlops = 2 * conv.n * conv.cout * convOut * convOut * conv.cin * conv.k * conv.k;
const cx = data(conv.n * conv.cin * conv.h * conv.w, 9);
const cw = data(conv.cout * conv.cin * conv.k * conv.k, 10, 0.3);
const cdy = data(conv.n * conv.cout * convOut * convOut, 11);

bench("conv2d 16x3x64x64 -> 32 k4 s2 p1, forward", FAST, () => {
  const x = tensor(cx, [conv.n, conv.cin, conv.h, conv.w]).realize();
  const w = tensor(cw, [conv.cout, conv.cin, conv.k, conv.k]).realize();
  return realizing(() => conv2d(x, w, { stride: conv.stride, padding: conv.padding }));
}, { flops: convFlops, refN: 3 });

bench("conv2d 16x3x64x64 -> 32 k4 s2 p1, weight grad", FAST, (be) => {
  // the weight-gradient kernel alone: dW = sum_b dy_b @ im2col(x_b)^T
  const buf = (d: Float32Array): DeviceBuffer => {
    const bb = be.alloc(d.length);
    be.write(bb, d);
    return bb;
  };
  const x = buf(cx), dy = buf(cdy), dw = be.alloc(cw.length);
  const k: ConvKernel = {
    kind: "conv",
    mode: "conv2dWeightGrad",
    geom: { ...conv, outH: convOut, outW: convOut, kh: conv.k, kw: conv.k },
    x: { buf: x, view: contiguousView([conv.n, conv.cin, conv.h, conv.w]) },
    w: { buf: dy, view: contiguousView([conv.n, conv.cout, convOut, convOut]) },
    bias: null,
    out: { buf: dw, view: contiguousView([conv.cout, conv.cin, conv.k, conv.k]) },
  };
  return () => be.run(k);
}, { flops: convFlops, refN: 3 });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
}

addEventListener("unload", () => {
  const lines = ["", "median times (ms), GFLOP/s where it applies, speedup vs the reference:"];
  const refOf = new Map(rows.filter((r) => r.backend === "reference").map((r) => [r.workload, r]));
  for (const r of rows) {
    if (!r.ms.length) continue;
    const ms = median(r.ms);
    const gf = r.flops ? `${(r.flops / ms / 1e6).toFixed(1).padStart(7)} GFLOP/s` : "".padEnd(15);
    const ref = refOf.get(r.workload);
    const sp = ref && ref !== r && ref.ms.length ? `x${(median(ref.ms) / ms).toFixed(1)}` : "";
    lines.push(
      `  ${r.workload.padEnd(44)} ${r.backend.padEnd(14)} ${ms.toFixed(3).padStart(10)} ms ` +
        `${gf} ${sp}`,
    );
  }
  console.log(lines.join("\n"));
  for (const be of Object.values(BACKENDS)) {
    if (be instanceof WasmBackend) be.threads.close();
  }
});
