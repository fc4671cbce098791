/**
 * The CLI against hostile or mistyped projects: sizes in worldflux.toml checked before
 * allocating; a typo or a failed run never costs the previous run.
 */

import assert from "node:assert/strict";
import { setAllocationLimit } from "../../src/io/limits.ts";
import { ReplayBuffer } from "../../src/training/replay_buffer.ts";
import { setAsidePreviousRun } from "../../src/cli/previous_run.ts";
import { loadProjectConfig } from "../../src/cli/project.ts";
import { runProject } from "../../src/cli/run.ts";
import type { Callback } from "../../src/training/callbacks.ts";
import { registerBuiltinFamilies } from "../../src/models/registry_setup.ts";
import { run, tempDir, writeToml } from "./helpers.ts";

registerBuiltinFamilies(); // runProject builds models by name

function toml(extra: { data?: string; training?: string; model?: string } = {}): string {
  return `
[model]
family = "mlp"
preset = "ci"
${extra.model ?? ""}
[data]
source = "random"
obs_shape = [5]
action_dim = 2
episodes = 4
${extra.data ?? "episode_length = 16"}
[training]
total_steps = 2
${extra.training ?? "batch_size = 2"}
sequence_length = 4
log_interval = 1
save_interval = 100
`;
}

Deno.test("cli train: sizes in worldflux.toml are checked before allocating, naming the key", async () => {
  const dir = await tempDir();
  setAllocationLimit(512 << 20);
  try {
    const cases: [string, RegExp][] = [
      [
        toml({ training: "batch_size = 1000000000" }),
        /\[training\] batch_size = 1000000000, .*allocation limit of 512\.0 MiB/,
      ],
      [
        toml({ data: "episode_length = 1000000000" }),
        /\[data\] episodes \(4\) x episode_length \(1000000000\): needs .* more than the allocation limit/,
      ],
      [
        toml({ model: "[model.overrides]\nhidden_dim = 20000\ndepth = 2" }),
        /mlp config: needs .*parameters; lower them/,
      ],
    ];
    for (const [text, re] of cases) {
      const r = await run(["train", "-c", await writeToml(dir, text)]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.err, re);
    }
  } finally {
    setAllocationLimit(null);
    await Deno.remove(dir, { recursive: true });
  }
});

