// layerNorm / rmsNorm over the last axis of a contiguous [rows, cols] block, with optional
// affine weight and bias. Words: 0 rows, 1 cols, 2 x offset, 3 out offset, 4 mode (0 layer,
// 1 rms), 5 has weight, 6 has bias, 7 weight offset, 8 bias offset, 9 eps (f32 bits),
// 10 backward. Unused weight/bias bindings are bound to the input buffer.
// Backward (word 10 = 1): the bias binding holds the output gradient dy (offset: word 8) and
// out = dx = (gw - xhat * mean(gw * xhat) - mean(gw)) * inv with gw = dy * weight, xhat =
// (x - mean) * inv (rms: no mean(gw) term).
struct Params { w: array<vec4<u32>, 3> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> wt: array<f32>;
@group(0) @binding(4) var<storage, read> bs: array<f32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn write_row(row: u32, cols: u32, mean: f32, inv: f32, start: u32, step: u32) {
  let base = word(2u) + row * cols;
  let ob = word(3u) + row * cols;
  let hw = word(5u) == 1u;
  let hb = word(6u) == 1u;
  let wo = word(7u);
  let bo = word(8u);
  for (var c: u32 = start; c < cols; c += step) {
    var o = (x[base + c] - mean) * inv;
    if (hw) { o = o * wt[wo + c]; }
    if (hb) { o = o + bs[bo + c]; }
    y[ob + c] = o;
  }
}

fn gw_at(row: u32, cols: u32, c: u32) -> f32 {
  var g = bs[word(8u) + row * cols + c];
  if (word(5u) == 1u) { g = g * wt[word(7u) + c]; }
  return g;
}

fn write_grad_row(row: u32, cols: u32, mean: f32, inv: f32, a: f32, m: f32, start: u32, step: u32) {
  let base = word(2u) + row * cols;
  let ob = word(3u) + row * cols;
  for (var c: u32 = start; c < cols; c += step) {
    let xh = (x[base + c] - mean) * inv;
    y[ob + c] = (gw_at(row, cols, c) - xh * a - m) * inv;
  }
}

@compute @workgroup_size(64)
fn per_thread(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = (wid.y * nwg.x + wid.x) * 64u + lid;
  let rows = word(0u);
  let cols = word(1u);
  if (row >= rows) { return; }
  let base = word(2u) + row * cols;
  let n = f32(cols);
  var mean = 0.0;
  if (word(4u) == 0u) {
    for (var c: u32 = 0u; c < cols; c++) { mean += x[base + c]; }
    mean = mean / n;
  }
  var v = 0.0;
  for (var c: u32 = 0u; c < cols; c++) {
    let d = x[base + c] - mean;
    v += d * d;
  }
  let inv = 1.0 / sqrt(v / n + bitcast<f32>(word(9u)));
  if (word(10u) == 1u) {
    var sgx = 0.0;
    var sg = 0.0;
    for (var c: u32 = 0u; c < cols; c++) {
      let g = gw_at(row, cols, c);
      sgx += g * (x[base + c] - mean) * inv;
      sg += g;
    }
    var m = 0.0;
    if (word(4u) == 0u) { m = sg / n; }
    write_grad_row(row, cols, mean, inv, sgx / n, m, 0u, 1u);
    return;
  }
  write_row(row, cols, mean, inv, 0u, 1u);
}

var<workgroup> red: array<f32, 64>;
var<workgroup> red2: array<f32, 64>;

@compute @workgroup_size(64)
fn per_workgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  let rows = word(0u);
  let cols = word(1u);
  if (row >= rows) { return; }
  let base = word(2u) + row * cols;
  let n = f32(cols);
  var mean = 0.0;
  if (word(4u) == 0u) {
    var s = 0.0;
    for (var c: u32 = lid; c < cols; c += 64u) { s += x[base + c]; }
    red[lid] = s;
    workgroupBarrier();
    for (var k: u32 = 32u; k > 0u; k = k >> 1u) {
      if (lid < k) { red[lid] = red[lid] + red[lid + k]; }
      workgroupBarrier();
    }
    mean = red[0] / n;
    workgroupBarrier();
  }
  var v = 0.0;
  for (var c: u32 = lid; c < cols; c += 64u) {
    let d = x[base + c] - mean;
    v += d * d;
  }
  red[lid] = v;
  workgroupBarrier();
  for (var k: u32 = 32u; k > 0u; k = k >> 1u) {
    if (lid < k) { red[lid] = red[lid] + red[lid + k]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / n + bitcast<f32>(word(9u)));
  if (word(10u) == 1u) {
    workgroupBarrier();
    var sgx = 0.0;
    var sg = 0.0;
    for (var c: u32 = lid; c < cols; c += 64u) {
      let g = gw_at(row, cols, c);
      sgx += g * (x[base + c] - mean) * inv;
      sg += g;
    }
    red[lid] = sgx;
    red2[lid] = sg;
    workgroupBarrier();
    for (var k: u32 = 32u; k > 0u; k = k >> 1u) {
      if (lid < k) {
        red[lid] = red[lid] + red[lid + k];
        red2[lid] = red2[lid] + red2[lid + k];
      }
      workgroupBarrier();
    }
    var m = 0.0;
    if (word(4u) == 0u) { m = red2[0] / n; }
    write_grad_row(row, cols, mean, inv, red[0] / n, m, lid, 64u);
    return;
  }
  write_row(row, cols, mean, inv, lid, 64u);
}
