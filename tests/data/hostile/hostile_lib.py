"""Builders for make.py: a pickle assembler, a zip writer that can lie,
torch.save archives, legacy files and safetensors files. Pure Python (no
torch), deterministic: the same bytes on every run."""
import json
import struct
import zlib

# ----------------------------------------------------------------- pickles


def op(code):
    return bytes([code]) if isinstance(code, int) else code


PROTO = lambda n=2: b"\x80" + bytes([n])  # noqa: E731
MARK, STOP, TUPLE, EMPTY_TUPLE = b"(", b".", b"t", b")"
EMPTY_DICT, EMPTY_LIST, SETITEM, SETITEMS = b"}", b"]", b"s", b"u"
APPEND, APPENDS, REDUCE, BUILD, DUP, POP = b"a", b"e", b"R", b"b", b"2", b"0"
BINPERSID, NEWFALSE, NEWTRUE, NONE = b"Q", b"\x89", b"\x88", b"N"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"
NEWOBJ, NEWOBJ_EX, STACK_GLOBAL, MEMOIZE = b"\x81", b"\x92", b"\x93", b"\x94"
EMPTY_SET, ADDITEMS, FROZENSET = b"\x8f", b"\x90", b"\x91"
OBJ, LIST, DICT = b"o", b"l", b"d"


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module, name):
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def s(text):
    b = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(b)) + b


def sb(data):
    """SHORT_BINBYTES / BINBYTES."""
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def i(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    nb = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([nb]) + n.to_bytes(nb, "little", signed=True)


def put(k):
    return b"q" + bytes([k]) if k < 256 else b"r" + struct.pack("<I", k)


def get(k):
    return b"h" + bytes([k]) if k < 256 else b"j" + struct.pack("<I", k)


def tup(xs):
    return MARK + b"".join(i(x) for x in xs) + TUPLE


def pickle(body, proto=2):
    return PROTO(proto) + body + STOP


def pid(key, stype="FloatStorage", numel=4, location="cpu"):
    """The persistent id tuple and BINPERSID."""
    return (MARK + s("storage") + glob("torch", stype) + s(key) + s(location) + i(numel)
            + TUPLE + BINPERSID)


def odict():
    return glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE


def tensor(key="0", stype="FloatStorage", numel=4, off=0, size=(4,), stride=(1,),
           storage=None, hooks=None):
    """_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)."""
    st = storage if storage is not None else pid(key, stype, numel)
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + st + i(off)
            + (size if isinstance(size, bytes) else tup(size))
            + (stride if isinstance(stride, bytes) else tup(stride)) + NEWFALSE
            + (hooks if hooks is not None else odict()) + TUPLE + REDUCE)


def sdict(items):
    """A dict of (key pickle bytes or str, value pickle bytes)."""
    body = b"".join((s(k) if isinstance(k, str) else k) + v for k, v in items)
    return EMPTY_DICT + (MARK + body + SETITEMS if items else b"")


def f32(n, start=0.0):
    return struct.pack("<%df" % n, *[start + k for k in range(n)])


# -------------------------------------------------------------------- zips


