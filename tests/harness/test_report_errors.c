/* The report writers at their edges, called directly: folders that cannot
 * hold a report (a regular file in the path, a folder where a report
 * file must go), paths too long, a body that fails half-way, a history
 * file that is a folder or holds more lines than are kept; and the text
 * they must escape: pipes, line breaks and HTML in Markdown, the
 * characters XML forbids in junit.xml, a page whose traces are past
 * their budget. */
#include "loadgate/loadgate.h"
#include "report/history.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fds.h"
#include "util/fs.h"
#include "util/json.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void) { tu_rmtree(dir); }

/* A copy of tu_path's result (its buffers rotate). */
static char *path_of(const char *name)
{
    static char paths[8][4200];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 4200, "%s", tu_path(dir, name));
    return p;
}

/* A path of about n bytes under dir (not made). */
static char *long_path(size_t n)
{
    char *p = malloc(n + 1);
    ck_assert_ptr_nonnull(p);
    size_t k = (size_t)snprintf(p, n + 1, "%s/", dir);
    memset(p + k, 'd', n - k);
    p[n] = 0;
    for (size_t i = k + 200; i < n; i += 200)
        p[i] = '/';
    return p;
}

static void assert_msg_has(const char *want)
{
    ck_assert_msg(strstr(hx_errmsg(), want), "message lacks '%s': %.300s", want, hx_errmsg());
}

/* A report of one passing and one failing case. */
static void two_case_report(hx_report *r)
{
    ck_assert_int_eq(hx_report_init(r), LG_OK);
    ck_assert_int_eq(hx_report_add(r, json_pack("{s:s, s:s, s:s, s:s}", "id", "s/a", "suite", "s",
                                                "name", "a", "status", "pass")),
                     LG_OK);
    ck_assert_int_eq(hx_report_add(r, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "s/b", "suite",
                                                "s", "name", "b", "status", "fail", "reason",
                                                "it failed")),
                     LG_OK);
}

/* ------------------------------------------------------ status names */

START_TEST(test_status_edges)
{
    ck_assert_str_eq(hx_status_name((hx_status)HX_ST_COUNT), "?");
    ck_assert_str_eq(hx_status_summary_key((hx_status)HX_ST_COUNT), "?");
    json_t *c = json_pack("{s:s}", "status", "bogus");
    ck_assert_int_eq(hx_case_status(c), HX_ST_FAIL);
    ck_assert(!hx_case_in_suite(c, "s")); /* no suite: the suite "" */
    ck_assert(hx_case_in_suite(c, ""));
    json_decref(c);
    unsigned f = 0;
    ck_assert_int_eq(hx_formats_parse("json,nope", &f), LG_E_INVALID);
}
END_TEST

/* ------------------------------------------------- clean, write_all */

START_TEST(test_clean_errors)
{
    char *p = long_path(4195);
    ck_assert_int_eq(hx_report_clean(p), LG_E_IO);
    assert_msg_has("path too long (4195 bytes): /");
    free(p);
    /* a regular file where the folder is */
    char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    ck_assert_int_eq(hx_report_clean(plain), LG_E_IO);
    assert_msg_has("cannot remove the earlier report");
    assert_msg_has("plain/report.json");
    /* a folder where report.json is */
    ck_assert_int_eq(mkdir(path_of("r"), 0755), 0);
    ck_assert_int_eq(mkdir(path_of("r/report.json"), 0755), 0);
    ck_assert_int_eq(hx_report_clean(path_of("r")), LG_E_IO);
    assert_msg_has("r/report.json");
    /* nothing there: nothing to do */
    ck_assert_int_eq(hx_report_clean(path_of("none")), LG_OK);
}
END_TEST

START_TEST(test_write_all_errors)
{
    hx_report r;
    two_case_report(&r);
    char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/out", plain);
    ck_assert_int_eq(hx_report_write_all(&r, sub, HX_FMT_ALL), LG_E_IO);
    assert_msg_has("plain/out");
    /* summary.md cannot be written (a folder of that name): the first
     * error is said, and the other reports are still written */
    char *out = path_of("out");
    ck_assert_int_eq(mkdir(out, 0755), 0);
    ck_assert_int_eq(mkdir(path_of("out/summary.md"), 0755), 0);
    ck_assert_int_eq(hx_report_write_all(&r, out, HX_FMT_ALL), LG_E_IO);
    assert_msg_has("summary.md");
    ck_assert_int_eq(access(path_of("out/report.json"), F_OK), 0);
    ck_assert_int_eq(access(path_of("out/junit.xml"), F_OK), 0);
    ck_assert_int_eq(access(path_of("out/index.html"), F_OK), 0);
    /* a folder path past what a path may be */
    char *p = long_path(5000);
    ck_assert_int_eq(hx_report_write_all(&r, p, HX_FMT_JSON), LG_E_IO);
    free(p);
    /* each writer on its own, into a folder that does not exist */
    const char *nodir = path_of("no/such/report");
    ck_assert_int_eq(hx_report_write_json(&r, nodir), LG_E_IO);
    assert_msg_has("no/such/report");
    ck_assert_int_eq(hx_report_write_junit(&r, nodir), LG_E_IO);
    ck_assert_int_eq(hx_report_write_md(&r, nodir), LG_E_IO);
    ck_assert_int_eq(hx_report_write_html(&r, nodir), LG_E_IO);
    assert_msg_has("no/such/report");
    hx_report_free(&r);
}
END_TEST

