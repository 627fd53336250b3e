/* The scheduler (sched.h): jobs (one per selected case), slots (one per
 * running case: a child of its own, or the slot's worker), sweeps,
 * progress and the collection of results. */
#include "run/sched.h"
#include "case/require.h"
#include "fixture/cache.h"
#include "report/result.h"
#include "run/cache.h"
#include "run/child.h"
#include "run/keep.h"
#include "run/worker.h"
#include "util/error.h"
#include "util/json.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { JOB_PENDING, JOB_RUNNING, JOB_READY, JOB_DONE };

/* A run whose worker died before taking it is run again, this many times
 * at most; then it is a crash. */
#define LOST_MAX 3

typedef struct {
    const hx_suite *suite;
    const hx_case *c;
    size_t index; /* in its suite */
    int iso;
    int sweeps;
    int state;
    uint64_t next_k;
    json_t *results; /* in K order, as compact JSON text */
    int lost;        /* times its worker died before taking it */
} job;

typedef struct {
    job *j; /* NULL: the slot is free */
    uint64_t k;
    int on_worker; /* the run is on the slot's worker, not in .child */
    job *next;     /* a run queued on the slot's worker behind j's (queue_more) */
    uint64_t next_k;
    hx_child child;
} slot;

struct hx_sched {
    hx_sched_opts o;
    job *jobs;
    size_t njobs, first_open;
    slot *slots;
    hx_worker *workers; /* one per slot, started when first needed */
    hx_child **watch;   /* the slots' children, then their workers, for hx_child_poll */
    int nslots, nactive;
    size_t runs_done, runs_total, failing, errors;
    int stop, oom;
    int held;     /* a start failed while others ran: wait for one to end */
    double t0;
    hx_require_memo memo; /* torch's devices, as children found them */
};

/* The signal that interrupted the run (hx_sched_interrupt), or 0: set by
 * a signal handler, so a process-wide flag. */
static volatile sig_atomic_t interrupted;

void hx_sched_interrupt(int sig) { interrupted = sig; }

int hx_sched_interrupted(void) { return interrupted; }

/* ------------------------------------------------------------ results */

static void progress(const hx_sched *S, int final)
{
    if (!S->o.progress)
        return;
    hx_progress p = {S->runs_done, S->runs_total, S->failing, hx_now_s() - S->t0, final,
                     S->errors};
    S->o.progress(S->o.ctx, &p);
}

/* A run's outcome as the parent holds it: the result object, or only its
 * text as the child wrote it until something needs the object (full). */
typedef struct {
    json_t *res; /* NULL: not parsed (yet), or out of memory when raw is NULL too */
    json_t *raw; /* the result's text as the child wrote it (hx_result_read), or NULL */
    hx_status st;
    uint64_t fired;
} outcome;

/* The outcome of a result object made here (NULL: out of memory). */
static outcome made(json_t *res, uint64_t fired)
{
    return (outcome){res, NULL, res ? hx_case_status(res) : HX_ST_FAIL, fired};
}

/* o's result object, parsed from its text the first time it is needed;
 * NULL when out of memory. */
static json_t *full(outcome *o)
{
    if (!o->res && o->raw)
        o->res = hx_json_parse(json_string_value(o->raw), json_string_length(o->raw), 0);
    return o->res;
}

/* Keeps a result as compact JSON text: the parent stays small, so each
 * fork stays cheap however many results it holds. The text the child
 * wrote is kept as it is unless the parent changed the result since;
 * else the result is dumped. Takes o's references. */
static int keep_result(job *j, outcome *o, int changed)
{
    if (o->raw && !changed) {
        json_decref(o->res);
        return json_array_append_new(j->results, o->raw);
    }
    json_decref(o->raw);
    size_t len = 0;
    char *text = o->res ? hx_json_text(o->res, &len) : NULL;
    json_decref(o->res);
    if (!text)
        return -1;
    int rc = json_array_append_new(j->results, json_stringn_nocheck(text, len));
    free(text);
    return rc;
}

/* A sweep goes on while its faults fire (and the run neither crashed nor
 * timed out), up to HX_SWEEP_MAX runs. */
static int sweep_goes_on(const job *j, uint64_t k, outcome *o, int *changed)
{
    if (!j->sweeps || o->fired == 0 || o->st == HX_ST_CRASH || o->st == HX_ST_TIMEOUT)
        return 0;
    if (k < HX_SWEEP_MAX)
        return 1;
    char why[256];
    snprintf(why, sizeof why, "the sweep did not end: a fault still fired at k=%d",
             HX_SWEEP_MAX);
    json_t *res = full(o);
    json_object_set_new(res, "status", json_string("fail"));
    json_object_set_new(res, "reason", json_string(why));
    o->st = HX_ST_FAIL;
    *changed = 1;
    return 0;
}

