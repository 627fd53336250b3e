/* The unpickler's allowlist (pickle_int.h): the globals a checkpoint may
 * name (containers, torch's tensor rebuild functions, storage types,
 * dtypes), the modules that are refused at once because only attacks use
 * them, and the message that says why a global is refused. */
#include "formats/pickle_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- globals */

typedef struct {
    const char *name;
    int dtype;
    int elsize;
} type_entry;

static const type_entry storage_types[] = {
    {"DoubleStorage", LG_F64, 8},       {"FloatStorage", LG_F32, 4},
    {"HalfStorage", LG_F16, 2},         {"BFloat16Storage", LG_BF16, 2},
    {"LongStorage", LG_I64, 8},         {"IntStorage", LG_I32, 4},
    {"ShortStorage", LG_I16, 2},        {"CharStorage", LG_I8, 1},
    {"ByteStorage", LG_U8, 1},          {"BoolStorage", LG_BOOL, 1},
    {"ComplexDoubleStorage", -1, 16},   {"ComplexFloatStorage", -1, 8},
    {"QInt8Storage", -1, 1},            {"QUInt8Storage", -1, 1},
    {"QInt32Storage", -1, 4},           {"QUInt4x2Storage", -1, 1},
    {"QUInt2x4Storage", -1, 1},
};

/* torch's dtype name for each storage type above, in the same order. */
static const char *const storage_dtype_names[] = {
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
    "bool", "complex128", "complex64", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
};

static const type_entry dtypes[] = {
    {"float32", LG_F32, 4},   {"float", LG_F32, 4},      {"float64", LG_F64, 8},
    {"double", LG_F64, 8},    {"float16", LG_F16, 2},    {"half", LG_F16, 2},
    {"bfloat16", LG_BF16, 2}, {"int64", LG_I64, 8},      {"long", LG_I64, 8},
    {"int32", LG_I32, 4},     {"int", LG_I32, 4},        {"int16", LG_I16, 2},
    {"short", LG_I16, 2},     {"int8", LG_I8, 1},        {"uint8", LG_U8, 1},
    {"bool", LG_BOOL, 1},     {"complex32", -1, 4},      {"chalf", -1, 4},
    {"complex64", -1, 8},     {"cfloat", -1, 8},         {"complex128", -1, 16},
    {"cdouble", -1, 16},      {"uint16", -1, 2},         {"uint32", -1, 4},
    {"uint64", -1, 8},        {"float8_e4m3fn", -1, 1},  {"float8_e5m2", -1, 1},
    {"float8_e4m3fnuz", -1, 1}, {"float8_e5m2fnuz", -1, 1}, {"float8_e8m0fnu", -1, 1},
    {"qint8", -1, 1},         {"quint8", -1, 1},         {"qint32", -1, 4},
    {"quint4x2", -1, 1},      {"quint2x4", -1, 1},
};

