// Reductions with a fused elementwise prologue. The reduced value at frame index L = o * R + r is
// computed by generated code (the BODY and VALUE markers); the UPDATE marker folds it into acc.
// Two entry points: one thread per output (short rows, many outputs), or one workgroup of 64
// threads per output with a tree reduction in workgroup memory (long rows).
struct Params { w: array<vec4<u32>, {{NW}}> }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> out: array<{{OUTT}}>;
{{BINDINGS}}

var<workgroup> sacc: array<{{ACCT}}, 64>;
var<workgroup> sidx: array<u32, 64>;

fn combine(a: {{ACCT}}, ia: u32, b: {{ACCT}}, ib: u32) -> vec2<u32> {
  // returns (pick b ? 1 : 0, index)
  {{COMBINE}}
}

@compute @workgroup_size(64)
fn per_thread(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let o = (wid.y * nwg.x + wid.x) * 64u + lid;
  let OUT = P.w[{{OQ}}u][{{OR}}u];
  let R = P.w[{{RQ}}u][{{RR}}u];
  let OOFF = P.w[{{FQ}}u][{{FR}}u];
  if (o >= OUT) { return; }
  {{HOIST}}
  var acc: {{ACCT}} = {{INIT}};
  var best: u32 = 0u;
  for (var r: u32 = 0u; r < R; r++) {
    let L = o * R + r;
    {{BODY}}
    let v: {{ACCT}} = {{VALUE}};
    {{UPDATE}}
  }
  out[OOFF + o] = {{RESULT}};
}

@compute @workgroup_size(64)
fn per_workgroup(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let o = wid.y * nwg.x + wid.x;
  let OUT = P.w[{{OQ}}u][{{OR}}u];
  let R = P.w[{{RQ}}u][{{RR}}u];
  let OOFF = P.w[{{FQ}}u][{{FR}}u];
  if (o >= OUT) { return; }
  {{HOIST}}
  var acc: {{ACCT}} = {{INIT}};
  var best: u32 = 0u;
  for (var r: u32 = lid; r < R; r += 64u) {
    let L = o * R + r;
    {{BODY}}
    let v: {{ACCT}} = {{VALUE}};
    {{UPDATE}}
  }
  sacc[lid] = acc;
  sidx[lid] = best;
  workgroupBarrier();
  for (var s: u32 = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let c = combine(sacc[lid], sidx[lid], sacc[lid + s], sidx[lid + s]);
      if (c.x == 1u) {
        sacc[lid] = sacc[lid + s];
        sidx[lid] = c.y;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    acc = sacc[0];
    best = sidx[0];
    out[OOFF + o] = {{RESULT}};
  }
}
