"""Class "pickle": hand-built pickles in torch.save zips (pickle/)."""
import struct

from hostile_lib import (APPEND, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_SET, ADDITEMS, MARK,
                         MEMOIZE, NEWFALSE, NONE, POP, REDUCE, SETITEM, STOP, TUPLE, TUPLE1,
                         TUPLE2, EMPTY_TUPLE, PROTO, f32, get, glob, i, odict, pickle, pid, put,
                         s, sdict, tensor, torch_zip, tup)

D = "pickle/"
ARANGE4 = "4c9c4f354e74153db012329d71c8562ec23e498148174b2c49de58f45d47cdbe"  # f32 0..3


def one(m, name, tensor_pkl, storages=None, message="-", status="LG_E_FORMAT", exit_code=1,
        args="inspect {} --json", **kw):
    data = torch_zip(pickle(sdict([("w", tensor_pkl)])),
                     storages if storages is not None else {"0": f32(4)})
    m.add(D + name + ".pt", data, args, exit_code, status, message, **kw)


def raw(m, name, pkl, message, storages=None, status="LG_E_FORMAT", **kw):
    m.add(D + name + ".pt", torch_zip(pkl, storages or {"0": f32(4)}), message=message,
          status=status, **kw)


def views(m):
    one(m, "offset-past-storage", tensor(off=100), message="storage")
    one(m, "size-past-storage", tensor(size=(5,)), message="storage")
    one(m, "stride-past-storage", tensor(size=(2,), stride=(4,)), message="storage")
    one(m, "size-overflows-int64", tensor(size=(2 ** 62, 4), stride=(4, 1)), message="overflow")
    one(m, "stride-overflows-int64", tensor(size=(2, 2), stride=(2 ** 62, 2 ** 62)),
        message="storage")
    one(m, "size-int64-max", tensor(size=(2 ** 63 - 1,)), message="overflows")
    one(m, "size-bigint", tensor(size=(2 ** 70,)), message="int")
    one(m, "negative-stride", tensor(size=(4,), stride=(-1,)), message="stride")
    one(m, "negative-size", tensor(size=(-4,)), message="size")
    one(m, "negative-offset", tensor(off=-1), message="offset")
    one(m, "size-stride-rank-differ", tensor(size=(2, 2), stride=(1,)), message="stride")
    one(m, "size-not-ints", tensor(size=MARK + s("4") + TUPLE), message="size")
    one(m, "dims-65", tensor(size=(1,) * 65, stride=(1,) * 65), message="dims")
    one(m, "numel-past-record", tensor(numel=1000), message="storage")
    one(m, "record-odd-length", tensor(numel=2, size=(1,)), storages={"0": b"\0" * 7},
        message="bytes")
    one(m, "record-missing", tensor(key="9"), message="data/9")
    one(m, "empty-huge-dims", tensor(size=(0,) + (2 ** 62,) * 7, stride=(1,) * 8),
        status="LG_OK", exit_code=0)
    # Empty, so its extent is not checked; its other sizes multiply past
    # int64 while its strides stay row-major (an empty view is contiguous).
    one(m, "empty-row-major-overflow", tensor(numel=1, size=(0, 2 ** 62, 2 ** 62),
                                              stride=(2 ** 63 - 1, 2 ** 62, 1)),
        status="LG_OK", exit_code=0, storages={"0": f32(1)})
    one(m, "zero-stride-broadcast", tensor(size=(1000, 1000), stride=(0, 0), numel=1),
        status="LG_OK", exit_code=0, storages={"0": f32(1)})
    # A 600-byte file claiming a 16 GiB expanded tensor: a limit, with a message.
    one(m, "expanded-16gib", tensor(numel=1, size=(65536, 65536), stride=(0, 0)),
        storages={"0": f32(1)}, message="more than a file of")
    one(m, "expanded-16gib-load", tensor(numel=1, size=(65536, 65536), stride=(0, 0)),
        storages={"0": f32(1)}, message="more than a file of",
        args="load {} --device mps --policy staged --json")
    # Legal overlapping views: one storage, several tensors (torch.load's values).
    st = {"0": f32(16)}
    ov = sdict([("a", tensor(numel=16, size=(4, 4), stride=(4, 1))),
                ("b", tensor(numel=16, off=2, size=(3, 3), stride=(4, 1))),
                ("c", tensor(numel=16, off=0, size=(4, 4), stride=(1, 4))),
                ("d", tensor(numel=16, off=5, size=(2, 3), stride=(1, 1)))])
    m.add(D + "overlapping-views.pt", torch_zip(pickle(ov), st), exit_code=0, status="LG_OK",
          sha="torch")
    # One storage key under two storage types: torch.load 1.13 keeps the first.
    two = sdict([("f", tensor(numel=4, size=(4,))),
                 ("h", tensor(stype="HalfStorage", numel=8, size=(4,)))])
    m.add(D + "key-two-types.pt", torch_zip(pickle(two), {"0": f32(4)}), exit_code=0, status="LG_OK",
          sha="torch")
    # The first type's 4 floats cannot hold 8 elements: torch.load refuses.
    two = sdict([("f", tensor(numel=4, size=(4,))),
                 ("h", tensor(stype="HalfStorage", numel=8, size=(8,)))])
    m.add(D + "key-two-types-too-big.pt", torch_zip(pickle(two), {"0": f32(4)}), message="storage")
    two = sdict([("h", tensor(stype="HalfStorage", numel=8, size=(8,))),
                 ("f", tensor(numel=4, size=(4,)))])
    m.add(D + "key-two-types-half-first.pt", torch_zip(pickle(two), {"0": f32(4)}), exit_code=0,
          status="LG_OK", sha="torch")
    memo = sdict([("a", tensor(storage=pid("0", numel=16) + put(50), size=(4,))),
                  ("b", tensor(storage=get(50), off=4, size=(4,)))])
    m.add(D + "storage-via-memo.pt", torch_zip(pickle(memo), st), exit_code=0, status="LG_OK",
          sha="torch")


