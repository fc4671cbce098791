/**
 * .npy/.npz: round trips of every dtype (0-d, empty, chunked, float16 rounding), interoperability
 * with NumPy both ways (tests/io/npz_helper.py: np.savez / np.savez_compressed / np.save files
 * load here, files written here pass np.load and zipfile's CRC test), and malformed or hostile
 * inputs, which must give a FormatError quickly.
 *
 * The NumPy tests need a python3 with numpy (/usr/bin/python3 first); without one they are
 * skipped with the reason printed.
 */

import assert from "node:assert/strict";
import { FormatError } from "../../src/errors.ts";
import {
  decodeNpy,
  encodeNpy,
  floatToHalf,
  halfToFloat,
  type NpyArray,
  type NpyInput,
  npyToNumbers,
} from "../../src/io/npy.ts";
import { crc32, decodeNpz, encodeNpz, listZipMembers, loadNpz, saveNpz } from "../../src/io/npz.ts";
import { findPythonWithNumpy, formatErrorOf } from "../grad_util.ts";

const PY = await findPythonWithNumpy();
if (!PY.python) console.warn(`[tests] npz: NumPy tests skipped: ${PY.reason}`);
const HELPER = new URL("./npz_helper.py", import.meta.url).pathname;

async function runHelper(...args: string[]): Promise<string> {
  const r = await new Deno.Command(PY.python!, {
    args: [HELPER, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const out = new TextDecoder().decode(r.stdout);
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success && out.trim().endsWith("OK"), `npz_helper ${args.join(" ")}:\n${out}${err}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expected values in the helper's JSON form
// ---------------------------------------------------------------------------------------------

type JsonValue = number | string | boolean;
interface Expected {
  dtype: string;
  shape: number[];
  values: JsonValue[];
}

function jsonValue(v: number | bigint, dtype: string): JsonValue {
  if (typeof v === "bigint") return v.toString();
  if (dtype === "bool") return v !== 0;
  if (/int/.test(dtype)) return String(v);
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (Object.is(v, -0)) return "-0";
  return v;
}

function describe(a: NpyArray): Expected {
  return {
    dtype: a.dtype,
    shape: a.shape,
    values: Array.from(a.data as ArrayLike<number | bigint>, (v) => jsonValue(v, a.dtype)),
  };
}

/** Compares a decoded array with the helper's description (floats bit for bit). */
function assertMatches(got: NpyArray, want: Expected, where: string): void {
  assert.equal(got.dtype, want.dtype, `${where}: dtype`);
  assert.deepEqual(got.shape, want.shape, `${where}: shape`);
  const vals = Array.from(got.data as ArrayLike<number | bigint>);
  assert.equal(vals.length, want.values.length, `${where}: length`);
  vals.forEach((v, i) => {
    const w = want.values[i];
    if (typeof v === "bigint") assert.equal(v, BigInt(w as string), `${where}[${i}]`);
    else if (got.dtype === "bool") assert.equal(v, w ? 1 : 0, `${where}[${i}]`);
    else if (/int/.test(got.dtype)) assert.equal(v, Number(w), `${where}[${i}]`);
    else {
      const wn = typeof w === "string"
        ? { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 }[w]!
        : w as number;
      const cast = got.dtype === "float32" ? Math.fround(wn) : wn;
      assert.ok(Object.is(v, cast), `${where}[${i}]: ${v} !== ${cast}`);
    }
  });
}

/** Arrays of every dtype and shape kind, with the values the helper should find. */
function sampleArrays(): { arrays: Record<string, NpyInput>; expected: Record<string, Expected> } {
  const specials = [1.5, -0, 0, NaN, Infinity, -Infinity, 1e-40, 3.4028234663852886e38, 0.1];
  const arrays: Record<string, NpyInput> = {
    f32: { shape: [3, 3], data: Float32Array.from(specials) },
    f64: { data: Float64Array.from([...specials, 5e-324, -2.5e-300]) },
    // Ties and overflow, to check float16 rounding against NumPy's astype.
    f16: {
      dtype: "float16",
      data: [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, 65519, 65520, -0, NaN, 1e-3],
    },
    i64: {
      data: BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -7n]),
      shape: [2, 2],
    },
    i64_from_numbers: { dtype: "int64", data: [3, -(2 ** 53) + 1, 0] },
    i32: { shape: [2, 3], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3]) },
    i16: { data: Int16Array.from([-32768, 32767]) },
    i8: { data: Int8Array.from([-128, 127]) },
    u8: { shape: [2, 2], data: Uint8Array.from([0, 255, 7, 128]) },
    u16: { data: Uint16Array.from([65535, 0]) },
    u32: { data: Uint32Array.from([2 ** 32 - 1, 5]) },
    u64: { data: BigUint64Array.from([2n ** 64n - 1n, 0n]) },
    b: { dtype: "bool", data: Uint8Array.from([1, 0, 0, 1]) },
    scalar_f32: { shape: [], data: Float32Array.from([0.125]) },
    scalar_i64: { dtype: "int64", shape: [], data: [6] },
    scalar_b: { dtype: "bool", shape: [], data: [1] },
    empty: { dtype: "float64", shape: [3, 0], data: new Float64Array(0) },
    empty1: { dtype: "int64", shape: [0], data: [] },
    chunked: {
      dtype: "float32",
      shape: [2, 3],
      data: [Float32Array.from([1, 2]), Float32Array.from([3, 4, 5]), [6]],
    },
    "name with spaces.and.dots": { data: Float32Array.from([9]) },
  };
  const expected: Record<string, Expected> = {};
  for (const [k, v] of Object.entries(arrays)) {
    // Expected: the values as given (NumPy casts them to the dtype before comparing bits).
    const flat: (number | bigint)[] = [];
    const chunks = Array.isArray(v.data) && v.data.length && typeof v.data[0] === "object"
      ? v.data as ArrayLike<number | bigint>[]
      : [v.data as ArrayLike<number | bigint>];
    for (const c of chunks) flat.push(...Array.from(c));
    const dtype = v.dtype ?? decodeNpy(encodeNpy(v)).dtype;
    expected[k] = {
      dtype,
      shape: v.shape ? [...v.shape] : [flat.length],
      values: flat.map((x) => jsonValue(x, dtype)),
    };
  }
  return { arrays, expected };
}

// ---------------------------------------------------------------------------------------------
// Round trips (no Python)
// ---------------------------------------------------------------------------------------------

Deno.test("npy: round trip of every dtype, 0-d, empty, chunked input", () => {
  const { arrays } = sampleArrays();
  for (const [k, v] of Object.entries(arrays)) {
    const bytes = encodeNpy(v);
    assert.equal(bytes.length % 1, 0);
    const hlen = bytes[6] === 1 ? 10 + (bytes[8] | (bytes[9] << 8)) : 0;
    assert.equal(hlen % 64, 0, `${k}: data starts on a 64-byte boundary`);
    const back = decodeNpy(bytes);
    const again = decodeNpy(encodeNpy(back));
    assert.deepEqual(describe(again), describe(back), k);
    if (v.dtype !== "float16") {
      const src = v.data as ArrayLike<number>;
      if (
        ArrayBuffer.isView(src) && !(src instanceof BigInt64Array || src instanceof BigUint64Array)
      ) {
        assert.ok(
          Array.from(back.data as ArrayLike<number>).every((x, i) => Object.is(x, src[i])),
          `${k}: values`,
        );
      }
    }
  }
  const chunked = decodeNpy(encodeNpy(arrays.chunked));
  assert.deepEqual(Array.from(chunked.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(chunked.shape, [2, 3]);
  const scalar = decodeNpy(encodeNpy(arrays.scalar_i64));
  assert.deepEqual(scalar.shape, []);
  assert.equal(scalar.dtype, "int64");
  assert.deepEqual(Array.from(npyToNumbers(scalar)), [6]);
});

Deno.test("npy: float16 conversion matches IEEE round-to-nearest-even", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [1 + 2 ** -11, 0x3c00], // tie -> even
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // tie -> even (0)
    [3 * 2 ** -25, 0x0002],
    [2 ** -14, 0x0400],
    [-0, 0x8000],
    [Infinity, 0x7c00],
  ];
  for (const [x, h] of cases) {
    assert.equal(floatToHalf(x), h, `floatToHalf(${x})`);
    if (
      x !== 65519 && x !== 65520 && x !== 1 + 2 ** -11 && x !== 2 ** -25 && x !== 3 * 2 ** -25 &&
      x !== 1 + 3 * 2 ** -11
    ) {
      assert.ok(Object.is(halfToFloat(h), x), `halfToFloat(${h})`);
    }
  }
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  // Every half value survives a round trip.
  for (let h = 0; h < 0x10000; h++) {
    const x = halfToFloat(h);
    if (!Number.isNaN(x)) assert.equal(floatToHalf(x), h);
  }
});

Deno.test("npy: int64 stays exact; npyToNumbers refuses values beyond 2^53", async () => {
  const a = decodeNpy(encodeNpy({ data: BigInt64Array.from([2n ** 60n, 1n]) }));
  assert.equal(a.dtype, "int64");
  if (a.dtype === "int64") assert.equal(a.data[0], 2n ** 60n);
  await formatErrorOf(() => npyToNumbers(a, "big"));
  assert.deepEqual(
    Array.from(npyToNumbers(decodeNpy(encodeNpy({ dtype: "int64", data: [2 ** 53 - 1] })))),
    [2 ** 53 - 1],
  );
});

Deno.test("npz: round trip stored, compressed and forced ZIP64; files atomically", async () => {
  const { arrays, expected } = sampleArrays();
  const dir = await Deno.makeTempDir();
  try {
    for (
      const opts of [{}, { compressed: true }, { compressed: true, level: 9, zip64: true }, {
        zip64: true,
      }]
    ) {
      const bytes = encodeNpz(arrays, opts);
      const back = decodeNpz(bytes);
      assert.deepEqual(Object.keys(back).sort(), Object.keys(arrays).sort());
      for (const [k, w] of Object.entries(expected)) {
        if (k === "f16") continue; // rounded on write; checked against NumPy below
        assertMatches(back[k], w, `${JSON.stringify(opts)} ${k}`);
      }
      const members = listZipMembers(bytes);
      assert.ok(members.every((m) => m.method === (opts.compressed ? 8 : 0)));
      const path = `${dir}/a.npz`;
      await saveNpz(path, arrays, opts);
      const loaded = await loadNpz(path, { only: ["i64", "b"] });
      assert.deepEqual(Object.keys(loaded).sort(), ["b", "i64"]);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.deepEqual(names, ["a.npz"], "no temporary files left behind");
    }
    // Compression actually compresses.
    const zeros = { z: { data: new Float32Array(100_000) } };
    assert.ok(encodeNpz(zeros, { compressed: true }).length < 2000);
    assert.ok(encodeNpz(zeros).length > 400_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npz: crc32 matches the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const data = crypto.getRandomValues(new Uint8Array(1000));
  assert.equal(crc32(data.subarray(300), crc32(data.subarray(0, 300))), crc32(data));
});

// ---------------------------------------------------------------------------------------------
// NumPy interop
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "npz: files written by NumPy (np.savez, np.savez_compressed, np.save v1/v2/v3) load here",
  ignore: !PY.python,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await runHelper("write", dir);
      const { files } = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`)) as {
        files: Record<string, Record<string, Expected>>;
      };
      for (const [file, want] of Object.entries(files)) {
        const got: Record<string, NpyArray> = file.endsWith(".npz")
          ? await loadNpz(`${dir}/${file}`)
          : { "": decodeNpy(await Deno.readFile(`${dir}/${file}`), { name: file }) };
        assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), file);
        for (const [k, w] of Object.entries(want)) assertMatches(got[k], w, `${file}[${k}]`);
      }
      // NumPy writes ZIP64 local headers and deflate for savez_compressed.
      const members = listZipMembers(await Deno.readFile(`${dir}/np_compressed.npz`));
      assert.ok(members.every((m) => m.method === 8));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "npz: files written here are read by NumPy with the right dtypes and values",
  ignore: !PY.python,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { arrays, expected } = sampleArrays();
      await Deno.writeTextFile(`${dir}/expected.json`, JSON.stringify(expected));
      for (
        const [name, opts] of [
          ["stored.npz", {}],
          ["compressed.npz", { compressed: true }],
          ["zip64.npz", { compressed: true, zip64: true }],
        ] as const
      ) {
        await saveNpz(`${dir}/${name}`, arrays, opts);
        await runHelper("check", `${dir}/${name}`, `${dir}/expected.json`);
      }
      // Single .npy files, including a 0-d int64 and an empty array.
      for (const k of ["scalar_i64", "empty", "f16", "u64", "b"]) {
        await Deno.writeFile(`${dir}/${k}.npy`, encodeNpy(arrays[k]));
        await Deno.writeTextFile(`${dir}/${k}.json`, JSON.stringify({ "": expected[k] }));
        await runHelper("check", `${dir}/${k}.npy`, `${dir}/${k}.json`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------
// Malformed and hostile inputs
// ---------------------------------------------------------------------------------------------

/** A .npy file with the given header text (padded like NumPy) and data bytes. */
function npyWith(header: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  const text = header + " ".repeat(total - pre - header.length - 1) + "\n";
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, text.length, true);
  else dv.setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[pre + i] = text.charCodeAt(i);
  out.set(data, total);
  return out;
}

const hdr = (descr: string, shape: string, fortran = "False") =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

Deno.test("npy: malformed and hostile headers give a FormatError", async () => {
  const ok = npyWith(hdr("<f4", "(2,)"), new Uint8Array(8));
  assert.equal(decodeNpy(ok).shape[0], 2);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /shorter than a header/],
    ["bad magic", Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x58, 1, 0, 0, 0]), /magic/],
    ["version 4.0", npyWith(hdr("<f4", "(0,)"), undefined, 4), /version 4\.0/],
    [
      "version 1.1",
      (() => {
        const b = npyWith(hdr("<f4", "(0,)"));
        b[7] = 1;
        return b;
      })(),
      /version 1\.1/,
    ],
    [
      "header longer than the file",
      (() => {
        const b = npyWith(hdr("<f4", "(0,)"));
        new DataView(b.buffer).setUint16(8, 9000, true);
        return b;
      })(),
      /truncated \.npy header/,
    ],
    [
      "huge v2 header length",
      (() => {
        const b = npyWith(hdr("<f4", "(0,)"), undefined, 2);
        new DataView(b.buffer).setUint32(8, 0xfffffff0, true);
        return b;
      })(),
      /exceeds the limit/,
    ],
    ["not a dict", npyWith("[1, 2, 3]"), /expected '\{'/],
    [
      "code instead of a literal",
      npyWith(
        "{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,), }",
      ),
      /malformed/,
    ],
    ["missing key", npyWith("{'descr': '<f4', 'shape': (1,), }"), /exactly the keys/],
    [
      "extra key",
      npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': True, }"),
      /exactly the keys/,
    ],
    ["duplicate key", npyWith("{'descr': '<f4', 'descr': '<f4', 'shape': (1,), }"), /duplicate/],
    ["object dtype", npyWith(hdr("|O", "(1,)"), new Uint8Array(8)), /object arrays/],
    [
      "structured dtype",
      npyWith("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"),
      /structured/,
    ],
    ["unicode dtype", npyWith(hdr("<U5", "(1,)"), new Uint8Array(20)), /unsupported dtype/],
    ["complex dtype", npyWith(hdr("<c8", "(1,)"), new Uint8Array(8)), /unsupported dtype/],
    [
      "'|' on a 4-byte type",
      npyWith(hdr("|f4", "(1,)"), new Uint8Array(4)),
      /only valid for 1-byte/,
    ],
    ["shape as a list", npyWith(hdr("<f4", "[1]"), new Uint8Array(4)), /malformed/],
    ["(3) is not a tuple", npyWith(hdr("<f4", "(3)"), new Uint8Array(12)), /trailing comma/],
    ["negative dim", npyWith(hdr("<f4", "(-1,)")), /non-negative integer/],
    ["float dim", npyWith(hdr("<f4", "(1.5,)")), /malformed/],
    [
      "fortran_order not a bool",
      npyWith(hdr("<f4", "(1,)", "'yes'"), new Uint8Array(4)),
      /True or False/,
    ],
    ["escape in a string", npyWith(hdr("<f\\x34", "(1,)"), new Uint8Array(4)), /escape/],
    [
      "text after the dict",
      npyWith(hdr("<f4", "(1,)") + " junk", new Uint8Array(4)),
      /after the dict/,
    ],
    ["truncated data", npyWith(hdr("<f4", "(3,)"), new Uint8Array(8)), /truncated \.npy data/],
    ["trailing data", npyWith(hdr("<f4", "(1,)"), new Uint8Array(8)), /follow the header/],
    [
      "huge declared shape",
      npyWith(hdr("<f8", "(1000000000000,)"), new Uint8Array(16)),
      /truncated/,
    ],
    [
      "overflowing shape",
      npyWith(hdr("<f8", "(4611686018427387904, 4611686018427387904)")),
      /too large|truncated/,
    ],
    ["too many dims", npyWith(hdr("<f4", `(${"1, ".repeat(70)})`)), /dimensions/],
    [
      "bad utf-8 in a v3 header",
      (() => {
        const b = npyWith(hdr("<f4", "(0,)"), undefined, 3);
        b[20] = 0xff;
        return b;
      })(),
      /UTF-8/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    const msg = await formatErrorOf(() => decodeNpy(bytes, { name: "x.npy" }));
    assert.match(msg, re, `${what}: ${msg}`);
    assert.match(msg, /^x\.npy: /, `${what}: names the file`);
  }
});

