/* The unpickler's values (pickle_int.h): the pool that owns them, the
 * containers they make up, and the values REDUCE builds, in C, for the
 * few allowlisted callables (a tensor, a container, bytes, a torch.Size).
 * Nothing is ever called. */
#include "formats/pickle_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the pool */

_Static_assert(sizeof(lg__pv) <= 96, "a value is counted against the memory budget");

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
    for (lg__pk_block *b = p->slabs, *next; b; b = next) {
        lg__pk_slab *s = (lg__pk_slab *)b;
        next = b->next;
        for (size_t i = 0; i < b->used; i++) {
            if (!s->v[i].pooled)
                free(s->v[i].items);
            if (s->v[i].kind == LG__PV_REFUSED)
                free(s->v[i].msg);
        }
        free(s);
    }
    for (lg__pk_block *b = p->chunks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(p);
}

void lg__pickle_allow_script_objects(lg__pickle *p) { p->script_objects = 1; }

size_t lg__pickle_count(const lg__pickle *p) { return p->nvalues; }

uint64_t lg__pickle_budget(uint64_t file_size)
{
    if (file_size > (LG__PICKLE_MAX_BYTES - LG__PICKLE_BUDGET_BASE) / 3)
        return LG__PICKLE_MAX_BYTES;
    return LG__PICKLE_BUDGET_BASE + 3 * file_size;
}

void lg__pickle_set_budget(lg__pickle *p, uint64_t max_bytes)
{
    /* never above the most, which keeps item counts in 32 bits (add_item) */
    p->max_bytes = max_bytes < LG__PICKLE_MAX_BYTES ? max_bytes : LG__PICKLE_MAX_BYTES;
}

int lg__pickle_hold(lg__pickle *p, uint64_t n)
{
    uint64_t max = p->max_bytes ? p->max_bytes : LG__PICKLE_MAX_BYTES;
    if (n > max - p->bytes)
        return -1;
    p->bytes += n;
    return 0;
}

lg_status lg__pk_charge(lg__um *u, uint64_t n)
{
    lg__pickle *p = u->p;
    uint64_t max = p->max_bytes ? p->max_bytes : LG__PICKLE_MAX_BYTES;
    if (n > max - p->bytes)
        return lg__pk_bad(u, "the unpickled objects would take more than %" PRIu64 " bytes, "
                          "the limit for this file (%u MiB + 3 times its size, at most %"
                          PRIu64 " GiB)", max, LG__PICKLE_BUDGET_BASE >> 20,
                          LG__PICKLE_MAX_BYTES >> 30);
    p->bytes += n;
    return LG_OK;
}

