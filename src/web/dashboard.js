// @ts-check
/// <reference lib="dom" />
/**
 * The page of `worldflux dashboard` (served by `src/cli/dashboard_server.ts`): follows the event
 * stream of the run (`/api/events`: the records of `metrics.jsonl` as they are written, a `reset`
 * when a new run replaces the file, `files` when a run file changes) and draws the status, the
 * return, loss and speed curves (with the chart code of the reports, `charts.js`), the quick
 * verification, the run manifest and the imagination pictures. Everything it shows comes from the
 * server's JSON; text from the run files is escaped before it reaches the page.
 * @module
 */

import { defaultLossKeys, esc, lineChart, lossChart, numericKeys } from "./charts.js";

/** @typedef {import("./charts.js").LogRow} LogRow */

/** Keys of a train line that are bookkeeping, not metrics to offer in the key picker. */
const NOT_METRICS = new Set(["step", "time", "wall_time", "env_steps", "buffer_size"]);
/** Without a new line for this long, a run that has not ended is shown as stalled. */
const STALLED_MS = 120_000;
/** Points per series drawn (longer series keep each bucket's extremes). */
const MAX_POINTS = 1500;

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function el(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
}

/**
 * @typedef {object} RunState
 * @property {Record<string, unknown> | null} run The `run` line (mode, config, ...).
 * @property {LogRow[]} train The `train` lines.
 * @property {LogRow[]} evals The `eval` lines.
 * @property {Record<string, unknown> | null} end The `end` line, once the run finished.
 * @property {number | null} lastTime When the last line was written (ms since the epoch).
 * @property {number} skipped Lines the server skipped (not JSON objects, or too long).
 */

/** @returns {RunState} */
function emptyRun() {
  return { run: null, train: [], evals: [], end: null, lastTime: null, skipped: 0 };
}

let run = emptyRun();
/** The metrics the user ticked for the second chart (null: the default loss terms). */
/** @type {Set<string> | null} */
let chosenKeys = null;
/** The key list the picker shows (to rebuild it only when it changes). */
let pickerKeys = "";
/** @type {ReturnType<typeof setTimeout> | null} */
let renderTimer = null;

/**
 * @param {unknown} v
 * @returns {v is number}
 */
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

/**
 * @param {unknown} v
 * @param {number} [digits]
 * @returns {string}
 */
function fmt(v, digits = 1) {
  if (!isNum(v)) return "–";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : v.toFixed(digits);
}

/**
 * @param {number} sec
 * @returns {string}
 */
