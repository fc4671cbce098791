/**
 * Acting through core/acting.ts, which the online loop, its evaluations and `worldflux verify`
 * share: what a controller answers becomes the environment's action the same way everywhere,
 * and a bad action (a NaN from a diverged model, an index out of range) is a ContractError.
 */

import assert from "node:assert/strict";
import {
  type Box,
  ContractError,
  type Controller,
  evaluateController,
  makeEnvSync,
  ReplayBuffer,
  tensor,
  toEnvAction,
} from "../../mod.ts";

const box: Box = {
  kind: "box",
  low: new Float32Array([-1, 0]),
  high: new Float32Array([1, 2]),
  shape: [2],
  dtype: "float32",
};
const discrete = { kind: "discrete", n: 3 } as const;

function contract(field: string, kind: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ContractError, String(e));
    assert.equal(e.field, field);
    assert.equal(e.kind, kind);
    return true;
  };
}

Deno.test("acting: actions become what the environment takes", async () => {
  assert.equal(await toEnvAction(2, discrete), 2);
  assert.equal(await toEnvAction([1], discrete), 1);
  assert.equal(await toEnvAction([0.1, 0.7, 0.2], discrete), 1); // scores: argmax
  assert.deepEqual(await toEnvAction([3, -5], box), new Float32Array([1, 0])); // clipped
  const t = tensor([0.5, 1.5]);
  assert.deepEqual(await toEnvAction(t, box), new Float32Array([0.5, 1.5]));
  assert.ok(t.isDisposed, "a tensor action is read back and released");
});

Deno.test("acting: a bad action is a ContractError, never a silent 0", async () => {
  await assert.rejects(toEnvAction([0.5, NaN], box), contract("action[1]", "action_shape"));
  await assert.rejects(toEnvAction([Infinity, 0], box), contract("action[0]", "action_shape"));
  await assert.rejects(toEnvAction([1, 2, 3], box), contract("action", "action_shape"));
  await assert.rejects(toEnvAction(0.5, box), contract("action", "action_shape"));
  await assert.rejects(toEnvAction(3, discrete), contract("action", "action_value"));
  await assert.rejects(toEnvAction(-1, discrete), contract("action", "action_value"));
  await assert.rejects(toEnvAction([1, 2], discrete), contract("action", "action_shape"));
});

Deno.test("acting: evaluation episodes (returns, lengths, recorded steps, controller state)", async () => {
  const env = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: 7 });
  const seen: number[] = [];
  const controller: Controller<number> = {
    reset: ({ explore }) => {
      assert.equal(explore, false);
      return 0;
    },
    act: (_obs, state, info) => {
      assert.equal(info.explore, false);
      assert.equal(state, info.episodeStep); // the state is threaded through the episode
      seen.push(info.envStep);
      return { action: [0.5], state: state! + 1 };
    },
  };
  const record = new ReplayBuffer({ capacity: 100, obsShape: [3], actionDim: 1, seed: 0 });
  const a = await evaluateController(env, controller, {
    episodes: 2,
    seed: 3,
    envStep: 40,
    record,
  });
  assert.deepEqual(a.lengths, [7, 7]);
  assert.equal(record.size, 14);
  assert.ok(seen.every((s) => s === 40));
  const b = await evaluateController(env, controller, { episodes: 2, seed: 3 });
  assert.deepEqual(b.returns, a.returns, "the same seeds give the same episodes");
  // An environment without a time limit is cut at maxSteps.
  const unlimited = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: Infinity });
  const c = await evaluateController(unlimited, controller, { episodes: 1, seed: 0, maxSteps: 5 });
  assert.deepEqual(c.lengths, [5]);
  // maxSteps also cuts an environment whose own time limit is longer (the online loop's cap on a
  // 27,000-decision Atari game); the environment's shorter limit ends episodes first.
  const long = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: 50 });
  const d = await evaluateController(long, controller, { episodes: 2, seed: 0, maxSteps: 6 });
  assert.deepEqual(d.lengths, [6, 6]);
  const e = await evaluateController(long, controller, { episodes: 1, seed: 0, maxSteps: 80 });
  assert.deepEqual(e.lengths, [50]);
  const f = await evaluateController(long, controller, { episodes: 1, seed: 0 });
  assert.deepEqual(f.lengths, [50], "without maxSteps the environment's own limit holds");
});

Deno.test("acting: a NaN from the controller stops the evaluation with a ContractError", async () => {
  const env = makeEnvSync("Pendulum-v1", { maxEpisodeSteps: 5 });
  const diverged: Controller = { act: () => [NaN] };
  await assert.rejects(
    evaluateController(env, diverged, { episodes: 1, seed: 0 }),
    contract("action[0]", "action_shape"),
  );
});
