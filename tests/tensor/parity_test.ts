/**
 * Every op on both backends: the cpu reference backend against independent host computations
 * (tests/tensor/ref.ts), and the webgpu backend against the cpu backend.
 *
 * Each group of cases registers two tests: "cpu matches the reference" and "webgpu matches
 * cpu" (ignored, with a printed reason, where there is no WebGPU adapter). A failing group
 * lists every failing case, not just the first.
 *
 * Tolerances: |a - b| <= atol + rtol * max(|b|, 1e-3 * max|expected|, scale) with rtol 1e-5 for
 * elementwise ops and reductions, 1e-4 for matmul; int32 and bool results must match exactly.
 * `scale` is the magnitude of the terms a value is computed from, where the computation
 * cancels (sum |x_i| for sums, |a| @ |b| for matmul, |x| + |y| for add): a float32 result near
 * zero is then compared at the scale of its terms. `atol` is 0 except for a few transcendental
 * ops whose float32 evaluation has an absolute error of a few ulps of 1 (see SPECS).
 */

import {
  arange,
  concat,
  type DType,
  eye,
  full,
  layerNorm,
  linspace,
  oneHot,
  ones,
  rand,
  randint,
  randn,
  rmsNorm,
  stack,
  type Tensor,
  tensor,
  where,
  zeros,
} from "../../mod.ts";
import { ELEMENTWISE } from "../../src/tensor/ops_table.ts";
import { scheduleOptions } from "../../src/tensor/schedule.ts";
import { assertClose, numel, Rng, webgpu } from "../util.ts";
import {
  alongAxis,
  broadcastShape,
  concatRef,
  expandRef,
  type HostArray,
  mapRef,
  matmulRef,
  permuteRef,
  reduceRef,
  type RefReduce,
  roundHalfEven,
  sliceRef,
  store,
} from "./ref.ts";

const GPU = await webgpu();

type Dev = "cpu" | "webgpu";

/** A read-back result (or a reference, with the magnitude of its terms as `scale`). */
interface Out {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly scale?: ArrayLike<number>;
}

/** One parity case: `build` makes the result(s) on a device; `ref` computes them on the host. */
interface Case {
  readonly name: string;
  readonly build: (dev: Dev) => Tensor | Tensor[];
  readonly ref?: () => HostArray | HostArray[];
  /** Relative tolerance for float32 results (default 1e-5). */
  readonly rtol?: number;
  /** Absolute tolerance added (default 0). */
  readonly atol?: number;
  /** Tolerance of webgpu vs cpu when it differs from the reference one. */
  readonly gpuRtol?: number;
  /** False for ops whose webgpu kernels are not part of this suite. */
  readonly gpu?: boolean;
}

/** A host array as a tensor on `dev`. */
function T(h: HostArray, dev: Dev): Tensor {
  const data = h.dtype === "float32"
    ? Float32Array.from(h.data)
    : h.dtype === "int32"
    ? Int32Array.from(h.data)
    : Uint8Array.from(h.data);
  return tensor(data, [...h.shape], { dtype: h.dtype, device: dev });
}

async function run(dev: Dev, c: Case): Promise<Out[]> {
  const r = c.build(dev);
  const ts = Array.isArray(r) ? r : [r];
  const outs: Out[] = [];
  for (const t of ts) {
    if (t.device !== dev) throw new Error(`result is on ${t.device}, expected ${dev}`);
    outs.push({ data: await t.data(), shape: [...t.shape], dtype: t.dtype });
  }
  return outs;
}

