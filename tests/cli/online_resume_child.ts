/**
 * Child process of the online kill-and-resume test: `runProject` on the project file
 * `Deno.args[0]`, printing "READY <step>" after environment step `Deno.args[1]`, then idling
 * until the parent kills it (SIGKILL).
 * @module
 */

import "../../mod.ts"; // registers the families
import { loadProjectConfig } from "../../src/cli/project.ts";
import { runProject } from "../../src/cli/run.ts";

const readyAt = Number(Deno.args[1]);
await runProject(await loadProjectConfig(Deno.args[0]), {
  log: () => {},
  callbacks: [{
    key: "ready",
    onStepEnd: async (step: number) => {
      if (step !== readyAt) return;
      await Deno.stdout.write(new TextEncoder().encode(`READY ${step}\n`));
      await new Promise(() => setInterval(() => {}, 1000)); // until killed
    },
  }],
});