const char *lg__pv_kind_name(lg__pv_kind k)
{
    static const char *const names[] = {
        "None", "a bool", "an int", "an int wider than 64 bits", "a float", "a str",
        "bytes", "a tuple", "a list", "a dict", "a set", "a global", "a storage", "a tensor",
        "an object", "a refused global", "a TorchScript object",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "a value";
}

/* -------------------------------------------------------------- values */

/* A new block of size bytes (a slab or a chunk), charged to the budget,
 * becomes the head of *head. */
static lg_status new_block(lg__um *u, size_t size, lg__pk_block **head)
{
    lg_status st = lg__pk_charge(u, size);
    if (st != LG_OK)
        return st;
    lg__pk_block *b = lg__malloc(size);
    if (!b)
        return lg__pk_nomem(u);
    b->next = *head;
    b->used = 0;
    *head = b;
    return LG_OK;
}

lg_status lg__pk_new_value(lg__um *u, lg__pv_kind kind, lg__pv **out)
{
    lg__pickle *p = u->p;
    if (!p->slabs || p->slabs->used == LG__PICKLE_SLAB_VALUES) {
        lg_status st = new_block(u, sizeof(lg__pk_slab), &p->slabs);
        if (st != LG_OK)
            return st;
    }
    lg__pv *v = &((lg__pk_slab *)p->slabs)->v[p->slabs->used++];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->dtype = -1;
    p->nvalues++;
    *out = v;
    return LG_OK;
}

lg_status lg__pk_scalar(lg__um *u, lg__pv_kind kind, int64_t i, lg__pv **out)
{
    lg__pickle *p = u->p;
    lg__pv **slot = kind == LG__PV_NONE ? &p->none
                    : kind == LG__PV_BOOL ? &p->bools[i != 0]
                    /* Fibonacci hashing: nearby ints take distant slots */
                    : &p->ints[((uint64_t)i * 0x9e3779b97f4a7c15ULL) >> 54];
    _Static_assert(LG__PICKLE_INT_CACHE == 1u << (64 - 54), "the int cache's hash");
    if (*slot && (*slot)->kind == kind && (*slot)->i == i) {
        *out = lg__pk_reuse(u, *slot);
        return LG_OK;
    }
    lg_status st = lg__pk_new_value(u, kind, out);
    if (st != LG_OK)
        return st;
    (*out)->i = i;
    *slot = *out;
    return LG_OK;
}

lg__pv *lg__pk_reuse(lg__um *u, lg__pv *v)
{
    u->p->nvalues++;
    return v;
}

/* Room for n items in the pool's arena (n <= LG__PICKLE_POOLED_MAX). */
static lg_status pooled_items(lg__um *u, size_t n, lg__pv ***out)
{
    lg__pickle *p = u->p;
    if (!p->chunks || LG__PICKLE_CHUNK_ITEMS - p->chunks->used < n) {
        lg_status st = new_block(u, sizeof(lg__pk_chunk), &p->chunks);
        if (st != LG_OK)
            return st;
    }
    *out = &((lg__pk_chunk *)p->chunks)->items[p->chunks->used];
    p->chunks->used += n;
    return LG_OK;
}

/* Item counts fit a value's 32 bits: every item is charged to the budget
 * as a pointer, so there are at most LG__PICKLE_MAX_BYTES / 8 of them, and
 * doubling the room of a list that large still fits. */
_Static_assert(LG__PICKLE_MAX_BYTES / sizeof(lg__pv *) <= UINT32_MAX / 2,
               "item counts in 32 bits");

static lg_status add_item(lg__um *u, lg__pv *c, lg__pv *item)
{
    if (c->count == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 4;
        lg_status st = lg__pk_charge(u, (uint64_t)(cap - c->cap) * sizeof *c->items);
        if (st != LG_OK)
            return st;
        /* c is a list, a dict or a set: never pooled (lg__pk_new_container) */
        lg__pv **items = lg__realloc(c->items, cap * sizeof *items);
        if (!items)
            return lg__pk_nomem(u);
        c->items = items;
        c->cap = cap;
    }
    c->items[c->count++] = item;
    return LG_OK;
}

lg_status lg__pk_add_items(lg__um *u, lg__pv *c, lg__pv *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lg_status st = add_item(u, c, items[i]);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

lg_status lg__pk_new_container(lg__um *u, lg__pv_kind kind, lg__pv *const *items, size_t n,
                               lg__pv **out)
{
    lg__pickle *p = u->p;
    if (kind == LG__PV_TUPLE && !n && p->empty_tuple) { /* immutable: shared */
        *out = lg__pk_reuse(u, p->empty_tuple);
        return LG_OK;
    }
    lg_status st = lg__pk_new_value(u, kind, out);
    if (st == LG_OK && kind == LG__PV_TUPLE && !n)
        p->empty_tuple = *out;
    if (st != LG_OK || !n)
        return st;
    /* room for its n items exactly: most containers never grow, and those
     * that cannot (a tuple, a tensor's parts) take it from the arena */
    if ((kind == LG__PV_TUPLE || kind == LG__PV_TENSOR) && n <= LG__PICKLE_POOLED_MAX) {
        if ((st = pooled_items(u, n, &(*out)->items)) != LG_OK)
            return st;
        (*out)->pooled = 1;
    } else if ((st = lg__pk_charge(u, (uint64_t)n * sizeof *items)) != LG_OK) {
        return st;
    } else if (!((*out)->items = lg__malloc(n * sizeof *items))) {
        return lg__pk_nomem(u);
    }
    memcpy((*out)->items, items, n * sizeof *items);
    (*out)->count = (*out)->cap = (uint32_t)n; /* charged: see add_item */
    return LG_OK;
}

/* -------------------------------------------------------------- REDUCE */

const char *lg__pk_global_name(const lg__pv *g, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s.%.*s", (int)g->n, g->s, (int)g->n2, g->s2);
    return buf;
}

static lg_status want(lg__um *u, const char *fn, const lg__pv *args, size_t lo, size_t hi)
{
    if (args->count >= lo && args->count <= hi)
        return LG_OK;
    if (lo == hi)
        return lg__pk_bad(u, "%s takes %zu arguments, %zu given", fn, lo, (size_t)args->count);
    return lg__pk_bad(u, "%s takes %zu or %zu arguments, %zu given", fn, lo, hi,
                      (size_t)args->count);
}

static int is_global(const lg__pv *v, lg__global id)
{
    return v->kind == LG__PV_GLOBAL && v->i == (int64_t)id;
}

/* A tensor from torch._utils._rebuild_tensor{,_v2,_v3}(storage, offset,
 * size, stride, ...). The reader checks the numbers, naming the tensor. */
static lg_status rebuild_tensor(lg__um *u, lg__global fn, const lg__pv *args, lg__pv **out)
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
        return lg__pk_bad(u, "%s: the storage is %s, not a storage", name,
                          lg__pv_kind_name(a[0]->kind));
    if (a[1]->kind != LG__PV_INT)
        return lg__pk_bad(u, "%s: the storage offset is %s, not an int", name,
                          lg__pv_kind_name(a[1]->kind));
    if (a[2]->kind != LG__PV_TUPLE || a[3]->kind != LG__PV_TUPLE)
        return lg__pk_bad(u, "%s: size and stride must be tuples, not %s and %s", name,
                          lg__pv_kind_name(a[2]->kind), lg__pv_kind_name(a[3]->kind));
    if (fn == LG__G_REBUILD_TENSOR_V3 && !is_global(a[6], LG__G_DTYPE))
        return lg__pk_bad(u, "%s: the dtype is %s, not a torch dtype", name,
                          lg__pv_kind_name(a[6]->kind));
    lg__pv *t;
    lg__pv *parts[5] = {a[0], a[1], a[2], a[3], fn == LG__G_REBUILD_TENSOR_V3 ? a[6] : NULL};
    st = lg__pk_new_container(u, LG__PV_TENSOR, parts, 5, &t);
    if (st != LG_OK)
        return st;
    t->i = fn;
    *out = t;
    return LG_OK;
}

/* torch._tensor._rebuild_from_type_v2(func, new_type, args, state): a
 * tensor (or Parameter) with Python attributes; func rebuilds it. */
static lg_status rebuild_from_type(lg__um *u, const lg__pv *args, lg__pv **out)
{
    lg_status st = want(u, "_rebuild_from_type_v2", args, 4, 4);
    if (st != LG_OK)
        return st;
    lg__pv *fn = args->items[0], *type = args->items[1], *inner = args->items[2];
    if (!is_global(type, LG__G_TENSOR_TYPE) && !is_global(type, LG__G_PARAMETER_TYPE))
        return lg__pk_bad(u, "_rebuild_from_type_v2: the type is %s, not torch.Tensor or "
                          "torch.nn.parameter.Parameter", lg__pv_kind_name(type->kind));
    if (inner->kind != LG__PV_TUPLE)
        return lg__pk_bad(u, "_rebuild_from_type_v2: the arguments are %s, not a tuple",
                          lg__pv_kind_name(inner->kind));
    if (fn->kind != LG__PV_GLOBAL || fn->i < LG__G_REBUILD_TENSOR ||
        fn->i > LG__G_REBUILD_TENSOR_V3)
        return lg__pk_bad(u, "_rebuild_from_type_v2: the function is %s, not a tensor rebuild "
                          "function", lg__pv_kind_name(fn->kind));
    return rebuild_tensor(u, (lg__global)fn->i, inner, out);
}

/* collections.OrderedDict(), set(), frozenset(): empty, or from a list. */
static lg_status build_container(lg__um *u, const lg__pv *fn, const lg__pv *args, lg__pv **out)
{
    char buf[128];
    lg__pv_kind kind = fn->i == LG__G_ORDERED_DICT ? LG__PV_DICT : LG__PV_SET;
    /* its name is for messages only, and made only for one: a torch.save
     * pickle calls OrderedDict() once a tensor */
    if (args->count > 1)
        return want(u, lg__pk_global_name(fn, buf, sizeof buf), args, 0, 1);
    lg_status st = lg__pk_new_value(u, kind, out);
    if (st != LG_OK || args->count == 0)
        return st;
    lg__pk_global_name(fn, buf, sizeof buf);
    const lg__pv *from = args->items[0];
    if (from->kind != LG__PV_LIST && from->kind != LG__PV_TUPLE && from->kind != LG__PV_SET)
        return lg__pk_bad(u, "%s of %s", buf, lg__pv_kind_name(from->kind));
    if (kind == LG__PV_SET)
        return lg__pk_add_items(u, *out, from->items, from->count);
    for (size_t i = 0; i < from->count; i++) {
        const lg__pv *pair = from->items[i];
        if ((pair->kind != LG__PV_TUPLE && pair->kind != LG__PV_LIST) || pair->count != 2)
            return lg__pk_bad(u, "%s: item %zu is not a (key, value) pair", buf, i);
        if ((st = lg__pk_add_items(u, *out, pair->items, 2)) != LG_OK)
            return st;
    }
    return LG_OK;
}

lg_status lg__pk_reduce(lg__um *u, const lg__pv *fn, const lg__pv *args, lg__pv **out)
{
    char buf[128];
    if (fn->kind != LG__PV_GLOBAL)
        return lg__pk_bad(u, "cannot call %s", lg__pv_kind_name(fn->kind));
    if (args->kind != LG__PV_TUPLE)
        return lg__pk_bad(u, "the arguments of %s are %s, not a tuple",
                          lg__pk_global_name(fn, buf, sizeof buf), lg__pv_kind_name(args->kind));
    switch ((lg__global)fn->i) {
    case LG__G_ORDERED_DICT:
    case LG__G_SET:
    case LG__G_FROZENSET:
        return build_container(u, fn, args, out);
    case LG__G_CODECS_ENCODE: {
        lg_status st = want(u, "_codecs.encode", args, 1, 2);
        if (st == LG_OK && !lg__pk_is_text(args->items[0]))
            st = lg__pk_bad(u, "_codecs.encode of %s", lg__pv_kind_name(args->items[0]->kind));
        if (st != LG_OK || (st = lg__pk_new_value(u, LG__PV_BYTES, out)) != LG_OK)
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
            st = lg__pk_bad(u, "a parameter's data is %s, not a tensor",
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
            st = lg__pk_bad(u, "torch.Size of %s", lg__pv_kind_name(args->items[0]->kind));
        if (st != LG_OK)
            return st;
        const lg__pv *dims = args->count ? args->items[0] : NULL; /* torch.Size(): () */
        return lg__pk_new_container(u, LG__PV_TUPLE, dims ? dims->items : NULL,
                                    dims ? dims->count : 0, out);
    }
    case LG__G_DEVICE:
        return lg__pk_new_value(u, LG__PV_OTHER, out);
    case LG__G_SCRIPT_CLASS:
        return lg__pk_script_object(u, fn, args, out);
    case LG__G_RESTORE_TYPE_TAG: {
        lg_status st = want(u, "restore_type_tag", args, 2, 2);
        if (st == LG_OK)
            *out = args->items[0]; /* the type string only annotates */
        return st;
    }
    default:
        return lg__pk_bad(u, "%s cannot be called", lg__pk_global_name(fn, buf, sizeof buf));
    }
}

/* ------------------------------------------------- TorchScript objects */

lg_status lg__pk_script_object(lg__um *u, const lg__pv *cls, const lg__pv *args, lg__pv **out)
{
    char buf[300];
    if (args->kind != LG__PV_TUPLE || args->count)
        return lg__pk_bad(u, "TorchScript class %s is instantiated with arguments",
                          lg__pk_global_name(cls, buf, sizeof buf));
    lg_status st = lg__pk_new_value(u, LG__PV_SCRIPT, out);
    if (st == LG_OK) {
        (*out)->s = cls->s, (*out)->n = cls->n;
        (*out)->s2 = cls->s2, (*out)->n2 = cls->n2;
    }
    return st;
}

lg_status lg__pk_script_build(lg__um *u, lg__pv *obj, const lg__pv *state)
{
    char buf[300];
    lg__pk_global_name(obj, buf, sizeof buf);
    if (obj->kind != LG__PV_SCRIPT)
        return lg__pk_bad(u, "the state of TorchScript object %s is set twice", buf);
    if (state->kind != LG__PV_DICT)
        return lg__pk_bad(u, "the state of TorchScript object %s is %s, not a dict of "
                          "attributes: its class defines __setstate__, whose code loadgate "
                          "never runs", buf, lg__pv_kind_name(state->kind));
    lg_status st = lg__pk_add_items(u, obj, state->items, state->count);
    if (st == LG_OK)
        obj->kind = LG__PV_DICT; /* s and s2 still name the class */
    return st;
}
