/**
 * Typed errors of the Gymnasium bridge. Every one extends {@link GymBridgeError} (a
 * `WorldFluxError`), carries the interpreter it was about, and says what to do next: which
 * package to install (with the pip command), which id was meant, or the Python exception's last
 * traceback line. `code` is stable for programs: `gym_python_not_found`, `gym_dependency`,
 * `gym_unknown_env`, `gym_env_error`, `gym_crashed`, `gym_timeout`, `gym_protocol`,
 * `gym_unsupported`, `gym_closed`.
 * @module
 */

import { WorldFluxError } from "../../errors.ts";

/** The pip command that installs `packages` into `python`, with the offline-index hint. */
export function pipInstallHint(python: string, packages: readonly string[]): string {
  const quoted = packages.map((p) => (/[\[\]<>=]/.test(p) ? `"${p}"` : p)).join(" ");
  return `${python} -m pip install ${quoted} (offline machines with local package indexes: add ` +
    `--index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple)`;
}

/** Base class of the bridge's errors. */
export class GymBridgeError extends WorldFluxError {
  /** The interpreter the bridge ran (as given: a path or a command name). */
  readonly python: string;
  /** Creates the error. */
  constructor(code: string, python: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.python = python;
  }
}

/** The interpreter could not be started (not installed, not on PATH, not executable). */
export class PythonNotFoundError extends GymBridgeError {
  /** Creates the error; `source` says where the interpreter's name came from. */
  constructor(python: string, source: string, detail: string) {
    super(
      "gym_python_not_found",
      python,
      `cannot start the Python interpreter "${python}" (${source}): ${detail}. Install Python 3 ` +
        `with gymnasium and numpy, or point WORLDFLUX_PYTHON (or the python option) at one`,
    );
  }
}

/** A Python package the environment needs is missing (gymnasium, numpy, ale-py, mujoco, ...). */
export class GymDependencyError extends GymBridgeError {
  /** The missing packages (pip names), when known. */
  readonly missing: readonly string[];
  /** Creates the error; `detail` is what Python said. */
  constructor(python: string, missing: readonly string[], detail: string, install: string[]) {
    super(
      "gym_dependency",
      python,
      `${detail}${detail.endsWith(".") ? "" : "."} Install with: ${
        pipInstallHint(python, install)
      }`,
    );
    this.missing = missing;
  }
}

/** Gymnasium does not know the environment id. */
export class GymUnknownEnvError extends GymBridgeError {
  /** The id as given. */
  readonly envId: string;
  /** Creates the error; `detail` is Gymnasium's message (with close ids when there are some). */
  constructor(python: string, envId: string, detail: string) {
    super(
      "gym_unknown_env",
      python,
      `unknown Gymnasium environment "${envId}": ${detail} (ids of other packages need them ` +
        `installed; custom ids: "module:Id-v0" imports the module that registers them)`,
    );
    this.envId = envId;
  }
}

/** Fields shared by errors that report a Python exception. */
export interface PythonFailure {
  /** The exception's qualified type, e.g. `builtins.RuntimeError`. */
  readonly type: string;
  /** The exception's message. */
  readonly message: string;
  /** The whole Python traceback. */
  readonly traceback: string;
}

/** The last non-empty line of a Python traceback (`RuntimeError: boom`). */
export function tracebackLastLine(traceback: string): string {
  const lines = traceback.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? "";
}

/** The environment (or Gymnasium) raised while serving a request; the host is still alive. */
export class GymEnvError extends GymBridgeError {
  /** The request that failed (`make`, `reset`, `step`, ...). */
  readonly op: string;
  /** The Python exception's type. */
  readonly pythonType: string;
  /** The whole Python traceback. */
  readonly traceback: string;
  /** Creates the error. */
  constructor(python: string, envId: string, op: string, failure: PythonFailure) {
    super(
      "gym_env_error",
      python,
      `${envId}: ${op} raised in Python: ${
        tracebackLastLine(failure.traceback) || `${failure.type}: ${failure.message}`
      }`,
    );
    this.op = op;
    this.pythonType = failure.type;
    this.traceback = failure.traceback;
  }
}

/** The Python process died (crash, killed, or it exited on its own). */
export class GymCrashError extends GymBridgeError {
  /** Exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it, if any. */
  readonly signal: string | null;
  /** The end of what the process wrote to stderr. */
  readonly stderr: string;
  /** Creates the error; `doing` says what the bridge was waiting for. */
  constructor(
    python: string,
    doing: string,
    exitCode: number | null,
    signal: string | null,
    stderr: string,
  ) {
    const how = signal ? `killed by ${signal}` : `exited with code ${exitCode}`;
    const last = tracebackLastLine(stderr);
    super(
      "gym_crashed",
      python,
      `the Gymnasium host (${python}) ${how} during ${doing}` +
        (last ? `: ${last}` : " without a message on stderr"),
    );
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderr = stderr;
  }
}

/** No reply within the timeout; the host was killed and the environment cannot be used again. */
export class GymTimeoutError extends GymBridgeError {
  /** The timeout that passed, in milliseconds. */
  readonly timeoutMs: number;
  /** Creates the error. */
  constructor(python: string, doing: string, timeoutMs: number, hint: string) {
    super(
      "gym_timeout",
      python,
      `the Gymnasium host (${python}) did not answer ${doing} within ${timeoutMs} ms; it was ` +
        `killed (${hint})`,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** The host spoke another protocol version, or sent a malformed frame. */
export class GymProtocolError extends GymBridgeError {
  /** Creates the error. */
  constructor(python: string, message: string) {
    super("gym_protocol", python, message);
  }
}

/** The environment has a space or a feature the bridge does not offer (state, render, space kind). */
export class GymUnsupportedError extends GymBridgeError {
  /** Creates the error. */
  constructor(python: string, message: string) {
    super("gym_unsupported", python, message);
  }
}
