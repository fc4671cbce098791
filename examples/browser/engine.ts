/**
 * The browser page's engine: worldflux itself, bundled by `serve.ts` (`deno bundle`) into
 * `engine.js` and run in a dedicated worker of the page (the cpu backend's kernel threads block
 * in `Atomics.wait`, which a page's main thread may not; WebGPU works in a worker as well).
 *
 * The page asks with `{ id, op, args }` messages and gets `{ id, result }` or `{ id, error }`;
 * training also sends `{ progress }` messages on the way. Operations:
 *
 * - `info`: cross-origin isolation (SharedArrayBuffer), kernel threads, the WebGPU adapter;
 * - `load { url, device }`: the saved model at `url` (fetched) on `device`;
 * - `imagine { device, seed, steps, warmup, trajectory? }`: a CartPole trajectory (played with
 *   random actions from `reset({ seed })` unless given), the model filtering its first `warmup`
 *   observations and imagining the rest open-loop (`examples/lib/imagination.ts`; the global
 *   generator seeded with `seed` first), with frames of the real and the decoded imagined states;
 * - `train { device, steps, seed }`: the model loaded on `device` trained online on CartPole.
 * @module
 */

/// <reference lib="deno.worker" />

import {
  Canvas,
  type DeviceName,
  drawCartPole,
  fromPretrained,
  initWebGPU,
  makeEnvSync,
  manualSeed,
  randomController,
  setKernelWorkerUrl,
  trainOnline,
  type WorldModel,
} from "../../mod.ts";
import { imagine, playGreedy, type Trajectory } from "../lib/imagination.ts";

// The cpu kernel threads' script is bundled beside this one (see serve.ts).
setKernelWorkerUrl(new URL("./kernel_worker.js", import.meta.url));

/** A trajectory as plain arrays (what crosses postMessage and JSON). */
export interface PlainTrajectory {
  readonly obs: number[][];
  readonly actions: number[][];
  readonly rewards: number[];
}

/** What `imagine` answers. */
export interface ImagineResult {
  readonly device: DeviceName;
  readonly trajectory: PlainTrajectory;
  readonly warmup: number;
  /** Decoded imagined observations of steps `warmup + 1 ..`. */
  readonly imaginedObs: number[][];
  readonly imaginedRewards: number[];
  /** RGB frames (`frameSize` squared, HWC) of the real states and of the imagined ones. */
  readonly realFrames: Uint8Array[];
  readonly imaginedFrames: Uint8Array[];
  readonly frameSize: number;
  readonly ms: number;
}

/** What `train` answers. */
export interface TrainResult {
  readonly device: DeviceName;
  readonly steps: number;
  readonly updates: number;
  readonly episodeReturns: number[];
  readonly evalReturn: number | null;
  readonly lastLoss: number | null;
  readonly ms: number;
}

const FRAME = 96;
const models = new Map<DeviceName, WorldModel>();

function frame(x: number, theta: number): Uint8Array {
  const c = new Canvas(FRAME, FRAME, 2);
  drawCartPole(c, x, theta);
  return c.toImage();
}

function model(device: DeviceName): WorldModel {
  const m = models.get(device);
  if (!m) throw new Error(`no model is loaded on ${device}: send "load" first`);
  return m;
}

async function load(args: { url: string; device: DeviceName }) {
  if (args.device === "webgpu") await initWebGPU();
  const m = await fromPretrained(new URL(args.url, self.location.href), { device: args.device });
  models.get(args.device)?.dispose();
  models.set(args.device, m);
  return {
    device: args.device,
    modelType: m.modelType,
    parameters: m.parameters().reduce((n, p) => n + p.size, 0),
  };
}

function toTrajectory(t: PlainTrajectory): Trajectory {
  return {
    obs: t.obs.map((o) => Float32Array.from(o)),
    actions: t.actions.map((a) => Float32Array.from(a)),
    rewards: t.rewards,
    obsShape: [4],
  };
}

