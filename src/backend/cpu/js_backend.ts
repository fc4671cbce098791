/**
 * The cpu reference backend: plain TypeScript loops and generated JavaScript. It is the oracle
 * every other backend is tested against, so it favours obvious correctness over speed.
 * @module
 */

import { frameCtx } from "../codegen.ts";
import { DeviceError } from "../../errors.ts";
import { numel } from "../../ir/view.ts";
import type {
  Backend,
  BackendMemory,
  DeviceBuffer,
  EwKernel,
  Kernel,
  MatmulKernel,
  ReadRequest,
  ReduceKernel,
} from "../types.ts";
import { collapseFrame, planExpr } from "../plan.ts";
import { castJs, JsExprGen, roundEven, storeJs } from "./codegen_js.ts";
import type { CpuBuffer } from "./buffer.ts";
import { runHandKernel } from "./js_kernels.ts";

let nextBufferId = 1;

/** Largest cpu buffer: 1 Gi elements (4 GiB). */
const MAX_ELEMENTS = 1 << 30;

type CompiledFn = (
  ins: CpuBuffer[],
  out: CpuBuffer,
  W: Int32Array,
  F: Float32Array,
  roundEven: (x: number) => number,
) => void;

/** The reference cpu backend. */
export class JsBackend implements Backend {
  readonly name = "cpu" as const;
  readonly maxKernelInputs = 64;
  readonly maxBufferElements: number = MAX_ELEMENTS;
  dispatchCount = 0;
  private live = 0;
  private liveBytes = 0;
  private readonly pool = new Map<number, CpuBuffer[]>();
  private pooledBytes = 0;
  private readonly cache = new Map<string, CompiledFn>();

  alloc(n: number): CpuBuffer {
    if (n > MAX_ELEMENTS) {
      throw new DeviceError(
        `cannot allocate ${n} elements on cpu: the limit is ${MAX_ELEMENTS} elements per tensor`,
      );
    }
    const cls = sizeClass(Math.max(n, 1));
    const list = this.pool.get(cls);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= cls * 4;
    else {
      const ab = new ArrayBuffer(cls * 4);
      buf = { id: nextBufferId++, size: cls, f: new Float32Array(ab), i: new Int32Array(ab) };
    }
    this.live++;
    this.liveBytes += cls * 4;
    return buf;
  }

  free(buf: DeviceBuffer): void {
    const b = buf as CpuBuffer;
    this.live--;
    this.liveBytes -= b.size * 4;
    let list = this.pool.get(b.size);
    if (!list) this.pool.set(b.size, list = []);
    // Keep the pool bounded: big buffers beyond 4 per class go back to the GC.
    if (list.length < 4 || b.size < 65536) {
      list.push(b);
      this.pooledBytes += b.size * 4;
    }
  }

  write(buf: DeviceBuffer, data: Float32Array | Int32Array, offset = 0): void {
    const b = buf as CpuBuffer;
    if (data instanceof Float32Array) b.f.set(data, offset);
    else b.i.set(data, offset);
  }

  readSync(req: ReadRequest): Float32Array | Int32Array {
    const b = req.buf as CpuBuffer;
    const src = req.dtype === "float32" ? b.f : b.i;
    return src.slice(req.offset, req.offset + req.n);
  }

  read(reqs: readonly ReadRequest[]): Promise<(Float32Array | Int32Array)[]> {
    return Promise.resolve(reqs.map((r) => this.readSync(r)));
  }

  flush(): void {}

  sync(): Promise<void> {
    return Promise.resolve();
  }

  memory(): BackendMemory {
    return { buffers: this.live, bytes: this.liveBytes, pooledBytes: this.pooledBytes };
  }

  run(k: Kernel): void {
    this.dispatchCount++;
    switch (k.kind) {
      case "ew":
        return this.runEw(k);
      case "reduce":
        return this.runReduce(k);
      case "matmul":
        return this.runMatmul(k);
      default:
        return runHandKernel(k);
    }
  }

  private compiled(key: string, build: () => string): CompiledFn {
    let fn = this.cache.get(key);
    if (!fn) {
      const body = build();
      try {
        fn = new Function("ins", "out", "W", "F", "roundEven", body) as CompiledFn;
      } catch (e) {
        throw new DeviceError(`internal: generated JS does not compile: ${e}\n${body}`);
      }
      this.cache.set(key, fn);
    }
    return fn;
  }

  private recording: (() => void)[] | null = null;