static lg_status failing_body(FILE *f, const hx_report *r, const char **suites, size_t n)
{
    (void)r, (void)suites, (void)n;
    fputs("half", f);
    return hx_err(LG_E_NOMEM, "out of memory");
}

/* A body that fails: its error, named by the file. */
START_TEST(test_write_with_failing_body)
{
    hx_report r;
    two_case_report(&r);
    const char *p = path_of("half.txt");
    ck_assert_int_eq(hx_report_write_with(&r, p, failing_body), LG_E_NOMEM);
    assert_msg_has("half.txt: out of memory");
    hx_report_free(&r);
}
END_TEST

/* ------------------------------------------------------------ history */

START_TEST(test_history_errors)
{
    hx_report r;
    two_case_report(&r);
    ck_assert_int_eq(hx_report_stamp(&r), LG_OK);
    char *p = long_path(4195);
    ck_assert_int_eq(hx_history_append(&r, p), LG_E_IO);
    assert_msg_has("path too long (4195 bytes): /");
    free(p);
    char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/h", plain);
    ck_assert_int_eq(hx_history_append(&r, sub), LG_E_IO);
    assert_msg_has("plain/h");
    /* history.jsonl a folder */
    ck_assert_int_eq(mkdir(path_of("h"), 0755), 0);
    ck_assert_int_eq(mkdir(path_of("h/" HX_HISTORY_FILE), 0755), 0);
    ck_assert_int_eq(hx_history_append(&r, path_of("h")), LG_E_IO);
    assert_msg_has(HX_HISTORY_FILE);
    ck_assert_ptr_null(r.history);
    hx_report_free(&r);
}
END_TEST

/* More lines than are kept, blank lines and one that is not an object:
 * the last HX_HISTORY_MAX kept, this run's last, the bad line named. */
START_TEST(test_history_trims)
{
    hx_report r;
    two_case_report(&r);
    ck_assert_int_eq(hx_report_stamp(&r), LG_OK);
    ck_assert_int_eq(mkdir(path_of("h"), 0755), 0);
    FILE *f = fopen(path_of("h/" HX_HISTORY_FILE), "w");
    ck_assert_ptr_nonnull(f);
    fputs("\n  \n[1, 2]\n", f);
    for (int i = 0; i < HX_HISTORY_MAX + 10; i++)
        fprintf(f, "{\"run_id\": \"old%d\"}\n\n", i);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(hx_history_append(&r, path_of("h")), LG_E_FORMAT);
    assert_msg_has(HX_HISTORY_FILE ":3: not a JSON object");
    ck_assert_int_eq(json_array_size(r.history), HX_HISTORY_MAX);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.history, 0), "run_id")),
                     "old11");
    const char *last = json_string_value(
        json_object_get(json_array_get(r.history, HX_HISTORY_MAX - 1), "run_id"));
    ck_assert_str_eq(last, json_string_value(json_object_get(r.run, "run_id")));
    hx_report_free(&r);
}
END_TEST

/* ---------------------------------------------------------- escaping */

/* The cases of a report whose text needs escaping everywhere. */
static char cut_msg[300]; /* 199 bytes, then a two-byte character across the 200-byte cut */

