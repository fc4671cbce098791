/**
 * The fuzz run behind `tests/io/fuzz_test.ts`, in a process of its own (so that its memory is
 * its own and a hang can be cut off from outside): seeded mutations of every format a user or a
 * downloaded project hands to worldflux — `.npy`, `.npz` replay buffers, saved models, training
 * checkpoints and `worldflux.toml` — each loaded by the library's own loader. Per case it checks:
 *
 * Half the cases mutate the file's bytes (and mostly meet the checksums); the other half mutate
 * the content under a container that stays valid (an `.npy` member re-zipped with its CRC-32, a
 * config or a training-state file with its recorded sha256 updated: a consistent hostile file),
 * which reaches the checks behind the checksums (sizes, ranges, shapes, values).
 *
 * - the loader returns or throws a typed error (a `WorldFluxError`), never a raw exception;
 * - where a checksum covers the data (npz CRC-32, saved models' and checkpoints' sha256), a load
 *   that succeeds gives exactly the original data (corruption is never loaded silently);
 * - the process's peak resident memory stays within the allocation limit set for the run plus a
 *   fixed allowance for the runtime (no loader allocates what a hostile size asks for).
 *
 * It prints `case <format> <n>` before each case (the parent names the case that hung) and a
 * final JSON line `{"report": ...}`. Usage:
 * `deno run -A --v8-flags=--expose-gc tests/io/fuzz_driver.ts --cases 300 --seed 1`.
 * @module
 */

import { parseArgs } from "node:util";
import {
  createWorldModel,
  decodeNpy,
  decodeNpz,
  encodeNpy,
  fromPretrained,
  type NpyArray,
  type NpyInput,
  ReplayBuffer,
  restoreCheckpoint,
  type Tensor,
  Trainer,
  type TrainStep,
  WorldFluxError,
  type WorldModel,
} from "../../mod.ts";
import { setAllocationLimit } from "../../src/io/limits.ts";
import { crc32 } from "../../src/io/npz.ts";
import { sha256Hex } from "../../src/core/spec.ts";
import { readTensors } from "../../src/tensor/read.ts";
import { loadProjectConfig } from "../../src/cli/project.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { cases: { type: "string", default: "300" }, seed: { type: "string", default: "1" } },
});
const CASES = Number(values.cases);
const SEED = Number(values.seed);
/** The allocation limit of the run: far below what the hostile sizes ask for. */
const LIMIT = 64 << 20;
/** Peak memory allowed above the baseline: twice the limit (a copy) and the runtime's churn. */
const ALLOWANCE = 2 * LIMIT + (256 << 20);

setAllocationLimit(LIMIT);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

// ---------------------------------------------------------------------------------------------
// Random stream and mutations
// ---------------------------------------------------------------------------------------------

let state = (SEED >>> 0) || 1;
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x22, 0x7b];
const INTERESTING_INTS = [
  0n,
  1n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
];
const INTERESTING_TEXT = ["1e308", "-1", "0", "4294967296", "NaN", "1e9", "2147483648", '""', "[]"];

