/* One case run in this process (runner.h): its backend and
 * requirements, its file (a generated fixture, maybe corrupted), its
 * faults armed once the store is built, the load, and the outcome checked
 * against its expectations. The scheduler (sched.c) calls it in a child;
 * `--isolation none` and `__run-one` call it directly. */
#include "run/runner.h"
#include "case/require.h"
#include "corrupt/corrupt.h"
#include "fixture/cache.h"
#include "report/result.h"
#include "run/cache.h"
#include "run/child.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct {
    const hx_case *c;
    const hx_run_opts *o;
    lg_backend *b;
    char path[PATH_MAX + 64], orig[PATH_MAX + 64], tmp[PATH_MAX + 64];
    char fault_err[512];
    unsigned inv_failed; /* the checked invariants that failed (1 << hx_inv) */
    int other_failed;    /* the outcome, or anything else, did not match */
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

/* A case's corrupted copy is ORIGINAL.PID-N, in the scratch or the cache
 * folder: N counts the copies of a process from 1. A process that runs
 * case after case (a worker, `--isolation none`: reuse_copy) keeps one,
 * ORIGINAL.PID-0, written over for each case, where a copy per case
 * costs a file made and removed (a third of a truncation case's time in
 * a worker). The copy has no label in its name: the case's result names
 * the corruption. The process that made the kept copy removes it; a
 * forked child that inherits its name leaves it alone. */
static struct {
    char path[PATH_MAX + 64];
    pid_t owner;
} kept;

void hx_run_copy_end(void)
{
    if (kept.path[0] && kept.owner == hx_pid())
        unlink(kept.path);
    kept.path[0] = 0;
}

static lg_status write_copy(case_run *r, const char *dir, const unsigned char *buf, size_t len)
{
    static unsigned long serial;
    lg_status st;
    int reuse = r->o->reuse_copy;
    snprintf(r->tmp, sizeof r->tmp, "%s/%s.%ld-%lu", dir, base_name(r->path), (long)hx_pid(),
             reuse ? 0 : ++serial);
    if (!reuse) {
        if ((st = hx_corrupt_write(r->tmp, buf, len)) != LG_OK)
            unlink(r->tmp);
        return st;
    }
    if (strcmp(kept.path, r->tmp)) {
        hx_run_copy_end();
        snprintf(kept.path, sizeof kept.path, "%s", r->tmp);
        kept.owner = hx_pid();
    }
    if ((st = hx_corrupt_rewrite(r->tmp, buf, len)) != LG_OK)
        hx_run_copy_end();
    return st;
}

