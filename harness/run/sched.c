/* The scheduler (sched.h): jobs (one per selected case), slots (one per
 * running child), sweeps, progress and the collection of results. */
#include "run/sched.h"
#include "case/require.h"
#include "fixture/cache.h"
#include "report/result.h"
#include "run/child.h"
#include "util/error.h"
#include "util/json.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { JOB_PENDING, JOB_RUNNING, JOB_READY, JOB_DONE };

typedef struct {
    const hx_suite *suite;
    const hx_case *c;
    size_t index; /* in its suite */
    int iso;
    int sweeps;
    int state;
    uint64_t next_k;
    json_t *results; /* in K order, as compact JSON text */
} job;

typedef struct {
    job *j; /* NULL: the slot is free */
    uint64_t k;
    hx_child child;
} slot;

struct hx_sched {
    hx_sched_opts o;
    job *jobs;
    size_t njobs, first_open;
    slot *slots;
    hx_child **watch; /* the children of the slots, for hx_child_poll */
    int nslots, nactive;
    size_t runs_done, runs_total, failing;
    int stop, oom;
    double t0;
};

/* ------------------------------------------------------------ results */

static void progress(const hx_sched *S, int final)
{
    if (!S->o.progress)
        return;
    hx_progress p = {S->runs_done, S->runs_total, S->failing, hx_now_s() - S->t0, final};
    S->o.progress(S->o.ctx, &p);
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

static void record(hx_sched *S, job *j, uint64_t k, json_t *res, uint64_t fired)
{
    int more = res && sweep_goes_on(j, k, res, fired);
    hx_status st = res ? hx_case_status(res) : HX_ST_FAIL;
    j->state = more ? JOB_READY : JOB_DONE;
    if (!res || keep_result(j, res)) {
        S->oom = S->stop = 1;
        j->state = JOB_DONE;
        return;
    }
    S->runs_done++;
    if (hx_status_fails_run(st)) {
        S->failing++;
        S->stop |= S->o.fail_fast;
    }
    if (more) {
        j->next_k = k + 1;
        S->runs_total++;
    }
    progress(S, 0);
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

lg_status hx_result_emit(int fd, json_t *res, uint64_t fired)
{
    json_t *w = json_pack("{s:o, s:I}", "result", res, "fired", (json_int_t)fired);
    char *text = w ? json_dumps(w, JSON_COMPACT) : NULL;
    lg_status st = LG_OK;
    if (!text)
        st = hx_err(LG_E_NOMEM, "out of memory");
    else if (write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1))
        st = hx_err(LG_E_IO, "writing the result: %s", strerror(errno));
    free(text);
    json_decref(w);
    return st;
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

/* ------------------------------------------------------------- starting */

static hx_run_opts opts_for(const hx_sched *S, uint64_t k)
{
    hx_run_opts o = S->o.run;
    o.sweep_k = k;
    return o;
}

static double case_timeout(const hx_sched *S, const hx_case *c)
{
    return S->o.has_timeout ? S->o.timeout : c->timeout;
}

typedef struct {
    const hx_sched *S;
    const slot *s;
} case_child_arg;

/* In a forked child: runs the case and hands its result back. */
static int case_child(void *arg, int out_fd)
{
    const case_child_arg *a = arg;
    hx_run_opts o = opts_for(a->S, a->s->k);
    uint64_t fired = 0;
    json_t *res = hx_run_case(a->s->j->c, a->s->j->index, &o, &fired);
    return res && hx_result_emit(out_fd, res, fired) == LG_OK ? 0 : 1;
}

/* argv of `harness __run-one` for a spawned case. */
static void spawn_argv(const hx_sched *S, const slot *s, char *seed, char *k, const char **argv)
{
    int n = 0;
    argv[n++] = hx_self_exe();
    argv[n++] = "__run-one";
    argv[n++] = s->j->suite->path;
    argv[n++] = s->j->c->id;
    if (S->o.run.backend) {
        argv[n++] = "--backend";
        argv[n++] = S->o.run.backend;
    }
    argv[n++] = "--seed";
    argv[n++] = seed;
    argv[n++] = "--cache";
    argv[n++] = S->o.run.cache_dir;
    if (s->k) {
        argv[n++] = "--sweep";
        argv[n++] = k;
    }
    if (S->o.run.paranoid)
        argv[n++] = "--paranoid";
    argv[n] = NULL;
}

/* Starts the run of s->j in a child. LG_OK, or a message in hx_errmsg(). */
static lg_status start_child(hx_sched *S, slot *s)
{
    hx_child_opts co = {case_timeout(S, s->j->c), 1, 0};
    if (s->j->iso != HX_ISO_SPAWN) {
        case_child_arg a = {S, s};
        return hx_child_fork(&s->child, &co, case_child, &a);
    }
    char seed[32], k[32];
    const char *argv[16];
    snprintf(seed, sizeof seed, "%" PRIu64, S->o.run.seed);
    snprintf(k, sizeof k, "%" PRIu64, s->k);
    spawn_argv(S, s, seed, k, argv);
    return hx_child_spawn(&s->child, &co, argv);
}

static slot *free_slot(hx_sched *S)
{
    for (int i = 0; i < S->nslots; i++)
        if (!S->slots[i].j)
            return &S->slots[i];
    return NULL;
}

static void start_run(hx_sched *S, job *j)
{
    uint64_t k = j->sweeps ? j->next_k : 0;
    hx_run_opts o = opts_for(S, k);
    uint64_t fired = 0;
    char why[512];
    j->state = JOB_RUNNING;
    if (j->iso == HX_ISO_NONE) {
        fflush(NULL);
        record(S, j, k, hx_run_case(j->c, j->index, &o, &fired), fired);
        return;
    }
    if (j->iso == HX_ISO_SPAWN &&
        hx_case_skips_early(j->c, hx_case_backend(j->c, o.backend), why, sizeof why)) {
        /* no need to start a process with libtorch to skip */
        record(S, j, k, hx_result_new(j->c, j->index, &o, HX_ST_SKIP, why), 0);
        return;
    }
    slot *s = free_slot(S);
    memset(s, 0, sizeof *s);
    s->j = j;
    s->k = k;
    if (start_child(S, s) != LG_OK) {
        snprintf(why, sizeof why, "the case could not be started: %s", hx_errmsg());
        s->j = NULL;
        record(S, j, k, hx_result_new(j->c, j->index, &o, HX_ST_CRASH, why), 0);
        return;
    }
    S->watch[s - S->slots] = &s->child;
    S->nactive++;
}

static job *next_job(hx_sched *S)
{
    while (S->first_open < S->njobs && S->jobs[S->first_open].state == JOB_DONE)
        S->first_open++;
    for (size_t i = S->first_open; i < S->njobs; i++)
        if (S->jobs[i].state == JOB_PENDING || S->jobs[i].state == JOB_READY)
            return &S->jobs[i];
    return NULL;
}

/* ------------------------------------------------------------ finishing */

/* The result of a run that gave none: crash or timeout. */
static json_t *failed_run(const hx_sched *S, slot *s)
{
    char why[512], sig[32], tail[HX_CHILD_TAIL + 8];
    hx_run_opts o = opts_for(S, s->k);
    hx_status st = s->child.killed ? HX_ST_TIMEOUT : HX_ST_CRASH;
    hx_child_describe(&s->child, why, sizeof why);
    json_t *res = hx_result_new(s->j->c, s->j->index, &o, st, why);
    if (!res)
        return NULL;
    const char *signame = hx_child_signal(&s->child, sig, sizeof sig);
    json_object_set_new(res, "stderr", hx_json_str(hx_child_stderr(&s->child, tail, sizeof tail)));
    json_object_set_new(json_object_get(res, "actual"), "signal",
                        signame ? json_string(signame) : json_null());
    json_object_set_new(res, "duration_s", json_real(hx_now_s() - s->child.start));
    return res;
}

static void finish(hx_sched *S, slot *s)
{
    json_t *res = NULL;
    uint64_t fired = 0;
    size_t len = 0;
    const char *out = hx_child_output(&s->child, &len);
    S->oom |= s->child.oom;
    if (hx_child_failed(&s->child) || parse_result(out, len, &res, &fired))
        res = failed_run(S, s);
    job *j = s->j;
    uint64_t k = s->k;
    hx_child_free(&s->child);
    S->watch[s - S->slots] = NULL;
    memset(s, 0, sizeof *s);
    S->nactive--;
    record(S, j, k, res, fired);
}

static void wait_some(hx_sched *S)
{
    hx_child_poll(S->watch, S->nslots, 1.0);
    for (int i = 0; i < S->nslots; i++)
        if (S->slots[i].j && hx_child_done(&S->slots[i].child))
            finish(S, &S->slots[i]);
}

/* Generated fixtures are written once, before any child starts. */
static void prepare_fixtures(const hx_sched *S)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < S->njobs; i++) {
        const hx_case *c = S->jobs[i].c;
        /* a failure here is the case's own, reported when it runs */
        if (c->file.kind == HX_FILE_GENERATE && !c->skip)
            hx_fixture_prepare(&c->file, S->o.run.cache_dir, path, sizeof path);
    }
}