function compare(
  actual: Out[],
  expected: readonly Out[],
  rtol: number,
  atol: number,
  scales: readonly (ArrayLike<number> | undefined)[] = expected.map((e) => e.scale),
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${actual.length} results, expected ${expected.length}`);
  }
  actual.forEach((a, i) => {
    const e = expected[i];
    const label = actual.length > 1 ? `result ${i}` : "result";
    if (a.shape.join(",") !== e.shape.join(",")) {
      throw new Error(`${label}: shape [${a.shape}] vs expected [${e.shape}]`);
    }
    if (a.dtype !== e.dtype) throw new Error(`${label}: dtype ${a.dtype} vs expected ${e.dtype}`);
    const exact = a.dtype !== "float32";
    // typed arrays: flat data, `shape` names multi-indices in messages
    assertClose(Float64Array.from(a.data), Float64Array.from(e.data), {
      rtol: exact ? 0 : rtol,
      atol: exact ? 0 : atol,
      floor: exact ? 0 : undefined,
      scale: exact ? undefined : scales[i],
      shape: a.shape,
      label,
    });
  });
}

/** Registers the two tests of a group of cases (the first only when `reference`). */
function group(title: string, cases: () => Case[], reference = true): void {
  let list: Case[] | null = null;
  const all = () => (list ??= cases());
  const cpuResults = new Map<Case, Out[]>();
  const cpu = async (c: Case) => {
    let r = cpuResults.get(c);
    if (!r) cpuResults.set(c, r = await run("cpu", c));
    return r;
  };
  const refResults = new Map<Case, HostArray[]>();
  const refOf = (c: Case) => {
    let r = refResults.get(c);
    if (!r && c.ref) {
      const x = c.ref();
      refResults.set(c, r = Array.isArray(x) ? x : [x]);
    }
    return r;
  };
  const check = async (fn: (c: Case) => Promise<void>, filter: (c: Case) => boolean) => {
    const errors: string[] = [];
    let n = 0;
    for (const c of all()) {
      if (!filter(c)) continue;
      n++;
      try {
        await fn(c);
      } catch (e) {
        errors.push(`  ${c.name}: ${(e as Error).message}`);
      }
    }
    if (n === 0) throw new Error("no cases");
    if (errors.length) {
      throw new Error(`${errors.length} of ${n} cases failed:\n${errors.join("\n")}`);
    }
  };
  if (reference) {
    Deno.test({
      name: `parity: ${title}: cpu matches the reference`,
      fn: async () => {
        await check(async (c) => {
          compare(await cpu(c), refOf(c)!, c.rtol ?? 1e-5, c.atol ?? 0);
        }, (c) => c.ref !== undefined);
      },
    });
  }
  Deno.test({
    name: `parity: ${title}: webgpu matches cpu`,
    ignore: !GPU,
    fn: async () => {
      await check(async (c) => {
        const expected = await cpu(c);
        const scales = refOf(c)?.map((r) => r.scale) ?? [];
        compare(
          await run("webgpu", c),
          expected,
          c.gpuRtol ?? c.rtol ?? 1e-5,
          c.atol ?? 0,
          scales,
        );
      }, (c) => c.gpu !== false);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Random inputs
// ---------------------------------------------------------------------------------------------

/** Input domains of elementwise ops. */
type Domain = "any" | "pos" | "nonzero" | "small" | "half" | "tie" | "bool";

function values(rng: Rng, n: number, dom: Domain, dtype: DType): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (dtype === "bool" || dom === "bool") {
      out[i] = rng.chance(0.5) ? 1 : 0;
      continue;
    }
    const int = dtype === "int32";
    let v: number;
    switch (dom) {
      case "any":
        v = int ? rng.int(-20, 20) : 3 * rng.gauss();
        break;
      case "pos":
        v = int ? rng.int(1, 50) : 0.05 + 9.95 * rng.next();
        break;
      case "nonzero":
        v = (rng.chance(0.5) ? -1 : 1) * (int ? rng.int(1, 9) : 0.3 + 4.7 * rng.next());
        break;
      case "small":
        v = int ? rng.int(-4, 4) : -4 + 8 * rng.next();
        break;
      case "half":
        v = int ? rng.int(-6, 6) : (rng.chance(0.5) ? rng.int(-12, 12) / 2 : -6 + 12 * rng.next());
        break;
      case "tie":
        v = rng.int(-3, 3);
        break;
    }
    out[i] = store(v, dtype);
  }
  return out;
}

function host(rng: Rng, shape: readonly number[], dom: Domain, dtype: DType): HostArray {
  return { data: values(rng, numel(shape), dom, dtype), shape: [...shape], dtype };
}

/** `n` operand shapes broadcasting to a random shape of `rank` axes. */
function broadcastOperands(rng: Rng, rank: number, n: number): number[][] {
  const out = rng.shape(rank);
  return Array.from({ length: n }, (_, i) => {
    if (i === 0 && rng.chance(0.5)) return out;
    const drop = rng.int(0, rank);
    return out.slice(drop).map((s) => (rng.chance(0.3) ? 1 : s));
  });
}

function promote(a: DType, b: DType): DType {
  if (a === "float32" || b === "float32") return "float32";
  if (a === "int32" || b === "int32") return "int32";
  return "bool";
}

// ---------------------------------------------------------------------------------------------
// Elementwise ops
// ---------------------------------------------------------------------------------------------

type Rule = "float" | "same" | "cmp" | "logic" | "where";

interface OpSpec {
  /** Reference in float64 on the (stored) input values. */
  readonly f: (...x: number[]) => number;
  /** Domain of each argument. */
  readonly args: readonly Domain[];
  readonly rule: Rule;
  /** Also run on int32 inputs. */
  readonly int?: boolean;
  /** Also run on bool inputs. */
  readonly bool?: boolean;
  /** Magnitude of the terms (for ops that cancel, e.g. `|x| + |y|` for add). */
  readonly scale?: (...x: number[]) => number;
  /**
   * Absolute tolerance for ops evaluated in float32 through intermediates of about unit size
   * (e.g. `log` near 1, `1 + tanh(z)` in gelu): a few float32 ulps of 1.
   */
  readonly atol?: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** One float32 ulp of 1. */
const ULP1 = 2 ** -23;
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const b = (c: boolean) => (c ? 1 : 0);

/** Independent definitions of every op of the op table. */
const SPECS: Record<string, OpSpec> = {
  add: {
    f: (x, y) => x + y,
    args: ["any", "any"],
    rule: "same",
    int: true,
    bool: true,
    scale: (x, y) => Math.abs(x) + Math.abs(y),
  },
  sub: {
    f: (x, y) => x - y,
    args: ["any", "any"],
    rule: "same",
    int: true,
    scale: (x, y) => Math.abs(x) + Math.abs(y),
  },
  mul: { f: (x, y) => x * y, args: ["any", "any"], rule: "same", int: true, bool: true },
  div: { f: (x, y) => x / y, args: ["any", "nonzero"], rule: "float", int: true },
  pow: { f: Math.pow, args: ["pos", "small"], rule: "float", int: true },
  maximum: { f: Math.max, args: ["tie", "tie"], rule: "same", int: true, bool: true },
  minimum: { f: Math.min, args: ["tie", "tie"], rule: "same", int: true, bool: true },
  neg: { f: (x) => -x, args: ["any"], rule: "same", int: true },
  abs: { f: Math.abs, args: ["any"], rule: "same", int: true },
  sign: { f: Math.sign, args: ["tie"], rule: "same", int: true },
  square: { f: (x) => x * x, args: ["any"], rule: "same", int: true },
  reciprocal: { f: (x) => 1 / x, args: ["nonzero"], rule: "float", int: true },
  floor: { f: Math.floor, args: ["half"], rule: "float", int: true },
  ceil: { f: Math.ceil, args: ["half"], rule: "float", int: true },
  round: { f: roundHalfEven, args: ["half"], rule: "float", int: true },
  clamp: {
    f: (x, lo, hi) => Math.min(Math.max(x, lo), hi),
    args: ["any", "any", "any"],
    rule: "same",
    int: true,
  },
  exp: { f: Math.exp, args: ["small"], rule: "float", int: true },
  // GPU log has an absolute error bound near 1 (WGSL: 2^-21 in [0.5, 2])
  log: { f: Math.log, args: ["pos"], rule: "float", int: true, atol: 2 * ULP1 },
  sqrt: { f: Math.sqrt, args: ["pos"], rule: "float", int: true },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), args: ["pos"], rule: "float", int: true },
  sin: { f: Math.sin, args: ["any"], rule: "float", int: true },
  cos: { f: Math.cos, args: ["any"], rule: "float", int: true },
  // GPU tanh has an absolute error of about an ulp of 1 near 0
  tanh: { f: Math.tanh, args: ["any"], rule: "float", int: true, atol: 2 * ULP1 },
  sigmoid: { f: sigmoid, args: ["any"], rule: "float", int: true },
  relu: { f: (x) => Math.max(x, 0), args: ["any"], rule: "same", int: true },
  silu: { f: (x) => x * sigmoid(x), args: ["any"], rule: "float", int: true },
  elu: { f: (x) => (x > 0 ? x : Math.expm1(x)), args: ["any"], rule: "float", int: true },
  softplus: { f: softplus, args: ["any"], rule: "float", int: true },
  // x * tanh(softplus(x)): tanh's absolute error near 0 (GPU) and log(1 + e^x) in float32 for
  // x < -5 (no log1p in the op language) are scaled by |x| <= 20
  mish: {
    f: (x) => x * Math.tanh(softplus(x)),
    args: ["any"],
    rule: "float",
    int: true,
    atol: 10 * ULP1,
  },
  // the same with one exponential (x / (1 + 2 / n), n = e^x (e^x + 2)), float32 throughout
  fastMish: {
    f: (x) => x * Math.tanh(softplus(x)),
    args: ["any"],
    rule: "float",
    int: true,
    atol: 10 * ULP1,
  },
  gelu: {
    f: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    args: ["any"],
    rule: "float",
    int: true,
    // 0.5 x (1 + tanh(z)) cancels for x << 0: an ulp of tanh near -1, scaled by |x| / 2 <= 10
    atol: 12 * ULP1,
  },
  symlog: { f: (x) => Math.sign(x) * Math.log1p(Math.abs(x)), args: ["any"], rule: "float" },
  symexp: { f: (x) => Math.sign(x) * Math.expm1(Math.abs(x)), args: ["small"], rule: "float" },
  gt: { f: (x, y) => b(x > y), args: ["tie", "tie"], rule: "cmp", int: true },
  ge: { f: (x, y) => b(x >= y), args: ["tie", "tie"], rule: "cmp", int: true },
  lt: { f: (x, y) => b(x < y), args: ["tie", "tie"], rule: "cmp", int: true },
  le: { f: (x, y) => b(x <= y), args: ["tie", "tie"], rule: "cmp", int: true },
  eq: { f: (x, y) => b(x === y), args: ["tie", "tie"], rule: "cmp", int: true, bool: true },
  ne: { f: (x, y) => b(x !== y), args: ["tie", "tie"], rule: "cmp", int: true, bool: true },
  logicalAnd: { f: (x, y) => b(!!x && !!y), args: ["bool", "bool"], rule: "logic" },
  logicalOr: { f: (x, y) => b(!!x || !!y), args: ["bool", "bool"], rule: "logic" },
  logicalNot: { f: (x) => b(!x), args: ["bool"], rule: "logic" },
  where: { f: (c, x, y) => (c ? x : y), args: ["bool", "any", "any"], rule: "where", int: true },
  copy: { f: (x) => x, args: ["any"], rule: "same", int: true, bool: true },
};

/** Calls an op-table op through the public API. */
function callOp(name: string, xs: (Tensor | number)[]): Tensor {
  const [a, ...rest] = xs as [Tensor, ...(Tensor | number)[]];
  if (name === "where") return where(a, rest[0], rest[1]);
  if (name === "copy") return a.clone();
  if (name === "clamp") return a.clamp(rest[0], rest[1]);
  const m = (a as unknown as Record<string, (...args: unknown[]) => Tensor>)[name];
  if (typeof m !== "function") throw new Error(`Tensor has no method ${name}`);
  return m.apply(a, rest);
}

function resultDType(name: string, rule: Rule, ins: DType[]): DType {
  if (rule === "float") return "float32";
  if (rule === "cmp" || rule === "logic") return "bool";
  if (rule === "where") return promote(ins[1], ins[2]);
  const p = ins.reduce(promote);
  if (p === "bool" && !["copy", "maximum", "minimum"].includes(name)) return "int32";
  return p;
}

function ewCase(
  name: string,
  label: string,
  hs: (HostArray | number)[],
  extra: Partial<Case> = {},
): Case {
  const spec = SPECS[name];
  const dts = hs.map((h) =>
    typeof h === "number" ? (Number.isInteger(h) ? "int32" : "float32") : h.dtype
  );
  // A scalar operand takes the type of the tensor for integers (like PyTorch's weak scalars).
  const first = dts[0];
  const ins = dts.map((d, i) =>
    typeof hs[i] === "number" && d === "int32" && first === "float32" ? "float32" : d
  );
  const dtype = resultDType(name, spec.rule, ins as DType[]);
  return {
    name: `${name} ${label} ${
      hs.map((h) => (typeof h === "number" ? `${h}` : `${h.dtype}[${h.shape}]`)).join(", ")
    }`,
    build: (dev) => callOp(name, hs.map((h) => (typeof h === "number" ? h : T(h, dev)))),
    ref: () =>
      mapRef(
        hs.map((h) =>
          typeof h === "number" ? { data: [h], shape: [], dtype: "float32" as DType } : h
        ),
        spec.f,
        dtype,
        spec.scale,
      ),
    atol: spec.atol,
    ...extra,
  };
}

function elementwiseCases(): Case[] {
  const rng = new Rng(1234);
  const cases: Case[] = [];
  const names = Object.keys(ELEMENTWISE);
  for (const name of names) {
    const spec = SPECS[name];
    if (!spec) {
      cases.push({
        name: `${name}: no reference in the test's SPECS table (add one)`,
        build: () => {
          throw new Error("missing spec");
        },
        ref: () => ({ data: [], shape: [], dtype: "float32" }),
      });
      continue;
    }
    const arity = spec.args.length;
    const dtypeOf = (i: number, base: DType): DType =>
      spec.args[i] === "bool" || spec.rule === "logic" ? "bool" : base;
    // float32 operands, ranks 0..4 with broadcasting between different ranks and size-1 axes
    for (const rank of [0, 1, 2, 3, 4]) {
      const shapes = broadcastOperands(rng, rank, arity);
      const hs = shapes.map((s, i) => host(rng, s, spec.args[i], dtypeOf(i, "float32")));
      cases.push(ewCase(name, `rank ${rank}`, hs));
    }
    // a length that is not a multiple of the workgroup size, and a size-1 axis broadcast
    {
      const hs = spec.args.map((d, i) =>
        host(rng, i === 1 ? [1, 130] : [3, 130], d, dtypeOf(i, "float32"))
      );
      cases.push(ewCase(name, "3x130", hs));
    }
    if (spec.int) {
      for (const rank of [1, 3]) {
        const shapes = broadcastOperands(rng, rank, arity);
        const hs = shapes.map((s, i) => host(rng, s, spec.args[i], dtypeOf(i, "int32")));
        cases.push(ewCase(name, `int32 rank ${rank}`, hs));
      }
      if (arity >= 2 && spec.rule !== "where") {
        // mixed int32 / float32 operands promote to float32
        const shapes = broadcastOperands(rng, 2, arity);
        const hs = shapes.map((s, i) =>
          host(rng, s, spec.args[i], dtypeOf(i, i === 0 ? "int32" : "float32"))
        );
        cases.push(ewCase(name, "mixed", hs));
      }
    }
    if (spec.bool) {
      const shapes = broadcastOperands(rng, 2, arity);
      cases.push(ewCase(name, "bool", shapes.map((s) => host(rng, s, "bool", "bool"))));
    }
    if (arity === 2 && spec.rule !== "logic") {
      // a number operand
      const x = host(rng, rng.shape(2), spec.args[0], "float32");
      const s = spec.args[1] === "nonzero" ? -2.5 : spec.args[1] === "tie" ? 1 : 1.5;
      cases.push(ewCase(name, "scalar", [x, s]));
      if (spec.int) {
        const xi = host(rng, rng.shape(2), spec.args[0], "int32");
        cases.push(ewCase(name, "int scalar", [xi, name === "div" ? 3 : 2]));
      }
    }
  }
  // pow with negative bases: integer exponents give signed results, like PyTorch
  {
    const n = 257;
    const base = values(rng, n, "any", "float32");
    const expo = Array.from({ length: n }, () => rng.int(-3, 4));
    for (let i = 0; i < 8; i++) base[i] = store(-(i + 1) / 2, "float32");
    base[8] = 0;
    expo[8] = 3;
    const hb: HostArray = { data: base, shape: [n], dtype: "float32" };
    const he: HostArray = { data: expo, shape: [n], dtype: "float32" };
    cases.push(ewCase("pow", "negative bases, integer exponents", [hb, he]));
    cases.push(ewCase("pow", "negative bases, int32 exponents", [hb, { ...he, dtype: "int32" }]));
    cases.push(ewCase("pow", "negative bases ** 3", [hb, 3]));
    // (0 ** -3 is Infinity on cpu but 0 on llvmpipe: WGSL leaves pow(0, y <= 0) undefined)
    const nz: HostArray = { ...hb, data: Array.from(hb.data, (v) => (v === 0 ? -1.5 : v)) };
    cases.push(ewCase("pow", "negative bases ** -3", [nz, -3]));
    cases.push(ewCase("pow", "negative bases ** 2", [hb, 2]));
    const hi: HostArray = {
      data: values(rng, 64, "nonzero", "int32"),
      shape: [64],
      dtype: "int32",
    };
    cases.push(ewCase("pow", "int32 negative bases ** 3", [hi, 3]));
    cases.push(ewCase("pow", "positive bases ** 0.5", [host(rng, [70], "pos", "float32"), 0.5]));
    cases.push(ewCase("pow", "** 0", [host(rng, [70], "any", "float32"), 0]));
  }
  // clamp with number bounds and a missing bound
  {
    const x = host(rng, [5, 67], "any", "float32");
    cases.push(ewCase("clamp", "number bounds", [x, -1, 2.5]));
    const xi = host(rng, [5, 67], "any", "int32");
    cases.push(ewCase("clamp", "int32 number bounds", [xi, -3, 4]));
    cases.push({
      name: "clamp(null, 1) and clamp(-1, null)",
      build: (dev) => [T(x, dev).clamp(null, 1), T(x, dev).clamp(-1, null)],
      ref: () => [
        mapRef([x], (v) => Math.min(v, 1), "float32"),
        mapRef([x], (v) => Math.max(v, -1), "float32"),
      ],
    });
  }
  // where with a broadcast condition, number branches and bool branches
  {
    const c = host(rng, [4, 1, 65], "bool", "bool");
    const x = host(rng, [3, 1], "any", "float32");
    cases.push(ewCase("where", "number branches", [c, 1.5, -2]));
    cases.push(ewCase("where", "tensor / number", [c, x, 0]));
    cases.push(
      ewCase("where", "bool branches", [
        c,
        host(rng, [65], "bool", "bool"),
        host(rng, [3, 1], "bool", "bool"),
      ]),
    );
  }
  // chains over strided views (fused kernels reading permuted / sliced / expanded inputs)
  {
    const x = host(rng, [6, 5, 7], "any", "float32");
    const y = host(rng, [7, 6], "any", "float32");
    cases.push({
      name: "chain over a permuted, sliced and broadcast view",
      build: (dev) => {
        const a = T(x, dev).permute([2, 0, 1]).slice([1, 0, 2], [5, 6, 3]);
        const bb = T(y, dev).slice([1, 0], [5, 6]).unsqueeze(-1);
        return a.mul(bb).add(1).tanh().mul(a.exp());
      },
      ref: () => {
        const a = sliceRef(permuteRef(x, [2, 0, 1]), [1, 0, 2], [5, 6, 3]);
        const bb = sliceRef(y, [1, 0], [5, 6]);
        const bb3 = { ...bb, shape: [5, 6, 1] };
        return mapRef([a, bb3], (p, q) => Math.tanh(p * q + 1) * Math.exp(p), "float32");
      },
    });
  }
  return cases;
}

