/* junit.xml (docs/report.md): one testsuite per suite, one testcase per
 * case object; the counts equal the JSON summary's. */
#include "report/report.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int xml_allowed(unsigned long c)
{
    return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
           (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* Writes s escaped for XML text (attr = 0) or an attribute value; drops
 * invalid UTF-8 and the characters XML 1.0 forbids. */
static void xml_put(FILE *f, const char *s, int attr)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned long c;
        int n = hx_utf8_decode(p, &c);
        if (!n) {
            p++;
            continue;
        }
        if (!xml_allowed(c))
            ;
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&apos;", f);
        else if (attr && (c == '\n' || c == '\r' || c == '\t'))
            fprintf(f, "&#%lu;", c);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}

/* The counts of a testsuite (skipped: 1) or of the root, which the xUnit
 * schema gives no skipped attribute (tests/data/junit/README.md). */
static void junit_counts(FILE *f, const hx_counts *k, int skipped)
{
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\"", k->total,
            k->n[HX_ST_FAIL] + k->n[HX_ST_XPASS],
            k->n[HX_ST_CRASH] + k->n[HX_ST_TIMEOUT] + k->n[HX_ST_ERROR]);
    if (skipped)
        fprintf(f, " skipped=\"%zu\"", k->n[HX_ST_SKIP] + k->n[HX_ST_XFAIL]);
    fprintf(f, " time=\"%.3f\"", k->time);
}

/* The case file of a suite: the "source" of its first case without the
 * line ("cases/mps.yaml:12" -> "cases/mps.yaml"); NULL when unknown. */
static void junit_file(FILE *f, const json_t *cases, const char *suite)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *src = hx_json_get_str(c, "source");
        if (!hx_case_in_suite(c, suite) || !src)
            continue;
        const char *colon = strrchr(src, ':');
        size_t n = colon ? (size_t)(colon - src) : strlen(src);
        char *path = strndup(src, n);
        fputs(" file=\"", f);
        xml_put(f, path ? path : "", 1);
        fputc('"', f);
        free(path);
        return;
    }
}

/* timestamp, hostname and file of a testsuite, where the report knows them. */
static void junit_suite_attrs(FILE *f, const hx_report *r, const char *suite)
{
    const char *started = hx_json_get_str(r->run, "started");
    const char *host = hx_json_get_str(json_object_get(r->environment, "host"), "name");
    if (started) {
        fputs(" timestamp=\"", f);
        xml_put(f, started, 1);
        fputc('"', f);
    }
    if (host) {
        fputs(" hostname=\"", f);
        xml_put(f, host, 1);
        fputc('"', f);
    }
    junit_file(f, r->cases, suite);
}

/* An interrupted run says so in every testsuite's properties. */
static void junit_properties(FILE *f, const hx_report *r)
{
    if (!r->interrupted[0])
        return;
    fputs("    <properties>\n      <property name=\"interrupted\" value=\"", f);
    xml_put(f, r->interrupted, 1);
    fputs("\"/>\n    </properties>\n", f);
}

/* The body of a failure or error: reason, message and stderr. */
static void junit_detail(FILE *f, const json_t *c)
{
    const json_t *act = json_object_get(c, "actual");
    const char *msg = hx_json_get_str(act, "message");
    const char *err = hx_json_get_str(c, "stderr");
    xml_put(f, hx_json_get_str(c, "reason"), 0);
    if (msg && *msg) {
        fputs("\nmessage: ", f);
        xml_put(f, msg, 0);
    }
    if (err && *err) {
        fputs("\nstderr:\n", f);
        xml_put(f, err, 0);
    }
}

static void junit_case(FILE *f, const json_t *c)
{
    hx_status st = hx_case_status(c);
    const char *reason = hx_json_get_str(c, "reason");
    fputs("    <testcase name=\"", f);
    xml_put(f, hx_json_get_str(c, "id"), 1);
    fputs("\" classname=\"", f);
    xml_put(f, hx_json_get_str(c, "suite"), 1);
    fprintf(f, "\" time=\"%.3f\"", json_number_value(json_object_get(c, "duration_s")));
    if (st == HX_ST_PASS) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n      <", f);
    const char *tag = st == HX_ST_FAIL || st == HX_ST_XPASS ? "failure"
                      : st == HX_ST_CRASH || st == HX_ST_TIMEOUT || st == HX_ST_ERROR ? "error"
                                                                 : "skipped";
    fprintf(f, "%s message=\"", tag);
    xml_put(f, reason, 1);
    fprintf(f, "\" type=\"%s\">", hx_status_name(st));
    if (strcmp(tag, "skipped"))
        junit_detail(f, c);
    else
        xml_put(f, reason, 0);
    fprintf(f, "</%s>\n    </testcase>\n", tag);
}

static lg_status junit_body(FILE *f, const hx_report *r, const char **suites, size_t nsuites)
{
    size_t i;
    json_t *c;
    hx_counts all = hx_counts_of(r->cases, NULL);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"loadgate\"", f);
    junit_counts(f, &all, 0);
    fputs(">\n", f);
    for (size_t k = 0; k < nsuites; k++) {
        hx_counts sk = hx_counts_of(r->cases, suites[k]);
        fputs("  <testsuite name=\"", f);
        xml_put(f, suites[k], 1);
        fputc('"', f);
        junit_counts(f, &sk, 1);
        junit_suite_attrs(f, r, suites[k]);
        fputs(">\n", f);
        junit_properties(f, r);
        json_array_foreach(r->cases, i, c) if (hx_case_in_suite(c, suites[k])) junit_case(f, c);
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    return LG_OK;
}

lg_status hx_report_write_junit(const hx_report *r, const char *path)
{
    return hx_report_write_with(r, path, junit_body);
}
