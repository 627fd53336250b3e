/* `harness run`: selects the cases of one or more suites, runs each in a
 * forked child (or a fresh harness process, or in-process), checks the
 * outcome against the case's expectations and writes the reports. The
 * behaviour is documented in docs/runner.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run/runner.h"
#include "cmd/cmd.h"
#include "corrupt/corrupt.h"
#include "fixture/gen.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

/* Coverage builds: a child leaves through _exit, so it dumps its gcov
 * counters first; it also resets them on entry so that the parent's
 * counts are not written twice. Both are absent (NULL) otherwise. */
extern void __gcov_dump(void) __attribute__((weak));
extern void __gcov_reset(void) __attribute__((weak));

#define TAIL_MAX 2048 /* bytes of a child's stderr kept for a crash report */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int torch_built(void)
{
    return strstr(lg_backends_built(), "torch") != NULL;
}

static void appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends to a "; "-separated list of reasons. */
static void appendf(char *buf, size_t n, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used && used + 2 < n) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ ids */

int hx_case_sweeps(const hx_case *c)
{
    for (size_t i = 0; i < c->nfaults; i++)
        if (c->faults[i].sweep != HX_SWEEP_NONE)
            return 1;
    return 0;
}

char *hx_sweep_id(const char *id, uint64_t k)
{
    size_t n = strlen(id);
    char *out = malloc(n + 32);
    if (!out)
        return NULL;
    if (n && id[n - 1] == ']')
        snprintf(out, n + 32, "%.*s,k=%" PRIu64 "]", (int)(n - 1), id, k);
    else
        snprintf(out, n + 32, "%s[k=%" PRIu64 "]", id, k);
    return out;
}

/* The K of a sweep id, or 0; *cut receives where the `,k=K` or `[k=K]`
 * part starts. */
static uint64_t sweep_k_of(const char *id, size_t *cut)
{
    size_t n = strlen(id);
    if (n < 5 || id[n - 1] != ']')
        return 0;
    size_t d = n - 1;
    while (d > 0 && id[d - 1] >= '0' && id[d - 1] <= '9')
        d--;
    if (d == n - 1 || d < 3 || id[d - 1] != '=' || id[d - 2] != 'k' ||
        (id[d - 3] != ',' && id[d - 3] != '['))
        return 0;
    *cut = d - 3;
    return strtoull(id + d, NULL, 10);
}

char *hx_base_id(const char *id)
{
    size_t cut = 0;
    if (!sweep_k_of(id, &cut))
        return strdup(id);
    char *out = malloc(cut + 2);
    if (!out)
        return NULL;
    memcpy(out, id, cut);
    out[cut] = 0;
    if (id[cut] == ',')
        strcat(out, "]");
    return out;
}

/* --------------------------------------------------------- result object */

static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static const char *outcome_kind_name(hx_outcome_kind k)
{
    return k == HX_EXPECT_OK ? "ok" : k == HX_EXPECT_ERROR ? "error" : "any";
}

/* An `error:` or `message:` without `outcome:` asks for an error. */
static hx_outcome_kind wanted_outcome(const hx_expect *e)
{
    if (e->outcome == HX_EXPECT_OK && (e->has_error || e->message))
        return HX_EXPECT_ERROR;
    return e->outcome;
}