/* --keep-failed: the input of run k of j, which failed, kept; its path
 * (or why it could not be kept) goes into the result. */
static void keep_input(const hx_sched *S, const job *j, uint64_t k, json_t *res)
{
    char path[PATH_MAX + 256];
    hx_run_opts o = S->o.run;
    o.sweep_k = k;
    const char *id = hx_json_get_str(res, "id");
    if (hx_keep_input(j->c, &o, S->o.keep_dir, id ? id : j->c->id, path, sizeof path) == LG_OK)
        json_object_set_new(res, "kept_file", json_string(path));
    else
        json_object_set_new(res, "kept_file_error", hx_json_str(hx_errmsg()));
}

/* What a run of a case on torch says of the devices it required. */
static void learn(hx_sched *S, const job *j, outcome *o)
{
    hx_status st = o->st;
    if (j->iso == HX_ISO_NONE || j->c->skip || st == HX_ST_CRASH || st == HX_ST_TIMEOUT ||
        strcmp(hx_case_backend(j->c, S->o.run.backend), "torch") || !full(o))
        return; /* a case's own skip: text, whatever it says, is not a device's answer */
    const char *why = hx_json_get_str(o->res, "reason");
    if (st != HX_ST_SKIP || why)
        hx_require_memo_learn(&S->memo, j->c, st == HX_ST_SKIP ? why : NULL);
}

