/* One case run and checked in this process (exec.c), and the ids of a
 * sweep's runs (id.c). The scheduler that runs every selected case in a
 * child is sched.h; docs/runner.md tells the whole behaviour. */
#ifndef HX_RUNNER_H
#define HX_RUNNER_H

#include "case/case.h"
#include "report/report.h"

#include <stdint.h>

/* A sweep stops with an error past this many runs. */
#define HX_SWEEP_MAX 10000
/* Trace events kept per case in a report; the rest are counted. */
#define HX_TRACE_MAX 2000

typedef struct {
    const char *backend;   /* --backend override; NULL = the case's */
    uint64_t seed;         /* --seed: added to every prob fault's and random flip's seed */
    const char *cache_dir; /* generated fixtures and corrupted copies */
    uint64_t sweep_k;      /* the K of a sweep run; 0 = not a sweep run */
    int paranoid;          /* --paranoid: atomic and values compare bytes, not digests */
    const char *scratch_dir; /* small corrupted copies (run/cache.h); NULL, "": cache_dir */
    int reuse_copy; /* the corrupted copy is this process's, kept for its next case
                     * (worker, none): hx_run_copy_end removes it */
} hx_run_opts;

/* Runs case c (index: its position in its suite) in this process and
 * returns its result object (docs/report.md; NULL only when out of
 * memory). *fired receives how many times its sweep faults fired (every
 * fault when it has no sweep). */
json_t *hx_run_case(const hx_case *c, size_t index, const hx_run_opts *o, uint64_t *fired);
/* Removes the corrupted copy this process kept between its cases
 * (hx_run_opts.reuse_copy), if any. */
void hx_run_copy_end(void);

/* The result object of c with nothing run yet: status, reason (NULL = none)
 * and sweep k (0 = none) filled in, actual outcome null, every invariant
 * n/a. NULL when out of memory. */
json_t *hx_result_new(const hx_case *c, size_t index, const hx_run_opts *o, hx_status st,
                      const char *reason);

/* Does any of c's faults sweep? */
int hx_case_sweeps(const hx_case *c);
/* The id of sweep run k of a case: `,k=K` (or `[k=K]`) appended inside the
 * brackets. Returns malloc'd text or NULL. */
char *hx_sweep_id(const char *id, uint64_t k);
/* The case id a report id belongs to: the id without a sweep's k.
 * Returns malloc'd text or NULL. */
char *hx_base_id(const char *id);
/* The k of a sweep run's id (`,k=K]` or `[k=K]`), or 0 for any other id. */
uint64_t hx_sweep_k(const char *id);
#endif
