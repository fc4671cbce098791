import assert from "node:assert/strict";
import {
  type Controller,
  createWorldModel,
  LoggingCallback,
  makeEnvSync,
  type Metrics,
  MLP_PRESETS,
  mlpConfigSchema,
  mlpFamilySpec,
  MLPWorldModel,
  parseTrainingConfig,
  randomController,
  resolveController,
  tdmpc2Controller,
  type TDMPC2WorldModel,
  tensor,
  trainOnline,
  WorldModelRegistry,
} from "../../mod.ts";
import { PointEnv, tempDir } from "./helpers.ts";

const quiet = { defaultCallbacks: false, log: () => {} } as const;

Deno.test("online: random prefill, updates at trainRatio, evaluations with returns in the logs", async () => {
  const env = new PointEnv(25);
  const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1 });
  const dir = await tempDir();
  const logs = new Map<number, Metrics>();
  const { summary, buffer, evaluations, episodes } = await trainOnline(model, env, {
    totalSteps: 200,
    prefillSteps: 50,
    trainRatio: 0.5,
    batchSize: 8,
    sequenceLength: 8,
    logInterval: 50,
    evalInterval: 100,
    evalEpisodes: 3,
    outputDir: dir,
  }, {
    ...quiet,
    controller: randomController(env.actionSpace, 3),
    callbacks: [new LoggingCallback(), { onLog: (s, m) => void logs.set(s, m) }],
  });
  assert.equal(summary.mode, "online");
  assert.equal(summary.steps, 200);
  // Updates from step 50 on: 151 steps x 0.5.
  assert.equal(summary.updates, 75);
  assert.equal(buffer.size, 200);
  assert.equal(episodes.length, 8);
  assert.ok(episodes.every((e) => e.length === 25 && e.return < 0));
  // Evaluations at 100 and 200 (episode boundaries), 3 episodes each from fixed start states.
  assert.deepEqual(evaluations.map((e) => e.envStep), [100, 200]);
  for (const e of evaluations) {
    assert.equal(e.returns.length, 3);
    assert.deepEqual(e.lengths, [25, 25, 25]);
    assert.ok(Math.abs(e.meanReturn - e.returns.reduce((a, b) => a + b) / 3) < 1e-9);
  }
  assert.deepEqual([...logs.keys()], [50, 100, 150, 200]);
  assert.equal(logs.get(50)!.loss, undefined); // no update before step 50 finished
  const m = logs.get(200)!;
  assert.ok(Number.isFinite(m.loss) && Number.isFinite(m.recon));
  assert.equal(m.env_steps, 200);
  assert.equal(m.updates, 75);
  assert.equal(m.episodes, 8);
  assert.ok(m.train_return < 0);
  const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const evalLines = lines.filter((l) => l.kind === "eval");
  assert.equal(evalLines.length, 2);
  assert.equal(evalLines[1].eval_returns.length, 3);
  assert.equal(evalLines[1].eval_return_mean, evaluations[1].meanReturn);
  assert.equal(summary.lastEval!.eval_return_mean, evaluations[1].meanReturn);
  // Evaluation resets come on top of training resets: 8 episodes + 1 initial reset, 6 eval.
  assert.equal(env.resets, 8 + 6);
});

Deno.test("online: prefillUpdates run once when the prefill ends, before the controller acts", async () => {
  const env = new PointEnv(25);
  const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1 });
  const updatesAt = new Map<number, number>();
  const acted: number[] = [];
  const random = randomController(env.actionSpace, 3);
  const controller: Controller = {
    act: (obs, _state, info) => {
      acted.push(info.envStep);
      return random.act(obs, undefined, info);
    },
  };
  const { summary } = await trainOnline(model, env, {
    totalSteps: 100,
    prefillSteps: 50,
    prefillUpdates: 20,
    trainRatio: 0.5,
    batchSize: 8,
    sequenceLength: 8,
    logInterval: 50,
    evalEpisodes: 0,
    outputDir: await tempDir(),
  }, {
    ...quiet,
    controller,
    callbacks: [{ onStepEnd: (s, _l, c) => void updatesAt.set(s, c.state.updates) }],
  });
  // 20 pretraining updates at step 50 (its own 0.5 owes nothing yet), then 51 steps x 0.5.
  assert.equal(updatesAt.get(49), 0);
  assert.equal(updatesAt.get(50), 20);
  assert.equal(updatesAt.get(51), 21);
  assert.equal(summary.updates, 20 + 25);
  // The controller acts from step 50 on (the 51st step), after the pretraining.
  assert.equal(acted[0], 50);
  assert.equal(acted.length, 50);
});

