/* The restricted unpickler.
 *
 * It follows CPython's Lib/pickle.py (_Unpickler.load_*) opcode by opcode
 * for protocols 2 to 5, with three differences: a global is looked up in
 * an allowlist, never imported; REDUCE, NEWOBJ and BUILD build plain
 * values in C for the few allowlisted callables and refuse the rest; and
 * the memo, the stack, the marks and the number of values are bounded.
 * Every read is checked against the pickle's length first. Strings are not
 * copied: they point into the pickle, which outlives the values. */
#include "formats/pickle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes (pickle.py). */
enum {
    OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_DUP = '2',
    OP_FLOAT = 'F', OP_INT = 'I', OP_BININT = 'J', OP_BININT1 = 'K', OP_LONG = 'L',
    OP_BININT2 = 'M', OP_NONE = 'N', OP_PERSID = 'P', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
    OP_STRING = 'S', OP_BINSTRING = 'T', OP_SHORT_BINSTRING = 'U', OP_UNICODE = 'V',
    OP_BINUNICODE = 'X', OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_DICT = 'd',
    OP_EMPTY_DICT = '}', OP_APPENDS = 'e', OP_GET = 'g', OP_BINGET = 'h', OP_INST = 'i',
    OP_LONG_BINGET = 'j', OP_LIST = 'l', OP_EMPTY_LIST = ']', OP_OBJ = 'o', OP_PUT = 'p',
    OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
    OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_EXT1 = 0x82, OP_EXT2 = 0x83, OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b,
    OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
    OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d, OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f, OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91, OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
    OP_BYTEARRAY8 = 0x96, OP_NEXT_BUFFER = 0x97, OP_READONLY_BUFFER = 0x98
};

#define SLAB_VALUES 1024u
#define GLOBAL_LINE_MAX 256u

typedef struct slab {
    struct slab *next;
    size_t used;
    lg__pv v[SLAB_VALUES];
} slab;

struct lg__pickle {
    slab *slabs;
    size_t nvalues;
};

/* One run of the machine. */
typedef struct {
    lg__pickle *p;
    const lg__pickle_opts *o;
    const unsigned char *buf;
    size_t n, pos;
    size_t at;            /* offset of the current opcode */
    unsigned op;
    lg__pv **stack;
    size_t sp, scap;
    size_t *marks;        /* stack heights at each MARK */
    size_t nmarks, mcap;
    lg__pv **memo;
    size_t mlen;          /* slots allocated */
    size_t mcount;        /* distinct indices set (MEMOIZE's next index) */
} um;

/* ------------------------------------------------------------ the pool */

lg_status lg__pickle_new(lg__pickle **out)
{
    lg__pickle *p = lg__calloc(1, sizeof *p);
    if (!p)
        return lg__err(LG_E_NOMEM, "out of memory starting the unpickler");
    *out = p;
    return LG_OK;
}

void lg__pickle_free(lg__pickle *p)
{
    if (!p)
        return;
    for (slab *s = p->slabs, *next; s; s = next) {
        next = s->next;
        for (size_t i = 0; i < s->used; i++) {
            free(s->v[i].items);
            free(s->v[i].msg);
        }
        free(s);
    }
    free(p);
}

size_t lg__pickle_count(const lg__pickle *p) { return p->nvalues; }

