/**
 * ReplayBuffer: sequences never cross episode boundaries (random episode lengths, ring
 * overwrite, online addStep, every sample checked row by row against a ground-truth list of
 * the transitions added), uniform starts, padding, sampling determinism, batches as tensors, and
 * .npz save/load (round trips compressed and stored, NumPy reading our files and ours reading
 * NumPy's, inconsistent files naming the key).
 */

import assert from "node:assert/strict";
import { createWorldModel, type Tensor, tidy } from "../../mod.ts";
import { ConfigError, FormatError, SizeLimitError, WorldFluxError } from "../../src/errors.ts";
import { ContractError } from "../../src/core/errors.ts";
import { setAllocationLimit } from "../../src/io/limits.ts";
import { encodeNpz, loadNpz, type NpyArray, type NpyInput, saveNpz } from "../../src/io/npz.ts";
import { ReplayBuffer } from "../../src/training/replay_buffer.ts";
import type { ReplaySample } from "../../src/training/replay_types.ts";
import { findPythonWithNumpy, formatErrorOf } from "../grad_util.ts";
import { Rng, webgpu } from "../util.ts";

const GPU = await webgpu();
const DEVICES = GPU ? ["cpu", "webgpu"] as const : ["cpu"] as const;
const PY = await findPythonWithNumpy();
if (!PY.python) console.warn(`[tests] replay_buffer: NumPy tests skipped: ${PY.reason}`);
const HELPER = new URL("../io/npz_helper.py", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Ground truth: every row ever added, in order. Observations encode (episode, step, noise),
// actions (episode + 0.5, step), rewards episode * 1000 + step, so any sampled row identifies
// itself.
// ---------------------------------------------------------------------------------------------

interface Row {
  ep: number;
  step: number;
  terminal: boolean;
}

class World {
  rows: Row[] = [];
  nextEp = 0;
  openEp = -1;
  openStep = 0;
  constructor(readonly buf: ReplayBuffer, readonly rng: Rng) {}

  obs(ep: number, step: number): number[] {
    return [ep, step, this.rng.next() * 2 - 1];
  }

  /** One episode through addEpisode (ending terminal, truncated, or just ending). */
  episode(len: number, end: "terminal" | "truncated" | "none", extraObsRow = false): void {
    if (this.openEp >= 0) this.openEp = -1; // addEpisode closes it
    const ep = this.nextEp++;
    const obs: number[][] = [], actions: number[][] = [], rewards: number[] = [];
    const dones: boolean[] = [], truncated: boolean[] = [];
    for (let t = 0; t < len; t++) {
      obs.push(this.obs(ep, t));
      actions.push([ep + 0.5, t]);
      rewards.push(ep * 1000 + t);
      dones.push(end === "terminal" && t === len - 1);
      truncated.push(end === "truncated" && t === len - 1);
      this.rows.push({ ep, step: t, terminal: end === "terminal" && t === len - 1 });
    }
    if (extraObsRow) obs.push(this.obs(ep, len));
    this.buf.addEpisode({ obs, actions, rewards, dones, truncated });
  }

  /** Two episodes concatenated in one addEpisode call, split by a terminal flag. */
  pair(a: number, b: number): void {
    this.openEp = -1;
    const e1 = this.nextEp++, e2 = this.nextEp++;
    const obs = new Float32Array((a + b) * 3), actions = new Float32Array((a + b) * 2);
    const rewards = new Float32Array(a + b), dones = new Uint8Array(a + b);
    for (let t = 0; t < a + b; t++) {
      const [ep, s] = t < a ? [e1, t] : [e2, t - a];
      obs.set(this.obs(ep, s), t * 3);
      actions.set([ep + 0.5, s], t * 2);
      rewards[t] = ep * 1000 + s;
      dones[t] = t === a - 1 ? 1 : 0;
      this.rows.push({ ep, step: s, terminal: t === a - 1 });
    }
    this.buf.addEpisode({ obs, actions, rewards, dones });
  }

  /** Online steps; `done` on the last one ends the episode (else it stays open). */
  steps(n: number, done: boolean): void {
    if (this.openEp < 0) {
      this.openEp = this.nextEp++;
      this.openStep = 0;
    }
    for (let k = 0; k < n; k++) {
      const ep = this.openEp, s = this.openStep++;
      const term = done && k === n - 1;
      this.buf.addStep(this.obs(ep, s), [ep + 0.5, s], ep * 1000 + s, term);
      this.rows.push({ ep, step: s, terminal: term });
    }
    if (done) this.openEp = -1;
  }

  stored(): Row[] {
    return this.rows.slice(this.rows.length - this.buf.size);
  }

  /** Valid starts (logical) for sequences of T steps, and each one's length with padding. */
  validStarts(T: number, pad: boolean): Map<number, number> {
    const rows = this.stored();
    const out = new Map<number, number>();
    let i = 0;
    while (i < rows.length) {
      let j = i;
      while (j < rows.length && rows[j].ep === rows[i].ep) j++;
      const L = j - i;
      if (L >= T) { for (let s = i; s + T <= j; s++) out.set(s, T); }
      else if (pad) out.set(i, L);
      i = j;
    }
    return out;
  }
}

/** Checks every sequence of a sample against the ground truth. */
function checkSample(w: World, s: ReplaySample, pad: boolean): void {
  const B = s.batchSize, T = s.seqLen;
  const rows = w.stored();
  const valid = w.validStarts(T, pad);
  for (let b = 0; b < B; b++) {
    const start = s.starts[b];
    const L = valid.get(start) ?? -1;
    assert.ok(L > 0, `sequence ${b} starts at ${start}, not a valid start for T=${T}`);
    const first = rows[start];
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      const real: boolean = t < L;
      if (s.mask) assert.equal(s.mask[i], real ? 1 : 0, `mask[${b},${t}]`);
      else assert.ok(real);
      const ep = s.obs[i * 3], step = s.obs[i * 3 + 1];
      if (!real) {
        assert.deepEqual([ep, step, s.obs[i * 3 + 2], s.rewards[i], s.terminations[i]], [
          0,
          0,
          0,
          0,
          0,
        ]);
        continue;
      }
      const r = rows[start + t];
      // Same episode, consecutive steps, and the row the start says.
      assert.equal(ep, first.ep, `sequence ${b} crosses an episode boundary at t=${t}`);
      assert.equal(step, first.step + t, `sequence ${b} is not consecutive at t=${t}`);
      assert.deepEqual([ep, step], [r.ep, r.step]);
      assert.deepEqual([s.actions[i * 2], s.actions[i * 2 + 1]], [ep + 0.5, step]);
      assert.equal(s.rewards[i], ep * 1000 + step);
      assert.equal(s.terminations[i], r.terminal ? 1 : 0, `terminations[${b},${t}]`);
      assert.equal(s.isFirst[i], t === 0 && r.step === 0 ? 1 : 0, `isFirst[${b},${t}]`);
    }
  }
}

