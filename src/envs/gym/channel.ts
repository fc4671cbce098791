/**
 * {@link PipeChannel}: synchronous request/reply with a child process, with a timeout on every
 * reply.
 *
 * Why this shape: worldflux environments are synchronous (`env.step(a)` returns the transition),
 * and Deno has no synchronous I/O on a child's pipes. So a worker thread owns the child
 * (`Deno.Command` with piped stdin/stdout/stderr) and does the asynchronous I/O, while the calling
 * thread hands it a request through a SharedArrayBuffer and blocks in `Atomics.wait(..., timeout)`
 * until the reply frame is in the buffer (protocol: `channel_protocol.ts`). A round trip between
 * the threads costs ~20 us on top of the pipe I/O; the worker is a `node:worker_threads` worker
 * with `unref()`, so an open channel never keeps the program alive.
 *
 * The child is always reaped: by {@link PipeChannel.close} (stdin closed, then killed after a
 * grace time), by a timeout (killed at once, as its state is unknown), at program exit (`unload`
 * kills every live child) and on SIGINT/SIGTERM (children killed, then the program exits with
 * 128 + the signal's number, the default behaviour a signal listener would otherwise suppress).
 * @module
 */

import { Worker } from "node:worker_threads";
import {
  type ChannelFailureInfo,
  type ChannelWorkerData,
  CTL,
  MAX_FRAME_BYTES,
} from "./channel_protocol.ts";

/** Options of {@link PipeChannel.open}. */
export interface ChannelOptions {
  /** The program (a path or a name looked up on PATH). */
  readonly command: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** Extra environment variables (the rest is inherited). */
  readonly env?: Readonly<Record<string, string>>;
  /** Echo the child's stderr as it comes (default false: it is kept for error messages only). */
  readonly forwardStderr?: boolean;
  /** Milliseconds the child gets to exit after `close()` before it is killed (default 5000). */
  readonly exitGraceMs?: number;
}

/** Why a channel request failed; the bridge maps it to a typed error. */
export class ChannelError extends Error {
  /** `spawn`, `exit` or `internal` (from the worker), `timeout`, or `closed` (used after close). */
  readonly kind: ChannelFailureInfo["kind"] | "timeout" | "closed";
  /** Details from the worker (exit code, signal, stderr). */
  readonly info: ChannelFailureInfo | null;
  /** Creates the error. */
  constructor(kind: ChannelError["kind"], message: string, info: ChannelFailureInfo | null = null) {
    super(message);
    this.name = "ChannelError";
    this.kind = kind;
    this.info = info;
  }
}

const live = new Set<PipeChannel>();
const SIGNALS: readonly [Deno.Signal, number][] = [["SIGINT", 2], ["SIGTERM", 15]];
const signalHandlers = new Map<Deno.Signal, () => void>();

function killAll(): void {
  for (const c of live) c.kill();
}

function listenSignals(): void {
  if (signalHandlers.size || Deno.build.os === "windows") return;
  for (const [sig, num] of SIGNALS) {
    const handler = () => {
      killAll();
      unlistenSignals();
      Deno.exit(128 + num);
    };
    try {
      Deno.addSignalListener(sig, handler);
      signalHandlers.set(sig, handler);
    } catch { /* signals unavailable: unload and EOF still end the children */ }
  }
}

function unlistenSignals(): void {
  for (const [sig, handler] of signalHandlers) {
    try {
      Deno.removeSignalListener(sig, handler);
    } catch { /* already gone */ }
  }
  signalHandlers.clear();
}

globalThis.addEventListener("unload", killAll);

/** A child process spoken to with synchronous, timed request/reply frames. */
export class PipeChannel {
  private readonly ctl: Int32Array;
  private readonly data: SharedArrayBuffer;
  private readonly worker: Worker;
  private dead: ChannelError | null = null;
  private closed = false;

