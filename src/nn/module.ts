/**
 * `Module` and `Parameter`, PyTorch style: parameters and sub-modules are discovered from the
 * module's own fields in declaration order and named with dotted paths
 * (`encoder.layers.0.weight`); `stateDict()` / `loadStateDict()` use those names.
 * @module
 */

import { DeviceError, fmtShape, ShapeError } from "../errors.ts";
import type { DeviceName } from "../backend/types.ts";
import { getBackend } from "../backend/device.ts";
import { readTensors } from "../tensor/read.ts";
import { keep, Tensor } from "../tensor/tensor.ts";
import { tensor as makeTensor } from "../tensor/creation.ts";
import { LazyNode } from "../tensor/lazy.ts";
import { contiguousView } from "../ir/view.ts";
import { realize } from "../tensor/tensor.ts";

/**
 * A trainable tensor: requires gradients, owns contiguous storage that optimizers update in
 * place, and survives `tidy()`.
 */
export class Parameter extends Tensor {
  /** Wraps a value (realized into its own storage). */
  constructor(value: Tensor) {
    const v = value.contiguous();
    super(v._node, v._view);
    keep(this);
    this.requiresGrad = value.dtype === "float32";
    this.realize();
  }
}

/** Options of `loadStateDict`. */
export interface LoadStateDictOptions {
  /** Require exactly the module's keys (default true). */
  readonly strict?: boolean;
}

/** What `loadStateDict` did not match. */
export interface LoadStateDictResult {
  /** Module keys absent from the state dict. */
  readonly missingKeys: string[];
  /** State-dict keys the module does not have. */
  readonly unexpectedKeys: string[];
}

/** Error of `loadStateDict`: missing or unexpected keys, or shape mismatches. */
export class StateDictError extends ShapeError {
  /** Creates the error. */
  constructor(message: string) {
    super("loadStateDict", message);
  }
}

/**
 * Base class of layers and models.
 *
 * @example
 * ```ts
 * import { Linear, Module, type Tensor } from "@worldflux/worldflux";
 * class Net extends Module {
 *   fc1 = new Linear(4, 8);
 *   fc2 = new Linear(8, 2);
 *   forward(x: Tensor): Tensor {
 *     return this.fc2.forward(this.fc1.forward(x).relu());
 *   }
 * }
 * const net = new Net();
 * console.log(Object.keys(net.stateDict())); // ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
 * ```
 */
export abstract class Module {
  /** Training mode (dropout active, etc.). */
  training = true;
  #buffers = new Map<string, Tensor>();

