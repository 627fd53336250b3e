/* Run reports (docs/report.md): the in-memory list of case results of a
 * run, and the files written from it: report.json (schema
 * loadgate-report/1), junit.xml, summary.md and index.html. Every case
 * result is a jansson object in the report.json case schema (result.h),
 * so that a forked or spawned child can hand it to the parent as text and
 * `harness merge` can read it back. Functions that can fail return
 * lg_status with a message in hx_errmsg() (util/error.h). */
#ifndef HX_REPORT_H
#define HX_REPORT_H

#include "loadgate/loadgate.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define HX_REPORT_SCHEMA "loadgate-report/1"

/* HX_ST_ERROR, a setup error (the case's fixture is missing, does not
 * open, or cannot be generated), came after the first seven: it is not a
 * failure, and is counted apart from them (docs/report.md). */
typedef enum {
    HX_ST_PASS, HX_ST_FAIL, HX_ST_SKIP, HX_ST_XFAIL, HX_ST_XPASS, HX_ST_CRASH,
    HX_ST_TIMEOUT, HX_ST_ERROR, HX_ST_COUNT
} hx_status;

const char *hx_status_name(hx_status s);              /* "pass" */
int hx_status_parse(const char *s, hx_status *out);   /* 0 on success */
/* The summary's key for s: "passed", "failed", ... */
const char *hx_status_summary_key(hx_status s);
/* fail, xpass, crash and timeout fail the run. */
int hx_status_fails_run(hx_status s);
/* Did the case not come out as it should: a failure (hx_status_fails_run)
 * or a setup error? What --rerun-failed runs again and compare counts. */
int hx_status_not_ok(hx_status s);
/* The counts of failing cases and of setup errors of a report's cases. */
size_t hx_count_failing(const json_t *cases);
size_t hx_count_errors(const json_t *cases);
/* "FAILED", "ERROR", "ERROR, FAILED" or "PASSED": the verdict of a run
 * with that many failing cases and setup errors. */
const char *hx_run_verdict(size_t failing, size_t errors);
/* The status of a case object; HX_ST_FAIL when it has none or a bad one. */
hx_status hx_case_status(const json_t *c);

/* Report formats, for --format. */
enum { HX_FMT_JSON = 1, HX_FMT_JUNIT = 2, HX_FMT_MD = 4, HX_FMT_HTML = 8, HX_FMT_ALL = 15 };
/* "junit,json,md,html" -> mask; LG_E_INVALID on an unknown name. */
lg_status hx_formats_parse(const char *s, unsigned *out);

typedef struct {
    json_t *environment; /* object; hx_environment() */
    json_t *run;         /* object describing the invocation, or NULL */
    json_t *cases;       /* array of case objects, in report order */
    double duration_s;   /* wall time of the run */
    char interrupted[64]; /* "interrupted by SIGINT" when a signal stopped the
                             run (summary.interrupted_reason); "" when not */
    json_t *history;     /* --history: the last runs' lines, this one last
                            (report/history.h), drawn by index.html; or NULL */
} hx_report;

/* LG_OK, or LG_E_NOMEM. environment and run start as NULL. */
lg_status hx_report_init(hx_report *r);
void hx_report_free(hx_report *r);
/* Adds run_id (unique: start time, pid and random bits) and duration_s
 * to r->run, creating it when NULL; LG_OK or LG_E_NOMEM. */
lg_status hx_report_stamp(hx_report *r);
/* Appends a case object; takes the reference (also on failure). */
lg_status hx_report_add(hx_report *r, json_t *c);
/* Counts by status: passed, failed, ..., and interrupted (a new reference). */
json_t *hx_report_summary(const hx_report *r);

/* Case counts of a group of cases, for the writers' tables. */
typedef struct {
    size_t n[HX_ST_COUNT]; /* by status */
    size_t total;
    double time;           /* the sum of the cases' duration_s */
} hx_counts;
void hx_counts_add(hx_counts *k, const json_t *c);
/* The counts of the cases in suite, or of every case for suite NULL. */
hx_counts hx_counts_of(const json_t *cases, const char *suite);
/* The suite names of cases in order of first appearance (strings borrowed
 * from cases, "" for a case without one) in a malloc'd array; NULL when
 * out of memory. */
const char **hx_suite_order(const json_t *cases, size_t *n);
/* Is c in suite (a case without a suite is in "")? */
int hx_case_in_suite(const json_t *c, const char *suite);

/* json.c: the whole report.json document (a new reference), and reading
 * one back (LG_E_IO for a file that cannot be read, LG_E_FORMAT for one
 * that is not a loadgate-report/1 report). */
json_t *hx_report_json(const hx_report *r);
lg_status hx_report_load(const char *path, hx_report *r);

/* environment.c: the machine and build: loadgate, libtorch, backends,
 * devices, commit, host (a new reference, NULL when out of memory). */
json_t *hx_environment(void);

/* Writers, one file each (json.c, junit.c, md.c, html.c). */
lg_status hx_report_write_json(const hx_report *r, const char *path);
lg_status hx_report_write_junit(const hx_report *r, const char *path);
lg_status hx_report_write_md(const hx_report *r, const char *path);
lg_status hx_report_write_html(const hx_report *r, const char *path);
/* Opens path, hands the file and the report's suites in order of first
 * appearance (hx_suite_order) to body, and closes it: the frame of the
 * writers that go suite by suite. body's failure, with path prefixed to
 * its message, or the file's. */
typedef lg_status (*hx_report_body)(FILE *f, const hx_report *r, const char **suites,
                                    size_t nsuites);
lg_status hx_report_write_with(const hx_report *r, const char *path, hx_report_body body);
/* Creates dir (and its parents) and writes the chosen formats into it:
 * report.json junit.xml summary.md index.html. Every chosen file is
 * attempted; the first failure is returned. */
lg_status hx_report_write_all(const hx_report *r, const char *dir, unsigned formats);
/* Removes the files a run writes into dir (the four above), so that no
 * report of an earlier run stays beside the new ones; a missing dir or
 * file is fine. LG_OK, or LG_E_IO naming the file that stayed. */
lg_status hx_report_clean(const char *dir);
/* summary.md is cut to this many bytes, with a note of what was cut. */
#define HX_MD_MAX (512 * 1024)
#endif
