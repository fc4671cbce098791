/**
 * The five pluggable components of a world model (observation encoder, dynamics, action
 * conditioner, decoder, rollout executor), the {@link ComponentRegistry} of named components,
 * and the machinery behind `createWorldModel(..., { componentOverrides })`.
 * @module
 */

import type { DeviceName } from "../backend/types.ts";
import { Module } from "../nn/module.ts";
import { oneHot, stack, zeros } from "../tensor/creation.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/memory.ts";
import { ComponentError } from "./errors.ts";
import { closestNames } from "./naming.ts";
import {
  type ActionPayload,
  type ActionSequence,
  type ConditionPayload,
  sequenceLength,
} from "./payloads.ts";
import type { ActionSpec, ModelIOContract } from "./spec.ts";
import { type ModelOutput, Trajectory } from "./outputs.ts";
import type { State } from "./state.ts";
import { checkPredictions, checkState, ContractValidator } from "./validation.ts";

/** Options of {@link ObservationEncoder.encode}. */
export interface EncodeComponentOptions {
  /** Use the distribution's mode instead of a sample. */
  readonly deterministic?: boolean;
}

/** Maps observations (by modality, `[B, ...]` each) to a latent state. */
export interface ObservationEncoder {
  /** Encodes observations (by modality) into a state. */
  encode(observations: Readonly<Record<string, Tensor>>, opts?: EncodeComponentOptions): State;
}

/**
 * Turns an action (and conditions) into the tensors the dynamics reads, by key. The convention
 * of the built-in families: `action` holds `[B, A]` float features; a missing `action` means
 * "no action information" and the dynamics substitutes zeros.
 */
export interface ActionConditioner {
  /** The tensors the dynamics reads (by convention `action` `[B, A]`). */
  condition(
    state: State,
    action: ActionPayload | null,
    conditions?: ConditionPayload | null,
  ): Record<string, Tensor>;
}

/** Options of {@link DynamicsModel.transition}. */
export interface DynamicsOptions {
  /** Use the mode of a stochastic transition. */
  readonly deterministic?: boolean;
}

/** Predicts the next state from a state and the conditioner's tensors. */
export interface DynamicsModel {
  /** The next state. */
  transition(
    state: State,
    conditioned: Readonly<Record<string, Tensor>>,
    opts?: DynamicsOptions,
  ): State;
}

/** Decodes a state into predictions by key (`obs`, `reward` `[B, 1]`, `continue` `[B, 1]`, ...). */
export interface Decoder {
  /** Predictions of a state by key. */
  decode(state: State, conditions?: ConditionPayload | null): Record<string, Tensor>;
}

/** The model calls a rollout executor drives (the public, validated ones). */
export interface RolloutHost {
  /** The model's I/O contract. */
  ioContract(): ModelIOContract;
  /** The next state. */
  transition(
    state: State,
    action: ActionPayload | Tensor | null,
    opts?: { conditions?: ConditionPayload | null; deterministic?: boolean },
  ): State;
  /** Predictions of a state by key. */
  decode(state: State, opts?: { conditions?: ConditionPayload | null }): ModelOutput;
  /** Advertised capabilities. */
  readonly capabilities: ReadonlySet<string>;
}

/** Options of {@link RolloutExecutor.rolloutOpenLoop}. */
export interface RolloutExecutorOptions {
  /** Side conditions (validated against the contract). */
  readonly conditions?: ConditionPayload | null;
  /** Use modes instead of samples. */
  readonly deterministic?: boolean;
}

/** Runs an open-loop imagined rollout through a model. */
export interface RolloutExecutor {
  /** Rolls the actions out from the initial state. */
  rolloutOpenLoop(
    model: RolloutHost,
    initialState: State,
    actions: ActionSequence,
    opts?: RolloutExecutorOptions,
  ): Trajectory;
}

/** The component slots of a model. */
export type ComponentSlot =
  | "observationEncoder"
  | "actionConditioner"
  | "dynamicsModel"
  | "decoder"
  | "rolloutExecutor";

/** Every slot. */
export const COMPONENT_SLOTS: readonly ComponentSlot[] = [
  "observationEncoder",
  "actionConditioner",
  "dynamicsModel",
  "decoder",
  "rolloutExecutor",
];

