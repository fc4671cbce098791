/**
 * compile(): a compiled training step replays the traced kernels with the same results as the
 * uncompiled step, keeps the live-buffer count flat, submits once per step on WebGPU, re-traces
 * on a shape change, and handles random draws (dropout) and learning-rate schedules.
 *
 * The 1,000-step run: MLP 64 -> 64 -> 64 -> 1 (ReLU), MSE, Adam, batch 32, on WebGPU; 40
 * sampled losses (every 25th step) of the compiled run equal the uncompiled run's exactly, and
 * so do the final parameters. Measured on the llvmpipe adapter: ~4 s per 1,000 steps, both
 * compiled and uncompiled (the software rasteriser's kernel time dominates; reading a loss
 * back costs ~15 ms, so only the sampled ones are read).
 */

import assert from "node:assert/strict";
import {
  Activation,
  Adam,
  AdamW,
  compile,
  Dropout,
  Generator,
  Linear,
  manualSeed,
  memoryInfo,
  mlp,
  randn,
  Sequential,
  type Tensor,
  tensor,
  tidy,
  warmupCosineLR,
} from "../../mod.ts";
import { getBackend } from "../../src/backend/device.ts";
import type { WebGPUBackend } from "../../src/backend/webgpu/backend.ts";
import { Rng, webgpu } from "../util.ts";
import { type Dev, values } from "../grad_util.ts";

const GPU = await webgpu();
const DEVICES: Dev[] = GPU ? ["cpu", "webgpu"] : ["cpu"];

/** A fixed pool of batches (host data), cycled through by step number. */
function batches(n: number, batch: number, inDim: number, seed: number) {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => ({
    x: r.normal(batch * inDim),
    y: r.normal(batch),
  }));
}

/** A training step of `net` (MSE against y) with `opt`, returning the loss. */
function trainStep(net: { forward(x: Tensor): Tensor }, opt: { step(): void; zeroGrad(): void }) {
  return (x: Tensor, y: Tensor): Tensor => {
    const loss = net.forward(x).sub(y).square().mean();
    loss.backward();
    opt.step();
    opt.zeroGrad();
    return loss;
  };
}

function makeMlp(dev: Dev, seed = 1) {
  const net = mlp(64, [64, 64], 1, {
    norm: "none",
    act: "relu",
    device: dev,
    generator: new Generator(seed),
  });
  const opt = new Adam(net.parameters(), { lr: 1e-3 });
  return { net, opt, step: trainStep(net, opt) };
}

async function params(net: { parameters(): Tensor[] }): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of net.parameters()) out.push(await values(p));
  return out;
}

const gpuBackend = () => getBackend("webgpu") as unknown as WebGPUBackend;

