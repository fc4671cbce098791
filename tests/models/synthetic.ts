/**
 * A small synthetic sequence task for world-model tests: a point in the plane with velocity,
 * pushed by 2-D actions. Observation `[x, y, vx, vy]`; reward `-|position|^2` after the step;
 * a step that leaves the disc of radius 1.2 ends the episode (termination 1), and the next
 * observation in the sequence starts a new episode.
 * @module
 */

import { type Batch, tensor } from "../../mod.ts";

/** Mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `B` sequences of `T` steps (discrete: 4 actions, up/down/left/right, as int32 indices). */
export function pointMassBatch(
  B: number,
  T: number,
  seed: number,
  opts: { discrete?: boolean } = {},
): Batch {
  const r = rng(seed);
  const obs = new Float32Array(B * T * 4);
  const act = new Float32Array(B * T * 2);
  const idx = new Int32Array(B * T);
  const rew = new Float32Array(B * T);
  const term = new Float32Array(B * T);
  const dirs = [[1, 0], [-1, 0], [0, 1], [0, -1]];
  const start = () => [r() * 2 - 1, r() * 2 - 1, r() - 0.5, r() - 0.5];
  for (let b = 0; b < B; b++) {
    let [x, y, vx, vy] = start();
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      obs.set([x, y, vx, vy], i * 4);
      let ax: number, ay: number;
      if (opts.discrete) {
        idx[i] = Math.floor(r() * 4);
        [ax, ay] = dirs[idx[i]];
      } else [ax, ay] = [r() * 2 - 1, r() * 2 - 1];
      act.set([ax, ay], i * 2);
      vx = 0.8 * vx + 0.3 * ax;
      vy = 0.8 * vy + 0.3 * ay;
      x += 0.3 * vx;
      y += 0.3 * vy;
      rew[i] = -(x * x + y * y);
      term[i] = x * x + y * y > 1.44 ? 1 : 0;
      if (term[i]) [x, y, vx, vy] = start();
    }
  }
  return {
    obs: tensor(obs, [B, T, 4]),
    actions: opts.discrete ? tensor(idx, [B, T], { dtype: "int32" }) : tensor(act, [B, T, 2]),
    rewards: tensor(rew, [B, T]),
    terminations: tensor(term, [B, T]),
  };
}
