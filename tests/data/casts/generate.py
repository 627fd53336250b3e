#!/usr/bin/python3
"""Writes casts.safetensors and manifest.json: what PyTorch's `t.to(dtype)`
(the cast `copy_` applies) gives for every (source, target) dtype pair.

Run with Debian's /usr/bin/python3 (torch 1.13):
    /usr/bin/python3 tests/data/casts/generate.py tests/data/casts

casts.safetensors holds one tensor per source dtype, named by loadgate's
dtype names (f64 f32 f16 bf16 i64 i32 i16 i8 u8 bool). It is written by
hand: 8-byte little-endian header length, the JSON header, the data.

manifest.json gives, per pair, the sha256 of `t.to(target)`'s bytes
(row-major, little-endian). "elements" lists the indices compared, or is
null for all of them: a float cast to an integer type is compared only
where PyTorch defines it (finite, and in the target's range after
truncation toward zero), and a float cast to a float type where it is
not NaN (a NaN stays NaN, test_cast.c checks that, but its bits are not
specified); the other elements are "not specified by PyTorch" and left out
(docs/policies.md).
"""
import hashlib
import json
import math
import struct
import sys

import torch

NAMES = [
    ("f64", torch.float64, "F64"), ("f32", torch.float32, "F32"),
    ("f16", torch.float16, "F16"), ("bf16", torch.bfloat16, "BF16"),
    ("i64", torch.int64, "I64"), ("i32", torch.int32, "I32"),
    ("i16", torch.int16, "I16"), ("i8", torch.int8, "I8"),
    ("u8", torch.uint8, "U8"), ("bool", torch.bool, "BOOL"),
]
FLOATS = {"f64", "f32", "f16", "bf16"}
RANGES = {
    "i64": (-2**63, 2**63 - 1), "i32": (-2**31, 2**31 - 1),
    "i16": (-2**15, 2**15 - 1), "i8": (-128, 127), "u8": (0, 255),
}

FLOAT_VALUES = [
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.25, 1.5, -1.5, 2.5, -2.5, -2.7,
    3.9999, 0.9999, -0.9999, 100.25, -100.75, 127.9, -128.9, 254.99, 255.5,
    1.0 / 3.0, -2.0 / 3.0, 0.1, -0.1,
    # f16 rounding: spacing 2 at 2048, 2^-10 at 1; halfway cases tie to even
    2049.0, 2051.0, 1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-11 + 2**-40,
    65504.0, 65519.0, 65520.0, -65520.0, 70000.0,
    6.103515625e-05, 5.960464477539063e-08, 2.98023223876953125e-08,
    8.940696716308594e-08, 1e-8, 3e-5, -3e-5,
    # bf16 rounding: spacing 2^-7 at 1; halfway cases tie to even
    1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-30, 257.0, 259.0,
    # f32 rounding
    16777217.0, 16777219.0, 1 + 2**-24, 1 + 3 * 2**-24, 3.4e38, 1e39,
    1e-40, 1e-46, 1e300, -1e300,
    # int ranges
    2147483647.0, 2147483648.5, -2147483648.9, 32767.9, -32768.9, 32768.0,
    1e18, -1e18, 9.2e18, 1e19,
    float("inf"), float("-inf"), float("nan"),
]

INT_VALUES = [
    0, 1, -1, 2, -2, 7, 127, 128, -128, -129, 255, 256, 257, -255, 1000,
    32767, 32768, -32768, -32769, 65535, 65536, 65519, 65520, 2049, 2051,
    2**24 + 1, 2**24 + 3, -(2**24 + 1), 2**31 - 1, 2**31, -2**31, -2**31 - 1,
    2**53 + 1, 2**53 + 3, 2**62 + 2**38 + 1, 123456789, -987654321,
    2**63 - 1, -2**63, 0x0123456789abcdef,
]


def source(name, dtype):
    if name in FLOATS:
        return torch.tensor(FLOAT_VALUES, dtype=torch.float64).to(dtype)
    if name == "bool":
        return torch.tensor([True, False, False, True, True, False])
    if name == "u8":
        return torch.tensor([0, 1, 2, 7, 127, 128, 129, 200, 254, 255], dtype=torch.uint8)
    # wider-than-target values wrap in torch, as a cast would
    return torch.tensor(INT_VALUES, dtype=torch.int64).to(dtype)


def raw(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def elements(src_name, src, dst_name):
    """Indices PyTorch defines for this pair; None for all."""
    values = src.to(torch.float64).tolist()
    if src_name in FLOATS and dst_name in FLOATS:
        # NaN stays NaN, but its bits are not specified: f32 -> bf16 gives
        # 0xffff on the vectorized path, 0x7fc0 on the scalar one
        return [i for i, v in enumerate(values) if not math.isnan(v)]
    if src_name not in FLOATS or dst_name not in RANGES:
        return None
    lo, hi = RANGES[dst_name]
    return [i for i, v in enumerate(values) if math.isfinite(v) and lo <= math.trunc(v) <= hi]


def write_safetensors(path, tensors):
    """tensors: (name, safetensors dtype, tensor) in file order."""
    header, data = {}, b""
    for n, st, t in tensors:
        b = raw(t)
        header[n] = {"dtype": st, "shape": list(t.shape),
                     "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def f64_weights(out):
    """f64-weights.safetensors: f64 weights with no NaN (every value's cast
    is specified), and f64-weights.json: the sha256 of each tensor cast to
    float32 by PyTorch, as an f32 store holds it after a load."""
    finite = [v for v in FLOAT_VALUES if not math.isnan(v)]
    w = torch.tensor(finite[:64], dtype=torch.float64).reshape(8, 8)
    b = torch.tensor(finite[64:] + finite[:16 - len(finite[64:])], dtype=torch.float64)
    tensors = [("layer.weight", "F64", w), ("layer.bias", "F64", b)]
    write_safetensors(out + "/f64-weights.safetensors", tensors)
    manifest = {"torch": torch.__version__, "file": "f64-weights.safetensors",
                "cast_to": "f32", "tensors": {
                    n: {"shape": list(t.shape),
                        "sha256": hashlib.sha256(raw(t.to(torch.float32))).hexdigest()}
                    for n, _, t in tensors}}
    with open(out + "/f64-weights.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main(out):
    tensors = [(n, st, source(n, dt)) for n, dt, st in NAMES]
    write_safetensors(out + "/casts.safetensors", tensors)
    f64_weights(out)

    pairs = []
    for sn, _, t in tensors:
        for dn, ddt, _ in NAMES:
            r = t.to(ddt)
            keep = elements(sn, t, dn)
            b = raw(r) if keep is None else raw(r[keep]) if keep else b""
            pairs.append({"from": sn, "to": dn, "elements": keep,
                          "sha256": hashlib.sha256(b).hexdigest()})
    with open(out + "/manifest.json", "w") as f:
        f.write('{"torch": "%s", "file": "casts.safetensors", "pairs": [\n' % torch.__version__)
        f.write(",\n".join(json.dumps(p, separators=(", ", ": ")) for p in pairs))
        f.write("\n]}\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