// ---------------------------------------------------------------------------------------------
// 1,000 compiled steps on WebGPU
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "compile: 1,000 compiled MLP steps on webgpu: flat buffers, losses equal uncompiled",
  ignore: !GPU,
  fn: async () => {
    const STEPS = 1000, EVERY = 25, BATCH = 32;
    const data = batches(20, BATCH, 64, 3);
    const input = (i: number) => {
      const b = data[i % data.length];
      return [
        tensor(b.x, [BATCH, 64], { device: "webgpu" }),
        tensor(b.y, [BATCH, 1], { device: "webgpu" }),
      ];
    };

    // Compiled run.
    const c = makeMlp("webgpu");
    const compiled = compile(c.step);
    const be = gpuBackend();
    const compiledLosses: number[] = [];
    const buffers: number[] = [];
    const tensors: number[] = [];
    const submitsPerStep: number[] = [];
    let t0 = performance.now();
    for (let i = 0; i < STEPS; i++) {
      const s0 = be.submitCount;
      const [x, y] = input(i);
      const loss = compiled(x, y);
      x.dispose();
      y.dispose();
      if (i % EVERY === 0) compiledLosses.push(await loss.item());
      loss.dispose();
      submitsPerStep.push(be.submitCount - s0);
      buffers.push(memoryInfo().webgpu!.buffers);
      tensors.push(memoryInfo().tensors);
    }
    await be.sync();
    const tCompiled = performance.now() - t0;
    assert.equal(compiled.traceCount, 1);
    assert.ok(compiled.kernelCount > 0);

    // Flat after warm-up (step 0 traces, step 1 is the first replay): no step adds a live
    // buffer or tensor. (The counts may drop when the garbage collector finalises tensors of
    // the trace, so the check is "never grows", step by step.)
    const warm = 2;
    const b0 = buffers[warm];
    const grows = (xs: number[]) =>
      xs.map((v, i) => [i, v - xs[i - 1]]).filter(([i, d]) => i > warm && d > 0);
    assert.deepEqual(grows(buffers), [], "steps after which the live-buffer count grew [step, +n]");
    assert.deepEqual(grows(tensors), [], "steps after which the live-tensor count grew [step, +n]");
    // Replayed steps: one submit each, counting the input uploads and the loss read-back on
    // the sampled steps (a read is its own submit: the copy to the staging buffer).
    submitsPerStep.slice(warm).forEach((s, k) => {
      const i = k + warm;
      assert.equal(s, i % EVERY === 0 ? 2 : 1, `submits of step ${i}`);
    });

    // Uncompiled run, same seeds and data; each step in tidy() (it disposes the graph).
    const u = makeMlp("webgpu");
    const eagerLosses: number[] = [];
    const eagerBuffers: number[] = [];
    t0 = performance.now();
    for (let i = 0; i < STEPS; i++) {
      const [x, y] = input(i);
      const loss = tidy(() => u.step(x, y));
      x.dispose();
      y.dispose();
      if (i % EVERY === 0) eagerLosses.push(await loss.item());
      loss.dispose();
      eagerBuffers.push(memoryInfo().webgpu!.buffers);
    }
    await be.sync();
    const tEager = performance.now() - t0;
    console.log(
      `[compile] webgpu MLP 64-64-64-1, batch 32, Adam: ${STEPS} steps compiled ` +
        `${(tCompiled / 1000).toFixed(1)} s (${(STEPS / tCompiled * 1000).toFixed(0)} steps/s), ` +
        `uncompiled ${(tEager / 1000).toFixed(1)} s (${(STEPS / tEager * 1000).toFixed(0)} ` +
        `steps/s); ${compiled.kernelCount} kernels per compiled step; live buffers ${b0}`,
    );
    assert.equal(compiledLosses.length, STEPS / EVERY);
    assert.deepEqual(compiledLosses, eagerLosses, "sampled losses, compiled vs uncompiled");
    assert.ok(compiledLosses[compiledLosses.length - 1] < 0.5 * compiledLosses[0], "it trains");
    assert.deepEqual(await params(c.net), await params(u.net), "final parameters");
    // The uncompiled loop in tidy() is flat too.
    assert.deepEqual(grows(eagerBuffers), [], "uncompiled: live-buffer growth [step, +n]");
    compiled.dispose();
  },
});

// ---------------------------------------------------------------------------------------------
// Submits, re-tracing, dropout, schedules
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "compile: one submit per compiled step on webgpu (call, and the whole loop iteration)",
  ignore: !GPU,
  fn: async () => {
    const { step } = makeMlp("webgpu", 5);
    const compiled = compile(step);
    const be = gpuBackend();
    const data = batches(4, 32, 64, 9);
    const perCall: number[] = [];
    const perIteration: number[] = [];
    for (let i = 0; i < 12; i++) {
      const s0 = be.submitCount;
      const x = tensor(data[i % 4].x, [32, 64], { device: "webgpu" });
      const y = tensor(data[i % 4].y, [32, 1], { device: "webgpu" });
      const s1 = be.submitCount;
      const loss = compiled(x, y);
      perCall.push(be.submitCount - s1);
      x.dispose();
      y.dispose();
      loss.dispose();
      perIteration.push(be.submitCount - s0);
    }
    // Measured: exactly 1 per replayed call (input copies, kernels and the loss copy in one
    // command buffer), and the input uploads (queue.writeBuffer) add none.
    assert.deepEqual(perCall.slice(1), new Array(11).fill(1));
    assert.deepEqual(perIteration.slice(2), new Array(10).fill(1));
    await be.sync();
    compiled.dispose();
  },
});

