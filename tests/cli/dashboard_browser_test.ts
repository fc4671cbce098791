/**
 * `worldflux dashboard` in a real browser (headless Chromium, see `tests/chromium.ts`): the page
 * of a run directory follows `metrics.jsonl` as lines are appended (the curves and the status
 * change in the DOM), shows the manifest, the quick-verify result and the imagination picture
 * when they are written, starts over when a new run replaces the file, and logs no console error
 * on the way. Screenshots are kept in `outputs/test-artifacts/dashboard/`.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { serveDashboard } from "../../src/cli/dashboard_server.ts";
import { artifactDir, chromiumSkipReason, launchChromium, watchPage } from "../chromium.ts";
import { tempDir } from "./helpers.ts";

const skip = chromiumSkipReason();
const line = (o: Record<string, unknown>) => JSON.stringify(o) + "\n";

function trainLine(step: number): string {
  return line({
    kind: "train",
    step,
    loss: 2 / (1 + step / 100),
    consistency_loss: 0.1 / (1 + step / 100),
    reward_loss: 1 / (1 + step / 100),
    value_loss: 1.5 / (1 + step / 100),
    pi_loss: 0.3,
    lr: 3e-4,
    updates: step / 2,
    episodes: step / 100,
    train_return: -1200 + step,
    steps_per_sec: 40 + step / 100,
    wall_time: step / 40,
    time: new Date().toISOString(),
  });
}

function evalLine(step: number): string {
  return line({
    kind: "eval",
    step,
    eval_return_mean: -1000 + step,
    time: new Date().toISOString(),
  });
}

function runLine(totalSteps: number): string {
  return line({
    kind: "run",
    step: 0,
    mode: "online",
    model_type: "tdmpc2",
    train_step: "tdmpc2 (model: Adam, pi: Adam; compiled)",
    resumed_from: null,
    config: { total_steps: totalSteps },
    time: new Date().toISOString(),
  });
}

/** What the page shows, read from its DOM. */
interface PageState {
  step: string | null;
  state: string | null;
  connection: string | null;
  /** Points of each line of the loss chart. */
  lossPoints: number[];
  returnPoints: number[];
  /** Dots of the evaluation line (red). */
  evalDots: number;
  verify: string | null;
  manifest: string;
  /** Natural width of the loaded imagination picture (0: none loaded). */
  picture: number;
}

/** Runs in the page (a string: this file is type-checked without the DOM library). */
const READ_PAGE = `(() => {
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  const points = (sel) => [...document.querySelectorAll(sel + " polyline")]
    .map((p) => (p.getAttribute("points") ?? "").split(" ").filter(Boolean).length);
  const img = document.querySelector("#imagination img");
  return {
    step: text("status-step"),
    state: text("run-state"),
    connection: text("connection"),
    lossPoints: points("#chart-losses"),
    returnPoints: points("#chart-returns"),
    evalDots: document.querySelectorAll('#chart-returns circle[fill="#d62728"]').length,
    verify: text("verify-status"),
    manifest: text("manifest") ?? "",
    picture: img && img.complete ? img.naturalWidth : 0,
  };
})()`;

function readPage(page: Page): Promise<PageState> {
  return page.evaluate<PageState>(READ_PAGE);
}

