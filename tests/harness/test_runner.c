/* `harness run` end to end: small suites written to temp files and run
 * through hx_cmd_run, with the reports read back. Covers a wrong
 * expectation, crash and hang isolation, sweeps, sharding + merge,
 * --fail-fast, --rerun-failed, -j, the isolation modes and usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "report/report.h"
#include "run/runner.h"
#include "util/json.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir;

#define FIXTURES                                                                                 \
    "fixtures:\n"                                                                                \
    "  small: {generate: {format: safetensors, tensors: 2, shape: [8, 8], dtype: f32, seed: 1}}\n"

/* Seven passing cases. */
static const char basic_yaml[] =
    "suite: basic\n"
    "defaults: {backend: sim, timeout: 30}\n" FIXTURES
    "cases:\n"
    "  - name: load\n"
    "    matrix:\n"
    "      device: [cpu, mps]\n"
    "      policy: [via-cpu, staged]\n"
    "    file: small\n"
    "  - name: truncated\n"
    "    device: mps\n"
    "    file: small\n"
    "    corrupt: {truncate: [0, 7, half]}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n";

/* basic plus one deliberately wrong expectation. */
static const char wrong_yaml[] =
    "suite: basic\n"
    "defaults: {backend: sim, timeout: 30}\n" FIXTURES
    "cases:\n"
    "  - name: load\n"
    "    matrix:\n"
    "      device: [cpu, mps]\n"
    "      policy: [via-cpu, staged]\n"
    "    file: small\n"
    "  - name: wrong\n"
    "    device: mps\n"
    "    file: small\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n"
    "  - name: truncated\n"
    "    device: mps\n"
    "    file: small\n"
    "    corrupt: {truncate: [0, 7, half]}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n";

static const char sweep_yaml[] =
    "suite: sweep\n"
    "defaults: {backend: sim, device: mps, policy: staged, file: small}\n" FIXTURES
    "cases:\n"
    "  - name: copy\n"
    "    fault: {point: device.copy, sweep: persistent}\n"
    "    expect: {outcome: error, error: LG_E_DEVICE}\n"
    "  - name: copy-once\n"
    "    fault: {point: device.copy, sweep: transient}\n"
    "    expect: {outcome: error, error: LG_E_DEVICE}\n"
    "  - name: maybe\n"
    "    fault: {point: device.copy, prob: 0.5}\n"
    "    expect: {outcome: any}\n";

static const char crash_yaml[] =
    "suite: crash\n"
    "defaults: {backend: sim, device: mps, file: small, timeout: 30}\n" FIXTURES
    "cases:\n"
    "  - name: before\n"
    "  - name: boom\n"
    "    fault: {point: io.open, nth: 1, action: crash}\n"
    "  - name: after\n";

static const char hang_yaml[] =
    "suite: hang\n"
    "defaults: {backend: sim, device: mps, file: small}\n" FIXTURES
    "cases:\n"
    "  - name: short\n"
    "    timeout: 1\n"
    "    fault: {point: io.open, nth: 1, action: hang}\n"
    "  - name: long\n"
    "    timeout: 60\n"
    "    fault: {point: io.open, nth: 1, action: hang}\n"
    "    tags: [long]\n";

static const char misc_yaml[] =
    "suite: misc\n"
    "defaults: {backend: sim, device: mps, file: small}\n" FIXTURES
    "cases:\n"
    "  - name: skipped\n"
    "    skip: not today\n"
    "  - name: needs-cuda\n"
    "    backend: torch\n"
    "    device: cuda\n"
    "    requires: [cuda]\n"
    "  - name: needs-new-libtorch\n"
    "    requires: ['libtorch>=99.0']\n"
    "  - name: known-bug\n"
    "    xfail: the loader cannot do this yet\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n"
    "  - name: fixed-bug\n"
    "    xfail: was broken once\n"
    "  - name: message\n"
    "    corrupt: {truncate: 0}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT, message: 'no such text'}\n"
    "  - name: invariants-listed\n"
    "    corrupt: {truncate: 7}\n"
    "    expect: {outcome: any, invariants: [restored, consistent, atomic, no-leak]}\n"
    "  - name: torch-mps-new\n"
    "    backend: torch\n"
    "    requires: ['libtorch>=99.0', mps]\n"
    "  - name: no-cuda-here\n"
    "    requires: [no-cuda]\n"
    "  - name: no-cuda-gone\n"
    "    sim: {cuda: {available: no}}\n"
    "    requires: [no-cuda]\n"
    "  - name: no-torch\n"
    "    requires: [no-torch]\n";

