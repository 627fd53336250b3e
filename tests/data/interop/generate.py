"""Reference torch.save files beyond ../pytorch-1.13: other pickle protocols,
the legacy format with framing, parameters, tensor subclasses with Python
attributes, lists, a lone tensor, views with zero strides, a training
checkpoint holding an argparse.Namespace and NumPy state, and a whole module
(which a weights reader must refuse). Writes the files and manifest.json
(same schema as ../pytorch-1.13/manifest.json) into OUTDIR.

Usage: python3 generate.py OUTDIR        (needs PyTorch; Debian: python3-torch)
"""
import hashlib
import json
import os
import sys
from collections import OrderedDict

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(99)
manifest = {"torch": torch.__version__, "files": {}}


def digest(t):
    t = t.detach().contiguous().cpu()
    raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "sum": float(t.double().sum()) if t.numel() else 0.0}


def record(name, named, fmt, note):
    manifest["files"][name] = {"format": fmt, "note": note,
                               "tensors": {k: digest(v) for k, v in named.items()}}


base = OrderedDict(
    w=torch.randn(4, 6), b=torch.randn(6).half(), idx=torch.arange(5), flag=torch.tensor([True, False]))

for proto in (4, 5):
    name = f"proto{proto}.pt"
    torch.save(base, f"{out}/{name}", pickle_protocol=proto)
    record(name, base, "torch-zip", f"pickle protocol {proto}: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL")

torch.save(base, f"{out}/legacy_proto4.pt", pickle_protocol=4, _use_new_zipfile_serialization=False)
record("legacy_proto4.pt", base, "torch-legacy", "legacy format, pickle protocol 4")

params = {"weight": torch.nn.Parameter(torch.randn(3, 2)), "bias": torch.nn.Parameter(torch.randn(3))}
torch.save(params, f"{out}/parameters.pt")
record("parameters.pt", params, "torch-zip", "nn.Parameter: torch._utils._rebuild_parameter")

tagged = torch.randn(2, 3)
tagged.note = "has a Python attribute"
torch.save({"tagged": tagged}, f"{out}/attributes.pt")
record("attributes.pt", {"tagged": tagged}, "torch-zip", "torch._tensor._rebuild_from_type_v2")

lst = [torch.randn(2), torch.randn(3, 1)]
torch.save(lst, f"{out}/list.pt")
record("list.pt", {"0": lst[0], "1": lst[1]}, "torch-zip", "a list: names are indices")

lone = torch.randn(5)
torch.save(lone, f"{out}/lone_tensor.pt")
record("lone_tensor.pt", {"tensor": lone}, "torch-zip", "a tensor saved on its own: named tensor")

views = {"expanded": torch.randn(3, 1).expand(3, 4), "channels_last":
         torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last), "every_other": torch.arange(20.)[::2]}
torch.save(views, f"{out}/views.pt")
record("views.pt", views, "torch-zip", "zero strides, channels_last, a step of 2")

# A training checkpoint as many scripts write it: the model next to the
# script's argparse.Namespace and NumPy's RNG state. Refused as a whole;
# with key "model" the model loads and the rest is a finding.
import argparse
import numpy as np
np.random.seed(5)
model = OrderedDict(w=torch.randn(3, 2), b=torch.randn(3))
train = {"model": model, "args": argparse.Namespace(lr=0.1, epochs=3),
         "rng": np.random.get_state(), "epoch": 3}
torch.save(train, f"{out}/train_with_args.pt")
manifest["files"]["train_with_args.pt"] = {
    "format": "torch-zip", "key": "model",
    "note": "model, argparse.Namespace and NumPy RNG state: refused (global argparse Namespace); "
            "with key model, the model's tensors (names relative to the key)",
    "refused": 'global "argparse Namespace" is not allowed',
    "tensors": {k: digest(v) for k, v in model.items()}}

module = torch.nn.Linear(2, 2)
torch.save(module, f"{out}/whole_module.pt")
manifest["files"]["whole_module.pt"] = {"format": "torch-zip", "note":
                                        "a pickled nn.Module: refused (global torch.nn.modules.linear Linear)",
                                        "refused": 'global "torch.nn.modules.linear Linear" is not allowed',
                                        "tensors": {}}

# A TorchScript module that declares its tensors and nothing else (no
# method: submodules of its own class, no nn.Linear): libtorch reads it
# without compiling a function, so without --trust-code
# (docs/limits.md); the upgrade suite's "script" file.
class Holder(torch.nn.Module):
    def __init__(self, rows, cols):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(rows, cols))
        self.register_buffer("scale", torch.randn(cols))


class Declared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc0 = Holder(4, 3)
        self.fc1 = Holder(2, 4)


declared = torch.jit.script(Declared())
torch.jit.save(declared, f"{out}/script_declared.pt")
manifest["files"]["script_declared.pt"] = {
    "format": "torchscript", "note": "torch.jit.save of a module with submodules and no method",
    "tensors": {k: digest(v) for k, v in list(declared.named_parameters()) +
                list(declared.named_buffers())}}

# The same, with a parameter under two names (tied weights) and a buffer
# expanded from one row (stride 0): libtorch hands them over sharing
# storage, which loadgate's torch backend copies apart (docs/boundary.md).
class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Holder(3, 4)
        self.dec = Holder(3, 4)
        self.dec.weight = self.enc.weight
        self.register_buffer("rows", torch.randn(1, 4).expand(3, 4))


tied = torch.jit.script(Tied())
torch.jit.save(tied, f"{out}/script_tied.pt")
manifest["files"]["script_tied.pt"] = {
    "format": "torchscript", "note": "a parameter under two names, a buffer expanded from one row",
    "tensors": {k: digest(v) for k, v in [("enc.weight", tied.enc.weight),
                                          ("enc.scale", tied.enc.scale),
                                          ("dec.weight", tied.dec.weight),
                                          ("dec.scale", tied.dec.scale), ("rows", tied.rows)]}}

with open(f"{out}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print("wrote", sorted(os.listdir(out)))
