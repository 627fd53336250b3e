/* One load, checked against the invariants of DESIGN.md. Everything is
 * asked of the library's public API and of the backend's own counters,
 * never of the loader's bookkeeping alone. */
#include "invariants.h"
#include "util/error.h"
#include "util/digest.h"
#include "util/fds.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const inv_names[HX_INV_COUNT] = {
    "via-cpu", "restored", "consistent", "atomic", "values", "no-leak",
};

const char *hx_inv_name(hx_inv i) { return (unsigned)i < HX_INV_COUNT ? inv_names[i] : "?"; }

int hx_inv_parse(const char *s, hx_inv *out)
{
    for (int i = 0; i < HX_INV_COUNT; i++)
        if (!strcmp(s, inv_names[i])) {
            *out = (hx_inv)i;
            return 0;
        }
    return -1;
}

const char *hx_verdict_name(hx_verdict v)
{
    return v == HX_PASS ? "pass" : v == HX_FAIL ? "fail" : "n/a";
}


int hx_needs_workaround(lg_backend *b, lg_device d)
{
    return d.type != LG_DEV_CPU && !lg_backend_direct_ok(b, d);
}

/* The store's variables as the checks see them: dtype, shape, where the
 * backend says each is, and a digest of its bytes (util/digest.h). Under
 * --paranoid the "before" state also keeps the bytes themselves. One
 * scratch buffer, as large as the largest variable, is all the memory the
 * checks hold beyond that. */
typedef struct {
    lg_tensor_info info;  /* name borrowed from the store */
    uint64_t digest;
    lg_device where;
    lg_status read;       /* reading it back: LG_OK or the library's status */
    unsigned char *bytes; /* paranoid "before" only */
    int built;            /* "before" of a large mirror variable: not read
                             back, its digest is what the mirror wrote
                             (hx_mirror_digest), computed when atomic asks */
} var_state;

typedef struct {
    size_t n;
    var_state *v;
    char why[256];        /* the library's message for the first variable
                             that could not be read */
} state;

typedef struct {
    unsigned char *p;
    size_t cap;
} scratch;

static void *scratch_get(scratch *b, uint64_t n)
{
    size_t want = n ? (size_t)n : 1;
    if (want > b->cap) {
        unsigned char *p = realloc(b->p, want);
        if (!p)
            return NULL;
        b->p = p;
        b->cap = want;
    }
    return b->p;
}

static uint64_t digest(const void *p, uint64_t n) { return hx_digest(p, n); }

