import assert from "node:assert/strict";
import {
  defaultLossKeys,
  lineChart,
  type LogRow,
  lossChart,
  numericKeys,
} from "../../src/web/charts.js";

/** The `points` of every polyline of an SVG, as [x, y] pairs. */
function polylines(svg: string): [number, number][][] {
  return [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) =>
    m[1].split(" ").map((p) => p.split(",").map(Number) as [number, number])
  );
}

Deno.test("charts: lineChart escapes every text it is given", () => {
  const svg = lineChart({
    title: "<script>alert(1)</script> & co",
    xLabel: '"x"',
    series: [{ name: "<b>s</b>", xs: [0, 1], ys: [1, 2], color: "#123456" }],
    hlines: [{ y: 1.5, label: "<i>", color: "#999" }],
    note: "<note>",
  });
  assert.ok(!/<script|<b>|<i>|<note>/.test(svg), svg);
  assert.match(svg, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; co/);
  assert.match(svg, /&quot;x&quot;/);
});

Deno.test("charts: points without a finite value are left out; the axes fit the rest", () => {
  const svg = lineChart({
    title: "t",
    width: 200,
    height: 200,
    series: [{ name: "s", xs: [0, 1, 2, 3], ys: [1, null, NaN, 3], color: "#000" }],
  });
  const [line] = polylines(svg);
  assert.equal(line.length, 2);
  // x from 0 (left edge of the plot, 58) to 3 (right edge, 200 - 14).
  assert.deepEqual(line.map(([x]) => x), [58, 186]);
  // y: 3 is above 1.
  assert.ok(line[1][1] < line[0][1]);
  // No data at all: empty axes and the note, no line.
  const empty = lineChart({ title: "t", series: [], note: "nothing yet" });
  assert.equal(polylines(empty).length, 0);
  assert.match(empty, />nothing yet</);
});

Deno.test("charts: maxPoints thins a long series but keeps its ends and its extremes", () => {
  const n = 10_000;
  const xs = Array.from({ length: n }, (_, i) => i);
  const ys = xs.map((i) => Math.sin(i / 50));
  ys[4321] = 10; // a spike
  ys[777] = -10;
  const o = { title: "t", series: [{ name: "s", xs, ys, color: "#000" }] };
  const full = polylines(lineChart(o))[0];
  const thin = polylines(lineChart({ ...o, maxPoints: 200 }))[0];
  assert.equal(full.length, n);
  assert.ok(thin.length <= 200 && thin.length > 150, `${thin.length} points`);
  assert.deepEqual(thin[0], full[0]);
  assert.deepEqual(thin.at(-1), full.at(-1));
  const ysOf = (pts: [number, number][]) => pts.map(([, y]) => y);
  assert.equal(Math.min(...ysOf(thin)), Math.min(...ysOf(full))); // the spike (highest, top)
  assert.equal(Math.max(...ysOf(thin)), Math.max(...ysOf(full)));
  // x order is kept.
  for (let i = 1; i < thin.length; i++) assert.ok(thin[i][0] >= thin[i - 1][0]);
});

Deno.test("charts: the loss chart of metrics.jsonl rows", () => {
  const rows: LogRow[] = [
    { step: 50, lr: 3e-4, env_steps: 50 }, // prefill: no update, no loss
    { step: 100, loss: 2, consistency_loss: 0.5, reward_loss: 1, pi_loss: -0.2, lr: 3e-4 },
    { step: 150, loss: 1, consistency_loss: 0.2, reward_loss: null, pi_loss: 0.1, lr: 3e-4 },
  ];
  assert.deepEqual(defaultLossKeys(rows), ["consistency_loss", "reward_loss", "pi_loss"]);
  assert.deepEqual(defaultLossKeys([{ step: 1, loss: 1, other: 2 }]), ["loss"]);
  assert.deepEqual(numericKeys(rows), [
    "consistency_loss",
    "env_steps",
    "loss",
    "lr",
    "pi_loss",
    "reward_loss",
  ]);
  const svg = lossChart({ title: "L", rows });
  const lines = polylines(svg);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.length), [2, 1, 2]); // reward_loss: one finite value
  // A negative pi_loss: a linear axis (equal steps of value are equal distances).
  const [c, , p] = lines;
  const perUnit = (c[0][1] - c[1][1]) / (0.5 - 0.2);
  assert.ok(Math.abs((p[0][1] - p[1][1]) / (-0.2 - 0.1) - perUnit) < 0.5);
  // All positive: a log axis (equal ratios are equal distances: 2 -> 1 as 1 -> 0.5).
  const [cons, loss] = polylines(
    lossChart({ title: "L", rows, keys: ["consistency_loss", "loss"] }),
  );
  const y2 = loss[0][1], y1 = loss[1][1], yHalf = cons[0][1];
  assert.ok(Math.abs((y1 - y2) - (yHalf - y1)) < 0.2, `${y2} ${y1} ${yHalf}`);
  // Nothing logged yet.
  assert.match(lossChart({ title: "L", rows: rows.slice(0, 1) }), /no losses logged yet/);
});
