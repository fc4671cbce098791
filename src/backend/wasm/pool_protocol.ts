/**
 * Shared layouts of the kernel thread pool.
 *
 * Each worker has a control block (Int32Array over a SharedArrayBuffer): its state, a
 * completion counter and an error flag. Work itself is described by one shared JOB block: a
 * kernel (fn, with a prefix of arguments for generated kernels) and a table of slices (one
 * argument list each). Every participant — the calling thread included — claims slices with an
 * atomic counter until none are left, so a worker that the OS has not scheduled yet never holds
 * the caller up: the caller simply takes its slices.
 * @module
 */

/**
 * Version of these layouts. The pool sends it to each worker it starts; a worker whose own copy
 * differs (its module was changed on disk while the program ran, and an idle worker restarted
 * from the new file) refuses to start instead of misreading the shared blocks.
 */
export const POOL_PROTOCOL = 3;

/** Word indices and states of a worker's control block. */
export const CTL = {
  STATE: 0,
  DONE: 1,
  ERROR: 4,
  WORDS: 16,
  // states
  STARTING: 0,
  IDLE: 1,
  TASK: 2,
  EXITED: 3,
} as const;

/** Word indices of the JOB block. */
export const JOB = {
  /**
   * Next slice to claim (atomic add): `generation << 16 | index`. A claim whose generation is
   * not the current job's came from a thread still finishing an earlier job and is void.
   */
  CLAIM: 0,
  /** Slices finished (atomic add). */
  DONE: 1,
  /**
   * The current job: `generation << 16 | number of slices`, one word so that a thread checking a
   * claim reads the generation and the count of the same job. (Two words let a worker whose
   * claim on a finished job came back void read the old generation and the next job's larger
   * count, run a slice of the next job that another thread also runs, and count it done: the
   * caller then went on before that job's slices had finished. Seen once, as a worker's
   * out-of-bounds access, in a 20,000-step TD-MPC2 run with other processes busy on the cores.)
   */
  HEAD: 2,
  /** Kernel index into the worker's export list, or GENERATED. */
  FN: 3,
  /** Arguments per slice. */
  NARGS: 4,
  /** Set when a slice failed. */
  ERROR: 5,
  /** Generated kernel: module id, bytes pointer, bytes length. */
  GEN_ID: 8,
  GEN_PTR: 9,
  GEN_LEN: 10,
  /** Slice argument table: slice i's arguments start at TABLE + i * MAX_ARGS. */
  TABLE: 16,
  MAX_ARGS: 16,
  MAX_SLICES: 64,
  /** FN value of a generated kernel (compiled by the worker from its heap bytes). */
  GENERATED: -1,
} as const;

/** Words of the JOB block. */
export const JOB_WORDS: number = JOB.TABLE + JOB.MAX_ARGS * JOB.MAX_SLICES;
