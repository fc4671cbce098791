/**
 * WebGPU kernels beyond the generated ones: convolutions, pooling/upsampling, gather/scatter,
 * sort and the fused optimizer update. Every kernel here is deterministic (no float atomics):
 * scatters and gradient routings are written output-centric, split reductions are summed in a
 * fixed order.
 * @module
 */

import { f32Bits } from "../plan.ts";
import type {
  BufView,
  ConvKernel,
  DeviceBuffer,
  GatherKernel,
  OptimKernel,
  PoolKernel,
  SortKernel,
} from "../types.ts";
import type { CompiledKernel, KernelHost } from "./kernel_host.ts";
import { fillTemplate } from "./codegen_wgsl.ts";
import convTpl from "../../../kernels/conv.wgsl" with { type: "text" };
import poolSrc from "../../../kernels/pool.wgsl" with { type: "text" };
import gatherSrc from "../../../kernels/gather.wgsl" with { type: "text" };
import sortTpl from "../../../kernels/sort.wgsl" with { type: "text" };
import optimSrc from "../../../kernels/optim.wgsl" with { type: "text" };

const cdiv = (a: number, b: number) => Math.ceil(a / b);

function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/**
 * Scratch buffers (packed conv operands, partial sums, sort pairs), by role. They are never
 * returned to the pool: their contents only live from one dispatch of a kernel to the next of
 * the same kernel (GPU work runs in order, so kernels may share them), and a dispatch recorded
 * for replay (compiled steps) keeps a valid buffer. A role keeps one buffer per size it needed.
 */
const scratchBuffers = new WeakMap<KernelHost, Map<string, DeviceBuffer[]>>();

