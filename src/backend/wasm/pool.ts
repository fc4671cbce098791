/**
 * Kernel threads: workers sharing the heap's memory, sized to `navigator.hardwareConcurrency`.
 * `run()` publishes the slices of a kernel in a shared job table, wakes the idle workers, and
 * claims slices on the calling thread too until none are left; it then waits only for slices a
 * worker has actually started. A worker that is slow to wake (or busy with other processes'
 * work on a loaded machine) therefore costs nothing, and results never depend on which thread
 * ran which slice.
 * @module
 */

import { CTL, JOB, JOB_WORDS, POOL_PROTOCOL } from "./pool_protocol.ts";

/** The kernel worker's script: `worker.ts` beside this module, unless a bundle says otherwise. */
let workerScript: URL = new URL("./worker.ts", import.meta.url);

/**
 * Where the cpu kernel threads' script is. A bundle of the module (for a browser page: see
 * `examples/browser/`) has no `worker.ts` beside it; it ships the worker bundled on its own and
 * names it here before the first cpu tensor (pools started later use it).
 *
 * @example
 * ```ts
 * import { setKernelWorkerUrl } from "@worldflux/worldflux";
 * setKernelWorkerUrl(new URL("./kernel_worker.js", import.meta.url));
 * ```
 */
export function setKernelWorkerUrl(url: URL | string): void {
  workerScript = new URL(url, import.meta.url);
}

/**
 * Whether this thread may block in `Atomics.wait` (a browser page's main thread may not): once
 * it refuses, the pool waits for the workers' slices by spinning.
 */
let canBlock = true;

function waitBriefly(words: Int32Array, index: number, value: number): void {
  if (!canBlock) return;
  try {
    Atomics.wait(words, index, value, 20);
  } catch {
    canBlock = false;
  }
}

/**
 * After a wait for a worker's slice that says the worker was descheduled (see `dispatch`), how
 * long (ms) quiet-only jobs run on the calling thread alone: on a machine busy with other
 * processes, a worker preempted in the middle of a slice holds the caller up for a scheduler
 * time slice, which short jobs cannot win back. Short, because a quiet shared VM sees such a
 * wait too now and then (2026-12-06, 2 threads, with one busy process beside: the `tdmpc2:ci`
 * update 11.7 -> 9.8 ms, the HalfCheetah-size update 43.8 -> 38.3 ms; quiet: unchanged, where
 * 1000 ms here cost the `tdmpc2:ci` update 30%).
 */
const CONTENDED_MS = 100;
/**
 * Wait (ms) beyond 4 of the caller's own slices that counts as a descheduled worker: longer than
 * a worker's wake-up or a young-generation GC, about a scheduler time slice (0.1-0.5 ms also
 * fired on a quiet machine, several times a second).
 */
const LONG_WAIT_MS = 1;

interface Slot {
  worker: Worker | null;
  ctl: Int32Array;
  /** The worker failed outside a kernel (e.g. at start): the slot is not used again. */
  failed: string | null;
}

