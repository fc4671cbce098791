/**
 * `[data] source = "gym"`: the project file's keys, `worldflux init --data gym`, `worldflux train`
 * online through the Gymnasium bridge (classified meaningful_local_training, no degraded mode,
 * interpreter and versions in the manifest), `verify` rebuilding the same environment, and
 * `doctor`'s report of the interpreter. The tests that run Python need WORLDFLUX_PYTHON (see
 * tests/envs/gym_helpers.ts).
 */

import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { ConfigError } from "../../src/errors.ts";
import { type GymDataConfig, parseProjectConfig } from "../../src/cli/project.ts";
import { onlineEnvArgs, verifyEnvArgs } from "../../src/cli/data_env.ts";
import { collectGymReport } from "../../src/cli/doctor.ts";
import type { RunManifest } from "../../src/cli/run_manifest.ts";
import type { QuickVerifyReport } from "../../src/cli/verify_report.ts";
import { python, SKIP_GYM } from "../envs/gym_helpers.ts";
import { readJson, run, tempDir, writeToml } from "./helpers.ts";

const MODEL = `[model]\nfamily = "mlp"\n`;

function gymData(body: string): GymDataConfig {
  const doc = parse(`${MODEL}[data]\nsource = "gym"\n${body}`);
  const p = parseProjectConfig(doc, { path: "/proj/worldflux.toml" });
  assert.equal(p.data.source, "gym");
  return p.data as GymDataConfig;
}

Deno.test('project: [data] source = "gym" reads every key, with defaults', () => {
  const d = gymData(
    `env = "gym:ALE/Breakout-v5"\npython = "/opt/py"\npython_path = ["envs", "/abs"]\n` +
      `frame_skip = 4\nsize = 64\ngrayscale = true\nterminal_on_life_loss = true\n` +
      `noop_max = 30\nmax_episode_steps = 1000\ntimeout_sec = 2.5\n` +
      `[data.kwargs]\nfull_action_space = true\nrepeat_action_probability = 0.0\nmode = 0\n` +
      `range = [1, 2]\n`,
  );
  assert.equal(d.env, "ALE/Breakout-v5"); // "gym:" is accepted and dropped
  assert.equal(d.python, "/opt/py");
  assert.deepEqual(d.pythonPath, ["/proj/envs", "/abs"]);
  assert.deepEqual(d.kwargs, {
    full_action_space: true,
    repeat_action_probability: 0,
    mode: 0,
    range: [1, 2],
  });
  assert.equal(typeof d.kwargs.mode, "number"); // TOML integers arrive as numbers, not bigints
  const args = onlineEnvArgs(d);
  assert.equal(args.id, "gym:ALE/Breakout-v5");
  assert.equal(args.options.frameSkip, 4);
  assert.equal(args.options.gym?.timeoutMs, 2500);
  assert.equal(args.options.gym?.grayscale, true);
  assert.equal(args.options.normalizeActions, true);
  const plain = gymData(`env = "CartPole-v1"\n`);
  assert.deepEqual(
    { ...plain },
    {
      source: "gym",
      env: "CartPole-v1",
      kwargs: {},
      python: null,
      pythonPath: [],
      pixels: false,
      size: null,
      grayscale: false,
      frameSkip: null,
      maxEpisodeSteps: null,
      terminalOnLifeLoss: false,
      noopMax: 0,
      timeoutSec: null,
    },
  );
});

