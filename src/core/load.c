/* Loading a checkpoint into a store, under one of four policies
 * (docs/policies.md). Every policy builds the new tensors aside and swaps
 * them in only when all of them are ready, so that any error leaves the
 * store as it was. */
#include "core/store.h"
#include "formats/format.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    lg_store *s;
    lg_checkpoint *c;
    lg__dev x;
    size_t *idx;     /* variable i -> tensor of the file */
    lg_dtype *dtype; /* variable i's dtype after the load */
    lg_dtype *old_dtype;
    uint64_t budget;
    lg_load_stats *stats;
} load_ctx;

/* Variables take these dtypes (their sizes follow). */
static void set_dtypes(lg_store *s, const lg_dtype *d)
{
    for (size_t i = 0; i < s->n; i++) {
        lg_tensor_info *v = &s->v[i].info;
        v->dtype = d[i];
        lg__nbytes(v->dtype, v->ndim, v->shape, &v->nbytes);
    }
}

/* Frees the tensors t on d, each of its variable's shape in dtype dt[i]:
 * the store's own dtypes may no longer be theirs (a load that changes
 * them), and the trace gives each free its tensor's true size. */
static void free_as(load_ctx *L, lg_device d, void **t, const lg_dtype *dt)
{
    lg_store *s = L->s;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t nb = 0;
        if (!t[i])
            continue;
        lg__nbytes(dt[i], s->v[i].info.ndim, s->v[i].info.shape, &nb);
        lg__dev_free(&L->x, s->v[i].name, d, nb, t[i]);
    }
}

/* How many variables ahead plan() fetches the names it will compare. */
#define PLAN_AHEAD 8

/* Check every variable against the file before anything changes. */
static lg_status plan(load_ctx *L, lg_dtype_rule rule)
{
    lg_store *s = L->s;
    lg_checkpoint *c = L->c;
    char a[96], b[96];
    for (size_t i = 0; i < s->n; i++) {
        const lg_tensor_info *v = &s->v[i].info;
        if (i + PLAN_AHEAD < s->n && i + PLAN_AHEAD < c->ntensors) {
            /* the names compared PLAN_AHEAD variables on, where the hint
             * looks: each is a cache miss of its own otherwise */
            __builtin_prefetch(s->v[i + PLAN_AHEAD].info.name);
            __builtin_prefetch(c->tensors[i + PLAN_AHEAD].name);
        }
        size_t k = lg__checkpoint_find_hint(c, v->name, i);
        if (k == (size_t)-1)
            return lg__err(LG_E_NOTFOUND, "%s: variable \"%s\" is not in the file (%zu tensors)",
                           c->path, v->name, c->ntensors);
        const lg_tensor_info *t = &c->tensors[k];
        if (!lg__shape_equal(v->ndim, v->shape, t->ndim, t->shape))
            return lg__err(LG_E_SHAPE, "%s: tensor \"%s\": shape %s in the file, %s in the store",
                           c->path, v->name, lg__shape_str(t->ndim, t->shape, a, sizeof a),
                           lg__shape_str(v->ndim, v->shape, b, sizeof b));
        if (t->dtype != v->dtype && rule == LG_DTYPE_STRICT)
            return lg__err(LG_E_DTYPE, "%s: tensor \"%s\": dtype %s in the file, %s in the store "
                           "(dtype rule strict)", c->path, v->name, lg_dtype_name(t->dtype),
                           lg_dtype_name(v->dtype));
        /* convert keeps the variable's dtype (the file's values are cast
         * into it); adopt takes the file's */
        lg_dtype to = rule == LG_DTYPE_CONVERT ? v->dtype : t->dtype;
        lg_status st = s->b->ops->check_dtype(s->b, s->device, to);
        if (st != LG_OK)
            return lg__err_prefix(st, "%s: tensor \"%s\" (%s) cannot live on the store's device",
                                  c->path, v->name, lg_dtype_name(to));
        L->idx[i] = k;
        L->old_dtype[i] = v->dtype;
        L->dtype[i] = to;
    }
    return LG_OK;
}

static lg_status prefixed(load_ctx *L, lg_status st)
{
    if (strncmp(lg_error_message(), L->c->path, strlen(L->c->path)) == 0)
        return st;
    return lg__err_prefix(st, "%s", L->c->path);
}