/* ------------------------------------------------------------- helpers */

static const char *write_suite(const char *name, const char *text)
{
    static char buf[8][600];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 600, "%s", tu_path(g_dir, name));
    ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
    return p;
}

static const char *out_dir(const char *name)
{
    static char buf[8][600];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 600, "%s", tu_path(g_dir, name));
    return p;
}

/* hx_cmd_run("run", args..., NULL) */
static int run(const char *first, ...)
{
    char *argv[40];
    int argc = 0;
    va_list ap;
    argv[argc++] = "run";
    va_start(ap, first);
    for (const char *a = first; a && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return hx_cmd_run(argc, argv);
}

static json_t *report_of(const char *dir)
{
    json_error_t je;
    json_t *doc = json_load_file(tu_path(dir, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "%s/report.json: %s", dir, je.text);
    ck_assert_str_eq(hx_json_get_str(doc, "schema"), "loadgate-report/1");
    return doc;
}

static json_t *cases_of(json_t *doc)
{
    return json_object_get(doc, "cases");
}

static json_t *case_by_id(json_t *doc, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases_of(doc), i, c) if (!strcmp(hx_json_get_str(c, "id"), id)) return c;
    ck_abort_msg("no case %s in the report", id);
    return NULL;
}

static const char *status_of(json_t *doc, const char *id)
{
    return hx_json_get_str(case_by_id(doc, id), "status");
}

static long summary_count(json_t *doc, const char *key)
{
    return (long)json_integer_value(json_object_get(json_object_get(doc, "summary"), key));
}

static int count_status(json_t *doc, const char *status)
{
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach(cases_of(doc), i, c) n += !strcmp(hx_json_get_str(c, "status"), status);
    return n;
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *read_text(const char *path)
{
    size_t n = 0;
    char *t = tu_read(path, &n);
    ck_assert_msg(t != NULL, "cannot read %s", path);
    char *z = realloc(t, n + 1);
    ck_assert_ptr_nonnull(z);
    z[n] = 0;
    return z;
}

/* The ids and statuses of a report, as one comparable text. */
static char *statuses(json_t *doc)
{
    size_t i, len = 1;
    json_t *c;
    json_array_foreach(cases_of(doc), i, c) len += strlen(hx_json_get_str(c, "id")) + 16;
    char *s = calloc(len, 1);
    ck_assert_ptr_nonnull(s);
    json_array_foreach(cases_of(doc), i, c) {
        strcat(s, hx_json_get_str(c, "id"));
        strcat(s, "=");
        strcat(s, hx_json_get_str(c, "status"));
        strcat(s, "\n");
    }
    return s;
}

/* --------------------------------------------------------------- tests */

START_TEST(passing_suite)
{
    const char *suite = write_suite("basic.yaml", basic_yaml), *out = out_dir("pass");
    ck_assert_int_eq(run(suite, "-o", out, NULL), 0);
    json_t *doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "total"), 7);
    ck_assert_int_eq(summary_count(doc, "passed"), 7);
    json_t *c = case_by_id(doc, "basic/load[device=mps,policy=via-cpu]");
    ck_assert_str_eq(hx_json_get_str(json_object_get(c, "invariants"), "via-cpu"), "pass");
    ck_assert_str_eq(hx_json_get_str(c, "backend"), "sim");
    ck_assert(json_integer_value(json_object_get(json_object_get(c, "moved"), "cpu->mps")) > 0);
    ck_assert(json_array_size(json_object_get(c, "trace")) > 0);
    ck_assert_int_eq(access(tu_path(out, "junit.xml"), R_OK), 0);
    ck_assert_int_eq(access(tu_path(out, "summary.md"), R_OK), 0);
    ck_assert_int_eq(access(tu_path(out, "index.html"), R_OK), 0);
    json_decref(doc);
}
END_TEST

