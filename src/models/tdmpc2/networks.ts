/**
 * TD-MPC2's networks (after the official `tdmpc2/common/layers.py` and `common/init.py`):
 * {@link TDMLP} (NormedLinear hidden layers, Linear -> (dropout) -> LayerNorm -> Mish, then a
 * Linear, or a NormedLinear with SimNorm for latents), the weight initialisation, and the Q
 * ensemble as one batched matmul per layer with a functional forward over any weight set (the
 * live heads, detached heads for the policy loss, target heads, or a random pair of them).
 * @module
 */

import { getDefaultDevice } from "../../backend/device.ts";
import type { DeviceName } from "../../backend/types.ts";
import type { Init } from "../../nn/init.ts";
import { type LayerNorm, Linear, simnorm } from "../../nn/layers.ts";
import { EnsembleMLP, NormedLinear } from "../../nn/mlp.ts";
import { Module } from "../../nn/module.ts";
import { layerNorm } from "../../tensor/functional.ts";
import { defaultGenerator, dropout, type Generator, randn } from "../../tensor/random.ts";
import { defineGradient, recordGrad } from "../../tensor/gradients.ts";
import { isGradEnabled, noGrad, type Tensor } from "../../tensor/tensor.ts";

/**
 * Official `init.weight_init`: Linear weights `trunc_normal_(std=0.02)` (PyTorch truncates at
 * the absolute bounds [-2, 2], far outside 0.02's range), biases zero.
 */
export const tdmpc2Init: Init = (shape, _fanIn, _fanOut, opts): Tensor =>
  randn(shape, {
    generator: opts.generator ?? defaultGenerator(),
    device: opts.device ?? getDefaultDevice(),
  }).mul(0.02).clamp(-2, 2);

/**
 * Mish, `x * tanh(softplus(x))`, with one exponential: `tanh(softplus(x)) = n / (n + 2)` for
 * `n = e^x (e^x + 2)`, so `fastMish(x) = x / (1 + 2 / n)` (exact algebra; `e^x` is computed at
 * `min(x, 20)`, where the ratio is 1 in float32). The gradient
 * `(n (n + 2) + 4 x e^x (e^x + 1)) / (n + 2)^2` reuses the forward's `e^x`. Same values as
 * the op table's `mish` (more accurate for very negative inputs), a third of the
 * transcendental work: the activation of every TD-MPC2 hidden layer.
 */
export function fastMish(x: Tensor): Tensor {
  // Without a gradient to record, one elementwise op (the op table's fastMish, same values):
  // e^x is not stored, so the activation fuses into one kernel.
  if (!isGradEnabled() || !x.requiresGrad) return x.fastMish();
  const e = noGrad(() => x.minimum(20).exp());
  const y = noGrad(() => x.div(e.mul(e.add(2)).reciprocal().mul(2).add(1)));
  return recordGrad(y, "fastMishSavedExp", [x], [x, e]);
}

defineGradient<undefined, Tensor>("fastMishSavedExp", (g, [xs, es]) => {
  // 1 / (n + 2) = r; mish'(x) = 1 - 2r + 4 x e (e + 1) r^2
  const r = es.mul(es.add(2)).add(2).reciprocal();
  return [g.mul(r.mul(xs.mul(es).mul(es.add(1)).mul(4).mul(r).sub(2)).add(1))];
});

/** Options of {@link TDMLP}. */
export interface TDMLPOptions {
  /** Initialisation stream. */
  readonly generator?: Generator;
  /** Device of the parameters. */
  readonly device?: DeviceName;
  /** `"simnorm"`: the output layer is a NormedLinear with SimNorm (latents). */
  readonly outAct?: "simnorm" | null;
  /** SimNorm group size. */
  readonly simnormDim?: number;
  /** Zero-initialise the output layer's weight (official: reward head and Q heads). */
  readonly zeroOut?: boolean;
}

/**
 * The basic block of TD-MPC2 (official `layers.mlp`): a NormedLinear (Linear -> LayerNorm ->
 * Mish) per hidden width, then a Linear to `outDim` — or a NormedLinear with SimNorm when
 * `outAct` is `"simnorm"` (encoder and dynamics). Parameter names `layers.0.weight`,
 * `layers.0.ln.weight`, ... mirror the official `Sequential` indices.
 */
export class TDMLP extends Module {
  /** NormedLinear hidden layers, then the output layer. */
  readonly layers: (NormedLinear | Linear)[];

  /** Builds `inDim -> hidden... -> outDim`. */
  constructor(
    readonly inDim: number,
    hidden: readonly number[],
    readonly outDim: number,
    opts: TDMLPOptions = {},
  ) {
    super();
    const layer = {
      generator: opts.generator,
      device: opts.device,
      init: tdmpc2Init,
      biasInit: "zeros" as const,
    };
    this.layers = [];
    let d = inDim;
    for (const h of hidden) {
      this.layers.push(new NormedLinear(d, h, { ...layer, act: "mish" }));
      d = h;
    }
    const outLayer = { ...layer, init: opts.zeroOut ? "zeros" as const : tdmpc2Init };
    this.layers.push(
      opts.outAct === "simnorm"
        ? new NormedLinear(d, outDim, {
          ...outLayer,
          act: "simnorm",
          simnormDim: opts.simnormDim ?? 8,
        })
        : new Linear(d, outDim, outLayer),
    );
  }

  /**
   * Applies the layers to `[..., inDim]`: NormedLinear is Linear -> LayerNorm -> Mish (or
   * SimNorm), written here with the one-exponential {@link fastMish}.
   */
  forward(x: Tensor): Tensor {
    const l0 = this.layers[0];
    return this.#rest(x.matmul(l0.weight.mT).add(l0.bias!));
  }

