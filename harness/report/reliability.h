/* The reliability table of summary.md: per corruption class and per fault
 * point, the cases run and passed (docs/reliability.md). Computed from the
 * case objects of a report (docs/report.md), so that it works on any
 * report.json, merged ones included. */
#ifndef HX_RELIABILITY_H
#define HX_RELIABILITY_H

#include "loadgate/loadgate.h"

#include <jansson.h>
#include <stdio.h>

/* The corruption class name of a case object: its "corrupt_class" member;
 * for a report written before cases recorded it, the class of its
 * corruption label ("corrupt" member, else params.corrupt) by
 * hx_corrupt_class_of_label. NULL when the case has no corruption. */
const char *hx_case_corrupt_class(const json_t *c);

/* Writes "## Reliability" and its two tables (corruption classes, fault
 * points) for the case objects in cases (a JSON array). Writes nothing
 * when no case has a corruption or a fault. LG_E_NOMEM, or LG_E_IO on a
 * write error. */
lg_status hx_reliability_md(FILE *f, const json_t *cases);
#endif
