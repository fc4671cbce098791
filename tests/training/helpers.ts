/**
 * Helpers of the training tests: a deterministic replay buffer of point-mass episodes, a loss
 * recorder callback, temporary directories removed at exit, a tiny environment, and a fake
 * family whose spec brings its own training step (two optimizers, an EMA tensor outside the
 * model's state dict, a JS-side counter).
 * @module
 */

import {
  Adam,
  type Callback,
  createWorldModel,
  type Env,
  Generator,
  makeTrainStep,
  type Metrics,
  type MLPConfig,
  mlpConfigSchema,
  mlpFamilySpec,
  MLPWorldModel,
  type Module,
  noGrad,
  ReplayBuffer,
  type Tensor,
  type TrainingConfig,
  type TrainStep,
  type TrainStepOptions,
  type WorldModel,
  WorldModelRegistry,
  zerosLike,
} from "../../mod.ts";
import { rng } from "../models/synthetic.ts";

const dirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of dirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch {
      // already gone
    }
  }
});

/** A temporary directory removed when the test module exits. */
export async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "wf_training_" });
  dirs.push(d);
  return d;
}

/**
 * `episodes` episodes of `T` steps of a damped point pushed by random 2-D actions
 * (obs [x, y, vx, vy], reward -|p|^2, a terminal step when |p| > 1.2).
 */
export function pointMassBuffer(seed = 1, episodes = 6, T = 60): ReplayBuffer {
  const r = rng(seed);
  const buf = new ReplayBuffer({ capacity: episodes * T, obsShape: [4], actionDim: 2, seed: 0 });
  for (let e = 0; e < episodes; e++) {
    const obs = new Float32Array(T * 4);
    const act = new Float32Array(T * 2);
    const rew = new Float32Array(T);
    const done = new Array<boolean>(T).fill(false);
    let [x, y, vx, vy] = [r() * 2 - 1, r() * 2 - 1, 0, 0];
    let len = T;
    for (let t = 0; t < T; t++) {
      obs.set([x, y, vx, vy], t * 4);
      const [ax, ay] = [r() * 2 - 1, r() * 2 - 1];
      act.set([ax, ay], t * 2);
      vx = 0.8 * vx + 0.3 * ax;
      vy = 0.8 * vy + 0.3 * ay;
      x += 0.3 * vx;
      y += 0.3 * vy;
      rew[t] = -(x * x + y * y);
      if (x * x + y * y > 1.44 && t >= 16) {
        done[t] = true;
        len = t + 1;
        break;
      }
    }
    buf.addEpisode({
      obs: obs.subarray(0, len * 4),
      actions: act.subarray(0, len * 2),
      rewards: rew.subarray(0, len),
      dones: done.slice(0, len),
    });
  }
  return buf;
}

/** The mlp:ci model of the point-mass task. */
export function mlpModel(seed = 1): Promise<WorldModel> {
  return createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2, seed });
}

/** A callback recording every logged metric by step. */
export function recorder(): Callback & { readonly logs: Map<number, Metrics> } {
  const logs = new Map<number, Metrics>();
  return { key: "recorder", logs, onLog: (step: number, m: Metrics) => void logs.set(step, m) };
}

/** A callback returning "stop" at `step`. */
export function stopAt(step: number): Callback {
  return { key: "stop_at", onStepEnd: (s: number) => (s === step ? "stop" : undefined) };
}

/** Config of the fast offline runs. */
export const FAST = {
  batchSize: 8,
  sequenceLength: 8,
  learningRate: 1e-3,
  logInterval: 1,
} as const;

/**
 * The `fakefam` family: the mlp template with a training step of its own in its spec
 * ({@link FakeFamilyModel.buildTrainStep}); registered by the first {@link FakeFamilyModel}.
 */
function registerFakeFamily(): void {
  if (WorldModelRegistry.has("fakefam")) return;
  WorldModelRegistry.register<MLPConfig, FakeFamilyModel>("fakefam", {
    ...mlpFamilySpec,
    factory: () => new FakeFamilyModel(),
    aliases: {},
    trainStep: (model, config, options) => model.buildTrainStep(config, options),
  });
}

