/* harness compare's Markdown (compare.h): made from the comparison
 * object, for people and CI job summaries. A job summary has a size
 * limit, so the text has one too: once a row would pass it, that row and
 * every later one are left out and counted, section by section, and a
 * note at the end says so. */
#include "cmd/compare.h"
#include "report/report.h"
#include "util/json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lists longer than this are shown grouped by suite and case name first. */
#define GROUP_MIN 30
/* Room kept past the limit for closing tags and the final note. */
#define MD_RESERVE 4096
/* Longest text put in one table cell, in bytes. */
#define CELL_MAX 300

typedef struct {
    char *s;
    size_t len, size;
    size_t limit;   /* rows and text stop here (the cap less MD_RESERVE) */
    int full;       /* something did not fit: nothing more is added */
    int oom;
    const char *section;
    struct {
        const char *section;
        size_t rows;
    } cut[8];
    size_t ncut;
} md_buf;

static void md_raw(md_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->size) {
        size_t size = (b->size ? b->size : 4096);
        while (size < b->len + n + 1)
            size *= 2;
        char *p = realloc(b->s, size);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->size = size;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void md_vfmt(md_buf *b, const char *fmt, va_list ap)
{
    char small[1024];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(small, sizeof small, fmt, aq);
    va_end(aq);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        md_raw(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    md_raw(b, big, (size_t)n);
    free(big);
}

/* Always added: closing tags and notes (MD_RESERVE covers them). */
static void md_force(md_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void md_force(md_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    md_vfmt(b, fmt, ap);
    va_end(ap);
}

/* Counts a row left out in the current section. */
static void md_count_cut(md_buf *b)
{
    size_t i;
    for (i = 0; i < b->ncut && strcmp(b->cut[i].section, b->section); i++)
        ;
    if (i == b->ncut && b->ncut < sizeof b->cut / sizeof b->cut[0])
        b->cut[b->ncut].section = b->section, b->cut[b->ncut++].rows = 0;
    if (i < b->ncut)
        b->cut[i].rows++;
}

/* Adds s unless the limit was reached; a row left out is counted. */
static void md_add(md_buf *b, const char *s, size_t n, int is_row)
{
    if (!b->full && b->len + n > b->limit)
        b->full = 1;
    if (!b->full)
        md_raw(b, s, n);
    else if (is_row)
        md_count_cut(b);
}

/* Text (headings, lines) that goes only while there is room. */
static void md_put(md_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void md_put(md_buf *b, const char *fmt, ...)
{
    md_buf t = {0};
    va_list ap;
    va_start(ap, fmt);
    md_vfmt(&t, fmt, ap);
    va_end(ap);
    b->oom |= t.oom;
    md_add(b, t.s ? t.s : "", t.len, 0);
    free(t.s);
}

/* Text as one table cell: no line breaks, pipes and HTML escaped, at
 * most max bytes (cut on a UTF-8 boundary, with an ellipsis). */
static void md_cell(md_buf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (n >= max && (c & 0xC0) != 0x80) {
            md_raw(b, "\xe2\x80\xa6", 3);
            return;
        }
        n++;
        if (c == '\n' || c == '\r' || c == '\t')
            md_raw(b, " ", 1);
        else if (c == '<')
            md_raw(b, "&lt;", 4);
        else if (c == '>')
            md_raw(b, "&gt;", 4);
        else if (c == '&')
            md_raw(b, "&amp;", 5);
        else if (strchr("|\\`*_[]#", c)) {
            md_raw(b, "\\", 1);
            md_raw(b, s, 1);
        } else if (c >= 0x20)
            md_raw(b, s, 1);
    }
}

/* A value of the comparison as cell text: strings as they are, arrays of
 * strings joined with commas, others as compact JSON; "—" when absent. */
static void md_value(md_buf *b, const json_t *v)
{
    size_t i;
    json_t *x;
    if (!v) {
        md_raw(b, "\xe2\x80\x94", 3);
        return;
    }
    if (json_is_string(v)) {
        md_cell(b, json_string_value(v), CELL_MAX);
        return;
    }
    int strings = json_is_array(v);
    json_array_foreach(v, i, x) strings &= json_is_string(x);
    if (strings) {
        md_buf t = {0};
        json_array_foreach(v, i, x) {
            md_raw(&t, i ? ", " : "", i ? 2 : 0);
            md_raw(&t, json_string_value(x), strlen(json_string_value(x)));
        }
        md_cell(b, t.s ? t.s : "", CELL_MAX);
        b->oom |= t.oom;
        free(t.s);
        return;
    }
    char *s = hx_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    b->oom |= !s;
    md_cell(b, s ? s : "?", CELL_MAX);
    free(s);
}

/* Starts a table row in t (a scratch buffer). */
static void row_start(md_buf *t) { t->len = 0, md_raw(t, "|", 1); }
static void row_cell(md_buf *t, const json_t *v)
{
    md_raw(t, " ", 1);
    md_value(t, v);
    md_raw(t, " |", 2);
}
static void row_text(md_buf *t, const char *s)
{
    md_raw(t, " ", 1);
    md_cell(t, s, CELL_MAX);
    md_raw(t, " |", 2);
}
static void row_end(md_buf *b, md_buf *t)
{
    md_raw(t, "\n", 1);
    b->oom |= t->oom;
    md_add(b, t->s ? t->s : "", t->len, 1);
}

/* ------------------------------------------------ sections */

static const char *str_or(const char *s, const char *dflt) { return s ? s : dflt; }

static json_int_t summary_n(const json_t *side, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(side, "summary"), key));
}

static void md_header(md_buf *b, const json_t *cmp)
{
    static const char *const keys[] = {"total",   "passed",  "failed",  "skipped", "xfailed",
                                        "xpassed", "crashed", "timedout", "errors"};
    json_t *regs = json_object_get(cmp, "regressions"), *x;
    md_buf t = {0};
    size_t i;
    md_put(b, "## loadgate compare: %s\n\n",
           json_array_size(regs) ? "**regression**" : "no regression");
    for (i = 0; i < 2; i++) {
        const json_t *side = json_object_get(cmp, i ? "new" : "base");
        const char *commit = hx_json_get_str(side, "commit");
        t.len = 0;
        md_cell(&t, hx_json_get_str(side, "path"), 1000);
        md_put(b, "- %s: %s (loadgate %s, libtorch %s, commit %.12s)\n", i ? "NEW" : "BASE",
               t.s ? t.s : "", str_or(hx_json_get_str(side, "loadgate"), "?"),
               str_or(hx_json_get_str(side, "libtorch"), "?"), commit ? commit : "unknown");
    }
    md_put(b, "\n| run | total | passed | failed | skipped | xfailed | xpassed | crashed | timedout "
              "| errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (i = 0; i < 2; i++) {
        const json_t *side = json_object_get(cmp, i ? "new" : "base");
        md_put(b, "| %s |", i ? "NEW" : "BASE");
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            md_put(b, " %lld |", (long long)summary_n(side, keys[k]));
        md_put(b, "\n");
    }
    if (json_array_size(regs))
        md_put(b, "\n**Regressions:**\n");
    json_array_foreach(regs, i, x) md_put(b, "- %s\n", json_string_value(x));
    b->oom |= t.oom;
    free(t.s);
}

/* A table of {key, base, new} changes, and the count of equal values. */
static void md_changes(md_buf *b, const json_t *section, const char *what)
{
    json_t *changed = json_object_get(section, "changed"), *x;
    json_int_t same = json_integer_value(json_object_get(section, "unchanged"));
    md_buf t = {0};
    size_t i;
    if (!json_array_size(changed)) {
        md_put(b, "No difference in the %s (%lld values compared).\n", what, (long long)same);
        return;
    }
    md_put(b, "| %s | BASE | NEW |\n| --- | --- | --- |\n", what);
    json_array_foreach(changed, i, x) {
        row_start(&t);
        row_text(&t, hx_json_get_str(x, "key"));
        row_cell(&t, json_object_get(x, "base"));
        row_cell(&t, json_object_get(x, "new"));
        row_end(b, &t);
    }
    md_put(b, "\n%lld other value%s equal.\n", (long long)same, same == 1 ? "" : "s");
    b->oom |= t.oom;
    free(t.s);
}

static void md_verdict(md_buf *b, const json_t *probe)
{
    const json_t *v = json_object_get(probe, "verdict");
    const char *vb = hx_json_get_str(v, "base"), *vn = hx_json_get_str(v, "new");
    const char *rb = hx_json_get_str(v, "base_reason"), *rn = hx_json_get_str(v, "new_reason");
    md_buf t = {0};
    if (vb && vn && !strcmp(vb, vn))
        md_put(b, "MPS workaround: **%s** in both.\n", vn);
    else
        md_put(b, "MPS workaround: **%s** \xe2\x86\x92 **%s**.\n", vb ? vb : "not recorded",
               vn ? vn : "not recorded");
    for (int i = 0; i < 2; i++) {
        const char *r = i ? rn : rb;
        if (!r || (i && rb && !strcmp(rb, rn) && vb && vn && !strcmp(vb, vn)))
            continue;
        t.len = 0;
        md_cell(&t, r, 1000);
        md_put(b, "- %s: %s\n", i ? "NEW" : "BASE", t.s ? t.s : "");
    }
    b->oom |= t.oom;
    free(t.s);
}

static void md_probe(md_buf *b, const json_t *probe)
{
    static const char absent[] = "has no probe (written before report.json recorded one, or by "
                                 "a build without libtorch)";
    int hb = json_is_true(json_object_get(probe, "base"));
    int hn = json_is_true(json_object_get(probe, "new"));
    json_t *rows = json_object_get(probe, "changed"), *x;
    md_buf t = {0};
    size_t i;
    b->section = "probe";
    md_put(b, "\n### libtorch probe\n\n");
    if (!hb && !hn) {
        md_put(b, "Neither report has a probe (written before report.json recorded one, or by a "
                  "build without libtorch).\n");
        return;
    }
    if (!hb || !hn)
        md_put(b, "%s %s.\n\n", hb ? "NEW" : "BASE", absent);
    md_verdict(b, probe);
    if (json_array_size(rows))
        md_put(b, "\n| reader | device | BASE | NEW | BASE message | NEW message |\n"
                  "| --- | --- | --- | --- | --- | --- |\n");
    json_array_foreach(rows, i, x) {
        row_start(&t);
        row_text(&t, hx_json_get_str(x, "reader"));
        row_text(&t, hx_json_get_str(x, "device"));
        row_cell(&t, json_object_get(x, "base"));
        row_cell(&t, json_object_get(x, "new"));
        row_cell(&t, json_object_get(x, "base_message"));
        row_cell(&t, json_object_get(x, "new_message"));
        row_end(b, &t);
    }
    md_put(b, "\n%lld reader \xc3\x97 device result%s unchanged.\n",
           (long long)json_integer_value(json_object_get(probe, "unchanged")),
           json_integer_value(json_object_get(probe, "unchanged")) == 1 ? "" : "s");
    if (json_array_size(json_object_get(json_object_get(probe, "other"), "changed"))) {
        md_put(b, "\n");
        md_changes(b, json_object_get(probe, "other"), "probe value");
    }
    b->oom |= t.oom;
    free(t.s);
}

/* Why a case fails: its reason, and its error message unless the reason
 * quotes it. */
static void why_text(md_buf *why, const json_t *e)
{
    const char *reason = hx_json_get_str(e, "reason"), *msg = hx_json_get_str(e, "message");
    if (reason)
        md_raw(why, reason, strlen(reason));
    if (msg && (!reason || !strstr(reason, msg))) {
        md_raw(why, reason ? ": " : "", reason ? 2 : 0);
        md_raw(why, msg, strlen(msg));
    }
    md_raw(why, "", 0);
}

/* One table row in t, then into b: the cells before (id, or name and
 * count), the statuses, and why the failing side fails. */
static void case_row(md_buf *b, md_buf *t, const json_t *e, const char *first, const char *count)
{
    md_buf why = {0};
    why_text(&why, e);
    row_start(t);
    row_text(t, first);
    if (count)
        row_text(t, count);
    row_cell(t, json_object_get(e, "base"));
    row_cell(t, json_object_get(e, "new"));
    row_text(t, why.s ? why.s : "");
    row_end(b, t);
    b->oom |= why.oom;
    free(why.s);
}

/* The list grouped by suite/name and transition: one row per group with
 * its count and its first case's reason. */
static void case_groups(md_buf *b, md_buf *t, const json_t *list)
{
    json_t *groups = json_object(), *e, *g;
    size_t i;
    const char *k;
    json_array_foreach(list, i, e) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s\x1f%s\x1f%s", str_or(hx_json_get_str(e, "suite"), ""),
                 str_or(hx_json_get_str(e, "name"), ""), str_or(hx_json_get_str(e, "base"), ""),
                 str_or(hx_json_get_str(e, "new"), ""));
        g = json_object_get(groups, key);
        if (g)
            json_object_set_new(g, "n", json_integer(json_integer_value(json_object_get(g, "n")) + 1));
        else if (groups && json_object_set_new(groups, key, json_pack("{s:I, s:O}", "n",
                                                                      (json_int_t)1, "first", e)))
            b->oom = 1;
    }
    md_put(b, "| suite/name | cases | BASE | NEW | reason (first case) |\n"
              "| --- | ---: | --- | --- | --- |\n");
    json_object_foreach(groups, k, g) {
        char name[1024], n[32];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(k, "\x1f"), k);
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(json_object_get(g, "n")));
        case_row(b, t, json_object_get(g, "first"), name, n);
    }
    if (!groups)
        b->oom = 1;
    json_decref(groups);
}