/* Records run k of j (keep_result). Takes o's references. */
static void record(hx_sched *S, job *j, uint64_t k, outcome o)
{
    int changed = 0;
    int ok = o.res || o.raw, more = ok && sweep_goes_on(j, k, &o, &changed);
    hx_status st = ok ? o.st : HX_ST_FAIL;
    if (ok)
        learn(S, j, &o);
    if (ok && S->o.keep_dir && hx_status_fails_run(st) && full(&o)) {
        keep_input(S, j, k, o.res);
        changed = 1;
    }
    j->state = more ? JOB_READY : JOB_DONE;
    if (!ok || keep_result(j, &o, changed)) {
        S->oom = S->stop = 1;
        j->state = JOB_DONE;
        return;
    }
    S->runs_done++;
    S->failing += hx_status_fails_run(st) != 0;
    S->errors += st == HX_ST_ERROR;
    if (hx_status_not_ok(st))
        S->stop |= S->o.fail_fast;
    if (more) {
        j->next_k = k + 1;
        S->runs_total++;
    }
    progress(S, 0);
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

/* In a worker: runs run k of job i. */
static json_t *worker_case(void *ctx, size_t i, uint64_t k, uint64_t *fired)
{
    const hx_sched *S = ctx;
    hx_run_opts o = opts_for(S, k);
    o.reuse_copy = 1; /* the worker removes it when it ends (worker.c) */
    return hx_run_case(S->jobs[i].c, S->jobs[i].index, &o, fired);
}

/* Does c have start-up work, done outside its timeout? The torch module
 * loaded, for a case on the torch backend (docs/runner.md, Timeouts). */
static int has_startup(const hx_sched *S, const hx_case *c)
{
    return !strcmp(hx_case_backend(c, S->o.run.backend), "torch");
}

/* c's start-up work, in the process that runs it. */
static void preload(const hx_sched *S, const hx_case *c)
{
    lg_backend *b = NULL;
    if (has_startup(S, c) && lg_backend_open("torch", &b) == LG_OK)
        lg_backend_close(b);
    lg_error_clear();
}

static void worker_prepare(void *ctx, size_t i)
{
    const hx_sched *S = ctx;
    preload(S, S->jobs[i].c);
}

/* In a forked child: runs the case and hands its result back. */
static int case_child(void *arg, int out_fd)
{
    const case_child_arg *a = arg;
    hx_run_opts o = opts_for(a->S, a->s->k);
    uint64_t fired = 0;
    preload(a->S, a->s->j->c);
    if (hx_child_ack(out_fd) != LG_OK)
        return 1;
    json_t *res = hx_run_case(a->s->j->c, a->s->j->index, &o, &fired);
    return res && hx_result_emit(out_fd, res, fired) == LG_OK ? 0 : 1;
}

/* argv of `harness __run-one` for a spawned case. */
static void spawn_argv(const hx_sched *S, const slot *s, char *seed, char *k, const char **argv)
{
    int n = 0;
    argv[n++] = hx_self_exe();
    argv[n++] = "__run-one";
    argv[n++] = "--ack";
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
    hx_child_opts co = {.timeout = case_timeout(S, s->j->c), .capture = 1,
                        .startup = HX_STARTUP_S};
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

/* Sends the run of s->j to the slot's worker, starting one (again, when
 * the last one is gone) as needed. LG_OK, or a message in hx_errmsg(). */
static lg_status start_on_worker(hx_sched *S, slot *s)
{
    int i = (int)(s - S->slots);
    hx_worker *w = &S->workers[i];
    lg_status st = LG_E_IO;
    for (int tries = 0; tries < 2 && st != LG_OK; tries++) {
        hx_worker_set_prepare(worker_prepare);
        if (!w->up && (st = hx_worker_start(w, worker_case, S)) != LG_OK)
            break;
        S->watch[S->nslots + i] = &w->child;
        size_t i_job = (size_t)(s->j - S->jobs);
        double timeout = case_timeout(S, s->j->c);
        st = has_startup(S, s->j->c) ? hx_worker_send(w, i_job, s->k, timeout)
                                     : hx_worker_send_quick(w, i_job, s->k, timeout);
        if (st != LG_OK) { /* it was gone: a new one */
            hx_worker_stop(w);
            S->watch[S->nslots + i] = NULL;
        }
    }
    s->on_worker = st == LG_OK;
    return st;
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
        o.reuse_copy = 1; /* removed at the end of the run (hx_sched_run) */
        record(S, j, k, made(hx_run_case(j->c, j->index, &o, &fired), fired));
        return;
    }
    const char *bname = hx_case_backend(j->c, o.backend);
    if (j->iso == HX_ISO_SPAWN &&
        (hx_case_skips_early(j->c, bname, why, sizeof why) ||
         (!strcmp(bname, "torch") && hx_require_memo_skips(&S->memo, j->c, why, sizeof why)))) {
        /* no need to start a process with libtorch to skip */
        record(S, j, k, made(hx_result_new(j->c, j->index, &o, HX_ST_SKIP, why), 0));
        return;
    }
    slot *s = free_slot(S);
    memset(s, 0, sizeof *s);
    s->j = j;
    s->k = k;
    lg_status st = j->iso == HX_ISO_WORKER ? start_on_worker(S, s) : start_child(S, s);
    if (st != LG_OK) {
        s->j = NULL;
        if (S->nactive > 0) {
            /* Out of something the running ones hold (descriptors,
             * processes: EMFILE, EAGAIN): the run waits for one of them
             * to end and starts it then, on whichever slot is free. */
            j->state = j->sweeps ? JOB_READY : JOB_PENDING;
            S->held = 1;
            return;
        }
        snprintf(why, sizeof why, "the case could not be started: %s", hx_errmsg());
        record(S, j, k, made(hx_result_new(j->c, j->index, &o, HX_ST_CRASH, why), 0));
        return;
    }
    if (!s->on_worker)
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

/* The result of a run that gave none: crash or timeout, from what became
 * of the child c (a forked child or a worker) that ran it. */
static json_t *failed_run(const hx_sched *S, const job *j, uint64_t k, const hx_child *c)
{
    char why[512], sig[32], tail[HX_CHILD_TAIL + 8];
    hx_run_opts o = opts_for(S, k);
    hx_status st = c->killed ? HX_ST_TIMEOUT : HX_ST_CRASH;
    /* the copy its case did not get to remove */
    hx_cache_remove_copies(S->o.run.scratch_dir, (long)c->pid);
    hx_cache_remove_copies(S->o.run.cache_dir, (long)c->pid);
    hx_child_describe(c, why, sizeof why);
    json_t *res = hx_result_new(j->c, j->index, &o, st, why);
    if (!res)
        return NULL;
    const char *signame = hx_child_signal(c, sig, sizeof sig);
    json_object_set_new(res, "stderr", hx_json_str(hx_child_stderr(c, tail, sizeof tail)));
    json_object_set_new(json_object_get(res, "actual"), "signal",
                        signame ? json_string(signame) : json_null());
    json_object_set_new(res, "duration_s", json_real(hx_now_s() - c->start));
    return res;
}

/* Frees slot s; the caller records its run. */
static void release(hx_sched *S, slot *s)
{
    S->watch[s - S->slots] = NULL;
    memset(s, 0, sizeof *s);
    S->nactive--;
}

static void finish(hx_sched *S, slot *s)
{
    outcome o = {0};
    size_t len = 0;
    const char *out = hx_child_result(&s->child, &len);
    S->oom |= s->child.oom;
    if (hx_child_failed(&s->child) ||
        hx_result_read(out, len, &o.res, &o.raw, &o.st, &o.fired, NULL, 0))
        o = made(failed_run(S, s->j, s->k, &s->child), 0);
    job *j = s->j;
    uint64_t k = s->k;
    hx_child_free(&s->child);
    release(S, s);
    record(S, j, k, o);
}

/* A run whose worker died before taking it goes back in the queue; NULL,
 * or its crash once that happened LOST_MAX times. */
static json_t *requeue(hx_sched *S, job *j, uint64_t k, const hx_child *c)
{
    if (++j->lost >= LOST_MAX)
        return failed_run(S, j, k, c);
    j->state = j->sweeps ? JOB_READY : JOB_PENDING;
    j->next_k = j->sweeps ? k : j->next_k;
    return NULL;
}

/* The run queued on s's worker will not run there: it goes back in the
 * queue as it was (it never started, so it is not counted as lost). */
static void unqueue(slot *s)
{
    job *j = s->next;
    if (!j)
        return;
    j->state = j->sweeps ? JOB_READY : JOB_PENDING;
    j->next_k = j->sweeps ? s->next_k : j->next_k;
    s->next = NULL;
}

/* What the worker of slot s has to say: the result of its run, and, when
 * it went on to a queued one, that one's too once it is in. */
static void worker_news(hx_sched *S, slot *s)
{
    int i = (int)(s - S->slots);
    hx_worker *w = &S->workers[i];
    for (;;) {
        outcome o = {0};
        hx_worker_event ev = hx_worker_take_raw(w, &o.res, &o.raw, &o.st, &o.fired);
        if (ev == HX_WORKER_WAITING)
            return;
        S->oom |= w->child.oom;
        job *j = s->j;
        uint64_t k = s->k;
        if (ev == HX_WORKER_DIED)
            o = made(failed_run(S, j, k, &w->child), 0);
        if (ev == HX_WORKER_LOST)
            o = made(requeue(S, j, k, &w->child), 0);
        if (ev == HX_WORKER_DIED || ev == HX_WORKER_LOST)
            hx_worker_free(w);
        if (!w->up)
            S->watch[S->nslots + i] = NULL;
        if (ev == HX_WORKER_ENDED || !s->on_worker) {
            json_decref(o.res); /* NULL: an idle worker ended */
            json_decref(o.raw);
            return;
        }
        /* the worker went on to the queued run (hx_worker_take_raw) */
        job *next = ev == HX_WORKER_RESULT && w->up && w->busy ? s->next : NULL;
        uint64_t next_k = s->next_k;
        if (next) {
            s->j = next;
            s->k = next_k;
            s->next = NULL;
        } else {
            unqueue(s);
            release(S, s);
        }
        if (ev != HX_WORKER_LOST || j->state == JOB_RUNNING)
            record(S, j, k, o);
        if (!next)
            return;
    }
}

/* Behind each worker that runs a quick request (no start-up work), the
 * next run, when it can go there too: the worker goes on to it as soon as
 * it is done, without waiting for the parent to read its result and send
 * another (hx_worker_queue). Runs are still taken in order: a next run
 * that cannot be queued waits for a free slot (start_run). Not under
 * --fail-fast, where a run queued behind a failure would still run. */
static void queue_more(hx_sched *S)
{
    if (S->o.fail_fast || S->stop || S->held || interrupted)
        return;
    for (int i = 0; i < S->nslots; i++) {
        slot *s = &S->slots[i];
        hx_worker *w = &S->workers[i];
        if (!s->j || !s->on_worker || s->next || !w->up || !w->busy || !w->quick || w->queued)
            continue;
        job *j = next_job(S);
        if (!j || j->iso != HX_ISO_WORKER || has_startup(S, j->c))
            return;
        uint64_t k = j->sweeps ? j->next_k : 0;
        if (hx_worker_queue(w, (size_t)(j - S->jobs), k, case_timeout(S, j->c)) != LG_OK)
            continue; /* gone: hx_child_poll tells */
        j->state = JOB_RUNNING;
        s->next = j;
        s->next_k = k;
    }
}

static void wait_some(hx_sched *S)
{
    hx_child_poll(S->watch, 2 * S->nslots, 1.0);
    if (interrupted) /* a child the signal killed too is not a crash */
        return;
    for (int i = 0; i < S->nslots; i++) {
        slot *s = &S->slots[i];
        if (s->j && !s->on_worker && hx_child_done(&s->child))
            finish(S, s);
        if (S->workers[i].up)
            worker_news(S, s);
    }
}

static void stop_workers(hx_sched *S)
{
    for (int i = 0; i < S->nslots; i++) /* all told first: they exit together */
        hx_worker_end(&S->workers[i]);
    for (int i = 0; i < S->nslots; i++) {
        hx_worker_stop(&S->workers[i]);
        S->watch[S->nslots + i] = NULL;
    }
}

/* On an interruption: every child and worker is killed and reaped; the
 * runs they had are not run (hx_sched_collect). */
static void kill_all(hx_sched *S)
{
    for (int i = 0; i < S->nslots; i++) {
        slot *s = &S->slots[i];
        hx_worker *w = &S->workers[i];
        if (s->j && !s->on_worker) {
            hx_child_kill(&s->child);
            hx_child_free(&s->child);
        }
        if (s->j)
            release(S, s);
        if (w->up) {
            hx_child_kill(&w->child);
            hx_worker_free(w);
            w->up = w->busy = 0;
        }
        S->watch[S->nslots + i] = NULL;
    }
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
        while (S->nactive < S->nslots && !S->held && !S->stop && !interrupted &&
               (j = next_job(S)))
            start_run(S, j);
        queue_more(S);
        if (interrupted)
            kill_all(S);
        if (!S->nactive)
            break;
        wait_some(S);
        S->held = 0;
    }
    stop_workers(S);
    hx_run_copy_end();
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
    return HX_ISO_WORKER;
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
                       1, json_array(), 0};
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
    S->nslots = o->jobs < 1 ? 1 : o->jobs > HX_SCHED_JOBS_MAX ? HX_SCHED_JOBS_MAX : o->jobs;
    S->slots = calloc((size_t)S->nslots, sizeof *S->slots);
    S->workers = calloc((size_t)S->nslots, sizeof *S->workers);
    S->watch = calloc(2 * (size_t)S->nslots, sizeof *S->watch);
    if (!S->slots || !S->workers || !S->watch || make_jobs(S, suites, nsuites)) {
        hx_sched_free(S);
        return hx_err(LG_E_NOMEM, "out of memory");
    }
    *out = S;
    return LG_OK;
}

