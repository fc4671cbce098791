/**
 * `worldflux init` without DIR on a terminal: the questions (through an injected terminal, and
 * once through a real pseudo-terminal made by util-linux `script`), and that with DIR or without
 * a terminal nothing is asked.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { listEnvs } from "../../src/envs/registry.ts";
import { INIT_DEFAULT_DIR, makeInitCommand } from "../../src/cli/init.ts";
import { UsageError } from "../../src/cli/command.ts";
import type { Terminal } from "../../src/cli/prompt.ts";
import { registerBuiltinFamilies } from "../../src/models/registry_setup.ts";
import { run, tempDir } from "./helpers.ts";

// `main` registers the families; these tests run the command on its own.
registerBuiltinFamilies();

/** A terminal whose person types `typed` (in `chunk`-byte pieces), recording what it shows. */
function fakeTerminal(typed: string, opts: { isTerminal?: boolean; chunk?: number } = {}) {
  const bytes = new TextEncoder().encode(typed);
  const chunk = opts.chunk ?? 64;
  let pos = 0;
  let inputTaken = 0;
  const shown: string[] = [];
  const decoder = new TextDecoder();
  const input = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pos >= bytes.length) return c.close();
      c.enqueue(bytes.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
  const terminal: Terminal = {
    get input() {
      inputTaken++;
      return input;
    },
    output: new WritableStream({ write: (b) => void shown.push(decoder.decode(b)) }),
    isTerminal: opts.isTerminal ?? true,
  };
  let asked = 0;
  return {
    terminal: () => (asked++, terminal),
    shown: () => shown.join(""),
    /** Times the command asked for the terminal, and took its input. */
    used: () => ({ asked, inputTaken }),
  };
}