/** One random mutation of `b`. */
function mutateOnce(b: Uint8Array, text: boolean): Uint8Array {
  const n = b.length;
  const at = int(Math.max(1, n));
  switch (int(text ? 9 : 7)) {
    case 0: { // flip a bit
      const out = b.slice();
      if (n) out[at] ^= 1 << int(8);
      return out;
    }
    case 1: { // an interesting byte
      const out = b.slice();
      if (n) out[at] = pick(INTERESTING_BYTES);
      return out;
    }
    case 2: { // an interesting little-endian integer (sizes, offsets, counts)
      const out = b.slice();
      const width = pick([2, 4, 8]);
      if (n >= width) {
        const o = int(n - width + 1);
        const v = pick(INTERESTING_INTS);
        for (let k = 0; k < width; k++) out[o + k] = Number((v >> BigInt(8 * k)) & 0xffn);
      }
      return out;
    }
    case 3: // truncate
      return b.slice(0, at);
    case 4: { // append random bytes
      const extra = Uint8Array.from({ length: 1 + int(64) }, () => int(256));
      return new Uint8Array([...b, ...extra]);
    }
    case 5: { // delete a chunk
      const len = 1 + int(16);
      return new Uint8Array([...b.subarray(0, at), ...b.subarray(at + len)]);
    }
    case 6: { // duplicate a chunk
      const len = 1 + int(32);
      return new Uint8Array([...b.subarray(0, at + len), ...b.subarray(at)]);
    }
    case 7: { // text: a number becomes an interesting one
      const s = new TextDecoder().decode(b);
      const nums = [...s.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      if (!nums.length) return b;
      const m = pick(nums);
      return new TextEncoder().encode(
        s.slice(0, m.index) + pick(INTERESTING_TEXT) + s.slice(m.index! + m[0].length),
      );
    }
    default: { // text: a structural character
      const s = new TextDecoder().decode(b);
      const ch = pick(['"', "{", "}", "[", "]", ",", ":", "=", "\n", "'", "\\", "#"]);
      return new TextEncoder().encode(s.slice(0, at) + ch + s.slice(at));
    }
  }
}

function mutate(b: Uint8Array, text = false): Uint8Array {
  let out = b;
  const k = 1 + int(3);
  for (let i = 0; i < k; i++) out = mutateOnce(out, text);
  return out;
}

/** A stored ZIP of raw members with correct CRC-32s (what `np.savez` writes). */
function zipStored(members: Record<string, Uint8Array>): Uint8Array {
  const names = Object.keys(members);
  const local: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const n = new TextEncoder().encode(name);
    const body = members[name];
    const crc = crc32(body);
    const lh = new Uint8Array(30 + n.length);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, body.length, true);
    lv.setUint16(26, n.length, true);
    lh.set(n, 30);
    const ch = new Uint8Array(46 + n.length);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, body.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    ch.set(n, 46);
    local.push(lh, body);
    central.push(ch);
    offset += lh.length + body.length;
  }
  const cdSize = central.reduce((t, c) => t + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, names.length, true);
  ev.setUint16(10, names.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let at = 0;
  for (const part of [...local, ...central, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

interface Violation {
  readonly format: string;
  readonly case: number;
  readonly problem: string;
}
const violations: Violation[] = [];
const counts: Record<string, { cases: number; loaded: number; refused: number }> = {};

function hwm(): number {
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) * 1024 : 0;
}

function sameArray(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (!(x === y || (typeof x === "number" && Number.isNaN(x) && Number.isNaN(y as number)))) {
      return false;
    }
  }
  return true;
}

function flat(d: NpyInput["data"]): number[] {
  const parts = Array.isArray(d) && d.length && typeof d[0] === "object"
    ? d as ArrayLike<number | bigint>[]
    : [d as ArrayLike<number | bigint>];
  return parts.flatMap((p) => Array.from(p, Number));
}

async function stateOf(model: WorldModel): Promise<Record<string, number[]>> {
  const sd = model.stateDict();
  const names = Object.keys(sd).sort();
  const vals = await readTensors(names.map((k) => sd[k]));
  return Object.fromEntries(names.map((k, i) => [k, Array.from(vals[i] as ArrayLike<number>)]));
}

async function tensorsOf(ts: Record<string, Tensor>): Promise<Record<string, number[]>> {
  const names = Object.keys(ts).sort();
  const vals = await readTensors(names.map((k) => ts[k]));
  return Object.fromEntries(names.map((k, i) => [k, Array.from(vals[i] as ArrayLike<number>)]));
}

/** The optimizer moments of a training step, as plain numbers by name. */
function momentsOf(step: TrainStep): Promise<Record<string, number[]>> {
  return tensorsOf(
    Object.fromEntries(
      Object.entries(step.stateDict().optimizers).flatMap(([name, st]) =>
        Object.entries(st.state).flatMap(([k, m]) => [
          [`${name}.${k}.a`, m.expAvg],
          [`${name}.${k}.b`, m.expAvgSq],
        ])
      ),
    ),
  );
}

/**
 * Runs `cases` cases of `format`: `load(mutated, i)` returns null (refused: it threw a typed
 * error) or a problem string ("" when it loaded the original data exactly).
 */
async function run(
  format: string,
  base: () => Uint8Array,
  text: boolean,
  load: (bytes: Uint8Array) => Promise<string | void>,
): Promise<void> {
  const c = counts[format] = { cases: 0, loaded: 0, refused: 0 };
  for (let i = 0; i < CASES; i++) {
    console.log(`case ${format} ${i}`);
    const bytes = mutate(base(), text);
    c.cases++;
    try {
      const problem = await load(bytes);
      if (problem) violations.push({ format, case: i, problem });
      else c.loaded++;
    } catch (e) {
      if (e instanceof WorldFluxError) c.refused++;
      else {
        violations.push({
          format,
          case: i,
          problem: `raw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`,
        });
      }
    }
    if (hwm() > baseline + ALLOWANCE) {
      violations.push({
        format,
        case: i,
        problem: `peak memory ${(hwm() / 2 ** 20).toFixed(0)} MiB, more than the baseline ` +
          `${(baseline / 2 ** 20).toFixed(0)} MiB + ${(ALLOWANCE / 2 ** 20).toFixed(0)} MiB`,
      });
      break;
    }
    if (i % 25 === 24) gc();
  }
}

// ---------------------------------------------------------------------------------------------
// Base artifacts
// ---------------------------------------------------------------------------------------------

const dir = await Deno.makeTempDir({ prefix: "wf_fuzz_" });
const enc = new TextEncoder();

const npyBases = [
  encodeNpy({ shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) }),
  encodeNpy({ dtype: "int64", shape: [5], data: [1, -2, 3, 2 ** 40, 0] }),
  encodeNpy({ dtype: "bool", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) }),
  encodeNpy({ dtype: "float16", shape: [], data: new Float32Array([1.5]) }),
  encodeNpy({ dtype: "uint8", shape: [2, 3, 4], data: new Uint8Array(24).map((_, i) => i) }),
];

