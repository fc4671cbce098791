/**
 * Lifetimes of tensors: tidy scopes (the tensors created inside one, disposed when it closes),
 * `keep`, `composite` (an op built from other ops frees its intermediates), the live-tensor
 * count, and finalisation (a tensor collected without `dispose()` still releases its graph node
 * and its autograd record).
 *
 * It works on what a tensor must offer to be scoped ({@link Scoped}), not on the `Tensor` class,
 * so the class (tensor.ts) and the autograd engine (autograd.ts) both build on it.
 * @module
 */

import { type LazyNode, release } from "./lazy.ts";

/** What a scope holds: something that can be disposed (a `Tensor`). */
export interface Scoped {
  /** True after `dispose()`. */
  readonly isDisposed: boolean;
  /** Releases it now. */
  dispose(): void;
}

/** Something released once, when no one needs it any more (a tensor's autograd record). */
export interface Releasable {
  /** Releases what it holds (idempotent). */
  release(): void;
}

/** What a tensor holds that must be released when it is collected without `dispose()`. */
export interface Held {
  /** The graph node the tensor retains. */
  node: LazyNode;
  /** Its autograd record, if it has one. */
  ctx: Releasable | null;
}

/** Statistics of live tensors. @internal */
export const tensorStats: { live: number } = { live: 0 };

const scopes: Set<Scoped>[] = [];

const finalizer = new FinalizationRegistry<Held>((held) => {
  tensorStats.live--;
  release(held.node);
  if (held.ctx) held.ctx.release();
});

/** An autograd record outliving its disposed tensor, released when the tensor is collected. */
const finalizerCtx = new FinalizationRegistry<Releasable>((ctx) => ctx.release());

/**
 * Counts a new tensor as live, releases what it holds if it is collected without `dispose()`,
 * and adds it to the innermost open tidy scope. @internal
 */
export function trackTensor(t: Scoped, held: Held): void {
  tensorStats.live++;
  finalizer.register(t, held, t);
  const scope = scopes[scopes.length - 1];
  if (scope) scope.add(t);
}

/**
 * The other half of {@link trackTensor}, for `dispose()`: no longer live, in no scope; its
 * autograd record (other tensors' graphs may still need it) is released when it is collected,
 * unless backward() releases it first. @internal
 */
export function untrackTensor(t: Scoped, ctx: Releasable | null): void {
  finalizer.unregister(t);
  tensorStats.live--;
  for (const s of scopes) s.delete(t);
  if (ctx) finalizerCtx.register(t, ctx);
}

/** @internal */
export function pushScope(): Set<Scoped> {
  const s = new Set<Scoped>();
  scopes.push(s);
  return s;
}

/** @internal */
export function popScope(s: Set<Scoped>): void {
  const top = scopes.pop();
  if (top !== s) throw new Error("internal: tidy scopes popped out of order");
}

/** Adds a tensor to the innermost open tidy scope (a tidy's result joins its parent). @internal */
export function adoptIntoScope(t: Scoped): void {
  const s = scopes[scopes.length - 1];
  if (s && !t.isDisposed) s.add(t);
}

/** Removes a tensor from every open tidy scope so it survives them. */
export function keep<T extends Scoped>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/**
 * Runs the body of an op built from other ops: every tensor it creates except its result(s) is
 * disposed when it returns (the result's graph holds the nodes it needs), so the op's
 * intermediates neither count as live tensors nor keep buffers (its inputs' included) alive
 * until garbage collection. @internal
 */
export function composite<T extends Scoped | Scoped[]>(fn: () => T): T {
  const scope = pushScope();
  let out: T;
  try {
    out = fn();
  } catch (e) {
    popScope(scope);
    for (const t of scope) t.dispose();
    throw e;
  }
  popScope(scope);
  const results = new Set<Scoped>(Array.isArray(out) ? out : [out]);
  for (const t of scope) {
    if (results.has(t)) adoptIntoScope(t);
    else t.dispose();
  }
  return out;
}