lg_status hx_sched_run(hx_sched *S)
{
    job *j;
    S->t0 = hx_now_s();
    prepare_fixtures(S);
    for (;;) {
        while (S->nactive < S->nslots && !S->stop && (j = next_job(S)))
            start_run(S, j);
        if (!S->nactive)
            break;
        wait_some(S);
    }
    progress(S, 1);
    return S->oom ? hx_err(LG_E_NOMEM, "out of memory") : LG_OK;
}

/* ------------------------------------------------------------- the jobs */

static int default_iso(const hx_sched_opts *o, const hx_case *c)
{
    const char *b = o->run.backend ? o->run.backend : c->backend;
    if (o->isolation != HX_ISO_DEFAULT)
        return o->isolation;
    if (!strcmp(b, "torch") && c->device.type != LG_DEV_CPU)
        return HX_ISO_SPAWN;
    return HX_ISO_FORK;
}

/* -k with a sweep run's id (`…,k=3]`) selects that sweep: all its runs. */
static int selected(const hx_sched_opts *o, const hx_case *c, size_t index,
                    const char *base_pattern)
{
    if (hx_case_selected(c, index, o->pattern, o->shard_i, o->shard_n))
        return 1;
    return base_pattern && hx_case_selected(c, index, base_pattern, o->shard_i, o->shard_n);
}

