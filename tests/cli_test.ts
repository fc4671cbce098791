import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import denoJson from "../deno.json" with { type: "json" };

/** Runs `main(args)` with console.log/console.error captured. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.map(String).join(" "));
  console.error = (...a: unknown[]) => void err.push(a.map(String).join(" "));
  try {
    const code = await main(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("cli: --version prints the deno.json version", async () => {
  const r = await run(["--version"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, `worldflux ${denoJson.version}`);
});

Deno.test("cli: --help lists the commands", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: worldflux <command>/);
  assert.match(r.out, /^\s+doctor\s/m);
});

Deno.test("cli: every command has --help", async () => {
  const r = await run(["doctor", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: worldflux doctor/);
});

Deno.test("cli: doctor --format json reports runtime, adapter and the auto device", async () => {
  const r = await run(["doctor", "--format", "json"]);
  assert.equal(r.code, 0);
  const report = JSON.parse(r.out);
  assert.equal(report.worldflux, denoJson.version);
  assert.equal(report.runtime.deno, Deno.version.deno);
  assert.equal(report.runtime.os, Deno.build.os);
  assert.equal(report.runtime.cpus, navigator.hardwareConcurrency);
  assert.equal(typeof report.webgpu.available, "boolean");
  if (report.webgpu.available) {
    assert.equal(typeof report.webgpu.description, "string");
    assert.deepEqual(Object.keys(report.webgpu.features).sort(), [
      "shader-f16",
      "timestamp-query",
    ]);
    assert.ok(report.webgpu.limits.maxStorageBufferBindingSize > 0);
  } else {
    assert.equal(typeof report.webgpu.error, "string");
  }
  assert.ok(["cpu", "webgpu"].includes(report.auto.device));
  assert.ok(report.auto.reason.length > 0);
});

Deno.test("cli: doctor text output has aligned sections", async () => {
  const r = await run(["doctor"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Runtime$/m);
  assert.match(r.out, /^Device "auto"$/m);
  assert.match(r.out, /^\s+picks:\s+(cpu|webgpu)$/m);
});

Deno.test("cli: unknown commands and flags are usage errors (exit 2)", async () => {
  for (
    const args of [
      ["frobnicate"],
      ["--frobnicate"],
      ["doctor", "--frobnicate"],
      ["doctor", "--format", "xml"],
      ["doctor", "extra"],
      [],
    ]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, `exit code of ${JSON.stringify(args)}`);
    assert.ok(r.err.length > 0, `an error message for ${JSON.stringify(args)}`);
  }
  const r = await run(["frobnicate"]);
  assert.match(r.err, /unknown command "frobnicate"/);
});