function newWorld(capacity: number, seed = 0): World {
  return new World(
    new ReplayBuffer({ capacity, obsShape: [3], actionDim: 2, seed }),
    new Rng(seed + 1),
  );
}

/** Fills with a random mix of every way of adding data. */
function fillRandom(w: World, episodes: number, maxLen: number): void {
  for (let e = 0; e < episodes; e++) {
    const len = w.rng.int(1, maxLen);
    const kind = w.rng.int(0, 5);
    if (kind === 0) w.episode(len, "terminal");
    else if (kind === 1) w.episode(len, "truncated", true);
    else if (kind === 2) w.episode(len, "none");
    else if (kind === 3) w.pair(len, w.rng.int(1, maxLen));
    else if (kind === 4) w.steps(len, true);
    else w.steps(len, false); // left open: closed by the next addEpisode, continued by addStep
  }
}

// ---------------------------------------------------------------------------------------------
// Episode boundaries
// ---------------------------------------------------------------------------------------------

Deno.test("replay: sequences never cross episode boundaries (random lengths, ring overwrite)", () => {
  for (const seed of [0, 1, 2]) {
    const w = newWorld(300, seed);
    for (let round = 0; round < 25; round++) {
      fillRandom(w, 6, 30);
      assert.equal(w.buf.size, Math.min(300, w.rows.length));
      assert.equal(w.buf.numEpisodes, new Set(w.stored().map((r) => r.ep)).size);
      for (const T of [1, 2, 3, 7, 16, 30, 45]) {
        for (const pad of [false, true]) {
          const any = w.validStarts(T, pad).size > 0;
          if (!any) {
            assert.throws(
              () => w.buf.sampleArrays(8, T, { pad }),
              (e: unknown) => e instanceof WorldFluxError && e.code === "replay_insufficient",
            );
            continue;
          }
          checkSample(w, w.buf.sampleArrays(64, T, { pad }), pad);
        }
      }
    }
    assert.ok(w.rows.length > 1000, "the ring wrapped several times");
  }
});

Deno.test("replay: starts are uniform over valid starts (rejection and exact paths)", () => {
  const check = (w: World, T: number, pad: boolean, draws: number) => {
    const valid = w.validStarts(T, pad);
    const counts = new Map<number, number>();
    for (let k = 0; k < draws / 1000; k++) {
      const s = w.buf.sampleArrays(1000, T, { pad });
      for (const st of s.starts) counts.set(st, (counts.get(st) ?? 0) + 1);
    }
    for (const st of counts.keys()) assert.ok(valid.has(st), `invalid start ${st}`);
    assert.equal(counts.size, valid.size, "every valid start is drawn");
    const mean = draws / valid.size;
    let chi2 = 0;
    for (const st of valid.keys()) chi2 += ((counts.get(st) ?? 0) - mean) ** 2 / mean;
    const dof = valid.size - 1;
    assert.ok(Math.abs(chi2 - dof) < 6 * Math.sqrt(2 * dof), `chi2 ${chi2.toFixed(1)}, dof ${dof}`);
  };
  // Mostly long episodes: the rejection path.
  const a = newWorld(400, 5);
  fillRandom(a, 40, 25);
  check(a, 5, false, 200_000);
  check(a, 12, true, 200_000);
  // One 10-step episode among 600 one-step ones: rejection almost always fails; exact path.
  const b = newWorld(1000, 6);
  for (let e = 0; e < 300; e++) b.episode(1, "terminal");
  b.episode(12, "terminal");
  for (let e = 0; e < 300; e++) b.episode(1, "truncated");
  check(b, 10, false, 30_000);
  checkSample(b, b.buf.sampleArrays(256, 10), false);
  checkSample(b, b.buf.sampleArrays(256, 10, { pad: true }), true);
});

