/**
 * Shared parts of the learning examples (`learn_pendulum_tdmpc2.ts`,
 * `learn_cartpole_dreamerv3.ts`): flags, the random-policy baseline, the final evaluation, the
 * result files (`returns.json`, `summary.json`) and the return-curve picture (a PNG drawn
 * into an RGB buffer here, with a 5x7 bitmap font, encoded with `fast-png`).
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { encode } from "fast-png";
import {
  CheckpointCallback,
  type Controller,
  type Env,
  LoggingCallback,
  type OnlineResult,
  parseTrainingConfig,
  ProgressCallback,
  type TrainingConfig,
  type TrainingConfigInput,
  trainOnline,
  type WorldModel,
} from "../mod.ts";
import { evaluateController } from "../cli.ts";
import { Rng } from "../src/rng.ts";
import { sample as sampleSpace } from "../src/envs/types.ts";

/** Command-line flags: `--name value` or `--name=value`; numbers where the default is one. */
export function parseFlags<T extends Record<string, number | string | boolean>>(
  args: readonly string[],
  defaults: T,
): T {
  const out: Record<string, number | string | boolean> = { ...defaults };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    let [k, v] = a.slice(2).split("=", 2) as [string, string | undefined];
    k = k.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    if (!(k in defaults)) {
      throw new Error(`unknown flag --${k} (known: ${Object.keys(defaults).join(", ")})`);
    }
    if (typeof defaults[k] === "boolean" && v === undefined) {
      out[k] = true;
      continue;
    }
    v ??= args[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    if (typeof defaults[k] === "number") {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`--${k}: not a number: ${v}`);
      out[k] = n;
    } else if (typeof defaults[k] === "boolean") out[k] = v !== "false" && v !== "0";
    else out[k] = v;
  }
  return out as T;
}

/** The flags every learning script has. */
export interface CommonFlags {
  readonly steps: number;
  readonly prefill: number;
  readonly evalInterval: number;
  readonly evalEpisodes: number;
  readonly seed: number;
  readonly out: string;
}

/** The online-loop config of a learning script: the common flags plus the family's batching. */
export function onlineConfig(
  flags: CommonFlags,
  batching: { trainRatio: number; batchSize: number; sequenceLength: number },
): TrainingConfigInput {
  return {
    totalSteps: flags.steps,
    prefillSteps: flags.prefill,
    ...batching,
    evalInterval: flags.evalInterval,
    evalEpisodes: flags.evalEpisodes,
    logInterval: 250,
    seed: flags.seed,
    outputDir: flags.out,
  };
}

/** Mean and (population) standard deviation. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
}

/** Returns of `episodes` episodes of the uniformly random policy (env seeds `seed + i`). */
export function randomBaseline(
  env: Env,
  episodes: number,
  seed: number,
): { returns: number[]; mean: number; std: number } {
  const rng = new Rng(seed);
  const returns: number[] = [];
  for (let i = 0; i < episodes; i++) {
    env.reset({ seed: seed + i });
    let ret = 0;
    for (;;) {
      const r = env.step(sampleSpace(env.actionSpace, rng));
      ret += r.reward;
      if (r.terminated || r.truncated) break;
    }
    returns.push(ret);
  }
  return { returns, ...meanStd(returns) };
}

// ---------------------------------------------------------------------------------------------
// Return-curve picture
// ---------------------------------------------------------------------------------------------

