#!/usr/bin/python3
"""Writes the TorchScript archives whose code runs when libtorch loads
them: loadgate must refuse each unless told to trust it (--trust-code),
and even then must not let the code change a file.

Run with Debian's python3-torch (1.13): /usr/bin/python3 generate.py

Every payload is a __setstate__, the one method torch::jit::load calls.
It prints a line, and setstate_writes.pt also maps the file
"setstate-marker" (relative to the working directory) shared and
read-write, and fills it with 'X': a test creates that file with zeros
and checks that it still holds zeros afterwards.

  setstate_writes.pt    prints, then writes the marker through torch.from_file
  setstate_prints.pt    prints only, and loads (one tensor, w = ones(2, 2))
  setstate_stored.pt    setstate_writes.pt rezipped with every record stored
  setstate_bzip2.pt     rezipped with its code records in bzip2 (method 12)
  setstate_two_ends.pt  setstate_prints.pt with a second end of central
                        directory record inside the zip comment
  defarg_writes.pt      no __setstate__: forward's default argument, which
                        TorchScript's compiler evaluates when libtorch loads
                        the file, writes the marker through torch.from_file
  defarg_folder_case.pt defarg_writes.pt with its code folder spelled CODE:
                        libtorch finds code/__torch__.py ignoring case
"""
import io
import struct
import zipfile
from typing import Tuple

import torch


class Writes(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2, 2))

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        print("loadgate-hostile: __setstate__ ran")
        t = torch.from_file("setstate-marker", shared=True, size=16, dtype=torch.uint8)
        written = int(t.fill_(88).sum())
        print(written)
        self.w = state[0]
        self.training = state[1]


class Prints(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2, 2))

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        print("loadgate-hostile: __setstate__ ran")
        self.w = state[0]
        self.training = state[1]


class Plain(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2, 2))

    def forward(self, x: int = 3) -> int:
        return x


def recase(src, dst, old, new):
    """src with `old` in its record names written `new`."""
    with zipfile.ZipFile(src) as zin:
        records = [(i, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info, data in records:
            zi = zipfile.ZipInfo(info.filename.replace(old, new), date_time=info.date_time)
            zout.writestr(zi, data)


def defarg(dst):
    """Plain, its default 3 made an expression that writes the marker;
    every record stored, the .debug_pkl (source ranges) left out."""
    torch.jit.save(torch.jit.script(Plain()), dst)
    payload = 'torch.numel(torch.fill_(torch.from_file("setstate-marker", True, 4), 7.0))'
    with zipfile.ZipFile(dst) as zin:
        records = [(i, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info, data in records:
            if info.filename.endswith(".debug_pkl"):
                continue
            if info.filename.endswith("code/__torch__.py"):
                src = data.decode()
                assert "x: int=3" in src, src
                data = src.replace("x: int=3", "x: int=" + payload).encode()
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zout.writestr(zi, data)


def rezip(src, dst, method_for):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename),
                          compress_type=method_for(info.filename))


def main():
    torch.jit.save(torch.jit.script(Writes()), "setstate_writes.pt")
    torch.jit.save(torch.jit.script(Prints()), "setstate_prints.pt")
    rezip("setstate_writes.pt", "setstate_stored.pt", lambda n: zipfile.ZIP_STORED)
    rezip("setstate_writes.pt", "setstate_bzip2.pt",
          lambda n: zipfile.ZIP_BZIP2 if "/code/" in n else zipfile.ZIP_STORED)
    defarg("defarg_writes.pt")
    recase("defarg_writes.pt", "defarg_folder_case.pt", "/code/", "/CODE/")
    data = bytearray(open("setstate_prints.pt", "rb").read())
    # The real end record gains a comment that holds a copy of itself: a
    # reader that takes the last signature reads the copy.
    end = data.rfind(b"PK\x05\x06")
    record = bytes(data[end:end + 22])
    comment = record  # the copy, with its own comment length 0
    data[end + 20:end + 22] = struct.pack("<H", len(comment))
    open("setstate_two_ends.pt", "wb").write(bytes(data) + comment)


if __name__ == "__main__":
    main()
