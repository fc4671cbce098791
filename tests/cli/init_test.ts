import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { parseProjectConfig } from "../../src/cli/project.ts";
import { initFamilies, projectToml } from "../../src/cli/init.ts";
import { registerBuiltinFamilies } from "../../src/models/registry_setup.ts";
import { run, tempDir } from "./helpers.ts";

registerBuiltinFamilies(); // the templates are the registered families' scaffolds

Deno.test("cli init: scaffolds worldflux.toml, README, data/ and .gitignore", async () => {
  const root = await tempDir();
  const dir = `${root}/proj`;
  const r = await run(["init", dir, "--family", "tdmpc2"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /created .*proj\/ \(tdmpc2:ci, data: random\)/);
  assert.match(r.out, /worldflux verify --target \.\/outputs --mode quick/);
  const toml = await Deno.readTextFile(`${dir}/worldflux.toml`);
  assert.match(toml, /family = "tdmpc2"/);
  assert.match(toml, /sequence_length = 4 /); // TD-MPC2: horizon + 1
  assert.match(toml, /^# learning_rate = 0.0003 /m); // defaults commented
  const project = parseProjectConfig(parse(toml), { path: `${dir}/worldflux.toml` });
  assert.equal(project.model.spec, "tdmpc2:ci");
  assert.equal(project.data.source, "random");
  assert.equal(project.training.outputDir, `${dir}/outputs`);
  assert.ok((await Deno.stat(`${dir}/data`)).isDirectory);
  const readme = await Deno.readTextFile(`${dir}/README.md`);
  assert.match(readme, /worldflux train/);
  assert.match(readme, /`worldflux dashboard` in another terminal serves a live page/);
  assert.equal(await Deno.readTextFile(`${dir}/.gitignore`), "outputs/\n");
  await Deno.remove(root, { recursive: true });
});

Deno.test("cli init: refuses a non-empty directory unless --force", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/keep.txt`, "mine");
  const r = await run(["init", dir]);
  assert.equal(r.code, 1);
  assert.match(r.err, /is not empty \(1 entry\); use --force/);
  await assert.rejects(Deno.stat(`${dir}/worldflux.toml`));
  const f = await run(["init", dir, "--force", "--data", "env", "--env", "CartPole-v1"]);
  assert.equal(f.code, 0, f.err);
  assert.equal(await Deno.readTextFile(`${dir}/keep.txt`), "mine");
  assert.match(await Deno.readTextFile(`${dir}/worldflux.toml`), /env = "CartPole-v1"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli init: wrong command lines exit 2; an unknown preset exits 1 with close names", async () => {
  const dir = await tempDir();
  let r = await run(["init"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /DIR is required/);
  r = await run(["init", `${dir}/a`, "--family", "dreamr"]);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /invalid value "dreamr" for --family; expected one of: dreamerv3, tdmpc2, mlp/,
  );
  r = await run(["init", `${dir}/a`, "--pixels"]);
  assert.equal(r.code, 2);
  r = await run(["init", `${dir}/b`, "--preset", "size12"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /closest: "dreamerv3:size12m"/);
  await assert.rejects(Deno.stat(`${dir}/b`)); // nothing written
  r = await run(["init", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: worldflux init DIR/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli init: every family x data template parses back", () => {
  assert.deepEqual(initFamilies(), ["dreamerv3", "tdmpc2", "mlp"]);
  for (const family of initFamilies()) {
    for (const data of ["random", "npz", "env"] as const) {
      const text = projectToml({
        name: "x",
        family,
        preset: "ci",
        data,
        env: "Pendulum-v1",
        pixels: false,
      });
      const p = parseProjectConfig(parse(text), { baseDir: "/tmp/x" });
      assert.equal(p.model.spec, `${family}:ci`);
      assert.equal(p.data.source, data);
    }
  }
});

Deno.test("cli init --force: symlinks at scaffold names are replaced, never written through", async () => {
  const dir = await tempDir();
  const outside = await tempDir();
  try {
    await Deno.writeTextFile(`${outside}/secret.md`, "outside the project");
    await Deno.symlink(`${outside}/secret.md`, `${dir}/README.md`);
    await Deno.symlink(`${outside}/secret.md`, `${dir}/worldflux.toml`);
    await Deno.symlink(outside, `${dir}/data`);
    const r = await run(["init", dir, "--force"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(await Deno.readTextFile(`${outside}/secret.md`), "outside the project");
    for (const f of ["README.md", "worldflux.toml"]) {
      assert.ok((await Deno.lstat(`${dir}/${f}`)).isFile, `${f} is a regular file now`);
    }
    // The linked data/ (the user's datasets elsewhere) is kept and nothing is written into it.
    assert.ok((await Deno.lstat(`${dir}/data`)).isSymlink);
    await assert.rejects(Deno.lstat(`${outside}/.gitkeep`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
