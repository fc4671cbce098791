#!/usr/bin/env python3
"""safetensors by hand, with numpy only (no safetensors package), for tests/io/safetensors_test.ts.

    python3 safetensors_helper.py check FILE EXPECTED.json   # parse FILE, compare with EXPECTED
    python3 safetensors_helper.py write FILE EXPECTED.json   # write FILE, describe it in EXPECTED

The format (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, N bytes
of UTF-8 JSON ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
starting with "{", possibly padded with spaces), then the data buffer; offsets are relative to
the buffer, which must be covered entirely, without holes or overlaps, little-endian, row-major.

EXPECTED.json: {"metadata": {...}, "tensors": {name: {"dtype", "shape", "values"}}} where
float values are numbers or "nan" / "inf" / "-inf" / "-0" and compared bit for bit after the
float32 (F32) or float64 (F64) conversion; integers and bools compare exactly.
"""

import json
import struct
import sys

import numpy as np

DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def parse(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        fail("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail("header length %d past the end" % n)
    hbytes = raw[8:8 + n]
    text = hbytes.decode("utf-8")
    if not text.startswith("{"):
        fail("header does not start with '{'")
    if text.rstrip(" ") != text.rstrip():
        fail("header padding is not spaces")
    header = json.loads(text)
    buf = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    spans = []
    for name, info in header.items():
        if set(info.keys()) != {"dtype", "shape", "data_offsets"}:
            fail("%s: keys %s" % (name, sorted(info.keys())))
        dt = np.dtype(DTYPES[info["dtype"]])
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if end - begin != count * dt.itemsize:
            fail("%s: %d bytes for shape %s of %s" % (name, end - begin, shape, info["dtype"]))
        arr = np.frombuffer(buf[begin:end], dtype=dt).reshape(shape)
        tensors[name] = (info["dtype"], list(shape), arr)
        spans.append((begin, end, name))
    spans.sort()
    at = 0
    for begin, end, name in spans:
        if begin != at:
            fail("%s starts at %d, expected %d (hole or overlap)" % (name, begin, at))
        at = end
    if at != len(buf):
        fail("data buffer has %d bytes, tensors cover %d" % (len(buf), at))
    return n, meta, tensors


def decode_value(v):
    if isinstance(v, str):
        return {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "-0": -0.0}[v]
    return v


def encode_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if f != f:
        return "nan"
    if f in (float("inf"), float("-inf")):
        return "inf" if f > 0 else "-inf"
    if f == 0 and np.signbit(f):
        return "-0"
    return f


def check(path, expected_path):
    with open(expected_path) as fh:
        expected = json.load(fh)
    n, meta, tensors = parse(path)
    if n % 8 != 0:
        fail("header length %d is not a multiple of 8 (the reference writer pads)" % n)
    if meta != expected["metadata"]:
        fail("metadata %r != %r" % (meta, expected["metadata"]))
    if sorted(tensors) != sorted(expected["tensors"]):
        fail("names %s != %s" % (sorted(tensors), sorted(expected["tensors"])))
    for name, exp in expected["tensors"].items():
        dtype, shape, arr = tensors[name]
        if dtype != exp["dtype"] or shape != exp["shape"]:
            fail("%s: %s %s != %s %s" % (name, dtype, shape, exp["dtype"], exp["shape"]))
        want = np.array([decode_value(v) for v in exp["values"]], dtype=np.dtype(DTYPES[dtype]))
        got = arr.reshape(-1)
        if dtype in ("F32", "F64"):
            ibits = "<u4" if dtype == "F32" else "<u8"
            same = np.array_equal(got.view(ibits), want.view(ibits))
        else:
            same = np.array_equal(got, want)
        if not same:
            fail("%s: values %r != %r" % (name, got.tolist(), want.tolist()))
    print("ok %d tensors" % len(tensors))


def write(path, expected_path):
    arrays = {
        "f32": np.array([[1.5, -2.25, np.pi], [np.inf, -np.inf, np.nan]], dtype="<f4"),
        "f32_special": np.array([-0.0, 1e-40, 3.4028235e38, -1.1754944e-38], dtype="<f4"),
        "f64": np.array([[0.1, -2.5], [1.0 / 3.0, 12345.678901234]], dtype="<f8"),
        "i32": np.array([[-2 ** 31, 2 ** 31 - 1, 0, 7]], dtype="<i4"),
        "i64": np.array([[-5, 0], [2 ** 31 - 1, -2 ** 31]], dtype="<i8"),
        "bool": np.array([True, False, True, True], dtype="?"),
        "scalar": np.array(3.25, dtype="<f4"),
        "empty": np.zeros((2, 0), dtype="<f4"),
        "empty_i64": np.zeros((0,), dtype="<i8"),
    }
    rev = {v: k for k, v in DTYPES.items()}
    header = {"__metadata__": {"format": "pt", "written_by": "safetensors_helper.py"}}
    chunks = []
    at = 0
    for name, arr in arrays.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": rev[arr.dtype.str if arr.dtype.str in rev else arr.dtype.char],
            "shape": list(arr.shape),
            "data_offsets": [at, at + len(data)],
        }
        chunks.append(data)
        at += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text.encode("utf-8")) % 8) % 8)
    hb = text.encode("utf-8")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hb)))
        fh.write(hb)
        for c in chunks:
            fh.write(c)
    expected = {
        "metadata": header["__metadata__"],
        "tensors": {
            name: {
                "dtype": header[name]["dtype"],
                "shape": list(arr.shape),
                "values": [encode_value(v) for v in arr.reshape(-1).tolist()],
            }
            for name, arr in arrays.items()
        },
    }
    with open(expected_path, "w") as fh:
        json.dump(expected, fh)
    print("wrote %d tensors" % len(arrays))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("check", "write"):
        print(__doc__)
        sys.exit(2)
    (check if sys.argv[1] == "check" else write)(sys.argv[2], sys.argv[3])
