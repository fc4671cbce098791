/**
 * Optimizers over parameter arenas: Adam, AdamW and LaProp. A step writes every gradient into
 * the gradient arena (one schedule: forward, backward and the loss are computed together),
 * optionally computes the global gradient norm on the device, and runs one fused update kernel
 * per arena chunk. Nothing is read back.
 * @module
 */

import { ConfigError, DeviceError, fmtShape, ShapeError } from "../errors.ts";
import type { BufView, OptimKernel } from "../backend/types.ts";
import { onReplay } from "../tensor/compile.ts";
import type { LazyNode } from "../tensor/lazy.ts";
import { emitKernel, realizeNodes } from "../tensor/schedule.ts";
import { constant } from "../tensor/creation.ts";
import { keep, noGrad, type Tensor } from "../tensor/tensor.ts";
import { full } from "../tensor/creation.ts";
import { contiguousView } from "../ir/view.ts";
import { ParamArena, type ShadowArena } from "../nn/arena.ts";
import type { LRSchedule } from "./schedule.ts";

/** A group of parameters with its own settings. */
export interface ParamGroupSpec {
  /** The parameters of the group. */
  readonly params: readonly Tensor[];
  /** Multiplies the optimizer's learning rate for this group (e.g. 0.3 for an encoder). */
  readonly lrScale?: number;
  /** Overrides the weight decay for this group. */
  readonly weightDecay?: number;
}

/** Options shared by the optimizers. */
export interface OptimizerOptions {
  /** Learning rate, or a schedule of the step number. */
  readonly lr?: number | LRSchedule;
  /** Adam's (beta1, beta2). */
  readonly betas?: readonly [number, number];
  /** Denominator epsilon. */
  readonly eps?: number;
  /** Weight decay (decoupled for AdamW/LaProp, L2 added to the gradient for Adam). */
  readonly weightDecay?: number;
  /** Clip the global gradient norm (over all groups) to this value, on the device. */
  readonly gradClip?: number | null;
}

/** A parameter group with its arenas (gradients and moments share the parameters' layout). */
export interface OptimizerGroup {
  /** The parameters. */
  readonly params: readonly Tensor[];
  /** Learning-rate multiplier. */
  readonly lrScale: number;
  /** Weight decay. */
  readonly weightDecay: number;
  /** The parameters' arena. */
  readonly arena: ParamArena;
  /** Gradients, same layout. */
  readonly grads: ShadowArena;
  /** First moments. */
  readonly m: ShadowArena;
  /** Second moments. */
  readonly v: ShadowArena;
}

/** Serialisable optimizer state (moments as tensors, everything else JSON). */
export interface OptimizerState {
  /** Steps taken. */
  readonly step: number;
  /** Per group: settings and the indices of its parameters (PyTorch's `param_groups`). */
  readonly paramGroups: { lrScale: number; weightDecay: number; params: number[] }[];
  /** Per parameter index: first and second moments (PyTorch's `exp_avg`, `exp_avg_sq`). */
  readonly state: Record<string, { expAvg: Tensor; expAvgSq: Tensor }>;
  /** Hyperparameters. */
  readonly hyper: {
    lr: number;
    betas: [number, number];
    eps: number;
    weightDecay: number;
    gradClip: number | null;
  };
}

/** Base of the arena optimizers. */
export abstract class Optimizer {
  /** Steps taken so far. */
  stepCount = 0;
  /** The global gradient norm of the last step (lazy; null without clipping). */
  lastGradNorm: Tensor | null = null;
  /**
   * Parameter groups with their arenas.
   * @internal
   */
  protected readonly groups: OptimizerGroup[];
  /** Adam's (beta1, beta2). */
  protected readonly betas: readonly [number, number];
  /** Denominator epsilon. */
  protected readonly eps: number;
  /** Default weight decay. */
  protected readonly weightDecay: number;
  /** Global-norm clip, or null. */
  protected readonly gradClip: number | null;
  private readonly lrSpec: number | LRSchedule;
  private clipScale: Tensor | null = null;