/** Names and contents of a run's artifacts (checkpoints by manifest), for before/after checks. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) out[e.name] = await Deno.readTextFile(`${dir}/${e.name}`);
    else if (e.name.startsWith("checkpoint_")) {
      out[e.name] = await Deno.readTextFile(`${dir}/${e.name}/manifest.json`);
    } else if (e.name === "model") {
      out[e.name] = await Deno.readTextFile(`${dir}/model/worldflux_meta.json`);
    } else out[e.name] = "dir";
  }
  return out;
}

const SMOKE = toml({ training: "batch_size = 2\n" }).replace("total_steps = 2", "total_steps = 4")
  .replace("save_interval = 100", "save_interval = 2");

Deno.test("cli train: a typo in worldflux.toml never deletes the previous run", async () => {
  const dir = await tempDir();
  try {
    const path = await writeToml(dir, SMOKE);
    assert.equal((await run(["train", "-c", path])).code, 0);
    const before = await snapshot(`${dir}/outputs`);
    assert.ok("run_manifest.json" in before && "checkpoint_final" in before && "model" in before);
    const typos: [string, RegExp][] = [
      [SMOKE.replace('preset = "ci"', 'preset = "cii"'), /unknown preset "cii"/],
      [SMOKE.replace('family = "mlp"', 'family = "mpl"'), /unknown model "mpl:ci"/],
      [
        SMOKE.replace("[data]", "[model.overrides]\nhiden_dim = 8\n[data]"),
        /unknown config field "hiden_dim"/,
      ],
    ];
    for (const [text, re] of typos) {
      await writeToml(dir, text);
      const r = await run(["train", "-c", path]);
      assert.equal(r.code, 1);
      assert.match(r.err, re);
      assert.deepEqual(await snapshot(`${dir}/outputs`), before, "the previous run is intact");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli train: a run that fails after it began puts the previous run back; an interrupted one is undone by the next", async () => {
  const dir = await tempDir();
  try {
    const path = await writeToml(dir, SMOKE);
    const project = await loadProjectConfig(path);
    const quiet = { log: () => {}, callbacks: [] as Callback[] };
    await runProject(project, quiet);
    const out = `${dir}/outputs`;
    const before = await snapshot(out);
    const boom: Callback = {
      onStepEnd: (step: number) => {
        if (step === 3) throw new Error("boom at step 3");
      },
    };
    await assert.rejects(() => runProject(project, { ...quiet, callbacks: [boom] }), /boom/);
    assert.deepEqual(await snapshot(out), before, "the failed run's artifacts are gone");
    // A killed run leaves the previous run aside and its own partial artifacts: the next fresh
    // run puts the previous one back before it sets it aside again (here it fails too).
    const previous = await setAsidePreviousRun(out);
    assert.ok(previous.count > 0);
    await Deno.writeTextFile(`${out}/metrics.jsonl`, "partial\n");
    await Deno.mkdir(`${out}/checkpoint_000002`);
    await assert.rejects(() => runProject(project, { ...quiet, callbacks: [boom] }), /boom/);
    assert.deepEqual(await snapshot(out), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const LOCAL_PLUGIN = `
export default {
  manifest: {
    name: "reliability_local_plugin",
    pluginApiVersion: "1.0",
    worldfluxVersionRange: ">=0.1.0 <1.0.0",
    capabilities: ["model-alias"],
  },
  register(ctx) {
    ctx.registerAlias("reliability-local-mlp", "mlp:ci");
  },
};
`;

Deno.test("cli train/verify: plugins are local module files; URLs are refused before anything is imported", async () => {
  const dir = await tempDir();
  const g = globalThis as { __wfPwned?: number };
  try {
    const code = "globalThis.__wfPwned = 1; export default {};";
    const urls = [
      `data:application/javascript,${encodeURIComponent(code)}`,
      "https://example.com/plugin.ts",
      "http://example.com/plugin.ts",
      "blob:null/1234",
      "jsr:@scope/plugin",
    ];
    for (const url of urls) {
      const path = await writeToml(dir, `plugins = [${JSON.stringify(url)}]\n${SMOKE}`);
      const r = await run(["train", "-c", path]);
      assert.equal(r.code, 1);
      const scheme = url.slice(0, url.indexOf(":"));
      assert.match(
        r.err,
        new RegExp(`a ${scheme}: URL is refused: plugins are local module files`),
      );
      assert.ok(!r.err.includes("__wfPwned"), "the code is not echoed");
      assert.equal(g.__wfPwned, undefined, `${scheme}: nothing was imported`);
    }
    // A module relative to the project loads; its alias names the model.
    await Deno.mkdir(`${dir}/plugins`);
    await Deno.writeTextFile(`${dir}/plugins/local.js`, LOCAL_PLUGIN);
    const text = `plugins = ["./plugins/local.js"]\n${SMOKE}`
      .replace('family = "mlp"\npreset = "ci"', 'preset = "reliability-local-mlp"');
    const path = await writeToml(dir, text);
    const r = await run(["train", "-c", path]);
    assert.equal(r.code, 0, r.err);
    // verify loads a plugin only when the project file lists it, never because
    // run_manifest.json names it.
    const manifestPath = `${dir}/outputs/run_manifest.json`;
    const m = JSON.parse(await Deno.readTextFile(manifestPath));
    assert.deepEqual(m.plugins, [`${dir}/plugins/local.js`]);
    await Deno.writeTextFile(`${dir}/evil.js`, code);
    m.plugins.push(`${dir}/evil.js`);
    await Deno.writeTextFile(manifestPath, JSON.stringify(m));
    const v = await run(["verify", "--target", `${dir}/outputs`, "-c", path]);
    assert.equal(g.__wfPwned, undefined, "verify imported nothing from run_manifest.json");
    assert.match(v.err, /1 plugin\(s\) not listed in the project file/);
    assert.equal(v.code, 0, v.out);
    assert.match(v.out, /\[ok {2}\] model: loads/);
  } finally {
    delete g.__wfPwned;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli train: NaN in an npz dataset is refused naming [data] allow_non_finite, accepted with it", async () => {
  const dir = await tempDir();
  try {
    const buf = new ReplayBuffer({
      capacity: 64,
      obsShape: [5],
      actionDim: 2,
      allowNonFinite: true,
    });
    for (let t = 0; t < 64; t++) {
      buf.addStep([t, 0, 0, 0, 0], [0, 0], t === 40 ? NaN : 0, t % 16 === 15);
    }
    await buf.save(`${dir}/data.npz`);
    const text = (extra: string) =>
      SMOKE.replace(
        /\[data\][\s\S]*?(?=\[training\])/,
        `[data]\nsource = "npz"\npath = "data.npz"\nholdout_episodes = 1\n${extra}\n`,
      );
    let r = await run(["train", "-c", await writeToml(dir, text(""))]);
    assert.equal(r.code, 1);
    assert.match(r.err, /"rewards": NaN at row 40: .*allow_non_finite = true/);
    r = await run(["train", "-c", await writeToml(dir, text("allow_non_finite = true"))]);
    assert.equal(r.code, 1, "the data is taken; the NaN reward then gives a non-finite loss");
    assert.match(r.err, /non-finite loss/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
