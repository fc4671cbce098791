import assert from "node:assert/strict";
import {
  CategoricalCEMPlanner,
  CEMPlanner,
  createWorldModel,
  firstAction,
  Generator,
  MPPIPlanner,
  normalizePlannedAction,
  PLANNER_HORIZON_KEY,
  PolicyPlanner,
  randn,
  RandomShootingPlanner,
  shiftSequence,
  type TDMPC2WorldModel,
  type Tensor,
  tensor,
} from "../../mod.ts";
import { cpuBackend } from "../../src/backend/device.ts";
import { rng } from "../models/synthetic.ts";
import { PointModel } from "./analytic_model.ts";

const H = 4;
const STARTS: [number, number][] = [[-0.8, 0.6], [0.2, 0.9], [-0.5, -0.9], [0.9, 0.4]];

function startTensor(): Tensor {
  return tensor(STARTS.flat(), [STARTS.length, 2]);
}

/** `[H][B][A]` host copy of a plan's tensor. */
async function hostPlan(t: Tensor): Promise<number[][][]> {
  return await t.array() as number[][][];
}

/** Mean and 90th percentile of the returns of 400 uniform random sequences, per start. */
function randomBaseline(model: PointModel, discrete: boolean): { mean: number[]; p90: number[] } {
  const r = rng(5);
  const per: number[][] = STARTS.map(() => []);
  for (let i = 0; i < 400; i++) {
    const acts = Array.from(
      { length: H },
      () => STARTS.map(() => discrete ? [Math.floor(r() * 4)] : [r() * 2 - 1, r() * 2 - 1]),
    );
    model.trueReturns(STARTS, acts).forEach((g, b) => per[b].push(g));
  }
  return {
    mean: per.map((x) => x.reduce((a, b) => a + b, 0) / x.length),
    p90: per.map((x) => [...x].sort((a, b) => a - b)[Math.floor(0.9 * x.length)]),
  };
}

/** Counts device reads while `fn` runs. */
function countReads<T>(fn: () => T): { value: T; reads: number } {
  const be = cpuBackend();
  const orig = be.read.bind(be);
  let reads = 0;
  be.read = (...a: Parameters<typeof orig>) => {
    reads++;
    return orig(...a);
  };
  try {
    const value = fn();
    return { value, reads };
  } finally {
    be.read = orig;
  }
}

function checkPayload(p: ReturnType<MPPIPlanner["plan"]>, B: number, A: number): void {
  assert.equal(p.extras?.[PLANNER_HORIZON_KEY], H);
  const seq = normalizePlannedAction(p);
  assert.deepEqual(seq.tensor!.shape, [H, B, A]);
  assert.deepEqual(firstAction(p).tensor!.shape, [B, A]);
}

for (
  const [name, make] of [
    [
      "MPPI",
      (m: PointModel) =>
        new MPPIPlanner(m, {
          horizon: H,
          numSamples: 256,
          numElites: 32,
          discount: 1,
          generator: new Generator(1),
        }),
    ],
    [
      "CEM",
      (m: PointModel) =>
        new CEMPlanner(m, {
          horizon: H,
          numSamples: 256,
          numElites: 32,
          discount: 1,
          generator: new Generator(2),
        }),
    ],
  ] as const
) {
  Deno.test(`planners: ${name} beats random actions on a model with an analytic reward`, async () => {
    const model = new PointModel();
    const planner = make(model);
    const { value: plan, reads } = countReads(() =>
      planner.plan(model.encode(startTensor()), { t0: true, evalMode: true })
    );
    assert.equal(reads, 0, "planning reads nothing back");
    // every candidate of an iteration went through the model as one batch
    assert.equal(model.calls.length, 6 * H);
    assert.ok(model.calls.every((b) => b === STARTS.length * 256), `${model.calls}`);
    checkPayload(plan, STARTS.length, 2);
    const got = model.trueReturns(STARTS, await hostPlan(plan.tensor!));
    const base = randomBaseline(model, false);
    for (let b = 0; b < STARTS.length; b++) {
      assert.ok(
        got[b] > base.p90[b] && got[b] - base.mean[b] > 1,
        `start ${b}: plan ${got[b].toFixed(3)} vs random mean ${base.mean[b].toFixed(3)}, ` +
          `p90 ${base.p90[b].toFixed(3)}`,
      );
    }
    // The rollout of the payload through the model gives the same (predicted = true) rewards.
    const traj = model.rollout(model.encode(startTensor()), plan);
    const pred = (await traj.rewards!.sum(0).data()) as Float32Array;
    got.forEach((g, b) => assert.ok(Math.abs(pred[b] - g) < 1e-4, `${pred[b]} vs ${g}`));
    // Warm start: the next plan starts from the previous mean shifted by one step.
    model.calls.length = 0;
    const again = planner.plan(model.encode(startTensor()), { evalMode: true });
    checkPayload(again, STARTS.length, 2);
    const got2 = model.trueReturns(STARTS, await hostPlan(again.tensor!));
    for (let b = 0; b < STARTS.length; b++) assert.ok(got2[b] > base.p90[b]);
    model.dispose();
  });
}

