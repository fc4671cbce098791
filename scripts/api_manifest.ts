/**
 * The API stability manifest: `api_manifest.json` lists every public export of the package (of
 * `mod.ts` and of every other entry point in `deno.json`'s `exports`) with its kind, the module
 * that declares it, its tier and a fingerprint of its signature. `tests/api_manifest_test.ts`
 * rebuilds it and fails when it differs from the committed file, so a change of the public
 * surface is always a visible change of the manifest in review.
 *
 * Tiers:
 * - `experimental`: declared in the module of a family whose registered maturity is not
 *   `reference` (`src/models/mlp/`, `jepa/`, `token/`, ...), or marked `@experimental` in its
 *   JSDoc. It may change or go away in any release.
 * - `stable`: everything else; changes follow semantic versioning.
 *
 * The signature fingerprint is the sha256 (first 16 hex digits) of `deno doc --json`'s
 * definition of the export with documentation, source locations and private members removed:
 * editing a comment or moving code leaves it alone; changing a parameter, a return type or a
 * public member changes it. Public member names of classes and interfaces are listed too, so a
 * diff of the manifest shows what was added or removed.
 *
 * Regenerate with `deno task api-manifest` (this script: `deno run -A scripts/api_manifest.ts`).
 * @module
 */

import { writeFileAtomic } from "../src/io/atomic.ts";
import { registerBuiltinFamilies } from "../src/models/registry_setup.ts";
import { WorldModelRegistry } from "../src/core/registry.ts";
import { sha256Hex } from "../src/core/spec.ts";

/** The tier of an export. */
export type ApiTier = "stable" | "experimental";

/** One public export in the manifest. */
export interface ApiExport {
  /** The exported name. */
  readonly name: string;
  /** `class`, `function`, `interface`, `typeAlias`, `variable`, `enum`, `namespace` (`+`-joined when overloaded across kinds). */
  readonly kind: string;
  /** Stability tier. */
  readonly tier: ApiTier;
  /** The module that declares it, relative to the repository root. */
  readonly module: string;
  /** sha256 prefix of its signature (documentation and locations removed). */
  readonly signature: string;
  /** Public members of a class or interface, sorted (absent otherwise). */
  readonly members?: readonly string[];
}

/** The manifest as written to `api_manifest.json`. */
export interface ApiManifest {
  /** How to regenerate the file. */
  readonly generatedBy: string;
  /** The package name from `deno.json`. */
  readonly package: string;
  /** The package version from `deno.json`. */
  readonly version: string;
  /** What each tier promises. */
  readonly tiers: Readonly<Record<ApiTier, string>>;
  /** Exports by entry point (`"."`, `"./cli"`, ...), sorted by name. */
  readonly entrypoints: Readonly<Record<string, readonly ApiExport[]>>;
}

/** The command that regenerates the manifest. */
export const REGENERATE = "deno task api-manifest";

const TIERS: Readonly<Record<ApiTier, string>> = {
  stable: "changes follow semantic versioning",
  experimental:
    "may change or be removed in any release (experimental families, and exports marked @experimental)",
};

const ROOT = new URL("../", import.meta.url);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Drops documentation, locations and private members; sorts keys (a canonical signature). */
function canonical(v: Json): Json {
  if (Array.isArray(v)) {
    return v.filter((x) => !isPrivate(x)).map(canonical);
  }
  if (v !== null && typeof v === "object") {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v).sort()) {
      if (k === "jsDoc" || k === "location" || k === "hasBody") continue;
      out[k] = canonical(v[k]);
    }
    return out;
  }
  return v;
}

function isPrivate(x: Json): boolean {
  if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  const name = x.name;
  return x.accessibility === "private" || (typeof name === "string" && name.startsWith("#"));
}

interface DocDeclaration {
  readonly kind: string;
  readonly location: { readonly filename: string };
  readonly jsDoc?: { readonly tags?: readonly { readonly kind: string }[] };
  readonly def?: Json;
}

interface DocSymbol {
  readonly name: string;
  readonly declarations: readonly DocDeclaration[];
}

