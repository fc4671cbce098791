/**
 * The op language: identical subtrees of an op's expression become one node, so every backend
 * computes them once (softplus writes `exp(-abs(a))` five times).
 * @module
 */

import assert from "node:assert/strict";
import { type Expr, instantiate, parseExpr, parseExprList, walkExpr } from "../../src/ir/expr.ts";
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

Deno.test("op language: an expression list shares subtrees across its members and names its functions", () => {
  const [x, y] = parseExprList(["g * f(a)", "f(a) + g"], { f: 1 });
  assert(x.t === "bin" && y.t === "bin");
  assert.equal(x.b, y.a); // f(a): one object in both
  assert.equal(x.a, y.b); // g
  assert.throws(() => parseExprList(["exp(a)"], { f: 1 }), /unknown function exp/);
  assert.throws(() => parseExprList(["f(a, b)"], { f: 1 }), /f takes 1 arguments/);
});
