/**
 * Imagination pictures of the examples (`compare_unified_training.ts`, `visualize_imagination.ts`,
 * `evidence_dreamerv3_breakout.ts`): a real trajectory (played by a controller in an environment,
 * or read from a replay-buffer `.npz`), the model filtering its first `warmup` observations and
 * then imagining the rest open-loop along the real actions, and the comparison drawn as a PNG
 * strip (real frames over decoded imagined frames) and an SVG of rewards (and, for vector
 * observations, of each dimension; for a model without a decoder, of latent agreement).
 *
 * Frames come from the observations themselves, so real and imagined pictures are drawn the same
 * way: RGB pixels `[3, H, W]` (uint8 0..255, or decoded floats in [0, 1]) as they are, MinAtar
 * Breakout grids `[4, 10, 10]` in MinAtar's colours at 64x64. Other observations have no frames
 * (the SVG still compares rewards and vector dimensions).
 * @module
 */

import {
  actGreedy,
  Canvas,
  type Controller,
  drawBreakoutGrid,
  encodeRgbPng,
  type Env,
  noGrad,
  type Observation,
  ReplayBuffer,
  stack,
  type Tensor,
  tensor,
  tidy,
  tileFrames,
  type WorldModel,
} from "../../mod.ts";
import { gridSvg, lineChart } from "../../src/web/charts.js";

/**
 * A real trajectory: `obs` has one more row than `actions` (the observation after the last
 * action); `actions` are vectors (one-hot for discrete actions); `rewards[t]` follows `actions[t]`.
 */
export interface Trajectory {
  /** Observations `[T + 1]`, each of `obsShape`. */
  readonly obs: readonly Observation[];
  /** Actions `[T]`, each of the model's action size. */
  readonly actions: readonly Float32Array[];
  /** Rewards `[T]`. */
  readonly rewards: readonly number[];
  /** Shape of one observation. */
  readonly obsShape: readonly number[];
}

/** The outcome of {@link imagine}. */
export interface Imagination {
  /** Observed steps before the open-loop imagination. */
  readonly warmup: number;
  /** Imagined steps. */
  readonly horizon: number;
  /** Real observations `[T + 1][D]` (vector observations only). */
  readonly realObs: number[][] | null;
  /** Decoded imagined observations of steps `warmup + 1 .. warmup + horizon` (vectors only). */
  readonly imaginedObs: number[][] | null;
  /** Real rewards `[T]`. */
  readonly realRewards: readonly number[];
  /** Imagined rewards of steps `warmup .. warmup + horizon - 1`. */
  readonly imaginedRewards: number[];
  /** Mean absolute error of each decoded image/grid against the real one (in [0, 1] units). */
  readonly obsError: number[] | null;
  /** Cosine similarity of imagined latents with encodings of the real observations (no decoder). */
  readonly latentCosine: number[] | null;
  /** Frames of the real observations `[T + 1]` (empty without frames), HWC RGB. */
  readonly realFrames: Uint8Array[];
  /** Frames of the decoded imagined observations `[horizon]`, or null. */
  readonly imaginedFrames: Uint8Array[] | null;
  /** Side of the square frames in pixels (0 without frames). */
  readonly frameSize: number;
}

const GRID_FRAME = 64;

/** Whether `shape` is a MinAtar Breakout grid. */
function isBreakoutGrid(shape: readonly number[]): boolean {
  return shape.length === 3 && shape[0] === 4 && shape[1] === 10 && shape[2] === 10;
}

/** Side of the frames of observations of `shape` (0: no frames). */
export function frameSize(shape: readonly number[]): number {
  if (isBreakoutGrid(shape)) return GRID_FRAME;
  if (shape.length === 3 && shape[0] === 3 && shape[1] === shape[2]) return shape[1];
  return 0;
}

/**
 * The HWC RGB picture of an observation (see the module docs), or null when it has none.
 * `scale` maps values to 0..255: 1 for uint8 pixels, 255 for floats in [0, 1].
 */
export function observationFrame(
  obs: ArrayLike<number>,
  shape: readonly number[],
  scale: number,
): Uint8Array | null {
  if (isBreakoutGrid(shape)) {
    const c = new Canvas(GRID_FRAME, GRID_FRAME, 1);
    drawBreakoutGrid(c, obs);
    return c.toImage();
  }
  const size = frameSize(shape);
  if (!size) return null;
  const n = size * size;
  const img = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      img[p * 3 + c] = Math.max(0, Math.min(255, Math.round(obs[c * n + p] * scale)));
    }
  }
  return img;
}

