/**
 * Building blocks of the `dreamerv3` family, after the official `embodied/jax/nets.py` and
 * `dreamerv3/rssm.py` (Encoder, Decoder): Linear -> norm -> SiLU layers, the block-diagonal
 * linear of the RSSM core, the vector (symlog MLP) and image (stride-2 CNN) encoders and
 * decoders. Weights use the official fan-in truncated normal; biases start at zero.
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { ShapeError } from "../../errors.ts";
import { type InitOptions, initWeight } from "../../nn/init.ts";
import { activate, Conv2d, ConvTranspose2d, Linear } from "../../nn/layers.ts";
import { Module, Parameter } from "../../nn/module.ts";
import { concat, full } from "../../tensor/creation.ts";
import { layerNorm, rmsNorm } from "../../tensor/functional.ts";
import { defaultGenerator, type Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { cnnDepths, type DreamerV3Config, embedDim, featDim, type ObsLayout } from "./config.ts";
import { normAffine } from "./ops.ts";

/** Device, random stream and norm settings shared by the family's layers. */
export interface NetOptions {
  /** Device of the parameters. */
  readonly device: DeviceName;
  /** Initialisation stream. */
  readonly generator: Generator;
  /** `rms` (official) or `layer`. */
  readonly norm: "rms" | "layer";
  /** Norm epsilon (official 1e-4). */
  readonly eps: number;
}

/** Net options of a config. */
export function netOptions(
  c: DreamerV3Config,
  device: DeviceName,
  generator?: Generator,
): NetOptions {
  return { device, generator: generator ?? defaultGenerator(), norm: c.norm, eps: c.normEps };
}

/**
 * A Linear with the official init (`nets.Linear`: trunc-normal fan-in times `outscale`, zero
 * bias). `outscale: 0` gives a zero layer (reward and critic outputs).
 */
export function officialLinear(
  inF: number,
  outF: number,
  o: NetOptions,
  outscale = 1,
): Linear {
  const init = outscale === 0 ? "zeros" as const : (
    shape: number[],
    fanIn: number,
    fanOut: number,
    io: { generator?: Generator; device?: DeviceName },
  ) => initWeight("truncNormal", shape, fanIn, fanOut, io).mul(outscale);
  return new Linear(inF, outF, {
    init,
    biasInit: "zeros",
    device: o.device,
    generator: o.generator,
  });
}

/** Normalisation over the last axis with a learnable scale (and shift for `layer`). */
export class Norm extends Module {
  /** Scale `[dim]`. */
  weight: Parameter;
  /** Shift `[dim]` (layer norm only). */
  bias: Parameter | null;

  /** Creates the norm. */
  constructor(
    readonly dim: number,
    readonly kind: "rms" | "layer",
    readonly eps: number,
    device: DeviceName,
  ) {
    super();
    this.weight = new Parameter(full([dim], 1, { device }));
    this.bias = kind === "layer" ? new Parameter(full([dim], 0, { device })) : null;
  }

  /** Normalises the last axis. */
  forward(x: Tensor): Tensor {
    return this.kind === "rms"
      ? rmsNorm(x, this.weight, this.eps)
      : layerNorm(x, this.weight, this.bias, this.eps);
  }

  /** Normalises axis 1 of `[N, C, H, W]` (per pixel over channels, as NHWC norms do). */
  forwardChannels(x: Tensor): Tensor {
    const c = this.dim;
    let y: Tensor;
    if (this.kind === "rms") {
      y = x.mul(x.square().mean(1, true).add(this.eps).rsqrt());
    } else {
      const mu = x.mean(1, true);
      const xc = x.sub(mu);
      y = xc.mul(xc.square().mean(1, true).add(this.eps).rsqrt());
    }
    y = y.mul(this.weight.reshape([c, 1, 1]));
    return this.bias ? y.add(this.bias.reshape([c, 1, 1])) : y;
  }
}

/** `silu(norm(linear(x)))`: the official hidden layer (`nets.Linear` -> `nets.Norm` -> act). */
export class NormLinear extends Module {
  /** The Linear (with bias, as the official layers). */
  linear: Linear;
  /** The norm after it. */
  norm: Norm;

  /** Creates the layer. */
  constructor(inF: number, outF: number, o: NetOptions) {
    super();
    this.linear = officialLinear(inF, outF, o);
    this.norm = new Norm(outF, o.norm, o.eps, o.device);
  }

  /** Applies the layer (norm and SiLU as one fused op with a hand-written gradient). */
  forward(x: Tensor): Tensor {
    const n = this.norm;
    return normAffine(this.linear.forward(x), n.weight, n.bias, n.kind, n.eps, "silu");
  }
}

/** `layers` NormLinear layers of `units` (official `nets.MLP`); identity for 0 layers. */
export class DenseStack extends Module {
  /** The layers. */
  readonly layers: NormLinear[];
  /** Output width. */
  readonly outDim: number;

  /** Creates the stack. */
  constructor(inF: number, units: number, count: number, o: NetOptions) {
    super();
    this.layers = [];
    let d = inF;
    for (let i = 0; i < count; i++) {
      this.layers.push(new NormLinear(d, units, o));
      d = units;
    }
    this.outDim = d;
  }

