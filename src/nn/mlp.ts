/**
 * MLP builders and vectorised ensembles: `mlp()` (Linear -> norm -> activation per layer),
 * TD-MPC2's `NormedLinear`, and `EnsembleMLP` (N MLPs evaluated as one batched matmul per
 * layer, e.g. TD-MPC2's Q ensemble).
 * @module
 */

import { fmtShape, ShapeError } from "../errors.ts";
import { full } from "../tensor/creation.ts";
import { layerNorm } from "../tensor/functional.ts";
import { defaultGenerator, dropout } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type Init, initWeight } from "./init.ts";
import {
  activate,
  Activation,
  type ActivationName,
  Dropout,
  type LayerOptions,
  Linear,
  makeNorm,
  type NormKind,
  simnorm,
} from "./layers.ts";
import { Module, Parameter, Sequential } from "./module.ts";

/** Options of {@link mlp}. */
export interface MLPOptions extends LayerOptions {
  /** Normalisation after each hidden Linear (default "layer"). */
  readonly norm?: NormKind;
  /** Hidden activation (default "silu"). */
  readonly act?: ActivationName;
  /** Activation after the output layer (default identity). */
  readonly outAct?: ActivationName;
  /** Initialiser of the output layer (e.g. "zeros" for heads). */
  readonly outInit?: Init;
  /** Layer-norm epsilon. */
  readonly eps?: number;
}

/**
 * A Sequential MLP: for each hidden width, Linear (no bias when normalised) -> norm -> act;
 * then a Linear to `outDim` (skipped when `outDim` is null).
 */
export function mlp(
  inDim: number,
  hidden: readonly number[],
  outDim: number | null,
  opts: MLPOptions = {},
): Sequential {
  const layers: Module[] = [];
  const norm = opts.norm ?? "layer";
  let d = inDim;
  for (const h of hidden) {
    layers.push(new Linear(d, h, { ...opts, bias: norm === "none" }));
    if (norm !== "none") layers.push(makeNorm(norm, h, { eps: opts.eps, device: opts.device }));
    layers.push(new Activation(opts.act ?? "silu"));
    d = h;
  }
  if (outDim !== null) {
    layers.push(
      new Linear(d, outDim, {
        ...opts,
        init: opts.outInit ?? opts.init,
        biasInit: opts.outInit === "zeros" ? "zeros" : opts.biasInit,
      }),
    );
    if (opts.outAct && opts.outAct !== "identity") layers.push(new Activation(opts.outAct));
  }
  return new Sequential(...layers);
}

/**
 * Parameters of `mlp(inDim, [hidden] * depth, outDim, { norm })` from the shapes alone (families
 * count their presets with it, without allocating).
 */
export function mlpParameterCount(
  inDim: number,
  hidden: number,
  depth: number,
  outDim: number,
  norm: "layer" | "rms" | "none",
): number {
  let n = 0;
  let d = inDim;
  for (let i = 0; i < depth; i++) {
    n += d * hidden + (norm === "none" ? hidden : 0); // Linear (biased only without a norm)
    n += norm === "layer" ? 2 * hidden : norm === "rms" ? hidden : 0;
    d = hidden;
  }
  return n + d * outDim + outDim;
}

/** Options of {@link NormedLinear}. */
export interface NormedLinearOptions extends LayerOptions {
  /** Activation after the norm (default "mish"); "simnorm" applies SimNorm instead. */
  readonly act?: ActivationName | "simnorm";
  /** Dropout after the Linear (training only). */
  readonly dropout?: number;
  /** Layer-norm epsilon (default 1e-5). */
  readonly eps?: number;
  /** SimNorm group size (default 8). */
  readonly simnormDim?: number;
}

/** TD-MPC2's NormedLinear: Linear -> (dropout) -> LayerNorm -> activation. */
export class NormedLinear extends Module {
  /** `[out, in]`. */
  weight: Parameter;
  /** `[out]`. */
  bias: Parameter;
  /** The layer norm (`ln.weight`, `ln.bias`). */
  ln: Module;
  /** Activation after the norm. */
  readonly act: ActivationName | "simnorm";
  /** Dropout probability (training only). */
  readonly dropoutP: number;
  /** SimNorm group size. */
  readonly simnormDim: number;

  /** Creates the layer. */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: NormedLinearOptions = {},
  ) {
    super();
    const lin = new Linear(inFeatures, outFeatures, opts);
    this.weight = lin.weight;
    this.bias = lin.bias!;
    this.ln = makeNorm("layer", outFeatures, { eps: opts.eps ?? 1e-5, device: opts.device });
    this.act = opts.act ?? "mish";
    this.dropoutP = opts.dropout ?? 0;
    this.simnormDim = opts.simnormDim ?? 8;
  }

  /** Applies the layer. */
  forward(x: Tensor): Tensor {
    let y = x.matmul(this.weight.mT).add(this.bias);
    if (this.training && this.dropoutP > 0) y = dropout(y, this.dropoutP);
    y = (this.ln as unknown as { forward(x: Tensor): Tensor }).forward(y);
    return this.act === "simnorm" ? simnorm(y, this.simnormDim) : activate(y, this.act);
  }
}

