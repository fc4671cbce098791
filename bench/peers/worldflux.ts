/**
 * worldflux itself behind the peer-benchmark interface, so that our library and the peers run
 * the very same workloads (same shapes, same "one read at the end" protocol) in one process.
 *
 * Devices: "webgpu" (WGSL on the adapter), "cpu" (the WebAssembly SIMD backend on worker
 * threads), "cpu-reference" (the pure TypeScript oracle).
 */
import {
  Adam,
  compile,
  conv2d,
  initWebGPU,
  Linear,
  Module,
  type Tensor,
  tensor,
  tidy,
} from "../../mod.ts";
import { createCpuBackend, setCpuBackend } from "../../src/backend/device.ts";
import type { Backend } from "../../src/backend/types.ts";
import type { MatmulVariant, PeerLib, Run } from "./types.ts";
import { randn, warmUp } from "./util.ts";

/** Our devices as benchmark targets. */
export type WorldfluxDevice = "webgpu" | "cpu" | "cpu-reference";

class MLP extends Module {
  layers: Linear[];
  constructor(dims: number[]) {
    super();
    this.layers = dims.slice(1).map((d, i) => new Linear(dims[i], d));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    this.layers.forEach((l, i) => {
      y = l.forward(y);
      if (i < this.layers.length - 1) y = y.relu();
    });
    return y;
  }
}

/** Sets up worldflux on one device. */
export async function setup(device: WorldfluxDevice): Promise<PeerLib> {
  let cpu: Backend | null = null;
  if (device === "webgpu") await initWebGPU();
  else cpu = createCpuBackend(device === "cpu" ? "wasm" : "reference");
  const dev = device === "webgpu" ? "webgpu" : "cpu";
  // Tensors remember their backend; switching the cpu backend before each use keeps creation
  // functions pointing at this adapter's one.
  const use = () => {
    if (cpu) setCpuBackend(cpu);
  };
  const owned: Tensor[] = [];
  const data = (shape: number[], seed: number, scale = 1) => {
    use();
    const t = tensor(randn(shape.reduce((a, b) => a * b, 1), seed, scale), shape, { device: dev });
    owned.push(t);
    return t.realize();
  };
  const read = async (t: Tensor) => {
    await t.data();
    t.dispose();
  };
  const prepared = async (run: Run) => {
    await warmUp(run);
    return run;
  };
  const lib: PeerLib = {
    name: `worldflux-${device}`,
    matmul(n: number, variant: MatmulVariant, chain: number) {
      const w = data([n, n], 1, 1 / Math.sqrt(n));
      const x = data([n, n], 2);
      return prepared(async () => {
        use();
        const y = tidy(() => {
          let y = x;
          for (let i = 0; i < chain; i++) {
            y = variant === "nn" ? y.matmul(w) : variant === "tn" ? y.mT.matmul(w) : y.matmul(w.mT);
          }
          return y;
        });
        await read(y);
      });
    },
    elementwiseChain(n: number, ops: number) {
      const x = data([n], 3), z = data([n], 4);
      return prepared(async () => {
        use();
        const y = tidy(() => {
          let y = x;
          for (let i = 0; i < ops; i++) {
            const k = i % 4;
            y = k === 0 ? y.add(z) : k === 1 ? y.mul(0.5) : k === 2 ? y.tanh() : y.exp();
          }
          return y;
        });
        await read(y);
      });
    },
    softmax(rows: number, cols: number) {
      const x = data([rows, cols], 5);
      return prepared(async () => {
        use();
        await read(tidy(() => x.softmax(-1)));
      });
    },
    conv2d(batch, cin, hw, cout, k, stride, pad) {
      const x = data([batch, cin, hw, hw], 6);
      const w = data([cout, cin, k, k], 7, 1 / Math.sqrt(cin * k * k));
      return prepared(async () => {
        use();
        await read(tidy(() => conv2d(x, w, { stride, padding: pad })));
      });
    },
    async mlpTrainStep(batch: number, dims: number[]) {
      use();
      const net = new MLP(dims);
      await net.to(dev);
      const opt = new Adam(net.parameters(), { lr: 1e-3 });
      const x = data([batch, dims[0]], 8);
      const y = data([batch, dims[dims.length - 1]], 9);
      const step = compile((xb: Tensor, yb: Tensor) => {
        const loss = net.forward(xb).sub(yb).square().mean();
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss;
      });
      return prepared(async () => {
        use();
        const loss = tidy(() => step(x, y));
        lib.lastLoss = await loss.item();
        loss.dispose();
      });
    },
    dispose() {
      for (const t of owned) t.dispose();
      return Promise.resolve();
    },
  };
  return lib;
}
