// Gather / scatter-add along the middle axis of contiguous [outer, axis, inner] blocks with int32
// indices [outer, nIdx, inner]. Negative indices count from the end; out-of-range ones read 0
// (gather) or are dropped (scatterAdd). Nothing uses atomics: every scatter-add output element
// sums its sources itself, in index order (j ascending, as the cpu reference), so results are
// deterministic and equal to the reference bit for bit.
// Words: 0 mode (0 gather, 1 scatterAdd), 1 total threads, 2 outer, 3 axisSize, 4 nIdx,
// 5 inner, 6 src off, 7 indices off, 8 out off.
//
// main: gather (one thread per output element) or direct scatterAdd (one thread per output
//   element (o, a, i), looping over the nIdx indices of its (o, i) column).
// For many indices into a long axis, scatterAdd sorts each column's indices instead:
// scatter_keys: keys[(o * inner + i) * nIdx + j] = f32(normalised index j of column (o, i)), or
//   axisSize when out of range (written to out; one thread per index).
// scatter_sorted: `perm` holds each key row's stable ascending order (the sort kernel), so the
//   sources of output (o, a, i) are a contiguous run of it, found by binary search and summed
//   in j order.
struct Params { w: array<vec4<u32>, 3> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<i32>;
@group(0) @binding(4) var<storage, read> keys: array<f32>;
@group(0) @binding(5) var<storage, read> perm: array<i32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = linear(wid, nwg, lid);
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

@compute @workgroup_size(64)
fn scatter_keys(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = linear(wid, nwg, lid);
  if (t >= word(1u)) { return; }
  let axisSize = i32(word(3u));
  let nIdx = word(4u);
  let inner = word(5u);
  // t enumerates (o, i, j); the index sits at [o, j, i].
  let j = t % nIdx;
  let i = (t / nIdx) % inner;
  let o = t / (nIdx * inner);
  var a = idx[word(7u) + (o * nIdx + j) * inner + i];
  if (a < 0) { a += axisSize; }
  if (a < 0 || a >= axisSize) { a = axisSize; }
  out[t] = f32(a);
}

@compute @workgroup_size(64)
fn scatter_sorted(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = linear(wid, nwg, lid);
  if (t >= word(1u)) { return; }
  let axisSize = word(3u);
  let nIdx = word(4u);
  let inner = word(5u);
  let i = t % inner;
  let a = (t / inner) % axisSize;
  let o = t / (inner * axisSize);
  let row = (o * inner + i) * nIdx;
  let key = f32(a);
  // First position of the sorted row whose key is >= a.
  var lo = 0u;
  var hi = nIdx;
  while (lo < hi) {
    let mid = (lo + hi) >> 1u;
    if (keys[row + u32(perm[row + mid])] < key) { lo = mid + 1u; } else { hi = mid; }
  }
  let col = word(6u) + o * nIdx * inner + i;
  var acc = 0.0;
  for (var k: u32 = lo; k < nIdx; k++) {
    let j = u32(perm[row + k]);
    if (keys[row + j] != key) { break; }
    acc += src[col + j * inner];
  }
  out[word(8u) + t] = acc;
}