function fmtDuration(sec) {
  if (!(sec >= 0)) return "–";
  if (sec < 90) return `${sec.toFixed(0)} s`;
  if (sec < 5400) return `${(sec / 60).toFixed(1)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}

/** @param {Record<string, unknown>} r */
function addRecord(r) {
  const step = isNum(r.step) ? r.step : NaN;
  const t = typeof r.time === "string" ? Date.parse(r.time) : NaN;
  if (Number.isFinite(t)) run.lastTime = t;
  switch (r.kind) {
    case "run":
      run.run = r;
      run.end = null;
      break;
    case "train":
      if (Number.isFinite(step)) run.train.push(/** @type {LogRow} */ (r));
      break;
    case "eval":
      if (Number.isFinite(step)) run.evals.push(/** @type {LogRow} */ (r));
      break;
    case "end":
      run.end = r;
      break;
  }
}

function scheduleRender() {
  if (renderTimer !== null) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    renderStatus();
    renderCharts();
  }, 100);
}

/**
 * @param {string} id
 * @param {string} cls
 * @param {string} label
 */
function setBadge(id, cls, label) {
  const b = el(id);
  b.className = `badge ${cls}`;
  b.textContent = label;
}

/** @returns {Record<string, unknown>} */
function runConfig() {
  const c = run.run?.config;
  return c && typeof c === "object" ? /** @type {Record<string, unknown>} */ (c) : {};
}

function stepUnit() {
  return run.run?.mode === "online" ? "environment steps" : "updates";
}

function renderStatus() {
  const last = run.train.at(-1);
  const lastEval = run.evals.at(-1);
  const step = Math.max(
    last?.step ?? 0,
    lastEval?.step ?? 0,
    isNum(run.end?.steps) ? run.end.steps : 0,
  );
  const total = runConfig().total_steps;
  const ago = run.lastTime === null ? null : (Date.now() - run.lastTime) / 1000;
  let state = "waiting", label = "waiting for metrics.jsonl";
  if (run.end) [state, label] = ["finished", "finished"];
  else if (run.run && ago !== null && ago * 1000 > STALLED_MS) {
    [state, label] = ["stalled", `no new line for ${fmtDuration(ago)}`];
  } else if (run.run) [state, label] = ["running", "running"];
  setBadge("run-state", state, label);
  el("progress-bar").style.width = isNum(total) && total > 0
    ? `${Math.min(100, (100 * step) / total).toFixed(1)}%`
    : "0";
  /** @type {[string, string][]} */
  const rows = [];
  if (run.run) {
    rows.push([
      "model",
      `${esc(String(run.run.model_type ?? "–"))} · ${esc(String(run.run.train_step ?? ""))}`,
    ]);
    rows.push([
      "step",
      `<span id="status-step">${fmt(step)}</span> / ${fmt(total)} ${stepUnit()}`,
    ]);
    if (run.run.resumed_from) rows.push(["resumed from", esc(String(run.run.resumed_from))]);
  }
  if (last) {
    if (isNum(last.updates)) rows.push(["updates", fmt(last.updates)]);
    if (isNum(last.episodes)) rows.push(["episodes", fmt(last.episodes)]);
    if (isNum(last.loss)) rows.push(["loss", fmt(last.loss, 4)]);
    if (isNum(last.steps_per_sec)) rows.push(["steps / s", fmt(last.steps_per_sec, 1)]);
    if (isNum(last.wall_time)) rows.push(["training time", fmtDuration(last.wall_time)]);
  }
  if (lastEval && isNum(lastEval.eval_return_mean)) {
    rows.push([
      "last evaluation",
      `${fmt(lastEval.eval_return_mean)} at step ${fmt(lastEval.step)}`,
    ]);
  }
  if (ago !== null) rows.push(["last line", `${fmtDuration(ago)} ago`]);
  if (run.skipped) rows.push(["skipped lines", `${run.skipped} (not JSON objects, or too long)`]);
  el("status").innerHTML = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("");
}

function renderKeyPicker() {
  const keys = numericKeys(run.train).filter((k) => !NOT_METRICS.has(k));
  const sig = keys.join("\n");
  if (sig === pickerKeys) return;
  pickerKeys = sig;
  const chosen = chosenKeys ?? new Set(defaultLossKeys(run.train));
  el("loss-keys").innerHTML = keys.map((k) =>
    `<label><input type="checkbox" value="${esc(k)}"${chosen.has(k) ? " checked" : ""}> ${
      esc(k)
    }</label>`
  ).join("");
}

function renderCharts() {
  const unit = stepUnit();
  const episodes = run.train.filter((r) => isNum(r.train_return));
  const evals = run.evals.filter((r) => isNum(r.eval_return_mean));
  const online = run.run?.mode === "online";
  el("chart-returns").innerHTML = lineChart({
    title: "Returns",
    width: 420,
    height: 280,
    xLabel: unit,
    yLabel: "return",
    maxPoints: MAX_POINTS,
    note: episodes.length || evals.length
      ? undefined
      : online || !run.run
      ? "no episode finished yet"
      : "offline training: no episodes",
    series: [
      {
        name: "training episodes (mean since the last log)",
        xs: episodes.map((r) => r.step),
        ys: episodes.map((r) => /** @type {number} */ (r.train_return)),
        color: "#9ecae1",
        width: 1.2,
      },
      {
        name: "evaluation (mean)",
        xs: evals.map((r) => r.step),
        ys: evals.map((r) => /** @type {number} */ (r.eval_return_mean)),
        color: "#d62728",
        dots: true,
      },
    ],
  });
  renderKeyPicker();
  el("chart-losses").innerHTML = lossChart({
    title: "Losses",
    rows: run.train,
    keys: chosenKeys ? [...chosenKeys] : undefined,
    width: 420,
    height: 280,
    xLabel: unit,
    maxPoints: MAX_POINTS,
  });
  const speed = run.train.filter((r) => isNum(r.steps_per_sec));
  el("chart-speed").innerHTML = lineChart({
    title: "Speed",
    width: 420,
    height: 280,
    xLabel: unit,
    yLabel: `${unit} per second`,
    maxPoints: MAX_POINTS,
    note: speed.length ? undefined : "no log line yet",
    series: [{
      name: "steps per second",
      xs: speed.map((r) => r.step),
      ys: speed.map((r) => /** @type {number} */ (r.steps_per_sec)),
      color: "#2ca02c",
      width: 1.4,
    }],
  });
}

// ---------------------------------------------------------------------------------------------
// The run files: manifest, quick verify, pictures
// ---------------------------------------------------------------------------------------------

/**
 * @param {unknown} v
 * @returns {Record<string, any>}
 */
function obj(v) {
  return v && typeof v === "object" ? /** @type {Record<string, any>} */ (v) : {};
}

/**
 * @param {[string, string][]} rows label and already-escaped HTML
 * @returns {string}
 */
function dl(rows) {
  return `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

/**
 * @param {unknown} manifest
 * @param {string | null} error
 * @param {string} target
 */
function renderManifest(manifest, error, target) {
  if (!manifest) {
    el("manifest").innerHTML = error
      ? `<p class="problem">run_manifest.json: ${esc(error)}</p>`
      : `<p class="muted">Not written yet: <code>worldflux train</code> writes it when the run ends` +
        ` (into <code>${esc(target)}</code>).</p>`;
    return;
  }
  const m = obj(manifest);
  const model = obj(m.model), device = obj(m.device), data = obj(m.data);
  const training = obj(m.training), evaluation = obj(m.evaluation);
  const degraded = Array.isArray(m.degraded_modes) ? m.degraded_modes : [];
  /** @type {[string, string][]} */
  const rows = [
    ["model", `<code>${esc(String(model.id ?? "–"))}</code> (${fmt(model.parameters)} parameters)`],
    [
      "device",
      `${esc(String(device.selected ?? "–"))} <span class="muted">${
        esc(String(device.reason ?? ""))
      }</span>`,
    ],
    ["data", esc([data.source, data.env ?? data.path].filter(Boolean).join(" · "))],
    [
      "training",
      `${fmt(training.steps)} / ${fmt(training.total_steps)} steps, ${
        fmt(training.updates)
      } updates in ${isNum(training.wall_time_sec) ? fmtDuration(training.wall_time_sec) : "–"}`,
    ],
    ["classification", `<code>${esc(String(m.run_classification ?? "–"))}</code>`],
    [
      "degraded modes",
      degraded.length ? degraded.map((d) => `<code>${esc(String(d))}</code>`).join(", ") : "none",
    ],
  ];
  if (isNum(evaluation.final_mean_return)) {
    rows.push([
      "evaluation return",
      `${fmt(evaluation.final_mean_return)} (best ${fmt(evaluation.best_mean_return)})`,
    ]);
  }
  if (typeof m.created_at_utc === "string") rows.push(["written", esc(m.created_at_utc)]);
  el("manifest").innerHTML = dl(rows) +
    `<details><summary>run_manifest.json</summary><pre>${
      esc(JSON.stringify(manifest, null, 2))
    }</pre></details>`;
}

/**
 * @param {unknown} report
 * @param {string | null} error
 * @param {string} target
 */
function renderVerify(report, error, target) {
  if (!report) {
    setBadge("verify-status", error ? "error" : "waiting", error ? "unreadable" : "not run");
    el("verify").innerHTML = error
      ? `<p class="problem">quick_verify.json: ${esc(error)}</p>`
      : `<p class="muted">Run <code>worldflux verify --target ${esc(target)} --mode quick</code>` +
        ` to check the artifacts and re-evaluate the model.</p>`;
    return;
  }
  const v = obj(report);
  const status = ["pass", "warning", "fail"].includes(v.status) ? v.status : "error";
  setBadge("verify-status", status, String(v.status ?? "?").toUpperCase());
  const checks = [
    ...(Array.isArray(v.artifacts) ? v.artifacts : []),
    ...(Array.isArray(v.quality) ? v.quality : []),
  ].map(obj);
  el("verify").innerHTML = `<p>${esc(String(v.summary ?? ""))}</p>` +
    `<p class="muted">tier ${esc(String(v.tier ?? "–"))}, checked ${
      esc(String(v.checked_at_utc ?? "–"))
    }</p><ul>${
      checks.map((c) =>
        `<li><b>${c.ok ? "✓" : c.gating === false ? "ℹ" : "✗"} ${esc(String(c.name))}</b>: ${
          esc(String(c.detail ?? ""))
        }</li>`
      ).join("")
    }</ul>`;
}

/** @param {Record<string, any>} files */
function renderPictures(files) {
  const pics = ["imagination.png", "imagination.svg"].filter((n) => files[n]);
  el("imagination").innerHTML = pics.length
    ? pics.map((n) =>
      `<img src="/files/${n}?v=${
        encodeURIComponent(String(files[n].mtime ?? files[n].size))
      }" alt="${n}">`
    ).join("")
    : `<p class="muted">No imagination.svg or imagination.png in the run directory (the examples` +
      ` write them: <code>deno task demo</code>, <code>examples/visualize_imagination.ts</code>).</p>`;
}

let infoLoading = false, infoAgain = false;

async function loadInfo() {
  if (infoLoading) {
    infoAgain = true;
    return;
  }
  infoLoading = true;
  try {
    const res = await fetch("/api/run", { cache: "no-store" });
    if (!res.ok) throw new Error(`/api/run: HTTP ${res.status}`);
    const info = obj(await res.json());
    const target = String(info.target ?? "");
    el("target").textContent = target;
    renderManifest(info.manifest, info.manifest_error ?? null, target);
    renderVerify(info.quick_verify, info.quick_verify_error ?? null, target);
    renderPictures(obj(info.files));
  } catch (e) {
    showProblem(e instanceof Error ? e.message : String(e));
  } finally {
    infoLoading = false;
    if (infoAgain) {
      infoAgain = false;
      loadInfo();
    }
  }
}

/** @param {string} message */
function showProblem(message) {
  const p = el("problem");
  p.hidden = false;
  p.textContent = message;
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

el("loss-keys").addEventListener("change", () => {
  const boxes = /** @type {NodeListOf<HTMLInputElement>} */ (
    el("loss-keys").querySelectorAll("input[type=checkbox]")
  );
  chosenKeys = new Set([...boxes].filter((b) => b.checked).map((b) => b.value));
  renderCharts();
});

const events = new EventSource("/api/events");
events.addEventListener("open", () => setBadge("connection", "live", "live"));
events.addEventListener("error", () => setBadge("connection", "reconnecting", "reconnecting"));
events.addEventListener("reset", () => {
  run = emptyRun();
  pickerKeys = "";
  scheduleRender();
});
events.addEventListener("metrics", (e) => {
  const data = obj(JSON.parse(/** @type {MessageEvent} */ (e).data));
  for (const r of Array.isArray(data.records) ? data.records : []) addRecord(obj(r));
  if (isNum(data.skipped)) run.skipped += data.skipped;
  scheduleRender();
});
events.addEventListener("files", () => void loadInfo());
events.addEventListener("problem", (e) => {
  showProblem(String(obj(JSON.parse(/** @type {MessageEvent} */ (e).data)).message));
});
// The "last line ... ago" and the stalled state move with the clock.
setInterval(renderStatus, 1000);
scheduleRender();
