    // vec4 inner loop: A and B are array<vec4<f32>>; offsets and strides are in vec4 units.
    // Requires row-major A (k contiguous) and B (n contiguous), K and N multiples of 4.
    let pa0 = aoff + r0 * sam;
    let pa1 = aoff + r1 * sam;
    let pa2 = aoff + r2 * sam;
    let pa3 = aoff + r3 * sam;
    let pb = boff + (col0 >> 2u);
    let k4n = K >> 2u;
    for (var k4: u32 = 0u; k4 < k4n; k4++) {
      let a0 = A[pa0 + k4];
      let a1 = A[pa1 + k4];
      let a2 = A[pa2 + k4];
      let a3 = A[pa3 + k4];
      let kb = pb + k4 * 4u * sbk;
      let b0 = B[kb];
      let b1 = B[kb + sbk];
      let b2 = B[kb + 2u * sbk];
      let b3 = B[kb + 3u * sbk];
      acc0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
      acc1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
      acc2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
      acc3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
    }
