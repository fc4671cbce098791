/**
 * Smoke tests of the learning runs (`examples/learn_*.ts`): a tiny online loop per family with
 * its own controller — TD-MPC2 (MPPI with the policy prior) on Pendulum-v1, DreamerV3 (its
 * actor on the filtered RSSM state) on CartPole-v1 — runs, updates, evaluates, and its losses are
 * finite. Not the learning claim itself (docs/learning_results.md has that); plus the pieces the
 * DreamerV3 runs rely on: batches that are windows of the replay stream (episode starts inside
 * the sequences), the controller's state across steps and episodes, and masked (zero-padded)
 * batches (the offline trainer's short episodes).
 * @module
 */

import assert from "node:assert/strict";
import {
  createWorldModel,
  dreamerV3Controller,
  dreamerV3TrainStep,
  type DreamerV3WorldModel,
  makeEnvSync,
  type Metrics,
  parseTrainingConfig,
  tdmpc2Controller,
  type TDMPC2WorldModel,
  type Tensor,
  tensor,
  trainOnline,
  type TrainStep,
} from "../../mod.ts";
import { percentiles } from "../../src/models/dreamerv3/losses.ts";
import type { DreamerV3ControllerState } from "../../src/models/dreamerv3/controller.ts";
import { tempDir } from "./helpers.ts";

const finite = (m: Metrics | null | undefined, keys: readonly string[]) => {
  assert.ok(m, "no metrics");
  for (const k of keys) assert.ok(Number.isFinite(m[k]), `${k} = ${m[k]}`);
};

Deno.test("learning smoke: TD-MPC2 online on Pendulum-v1 (MPPI controller) runs, evaluates, finite losses", async () => {
  const env = makeEnvSync("Pendulum-v1", { normalizeActions: true, maxEpisodeSteps: 50 });
  const evalEnv = makeEnvSync("Pendulum-v1", { normalizeActions: true, maxEpisodeSteps: 50 });
  const model = await createWorldModel("tdmpc2:ci", {
    obsShape: [3],
    actionDim: 1,
    episodeLength: 50,
    seed: 0,
  }) as TDMPC2WorldModel;
  const logs: Metrics[] = [];
  const r = await trainOnline(model, env, {
    totalSteps: 200,
    prefillSteps: 100,
    batchSize: 16,
    sequenceLength: 4,
    logInterval: 50,
    evalInterval: 200,
    evalEpisodes: 1,
    seed: 0,
    outputDir: await tempDir(),
  }, {
    controller: tdmpc2Controller(model, { iterations: 2, numSamples: 32, numElites: 8 }),
    evalEnv,
    defaultCallbacks: false,
    log: () => {},
    callbacks: [{ onLog: (_s, m) => void logs.push(m) }],
  });
  assert.equal(r.summary.steps, 200);
  assert.equal(r.summary.updates, 101);
  assert.equal(r.evaluations.length, 1);
  assert.equal(r.evaluations[0].lengths[0], 50);
  assert.ok(Number.isFinite(r.evaluations[0].meanReturn));
  const last = logs[logs.length - 1];
  finite(last, ["loss", "consistency_loss", "reward_loss", "value_loss", "pi_loss"]);
  // The controller acted after the prefill (training episodes 3 and 4 are its own).
  assert.equal(r.episodes.length, 4);
});