static int make_jobs_from(hx_sched *S, const hx_suite *suites, int nsuites,
                          const char *base_pattern)
{
    size_t total = 0, global = 0;
    for (int f = 0; f < nsuites; f++)
        total += suites[f].ncases;
    S->jobs = calloc(total + 1, sizeof *S->jobs);
    if (!S->jobs)
        return -1;
    for (int f = 0; f < nsuites; f++) {
        for (size_t i = 0; i < suites[f].ncases; i++, global++) {
            const hx_case *c = &suites[f].cases[i];
            if (!selected(&S->o, c, global, base_pattern))
                continue;
            if (S->o.rerun && !json_object_get(S->o.rerun, c->id))
                continue;
            job *j = &S->jobs[S->njobs++];
            *j = (job){&suites[f], c, i, default_iso(&S->o, c), hx_case_sweeps(c), JOB_PENDING,
                       1, json_array()};
            if (!j->results)
                return -1;
        }
    }
    S->runs_total = S->njobs;
    return 0;
}

/* The selected cases, in file and case order. */
static int make_jobs(hx_sched *S, const hx_suite *suites, int nsuites)
{
    const char *pattern = S->o.pattern;
    char *base = pattern ? hx_base_id(pattern) : NULL;
    const char *base_pattern = base && strcmp(base, pattern) ? base : NULL;
    int rc = make_jobs_from(S, suites, nsuites, base_pattern);
    free(base);
    return rc;
}

lg_status hx_sched_new(const hx_sched_opts *o, const hx_suite *suites, int nsuites,
                       hx_sched **out)
{
    hx_sched *S = calloc(1, sizeof *S);
    *out = NULL;
    if (!S)
        return hx_err(LG_E_NOMEM, "out of memory");
    S->o = *o;
    S->nslots = o->jobs < 1 ? 1 : o->jobs > HX_CHILD_POLL_MAX ? HX_CHILD_POLL_MAX : o->jobs;
    S->slots = calloc((size_t)S->nslots, sizeof *S->slots);
    S->watch = calloc((size_t)S->nslots, sizeof *S->watch);
    if (!S->slots || !S->watch || make_jobs(S, suites, nsuites)) {
        hx_sched_free(S);
        return hx_err(LG_E_NOMEM, "out of memory");
    }
    *out = S;
    return LG_OK;
}

lg_status hx_sched_collect(const hx_sched *S, hx_report *rep, size_t *not_run)
{
    *not_run = 0;
    for (size_t i = 0; i < S->njobs; i++) {
        size_t k;
        json_t *res;
        if (!json_array_size(S->jobs[i].results))
            (*not_run)++;
        json_array_foreach(S->jobs[i].results, k, res) {
            const char *text = json_string_value(res);
            lg_status st = hx_report_add(rep, json_loadb(text, json_string_length(res), 0, NULL));
            if (st != LG_OK)
                return st;
        }
    }
    return LG_OK;
}

size_t hx_sched_selected(const hx_sched *S) { return S->njobs; }

size_t hx_sched_failing(const hx_sched *S) { return S->failing; }

void hx_sched_free(hx_sched *S)
{
    if (!S)
        return;
    for (size_t i = 0; S->jobs && i < S->njobs; i++)
        json_decref(S->jobs[i].results);
    free(S->jobs);
    free(S->slots);
    free(S->watch);
    free(S);
}
