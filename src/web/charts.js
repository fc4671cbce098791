// @ts-check
/**
 * The one chart code of worldflux's pages: self-contained SVG line charts (axes with rounded
 * ticks, a legend, dashed series, shaded x-ranges, horizontal reference lines, log scale) and the
 * loss chart of a run's `metrics.jsonl` records. Plain JavaScript with JSDoc types and no imports,
 * so that the same file is imported by Deno (the examples' self-contained `report.html`, the
 * imagination figures) and loaded as-is by a browser (the page of `worldflux dashboard`, served
 * from this directory; no bundler, no CDN).
 *
 * Charts are returned as SVG text; every label is escaped ({@link esc}), numbers are formatted.
 *
 * @example
 * ```ts
 * import { lineChart } from "./charts.js";
 * const svg = lineChart({
 *   title: "return",
 *   series: [{ name: "eval", xs: [0, 100, 200], ys: [-1200, -800, -300], color: "#1f77b4" }],
 * });
 * console.log(svg.startsWith("<svg ")); // true
 * ```
 * @module
 */

/**
 * One line of a chart. `ys` entries that are not finite numbers (a `null` from `metrics.jsonl`,
 * NaN) are left out of the line.
 * @typedef {object} Series
 * @property {string} name Legend text.
 * @property {readonly number[]} xs X coordinates.
 * @property {readonly (number | null)[]} ys Y values, one per x.
 * @property {string} color CSS colour of the line.
 * @property {boolean} [dash] Dashed line.
 * @property {number} [width] Stroke width (default 2).
 * @property {boolean} [dots] Draw a dot at every point.
 */

/**
 * Options of {@link lineChart}.
 * @typedef {object} ChartOptions
 * @property {string} title Title above the legend.
 * @property {readonly Series[]} series The lines.
 * @property {number} [width] Width in pixels (default 520).
 * @property {number} [height] Height in pixels (default 280).
 * @property {string} [xLabel] Label under the x axis.
 * @property {string} [yLabel] Label beside the y axis.
 * @property {readonly { y: number, label: string, color: string }[]} [hlines] Horizontal
 *   reference lines (e.g. a random baseline).
 * @property {readonly { x0: number, x1: number, label: string, color: string }[]} [bands]
 *   Shaded x-ranges (e.g. the observed warm-up before imagination).
 * @property {readonly [number, number]} [yRange] Fixed y-range.
 * @property {boolean} [logY] Log-scaled y axis (positive values).
 * @property {string} [note] Text in the middle of the plot (e.g. why it is empty).
 * @property {number} [maxPoints] Draw at most about this many points per series: longer series
 *   keep the first and last point and the lowest and highest of each bucket in between.
 */

/**
 * Escapes text for SVG/HTML.
 * @param {string} s
 * @returns {string}
 */
