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