Deno.test("replay: crossEpisodes gives stream windows; isFirst marks every episode start; terminal steps are covered as often as others", () => {
  for (const seed of [0, 1]) {
    const w = newWorld(300, seed);
    for (let round = 0; round < 12; round++) {
      fillRandom(w, 6, 30);
      const rows = w.stored();
      for (const T of [1, 5, 40]) {
        if (rows.length < T) {
          assert.throws(
            () => w.buf.sampleArrays(4, T, { crossEpisodes: true }),
            (e: unknown) => e instanceof WorldFluxError && e.code === "replay_insufficient",
          );
          continue;
        }
        const s = w.buf.sampleArrays(64, T, { crossEpisodes: true, pad: true });
        assert.equal(s.mask, null, "no padding across episodes");
        for (let b = 0; b < 64; b++) {
          const start = s.starts[b];
          assert.ok(start >= 0 && start + T <= rows.length, `start ${start}`);
          for (let t = 0; t < T; t++) {
            const i = b * T + t, r = rows[start + t];
            assert.deepEqual([s.obs[i * 3], s.obs[i * 3 + 1]], [r.ep, r.step], `row ${b},${t}`);
            assert.equal(s.rewards[i], r.ep * 1000 + r.step);
            assert.equal(s.terminations[i], r.terminal ? 1 : 0);
            assert.equal(s.isFirst[i], r.step === 0 ? 1 : 0, `isFirst[${b},${t}]`);
          }
        }
      }
    }
  }
  // Episodes of 10 steps ending terminal, T = 8: every start in [0, size - 8] is equally likely,
  // so a terminal step far from the ends is in 8 windows like every other step (within episodes
  // it would be in 1: the windows that end on it).
  const w = newWorld(400, 3);
  for (let e = 0; e < 40; e++) w.episode(10, "terminal");
  const T = 8, draws = 100_000;
  const cover = new Float64Array(400);
  const starts = new Map<number, number>();
  for (let k = 0; k < draws / 1000; k++) {
    const s = w.buf.sampleArrays(1000, T, { crossEpisodes: true, seed: k });
    for (const st of s.starts) {
      starts.set(st, (starts.get(st) ?? 0) + 1);
      for (let t = 0; t < T; t++) cover[st + t]++;
    }
  }
  assert.equal(starts.size, 400 - T + 1, "every window is drawn");
  const mean = draws / (400 - T + 1);
  let chi2 = 0;
  for (const c of starts.values()) chi2 += (c - mean) ** 2 / mean;
  const dof = 400 - T;
  assert.ok(Math.abs(chi2 - dof) < 6 * Math.sqrt(2 * dof), `chi2 ${chi2.toFixed(1)}, dof ${dof}`);
  const terminalCover = cover[199] / (T * mean), firstCover = cover[200] / (T * mean);
  assert.ok(Math.abs(terminalCover - 1) < 0.1, `terminal step coverage ${terminalCover}`);
  assert.ok(Math.abs(firstCover - 1) < 0.1, `first step coverage ${firstCover}`);
});