// 5x7 glyphs: 7 rows of 5 columns per character ("#" = ink).
const GLYPHS: Record<string, string> = {
  "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
  "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
  "2": ".###. #...# ....# ...#. ..#.. .#... #####",
  "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
  "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
  "5": "##### #.... ####. ....# ....# #...# .###.",
  "6": "..##. .#... #.... ####. #...# #...# .###.",
  "7": "##### ....# ...#. ..#.. .#... .#... .#...",
  "8": ".###. #...# #...# .###. #...# #...# .###.",
  "9": ".###. #...# #...# .#### ....# ...#. .##..",
  "-": "..... ..... ..... ##### ..... ..... .....",
  "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
  ".": "..... ..... ..... ..... ..... .##.. .##..",
  ",": "..... ..... ..... ..... .##.. ..#.. .#...",
  ":": "..... .##.. .##.. ..... .##.. .##.. .....",
  "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
  ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
  "/": "..... ....# ...#. ..#.. .#... #.... .....",
  "=": "..... ..... ##### ..... ##### ..... .....",
  "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
  "'": "..#.. ..#.. .#... ..... ..... ..... .....",
  "_": "..... ..... ..... ..... ..... ..... #####",
  "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
  " ": "..... ..... ..... ..... ..... ..... .....",
  A: ".###. #...# #...# ##### #...# #...# #...#",
  B: "####. #...# #...# ####. #...# #...# ####.",
  C: ".###. #...# #.... #.... #.... #...# .###.",
  D: "###.. #..#. #...# #...# #...# #..#. ###..",
  E: "##### #.... #.... ####. #.... #.... #####",
  F: "##### #.... #.... ####. #.... #.... #....",
  G: ".###. #...# #.... #.### #...# #...# .####",
  H: "#...# #...# #...# ##### #...# #...# #...#",
  I: ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
  J: "..### ...#. ...#. ...#. ...#. #..#. .##..",
  K: "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
  L: "#.... #.... #.... #.... #.... #.... #####",
  M: "#...# ##.## #.#.# #.#.# #...# #...# #...#",
  N: "#...# #...# ##..# #.#.# #..## #...# #...#",
  O: ".###. #...# #...# #...# #...# #...# .###.",
  P: "####. #...# #...# ####. #.... #.... #....",
  Q: ".###. #...# #...# #...# #.#.# #..#. .##.#",
  R: "####. #...# #...# ####. #.#.. #..#. #...#",
  S: ".#### #.... #.... .###. ....# ....# ####.",
  T: "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
  U: "#...# #...# #...# #...# #...# #...# .###.",
  V: "#...# #...# #...# #...# #...# .#.#. ..#..",
  W: "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
  X: "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
  Y: "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
  Z: "##### ....# ...#. ..#.. .#... #.... #####",
};

/** An RGB image with a few drawing primitives. */
class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }
  set(x: number, y: number, c: readonly number[], alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    for (let k = 0; k < 3; k++) {
      this.data[i + k] = Math.round(this.data[i + k] * (1 - alpha) + c[k] * alpha);
    }
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: readonly number[], alpha = 1): void {
    const [xa, xb] = [Math.round(Math.min(x0, x1)), Math.round(Math.max(x0, x1))];
    const [ya, yb] = [Math.round(Math.min(y0, y1)), Math.round(Math.max(y0, y1))];
    for (let y = ya; y <= yb; y++) for (let x = xa; x <= xb; x++) this.set(x, y, c, alpha);
  }
  /** A line `width` pixels thick; `dash` = [on, off] lengths in pixels. */
  line(
    x0: number,
    y0: number,
    x1: number,
    y1: number,
    c: readonly number[],
    width = 1,
    dash?: [number, number],
  ): void {
    const len = Math.hypot(x1 - x0, y1 - y0);
    const n = Math.max(1, Math.ceil(len * 2));
    const r = (width - 1) / 2;
    for (let i = 0; i <= n; i++) {
      const d = (i / n) * len;
      if (dash && d % (dash[0] + dash[1]) >= dash[0]) continue;
      const x = x0 + ((x1 - x0) * i) / n, y = y0 + ((y1 - y0) * i) / n;
      if (r <= 0) this.set(x, y, c);
      else this.rect(x - r, y - r, x + r, y + r, c);
    }
  }
  /** Text with the 5x7 font at `scale`; `align` on x: left, center or right; y is the top. */
  text(
    s: string,
    x: number,
    y: number,
    c: readonly number[],
    scale = 2,
    align: "left" | "center" | "right" = "left",
    vertical = false,
  ): void {
    const w = s.length * 6 * scale - scale;
    let pos = align === "left" ? 0 : align === "center" ? -w / 2 : -w;
    for (const ch of s) {
      const g = (GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? GLYPHS[" "]).replaceAll(" ", "");
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row * 5 + col] !== "#") continue;
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const u = pos + col * scale + dx, v = row * scale + dy;
              if (vertical) this.set(x + v, y - u, c);
              else this.set(x + u, y + v, c);
            }
          }
        }
      }
      pos += 6 * scale;
    }
  }
}

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, target = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) {
    out.push(Math.abs(v) < 1e-9 * span ? 0 : v);
  }
  return out;
}

