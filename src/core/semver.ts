/**
 * A small semantic-versioning checker (https://semver.org) for plugin manifests: parse and
 * compare versions, and test them against npm-style ranges (`>=0.1.0 <0.2.0`, `>=0.1,<0.2`,
 * `^0.1.0`, `~1.2`, `1.x`, `*`, `1.0.0 - 2.0.0`, `a || b`). A prerelease version satisfies a
 * range only when a comparator of the matching set names a prerelease of the same
 * `major.minor.patch` (npm's rule).
 * @module
 */

import { ConfigError } from "../errors.ts";

/** A parsed version. */
export interface SemVer {
  /** Major version. */
  readonly major: number;
  /** Minor version. */
  readonly minor: number;
  /** Patch version. */
  readonly patch: number;
  /** Prerelease identifiers (`1.0.0-beta.2` -> `["beta", 2]`). */
  readonly prerelease: readonly (string | number)[];
}

const VERSION_RE =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/;

function ids(pre: string | undefined): (string | number)[] {
  if (!pre) return [];
  return pre.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** Parses `1.2.3`, `v1.2.3-rc.1+build` (throws a {@link ConfigError} when invalid). */
export function parseVersion(v: string): SemVer {
  const m = VERSION_RE.exec(v.trim());
  if (!m) throw new ConfigError(`"${v}" is not a semantic version (MAJOR.MINOR.PATCH)`);
  return { major: +m[1], minor: +m[2], patch: +m[3], prerelease: ids(m[4]) };
}

/** -1, 0 or 1 by semver precedence (build metadata ignored). */
export function compareVersions(a: string | SemVer, b: string | SemVer): number {
  const x = typeof a === "string" ? parseVersion(a) : a;
  const y = typeof b === "string" ? parseVersion(b) : b;
  for (const k of ["major", "minor", "patch"] as const) {
    if (x[k] !== y[k]) return x[k] < y[k] ? -1 : 1;
  }
  const p = x.prerelease;
  const q = y.prerelease;
  if (!p.length || !q.length) return p.length === q.length ? 0 : p.length ? -1 : 1;
  for (let i = 0; i < Math.max(p.length, q.length); i++) {
    if (i >= p.length) return -1;
    if (i >= q.length) return 1;
    const s = p[i];
    const t = q[i];
    if (s === t) continue;
    if (typeof s === "number" && typeof t === "number") return s < t ? -1 : 1;
    if (typeof s === "number") return -1;
    if (typeof t === "number") return 1;
    return s < t ? -1 : 1;
  }
  return 0;
}

type Op = ">=" | ">" | "<=" | "<" | "=";
interface Comparator {
  readonly op: Op;
  readonly v: SemVer;
}

/** A partial version: missing or `x`/`*` parts are null. */
interface Partial {
  major: number | null;
  minor: number | null;
  patch: number | null;
  prerelease: (string | number)[];
}

const PARTIAL_RE =
  /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/;

function parsePartial(s: string, range: string): Partial {
  const m = PARTIAL_RE.exec(s);
  if (!m) throw new ConfigError(`invalid version "${s}" in range "${range}"`);
  const num = (x: string | undefined) => (x === undefined || /^[xX*]$/.test(x) ? null : Number(x));
  const p: Partial = {
    major: num(m[1]),
    minor: num(m[2]),
    patch: num(m[3]),
    prerelease: ids(m[4]),
  };
  // Once a part is a wildcard, the following ones are too.
  if (p.major === null) p.minor = null;
  if (p.minor === null) p.patch = null;
  return p;
}

const sv = (
  major: number,
  minor: number,
  patch: number,
  pre: (string | number)[] = [],
): SemVer => ({
  major,
  minor,
  patch,
  prerelease: pre,
});

/** The comparators of one `op partial` term. */
function desugar(op: string, p: Partial, range: string): Comparator[] {
  const { major, minor, patch } = p;
  if (major === null) {
    return op === "<" || op === ">" ? [{ op: "<", v: sv(0, 0, 0) }] : [];
  }
  const lo = sv(major, minor ?? 0, patch ?? 0, p.prerelease);
  // The first version above the partial (exclusive upper bound of an x-range).
  const next = minor === null
    ? sv(major + 1, 0, 0)
    : patch === null
    ? sv(major, minor + 1, 0)
    : null;
  switch (op) {
    case "":
    case "=":
      return next ? [{ op: ">=", v: lo }, { op: "<", v: next }] : [{ op: "=", v: lo }];
    case ">=":
      return [{ op: ">=", v: lo }];
    case ">":
      return next ? [{ op: ">=", v: next }] : [{ op: ">", v: lo }];
    case "<":
      return [{ op: "<", v: lo }];
    case "<=":
      return next ? [{ op: "<", v: next }] : [{ op: "<=", v: lo }];
    case "~":
    case "~>":
      return [{ op: ">=", v: lo }, {
        op: "<",
        v: minor === null ? sv(major + 1, 0, 0) : sv(major, minor + 1, 0),
      }];
    case "^": {
      const upper = major > 0 || minor === null
        ? sv(major + 1, 0, 0)
        : minor > 0 || patch === null
        ? sv(0, minor + 1, 0)
        : sv(0, 0, patch + 1);
      return [{ op: ">=", v: lo }, { op: "<", v: upper }];
    }
    default:
      throw new ConfigError(`invalid operator "${op}" in range "${range}"`);
  }
}

function parseSet(set: string, range: string): Comparator[] {
  const s = set.trim();
  if (s === "" || s === "*" || /^[xX]$/.test(s)) return [];
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(s);
  if (hyphen) {
    const a = parsePartial(hyphen[1], range);
    const b = parsePartial(hyphen[2], range);
    return [...desugar(">=", a, range), ...desugar("<=", b, range)];
  }
  // Comparators are separated by spaces or commas; operators may be followed by spaces.
  const tokens = s.replace(/(>=|<=|~>|[<>=^~])\s+/g, "$1").split(/[\s,]+/).filter(Boolean);
  const out: Comparator[] = [];
  for (const t of tokens) {
    const m = /^(>=|<=|~>|[<>=^~])?(.*)$/.exec(t)!;
    out.push(...desugar(m[1] ?? "", parsePartial(m[2], range), range));
  }
  return out;
}

function test(c: Comparator, v: SemVer): boolean {
  const d = compareVersions(v, c.v);
  switch (c.op) {
    case ">=":
      return d >= 0;
    case ">":
      return d > 0;
    case "<=":
      return d <= 0;
    case "<":
      return d < 0;
    case "=":
      return d === 0;
  }
}

/** Parses a range (throws a {@link ConfigError} when invalid); returns its comparator sets. */
export function parseRange(range: string): readonly (readonly Comparator[])[] {
  return range.split("||").map((set) => parseSet(set, range));
}

/**
 * True when `version` satisfies `range`.
 *
 * @example
 * ```ts
 * import { satisfies } from "@worldflux/worldflux";
 * console.log(satisfies("0.1.4", ">=0.1.0,<0.2.0")); // true
 * console.log(satisfies("1.2.0", "^0.9.0 || ~1.1")); // false
 * ```
 */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return parseRange(range).some((set) =>
    set.every((c) => test(c, v)) &&
    (v.prerelease.length === 0 ||
      set.some((c) =>
        c.v.prerelease.length > 0 && c.v.major === v.major && c.v.minor === v.minor &&
        c.v.patch === v.patch
      ))
  );
}
