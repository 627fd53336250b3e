/* The reliability table of summary.md: per corruption class and per fault
 * point, the cases run and passed (docs/reliability.md). Computed from the
 * case objects of a report (docs/report.md), so that it works on any
 * report.json, merged ones included. */
#ifndef HX_RELIABILITY_H
#define HX_RELIABILITY_H

#include <jansson.h>
#include <stdio.h>

/* The class of a corruption label ("truncate:7" -> "truncate",
 * "flip:3:all" -> "flip every byte", "flip:3:2" -> "flip bit",
 * "flip:random4:seed1" -> "flip random", "zero:0:8" -> "zero",
 * "splice:x:0:8@0" -> "splice", "safetensors:offsets-gap" ->
 * "safetensors"), or NULL for no corruption ("none", NULL). */
const char *hx_corruption_class(const char *label);

/* The corruption label of a case object: its "corrupt" member when the
 * runner records one, else params.corrupt; NULL when neither is there. */
const char *hx_case_corruption(const json_t *c);

/* Writes "## Reliability" and its two tables (corruption classes, fault
 * points) for the case objects in cases (a JSON array). Writes nothing
 * when no case has a corruption or a fault. Returns 0, or -1 when out of
 * memory or on a write error. */
int hx_reliability_md(FILE *f, const json_t *cases);
#endif