static void hostile_report(hx_report *r)
{
    memset(cut_msg, 'm', 199);
    snprintf(cut_msg + 199, sizeof cut_msg - 199, "\xc3\xa9 and more");
    ck_assert_int_eq(hx_report_init(r), LG_OK);
    r->environment = json_pack(
        "{s:{s:s}, s:{s:s, s:s, s:{s:s, s:s, s:i, s:{s:{s:s, s:[s, i]}}},"
        " s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}}",
        "host", "name", "host\nname\t\"1\"", "probe", "libtorch", "2.5.1", "backend", "torch",
        "verdict", "mps_workaround", "needed", "reason", "```\nfenced\n```", "gate", 3,
        "per_reader", "input-archive", "mps_workaround", "needed", "extensions", ".pt", 7, "probes",
        "reader", "input-archive", "device", "cpu", "result", "works", "reader", "input-archive",
        "device", "mps", "result", "rejected", "message", "no | way\nat all", "reader", "r2",
        "device", "cuda", "result", "rejected", "message", cut_msg);
    r->run = json_pack("{s:s}", "started", "2026-01-01T00:00:00Z\r");
    snprintf(r->interrupted, sizeof r->interrupted, "interrupted by <SIGINT>");
    ck_assert_int_eq(
        hx_report_add(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "id",
                                   "s/a|b\nc", "suite", "s", "name", "a", "status", "fail",
                                   "source", "cases/s.yaml", "reason", "failed: see below",
                                   "stderr", "warning: \x01 bad byte \xf0\x9f\x98\x80 & <x>",
                                   "actual", "message", "LG_E_FORMAT: x | y\nz")),
        LG_OK);
    ck_assert_int_eq(hx_report_add(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", "s/e",
                                                "suite", "s", "name", "e", "status", "error",
                                                "reason", "setup", "kept_file", "/tmp/k")),
                     LG_OK);
}

START_TEST(test_md_escapes)
{
    hx_report r;
    hostile_report(&r);
    const char *p = path_of("summary.md");
    ck_assert_int_eq(hx_report_write_md(&r, p), LG_OK);
    char *md = tu_read_text(p);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "s/a\\|b c"), "the id's pipe and line break: %s", md);
    ck_assert_msg(strstr(md, "Standard error (tail):"), "%s", md);
    ck_assert_msg(strstr(md, "`--gate` exits 3"), "%s", md);
    ck_assert_msg(strstr(md, "| .pt,  |"), "the extension that is no string: %s", md);
    ck_assert_msg(strstr(md, "no \\| way at all"), "the probe message: %s", md);
    ck_assert_msg(strstr(md, "````\n```\nfenced\n```\n````"), "a fence around a fence: %s", md);
    ck_assert_msg(strstr(md, "Input kept as `/tmp/k`"), "%s", md);
    char want[300];
    snprintf(want, sizeof want, "%.199s\xe2\x80\xa6 |", cut_msg); /* cut before the \xc3 */
    const char *row = "| r2 | cuda | rejected | ", *at = strstr(md, row);
    ck_assert_msg(at, "%s", md);
    ck_assert_msg(!strncmp(at + strlen(row), want, strlen(want)), "%.300s", at);
    free(md);
    hx_report_free(&r);
}
END_TEST

START_TEST(test_junit_escapes)
{
    hx_report r;
    hostile_report(&r);
    const char *p = path_of("junit.xml");
    ck_assert_int_eq(hx_report_write_junit(&r, p), LG_OK);
    char *x = tu_read_text(p);
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(strstr(x, "hostname=\"host&#10;name&#9;&quot;1&quot;\""), "%s", x);
    ck_assert_msg(strstr(x, "timestamp=\"2026-01-01T00:00:00Z&#13;\""), "%s", x);
    ck_assert_msg(strstr(x, "file=\"cases/s.yaml\""), "a source without a line: %s", x);
    ck_assert_msg(strstr(x, "value=\"interrupted by &lt;SIGINT&gt;\""), "%s", x);
    /* \x01 dropped: XML forbids it */
    ck_assert_msg(strstr(x, "stderr:\nwarning:  bad byte \xf0\x9f\x98\x80 &amp; &lt;x&gt;"), "%s",
                  x);
    ck_assert_msg(!strchr(x, '\x01'), "%s", x);
    free(x);
    hx_report_free(&r);
}
END_TEST

/* Past the page's trace budget, passing cases lose their trace and say
 * so; failing ones keep it. */
START_TEST(test_html_trace_budget)
{
    hx_report r;
    two_case_report(&r);
    json_t *trace = json_array();
    for (int i = 0; i < 50001; i++)
        json_array_append_new(trace, json_integer(i));
    json_object_set(json_array_get(r.cases, 0), "trace", trace);
    json_object_set_new(json_array_get(r.cases, 1), "trace", json_pack("[i]", 1));
    json_decref(trace);
    const char *p = path_of("index.html");
    ck_assert_int_eq(hx_report_write_html(&r, p), LG_OK);
    char *h = tu_read_text(p);
    ck_assert_ptr_nonnull(h);
    ck_assert_msg(strstr(h, "\"trace_omitted\":true"), "no trace left out");
    ck_assert_msg(strstr(h, "\"trace\":[1]"), "the failing case's trace left out");
    ck_assert_msg(!strstr(h, "49999"), "the passing case's trace kept");
    free(h);
    hx_report_free(&r);
}
END_TEST

/* ---------------------------------------------------------- util */