Deno.test("online: the family's controller (its spec's), controller state, separate eval env (CartPole)", async () => {
  const env = makeEnvSync("CartPole-v1");
  const evalEnv = makeEnvSync("CartPole-v1");
  const model = new MLPWorldModel(
    mlpConfigSchema.parse({
      ...MLP_PRESETS.ci.config,
      obsShape: [4],
      actionDim: 2,
      actionType: "discrete",
    }),
    { modelType: "ctlfam" },
  );
  let created = 0;
  const explores = new Set<boolean>();
  const controller: Controller<number> = {
    reset: () => 0,
    act: (_obs, state, info) => {
      // The state is threaded through the episode (a training episode may have begun with
      // random prefill actions, which the controller does not see).
      if (info.explore) assert.ok(state! <= info.episodeStep);
      else assert.equal(state, info.episodeStep);
      explores.add(info.explore);
      // Scores: push right on even steps, left on odd ones (argmax taken).
      return { action: state! % 2 ? [1, 0] : [0, 1], state: state! + 1 };
    },
  };
  WorldModelRegistry.register("ctlfam", {
    ...mlpFamilySpec,
    aliases: {},
    controller: () => {
      created++;
      return controller as Controller;
    },
  });
  const notes: string[] = [];
  const { summary, evaluations, buffer } = await trainOnline(model, env, {
    totalSteps: 150,
    prefillSteps: 30,
    batchSize: 4,
    sequenceLength: 40,
    evalInterval: 75,
    evalEpisodes: 2,
    logInterval: 75,
    outputDir: await tempDir(),
  }, { defaultCallbacks: false, log: (m) => notes.push(m), evalEnv })
    .finally(() => WorldModelRegistry.unregister("ctlfam"));
  assert.equal(created, 1);
  assert.deepEqual([...explores].sort(), [false, true]);
  assert.deepEqual(evaluations.map((e) => e.envStep), [75, 150]);
  // Alternating pushes keep the pole up for a while, longer than random play.
  assert.ok(evaluations[0].returns.every((r) => r >= 20), String(evaluations[0].returns));
  assert.equal(summary.updates, 121);
  assert.equal(buffer.size, 150);
  // Random prefill episodes are shorter than 40 steps: padded sampling, said once.
  assert.ok(notes.some((n) => /zero-padded, with a mask/.test(n)), notes.join("\n"));
  assert.ok(Number.isFinite(summary.lastMetrics!.loss));
});

