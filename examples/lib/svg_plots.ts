/**
 * Small self-contained SVG line charts for the example reports (no dependencies): axes with
 * rounded ticks, a legend, dashed series, shaded x-ranges and horizontal reference lines; and the
 * two helpers of the HTML reports (escaping, embedded pictures).
 * @module
 */

/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly xs: readonly number[];
  readonly ys: readonly number[];
  readonly color: string;
  readonly dash?: boolean;
  readonly width?: number;
  /** Draw a dot at every point. */
  readonly dots?: boolean;
}

/** Options of {@link lineChart}. */
export interface ChartOptions {
  readonly title: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
  readonly xLabel?: string;
  readonly yLabel?: string;
  /** Horizontal reference lines (e.g. a random baseline). */
  readonly hlines?: readonly { y: number; label: string; color: string }[];
  /** Shaded x-ranges (e.g. the observed warm-up before imagination). */
  readonly bands?: readonly { x0: number; x1: number; label: string; color: string }[];
  /** Fixed y-range. */
  readonly yRange?: readonly [number, number];
  /** Log-scaled y axis (positive values). */
  readonly logY?: boolean;
}

/** Escapes text for SVG/HTML. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Bytes as a `data:` URI, to embed a picture in a self-contained HTML report. */
export function dataUri(bytes: Uint8Array, mime: string): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:${mime};base64,${btoa(bin)}`;
}

function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function ticks(lo: number, hi: number, target: number): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep(hi - lo, target);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e4) return `${(v / 1000).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return String(Number(v.toFixed(2)));
  if (a >= 1e-3) return String(Number(v.toPrecision(2)));
  return v.toExponential(0);
}

/** An SVG line chart (a complete `<svg>` element). */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 520, H = o.height ?? 280;
  // The legend goes in rows between the title and the plot, never over the data.
  const items = [
    ...o.series.map((s) => ({ name: s.name, color: s.color, dash: s.dash ?? false })),
    ...(o.hlines ?? []).map((h) => ({ name: h.label, color: h.color, dash: true })),
  ];
  const legendRows: { name: string; color: string; dash: boolean; x: number }[][] = [[]];
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
  const tf = (y: number) => (o.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const xsAll = o.series.flatMap((s) => s.xs).concat(o.bands?.flatMap((b) => [b.x0, b.x1]) ?? []);
  const ysAll = o.series.flatMap((s) => s.ys.filter(Number.isFinite).map(tf))
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
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) => m.t + (1 - (tf(y) - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
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
  for (const s of o.series) {
    const pts = s.xs.map((x, i) => [x, s.ys[i]] as const).filter(([, y]) => Number.isFinite(y));
    if (!pts.length) continue;
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
  }
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

/** Lays out SVG charts side by side in one SVG (`cols` per row). */
export function gridSvg(charts: readonly string[], cols: number, w: number, h: number): string {
  const rows = Math.ceil(charts.length / cols);
  const inner = charts.map((c, i) => {
    const x = (i % cols) * w, y = Math.floor(i / cols) * h;
    return c.replace("<svg ", `<svg x="${x}" y="${y}" `);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * w}" height="${rows * h}" ` +
    `viewBox="0 0 ${cols * w} ${rows * h}"><rect width="100%" height="100%" fill="#fff"/>` +
    `${inner.join("\n")}</svg>`;
}
