/**
 * `worldflux train --resume-from` continues an online run killed with SIGKILL (`runProject`, the
 * CLI's path): the model it saves, its metrics.jsonl and its evaluations are those of the run
 * that was never killed.
 * @module
 */

import { killAtReady } from "../util.ts";
import assert from "node:assert/strict";
import type { RunManifest } from "../../src/cli/run_manifest.ts";
import { loadProjectConfig } from "../../src/cli/project.ts";
import { runProject } from "../../src/cli/run.ts";
import { readJson, run, tempDir, writeToml } from "./helpers.ts";

const TOML = `[model]\nfamily = "tdmpc2"\n[model.overrides]\niterations = 1\nnum_samples = 16\n` +
  `num_elites = 4\nnum_pi_trajs = 2\n[data]\nsource = "env"\nenv = "Pendulum-v1"\n` +
  `max_episode_steps = 10\n[training]\ntotal_steps = 50\nprefill_steps = 20\n` +
  `batch_size = 8\nsequence_length = 4\nlog_interval = 5\neval_interval = 25\n` +
  `eval_episodes = 1\nsave_interval = 15\nseed = 1\n`;

const TIMING = new Set(["steps_per_sec", "wall_time", "time"]);

/** The train and eval lines of a metrics.jsonl, without the timings. */
async function records(dir: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l))
    .filter((l) => l.kind === "train" || l.kind === "eval")
    .map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => !TIMING.has(k))));
}

Deno.test("online resume: a killed `worldflux train` run resumed with --resume-from ends as the straight run", async () => {
  const root = await tempDir();
  try {
    const straightDir = `${root}/straight`;
    await Deno.mkdir(straightDir);
    const straightToml = await writeToml(straightDir, TOML);
    const straight = await run(["train", "-c", straightToml]);
    assert.equal(straight.code, 0, straight.err);

    const dir = `${root}/killed`;
    await Deno.mkdir(dir);
    const toml = await writeToml(dir, TOML);
    const { out, stderr, status } = await killAtReady(
      new URL("./online_resume_child.ts", import.meta.url),
      [toml, "35"],
    );
    assert.match(out, /READY 35/, `child output: ${out}\n${stderr}`);
    assert.equal(status.signal, "SIGKILL");
    // Saves fell due at 15 and 30; the 10-step episodes ended at 20 and 30.
    const names = [...Deno.readDirSync(`${dir}/outputs`)].map((e) => e.name)
      .filter((n) => n.startsWith("checkpoint_")).sort();
    assert.deepEqual(names.filter((n) => /\d$/.test(n)), [
      "checkpoint_000020",
      "checkpoint_000030",
    ]);

    const resumed = await runProject(await loadProjectConfig(toml), {
      resumeFrom: `${dir}/outputs`,
      log: () => {},
    });
    assert.equal(resumed.summary.resumedFrom, `${dir}/outputs/checkpoint_000030`);
    assert.equal(resumed.summary.startStep, 30);
    const a = await readJson<RunManifest>(`${straightDir}/outputs/run_manifest.json`);
    const b = await readJson<RunManifest>(`${dir}/outputs/run_manifest.json`);
    assert.equal(b.training.resumed_from, `${dir}/outputs/checkpoint_000030`);
    assert.deepEqual(b.evaluation!.history, a.evaluation!.history);
    assert.equal(a.evaluation!.history.length, 2);
    assert.deepEqual(b.training.updates, a.training.updates);
    const wa = await Deno.readFile(`${straightDir}/outputs/model/model.safetensors`);
    const wb = await Deno.readFile(`${dir}/outputs/model/model.safetensors`);
    assert.ok(wa.length === wb.length && wa.every((x, i) => x === wb[i]), "the models differ");
    // metrics.jsonl reads as one run: the killed run's lines up to step 30, then the resumed.
    const ra = await records(`${straightDir}/outputs`);
    const rb = await records(`${dir}/outputs`);
    assert.deepEqual(rb, ra);
    assert.equal(ra.filter((l) => l.kind === "train").length, 10);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
