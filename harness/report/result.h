/* The result object of one case: a jansson object in the report.json
 * case schema (docs/report.md), made before the case runs and filled in
 * from its load's outcome. The runner decides the status; this file only
 * says how a result is written down. */
#ifndef HX_RESULT_H
#define HX_RESULT_H

#include "case/case.h"
#include "invariants.h"
#include "report/report.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The result object of case c (index: its position in its suite) with
 * nothing run yet: report id id (a sweep run's id; NULL = c->id), the
 * backend it runs on, sweep run k (0 = none), status st and reason (NULL =
 * none); actual outcome null, every invariant n/a, and for a corrupted
 * case its label and class ("corrupt", "corrupt_class"). NULL when out of
 * memory. */
json_t *hx_result_make(const hx_case *c, const char *id, size_t index, const char *backend,
                       uint64_t k, hx_status st, const char *reason);

/* Fills in actual, invariants, invariant_failures, trace (its first
 * trace_max events, and trace_dropped when there were more), moved and
 * policy_used of r from a load that ran. LG_OK or LG_E_NOMEM. */
lg_status hx_result_fill(json_t *r, const hx_outcome *out, size_t trace_max);

/* The backend c runs on: override (--backend) when not NULL, else the
 * case's, else "sim". */
const char *hx_case_backend(const hx_case *c, const char *override);

/* The outcome c's expectations ask for: an `error:` or `message:`
 * without `outcome:` asks for an error. */
hx_outcome_kind hx_wanted_outcome(const hx_expect *e);
#endif
