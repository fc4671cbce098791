    // vec4 inner loop for A @ B^T: A rows and B columns are both contiguous along k, so each
    // step loads 4 rows of A and 4 columns of B as vec4 over k and forms 16 dot products.
    // Offsets and strides are in vec4 units; K is a multiple of 4.
    let pa0 = aoff + r0 * sam;
    let pa1 = aoff + r1 * sam;
    let pa2 = aoff + r2 * sam;
    let pa3 = aoff + r3 * sam;
    let pb0 = boff + c0 * sbn;
    let pb1 = boff + c1 * sbn;
    let pb2 = boff + c2 * sbn;
    let pb3 = boff + c3 * sbn;
    let k4n = K >> 2u;
    for (var k4: u32 = 0u; k4 < k4n; k4++) {
      let a0 = A[pa0 + k4];
      let a1 = A[pa1 + k4];
      let a2 = A[pa2 + k4];
      let a3 = A[pa3 + k4];
      let b0 = B[pb0 + k4];
      let b1 = B[pb1 + k4];
      let b2 = B[pb2 + k4];
      let b3 = B[pb3 + k4];
      acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
      acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
      acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
      acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    }