Deno.test("learning smoke: DreamerV3 online on CartPole-v1 (actor controller) runs, evaluates, finite losses", async () => {
  const env = makeEnvSync("CartPole-v1");
  const evalEnv = makeEnvSync("CartPole-v1", { maxEpisodeSteps: 60 });
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed: 0,
  }) as DreamerV3WorldModel;
  const logs: Metrics[] = [];
  const notes: string[] = [];
  const config = {
    totalSteps: 300,
    prefillSteps: 150,
    trainRatio: 1 / 16,
    batchSize: 4,
    sequenceLength: 32,
    logInterval: 100,
    evalInterval: 300,
    evalEpisodes: 2,
    seed: 0,
    outputDir: await tempDir(),
  };
  // The family's own step, watched: the batches it gets and their episode starts.
  const inner = dreamerV3TrainStep(model, parseTrainingConfig(config));
  const firsts: Tensor[] = [];
  const step: TrainStep = {
    get description() {
      return inner.description;
    },
    optimizers: inner.optimizers,
    get compiled() {
      return inner.compiled;
    },
    get fallbackReason() {
      return inner.fallbackReason;
    },
    crossEpisodes: inner.crossEpisodes,
    step: (b) => {
      assert.equal(b.mask ?? null, null, "no padding");
      firsts.push((b.extras!.isFirst as Tensor).clone());
      return inner.step(b);
    },
    stateDict: () => inner.stateDict(),
    loadStateDict: (st) => inner.loadStateDict(st),
    dispose: () => inner.dispose(),
  };
  const r = await trainOnline(model, env, config, {
    evalEnv, // the family's controller
    trainStep: step,
    defaultCallbacks: false,
    log: (m) => notes.push(m),
    callbacks: [{ onLog: (_s, m) => void logs.push(m) }],
  });
  assert.equal(r.summary.steps, 300);
  assert.ok(r.summary.updates >= 9, String(r.summary.updates));
  assert.equal(r.evaluations.length, 1);
  assert.ok(r.evaluations[0].returns.every((x) => x >= 1 && x <= 60));
  // DreamerV3 trains on windows of the replay stream: random CartPole episodes are shorter than
  // 32 steps, so episodes start inside the sequences (isFirst at t > 0) and nothing is padded.
  assert.equal(inner.crossEpisodes, true);
  assert.equal(firsts.length, r.summary.updates);
  let inside = 0;
  for (const f of firsts) {
    const v = await f.data() as Float32Array;
    for (let i = 0; i < v.length; i++) if (i % 32 && v[i]) inside++;
    f.dispose();
  }
  assert.ok(inside >= r.summary.updates * 4, `${inside} episode starts inside sequences`);
  assert.ok(!notes.some((n) => /zero-padded/.test(n)), notes.join("\n"));
  inner.dispose();
  finite(logs[logs.length - 1], [
    "loss",
    "wm/rec",
    "wm/rew",
    "wm/con",
    "wm/kl",
    "ac/policy",
    "ac/value",
    "ac/ret",
  ]);
});

Deno.test("learning smoke: DreamerV3 controller carries the posterior and action, resets per episode", async () => {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed: 1,
  }) as DreamerV3WorldModel;
  const space = { kind: "discrete", n: 2 } as const;
  const c = dreamerV3Controller(model);
  const info = (explore: boolean, t: number) => ({
    explore,
    envStep: 0,
    episodeStep: t,
    actionSpace: space,
  });
  const obs = [0.02, -0.01, 0.03, 0.01];
  const run = async (explore: boolean) => {
    let s = c.reset!({ explore }) as DreamerV3ControllerState | null;
    assert.equal(s, null);
    const acts: number[][] = [];
    for (let t = 0; t < 3; t++) {
      const r = await c.act(Float32Array.from(obs), s, info(explore, t));
      const out = r as { action: import("../../mod.ts").Tensor; state: DreamerV3ControllerState };
      const a = Array.from(await out.action.data() as Float32Array);
      out.action.dispose();
      assert.equal(a.length, 2);
      assert.equal(a[0] + a[1], 1); // one-hot
      assert.deepEqual(out.state.action.shape, [1, 2]);
      assert.deepEqual(out.state.deter.shape, [1, model.config.deter]);
      // The previous state was consumed.
      if (s) assert.ok(s.deter.isDisposed);
      s = out.state;
      acts.push(a);
    }
    return { acts, s: s! };
  };
  const e1 = await run(false);
  const e2 = await run(false);
  // Evaluation is deterministic (posterior and actor modes) and restarts from is_first.
  assert.deepEqual(e2.acts, e1.acts);
  assert.ok(e1.s.deter.isDisposed, "reset released the last state of the previous episode");
  const d = await e2.s.deter.data();
  assert.ok(Array.from(d as Float32Array).every(Number.isFinite));
  // The posterior is deterministic in evaluation: filtering the same observations from the
  // same state twice gives the same deter.
  assert.throws(() => c.act(Float32Array.from(obs), e1.s, info(false, 3)), /already used/);
  await run(true); // sampling works too
});