function fmtTick(v: number, kilo = false): string {
  if (kilo && Math.abs(v) >= 1000) return `${+(v / 1000).toFixed(2)}K`;
  return Number.isInteger(v) ? String(v) : String(+v.toFixed(2));
}

/** One curve of a return plot. */
export interface Series {
  /** Legend label. */
  readonly label: string;
  /** Environment steps. */
  readonly x: readonly number[];
  /** Mean returns. */
  readonly y: readonly number[];
  /** Standard deviations (a shaded band). */
  readonly std?: readonly number[];
  /** RGB colour. */
  readonly color?: readonly [number, number, number];
}

/** What {@link plotReturns} draws. */
export interface PlotSpec {
  /** Title (top). */
  readonly title: string;
  /** The curves. */
  readonly series: readonly Series[];
  /** Random-policy mean return (dashed line) and its std (light band). */
  readonly baseline?: { mean: number; std: number; label?: string };
  /** Single points with a std bar (diamonds), e.g. the final evaluation. */
  readonly points?: readonly {
    x: number;
    y: number;
    std: number;
    label: string;
    color?: readonly [number, number, number];
  }[];
  /** Small dots (e.g. the returns of the training episodes), drawn first. */
  readonly scatter?: {
    x: readonly number[];
    y: readonly number[];
    label: string;
    color?: readonly [number, number, number];
  };
  /** Reference lines (dotted), e.g. a solved threshold. */
  readonly references?: readonly { y: number; label: string }[];
  /** Axis labels. */
  readonly xLabel?: string;
  /** Axis labels. */
  readonly yLabel?: string;
  /** Fixed y range. */
  readonly yRange?: readonly [number, number];
  /** Size in pixels (default 900 x 560). */
  readonly width?: number;
  /** Size in pixels. */
  readonly height?: number;
}

const PALETTE: readonly (readonly [number, number, number])[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [148, 103, 189],
];