/** The component type of each slot. */
export interface ComponentOf {
  /** The observation encoder slot. */
  observationEncoder: ObservationEncoder;
  /** The action conditioner slot. */
  actionConditioner: ActionConditioner;
  /** The dynamics slot. */
  dynamicsModel: DynamicsModel;
  /** The decoder slot. */
  decoder: Decoder;
  /** The rollout executor slot. */
  rolloutExecutor: RolloutExecutor;
}

/** Any component. */
export type Component = ComponentOf[ComponentSlot];

/** The method each slot's component must have. */
const SLOT_METHOD: Record<ComponentSlot, string> = {
  observationEncoder: "encode(observations, opts)",
  actionConditioner: "condition(state, action, conditions)",
  dynamicsModel: "transition(state, conditioned, opts)",
  decoder: "decode(state, conditions)",
  rolloutExecutor: "rolloutOpenLoop(model, initialState, actions, opts)",
};

/** Other names accepted for slots (the reference's snake_case names). */
const SLOT_ALIASES: Record<string, ComponentSlot> = {
  observation_encoder: "observationEncoder",
  encoder: "observationEncoder",
  action_conditioner: "actionConditioner",
  dynamics_model: "dynamicsModel",
  dynamics: "dynamicsModel",
  decoder_module: "decoder",
  decoderModule: "decoder",
  rollout_executor: "rolloutExecutor",
  rollout_engine: "rolloutExecutor",
};

/** The slot named `name` (camelCase, or the reference's snake_case name), or null. */
export function resolveSlot(name: string): ComponentSlot | null {
  if ((COMPONENT_SLOTS as readonly string[]).includes(name)) return name as ComponentSlot;
  return SLOT_ALIASES[name] ?? null;
}

/** What a component factory or class receives. */
export interface ComponentContext {
  /** The model the component is built for. */
  readonly model: ComponentHost;
  /** The slot it fills. */
  readonly slot: ComponentSlot;
  /** The model's contract (action dims, state shapes, ...). */
  readonly contract: ModelIOContract;
  /** The model's config (camelCase). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The model's device. */
  readonly device: DeviceName;
}

/** A component class: constructed with the {@link ComponentContext}. */
export type ComponentClass<S extends ComponentSlot = ComponentSlot> = new (
  ctx: ComponentContext,
) => ComponentOf[S];

/** A registered component. */
export interface ComponentSpec<S extends ComponentSlot = ComponentSlot> {
  /** The slot it fills. */
  readonly slot: S;
  /** Builds an instance for a model. */
  readonly create: (ctx: ComponentContext) => ComponentOf[S];
  /** Display name. */
  readonly name?: string;
  /** One line about it. */
  readonly description?: string;
  /** Version of the component. */
  readonly version?: string;
}

/** A component override: a registered id, a class, or an instance. */
export type ComponentOverride<S extends ComponentSlot = ComponentSlot> =
  | string
  | ComponentClass<S>
  | ComponentOf[S];

/** Overrides by slot (camelCase or the reference's snake_case slot names). */
export type ComponentOverrides = Partial<{ [S in ComponentSlot]: ComponentOverride<S> }> & {
  readonly [slot: string]: ComponentOverride | undefined;
};

/** What the override machinery needs from a model (implemented by `WorldModel`). */
export interface ComponentHost {
  /** The family name. */
  readonly modelType: string;
  /** Device of the parameters. */
  readonly device: DeviceName;
  /** The family config (camelCase). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The model's I/O contract. */
  ioContract(): ModelIOContract;
  /** The slots the family routes through (only those can be overridden). */
  componentSlots(): readonly ComponentSlot[];
  /** The component in a slot (null when empty). */
  getComponent<S extends ComponentSlot>(slot: S): ComponentOf[S] | null;
  /**
   * Puts a component in a slot. `source`: the registered id it came from, null for a class or
   * instance, false for the family's own component (not an override).
   */
  setComponent<S extends ComponentSlot>(
    slot: S,
    component: ComponentOf[S] | null,
    source?: string | null | false,
  ): void;
  /** Overridden slots with the registered id they came from (null for classes/instances). */
  componentOverrideSources(): Readonly<Partial<Record<ComponentSlot, string | null>>>;
}

