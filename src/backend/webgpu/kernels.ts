/**
 * The WebGPU kernels of the kinds the scheduler emits most: elementwise chains, reductions and
 * matmuls (with their fused epilogue) generated as WGSL from the kernel's expression, and the
 * fixed softmax, norm and random-number kernels; the other kinds are the hand-written kernels of
 * `kernels_extra.ts`. {@link runKernel} records a kernel of any kind.
 *
 * A kernel's source is built from a template of `kernels/` once per structural key (the shapes
 * and offsets are uniform words, not part of the key) and compiled by the device
 * ({@link KernelHost}: `WebGPUBackend` implements it; the kernels never see the backend class).
 * @module
 */

import { frameCtx } from "../codegen.ts";
import { DeviceError } from "../../errors.ts";
import { numel } from "../../ir/view.ts";
import { collapseFrame, f32Bits, planExpr } from "../plan.ts";
import type {
  DeviceBuffer,
  EwKernel,
  Kernel,
  MatmulKernel,
  NormKernel,
  ReduceKernel,
  RngKernel,
  SoftmaxKernel,
} from "../types.ts";
import {
  castWgsl,
  f32Lit,
  fillTemplate,
  inputTypes,
  storageType,
  storeWgsl,
  WgslExprGen,
} from "./codegen_wgsl.ts";
import type { KernelHost } from "./kernel_host.ts";
import { runConv, runGather, runOptim, runPool, runSort } from "./kernels_extra.ts";
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

/** Records the dispatches of one kind of kernel. */
type Runner<K extends Kernel> = (be: KernelHost, k: K) => void;

/** How each kind of kernel is recorded (the compiler checks every kind has one). */
const RUNNERS: { readonly [K in Kernel["kind"]]: Runner<Extract<Kernel, { kind: K }>> } = {
  ew: runEw,
  reduce: runReduce,
  matmul: runMatmul,
  softmax: runSoftmax,
  norm: runNorm,
  rng: runRng,
  conv: runConv,
  pool: runPool,
  gather: runGather,
  sort: runSort,
  optim: runOptim,
};

/** Records the dispatches of kernel `k` on the WebGPU device `be`. */
export function runKernel(be: KernelHost, k: Kernel): void {
  (RUNNERS[k.kind] as Runner<Kernel>)(be, k);
}

function inputBindings(types: string[], first: number): string {
  return types.map((t, i) =>
    `@group(0) @binding(${first + i}) var<storage, read> in${i}: array<${t}>;`
  ).join("\n");
}

function runEw(be: KernelHost, k: EwKernel): void {
  const c = collapseFrame(k.out.view.shape, k.expr, [k.out.view]);
  const plan = planExpr(c.expr, c.shape, k.consts, c.extra);
  const n = numel(c.shape);
  if (n === 0) return;
  const outT = k.expr.t;
  const nw = plan.words.length + 1;
  const key = `ew|${outT}|${k.inputs.length}|${plan.key}`;
  const ck = be.compile(key, "w" + "r".repeat(k.inputs.length), nw, () => {
    const g = new WgslExprGen(plan);
    const f = frameCtx("L", plan.outer);
    const v = g.value(c.expr, f);
    const outIdx = g.viewIndex(f, plan.extra[0]);
    const types = inputTypes(c.expr, k.inputs.length).map(storageType);
    return fillTemplate(elementwiseTpl, {
      NW: String(Math.max(1, Math.ceil(nw / 4))),
      OUTT: storageType(outT),
      BINDINGS: inputBindings(types, 2),
      NQ: String(plan.words.length >> 2),
      NR: String(plan.words.length & 3),
      HOIST: g.hoist(),
      BODY: g.lines.join("\n  "),
      OUTIDX: outIdx,
      VALUE: storeWgsl(v, outT),
    });
  });
  const words = [...plan.words, n];
  be.dispatch(ck, [k.out.buf, ...k.inputs], words, Math.ceil(n / 64));
}