group("elementwise ops", elementwiseCases);

// Graphs that exercise the scheduler: lazy producers read through views, index nodes inside
// frames, long chains (past the fusion budget) and deep nesting of views of lazy values.
group("fused graphs through views", () => {
  const rng = new Rng(77);
  const cases: Case[] = [];
  const x = host(rng, [5, 7], "any", "float32");
  const y = host(rng, [7], "any", "float32");
  const z = host(rng, [4, 5, 7], "any", "float32");
  const exp = (h: HostArray) => mapRef([h], Math.exp, "float32");
  cases.push({
    name: "a lazy value broadcast against a larger one (expanding view)",
    build: (dev) => T(y, dev).exp().add(T(z, dev)).mul(2),
    ref: () => mapRef([exp(y), z], (p, q) => 2 * (p + q), "float32"),
  });
  cases.push({
    name: "a lazy value read transposed and sliced",
    build: (dev) => T(x, dev).mul(3).sin().transpose().slice([1, 2], [5, 3]).add(1),
    ref: () =>
      mapRef(
        [sliceRef(permuteRef(mapRef([x], (v) => Math.sin(3 * v), "float32"), [1, 0]), [1, 2], [
          5,
          3,
        ])],
        (v) => v + 1,
        "float32",
      ),
  });
  cases.push({
    name: "x - mean(x) with the mean broadcast back (reduction between chains)",
    build: (dev) => T(z, dev).sub(T(z, dev).mean(-1, true)).square().sum(1),
    ref: () => {
      const m = reduceRef(z, "mean", [2], true, "float32");
      return reduceRef(
        mapRef([z, m], (p, q) => (p - q) ** 2, "float32"),
        "sum",
        [1],
        false,
        "float32",
      );
    },
  });
  cases.push({
    name: "index nodes inside frames (arange reshaped, transposed, sliced)",
    build: (dev) => [
      arange(35, { device: dev }).reshape([5, 7]).transpose().add(T(x, dev).transpose()),
      arange(60, { device: dev }).reshape([3, 4, 5]).permute([2, 0, 1]).slice([1, 1], [3, 2])
        .cast("float32").mul(0.5),
      eye(6, { device: dev }).slice([1, 0], [4, 5]).mul(
        T(host(new Rng(1), [5], "any", "float32"), dev),
      ),
    ],
    ref: () => {
      const idx = (n: number, shape: number[]): HostArray => ({
        data: Array.from({ length: n }, (_, i) => i),
        shape,
        dtype: "float32",
      });
      const e: HostArray = {
        data: Array.from({ length: 36 }, (_, i) => (i % 7 === 0 ? 1 : 0)),
        shape: [6, 6],
        dtype: "float32",
      };
      return [
        mapRef(
          [permuteRef(idx(35, [5, 7]), [1, 0]), permuteRef(x, [1, 0])],
          (p, q) => p + q,
          "float32",
        ),
        mapRef(
          [sliceRef(permuteRef(idx(60, [3, 4, 5]), [2, 0, 1]), [1, 1, 0], [3, 2, 4])],
          (v) => v / 2,
          "float32",
        ),
        mapRef(
          [sliceRef(e, [1, 0], [4, 5]), host(new Rng(1), [5], "any", "float32")],
          (p, q) => p * q,
          "float32",
        ),
      ];
    },
  });
  cases.push({
    name: "a chain of 150 ops (past the fusion budget of one kernel)",
    build: (dev) => {
      let t = T(x, dev);
      for (let i = 0; i < 150; i++) {
        t = i % 3 === 0 ? t.mul(0.9) : i % 3 === 1 ? t.add(0.1) : t.tanh();
      }
      return t;
    },
    ref: () =>
      mapRef([x], (v) => {
        for (let i = 0; i < 150; i++) {
          v = i % 3 === 0 ? v * 0.9 : i % 3 === 1 ? v + 0.1 : Math.tanh(v);
        }
        return v;
      }, "float32"),
    atol: 1e-6,
  });
  cases.push({
    name: "views of lazy values nested 10 deep (transpose, add, transpose, ...)",
    build: (dev) => {
      let t = T(x, dev);
      for (let i = 0; i < 10; i++) t = t.add(i).transpose().mul(0.5);
      return t;
    },
    ref: () => {
      let h = x;
      for (let i = 0; i < 10; i++) {
        h = permuteRef(mapRef([h], (v) => (v + i) * 0.5, "float32"), [1, 0]);
      }
      return h;
    },
  });
  cases.push({
    name: "matmul of lazy operands (exp, and a transposed sum)",
    build: (dev) => T(x, dev).exp().matmul(T(z, dev).sum(0).transpose().mul(0.5)),
    ref: () => {
      const s = reduceRef(z, "sum", [0], false, "float32");
      const b = mapRef([permuteRef(s, [1, 0])], (v) => v / 2, "float32");
      return matmulRef(exp(x), b);
    },
    rtol: 1e-4,
  });
  cases.push({
    name: "concat of lazy parts with broadcasting, then a reduction",
    build: (dev) =>
      concat([T(x, dev).exp(), T(y, dev).unsqueeze(0).expand([3, 7]).neg()], 0).max(0),
    ref: () => {
      const neg = mapRef([expandRef(y, [3, 7])], (v) => -v, "float32");
      return reduceRef(concatRef([exp(x), neg], 0, "float32"), "max", [0], false, "float32");
    },
  });
  return cases;
});