function replay(discrete: boolean): ReplayBuffer {
  const buf = new ReplayBuffer({
    capacity: 48,
    obsShape: discrete ? [2, 3] : [3],
    actionDim: discrete ? 4 : 2,
    obsDtype: discrete ? "uint8" : "float32",
    actionDtype: discrete ? "int32" : "float32",
  });
  for (let t = 0; t < 40; t++) {
    const obs = discrete
      ? Uint8Array.from({ length: 6 }, (_, k) => (t * 7 + k) % 256)
      : [t, -t, t / 7];
    buf.addStep(obs, discrete ? t % 4 : [Math.sin(t), Math.cos(t)], t * 0.25, t % 9 === 8);
  }
  return buf;
}
const replays = [replay(false), replay(true)];
const npzBases: { bytes: Uint8Array; arrays: Record<string, NpyInput> }[] = [];
for (const buf of replays) {
  for (const compressed of [false, true]) {
    const p = `${dir}/base.npz`;
    await buf.save(p, { compressed });
    npzBases.push({ bytes: await Deno.readFile(p), arrays: buf.toArrays() });
  }
}

const opts = { obsShape: [4], actionDim: 2, seed: 3 };
const model = await createWorldModel("mlp:ci", opts);
await model.savePretrained(`${dir}/model`);
const modelFiles = ["config.json", "model.safetensors", "worldflux_meta.json"];
const modelBytes = Object.fromEntries(
  await Promise.all(modelFiles.map(async (f) => [f, await Deno.readFile(`${dir}/model/${f}`)])),
) as Record<string, Uint8Array>;
const modelState = await stateOf(model);
const modelConfig = JSON.stringify(model.configForSave());

const trainBuf = replay(false);
const trainCfg = {
  totalSteps: 2,
  batchSize: 2,
  sequenceLength: 4,
  logInterval: 1,
  outputDir: `${dir}/out`,
} as const;
const quiet = { defaultCallbacks: false, log: () => {} } as const;
const trainModel = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 2, seed: 5 });
const trainer = new Trainer(trainModel, trainCfg, quiet);
await trainer.train(trainBuf);
await trainer.saveCheckpoint(`${dir}/ck`);
const ckFiles: string[] = [];
for (const sub of ["", "model/"]) {
  for await (const e of Deno.readDir(`${dir}/ck/${sub}`)) if (e.isFile) ckFiles.push(sub + e.name);
}
ckFiles.sort();
const ckBytes = Object.fromEntries(
  await Promise.all(ckFiles.map(async (f) => [f, await Deno.readFile(`${dir}/ck/${f}`)])),
) as Record<string, Uint8Array>;
const ckModelState = await stateOf(trainModel);
const ckOptState = await momentsOf(trainer.trainStep);
const ckStep = trainer.state.step;