function runReduce(be: KernelHost, k: ReduceKernel): void {
  if (k.outSize === 0) return;
  const c = collapseFrame(k.frame, k.expr);
  const plan = planExpr(c.expr, c.shape, k.consts);
  const t = k.expr.t;
  const arg = k.op === "argmax" || k.op === "argmin";
  const accT = t === "f32" ? "f32" : "i32";
  const perWorkgroup = k.reduceSize >= 128 && k.outSize < 16384;
  const W = plan.words.length;
  const key = `reduce|${k.op}|${t}|${perWorkgroup}|${k.inputs.length}|${plan.key}`;
  const ck = be.compile(key, "w" + "r".repeat(k.inputs.length), W + 3, () => {
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
        update = `if (r == ${perWorkgroup ? "lid" : "0u"} || v ${cmp} acc) { acc = v; best = r; }`;
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
      BINDINGS: inputBindings(types, 2),
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
  be.dispatch(ck, [k.out.buf, ...k.inputs], words, groups);
}

function runMatmul(be: KernelHost, k: MatmulKernel): void {
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
  const variant = matmulVariant(k, sam, sak, sbk, sbn, sa, sb);
  const nw = 24 + (plan ? plan.words.length : 0);
  const key = `mm|${variant}|${outT}|${k.inputs.length}|${plan?.key ?? "-"}`;
  const ck = be.compile(key, "wrr" + "r".repeat(k.inputs.length), nw, () => {
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
      BINDINGS: inputBindings(types, 4),
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
  const gz = Math.min(nbatch, be.maxGroupsPerDim);
  if (gx > be.maxGroupsPerDim || gy > be.maxGroupsPerDim) {
    throw new DeviceError(`matmul of ${m}x${n} is too large for one dispatch on this device`);
  }
  be.dispatch3(ck, [k.out.buf, k.a.buf, k.b.buf, ...k.inputs], words, gx, gy, gz);
}

/**
 * Picks the matmul inner loop. vec4 variants read operands as vec4 along their contiguous
 * axis with no bounds checks in the k loop: `vec4` (A k-contiguous, B n-contiguous), `vec4nt`
 * (B^T: both k-contiguous), `vec4tn` (A^T: A m-contiguous, B n-contiguous). Every other stride
 * and offset must be a multiple of 4 (and the dimensions the loop steps over).
 */
function matmulVariant(
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

/**
 * Records a fixed row kernel (softmax, norm) over `rows` rows of `cols` values: one thread per
 * row for short rows (entry point `per_thread`), one workgroup per row for long ones
 * (`per_workgroup`). `words` are all the uniform words the kernel reads.
 */
function dispatchRows(
  be: KernelHost,
  name: string,
  pattern: string,
  source: string,
  buffers: readonly DeviceBuffer[],
  words: readonly number[],
  rows: number,
  cols: number,
): void {
  if (rows === 0) return;
  const perThread = cols <= 64;
  const ck = be.compile(
    `${name}|${perThread}`,
    pattern,
    words.length,
    () => source,
    perThread ? "per_thread" : "per_workgroup",
  );
  be.dispatch(ck, buffers, words, perThread ? Math.ceil(rows / 64) : rows);
}

function runSoftmax(be: KernelHost, k: SoftmaxKernel): void {
  const mode = k.mode === "softmax" ? 0 : k.mode === "logsoftmax" ? 1 : 2;
  const words = [k.rows, k.cols, k.x.view.offset, k.out.view.offset, mode];
  dispatchRows(be, "softmax", "wr", softmaxSrc, [k.out.buf, k.x.buf], words, k.rows, k.cols);
}

function runNorm(be: KernelHost, k: NormKernel): void {
  const words = [
    k.rows,
    k.cols,
    k.x.view.offset,
    k.out.view.offset,
    k.mode === "layer" ? 0 : 1,
    k.weight ? 1 : 0,
    k.bias ? 1 : 0,
    k.weight?.view.offset ?? 0,
    (k.dy ?? k.bias)?.view.offset ?? 0,
    f32Bits(k.eps),
    k.dy ? 1 : 0,
  ];
  // (backward: dy in the bias binding)
  const bufs = [k.out.buf, k.x.buf, k.weight?.buf ?? k.x.buf, (k.dy ?? k.bias)?.buf ?? k.x.buf];
  dispatchRows(be, "norm", "wrrr", normSrc, bufs, words, k.rows, k.cols);
}

function runRng(be: KernelHost, k: RngKernel): void {
  const ck = be.compile("rng", "w", 6, () => rngSrc);
  const dist = k.dist === "uniform" ? 0 : k.dist === "normal" ? 1 : 2;
  const words = [k.key[0] >>> 0, k.key[1] >>> 0, k.counter >>> 0, k.n, k.out.view.offset, dist];
  be.dispatch(ck, [k.out.buf], words, Math.ceil(k.n / 64));
}
