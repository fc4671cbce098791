/**
 * safetensors: round trips, interoperability with an independent reader/writer (Python +
 * numpy, parsing the format by hand: tests/io/safetensors_helper.py), and malformed files.
 *
 * The Python tests need a python3 with numpy (/usr/bin/python3 first); without one they are
 * skipped with the reason printed.
 */

import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  FormatError,
  loadSafetensors,
  mlp,
  readSafetensors,
  readSafetensorsMetadata,
  saveSafetensors,
  type Tensor,
  tensor,
} from "../../mod.ts";
import { Generator } from "../../mod.ts";
import { webgpu } from "../util.ts";
import { type Dev, findPythonWithNumpy, formatErrorOf, values } from "../grad_util.ts";

const GPU = await webgpu();
const DEVICES: Dev[] = GPU ? ["cpu", "webgpu"] : ["cpu"];
const PY = await findPythonWithNumpy();
if (!PY.python) console.warn(`[tests] safetensors: python tests skipped: ${PY.reason}`);
const HELPER = new URL("./safetensors_helper.py", import.meta.url).pathname;

const f32bits = (x: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(x).buffer));

/** Float values with the special cases the format must carry bit for bit. */
const SPECIAL = [1.5, -0, 0, NaN, Infinity, -Infinity, 1e-40, 3.4028234663852886e38, -7.25];

function sample(dev: Dev): Record<string, Tensor> {
  return {
    "encoder.weight": tensor(Float32Array.from([1, -2.5, 3.25, 4e-3, -5e6, 6]), [2, 3], {
      device: dev,
    }),
    "special": tensor(Float32Array.from(SPECIAL), [9], { device: dev }),
    "counts": tensor(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, 42]), [2, 2], {
      dtype: "int32",
      device: dev,
    }),
    "mask": tensor(Uint8Array.from([1, 0, 0, 1, 1]), [5], { dtype: "bool", device: dev }),
    "scalar": tensor(Float32Array.from([0.125]), [], { device: dev }),
    "empty": tensor(new Float32Array(0), [3, 0], { device: dev }),
    "a.b.c": tensor(Float32Array.from([7]), [1, 1, 1], { device: dev }),
  };
}

async function assertSameTensors(
  got: Record<string, Tensor>,
  want: Record<string, Tensor>,
): Promise<void> {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    assert.deepEqual(g.shape, w.shape, `${k}: shape`);
    assert.equal(g.dtype, w.dtype, `${k}: dtype`);
    const gd = await g.data(), wd = await w.data();
    if (w.dtype === "float32") assert.deepEqual(f32bits(gd), f32bits(wd), `${k}: bits`);
    else assert.deepEqual(Array.from(gd), Array.from(wd), `${k}: values`);
  }
}

