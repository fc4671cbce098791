/**
 * Smoke test of examples/evidence_tdmpc2_halfcheetah.ts at a tiny budget (20-step episodes, a
 * 16-wide model, MPPI 16 x 1): the online run goes through `runProject`, and the bundle holds
 * the run manifest, metrics, a checkpoint, the model, returns.json, summary.json, the curve PNG
 * and report.html, consistent with each other. Not the learning claim (docs/learning_results.md).
 */

import assert from "node:assert/strict";
import { decode } from "fast-png";
import { EVIDENCE_DEFAULTS, runEvidence } from "../../examples/evidence_tdmpc2_halfcheetah.ts";
import type { RunManifest } from "../../src/cli/run_manifest.ts";
import { SKIP_GYM } from "../envs/gym_helpers.ts";

/** A tiny budget: 20-step episodes, a 16-wide model, MPPI 16 x 1, action repeat 2. */
const TINY = {
  ...EVIDENCE_DEFAULTS,
  steps: 60,
  prefill: 30,
  prefillUpdates: 3,
  actionRepeat: 2,
  maxEpisodeSteps: 20,
  evalInterval: 60,
  evalEpisodes: 1,
  finalEpisodes: 2,
  baselineEpisodes: 2,
  saveInterval: 60,
  logInterval: 30,
  batchSize: 8,
  latent: 16,
  mlp: 32,
  enc: 32,
  samples: 16,
  elites: 4,
  piTrajs: 2,
  iterations: 1,
  seed: 3,
};

Deno.test("evidence_tdmpc2_halfcheetah: a tiny run writes the whole bundle", async () => {
  const out = await Deno.makeTempDir({ prefix: "wf_evidence_" });
  try {
    const summary = await runEvidence(
      TINY,
      out,
      "evidence smoke",
    ) as {
      budget: { env_steps: number; updates: number };
      final_eval: { episodes: number; mean: number };
      bar: number;
    };
    assert.equal(summary.budget.env_steps, 60);
    // Action repeat 2: 30 agent steps, 15 of prefill, then 3 pretraining updates and one update
    // per agent step (16); the records count environment steps.
    assert.equal(summary.budget.updates, 16 + 3);
    assert.equal((summary.budget as Record<string, number>).agent_steps, 30);
    assert.equal(summary.final_eval.episodes, 2);
    assert.equal(summary.bar, 2000);
    const names = [...Deno.readDirSync(out)].map((e) => e.name);
    for (
      const f of [
        "run_manifest.json",
        "metrics.jsonl",
        "model",
        "returns.json",
        "summary.json",
        "returns.png",
        "report.html",
      ]
    ) assert.ok(names.includes(f), `${f} in ${names.join(", ")}`);
    assert.ok(names.some((n) => n.startsWith("checkpoint_")), "a checkpoint");
    const manifest = JSON.parse(await Deno.readTextFile(`${out}/run_manifest.json`)) as RunManifest;
    assert.equal(manifest.data.env, "HalfCheetah-v5");
    assert.equal((manifest.data as Record<string, unknown>).frame_skip, 2);
    assert.equal(manifest.training.controller, "tdmpc2");
    assert.equal(manifest.run_classification, "meaningful_local_training");
    const returns = JSON.parse(await Deno.readTextFile(`${out}/returns.json`));
    assert.equal(returns.evaluations.length, 1);
    assert.equal(returns.evaluations[0].env_step, 60);
    assert.equal(returns.random_baseline.returns.length, 2);
    assert.equal(returns.final_evaluation.returns.length, 2);
    assert.ok(returns.training_episodes.length >= 2);
    assert.equal(returns.training_episodes[0][0], 20); // environment steps: 10 agent steps x 2
    const png = decode(await Deno.readFile(`${out}/returns.png`));
    assert.ok(png.width > 100 && png.height > 100);
    const html = await Deno.readTextFile(`${out}/report.html`);
    assert.match(html, /<svg/);
    assert.match(html, new RegExp(`${summary.final_eval.mean.toFixed(1)}`));
    assert.match(html, /checkpoints:\s*<code>checkpoint_/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("evidence_tdmpc2_halfcheetah --resume: a run killed after a checkpoint ends with the bundle of the straight run", async () => {
  const straight = await Deno.makeTempDir({ prefix: "wf_evidence_" });
  const killed = await Deno.makeTempDir({ prefix: "wf_evidence_killed_" });
  try {
    // Saves every 20 environment steps (10 agent steps): at the ends of the 10-agent-step
    // episodes, agent steps 10 and 20.
    const flags = { ...TINY, saveInterval: 20 };
    await runEvidence(flags, straight, "evidence smoke");
    const names = [...Deno.readDirSync(straight)].map((e) => e.name);
    assert.ok(names.includes("checkpoint_000010") && names.includes("checkpoint_000020"));
    // What a kill after the first checkpoint leaves: that checkpoint and the metrics so far.
    await new Deno.Command("cp", {
      args: ["-r", `${straight}/checkpoint_000010`, `${straight}/metrics.jsonl`, killed],
    }).output();
    const summary = await runEvidence(
      { ...flags, resume: `${killed}/checkpoint_000010` },
      killed,
      "evidence smoke --resume",
    ) as { budget: { resumed?: { agent_step: number; checkpoint: string } } };
    assert.equal(summary.budget.resumed?.agent_step, 10);
    assert.equal(summary.budget.resumed?.checkpoint, `${killed}/checkpoint_000010`);
    const a = JSON.parse(await Deno.readTextFile(`${straight}/returns.json`));
    const b = JSON.parse(await Deno.readTextFile(`${killed}/returns.json`));
    assert.deepEqual(b.training_episodes, a.training_episodes);
    assert.deepEqual(b.evaluations, a.evaluations);
    assert.deepEqual(b.final_evaluation, a.final_evaluation);
    assert.equal(a.training_episodes.length, 3);
    const wa = await Deno.readFile(`${straight}/model/model.safetensors`);
    const wb = await Deno.readFile(`${killed}/model/model.safetensors`);
    assert.ok(wa.length === wb.length && wa.every((x, i) => x === wb[i]), "the models differ");
    const steps = (await Deno.readTextFile(`${killed}/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((l) => l.kind === "train").map((l) => l.step);
    assert.deepEqual(steps, [15, 30]);
  } finally {
    await Deno.remove(straight, { recursive: true });
    await Deno.remove(killed, { recursive: true });
  }
});

Deno.test({
  name:
    "evidence_tdmpc2_halfcheetah --gym: the same bundle from Gymnasium's HalfCheetah-v5 (bridge)",
  ignore: SKIP_GYM,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "wf_evidence_gym_" });
    try {
      const summary = await runEvidence({ ...TINY, gym: true }, out, "evidence smoke --gym") as {
        env: string;
        budget: { env_steps: number };
      };
      assert.equal(summary.env, "gym:HalfCheetah-v5");
      assert.equal(summary.budget.env_steps, 60);
      const manifest = JSON.parse(await Deno.readTextFile(`${out}/run_manifest.json`));
      assert.equal(manifest.data.source, "gym");
      assert.match(await Deno.readTextFile(`${out}/report.html`), /gym:HalfCheetah-v5/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
