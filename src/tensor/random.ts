/**
 * Random numbers from explicit keys (counter-based threefry, as in JAX). A {@link Generator}
 * hands out a fresh key per draw; the global generator is seeded with {@link manualSeed}.
 * Draws are identical on every device.
 * @module
 */

import { DTypeError, ShapeError } from "../errors.ts";
import type { DeviceName } from "../backend/types.ts";
import { getBackend, getDefaultDevice } from "../backend/device.ts";
import { foldIn, seedToKey } from "../backend/rng.ts";
import { assertShape } from "../ir/view.ts";
import { composite } from "./scope.ts";
import { fromNode } from "./creation.ts";
import type { Tensor } from "./tensor.ts";

/** A stream of random keys: a seed and a counter (its whole state, for checkpoints). */
export class Generator {
  /** The seed. */
  seed: number;
  /** How many keys were handed out. */
  counter: number;

  /** Creates a generator from a seed. */
  constructor(seed = 0, counter = 0) {
    this.seed = seed;
    this.counter = counter;
  }

  /** The next key. */
  nextKey(): [number, number] {
    return foldIn(seedToKey(this.seed), this.counter++);
  }

  /** Serialisable state. */
  state(): { seed: number; counter: number } {
    return { seed: this.seed, counter: this.counter };
  }

  /** Restores a state from `state()`. */
  setState(s: { seed: number; counter: number }): void {
    this.seed = s.seed;
    this.counter = s.counter;
  }
}

const globalGenerator = new Generator(0);

/** Seeds the global generator (like `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  // In place: compiled steps hold a reference to the generator they draw keys from.
  globalGenerator.setState({ seed, counter: 0 });
}

/** The global generator. */
export function defaultGenerator(): Generator {
  return globalGenerator;
}

/** Options of random draws. */
export interface RandomOptions {
  /** A seed for a reproducible one-off draw (else the generator's next key). */
  readonly seed?: number;
  /** The generator to draw a key from (default: the global one). */
  readonly generator?: Generator;
  /** Device (default: `getDefaultDevice()`). */
  readonly device?: DeviceName;
}

/** While compile() traces: keys handed out by generators, in order. @internal */
let keyLog: { generator: Generator; key: [number, number] }[] | null = null;

/** Starts (array) or stops (null) logging generator keys. @internal */
export function setKeyLog(log: { generator: Generator; key: [number, number] }[] | null): void {
  keyLog = log;
}

function keyOf(opts: RandomOptions): [number, number] {
  if (opts.seed !== undefined) return seedToKey(opts.seed);
  const g = opts.generator ?? globalGenerator;
  const key = g.nextKey();
  keyLog?.push({ generator: g, key });
  return key;
}

function draw(
  shape: readonly number[],
  dist: "uniform" | "normal" | "bits",
  opts: RandomOptions,
): Tensor {
  const dims = assertShape(shape, dist);
  const be = getBackend(opts.device ?? getDefaultDevice());
  return fromNode(be, dims, dist === "bits" ? "int32" : "float32", {
    kind: "rng",
    dist,
    key: keyOf(opts),
  });
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return draw(shape, "uniform", opts);
}

/** Standard normal samples. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return draw(shape, "normal", opts);
}

/** Random 32-bit integers. */
export function randomBits(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return draw(shape, "bits", opts);
}

/** Integers uniform in `[low, high)` (int32). */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  opts: RandomOptions = {},
): Tensor {
  if (!(high > low)) throw new ShapeError("randint", `needs high > low, got [${low}, ${high})`);
  return composite(() =>
    rand(shape, opts).mul(high - low).floor().add(low).minimum(high - 1).cast("int32")
  );
}

/** Bernoulli samples with probability `p` (float32 0/1). */
export function bernoulli(
  p: Tensor | number,
  shape?: readonly number[],
  opts: RandomOptions = {},
): Tensor {
  const s = typeof p === "number" ? shape ?? [] : p.shape;
  const dev = typeof p === "number" ? opts.device : p.device;
  return composite(() => rand(s, { ...opts, device: dev }).lt(p).cast("float32"));
}

/**
 * Samples category indices from `logits` along the last axis (Gumbel-max), int32 with the
 * leading shape.
 */
export function categorical(logits: Tensor, opts: RandomOptions = {}): Tensor {
  if (logits.dtype !== "float32") {
    throw new DTypeError("categorical", `logits must be float32, got ${logits.dtype}`);
  }
  return composite(() => {
    const u = rand(logits.shape, { ...opts, device: logits.device });
    const gumbel = u.maximum(1e-20).log().neg().maximum(1e-20).log().neg();
    return logits.detach().add(gumbel).argmax(-1);
  });
}

/** Inverted dropout: zeroes elements with probability `p` and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, opts: RandomOptions = {}): Tensor {
  if (p < 0 || p >= 1) throw new ShapeError("dropout", `p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  return composite(() => {
    const keepMask = rand(x.shape, { ...opts, device: x.device }).ge(p).cast("float32");
    return x.mul(keepMask).mul(1 / (1 - p));
  });
}
