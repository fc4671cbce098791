/**
 * The built-in families: {@link registerBuiltinFamilies} registers them with the
 * `WorldModelRegistry` (idempotent). The entry points call it (`mod.ts`, `cli.ts`); importing a
 * module registers nothing. Each family module exports a `register*Family()` function; add new
 * families here.
 * @module
 */

import { registerMLPFamily } from "./mlp/mod.ts";
import { registerDreamerV3Family } from "./dreamerv3/mod.ts";
import { registerTDMPC2Family } from "./tdmpc2/mod.ts";

/** Registers every built-in family that is not registered yet. */
export function registerBuiltinFamilies(): void {
  registerMLPFamily();
  registerDreamerV3Family();
  registerTDMPC2Family();
}