def zipbytes(entries, comment=b"", eocd_tweak=None, trailer=b"", cd_extra=b""):
    """entries: dicts with name, data, and optional lies:
    method (0 or 8; data then deflated unless raw=True), lname (local
    name), lsize / csize (local / central compressed size), usize, crc,
    flags, offset (central's local header offset), lextra, cextra,
    descriptor (append a data descriptor; sizes 0 in the local header),
    skip_local (no local header written), dup_of (central entry only,
    pointing at an earlier entry's local header)."""
    out = bytearray()
    cds = bytearray()
    offsets = {}
    n_central = 0
    for e in entries:
        name = e["name"].encode() if isinstance(e["name"], str) else e["name"]
        data = e.get("data", b"")
        method = e.get("method", 0)
        comp = data
        if method == 8 and not e.get("raw"):
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp = c.compress(data) + c.flush()
        crc = e.get("crc", zlib.crc32(data) & 0xFFFFFFFF)
        flags = e.get("flags", 0) | (8 if e.get("descriptor") else 0)
        usize = e.get("usize", len(data))
        if "dup_of" in e:
            off = offsets[e["dup_of"]]
            lh_name, lcomp = name, len(comp)
        else:
            off = len(out)
            offsets[e["name"]] = off
            lname = e.get("lname", name)
            lname = lname.encode() if isinstance(lname, str) else lname
            lextra = e.get("lextra", b"")
            d = e.get("descriptor")
            lc = 0 if d else e.get("lsize", len(comp))
            lu = 0 if d else e.get("lusize", usize)
            lcrc = 0 if d else e.get("lcrc", crc)
            if not e.get("skip_local"):
                out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, e.get("lmethod", method),
                                   0, 0x21, lcrc, lc, lu, len(lname), len(lextra))
                out += lname + lextra + comp
                if d:
                    out += struct.pack("<IIII", 0x08074B50, crc, len(comp), usize)
        if e.get("no_central"):
            continue
        cextra = e.get("cextra", b"")
        cds += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                           crc, e.get("csize", len(comp)), usize, len(name), len(cextra), 0,
                           0, 0, 0, e.get("offset", off))
        cds += name + cextra
        n_central += 1
    cd_off = len(out)
    out += cds + cd_extra
    eocd = dict(disk=0, cd_disk=0, n_disk=n_central, n=n_central, size=len(cds),
                off=cd_off, clen=len(comment))
    if eocd_tweak:
        eocd.update(eocd_tweak)
    out += struct.pack("<IHHHHIIH", 0x06054B50, eocd["disk"], eocd["cd_disk"], eocd["n_disk"],
                       eocd["n"], eocd["size"], eocd["off"], eocd["clen"])
    out += comment + trailer
    return bytes(out)


def torch_zip(pkl, storages=None, prefix="archive", extra=None, **zkw):
    """A torch.save zip (1.13's record order: data.pkl, data/<key>..., version).
    A pickle over 32 KiB is deflated, to keep the file small."""
    entries = [dict(name=prefix + "/data.pkl", data=pkl, method=8 if len(pkl) > 32768 else 0)]
    for k, v in (storages or {}).items():
        entries.append(dict(name="%s/data/%s" % (prefix, k), data=v))
    entries.append(dict(name=prefix + "/version", data=b"3\n"))
    for e in extra or []:
        entries.append(e)
    return zipbytes(entries, **zkw)


# ------------------------------------------------------------------ legacy

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def legacy(obj_pkl, keys, blobs, magic=LEGACY_MAGIC, protocol=1001, sys_info=None,
           keys_pkl=None, counts=None):
    """_legacy_save's layout: magic, protocol, sys_info, the object, the key
    list, then each storage as <numel u64><bytes>."""
    out = pickle(i(magic))
    out += pickle(i(protocol))
    out += sys_info if sys_info is not None else pickle(
        sdict([("protocol_version", i(1001)), ("little_endian", NEWTRUE),
               ("type_sizes", sdict([("short", i(2)), ("int", i(4)), ("long", i(4))]))]))
    out += obj_pkl
    out += keys_pkl if keys_pkl is not None else pickle(
        EMPTY_LIST + (MARK + b"".join(s(k) for k in keys) + APPENDS if keys else b""))
    for n, (k, b) in enumerate(zip(keys, blobs)):
        numel = counts[n] if counts else len(b) // 4
        out += struct.pack("<q", numel) + b
    return out


def legacy_pid(key, stype="FloatStorage", numel=4):
    """The legacy persistent id: (storage, type, key, location, numel, view_metadata)."""
    return (MARK + s("storage") + glob("torch", stype) + s(key) + s("cpu") + i(numel) + NONE
            + TUPLE + BINPERSID)


# -------------------------------------------------------------- safetensors


def safetensors(header, data=b"", raw_header=None, length=None, pad=True):
    """header: a dict (dumped as JSON) or raw_header bytes."""
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    if pad and raw_header is None:
        h += b" " * (-len(h) % 8)
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data
