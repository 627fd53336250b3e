#!/usr/bin/python3
"""Writes the hostile inputs of this folder and their manifest, expect.tsv.

  /usr/bin/python3 tests/data/hostile/make.py          # rewrite every input
  /usr/bin/python3 tests/data/hostile/make.py --check  # exit 1 if a file would change

Deterministic: the same bytes on every run. torch (1.13) is used only to
compute the differential expectations (the sha256 of each tensor that
torch.load returns); the inputs themselves are written byte by byte
(hostile_lib.py). Each input is a few KiB at most; the inputs of 100 MB or
100,000 entries are written at test time by tests/harness/test_hostile.c.

expect.tsv, one entry a line, tab-separated (README.md, "The manifest"):
  input  args  exit  status  message  code  sha256  known
"""
import hashlib
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_lib import *  # noqa: E402,F401,F403
import hostile_lib as H  # noqa: E402
import inputs_code  # noqa: E402
import inputs_other  # noqa: E402
import inputs_pickle  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLASS_DIRS = ["pickle", "code", "zip", "safetensors", "legacy", "case"]
COLUMNS = ["input", "args", "exit", "status", "message", "code", "sha256", "known"]


class Manifest:
    def __init__(self, check):
        self.rows, self.files, self.check, self.changed = [], {}, check, []

    def write(self, name, data):
        assert name not in self.files, name
        assert len(data) <= 256 * 1024, "%s: %d bytes; keep inputs small" % (name, len(data))
        self.files[name] = data
        path = os.path.join(HERE, name)
        old = open(path, "rb").read() if os.path.exists(path) else None
        if old != data:
            self.changed.append(name)
            if not self.check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)

    def expect(self, inp, args, exit_code, status="-", message="-", code=False, sha=None,
               known=None):
        """args: harness arguments, {} standing for the input's path."""
        assert "\t" not in message and "\n" not in message
        self.rows.append([inp, args, "|".join(str(x) for x in exit_code)
                          if isinstance(exit_code, tuple) else str(exit_code), status, message, "marker" if code else "-",
                          sha or "-", known or "-"])

    def add(self, name, data, args="inspect {} --json", exit_code=1, status="LG_E_FORMAT",
            message="-", **kw):
        self.write(name, data)
        self.expect(name, args, exit_code, status, message, **kw)


def torch_shas(path):
    """name=sha256 of each tensor torch.load 1.13 returns (a flat dict)."""
    import torch
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        raise SystemExit("%s: torch.load: %s" % (path, e))
    out = []
    for k in sorted(obj):
        t = obj[k].contiguous()
        out.append("%s=%s" % (k, hashlib.sha256(t.numpy().tobytes()).hexdigest()))
    return ";".join(out)


def main():
    m = Manifest("--check" in sys.argv)
    inputs_pickle.make(m)
    inputs_code.make(m)
    inputs_other.make(m)
    # Legal inputs loaded too, onto sim mps, every invariant checked.
    for inp in ["pickle/overlapping-views.pt", "pickle/key-two-types.pt",
                "pickle/string-long-name.pt", "pickle/zero-stride-broadcast.pt",
                "zip/baseline.pt", "zip/deflated-records.pt", "zip/data-descriptors.pt",
                "zip/names-in-capitals.pt",
                "legacy/baseline.pt", "safetensors/many-tensors-500.safetensors",
                "safetensors/name-4k.safetensors", "safetensors/zero-size.safetensors"]:
        for policy in ["via-cpu", "staged"]:
            m.expect(inp, "load {} --device mps --policy %s --json" % policy, 0, "LG_OK")
    for folder in CLASS_DIRS:  # files no longer written
        for name in sorted(os.listdir(os.path.join(HERE, folder))):
            rel = folder + "/" + name
            if rel not in m.files:
                m.changed.append("-" + rel)
                if not m.check:
                    os.remove(os.path.join(HERE, rel))
    for row in m.rows:  # differential entries: computed from torch.load
        if row[6] == "torch":
            row[6] = torch_shas(os.path.join(HERE, row[0]))
    text = "#" + "\t".join(COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in m.rows)
    path = os.path.join(HERE, "expect.tsv")
    old = open(path).read() if os.path.exists(path) else None
    if old != text:
        m.changed.append("expect.tsv")
        if not m.check:
            with open(path, "w") as f:
                f.write(text)
    print("%d inputs, %d manifest entries; %d changed%s" % (
        len(m.files), len(m.rows), len(m.changed),
        (": " + ", ".join(m.changed[:10])) if m.changed else ""))
    return 1 if m.check and m.changed else 0


if __name__ == "__main__":
    sys.exit(main())
