/**
 * The handshake between {@link PipeChannel} (main thread, `channel.ts`) and its worker
 * (`channel_worker.ts`): a control block of Int32 words and a growable data buffer, both
 * SharedArrayBuffers. Whoever owns the data buffer is said by `STATE`:
 *
 * | state      | owner  | meaning                                                                  |
 * | ---------- | ------ | ------------------------------------------------------------------------ |
 * | `IDLE`     | main   | no request in flight                                                     |
 * | `REQUEST`  | worker | `LEN` bytes of request (0: none, just read the next frame) to send        |
 * | `RESPONSE` | main   | `LEN` bytes of the reply frame                                           |
 * | `FAILED`   | main   | `LEN` bytes of JSON ({@link ChannelFailureInfo}); the child is gone        |
 * | `SHUTDOWN` | worker | close the child's stdin, wait for it to exit (kill it after a grace time) |
 * | `CLOSED`   | main   | the child has been reaped                                                |
 *
 * Every transition is an `Atomics.store` + `Atomics.notify` on `STATE`; the main thread blocks in
 * `Atomics.wait` with a timeout, the worker in `Atomics.waitAsync` (its event loop keeps pumping
 * the child's pipes meanwhile).
 * @module
 */

/** Indices of the control words and the values of `STATE`. */
export const CTL = {
  /** Index: the state word. */
  STATE: 0,
  /** Index: bytes in the data buffer. */
  LEN: 1,
  /** Index: the child's pid (0 until it started). */
  PID: 2,
  /** Number of words. */
  WORDS: 8,
  IDLE: 0,
  REQUEST: 1,
  RESPONSE: 2,
  FAILED: 3,
  SHUTDOWN: 4,
  CLOSED: 5,
} as const;

/** Largest frame either side accepts (the data buffer's maximum size). */
export const MAX_FRAME_BYTES = 1 << 30;

/** What the worker is given at start (its `workerData`). */
export interface ChannelWorkerData {
  /** The control block. */
  readonly ctl: SharedArrayBuffer;
  /** The growable data buffer. */
  readonly data: SharedArrayBuffer;
  /** The program to run. */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Extra environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Copy the child's stderr to ours as it comes (it is always kept for error messages). */
  readonly forwardStderr: boolean;
  /** Milliseconds the child gets to exit after its stdin closes before it is killed. */
  readonly exitGraceMs: number;
}

/** Why the channel stopped (JSON in the data buffer with `STATE = FAILED`). */
export interface ChannelFailureInfo {
  /** `spawn`: the program did not start; `exit`: it ended; `internal`: the worker failed. */
  readonly kind: "spawn" | "exit" | "internal";
  /** A description (the spawn error's message, ...). */
  readonly message: string;
  /** The spawn error was "not found". */
  readonly notFound?: boolean;
  /** Exit code (null when a signal ended the child). */
  readonly code?: number | null;
  /** The ending signal. */
  readonly signal?: string | null;
  /** The end of the child's stderr. */
  readonly stderr?: string;
}
