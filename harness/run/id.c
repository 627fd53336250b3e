/* Sweep runs' ids: a sweep run of case ID is reported as ID with its k
 * inside the brackets (runner.h), and the result object that carries it. */
#include "report/result.h"
#include "run/runner.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

uint64_t hx_sweep_k(const char *id)
{
    size_t cut;
    return sweep_k_of(id, &cut);
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
