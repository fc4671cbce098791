/**
 * The HTTP server of `worldflux dashboard`: a static page (`src/web/`, part of the package: no
 * CDN, no network) and the data of one run directory as JSON.
 *
 * | path                 | what                                                                  |
 * | -------------------- | --------------------------------------------------------------------- |
 * | `/`                  | the page (`src/web/dashboard.html`), its script, style and charts     |
 * | `/api/run`           | which run files exist, the parsed `run_manifest.json` and `quick_verify.json` |
 * | `/api/events`        | Server-Sent Events: `metrics` (new `metrics.jsonl` records, as the file grows), `reset` (the file was replaced: a new run), `files` (a run file changed) |
 * | `/files/<name>`      | one of {@link RUN_FILES}, as it is on disk                            |
 *
 * Safe by design: only the files of {@link RUN_FILES} are served, looked up by exact name (no
 * path is ever built from the URL), only as regular files in the run directory (never through a
 * symlink) and only up to a size limit; the server binds 127.0.0.1 unless told otherwise and then
 * answers only requests addressed to it by a loopback name (a web page cannot reach it through
 * DNS rebinding); every response forbids scripts it did not ship (Content-Security-Policy), and
 * run files are served sandboxed (an `imagination.svg` cannot run script on the page's origin).
 *
 * @example
 * ```ts
 * import { serveDashboard } from "./dashboard_server.ts";
 * const server = serveDashboard({ target: "./outputs", port: 0 });
 * const res = await fetch(new URL("/api/run", server.url));
 * console.log((await res.json()).files["metrics.jsonl"]); // null until the run writes it
 * await server.shutdown();
 * ```
 * @module
 */

import { join, resolve } from "node:path";
import { FormatError } from "../errors.ts";
import { openRegularFile } from "../io/files.ts";
import { parseJson } from "../io/json.ts";
import { allocationLimit, checkAllocation } from "../io/limits.ts";
import { JsonLinesTail } from "./jsonl_tail.ts";
import PAGE_HTML from "../web/dashboard.html" with { type: "text" };
import PAGE_JS from "../web/dashboard.js" with { type: "text" };
import PAGE_CSS from "../web/dashboard.css" with { type: "text" };
import CHARTS_JS from "../web/charts.js" with { type: "text" };

/** The files of a run directory the dashboard serves (and nothing else), with their types. */
export const RUN_FILES: Readonly<Record<string, string>> = {
  "run_manifest.json": "application/json; charset=utf-8",
  "metrics.jsonl": "application/x-ndjson; charset=utf-8",
  "quick_verify.json": "application/json; charset=utf-8",
  "imagination.svg": "image/svg+xml",
  "imagination.png": "image/png",
};

/** The default port of `worldflux dashboard`. */
export const DASHBOARD_PORT = 8470;

/** Largest JSON file parsed for `/api/run`, and largest picture served. */
const MAX_JSON_BYTES = 16 * 2 ** 20;
const MAX_FILE_BYTES = 64 * 2 ** 20;

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** The run directory (the output directory of `worldflux train`); it may not exist yet. */
  readonly target: string;
  /** Address to listen on (default `127.0.0.1`: this machine only). */
  readonly hostname?: string;
  /** Port (default {@link DASHBOARD_PORT}; 0 picks a free one). */
  readonly port?: number;
  /** Milliseconds between two looks at the run files (default 500). */
  readonly pollMs?: number;
}

/** A running dashboard. */
export interface DashboardServer {
  /** The page's address (`http://127.0.0.1:8470/`). */
  readonly url: string;
  /** The run directory served (absolute). */
  readonly target: string;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Ends the event streams and stops the server. */
  shutdown(): Promise<void>;
}

const STATIC: Readonly<Record<string, { body: string; type: string }>> = {
  "/": { body: PAGE_HTML, type: "text/html; charset=utf-8" },
  "/assets/dashboard.js": { body: PAGE_JS, type: "text/javascript; charset=utf-8" },
  "/assets/charts.js": { body: CHARTS_JS, type: "text/javascript; charset=utf-8" },
  "/assets/dashboard.css": { body: PAGE_CSS, type: "text/css; charset=utf-8" },
};