Deno.test("npy: a zero-size array with a huge dimension is fine (no allocation)", () => {
  const a = decodeNpy(npyWith(hdr("<f8", "(0, 1000000000000)")));
  assert.deepEqual(a.shape, [0, 1e12]);
  assert.equal(a.data.length, 0);
});

/** Patches `bytes` (a copy) with `fn(view)`. */
function patched(bytes: Uint8Array, fn: (dv: DataView, b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return b;
}

Deno.test("npz: malformed and hostile archives give a FormatError", async () => {
  const arrays = {
    a: { data: Float32Array.from({ length: 1000 }, (_, i) => i % 7) },
    b: { dtype: "int64" as const, shape: [], data: [3] },
  };
  const stored = encodeNpz(arrays);
  const deflated = encodeNpz(arrays, { compressed: true });
  const ms = listZipMembers(stored);
  const md = listZipMembers(deflated);
  const eocd = (b: Uint8Array) => b.length - 22;
  const cdOff = (b: Uint8Array) => new DataView(b.buffer).getUint32(eocd(b) + 16, true);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /not a ZIP/],
    ["random bytes", crypto.getRandomValues(new Uint8Array(5000)), /not a ZIP/],
    ["a .npy, not a zip", encodeNpy({ data: new Float32Array(4) }), /not a ZIP/],
    ["truncated", stored.subarray(0, stored.length >> 1), /not a ZIP/],
    [
      "trailing junk",
      (() => {
        const b = new Uint8Array(stored.length + 10);
        b.set(stored);
        return b;
      })(),
      /not a ZIP/,
    ],
    [
      "central directory past the end",
      patched(stored, (dv, b) => dv.setUint32(eocd(b) + 16, 0x7fffffff, true)),
      /runs past/,
    ],
    [
      "entry count too large",
      patched(stored, (dv, b) => {
        dv.setUint16(eocd(b) + 8, 0xfffe, true);
        dv.setUint16(eocd(b) + 10, 0xfffe, true);
      }),
      /cannot fit/,
    ],
    ["multi-disk", patched(stored, (dv, b) => dv.setUint16(eocd(b) + 4, 1, true)), /multi-disk/],
    [
      "CRC mismatch (stored)",
      patched(stored, (_dv, b) => {
        b[ms[0].dataOffset + ms[0].size - 1] ^= 0xff;
      }),
      /CRC-32/,
    ],
    [
      "corrupt deflate stream",
      patched(deflated, (_dv, b) => {
        for (let i = 0; i < 40; i++) b[md[0].dataOffset + 5 + i] ^= 0x5a;
      }),
      /corrupt deflate|CRC|inflates/,
    ],
    [
      "declared size beyond deflate's bound",
      patched(deflated, (dv, b) => {
        dv.setUint32(cdOff(b) + 24, 0xfffffff0, true);
      }),
      /more than deflate can produce/,
    ],
    [
      "declared size too small (inflation overflows)",
      patched(deflated, (dv, b) => {
        dv.setUint32(cdOff(b) + 24, 200, true);
      }),
      /more than its declared/,
    ],
    [
      "declared size too large",
      patched(deflated, (dv, b) => {
        dv.setUint32(cdOff(b) + 24, md[0].size + 100, true);
      }),
      /not the declared/,
    ],
    [
      "stored sizes disagree",
      patched(stored, (dv, b) => dv.setUint32(cdOff(b) + 20, 5, true)),
      /compressed size/,
    ],
    ["encrypted", patched(stored, (dv, b) => dv.setUint16(cdOff(b) + 8, 1, true)), /encrypted/],
    ["bzip2", patched(stored, (dv, b) => dv.setUint16(cdOff(b) + 10, 12, true)), /method 12/],
    [
      "local header offset wrong",
      patched(stored, (dv, b) => dv.setUint32(cdOff(b) + 42, 7, true)),
      /local header/,
    ],
    [
      "names differ",
      patched(stored, (_dv, b) => {
        b[30] = "z".charCodeAt(0);
      }),
      /names differ/,
    ],
    [
      "duplicate names",
      patched(stored, (_dv, b) => {
        // Rename member b.npy to a.npy in its local and central headers.
        b[ms[1].dataOffset - "b.npy".length] = "a".charCodeAt(0);
        b[cdOff(b) + 46 + "a.npy".length + 46] = "a".charCodeAt(0);
      }),
      /duplicate/,
    ],
    [
      "ZIP64 sizes without the extra field",
      patched(stored, (dv, b) => {
        dv.setUint32(cdOff(b) + 20, 0xffffffff, true);
        dv.setUint32(cdOff(b) + 24, 0xffffffff, true);
      }),
      /ZIP64 extra/,
    ],
    [
      "member is not a valid .npy",
      (() => {
        // a.npy's bytes replaced by garbage of the same length, with a matching CRC.
        const z = encodeNpz({ a: { dtype: "uint8", data: new Uint8Array(100) } });
        const m = listZipMembers(z)[0];
        return patched(z, (dv, b) => {
          b.fill(0x41, m.dataOffset, m.dataOffset + m.size);
          const crc = crc32(b.subarray(m.dataOffset, m.dataOffset + m.size));
          dv.setUint32(14, crc, true);
          dv.setUint32(cdOff(b) + 16, crc, true);
        });
      })(),
      /"a\.npy".*magic/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    const msg = await formatErrorOf(() => decodeNpz(bytes, {}, "f.npz"));
    assert.match(msg, re, `${what}: ${msg}`);
    assert.match(msg, /^f\.npz: /, `${what}: names the file`);
  }
  // The limit on total bytes.
  await formatErrorOf(() => decodeNpz(stored, { maxBytes: 100 }));
  // A missing file.
  const e = await formatErrorOf(() => loadNpz("/nonexistent/x.npz"));
  assert.match(e, /not found/);
  assert.ok(new FormatError("x") instanceof Error);
});

