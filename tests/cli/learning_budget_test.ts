import assert from "node:assert/strict";
import { LEARNING_BUDGET, learningBudgetShortfalls } from "../../src/cli/learning_budget.ts";
import { templateTraining } from "../../src/cli/init.ts";
import { registerBuiltinFamilies } from "../../src/models/registry_setup.ts";

registerBuiltinFamilies(); // the templates are the registered families' scaffolds

const ok = {
  ownPolicy: true,
  envSteps: 3000,
  updates: 1000,
  prefillSteps: 500,
  evalSteps: [1000, 3000],
};

Deno.test("learning budget: the thresholds, met exactly at them, each shortfall named", () => {
  assert.deepEqual({ ...LEARNING_BUDGET }, { minEnvSteps: 3000, minUpdates: 1000 });
  assert.deepEqual(learningBudgetShortfalls(ok), []);
  assert.deepEqual(learningBudgetShortfalls({ ...ok, envSteps: 2999 }), [
    "2999 environment steps, fewer than 3000",
  ]);
  assert.deepEqual(learningBudgetShortfalls({ ...ok, updates: 999 }), [
    "999 gradient updates, fewer than 1000",
  ]);
  assert.deepEqual(learningBudgetShortfalls({ ...ok, ownPolicy: false }), [
    "the family's policy never acted (random actions throughout)",
  ]);
  // An evaluation during the prefill shows the random policy, not the learned one.
  assert.deepEqual(learningBudgetShortfalls({ ...ok, evalSteps: [500] }), [
    "no evaluation after the 500 prefill steps",
  ]);
  assert.deepEqual(learningBudgetShortfalls({ ...ok, evalSteps: [] }), [
    "no evaluation after the 500 prefill steps",
  ]);
});

Deno.test("learning budget: the projects `worldflux init --data env|gym` scaffolds meet it", () => {
  for (const family of ["dreamerv3", "tdmpc2"] as const) {
    for (const [data, pixels] of [["env", false], ["env", true], ["gym", false]] as const) {
      const t = templateTraining(family, data, pixels);
      const steps = t.totalSteps!, prefill = t.prefillSteps!, ratio = t.trainRatio ?? 1;
      const updates = Math.floor((steps - prefill) * ratio);
      const evals = [];
      for (let s = t.evalInterval!; s <= steps; s += t.evalInterval!) evals.push(s);
      assert.deepEqual(
        learningBudgetShortfalls({
          ownPolicy: true,
          envSteps: steps,
          updates,
          prefillSteps: prefill,
          evalSteps: evals,
        }),
        [],
        `${family} ${data}${pixels ? " (pixels)" : ""}: ${steps} steps, ${updates} updates`,
      );
    }
  }
});