// One tensor needing more than 65,535 workgroups of 64 threads in one dimension.
const BIG = 4_200_000;

group("elementwise op over 4,200,000 elements (> 65,535 workgroups)", () => {
  const rng = new Rng(7);
  const x = host(rng, [BIG], "any", "float32");
  return [{
    name: "sigmoid(x * 0.5 + 1)",
    build: (dev) => T(x, dev).mul(0.5).add(1).sigmoid(),
    ref: () => mapRef([x], (v) => 1 / (1 + Math.exp(-(v * 0.5 + 1))), "float32"),
  }];
});

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

function reduceCall(t: Tensor, op: RefReduce, axes: number[] | undefined, keep: boolean): Tensor {
  switch (op) {
    case "argmax":
    case "argmin":
      return t[op](axes![0], keep);
    default:
      return t[op](axes, keep);
  }
}

function reduceDType(op: RefReduce, dt: DType): DType {
  if (op === "argmax" || op === "argmin") return "int32";
  if (op === "mean") return "float32";
  if ((op === "sum" || op === "prod") && dt === "bool") return "int32";
  return dt;
}

function reductionCases(): Case[] {
  const rng = new Rng(99);
  const cases: Case[] = [];
  const ops: RefReduce[] = ["sum", "mean", "max", "min", "prod", "argmax", "argmin"];
  const shapes = [[], [130], [5, 67], [3, 1, 17], [2, 3, 5, 13], [4, 7, 9]];
  for (const op of ops) {
    for (const shape of shapes) {
      const r = shape.length;
      const axisSets: (number[] | undefined)[] = op === "argmax" || op === "argmin"
        ? (r === 0 ? [] : [[0], [r - 1], [-1]])
        : [undefined, ...(r >= 1 ? [[0], [-1]] : []), ...(r >= 3 ? [[0, 2], [-1, 1]] : [])];
      for (const axes of axisSets) {
        for (const keep of [false, true]) {
          const dom: Domain = op === "prod" ? "pos" : op.startsWith("arg") ? "tie" : "any";
          let x = host(rng, shape, dom, "float32");
          if (op === "prod") {
            x = {
              ...x,
              data: Array.from(x.data, (v) => store(0.5 + v / 10, "float32")),
            };
          }
          const norm = (axes ?? shape.map((_, d) => d)).map((a) => (a < 0 ? a + r : a)).sort();
          cases.push({
            name: `${op}([${shape}], axes ${axes ? `[${axes}]` : "all"}, keepDims ${keep})`,
            build: (dev) => reduceCall(T(x, dev), op, axes, keep),
            ref: () => reduceRef(x, op, norm, keep, reduceDType(op, "float32")),
          });
        }
      }
    }
  }
  // int32 and bool inputs
  for (const op of ops) {
    const x = host(rng, [6, 35], "tie", "int32");
    const axes = op.startsWith("arg") ? [1] : [0];
    cases.push({
      name: `${op} of int32 over axis ${axes}`,
      build: (dev) => reduceCall(T(x, dev), op, axes, false),
      ref: () => reduceRef(x, op, axes, false, reduceDType(op, "int32")),
    });
  }
  for (const op of ["sum", "max", "min", "argmax"] as RefReduce[]) {
    const x = host(rng, [5, 70], "bool", "bool");
    cases.push({
      name: `${op} of bool over the last axis`,
      build: (dev) => reduceCall(T(x, dev), op, [1], false),
      ref: () => reduceRef(x, op, [1], false, reduceDType(op, "bool")),
    });
  }
  // ties: argmax/argmin return the first index, also in the tree reduction of long rows
  for (const len of [5, 300, 4097]) {
    const data = new Array<number>(3 * len).fill(1);
    data[2] = 7; // row 0: max at 2 ...
    data[len - 1] = 7; // ... and again at the end
    data[len + len - 1] = -7; // row 1: min at the end, max is the first element (all ties)
    data[2 * len + 100 % len] = 9;
    data[2 * len + (len - 2)] = 9;
    const x: HostArray = { data, shape: [3, len], dtype: "float32" };
    for (const op of ["argmax", "argmin"] as RefReduce[]) {
      cases.push({
        name: `${op} ties, rows of ${len}`,
        build: (dev) => T(x, dev)[op as "argmax"](1),
        ref: () => reduceRef(x, op, [1], false, "int32"),
      });
    }
  }
  // reductions of views and of fused elementwise prologues
  {
    const x = host(rng, [6, 9, 11], "any", "float32");
    cases.push({
      name: "sum over axis 1 of a permuted view",
      build: (dev) => T(x, dev).permute([2, 0, 1]).sum(1),
      ref: () => reduceRef(permuteRef(x, [2, 0, 1]), "sum", [1], false, "float32"),
    });
    cases.push({
      name: "max over axes [0, 2] of exp(x * 0.5) sliced",
      build: (dev) => T(x, dev).mul(0.5).exp().slice([1, 2, 3], [4, 5, 7]).max([0, 2], true),
      ref: () =>
        reduceRef(
          sliceRef(mapRef([x], (v) => Math.exp(v * 0.5), "float32"), [1, 2, 3], [4, 5, 7]),
          "max",
          [0, 2],
          true,
          "float32",
        ),
    });
    cases.push({
      name: "argmax of a transposed view",
      build: (dev) => T(x, dev).transpose().argmax(1),
      ref: () => reduceRef(permuteRef(x, [2, 1, 0]), "argmax", [1], false, "int32"),
    });
    const y = host(rng, [9, 1], "any", "float32");
    cases.push({
      name: "mean over all of a broadcast sum",
      build: (dev) => T(x, dev).add(T(y, dev)).mean(),
      ref: () =>
        reduceRef(mapRef([x, y], (p, q) => p + q, "float32"), "mean", [0, 1, 2], false, "float32"),
    });
    cases.push({
      name: "variance and std over the last axis",
      build: (dev) => [T(x, dev).variance(-1), T(x, dev).std(-1, true, true)],
      ref: () => {
        const rows = alongAxis(x, 2, (row) => {
          const m = row.reduce((a, v) => a + v, 0) / row.length;
          return [row.reduce((a, v) => a + (v - m) ** 2, 0) / row.length];
        }, false);
        const std = alongAxis(x, 2, (row) => {
          const m = row.reduce((a, v) => a + v, 0) / row.length;
          return [Math.sqrt(row.reduce((a, v) => a + (v - m) ** 2, 0) / (row.length - 1))];
        }, false);
        return [{ ...rows, shape: [6, 9] }, std];
      },
    });
  }
  return cases;
}

