/**
 * Hand-written reference kernels of the cpu backend: softmax, norms, convolutions, pooling,
 * gather/scatter, random numbers, sort and the fused optimizer update. All operands are
 * contiguous regions (offset + row-major).
 * @module
 */

import type {
  ConvKernel,
  GatherKernel,
  Kernel,
  NormKernel,
  OptimKernel,
  PoolKernel,
  RngKernel,
  SoftmaxKernel,
  SortKernel,
} from "../types.ts";
import type { CpuBuffer } from "./buffer.ts";
import { fillRandom } from "../rng.ts";

const F = (b: { buf: unknown }) => (b.buf as CpuBuffer).f;
const I = (b: { buf: unknown }) => (b.buf as CpuBuffer).i;
const O = (b: { view: { offset: number } }) => b.view.offset;

/** Runs a hand-written kernel. */
export function runHandKernel(k: Kernel): void {
  switch (k.kind) {
    case "softmax":
      return softmax(k);
    case "norm":
      return norm(k);
    case "conv":
      return conv(k);
    case "pool":
      return pool(k);
    case "gather":
      return gather(k);
    case "rng":
      return rng(k);
    case "sort":
      return sort(k);
    case "optim":
      return optim(k);
    default:
      throw new Error(`cpu backend: unknown kernel ${k.kind}`);
  }
}

function softmax(k: SoftmaxKernel): void {
  const x = F(k.x), y = F(k.out);
  const xo = O(k.x), yo = O(k.out);
  const { rows, cols } = k;
  for (let r = 0; r < rows; r++) {
    const base = xo + r * cols;
    let mx = -Infinity;
    for (let c = 0; c < cols; c++) mx = Math.max(mx, x[base + c]);
    if (mx === -Infinity) mx = 0;
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[base + c] - mx);
    if (k.mode === "logsumexp") {
      y[yo + r] = mx + Math.log(s);
      continue;
    }
    const ob = yo + r * cols;
    if (k.mode === "softmax") {
      for (let c = 0; c < cols; c++) y[ob + c] = Math.exp(x[base + c] - mx) / s;
    } else {
      const ls = Math.log(s);
      for (let c = 0; c < cols; c++) y[ob + c] = x[base + c] - mx - ls;
    }
  }
}

function norm(k: NormKernel): void {
  const x = F(k.x), y = F(k.out), dy = k.dy ? F(k.dy) : null;
  const w = k.weight ? F(k.weight) : null;
  const b = k.bias ? F(k.bias) : null;
  const wo = k.weight ? O(k.weight) : 0, bo = k.bias ? O(k.bias) : 0;
  const { rows, cols, eps } = k;
  for (let r = 0; r < rows; r++) {
    const base = O(k.x) + r * cols;
    const ob = O(k.out) + r * cols;
    let mean = 0;
    if (k.mode === "layer") {
      for (let c = 0; c < cols; c++) mean += x[base + c];
      mean /= cols;
    }
    let v = 0;
    for (let c = 0; c < cols; c++) {
      const d = x[base + c] - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / cols + eps);
    if (dy) {
      // backward: gw = dy * w; dx = (gw - xhat * mean(gw * xhat) - mean(gw)) * inv (rms: no
      // mean(gw) term)
      const gb = O(k.dy!) + r * cols;
      const gw = (c: number) => (w ? dy[gb + c] * w[wo + c] : dy[gb + c]);
      let sgx = 0, sg = 0;
      for (let c = 0; c < cols; c++) {
        sgx += gw(c) * (x[base + c] - mean) * inv;
        sg += gw(c);
      }
      const a = sgx / cols, m = k.mode === "layer" ? sg / cols : 0;
      for (let c = 0; c < cols; c++) {
        y[ob + c] = (gw(c) - (x[base + c] - mean) * inv * a - m) * inv;
      }
      continue;
    }
    for (let c = 0; c < cols; c++) {
      let o = (x[base + c] - mean) * inv;
      if (w) o *= w[wo + c];
      if (b) o += b[bo + c];
      y[ob + c] = o;
    }
  }
}

