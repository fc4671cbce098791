/**
 * WorldLoom's method names (`predict`, `observe`, `imagine`, `computeLoss`) are aliases of the
 * contract's (`transition`, `update`, `rollout`, `loss`): for every built-in family, the same
 * inputs under the same random seed give bit-identical outputs, and the aliases validate the same
 * way.
 * @module
 */

import assert from "node:assert/strict";
import {
  ContractError,
  createWorldModel,
  manualSeed,
  randn,
  type State,
  type Tensor,
  tidy,
  zeros,
} from "../../mod.ts";

async function values(ts: readonly Tensor[]): Promise<number[][]> {
  return await Promise.all(ts.map(async (t) => Array.from(await t.data() as Float32Array)));
}

function stateTensors(s: State): Tensor[] {
  return s.keys().map((k) => s.get(k));
}

for (const family of ["mlp", "dreamerv3", "tdmpc2"]) {
  Deno.test(`worldloom names: ${family} predict/observe/imagine/computeLoss equal transition/update/rollout/loss`, async () => {
    const m = await createWorldModel(`${family}:ci`, { obsShape: [4], actionDim: 2, seed: 5 });
    try {
      const obs = randn([3, 4], { seed: 1 });
      const act = randn([3, 2], { seed: 2 }).tanh();
      const acts = randn([4, 3, 2], { seed: 3 }).tanh();
      const batch = {
        obs: randn([2, 5, 4], { seed: 4 }),
        actions: randn([2, 5, 2], { seed: 6 }).tanh(),
        rewards: randn([2, 5], { seed: 7 }),
        terminations: zeros([2, 5]),
      };
      // Each pair runs under the same seed: sampled latents are drawn identically.
      const pair = async (original: () => Tensor[], alias: () => Tensor[]) => {
        manualSeed(9);
        const a = await values(tidy(original));
        manualSeed(9);
        const b = await values(tidy(alias));
        assert.ok(a.length > 0);
        assert.deepEqual(b, a);
      };
      manualSeed(9);
      const s = m.encode(obs);
      await pair(
        () => stateTensors(m.transition(s, act)),
        () => stateTensors(m.predict(s, act)),
      );
      await pair(
        () => stateTensors(m.update(s, act, obs)),
        () => stateTensors(m.observe(s, act, obs)),
      );
      await pair(() => {
        const t = m.rollout(s, acts, { deterministic: true });
        return [t.rewards!, ...stateTensors(t.finalState)];
      }, () => {
        const t = m.imagine(s, acts, { deterministic: true });
        return [t.rewards!, ...stateTensors(t.finalState)];
      });
      await pair(() => {
        const out = m.loss(batch);
        return [out.loss, ...Object.values(out.components)];
      }, () => {
        const out = m.computeLoss(batch);
        return [out.loss, ...Object.values(out.components)];
      });
      // The aliases validate like the originals: a wrong action width is a ContractError.
      assert.throws(() => m.predict(s, randn([3, 5])), ContractError);
      assert.throws(() => m.imagine(s, randn([4, 3, 5])), ContractError);
    } finally {
      m.dispose();
    }
  });
}