static void md_case_list(md_buf *b, const json_t *cases, const char *list, const char *title)
{
    const json_t *l = json_object_get(cases, list), *e;
    size_t n = json_array_size(l), i;
    md_buf t = {0};
    int details = 0; /* a <details> was opened: it must be closed */
    if (!n)
        return;
    b->section = list;
    md_put(b, "\n#### %s (%zu)\n\n", title, n);
    if (n > GROUP_MIN) {
        case_groups(b, &t, l);
        md_put(b, "\n<details><summary>every case (%zu)</summary>\n\n", n);
        details = !b->full;
    }
    md_put(b, "| case | BASE | NEW | reason |\n| --- | --- | --- | --- |\n");
    json_array_foreach(l, i, e) case_row(b, &t, e, hx_json_get_str(e, "id"), NULL);
    if (details)
        md_force(b, "\n</details>\n");
    b->oom |= t.oom;
    free(t.s);
}

static void md_cases(md_buf *b, const json_t *cases)
{
    static const char *const lists[][2] = {
        {"broken", "Broken: did not fail in BASE, fail in NEW"},
        {"fixed", "Fixed: failed in BASE, do not fail in NEW"},
        {"changed", "Changed: another status, on the same side of pass/fail"},
        {"new", "New: only in NEW"},
        {"gone", "Gone: only in BASE"},
    };
    b->section = "cases";
    md_put(b, "\n### Cases\n\n%lld unchanged", (long long)json_integer_value(json_object_get(cases, "unchanged")));
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        md_put(b, ", %zu %s", json_array_size(json_object_get(cases, lists[i][0])), lists[i][0]);
    md_put(b, ".\n");
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        md_case_list(b, cases, lists[i][0], lists[i][1]);
}

