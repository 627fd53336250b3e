/* summary.md (docs/report.md): the verdict, the totals and per-suite
 * counts, the failing cases with their messages, and the reliability
 * table (reliability.h). */
#include "report/policies.h"
#include "report/reliability.h"
#include "report/report.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Table cell text: no newlines, pipes escaped. */
static void md_cell(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

/* A fenced block longer than any run of backticks inside s. */
static void md_block(FILE *f, const char *s)
{
    size_t run = 0, longest = 0;
    char *clean = hx_utf8_clean(s);
    const char *t = clean ? clean : s;
    for (const char *p = t; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    size_t fence = longest < 3 ? 3 : longest + 1;
    for (size_t i = 0; i < fence; i++)
        fputc('`', f);
    fprintf(f, "\n%s%s", t, t[0] && t[strlen(t) - 1] != '\n' ? "\n" : "");
    for (size_t i = 0; i < fence; i++)
        fputc('`', f);
    fputs("\n\n", f);
    free(clean);
}

static void md_counts_row(FILE *f, const char *label, const hx_counts *k)
{
    if (label) {
        fputs("| ", f);
        md_cell(f, label);
        fputc(' ', f);
    }
    fprintf(f, "| %zu ", k->total);
    for (int s = 0; s < HX_ST_COUNT; s++)
        fprintf(f, "| %zu ", k->n[s]);
    fprintf(f, "| %.2f |\n", k->time);
}

static void md_header(FILE *f, int with_suite)
{
    fputs(with_suite ? "| suite | total" : "| total", f);
    for (int s = 0; s < HX_ST_COUNT; s++)
        fprintf(f, " | %s", hx_status_summary_key((hx_status)s));
    fputs(" | case seconds |\n|", f);
    for (int s = 0; s < HX_ST_COUNT + 2 + with_suite; s++)
        fputs(s == 0 && with_suite ? " --- |" : " ---: |", f);
    fputc('\n', f);
}

static void md_env(FILE *f, const hx_report *r)
{
    const json_t *e = r->environment;
    const char *commit = hx_json_get_str(e, "commit");
    fprintf(f, "loadgate %s, libtorch %s, commit %.12s, wall time %.2f s\n\n",
            hx_json_get_str(e, "loadgate") ? hx_json_get_str(e, "loadgate") : "?",
            hx_json_get_str(e, "libtorch") ? hx_json_get_str(e, "libtorch") : "?",
            commit ? commit : "unknown", r->duration_s);
}

static void md_failing(FILE *f, const json_t *cases)
{
    size_t i, nfail = 0;
    json_t *c;
    json_array_foreach(cases, i, c) nfail += hx_status_fails_run(hx_case_status(c)) != 0;
    if (!nfail) {
        fputs("## Failing cases\n\nNone.\n", f);
        return;
    }
    fprintf(f, "## Failing cases (%zu)\n\n", nfail);
    json_array_foreach(cases, i, c) {
        hx_status st = hx_case_status(c);
        if (!hx_status_fails_run(st))
            continue;
        const json_t *act = json_object_get(c, "actual");
        const char *msg = hx_json_get_str(act, "message");
        const char *err = hx_json_get_str(c, "stderr");
        fprintf(f, "### %s: ", hx_status_name(st));
        md_cell(f, hx_json_get_str(c, "id"));
        fputs("\n\n", f);
        md_block(f, hx_json_get_str(c, "reason") ? hx_json_get_str(c, "reason") : "");
        if (msg && *msg) {
            fputs("Error message:\n\n", f);
            md_block(f, msg);
        }
        if (err && *err) {
            fputs("Standard error (tail):\n\n", f);
            md_block(f, err);
        }
    }
}

static lg_status md_body(FILE *f, const hx_report *r, const char **suites, size_t nsuites)
{
    hx_counts all = hx_counts_of(r->cases, NULL);
    fputs("# loadgate report\n\n", f);
    md_env(f, r);
    fprintf(f, "**%s**\n\n", all.n[HX_ST_FAIL] + all.n[HX_ST_XPASS] + all.n[HX_ST_CRASH] +
                                         all.n[HX_ST_TIMEOUT]
                                     ? "FAILED"
                                     : "PASSED");
    md_header(f, 0);
    md_counts_row(f, NULL, &all);
    fputs("\n## Suites\n\n", f);
    md_header(f, 1);
    for (size_t k = 0; k < nsuites; k++) {
        hx_counts sk = hx_counts_of(r->cases, suites[k]);
        md_counts_row(f, suites[k], &sk);
    }
    fputc('\n', f);
    md_failing(f, r->cases);
    lg_status st = hx_policy_table_md(f, r->cases);
    return st != LG_OK ? st : hx_reliability_md(f, r->cases);
}

lg_status hx_report_write_md(const hx_report *r, const char *path)
{
    return hx_report_write_with(r, path, md_body);
}
