// Fused elementwise kernel. The {{...}} markers are filled by src/backend/webgpu/backend.ts with
// code generated from the op table (src/tensor/ops_table.ts); one thread per output element.
struct Params { w: array<vec4<u32>, {{NW}}> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<{{OUTT}}>;
{{BINDINGS}}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let L = (wid.y * nwg.x + wid.x) * 64u + lid;
  let N = P.w[{{NQ}}u][{{NR}}u];
  if (L >= N) { return; }
  {{HOIST}}
  {{BODY}}
  out[{{OUTIDX}}] = {{VALUE}};
}