for (const dev of DEVICES) {
  Deno.test(`safetensors: round trip of every dtype, 0-d, empty, special floats (${dev})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/model.safetensors`;
      const ts = sample(dev);
      await saveSafetensors(path, ts, { format: "pt", note: "ünïcode ✓" });
      await assertSameTensors(await loadSafetensors(path, { device: dev }), ts);
      assert.deepEqual(await readSafetensorsMetadata(path), { format: "pt", note: "ünïcode ✓" });
      const f = await readSafetensors(path);
      assert.equal(f.tensors.counts.fileDtype, "I32");
      assert.equal(f.tensors.mask.fileDtype, "BOOL");
      assert.equal(f.tensors.scalar.fileDtype, "F32");
      // the layout: 8-byte length, JSON padded to a multiple of 8, data right after
      const bytes = await Deno.readFile(path);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal(n % 8, 0);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
      assert.deepEqual(header["encoder.weight"].shape, [2, 3]);
      assert.equal(header["__metadata__"].format, "pt");
      // encode/decode in memory give the same bytes and values
      const again = await encodeSafetensors(ts, { format: "pt", note: "ünïcode ✓" });
      assert.deepEqual(again, bytes);
      assert.deepEqual(
        Object.keys(decodeSafetensors(bytes).tensors).sort(),
        Object.keys(ts).sort(),
      );
      // no temp files left behind by the atomic write
      const left = [];
      for await (const e of Deno.readDir(dir)) left.push(e.name);
      assert.deepEqual(left, ["model.safetensors"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("safetensors: a module's state dict round-trips into a fresh module", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = mlp(4, [8], 2, { generator: new Generator(1) });
    const b = mlp(4, [8], 2, { generator: new Generator(2) });
    await saveSafetensors(`${dir}/m.safetensors`, a.stateDict());
    b.loadStateDict(await loadSafetensors(`${dir}/m.safetensors`));
    for (const [k, p] of b.namedParameters()) {
      assert.deepEqual(await values(p), await values(a.stateDict()[k]), k);
    }
    // "__metadata__" is reserved
    await formatErrorOf(() => encodeSafetensors({ __metadata__: tensor([1]) }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Python interoperability
// ---------------------------------------------------------------------------------------------

async function python(...args: string[]): Promise<string> {
  const r = await new Deno.Command(PY.python!, {
    args: [HELPER, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`safetensors_helper.py ${args[0]} failed:\n${out}`);
  return out;
}

/** The helper's encoding of a value: numbers, or "nan" / "inf" / "-inf" / "-0". */
function encodeValue(v: number): number | string {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return v;
}

function decodeValue(v: number | string | boolean): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "number") return v;
  return { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 }[v]!;
}

Deno.test({
  name: "safetensors: a file written here is read by a hand-written numpy parser",
  ignore: !PY.python,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const ts = sample("cpu");
      const meta = { format: "pt", "step": "1234" };
      await saveSafetensors(`${dir}/ours.safetensors`, ts, meta);
      const expected: Record<string, unknown> = {};
      for (const [k, t] of Object.entries(ts)) {
        const d = await t.data();
        expected[k] = {
          dtype: t.dtype === "float32" ? "F32" : t.dtype === "int32" ? "I32" : "BOOL",
          shape: t.shape,
          values: Array.from(d, (v) => (t.dtype === "bool" ? v !== 0 : encodeValue(v))),
        };
      }
      await Deno.writeTextFile(
        `${dir}/expected.json`,
        JSON.stringify({ metadata: meta, tensors: expected }),
      );
      const out = await python("check", `${dir}/ours.safetensors`, `${dir}/expected.json`);
      assert.match(out, /^ok 7 tensors/);
      // and the checker does notice a difference
      (expected.counts as { values: number[] }).values[3] = 43;
      await Deno.writeTextFile(
        `${dir}/expected.json`,
        JSON.stringify({ metadata: meta, tensors: expected }),
      );
      await assert.rejects(
        () => python("check", `${dir}/ours.safetensors`, `${dir}/expected.json`),
        /counts: values/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const dev of DEVICES) {
  Deno.test({
    name: `safetensors: a file written by the numpy helper loads with identical values (${dev})`,
    ignore: !PY.python,
    fn: async () => {
      const dir = await Deno.makeTempDir();
      try {
        await python("write", `${dir}/theirs.safetensors`, `${dir}/expected.json`);
        const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`)) as {
          metadata: Record<string, string>;
          tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
        };
        const loaded = await loadSafetensors(`${dir}/theirs.safetensors`, { device: dev });
        assert.deepEqual(
          await readSafetensorsMetadata(`${dir}/theirs.safetensors`),
          expected.metadata,
        );
        assert.deepEqual(Object.keys(loaded).sort(), Object.keys(expected.tensors).sort());
        const dtypes = ["F32", "F64", "I32", "I64", "BOOL"];
        for (const d of dtypes) {
          assert.ok(Object.values(expected.tensors).some((t) => t.dtype === d), `a ${d} tensor`);
        }
        assert.ok(Object.values(expected.tensors).some((t) => t.shape.length === 0), "0-d");
        assert.ok(Object.values(expected.tensors).some((t) => t.shape.includes(0)), "empty");
        for (const [k, e] of Object.entries(expected.tensors)) {
          const t = loaded[k];
          assert.deepEqual(t.shape, e.shape, k);
          const want = e.values.map(decodeValue);
          const wantDtype = e.dtype.startsWith("F")
            ? "float32"
            : e.dtype === "BOOL"
            ? "bool"
            : "int32";
          assert.equal(t.dtype, wantDtype, k);
          const got = Array.from(await t.data());
          if (wantDtype === "float32") {
            // F64 values are rounded to float32 (worldflux computes in float32); F32 exact
            assert.deepEqual(f32bits(got), f32bits(want.map(Math.fround)), k);
          } else {
            assert.deepEqual(got, want, k);
          }
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Malformed files
// ---------------------------------------------------------------------------------------------

/** A file from a header object (or raw header text) and a data section. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint) {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end],
});

Deno.test("safetensors: malformed files give a FormatError (and never hang)", async () => {
  const good = await encodeSafetensors(sample("cpu"), { format: "pt" });
  const d16 = new Uint8Array(16);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /shorter than the 8-byte/],
    ["7 bytes", new Uint8Array(7), /shorter than the 8-byte/],
    ["truncated inside the header", good.subarray(0, 40), /runs past the end/],
    ["truncated inside the data", good.subarray(0, good.length - 3), /outside|no entry/],
    ["header length 2^63", craft({}, new Uint8Array(0), 1n << 63n), /exceeds/],
    ["header length 2^40", craft({}, d16, 1n << 40n), /exceeds/],
    ["header length past the end", craft({}, d16, 30n), /runs past the end/],
    [
      "bad JSON",
      craft('{"a": {"dtype": "F32",'),
      /the header is not valid JSON \(it ends before the JSON value does\)/,
    ],
    ["invalid UTF-8", craft("{}").map((b, i) => (i === 8 ? 0xff : b)), /not valid UTF-8/],
    ["header is an array", craft("[1, 2]"), /not a JSON object/],
    ["header is null", craft("null"), /not a JSON object/],
    ["entry is not an object", craft({ a: 3 }), /not an object|dtype/],
    ["unknown dtype", craft({ a: entry("F128", [1], 0, 16) }, d16), /unsupported dtype "F128"/],
    ["missing dtype", craft({ a: { shape: [4], data_offsets: [0, 16] } }, d16), /dtype/],
    ["negative shape", craft({ a: entry("F32", [-4], 0, 16) }, d16), /invalid shape/],
    ["fractional shape", craft({ a: entry("F32", [1.5], 0, 16) }, d16), /invalid shape/],
    [
      "shape not a list",
      craft({ a: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, d16),
      /invalid shape/,
    ],
    [
      "offsets not a pair",
      craft({ a: { dtype: "F32", shape: [4], data_offsets: [0] } }, d16),
      /data_offsets/,
    ],
    ["negative offset", craft({ a: entry("F32", [4], -16, 0) }, d16), /data_offsets/],
    ["offsets out of range", craft({ a: entry("F32", [8], 0, 32) }, d16), /outside the 16-byte/],
    ["end before begin", craft({ a: entry("F32", [0], 16, 0) }, d16), /outside/],
    ["shape/bytes mismatch", craft({ a: entry("F32", [3], 0, 16) }, d16), /needs 12/],
    ["huge shape", craft({ a: entry("F32", [2 ** 26, 2 ** 26], 0, 16) }, d16), /needs/],
    [
      "overlapping entries",
      craft({ a: entry("F32", [3], 0, 12), b: entry("F32", [2], 8, 16) }, d16),
      /overlaps/,
    ],
    [
      "an empty entry inside another",
      craft({ a: entry("F32", [4], 0, 16), b: entry("F32", [0], 8, 8) }, d16),
      /overlaps/,
    ],
    ["a hole in the data", craft({ a: entry("F32", [2], 8, 16) }, d16), /belong to no entry/],
    ["trailing bytes", craft({ a: entry("F32", [2], 0, 8) }, d16), /belong to no entry/],
    ["metadata not an object", craft({ __metadata__: [1] }), /__metadata__ is not an object/],
    ["metadata value not a string", craft({ __metadata__: { n: 1 } }), /is not a string/],
    [
      "I64 beyond int32",
      craft(
        { a: entry("I64", [2], 0, 16) },
        new Uint8Array(new BigInt64Array([5n, 1n << 40n]).buffer),
      ),
      /I64 value 1099511627776 at index 1/,
    ],
  ];
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, bytes, pattern] of cases) {
      const msg = await formatErrorOf(() => decodeSafetensors(bytes, "x.safetensors"));
      assert.match(msg, pattern, name);
      assert.match(msg, /^x\.safetensors: not a valid safetensors file/, name);
      // the same through the file API
      const path = `${dir}/bad.safetensors`;
      await Deno.writeFile(path, bytes);
      await formatErrorOf(() => loadSafetensors(path));
    }
    // a missing file is a FormatError too
    await formatErrorOf(() => loadSafetensors(`${dir}/missing.safetensors`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // sanity: the good file decodes
  assert.ok(!(decodeSafetensors(good) instanceof FormatError));
});
