/**
 * `TokenWorldModel`: an IRIS-style world model (Micheli et al. 2023, "Transformers are
 * Sample-Efficient World Models"). A VQ tokenizer turns each observation into `K` discrete
 * tokens (an MLP encoder to `K` vectors, each replaced by its nearest codebook entry, with the
 * straight-through estimator and VQ-VAE's codebook and commitment losses) and decodes tokens back
 * to observations; a small causal transformer over the sequence
 * `[obs tokens of step 0, action 0, obs tokens of step 1, action 1, ...]` predicts each next
 * token, and at every action the reward and the continue probability.
 *
 * Differences from IRIS, for vector observations and small models: the tokenizer is an MLP (IRIS:
 * a convolutional VQGAN on frames); positions are ALiBi biases (IRIS: learned position
 * embeddings), so a window of any length and a partly filled one read the same; tokenizer and
 * transformer train together from one loss (the transformer's targets are the tokenizer's
 * current, gradient-free tokens); the reward is a regression (IRIS: the sign of the reward, as a
 * classification).
 *
 * The state is the last `contextSteps` steps: `tokens [W, K]` (int32), `actions [W, A]` (the
 * action taken at each step; zeros at the newest, whose action is not taken yet), `valid [W]`
 * (1 where the window holds a step: a state fills from the right), and the `reward`/`continue`
 * predicted for the transition that led to it (0 and 1 after `encode`). `transition` appends the
 * action, then samples the next observation's tokens one at a time (K transformer passes;
 * `deterministic`: the most likely token); `update` appends the tokens of the observation that
 * came; `decode` decodes the newest step's tokens.
 *
 * Data convention (as `mlp`): `batch.actions[:, t]` is taken in `batch.obs[:, t]` and earns
 * `batch.rewards[:, t]`; `batch.terminations[:, t] = 1` when that step ended the episode.
 * @module
 */

