/* harness merge: report.json files (the shards of a run, a run and its
 * --rerun-failed run) merged into one report (docs/report.md). */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char merge_usage[] =
    "usage: harness merge -o OUT.json [--format json,junit,md,html] IN.json...\n"
    "\n"
    "Merges report.json files (for example the shards of one run) into one\n"
    "report: cases are concatenated, a case id seen again replaces the earlier\n"
    "one (a warning when the statuses differ), cases are put back in suite\n"
    "order, the summary is recomputed. \"environment\" is the first file's and\n"
    "\"environments\" lists every file's, in order. OUT's folder is created.\n"
    "--format also writes junit.xml, summary.md and index.html next to OUT.\n"
    "\n"
    "exit codes: 0 merged, every case passed; 1 merged, a case failed;\n"
    "            2 bad usage, an unreadable report, or merged with a case\n"
    "              whose status is error (a setup error; 2 wins over 1)\n";

typedef struct {
    json_t *c;
    size_t rank;  /* suite's order of first appearance */
    long index;   /* case index in its suite */
    size_t pos;   /* position after the merge, for a stable order */
} merge_item;

static int merge_cmp(const void *a, const void *b)
{
    const merge_item *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Adds the cases of in to out; ids maps an id to its position in out. */
static int merge_cases(hx_report *out, json_t *ids, const hx_report *in, const char *path)
{
    size_t i;
    json_t *c;
    json_array_foreach(in->cases, i, c) {
        const char *id = hx_json_get_str(c, "id");
        json_t *seen = json_object_get(ids, id);
        if (seen) {
            size_t at = (size_t)json_integer_value(seen);
            json_t *old = json_array_get(out->cases, at);
            if (hx_case_status(old) != hx_case_status(c))
                fprintf(stderr, "harness merge: %s: %s was %s before, %s here; keeping this one\n",
                        path, id, hx_status_name(hx_case_status(old)),
                        hx_status_name(hx_case_status(c)));
            if (json_array_set(out->cases, at, c))
                return -1;
            continue;
        }
        if (json_object_set_new(ids, id, json_integer((json_int_t)json_array_size(out->cases))) ||
            json_array_append(out->cases, c))
            return -1;
    }
    return 0;
}

/* Puts the merged cases in suite order, then case index. */
static int merge_sort(hx_report *r)
{
    size_t n = json_array_size(r->cases), nsuites, i, k;
    const char **suites = hx_suite_order(r->cases, &nsuites);
    merge_item *items = calloc(n + 1, sizeof *items);
    json_t *sorted = json_array();
    int rc = -1;
    if (!suites || !items || !sorted)
        goto out;
    for (i = 0; i < n; i++) {
        json_t *c = json_array_get(r->cases, i);
        const char *s = hx_json_get_str(c, "suite");
        for (k = 0; k < nsuites && strcmp(suites[k], s ? s : ""); k++)
            ;
        json_t *ix = json_object_get(c, "index");
        items[i] = (merge_item){c, k, json_is_integer(ix) ? (long)json_integer_value(ix) : -1, i};
    }
    qsort(items, n, sizeof *items, merge_cmp);
    for (i = 0; i < n; i++)
        if (json_array_append(sorted, items[i].c))
            goto out;
    json_decref(r->cases);
    r->cases = sorted;
    sorted = NULL;
    rc = 0;
out:
    json_decref(sorted);
    free(items);
    free(suites);
    return rc;
}

/* Appends the environments of the report at path to envs: its
 * "environments" when it is a merged report, else its "environment". The
 * file is read again because hx_report keeps only "environment". */
static int merge_environments(json_t *envs, const char *path, const hx_report *in)
{
    json_t *doc = hx_json_load_file(path, 0, NULL);
    json_t *list = json_object_get(doc, "environments"), *e;
    size_t i;
    int bad = 0;
    if (json_is_array(list) && json_array_size(list))
        json_array_foreach(list, i, e) bad |= json_array_append(envs, e);
    else if (in->environment)
        bad = json_array_append(envs, in->environment);
    json_decref(doc);
    return bad;
}

static int merge_inputs(hx_report *out, json_t *envs, char **inputs, int n)
{
    json_t *ids = json_object();
    int rc = -1;
    if (!ids)
        return -1;
    for (int i = 0; i < n; i++) {
        hx_report in;
        if (hx_report_load(inputs[i], &in) != LG_OK) {
            fprintf(stderr, "harness merge: %s\n", hx_errmsg());
            goto out;
        }
        if (merge_environments(envs, inputs[i], &in)) {
            hx_report_free(&in);
            fprintf(stderr, "harness merge: out of memory\n");
            goto out;
        }
        if (!out->environment && in.environment)
            out->environment = json_incref(in.environment);
        if (!out->run && in.run)
            out->run = json_incref(in.run);
        out->duration_s += in.duration_s;
        /* one interrupted run makes the merged one interrupted: its cases
         * not run are skips there too (docs/report.md) */
        if (!out->interrupted[0] && in.interrupted[0])
            snprintf(out->interrupted, sizeof out->interrupted, "%s", in.interrupted);
        int bad = merge_cases(out, ids, &in, inputs[i]);
        hx_report_free(&in);
        if (bad) {
            fprintf(stderr, "harness merge: out of memory\n");
            goto out;
        }
    }
    rc = merge_sort(out);
    if (rc)
        fprintf(stderr, "harness merge: out of memory\n");
out:
    json_decref(ids);
    return rc;
}

/* report.json with "environments" added after "environment". */
static lg_status merge_write_json(const hx_report *r, json_t *envs, const char *path)
{
    json_t *doc = hx_report_json(r), *ordered = json_object(), *v;
    const char *k;
    FILE *f;
    int bad = !doc || !ordered;
    json_object_foreach(bad ? NULL : doc, k, v) {
        bad |= json_object_set(ordered, k, v);
        if (!strcmp(k, "environment"))
            bad |= json_object_set(ordered, "environments", envs);
    }
    json_decref(doc);
    if (bad) {
        json_decref(ordered);
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    }
    lg_status st = hx_fopen_out(path, &f);
    if (st == LG_OK) {
        bad = hx_json_dumpf(ordered, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        fputc('\n', f);
        st = hx_fclose_checked(f, path);
        if (st == LG_OK && bad)
            st = hx_err(LG_E_IO, "%s: write error", path);
    }
    json_decref(ordered);
    return st;
}

/* Creates OUT's folder, writes OUT and the other formats into it. */
static lg_status merge_write(const hx_report *r, json_t *envs, const char *out, unsigned formats)
{
    char dir[4096];
    const char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - out == 0 ? 1 : slash - out), out);
    lg_status st = hx_mkdirs(dir);
    if (st == LG_OK)
        st = merge_write_json(r, envs, out);
    formats &= ~(unsigned)HX_FMT_JSON;
    if (st != LG_OK || !formats)
        return st;
    return hx_report_write_all(r, dir, formats);
}

