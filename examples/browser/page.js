// @ts-check
/// <reference lib="dom" />
/**
 * The browser page of worldflux (served by `serve.ts`): starts the engine (worldflux bundled in
 * `engine.js`, in a dedicated worker), loads the saved model at `?model=` (default `model/`) on
 * WebGPU and on the WebAssembly cpu backend, imagines a CartPole episode on both and draws the
 * real and imagined frames, says how far the two devices agree, then trains the model online on
 * CartPole (`?train=` environment steps, default 300; `?device=` cpu or webgpu) and draws the
 * imagination again.
 *
 * `window.worldflux` lets a test drive the engine: `call(op, args)` (see `engine.ts`) and `done`
 * (resolves with everything the page computed, rejects with what went wrong).
 * @module
 */

const params = new URL(location.href).searchParams;
const MODEL_URL = params.get("model") ?? "model/";
const TRAIN_STEPS = Number(params.get("train") ?? 300);
const TRAIN_DEVICE = params.get("device") ?? "cpu";
const SEED = Number(params.get("seed") ?? 0);
const STEPS = Number(params.get("steps") ?? 30);
const WARMUP = Number(params.get("warmup") ?? 5);
/** Frames per row of a strip. */
const STRIP = 12;

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function el(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
}

/**
 * Fills a definition list (text only, never markup).
 * @param {string} id
 * @param {Record<string, unknown>} rows
 */
function describe(id, rows) {
  const dl = el(id);
  dl.replaceChildren();
  for (const [k, v] of Object.entries(rows)) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

/** @param {string} state @param {string} [text] */
function setState(state, text = state) {
  const s = el("state");
  s.dataset.state = state;
  s.textContent = text;
}

const engine = new Worker(new URL("./engine.js", import.meta.url), { type: "module" });
let nextId = 0;
/** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
const pending = new Map();
/** @type {(p: { step: number, total: number, loss: number | null }) => void} */
let onProgress = () => {};

engine.onmessage = (e) => {
  const m = e.data;
  if (m.progress) return onProgress(m.progress);
  if (m.note) return console.info(`worldflux: ${m.note}`);
  const p = pending.get(m.id);
  if (!p) return;
  pending.delete(m.id);
  if (m.error !== undefined) p.reject(new Error(m.error));
  else p.resolve(m.result);
};
engine.onerror = (e) => {
  e.preventDefault();
  const err = new Error(`the engine failed: ${e.message}`);
  for (const p of pending.values()) p.reject(err);
  pending.clear();
};

/**
 * Asks the engine (see `engine.ts` for the operations).
 * @param {string} op
 * @param {Record<string, unknown>} [args]
 * @returns {Promise<any>}
 */
function call(op, args = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    engine.postMessage({ id, op, args });
  });
}

/**
 * Draws RGB frames (HWC) side by side on a canvas.
 * @param {Uint8Array[]} frames
 * @param {number} size
 * @returns {HTMLCanvasElement}
 */
function strip(frames, size) {
  const canvas = document.createElement("canvas");
  canvas.width = STRIP * size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d canvas context");
  frames.slice(0, STRIP).forEach((rgb, k) => {
    const img = ctx.createImageData(size, size);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      img.data[j] = rgb[i];
      img.data[j + 1] = rgb[i + 1];
      img.data[j + 2] = rgb[i + 2];
      img.data[j + 3] = 255;
    }
    ctx.putImageData(img, k * size, 0);
  });
  return canvas;
}

/**
 * Shows an imagination result: real frames of the imagined steps over the imagined frames.
 * @param {HTMLElement} box
 * @param {string} title
 * @param {import("./engine.ts").ImagineResult} r
 */
function showImagination(box, title, r) {
  const fig = document.createElement("figure");
  fig.dataset.device = r.device;
  const cap = document.createElement("figcaption");
  cap.textContent = `${title}: ${r.imaginedFrames.length} steps imagined after ${r.warmup} ` +
    `observed, in ${r.ms.toFixed(0)} ms`;
  const real = r.realFrames.slice(r.warmup + 1);
  fig.append(cap, strip(real, r.frameSize), strip(r.imaginedFrames, r.frameSize));
  box.append(fig);
}

/**
 * Largest absolute difference of two nested number arrays of the same shape.
 * @param {number[][]} a
 * @param {number[][]} b
 */
function maxDiff(a, b) {
  let m = 0;
  a.forEach((row, i) => row.forEach((x, j) => m = Math.max(m, Math.abs(x - b[i][j]))));
  return m;
}

async function run() {
  const info = await call("info");
  describe("runtime", {
    "cross-origin isolated": info.crossOriginIsolated,
    "cpu kernel threads": info.cpuThreads,
    "WebGPU": info.webgpu,
  });
  const devices = info.webgpu === "available" ? ["webgpu", "cpu"] : ["cpu"];
  /** @type {Record<string, any>} */
  const loaded = {};
  for (const device of devices) {
    setState("loading", `loading the model on ${device}`);
    loaded[device] = await call("load", { url: MODEL_URL, device });
  }
  const first = loaded[devices[0]];
  describe("model", {
    "from": new URL(MODEL_URL, location.href).href,
    "family": first.modelType,
    "parameters": first.parameters.toLocaleString("en"),
  });
  /** @type {Record<string, import("./engine.ts").ImagineResult>} */
  const imagined = {};
  for (const device of devices) {
    setState("imagining", `imagining on ${device}`);
    imagined[device] = await call("imagine", {
      device,
      seed: SEED,
      steps: STEPS,
      warmup: WARMUP,
    });
    showImagination(el("imagination"), device, imagined[device]);
  }
  if (imagined.webgpu) {
    describe("agreement", {
      "webgpu vs cpu, decoded observations": maxDiff(
        imagined.webgpu.imaginedObs,
        imagined.cpu.imaginedObs,
      ).toExponential(2),
      "webgpu vs cpu, rewards": maxDiff(
        [imagined.webgpu.imaginedRewards],
        [imagined.cpu.imaginedRewards],
      ).toExponential(2),
    });
  }
  let trained = null, after = null;
  if (TRAIN_STEPS > 0) {
    setState("training", `training on ${TRAIN_DEVICE}`);
    onProgress = (p) => {
      el("progress-bar").style.width = `${(100 * p.step / p.total).toFixed(1)}%`;
      describe("training", {
        "environment steps": `${p.step} / ${p.total}`,
        "loss": p.loss === null ? "-" : p.loss.toFixed(4),
      });
    };
    trained = await call("train", { device: TRAIN_DEVICE, steps: TRAIN_STEPS, seed: SEED });
    el("progress-bar").style.width = "100%";
    const returns = trained.episodeReturns;
    describe("training", {
      "environment steps": `${trained.steps} (${trained.updates} updates) on ${trained.device}`,
      "time": `${(trained.ms / 1000).toFixed(1)} s`,
      "last loss": trained.lastLoss === null ? "-" : trained.lastLoss.toFixed(4),
      "episode returns": returns.map((/** @type {number} */ x) => x.toFixed(0)).join(", "),
      "evaluation return": trained.evalReturn ?? "-",
    });
    after = await call("imagine", {
      device: TRAIN_DEVICE,
      seed: SEED,
      steps: STEPS,
      warmup: WARMUP,
    });
    showImagination(el("after-training"), `after training, ${TRAIN_DEVICE}`, after);
  }
  setState("done");
  return { info, loaded, imagined, trained, after };
}

const done = run();
done.catch((e) => {
  setState("error");
  const p = el("problem");
  p.hidden = false;
  p.textContent = String(e?.message ?? e);
});
Object.assign(globalThis, { worldflux: { call, done } });
