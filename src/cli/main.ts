/**
 * The `worldflux` command line: global flags (`--help`, `--version`) and dispatch to one
 * {@link Command} per file in `src/cli/`.
 *
 * Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.
 * @module
 */

import { type Command, EXIT, parseCommandArgs, UsageError, VERSION } from "./command.ts";
import { benchCommand } from "./bench.ts";
import { dashboardCommand } from "./dashboard.ts";
import { doctorCommand } from "./doctor.ts";
import { initCommand } from "./init.ts";
import { modelsCommand } from "./models.ts";
import { trainCommand } from "./train.ts";
import { verifyCommand } from "./verify.ts";
import { registerBuiltinFamilies } from "../models/registry_setup.ts";

/** The commands, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  initCommand,
  trainCommand,
  verifyCommand,
  dashboardCommand,
  modelsCommand,
  doctorCommand,
  benchCommand,
];

function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The text of `worldflux --help`. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length), "help".length);
  const list = [
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${"help".padEnd(width)}  Show help for a command`,
  ].join("\n");
  return `worldflux ${VERSION}: world models for Deno on WebGPU and CPU

Usage: worldflux <command> [options]
       worldflux --help | --version

Commands:
${list}

Options:
  -h, --help     Show this help
  -V, --version  Print the version

Getting started:
  worldflux init my-world-model && cd my-world-model
  worldflux train
  worldflux verify --target ./outputs --mode quick
  worldflux dashboard --target ./outputs    # live curves in a browser

Run "worldflux <command> --help" for the options of a command.
Exit codes: 0 success, 1 the command failed, 2 wrong command line.`;
}

function usageError(e: UsageError): number {
  const helpCmd = e.command ? `worldflux ${e.command} --help` : "worldflux --help";
  console.error(`error: ${e.message}\nRun "${helpCmd}" for usage.`);
  return EXIT.USAGE;
}

async function dispatch(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith("-")) {
    const { values } = parseCommandArgs(undefined, args, {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "V" },
    });
    if (values.version) {
      console.log(`worldflux ${VERSION}`);
      return EXIT.OK;
    }
    if (values.help) {
      console.log(globalHelp());
      return EXIT.OK;
    }
    // `worldflux` alone: no command given, so the help goes to stderr and it is a usage error.
    console.error(globalHelp());
    return EXIT.USAGE;
  }
  if (first === "help") {
    if (rest.length === 0) {
      console.log(globalHelp());
      return EXIT.OK;
    }
    const cmd = findCommand(rest[0]);
    if (!cmd || rest.length > 1) {
      throw new UsageError(
        cmd ? "help takes one command name" : `unknown command "${rest[0]}"`,
      );
    }
    console.log(cmd.help);
    return EXIT.OK;
  }
  const cmd = findCommand(first);
  if (!cmd) {
    const names = COMMANDS.map((c) => c.name).join(", ");
    throw new UsageError(`unknown command "${first}" (available: ${names}, help)`);
  }
  return await cmd.run(rest);
}

/**
 * Runs the CLI with `args` (without the program name) and resolves to the process exit code,
 * with the built-in families registered. Never calls `Deno.exit`, so tests can call it directly.
 *
 * @example
 * ```ts
 * import { main } from "./src/cli/main.ts";
 * const code = await main(["doctor", "--format", "json"]);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  registerBuiltinFamilies();
  try {
    return await dispatch(args);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.FAILURE;
  }
}
