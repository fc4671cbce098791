#!/usr/bin/env -S deno run -A
/**
 * The `worldflux` command line, and the pieces of it that scripts use: {@link runProject} (what
 * `worldflux train` does with a `worldflux.toml`), {@link quickVerify} (what `worldflux verify
 * --mode quick` does), and the project-file parser.
 *
 * ```sh
 * deno run -A cli.ts --help
 * deno run -A cli.ts init my-world-model && cd my-world-model
 * deno run -A ../cli.ts train && deno run -A ../cli.ts verify --target ./outputs --mode quick
 * ```
 *
 * `deno task compile` turns it into a standalone binary.
 * @module
 */

export { main } from "./src/cli/main.ts";
export {
  DATA_SOURCES,
  type DataConfig,
  type DataSource,
  type EnvDataConfig,
  loadProjectConfig,
  type ModelConfig,
  type NpzDataConfig,
  parseProjectConfig,
  type ProjectConfig,
  type RandomDataConfig,
  VERIFY_DEFAULTS,
  type VerifyConfig,
} from "./src/cli/project.ts";
export { runProject, type RunProjectOptions, type RunProjectResult } from "./src/cli/run.ts";
export { randomReplayBuffer } from "./src/cli/run_data.ts";
export type { RunClassification, RunManifest } from "./src/cli/run_manifest.ts";
export { actGreedy, evaluateController } from "./src/core/acting.ts";
export { formatVerifyReport, quickVerify } from "./src/cli/verify.ts";
export type {
  QuickVerifyOptions,
  QuickVerifyReport,
  VerifyCheck,
  VerifyStatus,
} from "./src/cli/verify_report.ts";
import { main } from "./src/cli/main.ts";
import { registerBuiltinFamilies } from "./src/models/registry_setup.ts";

// The functions exported above build models by name: the built-in families must be registered.
registerBuiltinFamilies();

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