export function esc(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * Bytes as a `data:` URI, to embed a picture in a self-contained HTML report.
 * @param {Uint8Array} bytes
 * @param {string} mime
 * @returns {string}
 */
export function dataUri(bytes, mime) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${mime};base64,${btoa(bin)}`;
}

/**
 * @param {number} span
 * @param {number} target
 * @returns {number}
 */
function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/**
 * @param {number} lo
 * @param {number} hi
 * @param {number} target
 * @returns {number[]}
 */
function ticks(lo, hi, target) {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, target);
  /** @type {number[]} */
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

/**
 * @param {number} v
 * @returns {string}
 */
function fmtTick(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e4) return `${(v / 1000).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return String(Number(v.toFixed(2)));
  if (a >= 1e-3) return String(Number(v.toPrecision(2)));
  return v.toExponential(0);
}

/**
 * The finite points of a series, thinned to about `max` points: the first and the last, and the
 * lowest and the highest of each bucket in between, in x order (so spikes stay visible).
 * @param {Series} s
 * @param {number} max
 * @returns {(readonly [number, number])[]}
 */
function seriesPoints(s, max) {
  /** @type {(readonly [number, number])[]} */
  const pts = [];
  for (let i = 0; i < s.xs.length; i++) {
    const y = s.ys[i];
    if (typeof y === "number" && Number.isFinite(y)) pts.push([s.xs[i], y]);
  }
  if (!(pts.length > max) || max < 4) return pts;
  const buckets = Math.floor((max - 2) / 2);
  const inner = pts.length - 2;
  const out = [pts[0]];
  for (let b = 0; b < buckets; b++) {
    const lo = 1 + Math.floor((b * inner) / buckets),
      hi = 1 + Math.floor(((b + 1) * inner) / buckets);
    if (hi <= lo) continue;
    let iMin = lo, iMax = lo;
    for (let i = lo; i < hi; i++) {
      if (pts[i][1] < pts[iMin][1]) iMin = i;
      if (pts[i][1] > pts[iMax][1]) iMax = i;
    }
    out.push(pts[Math.min(iMin, iMax)]);
    if (iMax !== iMin) out.push(pts[Math.max(iMin, iMax)]);
  }
  out.push(pts[pts.length - 1]);
  return out;
}

/**
 * An SVG line chart (a complete `<svg>` element).
 * @param {ChartOptions} o
 * @returns {string}
 */
export function lineChart(o) {
  const W = o.width ?? 520, H = o.height ?? 280;
  const maxPoints = o.maxPoints ?? Infinity;
  const points = o.series.map((s) => seriesPoints(s, maxPoints));
  // The legend goes in rows between the title and the plot, never over the data.
  const items = [
    ...o.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash ?? false })),
    ...(o.hlines ?? []).map((h) => ({ name: h.label, color: h.color, dash: true })),
  ];
  /** @type {{ name: string, color: string, dash: boolean, x: number }[][]} */
  const legendRows = [[]];
  {
    let x = 58;
    for (const it of items) {
      const w = it.name.length * 6 + 40;
      if (x + w > W - 10 && legendRows[legendRows.length - 1].length) {
        legendRows.push([]);
        x = 58;
      }
      legendRows[legendRows.length - 1].push({ ...it, x });
      x += w;
    }
  }
  const legendH = items.length ? legendRows.length * 15 + 4 : 0;
  const m = { l: 58, r: 14, t: 28 + legendH, b: 42 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  /** @param {number} y */
  const tf = (y) => (o.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const xsAll = points.flatMap((p) => p.map(([x]) => x))
    .concat(o.bands?.flatMap((b) => [b.x0, b.x1]) ?? []);
  const ysAll = points.flatMap((p) => p.map(([, y]) => tf(y)))
    .concat(o.hlines?.map((h) => tf(h.y)) ?? []);
  let x0 = Math.min(...xsAll), x1 = Math.max(...xsAll);
  if (!Number.isFinite(x0)) [x0, x1] = [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  let [y0, y1] = o.yRange
    ? [tf(o.yRange[0]), tf(o.yRange[1])]
    : [Math.min(...ysAll), Math.max(...ysAll)];
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  if (!o.yRange) {
    const pad = (y1 - y0) * 0.06;
    y0 -= pad;
    y1 += pad;
  }
  /** @param {number} x */
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * pw;
  /** @param {number} y */
  const Y = (y) => m.t + (1 - (tf(y) - y0) / (y1 - y0)) * ph;
  /** @type {string[]} */
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.l}" y="18" font-size="13" font-weight="bold" fill="#222">${esc(o.title)}</text>`,
  );
  for (const b of o.bands ?? []) {
    const a = X(Math.max(b.x0, x0)), c = X(Math.min(b.x1, x1));
    parts.push(
      `<rect x="${a.toFixed(1)}" y="${m.t}" width="${
        Math.max(0, c - a).toFixed(1)
      }" height="${ph}" fill="${b.color}"/>`,
      `<text x="${(a + 4).toFixed(1)}" y="${m.t + ph - 5}" fill="#777">${esc(b.label)}</text>`,
    );
  }
  // Grid and ticks.
  const yt = o.logY
    ? ticks(Math.floor(y0), Math.ceil(y1), 6).filter((v) =>
      Number.isInteger(v) && v >= y0 && v <= y1
    )
    : ticks(y0, y1, 5);
  for (const v of yt) {
    const y = o.logY ? m.t + (1 - (v - y0) / (y1 - y0)) * ph : Y(v);
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y.toFixed(1)}" y2="${
        y.toFixed(1)
      }" stroke="#e6e6e6"/>`,
      `<text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#444">${
        o.logY ? fmtTick(10 ** v) : fmtTick(v)
      }</text>`,
    );
  }
  for (const v of ticks(x0, x1, 6)) {
    const x = X(v);
    parts.push(
      `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${m.t}" y2="${
        m.t + ph
      }" stroke="#f0f0f0"/>`,
      `<text x="${x.toFixed(1)}" y="${m.t + ph + 15}" text-anchor="middle" fill="#444">${
        fmtTick(v)
      }</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
  );
  if (o.xLabel) {
    parts.push(
      `<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#333">${
        esc(o.xLabel)
      }</text>`,
    );
  }
  if (o.yLabel) {
    parts.push(
      `<text transform="translate(13 ${
        m.t + ph / 2
      }) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.yLabel)}</text>`,
    );
  }
  if (o.note) {
    parts.push(
      `<text x="${m.l + pw / 2}" y="${m.t + ph / 2}" text-anchor="middle" fill="#888">${
        esc(o.note)
      }</text>`,
    );
  }
  for (const h of o.hlines ?? []) {
    const y = Y(h.y).toFixed(1);
    parts.push(
      `<line x1="${m.l}" x2="${
        m.l + pw
      }" y1="${y}" y2="${y}" stroke="${h.color}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
  }
  // Series.
  parts.push(`<g clip-path="none">`);
  o.series.forEach((s, si) => {
    const pts = points[si];
    if (!pts.length) return;
    const d = pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}" ` +
        `stroke-linejoin="round"${s.dash ? ' stroke-dasharray="5 3"' : ""}/>`,
    );
    if (s.dots || pts.length === 1) {
      for (const [x, y] of pts) {
        parts.push(
          `<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="2.8" fill="${s.color}"/>`,
        );
      }
    }
  });
  parts.push(`</g>`);
  // Legend rows under the title.
  legendRows.forEach((row, r) => {
    const y = 34 + r * 15;
    for (const it of row) {
      parts.push(
        `<line x1="${it.x}" x2="${it.x + 20}" y1="${y - 4}" y2="${
          y - 4
        }" stroke="${it.color}" stroke-width="2"${it.dash ? ' stroke-dasharray="5 3"' : ""}/>`,
        `<text x="${it.x + 25}" y="${y}" fill="#222">${esc(it.name)}</text>`,
      );
    }
  });
  parts.push(`</svg>`);
  return parts.join("\n");
}

