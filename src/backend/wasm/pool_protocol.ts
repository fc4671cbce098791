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
} as const;
