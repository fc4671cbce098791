/**
 * Kernel threads: workers sharing the heap's memory, sized to `navigator.hardwareConcurrency`.
 * `run()` hands one slice of a kernel to each available worker and runs one slice on the
 * calling thread; slices of workers that are not up (starting, or exited after idling) run on
 * the calling thread too, so results never depend on thread availability.
 * @module
 */

import { CTL } from "./pool_protocol.ts";

interface Slot {
  worker: Worker | null;
  ctl: Int32Array;
}

/** A pool of kernel workers. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly fnIndex: Map<string, number>;
  /** Tasks handed to workers (for tests and profiling). */
  dispatched = 0;

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
  ) {
    this.fnIndex = new Map(names.map((n, i) => [n, i]));
    for (let i = 0; i < threads - 1; i++) {
      this.slots.push({ worker: null, ctl: new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4)) });
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

  /** Starts workers that are down (asynchronously; they join when ready). */
  warm(): void {
    for (const s of this.slots) {
      const st = Atomics.load(s.ctl, CTL.STATE);
      if (s.worker && st !== CTL.EXITED) continue;
      if (s.worker) s.worker.terminate();
      Atomics.store(s.ctl, CTL.STATE, CTL.STARTING);
      const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
      w.postMessage({
        memory: this.memory,
        module: this.module,
        ctl: s.ctl.buffer,
        names: this.names,
        idleMs: this.idleMs,
      });
      s.worker = w;
    }
  }

  /**
   * Runs `fn` once per argument list: the first on the calling thread via `local`, the others
   * on workers (or locally when a worker is not up). Returns when all are done.
   */
  run(fn: string, argLists: number[][], local: (...args: number[]) => void): void {
    const idx = this.fnIndex.get(fn);
    if (idx === undefined) throw new Error(`worker pool: unknown kernel ${fn}`);
    this.dispatch(idx, fn, argLists, local, []);
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
  ): void {
    this.dispatch(CTL.GENERATED, `generated kernel ${id}`, argLists, local, [id, ptr, len]);
  }

  private dispatch(
    idx: number,
    fn: string,
    argLists: number[][],
    local: (...args: number[]) => void,
    prefix: number[],
  ): void {
    const waiting: { slot: Slot; seq: number }[] = [];
    const mine: number[][] = [argLists[0]];
    let restart = false;
    for (let t = 1; t < argLists.length; t++) {
      const slot = this.slots[t - 1];
      const args = prefix.length ? [...prefix, ...argLists[t]] : argLists[t];
      if (!slot || !slot.worker) {
        mine.push(argLists[t]);
        restart = true;
        continue;
      }
      const ctl = slot.ctl;
      ctl[CTL.FN] = idx;
      ctl[CTL.NARGS] = args.length;
      for (let i = 0; i < args.length; i++) ctl[CTL.ARGS + i] = args[i];
      const seq = Atomics.load(ctl, CTL.DONE);
      if (Atomics.compareExchange(ctl, CTL.STATE, CTL.IDLE, CTL.TASK) === CTL.IDLE) {
        Atomics.notify(ctl, CTL.STATE);
        waiting.push({ slot, seq });
        this.dispatched++;
      } else {
        if (Atomics.load(ctl, CTL.STATE) === CTL.EXITED) restart = true;
        mine.push(argLists[t]);
      }
    }
    for (const a of mine) local(...a);
    for (const { slot, seq } of waiting) {
      const ctl = slot.ctl;
      let spins = 0;
      while (Atomics.load(ctl, CTL.DONE) === seq) {
        if (++spins > 20000) Atomics.wait(ctl, CTL.DONE, seq, 50);
      }
      if (ctl[CTL.ERROR]) throw new Error(`a kernel worker failed running ${fn}`);
    }
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