START_TEST(wrong_expectation)
{
    const char *suite = write_suite("wrong.yaml", wrong_yaml), *out = out_dir("wrong");
    ck_assert_int_eq(run(suite, "-o", out, "--format", "json,junit,html", NULL), 1);
    json_t *doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "total"), 8);
    ck_assert_int_eq(summary_count(doc, "failed"), 1);
    ck_assert_int_eq(count_status(doc, "fail"), 1);
    ck_assert_int_eq(count_status(doc, "pass"), 7);
    json_t *c = case_by_id(doc, "basic/wrong");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "fail");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "LG_E_FORMAT"));
    ck_assert_str_eq(hx_json_get_str(json_object_get(c, "expected"), "error"), "LG_E_FORMAT");
    ck_assert_str_eq(hx_json_get_str(json_object_get(c, "actual"), "outcome"), "ok");
    json_decref(doc);

    char *x = read_text(tu_path(out, "junit.xml"));
    ck_assert_uint_eq(count_str(x, "<testcase "), 8);
    ck_assert_uint_eq(count_str(x, "<failure "), 1);
    ck_assert_uint_eq(count_str(x, "<error "), 0);
    const char *f = strstr(x, "<failure ");
    const char *tc = strstr(x, "<testcase name=\"basic/wrong\"");
    ck_assert_ptr_nonnull(tc);
    const char *next = strstr(tc + 1, "<testcase");
    ck_assert(f > tc && (!next || f < next));
    free(x);
    ck_assert_int_ne(access(tu_path(out, "summary.md"), R_OK), 0); /* not asked for */
    char *h = read_text(tu_path(out, "index.html"));
    ck_assert_ptr_nonnull(strstr(h, "\"id\":\"basic/wrong\""));
    free(h);
}
END_TEST

START_TEST(crash_is_isolated)
{
    const char *suite = write_suite("crash.yaml", crash_yaml), *out = out_dir("crash");
    ck_assert_int_eq(run(suite, "-o", out, "-j", "1", NULL), 1);
    json_t *doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "crashed"), 1);
    ck_assert_str_eq(status_of(doc, "crash/before"), "pass");
    ck_assert_str_eq(status_of(doc, "crash/after"), "pass");
    json_t *c = case_by_id(doc, "crash/boom");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "crash");
    ck_assert_str_eq(hx_json_get_str(json_object_get(c, "actual"), "signal"), "SIGSEGV");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "SIGSEGV"));
    json_decref(doc);
    char *x = read_text(tu_path(out, "junit.xml"));
    ck_assert_uint_eq(count_str(x, "<error "), 1);
    ck_assert_ptr_nonnull(strstr(x, "type=\"crash\""));
    free(x);
}
END_TEST

START_TEST(hang_times_out)
{
    const char *suite = write_suite("hang.yaml", hang_yaml), *out = out_dir("hang");
    /* the case's own timeout */
    ck_assert_int_eq(run(suite, "-o", out, "-k", "hang/short", NULL), 1);
    json_t *doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "total"), 1);
    json_t *c = case_by_id(doc, "hang/short");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "timeout");
    ck_assert(json_real_value(json_object_get(c, "duration_s")) < 10);
    json_decref(doc);
    /* --timeout overrides the case's 60 s */
    ck_assert_int_eq(run(suite, "-o", out, "-k", "long", "--timeout", "1", NULL), 1);
    doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "timedout"), 1);
    ck_assert_str_eq(status_of(doc, "hang/long"), "timeout");
    json_decref(doc);
}
END_TEST

