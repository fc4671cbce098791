/**
 * Attention from the tensor layer's ops (matmul, softmax, reshape/permute): scaled dot-product
 * attention with an additive bias, causal ALiBi biases (Press et al. 2022: a per-head penalty
 * linear in the distance, so no position embeddings and any sequence length), multi-head causal
 * self-attention and a pre-norm transformer block. Gradients come from the ops' own rules
 * (checked against finite differences in `tests/autograd/cases.ts`).
 * @module
 */

import { ShapeError } from "../errors.ts";
import { tensor } from "../tensor/creation.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { DeviceName } from "../backend/types.ts";
import { Activation, LayerNorm, type LayerOptions, Linear } from "./layers.ts";
import { Module } from "./module.ts";

/** What a masked attention score gets added (softmax turns it into an exact 0 weight). */
export const MASKED: number = -1e9;

/**
 * `softmax(q k^T / sqrt(dh) + bias) v` for `q`, `k`, `v` of shape `[..., L, dh]` (`k`, `v` may
 * have another length `S`) and a bias broadcastable to `[..., L, S]` (causal and padding masks
 * as {@link MASKED}, ALiBi distances); null for none.
 *
 * @example
 * ```ts
 * import { randn, scaledDotProductAttention } from "@worldflux/worldflux";
 * const q = randn([2, 4, 5, 8]); // [B, H, L, dh]
 * console.log(scaledDotProductAttention(q, q, q, null).shape); // [2, 4, 5, 8]
 * ```
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  bias: Tensor | null,
): Tensor {
  const dh = q.shape[q.rank - 1];
  if (k.shape[k.rank - 1] !== dh) {
    throw new ShapeError(
      "attention",
      `queries and keys need the same last axis, got ${q.shape} and ${k.shape}`,
    );
  }
  let scores = q.matmul(k.mT).mul(1 / Math.sqrt(dh));
  if (bias) scores = scores.add(bias);
  return scores.softmax(-1).matmul(v);
}

/** ALiBi slopes of `heads` heads: `2^(-8 (h + 1) / heads)`. */
export function alibiSlopes(heads: number): number[] {
  return Array.from({ length: heads }, (_, h) => 2 ** (-8 * (h + 1) / heads));
}

/**
 * The causal ALiBi bias `[heads, L, L]`: `-slope_h * (i - j)` where key `j` is at or before query
 * `i`, {@link MASKED} after it.
 *
 * @example
 * ```ts
 * import { causalAlibiBias } from "@worldflux/worldflux";
 * console.log(await causalAlibiBias(1, 3).array()); // [[[0, -1e9, -1e9], [-0.00390625, 0, -1e9], ...]]
 * ```
 */
export function causalAlibiBias(
  heads: number,
  length: number,
  opts: { device?: DeviceName } = {},
): Tensor {
  const slopes = alibiSlopes(heads);
  const data = new Float32Array(heads * length * length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < length; j++) {
        data[(h * length + i) * length + j] = j <= i ? -slopes[h] * (i - j) : MASKED;
      }
    }
  }
  return tensor(data, [heads, length, length], { device: opts.device });
}

/** Multi-head causal self-attention (`qkv` and `out` projections, `heads` heads). */
export class CausalSelfAttention extends Module {
  /** `[dim] -> [3 dim]` (queries, keys, values). */
  readonly qkv: Linear;
  /** `[dim] -> [dim]`. */
  readonly out: Linear;

  /** Creates the layer (`dim` divisible by `heads`). */
  constructor(readonly dim: number, readonly heads: number, opts: LayerOptions = {}) {
    super();
    if (!Number.isInteger(dim / heads)) {
      throw new ShapeError("CausalSelfAttention", `dim ${dim} is not divisible by ${heads} heads`);
    }
    this.qkv = new Linear(dim, 3 * dim, opts);
    this.out = new Linear(dim, dim, opts);
  }

  /**
   * `x [B, L, dim]` -> `[B, L, dim]`; `bias` broadcastable to `[B, heads, L, L]` (e.g.
   * {@link causalAlibiBias} plus a padding mask).
   */
  forward(x: Tensor, bias: Tensor): Tensor {
    const [b, l] = x.shape;
    const h = this.heads, dh = this.dim / h;
    const qkv = this.qkv.forward(x).reshape([b, l, 3, h, dh]).permute([2, 0, 3, 1, 4]);
    const pick = (i: number) => qkv.narrow(0, i, 1).squeeze(0); // [B, H, L, dh]
    const y = scaledDotProductAttention(pick(0), pick(1), pick(2), bias);
    return this.out.forward(y.permute([0, 2, 1, 3]).reshape([b, l, this.dim]));
  }
}

/**
 * A pre-norm transformer block: `x + attn(ln(x))`, then `x + mlp(ln(x))` with a `4 dim` GELU
 * MLP (GPT-2's layout, as IRIS's world model).
 */
export class TransformerBlock extends Module {
  /** Norm before attention. */
  readonly ln1: LayerNorm;
  /** Causal self-attention. */
  readonly attn: CausalSelfAttention;
  /** Norm before the MLP. */
  readonly ln2: LayerNorm;
  /** `dim -> 4 dim`. */
  readonly fc: Linear;
  /** GELU. */
  readonly act: Activation;
  /** `4 dim -> dim`. */
  readonly proj: Linear;

  /** Creates the block. */
  constructor(dim: number, heads: number, opts: LayerOptions = {}) {
    super();
    this.ln1 = new LayerNorm(dim, { device: opts.device });
    this.attn = new CausalSelfAttention(dim, heads, opts);
    this.ln2 = new LayerNorm(dim, { device: opts.device });
    this.fc = new Linear(dim, 4 * dim, opts);
    this.act = new Activation("gelu");
    this.proj = new Linear(4 * dim, dim, opts);
  }

  /** `x [B, L, dim]` -> `[B, L, dim]`. */
  forward(x: Tensor, bias: Tensor): Tensor {
    const a = x.add(this.attn.forward(this.ln1.forward(x), bias));
    return a.add(this.proj.forward(this.act.forward(this.fc.forward(this.ln2.forward(a)))));
  }
}
