/* What is left here belongs elsewhere and is being moved by its owner:
 * hx_result_new (the result object of a case as run with hx_run_opts).
 * One case is run by exec.c, the cases of a run are scheduled by sched.c;
 * what skips before a child starts is case/require.h's
 * hx_case_skips_early. */
#include "run/runner.h"
#include "report/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- result object */

/* The result object (report/result.h) of c as run with o: its report id
 * carries a sweep run's k. */
json_t *hx_result_new(const hx_case *c, size_t index, const hx_run_opts *o, hx_status st,
                      const char *reason)
{
    uint64_t k = o ? o->sweep_k : 0;
    char *id = k ? hx_sweep_id(c->id, k) : NULL;
    json_t *r = NULL;
    if (!k || id)
        r = hx_result_make(c, id, index, hx_case_backend(c, o ? o->backend : NULL), k, st, reason);
    free(id);
    return r;
}