/**
 * A family with its own training step: the encoder and the rest on two optimizers, an EMA of
 * the first encoder weight kept by the step (not in the model's state dict), and a JS-side
 * update counter that hard-resets the EMA every 7 updates (outside the trace).
 */
export class FakeFamilyModel extends MLPWorldModel {
  /** Training steps built by the family's trainStep (for assertions). */
  built = 0;

  constructor(seed = 1) {
    registerFakeFamily();
    super(
      mlpConfigSchema.parse({ obsShape: [4], actionDim: 2, latentDim: 8, hiddenDim: 32, depth: 1 }),
      {
        modelType: "fakefam",
        generator: new Generator(seed),
      },
    );
  }

  /** The family's step (its spec's `trainStep` calls this). */
  buildTrainStep(config: TrainingConfig, options: TrainStepOptions): TrainStep {
    this.built++;
    const enc = (this.observationEncoder as unknown as Module).parameters();
    const encSet = new Set<Tensor>(enc);
    const rest = this.parameters().filter((p) => !encSet.has(p));
    const encOpt = new Adam(enc, { lr: config.learningRate * 0.5, gradClip: 10 });
    const restOpt = new Adam(rest, { lr: config.learningRate, gradClip: 10 });
    const watched = enc[0];
    const ema = noGrad(() => watched.mul(1)).realize();
    let counter = 0;
    return makeTrainStep({
      name: "fakefam",
      optimizers: { encoder: encOpt, rest: restOpt },
      compile: config.compile,
      log: options.log,
      update: (batch) => {
        const out = this.loss(batch);
        out.loss.backward();
        encOpt.step();
        restOpt.step();
        encOpt.zeroGrad();
        restOpt.zeroGrad();
        noGrad(() => ema.assign(ema.mul(0.9).add(watched.mul(0.1))));
        const drift = noGrad(() => ema.sub(watched).square().mean());
        return { loss: out.loss, ...out.components, ema_drift: drift };
      },
      afterUpdate: () => {
        counter++;
        if (counter % 7 === 0) noGrad(() => ema.assign(zerosLike(ema).add(watched)));
      },
      state: () => ({ tensors: { ema }, values: { counter } }),
      loadState: (s) => {
        noGrad(() => ema.assign(s.tensors.ema));
        counter = s.values.counter as number;
      },
    });
  }
}

/**
 * A tiny 1-D environment: a point at x in [-1, 1] pushed by the action (box [-1, 1]); reward
 * -|x|; episodes of `limit` steps (truncated); reset draws x uniformly from the seed stream.
 */
export class PointEnv implements Env<Float32Array> {
  readonly id = "Point-v0";
  readonly observationSpace = {
    kind: "box" as const,
    low: new Float32Array([-1]),
    high: new Float32Array([1]),
    shape: [1],
    dtype: "float32" as const,
  };
  readonly actionSpace = {
    kind: "box" as const,
    low: new Float32Array([-1]),
    high: new Float32Array([1]),
    shape: [1],
    dtype: "float32" as const,
  };
  readonly maxEpisodeSteps: number;
  readonly renderSize = 8;
  resets = 0;
  #x = 0;
  #t = 0;
  #r = rng(0);

  constructor(limit = 25) {
    this.maxEpisodeSteps = limit;
  }

  reset(opts: { seed?: number } = {}) {
    if (opts.seed !== undefined) this.#r = rng(opts.seed);
    this.#x = this.#r() * 2 - 1;
    this.#t = 0;
    this.resets++;
    return { obs: new Float32Array([this.#x]), info: {} };
  }

  step(action: number | ArrayLike<number>) {
    const a = typeof action === "number" ? action : action[0];
    this.#x = Math.max(-1, Math.min(1, this.#x + 0.2 * a));
    this.#t++;
    return {
      obs: new Float32Array([this.#x]),
      reward: -Math.abs(this.#x),
      terminated: false,
      truncated: this.#t >= this.maxEpisodeSteps,
      info: {},
    };
  }

  render(): Uint8Array {
    return new Uint8Array(this.renderSize * this.renderSize * 3);
  }

  close(): void {}
}
