/**
 * The host's seeded streams are part of every run's reproducibility: the numbers a seed gives
 * are pinned here (environments, the replay buffer's sampling fold, derived stream seeds), so a
 * change to seeding or generation fails loudly instead of silently changing runs.
 */

import assert from "node:assert/strict";
import { deriveSeed, Rng, SAMPLING_SEED_FOLD } from "../src/rng.ts";
import { ReplayBuffer } from "../src/training/replay_buffer.ts";
import { ConfigError } from "../src/errors.ts";

Deno.test("rng: each seed gives its pinned numbers (both folds, derived seeds)", () => {
  const first = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());
  assert.deepEqual(first(new Rng(42), 3), [2837322924, 544945897, 479756282]);
  assert.deepEqual(first(new Rng(-(2 ** 40) - 3), 2), [1013822377, 2701944721]);
  // the folds differ only for seeds with high bits
  assert.deepEqual(first(new Rng(42, SAMPLING_SEED_FOLD), 3), [2837322924, 544945897, 479756282]);
  assert.deepEqual(first(new Rng(2 ** 40 + 5), 2), [538299823, 2287012550]);
  assert.deepEqual(first(new Rng(2 ** 40 + 5, SAMPLING_SEED_FOLD), 2), [1121981940, 3042771919]);
  assert.deepEqual(
    [deriveSeed(0, 1), deriveSeed(42, 3), deriveSeed(2 ** 40 + 5, 7)],
    [1020716019, 2244032364, 1334192570],
  );
});

Deno.test("rng: the replay buffer samples from the sampling fold and restores its state", () => {
  const buf = new ReplayBuffer({ capacity: 64, obsShape: [1], actionDim: 1, seed: 2 ** 40 + 5 });
  const T = 40;
  buf.addEpisode({
    obs: Array.from({ length: T }, (_, i) => i),
    actions: new Float32Array(T),
    rewards: new Float32Array(T),
  });
  const st = buf.getRngState();
  assert.deepEqual(st, [...new Rng(2 ** 40 + 5, SAMPLING_SEED_FOLD).getState()]);
  const a = buf.sampleArrays(3, 1).obs;
  const r = new Rng(2 ** 40 + 5, SAMPLING_SEED_FOLD);
  assert.deepEqual(Array.from(a), [r.int(T), r.int(T), r.int(T)]);
  buf.setRngState(st);
  assert.deepEqual(buf.sampleArrays(3, 1).obs, a);
  assert.throws(() => buf.setRngState([0, 0, 0, 0]), ConfigError);
  assert.throws(
    () => new ReplayBuffer({ capacity: 4, obsShape: [1], actionDim: 1, seed: NaN }),
    ConfigError,
  );
});