START_TEST(test_utf8_decode)
{
    unsigned long cp;
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", &cp), 4);
    ck_assert_uint_eq(cp, 0x1f600);
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xf0\x9f\x28\x80", &cp), 0);
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xe0\x80\x80", &cp), 0); /* overlong */
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xf0\x80\x80\x80", &cp), 0);
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xf4\x90\x80\x80", &cp), 0); /* > 10FFFF */
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xed\xa0\x80", &cp), 0); /* surrogate */
    ck_assert_int_eq(hx_utf8_decode((const unsigned char *)"\xc3", &cp), 0); /* cut */
    char *s = hx_utf8_clean("a\xf0\x9f\x98\x80\xf5z");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "a\xf0\x9f\x98\x80\xef\xbf\xbdz");
    free(s);
}
END_TEST

START_TEST(test_fs_errors)
{
    char *p = long_path(4200);
    ck_assert_int_eq(hx_mkdirs(p), LG_E_IO);
    free(p);
    ck_assert_int_eq(hx_mkdirs(""), LG_E_IO);
    char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/a/b", plain);
    ck_assert_int_eq(hx_mkdirs(sub), LG_E_IO);
    assert_msg_has("plain/a/b");
    snprintf(sub, sizeof sub, "%s/a", plain);
    ck_assert_int_eq(hx_mkdirs(sub), LG_E_IO);
    /* a write that fails at the close: the device is full */
    FILE *f = fopen("/dev/full", "w");
    ck_assert_ptr_nonnull(f);
    fputs("x", f);
    ck_assert_int_eq(hx_fclose_checked(f, "/dev/full"), LG_E_IO);
    assert_msg_has("/dev/full");
}
END_TEST


/* Each writer onto a full device (its file a link to /dev/full): the
 * error, named by the file. */
START_TEST(test_writers_on_full_device)
{
    hx_report r;
    two_case_report(&r);
    ck_assert_int_eq(hx_report_stamp(&r), LG_OK);
    static const char *const names[] = {"r.json", "r.xml", "r.md", "r.html"};
    lg_status (*const writers[])(const hx_report *, const char *) = {
        hx_report_write_json, hx_report_write_junit, hx_report_write_md, hx_report_write_html};
    for (int i = 0; i < 4; i++) {
        const char *p = path_of(names[i]);
        ck_assert_int_eq(symlink("/dev/full", p), 0);
        ck_assert_int_eq(writers[i](&r, p), LG_E_IO);
        assert_msg_has(names[i]);
    }
    ck_assert_int_eq(mkdir(path_of("h"), 0755), 0);
    ck_assert_int_eq(symlink("/dev/full", path_of("h/" HX_HISTORY_FILE)), 0);
    ck_assert_int_eq(hx_history_append(&r, path_of("h")), LG_E_IO);
    assert_msg_has(HX_HISTORY_FILE ": write error");
    hx_report_free(&r);
}
END_TEST


/* Counting descriptors when /proc/self/fd cannot be listed (no
 * descriptor left for it under a lowered limit): the probe's count, over
 * at least HX_FDS_PROBE_MIN descriptors however low the limit. */
START_TEST(test_fds_without_proc)
{
    int n = hx_open_fds();
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(hx_open_fds_probe(), n);
    struct rlimit saved, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)n + 8;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int extra[64], k = 0; /* every descriptor under the limit taken, gaps included */
    while (k < 64 && (extra[k] = open("/dev/null", O_RDONLY)) >= 0)
        k++;
    int m = hx_open_fds(), opened = k;
    while (k > 0)
        close(extra[--k]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_ge(opened, 8);
    ck_assert_int_eq(m, n + opened);
}
END_TEST

/* A library error passed on: its message, as the library said it. */
START_TEST(test_err_lib)
{
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path_of("missing.safetensors"), NULL, &c);
    ck_assert_int_ne(st, LG_OK);
    ck_assert_int_eq(hx_err_lib(st), st);
    ck_assert_str_eq(hx_errmsg(), lg_error_message());
    assert_msg_has("missing.safetensors");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_errors");
    TCase *tc = tcase_create("report_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_edges);
    tcase_add_test(tc, test_clean_errors);
    tcase_add_test(tc, test_write_all_errors);
    tcase_add_test(tc, test_write_with_failing_body);
    tcase_add_test(tc, test_history_errors);
    tcase_add_test(tc, test_history_trims);
    tcase_add_test(tc, test_md_escapes);
    tcase_add_test(tc, test_junit_escapes);
    tcase_add_test(tc, test_html_trace_budget);
    tcase_add_test(tc, test_utf8_decode);
    tcase_add_test(tc, test_fs_errors);
    tcase_add_test(tc, test_writers_on_full_device);
    tcase_add_test(tc, test_fds_without_proc);
    tcase_add_test(tc, test_err_lib);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