Deno.test("online: same seed, same run (losses, episodes, evaluations); tensor actions (Pendulum)", async () => {
  const run = async () => {
    const env = makeEnvSync("Pendulum-v1");
    const model = await createWorldModel("mlp:ci", { obsShape: [3], actionDim: 1, seed: 2 });
    const losses: number[] = [];
    // A controller that returns a tensor (read back by the loop) and draws from the global
    // generator through the seed of the run.
    let k = 0;
    const controller: Controller = {
      act: () => tensor([Math.sin(k++ / 5) * 3]), // clipped to [-2, 2] by the loop
    };
    const r = await trainOnline(model, env, {
      totalSteps: 120,
      prefillSteps: 40,
      batchSize: 4,
      sequenceLength: 8,
      logInterval: 20,
      evalInterval: 120,
      evalEpisodes: 1,
      seed: 5,
      outputDir: await tempDir(),
    }, { ...quiet, controller, callbacks: [{ onLog: (_s, m) => void losses.push(m.loss) }] });
    return { losses, evals: r.evaluations.map((e) => e.returns), actions: r.buffer.toArrays() };
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(b.losses, a.losses);
  assert.deepEqual(b.evals, a.evals);
  const acts = (a.actions.actions.data as Float32Array[]).flatMap((x) => Array.from(x));
  assert.equal(acts.length, 120);
  assert.equal(Math.max(...acts), 2); // 3 sin(k / 5) clipped to the box
  assert.ok(Math.min(...acts) >= -2);
  assert.equal(a.evals[0].length, 1);
  assert.ok(a.losses.slice(2).every(Number.isFinite));
});

Deno.test("online: without a controller and no hook, it acts randomly and says so", async () => {
  const env = new PointEnv(10);
  const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1 });
  const notes: string[] = [];
  const { summary } = await trainOnline(model, env, {
    totalSteps: 30,
    prefillSteps: 10,
    batchSize: 4,
    sequenceLength: 4,
    evalEpisodes: 0,
    outputDir: await tempDir(),
  }, { defaultCallbacks: false, log: (m) => notes.push(m) });
  assert.equal(summary.updates, 21);
  assert.ok(notes.some((n) => /the mlp family has no controller/.test(n)));
});

Deno.test("online: evaluations on the training env do not change the training episodes", async () => {
  const run = async (evalEpisodes: number) => {
    const env = new PointEnv(10);
    const model = await createWorldModel("mlp:ci", { obsShape: [1], actionDim: 1 });
    const r = await trainOnline(model, env, {
      totalSteps: 60,
      prefillSteps: 20,
      batchSize: 4,
      sequenceLength: 4,
      evalInterval: 20,
      evalEpisodes,
      outputDir: await tempDir(),
    }, { ...quiet, controller: randomController(env.actionSpace) });
    return { episodes: r.episodes, evals: r.evaluations.length, loss: r.summary.lastMetrics!.loss };
  };
  const without = await run(0);
  const withEval = await run(2);
  assert.equal(without.evals, 0);
  assert.equal(withEval.evals, 3);
  assert.deepEqual(withEval.episodes, without.episodes);
  assert.equal(withEval.loss, without.loss);
});

Deno.test("online: TD-MPC2 acts with MPPI and its policy prior (built-in controller), Pendulum", async () => {
  const env = makeEnvSync("Pendulum-v1", { normalizeActions: true, maxEpisodeSteps: 30 });
  const model = await createWorldModel("tdmpc2:ci", { obsShape: [3], actionDim: 1 });
  const opts = { actionSpace: env.actionSpace, observationSpace: env.observationSpace } as const;
  const builtIn = resolveController(model, { ...opts, config: parseTrainingConfig() });
  assert.ok(builtIn && typeof builtIn.reset === "function"); // registered for "tdmpc2"
  const notes: string[] = [];
  const controller = tdmpc2Controller(model as TDMPC2WorldModel, {
    iterations: 2,
    numSamples: 32,
    numElites: 8,
    numPiTrajs: 4,
  });
  const { summary, evaluations, buffer } = await trainOnline(model, env, {
    totalSteps: 60,
    prefillSteps: 30,
    batchSize: 16,
    sequenceLength: 4,
    logInterval: 30,
    evalInterval: 60,
    evalEpisodes: 1,
    outputDir: await tempDir(),
  }, { defaultCallbacks: false, log: (m) => notes.push(m), controller });
  assert.equal(summary.updates, 31);
  assert.match(summary.trainStep, /^tdmpc2 \(model: Adam, pi: Adam; compiled\)/);
  assert.equal(evaluations.length, 1);
  assert.equal(evaluations[0].lengths[0], 30);
  assert.ok(Number.isFinite(summary.lastMetrics!.pi_loss));
  const acts = (buffer.toArrays().actions.data as Float32Array[]).flatMap((x) => Array.from(x));
  assert.ok(acts.every((a) => a >= -1 && a <= 1));
  assert.deepEqual(notes, []);
});