const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/** The page may run its own scripts and reach its own server, nothing else. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** A run file opened on its own runs nothing (an SVG's scripts included). */
const FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";

function respond(
  body: BodyInit | null,
  status: number,
  type: string,
  extra: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": type, ...extra },
  });
}

function text(status: number, message: string): Response {
  return respond(message + "\n", status, "text/plain; charset=utf-8", {
    "content-security-policy": FILE_CSP,
  });
}

function json(value: unknown): Response {
  return respond(JSON.stringify(value), 200, "application/json; charset=utf-8", {
    "content-security-policy": FILE_CSP,
  });
}

/** Size and modification time of a run file, as `/api/run` and the `files` event report it. */
interface FileStat {
  readonly size: number;
  readonly mtime: number | null;
}

/** Size and time of the regular file `name` of the run directory (not a symlink), or null. */
async function statRunFile(dir: string, name: string): Promise<FileStat | null> {
  try {
    const st = await Deno.lstat(join(dir, name));
    return st.isFile ? { size: st.size, mtime: st.mtime?.getTime() ?? null } : null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/**
 * The bytes of the regular file `name` of the run directory (never through a symlink; checked
 * against `limit` before reading), or null when there is none.
 */
async function readRunFile(
  dir: string,
  name: string,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const path = join(dir, name);
  const opened = await openRegularFile(path);
  if (!opened) return null;
  const { file, info } = opened;
  try {
    checkAllocation(
      `${name} (${path})`,
      info.size,
      "the dashboard reads run files up to this size",
      Math.min(limit, allocationLimit()),
    );
    const buf = new Uint8Array(info.size);
    let got = 0;
    while (got < buf.length) {
      const n = await file.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    file.close();
  }
}

/** A JSON run file for `/api/run`: its value, or why there is none. */
async function readJsonFile(
  dir: string,
  name: string,
): Promise<{ value: unknown; error: string | null }> {
  try {
    const bytes = await readRunFile(dir, name, MAX_JSON_BYTES);
    if (!bytes) return { value: null, error: null };
    return { value: parseJson(new TextDecoder().decode(bytes), name), error: null };
  } catch (e) {
    // A file being rewritten can be caught half-written; the next `files` event reads it again.
    const message = e instanceof FormatError || e instanceof Error ? e.message : String(e);
    return { value: null, error: message };
  }
}

async function fileStats(dir: string): Promise<Record<string, FileStat | null>> {
  const out: Record<string, FileStat | null> = {};
  for (const name of Object.keys(RUN_FILES)) out[name] = await statRunFile(dir, name);
  return out;
}

async function runInfo(dir: string): Promise<Record<string, unknown>> {
  const [files, manifest, verify] = await Promise.all([
    fileStats(dir),
    readJsonFile(dir, "run_manifest.json"),
    readJsonFile(dir, "quick_verify.json"),
  ]);
  return {
    target: dir,
    files,
    manifest: manifest.value,
    manifest_error: manifest.error,
    quick_verify: verify.value,
    quick_verify_error: verify.error,
  };
}

/**
 * The `Host` header values a server bound to `hostname` answers (DNS-rebinding protection); null
 * when bound to every interface. Shared with the browser page's server (`examples/browser/`).
 */
export function allowedHosts(hostname: string, port: number): Set<string> | null {
  if (hostname === "0.0.0.0" || hostname === "::" || hostname === "[::]") return null;
  const names = new Set([hostname, hostname.includes(":") ? `[${hostname}]` : hostname]);
  if (isLoopback(hostname)) { for (const n of ["127.0.0.1", "localhost", "[::1]"]) names.add(n); }
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

/** Whether `hostname` only reaches this machine. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** One Server-Sent Event. */
function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The event stream of one page: a `reset` first (the page starts empty), then the records of
 * `metrics.jsonl` from its top and as it grows, a `files` event whenever the set of run files or
 * one of them changes, and a comment every 15 s so a closed page is noticed.
 */
function eventStream(dir: string, pollMs: number, stop: AbortSignal): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const tail = new JsonLinesTail(join(dir, "metrics.jsonl"));
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((res) => {
      wake = res;
      timer = setTimeout(res, ms);
    });
  const onStop = () => {
    closed = true;
    clearTimeout(timer);
    wake?.();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stop.addEventListener("abort", onStop, { once: true });
      const send = (s: string) => {
        if (!closed) controller.enqueue(encoder.encode(s));
      };
      send("retry: 1000\n\n" + sse("reset", { exists: false }));
      let signature = "";
      let lastSent = Date.now();
      (async () => {
        try {
          while (!closed && !stop.aborted) {
            const files = await fileStats(dir);
            const sig = JSON.stringify(files);
            if (sig !== signature) {
              signature = sig;
              send(sse("files", files));
            }
            // Drain what is there now (several reads when a finished run is opened).
            for (;;) {
              const u = await tail.poll();
              if (u.reset) send(sse("reset", { exists: u.exists }));
              if (u.records.length || u.skipped) {
                send(sse("metrics", { records: u.records, skipped: u.skipped, offset: u.offset }));
                lastSent = Date.now();
              }
              if (!u.pending || !u.records.length || closed) break;
            }
            if (Date.now() - lastSent > 15_000) {
              send(": keep-alive\n\n");
              lastSent = Date.now();
            }
            await sleep(pollMs);
          }
        } catch (e) {
          send(sse("problem", { message: e instanceof Error ? e.message : String(e) }));
        } finally {
          stop.removeEventListener("abort", onStop);
          closed = true;
          try {
            controller.close();
          } catch {
            // the page went away first: the stream is cancelled already
          }
        }
      })();
    },
    cancel() {
      onStop();
    },
  });
}

/**
 * Serves the dashboard of the run directory `options.target` (see the module docs) until
 * {@link DashboardServer.shutdown}.
 *
 * @example
 * ```ts
 * import { serveDashboard } from "./dashboard_server.ts";
 * const server = serveDashboard({ target: "./outputs", port: 0 });
 * console.log(server.url); // http://127.0.0.1:41234/
 * await server.shutdown();
 * ```
 */
export function serveDashboard(options: DashboardOptions): DashboardServer {
  const dir = resolve(options.target);
  const hostname = options.hostname ?? "127.0.0.1";
  const pollMs = options.pollMs ?? 500;
  const streams = new AbortController();
  let hosts: Set<string> | null = null;

  async function handle(req: Request): Promise<Response> {
    const host = (req.headers.get("host") ?? "").toLowerCase();
    if (hosts && !hosts.has(host)) {
      return text(421, `this dashboard answers only requests to ${[...hosts].join(", ")}`);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return respond("only GET and HEAD\n", 405, "text/plain; charset=utf-8", {
        allow: "GET, HEAD",
      });
    }
    const path = new URL(req.url).pathname;
    const asset = STATIC[path];
    if (asset) {
      return respond(asset.body, 200, asset.type, { "content-security-policy": PAGE_CSP });
    }
    if (path === "/api/run") return json(await runInfo(dir));
    // Browsers ask for an icon on their own; there is none (and no 404 in the console).
    if (path === "/favicon.ico") return respond(null, 204, "image/x-icon");
    if (path === "/api/events") {
      return respond(eventStream(dir, pollMs, streams.signal), 200, "text/event-stream", {
        "content-security-policy": FILE_CSP,
      });
    }
    if (path.startsWith("/files/")) {
      const name = path.slice("/files/".length);
      const type = Object.hasOwn(RUN_FILES, name) ? RUN_FILES[name] : undefined;
      if (!type) return text(404, `not a run file the dashboard serves`);
      try {
        const bytes = await readRunFile(dir, name, MAX_FILE_BYTES);
        if (!bytes) return text(404, `${name} is not in the run directory (yet)`);
        return respond(bytes, 200, type, { "content-security-policy": FILE_CSP });
      } catch (e) {
        return text(413, e instanceof Error ? e.message : String(e));
      }
    }
    return text(404, "not found");
  }

  const server = Deno.serve({
    hostname,
    port: options.port ?? DASHBOARD_PORT,
    onListen: () => {},
  }, handle);
  const addr = server.addr as Deno.NetAddr;
  hosts = allowedHosts(hostname, addr.port);
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${shown}:${addr.port}/`,
    target: dir,
    finished: server.finished,
    async shutdown() {
      streams.abort();
      await server.shutdown();
    },
  };
}
