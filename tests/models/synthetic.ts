/**
 * A small synthetic sequence task for world-model tests: a point in the plane with velocity,
 * pushed by 2-D actions. Observation `[x, y, vx, vy]`; reward `-|position|^2` after the step;
 * a step that leaves the disc of radius 1.2 ends the episode (termination 1), and the next
 * observation in the sequence starts a new episode.
 * @module
 */

import assert from "node:assert/strict";
import {
  type Batch,
  createTrainStep,
  createWorldModel,
  manualSeed,
  parseTrainingConfig,
  tensor,
  tidy,
  type WorldModel,
} from "../../mod.ts";
import { keep } from "../../tensor.ts";

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

/** The loss and every metric of `model` on `batch`, read back. */
export async function heldOutMetrics(
  model: WorldModel,
  batch: Batch,
): Promise<Record<string, number>> {
  const out = tidy(() => model.loss(batch));
  const r: Record<string, number> = { loss: await out.loss.item() };
  for (const [k, t] of Object.entries(out.metrics)) r[k] = await t.item();
  return r;
}

/** What {@link trainPointMass} returns. */
export interface PointMassRun {
  /** The trained model (the caller disposes it). */
  readonly model: WorldModel;
  /** Held-out loss and metrics before training. */
  readonly before: Record<string, number>;
  /** Held-out loss and metrics after training. */
  readonly after: Record<string, number>;
  /** Training losses at steps 0, 50, 100, ... and the last. */
  readonly losses: number[];
  /** The held-out batch (64 sequences x 8 steps). */
  readonly heldOut: Batch;
  /** The training step's description. */
  readonly description: string;
}

/**
 * Trains a `obsShape [4], actionDim 2` model of `preset` with its family's registered step
 * (`createTrainStep`, compiled: asserted) on 16 fixed point-mass batches of `batchSize x 8`, and
 * evaluates it on a held-out batch before and after.
 */
export async function trainPointMass(
  preset: string,
  opts: { seed: number; steps: number; batchSize: number; learningRate: number },
): Promise<PointMassRun> {
  const { seed, steps, batchSize, learningRate } = opts;
  const model = await createWorldModel(preset, { obsShape: [4], actionDim: 2, seed });
  const data = Array.from({ length: 16 }, (_, i) => pointMassBatch(batchSize, 8, 100 + i));
  for (const b of data) for (const t of Object.values(b)) keep(t);
  const heldOut = pointMassBatch(64, 8, 999);
  const before = await heldOutMetrics(model, heldOut);
  const step = createTrainStep(
    model,
    parseTrainingConfig({ learningRate, batchSize, sequenceLength: 8, seed }),
  );
  manualSeed(seed);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const out = step.step(data[i % data.length]);
    if (i % 50 === 0 || i === steps - 1) losses.push(await out.loss.item());
    for (const t of Object.values(out)) t.dispose();
  }
  assert.ok(step.compiled, `the update traces with compile(): ${step.fallbackReason}`);
  const description = step.description;
  step.dispose();
  const after = await heldOutMetrics(model, heldOut);
  return { model, before, after, losses, heldOut, description };
}
