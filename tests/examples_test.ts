/**
 * The seed's examples run, type-checked, in their fastest modes: `train_dreamer.ts` and
 * `train_tdmpc2.ts` (`--test` on random episodes, `--data` on a `.npz` written here),
 * `visualize_imagination.ts` (a model trained here, from the `.npz` and from an environment) and
 * `evidence_dreamerv3_breakout.ts` (`--smoke` on MinAtar Breakout in process; on ALE Breakout
 * through the Gymnasium bridge when the bridge and Python's gymnasium + ale-py are there). What
 * is checked is the files and what they say, not learning (docs/learning_results.md has that).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { makeEnv, RandomPolicy, ReplayBuffer, rollout, type RolloutData } from "../mod.ts";
import { DATA_SOURCES, type RunManifest } from "../cli.ts";
import { countedEvaluations, type Evaluation, verdict } from "../examples/learning_seeds.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs an example (type-checked) from the repository root; throws with its output on failure. */
async function example(script: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--check", `examples/${script}`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, `${script} ${args.join(" ")} exited with ${r.code}:\n${text}`);
  return text;
}

async function json<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Random episodes of a built-in environment saved as a replay-buffer `.npz`. */
async function saveRollout(envId: string, steps: number, path: string): Promise<void> {
  const env = await makeEnv(envId, { normalizeActions: true });
  const data: RolloutData = rollout(env, new RandomPolicy(env.actionSpace, 0), steps, 0);
  const space = env.actionSpace;
  const discrete = space.kind === "discrete";
  const A = discrete ? space.n : space.shape[0];
  // Discrete actions are stored as indices (int64 in the file): the model gets a discrete actor.
  const buf = new ReplayBuffer({
    capacity: steps,
    obsShape: env.observationSpace.shape,
    actionDim: A,
    actionDtype: discrete ? "int32" : "float32",
  });
  const actions = discrete
    ? Int32Array.from(
      { length: steps },
      (_, t) => data.actions.subarray(t * A, (t + 1) * A).indexOf(1),
    )
    : data.actions;
  buf.addEpisode({ ...data, actions });
  await buf.save(path);
  env.close();
}

