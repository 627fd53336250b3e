/* The store: named variables on one device, the equivalent of tch's
 * VarStore. Every change to it is all-or-nothing: new tensors are built
 * aside and swapped in by a step that cannot fail. */
#include "core/store.h"

#include <stdlib.h>
#include <string.h>

lg_status lg_store_new(lg_backend *b, lg_device d, lg_store **out)
{
    char dn[LG_DEVICE_NAME_MAX];
    if (!b || !out)
        return lg__err(LG_E_INVALID, "lg_store_new: backend and out are required");
    if (!lg_backend_has_device(b, d))
        return lg__err(LG_E_DEVICE, "cannot create a store on %s: the %s backend has no such "
                       "device here", lg_device_format(d, dn), lg_backend_name(b));
    lg_store *s = lg__calloc(1, sizeof *s);
    if (!s)
        return lg__err(LG_E_NOMEM, "out of memory creating a store");
    s->b = b;
    s->device = d;
    *out = s;
    return LG_OK;
}

void lg_store_free(lg_store *s)
{
    if (!s)
        return;
    lg__dev x = {s->b, s->trace};
    for (size_t i = 0; i < s->n; i++) {
        lg__dev_free(&x, s->v[i].info.name, s->v[i].dev, s->v[i].info.nbytes, s->v[i].t);
        free(s->v[i].name);
    }
    free(s->v);
    lg__index_free(&s->index);
    free(s);
}

void lg_store_set_trace(lg_store *s, lg_trace *t) { s->trace = t; }
size_t lg_store_count(const lg_store *s) { return s->n; }
lg_device lg_store_device(const lg_store *s) { return s->device; }

lg_device lg_store_var_device(const lg_store *s, size_t i)
{
    return i < s->n ? s->v[i].dev : s->device;
}

const lg_tensor_info *lg_store_var(const lg_store *s, size_t i)
{
    return i < s->n ? &s->v[i].info : NULL;
}

static const char *var_name(const void *ctx, size_t i)
{
    return ((const lg_store *)ctx)->v[i].name;
}

size_t lg_store_find(const lg_store *s, const char *name)
{
    return lg__index_find(&s->index, name, var_name, s, s->n);
}

lg_status lg_store_add(lg_store *s, const char *name, lg_dtype dtype, int ndim,
                       const int64_t *shape)
{
    uint64_t nbytes;
    if (!name || !*name)
        return lg__err(LG_E_INVALID, "a variable needs a name");
    if (lg_store_find(s, name) != (size_t)-1)
        return lg__err(LG_E_INVALID, "variable \"%s\" is already in the store", name);
    if (ndim < 0 || ndim > LG_MAX_DIMS || (ndim && !shape) || !lg__nbytes(dtype, ndim, shape, &nbytes))
        return lg__err(LG_E_INVALID, "variable \"%s\": bad dtype or shape", name);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        lg__var *v = lg__realloc(s->v, cap * sizeof *v);
        if (!v)
            return lg__err(LG_E_NOMEM, "out of memory adding variable \"%s\"", name);
        s->v = v;
        s->cap = cap;
    }
    lg__var *v = &s->v[s->n];
    memset(v, 0, sizeof *v);
    if (!(v->name = lg__strdup(name)))
        return lg__err(LG_E_NOMEM, "out of memory adding variable \"%s\"", name);
    v->info = (lg_tensor_info){v->name, dtype, ndim, {0}, nbytes};
    v->dev = s->device;
    if (ndim)
        memcpy(v->info.shape, shape, (size_t)ndim * sizeof *shape);
    lg__dev x = {s->b, s->trace};
    lg_status st = lg__dev_alloc(&x, name, s->device, dtype, ndim, shape, nbytes, &v->t);
    void *zeros = NULL;
    if (st == LG_OK && nbytes && !lg__alloc_zeroed(s->b, s->device)) {
        zeros = calloc(1, (size_t)nbytes);
        st = zeros ? s->b->ops->write(s->b, v->t, zeros, (size_t)nbytes)
                   : lg__err(LG_E_NOMEM, "out of memory adding variable \"%s\"", name);
        free(zeros);
        if (st != LG_OK)
            lg__dev_free(&x, name, s->device, nbytes, v->t);
    }
    if (st != LG_OK) {
        free(v->name);
        return lg__err_prefix(st, "variable \"%s\"", name);
    }
    s->n++;
    lg__index_add(&s->index, var_name, s);
    return LG_OK;
}

lg_status lg_store_fill(lg_store *s, const char *name, const void *src, size_t n)
{
    /* first where a store being built is filled: the variable just added */
    size_t i = lg__index_find_hint(&s->index, name, var_name, s, s->n, s->n - 1);
    if (i == (size_t)-1)
        return lg__err(LG_E_NOTFOUND, "no variable \"%s\" in the store", name);
    if (n != s->v[i].info.nbytes)
        return lg__err(LG_E_INVALID, "variable \"%s\" has %llu bytes, not %zu", name,
                       (unsigned long long)s->v[i].info.nbytes, n);
    return s->b->ops->write(s->b, s->v[i].t, src, n);
}

