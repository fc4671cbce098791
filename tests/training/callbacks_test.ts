import assert from "node:assert/strict";
import { Writable } from "node:stream";
import {
  type Callback,
  CheckpointCallback,
  EarlyStoppingCallback,
  LoggingCallback,
  makeTrainStep,
  type Metrics,
  ProgressCallback,
  tensor,
  Trainer,
  type TrainingContext,
} from "../../mod.ts";
import { FAST, mlpModel, pointMassBuffer, recorder, stopAt, tempDir } from "./helpers.ts";

const quiet = { defaultCallbacks: false, log: () => {} } as const;

async function jsonLines(path: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("callbacks: hooks run in order with metrics at log steps only; 'stop' ends the run", async () => {
  const events: string[] = [];
  const cb: Callback = {
    onTrainBegin: (ctx) => void events.push(`begin@${ctx.state.step}`),
    onStepEnd: (step, logs) => void events.push(`step${step}${logs ? `:${logs.loss > 0}` : ""}`),
    onLog: (step) => void events.push(`log${step}`),
    onTrainEnd: (s) => void events.push(`end:${s.steps}:${s.stoppedEarly}`),
    close: () => void events.push("close"),
  };
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 10,
    logInterval: 2,
    outputDir: await tempDir(),
  }, { ...quiet, callbacks: [cb, stopAt(5)] });
  const { summary } = await trainer.train(pointMassBuffer());
  assert.deepEqual(events, [
    "begin@0",
    "step1",
    "log2",
    "step2:true",
    "step3",
    "log4",
    "step4:true",
    "step5",
    "end:5:true",
    "close",
  ]);
  assert.equal(summary.stoppedEarly, true);
  assert.equal(summary.stopReason, "stopped by stop_at");
});

Deno.test("callbacks: LoggingCallback writes JSON lines as it goes (every component, speed, time)", async () => {
  const dir = await tempDir();
  const seen: number[] = [];
  // A later callback reads the file at each log: the line of that step is already there.
  const reader: Callback = {
    onLog: async (step) => {
      const lines = await jsonLines(`${dir}/metrics.jsonl`);
      seen.push(lines.filter((l) => l.kind === "train").length);
      assert.equal(lines.at(-1)!.step, step);
    },
  };
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 9,
    logInterval: 3,
    evalInterval: 9,
    outputDir: dir,
  }, { ...quiet, callbacks: [new LoggingCallback(), reader] });
  await trainer.train(pointMassBuffer(), { evalBuffer: pointMassBuffer(5, 2), evalBatches: 1 });
  assert.deepEqual(seen, [1, 2, 3]);
  const lines = await jsonLines(`${dir}/metrics.jsonl`);
  assert.deepEqual(lines.map((l) => l.kind), ["run", "train", "train", "train", "eval", "end"]);
  const run = lines[0];
  assert.equal(run.model_type, "mlp");
  assert.equal((run.config as Record<string, unknown>).total_steps, 9);
  const t = lines[3];
  assert.equal(t.step, 9);
  for (const k of ["loss", "recon", "reward", "continue", "consistency", "kl", "grad_norm", "lr"]) {
    assert.equal(typeof t[k], "number", k);
  }
  assert.ok((t.steps_per_sec as number) > 0 && (t.wall_time as number) > 0);
  assert.ok(!Number.isNaN(Date.parse(t.time as string)));
  assert.equal(typeof lines[4].eval_loss, "number");
  assert.equal(lines[5].steps, 9);
});