def persistent_ids(m):
    bad_pid = lambda body: tensor(storage=MARK + body + TUPLE + b"Q")  # noqa: E731
    one(m, "pid-short", bad_pid(s("storage") + glob("torch", "FloatStorage") + s("0")),
        message="persistent id")
    one(m, "pid-long", bad_pid(s("storage") + glob("torch", "FloatStorage") + s("0") + s("cpu")
                               + i(4) + i(4) + i(4)), message="persistent id")
    one(m, "pid-key-int", bad_pid(s("storage") + glob("torch", "FloatStorage") + i(0) + s("cpu")
                                  + i(4)), message="persistent id")
    one(m, "pid-numel-str", bad_pid(s("storage") + glob("torch", "FloatStorage") + s("0")
                                    + s("cpu") + s("4")), message="persistent id")
    one(m, "pid-typename", bad_pid(s("module") + glob("torch", "FloatStorage") + s("0")
                                   + s("cpu") + i(4)), message="persistent id")
    one(m, "pid-type-not-storage", bad_pid(s("storage") + glob("torch", "float32") + s("0")
                                           + s("cpu") + i(4)), message="storage")
    one(m, "pid-not-tuple", tensor(storage=s("0") + b"Q"), message="persistent id")
    one(m, "pid-numel-negative", tensor(numel=-4), message="non-negative int")
    one(m, "pid-numel-huge", tensor(numel=2 ** 62), message="storage")
    one(m, "pid-location-odd", tensor(storage=MARK + s("storage") + glob("torch", "FloatStorage")
                                      + s("0") + s("tpu:99") + i(4) + TUPLE + b"Q"),
        status="LG_OK", exit_code=0)
    one(m, "pid-key-dotdot", tensor(key="../../version"), message="version")
    one(m, "storage-type-unknown", tensor(stype="QInt4Storage"), message="QInt4Storage")