group("reductions", reductionCases);

group("large reductions", () => {
  const rng = new Rng(5);
  const cases: Case[] = [];
  const million = host(rng, [1_000_000], "pos", "float32");
  for (const op of ["sum", "mean", "max", "min", "argmax", "argmin"] as RefReduce[]) {
    cases.push({
      name: `${op} of 1,000,000 elements to one number`,
      build: (dev) =>
        reduceCall(T(million, dev), op, op.startsWith("arg") ? [0] : undefined, false),
      ref: () => reduceRef(million, op, [0], false, reduceDType(op, "float32")),
    });
  }
  const wide = host(rng, [300, 5000], "any", "float32");
  for (const op of ["sum", "max", "argmin"] as RefReduce[]) {
    for (const axis of [0, 1]) {
      cases.push({
        name: `${op} of [300, 5000] over axis ${axis}`,
        build: (dev) => reduceCall(T(wide, dev), op, [axis], false),
        ref: () => reduceRef(wide, op, [axis], false, reduceDType(op, "float32")),
      });
    }
  }
  cases.push({
    name: "mean of [300, 5000] over both axes, keepDims",
    build: (dev) => T(wide, dev).abs().mean([0, 1], true),
    ref: () => reduceRef(mapRef([wide], Math.abs, "float32"), "mean", [0, 1], true, "float32"),
  });
  // > 65,535 workgroups: 4,200,000 outputs of one thread each
  const tall = host(rng, [BIG, 2], "any", "float32");
  cases.push({
    name: "sum of [4200000, 2] over the last axis (> 65,535 workgroups)",
    build: (dev) => T(tall, dev).sum(-1),
    ref: () => {
      const d = new Array<number>(BIG);
      for (let i = 0; i < BIG; i++) {
        d[i] = store(tall.data[2 * i] + tall.data[2 * i + 1], "float32");
      }
      return { data: d, shape: [BIG], dtype: "float32" };
    },
  });
  return cases;
});

// ---------------------------------------------------------------------------------------------
// softmax family and norms
// ---------------------------------------------------------------------------------------------

