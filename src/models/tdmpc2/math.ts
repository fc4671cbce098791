/**
 * TD-MPC2's math, in tensor ops (after the official `tdmpc2/common/math.py` and
 * `tdmpc2/common/scale.py`): two-hot discrete regression in symlog space, the squashed
 * Gaussian policy's log-probabilities, and the running 5-95 percentile scale of Q values, kept
 * on the device so that an update never reads back.
 * @module
 */

import { ShapeError } from "../../errors.ts";
import { arange, concat, full } from "../../tensor/creation.ts";
import { sort } from "../../tensor/functional.ts";
import { keep, noGrad, type Tensor } from "../../tensor/tensor.ts";
import type { DeviceName } from "../../backend/types.ts";

/** The bins of two-hot regression: `numBins` points from `vmin` to `vmax` (symlog space). */
export interface BinSpec {
  /** Number of bins (official `num_bins`, 101). */
  readonly numBins: number;
  /** Lowest bin (official `vmin`, -10). */
  readonly vmin: number;
  /** Highest bin (official `vmax`, 10). */
  readonly vmax: number;
}

/**
 * The bin centres `[K]` (official `torch.linspace(vmin, vmax, num_bins)`), computed inline the
 * way torch's linspace does: from the start for the first half, from the end for the second,
 * so that symmetric ranges give exactly symmetric bins.
 */
export function binCenters(b: BinSpec, device: DeviceName): Tensor {
  const K = b.numBins;
  const step = (b.vmax - b.vmin) / (K - 1);
  const k = arange(K, { device }).cast("float32");
  const fromStart = k.mul(step).add(b.vmin);
  const fromEnd = k.neg().add(K - 1).mul(-step).add(b.vmax);
  return k.lt(Math.floor(K / 2)).ifElse(fromStart, fromEnd);
}

/**
 * Soft two-hot targets `[..., K]` of scalars `x` (`[...]`), official `math.two_hot`:
 * `symlog(x)` clamped to `[vmin, vmax]`, weight `1 - offset` on bin `floor(pos)` and `offset`
 * on the next bin (modulo K, as the official scatter), `pos = (x - vmin) / bin_size`. No
 * gradient flows to `x`. A NaN target gives a row of NaN (the official scatter fails on it),
 * so that a NaN reward or TD target shows as a NaN loss instead of a target of all zeros.
 */
export function twoHot(x: Tensor, b: BinSpec): Tensor {
  const binSize = (b.vmax - b.vmin) / (b.numBins - 1);
  return noGrad(() => {
    const pos = x.symlog().clamp(b.vmin, b.vmax).sub(b.vmin).div(binSize).unsqueeze(-1);
    const lo = pos.floor(); // [..., 1]
    const offset = pos.sub(lo);
    const hi = lo.add(1).eq(b.numBins).ifElse(0, lo.add(1));
    const k = arange(b.numBins, { device: x.device }).cast("float32");
    const nan = x.ne(x).ifElse(x, 0).unsqueeze(-1); // NaN where x is NaN, else 0
    return k.eq(lo).ifElse(offset.neg().add(1), 0).add(k.eq(hi).ifElse(offset, 0)).add(nan);
  });
}

/**
 * Scalars `[...]` decoded from two-hot logits `[..., K]` (official `math.two_hot_inv`):
 * `symexp(sum(softmax(logits) * bins))`.
 */
export function twoHotInv(logits: Tensor, b: BinSpec): Tensor {
  if (logits.shape[logits.rank - 1] !== b.numBins) {
    throw new ShapeError("twoHotInv", `expected [..., ${b.numBins}] logits, got [${logits.shape}]`);
  }
  return logits.softmax(-1).mul(binCenters(b, logits.device)).sum(-1).symexp();
}

/**
 * Cross-entropy `[...]` of two-hot logits `[..., K]` against the two-hot encoding of scalar
 * targets `[...]` (official `math.soft_ce`, without the keepdim axis).
 */