def structure(m):
    nest = PROTO(2) + EMPTY_LIST * 100000 + APPEND * 99999 + STOP
    raw(m, "nest-lists-100k", nest, "deep")
    nest = PROTO(2) + MARK * 100000 + STOP
    raw(m, "nest-marks-100k", nest, "mark")
    nest = PROTO(2) + (EMPTY_DICT + s("k")) * 3000 + EMPTY_DICT + SETITEM * 3000 + STOP
    raw(m, "nest-dicts-3k", nest, "deep")
    nest = PROTO(2) + EMPTY_TUPLE + TUPLE1 * 100000 + STOP
    raw(m, "nest-tuples-100k", nest, "deep")
    # DUP doubling: ((x, x), (x, x)) ... 2^60 leaves, 60 values.
    dag = PROTO(2) + sdict([]) + (DUP + TUPLE2) * 60 + STOP
    raw(m, "dup-tuple-dag-60", dag, "too often to be walked")
    # The same DAG as dict values: names whose count multiplies.
    body = tensor() + put(0)
    for k in range(40):
        body = EMPTY_DICT + MARK + s("a") + body + put(1) + s("b") + get(1) + b"u"
        body = body + put(1)
    raw(m, "dict-dag-names-2e40", PROTO(2) + body + STOP, "too often to be walked")
    # memo-get fed sets: a set of 2^k? Sets dedupe by identity: ADDITEMS of gets.
    body = EMPTY_LIST + put(0) + MARK + get(0) * 1000 + b"e"
    for k in range(30):
        body += put(1) + MARK + get(1) * 2 + TUPLE + DUP
        body += EMPTY_LIST + put(2) + MARK + get(1) * 4 + b"e" + POP
    raw(m, "memo-get-lists-30", PROTO(2) + body + STOP, "-", status="-", exit_code=1)
    st = PROTO(4) + EMPTY_SET + MARK + b"".join(i(k) for k in range(200)) + ADDITEMS
    st += (DUP + TUPLE2) * 50 + STOP
    raw(m, "set-dup-50", st, "-", status="-", exit_code=1)
    od = glob("collections", "OrderedDict") + MARK + EMPTY_LIST
    od += (MARK + s("k") + i(1) + TUPLE + APPEND) + (DUP + b"e") * 0
    raw(m, "ordereddict-pairs", PROTO(2) + od + TUPLE + REDUCE + STOP, "-", status="LG_OK",
        exit_code=0)
    size = tup((1,)) + (DUP + TUPLE2) * 40
    one(m, "size-tuple-dag", tensor(size=size, stride=tup((1,))), message="size")
    # 2,000,000 values from a 2 KiB deflated pickle: memory out of proportion.
    # Empty lists: each is a value of its own (the empty tuple is shared, as
    # None and small ints are, and 2,000,000 of it take no values).
    raw(m, "values-2m-deflated", PROTO(2) + EMPTY_LIST + MARK + EMPTY_LIST * 2000000 + b"e"
        + STOP, "the limit for this file")
    # The same in a TorchScript archive's data.pkl (torchscript-data sets the budget).
    bomb = PROTO(2) + EMPTY_LIST + MARK + EMPTY_LIST * 2000000 + b"e" + STOP
    m.add(D + "values-2m-torchscript.pt", torch_zip(bomb, {}, extra=[
        dict(name="archive/constants.pkl", data=PROTO(2) + EMPTY_TUPLE + STOP)]),
        message="the limit for this file")
    # memo
    raw(m, "memo-get-unset", PROTO(2) + get(7) + STOP, "memo")
    raw(m, "memo-long-get-max", PROTO(2) + b"j\xff\xff\xff\xff" + STOP, "memo")
    raw(m, "memo-long-put-max", PROTO(2) + NONE + b"r\xff\xff\xff\xff" + STOP, "memo",
        status="-")
    raw(m, "memoize-100k", PROTO(4) + NONE + MEMOIZE * 40000 + STOP, "memo", status="-")
    raw(m, "memo-put-sparse", PROTO(2) + NONE + b"r\x00\x00\x00\x40" + get(0) + STOP, "memo",
        status="-")


