/**
 * Common interface of the peer-library benchmark adapters (tfjs, jax-js).
 *
 * Every factory prepares its inputs once, warms up (shader JIT, jit tracing) and returns an async
 * function that runs the workload once and waits for the result with one read at the end.
 */

/** Which operand of a matmul is transposed: `tn` = A^T B, `nt` = A B^T. */
export type MatmulVariant = "nn" | "tn" | "nt";

/** A workload ready to run: one call = one execution, resolved after the result was read back. */
export type Run = () => Promise<void>;

export interface PeerLib {
  /** e.g. "tfjs-webgpu", "jax-js-wasm". */
  name: string;
  /**
   * Chain of `chain` matmuls of n x n: x <- op(x, W) where op is x W (nn), x^T W (tn) or x W^T
   * (nt). W is scaled by 1/sqrt(n) so values stay bounded. The full n x n result is read.
   */
  matmul(n: number, variant: MatmulVariant, chain: number): Promise<Run>;
  /**
   * Chain of `ops` elementwise ops on n elements, cycling x+y, x*0.5, tanh(x), exp(x).
   * The full result is read.
   */
  elementwiseChain(n: number, ops: number): Promise<Run>;
  /** Softmax over the last axis of a rows x cols matrix; the full result is read. */
  softmax(rows: number, cols: number): Promise<Run>;
  /**
   * 2-D convolution with NCHW input semantics [batch, cin, hw, hw] and OIHW weights
   * [cout, cin, k, k], no bias; NHWC libraries get transposed inputs (outside the timed part) and
   * return NHWC. The full output is read.
   */
  conv2d(
    batch: number,
    cin: number,
    hw: number,
    cout: number,
    k: number,
    stride: number,
    pad: number,
  ): Promise<Run>;
  /**
   * One training step of an MLP with layer sizes `dims` (e.g. [64, 512, 512, 64]): Linear layers
   * with bias, ReLU between them (none after the last), MSE loss against a fixed random target,
   * Adam (lr 1e-3, b1 0.9, b2 0.999). The scalar loss is read back every step.
   */
  mlpTrainStep(batch: number, dims: number[]): Promise<Run>;
  /** Loss read by the latest `mlpTrainStep` run (to cross-check libraries' trajectories). */
  lastLoss?: number;
  /** Frees every array/tensor that the factories created. */
  dispose(): Promise<void>;
}

/** Backends an adapter can be asked for. */
export type TfjsBackend = "webgpu" | "wasm" | "cpu";
export type JaxBackend = "webgpu" | "wasm";