function conv(k: ConvKernel): void {
  const g = k.geom;
  const x = F(k.x), w = F(k.w), y = F(k.out);
  const xo = O(k.x), wo = O(k.w), yo = O(k.out);
  const { n, cin, h, w: W, cout, kh, kw, stride, padding, outH, outW } = g;
  if (k.mode === "conv2d") {
    const bias = k.bias ? F(k.bias) : null;
    const bo = k.bias ? O(k.bias) : 0;
    for (let b = 0; b < n; b++) {
      for (let co = 0; co < cout; co++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            let acc = bias ? bias[bo + co] : 0;
            for (let ci = 0; ci < cin; ci++) {
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * stride - padding + ky;
                if (iy < 0 || iy >= h) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * stride - padding + kx;
                  if (ix < 0 || ix >= W) continue;
                  acc += x[xo + ((b * cin + ci) * h + iy) * W + ix] *
                    w[wo + ((co * cin + ci) * kh + ky) * kw + kx];
                }
              }
            }
            y[yo + ((b * cout + co) * outH + oy) * outW + ox] = acc;
          }
        }
      }
    }
    return;
  }
  if (k.mode === "convTranspose2d") {
    // y[b, co, oy, ox] = sum over (ci, ky, kx) with oy = iy*stride - pad + ky
    const bias = k.bias ? F(k.bias) : null;
    const bo = k.bias ? O(k.bias) : 0;
    for (let b = 0; b < n; b++) {
      for (let co = 0; co < cout; co++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            let acc = bias ? bias[bo + co] : 0;
            for (let ky = 0; ky < kh; ky++) {
              const ty = oy + padding - ky;
              if (ty < 0 || ty % stride !== 0) continue;
              const iy = ty / stride;
              if (iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const tx = ox + padding - kx;
                if (tx < 0 || tx % stride !== 0) continue;
                const ix = tx / stride;
                if (ix >= W) continue;
                for (let ci = 0; ci < cin; ci++) {
                  acc += x[xo + ((b * cin + ci) * h + iy) * W + ix] *
                    w[wo + ((ci * cout + co) * kh + ky) * kw + kx];
                }
              }
            }
            y[yo + ((b * cout + co) * outH + oy) * outW + ox] = acc;
          }
        }
      }
    }
    return;
  }
  // Weight gradients: `w` holds dy [n, cout, outH, outW].
  const dy = w, dyo = wo;
  const transposed = k.mode === "convTranspose2dWeightGrad";
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          let acc = 0;
          for (let b = 0; b < n; b++) {
            if (!transposed) {
              for (let oy = 0; oy < outH; oy++) {
                const iy = oy * stride - padding + ky;
                if (iy < 0 || iy >= h) continue;
                for (let ox = 0; ox < outW; ox++) {
                  const ix = ox * stride - padding + kx;
                  if (ix < 0 || ix >= W) continue;
                  acc += x[xo + ((b * cin + ci) * h + iy) * W + ix] *
                    dy[dyo + ((b * cout + co) * outH + oy) * outW + ox];
                }
              }
            } else {
              for (let iy = 0; iy < h; iy++) {
                const oy = iy * stride - padding + ky;
                if (oy < 0 || oy >= outH) continue;
                for (let ix = 0; ix < W; ix++) {
                  const ox = ix * stride - padding + kx;
                  if (ox < 0 || ox >= outW) continue;
                  acc += x[xo + ((b * cin + ci) * h + iy) * W + ix] *
                    dy[dyo + ((b * cout + co) * outH + oy) * outW + ox];
                }
              }
            }
          }
          const idx = transposed
            ? ((ci * cout + co) * kh + ky) * kw + kx
            : ((co * cin + ci) * kh + ky) * kw + kx;
          y[yo + idx] = acc;
        }
      }
    }
  }
}

function pool(k: PoolKernel): void {
  const { n, c, h, w, k: ks, stride, outH, outW } = k.geom;
  const x = F(k.x), y = F(k.out);
  const xo = O(k.x), yo = O(k.out);
  const planes = n * c;
  switch (k.mode) {
    case "max":
    case "avg":
      for (let p = 0; p < planes; p++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            let acc = k.mode === "max" ? -Infinity : 0;
            for (let ky = 0; ky < ks; ky++) {
              for (let kx = 0; kx < ks; kx++) {
                const v = x[xo + (p * h + oy * stride + ky) * w + ox * stride + kx];
                acc = k.mode === "max" ? (v > acc ? v : acc) : acc + v;
              }
            }
            y[yo + (p * outH + oy) * outW + ox] = k.mode === "max" ? acc : acc / (ks * ks);
          }
        }
      }
      return;
    case "maxGrad":
    case "avgGrad": {
      const dy = F(k.dy!), dyo = O(k.dy!);
      for (let i = 0; i < planes * h * w; i++) y[yo + i] = 0;
      for (let p = 0; p < planes; p++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            const g = dy[dyo + (p * outH + oy) * outW + ox];
            if (k.mode === "avgGrad") {
              for (let ky = 0; ky < ks; ky++) {
                for (let kx = 0; kx < ks; kx++) {
                  y[yo + (p * h + oy * stride + ky) * w + ox * stride + kx] += g / (ks * ks);
                }
              }
              continue;
            }
            // The window's first element when nothing exceeds -inf (as PyTorch).
            let best = -Infinity, bi = (p * h + oy * stride) * w + ox * stride;
            for (let ky = 0; ky < ks; ky++) {
              for (let kx = 0; kx < ks; kx++) {
                const idx = (p * h + oy * stride + ky) * w + ox * stride + kx;
                if (x[xo + idx] > best) {
                  best = x[xo + idx];
                  bi = idx;
                }
              }
            }
            y[yo + bi] += g;
          }
        }
      }
      return;
    }
    case "upsample":
      for (let p = 0; p < planes; p++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            y[yo + (p * outH + oy) * outW + ox] =
              x[xo + (p * h + Math.floor(oy / ks)) * w + Math.floor(ox / ks)];
          }
        }
      }
      return;
    case "upsampleGrad": {
      // x is dy of the upsampled tensor [n, c, h, w]; out [n, c, outH, outW] with h = outH * k
      for (let p = 0; p < planes; p++) {
        for (let oy = 0; oy < outH; oy++) {
          for (let ox = 0; ox < outW; ox++) {
            let s = 0;
            for (let ky = 0; ky < ks; ky++) {
              for (let kx = 0; kx < ks; kx++) {
                s += x[xo + (p * h + oy * ks + ky) * w + ox * ks + kx];
              }
            }
            y[yo + (p * outH + oy) * outW + ox] = s;
          }
        }
      }
      return;
    }
  }
}