  /** Creates the optimizer; the parameters are packed into arenas (one per group). */
  constructor(
    params: readonly Tensor[] | readonly ParamGroupSpec[],
    opts: OptimizerOptions,
    defaults: { lr: number; betas: readonly [number, number]; eps: number; weightDecay: number },
  ) {
    this.lrSpec = opts.lr ?? defaults.lr;
    this.betas = opts.betas ?? defaults.betas;
    this.eps = opts.eps ?? defaults.eps;
    this.weightDecay = opts.weightDecay ?? defaults.weightDecay;
    this.gradClip = opts.gradClip ?? null;
    if (typeof this.lrSpec === "number" && !(this.lrSpec >= 0)) {
      throw new ConfigError(`learning rate must be >= 0, got ${this.lrSpec}`);
    }
    const specs: ParamGroupSpec[] = params.length > 0 && "params" in (params[0] as object)
      ? [...params as readonly ParamGroupSpec[]]
      : [{ params: params as readonly Tensor[] }];
    const seen = new Set<Tensor>();
    this.groups = specs.filter((s) => s.params.length > 0).map((s) => {
      for (const p of s.params) {
        if (seen.has(p)) throw new ConfigError("a parameter appears in two optimizer groups");
        seen.add(p);
        if (p.dtype !== "float32") {
          throw new ConfigError(
            `optimizers update float32 parameters, got ${p.dtype} ${fmtShape(p.shape)}`,
          );
        }
      }
      const arena = new ParamArena(s.params);
      return {
        params: s.params,
        lrScale: s.lrScale ?? 1,
        weightDecay: s.weightDecay ?? this.weightDecay,
        arena,
        grads: arena.shadow(),
        m: arena.shadow(),
        v: arena.shadow(),
      };
    });
    if (this.groups.length === 0) throw new ConfigError("the optimizer got no parameters");
    const be = this.groups[0].arena.backend;
    if (this.groups.some((g) => g.arena.backend !== be)) {
      throw new DeviceError("all optimizer parameters must be on one device");
    }
  }

  /** The update rule of the fused kernel. */
  protected abstract readonly rule: "adam" | "laprop";
  /** True when weight decay is decoupled (AdamW, LaProp); false adds L2 to the gradient. */
  protected abstract readonly decoupled: boolean;

  /** Every parameter, in group order. */
  get params(): Tensor[] {
    return this.groups.flatMap((g) => [...g.params]);
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return typeof this.lrSpec === "number" ? this.lrSpec : this.lrSpec(this.stepCount);
  }

