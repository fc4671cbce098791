/**
 * TensorFlow.js peer adapter (`npm:@tensorflow/tfjs@4.22.0`), backends "webgpu", "wasm", "cpu".
 *
 * tfjs has one global engine with one active backend, so every factory and every run switches to
 * this adapter's backend first (free when it already is the active one): several tfjs adapters can
 * live in one process, but tensors must never cross backends (webgpu tensors cannot be read
 * synchronously, so a cross-backend move throws).
 *
 * The full `@tensorflow/tfjs` package is imported (not only tfjs-core): in Deno, gradients need
 * the kernels' gradient registrations it brings. Reads use `await t.data()`; `dataSync()` fails
 * on webgpu in Deno.
 */
// npm: specifiers are inline on purpose: deno.json (the import map) is not ours to edit.
// deno-lint-ignore-file no-import-prefix
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import type { MatmulVariant, PeerLib, Run, TfjsBackend } from "./types.ts";
import { mlpInit, nchwToNhwc, oihwToHwio, randn, warmUp } from "./util.ts";

let wasmLoaded = false;
let webgpuLoaded = false;

/**
 * Registers the wasm backend and points it at the .wasm binaries inside the npm package.
 *
 * `import.meta.resolve` gives the file:// URL of the package's entry (dist/tf-backend-wasm.node.js
 * in node_modules or Deno's npm cache); the binaries sit next to it in dist/. Deno's `fetch` reads
 * file:// URLs, so `usePlatformFetch` makes tfjs fetch them from disk. Nothing is downloaded.
 */
async function loadWasm(): Promise<string> {
  const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  const entry = import.meta.resolve("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  const files = [
    "tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm",
  ];
  const map: Record<string, string> = {};
  for (const f of files) map[f] = new URL(f, entry).href;
  if (!wasmLoaded) {
    wasm.setWasmPaths(map, true);
    wasmLoaded = true;
  }
  return map["tfjs-backend-wasm-simd.wasm"];
}

async function use(backend: TfjsBackend): Promise<void> {
  if (tf.getBackend() !== backend) {
    if (!(await tf.setBackend(backend))) throw new Error(`tfjs: setBackend("${backend}") failed`);
  }
}

export async function setup(backend: TfjsBackend): Promise<PeerLib> {
  let info = "";
  if (backend === "wasm") info = await loadWasm();
  if (backend === "webgpu" && !webgpuLoaded) {
    if (!("gpu" in navigator)) throw new Error("tfjs-webgpu: navigator.gpu is missing");
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
    webgpuLoaded = true;
  }
  // setBackend returns false (and logs) when the backend's init fails; surface it as an error.
  if (!(await tf.setBackend(backend))) {
    throw new Error(`tfjs: backend "${backend}" failed to initialise ${info}`);
  }
  await tf.ready();
  if (backend === "wasm") {
    const threads = (await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0")).getThreadsCount();
    if (threads !== 1) console.warn(`tfjs-wasm: ${threads} threads`);
  }

  const held: tf.Tensor[] = [];
  const optimizers: tf.Optimizer[] = [];
  const put = (data: Float32Array, shape: number[]): tf.Tensor => {
    const t = tf.tensor(data, shape, "float32");
    held.push(t);
    return t;
  };
  /** Runs a synchronous graph builder under tidy, then reads its result with one `data()`. */
  const readRun = (build: () => tf.Tensor): Run => async () => {
    await use(backend);
    const out = tf.tidy(build);
    await out.data();
    out.dispose();
  };
  const ready = async (run: Run): Promise<Run> => {
    await warmUp(run);
    return run;
  };

  const lib: PeerLib = {
    name: `tfjs-${backend}`,

    async matmul(n: number, variant: MatmulVariant, chain: number) {
      await use(backend);
      const a = put(randn(n * n, 1), [n, n]);
      const w = put(randn(n * n, 2, 1 / Math.sqrt(n)), [n, n]);
      const ta = variant === "tn", tb = variant === "nt";
      return await ready(readRun(() => {
        let x = a;
        for (let i = 0; i < chain; i++) x = tf.matMul(x, w, ta, tb);
        return x;
      }));
    },

    async elementwiseChain(n: number, ops: number) {
      await use(backend);
      const a = put(randn(n, 3), [n]);
      const b = put(randn(n, 4), [n]);
      const half = put(new Float32Array([0.5]), []);
      return await ready(readRun(() => {
        let x = a;
        for (let i = 0; i < ops; i++) {
          switch (i % 4) {
            case 0:
              x = tf.add(x, b);
              break;
            case 1:
              x = tf.mul(x, half);
              break;
            case 2:
              x = tf.tanh(x);
              break;
            default:
              x = tf.exp(x);
          }
        }
        return x;
      }));
    },

    async softmax(rows: number, cols: number) {
      await use(backend);
      const a = put(randn(rows * cols, 5), [rows, cols]);
      return await ready(readRun(() => tf.softmax(a, -1)));
    },

    async conv2d(batch, cin, hw, cout, k, stride, pad) {
      await use(backend);
      // Same data as the NCHW/OIHW peers, transposed to tfjs' NHWC/HWIO once, outside the run.
      const x = put(nchwToNhwc(randn(batch * cin * hw * hw, 6), batch, cin, hw, hw), [
        batch,
        hw,
        hw,
        cin,
      ]);
      const wO = randn(cout * cin * k * k, 7, 1 / Math.sqrt(cin * k * k));
      const w = put(oihwToHwio(wO, cout, cin, k, k), [k, k, cin, cout]);
      return await ready(
        readRun(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad, "NHWC")),
      );
    },

    async mlpTrainStep(batch: number, dims: number[]) {
      await use(backend);
      const L = dims.length - 1;
      const init0 = mlpInit(dims);
      const ws: tf.Variable[] = [];
      const bs: tf.Variable[] = [];
      for (let i = 0; i < L; i++) {
        // tf.variable shares the initial tensor's data: dispose the initial tensor right away.
        const w0 = tf.tensor2d(init0.w[i], [dims[i], dims[i + 1]]);
        const b0 = tf.tensor1d(init0.b[i]);
        ws.push(tf.variable(w0));
        bs.push(tf.variable(b0));
        w0.dispose();
        b0.dispose();
      }
      held.push(...ws, ...bs);
      const x = put(randn(batch * dims[0], 8), [batch, dims[0]]);
      const y = put(randn(batch * dims[L], 9), [batch, dims[L]]);
      const opt = tf.train.adam(1e-3, 0.9, 0.999);
      optimizers.push(opt);
      return await ready(async () => {
        await use(backend);
        const loss = opt.minimize(() => {
          let h = x;
          for (let i = 0; i < L; i++) {
            h = tf.add(tf.matMul(h, ws[i]), bs[i]);
            if (i < L - 1) h = tf.relu(h);
          }
          return tf.mean(tf.squaredDifference(h, y)) as tf.Scalar;
        }, true);
        if (!loss) throw new Error("tfjs: minimize returned no loss");
        const l = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(l)) throw new Error(`tfjs MLP loss is ${l}`);
        lib.lastLoss = l;
      });
    },

    async dispose() {
      await use(backend);
      for (const o of optimizers.splice(0)) o.dispose();
      for (const t of held.splice(0)) t.dispose();
    },
  };
  return lib;
}
