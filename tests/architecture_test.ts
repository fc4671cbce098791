/**
 * The import rule of ARCHITECTURE.md, checked: every file of `src/` (and the entry points
 * `mod.ts`, `cli.ts`) sits in one module of the layer table below; a file may import its own
 * module or a module of a lower layer, never a sibling of its layer or anything above; and no
 * chain of imports comes back to where it started (no circles, between files of one module too).
 *
 * Type-only imports count: a type cycle is a design cycle that the next value import turns into a
 * load-order bug. Dynamic `import("...")` and worker URLs (`new URL("...", import.meta.url)`) count
 * as well. Imports of non-TypeScript files (WGSL kernels, `deno.json`, the gym host script) are
 * assets, not modules.
 *
 * {@link DEBTS} lists the known breaks of the rule that are still being removed: each must still
 * exist (a debt that was paid is struck from the list, so the list only shrinks).
 * @module
 */

import assert from "node:assert/strict";

/**
 * The layers, lowest first. Each layer lists its modules: path prefixes (a directory ending in
 * `/`, or one file); a file belongs to the module with the longest matching prefix. Modules of
 * one layer are siblings and do not import each other.
 */
export const LAYERS: readonly (readonly string[])[] = [
  // Shared leaves: typed errors, the one log sink, the host's seeded random numbers.
  ["src/errors.ts", "src/log.ts", "src/rng.ts"],
  // The IR the tensor layer lowers to and every backend compiles: expressions, views, dtypes.
  ["src/ir/"],
  // Devices: buffers, kernels, code generation per target.
  ["src/backend/"],
  // Lazy tensors, scheduling, autograd, compile().
  ["src/tensor/"],
  // Layers and modules; file formats; environments (which need no tensors).
  ["src/nn/", "src/io/", "src/envs/"],
  // Optimizers over nn parameters.
  ["src/optim/"],
  // The world-model contract: WorldModel, the family registry, save/load, IO contracts.
  ["src/core/"],
  // Planning over any WorldModel.
  ["src/planners/"],
  // The families, and the loops that train any family (they never import each other).
  [
    "src/models/mlp/",
    "src/models/dreamerv3/",
    "src/models/tdmpc2/",
    "src/models/jepa/",
    "src/models/token/",
    "src/training/",
  ],
  // The built-in family list.
  ["src/models/"],
  // The command line.
  ["src/cli/"],
  // Sub-path entry points (`/tensor`, `/nn`, `/backend`): below the root, which re-exports from them.
  ["tensor.ts", "nn.ts", "backend.ts"],
  // Entry points.
  ["mod.ts", "cli.ts"],
];

/**
 * Known breaks of the rule, being removed (issue 15). Upward or sibling imports as
 * `"from-module -> to-module"`; circles as their files joined by `" | "` in sorted order.
 */
export const DEBTS: readonly string[] = [
  // None left: a new break of the rule is fixed, not listed.
];

/** The files outside `src/` that are modules of the table: the package's entry points. */
const ENTRY_POINTS = ["mod.ts", "cli.ts", "tensor.ts", "nn.ts", "backend.ts"];

// ---------------------------------------------------------------------------------------------
// The import graph
// ---------------------------------------------------------------------------------------------

const ROOT = new URL("../", import.meta.url);

/** Relative paths of every TypeScript file under `dir` (relative to the repository root). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sourceFiles(p));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const IMPORT_PATTERNS: readonly RegExp[] = [
  /^import\s[^;]*?\sfrom\s*"([^"]+)"/gm, // import x / { x } / type { x } from "..."
  /^import\s*"([^"]+)"/gm, // import "..." (side effects)
  /^export\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*"([^"]+)"/gm, // re-exports
  /\bimport\(\s*"([^"]+)"\s*\)/g, // import("...") (dynamic, or in a type position)
  /new URL\(\s*"([^"]+)",\s*import\.meta\.url\s*\)/g, // workers and assets by URL
];

/** Normalises `a/b/../c/./d` to `a/c/d`. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.pop();
    else if (part !== "." && part !== "") out.push(part);
  }
  return out.join("/");
}

/** The TypeScript files `file` imports (relative specifiers only; assets left out). */
export function importsOf(file: string, text: string): string[] {
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
  const found = new Set<string>();
  for (const re of IMPORT_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const spec = m[1];
      if (!spec.startsWith(".") || !spec.endsWith(".ts")) continue;
      found.add(normalize(`${dir}/${spec}`));
    }
  }
  return [...found].sort();
}