  /** Sets every parameter's gradient to null. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /**
   * Applies one update from the parameters' `.grad` (missing gradients count as zero). Writes
   * gradients into the gradient arena, then runs one fused kernel per chunk. The gradients are
   * left in `.grad` as views of the gradient arena.
   */
  step(): void {
    const groups = this.groups;
    const be = groups[0].arena.backend;
    // 1. Gradients into the gradient arena (with L2 decay for plain Adam), in one schedule.
    const into = new Map<LazyNode, BufView>();
    const targets: Tensor[] = [];
    noGrad(() => {
      for (const g of groups) {
        g.params.forEach((p, i) => {
          const slotT = g.grads.slotTensors[i];
          let grad = p.grad && !p.grad.isDisposed ? p.grad : null;
          if (
            grad &&
            (grad.shape.length !== p.shape.length || grad.shape.some((s, d) => s !== p.shape[d]))
          ) {
            throw new ShapeError(
              "step",
              `gradient ${fmtShape(grad.shape)} does not match parameter ${fmtShape(p.shape)}`,
            );
          }
          if (grad === slotT) return; // already in place (a previous step's view, accumulated into)
          if (!grad) grad = constant(be, 0, "float32", p.shape);
          if (!this.decoupled && g.weightDecay > 0) grad = grad.add(p.mul(g.weightDecay));
          const v = grad.contiguous();
          if (into.has(v._node)) return;
          into.set(v._node, g.grads.slot(i));
          targets.push(v);
        });
      }
    });
    if (targets.length) realizeNodes(targets.map((t) => t._node), into);
    for (const g of groups) g.grads.bumpVersions();
    // 2. Global norm clipping: the scale is computed on the device from the arena chunks.
    let scale: BufView | null = null;
    if (this.gradClip !== null) {
      scale = this.computeClipScale(this.gradClip);
    }
    // 3. One fused update per chunk. A compiled step replays this with the step counter
    // advanced by the hook and the hyperparameters recomputed by the producer.
    this.stepCount++;
    onReplay(() => this.stepCount++);
    for (const g of groups) {
      for (let c = 0; c < g.arena.chunks; c++) {
        const make = (): OptimKernel => ({
          kind: "optim",
          rule: this.rule,
          param: g.arena.chunk(c),
          grad: g.grads.chunk(c),
          m: g.m.chunk(c),
          v: g.v.chunk(c),
          scale,
          n: g.arena.layout.chunkSizes[c],
          hyper: this.hyper(g),
        });
        emitKernel(be, make(), make);
      }
      g.arena.bumpVersions();
      g.m.bumpVersions();
      g.v.bumpVersions();
      g.params.forEach((p, i) => {
        if (p.grad !== g.grads.slotTensors[i]) {
          if (p.grad && !p.grad.isDisposed) p.grad.dispose();
          p.grad = g.grads.slotTensors[i];
        }
      });
    }
    this.afterStep();
  }

  /** Hook for subclasses. @internal */
  protected afterStep(): void {}

  /** The fused kernel's hyperparameters for the current step. */
  private hyper(g: OptimizerGroup): number[] {
    const t = this.stepCount;
    const [b1, b2] = this.betas;
    const wd = this.decoupled ? g.weightDecay : 0;
    const lr = typeof this.lrSpec === "number" ? this.lrSpec : this.lrSpec(t - 1);
    return [lr * g.lrScale, b1, b2, this.eps, wd, 1 - b1 ** t, 1 - b2 ** t, 1];
  }

  /** Computes min(1, maxNorm / norm) of the gradient arena into a device scalar. */
  private computeClipScale(maxNorm: number): BufView {
    const be = this.groups[0].arena.backend;
    if (!this.clipScale) {
      this.clipScale = keep(full([1], 1, { device: be.name }).contiguous().realize());
    }
    const dest = this.clipScale;
    const norm = noGrad(() => {
      let sq: Tensor | null = null;
      for (const g of this.groups) {
        for (const c of g.grads.chunkTensors) {
          const s = c.square().sum();
          sq = sq ? sq.add(s) : s;
        }
      }
      return sq!.sqrt();
    });
    const scaleT = noGrad(() =>
      norm.add(1e-6).reciprocal().mul(maxNorm).minimum(1).reshape([1]).contiguous()
    );
    realizeNodes(
      [scaleT._node, norm._node],
      new Map([[scaleT._node, {
        buf: dest._node.buffer!,
        view: contiguousView([1], dest._node.bufferOffset),
      }]]),
    );
    dest._node.version++;
    if (this.lastGradNorm && !this.lastGradNorm.isDisposed) this.lastGradNorm.dispose();
    this.lastGradNorm = keep(norm);
    return { buf: dest._node.buffer!, view: contiguousView([1], dest._node.bufferOffset) };
  }