static void state_free(state *s)
{
    for (size_t i = 0; s->v && i < s->n; i++)
        free(s->v[i].bytes);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Variable i read back once: where it is and the digest of its bytes
 * (and a copy of them when keep). built: the store was just built by
 * hx_mirror_build, and a large variable is known without reading it back.
 * why: the state's message, for the first variable that cannot be read. */
static lg_status var_take(lg_store *st, size_t i, scratch *b, int keep, int built,
                          var_state *v, char *why, size_t nwhy)
{
    v->info = *lg_store_var(st, i);
    if (built && !keep && hx_mirror_partial(v->info.nbytes)) {
        v->built = 1;
        v->where = lg_store_var_device(st, i);
        v->read = LG_OK;
        return LG_OK;
    }
    /* in place when the bytes are in this process on cpu: no copy */
    const unsigned char *buf = lg_store_peek(st, i, &v->where);
    v->read = LG_OK;
    if (!buf) {
        unsigned char *into = scratch_get(b, v->info.nbytes);
        if (!into)
            return LG_E_NOMEM;
        v->read = lg_store_read(st, i, into, (size_t)v->info.nbytes, &v->where);
        buf = into;
    }
    if (v->read != LG_OK) {
        if (!why[0])
            snprintf(why, nwhy, "%s", lg_error_message());
        return LG_OK;
    }
    v->digest = digest(buf, v->info.nbytes);
    if (keep) {
        if (!(v->bytes = malloc(v->info.nbytes ? (size_t)v->info.nbytes : 1)))
            return LG_E_NOMEM;
        memcpy(v->bytes, buf, (size_t)v->info.nbytes);
    }
    return LG_OK;
}

/* Every variable of st, read back once (built: var_take). A variable that
 * cannot be read is recorded (read, why), not an error: the checks judge
 * it. */
static lg_status state_take(lg_store *st, scratch *b, int keep, int built, state *s)
{
    s->n = lg_store_count(st);
    if (!(s->v = calloc(s->n + 1, sizeof *s->v)))
        return LG_E_NOMEM;
    /* A large variable of a store just built is known without reading it
     * back, when the device reads back what was written: the first one is
     * read back whole to see. A device whose read-back differs (sim's
     * readback: wrong, as pytorch/pytorch#125197) has every variable read
     * back, so that before and after are taken the same way. */
    size_t probed = (size_t)-1;
    for (size_t i = 0; built && !keep && i < s->n; i++) {
        if (!hx_mirror_partial(lg_store_var(st, i)->nbytes))
            continue;
        lg_status r = var_take(st, i, b, 0, 0, &s->v[i], s->why, sizeof s->why);
        if (r != LG_OK)
            return r;
        if (s->v[i].read != LG_OK || s->v[i].digest != hx_mirror_digest(&s->v[i].info, i))
            built = 0;
        probed = i;
        break;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (i == probed)
            continue;
        lg_status r = var_take(st, i, b, keep, built, &s->v[i], s->why, sizeof s->why);
        if (r != LG_OK)
            return r;
    }
    return LG_OK;
}

/* ------------------------------------------------------------ invariants */

static void verdict(hx_outcome *o, hx_inv i, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void verdict(hx_outcome *o, hx_inv i, int ok, const char *fmt, ...)
{
    o->inv[i] = ok ? HX_PASS : HX_FAIL;
    if (!ok && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->why[i], sizeof o->why[i], fmt, ap);
        va_end(ap);
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the tensors filled by a copy from cpu onto device d, sorted
 * (so that each variable is looked up, not searched for). NULL when out
 * of memory. */
static const char **filled_from_cpu(const lg_trace *t, lg_device d, size_t *n)
{
    const char **names = malloc((lg_trace_count(t) + 1) * sizeof *names);
    *n = 0;
    for (size_t e = 0; names && e < lg_trace_count(t); e++) {
        const lg_event *ev = lg_trace_event(t, e);
        if (ev->ok && (ev->op == LG_OP_COPY || ev->op == LG_OP_MOVE) &&
            ev->from.type == LG_DEV_CPU && lg_device_equal(ev->to, d))
            names[(*n)++] = ev->tensor;
    }
    if (names)
        qsort(names, *n, sizeof *names, cmp_name);
    return names;
}

static void check_filled(hx_outcome *o, lg_store *st, const hx_load_req *q)
{
    size_t n;
    const char **names = filled_from_cpu(o->trace, q->device, &n);
    if (!names) {
        verdict(o, HX_INV_VIA_CPU, 0, "out of memory checking the trace");
        return;
    }
    for (size_t i = 0; i < lg_store_count(st); i++) {
        const char *name = lg_store_var(st, i)->name;
        if (!bsearch(&name, names, n, sizeof *names, cmp_name)) {
            verdict(o, HX_INV_VIA_CPU, 0, "\"%s\" was not filled by a copy from cpu", name);
            free(names);
            return;
        }
    }
    free(names);
    verdict(o, HX_INV_VIA_CPU, 1, NULL);
}

static void check_via_cpu(hx_outcome *o, lg_store *st, const hx_load_req *q)
{
    char dn[LG_DEVICE_NAME_MAX];
    if (!hx_needs_workaround(q->backend, q->device) || q->opt.policy == LG_POLICY_DIRECT)
        return;
    for (size_t e = 0; e < lg_trace_count(o->trace); e++) {
        const lg_event *ev = lg_trace_event(o->trace, e);
        if (ev->op == LG_OP_DESERIALIZE && lg_device_equal(ev->to, q->device)) {
            verdict(o, HX_INV_VIA_CPU, 0, "\"%s\" was deserialized straight onto %s (event %llu)",
                    ev->tensor, lg_device_format(q->device, dn), (unsigned long long)ev->seq);
            return;
        }
    }
    if (o->status == LG_OK)
        check_filled(o, st, q);
    else
        verdict(o, HX_INV_VIA_CPU, 1, NULL);
}

/* consistent: every variable, as the backend reads it back, is on the
 * store's device. */
static void check_consistent(hx_outcome *o, lg_store *st, const state *after)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    lg_device sd = lg_store_device(st);
    for (size_t i = 0; i < after->n; i++) {
        const var_state *v = &after->v[i];
        if (v->read != LG_OK) {
            verdict(o, HX_INV_CONSISTENT, 0, "\"%s\" cannot be read back: %s", v->info.name,
                    after->why);
            return;
        }
        if (!lg_device_equal(v->where, sd)) {
            verdict(o, HX_INV_CONSISTENT, 0, "\"%s\" is on %s but the store says %s",
                    v->info.name, lg_device_format(v->where, a), lg_device_format(sd, b));
            return;
        }
    }
    verdict(o, HX_INV_CONSISTENT, 1, NULL);
}

/* Variable i's bytes equal the paranoid copy taken before the load. */
static int same_bytes(lg_store *st, size_t i, const var_state *w, scratch *b)
{
    unsigned char *buf = scratch_get(b, w->info.nbytes);
    return buf && lg_store_read(st, i, buf, (size_t)w->info.nbytes, NULL) == LG_OK &&
           !memcmp(buf, w->bytes, (size_t)w->info.nbytes);
}

/* atomic: after an error, every variable has the dtype, shape and bytes it
 * had before (digests compared; bytes under --paranoid). */
static void check_atomic(hx_outcome *o, lg_store *st, const state *before, const state *after,
                         scratch *b)
{
    if (after->n != before->n) {
        verdict(o, HX_INV_ATOMIC, 0, "the store has %zu variables, not %zu", after->n,
                before->n);
        return;
    }
    for (size_t i = 0; i < before->n; i++) {
        const lg_tensor_info *v = &after->v[i].info, *w = &before->v[i].info;
        if (v->dtype != w->dtype || v->ndim != w->ndim ||
            memcmp(v->shape, w->shape, sizeof v->shape[0] * (size_t)v->ndim)) {
            verdict(o, HX_INV_ATOMIC, 0, "\"%s\" changed dtype or shape (%s -> %s)", v->name,
                    lg_dtype_name(w->dtype), lg_dtype_name(v->dtype));
            return;
        }
        const var_state *was = &before->v[i];
        uint64_t want = was->built ? hx_mirror_digest(&was->info, i) : was->digest;
        int same = after->v[i].read == LG_OK &&
                   (was->bytes ? same_bytes(st, i, was, b) : after->v[i].digest == want);
        if (!same) {
            verdict(o, HX_INV_ATOMIC, 0, "\"%s\" changed bytes after a failed load", v->name);
            return;
        }
    }
    verdict(o, HX_INV_ATOMIC, 1, NULL);
}

static int same_shape(const lg_tensor_info *a, const lg_tensor_info *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof a->shape[0] * (size_t)a->ndim);
}

/* The file's tensor k as variable v must hold it: its bytes, cast into
 * v's dtype when the dtype rule convert kept a dtype the file does not
 * have. dst holds v->nbytes. LG_OK, or the library's status. */
static lg_status expected_bytes(lg_checkpoint *c, size_t k, const lg_tensor_info *t,
                                const lg_tensor_info *v, void *dst)
{
    if (t->dtype == v->dtype)
        return lg_checkpoint_read(c, k, dst, (size_t)v->nbytes);
    unsigned char *raw = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!raw)
        return LG_E_NOMEM;
    lg_status st = lg_checkpoint_read(c, k, raw, (size_t)t->nbytes);
    if (st == LG_OK)
        st = lg_dtype_cast(v->dtype, dst, t->dtype, raw, (size_t)(t->nbytes / lg_dtype_size(t->dtype)));
    free(raw);
    return st;
}

