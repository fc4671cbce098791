/**
 * {@link PipeChannel}: synchronous request/reply with a child process over two named pipes, with
 * a timeout on every reply.
 *
 * Why this shape: worldflux environments are synchronous (`env.step(a)` returns the transition),
 * and Deno offers no synchronous I/O on a child's stdin/stdout, but it does on files, and a named
 * pipe (FIFO) is one. The child creates `req` and `rep` in a private temporary directory; the
 * calling thread writes request frames to `req` and reads reply frames from `rep` with blocking
 * `writeSync` / `readSync`: one pipe round trip per request, as between two Python processes
 * (~50 us; a worker relaying the child's stdout to the caller through a SharedArrayBuffer measured
 * 5-10x that, as every request then crossed two more threads).
 *
 * A blocking read cannot time out by itself, so a worker (`channel_worker.ts`) owns the child
 * (spawn, stderr, reaping) and is the watchdog: it kills the child once the caller has waited past
 * its deadline, which ends the read (end of file). Until the first frame arrives the caller holds
 * a write end of `rep` itself (so that opening never blocks), and the worker then wakes it with a
 * frame prefix no host sends. Named pipes need a POSIX system (Linux, macOS).
 *
 * The child is always reaped: by {@link PipeChannel.close} (end of input, then killed after a
 * grace time), by a timeout (killed at once, as its state is unknown), at program exit (`unload`
 * kills every live child), and when the program dies any other way (a signal, a crash): the
 * child's request pipe then reaches its end and the host exits. No signal listener is installed on
 * purpose: a listener replaces the signal's default action by a callback of the event loop, which
 * never runs while the program is in a synchronous loop (a training run stepping a Gymnasium
 * environment), so SIGTERM and Ctrl-C would not end such a program. The worker is a
 * `node:worker_threads` worker with `unref()`, so an open channel never keeps the program alive.
 * @module
 */

import type { Worker } from "node:worker_threads";
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
  /**
   * Its arguments, given the directory in which it must create the FIFOs `req` (it reads
   * requests there) and `rep` (it writes replies there), then open `req`, then `rep`.
   */
  readonly args: (fifoDir: string) => readonly string[];
  /** Extra environment variables (the rest is inherited). */
  readonly env?: Readonly<Record<string, string>>;
  /** Echo the child's stderr as it comes (default false: it is kept for error messages only). */
  readonly forwardStderr?: boolean;
  /** Milliseconds the child gets to exit after `close()` before it is killed (default 5000). */
  readonly exitGraceMs?: number;
}

/** Why a channel request failed; the bridge maps it to a typed error. */
export class ChannelError extends Error {
  /**
   * `spawn`, `exit` or `internal` (from the worker), `timeout`, `closed` (used after close), or
   * `platform` (no named pipes here).
   */
  readonly kind: ChannelFailureInfo["kind"] | "timeout" | "closed" | "platform";
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
function killAll(): void {
  for (const c of live) c.discard();
}

globalThis.addEventListener("unload", killAll);

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A child process spoken to with synchronous, timed request/reply frames. */
export class PipeChannel {
  private readonly ctl: Int32Array;
  private readonly deadline: Float64Array;
  private readonly data: Uint8Array;
  private readonly worker: Worker;
  private readonly dir: string;
  private req: Deno.FsFile | null = null;
  private rep: Deno.FsFile | null = null;
  /** Write ends held until the first frame (see the module documentation). */
  private startup: Deno.FsFile[] = [];
  private dead: ChannelError | null = null;
  private released = false;

