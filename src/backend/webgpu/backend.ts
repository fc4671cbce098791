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
 *
 * Here: buffers, submission, pipelines and dispatch (the device as {@link KernelHost}); the
 * kernels that record dispatches on it are kernels.ts (generated and fixed) and
 * kernels_extra.ts (hand-written).
 * @module
 */

import { DeviceError, KernelError } from "../../errors.ts";
import { registerWebGPUFactory } from "../device.ts";
import { sizeClass } from "../cpu/js_backend.ts";
import type { Backend, BackendMemory, DeviceBuffer, Kernel, ReadRequest } from "../types.ts";
import { isFallback, limitsToRequest, requestAdapter, WANTED_FEATURES } from "./adapter.ts";
import { WGSL_PRELUDE } from "./codegen_wgsl.ts";
import type { CompiledKernel, KernelHost } from "./kernel_host.ts";
import { runKernel } from "./kernels.ts";

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
  readonly maxGroupsPerDim: number;
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
    runKernel(this, k);
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