Deno.test("project: bad [data] gym keys are ConfigErrors naming the key", () => {
  const bad: [string, RegExp][] = [
    [`source = "gym"\n`, /env is required with "gym"/],
    [`source = "gym"\nenv = "CartPole-v1"\nkwargs = 3\n`, /kwargs must be a table/],
    [`source = "gym"\nenv = "CartPole-v1"\nframe_skip = 0\n`, /frame_skip must be an integer >= 1/],
    [
      `source = "gym"\nenv = "CartPole-v1"\nholdout_episodes = 1\n`,
      /only used with source = "npz"/,
    ],
    [`source = "gym"\nenv = "CartPole-v1"\ngrayscal = true\n`, /did you mean "grayscale"/],
    [`source = "env"\nenv = "CartPole-v1"\npython = "python3"\n`, /only used with source = "gym"/],
    [
      `source = "gym"\nenv = "CartPole-v1"\n[data.kwargs]\nwhen = 1979-05-27\n`,
      /kwargs.when must be/,
    ],
  ];
  for (const [data, re] of bad) {
    assert.throws(
      () => parseProjectConfig(parse(`${MODEL}[data]\n${data}`), { path: "/p/worldflux.toml" }),
      (e: unknown) => e instanceof ConfigError && re.test(e.message),
      data,
    );
  }
});

