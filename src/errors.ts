/**
 * Typed errors shared by every layer. Each error says what was expected, what came, and how to
 * fix it; the higher layers (core, models, training) subclass {@link WorldFluxError}.
 *
 * This module imports nothing so that every layer, from tensors up, may use it.
 * @module
 */

/** Base class of every error worldflux throws on purpose. */
export class WorldFluxError extends Error {
  /** A stable machine-readable code, e.g. `"shape_mismatch"`. */
  readonly code: string;
  /** Creates an error with a code and a message. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Shapes that do not fit an op (broadcasting, matmul inner dims, axis out of range, ...). */
export class ShapeError extends WorldFluxError {
  /** The op that refused its input, e.g. `"matmul"`. */
  readonly op: string;
  /** Creates a shape error for `op`. */
  constructor(op: string, message: string) {
    super("shape_mismatch", `${op}: ${message}`);
    this.op = op;
  }
}

/** A dtype an op does not accept, or two dtypes that do not combine. */
export class DTypeError extends WorldFluxError {
  /** The op that refused its input. */
  readonly op: string;
  /** Creates a dtype error for `op`. */
  constructor(op: string, message: string) {
    super("dtype_mismatch", `${op}: ${message}`);
    this.op = op;
  }
}

/** Device problems: no adapter, tensors on different devices, device not initialised. */
export class DeviceError extends WorldFluxError {
  /** Creates a device error. */
  constructor(message: string, options?: ErrorOptions) {
    super("device", message, options);
  }
}

/** A tensor or buffer that was used after `dispose()`. */
export class DisposedError extends WorldFluxError {
  /** Creates a use-after-dispose error. */
  constructor(message: string) {
    super("disposed", message);
  }
}

/** A kernel failed to compile or run (a WGSL compile error carries the compiler's message). */
export class KernelError extends WorldFluxError {
  /** Creates a kernel error. */
  constructor(message: string, options?: ErrorOptions) {
    super("kernel", message, options);
  }
}

/** A file that is missing, malformed, or does not match what was expected. */
export class FormatError extends WorldFluxError {
  /** Path of the offending file, when there is one. */
  readonly path?: string;
  /** Creates a file-format error. */
  constructor(message: string, path?: string) {
    super("format", path ? `${path}: ${message}` : message);
    this.path = path;
  }
}

/** Bad configuration: unknown field, wrong type, value out of range. */
export class ConfigError extends WorldFluxError {
  /** Creates a configuration error. */
  constructor(message: string) {
    super("config", message);
  }
}

/**
 * A size that came from a user or a file and would allocate more than the allocation limit
 * (`src/io/limits.ts`): refused before anything of that size is allocated.
 */
export class SizeLimitError extends WorldFluxError {
  /** What asked for the memory: the option, config key or file field (`"capacity"`). */
  readonly key: string;
  /** Bytes it would allocate. */
  readonly bytes: number;
  /** The limit it exceeds, in bytes. */
  readonly limit: number;
  /** Creates the error; `hint` says how to fix it. */
  constructor(key: string, bytes: number, limit: number, hint: string) {
    super(
      "size_limit",
      `${key}: needs ${fmtBytes(bytes)}, more than the allocation limit of ${fmtBytes(limit)}; ` +
        hint,
    );
    this.key = key;
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Formats a byte count as `1.5 GiB` for messages. */
export function fmtBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} bytes`;
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Formats a shape as `[2, 3]` for error messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
