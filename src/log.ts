/**
 * Notes to the user on stderr, with the one `worldflux: ` prefix. Messages never carry the
 * prefix themselves: a `log` option receives bare messages, and its default is {@link warn}, so
 * a note never reads `worldflux: worldflux: ...`.
 *
 * This module imports nothing so that every layer may use it.
 * @module
 */

/**
 * Prints `worldflux: <message>` to stderr.
 *
 * @example
 * ```ts
 * import { warn } from "./log.ts";
 * warn("compile() could not trace the update, running it eagerly");
 * ```
 */
export function warn(message: string): void {
  console.warn(`worldflux: ${message}`);
}