for (const dev of DEVICES) {
  Deno.test(`compile: a shape change re-traces; each shape keeps its program (${dev})`, async () => {
    const c = makeMlp(dev, 2);
    const u = makeMlp(dev, 2);
    const compiled = compile(c.step);
    const r = new Rng(4);
    const sizes = [32, 32, 16, 16, 32, 8, 32, 16];
    const traces: number[] = [];
    for (const b of sizes) {
      const xv = r.normal(b * 64), yv = r.normal(b);
      const mk = () => [
        tensor(xv, [b, 64], { device: dev }),
        tensor(yv, [b, 1], { device: dev }),
      ];
      const [x1, y1] = mk();
      const [x2, y2] = mk();
      const lc = await compiled(x1, y1).item();
      const lu = await u.step(x2, y2).item();
      assert.equal(lc, lu, `batch ${b}`);
      traces.push(compiled.traceCount);
    }
    assert.deepEqual(traces, [1, 1, 2, 2, 2, 3, 3, 3]);
    assert.deepEqual(await params(c.net), await params(u.net));
    compiled.dispose();
  });

  Deno.test(`compile: dropout and global random draws match the uncompiled step (${dev})`, async () => {
    const build = () => {
      const net = new Sequential(
        new Linear(8, 16, { device: dev, generator: new Generator(1) }),
        new Dropout(0.3, new Generator(77)),
        new Activation("relu"),
        new Linear(16, 1, { device: dev, generator: new Generator(2) }),
      );
      const opt = new AdamW(net.parameters(), { lr: 1e-2 });
      return {
        net,
        step: (x: Tensor, y: Tensor) => {
          // noise from the global generator, dropout from the layer's own generator
          const xn = x.add(randn(x.shape, { device: dev }).mul(0.1));
          const loss = net.forward(xn).sub(y).square().mean();
          loss.backward();
          opt.step();
          opt.zeroGrad();
          return loss;
        },
      };
    };
    const r = new Rng(5);
    const data = Array.from({ length: 12 }, () => ({ x: r.normal(4 * 8), y: r.normal(4) }));
    const run = async (compiled: boolean) => {
      manualSeed(123);
      const m = build();
      const step = compiled ? compile(m.step) : m.step;
      const losses: number[] = [];
      for (const d of data) {
        const x = tensor(d.x, [4, 8], { device: dev });
        const y = tensor(d.y, [4, 1], { device: dev });
        losses.push(await step(x, y).item());
      }
      return { losses, params: await params(m.net) };
    };
    const eager = await run(false);
    const comp = await run(true);
    assert.deepEqual(comp.losses, eager.losses);
    assert.deepEqual(comp.params, eager.params);
    // and the masks really change from step to step: the same batch twice gives two losses
    manualSeed(123);
    const m = build();
    const step = compile(m.step);
    const x = tensor(data[0].x, [4, 8], { device: dev });
    const y = tensor(data[0].y, [4, 1], { device: dev });
    const l1 = await step(x, y).item();
    const l2 = await step(x, y).item();
    const l3 = await step(x, y).item();
    assert.ok(l1 !== l2 || l2 !== l3);
  });

  Deno.test(`compile: a compiled step with an LR schedule matches (${dev})`, async () => {
    const schedule = warmupCosineLR(0.05, 5, 25, 0.001);
    const build = () => {
      const net = mlp(6, [12], 2, { device: dev, generator: new Generator(3) });
      const opt = new Adam(net.parameters(), { lr: schedule, gradClip: 1 });
      return { net, opt, step: trainStep(net, opt) };
    };
    const r = new Rng(6);
    const data = Array.from({ length: 30 }, () => ({ x: r.normal(5 * 6), y: r.normal(10) }));
    const a = build(), b = build();
    const compiled = compile(a.step);
    for (let i = 0; i < data.length; i++) {
      const d = data[i];
      const mk = () => [
        tensor(d.x, [5, 6], { device: dev }),
        tensor(d.y, [5, 2], { device: dev }),
      ];
      const [x1, y1] = mk();
      const [x2, y2] = mk();
      assert.equal(a.opt.lr, schedule(i));
      const lc = await compiled(x1, y1).item();
      const lu = await b.step(x2, y2).item();
      assert.equal(lc, lu, `step ${i}`);
      assert.equal(a.opt.stepCount, i + 1);
      assert.equal(a.opt.stepCount, b.opt.stepCount);
    }
    assert.deepEqual(await params(a.net), await params(b.net));
    // the clip norm is live on replays too
    assert.equal(await a.opt.lastGradNorm!.item(), await b.opt.lastGradNorm!.item());
    compiled.dispose();
  });
}

Deno.test("compile: a step that reads values or nests is refused clearly", () => {
  const inner = compile((x: Tensor) => x.add(1));
  const outer = compile((x: Tensor) => inner(x));
  assert.throws(() => outer(tensor([1, 2])), /nested/);
});
