// Batched matmul out[b] = epilogue(A[b] @ B[b]) with strided operands: a transposed operand is
// read in place through its strides, broadcast batch axes have stride 0. Each thread computes a
// 4x4 block of outputs. Parameter words (see src/backend/webgpu/backend.ts):
//  0 M, 1 N, 2 K, 3 batches, 4-7 batch shape (padded with 1 in front), 8-11 A batch strides,
//  12 A row stride, 13 A k stride, 14 A offset, 15-18 B batch strides, 19 B k stride,
//  20 B column stride, 21 B offset, 22 out offset; epilogue words start at 24.
// The INNER marker selects the inner loop: "generic" (any strides, scalar loads) or "vec4"
// (A rows and B rows contiguous, K, strides and offsets multiples of 4: vec4 loads and no
// bounds checks inside the K loop).
struct Params { w: array<vec4<u32>, {{NW}}> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<{{OUTT}}>;
@group(0) @binding(2) var<storage, read> A: array<{{AT}}>;
@group(0) @binding(3) var<storage, read> B: array<{{BT}}>;
{{BINDINGS}}

fn word(i: u32) -> u32 { return P.w[i >> 2u][i & 3u]; }

fn epilogue(acc: f32, L: u32) -> {{OUTV}} {
  {{HOIST}}
  {{BODY}}
  return {{VALUE}};
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let M = word(0u);
  let N = word(1u);
  let K = word(2u);
  let NB = word(3u);
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= M || col0 >= N) { return; }
  let sam = word(12u);
  let sak = word(13u);
  let sbk = word(19u);
  let sbn = word(20u);
  let ooff = word(22u);
  let r0 = row0;
  let r1 = min(row0 + 1u, M - 1u);
  let r2 = min(row0 + 2u, M - 1u);
  let r3 = min(row0 + 3u, M - 1u);
  let c0 = col0;
  let c1 = min(col0 + 1u, N - 1u);
  let c2 = min(col0 + 2u, N - 1u);
  let c3 = min(col0 + 3u, N - 1u);
  for (var bi: u32 = gid.z; bi < NB; bi += nwg.z) {
    var rem = bi;
    var aoff = word(14u);
    var boff = word(21u);
    for (var d: i32 = 3; d >= 0; d--) {
      let s = word(4u + u32(d));
      let c = rem % s;
      rem = rem / s;
      aoff += c * word(8u + u32(d));
      boff += c * word(15u + u32(d));
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    {{INNER}}
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i: u32 = 0u; i < 4u; i++) {
      let row = row0 + i;
      if (row >= M) { break; }
      for (var j: u32 = 0u; j < 4u; j++) {
        let col = col0 + j;
        if (col >= N) { break; }
        let L = (bi * M + row) * N + col;
        out[ooff + L] = epilogue(accs[i][j], L);
      }
    }
  }
}
