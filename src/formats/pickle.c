/* The restricted unpickler.
 *
 * It follows CPython's Lib/pickle.py (_Unpickler.load_*) opcode by opcode
 * for protocols 2 to 5, with three differences: a global is looked up in
 * an allowlist, never imported; REDUCE, NEWOBJ and BUILD build plain
 * values in C for the few allowlisted callables and refuse the rest; and
 * the memo, the stack, the marks and the number of values are bounded.
 * Every read is checked against the pickle's length first. Strings are not
 * copied: they point into the pickle, which outlives the values. */
#include "formats/pickle_int.h"

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

#define GLOBAL_LINE_MAX 256u

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

lg_status lg__pk_bad(const lg__um *u, const char *fmt, ...)
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

lg_status lg__pk_nomem(const lg__um *u)
{
    return lg__err(LG_E_NOMEM, "%s: %s: out of memory unpickling (byte %zu)", u->o->path,
                   u->o->record, u->o->base + u->at);
}

/* --------------------------------------------------------------- stack */

static size_t base(const lg__um *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static lg_status push(lg__um *u, lg__pv *v)
{
    if (u->sp == u->scap) {
        size_t cap = u->scap ? u->scap * 2 : 64;
        lg_status st = lg__pk_charge(u, (uint64_t)(cap - u->scap) * sizeof *u->stack);
        if (st != LG_OK)
            return st;
        lg__pv **s = lg__realloc(u->stack, cap * sizeof *s);
        if (!s)
            return lg__pk_nomem(u);
        u->stack = s;
        u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return LG_OK;
}

static lg_status pop(lg__um *u, lg__pv **out)
{
    if (u->sp <= base(u))
        return lg__pk_bad(u, "the stack is empty");
    *out = u->stack[--u->sp];
    return LG_OK;
}

static lg_status top(lg__um *u, lg__pv **out)
{
    if (u->sp <= base(u))
        return lg__pk_bad(u, "the stack is empty");
    *out = u->stack[u->sp - 1];
    return LG_OK;
}

/* The items pushed since the last MARK; the mark is dropped. The items
 * stay readable until the next push. */
static lg_status pop_mark(lg__um *u, lg__pv ***items, size_t *n)
{
    if (!u->nmarks)
        return lg__pk_bad(u, "no MARK to pop to");
    size_t b = u->marks[--u->nmarks];
    /* a MARK before anything was pushed: the stack may not exist yet */
    *items = u->stack ? u->stack + b : NULL;
    *n = u->sp - b;
    u->sp = b;
    return LG_OK;
}

static lg_status mark(lg__um *u)
{
    if (u->nmarks == LG__PICKLE_MAX_MARKS)
        return lg__pk_bad(u, "more than %u nested MARKs", LG__PICKLE_MAX_MARKS);
    if (u->nmarks == u->mcap) {
        size_t cap = u->mcap ? u->mcap * 2 : 16;
        lg_status st = lg__pk_charge(u, (uint64_t)(cap - u->mcap) * sizeof *u->marks);
        if (st != LG_OK)
            return st;
        size_t *m = lg__realloc(u->marks, cap * sizeof *m);
        if (!m)
            return lg__pk_nomem(u);
        u->marks = m;
        u->mcap = cap;
    }
    u->marks[u->nmarks++] = u->sp;
    return LG_OK;
}

/* ---------------------------------------------------------------- reads */

static lg_status need(lg__um *u, size_t k)
{
    if (u->n - u->pos < k)
        return lg__pk_bad(u, "truncated: needs %zu bytes, %zu left", k, u->n - u->pos);
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
static lg_status read_len(lg__um *u, size_t k, uint64_t *out)
{
    lg_status st = need(u, k);
    if (st != LG_OK)
        return st;
    *out = le(u->buf + u->pos, k);
    u->pos += k;
    return LG_OK;
}

/* ------------------------------------------------------------- globals */

static lg_status push_global(lg__um *u, const char *m, size_t ml, const char *nm, size_t nl)
{
    lg__pv *g;
    lg_status st = lg__pk_global(u, m, ml, nm, nl, &g);
    return st == LG_OK ? push(u, g) : st;
}

/* One "text\n" line of GLOBAL or INST. */
static lg_status read_line(lg__um *u, const char **s, size_t *n)
{
    size_t left = u->n - u->pos, max = left < GLOBAL_LINE_MAX ? left : GLOBAL_LINE_MAX;
    const unsigned char *p = u->buf + u->pos;
    const unsigned char *nl = memchr(p, '\n', max);
    if (!nl)
        return lg__pk_bad(u, "no end of line within %zu bytes", max);
    *s = (const char *)p;
    *n = (size_t)(nl - p);
    u->pos += *n + 1;
    return LG_OK;
}

static lg_status op_global(lg__um *u)
{
    const char *m, *nm;
    size_t ml, nl;
    lg_status st = read_line(u, &m, &ml);
    if (st == LG_OK)
        st = read_line(u, &nm, &nl);
    return st == LG_OK ? push_global(u, m, ml, nm, nl) : st;
}

static lg_status op_stack_global(lg__um *u)
{
    lg__pv *name, *module;
    lg_status st = pop(u, &name);
    if (st == LG_OK)
        st = pop(u, &module);
    if (st != LG_OK)
        return st;
    if (!lg__pk_is_text(name) || !lg__pk_is_text(module))
        return lg__pk_bad(u, "module and name must be str, not %s and %s",
                          lg__pv_kind_name(module->kind), lg__pv_kind_name(name->kind));
    if (module->n > GLOBAL_LINE_MAX || name->n > GLOBAL_LINE_MAX)
        return lg__pk_bad(u, "a module or name of more than %u bytes (%" PRIu32 " and %" PRIu32 ")",
                          GLOBAL_LINE_MAX, module->n, name->n);
    return push_global(u, module->s, module->n, name->s, name->n);
}

/* INST names a class to instantiate: never allowed (deferred: its
 * arguments since the MARK give way to a REFUSED value). */
static lg_status op_inst(lg__um *u)
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
    if ((st = lg__pk_refuse(u, m, ml, nm, nl)) != LG_OK ||
        (st = pop_mark(u, &items, &n)) != LG_OK ||
        (st = lg__pk_new_value(u, LG__PV_REFUSED, &v)) != LG_OK ||
        (st = lg__pk_defer(u, v, m, ml, nm, nl)) != LG_OK)
        return st;
    return push(u, v);
}

/* -------------------------------------------------------------- REDUCE */

static lg_status op_reduce(lg__um *u)
{
    lg__pv *args, *fn, *v = NULL;
    lg_status st = pop(u, &args);
    if (st == LG_OK)
        st = pop(u, &fn);
    if (st != LG_OK)
        return st;
    const lg__pv *r = lg__pk_refused_in(fn);
    if (r || (r = lg__pk_refused_in(args)))
        return push(u, (lg__pv *)r); /* only ever made with defer_refusals */
    st = lg__pk_reduce(u, fn, args, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* NEWOBJ(cls, args) and NEWOBJ_EX(cls, args, kwargs): cls.__new__(cls,
 * *args). Only the allowlisted containers, with no arguments. */
static lg_status op_newobj(lg__um *u, int ex)
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
        return lg__pk_bad(u, "cannot instantiate %s", lg__pv_kind_name(cls->kind));
    if (cls->i == LG__G_SCRIPT_CLASS && !(kwargs && kwargs->count)) {
        st = lg__pk_script_object(u, cls, args, &v);
        return st == LG_OK ? push(u, v) : st;
    }
    if (cls->i != LG__G_ORDERED_DICT && cls->i != LG__G_SET && cls->i != LG__G_FROZENSET)
        return lg__pk_bad(u, "%s cannot be instantiated", lg__pk_global_name(cls, buf, sizeof buf));
    if (args->kind != LG__PV_TUPLE || args->count || (kwargs && kwargs->count))
        return lg__pk_bad(u, "%s is instantiated with arguments",
                          lg__pk_global_name(cls, buf, sizeof buf));
    st = lg__pk_new_value(u, cls->i == LG__G_ORDERED_DICT ? LG__PV_DICT : LG__PV_SET, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* BUILD sets an object's state: an OrderedDict's attributes (a state
 * dict's _metadata) or a tensor's Python attributes, both ignored; or a
 * TorchScript object's attributes (script_objects), which it keeps. */
static lg_status op_build(lg__um *u)
{
    lg__pv *state, *inst;
    lg_status st = pop(u, &state);
    if (st == LG_OK)
        st = top(u, &inst);
    if (st != LG_OK)
        return st;
    if (inst->kind == LG__PV_SCRIPT || (inst->kind == LG__PV_DICT && inst->s2))
        return lg__pk_script_build(u, inst, state);
    if (inst->kind != LG__PV_DICT && inst->kind != LG__PV_TENSOR && inst->kind != LG__PV_SET &&
        inst->kind != LG__PV_REFUSED)
        return lg__pk_bad(u, "cannot set the state of %s", lg__pv_kind_name(inst->kind));
    return LG_OK;
}

static lg_status op_persid(lg__um *u)
{
    lg__pv *pid, *v;
    lg_status st = pop(u, &pid);
    if (st != LG_OK)
        return st;
    if (!u->o->persistent)
        return lg__pk_bad(u, "a persistent id where none is expected");
    if ((st = lg__pk_new_value(u, LG__PV_STORAGE, &v)) != LG_OK)
        return st;
    st = u->o->persistent(u->o->ctx, pid, v);
    if (st != LG_OK)
        return st;
    return push(u, v);
}

/* ----------------------------------------------------------- containers */

static lg_status op_setitems(lg__um *u, int many)
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
        return lg__pk_bad(u, "cannot set items of %s", lg__pv_kind_name(d->kind));
    if (n % 2)
        return lg__pk_bad(u, "an odd number of keys and values (%zu)", n);
    return lg__pk_add_items(u, d, items, n);
}

static lg_status op_append(lg__um *u, int many, lg__pv_kind want_kind)
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
        return lg__pk_bad(u, "cannot add items to %s", lg__pv_kind_name(l->kind));
    return lg__pk_add_items(u, l, items, n);
}

/* A container of everything since the last MARK. */
static lg_status op_from_mark(lg__um *u, lg__pv_kind kind)
{
    lg__pv **items = NULL, *v = NULL;
    size_t n = 0;
    lg_status st = pop_mark(u, &items, &n);
    if (st == LG_OK && kind == LG__PV_DICT && n % 2)
        st = lg__pk_bad(u, "an odd number of keys and values (%zu)", n);
    if (st == LG_OK)
        st = lg__pk_new_container(u, kind, items, n, &v); /* items intact: no push yet */
    return st == LG_OK ? push(u, v) : st;
}

static lg_status op_tuple_n(lg__um *u, size_t k)
{
    lg__pv *items[3], *v;
    for (size_t i = k; i-- > 0;) {
        lg_status st = pop(u, &items[i]);
        if (st != LG_OK)
            return st;
    }
    lg_status st = lg__pk_new_container(u, LG__PV_TUPLE, items, k, &v);
    return st == LG_OK ? push(u, v) : st;
}

/* ------------------------------------------------------------- scalars */

static lg_status push_new(lg__um *u, lg__pv_kind kind, int64_t i)
{
    lg__pv *v;
    lg_status st = lg__pk_new_value(u, kind, &v);
    if (st != LG_OK)
        return st;
    v->i = i;
    return push(u, v);
}

/* None, a bool or an int: shared (lg__pk_scalar). */
static lg_status push_scalar(lg__um *u, lg__pv_kind kind, int64_t i)
{
    lg__pv *v;
    lg_status st = lg__pk_scalar(u, kind, i, &v);
    return st == LG_OK ? push(u, v) : st;
}

static lg_status op_int(lg__um *u, size_t k, int is_signed)
{
    uint64_t raw;
    lg_status st = read_len(u, k, &raw);
    if (st != LG_OK)
        return st;
    int64_t v = is_signed ? (int64_t)(int32_t)(uint32_t)raw : (int64_t)raw;
    return push_scalar(u, LG__PV_INT, v);
}

/* LONG1 / LONG4: a little-endian two's complement integer of n bytes. */
static lg_status op_long(lg__um *u, size_t k)
{
    uint64_t n;
    lg_status st = read_len(u, k, &n);
    if (st == LG_OK && n > u->n - u->pos)
        st = lg__pk_bad(u, "truncated: %" PRIu64 " bytes of integer, %zu left", n, u->n - u->pos);
    if (st != LG_OK)
        return st;
    const unsigned char *p = u->buf + u->pos;
    u->pos += (size_t)n;
    if (n > 8)
        return push_new(u, LG__PV_BIGINT, 0);
    uint64_t v = le(p, (size_t)n);
    if (n && n < 8 && (p[n - 1] & 0x80))
        v |= ~(uint64_t)0 << (8 * n);
    return push_scalar(u, LG__PV_INT, (int64_t)v);
}

static lg_status op_binfloat(lg__um *u)
{
    lg__pv *v;
    lg_status st = need(u, 8);
    if (st != LG_OK || (st = lg__pk_new_value(u, LG__PV_FLOAT, &v)) != LG_OK)
        return st;
    uint64_t bits = 0;
    for (size_t i = 0; i < 8; i++) /* big-endian */
        bits = bits << 8 | u->buf[u->pos + i];
    memcpy(&v->f, &bits, sizeof v->f);
    u->pos += 8;
    return push(u, v);
}

/* A str or bytes value of a k-byte length, then that many bytes. */
static lg_status op_text(lg__um *u, size_t k, lg__pv_kind kind)
{
    uint64_t n;
    lg__pv *v;
    lg_status st = read_len(u, k, &n);
    if (st == LG_OK && n > UINT32_MAX) /* lg__pv.n; no checkpoint holds one */
        st = lg__pk_bad(u, "a %" PRIu64 "-byte string: loadgate reads strings under 4 GiB", n);
    if (st == LG_OK && n > u->n - u->pos)
        st = lg__pk_bad(u, "truncated: a %" PRIu64 "-byte string, %zu bytes left", n,
                        u->n - u->pos);
    if (st != LG_OK || (st = lg__pk_new_value(u, kind, &v)) != LG_OK)
        return st;
    v->s = (const char *)u->buf + u->pos;
    v->n = (uint32_t)n;
    u->pos += (size_t)n;
    return push(u, v);
}

/* ----------------------------------------------------------------- memo */

static lg_status memo_put(lg__um *u, uint64_t idx)
{
    lg__pv *v = NULL;
    lg_status st = top(u, &v);
    if (st != LG_OK)
        return st;
    /* Pickles number their memo entries in order, so an index never
     * exceeds the values made so far; the bound keeps the memo small. */
    if (idx > 2 * (uint64_t)u->p->nvalues + 1024)
        return lg__pk_bad(u, "memo index %" PRIu64 " is beyond the %zu values read", idx,
                          u->p->nvalues);
    if (idx >= u->mlen) {
        size_t len = (size_t)idx + 1 > 2 * u->mlen ? (size_t)idx + 1 : 2 * u->mlen;
        st = lg__pk_charge(u, (uint64_t)(len - u->mlen) * sizeof *u->memo);
        if (st != LG_OK)
            return st;
        lg__pv **m = lg__realloc(u->memo, len * sizeof *m);
        if (!m)
            return lg__pk_nomem(u);
        memset(m + u->mlen, 0, (len - u->mlen) * sizeof *m);
        u->memo = m;
        u->mlen = len;
    }
    if (!u->memo[idx])
        u->mcount++;
    u->memo[idx] = v;
    return LG_OK;
}

static lg_status memo_get(lg__um *u, uint64_t idx)
{
    if (idx >= u->mlen || !u->memo[idx])
        return lg__pk_bad(u, "memo entry %" PRIu64 " was never set", idx);
    return push(u, u->memo[idx]);
}

static lg_status op_put(lg__um *u, size_t k)
{
    uint64_t idx;
    lg_status st = read_len(u, k, &idx);
    return st == LG_OK ? memo_put(u, idx) : st;
}

static lg_status op_get(lg__um *u, size_t k)
{
    uint64_t idx;
    lg_status st = read_len(u, k, &idx);
    return st == LG_OK ? memo_get(u, idx) : st;
}

/* ------------------------------------------------------------ the loop */

static lg_status op_proto(lg__um *u)
{
    uint64_t v;
    lg_status st = read_len(u, 1, &v);
    if (st == LG_OK && (v < 2 || v > 5))
        st = lg__pk_bad(u, "pickle protocol %" PRIu64 "; loadgate reads protocols 2 to 5", v);
    return st;
}

static lg_status op_frame(lg__um *u)
{
    uint64_t len;
    lg_status st = read_len(u, 8, &len);
    if (st == LG_OK && len > u->n - u->pos)
        st = lg__pk_bad(u, "a frame of %" PRIu64 " bytes runs past the end (%zu left)", len,
                        u->n - u->pos);
    return st;
}

static lg_status op_pop(lg__um *u, int to_mark)
{
    lg__pv **items, *v;
    size_t n;
    if (to_mark)
        return pop_mark(u, &items, &n);
    if (u->sp == base(u) && u->nmarks) /* as pickle.py: POP of an empty stack drops a mark */
        return pop_mark(u, &items, &n);
    return pop(u, &v);
}

static lg_status op_dup(lg__um *u)
{
    lg__pv *v;
    lg_status st = top(u, &v);
    return st == LG_OK ? push(u, v) : st;
}

static lg_status refused(lg__um *u, const char *why) { return lg__pk_bad(u, "%s", why); }

/* OBJ instantiates the class after the MARK: refused, unless the class is
 * itself a REFUSED value (defer_refusals), which then stands for it. */
static lg_status op_obj(lg__um *u)
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

static lg_status step(lg__um *u)
{
    switch (u->op) {
    case OP_PROTO: return op_proto(u);
    case OP_FRAME: return op_frame(u);
    case OP_MARK: return mark(u);
    case OP_POP: return op_pop(u, 0);
    case OP_POP_MARK: return op_pop(u, 1);
    case OP_DUP: return op_dup(u);
    case OP_NONE: return push_scalar(u, LG__PV_NONE, 0);
    case OP_NEWTRUE: return push_scalar(u, LG__PV_BOOL, 1);
    case OP_NEWFALSE: return push_scalar(u, LG__PV_BOOL, 0);
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
        return lg__pk_bad(u, "unknown opcode");
    }
}

static lg_status finish(lg__um *u, lg__pv **root)
{
    if (u->nmarks)
        return lg__pk_bad(u, "%zu MARKs left open at STOP", u->nmarks);
    if (u->sp != 1)
        return lg__pk_bad(u, "%zu values on the stack at STOP, 1 expected", u->sp);
    *root = u->stack[0];
    return LG_OK;
}

static lg_status run(lg__um *u, lg__pv **root)
{
    lg_status st = LG_OK;
    if (u->n == 0)
        return lg__pk_bad(u, "nothing to read: the data ends here");
    if (u->n < 2 || u->buf[0] != OP_PROTO) {
        u->op = u->buf[0];
        return lg__pk_bad(u, "does not begin with PROTO (pickle protocol 2 or later)");
    }
    while (st == LG_OK) {
        u->at = u->pos;
        if (u->pos >= u->n)
            return lg__pk_bad(u, "ends without STOP");
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
    lg__um u = {.p = p, .o = o, .buf = buf, .n = n};
    p->nglobals = 0; /* a shared global's names point into its own pickle */
    lg_status st = run(&u, root);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    if (st == LG_OK && used)
        *used = u.pos;
    return st;
}

