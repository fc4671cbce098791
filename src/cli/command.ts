/**
 * What every CLI command shares: the {@link Command} shape, usage errors (exit code 2), strict
 * argument parsing on top of `node:util` `parseArgs`, and aligned `key: value` output.
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import denoJson from "../../deno.json" with { type: "json" };

/** The worldflux version (from `deno.json`). */
export const VERSION: string = denoJson.version;

/** Exit codes of the `worldflux` CLI. */
export const EXIT: { readonly OK: 0; readonly FAILURE: 1; readonly USAGE: 2 } = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
};

/** One `worldflux <name>` command. */
export interface Command {
  /** The word that selects the command (`worldflux doctor`). */
  readonly name: string;
  /** One line for the command list in `worldflux --help`. */
  readonly summary: string;
  /** The full text of `worldflux <name> --help`. */
  readonly help: string;
  /** Runs the command with the arguments after its name; resolves to an exit code. */
  run(args: string[]): Promise<number>;
}

/** A wrong command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  /** The command the error belongs to, if any (for the `--help` hint). */
  readonly command?: string;

  /** Creates a usage error for `command` (omit it for top-level errors). */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** The parsed options and positionals of one command line. */
export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/**
 * Parses `args` strictly (unknown flags and missing values are errors) and turns every parse
 * failure into a {@link UsageError} for `command`.
 */
export function parseCommandArgs(
  command: string | undefined,
  args: string[],
  options: Options,
  allowPositionals = false,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (e) {
    // node:util reports "Unknown option '--x'. To specify a positional argument starting
    // with a '-', ..." — keep the first sentence, the rest is noise for a CLI user.
    const msg = (e as Error).message.split(/\.\s/)[0].replace(/\.$/, "");
    throw new UsageError(msg.charAt(0).toLowerCase() + msg.slice(1), command);
  }
}

/** Checks that `value` is one of `allowed`; otherwise a {@link UsageError} naming the choices. */
export function oneOf<T extends string>(
  command: string,
  flag: string,
  value: string,
  allowed: readonly T[],
): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(
    `invalid value "${value}" for ${flag}; expected one of: ${allowed.join(", ")}`,
    command,
  );
}

/** Formats `[key, value]` rows as aligned `key  value` lines, indented by `indent` spaces. */
export function formatRows(rows: readonly (readonly [string, string])[], indent = 2): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  const pad = " ".repeat(indent);
  return rows.map(([k, v]) => `${pad}${(k + ":").padEnd(width + 1)}  ${v}`).join("\n");
}
