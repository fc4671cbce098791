/**
 * The contract smoke: a CI-sized DreamerV3 (`dreamer:ci`) trained for a few steps on a replay
 * buffer of random episodes, then encode -> rollout -> decode, save and reload. It checks the
 * installation and the world-model contract on the CPU; it is not a benchmark and learns nothing
 * real (the data are noise).
 *
 *   deno run -A examples/quickstart.ts            # 60 training steps
 *   deno run -A examples/quickstart.ts --quick    # 20 steps
 *
 * Writes the trained model to outputs/quickstart/model.
 * @module
 */

import {
  createWorldModel,
  fromPretrained,
  noGrad,
  randn,
  ReplayBuffer,
  tidy,
  train,
} from "../mod.ts";

const quick = Deno.args.includes("--quick");
const steps = quick ? 20 : 60;
const outDir = "outputs/quickstart";
const t0 = performance.now();
const OBS = 8, ACT = 2, EPISODES = 16, T = 64;

// 1. A replay buffer of random episodes (obs [8], continuous actions [2]).
const buffer = new ReplayBuffer({ capacity: EPISODES * T, obsShape: [OBS], actionDim: ACT });
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
for (let e = 0; e < EPISODES; e++) {
  buffer.addEpisode({
    obs: Array.from({ length: T }, () => Array.from({ length: OBS }, rand)),
    actions: Array.from({ length: T }, () => Array.from({ length: ACT }, rand)),
    rewards: Array.from({ length: T }, rand),
    dones: Array.from({ length: T }, (_, t) => t === T - 1),
  });
}

// 2. A CI-sized DreamerV3 on the cpu device, trained for a few steps.
const model = await createWorldModel("dreamer:ci", {
  obsShape: [OBS],
  actionDim: ACT,
  device: "cpu",
});
const params = model.parameters().reduce((n, p) => n + p.size, 0);
const losses: number[] = [];
await train(model, buffer, {
  totalSteps: steps,
  batchSize: 8,
  sequenceLength: 16,
  logInterval: 10,
  outputDir: outDir,
  defaultCallbacks: false,
  callbacks: [{ onLog: (_step, m) => void losses.push(m.loss) }],
});

// 3. The contract: encode observations, imagine 15 steps ahead, decode.
const obs = randn([4, OBS], { seed: 7 });
const actions = randn([15, 4, ACT], { seed: 8 }).tanh();
const { rewardShape, continueShape, obsShape, first } = tidy(() =>
  noGrad(() => {
    const state = model.encode(obs, { deterministic: true });
    const traj = model.rollout(state, actions, { deterministic: true });
    const out = model.decode(traj.states[traj.states.length - 1]);
    return {
      rewardShape: traj.rewards!.shape,
      continueShape: traj.continues!.shape,
      obsShape: out.predictions.obs.shape,
      first: state.tensors.deter.sum(),
    };
  })
);
const deterSum = await first.item();
first.dispose();

// 4. Save and reload: the reloaded model encodes the same observations to the same state.
await model.savePretrained(`${outDir}/model`);
const again = await fromPretrained(`${outDir}/model`, { device: "cpu" });
const second = tidy(() =>
  noGrad(() => again.encode(obs, { deterministic: true }).tensors.deter.sum())
);
const reloadedSum = await second.item();
second.dispose();
const same = Math.abs(deterSum - reloadedSum) <= 1e-5 * Math.max(1, Math.abs(deterSum));

const fmt = (xs: readonly number[]) => `[${xs.join(", ")}]`;
console.log(`worldflux quickstart (contract smoke${quick ? ", --quick" : ""})
  model:        ${model.modelType} dreamer:ci, ${
  params.toLocaleString("en-US")
} parameters, device ${model.device}
  data:         ${buffer.size} random transitions in ${buffer.numEpisodes} episodes
  training:     ${steps} steps, loss ${losses[0]?.toFixed(3)} -> ${
  losses[losses.length - 1]?.toFixed(3)
}
  encode:       obs [4, ${OBS}] -> state {deter, stoch}
  rollout:      15 imagined steps: rewards ${fmt(rewardShape)}, continues ${fmt(continueShape)}
  decode:       predicted obs ${fmt(obsShape)}
  save/reload:  ${outDir}/model, same encoding after reload: ${same ? "yes" : "NO"}
  time:         ${((performance.now() - t0) / 1000).toFixed(1)}s
${same ? "quickstart: OK" : "quickstart: FAILED"}`);

obs.dispose();
actions.dispose();
model.dispose();
again.dispose();
if (!same) Deno.exit(1);