/** Polls the page until `pred` holds (or fails with what it showed last). */
async function waitFor(
  page: Page,
  what: string,
  pred: (s: PageState) => boolean,
  ms = 20_000,
): Promise<PageState> {
  const deadline = Date.now() + ms;
  let s = await readPage(page);
  while (!pred(s)) {
    if (Date.now() > deadline) {
      throw new Error(`the page did not show ${what} within ${ms} ms: ${JSON.stringify(s)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
    s = await readPage(page);
  }
  return s;
}

Deno.test({
  name: `dashboard in Chromium: live curves, run files, a new run, no console errors${
    skip ? ` (skipped: ${skip})` : ""
  }`,
  ignore: skip !== null,
  // playwright-core keeps its own pipes and timers across the browser's life.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const runDir = await tempDir("wf_dash_browser_");
    const metrics = `${runDir}/metrics.jsonl`;
    await Deno.writeTextFile(
      metrics,
      runLine(1000) + [100, 200, 300].map(trainLine).join("") + evalLine(200),
    );
    const server = serveDashboard({ target: runDir, port: 0, pollMs: 100 });
    const browser = await launchChromium();
    const shots = await artifactDir("dashboard");
    try {
      const page = await browser.context.newPage();
      // The event stream is cut when the page closes; anything else is a problem.
      const problems = watchPage(page, server.url, (url) => url.endsWith("/api/events"));
      await page.goto(server.url);

      let // (The status and the charts are redrawn apart: wait for both.)
      s = await waitFor(
        page,
        "the first lines",
        // The manifest panel is filled by a request of its own: wait for it too.
        (s) => s.step === "300" && s.lossPoints.length > 0 && s.manifest !== "",
      );
      assert.deepEqual(s.lossPoints, [3, 3, 3, 3]); // consistency, reward, value, pi
      assert.equal(s.evalDots, 1);
      assert.equal(s.state, "running");
      assert.equal(s.connection, "live");
      assert.match(s.manifest, /Not written yet/);
      assert.equal(s.verify, "not run");
      await page.screenshot({ path: `${shots}1-running.png`, fullPage: true });

      // The run goes on: lines appended (one in two writes) and an evaluation.
      await Deno.writeTextFile(metrics, trainLine(400) + trainLine(500).slice(0, 40), {
        append: true,
      });
      await Deno.writeTextFile(
        metrics,
        trainLine(500).slice(40) + evalLine(600) + [600, 700, 800].map(trainLine).join(""),
        { append: true },
      );
      s = await waitFor(
        page,
        "the appended lines",
        (s) => s.step === "800" && s.lossPoints[0] === 8 && s.evalDots === 2,
      );
      assert.deepEqual(s.lossPoints, [8, 8, 8, 8]);
      assert.equal(s.evalDots, 2);

      // The run ends and writes its files; verify and an imagination picture follow.
      await Deno.writeTextFile(metrics, line({ kind: "end", step: 1000, steps: 1000 }), {
        append: true,
      });
      await Deno.writeTextFile(
        `${runDir}/run_manifest.json`,
        JSON.stringify({
          model: { id: "tdmpc2:ci", parameters: 23825 },
          device: { selected: "cpu", reason: "test" },
          data: { source: "env", env: "Pendulum-v1" },
          training: { steps: 1000, total_steps: 1000, updates: 500, wall_time_sec: 25 },
          run_classification: "meaningful_local_training",
          degraded_modes: ["below_learning_budget"],
          evaluation: { final_mean_return: -200, best_mean_return: -150 },
        }),
      );
      await Deno.writeTextFile(
        `${runDir}/quick_verify.json`,
        JSON.stringify({
          status: "pass",
          summary: "the policy beats random play",
          tier: "real_env_smoke",
          artifacts: [{ name: "run_manifest.json", ok: true, detail: "valid" }],
          quality: [{ name: "return_gain", ok: true, detail: "<b>not bold</b>" }],
        }),
      );
      await Deno.writeTextFile(
        `${runDir}/imagination.svg`,
        `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" ` +
          `height="40" fill="#1f77b4"/><script>alert(1)</script></svg>`,
      );
      s = await waitFor(
        page,
        "the finished run's files",
        (s) => s.state === "finished" && s.verify === "PASS" && s.picture > 0,
      );
      assert.equal(s.picture, 120);
      assert.match(s.manifest, /tdmpc2:ci \(23,825 parameters\)/);
      assert.match(s.manifest, /below_learning_budget/);
      // Text from the files is shown as text, never as markup.
      assert.equal(await page.locator("#verify b", { hasText: "not bold" }).count(), 0);
      assert.match(await page.locator("#verify").innerText(), /<b>not bold<\/b>/);
      await page.screenshot({ path: `${shots}2-finished.png`, fullPage: true });

      // The metrics picker: unticking a loss term takes its line off the chart.
      await page.locator("#loss-keys-box summary").click();
      await page.locator('#loss-keys input[value="pi_loss"]').uncheck();
      s = await waitFor(page, "three loss lines", (s) => s.lossPoints.length === 3);
      await page.locator('#loss-keys input[value="loss"]').check();
      s = await waitFor(page, "four loss lines", (s) => s.lossPoints.length === 4);

      // A new run in the same directory: the old file moves aside, a new one starts.
      await Deno.rename(metrics, `${runDir}/old_metrics.jsonl`);
      await Deno.writeTextFile(metrics, runLine(400) + trainLine(50));
      s = await waitFor(
        page,
        "the new run",
        (s) => s.step === "50" && s.state === "running" && s.returnPoints.length === 1,
      );
      assert.equal(s.evalDots, 0);
      assert.deepEqual(s.returnPoints, [1]);
      await page.screenshot({ path: `${shots}3-new-run.png`, fullPage: true });
      console.log(`dashboard screenshots: ${shots}`);
      await page.close();
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(runDir, { recursive: true });
    }
  },
});