/** The return curves as a PNG (RGB, drawn here; see {@link PlotSpec}). */
export function plotReturns(spec: PlotSpec): Uint8Array {
  const W = spec.width ?? 900, H = spec.height ?? 560;
  const cv = new Canvas(W, H);
  const L = 100, R = W - 30, B = H - 70;
  const T = 66 + 22 * (spec.series.length + (spec.points?.length ?? 0) + (spec.scatter ? 1 : 0));
  const xs = [...spec.series.flatMap((s) => [...s.x]), ...(spec.points ?? []).map((p) => p.x)];
  const ys = spec.series.flatMap((s) =>
    s.y.flatMap((y, i) => (s.std ? [y - s.std[i], y + s.std[i]] : [y]))
  );
  for (const p of spec.points ?? []) ys.push(p.y - p.std, p.y + p.std);
  if (spec.scatter) {
    xs.push(...spec.scatter.x);
    ys.push(...spec.scatter.y);
  }
  if (spec.baseline) ys.push(spec.baseline.mean - spec.baseline.std, spec.baseline.mean);
  for (const r of spec.references ?? []) ys.push(r.y);
  const xMin = 0, xMax = Math.max(1, ...xs);
  let [yMin, yMax] = spec.yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (!spec.yRange) {
    const pad = (yMax - yMin || 1) * 0.05;
    yMin -= pad;
    yMax += pad;
  }
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin)) * (R - L);
  const py = (y: number) =>
    B - ((Math.max(yMin, Math.min(yMax, y)) - yMin) / (yMax - yMin)) * (B - T);
  const ink = [30, 30, 30], grid = [225, 225, 225], grey = [120, 120, 120];
  // Grid and ticks.
  for (const v of ticks(yMin, yMax)) {
    cv.line(L, py(v), R, py(v), grid);
    cv.line(L - 5, py(v), L, py(v), ink);
    cv.text(fmtTick(v), L - 9, py(v) - 7, ink, 2, "right");
  }
  for (const v of ticks(xMin, xMax, 8)) {
    cv.line(px(v), T, px(v), B, grid);
    cv.line(px(v), B, px(v), B + 5, ink);
    cv.text(fmtTick(v, true), px(v), B + 10, ink, 2, "center");
  }
  // Baseline band and dashed line.
  if (spec.baseline) {
    const b = spec.baseline;
    cv.rect(L, py(b.mean + b.std), R, py(b.mean - b.std), grey, 0.12);
    cv.line(L, py(b.mean), R, py(b.mean), grey, 2, [10, 7]);
    cv.text(b.label ?? "RANDOM POLICY", R - 6, py(b.mean) - 18, grey, 2, "right");
  }
  for (const r of spec.references ?? []) {
    cv.line(L, py(r.y), R, py(r.y), [90, 160, 90], 1, [3, 5]);
    cv.text(r.label, L + 8, py(r.y) - 18, [60, 130, 60], 2, "left");
  }
  const diamond = (x: number, y: number, r: number, c: readonly number[]) => {
    for (let d = -r; d <= r; d++) {
      cv.line(x - r + Math.abs(d), y + d, x + r - Math.abs(d), y + d, c);
    }
  };
  // Legend rows under the title.
  const legend = (k: number, c: readonly number[], label: string, isPoint: boolean) => {
    const lx = L, ly = 56 + 22 * k;
    if (isPoint) diamond(lx + 24, ly + 6, 5, c);
    else cv.rect(lx + 12, ly + 4, lx + 36, ly + 8, c);
    cv.text(label, lx + 44, ly, ink, 2);
  };
  // Training-episode dots.
  if (spec.scatter) {
    const sc = spec.scatter, c = sc.color ?? [120, 120, 120];
    for (let i = 0; i < sc.x.length; i++) {
      cv.rect(px(sc.x[i]) - 1.5, py(sc.y[i]) - 1.5, px(sc.x[i]) + 1.5, py(sc.y[i]) + 1.5, c, 0.5);
    }
    const k = spec.series.length + (spec.points?.length ?? 0);
    const ly = 56 + 22 * k;
    cv.rect(L + 22, ly + 4, L + 26, ly + 8, c);
    cv.text(sc.label, L + 44, ly, ink, 2);
  }
  // Curves: std band, line, points.
  spec.series.forEach((s, k) => {
    const c = s.color ?? PALETTE[k % PALETTE.length];
    if (s.std) {
      for (let i = 0; i + 1 < s.x.length; i++) {
        const x0 = px(s.x[i]), x1 = px(s.x[i + 1]);
        for (let x = Math.round(x0); x <= Math.round(x1); x++) {
          const f = x1 > x0 ? (x - x0) / (x1 - x0) : 0;
          const lo = (s.y[i] - s.std[i]) * (1 - f) + (s.y[i + 1] - s.std[i + 1]) * f;
          const hi = (s.y[i] + s.std[i]) * (1 - f) + (s.y[i + 1] + s.std[i + 1]) * f;
          for (let y = Math.round(py(hi)); y <= Math.round(py(lo)); y++) cv.set(x, y, c, 0.12);
        }
      }
    }
    for (let i = 0; i + 1 < s.x.length; i++) {
      cv.line(px(s.x[i]), py(s.y[i]), px(s.x[i + 1]), py(s.y[i + 1]), c, 3);
    }
    for (let i = 0; i < s.x.length; i++) {
      cv.rect(px(s.x[i]) - 3, py(s.y[i]) - 3, px(s.x[i]) + 3, py(s.y[i]) + 3, c);
    }
    legend(k, c, s.label, false);
  });
  // Single points with error bars (e.g. the final evaluation).
  (spec.points ?? []).forEach((p, j) => {
    const c = p.color ?? PALETTE[(spec.series.length + j) % PALETTE.length];
    const x = px(p.x);
    cv.line(x, py(p.y - p.std), x, py(p.y + p.std), c, 2);
    cv.line(x - 6, py(p.y - p.std), x + 6, py(p.y - p.std), c, 2);
    cv.line(x - 6, py(p.y + p.std), x + 6, py(p.y + p.std), c, 2);
    diamond(x, py(p.y), 6, c);
    legend(spec.series.length + j, c, p.label, true);
  });
  // Axes, labels, title.
  cv.line(L, B, R, B, ink, 2);
  cv.line(L, T, L, B, ink, 2);
  cv.text(spec.title, W / 2, 18, ink, 3, "center");
  if (spec.xLabel) cv.text(spec.xLabel, (L + R) / 2, H - 30, ink, 2, "center");
  if (spec.yLabel) cv.text(spec.yLabel, 14, (T + B) / 2, ink, 2, "center", true);
  return encode({ width: W, height: H, data: cv.data, channels: 3 });
}