/**
 * Named components, usable as `componentOverrides` values (`"my_plugin.zero_conditioner"`).
 *
 * @example
 * ```ts
 * import { ComponentRegistry } from "@worldflux/worldflux";
 * ComponentRegistry.register("docs.no_action", {
 *   slot: "actionConditioner",
 *   create: () => ({ condition: () => ({}) }),
 *   description: "drops the action",
 * });
 * console.log(ComponentRegistry.has("docs.no_action")); // true
 * ComponentRegistry.unregister("docs.no_action");
 * ```
 */
export class ComponentRegistry {
  static readonly #specs = new Map<string, ComponentSpec>();

  /** Registers `id` (throws if taken). Ids are conventionally `<plugin>.<name>`. */
  static register<S extends ComponentSlot>(id: string, spec: ComponentSpec<S>): void {
    if (!id || typeof id !== "string") {
      throw new ComponentError("?", "component id must be a non-empty string");
    }
    const slot = resolveSlot(spec.slot);
    if (!slot) {
      throw new ComponentError(
        String(spec.slot),
        `component "${id}" names an unknown slot "${spec.slot}"; slots: ${
          COMPONENT_SLOTS.join(", ")
        }`,
      );
    }
    if (typeof spec.create !== "function") {
      throw new ComponentError(slot, `component "${id}" needs a create(ctx) function`);
    }
    if (ComponentRegistry.#specs.has(id)) {
      throw new ComponentError(slot, `component id "${id}" is already registered`);
    }
    ComponentRegistry.#specs.set(id, { ...spec, slot } as ComponentSpec);
  }

  /** Removes `id`; true when it was registered. */
  static unregister(id: string): boolean {
    return ComponentRegistry.#specs.delete(id);
  }

  /** True when `id` is registered. */
  static has(id: string): boolean {
    return ComponentRegistry.#specs.has(id);
  }

