/* One load, checked against the invariants of DESIGN.md. Everything is
 * asked of the library's public API and of the backend's own counters,
 * never of the loader's bookkeeping alone. */
#include "invariants.h"
#include "util/fds.h"

#include <stdarg.h>
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

typedef struct {
    size_t n;
    lg_tensor_info *info; /* names borrowed from the store */
    unsigned char **bytes;
} snapshot;

static void snapshot_free(snapshot *s)
{
    for (size_t i = 0; s->bytes && i < s->n; i++)
        free(s->bytes[i]);
    free(s->bytes);
    free(s->info);
    memset(s, 0, sizeof *s);
}

static lg_status snapshot_take(lg_store *st, snapshot *s)
{
    s->n = lg_store_count(st);
    s->info = calloc(s->n + 1, sizeof *s->info);
    s->bytes = calloc(s->n + 1, sizeof *s->bytes);
    if (!s->info || !s->bytes)
        return LG_E_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        s->info[i] = *lg_store_var(st, i);
        s->bytes[i] = malloc(s->info[i].nbytes ? (size_t)s->info[i].nbytes : 1);
        if (!s->bytes[i])
            return LG_E_NOMEM;
        lg_status r = lg_store_read(st, i, s->bytes[i], (size_t)s->info[i].nbytes, NULL);
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
    if (o->status == LG_OK) {
        for (size_t i = 0; i < lg_store_count(st); i++) {
            const char *name = lg_store_var(st, i)->name;
            int filled = 0;
            for (size_t e = 0; e < lg_trace_count(o->trace) && !filled; e++) {
                const lg_event *ev = lg_trace_event(o->trace, e);
                filled = ev->ok && (ev->op == LG_OP_COPY || ev->op == LG_OP_MOVE) &&
                         ev->from.type == LG_DEV_CPU && lg_device_equal(ev->to, q->device) &&
                         !strcmp(ev->tensor, name);
            }
            if (!filled) {
                verdict(o, HX_INV_VIA_CPU, 0, "\"%s\" was not filled by a copy from cpu", name);
                return;
            }
        }
    }
    verdict(o, HX_INV_VIA_CPU, 1, NULL);
}

static void check_consistent(hx_outcome *o, lg_store *st)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    lg_device sd = lg_store_device(st);
    for (size_t i = 0; i < lg_store_count(st); i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        lg_device where;
        unsigned char *buf = malloc(v->nbytes ? (size_t)v->nbytes : 1);
        lg_status r = buf ? lg_store_read(st, i, buf, (size_t)v->nbytes, &where) : LG_E_NOMEM;
        free(buf);
        if (r != LG_OK) {
            verdict(o, HX_INV_CONSISTENT, 0, "\"%s\" cannot be read back: %s", v->name,
                    lg_error_message());
            return;
        }
        if (!lg_device_equal(where, sd)) {
            verdict(o, HX_INV_CONSISTENT, 0, "\"%s\" is on %s but the store says %s", v->name,
                    lg_device_format(where, a), lg_device_format(sd, b));
            return;
        }
    }
    verdict(o, HX_INV_CONSISTENT, 1, NULL);
}