/* The note on what the limit left out. */
static void md_cut_note(md_buf *b, size_t cap)
{
    size_t rows = 0;
    for (size_t i = 0; i < b->ncut; i++)
        rows += b->cut[i].rows;
    if (!b->full)
        return;
    md_force(b, "\n> **Cut:** this summary stops at %zu KiB; %zu row%s left out (", cap / 1024,
             rows, rows == 1 ? "" : "s");
    for (size_t i = 0; i < b->ncut; i++)
        md_force(b, "%s%s: %zu", i ? ", " : "", b->cut[i].section, b->cut[i].rows);
    md_force(b, "%s). `harness compare --json` lists everything.\n", b->ncut ? "" : "none");
}

char *hx_compare_md(const json_t *cmp, size_t cap)
{
    md_buf b = {0};
    b.limit = cap > 2 * MD_RESERVE ? cap - MD_RESERVE : cap / 2;
    b.section = "header";
    md_header(&b, cmp);
    b.section = "environment";
    md_put(&b, "\n### Environment\n\n");
    md_changes(&b, json_object_get(cmp, "environment"), "environment");
    md_probe(&b, json_object_get(cmp, "probe"));
    md_cases(&b, json_object_get(cmp, "cases"));
    md_cut_note(&b, cap);
    if (b.oom || !b.s) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
