import assert from "node:assert/strict";
import {
  type Batch,
  createWorldModel,
  fromPretrained,
  manualSeed,
  memoryInfo,
  MPPIPlanner,
  normalizePlannedAction,
  randn,
  realize,
  TDMPC2Agent,
  type TDMPC2WorldModel,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from "../../mod.ts";
import { keep } from "../../tensor.ts";
import { cpuBackend } from "../../src/backend/device.ts";
import { Parameter } from "../../src/nn/module.ts";
import { addPendingTarget } from "../../src/tensor/schedule.ts";
import { rng } from "./synthetic.ts";

/**
 * A learnable control task without episode ends: a point with velocity in the plane, pushed by
 * actions in [-1, 1]^2; reward `-|position|^2` after the step. Sequences of `T` steps.
 */
function controlBatch(
  B: number,
  T: number,
  seed: number,
): { obs: Tensor; actions: Tensor; rewards: Tensor } {
  const r = rng(seed);
  const obs = new Float32Array(B * T * 4);
  const act = new Float32Array(B * T * 2);
  const rew = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    let [x, y, vx, vy] = [r() * 2 - 1, r() * 2 - 1, r() - 0.5, r() - 0.5];
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      obs.set([x, y, vx, vy], i * 4);
      const [ax, ay] = [r() * 2 - 1, r() * 2 - 1];
      act.set([ax, ay], i * 2);
      vx = 0.8 * vx + 0.3 * ax;
      vy = 0.8 * vy + 0.3 * ay;
      x += 0.3 * vx;
      y += 0.3 * vy;
      rew[i] = -(x * x + y * y);
    }
  }
  return {
    obs: keep(tensor(obs, [B, T, 4])),
    actions: keep(tensor(act, [B, T, 2])),
    rewards: keep(tensor(rew, [B, T])),
  };
}

async function ciModel(seed = 1): Promise<TDMPC2WorldModel> {
  return await createWorldModel("tdmpc2:ci", {
    obsShape: [4],
    actionDim: 2,
    seed,
  }) as TDMPC2WorldModel;
}

async function heldOutLosses(model: TDMPC2WorldModel, batch: Batch) {
  manualSeed(5); // the random target-Q pair of the TD targets
  const out = tidy(() => model.loss(batch));
  const r: Record<string, number> = {};
  for (const [k, t] of Object.entries(out.metrics)) r[k] = await t.item();
  return r;
}

Deno.test("tdmpc2:ci trains on a synthetic control task (compiled agent update): consistency 5x, reward 3x, value 3x", async () => {
  const model = await ciModel();
  const agent = new TDMPC2Agent(model, { seed: 2, lr: 3e-3 });
  const data = Array.from({ length: 8 }, (_, i) => controlBatch(32, 4, 100 + i));
  const held = controlBatch(128, 4, 999);
  const before = await heldOutLosses(model, held);
  const step = agent.compiled();
  const noTerm = keep(zeros([32, 4]).contiguous().realize());
  let last: Record<string, Tensor> = {};
  for (let i = 0; i < 200; i++) {
    const d = data[i % data.length];
    for (const t of Object.values(last)) t.dispose();
    last = step(d.obs, d.actions, d.rewards, noTerm);
  }
  assert.equal(step.traceCount, 1, "one trace, replayed");
  for (const [k, t] of Object.entries(last)) assert.ok(Number.isFinite(await t.item()), k);
  const after = await heldOutLosses(model, held);
  const f = (k: string) => before[k] / after[k];
  const msg = `before ${JSON.stringify(before)} after ${JSON.stringify(after)}`;
  if (Deno.env.get("TDMPC2_TEST_VERBOSE")) console.log(msg);
  assert.ok(f("consistency_loss") >= 5, `consistency x${f("consistency_loss")}: ${msg}`);
  assert.ok(f("reward_loss") >= 3, `reward x${f("reward_loss")}: ${msg}`);
  assert.ok(f("value_loss") >= 3, `value x${f("value_loss")}: ${msg}`);
  // the learned reward head predicts rewards: open-loop predictions beat predicting the mean
  const obs0 = held.obs.narrow(1, 0, 1).squeeze(1);
  const acts = held.actions.narrow(1, 0, 3).swapAxes(0, 1);
  const trueR = held.rewards.narrow(1, 0, 3).swapAxes(0, 1);
  const traj = model.rollout(model.encode(obs0), acts);
  const mse = await traj.rewards!.sub(trueR).square().mean().item();
  const varR = await trueR.sub(trueR.mean()).square().mean().item();
  assert.ok(mse < 0.5 * varR, `reward mse ${mse} vs variance ${varR}`);
  if (Deno.env.get("TDMPC2_TEST_VERBOSE")) console.log(`reward mse ${mse} vs variance ${varR}`);
  // MPPI plans with the trained model (policy-prior trajectories, terminal Q)
  const planner = new MPPIPlanner(model, { ...model.plannerDefaults(), numSamples: 32 });
  const plan = planner.plan(model.encode(obs0.narrow(0, 0, 2)));
  assert.deepEqual(normalizePlannedAction(plan).tensor!.shape, [3, 2, 2]);
  agent.dispose();
  model.dispose();
});

