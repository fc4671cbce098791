/**
 * jax-js peer adapter (`npm:@jax-js/jax@0.1.25`), devices "webgpu" and "wasm".
 *
 * jax-js arrays are reference counted: every function (including our jitted ones) consumes its
 * array arguments, so the prepared inputs are passed as `x.ref` and results are consumed by
 * `data()`. Every workload is one `jit`-compiled function, so jax-js fuses what it can.
 */
// npm: specifiers are inline on purpose: deno.json (the import map) is not ours to edit.
// deno-lint-ignore-file no-import-prefix
import {
  defaultDevice,
  init,
  jit,
  lax,
  nn,
  numpy as np,
  tree,
  valueAndGrad,
} from "npm:@jax-js/jax@0.1.25";
import type { JaxBackend, MatmulVariant, PeerLib, Run } from "./types.ts";
import { mlpInit, randn, warmUp } from "./util.ts";

type Arr = np.Array;

export async function setup(backend: JaxBackend): Promise<PeerLib> {
  const available = await init(backend);
  if (!available.includes(backend)) {
    throw new Error(`jax-js: device "${backend}" unavailable (init gave ${available.join(", ")})`);
  }
  const device = backend;
  // defaultDevice is global to jax-js: set it before creating arrays or calling a jitted function,
  // so that a wasm and a webgpu instance can coexist in one process.
  const use = () => {
    if (defaultDevice() !== device) defaultDevice(device);
  };
  use();

  const held: Arr[] = [];
  const fns: { dispose(): void }[] = [];
  const put = (data: Float32Array<ArrayBuffer>, shape: number[]): Arr => {
    const a = np.array(data, { shape, device });
    held.push(a);
    return a;
  };
  const ready = async (run: Run): Promise<Run> => {
    await warmUp(run);
    return run;
  };

  const lib: PeerLib = {
    name: `jax-js-${backend}`,

    async matmul(n: number, variant: MatmulVariant, chain: number) {
      use();
      const a = put(randn(n * n, 1), [n, n]);
      const w = put(randn(n * n, 2, 1 / Math.sqrt(n)), [n, n]);
      const f = jit((x: Arr, m: Arr) => {
        for (let i = 0; i < chain; i++) {
          if (variant === "nn") x = np.matmul(x, m.ref);
          else if (variant === "tn") x = np.matmul(x.transpose(), m.ref);
          else x = np.matmul(x, m.ref.transpose());
        }
        m.dispose();
        return x;
      });
      fns.push(f);
      return await ready(async () => {
        use();
        await f(a.ref, w.ref).data();
      });
    },

    async elementwiseChain(n: number, ops: number) {
      use();
      const a = put(randn(n, 3), [n]);
      const b = put(randn(n, 4), [n]);
      const f = jit((x: Arr, y: Arr) => {
        for (let i = 0; i < ops; i++) {
          switch (i % 4) {
            case 0:
              x = x.add(y.ref);
              break;
            case 1:
              x = x.mul(0.5);
              break;
            case 2:
              x = np.tanh(x);
              break;
            default:
              x = np.exp(x);
          }
        }
        y.dispose();
        return x;
      });
      fns.push(f);
      return await ready(async () => {
        use();
        await f(a.ref, b.ref).data();
      });
    },

    async softmax(rows: number, cols: number) {
      use();
      const a = put(randn(rows * cols, 5), [rows, cols]);
      const f = jit((x: Arr) => nn.softmax(x, -1));
      fns.push(f);
      return await ready(async () => {
        use();
        await f(a.ref).data();
      });
    },

    async conv2d(batch, cin, hw, cout, k, stride, pad) {
      use();
      const x = put(randn(batch * cin * hw * hw, 6), [batch, cin, hw, hw]);
      const w = put(randn(cout * cin * k * k, 7, 1 / Math.sqrt(cin * k * k)), [cout, cin, k, k]);
      const f = jit((a: Arr, b: Arr) => lax.conv(a, b, [stride, stride], [[pad, pad], [pad, pad]]));
      fns.push(f);
      return await ready(async () => {
        use();
        await f(x.ref, w.ref).data();
      });
    },

    async mlpTrainStep(batch: number, dims: number[]) {
      use();
      const L = dims.length - 1;
      const init0 = mlpInit(dims);
      // Flat parameter list [w0, b0, w1, b1, ...]; Adam moments mirror it.
      let params: Arr[] = [];
      let m: Arr[] = [];
      let v: Arr[] = [];
      for (let i = 0; i < L; i++) {
        params.push(np.array(init0.w[i], { shape: [dims[i], dims[i + 1]], device }));
        params.push(np.array(init0.b[i], { shape: [dims[i + 1]], device }));
        for (const s of [[dims[i], dims[i + 1]], [dims[i + 1]]]) {
          m.push(np.zeros(s, { device }));
          v.push(np.zeros(s, { device }));
        }
      }
      let t: Arr = np.array(new Float32Array([0]), { shape: [], device });
      const x = put(randn(batch * dims[0], 8), [batch, dims[0]]);
      const y = put(randn(batch * dims[L], 9), [batch, dims[L]]);

      const lossFn = (p: Arr[], xb: Arr, yb: Arr): Arr => {
        let h = xb;
        for (let i = 0; i < L; i++) {
          h = np.matmul(h, p[2 * i]).add(p[2 * i + 1]);
          if (i < L - 1) h = nn.relu(h);
        }
        const d = h.sub(yb);
        return np.mean(d.ref.mul(d));
      };
      const lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-7; // eps as tf.train.adam's default
      const step = jit((p: Arr[], mm: Arr[], vv: Arr[], tt: Arr, xb: Arr, yb: Arr) => {
        const [loss, g] = valueAndGrad(lossFn)(tree.ref(p), xb, yb);
        const t1 = tt.add(1);
        // Bias corrections 1/(1-b^t), computed on device from the step counter.
        const c1 = np.reciprocal(np.power(b1, t1.ref).mul(-1).add(1));
        const c2 = np.reciprocal(np.power(b2, t1.ref).mul(-1).add(1));
        const np_: Arr[] = [], nm: Arr[] = [], nv: Arr[] = [];
        for (let i = 0; i < p.length; i++) {
          const gi = g[i];
          const mi = mm[i].mul(b1).add(gi.ref.mul(1 - b1));
          const vi = vv[i].mul(b2).add(gi.ref.mul(gi).mul(1 - b2));
          const upd = mi.ref.mul(c1.ref).div(np.sqrt(vi.ref.mul(c2.ref)).add(eps));
          np_.push(p[i].sub(upd.mul(lr)));
          nm.push(mi);
          nv.push(vi);
        }
        c1.dispose();
        c2.dispose();
        return [loss, np_, nm, nv, t1] as [Arr, Arr[], Arr[], Arr[], Arr];
      });
      fns.push(step);
      fns.push({
        dispose: () => {
          tree.dispose([params, m, v, t]);
          params = m = v = [];
        },
      });
      return await ready(async () => {
        use();
        const [loss, p2, m2, v2, t2] = step(params, m, v, t, x.ref, y.ref);
        params = p2;
        m = m2;
        v = v2;
        t = t2;
        const l = (await loss.data())[0];
        if (!Number.isFinite(l)) throw new Error(`jax-js MLP loss is ${l}`);
        lib.lastLoss = l;
      });
    },

    dispose() {
      for (const f of fns.splice(0)) f.dispose();
      for (const a of held.splice(0)) a.dispose();
      return Promise.resolve();
    },
  };
  return lib;
}