/**
 * The output directory of the run `path` belongs to (for `--resume`): `path`, or its parent when
 * `path` is a checkpoint directory.
 */
export async function runDirOf(path: string): Promise<string> {
  const p = resolve(path);
  try {
    await Deno.stat(join(p, "manifest.json"));
    return dirname(p); // a checkpoint directory
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return p;
    throw e;
  }
}

/** Writes `obj` as pretty JSON. */
export async function writeJson(path: string, obj: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(obj, null, 2) + "\n");
}

/** What a learning run is, for its records: the parts every run shares. */
export interface RunDescription {
  /** Family name (`tdmpc2`, `dreamerv3`): the output files say it. */
  readonly family: string;
  /** Environment id. */
  readonly envId: string;
  /** Episodes of the random baseline. */
  readonly baselineEpisodes: number;
  /** Settings to record in summary.json (model size, planner, ...). */
  readonly settings: Record<string, unknown>;
  /** The command that reproduces the run. */
  readonly command: string;
  /** Plot title. */
  readonly title: string;
  /** Reference lines of the plot. */
  readonly references?: readonly { y: number; label: string }[];
  /**
   * Environment steps per agent step (the environment's action repeat, default 1): the online
   * loop counts agent steps; the records count environment steps (agent steps x this), and the
   * budget states both.
   */
  readonly actionRepeat?: number;
}

/** What {@link runLearning} needs. */
export interface LearningRun extends RunDescription {
  /** The model to train. */
  readonly model: WorldModel;
  /** Training and evaluation environments (separate instances). */
  readonly env: Env;
  /** Evaluation environment. */
  readonly evalEnv: Env;
  /** The controller (the family's own). */
  readonly controller: Controller;
  /** The online loop's config (steps, batches, intervals, seed, outputDir). */
  readonly config: TrainingConfigInput;
  /** Episodes of the final greedy evaluation after training (0: the loop's last one). */
  readonly finalEpisodes: number;
  /**
   * Environment steps between resumable checkpoints in `outputDir` (written at the end of a
   * training episode, with the replay buffer; 0 or absent: none).
   */
  readonly saveInterval?: number;
  /** Continue a killed run: a checkpoint, or the run's output directory (its newest one). */
  readonly resumeFrom?: string;
}

/**
 * Runs the random baseline, the online loop (with `metrics.jsonl`), a final greedy evaluation,
 * and writes `returns.json`, `summary.json` and `returns.png` into `config.outputDir`.
 */