/** Runs `init` with `args` on `term`, console output captured. */
async function init(args: string[], term: ReturnType<typeof fakeTerminal>) {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await makeInitCommand(term.terminal).run(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** worldflux.toml without its `name` line (projects in different directories). */
async function tomlOf(dir: string): Promise<string> {
  return (await Deno.readTextFile(`${dir}/worldflux.toml`)).replace(/^name = .*$/m, "");
}

Deno.test("init on a terminal: every question shows its default; Enter takes them all", async () => {
  const root = await tempDir();
  try {
    const t = fakeTerminal(`${root}/asked\n\n\n\n\n`);
    const r = await init([], t);
    assert.equal(r.code, 0, r.err);
    const shown = t.shown();
    for (
      const q of [
        `Directory [${INIT_DEFAULT_DIR}]: `,
        "Model family (dreamerv3, tdmpc2, mlp) [dreamerv3]: ",
        "[ci]: ",
        "Data source (random, npz, env, gym) [random]: ",
        "Device (auto, cpu, webgpu) [auto]: ",
      ]
    ) assert.ok(shown.includes(q), `"${q}" in:\n${shown}`);
    assert.match(shown, /Preset \(ci, [^)]*\) \[ci\]: /);
    assert.ok(!shown.includes("Environment"), "random data: no environment question");
    assert.match(r.out, /created .*asked\/ \(dreamerv3:ci, data: random\)/);
    // The defaults are exactly what `init DIR` writes.
    const flags = await run(["init", `${root}/flags/asked`]);
    assert.equal(flags.code, 0, flags.err);
    assert.equal(await tomlOf(`${root}/asked`), await tomlOf(`${root}/flags/asked`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init on a terminal: a choice by number or name; a wrong answer is asked again", async () => {
  const root = await tempDir();
  try {
    // Typed one byte at a time: answers are whole lines whatever the reads.
    const t = fakeTerminal(`${root}/p\ndreamr\n2\n\nGYM\n\nno such device\ncpu\n`, { chunk: 1 });
    const r = await init([], t);
    assert.equal(r.code, 0, r.err);
    const shown = t.shown();
    assert.match(
      shown,
      / {2}"dreamr" is not one of dreamerv3, tdmpc2, mlp \(a name or its number\)\nModel family/,
    );
    assert.match(shown, /Gymnasium environment id \[ALE\/Breakout-v5\]: /);
    assert.match(shown, /"no such device" is not one of auto, cpu, webgpu/);
    const toml = await Deno.readTextFile(`${root}/p/worldflux.toml`);
    assert.match(toml, /^family = "tdmpc2"/m);
    assert.match(toml, /^source = "gym"/m);
    assert.match(toml, /^env = "ALE\/Breakout-v5"/m);
    assert.match(toml, /^device = "cpu" /m);
    // The same project from flags.
    const flags = await run([
      "init",
      `${root}/flags/p`,
      "--family",
      "tdmpc2",
      "--data",
      "gym",
      "--device",
      "cpu",
    ]);
    assert.equal(flags.code, 0, flags.err);
    assert.equal(await tomlOf(`${root}/p`), await tomlOf(`${root}/flags/p`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init on a terminal: options given are not asked; a non-empty directory is asked again", async () => {
  const root = await tempDir();
  try {
    await Deno.mkdir(`${root}/full`);
    await Deno.writeTextFile(`${root}/full/keep.txt`, "mine");
    const t = fakeTerminal(`${root}/full\n${root}/new\n\n3\n`);
    const r = await init(["--family", "mlp", "--data", "env", "--device", "webgpu"], t);
    assert.equal(r.code, 0, r.err);
    const shown = t.shown();
    assert.match(shown, /full is not empty \(1 entry\); name another \(or run init with --force\)/);
    for (const q of ["Model family", "Data source", "Device"]) {
      assert.ok(!shown.includes(q), `${q} was given`);
    }
    assert.match(shown, /Environment \(CartPole-v1, /);
    const toml = await Deno.readTextFile(`${root}/new/worldflux.toml`);
    assert.match(toml, /^family = "mlp"/m);
    assert.match(toml, new RegExp(`^env = "${listEnvs()[2]}"`, "m"));
    assert.match(toml, /^device = "webgpu" /m);
    assert.equal(await Deno.readTextFile(`${root}/full/keep.txt`), "mine");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init on a terminal: the input ending cancels it and writes nothing", async () => {
  const root = await tempDir();
  try {
    const t = fakeTerminal(`${root}/never\ntdmpc2\n`);
    const r = await init([], t);
    assert.equal(r.code, 1);
    assert.match(r.err, /init: cancelled \(the input ended\); nothing was written/);
    await assert.rejects(Deno.stat(`${root}/never`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("init: with DIR, or without a terminal, nothing is asked (as before)", async () => {
  const root = await tempDir();
  try {
    // No terminal: DIR is required, and the input is never read.
    let t = fakeTerminal("x\n", { isTerminal: false });
    await assert.rejects(
      init([], t),
      (e) => e instanceof UsageError && /DIR is required/.test(e.message),
    );
    assert.deepEqual(t.used().inputTaken, 0);
    assert.equal(t.shown(), "");
    // DIR given on a terminal: the terminal is not even looked at.
    t = fakeTerminal("x\n");
    const r = await init([`${root}/d`, "--family", "tdmpc2"], t);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(t.used(), { asked: 0, inputTaken: 0 });
    // A wrong option is a usage error before any question.
    t = fakeTerminal("x\n");
    await assert.rejects(init(["--family", "dreamr"], t), /invalid value "dreamr" for --family/);
    assert.equal(t.shown(), "");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Why the pseudo-terminal test cannot run here, or null. */
function noScript(): string | null {
  try {
    const r = new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return r.success ? null : "script --version failed";
  } catch {
    return "util-linux script is absent";
  }
}
const scriptMissing = noScript();

Deno.test({
  name: `init in a real pseudo-terminal (util-linux script)${
    scriptMissing ? ` (skipped: ${scriptMissing})` : ""
  }`,
  ignore: scriptMissing !== null,
  async fn() {
    const root = await tempDir();
    try {
      const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
      const command = `'${Deno.execPath()}' run -A '${cli}' init`;
      const child = new Deno.Command("script", {
        args: ["-q", "-e", "-c", command, "/dev/null"],
        cwd: root,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("proj\n2\n\nenv\n\ncpu\n"));
      await w.close();
      const { code, stdout, stderr } = await child.output();
      const out = new TextDecoder().decode(stdout);
      assert.equal(code, 0, out + new TextDecoder().decode(stderr));
      assert.match(out, /Directory \[my-world-model\]: /);
      assert.match(out, /created proj\/ \(tdmpc2:ci, data: env Pendulum-v1\)/);
      const toml = await Deno.readTextFile(`${root}/proj/worldflux.toml`);
      assert.match(toml, /^family = "tdmpc2"/m);
      assert.match(toml, /^device = "cpu" /m);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
