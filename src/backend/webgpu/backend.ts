/**
 * The WebGPU backend: WGSL kernels recorded into one command encoder and submitted on read.
 *
 * - Buffers come from a pool by size class and are bound whole; every kernel reads its element
 *   offsets and strides from uniform words, so any view of any buffer can be an operand.
 * - Uniform words of all dispatches of a batch go into one uniform buffer written once per
 *   submit; bind groups use a dynamic offset and are cached by (layout, buffers).
 * - Pipelines are compiled once per kernel specialisation (structural key, not shapes).
 * - Nothing waits for the GPU until a value is read; WGSL compile and validation errors are
 *   collected and thrown (with the compiler's message and the source) at the next read/sync.
 * @module
 */

import { frameCtx } from "../codegen.ts";
import { DeviceError, KernelError } from "../../errors.ts";
import { numel } from "../../ir/view.ts";
import { registerWebGPUFactory } from "../device.ts";
import { collapseFrame, f32Bits, planExpr } from "../plan.ts";
import { sizeClass } from "../cpu/js_backend.ts";
import type {
  Backend,
  BackendMemory,
  DeviceBuffer,
  EwKernel,
  Kernel,
  MatmulKernel,
  NormKernel,
  ReadRequest,
  ReduceKernel,
  RngKernel,
  SoftmaxKernel,
} from "../types.ts";
import { isFallback, limitsToRequest, requestAdapter, WANTED_FEATURES } from "./adapter.ts";
import {
  castWgsl,
  f32Lit,
  fillTemplate,
  inputTypes,
  storageType,
  storeWgsl,
  WGSL_PRELUDE,
  WgslExprGen,
} from "./codegen_wgsl.ts";
import type { CompiledKernel, KernelHost } from "./kernel_host.ts";
import { runExtraKernel } from "./kernels_extra.ts";
import elementwiseTpl from "../../../kernels/elementwise.wgsl" with { type: "text" };
import reduceTpl from "../../../kernels/reduce.wgsl" with { type: "text" };
import matmulTpl from "../../../kernels/matmul.wgsl" with { type: "text" };
import matmulInnerGeneric from "../../../kernels/matmul_inner_generic.wgsl" with { type: "text" };
import matmulInnerVec4 from "../../../kernels/matmul_inner_vec4.wgsl" with { type: "text" };
import matmulInnerVec4NT from "../../../kernels/matmul_inner_vec4_nt.wgsl" with { type: "text" };
import matmulInnerVec4TN from "../../../kernels/matmul_inner_vec4_tn.wgsl" with { type: "text" };
import softmaxSrc from "../../../kernels/softmax.wgsl" with { type: "text" };
import normSrc from "../../../kernels/norm.wgsl" with { type: "text" };
import rngSrc from "../../../kernels/rng.wgsl" with { type: "text" };

/** A WebGPU buffer handed out by the pool. */
export interface GpuBuffer extends DeviceBuffer {
  readonly gpu: GPUBuffer;
}

let nextId = 1;

/** A dispatch captured by `prepare`. */
interface RecordedDispatch {
  readonly k: CompiledKernel;
  readonly buffers: DeviceBuffer[];
  readonly words: Uint32Array;
  readonly x: number;
  readonly y: number;
  readonly z: number;
  bg: GPUBindGroup | null;
}

/** Bytes of the uniform binding of a kernel reading `words` parameter words. */
function uniformBytesOf(words: number): number {
  return Math.max(1, Math.ceil(words / 4)) * 16;
}

const UNIFORM_CAPACITY = 1 << 20; // bytes per batch before an automatic submit

/** The WebGPU backend. */
export class WebGPUBackend implements Backend, KernelHost {
  readonly name = "webgpu" as const;
  readonly maxKernelInputs: number;
  readonly maxBufferElements: number;
  dispatchCount = 0;
  /** Submits so far (tests check that a step is one submit). */
  submitCount = 0;
  /** One line describing the adapter. */
  readonly adapterSummary: string;
  /** True for software adapters (llvmpipe, SwiftShader, ...). */
  readonly isFallbackAdapter: boolean;
  readonly features: ReadonlySet<string>;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformAlign: number;
  private readonly uniformBuf: GPUBuffer;
  private readonly uniformData = new Uint32Array(UNIFORM_CAPACITY / 4);
  private uniformUsed = 0;
  private readonly pool = new Map<number, GpuBuffer[]>();
  private live = 0;
  private liveBytes = 0;
  private pooledBytes = 0;
  private readonly pipelines = new Map<string, CompiledKernel>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pipelineLayouts = new Map<string, GPUPipelineLayout>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly pendingChecks: Promise<void>[] = [];
  private readonly errors: Error[] = [];
  private readonly maxGroupsPerDim: number;
  private readonly staging = new Map<number, GPUBuffer[]>();