/* The digests of the file's tensors as the load read them (the load's
 * on_read), by their index in the file: the file need not be read again
 * for values. A tensor's pieces (lg_load_options.on_read) may come from
 * several threads at once, in any order, but all before the next
 * tensor's: each piece's digest goes into `piece` (util/digest.h's
 * scheme; as many as the largest tensor has), got[k] counts them, and the
 * call that brings it to the tensor's count joins them. seen[k]: tensor
 * k was read whole, once; a piece that does not fit, or a tensor shown
 * again, leaves it 0, and values reads that one from the file. */
typedef struct {
    size_t n;
    uint64_t *digest;
    atomic_uchar *seen;
    atomic_uint_fast64_t *got;
    uint64_t *piece;
    uint64_t npiece;
    const lg_checkpoint *file; /* the sizes of its tensors */
} read_digests;

static lg_status read_digests_new(read_digests *r, const lg_checkpoint *file)
{
    size_t n = lg_checkpoint_count(file);
    uint64_t most = 1;
    for (size_t k = 0; k < n; k++) {
        uint64_t m = hx_digest_pieces(lg_checkpoint_tensor(file, k)->nbytes);
        most = m > most ? m : most;
    }
    r->digest = calloc(n + 1, sizeof *r->digest);
    r->seen = calloc(n + 1, sizeof *r->seen);
    r->got = calloc(n + 1, sizeof *r->got);
    r->piece = calloc((size_t)most, sizeof *r->piece);
    r->npiece = most;
    r->file = file;
    r->n = r->digest && r->seen && r->got && r->piece ? n : 0;
    return r->n == n ? LG_OK : LG_E_NOMEM;
}

