// softmax / logSoftmax / logsumexp over the last axis of a contiguous [rows, cols] block.
// Words: 0 rows, 1 cols, 2 x offset, 3 out offset, 4 mode (0 softmax, 1 log-softmax, 2 logsumexp).
// per_thread: one thread per row (short rows); per_workgroup: 64 threads per row.
// -inf is written f32_bits(0xff800000u) (the prelude every kernel gets: WGSL_PRELUDE).
struct Params { w: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn finish(row: u32, cols: u32, base: u32, mx: f32, s: f32, start: u32, step: u32) {
  let mode = word(4u);
  let yoff = word(3u);
  if (mode == 2u) {
    if (start == 0u) { y[yoff + row] = mx + log(s); }
    return;
  }
  let ls = log(s);
  for (var c: u32 = start; c < cols; c += step) {
    let v = x[base + c] - mx;
    if (mode == 0u) { y[yoff + row * cols + c] = exp(v) / s; } else { y[yoff + row * cols + c] = v - ls; }
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
  var mx = f32_bits(0xff800000u);
  for (var c: u32 = 0u; c < cols; c++) { mx = max(mx, x[base + c]); }
  if (mx == f32_bits(0xff800000u)) { mx = 0.0; }
  var s = 0.0;
  for (var c: u32 = 0u; c < cols; c++) { s += exp(x[base + c] - mx); }
  finish(row, cols, base, mx, s, 0u, 1u);
}

var<workgroup> red: array<f32, 64>;

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
  var mx = f32_bits(0xff800000u);
  for (var c: u32 = lid; c < cols; c += 64u) { mx = max(mx, x[base + c]); }
  red[lid] = mx;
  workgroupBarrier();
  for (var s: u32 = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  var m = red[0];
  if (m == f32_bits(0xff800000u)) { m = 0.0; }
  workgroupBarrier();
  var acc = 0.0;
  for (var c: u32 = lid; c < cols; c += 64u) { acc += exp(x[base + c] - m); }
  red[lid] = acc;
  workgroupBarrier();
  for (var s: u32 = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  finish(row, cols, base, m, total, lid, 64u);
}