START_TEST(sweeps_expand)
{
    const char *suite = write_suite("sweep.yaml", sweep_yaml), *out = out_dir("sweep");
    ck_assert_int_eq(run(suite, "-o", out, "--seed", "7", NULL), 0);
    json_t *doc = report_of(out);
    size_t i, runs = 0;
    json_t *c, *last = NULL;
    json_array_foreach(cases_of(doc), i, c) {
        const char *id = hx_json_get_str(c, "id");
        if (strncmp(id, "sweep/copy[k=", 13))
            continue;
        char want[64];
        snprintf(want, sizeof want, "sweep/copy[k=%zu]", ++runs);
        ck_assert_str_eq(id, want);
        ck_assert_str_eq(hx_json_get_str(c, "status"), "pass");
        json_t *f = json_array_get(json_object_get(c, "faults"), 0);
        ck_assert_str_eq(hx_json_get_str(f, "point"), "device.copy");
        if (last)
            ck_assert(json_integer_value(json_object_get(
                          json_array_get(json_object_get(last, "faults"), 0), "fired")) > 0);
        last = c;
    }
    ck_assert_uint_ge(runs, 2);
    /* the last run hit no fault and loaded */
    json_t *f = json_array_get(json_object_get(last, "faults"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "fired")), 0);
    ck_assert_str_eq(hx_json_get_str(json_object_get(last, "actual"), "outcome"), "ok");
    ck_assert_str_eq(hx_json_get_str(case_by_id(doc, "sweep/copy-once[k=1]"), "status"), "pass");
    /* a prob fault with no seed takes --seed */
    json_t *m = case_by_id(doc, "sweep/maybe");
    const char *sched = hx_json_get_str(json_array_get(json_object_get(m, "faults"), 0), "schedule");
    ck_assert_ptr_nonnull(strstr(sched, "seed=7"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "run"), "seed")), 7);
    json_decref(doc);
}
END_TEST

static void merge3(const char *out, const char *a, const char *b, const char *c)
{
    char *argv[] = {"merge", "-o", (char *)out, (char *)a, (char *)b, (char *)c, NULL};
    ck_assert_int_le(hx_cmd_merge(6, argv), 1);
}

START_TEST(shards_merge)
{
    const char *suites[3] = {write_suite("s-wrong.yaml", wrong_yaml),
                             write_suite("s-sweep.yaml", sweep_yaml),
                             write_suite("s-misc.yaml", misc_yaml)};
    const char *all = out_dir("all"), *sh[3] = {out_dir("sh1"), out_dir("sh2"), out_dir("sh3")};
    char shard[8], merged[600], in[3][600];
    ck_assert_int_eq(run(suites[0], suites[1], suites[2], "-o", all, NULL), 1);
    for (int i = 0; i < 3; i++) {
        snprintf(shard, sizeof shard, "%d/3", i + 1);
        run(suites[0], suites[1], suites[2], "-o", sh[i], "--shard", shard, NULL);
        snprintf(in[i], sizeof in[i], "%s", tu_path(sh[i], "report.json"));
    }
    snprintf(merged, sizeof merged, "%s", tu_path(all, "merged.json"));
    merge3(merged, in[2], in[0], in[1]);
    json_t *a = report_of(all);
    json_error_t je;
    json_t *m = json_load_file(merged, 0, &je);
    ck_assert_ptr_nonnull(m);
    json_t *sa = json_object_get(a, "summary"), *sm = json_object_get(m, "summary");
    json_object_del(sa, "duration_s");
    json_object_del(sm, "duration_s");
    ck_assert_msg(json_equal(sa, sm), "merged summary differs");
    char *ta = statuses(a), *tm = statuses(m);
    ck_assert_str_eq(ta, tm);
    /* every shard ran a part, and the parts are disjoint */
    for (int i = 0; i < 3; i++) {
        json_t *s = report_of(sh[i]);
        ck_assert_int_gt(summary_count(s, "total"), 0);
        json_decref(s);
    }
    free(ta);
    free(tm);
    json_decref(a);
    json_decref(m);
}
END_TEST