function softmaxRow(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

function lseRow(row: number[]): number {
  const m = Math.max(...row);
  return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
}

group("softmax, logSoftmax, logsumexp", () => {
  const rng = new Rng(11);
  const cases: Case[] = [];
  const inputs = [
    host(rng, [3, 5, 7], "any", "float32"),
    host(rng, [4, 300], "any", "float32"),
    host(rng, [2, 65, 3], "any", "float32"),
    host(rng, [1000], "any", "float32"),
  ];
  // large logits: the kernels must subtract the maximum
  inputs.push({ ...inputs[0], data: Array.from(inputs[0].data, (v) => store(v * 40, "float32")) });
  for (const x of inputs) {
    for (let axis = -1; axis < x.shape.length; axis++) {
      const a = axis < 0 ? axis + x.shape.length : axis;
      const tag = `[${x.shape}] axis ${axis}`;
      cases.push({
        name: `softmax ${tag}`,
        build: (dev) => T(x, dev).softmax(axis),
        ref: () => alongAxis(x, a, softmaxRow),
      });
      cases.push({
        name: `logSoftmax ${tag}`,
        build: (dev) => T(x, dev).logSoftmax(axis),
        ref: () => ({
          ...alongAxis(x, a, (row) => row.map((v) => v - lseRow(row))),
          scale: alongAxis(x, a, (row) => row.map((v) => Math.abs(v) + Math.abs(lseRow(row)))).data,
        }),
      });
      cases.push({
        name: `logsumexp ${tag} (keepDims and not)`,
        build: (dev) => [T(x, dev).logsumexp(axis, true), T(x, dev).logsumexp(axis)],
        ref: () => {
          // lse = max + log(sum): the two terms may cancel
          const lse = alongAxis(x, a, (row) => [lseRow(row)], false);
          const terms = alongAxis(x, a, (row) => {
            const m = Math.max(...row);
            return [Math.abs(m) + Math.abs(lseRow(row) - m)];
          }, false);
          const k = { ...lse, scale: terms.data };
          return [k, { ...k, shape: x.shape.filter((_, d) => d !== a) }];
        },
      });
    }
  }
  const s = host(rng, [], "any", "float32");
  cases.push({
    name: "softmax and logsumexp of a scalar",
    build: (dev) => [T(s, dev).softmax(0), T(s, dev).logsumexp(0)],
    ref: () => [{ data: [1], shape: [], dtype: "float32" }, {
      data: s.data,
      shape: [],
      dtype: "float32",
    }],
  });
  return cases;
});

function normRef(
  x: HostArray,
  mode: "layer" | "rms",
  w: HostArray | null,
  bias: HostArray | null,
  eps: number,
): HostArray {
  const stats = (row: number[]) => {
    const n = row.length;
    const mean = mode === "layer" ? row.reduce((a, v) => a + v, 0) / n : 0;
    const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
    return { mean, inv: 1 / Math.sqrt(v + eps) };
  };
  const last = x.shape.length - 1;
  const y = alongAxis(x, last, (row) => {
    const { mean, inv } = stats(row);
    return row.map((x, i) => (x - mean) * inv * (w ? w.data[i] : 1) + (bias ? bias.data[i] : 0));
  });
  // terms: (x - mean) cancels at the scale of |x| + |mean|, the bias add at |x_hat w| + |b|
  const scale = alongAxis(x, last, (row) => {
    const { mean, inv } = stats(row);
    return row.map((x, i) =>
      (Math.abs(x) + Math.abs(mean)) * inv * (w ? Math.abs(w.data[i]) : 1) +
      (bias ? Math.abs(bias.data[i]) : 0)
    );
  });
  return { ...y, scale: scale.data };
}

group("layerNorm and rmsNorm", () => {
  const rng = new Rng(12);
  const cases: Case[] = [];
  for (const shape of [[5, 7], [2, 3, 64], [3, 1000], [17], [4, 65]]) {
    const x = host(rng, shape, "any", "float32");
    const c = shape[shape.length - 1];
    const w = host(rng, [c], "any", "float32");
    const bias = host(rng, [c], "any", "float32");
    for (const [hw, hb] of [[null, null], [w, null], [null, bias], [w, bias]] as const) {
      cases.push({
        name: `layerNorm [${shape}]${hw ? " weight" : ""}${hb ? " bias" : ""}`,
        build: (dev) => layerNorm(T(x, dev), hw && T(hw, dev), hb && T(hb, dev)),
        ref: () => normRef(x, "layer", hw, hb, 1e-5),
      });
    }
    for (const hw of [null, w]) {
      cases.push({
        name: `rmsNorm [${shape}]${hw ? " weight" : ""}`,
        build: (dev) => rmsNorm(T(x, dev), hw && T(hw, dev)),
        ref: () => normRef(x, "rms", hw, null, 1e-6),
      });
    }
    cases.push({
      name: `layerNorm [${shape}] eps 0.1, of a shifted input`,
      build: (dev) => layerNorm(T(x, dev).add(100), T(w, dev), null, 0.1),
      ref: () => normRef(mapRef([x], (v) => v + 100, "float32"), "layer", w, null, 0.1),
    });
  }
  return cases;
});

// ---------------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------------

const MM = { rtol: 1e-4 };

group("matmul", () => {
  const rng = new Rng(21);
  const cases: Case[] = [];
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 1],
    [3, 5, 7],
    [4, 4, 4],
    [8, 12, 16],
    [33, 3, 65],
    [64, 64, 64],
    [65, 67, 63],
    [130, 129, 127],
    [127, 130, 2],
  ];
  for (let i = 0; i < 6; i++) sizes.push([rng.int(1, 130), rng.int(1, 130), rng.int(1, 130)]);
  for (const [m, k, n] of sizes) {
    const a = host(rng, [m, k], "any", "float32");
    const bm = host(rng, [k, n], "any", "float32");
    const at = permuteRef(a, [1, 0]);
    const bt = permuteRef(bm, [1, 0]);
    const tag = `${m}x${k} @ ${k}x${n}`;
    cases.push({
      name: `plain ${tag}`,
      build: (dev) => T(a, dev).matmul(T(bm, dev)),
      ref: () => matmulRef(a, bm),
      ...MM,
    });
    cases.push({
      name: `A^T (read in place) ${tag}`,
      build: (dev) => T(at, dev).mT.matmul(T(bm, dev)),
      ref: () => matmulRef(a, bm),
      ...MM,
    });
    cases.push({
      name: `B^T (read in place) ${tag}`,
      build: (dev) => T(a, dev).matmul(T(bt, dev).mT),
      ref: () => matmulRef(a, bm),
      ...MM,
    });
    cases.push({
      name: `A^T and B^T ${tag}`,
      build: (dev) => T(at, dev).mT.matmul(T(bt, dev).mT),
      ref: () => matmulRef(a, bm),
      ...MM,
    });
  }
  // batched, broadcast batch axes
  for (const [m, k, n] of [[5, 7, 3], [17, 8, 12], [1, 9, 66]]) {
    const a = host(rng, [2, 1, m, k], "any", "float32");
    const bb = host(rng, [3, k, n], "any", "float32");
    cases.push({
      name: `[2,1,${m},${k}] @ [3,${k},${n}]`,
      build: (dev) => T(a, dev).matmul(T(bb, dev)),
      ref: () => matmulRef(a, bb),
      ...MM,
    });
    const bt = permuteRef(bb, [0, 2, 1]);
    cases.push({
      name: `[2,1,${m},${k}] @ [3,${n},${k}].mT`,
      build: (dev) => T(a, dev).matmul(T(bt, dev).mT),
      ref: () => matmulRef(a, bb),
      ...MM,
    });
    const b2 = host(rng, [k, n], "any", "float32");
    cases.push({
      name: `[2,1,${m},${k}] @ [${k},${n}] (2-D operand broadcast over the batch)`,
      build: (dev) => T(a, dev).matmul(T(b2, dev)),
      ref: () => matmulRef(a, b2),
      ...MM,
    });
  }
  // 1-D operands
  {
    const v = host(rng, [13], "any", "float32");
    const mtx = host(rng, [13, 9], "any", "float32");
    const mtx2 = host(rng, [2, 5, 13], "any", "float32");
    cases.push({
      name: "[13] @ [13, 9]",
      build: (dev) => T(v, dev).matmul(T(mtx, dev)),
      ref: () => {
        const r = matmulRef({ ...v, shape: [1, 13] }, mtx);
        return { ...r, shape: [9] };
      },
      ...MM,
    });
    cases.push({
      name: "[2, 5, 13] @ [13]",
      build: (dev) => T(mtx2, dev).matmul(T(v, dev)),
      ref: () => {
        const r = matmulRef(mtx2, { ...v, shape: [13, 1] });
        return { ...r, shape: [2, 5] };
      },
      ...MM,
    });
    cases.push({
      name: "[13] @ [13]",
      build: (dev) => T(v, dev).matmul(T(v, dev)),
      ref: () => ({
        data: [Array.from(v.data).reduce((s, x) => s + x * x, 0)],
        shape: [],
        dtype: "float32",
      }),
      ...MM,
    });
  }
  // operands at an offset (sliced rows), aligned and not aligned to 4
  {
    const big = host(rng, [20, 16], "any", "float32");
    const bb = host(rng, [16, 12], "any", "float32");
    for (const start of [4, 3]) {
      cases.push({
        name: `rows ${start}.. of a [20,16] matrix @ [16,12]`,
        build: (dev) => T(big, dev).slice([start], [8]).matmul(T(bb, dev)),
        ref: () => matmulRef(sliceRef(big, [start, 0], [8, 16]), bb),
        ...MM,
      });
    }
  }
  // int32 operands are computed in float32
  {
    const a = host(rng, [4, 6], "small", "int32");
    const bb = host(rng, [6, 5], "small", "int32");
    cases.push({
      name: "int32 operands",
      build: (dev) => T(a, dev).matmul(T(bb, dev)),
      ref: () => matmulRef(a, bb),
      ...MM,
    });
  }
  // fused epilogue (bias + relu) against the unfused computation
  for (const [m, k, n] of [[7, 9, 5], [64, 32, 48], [33, 70, 129]]) {
    const a = host(rng, [m, k], "any", "float32");
    const bb = host(rng, [k, n], "any", "float32");
    const bias = host(rng, [n], "any", "float32");
    const res = host(rng, [m, n], "any", "float32");
    const ref = () => {
      const mm = matmulRef(a, bb);
      const r = mapRef([mm, bias], (p, q) => Math.max(p + q, 0), "float32");
      return { ...r, scale: Array.from(mm.scale!, (v, i) => v + Math.abs(bias.data[i % n])) };
    };
    cases.push({
      name: `matmul + bias + relu (fused epilogue) ${m}x${k}x${n}`,
      build: (dev) => T(a, dev).matmul(T(bb, dev)).add(T(bias, dev)).relu(),
      ref,
      ...MM,
    });
    cases.push({
      name: `matmul + bias + relu with fusion off ${m}x${k}x${n}`,
      build: (dev) => {
        scheduleOptions.fusion = false;
        try {
          return T(a, dev).matmul(T(bb, dev)).add(T(bias, dev)).relu().realize();
        } finally {
          scheduleOptions.fusion = true;
        }
      },
      ref,
      ...MM,
    });
    cases.push({
      name: `fused and unfused epilogue agree ${m}x${k}x${n}`,
      build: (dev) => {
        const fused = T(a, dev).matmul(T(bb, dev)).add(T(bias, dev)).relu().realize();
        const unfused = T(a, dev).matmul(T(bb, dev)).realize().add(T(bias, dev)).relu();
        return fused.sub(unfused).abs().max().reshape([1]).add(0);
      },
      // the epilogue sees the float32 product, so fusing changes nothing
      ref: () => ({ data: [0], shape: [1], dtype: "float32" }),
      rtol: 0,
    });
    cases.push({
      name: `matmul.mT + residual, silu (epilogue through a view is not fused) ${m}x${k}x${n}`,
      build: (dev) => T(a, dev).matmul(T(bb, dev)).add(T(res, dev)).silu().mT,
      ref: () => {
        const mm = matmulRef(a, bb);
        const r = mapRef([mm, res], (p, q) => (p + q) / (1 + Math.exp(-(p + q))), "float32");
        const scale = Array.from(mm.scale!, (v, i) => v + Math.abs(res.data[i]));
        return permuteRef({ ...r, scale }, [1, 0]);
      },
      ...MM,
    });
  }
  return cases;
});

// ---------------------------------------------------------------------------------------------
// Movement ops
// ---------------------------------------------------------------------------------------------

/** Factorisations of `n` into `parts` factors (random), for reshape targets. */
function randomFactorShape(rng: Rng, n: number, parts: number): number[] {
  const out: number[] = [];
  let rest = n;
  for (let i = 0; i < parts - 1; i++) {
    const divs = [];
    for (let d = 1; d <= rest; d++) if (rest % d === 0) divs.push(d);
    const d = rng.pick(divs);
    out.push(d);
    rest /= d;
  }
  out.push(rest);
  return out;
}

