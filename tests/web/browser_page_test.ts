/**
 * worldflux in a real browser (headless Chromium, see `tests/chromium.ts`): `examples/browser/`
 * bundled with `deno bundle` and served cross-origin isolated. The page loads a saved dreamer:ci
 * over fetch, and its imagination of a CartPole trajectory (encode, filter, open-loop rollout,
 * decode) on WebGPU and on the wasm cpu backend must equal Deno's for the same saved model and
 * trajectory on the same device (float32 tolerance); a short online training runs in the page;
 * the module bundled on its own (`worldflux.js`) imports and computes on the page's main thread;
 * no console error or failed request on the way. Screenshots are kept in
 * `outputs/test-artifacts/browser/`.
 */

import assert from "node:assert/strict";
import {
  type DeviceName,
  fromPretrained,
  initWebGPU,
  makeEnvSync,
  manualSeed,
  randomController,
} from "../../mod.ts";
import { imagine, playGreedy } from "../../examples/lib/imagination.ts";
import {
  bundleBrowserPage,
  saveDefaultModel,
  serveBrowserPage,
} from "../../examples/browser/serve.ts";
import type { ImagineResult, PlainTrajectory, TrainResult } from "../../examples/browser/engine.ts";
import { artifactDir, chromiumSkipReason, launchChromium, watchPage } from "../chromium.ts";

const skip = chromiumSkipReason();
/** Seed of the latent samples of the imagination's posterior steps (page and Deno alike). */
const SEED = 5;
/** Steps of the page's CartPole episode (seed 5's random play lasts longer) and observed ones. */
const STEPS = 16;
const WARMUP = 4;
/** Environment steps of the page's online training. */
const TRAIN_STEPS = 150;

/** Largest |a - b| / (1 + |b|) over two equally shaped arrays of rows. */
function relDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i].length);
    row.forEach((x, j) => m = Math.max(m, Math.abs(x - b[i][j]) / (1 + Math.abs(b[i][j]))));
  });
  return m;
}

Deno.test({
  name: `browser page in Chromium: rollouts equal Deno's on webgpu and cpu, online training runs${
    skip ? ` (skipped: ${skip})` : ""
  }`,
  ignore: skip !== null,
  // playwright-core keeps its own pipes and timers across the browser's life.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "wf_browser_page_" });
    const modelDir = `${root}/model`;
    await saveDefaultModel(modelDir, 7);
    await bundleBrowserPage(`${root}/dist`);

    // Deno's imagination of the page's trajectory (CartPole from reset({ seed }) with seeded
    // random actions), on each device.
    const t0 = performance.now();
    await initWebGPU();
    const env = makeEnvSync("CartPole-v1");
    const traj = await playGreedy(env, randomController(env.actionSpace, SEED), {
      seed: SEED,
      steps: STEPS,
    });
    const want: Record<string, { obs: number[][]; rewards: number[] }> = {};
    for (const device of ["webgpu", "cpu"] as const) {
      const model = await fromPretrained(modelDir, { device });
      manualSeed(SEED); // as the page's engine does before imagining
      const im = await imagine(model, traj, WARMUP);
      want[device] = { obs: im.imaginedObs!, rewards: im.imaginedRewards };
      model.dispose();
    }
    const trajectory: PlainTrajectory = {
      obs: traj.obs.map((o) => Array.from(o)),
      actions: traj.actions.map((a) => Array.from(a)),
      rewards: [...traj.rewards],
    };
    const t1 = performance.now();

    const server = serveBrowserPage({ model: modelDir, dist: `${root}/dist`, port: 0 });
    const browser = await launchChromium({ width: 1300, height: 1400 });
    const shots = await artifactDir("browser");
    try {
      const page = await browser.context.newPage();
      const problems = watchPage(page, server.url);
      await page.goto(
        `${server.url}?seed=${SEED}&steps=${STEPS}&warmup=${WARMUP}&train=${TRAIN_STEPS}`,
      );
      // The page's own run: imagination on both devices, then online training on cpu.
      const run = await page.evaluate<{
        info: { crossOriginIsolated: boolean; cpuThreads: number; webgpu: string };
        imagined: Record<string, ImagineResult>;
        trained: TrainResult;
        after: ImagineResult;
      }>("globalThis.worldflux.done");
      const t2 = performance.now();
      await page.screenshot({ path: `${shots}page.png`, fullPage: true });
      assert.equal(run.info.crossOriginIsolated, true);
      assert.equal(run.info.webgpu, "available");
      assert.deepEqual(Object.keys(run.imagined).sort(), ["cpu", "webgpu"]);
      const diffs: Record<string, number> = {};
      for (const device of ["webgpu", "cpu"] as DeviceName[]) {
        const got = run.imagined[device];
        // The page played the same episode (the environments agree across runtimes).
        assert.deepEqual(got.trajectory, trajectory);
        assert.equal(got.imaginedObs.length, STEPS - WARMUP);
        assert.equal(got.imaginedFrames.length, STEPS - WARMUP);
        assert.equal(got.realFrames.length, STEPS + 1);
        diffs[device] = Math.max(
          relDiff(got.imaginedObs, want[device].obs),
          relDiff([got.imaginedRewards], [want[device].rewards]),
        );
      }
      console.log(
        `browser vs Deno, largest relative difference: ${JSON.stringify(diffs)}; Deno side ` +
          `${((t1 - t0) / 1000).toFixed(1)} s, page ${((t2 - t1) / 1000).toFixed(1)} s ` +
          `(online training ${(run.trained.ms / 1000).toFixed(1)} s)`,
      );
      for (const [device, d] of Object.entries(diffs)) {
        assert.ok(d <= 1e-4, `${device}: the page's rollout differs from Deno's by ${d}`);
      }
      // The model imagines something else on another device only through float rounding.
      assert.ok(relDiff(want.webgpu.obs, want.cpu.obs) <= 1e-3);

      assert.equal(run.trained.steps, TRAIN_STEPS);
      assert.ok(run.trained.updates > 0, `updates ${run.trained.updates}`);
      assert.ok(Number.isFinite(run.trained.lastLoss), `loss ${run.trained.lastLoss}`);
      assert.ok(run.trained.episodeReturns.length > 0);
      assert.equal(run.after.device, "cpu");
      // The trained model imagines the same episode differently: the page's updates took.
      assert.deepEqual(run.after.trajectory, trajectory);
      assert.ok(relDiff(run.after.imaginedObs, run.imagined.cpu.imaginedObs) > 1e-6);
      assert.equal(
        await page.locator("#after-training canvas").count(),
        2,
        "real and imagined strips after training",
      );
      // The whole module, bundled on its own, imports in a page (no Node or Deno API at import)
      // and computes on the cpu backend on the page's main thread.
      const direct = await page.evaluate<{ exports: number; y: number[][] }>(`(async () => {
        const wf = await import("./worldflux.js");
        wf.setKernelWorkerUrl(new URL("./kernel_worker.js", location.href));
        const y = wf.tidy(() => wf.tensor([[1, 2], [3, 4]]).matmul(wf.tensor([[1], [1]])).relu());
        return { exports: Object.keys(wf).length, y: await y.array() };
      })()`);
      assert.ok(direct.exports > 100, `${direct.exports} exports`);
      assert.deepEqual(direct.y, [[3], [7]]);
      await page.close();
      assert.deepEqual(problems, []);
      console.log(`browser page screenshots: ${shots}`);
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(root, { recursive: true });
    }
  },
});