  /**
   * The forward pass on `[z, a]` rows where each `z` `[B, Lz]` is paired with `n` different
   * `a` `[B, n, La]` (`Lz + La = inDim`), without repeating `z`: the first layer is
   * `z Wz^T + a Wa^T + b` with `W = [Wz | Wa]` (planning: every candidate starts from the same
   * latent). Returns `[B * n, outDim]` (rows batch-major), equal to
   * `forward(concat([repeat(z, n), a]))`.
   */
  forwardShared(z: Tensor, a: Tensor): Tensor {
    const l0 = this.layers[0];
    const [B, n] = a.shape;
    const Lz = z.shape[z.rank - 1];
    const La = a.shape[a.rank - 1];
    const zPart = z.matmul(l0.weight.narrow(1, 0, Lz).mT).unsqueeze(1); // [B, 1, H]
    const y = a.matmul(l0.weight.narrow(1, Lz, La).mT).add(zPart).add(l0.bias!);
    return this.#rest(y.reshape([B * n, l0.outFeatures]));
  }

  /** The rest of the network from the first layer's affine output. */
  #rest(pre: Tensor): Tensor {
    let y = pre;
    this.layers.forEach((l, i) => {
      if (i > 0) y = y.matmul(l.weight.mT).add(l.bias!);
      if (l instanceof NormedLinear) {
        const ln = l.ln as LayerNorm;
        y = layerNorm(y, ln.weight, ln.bias, 1e-5);
        y = l.act === "simnorm" ? simnorm(y, l.simnormDim) : fastMish(y);
      }
    });
    return y;
  }
}

/** The weights of a Q ensemble, as tensors (live, detached, target or a selection of heads). */
export interface QWeights {
  /** Hidden EnsembleLinear layers: weight `[n, out, in]`, bias `[n, out]`. */
  readonly layers: readonly { readonly weight: Tensor; readonly bias: Tensor }[];
  /** Per-member LayerNorms of the hidden layers: weight and bias `[n, out]`. */
  readonly norms: readonly { readonly weight: Tensor; readonly bias: Tensor }[];
  /** Output layer: weight `[n, K, hidden]`, bias `[n, K]`. */
  readonly out: { readonly weight: Tensor; readonly bias: Tensor };
}

/** The weights of an {@link EnsembleMLP} (the tensors themselves). */
export function qWeightsOf(e: EnsembleMLP): QWeights {
  return {
    layers: e.layers.map((l) => ({ weight: l.weight, bias: l.bias! })),
    norms: e.norms.map((n) => ({ weight: n.weight, bias: n.bias })),
    out: { weight: e.out.weight, bias: e.out.bias! },
  };
}

/** Applies `fn` to every tensor of a weight set (same structure). */
export function mapQWeights(q: QWeights, fn: (t: Tensor, name: string) => Tensor): QWeights {
  return {
    layers: q.layers.map((l, i) => ({
      weight: fn(l.weight, `layers.${i}.weight`),
      bias: fn(l.bias, `layers.${i}.bias`),
    })),
    norms: q.norms.map((n, i) => ({
      weight: fn(n.weight, `norms.${i}.weight`),
      bias: fn(n.bias, `norms.${i}.bias`),
    })),
    out: { weight: fn(q.out.weight, "out.weight"), bias: fn(q.out.bias, "out.bias") },
  };
}

/** Every tensor of a weight set, in a fixed order (layers, norms, out). */
export function qWeightList(q: QWeights): Tensor[] {
  return [
    ...q.layers.flatMap((l) => [l.weight, l.bias]),
    ...q.norms.flatMap((n) => [n.weight, n.bias]),
    q.out.weight,
    q.out.bias,
  ];
}

/** The heads `idx` (int32 `[k]`) of a weight set: every tensor gathered along axis 0. */
export function selectHeads(q: QWeights, idx: Tensor): QWeights {
  return mapQWeights(q, (t) => t.gather(idx, 0));
}

/**
 * The Q ensemble's forward with a given weight set: `x` `[B, in]` (shared by every head) ->
 * logits `[n, B, K]`. Hidden layers are EnsembleLinear -> (dropout on the first, when
 * `dropoutP > 0`) -> LayerNorm -> Mish (official `layers.mlp(..., dropout=cfg.dropout)` per
 * head, vectorised as official `layers.Ensemble`).
 */
export function qForward(
  q: QWeights,
  x: Tensor,
  opts: { dropoutP?: number; generator?: Generator } = {},
): Tensor {
  let y = x;
  q.layers.forEach((l, i) => {
    y = y.matmul(l.weight.mT).add(l.bias.unsqueeze(1));
    if (i === 0 && opts.dropoutP && opts.dropoutP > 0) {
      y = dropout(y, opts.dropoutP, { generator: opts.generator });
    }
    const n = q.norms[i];
    y = fastMish(
      layerNorm(y, null, null, 1e-5).mul(n.weight.unsqueeze(1)).add(n.bias.unsqueeze(1)),
    );
  });
  return y.matmul(q.out.weight.mT).add(q.out.bias.unsqueeze(1));
}

/** The Q ensemble module (`numQ` heads `in -> hidden -> hidden -> K`, output zero-init). */
export function qEnsemble(
  n: number,
  inDim: number,
  hidden: readonly number[],
  outDim: number,
  opts: { generator?: Generator; device?: DeviceName; dropout?: number },
): EnsembleMLP {
  return new EnsembleMLP(n, inDim, hidden, outDim, {
    generator: opts.generator,
    device: opts.device,
    init: tdmpc2Init,
    biasInit: "zeros",
    outInit: "zeros",
    act: "mish",
    dropout: opts.dropout ?? 0,
  });
}

export { simnorm };
