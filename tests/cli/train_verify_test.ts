import assert from "node:assert/strict";
import type { RunManifest } from "../../src/cli/run_manifest.ts";
import { randomReplayBuffer } from "../../src/cli/run_data.ts";
import type { QuickVerifyReport } from "../../src/cli/verify_report.ts";
import { readJson, run, tempDir, writeToml } from "./helpers.ts";

function smokeToml(family: string, extra = ""): string {
  const seq = family === "tdmpc2" ? 4 : 8;
  return `
name = "smoke"
[model]
family = "${family}"
preset = "ci"
[data]
source = "random"
obs_shape = [5]
action_dim = 2
episodes = 6
episode_length = 24
[training]
total_steps = 8
batch_size = 4
sequence_length = ${seq}
log_interval = 4
save_interval = 4
${extra}`;
}

for (const family of ["mlp", "dreamerv3", "tdmpc2"]) {
  Deno.test(`cli train + verify: ${family}:ci on random data (contract smoke)`, async () => {
    const dir = await tempDir();
    const toml = await writeToml(dir, smokeToml(family));
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.match(r.out, new RegExp(`trained ${family}:ci`));
    assert.match(r.out, /classification:\s+contract_smoke/);
    const out = `${dir}/outputs`;
    const m = await readJson<RunManifest>(`${out}/run_manifest.json`);
    assert.equal(m.kind, "worldflux-run");
    assert.equal(m.run_classification, "contract_smoke");
    assert.deepEqual(m.degraded_modes, ["synthetic_data"]);
    assert.equal(m.model.id, `${family}:ci`);
    assert.ok(m.model.parameters > 0);
    assert.deepEqual(m.model.obs_shape, [5]);
    assert.equal(m.training.steps, 8);
    assert.equal(m.training.config.total_steps, 8);
    assert.ok(m.training.wall_time_sec > 0);
    assert.equal(typeof m.final_metrics!.loss, "number");
    assert.equal(m.device.requested, "auto");
    assert.ok(["cpu", "webgpu"].includes(m.device.selected));
    assert.ok(m.device.reason.length > 0);
    assert.equal(m.worldflux_version.length > 0, true);
    assert.deepEqual(m.artifacts.checkpoints, [
      "checkpoint_000004",
      "checkpoint_000008",
      "checkpoint_best",
      "checkpoint_final",
    ]);
    for (const f of ["config.json", "model.safetensors", "worldflux_meta.json"]) {
      await Deno.stat(`${out}/model/${f}`);
    }
    const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n");
    assert.ok(lines.map((l) => JSON.parse(l)).some((o) => o.kind === "train"));

    const v = await run(["verify", "--target", out, "--mode", "quick", "--format", "json"]);
    assert.equal(v.code, 0, v.err + v.out);
    const report = JSON.parse(v.out) as QuickVerifyReport;
    assert.ok(["pass", "warning"].includes(report.status), report.summary);
    assert.equal(report.tier, "synthetic");
    assert.ok(report.artifacts.every((a) => a.ok), JSON.stringify(report.artifacts));
    assert.equal(report.quality[0].name, "heldout_loss_ratio");
    assert.equal(typeof report.metrics.heldout_loss, "number");
    const onDisk = await readJson<QuickVerifyReport>(`${out}/quick_verify.json`);
    assert.equal(onDisk.status, report.status);
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("cli verify: a missing or broken run is a fail (exit 1); bad flags exit 2", async () => {
  const dir = await tempDir();
  let v = await run(["verify", "--target", dir]);
  assert.equal(v.code, 1);
  assert.match(v.out, /quick verify: FAIL/);
  assert.match(v.out, /run_manifest.json: missing/);
  const report = await readJson<QuickVerifyReport>(`${dir}/quick_verify.json`);
  assert.equal(report.status, "fail");
  // A run whose model directory was damaged.
  const toml = await writeToml(dir, smokeToml("mlp"));
  assert.equal((await run(["train", "-c", toml])).code, 0);
  await Deno.writeTextFile(`${dir}/outputs/model/model.safetensors`, "not safetensors");
  v = await run(["verify", "--target", `${dir}/outputs`, "--format", "json"]);
  assert.equal(v.code, 1);
  const broken = JSON.parse(v.out) as QuickVerifyReport;
  assert.equal(broken.status, "fail");
  assert.ok(broken.artifacts.some((a) => a.name === "model" && !a.ok));
  assert.equal((await run(["verify"])).code, 2);
  assert.equal((await run(["verify", "--target", dir, "--mode", "full"])).code, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli train: worldflux.toml errors name the key and the closest valid one (exit 1)", async () => {
  const dir = await tempDir();
  const cases: [string, RegExp][] = [
    [
      smokeToml("mlp").replace("[training]", "[training]\ntotal_stpes = 3"),
      /unknown field "total_stpes" \(did you mean "total_steps"\?\)/,
    ],
    [
      smokeToml("mlp").replace('name = "smoke"', 'name = "smoke"\nmodle = 1'),
      /unknown key "modle" \(did you mean "model"\?\)/,
    ],
    [
      smokeToml("mlp").replace("episodes = 6", 'episodes = 6\npath = "x.npz"'),
      /path is only used with source = "npz"/,
    ],
    [smokeToml("mlp").replace('preset = "ci"', 'preset = "smal"'), /closest: "mlp:small"/],
    [
      smokeToml("tdmpc2").replace("[training]", "[model.overrides]\nhidden_dimm = 8\n[training]"),
      /unknown config field "hidden_dimm".*did you mean "hidden_dim"/,
    ],
    [
      smokeToml("mlp").replace('source = "random"', 'source = "rnd"'),
      /source must be one of "random", "npz", "env"/,
    ],
    ['[model]\nfamily = "mlp"\n[data\n', /is not valid TOML/],
  ];
  for (const [text, re] of cases) {
    const toml = await writeToml(dir, text);
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 1, text);
    assert.match(r.err, re);
  }
  const missing = await run(["train", "-c", `${dir}/nope.toml`]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /not found: run "worldflux init DIR"/);
  assert.equal((await run(["train", "--steps", "0"])).code, 2);
  assert.equal((await run(["train", "--device", "tpu"])).code, 2);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli train: --steps, --output, --resume-from (offline)", async () => {
  const dir = await tempDir();
  const toml = await writeToml(dir, smokeToml("mlp"));
  let r = await run(["train", "-c", toml, "--steps", "4", "--output", `${dir}/first`]);
  assert.equal(r.code, 0, r.err);
  const first = await readJson<RunManifest>(`${dir}/first/run_manifest.json`);
  assert.equal(first.training.steps, 4);
  r = await run([
    "train",
    "-c",
    toml,
    "--output",
    `${dir}/first`,
    "--resume-from",
    `${dir}/first/checkpoint_000004`,
  ]);
  assert.equal(r.code, 0, r.err);
  const resumed = await readJson<RunManifest>(`${dir}/first/run_manifest.json`);
  assert.equal(resumed.training.steps, 8);
  assert.match(resumed.training.resumed_from!, /checkpoint_000004$/);
  await Deno.remove(dir, { recursive: true });
});

for (const preset of ["mlp:ci", "jepa:ci", "token:ci"]) {
  Deno.test(`cli train + verify: ${preset} on npz data with held-out episodes (offline tier)`, async () => {
    const dir = await tempDir();
    const buffer = randomReplayBuffer({
      source: "random",
      obsShape: [4],
      actionDim: 1,
      actionType: "continuous",
      episodes: 10,
      episodeLength: 20,
    }, 3);
    await Deno.mkdir(`${dir}/data`);
    await buffer.save(`${dir}/data/trajectories.npz`);
    const toml = await writeToml(
      dir,
      `[model]\npreset = "${preset}"\n[data]\nsource = "npz"\npath = "data/trajectories.npz"\n` +
        `holdout_episodes = 2\n[training]\ntotal_steps = 6\nbatch_size = 4\nsequence_length = 8\n` +
        `log_interval = 3\n`,
    );
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 0, r.err);
    const m = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
    assert.equal(m.run_classification, "meaningful_local_training");
    assert.deepEqual(m.degraded_modes, []);
    assert.equal(m.data.holdout_episodes, 2);
    assert.equal(m.data.train_transitions, 160);
    assert.equal(m.artifacts.holdout, "holdout.npz");
    const v = await run(["verify", "--target", `${dir}/outputs`, "--format", "json"]);
    assert.equal(v.code, 0, v.out);
    const report = JSON.parse(v.out) as QuickVerifyReport;
    assert.equal(report.tier, "offline");
    assert.ok(report.artifacts.some((a) => a.name === "holdout.npz" && a.ok));
    assert.match(report.quality[0].detail, /held-out episodes/);
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("cli train + verify: online in an environment (tdmpc2 with MPPI, real_env_smoke tier)", async () => {
  const dir = await tempDir();
  const toml = await writeToml(
    dir,
    `[model]\nfamily = "tdmpc2"\n[model.overrides]\niterations = 1\nnum_samples = 16\n` +
      `num_elites = 4\nnum_pi_trajs = 2\n[data]\nsource = "env"\nenv = "Pendulum-v1"\n` +
      `max_episode_steps = 20\n[training]\ntotal_steps = 40\nprefill_steps = 20\n` +
      `batch_size = 8\nsequence_length = 4\nlog_interval = 20\neval_interval = 40\n` +
      `eval_episodes = 1\n[verify]\nepisodes = 2\n`,
  );
  const r = await run(["train", "-c", toml]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /eval return/);
  const m = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
  assert.equal(m.run_classification, "meaningful_local_training");
  assert.equal(m.training.mode, "online");
  assert.equal(m.training.controller, "tdmpc2");
  // 40 steps and a few updates: a smoke test of the online loop, not a learning budget.
  assert.deepEqual(m.degraded_modes, ["below_learning_budget"]);
  assert.deepEqual(m.learning_budget, {
    min_env_steps: 3000,
    min_updates: 1000,
    met: false,
    shortfalls: [
      "40 environment steps, fewer than 3000",
      `${m.training.updates} gradient updates, fewer than 1000`,
    ],
  });
  assert.equal(m.evaluation!.history.length, 1);
  assert.equal(m.data.env, "Pendulum-v1");
  const v = await run(["verify", "--target", `${dir}/outputs`, "--format", "json"]);
  assert.equal(v.code, 0, v.out);
  const report = JSON.parse(v.out) as QuickVerifyReport;
  assert.equal(report.tier, "real_env_smoke");
  assert.ok(["pass", "warning"].includes(report.status));
  assert.equal((report.metrics.random_returns as number[]).length, 2);
  assert.equal((report.metrics.policy_returns as number[]).length, 2);
  assert.ok(report.quality.some((q) => q.name === "return_gain"));
  // An online run is extended from its final checkpoint (step 40 ends an episode).
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
  assert.deepEqual(m2.evaluation!.history.map((e) => e.env_step), [40, 60]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli train + verify: a family without a controller online, no update (warning, not fail)", async () => {
  const dir = await tempDir();
  const toml = await writeToml(
    dir,
    `[model]\nfamily = "mlp"\n[data]\nsource = "env"\nenv = "CartPole-v1"\n` +
      `[training]\ntotal_steps = 50\nprefill_steps = 100\nbatch_size = 4\n` +
      `sequence_length = 8\nlog_interval = 25\neval_interval = 50\neval_episodes = 1\n` +
      `[verify]\nepisodes = 1\n`,
  );
  const r = await run(["train", "-c", toml]);
  assert.equal(r.code, 0, r.err);
  const m = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
  assert.deepEqual(m.degraded_modes, ["random_policy", "below_learning_budget"]);
  assert.deepEqual(m.learning_budget!.shortfalls, [
    "the family's policy never acted (random actions throughout)",
    "50 environment steps, fewer than 3000",
    "0 gradient updates, fewer than 1000",
    "no evaluation after the 100 prefill steps",
  ]);
  assert.equal(m.training.controller, "random");
  assert.equal(m.training.updates, 0);
  const v = await run(["verify", "--target", `${dir}/outputs`, "--format", "json"]);
  assert.equal(v.code, 0, v.out);
  const report = JSON.parse(v.out) as QuickVerifyReport;
  assert.equal(report.status, "warning");
  assert.ok(report.artifacts.every((a) => a.ok));
  assert.deepEqual(report.quality.filter((q) => !q.ok).map((q) => q.name), [
    "return_gain",
    "updates",
  ]);
  await Deno.remove(dir, { recursive: true });
});