/** One-hot vector of `a` among `n` actions. */
function oneHot(a: number, n: number): Float32Array {
  const v = new Float32Array(n);
  v[a] = 1;
  return v;
}

/**
 * Plays `controller` greedily in `env` for up to `steps` steps from `reset({ seed })` (stopping at
 * the end of the episode) and records the trajectory.
 */
export async function playGreedy(
  env: Env,
  controller: Controller,
  opts: { seed: number; steps: number },
): Promise<Trajectory> {
  const space = env.actionSpace;
  const obs: Observation[] = [];
  const actions: Float32Array[] = [];
  const rewards: number[] = [];
  let o = env.reset({ seed: opts.seed }).obs;
  obs.push(o);
  let cs = controller.reset?.({ explore: false });
  for (let t = 0; t < opts.steps; t++) {
    const r = await actGreedy(controller, o, cs, space, t);
    cs = r.state;
    actions.push(
      typeof r.action === "number"
        ? oneHot(r.action, space.kind === "discrete" ? space.n : 1)
        : Float32Array.from(r.action),
    );
    const s = env.step(r.action);
    rewards.push(s.reward);
    o = s.obs;
    obs.push(o);
    if (s.terminated || s.truncated) break;
  }
  return { obs, actions, rewards, obsShape: env.observationSpace.shape };
}

/** One array of `ReplayBuffer.toArrays()` data (given as segments of the ring when it wrapped). */
function joined(d: unknown): ArrayLike<number> {
  if (!Array.isArray(d) || d.length === 0 || typeof d[0] === "number") return d as number[];
  const parts = d as Float32Array[];
  const Ctor = parts[0].constructor as new (n: number) => Float32Array;
  const out = new Ctor(parts.reduce((n, p) => n + p.length, 0));
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}

/**
 * The `episode`-th episode of a replay-buffer `.npz` (the layout of `ReplayBuffer.save`, checked
 * by `ReplayBuffer.load`; default: the longest) as a trajectory: its rows' observations, and the
 * actions and rewards of all rows but the last (the observation after the last action is not
 * stored).
 */
export async function trajectoryFromNpz(path: string, episode?: number): Promise<Trajectory> {
  const buffer = await ReplayBuffer.load(path);
  const a = buffer.toArrays();
  const rows = buffer.size;
  const dones = joined(a.dones.data) as ArrayLike<number>;
  const starts = [0];
  for (let i = 0; i < rows - 1; i++) if (dones[i]) starts.push(i + 1);
  const ends = starts.map((_s, k) => (k + 1 < starts.length ? starts[k + 1] : rows));
  if (episode === undefined) {
    episode = 0;
    starts.forEach((s, k) => {
      if (ends[k] - s > ends[episode!] - starts[episode!]) episode = k;
    });
  }
  if (!(Number.isInteger(episode) && episode >= 0 && episode < starts.length)) {
    throw new RangeError(
      `${path}: episode ${episode} asked for, the file holds ${starts.length} (0..${
        starts.length - 1
      })`,
    );
  }
  const s = starts[episode], e = ends[episode];
  if (e - s < 2) throw new RangeError(`${path}: episode ${episode} has ${e - s} step(s); need 2`);
  const D = buffer.obsShape.reduce((x, y) => x * y, 1);
  const A = buffer.actionDim;
  const obsData = joined(a.obs.data) as Float32Array | Uint8Array;
  const actData = joined(a.actions.data) as ArrayLike<number>;
  const rew = joined(a.rewards.data) as ArrayLike<number>;
  const obs: Observation[] = [];
  const actions: Float32Array[] = [];
  const rewards: number[] = [];
  for (let i = s; i < e; i++) {
    obs.push(obsData.slice(i * D, (i + 1) * D));
    if (i === e - 1) break;
    actions.push(
      buffer.actionDtype === "int32"
        ? oneHot(Number(actData[i]), A)
        : Float32Array.from({ length: A }, (_, j) => Number(actData[i * A + j])),
    );
    rewards.push(Number(rew[i]));
  }
  return { obs, actions, rewards, obsShape: buffer.obsShape };
}