Deno.test("replay: ring overwrite keeps the newest rows, in order, with episode steps", () => {
  const buf = new ReplayBuffer({ capacity: 10, obsShape: [1], actionDim: 1 });
  for (let e = 0; e < 4; e++) {
    buf.addEpisode({
      obs: [0, 1, 2, 3].map((t) => [e * 10 + t]),
      actions: [0, 0, 0, 0],
      rewards: [0, 0, 0, 0],
      dones: [false, false, false, e !== 3],
    });
  }
  assert.equal(buf.size, 10);
  assert.equal(buf.totalSteps, 16);
  assert.equal(buf.numEpisodes, 3); // episode 1 (2 rows left), 2, 3
  const arr = buf.toArrays();
  assert.deepEqual(Array.from((arr.obs.data as Float32Array[]).flatMap((c) => Array.from(c))), [
    12,
    13,
    20,
    21,
    22,
    23,
    30,
    31,
    32,
    33,
  ]);
  assert.deepEqual(Array.from(arr.first_step.data as number[]), [2]);
  assert.deepEqual(Array.from(arr.dones.data as Uint8Array), [0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(arr.terminations.data as Uint8Array), [0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
  // The partial episode's sequences are valid, but its first row is not an episode start.
  const s = buf.sampleArrays(200, 2, { seed: 1 });
  for (let b = 0; b < 200; b++) {
    const o0 = s.obs[b * 2];
    assert.equal(s.obs[b * 2 + 1], o0 + 1);
    assert.equal(s.isFirst[b * 2], o0 % 10 === 0 ? 1 : 0);
  }
  // An episode longer than the capacity keeps its last rows.
  const small = new ReplayBuffer({ capacity: 5, obsShape: [1], actionDim: 1 });
  small.addEpisode({
    obs: Array.from({ length: 12 }, (_, t) => t),
    actions: new Float32Array(12),
    rewards: new Float32Array(12),
    dones: Array.from({ length: 12 }, (_, t) => t === 11),
  });
  assert.equal(small.size, 5);
  assert.equal(small.numEpisodes, 1);
  const sa = small.toArrays();
  assert.deepEqual(Array.from(toNpy(sa.obs).data as Float32Array), [7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(sa.first_step.data as number[]), [7]);
  const one = small.sampleArrays(10, 5);
  assert.ok(Array.from(one.starts).every((x) => x === 0));
  assert.ok(Array.from(one.isFirst).every((x) => x === 0));
});

Deno.test("replay: addStep episodes, in progress, closed by addEpisode; T+1 observations", () => {
  const w = newWorld(100);
  w.steps(5, false);
  assert.ok(w.buf.episodeInProgress);
  checkSample(w, w.buf.sampleArrays(16, 5), false); // the in-progress episode is sampled
  w.steps(3, false); // continues the same episode
  assert.equal(w.buf.numEpisodes, 1);
  checkSample(w, w.buf.sampleArrays(16, 8), false);
  w.episode(4, "terminal", true); // closes the open episode (as truncated); T + 1 obs rows
  assert.ok(!w.buf.episodeInProgress);
  assert.equal(w.buf.numEpisodes, 2);
  assert.equal(w.buf.size, 12);
  const arr = w.buf.toArrays();
  assert.equal((arr.dones.data as Uint8Array)[7], 1, "the open episode was closed");
  assert.equal((arr.terminations.data as Uint8Array)[7], 0, "... not as terminal");
  w.steps(2, true);
  assert.equal(w.buf.numEpisodes, 3);
  checkSample(w, w.buf.sampleArrays(64, 2), false);
  assert.throws(() => w.buf.sampleArrays(4, 9), WorldFluxError);
  checkSample(w, w.buf.sampleArrays(64, 9, { pad: true }), true);
});

Deno.test("replay: addEpisode takes the reference's layout and rollout()'s layout", () => {
  const T = 20;
  const f = (ts: number[]) => Float32Array.from({ length: T }, (_, t) => ts.includes(t) ? 1 : 0);
  const base = {
    obs: Float32Array.from({ length: T * 2 }, (_, i) => i),
    actions: Float32Array.from({ length: T * 2 }, (_, i) => i % 2), // one-hot of action 1
    rewards: new Float32Array(T).fill(1),
  };
  const flagsOf = (buf: ReplayBuffer) => {
    const a = buf.toArrays();
    const on = (x: Uint8Array) => [...x.keys()].filter((i) => x[i]);
    return { dones: on(a.dones.data as Uint8Array), terms: on(a.terminations.data as Uint8Array) };
  };
  const mk = () => new ReplayBuffer({ capacity: 50, obsShape: [2], actionDim: 2 });
  // rollout() from src/envs: dones = terminated | truncated, plus firsts and extra fields.
  const r = mk();
  r.addEpisode(
    {
      ...base,
      steps: T,
      dones: f([5, 12]),
      terminated: f([5]),
      truncated: f([12]),
      firsts: f([0, 6, 13]),
      finalObs: new Float32Array(2),
      episodeReturns: [6, 7],
    } as Parameters<ReplayBuffer["addEpisode"]>[0],
  );
  assert.deepEqual(flagsOf(r), { dones: [5, 12, 19], terms: [5] });
  assert.equal(r.numEpisodes, 3);
  // The reference's bare dones are terminal.
  const d = mk();
  d.addEpisode({ ...base, dones: f([5, 12]) });
  assert.deepEqual(flagsOf(d), { dones: [5, 12, 19], terms: [5, 12] });
  // dones + truncated without terminated.
  const t = mk();
  t.addEpisode({ ...base, dones: f([5, 12]), truncated: f([12]) });
  assert.deepEqual(flagsOf(t), { dones: [5, 12, 19], terms: [5] });
  // firsts alone split episodes (not terminal).
  const fi = mk();
  fi.addEpisode({ ...base, firsts: f([0, 6]) });
  assert.deepEqual(flagsOf(fi), { dones: [5, 19], terms: [] });
  assert.equal(fi.numEpisodes, 2);
  assert.throws(() => mk().addEpisode({ ...base, firsts: f([0]).subarray(1) }), /firsts has 19/);
});

Deno.test("replay: input validation", () => {
  const buf = new ReplayBuffer({ capacity: 10, obsShape: [2], actionDim: 3 });
  assert.throws(() => buf.addEpisode({ obs: [1, 2, 3], actions: [0], rewards: [0] }), /obs has 3/);
  assert.throws(
    () => buf.addEpisode({ obs: [[1, 2]], actions: [[1, 2]], rewards: [0] }),
    /actions has 2 values/,
  );
  assert.throws(
    () => buf.addEpisode({ obs: [[1, 2]], actions: [5], rewards: [0] }),
    (e) => e instanceof ContractError && /an action index in \[0, 3\).*got index 5/.test(e.message),
  );
  assert.throws(
    () => buf.addEpisode({ obs: [[1, 2]], actions: [[1, 2, 3]], rewards: [0], dones: [1, 0] }),
    /dones has 2/,
  );
  assert.throws(() => buf.addStep([1], [0, 0, 0], 0), /obs has 1/);
  assert.throws(() => new ReplayBuffer({ capacity: 0, obsShape: [2], actionDim: 1 }), ConfigError);
  assert.throws(() => new ReplayBuffer({ capacity: 5, obsShape: [], actionDim: 1 }), ConfigError);
  assert.throws(
    () => new ReplayBuffer({ capacity: 5, obsShape: [2], actionDim: 1.5 }),
    ConfigError,
  );
  assert.equal(buf.size, 0, "failed adds change nothing");
  // A discrete index is stored one-hot.
  buf.addStep([1, 2], 2, 0.5, true);
  assert.deepEqual(Array.from(buf.sampleArrays(1, 1).actions), [0, 0, 1]);
  const px = new ReplayBuffer({ capacity: 4, obsShape: [2], actionDim: 1, obsDtype: "uint8" });
  assert.throws(() => px.addStep([0.5, 1], [0], 0), ContractError);
  assert.throws(() => px.addStep([256, 1], [0], 0), /0\.\.255/);
  px.addStep(Uint8Array.from([255, 1]), [0], 0);
  px.addStep([3, 4], [0], 0, true);
  assert.deepEqual(Array.from(px.sampleArrays(1, 2).obs), [255, 1, 3, 4]);
  assert.throws(() => px.sampleArrays(0, 1), ConfigError);
});

// ---------------------------------------------------------------------------------------------
// Determinism and batches
// ---------------------------------------------------------------------------------------------

Deno.test("replay: sampling is deterministic with a seed", () => {
  const mk = () => {
    const w = newWorld(200, 3);
    fillRandom(w, 30, 20);
    return w.buf;
  };
  const a = mk(), b = mk();
  // Same data, same buffer seed: the same stream.
  for (let k = 0; k < 5; k++) {
    assert.deepEqual(a.sampleArrays(32, 4), b.sampleArrays(32, 4));
  }
  // A per-call seed gives the same batch and leaves the stream alone.
  const s1 = a.sampleArrays(32, 4, { seed: 42 });
  const before = a.getRngState();
  const s2 = a.sampleArrays(32, 4, { seed: 42 });
  assert.deepEqual(s1, s2);
  assert.deepEqual(a.getRngState(), before);
  assert.notDeepEqual(a.sampleArrays(32, 4, { seed: 43 }).starts, s1.starts);
  // The stream can be saved and restored.
  const st = a.getRngState();
  const x = a.sampleArrays(16, 3, { pad: true });
  a.setRngState(st);
  assert.deepEqual(a.sampleArrays(16, 3, { pad: true }), x);
  // The buffer seed sets the stream: seed 3 replays a fresh mk() buffer, seed 9 differs.
  const arrays = Object.fromEntries(Object.entries(a.toArrays()).map(([k, v]) => [k, toNpy(v)]));
  const first = mk().sampleArrays(32, 4);
  assert.deepEqual(ReplayBuffer.fromArrays(arrays, { seed: 3 }).sampleArrays(32, 4), first);
  assert.notDeepEqual(ReplayBuffer.fromArrays(arrays, { seed: 9 }).sampleArrays(32, 4), first);
});

/** An NpyInput from toArrays() as the NpyArray a file would give (chunks joined). */
function toNpy(v: NpyInput): NpyArray {
  const chunks = Array.isArray(v.data) && v.data.length && typeof v.data[0] === "object"
    ? v.data as ArrayLike<number>[]
    : [v.data as ArrayLike<number>];
  const flat = chunks.flatMap((c) => Array.from(c));
  const dtype = v.dtype!;
  const data = dtype === "int64"
    ? BigInt64Array.from(flat.map((x) => BigInt(x)))
    : dtype === "float32"
    ? Float32Array.from(flat)
    : Uint8Array.from(flat);
  return { dtype, shape: [...v.shape!], data } as NpyArray;
}

for (const device of DEVICES) {
  Deno.test(`replay: sample() gives a Batch of tensors (${device})`, async () => {
    const w = newWorld(100);
    fillRandom(w, 12, 15);
    const host = w.buf.sampleArrays(6, 4, { seed: 7 });
    const batch = w.buf.sample(6, 4, { seed: 7, device });
    const obs = batch.obs as Tensor;
    assert.deepEqual(obs.shape, [6, 4, 3]);
    assert.equal(obs.dtype, "float32");
    assert.equal(obs.device, device);
    assert.deepEqual(batch.actions!.shape, [6, 4, 2]);
    assert.deepEqual(batch.rewards!.shape, [6, 4]);
    assert.deepEqual(batch.terminations!.shape, [6, 4]);
    const isFirst = batch.extras!.isFirst as Tensor;
    assert.deepEqual(isFirst.shape, [6, 4]);
    assert.equal(batch.mask, undefined);
    assert.deepEqual(batch.layouts, {
      obs: "BT...",
      actions: "BT...",
      rewards: "BT",
      terminations: "BT",
      isFirst: "BT",
    });
    assert.deepEqual(Array.from(await obs.data()), Array.from(host.obs));
    assert.deepEqual(Array.from(await batch.actions!.data()), Array.from(host.actions));
    assert.deepEqual(Array.from(await batch.rewards!.data()), Array.from(host.rewards));
    assert.deepEqual(Array.from(await batch.terminations!.data()), Array.from(host.terminations));
    assert.deepEqual(Array.from(await isFirst.data()), Array.from(host.isFirst));
    const padded = w.buf.sample(6, 20, { seed: 7, device, pad: true });
    assert.deepEqual(padded.mask!.shape, [6, 20]);
    assert.equal(padded.layouts!.mask, "BT...");
    for (const b of [batch, padded]) {
      for (const t of [b.obs, b.actions, b.rewards, b.terminations, b.mask, b.extras?.isFirst]) {
        (t as Tensor | undefined)?.dispose();
      }
    }
  });

  Deno.test(`replay: uint8 pixels stay uint8; batches as float [0, 1] or raw (${device})`, async () => {
    const buf = new ReplayBuffer({
      capacity: 50,
      obsShape: [3, 4, 4],
      actionDim: 2,
      obsDtype: "uint8",
      actionDtype: "int32",
    });
    const T = 10;
    const obs = Uint8Array.from({ length: T * 48 }, (_, i) => (i * 37) & 255);
    buf.addEpisode({ obs, actions: [0, 1, 1, 0, 1, 0, 0, 1, 1, 1], rewards: new Float32Array(T) });
    assert.equal(buf.bytesPerTransition, 48 + 4 + 4 + 1 + 4);
    const host = buf.sampleArrays(3, 5, { seed: 1 });
    assert.ok(host.obs instanceof Uint8Array);
    const f = buf.sample(3, 5, { seed: 1, device });
    const fo = f.obs as Tensor;
    assert.equal(fo.dtype, "float32");
    const fv = await fo.data();
    host.obs.forEach((v, i) => assert.equal(fv[i], Math.fround(v / 255)));
    const r = buf.sample(3, 5, { seed: 1, device, rawPixels: true });
    assert.equal((r.obs as Tensor).dtype, "int32");
    assert.deepEqual(Array.from(await (r.obs as Tensor).data()), Array.from(host.obs));
    assert.equal(r.actions!.dtype, "int32");
    assert.deepEqual(r.actions!.shape, [3, 5]);
    assert.deepEqual(Array.from(await r.actions!.data()), Array.from(host.actions));
  });
}

Deno.test("replay: sampled batches pass the mlp model's strict contract and loss", async () => {
  const buf = new ReplayBuffer({ capacity: 500, obsShape: [4], actionDim: 2, seed: 1 });
  const rng = new Rng(3);
  for (let e = 0; e < 20; e++) {
    const T = rng.int(3, 22);
    buf.addEpisode({
      obs: Float32Array.from({ length: T * 4 }, () => rng.next() * 2 - 1),
      actions: Float32Array.from({ length: T * 2 }, () => rng.next() * 2 - 1),
      rewards: Float32Array.from({ length: T }, () => rng.next()),
      dones: Array.from({ length: T }, (_, t) => t === T - 1),
    });
  }
  const model = await createWorldModel("mlp:ci", { obsShape: [4], actionDim: 2, device: "cpu" });
  for (const pad of [false, true]) {
    const batch = buf.sample(8, 10, { device: "cpu", pad });
    const loss = tidy(() => model.loss(batch).loss);
    assert.ok(Number.isFinite(await loss.item()), `loss with pad=${pad}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("replay: save/load round trip (compressed and stored), continuing after load", async () => {
  await withDir(async (dir) => {
    for (const compressed of [false, true]) {
      const w = newWorld(150, 11);
      fillRandom(w, 30, 20);
      w.steps(4, false); // an episode in progress
      assert.ok(w.rows.length > 150, "wrapped");
      const path = `${dir}/buf-${compressed}.npz`;
      await w.buf.save(path, { compressed });
      const files = await loadNpz(path);
      for (
        const k of ["obs", "actions", "rewards", "dones", "obs_shape", "action_dim", "capacity"]
      ) {
        assert.ok(k in files, `reference key ${k}`);
      }
      assert.equal(files.obs.dtype, "float32");
      assert.equal(files.dones.dtype, "bool");
      assert.equal(files.obs_shape.dtype, "int64");
      assert.deepEqual(files.action_dim.shape, []);
      assert.deepEqual(files.capacity.shape, []);
      const back = await ReplayBuffer.load(path, { seed: 0 });
      assert.equal(back.size, w.buf.size);
      assert.equal(back.numEpisodes, w.buf.numEpisodes);
      assert.equal(back.capacity, 150);
      assert.ok(back.episodeInProgress);
      const ta = w.buf.toArrays(), tb = back.toArrays();
      for (const k of Object.keys(ta)) assert.deepEqual(toNpy(tb[k]), toNpy(ta[k]), k);
      // Same content, same logical order, same seed: the same samples.
      const fresh = new World(back, new Rng(0));
      fresh.rows = w.stored();
      for (const T of [1, 5, 12]) {
        const x = back.sampleArrays(64, T, { seed: T, pad: true });
        assert.deepEqual(x, w.buf.sampleArrays(64, T, { seed: T, pad: true }));
        checkSample(fresh, x, true);
      }
      // Both continue the open episode the same way.
      w.buf.addStep([1, 2, 3], [0, 0], 0, true);
      back.addStep([1, 2, 3], [0, 0], 0, true);
      assert.equal(back.numEpisodes, w.buf.numEpisodes);
      assert.deepEqual(
        back.sampleArrays(64, 6, { seed: 5 }),
        w.buf.sampleArrays(64, 6, { seed: 5 }),
      );
    }
    // uint8 pixels and int32 actions round trip in their own dtypes.
    const px = new ReplayBuffer({
      capacity: 8,
      obsShape: [2, 2],
      actionDim: 4,
      obsDtype: "uint8",
      actionDtype: "int32",
    });
    for (let t = 0; t < 11; t++) {
      px.addStep(Uint8Array.from([t, t + 1, 250, 255]), t % 4, t, t % 5 === 4);
    }
    await px.save(`${dir}/px.npz`, { compressed: true });
    const f = await loadNpz(`${dir}/px.npz`);
    assert.equal(f.obs.dtype, "uint8");
    assert.equal(f.actions.dtype, "int64");
    const pb = await ReplayBuffer.load(`${dir}/px.npz`, { capacity: 20 });
    assert.equal(pb.obsDtype, "uint8");
    assert.equal(pb.actionDtype, "int32");
    assert.equal(pb.capacity, 20);
    assert.deepEqual(pb.sampleArrays(10, 2, { seed: 1 }), px.sampleArrays(10, 2, { seed: 1 }));
    // An empty buffer round trips too.
    const empty = new ReplayBuffer({ capacity: 3, obsShape: [5], actionDim: 2 });
    await empty.save(`${dir}/empty.npz`);
    const eb = await ReplayBuffer.load(`${dir}/empty.npz`);
    assert.equal(eb.size, 0);
    assert.deepEqual(eb.obsShape, [5]);
  });
});

Deno.test("replay: inconsistent files give a FormatError naming the key", async () => {
  await withDir(async (dir) => {
    const buf = new ReplayBuffer({ capacity: 20, obsShape: [3], actionDim: 2 });
    for (let t = 0; t < 12; t++) buf.addStep([t, 0, 0], [0, 1], 1, t % 4 === 3);
    const good = buf.toArrays();
    const cases: [string, Record<string, NpyInput | undefined>, RegExp][] = [
      ["missing obs", { obs: undefined }, /missing array "obs"/],
      ["missing capacity", { capacity: undefined }, /missing array "capacity"/],
      [
        "obs vs obs_shape",
        { obs_shape: { dtype: "int64", data: [4] } },
        /"obs": has shape \[12, 3\]/,
      ],
      [
        "obs_shape float",
        { obs_shape: { dtype: "float32", data: [3] } },
        /"obs_shape": must be a 1-d integer/,
      ],
      [
        "obs_shape zero",
        { obs_shape: { dtype: "int64", data: [0] } },
        /"obs_shape": must hold positive/,
      ],
      [
        "action_dim vs actions",
        { action_dim: { dtype: "int64", shape: [], data: [3] } },
        /"actions": has shape \[12, 2\]/,
      ],
      [
        "action_dim not scalar",
        { action_dim: { dtype: "int64", data: [2, 2] } },
        /"action_dim": must be a scalar/,
      ],
      [
        "action_dim float",
        { action_dim: { dtype: "float64", shape: [], data: [2] } },
        /"action_dim": must be an integer/,
      ],
      [
        "rewards length",
        { rewards: { dtype: "float32", data: new Float32Array(11) } },
        /"rewards": has shape \[11\]/,
      ],
      [
        "rewards 2-d",
        { rewards: { dtype: "float32", shape: [12, 1], data: new Float32Array(12) } },
        /"rewards"/,
      ],
      [
        "dones length",
        { dones: { dtype: "bool", data: new Uint8Array(13) } },
        /"dones": has shape \[13\]/,
      ],
      [
        "capacity too small",
        { capacity: { dtype: "int64", shape: [], data: [5] } },
        /"capacity": is 5 but the file holds 12/,
      ],
      [
        "capacity zero",
        { capacity: { dtype: "int64", shape: [], data: [0] } },
        /"capacity": must be >= 1/,
      ],
      [
        "terminal without done",
        { dones: { dtype: "bool", data: new Uint8Array(12) } },
        /"terminations": step 3/,
      ],
      [
        "obs bool",
        { obs: { dtype: "bool", shape: [12, 3], data: new Uint8Array(36) } },
        /"obs": must be float or uint8/,
      ],
      [
        "discrete index out of range",
        { actions: { dtype: "int64", data: Array(12).fill(2) } },
        /"actions": index 2/,
      ],
      ["action_dim huge int64", {
        action_dim: { dtype: "int64", shape: [], data: BigInt64Array.from([2n ** 62n]) },
      }, /beyond 2\^53/],
    ];
    for (const [what, patch, re] of cases) {
      const arrays: Record<string, NpyInput> = {};
      for (const [k, v] of Object.entries({ ...good, ...patch })) if (v) arrays[k] = v;
      const path = `${dir}/bad.npz`;
      await saveNpz(path, arrays);
      const msg = await formatErrorOf(() => ReplayBuffer.load(path));
      assert.match(msg, re, `${what}: ${msg}`);
      assert.ok(msg.startsWith(path), `${what}: names the file`);
    }
    await Deno.writeFile(`${dir}/garbage.npz`, new Uint8Array(100));
    assert.ok((await formatErrorOf(() => ReplayBuffer.load(`${dir}/garbage.npz`))).length > 0);
    assert.ok(new FormatError("x") instanceof WorldFluxError);
  });
});

// ---------------------------------------------------------------------------------------------
// Sizes from files and callers
// ---------------------------------------------------------------------------------------------

/** Offset of the central-directory record of member `name` in ZIP bytes. */
function centralEntry(zip: Uint8Array, name: string): number {
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let o = dv.getUint32(zip.length - 22 + 16, true);
  for (;;) {
    const len = dv.getUint16(o + 28, true);
    if (new TextDecoder().decode(zip.subarray(o + 46, o + 46 + len)) === name) return o;
    o += 46 + len + dv.getUint16(o + 30, true) + dv.getUint16(o + 32, true);
  }
}

/** `zip` with the CRC-32 of member `name` flipped (inflating it would then fail). */
function badCrc(zip: Uint8Array, name: string): Uint8Array {
  const out = zip.slice();
  const o = centralEntry(out, name);
  out[o + 16] ^= 0xff;
  return out;
}

Deno.test("replay: load inflates only the arrays it reads (an archive bomb beside them is never touched)", async () => {
  await withDir(async (dir) => {
    const buf = new ReplayBuffer({ capacity: 20, obsShape: [3], actionDim: 2 });
    for (let t = 0; t < 12; t++) buf.addStep([t, 0, 0], [0, 1], 1, t % 4 === 3);
    // 32 MiB of zeros deflate to ~32 KB; its CRC is wrong, so inflating it throws.
    const zip = encodeNpz({
      ...buf.toArrays(),
      unused: { dtype: "uint8", data: new Uint8Array(32 << 20) },
    }, { compressed: true });
    assert.ok(zip.length < 100_000);
    await Deno.writeFile(`${dir}/bomb.npz`, badCrc(zip, "unused.npy"));
    const back = await ReplayBuffer.load(`${dir}/bomb.npz`);
    assert.equal(back.size, 12);
    // The per-step arrays must fit what the file's capacity holds before any is inflated: an
    // `obs` that declares 10000 rows for capacity 20 is refused by its declared size (its data
    // is never read: its CRC is wrong too).
    const big = new ReplayBuffer({ capacity: 10000, obsShape: [3], actionDim: 2 });
    for (let t = 0; t < 10000; t++) big.addStep([t, 0, 0], [0, 1], 1, t % 4 === 3);
    const lying = encodeNpz({
      ...big.toArrays(),
      capacity: { dtype: "int64", shape: [], data: [20] },
    }, { compressed: true });
    await Deno.writeFile(`${dir}/lying.npz`, badCrc(lying, "obs.npy"));
    const msg = await formatErrorOf(() => ReplayBuffer.load(`${dir}/lying.npz`));
    assert.match(msg, /more than a buffer of capacity 20 holds/);
  });
});

Deno.test("replay: sizes from callers and files are checked before allocating (SizeLimitError)", async () => {
  setAllocationLimit(256 << 20);
  try {
    const huge = () => new ReplayBuffer({ capacity: 2 ** 31, obsShape: [4], actionDim: 2 });
    assert.throws(huge, (e) => e instanceof SizeLimitError && /capacity/.test(e.message));
    const buf = new ReplayBuffer({ capacity: 100, obsShape: [4], actionDim: 2 });
    for (let t = 0; t < 50; t++) buf.addStep([t, 0, 0, 0], [0, 1], 0, t === 49);
    for (const [B, T] of [[1e9, 8], [8, 1e9]]) {
      assert.throws(
        () => buf.sample(B, T, { device: "cpu" }),
        (e) => e instanceof SizeLimitError && /batchSize = \d+, seqLen = \d+/.test(e.message),
      );
      assert.throws(() => buf.sampleArrays(B, T), SizeLimitError);
    }
    // A file declaring capacity 2^31 names the key and says how to load it.
    await withDir(async (dir) => {
      await saveNpz(`${dir}/b.npz`, {
        ...buf.toArrays(),
        capacity: { dtype: "int64", shape: [], data: [2 ** 31] },
      });
      await assert.rejects(
        () => ReplayBuffer.load(`${dir}/b.npz`),
        (e) => e instanceof SizeLimitError && /"capacity"/.test(e.message),
      );
      assert.equal((await ReplayBuffer.load(`${dir}/b.npz`, { capacity: 100 })).size, 50);
    });
  } finally {
    setAllocationLimit(null);
  }
});

Deno.test("replay: NaN and infinite data are refused by default (addEpisode, addStep, load), accepted on request", async () => {
  const ep = (rewards: number[], obs = new Float32Array(4 * rewards.length)) => ({
    obs,
    actions: new Float32Array(2 * rewards.length),
    rewards,
  });
  const strict = new ReplayBuffer({ capacity: 50, obsShape: [4], actionDim: 2 });
  const isNonFinite = (field: string) => (e: unknown) =>
    e instanceof ContractError && e.kind === "non_finite" && e.field === field;
  assert.throws(() => strict.addEpisode(ep([0, 1, NaN, 2])), isNonFinite("rewards[2]"));
  const obs = new Float32Array(12);
  obs[9] = Infinity;
  assert.throws(() => strict.addEpisode(ep([0, 1, 2], obs)), isNonFinite("obs[2][1]"));
  assert.throws(() => strict.addStep([0, 0, 0, 0], [0, -Infinity], 0), isNonFinite("action[0][1]"));
  assert.throws(() => strict.addStep([0, 0, 0, 0], [0, 0], NaN), isNonFinite("reward[0]"));
  assert.equal(strict.size, 0, "nothing stored");
  const lax = new ReplayBuffer({ capacity: 50, obsShape: [4], actionDim: 2, allowNonFinite: true });
  lax.addEpisode(ep([0, 1, NaN, 2]));
  assert.equal(lax.size, 4);
  await withDir(async (dir) => {
    await lax.save(`${dir}/nan.npz`);
    const msg = await formatErrorOf(() => ReplayBuffer.load(`${dir}/nan.npz`));
    assert.match(msg, /"rewards": NaN at row 2: non-finite data is refused/);
    const back = await ReplayBuffer.load(`${dir}/nan.npz`, { allowNonFinite: true });
    assert.ok(Number.isNaN(back.sampleArrays(1, 4, { seed: 0 }).rewards[2]));
  });
});

// ---------------------------------------------------------------------------------------------
// NumPy
// ---------------------------------------------------------------------------------------------

async function helper(...args: string[]): Promise<void> {
  const r = await new Deno.Command(PY.python!, {
    args: [HELPER, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const out = new TextDecoder().decode(r.stdout);
  assert.ok(
    r.success && out.trim().endsWith("OK"),
    `npz_helper ${args.join(" ")}:\n${out}${new TextDecoder().decode(r.stderr)}`,
  );
}

Deno.test({
  name: "replay: NumPy reads a saved buffer with the reference's keys and dtypes",
  ignore: !PY.python,
  fn: async () => {
    await withDir(async (dir) => {
      const w = newWorld(40, 4);
      fillRandom(w, 10, 8);
      for (const compressed of [false, true]) {
        await w.buf.save(`${dir}/b.npz`, { compressed });
        const n = w.buf.size;
        const rows = w.stored();
        const arr = w.buf.toArrays();
        const obs = (arr.obs.data as Float32Array[]).flatMap((c) => Array.from(c));
        const expected = {
          obs: { dtype: "float32", shape: [n, 3], values: obs },
          actions: {
            dtype: "float32",
            shape: [n, 2],
            values: rows.flatMap((r) => [r.ep + 0.5, r.step]),
          },
          rewards: { dtype: "float32", shape: [n], values: rows.map((r) => r.ep * 1000 + r.step) },
          dones: {
            dtype: "bool",
            shape: [n],
            values: rows.map((r, i) =>
              i === n - 1 ? !w.buf.episodeInProgress : rows[i + 1].ep !== r.ep
            ),
          },
          terminations: { dtype: "bool", shape: [n], values: rows.map((r) => r.terminal) },
          obs_shape: { dtype: "int64", shape: [1], values: ["3"] },
          action_dim: { dtype: "int64", shape: [], values: ["2"] },
          capacity: { dtype: "int64", shape: [], values: ["40"] },
          first_step: { dtype: "int64", shape: [], values: [String(rows[0].step)] },
        };
        await Deno.writeTextFile(`${dir}/e.json`, JSON.stringify(expected));
        await helper("check", `${dir}/b.npz`, `${dir}/e.json`);
      }
    });
  },
});

Deno.test({
  name: "replay: a buffer written by NumPy with the reference's keys loads here",
  ignore: !PY.python,
  fn: async () => {
    await withDir(async (dir) => {
      await helper("write", dir);
      const buf = await ReplayBuffer.load(`${dir}/np_replay.npz`);
      const want = await loadNpz(`${dir}/np_replay.npz`);
      assert.equal(buf.size, 25);
      assert.equal(buf.capacity, 100);
      assert.deepEqual(buf.obsShape, [4]);
      assert.equal(buf.actionDim, 2);
      assert.equal(buf.numEpisodes, 4); // three done, one in progress
      assert.ok(buf.episodeInProgress);
      const got = buf.toArrays();
      assert.deepEqual(toNpy(got.obs).data, want.obs.data);
      assert.deepEqual(toNpy(got.actions).data, want.actions.data);
      assert.deepEqual(toNpy(got.rewards).data, want.rewards.data);
      assert.deepEqual(toNpy(got.dones).data, want.dones.data);
      // Without "terminations", every done is terminal.
      assert.deepEqual(toNpy(got.terminations).data, want.dones.data);
      const s = buf.sampleArrays(100, 7);
      for (let b = 0; b < 100; b++) {
        // Episodes are rows 0-6, 7-13, 14-20, 21-24: a 7-step sequence is a whole episode.
        assert.ok([0, 7, 14].includes(s.starts[b]));
        assert.equal(s.isFirst[b * 7], 1);
        assert.equal(s.terminations[b * 7 + 6], 1);
      }
    });
  },
});
