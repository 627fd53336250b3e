#!/usr/bin/python3
"""Writes the inputs of tests/lib/test_torch_file_errors.c (and
test_torch_errors.c): files that the libtorch readers (--backend torch)
must refuse with a clear error, or read in a way no other test file
reaches.

Run with Debian's python3-torch (1.13): /usr/bin/python3 generate.py

TorchScript modules (torch.jit.save), one odd buffer each:
  complex.pt      a complex64 buffer "c" (no loadgate dtype) beside "w"
  overflow.pt     "big": an f32 [2^31, 2^31] expanded from one element
                  (its bytes overflow 64 bits; the file holds 4 of them)
  expanded.pt     "big": an f32 [2^32] (16 GiB) expanded from one element,
                  beside "w": more than a 2 KB file may claim
  sparse.pt       "s": a sparse COO tensor (not strided)
  transposed.pt   "t": arange(6).reshape(2, 3).t(), not contiguous
torch.save pickles, for the torch-pickle reader:
  tensor.pt       ones(2): not a dict
  intkeys.pt      {1: ones(2), 2: zeros(2)}: keys that are no strings
                  (libtorch's unpickler reads SETITEMS, not SETITEM: two
                  items, as in mixed.pt)
  mixed.pt        {"a": ones(2), "n": 3}: a value that is no tensor
Zip files written byte by byte, for the code check and the sniffer:
  trunc_deflate.pt   one deflated record whose stream is cut short
  bad_deflate.pt     one deflated record that is no deflate stream
  longname_setstate.pt  a deflated record, its name 305 bytes long, whose
                     inflated bytes define __setstate__
  head_zip64_desc.pt local headers only (no central directory):
                     arch/version with a data descriptor of 64-bit sizes,
                     then arch/data/0 (the libtorch layout)
  head_short_name.pt local headers only: arch/data/0, then "a", a name
                     shorter than the folder prefix (no PyTorch layout)
  head_past_32.pt    local headers only: 32 records arch/extra/<n>, then
                     arch/data/0, past the 32 names the sniffer reads
"""
import struct
import zlib

import torch


class Buffers(torch.nn.Module):
    def __init__(self, **bufs):
        super().__init__()
        for k, v in bufs.items():
            self.register_buffer(k, v)

    def forward(self, x):
        return x


def script(name, **bufs):
    torch.jit.save(torch.jit.script(Buffers(**bufs)), name)


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def local(name, method, data, usize, crc, flags=0, sizes=True):
    n = name.encode()
    csize, size = (len(data), usize) if sizes else (0, 0)
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, crc if sizes else 0,
                       csize, size, len(n), 0) + n + data


def central(name, method, csize, usize, crc, ofs):
    n = name.encode()
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, csize,
                       usize, len(n), 0, 0, 0, 0, 0, ofs) + n


def one_record_zip(path, name, method, stored, plain):
    crc = zlib.crc32(plain)
    body = local(name, method, stored, len(plain), crc)
    cd = central(name, method, len(stored), len(plain), crc, 0)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(cd), len(body), 0)
    open(path, "wb").write(body + cd + end)


def main():
    script("complex.pt", c=torch.zeros(2, dtype=torch.complex64), w=torch.ones(2))
    script("overflow.pt", big=torch.zeros(1, 1).expand(2**31, 2**31))
    script("expanded.pt", w=torch.ones(2), big=torch.zeros(1).expand(2**32))
    script("sparse.pt", s=torch.eye(3).to_sparse())
    script("transposed.pt", t=torch.arange(6.0).reshape(2, 3).t())
    torch.save(torch.ones(2), "tensor.pt")
    torch.save({1: torch.ones(2), 2: torch.zeros(2)}, "intkeys.pt")
    torch.save({"a": torch.ones(2), "n": 3}, "mixed.pt")

    plain = bytes(range(256)) * 40
    full = raw_deflate(plain)
    one_record_zip("trunc_deflate.pt", "arch/data.pkl", 8, full[: len(full) // 2], plain)
    one_record_zip("bad_deflate.pt", "arch/data.pkl", 8, b"\xff\xff\xff\xff", b"")
    code = b"def __" + b"setstate__(self, state):\n    pass\n"
    one_record_zip("longname_setstate.pt", "arch/" + "n" * 300, 8, raw_deflate(code), code)

    version = b"3\n"
    crc = zlib.crc32(version)
    head = local("arch/version", 0, version, 2, crc, flags=8, sizes=False)
    head += struct.pack("<IIQQ", 0x08074B50, crc, len(version), len(version))
    head += local("arch/data/0", 0, b"abcd", 4, zlib.crc32(b"abcd"))
    open("head_zip64_desc.pt", "wb").write(head)
    head = local("arch/data/0", 0, b"abcd", 4, zlib.crc32(b"abcd"))
    head += local("a", 0, b"x", 1, zlib.crc32(b"x"))
    open("head_short_name.pt", "wb").write(head)
    head = b"".join(local("arch/extra/%d" % i, 0, b"x", 1, zlib.crc32(b"x")) for i in range(32))
    head += local("arch/data/0", 0, b"abcd", 4, zlib.crc32(b"abcd"))
    open("head_past_32.pt", "wb").write(head)


if __name__ == "__main__":
    main()
