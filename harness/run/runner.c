/* What is left here belongs elsewhere and is being moved by its owners:
 * hx_result_new (the result object of a case as run with hx_run_opts) and
 * hx_case_skips_early (requirements decided before a child starts), with
 * torch_built, which only the latter uses. One case is run by exec.c, the
 * cases of a run are scheduled by sched.c. */
#include "run/runner.h"
#include "case/require.h"
#include "report/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int torch_built(void)
{
    return strstr(lg_backends_built(), "torch") != NULL;
}

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

int hx_case_skips_early(const hx_case *c, const hx_run_opts *o, char *why, size_t n)
{
    if (c->skip) {
        snprintf(why, n, "%s", c->skip);
        return 1;
    }
    if (strcmp(hx_case_backend(c, o ? o->backend : NULL), "torch"))
        return 0; /* sim overrides come first there, in the child */
    for (size_t i = 0; i < c->nrequires; i++) {
        hx_require q;
        if (hx_require_parse(c->requires[i], &q) != LG_OK || hx_require_needs_backend(&q))
            return 0; /* the child answers (a device) or fails it (not a requirement) */
        if (hx_require_eval(&q, c->requires[i], NULL, why, n))
            return 1;
    }
    if (torch_built())
        return 0;
    snprintf(why, n, "backend torch: not in this build");
    return 1;
}