static int prepare_corrupt(case_run *r, char *why, size_t n)
{
    hx_corrupt cc = r->c->corrupt;
    if (cc.kind == HX_CORRUPT_NONE)
        return 0;
    if (cc.random)
        cc.seed += r->o->seed;
    unsigned char *buf;
    size_t len, in_len;
    lg_status st = hx_corrupt_make(&cc, r->path, &buf, &len, &in_len);
    if (st == LG_OK) {
        /* a small file's copy to the scratch folder on a memory file
         * system; when that is full, or for a larger file, the cache */
        const char *scratch = r->o->scratch_dir;
        int small = scratch && scratch[0] && in_len <= HX_SCRATCH_FILE_MAX;
        st = write_copy(r, small ? scratch : r->o->cache_dir, buf, len);
        if (st == LG_E_IO && small)
            st = write_copy(r, r->o->cache_dir, buf, len);
    }
    free(buf);
    if (st != LG_OK) {
        /* the generators name the corruption already; a read or a write of
         * the file does not */
        char pre[sizeof cc.label + 16];
        snprintf(pre, sizeof pre, "corrupt %s: ", cc.label);
        snprintf(why, n, "%s%s", strncmp(hx_errmsg(), pre, strlen(pre)) ? pre : "", hx_errmsg());
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
static void check_expect(case_run *r, const hx_expect *e, int sweep_end, const hx_outcome *out,
                         char *why, size_t n)
{
    size_t before = strlen(why);
    hx_outcome_kind want = hx_wanted_outcome(e);
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
    r->other_failed |= strlen(why) != before;
    for (int i = 0; i < HX_INV_COUNT; i++) {
        int checked = e->has_invariants ? e->invariants[i] : out->inv[i] != HX_NA;
        if (checked && out->inv[i] == HX_FAIL) {
            appendf(why, n, "invariant %s failed: %s", hx_inv_name((hx_inv)i), out->why[i]);
            r->inv_failed |= 1u << i;
        }
    }
}

/* Sets the expected outcome the sweep's last run was checked against. */
static void note_sweep_end(json_t *res, const hx_expect *e)
{
    json_t *exp = json_object_get(res, "expected");
    if (hx_wanted_outcome(e) != HX_EXPECT_OK && exp) {
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
    q.paranoid = r->o->paranoid;
    q.reuse_open = c->nfaults == 0;
    lg_status s = hx_check_load(&q, &out);
    *fired = faults_report(r, res);
    lg_fault_clear();
    if (s != LG_OK) {
        snprintf(why, n, "the store could not be set up: %s: %s", lg_status_name(s),
                 lg_error_message());
        hx_outcome_free(&out);
        return HX_ST_FAIL;
    }
    if (r->fault_err[0]) {
        appendf(why, n, "%s", r->fault_err);
        r->other_failed = 1;
    }
    if (hx_result_fill(res, &out, HX_TRACE_MAX) != LG_OK)
        appendf(why, n, "out of memory while recording the outcome");
    int sweep_end = r->o->sweep_k && *fired == 0;
    if (sweep_end)
        note_sweep_end(res, &c->expect);
    check_expect(r, &c->expect, sweep_end, &out, why, n);
    hx_outcome_free(&out);
    return why[0] ? HX_ST_FAIL : HX_ST_PASS;
}

/* A fixture given by path must be a regular file that opens for reading
 * (as `harness validate` checks); 0, or -1 with the reason in why.
 * O_NONBLOCK: a FIFO named as a fixture must not hang the case. */
static int fixture_opens(const hx_file *f, const char *path, char *why, size_t n)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    const char *what = fd < 0 ? strerror(errno) : "not a regular file";
    snprintf(why, n, "setup error: fixture '%s': %s: %s", f->name ? f->name : "inline", path,
             what);
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The case's file: a skip when this build cannot make it, a setup error
 * (HX_ST_ERROR) when it is missing, does not open or cannot be generated;
 * -1 when it is ready in r->path. */
static int prepare_file(case_run *r, char *why, size_t n)
{
    const hx_file *f = &r->c->file;
    lg_status p = hx_fixture_prepare(f, r->o->cache_dir, r->path, sizeof r->path);
    if (p == LG_E_BACKEND) {
        snprintf(why, n, "%s", hx_errmsg());
        return HX_ST_SKIP;
    }
    if (p != LG_OK) {
        snprintf(why, n, "setup error: fixture '%s': %s", f->name ? f->name : "inline",
                 hx_errmsg());
        return HX_ST_ERROR;
    }
    if (f->kind == HX_FILE_PATH && fixture_opens(f, r->path, why, n))
        return HX_ST_ERROR;
    return -1;
}

static hx_status run_steps(case_run *r, json_t *res, uint64_t *fired, char *why, size_t n)
{
    const hx_case *c = r->c;
    const char *bname = hx_case_backend(c, r->o ? r->o->backend : NULL);
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
        int q = hx_require_check(c->requires[i], r->b, why, n);
        if (q)
            return q > 0 ? HX_ST_SKIP : HX_ST_FAIL;
    }
    if (bs != LG_OK && !strcmp(bname, "torch") && !lg_torch_modules(NULL, 0)) {
        snprintf(why, n, "backend torch: not in this build");
        return HX_ST_SKIP;
    }
    if (bs != LG_OK) {
        snprintf(why, n, "backend %s: %s: %s", bname, lg_status_name(bs), berr);
        return HX_ST_FAIL;
    }
    int file = prepare_file(r, why, n);
    if (file >= 0)
        return (hx_status)file;
    if (prepare_corrupt(r, why, n))
        return HX_ST_FAIL;
    return run_load(r, res, fired, why, n);
}

/* An xfail reason that starts with invariant names and a colon
 * ("consistent, restored: ...") names what must break: the case is an
 * xfail only when exactly those invariants fail and all else matches.
 * Returns 1 and their mask, or 0 for a reason in free words. */
static int xfail_invariants(const char *x, unsigned *mask)
{
    const char *colon = strchr(x, ':');
    char name[32];
    *mask = 0;
    while (colon && x < colon) {
        size_t k = strcspn(x, ",:");
        hx_inv inv;
        if (k == 0 || k >= sizeof name)
            return 0;
        memcpy(name, x, k);
        name[k] = '\0';
        if (hx_inv_parse(name, &inv) != 0)
            return 0;
        *mask |= 1u << inv;
        x += k + (x[k] == ',');
        x += strspn(x, " ");
    }
    return colon != NULL && *mask != 0;
}

static hx_status apply_xfail(const case_run *r, hx_status st, char *why, size_t n)
{
    const hx_case *c = r->c;
    char tmp[4096];
    unsigned want;
    if (!c->xfail || (st != HX_ST_PASS && st != HX_ST_FAIL))
        return st;
    if (st == HX_ST_PASS) {
        snprintf(why, n, "passed, but expected to fail: %s", c->xfail);
        return HX_ST_XPASS;
    }
    if (xfail_invariants(c->xfail, &want) && (r->other_failed || r->inv_failed != want)) {
        snprintf(tmp, sizeof tmp, "expected exactly the invariants named to fail (%s): %s",
                 c->xfail, why);
        snprintf(why, n, "%s", tmp);
        return HX_ST_FAIL;
    }
    snprintf(tmp, sizeof tmp, "expected failure (%s): %s", c->xfail, why);
    snprintf(why, n, "%s", tmp);
    return HX_ST_XFAIL;
}

json_t *hx_run_case(const hx_case *c, size_t index, const hx_run_opts *o, uint64_t *fired)
{
    double t0 = hx_now_s();
    char why[4096] = "";
    case_run r = {.c = c, .o = o};
    *fired = 0;
    json_t *res = hx_result_new(c, index, o, HX_ST_PASS, NULL);
    if (!res)
        return NULL;
    lg_error_clear();
    hx_status st = run_steps(&r, res, fired, why, sizeof why);
    st = apply_xfail(&r, st, why, sizeof why);
    json_object_set_new(res, "status", json_string(hx_status_name(st)));
    json_object_set_new(res, "reason", why[0] ? hx_json_str(why) : json_null());
    json_object_set_new(res, "duration_s", json_real(hx_now_s() - t0));
    if (r.tmp[0] && !o->reuse_copy)
        unlink(r.tmp);
    lg_backend_close(r.b);
    return res;
}
