/**
 * `worldflux models list` and `worldflux models info NAME`: the model catalog (presets of the
 * registered families, with maturity, surface and tier), with parameter counts counted from the
 * models, as a table or JSON.
 * @module
 */

import { type CatalogEntry, MODEL_CATALOG } from "../core/registry.ts";
import { getModelInfo, listModels, type ModelInfo } from "../core/catalog.ts";
import { MATURITIES, SURFACES } from "../core/types.ts";
import { type Command, EXIT, formatRows, oneOf, parseCommandArgs, UsageError } from "./command.ts";

const LIST_HELP = `Usage: worldflux models list [--verbose] [--surface supported|public|all]
                             [--maturity reference|experimental|skeleton]
                             [--format table|json]

Lists the model presets. By default only the supported surface: the reference
families' local-training presets (DreamerV3, TD-MPC2). --surface public adds the
advanced proof-oriented presets (dreamerv3:official_xl, tdmpc2:proof_5m);
--surface all adds experimental and skeleton families (mlp).

Options:
  --verbose             Add parameter counts (counted from the models), default
                        observation kind, aliases and descriptions
  --surface <surface>   supported (default), public or all
  --maturity <m>        Only this maturity: reference (or reference-family),
                        experimental, skeleton
  --format <fmt>        table (default) or json
  -h, --help            Show this help`;

const INFO_HELP = `Usage: worldflux models info NAME [--format table|json]

Shows one preset or alias (e.g. dreamerv3:size12m, tdmpc2:ci, dreamer): family,
maturity, surface, tier, parameters (counted from the model at its default
shapes), default observation kind, aliases and description. An unknown name
lists the closest known ones.

Options:
  --format <fmt>   table (default) or json
  -h, --help       Show this help`;

const HELP = `Usage: worldflux models <list|info> [options]

Commands:
  list        List the presets (worldflux models list --help)
  info NAME   Show one preset or alias (worldflux models info --help)

Options:
  -h, --help  Show this help`;

function entryJson(e: CatalogEntry): Record<string, unknown> {
  return {
    id: e.id,
    family: e.family,
    preset: e.preset,
    maturity: e.maturity,
    surface: e.surface,
    tier: e.tier,
  };
}

function infoJson(i: ModelInfo): Record<string, unknown> {
  return {
    id: i.id,
    family: i.family,
    preset: i.preset,
    maturity: i.maturity,
    surface: i.surface,
    tier: i.tier,
    params: i.params,
    params_label: i.paramsLabel,
    default_obs: i.defaultObs,
    aliases: i.aliases,
    description: i.description,
    ...(i.alias ? { alias: i.alias } : {}),
  };
}

/** Renders rows as a table with a header and aligned columns. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const w = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: readonly string[]) =>
    r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(w[c]))).join("  ").trimEnd();
  return [line(header), line(w.map((n) => "-".repeat(n))), ...rows.map(line)].join("\n");
}

async function list(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("models list", args, {
    verbose: { type: "boolean", short: "v", default: false },
    surface: { type: "string", default: "supported" },
    maturity: { type: "string" },
    format: { type: "string", default: "table" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(LIST_HELP);
    return EXIT.OK;
  }
  const surface = oneOf("models list", "--surface", values.surface as string, SURFACES);
  const maturity = values.maturity === undefined ? null : oneOf(
    "models list",
    "--maturity",
    values.maturity as string,
    [...MATURITIES, "reference-family"] as const,
  );
  const format = oneOf("models list", "--format", values.format as string, ["table", "json"]);
  const ids = await listModels({ surface, maturity });
  if (values.verbose) {
    const infos = await listModels({ surface, maturity, verbose: true });
    if (format === "json") {
      console.log(JSON.stringify(Object.values(infos).map(infoJson), null, 2));
      return EXIT.OK;
    }
    console.log(formatTable(
      ["MODEL", "MATURITY", "TIER", "PARAMS", "OBS", "ALIASES", "DESCRIPTION"],
      Object.values(infos).map((i) => [
        i.id,
        i.maturity,
        i.tier ?? "-",
        i.paramsLabel,
        i.defaultObs,
        i.aliases.join(",") || "-",
        i.description,
      ]),
    ));
  } else {
    const entries = ids.map((id) => MODEL_CATALOG[id]);
    if (format === "json") {
      console.log(JSON.stringify(entries.map(entryJson), null, 2));
      return EXIT.OK;
    }
    console.log(formatTable(
      ["MODEL", "FAMILY", "MATURITY", "SURFACE", "TIER"],
      entries.map((e) => [e.id, e.family, e.maturity, e.surface, e.tier ?? "-"]),
    ));
  }
  if (format === "table") {
    const hint = surface === "supported"
      ? "\n(supported surface; --surface public or all for more, --verbose for parameters)"
      : "";
    console.log(`\n${ids.length} preset${ids.length === 1 ? "" : "s"}${hint}`);
  }
  return EXIT.OK;
}

async function info(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("models info", args, {
    format: { type: "string", default: "table" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) {
    console.log(INFO_HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length ? "models info takes one NAME" : "NAME is required",
      "models info",
    );
  }
  const format = oneOf("models info", "--format", values.format as string, ["table", "json"]);
  const i = await getModelInfo(positionals[0]);
  if (format === "json") {
    console.log(JSON.stringify(infoJson(i), null, 2));
    return EXIT.OK;
  }
  const rows: [string, string][] = [
    ["family", i.family],
    ["preset", i.preset],
    ...(i.alias ? [["alias", i.alias] as [string, string]] : []),
    ["maturity", i.maturity],
    ["surface", i.surface],
    ["tier", i.tier ?? "-"],
    ["parameters", `${i.params.toLocaleString("en-US")} (${i.paramsLabel}, counted)`],
    ["default obs", i.defaultObs],
    ["aliases", i.aliases.join(", ") || "-"],
    ["description", i.description],
  ];
  console.log(`${i.id}\n${formatRows(rows)}`);
  return EXIT.OK;
}

/** The `models` command (`list`, `info`). */
export const modelsCommand: Command = {
  name: "models",
  summary: "List the model presets or show one (models list | models info NAME)",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === "list") return await list(rest);
    if (sub === "info") return await info(rest);
    if (sub === undefined || sub === "-h" || sub === "--help") {
      if (sub === undefined) {
        console.error(HELP);
        return EXIT.USAGE;
      }
      console.log(HELP);
      return EXIT.OK;
    }
    throw new UsageError(`unknown subcommand "${sub}" (expected list or info)`, "models");
  },
};