/**
 * Lays out SVG charts side by side in one SVG (`cols` per row, each cell `w` x `h`).
 * @param {readonly string[]} charts
 * @param {number} cols
 * @param {number} w
 * @param {number} h
 * @returns {string}
 */
export function gridSvg(charts, cols, w, h) {
  const rows = Math.ceil(charts.length / cols);
  const inner = charts.map((c, i) => {
    const x = (i % cols) * w, y = Math.floor(i / cols) * h;
    return c.replace("<svg ", `<svg x="${x}" y="${y}" `);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * w}" height="${rows * h}" ` +
    `viewBox="0 0 ${cols * w} ${rows * h}"><rect width="100%" height="100%" fill="#fff"/>` +
    `${inner.join("\n")}</svg>`;
}

// ---------------------------------------------------------------------------------------------
// Charts of a run's metrics.jsonl records
// ---------------------------------------------------------------------------------------------

/**
 * One logged step of a run: a `"kind": "train"` line of `metrics.jsonl` (or what a `Callback`'s
 * `onLog` received, with its step). Non-finite values are `null` in the file.
 * @typedef {{ readonly step: number, readonly [key: string]: unknown }} LogRow
 */

/** Colours of a chart's lines, in order. */
export const PALETTE = /** @type {const} */ ([
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#bcbd22",
  "#d62728",
  "#7f7f7f",
]);

/**
 * The loss terms a run's loss chart shows by default when they are logged: the parts of
 * TD-MPC2's objective and of DreamerV3's world-model and actor-critic losses.
 */
export const LOSS_COMPONENTS = /** @type {const} */ ([
  "consistency_loss",
  "reward_loss",
  "value_loss",
  "pi_loss",
  "wm/rec",
  "wm/rew",
  "wm/con",
  "wm/dyn",
  "ac/policy",
  "ac/value",
]);

/**
 * Whether `v` is a number worth plotting (finite).
 * @param {unknown} v
 * @returns {v is number}
 */
function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * The keys of `rows` with a finite number in at least one row (`step` excepted), sorted.
 * @param {readonly LogRow[]} rows
 * @returns {string[]}
 */
export function numericKeys(rows) {
  /** @type {Set<string>} */
  const keys = new Set();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) if (k !== "step" && finite(v)) keys.add(k);
  }
  return [...keys].sort();
}

/**
 * The loss terms of {@link LOSS_COMPONENTS} that `rows` log, or `["loss"]` when none is.
 * @param {readonly LogRow[]} rows
 * @returns {string[]}
 */
export function defaultLossKeys(rows) {
  const rowsWithLoss = rows.filter((r) => finite(r.loss));
  /** @type {string[]} */
  const keys = LOSS_COMPONENTS.filter((k) => rowsWithLoss.some((r) => finite(r[k])));
  return keys.length ? keys : ["loss"];
}

/**
 * Options of {@link lossChart}.
 * @typedef {object} LossChartOptions
 * @property {string} title Title of the chart.
 * @property {readonly LogRow[]} rows The logged steps (rows without a finite `loss` are skipped:
 *   the prefill steps of an online run log no update).
 * @property {readonly string[]} [keys] The metrics to draw (default {@link defaultLossKeys}).
 * @property {number} [width] Width in pixels.
 * @property {number} [height] Height in pixels.
 * @property {string} [xLabel] Label of the x axis (default "steps").
 * @property {number} [maxPoints] See {@link ChartOptions}.
 */

/**
 * The loss chart of a run: one line per key over the logged steps, log-scaled when every value
 * is positive.
 * @param {LossChartOptions} o
 * @returns {string}
 */
export function lossChart(o) {
  const rows = o.rows.filter((r) => finite(r.loss));
  const keys = o.keys ?? defaultLossKeys(rows);
  const positive = keys.every((k) => rows.every((r) => !finite(r[k]) || r[k] > 0));
  return lineChart({
    title: o.title,
    width: o.width ?? 380,
    height: o.height ?? 250,
    xLabel: o.xLabel ?? "steps",
    logY: positive,
    maxPoints: o.maxPoints,
    note: rows.length ? undefined : "no losses logged yet",
    series: keys.map((k, i) => ({
      name: k,
      xs: rows.map((r) => r.step),
      ys: rows.map((r) => (finite(r[k]) ? r[k] : null)),
      color: PALETTE[i % PALETTE.length],
      width: 1.6,
    })),
  });
}
