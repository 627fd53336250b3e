/* summary.md (docs/report.md): the verdict, the totals and per-suite
 * counts, the probe's verdict on the MPS workaround (runs on the torch
 * backend), the failing cases with their messages, and the reliability
 * table (reliability.h). */
#include "report/groups.h"
#include "report/policies.h"
#include "report/reliability.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
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

/* md_cell of s's first max bytes, cut on a UTF-8 boundary, with "…" when
 * it goes on. */
static void md_cell_cut(FILE *f, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        md_cell(f, s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    char *head = strndup(s, max);
    md_cell(f, head ? head : "");
    fputs("…", f);
    free(head);
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

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
    const char *s = hx_json_get_str(o, key);
    return s ? s : dflt;
}

/* The result of reader on dev in a probe's table, "" when not probed. */
static const json_t *probe_cell(const json_t *probes, const char *reader, const char *dev)
{
    size_t i;
    json_t *p;
    json_array_foreach(probes, i, p) {
        if (!strcmp(str_or(p, "reader", ""), reader) && !strcmp(str_or(p, "device", ""), dev))
            return p;
    }
    return NULL;
}

/* environment.probe (docs/report.md): the verdict on tch-rs's MPS
 * workaround, the reader x device table and what refused. */
static void md_probe(FILE *f, const json_t *probe)
{
    static const char *const devs[] = {"cpu", "cuda", "mps"};
    const json_t *v = json_object_get(probe, "verdict"), *ps = json_object_get(probe, "probes");
    const json_t *per = json_object_get(v, "per_reader"), *r;
    const char *name;
    size_t i;
    json_t *p;
    if (!json_is_object(probe))
        return;
    fprintf(f, "## MPS workaround: %s\n\n", str_or(v, "mps_workaround", "unknown"));
    fprintf(f, "`harness probe` against libtorch %s (%s backend)",
            str_or(probe, "libtorch", "?"), str_or(probe, "backend", "torch"));
    if (json_is_integer(json_object_get(v, "gate")))
        fprintf(f, "; `--gate` exits %d", (int)json_integer_value(json_object_get(v, "gate")));
    fputs(".\n\n", f);
    md_block(f, str_or(v, "reason", ""));
    if (json_array_size(ps)) {
        fputs("| reader | cpu | cuda | mps | mps workaround | tch-rs reads with it |\n"
              "| --- | --- | --- | --- | --- | --- |\n", f);
        json_object_foreach((json_t *)per, name, r) {
            fprintf(f, "| %s ", name);
            for (int d = 0; d < 3; d++)
                fprintf(f, "| %s ", str_or(probe_cell(ps, name, devs[d]), "result", ""));
            fprintf(f, "| %s | ", str_or(r, "mps_workaround", ""));
            json_array_foreach(json_object_get(r, "extensions"), i, p)
                fprintf(f, "%s%s", i ? ", " : "", json_string_value(p) ? json_string_value(p) : "");
            fputs(" |\n", f);
        }
        fputc('\n', f);
        int head = 0;
        json_array_foreach((json_t *)ps, i, p) {
            if (!strcmp(str_or(p, "result", ""), "works"))
                continue;
            if (!head++)
                fputs("| reader | device | result | message |\n| --- | --- | --- | --- |\n", f);
            fprintf(f, "| %s | %s | %s | ", str_or(p, "reader", ""), str_or(p, "device", ""),
                    str_or(p, "result", ""));
            md_cell_cut(f, str_or(p, "message", ""), 200);
            fputs(" |\n", f);
        }
        if (head)
            fputc('\n', f);
    }
}

/* One group: its count, code and pattern, and its first examples. */
static void md_group(FILE *f, const hx_fail_group *g)
{
    fprintf(f, "### %zu × %s\n\n", g->count, g->code);
    md_block(f, g->pattern);
    for (size_t e = 0; e < g->nexamples; e++) {
        const char *reason = hx_json_get_str(g->examples[e], "reason");
        const char *kept = hx_json_get_str(g->examples[e], "kept_file");
        fputs("- `", f);
        md_cell_cut(f, hx_json_get_str(g->examples[e], "id"), 300);
        fputs("`: ", f);
        md_cell_cut(f, reason ? reason : "", 400);
        if (kept) {
            fputs(" (input kept as `", f);
            md_cell(f, kept);
            fputs("`)", f);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
}

/* The failing cases (or the setup errors) by error code and message
 * pattern (report/groups.h): a table, then each group with
 * HX_GROUP_EXAMPLES examples. */
static lg_status md_groups(FILE *f, const json_t *cases, int errors)
{
    hx_fail_groups G;
    if ((errors ? hx_error_groups_make : hx_fail_groups_make)(cases, &G) != LG_OK)
        return LG_E_NOMEM;
    if (G.n) {
        fprintf(f, "## %s (%zu cases in %zu groups)\n\n",
                errors ? "Setup errors by message" : "Failures by error", G.failing, G.n);
        fputs("| cases | status and error | message pattern |\n| ---: | --- | --- |\n", f);
        for (size_t i = 0; i < G.n; i++) {
            fprintf(f, "| %zu | %s | ", G.g[i].count, G.g[i].code);
            md_cell_cut(f, G.g[i].pattern, 300);
            fputs(" |\n", f);
        }
        fputc('\n', f);
        for (size_t i = 0; i < G.n; i++)
            md_group(f, &G.g[i]);
    }
    hx_fail_groups_free(&G);
    return LG_OK;
}

static int is_error(hx_status s)
{
    return s == HX_ST_ERROR;
}

/* The failing cases, or (errors) the setup errors, one by one, past
 * HX_FAIL_LINES_MAX a pointer to the groups. The setup errors' section
 * is left out when there is none. */
static void md_failing(FILE *f, const json_t *cases, int errors)
{
    size_t i, nfail = errors ? hx_count_errors(cases) : hx_count_failing(cases);
    int (*pick)(hx_status) = errors ? is_error : hx_status_fails_run;
    const char *title = errors ? "Setup errors" : "Failing cases";
    json_t *c;
    if (!nfail) {
        if (!errors)
            fputs("## Failing cases\n\nNone.\n", f);
        return;
    }
    fprintf(f, "## %s (%zu)\n\n", title, nfail);
    if (errors)
        fputs("Cases that could not be set up (a fixture missing, not opening or not "
              "generated): not failures, and counted apart.\n\n", f);
    if (nfail > HX_FAIL_LINES_MAX) {
        fprintf(f, "More than %d: see the groups above; every case is in report.json and "
                   "junit.xml.\n\n", HX_FAIL_LINES_MAX);
        return;
    }
    json_array_foreach(cases, i, c) {
        hx_status st = hx_case_status(c);
        if (!pick(st))
            continue;
        const json_t *act = json_object_get(c, "actual");
        const char *msg = hx_json_get_str(act, "message");
        const char *err = hx_json_get_str(c, "stderr");
        const char *kept = hx_json_get_str(c, "kept_file");
        fprintf(f, "### %s: ", hx_status_name(st));
        md_cell(f, hx_json_get_str(c, "id"));
        fputs("\n\n", f);
        md_block(f, hx_json_get_str(c, "reason") ? hx_json_get_str(c, "reason") : "");
        if (kept) {
            fputs("Input kept as `", f);
            md_cell(f, kept);
            fputs("`.\n\n", f);
        }
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
    if (r->interrupted[0])
        fprintf(f, "**INTERRUPTED**: %s; the cases not run are skips with reason \"not run: "
                   "%s\".\n\n", r->interrupted, r->interrupted);
    fprintf(f, "**%s**\n\n",
            hx_run_verdict(all.n[HX_ST_FAIL] + all.n[HX_ST_XPASS] + all.n[HX_ST_CRASH] +
                               all.n[HX_ST_TIMEOUT],
                           all.n[HX_ST_ERROR]));
    md_header(f, 0);
    md_counts_row(f, NULL, &all);
    fputs("\n## Suites\n\n", f);
    md_header(f, 1);
    for (size_t k = 0; k < nsuites; k++) {
        hx_counts sk = hx_counts_of(r->cases, suites[k]);
        md_counts_row(f, suites[k], &sk);
    }
    fputc('\n', f);
    md_probe(f, json_object_get(r->environment, "probe"));
    lg_status st = md_groups(f, r->cases, 0);
    if (st != LG_OK)
        return hx_err(st, "out of memory");
    md_failing(f, r->cases, 0);
    if (md_groups(f, r->cases, 1) != LG_OK)
        return hx_err(LG_E_NOMEM, "out of memory");
    md_failing(f, r->cases, 1);
    st = hx_policy_table_md(f, r->cases);
    return st != LG_OK ? st : hx_reliability_md(f, r->cases);
}

/* Where to cut text of n bytes to keep it under max with a note: at the
 * start of the last heading that fits, so that no table or fenced block
 * is left half written. */
static size_t cut_at(const char *text, size_t max)
{
    size_t at = max;
    while (at > 0 && !(text[at - 1] == '\n' && text[at] == '#'))
        at--;
    return at ? at : max;
}

/* The whole body in memory, then at most HX_MD_MAX bytes of it to f. */
static lg_status md_capped(FILE *f, const hx_report *r, const char **suites, size_t nsuites)
{
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    if (!m)
        return hx_err(LG_E_NOMEM, "out of memory");
    lg_status st = md_body(m, r, suites, nsuites);
    if (fclose(m) || !text) {
        free(text);
        return st != LG_OK ? st : hx_err(LG_E_NOMEM, "out of memory");
    }
    size_t keep = n;
    if (st == LG_OK && n > HX_MD_MAX)
        keep = cut_at(text, HX_MD_MAX - 1024); /* room for the note */
    fwrite(text, 1, keep, f);
    if (keep < n)
        fprintf(f, "\n---\n\n**Cut**: summary.md is capped at %d KiB; the last %zu bytes "
                   "(from \"%.60s\" on) were left out. report.json and junit.xml hold every "
                   "case.\n", HX_MD_MAX / 1024, n - keep, strtok(text + keep, "\n"));
    free(text);
    return st;
}

lg_status hx_report_write_md(const hx_report *r, const char *path)
{
    return hx_report_write_with(r, path, md_capped);
}
