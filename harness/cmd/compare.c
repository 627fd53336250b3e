/* harness compare BASE NEW: what changed between two runs (docs/cli.md):
 * the environment, libtorch's probe and the cases' statuses, built here
 * as one JSON object and printed as JSON or as Markdown (compare_md.c),
 * with exit 1 on a regression. */
#define _POSIX_C_SOURCE 200809L
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "cmd/compare.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char compare_usage[] =
    "usage: harness compare [--json] [-o FILE] BASE NEW\n"
    "\n"
    "Compares two runs, each a report.json file or a report folder holding\n"
    "one: the environment (versions, backends, devices, build), libtorch's\n"
    "probe reader by reader and device by device with the MPS workaround\n"
    "verdict, and every case whose status changed (fixed, broken, changed,\n"
    "new, gone; unchanged cases are counted). Markdown by default, at most\n"
    "512 KiB so that it fits a CI job summary; --json gives everything.\n"
    "\n"
    "  --json         print JSON (schema loadgate-compare/1) instead\n"
    "  -o, --out FILE write to FILE (its folder is created), not stdout\n"
    "\n"
    "exit codes: 0 no regression; 1 a case that did not fail in BASE fails\n"
    "            (or has a setup error) in NEW, or the MPS workaround verdict\n"
    "            went from removable\n"
    "            to needed; 2 bad usage, or a report that cannot be read\n";

/* One side of the comparison: the report.json read, and its path. */
typedef struct {
    char path[4096];
    hx_report r;
    int loaded;
} cmp_side;

/* A folder stands for its report.json. */
static lg_status side_load(const char *arg, cmp_side *s)
{
    struct stat st;
    size_t n = strlen(arg);
    int dir = stat(arg, &st) == 0 && S_ISDIR(st.st_mode);
    while (dir && n > 1 && arg[n - 1] == '/')
        n--;
    if ((size_t)snprintf(s->path, sizeof s->path, "%.*s%s", (int)n, arg,
                         dir ? "/report.json" : "") >= sizeof s->path)
        return hx_err(LG_E_INVALID, "path too long (%zu bytes): %.64s...", strlen(arg), arg);
    if (hx_report_load(s->path, &s->r) != LG_OK)
        return LG_E_IO;
    s->loaded = 1;
    return LG_OK;
}

/* ------------------------------------------------ flat objects */

/* Adds the leaves of v to out as "a.b.c" -> value: objects are walked,
 * anything else (arrays included) is a leaf. */
static int flatten(json_t *out, const char *prefix, json_t *v)
{
    const char *k;
    json_t *x;
    if (!json_is_object(v))
        return *prefix ? json_object_set(out, prefix, v) : 0;
    json_object_foreach(v, k, x) {
        char key[1024];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (flatten(out, key, x))
            return -1;
    }
    return 0;
}

/* v flattened, less the top-level keys in drop (NULL-terminated) and the
 * flat keys in skip. A new object (empty for a v that is not one). */
static json_t *flat_of(json_t *v, const char *const *drop, const char *const *skip)
{
    json_t *copy = json_is_object(v) ? json_copy(v) : json_object();
    json_t *out = json_object();
    if (!copy || !out)
        goto fail;
    for (; drop && *drop; drop++)
        json_object_del(copy, *drop);
    if (flatten(out, "", copy))
        goto fail;
    for (; skip && *skip; skip++)
        json_object_del(out, *skip);
    json_decref(copy);
    return out;
fail:
    json_decref(copy);
    json_decref(out);
    return NULL;
}

/* {key, base, new}: a side where the key is absent has no member. */
static json_t *change(const char *key, json_t *b, json_t *n)
{
    json_t *e = json_pack("{s:s}", "key", key);
    if (e && b)
        json_object_set(e, "base", b);
    if (e && n)
        json_object_set(e, "new", n);
    return e;
}

/* The keys of two flat objects whose values differ, BASE's order first;
 * equal ones counted in *same. */