  private constructor(options: ChannelOptions) {
    this.ctl = new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4));
    this.data = new SharedArrayBuffer(1 << 16, { maxByteLength: MAX_FRAME_BYTES });
    // The first "request" (no bytes) asks the worker for the child's first frame.
    Atomics.store(this.ctl, CTL.STATE, CTL.REQUEST);
    Atomics.store(this.ctl, CTL.LEN, 0);
    const workerData: ChannelWorkerData = {
      ctl: this.ctl.buffer as SharedArrayBuffer,
      data: this.data,
      command: options.command,
      args: [...options.args],
      env: { ...options.env },
      forwardStderr: options.forwardStderr ?? false,
      exitGraceMs: options.exitGraceMs ?? 5000,
    };
    this.worker = new Worker(new URL("./channel_worker.ts", import.meta.url), { workerData });
    this.worker.unref();
    this.worker.on("error", (e: Error) => {
      this.dead ??= new ChannelError("internal", `channel worker failed: ${e.message}`);
    });
    live.add(this);
    listenSignals();
  }

  /**
   * Starts `options.command` and waits (at most `timeoutMs`) for its first frame, which is
   * returned with the channel. Throws {@link ChannelError} (`spawn`, `exit`, `timeout`).
   */
  static open(
    options: ChannelOptions,
    timeoutMs: number,
  ): { channel: PipeChannel; first: Uint8Array } {
    const channel = new PipeChannel(options);
    const first = channel.await("the first frame", timeoutMs);
    return { channel, first };
  }

  /** The child's process id (0 before it started). */
  get pid(): number {
    return Atomics.load(this.ctl, CTL.PID);
  }

  /** Whether the channel can still carry requests. */
  get alive(): boolean {
    return !this.dead && !this.closed;
  }

  /** Sends one frame and returns the reply frame (a fresh copy); `what` names it in errors. */
  request(frame: Uint8Array, timeoutMs: number, what = "a request"): Uint8Array {
    if (this.closed) throw new ChannelError("closed", "the channel is closed");
    if (this.dead) throw this.dead;
    if (frame.length > MAX_FRAME_BYTES) {
      throw new RangeError(`request frame of ${frame.length} bytes exceeds ${MAX_FRAME_BYTES}`);
    }
    if (frame.length > this.data.byteLength) this.data.grow(frame.length);
    new Uint8Array(this.data).set(frame);
    Atomics.store(this.ctl, CTL.LEN, frame.length);
    Atomics.store(this.ctl, CTL.STATE, CTL.REQUEST);
    Atomics.notify(this.ctl, CTL.STATE);
    return this.await(what, timeoutMs);
  }

  private await(what: string, timeoutMs: number): Uint8Array {
    const deadline = performance.now() + timeoutMs;
    let state = Atomics.load(this.ctl, CTL.STATE);
    while (state === CTL.REQUEST) {
      const left = deadline - performance.now();
      if (left <= 0 || this.dead) break;
      Atomics.wait(this.ctl, CTL.STATE, CTL.REQUEST, left);
      state = Atomics.load(this.ctl, CTL.STATE);
    }
    if (state === CTL.RESPONSE) {
      const len = Atomics.load(this.ctl, CTL.LEN);
      const out = new Uint8Array(this.data, 0, len).slice();
      Atomics.store(this.ctl, CTL.STATE, CTL.IDLE);
      return out;
    }
    if (state === CTL.FAILED) {
      const len = Atomics.load(this.ctl, CTL.LEN);
      const text = new TextDecoder().decode(new Uint8Array(this.data, 0, len).slice());
      let info: ChannelFailureInfo;
      try {
        info = JSON.parse(text);
      } catch {
        info = { kind: "internal", message: text };
      }
      this.dead = new ChannelError(info.kind, info.message, info);
      this.release();
      throw this.dead;
    }
    // No reply in time (or the worker itself failed): the child's state is unknown, kill it.
    const err = this.dead ??
      new ChannelError("timeout", `no reply to ${what} within ${timeoutMs} ms`);
    this.dead = err;
    this.kill();
    this.waitReaped(2000);
    this.release();
    throw err;
  }

  /** Kills the child at once (SIGKILL); the worker then reaps it. Safe to call repeatedly. */
  kill(): void {
    const pid = this.pid;
    if (pid > 0 && !this.closed) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already exited */ }
    }
  }

  /** Waits until the worker reports the child gone (FAILED after a kill, or CLOSED). */
  private waitReaped(ms: number): void {
    const deadline = performance.now() + ms;
    for (;;) {
      const s = Atomics.load(this.ctl, CTL.STATE);
      if (s === CTL.FAILED || s === CTL.CLOSED) return;
      const left = deadline - performance.now();
      if (left <= 0) return;
      Atomics.wait(this.ctl, CTL.STATE, s, left);
    }
  }

  private release(): void {
    this.closed = true;
    live.delete(this);
    if (live.size === 0) unlistenSignals();
    void this.worker.terminate();
  }

  /**
   * Closes the child's stdin (a well-behaved child exits on end of input), waits for it to exit
   * (killing it after the grace time) and stops the worker. Idempotent; never throws.
   */
  close(timeoutMs = 10_000): void {
    if (this.closed) return;
    if (!this.dead) {
      Atomics.store(this.ctl, CTL.STATE, CTL.SHUTDOWN);
      Atomics.notify(this.ctl, CTL.STATE);
      this.waitReaped(timeoutMs);
      if (Atomics.load(this.ctl, CTL.STATE) !== CTL.CLOSED) {
        this.kill();
        this.waitReaped(2000);
      }
    }
    this.release();
  }
}