  private constructor(options: ChannelOptions) {
    if (Deno.build.os === "windows") {
      throw new ChannelError(
        "platform",
        "the Gymnasium bridge talks to Python over named pipes, which Windows lacks: run " +
          "worldflux under Linux, macOS or WSL",
      );
    }
    this.ctl = new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4));
    this.deadline = new Float64Array(new SharedArrayBuffer(8));
    this.data = new Uint8Array(new SharedArrayBuffer(64 * 1024));
    this.dir = Deno.makeTempDirSync({ prefix: "worldflux-gym-" });
    const workerData: ChannelWorkerData = {
      ctl: this.ctl.buffer as SharedArrayBuffer,
      deadline: this.deadline.buffer as SharedArrayBuffer,
      data: this.data.buffer as SharedArrayBuffer,
      command: options.command,
      args: [...options.args(this.dir)],
      env: { ...options.env },
      replyPath: `${this.dir}/rep`,
      forwardStderr: options.forwardStderr ?? false,
      exitGraceMs: options.exitGraceMs ?? 5000,
    };
    // node:worker_threads is taken here, not imported: importing this module must not need Node
    // APIs (the module is also bundled for browsers, where no channel opens).
    const { Worker } = process.getBuiltinModule("node:worker_threads");
    this.worker = new Worker(new URL("./channel_worker.ts", import.meta.url), { workerData });
    this.worker.unref();
    this.worker.on("error", (e: Error) => {
      this.dead ??= new ChannelError("internal", `channel worker failed: ${e.message}`);
    });
    live.add(this);
  }

  /**
   * Starts `options.command` and waits (at most `timeoutMs`) for its first frame, which is
   * returned with the channel. Throws {@link ChannelError} (`spawn`, `exit`, `timeout`, ...).
   */
  static open(
    options: ChannelOptions,
    timeoutMs: number,
  ): { channel: PipeChannel; first: Uint8Array } {
    const channel = new PipeChannel(options);
    try {
      const first = channel.connect(timeoutMs);
      return { channel, first };
    } catch (e) {
      channel.close();
      throw e;
    }
  }

  /** The child's process id (0 before it started). */
  get pid(): number {
    return Atomics.load(this.ctl, CTL.PID);
  }

  /** Whether the channel can still carry requests. */
  get alive(): boolean {
    return !this.dead && !this.released;
  }

  private arm(timeoutMs: number): void {
    this.deadline[0] = Date.now() + timeoutMs;
    Atomics.store(this.ctl, CTL.BUSY, 1);
  }

  private disarm(): void {
    Atomics.store(this.ctl, CTL.BUSY, 0);
  }

  /** Waits for the FIFOs, opens them, and reads the first frame. */
  private connect(timeoutMs: number): Uint8Array {
    const req = `${this.dir}/req`;
    const rep = `${this.dir}/rep`;
    const end = performance.now() + timeoutMs;
    while (!(exists(req) && exists(rep))) {
      const state = Atomics.load(this.ctl, CTL.STATE);
      if (state === CTL.FAILED) throw this.failure("start-up");
      const left = end - performance.now();
      if (left <= 0) {
        this.kill();
        throw this.fail(new ChannelError("timeout", `no start-up within ${timeoutMs} ms`));
      }
      Atomics.wait(this.ctl, CTL.STATE, state, Math.min(left, 5));
    }
    // Read+write opens never block on a FIFO: the child's opens (req for reading, then rep for
    // writing) complete against them, whatever the order.
    this.startup = [
      Deno.openSync(req, { read: true, write: true }),
      Deno.openSync(rep, { read: true, write: true }),
    ];
    this.rep = Deno.openSync(rep, { read: true });
    this.arm(Math.max(1, end - performance.now()));
    let first: Uint8Array;
    try {
      first = this.readFrame("start-up");
    } finally {
      this.disarm();
    }
    // The child holds both pipes now: from here on its exit shows as end of file / broken pipe.
    Atomics.store(this.ctl, CTL.CONNECTED, 1);
    this.req = Deno.openSync(req, { write: true });
    for (const f of this.startup) f.close();
    this.startup = [];
    return first;
  }

  private readExact(buf: Uint8Array): boolean {
    let got = 0;
    while (got < buf.length) {
      const n = this.rep!.readSync(buf.subarray(got));
      if (n === null || n === 0) return false;
      got += n;
    }
    return true;
  }

  private readFrame(what: string): Uint8Array {
    const prefix = new Uint8Array(8);
    if (!this.readExact(prefix)) throw this.failure(what);
    const view = new DataView(prefix.buffer);
    const hlen = view.getUint32(0, true);
    const plen = view.getUint32(4, true);
    if (hlen === 0xffffffff) throw this.failure(what); // the worker's wake-up
    if (hlen + plen > MAX_FRAME_BYTES) {
      this.kill();
      throw this.fail(
        new ChannelError("internal", `reply to ${what} of ${hlen + plen} bytes is too large`),
      );
    }
    const frame = new Uint8Array(8 + hlen + plen);
    frame.set(prefix);
    if (!this.readExact(frame.subarray(8))) throw this.failure(what);
    return frame;
  }

  /** The error of a child that is gone (waits briefly for the worker's report). */
  private failure(what: string): ChannelError {
    const end = performance.now() + 5000;
    for (;;) {
      const s = Atomics.load(this.ctl, CTL.STATE);
      if (s === CTL.FAILED || s === CTL.CLOSED) break;
      const left = end - performance.now();
      if (left <= 0) {
        this.kill();
        break;
      }
      Atomics.wait(this.ctl, CTL.STATE, s, left);
    }
    if (Atomics.load(this.ctl, CTL.TIMED_OUT) === 1) {
      return this.fail(new ChannelError("timeout", `no reply to ${what} in time`));
    }
    const len = Atomics.load(this.ctl, CTL.LEN);
    let info: ChannelFailureInfo;
    try {
      info = JSON.parse(new TextDecoder().decode(this.data.slice(0, len)));
    } catch {
      info = { kind: "internal", message: `the child left during ${what} without a report` };
    }
    return this.fail(new ChannelError(info.kind, info.message, info));
  }

  private fail(e: ChannelError): ChannelError {
    this.dead ??= e;
    return this.dead;
  }

  /** Sends one frame and returns the reply frame; `what` names it in errors. */
  request(frame: Uint8Array, timeoutMs: number, what = "a request"): Uint8Array {
    if (this.released) throw new ChannelError("closed", "the channel is closed");
    if (this.dead) throw this.dead;
    this.arm(timeoutMs);
    try {
      let sent = 0;
      while (sent < frame.length) {
        try {
          sent += this.req!.writeSync(frame.subarray(sent));
        } catch {
          throw this.failure(what); // broken pipe: the child is gone
        }
      }
      return this.readFrame(what);
    } finally {
      this.disarm();
    }
  }

  /** Kills the child at once (SIGKILL); the worker then reaps it. Safe to call repeatedly. */
  kill(): void {
    const pid = this.pid;
    const s = Atomics.load(this.ctl, CTL.STATE);
    if (pid > 0 && s === CTL.RUNNING) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already exited */ }
    }
  }

  /** At program exit: kills the child and removes the pipes, without waiting for anything. */
  discard(): void {
    this.kill();
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* already gone */ }
  }

  /**
   * Closes the pipes (a well-behaved child exits on end of input), waits for the child to exit
   * (the worker kills it after the grace time), stops the worker and removes the pipes.
   * Idempotent; never throws.
   */
  close(timeoutMs = 15_000): void {
    if (this.released) return;
    this.released = true;
    for (const f of [this.req, this.rep, ...this.startup]) {
      try {
        f?.close();
      } catch { /* closed */ }
    }
    this.req = this.rep = null;
    this.startup = [];
    Atomics.store(this.ctl, CTL.CMD, CTL.SHUTDOWN);
    Atomics.notify(this.ctl, CTL.CMD);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const s = Atomics.load(this.ctl, CTL.STATE);
      if (s === CTL.FAILED || s === CTL.CLOSED) break;
      const left = end - performance.now();
      if (left <= 0) {
        this.kill();
        break;
      }
      Atomics.wait(this.ctl, CTL.STATE, s, left);
    }
    live.delete(this);
    void this.worker.terminate();
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* already gone */ }
  }
}
