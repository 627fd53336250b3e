/* The reliability table of summary.md (reliability.h). A case counts as
 * run unless it was skipped, and as passed when its status is `pass`. A
 * case with faults at several points counts once for each point; "fired"
 * counts the cases in which the point failed at least once, so that a
 * point no load reaches shows up as such instead of as a clean pass. */
#define _POSIX_C_SOURCE 200809L
#include "report/reliability.h"
#include "report/report.h"
#include "loadgate/loadgate.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    size_t run, passed, fired;
} row;

typedef struct {
    row *v;
    size_t n, cap;
} rows;

static row *find_row(rows *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, name))
            return &t->v[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        row *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    row *r = &t->v[t->n];
    memset(r, 0, sizeof *r);
    if (!(r->name = strdup(name)))
        return NULL;
    t->n++;
    return r;
}

static void rows_free(rows *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
}

const char *hx_corruption_class(const char *label)
{
    if (!label || !*label || !strcmp(label, "none"))
        return NULL;
    if (!strncmp(label, "flip:random", 11))
        return "flip random";
    if (!strncmp(label, "flip:", 5)) {
        size_t n = strlen(label);
        return n > 4 && !strcmp(label + n - 4, ":all") ? "flip every byte" : "flip bit";
    }
    static const char *const kinds[] = {"truncate", "zero", "splice", "safetensors",
                                        "torch_zip"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t k = strlen(kinds[i]);
        if (!strncmp(label, kinds[i], k) && (label[k] == ':' || label[k] == '\0'))
            return kinds[i];
    }
    return "other";
}

const char *hx_case_corruption(const json_t *c)
{
    const char *s = hx_json_get_str(c, "corrupt");
    return s ? s : hx_json_get_str(json_object_get(c, "params"), "corrupt");
}

static void put_row(FILE *f, const row *r, int fired)
{
    fprintf(f, "| %s | %zu | %zu |", r->name, r->run, r->passed);
    if (fired)
        fprintf(f, " %zu |", r->fired);
    fputc('\n', f);
}

/* The rows named in order first, in that order, then any others as met. */
static void put_rows(FILE *f, const rows *t, const char *const *order, int fired)
{
    for (size_t k = 0; order[k]; k++)
        for (size_t i = 0; i < t->n; i++)
            if (!strcmp(order[k], t->v[i].name))
                put_row(f, &t->v[i], fired);
    for (size_t i = 0; i < t->n; i++) {
        int known = 0;
        for (size_t k = 0; order[k] && !known; k++)
            known = !strcmp(order[k], t->v[i].name);
        if (!known)
            put_row(f, &t->v[i], fired);
    }
}

static int count_case(const json_t *c, rows *corr, rows *faults)
{
    hx_status st = hx_case_status(c);
    int run = st != HX_ST_SKIP, passed = st == HX_ST_PASS;
    const char *cls = hx_corruption_class(hx_case_corruption(c));
    if (cls) {
        row *r = find_row(corr, cls);
        if (!r)
            return -1;
        r->run += run;
        r->passed += passed;
    }
    size_t i;
    json_t *fa;
    json_array_foreach(json_object_get(c, "faults"), i, fa) {
        const char *point = hx_json_get_str(fa, "point");
        if (!point)
            continue;
        /* the case language arms each point of a case once */
        row *r = find_row(faults, point);
        if (!r)
            return -1;
        r->run += run;
        r->passed += passed;
        r->fired += json_integer_value(json_object_get(fa, "fired")) > 0;
    }
    return 0;
}

int hx_reliability_md(FILE *f, const json_t *cases)
{
    static const char *const corr_order[] = {"truncate", "flip every byte", "flip bit",
                                             "flip random", "zero", "splice", "safetensors",
                                             "torch_zip", "other", NULL};
    rows corr = {0}, faults = {0};
    size_t i;
    json_t *c;
    int rc = 0;
    json_array_foreach(cases, i, c) {
        if (count_case(c, &corr, &faults)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && (corr.n || faults.n)) {
        fputs("## Reliability\n\n", f);
        fputs("Cases run (not skipped) and passed, per corruption class and per fault "
              "point (docs/reliability.md).\n\n", f);
        if (corr.n) {
            fputs("| corruption | cases run | passed |\n| --- | ---: | ---: |\n", f);
            put_rows(f, &corr, corr_order, 0);
            fputc('\n', f);
        }
        if (faults.n) {
            fputs("| fault point | cases run | passed | fault fired in |\n"
                  "| --- | ---: | ---: | ---: |\n", f);
            put_rows(f, &faults, (const char *const *)lg_fault_points(), 1);
            fputc('\n', f);
        }
    }
    rows_free(&corr);
    rows_free(&faults);
    return rc ? -1 : ferror(f) ? -1 : 0;
}
