/**
 * A small WebAssembly binary emitter (MVP + SIMD128 + relaxed SIMD), enough to generate the cpu
 * backend's kernels at run time: no toolchain, the way WGSL is generated for WebGPU.
 *
 * Usage: `const m = new ModuleBuilder(); m.importMemory(...); m.func("name", [I32], [], (f) =>
 * {...}); const bytes = m.bytes();`. Instructions are emitted through `FnBuilder.op(name,
 * ...immediates)` with names as in the WebAssembly text format (`f32x4.add`, `i32.load`).
 * @module
 */

/** Value types. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
/** A value type byte. */
export type ValType = number;

/** Block type "no result". */
export const VOID = 0x40;

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function str(s: string, out: number[]): void {
  const b = new TextEncoder().encode(s);
  uleb(b.length, out);
  out.push(...b);
}

const f32buf = new Float32Array(1);
const f32bytes = new Uint8Array(f32buf.buffer);

/** Plain opcodes (no immediates). */
const PLAIN: Record<string, number> = {
  unreachable: 0x00,
  nop: 0x01,
  else: 0x05,
  end: 0x0b,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c,
  "i32.le_u": 0x4d,
  "i32.ge_s": 0x4e,
  "i32.ge_u": 0x4f,
  "f32.eq": 0x5b,
  "f32.ne": 0x5c,
  "f32.lt": 0x5d,
  "f32.gt": 0x5e,
  "f32.le": 0x5f,
  "f32.ge": 0x60,
  "i32.clz": 0x67,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.div_s": 0x6d,
  "i32.div_u": 0x6e,
  "i32.rem_s": 0x6f,
  "i32.rem_u": 0x70,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.xor": 0x73,
  "i32.shl": 0x74,
  "i32.shr_s": 0x75,
  "i32.shr_u": 0x76,
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.ceil": 0x8d,
  "f32.floor": 0x8e,
  "f32.trunc": 0x8f,
  "f32.nearest": 0x90,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.min": 0x96,
  "f32.max": 0x97,
  "f32.copysign": 0x98,
  "f64.abs": 0x99,
  "f64.neg": 0x9a,
  "f64.sqrt": 0x9f,
  "f64.add": 0xa0,
  "f64.sub": 0xa1,
  "f64.mul": 0xa2,
  "f64.div": 0xa3,
  "f64.min": 0xa4,
  "f64.max": 0xa5,
  "f64.lt": 0x63,
  "f64.gt": 0x64,
  "i32.trunc_f32_s": 0xa8,
  "f32.convert_i32_s": 0xb2,
  "f32.convert_i32_u": 0xb3,
  "f32.demote_f64": 0xb6,
  "f64.convert_i32_s": 0xb7,
  "f64.promote_f32": 0xbb,
  "i32.reinterpret_f32": 0xbc,
  "f32.reinterpret_i32": 0xbe,
};

