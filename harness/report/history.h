/* --history DIR: one JSON line per run appended to DIR/history.jsonl
 * (docs/report.md, History), and the last runs read back for index.html's
 * trend chart. */
#ifndef HX_HISTORY_H
#define HX_HISTORY_H

#include "report/report.h"

#define HX_HISTORY_FILE "history.jsonl"
/* index.html draws this many runs, the newest last. */
#define HX_HISTORY_MAX 50

/* The line of report r (stamped: hx_report_stamp): run_id, started,
 * duration_s, interrupted, counts by status, loadgate, libtorch and
 * commit. A new reference, NULL when out of memory. */
json_t *hx_history_line(const hx_report *r);

/* Creates dir, appends r's line to dir/history.jsonl and sets r->history
 * to the file's last HX_HISTORY_MAX lines. A line that is not a JSON
 * object is left out of r->history and reported, after the append, as
 * LG_E_FORMAT naming the file and line; LG_E_IO when the file cannot be
 * written. */
lg_status hx_history_append(hx_report *r, const char *dir);
#endif