  private call(fn: CompiledFn, ins: readonly DeviceBuffer[], out: DeviceBuffer, words: number[]) {
    const W = Int32Array.from(words);
    const F = new Float32Array(W.buffer);
    if (this.recording) {
      const args = ins as CpuBuffer[];
      this.recording.push(() => fn(args, out as CpuBuffer, W, F, roundEven));
      return;
    }
    fn(ins as CpuBuffer[], out as CpuBuffer, W, F, roundEven);
  }

  /** Plans a generated kernel once; the result calls the compiled function directly. */
  prepare(k: Kernel): () => void {
    if (k.kind !== "ew" && k.kind !== "reduce" && k.kind !== "matmul") return () => this.run(k);
    const calls: (() => void)[] = [];
    this.recording = calls;
    try {
      this.run(k);
    } finally {
      this.recording = null;
    }
    this.dispatchCount--;
    return () => {
      this.dispatchCount++;
      for (const c of calls) c();
    };
  }

  private runEw(k: EwKernel): void {
    const c = collapseFrame(k.out.view.shape, k.expr, [k.out.view]);
    const plan = planExpr(c.expr, c.shape, k.consts, c.extra);
    const n = numel(c.shape);
    const outT = k.expr.t;
    const fn = this.compiled(`ew|${plan.key}`, () => {
      const g = new JsExprGen(plan);
      const L = "L";
      const f = frameCtx(L, plan.outer);
      const v = g.value(c.expr, f);
      const outIdx = g.viewIndex(f, plan.extra[0]);
      const body = g.lines.join("\n");
      const arr = outT === "f32" ? "out.f" : "out.i";
      return `${
        inputDecls(c.expr, k.inputs.length)
      }\n${g.hoist()}\nconst N = W[${plan.words.length}];
for (let L = 0; L < N; L++) {\n${body}\n${arr}[${outIdx}] = ${storeJs(v, outT)};\n}`;
    });
    this.call(fn, k.inputs, k.out.buf, [...plan.words, n]);
  }

  private runReduce(k: ReduceKernel): void {
    const c = collapseFrame(k.frame, k.expr);
    const plan = planExpr(c.expr, c.shape, k.consts);
    const t = k.expr.t;
    const fn = this.compiled(`reduce|${k.op}|${plan.key}`, () => {
      const g = new JsExprGen(plan);
      const f = frameCtx("L", plan.outer);
      const v = g.value(c.expr, f);
      const body = g.lines.join("\n");
      const W = plan.words.length;
      const arg = k.op === "argmax" || k.op === "argmin";
      const init = k.op === "sum"
        ? "0"
        : k.op === "prod"
        ? "1"
        : k.op === "max" || k.op === "argmax"
        ? "-Infinity"
        : "Infinity";
      const val = t === "bool" ? `(${v} ? 1 : 0)` : v;
      let update: string;
      if (k.op === "sum") update = `acc += ${val};`;
      else if (k.op === "prod") update = `acc *= ${val};`;
      else if (k.op === "max") update = `{ const x = ${val}; if (x > acc || x !== x) acc = x; }`;
      else if (k.op === "min") update = `{ const x = ${val}; if (x < acc || x !== x) acc = x; }`;
      else {
        const cmp = k.op === "argmax" ? ">" : "<";
        update = `{ const x = ${val}; if ((x ${cmp} acc || (x !== x && acc === acc)) || r === 0) ` +
          `{ acc = x; best = r; } }`;
      }
      const outArr = arg || t !== "f32" ? "out.i" : "out.f";
      const result = arg ? "best" : t === "f32" ? "acc" : "(acc | 0)";
      return `${inputDecls(c.expr, k.inputs.length)}\n${g.hoist()}
const OUT = W[${W}], R = W[${W + 1}], O0 = W[${W + 2}];
for (let o = 0; o < OUT; o++) {
  let acc = ${init}; let best = 0;
  for (let r = 0; r < R; r++) {
    const L = o * R + r;
${body}
    ${update}
  }
  ${outArr}[O0 + o] = ${result};
}`;
    });
    void castJs;
    this.call(fn, k.inputs, k.out.buf, [...plan.words, k.outSize, k.reduceSize, k.out.view.offset]);
  }