static void read_digests_free(read_digests *r)
{
    free(r->digest);
    free(r->seen);
    free(r->got);
    free(r->piece);
}

static void on_read(void *ctx, size_t k, uint64_t offset, const void *bytes, uint64_t n)
{
    read_digests *r = ctx;
    if (k >= r->n)
        return;
    uint64_t size = lg_checkpoint_tensor(r->file, k)->nbytes, m = hx_digest_pieces(size);
    uint64_t pieces = hx_digest_pieces(n);
    if (offset % HX_DIGEST_PIECE || offset > size || n > size - offset || (n == 0 && size) ||
        (n % HX_DIGEST_PIECE && offset + n != size) || m > r->npiece) {
        /* the count first: a thread completing the tensor meanwhile sees
         * it when it checks again, below */
        atomic_fetch_add(&r->got[k], m + 1);
        atomic_store(&r->seen[k], 0); /* values reads this one again */
        return;
    }
    if (size <= HX_DIGEST_PIECE) {
        r->digest[k] = hx_digest_piece(bytes, (size_t)n);
    } else {
        const unsigned char *b = bytes;
        for (uint64_t at = 0; at < n; at += HX_DIGEST_PIECE)
            r->piece[(offset + at) / HX_DIGEST_PIECE] =
                hx_digest_piece(b + at, (size_t)(n - at < HX_DIGEST_PIECE ? n - at
                                                                          : HX_DIGEST_PIECE));
    }
    uint64_t before = atomic_fetch_add_explicit(&r->got[k], pieces, memory_order_acq_rel);
    if (before + pieces == m) {
        if (size > HX_DIGEST_PIECE)
            r->digest[k] = hx_digest_join(r->piece, size);
        atomic_store(&r->seen[k], 1);
        if (atomic_load(&r->got[k]) != m) /* a piece too many came meanwhile */
            atomic_store(&r->seen[k], 0);
    } else if (before + pieces > m) {
        atomic_store(&r->seen[k], 0);
    }
}

/* Variable i (state v) holds the file's tensor k: the digest of the
 * expected bytes equals the variable's. Those are the digest the load
 * took of what it read of tensor k (rd), when it read it and the dtypes
 * agree; else the file's tensor is read again. Under --paranoid the
 * variable is read again and the bytes compared. */