const tomlBases = [
  `name = "fuzz"\n[model]\nfamily = "mlp"\npreset = "ci"\n[model.overrides]\nhidden_dim = 16\n` +
  `[data]\nsource = "random"\nobs_shape = [5]\naction_dim = 2\nepisodes = 4\n` +
  `episode_length = 16\n[training]\ntotal_steps = 10\nbatch_size = 4\nsequence_length = 8\n` +
  `learning_rate = 0.001\n[verify]\nepisodes = 2\nmax_loss_ratio = 0.9\n`,
  `[model]\npreset = "tdmpc2:ci"\n[data]\nsource = "npz"\npath = "data/x.npz"\n` +
  `holdout_episodes = 1\n[training]\nseed = 7\ncompile = false\n`,
  `plugins = ["./p.ts"]\n[model]\nfamily = "dreamerv3"\n[data]\nsource = "env"\n` +
  `env = "Pendulum-v1"\nframe_skip = 2\nmax_episode_steps = 100\n[training]\n` +
  `train_ratio = 0.5\nprefill_steps = 10\n`,
];

gc();
const baseline = hwm();

// ---------------------------------------------------------------------------------------------
// The formats
// ---------------------------------------------------------------------------------------------

await run("npy", () => pick(npyBases), false, (bytes) => {
  decodeNpy(bytes); // no checksum: loading or refusing is all that can be asked
  return Promise.resolve();
});

let current: { bytes: Uint8Array; arrays: Record<string, NpyInput> } | null = null;
await run(
  "npz",
  () => {
    const b = pick(npzBases);
    current = b;
    return b.bytes;
  },
  false,
  async (bytes) => {
    const base = current!;
    if (rand() < 0.5) {
      // A valid archive of altered members: one .npy member mutated (the shape or dtype in its
      // header, or its data), sometimes an extra member, all with correct CRC-32s.
      const members: Record<string, Uint8Array> = {};
      for (const [k, a] of Object.entries(base.arrays)) members[`${k}.npy`] = encodeNpy(a);
      const key = pick(Object.keys(members));
      if (rand() < 0.5) members[key] = mutate(members[key], rand() < 0.5);
      else {
        // Interesting values in place of the member's own (capacities, dims, indices, rewards).
        const a = base.arrays[key.slice(0, -4)];
        const n = flat(a.data).length;
        const ints = [-1, 0, 2 ** 31, 2 ** 32 - 1, 2 ** 40, 2 ** 52];
        const floats = [NaN, Infinity, -Infinity, 1e30, -0];
        const isInt = a.dtype !== undefined && /int/.test(a.dtype);
        const v = pick(isInt ? ints : floats);
        const data = isInt
          ? Array.from({ length: n }, (_, i) => (rand() < 0.5 || i === 0 ? v : 0))
          : Float64Array.from({ length: n }, () => v);
        members[key] = encodeNpy({
          dtype: a.dtype === "bool" || a.dtype === "uint8" ? "int64" : a.dtype,
          shape: a.shape,
          data,
        });
      }
      if (rand() < 0.2) members[`extra${int(3)}.npy`] = mutate(members[key]);
      await Deno.writeFile(`${dir}/m.npz`, zipStored(members));
      (await ReplayBuffer.load(`${dir}/m.npz`)).toArrays(); // no checksum left: load or refuse
      return;
    }
    // The archive layer: every array that comes back under an original name is the original.
    let arrays: Record<string, NpyArray> | null = null;
    try {
      arrays = decodeNpz(bytes);
    } catch (e) {
      if (!(e instanceof WorldFluxError)) throw e;
    }
    for (const [k, a] of Object.entries(arrays ?? {})) {
      const o = base.arrays[k];
      if (o && (!sameArray(Array.from(a.data as ArrayLike<number>, Number), flat(o.data)))) {
        return `decodeNpz returned altered data for "${k}"`;
      }
    }
    // The replay loader: a buffer that loads holds exactly the original transitions.
    await Deno.writeFile(`${dir}/m.npz`, bytes);
    const buf = await ReplayBuffer.load(`${dir}/m.npz`);
    const got = buf.toArrays();
    for (const k of Object.keys(base.arrays)) {
      if (!sameArray(flat(got[k].data), flat(base.arrays[k].data))) {
        return `ReplayBuffer.load returned altered "${k}"`;
      }
    }
  },
);