  /** The spec of `id` (throws listing the registered ids, closest first). */
  static get(id: string): ComponentSpec {
    const spec = ComponentRegistry.#specs.get(id);
    if (!spec) {
      const ids = [...ComponentRegistry.#specs.keys()];
      const close = closestNames(id, ids);
      throw new ComponentError(
        "?",
        `unknown component id "${id}"${
          close.length ? `; did you mean ${close.map((c) => `"${c}"`).join(", ")}?` : ""
        } ` +
          `(registered: ${ids.join(", ") || "none"})`,
      );
    }
    return spec;
  }

  /** Registered components by id. */
  static list(): Record<string, { slot: ComponentSlot; name?: string; description?: string }> {
    const out: Record<string, { slot: ComponentSlot; name?: string; description?: string }> = {};
    for (const [id, s] of ComponentRegistry.#specs) {
      out[id] = { slot: s.slot, name: s.name, description: s.description };
    }
    return out;
  }
}

function describeValue(x: unknown): string {
  if (typeof x === "function") return `class ${x.name || "(anonymous)"}`;
  if (x && typeof x === "object") return `an instance of ${x.constructor?.name ?? "Object"}`;
  return JSON.stringify(x);
}

/** Builds the component an override stands for and checks it has the slot's method. */
function buildComponent(host: ComponentHost, slot: ComponentSlot, value: ComponentOverride): {
  component: Component;
  source: string | null;
} {
  const ctx: ComponentContext = {
    model: host,
    slot,
    contract: host.ioContract(),
    config: host.config,
    device: host.device,
  };
  let component: unknown;
  let source: string | null = null;
  let what: string;
  if (typeof value === "string") {
    let spec: ComponentSpec;
    try {
      spec = ComponentRegistry.get(value);
    } catch (e) {
      throw new ComponentError(slot, `override of ${slot}: ${(e as Error).message}`);
    }
    if (spec.slot !== slot) {
      throw new ComponentError(
        slot,
        `component "${value}" fills the ${spec.slot} slot, not ${slot}; use it as ` +
          `componentOverrides.${spec.slot}`,
      );
    }
    component = spec.create(ctx);
    source = value;
    what = `component "${value}"`;
  } else if (typeof value === "function") {
    component = new (value as ComponentClass)(ctx);
    what = describeValue(value);
  } else if (value && typeof value === "object") {
    component = value;
    what = describeValue(value);
  } else {
    throw new ComponentError(
      slot,
      `override of ${slot} must be a registered component id, a class or an instance, got ${
        describeValue(value)
      }`,
    );
  }
  const method = SLOT_METHOD[slot];
  const name = method.slice(0, method.indexOf("("));
  if (!component || typeof (component as Record<string, unknown>)[name] !== "function") {
    throw new ComponentError(
      slot,
      `${what} is not a ${slot}: it has no ${name}() method (a ${slot} implements ${method})`,
    );
  }
  if (component instanceof Module) {
    const other = component.parameters().find((p) => p.device !== host.device);
    if (other) {
      throw new ComponentError(
        slot,
        `${what} has parameters on ${other.device} but the model is on ${host.device}; ` +
          `move it with await component.to("${host.device}")`,
      );
    }
  }
  return { component: component as Component, source };
}

/**
 * Applies overrides by slot: each value is a registered id, a class (constructed with the
 * {@link ComponentContext}) or an instance. Unknown slots, slots the family does not route
 * through, ids registered for another slot and objects without the slot's method are refused
 * with a {@link ComponentError}; then a shape-only probe (nothing is computed) checks that the
 * model still encodes, transitions and decodes with the new components.
 */
export function applyComponentOverrides(host: ComponentHost, overrides: ComponentOverrides): void {
  const usable = host.componentSlots();
  const resolved: [ComponentSlot, ComponentOverride][] = [];
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const slot = resolveSlot(key);
    if (!slot) {
      const close = closestNames(key, [...COMPONENT_SLOTS, ...Object.keys(SLOT_ALIASES)]);
      throw new ComponentError(
        key,
        `unknown component slot "${key}"${close.length ? ` (did you mean "${close[0]}"?)` : ""}; ` +
          `slots: ${COMPONENT_SLOTS.join(", ")}`,
      );
    }
    if (!usable.includes(slot)) {
      throw new ComponentError(
        slot,
        `the ${host.modelType} family does not use a pluggable ${slot}; it can override: ${
          usable.join(", ") || "nothing"
        }`,
      );
    }
    resolved.push([slot, value]);
  }
  const sources = host.componentOverrideSources();
  const previous = resolved.map(([slot]) =>
    [slot, host.getComponent(slot), sources[slot] ?? false] as const
  );
  try {
    for (const [slot, value] of resolved) {
      const { component, source } = buildComponent(host, slot, value);
      host.setComponent(slot, component, source);
    }
    if (resolved.length) probeComponents(host as unknown as ProbeModel);
  } catch (e) {
    for (const [slot, comp, source] of previous) host.setComponent(slot, comp, source);
    if (e instanceof ComponentError) throw e;
    const slots = resolved.map(([s]) => s).join(", ");
    throw new ComponentError(
      slots,
      `the overridden ${slots} ${resolved.length > 1 ? "are" : "is"} not compatible with the ` +
        `${host.modelType} model: ${(e as Error).message}`,
    );
  }
}

/** What the probe calls. */
interface ProbeModel extends RolloutHost {
  encode(obs: Record<string, Tensor>, opts?: { deterministic?: boolean }): State;
  readonly device: DeviceName;
}

/** A zero example for an action spec (batch 1). */
export function zeroAction(
  spec: Required<ActionSpec>,
  device: DeviceName,
  batch = 1,
): ActionPayload | null {
  if (spec.kind === "none") return null;
  if (spec.kind === "text") return { kind: "text", text: Array(batch).fill("") };
  if (spec.kind === "discrete") {
    return { kind: "discrete", tensor: zeros([batch], { dtype: "int32", device }) };
  }
  const dtype = spec.kind === "token" ? "int32" : "float32";
  return { kind: spec.kind, tensor: zeros([batch, Math.max(spec.dim, 1)], { dtype, device }) };
}