Deno.test("planners: MPPI exploration noise, value extras, reset", async () => {
  const model = new PointModel();
  const planner = new MPPIPlanner(model, {
    horizon: H,
    numSamples: 64,
    numElites: 8,
    iterations: 2,
    generator: new Generator(3),
  });
  const p = planner.plan(startTensor()); // observations are encoded first
  checkPayload(p, STARTS.length, 2);
  const v = p.extras?.["wf.planner.value"] as Tensor;
  assert.deepEqual(v.shape, [STARTS.length]);
  assert.ok(Array.from(await v.data()).every(Number.isFinite));
  assert.deepEqual(planner.previousMean!.shape, [H, STARTS.length, 2]);
  const a = Array.from(await p.tensor!.data());
  assert.ok(a.every((x) => x >= -1 && x <= 1), "actions are clamped to the bounds");
  planner.reset();
  assert.equal(planner.previousMean, null);
  model.dispose();
});

Deno.test("planners: shiftSequence warm start", async () => {
  const x = tensor([[[1]], [[2]], [[3]]]); // [3, 1, 1]
  assert.deepEqual(await shiftSequence(x, 0).array(), [[[2]], [[3]], [[0]]]);
});

Deno.test("planners: categorical CEM beats random discrete actions", async () => {
  const model = new PointModel([0.8, -0.6], 0.3, true);
  const planner = new CategoricalCEMPlanner(model, {
    horizon: H,
    numSamples: 128,
    numElites: 16,
    discount: 1,
    generator: new Generator(4),
  });
  const { value: plan, reads } = countReads(() =>
    planner.plan(model.encode(startTensor()), { t0: true, evalMode: true })
  );
  assert.equal(reads, 0);
  assert.equal(plan.kind, "discrete");
  checkPayload(plan, STARTS.length, 4);
  assert.ok(model.calls.every((b) => b === STARTS.length * 128));
  const host = await hostPlan(plan.tensor!);
  // one-hot rows
  for (const step of host) for (const row of step) assert.equal(row.reduce((a, b) => a + b), 1);
  const got = model.trueReturns(STARTS, host);
  const base = randomBaseline(model, true);
  for (let b = 0; b < STARTS.length; b++) {
    assert.ok(
      got[b] > base.p90[b] && got[b] - base.mean[b] > 1,
      `start ${b}: plan ${got[b].toFixed(3)} vs random ${base.mean[b].toFixed(3)} (p90 ${
        base.p90[b].toFixed(3)
      })`,
    );
  }
  assert.deepEqual(planner.previousProbs!.shape, [H, STARTS.length, 4]);
  // the payload rolls out through the model (one-hot discrete actions)
  const traj = model.rollout(model.encode(startTensor()), plan);
  assert.deepEqual(traj.rewards!.shape, [H, STARTS.length]);
  model.dispose();
});

Deno.test("planners: random shooting is between random and CEM; policy baseline needs a policy", async () => {
  const model = new PointModel();
  const rs = new RandomShootingPlanner(model, {
    horizon: H,
    numSamples: 256,
    discount: 1,
    generator: new Generator(5),
  });
  const plan = rs.plan(model.encode(startTensor()));
  checkPayload(plan, STARTS.length, 2);
  const got = model.trueReturns(STARTS, await hostPlan(plan.tensor!));
  const base = randomBaseline(model, false);
  got.forEach((g, b) => assert.ok(g > base.mean[b], `${g} vs ${base.mean[b]}`));
  assert.throws(() => new PolicyPlanner(model), /no policy prior/);
  assert.throws(() => new CategoricalCEMPlanner(model), /discrete/);
  model.dispose();
});

