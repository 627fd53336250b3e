/* The side-by-side invariant table of summary.md and index.html: per
 * invariant, how many cases of the run held it and how many broke it
 * under the policy tch (tch-rs's VarStore::load as written) and under
 * via-cpu (loadgate's repaired version of it). Computed from the case
 * objects of a report (docs/report.md), merged ones included. */
#ifndef HX_POLICIES_H
#define HX_POLICIES_H

#include "loadgate/loadgate.h"

#include <jansson.h>
#include <stdio.h>

/* {"policies": ["tch", "via-cpu"], "cases": {"tch": N, "via-cpu": M},
 *  "invariants": [{"invariant": "atomic", "tch": {"held": a, "broken": b},
 *  "via-cpu": {...}}, ...]} (a new reference), or NULL when the run has
 * no tch case that ran, or when out of memory. Skipped cases are left
 * out; an invariant that does not apply to a case (n/a) is not counted. */
json_t *hx_policy_table(const json_t *cases);

/* Writes "## tch-rs's pattern beside via-cpu" with the table, or nothing
 * when hx_policy_table gives none. LG_E_IO on a write error. */
lg_status hx_policy_table_md(FILE *f, const json_t *cases);
#endif
