/**
 * `deno task browser`: worldflux in a browser page. Bundles the page's engine (`engine.ts`, which
 * imports the module) and the cpu kernel threads' worker with `deno bundle`, then serves this
 * directory's page, the bundles and a saved model with the cross-origin isolation headers
 * (`Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Embedder-Policy: require-corp`)
 * that SharedArrayBuffer, hence the wasm kernel threads, need.
 *
 *   deno task browser [--model DIR] [--port 8471] [--hostname 127.0.0.1]
 *
 * `--model` is a directory saved by `savePretrained` of a model for CartPole observations
 * (`[4]`, two discrete actions) with an observation decoder (DreamerV3); by default a seeded
 * untrained `dreamer:ci` is saved to `outputs/browser/model` the first time. The page loads it
 * with fetch, imagines a CartPole episode on WebGPU and on the cpu backend, trains it online for
 * a few hundred steps and draws real and imagined frames (see `page.js`).
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createWorldModel } from "../../mod.ts";
import { allowedHosts } from "../../src/cli/dashboard_server.ts";
import { openRegularFile } from "../../src/io/files.ts";

/** The page's port by default. */
export const BROWSER_PORT = 8471;

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = resolve(HERE, "../..");

/**
 * The bundles `deno bundle` writes: name in the build directory -> entry point. `worldflux.js` is
 * the module itself (`mod.ts`) for pages of your own; it names its kernel worker with
 * `setKernelWorkerUrl(new URL("./kernel_worker.js", import.meta.url))`, as `engine.ts` does.
 */
export const BUNDLES: Readonly<Record<string, string>> = {
  "worldflux.js": join(ROOT, "mod.ts"),
  "engine.js": join(HERE, "engine.ts"),
  "kernel_worker.js": join(ROOT, "src/backend/wasm/worker.ts"),
};

/** What the server serves: URL path -> where the file is and its type. */
function routes(dist: string, model: string): Map<string, { path: string; type: string }> {
  const js = "text/javascript; charset=utf-8";
  const r = new Map<string, { path: string; type: string }>([
    ["/", { path: join(HERE, "index.html"), type: "text/html; charset=utf-8" }],
    ["/page.js", { path: join(HERE, "page.js"), type: js }],
    ["/page.css", { path: join(HERE, "page.css"), type: "text/css; charset=utf-8" }],
  ]);
  for (const name of Object.keys(BUNDLES)) r.set(`/${name}`, { path: join(dist, name), type: js });
  for (const name of ["config.json", "worldflux_meta.json"]) {
    r.set(`/model/${name}`, { path: join(model, name), type: "application/json" });
  }
  r.set("/model/model.safetensors", {
    path: join(model, "model.safetensors"),
    type: "application/octet-stream",
  });
  return r;
}

/**
 * Bundles the engine and the kernel worker into `dist` with `deno bundle` (for browsers;
 * `npm:mujoco-js`, which the page never loads, stays out). Throws with the bundler's output
 * when it fails.
 */
export async function bundleBrowserPage(dist: string): Promise<void> {
  await Deno.mkdir(dist, { recursive: true });
  for (const [name, entry] of Object.entries(BUNDLES)) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform=browser",
        "--external=mujoco-js",
        `--config=${join(ROOT, "deno.json")}`,
        "-o",
        join(dist, name),
        entry,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      throw new Error(`deno bundle ${entry} failed:\n${text}`);
    }
  }
}

/** Options of {@link serveBrowserPage}. */
export interface BrowserPageOptions {
  /** The saved model's directory. */
  readonly model: string;
  /** Where {@link bundleBrowserPage} wrote the bundles. */
  readonly dist: string;
  /** Port (default {@link BROWSER_PORT}; 0 picks a free one). */
  readonly port?: number;
  /** Interface (default 127.0.0.1). */
  readonly hostname?: string;
}

/** A running page server. */
export interface BrowserPageServer {
  /** The page's address. */
  readonly url: string;
  /** Stops the server. */
  shutdown(): Promise<void>;
}

/** Headers of every answer: cross-origin isolated, nothing from elsewhere, never cached. */
const HEADERS: Readonly<Record<string, string>> = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  // The kernels are WebAssembly compiled on the page ('wasm-unsafe-eval'), in workers of its own.
  "content-security-policy": "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; " +
    "worker-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/** Serves the page, the bundles and the model (only the files of {@link routes}). */
export function serveBrowserPage(options: BrowserPageOptions): BrowserPageServer {
  const table = routes(resolve(options.dist), resolve(options.model));
  const hostname = options.hostname ?? "127.0.0.1";
  let hosts: Set<string> | null = null;
  const answer = (body: BodyInit | null, status: number, type: string) =>
    new Response(body, { status, headers: { ...HEADERS, "content-type": type } });
  const server = Deno.serve({
    hostname,
    port: options.port ?? BROWSER_PORT,
    onListen: () => {},
  }, async (req) => {
    const host = (req.headers.get("host") ?? "").toLowerCase();
    if (hosts && !hosts.has(host)) return answer("wrong host\n", 421, "text/plain");
    if (req.method !== "GET" && req.method !== "HEAD") {
      return answer("only GET and HEAD\n", 405, "text/plain");
    }
    const path = new URL(req.url).pathname;
    if (path === "/favicon.ico") return answer(null, 204, "image/x-icon");
    const route = table.get(path === "/index.html" ? "/" : path);
    const opened = route ? await openRegularFile(route.path) : null;
    if (!route || !opened) return answer("not found\n", 404, "text/plain");
    return new Response(opened.file.readable, {
      headers: {
        ...HEADERS,
        "content-type": route.type,
        "content-length": String(opened.info.size),
      },
    });
  });
  const addr = server.addr as Deno.NetAddr;
  hosts = allowedHosts(hostname, addr.port);
  return {
    url: `http://${addr.hostname}:${addr.port}/`,
    shutdown: () => server.shutdown(),
  };
}

/** Saves an untrained `dreamer:ci` for CartPole, seeded, to `dir` (the page's default model). */
export async function saveDefaultModel(dir: string, seed = 0): Promise<void> {
  const model = await createWorldModel("dreamer:ci", {
    obsShape: [4],
    actionDim: 2,
    actionType: "discrete",
    seed,
  });
  await model.savePretrained(dir);
  model.dispose();
}

if (import.meta.main) {
  const args = [...Deno.args];
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
  };
  if (args.includes("--help") || args.includes("-h")) {
    console.log("Usage: deno task browser [--model DIR] [--port 8471] [--hostname 127.0.0.1]");
    Deno.exit(0);
  }
  let model = flag("model", "");
  if (!model) {
    model = join(ROOT, "outputs/browser/model");
    try {
      await Deno.stat(join(model, "model.safetensors"));
    } catch {
      console.log(`saving an untrained dreamer:ci for CartPole to ${model}`);
      await saveDefaultModel(model);
    }
  }
  const dist = join(ROOT, "outputs/browser/dist");
  console.log("bundling the page's engine with deno bundle ...");
  await bundleBrowserPage(dist);
  const port = Number(flag("port", String(BROWSER_PORT)));
  const server = serveBrowserPage({ model, dist, port, hostname: flag("hostname", "127.0.0.1") });
  console.log(`worldflux in the browser: ${server.url} (model ${resolve(model)}; Ctrl-C stops)`);
}