/** SIMD opcodes (0xfd prefix) without immediates. */
const SIMD: Record<string, number> = {
  "i8x16.swizzle": 0x0e,
  "i32x4.splat": 0x11,
  "f32x4.splat": 0x13,
  "f64x2.splat": 0x14,
  "i32x4.eq": 0x37,
  "i32x4.ne": 0x38,
  "i32x4.lt_s": 0x39,
  "i32x4.lt_u": 0x3a,
  "i32x4.gt_s": 0x3b,
  "i32x4.gt_u": 0x3c,
  "i32x4.le_s": 0x3d,
  "i32x4.le_u": 0x3e,
  "i32x4.ge_s": 0x3f,
  "i32x4.ge_u": 0x40,
  "f32x4.eq": 0x41,
  "f32x4.ne": 0x42,
  "f32x4.lt": 0x43,
  "f32x4.gt": 0x44,
  "f32x4.le": 0x45,
  "f32x4.ge": 0x46,
  "v128.not": 0x4d,
  "v128.and": 0x4e,
  "v128.andnot": 0x4f,
  "v128.or": 0x50,
  "v128.xor": 0x51,
  "v128.bitselect": 0x52,
  "v128.any_true": 0x53,
  "f32x4.demote_f64x2_zero": 0x5e,
  "f64x2.promote_low_f32x4": 0x5f,
  "f32x4.ceil": 0x67,
  "f32x4.floor": 0x68,
  "f32x4.trunc": 0x69,
  "f32x4.nearest": 0x6a,
  "f64x2.floor": 0x75,
  "f64x2.nearest": 0x94,
  "i32x4.abs": 0xa0,
  "i32x4.neg": 0xa1,
  "i32x4.all_true": 0xa3,
  "i32x4.bitmask": 0xa4,
  "i32x4.shl": 0xab,
  "i32x4.shr_s": 0xac,
  "i32x4.shr_u": 0xad,
  "i32x4.add": 0xae,
  "i32x4.sub": 0xb1,
  "i32x4.mul": 0xb5,
  "i32x4.min_s": 0xb6,
  "i32x4.min_u": 0xb7,
  "i32x4.max_s": 0xb8,
  "i32x4.max_u": 0xb9,
  "f32x4.abs": 0xe0,
  "f32x4.neg": 0xe1,
  "f32x4.sqrt": 0xe3,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.min": 0xe8,
  "f32x4.max": 0xe9,
  "f32x4.pmin": 0xea,
  "f32x4.pmax": 0xeb,
  "f64x2.abs": 0xec,
  "f64x2.neg": 0xed,
  "f64x2.sqrt": 0xef,
  "f64x2.add": 0xf0,
  "f64x2.sub": 0xf1,
  "f64x2.mul": 0xf2,
  "f64x2.div": 0xf3,
  "f64x2.min": 0xf4,
  "f64x2.max": 0xf5,
  "i32x4.trunc_sat_f32x4_s": 0xf8,
  "i32x4.trunc_sat_f32x4_u": 0xf9,
  "f32x4.convert_i32x4_s": 0xfa,
  "f32x4.convert_i32x4_u": 0xfb,
  "i32x4.trunc_sat_f64x2_s_zero": 0xfc,
  "f64x2.convert_low_i32x4_s": 0xfe,
  "i32x4.relaxed_trunc_f32x4_s": 0x101,
  "f32x4.relaxed_madd": 0x105,
  "f32x4.relaxed_nmadd": 0x106,
  "i32x4.relaxed_laneselect": 0x10b,
  "f32x4.relaxed_min": 0x10d,
  "f32x4.relaxed_max": 0x10e,
};

/** Memory instructions with a memarg: [opcode, natural alignment log2, simd?]. */
const MEM: Record<string, [number, number, boolean]> = {
  "i32.load": [0x28, 2, false],
  "f32.load": [0x2a, 2, false],
  "i32.store": [0x36, 2, false],
  "f32.store": [0x38, 2, false],
  "f64.load": [0x2b, 3, false],
  "f64.store": [0x39, 3, false],
  "v128.load": [0x00, 4, true],
  "v128.load32_splat": [0x09, 2, true],
  "v128.load32_zero": [0x5c, 2, true],
  "v128.load64_zero": [0x5d, 3, true],
  "v128.store": [0x0b, 4, true],
};

/** Lane instructions: simd opcode, followed by a lane index byte. */
const LANE: Record<string, number> = {
  "i32x4.extract_lane": 0x1b,
  "i32x4.replace_lane": 0x1c,
  "f32x4.extract_lane": 0x1f,
  "f32x4.replace_lane": 0x20,
  "f64x2.extract_lane": 0x21,
  "f64x2.replace_lane": 0x22,
};

/** Lane memory instructions: simd opcode, memarg (align 2), lane index. */
const MEM_LANE: Record<string, number> = {
  "v128.load32_lane": 0x56,
  "v128.store32_lane": 0x5a,
  "v128.store64_lane": 0x5b,
};