import type { DeviceName } from "../../backend/types.ts";
import { type Batch, batchObservations } from "../../core/batch.ts";
import { type ComponentSlot, DefaultActionConditioner } from "../../core/components.ts";
import type { LossOutput } from "../../core/outputs.ts";
import type { ActionPayload } from "../../core/payloads.ts";
import { type ModelIOContract, standardIOContract } from "../../core/spec.ts";
import { State } from "../../core/state.ts";
import { WorldModel, type WorldModelOptions } from "../../core/world_model.ts";
import { causalAlibiBias, MASKED, TransformerBlock } from "../../nn/attention.ts";
import { uniformInit } from "../../nn/init.ts";
import { LayerNorm, type LayerOptions, Linear } from "../../nn/layers.ts";
import { Module, Parameter, type Sequential } from "../../nn/module.ts";
import { mlp, type MLPOptions } from "../../nn/mlp.ts";
import { concat, oneHot, ones, stack, zeros } from "../../tensor/creation.ts";
import { keep } from "../../tensor/memory.ts";
import { rand } from "../../tensor/random.ts";
import type { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { type TokenConfig, tokenConfigSchema } from "./config.ts";

/** What {@link VQTokenizer.tokenize} returns. */
export interface Tokenized {
  /** Token indices `[M, K]` (int32). */
  readonly tokens: Tensor;
  /** Straight-through quantized vectors `[M, K, E]` (forward: the codebook entries; backward: the encoder's). */
  readonly quantized: Tensor;
  /** `|sg(z_e) - z_q|^2`, averaged (moves the codebook to the encodings). */
  readonly codebookLoss: Tensor;
  /** `|z_e - sg(z_q)|^2`, averaged (keeps the encoder near its codes). */
  readonly commitmentLoss: Tensor;
}

/**
 * The VQ tokenizer: `obs [M, D]` -> `K` vectors of size `E` (an MLP) -> nearest of `N` codebook
 * entries -> tokens `[M, K]`; and tokens -> codebook vectors -> observation (an MLP).
 */
export class VQTokenizer extends Module {
  /** `obs -> [K * E]`. */
  readonly encoder: Sequential;
  /** `[N, E]`. */
  readonly codebook: Parameter;
  /** `[K * E] -> obs`. */
  readonly decoder: Sequential;

  /** Builds the tokenizer for `config`. */
  constructor(readonly config: TokenConfig, layer: MLPOptions & LayerOptions) {
    super();
    const c = config;
    const hidden = Array(c.tokenizerDepth).fill(c.hiddenDim);
    this.encoder = mlp(c.obsShape[0], hidden, c.tokensPerObs * c.codeDim, layer);
    const bound = 1 / c.codebookSize;
    this.codebook = new Parameter(
      uniformInit([c.codebookSize, c.codeDim], -bound, bound, {
        device: layer.device,
        generator: layer.generator,
      }),
    );
    this.decoder = mlp(c.tokensPerObs * c.codeDim, hidden, c.obsShape[0], layer);
  }

  /** Tokens, straight-through vectors and the VQ losses of `obs [M, D]`. */
  tokenize(obs: Tensor): Tokenized {
    const c = this.config;
    const m = obs.shape[0];
    const ze = this.encoder.forward(obs).reshape([m * c.tokensPerObs, c.codeDim]);
    // |z - c|^2 = |z|^2 - 2 z.c + |c|^2 for every code; the nearest is the token.
    const cb = this.codebook;
    const dist = ze.square().sum(-1, true).sub(ze.matmul(cb.mT).mul(2))
      .add(cb.square().sum(-1).reshape([1, c.codebookSize]));
    const tokens = dist.argmin(-1); // [M K] int32
    const zq = oneHot(tokens, c.codebookSize).matmul(cb); // [M K, E]
    const codebookLoss = ze.detach().sub(zq).square().mean();
    const commitmentLoss = ze.sub(zq.detach()).square().mean();
    const quantized = ze.add(zq.sub(ze).detach());
    return {
      tokens: tokens.reshape([m, c.tokensPerObs]),
      quantized: quantized.reshape([m, c.tokensPerObs, c.codeDim]),
      codebookLoss,
      commitmentLoss,
    };
  }

  /** Observations `[M, D]` from vectors `[M, K, E]`. */
  decodeVectors(vectors: Tensor): Tensor {
    const m = vectors.shape[0];
    return this.decoder.forward(
      vectors.reshape([m, this.config.tokensPerObs * this.config.codeDim]),
    );
  }

  /** Observations `[M, D]` from tokens `[M, K]` (int32). */
  decodeTokens(tokens: Tensor): Tensor {
    const c = this.config;
    const m = tokens.shape[0];
    const flat = tokens.reshape([m * c.tokensPerObs]);
    return this.decodeVectors(
      oneHot(flat, c.codebookSize).matmul(this.codebook).reshape([m, c.tokensPerObs, c.codeDim]),
    );
  }
}

/**
 * The causal transformer over `[tokens of step 0, action 0, tokens of step 1, ...]`: token
 * embeddings, an embedding per slot of a step (`K` token slots and the action slot), an action
 * projection, pre-norm blocks with ALiBi causal attention, and heads for the next token, the
 * reward and the continue logit.
 */
export class TokenTransformer extends Module {
  /** `[N, d]`. */
  readonly tokenEmbedding: Parameter;
  /** `[K + 1, d]`: which slot of a step a position is. */
  readonly slotEmbedding: Parameter;
  /** `[A] -> [d]`. */
  readonly actionEmbedding: Linear;
  /** The blocks. */
  readonly blocks: TransformerBlock[];
  /** Final norm. */
  readonly lnFinal: LayerNorm;
  /** `[d] -> [N]` logits of the next token. */
  readonly tokenHead: Linear;
  /** `[d] -> [1]` reward (at action positions). */
  readonly rewardHead: Linear;
  /** `[d] -> [1]` continue logit (at action positions). */
  readonly continueHead: Linear;
  readonly #biases = new Map<number, Tensor>();

  /** Builds the transformer for `config`. */
  constructor(readonly config: TokenConfig, layer: LayerOptions) {
    super();
    const c = config, d = c.embedDim;
    const init = { device: layer.device, generator: layer.generator };
    this.tokenEmbedding = new Parameter(uniformInit([c.codebookSize, d], -0.1, 0.1, init));
    this.slotEmbedding = new Parameter(uniformInit([c.tokensPerObs + 1, d], -0.1, 0.1, init));
    this.actionEmbedding = new Linear(c.actionDim, d, layer);
    this.blocks = Array.from({ length: c.layers }, () => new TransformerBlock(d, c.heads, layer));
    this.lnFinal = new LayerNorm(d, { device: layer.device });
    this.tokenHead = new Linear(d, c.codebookSize, layer);
    this.rewardHead = new Linear(d, 1, { ...layer, init: "zeros" });
    this.continueHead = new Linear(d, 1, { ...layer, init: "zeros" });
  }

  /** Embeddings `[M, K, d]` of tokens `[M, K]` in their slots (`first`: the slot of column 0). */
  embedTokens(tokens: Tensor, first = 0): Tensor {
    const c = this.config;
    const [m, k] = tokens.shape;
    const emb = oneHot(tokens.reshape([m * k]), c.codebookSize).matmul(this.tokenEmbedding)
      .reshape([m, k, c.embedDim]);
    return emb.add(this.slotEmbedding.narrow(0, first, k));
  }

  /** The sequence `[B, S (K + 1), d]` of steps: tokens `[B, S, K]`, action features `[B, S, A]`. */
  embedSteps(tokens: Tensor, actions: Tensor): Tensor {
    const c = this.config;
    const [b, s, k] = tokens.shape;
    const tok = this.embedTokens(tokens.reshape([b * s, k])).reshape([b, s, k, c.embedDim]);
    const act = this.actionEmbedding.forward(actions)
      .add(this.slotEmbedding.narrow(0, k, 1).reshape([c.embedDim]))
      .reshape([b, s, 1, c.embedDim]);
    return concat([tok, act], 2).reshape([b, s * (k + 1), c.embedDim]);
  }

  /** The causal ALiBi bias of a length (cached: a constant). */
  bias(length: number, device: DeviceName): Tensor {
    let b = this.#biases.get(length);
    if (!b || b.device !== device) {
      b?.dispose();
      // kept: a constant reused by every call (and by compiled replays), freed by dispose()
      b = keep(causalAlibiBias(this.config.heads, length, { device }));
      this.#biases.set(length, b);
    }
    return b;
  }

  /** Hidden states `[B, L, d]` of a sequence `[B, L, d]`; `keyBias` `[B, 1, 1, L]` masks keys. */
  forward(x: Tensor, keyBias: Tensor | null = null): Tensor {
    let bias = this.bias(x.shape[1], x.device);
    if (keyBias) bias = bias.add(keyBias);
    let h = x;
    for (const block of this.blocks) h = block.forward(h, bias);
    return this.lnFinal.forward(h);
  }

  /** Frees the cached biases. */
  override dispose(): void {
    for (const b of this.#biases.values()) b.dispose();
    this.#biases.clear();
    super.dispose();
  }
}

/** Options of {@link TokenWorldModel} (what the registry's factory passes). */
export interface TokenWorldModelOptions extends WorldModelOptions {
  /** Parameter initialisation stream. */
  readonly generator?: Generator;
  /** Family name to report (default `"token"`). */
  readonly modelType?: string;
}

/** Mean of `x` weighted by `w` (same shape). */
function weightedMean(x: Tensor, w: Tensor): Tensor {
  return x.mul(w).sum().div(w.sum().maximum(1));
}

/** Binary cross-entropy of probabilities `p` against targets `y` (same shape). */
function bce(p: Tensor, y: Tensor): Tensor {
  const q = p.clamp(1e-6, 1 - 1e-6);
  return y.mul(q.log()).add(y.neg().add(1).mul(q.neg().add(1).log())).neg();
}

/**
 * IRIS-style token world model (see the module docs): a VQ tokenizer ({@link VQTokenizer}) and a
 * causal transformer over tokens and actions ({@link TokenTransformer}).
 *
 * Loss of a `[B, T]` batch = reconstruction (MSE of the straight-through decoded observations) +
 * codebook + commitment (VQ-VAE) + next-token cross-entropy (each token of step t + 1 from the
 * positions before it, not across a termination) + reward MSE and continue BCE at every action
 * position.
 *
 * @example
 * ```ts
 * import { createWorldModel, randn } from "@worldflux/worldflux";
 * const model = await createWorldModel("token:ci", { obsShape: [4], actionDim: 2 });
 * const state = model.encode(randn([3, 4]));
 * const traj = model.rollout(state, randn([2, 3, 2]), { deterministic: true });
 * console.log(traj.rewards!.shape); // [2, 3]
 * console.log(model.decode(traj.finalState).predictions.obs.shape); // [3, 4]
 * ```
 */
export class TokenWorldModel extends WorldModel<TokenConfig> {
  /** Observations <-> tokens. */
  readonly tokenizer: VQTokenizer;
  /** Tokens and actions -> next tokens, reward, continue. */
  readonly transformer: TokenTransformer;
  readonly #conditioner: DefaultActionConditioner;

  /** Builds the tokenizer and the transformer from a validated config. */
  constructor(config: TokenConfig, opts: TokenWorldModelOptions = {}) {
    super(opts.modelType ?? "token", tokenConfigSchema.parse(config), opts);
    const c = this.config;
    for (
      const cap of [
        "latent_dynamics",
        "representation",
        "obs_decoder",
        "reward_pred",
        "continue_pred",
      ] as const
    ) this.capabilities.add(cap);
    const layer = { device: this.device, generator: opts.generator, norm: c.norm, act: c.act };
    this.tokenizer = new VQTokenizer(c, layer);
    this.transformer = new TokenTransformer(c, { device: this.device, generator: opts.generator });
    this.#conditioner = new DefaultActionConditioner(this.contract.actionSpec);
  }

  /** The schema defaults of every field. */
  static defaults(): TokenConfig {
    return tokenConfigSchema.parse({});
  }

  /** Only the rollout executor can be overridden (the model does not route through components). */
  override componentSlots(): readonly ComponentSlot[] {
    return ["rolloutExecutor"];
  }

  /**
   * Observations `obs [B, D]`; actions of the configured type; state `tokens [W, K]` (int32),
   * `actions [W, A]`, `valid [W]`, `reward [1]`, `continue [1]`; predictions `obs`, `reward`,
   * `continue`; batches need `obs`, `actions`, `rewards`, `terminations` (`[B, T, ...]`).
   */
  ioContract(): ModelIOContract {
    const c = this.config;
    const w = c.contextSteps;
    return standardIOContract({
      obsShape: c.obsShape,
      actionDim: c.actionDim,
      actionType: c.actionType,
      capabilities: this.capabilities,
      stateSpec: {
        tensors: {
          tokens: { kind: "tokens", shape: [w, c.tokensPerObs], dtype: "int32" },
          actions: { kind: "vector", shape: [w, c.actionDim] },
          valid: { kind: "vector", shape: [w] },
          reward: { kind: "vector", shape: [1] },
          continue: { kind: "vector", shape: [1] },
        },
      },
      requiredStateKeys: ["tokens", "actions", "valid"],
      requiredBatchKeys: ["obs", "actions", "rewards", "terminations"],
    });
  }

  // -------------------------------------------------------------------------------------------
  // Contract hooks
  // -------------------------------------------------------------------------------------------

  /** An empty window (no valid step). */
  protected override initialStateImpl(batchSize: number, device: DeviceName): State {
    const c = this.config, w = c.contextSteps;
    return new State({
      tokens: zeros([batchSize, w, c.tokensPerObs], { dtype: "int32", device }),
      actions: zeros([batchSize, w, c.actionDim], { device }),
      valid: zeros([batchSize, w], { device }),
      reward: zeros([batchSize, 1], { device }),
      continue: ones([batchSize, 1], { device }),
    });
  }

  /** A window holding only the observation's tokens. */
  protected override encodeImpl(observations: Readonly<Record<string, Tensor>>): State {
    const obs = observations.obs;
    const empty = this.initialStateImpl(obs.shape[0], obs.device);
    return this.#push(empty, this.tokenizer.tokenize(obs).tokens, null, null);
  }

  /** Imagined next step: the action, then K sampled (or most likely) tokens. */
  protected override transitionImpl(
    state: State,
    action: ActionPayload | null,
    opts: { deterministic: boolean },
  ): State {
    const acts = this.#withAction(state, action);
    const c = this.config;
    const { hidden, keyBias } = this.#context(state, acts);
    const b = hidden.shape[0];
    const last = (h: Tensor) => h.narrow(1, h.shape[1] - 1, 1).reshape([b, c.embedDim]);
    let h = last(this.transformer.forward(hidden, keyBias));
    const predicted = this.#rewardContinue(h);
    const tokens: Tensor[] = [];
    let partial: Tensor | null = null;
    for (let j = 0; j < c.tokensPerObs; j++) {
      if (j > 0) {
        const seq = concat([hidden, partial!], 1);
        const bias = concat([keyBias, zeros([b, 1, 1, j], { device: seq.device })], 3);
        h = last(this.transformer.forward(seq, bias));
      }
      const logits = this.transformer.tokenHead.forward(h); // [B, N]
      const token = opts.deterministic ? logits.argmax(-1) : this.#sample(logits);
      tokens.push(token);
      const emb = this.transformer.embedTokens(token.reshape([b, 1]), j); // [B, 1, d]
      partial = partial ? concat([partial, emb], 1) : emb;
    }
    return this.#push(state, stack(tokens, 1), acts, predicted);
  }

  /** Posterior next step: the action, then the tokens of the observation that came. */
  protected override updateImpl(
    state: State,
    action: ActionPayload | null,
    observations: Readonly<Record<string, Tensor>>,
  ): State {
    const acts = this.#withAction(state, action);
    const { hidden, keyBias } = this.#context(state, acts);
    const b = hidden.shape[0];
    const out = this.transformer.forward(hidden, keyBias);
    const h = out.narrow(1, out.shape[1] - 1, 1).reshape([b, this.config.embedDim]);
    const tokens = this.tokenizer.tokenize(observations.obs).tokens;
    return this.#push(state, tokens, acts, this.#rewardContinue(h));
  }

  /** The newest step's observation, and the reward and continue of the step that led to it. */
  protected override decodeImpl(state: State): Record<string, Tensor> {
    const c = this.config;
    const tokens = state.get("tokens");
    const b = tokens.shape[0];
    const newest = tokens.narrow(1, c.contextSteps - 1, 1).reshape([b, c.tokensPerObs]);
    const out: Record<string, Tensor> = { obs: this.tokenizer.decodeTokens(newest) };
    out.reward = state.has("reward")
      ? state.get("reward")
      : zeros([b, 1], { device: tokens.device });
    out.continue = state.has("continue")
      ? state.get("continue")
      : ones([b, 1], { device: tokens.device });
    return out;
  }

  /** The window's actions with `action` as the newest step's. */
  #withAction(state: State, action: ActionPayload | null): Tensor {
    const c = this.config, w = c.contextSteps;
    const acts = state.get("actions");
    const b = acts.shape[0];
    const a = this.#conditioner.condition(state, action).action ??
      zeros([b, c.actionDim], { device: acts.device });
    return concat([acts.narrow(1, 0, w - 1), a.reshape([b, 1, c.actionDim])], 1);
  }

  /** The window as a sequence, and the key mask of its empty steps `[B, 1, 1, W (K + 1)]`. */
  #context(state: State, actions: Tensor): { hidden: Tensor; keyBias: Tensor } {
    const c = this.config, w = c.contextSteps, k = c.tokensPerObs;
    const hidden = this.transformer.embedSteps(state.get("tokens"), actions);
    const valid = state.get("valid");
    const b = valid.shape[0];
    const keyBias = valid.reshape([b, w, 1]).expand([b, w, k + 1]).reshape([b, 1, 1, w * (k + 1)])
      .neg().add(1).mul(MASKED);
    return { hidden, keyBias };
  }

  /** Reward `[B, 1]` and continue probability `[B, 1]` at an action position's hidden state. */
  #rewardContinue(h: Tensor): { reward: Tensor; cont: Tensor } {
    return {
      reward: this.transformer.rewardHead.forward(h),
      cont: this.transformer.continueHead.forward(h).sigmoid(),
    };
  }

  /** One token per row of `logits [B, N]`, drawn from their softmax (Gumbel-max). */
  #sample(logits: Tensor): Tensor {
    const u = rand(logits.shape, { device: logits.device }).clamp(1e-7, 1 - 1e-7);
    return logits.add(u.log().neg().log().neg()).argmax(-1);
  }

  /** The window shifted by one step, `tokens [B, K]` the newest. */
  #push(
    state: State,
    tokens: Tensor,
    actions: Tensor | null,
    predicted: { reward: Tensor; cont: Tensor } | null,
  ): State {
    const c = this.config, w = c.contextSteps;
    const b = tokens.shape[0];
    const device = tokens.device;
    const shift = (t: Tensor, newest: Tensor) =>
      concat([t.narrow(1, 1, w - 1), newest.reshape([b, 1, ...t.shape.slice(2)])], 1);
    return new State({
      tokens: shift(state.get("tokens"), tokens),
      actions: shift(actions ?? state.get("actions"), zeros([b, c.actionDim], { device })),
      valid: shift(state.get("valid"), ones([b], { device })),
      reward: predicted?.reward ?? zeros([b, 1], { device }),
      continue: predicted?.cont ?? ones([b, 1], { device }),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Loss
  // -------------------------------------------------------------------------------------------

  /** The loss of a `[B, T, ...]` batch: tokenizer and transformer together. */
  protected lossImpl(batch: Batch): LossOutput {
    const c = this.config;
    const obs = batchObservations(batch).obs;
    const [B, T] = obs.shape;
    const K = c.tokensPerObs, N = c.codebookSize, d = c.embedDim;
    const flat = (t: Tensor) => t.reshape([B * T, ...t.shape.slice(2)]);
    const mask = batch.mask ?? null; // [B, T]

    // 1. Tokenizer: tokens, straight-through reconstruction, VQ losses.
    const vq = this.tokenizer.tokenize(flat(obs));
    const recon = this.tokenizer.decodeVectors(vq.quantized);
    const reconErr = recon.sub(flat(obs)).square().mean(-1).reshape([B, T]);
    const reconLoss = mask ? weightedMean(reconErr, mask) : reconErr.mean();

    // 2. Transformer over [tokens_0, a_0, tokens_1, a_1, ...] (tokens as fixed targets).
    const tokens = vq.tokens.reshape([B, T, K]);
    const actions = this.#conditioner.condition(new State({}), {
      kind: c.actionType,
      tensor: flat(batch.actions!),
    }).action.reshape([B, T, c.actionDim]);
    const h = this.transformer.forward(this.transformer.embedSteps(tokens, actions))
      .reshape([B, T, K + 1, d]);

    // 3. Next tokens: token j of step t + 1 from the position before it (the action of step t
    // for j = 0), so from positions t (K + 1) + K + j of the flat sequence.
    const alive = batch.terminations!.neg().add(1); // [B, T]
    let tokenLoss: Tensor = reconLoss.mul(0);
    let tokenAccuracy: Tensor = reconLoss.mul(0);
    if (T > 1) {
      const M = B * (T - 1);
      const src = h.reshape([B, T * (K + 1), d]).narrow(1, K, (T - 1) * (K + 1))
        .reshape([B, T - 1, K + 1, d]).narrow(2, 0, K).reshape([M * K, d]);
      const logits = this.transformer.tokenHead.forward(src); // [M K, N]
      const target = tokens.narrow(1, 1, T - 1).reshape([M * K]);
      const ce = logits.logSoftmax(-1).mul(oneHot(target, N)).sum(-1).neg().reshape([M, K])
        .mean(-1);
      const hit = logits.argmax(-1).eq(target).cast("float32").reshape([M, K]).mean(-1);
      let w = alive.narrow(1, 0, T - 1).reshape([M]);
      if (mask) {
        w = w.mul(mask.narrow(1, 0, T - 1).mul(mask.narrow(1, 1, T - 1)).reshape([M]));
      }
      tokenLoss = weightedMean(ce, w);
      tokenAccuracy = weightedMean(hit, w);
    }

    // 4. Reward and continue at every action position.
    const at = h.narrow(2, K, 1).reshape([B * T, d]);
    const { reward, cont } = this.#rewardContinue(at);
    const stepWeight = mask ? flat(mask) : ones([B * T], { device: obs.device });
    const rewardLoss = weightedMean(
      reward.reshape([B * T]).sub(flat(batch.rewards!)).square(),
      stepWeight,
    );
    const continueLoss = weightedMean(bce(cont.reshape([B * T]), flat(alive)), stepWeight);

    const components = {
      recon: reconLoss.mul(c.reconScale),
      codebook: vq.codebookLoss.mul(c.codebookScale),
      commitment: vq.commitmentLoss.mul(c.commitmentScale),
      tokens: tokenLoss.mul(c.tokenScale),
      reward: rewardLoss.mul(c.rewardScale),
      continue: continueLoss.mul(c.continueScale),
    };
    const loss = Object.values(components).reduce((a, b) => a.add(b));
    return {
      loss,
      components,
      metrics: {
        recon_mse: reconLoss.detach(),
        token_ce: tokenLoss.detach(),
        token_accuracy: tokenAccuracy.detach(),
        reward_mse: rewardLoss.detach(),
        continue_bce: continueLoss.detach(),
      },
    };
  }
}
