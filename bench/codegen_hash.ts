/**
 * Hashes every kernel source the expression code generators produce for the op table: each
 * elementwise op alone, broadcast, through a transposed view, fused into a chain, inlined
 * through a view (a `frame` node), as a reduction prologue and as a matmul epilogue; float and
 * int inputs. JavaScript sources (`WORLDFLUX_CPU_BACKEND=reference`), wasm modules (the default
 * cpu backend) and WGSL shaders (webgpu, when an adapter exists) are captured where they are
 * compiled. A refactor of the code generators that must not change generated code is checked
 * by running this before and after: the per-target hashes must be equal.
 *
 * Run: `deno run -A --no-check bench/codegen_hash.ts [cpu|webgpu]` (twice for cpu: with and
 * without `WORLDFLUX_CPU_BACKEND=reference`). `--dump DIR` also writes every source.
 * @module
 */

import { initWebGPU } from "../backend.ts";
import { randint, randn, realize, type Tensor } from "../tensor.ts";
import { ELEMENTWISE } from "../src/tensor/ops_table.ts";

const device = (Deno.args.find((a) => a === "cpu" || a === "webgpu") ?? "cpu") as
  | "cpu"
  | "webgpu";
const dumpAt = Deno.args.indexOf("--dump");
const dumpDir = dumpAt >= 0 ? Deno.args[dumpAt + 1] : null;

const sources = new Map<string, string>(); // hash -> kind
const texts = new Map<string, string | Uint8Array>();

async function record(kind: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
  const h = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  sources.set(h, kind);
  texts.set(h, data);
}
const pending: Promise<void>[] = [];

// JavaScript: kernels are built with `new Function(..., body)`.
const RealFunction = Function;
globalThis.Function = new Proxy(RealFunction, {
  construct(target, args) {
    pending.push(record("js", args.map(String).join("\u0000")));
    return Reflect.construct(target, args);
  },
}) as FunctionConstructor;
// wasm: every module is compiled on the main thread.
const RealModule = WebAssembly.Module;
WebAssembly.Module = new Proxy(RealModule, {
  construct(target, args) {
    const src = args[0] as BufferSource;
    const bytes = src instanceof Uint8Array
      ? src.slice()
      : new Uint8Array(src as ArrayBuffer).slice();
    pending.push(record("wasm", bytes));
    return Reflect.construct(target, args);
  },
}) as typeof WebAssembly.Module;

if (device === "webgpu") {
  await initWebGPU();
  const proto = (globalThis as unknown as { GPUDevice: { prototype: GPUDevice } }).GPUDevice
    .prototype;
  const real = proto.createShaderModule;
  proto.createShaderModule = function (this: GPUDevice, d: GPUShaderModuleDescriptor) {
    pending.push(record("wgsl", d.code));
    return real.call(this, d);
  };
}

const opt = { device };
const R = [4, 6];
function input(kind: "f" | "i" | "b", shape: number[], seed: number): Tensor {
  if (kind === "f") return randn(shape, { ...opt, seed });
  const t = randint(-3, 4, shape, { ...opt, seed });
  return kind === "i" ? t : t.gt(0);
}

const names = Object.keys(ELEMENTWISE).sort();
for (const name of names) {
  const op = ELEMENTWISE[name];
  const kinds: ("f" | "i" | "b")[][] = op.rule === "logic"
    ? [["b", "b", "b"]]
    : op.rule === "where"
    ? [["b", "f", "f"], ["b", "i", "i"], ["b", "f", "i"]]
    : [["f", "f", "f"], ["i", "i", "i"], ["f", "i", "f"]];
  for (const ks of kinds) {
    const ins = (shape: number[], s: number) =>
      ks.slice(0, op.arity).map((k, i) => input(k, shape, 100 * s + i));
    const apply = (xs: Tensor[]) => xs[0].ew(name, xs.slice(1));
    const outs: Tensor[] = [];
    // alone
    outs.push(apply(ins(R, 1)));
    // broadcast (a row against a matrix)
    const b = ins(R, 2);
    outs.push(apply(b.map((x, i) => (i === 1 ? x.sum(0, true).cast(x.dtype) : x))));
    // rank 1 against a broadcast scalar (a stride-0 view of a rank-1 frame)
    const e = ins([6], 11);
    outs.push(apply(e.map((x, i) => (i === 1 ? x.sum(0, true).cast(x.dtype) : x))));
    // a rank-3 permuted view (middle coordinates) and an inlined producer of rank 1
    outs.push(apply(ins([2, 3, 4], 12).map((x) => x.permute([2, 0, 1]))));
    const g = ins([6], 13);
    outs.push(
      apply(g).cast("float32").add(1).reshape([6, 1]).expand([6, 4]).mul(input("f", [6, 4], 14))
        .transpose(),
    );
    // through a transposed view (strided loads)
    outs.push(apply(ins([6, 4], 3).map((x) => x.transpose())));
    // fused into a chain
    const c = ins(R, 4);
    outs.push(apply(c).cast("float32").mul(2).add(c[0].cast("float32")).exp());
    // an inlined producer seen through a view (a frame node)
    const d = ins([6, 4], 5);
    outs.push(apply(d).cast("float32").add(1).transpose().mul(input("f", R, 6)));
    // reduction prologue
    outs.push(apply(ins(R, 7)).cast("float32").sum(1));
    // matmul epilogue
    if (op.arity <= 2 && !op.rule.startsWith("logic")) {
      const m = input("f", [4, 5], 8).matmul(input("f", [5, 6], 9));
      const rest = ins(R, 10).slice(1).map((x) => x.cast("float32"));
      outs.push(ks[0] === "f" ? m.ew(name, rest) : m.ew(name, rest).cast("float32").neg());
    }
    try {
      realize(...outs);
      for (const o of outs) await o.data();
    } catch (e) {
      console.error(`${name} ${ks.join("")}: ${(e as Error).message}`);
    }
  }
}
await Promise.all(pending);

const byKind = new Map<string, string[]>();
for (const [h, k] of sources) byKind.set(k, [...(byKind.get(k) ?? []), h]);
for (const [k, hs] of [...byKind].sort()) {
  hs.sort();
  const all = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(hs.join("\n"))),
  );
  const hex = Array.from(all).map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
  console.log(`${device} ${k}: ${hs.length} distinct sources, hash ${hex}`);
}
if (dumpDir) {
  await Deno.mkdir(dumpDir, { recursive: true });
  for (const [h, t] of texts) {
    const k = sources.get(h)!;
    await Deno.writeFile(
      `${dumpDir}/${k}_${h.slice(0, 16)}.${k === "wasm" ? "wasm" : "txt"}`,
      typeof t === "string" ? new TextEncoder().encode(t) : t,
    );
  }
}
Deno.exit(0);
