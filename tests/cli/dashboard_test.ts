import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { type DashboardServer, serveDashboard } from "../../src/cli/dashboard_server.ts";
import { setAllocationLimit } from "../../src/io/limits.ts";
import { run, tempDir, writeToml } from "./helpers.ts";

const SECRET = "TOP-SECRET-OUTSIDE-THE-RUN";
const line = (o: Record<string, unknown>) => JSON.stringify(o) + "\n";

/** A root with `secret.txt` beside the run directory `root/run`, and a server on the run. */
async function withServer(
  fn: (server: DashboardServer, run: string, root: string) => Promise<void>,
): Promise<void> {
  const root = await tempDir("wf_dash_");
  const runDir = `${root}/run`;
  await Deno.mkdir(runDir);
  await Deno.writeTextFile(`${root}/secret.txt`, SECRET);
  const server = serveDashboard({ target: runDir, port: 0, pollMs: 50 });
  try {
    await fn(server, runDir, root);
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
}

/** Sends `request` as it is (no URL normalisation) and returns the raw response. */
async function rawHttp(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    await conn.write(new TextEncoder().encode(request));
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(await new Blob(chunks).bytes());
  } finally {
    conn.close();
  }
}

/** Reads Server-Sent Events from `/api/events` until `until` holds of the events so far. */
class EventReader {
  readonly events: { event: string; data: Record<string, unknown> }[] = [];
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  /** A read still under way when a wait timed out (taken by the next wait). */
  #pending: Promise<ReadableStreamReadResult<string>> | null = null;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  async until(
    what: string,
    pred: (events: EventReader["events"]) => boolean,
    ms = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.events)) {
      if (Date.now() >= deadline) {
        throw new Error(`no ${what} within ${ms} ms: ${JSON.stringify(this.events)}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<null>((res) =>
        timer = setTimeout(() => res(null), deadline - Date.now())
      );
      const got = await Promise.race([this.#pending ??= this.#reader.read(), late]);
      clearTimeout(timer);
      if (got === null) continue; // the deadline: fails above
      this.#pending = null;
      const { value, done } = got;
      if (done) throw new Error(`the stream ended before ${what}`);
      this.#buffer += value;
      let end;
      while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) this.events.push({ event, data: JSON.parse(data) });
      }
    }
  }

  /** The steps of the metrics records since the last reset. */
  steps(): unknown[] {
    const out: unknown[] = [];
    for (const e of this.events) {
      if (e.event === "reset") out.length = 0;
      if (e.event === "metrics") {
        out.push(...(e.data.records as { step: number }[]).map((r) => r.step));
      }
    }
    return out;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

Deno.test("dashboard: the page, its assets and /api/run, with safe headers", () =>
  withServer(async (server, runDir) => {
    let res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/html/);
    assert.match(res.headers.get("content-security-policy")!, /script-src 'self'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    const html = await res.text();
    assert.match(html, /<script type="module" src="\/assets\/dashboard.js">/);
    assert.ok(!/https?:\/\//.test(html.replace(/xmlns="[^"]*"/g, "")), "no outside address");
    for (const asset of ["dashboard.js", "charts.js", "dashboard.css"]) {
      res = await fetch(new URL(`/assets/${asset}`, server.url));
      assert.equal(res.status, 200, asset);
      const body = await res.text();
      // The served files are the package's files, byte for byte.
      const file = fromFileUrl(new URL(`../../src/web/${asset}`, import.meta.url));
      assert.equal(body, await Deno.readTextFile(file), asset);
    }
    // Before the run: nothing there.
    let info = await (await fetch(new URL("/api/run", server.url))).json();
    assert.equal(info.target, runDir);
    assert.equal(info.manifest, null);
    assert.equal(info.files["metrics.jsonl"], null);
    // A manifest, and a quick_verify.json that is not JSON (its text never reaches the page).
    await Deno.writeTextFile(`${runDir}/run_manifest.json`, '{"model": {"id": "tdmpc2:ci"}}');
    await Deno.writeTextFile(`${runDir}/quick_verify.json`, `{"status": ${SECRET}`);
    info = await (await fetch(new URL("/api/run", server.url))).json();
    assert.deepEqual(info.manifest, { model: { id: "tdmpc2:ci" } });
    assert.equal(info.quick_verify, null);
    assert.match(info.quick_verify_error, /quick_verify.json: not valid JSON \(syntax error/);
    assert.ok(!JSON.stringify(info).includes(SECRET));
    assert.equal(info.files["run_manifest.json"].size, 30);
    // Only GET and HEAD.
    res = await fetch(new URL("/api/run", server.url), { method: "POST" });
    assert.equal(res.status, 405);
    await res.body?.cancel();
  }));

Deno.test("dashboard: only the named run files are served; no path leaves the run directory", () =>
  withServer(async (server, runDir, root) => {
    await Deno.writeTextFile(`${runDir}/imagination.svg`, "<svg/>");
    await Deno.writeTextFile(`${runDir}/notes.txt`, "not a run file");
    let res = await fetch(new URL("/files/imagination.svg", server.url));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/svg+xml");
    assert.match(res.headers.get("content-security-policy")!, /sandbox/);
    assert.equal(await res.text(), "<svg/>");
    res = await fetch(new URL("/files/notes.txt", server.url));
    assert.equal(res.status, 404);
    await res.body?.cancel();
    res = await fetch(new URL("/files/quick_verify.json", server.url));
    assert.equal(res.status, 404); // not written yet
    await res.body?.cancel();

    // Raw request lines: nothing is normalised or decoded into a path.
    const targets = [
      "/files/../secret.txt",
      "/files/../../secret.txt",
      "/files/..%2Fsecret.txt",
      "/files/%2e%2e/secret.txt",
      "/files/%2e%2e%2fsecret.txt",
      "/files/imagination.svg/../../secret.txt",
      "/files//" + root + "/secret.txt",
      "/files/" + root + "/secret.txt",
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/files/..\\secret.txt",
      "/files/%00imagination.svg",
      "/files/imagination.svg%00.txt",
    ];
    const host = new URL(server.url).host;
    for (const t of targets) {
      const raw = await rawHttp(
        server.url,
        `GET ${t} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const status = Number(raw.split(" ")[1]);
      assert.ok(!raw.includes(SECRET), `${t} leaked the secret`);
      assert.ok(status === 404 || status === 400, `${t}: ${raw.split("\r\n")[0]}`);
    }

    // Symlinks at run-file names, to a file outside (or inside), are refused.
    await Deno.remove(`${runDir}/imagination.svg`);
    await Deno.symlink(`${root}/secret.txt`, `${runDir}/imagination.svg`);
    await Deno.symlink(`${root}/secret.txt`, `${runDir}/run_manifest.json`);
    await Deno.symlink(`${root}/secret.txt`, `${runDir}/metrics.jsonl`);
    res = await fetch(new URL("/files/imagination.svg", server.url));
    assert.equal(res.status, 404);
    assert.ok(!(await res.text()).includes(SECRET));
    for (const name of ["run_manifest.json", "metrics.jsonl"]) {
      res = await fetch(new URL(`/files/${name}`, server.url));
      assert.equal(res.status, 404, name);
      await res.body?.cancel();
    }
    const info = await (await fetch(new URL("/api/run", server.url))).json();
    assert.equal(info.manifest, null);
    assert.equal(info.files["imagination.svg"], null);
    assert.ok(!JSON.stringify(info).includes(SECRET));
  }));

