/**
 * Vector environments: {@link SyncVectorEnv} steps `numEnvs` worldflux environments in turn
 * behind the {@link VectorEnv} interface (same-step autoreset, see `types.ts`), so code written
 * for vectors runs on the built-ins as on Gymnasium's (`makeVectorEnv("gym:...")` hosts its copies
 * in one Python process instead). {@link packActions} / {@link actionRows} convert the accepted
 * {@link VectorActions} forms.
 * @module
 */

import {
  type Action,
  continuousAction,
  discreteIndex,
  type Env,
  type Info,
  type Observation,
  shapeSize,
  type Space,
  type VectorActions,
  type VectorEnv,
  type VectorResetResult,
  type VectorStepResult,
} from "./types.ts";

/** One {@link Action} per environment from any {@link VectorActions} form. */
export function actionRows(space: Space, actions: VectorActions, numEnvs: number): Action[] {
  if (Array.isArray(actions)) {
    if (actions.length !== numEnvs) {
      throw new RangeError(
        `expected ${numEnvs} actions (one per environment), got ${actions.length}`,
      );
    }
    return actions as Action[];
  }
  const packed = actions as Float32Array | Int32Array;
  const width = space.kind === "box"
    ? shapeSize(space.shape)
    : packed.length === numEnvs
    ? 1
    : space.n;
  if (packed.length !== numEnvs * width) {
    const want = space.kind === "box"
      ? `${numEnvs} x ${width}`
      : `${numEnvs} or ${numEnvs} x ${space.n}`;
    throw new RangeError(`packed actions need ${want} values, got ${packed.length}`);
  }
  const rows: Action[] = [];
  for (let i = 0; i < numEnvs; i++) {
    rows.push(
      width === 1 && space.kind === "discrete"
        ? packed[i]
        : packed.subarray(i * width, (i + 1) * width),
    );
  }
  return rows;
}

/**
 * Packs the actions for a host: discrete spaces give `Int32Array [numEnvs]` of indices, box
 * spaces `Float32Array [numEnvs * size]`; every value is checked (index range, finite numbers).
 */
export function packActions(
  space: Space,
  actions: VectorActions,
  numEnvs: number,
): Int32Array | Float32Array {
  const rows = actionRows(space, actions, numEnvs);
  if (space.kind === "discrete") {
    const out = new Int32Array(numEnvs);
    for (let i = 0; i < numEnvs; i++) out[i] = discreteIndex(rows[i], space.n);
    return out;
  }
  const size = shapeSize(space.shape);
  const out = new Float32Array(numEnvs * size);
  for (let i = 0; i < numEnvs; i++) out.set(continuousAction(rows[i], size), i * size);
  return out;
}

/** Observations of `rows` environments in one array. */
function allocRows(env: Env, rows: number): Observation {
  const n = rows * shapeSize(env.observationSpace.shape);
  return env.observationSpace.dtype === "uint8" ? new Uint8Array(n) : new Float32Array(n);
}

/**
 * `numEnvs` environments stepped one after the other in this thread, behind {@link VectorEnv}.
 *
 * @example
 * ```ts
 * import { CartPoleEnv, SyncVectorEnv } from "./src/envs/mod.ts";
 * const venv = new SyncVectorEnv([new CartPoleEnv(), new CartPoleEnv()]);
 * venv.reset({ seed: 0 });
 * const r = venv.step([0, 1]);
 * console.log(r.obs.length); // 8: two rows of 4
 * ```
 */
export class SyncVectorEnv<O extends Observation = Observation> implements VectorEnv<O> {
  /** The environments, in order. */
  readonly envs: readonly Env<O>[];
  private readonly size: number;
  private closed = false;

  /** Steps `envs` (at least one, with equal spaces) together. */
  constructor(envs: readonly Env<O>[]) {
    if (envs.length === 0) throw new RangeError("SyncVectorEnv needs at least one environment");
    const shape = envs[0].observationSpace.shape.join(",");
    for (const e of envs) {
      if (e.observationSpace.shape.join(",") !== shape) {
        throw new RangeError(
          `SyncVectorEnv: ${e.id} observes [${e.observationSpace.shape}], not [${shape}]`,
        );
      }
    }
    this.envs = [...envs];
    this.size = shapeSize(envs[0].observationSpace.shape);
  }

  /** Registry id of the environments. */
  get id(): string {
    return this.envs[0].id;
  }
  /** Number of environments. */
  get numEnvs(): number {
    return this.envs.length;
  }
  /** Space of one observation. */
  get observationSpace(): Env["observationSpace"] {
    return this.envs[0].observationSpace;
  }
  /** Space of one action. */
  get actionSpace(): Space {
    return this.envs[0].actionSpace;
  }
  /** Steps after which an episode is truncated. */
  get maxEpisodeSteps(): number {
    return this.envs[0].maxEpisodeSteps;
  }

  /** Resets every environment (environment i with `seed + i` when seeded). */
  reset(options: { readonly seed?: number } = {}): VectorResetResult<O> {
    const obs = allocRows(this.envs[0], this.numEnvs) as O;
    const infos: Info[] = [];
    this.envs.forEach((env, i) => {
      const r = env.reset(options.seed === undefined ? {} : { seed: options.seed + i });
      obs.set(r.obs, i * this.size);
      infos.push(r.info);
    });
    return { obs, infos };
  }

  /** Steps every environment, resetting those whose episode ended (same-step autoreset). */
  step(actions: VectorActions): VectorStepResult<O> {
    if (this.closed) throw new Error(`${this.id}: step() after close()`);
    const n = this.numEnvs;
    const rows = actionRows(this.actionSpace, actions, n);
    const obs = allocRows(this.envs[0], n) as O;
    const rewards = new Float64Array(n);
    const terminated = new Uint8Array(n);
    const truncated = new Uint8Array(n);
    const finalObs: (O | null)[] = new Array(n).fill(null);
    const finalInfos: (Info | null)[] = new Array(n).fill(null);
    const infos: Info[] = [];
    this.envs.forEach((env, i) => {
      const r = env.step(rows[i]);
      rewards[i] = r.reward;
      terminated[i] = r.terminated ? 1 : 0;
      truncated[i] = r.truncated ? 1 : 0;
      let next = r.obs;
      let info = r.info;
      if (r.terminated || r.truncated) {
        finalObs[i] = r.obs;
        finalInfos[i] = r.info;
        const reset = env.reset();
        next = reset.obs;
        info = reset.info;
      }
      obs.set(next, i * this.size);
      infos.push(info);
    });
    return { obs, rewards, terminated, truncated, finalObs, infos, finalInfos };
  }

  /** Closes every environment. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.envs) e.close();
  }
}