group("movement ops", () => {
  const rng = new Rng(31);
  const cases: Case[] = [];
  // reshape of permuted / sliced / expanded views, random targets (no-copy and copy paths)
  for (let i = 0; i < 40; i++) {
    const rank = rng.int(2, 4);
    const shape = rng.shape(rank, [1, 2, 3, 4, 5, 6], 2000);
    const x = host(rng, shape, "any", "float32");
    const perm = [...Array(rank).keys()].sort(() => rng.next() - 0.5);
    let view = permuteRef(x, perm);
    const starts = view.shape.map((s) => (i % 3 === 0 && s > 1 ? rng.int(0, 1) : 0));
    const sizes = view.shape.map((s, d) =>
      s - starts[d] - (i % 3 === 0 && s > 2 ? rng.int(0, 1) : 0)
    );
    view = sliceRef(view, starts, sizes);
    let expandTo: number[] | null = null;
    if (i % 4 === 1) {
      expandTo = [2, ...view.shape];
      view = expandRef(view, expandTo);
    }
    const target = randomFactorShape(rng, numel(view.shape), rng.int(1, 5));
    const tag = `[${shape}] permute [${perm}] slice [${starts}]/[${sizes}]${
      expandTo ? ` expand [${expandTo}]` : ""
    } reshape [${target}]`;
    cases.push({
      name: tag,
      build: (dev) => {
        let t = T(x, dev).permute(perm).slice(starts, sizes);
        if (expandTo) t = t.expand(expandTo);
        const r = t.reshape(target);
        // read the view directly and through an elementwise op (a fused strided load)
        return [r, r.add(0), r.reshape([-1]).reshape(view.shape)];
      },
      ref: () => [
        { ...view, shape: target },
        { ...view, shape: target },
        view,
      ],
    });
  }
  const x = host(rng, [4, 5, 6], "any", "float32");
  cases.push({
    name: "slice with negative starts and sizes -1",
    build: (dev) => [T(x, dev).slice([-3, 1], [2, -1]), T(x, dev).slice([-1, -5, -6])],
    ref: () => [sliceRef(x, [1, 1], [2, 4]), sliceRef(x, [3, 0, 0], [1, 5, 6])],
  });
  cases.push({
    name: "narrow, flatten, transpose, swapAxes, mT",
    build: (dev) => {
      const t = T(x, dev);
      return [t.narrow(-1, 2, 3), t.flatten(1), t.transpose(), t.swapAxes(0, 2), t.mT];
    },
    ref: () => [
      sliceRef(x, [0, 0, 2], [4, 5, 3]),
      { ...x, shape: [4, 30] },
      permuteRef(x, [2, 1, 0]),
      permuteRef(x, [2, 1, 0]),
      permuteRef(x, [0, 2, 1]),
    ],
  });
  const e = host(rng, [3, 1, 4], "any", "float32");
  cases.push({
    name: "expand with new and size-1 axes (and -1)",
    build: (dev) => [T(e, dev).expand([2, 3, 5, 4]), T(e, dev).expand([-1, 7, -1]).mul(2)],
    ref: () => [
      expandRef(e, [2, 3, 5, 4]),
      mapRef([expandRef(e, [3, 7, 4])], (v) => 2 * v, "float32"),
    ],
  });
  const sq = host(rng, [1, 3, 1, 5, 1], "any", "float32");
  cases.push({
    name: "squeeze and unsqueeze",
    build: (dev) => {
      const t = T(sq, dev);
      return [
        t.squeeze(),
        t.squeeze(2),
        t.squeeze([0, -1]),
        t.unsqueeze(0),
        t.unsqueeze(-1),
        t.squeeze().unsqueeze(1),
      ];
    },
    ref: () => [
      { ...sq, shape: [3, 5] },
      { ...sq, shape: [1, 3, 5, 1] },
      { ...sq, shape: [3, 1, 5] },
      { ...sq, shape: [1, 1, 3, 1, 5, 1] },
      { ...sq, shape: [1, 3, 1, 5, 1, 1] },
      { ...sq, shape: [3, 1, 5] },
    ],
  });
  const sp = host(rng, [6, 7, 5], "any", "float32");
  cases.push({
    name: "split and chunk",
    build: (dev) => {
      const t = T(sp, dev);
      return [
        ...t.split([2, 4], 0),
        ...t.split(7, 1),
        ...t.chunk(2, -1),
        ...t.split([1, 5, 1], -2),
      ];
    },
    ref: () => [
      sliceRef(sp, [0], [2, 7, 5]),
      sliceRef(sp, [2], [4, 7, 5]),
      ...Array.from({ length: 7 }, (_, i) => sliceRef(sp, [0, i, 0], [6, 1, 5])),
      sliceRef(sp, [0, 0, 0], [6, 7, 3]),
      sliceRef(sp, [0, 0, 3], [6, 7, 2]),
      sliceRef(sp, [0, 0, 0], [6, 1, 5]),
      sliceRef(sp, [0, 1, 0], [6, 5, 5]),
      sliceRef(sp, [0, 6, 0], [6, 1, 5]),
    ],
  });
  // concat / stack along each axis, with views, mixed dtypes and three parts
  const c1 = host(rng, [3, 4, 5], "any", "float32");
  const c2 = host(rng, [3, 4, 5], "any", "float32");
  const ci = host(rng, [3, 4, 5], "any", "int32");
  for (let axis = -3; axis < 3; axis++) {
    const a = axis < 0 ? axis + 3 : axis;
    const part = sliceRef(c2, [0, 0, 0], c2.shape.map((s, d) => (d === a ? 2 : s)));
    cases.push({
      name: `concat along axis ${axis} (three parts, one a slice)`,
      build: (dev) => concat([T(c1, dev), T(c2, dev).narrow(a, 0, 2), T(c1, dev).mul(-1)], axis),
      ref: () => concatRef([c1, part, mapRef([c1], (v) => -v, "float32")], a, "float32"),
    });
    cases.push({
      name: `stack along axis ${axis}`,
      build: (dev) => stack([T(c1, dev), T(c2, dev)], axis),
      ref: () => {
        const sa = axis < 0 ? axis + 4 : axis; // a new axis: -1 is the last of rank 4
        const s = [...c1.shape];
        s.splice(sa, 0, 1);
        return concatRef([{ ...c1, shape: s }, { ...c2, shape: s }], sa, "float32");
      },
    });
  }
  cases.push({
    name: "stack along the new last axis (axis 3 = -1)",
    build: (dev) => [stack([T(c1, dev), T(c2, dev)], -1), stack([T(c1, dev), T(c2, dev)], 3)],
    ref: () => {
      const r = concatRef(
        [{ ...c1, shape: [3, 4, 5, 1] }, { ...c2, shape: [3, 4, 5, 1] }],
        3,
        "float32",
      );
      return [r, r];
    },
  });
  cases.push({
    name: "concat of int32 and float32 (promotes), and of permuted views",
    build: (dev) => [
      concat([T(ci, dev), T(c1, dev)], 1),
      concat([T(ci, dev), T(ci, dev)], 0),
      concat([T(c1, dev).permute([2, 0, 1]), T(c2, dev).permute([2, 0, 1])], 1),
    ],
    ref: () => [
      concatRef([{ ...ci, dtype: "float32" }, c1], 1, "float32"),
      concatRef([ci, ci], 0, "int32"),
      concatRef([permuteRef(c1, [2, 0, 1]), permuteRef(c2, [2, 0, 1])], 1, "float32"),
    ],
  });
  const rp = host(rng, [2, 3], "any", "float32");
  cases.push({
    name: "repeat",
    build: (dev) => [T(rp, dev).repeat([2, 1, 3]), T(rp, dev).repeat([1, 1])],
    ref: () => {
      const d: number[] = [];
      for (let i = 0; i < 2; i++) {
        for (let r = 0; r < 2; r++) {
          for (let c = 0; c < 9; c++) d.push(rp.data[r * 3 + (c % 3)]);
        }
      }
      return [{ data: d, shape: [2, 2, 9], dtype: "float32" }, rp];
    },
  });
  return cases;
});

// ---------------------------------------------------------------------------------------------
// Indexing: gather, oneHot, where
// ---------------------------------------------------------------------------------------------

group("gather, oneHot, where", () => {
  const rng = new Rng(41);
  const cases: Case[] = [];
  const x = host(rng, [5, 6, 7], "any", "float32");
  // The webgpu gather kernel is tested with the other hand-written webgpu kernels.
  for (const axis of [0, 1, 2, -1]) {
    const a = axis < 0 ? axis + 3 : axis;
    const idx = Array.from({ length: 9 }, () => rng.int(-x.shape[a], x.shape[a] - 1));
    cases.push({
      name: `index_select (1-D indices) along axis ${axis}`,
      build: (dev) => T(x, dev).gather(tensor(new Int32Array(idx), [9], { device: dev }), axis),
      ref: () => {
        const parts = idx.map((i) => {
          const s = [0, 0, 0];
          s[a] = i < 0 ? i + x.shape[a] : i;
          return sliceRef(x, s, x.shape.map((v, d) => (d === a ? 1 : v)));
        });
        return concatRef(parts, a, "float32");
      },
      gpu: false,
    });
    const ishape = x.shape.map((s, d) => (d === a ? 4 : s));
    const gi = host(rng, ishape, "any", "int32");
    const gidx = {
      ...gi,
      data: Array.from(gi.data, (v) => ((v % x.shape[a]) + x.shape[a]) % x.shape[a]),
    };
    cases.push({
      name: `gather (same-rank indices) along axis ${axis}`,
      build: (dev) => T(x, dev).gather(T(gidx, dev), axis),
      ref: () => {
        const st = [42, 7, 1];
        const data = [];
        for (let i = 0; i < numel(ishape); i++) {
          const c = [
            Math.floor(i / (ishape[1] * ishape[2])),
            Math.floor(i / ishape[2]) % ishape[1],
            i % ishape[2],
          ];
          c[a] = gidx.data[i];
          data.push(x.data[c[0] * st[0] + c[1] * st[1] + c[2] * st[2]]);
        }
        return { data, shape: ishape, dtype: "float32" };
      },
      gpu: false,
    });
  }
  for (const shape of [[5], [2, 3], [4, 1, 3]]) {
    const ind = host(rng, shape, "any", "int32");
    const idx = { ...ind, data: Array.from(ind.data, (v) => ((v % 7) + 7) % 7) };
    cases.push({
      name: `oneHot [${shape}] into 7 classes`,
      build: (dev) => oneHot(T(idx, dev), 7),
      ref: () => ({
        data: Array.from(idx.data).flatMap((v) =>
          Array.from({ length: 7 }, (_, k) => (k === v ? 1 : 0))
        ),
        shape: [...shape, 7],
        dtype: "float32",
      }),
    });
  }
  const cond = host(rng, [4, 5], "bool", "bool");
  const p = host(rng, [4, 5], "any", "float32");
  const q = host(rng, [5], "any", "float32");
  cases.push({
    name: "where(x > 0, x, y * 2) with broadcasting, and of int32 branches",
    build: (dev) => [
      where(T(p, dev).gt(0), T(p, dev), T(q, dev).mul(2)),
      where(T(cond, dev), T(p, dev).cast("int32"), -1),
    ],
    ref: () => [
      mapRef([p, q], (v, w) => (v > 0 ? v : 2 * w), "float32"),
      mapRef([cond, p], (c, v) => (c ? Math.trunc(v) : -1), "int32"),
    ],
  });
  return cases;
});

