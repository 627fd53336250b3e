/* The reliability table of summary.md (reliability.h). A case counts as
 * run unless it was skipped, and as passed when its status is `pass`. A
 * case with faults at several points counts once for each point; "fired"
 * counts the cases in which the point failed at least once, so that a
 * point no load reaches shows up as such instead of as a clean pass. */
#define _POSIX_C_SOURCE 200809L
#include "report/reliability.h"
#include "corrupt/corrupt.h"
#include "report/report.h"
#include "util/error.h"
#include "util/json.h"

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

const char *hx_case_corrupt_class(const json_t *c)
{
    const char *name = hx_json_get_str(c, "corrupt_class");
    if (name)
        return name;
    const char *label = hx_json_get_str(c, "corrupt");
    if (!label)
        label = hx_json_get_str(json_object_get(c, "params"), "corrupt");
    hx_corrupt_class k = hx_corrupt_class_of_label(label);
    return k == HX_CLASS_NONE ? NULL : hx_corrupt_class_name(k);
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
    const char *cls = hx_case_corrupt_class(c);
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

/* The class rows in the table's order; "other" (a label of no known
 * class) last. */
static void corr_order(const char *order[HX_CLASS_COUNT + 1])
{
    static const hx_corrupt_class classes[] = {
        HX_CLASS_TRUNCATE, HX_CLASS_FLIP_BYTE, HX_CLASS_FLIP_BIT,    HX_CLASS_FLIP_RANDOM,
        HX_CLASS_ZERO,     HX_CLASS_SPLICE,    HX_CLASS_SAFETENSORS, HX_CLASS_TORCH_ZIP,
        HX_CLASS_COUNT};
    size_t n = sizeof classes / sizeof classes[0];
    for (size_t i = 0; i < n; i++)
        order[i] = hx_corrupt_class_name(classes[i]);
    order[n] = NULL;
}

static void put_tables(FILE *f, const rows *corr, const rows *faults)
{
    const char *order[HX_CLASS_COUNT + 1];
    fputs("## Reliability\n\n", f);
    fputs("Cases run (not skipped) and passed, per corruption class and per fault "
          "point (docs/reliability.md).\n\n", f);
    if (corr->n) {
        corr_order(order);
        fputs("| corruption | cases run | passed |\n| --- | ---: | ---: |\n", f);
        put_rows(f, corr, order, 0);
        fputc('\n', f);
    }
    if (faults->n) {
        fputs("| fault point | cases run | passed | fault fired in |\n"
              "| --- | ---: | ---: | ---: |\n", f);
        put_rows(f, faults, (const char *const *)lg_fault_points(), 1);
        fputc('\n', f);
    }
}

lg_status hx_reliability_md(FILE *f, const json_t *cases)
{
    rows corr = {0}, faults = {0};
    size_t i;
    json_t *c;
    lg_status st = LG_OK;
    json_array_foreach(cases, i, c) {
        if (count_case(c, &corr, &faults)) {
            st = hx_err(LG_E_NOMEM, "out of memory");
            break;
        }
    }
    if (st == LG_OK && (corr.n || faults.n))
        put_tables(f, &corr, &faults);
    rows_free(&corr);
    rows_free(&faults);
    if (st == LG_OK && ferror(f))
        st = hx_err(LG_E_IO, "write error");
    return st;
}
