"""Reads every checkpoint given with torch.load and with `harness inspect
--json --backend torch`, and compares names, dtypes, shapes and sha256.

Usage: python3 compare.py HARNESS FILE...
  (needs PyTorch, Debian's python3-torch; HARNESS built with libtorch, so
  that TorchScript files are read too)

Prints one line per file: "same", "refused" (loadgate's reason), "differs"
(what differs) or "torch.load fails"; then the counts. Exit 1 if any file
differs. Example, over the test suites of two Debian source packages:

  apt-get source pytorch pytorch-vision    # needs deb-src in sources.list
  find vision-0.14.1 pytorch-1.13.1 -name '*.pt' -o -name '*.pth' \\
       -o -name '*.pkl' -o -name '*.ptl' | sort | xargs python3 compare.py build/harness
"""
import hashlib
import json
import subprocess
import sys
from collections import Counter

import torch

DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
          torch.float64: "f64", torch.int64: "i64", torch.int32: "i32", torch.int16: "i16",
          torch.int8: "i8", torch.uint8: "u8", torch.bool: "bool"}


def flatten(obj, prefix, named):
    """Names as loadgate gives them: dict keys (str, int, bool, None) and
    list or tuple indices joined with "."; a lone tensor is "tensor"."""
    if isinstance(obj, torch.Tensor):
        named[prefix or "tensor"] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int, bool)) or k is None:
                flatten(v, f"{prefix}.{k}" if prefix else str(k), named)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), named)


def compare(harness, path):
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch.package archives, mobile-only modules, ...
        return "torch.load fails", str(e).splitlines()[0][:120]
    if isinstance(obj, torch.jit.ScriptModule):
        obj = obj.state_dict()
    ref = {}
    flatten(obj, "", ref)
    r = subprocess.run([harness, "inspect", "--json", "--backend", "torch", path],
                       capture_output=True, text=True)
    out = json.loads(r.stdout)
    if r.returncode != 0:
        return "refused", out.get("message", r.stderr).split("is not allowed: ")[-1]
    got = {t["name"]: t for t in out["tensors"]}
    diffs = []
    for name, t in ref.items():
        t = t.detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        g = got.get(name)
        if g is None:
            diffs.append(f"{name} missing")
        elif (g["dtype"], g["shape"], g["sha256"]) != (DTYPES.get(t.dtype), list(t.shape),
                                                        hashlib.sha256(raw).hexdigest()):
            diffs.append(f"{name}: {g['dtype']} {g['shape']}, torch {t.dtype} {list(t.shape)}")
    diffs += [f"{name} not in torch.load's" for name in sorted(set(got) - set(ref))]
    return ("differs", "; ".join(diffs)) if diffs else ("same", f"{out['format']}, {len(ref)} tensors")


def main():
    harness, files = sys.argv[1], sys.argv[2:]
    counts = Counter()
    for path in files:
        verdict, detail = compare(harness, path)
        counts[verdict] += 1
        print(f"{verdict:16} {path}: {detail}")
    print(", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    return 1 if counts["differs"] else 0


if __name__ == "__main__":
    sys.exit(main())
