/**
 * Name helpers: camelCase <-> snake_case keys (configs on disk use the reference's snake_case
 * keys) and "did you mean" suggestions by edit distance.
 * @module
 */

/** `obsShape` -> `obs_shape`, `numQNetworks` -> `num_q_networks`. */
export function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `obs_shape` -> `obsShape`, `num_q_networks` -> `numQNetworks`. */
export function snakeToCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A copy of `obj` with its own keys converted (nested values are kept as they are). */
export function mapKeys(
  obj: Readonly<Record<string, unknown>>,
  fn: (key: string) => string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[fn(k)] = v;
  return out;
}

/** Levenshtein edit distance. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length < b.length) [a, b] = [b, a];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 0; i < a.length; i++) {
    const cur = [i + 1];
    for (let j = 0; j < b.length; j++) {
      cur.push(Math.min(cur[j] + 1, prev[j + 1] + 1, prev[j] + (a[i] === b[j] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidates closest to `name` (case-insensitive edit distance), best first: at most
 * `limit`, within `max(2, length / 3)` edits (or starting with `name`).
 */
export function closestNames(name: string, candidates: Iterable<string>, limit = 3): string[] {
  const n = name.toLowerCase();
  const scored: [number, string][] = [];
  for (const c of new Set(candidates)) {
    const l = c.toLowerCase();
    let d = editDistance(n, l);
    if (n.length >= 3 && l.startsWith(n)) d = Math.min(d, 1); // a partly typed name
    if (d <= Math.max(2, Math.floor(n.length / 3))) scored.push([d, c]);
  }
  scored.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
  return scored.slice(0, limit).map(([, c]) => c);
}