function scratch(be: KernelHost, role: string, n: number): DeviceBuffer {
  let roles = scratchBuffers.get(be);
  if (!roles) scratchBuffers.set(be, roles = new Map());
  let list = roles.get(role);
  if (!list) roles.set(role, list = []);
  let best: DeviceBuffer | null = null;
  for (const b of list) if (b.size >= n && (!best || b.size < best.size)) best = b;
  if (!best) {
    best = be.alloc(n);
    list.push(best);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Convolutions
// ---------------------------------------------------------------------------------------------

/**
 * Register tiles of the conv kernels (measured on llvmpipe, where every load is a per-lane
 * gather and spilled accumulators are cheap): up to 4 vec4s of channels per thread, times up to
 * 8 output pixels (forward) or 4 kernel taps (weight gradients).
 */
function convTile4(channels: number): number {
  return Math.min(4, cdiv(channels, 4));
}
const FWD_PIXELS = 8;
const WGRAD_TAPS = 4;

function convKernel(be: KernelHost, q: number, t4: number, entry: string): CompiledKernel {
  return be.compile(
    `conv|${entry}|${q}|${t4}`,
    "wrrr",
    17,
    () => fillTemplate(convTpl, { Q: String(q), T4: String(t4) }),
    entry,
  );
}

/** Packs NCHW `src` ([n, c, hw]) into a new [n, hw, c4] vec4 buffer (zero-padded channels). */
function packAct(
  be: KernelHost,
  role: string,
  src: BufView,
  n: number,
  c: number,
  hw: number,
  c4: number,
): DeviceBuffer {
  const total = n * hw * c4;
  const dst = scratch(be, role, total * 4);
  const ck = convKernel(be, 1, 1, "pack_act");
  be.dispatch(
    ck,
    [dst, src.buf, src.buf, src.buf],
    [c, hw, c4, total, src.view.offset],
    cdiv(total, 64),
  );
  return dst;
}

/** Workgroups a weight-gradient launch aims for (enough for every core and SIMD lane). */
const WGRAD_TARGET_GROUPS = 64;
/** Fewest reduction elements one weight-gradient split sums. */
const WGRAD_MIN_SPLIT = 512;

/** Records a convolution: conv2d or its transpose, or the weight gradient of either. */
export function runConv(be: KernelHost, k: ConvKernel): void {
  const g = k.geom;
  const { n, cin, h, w, cout, kh, kw, stride, padding, outH, outW } = g;
  const taps = kh * kw;
  if (k.mode === "conv2d" || k.mode === "convTranspose2d") {
    if (n * cout * outH * outW === 0) return;
    const t4 = convTile4(cout);
    const groups = cdiv(cout, 4 * t4);
    const ci4 = cdiv(cin, 4), co4 = groups * t4;
    const xp = packAct(be, "act0", k.x, n, cin, h * w, ci4);
    // Weights as [tap, ciPad, co4] vec4: conv2d reads [cout, cin, kh, kw], convT [cin, cout, ..].
    const conv = k.mode === "conv2d";
    const wTotal = taps * ci4 * 4 * co4 * 4;
    const wp = scratch(be, "weight", wTotal);
    const pw = convKernel(be, 1, 1, "pack_weight");
    const pwWords = [
      taps,
      cin,
      cout,
      ci4 * 4,
      co4,
      conv ? taps : cout * taps,
      conv ? cin * taps : taps,
      k.w.view.offset,
      wTotal,
    ];
    be.dispatch(pw, [wp, k.w.buf, k.w.buf, k.w.buf], pwWords, cdiv(wTotal, 64));
    const words = [
      n,
      cin,
      h,
      w,
      cout,
      kh,
      kw,
      stride,
      padding,
      outH,
      outW,
      ci4,
      co4,
      k.bias?.view.offset ?? 0,
      k.out.view.offset,
      k.bias ? 1 : 0,
      groups,
    ];
    const bufs = [k.out.buf, xp, wp, k.bias?.buf ?? wp];
    if (conv) {
      const q = Math.min(FWD_PIXELS, outW);
      const ck = convKernel(be, q, t4, "conv2d_fwd");
      be.dispatch(ck, bufs, words, cdiv(n * outH * cdiv(outW, q), 64) * groups);
    } else {
      // Pixels are processed per phase (oy % stride, ox % stride); size for the largest phase.
      const pH = cdiv(outH, stride), pW = cdiv(outW, stride);
      const q = Math.min(FWD_PIXELS, pW);
      const ck = convKernel(be, q, t4, "conv_transpose_fwd");
      be.dispatch(ck, bufs, words, cdiv(n * pH * cdiv(pW, q), 64) * groups, stride * stride);
    }
    return;
  }
  const total = cout * cin * taps;
  if (total === 0) return;
  // Weight gradients: `w` holds dy [n, cout, outH, outW]. G is gathered at the strided taps, U
  // is read at its own positions (see kernels/conv.wgsl).
  const dy = k.w;
  const conv = k.mode === "conv2dWeightGrad";
  const G = conv ? { v: k.x, c: cin, h, w } : { v: dy, c: cout, h: outH, w: outW };
  const U = conv ? { v: dy, c: cout, h: outH, w: outW } : { v: k.x, c: cin, h, w };
  const t4 = convTile4(U.c);
  const groups = cdiv(U.c, 4 * t4);
  const gc4 = cdiv(G.c, 4), uc4 = groups * t4;
  const q = Math.min(WGRAD_TAPS, kw);
  const laneGroups = cdiv(kh * cdiv(kw, q) * gc4 * groups, 64);
  const rows = n * U.h;
  let splits = Math.max(1, Math.floor(WGRAD_TARGET_GROUPS / laneGroups));
  splits = Math.min(splits, Math.max(1, Math.floor(rows * U.w / WGRAD_MIN_SPLIT)), rows);
  const rowsPer = cdiv(rows, splits);
  splits = cdiv(rows, rowsPer);
  const gp = packAct(be, "act0", G.v, n, G.c, G.h * G.w, gc4);
  const up = packAct(be, "act1", U.v, n, U.c, U.h * U.w, uc4);
  const part = splits > 1 ? scratch(be, "partial", splits * total) : null;
  const words = [
    n,
    G.c,
    G.h,
    G.w,
    U.c,
    U.h,
    U.w,
    kh,
    kw,
    stride,
    padding,
    gc4,
    uc4,
    part ? 0 : k.out.view.offset,
    rowsPer,
    groups,
    total,
  ];
  const ck = convKernel(be, q, t4, "weight_grad");
  be.dispatch(ck, [part ?? k.out.buf, gp, up, gp], words, laneGroups, splits);
  if (part) {
    const red = convKernel(be, 1, 1, "reduce_splits");
    const rw = [total, splits, k.out.view.offset];
    be.dispatch(red, [k.out.buf, part, part, part], rw, cdiv(total, 64));
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling and upsampling
// ---------------------------------------------------------------------------------------------

const POOL_MODES = ["max", "avg", "maxGrad", "avgGrad", "upsample", "upsampleGrad"] as const;

/** Records a pooling or nearest-upsampling kernel (forward or gradient). */
export function runPool(be: KernelHost, k: PoolKernel): void {
  const { n, c, h, w, k: ks, stride, outH, outW } = k.geom;
  const planes = n * c;
  // Output-centric: grads write one value per input element, the rest per output element.
  const grad = k.mode === "maxGrad" || k.mode === "avgGrad";
  const total = grad ? planes * h * w : planes * outH * outW;
  if (total === 0) return;
  const ck = be.compile("pool", "wrr", 12, () => poolSrc);
  const dy = k.dy ?? k.x;
  const words = [
    POOL_MODES.indexOf(k.mode),
    planes,
    h,
    w,
    ks,
    stride,
    outH,
    outW,
    k.x.view.offset,
    dy.view.offset,
    k.out.view.offset,
    total,
  ];
  be.dispatch(ck, [k.out.buf, k.x.buf, dy.buf], words, cdiv(total, 64));
}

// ---------------------------------------------------------------------------------------------
// Gather / scatter-add
// ---------------------------------------------------------------------------------------------

/**
 * Direct scatter-add costs axisSize * nIdx per column; beyond this (and with more than a few
 * indices) each column's indices are sorted first and every output sums one run of them.
 */
const SCATTER_SORT_MIN_WORK = 1 << 16;

/** Records a gather along an axis, or a scatter-add into zeros. */
export function runGather(be: KernelHost, k: GatherKernel): void {
  const { outer, axisSize, nIdx, inner } = k;
  const total = k.mode === "gather" ? outer * nIdx * inner : outer * axisSize * inner;
  if (total === 0) return;
  const kernel = (entry: string) =>
    be.compile(`gather|${entry}`, "wrrrr", 9, () => gatherSrc, entry);
  const words = [
    k.mode === "gather" ? 0 : 1,
    total,
    outer,
    axisSize,
    nIdx,
    inner,
    k.src.view.offset,
    k.indices.view.offset,
    k.out.view.offset,
  ];
  const sorted = k.mode === "scatterAdd" && nIdx > 16 && axisSize * nIdx > SCATTER_SORT_MIN_WORK &&
    axisSize < 1 << 24; // keys are exact float32 integers
  if (!sorted) {
    const bufs = [k.out.buf, k.src.buf, k.indices.buf, k.src.buf, k.indices.buf];
    be.dispatch(kernel("main"), bufs, words, cdiv(total, 64));
    return;
  }
  const nKeys = outer * inner * nIdx;
  const keys = scratch(be, "scatterKeys", nKeys);
  const perm = scratch(be, "scatterPerm", nKeys);
  const kw = [...words];
  kw[1] = nKeys;
  const kb = [keys, k.src.buf, k.indices.buf, k.src.buf, k.indices.buf];
  be.dispatch(kernel("scatter_keys"), kb, kw, cdiv(nKeys, 64));
  const contiguous = (buf: DeviceBuffer, n: number): BufView => ({
    buf,
    view: { shape: [n], strides: [1], offset: 0 },
  });
  runSort(be, {
    kind: "sort",
    descending: false,
    x: contiguous(keys, nKeys),
    indices: contiguous(perm, nKeys),
    rows: outer * inner,
    cols: nIdx,
  });
  const sb = [k.out.buf, k.src.buf, k.indices.buf, keys, perm];
  be.dispatch(kernel("scatter_sorted"), sb, words, cdiv(total, 64));
}

// ---------------------------------------------------------------------------------------------
// Sort
// ---------------------------------------------------------------------------------------------

/** Longest segment sorted in workgroup memory (keys + indices: 16 KiB). */
const SORT_CHUNK = 2048;
/** Entries held in workgroup memory at least (short rows share a workgroup). */
const SORT_MIN_SLOTS = 512;

function sortKernel(be: KernelHost, seg: number, entry: string): CompiledKernel {
  const slots = Math.max(seg, SORT_MIN_SLOTS);
  // Software adapters (llvmpipe) run a workgroup on one CPU thread and switch between its SIMD
  // groups at every barrier: small workgroups are several times faster there.
  const wg = be.isFallbackAdapter ? 32 : 256;
  return be.compile(
    `sort|${entry}|${seg}|${wg}`,
    "wr",
    7,
    () => fillTemplate(sortTpl, { P: String(seg), S: String(slots), WG: String(wg) }),
    entry,
  );
}

/** Records a stable sort of each row, writing the indices of the order. */
export function runSort(be: KernelHost, k: SortKernel): void {
  const { rows, cols } = k;
  if (rows === 0 || cols === 0) return;
  const desc = k.descending ? 1 : 0;
  if (cols <= SORT_CHUNK) {
    const seg = Math.max(2, nextPow2(cols));
    const perGroup = Math.max(1, SORT_MIN_SLOTS / seg);
    const ck = sortKernel(be, seg, "sort_segments");
    const words = [rows, cols, k.x.view.offset, k.indices.view.offset, desc, 0, 1];
    be.dispatch(ck, [k.indices.buf, k.x.buf], words, cdiv(rows, perGroup));
    return;
  }
  // Long rows: sort chunks of SORT_CHUNK into (key, index) pairs, then place every element at
  // its rank among all chunks (binary search in each other chunk).
  const chunks = cdiv(cols, SORT_CHUNK);
  const tmp = scratch(be, "sort", 2 * rows * cols);
  const ck = sortKernel(be, SORT_CHUNK, "sort_segments");
  const words = [rows, cols, k.x.view.offset, 0, desc, 1, chunks];
  be.dispatch(ck, [tmp, k.x.buf], words, rows * chunks);
  const mk = sortKernel(be, SORT_CHUNK, "merge_chunks");
  const mwords = [rows, cols, 0, k.indices.view.offset, desc, 0, chunks];
  be.dispatch(mk, [k.indices.buf, tmp], mwords, cdiv(rows * cols, 64));
}

// ---------------------------------------------------------------------------------------------
// Optimizer
// ---------------------------------------------------------------------------------------------

/** Records a fused optimizer update (Adam or LaProp) over flat buffers. */
export function runOptim(be: KernelHost, k: OptimKernel): void {
  if (k.n === 0) return;
  const ck = be.compile("optim", "wwwrr", 18, () => optimSrc);
  const [lr, b1, b2, eps, wd, bc1, bc2, gscale] = k.hyper;
  const words = [
    k.n,
    k.rule === "adam" ? 0 : 1,
    k.param.view.offset,
    k.m.view.offset,
    k.v.view.offset,
    k.grad.view.offset,
    ...[lr, b1, b2, eps, lr * wd, bc1, bc2, gscale].map(f32Bits),
    k.scale ? 1 : 0,
    k.scale?.view.offset ?? 0,
    f32Bits(1 - b1),
    f32Bits(1 - b2),
  ];
  const bufs = [k.param.buf, k.m.buf, k.v.buf, k.grad.buf, k.scale?.buf ?? k.grad.buf];
  be.dispatch(ck, bufs, words, cdiv(k.n, 64));
}