/** A pool of kernel workers. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly fnIndex: Map<string, number>;
  private readonly job = new Int32Array(new SharedArrayBuffer(JOB_WORDS * 4));
  private gen = 0;
  /** Until when (performance.now()) quiet-only jobs stay on the calling thread; 0: not contended. */
  private contendedUntil = 0;
  /** Tasks handed to workers (for tests and profiling). */
  dispatched = 0;
  /** Times a wait for a descheduled worker's slice was seen (for tests and profiling). */
  contentions = 0;

  /**
   * Creates a pool of `threads - 1` workers (the calling thread is the last one). `names` are
   * the exports of `module` workers may run.
   */
  constructor(
    readonly memory: WebAssembly.Memory,
    readonly module: WebAssembly.Module,
    readonly names: string[],
    readonly threads: number,
    readonly idleMs = 2000,
    private readonly protocol: number = POOL_PROTOCOL,
  ) {
    this.fnIndex = new Map(names.map((n, i) => [n, i]));
    for (let i = 0; i < threads - 1; i++) {
      this.slots.push({
        worker: null,
        ctl: new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4)),
        failed: null,
      });
    }
  }

  /** Number of threads kernels may split over (workers + calling thread). */
  get size(): number {
    return this.slots.length + 1;
  }

  /** Workers currently up. */
  get ready(): number {
    return this.slots.filter((s) =>
      s.worker && Atomics.load(s.ctl, CTL.STATE) !== CTL.STARTING &&
      Atomics.load(s.ctl, CTL.STATE) !== CTL.EXITED
    ).length;
  }

  /** Why workers stopped for good (one entry per failed thread; kernels still run without them). */
  get failures(): string[] {
    return this.slots.flatMap((s) => (s.failed ? [s.failed] : []));
  }

  /** Starts workers that are down (asynchronously; they join when ready). */
  warm(): void {
    for (const s of this.slots) {
      if (s.failed) continue;
      const st = Atomics.load(s.ctl, CTL.STATE);
      if (s.worker && st !== CTL.EXITED) continue;
      if (s.worker) s.worker.terminate();
      Atomics.store(s.ctl, CTL.STATE, CTL.STARTING);
      const w = new Worker(workerScript, { type: "module" });
      w.postMessage({
        memory: this.memory,
        module: this.module,
        ctl: s.ctl.buffer,
        job: this.job.buffer,
        names: this.names,
        idleMs: this.idleMs,
        protocol: this.protocol,
      });
      // A worker that cannot serve (it says why), or an error outside a kernel (kernel errors
      // are caught and flagged per job), which would otherwise end the whole program: the thread
      // is retired and the others (the caller at least) go on.
      const retire = (why: string) => {
        if (s.failed) return;
        s.failed = why;
        Atomics.store(s.ctl, CTL.STATE, CTL.EXITED);
        w.terminate();
        console.error(`worldflux: a kernel thread stopped and is not used again: ${why}`);
      };
      w.onmessage = (e: MessageEvent<{ failed?: string }>) => {
        if (e.data?.failed) retire(e.data.failed);
      };
      w.onerror = (e) => {
        e.preventDefault();
        retire(e.message || String(e.error));
      };
      s.worker = w;
    }
  }

  /**
   * Whether quiet-only jobs run on the calling thread alone for now: a recent wait for a worker's
   * slice lasted far longer than the caller's own slices (the worker was descheduled).
   */
  get contended(): boolean {
    if (this.contendedUntil === 0) return false;
    if (performance.now() < this.contendedUntil) return true;
    this.contendedUntil = 0;
    return false;
  }

  /**
   * Runs `fn` once per argument list (a slice each), on the calling thread via `local` and on
   * the workers, and returns when all slices are done. A `quietOnly` job (one that gains from the
   * workers on a quiet machine only) runs on the calling thread while the pool is
   * {@link contended}.
   */
  run(
    fn: string,
    argLists: number[][],
    local: (...args: number[]) => void,
    quietOnly = false,
  ): void {
    const idx = this.fnIndex.get(fn);
    if (idx === undefined) throw new Error(`worker pool: unknown kernel ${fn}`);
    this.dispatch(idx, fn, argLists, local, null, quietOnly);
  }

  /**
   * Runs a generated kernel (module `id`, whose bytes are at `ptr`/`len` in the shared memory)
   * once per argument list, like {@link run}; workers compile the module on first use.
   */
  runGenerated(
    id: number,
    ptr: number,
    len: number,
    argLists: number[][],
    local: (...args: number[]) => void,
    quietOnly = false,
  ): void {
    this.dispatch(
      JOB.GENERATED,
      `generated kernel ${id}`,
      argLists,
      local,
      [id, ptr, len],
      quietOnly,
    );
  }

  private dispatch(
    idx: number,
    fn: string,
    argLists: number[][],
    local: (...args: number[]) => void,
    generated: number[] | null,
    quietOnly: boolean,
  ): void {
    const count = argLists.length;
    const nargs = argLists[0]?.length ?? 0;
    if (
      count <= 1 || this.slots.length === 0 || count > JOB.MAX_SLICES || nargs > JOB.MAX_ARGS ||
      (quietOnly && this.contended)
    ) {
      for (const a of argLists) local(...a);
      return;
    }
    // Publish the job: the table, then the header; resetting CLAIM last opens it.
    const job = this.job;
    for (let i = 0; i < count; i++) {
      const base = JOB.TABLE + i * JOB.MAX_ARGS;
      const a = argLists[i];
      for (let j = 0; j < nargs; j++) job[base + j] = a[j];
    }
    job[JOB.FN] = idx;
    job[JOB.NARGS] = nargs;
    job[JOB.ERROR] = 0;
    if (generated) {
      job[JOB.GEN_ID] = generated[0];
      job[JOB.GEN_PTR] = generated[1];
      job[JOB.GEN_LEN] = generated[2];
    }
    const gen = this.gen = (this.gen + 1) & 0x7fff;
    Atomics.store(job, JOB.DONE, 0);
    Atomics.store(job, JOB.HEAD, (gen << 16) | count);
    Atomics.store(job, JOB.CLAIM, gen << 16);
    let restart = false;
    for (const slot of this.slots) {
      if (!slot.worker) {
        restart = true;
        continue;
      }
      const st = Atomics.compareExchange(slot.ctl, CTL.STATE, CTL.IDLE, CTL.TASK);
      if (st === CTL.IDLE) {
        Atomics.notify(slot.ctl, CTL.STATE);
        this.dispatched++;
      } else if (st === CTL.EXITED) restart = true;
    }
    // Claim slices here too.
    const t0 = performance.now();
    let mine = 0;
    for (;;) {
      const i = Atomics.add(job, JOB.CLAIM, 1) & 0xffff;
      if (i >= count) break;
      local(...argLists[i]);
      mine++;
      Atomics.add(job, JOB.DONE, 1);
    }
    // Wait for the slices workers claimed.
    let spins = 0, tc = 0;
    for (;;) {
      const done = Atomics.load(job, JOB.DONE);
      if (done >= count) break;
      if (++spins > 2000) {
        if (tc === 0) tc = performance.now();
        waitBriefly(job, JOB.DONE, done);
      }
    }
    if (tc !== 0) {
      // A wait far beyond the caller's own slices (the slices of a job are alike; the wait
      // began a few microseconds before tc): the worker was descheduled in the middle of one.
      const t1 = performance.now();
      const own = mine > 0 ? (tc - t0) / mine : 0;
      if (t1 - tc > LONG_WAIT_MS + 4 * own) {
        this.contendedUntil = t1 + CONTENDED_MS;
        this.contentions++;
      }
    }
    if (job[JOB.ERROR]) throw new Error(`a kernel worker failed running ${fn}`);
    if (restart) this.warm();
  }

  /** Stops every worker now. */
  close(): void {
    for (const s of this.slots) {
      s.worker?.terminate();
      s.worker = null;
      Atomics.store(s.ctl, CTL.STATE, CTL.EXITED);
      Atomics.notify(s.ctl, CTL.STATE);
    }
  }
}
