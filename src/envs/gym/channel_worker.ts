/**
 * The worker of a {@link PipeChannel}: starts the child (`Deno.Command`), keeps the end of its
 * stderr for error messages, reaps it, and is the watchdog of every reply: when the caller has
 * waited past its deadline the child is killed, which ends the caller's blocking read. It never
 * touches the request/reply frames themselves (the calling thread reads and writes the named
 * pipes synchronously); see `channel_protocol.ts` for the shared words.
 * @module
 */

import { workerData } from "node:worker_threads";
import {
  type ChannelFailureInfo,
  type ChannelWorkerData,
  CTL,
  WAKE_PREFIX,
  WATCHDOG_IDLE_MS,
  WATCHDOG_MS,
} from "./channel_protocol.ts";

const KEEP = 64 * 1024;

const cfg = workerData as ChannelWorkerData;
const ctl = new Int32Array(cfg.ctl);
const deadline = new Float64Array(cfg.deadline);
const data = new Uint8Array(cfg.data);

function setState(state: number): void {
  Atomics.store(ctl, CTL.STATE, state);
  Atomics.notify(ctl, CTL.STATE);
}

function report(info: ChannelFailureInfo): void {
  let bytes = new TextEncoder().encode(JSON.stringify(info));
  if (bytes.length > data.length) {
    bytes = new TextEncoder().encode(
      JSON.stringify({ ...info, stderr: info.stderr?.slice(-8192) }),
    );
  }
  data.set(bytes.subarray(0, data.length));
  Atomics.store(ctl, CTL.LEN, Math.min(bytes.length, data.length));
}

/** Wakes a caller blocked on its first read (it holds a write end too, so no end of file). */
function wakeCaller(): void {
  if (Atomics.load(ctl, CTL.CONNECTED) === 1) return;
  try {
    // Read+write never blocks on a FIFO (a writer-only open would wait for a reader).
    const f = Deno.openSync(cfg.replyPath, { read: true, write: true });
    try {
      f.writeSync(WAKE_PREFIX);
    } finally {
      f.close();
    }
  } catch { /* the caller already left */ }
}

/** Keeps the last {@link KEEP} bytes of a stream (optionally echoing it to our stderr). */
async function pump(
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
      } catch { /* our stderr is closed: keep collecting */ }
    }
    const joined = new Uint8Array(tail.bytes.length + r.value.length);
    joined.set(tail.bytes);
    joined.set(r.value, tail.bytes.length);
    tail.bytes = joined.length > KEEP ? joined.slice(joined.length - KEEP) : joined;
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
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    report({
      kind: "spawn",
      message: (e as Error).message,
      notFound: e instanceof Deno.errors.NotFound,
    });
    setState(CTL.FAILED);
    wakeCaller();
    return;
  }
  Atomics.store(ctl, CTL.PID, child.pid);
  setState(CTL.RUNNING);
  const tail = { bytes: new Uint8Array(0) };
  const drained = Promise.all([pump(child.stdout, tail), pump(child.stderr, tail)]);

  let exited = false;
  const kill = () => {
    if (exited) return;
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  };
  // Looks at the caller's deadline a few times a second, and at the deadline itself when a reply
  // is awaited (so a fast step costs this thread nothing, a slow one at most WATCHDOG_MS late).
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const look = () => {
    let delay = WATCHDOG_IDLE_MS;
    if (Atomics.load(ctl, CTL.BUSY) === 1) {
      const left = deadline[0] - Date.now();
      if (left < 0) {
        Atomics.store(ctl, CTL.TIMED_OUT, 1);
        kill();
        return;
      }
      delay = Math.min(Math.max(left + 1, WATCHDOG_MS), WATCHDOG_IDLE_MS);
    }
    watchdog = setTimeout(look, delay);
  };
  look();

  // The caller's SHUTDOWN: the child exits on end of input; kill it if it does not in time.
  void (async () => {
    while (Atomics.load(ctl, CTL.CMD) !== CTL.SHUTDOWN && !exited) {
      const w = Atomics.waitAsync(ctl, CTL.CMD, Atomics.load(ctl, CTL.CMD), 1000);
      if (w.async) await w.value;
    }
    if (exited) return;
    if (!(await within(child.status, cfg.exitGraceMs))) kill();
  })();

  const status = await child.status;
  exited = true;
  clearTimeout(watchdog);
  await within(drained, 2000);
  if (Atomics.load(ctl, CTL.CMD) === CTL.SHUTDOWN) {
    setState(CTL.CLOSED);
    return;
  }
  report({
    kind: "exit",
    message: "the process ended",
    code: status.signal ? null : status.code,
    signal: status.signal,
    stderr: new TextDecoder().decode(tail.bytes),
  });
  setState(CTL.FAILED);
  wakeCaller();
}

serve().catch((e) => {
  report({ kind: "internal", message: `channel worker: ${(e as Error)?.stack ?? e}` });
  setState(CTL.FAILED);
  wakeCaller();
});
