#!/usr/bin/env python3
"""NumPy side of tests/io/npz_test.ts and tests/training/replay_buffer_test.ts.

    python3 npz_helper.py write DIR              # NumPy writes files into DIR, described in DIR/expected.json
    python3 npz_helper.py check FILE EXPECTED    # np.load(FILE) must match EXPECTED (a JSON file)

Files written by `write`:
    np_stored.npz      np.savez(**ARRAYS)
    np_compressed.npz  np.savez_compressed(**ARRAYS)
    np_replay.npz      a replay buffer with the reference's keys (np.savez_compressed)
    v1.npy, v2.npy, v3.npy, fortran.npy, bigendian.npy, zero_d.npy, empty.npy   single arrays

EXPECTED: {"files": {file: {name: {"dtype": numpy dtype name, "shape": [...], "values": [...]}}}}
(a .npy file's single array is under the name ""). Values are flat in C order: floats as numbers
or "nan" / "inf" / "-inf" / "-0", compared bit for bit after NumPy casts them to the dtype (so a
float16/float32 value also checks the writer's rounding); integers as decimal strings (exact);
bools as true/false. `check` also runs zipfile's CRC test on archives.
"""

import json
import os
import sys
import zipfile

import numpy as np
from numpy.lib import format as npformat


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def enc(v, kind):
    if kind == "b":
        return bool(v)
    if kind in "iu":
        return str(int(v))
    v = float(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0 and np.signbit(v):
        return "-0"
    return v


def describe(a):
    a = np.asarray(a)
    return {
        "dtype": a.dtype.name,
        "shape": list(a.shape),
        "values": [enc(v, a.dtype.kind) for v in a.ravel(order="C").tolist()],
    }


def dec(v):
    if isinstance(v, str):
        return {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "-0": -0.0}[v]
    return v


def same(got, want, where):
    if got.dtype.name != want["dtype"]:
        fail(f"{where}: dtype {got.dtype.name}, expected {want['dtype']}")
    if list(got.shape) != want["shape"]:
        fail(f"{where}: shape {list(got.shape)}, expected {want['shape']}")
    flat = got.ravel(order="C")
    vals = want["values"]
    if flat.size != len(vals):
        fail(f"{where}: {flat.size} values, expected {len(vals)}")
    kind = got.dtype.kind
    if kind == "b":
        exp = np.array([bool(v) for v in vals], dtype=bool)
        if not np.array_equal(flat, exp):
            fail(f"{where}: values {flat.tolist()} != {vals}")
    elif kind in "iu":
        g = [int(x) for x in flat.tolist()]
        e = [int(x) for x in vals]
        if g != e:
            fail(f"{where}: values {g} != {e}")
    else:
        with np.errstate(over="ignore"):  # 65520 -> float16 inf is intended
            exp = np.array([dec(v) for v in vals], dtype=np.float64).astype(got.dtype)
        bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
        g = flat.astype(got.dtype.newbyteorder("=")).view(bits)
        e = exp.view(bits)
        gn, en = np.isnan(flat), np.isnan(exp)
        ok = (gn == en) & (gn | (g == e))
        if not ok.all():
            i = int(np.argmin(ok))
            fail(f"{where}: value {i}: {flat[i]!r} (bits {int(g[i]):#x}) != {exp[i]!r} (bits {int(e[i]):#x})")


def arrays():
    f32 = np.array([[1.5, -0.0, np.nan], [np.inf, -np.inf, 3.4028234663852886e38]], dtype=np.float32)
    return {
        "f32": f32,
        "f64": np.array([0.1, -2.5e-300, np.nan, -np.inf, 5e-324, -0.0], dtype=np.float64),
        "f16": np.array([1.5, 65504, -6.1e-05, 5.96e-08, np.nan, -np.inf], dtype=np.float16),
        "i64": np.array([2**63 - 1, -(2**63), 2**53 + 1, -7, 0], dtype=np.int64),
        "i32": np.arange(-3, 3, dtype=np.int32).reshape(2, 3),
        "i16": np.array([-32768, 32767], dtype=np.int16),
        "i8": np.array([-128, 127, 0], dtype=np.int8),
        "u8": np.array([[0, 255], [7, 128]], dtype=np.uint8),
        "u16": np.array([65535, 1], dtype=np.uint16),
        "u32": np.array([2**32 - 1, 0], dtype=np.uint32),
        "u64": np.array([2**64 - 1, 2**53], dtype=np.uint64),
        "b": np.array([True, False, True, True]),
        "scalar_f32": np.float32(0.125),
        "scalar_i64": np.int64(-42),
        "scalar_b": np.bool_(True),
        "empty": np.zeros((3, 0), dtype=np.float64),
        "empty1": np.zeros((0,), dtype=np.int64),
        "be_f4": np.arange(6, dtype=">f4").reshape(3, 2) / 3,
        "be_i8": np.array([1, -2, 2**40], dtype=">i8"),
        "fortran_f64": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "fortran_i32": np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)),
        "fortran_b": np.asfortranarray(np.arange(6).reshape(2, 3) % 2 == 0),
    }


def replay():
    rng = np.random.default_rng(0)
    n = 25
    dones = np.zeros(n, dtype=bool)
    dones[[6, 13, 20]] = True  # three complete episodes, then one in progress
    return {
        "obs": rng.standard_normal((n, 4)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "rewards": rng.standard_normal(n).astype(np.float32),
        "dones": dones,
        "obs_shape": np.array([4], dtype=np.int64),
        "action_dim": np.int64(2),
        "capacity": np.int64(100),
    }


def write(d):
    files = {}
    a = arrays()
    np.savez(os.path.join(d, "np_stored.npz"), **a)
    np.savez_compressed(os.path.join(d, "np_compressed.npz"), **a)
    files["np_stored.npz"] = {k: describe(v) for k, v in a.items()}
    files["np_compressed.npz"] = files["np_stored.npz"]
    r = replay()
    np.savez_compressed(os.path.join(d, "np_replay.npz"), **r)
    files["np_replay.npz"] = {k: describe(v) for k, v in r.items()}
    singles = {
        "v1.npy": ((1, 0), a["f32"]),
        "v2.npy": ((2, 0), a["i64"]),
        "v3.npy": ((3, 0), a["u8"]),
        "fortran.npy": (None, a["fortran_i32"]),
        "bigendian.npy": (None, a["be_f4"]),
        "zero_d.npy": (None, a["scalar_f32"]),
        "empty.npy": (None, a["empty"]),
    }
    for name, (version, arr) in singles.items():
        with open(os.path.join(d, name), "wb") as f:
            npformat.write_array(f, np.asanyarray(arr), version=version, allow_pickle=False)
        files[name] = {"": describe(arr)}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"files": files}, f)
    print("OK")


def check(path, expected_path):
    with open(expected_path) as f:
        want = json.load(f)
    if path.endswith(".npz"):
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                fail(f"zipfile CRC test failed on {bad}")
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in z.files}
    else:
        got = {"": np.load(path, allow_pickle=False)}
    if sorted(got) != sorted(want):
        fail(f"keys {sorted(got)} != {sorted(want)}")
    for k, w in want.items():
        same(got[k], w, f"{os.path.basename(path)}[{k!r}]")
    print("OK")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        fail(__doc__)