static int holds_file_tensor(lg_store *st, size_t i, const var_state *v, lg_checkpoint *c,
                             size_t k, int paranoid, const read_digests *rd, scratch *b)
{
    const lg_tensor_info *t = lg_checkpoint_tensor(c, k);
    if (!paranoid && rd && k < rd->n && atomic_load(&rd->seen[k]) && t->dtype == v->info.dtype)
        return v->read == LG_OK && rd->digest[k] == v->digest;
    unsigned char *want = scratch_get(b, v->info.nbytes);
    if (!want || v->read != LG_OK || expected_bytes(c, k, t, &v->info, want) != LG_OK)
        return 0;
    if (!paranoid)
        return digest(want, v->info.nbytes) == v->digest;
    unsigned char *have = malloc(v->info.nbytes ? (size_t)v->info.nbytes : 1);
    int ok = have && lg_store_read(st, i, have, (size_t)v->info.nbytes, NULL) == LG_OK &&
             !memcmp(have, want, (size_t)v->info.nbytes);
    free(have);
    return ok;
}

/* The file reopened for values. Its CRC-32s were checked by the load that
 * just succeeded (or were not asked for): reading them again would only
 * repeat that work, so the check opens it with crc off. */
static lg_status reopen(const hx_load_req *q, lg_checkpoint **c)
{
    lg_open_options oo = {q->opt.reader, q->backend, q->opt.key, "off", q->opt.trust_code};
    return lg_checkpoint_open(q->path, &oo, c);
}

/* Tensor name of c, looked for at i first: the mirror lists the file's
 * tensors in the file's order, and one look there beats a probe of the
 * index. */
static size_t find_near(const lg_checkpoint *c, const char *name, size_t i)
{
    const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
    return t && !strcmp(t->name, name) ? i : lg_checkpoint_find(c, name);
}

/* values. file: the checkpoint the mirror was built from when it is the
 * loaded file, kept open (NULL: reopen it); closed here. */
static void check_values(hx_outcome *o, lg_store *st, const hx_load_req *q, const state *before,
                         const state *after, scratch *b, lg_checkpoint *file,
                         const read_digests *rd)
{
    lg_checkpoint *c = file;
    if (!c && reopen(q, &c) != LG_OK) {
        verdict(o, HX_INV_VALUES, 0, "the file cannot be reopened: %s", lg_error_message());
        return;
    }
    int ok = 1, convert = q->opt.dtype_rule == LG_DTYPE_CONVERT;
    for (size_t i = 0; ok && i < after->n; i++) {
        const lg_tensor_info *v = &after->v[i].info;
        size_t k = find_near(c, v->name, i);
        const lg_tensor_info *t = k == (size_t)-1 ? NULL : lg_checkpoint_tensor(c, k);
        /* convert: the variable keeps its dtype, the shape is the file's;
         * adopt and strict: the variable has the file's dtype */
        if (convert && i < before->n && v->dtype != before->v[i].info.dtype) {
            verdict(o, HX_INV_VALUES, 0, "\"%s\" changed dtype (%s -> %s) under the dtype rule "
                    "convert", v->name, lg_dtype_name(before->v[i].info.dtype),
                    lg_dtype_name(v->dtype));
            ok = 0;
            break;
        }
        if (!t || !same_shape(t, v) || (!convert && t->dtype != v->dtype)) {
            verdict(o, HX_INV_VALUES, 0, "\"%s\" differs from the file in dtype or shape",
                    v->name);
            ok = 0;
            break;
        }
        /* rd indexes the tensors of the loaded file, which file is */
        ok = holds_file_tensor(st, i, &after->v[i], c, k, q->paranoid, file ? rd : NULL, b);
        if (!ok)
            verdict(o, HX_INV_VALUES, 0, "\"%s\" bytes differ from the file's tensor%s", v->name,
                    convert && t->dtype != v->dtype ? " cast to the variable's dtype" : "");
    }
    lg_checkpoint_close(c);
    if (ok)
        verdict(o, HX_INV_VALUES, 1, NULL);
}

typedef struct {
    size_t live;
    uint64_t dev[LG_DEVICE_TYPE_COUNT];
    uint64_t store_bytes[LG_DEVICE_TYPE_COUNT]; /* by where each variable is */
    int fds;
} counters;

static void count(lg_backend *b, lg_store *st, counters *c)
{
    c->live = lg_backend_live_tensors(b);
    for (int t = 0; t < LG_DEVICE_TYPE_COUNT; t++)
        c->dev[t] = lg_backend_device_bytes(b, (lg_device){(lg_device_type)t, 0});
    memset(c->store_bytes, 0, sizeof c->store_bytes);
    for (size_t i = 0; i < lg_store_count(st); i++) {
        unsigned t = (unsigned)lg_store_var_device(st, i).type;
        if (t < LG_DEVICE_TYPE_COUNT)
            c->store_bytes[t] += lg_store_var(st, i)->nbytes;
    }
    c->fds = hx_open_fds();
}

