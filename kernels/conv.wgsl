// Direct 2-D convolutions (NCHW in and out, PyTorch weight layouts), computed on packed copies:
// activations as [n, h, w, C4] vec4 (channels innermost, padded with zeros to C4 * 4) and
// weights as [kh * kw, ciPad, CO4] vec4 (output channels innermost). Every load in the inner
// loops is then a vec4 (llvmpipe and GPUs alike load those far cheaper than 4 scalars).
//
// Register tiles (Q = {{Q}}, T4 = {{T4}} are specialisation constants; loads, not FMAs, bound
// these kernels on llvmpipe, so the tiles are large):
// - forward: a thread computes Q consecutive output pixels of one row x T4 * 4 channels; per
//   (tap, 4 input channels): Q activation loads + 4 * T4 weight loads feed 16 * Q * T4 FMAs.
// - weight gradient: a thread owns Q consecutive taps (kx) of one kernel row, 4 channels gc and
//   T4 * 4 channels uc; per reduction position: Q + T4 loads feed 16 * Q * T4 FMAs.
// Out-of-range reads are clamped to a valid address and zeroed with select(); no lane branches.
//
// Bindings: out (f32), AV and BV (vec4 operands), C (f32: bias, pack source, partial sums).
//
// pack_act words: 0 C, 1 h * w, 2 C4, 3 total vec4s (n * h * w * C4), 4 source off.
// pack_weight words: 0 taps, 1 cin, 2 cout, 3 ciPad, 4 CO4, 5 ci stride, 6 co stride,
//   7 source off, 8 total floats (taps * ciPad * CO4 * 4).
// Forward words (conv2d_fwd, conv_transpose_fwd): 0 n, 1 cin, 2 h, 3 w, 4 cout, 5 kh, 6 kw,
//   7 stride, 8 padding, 9 outH, 10 outW, 11 CI4, 12 CO4, 13 bias off, 14 out off, 15 has bias,
//   16 channel groups. AV = packed x, BV = packed weight. Workgroups: (pixel block, channel
//   group), group fastest; z = phase for convTranspose2d, whose output pixels are split by
//   (oy % stride, ox % stride) so that all threads of a launch use the same kernel taps.
// weight_grad words: the reduction runs over the positions (b, uy, ux) of U [n, uC, uH, uW];
//   G [n, gC, gH, gW] is read at (b, gc, uy * stride - padding + ky, ux * stride - padding + kx)
//   and out[((uc * gC + gc) * kh + ky) * kw + kx] = sum G * U[b, uc, uy, ux].
//   conv2d: G = x, U = dy (uc = co, gc = ci); convTranspose2d: G = dy, U = x (uc = ci, gc = co).
//   0 n, 1 gC, 2 gH, 3 gW, 4 uC, 5 uH, 6 uW, 7 kh, 8 kw, 9 stride, 10 padding, 11 GC4, 12 UC4,
//   13 out off, 14 rows (b, uy) per split, 15 uc groups, 16 out stride per split.
//   AV = packed G, BV = packed U. Lanes: (tap block, gc block, uc group); z = split.
// reduce_splits words: 0 total, 1 splits, 2 out off. out[i] = sum over s of C[s * total + i].
struct Params { w: array<vec4<u32>, 5> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> AV: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> BV: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> C: array<f32>;

const Q: u32 = {{Q}}u;
const T4: u32 = {{T4}}u;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn pack_act(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = linear(wid, nwg, lid);
  if (t >= word(3u)) { return; }
  let ch = word(0u);
  let hw = word(1u);
  let c4 = word(2u);
  let pix = (t / c4) % hw;
  let b = t / (c4 * hw);
  let c0 = (t % c4) * 4u;
  let src = word(4u) + b * ch * hw + pix;
  for (var c: u32 = 0u; c < 4u; c++) {
    var v = 0.0;
    if (c0 + c < ch) { v = C[src + (c0 + c) * hw]; }
    out[t * 4u + c] = v;
  }
}

@compute @workgroup_size(64)
fn pack_weight(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = linear(wid, nwg, lid);
  if (t >= word(8u)) { return; }
  let cop = word(4u) * 4u;
  let co = t % cop;
  let ci = (t / cop) % word(3u);
  let tap = t / (cop * word(3u));
  var v = 0.0;
  if (ci < word(1u) && co < word(2u)) {
    v = C[word(7u) + ci * word(5u) + co * word(6u) + tap];
  }
  out[t] = v;
}

// Accumulates one tap for 4 input channels: acc[q][j] += sum_c x[q][c] * w[c][j].
fn fma_tap(acc: ptr<function, array<array<vec4<f32>, T4>, Q>>, xv: array<vec4<f32>, Q>, wb: u32, co4: u32) {
  for (var c: u32 = 0u; c < 4u; c++) {
    var wv: array<vec4<f32>, T4>;
    for (var j: u32 = 0u; j < T4; j++) { wv[j] = BV[wb + c * co4 + j]; }
    for (var q: u32 = 0u; q < Q; q++) {
      let s = vec4<f32>(xv[q][c]);
      for (var j: u32 = 0u; j < T4; j++) { (*acc)[q][j] = fma(s, wv[j], (*acc)[q][j]); }
    }
  }
}

fn init_acc(co0: u32) -> array<array<vec4<f32>, T4>, Q> {
  var acc: array<array<vec4<f32>, T4>, Q>;
  let hasBias = word(15u) == 1u;
  let cout = word(4u);
  for (var j: u32 = 0u; j < T4; j++) {
    var bv = vec4<f32>(0.0);
    if (hasBias) {
      for (var c: u32 = 0u; c < 4u; c++) { bv[c] = C[word(13u) + min(co0 + j * 4u + c, cout - 1u)]; }
    }
    for (var q: u32 = 0u; q < Q; q++) { acc[q][j] = bv; }
  }
  return acc;
}

// Writes acc to out[b, co0 + .., oy, ox[q]] (NCHW).
fn store_out(acc: array<array<vec4<f32>, T4>, Q>, b: u32, co0: u32, oy: u32, ox: array<u32, Q>, oxOk: array<bool, Q>) {
  let cout = word(4u);
  let outW = word(10u);
  let plane = word(9u) * outW;
  let ob = word(14u) + (b * cout + co0) * plane + oy * outW;
  for (var j: u32 = 0u; j < T4; j++) {
    for (var c: u32 = 0u; c < 4u; c++) {
      let co = j * 4u + c;
      if (co0 + co < cout) {
        for (var q: u32 = 0u; q < Q; q++) {
          if (oxOk[q]) { out[ob + co * plane + ox[q]] = acc[q][j][c]; }
        }
      }
    }
  }
}

@compute @workgroup_size(64)
fn conv2d_fwd(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = word(0u);
  let h = word(2u);
  let w = word(3u);
  let kh = word(5u);
  let kw = word(6u);
  let stride = word(7u);
  let pad = i32(word(8u));
  let outH = word(9u);
  let outW = word(10u);
  let ci4 = word(11u);
  let co4 = word(12u);
  let qW = (outW + Q - 1u) / Q;
  // Workgroups: channel group fastest, so that consecutive workgroups share their inputs.
  let wg = wid.y * nwg.x + wid.x;
  let group = wg % word(16u);
  let p = (wg / word(16u)) * 64u + lid;
  if (p >= n * outH * qW) { return; }
  let qx = p % qW;
  let t = p / qW;
  let oy = t % outH;
  let b = t / outH;
  let co0 = group * T4 * 4u;
  var ox: array<u32, Q>;
  var oxOk: array<bool, Q>;
  var ix0: array<i32, Q>;
  for (var q: u32 = 0u; q < Q; q++) {
    ox[q] = qx * Q + q;
    oxOk[q] = ox[q] < outW;
    ix0[q] = i32(ox[q] * stride) - pad;
  }
  var acc = init_acc(co0);
  let iy0 = i32(oy * stride) - pad;
  for (var ky: u32 = 0u; ky < kh; ky++) {
    let iy = iy0 + i32(ky);
    let rowOk = iy >= 0 && iy < i32(h);
    let xr = (b * h + u32(clamp(iy, 0, i32(h) - 1))) * w;
    for (var kx: u32 = 0u; kx < kw; kx++) {
      var xi: array<u32, Q>;
      var ok: array<bool, Q>;
      for (var q: u32 = 0u; q < Q; q++) {
        let ix = ix0[q] + i32(kx);
        ok[q] = rowOk && ix >= 0 && ix < i32(w);
        xi[q] = (xr + u32(clamp(ix, 0, i32(w) - 1))) * ci4;
      }
      let tap = ky * kw + kx;
      for (var c4: u32 = 0u; c4 < ci4; c4++) {
        var xv: array<vec4<f32>, Q>;
        for (var q: u32 = 0u; q < Q; q++) { xv[q] = select(vec4<f32>(0.0), AV[xi[q] + c4], ok[q]); }
        fma_tap(&acc, xv, (tap * ci4 * 4u + c4 * 4u) * co4 + group * T4, co4);
      }
    }
  }
  store_out(acc, b, co0, oy, ox, oxOk);
}

@compute @workgroup_size(64)
fn conv_transpose_fwd(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = word(0u);
  let h = word(2u);
  let w = word(3u);
  let kh = word(5u);
  let kw = word(6u);
  let stride = word(7u);
  let pad = word(8u);
  let outH = word(9u);
  let outW = word(10u);
  let ci4 = word(11u);
  let co4 = word(12u);
  let phase = wid.z;
  let wg = wid.y * nwg.x + wid.x;
  let group = wg % word(16u);
  let co0 = group * T4 * 4u;
  let py = phase / stride;
  let px = phase % stride;
  let pH = (outH + stride - 1u - py) / stride; // output rows / columns of this phase
  let pW = (outW + stride - 1u - px) / stride;
  let qW = (pW + Q - 1u) / Q;
  let p = (wg / word(16u)) * 64u + lid;
  if (p >= n * pH * qW) { return; }
  let qx = p % qW;
  let t = p / qW;
  let qy = t % pH;
  let b = t / pH;
  let oy = qy * stride + py;
  var ox: array<u32, Q>;
  var oxOk: array<bool, Q>;
  for (var q: u32 = 0u; q < Q; q++) {
    let cx = qx * Q + q; // column within the phase
    ox[q] = cx * stride + px;
    oxOk[q] = cx < pW;
  }
  var acc = init_acc(co0);
  // ky = oy + pad - iy * stride: the taps congruent to (oy + pad) mod stride; likewise kx.
  for (var ky: u32 = (py + pad) % stride; ky < kh; ky += stride) {
    let iy = (i32(oy + pad) - i32(ky)) / i32(stride);
    let rowOk = iy >= 0 && iy < i32(h);
    let xr = (b * h + u32(clamp(iy, 0, i32(h) - 1))) * w;
    for (var kx: u32 = (px + pad) % stride; kx < kw; kx += stride) {
      let dx = (i32(px + pad) - i32(kx)) / i32(stride);
      var xi: array<u32, Q>;
      var ok: array<bool, Q>;
      for (var q: u32 = 0u; q < Q; q++) {
        let ix = i32(qx * Q + q) + dx;
        ok[q] = rowOk && ix >= 0 && ix < i32(w);
        xi[q] = (xr + u32(clamp(ix, 0, i32(w) - 1))) * ci4;
      }
      let tap = ky * kw + kx;
      for (var c4: u32 = 0u; c4 < ci4; c4++) {
        var xv: array<vec4<f32>, Q>;
        for (var q: u32 = 0u; q < Q; q++) { xv[q] = select(vec4<f32>(0.0), AV[xi[q] + c4], ok[q]); }
        fma_tap(&acc, xv, (tap * ci4 * 4u + c4 * 4u) * co4 + group * T4, co4);
      }
    }
  }
  store_out(acc, b, co0, oy, ox, oxOk);
}

@compute @workgroup_size(64)
fn weight_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = word(0u);
  let gC = word(1u);
  let gH = word(2u);
  let gW = word(3u);
  let uC = word(4u);
  let uH = word(5u);
  let uW = word(6u);
  let kh = word(7u);
  let kw = word(8u);
  let stride = word(9u);
  let pad = i32(word(10u));
  let gc4 = word(11u);
  let uc4 = word(12u);
  let groups = word(15u);
  let kb = (kw + Q - 1u) / Q; // tap blocks per kernel row
  // Lanes: tap block fastest, then gc block, then uc group.
  let l = linear(wid, nwg, lid);
  if (l >= kh * kb * gc4 * groups) { return; }
  let ky = (l / kb) % kh;
  let kx0 = (l % kb) * Q;
  let gb = (l / (kh * kb)) % gc4;
  let ug = l / (kh * kb * gc4);
  let rows = n * uH;
  let r0 = wid.z * word(14u);
  let r1 = min(r0 + word(14u), rows);
  var acc: array<array<array<vec4<f32>, T4>, 4>, Q>;
  for (var q: u32 = 0u; q < Q; q++) {
    for (var c: u32 = 0u; c < 4u; c++) {
      for (var j: u32 = 0u; j < T4; j++) { acc[q][c][j] = vec4<f32>(0.0); }
    }
  }
  for (var r: u32 = r0; r < r1; r++) {
    let b = r / uH;
    let uy = r % uH;
    let gy = i32(uy * stride) - pad + i32(ky);
    let rowOk = gy >= 0 && gy < i32(gH);
    let gr = (b * gH + u32(clamp(gy, 0, i32(gH) - 1))) * gW;
    let ur = (r * uW) * uc4 + ug * T4;
    for (var ux: u32 = 0u; ux < uW; ux++) {
      let gx0 = i32(ux * stride) - pad + i32(kx0);
      var gv: array<vec4<f32>, Q>;
      for (var q: u32 = 0u; q < Q; q++) {
        let gx = gx0 + i32(q);
        let ok = rowOk && gx >= 0 && gx < i32(gW) && kx0 + q < kw;
        gv[q] = select(vec4<f32>(0.0), AV[(gr + u32(clamp(gx, 0, i32(gW) - 1))) * gc4 + gb], ok);
      }
      let ui = ur + ux * uc4;
      for (var j: u32 = 0u; j < T4; j++) {
        let uv = BV[ui + j];
        for (var q: u32 = 0u; q < Q; q++) {
          for (var c: u32 = 0u; c < 4u; c++) { acc[q][c][j] = fma(vec4<f32>(gv[q][c]), uv, acc[q][c][j]); }
        }
      }
    }
  }
  let taps = kh * kw;
  let ob = word(13u) + wid.z * word(16u) + ky * kw + kx0;
  for (var q: u32 = 0u; q < Q; q++) {
    if (kx0 + q < kw) {
      for (var c: u32 = 0u; c < 4u; c++) {
        let gc = gb * 4u + c;
        if (gc < gC) {
          for (var j: u32 = 0u; j < T4; j++) {
            for (var e: u32 = 0u; e < 4u; e++) {
              let uc = (ug * T4 + j) * 4u + e;
              if (uc < uC) { out[ob + q + (uc * gC + gc) * taps] = acc[q][c][j][e]; }
            }
          }
        }
      }
    }
  }
}

@compute @workgroup_size(64)
fn reduce_splits(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear(wid, nwg, lid);
  let total = word(0u);
  if (i >= total) { return; }
  var s = 0.0;
  for (var k: u32 = 0u; k < word(1u); k++) { s += C[k * total + i]; }
  out[word(2u) + i] = s;
}