/* 2 when a merged case had a setup error (it wins, as in harness run), 1
 * when one fails, else 0. */
static int merged_rc(const hx_report *r)
{
    size_t errors = hx_count_errors(r->cases);
    if (errors)
        fprintf(stderr, "harness merge: %zu case%s with a setup error (status error)\n", errors,
                errors == 1 ? "" : "s");
    return errors ? 2 : hx_count_failing(r->cases) ? 1 : 0;
}

static int merge_run(char **inputs, int n, const char *out, unsigned formats)
{
    hx_report r;
    json_t *envs = json_array();
    int rc = 2;
    if (!envs || hx_report_init(&r) != LG_OK) {
        fprintf(stderr, "harness merge: out of memory\n");
        json_decref(envs);
        return 2;
    }
    if (merge_inputs(&r, envs, inputs, n) == 0) {
        if (merge_write(&r, envs, out, formats) != LG_OK)
            fprintf(stderr, "harness merge: %s\n", hx_errmsg());
        else
            rc = merged_rc(&r);
    }
    json_decref(envs);
    hx_report_free(&r);
    return rc;
}

enum { O_OUT = 1, O_FORMAT };

int hx_cmd_merge(int argc, char **argv)
{
    static const hx_opt opts[] = {{"out", 'o', 1, O_OUT}, {"format", 0, 1, O_FORMAT},
                                  {NULL, 0, 0, 0}};
    const char *out = NULL;
    unsigned formats = HX_FMT_JSON;
    int id;
    hx_args a;
    hx_args_init(&a, "merge", merge_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        switch (id) {
        case O_OUT: out = a.value; break;
        case O_FORMAT:
            if (hx_formats_parse(a.value, &formats) != LG_OK) {
                fprintf(stderr, "harness merge: unknown format in '%s'\n", a.value);
                return 2;
            }
            break;
        }
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (!out || !hx_args_count(&a)) {
        fputs(merge_usage, stderr);
        return 2;
    }
    return merge_run(argv + a.next, hx_args_count(&a), out, formats);
}