static void check_no_leak(hx_outcome *o, lg_backend *b, lg_store *st, const counters *before)
{
    char dn[LG_DEVICE_NAME_MAX];
    counters after;
    count(b, st, &after);
    if (after.live != before->live) {
        verdict(o, HX_INV_NO_LEAK, 0, "%zu live tensors before the load, %zu after",
                before->live, after.live);
        return;
    }
    /* The store's own bytes may change size (dtype adopt) or place (a tch
     * move stopped part-way); the rest of the device memory in use must
     * come back to its level. */
    for (int t = 0; t < LG_DEVICE_TYPE_COUNT; t++) {
        uint64_t want = before->dev[t] - before->store_bytes[t];
        uint64_t have = after.dev[t] - after.store_bytes[t];
        if (want != have) {
            verdict(o, HX_INV_NO_LEAK, 0, "%s: %llu bytes in use outside the store before the "
                    "load, %llu after", lg_device_format((lg_device){(lg_device_type)t, 0}, dn),
                    (unsigned long long)want, (unsigned long long)have);
            return;
        }
    }
    if (after.fds != before->fds) {
        verdict(o, HX_INV_NO_LEAK, 0, "%d open file descriptors before the load, %d after",
                before->fds, after.fds);
        return;
    }
    verdict(o, HX_INV_NO_LEAK, 1, NULL);
}

static void count_moved(hx_outcome *o)
{
    for (size_t e = 0; e < lg_trace_count(o->trace); e++) {
        const lg_event *ev = lg_trace_event(o->trace, e);
        if (ev->ok && (ev->op == LG_OP_COPY || ev->op == LG_OP_MOVE) &&
            (unsigned)ev->from.type < LG_DEVICE_TYPE_COUNT &&
            (unsigned)ev->to.type < LG_DEVICE_TYPE_COUNT)
            o->moved[ev->from.type][ev->to.type] += ev->bytes;
    }
}

static uint64_t fired_total(void)
{
    uint64_t n = 0;
    for (const char *const *p = lg_fault_points(); *p; p++)
        n += lg_fault_fired(*p);
    return n;
}

static void probe_device(const hx_load_req *q, hx_outcome *o)
{
    lg_open_options oo = {q->opt.reader, q->backend, q->opt.key, q->opt.crc, q->opt.trust_code};
    lg_checkpoint *c;
    o->ran = 1;
    o->policy_used = LG_POLICY_DIRECT;
    o->status = lg_checkpoint_open(q->path, &oo, &c);
    if (o->status == LG_OK) {
        o->status = lg_checkpoint_count(c) ? lg_checkpoint_try_device(c, 0, q->device)
                                           : LG_E_NOTFOUND;
        if (!lg_checkpoint_count(c))
            snprintf(o->message, sizeof o->message, "%s: no tensor to try", q->path);
        lg_checkpoint_close(c);
    }
    if (o->status != LG_OK && !o->message[0])
        snprintf(o->message, sizeof o->message, "%s", lg_error_message());
}

