/**
 * `worldflux doctor`: what this machine offers worldflux — the Deno runtime, the CPU, the WebGPU
 * adapter (limits requested, features), which device `"auto"` picks and why, and the Python that
 * `gym:` environments would run (its version and those of gymnasium, numpy, ale-py and mujoco, or
 * what is missing and how to install it).
 * @module
 */

import { registerWebGPU } from "../backend/webgpu/backend.ts";
import { type AdapterReport, describeAdapter } from "../backend/webgpu/adapter.ts";
import { type AutoDecision, resolveAuto } from "../backend/device.ts";
import { GymBridge, prepareHostScript, resolvePython } from "../envs/gym/bridge.ts";
import { pipInstallHint } from "../envs/gym/errors.ts";
import { type Command, EXIT, formatRows, oneOf, parseCommandArgs, VERSION } from "./command.ts";

/** Everything `doctor` reports; `--format json` prints exactly this object. */
export interface DoctorReport {
  readonly worldflux: string;
  readonly runtime: {
    readonly deno: string;
    readonly v8: string;
    readonly typescript: string;
    readonly os: string;
    readonly arch: string;
    readonly cpus: number;
  };
  /**
   * Environment variables that change how WebGPU starts and which cpu kernels run (null when
   * unset or unreadable).
   */
  readonly env: {
    readonly DENO_WEBGPU_BACKEND: string | null;
    readonly XDG_RUNTIME_DIR: string | null;
    readonly WORLDFLUX_CPU_BACKEND: string | null;
    readonly WORLDFLUX_CPU_THREADS: string | null;
  };
  readonly webgpu: AdapterReport & {
    /** Whether the webgpu backend module loaded (and why not, when it did not). */
    readonly backendModule: { readonly loaded: boolean; readonly error?: string };
  };
  /** What `device: "auto"` resolves to on this machine. */
  readonly auto: AutoDecision;
  /** The Python of the Gymnasium bridge (`gym:` environments). */
  readonly gym: GymDoctorReport;
}

/** What `doctor` found about the Python that runs `gym:` environments. */
export interface GymDoctorReport {
  /** The interpreter as configured (`WORLDFLUX_PYTHON`, else `python3`). */
  readonly python: string;
  /** Where that name came from. */
  readonly source: string;
  /** Whether it started and answered the bridge's handshake. */
  readonly started: boolean;
  /** `sys.executable`. */
  readonly executable: string | null;
  /** Python version. */
  readonly pythonVersion: string | null;
  /** Versions of gymnasium, numpy, ale-py, mujoco, opencv-python (null: not installed). */
  readonly packages: Readonly<Record<string, string | null>>;
  /** Required packages that are missing (gymnasium, numpy). */
  readonly missing: readonly string[];
  /** Why it could not be asked (not found, crashed, ...). */
  readonly error: string | null;
  /** What to do about what is missing (a pip command), if anything. */
  readonly hint: string | null;
}

/**
 * Asks the bridge's interpreter (`python`, default as `gym:` environments resolve it) for its
 * versions; never throws.
 */
export async function collectGymReport(
  python?: string,
  timeoutMs = 20_000,
): Promise<GymDoctorReport> {
  const resolved = resolvePython(python);
  const source = resolved.source;
  python = resolved.python;
  const empty = { executable: null, pythonVersion: null, packages: {}, missing: [] };
  let bridge: GymBridge;
  try {
    await prepareHostScript();
    bridge = GymBridge.start({ python, startTimeoutMs: timeoutMs });
  } catch (e) {
    return {
      python,
      source,
      started: false,
      ...empty,
      error: (e as Error).message,
      hint: null,
    };
  }
  const h = bridge.hello;
  bridge.close();
  const extras = ["ale-py", "mujoco"].filter((p) => !h.packages[p]);
  let need = [...h.missing, ...extras.map((p) => (p === "mujoco" ? "gymnasium[mujoco]" : p))];
  if (need.includes("gymnasium[mujoco]")) need = need.filter((p) => p !== "gymnasium");
  return {
    python,
    source,
    started: true,
    executable: h.executable,
    pythonVersion: h.python,
    packages: h.packages,
    missing: h.missing,
    error: null,
    hint: need.length ? pipInstallHint(python, need) : null,
  };
}

function envVar(name: string): string | null {
  try {
    return Deno.env.get(name) ?? null;
  } catch {
    return null; // no --allow-env
  }
}

/** Installs the webgpu backend factory so that `resolveAuto()` can try it. */
function loadWebGPUBackend(): { loaded: boolean; error?: string } {
  try {
    registerWebGPU();
    return { loaded: true };
  } catch (e) {
    return { loaded: false, error: (e as Error).message.split("\n")[0].replace(/\.$/, "") };
  }
}

/** Collects the doctor report (never throws: problems are reported, not raised). */
export async function collectDoctorReport(): Promise<DoctorReport> {
  const adapter = await describeAdapter();
  const backendModule = loadWebGPUBackend();
  const auto = await resolveAuto();
  const gym = await collectGymReport();
  return {
    worldflux: VERSION,
    runtime: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
    },
    env: {
      DENO_WEBGPU_BACKEND: envVar("DENO_WEBGPU_BACKEND"),
      XDG_RUNTIME_DIR: envVar("XDG_RUNTIME_DIR"),
      WORLDFLUX_CPU_BACKEND: envVar("WORLDFLUX_CPU_BACKEND"),
      WORLDFLUX_CPU_THREADS: envVar("WORLDFLUX_CPU_THREADS"),
    },
    webgpu: { ...adapter, backendModule },
    auto: { device: auto.device, reason: auto.reason },
    gym,
  };
}

