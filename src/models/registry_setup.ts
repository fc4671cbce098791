/**
 * The built-in families: {@link registerBuiltinFamilies} registers them with the
 * `WorldModelRegistry` (idempotent). The entry points call it (`mod.ts`, `cli.ts`); importing a
 * module registers nothing. Each family module exports a `register*Family()` function; add new
 * families here.
 * @module
 */

import { WorldModelRegistry } from "../core/registry.ts";
import { registerMLPFamily } from "./mlp/mod.ts";
import { registerJEPAFamily } from "./jepa/mod.ts";
import { registerTokenFamily } from "./token/mod.ts";
import { DREAMERV3_REFERENCE_NAMES } from "./dreamerv3/config.ts";
import { registerDreamerV3Family } from "./dreamerv3/mod.ts";
import { TDMPC2_REFERENCE_NAMES } from "./tdmpc2/config.ts";
import { registerTDMPC2Family } from "./tdmpc2/mod.ts";

/**
 * Registers every built-in family that is not registered yet, and the reference catalog's names
 * of the DreamerV3 and TD-MPC2 models (which stay known while those families are unregistered).
 */
export function registerBuiltinFamilies(): void {
  WorldModelRegistry.registerBuiltinNames(DREAMERV3_REFERENCE_NAMES);
  WorldModelRegistry.registerBuiltinNames(TDMPC2_REFERENCE_NAMES);
  registerMLPFamily();
  registerDreamerV3Family();
  registerTDMPC2Family();
  registerJEPAFamily();
  registerTokenFamily();
}
