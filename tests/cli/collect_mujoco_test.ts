/**
 * Smoke test of examples/collect_mujoco.ts at a tiny budget: random-policy datasets of
 * HalfCheetah-v5 and Hopper-v5 (the `.npz` and its manifest agree, `ReplayBuffer.load` reads the
 * file, a second collection is identical), `worldflux train` with `[data] source = "npz"` trains
 * a TD-MPC2 model on it, and that saved model's controller collects the next dataset.
 */

import assert from "node:assert/strict";
import {
  collectDataset,
  type DatasetManifest,
  manifestPath,
} from "../../examples/collect_mujoco.ts";
import { ReplayBuffer } from "../../mod.ts";
import { ConfigError, SizeLimitError } from "../../src/errors.ts";
import { loadNpz } from "../../src/io/npz.ts";
import type { RunManifest } from "../../src/cli/run_manifest.ts";
import { readJson, run, tempDir, writeToml } from "./helpers.ts";

Deno.test("collect_mujoco: random datasets that ReplayBuffer.load and worldflux train accept; a saved policy collects", async () => {
  const dir = await tempDir("wf_collect_");
  try {
    const out = `${dir}/data/cheetah.npz`;
    const m = await collectDataset({
      env: "HalfCheetah-v5",
      kwargs: { reset_noise_scale: 0.05 },
      episodes: 3,
      seed: 7,
      policy: "random",
      out,
      maxSteps: 20,
    });
    assert.deepEqual(m.seeds, [7, 8, 9]);
    assert.deepEqual(m.lengths, [20, 20, 20]);
    assert.deepEqual(m.ends, ["truncated", "truncated", "truncated"]);
    assert.equal(m.steps, 60);
    assert.deepEqual(m.env.kwargs, { reset_noise_scale: 0.05 });
    assert.equal(m.policy.kind, "random");
    const onDisk = await readJson<DatasetManifest>(manifestPath(out));
    assert.deepEqual(onDisk.returns, m.returns);
    const buf = await ReplayBuffer.load(out);
    assert.equal(buf.size, 60);
    assert.equal(buf.numEpisodes, 3);
    assert.deepEqual(buf.obsShape, [17]);
    assert.equal(buf.actionDim, 6);
    const rewards = (await loadNpz(out)).rewards.data as Float32Array;
    m.returns.forEach((ret, e) => {
      const sum = rewards.subarray(20 * e, 20 * e + 20).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - ret) < 1e-4, `episode ${e}: ${sum} vs ${ret}`);
    });
    // same options, same data (the files' bytes differ by the zip entries' time stamps)
    const again = await collectDataset({
      env: "HalfCheetah-v5",
      kwargs: { reset_noise_scale: 0.05 },
      episodes: 3,
      seed: 7,
      policy: "random",
      out: `${dir}/again.npz`,
      maxSteps: 20,
    });
    assert.deepEqual(again.returns, m.returns);
    const [first, second] = [await loadNpz(out), await loadNpz(`${dir}/again.npz`)];
    for (const key of ["obs", "actions", "rewards", "dones", "terminations"]) {
      assert.deepEqual(second[key].data, first[key].data, key);
    }

    // Hopper episodes end by termination
    const hop = await collectDataset({
      env: "Hopper-v5",
      episodes: 4,
      seed: 0,
      policy: "random",
      out: `${dir}/hopper.npz`,
    });
    assert.ok(hop.ends.every((e) => e === "terminated"));
    assert.equal(hop.lengths.reduce((a, b) => a + b, 0), hop.steps);
    assert.equal((await ReplayBuffer.load(`${dir}/hopper.npz`)).numEpisodes, 4);

    // worldflux train on the dataset (offline, TD-MPC2), then its controller collects
    const toml = await writeToml(
      dir,
      `[model]\nfamily = "tdmpc2"\n[model.overrides]\niterations = 1\nnum_samples = 16\n` +
        `num_elites = 4\nnum_pi_trajs = 2\n[data]\nsource = "npz"\npath = "data/cheetah.npz"\n` +
        `holdout_episodes = 1\n[training]\ntotal_steps = 3\nbatch_size = 4\n` +
        `sequence_length = 4\nlog_interval = 3\n`,
    );
    const r = await run(["train", "-c", toml]);
    assert.equal(r.code, 0, r.err);
    const rm = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
    assert.equal(rm.run_classification, "meaningful_local_training");
    assert.equal(rm.data.train_transitions, 40);
    const pol = await collectDataset({
      env: "HalfCheetah-v5",
      episodes: 1,
      seed: 3,
      policy: `${dir}/outputs/model`,
      out: `${dir}/policy.npz`,
      maxSteps: 5,
    });
    assert.equal(pol.policy.kind, "model");
    assert.equal(pol.policy.model_type, "tdmpc2");
    assert.equal(pol.steps, 5);
    assert.equal((await ReplayBuffer.load(`${dir}/policy.npz`)).size, 5);

    // bad options fail before anything is written
    for (
      const bad of [
        { episodes: 0 },
        { out: `${dir}/x.bin` },
        { maxSteps: -1 },
        { kwargs: { nope: 1 } },
      ]
    ) {
      await assert.rejects(
        () =>
          collectDataset({
            env: "HalfCheetah-v5",
            episodes: 1,
            seed: 0,
            policy: "random",
            out: `${dir}/bad.npz`,
            ...bad,
          }),
        ConfigError,
      );
    }
    await assert.rejects(
      () =>
        collectDataset({
          env: "HalfCheetah-v5",
          episodes: 1e9,
          seed: 0,
          policy: "random",
          out: `${dir}/bad.npz`,
        }),
      SizeLimitError,
    );
    await assert.rejects(() => Deno.stat(`${dir}/bad.npz`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