lg_status lg_store_read(lg_store *s, size_t i, void *dst, size_t n, lg_device *where)
{
    if (i >= s->n)
        return lg__err(LG_E_INVALID, "no variable %zu in the store", i);
    if (n != s->v[i].info.nbytes)
        return lg__err(LG_E_INVALID, "variable \"%s\" has %llu bytes, not %zu", s->v[i].name,
                       (unsigned long long)s->v[i].info.nbytes, n);
    lg_status st = s->b->ops->read(s->b, s->v[i].t, dst, n);
    if (st == LG_OK && where)
        st = s->b->ops->device_of(s->b, s->v[i].t, where);
    return st;
}

const void *lg_store_peek(lg_store *s, size_t i, lg_device *where)
{
    lg_device d;
    if (i >= s->n || !s->v[i].info.nbytes || s->v[i].dev.type != LG_DEV_CPU ||
        !s->b->ops->peek)
        return NULL;
    const void *p = s->b->ops->peek(s->b, s->v[i].t);
    if (!p || s->b->ops->device_of(s->b, s->v[i].t, &d) != LG_OK || d.type != LG_DEV_CPU)
        return NULL;
    if (where)
        *where = d;
    return p;
}

/* ------------------------------------------------ moving the whole store */

/* How many tensors ahead lg__free_all fetches the one it will free. */
#define FREE_AHEAD 8

void lg__free_all(lg__dev *x, const lg_store *s, lg_device d, void **t)
{
    if (!t)
        return;
    for (size_t i = 0; i < s->n; i++) {
        /* the backend reads each tensor's own header as it frees it:
         * fetched a few ahead, so that those misses overlap */
        if (i + FREE_AHEAD < s->n)
            __builtin_prefetch(t[i + FREE_AHEAD]);
        if (t[i])
            lg__dev_free(x, s->v[i].name, d, s->v[i].info.nbytes, t[i]);
    }
}

lg_status lg__move_all(lg__dev *x, const lg_store *s, const char *point, lg_device to,
                       void **out)
{
    for (size_t i = 0; i < s->n; i++) {
        const lg_tensor_info *v = &s->v[i].info;
        lg_status st = lg__dev_move(x, point, v->name, s->v[i].t, s->v[i].dev, to, v->dtype,
                                    v->ndim, v->shape, v->nbytes, &out[i]);
        if (st != LG_OK) {
            lg__free_all(x, s, to, out);
            memset(out, 0, s->n * sizeof *out);
            return st;
        }
    }
    return LG_OK;
}

void lg__swap_in(lg__dev *x, lg_store *s, lg_device d, void **t)
{
    char a[LG_DEVICE_NAME_MAX];
    lg_device from = s->device;
    for (size_t i = 0; i < s->n; i++) {
        void *old = s->v[i].t;
        s->v[i].t = t[i];
        s->v[i].dev = d;
        t[i] = old;
    }
    s->device = d;
    if (!lg_device_equal(from, d))
        lg__trace_add(x->trace, LG_OP_SET_DEVICE, "", from, d, 0, 1, lg_device_format(d, a));
}

/* Moves every variable not on d there, all-or-nothing: those already on
 * d stay (a store that a tch load left split, LG_E_PANIC, has some on
 * each side), and each old tensor is freed on its own device. */
lg_status lg_store_set_device(lg_store *s, lg_device d)
{
    char dn[LG_DEVICE_NAME_MAX];
    size_t away = 0;
    for (size_t i = 0; i < s->n; i++)
        away += !lg_device_equal(s->v[i].dev, d);
    if (lg_device_equal(d, s->device) && !away)
        return LG_OK;
    if (!lg_backend_has_device(s->b, d))
        return lg__err(LG_E_DEVICE, "cannot move the store to %s: no such device here",
                       lg_device_format(d, dn));
    lg__dev x = {s->b, s->trace};
    void **t = lg__calloc(s->n ? 2 * s->n : 1, sizeof *t);
    if (!t)
        return lg__err(LG_E_NOMEM, "out of memory moving the store");
    void **moved = t + s->n; /* the new tensors, NULL for those that stay */
    lg_device *was = lg__calloc(s->n ? s->n : 1, sizeof *was);
    if (!was) {
        free(t);
        return lg__err(LG_E_NOMEM, "out of memory moving the store");
    }
    lg_status st = LG_OK;
    for (size_t i = 0; i < s->n && st == LG_OK; i++) {
        const lg_tensor_info *v = &s->v[i].info;
        was[i] = s->v[i].dev;
        if (!lg_device_equal(was[i], d))
            st = lg__dev_move(&x, "store.move", v->name, s->v[i].t, was[i], d, v->dtype,
                              v->ndim, v->shape, v->nbytes, &moved[i]);
    }
    if (st == LG_OK) {
        for (size_t i = 0; i < s->n; i++)
            t[i] = moved[i] ? moved[i] : s->v[i].t;
        lg__swap_in(&x, s, d, t); /* t now holds the old tensors */
        for (size_t i = 0; i < s->n; i++)
            if (moved[i])
                lg__dev_free(&x, s->v[i].name, was[i], s->v[i].info.nbytes, t[i]);
    } else {
        for (size_t i = 0; i < s->n; i++)
            if (moved[i])
                lg__dev_free(&x, s->v[i].name, d, s->v[i].info.nbytes, moved[i]);
    }
    free(was);
    free(t);
    return st;
}
