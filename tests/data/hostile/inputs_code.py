"""Class "code": pickles that would run code if called (code/). Each payload,
run by Python's pickle, would write the file "hostile-marker" in the working
directory; the test creates it with 16 zero bytes and checks it after."""
from hostile_lib import (BUILD, EMPTY_DICT, EMPTY_TUPLE, MARK, NEWFALSE, NEWOBJ, NEWOBJ_EX, OBJ,
                         REDUCE, STACK_GLOBAL, TUPLE, f32, glob, i, inst, legacy, legacy_pid,
                         odict, pickle, s, sdict, tensor, torch_zip, tup)

D = "code/"
CMD = "echo ran > hostile-marker"
PY = "open('hostile-marker','w').write('ran')"


def call(module, name, *args):
    """module.name(*args) by GLOBAL + REDUCE."""
    return glob(module, name) + MARK + b"".join(args) + TUPLE + REDUCE


def sglobal(module, name):
    return s(module) + s(name) + STACK_GLOBAL


def add(m, name, pkl, message, proto_storages=None, load=False):
    """message "OK": inert, so read (loadgate calls nothing either way)."""
    data = torch_zip(pkl, proto_storages or {"0": f32(4)})
    if message == "OK":
        m.add(D + name + ".pt", data, exit_code=0, status="LG_OK", code=True)
        return
    m.add(D + name + ".pt", data, message=message, code=True)
    if load:
        m.expect(D + name + ".pt", "load {} --device cpu --json", 1, "LG_E_FORMAT", message,
                 code=True)


def in_dict(value):
    return pickle(sdict([("w", tensor()), ("x", value)]))


