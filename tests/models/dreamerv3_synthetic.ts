/**
 * Synthetic sequence tasks of the DreamerV3 tests: a damped, driven pendulum observed through a
 * fixed random linear map plus noise (vector observations), or rendered as a small image (a
 * blob at the pendulum's tip), with a state-dependent reward (`cos(theta)`, upright is good).
 * Deterministic (seeded), generated on the host.
 * @module
 */

import { type Batch, tensor } from "../../mod.ts";

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
}

/** Host arrays of episodes: `obs [E, L, ...]`, `actions [E, L, A]`, `rewards [E, L]`. */
export interface Episodes {
  readonly count: number;
  readonly length: number;
  readonly obsShape: number[];
  readonly actionDim: number;
  readonly obs: Float32Array;
  readonly actions: Float32Array;
  readonly rewards: Float32Array;
  /** True pendulum states `[E, L + 1, 2]` (theta, omega). */
  readonly states: Float32Array;
}

/** Options of {@link pendulumEpisodes}. */
export interface PendulumOptions {
  /** `[D]` vector observations (default `[8]`) or `[C, H, W]` images. */
  readonly obsShape?: number[];
  /** Action size (the first component drives the pendulum; default 2). */
  readonly actionDim?: number;
  /** Observation noise std (default 0.02). */
  readonly noise?: number;
  /** Integration step (default 0.15; smaller is slower and easier to predict from pixels). */
  readonly dt?: number;
}

/**
 * `count` episodes of `length` steps. Step t: the agent sees `obs[t]` (of state s_t), takes
 * `actions[t]` (smooth random), the pendulum moves to s_{t+1} and `rewards[t] = cos(theta_{t+1})`.
 */
export function pendulumEpisodes(
  count: number,
  length: number,
  seed: number,
  opts: PendulumOptions = {},
): Episodes {
  const obsShape = opts.obsShape ?? [8];
  const A = opts.actionDim ?? 2;
  const noise = opts.noise ?? 0.02;
  const dt = opts.dt ?? 0.15;
  const r = prng(seed);
  const mr = prng(12345); // the observation map is the same for every dataset
  const D = obsShape.reduce((a, b) => a * b, 1);
  const M = Array.from({ length: obsShape.length === 1 ? D * 3 : 0 }, () => gauss(mr) * 0.7);
  const obs = new Float32Array(count * length * D);
  const actions = new Float32Array(count * length * A);
  const rewards = new Float32Array(count * length);
  const states = new Float32Array(count * (length + 1) * 2);
  for (let e = 0; e < count; e++) {
    let th = (r() * 2 - 1) * Math.PI;
    let om = (r() * 2 - 1) * 1.5;
    const a = new Array(A).fill(0).map(() => r() * 2 - 1);
    for (let t = 0; t <= length; t++) {
      states[(e * (length + 1) + t) * 2] = th;
      states[(e * (length + 1) + t) * 2 + 1] = om;
      if (t === length) break;
      const o = obs.subarray((e * length + t) * D, (e * length + t + 1) * D);
      if (obsShape.length === 1) {
        const f = [Math.cos(th), Math.sin(th), om / 2];
        for (let i = 0; i < D; i++) {
          o[i] = M[i * 3] * f[0] + M[i * 3 + 1] * f[1] + M[i * 3 + 2] * f[2] + noise * gauss(r);
        }
      } else renderPendulum(o, obsShape, th, noise, r);
      for (let i = 0; i < A; i++) {
        a[i] = Math.max(-1, Math.min(1, 0.8 * a[i] + 0.5 * gauss(r)));
        actions[(e * length + t) * A + i] = a[i];
      }
      om = 0.98 * om + dt * (-4 * Math.sin(th) + 2 * a[0]);
      th = th + dt * om;
      rewards[e * length + t] = Math.cos(th);
    }
  }
  return { count, length, obsShape, actionDim: A, obs, actions, rewards, states };
}

/** Draws a Gaussian blob at the tip of the pendulum (and a dim one at the pivot), in [0, 1]. */
function renderPendulum(
  o: Float32Array,
  shape: number[],
  th: number,
  noise: number,
  r: () => number,
): void {
  const [C, H, W] = shape;
  const cx = (W - 1) / 2, cy = (H - 1) / 2, len = 0.38 * Math.min(H, W);
  const tx = cx + len * Math.sin(th), ty = cy - len * Math.cos(th);
  const s2 = 2 * (0.09 * Math.min(H, W)) ** 2;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const tip = Math.exp(-((x - tx) ** 2 + (y - ty) ** 2) / s2);
        const piv = 0.3 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / s2);
        const v = c === 0 ? tip : c === 1 ? 0.5 * tip + piv : piv;
        o[(c * H + y) * W + x] = Math.min(1, Math.max(0, v + noise * gauss(r)));
      }
    }
  }
}

/** Windows `[B, T]` of episodes (`starts[b] = [episode, t0]`) as a batch on the cpu. */
export function windowBatch(ep: Episodes, starts: [number, number][], T: number): Batch {
  const B = starts.length;
  const D = ep.obsShape.reduce((a, b) => a * b, 1);
  const A = ep.actionDim;
  const obs = new Float32Array(B * T * D);
  const actions = new Float32Array(B * T * A);
  const rewards = new Float32Array(B * T);
  starts.forEach(([e, t0], b) => {
    const base = e * ep.length + t0;
    obs.set(ep.obs.subarray(base * D, (base + T) * D), b * T * D);
    actions.set(ep.actions.subarray(base * A, (base + T) * A), b * T * A);
    rewards.set(ep.rewards.subarray(base, base + T), b * T);
  });
  return {
    obs: tensor(obs, [B, T, ...ep.obsShape]),
    actions: tensor(actions, [B, T, A]),
    rewards: tensor(rewards, [B, T]),
    terminations: tensor(new Float32Array(B * T), [B, T]),
  };
}

/** Random windows of `T` steps. */
export function randomBatch(ep: Episodes, B: number, T: number, r: () => number): Batch {
  const starts: [number, number][] = [];
  for (let b = 0; b < B; b++) {
    starts.push([Math.floor(r() * ep.count), Math.floor(r() * (ep.length - T + 1))]);
  }
  return windowBatch(ep, starts, T);
}