/** PCI vendor ids some WebGPU implementations report instead of a vendor name. */
const PCI_VENDORS: Record<number, string> = {
  0x1002: "AMD",
  0x1010: "Imagination",
  0x106b: "Apple",
  0x10de: "NVIDIA",
  0x13b5: "ARM",
  0x14e4: "Broadcom",
  0x5143: "Qualcomm",
  0x8086: "Intel",
  0x10005: "Mesa",
};

function fmtVendor(vendor: string): string {
  if (!/^\d+$/.test(vendor)) return vendor || "(not reported)";
  const id = Number(vendor);
  const name = PCI_VENDORS[id];
  return `0x${id.toString(16)}${name ? ` (${name})` : ""}`;
}

function fmtLimit(name: string, value: number): string {
  if (!/Size$/.test(name) || !name.startsWith("max") || value < 1024) return String(value);
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = value / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${value} (${shown} ${units[u]})`;
}

const yesNo = (b: boolean): string => (b ? "yes" : "no");

/** Renders the report as aligned `key: value` sections. */
export function formatDoctorReport(r: DoctorReport): string {
  const sections: string[] = [`worldflux ${r.worldflux}`];
  const section = (title: string, rows: [string, string][]) => {
    sections.push(`${title}\n${formatRows(rows)}`);
  };

  section("Runtime", [
    ["deno", `${r.runtime.deno} (v8 ${r.runtime.v8}, typescript ${r.runtime.typescript})`],
    ["os/arch", `${r.runtime.os}/${r.runtime.arch}`],
    ["cpus", String(r.runtime.cpus)],
    ["DENO_WEBGPU_BACKEND", r.env.DENO_WEBGPU_BACKEND ?? "(unset: Deno's default)"],
    ["XDG_RUNTIME_DIR", r.env.XDG_RUNTIME_DIR ?? "(unset)"],
    ["WORLDFLUX_CPU_BACKEND", r.env.WORLDFLUX_CPU_BACKEND ?? "(unset: wasm)"],
    ["WORLDFLUX_CPU_THREADS", r.env.WORLDFLUX_CPU_THREADS ?? "(unset: every logical core)"],
  ]);

  const w = r.webgpu;
  if (w.available) {
    section("WebGPU adapter", [
      ["vendor", fmtVendor(w.vendor)],
      ["architecture", w.architecture || "(not reported)"],
      ["device", w.device || "(not reported)"],
      ["description", w.description || "(not reported)"],
      ["fallback", w.isFallbackAdapter ? "yes (software adapter: runs on the CPU)" : "no"],
      [
        "backend module",
        w.backendModule.loaded ? "loaded" : `not loaded (${w.backendModule.error})`,
      ],
    ]);
    section("Features", Object.entries(w.features).map(([k, v]) => [k, yesNo(v)]));
    section(
      "Limits requested",
      Object.entries(w.limits).map(([k, v]) => [k, fmtLimit(k, v)]),
    );
  } else {
    section("WebGPU adapter", [
      ["available", "no"],
      ["reason", w.error ?? "unknown"],
    ]);
  }

  section('Device "auto"', [
    ["picks", r.auto.device],
    ["reason", r.auto.reason],
  ]);

  const g = r.gym;
  const version = (name: string) => g.packages[name] ?? "not installed";
  section("Gymnasium bridge (gym: environments)", [
    ["python", `${g.python} (${g.source})`],
    ...(g.started
      ? [
        ["executable", g.executable ?? ""],
        ["python version", g.pythonVersion ?? ""],
        ["gymnasium", version("gymnasium")],
        ["numpy", version("numpy")],
        ["ale-py", `${version("ale-py")} (ALE/ Atari ids)`],
        ["mujoco", `${version("mujoco")} (MuJoCo ids)`],
        ["opencv-python", `${version("opencv-python")} (optional: faster frame resizing)`],
      ] as [string, string][]
      : [["error", g.error ?? "unknown"]] as [string, string][]),
    ...(g.hint ? [["install", g.hint]] as [string, string][] : []),
  ]);
  return sections.join("\n\n");
}

const HELP = `Usage: worldflux doctor [--format text|json]

Reports what this machine offers worldflux: the Deno runtime, OS/arch and CPU
count, the WebGPU adapter (vendor, architecture, device, description, whether it
is a software fallback), the limits worldflux requests and the optional features
it uses (shader-f16, timestamp-query), which device "auto" picks and why, and
the Python that runs gym: environments (WORLDFLUX_PYTHON, else python3) with
its gymnasium, numpy, ale-py and mujoco versions, or what to install.

Options:
  --format <text|json>  Output format (default: text)
  -h, --help            Show this help`;

/** The `doctor` command. */
export const doctorCommand: Command = {
  name: "doctor",
  summary: 'Report the runtime, the WebGPU adapter and the device "auto" picks',
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseCommandArgs("doctor", args, {
      format: { type: "string", default: "text" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) {
      console.log(HELP);
      return EXIT.OK;
    }
    const format = oneOf("doctor", "--format", values.format as string, ["text", "json"]);
    const report = await collectDoctorReport();
    console.log(format === "json" ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
    return EXIT.OK;
  },
};
