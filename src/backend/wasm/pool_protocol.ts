/**
 * Layout of a worker's control block (Int32Array over a SharedArrayBuffer).
 * @module
 */

/** Word indices and states. */
export const CTL = {
  STATE: 0,
  DONE: 1,
  FN: 2,
  NARGS: 3,
  ERROR: 4,
  ARGS: 8,
  WORDS: 40,
  // states
  STARTING: 0,
  IDLE: 1,
  TASK: 2,
  EXITED: 3,
  /**
   * FN value of a generated kernel: ARGS = [module id, bytes pointer, bytes length, args...];
   * the worker compiles the module from the heap bytes on first use and caches it by id.
   */
  GENERATED: -1,
} as const;