static json_t *expected_json(const hx_expect *e, hx_outcome_kind want)
{
    json_t *o = json_object(), *inv = json_null();
    if (!o)
        return NULL;
    if (e->has_invariants) {
        inv = json_array();
        for (int i = 0; inv && i < HX_INV_COUNT; i++)
            if (e->invariants[i] && json_array_append_new(inv, json_string(hx_inv_name((hx_inv)i))))
                break;
    }
    int bad = put(o, "outcome", json_string(outcome_kind_name(want)));
    bad |= put(o, "error", e->has_error ? json_string(lg_status_name(e->error)) : json_null());
    bad |= put(o, "message", hx_json_str(e->message));
    bad |= put(o, "invariants", inv);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *params_json(const hx_case *c, uint64_t k)
{
    json_t *p = json_object();
    for (size_t i = 0; p && i < c->nparams; i++) {
        if (put(p, c->params[i].key, hx_json_str(c->params[i].value))) {
            json_decref(p);
            return NULL;
        }
    }
    if (p && k && put(p, "k", json_sprintf("%" PRIu64, k))) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static json_t *invariants_na(void)
{
    json_t *o = json_object();
    for (int i = 0; o && i < HX_INV_COUNT; i++) {
        if (put(o, hx_inv_name((hx_inv)i), json_string("n/a"))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static const char *case_backend(const hx_case *c, const hx_run_opts *o)
{
    return o && o->backend ? o->backend : c->backend[0] ? c->backend : "sim";
}

json_t *hx_result_new(const hx_case *c, size_t index, const hx_run_opts *o, hx_status st,
                      const char *reason)
{
    char dev[LG_DEVICE_NAME_MAX];
    uint64_t k = o ? o->sweep_k : 0;
    char *id = k ? hx_sweep_id(c->id, k) : strdup(c->id);
    json_t *r = json_object();
    int bad = !id || !r;
    if (bad)
        goto out;
    bad |= put(r, "id", hx_json_str(id));
    bad |= put(r, "suite", hx_json_str(c->suite));
    bad |= put(r, "name", hx_json_str(c->name));
    bad |= put(r, "index", json_integer((json_int_t)index));
    bad |= put(r, "source", json_sprintf("%s:%d", c->src ? c->src : "?", c->line));
    bad |= put(r, "params", params_json(c, k));
    bad |= put(r, "status", json_string(hx_status_name(st)));
    bad |= put(r, "reason", hx_json_str(reason));
    bad |= put(r, "backend", json_string(case_backend(c, o)));
    bad |= put(r, "device", json_string(lg_device_format(c->device, dev)));
    bad |= put(r, "policy", json_string(lg_policy_name(c->policy)));
    if (c->corrupt.kind != HX_CORRUPT_NONE) { /* the reliability table's class */
        hx_corrupt label = c->corrupt;
        hx_corrupt_label(&label);
        bad |= put(r, "corrupt", json_string(label.label));
    }
    bad |= put(r, "expected", expected_json(&c->expect, wanted_outcome(&c->expect)));
    bad |= put(r, "actual", json_pack("{s:n, s:n, s:n, s:n}", "outcome", "error", "message",
                                      "signal"));
    bad |= put(r, "invariants", invariants_na());
    bad |= put(r, "invariant_failures", json_object());
    bad |= put(r, "trace", json_array());
    bad |= put(r, "moved", json_object());
    bad |= put(r, "policy_used", json_null());
    bad |= put(r, "faults", json_array());
    bad |= put(r, "duration_s", json_real(0));
    bad |= put(r, "stderr", json_null());
out:
    free(id);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static json_t *trace_json(const lg_trace *t, size_t *dropped)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    size_t n = lg_trace_count(t), keep = n < HX_TRACE_MAX ? n : HX_TRACE_MAX;
    json_t *arr = json_array();
    *dropped = n - keep;
    for (size_t i = 0; arr && i < keep; i++) {
        const lg_event *e = lg_trace_event(t, i);
        json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:s, s:I, s:b, s:o}", "seq", (json_int_t)e->seq,
                              "op", lg_op_name(e->op), "tensor", hx_json_str(e->tensor), "from",
                              lg_device_format(e->from, a), "to", lg_device_format(e->to, b),
                              "bytes", (json_int_t)e->bytes, "ok", e->ok, "detail",
                              e->detail[0] ? hx_json_str(e->detail) : json_null());
        if (json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *moved_json(const hx_outcome *out)
{
    static const char *const types[3] = {"cpu", "cuda", "mps"};
    json_t *m = json_object();
    for (int f = 0; m && f < 3; f++) {
        for (int t = 0; t < 3; t++) {
            char key[16];
            if (!out->moved[f][t])
                continue;
            snprintf(key, sizeof key, "%s->%s", types[f], types[t]);
            if (put(m, key, json_integer((json_int_t)out->moved[f][t]))) {
                json_decref(m);
                return NULL;
            }
        }
    }
    return m;
}

/* actual, invariants, trace, moved and policy_used of a load that ran. */
static int fill_outcome(json_t *r, const hx_outcome *out)
{
    json_t *inv = json_object(), *why = json_object();
    size_t dropped = 0;
    int bad = !inv || !why;
    for (int i = 0; !bad && i < HX_INV_COUNT; i++) {
        bad |= put(inv, hx_inv_name((hx_inv)i), json_string(hx_verdict_name(out->inv[i])));
        if (out->inv[i] == HX_FAIL)
            bad |= put(why, hx_inv_name((hx_inv)i), hx_json_str(out->why[i]));
    }
    bad |= put(r, "invariants", inv);
    bad |= put(r, "invariant_failures", why);
    int ok = out->status == LG_OK;
    bad |= put(r, "actual", json_pack("{s:s, s:o, s:o, s:n}", "outcome", ok ? "ok" : "error",
                                      "error", ok ? json_null() : json_string(lg_status_name(out->status)),
                                      "message", ok ? json_null() : hx_json_str(out->message),
                                      "signal"));
    bad |= put(r, "trace", trace_json(out->trace, &dropped));
    if (dropped)
        bad |= put(r, "trace_dropped", json_integer((json_int_t)dropped));
    bad |= put(r, "moved", moved_json(out));
    bad |= put(r, "policy_used", json_string(lg_policy_name(out->policy_used)));
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------- requires */

/* Compares dotted versions numerically ("1.13.1" < "2.0"); a suffix such
 * as "+cpu" or "a0" ends a version. */
static int version_cmp(const char *a, const char *b)
{
    for (int i = 0; i < 4; i++) {
        char *ea, *eb;
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = *ea == '.' ? ea + 1 : ea + strlen(ea);
        b = *eb == '.' ? eb + 1 : eb + strlen(eb);
    }
    return 0;
}

/* libtorch>=X.Y and friends. 0 met, 1 unmet (reason in why), -1 bad. */
static int libtorch_requirement(const char *req, char *why, size_t n)
{
    static const char *const ops[] = {">=", "<=", "==", ">", "<", "="};
    const char *rest = req + strlen("libtorch"), *have = lg_libtorch_version();
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strncmp(rest, ops[i], strlen(ops[i])))
            break;
    if (i == sizeof ops / sizeof ops[0] || !rest[strlen(ops[i])]) {
        snprintf(why, n, "unknown requirement \"%s\"", req);
        return -1;
    }
    const char *want = rest + strlen(ops[i]);
    if (!strcmp(have, "none")) {
        snprintf(why, n, "requires %s: libtorch is not in this build", req);
        return 1;
    }
    int c = version_cmp(have, want);
    int met = i == 0 ? c >= 0 : i == 1 ? c <= 0 : i == 3 ? c > 0 : i == 4 ? c < 0 : c == 0;
    if (met)
        return 0;
    snprintf(why, n, "requires %s: libtorch is %s", req, have);
    return 1;
}

static int requirement(const char *req, lg_backend *b, char *why, size_t n);

/* no-X holds where X does not. */
static int negated_requirement(const char *req, lg_backend *b, char *why, size_t n)
{
    int r = requirement(req + 3, b, why, n);
    if (r < 0)
        return r;
    if (r == 0)
        snprintf(why, n, "requires %s: %s is there", req, req + 3);
    else
        why[0] = 0;
    return !r;
}

/* 0 met, 1 unmet (a skip), -1 not a requirement (a failure). */
static int requirement(const char *req, lg_backend *b, char *why, size_t n)
{
    lg_device d;
    if (!strncmp(req, "no-", 3))
        return negated_requirement(req, b, why, n);
    if (!strcmp(req, "torch")) {
        if (torch_built())
            return 0;
        snprintf(why, n, "requires torch: not in this build");
        return 1;
    }
    if (!strncmp(req, "libtorch", 8))
        return libtorch_requirement(req, why, n);
    if (lg_device_parse(req, &d) != LG_OK) {
        snprintf(why, n, "unknown requirement \"%s\"", req);
        return -1;
    }
    if (b && lg_backend_has_device(b, d))
        return 0;
    snprintf(why, n, "requires %s: not available in this build or machine", req);
    return 1;
}

/* ---------------------------------------------------------------- files */

int hx_fixture_prepare(const hx_file *f, const char *cache_dir, char *path, size_t n, char *err,
                       size_t errlen)
{
    char name[256], tmp[PATH_MAX + 64];
    if (f->kind == HX_FILE_PATH) {
        snprintf(path, n, "%s", f->path);
        return 0;
    }
    if (f->kind != HX_FILE_GENERATE) {
        snprintf(err, errlen, "the case names no file");
        return -1;
    }
    if (!strcmp(f->gen.format, "torch-archive") && !torch_built()) {
        snprintf(err, errlen, "fixture format torch-archive needs the torch backend, "
                              "not in this build");
        return 1;
    }
    hx_gen_filename(&f->gen, name, sizeof name);
    snprintf(path, n, "%s/%s", cache_dir, name);
    if (access(path, R_OK) == 0)
        return 0;
    /* write then rename: parallel children may race for the same file */
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    lg_error_clear();
    lg_status s = hx_gen_write(&f->gen, tmp);
    if (s == LG_OK && rename(tmp, path) == 0)
        return 0;
    snprintf(err, errlen, "generating %s: %s%s%s", name, lg_status_name(s),
             lg_error_message()[0] ? ": " : "", s == LG_OK ? strerror(errno) : lg_error_message());
    unlink(tmp);
    return -1;
}

/* ------------------------------------------------------------- one case */

typedef struct {
    const hx_case *c;
    const hx_run_opts *o;
    lg_backend *b;
    char path[PATH_MAX + 64], orig[PATH_MAX + 64], tmp[PATH_MAX + 64];
    char fault_err[512];
} case_run;

static void effective_schedule(const hx_fault *f, const hx_run_opts *o, lg_fault_schedule *s)
{
    *s = f->s;
    if (f->sweep != HX_SWEEP_NONE) {
        s->when = f->sweep == HX_SWEEP_TRANSIENT ? LG_FAULT_NTH : LG_FAULT_FROM;
        s->k = o->sweep_k ? o->sweep_k : 1;
    }
    if (s->when == LG_FAULT_PROB)
        s->seed += o->seed; /* --seed shifts every seed; 0 changes nothing */
}

/* hx_load_req.before_load: arm the case's faults once the store is built. */
static void arm_faults(void *ctx)
{
    case_run *r = ctx;
    lg_fault_clear();
    for (size_t i = 0; i < r->c->nfaults; i++) {
        lg_fault_schedule s;
        effective_schedule(&r->c->faults[i], r->o, &s);
        if (lg_fault_set(r->c->faults[i].point, &s) != LG_OK && !r->fault_err[0])
            snprintf(r->fault_err, sizeof r->fault_err, "fault %s: %s", r->c->faults[i].point,
                     lg_error_message());
    }
}

static const char *schedule_text(const lg_fault_schedule *s, char *buf, size_t n)
{
    static const char *const actions[] = {"", ",crash", ",hang"};
    const char *act = (unsigned)s->action < 3 ? actions[s->action] : "";
    if (s->when == LG_FAULT_PROB)
        snprintf(buf, n, "prob=%g,seed=%" PRIu64 "%s", s->p, s->seed, act);
    else
        snprintf(buf, n, "%s=%" PRIu64 "%s", s->when == LG_FAULT_NTH ? "nth" : "from", s->k, act);
    return buf;
}

/* The faults array of the result, and the fired count the sweep uses. */
static uint64_t faults_report(const case_run *r, json_t *res)
{
    json_t *arr = json_array();
    uint64_t fired = 0, fired_all = 0;
    int sweeps = hx_case_sweeps(r->c);
    for (size_t i = 0; arr && i < r->c->nfaults; i++) {
        const hx_fault *f = &r->c->faults[i];
        lg_fault_schedule s;
        char sched[96];
        uint64_t n = lg_fault_fired(f->point);
        effective_schedule(f, r->o, &s);
        fired_all += n;
        if (f->sweep != HX_SWEEP_NONE)
            fired += n;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I}", "point", f->point,
                                             "schedule", schedule_text(&s, sched, sizeof sched),
                                             "hits", (json_int_t)lg_fault_hits(f->point),
                                             "fired", (json_int_t)n));
    }
    if (arr)
        json_object_set_new(res, "faults", arr);
    return sweeps ? fired : fired_all;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A corruption's label as part of a file name. */
static const char *file_label(const char *label)
{
    static char buf[64];
    size_t i;
    for (i = 0; label[i] && i < sizeof buf - 1; i++)
        buf[i] = strchr("/\\ \t", label[i]) ? '_' : label[i];
    buf[i] = 0;
    return buf[0] ? buf : "corrupt";
}

static int prepare_corrupt(case_run *r, char *why, size_t n)
{
    static unsigned long serial;
    char err[1024] = "";
    hx_corrupt cc = r->c->corrupt;
    if (cc.kind == HX_CORRUPT_NONE)
        return 0;
    if (cc.random)
        cc.seed += r->o->seed;
    snprintf(r->tmp, sizeof r->tmp, "%s/%s.%s.%ld-%lu", r->o->cache_dir, base_name(r->path),
             file_label(cc.label), (long)getpid(), serial++);
    if (hx_corrupt_apply(&cc, r->path, r->tmp, err, sizeof err)) {
        snprintf(why, n, "corrupt %s: %s", cc.label, err);
        unlink(r->tmp);
        r->tmp[0] = 0;
        return -1;
    }
    snprintf(r->orig, sizeof r->orig, "%s", r->path);
    snprintf(r->path, sizeof r->path, "%s", r->tmp);
    return 0;
}

static int apply_sim(case_run *r, char *why, size_t n)
{
    char dev[LG_DEVICE_NAME_MAX];
    if (strcmp(lg_backend_name(r->b), "sim"))
        return 0; /* the overrides describe the sim backend only */
    for (size_t i = 0; i < r->c->nsim; i++) {
        const hx_sim_override *s = &r->c->sim[i];
        if (lg_sim_profile_set(r->b, s->device, s->key, s->value) != LG_OK) {
            snprintf(why, n, "sim: %s: %s=%s: %s", lg_device_format(s->device, dev), s->key,
                     s->value, lg_error_message());
            return -1;
        }
    }
    return 0;
}

/* Compares the outcome with the case's expectations; reasons go to why.
 * At the end of a sweep (no fault fired) only an `ok` outcome is still
 * asked for: the error the faults would cause is not expected any more. */
static void check_expect(const hx_expect *e, int sweep_end, const hx_outcome *out, char *why,
                         size_t n)
{
    hx_outcome_kind want = wanted_outcome(e);
    int ok = out->status == LG_OK;
    const char *got = lg_status_name(out->status);
    if (sweep_end && want != HX_EXPECT_OK)
        want = HX_EXPECT_ANY;
    if (want == HX_EXPECT_OK && !ok)
        appendf(why, n, "expected the load to succeed; it failed with %s: %s", got, out->message);
    if (want == HX_EXPECT_ERROR && ok)
        appendf(why, n, "expected %s; the load succeeded",
                e->has_error ? lg_status_name(e->error) : "an error");
    if (want == HX_EXPECT_ERROR && !ok && e->has_error && out->status != e->error)
        appendf(why, n, "expected %s, got %s: %s", lg_status_name(e->error), got, out->message);
    if (want == HX_EXPECT_ERROR && !ok && e->message && !strstr(out->message, e->message))
        appendf(why, n, "the error message does not contain \"%s\": %s", e->message,
                out->message);
    for (int i = 0; i < HX_INV_COUNT; i++) {
        int checked = e->has_invariants ? e->invariants[i] : out->inv[i] != HX_NA;
        if (checked && out->inv[i] == HX_FAIL)
            appendf(why, n, "invariant %s failed: %s", hx_inv_name((hx_inv)i), out->why[i]);
    }
}

/* Sets the expected outcome the sweep's last run was checked against. */
static void note_sweep_end(json_t *res, const hx_expect *e)
{
    json_t *exp = json_object_get(res, "expected");
    if (wanted_outcome(e) != HX_EXPECT_OK && exp) {
        json_object_set_new(exp, "outcome", json_string("any"));
        json_object_set_new(exp, "error", json_null());
        json_object_set_new(exp, "message", json_null());
    }
}

static hx_status run_load(case_run *r, json_t *res, uint64_t *fired, char *why, size_t n)
{
    const hx_case *c = r->c;
    hx_outcome out;
    hx_load_req q = {0};
    q.backend = r->b;
    q.device = c->device;
    lg_load_options_init(&q.opt);
    q.opt.policy = c->policy;
    q.opt.dtype_rule = c->dtype_rule;
    q.opt.staging_budget = c->staging_budget;
    q.opt.reader = c->reader;
    q.opt.key = c->key;
    q.opt.crc = c->crc[0] ? c->crc : NULL;
    q.path = r->path;
    q.store_from = r->orig[0] ? r->orig : NULL;
    q.store = &c->store;
    q.before_load = arm_faults;
    q.ctx = r;
    q.probe_only = c->probe;
    lg_status s = hx_check_load(&q, &out);
    *fired = faults_report(r, res);
    lg_fault_clear();
    if (s != LG_OK) {
        snprintf(why, n, "the store could not be set up: %s: %s", lg_status_name(s),
                 lg_error_message());
        hx_outcome_free(&out);
        return HX_ST_FAIL;
    }
    if (r->fault_err[0])
        appendf(why, n, "%s", r->fault_err);
    if (fill_outcome(res, &out))
        appendf(why, n, "out of memory while recording the outcome");
    int sweep_end = r->o->sweep_k && *fired == 0;
    if (sweep_end)
        note_sweep_end(res, &c->expect);
    check_expect(&c->expect, sweep_end, &out, why, n);
    hx_outcome_free(&out);
    return why[0] ? HX_ST_FAIL : HX_ST_PASS;
}

/* Does a requirement need the backend's answer (a device)? */
static int needs_backend(const char *req)
{
    lg_device d;
    if (!strncmp(req, "no-", 3))
        req += 3;
    return lg_device_parse(req, &d) == LG_OK;
}

int hx_case_skips_early(const hx_case *c, const hx_run_opts *o, char *why, size_t n)
{
    if (c->skip) {
        snprintf(why, n, "%s", c->skip);
        return 1;
    }
    if (strcmp(case_backend(c, o), "torch"))
        return 0; /* sim overrides come first there, in the child */
    for (size_t i = 0; i < c->nrequires; i++) {
        if (needs_backend(c->requires[i]))
            return 0;
        int r = requirement(c->requires[i], NULL, why, n);
        if (r)
            return r > 0; /* unmet: a skip; not a requirement: the child fails it */
    }
    if (torch_built())
        return 0;
    snprintf(why, n, "backend torch: not in this build");
    return 1;
}

static hx_status run_steps(case_run *r, json_t *res, uint64_t *fired, char *why, size_t n)
{
    const hx_case *c = r->c;
    const char *bname = case_backend(c, r->o);
    char berr[1024] = "";
    if (c->skip) {
        snprintf(why, n, "%s", c->skip);
        return HX_ST_SKIP;
    }
    lg_status bs = lg_backend_open(bname, &r->b);
    if (bs != LG_OK) {
        snprintf(berr, sizeof berr, "%s", lg_error_message());
        r->b = NULL;
    }
    if (r->b && apply_sim(r, why, n))
        return HX_ST_FAIL;
    for (size_t i = 0; i < c->nrequires; i++) {
        int q = requirement(c->requires[i], r->b, why, n);
        if (q)
            return q > 0 ? HX_ST_SKIP : HX_ST_FAIL;
    }
    if (bs != LG_OK && !strcmp(bname, "torch") && !torch_built()) {
        snprintf(why, n, "backend torch: not in this build");
        return HX_ST_SKIP;
    }
    if (bs != LG_OK) {
        snprintf(why, n, "backend %s: %s: %s", bname, lg_status_name(bs), berr);
        return HX_ST_FAIL;
    }
    int p = hx_fixture_prepare(&c->file, r->o->cache_dir, r->path, sizeof r->path, why, n);
    if (p)
        return p > 0 ? HX_ST_SKIP : HX_ST_FAIL;
    if (prepare_corrupt(r, why, n))
        return HX_ST_FAIL;
    return run_load(r, res, fired, why, n);
}

static hx_status apply_xfail(const hx_case *c, hx_status st, char *why, size_t n)
{
    char tmp[4096];
    if (!c->xfail || (st != HX_ST_PASS && st != HX_ST_FAIL))
        return st;
    if (st == HX_ST_PASS) {
        snprintf(why, n, "passed, but expected to fail: %s", c->xfail);
        return HX_ST_XPASS;
    }
    snprintf(tmp, sizeof tmp, "expected failure (%s): %s", c->xfail, why);
    snprintf(why, n, "%s", tmp);
    return HX_ST_XFAIL;
}

json_t *hx_run_case(const hx_case *c, size_t index, const hx_run_opts *o, uint64_t *fired)
{
    double t0 = now_s();
    char why[4096] = "";
    case_run r = {.c = c, .o = o};
    *fired = 0;
    json_t *res = hx_result_new(c, index, o, HX_ST_PASS, NULL);
    if (!res)
        return NULL;
    lg_error_clear();
    hx_status st = run_steps(&r, res, fired, why, sizeof why);
    st = apply_xfail(c, st, why, sizeof why);
    json_object_set_new(res, "status", json_string(hx_status_name(st)));
    json_object_set_new(res, "reason", why[0] ? hx_json_str(why) : json_null());
    json_object_set_new(res, "duration_s", json_real(now_s() - t0));
    if (r.tmp[0])
        unlink(r.tmp);
    lg_backend_close(r.b);
    return res;
}

/* ====================================================== the scheduler */

enum { ISO_DEFAULT, ISO_FORK, ISO_SPAWN, ISO_NONE };
enum { JOB_PENDING, JOB_RUNNING, JOB_READY, JOB_DONE };

typedef struct {
    const char *const *files;
    int nfiles;
    const char *out_dir;
    unsigned formats;
    int jobs;
    const char *pattern;
    int shard_i, shard_n;
    int isolation;
    double timeout;
    int has_timeout;
    int fail_fast;
    uint64_t seed;
    const char *rerun;
    const char *backend;
} run_args;

typedef struct {
    const hx_suite *suite;
    const hx_case *c;
    size_t index;      /* in its suite */
    int iso;
    int sweeps;
    int state;
    uint64_t next_k;
    json_t *results;   /* in K order */
} job;

typedef struct {
    job *j;
    uint64_t k;
    pid_t pid;
    int rfd, efd;      /* result and stderr pipes; -1 once closed */
    int xfd;           /* pidfd: readable once the child exits; -1 if none */
    char *out;
    size_t len, cap;
    char err[TAIL_MAX + 1];
    size_t elen;
    int err_cut;       /* the tail dropped earlier output */
    char san_sig[16];  /* a deadly signal a sanitizer caught ("SIGSEGV") */
    double start, deadline; /* deadline 0: none */
    int killed;
} slot;

typedef struct {
    const run_args *a;
    hx_run_opts base;
    job *jobs;
    size_t njobs, first_open;
    slot *slots;
    int nslots, nactive;
    size_t runs_done, runs_total, failing;
    int stop, oom, progress;
    double t0, last_progress;
} runner;

static void progress(runner *R, int final)
{
    double t = now_s();
    if (!R->progress || (!final && t - R->last_progress < 0.1))
        return;
    R->last_progress = t;
    double rate = t > R->t0 ? (double)R->runs_done / (t - R->t0) : 0;
    fprintf(stderr, "\r[%zu/%zu] %zu failed, %.1f cases/s", R->runs_done, R->runs_total,
            R->failing, rate);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Keeps a result as compact JSON text: the parent stays small, so each
 * fork stays cheap however many results it holds. Takes res. */
static int keep_result(job *j, json_t *res)
{
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (!text)
        return -1;
    int rc = json_array_append_new(j->results, json_string_nocheck(text));
    free(text);
    return rc;
}

/* A sweep goes on while its faults fire (and the run neither crashed nor
 * timed out), up to HX_SWEEP_MAX runs. */
static int sweep_goes_on(const job *j, uint64_t k, json_t *res, uint64_t fired)
{
    hx_status st = hx_case_status(res);
    if (!j->sweeps || fired == 0 || st == HX_ST_CRASH || st == HX_ST_TIMEOUT)
        return 0;
    if (k < HX_SWEEP_MAX)
        return 1;
    char why[256];
    snprintf(why, sizeof why, "the sweep did not end: a fault still fired at k=%d",
             HX_SWEEP_MAX);
    json_object_set_new(res, "status", json_string("fail"));
    json_object_set_new(res, "reason", json_string(why));
    return 0;
}

static void record(runner *R, job *j, uint64_t k, json_t *res, uint64_t fired)
{
    int more = res && sweep_goes_on(j, k, res, fired);
    hx_status st = res ? hx_case_status(res) : HX_ST_FAIL;
    j->state = more ? JOB_READY : JOB_DONE;
    if (!res || keep_result(j, res)) {
        R->oom = R->stop = 1;
        j->state = JOB_DONE;
        return;
    }
    R->runs_done++;
    if (hx_status_fails_run(st)) {
        R->failing++;
        R->stop |= R->a->fail_fast;
    }
    if (more) {
        j->next_k = k + 1;
        R->runs_total++;
    }
    progress(R, 0);
}

static job *next_job(runner *R)
{
    while (R->first_open < R->njobs && R->jobs[R->first_open].state == JOB_DONE)
        R->first_open++;
    for (size_t i = R->first_open; i < R->njobs; i++)
        if (R->jobs[i].state == JOB_PENDING || R->jobs[i].state == JOB_READY)
            return &R->jobs[i];
    return NULL;
}

static hx_run_opts opts_for(const runner *R, uint64_t k)
{
    hx_run_opts o = R->base;
    o.sweep_k = k;
    return o;
}

static void child_exit(int code)
{
    fflush(NULL);
    if (__gcov_dump)
        __gcov_dump();
    _exit(code);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The text a child hands back: {"result": {...}, "fired": N}. */
static int emit_result(int fd, json_t *res, uint64_t fired)
{
    json_t *w = json_pack("{s:o, s:I}", "result", res, "fired", (json_int_t)fired);
    char *text = w ? json_dumps(w, JSON_COMPACT) : NULL;
    int rc = text ? write_all(fd, text, strlen(text)) : -1;
    if (rc == 0)
        rc = write_all(fd, "\n", 1);
    free(text);
    json_decref(w);
    return rc;
}

static int parse_result(const char *text, size_t len, json_t **res, uint64_t *fired)
{
    json_t *w = text ? json_loadb(text, len, 0, NULL) : NULL;
    json_t *r = json_object_get(w, "result");
    if (!json_is_object(r) || !hx_json_get_str(r, "id") || !hx_json_get_str(r, "status")) {
        json_decref(w);
        return -1;
    }
    *res = json_incref(r);
    *fired = (uint64_t)json_integer_value(json_object_get(w, "fired"));
    json_decref(w);
    return 0;
}

static void fork_child(runner *R, slot *s, int rw, int ew)
{
    if (__gcov_reset)
        __gcov_reset();
    signal(SIGPIPE, SIG_DFL);
    if (dup2(ew, 2) < 0 || dup2(ew, 1) < 0)
        child_exit(127);
    hx_run_opts o = opts_for(R, s->k);
    uint64_t fired = 0;
    json_t *res = hx_run_case(s->j->c, s->j->index, &o, &fired);
    child_exit(res && emit_result(rw, res, fired) == 0 ? 0 : 1);
}

/* argv of `harness __run-one` for a spawned case. */
static void spawn_argv(const runner *R, const slot *s, char *seed, char *k, const char **argv)
{
    int n = 0;
    argv[n++] = hx_self_exe();
    argv[n++] = "__run-one";
    argv[n++] = s->j->suite->path;
    argv[n++] = s->j->c->id;
    if (R->base.backend) {
        argv[n++] = "--backend";
        argv[n++] = R->base.backend;
    }
    argv[n++] = "--seed";
    argv[n++] = seed;
    argv[n++] = "--cache";
    argv[n++] = R->base.cache_dir;
    if (s->k) {
        argv[n++] = "--sweep";
        argv[n++] = k;
    }
    argv[n] = NULL;
}

static void spawn_child(const char **argv, int rw, int ew)
{
    if (dup2(rw, 1) < 0 || dup2(ew, 2) < 0)
        _exit(127);
    execvp(argv[0], (char *const *)argv);
    dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* A child must not outlive a harness that was killed (a test timeout,
 * Ctrl-C): it would run on unseen. */
static void die_with_parent(pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != parent)
        _exit(127);
}

static int cloexec_pipe(int p[2])
{
    if (pipe(p))
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

/* A descriptor that polls readable when the child exits, so that the
 * parent need not sleep between a child's last write and its exit. */
static int exit_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

static double case_timeout(const runner *R, const hx_case *c)
{
    return R->a->has_timeout ? R->a->timeout : c->timeout;
}

/* Starts the run of s->j in a child. 0, or -1 with errno. */
static int start_child(runner *R, slot *s)
{
    int rp[2], ep[2];
    char seed[32], k[32];
    const char *argv[16];
    snprintf(seed, sizeof seed, "%" PRIu64, R->base.seed);
    snprintf(k, sizeof k, "%" PRIu64, s->k);
    spawn_argv(R, s, seed, k, argv);
    if (cloexec_pipe(rp))
        return -1;
    if (cloexec_pipe(ep)) {
        close(rp[0]);
        close(rp[1]);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(rp[0]);
        close(ep[0]);
        die_with_parent(parent);
        if (s->j->iso == ISO_SPAWN)
            spawn_child(argv, rp[1], ep[1]);
        fork_child(R, s, rp[1], ep[1]);
    }
    int saved = errno;
    close(rp[1]);
    close(ep[1]);
    if (pid < 0) {
        close(rp[0]);
        close(ep[0]);
        errno = saved;
        return -1;
    }
    double t = case_timeout(R, s->j->c);
    s->pid = pid;
    s->rfd = rp[0];
    s->efd = ep[0];
    s->xfd = exit_fd(pid);
    s->start = now_s();
    s->deadline = t > 0 ? s->start + t : 0;
    return 0;
}

static void start_run(runner *R, job *j)
{
    uint64_t k = j->sweeps ? j->next_k : 0;
    hx_run_opts o = opts_for(R, k);
    uint64_t fired = 0;
    j->state = JOB_RUNNING;
    if (j->iso == ISO_NONE) {
        fflush(NULL);
        record(R, j, k, hx_run_case(j->c, j->index, &o, &fired), fired);
        return;
    }
    char why[512];
    if (j->iso == ISO_SPAWN && hx_case_skips_early(j->c, &o, why, sizeof why)) {
        /* no need to start a process with libtorch to skip */
        record(R, j, k, hx_result_new(j->c, j->index, &o, HX_ST_SKIP, why), 0);
        return;
    }
    slot *s = NULL;
    for (int i = 0; i < R->nslots && !s; i++)
        if (!R->slots[i].j)
            s = &R->slots[i];
    memset(s, 0, sizeof *s);
    s->j = j;
    s->k = k;
    if (start_child(R, s)) {
        snprintf(why, sizeof why, "the case could not be started: %s", strerror(errno));
        s->j = NULL;
        record(R, j, k, hx_result_new(j->c, j->index, &o, HX_ST_CRASH, why), 0);
        return;
    }
    R->nactive++;
}

static void keep_tail(slot *s, const char *buf, size_t n)
{
    if (n >= TAIL_MAX) {
        memcpy(s->err, buf + n - TAIL_MAX, TAIL_MAX);
        s->elen = TAIL_MAX;
        s->err_cut = 1;
        return;
    }
    if (s->elen + n > TAIL_MAX) {
        size_t drop = s->elen + n - TAIL_MAX;
        memmove(s->err, s->err + drop, s->elen - drop);
        s->elen -= drop;
        s->err_cut = 1;
    }
    memcpy(s->err + s->elen, buf, n);
    s->elen += n;
}

static const char *signal_abbrev(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
        {SIGPIPE, "SIGPIPE"}, {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"},   {SIGHUP, "SIGHUP"},
        {SIGQUIT, "SIGQUIT"}, {SIGALRM, "SIGALRM"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return NULL;
}

/* Under ASan or UBSan a deadly signal does not kill the child: the
 * sanitizer reports it ("ERROR: AddressSanitizer: SEGV on unknown
 * address") and exits. The signal is taken from that line. */
static void find_sanitizer_signal(slot *s, const char *buf, size_t n)
{
    static const char key[] = "Sanitizer: ";
    char name[16] = "SIG";
    const char *p = memmem(buf, n, key, sizeof key - 1);
    if (!p)
        return;
    p += sizeof key - 1;
    size_t len = 0;
    while (p + len < buf + n && len < 8 && p[len] >= 'A' && p[len] <= 'Z')
        len++;
    memcpy(name + 3, p, len);
    name[3 + len] = 0;
    for (int sig = 1; sig < 32; sig++) {
        const char *abbrev = signal_abbrev(sig);
        if (abbrev && !strcmp(abbrev, name)) {
            snprintf(s->san_sig, sizeof s->san_sig, "%s", name);
            return;
        }
    }
}

/* Reads what is there on one of the slot's pipes. */
static void drain(runner *R, slot *s, int is_err)
{
    char buf[65536];
    int *fd = is_err ? &s->efd : &s->rfd;
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    if (is_err) {
        keep_tail(s, buf, (size_t)n);
        if (!s->san_sig[0])
            find_sanitizer_signal(s, buf, (size_t)n);
        return;
    }
    if (s->len + (size_t)n + 1 > s->cap) {
        size_t cap = (s->cap ? s->cap * 2 : 65536) + (size_t)n;
        char *p = realloc(s->out, cap);
        if (!p) {
            R->oom = 1;
            kill(s->pid, SIGKILL);
            return;
        }
        s->out = p;
        s->cap = cap;
    }
    memcpy(s->out + s->len, buf, (size_t)n);
    s->len += (size_t)n;
}

/* The result of a run that gave none: crash or timeout. */
static json_t *failed_run(runner *R, slot *s, int wstatus)
{
    char why[512], sig[32] = "";
    hx_status st = HX_ST_CRASH;
    hx_run_opts o = opts_for(R, s->k);
    if (s->killed) {
        st = HX_ST_TIMEOUT;
        snprintf(why, sizeof why, "timed out after %g s; the child was killed",
                 case_timeout(R, s->j->c));
    } else if (WIFSIGNALED(wstatus)) {
        int n = WTERMSIG(wstatus);
        const char *abbrev = signal_abbrev(n);
        if (abbrev)
            snprintf(sig, sizeof sig, "%s", abbrev);
        else
            snprintf(sig, sizeof sig, "SIG%d", n);
        snprintf(why, sizeof why, "killed by %s (%s)", sig, strsignal(n));
    } else if (s->san_sig[0]) {
        snprintf(sig, sizeof sig, "%s", s->san_sig);
        snprintf(why, sizeof why, "%s, caught by the sanitizer (exit status %d)", sig,
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    } else {
        snprintf(why, sizeof why, "the child exited with status %d without a result",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    }
    json_t *res = hx_result_new(s->j->c, s->j->index, &o, st, why);
    if (!res)
        return NULL;
    s->err[s->elen] = 0;
    char *tail = s->err_cut ? NULL : s->err;
    char cut[TAIL_MAX + 8];
    if (s->err_cut) {
        snprintf(cut, sizeof cut, "...%s", s->err);
        tail = cut;
    }
    json_object_set_new(res, "stderr", s->elen ? hx_json_str(tail) : json_null());
    json_object_set_new(json_object_get(res, "actual"), "signal",
                        sig[0] ? json_string(sig) : json_null());
    json_object_set_new(res, "duration_s", json_real(now_s() - s->start));
    return res;
}

static void finish(runner *R, slot *s, int wstatus)
{
    json_t *res = NULL;
    uint64_t fired = 0;
    if (s->killed || WIFSIGNALED(wstatus) || parse_result(s->out, s->len, &res, &fired))
        res = failed_run(R, s, wstatus);
    job *j = s->j;
    uint64_t k = s->k;
    if (s->xfd >= 0)
        close(s->xfd);
    free(s->out);
    memset(s, 0, sizeof *s);
    R->nactive--;
    record(R, j, k, res, fired);
}

/* How long poll may wait: until the nearest deadline, briefly when a
 * child has closed its pipes but is not reaped yet. */
static int poll_timeout(const runner *R)
{
    double t = now_s(), wait = 1.0;
    for (int i = 0; i < R->nslots; i++) {
        const slot *s = &R->slots[i];
        if (!s->j)
            continue;
        if (s->rfd < 0 && s->efd < 0 && s->xfd < 0)
            wait = 0.001;
        else if (s->deadline && !s->killed && s->deadline - t < wait)
            wait = s->deadline - t;
    }
    return wait <= 0 ? 0 : (int)ceil(wait * 1000);
}

static void wait_some(runner *R, struct pollfd *pf, int *owner)
{
    int n = 0;
    for (int i = 0; i < R->nslots; i++) {
        slot *s = &R->slots[i];
        if (s->j && s->rfd >= 0)
            pf[n] = (struct pollfd){s->rfd, POLLIN, 0}, owner[n++] = i * 2;
        if (s->j && s->efd >= 0)
            pf[n] = (struct pollfd){s->efd, POLLIN, 0}, owner[n++] = i * 2 + 1;
        if (s->j && s->xfd >= 0 && s->rfd < 0 && s->efd < 0)
            pf[n] = (struct pollfd){s->xfd, POLLIN, 0}, owner[n++] = -1;
    }
    if (poll(pf, (nfds_t)n, poll_timeout(R)) > 0)
        for (int i = 0; i < n; i++)
            if (pf[i].revents && owner[i] >= 0)
                drain(R, &R->slots[owner[i] / 2], owner[i] % 2);
    double t = now_s();
    for (int i = 0; i < R->nslots; i++) {
        slot *s = &R->slots[i];
        int st;
        if (!s->j)
            continue;
        if (s->deadline && t >= s->deadline && !s->killed) {
            kill(s->pid, SIGKILL);
            s->killed = 1;
        }
        if (s->rfd < 0 && s->efd < 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
            finish(R, s, st);
    }
}

static int run_all(runner *R)
{
    struct pollfd *pf = calloc((size_t)R->nslots * 3, sizeof *pf);
    int *owner = calloc((size_t)R->nslots * 3, sizeof *owner);
    job *j;
    if (!pf || !owner) {
        free(pf);
        free(owner);
        return -1;
    }
    for (;;) {
        while (R->nactive < R->nslots && !R->stop && (j = next_job(R)))
            start_run(R, j);
        if (!R->nactive)
            break;
        wait_some(R, pf, owner);
    }
    progress(R, 1);
    free(pf);
    free(owner);
    return R->oom ? -1 : 0;
}

/* ============================================================ harness run */

static const char run_usage[] =
    "usage: harness run FILE.yaml... [-o DIR] [--format junit,json,md,html] [-j N]\n"
    "                   [-k PATTERN] [--shard I/N] [--isolation fork|spawn|none]\n"
    "                   [--timeout S] [--fail-fast] [--seed N]\n"
    "                   [--rerun-failed REPORT.json] [--backend sim|torch]\n"
    "\n"
    "  -o DIR            where reports go (default reports/)\n"
    "  --format LIST     report files to write (default: all four)\n"
    "  -j N              cases run in parallel (default: the number of CPUs)\n"
    "  -k PATTERN        only cases whose id or a tag contains PATTERN or\n"
    "                    matches it as a glob\n"
    "  --shard I/N       only the I-th of N disjoint parts (1-based)\n"
    "  --isolation MODE  fork (default), spawn (default for torch on cuda or\n"
    "                    mps: a fresh harness process) or none (in-process)\n"
    "  --timeout S       seconds per case, for every case (0: none)\n"
    "  --fail-fast       start no new case after the first failure\n"
    "  --seed N          added to the seed of every prob fault and random flip\n"
    "                    (default 0: the seeds of the case file)\n"
    "  --rerun-failed R  only the cases that failed, crashed, timed out or\n"
    "                    passed unexpectedly in report R\n"
    "  --backend B       run every case on backend B\n"
    "\n"
    "exit codes: 0 every case passed (skips and expected failures allowed),\n"
    "            1 a case failed, crashed, timed out or passed unexpectedly,\n"
    "            2 bad usage or a case file that does not validate\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("harness run: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n\n", stderr);
    fputs(run_usage, stderr);
    return 2;
}

/* --name VALUE, --name=VALUE, or -xVALUE for a one-letter option; NULL
 * when argv[*i] is not that option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (n == 2 && argv[*i][n])
        return argv[*i] + n;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_uint(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static int set_option(run_args *a, const char *name, const char *v)
{
    uint64_t u;
    char *end;
    if (!strcmp(name, "-o"))
        a->out_dir = v;
    else if (!strcmp(name, "--format"))
        return hx_formats_parse(v, &a->formats);
    else if (!strcmp(name, "-j"))
        return parse_uint(v, &u) || u < 1 || u > 256 ? -1 : (a->jobs = (int)u, 0);
    else if (!strcmp(name, "-k"))
        a->pattern = v;
    else if (!strcmp(name, "--shard"))
        return hx_shard_parse(v, &a->shard_i, &a->shard_n);
    else if (!strcmp(name, "--isolation")) {
        a->isolation = !strcmp(v, "fork") ? ISO_FORK : !strcmp(v, "spawn") ? ISO_SPAWN
                       : !strcmp(v, "none") ? ISO_NONE : -1;
        return a->isolation < 0 ? -1 : 0;
    } else if (!strcmp(name, "--timeout")) {
        a->timeout = strtod(v, &end);
        a->has_timeout = 1;
        return *end || end == v || !(a->timeout >= 0) ? -1 : 0;
    } else if (!strcmp(name, "--seed"))
        return parse_uint(v, &a->seed);
    else if (!strcmp(name, "--rerun-failed"))
        a->rerun = v;
    else if (!strcmp(name, "--backend")) {
        a->backend = v;
        return strcmp(v, "sim") && strcmp(v, "torch") ? -1 : 0;
    }
    return 0;
}

/* 0 parsed, 1 --help, 2 usage error. files must hold argc entries. */
static int parse_args(int argc, char **argv, run_args *a, const char **files)
{
    static const char *const valued[] = {"-o", "--format", "-j", "-k", "--shard", "--isolation",
                                         "--timeout", "--seed", "--rerun-failed", "--backend"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int missing = 0;
        size_t o;
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
            return 1;
        if (!strcmp(arg, "--fail-fast")) {
            a->fail_fast = 1;
            continue;
        }
        for (o = 0; o < sizeof valued / sizeof valued[0]; o++)
            if ((v = opt_value(argc, argv, &i, valued[o], &missing)) || missing)
                break;
        if (missing)
            return usage_error("%s needs a value", arg);
        if (v && set_option(a, valued[o], v))
            return usage_error("bad value for %s", valued[o]);
        if (v)
            continue;
        if (arg[0] == '-' && arg[1])
            return usage_error("unknown option '%s'", arg);
        files[a->nfiles++] = arg;
    }
    if (!a->nfiles)
        return usage_error("%s", "no case file given");
    return 0;
}

/* ids whose status in the report fails the run, with sweep k removed. */
static int load_rerun(const char *path, json_t **ids)
{
    hx_report r;
    char err[4400];
    size_t i;
    json_t *c;
    if (hx_report_load(path, &r, err, sizeof err)) {
        fprintf(stderr, "harness run: --rerun-failed: %s\n", err);
        return -1;
    }
    *ids = json_object();
    int bad = !*ids;
    json_array_foreach(r.cases, i, c) {
        if (bad || !hx_status_fails_run(hx_case_status(c)))
            continue;
        char *base = hx_base_id(hx_json_get_str(c, "id"));
        bad = !base || json_object_set_new(*ids, base, json_true());
        free(base);
    }
    hx_report_free(&r);
    if (bad) {
        json_decref(*ids);
        *ids = NULL;
        fprintf(stderr, "harness run: out of memory\n");
    }
    return bad ? -1 : 0;
}

static int default_iso(const run_args *a, const hx_case *c)
{
    const char *b = a->backend ? a->backend : c->backend;
    if (a->isolation != ISO_DEFAULT)
        return a->isolation;
    if (!strcmp(b, "torch") && c->device.type != LG_DEV_CPU)
        return ISO_SPAWN;
    return ISO_FORK;
}

/* -k with a sweep run's id (`…,k=3]`) selects that sweep: all its runs. */
static int selected(const run_args *a, const hx_case *c, size_t index, const char *base_pattern)
{
    if (hx_case_selected(c, index, a->pattern, a->shard_i, a->shard_n))
        return 1;
    return base_pattern && hx_case_selected(c, index, base_pattern, a->shard_i, a->shard_n);
}

static int make_jobs_from(runner *R, hx_suite *suites, int nsuites, const json_t *rerun,
                          const char *base_pattern)
{
    size_t total = 0, global = 0;
    for (int f = 0; f < nsuites; f++)
        total += suites[f].ncases;
    R->jobs = calloc(total + 1, sizeof *R->jobs);
    if (!R->jobs)
        return -1;
    for (int f = 0; f < nsuites; f++) {
        for (size_t i = 0; i < suites[f].ncases; i++, global++) {
            const hx_case *c = &suites[f].cases[i];
            if (!selected(R->a, c, global, base_pattern))
                continue;
            if (rerun && !json_object_get(rerun, c->id))
                continue;
            job *j = &R->jobs[R->njobs++];
            *j = (job){&suites[f], c, i, default_iso(R->a, c), hx_case_sweeps(c), JOB_PENDING,
                       1, json_array()};
            if (!j->results)
                return -1;
        }
    }
    R->runs_total = R->njobs;
    return 0;
}

/* The selected cases, in file and case order. */
static int make_jobs(runner *R, hx_suite *suites, int nsuites, const json_t *rerun)
{
    char *base = R->a->pattern ? hx_base_id(R->a->pattern) : NULL;
    const char *base_pattern = base && strcmp(base, R->a->pattern) ? base : NULL;
    int rc = make_jobs_from(R, suites, nsuites, rerun, base_pattern);
    free(base);
    return rc;
}

/* Generated fixtures are written once, before any child starts. */
static void prepare_fixtures(const runner *R)
{
    char path[PATH_MAX], err[1024];
    for (size_t i = 0; i < R->njobs; i++) {
        const hx_case *c = R->jobs[i].c;
        if (c->file.kind == HX_FILE_GENERATE && !c->skip)
            hx_fixture_prepare(&c->file, R->base.cache_dir, path, sizeof path, err, sizeof err);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    if (dir && dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_cache(char *buf, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/loadgate-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(buf))
        return 0;
    fprintf(stderr, "harness: cannot create a folder in %s: %s\n", tmp && *tmp ? tmp : "/tmp",
            strerror(errno));
    return -1;
}

static const char *iso_name(int iso)
{
    static const char *const names[] = {"default", "fork", "spawn", "none"};
    return names[iso];
}

static json_t *run_json(const run_args *a, int argc, char **argv, size_t not_run)
{
    json_t *args = json_array();
    for (int i = 0; args && i < argc; i++)
        json_array_append_new(args, hx_json_str(argv[i]));
    json_t *shard = a->shard_n > 1 ? json_sprintf("%d/%d", a->shard_i, a->shard_n) : json_null();
    return json_pack("{s:o, s:I, s:s, s:i, s:o, s:o, s:o, s:o, s:b, s:I}", "argv",
                     args ? args : json_null(), "seed", (json_int_t)a->seed, "isolation",
                     iso_name(a->isolation), "jobs", a->jobs, "pattern", hx_json_str(a->pattern),
                     "shard", shard, "backend", hx_json_str(a->backend), "rerun_failed",
                     hx_json_str(a->rerun), "fail_fast", a->fail_fast, "not_run",
                     (json_int_t)not_run);
}

static void print_summary(const hx_report *rep, const run_args *a, size_t not_run)
{
    size_t i;
    json_t *c;
    json_array_foreach(rep->cases, i, c) {
        hx_status st = hx_case_status(c);
        if (!hx_status_fails_run(st))
            continue;
        const char *reason = hx_json_get_str(c, "reason");
        printf("%-7s %s: %s\n", hx_status_name(st), hx_json_get_str(c, "id"), reason ? reason : "");
    }
    json_t *s = hx_report_summary(rep);
    printf("%lld cases: %lld passed, %lld failed, %lld skipped, %lld xfailed, %lld xpassed, "
           "%lld crashed, %lld timed out in %.2f s",
           (long long)json_integer_value(json_object_get(s, "total")),
           (long long)json_integer_value(json_object_get(s, "passed")),
           (long long)json_integer_value(json_object_get(s, "failed")),
           (long long)json_integer_value(json_object_get(s, "skipped")),
           (long long)json_integer_value(json_object_get(s, "xfailed")),
           (long long)json_integer_value(json_object_get(s, "xpassed")),
           (long long)json_integer_value(json_object_get(s, "crashed")),
           (long long)json_integer_value(json_object_get(s, "timedout")), rep->duration_s);
    if (not_run)
        printf("; %zu not run (--fail-fast)", not_run);
    printf("; reports in %s\n", a->out_dir);
    fflush(stdout);
    json_decref(s);
}

/* Collects every job's results, in case order, into the report. */
static int collect(runner *R, hx_report *rep, size_t *not_run)
{
    *not_run = 0;
    for (size_t i = 0; i < R->njobs; i++) {
        size_t k;
        json_t *res;
        if (!json_array_size(R->jobs[i].results))
            (*not_run)++;
        json_array_foreach(R->jobs[i].results, k, res) {
            const char *text = json_string_value(res);
            if (hx_report_add(rep, json_loadb(text, json_string_length(res), 0, NULL)))
                return -1;
        }
    }
    return 0;
}

static int report_and_exit_code(runner *R, int argc, char **argv, double t0)
{
    hx_report rep;
    size_t not_run = 0;
    if (hx_report_init(&rep))
        return 2;
    int rc = collect(R, &rep, &not_run);
    rep.duration_s = now_s() - t0;
    rep.environment = hx_environment();
    rep.run = run_json(R->a, argc, argv, not_run);
    if (rc || !rep.environment) {
        fprintf(stderr, "harness run: out of memory\n");
        rc = 2;
    } else if (hx_report_write_all(&rep, R->a->out_dir, R->a->formats)) {
        fprintf(stderr, "harness run: the reports could not all be written to %s\n",
                R->a->out_dir);
        rc = 1;
    } else {
        print_summary(&rep, R->a, not_run);
        rc = R->failing || R->oom ? 1 : 0;
        if (!R->njobs)
            fprintf(stderr, "harness run: no case selected\n");
    }
    hx_report_free(&rep);
    return rc;
}

static void free_runner(runner *R)
{
    for (size_t i = 0; R->jobs && i < R->njobs; i++)
        json_decref(R->jobs[i].results);
    free(R->jobs);
    free(R->slots);
}

static int load_suites(const run_args *a, const char *cache, hx_suite *suites)
{
    int bad = 0;
    for (int f = 0; f < a->nfiles; f++)
        if (hx_suite_load_ex(a->files[f], cache, &suites[f], stderr))
            bad = 1;
    return bad;
}

static long cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

int hx_cmd_run(int argc, char **argv)
{
    run_args a = {0};
    runner R = {0};
    char cache[PATH_MAX] = "";
    json_t *rerun = NULL;
    double t0 = now_s();
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    hx_suite *suites = calloc((size_t)argc + 1, sizeof *suites);
    int rc = 2;
    a.out_dir = "reports";
    a.formats = HX_FMT_ALL;
    a.jobs = (int)cpu_count();
    a.seed = 0;
    if (!files || !suites)
        goto out;
    a.files = files;
    rc = parse_args(argc, argv, &a, files);
    if (rc == 1) {
        fputs(run_usage, stdout);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    rc = 2;
    if (make_cache(cache, sizeof cache) || load_suites(&a, cache, suites))
        goto out;
    if (a.rerun && load_rerun(a.rerun, &rerun))
        goto out;
    R.a = &a;
    R.base = (hx_run_opts){a.backend, a.seed, cache, 0};
    R.nslots = a.jobs;
    R.slots = calloc((size_t)R.nslots, sizeof *R.slots);
    R.progress = isatty(2);
    R.t0 = t0;
    if (!R.slots || make_jobs(&R, suites, a.nfiles, rerun))
        goto out;
    prepare_fixtures(&R);
    run_all(&R);
    rc = report_and_exit_code(&R, argc, argv, t0);
out:
    json_decref(rerun);
    free_runner(&R);
    for (int f = 0; suites && f < a.nfiles; f++)
        hx_suite_free(&suites[f]);
    rm_tree(cache);
    free(suites);
    free(files);
    return rc;
}

/* ======================================================== harness __run-one */

const char *hx_self_exe(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("LOADGATE_HARNESS");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return "harness";
    buf[n] = 0;
    return buf;
}

static const char run_one_usage[] =
    "usage: harness __run-one FILE.yaml CASE-ID [--backend B] [--seed N] [--cache DIR]\n"
    "                         [--sweep K]\n"
    "  Runs one case in this process and prints {\"result\": CASE, \"fired\": N} on\n"
    "  stdout (the child of `harness run --isolation spawn`). A sweep case's id\n"
    "  may carry its k, or --sweep gives it.\n";

typedef struct {
    const char *file, *id, *backend, *cache;
    uint64_t seed, k;
} run_one_args;

static int run_one_parse(int argc, char **argv, run_one_args *a)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int missing = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
        if ((v = opt_value(argc, argv, &i, "--backend", &missing)))
            a->backend = v;
        else if ((v = opt_value(argc, argv, &i, "--cache", &missing)))
            a->cache = v;
        else if ((v = opt_value(argc, argv, &i, "--seed", &missing))) {
            if (parse_uint(v, &a->seed))
                return 2;
        } else if ((v = opt_value(argc, argv, &i, "--sweep", &missing))) {
            if (parse_uint(v, &a->k))
                return 2;
        } else if (missing || (argv[i][0] == '-' && argv[i][1]) || npos == 2)
            return 2;
        else if (npos++ == 0)
            a->file = argv[i];
        else
            a->id = argv[i];
    }
    return npos == 2 ? 0 : 2;
}

static const hx_case *find_case(const hx_suite *s, const char *id, size_t *index, uint64_t *k)
{
    char *base = hx_base_id(id);
    size_t cut;
    const hx_case *found = NULL;
    for (size_t i = 0; i < s->ncases && !found; i++) {
        if (!strcmp(s->cases[i].id, id) || (base && !strcmp(s->cases[i].id, base))) {
            found = &s->cases[i];
            *index = i;
        }
    }
    if (found && strcmp(found->id, id) && !*k)
        *k = sweep_k_of(id, &cut);
    free(base);
    return found;
}

int hx_cmd_run_one(int argc, char **argv)
{
    run_one_args a = {.seed = 0};
    char cache[PATH_MAX] = "";
    hx_suite s = {0};
    int rc = run_one_parse(argc, argv, &a), loaded = 0;
    if (rc == 1) {
        fputs(run_one_usage, stdout);
        return 0;
    }
    if (rc) {
        fputs(run_one_usage, stderr);
        return 2;
    }
    rc = 2;
    if (!a.cache && make_cache(cache, sizeof cache))
        return 2;
    const char *dir = a.cache ? a.cache : cache;
    if (hx_suite_load_ex(a.file, dir, &s, stderr))
        goto out;
    loaded = 1;
    size_t index = 0;
    const hx_case *c = find_case(&s, a.id, &index, &a.k);
    if (!c) {
        fprintf(stderr, "harness __run-one: no case %s in %s\n", a.id, a.file);
        goto out;
    }
    hx_run_opts o = {a.backend, a.seed, dir, hx_case_sweeps(c) ? (a.k ? a.k : 1) : 0};
    uint64_t fired = 0;
    json_t *res = hx_run_case(c, index, &o, &fired);
    if (!res)
        goto out;
    rc = hx_status_fails_run(hx_case_status(res)) ? 1 : 0;
    fflush(stdout);
    if (emit_result(1, res, fired))
        rc = 2;
out:
    if (loaded)
        hx_suite_free(&s);
    rm_tree(cache);
    return rc;
}
