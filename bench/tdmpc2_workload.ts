/**
 * The TD-MPC2 workloads the CPU profilers share (`step_profile.ts`, `cpu_step.ts`): a compiled
 * agent update on a fixed random batch (B 256, T 4) or one MPPI plan from a fixed observation,
 * kept warm and run by the returned function.
 *
 *   const run = await tdmpc2Workload("cheetah", "plan");
 *   await run();
 * @module
 */

import * as wf from "../mod.ts";
import { Generator, rand, randn } from "../src/tensor/random.ts";
import { keep } from "../src/tensor/tensor.ts";

type Tensor = wf.Tensor;

/**
 * The HalfCheetah evidence runs' model and planner over `tdmpc2:ci`
 * (examples/evidence_tdmpc2_halfcheetah.ts: obs 17, latent 64, MLPs 128, encoder 128, 2 Q heads;
 * MPPI 256 x 4, 64 elites, 24 policy trajectories).
 */
export const CHEETAH_SIZE = {
  latentDim: 64,
  hiddenDim: 128,
  encDim: 128,
  numQNetworks: 2,
  numSamples: 256,
  iterations: 4,
  numElites: 64,
  numPiTrajs: 24,
} as const;

/** Which model: the HalfCheetah size (obs 17), or a preset with obs 39. */
export type TDMPC2WorkloadSize = "cheetah" | "ci" | "5m";

/** Builds the workload and returns one call of it (the result read back, outputs freed). */
export async function tdmpc2Workload(
  size: TDMPC2WorkloadSize,
  kind: "update" | "plan",
): Promise<() => Promise<void>> {
  const cheetah = size === "cheetah";
  const OBS = cheetah ? 17 : 39;
  const model = await wf.createWorldModel(cheetah ? "tdmpc2:ci" : `tdmpc2:${size}`, {
    obsShape: [OBS],
    actionDim: 6,
    seed: 1,
    ...(cheetah ? CHEETAH_SIZE : {}),
  }) as wf.TDMPC2WorldModel;
  if (kind === "plan") {
    const planner = new wf.MPPIPlanner(model, {
      ...model.plannerDefaults(),
      generator: new Generator(5),
    });
    const obs = keep(randn([1, OBS], { seed: 6 }).realize());
    return async () => {
      const p = planner.plan(model.encode(obs));
      await (p.tensor as Tensor).data();
    };
  }
  const agent = new wf.TDMPC2Agent(model, { seed: 3 });
  const g = new Generator(2);
  const B = 256, T = 4;
  const batch: [Tensor, Tensor, Tensor, Tensor] = [
    keep(randn([B, T, OBS], { generator: g }).realize()),
    keep(rand([B, T, 6], { generator: g }).mul(2).sub(1).realize()),
    keep(randn([B, T], { generator: g }).realize()),
    keep(wf.zeros([B, T]).contiguous().realize()),
  ];
  const step = agent.compiled();
  return async () => {
    const info = step(...batch);
    await info.total_loss.item();
    for (const x of Object.values(info)) x.dispose();
  };
}