let modelFile = "";
await run(
  "model",
  () => {
    modelFile = pick(modelFiles);
    return modelBytes[modelFile];
  },
  false,
  async (bytes) => {
    const d = `${dir}/m_model`;
    await Deno.remove(d, { recursive: true }).catch(() => {});
    await Deno.mkdir(d);
    const consistent = rand() < 0.5;
    const files = { ...modelBytes };
    if (consistent) {
      // A consistent hostile directory: an edited config.json with its sha256 recorded.
      files["config.json"] = mutate(modelBytes["config.json"], true);
      const meta = JSON.parse(new TextDecoder().decode(modelBytes["worldflux_meta.json"]));
      meta.config_sha256 = await sha256Hex(files["config.json"]);
      files["worldflux_meta.json"] = enc.encode(JSON.stringify(meta));
    } else files[modelFile] = bytes;
    for (const f of modelFiles) await Deno.writeFile(`${d}/${f}`, files[f]);
    const loaded = await fromPretrained(d, { device: "cpu" });
    if (consistent) {
      loaded.dispose(); // a valid edited config may load: nothing to compare
      return;
    }
    try {
      if (JSON.stringify(loaded.configForSave()) !== modelConfig) {
        return `fromPretrained loaded an altered config (${modelFile} mutated)`;
      }
      const st = await stateOf(loaded);
      for (const [k, v] of Object.entries(modelState)) {
        if (!st[k] || !sameArray(st[k], v)) return `fromPretrained loaded altered "${k}"`;
      }
    } finally {
      loaded.dispose();
    }
  },
);

let ckFile = "";
const target = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 2, seed: 9 });
const targetTrainer = new Trainer(target, trainCfg, quiet);
await targetTrainer.setup();
await run(
  "checkpoint",
  () => {
    ckFile = pick(ckFiles);
    return ckBytes[ckFile];
  },
  false,
  async (bytes) => {
    const d = `${dir}/m_ck`;
    await Deno.remove(d, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${d}/model`, { recursive: true });
    const files = { ...ckBytes };
    const consistent = rand() < 0.5;
    if (consistent) {
      // A consistent hostile checkpoint: a JSON file edited, its sha256 and size recorded.
      const name = pick(["trainer_state.json", "optimizer.json", "training_config.json"]);
      files[name] = mutate(ckBytes[name], true);
      const manifest = JSON.parse(new TextDecoder().decode(ckBytes["manifest.json"]));
      manifest.files[name] = { sha256: await sha256Hex(files[name]), bytes: files[name].length };
      files["manifest.json"] = enc.encode(JSON.stringify(manifest));
    } else files[ckFile] = bytes;
    for (const f of ckFiles) await Deno.writeFile(`${d}/${f}`, files[f]);
    const ck = await restoreCheckpoint(d, { model: target, trainStep: targetTrainer.trainStep });
    if (consistent) return; // may restore an edited state: nothing to compare
    if (ck.trainer.step !== ckStep) return `restored step ${ck.trainer.step}, saved ${ckStep}`;
    const st = await stateOf(target);
    for (const [k, v] of Object.entries(ckModelState)) {
      if (!sameArray(st[k], v)) {
        return `restoreCheckpoint loaded altered weights "${k}" (${ckFile})`;
      }
    }
    const opt = await momentsOf(targetTrainer.trainStep);
    for (const [k, v] of Object.entries(ckOptState)) {
      if (!opt[k] || !sameArray(opt[k], v)) {
        return `restoreCheckpoint loaded altered optimizer state "${k}" (${ckFile})`;
      }
    }
  },
);

await run("toml", () => enc.encode(pick(tomlBases)), true, async (bytes) => {
  await Deno.writeFile(`${dir}/worldflux.toml`, bytes);
  await loadProjectConfig(`${dir}/worldflux.toml`); // no checksum: load or refuse
});

model.dispose();
trainModel.dispose();
target.dispose();
await Deno.remove(dir, { recursive: true });
console.log(JSON.stringify({
  report: {
    seed: SEED,
    casesPerFormat: CASES,
    counts,
    violations,
    peakMiB: Math.round(hwm() / 2 ** 20),
    baselineMiB: Math.round(baseline / 2 ** 20),
  },
}));
