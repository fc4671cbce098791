// Counter-based random numbers: threefry2x32-20, bit-identical to src/backend/rng.ts.
// Words: 0 key0, 1 key1, 2 counter, 3 n, 4 out offset, 5 dist (0 uniform, 1 normal, 2 bits).
struct Params { w: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }

fn threefry(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2<u32> {
  let ks = array<u32, 3>(k0, k1, k0 ^ k1 ^ 0x1bd11bdau);
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = c0 + ks[0];
  var x1 = c1 + ks[1];
  for (var i: u32 = 0u; i < 5u; i++) {
    let base = (i & 1u) * 4u;
    for (var j: u32 = 0u; j < 4u; j++) {
      x0 = x0 + x1;
      x1 = rotl(x1, rot[base + j]);
      x1 = x1 ^ x0;
    }
    x0 = x0 + ks[(i + 1u) % 3u];
    x1 = x1 + ks[(i + 2u) % 3u] + i + 1u;
  }
  return vec2<u32>(x0, x1);
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= word(3u)) { return; }
  let b = threefry(word(0u), word(1u), word(2u) + i, 0u);
  let dist = word(5u);
  var v: u32;
  if (dist == 0u) {
    v = bitcast<u32>(f32(b.x >> 9u) * (1.0 / 8388608.0));
  } else if (dist == 1u) {
    let m = f32(b.x >> 9u);
    let u1 = (m + 0.5) * (1.0 / 8388608.0);
    let u2 = f32(b.y >> 9u) * (1.0 / 8388608.0);
    // log(u1) near u1 = 1 from the series of log(1 - d), d = 1 - u1 (exact): GPU log has an
    // absolute (not relative) error there, which sqrt would blow up into large errors of small
    // samples.
    let d = (8388608.0 - m - 0.5) * (1.0 / 8388608.0);
    var l = log(u1);
    if (d < 0.0078125) { l = -d * (1.0 + d * (0.5 + d * (0.33333334 + d * 0.25))); }
    v = bitcast<u32>(sqrt(-2.0 * l) * cos(6.283185307179586 * u2));
  } else {
    v = b.x;
  }
  out[word(4u) + i] = v;
}