static const struct {
    const char *module, *name;
    lg__global id;
} allowed[] = {
    {"collections", "OrderedDict", LG__G_ORDERED_DICT},
    {"builtins", "set", LG__G_SET},
    {"builtins", "frozenset", LG__G_FROZENSET},
    {"_codecs", "encode", LG__G_CODECS_ENCODE},
    {"torch._utils", "_rebuild_tensor", LG__G_REBUILD_TENSOR},
    {"torch._utils", "_rebuild_tensor_v2", LG__G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_tensor_v3", LG__G_REBUILD_TENSOR_V3},
    {"torch._utils", "_rebuild_parameter", LG__G_REBUILD_PARAMETER},
    {"torch._utils", "_rebuild_parameter_with_state", LG__G_REBUILD_PARAMETER_STATE},
    {"torch._tensor", "_rebuild_from_type_v2", LG__G_REBUILD_FROM_TYPE_V2},
    {"torch.tensor", "_rebuild_from_type_v2", LG__G_REBUILD_FROM_TYPE_V2},
    {"torch", "UntypedStorage", LG__G_UNTYPED_STORAGE},
    {"torch.storage", "UntypedStorage", LG__G_UNTYPED_STORAGE},
    {"torch", "Size", LG__G_SIZE},
    {"torch", "device", LG__G_DEVICE},
    {"torch", "Tensor", LG__G_TENSOR_TYPE},
    {"torch._tensor", "Tensor", LG__G_TENSOR_TYPE},
    {"torch.nn.parameter", "Parameter", LG__G_PARAMETER_TYPE},
    /* libtorch's pickler (_save_parameters, pickle_save) tags a dict with
     * its type ("Dict[str, Tensor]"); the call gives the dict back */
    {"torch.jit._pickle", "restore_type_tag", LG__G_RESTORE_TYPE_TAG},
};

static int is(const char *s, size_t n, const char *want)
{
    return strlen(want) == n && !memcmp(s, want, n);
}

static const type_entry *find_type(const type_entry *t, size_t count, const char *s, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (is(s, n, t[i].name))
            return &t[i];
    return NULL;
}

/* Fills g (a GLOBAL) from the allowlist; 0 when module.name is not on it. */
static int allow(lg__pv *g)
{
    const char *m = g->s, *nm = g->s2;
    size_t ml = g->n, nl = g->n2;
    if (is(m, ml, "__builtin__")) /* protocol 2 writes Python 3's builtins so */
        m = "builtins", ml = 8;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (is(m, ml, allowed[i].module) && is(nm, nl, allowed[i].name))
            return g->i = allowed[i].id, 1;
    const size_t ns = sizeof storage_types / sizeof storage_types[0];
    const type_entry *t;
    if ((is(m, ml, "torch") || is(m, ml, "torch.cuda")) &&
        (t = find_type(storage_types, ns, nm, nl))) {
        g->i = LG__G_STORAGE;
        g->dtype = t->dtype;
        g->elsize = t->elsize;
        g->tname = storage_dtype_names[t - storage_types];
        return 1;
    }
    if (is(m, ml, "torch") && (t = find_type(dtypes, sizeof dtypes / sizeof dtypes[0], nm, nl))) {
        g->i = LG__G_DTYPE;
        g->dtype = t->dtype;
        g->elsize = t->elsize;
        g->tname = t->name;
        return 1;
    }
    return 0;
}

/* Modules whose globals let a pickle run code or reach the system: a
 * global from one of them (or a submodule) is refused at once, even with
 * defer_refusals, because no checkpoint has a use for it. The list is the
 * one pickle scanners flag (picklescan's, for one), plus a few. */
static int attack_module(const char *m, size_t ml, const char *nm, size_t nl)
{
    /* a dotted name (STACK_GLOBAL "torch", "hub.load") reaches into
     * submodules: never deferred; nor is torch's own loader */
    if (memchr(nm, '.', nl))
        return 1;
    if ((ml == 5 && !memcmp(m, "torch", 5) && nl == 4 && !memcmp(nm, "load", 4)) ||
        (ml >= 19 && !memcmp(m, "torch.serialization", 19)))
        return 1;
    static const char *const mods[] = {
        "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "shutil",
        "socket", "importlib", "runpy", "pickle", "_pickle", "marshal", "code", "codeop",
        "ctypes", "pty", "webbrowser", "asyncio", "operator", "_operator", "functools",
        "types", "io", "_io", "tempfile", "urllib", "http", "ftplib", "smtplib", "telnetlib",
        "multiprocessing", "threading", "_thread", "signal", "commands", "popen2", "bdb", "pdb",
        "timeit", "trace", "profile", "cProfile", "pydoc", "venv", "ensurepip", "zipimport",
        "distutils", "setuptools", "pip", "requests", "aiohttp", "dill", "cloudpickle",
        "_posixsubprocess", "_winapi", "cPickle", "copy_reg", "copyreg", "_ctypes", "nturl2path",
    };
    size_t head = 0;
    while (head < ml && m[head] != '.')
        head++;
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (strlen(mods[i]) == head && !memcmp(m, mods[i], head))
            return 1;
    return ml >= 9 && !memcmp(m, "torch.hub", 9) && (ml == 9 || m[9] == '.');
}

/* With defer_refusals: v becomes REFUSED, carrying the message that lg__pk_bad()
 * gives now (the message in force is kept). */
static lg_status defer(lg__um *u, lg__pv *v, const char *m, size_t ml, const char *nm, size_t nl,
                       const char *why)
{
    char saved[2048];
    snprintf(saved, sizeof saved, "%s", lg_error_message());
    (void)lg__pk_bad(u, "global \"%.*s %.*s\" is not allowed: %s", (int)ml, m, (int)nl, nm, why);
    v->kind = LG__PV_REFUSED;
    v->msg = lg__strdup(lg_error_message());
    lg__err(LG_OK, "%s", saved);
    return v->msg ? LG_OK : lg__pk_nomem(u);
}

/* Why a global that is not on the allowlist is refused: a hint for the
 * ones that real checkpoints hold, or the general rule. */
static const char *refusal(const char *m, size_t ml, const char *nm, size_t nl)
{
    static const struct {
        const char *module, *name, *why; /* name NULL: any in module */
    } hints[] = {
        {"torch._utils", "_rebuild_qtensor", "quantized tensors are not supported"},
        {"torch._utils", "_rebuild_sparse_tensor", "sparse tensors are not supported"},
        {"torch._utils", "_rebuild_sparse_csr_tensor", "sparse tensors are not supported"},
        {"torch._utils", "_rebuild_meta_tensor_no_storage", "meta tensors hold no data"},
        {"torch._C", "ScriptObject",
         "TorchScript objects (such as packed quantized parameters) are not tensors"},
        {"argparse", "Namespace",
         "a script's arguments are not weights (a key reads part of a checkpoint)"},
        {"numpy", NULL, "NumPy objects are not read; save torch tensors"},
        {"numpy.core.multiarray", NULL, "NumPy objects are not read; save torch tensors"},
        {"numpy._core.multiarray", NULL, "NumPy objects are not read; save torch tensors"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (is(m, ml, hints[i].module) && (!hints[i].name || is(nm, nl, hints[i].name)))
            return hints[i].why;
    if (ml > 9 && !memcmp(m, "torch.nn.", 9))
        return "a pickled module: save its state_dict() instead";
    return "loadgate reads tensors and plain containers, and calls nothing";
}

/* With defer_refusals, whatever is built from a REFUSED value is that
 * value: calling it, instantiating it, setting its state or items. */
const lg__pv *lg__pk_refused_in(const lg__pv *v)
{
    if (v->kind == LG__PV_REFUSED)
        return v;
    if (v->kind == LG__PV_TUPLE)
        for (size_t i = 0; i < v->count; i++)
            if (v->items[i]->kind == LG__PV_REFUSED)
                return v->items[i];
    return NULL;
}

lg_status lg__pk_refuse(const lg__um *u, const char *m, size_t ml, const char *nm, size_t nl)
{
    if (u->o->defer_refusals && !attack_module(m, ml, nm, nl))
        return LG_OK;
    return lg__pk_bad(u, "global \"%.*s %.*s\" is not allowed: %s", (int)ml, m, (int)nl, nm,
                      refusal(m, ml, nm, nl));
}

lg_status lg__pk_defer(lg__um *u, lg__pv *v, const char *m, size_t ml, const char *nm,
                       size_t nl)
{
    return defer(u, v, m, ml, nm, nl, refusal(m, ml, nm, nl));
}

/* With lg__pickle_allow_script_objects: a class of module __torch__ or __torch__.*, the
 * classes TorchScript writes its modules as. */
static int script_class(const lg__um *u, lg__pv *g)
{
    if (!u->p->script_objects || g->n < 9 || memcmp(g->s, "__torch__", 9) ||
        (g->n > 9 && g->s[9] != '.') || !g->n2 || memchr(g->s2, '.', g->n2))
        return 0;
    g->i = LG__G_SCRIPT_CLASS;
    return 1;
}

/* An allowed global made before with this module and name, or NULL. */
static lg__pv *known_global(const lg__pickle *p, const char *m, size_t ml, const char *nm,
                            size_t nl)
{
    for (size_t i = 0; i < p->nglobals; i++) {
        lg__pv *g = p->globals[i];
        if (g->n == ml && g->n2 == nl && !memcmp(g->s, m, ml) && !memcmp(g->s2, nm, nl))
            return g;
    }
    return NULL;
}

lg_status lg__pk_global(lg__um *u, const char *m, size_t ml, const char *nm, size_t nl,
                        lg__pv **out)
{
    lg__pickle *p = u->p;
    lg__pv *g = known_global(p, m, ml, nm, nl);
    if (g) {
        *out = lg__pk_reuse(u, g);
        return LG_OK;
    }
    lg_status st = lg__pk_new_value(u, LG__PV_GLOBAL, &g);
    if (st != LG_OK)
        return st;
    g->s = m, g->n = ml, g->s2 = nm, g->n2 = nl;
    if (allow(g) || script_class(u, g)) {
        if (p->nglobals < LG__PICKLE_GLOBAL_CACHE)
            p->globals[p->nglobals++] = g; /* never changed once allowed: shared */
    } else if ((st = lg__pk_refuse(u, m, ml, nm, nl)) != LG_OK ||
               (st = lg__pk_defer(u, g, m, ml, nm, nl)) != LG_OK) {
        return st;
    }
    *out = g;
    return LG_OK;
}