  /** Registers a non-trainable tensor that belongs to the state dict (e.g. a target network). */
  registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }

  /** Replaces a registered buffer's value. */
  setBuffer(name: string, t: Tensor): void {
    if (!this.#buffers.has(name)) throw new ShapeError("setBuffer", `no buffer named "${name}"`);
    const old = this.#buffers.get(name)!;
    this.#buffers.set(name, keep(t));
    if (old !== t) old.dispose();
  }

  /** A registered buffer. */
  getBuffer(name: string): Tensor {
    const b = this.#buffers.get(name);
    if (!b) throw new ShapeError("getBuffer", `no buffer named "${name}"`);
    return b;
  }

  /** Direct children with their field names (arrays of modules are numbered). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith("_")) continue;
      if (v instanceof Module) out.push([k, v]);
      else if (Array.isArray(v)) {
        v.forEach((m, i) => {
          if (m instanceof Module) out.push([`${k}.${i}`, m]);
        });
      }
    }
    return out;
  }

  /** Every module in the tree (this one first) with its dotted path. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  /** Parameters with dotted names, in declaration order (shared parameters listed once). */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const add = (name: string, p: Parameter) => {
      if (seen.has(p)) return;
      seen.add(p);
      out.push([name, p]);
    };
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith("_")) continue;
      const name = prefix ? `${prefix}.${k}` : k;
      if (v instanceof Parameter) add(name, v);
      else if (v instanceof Module) { for (const [n, p] of v.namedParameters(name)) add(n, p); }
      else if (Array.isArray(v)) {
        v.forEach((x, i) => {
          if (x instanceof Module) {
            for (const [n, p] of x.namedParameters(`${name}.${i}`)) add(n, p);
          } else if (x instanceof Parameter) add(`${name}.${i}`, x);
        });
      }
    }
    return out;
  }

  /** All parameters. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Registered buffers with dotted names. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules()) {
      for (const [k, t] of m.#buffers) out.push([path ? `${path}.${k}` : k, t]);
    }
    return out;
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** Parameters and buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [k, p] of this.namedParameters()) out[k] = p;
    for (const [k, b] of this.namedBuffers()) out[k] = b;
    return out;
  }

  /**
   * Copies values into the parameters and buffers, in place. With `strict` (default) the keys
   * must match exactly; shapes must always match. Values may be tensors (any device) or
   * `{ shape, data }` records.
   */
  loadStateDict(
    sd: Record<string, Tensor | { shape: number[]; data: Float32Array | Int32Array }>,
    opts: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(", ")}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(", ")}`);
      throw new StateDictError(`${parts.join("; ")} (pass { strict: false } to load a subset)`);
    }
    // Validate every entry before writing any, so a failed load leaves the module untouched.
    const loads: [Tensor, Tensor | { shape: number[]; data: Float32Array | Int32Array }][] = [];
    for (const [k, target] of Object.entries(own)) {
      const v = sd[k];
      if (!v) continue;
      const shape = v instanceof Tensor ? v.shape : v.shape;
      if (shape.length !== target.shape.length || shape.some((s, i) => s !== target.shape[i])) {
        throw new StateDictError(
          `"${k}" has shape ${fmtShape(shape)} in the state dict but ${fmtShape(target.shape)} ` +
            `in the module`,
        );
      }
      if (v instanceof Tensor && v.device !== target.device && v.device === "webgpu") {
        throw new DeviceError(
          `"${k}" is on webgpu and the module on ${target.device}: read the values first ` +
            `({ shape: t.shape, data: await t.data() } records load on any device), or move ` +
            `the module with await module.to("webgpu")`,
        );
      }
      loads.push([target, v]);
    }
    for (const [target, v] of loads) {
      let value: Tensor;
      if (v instanceof Tensor) {
        value = v.device === target.device ? v : v.to(target.device);
      } else {
        value = makeTensor(v.data, v.shape, {
          dtype: v.data instanceof Int32Array ? "int32" : "float32",
          device: target.device,
        });
      }
      target.assign(value);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Sets training mode on this module and its children. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Sets evaluation mode (`train(false)`). */
  eval(): this {
    return this.train(false);
  }

  /** Sets `requiresGrad` on every parameter (freezing with `false`). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Clears the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Moves every parameter and buffer to `device` (in place: the objects stay the same). */
  async to(device: DeviceName): Promise<this> {
    const be = getBackend(device);
    const ts = [...this.parameters(), ...this.namedBuffers().map(([, b]) => b)];
    const moving = ts.filter((t) => t._backend !== be);
    if (moving.length === 0) return this;
    realize(...moving);
    const data = await readTensors(moving);
    moving.forEach((t, i) => {
      const d = data[i];
      const stored = t.dtype === "bool"
        ? Int32Array.from(d as Uint8Array)
        : d as Float32Array | Int32Array;
      const buf = be.alloc(t.size);
      be.write(buf, stored);
      const node = new LazyNode(be, [...t.shape], t.dtype, { kind: "buffer" });
      node.setBuffer(buf);
      t._rebind(node, contiguousView(t.shape));
    });
    return this;
  }

  /** Releases every parameter and buffer. */
  dispose(): void {
    const by = `${this.constructor.name}.dispose()`;
    for (const p of this.parameters()) {
      p._disposedBy ??= by;
      p.dispose();
    }
    for (const [, b] of this.namedBuffers()) {
      b._disposedBy ??= by;
      b.dispose();
    }
  }
}

/** Runs modules in order (`0`, `1`, ... in parameter names). */
export class Sequential extends Module {
  /** The modules, in order. */
  readonly layers: Module[];

  /** Chains the given modules. */
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }

  /** The layers, named by index. */
  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  /** Parameters named `<index>.<name>`. */
  override namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    this.layers.forEach((m, i) =>
      out.push(...m.namedParameters(prefix ? `${prefix}.${i}` : String(i)))
    );
    return out;
  }

  /** Applies each module's `forward` in turn. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = (m as unknown as { forward(x: Tensor): Tensor }).forward(y);
    return y;
  }
}