/** `deno doc --json` of one entry point: its exported symbols. */
async function docSymbols(entry: string): Promise<DocSymbol[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno doc --json ${entry} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols?: DocSymbol[] }>;
  };
  const key = new URL(entry, ROOT).href;
  const node = doc.nodes[key];
  if (!node) throw new Error(`deno doc --json ${entry} has no node for ${key}`);
  return node.symbols ?? [];
}

/** Public member names of a class or interface definition. */
function memberNames(def: Json): string[] | undefined {
  if (def === null || typeof def !== "object" || Array.isArray(def)) return undefined;
  const names = new Set<string>();
  for (const field of ["properties", "methods", "callSignatures", "indexSignatures"]) {
    const list = def[field];
    if (!Array.isArray(list)) continue;
    for (const m of list) {
      if (isPrivate(m) || m === null || typeof m !== "object" || Array.isArray(m)) continue;
      const name = typeof m.name === "string" ? m.name : field === "callSignatures" ? "()" : "[]";
      names.add(m.isStatic ? `static ${name}` : name);
    }
  }
  if (Array.isArray(def.constructors) && def.constructors.length) names.add("constructor");
  return names.size ? [...names].sort() : undefined;
}

/** `src/models/<dir>/`s of registered families whose maturity is not `reference`. */
function experimentalFamilyDirs(): string[] {
  registerBuiltinFamilies();
  return WorldModelRegistry.families()
    .filter((f) => WorldModelRegistry.family(f).maturity !== "reference")
    .map((f) => `src/models/${f}/`);
}

/** Builds the manifest from the current sources (runs `deno doc --json` per entry point). */
export async function buildApiManifest(): Promise<ApiManifest> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    name: string;
    version: string;
    exports: string | Record<string, string>;
  };
  const exportsMap = typeof denoJson.exports === "string"
    ? { ".": denoJson.exports }
    : denoJson.exports;
  const experimentalDirs = experimentalFamilyDirs();
  const rootHref = ROOT.href;
  const entrypoints: Record<string, ApiExport[]> = {};
  for (const [entry, file] of Object.entries(exportsMap).sort(([a], [b]) => a.localeCompare(b))) {
    const list: ApiExport[] = [];
    for (const sym of await docSymbols(file)) {
      const decls = sym.declarations;
      const first = decls[0];
      const module = first.location.filename.startsWith(rootHref)
        ? first.location.filename.slice(rootHref.length)
        : first.location.filename;
      const tagged = decls.some((d) => d.jsDoc?.tags?.some((t) => t.kind === "experimental"));
      const tier: ApiTier = tagged || experimentalDirs.some((d) => module.startsWith(d))
        ? "experimental"
        : "stable";
      const kinds = [...new Set(decls.map((d) => d.kind))];
      const canon = decls.map((d) => ({ kind: d.kind, def: canonical(d.def ?? null) }));
      const signature = (await sha256Hex(JSON.stringify(canon))).slice(0, 16);
      const members = decls.length === 1 ? memberNames(first.def ?? null) : undefined;
      list.push({
        name: sym.name,
        kind: kinds.join("+"),
        tier,
        module,
        signature,
        ...(members ? { members } : {}),
      });
    }
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    entrypoints[entry] = list;
  }
  return {
    generatedBy: REGENERATE,
    package: denoJson.name,
    version: denoJson.version,
    tiers: TIERS,
    entrypoints,
  };
}

/** The manifest as the file's text (two-space JSON, trailing newline). */
export function formatApiManifest(m: ApiManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Where the manifest lives. */
export const MANIFEST_PATH: URL = new URL("api_manifest.json", ROOT);

if (import.meta.main) {
  const manifest = await buildApiManifest();
  await writeFileAtomic(MANIFEST_PATH.pathname, formatApiManifest(manifest));
  const counts = Object.entries(manifest.entrypoints).map(([e, l]) =>
    `${e}: ${l.length} (${l.filter((x) => x.tier === "experimental").length} experimental)`
  );
  console.log(`wrote api_manifest.json: ${counts.join("; ")}`);
}
