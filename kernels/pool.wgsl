// Pooling and nearest upsampling on contiguous NCHW planes (planes = n * c).
// Words: 0 mode (0 max, 1 avg, 2 maxGrad, 3 avgGrad, 4 upsample, 5 upsampleGrad), 1 planes,
// 2 h, 3 w, 4 k, 5 stride, 6 outH, 7 outW, 8 x off, 9 dy off, 10 out off, 11 total threads.
// max/avg/upsample/upsampleGrad: one thread per output element of [planes, outH, outW]
// (for upsampleGrad, x is the gradient [planes, h, w] with h = outH * k).
// -inf is written f32_bits(0xff800000u) (the prelude every kernel gets: WGSL_PRELUDE).
// maxGrad/avgGrad: one thread per input element of [planes, h, w]; it sums, in window order,
// the dy of every window that routes to it (no atomics, deterministic).
struct Params { w: array<vec4<u32>, 3> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

// Index (within the plane) of the first maximum of window (oy, ox); the window's first element
// when nothing exceeds -inf.
fn argmax_window(xb: u32, w: u32, k: u32, stride: u32, oy: u32, ox: u32) -> u32 {
  var best = f32_bits(0xff800000u);
  var bi = oy * stride * w + ox * stride;
  for (var ky: u32 = 0u; ky < k; ky++) {
    let r = (oy * stride + ky) * w + ox * stride;
    for (var kx: u32 = 0u; kx < k; kx++) {
      let v = x[xb + r + kx];
      if (v > best) {
        best = v;
        bi = r + kx;
      }
    }
  }
  return bi;
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= word(11u)) { return; }
  let mode = word(0u);
  let h = word(2u);
  let w = word(3u);
  let k = word(4u);
  let stride = word(5u);
  let outH = word(6u);
  let outW = word(7u);
  let xo = word(8u);
  let oo = word(10u);
  if (mode == 2u || mode == 3u) {
    let ix = i % w;
    let iy = (i / w) % h;
    let p = i / (w * h);
    // Windows (oy, ox) with oy * stride <= iy < oy * stride + k.
    let oy0 = select(0u, (iy + 1u - k + stride - 1u) / stride, iy + 1u > k);
    let oy1 = min(iy / stride + 1u, outH);
    let ox0 = select(0u, (ix + 1u - k + stride - 1u) / stride, ix + 1u > k);
    let ox1 = min(ix / stride + 1u, outW);
    let db = word(9u) + p * outH * outW;
    var acc = 0.0;
    if (mode == 2u) {
      let xb = xo + p * h * w;
      let me = iy * w + ix;
      for (var oy: u32 = oy0; oy < oy1; oy++) {
        for (var ox: u32 = ox0; ox < ox1; ox++) {
          if (argmax_window(xb, w, k, stride, oy, ox) == me) { acc += dy[db + oy * outW + ox]; }
        }
      }
    } else {
      let kk = f32(k * k);
      for (var oy: u32 = oy0; oy < oy1; oy++) {
        for (var ox: u32 = ox0; ox < ox1; ox++) { acc += dy[db + oy * outW + ox] / kk; }
      }
    }
    out[oo + i] = acc;
    return;
  }
  let ox = i % outW;
  let oy = (i / outW) % outH;
  let p = i / (outW * outH);
  let xb = xo + p * h * w;
  if (mode == 4u) {
    out[oo + i] = x[xb + (oy / k) * w + ox / k];
    return;
  }
  if (mode == 0u) {
    var m = f32_bits(0xff800000u);
    for (var ky: u32 = 0u; ky < k; ky++) {
      let r = xb + (oy * stride + ky) * w + ox * stride;
      for (var kx: u32 = 0u; kx < k; kx++) {
        let v = x[r + kx];
        if (v > m) { m = v; }
      }
    }
    out[oo + i] = m;
    return;
  }
  // avg (stride) or upsampleGrad (stride = k): window sum.
  var s = 0.0;
  for (var ky: u32 = 0u; ky < k; ky++) {
    let r = xb + (oy * stride + ky) * w + ox * stride;
    for (var kx: u32 = 0u; kx < k; kx++) { s += x[r + kx]; }
  }
  if (mode == 1u) { s = s / f32(k * k); }
  out[oo + i] = s;
}
