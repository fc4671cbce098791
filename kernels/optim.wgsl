// Fused Adam(W) / LaProp update over flat buffers, one thread per element.
// Words: 0 n, 1 rule (0 adam, 1 laprop), 2 param off, 3 m off, 4 v off, 5 grad off,
// 6.. f32 bits: 6 lr, 7 beta1, 8 beta2, 9 eps, 10 lr * weight decay, 11 bias-correction1,
// 12 bias-correction2, 13 grad scale, 14 has device scale (u32), 15 device scale off (u32),
// 16 1 - beta1, 17 1 - beta2 (products and complements are formed in float64 on the host, as
// the reference does: 1 - f32(0.999) would be off by 1e-5 relative).
// The gradient used is grad * gradScale * scale[off] (scale: a device-side factor such as the
// global-norm clip; when absent, the binding is a dummy and the factor is 1).
struct Params { w: array<vec4<u32>, 5> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }
fn fword(i: u32) -> f32 { return bitcast<f32>(word(i)); }

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= word(0u)) { return; }
  let lr = fword(6u);
  let b1 = fword(7u);
  let b2 = fword(8u);
  let eps = fword(9u);
  let lrwd = fword(10u);
  let c1 = fword(16u);
  let c2 = fword(17u);
  let bc1 = fword(11u);
  let bc2 = fword(12u);
  var gs = fword(13u);
  if (word(14u) == 1u) { gs = gs * scale[word(15u)]; }
  let g = grad[word(5u) + i] * gs;
  let pi = word(2u) + i;
  let mi = word(3u) + i;
  let vi = word(4u) + i;
  var p = param[pi];
  if (word(1u) == 0u) {
    // AdamW: decoupled weight decay (wd = 0 gives Adam).
    p -= lrwd * p;
    let mn = b1 * m[mi] + c1 * g;
    let vn = b2 * v[vi] + c2 * g * g;
    m[mi] = mn;
    v[vi] = vn;
    p -= lr * (mn / bc1) / (sqrt(vn / bc2) + eps);
  } else {
    // LaProp: normalise the gradient by the second moment first, then apply momentum.
    let vn = b2 * v[vi] + c2 * g * g;
    v[vi] = vn;
    let mn = b1 * m[mi] + c1 * g / (sqrt(vn / bc2) + eps);
    m[mi] = mn;
    p -= lrwd * p;
    p -= lr * mn / bc1;
  }
  param[pi] = p;
}
