/**
 * The worker of a {@link PipeChannel}: owns the child process (`Deno.Command`, piped stdin,
 * stdout and stderr), moves request frames from the shared buffer to the child's stdin and
 * reply frames from its stdout back, keeps the end of its stderr for error messages, and reaps
 * it. See `channel_protocol.ts` for the handshake; frames are `u32 header_len | u32 payload_len |
 * header | payload` (little-endian), which is all this side knows of their content.
 * @module
 */

import { workerData } from "node:worker_threads";
import {
  type ChannelFailureInfo,
  type ChannelWorkerData,
  CTL,
  MAX_FRAME_BYTES,
} from "./channel_protocol.ts";

const STDERR_KEEP = 64 * 1024;

const cfg = workerData as ChannelWorkerData;
const ctl = new Int32Array(cfg.ctl);
const data = cfg.data;

function setState(state: number): void {
  Atomics.store(ctl, CTL.STATE, state);
  Atomics.notify(ctl, CTL.STATE);
}

function publish(bytes: Uint8Array, state: number): void {
  if (bytes.length > data.byteLength) data.grow(bytes.length);
  new Uint8Array(data).set(bytes);
  Atomics.store(ctl, CTL.LEN, bytes.length);
  setState(state);
}

function fail(info: ChannelFailureInfo): void {
  publish(new TextEncoder().encode(JSON.stringify(info)), CTL.FAILED);
}

/** Waits until the main thread hands over a request or asks to shut down. */
async function nextCommand(): Promise<number> {
  for (;;) {
    const s = Atomics.load(ctl, CTL.STATE);
    if (s === CTL.REQUEST || s === CTL.SHUTDOWN) return s;
    const w = Atomics.waitAsync(ctl, CTL.STATE, s);
    if (w.async) await w.value;
  }
}

/** Reads whole frames from a byte stream. */
class FrameReader {
  private buf = new Uint8Array(1 << 16);
  private start = 0;
  private end = 0;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  private frameLength(): number {
    if (this.end - this.start < 8) return -1;
    const v = new DataView(this.buf.buffer, this.start, 8);
    return 8 + v.getUint32(0, true) + v.getUint32(4, true);
  }

  /** The next frame (a fresh copy), or null at end of stream. */
  async next(): Promise<Uint8Array | null> {
    for (;;) {
      const n = this.frameLength();
      if (n > MAX_FRAME_BYTES) throw new Error(`reply frame of ${n} bytes is too large`);
      if (n >= 0 && this.end - this.start >= n) {
        const frame = this.buf.slice(this.start, this.start + n);
        this.start += n;
        return frame;
      }
      const { value, done } = await this.reader.read();
      if (done) return null;
      this.append(value);
    }
  }

  private append(chunk: Uint8Array): void {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const need = live + chunk.length;
      if (need > this.buf.length) {
        const next = new Uint8Array(Math.max(need, this.buf.length * 2));
        next.set(this.buf.subarray(this.start, this.end));
        this.buf = next;
      } else this.buf.copyWithin(0, this.start, this.end);
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/** Keeps the last {@link STDERR_KEEP} bytes of a stream (optionally echoing it). */
async function pumpStderr(
  stream: ReadableStream<Uint8Array>,
  tail: { bytes: Uint8Array },
): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch {
      return;
    }
    if (r.done) return;
    if (cfg.forwardStderr) {
      try {
        Deno.stderr.writeSync(r.value);
      } catch { /* stderr closed: keep collecting */ }
    }
    const joined = new Uint8Array(tail.bytes.length + r.value.length);
    joined.set(tail.bytes);
    joined.set(r.value, tail.bytes.length);
    tail.bytes = joined.length > STDERR_KEEP ? joined.slice(joined.length - STDERR_KEEP) : joined;
  }
}

function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function serve(): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cfg.command, {
      args: [...cfg.args],
      env: { ...cfg.env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    fail({
      kind: "spawn",
      message: (e as Error).message,
      notFound: e instanceof Deno.errors.NotFound,
    });
    return;
  }
  Atomics.store(ctl, CTL.PID, child.pid);
  const tail = { bytes: new Uint8Array(0) };
  const stderrDone = pumpStderr(child.stderr, tail);
  const frames = new FrameReader(child.stdout);
  const writer = child.stdin.getWriter();
  const stderrText = () => new TextDecoder().decode(tail.bytes);

  const reportExit = async () => {
    const status = await child.status;
    await within(stderrDone, 2000);
    fail({
      kind: "exit",
      message: "the process ended",
      code: status.signal ? null : status.code,
      signal: status.signal,
      stderr: stderrText(),
    });
  };

  for (;;) {
    const cmd = await nextCommand();
    if (cmd === CTL.SHUTDOWN) {
      try {
        await writer.close();
      } catch { /* already gone */ }
      let status = await within(child.status, cfg.exitGraceMs);
      if (!status) {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
        status = await child.status;
      }
      await within(stderrDone, 1000);
      setState(CTL.CLOSED);
      return;
    }
    const len = Atomics.load(ctl, CTL.LEN);
    if (len > 0) {
      const bytes = new Uint8Array(data).slice(0, len);
      try {
        await writer.write(bytes);
      } catch {
        // The child is gone: reading its stdout below reports how it ended.
      }
    }
    let frame: Uint8Array | null;
    try {
      frame = await frames.next();
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      fail({ kind: "internal", message: (e as Error).message, stderr: stderrText() });
      return;
    }
    if (!frame) {
      await reportExit();
      return;
    }
    publish(frame, CTL.RESPONSE);
  }
}

serve().catch((e) => {
  fail({ kind: "internal", message: `channel worker: ${(e as Error)?.stack ?? e}` });
});