export async function runLearning(run: LearningRun): Promise<Record<string, unknown>> {
  const cfg = parseTrainingConfig(run.config);
  const out = cfg.outputDir;
  await Deno.mkdir(out, { recursive: true });
  const baseline = randomBaseline(run.evalEnv, run.baselineEpisodes, 10_000 + cfg.seed);
  console.log(
    `random policy on ${run.envId}: ${baseline.mean.toFixed(1)} +- ${baseline.std.toFixed(1)} ` +
      `over ${run.baselineEpisodes} episodes`,
  );
  const t0 = performance.now();
  const saves = run.saveInterval
    ? [new CheckpointCallback({ saveInterval: run.saveInterval, saveBest: false, keepLast: 2 })]
    : [];
  const result = await trainOnline(run.model, run.env, cfg, {
    controller: run.controller,
    evalEnv: run.evalEnv,
    defaultCallbacks: false,
    callbacks: [new LoggingCallback(), new ProgressCallback({ terminal: false }), ...saves],
    resumeFrom: run.resumeFrom,
  });
  const trainSec = result.priorWallTimeSec + (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const final = run.finalEpisodes > 0
    ? await finalEvaluation(run.model, run.evalEnv, run.controller, run.finalEpisodes, cfg.seed)
    : null;
  return await writeLearningRecord({
    ...run,
    config: cfg,
    baseline,
    result,
    final,
    trainSec,
    finalSec: (performance.now() - t1) / 1000,
    resumed: resumedRecord(result),
  });
}

/** What a record says of a resumed run (null when the run was not resumed). */
export function resumedRecord(
  result: Pick<OnlineResult, "summary" | "priorWallTimeSec">,
): LearningRecord["resumed"] {
  const from = result.summary.resumedFrom;
  if (!from) return null;
  return {
    checkpoint: from,
    agent_step: result.summary.startStep,
    train_wall_time_before_sec: +result.priorWallTimeSec.toFixed(1),
    note: "the run was killed and resumed from this checkpoint; train_wall_time_sec sums the " +
      "training time up to the checkpoint and after the resume (work done between the " +
      "checkpoint and the kill was redone and is not counted)",
  };
}

/** The final evaluation of a run: returns of greedy episodes (env seeds `20000 + seed + i`). */
export async function finalEvaluation(
  model: WorldModel,
  env: Env,
  controller: Controller,
  episodes: number,
  seed: number,
): Promise<number[]> {
  // Greedy, with the model in evaluation mode (TD-MPC2's Q-head dropout off), as the loop's own
  // evaluations.
  const wasTraining = model.training;
  model.eval();
  try {
    return (await evaluateController(env, controller, { episodes, seed: 20_000 + seed })).returns;
  } finally {
    model.train(wasTraining);
  }
}

/** What {@link writeLearningRecord} writes down. */
export interface LearningRecord extends RunDescription {
  /** The online loop's config. */
  readonly config: TrainingConfig;
  /** The random baseline. */
  readonly baseline: { returns: number[]; mean: number; std: number };
  /** The online loop's summary, evaluations and training episodes. */
  readonly result: Pick<OnlineResult, "summary" | "evaluations" | "episodes">;
  /** Returns of the final greedy evaluation, or null (the loop's last one stands for it). */
  readonly final: readonly number[] | null;
  /** Seconds of training (every segment of a resumed run). */
  readonly trainSec: number;
  /** Seconds of the final evaluation. */
  readonly finalSec: number;
  /** Where a resumed run resumed (see {@link resumedRecord}); null or absent otherwise. */
  readonly resumed?: {
    readonly checkpoint: string;
    readonly agent_step: number;
    readonly train_wall_time_before_sec: number;
    readonly note: string;
  } | null;
}

/**
 * Writes `returns.json` (every evaluation return, every training episode, the random baseline),
 * `summary.json` (budget, wall time, best and final evaluation, the curve) and `returns.png` into
 * `config.outputDir`, prints the outcome, and returns the summary.
 */
export async function writeLearningRecord(rec: LearningRecord): Promise<Record<string, unknown>> {
  const cfg = rec.config;
  const out = cfg.outputDir;
  const { result, baseline } = rec;
  const k = rec.actionRepeat ?? 1;
  const evals = result.evaluations.map((e) => ({
    env_step: e.envStep * k,
    updates: e.updates,
    ...meanStd(e.returns),
    returns: e.returns,
  }));
  const final = rec.final
    ? {
      env_step: result.summary.steps * k,
      updates: result.summary.updates,
      ...meanStd(rec.final),
      returns: rec.final,
    }
    : evals[evals.length - 1];
  const best = evals.reduce((a, b) => (b.mean > a.mean ? b : a));
  const curve = evals.map((e) => [e.env_step, +e.mean.toFixed(2), +e.std.toFixed(2)]);
  const returns = {
    family: rec.family,
    env: rec.envId,
    seed: cfg.seed,
    random_baseline: {
      episodes: rec.baselineEpisodes,
      mean: baseline.mean,
      std: baseline.std,
      returns: baseline.returns,
    },
    evaluations: evals,
    final_evaluation: final,
    training_episodes: result.episodes.map((e) => [e.envStep * k, e.return]),
  };
  const wall = rec.trainSec + rec.finalSec;
  const summary = {
    family: rec.family,
    env: rec.envId,
    seed: cfg.seed,
    command: rec.command,
    budget: {
      env_steps: result.summary.steps * k,
      ...(k !== 1 ? { action_repeat: k, agent_steps: result.summary.steps } : {}),
      prefill_steps: cfg.prefillSteps * k,
      updates: result.summary.updates,
      train_ratio: cfg.trainRatio,
      batch_size: cfg.batchSize,
      sequence_length: cfg.sequenceLength,
      wall_time_sec: +wall.toFixed(1),
      train_wall_time_sec: +rec.trainSec.toFixed(1),
      final_eval_wall_time_sec: +rec.finalSec.toFixed(1),
      ...(rec.resumed ? { resumed: rec.resumed } : {}),
      machine: `${navigator.hardwareConcurrency} logical cores (shared), cpu device (wasm)`,
    },
    random_baseline: {
      episodes: rec.baselineEpisodes,
      mean: +baseline.mean.toFixed(2),
      std: +baseline.std.toFixed(2),
    },
    final_eval: {
      env_step: final.env_step,
      episodes: final.returns.length,
      mean: +final.mean.toFixed(2),
      std: +final.std.toFixed(2),
    },
    best_eval: {
      env_step: best.env_step,
      episodes: best.returns.length,
      mean: +best.mean.toFixed(2),
      std: +best.std.toFixed(2),
    },
    curve_columns: ["env_step", "mean_eval_return", "std"],
    curve,
    eval_episodes: cfg.evalEpisodes,
    eval_interval: cfg.evalInterval * k,
    settings: rec.settings,
  };
  await writeJson(`${out}/returns.json`, returns);
  await writeJson(`${out}/summary.json`, summary);
  await Deno.writeFile(`${out}/returns.png`, plotRun(returns, rec.title, rec.references));
  console.log(
    `final eval (${final.returns.length} episodes): ${final.mean.toFixed(1)} +- ` +
      `${final.std.toFixed(1)}; best ${best.mean.toFixed(1)} at ${best.env_step}; ` +
      `random ${baseline.mean.toFixed(1)} +- ${baseline.std.toFixed(1)}; ` +
      `${result.summary.steps * k} env steps, ${result.summary.updates} updates, ` +
      `${wall.toFixed(0)} s`,
  );
  console.log(
    `curve (env step, mean eval return): ${JSON.stringify(curve.map((c) => c.slice(0, 2)))}`,
  );
  console.log(`wrote ${out}/{metrics.jsonl,returns.json,summary.json,returns.png}`);
  return summary;
}

/** A number for a picture's label: two decimals below 10, none above. */
function short(x: number): string {
  return x.toFixed(Math.abs(x) < 10 ? 2 : 0);
}

/** The picture of a `returns.json` object. */
export function plotRun(
  returns: {
    family: string;
    env: string;
    seed: number;
    random_baseline: { mean: number; std: number; episodes: number };
    evaluations: readonly {
      env_step: number;
      mean: number;
      std: number;
      returns: readonly number[];
    }[];
    final_evaluation?: { env_step: number; mean: number; std: number; returns: readonly number[] };
    training_episodes?: readonly (readonly number[])[];
  },
  title: string,
  references?: readonly { y: number; label: string }[],
): Uint8Array {
  const ev = returns.evaluations;
  const b = returns.random_baseline;
  const series: Series[] = [{
    label: `eval return, mean +- std (${ev[0]?.returns.length ?? 0} episodes)`,
    x: ev.map((e) => e.env_step),
    y: ev.map((e) => e.mean),
    std: ev.map((e) => e.std),
  }];
  const f = returns.final_evaluation;
  const points = f && f.returns.length !== ev[ev.length - 1]?.returns.length
    ? [{
      x: f.env_step,
      y: f.mean,
      std: f.std,
      label: `final eval, ${f.returns.length} episodes`,
    }]
    : [];
  const tr = returns.training_episodes ?? [];
  return plotReturns({
    title,
    series,
    points,
    scatter: tr.length
      ? {
        x: tr.map((e) => e[0]),
        y: tr.map((e) => e[1]),
        label: "training episodes (exploring, random during the prefill)",
      }
      : undefined,
    baseline: {
      mean: b.mean,
      std: b.std,
      label: `random policy ${short(b.mean)} +- ${short(b.std)} (${b.episodes} ep)`,
    },
    references,
    xLabel: "environment steps",
    yLabel: "episode return",
  });
}