  /** The moments and step as a state dict. */
  stateDict(): OptimizerState {
    const state: Record<string, { expAvg: Tensor; expAvgSq: Tensor }> = {};
    const paramGroups: { lrScale: number; weightDecay: number; params: number[] }[] = [];
    let idx = 0;
    for (const g of this.groups) {
      const ids: number[] = [];
      g.params.forEach((_, i) => {
        state[String(idx)] = { expAvg: g.m.slotTensors[i], expAvgSq: g.v.slotTensors[i] };
        ids.push(idx++);
      });
      paramGroups.push({ lrScale: g.lrScale, weightDecay: g.weightDecay, params: ids });
    }
    return {
      step: this.stepCount,
      paramGroups,
      state,
      hyper: {
        lr: this.lr,
        betas: [this.betas[0], this.betas[1]],
        eps: this.eps,
        weightDecay: this.weightDecay,
        gradClip: this.gradClip,
      },
    };
  }

  /** Restores moments and step from `stateDict()` output (same parameter layout). */
  loadStateDict(sd: Pick<OptimizerState, "step" | "state" | "paramGroups">): void {
    const counts = this.groups.map((g) => g.params.length);
    const theirs = sd.paramGroups.map((g) => g.params.length);
    if (counts.length !== theirs.length || counts.some((c, i) => c !== theirs[i])) {
      throw new ConfigError(
        `optimizer state has groups of sizes [${theirs}] but this optimizer has [${counts}]`,
      );
    }
    let idx = 0;
    for (const g of this.groups) {
      g.params.forEach((_, i) => {
        const st = sd.state[String(idx++)];
        if (!st) throw new ConfigError(`optimizer state is missing parameter ${idx - 1}`);
        g.m.slotTensors[i].assign(st.expAvg);
        g.v.slotTensors[i].assign(st.expAvgSq);
      });
      g.m.bumpVersions();
      g.v.bumpVersions();
    }
    this.stepCount = sd.step;
  }

  /** Frees the optimizer's buffers (the parameters stay valid in their arena). */
  dispose(): void {
    for (const g of this.groups) {
      g.grads.dispose();
      g.m.dispose();
      g.v.dispose();
    }
    this.clipScale?.dispose();
  }
}

/** Adam (L2 weight decay added to the gradient, as `torch.optim.Adam`). */
export class Adam extends Optimizer {
  /** Fused kernel rule. */
  protected readonly rule = "adam" as const;
  /** L2 decay added to the gradient. */
  protected readonly decoupled: boolean = false;

  /**
   * Creates Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8).
   *
   * @example
   * ```ts
   * import { Adam, Linear, tensor } from "@worldflux/worldflux";
   * const layer = new Linear(2, 1);
   * const opt = new Adam(layer.parameters(), { lr: 1e-2 });
   * const loss = layer.forward(tensor([[1, 2]])).square().mean();
   * loss.backward();
   * opt.step();
   * opt.zeroGrad();
   * ```
   */
  constructor(params: readonly Tensor[] | readonly ParamGroupSpec[], opts: OptimizerOptions = {}) {
    super(params, opts, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Optimizer {
  /** Fused kernel rule. */
  protected readonly rule = "adam" as const;
  /** Decoupled weight decay. */
  protected readonly decoupled: boolean = true;

  /** Creates AdamW (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01). */
  constructor(params: readonly Tensor[] | readonly ParamGroupSpec[], opts: OptimizerOptions = {}) {
    super(params, opts, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  }
}

/**
 * LaProp (Ziyin et al. 2020), DreamerV3's optimizer: the gradient is normalised by the second
 * moment first, then momentum is applied (betas (0.9, 0.999), eps 1e-20 by default as DreamerV3).
 */
export class LaProp extends Optimizer {
  /** Fused kernel rule. */
  protected readonly rule = "laprop" as const;
  /** Decoupled weight decay. */
  protected readonly decoupled: boolean = true;

  /** Creates LaProp (lr 4e-5, betas (0.9, 0.999), eps 1e-20). */
  constructor(params: readonly Tensor[] | readonly ParamGroupSpec[], opts: OptimizerOptions = {}) {
    super(params, opts, { lr: 4e-5, betas: [0.9, 0.999], eps: 1e-20, weightDecay: 0 });
  }
}