Deno.test("planners: a compiled MPPI plan equals the uncompiled one (cold, warm, eval; after a parameter update)", async () => {
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [5],
    actionDim: 2,
    seed: 3,
  }) as TDMPC2WorldModel;
  const settings = { ...model.plannerDefaults(), numSamples: 48, numElites: 6, numPiTrajs: 4 };
  const compiled = new MPPIPlanner(model, { ...settings, generator: new Generator(7) });
  const eager = new MPPIPlanner(model, {
    ...settings,
    generator: new Generator(7),
    compile: false,
  });
  const obs = tensor(Array.from({ length: 15 }, (_, i) => Math.sin(i)), [3, 5]);
  const same = async (opts: { t0?: boolean; evalMode?: boolean }, label: string) => {
    const a = compiled.plan(obs, opts), b = eager.plan(model.encode(obs), opts);
    const c = compiled.plan(model.encode(obs), opts), d = eager.plan(model.encode(obs), opts);
    for (const [x, y, what] of [[a, b, "observations"], [c, d, "state"]] as const) {
      assert.deepEqual(await x.tensor!.data(), await y.tensor!.data(), `${label} (${what})`);
      const v = (p: typeof x) => (p.extras!["wf.planner.value"] as Tensor).data();
      assert.deepEqual(await v(x), await v(y), `${label} (${what}): value`);
    }
    assert.deepEqual(await compiled.previousMean!.data(), await eager.previousMean!.data());
  };
  await same({ t0: true }, "cold");
  await same({}, "warm");
  await same({ evalMode: true }, "warm, eval");
  await same({}, "warm again (replayed)");
  // Parameters updated in place (as an optimizer does): the replay reads the new values.
  for (const p of model.parameters()) p.assign(p.mul(1.05));
  await same({}, "after an update");
  compiled.dispose();
  model.dispose();
});

Deno.test("planners: MPPI imagines the policy trajectories once per plan (deterministic steps), with the plan of imagining them every iteration", async () => {
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [5],
    actionDim: 2,
    seed: 5,
  }) as TDMPC2WorldModel;
  const [B, N, P, iterations] = [3, 40, 6, 3];
  const settings = {
    ...model.plannerDefaults(),
    numSamples: N,
    numElites: 5,
    numPiTrajs: P,
    iterations,
  };
  const H = settings.horizon;
  // The reward and Q heads start at zero (official init): give every weight values, so that
  // candidates have different returns.
  const g = new Generator(2);
  for (const p of model.parameters()) p.assign(p.add(randn(p.shape, { generator: g }).mul(0.3)));
  // Rows of the imagined steps after the first (the first is the shared step from each state).
  let rows = 0;
  const step = model.imagineStep.bind(model);
  model.imagineStep = (state, action) => {
    rows += state.batchSize;
    return step(state, action);
  };
  const flags = model as { deterministicImagination: boolean };
  const obs = tensor(Array.from({ length: 3 * 5 }, (_, i) => Math.cos(i)), [B, 5]);
  for (const compile of [false, true]) {
    const plan = async (reuse: boolean) => {
      flags.deterministicImagination = reuse;
      const planner = new MPPIPlanner(model, {
        ...settings,
        generator: new Generator(11),
        compile,
      });
      rows = 0;
      const out = planner.plan(obs, { t0: true });
      const rowsImagined = rows;
      const got = {
        plan: await out.tensor!.data(),
        value: await (out.extras!["wf.planner.value"] as Tensor).data(),
        rows: rowsImagined,
      };
      planner.dispose();
      return got;
    };
    const reused = await plan(true), again = await plan(false);
    if (!compile) {
      // pi: H - 1 steps after the shared first one (reused), or the H - 1 steps of the policy
      // rollout (again); then each iteration: its samples only, or all N candidates.
      assert.equal(reused.rows, (H - 1) * B * P + iterations * (H - 1) * B * (N - P));
      assert.equal(again.rows, (H - 1) * B * P + iterations * (H - 1) * B * N);
    }
    for (const k of ["plan", "value"] as const) {
      const [x, y] = [reused[k], again[k]];
      assert.equal(x.length, y.length);
      for (let i = 0; i < x.length; i++) {
        assert.ok(
          Math.abs(x[i] - y[i]) <= 1e-4 * (1 + Math.abs(y[i])),
          `${k}[${i}]: ${x[i]} vs ${y[i]} (compile ${compile})`,
        );
      }
    }
  }
  model.dispose();
});