def make(m):
    routes = [
        ("global-os-system", call("os", "system", s(CMD)), '"os system"'),
        ("global-posix-system", call("posix", "system", s(CMD)), '"posix system"'),
        ("global-nt-system", call("nt", "system", s(CMD)), '"nt system"'),
        ("global-subprocess-popen", call("subprocess", "Popen", s(CMD)), '"subprocess Popen"'),
        ("global-subprocess-run", call("subprocess", "check_output", s(CMD)), "subprocess"),
        ("global-eval", call("builtins", "eval", s(PY)), '"builtins eval"'),
        ("global-exec", call("builtins", "exec", s(PY)), '"builtins exec"'),
        ("global-py2-eval", call("__builtin__", "eval", s(PY)), '"__builtin__ eval"'),
        ("global-compile", call("builtins", "compile", s(PY), s("x"), s("exec")), "compile"),
        ("global-import", call("builtins", "__import__", s("os")), "__import__"),
        ("global-importlib", call("importlib", "import_module", s("os")), "importlib"),
        ("global-getattr", call("builtins", "getattr", call("builtins", "__import__", s("os")),
                                s("system")), "builtins"),
        ("global-open", call("builtins", "open", s("hostile-marker"), s("w")), '"builtins open"'),
        ("global-io-open", call("io", "open", s("hostile-marker"), s("w")), '"io open"'),
        ("global-pathlib", call("pathlib", "Path", s("hostile-marker")), "pathlib"),
        ("global-shutil", call("shutil", "copyfile", s("/etc/hostname"), s("hostile-marker")),
         "shutil"),
        ("global-pty", call("pty", "spawn", s("sh")), "pty"),
        ("global-runpy", call("runpy", "run_path", s("x.py")), "runpy"),
        ("global-torch-from-file", call("torch", "from_file", s("hostile-marker"), NEWFALSE),
         "from_file"),
        ("global-torch-load", call("torch", "load", s("hostile-marker")), '"torch load"'),
        ("global-torch-save", call("torch", "save", i(1), s("hostile-marker")), '"torch save"'),
        ("global-numpy-load", call("numpy", "load", s("x.npy"), glob("builtins", "True")),
         "numpy"),
        ("global-webbrowser", call("webbrowser", "open", s("file:///")), "webbrowser"),
        ("global-ctypes", call("ctypes", "CDLL", s("libc.so.6")), "ctypes"),
        ("global-operator-attrgetter", call("operator", "attrgetter", s("system")), "operator"),
        ("global-sys-modules", glob("sys", "modules"), '"sys modules"'),
        ("global-newline-in-name", glob("os\nsystem", "x"), "-"),
        ("global-dotted-name", call("torch._utils", "os.system", s(CMD)), "os.system"),
        ("global-allowed-module-bad-name", call("collections", "os"), '"collections os"'),
        ("global-ordereddict-fromkeys", call("collections", "OrderedDict.fromkeys", s("ab")),
         "fromkeys"),
        ("stack-global-os-system", sglobal("os", "system") + MARK + s(CMD) + TUPLE + REDUCE,
         '"os system"'),
        ("stack-global-eval", sglobal("builtins", "eval") + MARK + s(PY) + TUPLE + REDUCE,
         '"builtins eval"'),
        ("stack-global-nonstr", i(1) + i(2) + STACK_GLOBAL, "STACK_GLOBAL"),
        ("inst-os-system", MARK + s(CMD) + inst("os", "system"), '"os system"'),
        ("inst-ordereddict", MARK + inst("collections", "OrderedDict"), "INST"),
        ("obj-os-system", MARK + glob("os", "system") + s(CMD) + OBJ, '"os system"'),
        ("obj-allowed-class", MARK + glob("collections", "OrderedDict") + OBJ, "OBJ"),
        ("newobj-popen", glob("subprocess", "Popen") + MARK + s(CMD) + TUPLE + NEWOBJ, "Popen"),
        ("newobj-ordereddict", glob("collections", "OrderedDict") + EMPTY_TUPLE + NEWOBJ, "OK"),
        ("newobj-ex-popen", glob("subprocess", "Popen") + MARK + s(CMD) + TUPLE + EMPTY_DICT
         + NEWOBJ_EX, "Popen"),
        ("newobj-ex-ordereddict", glob("collections", "OrderedDict") + EMPTY_TUPLE + EMPTY_DICT
         + NEWOBJ_EX, "OK"),
        ("build-setstate-dict", odict() + sdict([("__setstate__", glob("os", "system"))]) + BUILD,
         '"os system"'),
        ("build-on-ordereddict", odict() + sdict([("k", i(1))]) + BUILD, "OK"),
        ("build-on-tensor-slots", tensor() + MARK + EMPTY_DICT + sdict([("x", i(1))]) + TUPLE
         + BUILD, "OK"),
        ("ext1", b"\x82\x01", 'extension registry'),
        ("ext2", b"\x83\x01\x02", 'extension registry'),
        ("ext4", b"\x84\x01\x02\x03\x04", 'extension registry'),
        ("copyreg-reconstructor", call("copyreg", "_reconstructor", glob("os", "system"),
                                       glob("builtins", "object"), s(CMD)), "copyreg"),
        ("copy-reg-py2", call("copy_reg", "_reconstructor", glob("os", "system")), "copy_reg"),
        ("functools-partial", call("functools", "partial", glob("os", "system"), s(CMD)),
         '"functools partial"'),
        ("functools-reduce", call("functools", "reduce", glob("os", "system"), tup(())),
         "functools"),
        ("codecs-encode-callable", call("_codecs", "encode", call("os", "system", s(CMD)),
                                        s("latin1")), '"os system"'),
        ("odict-reduce-value", call("collections", "OrderedDict", MARK + MARK + s("k")
                                    + call("os", "system", s(CMD)) + TUPLE + b"l" + TUPLE[0:0]),
         '"os system"'),
        ("set-of-call", glob("builtins", "set") + MARK + MARK + call("os", "system", s(CMD))
         + b"l" + TUPLE + REDUCE, '"os system"'),
        ("rebuild-hooks-callable", tensor(hooks=call("os", "system", s(CMD))), '"os system"'),
        ("rebuild-storage-callable", tensor(storage=call("os", "system", s(CMD))), '"os system"'),
        ("rebuild-size-callable", tensor(size=call("os", "system", s(CMD))), '"os system"'),
        ("rebuild-from-type-v2-func", call("torch._tensor", "_rebuild_from_type_v2",
                                           glob("os", "system"), glob("torch", "Tensor"),
                                           MARK + s(CMD) + TUPLE, EMPTY_DICT), '"os system"'),
        ("rebuild-from-type-v2-eval", call("torch._tensor", "_rebuild_from_type_v2",
                                           glob("builtins", "eval"), glob("torch", "Tensor"),
                                           MARK + s(PY) + TUPLE, EMPTY_DICT), '"builtins eval"'),
        ("rebuild-from-type-v2-newtype", call("torch._tensor", "_rebuild_from_type_v2",
                                              glob("torch._utils", "_rebuild_tensor_v2"),
                                              glob("subprocess", "Popen"), tup(()), EMPTY_DICT),
         '"subprocess Popen"'),
        ("rebuild-parameter-hooks", call("torch._utils", "_rebuild_parameter", tensor(),
                                         NEWFALSE, call("os", "system", s(CMD))), '"os system"'),
        ("rebuild-parameter-state", call("torch._utils", "_rebuild_parameter_with_state",
                                         tensor(), NEWFALSE, odict(),
                                         sdict([("x", call("os", "system", s(CMD)))])),
         '"os system"'),
        ("restore-type-tag-callable", call("torch.jit._pickle", "restore_type_tag",
                                           call("os", "system", s(CMD)), s("str")), '"os system"'),
        ("device-of-call", call("torch", "device", call("os", "system", s(CMD))), '"os system"'),
        ("dtype-called", call("torch", "float32", s(CMD)), "float32"),
        ("storage-type-called", call("torch", "FloatStorage", s("hostile-marker")),
         "FloatStorage"),
        ("size-of-call", call("torch", "Size", call("os", "system", s(CMD))), '"os system"'),
        ("pid-holds-call", tensor(storage=MARK + s("storage") + glob("torch", "FloatStorage")
                                  + s("0") + call("os", "system", s(CMD)) + i(4) + TUPLE + b"Q"),
         '"os system"'),
    ]
    for name, body, message in routes:
        load = name in ("global-os-system", "stack-global-os-system", "rebuild-hooks-callable",
                        "rebuild-from-type-v2-func", "functools-partial")
        add(m, name, in_dict(body), message, load=load)
    # The payload in a legacy file: the system info and the object.
    sysinfo = pickle(call("os", "system", s(CMD)))
    obj = pickle(sdict([("w", tensor(storage=legacy_pid("0")))]))
    m.add(D + "legacy-sysinfo-os-system.pt", legacy(obj, ["0"], [f32(4)], sys_info=sysinfo),
          message='"os system"', code=True)
    bad = pickle(sdict([("w", call("builtins", "eval", s(PY)))]))
    m.add(D + "legacy-object-eval.pt", legacy(bad, ["0"], [f32(4)]), message='"builtins eval"',
          code=True)
    keys = pickle(call("os", "system", s(CMD)))
    m.add(D + "legacy-keys-os-system.pt", legacy(obj, ["0"], [f32(4)], keys_pkl=keys),
          message='"os system"', code=True)
    magic = pickle(call("os", "system", s(CMD)))
    data = magic + legacy(obj, ["0"], [f32(4)])[len(pickle(i(0x1950A86A20F9469CFC6C))):]
    m.add(D + "legacy-magic-os-system.pt", data, message="-", code=True)
    # Deferred refusals (--key): a payload outside the selected key stays inert.
    pkl = pickle(sdict([("model", sdict([("w", tensor())])),
                        ("x", call("os", "system", s(CMD)))]))
    m.add(D + "key-outside-payload.pt", torch_zip(pkl, {"0": f32(4)}),
          "inspect {} --json --key model", 1, "LG_E_FORMAT",
          '"os system"', code=True)
    m.expect(D + "key-outside-payload.pt", "inspect {} --json --key x", 1, "LG_E_FORMAT",
             '"os system"', code=True)
