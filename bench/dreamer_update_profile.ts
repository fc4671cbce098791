/**
 * Where the time of one full DreamerV3 update goes on the `cpu` device, as the online loop runs
 * it: the family's training step (`createTrainStep`, i.e. `dreamerV3TrainStep`, compiled: world
 * model, imagination from every posterior state, actor and critic losses, one backward, the
 * optimizers) on batches sampled from a replay buffer filled with random-policy steps of the
 * workload's environment (`crossEpisodes`, as `trainOnline` samples). Every kernel of a few
 * replays is timed (`setReplayProfiler`) and grouped by kind and shape (
 * `bench/kernel_groups.ts`), and the update is split into three parts timed by compiled pieces of
 * their own on the same batch:
 *
 * - world model: the update without the actor-critic (`DreamerTrainer` with `actorCritic: false`:
 *   world-model loss, its backward, its optimizer);
 * - imagination: the no-gradient part of the actor-critic loss (the `imagLength`-step prior
 *   rollout with actions from the actor from all `B * T` posterior states, and the reward,
 *   continue, critic and slow-critic predictions along it);
 * - actor-critic: the rest (the actor and critic losses with their backward, the replay value
 *   loss, the actor-critic optimizer, the slow critic): full - world model - imagination.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg WORLDFLUX_CPU_THREADS=1 deno run -A --no-check \
 *     bench/dreamer_update_profile.ts [cartpole|cartpole-pixels|breakout64|minatar ...]
 *     [--steps 3] [--top 15] [--cpu] [--no-split] [--hash]
 *
 * Workloads (batch 16 x 32, the learning examples' settings): `cartpole` (CartPole-v1 states
 * [4], 2 discrete actions, `dreamer:ci` with stoch 32), `cartpole-pixels` (its 64x64 RGB frames
 * [3, 64, 64], `dreamer:ci` with stoch 32, classes 4, cnn depth 3), `breakout64` (the ALE
 * Breakout size: [3, 64, 64] frames, 4 actions, `dreamer:ci` with deter 256, hidden 128, units
 * 128, stoch 32, classes 8, cnn depth 8; frames from the CartPole renderer: the cost does not
 * depend on the pictures), `minatar` (MinAtar/Breakout-v1 [4, 10, 10], 3 actions, `dreamer:ci`).
 * `--cpu` times by the process's CPU clock: with `WORLDFLUX_CPU_THREADS=1` the figures are each
 * kernel's own work, little disturbed by other processes of a shared machine. `--hash` prints a
 * hash of the parameters after the updates (seeded): the bit-identity check of a speed change
 * on the pixel models, which `bench/param_hash.ts` (CartPole states) does not run.
 * @module
 */

import {
  createTrainStep,
  createWorldModel,
  DreamerTrainer,
  type DreamerV3WorldModel,
  parseTrainingConfig,
  ReplayBuffer,
  type Tensor,
} from "../mod.ts";
import { compile } from "../src/tensor/compile.ts";
import { Generator } from "../src/tensor/random.ts";
import { noGrad } from "../src/tensor/tensor.ts";
import { disposeBatch } from "../src/core/train_step.ts";
import { kernelReport, profileClock, profileReplays } from "./kernel_groups.ts";
import { type Env, makeEnvSync, PixelObservation, Rng } from "../src/envs/mod.ts";

interface Workload {
  readonly preset: string;
  readonly overrides: Record<string, number>;
  readonly env: () => Env;
  readonly actions: number;
}

const pixels = () => new PixelObservation(makeEnvSync("CartPole-v1"));
const WORKLOADS: Record<string, Workload> = {
  cartpole: {
    preset: "dreamer:ci",
    overrides: { stoch: 32 },
    env: () => makeEnvSync("CartPole-v1"),
    actions: 2,
  },
  "cartpole-pixels": {
    preset: "dreamer:ci",
    overrides: { stoch: 32, classes: 4, cnnDepth: 3 },
    env: pixels,
    actions: 2,
  },
  breakout64: {
    preset: "dreamer:ci",
    overrides: { deter: 256, hidden: 128, units: 128, stoch: 32, classes: 8, cnnDepth: 8 },
    env: pixels,
    actions: 4,
  },
  minatar: {
    preset: "dreamer:ci",
    overrides: {},
    env: () => makeEnvSync("MinAtar/Breakout-v1"),
    actions: 3,
  },
};
const B = 16, T = 32;

const argv = Deno.args;
const opt = (k: string, d: number) => {
  const i = argv.indexOf(k);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const steps = opt("--steps", 3), top = opt("--top", 15);
const names = argv.filter((a, i) => !a.startsWith("--") && !argv[i - 1]?.match(/^--(steps|top)$/));
const cpuClock = argv.includes("--cpu");
const split = !argv.includes("--no-split");
const hash = argv.includes("--hash");
const clock = profileClock(cpuClock);

/** Mean ms per call of `run` over `steps` calls after 2 warm-up calls (unprofiled). */
async function timeIt(run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 2; i++) await run();
  const t0 = clock();
  for (let i = 0; i < steps; i++) await run();
  return (clock() - t0) / steps;
}