Deno.test("cli init --data gym: a Breakout project that parses", async () => {
  const root = await tempDir();
  const dir = `${root}/atari`;
  const r = await run(["init", dir, "--data", "gym"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /data: gym ALE\/Breakout-v5/);
  const toml = await Deno.readTextFile(`${dir}/worldflux.toml`);
  assert.match(toml, /^source = "gym"/m);
  assert.match(toml, /^env = "ALE\/Breakout-v5"/m);
  const p = parseProjectConfig(parse(toml), { path: `${dir}/worldflux.toml` });
  assert.equal(p.data.source, "gym");
  assert.match(
    await Deno.readTextFile(`${dir}/README.md`),
    /Gymnasium environment `ALE\/Breakout-v5`/,
  );
  const other = await run(["init", `${root}/cheetah`, "--data", "gym", "--env", "HalfCheetah-v5"]);
  assert.equal(other.code, 0, other.err);
  assert.match(
    await Deno.readTextFile(`${root}/cheetah/worldflux.toml`),
    /^env = "HalfCheetah-v5"/m,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test({
  name: "cli train + verify: online in a Gymnasium environment (meaningful_local_training)",
  ignore: SKIP_GYM,
  fn: async () => {
    const dir = await tempDir();
    const toml = await writeToml(
      dir,
      `[model]\nfamily = "tdmpc2"\n[model.overrides]\niterations = 1\nnum_samples = 16\n` +
        `num_elites = 4\nnum_pi_trajs = 2\n[data]\nsource = "gym"\nenv = "Pendulum-v1"\n` +
        `python = ${JSON.stringify(python())}\nmax_episode_steps = 20\n` +
        `[data.kwargs]\ng = 9.81\n` +
        `[training]\ntotal_steps = 40\nprefill_steps = 20\n` +
        `batch_size = 8\nsequence_length = 4\nlog_interval = 20\neval_interval = 40\n` +
        `eval_episodes = 1\n[verify]\nepisodes = 2\n`,
    );
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 0, r.err);
    const m = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
    assert.equal(m.run_classification, "meaningful_local_training");
    // 40 steps: a smoke test of the online loop, short of a learning budget (learning_budget.ts).
    assert.deepEqual(m.degraded_modes, ["below_learning_budget"]);
    assert.equal(m.learning_budget!.met, false);
    assert.equal(m.training.mode, "online");
    assert.equal(m.training.controller, "tdmpc2");
    assert.equal(m.data.source, "gym");
    assert.equal(m.data.env, "Pendulum-v1");
    assert.equal(m.data.episode_steps, 20);
    const g = m.data.gym as Record<string, unknown>;
    assert.match(String(g.gymnasium), /^\d+\.\d+/);
    assert.equal(g.gym_id, "Pendulum-v1");
    assert.deepEqual(g.make_kwargs, { g: 9.81, max_episode_steps: 20 });
    const made = m.data.make_env as { id: string; options: { gym: { python: string } } };
    assert.equal(made.id, "gym:Pendulum-v1");
    assert.equal(made.options.gym.python, python()); // as configured
    const v = await run(["verify", "--target", `${dir}/outputs`, "--format", "json"]);
    assert.equal(v.code, 0, v.out);
    const report = JSON.parse(v.out) as QuickVerifyReport;
    assert.equal(report.tier, "real_env_smoke");
    assert.ok(["pass", "warning"].includes(report.status), v.out);
    assert.equal((report.metrics.policy_returns as number[]).length, 2);
    // Extended from its final checkpoint (step 40 ends an episode) through the bridge.
    const again = await run([
      "train",
      "-c",
      toml,
      "--resume-from",
      `${dir}/outputs`,
      "--steps",
      "60",
    ]);
    assert.equal(again.code, 0, again.err);
    const m2 = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
    assert.equal(m2.training.resumed_from, `${dir}/outputs/checkpoint_final`);
    assert.equal(m2.training.steps, 60);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "cli train: a Gymnasium id that does not exist fails with the bridge's message (exit 1)",
  ignore: SKIP_GYM,
  fn: async () => {
    const dir = await tempDir();
    const toml = await writeToml(
      dir,
      `${MODEL}[data]\nsource = "gym"\nenv = "CartPol-v1"\npython = ${JSON.stringify(python())}\n`,
    );
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 1);
    assert.match(r.err, /\[data\] env = "CartPol-v1": unknown Gymnasium environment/);
    assert.match(r.err, /CartPole-v1/);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "doctor: reports the bridge's interpreter and package versions, or why it cannot start",
  ignore: SKIP_GYM,
  fn: async () => {
    const ok = await collectGymReport(python());
    assert.equal(ok.started, true, ok.error ?? "");
    assert.match(String(ok.packages.gymnasium), /^\d+\.\d+/);
    assert.match(String(ok.packages["ale-py"]), /^\d+\.\d+/);
    assert.match(String(ok.packages.mujoco), /^\d+\.\d+/);
    assert.deepEqual(ok.missing, []);
    assert.equal(ok.hint, null);
    const missing = await collectGymReport("/nonexistent/python3");
    assert.equal(missing.started, false);
    assert.match(String(missing.error), /cannot start the Python interpreter/);
  },
});

Deno.test("verify takes a gym run's interpreter, path and modules from the project file, never the manifest", () => {
  const recorded = {
    id: "gym:CartPole-v1",
    options: {
      kwargs: { sutton_barto_reward: true },
      gym: { python: "/elsewhere/python", pythonPath: ["/elsewhere"], grayscale: false },
    },
  };
  const plain = verifyEnvArgs(recorded, null);
  assert.equal(plain.options.gym?.python, undefined); // WORLDFLUX_PYTHON, else python3
  assert.equal(plain.options.gym?.pythonPath, undefined);
  assert.deepEqual(plain.options.kwargs, { sutton_barto_reward: true }); // data is kept
  const trusted = { python: "/mine/python", pythonPath: ["/mine"], env: "my_envs:Maze-v0" };
  const mine = verifyEnvArgs(recorded, trusted);
  assert.equal(mine.options.gym?.python, "/mine/python");
  assert.deepEqual(mine.options.gym?.pythonPath, ["/mine"]);
  const custom = { ...recorded, id: "gym:other_envs:Maze-v0" };
  assert.throws(() => verifyEnvArgs(custom, trusted), /imports a Python module named only by/);
  assert.throws(() => verifyEnvArgs(custom, null), ConfigError);
  assert.equal(
    verifyEnvArgs({ ...recorded, id: "gym:my_envs:Maze-v0" }, trusted).id,
    "gym:my_envs:Maze-v0",
  );
  // Built-in environments pass through.
  assert.deepEqual(verifyEnvArgs({ id: "Pendulum-v1", options: { frameSkip: 2 } }, null), {
    id: "Pendulum-v1",
    options: { frameSkip: 2 },
  });
});