/* The result of a case an interruption kept from running: a skip. */
static lg_status add_not_run(const hx_sched *S, const job *j, hx_report *rep)
{
    char why[64], sig[32];
    hx_run_opts o = opts_for(S, 0);
    snprintf(why, sizeof why, "not run: interrupted by %s",
             hx_signal_name(interrupted, sig, sizeof sig));
    return hx_report_add(rep, hx_result_new(j->c, j->index, &o, HX_ST_SKIP, why));
}

/* The result of run k of j whose text, kept as a child wrote it, is not
 * a result (hx_result_parse_head reads only what comes before it): a
 * crash, as for a child that wrote no result. */
static json_t *unreadable(const hx_sched *S, const job *j, uint64_t k)
{
    hx_run_opts o = opts_for(S, k);
    return hx_result_new(j->c, j->index, &o, HX_ST_CRASH,
                         "the child's result line could not be read: not a result object");
}

lg_status hx_sched_collect(const hx_sched *S, hx_report *rep, size_t *not_run)
{
    *not_run = 0;
    for (size_t i = 0; i < S->njobs; i++) {
        size_t k;
        json_t *res;
        if (!json_array_size(S->jobs[i].results)) {
            (*not_run)++;
            if (interrupted && add_not_run(S, &S->jobs[i], rep) != LG_OK)
                return LG_E_NOMEM;
        }
        json_array_foreach(S->jobs[i].results, k, res) {
            const char *text = json_string_value(res);
            json_t *r = hx_json_parse(text, json_string_length(res), 0);
            if (!hx_json_lost() &&
                (!json_is_object(r) || !hx_json_get_str(r, "id") || !hx_json_get_str(r, "status"))) {
                json_decref(r); /* a sweep's runs are kept in order, from k = 1 */
                r = unreadable(S, &S->jobs[i], S->jobs[i].sweeps ? (uint64_t)k + 1 : 0);
            }
            lg_status st = hx_report_add(rep, r);
            if (st != LG_OK)
                return st;
        }
    }
    return LG_OK;
}

size_t hx_sched_selected(const hx_sched *S) { return S->njobs; }

void hx_sched_free(hx_sched *S)
{
    if (!S)
        return;
    for (size_t i = 0; S->jobs && i < S->njobs; i++)
        json_decref(S->jobs[i].results);
    free(S->jobs);
    free(S->slots);
    free(S->workers);
    free(S->watch);
    hx_require_memo_free(&S->memo);
    free(S);
}