// ---------------------------------------------------------------------------------------------
// Casts and creation
// ---------------------------------------------------------------------------------------------

group("casts between all dtypes", () => {
  const rng = new Rng(51);
  const cases: Case[] = [];
  const f = host(rng, [7, 19], "any", "float32");
  const fdata = Array.from(f.data);
  fdata.splice(0, 6, 0, -0.5, 0.5, -2.7, 2.7, -0); // zeros and truncation toward zero
  const hf: HostArray = {
    data: fdata.map((v) => store(v, "float32")),
    shape: [7, 19],
    dtype: "float32",
  };
  const hi = host(rng, [7, 19], "any", "int32");
  const hb = host(rng, [7, 19], "bool", "bool");
  const dts: DType[] = ["float32", "int32", "bool"];
  for (const src of [hf, hi, hb]) {
    for (const to of dts) {
      cases.push({
        name: `${src.dtype} -> ${to}`,
        build: (
          dev,
        ) => [
          T(src, dev).cast(to),
          T(src, dev).transpose().cast(to),
          T(src, dev).cast(to).cast(src.dtype),
        ],
        ref: () => {
          const c = mapRef([src], (v) => v, to);
          return [c, permuteRef(c, [1, 0]), mapRef([c], (v) => v, src.dtype)];
        },
      });
    }
  }
  return cases;
});

group("arange, linspace, eye, full", () => {
  const cases: Case[] = [];
  const seq = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  cases.push({
    name: "arange(n), arange(start, end, step), float steps, negative step",
    build: (dev) => [
      arange(70, { device: dev }),
      arange(3, { end: 20, step: 4, device: dev }),
      arange(-1, { end: 1, step: 0.25, device: dev }),
      arange(10, { end: 0, step: -3, device: dev }),
      arange(5, { dtype: "float32", device: dev }),
      arange(0, { device: dev }),
    ],
    ref: () => [
      { data: seq(70, (i) => i), shape: [70], dtype: "int32" },
      { data: [3, 7, 11, 15, 19], shape: [5], dtype: "int32" },
      { data: seq(8, (i) => -1 + 0.25 * i), shape: [8], dtype: "float32" },
      { data: [10, 7, 4, 1], shape: [4], dtype: "int32" },
      { data: seq(5, (i) => i), shape: [5], dtype: "float32" },
      { data: [], shape: [0], dtype: "int32" },
    ],
  });
  cases.push({
    name: "linspace",
    build: (dev) => [
      linspace(0, 1, 11, { device: dev }),
      linspace(-20, 20, 255, { device: dev }),
      linspace(3, 5, 1, { device: dev }),
    ],
    ref: () => [
      { data: seq(11, (i) => i / 10), shape: [11], dtype: "float32" },
      { data: seq(255, (i) => -20 + (40 / 254) * i), shape: [255], dtype: "float32" },
      { data: [3], shape: [1], dtype: "float32" },
    ],
    // start + i * step with a float32 step: the middle value of [-20, 20] is ~1e-6, not 0
    atol: 4e-6,
  });
  cases.push({
    name: "full, zeros, ones (broadcast constants) read directly and through an op",
    build: (dev) => [
      full([3, 67], 2.5, { device: dev }),
      zeros([2, 3], { dtype: "int32", device: dev }),
      ones([4], { dtype: "bool", device: dev }),
      full([5, 1], -1.25, { device: dev }).add(arange(3, { device: dev })),
    ],
    ref: () => [
      { data: seq(201, () => 2.5), shape: [3, 67], dtype: "float32" },
      { data: seq(6, () => 0), shape: [2, 3], dtype: "int32" },
      { data: seq(4, () => 1), shape: [4], dtype: "bool" },
      { data: seq(15, (i) => -1.25 + (i % 3)), shape: [5, 3], dtype: "float32" },
    ],
  });
  cases.push({
    name: "eye",
    build: (
      dev,
    ) => [
      eye(5, { device: dev }),
      eye(1, { device: dev }),
      eye(3, { dtype: "int32", device: dev }),
    ],
    ref: () => [
      { data: seq(25, (i) => (i % 6 === 0 ? 1 : 0)), shape: [5, 5], dtype: "float32" },
      { data: [1], shape: [1, 1], dtype: "float32" },
      { data: seq(9, (i) => (i % 4 === 0 ? 1 : 0)), shape: [3, 3], dtype: "int32" },
    ],
  });
  return cases;
});

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

group("random numbers: same seed, same values on every device", () => [
  {
    name: "rand (bit-identical)",
    build: (dev) => rand([1000, 7], { seed: 42, device: dev }),
    atol: 0,
    rtol: 0,
  },
  {
    name: "randint (identical)",
    build: (
      dev,
    ) => [
      randint(0, 10, [5000], { seed: 3, device: dev }),
      randint(-5, 200, [3, 333], { seed: 4, device: dev }),
    ],
  },
  {
    // Box-Muller in float32 on the GPU vs float64 rounded on the cpu: cos(2 pi u) rounds its
    // argument to float32, an absolute error of ~1e-7 times the radius (<= 5.6)
    name: "randn",
    build: (dev) => randn([25, 4099], { seed: 7, device: dev }),
    atol: 1e-6,
  },
], false);

Deno.test("random numbers: distributions (cpu)", async () => {
  const n = 200_000;
  const u = await rand([n], { seed: 1, device: "cpu" }).data();
  const z = await randn([n], { seed: 2, device: "cpu" }).data();
  const k = await randint(-3, 4, [n], { seed: 3, device: "cpu" }).data();
  const stats = (d: ArrayLike<number>) => {
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    for (let i = 0; i < d.length; i++) {
      s += d[i];
      s2 += d[i] * d[i];
      lo = Math.min(lo, d[i]);
      hi = Math.max(hi, d[i]);
    }
    const mean = s / d.length;
    return { mean, variance: s2 / d.length - mean * mean, lo, hi };
  };
  const su = stats(u);
  if (!(su.lo >= 0 && su.hi < 1)) throw new Error(`rand outside [0, 1): [${su.lo}, ${su.hi}]`);
  assertClose(su.mean, 0.5, { rtol: 0, atol: 0.005, label: "rand mean" });
  assertClose(su.variance, 1 / 12, { rtol: 0, atol: 0.002, label: "rand variance" });
  const sz = stats(z);
  assertClose(sz.mean, 0, { rtol: 0, atol: 0.01, label: "randn mean" });
  assertClose(sz.variance, 1, { rtol: 0, atol: 0.02, label: "randn variance" });
  const counts = new Map<number, number>();
  for (const v of k) counts.set(v, (counts.get(v) ?? 0) + 1);
  const keys = [...counts.keys()].sort((a, b) => a - b);
  if (keys.join(",") !== "-3,-2,-1,0,1,2,3") throw new Error(`randint values ${keys}`);
  for (const [v, c] of counts) {
    assertClose(c / n, 1 / 7, { rtol: 0, atol: 0.005, label: `randint frequency of ${v}` });
  }
  const other = await rand([n], { seed: 5, device: "cpu" }).data();
  if (other.every((v, i) => v === u[i])) throw new Error("different seeds gave the same draw");
  const again = await rand([n], { seed: 1, device: "cpu" }).data();
  assertClose(again, u, { rtol: 0, label: "same seed twice" });
});

// A broadcast helper check, so that a broken reference cannot make everything pass.
Deno.test("parity: the host reference itself", () => {
  if (broadcastShape([3, 1], [4]).join(",") !== "3,4") throw new Error("broadcastShape");
  const x: HostArray = { data: [1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: "float32" };
  assertClose(permuteRef(x, [1, 0]).data, [1, 4, 2, 5, 3, 6]);
  assertClose(reduceRef(x, "argmax", [1], false, "int32").data, [2, 2]);
  assertClose(reduceRef(x, "sum", [0], true, "float32").data, [5, 7, 9]);
  assertClose(matmulRef(x, permuteRef(x, [1, 0])).data, [14, 32, 32, 77]);
  assertClose(roundHalfEven(2.5), 2);
  assertClose(roundHalfEven(-0.5), 0);
  assertClose(roundHalfEven(3.5), 4);
});
