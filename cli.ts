#!/usr/bin/env -S deno run -A
/**
 * The `worldflux` command line.
 *
 * ```sh
 * deno run -A cli.ts --help
 * deno run -A cli.ts doctor
 * ```
 *
 * `deno task compile` turns it into a standalone binary.
 * @module
 */

export { main } from "./src/cli/main.ts";
import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
