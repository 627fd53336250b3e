/* harness compare (cmd/compare.c): the comparison of two reports as one
 * JSON object (schema loadgate-compare/1, docs/cli.md), and its Markdown
 * (cmd/compare_md.c). */
#ifndef HX_CMD_COMPARE_H
#define HX_CMD_COMPARE_H

#include <jansson.h>
#include <stddef.h>

#define HX_COMPARE_SCHEMA "loadgate-compare/1"
/* The Markdown's size limit: half of GitHub's 1 MiB job summary. */
#define HX_COMPARE_MD_CAP (512u * 1024u)

/* The comparison object as Markdown, at most cap bytes: lists of more
 * than a few dozen cases are grouped by case name, and what does not fit
 * is left out with a note saying what was cut. malloc'd; NULL when out of
 * memory. */
char *hx_compare_md(const json_t *cmp, size_t cap);
#endif