const observationTensor = (
  o: Observation,
  shape: readonly number[],
  device: WorldModel["device"],
) =>
  tensor(
    o instanceof Uint8Array ? Float32Array.from(o, (v) => v / 255) : Float32Array.from(o),
    [1, ...shape],
    { device },
  );

/**
 * Feeds the model the first `warmup` steps of `traj` (filtering), then imagines the rest
 * open-loop along the real actions, and compares: decoded observations and rewards (models with an
 * observation decoder, e.g. DreamerV3), rewards and latent agreement (models without, e.g.
 * TD-MPC2).
 */
export async function imagine(
  model: WorldModel,
  traj: Trajectory,
  warmup: number,
): Promise<Imagination> {
  const shape = traj.obsShape;
  const acts = traj.actions;
  const H = acts.length - warmup;
  if (!(Number.isInteger(warmup) && warmup >= 0 && H >= 1)) {
    throw new RangeError(
      `imagine: warmup ${warmup} leaves ${H} step(s) to imagine of a ${acts.length}-step ` +
        `trajectory; use a smaller warmup or a longer trajectory`,
    );
  }
  const A = acts[0].length;
  const obs = traj.obs;
  const decodes = model.supports("obs_decoder");
  const wasTraining = model.training;
  model.eval();
  const out = tidy(() =>
    noGrad(() => {
      let st = model.encode(observationTensor(obs[0], shape, model.device), {
        deterministic: true,
      });
      for (let t = 0; t < warmup; t++) {
        st = model.update(
          st,
          tensor(acts[t], [1, A], { device: model.device }),
          observationTensor(obs[t + 1], shape, model.device),
        );
      }
      const seq = tensor(
        Float32Array.from(acts.slice(warmup).flatMap((a) => Array.from(a))),
        [H, 1, A],
        { device: model.device },
      );
      const rolled = model.rollout(st, seq, { deterministic: true });
      const res: Record<string, Tensor> = { rewards: rolled.rewards!.reshape([H]) };
      if (decodes) {
        res.obs = stack(rolled.states.slice(1).map((s) => model.decode(s).predictions.obs), 0);
      } else {
        // The state tensors both states have (e.g. TD-MPC2's "latent").
        const flat = (s: { tensors: Readonly<Record<string, Tensor>> }, keys: string[]) =>
          keys.map((k) => s.tensors[k].reshape([-1]));
        const cos: Tensor[] = [];
        for (let t = 0; t < H; t++) {
          const real = model.encode(observationTensor(obs[warmup + t + 1], shape, model.device), {
            deterministic: true,
          });
          const keys = Object.keys(real.tensors).filter((k) => k in rolled.states[t + 1].tensors);
          const a = flat(rolled.states[t + 1], keys), b = flat(real, keys);
          let dot: Tensor | null = null, na: Tensor | null = null, nb: Tensor | null = null;
          for (let i = 0; i < a.length; i++) {
            const d = a[i].mul(b[i]).sum(), x = a[i].square().sum(), y = b[i].square().sum();
            dot = dot ? dot.add(d) : d;
            na = na ? na.add(x) : x;
            nb = nb ? nb.add(y) : y;
          }
          cos.push(dot!.div(na!.sqrt().mul(nb!.sqrt()).add(1e-8)));
        }
        res.cos = stack(cos, 0);
      }
      return res;
    })
  );
  model.train(wasTraining);
  try {
    const imaginedRewards = Array.from(await out.rewards.data() as Float32Array);
    const realScale = obs[0] instanceof Uint8Array ? 1 / 255 : 1;
    const size = frameSize(shape);
    const realFrames = size
      ? obs.map((o) => observationFrame(o, shape, o instanceof Uint8Array ? 1 : 255)!)
      : [];
    let imaginedObs: number[][] | null = null;
    let imaginedFrames: Uint8Array[] | null = null;
    let obsError: number[] | null = null;
    if (out.obs) {
      const d = await out.obs.data() as Float32Array;
      const per = d.length / H;
      const rows = Array.from({ length: H }, (_, t) => d.subarray(t * per, (t + 1) * per));
      if (shape.length === 1) imaginedObs = rows.map((r) => Array.from(r));
      else {
        obsError = rows.map((r, t) => {
          const real = obs[warmup + t + 1];
          let e = 0;
          for (let i = 0; i < per; i++) e += Math.abs(r[i] - real[i] * realScale);
          return e / per;
        });
      }
      if (size) imaginedFrames = rows.map((r) => observationFrame(r, shape, 255)!);
    }
    const latentCosine = out.cos ? Array.from(await out.cos.data() as Float32Array) : null;
    return {
      warmup,
      horizon: H,
      realObs: shape.length === 1 ? obs.map((x) => Array.from(x)) : null,
      imaginedObs,
      realRewards: traj.rewards,
      imaginedRewards,
      obsError,
      latentCosine,
      realFrames,
      imaginedFrames,
      frameSize: size,
    };
  } finally {
    for (const t of Object.values(out)) t.dispose();
  }
}