Deno.test("dashboard: requests for another host name are refused (DNS rebinding)", () =>
  withServer(async (server) => {
    const port = new URL(server.url).port;
    for (
      const [host, ok] of [
        [`127.0.0.1:${port}`, true],
        [`localhost:${port}`, true],
        [`LOCALHOST:${port}`, true],
        [`evil.example:${port}`, false],
        [`127.0.0.1.evil.example:${port}`, false],
        [`localhost:1`, false],
        [``, false],
      ] as const
    ) {
      const raw = await rawHttp(
        server.url,
        `GET /api/run HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      const status = Number(raw.split(" ")[1]);
      if (ok) assert.equal(status, 200, host);
      else assert.ok(status === 421 || status === 400, `${host}: ${status}`);
    }
  }));

Deno.test("dashboard: files are read within the size limit", () =>
  withServer(async (server, runDir) => {
    await Deno.writeFile(`${runDir}/imagination.png`, new Uint8Array(4096));
    setAllocationLimit(1024);
    try {
      const res = await fetch(new URL("/files/imagination.png", server.url));
      assert.equal(res.status, 413);
      assert.match(await res.text(), /imagination.png .*needs 4\.0 KiB, more than .*1\.0 KiB/);
    } finally {
      setAllocationLimit(null);
    }
    const res = await fetch(new URL("/files/imagination.png", server.url));
    assert.equal(res.status, 200);
    assert.equal((await res.bytes()).length, 4096);
  }));

Deno.test("dashboard: /api/events streams metrics.jsonl as it grows and starts over at a new run", () =>
  withServer(async (server, runDir) => {
    const path = `${runDir}/metrics.jsonl`;
    await Deno.writeTextFile(
      path,
      line({ kind: "run", step: 0 }) + line({ kind: "train", step: 1 }),
    );
    const res = await fetch(new URL("/api/events", server.url));
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const ev = new EventReader(res.body!);
    try {
      await ev.until("the first records", () => ev.steps().length === 2);
      assert.equal(ev.events[0].event, "reset");
      assert.ok(ev.events.some((e) => e.event === "files"));
      // A line written in two pieces arrives once, whole.
      await Deno.writeTextFile(path, '{"kind": "train", "st', { append: true });
      await Deno.writeTextFile(path, 'ep": 2}\n' + line({ kind: "train", step: 3 }), {
        append: true,
      });
      await ev.until("the appended records", () => ev.steps().length === 4);
      assert.deepEqual(ev.steps(), [0, 1, 2, 3]);
      // A run file appearing is announced.
      const nFiles = ev.events.filter((e) => e.event === "files").length;
      await Deno.writeTextFile(`${runDir}/quick_verify.json`, "{}");
      await ev.until(
        "a files event",
        (es) => es.filter((e) => e.event === "files").length > nFiles,
      );
      const files = ev.events.filter((e) => e.event === "files").at(-1)!.data;
      assert.equal((files["quick_verify.json"] as { size: number }).size, 2);
      // A new run truncates the file: reset, then its records from the top.
      await Deno.writeTextFile(path, line({ kind: "run", step: 0, fresh: true }));
      await ev.until("the new run", () => {
        const last = ev.events.at(-1);
        return last?.event === "metrics" && ev.steps().length === 1;
      });
      assert.ok(ev.events.some((e, i) => i > 0 && e.event === "reset"));
    } finally {
      await ev.cancel();
    }
  }));

Deno.test("cli dashboard: --help, wrong command lines, a port in use", async () => {
  let r = await run(["dashboard", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: worldflux dashboard \[--target DIR\] \[--port N\]/);
  assert.match(r.out, /run_manifest.json, metrics.jsonl, quick_verify.json/);
  r = await run(["--help"]);
  assert.match(r.out, /dashboard +Serve a live page of a run/);
  r = await run(["dashboard", "--port", "http"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--port: expected a port number 0..65535, got "http"/);
  r = await run(["dashboard", "--port", "70000"]);
  assert.equal(r.code, 2);
  r = await run(["dashboard", "extra"]);
  assert.equal(r.code, 2);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    r = await run(["dashboard", "--port", String((busy.addr as Deno.NetAddr).port)]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /port \d+ is in use; pick another with --port \(--port 0 picks a free one\)/,
    );
  } finally {
    busy.close();
  }
});

Deno.test("cli dashboard: serves until SIGINT, then exits 0", async () => {
  const root = await tempDir("wf_dash_cli_");
  try {
    const cli = fromFileUrl(new URL("../../cli.ts", import.meta.url));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "dashboard", "--target", `${root}/outputs`, "--port", "0"],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!/url: +(http:\/\/\S+)/.test(text)) {
      const { value, done } = await out.read();
      if (done) break;
      text += value;
    }
    const url = /url: +(http:\/\/\S+)/.exec(text)?.[1];
    assert.ok(url, text);
    assert.match(text, /outputs\/ \(not there yet: the page waits for it\)/);
    const info = await (await fetch(new URL("/api/run", url))).json();
    assert.equal(info.target, `${root}/outputs`);
    child.kill("SIGINT");
    const status = await child.status;
    await out.cancel();
    const err = await new Response(child.stderr).text();
    assert.equal(status.code, 0, err);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dashboard: follows real `worldflux train` runs, a second run starting the page over", async () => {
  const dir = await tempDir("wf_dash_train_");
  const server = serveDashboard({ target: `${dir}/outputs`, port: 0, pollMs: 50 });
  const res = await fetch(new URL("/api/events", server.url));
  const ev = new EventReader(res.body!);
  try {
    const toml = await writeToml(
      dir,
      `name = "dash"
[model]
family = "mlp"
preset = "ci"
[data]
source = "random"
obs_shape = [5]
action_dim = 2
episodes = 4
episode_length = 16
[training]
total_steps = 6
batch_size = 4
sequence_length = 4
log_interval = 2
save_interval = 6
`,
    );
    /** The records since the last reset. */
    const records = () => {
      const out: { kind: string; step: number }[] = [];
      for (const e of ev.events) {
        if (e.event === "reset") out.length = 0;
        if (e.event === "metrics") out.push(...(e.data.records as typeof out));
      }
      return out;
    };
    const resets = () => ev.events.filter((e) => e.event === "reset").length;
    for (const round of [1, 2]) {
      const before = resets();
      const r = await run(["train", "-c", toml]);
      assert.equal(r.code, 0, r.err + r.out);
      // The second run moves the first one's files aside: the page starts over.
      await ev.until(
        `the end of run ${round}`,
        () => (round === 1 || resets() > before) && records().some((x) => x.kind === "end"),
      );
      assert.equal(records()[0].kind, "run");
      assert.deepEqual(records().filter((x) => x.kind === "train").map((x) => x.step), [2, 4, 6]);
    }
    const info = await (await fetch(new URL("/api/run", server.url))).json();
    assert.equal(info.manifest.model.id, "mlp:ci");
  } finally {
    await ev.cancel();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
