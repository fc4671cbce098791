/**
 * Helpers of the contract tests: assertions on ContractErrors, console.warn capture, and tiny
 * stand-in families registered under the reference families' names.
 * @module
 */

import { registerBuiltinFamilies } from "../../src/models/registry_setup.ts";
import assert from "node:assert/strict";
import {
  ContractError,
  type ContractViolationKind,
  mlpConfigSchema,
  MLPWorldModel,
  WorldModelRegistry,
} from "../../mod.ts";

/** Runs `fn`, expects a ContractError of `kind` on `field` whose message contains every part. */
export function assertContractError(
  fn: () => unknown,
  want: { kind?: ContractViolationKind; field: string; includes: readonly string[] },
): ContractError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ContractError, `expected a ContractError, got ${String(err)}`);
  if (want.kind) assert.equal(err.kind, want.kind, err.message);
  assert.equal(err.field, want.field, err.message);
  assert.ok(err.message.includes(want.field), `message names the field: ${err.message}`);
  for (const part of want.includes) {
    assert.ok(err.message.includes(part), `message contains "${part}": ${err.message}`);
  }
  return err;
}

/** Calls `fn` with console.warn captured; returns the warnings. */
export async function captureWarnings(fn: () => unknown | Promise<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  const orig = console.warn;
  console.warn = (...a: unknown[]) => void warnings.push(a.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.warn = orig;
  }
  return warnings;
}

const tiny = { config: { latentDim: 4, hiddenDim: 8, depth: 1 } };

/** Presets of the reference families (reference/001), as tiny MLP stand-ins. */
export const REFERENCE_PRESETS: Readonly<Record<string, readonly string[]>> = {
  dreamerv3: ["ci", "size12m", "size25m", "size50m", "size100m", "size200m", "official_xl"],
  tdmpc2: ["ci", "5m", "proof_5m", "5m_legacy", "19m", "48m", "317m"],
};

/**
 * Registers stand-in `dreamerv3` and `tdmpc2` families (the mlp model under those names) with
 * the reference presets and tiers; returns a function that unregisters them.
 */
export function registerStandInFamilies(): () => void {
  const restore = unregisterReferenceFamilies();
  for (const [family, presets] of Object.entries(REFERENCE_PRESETS)) {
    WorldModelRegistry.register(family, {
      configSchema: mlpConfigSchema,
      factory: (config, ctx) => new MLPWorldModel(config, ctx),
      presets: Object.fromEntries(presets.map((p) => [
        p,
        {
          ...tiny,
          tier: p === "ci" || p === "5m_legacy"
            ? "compatibility" as const
            : p === "official_xl" || p === "proof_5m"
            ? "proof" as const
            : "reference" as const,
        },
      ])),
      maturity: "reference",
      tier: "reference",
      description: `stand-in ${family}`,
    });
  }
  return () => {
    for (const family of Object.keys(REFERENCE_PRESETS)) WorldModelRegistry.unregister(family);
    restore();
  };
}

/**
 * Unregisters the built-in `dreamerv3` and `tdmpc2` families (the tests of the registry
 * mechanism need those names free); returns a function that registers them again.
 */
export function unregisterReferenceFamilies(): () => void {
  for (const family of Object.keys(REFERENCE_PRESETS)) {
    try {
      WorldModelRegistry.unregister(family);
    } catch {
      // not registered
    }
  }
  return () => registerBuiltinFamilies();
}

const tempDirs: string[] = [];
globalThis.addEventListener("unload", () => {
  for (const d of tempDirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch {
      // already gone
    }
  }
});

/** A temporary directory removed when the test module exits. */
export async function tempDir(): Promise<string> {
  const d = await Deno.makeTempDir({ prefix: "wf-test-" });
  tempDirs.push(d);
  return d;
}