function gather(k: GatherKernel): void {
  const src = F(k.src), idx = I(k.indices), out = F(k.out);
  const so = O(k.src), io = O(k.indices), oo = O(k.out);
  const { outer, axisSize, nIdx, inner } = k;
  if (k.mode === "gather") {
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < nIdx; j++) {
        for (let i = 0; i < inner; i++) {
          let a = idx[io + (o * nIdx + j) * inner + i];
          if (a < 0) a += axisSize;
          out[oo + (o * nIdx + j) * inner + i] = a >= 0 && a < axisSize
            ? src[so + (o * axisSize + a) * inner + i]
            : 0;
        }
      }
    }
    return;
  }
  for (let i = 0; i < outer * axisSize * inner; i++) out[oo + i] = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      for (let i = 0; i < inner; i++) {
        let a = idx[io + (o * nIdx + j) * inner + i];
        if (a < 0) a += axisSize;
        if (a >= 0 && a < axisSize) {
          out[oo + (o * axisSize + a) * inner + i] += src[so + (o * nIdx + j) * inner + i];
        }
      }
    }
  }
}

function rng(k: RngKernel): void {
  const b = k.out.buf as CpuBuffer;
  fillRandom(k.dist === "bits" ? b.i : b.f, k.dist, k.key, k.counter, k.n, O(k.out));
}

function sort(k: SortKernel): void {
  const x = F(k.x), ix = I(k.indices);
  const { rows, cols } = k;
  const order = new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    const base = O(k.x) + r * cols;
    for (let c = 0; c < cols; c++) order[c] = c;
    // Stable sort; NaN sorts last (ascending) / first (descending), as in PyTorch.
    order.sort((a, b) => {
      const xa = x[base + a], xb = x[base + b];
      const na = xa !== xa, nb = xb !== xb;
      let d: number;
      if (na || nb) d = na && nb ? 0 : na ? 1 : -1;
      else d = xa < xb ? -1 : xa > xb ? 1 : 0;
      if (k.descending) d = -d;
      return d !== 0 ? d : a - b;
    });
    for (let c = 0; c < cols; c++) ix[O(k.indices) + r * cols + c] = order[c];
  }
}

function optim(k: OptimKernel): void {
  const p = F(k.param), g = F(k.grad), m = F(k.m), v = F(k.v);
  const po = O(k.param), go = O(k.grad), mo = O(k.m), vo = O(k.v);
  const [lr, b1, b2, eps, wd, bc1, bc2, hscale] = k.hyper;
  const gscale = hscale * (k.scale ? F(k.scale)[O(k.scale)] : 1);
  for (let i = 0; i < k.n; i++) {
    const gi = g[go + i] * gscale;
    let pi = p[po + i];
    if (k.rule === "adam") {
      // AdamW: decoupled weight decay (wd = 0 gives Adam).
      pi -= lr * wd * pi;
      const mi = b1 * m[mo + i] + (1 - b1) * gi;
      const vi = b2 * v[vo + i] + (1 - b2) * gi * gi;
      m[mo + i] = mi;
      v[vo + i] = vi;
      pi -= lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
    } else {
      // LaProp: normalise the gradient by the second moment first, then apply momentum.
      const vi = b2 * v[vo + i] + (1 - b2) * gi * gi;
      v[vo + i] = vi;
      const mi = b1 * m[mo + i] + (1 - b1) * gi / (Math.sqrt(vi / bc2) + eps);
      m[mo + i] = mi;
      pi -= lr * wd * pi;
      pi -= lr * mi / bc1;
    }
    p[po + i] = pi;
  }
}
