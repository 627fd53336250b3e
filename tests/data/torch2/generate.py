"""Writes the PyTorch 2.x reference files of tests/data/torch2 and their
manifest. Run with the torch of build-torch2 (ci/setup-torch2):

    build-torch2/venv/bin/python tests/data/torch2/generate.py

manifest.json gives, per file, the reader loadgate should pick by magic
bytes ("format"; torch-params is chosen by name only) and, per tensor, its
dtype, shape and the sha256 of its bytes in row-major order, little-endian
(the definition of `harness inspect --json`).
"""
import hashlib
import json
import os
import sys

import torch
import safetensors
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def digest(t):
    flat = t.detach().reshape(-1).contiguous()
    raw = flat.view(torch.uint8) if flat.numel() else torch.empty(0, dtype=torch.uint8)
    assert sys.byteorder == "little"
    return hashlib.sha256(raw.numpy().tobytes()).hexdigest()


def describe(tensors):
    return {name: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                   "sha256": digest(t)} for name, t in tensors.items()}


def state_dict():
    """Every dtype loadgate names, a 0-dim and an empty tensor, and views
    that share one storage: a transpose (not contiguous) and a slice with
    an offset."""
    g = torch.Generator().manual_seed(2)
    base = torch.randn(4, 6, generator=g)
    return {
        "fc.weight": base,
        "fc.weight_t": base.t(),                 # non-contiguous view, same storage
        "fc.rows": base[1:3],                    # storage offset, same storage
        "f64": torch.randn(3, generator=g, dtype=torch.float64),
        "f16": torch.randn(2, 3, generator=g).half(),
        "bf16": torch.randn(5, generator=g).bfloat16(),
        "i64": torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
        "i32": torch.arange(7, dtype=torch.int32),
        "i16": torch.tensor([-300, 2, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 7, 255], dtype=torch.uint8),
        "mask": torch.tensor([True, False, True, True]),
        "step": torch.tensor(41, dtype=torch.int64),
        "empty": torch.empty(0, 3),
    }


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.norm = torch.nn.BatchNorm1d(3)  # buffers: running_mean, running_var, num_batches_tracked
        self.register_buffer("scale", torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale[0]


def main():
    torch.manual_seed(0)
    files = {}

    sd = state_dict()
    torch.save(sd, os.path.join(HERE, "state_dict.pt"))
    files["state_dict.pt"] = {"format": "torch-zip", "writer": "torch.save",
                              "note": "several dtypes; a transpose and a slice of fc.weight",
                              "tensors": describe(sd)}

    params = {k: v.contiguous().clone() for k, v in sd.items() if not k.startswith("fc.")}
    torch._C._save_parameters(params, os.path.join(HERE, "params.pt"), False)
    files["params.pt"] = {"format": "torch-zip", "reader": "torch-params",
                          "writer": "torch._C._save_parameters (zip, not flatbuffer)",
                          "note": "what tch-rs's VarStore::load reads from .pt and .bin",
                          "tensors": describe(params)}

    net = torch.jit.script(Net().eval())
    torch.jit.save(net, os.path.join(HERE, "script.pt"))
    named = dict(net.named_parameters())
    named.update(dict(net.named_buffers()))
    files["script.pt"] = {"format": "torchscript", "writer": "torch.jit.save",
                          "note": "parameters and buffers; needs the torch backend",
                          "tensors": describe(named)}

    st = {k: v.contiguous().clone() for k, v in sd.items() if k != "fc.weight_t"}
    save_file(st, os.path.join(HERE, "model.safetensors"), metadata={"format": "pt"})
    files["model.safetensors"] = {"format": "safetensors",
                                  "writer": "safetensors.torch.save_file",
                                  "tensors": describe(st)}

    manifest = {"producer": "tests/data/torch2/generate.py", "torch": torch.__version__,
                "safetensors": safetensors.__version__, "files": files}
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