START_TEST(fail_fast)
{
    static const char yaml[] = "suite: ff\n"
                               "defaults: {backend: sim, device: mps, file: small}\n" FIXTURES
                               "cases:\n"
                               "  - name: first\n"
                               "    expect: {outcome: error}\n"
                               "  - name: load\n"
                               "    matrix: {policy: [via-cpu, staged, auto]}\n";
    const char *suite = write_suite("ff.yaml", yaml), *out = out_dir("ff");
    ck_assert_int_eq(run(suite, "-o", out, "-j", "1", "--fail-fast", NULL), 1);
    json_t *doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "total"), 1);
    ck_assert_str_eq(status_of(doc, "ff/first"), "fail");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "run"), "not_run")), 3);
    json_decref(doc);
    ck_assert_int_eq(run(suite, "-o", out, "-j", "1", NULL), 1);
    doc = report_of(out);
    ck_assert_int_eq(summary_count(doc, "total"), 4);
    json_decref(doc);
}
END_TEST

/* Runs suite into out, exit code rc, then again with --rerun-failed of
 * that report into again, exit code rerun_rc: the second run's report. */
static json_t *rerun_of(const char *suite, const char *name, int rc, int rerun_rc)
{
    char prev[600];
    const char *out = out_dir(name), *again = out_dir("rr-again");
    ck_assert_int_eq(run(suite, "-o", out, NULL), rc);
    snprintf(prev, sizeof prev, "%s", tu_path(out, "report.json"));
    ck_assert_int_eq(run(suite, "-o", again, "--rerun-failed", prev, NULL), rerun_rc);
    return report_of(again);
}

START_TEST(rerun_failed)
{
    json_t *doc = rerun_of(write_suite("rr.yaml", wrong_yaml), "rr1", 1, 1);
    ck_assert_int_eq(summary_count(doc, "total"), 1);
    ck_assert_str_eq(status_of(doc, "basic/wrong"), "fail");
    json_decref(doc);
    /* a report with no failure reruns nothing */
    doc = rerun_of(write_suite("rr-ok.yaml", basic_yaml), "rr3", 0, 0);
    ck_assert_int_eq(summary_count(doc, "total"), 0);
    json_decref(doc);
    /* a failed case whose id ends in a value ",k=1" (not a sweep's run):
     * rerun as itself, not cut to a case that does not exist (it was
     * dropped, and the rerun passed with no case) */
    static const char kv_yaml[] = "suite: kv\n"
                                  "defaults: {backend: sim, device: mps, file: small}\n" FIXTURES
                                  "cases:\n"
                                  "  - name: a\n"
                                  "    matrix: {description: [\"model,k=1\"]}\n"
                                  "    expect: {outcome: error}\n";
    doc = rerun_of(write_suite("rr-kv.yaml", kv_yaml), "rr4", 1, 1);
    ck_assert_int_eq(summary_count(doc, "total"), 1);
    ck_assert_str_eq(status_of(doc, "kv/a[description=model,k=1]"), "fail");
    json_decref(doc);
}
END_TEST

START_TEST(parallel_same_as_serial)
{
    const char *a = write_suite("p-wrong.yaml", wrong_yaml), *b = write_suite("p-sweep.yaml", sweep_yaml),
               *c = write_suite("p-crash.yaml", crash_yaml);
    const char *o1 = out_dir("j1"), *o2 = out_dir("j2");
    ck_assert_int_eq(run(a, b, c, "-o", o1, "-j", "1", NULL), 1);
    ck_assert_int_eq(run(a, b, c, "-o", o2, "-j", "2", NULL), 1);
    json_t *d1 = report_of(o1), *d2 = report_of(o2);
    char *s1 = statuses(d1), *s2 = statuses(d2);
    ck_assert_str_eq(s1, s2);
    free(s1);
    free(s2);
    json_decref(d1);
    json_decref(d2);
}
END_TEST

