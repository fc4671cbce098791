/**
 * Layers: Linear, LayerNorm, RMSNorm, Conv2d, ConvTranspose2d, Dropout, SimNorm and
 * activations. Weight layouts and parameter names follow PyTorch.
 * @module
 */

import { ConfigError, fmtShape, ShapeError } from "../errors.ts";
import { full } from "../tensor/creation.ts";
import { conv2d, convTranspose2d, layerNorm, rmsNorm } from "../tensor/functional.ts";
import { defaultGenerator, dropout, type Generator } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type Init, type InitOptions, initWeight } from "./init.ts";
import { Module, Parameter } from "./module.ts";

/** Activation functions by name. */
export type ActivationName =
  | "relu"
  | "silu"
  | "tanh"
  | "sigmoid"
  | "elu"
  | "mish"
  | "gelu"
  | "softplus"
  | "identity";

/** All activation names. */
export const ACTIVATIONS: readonly ActivationName[] = [
  "relu",
  "silu",
  "tanh",
  "sigmoid",
  "elu",
  "mish",
  "gelu",
  "softplus",
  "identity",
];

/** Applies an activation by name. */
export function activate(x: Tensor, name: ActivationName): Tensor {
  switch (name) {
    case "relu":
      return x.relu();
    case "silu":
      return x.silu();
    case "tanh":
      return x.tanh();
    case "sigmoid":
      return x.sigmoid();
    case "elu":
      return x.elu();
    case "mish":
      return x.mish();
    case "gelu":
      return x.gelu();
    case "softplus":
      return x.softplus();
    case "identity":
      return x;
    default:
      throw new ConfigError(
        `unknown activation "${name as string}"; expected one of ${ACTIVATIONS.join(", ")}`,
      );
  }
}

/** An activation as a module (no parameters). */
export class Activation extends Module {
  /** Wraps the named activation. */
  constructor(readonly name: ActivationName) {
    super();
    activateCheck(name);
  }
  /** Applies the activation. */
  forward(x: Tensor): Tensor {
    return activate(x, this.name);
  }
}

function activateCheck(name: string): void {
  if (!(ACTIVATIONS as readonly string[]).includes(name)) {
    throw new ConfigError(
      `unknown activation "${name}"; expected one of ${ACTIVATIONS.join(", ")}`,
    );
  }
}

/** Options shared by layers with weights. */
export interface LayerOptions extends InitOptions {
  /** Weight initialiser (default: PyTorch's). */
  readonly init?: Init;
  /** Bias initialiser (default: PyTorch's for `init: "default"`, zeros otherwise). */
  readonly biasInit?: Init;
  /** Whether the layer has a bias (default true). */
  readonly bias?: boolean;
}

function biasValue(opts: LayerOptions, shape: number[], fanIn: number): Tensor {
  const init = opts.biasInit ?? ((opts.init ?? "default") === "default" ? "default" : "zeros");
  return initWeight(init, shape, fanIn, shape[0], opts);
}

/** `y = x W^T + b`, weight `[out, in]`. */
export class Linear extends Module {
  /** `[outFeatures, inFeatures]`. */
  weight: Parameter;
  /** `[outFeatures]` or null. */
  bias: Parameter | null;

  /** Creates the layer. */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LayerOptions = {}) {
    super();
    const o = { ...opts, generator: opts.generator ?? defaultGenerator() };
    this.weight = new Parameter(
      initWeight(o.init ?? "default", [outFeatures, inFeatures], inFeatures, outFeatures, o),
    );
    this.bias = (opts.bias ?? true) ? new Parameter(biasValue(o, [outFeatures], inFeatures)) : null;
  }

  /** Applies the layer to `[..., inFeatures]`. */
  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw new ShapeError(
        "Linear",
        `expected input [..., ${this.inFeatures}], got ${fmtShape(x.shape)}`,
      );
    }
    const y = x.matmul(this.weight.mT);
    return this.bias ? y.add(this.bias) : y;
  }
}

/** Layer normalisation over the last axis. */
export class LayerNorm extends Module {
  /** `[dim]` or null. */
  weight: Parameter | null;
  /** `[dim]` or null. */
  bias: Parameter | null;

  /** Creates the layer (`affine`: learnable weight and bias, default true). */
  constructor(
    readonly dim: number,
    readonly opts: { eps?: number; affine?: boolean } & InitOptions = {},
  ) {
    super();
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(full([dim], 1, { device: opts.device })) : null;
    this.bias = affine ? new Parameter(full([dim], 0, { device: opts.device })) : null;
  }

  /** Normalises `[..., dim]`. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.opts.eps ?? 1e-5);
  }
}

/** RMS normalisation over the last axis. */
export class RMSNorm extends Module {
  /** `[dim]` or null. */
  weight: Parameter | null;