def opcodes(m):
    raw(m, "proto-6", PROTO(6) + sdict([]) + STOP, "protocol")
    raw(m, "proto-1", b"\x80\x01" + sdict([]) + STOP, "protocol")
    raw(m, "opcode-unknown", PROTO(2) + b"\xff" + STOP, "opcode")
    raw(m, "no-stop", PROTO(2) + sdict([]), "STOP")
    raw(m, "stop-empty-stack", PROTO(2) + STOP, "stack")
    raw(m, "two-values-left", PROTO(2) + sdict([]) + sdict([]) + STOP, "on the stack at STOP")
    raw(m, "frame-too-long", PROTO(4) + b"\x95" + struct.pack("<Q", 2 ** 40) + sdict([]) + STOP,
        "FRAME")
    raw(m, "frame-ok", PROTO(4) + b"\x95" + struct.pack("<Q", 2) + b"}." , "-", status="LG_OK",
        exit_code=0)
    raw(m, "bytearray8", PROTO(5) + b"\x96" + struct.pack("<Q", 4) + b"abcd" + STOP, "-",
        status="LG_OK", exit_code=0)
    raw(m, "bytearray8-huge", PROTO(5) + b"\x96" + struct.pack("<Q", 2 ** 63) + STOP, "BYTEARRAY8")
    raw(m, "next-buffer", PROTO(5) + b"\x97" + STOP, "out-of-band buffers")
    raw(m, "readonly-buffer", PROTO(5) + b"\x97\x98" + STOP, "out-of-band buffers")
    raw(m, "binunicode8-huge", PROTO(4) + b"\x8d" + struct.pack("<Q", 2 ** 63) + b"ab" + STOP,
        "BINUNICODE8")
    raw(m, "binbytes8-past-end", PROTO(4) + b"\x8e" + struct.pack("<Q", 2 ** 32) + b"ab" + STOP,
        "BINBYTES8")
    raw(m, "binunicode-past-end", PROTO(2) + b"X\xff\xff\xff\x7f" + b"ab" + STOP, "BINUNICODE")
    raw(m, "long4-huge", PROTO(2) + b"\x8b\xff\xff\xff\x7f" + b"\x01" + STOP, "LONG4")
    raw(m, "long4-negative-len", PROTO(2) + b"\x8b\xff\xff\xff\xff" + b"\x01" + STOP, "LONG4")
    raw(m, "long-text-huge", PROTO(2) + b"L" + b"9" * 4000 + b"L\n" + STOP, "-", status="-")
    raw(m, "string-long-name", PROTO(2) + sdict([("n" * 20000, tensor())]) + STOP, "-",
        status="LG_OK", exit_code=0)
    raw(m, "key-invalid-utf8", PROTO(2) + sdict([(s(b"w\xff\xfe"), tensor())]) + STOP, "-",
        status="LG_OK", exit_code=0)
    raw(m, "key-bytes", PROTO(2) + sdict([(b"C\x01w", tensor())]) + STOP, "-", status="LG_OK",
        exit_code=0, sha="w=" + ARANGE4)
    raw(m, "key-int", PROTO(2) + sdict([(i(3), tensor())]) + STOP, "-", status="LG_OK",
        exit_code=0, sha="torch")
    raw(m, "key-tuple", PROTO(2) + sdict([(tup((1, 2)), tensor())]) + STOP,
        "dict keys that are a tuple are skipped", status="LG_OK", exit_code=0)
    raw(m, "key-duplicate", PROTO(2) + sdict([("w", tensor()), ("w", tensor(off=1, size=(2,)))])
        + STOP, "two tensors are named")
    raw(m, "key-dotted-clash", PROTO(2) + sdict([("a.b", tensor()),
                                                 ("a", sdict([("b", tensor())]))]) + STOP,
        "a.b")
    raw(m, "key-empty", PROTO(2) + sdict([("", tensor())]) + STOP, "-", status="LG_OK",
        exit_code=0)
    raw(m, "root-not-dict", PROTO(2) + tensor() + STOP, "-", status="LG_OK", exit_code=0)
    raw(m, "root-int", PROTO(2) + i(5) + STOP, "-", status="LG_OK", exit_code=0)


def limits(m):
    raw(m, "global-line-300", PROTO(2) + b"c" + b"m" * 300 + b"\nx\n" + STOP,
        "no end of line within 256 bytes")
    raw(m, "stack-global-name-300", PROTO(4) + s("torch") + s("n" * 300) + b"\x93" + STOP,
        "more than 256 bytes")
    m.add(D + "folder-name-401.pt", torch_zip(pickle(sdict([("w", tensor())])), {"0": f32(4)},
                                              prefix="f" * 401), message="at most 400")


def make(m):
    limits(m)
    views(m)
    persistent_ids(m)
    structure(m)
    opcodes(m)