START_TEST(skips_and_xfail)
{
    const char *suite = write_suite("misc.yaml", misc_yaml), *out = out_dir("misc");
    ck_assert_int_eq(run(suite, "-o", out, NULL), 1); /* fixed-bug xpasses, message fails */
    json_t *doc = report_of(out);
    json_t *c = case_by_id(doc, "misc/skipped");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "skip");
    ck_assert_str_eq(hx_json_get_str(c, "reason"), "not today");
    c = case_by_id(doc, "misc/needs-cuda");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "skip");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "requires cuda"));
    c = case_by_id(doc, "misc/needs-new-libtorch");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "skip");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "libtorch>=99.0"));
    ck_assert_str_eq(status_of(doc, "misc/known-bug"), "xfail");
    ck_assert_str_eq(status_of(doc, "misc/fixed-bug"), "xpass");
    c = case_by_id(doc, "misc/message");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "fail");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "no such text"));
    ck_assert_str_eq(status_of(doc, "misc/invariants-listed"), "pass");
    /* decided in the parent: no process with libtorch is started */
    c = case_by_id(doc, "misc/torch-mps-new");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "skip");
    ck_assert_ptr_nonnull(strstr(hx_json_get_str(c, "reason"), "requires libtorch>=99.0"));
    c = case_by_id(doc, "misc/no-cuda-here");
    ck_assert_str_eq(hx_json_get_str(c, "status"), "skip");
    ck_assert_str_eq(hx_json_get_str(c, "reason"), "requires no-cuda: cuda is there");
    ck_assert_str_eq(status_of(doc, "misc/no-cuda-gone"), "pass");
#ifdef LOADGATE_HAVE_TORCH
    ck_assert_str_eq(status_of(doc, "misc/no-torch"), "skip");
    ck_assert_int_eq(summary_count(doc, "skipped"), 6);
#else
    ck_assert_str_eq(status_of(doc, "misc/no-torch"), "pass");
    ck_assert_int_eq(summary_count(doc, "skipped"), 5);
#endif
    ck_assert_int_eq(summary_count(doc, "xpassed"), 1);
    json_decref(doc);
}
END_TEST

START_TEST(isolation_modes)
{
    const char *suite = write_suite("iso.yaml", wrong_yaml);
    const char *fork_out = out_dir("iso-fork"), *none_out = out_dir("iso-none");
    ck_assert_int_eq(run(suite, "-o", fork_out, NULL), 1);
    ck_assert_int_eq(run(suite, "-o", none_out, "--isolation", "none", NULL), 1);
    json_t *a = report_of(fork_out), *b = report_of(none_out);
    char *sa = statuses(a), *sb = statuses(b);
    ck_assert_str_eq(sa, sb);
    const char *exe = getenv("LOADGATE_HARNESS");
    if (exe && access(exe, X_OK) == 0) {
        const char *spawn_out = out_dir("iso-spawn");
        ck_assert_int_eq(run(suite, "-o", spawn_out, "--isolation", "spawn", "-j", "2", NULL), 1);
        json_t *c = report_of(spawn_out);
        char *sc = statuses(c);
        ck_assert_str_eq(sa, sc);
        free(sc);
        json_decref(c);
    }
    free(sa);
    free(sb);
    json_decref(a);
    json_decref(b);
}
END_TEST

START_TEST(run_one)
{
    const char *suite = write_suite("one.yaml", sweep_yaml);
    char out[600];
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "one.out"));
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), saved = dup(1);
    ck_assert(fd >= 0 && saved >= 0);
    fflush(stdout);
    dup2(fd, 1);
    char *argv[] = {"__run-one", (char *)suite, "sweep/copy[k=2]", "--seed", "3", NULL};
    int rc = hx_cmd_run_one(5, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(fd);
    close(saved);
    ck_assert_int_eq(rc, 0);
    json_error_t je;
    json_t *w = json_load_file(out, 0, &je);
    ck_assert_msg(w != NULL, "__run-one output: %s", je.text);
    json_t *r = json_object_get(w, "result");
    ck_assert_str_eq(hx_json_get_str(r, "id"), "sweep/copy[k=2]");
    ck_assert_str_eq(hx_json_get_str(r, "status"), "pass");
    ck_assert_int_gt(json_integer_value(json_object_get(w, "fired")), 0);
    json_decref(w);
    char *bad[] = {"__run-one", (char *)suite, "sweep/nope", NULL};
    ck_assert_int_eq(hx_cmd_run_one(3, bad), 2);
    char *usage[] = {"__run-one", NULL};
    ck_assert_int_eq(hx_cmd_run_one(1, usage), 2);
}
END_TEST