  /** Applies the layers. */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) y = l.forward(y);
    return y;
  }
}

/**
 * The official `nets.BlockLinear` applied to `concat(h_g, x)` per group (rssm.py `_core`): the
 * output is split in `blocks` groups; group g sees its own slice of `h` (`[D/G]`) plus the
 * shared input `x` (`[X]`, may be empty). The official kernel `[G, D/G + X, O/G]` is stored as
 * its two parts, `hweight [G, D/G, O/G]` and `xweight [X, O]` (column block g of `xweight` is
 * the official `kernel[g, D/G:, :]`), so the shared part is one dense matmul; `bias [O]`.
 */
export class BlockLinear extends Module {
  /** `[G, D/G, O/G]`: block-diagonal weights on h. */
  hweight: Parameter;
  /** `[X, O]`: weights on the shared input (null when X = 0). */
  xweight: Parameter | null;
  /** `[O]`. */
  bias: Parameter;

  /** Creates the layer for h of `hDim`, shared input of `xDim`, output `outDim`, `blocks` groups. */
  constructor(
    readonly hDim: number,
    readonly xDim: number,
    readonly outDim: number,
    readonly blocks: number,
    o: NetOptions,
  ) {
    super();
    if (hDim % blocks || outDim % blocks) {
      throw new ShapeError(
        "BlockLinear",
        `sizes ${hDim} and ${outDim} must be multiples of ${blocks} blocks`,
      );
    }
    // Official fan-in of a [G, I/G, O/G] kernel: (I/G) * G = the full input width.
    const fanIn = hDim + xDim * blocks;
    const io = { device: o.device, generator: o.generator };
    const ph = hDim / blocks, po = outDim / blocks;
    this.hweight = new Parameter(initWeight("truncNormal", [blocks, ph, po], fanIn, outDim, io));
    this.xweight = xDim > 0
      ? new Parameter(initWeight("truncNormal", [xDim, outDim], fanIn, outDim, io))
      : null;
    this.bias = new Parameter(full([outDim], 0, { device: o.device }));
  }