/** file -> the files it imports, for `src/` and the entry points. */
export function importGraph(): Map<string, string[]> {
  const files = [...sourceFiles("src"), ...ENTRY_POINTS].sort();
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, importsOf(f, Deno.readTextFileSync(new URL(f, ROOT))));
  return graph;
}

// ---------------------------------------------------------------------------------------------
// The rule
// ---------------------------------------------------------------------------------------------

/** The module (longest matching prefix of {@link LAYERS}) and its layer, or null. */
export function moduleOf(file: string): { module: string; layer: number } | null {
  let best: { module: string; layer: number } | null = null;
  LAYERS.forEach((mods, layer) => {
    for (const m of mods) {
      const hit = m.endsWith("/") ? file.startsWith(m) : file === m;
      if (hit && (!best || m.length > best.module.length)) best = { module: m, layer };
    }
  });
  return best;
}

/** Imports that break the layer rule, as `"from-module -> to-module"` with the files. */
export function layerViolations(graph: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [from, tos] of graph) {
    const a = moduleOf(from)!;
    for (const to of tos) {
      const b = moduleOf(to);
      if (!b || a.module === b.module || b.layer < a.layer) continue;
      const key = `${a.module} -> ${b.module}`;
      out.set(key, [...(out.get(key) ?? []), `${from} -> ${to}`]);
    }
  }
  return out;
}

/** The circles: strongly connected sets of more than one file (Tarjan), each sorted. */
export function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const graph = importGraph();

Deno.test("architecture: every source file sits in a module of the layer table", () => {
  const homeless = [...graph.keys()].filter((f) => moduleOf(f) === null);
  assert.deepEqual(homeless, [], "add these files' directories to LAYERS");
  const missing = [...new Set([...graph.values()].flat())].filter((f) => !graph.has(f));
  assert.deepEqual(missing, [], "imports of files that do not exist");
});

Deno.test("architecture: no upward or sibling imports (beyond the listed debts)", () => {
  const found = layerViolations(graph);
  const fresh = [...found].filter(([k]) => !DEBTS.includes(k));
  assert.deepEqual(
    fresh.map(([k, files]) => `${k}:\n    ${files.join("\n    ")}`),
    [],
    "a file imports a module of its own layer or of a higher one (see ARCHITECTURE.md)",
  );
});

Deno.test("architecture: no circles (beyond the listed debts)", () => {
  const fresh = circles(graph).map((c) => c.join(" | ")).filter((c) => !DEBTS.includes(c));
  assert.deepEqual(fresh, [], "these files import each other, directly or through others");
});

Deno.test("architecture: every listed debt still exists (strike the paid ones)", () => {
  const present = new Set([
    ...layerViolations(graph).keys(),
    ...circles(graph).map((c) => c.join(" | ")),
  ]);
  assert.deepEqual(DEBTS.filter((d) => !present.has(d)), []);
});

Deno.test("architecture: the checker sees each kind of import", () => {
  const text = [
    'import { a } from "./a.ts";',
    "import type {\n  B,\n} from '../skip.ts';", // single quotes are not the house style
    'import type {\n  C,\n} from "../c.ts";',
    'import "./d.ts";',
    'export { e } from "./e.ts";',
    'export * from "./f.ts";',
    'const g: import("./g.ts").G = 1;',
    'new Worker(new URL("./h.ts", import.meta.url));',
    'import k from "./k.wgsl" with { type: "text" };',
    ' * import { x } from "./doc.ts";', // a doc example, not an import
    'import { z } from "zod";',
  ].join("\n");
  assert.deepEqual(importsOf("src/x/y.ts", text), [
    "src/c.ts",
    "src/x/a.ts",
    "src/x/d.ts",
    "src/x/e.ts",
    "src/x/f.ts",
    "src/x/g.ts",
    "src/x/h.ts",
  ]);
  const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(circles(g), [["a", "b", "c"]]);
  assert.deepEqual(moduleOf("src/models/dreamerv3/rssm.ts")?.module, "src/models/dreamerv3/");
  assert.deepEqual(moduleOf("src/models/builtin.ts")?.module, "src/models/");
});
