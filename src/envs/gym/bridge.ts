/**
 * {@link GymBridge}: one Gymnasium host process (`host.py`) and the typed calls to it.
 *
 * The interpreter is the `python` option, else `WORLDFLUX_PYTHON`, else `python3` on PATH. The
 * host program ships in this package and is found next to this module (`import.meta.url`): run
 * from its file when the package is on disk, from its text (`python -c`, fetched once by
 * {@link prepareHostScript}) when it was imported over HTTP. It needs only the standard library
 * at start-up: the first frame it sends (`hello`) carries the protocol version and the versions of
 * Python, gymnasium, numpy, ale-py and mujoco, which `worldflux doctor` shows as they are.
 *
 * Every failure becomes a typed error of `errors.ts`: the interpreter missing, a package missing
 * (with the pip command), an unknown id, the environment raising (its traceback's last line), the
 * process dying (the last line of its stderr), or no reply within the timeout.
 * @module
 */

import { ChannelError, PipeChannel } from "./channel.ts";
import {
  GymBridgeError,
  GymCrashError,
  GymDependencyError,
  GymEnvError,
  GymProtocolError,
  GymTimeoutError,
  GymUnknownEnvError,
  GymUnsupportedError,
  PythonNotFoundError,
} from "./errors.ts";
import { decodeFrame, encodeFrame, type Frame, type WireArray } from "./wire.ts";

/** Version of the frame protocol this side speaks (`PROTOCOL` in `host.py`). */
export const GYM_PROTOCOL = 1;

/** Default timeout of a reply (reset, step, ...), in milliseconds. */
export const DEFAULT_GYM_TIMEOUT_MS = 60_000;
/** Default timeout of start-up and `make` (imports gymnasium, ale-py or mujoco), in ms. */
export const DEFAULT_GYM_MAKE_TIMEOUT_MS = 180_000;

/** Options of {@link GymBridge.start}. */
export interface GymBridgeOptions {
  /** Interpreter (default: `WORLDFLUX_PYTHON`, else `python3`). */
  readonly python?: string;
  /** Timeout of the host's first frame, in ms (default {@link DEFAULT_GYM_MAKE_TIMEOUT_MS}). */
  readonly startTimeoutMs?: number;
  /** Echo the host's stderr (Gymnasium warnings, prints of environments); default false. */
  readonly forwardStderr?: boolean;
}

/** The host's handshake. */
export interface GymHello {
  /** Protocol version. */
  readonly protocol: number;
  /** Python version, e.g. `3.11.7`. */
  readonly python: string;
  /** `sys.executable`. */
  readonly executable: string;
  /** Installed versions (null when absent) of gymnasium, numpy, ale-py, mujoco, opencv-python. */
  readonly packages: Readonly<Record<string, string | null>>;
  /** Required packages that are absent (gymnasium, numpy). */
  readonly missing: readonly string[];
  /** The host's process id. */
  readonly pid: number;
}

/** The interpreter to run and where that choice came from (for error messages). */
export function resolvePython(python?: string): { python: string; source: string } {
  if (python) return { python, source: "the python option" };
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("WORLDFLUX_PYTHON");
  } catch { /* no --allow-env: use the default */ }
  if (fromEnv) return { python: fromEnv, source: "WORLDFLUX_PYTHON" };
  return { python: "python3", source: "the default; set WORLDFLUX_PYTHON to choose another" };
}

const SCRIPT_URL = new URL("./host.py", import.meta.url);
let scriptText: string | null = null;

/**
 * Fetches the host program when this module was loaded over HTTP (a no-op for a local package);
 * `makeEnv` calls it, so only {@link GymBridge.start} used directly from a remote import needs it.
 */
export async function prepareHostScript(): Promise<void> {
  if (SCRIPT_URL.protocol === "file:" || scriptText !== null) return;
  const res = await fetch(SCRIPT_URL);
  if (!res.ok) {
    throw new Error(`cannot fetch the Gymnasium host program ${SCRIPT_URL}: ${res.status}`);
  }
  scriptText = await res.text();
}

function hostArgs(): (fifoDir: string) => string[] {
  // -B: no .pyc files next to the package's sources.
  if (SCRIPT_URL.protocol === "file:") {
    // The file's path (named pipes, hence this bridge, exist on POSIX systems only).
    const path = decodeURIComponent(SCRIPT_URL.pathname);
    return (dir) => ["-B", path, "--fifo", dir];
  }
  if (scriptText === null) {
    throw new Error(
      `the Gymnasium host program is remote (${SCRIPT_URL}): await prepareHostScript() first ` +
        `(makeEnv does)`,
    );
  }
  const text = scriptText;
  return (dir) => ["-B", "-c", text, "--fifo", dir];
}

