/**
 * Helpers of the autograd / nn / optim / compile tests: host data to tensors, reading several
 * tensors, PyTorch fixtures, python discovery and the DreamerV3 / TD-MPC2 two-hot encoding
 * written in tensor ops (a reference for the model families).
 * @module
 */

import { FormatError, type Tensor, tensor } from "../mod.ts";

/** Device names. */
export type Dev = "cpu" | "webgpu";

/** Reads several tensors as float64 arrays. */
export async function readAll(ts: readonly Tensor[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const t of ts) out.push(Float64Array.from(await t.data() as ArrayLike<number>));
  return out;
}

/** Reads one tensor as a plain number array. */
export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data() as ArrayLike<number>, Number);
}

// ---------------------------------------------------------------------------------------------
// PyTorch fixtures (tests/fixtures/torch/*.json, format in tests/fixtures/README.md)
// ---------------------------------------------------------------------------------------------

/** One fixture tensor. */
export interface FixtureTensor {
  readonly shape: number[];
  readonly data: number[];
}

/** One fixture file. */
export interface Fixture {
  readonly case: string;
  readonly description: string;
  readonly config: Record<string, number>;
  readonly inputs: Record<string, FixtureTensor>;
  readonly params: Record<string, FixtureTensor>;
  readonly outputs: Record<string, FixtureTensor>;
  readonly grads: Record<string, FixtureTensor>;
}

const FIXTURE_DIR = new URL("./fixtures/torch/", import.meta.url);

/** Names of every fixture case (file names without `.json`), sorted. */
export function fixtureNames(): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(FIXTURE_DIR)) {
    if (e.isFile && e.name.endsWith(".json")) out.push(e.name.slice(0, -5));
  }
  return out.sort();
}

/** Loads one fixture. */
export function loadFixture(name: string): Fixture {
  return JSON.parse(Deno.readTextFileSync(new URL(`${name}.json`, FIXTURE_DIR))) as Fixture;
}

/** A fixture tensor (float32; the fixture values are float32-exact for inputs and params). */
export function fx(t: FixtureTensor, dev: Dev): Tensor {
  return tensor(Float32Array.from(t.data), t.shape, { device: dev });
}

/** A state dict of `{ shape, data }` records from fixture params. */
export function fixtureStateDict(
  params: Record<string, FixtureTensor>,
  names?: readonly string[],
): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const k of names ?? Object.keys(params)) {
    out[k] = { shape: params[k].shape, data: Float32Array.from(params[k].data) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Two-hot encoding
// ---------------------------------------------------------------------------------------------

/**
 * DreamerV3's two-hot encoding of `y` (`[N]`, already in the bins' space, e.g. symlog'ed) over
 * ascending `bins` (`[K]`): `[N, K]` with weight `|bins[above] - y| / spacing` on the bin below
 * and `|bins[below] - y| / spacing` on the bin above (all weight on one bin when `y` is outside
 * the range or exactly on a bin). Written in tensor ops (no gradient flows to `y`).
 *
 * - `below = sum(bins <= y) - 1`, `above = K - sum(bins > y)`, both clipped to `[0, K - 1]`;
 * - `equal = below == above`; distances are 1 when equal (so the weights are 1/2 + 1/2 on the
 *   same bin).
 */
export function twohot(y: Tensor, bins: Tensor): Tensor {
  const k = bins.shape[0];
  const yc = y.detach().unsqueeze(-1); // [N, 1]
  const below = bins.le(yc).sum(-1).sub(1).clamp(0, k - 1); // int32 [N]
  const above = bins.gt(yc).sum(-1).neg().add(k).clamp(0, k - 1);
  const equal = below.eq(above);
  const yv = y.detach();
  const distBelow = where1(equal, bins.gather(below).sub(yv).abs());
  const distAbove = where1(equal, bins.gather(above).sub(yv).abs());
  const total = distBelow.add(distAbove);
  const wBelow = distAbove.div(total).unsqueeze(-1);
  const wAbove = distBelow.div(total).unsqueeze(-1);
  const classes = bins.shape[0];
  const oh = (i: Tensor) =>
    i.unsqueeze(-1).eq(
      tensor(Int32Array.from({ length: classes }, (_, j) => j), [classes], {
        dtype: "int32",
        device: i.device,
      }),
    ).cast("float32");
  return wBelow.mul(oh(below)).add(wAbove.mul(oh(above)));
}

function where1(cond: Tensor, d: Tensor): Tensor {
  return cond.ifElse(1, d);
}

/** Two-hot cross-entropy `mean_b -sum(target * logSoftmax(logits))`. */
export function twohotLoss(logits: Tensor, target: Tensor): Tensor {
  return target.mul(logits.logSoftmax(-1)).sum(-1).neg().mean();
}

// ---------------------------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------------------------

let pythonProbe: Promise<{ python: string | null; reason: string }> | null = null;

/**
 * A python3 with numpy: /usr/bin/python3 first, then `python3` on PATH. Resolves to null (with
 * the reason) when none works.
 */
export function findPythonWithNumpy(): Promise<{ python: string | null; reason: string }> {
  if (!pythonProbe) {
    pythonProbe = (async () => {
      const reasons: string[] = [];
      for (const py of ["/usr/bin/python3", "python3"]) {
        try {
          const r = await new Deno.Command(py, {
            args: ["-c", "import numpy; print(numpy.__version__)"],
            stdout: "piped",
            stderr: "piped",
          }).output();
          if (r.success) return { python: py, reason: "" };
          reasons.push(`${py}: ${new TextDecoder().decode(r.stderr).trim().split("\n").pop()}`);
        } catch (e) {
          reasons.push(`${py}: ${(e as Error).message}`);
        }
      }
      return { python: null, reason: `no python3 with numpy (${reasons.join("; ")})` };
    })();
  }
  return pythonProbe;
}

/** Asserts that `fn` throws (or rejects with) a FormatError; returns its message. */
export async function formatErrorOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof FormatError) return e.message;
    throw new Error(`expected a FormatError, got ${(e as Error)?.constructor?.name}: ${e}`);
  }
  throw new Error("expected a FormatError, nothing was thrown");
}
