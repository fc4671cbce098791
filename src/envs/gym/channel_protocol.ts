/**
 * What {@link PipeChannel} (the calling thread, `channel.ts`) and its worker
 * (`channel_worker.ts`) share: a control block of Int32 words, a Float64 deadline and a data
 * buffer for the child's failure report, all SharedArrayBuffers.
 *
 * | word        | written by | meaning                                                         |
 * | ----------- | ---------- | --------------------------------------------------------------- |
 * | `STATE`     | worker     | `STARTING`, `RUNNING`, `FAILED` (report in the data buffer), `CLOSED` |
 * | `CMD`       | caller     | `SHUTDOWN`: the caller is done; reap the child (kill it after a grace time) |
 * | `PID`       | worker     | the child's process id                                          |
 * | `BUSY`      | caller     | 1 while the caller waits for a reply: the watchdog is armed     |
 * | `TIMED_OUT` | worker     | 1 when the watchdog killed the child at the deadline            |
 * | `CONNECTED` | caller     | 1 once the first frame arrived (no wake-up frame needed after)  |
 * | `LEN`       | worker     | bytes of the failure report (JSON {@link ChannelFailureInfo})   |
 * @module
 */

/** Indices of the control words and their values. */
export const CTL = {
  STATE: 0,
  CMD: 1,
  PID: 2,
  BUSY: 3,
  TIMED_OUT: 4,
  CONNECTED: 5,
  LEN: 6,
  /** Number of words. */
  WORDS: 8,
  STARTING: 0,
  RUNNING: 1,
  FAILED: 2,
  CLOSED: 3,
  SHUTDOWN: 1,
} as const;

/** Largest frame either side accepts. */
export const MAX_FRAME_BYTES = 1 << 30;

/**
 * A frame prefix no host sends (header length 0xFFFFFFFF): the worker writes it into the reply
 * pipe to wake a caller blocked before the first frame when the child died or timed out.
 */
export const WAKE_PREFIX: Uint8Array = new Uint8Array(8).fill(0xff);

/** Least milliseconds between two looks of the watchdog at the deadline (its lateness at most). */
export const WATCHDOG_MS = 10;

/**
 * Most milliseconds between two looks: a request armed while the watchdog sleeps is noticed this
 * late at worst (a timeout fires at most this much after its deadline).
 */
export const WATCHDOG_IDLE_MS = 250;

/** What the worker is given at start (its `workerData`). */
export interface ChannelWorkerData {
  /** The control block. */
  readonly ctl: SharedArrayBuffer;
  /** One Float64: the deadline of the reply awaited (`Date.now()` milliseconds). */
  readonly deadline: SharedArrayBuffer;
  /** Room for the failure report (64 KiB). */
  readonly data: SharedArrayBuffer;
  /** The program to run. */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Extra environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** The reply pipe (for the wake-up frame). */
  readonly replyPath: string;
  /** Copy the child's stderr to ours as it comes (it is always kept for error messages). */
  readonly forwardStderr: boolean;
  /** Milliseconds the child gets to exit after `SHUTDOWN` before it is killed. */
  readonly exitGraceMs: number;
}

/** Why the child is gone (JSON in the data buffer with `STATE = FAILED`). */
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
  /** The end of the child's stderr (and stdout). */
  readonly stderr?: string;
}
