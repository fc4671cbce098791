/**
 * DreamerV3's GRU cell: a normalised, optionally block-diagonal input projection with the gate
 * order reset | candidate | update and the update gate biased by -1.
 * @module
 */

import { fmtShape, ShapeError } from "../errors.ts";
import { concat, full } from "../tensor/creation.ts";
import { layerNorm } from "../tensor/functional.ts";
import { defaultGenerator } from "../tensor/random.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { initWeight } from "./init.ts";
import type { LayerOptions } from "./layers.ts";
import { Module, Parameter } from "./module.ts";

/** Per-block layer norm over `blocks` groups of `3 * hidden / blocks` gate pre-activations. */
export class BlockLayerNorm extends Module {
  /** `[3 * hidden]`, viewed per block. */
  weight: Parameter;
  /** `[3 * hidden]`, viewed per block. */
  bias: Parameter;

  /** Creates the norm for `dim` features in `blocks` groups. */
  constructor(
    readonly dim: number,
    readonly blocks: number,
    readonly eps: number,
    device?: "cpu" | "webgpu",
  ) {
    super();
    this.weight = new Parameter(full([dim], 1, { device }));
    this.bias = new Parameter(full([dim], 0, { device }));
  }

  /** Normalises `[..., blocks, dim / blocks]` within each block. */
  forward(x: Tensor): Tensor {
    const g = this.blocks;
    const per = this.dim / g;
    return layerNorm(x, null, null, this.eps)
      .mul(this.weight.reshape([g, per]))
      .add(this.bias.reshape([g, per]));
  }
}

/** Options of {@link GRUCell}. */
export interface GRUCellOptions extends LayerOptions {
  /** Block-diagonal groups (default 1, the classic normed GRU). */
  readonly blocks?: number;
  /** Layer-norm epsilon (default 1e-3, as DreamerV3). */
  readonly eps?: number;
}

/**
 * The DreamerV3 GRU cell. With `blocks = G`, the hidden state is split into G groups; group g
 * sees its own slice of h plus the whole input: `y_g = LN_g(concat(h_g, x) W_g)`, gates
 * `reset, cand, update = split(y_g)`, `h'_g = u * tanh(sigmoid(r) * c) + (1 - u) * h_g` with
 * `u = sigmoid(update - 1)`. Parameters: `weight` `[G, H/G + I, 3H/G]`, `norm.weight` and
 * `norm.bias` `[3H]`.
 */
export class GRUCell extends Module {
  /** `[blocks, hidden/blocks + input, 3 * hidden/blocks]`. */
  weight: Parameter;
  /** Per-block layer norm of the gate pre-activations. */
  norm: BlockLayerNorm;
  /** Number of block-diagonal groups. */
  readonly blocks: number;

  /** Creates the cell. */
  constructor(readonly inputSize: number, readonly hiddenSize: number, opts: GRUCellOptions = {}) {
    super();
    const g = opts.blocks ?? 1;
    if (hiddenSize % g !== 0) {
      throw new ShapeError("GRUCell", `hidden size ${hiddenSize} is not divisible by ${g} blocks`);
    }
    this.blocks = g;
    const per = hiddenSize / g;
    const fanIn = per + inputSize;
    const o = { ...opts, generator: opts.generator ?? defaultGenerator() };
    this.weight = new Parameter(
      initWeight(opts.init ?? "truncNormal", [g, fanIn, 3 * per], fanIn, 3 * per, o),
    );
    this.norm = new BlockLayerNorm(3 * hiddenSize, g, opts.eps ?? 1e-3, opts.device);
  }

  /** Gate pre-activations `[B, G, 3H/G]` (normalised) from input `[B, I]` and state `[B, H]`. */
  gates(x: Tensor, h: Tensor): Tensor {
    const b = h.shape[0];
    const g = this.blocks;
    const per = this.hiddenSize / g;
    if (
      x.rank !== 2 || x.shape[1] !== this.inputSize || h.rank !== 2 ||
      h.shape[1] !== this.hiddenSize || x.shape[0] !== b
    ) {
      throw new ShapeError(
        "GRUCell",
        `expected input [B, ${this.inputSize}] and state [B, ${this.hiddenSize}], got ` +
          `${fmtShape(x.shape)} and ${fmtShape(h.shape)}`,
      );
    }
    const hb = h.reshape([b, g, per]);
    const inp = concat([hb, x.unsqueeze(1).expand([b, g, this.inputSize])], 2); // [B, G, per + I]
    const y = inp.permute([1, 0, 2]).matmul(this.weight).permute([1, 0, 2]); // [B, G, 3 per]
    return this.norm.forward(y);
  }

  /** One step: returns the new state `[B, H]`. */
  forward(x: Tensor, h: Tensor): Tensor {
    const b = h.shape[0];
    const g = this.blocks;
    const per = this.hiddenSize / g;
    const y = this.gates(x, h);
    const [reset, cand, update] = y.split([per, per, per], 2);
    const r = reset.sigmoid();
    const c = r.mul(cand).tanh();
    const u = update.sub(1).sigmoid();
    const hb = h.reshape([b, g, per]);
    return u.mul(c).add(u.neg().add(1).mul(hb)).reshape([b, this.hiddenSize]);
  }
}
