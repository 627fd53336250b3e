"""torch.save checkpoints written by other PyTorch versions and rewritten by
other zip tools, with a manifest of what torch.load reads from each.

Two kinds of file:

* Copied, byte for byte, from the test suites of two Debian source packages
  (`apt-get source pytorch pytorch-vision`, Debian 12): checkpoints that
  torchvision's and PyTorch's developers wrote with the PyTorch of their
  day (legacy files from before 1.6, one written on Windows; zip files
  from 1.6 on, with "archive" or the file's stem as folder, storage keys
  that are Python object ids, PyTorch 1.6's own layout with "version"
  first and data descriptors). SOURCES lists them; both projects are
  BSD-licensed.
* Rewritten from ../pytorch-1.13 by other zip writers: Python's zipfile
  (deflated records; an unseekable stream, so data descriptors; zip64
  extra blocks on every record) and Info-ZIP's zip (records in another
  order, directory entries, no 64-byte alignment). torch.load reads them
  all, and so must loadgate.

manifest.json has the schema of ../pytorch-1.13/manifest.json, names as
loadgate gives them (dict keys and list indices joined with "."), and for
files loadgate refuses on purpose "refused": the words of its error.

Usage: python3 generate.py OUTDIR VISION_SRC PYTORCH_SRC
  (needs PyTorch, Debian's python3-torch, and the zip command; the two
  source folders are the unpacked pytorch-vision 0.14.1 and pytorch
  1.13.1 sources)
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import torch

from compare import flatten  # loadgate's names

out, vision, pytorch = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))
pt113 = os.path.join(here, "..", "pytorch-1.13")
os.makedirs(out, exist_ok=True)

# (file in the source tree, what it shows, loadgate's refusal or None)
SOURCES = [
    (f"{vision}/test/expect/ModelTester.test_resnet18_expect.pkl",
     "torchvision: legacy format (before 1.6), written on Windows (type_sizes long=4)", None),
    (f"{vision}/test/expect/ModelTester.test_keypointrcnn_resnet50_fpn_expect.pkl",
     "torchvision: zip, a list of dicts of tensors, float64 scalars", None),
    (f"{vision}/test/expect/ModelTester.test_mobilenet_v3_small_expect.pkl",
     "torchvision: zip, storage keys that are Python object ids", None),
    (f"{vision}/test/expect/ModelTester.test_maxvit_t_expect.pkl",
     "torchvision: zip whose folder is the file's stem, not \"archive\"", None),
    (f"{pytorch}/test/quantization/serialized/TestSerialization.test_default_qat_qconfig.state_dict.pt",
     "PyTorch's tests: zip, a state_dict of 23 tensors (uint8, int32, float32, 0-dim)", None),
    (f"{pytorch}/test/quantization/serialized/TestSerialization.test_linear_dynamic_float16.state_dict.pt",
     "PyTorch's tests: legacy format, a state_dict with 0-dim float64 and int64", None),
    (f"{pytorch}/test/quantization/serialized/TestSerialization.test_lstm.expected.pt",
     "PyTorch's tests: legacy format, a tuple holding a tuple", None),
    (f"{pytorch}/test/quantization/serialized/TestSerialization.test_lstm.state_dict.pt",
     "PyTorch's tests: PyTorch 1.6's zip layout (version first, data descriptors); "
     "holds a TorchScript object, refused",
     'global "torch._C ScriptObject" is not allowed'),
    (f"{pytorch}/test/quantization/serialized/TestSerialization.test_linear.input.pt",
     "PyTorch's tests: legacy format, a quantized tensor, refused",
     'global "torch._utils _rebuild_qtensor" is not allowed: quantized tensors are not supported'),
]

manifest = {"torch": torch.__version__, "files": {}}
FIXED_TIME = (2000, 1, 1, 0, 0, 0)  # the same bytes on every run


def digest(t):
    t = t.detach().contiguous().cpu()
    raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "sha256": hashlib.sha256(raw).hexdigest()}


def record(name, note, refused=None):
    path = os.path.join(out, name)
    with open(path, "rb") as f:
        fmt = "torch-zip" if f.read(4) == b"PK\x03\x04" else "torch-legacy"
    entry = {"format": fmt, "note": note, "tensors": {}}
    if refused:
        entry["refused"] = refused
    else:
        named = {}
        flatten(torch.load(path, map_location="cpu"), "", named)
        entry["tensors"] = {k: digest(v) for k, v in named.items()}
    manifest["files"][name] = entry


for src, note, refused in SOURCES:
    shutil.copyfile(src, os.path.join(out, os.path.basename(src)))
    record(os.path.basename(src), note, refused)


def records(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


class Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek or tell: zipfile then writes
    data descriptors, as any writer streaming to a pipe or socket does."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)


# Python's zipfile, every record deflated.
with zipfile.ZipFile(os.path.join(out, "zipfile_deflated.pt"), "w", zipfile.ZIP_DEFLATED,
                     compresslevel=9) as z:
    for name, data in records(os.path.join(pt113, "train_ckpt.pt")):
        z.writestr(zipfile.ZipInfo(name, date_time=FIXED_TIME), data, zipfile.ZIP_DEFLATED, 9)
record("zipfile_deflated.pt", "train_ckpt.pt rewritten by Python's zipfile, every record deflated")

# Python's zipfile on a stream that cannot seek: data descriptors.
with open(os.path.join(out, "zipfile_stream.pt"), "wb") as f:
    with zipfile.ZipFile(Unseekable(f), "w", zipfile.ZIP_STORED) as z:
        for name, data in records(os.path.join(pt113, "mlp_f32.pt")):
            with z.open(name, "w") as w:
                w.write(data)
record("zipfile_stream.pt", "mlp_f32.pt rewritten by Python's zipfile to an unseekable "
       "stream: stored records with data descriptors")

# Python's zipfile, zip64 extra blocks on every record.
with zipfile.ZipFile(os.path.join(out, "zipfile_zip64.pt"), "w", zipfile.ZIP_STORED) as z:
    for name, data in records(os.path.join(pt113, "mixed.pt")):
        with z.open(name, "w", force_zip64=True) as w:
            w.write(data)
record("zipfile_zip64.pt", "mixed.pt rewritten by Python's zipfile with force_zip64: "
       "zip64 extra blocks in every local header")

# Info-ZIP: unpacked and zipped again, tensor records before data.pkl,
# with directory entries, deflated where that helps.
with tempfile.TemporaryDirectory() as tmp:
    with zipfile.ZipFile(os.path.join(pt113, "train_ckpt.pt")) as z:
        z.extractall(tmp)
        names = z.namelist()
    top = names[0].split("/")[0]
    for root, dirs, files in os.walk(tmp):
        for n in dirs + files:
            os.utime(os.path.join(root, n), (946684800, 946684800))  # FIXED_TIME, UTC
    order = [f"{top}/", f"{top}/data/"] + sorted(n for n in names if "/data/" in n) + \
        [n for n in names if "/data/" not in n]
    target = os.path.join(os.path.abspath(out), "infozip_reordered.pt")
    if os.path.exists(target):
        os.unlink(target)
    subprocess.run(["zip", "-X", "-q", target] + order, cwd=tmp, check=True,
                   env=dict(os.environ, TZ="UTC"))
record("infozip_reordered.pt", "train_ckpt.pt unpacked and zipped again by Info-ZIP: "
       "directory entries, tensor records before data.pkl, deflated records")

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print("wrote", sorted(os.listdir(out)))