/** Pip names to install for Python module / package names a host reported missing. */
function installNames(missing: readonly string[], message: string): string[] {
  const map: Record<string, string> = {
    ale_py: "ale-py",
    "ale-py": "ale-py",
    mujoco: "gymnasium[mujoco]",
    gymnasium: "gymnasium",
    numpy: "numpy",
    cv2: "opencv-python",
    pygame: "gymnasium[classic-control]",
    Box2D: "gymnasium[box2d]",
  };
  const out = missing.map((m) => map[m] ?? map[m.split(".")[0]] ?? m.split(".")[0]);
  if (out.length === 0) {
    const m = /pip install (["']?)([^"'\s]+)\1/.exec(message);
    if (m) out.push(m[2]);
  }
  return [...new Set(out.length ? out : ["gymnasium"])];
}

/** A reply's error fields (`host.py`'s `error_reply`). */
interface ErrorReply {
  readonly kind: string;
  readonly type: string;
  readonly message: string;
  readonly traceback: string;
  readonly missing: readonly string[];
}

/** One Gymnasium host process. */
export class GymBridge {
  /** The interpreter as given. */
  readonly python: string;
  /** Where the interpreter's name came from. */
  readonly pythonSource: string;
  /** The host's handshake. */
  readonly hello: GymHello;
  private readonly channel: PipeChannel;
  /** The environment id, once made (for messages). */
  envId = "(no environment)";

  private constructor(python: string, source: string, channel: PipeChannel, hello: GymHello) {
    this.python = python;
    this.pythonSource = source;
    this.channel = channel;
    this.hello = hello;
  }

  /**
   * Starts a host and reads its handshake (synchronously, waiting at most `startTimeoutMs`).
   * Throws {@link PythonNotFoundError}, {@link GymCrashError}, {@link GymTimeoutError} or
   * {@link GymProtocolError} (another protocol version).
   */
  static start(options: GymBridgeOptions = {}): GymBridge {
    const { python, source } = resolvePython(options.python);
    const timeout = options.startTimeoutMs ?? DEFAULT_GYM_MAKE_TIMEOUT_MS;
    let opened: ReturnType<typeof PipeChannel.open>;
    try {
      opened = PipeChannel.open({
        command: python,
        args: hostArgs(),
        env: { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
        forwardStderr: options.forwardStderr,
      }, timeout);
    } catch (e) {
      throw channelFailure(e, python, source, "start-up", timeout);
    }
    const { channel, first } = opened;
    let hello: GymHello;
    try {
      const f = decodeFrame(first);
      if (f.header.op !== "hello") throw new Error(`expected hello, got ${f.header.op}`);
      hello = f.header as unknown as GymHello;
    } catch (e) {
      channel.close();
      throw new GymProtocolError(
        python,
        `${python} did not answer as the worldflux Gymnasium host: ${(e as Error).message}`,
      );
    }
    if (hello.protocol !== GYM_PROTOCOL) {
      channel.close();
      throw new GymProtocolError(
        python,
        `the Gymnasium host speaks protocol ${hello.protocol}, this worldflux speaks ` +
          `${GYM_PROTOCOL}: reinstall worldflux (the host program ships with it)`,
      );
    }
    return new GymBridge(python, source, channel, hello);
  }

  /** Whether the host can still serve requests. */
  get alive(): boolean {
    return this.channel.alive;
  }

  /** The host's process id. */
  get pid(): number {
    return this.channel.pid;
  }

  /**
   * Sends request `op` and returns the reply; a Python exception becomes a typed error, the host
   * dying a {@link GymCrashError}, no reply in `timeoutMs` a {@link GymTimeoutError}.
   */
  call(
    op: string,
    fields: Record<string, unknown>,
    arrays: readonly (readonly [string, WireArray, readonly number[]])[],
    timeoutMs: number,
  ): Frame {
    let reply: Uint8Array;
    try {
      reply = this.channel.request(encodeFrame({ op, ...fields }, arrays), timeoutMs, op);
    } catch (e) {
      throw channelFailure(e, this.python, this.pythonSource, `${this.envId} ${op}`, timeoutMs);
    }
    let frame: Frame;
    try {
      frame = decodeFrame(reply);
    } catch (e) {
      this.channel.close();
      throw new GymProtocolError(this.python, `malformed reply to ${op}: ${(e as Error).message}`);
    }
    if (frame.header.op === "error") {
      throw this.replyError(op, frame.header as unknown as ErrorReply);
    }
    return frame;
  }

  /** The typed error of an error reply. */
  private replyError(op: string, r: ErrorReply): GymBridgeError {
    const python = this.python;
    switch (r.kind) {
      case "dependency":
        return new GymDependencyError(
          python,
          r.missing,
          `${this.envId}: ${r.message}`,
          installNames(r.missing, r.message),
        );
      case "unknown_env":
        return new GymUnknownEnvError(python, this.envId, r.message);
      case "unsupported":
        return new GymUnsupportedError(python, `${this.envId}: ${op}: ${r.message}`);
      case "bad_request":
      case "protocol":
        return new GymProtocolError(python, `${this.envId}: ${op}: ${r.message}`);
      default:
        return new GymEnvError(python, this.envId, op, r);
    }
  }

  /** Asks the host to exit and reaps it (killing it after a grace time). Idempotent. */
  close(): void {
    if (this.channel.alive) {
      try {
        this.channel.request(encodeFrame({ op: "close" }), 10_000, "close");
      } catch { /* gone or hung: close() below reaps it */ }
    }
    this.channel.close();
  }
}

/** Maps a channel failure to the bridge's typed errors. */
function channelFailure(
  e: unknown,
  python: string,
  source: string,
  doing: string,
  timeoutMs: number,
): Error {
  if (!(e instanceof ChannelError)) return e as Error;
  switch (e.kind) {
    case "spawn":
      return new PythonNotFoundError(python, source, e.message);
    case "exit": {
      const info = e.info;
      return new GymCrashError(
        python,
        doing,
        info?.code ?? null,
        info?.signal ?? null,
        info?.stderr ?? "",
      );
    }
    case "timeout":
      return new GymTimeoutError(
        python,
        doing,
        timeoutMs,
        "raise timeoutMs for slow environments; the environment cannot be used again",
      );
    case "closed":
      return new GymBridgeError("gym_closed", python, `${doing}: the environment is closed`);
    case "platform":
      return new GymUnsupportedError(python, e.message);
    default:
      return new GymProtocolError(python, `${doing}: ${e.message}`);
  }
}