/* The size of variable i's new value: the file's shape, in its dtype after
 * the load (the reader checked that the file's size fits). */
static uint64_t new_nbytes(const load_ctx *L, size_t i)
{
    const lg_tensor_info *t = &L->c->tensors[L->idx[i]];
    uint64_t nb = 0;
    lg__nbytes(L->dtype[i], t->ndim, t->shape, &nb);
    return nb;
}

/* Variable i's new value on d, from the file, in its dtype after the load
 * (cast on the host when that differs from the file's). */
static lg_status deserialize_var(load_ctx *L, size_t i, lg_device d, void **out)
{
    return lg__checkpoint_deserialize_as(L->c, L->idx[i], &L->x, d, L->dtype[i], out);
}

/* out[i] = variable i's new value, deserialized straight onto d. */
static lg_status build_direct(load_ctx *L, lg_device d, void **out)
{
    for (size_t i = 0; i < L->s->n; i++) {
        lg_status st = deserialize_var(L, i, d, &out[i]);
        if (st != LG_OK)
            return prefixed(L, st);
    }
    return LG_OK;
}

/* Copy the staged CPU tensors [from, to) into new tensors on d, and free
 * the staging. */
static lg_status flush_staged(load_ctx *L, lg_device d, void **stage, size_t from, size_t to,
                              void **out, uint64_t *in_use)
{
    lg_status st = LG_OK;
    for (size_t i = from; i < to; i++) {
        const lg_tensor_info *t = &L->c->tensors[L->idx[i]];
        uint64_t nb = new_nbytes(L, i);
        if (st == LG_OK)
            st = lg__dev_alloc(&L->x, t->name, d, L->dtype[i], t->ndim, t->shape, nb, &out[i]);
        if (st == LG_OK)
            st = lg__dev_copy(&L->x, t->name, out[i], d, stage[i], lg_device_cpu(), nb);
        lg__dev_free(&L->x, t->name, lg_device_cpu(), nb, stage[i]);
        stage[i] = NULL;
        *in_use -= nb;
    }
    return st == LG_OK ? LG_OK : prefixed(L, st);
}

/* out[i] = variable i's new value on d, read through CPU staging memory of
 * at most max(budget, largest tensor) bytes at a time. */
static lg_status build_staged(load_ctx *L, lg_device d, void **out)
{
    size_t n = L->s->n, first = 0;
    uint64_t in_use = 0;
    lg_status st = LG_OK;
    if (d.type == LG_DEV_CPU)
        return build_direct(L, d, out);
    void **stage = lg__calloc(n, sizeof *stage);
    if (!stage)
        return lg__err(LG_E_NOMEM, "%s: out of memory", L->c->path);
    for (size_t i = 0; i < n && st == LG_OK; i++) {
        uint64_t nb = new_nbytes(L, i);
        if (i > first && in_use + nb > L->budget) {
            st = flush_staged(L, d, stage, first, i, out, &in_use);
            first = i;
        }
        if (st == LG_OK)
            st = deserialize_var(L, i, lg_device_cpu(), &stage[i]);
        if (st == LG_OK) {
            in_use += nb;
            if (in_use > L->stats->staging_peak_bytes)
                L->stats->staging_peak_bytes = in_use;
        } else
            st = prefixed(L, st);
    }
    if (st == LG_OK)
        st = flush_staged(L, d, stage, first, n, out, &in_use);
    for (size_t i = 0; i < n; i++) /* only left on error */
        if (stage[i])
            lg__dev_free(&L->x, L->c->tensors[L->idx[i]].name, lg_device_cpu(), new_nbytes(L, i),
                         stage[i]);
    free(stage);
    return st;
}

/* Swap the new tensors in; t receives the old ones, which are freed. */
static void commit(load_ctx *L, void **t)
{
    lg_store *s = L->s;
    lg__swap_in(&L->x, s, s->device, t);
    lg__free_all(&L->x, s, s->device, t); /* the old tensors, old sizes */
    memset(t, 0, s->n * sizeof *t);
    set_dtypes(s, L->dtype);
}

static void free_built(load_ctx *L, lg_device d, void **t)
{
    for (size_t i = 0; i < L->s->n; i++)
        if (t[i])
            lg__dev_free(&L->x, L->s->v[i].name, d, new_nbytes(L, i), t[i]);
}