static json_t *flat_diff(json_t *b, json_t *n, json_int_t *same)
{
    json_t *out = json_array(), *x;
    const char *k;
    *same = 0;
    if (!out || !b || !n)
        goto fail;
    json_object_foreach(b, k, x) {
        json_t *y = json_object_get(n, k);
        if (y && json_equal(x, y))
            (*same)++;
        else if (json_array_append_new(out, change(k, x, y)))
            goto fail;
    }
    json_object_foreach(n, k, x)
        if (!json_object_get(b, k) && json_array_append_new(out, change(k, NULL, x)))
            goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* {changed: [...], unchanged: N} of two flat objects; takes both. */
static json_t *diff_section(json_t *b, json_t *n)
{
    json_int_t same;
    json_t *changed = flat_diff(b, n, &same);
    json_decref(b);
    json_decref(n);
    if (!changed)
        return NULL;
    return json_pack("{s:o, s:I}", "changed", changed, "unchanged", same);
}

/* ------------------------------------------------ environment, probe */

static json_t *environment_diff(const cmp_side *b, const cmp_side *n)
{
    static const char *const drop[] = {"probe", NULL};
    return diff_section(flat_of(b->r.environment, drop, NULL),
                        flat_of(n->r.environment, drop, NULL));
}

static json_t *probe_of(const cmp_side *s)
{
    json_t *p = json_object_get(s->r.environment, "probe");
    return json_is_object(p) ? p : NULL;
}

/* The probes of p by "READER DEVICE", in p's order. */
static json_t *probe_rows(json_t *p)
{
    json_t *rows = json_object(), *x;
    size_t i;
    json_array_foreach(json_object_get(p, "probes"), i, x) {
        char key[512];
        snprintf(key, sizeof key, "%s %s", hx_json_get_str(x, "reader") ? hx_json_get_str(x, "reader") : "?",
                 hx_json_get_str(x, "device") ? hx_json_get_str(x, "device") : "?");
        if (rows && json_is_object(x) && json_object_set(rows, key, x)) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

/* One reader x device row: its result and message on each side. */
static json_t *probe_row(json_t *b, json_t *n)
{
    json_t *any = n ? n : b;
    json_t *e = json_pack("{s:o, s:o}", "reader", hx_json_str(hx_json_get_str(any, "reader")),
                          "device", hx_json_str(hx_json_get_str(any, "device")));
    struct {
        json_t *p;
        const char *result, *message;
    } sides[] = {{b, "base", "base_message"}, {n, "new", "new_message"}};
    for (int i = 0; e && i < 2; i++) {
        if (!sides[i].p)
            continue;
        json_object_set(e, sides[i].result, json_object_get(sides[i].p, "result"));
        json_object_set(e, sides[i].message, json_object_get(sides[i].p, "message"));
    }
    return e;
}

/* Equal members of two objects; absent from both is equal too. */
static int same_member(json_t *b, json_t *n, const char *key)
{
    json_t *x = json_object_get(b, key), *y = json_object_get(n, key);
    return x == y || json_equal(x, y);
}

static int same_probe(json_t *b, json_t *n)
{
    return b && n && same_member(b, n, "result") && same_member(b, n, "message");
}

/* The rows whose result or message differs, BASE's order first. */
static json_t *probe_changes(json_t *pb, json_t *pn, json_int_t *same)
{
    json_t *b = probe_rows(pb), *n = probe_rows(pn), *out = json_array(), *x;
    const char *k;
    *same = 0;
    if (!b || !n || !out)
        goto fail;
    json_object_foreach(b, k, x) {
        json_t *y = json_object_get(n, k);
        if (same_probe(x, y))
            (*same)++;
        else if (json_array_append_new(out, probe_row(x, y)))
            goto fail;
    }
    json_object_foreach(n, k, x)
        if (!json_object_get(b, k) && json_array_append_new(out, probe_row(NULL, x)))
            goto fail;
    json_decref(b);
    json_decref(n);
    return out;
fail:
    json_decref(b);
    json_decref(n);
    json_decref(out);
    return NULL;
}

static json_t *verdict_of(json_t *p, const char *key)
{
    json_t *v = json_object_get(json_object_get(p, "verdict"), key);
    return json_is_string(v) ? v : json_null();
}

/* {base, new (present: booleans), verdict, changed, unchanged, other}. */
static json_t *probe_diff(const cmp_side *sb, const cmp_side *sn)
{
    static const char *const drop[] = {"probes", "libtorch", NULL};
    static const char *const skip[] = {"verdict.mps_workaround", "verdict.reason", NULL};
    json_t *b = probe_of(sb), *n = probe_of(sn);
    json_int_t same;
    json_t *rows = probe_changes(b, n, &same);
    json_t *other = diff_section(flat_of(b, drop, skip), flat_of(n, drop, skip));
    json_t *verdict = json_pack("{s:O, s:O, s:O, s:O}", "base", verdict_of(b, "mps_workaround"),
                                "new", verdict_of(n, "mps_workaround"), "base_reason",
                                verdict_of(b, "reason"), "new_reason", verdict_of(n, "reason"));
    if (!rows || !other || !verdict) {
        json_decref(rows);
        json_decref(other);
        json_decref(verdict);
        return NULL;
    }
    return json_pack("{s:b, s:b, s:o, s:o, s:I, s:o}", "base", b != NULL, "new", n != NULL,
                     "verdict", verdict, "changed", rows, "unchanged", same, "other", other);
}

/* ------------------------------------------------ cases */

/* The cases by id (a later one with the same id wins, as in merge). */
static json_t *case_index(const json_t *cases)
{
    json_t *ix = json_object(), *c;
    size_t i;
    json_array_foreach(cases, i, c) if (ix && json_object_set(ix, hx_json_get_str(c, "id"), c)) {
        json_decref(ix);
        return NULL;
    }
    return ix;
}

/* {id, suite, name, base, new} (an absent side has no member), the later
 * side's reason when it did not pass (why it skipped, failed, ...) and
 * its error message when it fails the run. */
static json_t *case_entry(const json_t *b, const json_t *n)
{
    const json_t *c = n ? n : b;
    json_t *e = json_pack("{s:o, s:o, s:o}", "id", hx_json_str(hx_json_get_str(c, "id")), "suite",
                          hx_json_str(hx_json_get_str(c, "suite")), "name",
                          hx_json_str(hx_json_get_str(c, "name")));
    if (e && b)
        json_object_set_new(e, "base", json_string(hx_status_name(hx_case_status(b))));
    if (e && n)
        json_object_set_new(e, "new", json_string(hx_status_name(hx_case_status(n))));
    if (e && hx_case_status(c) != HX_ST_PASS)
        json_object_set_new(e, "reason", hx_json_str(hx_json_get_str(c, "reason")));
    if (e && hx_status_fails_run(hx_case_status(c)))
        json_object_set_new(e, "message",
                            hx_json_str(hx_json_get_str(json_object_get(c, "actual"), "message")));
    return e;
}

/* Which list a case present on both sides goes into; NULL: unchanged. A
 * setup error is on the failing side here (pass -> error is broken,
 * error -> pass fixed, fail -> error changed): the case no longer
 * checks anything. */
static const char *transition(const json_t *b, const json_t *n)
{
    hx_status sb = hx_case_status(b), sn = hx_case_status(n);
    if (sb == sn)
        return NULL;
    if (hx_status_not_ok(sb) != hx_status_not_ok(sn))
        return hx_status_not_ok(sn) ? "broken" : "fixed";
    return "changed";
}

static json_t *case_diff(const cmp_side *sb, const cmp_side *sn)
{
    json_t *ib = case_index(sb->r.cases), *in = case_index(sn->r.cases), *c;
    json_t *out = json_pack("{s:I, s:[], s:[], s:[], s:[], s:[]}", "unchanged", (json_int_t)0,
                            "broken", "fixed", "changed", "new", "gone");
    json_int_t same = 0;
    size_t i;
    int bad = !ib || !in || !out;
    json_array_foreach(bad ? NULL : sn->r.cases, i, c) {
        const char *id = hx_json_get_str(c, "id");
        json_t *b = json_object_get(ib, id);
        const char *list = b ? transition(b, c) : "new";
        if (json_object_get(in, id) != c) /* a repeated id: its last case counts */
            continue;
        if (!list)
            same++;
        else
            bad |= json_array_append_new(json_object_get(out, list), case_entry(b, c));
    }
    json_array_foreach(bad ? NULL : sb->r.cases, i, c) {
        const char *id = hx_json_get_str(c, "id");
        if (json_object_get(ib, id) == c && !json_object_get(in, id))
            bad |= json_array_append_new(json_object_get(out, "gone"), case_entry(c, NULL));
    }
    if (!bad)
        bad = json_object_set_new(out, "unchanged", json_integer(same));
    json_decref(ib);
    json_decref(in);
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------ the whole comparison */

static json_t *side_info(const cmp_side *s)
{
    json_t *env = s->r.environment;
    json_t *commit = json_object_get(env, "commit");
    return json_pack("{s:o, s:o, s:o, s:O, s:o}", "path", hx_json_str(s->path), "loadgate",
                     hx_json_str(hx_json_get_str(env, "loadgate")), "libtorch",
                     hx_json_str(hx_json_get_str(env, "libtorch")), "commit",
                     commit ? commit : json_null(), "summary", hx_report_summary(&s->r));
}

/* The reasons for exit 1, as sentences. */
static json_t *regressions(json_t *cases, json_t *probe)
{
    json_t *out = json_array();
    size_t broken = json_array_size(json_object_get(cases, "broken"));
    json_t *v = json_object_get(probe, "verdict");
    char line[256];
    if (out && broken) {
        snprintf(line, sizeof line, "%zu case%s that did not fail in BASE fail%s in NEW", broken,
                 broken == 1 ? "" : "s", broken == 1 ? "s" : "");
        json_array_append_new(out, json_string(line));
    }
    const char *vb = json_string_value(json_object_get(v, "base"));
    const char *vn = json_string_value(json_object_get(v, "new"));
    if (out && vb && vn && !strcmp(vb, "removable") && !strcmp(vn, "needed"))
        json_array_append_new(out,
                              json_string("the MPS workaround verdict went from removable to needed"));
    return out;
}

static json_t *compare_json(const cmp_side *b, const cmp_side *n)
{
    json_t *env = environment_diff(b, n), *probe = probe_diff(b, n), *cases = case_diff(b, n);
    json_t *regs = env && probe && cases ? regressions(cases, probe) : NULL;
    if (!regs) {
        json_decref(env);
        json_decref(probe);
        json_decref(cases);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o}", "schema", HX_COMPARE_SCHEMA,
                     "base", side_info(b), "new", side_info(n), "regression",
                     json_array_size(regs) > 0, "regressions", regs, "environment", env, "probe",
                     probe, "cases", cases);
}

/* ------------------------------------------------ the command */

/* The text to print: the comparison as JSON or Markdown (malloc'd). */
static char *compare_text(const json_t *cmp, int as_json)
{
    if (!as_json)
        return hx_compare_md(cmp, HX_COMPARE_MD_CAP);
    char *s = hx_json_dumps(cmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *nl = s ? realloc(s, strlen(s) + 2) : NULL;
    if (!nl) {
        free(s);
        return NULL;
    }
    strcat(nl, "\n");
    return nl;
}

/* Writes text to path (its folder created), or to stdout for NULL. */
static lg_status compare_write(const char *text, const char *path)
{
    FILE *f = stdout;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (slash && slash != path) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (hx_mkdirs(dir) != LG_OK)
            return LG_E_IO;
    }
    if (path && hx_fopen_out(path, &f) != LG_OK)
        return LG_E_IO;
    fputs(text, f);
    if (path)
        return hx_fclose_checked(f, path);
    return fflush(f) ? hx_err(LG_E_IO, "stdout: write error") : LG_OK;
}

static int compare_run(char **paths, const char *out, int as_json)
{
    cmp_side sides[2] = {0};
    json_t *cmp = NULL;
    char *text = NULL;
    int rc = 2;
    for (int i = 0; i < 2; i++) {
        if (side_load(paths[i], &sides[i]) != LG_OK) {
            fprintf(stderr, "harness compare: %s: %s\n", i ? "NEW" : "BASE", hx_errmsg());
            goto out;
        }
    }
    cmp = compare_json(&sides[0], &sides[1]);
    text = cmp ? compare_text(cmp, as_json) : NULL;
    if (!text)
        fputs("harness compare: out of memory\n", stderr);
    else if (compare_write(text, out) != LG_OK)
        fprintf(stderr, "harness compare: %s\n", hx_errmsg());
    else
        rc = json_is_true(json_object_get(cmp, "regression")) ? 1 : 0;
out:
    for (int i = 0; i < 2; i++)
        if (sides[i].loaded)
            hx_report_free(&sides[i].r);
    json_decref(cmp);
    free(text);
    return rc;
}

enum { O_OUT = 1, O_JSON };

int hx_cmd_compare(int argc, char **argv)
{
    static const hx_opt opts[] = {{"out", 'o', 1, O_OUT}, {"json", 0, 0, O_JSON}, {NULL, 0, 0, 0}};
    const char *out = NULL;
    int as_json = 0, id;
    hx_args a;
    hx_args_init(&a, "compare", compare_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        if (id == O_OUT)
            out = a.value;
        else
            as_json = 1;
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) != 2)
        return hx_args_error(&a, "expected two reports, BASE and NEW, got %d", hx_args_count(&a));
    return compare_run(argv + a.next, out, as_json);
}
