// Stable sort of contiguous rows [rows, cols], writing the int32 indices of the order.
// Values become order-preserving u32 keys (NaN last ascending / first descending, -0 == +0);
// (key, index) pairs are compared lexicographically, which makes any sorting network stable.
// Words: 0 rows, 1 cols, 2 x off, 3 out off, 4 descending, 5 chunk mode, 6 chunks per row.
//
// sort_segments: bitonic sort of segments of up to {{P}} entries in workgroup memory
// ({{S}} slots, so short rows share a workgroup; {{WG}} threads). Mode 0: a segment is a whole
// row (cols <= P) and the indices are written to out. Mode 1: a segment is chunk c of a long
// row, and its sorted (key, index) pairs are written to out[2 * (row * cols + c * P + pos)].
// merge_chunks: reads those pairs (binding 2) and writes every index at its rank in the row:
// its position in its chunk plus the count of smaller pairs in each other chunk.
struct Params { w: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> inp: array<u32>;

const SEG: u32 = {{P}}u;
const SLOTS: u32 = {{S}}u;
const WG: u32 = {{WG}}u;
const SENTINEL: u32 = 0xffffffffu;

var<workgroup> sk: array<u32, {{S}}>;
var<workgroup> si: array<u32, {{S}}>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn sort_key(bits: u32, desc: bool) -> u32 {
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return select(0xffffffffu, 0u, desc); }
  var b = bits;
  if (b == 0x80000000u) { b = 0u; }
  var k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
  if (desc) { k = ~k; }
  return k;
}

fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka < kb || (ka == kb && ia < ib);
}

@compute @workgroup_size({{WG}})
fn sort_segments(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let g = wid.y * nwg.x + wid.x;
  let rows = word(0u);
  let cols = word(1u);
  let desc = word(4u) == 1u;
  let chunked = word(5u) == 1u;
  let chunks = word(6u);
  var row0 = g * (SLOTS / SEG);
  var c0 = 0u;
  if (chunked) {
    row0 = g / chunks;
    c0 = (g % chunks) * SEG;
  }
  let len = min(cols - min(c0, cols), SEG);
  for (var t: u32 = lid; t < SLOTS; t += WG) {
    let row = row0 + t / SEG;
    let pos = t % SEG;
    var key = SENTINEL;
    var id = SENTINEL;
    if (row < rows && pos < len) {
      key = sort_key(inp[word(2u) + row * cols + c0 + pos], desc);
      id = c0 + pos;
    }
    sk[t] = key;
    si[t] = id;
  }
  workgroupBarrier();
  for (var k: u32 = 2u; k <= SEG; k = k << 1u) {
    for (var j: u32 = k >> 1u; j > 0u; j = j >> 1u) {
      for (var t: u32 = lid; t < SLOTS / 2u; t += WG) {
        let a = ((t & ~(j - 1u)) << 1u) | (t & (j - 1u));
        let b = a | j;
        let up = (a & (SEG - 1u) & k) == 0u;
        let ka = sk[a];
        let kb = sk[b];
        let ia = si[a];
        let ib = si[b];
        if (before(kb, ib, ka, ia) == up) {
          sk[a] = kb;
          sk[b] = ka;
          si[a] = ib;
          si[b] = ia;
        }
      }
      workgroupBarrier();
    }
  }
  for (var t: u32 = lid; t < SLOTS; t += WG) {
    let row = row0 + t / SEG;
    let pos = t % SEG;
    if (row < rows && pos < len) {
      if (chunked) {
        let o = 2u * (row * cols + c0 + pos);
        out[o] = sk[t];
        out[o + 1u] = si[t];
      } else {
        out[word(3u) + row * cols + pos] = si[t];
      }
    }
  }
}

@compute @workgroup_size(64)
fn merge_chunks(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = (wid.y * nwg.x + wid.x) * 64u + lid;
  let rows = word(0u);
  let cols = word(1u);
  if (t >= rows * cols) { return; }
  let row = t / cols;
  let pos = t % cols;
  let mine = pos / SEG;
  let base = 2u * row * cols;
  let key = inp[2u * t];
  let id = inp[2u * t + 1u];
  var rank = pos % SEG;
  for (var c: u32 = 0u; c < word(6u); c++) {
    if (c == mine) { continue; }
    let start = c * SEG;
    var lo = 0u;
    var hi = min(cols - start, SEG);
    while (lo < hi) {
      let mid = (lo + hi) >> 1u;
      let e = base + 2u * (start + mid);
      if (before(inp[e], inp[e + 1u], key, id)) { lo = mid + 1u; } else { hi = mid; }
    }
    rank += lo;
  }
  out[word(3u) + row * cols + rank] = id;
}
