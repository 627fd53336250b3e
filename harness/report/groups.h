/* Failing cases grouped by error code and message pattern (docs/report.md):
 * what summary.md and `harness run` show in place of every failing line
 * once there are many. A pattern is the case's reason with numbers, hex,
 * paths and quoted names replaced by placeholders, so that 3,000
 * truncations of one file at 3,000 offsets are one group. */
#ifndef HX_GROUPS_H
#define HX_GROUPS_H

#include "loadgate/loadgate.h"
#include "report/report.h"

#include <jansson.h>
#include <stddef.h>

/* Failing cases listed one by one (summary.md, harness run's output) up
 * to this many; past it, only the groups. */
#define HX_FAIL_LINES_MAX 20
/* Examples kept per group. */
#define HX_GROUP_EXAMPLES 3

typedef struct {
    char *code;    /* status and error code: "fail LG_E_FORMAT", "crash" */
    char *pattern; /* the normalized reason */
    size_t count;
    size_t first; /* the index of its first case: ties keep report order */
    const json_t *examples[HX_GROUP_EXAMPLES]; /* borrowed case objects */
    size_t nexamples;
} hx_fail_group;

typedef struct {
    hx_fail_group *g; /* largest first; ties in order of first appearance */
    size_t n;
    size_t failing; /* the sum of the counts: every case that fails the run */
} hx_fail_groups;

/* The failing cases of cases (hx_status_fails_run), grouped. The groups
 * borrow the case objects. LG_OK, or LG_E_NOMEM. */
lg_status hx_fail_groups_make(const json_t *cases, hx_fail_groups *out);
/* The same for the setup errors (status error), which are grouped apart
 * from the failures; out->failing then counts them. */
lg_status hx_error_groups_make(const json_t *cases, hx_fail_groups *out);
void hx_fail_groups_free(hx_fail_groups *g);
/* The pattern of message s (malloc'd; NULL when out of memory): digits
 * runs -> N, 0x hex -> 0xH, words holding '/' -> PATH, '...' and "..." ->
 * '…' and "…". */
char *hx_message_pattern(const char *s);
#endif