  constructor(readonly device: GPUDevice, adapter: GPUAdapter) {
    const lim = device.limits;
    this.maxKernelInputs = Math.max(4, lim.maxStorageBuffersPerShaderStage - 1);
    this.maxBufferElements = Math.floor(
      Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize) / 4,
    );
    this.maxGroupsPerDim = lim.maxComputeWorkgroupsPerDimension;
    this.uniformAlign = Math.max(16, lim.minUniformBufferOffsetAlignment);
    this.uniformBuf = device.createBuffer({
      size: UNIFORM_CAPACITY,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const info = adapter.info;
    this.isFallbackAdapter = isFallback(adapter);
    this.features = new Set([...device.features] as string[]);
    this.adapterSummary = `${info.description || info.device || "unknown adapter"}${
      info.vendor ? `, vendor ${info.vendor}` : ""
    }${this.isFallbackAdapter ? ", software fallback" : ""}`;
    device.addEventListener("uncapturederror", (e) => {
      this.errors.push(
        new KernelError(`WebGPU error: ${(e as GPUUncapturedErrorEvent).error.message}`),
      );
    });
    device.lost.then((info) => {
      if (info.reason !== "destroyed") {
        this.errors.push(new DeviceError(`the WebGPU device was lost: ${info.message}`));
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Buffers
  // -------------------------------------------------------------------------------------------

  alloc(n: number): GpuBuffer {
    if (n > this.maxBufferElements) {
      const mib = (n * 4 / 2 ** 20).toFixed(1);
      const lim = (this.maxBufferElements * 4 / 2 ** 20).toFixed(0);
      throw new DeviceError(
        `a tensor of ${n} elements (${mib} MiB) exceeds this WebGPU device's ${lim} MiB storage ` +
          `binding limit (maxStorageBufferBindingSize); split it along an axis, or use the cpu device`,
      );
    }
    const cls = Math.min(sizeClass(Math.max(n, 4)), this.maxBufferElements);
    const list = this.pool.get(cls);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= cls * 4;
    else {
      const gpu = this.device.createBuffer({
        size: cls * 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      buf = { id: nextId++, size: cls, gpu };
    }
    this.live++;
    this.liveBytes += cls * 4;
    return buf;
  }

  free(b: DeviceBuffer): void {
    const buf = b as GpuBuffer;
    this.live--;
    this.liveBytes -= buf.size * 4;
    let list = this.pool.get(buf.size);
    if (!list) this.pool.set(buf.size, list = []);
    list.push(buf);
    this.pooledBytes += buf.size * 4;
  }

  /** Destroys pooled buffers (and the bind groups that reference them). */
  trim(): void {
    this.flush();
    for (const [, list] of this.pool) for (const b of list) b.gpu.destroy();
    this.pool.clear();
    this.pooledBytes = 0;
    this.bindGroups.clear();
  }

  write(b: DeviceBuffer, data: Float32Array | Int32Array, offset = 0): void {
    // Recorded work may still read this (pooled) buffer's old contents: submit it first.
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(
      (b as GpuBuffer).gpu,
      offset * 4,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  async read(reqs: readonly ReadRequest[]): Promise<(Float32Array | Int32Array)[]> {
    const total = reqs.reduce((s, r) => s + r.n, 0);
    if (total === 0) {
      return reqs.map((r) => (r.dtype === "float32" ? new Float32Array(0) : new Int32Array(0)));
    }
    const size = sizeClass(total) * 4;
    const staging = this.staging.get(size)?.pop() ?? this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.endPass();
    const enc = this.encoder ?? this.device.createCommandEncoder();
    this.encoder = enc;
    let at = 0;
    for (const r of reqs) {
      if (r.n > 0) {
        enc.copyBufferToBuffer((r.buf as GpuBuffer).gpu, r.offset * 4, staging, at * 4, r.n * 4);
      }
      at += r.n;
    }
    this.flush();
    await this.checkErrors();
    await staging.mapAsync(GPUMapMode.READ, 0, total * 4);
    const src = staging.getMappedRange(0, total * 4);
    const out: (Float32Array | Int32Array)[] = [];
    at = 0;
    for (const r of reqs) {
      const bytes = src.slice(at * 4, (at + r.n) * 4);
      out.push(r.dtype === "float32" ? new Float32Array(bytes) : new Int32Array(bytes));
      at += r.n;
    }
    staging.unmap();
    let list = this.staging.get(size);
    if (!list) this.staging.set(size, list = []);
    if (list.length < 4) list.push(staging);
    else staging.destroy();
    await this.checkErrors();
    return out;
  }

  memory(): BackendMemory {
    return { buffers: this.live, bytes: this.liveBytes, pooledBytes: this.pooledBytes };
  }

  // -------------------------------------------------------------------------------------------
  // Submission
  // -------------------------------------------------------------------------------------------

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  flush(): void {
    this.endPass();
    if (!this.encoder) return;
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(
        this.uniformBuf,
        0,
        this.uniformData.buffer,
        0,
        this.uniformUsed,
      );
      this.uniformUsed = 0;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.submitCount++;
    this.encoder = null;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  private async checkErrors(): Promise<void> {
    if (this.pendingChecks.length) {
      const checks = this.pendingChecks.splice(0);
      await Promise.all(checks);
    }
    if (this.errors.length) {
      const errs = this.errors.splice(0);
      throw errs[0];
    }
  }

  // -------------------------------------------------------------------------------------------
  // Pipelines and dispatch
  // -------------------------------------------------------------------------------------------

  /**
   * The bind group layout for a binding pattern and uniform size. The uniform's size is part of
   * the layout (`minBindingSize`): wgpu's late size check otherwise keeps a previous pipeline's
   * sizes when consecutive pipelines in one pass share a layout.
   */
  private bindGroupLayout(pattern: string, uniformBytes: number): GPUBindGroupLayout {
    const key = `${pattern}|${uniformBytes}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: uniformBytes },
      }];
      for (let i = 0; i < pattern.length; i++) {
        entries.push({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: pattern[i] === "w" ? "storage" : "read-only-storage" },
        });
      }
      l = this.device.createBindGroupLayout({ entries });
      this.layouts.set(key, l);
    }
    return l;
  }

  /**
   * Returns the compiled kernel for `key`, building its source with `source()` on a miss.
   * `pattern` gives the access of bindings 1.. ("w" read_write, "r" read).
   */
  compile(
    key: string,
    pattern: string,
    words: number,
    source: () => string,
    entry = "main",
  ): CompiledKernel {
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const code = WGSL_PRELUDE + source();
    const bytes = uniformBytesOf(words);
    const plKey = `${pattern}|${bytes}`;
    let pl = this.pipelineLayouts.get(plKey);
    if (!pl) {
      pl = this.device.createPipelineLayout({
        bindGroupLayouts: [this.bindGroupLayout(pattern, bytes)],
      });
      this.pipelineLayouts.set(plKey, pl);
    }
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code, label: key.slice(0, 64) });
    const pipeline = this.device.createComputePipeline({
      layout: pl,
      compute: { module, entryPoint: entry },
      label: key.slice(0, 64),
    });
    this.pendingChecks.push(
      this.device.popErrorScope().then((err) => {
        if (err) {
          this.pipelines.delete(key);
          this.errors.push(
            new KernelError(
              `WGSL kernel failed to compile: ${err.message}\n--- source ---\n${code}`,
            ),
          );
        }
      }),
    );
    const k = { pipeline, pattern, words };
    this.pipelines.set(key, k);
    return k;
  }

  /** Records one dispatch of `k` over `groups` workgroups (split into x/y as needed). */
  dispatch(
    k: CompiledKernel,
    buffers: readonly DeviceBuffer[],
    words: ArrayLike<number>,
    groups: number,
    z = 1,
  ): void {
    if (groups === 0 || z === 0) return;
    const maxd = this.maxGroupsPerDim;
    const x = Math.min(groups, maxd);
    const y = Math.ceil(groups / x);
    if (y > maxd) {
      throw new DeviceError(
        `a kernel needs ${groups} workgroups, more than this device can launch`,
      );
    }
    this.dispatch3(k, buffers, words, x, y, z);
  }

  /** Records one dispatch with explicit x/y/z workgroup counts. */
  dispatch3(
    k: CompiledKernel,
    buffers: readonly DeviceBuffer[],
    words: ArrayLike<number>,
    x: number,
    y: number,
    z: number,
  ): void {
    if (x === 0 || y === 0 || z === 0) return;
    const bytes = uniformBytesOf(k.words);
    const vec4s = bytes / 16;
    if (this.uniformUsed + bytes > UNIFORM_CAPACITY) this.flush();
    const off = this.uniformUsed;
    this.uniformData.fill(0, off / 4, off / 4 + vec4s * 4);
    for (let i = 0; i < words.length; i++) this.uniformData[off / 4 + i] = words[i];
    this.uniformUsed = Math.ceil((off + bytes) / this.uniformAlign) * this.uniformAlign;
    const bg = this.bindGroup(k.pattern, bytes, buffers);
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, bg, [off]);
    this.pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  private bindGroup(
    pattern: string,
    uniformBytes: number,
    buffers: readonly DeviceBuffer[],
  ): GPUBindGroup {
    let key = `${pattern}|${uniformBytes}`;
    for (const b of buffers) key += `|${b.id}`;
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 8192) this.bindGroups.clear();
      const entries: GPUBindGroupEntry[] = [{
        binding: 0,
        resource: { buffer: this.uniformBuf, size: uniformBytes },
      }];
      buffers.forEach((b, i) =>
        entries.push({ binding: i + 1, resource: { buffer: (b as GpuBuffer).gpu } })
      );
      bg = this.device.createBindGroup({
        layout: this.bindGroupLayout(pattern, uniformBytes),
        entries,
      });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  // -------------------------------------------------------------------------------------------
  // Kernels
  // -------------------------------------------------------------------------------------------

  run(k: Kernel): void {
    switch (k.kind) {
      case "ew":
        return this.runEw(k);
      case "reduce":
        return this.runReduce(k);
      case "matmul":
        return this.runMatmul(k);
      case "softmax":
        return this.runSoftmax(k);
      case "norm":
        return this.runNorm(k);
      case "rng":
        return this.runRng(k);
      default:
        return runExtraKernel(this, k);
    }
  }

  private inputBindings(types: string[], first: number): string {
    return types.map((t, i) =>
      `@group(0) @binding(${first + i}) var<storage, read> in${i}: array<${t}>;`
    ).join("\n");
  }

  private runEw(k: EwKernel): void {
    const c = collapseFrame(k.out.view.shape, k.expr, [k.out.view]);
    const plan = planExpr(c.expr, c.shape, k.consts, c.extra);
    const n = numel(c.shape);
    if (n === 0) return;
    const outT = k.expr.t;
    const nw = plan.words.length + 1;
    const key = `ew|${outT}|${k.inputs.length}|${plan.key}`;
    const ck = this.compile(key, "w" + "r".repeat(k.inputs.length), nw, () => {
      const g = new WgslExprGen(plan);
      const f = frameCtx("L", plan.outer);
      const v = g.value(c.expr, f);
      const outIdx = g.viewIndex(f, plan.extra[0]);
      const types = inputTypes(c.expr, k.inputs.length).map(storageType);
      return fillTemplate(elementwiseTpl, {
        NW: String(Math.max(1, Math.ceil(nw / 4))),
        OUTT: storageType(outT),
        BINDINGS: this.inputBindings(types, 2),
        NQ: String(plan.words.length >> 2),
        NR: String(plan.words.length & 3),
        HOIST: g.hoist(),
        BODY: g.lines.join("\n  "),
        OUTIDX: outIdx,
        VALUE: storeWgsl(v, outT),
      });
    });
    const words = [...plan.words, n];
    this.dispatch(ck, [k.out.buf, ...k.inputs], words, Math.ceil(n / 64));
  }

  private runReduce(k: ReduceKernel): void {
    if (k.outSize === 0) return;
    const c = collapseFrame(k.frame, k.expr);
    const plan = planExpr(c.expr, c.shape, k.consts);
    const t = k.expr.t;
    const arg = k.op === "argmax" || k.op === "argmin";
    const accT = t === "f32" ? "f32" : "i32";
    const perWorkgroup = k.reduceSize >= 128 && k.outSize < 16384;
    const W = plan.words.length;
    const key = `reduce|${k.op}|${t}|${perWorkgroup}|${k.inputs.length}|${plan.key}`;
    const ck = this.compile(key, "w" + "r".repeat(k.inputs.length), W + 3, () => {
      const g = new WgslExprGen(plan);
      const f = frameCtx("L", plan.outer);
      const v = castWgsl(g.value(c.expr, f), t, accT === "f32" ? "f32" : "i32");
      const types = inputTypes(c.expr, k.inputs.length).map(storageType);
      const big = accT === "f32" ? f32Lit(Infinity) : "2147483647i";
      const small = accT === "f32" ? f32Lit(-Infinity) : "(-2147483647i - 1i)";
      const init = k.op === "sum"
        ? (accT === "f32" ? "0.0f" : "0i")
        : k.op === "prod"
        ? (accT === "f32" ? "1.0f" : "1i")
        : k.op === "max" || k.op === "argmax"
        ? small
        : big;
      let update: string;
      let combine: string;
      switch (k.op) {
        case "sum":
          update = "acc = acc + v;";
          combine = "return vec2<u32>(0u, 0u);";
          break;
        case "prod":
          update = "acc = acc * v;";
          combine = "return vec2<u32>(0u, 0u);";
          break;
        case "max":
          update = "acc = max(acc, v);";
          combine = "return vec2<u32>(0u, 0u);";
          break;
        case "min":
          update = "acc = min(acc, v);";
          combine = "return vec2<u32>(0u, 0u);";
          break;
        default: {
          const cmp = k.op === "argmax" ? ">" : "<";
          update = `if (r == ${
            perWorkgroup ? "lid" : "0u"
          } || v ${cmp} acc) { acc = v; best = r; }`;
          combine =
            `if (b ${cmp} a || (b == a && ib < ia)) { return vec2<u32>(1u, ib); } return vec2<u32>(0u, ia);`;
        }
      }
      // Tree steps combine partial accumulators with the same operator.
      if (k.op === "sum") combine = "return vec2<u32>(0u, 0u);";
      const treeCombine = k.op === "sum"
        ? "sacc[lid] = sacc[lid] + sacc[lid + s];"
        : k.op === "prod"
        ? "sacc[lid] = sacc[lid] * sacc[lid + s];"
        : k.op === "max"
        ? "sacc[lid] = max(sacc[lid], sacc[lid + s]);"
        : k.op === "min"
        ? "sacc[lid] = min(sacc[lid], sacc[lid + s]);"
        : null;
      let src = fillTemplate(reduceTpl, {
        NW: String(Math.max(1, Math.ceil((W + 3) / 4))),
        OUTT: arg ? "i32" : storageType(accT === "f32" ? "f32" : "i32"),
        BINDINGS: this.inputBindings(types, 2),
        ACCT: accT,
        COMBINE: combine,
        OQ: String(W >> 2),
        OR: String(W & 3),
        RQ: String((W + 1) >> 2),
        RR: String((W + 1) & 3),
        FQ: String((W + 2) >> 2),
        FR: String((W + 2) & 3),
        HOIST: g.hoist(),
        INIT: init,
        BODY: g.lines.join("\n    "),
        VALUE: v,
        UPDATE: update,
        RESULT: arg ? "i32(best)" : "acc",
      });
      if (treeCombine) {
        // Plain reductions fold partials directly instead of picking one.
        src = src.replace(
          /let c = combine\(sacc\[lid\], sidx\[lid\], sacc\[lid \+ s\], sidx\[lid \+ s\]\);\s*if \(c\.x == 1u\) \{\s*sacc\[lid\] = sacc\[lid \+ s\];\s*sidx\[lid\] = c\.y;\s*\}/,
          treeCombine,
        );
      }
      return src;
    }, perWorkgroup ? "per_workgroup" : "per_thread");
    const words = [...plan.words, k.outSize, k.reduceSize, k.out.view.offset];
    const groups = perWorkgroup ? k.outSize : Math.ceil(k.outSize / 64);
    this.dispatch(ck, [k.out.buf, ...k.inputs], words, groups);
  }

  private runMatmul(k: MatmulKernel): void {
    const { m, n } = k;
    if (m === 0 || n === 0) return;
    // Collapse batch axes that every operand (and the contiguous output) can merge.
    let batch = [...k.batch];
    let sa = [...k.a.view.strides.slice(0, batch.length)];
    let sb = [...k.b.view.strides.slice(0, batch.length)];
    {
      const nb: number[] = [], na: number[] = [], nbb: number[] = [];
      for (let d = 0; d < batch.length; d++) {
        if (batch[d] === 1) continue;
        const last = nb.length - 1;
        if (last >= 0 && na[last] === sa[d] * batch[d] && nbb[last] === sb[d] * batch[d]) {
          nb[last] *= batch[d];
          na[last] = sa[d];
          nbb[last] = sb[d];
        } else {
          nb.push(batch[d]);
          na.push(sa[d]);
          nbb.push(sb[d]);
        }
      }
      batch = nb;
      sa = na;
      sb = nbb;
    }
    if (batch.length > 4) {
      throw new DeviceError(
        `matmul: at most 4 independent batch axes are supported, got ${batch.length}`,
      );
    }
    while (batch.length < 4) {
      batch.unshift(1);
      sa.unshift(0);
      sb.unshift(0);
    }
    const nbatch = batch.reduce((a, b) => a * b, 1);
    if (nbatch === 0) return;
    const r = k.a.view.strides.length;
    const [sam, sak] = [k.a.view.strides[r - 2], k.a.view.strides[r - 1]];
    const [sbk, sbn] = [k.b.view.strides[r - 2], k.b.view.strides[r - 1]];
    const outShape = [...k.batch, m, n];
    const plan = k.epilogue ? planExpr(k.epilogue, outShape, k.consts) : null;
    const outT = k.epilogue?.t ?? "f32";
    const variant = this.matmulVariant(k, sam, sak, sbk, sbn, sa, sb);
    const nw = 24 + (plan ? plan.words.length : 0);
    const key = `mm|${variant}|${outT}|${k.inputs.length}|${plan?.key ?? "-"}`;
    const ck = this.compile(key, "wrr" + "r".repeat(k.inputs.length), nw, () => {
      let hoist = "", body = "", value = "acc";
      let types: string[] = [];
      if (k.epilogue && plan) {
        const g = new WgslExprGen(plan);
        const f = frameCtx("L", plan.outer);
        value = storeWgsl(g.value(k.epilogue, f), outT);
        hoist = g.hoist(24);
        body = g.lines.join("\n  ");
        types = inputTypes(k.epilogue, k.inputs.length).map(storageType);
      }
      return fillTemplate(matmulTpl, {
        NW: String(Math.ceil(nw / 4)),
        OUTT: storageType(outT),
        OUTV: storageType(outT),
        AT: variant === "generic" ? "f32" : "vec4<f32>",
        BT: variant === "generic" ? "f32" : "vec4<f32>",
        BINDINGS: this.inputBindings(types, 4),
        HOIST: hoist,
        BODY: body,
        VALUE: value,
        INNER: variant === "vec4"
          ? matmulInnerVec4
          : variant === "vec4nt"
          ? matmulInnerVec4NT
          : variant === "vec4tn"
          ? matmulInnerVec4TN
          : matmulInnerGeneric,
      });
    });
    const words = new Array<number>(nw).fill(0);
    words[0] = m;
    words[1] = n;
    words[2] = k.k;
    words[3] = nbatch;
    for (let d = 0; d < 4; d++) {
      words[4 + d] = batch[d];
      words[8 + d] = sa[d];
      words[15 + d] = sb[d];
    }
    words[12] = sam;
    words[13] = sak;
    words[14] = k.a.view.offset;
    words[19] = sbk;
    words[20] = sbn;
    words[21] = k.b.view.offset;
    words[22] = k.out.view.offset;
    if (variant !== "generic") {
      // vec4 arrays index in units of 4 floats (the alignment checks made these exact)
      for (const i of [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]) words[i] /= 4;
      // the unit stride of each operand stays implicit in its inner loop
      if (variant === "vec4") words[13] = sak;
      if (variant === "vec4") words[20] = sbn;
    }
    if (plan) plan.words.forEach((w, i) => (words[24 + i] = w));
    const gx = Math.ceil(n / 32);
    const gy = Math.ceil(m / 32);
    const gz = Math.min(nbatch, this.maxGroupsPerDim);
    if (gx > this.maxGroupsPerDim || gy > this.maxGroupsPerDim) {
      throw new DeviceError(`matmul of ${m}x${n} is too large for one dispatch on this device`);
    }
    this.dispatch3(ck, [k.out.buf, k.a.buf, k.b.buf, ...k.inputs], words, gx, gy, gz);
  }

  /**
   * Picks the matmul inner loop. vec4 variants read operands as vec4 along their contiguous
   * axis with no bounds checks in the k loop: `vec4` (A k-contiguous, B n-contiguous), `vec4nt`
   * (B^T: both k-contiguous), `vec4tn` (A^T: A m-contiguous, B n-contiguous). Every other stride
   * and offset must be a multiple of 4 (and the dimensions the loop steps over).
   */
  private matmulVariant(
    k: MatmulKernel,
    sam: number,
    sak: number,
    sbk: number,
    sbn: number,
    sa: number[],
    sb: number[],
  ): "vec4" | "vec4nt" | "vec4tn" | "generic" {
    const al = (x: number) => x % 4 === 0;
    const common = al(k.a.view.offset) && al(k.b.view.offset) && sa.every(al) && sb.every(al);
    if (!common || k.m === 0) return "generic";
    if (sak === 1 && sbn === 1 && al(k.k) && al(k.n) && al(sam) && al(sbk)) return "vec4";
    if (sak === 1 && sbk === 1 && k.k > 1 && k.n > 1 && al(k.k) && al(sam) && al(sbn)) {
      return "vec4nt";
    }
    if (sam === 1 && sbn === 1 && k.m > 1 && al(k.m) && al(k.n) && al(sak) && al(sbk)) {
      return "vec4tn";
    }
    return "generic";
  }

  private runSoftmax(k: SoftmaxKernel): void {
    if (k.rows === 0) return;
    const perThread = k.cols <= 64;
    const ck = this.compile(
      `softmax|${perThread}`,
      "wr",
      5,
      () => softmaxSrc,
      perThread ? "per_thread" : "per_workgroup",
    );
    const mode = k.mode === "softmax" ? 0 : k.mode === "logsoftmax" ? 1 : 2;
    const words = [k.rows, k.cols, k.x.view.offset, k.out.view.offset, mode];
    this.dispatch(ck, [k.out.buf, k.x.buf], words, perThread ? Math.ceil(k.rows / 64) : k.rows);
  }

  private runNorm(k: NormKernel): void {
    if (k.rows === 0) return;
    const perThread = k.cols <= 64;
    const ck = this.compile(
      `norm|${perThread}`,
      "wrrr",
      10,
      () => normSrc,
      perThread ? "per_thread" : "per_workgroup",
    );
    const words = [
      k.rows,
      k.cols,
      k.x.view.offset,
      k.out.view.offset,
      k.mode === "layer" ? 0 : 1,
      k.weight ? 1 : 0,
      k.bias ? 1 : 0,
      k.weight?.view.offset ?? 0,
      k.bias?.view.offset ?? 0,
      f32Bits(k.eps),
    ];
    const bufs = [k.out.buf, k.x.buf, k.weight?.buf ?? k.x.buf, k.bias?.buf ?? k.x.buf];
    this.dispatch(ck, bufs, words, perThread ? Math.ceil(k.rows / 64) : k.rows);
  }

  private runRng(k: RngKernel): void {
    const ck = this.compile("rng", "w", 6, () => rngSrc);
    const dist = k.dist === "uniform" ? 0 : k.dist === "normal" ? 1 : 2;
    const words = [k.key[0] >>> 0, k.key[1] >>> 0, k.counter >>> 0, k.n, k.out.view.offset, dist];
    this.dispatch(ck, [k.out.buf], words, Math.ceil(k.n / 64));
  }
}

/** Creates the WebGPU backend on the best adapter with its real limits. */
export async function createWebGPUBackend(): Promise<WebGPUBackend> {
  const adapter = await requestAdapter();
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f as GPUFeatureName));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: limitsToRequest(adapter),
      requiredFeatures: features as GPUFeatureName[],
    });
  } catch (e) {
    throw new DeviceError(`requestDevice failed: ${(e as Error).message}`, { cause: e });
  }
  return new WebGPUBackend(device, adapter);
}

/** Installs the WebGPU backend factory into the device registry. */
export function registerWebGPU(): void {
  registerWebGPUFactory(createWebGPUBackend);
}

registerWebGPU();
