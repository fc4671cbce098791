    // vec4 inner loop for A^T @ B: A is contiguous along m (4 consecutive rows in one vec4) and
    // B along n, so each k step is an outer product of two vec4s. Offsets and strides are in
    // vec4 units; M and N are multiples of 4 (no clamped rows or columns).
    let pa = aoff + (row0 >> 2u);
    let pb = boff + (col0 >> 2u);
    for (var k: u32 = 0u; k < K; k++) {
      let a = A[pa + k * sak];
      let b = B[pb + k * sbk];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
