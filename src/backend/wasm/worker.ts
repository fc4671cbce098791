/**
 * A kernel worker: instantiates the core kernel module on the shared heap, then runs tasks
 * posted through a shared control block (no messages on the hot path). It exits by itself after
 * an idle period, so it never keeps a finished program alive.
 * @module
 */

/// <reference lib="deno.worker" />

import { CTL, JOB, POOL_PROTOCOL } from "./pool_protocol.ts";

interface Init {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly ctl: SharedArrayBuffer;
  readonly job: SharedArrayBuffer;
  readonly names: string[];
  readonly idleMs: number;
  readonly protocol: number;
}

self.onmessage = (e: MessageEvent<Init>) => {
  self.onmessage = null;
  const { memory, module, names, idleMs, protocol } = e.data;
  if (protocol !== POOL_PROTOCOL) {
    // The pool retires this thread with the reason (its onmessage).
    self.postMessage({
      failed: `pool protocol ${protocol}, worker protocol ${POOL_PROTOCOL}: the worker module ` +
        `changed on disk while this program ran; restart the program`,
    });
    self.close();
    return;
  }
  const ctl = new Int32Array(e.data.ctl);
  const job = new Int32Array(e.data.job);
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  const fns = names.map((n) => inst.exports[n] as (...a: number[]) => void);
  /** Generated kernels by module id (compiled from their bytes in the heap on first use). */
  const generated = new Map<number, (...a: number[]) => void>();
  const kernel = (id: number, ptr: number, len: number) => {
    let k = generated.get(id);
    if (!k) {
      const bytes = new Uint8Array(memory.buffer, ptr >>> 0, len).slice();
      const gi = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      k = gi.exports.k as (...a: number[]) => void;
      generated.set(id, k);
    }
    return k;
  };
  /** One argument array per argument count, reused: the hot loop allocates nothing (no GC). */
  const argv: number[][] = [];
  Atomics.store(ctl, CTL.STATE, CTL.IDLE);
  Atomics.notify(ctl, CTL.STATE);
  for (;;) {
    // Spin briefly (tasks in a training step come back to back), then sleep.
    let s = Atomics.load(ctl, CTL.STATE);
    for (let i = 0; i < 4000 && s === CTL.IDLE; i++) s = Atomics.load(ctl, CTL.STATE);
    if (s === CTL.IDLE) {
      const r = Atomics.wait(ctl, CTL.STATE, CTL.IDLE, idleMs);
      s = Atomics.load(ctl, CTL.STATE);
      if (r === "timed-out" && s === CTL.IDLE) {
        if (Atomics.compareExchange(ctl, CTL.STATE, CTL.IDLE, CTL.EXITED) === CTL.IDLE) {
          self.close();
          return;
        }
        s = Atomics.load(ctl, CTL.STATE);
      }
    }
    if (s === CTL.EXITED) {
      // The pool was closed (terminate() cannot interrupt Atomics.wait everywhere).
      self.close();
      return;
    }
    if (s !== CTL.TASK) continue;
    // Claim slices of the current job until none are left (the caller claims them too).
    for (;;) {
      const v = Atomics.add(job, JOB.CLAIM, 1);
      const i = v & 0xffff;
      const head = Atomics.load(job, JOB.HEAD);
      if ((v >>> 16) !== (head >>> 16) || i >= (head & 0xffff)) break;
      const fn = job[JOB.FN];
      const n = job[JOB.NARGS];
      const base = JOB.TABLE + i * JOB.MAX_ARGS;
      const args = argv[n] ??= new Array<number>(n);
      for (let a = 0; a < n; a++) args[a] = job[base + a];
      try {
        if (fn === JOB.GENERATED) {
          kernel(job[JOB.GEN_ID], job[JOB.GEN_PTR], job[JOB.GEN_LEN])(...args);
        } else fns[fn](...args);
      } catch (err) {
        job[JOB.ERROR] = 1;
        console.error("worldflux kernel worker:", err);
      }
      Atomics.add(job, JOB.DONE, 1);
      Atomics.notify(job, JOB.DONE);
    }
    Atomics.store(ctl, CTL.STATE, CTL.IDLE);
    Atomics.add(ctl, CTL.DONE, 1);
    Atomics.notify(ctl, CTL.DONE);
  }
};