/** Builds one function body. */
export class FnBuilder {
  /** Encoded instructions. */
  readonly code: number[] = [];
  /** Local declarations (after the parameters). */
  readonly localTypes: ValType[] = [];
  private depth = 0;
  /** Whether v128 constants are hoisted into locals (see `v128const`). */
  hoistConstants = true;
  private readonly constLocals = new Map<string, number>();
  private readonly constCode: number[] = [];

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** Declares a local, returning its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Emits an instruction by text-format name with its immediates. */
  op(name: string, ...imm: number[]): this {
    const c = this.code;
    const plain = PLAIN[name];
    if (plain !== undefined) {
      c.push(plain);
      return this;
    }
    const simd = SIMD[name];
    if (simd !== undefined) {
      c.push(0xfd);
      uleb(simd, c);
      return this;
    }
    const mem = MEM[name];
    if (mem !== undefined) {
      const [opc, align, isSimd] = mem;
      if (isSimd) {
        c.push(0xfd);
        uleb(opc, c);
      } else c.push(opc);
      uleb(imm[1] ?? align, c); // alignment hint
      uleb(imm[0] ?? 0, c); // offset
      return this;
    }
    const memLane = MEM_LANE[name];
    if (memLane !== undefined) {
      // imm: [lane, offset]
      c.push(0xfd);
      uleb(memLane, c);
      uleb(2, c);
      uleb(imm[1] ?? 0, c);
      c.push(imm[0]);
      return this;
    }
    const lane = LANE[name];
    if (lane !== undefined) {
      c.push(0xfd);
      uleb(lane, c);
      c.push(imm[0]);
      return this;
    }
    switch (name) {
      case "local.get":
        c.push(0x20);
        uleb(imm[0], c);
        return this;
      case "local.set":
        c.push(0x21);
        uleb(imm[0], c);
        return this;
      case "local.tee":
        c.push(0x22);
        uleb(imm[0], c);
        return this;
      case "call":
        c.push(0x10);
        uleb(imm[0], c);
        return this;
      case "br":
        c.push(0x0c);
        uleb(imm[0], c);
        return this;
      case "br_if":
        c.push(0x0d);
        uleb(imm[0], c);
        return this;
    }
    throw new Error(`wasm emitter: unknown instruction ${name}`);
  }

  /** `i32.const`. */
  i32(v: number): this {
    this.code.push(0x41);
    sleb(v | 0, this.code);
    return this;
  }

  /** `f32.const`. */
  f32(v: number): this {
    f32buf[0] = v;
    this.code.push(0x43, ...f32bytes);
    return this;
  }

  /** `f64.const`. */
  f64(v: number): this {
    const b = new Uint8Array(new Float64Array([v]).buffer);
    this.code.push(0x44, ...b);
    return this;
  }

  /**
   * Emits a v128 constant. Constants other than all-zeros / all-ones are materialised once at
   * function entry into a local (V8 builds a general v128 constant with several instructions;
   * kernels use the same constants in their inner loops).
   */
  private v128const(bytes: ArrayLike<number>): this {
    let zero = true, ones = true;
    for (let i = 0; i < 16; i++) {
      if (bytes[i] !== 0) zero = false;
      if (bytes[i] !== 255) ones = false;
    }
    if (zero || ones || !this.hoistConstants) {
      this.code.push(0xfd, 0x0c, ...Array.from(bytes));
      return this;
    }
    const key = Array.prototype.join.call(bytes, ",");
    let l = this.constLocals.get(key);
    if (l === undefined) {
      l = this.local(V128);
      this.constLocals.set(key, l);
      this.constCode.push(0xfd, 0x0c, ...Array.from(bytes), 0x21);
      uleb(l, this.constCode);
    }
    return this.get(l);
  }

  /** `v128.const` from four f32 values. */
  v128f(a: number, b = a, c = a, d = a): this {
    return this.v128const(new Uint8Array(new Float32Array([a, b, c, d]).buffer));
  }

  /** `v128.const` from two f64 values. */
  v128d(a: number, b = a): this {
    return this.v128const(new Uint8Array(new Float64Array([a, b]).buffer));
  }

  /** `v128.const` from four i32 values. */
  v128i(a: number, b = a, c = a, d = a): this {
    return this.v128const(new Uint8Array(new Int32Array([a, b, c, d]).buffer));
  }

  /** `i8x16.shuffle` with 16 lane indices. */
  shuffle(lanes: readonly number[]): this {
    this.code.push(0xfd, 0x0d, ...lanes);
    return this;
  }

  get(i: number): this {
    return this.op("local.get", i);
  }
  set(i: number): this {
    return this.op("local.set", i);
  }
  tee(i: number): this {
    return this.op("local.tee", i);
  }