/**
 * Shape-only check that a model's components fit together: encodes a zero observation,
 * transitions with a zero action and decodes, checking the states and predictions against the
 * contract. Ops are recorded lazily and disposed: nothing is computed.
 */
export function probeComponents(model: ProbeModel): void {
  const c = model.ioContract();
  const strict = new ContractValidator("v3");
  tidy(() => {
    const obs: Record<string, Tensor> = {};
    for (const [k, m] of Object.entries(c.effectiveInputSpec.modalities)) {
      obs[k] = zeros([1, ...m.shape.map((d) => (d === -1 ? 1 : d))], {
        dtype: m.dtype ?? "float32",
        device: model.device,
      });
    }
    const s0 = model.encode(obs, { deterministic: true });
    checkState(strict, c, "probe: encode", s0, { batchSize: 1, what: "encoded state" });
    const s1 = model.transition(s0, zeroAction(c.actionSpec, model.device), {
      deterministic: true,
    });
    checkState(strict, c, "probe: transition", s1, { batchSize: 1, what: "next state" });
    if (model.capabilities.has("obs_decoder") || model.capabilities.has("reward_pred")) {
      const out = model.decode(s1);
      checkPredictions(strict, c, "probe: decode", out.predictions, 1);
    }
  });
}

/**
 * The standard conditioner: continuous/latent/token actions pass through as `action`;
 * discrete int32 indices become one-hot `[B, n]`; kind `"none"` (or no action) gives no
 * `action` key.
 */
export class DefaultActionConditioner implements ActionConditioner {
  readonly #numActions: number;

  /** Builds the conditioner for a model (reads its action spec). */
  constructor(ctx: { contract: ModelIOContract } | Required<ActionSpec>) {
    const spec = "contract" in ctx ? ctx.contract.actionSpec : ctx;
    this.#numActions = spec.numActions ?? spec.dim;
  }

  /** `{ action: [B, A] float32 }`, or `{}` without an action. */
  condition(_state: State, action: ActionPayload | null): Record<string, Tensor> {
    if (!action || action.kind === "none") return {};
    const t = action.tensor ?? action.latent ?? action.tokens;
    if (!t) return {};
    if (action.kind === "discrete" && t.dtype === "int32") {
      return { action: oneHot(t, this.#numActions) };
    }
    return { action: t.dtype === "float32" ? t : t.cast("float32") };
  }
}

/**
 * Open-loop rollout: `transition` then `decode` per step; rewards and continue probabilities
 * are gathered when the decoder predicts them (`reward`/`continue` `[B, 1]` -> `[T, B]`).
 */
export class OpenLoopRolloutExecutor implements RolloutExecutor {
  /** Rolls `actions` out from `initialState`. */
  rolloutOpenLoop(
    model: RolloutHost,
    initialState: State,
    actions: ActionSequence,
    opts: RolloutExecutorOptions = {},
  ): Trajectory {
    const c = model.ioContract();
    const kind = actions.kind ?? c.actionSpec.kind;
    const steps = sequenceLength(actions);
    const decodes = model.capabilities.has("reward_pred") ||
      model.capabilities.has("continue_pred");
    const states: State[] = [initialState];
    const rewards: Tensor[] = [];
    const continues: Tensor[] = [];
    let state = initialState;
    for (let t = 0; t < steps; t++) {
      const a: ActionPayload | null = actions.tensor
        ? { kind, tensor: actions.tensor.narrow(0, t, 1).squeeze(0) }
        : actions.payloads![t];
      state = model.transition(state, a, opts);
      states.push(state);
      if (decodes) {
        const p = model.decode(state, { conditions: opts.conditions }).predictions;
        if (p.reward) rewards.push(p.reward.reshape([p.reward.shape[0]]));
        if (p.continue) continues.push(p.continue.reshape([p.continue.shape[0]]));
      }
    }
    const b = initialState.batchSize;
    return new Trajectory({
      states,
      actions: actions.tensor ?? zeros([steps, b, 0], { device: initialState.device ?? undefined }),
      rewards: rewards.length === steps && steps > 0 ? stack(rewards, 0) : null,
      continues: continues.length === steps && steps > 0 ? stack(continues, 0) : null,
    });
  }
}
