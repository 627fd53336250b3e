/* Run reports (docs/report.md): the in-memory result list of a run and
 * the files written from it: report.json (schema loadgate-report/1),
 * junit.xml, summary.md and index.html. Every case result is a jansson
 * object in the report.json case schema, so that a forked or spawned child
 * can hand it to the parent as text and `harness merge` can read it back. */
#ifndef HX_REPORT_H
#define HX_REPORT_H

#include <jansson.h>
#include <stddef.h>

#define HX_REPORT_SCHEMA "loadgate-report/1"

typedef enum {
    HX_ST_PASS, HX_ST_FAIL, HX_ST_SKIP, HX_ST_XFAIL, HX_ST_XPASS, HX_ST_CRASH,
    HX_ST_TIMEOUT, HX_ST_COUNT
} hx_status;

const char *hx_status_name(hx_status s);              /* "pass" */
int hx_status_parse(const char *s, hx_status *out);   /* 0 on success */
/* fail, xpass, crash and timeout fail the run. */
int hx_status_fails_run(hx_status s);
/* The status of a case object; HX_ST_FAIL when it has none or a bad one. */
hx_status hx_case_status(const json_t *c);

/* Report formats, for --format. */
enum { HX_FMT_JSON = 1, HX_FMT_JUNIT = 2, HX_FMT_MD = 4, HX_FMT_HTML = 8, HX_FMT_ALL = 15 };
/* "junit,json,md,html" -> mask; 0 on success, -1 on an unknown name. */
int hx_formats_parse(const char *s, unsigned *out);

typedef struct {
    json_t *environment; /* object; hx_environment() */
    json_t *run;         /* object describing the invocation, or NULL */
    json_t *cases;       /* array of case objects, in report order */
    double duration_s;   /* wall time of the run */
} hx_report;

/* 0, or -1 when out of memory. environment and run start as NULL. */
int hx_report_init(hx_report *r);
void hx_report_free(hx_report *r);
/* Appends a case object; takes the reference (also on failure). */
int hx_report_add(hx_report *r, json_t *c);
/* Counts by status: passed, failed, ... (a new reference). */
json_t *hx_report_summary(const hx_report *r);
/* The whole report.json document (a new reference). */
json_t *hx_report_json(const hx_report *r);
/* Reads a report.json. 0, or -1 with a message in err. */
int hx_report_load(const char *path, hx_report *r, char *err, size_t errlen);

/* The machine and build: loadgate, libtorch, backends, devices, commit,
 * host (a new reference, NULL when out of memory). */
json_t *hx_environment(void);

/* Writers. 0, or -1 with errno set / a message on stderr. */
int hx_report_write_json(const hx_report *r, const char *path);
int hx_report_write_junit(const hx_report *r, const char *path);
int hx_report_write_md(const hx_report *r, const char *path);
int hx_report_write_html(const hx_report *r, const char *path); /* html.c */
/* Creates dir (and its parents) and writes the chosen formats into it:
 * report.json junit.xml summary.md index.html. */
int hx_report_write_all(const hx_report *r, const char *dir, unsigned formats);
/* mkdir -p. 0 or -1 with errno. */
int hx_mkdirs(const char *dir);

/* Text helpers shared by the writers and the runner. */
/* A copy of s that is valid UTF-8: each invalid byte becomes U+FFFD. */
char *hx_utf8_clean(const char *s);
/* A JSON string of s after hx_utf8_clean, json null for NULL s. NULL only
 * when out of memory. */
json_t *hx_json_str(const char *s);
/* The string member key of object o, or NULL (also when o is not an object). */
const char *hx_json_get_str(const json_t *o, const char *key);
#endif
