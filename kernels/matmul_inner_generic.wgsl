    let pa0 = aoff + r0 * sam;
    let pa1 = aoff + r1 * sam;
    let pa2 = aoff + r2 * sam;
    let pa3 = aoff + r3 * sam;
    let pb0 = boff + c0 * sbn;
    let pb1 = boff + c1 * sbn;
    let pb2 = boff + c2 * sbn;
    let pb3 = boff + c3 * sbn;
    for (var k: u32 = 0u; k < K; k++) {
      let ka = k * sak;
      let kb = k * sbk;
      let a = vec4<f32>(A[pa0 + ka], A[pa1 + ka], A[pa2 + ka], A[pa3 + ka]);
      let b = vec4<f32>(B[pb0 + kb], B[pb1 + kb], B[pb2 + kb], B[pb3 + kb]);
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
