/**
 * Helpers of the Gymnasium bridge tests: which interpreter they use and whether a process is
 * gone.
 *
 * The interpreter is `WORLDFLUX_PYTHON` (CI's `.ci/run` installs gymnasium, ale-py and mujoco and
 * exports it; locally e.g. `WORLDFLUX_PYTHON=/work/venv/bin/python`). Under CI without it the tests
 * use `python3` and fail loudly if it lacks the packages; elsewhere without it they are ignored
 * (shown as ignored, with this reason printed once).
 * @module
 */

import { fileURLToPath } from "node:url";

const fromEnv = Deno.env.get("WORLDFLUX_PYTHON") ?? null;
const ci = Deno.env.get("CI") === "true";

/** The interpreter of the bridge tests, or null when they are skipped. */
export const TEST_PYTHON: string | null = fromEnv ?? (ci ? "python3" : null);

/** Whether the bridge tests are ignored here. */
export const SKIP_GYM: boolean = TEST_PYTHON === null;

if (SKIP_GYM) {
  console.warn(
    "gym bridge tests ignored: set WORLDFLUX_PYTHON to a Python with gymnasium, ale-py and mujoco",
  );
}

/** The interpreter (the tests that use it are ignored when there is none). */
export function python(): string {
  if (TEST_PYTHON === null) throw new Error("no test interpreter");
  return TEST_PYTHON;
}

/** Directory of the test-only Python modules (`gym_fixtures/`). */
export const FIXTURES: string = fileURLToPath(new URL("./gym_fixtures", import.meta.url));

/** Whether process `pid` is gone (no `/proc` entry: exited and reaped), waiting up to `ms`. */
export async function processGone(pid: number, ms = 3000): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return true;
      throw e;
    }
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}