static void check_atomic(hx_outcome *o, lg_store *st, const snapshot *before)
{
    if (lg_store_count(st) != before->n) {
        verdict(o, HX_INV_ATOMIC, 0, "the store has %zu variables, not %zu", lg_store_count(st),
                before->n);
        return;
    }
    for (size_t i = 0; i < before->n; i++) {
        const lg_tensor_info *v = lg_store_var(st, i), *w = &before->info[i];
        if (v->dtype != w->dtype || v->ndim != w->ndim ||
            memcmp(v->shape, w->shape, sizeof v->shape[0] * (size_t)v->ndim)) {
            verdict(o, HX_INV_ATOMIC, 0, "\"%s\" changed dtype or shape (%s -> %s)", v->name,
                    lg_dtype_name(w->dtype), lg_dtype_name(v->dtype));
            return;
        }
        unsigned char *buf = malloc(v->nbytes ? (size_t)v->nbytes : 1);
        int same = buf && lg_store_read(st, i, buf, (size_t)v->nbytes, NULL) == LG_OK &&
                   !memcmp(buf, before->bytes[i], (size_t)v->nbytes);
        free(buf);
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

static void check_values(hx_outcome *o, lg_store *st, const hx_load_req *q,
                         const snapshot *before)
{
    lg_open_options oo = {q->opt.reader, q->backend, q->opt.key, q->opt.crc, q->opt.trust_code};
    lg_checkpoint *c;
    if (lg_checkpoint_open(q->path, &oo, &c) != LG_OK) {
        verdict(o, HX_INV_VALUES, 0, "the file cannot be reopened: %s", lg_error_message());
        return;
    }
    int ok = 1, convert = q->opt.dtype_rule == LG_DTYPE_CONVERT;
    for (size_t i = 0; ok && i < lg_store_count(st); i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        size_t k = lg_checkpoint_find(c, v->name);
        const lg_tensor_info *t = k == (size_t)-1 ? NULL : lg_checkpoint_tensor(c, k);
        /* convert: the variable keeps its dtype, the shape is the file's;
         * adopt and strict: the variable has the file's dtype */
        if (convert && i < before->n && v->dtype != before->info[i].dtype) {
            verdict(o, HX_INV_VALUES, 0, "\"%s\" changed dtype (%s -> %s) under the dtype rule "
                    "convert", v->name, lg_dtype_name(before->info[i].dtype),
                    lg_dtype_name(v->dtype));
            ok = 0;
            break;
        }
        if (!t || (convert ? !same_shape(t, v) : t->nbytes != v->nbytes || t->dtype != v->dtype)) {
            verdict(o, HX_INV_VALUES, 0, "\"%s\" differs from the file in dtype or size", v->name);
            ok = 0;
            break;
        }
        unsigned char *a = malloc(v->nbytes ? (size_t)v->nbytes : 1);
        unsigned char *b = malloc(v->nbytes ? (size_t)v->nbytes : 1);
        ok = a && b && lg_store_read(st, i, a, (size_t)v->nbytes, NULL) == LG_OK &&
             expected_bytes(c, k, t, v, b) == LG_OK && !memcmp(a, b, (size_t)v->nbytes);
        free(a);
        free(b);
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
    snapshot before = {0};
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
    lg_open_options oo = {q->opt.reader, q->backend, q->opt.key, q->opt.crc, q->opt.trust_code};
    if ((r = hx_mirror_build(st, q->store, q->store_from ? q->store_from : q->path, &oo)) != LG_OK) {
        /* The file cannot even be read to mirror it: that is the outcome,
         * with nothing loaded and no invariant to check. */
        o->ran = 1;
        o->status = r;
        snprintf(o->message, sizeof o->message, "%s", lg_error_message());
        r = LG_OK;
        goto out;
    }
    if ((r = snapshot_take(st, &before)) != LG_OK)
        goto out;
    lg_store_set_trace(st, o->trace);
    count(q->backend, st, &cb);
    lg_fault_clear(); /* counters start at zero for this load */
    if (q->before_load)
        q->before_load(q->ctx);
    o->status = lg_store_load(st, q->path, &q->opt, &o->stats);
    o->fault_fired = fired_total();
    lg_fault_disarm(); /* the checks below must not meet injected faults */
    snprintf(o->message, sizeof o->message, "%s", o->status == LG_OK ? "" : lg_error_message());
    lg_store_set_trace(st, NULL);
    o->ran = 1;
    o->after = lg_store_device(st);
    o->policy_used = o->status == LG_OK ? o->stats.policy_used : q->opt.policy;

    check_via_cpu(o, st, q);
    if (o->status != LG_E_RESTORE)
        verdict(o, HX_INV_RESTORED, lg_device_equal(o->after, o->before),
                "the store was on %s before the load and is on %s after",
                lg_device_format(o->before, (char[LG_DEVICE_NAME_MAX]){0}),
                lg_device_format(o->after, (char[LG_DEVICE_NAME_MAX]){0}));
    check_consistent(o, st);
    if (o->status != LG_OK)
        check_atomic(o, st, &before);
    else
        check_values(o, st, q, &before);
    check_no_leak(o, q->backend, st, &cb);
    count_moved(o);
    if (q->after_load)
        q->after_load(q->ctx, st);
    r = LG_OK;
out:
    snapshot_free(&before);
    lg_store_free(st);
    return r;
}

void hx_outcome_free(hx_outcome *o)
{
    lg_trace_free(o->trace);
    o->trace = NULL;
}