START_TEST(usage_and_invalid)
{
    const char *bad = write_suite("bad.yaml", "suite: bad\ncases:\n  - name: x\n    colour: red\n");
    const char *good = write_suite("good.yaml", basic_yaml), *out = out_dir("usage");
    ck_assert_int_eq(run(bad, "-o", out, NULL), 2);
    ck_assert_int_eq(run(tu_path(g_dir, "missing.yaml"), "-o", out, NULL), 2);
    ck_assert_int_eq(run(NULL), 2);
    ck_assert_int_eq(run("--help", NULL), 0);
    ck_assert_int_eq(run(good, "--shard", "0/3", NULL), 2);
    ck_assert_int_eq(run(good, "--shard", "4/3", NULL), 2);
    ck_assert_int_eq(run(good, "--isolation", "thread", NULL), 2);
    ck_assert_int_eq(run(good, "-j", "0", NULL), 2);
    ck_assert_int_eq(run(good, "--format", "pdf", NULL), 2);
    ck_assert_int_eq(run(good, "--backend", "tpu", NULL), 2);
    ck_assert_int_eq(run(good, "--timeout", "soon", NULL), 2);
    ck_assert_int_eq(run(good, "--bogus", NULL), 2);
    ck_assert_int_eq(run(good, "-o", NULL), 2);
    char missing[600];
    snprintf(missing, sizeof missing, "%s", tu_path(g_dir, "no-report.json"));
    ck_assert_int_eq(run(good, "-o", out, "--rerun-failed", missing, NULL), 2);
    /* -k selecting nothing is an error: exit 5, as pytest (docs/cli.md) */
    ck_assert_int_eq(run(good, "-o", out, "-k", "no-such-case", NULL), 5);
}
END_TEST

START_TEST(sweep_ids)
{
    char *a = hx_sweep_id("s/n[device=mps]", 3), *b = hx_sweep_id("s/n", 12);
    ck_assert_str_eq(a, "s/n[device=mps,k=3]");
    ck_assert_str_eq(b, "s/n[k=12]");
    char *c = hx_base_id(a), *d = hx_base_id(b), *e = hx_base_id("s/n[kk=3]");
    ck_assert_str_eq(c, "s/n[device=mps]");
    ck_assert_str_eq(d, "s/n");
    ck_assert_str_eq(e, "s/n[kk=3]");
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
}
END_TEST

static Suite *runner_suite(void)
{
    Suite *s = suite_create("runner");
    TCase *t = tcase_create("runner");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, sweep_ids);
    tcase_add_test(t, passing_suite);
    tcase_add_test(t, wrong_expectation);
    tcase_add_test(t, crash_is_isolated);
    tcase_add_test(t, hang_times_out);
    tcase_add_test(t, sweeps_expand);
    tcase_add_test(t, shards_merge);
    tcase_add_test(t, fail_fast);
    tcase_add_test(t, rerun_failed);
    tcase_add_test(t, parallel_same_as_serial);
    tcase_add_test(t, skips_and_xfail);
    tcase_add_test(t, isolation_modes);
    tcase_add_test(t, run_one);
    tcase_add_test(t, usage_and_invalid);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    char exe[600];
    /* Spawned cases must run the harness, never this test program. */
    if (argc > 1 && !strcmp(argv[1], "__run-one"))
        return 2;
    snprintf(exe, sizeof exe, "%s/harness", LG_BINARY_DIR);
    setenv("LOADGATE_HARNESS", exe, 1);
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(runner_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
