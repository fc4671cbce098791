/**
 * Several seeds of one learning run (`examples/learn_*.ts` outputs) against a bar: each seed
 * must reach a greedy evaluation of at least `--solved` within `--within` environment steps and
 * then stay at or above `--hold` in at least `--fraction` of the evaluations after it first did.
 * An evaluation counts when it has at least `--episodes` episodes (issue 12's bar is a 10-episode
 * evaluation, where a run may evaluate 5 episodes at each interval): the run's evaluations and its
 * final one (`final_evaluation` in `returns.json`, when there is one), in order of steps.
 * Reads `<run>/returns.json` of every run, writes `<out>/seeds.json` (the bar and each seed's
 * verdict) and `<out>/returns.png` (every seed's curve of evaluations), and prints a Markdown
 * table.
 *
 *   deno run -A examples/learning_seeds.ts --runs a,b,c --out DIR [--solved 475] [--hold 400]
 *     [--fraction 0.8] [--within 20000] [--episodes 1] [--title TEXT]
 * @module
 */

import { parseFlags, plotReturns, type Series } from "./learn_lib.ts";

/** One greedy evaluation of a run (`returns.json`). */
export interface Evaluation {
  readonly env_step: number;
  readonly mean: number;
  readonly std: number;
  readonly returns: readonly number[];
}

/** What this reads of a run's `returns.json`. */
export interface Returns {
  readonly seed: number;
  readonly env: string;
  readonly random_baseline: { readonly mean: number; readonly std: number };
  readonly evaluations: readonly Evaluation[];
  readonly final_evaluation?: Evaluation | null;
}

/** One seed against the bar. */
export interface Verdict {
  /** First evaluation step at or above `solved` (null: never). */
  readonly first_solved_step: number | null;
  /** Evaluations after that one. */
  readonly evaluations_after: number;
  /** How many of them are at or above `hold`. */
  readonly at_or_above_hold: number;
  /** Their share (null: none after). */
  readonly hold_fraction: number | null;
  /** The lowest of them (null: none after). */
  readonly min_after: number | null;
  /** Reached `solved` within `within` steps and held it in `fraction` of the later ones. */
  readonly passes: boolean;
}

/**
 * The evaluations of a run that count for a bar: those of at least `minEpisodes` episodes among
 * its evaluations and its final one, in order of steps (the final one last among equal steps).
 */
export function countedEvaluations(r: Returns, minEpisodes: number): Evaluation[] {
  const all = [...r.evaluations, ...(r.final_evaluation ? [r.final_evaluation] : [])];
  return all
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.returns.length >= minEpisodes)
    .sort((a, b) => a.e.env_step - b.e.env_step || a.i - b.i)
    .map(({ e }) => e);
}

/** One seed's evaluations against the bar. */
export function verdict(
  evals: readonly Evaluation[],
  bar: { solved: number; hold: number; fraction: number; within: number },
): Verdict {
  const first = evals.find((e) => e.mean >= bar.solved);
  const after = first ? evals.filter((e) => e.env_step > first.env_step) : [];
  const held = after.filter((e) => e.mean >= bar.hold).length;
  const share = after.length ? held / after.length : null;
  const reached = first !== undefined && first.env_step <= bar.within;
  return {
    first_solved_step: first?.env_step ?? null,
    evaluations_after: after.length,
    at_or_above_hold: held,
    hold_fraction: share,
    min_after: after.length ? Math.min(...after.map((e) => e.mean)) : null,
    passes: reached && (share === null || share >= bar.fraction),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, {
    runs: "",
    out: "",
    solved: 475,
    hold: 400,
    fraction: 0.8,
    within: 20_000,
    episodes: 1,
    title: "RETURNS BY SEED",
  });
  if (!flags.runs || !flags.out) throw new Error("--runs a,b,c and --out DIR are required");
  if (!Number.isInteger(flags.episodes) || flags.episodes < 1) {
    throw new Error(`--episodes must be a positive integer, got ${flags.episodes}`);
  }
  const bar = {
    solved: flags.solved,
    hold: flags.hold,
    fraction: flags.fraction,
    within: flags.within,
  };
  const runs = flags.runs.split(",").filter(Boolean);
  const data: Returns[] = [];
  for (const r of runs) data.push(JSON.parse(await Deno.readTextFile(`${r}/returns.json`)));
  const seeds = data.map((d, i) => {
    const counted = countedEvaluations(d, flags.episodes);
    return {
      run: runs[i],
      seed: d.seed,
      evaluations_counted: counted.length,
      ...verdict(counted, bar),
    };
  });
  await Deno.mkdir(flags.out, { recursive: true });
  const record = {
    env: data[0]?.env,
    bar: { ...bar, min_episodes: flags.episodes },
    seeds,
    all_pass: seeds.every((s) => s.passes),
  };
  await Deno.writeTextFile(`${flags.out}/seeds.json`, JSON.stringify(record, null, 2) + "\n");
  const colors: [number, number, number][] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [148, 103, 189],
    [255, 127, 14],
  ];
  const series: Series[] = data.map((d, i) => ({
    label: `SEED ${d.seed}`,
    x: d.evaluations.map((e) => e.env_step),
    y: d.evaluations.map((e) => e.mean),
    color: colors[i % colors.length],
  }));
  const base = data[0].random_baseline;
  await Deno.writeFile(
    `${flags.out}/returns.png`,
    plotReturns({
      title: flags.title,
      series,
      baseline: { mean: base.mean, std: base.std, label: "RANDOM POLICY" },
      references: [
        { y: bar.solved, label: `${bar.solved}` },
        { y: bar.hold, label: `${bar.hold}` },
      ],
      xLabel: "ENVIRONMENT STEPS",
      yLabel: "MEAN GREEDY RETURN",
    }),
  );
  const fmt = (
    v: unknown,
  ) => (v === null ? "-" : typeof v === "number" ? String(+v.toFixed(2)) : String(v));
  console.log(
    `| seed | evaluations of >= ${flags.episodes} episodes | first >= ${bar.solved} ` +
      `| evaluations after | >= ${bar.hold} | min after | passes |`,
  );
  console.log("| ---- | ---- | ---- | ---- | ---- | ---- | ---- |");
  for (const s of seeds) {
    console.log(
      `| ${s.seed} | ${s.evaluations_counted} | ${fmt(s.first_solved_step)} | ` +
        `${s.evaluations_after} | ${s.at_or_above_hold} (${fmt(s.hold_fraction)}) | ` +
        `${fmt(s.min_after)} | ${s.passes ? "yes" : "no"} |`,
    );
  }
  console.log(`wrote ${flags.out}/seeds.json, ${flags.out}/returns.png`);
}

if (import.meta.main) await main();