export function softCE(logits: Tensor, target: Tensor, b: BinSpec): Tensor {
  return twoHot(target, b).mul(logits.logSoftmax(-1)).sum(-1).neg();
}

/** `low + 0.5 * dif * (tanh(x) + 1)` (official `math.log_std`). */
export function boundedLogStd(x: Tensor, low: number, high: number): Tensor {
  return x.tanh().add(1).mul(0.5 * (high - low)).add(low);
}

/** `sum(-0.5 eps^2 - log_std - log(sqrt(2 pi)))` over the last axis, keepdim (official). */
export function gaussianLogProb(eps: Tensor, logStd: Tensor): Tensor {
  return eps.square().mul(-0.5).sub(logStd).sub(0.9189385175704956).sum(-1, true);
}

/**
 * tanh squashing of mean and sample with the log-probability correction
 * `log_pi - sum(log(relu(1 - tanh(pi)^2) + 1e-6))` (official `math.squash`).
 */
export function squash(
  mu: Tensor,
  pi: Tensor,
  logPi: Tensor,
): { mean: Tensor; action: Tensor; logProb: Tensor } {
  const mean = mu.tanh();
  const action = pi.tanh();
  const correction = action.square().neg().add(1).relu().add(1e-6).log().sum(-1, true);
  return { mean, action, logProb: logPi.sub(correction) };
}

/**
 * The running trimmed scale of Q values (official `common/scale.py` `RunningScale`): the
 * 5th-95th percentile range of a batch (at least 1), averaged with rate `tau`. The value lives
 * in a one-element device tensor updated in place, so the update needs no read-back (and can
 * be compiled). The percentile positions depend only on the batch size, so they are computed on
 * the host.
 */
export class RunningScale {
  /** The current scale `[1]` (starts at 1). */
  readonly value: Tensor;
  /** The percentiles (official `[5, 95]`). */
  readonly percentiles: readonly [number, number] = [5, 95];

  /** A scale on `device` (or adopting an existing one-element tensor, e.g. a model buffer). */
  constructor(readonly tau: number, deviceOrValue: DeviceName | Tensor = "cpu") {
    this.value = typeof deviceOrValue === "string"
      ? keep(full([1], 1, { device: deviceOrValue }).contiguous().clone().realize())
      : deviceOrValue;
  }

  /** Linearly interpolated percentiles `[2, ...]` of `x` (`[N, ...]`) along axis 0. */
  percentile(x: Tensor): Tensor {
    const n = x.shape[0];
    const flat = x.reshape([n, -1]);
    const sorted = sort(flat, 0).values;
    const rows = this.percentiles.map((p) => {
      // float32 arithmetic as the official buffers: positions = p * (n - 1) / 100
      const pos = Math.fround(Math.fround(p * (n - 1)) / 100);
      const lo = Math.floor(pos);
      const hi = Math.min(lo + 1, n - 1);
      const wHi = Math.fround(pos - lo);
      const wLo = Math.fround(1 - wHi);
      return sorted.narrow(0, lo, 1).mul(wLo).add(sorted.narrow(0, hi, 1).mul(wHi));
    });
    return concat(rows, 0).reshape([2, ...x.shape.slice(1)]);
  }

  /**
   * The scale after seeing `x` (lazy, `[1]`): `value + tau * (max(p95 - p5, 1) - value)`.
   * Write it back with {@link RunningScale.commit} (after realizing it with the step).
   */
  next(x: Tensor): Tensor {
    return noGrad(() => {
      const p = this.percentile(x.detach());
      const range = p.narrow(0, 1, 1).sub(p.narrow(0, 0, 1)).reshape([-1]).maximum(1);
      const v = this.value;
      return v.add(range.narrow(0, 0, 1).sub(v).mul(this.tau));
    });
  }

  /** Writes a new value (from {@link RunningScale.next}) in place. */
  commit(next: Tensor): void {
    this.value.assign(next);
  }
}