static lg_status load_in_place(load_ctx *L, lg_policy p, void **t)
{
    lg_device d = L->s->device;
    /* a cpu store's new variables are the tensors deserialized: they may
     * be built over the file's map (formats/deserialize.c) */
    L->c->final_cpu = d.type == LG_DEV_CPU;
    lg_status st = p == LG_POLICY_DIRECT ? build_direct(L, d, t) : build_staged(L, d, t);
    L->c->final_cpu = 0;
    if (st != LG_OK) {
        free_built(L, d, t);
        return st;
    }
    commit(L, t);
    return LG_OK;
}

/* Bring the store back to `home` (its variables are on cpu now). On
 * failure the store stays on cpu, truthfully. */
static lg_status move_home(load_ctx *L, lg_device home, void **t)
{
    lg__dev *x = &L->x;
    lg_store *s = L->s;
    lg_status st = lg__move_all(x, s, "store.restore", home, t);
    if (st != LG_OK)
        return st;
    lg__swap_in(x, s, home, t);
    lg__free_all(x, s, lg_device_cpu(), t);
    memset(t, 0, s->n * sizeof *t);
    return LG_OK;
}

static lg_status restore_failed(load_ctx *L, lg_device home)
{
    char dn[LG_DEVICE_NAME_MAX];
    return lg__err_prefix(LG_E_RESTORE, "%s: could not move the store back to %s; it stays on "
                          "cpu with its previous values", L->c->path, lg_device_format(home, dn));
}

/* The tch pattern: move the whole store to CPU, load, and always move it
 * back. The old CPU values are kept until the store is home again, so
 * that a failure on the way back can still restore them. */
static lg_status load_via_cpu(load_ctx *L, void **t)
{
    lg_store *s = L->s;
    lg_device home = s->device, cpu = lg_device_cpu();
    if (home.type == LG_DEV_CPU)
        return load_in_place(L, LG_POLICY_DIRECT, t);
    void **old = lg__calloc(s->n, sizeof *old);
    if (!old)
        return lg__err(LG_E_NOMEM, "%s: out of memory", L->c->path);
    /* 1. to cpu: all-or-nothing, the store stays home on failure */
    lg_status st = lg__move_all(&L->x, s, "store.move", cpu, old);
    if (st != LG_OK) {
        free(old);
        return prefixed(L, st);
    }
    lg__swap_in(&L->x, s, cpu, old);
    lg__free_all(&L->x, s, home, old); /* the device copies */
    memset(old, 0, s->n * sizeof *old);
    /* 2. load on cpu; `old` keeps the previous values */
    st = build_direct(L, cpu, t);
    if (st == LG_OK) {
        lg__swap_in(&L->x, s, cpu, t); /* t <- previous values */
        set_dtypes(s, L->dtype);
        memcpy(old, t, s->n * sizeof *old);
        memset(t, 0, s->n * sizeof *t);
    } else {
        free_built(L, cpu, t);
        memset(t, 0, s->n * sizeof *t);
    }
    /* 3. always move back */
    lg_status back = move_home(L, home, t);
    if (back == LG_OK) {
        if (st == LG_OK) /* the previous values, in their own dtypes */
            free_as(L, cpu, old, L->old_dtype);
        free(old);
        return st;
    }
    if (st == LG_OK) {
        /* the new values could not go home: put the previous ones back */
        char why[1024];
        snprintf(why, sizeof why, "%s", lg_error_message());
        lg__swap_in(&L->x, s, cpu, old); /* old <- new values */
        set_dtypes(s, L->old_dtype);
        free_as(L, cpu, old, L->dtype);
        st = move_home(L, home, t);
        if (st == LG_OK)
            st = lg__err(back, "%s: %s; the store was restored with its previous values",
                         L->c->path, why);
        else
            st = restore_failed(L, home);
    } else {
        st = restore_failed(L, home);
    }
    free(old);
    return st;
}

/* The options and stats of a load checked and defaulted: LG_OK, or
 * LG_E_INVALID naming what. */
