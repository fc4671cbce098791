/**
 * A world model with known dynamics and reward, implementing the contract minimally, for the
 * planner tests: the state is a point `x` in the plane; a continuous action `a` in [-1, 1]^2
 * moves it by `step * a`; a discrete action (0..3: +x, -x, +y, -y) moves it by `step` along an
 * axis. The reward of a step is `-|x' - goal|^2` (of the point after the step). `calls` records
 * the batch size of every `transition`.
 * @module
 */

import {
  type ActionPayload,
  type Batch,
  type LossOutput,
  type ModelIOContract,
  standardIOContract,
  State,
  type Tensor,
  tensor,
  WorldModel,
} from "../../mod.ts";

/** Config of {@link PointModel}. */
export interface PointConfig {
  readonly obsShape: readonly number[];
  readonly actionDim: number;
  readonly actionType: "continuous" | "discrete";
}

/** The analytic point model. */
export class PointModel extends WorldModel<PointConfig> {
  /** Batch sizes of the transitions seen. */
  readonly calls: number[] = [];

  /** A point model (`discrete`: 4 axis moves). */
  constructor(
    readonly goal: readonly [number, number] = [0.8, -0.6],
    readonly step = 0.3,
    discrete = false,
  ) {
    super(
      "analytic-point",
      {
        obsShape: [2],
        actionDim: discrete ? 4 : 2,
        actionType: discrete ? "discrete" : "continuous",
      },
      {},
    );
    this.capabilities.add("latent_dynamics");
    this.capabilities.add("reward_pred");
    this.capabilities.add("planning");
  }

  ioContract(): ModelIOContract {
    return standardIOContract({
      obsShape: [2],
      actionDim: this.config.actionDim,
      actionType: this.config.actionType,
      capabilities: this.capabilities,
      stateSpec: { tensors: { latent: { kind: "vector", shape: [2] } } },
      requiredStateKeys: ["latent"],
    });
  }

  protected override encodeImpl(observations: Readonly<Record<string, Tensor>>): State {
    return new State({ latent: observations.obs });
  }

  protected override transitionImpl(state: State, action: ActionPayload | null): State {
    const x = state.get("latent");
    this.calls.push(x.shape[0]);
    let a = action!.tensor!;
    if (this.config.actionType === "discrete") {
      // one-hot [B, 4] -> moves [B, 2]
      const dirs = tensor([[1, 0], [-1, 0], [0, 1], [0, -1]], [4, 2], { device: x.device });
      if (a.dtype === "int32") {
        a = a.unsqueeze(-1).eq(tensor([0, 1, 2, 3], [4], { dtype: "int32" }));
      }
      a = a.cast("float32").matmul(dirs);
    }
    return new State({ latent: x.add(a.clamp(-1, 1).mul(this.step)) });
  }

  protected override decodeImpl(state: State): Record<string, Tensor> {
    const x = state.get("latent");
    const g = tensor([[...this.goal]], [1, 2], { device: x.device });
    return { reward: x.sub(g).square().sum(-1, true).neg() };
  }

  protected lossImpl(_batch: Batch): LossOutput {
    throw new Error("the analytic model is not trained");
  }

  /** The true return of action sequences `[H][B]` (host arrays) from points `[B]`. */
  trueReturns(
    start: readonly (readonly [number, number])[],
    actions: readonly (readonly (readonly number[])[])[],
    discount = 1,
  ): number[] {
    const dirs = [[1, 0], [-1, 0], [0, 1], [0, -1]];
    return start.map((p0, b) => {
      let [x, y] = p0;
      let G = 0;
      let d = 1;
      for (const step of actions) {
        const a = step[b];
        let dx: number, dy: number;
        if (this.config.actionType === "discrete") {
          const k = a.length === 1 ? a[0] : a.indexOf(Math.max(...a));
          [dx, dy] = dirs[k];
        } else [dx, dy] = [Math.max(-1, Math.min(1, a[0])), Math.max(-1, Math.min(1, a[1]))];
        x += this.step * dx;
        y += this.step * dy;
        G += d * -((x - this.goal[0]) ** 2 + (y - this.goal[1]) ** 2);
        d *= discount;
      }
      return G;
    });
  }
}