Deno.test("examples: train_dreamer.ts and train_tdmpc2.ts --test train on random episodes and save a run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wf_examples_" });
  try {
    for (
      const [script, family] of [["train_dreamer.ts", "dreamerv3"], ["train_tdmpc2.ts", "tdmpc2"]]
    ) {
      const out = join(dir, family);
      const text = await example(script, ["--test", "--out", out]);
      assert.match(text, /done: 10 updates/);
      const m = await json<RunManifest>(join(out, "run_manifest.json"));
      assert.equal(m.model.family, family);
      assert.equal(m.training.updates, 10);
      assert.equal(m.run_classification, "contract_smoke");
      assert.deepEqual(m.degraded_modes, ["synthetic_data"]);
      assert.ok(m.artifacts.checkpoints.includes("checkpoint_final"));
      assert.ok(await exists(join(out, "model", "model.safetensors")));
      assert.ok(Number.isFinite(m.final_metrics?.loss));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples: --data FILE.npz trains offline from the file; visualize_imagination.ts pictures the model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wf_examples_" });
  try {
    // DreamerV3 on MinAtar Breakout grids (discrete actions), TD-MPC2 on Pendulum (continuous).
    const grids = join(dir, "breakout.npz");
    await saveRollout("MinAtar/Breakout-v1", 600, grids);
    const dv3 = join(dir, "dv3");
    await example("train_dreamer.ts", [
      "--data",
      grids,
      "--steps",
      "4",
      "--batch-size",
      "4",
      "--seq-len",
      "8",
      "--out",
      dv3,
    ]);
    const m = await json<RunManifest>(join(dv3, "run_manifest.json"));
    assert.equal(m.run_classification, "meaningful_local_training");
    assert.deepEqual(m.degraded_modes, []);
    assert.equal(m.data.source, "npz");
    assert.deepEqual(m.model.obs_shape, [4, 10, 10]);
    assert.equal(m.model.action_type, "discrete");
    assert.equal(m.training.updates, 4);
    assert.ok(await exists(join(dv3, "holdout.npz")));

    const pend = join(dir, "pendulum.npz");
    await saveRollout("Pendulum-v1", 400, pend);
    const td = join(dir, "td");
    await example("train_tdmpc2.ts", ["--data", pend, "--steps", "3", "--out", td]);
    const mt = await json<RunManifest>(join(td, "run_manifest.json"));
    assert.equal(mt.model.family, "tdmpc2");
    assert.deepEqual(mt.model.obs_shape, [3]);
    assert.equal(mt.training.updates, 3);

    // Imagination from the file (its longest episode) and from the environment.
    const fromFile = join(dir, "im_file");
    const t1 = await example("visualize_imagination.ts", [
      "--model",
      join(dv3, "model"),
      "--data",
      grids,
      "--out",
      fromFile,
    ]);
    assert.match(t1, /steps imagined after 5 observed/);
    const im = await json<{ horizon: number; real_rewards: number[]; imagined_rewards: number[] }>(
      join(fromFile, "imagination.json"),
    );
    assert.equal(im.imagined_rewards.length, im.horizon);
    assert.equal(im.real_rewards.length, im.horizon + 5);
    assert.ok(await exists(join(fromFile, "imagination.png")));
    assert.match(await Deno.readTextFile(join(fromFile, "imagination.svg")), /^<svg /);
    const fromEnv = join(dir, "im_env");
    await example("visualize_imagination.ts", [
      "--model",
      join(dv3, "model"),
      "--env",
      "MinAtar/Breakout-v1",
      "--out",
      fromEnv,
    ]);
    assert.ok(await exists(join(fromEnv, "imagination.png")));
    // TD-MPC2 has no decoder: no strip, the latent agreement instead.
    const tdIm = join(dir, "im_td");
    await example("visualize_imagination.ts", [
      "--model",
      join(td, "model"),
      "--data",
      pend,
      "--out",
      tdIm,
    ]);
    assert.equal(await exists(join(tdIm, "imagination.png")), false);
    const tj = await json<{ latent_cosine: number[] | null }>(join(tdIm, "imagination.json"));
    assert.ok(tj.latent_cosine && tj.latent_cosine.every(Number.isFinite));
    // A model and data of different shapes are refused with the reason.
    const bad = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "examples/visualize_imagination.ts",
        "--model",
        join(td, "model"),
        "--data",
        grids,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.notEqual(bad.code, 0);
    assert.match(new TextDecoder().decode(bad.stderr), /takes observations of \[3\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples: learning_seeds.ts counts evaluations of enough episodes, the final one included, against the bar", () => {
  const ev = (env_step: number, mean: number, episodes: number): Evaluation => ({
    env_step,
    mean,
    std: 0,
    returns: Array(episodes).fill(mean),
  });
  // Seed 0's shape: 5-episode evaluations at each interval, a 10-episode final one.
  const run = {
    seed: 0,
    env: "HalfCheetah-v5",
    random_baseline: { mean: -280, std: 80 },
    evaluations: [ev(10, 600, 5), ev(20, 2100, 5), ev(30, 1900, 5), ev(40, 2300, 5)],
    final_evaluation: ev(40, 2200, 10),
  };
  const bar = { solved: 2000, hold: 0, fraction: 0, within: 40 };
  // Every evaluation counts: the bar is first met by a 5-episode one at 20.
  assert.deepEqual(countedEvaluations(run, 1).map((e) => [e.env_step, e.mean]), [
    [10, 600],
    [20, 2100],
    [30, 1900],
    [40, 2300],
    [40, 2200],
  ]);
  assert.equal(verdict(countedEvaluations(run, 1), bar).first_solved_step, 20);
  // 10 episodes: only the final one counts, and it meets the bar at 40.
  const ten = countedEvaluations(run, 10);
  assert.deepEqual(ten.map((e) => e.mean), [2200]);
  assert.equal(verdict(ten, bar).first_solved_step, 40);
  assert.equal(verdict(ten, bar).passes, true);
  // ... but not within 30 steps, and not at all if the final one is below the bar.
  assert.equal(verdict(ten, { ...bar, within: 30 }).passes, false);
  const below = { ...run, final_evaluation: ev(40, 1999, 10) };
  assert.deepEqual(verdict(countedEvaluations(below, 10), bar).first_solved_step, null);
  assert.equal(verdict(countedEvaluations(below, 10), bar).passes, false);
  // Runs without a final evaluation (null, or an older returns.json without the field).
  assert.equal(countedEvaluations({ ...run, final_evaluation: null }, 10).length, 0);
  const { final_evaluation: _, ...old } = run;
  assert.equal(countedEvaluations(old, 5).length, 4);
});

Deno.test("examples: learn_cartpole_dreamerv3.ts (states and --pixels) at a tiny budget, and learning_seeds.ts judges the runs against a bar", async () => {
  const out = await Deno.makeTempDir({ prefix: "wf_learn_dreamer_" });
  // 240 steps (160 random), an update every 4 steps (20 updates), one-episode evaluations.
  const tiny = (
    "--steps 240 --prefill 160 --eval-interval 120 --eval-episodes 1 --final-episodes 1 " +
    "--baseline-episodes 1 --batch-size 2 --seq-len 8 --replay-ratio 4"
  ).split(" ");
  try {
    for (const [name, extra] of [["states", []], ["pixels", ["--pixels"]]] as const) {
      const dir = join(out, name);
      await example("learn_cartpole_dreamerv3.ts", [...tiny, ...extra, "--out", dir]);
      const r = await json<{ env: string; evaluations: { env_step: number; returns: number[] }[] }>(
        join(dir, "returns.json"),
      );
      assert.equal(r.env, name === "pixels" ? "CartPole-v1/pixels" : "CartPole-v1");
      assert.deepEqual(r.evaluations.map((e) => e.env_step), [120, 240]);
      for (const e of r.evaluations) assert.equal(e.returns.length, 1);
      const summary = await json<{ settings: { model: { stoch: number; horizon: number } } }>(
        join(dir, "summary.json"),
      );
      assert.equal(summary.settings.model.stoch, 32, "the example's latent is 32 x 4");
      assert.equal(summary.settings.model.horizon, 100);
      assert.ok(await exists(join(dir, "returns.png")));
    }
    const text = await example("learning_seeds.ts", [
      "--runs",
      `${join(out, "states")},${join(out, "pixels")}`,
      "--out",
      join(out, "seeds"),
      "--within",
      "240",
      "--episodes",
      "1",
    ]);
    const verdicts = await json<{ seeds: { passes: boolean }[] }>(join(out, "seeds", "seeds.json"));
    assert.equal(verdicts.seeds.length, 2);
    // A CartPole episode of 240 steps' training cannot reach 475: both fail the bar, visibly.
    assert.ok(verdicts.seeds.every((v) => !v.passes), text);
    assert.ok(await exists(join(out, "seeds", "returns.png")));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("examples: evidence_dreamerv3_breakout.ts --smoke on MinAtar Breakout writes the whole bundle", async () => {
  const out = await Deno.makeTempDir({ prefix: "wf_evidence_" });
  try {
    await example("evidence_dreamerv3_breakout.ts", [
      "--env",
      "MinAtar/Breakout-v1",
      "--smoke",
      "--out",
      out,
    ]);
    const m = await json<RunManifest>(join(out, "run_manifest.json"));
    assert.equal(m.run_classification, "meaningful_local_training");
    // A smoke budget may be flagged as one; nothing else may degrade the run.
    assert.deepEqual(m.degraded_modes.filter((d) => d !== "below_learning_budget"), []);
    assert.equal(m.data.env, "MinAtar/Breakout-v1");
    assert.equal(m.training.steps, 300);
    // The save due at step 150 waits for the end of that training episode.
    const periodic = m.artifacts.checkpoints.map((c) => /^checkpoint_(\d{6})$/.exec(c)?.[1])
      .filter((x) => x !== undefined).map(Number);
    assert.ok(periodic.some((s) => s >= 150 && s <= 300), m.artifacts.checkpoints.join(", "));
    const r = await json<{
      random_baseline: { episodes: number; returns: number[] };
      evaluations: { env_step: number; returns: number[] }[];
      final_evaluation: { returns: number[] };
    }>(join(out, "returns.json"));
    assert.equal(r.random_baseline.returns.length, 10);
    assert.deepEqual(r.evaluations.map((e) => e.env_step), [300]);
    assert.equal(r.final_evaluation.returns.length, 2);
    for (const f of ["summary.json", "returns.png", "imagination.svg", "model/config.json"]) {
      assert.ok(await exists(join(out, f)), f);
    }
    const html = await Deno.readTextFile(join(out, "report.html"));
    assert.match(html, /DreamerV3 on MinAtar\/Breakout-v1/);
    assert.match(html, /meaningful_local_training/);
    assert.match(html, /data:image\/png;base64,/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** Why the ALE evidence smoke cannot run here, or null when it can. */
async function aleMissing(): Promise<string | null> {
  if (!(DATA_SOURCES as readonly string[]).includes("gym")) {
    return 'this build has no Gymnasium bridge ([data] source = "gym")';
  }
  const python = Deno.env.get("WORLDFLUX_PYTHON") ?? "python3";
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", "import gymnasium, ale_py"],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.code === 0 ? null : `${python} lacks gymnasium or ale-py`;
  } catch {
    return `${python} not found`;
  }
}

const ALE_MISSING = await aleMissing();

Deno.test({
  name: `examples: evidence_dreamerv3_breakout.ts --smoke on ALE/Breakout-v5 through the bridge${
    ALE_MISSING ? ` (skipped: ${ALE_MISSING})` : ""
  }`,
  ignore: ALE_MISSING !== null,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "wf_evidence_ale_" });
    try {
      await example("evidence_dreamerv3_breakout.ts", ["--smoke", "--out", out]);
      const m = await json<RunManifest>(join(out, "run_manifest.json"));
      assert.equal(m.data.source, "gym");
      assert.equal(m.run_classification, "meaningful_local_training");
      assert.ok(await exists(join(out, "report.html")));
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