async function profile(name: string): Promise<void> {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload ${name}: ${Object.keys(WORKLOADS).join(", ")}`);
  const env = w.env();
  const model = await createWorldModel(w.preset, {
    obsShape: env.observationSpace.shape,
    actionDim: w.actions,
    actionType: "discrete",
    seed: 0,
    ...w.overrides,
  }) as DreamerV3WorldModel;
  const buffer = new ReplayBuffer({
    capacity: 4096,
    obsShape: env.observationSpace.shape,
    actionDim: w.actions,
    obsDtype: env.observationSpace.dtype === "uint8" ? "uint8" : "float32",
    seed: 1,
  });
  const r = new Rng(2);
  let obs = env.reset({ seed: 3 }).obs;
  for (let i = 0; i < 1200; i++) {
    const a = r.int(w.actions);
    const s = env.step(a % (env.actionSpace.kind === "discrete" ? env.actionSpace.n : 1));
    buffer.addStep(obs as ArrayLike<number>, a, s.reward, s.terminated, s.truncated);
    obs = s.terminated || s.truncated ? env.reset().obs : s.obs;
  }
  let seed = 10;
  const sample = () =>
    buffer.sample(B, T, { seed: seed++, device: model.device, crossEpisodes: true });
  const cfg = parseTrainingConfig({ batchSize: B, sequenceLength: T, seed: 4 });
  const trainStep = createTrainStep(model, cfg, {});
  const full = async () => {
    const batch = sample();
    const out = trainStep.step(batch);
    await out.loss.item();
    for (const t of Object.values(out)) t.dispose();
    disposeBatch(batch);
  };
  // The profiled replays.
  for (let i = 0; i < 2; i++) await full();
  const { rows, perRun: profiled } = await profileReplays(full, steps, clock);
  const report = kernelReport(rows, steps, top, "upd");
  const c = model.config;
  console.log(
    `\n== ${name}: obs [${env.observationSpace.shape}], ${w.actions} actions, ${w.preset} ` +
      `deter ${c.deter} hidden ${c.hidden} units ${c.units} stoch ${c.stoch}x${c.classes} ` +
      `cnn ${c.cnnDepth}, ${model.numParameters()} params, B${B} x T${T}`,
  );
  const unit = cpuClock ? "ms CPU" : "ms";
  console.log(
    `profiled: ${profiled.toFixed(1)} ${unit} per update, kernels ${report.totalMs.toFixed(1)} ` +
      `ms, ${report.kernels} kernels, ${report.gflop.toFixed(2)} GFLOP`,
  );
  for (const line of report.lines) console.log(line);
  if (hash) {
    // The trained parameters after the warm-up and profiled updates (fixed seeds): a change
    // that must not alter results prints the same hash before and after.
    const parts: Uint8Array[] = [];
    for (const [k, v] of Object.entries(model.stateDict())) {
      const d = await v.data();
      parts.push(new TextEncoder().encode(k), new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.byteLength;
    }
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
    console.log(
      `parameters after ${2 + steps} updates: ${
        Array.from(h.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("")
      }`,
    );
  }
  const sampleMs = await timeIt(() => Promise.resolve(disposeBatch(sample())));
  console.log(
    `batch sampling (replay buffer to tensors, in the figures above): ${
      sampleMs.toFixed(1)
    } ${unit} per update`,
  );
  if (!split) return;
  // The parts, each compiled on its own (unprofiled).
  const fullMs = await timeIt(full);
  const wm = new DreamerTrainer(model, { actorCritic: false, generator: new Generator(5) });
  const wmOnly = async () => {
    const batch = sample();
    const m = wm.compiledStep(batch);
    await m["wm/total"].item();
    for (const t of Object.values(m)) t.dispose();
    disposeBatch(batch);
  };
  const wmMs = await timeIt(wmOnly);
  const ac = model.actorCritic!;
  const gen = new Generator(6);
  const imagine = compile((deter: Tensor, stoch: Tensor) =>
    noGrad(() => {
      const traj = ac.imagine({ deter, stoch }, null, { generator: gen });
      const [H1, N, F] = traj.feat.shape;
      const fN = traj.feat.reshape([H1 * N, F]);
      const rest = traj.feat.narrow(0, 1, H1 - 1).reshape([(H1 - 1) * N, F]);
      const first = traj.feat.narrow(0, 0, H1 - 1).reshape([(H1 - 1) * N, F]);
      return {
        rew: model.reward.pred(fN, model.bins).sum(),
        con: model.cont.logit(rest).sum(),
        val: ac.critic.pred(fN, model.bins).sum(),
        slow: ac.slowCritic.pred(first, model.bins).sum(),
        feat: traj.feat.sum(),
        act: traj.actions.sum(),
      };
    })
  );
  const starts = (() => {
    const batch = sample();
    const { post } = model.lossWithStates(batch);
    const s = { deter: post.deter.detach().contiguous(), stoch: post.stoch.detach().contiguous() };
    s.deter.realize();
    s.stoch.realize();
    return s;
  })();
  const imagMs = await timeIt(async () => {
    const o = imagine(starts.deter, starts.stoch);
    await o.rew.item();
    for (const t of Object.values(o)) t.dispose();
  });
  console.log(
    `split (unprofiled, ${unit} per update): full ${fullMs.toFixed(1)}, world model ` +
      `${wmMs.toFixed(1)} (${(100 * wmMs / fullMs).toFixed(0)}%), imagination ${
        imagMs.toFixed(1)
      } (${(100 * imagMs / fullMs).toFixed(0)}%), actor-critic ${
        (fullMs - wmMs - imagMs).toFixed(1)
      } (${(100 * (fullMs - wmMs - imagMs) / fullMs).toFixed(0)}%)`,
  );
  trainStep.dispose();
  wm.dispose();
  imagine.dispose();
}

for (const n of names.length ? names : Object.keys(WORKLOADS)) await profile(n);
Deno.exit(0);