const char *lg__pv_kind_name(lg__pv_kind k)
{
    static const char *const names[] = {
        "None", "a bool", "an int", "an int wider than 64 bits", "a float", "a str",
        "bytes", "a tuple", "a list", "a dict", "a set", "a global", "a storage", "a tensor",
        "an object", "a refused global",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "a value";
}

/* --------------------------------------------------------------- errors */

static const char *op_name(unsigned op)
{
    switch (op) {
    case OP_MARK: return "MARK";
    case OP_STOP: return "STOP";
    case OP_POP: return "POP";
    case OP_POP_MARK: return "POP_MARK";
    case OP_DUP: return "DUP";
    case OP_BININT: return "BININT";
    case OP_BININT1: return "BININT1";
    case OP_BININT2: return "BININT2";
    case OP_NONE: return "NONE";
    case OP_BINPERSID: return "BINPERSID";
    case OP_REDUCE: return "REDUCE";
    case OP_BINSTRING: return "BINSTRING";
    case OP_SHORT_BINSTRING: return "SHORT_BINSTRING";
    case OP_BINUNICODE: return "BINUNICODE";
    case OP_APPEND: return "APPEND";
    case OP_BUILD: return "BUILD";
    case OP_GLOBAL: return "GLOBAL";
    case OP_DICT: return "DICT";
    case OP_EMPTY_DICT: return "EMPTY_DICT";
    case OP_APPENDS: return "APPENDS";
    case OP_BINGET: return "BINGET";
    case OP_INST: return "INST";
    case OP_LONG_BINGET: return "LONG_BINGET";
    case OP_LIST: return "LIST";
    case OP_EMPTY_LIST: return "EMPTY_LIST";
    case OP_OBJ: return "OBJ";
    case OP_BINPUT: return "BINPUT";
    case OP_LONG_BINPUT: return "LONG_BINPUT";
    case OP_SETITEM: return "SETITEM";
    case OP_TUPLE: return "TUPLE";
    case OP_EMPTY_TUPLE: return "EMPTY_TUPLE";
    case OP_SETITEMS: return "SETITEMS";
    case OP_BINFLOAT: return "BINFLOAT";
    case OP_PROTO: return "PROTO";
    case OP_NEWOBJ: return "NEWOBJ";
    case OP_TUPLE1: return "TUPLE1";
    case OP_TUPLE2: return "TUPLE2";
    case OP_TUPLE3: return "TUPLE3";
    case OP_NEWTRUE: return "NEWTRUE";
    case OP_NEWFALSE: return "NEWFALSE";
    case OP_LONG1: return "LONG1";
    case OP_LONG4: return "LONG4";
    case OP_BINBYTES: return "BINBYTES";
    case OP_SHORT_BINBYTES: return "SHORT_BINBYTES";
    case OP_SHORT_BINUNICODE: return "SHORT_BINUNICODE";
    case OP_BINUNICODE8: return "BINUNICODE8";
    case OP_BINBYTES8: return "BINBYTES8";
    case OP_EMPTY_SET: return "EMPTY_SET";
    case OP_ADDITEMS: return "ADDITEMS";
    case OP_FROZENSET: return "FROZENSET";
    case OP_NEWOBJ_EX: return "NEWOBJ_EX";
    case OP_STACK_GLOBAL: return "STACK_GLOBAL";
    case OP_MEMOIZE: return "MEMOIZE";
    case OP_FRAME: return "FRAME";
    case OP_BYTEARRAY8: return "BYTEARRAY8";
    default: return "opcode";
    }
}

/* LG_E_FORMAT: "<path>: <record>: byte <at> (<OPCODE>): <text>". */
static lg_status bad(const um *u, const char *fmt, ...) LG_PRINTF(2, 3);
static lg_status bad(const um *u, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (u->at >= u->n)
        return lg__err(LG_E_FORMAT, "%s: %s: byte %zu: %s", u->o->path, u->o->record,
                       u->o->base + u->at, text);
    return lg__err(LG_E_FORMAT, "%s: %s: byte %zu (%s 0x%02x): %s", u->o->path, u->o->record,
                   u->o->base + u->at, op_name(u->op), u->op, text);
}

static lg_status no_memory(const um *u)
{
    return lg__err(LG_E_NOMEM, "%s: %s: out of memory unpickling (byte %zu)", u->o->path,
                   u->o->record, u->o->base + u->at);
}

/* -------------------------------------------------------------- values */

static lg_status new_value(um *u, lg__pv_kind kind, lg__pv **out)
{
    lg__pickle *p = u->p;
    if (p->nvalues >= LG__PICKLE_MAX_VALUES)
        return bad(u, "more than %u values", LG__PICKLE_MAX_VALUES);
    if (!p->slabs || p->slabs->used == SLAB_VALUES) {
        slab *s = lg__malloc(sizeof *s);
        if (!s)
            return no_memory(u);
        s->next = p->slabs;
        s->used = 0;
        p->slabs = s;
    }
    lg__pv *v = &p->slabs->v[p->slabs->used++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->dtype = -1;
    p->nvalues++;
    *out = v;
    return LG_OK;
}

static lg_status add_item(um *u, lg__pv *c, lg__pv *item)
{
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        lg__pv **items = lg__realloc(c->items, cap * sizeof *items);
        if (!items)
            return no_memory(u);
        c->items = items;
        c->cap = cap;
    }
    c->items[c->count++] = item;
    return LG_OK;
}

static lg_status add_items(um *u, lg__pv *c, lg__pv *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lg_status st = add_item(u, c, items[i]);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

/* A new container holding n items. */
static lg_status new_container(um *u, lg__pv_kind kind, lg__pv *const *items, size_t n,
                               lg__pv **out)
{
    lg_status st = new_value(u, kind, out);
    return st == LG_OK ? add_items(u, *out, items, n) : st;
}

/* --------------------------------------------------------------- stack */

static size_t base(const um *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static lg_status push(um *u, lg__pv *v)
{
    if (u->sp == u->scap) {
        size_t cap = u->scap ? u->scap * 2 : 64;
        lg__pv **s = lg__realloc(u->stack, cap * sizeof *s);
        if (!s)
            return no_memory(u);
        u->stack = s;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return LG_OK;
}

static lg_status pop(um *u, lg__pv **out)
{
    if (u->sp <= base(u))
        return bad(u, "the stack is empty");
    *out = u->stack[--u->sp];
    return LG_OK;
}

static lg_status top(um *u, lg__pv **out)
{
    if (u->sp <= base(u))
        return bad(u, "the stack is empty");
    *out = u->stack[u->sp - 1];
    return LG_OK;
}

/* The items pushed since the last MARK; the mark is dropped. The items
 * stay readable until the next push. */
static lg_status pop_mark(um *u, lg__pv ***items, size_t *n)
{
    if (!u->nmarks)
        return bad(u, "no MARK to pop to");
    size_t b = u->marks[--u->nmarks];
    /* a MARK before anything was pushed: the stack may not exist yet */
    *items = u->stack ? u->stack + b : NULL;
    *n = u->sp - b;
    u->sp = b;
    return LG_OK;
}

static lg_status mark(um *u)
{
    if (u->nmarks == LG__PICKLE_MAX_MARKS)
        return bad(u, "more than %u nested MARKs", LG__PICKLE_MAX_MARKS);
    if (u->nmarks == u->mcap) {
        size_t cap = u->mcap ? u->mcap * 2 : 16;
        size_t *m = lg__realloc(u->marks, cap * sizeof *m);
        if (!m)
            return no_memory(u);
        u->marks = m;
        u->mcap = cap;
    }
    u->marks[u->nmarks++] = u->sp;
    return LG_OK;
}

/* ---------------------------------------------------------------- reads */

static lg_status need(um *u, size_t k)
{
    if (u->n - u->pos < k)
        return bad(u, "truncated: needs %zu bytes, %zu left", k, u->n - u->pos);
    return LG_OK;
}

static uint64_t le(const unsigned char *p, size_t k)
{
    uint64_t v = 0;
    for (size_t i = k; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* k little-endian bytes as an unsigned length. */
static lg_status read_len(um *u, size_t k, uint64_t *out)
{
    lg_status st = need(u, k);
    if (st != LG_OK)
        return st;
    *out = le(u->buf + u->pos, k);
    u->pos += k;
    return LG_OK;
}

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

/* With defer_refusals: v becomes REFUSED, carrying the message that bad()
 * gives now (the message in force is kept). */
static lg_status defer(um *u, lg__pv *v, const char *m, size_t ml, const char *nm, size_t nl,
                       const char *why)
{
    char saved[2048];
    snprintf(saved, sizeof saved, "%s", lg_error_message());
    (void)bad(u, "global \"%.*s %.*s\" is not allowed: %s", (int)ml, m, (int)nl, nm, why);
    v->kind = LG__PV_REFUSED;
    v->msg = lg__strdup(lg_error_message());
    lg__err(LG_OK, "%s", saved);
    return v->msg ? LG_OK : no_memory(u);
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

static lg_status push_global(um *u, const char *m, size_t ml, const char *nm, size_t nl)
{
    lg__pv *g;
    lg_status st = new_value(u, LG__PV_GLOBAL, &g);
    if (st != LG_OK)
        return st;
    g->s = m, g->n = ml, g->s2 = nm, g->n2 = nl;
    if (!allow(g)) {
        if (!u->o->defer_refusals || attack_module(m, ml, nm, nl))
            return bad(u, "global \"%.*s %.*s\" is not allowed: %s", (int)ml, m, (int)nl, nm,
                       refusal(m, ml, nm, nl));
        if ((st = defer(u, g, m, ml, nm, nl, refusal(m, ml, nm, nl))) != LG_OK)
            return st;
    }
    return push(u, g);
}

/* One "text\n" line of GLOBAL or INST. */
static lg_status read_line(um *u, const char **s, size_t *n)
{
    size_t left = u->n - u->pos, max = left < GLOBAL_LINE_MAX ? left : GLOBAL_LINE_MAX;
    const unsigned char *p = u->buf + u->pos;
    const unsigned char *nl = memchr(p, '\n', max);
    if (!nl)
        return bad(u, "no end of line within %zu bytes", max);
    *s = (const char *)p;
    *n = (size_t)(nl - p);
    u->pos += *n + 1;
    return LG_OK;
}

static lg_status op_global(um *u)
{
    const char *m, *nm;
    size_t ml, nl;
    lg_status st = read_line(u, &m, &ml);
    if (st == LG_OK)
        st = read_line(u, &nm, &nl);
    return st == LG_OK ? push_global(u, m, ml, nm, nl) : st;
}

static int is_text(const lg__pv *v) { return v->kind == LG__PV_STR || v->kind == LG__PV_BYTES; }

static lg_status op_stack_global(um *u)
{
    lg__pv *name, *module;
    lg_status st = pop(u, &name);
    if (st == LG_OK)
        st = pop(u, &module);
    if (st != LG_OK)
        return st;
    if (!is_text(name) || !is_text(module))
        return bad(u, "module and name must be str, not %s and %s",
                   lg__pv_kind_name(module->kind), lg__pv_kind_name(name->kind));
    if (module->n > GLOBAL_LINE_MAX || name->n > GLOBAL_LINE_MAX)
        return bad(u, "a module or name of more than %u bytes (%zu and %zu)", GLOBAL_LINE_MAX,
                   module->n, name->n);
    return push_global(u, module->s, module->n, name->s, name->n);
}

/* INST names a class to instantiate: never allowed (deferred: its
 * arguments since the MARK give way to a REFUSED value). */
static lg_status op_inst(um *u)
{
    const char *m, *nm;
    size_t ml, nl;
    lg__pv **items, *v;
    size_t n;
    lg_status st = read_line(u, &m, &ml);
    if (st == LG_OK)
        st = read_line(u, &nm, &nl);
    if (st != LG_OK)
        return st;
    if (!u->o->defer_refusals || attack_module(m, ml, nm, nl))
        return bad(u, "global \"%.*s %.*s\" is not allowed: %s", (int)ml, m, (int)nl, nm,
                   refusal(m, ml, nm, nl));
    if ((st = pop_mark(u, &items, &n)) != LG_OK || (st = new_value(u, LG__PV_REFUSED, &v)) != LG_OK ||
        (st = defer(u, v, m, ml, nm, nl, refusal(m, ml, nm, nl))) != LG_OK)
        return st;
    return push(u, v);
}

/* With defer_refusals, whatever is built from a REFUSED value is that
 * value: calling it, instantiating it, setting its state or items. */
static const lg__pv *refused_in(const lg__pv *v)
{
    if (v->kind == LG__PV_REFUSED)
        return v;
    if (v->kind == LG__PV_TUPLE)
        for (size_t i = 0; i < v->count; i++)
            if (v->items[i]->kind == LG__PV_REFUSED)
                return v->items[i];
    return NULL;
}

/* -------------------------------------------------------------- REDUCE */

static const char *global_name(const lg__pv *g, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s.%.*s", (int)g->n, g->s, (int)g->n2, g->s2);
    return buf;
}

static lg_status want(um *u, const char *fn, const lg__pv *args, size_t lo, size_t hi)
{
    if (args->count >= lo && args->count <= hi)
        return LG_OK;
    if (lo == hi)
        return bad(u, "%s takes %zu arguments, %zu given", fn, lo, args->count);
    return bad(u, "%s takes %zu or %zu arguments, %zu given", fn, lo, hi, args->count);
}

static int is_global(const lg__pv *v, lg__global id)
{
    return v->kind == LG__PV_GLOBAL && v->i == (int64_t)id;
}

/* A tensor from torch._utils._rebuild_tensor{,_v2,_v3}(storage, offset,
 * size, stride, ...). The reader checks the numbers, naming the tensor. */
static lg_status rebuild_tensor(um *u, lg__global fn, const lg__pv *args, lg__pv **out)
{
    static const char *const names[] = {"_rebuild_tensor", "_rebuild_tensor_v2",
                                        "_rebuild_tensor_v3"};
    const char *name = names[fn - LG__G_REBUILD_TENSOR];
    size_t lo = fn == LG__G_REBUILD_TENSOR ? 4 : fn == LG__G_REBUILD_TENSOR_V2 ? 6 : 7;
    lg_status st = want(u, name, args, lo, fn == LG__G_REBUILD_TENSOR ? 4 : lo + 1);
    if (st != LG_OK)
        return st;
    lg__pv *const *a = args->items;
    if (a[0]->kind != LG__PV_STORAGE)
        return bad(u, "%s: the storage is %s, not a storage", name, lg__pv_kind_name(a[0]->kind));
    if (a[1]->kind != LG__PV_INT)
        return bad(u, "%s: the storage offset is %s, not an int", name,
                   lg__pv_kind_name(a[1]->kind));
    if (a[2]->kind != LG__PV_TUPLE || a[3]->kind != LG__PV_TUPLE)
        return bad(u, "%s: size and stride must be tuples, not %s and %s", name,
                   lg__pv_kind_name(a[2]->kind), lg__pv_kind_name(a[3]->kind));
    if (fn == LG__G_REBUILD_TENSOR_V3 && !is_global(a[6], LG__G_DTYPE))
        return bad(u, "%s: the dtype is %s, not a torch dtype", name,
                   lg__pv_kind_name(a[6]->kind));
    lg__pv *t;
    lg__pv *parts[5] = {a[0], a[1], a[2], a[3], fn == LG__G_REBUILD_TENSOR_V3 ? a[6] : NULL};
    st = new_container(u, LG__PV_TENSOR, parts, 5, &t);
    if (st != LG_OK)
        return st;
    t->i = fn;
    *out = t;
    return LG_OK;
}

/* torch._tensor._rebuild_from_type_v2(func, new_type, args, state): a
 * tensor (or Parameter) with Python attributes; func rebuilds it. */
static lg_status rebuild_from_type(um *u, const lg__pv *args, lg__pv **out)
{
    lg_status st = want(u, "_rebuild_from_type_v2", args, 4, 4);
    if (st != LG_OK)
        return st;
    lg__pv *fn = args->items[0], *type = args->items[1], *inner = args->items[2];
    if (!is_global(type, LG__G_TENSOR_TYPE) && !is_global(type, LG__G_PARAMETER_TYPE))
        return bad(u, "_rebuild_from_type_v2: the type is %s, not torch.Tensor or "
                   "torch.nn.parameter.Parameter", lg__pv_kind_name(type->kind));
    if (inner->kind != LG__PV_TUPLE)
        return bad(u, "_rebuild_from_type_v2: the arguments are %s, not a tuple",
                   lg__pv_kind_name(inner->kind));
    if (fn->kind != LG__PV_GLOBAL || fn->i < LG__G_REBUILD_TENSOR ||
        fn->i > LG__G_REBUILD_TENSOR_V3)
        return bad(u, "_rebuild_from_type_v2: the function is %s, not a tensor rebuild function",
                   lg__pv_kind_name(fn->kind));
    return rebuild_tensor(u, (lg__global)fn->i, inner, out);
}

/* collections.OrderedDict(), set(), frozenset(): empty, or from a list. */
static lg_status build_container(um *u, const lg__pv *fn, const lg__pv *args, lg__pv **out)
{
    char buf[128];
    lg__pv_kind kind = fn->i == LG__G_ORDERED_DICT ? LG__PV_DICT : LG__PV_SET;
    lg_status st = want(u, global_name(fn, buf, sizeof buf), args, 0, 1);
    if (st != LG_OK || (st = new_value(u, kind, out)) != LG_OK || args->count == 0)
        return st;
    const lg__pv *from = args->items[0];
    if (from->kind != LG__PV_LIST && from->kind != LG__PV_TUPLE && from->kind != LG__PV_SET)
        return bad(u, "%s of %s", buf, lg__pv_kind_name(from->kind));
    if (kind == LG__PV_SET)
        return add_items(u, *out, from->items, from->count);
    for (size_t i = 0; i < from->count; i++) {
        const lg__pv *pair = from->items[i];
        if ((pair->kind != LG__PV_TUPLE && pair->kind != LG__PV_LIST) || pair->count != 2)
            return bad(u, "%s: item %zu is not a (key, value) pair", buf, i);
        if ((st = add_items(u, *out, pair->items, 2)) != LG_OK)
            return st;
    }
    return LG_OK;
}

static lg_status reduce(um *u, const lg__pv *fn, const lg__pv *args, lg__pv **out)
{
    char buf[128];
    if (fn->kind != LG__PV_GLOBAL)
        return bad(u, "cannot call %s", lg__pv_kind_name(fn->kind));
    if (args->kind != LG__PV_TUPLE)
        return bad(u, "the arguments of %s are %s, not a tuple", global_name(fn, buf, sizeof buf),
                   lg__pv_kind_name(args->kind));
    switch ((lg__global)fn->i) {
    case LG__G_ORDERED_DICT:
    case LG__G_SET:
    case LG__G_FROZENSET:
        return build_container(u, fn, args, out);
    case LG__G_CODECS_ENCODE: {
        lg_status st = want(u, "_codecs.encode", args, 1, 2);
        if (st == LG_OK && !is_text(args->items[0]))
            st = bad(u, "_codecs.encode of %s", lg__pv_kind_name(args->items[0]->kind));
        if (st != LG_OK || (st = new_value(u, LG__PV_BYTES, out)) != LG_OK)
            return st;
        (*out)->s = args->items[0]->s; /* kept as text: bytes are never tensor data here */
        (*out)->n = args->items[0]->n;
        return LG_OK;
    }
    case LG__G_REBUILD_TENSOR:
    case LG__G_REBUILD_TENSOR_V2:
    case LG__G_REBUILD_TENSOR_V3:
        return rebuild_tensor(u, (lg__global)fn->i, args, out);
    case LG__G_REBUILD_PARAMETER:
    case LG__G_REBUILD_PARAMETER_STATE: {
        size_t k = fn->i == LG__G_REBUILD_PARAMETER ? 3 : 4;
        lg_status st = want(u, k == 3 ? "_rebuild_parameter" : "_rebuild_parameter_with_state",
                            args, k, k);
        if (st == LG_OK && args->items[0]->kind != LG__PV_TENSOR)
            st = bad(u, "a parameter's data is %s, not a tensor",
                     lg__pv_kind_name(args->items[0]->kind));
        if (st == LG_OK)
            *out = args->items[0];
        return st;
    }
    case LG__G_REBUILD_FROM_TYPE_V2:
        return rebuild_from_type(u, args, out);
    case LG__G_SIZE: {
        lg_status st = want(u, "torch.Size", args, 0, 1);
        if (st == LG_OK && args->count && args->items[0]->kind != LG__PV_TUPLE &&
            args->items[0]->kind != LG__PV_LIST)
            st = bad(u, "torch.Size of %s", lg__pv_kind_name(args->items[0]->kind));
        if (st != LG_OK)
            return st;
        return args->count ? new_container(u, LG__PV_TUPLE, args->items[0]->items,
                                           args->items[0]->count, out)
                           : new_value(u, LG__PV_TUPLE, out);
    }
    case LG__G_DEVICE:
        return new_value(u, LG__PV_OTHER, out);
    default:
        return bad(u, "%s cannot be called", global_name(fn, buf, sizeof buf));
    }
}

static lg_status op_reduce(um *u)
{
    lg__pv *args, *fn, *v = NULL;
    lg_status st = pop(u, &args);
    if (st == LG_OK)
        st = pop(u, &fn);
    if (st != LG_OK)
        return st;
    const lg__pv *r = refused_in(fn);
    if (r || (r = refused_in(args)))
        return push(u, (lg__pv *)r); /* only ever made with defer_refusals */
    st = reduce(u, fn, args, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* NEWOBJ(cls, args) and NEWOBJ_EX(cls, args, kwargs): cls.__new__(cls,
 * *args). Only the allowlisted containers, with no arguments. */
static lg_status op_newobj(um *u, int ex)
{
    char buf[128];
    lg__pv *kwargs = NULL, *args, *cls, *v;
    lg_status st = ex ? pop(u, &kwargs) : LG_OK;
    if (st == LG_OK)
        st = pop(u, &args);
    if (st == LG_OK)
        st = pop(u, &cls);
    if (st != LG_OK)
        return st;
    if (cls->kind == LG__PV_REFUSED)
        return push(u, cls);
    if (cls->kind != LG__PV_GLOBAL)
        return bad(u, "cannot instantiate %s", lg__pv_kind_name(cls->kind));
    if (cls->i != LG__G_ORDERED_DICT && cls->i != LG__G_SET && cls->i != LG__G_FROZENSET)
        return bad(u, "%s cannot be instantiated", global_name(cls, buf, sizeof buf));
    if (args->kind != LG__PV_TUPLE || args->count || (kwargs && kwargs->count))
        return bad(u, "%s is instantiated with arguments", global_name(cls, buf, sizeof buf));
    st = new_value(u, cls->i == LG__G_ORDERED_DICT ? LG__PV_DICT : LG__PV_SET, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* BUILD sets an object's state: an OrderedDict's attributes (a state
 * dict's _metadata) or a tensor's Python attributes. Both are ignored. */
static lg_status op_build(um *u)
{
    lg__pv *state, *inst;
    lg_status st = pop(u, &state);
    if (st == LG_OK)
        st = top(u, &inst);
    if (st != LG_OK)
        return st;
    if (inst->kind != LG__PV_DICT && inst->kind != LG__PV_TENSOR && inst->kind != LG__PV_SET &&
        inst->kind != LG__PV_REFUSED)
        return bad(u, "cannot set the state of %s", lg__pv_kind_name(inst->kind));
    return LG_OK;
}

static lg_status op_persid(um *u)
{
    lg__pv *pid, *v;
    lg_status st = pop(u, &pid);
    if (st != LG_OK)
        return st;
    if (!u->o->persistent)
        return bad(u, "a persistent id where none is expected");
    if ((st = new_value(u, LG__PV_STORAGE, &v)) != LG_OK)
        return st;
    st = u->o->persistent(u->o->ctx, pid, v);
    if (st != LG_OK)
        return st;
    return push(u, v);
}

/* ----------------------------------------------------------- containers */

static lg_status op_setitems(um *u, int many)
{
    lg__pv **items = NULL, *d = NULL, *kv[2] = {NULL, NULL};
    size_t n = 2;
    lg_status st;
    if (many) {
        st = pop_mark(u, &items, &n);
    } else {
        st = pop(u, &kv[1]);
        if (st == LG_OK)
            st = pop(u, &kv[0]);
        items = kv;
    }
    if (st == LG_OK)
        st = top(u, &d);
    if (st != LG_OK)
        return st;
    if (d->kind == LG__PV_REFUSED)
        return LG_OK; /* the items go with it */
    if (d->kind != LG__PV_DICT)
        return bad(u, "cannot set items of %s", lg__pv_kind_name(d->kind));
    if (n % 2)
        return bad(u, "an odd number of keys and values (%zu)", n);
    return add_items(u, d, items, n);
}

static lg_status op_append(um *u, int many, lg__pv_kind want_kind)
{
    lg__pv **items = NULL, *l = NULL, *one = NULL;
    size_t n = 1;
    lg_status st = many ? pop_mark(u, &items, &n) : pop(u, &one);
    if (!many)
        items = &one;
    if (st == LG_OK)
        st = top(u, &l);
    if (st != LG_OK)
        return st;
    if (l->kind == LG__PV_REFUSED)
        return LG_OK; /* the items go with it */
    if (l->kind != want_kind)
        return bad(u, "cannot add items to %s", lg__pv_kind_name(l->kind));
    return add_items(u, l, items, n);
}

/* A container of everything since the last MARK. */
static lg_status op_from_mark(um *u, lg__pv_kind kind)
{
    lg__pv **items = NULL, *v = NULL;
    size_t n = 0;
    lg_status st = pop_mark(u, &items, &n);
    if (st == LG_OK && kind == LG__PV_DICT && n % 2)
        st = bad(u, "an odd number of keys and values (%zu)", n);
    if (st == LG_OK)
        st = new_container(u, kind, items, n, &v); /* items are not overwritten: no push yet */
    return st == LG_OK ? push(u, v) : st;
}

static lg_status op_tuple_n(um *u, size_t k)
{
    lg__pv *items[3], *v;
    for (size_t i = k; i-- > 0;) {
        lg_status st = pop(u, &items[i]);
        if (st != LG_OK)
            return st;
    }
    lg_status st = new_container(u, LG__PV_TUPLE, items, k, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* ------------------------------------------------------------- scalars */

static lg_status push_new(um *u, lg__pv_kind kind, int64_t i)
{
    lg__pv *v;
    lg_status st = new_value(u, kind, &v);
    if (st != LG_OK)
        return st;
    v->i = i;
    return push(u, v);
}

static lg_status op_int(um *u, size_t k, int is_signed)
{
    uint64_t raw;
    lg_status st = read_len(u, k, &raw);
    if (st != LG_OK)
        return st;
    int64_t v = is_signed ? (int64_t)(int32_t)(uint32_t)raw : (int64_t)raw;
    return push_new(u, LG__PV_INT, v);
}

/* LONG1 / LONG4: a little-endian two's complement integer of n bytes. */
static lg_status op_long(um *u, size_t k)
{
    uint64_t n;
    lg_status st = read_len(u, k, &n);
    if (st == LG_OK && n > u->n - u->pos)
        st = bad(u, "truncated: %" PRIu64 " bytes of integer, %zu left", n, u->n - u->pos);
    if (st != LG_OK)
        return st;
    const unsigned char *p = u->buf + u->pos;
    u->pos += (size_t)n;
    if (n > 8)
        return push_new(u, LG__PV_BIGINT, 0);
    uint64_t v = le(p, (size_t)n);
    if (n && n < 8 && (p[n - 1] & 0x80))
        v |= ~(uint64_t)0 << (8 * n);
    return push_new(u, LG__PV_INT, (int64_t)v);
}

static lg_status op_binfloat(um *u)
{
    lg__pv *v;
    lg_status st = need(u, 8);
    if (st != LG_OK || (st = new_value(u, LG__PV_FLOAT, &v)) != LG_OK)
        return st;
    uint64_t bits = 0;
    for (size_t i = 0; i < 8; i++) /* big-endian */
        bits = bits << 8 | u->buf[u->pos + i];
    memcpy(&v->f, &bits, sizeof v->f);
    u->pos += 8;
    return push(u, v);
}

/* A str or bytes value of a k-byte length, then that many bytes. */
static lg_status op_text(um *u, size_t k, lg__pv_kind kind)
{
    uint64_t n;
    lg__pv *v;
    lg_status st = read_len(u, k, &n);
    if (st == LG_OK && n > u->n - u->pos)
        st = bad(u, "truncated: a %" PRIu64 "-byte string, %zu bytes left", n, u->n - u->pos);
    if (st != LG_OK || (st = new_value(u, kind, &v)) != LG_OK)
        return st;
    v->s = (const char *)u->buf + u->pos;
    v->n = (size_t)n;
    u->pos += (size_t)n;
    return push(u, v);
}

/* ----------------------------------------------------------------- memo */

static lg_status memo_put(um *u, uint64_t idx)
{
    lg__pv *v = NULL;
    lg_status st = top(u, &v);
    if (st != LG_OK)
        return st;
    /* Pickles number their memo entries in order, so an index never
     * exceeds the values made so far; the bound keeps the memo small. */
    if (idx > 2 * (uint64_t)u->p->nvalues + 1024)
        return bad(u, "memo index %" PRIu64 " is beyond the %zu values read", idx,
                   u->p->nvalues);
    if (idx >= u->mlen) {
        size_t len = (size_t)idx + 1 > 2 * u->mlen ? (size_t)idx + 1 : 2 * u->mlen;
        lg__pv **m = lg__realloc(u->memo, len * sizeof *m);
        if (!m)
            return no_memory(u);
        memset(m + u->mlen, 0, (len - u->mlen) * sizeof *m);
        u->memo = m;
        u->mlen = len;
    }
    if (!u->memo[idx])
        u->mcount++;
    u->memo[idx] = v;
    return LG_OK;
}

static lg_status memo_get(um *u, uint64_t idx)
{
    if (idx >= u->mlen || !u->memo[idx])
        return bad(u, "memo entry %" PRIu64 " was never set", idx);
    return push(u, u->memo[idx]);
}

static lg_status op_put(um *u, size_t k)
{
    uint64_t idx;
    lg_status st = read_len(u, k, &idx);
    return st == LG_OK ? memo_put(u, idx) : st;
}

static lg_status op_get(um *u, size_t k)
{
    uint64_t idx;
    lg_status st = read_len(u, k, &idx);
    return st == LG_OK ? memo_get(u, idx) : st;
}

/* ---------------------------------------------------------- the machine */

static lg_status op_proto(um *u)
{
    uint64_t v;
    lg_status st = read_len(u, 1, &v);
    if (st == LG_OK && (v < 2 || v > 5))
        st = bad(u, "pickle protocol %" PRIu64 "; loadgate reads protocols 2 to 5", v);
    return st;
}

static lg_status op_frame(um *u)
{
    uint64_t len;
    lg_status st = read_len(u, 8, &len);
    if (st == LG_OK && len > u->n - u->pos)
        st = bad(u, "a frame of %" PRIu64 " bytes runs past the end (%zu left)", len,
                 u->n - u->pos);
    return st;
}

static lg_status op_pop(um *u, int to_mark)
{
    lg__pv **items, *v;
    size_t n;
    if (to_mark)
        return pop_mark(u, &items, &n);
    if (u->sp == base(u) && u->nmarks) /* as pickle.py: POP of an empty stack drops a mark */
        return pop_mark(u, &items, &n);
    return pop(u, &v);
}

static lg_status op_dup(um *u)
{
    lg__pv *v;
    lg_status st = top(u, &v);
    return st == LG_OK ? push(u, v) : st;
}

static lg_status refused(um *u, const char *why) { return bad(u, "%s", why); }

/* OBJ instantiates the class after the MARK: refused, unless the class is
 * itself a REFUSED value (defer_refusals), which then stands for it. */
static lg_status op_obj(um *u)
{
    lg__pv **items;
    size_t n;
    size_t depth = u->nmarks ? u->marks[u->nmarks - 1] : u->sp;
    if (u->nmarks && u->sp > depth && u->stack[depth]->kind == LG__PV_REFUSED) {
        lg__pv *cls = u->stack[depth];
        lg_status st = pop_mark(u, &items, &n);
        return st == LG_OK ? push(u, cls) : st;
    }
    return refused(u, "OBJ instantiates a class: not allowed");
}

static lg_status step(um *u)
{
    switch (u->op) {
    case OP_PROTO: return op_proto(u);
    case OP_FRAME: return op_frame(u);
    case OP_MARK: return mark(u);
    case OP_POP: return op_pop(u, 0);
    case OP_POP_MARK: return op_pop(u, 1);
    case OP_DUP: return op_dup(u);
    case OP_NONE: return push_new(u, LG__PV_NONE, 0);
    case OP_NEWTRUE: return push_new(u, LG__PV_BOOL, 1);
    case OP_NEWFALSE: return push_new(u, LG__PV_BOOL, 0);
    case OP_BININT: return op_int(u, 4, 1);
    case OP_BININT1: return op_int(u, 1, 0);
    case OP_BININT2: return op_int(u, 2, 0);
    case OP_LONG1: return op_long(u, 1);
    case OP_LONG4: return op_long(u, 4);
    case OP_BINFLOAT: return op_binfloat(u);
    case OP_SHORT_BINUNICODE: return op_text(u, 1, LG__PV_STR);
    case OP_BINUNICODE: return op_text(u, 4, LG__PV_STR);
    case OP_BINUNICODE8: return op_text(u, 8, LG__PV_STR);
    case OP_SHORT_BINSTRING: return op_text(u, 1, LG__PV_STR);
    case OP_BINSTRING: return op_text(u, 4, LG__PV_STR);
    case OP_SHORT_BINBYTES: return op_text(u, 1, LG__PV_BYTES);
    case OP_BINBYTES: return op_text(u, 4, LG__PV_BYTES);
    case OP_BINBYTES8: return op_text(u, 8, LG__PV_BYTES);
    case OP_BYTEARRAY8: return op_text(u, 8, LG__PV_BYTES);
    case OP_EMPTY_TUPLE: return op_tuple_n(u, 0);
    case OP_TUPLE1: return op_tuple_n(u, 1);
    case OP_TUPLE2: return op_tuple_n(u, 2);
    case OP_TUPLE3: return op_tuple_n(u, 3);
    case OP_TUPLE: return op_from_mark(u, LG__PV_TUPLE);
    case OP_EMPTY_LIST: return push_new(u, LG__PV_LIST, 0);
    case OP_LIST: return op_from_mark(u, LG__PV_LIST);
    case OP_APPEND: return op_append(u, 0, LG__PV_LIST);
    case OP_APPENDS: return op_append(u, 1, LG__PV_LIST);
    case OP_EMPTY_DICT: return push_new(u, LG__PV_DICT, 0);
    case OP_DICT: return op_from_mark(u, LG__PV_DICT);
    case OP_SETITEM: return op_setitems(u, 0);
    case OP_SETITEMS: return op_setitems(u, 1);
    case OP_EMPTY_SET: return push_new(u, LG__PV_SET, 0);
    case OP_ADDITEMS: return op_append(u, 1, LG__PV_SET);
    case OP_FROZENSET: return op_from_mark(u, LG__PV_SET);
    case OP_BINPUT: return op_put(u, 1);
    case OP_LONG_BINPUT: return op_put(u, 4);
    case OP_MEMOIZE: return memo_put(u, u->mcount);
    case OP_BINGET: return op_get(u, 1);
    case OP_LONG_BINGET: return op_get(u, 4);
    case OP_GLOBAL: return op_global(u);
    case OP_STACK_GLOBAL: return op_stack_global(u);
    case OP_INST: return op_inst(u);
    case OP_REDUCE: return op_reduce(u);
    case OP_NEWOBJ: return op_newobj(u, 0);
    case OP_NEWOBJ_EX: return op_newobj(u, 1);
    case OP_BUILD: return op_build(u);
    case OP_BINPERSID: return op_persid(u);
    case OP_OBJ: return op_obj(u);
    case OP_PERSID: return refused(u, "text persistent ids (protocol 0) are not supported");
    case OP_EXT1: case OP_EXT2: case OP_EXT4:
        return refused(u, "extension registry codes are not supported");
    case OP_NEXT_BUFFER: case OP_READONLY_BUFFER:
        return refused(u, "out-of-band buffers are not supported");
    case OP_INT: case OP_LONG: case OP_FLOAT: case OP_STRING: case OP_UNICODE: case OP_GET:
    case OP_PUT:
        return refused(u, "a protocol 0 text opcode; loadgate reads protocols 2 to 5");
    default:
        return bad(u, "unknown opcode");
    }
}

static lg_status finish(um *u, lg__pv **root)
{
    if (u->nmarks)
        return bad(u, "%zu MARKs left open at STOP", u->nmarks);
    if (u->sp != 1)
        return bad(u, "%zu values on the stack at STOP, 1 expected", u->sp);
    *root = u->stack[0];
    return LG_OK;
}

static lg_status run(um *u, lg__pv **root)
{
    lg_status st = LG_OK;
    if (u->n == 0)
        return bad(u, "nothing to read: the data ends here");
    if (u->n < 2 || u->buf[0] != OP_PROTO) {
        u->op = u->buf[0];
        return bad(u, "does not begin with PROTO (pickle protocol 2 or later)");
    }
    while (st == LG_OK) {
        u->at = u->pos;
        if (u->pos >= u->n)
            return bad(u, "ends without STOP");
        u->op = u->buf[u->pos++];
        if (u->op == OP_STOP)
            return finish(u, root);
        st = step(u);
    }
    return st;
}

lg_status lg__pickle_load(lg__pickle *p, const unsigned char *buf, size_t n,
                          const lg__pickle_opts *o, lg__pv **root, size_t *used)
{
    um u = {.p = p, .o = o, .buf = buf, .n = n};
    lg_status st = run(&u, root);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    if (st == LG_OK && used)
        *used = u.pos;
    return st;
}
