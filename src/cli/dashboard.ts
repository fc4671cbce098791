/**
 * `worldflux dashboard [--target DIR] [--port N] [--host ADDR]`: serves a live page of a training
 * run (see `dashboard_server.ts`) until Ctrl-C.
 * @module
 */

import { relative } from "node:path";
import { type Command, EXIT, formatRows, parseCommandArgs, UsageError } from "./command.ts";
import { DASHBOARD_PORT, isLoopback, RUN_FILES, serveDashboard } from "./dashboard_server.ts";

const HELP = `Usage: worldflux dashboard [--target DIR] [--port N] [--host ADDR]

Serves a page for the run in DIR (the output directory of "worldflux train")
and prints its address: the status and the return, loss and speed curves
(metrics.jsonl, updated as the run writes it; a new run in DIR starts the page
afresh), the run manifest, the quick-verify result and the imagination
pictures. It works during a run and on a finished one; DIR may not exist yet.
Only these files of DIR are served:
  ${Object.keys(RUN_FILES).join(", ")}

Options:
  --target <dir>   Run directory (default: ./outputs)
  --port <n>       Port (default: ${DASHBOARD_PORT}; 0 picks a free one)
  --host <addr>    Address to listen on (default: 127.0.0.1, this machine
                   only). Any other address serves the run's files to whoever
                   can reach it.
  -h, --help       Show this help

Ctrl-C stops it.
Exit codes: 0 stopped, 1 could not serve (port in use, ...), 2 wrong command line.`;

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !(n <= 65535)) {
    throw new UsageError(`--port: expected a port number 0..65535, got "${value}"`, "dashboard");
  }
  return n;
}

/** The `dashboard` command. */
export const dashboardCommand: Command = {
  name: "dashboard",
  summary: "Serve a live page of a run: curves, manifest, verify",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("dashboard", args, {
      target: { type: "string", default: "outputs" },
      port: { type: "string", default: String(DASHBOARD_PORT) },
      host: { type: "string", default: "127.0.0.1" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    const port = parsePort(values.port as string);
    const hostname = values.host as string;
    let server;
    try {
      server = serveDashboard({ target: values.target as string, hostname, port });
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) {
        console.error(
          `error: port ${port} is in use; pick another with --port (--port 0 picks a free one)`,
        );
        return EXIT.FAILURE;
      }
      throw e;
    }
    let exists = true;
    try {
      exists = (await Deno.stat(server.target)).isDirectory;
    } catch {
      exists = false;
    }
    const rows: [string, string][] = [
      ["url", server.url],
      [
        "run",
        `${relative(Deno.cwd(), server.target) || "."}/${
          exists ? "" : " (not there yet: the page waits for it)"
        }`,
      ],
    ];
    console.log(`worldflux dashboard\n${formatRows(rows)}`);
    if (!isLoopback(hostname)) {
      console.log(
        `warning: listening on ${hostname}: anyone who can reach it can read the run's files`,
      );
    }
    console.log("Ctrl-C stops it.");
    const stop = () => void server.shutdown();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    try {
      await server.finished;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    }
    return EXIT.OK;
  },
};
