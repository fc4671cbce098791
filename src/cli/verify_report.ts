/**
 * What `worldflux verify` reports (`quick_verify.json`), its options, and how the checks decide
 * the status.
 * @module
 */

import type { DeviceRequest } from "../backend/device.ts";
import type { TrustedGym } from "./data_env.ts";

/** Status of a quick verification. */
export type VerifyStatus = "pass" | "warning" | "fail";

/** One check of a verification. */
export interface VerifyCheck {
  /** What was checked (`run_manifest.json`, `return_gain`, ...). */
  readonly name: string;
  /** Whether it passed. */
  readonly ok: boolean;
  /** What was found, in words. */
  readonly detail: string;
  /** The measured value (quality checks). */
  readonly value?: number | null;
  /** The threshold it was compared with (quality checks). */
  readonly threshold?: number | null;
  /** False for informative checks that do not decide the status. */
  readonly gating?: boolean;
}

/** `quick_verify.json` (snake_case, as on disk). */
export interface QuickVerifyReport {
  /** Version of this layout. */
  readonly schema_version: 1;
  /** Always `worldflux-quick-verify`. */
  readonly kind: "worldflux-quick-verify";
  /** `pass`, `warning` or `fail`. */
  readonly status: VerifyStatus;
  /** One sentence on what the status means for this run. */
  readonly summary: string;
  /** Always `quick`. */
  readonly mode: "quick";
  /** `synthetic` (random data), `offline` (npz) or `real_env_smoke` (env). */
  readonly tier: "synthetic" | "offline" | "real_env_smoke" | null;
  /** The verified output directory (absolute). */
  readonly target: string;
  /** The worldflux version that verified. */
  readonly worldflux_version: string;
  /** When (ISO 8601). */
  readonly checked_at_utc: string;
  /** The run's classification (from its manifest). */
  readonly run_classification: string | null;
  /** The run's degraded modes (from its manifest). */
  readonly degraded_modes: readonly string[];
  /** The model verified. */
  readonly model: { readonly id: string; readonly family: string } | null;
  /** Device the model was evaluated on. */
  readonly device: string | null;
  /** Checks of the artifacts (any failure makes the status `fail`). */
  readonly artifacts: readonly VerifyCheck[];
  /** Quality checks (a missed gating one makes the status `warning`). */
  readonly quality: readonly VerifyCheck[];
  /** Measured values (losses, returns) by name. */
  readonly metrics: Readonly<Record<string, number | number[] | null>>;
  /** Seconds the verification took. */
  readonly wall_time_sec: number;
}

/** Options of {@link quickVerify}. */
export interface QuickVerifyOptions {
  /** Evaluation episodes per policy (default: the run's `[verify] episodes`). */
  readonly episodes?: number;
  /** Device to evaluate on (default `"auto"`). */
  readonly device?: DeviceRequest;
  /** Write `<target>/quick_verify.json` (default true). */
  readonly write?: boolean;
  /** Where progress notes go (default: nowhere). */
  readonly log?: (message: string) => void;
  /**
   * Plugin modules verify may load (resolved paths, from the project file; default none). The
   * run's manifest lists the plugins it used, but run_manifest.json is a data file: a plugin it
   * names is loaded only when it is in this list.
   */
  readonly plugins?: readonly string[];
  /**
   * What the project file trusts for a Gymnasium run (interpreter, Python path, a `module:Id`
   * id); default none: the interpreter is then `WORLDFLUX_PYTHON`, else `python3`.
   */
  readonly gym?: TrustedGym;
}

/** The status of checks, and the sentence that says what it means for the run. */
export function verdict(
  artifacts: readonly VerifyCheck[],
  quality: readonly VerifyCheck[],
): { status: VerifyStatus; summary: string } {
  const broken = artifacts.filter((a) => !a.ok);
  const missed = quality.filter((q) => !q.ok && q.gating !== false);
  const status: VerifyStatus = broken.length ? "fail" : missed.length ? "warning" : "pass";
  const summary = status === "fail"
    ? `artifacts are broken: ${broken.map((a) => `${a.name} (${a.detail})`).join("; ")}`
    : status === "warning"
    ? `the workflow completed and the artifacts are valid, but ${
      missed.map((q) => q.name).join(", ")
    } missed ${missed.length > 1 ? "their thresholds" : "its threshold"}: not a quality gate pass`
    : "the workflow completed, the artifacts are valid and the quality thresholds were met";
  return { status, summary };
}
