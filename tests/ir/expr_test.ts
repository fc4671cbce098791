/**
 * The op language: identical subtrees of an op's expression become one node, so every backend
 * computes them once (softplus writes `exp(-abs(a))` five times).
 * @module
 */

import assert from "node:assert/strict";
import { type Expr, instantiate, parseExpr, walkExpr } from "../../src/ir/expr.ts";
import { ELEMENTWISE } from "../../src/tensor/ops_table.ts";

function countCalls(e: Expr, fn: string): number {
  let n = 0;
  walkExpr(e, (x) => {
    if (x.k === "call" && x.fn === fn) n++;
  });
  return n;
}

const a: Expr = { k: "lit", v: 1, t: "f32" };

Deno.test("op language: identical subtrees are one node after instantiation", () => {
  const e = instantiate(parseExpr("exp(a) * exp(a) + exp(-a)"), { a }, "f32");
  assert.equal(countCalls(e, "exp"), 2);
  assert.equal(countCalls(instantiate(ELEMENTWISE.softplus.ast, { a }, "f32"), "exp"), 1);
  assert.equal(countCalls(instantiate(ELEMENTWISE.mish.ast, { a }, "f32"), "exp"), 1);
});