Deno.test("callbacks: CheckpointCallback keeps the last N periodic checkpoints, plus best and final", async () => {
  const dir = await tempDir();
  const ck = new CheckpointCallback({ saveInterval: 4, keepLast: 2 });
  const saved: number[] = [];
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 16,
    logInterval: 8,
    outputDir: dir,
  }, { ...quiet, callbacks: [ck, { onCheckpoint: (s) => void saved.push(s) }] });
  const { summary } = await trainer.train(pointMassBuffer());
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names.sort(), [
    "checkpoint_000012",
    "checkpoint_000016",
    "checkpoint_best",
    "checkpoint_final",
  ]);
  // Periodic at 4, 8, 12, 16; best at the log steps 8 and 16 (when improved); final at 16.
  assert.deepEqual(saved.slice(0, 2), [4, 8]);
  assert.equal(saved.at(-1), 16);
  assert.equal(summary.lastCheckpoint, `${dir}/checkpoint_final`);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint_best/manifest.json`));
  assert.ok(manifest.step === 8 || manifest.step === 16);
  assert.throws(() => new CheckpointCallback({ keepLast: 0 }), /keepLast must be >= 1/);
});

Deno.test("callbacks: EarlyStoppingCallback stops after `patience` steps without improvement", async () => {
  // A step whose loss improves until step 6, then stays flat (eager: the loss comes from a JS
  // counter, which a compiled step would freeze at its trace).
  let n = 0;
  const step = makeTrainStep({
    name: "flat",
    optimizers: {},
    compile: false,
    update: () => {
      n++;
      return { loss: tensor(n <= 6 ? 10 - n : 4.00001) };
    },
  });
  const es = new EarlyStoppingCallback({ patience: 5, minDelta: 1e-3 });
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 100,
    outputDir: await tempDir(),
  }, { ...quiet, trainStep: step, callbacks: [es] });
  const { summary } = await trainer.train(pointMassBuffer());
  assert.equal(summary.steps, 11);
  assert.equal(es.best, 4);
  assert.equal(es.bestStep, 6);
  assert.match(
    summary.stopReason!,
    /early stopping: loss has not improved on 4\.0000 \(step 6\) by 0\.001 for 5 steps/,
  );
  assert.deepEqual(es.stateDict(), { best: 4, best_step: 6 });
  // mode "max" on an evaluation metric.
  const up = new EarlyStoppingCallback({ monitor: "eval_return_mean", mode: "max", patience: 2 });
  const ctx = { stop: () => {} } as unknown as TrainingContext;
  assert.equal(up.onEval(1, { eval_return_mean: 1 }, ctx), undefined);
  assert.equal(up.onEval(2, { eval_return_mean: 2 }, ctx), undefined);
  assert.equal(up.onEval(3, { eval_return_mean: 2 }, ctx), undefined);
  assert.equal(up.onEval(4, { eval_return_mean: 1.5 }, ctx), "stop");
});

Deno.test("callbacks: ProgressCallback prints plain lines off a terminal and draws a bar on one", async () => {
  const lines: string[] = [];
  const plain = new ProgressCallback({ terminal: false, write: (l) => lines.push(l) });
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 6,
    logInterval: 3,
    outputDir: await tempDir(),
  }, { ...quiet, callbacks: [plain] });
  await trainer.train(pointMassBuffer());
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^train: mlp for 6 steps \| mlp \(model: AdamW; compiled\)$/);
  assert.match(
    lines[1],
    /^step 3\/6 \(50\.0%\) \| loss \d\.\d{4} \| recon .* \| [\d.]+ steps\/s \| eta /,
  );
  assert.match(lines[3], /^done: 6\/6 steps in [\d.]+s \([\d.]+ steps\/s\), best loss \d\.\d{4}$/);

  // On a terminal: cli-progress draws into the stream (a fake TTY here).
  let drawn = "";
  const stream = Object.assign(
    new Writable({
      write(chunk, _enc, done) {
        drawn += String(chunk);
        done();
      },
    }),
    { isTTY: true, columns: 160 },
  );
  const bar = new ProgressCallback({ terminal: true, stream, write: () => {} });
  assert.equal(bar.terminal, true);
  const t2 = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 6,
    logInterval: 3,
    outputDir: await tempDir(),
  }, { ...quiet, callbacks: [bar] });
  await t2.train(pointMassBuffer());
  assert.match(drawn, /train \|.*\| 100% \| 6\/6 steps \| loss \d\.\d{4} \| [\d.]+ steps\/s/);
});

Deno.test("callbacks: a callback's ctx.stop() and default-callback replacement", async () => {
  const stopper: Callback = {
    onLog: (step: number, _m: Metrics, ctx: TrainingContext) => {
      if (step === 4) ctx.stop("enough");
    },
  };
  const dir = await tempDir();
  const mine = new CheckpointCallback({ saveInterval: 1000, saveBest: false, saveFinal: false });
  const rec = recorder();
  const trainer = new Trainer(await mlpModel(), {
    ...FAST,
    totalSteps: 10,
    logInterval: 2,
    outputDir: dir,
  }, {
    callbacks: [mine, stopper, rec, new ProgressCallback({ terminal: false, write: () => {} })],
  });
  const { summary } = await trainer.train(pointMassBuffer());
  assert.equal(summary.steps, 4);
  assert.equal(summary.stopReason, "enough");
  // Defaults: Logging added; Progress and Checkpoint replaced by the given ones.
  const kinds = trainer.callbacks.map((c) => c.constructor.name);
  assert.deepEqual(kinds, [
    "LoggingCallback",
    "CheckpointCallback",
    "Object",
    "Object",
    "ProgressCallback",
  ]);
  assert.ok((await Deno.stat(`${dir}/metrics.jsonl`)).isFile);
  await assert.rejects(() => Deno.stat(`${dir}/checkpoint_final`), Deno.errors.NotFound);
});
