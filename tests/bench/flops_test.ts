/**
 * The FLOP counts of bench/torch_compare.ts (`--flops`) against a hand count: one TD-MPC2 MPPI
 * plan. `kernelFlops` over the kernels of a compiled replay must equal the count written out
 * from the network shapes; at the `tdmpc2:5m` sizes the same hand count gives the figures the
 * benchmark prints (PyTorch's FlopCounterMode: 35,752,660,480; ours: 31,603,154,944).
 * @module
 */

import assert from "node:assert/strict";
import * as wf from "../../mod.ts";
import { Generator, randn } from "../../src/tensor/random.ts";
import { keep, type Tensor } from "../../src/tensor/tensor.ts";
import type { ConvKernel } from "../../src/backend/types.ts";
import { contiguousView } from "../../src/ir/view.ts";
import { kernelFlops, profileReplays } from "../../bench/kernel_groups.ts";

/** Sizes of a TD-MPC2 model and its planner. */
interface PlanSizes {
  readonly obs: number;
  readonly act: number;
  readonly enc: number;
  readonly hid: number;
  readonly lat: number;
  readonly bins: number;
  readonly samples: number;
  readonly piTrajs: number;
  readonly iterations: number;
  readonly horizon: number;
}

/**
 * Flops (2 per multiply-add) of one MPPI plan, by hand. The networks (official TD-MPC2):
 * encoder obs -> enc -> lat; dynamics (lat + act) -> hid -> hid -> lat; reward (lat + act) ->
 * hid -> hid -> bins; policy lat -> hid -> hid -> 2 act; each Q head (lat + act) -> hid -> hid ->
 * bins. One plan:
 * - the policy prior: P trajectories, H policy evaluations and H - 1 dynamics steps;
 * - each of the I iterations, over all N samples: H steps of dynamics + reward, then the policy
 *   and two Q heads at the last state (the terminal value);
 * - PyTorch (bench/torch_compare.py `TDMPC2.plan`) encodes the observation inside the plan; ours
 *   is handed the encoded state, and evaluates the first step's latent part of the dynamics and
 *   reward input layers once per state (`imagineStepShared`: the samples start from the same
 *   latent), so each first step of n rows saves (n - 1) x lat x hid multiply-adds in each of the
 *   two; and ours imagines the P policy trajectories once (all H steps of dynamics + reward, the
 *   first shared), so each iteration imagines only its N - P new samples (the terminal value is
 *   still evaluated for all N).
 *
 * `tdmpc2:5m` (obs 39, act 6, enc 256, hid 512, lat 512, bins 101, N 512, P 24, I 6, H 3), in
 * multiply-adds per row: dynamics 518x512 + 512x512 + 512x512 = 789,504; reward and each Q head
 * 518x512 + 512x512 + 512x101 = 579,072; policy 512x512 + 512x512 + 512x12 = 530,432; encoder
 * 39x256 + 256x512 = 141,056. Per iteration 512 x (3 x (789,504 + 579,072) + 530,432 +
 * 2 x 579,072) = 2,966,683,648; the prior 24 x (3 x 530,432 + 2 x 789,504) = 76,087,296. PyTorch:
 * 2 x (141,056 + 76,087,296 + 6 x 2,966,683,648) = 35,752,660,480 flops, which is what
 * `python bench/torch_compare.py tdmpc2-5m-plan --flops` counts. Ours: the prior 24 x (3 x
 * 530,432 + 3 x (789,504 + 579,072)) - 2 x 23 x 512 x 512 = 124,669,952; per iteration 488 x 3 x
 * (789,504 + 579,072) - 2 x 487 x 512 x 512 + 512 x (530,432 + 2 x 579,072) = 2,612,817,920;
 * no encoder: 2 x (124,669,952 + 6 x 2,612,817,920) = 31,603,154,944.
 */
