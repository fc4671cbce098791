/**
 * conv2d / convTranspose2d with kernel 4, stride 2, padding 1 (the DreamerV3 encoder/decoder
 * shapes) against PyTorch's numbers (tests/fixtures/torch, format in tests/fixtures/README.md),
 * forward, on the cpu backend. (The webgpu kernels are checked against the same fixtures in
 * tests/backend/webgpu_kernels_test.ts.)
 */

import assert from "node:assert/strict";
import { conv2d, convTranspose2d, type Tensor, tensor } from "../../mod.ts";
import { assertClose } from "../util.ts";

interface Arr {
  readonly shape: number[];
  readonly data: number[];
}

interface Fixture {
  readonly case: string;
  readonly config: {
    stride: number;
    padding: number;
    kernel_size: number;
    output_padding?: number;
  };
  readonly inputs: Record<string, Arr>;
  readonly params: Record<string, Arr>;
  readonly outputs: Record<string, Arr>;
}

async function load(name: string): Promise<Fixture> {
  const url = new URL(`../fixtures/torch/${name}.json`, import.meta.url);
  return JSON.parse(await Deno.readTextFile(url));
}

const T = (a: Arr): Tensor => tensor(Float32Array.from(a.data), a.shape, { device: "cpu" });

/** Mixed tolerance of the fixtures README: |a - b| <= 1e-4 * max(|b|, 1e-3 * max|ref|). */
const TOL = { rtol: 1e-4 };

Deno.test("torch fixtures: conv2d k4 s2 p1 forward (cpu)", async () => {
  const f = await load("conv2d_k4s2p1");
  assert.equal(f.config.kernel_size, 4);
  const { stride, padding } = f.config;
  const x = T(f.inputs.x);
  const w = T(f.params.weight);
  const b = T(f.params.bias);
  const y = conv2d(x, w, { stride, padding, bias: b });
  assert.deepEqual(y.shape, f.outputs.y.shape);
  assertClose(await y.data(), f.outputs.y.data, { ...TOL, shape: y.shape, label: "y" });
  // without the bias: the reference minus the bias per output channel
  const y0 = conv2d(x, w, { stride, padding });
  const [, cout, oh, ow] = f.outputs.y.shape;
  const expected = f.outputs.y.data.map((v, i) =>
    v - f.params.bias.data[Math.floor(i / (oh * ow)) % cout]
  );
  assertClose(await y0.data(), expected, { ...TOL, shape: y0.shape, label: "y without bias" });
});

Deno.test("torch fixtures: convTranspose2d k4 s2 p1 forward (cpu)", async () => {
  const f = await load("conv_transpose2d_k4s2p1");
  assert.equal(f.config.kernel_size, 4);
  const { stride, padding } = f.config;
  const x = T(f.inputs.x);
  const w = T(f.params.weight); // PyTorch layout [cin, cout, kh, kw]
  const b = T(f.params.bias);
  const y = convTranspose2d(x, w, {
    stride,
    padding,
    bias: b,
    outputPadding: f.config.output_padding ?? 0,
  });
  assert.deepEqual(y.shape, f.outputs.y.shape);
  assertClose(await y.data(), f.outputs.y.data, { ...TOL, shape: y.shape, label: "y" });
});

Deno.test("torch fixtures: conv2d of a permuted (non-contiguous) input matches", async () => {
  // the conv kernel takes contiguous operands: a strided view must be copied first
  const f = await load("conv2d_k4s2p1");
  const [n, c, h, w] = f.inputs.x.shape;
  const nhwc: number[] = new Array(n * c * h * w);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          nhwc[((i * h + y) * w + x) * c + ch] = f.inputs.x.data[((i * c + ch) * h + y) * w + x];
        }
      }
    }
  }
  const x = tensor(Float32Array.from(nhwc), [n, h, w, c]).permute([0, 3, 1, 2]);
  const y = conv2d(x, T(f.params.weight), {
    stride: f.config.stride,
    padding: f.config.padding,
    bias: T(f.params.bias),
  });
  assertClose(await y.data(), f.outputs.y.data, { ...TOL, shape: y.shape });
});
