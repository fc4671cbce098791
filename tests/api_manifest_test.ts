/**
 * The committed `api_manifest.json` is what `deno task api-manifest` generates from the sources:
 * a change of the public surface (an export added, removed, re-kinded, moved, or its signature or
 * members changed) without regenerating the manifest fails here, naming what changed.
 * @module
 */

import assert from "node:assert/strict";
import {
  type ApiExport,
  type ApiManifest,
  buildApiManifest,
  MANIFEST_PATH,
  REGENERATE,
} from "../scripts/api_manifest.ts";

/** What differs between two manifests, one line per export. */
function differences(committed: ApiManifest, current: ApiManifest): string[] {
  const out: string[] = [];
  for (const k of ["package", "version"] as const) {
    if (committed[k] !== current[k]) out.push(`${k}: ${committed[k]} -> ${current[k]}`);
  }
  const entries = new Set([
    ...Object.keys(committed.entrypoints ?? {}),
    ...Object.keys(current.entrypoints),
  ]);
  for (const e of [...entries].sort()) {
    const before = new Map((committed.entrypoints?.[e] ?? []).map((x) => [x.name, x]));
    const after = new Map((current.entrypoints[e] ?? []).map((x) => [x.name, x]));
    for (const [name, x] of after) {
      const was = before.get(name);
      if (!was) out.push(`${e} ${name}: added (${x.kind}, ${x.tier})`);
      else {
        const changed = (Object.keys(x) as (keyof ApiExport)[]).filter((k) =>
          JSON.stringify(x[k]) !== JSON.stringify(was[k])
        );
        if (changed.length) out.push(`${e} ${name}: ${changed.join(", ")} changed`);
      }
    }
    for (const name of before.keys()) if (!after.has(name)) out.push(`${e} ${name}: removed`);
  }
  return out;
}

Deno.test("api manifest: api_manifest.json matches the public surface", async () => {
  const current = await buildApiManifest();
  let committed: ApiManifest;
  try {
    committed = JSON.parse(await Deno.readTextFile(MANIFEST_PATH));
  } catch (e) {
    throw new Error(`api_manifest.json is missing or unreadable (${e}); run \`${REGENERATE}\``);
  }
  const diff = differences(committed, current);
  assert.deepEqual(
    diff,
    [],
    `the public API changed but api_manifest.json was not regenerated; run \`${REGENERATE}\` ` +
      `and commit api_manifest.json (review the tiers). Differences:\n  ${diff.join("\n  ")}`,
  );
  assert.deepEqual(committed, current, `api_manifest.json is stale; run \`${REGENERATE}\``);
});

Deno.test("api manifest: every entry point of deno.json is listed; tiers follow family maturity", async () => {
  const m = await buildApiManifest();
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.deepEqual(Object.keys(m.entrypoints).sort(), Object.keys(denoJson.exports).sort());
  const root = new Map(m.entrypoints["."].map((x) => [x.name, x]));
  for (const name of ["createWorldModel", "WorldModel", "train", "tensor", "DreamerV3WorldModel"]) {
    assert.equal(root.get(name)?.tier, "stable", name);
  }
  // The mlp family is experimental: every export declared in its module is too.
  assert.equal(root.get("MLPWorldModel")?.tier, "experimental");
  for (const x of m.entrypoints["."]) {
    if (x.module.startsWith("src/models/mlp/")) assert.equal(x.tier, "experimental", x.name);
    assert.match(x.signature, /^[0-9a-f]{16}$/);
  }
  // Members are listed, private ones are not.
  const wm = root.get("WorldModel")!;
  for (const name of ["encode", "predict", "observe", "imagine", "computeLoss"]) {
    assert.ok(wm.members?.includes(name), name);
  }
  assert.ok(!wm.members?.some((n) => n.startsWith("#")));
});