function planFlops(s: PlanSizes, ours: boolean): number {
  const mlp = (dims: number[]) => dims.slice(1).reduce((a, d, i) => a + dims[i] * d, 0);
  const { obs, act, enc, hid, lat, bins, samples: N, piTrajs: P, iterations: I, horizon: H } = s;
  const dyn = mlp([lat + act, hid, hid, lat]);
  const rew = mlp([lat + act, hid, hid, bins]);
  const pi = mlp([lat, hid, hid, 2 * act]);
  const q = mlp([lat + act, hid, hid, bins]);
  const shared = (n: number) => 2 * (n - 1) * lat * hid; // first step of n rows from one latent
  if (!ours) {
    const prior = P * (H * pi + (H - 1) * dyn);
    return 2 * (mlp([obs, enc, lat]) + prior + I * N * (H * (dyn + rew) + pi + 2 * q));
  }
  const prior = P * (H * pi + H * (dyn + rew)) - shared(P);
  const perIteration = (N - P) * H * (dyn + rew) - shared(N - P) + N * (pi + 2 * q);
  return 2 * (prior + I * perIteration);
}

const FIVE_M: PlanSizes = {
  obs: 39,
  act: 6,
  enc: 256,
  hid: 512,
  lat: 512,
  bins: 101,
  samples: 512,
  piTrajs: 24,
  iterations: 6,
  horizon: 3,
};

Deno.test("hand count of the tdmpc2:5m plan: PyTorch's FlopCounterMode figure and ours", () => {
  assert.equal(planFlops(FIVE_M, false), 35_752_660_480);
  assert.equal(planFlops(FIVE_M, true), 31_603_154_944);
});

Deno.test("kernelFlops over a compiled MPPI plan's replay equals the hand count", async () => {
  // Small, all sizes different (a swapped dimension in the count would show).
  const s: PlanSizes = {
    obs: 5,
    act: 3,
    enc: 16,
    hid: 24,
    lat: 16,
    bins: 101,
    samples: 40,
    piTrajs: 4,
    iterations: 2,
    horizon: 3,
  };
  const model = await wf.createWorldModel("tdmpc2:ci", {
    obsShape: [s.obs],
    actionDim: s.act,
    encDim: s.enc,
    hiddenDim: s.hid,
    latentDim: s.lat,
    numQNetworks: 3,
    numSamples: s.samples,
    numPiTrajs: s.piTrajs,
    numElites: 8,
    iterations: s.iterations,
    seed: 1,
  }) as wf.TDMPC2WorldModel;
  const planner = new wf.MPPIPlanner(model, {
    ...model.plannerDefaults(),
    generator: new Generator(5),
  });
  const obs = keep(randn([1, s.obs], { seed: 6 }).realize());
  const plan = async () => {
    const p = planner.plan(model.encode(obs)); // as torch_compare.ts: encoded outside the plan
    await (p.tensor as Tensor).data();
  };
  await plan(); // traced; the next ones replay
  await plan();
  const { rows } = await profileReplays(plan, 1, () => performance.now());
  assert.equal(rows.reduce((a, [, g]) => a + g.flop, 0), planFlops(s, true));
  planner.dispose();
});

Deno.test("kernelFlops: convolutions by output pixels, transposed ones by input pixels", () => {
  const geom = {
    n: 2,
    cin: 3,
    h: 8,
    w: 6,
    cout: 5,
    kh: 4,
    kw: 4,
    stride: 2,
    padding: 1,
    outH: 4,
    outW: 3,
  };
  const bv = { buf: null as never, view: contiguousView([1]) };
  const conv = (mode: ConvKernel["mode"]): ConvKernel => ({
    kind: "conv",
    mode,
    geom,
    x: bv,
    w: bv,
    bias: null,
    out: bv,
  });
  const perPixel = 2 * 2 * 5 * 3 * 16;
  assert.equal(kernelFlops(conv("conv2d")), perPixel * 4 * 3);
  assert.equal(kernelFlops(conv("conv2dWeightGrad")), perPixel * 4 * 3);
  assert.equal(kernelFlops(conv("convTranspose2d")), perPixel * 8 * 6);
  assert.equal(kernelFlops(conv("convTranspose2dWeightGrad")), perPixel * 8 * 6);
});