Deno.test("learning smoke: masked percentiles ignore padding (DreamerV3 return normalisation)", async () => {
  const x = tensor([5, 1, 100, 3, 2, -50, 4, 7], [2, 4]);
  const m = tensor([1, 1, 0, 1, 1, 0, 1, 1], [2, 4]);
  const kept = tensor([5, 1, 3, 2, 4, 7]);
  const qs = [0, 5, 50, 95, 100];
  const a = await Promise.all(percentiles(x, qs, m).map((t) => t.item()));
  const b = await Promise.all(percentiles(kept, qs).map((t) => t.item()));
  for (let i = 0; i < qs.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${a} vs ${b}`);
});

Deno.test("learning smoke: DreamerV3 losses ignore what the padding of a short episode holds", async () => {
  // A 5-step episode (terminal at its last step) padded to 8 steps: the world-model and
  // actor-critic losses are the same whether the padding holds zeros (as the replay buffer
  // writes) or anything else. (The terminal step's continue and reward are predicted from the
  // prior, as in imagination, not from the posterior of a padding observation; imagination
  // from padded steps carries no weight and no return percentile.)
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed: 3,
  }) as DreamerV3WorldModel;
  const B = 2, L = 5, T = 8;
  const batchOf = (garbage: boolean) => {
    const obs = new Float32Array(B * T * 4), acts = new Float32Array(B * T * 2);
    const rew = new Float32Array(B * T), term = new Float32Array(B * T);
    const mask = new Float32Array(B * T), first = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      const len = b === 0 ? L : T;
      first[b * T] = 1;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const real = t < len;
        for (let k = 0; k < 4; k++) {
          obs[i * 4 + k] = real ? Math.sin(b + t + k) : garbage ? 3 * Math.cos(7 * t + k) : 0;
        }
        if (real || garbage) acts[i * 2 + ((t + b) % 2)] = 1;
        rew[i] = real ? 1 : garbage ? 5 : 0;
        term[i] = real ? (t === len - 1 && b === 0 ? 1 : 0) : garbage ? 1 : 0;
        mask[i] = real ? 1 : 0;
      }
    }
    return {
      obs: tensor(obs, [B, T, 4]),
      actions: tensor(acts, [B, T, 2]),
      rewards: tensor(rew, [B, T]),
      terminations: tensor(term, [B, T]),
      mask: tensor(mask, [B, T]),
      extras: { isFirst: tensor(first, [B, T]) },
    };
  };
  const { Generator } = await import("../../mod.ts");
  const lossesOf = async (garbage: boolean) => {
    const gen = new Generator(7);
    model.sampleGenerator = gen;
    const batch = batchOf(garbage);
    const { out, post } = model.lossWithStates(batch);
    const ac = model.actorCritic!.loss(post, { generator: gen, mask: batch.mask.reshape([B * T]) });
    const m: Record<string, number> = {};
    for (const [k, v] of Object.entries(out.metrics)) {
      if (k !== "prior_ent" && k !== "post_ent") m[`wm/${k}`] = await v.item();
    }
    for (const k of ["policy", "value", "ret", "ret_lo", "ret_hi"]) {
      m[`ac/${k}`] = await ac.metrics[k].item();
    }
    const res = model.lossWithStates(batch);
    m["ac/repval"] = await model.actorCritic!.replayLoss({
      feat: res.feat,
      succ: res.succ,
      rewards: batch.rewards,
      terminations: batch.terminations,
      isFirst: batch.extras.isFirst,
      mask: batch.mask,
      boot: ac.startReturn.reshape([B, T]),
    }).item();
    model.sampleGenerator = undefined;
    return m;
  };
  const zeros = await lossesOf(false);
  const other = await lossesOf(true);
  for (const k of Object.keys(zeros)) {
    assert.ok(Number.isFinite(zeros[k]), `${k} = ${zeros[k]}`);
    assert.ok(
      Math.abs(zeros[k] - other[k]) <= 1e-5 * (1 + Math.abs(zeros[k])),
      `${k}: ${zeros[k]} vs ${other[k]}`,
    );
  }
});
