"""Classes "zip" (zip/), "safetensors" (safetensors/), "legacy" (legacy/),
"torchscript" (torchscript/, written by its own generate.py), "case" (case/)
and "special" (files made at test time: FIFO, devices, a directory, a
symlink loop, an unreadable file; and the big inputs)."""
import struct

from hostile_lib import (LEGACY_MAGIC, MARK, TUPLE, f32, glob, i, legacy, legacy_pid,
                         pickle, s, safetensors, sdict, tensor, torch_zip, zipbytes)

PKL = pickle(sdict([("w", tensor())]))


def ok_entries(prefix="archive", pkl=PKL, data=None):
    return [dict(name=prefix + "/data.pkl", data=pkl),
            dict(name=prefix + "/data/0", data=data if data is not None else f32(4)),
            dict(name=prefix + "/version", data=b"3\n")]


def zips(m):
    D = "zip/"

    def z(name, data, message, status="LG_E_FORMAT", exit_code=1, **kw):
        m.add(D + name + ".pt", data, message=message, status=status, exit_code=exit_code, **kw)

    e = ok_entries()
    z("baseline", zipbytes(e), "-", "LG_OK", 0, sha="torch")
    e = ok_entries()
    e[1]["offset"] = 0  # data/0's central entry points at data.pkl's local header
    z("central-offset-other-entry", zipbytes(e), "local header")
    e = ok_entries()
    e.insert(2, dict(name="archive/data/1", dup_of="archive/data/0"))
    pk = pickle(sdict([("a", tensor()), ("b", tensor(key="1"))]))
    e[0]["data"] = pk
    z("two-names-one-record", zipbytes(e), "local header")
    e = ok_entries()
    e[1]["lname"] = "archive/data/X"
    z("local-name-differs", zipbytes(e), "local header")
    e = ok_entries()
    e[1]["lsize"] = 4
    z("local-size-differs", zipbytes(e), "local header")
    e = ok_entries()
    e[1]["lmethod"] = 8
    z("local-method-differs", zipbytes(e), "local header")
    e = ok_entries()
    e[1]["csize"] = 1 << 20
    z("central-size-past-end", zipbytes(e), "data/0")
    e = ok_entries()
    e[1]["offset"] = 0xFFFFFFF0
    z("central-offset-past-end", zipbytes(e), "data/0")
    e = ok_entries()
    e[1]["crc"] = 0x12345678
    z("crc-mismatch", zipbytes(e), "CRC")
    e = ok_entries()
    e[1]["flags"] = 1
    z("encrypted-flag", zipbytes(e), "encrypt")
    e = ok_entries()
    for x in e:
        x["descriptor"] = True
    z("data-descriptors", zipbytes(e), "-", "LG_OK", 0, sha="torch")
    e = ok_entries()
    for x in e:
        x["method"] = 8
    z("deflated-records", zipbytes(e), "-", "LG_OK", 0, sha="torch")
    # A deflated record that expands far (64 MiB of zeros from ~64 KiB):
    big = 1 << 24
    e = ok_entries(pkl=pickle(sdict([("w", tensor(numel=big // 4, size=(big // 4,)))])),
                   data=b"\0" * big)
    e[1]["method"] = 8
    z("deflate-16mib", zipbytes(e), "-", "LG_OK", 0)
    # The same record seen through 64 tensors, each the whole storage.
    pk = pickle(sdict([("w%d" % k, tensor(numel=big // 4, size=(big // 4,))) for k in range(64)]))
    e = ok_entries(pkl=pk, data=b"\0" * big)
    e[1]["method"] = 8
    z("deflate-16mib-x64", zipbytes(e), "more than a file of")
    # 32 MiB claimed by a deflated record of a few bytes: the ratio refuses it.
    e = ok_entries(pkl=pickle(sdict([("w", tensor(numel=1 << 23, size=(1 << 23,)))])))
    e[1]["method"] = 8
    e[1]["usize"] = 1 << 25
    z("deflate-ratio-lies", zipbytes(e), "cannot expand")
    e = ok_entries()
    e[1]["method"] = 12
    e[1]["raw"] = True
    z("bzip2-record", zipbytes(e), "method")
    e = ok_entries()
    e[1]["method"] = 8
    e[1]["raw"] = True
    e[1]["data"] = b"\xff" * 16
    z("deflate-garbage", zipbytes(e), "inflate")
    e = ok_entries()
    e[1]["usize"] = 1 << 30
    e[1]["method"] = 8
    z("deflate-usize-lies", zipbytes(e), "data/0")
    e = ok_entries()
    e.append(dict(name="archive/data.pkl", data=pickle(sdict([]))))
    z("duplicate-data-pkl", zipbytes(e), "archive/data.pkl")
    e = ok_entries()
    e.insert(2, dict(name="archive/data/0", data=f32(4, 100.0)))
    z("duplicate-storage", zipbytes(e), "data/0")
    e = ok_entries()
    e[1]["name"] = "archive/../data/0"
    z("dotdot-name", zipbytes(e), "data/0")
    e = ok_entries()
    for x in e:
        x["name"] = "../" + x["name"]
    z("dotdot-folder", zipbytes(e), "-")
    e = ok_entries()
    for x in e:
        x["name"] = "/" + x["name"]
    z("absolute-folder", zipbytes(e), "-")
    e = ok_entries()
    e[1]["name"] = "archive/data/0\0evil"
    z("nul-in-name", zipbytes(e), "NUL byte")
    e = ok_entries()
    z("eocd-in-comment", zipbytes(e, comment=b"x" + zipbytes(e)[-22:]),
      "does not end where the end records begin")
    e = ok_entries()
    z("comment-length-past-end", zipbytes(e, eocd_tweak=dict(clen=1000)), "end of central")
    z("trailing-garbage", zipbytes(ok_entries(), trailer=b"\0" * 100), "-")
    z("cd-offset-past-end", zipbytes(ok_entries(), eocd_tweak=dict(off=1 << 30)),
      "central directory")
    z("cd-count-huge", zipbytes(ok_entries(), eocd_tweak=dict(n=0xFFFE, n_disk=0xFFFE)),
      "central directory")
    z("cd-count-zero", zipbytes(ok_entries(), eocd_tweak=dict(n=0, n_disk=0, size=0)), "records")
    z("cd-size-lies", zipbytes(ok_entries(), eocd_tweak=dict(size=7)), "central directory")
    z("multi-disk", zipbytes(ok_entries(), eocd_tweak=dict(disk=1, cd_disk=1)), "disk")
    # zip64 that lies.
    e = ok_entries()
    e[1]["csize"] = 0xFFFFFFFF
    e[1]["usize"] = 0xFFFFFFFF
    e[1]["cextra"] = struct.pack("<HHQQ", 1, 16, 1 << 62, 1 << 62)
    z("zip64-extra-sizes-huge", zipbytes(e), "data/0")
    e = ok_entries()
    e[1]["offset"] = 0xFFFFFFFF
    e[1]["cextra"] = struct.pack("<HHQ", 1, 8, (1 << 64) - 8)
    z("zip64-extra-offset-wraps", zipbytes(e), "data/0")
    e = ok_entries()
    e[1]["csize"] = 0xFFFFFFFF
    e[1]["cextra"] = struct.pack("<HH", 1, 0)
    z("zip64-extra-missing", zipbytes(e), "zip64")
    e = ok_entries()
    body = zipbytes(e)
    cd_off = struct.unpack("<I", body[-6:-2])[0]
    cd_end = len(body) - 22
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 3, 3, cd_end - cd_off,
                      1 << 62)
    loc = struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    z("zip64-eocd-offset-lies", body[:cd_end] + z64 + loc + eocd, "central directory")
    loc = struct.pack("<IIQI", 0x07064B50, 0, (1 << 64) - 16, 1)
    z("zip64-locator-wraps", body[:cd_end] + z64 + loc + eocd, "zip64")
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1 << 40, 1 << 40,
                      cd_end - cd_off, cd_off)
    loc = struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1)
    z("zip64-entry-count-huge", body[:cd_end] + z64 + loc + eocd, "central directory")
    e = [dict(name="archive/data.pkl", data=PKL)]
    e += [dict(name="archive/x%04d" % k, data=b"") for k in range(400)]
    e += ok_entries()[1:]
    z("many-entries-400", zipbytes(e), "-", "LG_OK", 0)
    e = ok_entries()
    e[1]["skip_local"] = True
    z("no-local-header", zipbytes(e), "local header")
    e = ok_entries()
    e[1]["lextra"] = b"\x01\x00\xff\xff"
    z("local-extra-past-end", zipbytes(e), "-", "LG_OK", 0)
    e = ok_entries()
    e[0]["data"] = pickle(sdict([("w", tensor())]))
    e[1]["data"] = f32(4)
    e[1]["descriptor"] = True
    e[1]["usize"] = 0
    z("descriptor-lies", zipbytes(e), "data/0")
    # Two folders: the first record decides.
    e = ok_entries() + [dict(name="other/data.pkl", data=PKL)]
    z("two-folders", zipbytes(e), "other/data.pkl")
    # Names that differ only in case: PyTorch's reader (miniz) finds records
    # ignoring case and could read either, so two readers would see two
    # different checkpoints. Refused.
    e = ok_entries()
    e.insert(1, dict(name="archive/DATA.pkl", data=pickle(sdict([("evil", tensor(key="1"))]))))
    e.append(dict(name="archive/data/1", data=f32(4, 666.0)))
    z("case-twin-data-pkl", zipbytes(e), "differ only in case")
    e = ok_entries()
    e.insert(2, dict(name="archive/DATA/0", data=f32(4, 100.0)))
    z("case-twin-storage", zipbytes(e), "differ only in case")
    # One of each name, in capitals under the folder: torch.load finds them
    # (its lookups ignore case), and so does loadgate.
    e = ok_entries()
    for x in e:
        x["name"] = "archive/" + x["name"][len("archive/"):].upper()
    z("names-in-capitals", zipbytes(e), "-", "LG_OK", 0, sha="torch")
    # A deflated data.pkl of 64 MiB of opcodes (NONE, POP: no value kept)
    # from a record of about 64 KiB: its text counts against the
    # unpickler's budget (48 MiB + 3 x the file's size) before it is
    # inflated.
    e = ok_entries(pkl=b"\x80\x02" + b"N0" * (1 << 25) + PKL[2:])
    e[0]["method"] = 8
    z("deflate-pkl-past-budget", zipbytes(e), "more than the unpickler may take")


def sts(m):
    D = "safetensors/"

    def st(name, data, message, status="LG_E_FORMAT", exit_code=1, **kw):
        m.add(D + name + ".safetensors", data, message=message, status=status,
              exit_code=exit_code, **kw)

    def one(meta, data=f32(4), **kw):
        return safetensors({"w": meta}, data, **kw)

    ok = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
    st("baseline", one(ok), "-", "LG_OK", 0)
    raw = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},' \
          b'"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    st("duplicate-keys", safetensors(None, f32(4), raw_header=raw), "duplicate")
    raw = b'{"w":{"dtype":"F32","dtype":"I32","shape":[4],"data_offsets":[0,16]}}'
    st("duplicate-field", safetensors(None, f32(4), raw_header=raw), "duplicate")
    deep = b"[" * 10000 + b"]" * 10000
    raw = b'{"__metadata__":{"x":' + deep + b'},"w":{"dtype":"F32","shape":[4],' \
          b'"data_offsets":[0,16]}}'
    st("metadata-deep-10k", safetensors(None, f32(4), raw_header=raw), "-")
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    raw = b'{"__metadata__":' + deep + b',"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    st("metadata-deep-objects", safetensors(None, f32(4), raw_header=raw), "-")
    st("metadata-not-strings", safetensors({"__metadata__": {"a": 1}, "w": ok}, f32(4)),
       "__metadata__")
    for name, text in [("1e400", "1e400"), ("nan", "NaN"), ("inf", "Infinity"),
                       ("neg", "-16"), ("frac", "16.5"), ("exp", "1.6e1"),
                       ("big", "18446744073709551616"), ("u64max", "18446744073709551615"),
                       ("minus-zero", "-0")]:
        raw = ('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,%s]}}' % text).encode()
        # NaN and Infinity are not JSON; the rest is, and is refused as a
        # number that is not an offset or a dimension.
        want = {"nan": "not valid JSON", "inf": "not valid JSON", "1e400": "too big for 64 bits",
                "big": "too big for 64 bits", "u64max": "more than 2^63 - 1",
                "minus-zero": "is -0"}  # serde_json reads -0 as a float
        st("offset-" + name, safetensors(None, f32(4), raw_header=raw),
           want.get(name, "data_offsets"))
        raw = ('{"w":{"dtype":"F32","shape":[%s],"data_offsets":[0,16]}}' % text).encode()
        st("shape-" + name, safetensors(None, f32(4), raw_header=raw), want.get(name, "shape"))
    for dt in ["F8_E4M3", "F8_E5M2", "F4", "F6_E2M3", "F6_E3M2", "E8M0", "C64", "U16", "XYZ",
               "f32", ""]:
        st("dtype-" + (dt or "empty"),
           one({"dtype": dt, "shape": [4], "data_offsets": [0, 16]}), dt or "dtype")
    st("zero-size", one({"dtype": "F32", "shape": [0, 2 ** 62], "data_offsets": [0, 0]}, b""),
       "-", "LG_OK", 0)
    st("shape-overflow", one({"dtype": "F32", "shape": [2 ** 62, 4], "data_offsets": [0, 16]}),
       "shape")
    st("shape-2e62-elems", one({"dtype": "U8", "shape": [2 ** 31, 2 ** 31],
                                "data_offsets": [0, 16]}), "shape")
    st("dims-100", one({"dtype": "F32", "shape": [1] * 100, "data_offsets": [0, 4]}, f32(1)),
       "-")
    st("header-len-past-end", safetensors({"w": ok}, f32(4), length=1 << 40), "header")
    st("header-len-max", safetensors({"w": ok}, f32(4), length=(1 << 64) - 1), "header")
    st("header-len-zero", safetensors({"w": ok}, f32(4), length=0), "header")
    st("header-not-object", safetensors(None, b"", raw_header=b"[1,2,3]"), "object")
    st("header-bad-utf8", safetensors(None, f32(4), raw_header=b'{"w\xff":{"dtype":"F32",'
                                      b'"shape":[4],"data_offsets":[0,16]}}'), "UTF-8")
    st("header-nul", safetensors(None, f32(4), raw_header=b'{"w\x00":{"dtype":"F32",'
                                 b'"shape":[4],"data_offsets":[0,16]}}'), "-")
    st("name-empty", safetensors({"": ok}, f32(4)), "-", "LG_OK", 0)
    st("name-4k", safetensors({"n" * 4096: ok}, f32(4)), "-", "LG_OK", 0)
    st("overlapping-offsets", safetensors({"a": ok, "b": ok}, f32(4)), "overlap")
    st("gap-offsets", safetensors({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
                                  f32(4)), "-")
    st("many-tensors-500", safetensors({"t%d" % k: {"dtype": "U8", "shape": [1],
                                                     "data_offsets": [k, k + 1]}
                                         for k in range(500)}, b"\0" * 500), "-", "LG_OK", 0)


def legacies(m):
    D = "legacy/"
    obj = pickle(sdict([("w", tensor(storage=legacy_pid("0")))]))

    def lg(name, data, message, status="LG_E_FORMAT", exit_code=1, **kw):
        m.add(D + name + ".pt", data, message=message, status=status, exit_code=exit_code, **kw)

    lg("baseline", legacy(obj, ["0"], [f32(4)]), "-", "LG_OK", 0, sha="torch")
    lg("magic-wrong", legacy(obj, ["0"], [f32(4)], magic=LEGACY_MAGIC + 1), "magic")
    lg("magic-string", pickle(s("1950a86a20f9469cfc6c")) + legacy(obj, ["0"], [f32(4)])[13:],
       "-")
    lg("protocol-1000", legacy(obj, ["0"], [f32(4)], protocol=1000), "protocol")
    lg("protocol-bigint", legacy(obj, ["0"], [f32(4)], protocol=2 ** 80), "protocol")
    lg("sysinfo-list", legacy(obj, ["0"], [f32(4)], sys_info=pickle(b"]")), "system info")
    lg("sysinfo-big-endian", legacy(obj, ["0"], [f32(4)], sys_info=pickle(
        sdict([("protocol_version", i(1001)), ("little_endian", b"\x89")]))), "-", "LG_OK", 0)
    lg("count-more-than-data", legacy(obj, ["0"], [f32(4)], counts=[1000]), "storage")
    lg("count-huge", legacy(obj, ["0"], [f32(4)], counts=[2 ** 62]), "storage")
    lg("count-negative", legacy(obj, ["0"], [f32(4)], counts=[-1]), "storage")
    lg("count-less-than-view", legacy(obj, ["0"], [f32(2)], counts=[2]), "storage")
    lg("keys-missing-one", legacy(obj, [], []), "storage")
    lg("keys-extra", legacy(obj, ["0", "1"], [f32(4), f32(4)]), "not a storage the pickle")
    lg("keys-not-list", legacy(obj, ["0"], [f32(4)], keys_pkl=pickle(s("0"))), "not a list")
    lg("keys-int", legacy(obj, ["0"], [f32(4)], keys_pkl=pickle(b"]" + i(0) + b"a")), "key")
    lg("keys-duplicate", legacy(obj, ["0", "0"], [f32(4), f32(4)]), "-")
    lg("truncated-storage", legacy(obj, ["0"], [f32(4)])[:-3], "storage")
    lg("pid-zip-style", legacy(pickle(sdict([("w", tensor())])), ["0"], [f32(4)]), "-")
    lg("pid-view-metadata", legacy(pickle(sdict([("w", tensor(storage=MARK + s("storage")
       + glob("torch", "FloatStorage") + s("0") + s("cpu") + i(4)
       + MARK + s("v") + i(0) + i(2) + TUPLE + TUPLE + b"Q"))])), ["0"], [f32(4)]), "view")


def torchscripts(m):
    """The archives of torchscript/ (their generate.py): code that libtorch
    would run; loadgate's native reader refuses them."""
    D = "torchscript/"
    for f, msg in [("setstate_writes.pt", "__setstate__"), ("setstate_prints.pt", "__setstate__"),
                   ("setstate_stored.pt", "__setstate__"), ("setstate_bzip2.pt", "__setstate__"),
                   ("setstate_two_ends.pt", "end records")]:
        m.expect(D + f, "inspect {} --json", 1, "LG_E_FORMAT", msg, code=True)
        m.expect(D + f, "load {} --device cpu --json", 1, "LG_E_FORMAT", msg, code=True)
    m.expect(D + "setstate_writes.pt", "load {} --device mps --policy staged --json", 1,
             "LG_E_FORMAT", "__setstate__", code=True)
    m.expect(D + "setstate_writes.pt", "inspect {} --json --reader torch-zip", 1, "LG_E_FORMAT",
             "__torch__", code=True)
    # No __setstate__: forward's default argument writes the marker when
    # libtorch compiles the module. By its magic bytes it is read natively
    # (one tensor, nothing compiled); asked for libtorch's reader by name,
    # refused (without the torch backend: that reader needs it).
    m.expect(D + "defarg_writes.pt", "inspect {} --json", 0, "LG_OK", "-", code=True)
    m.expect(D + "defarg_writes.pt", "load {} --device cpu --json", 0, "LG_OK", "-", code=True)
    m.expect(D + "defarg_writes.pt", "inspect {} --json --reader torchscript", 1, "LG_E_FORMAT",
             "-", code=True)


def cases(m):
    D = "case/"

    def c(name, text, message, exit_code=2, args="validate {}"):
        m.add(D + name + ".yaml", text.encode(), args, exit_code, "-", message)

    head = "suite: hostile\ncases:\n"
    laughs = "".join("%s: &%s [%s]\n" % (chr(97 + k), chr(97 + k),
                                        ",".join(["*" + chr(96 + k)] * 9 if k else ['"x"'] * 9))
                     for k in range(9))
    c("alias-bomb-9x9", laughs + "suite: s\ncases: [*i]\n", "alias")
    c("alias-bomb-merge", "a: &a {x: 1}\n" + "".join(
        "%s: &%s {<<: [*%s, *%s, *%s]}\n" % ("m%d" % k, "m%d" % k, "a" if k == 0 else "m%d" % (k - 1),
                                             "a" if k == 0 else "m%d" % (k - 1),
                                             "a" if k == 0 else "m%d" % (k - 1))
        for k in range(30)) + "suite: s\ncases: [*m29]\n", "-")
    c("flow-nesting-100k", head + "  - " + "[" * 100000 + "]" * 100000 + "\n", "deep")
    c("block-nesting-2k", head + "  " + "- " * 2000 + "x\n", "deep")
    rng = lambda n, f="%d": "[" + ",".join(f % x for x in range(1, n + 1)) + "]"  # noqa: E731
    c("matrix-1e9", head + "  - name: m\n    file: {generate: {shape: [2]}}\n    matrix:\n"
      "      staging_budget: " + rng(1000) + "\n      timeout: " + rng(1000) + "\n"
      "      key: " + rng(1000, "k%d") + "\n", "1000000000 combinations")
    c("matrix-1e12", head + "  - name: m\n    file: {generate: {shape: [2]}}\n    matrix:\n"
      "      staging_budget: " + rng(1000) + "\n      timeout: " + rng(1000) + "\n"
      "      key: " + rng(1000, "k%d") + "\n      description: " + rng(1000, "d%d") + "\n",
      "1000000000000 combinations")
    c("flip-random-1e12", head + "  - name: f\n    file: {generate: {shape: [2]}}\n"
      "    corrupt: [{flip: {random: 1000000000000, seed: 1, count: 1000000000000}}]\n",
      "flip")
    c("flip-count-2e6", head + "  - name: f\n    file: {generate: {shape: [2]}}\n"
      "    corrupt: [{flip: {random: 1, count: 2000000}}]\n", "count")
    c("visits-30k-tags-x2000", "big: &big [" + ",".join("t%d" % k for k in range(30000))
      + "]\nsuite: s\ncases:\n  - name: v\n    file: {generate: {shape: [2]}}\n"
      "    tags: *big\n    matrix:\n      staging_budget: " + rng(2000) + "\n",
      "the limit for this file")
    excl = "".join("      - {staging_budget: %d}\n" % k for k in range(1, 3000))
    c("exclude-3000", head + "  - name: e\n    file: {generate: {shape: [2]}}\n    matrix:\n"
      "      staging_budget: " + rng(3000) + "\n    exclude:\n" + excl, "-", exit_code=0)
    for t in ["0", "-1", "-inf", "nan", ".inf", "1e400", "1e-300"]:
        c("timeout-" + t.replace(".", "dot"), head + "  - name: t\n    file: {generate: "
          "{shape: [2]}}\n    timeout: %s\n" % t, "timeout")
    c("count-huge", head + "  - name: g\n    file: {generate: {tensors: 100000000000, shape: "
      "[1]}}\n", "tensors")
    c("shape-huge", head + "  - name: g\n    file: {generate: {shape: [4294967296, 4294967296, "
      "4294967296]}}\n", "shape")
    c("seed-bigint", head + "  - name: s\n    file: {generate: {shape: [2], seed: "
      "99999999999999999999999999}}\n", "seed")
    c("bad-utf8", head + "  - name: \xff\xfe\n", "not a case name")
    c("anchor-self", "a: &a [*a]\n" + head, "-")
    c("key-10k-long", head + "  - name: " + "n" * 10000 + "\n    file: {generate: {shape: [2]}}\n",
      "-", exit_code=0)
    # Case files whose fixture is not a regular file (the test writes them).
    for fx in ["/dev/zero", "/dev/urandom", "@fifo", "@dir", "@loop", "@unreadable"]:
        msg = {"@loop": "Too many levels of symbolic links",
               "@unreadable": "Permission denied"}.get(fx, "not a regular file")
        m.expect("@case:" + fx, "validate {}", 2, "-", msg)
    # run: the case is a setup error (status error, exit 2), naming the problem.
    m.expect("@case:/dev/zero", "run {} -o out", 2, "-", "not a regular file")
    m.expect("@case:@fifo", "run {} -o out", 2, "-", "not a regular file")
    # The case file itself is not a regular file.
    for fx in ["@fifo", "/dev/zero", "/dev/urandom"]:
        m.expect(fx, "validate {}", 2, "-", "not a regular file")
    m.expect("@dir", "validate {}", 2, "-", "a folder with no *.yaml case file")
    m.expect("@valid-case", "run -j 1000000 {} -o out", 2, "-", "-j/--jobs")
    m.expect("@valid-case", "run -j -1 {} -o out", 2, "-", "-j/--jobs")
    m.expect("@valid-case", "run -j 0 {} -o out", 2, "-", "-j/--jobs")
    m.expect("@valid-case", "run --timeout 0 {} -o out", 0, "-", "1 passed")  # 0: none
    m.expect("@valid-case", "run --timeout -5 {} -o out", 2, "-", "--timeout")
    m.expect("@valid-case", "run --timeout nan {} -o out", 2, "-", "--timeout")
    m.expect("@valid-case", "run --timeout 1e400 {} -o out", 0, "-", "1 passed")  # inf: none
    m.expect("@valid-st", "load {} --device cpu --staging-budget 99999999999999999999999", 2,
             "-", "--staging-budget")
    m.expect("@valid-st", "load {} --device cpu --staging-budget -1", 2, "-", "--staging-budget")
    m.expect("@valid-st", "load {} --device cpu --seed -1", 2, "-", "--seed")


def specials(m):
    """Files that are not regular, made at test time (test_hostile.c)."""
    for fx in ["@fifo", "/dev/zero", "/dev/urandom", "@dir", "@loop", "@unreadable"]:
        msg = {"@fifo": "FIFO", "/dev/zero": "character device", "/dev/urandom":
               "character device", "@dir": "directory", "@loop": "-",
               "@unreadable": "Permission denied"}[fx]
        st = "LG_E_IO"
        m.expect(fx, "inspect {} --json", 1, st, msg)
        m.expect(fx, "load {} --device cpu --json", 1, st, msg)
    # Big inputs, written by the test into its temp dir (test_hostile.c).
    m.expect("@big-st-header-over.safetensors", "inspect {} --json", 1, "LG_E_FORMAT", "100000000")
    m.expect("@big-st-header-99mb.safetensors", "inspect {} --json", 0, "LG_OK", "-")
    m.expect("@big-st-header-99mb.safetensors", "load {} --device mps --json", 0, "LG_OK", "-")
    m.expect("@big-zip-100k-entries.pt", "inspect {} --json", 0, "LG_OK", "-")
    m.expect("@big-zip-100k-entries.pt", "load {} --device mps --json", 0, "LG_OK", "-")
    for big in ["@big-pickle-lists-16mib.pt", "@big-pickle-dups-16mib.pt"]:
        m.expect(big, "inspect {} --json", 1, "LG_E_FORMAT", "the limit for this file")
    m.expect("@big-exclude-30k.yaml", "validate {}", 0, "-", ": 1 cases")
    m.expect("@big-include-30k.yaml", "validate {}", 0, "-", ": 30000 cases")
    m.expect("@big-include-all-30k.yaml", "validate {}", 2, "-", "the limit for this file")
    m.expect("@big-include-after-exclude-30k.yaml", "validate {}", 0, "-", ": 29999 cases")


def make(m):
    zips(m)
    sts(m)
    legacies(m)
    torchscripts(m)
    cases(m)
    specials(m)