async function imagineOp(args: {
  device: DeviceName;
  seed: number;
  steps: number;
  warmup: number;
  trajectory?: PlainTrajectory;
}): Promise<ImagineResult> {
  const m = model(args.device);
  let traj: Trajectory;
  if (args.trajectory) traj = toTrajectory(args.trajectory);
  else {
    const env = makeEnvSync("CartPole-v1");
    traj = await playGreedy(env, randomController(env.actionSpace, args.seed), {
      seed: args.seed,
      steps: args.steps,
    });
  }
  // The posterior steps of the warmup sample their latents: from a seeded stream, the same on
  // every device and runtime.
  manualSeed(args.seed);
  const t0 = performance.now();
  const im = await imagine(m, traj, args.warmup);
  const ms = performance.now() - t0;
  const imaginedObs = im.imaginedObs ?? [];
  return {
    device: args.device,
    trajectory: {
      obs: traj.obs.map((o) => Array.from(o)),
      actions: traj.actions.map((a) => Array.from(a)),
      rewards: [...traj.rewards],
    },
    warmup: im.warmup,
    imaginedObs,
    imaginedRewards: im.imaginedRewards,
    realFrames: traj.obs.map((o) => frame(o[0], o[2])),
    imaginedFrames: imaginedObs.map((o) => frame(o[0], o[2])),
    frameSize: FRAME,
    ms,
  };
}

async function train(args: { device: DeviceName; steps: number; seed: number }) {
  const m = model(args.device);
  const env = makeEnvSync("CartPole-v1");
  const evalEnv = makeEnvSync("CartPole-v1", { maxEpisodeSteps: 200 });
  let lastLoss: number | null = null;
  const t0 = performance.now();
  const r = await trainOnline(m, env, {
    totalSteps: args.steps,
    prefillSteps: Math.min(100, Math.floor(args.steps / 2)),
    trainRatio: 1 / 8,
    batchSize: 4,
    sequenceLength: 32,
    logInterval: 50,
    evalInterval: args.steps,
    evalEpisodes: 1,
    seed: args.seed,
    device: args.device,
  }, {
    evalEnv,
    defaultCallbacks: false,
    log: (message) => self.postMessage({ note: message }),
    callbacks: [{
      onLog(step, metrics) {
        if (typeof metrics.loss === "number") lastLoss = metrics.loss;
        self.postMessage({
          progress: { step, total: args.steps, loss: metrics.loss ?? null },
        });
      },
    }],
  });
  m.eval();
  return {
    device: args.device,
    steps: r.summary.steps,
    updates: r.summary.updates,
    episodeReturns: r.episodes.map((e) => e.return),
    evalReturn: r.evaluations.at(-1)?.meanReturn ?? null,
    lastLoss,
    ms: performance.now() - t0,
  } satisfies TrainResult;
}

async function info() {
  // The cpu backend runs one kernel thread per logical core (the calling thread included).
  const threads = navigator.hardwareConcurrency || 1;
  let webgpu: string;
  try {
    await initWebGPU();
    webgpu = "available";
  } catch (e) {
    webgpu = `unavailable: ${(e as Error).message}`;
  }
  return {
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
    cpuThreads: threads,
    webgpu,
  };
}

// deno-lint-ignore no-explicit-any
const OPS: Record<string, (args: any) => Promise<unknown>> = {
  info,
  load,
  imagine: imagineOp,
  train,
};

self.onmessage = async (e: MessageEvent<{ id: number; op: string; args?: unknown }>) => {
  const { id, op, args } = e.data;
  try {
    const fn = OPS[op];
    if (!fn) throw new Error(`unknown operation "${op}" (${Object.keys(OPS).join(", ")})`);
    self.postMessage({ id, result: await fn(args ?? {}) });
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? `${err.message}` : String(err) });
  }
};