  /** `h [B, D]`, `x [B, X]` (or null) -> `[B, O]`. */
  forward(h: Tensor, x: Tensor | null): Tensor {
    const b = h.shape[0], g = this.blocks;
    const hb = h.reshape([b, g, this.hDim / g]).permute([1, 0, 2]); // [G, B, D/G]
    const yb = hb.matmul(this.hweight).permute([1, 0, 2]).reshape([b, this.outDim]);
    let y = yb.add(this.bias);
    if (x && this.xweight) y = x.matmul(this.xweight).add(y);
    return y;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoders and decoders
// ---------------------------------------------------------------------------------------------

/** Flattens `[N, ...]` observations of the vector keys and concatenates them `[N, vecDim]`. */
function vectorInput(obs: Readonly<Record<string, Tensor>>, l: ObsLayout, n: number): Tensor {
  const parts = l.vecKeys.map((k, i) => obs[k].reshape([n, l.vecDims[i]]));
  return parts.length === 1 ? parts[0] : concat(parts, -1);
}

/** Stacks the image keys on channels `[N, C, H, W]`. */
function imageInput(obs: Readonly<Record<string, Tensor>>, l: ObsLayout, n: number): Tensor {
  const parts = l.imgKeys.map((k, i) =>
    obs[k].reshape([n, l.imgChannels[i], l.img.height, l.img.width])
  );
  return parts.length === 1 ? parts[0] : concat(parts, 1);
}

/**
 * The official `rssm.Encoder` structure: vector keys are symlog'ed, concatenated and go through
 * `encLayers` NormLinear layers; image keys (in [0, 1], centred by -0.5) go through stride-2
 * 4x4 convs with channel norm and SiLU, doubling the depth at each stage, down to `minRes`, and
 * are flattened. The embedding is the concatenation `[N, E]`.
 */
export class MultiEncoder extends Module {
  /** Vector MLP (null without vector keys). */
  mlp: DenseStack | null;
  /** Stride-2 convs. */
  readonly convs: Conv2d[];
  /** Channel norms after each conv. */
  readonly convNorms: Norm[];
  /** Embedding size. */
  readonly outDim: number;

  /** Creates the encoder. */
  constructor(readonly layout: ObsLayout, c: DreamerV3Config, o: NetOptions) {
    super();
    const l = layout;
    this.mlp = l.vecKeys.length ? new DenseStack(l.vecDim, c.units, c.encLayers, o) : null;
    this.convs = [];
    this.convNorms = [];
    let cin = l.img.channels;
    for (const d of cnnDepths(c, l.stages)) {
      this.convs.push(
        new Conv2d(cin, d, 4, {
          stride: 2,
          padding: 1,
          init: "truncNormal",
          biasInit: "zeros",
          device: o.device,
          generator: o.generator,
        }),
      );
      this.convNorms.push(new Norm(d, o.norm, o.eps, o.device));
      cin = d;
    }
    this.outDim = embedDim(c, l);
  }

  /** Observations by key, each `[N, ...shape]` -> `[N, E]`. */
  forward(obs: Readonly<Record<string, Tensor>>): Tensor {
    const l = this.layout;
    const n = obs[l.keys[0].key].shape[0];
    const outs: Tensor[] = [];
    if (this.mlp) outs.push(this.mlp.forward(vectorInput(obs, l, n).symlog()));
    if (this.convs.length) {
      let x = imageInput(obs, l, n).sub(0.5);
      this.convs.forEach((conv, i) => {
        x = activate(this.convNorms[i].forwardChannels(conv.forward(x)), "silu");
      });
      outs.push(x.reshape([n, x.size / n]));
    }
    return outs.length === 1 ? outs[0] : concat(outs, -1);
  }
}

/**
 * The decoder: from features `concat(h, z)`, vector keys through `decLayers` NormLinear layers
 * and a Linear predicting symlog(obs) (official `symlog_mse`); image keys through a Linear to
 * `[minRes, minRes, depth * 2^(stages-1)]` with norm and SiLU, stride-2 4x4 transposed convs
 * halving the depth (norm + SiLU) and a last transposed conv to the channels; the image mean is
 * `out + 0.5` (images in [0, 1]).
 */
export class MultiDecoder extends Module {
  /** Vector MLP (null without vector keys). */
  mlp: DenseStack | null;
  /** Vector output layer. */
  vecOut: Linear | null;
  /** Features -> spatial map. */
  space: Linear | null;
  /** Norm of the spatial map (channels). */
  spaceNorm: Norm | null;
  /** Hidden transposed convs (depth halves). */
  readonly deconvs: ConvTranspose2d[];
  /** Their channel norms. */
  readonly deconvNorms: Norm[];
  /** Output transposed conv to the image channels. */
  imgOut: ConvTranspose2d | null;
  /** Channels of the spatial map. */
  readonly lastDepth: number;

  /** Creates the decoder. */
  constructor(readonly layout: ObsLayout, c: DreamerV3Config, o: NetOptions) {
    super();
    const l = layout;
    const F = featDim(c);
    this.mlp = l.vecKeys.length ? new DenseStack(F, c.units, c.decLayers, o) : null;
    this.vecOut = l.vecKeys.length ? officialLinear(c.units, l.vecDim, o) : null;
    this.deconvs = [];
    this.deconvNorms = [];
    this.space = null;
    this.spaceNorm = null;
    this.imgOut = null;
    if (l.imgKeys.length) {
      const ds = cnnDepths(c, l.stages);
      const last = ds[ds.length - 1];
      this.space = officialLinear(F, l.minH * l.minW * last, o);
      this.spaceNorm = new Norm(last, o.norm, o.eps, o.device);
      const convOpts = {
        stride: 2,
        padding: 1,
        // Official fan-in of a (transposed) conv: input channels x k x k (weight [in, out, k, k]).
        init: (shape: number[], _fanIn: number, fanOut: number, io: InitOptions) =>
          initWeight("truncNormal", shape, shape[0] * shape[2] * shape[3], fanOut, io),
        biasInit: "zeros" as const,
        device: o.device,
        generator: o.generator,
      };
      for (let i = ds.length - 1; i >= 1; i--) {
        this.deconvs.push(new ConvTranspose2d(ds[i], ds[i - 1], 4, convOpts));
        this.deconvNorms.push(new Norm(ds[i - 1], o.norm, o.eps, o.device));
      }
      this.imgOut = new ConvTranspose2d(ds[0], l.img.channels, 4, convOpts);
    }
    this.lastDepth = l.imgKeys.length ? cnnDepths(c, l.stages)[l.stages - 1] : 0;
  }

  /**
   * Features `[N, F]` -> predictions by key: vectors `[N, ...shape]` in symlog space (callers
   * symexp them for observations), images `[N, C, H, W]`.
   */
  forward(feat: Tensor): Record<string, Tensor> {
    const l = this.layout;
    const n = feat.shape[0];
    const out: Record<string, Tensor> = {};
    if (this.mlp && this.vecOut) {
      const y = this.vecOut.forward(this.mlp.forward(feat));
      let off = 0;
      l.vecKeys.forEach((k, i) => {
        const shape = l.keys.find((e) => e.key === k)!.shape;
        const part = l.vecKeys.length === 1 ? y : y.narrow(1, off, l.vecDims[i]);
        out[k] = part.reshape([n, ...shape]);
        off += l.vecDims[i];
      });
    }
    if (this.space && this.spaceNorm && this.imgOut) {
      let x = this.space.forward(feat).reshape([n, this.lastDepth, l.minH, l.minW]);
      x = activate(this.spaceNorm.forwardChannels(x), "silu");
      this.deconvs.forEach((dc, i) => {
        x = activate(this.deconvNorms[i].forwardChannels(dc.forward(x)), "silu");
      });
      const img = this.imgOut.forward(x).add(0.5);
      let off = 0;
      l.imgKeys.forEach((k, i) => {
        out[k] = l.imgKeys.length === 1 ? img : img.narrow(1, off, l.imgChannels[i]);
        off += l.imgChannels[i];
      });
    }
    return out;
  }
}