Deno.test("npz: a real zip bomb is bounded by its declared size", async () => {
  // 64 MB of zeros deflate to ~64 KB; declaring 1 MB must stop inflation early with an error.
  const big = encodeNpz({ z: { dtype: "uint8", data: new Uint8Array(64 << 20) } }, {
    compressed: true,
  });
  assert.ok(big.length < 200_000);
  const cd = new DataView(big.buffer).getUint32(big.length - 22 + 16, true);
  const b = patched(big, (dv) => dv.setUint32(cd + 24, 1 << 20, true));
  // Inflation stops at the declared size (no 64 MB allocation); the test's timeout guards
  // against a hang (speed is measured in bench/, not asserted here).
  const msg = await formatErrorOf(() => decodeNpz(b));
  assert.match(msg, /more than its declared/);
});

Deno.test("npz: the same arrays give the same bytes (members dated at the ZIP epoch unless mtime)", async () => {
  const arrays = { x: { data: new Float32Array([1, 2, 3]) } };
  const a = encodeNpz(arrays, { compressed: true });
  await new Promise((r) => setTimeout(r, 2100)); // past the 2-second resolution of DOS times
  assert.deepEqual(encodeNpz(arrays, { compressed: true }), a);
  const dated = encodeNpz(arrays, { mtime: new Date(2024, 5, 1, 12, 0, 0) });
  assert.notDeepEqual(dated, encodeNpz(arrays));
  assert.deepEqual(decodeNpz(dated).x.data, new Float32Array([1, 2, 3]));
});
