/* The scheduler of `harness run`: selects the cases of the suites, runs
 * each (and each run of a sweep) on a worker (a long-lived child), in a
 * forked or spawned child, or in this process, up to N at once, and
 * collects the results in case order (docs/runner.md). It prints nothing:
 * progress goes to a callback. */
#ifndef HX_SCHED_H
#define HX_SCHED_H

#include "case/case.h"
#include "loadgate/loadgate.h"
#include "report/report.h"
#include "run/runner.h"
#include "run/worker.h" /* hx_result_emit */

#include <jansson.h>
#include <stddef.h>

/* Where a case runs: per case (worker, or spawn for torch on cuda or
 * mps), a forked child, a fresh harness process (`__run-one`), this
 * process, one of N long-lived workers (run/worker.h). */
enum { HX_ISO_DEFAULT, HX_ISO_FORK, HX_ISO_SPAWN, HX_ISO_NONE, HX_ISO_WORKER };

/* -j at most: each slot watches a child and a worker (HX_CHILD_POLL_MAX). */
#define HX_SCHED_JOBS_MAX 256

/* Counts of runs (a sweep's runs count one each) for a progress line. */
typedef struct {
    size_t done, total, failing; /* total grows as sweeps go on */
    double elapsed_s;
    int final; /* the last call, after every run */
    size_t errors; /* setup errors (HX_ST_ERROR), apart from failing */
} hx_progress;

typedef struct {
    hx_run_opts run;     /* backend override, seed and cache folder of every run */
    int jobs;            /* runs at once (and workers), 1 .. HX_SCHED_JOBS_MAX */
    int isolation;       /* HX_ISO_* */
    double timeout;      /* seconds per run when has_timeout (0: none) ... */
    int has_timeout;     /* ... else each case's own timeout */
    int fail_fast;       /* start nothing new after a run fails or errs */
    const char *pattern; /* -k, or NULL */
    int shard_i, shard_n;
    const json_t *rerun; /* only the case ids that are keys of this object; NULL: all */
    const char *keep_dir; /* --keep-failed: the input of each run that fails is
                             kept there (run/keep.h); NULL: none. A setup
                             error has no input to keep */
    void (*progress)(void *ctx, const hx_progress *p); /* after each run; NULL: none */
    void *ctx;
} hx_sched_opts;

typedef struct hx_sched hx_sched;

/* The runs of the selected cases of the suites (which must outlive it).
 * LG_OK, or LG_E_NOMEM. */
lg_status hx_sched_new(const hx_sched_opts *o, const hx_suite *suites, int nsuites,
                       hx_sched **out);
/* Writes the generated fixtures once, then runs everything. LG_OK, or
 * LG_E_NOMEM when a result could not be kept (the runs stop). */
lg_status hx_sched_run(hx_sched *s);
/* Adds every result to rep, in case order (a sweep's runs in k order);
 * *not_run receives the selected cases never started (--fail-fast, or an
 * interruption: those are added as skips, see hx_sched_interrupt). */
lg_status hx_sched_collect(const hx_sched *s, hx_report *rep, size_t *not_run);
size_t hx_sched_selected(const hx_sched *s); /* cases selected */

/* Interruption (SIGINT, SIGTERM; docs/runner.md): async-signal-safe, for
 * a signal handler. The running hx_sched_run starts nothing more, kills
 * its children and workers and returns; hx_sched_collect then reports
 * every case never finished as a skip "not run: interrupted by SIGx". */
void hx_sched_interrupt(int sig);
/* The signal that interrupted the run, or 0. */
int hx_sched_interrupted(void);
void hx_sched_free(hx_sched *s);
#endif