  /** `block ... end` (branch depth 0 inside targets its end). */
  block(body: () => void, type: number = VOID): this {
    this.code.push(0x02, type);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** `loop ... end` (branch depth 0 inside targets its start). */
  loop(body: () => void, type: number = VOID): this {
    this.code.push(0x03, type);
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /** `if ... else ... end` on the i32 on the stack. */
  if(then: () => void, otherwise?: () => void, type: number = VOID): this {
    this.code.push(0x04, type);
    this.depth++;
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.depth--;
    this.code.push(0x0b);
    return this;
  }

  /**
   * `for (i = start; i < end; i += step) body()` over i32 locals; `start`/`end`/`step` are
   * emitters pushing an i32 (or numbers for constants).
   */
  for(
    i: number,
    start: number | (() => void),
    end: number | (() => void),
    step: number,
    body: () => void,
  ): this {
    const push = (x: number | (() => void)) => (typeof x === "number" ? this.i32(x) : x());
    push(start);
    this.set(i);
    this.block(() => {
      this.loop(() => {
        this.get(i);
        push(end);
        this.op("i32.ge_s").op("br_if", 1);
        body();
        this.get(i).i32(step).op("i32.add").set(i);
        this.op("br", 0);
      });
    });
    return this;
  }

  /** The encoded body (locals + code + end). */
  encode(): number[] {
    const out: number[] = [];
    // compress runs of equal local types
    const groups: [number, number][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(groups.length, out);
    for (const [n, t] of groups) {
      uleb(n, out);
      out.push(t);
    }
    out.push(...this.constCode, ...this.code, 0x0b);
    const sized: number[] = [];
    uleb(out.length, sized);
    return sized.concat(out);
  }
}

interface FuncDef {
  readonly name: string;
  readonly typeIndex: number;
  readonly builder: FnBuilder;
  readonly exported: boolean;
}

/** Builds a module importing one (shared) memory. */
export class ModuleBuilder {
  private readonly types: number[][] = [];
  private readonly typeKeys = new Map<string, number>();
  private readonly funcs: FuncDef[] = [];
  private memory: { initial: number; maximum: number; shared: boolean } | null = null;

  /** Imports memory `env.memory`. */
  importMemory(initial: number, maximum: number, shared: boolean): this {
    this.memory = { initial, maximum, shared };
    return this;
  }

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params}|${results}`;
    let i = this.typeKeys.get(key);
    if (i === undefined) {
      i = this.types.length;
      this.types.push([0x60, params.length, ...params, results.length, ...results]);
      this.typeKeys.set(key, i);
    }
    return i;
  }

  /** Declares a function; returns its index (usable by `call` in later bodies). */
  declare(
    name: string,
    params: readonly ValType[],
    results: readonly ValType[],
    exported = true,
  ): FnBuilder {
    const b = new FnBuilder(params, results);
    this.funcs.push({ name, typeIndex: this.typeIndex(params, results), builder: b, exported });
    return b;
  }

  /** Index of a declared function. */
  indexOf(name: string): number {
    const i = this.funcs.findIndex((f) => f.name === name);
    if (i < 0) throw new Error(`wasm emitter: no function ${name}`);
    return i;
  }

  /** Adds a function built separately (its params/results give the type). */
  add(name: string, b: FnBuilder, exported = true): number {
    this.funcs.push({ name, typeIndex: this.typeIndex(b.params, b.results), builder: b, exported });
    return this.funcs.length - 1;
  }

  /** Declares and builds a function in one go. */
  func(
    name: string,
    params: readonly ValType[],
    results: readonly ValType[],
    build: (f: FnBuilder) => void,
    exported = true,
  ): number {
    const b = this.declare(name, params, results, exported);
    build(b);
    return this.funcs.length - 1;
  }

  /** Encodes the module. */
  bytes(): Uint8Array {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, body: number[]) => {
      out.push(id);
      uleb(body.length, out);
      for (const b of body) out.push(b);
    };
    const types: number[] = [];
    uleb(this.types.length, types);
    for (const t of this.types) types.push(...t);
    section(1, types);
    if (this.memory) {
      const imp: number[] = [];
      uleb(1, imp);
      str("env", imp);
      str("memory", imp);
      imp.push(0x02, this.memory.shared ? 0x03 : 0x01);
      uleb(this.memory.initial, imp);
      uleb(this.memory.maximum, imp);
      section(2, imp);
    }
    const fsec: number[] = [];
    uleb(this.funcs.length, fsec);
    for (const f of this.funcs) uleb(f.typeIndex, fsec);
    section(3, fsec);
    const exported = this.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.exported);
    const esec: number[] = [];
    uleb(exported.length, esec);
    for (const [f, i] of exported) {
      str(f.name, esec);
      esec.push(0x00);
      uleb(i, esec);
    }
    section(7, esec);
    const code: number[] = [];
    uleb(this.funcs.length, code);
    for (const f of this.funcs) code.push(...f.builder.encode());
    section(10, code);
    return new Uint8Array(out);
  }
}
