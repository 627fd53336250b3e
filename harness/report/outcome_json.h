/* The one JSON encoding of a load's outcome (invariants.h's hx_outcome):
 * its trace, invariant verdicts and failures, and bytes moved. Used by the
 * report's case objects (result.h) and by `harness load --json`, so both
 * print the same thing. Every string that can come from the file (tensor
 * names, messages, the invariants' reasons) goes through hx_json_str:
 * the output is valid UTF-8 whatever a damaged file held. Each returns a
 * new reference, NULL only when out of memory. */
#ifndef HX_OUTCOME_JSON_H
#define HX_OUTCOME_JSON_H

#include "invariants.h"

#include <jansson.h>
#include <stddef.h>

/* The first max events of t as an array of {seq, op, tensor, from, to,
 * bytes, ok, detail} (detail null when the event has none); *dropped
 * receives how many were left out (dropped may be NULL). */
json_t *hx_outcome_trace_json(const lg_trace *t, size_t max, size_t *dropped);
/* {"via-cpu": "pass", ...}: every invariant's verdict. */
json_t *hx_outcome_verdicts_json(const hx_verdict v[HX_INV_COUNT]);
/* {"atomic": "why"}: the reason of each failed invariant. */
json_t *hx_outcome_failures_json(const hx_outcome *o);
/* {"cpu->mps": 8192}: bytes moved per device type pair, pairs with none
 * left out. */
json_t *hx_outcome_moved_json(const hx_outcome *o);
#endif
