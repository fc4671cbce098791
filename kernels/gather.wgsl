// Gather / scatter-add along the middle axis of contiguous [outer, axis, inner] blocks with int32
// indices [outer, nIdx, inner]. Negative indices count from the end; out-of-range ones read 0
// (gather) or are dropped (scatterAdd).
// Words: 0 mode (0 gather, 1 scatterAdd), 1 total threads, 2 outer, 3 axisSize, 4 nIdx,
// 5 inner, 6 src off, 7 indices off, 8 out off.
// gather: one thread per output element. scatterAdd: one thread per output element
// (o, a, i); it sums, in index order, the sources of its (o, i) column whose index is a
// (deterministic, no atomics).
struct Params { w: array<vec4<u32>, 3> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<i32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (t >= word(1u)) { return; }
  let axisSize = i32(word(3u));
  let nIdx = word(4u);
  let inner = word(5u);
  let so = word(6u);
  let io = word(7u);
  let i = t % inner;
  if (word(0u) == 0u) {
    let o = t / (inner * nIdx);
    var a = idx[io + t];
    if (a < 0) { a += axisSize; }
    var v = 0.0;
    if (a >= 0 && a < axisSize) { v = src[so + (o * u32(axisSize) + u32(a)) * inner + i]; }
    out[word(8u) + t] = v;
    return;
  }
  let me = i32((t / inner) % u32(axisSize));
  let o = t / (inner * u32(axisSize));
  let col = o * nIdx * inner + i;
  var acc = 0.0;
  for (var j: u32 = 0u; j < nIdx; j++) {
    var a = idx[io + col + j * inner];
    if (a < 0) { a += axisSize; }
    if (a == me) { acc += src[so + col + j * inner]; }
  }
  out[word(8u) + t] = acc;
}