/** N independent Linear layers applied as one batched matmul: weight `[n, out, in]`. */
export class EnsembleLinear extends Module {
  /** `[n, out, in]`. */
  weight: Parameter;
  /** `[n, out]`. */
  bias: Parameter | null;

  /** Creates `n` layers. */
  constructor(
    readonly n: number,
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LayerOptions = {},
  ) {
    super();
    const o = { ...opts, generator: opts.generator ?? defaultGenerator() };
    this.weight = new Parameter(
      initWeight(o.init ?? "default", [n, outFeatures, inFeatures], inFeatures, outFeatures, o),
    );
    const bInit = opts.biasInit ?? ((opts.init ?? "default") === "default" ? "default" : "zeros");
    this.bias = (opts.bias ?? true)
      ? new Parameter(initWeight(bInit, [n, outFeatures], inFeatures, outFeatures, o))
      : null;
  }

  /** Maps `[n, B, in]` (or `[B, in]`, shared by all members) to `[n, B, out]`. */
  forward(x: Tensor): Tensor {
    if (
      x.shape[x.rank - 1] !== this.inFeatures || (x.rank === 3 && x.shape[0] !== this.n) ||
      x.rank < 2 || x.rank > 3
    ) {
      throw new ShapeError(
        "EnsembleLinear",
        `expected [${this.n}, B, ${this.inFeatures}] or [B, ${this.inFeatures}], got ${
          fmtShape(x.shape)
        }`,
      );
    }
    const y = x.matmul(this.weight.mT); // broadcasts [B, in] over the n members
    return this.bias ? y.add(this.bias.unsqueeze(1)) : y;
  }
}

/** Per-member layer norm of an ensemble: weight and bias `[n, dim]`. */
export class EnsembleLayerNorm extends Module {
  /** `[n, dim]`. */
  weight: Parameter;
  /** `[n, dim]`. */
  bias: Parameter;

  /** Creates the norm. */
  constructor(
    readonly n: number,
    readonly dim: number,
    readonly eps = 1e-5,
    device?: "cpu" | "webgpu",
  ) {
    super();
    this.weight = new Parameter(full([n, dim], 1, { device }));
    this.bias = new Parameter(full([n, dim], 0, { device }));
  }

  /** Normalises `[n, B, dim]`. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, null, null, this.eps).mul(this.weight.unsqueeze(1)).add(
      this.bias.unsqueeze(1),
    );
  }
}

/** Options of {@link EnsembleMLP}. */
export interface EnsembleMLPOptions extends LayerOptions {
  /** Hidden activation (default "mish"). */
  readonly act?: ActivationName;
  /** Dropout after the first hidden layer's Linear (TD-MPC2 uses 0.01). */
  readonly dropout?: number;
  /** Initialiser of the output layer (default "zeros", as TD-MPC2's Q heads). */
  readonly outInit?: Init;
}

/**
 * N MLPs of identical structure evaluated together (one batched matmul per layer): hidden
 * layers are EnsembleLinear -> (dropout on the first) -> per-member LayerNorm -> activation.
 */
export class EnsembleMLP extends Module {
  /** Hidden layers. */
  layers: EnsembleLinear[];
  /** Norms of the hidden layers. */
  norms: EnsembleLayerNorm[];
  /** Output layer. */
  out: EnsembleLinear;
  /** Hidden activation. */
  readonly act: ActivationName;
  /** Dropout after the first hidden Linear. */
  readonly dropoutP: number;

  /** Creates `n` MLPs `inDim -> hidden... -> outDim`. */
  constructor(
    readonly n: number,
    inDim: number,
    hidden: readonly number[],
    outDim: number,
    opts: EnsembleMLPOptions = {},
  ) {
    super();
    this.layers = [];
    this.norms = [];
    let d = inDim;
    for (const h of hidden) {
      this.layers.push(new EnsembleLinear(n, d, h, opts));
      this.norms.push(new EnsembleLayerNorm(n, h, 1e-5, opts.device));
      d = h;
    }
    this.out = new EnsembleLinear(n, d, outDim, {
      ...opts,
      init: opts.outInit ?? "zeros",
      biasInit: "zeros",
    });
    this.act = opts.act ?? "mish";
    this.dropoutP = opts.dropout ?? 0;
  }

  /** Maps `[B, in]` (shared) or `[n, B, in]` to `[n, B, out]`. */
  forward(x: Tensor): Tensor {
    let y = x;
    this.layers.forEach((l, i) => {
      y = l.forward(y);
      if (i === 0 && this.training && this.dropoutP > 0) y = dropout(y, this.dropoutP);
      y = activate(this.norms[i].forward(y), this.act);
    });
    return this.out.forward(y);
  }
}

export { Dropout };