lg_status hx_check_load(const hx_load_req *q, hx_outcome *o)
{
    lg_store *st = NULL;
    state before = {0}, after = {0};
    lg_checkpoint *file = NULL;
    scratch buf = {NULL, 0};
    read_digests rd = {0};
    counters cb;
    memset(o, 0, sizeof *o);
    o->before = o->after = q->device;
    lg_status r = lg_trace_new(&o->trace);
    if (r != LG_OK)
        return r;
    if (q->probe_only) {
        probe_device(q, o);
        return LG_OK;
    }
    r = lg_store_new(q->backend, q->device, &st);
    if (r != LG_OK) {
        /* The device itself is refused: that is the outcome. */
        o->ran = 1;
        o->status = r;
        snprintf(o->message, sizeof o->message, "%s", lg_error_message());
        return LG_OK;
    }
    /* The mirror needs names, dtypes and shapes only: the load itself
     * checks the CRC-32s, once (crc off here). The file is kept open for
     * values when it is the one loaded. With reuse_open, the file is
     * first opened as the load would open it (its crc): the load then
     * reads through that open. Should that open fail, the mirror opens
     * the file with crc off, and the load's own open meets the failure. */
    lg_open_options oo = {q->opt.reader, q->backend, q->opt.key, "off", q->opt.trust_code};
    const char *from = q->store_from ? q->store_from : q->path;
    int reuse = q->reuse_open && !q->store_from, as_load = 0; /* file is the load's open */
    if (reuse) {
        lg_open_options lo = oo;
        lo.crc = q->opt.crc;
        r = hx_mirror_build(st, q->store, from, &lo, &file);
        as_load = r == LG_OK && file;
    }
    if (!reuse || (r != LG_OK && lg_store_count(st) == 0))
        r = hx_mirror_build(st, q->store, from, &oo, q->store_from ? NULL : &file);
    if (r != LG_OK) {
        /* The file cannot even be read to mirror it: that is the outcome,
         * with nothing loaded and no invariant to check. */
        o->ran = 1;
        o->status = r;
        snprintf(o->message, sizeof o->message, "%s", lg_error_message());
        r = LG_OK;
        goto out;
    }
    if ((r = state_take(st, &buf, q->paranoid, 1, &before)) != LG_OK)
        goto out;
    for (size_t i = 0; i < before.n; i++)
        if ((r = before.v[i].read) != LG_OK)
            goto out;
    lg_store_set_trace(st, o->trace);
    count(q->backend, st, &cb);
    lg_fault_clear(); /* counters start at zero for this load */
    if (q->before_load)
        q->before_load(q->ctx);
    lg_load_options opt = q->opt;
    if (file && !q->paranoid && read_digests_new(&rd, file) == LG_OK) {
        opt.on_read = on_read;
        opt.on_read_ctx = &rd;
    }
    if (as_load)
        o->status = lg_store_load_open(st, file, &opt, &o->stats);
    else
        o->status = lg_store_load(st, q->path, &opt, &o->stats);
    o->fault_fired = fired_total();
    for (size_t k = 0; k < rd.n; k++)
        o->read_whole += atomic_load(&rd.seen[k]);
    lg_fault_disarm(); /* the checks below must not meet injected faults */
    snprintf(o->message, sizeof o->message, "%s", o->status == LG_OK ? "" : lg_error_message());
    lg_store_set_trace(st, NULL);
    if (lg_trace_lost(o->trace)) { /* the checks below would read a short trace */
        r = hx_err(LG_E_NOMEM, "out of memory recording the load's trace");
        goto out;
    }
    o->ran = 1;
    o->after = lg_store_device(st);
    o->policy_used = o->status == LG_OK ? o->stats.policy_used : q->opt.policy;

    check_via_cpu(o, st, q);
    if (o->status != LG_E_RESTORE)
        verdict(o, HX_INV_RESTORED, lg_device_equal(o->after, o->before),
                "the store was on %s before the load and is on %s after",
                lg_device_format(o->before, (char[LG_DEVICE_NAME_MAX]){0}),
                lg_device_format(o->after, (char[LG_DEVICE_NAME_MAX]){0}));
    if ((r = state_take(st, &buf, 0, 0, &after)) != LG_OK)
        goto out;
    check_consistent(o, st, &after);
    if (o->status != LG_OK) {
        check_atomic(o, st, &before, &after, &buf); /* file is closed below */
    } else {
        check_values(o, st, q, &before, &after, &buf, file, &rd);
        file = NULL; /* closed by check_values */
    }
    check_no_leak(o, q->backend, st, &cb);
    count_moved(o);
    if (q->after_load)
        q->after_load(q->ctx, st);
    r = LG_OK;
out:
    lg_checkpoint_close(file);
    state_free(&before);
    state_free(&after);
    read_digests_free(&rd);
    free(buf.p);
    lg_store_free(st);
    return r;
}

void hx_outcome_free(hx_outcome *o)
{
    lg_trace_free(o->trace);
    o->trace = NULL;
}