static lg_status load_args(const char *what, const lg_load_options **o, lg_load_options *def,
                           lg_load_stats **stats, lg_load_stats *local)
{
    if (!*o) {
        lg_load_options_init(def);
        *o = def;
    }
    if (!*stats)
        *stats = local;
    memset(*stats, 0, sizeof **stats);
    if ((unsigned)(*o)->policy >= LG_POLICY_COUNT ||
        (unsigned)(*o)->dtype_rule >= LG_DTYPE_RULE_COUNT)
        return lg__err(LG_E_INVALID, "%s: bad policy or dtype rule", what);
    if ((*o)->threads < 0 || (*o)->threads > 8)
        return lg__err(LG_E_INVALID, "%s: threads is %d (0 for auto, or 1 to 8)", what,
                       (*o)->threads);
    lg_error_clear();
    return LG_OK;
}

/* The load from the open checkpoint c, under every policy but tch. */
static lg_status load_from(lg_store *s, lg_checkpoint *c, const lg_load_options *o,
                           lg_load_stats *stats)
{
    load_ctx L = {.s = s, .x = {s->b, s->trace}, .budget = o->staging_budget, .stats = stats,
                  .c = c};
    lg_status st;
    c->on_read = o->on_read;
    c->on_read_ctx = o->on_read_ctx;
    c->threads = o->threads;
    c->shown = 0;
    void **t = lg__calloc(s->n, sizeof *t);
    L.idx = lg__calloc(s->n, sizeof *L.idx);
    L.dtype = lg__calloc(s->n, sizeof *L.dtype);
    L.old_dtype = lg__calloc(s->n, sizeof *L.old_dtype);
    if (!t || !L.idx || !L.dtype || !L.old_dtype) {
        st = lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
        goto done;
    }
    if ((st = plan(&L, o->dtype_rule)) != LG_OK)
        goto done;
    lg_policy p = o->policy;
    if (p == LG_POLICY_AUTO)
        p = lg_backend_direct_ok(s->b, s->device) ? LG_POLICY_DIRECT : LG_POLICY_STAGED;
    stats->policy_used = p;
    st = p == LG_POLICY_VIA_CPU ? load_via_cpu(&L, t) : load_in_place(&L, p, t);
    if (st == LG_OK) {
        stats->tensors_loaded = s->n;
        for (size_t i = 0; i < s->n; i++)
            stats->bytes_loaded += s->v[i].info.nbytes;
    }
done:
    free(t);
    free(L.idx);
    free(L.dtype);
    free(L.old_dtype);
    c->on_read = NULL; /* the observer was this load's */
    c->on_read_ctx = NULL;
    c->threads = 0;
    c->shown = 0;
    return st;
}

lg_status lg_store_load(lg_store *s, const char *path, const lg_load_options *o,
                        lg_load_stats *stats)
{
    lg_load_options def;
    lg_load_stats local;
    lg_checkpoint *c;
    if (!s || !path)
        return lg__err(LG_E_INVALID, "lg_store_load: store and path are required");
    lg_status st = load_args(path, &o, &def, &stats, &local);
    if (st != LG_OK)
        return st;
    if (o->policy == LG_POLICY_TCH)
        return lg__load_tch(s, path, o, stats);
    lg_open_options oo = {o->reader, s->b, o->key, o->crc, o->trust_code};
    if ((st = lg_checkpoint_open(path, &oo, &c)) != LG_OK)
        return st;
    st = load_from(s, c, o, stats);
    lg_checkpoint_close(c);
    return st;
}

lg_status lg_store_load_open(lg_store *s, lg_checkpoint *c, const lg_load_options *o,
                             lg_load_stats *stats)
{
    lg_load_options def;
    lg_load_stats local;
    if (!s || !c)
        return lg__err(LG_E_INVALID, "lg_store_load_open: store and checkpoint are required");
    lg_status st = load_args(c->path, &o, &def, &stats, &local);
    if (st != LG_OK)
        return st;
    if (c->backend && c->backend != s->b)
        return lg__err(LG_E_INVALID, "%s: opened for another backend than the store's", c->path);
    if (o->policy == LG_POLICY_TCH) {
        /* tch-rs opens the file itself: again, with c's key, crc and
         * trust_code, as every other policy reads c (loadgate.h) */
        static const char *const crc_names[] = {"error", "warn", "off"};
        lg_load_options co = *o;
        co.key = c->kept_key;
        co.crc = crc_names[c->crc];
        co.trust_code = c->trust_code;
        return lg__load_tch(s, c->path, &co, stats);
    }
    return load_from(s, c, o, stats);
}