/** Options of {@link imaginationSvg}. */
export interface ImaginationSvgOptions {
  /** Colour of the imagined series (default green). */
  readonly color?: string;
  /** Names of the vector observation's dimensions (default `obs[i]`). */
  readonly obsNames?: readonly string[];
}

/**
 * The imagination figure (one SVG): real vs imagined rewards, and real vs decoded dimensions
 * (vector observations), the decoded image error (images, grids) or the latent agreement (no
 * decoder).
 */
export function imaginationSvg(im: Imagination, opts: ImaginationSvgOptions = {}): string {
  const color = opts.color ?? "#2ca02c";
  const W = im.warmup;
  const band = [{ x0: 0, x1: W, label: "observed", color: "#f2f2f2" }];
  const charts: string[] = [];
  const chart = (title: string, series: Parameters<typeof lineChart>[0]["series"], y?: string) =>
    charts.push(lineChart({
      title,
      width: 400,
      height: 230,
      xLabel: "step",
      yLabel: y,
      bands: band,
      series,
    }));
  if (im.realObs && im.imaginedObs) {
    const D = im.realObs[0].length;
    for (let d = 0; d < D; d++) {
      chart(opts.obsNames?.[d] ?? `obs[${d}]`, [
        {
          name: "real",
          xs: im.realObs.map((_, t) => t),
          ys: im.realObs.map((o) => o[d]),
          color: "#222",
        },
        {
          name: "imagined (decoded)",
          xs: im.imaginedObs.map((_, t) => W + 1 + t),
          ys: im.imaginedObs.map((o) => o[d]),
          color,
          dash: true,
        },
      ]);
    }
  }
  chart("reward per step", [
    { name: "real", xs: im.realRewards.map((_, t) => t), ys: [...im.realRewards], color: "#222" },
    {
      name: "imagined",
      xs: im.imaginedRewards.map((_, t) => W + t),
      ys: im.imaginedRewards,
      color,
      dash: true,
    },
  ]);
  const perStep = (title: string, name: string, ys: readonly number[], yLabel: string) =>
    chart(title, [{
      name,
      xs: ys.map((_, t) => W + 1 + t),
      ys: [...ys],
      color,
      dots: true,
    }], yLabel);
  if (im.obsError) {
    perStep(
      "decoded vs real observation",
      "mean absolute error",
      im.obsError,
      "mean |imagined - real|",
    );
  }
  if (im.latentCosine) {
    perStep("imagined latent vs encoded real obs", "cosine", im.latentCosine, "cosine similarity");
  }
  return gridSvg(charts, Math.min(charts.length, 2), 400, 230);
}

/**
 * Real frames (top row) over decoded imagined frames (bottom row) of the same steps, every
 * `every`-th imagined step (at most `max` columns), as a PNG; null without frames.
 */
export function imaginationPng(im: Imagination, every = 2, max = 15): Uint8Array | null {
  if (!im.imaginedFrames || !im.frameSize) return null;
  const pick: number[] = [];
  for (let t = 0; t < im.horizon && pick.length < max; t += every) pick.push(t);
  const real = pick.map((t) => im.realFrames[im.warmup + 1 + t]);
  const imag = pick.map((t) => im.imaginedFrames![t]);
  const gray: [number, number, number] = [150, 150, 150]; // gaps between frames
  const { image, width, height } = tileFrames(
    [...real, ...imag],
    im.frameSize,
    pick.length,
    2,
    gray,
  );
  return encodeRgbPng(image, width, height);
}