Deno.test("planners: MPPI iterations equal the official update computed by hand (elites, temperature-weighted mean and std, clamps)", async () => {
  const model = new PointModel();
  const [H2, N, E, T] = [2, 8, 3, 0.5];
  const planner = new MPPIPlanner(model, {
    horizon: H2,
    numSamples: N,
    numElites: E,
    iterations: 2,
    temperature: T,
    minStd: 0.05,
    maxStd: 2,
    discount: 0.9,
    generator: new Generator(21),
  });
  const start: [number, number] = [-0.3, 0.2];
  const p = planner.plan(tensor([start], [1, 2]), { t0: true, evalMode: true });
  const chosen = (await hostPlan(p.tensor!)).map((s) => s[0]); // [H][A]
  const got = (await hostPlan(planner.previousMean!)).map((s) => s[0]);
  // By hand (official TDMPC2._plan without policy trajectories and terminal value): the plan
  // draws r [H, 1, N, A] per iteration from its generator, first thing.
  const g = new Generator(21);
  let mean = [[0, 0], [0, 0]];
  let std = [[2, 2], [2, 2]];
  let elites: number[][][] = [];
  for (let it = 0; it < 2; it++) {
    const r = await randn([H2, 1, N, 2], { generator: g }).array() as number[][][][];
    const seqs = Array.from(
      { length: N },
      (_, n) =>
        Array.from(
          { length: H2 },
          (_, t) =>
            [0, 1].map((i) => Math.max(-1, Math.min(1, mean[t][i] + std[t][i] * r[t][0][n][i]))),
        ),
    );
    const values = seqs.map((s) => model.trueReturns([start], s.map((a) => [a]), 0.9)[0]);
    const order = values.map((v, n) => [v, n]).sort((a, b) => b[0] - a[0]).slice(0, E);
    elites = order.map(([, n]) => seqs[n]);
    const maxV = order[0][0];
    let score = order.map(([v]) => Math.exp(T * (v - maxV)));
    const total = score.reduce((a, b) => a + b, 0);
    score = score.map((s) => s / total);
    const sum = score.reduce((a, b) => a + b, 0) + 1e-9;
    mean = [0, 1].map((t) =>
      [0, 1].map((i) => elites.reduce((acc, e, k) => acc + score[k] * e[t][i], 0) / sum)
    );
    std = [0, 1].map((t) =>
      [0, 1].map((i) => {
        const v = elites.reduce((acc, e, k) => acc + score[k] * (e[t][i] - mean[t][i]) ** 2, 0);
        return Math.min(2, Math.max(0.05, Math.sqrt(v / sum)));
      })
    );
  }
  for (let t = 0; t < H2; t++) {
    for (let i = 0; i < 2; i++) {
      assert.ok(
        Math.abs(got[t][i] - mean[t][i]) < 1e-5,
        `mean[${t}][${i}] ${got[t][i]} vs ${mean[t][i]}`,
      );
    }
  }
  // evalMode: the chosen sequence is one of the last iteration's elites, without noise.
  const match = elites.some((e) =>
    e.every((a, t) => a.every((x, i) => Math.abs(x - chosen[t][i]) < 1e-6))
  );
  assert.ok(match, `chosen ${JSON.stringify(chosen)} is an elite`);
  model.dispose();
});

Deno.test("planners: CEM and categorical CEM share MPPI's compiled body (compiled plans equal uncompiled ones)", async () => {
  for (const discrete of [false, true]) {
    const model = new PointModel([0.8, -0.6], 0.3, discrete);
    const make = (compile: boolean) => {
      const opts = { horizon: H, numSamples: 32, numElites: 6, iterations: 3, compile };
      const generator = new Generator(11);
      return discrete
        ? new CategoricalCEMPlanner(model, { ...opts, generator })
        : new CEMPlanner(model, { ...opts, generator, momentum: 0.2 });
    };
    const compiled = make(true), eager = make(false);
    for (const opts of [{ t0: true }, {}, { evalMode: true }]) {
      const a = compiled.plan(model.encode(startTensor()), opts);
      const b = eager.plan(model.encode(startTensor()), opts);
      const label = `${discrete ? "categorical" : "gaussian"} ${JSON.stringify(opts)}`;
      assert.deepEqual(await a.tensor!.data(), await b.tensor!.data(), label);
      const v = (p: typeof a) => (p.extras!["wf.planner.value"] as Tensor).data();
      assert.deepEqual(await v(a), await v(b), `${label}: value`);
    }
    compiled.dispose();
    eager.dispose();
    model.dispose();
  }
});