  /** Creates the layer. */
  constructor(
    readonly dim: number,
    readonly opts: { eps?: number; affine?: boolean } & InitOptions = {},
  ) {
    super();
    this.weight = (opts.affine ?? true)
      ? new Parameter(full([dim], 1, { device: opts.device }))
      : null;
  }

  /** Normalises `[..., dim]`. */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.opts.eps ?? 1e-6);
  }
}

/** Normalisation kinds of MLP builders. */
export type NormKind = "layer" | "rms" | "none";

/** A normalisation layer by kind (`none` gives an identity). */
export function makeNorm(
  kind: NormKind,
  dim: number,
  opts: { eps?: number } & InitOptions = {},
): Module {
  if (kind === "layer") return new LayerNorm(dim, opts);
  if (kind === "rms") return new RMSNorm(dim, opts);
  if (kind === "none") return new Activation("identity");
  throw new ConfigError(`unknown norm "${kind as string}"; expected "layer", "rms" or "none"`);
}

/** Options of convolution layers. */
export interface ConvLayerOptions extends LayerOptions {
  /** Stride (default 1). */
  readonly stride?: number;
  /** Zero padding (default 0). */
  readonly padding?: number;
  /** Transposed convolutions only. */
  readonly outputPadding?: number;
}

/** 2-D convolution, weight `[out, in, k, k]`. */
export class Conv2d extends Module {
  /** `[outChannels, inChannels, k, k]`. */
  weight: Parameter;
  /** `[outChannels]` or null. */
  bias: Parameter | null;

  /** Creates the layer. */
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly opts: ConvLayerOptions = {},
  ) {
    super();
    const o = { ...opts, generator: opts.generator ?? defaultGenerator() };
    const fanIn = inChannels * kernelSize * kernelSize;
    const fanOut = outChannels * kernelSize * kernelSize;
    const shape = [outChannels, inChannels, kernelSize, kernelSize];
    this.weight = new Parameter(initWeight(o.init ?? "default", shape, fanIn, fanOut, o));
    this.bias = (opts.bias ?? true) ? new Parameter(biasValue(o, [outChannels], fanIn)) : null;
  }

  /** Convolves `[n, in, h, w]`. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, {
      stride: this.opts.stride,
      padding: this.opts.padding,
      bias: this.bias,
    });
  }
}

/** 2-D transposed convolution, weight `[in, out, k, k]` (PyTorch layout). */
export class ConvTranspose2d extends Module {
  /** `[inChannels, outChannels, k, k]`. */
  weight: Parameter;
  /** `[outChannels]` or null. */
  bias: Parameter | null;

  /** Creates the layer. */
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly opts: ConvLayerOptions = {},
  ) {
    super();
    const o = { ...opts, generator: opts.generator ?? defaultGenerator() };
    // PyTorch computes the fan-in of a transposed conv from weight.size(1) * k * k.
    const fanIn = outChannels * kernelSize * kernelSize;
    const fanOut = inChannels * kernelSize * kernelSize;
    const shape = [inChannels, outChannels, kernelSize, kernelSize];
    this.weight = new Parameter(initWeight(o.init ?? "default", shape, fanIn, fanOut, o));
    this.bias = (opts.bias ?? true) ? new Parameter(biasValue(o, [outChannels], fanIn)) : null;
  }

  /** Transposed-convolves `[n, in, h, w]`. */
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.weight, {
      stride: this.opts.stride,
      padding: this.opts.padding,
      outputPadding: this.opts.outputPadding,
      bias: this.bias,
    });
  }
}

/** Inverted dropout, active in training mode only. */
export class Dropout extends Module {
  /** Creates the layer with drop probability `p`. */
  constructor(readonly p: number, readonly generator?: Generator) {
    super();
    if (p < 0 || p >= 1) throw new ConfigError(`dropout probability must be in [0, 1), got ${p}`);
  }
  /** Applies dropout in training mode. */
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, { generator: this.generator });
  }
}

/**
 * Simplicial normalisation (TD-MPC2): softmax over consecutive groups of `groupSize` features.
 */
export function simnorm(x: Tensor, groupSize = 8): Tensor {
  const d = x.shape[x.rank - 1];
  if (d % groupSize !== 0) {
    throw new ShapeError(
      "simnorm",
      `last axis ${d} is not a multiple of the group size ${groupSize}`,
    );
  }
  const lead = x.shape.slice(0, -1);
  return x.reshape([...lead, d / groupSize, groupSize]).softmax(-1).reshape([...lead, d]);
}

/** SimNorm as a module. */
export class SimNorm extends Module {
  /** Creates the layer. */
  constructor(readonly groupSize = 8) {
    super();
  }
  /** Applies SimNorm. */
  forward(x: Tensor): Tensor {
    return simnorm(x, this.groupSize);
  }
}