Deno.test("tdmpc2 agent: the compiled update equals the eager one and reads nothing back", async () => {
  const batch = controlBatch(16, 4, 7);
  const terms = keep(zeros([16, 4]).contiguous().realize());
  const eagerModel = await ciModel(3);
  const compiledModel = await ciModel(3);
  const eager = new TDMPC2Agent(eagerModel, { seed: 9 });
  const comp = new TDMPC2Agent(compiledModel, { seed: 9 });
  const step = comp.compiled();
  const be = cpuBackend();
  const read = be.read.bind(be);
  let reads = 0;
  be.read = (...a: Parameters<typeof read>) => {
    reads++;
    return read(...a);
  };
  const infos: [Record<string, Tensor>, Record<string, Tensor>][] = [];
  try {
    for (let i = 0; i < 3; i++) {
      infos.push([
        tidy(() => eager.updateTensors(batch.obs, batch.actions, batch.rewards, terms)),
        step(batch.obs, batch.actions, batch.rewards, terms),
      ]);
    }
  } finally {
    be.read = read;
  }
  assert.equal(reads, 0, "no read-back inside updates");
  for (const [a, b] of infos) {
    for (const k of Object.keys(a)) assert.equal(await a[k].item(), await b[k].item(), k);
  }
  const sa = eagerModel.stateDict(), sb = compiledModel.stateDict();
  for (const k of Object.keys(sa)) {
    assert.deepEqual(await sa[k].data(), await sb[k].data(), k);
  }
  eager.dispose();
  comp.dispose();
});

Deno.test("tdmpc2 save/load: bit-identical round trip, target Q heads and the Q scale included", async () => {
  const model = await ciModel(4);
  const agent = new TDMPC2Agent(model, { seed: 1, lr: 1e-2 });
  const batch = controlBatch(16, 4, 11);
  for (let i = 0; i < 3; i++) tidy(() => agent.update(batch));
  const sd = model.stateDict();
  // the target heads moved away from the initial copy and differ from the live heads
  const diff = await sd["targetQs.layers.0.weight"].sub(sd["qs.layers.0.weight"]).abs().max()
    .item();
  assert.ok(diff > 0, "target heads lag the live heads");
  model.runningScale.commit(tensor([2.5])); // a scale that is not the initial 1
  const dir = await Deno.makeTempDir({ prefix: "wf-tdmpc2-" });
  try {
    await model.savePretrained(`${dir}/m`);
    const loaded = await fromPretrained(`${dir}/m`, { device: "cpu" }) as TDMPC2WorldModel;
    assert.equal(loaded.modelType, "tdmpc2");
    const sl = loaded.stateDict();
    assert.deepEqual(Object.keys(sl).sort(), Object.keys(sd).sort());
    for (const k of Object.keys(sd)) {
      const a = new Uint8Array((await sd[k].data() as Float32Array).buffer);
      const b = new Uint8Array((await sl[k].data() as Float32Array).buffer);
      assert.deepEqual(a, b, k);
    }
    assert.ok(Object.keys(sl).some((k) => k.startsWith("targetQs.")));
    // same predictions and losses
    const held = controlBatch(8, 4, 12);
    assert.deepEqual(await heldOutLosses(model, held), await heldOutLosses(loaded, held));
    loaded.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  agent.dispose();
  model.dispose();
});

Deno.test("tdmpc2 agent: statistics scheduled with the optimizer step release their graph; compiled updates keep memory flat", async () => {
  // The agent schedules the (already pending) loss again with its statistics: a node added
  // twice must still be released once scheduled (it leaked one reference per update before).
  const p = new Parameter(randn([4], { seed: 1 }));
  const baseline = memoryInfo().nodes;
  for (let i = 0; i < 3; i++) {
    tidy(() => {
      const loss = p.square().sum();
      loss.backward();
      addPendingTarget(loss._node);
      realize(p.grad!);
      p.zeroGrad();
    });
  }
  assert.equal(memoryInfo().nodes, baseline, "no node outlives its tensors");
  p.dispose();
  // compiled updates: the same buffers, nodes and tensors after every step
  const model = await ciModel(5);
  const agent = new TDMPC2Agent(model);
  const b = controlBatch(8, 4, 3);
  const terms = keep(zeros([8, 4]).contiguous().realize());
  const step = agent.compiled();
  const seen: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const info = step(b.obs, b.actions, b.rewards, terms);
    await info.total_loss.item();
    for (const t of Object.values(info)) t.dispose();
    const m = memoryInfo();
    seen.push([m.buffers, m.nodes, m.tensors]);
  }
  assert.deepEqual(seen[3], seen[1], JSON.stringify(seen));
  agent.dispose();
  model.dispose();
});
