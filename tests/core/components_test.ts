import assert from "node:assert/strict";
import {
  type ActionConditioner,
  applyComponentOverrides,
  CapabilityError,
  type ComponentContext,
  ComponentError,
  ComponentRegistry,
  createWorldModel,
  type Decoder,
  fromPretrained,
  Linear,
  Module,
  randn,
  type State,
  type Tensor,
  zeros,
} from "../../mod.ts";
import { tempDir } from "./helpers.ts";

/** A conditioner that doubles the action (to tell overrides apart by their results). */
class DoubleAction implements ActionConditioner {
  constructor(readonly ctx?: ComponentContext) {}
  condition(_s: State, a: { tensor?: Tensor | null } | null): Record<string, Tensor> {
    return a?.tensor ? { action: a.tensor.mul(2) } : {};
  }
}

/** A decoder with a learned reward head on a different latent size. */
class WrongDecoder extends Module implements Decoder {
  head = new Linear(7, 1);
  decode(s: State): Record<string, Tensor> {
    return { reward: this.head.forward(s.get("latent")) };
  }
}

const opts = { obsShape: [4], actionDim: 2 };

async function finalLatent(overrides: Record<string, unknown>): Promise<Float32Array> {
  const m = await createWorldModel("mlp:ci", { ...opts, componentOverrides: overrides as never });
  const s = m.encode(randn([2, 4], { seed: 1 }), { deterministic: true });
  const t = m.rollout(s, randn([3, 2, 2], { seed: 2 }));
  const d = await t.finalState.get("latent").data() as Float32Array;
  m.dispose();
  return d;
}

Deno.test("components: overrides by registered id, class and instance take effect", async () => {
  ComponentRegistry.register("test.double_action", {
    slot: "actionConditioner",
    create: (ctx) => new DoubleAction(ctx),
    description: "doubles the action",
  });
  try {
    const base = await finalLatent({});
    const byId = await finalLatent({ actionConditioner: "test.double_action" });
    const byClass = await finalLatent({ actionConditioner: DoubleAction });
    const byInstance = await finalLatent({ action_conditioner: new DoubleAction() });
    assert.notDeepEqual(byId, base);
    assert.deepEqual(byClass, byId);
    assert.deepEqual(byInstance, byId);
    // the class gets the component context
    const m = await createWorldModel("mlp:ci", {
      ...opts,
      componentOverrides: { actionConditioner: DoubleAction },
    });
    const c = m.actionConditioner as DoubleAction;
    assert.equal(c.ctx?.slot, "actionConditioner");
    assert.equal(c.ctx?.contract.actionSpec.dim, 2);
    assert.equal(m.componentOverrideSources().actionConditioner, null);
    m.dispose();
  } finally {
    ComponentRegistry.unregister("test.double_action");
  }
});

Deno.test("components: wrong slots and incompatible components are clear errors", async () => {
  ComponentRegistry.register("test.conditioner", {
    slot: "actionConditioner",
    create: () => new DoubleAction(),
  });
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { actionConditoner: DoubleAction },
        /unknown component slot "actionConditoner" \(did you mean "actionConditioner"\?\)/,
      ],
      [
        { decoder: "test.conditioner" },
        /"test.conditioner" fills the actionConditioner slot, not decoder/,
      ],
      [{ decoder: "test.nothing" }, /unknown component id "test.nothing"/],
      [
        { dynamicsModel: new DoubleAction() },
        /an instance of DoubleAction is not a dynamicsModel: it has no transition\(\) method/,
      ],
      [{ decoder: 42 }, /must be a registered component id, a class or an instance/],
      // fits the interface but not the model: the shape-only probe finds it
      [
        { decoder: new WrongDecoder() },
        /overridden decoder is not compatible with the mlp model: Linear: expected input \[\.\.\., 7\], got \[1, 8\]/,
      ],
    ];
    for (const [overrides, re] of cases) {
      await assert.rejects(
        createWorldModel("mlp:ci", { ...opts, componentOverrides: overrides as never }),
        (e: unknown) => {
          assert.ok(e instanceof ComponentError, String(e));
          assert.match(e.message, re);
          return true;
        },
      );
    }
  } finally {
    ComponentRegistry.unregister("test.conditioner");
  }
  assert.throws(
    () =>
      ComponentRegistry.register("x", { slot: "encoderz" as never, create: () => ({}) as never }),
    /unknown slot "encoderz"/,
  );
});

Deno.test("components: a refused override leaves the model as it was", async () => {
  const m = await createWorldModel("mlp:ci", opts);
  const decoder = m.decoder;
  const conditioner = m.actionConditioner;
  assert.throws(
    () =>
      applyComponentOverrides(m, {
        actionConditioner: new DoubleAction(),
        decoder: new WrongDecoder(),
      }),
    ComponentError,
  );
  assert.equal(m.decoder, decoder);
  assert.equal(m.actionConditioner, conditioner);
  assert.deepEqual(m.componentOverrideSources(), {});
  m.dispose();
});

Deno.test("components: decode outputs are checked against the prediction spec", async () => {
  const m = await createWorldModel("mlp:ci", opts);
  m.setComponent("decoder", { decode: (s: State) => ({ reward: zeros([s.batchSize, 3]) }) });
  const s = m.encode(randn([2, 4]));
  assert.throws(
    () => m.decode(s),
    /decode: predictions\.reward: expected shape \[2, 1\] \(float32\), got \[2, 3\]/,
  );
  m.decoder = null;
  assert.throws(() => m.decode(s), CapabilityError);
  m.dispose();
});

Deno.test("components: id overrides are saved and re-applied; custom ones must be passed again", async () => {
  ComponentRegistry.register("test.double_action", {
    slot: "actionConditioner",
    create: () => new DoubleAction(),
  });
  try {
    const m = await createWorldModel("mlp:ci", {
      ...opts,
      componentOverrides: { actionConditioner: "test.double_action" },
    });
    const dir = `${await tempDir()}/m`;
    await m.savePretrained(dir);
    const meta = JSON.parse(await Deno.readTextFile(`${dir}/worldflux_meta.json`));
    assert.deepEqual(meta.component_overrides, { action_conditioner: "test.double_action" });
    const loaded = await fromPretrained(dir);
    assert.ok(loaded.actionConditioner instanceof DoubleAction);

    const custom = await createWorldModel("mlp:ci", {
      ...opts,
      componentOverrides: { actionConditioner: new DoubleAction() },
    });
    await custom.savePretrained(dir);
    await assert.rejects(
      fromPretrained(dir),
      /saved with a custom actionConditioner.*pass it again/,
    );
    const again = await fromPretrained(dir, {
      componentOverrides: { actionConditioner: DoubleAction },
    });
    assert.ok(again.actionConditioner instanceof DoubleAction);
    for (const x of [m, loaded, custom, again]) x.dispose();
  } finally {
    ComponentRegistry.unregister("test.double_action");
  }
});
