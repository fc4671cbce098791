/**
 * Child process of the kill-and-resume test: trains the mlp family for up to 40 steps with a
 * checkpoint every 10 steps and a metrics line every step, prints "READY <step>" after step
 * `Deno.args[1]` (default 25), then idles until the parent kills it.
 * @module
 */

import { CheckpointCallback, LoggingCallback, Trainer } from "../../mod.ts";
import { FAST, mlpModel, pointMassBuffer } from "./helpers.ts";

const outputDir = Deno.args[0];
const readyAt = Number(Deno.args[1] ?? 25);
const trainer = new Trainer(await mlpModel(1), {
  ...FAST,
  totalSteps: 40,
  saveInterval: 10,
  outputDir,
}, {
  defaultCallbacks: false,
  log: () => {},
  callbacks: [
    new LoggingCallback(),
    new CheckpointCallback({ saveBest: false, saveFinal: false }),
    {
      onStepEnd: async (step: number) => {
        if (step !== readyAt) return;
        await Deno.stdout.write(new TextEncoder().encode(`READY ${step}\n`));
        await new Promise(() => setInterval(() => {}, 1000)); // until killed
      },
    },
  ],
});
await trainer.train(pointMassBuffer());