  private runMatmul(k: MatmulKernel): void {
    const outShape = [...k.batch, k.m, k.n];
    const epi = k.epilogue;
    const plan = epi ? planExpr(epi, outShape, k.consts) : null;
    const key = `mm|${plan?.key ?? ""}|${k.batch.length}|${epi?.t ?? "f32"}`;
    const fn = this.compiled(key, () => {
      let epiLines = "";
      let value = "acc";
      let decl = "";
      let hoist = "";
      const outT = epi?.t ?? "f32";
      if (epi && plan) {
        const g = new JsExprGen(plan);
        const f = frameCtx("L", plan.outer);
        value = storeJs(g.value(epi, f), outT);
        epiLines = g.lines.join("\n");
        decl = inputDecls(epi, k.inputs.length);
        hoist = g.hoist();
      }
      const base = plan ? plan.words.length : 0;
      const nb = k.batch.length;
      // words after the plan: M N K, batch shape, A offset/strides (nb + 2), B same, out offset
      const lines: string[] = [];
      lines.push(`const M = W[${base}], N = W[${base + 1}], K = W[${base + 2}];`);
      let at = base + 3;
      const bshape = Array.from({ length: nb }, (_, d) => `W[${at + d}]`);
      at += nb;
      const aOff = `W[${at}]`;
      const aStr = Array.from({ length: nb + 2 }, (_, d) => `W[${at + 1 + d}]`);
      at += nb + 3;
      const bOff = `W[${at}]`;
      const bStr = Array.from({ length: nb + 2 }, (_, d) => `W[${at + 1 + d}]`);
      at += nb + 3;
      const oOff = `W[${at}]`;
      lines.push(`const A = ins.a.f, B = ins.b.f;`);
      lines.push(`const as_m = ${aStr[nb]}, as_k = ${aStr[nb + 1]};`);
      lines.push(`const bs_k = ${bStr[nb]}, bs_n = ${bStr[nb + 1]};`);
      lines.push(`let nbatch = 1; ${bshape.map((s) => `nbatch *= ${s};`).join(" ")}`);
      lines.push(`for (let bi = 0; bi < nbatch; bi++) {`);
      lines.push(`let rem = bi, ao = ${aOff}, bo = ${bOff};`);
      for (let d = nb - 1; d >= 0; d--) {
        lines.push(
          `{ const c = rem % ${bshape[d]}; rem = Math.floor(rem / ${bshape[d]}); ` +
            `ao += c * ${aStr[d]}; bo += c * ${bStr[d]}; }`,
        );
      }
      lines.push(`for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {`);
      lines.push(`let acc = 0; let pa = ao + i * as_m, pb = bo + j * bs_n;`);
      lines.push(
        `for (let kk = 0; kk < K; kk++) { acc += A[pa] * B[pb]; pa += as_k; pb += bs_k; }`,
      );
      lines.push(`const L = (bi * M + i) * N + j;`);
      lines.push(epiLines);
      lines.push(`${outT === "f32" ? "out.f" : "out.i"}[${oOff} + L] = ${value};`);
      lines.push(`}}`);
      return `${decl}\n${hoist}\n${lines.join("\n")}`;
    });
    const words = plan ? [...plan.words] : [];
    words.push(k.m, k.n, k.k, ...k.batch);
    words.push(k.a.view.offset, ...k.a.view.strides);
    words.push(k.b.view.offset, ...k.b.view.strides);
    words.push(k.out.view.offset);
    const ins = Object.assign([...k.inputs], { a: k.a.buf, b: k.b.buf });
    this.call(fn, ins, k.out.buf, words);
  }
}

function inputDecls(expr: import("../../ir/expr.ts").Expr, n: number): string {
  // Each input is read with one type; find it from the loads.
  const types = new Array<string>(n).fill("f");
  const seen = new Set<unknown>();
  const walk = (e: import("../../ir/expr.ts").Expr) => {
    if (seen.has(e)) return;
    seen.add(e);
    switch (e.k) {
      case "load":
        types[e.input] = e.t === "f32" ? "f" : "i";
        return;
      case "un":
      case "cast":
        walk(e.a);
        return;
      case "bin":
        walk(e.a);
        walk(e.b);
        return;
      case "call":
        e.args.forEach(walk);
        return;
      case "frame":
        walk(e.body);
        return;
    }
  };
  walk(expr);
  return types.map((t, i) => `const in${i} = ins[${i}].${t};`).join("\n");
}

function sizeClass(n: number): number {
  // Powers of two up to 4096 elements, then steps of 1/8 of the power of two.
  if (n <= 4096) return 1 << Math.ceil(Math.log2(n));
  const p = 1 << (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / p) * p;
}

export { sizeClass };
