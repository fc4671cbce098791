import { main } from "../../src/cli/main.ts";

/** What one `main(args)` call printed, and its exit code. */
export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Runs `main(args)` with console output captured. */
export async function run(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error, warn } = console;
  console.log = (...a: unknown[]) => void out.push(a.map(String).join(" "));
  console.error = (...a: unknown[]) => void err.push(a.map(String).join(" "));
  console.warn = (...a: unknown[]) => void err.push(a.map(String).join(" "));
  try {
    const code = await main(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    console.warn = warn;
  }
}

/** A new temporary directory (removed by the caller's `finally`, or left for the OS). */
export function tempDir(prefix = "wf_cli_"): Promise<string> {
  return Deno.makeTempDir({ prefix });
}

/** Writes a worldflux.toml into `dir` and returns its path. */
export async function writeToml(dir: string, text: string): Promise<string> {
  const path = `${dir}/worldflux.toml`;
  await Deno.writeTextFile(path, text);
  return path;
}

/** Reads a JSON file. */
export async function readJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}
