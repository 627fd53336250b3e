/* Reports at scale and reports that stay true (docs/report.md): a run
 * with more than 3,000 failures (summary.md grouped and under 512 KiB,
 * the groups adding up, harness run printing groups, index.html drawn in
 * Chromium without a JavaScript error, junit.xml valid against the xUnit
 * schema), the cap on summary.md, message patterns, an output folder
 * cleared of an earlier run's reports, --keep-failed and
 * `harness fixtures --suite`. */
#include "cmd/cmd.h"
#include "report/groups.h"
#include "report/report.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *g_dir;

/* Every truncation of a 3,0xx-byte file, each expected to load: all fail. */
static const char many_yaml[] =
    "suite: many\n"
    "defaults: {backend: sim, device: cpu, file: wide}\n"
    "fixtures:\n"
    "  wide: {generate: {format: safetensors, tensors: 1, shape: [760], dtype: f32, seed: 7}}\n"
    "cases:\n"
    "  - name: cut\n"
    "    corrupt: {truncate: every}\n"
    "    expect: {outcome: ok}\n";

/* One case that fails (a truncation expected to load), one that passes. */
static const char keep_yaml[] =
    "suite: keep\n"
    "defaults: {backend: sim, device: cpu, file: small}\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 2, shape: [8, 8], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: cut\n"
    "    corrupt: {truncate: 100}\n"
    "  - name: whole\n";

static void setup(void)
{
    g_dir = tu_tmpdir();
    setenv("LOADGATE_FIXTURE_DIR", tu_path(g_dir, "fixtures"), 1);
}

static void teardown(void) { tu_rmtree(g_dir); }

static char *path_in(const char *name)
{
    static char buf[4][700];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 700, "%s", tu_path(g_dir, name));
    return p;
}

static char *read_text(const char *path, size_t *n)
{
    char *t = tu_read(path, n);
    ck_assert_msg(t != NULL, "cannot read %s", path);
    return t;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The counts in the first column of summary.md's group table. */
static size_t group_table_sum(const char *md, size_t *groups)
{
    const char *t = strstr(md, "| ---: | --- | --- |\n");
    size_t sum = 0;
    *groups = 0;
    ck_assert_msg(t != NULL, "no group table in summary.md");
    for (t = strchr(t, '\n') + 1; t[0] == '|'; t = strchr(t, '\n') + 1) {
        sum += strtoul(t + 2, NULL, 10);
        (*groups)++;
    }
    return sum;
}

/* Runs tool with args and its stderr into err; its exit status. */
static int shell(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return shell(cmd) == 0;
}

static void check_junit_schema(const char *xml)
{
    char cmd[2048];
    if (!have("xmllint")) {
        fprintf(stderr, "test_report_scale: junit schema check skipped: xmllint not installed "
                        "(Debian: libxml2-utils; ci/setup installs it)\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "xmllint --noout --schema %s/tests/data/junit/xunit-junit.xsd %s "
             "2>%s", tu_source_dir(), xml, path_in("xmllint.err"));
    ck_assert_msg(shell(cmd) == 0, "%s does not validate: see %s", xml, path_in("xmllint.err"));
    /* the schema bites: the root's old skipped attribute is refused */
    snprintf(cmd, sizeof cmd, "sed 's/<testsuites name=\"loadgate\"/& skipped=\"0\"/' %s > %s && "
             "! xmllint --noout --schema %s/tests/data/junit/xunit-junit.xsd %s 2>/dev/null",
             xml, path_in("bad.xml"), tu_source_dir(), path_in("bad.xml"));
    ck_assert_msg(shell(cmd) == 0, "the schema took a root skipped attribute");
}

static const char *chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    for (size_t i = 0; i < 3; i++)
        if (have(names[i]))
            return names[i];
    return NULL;
}

/* index.html in headless Chromium: the drawn DOM has the suite's heading
 * and the groups, and the console has no uncaught error. */
static void check_html_in_chromium(const char *html)
{
    char cmd[4096];
    size_t n;
    const char *exe = chromium();
    if (!exe) {
        fprintf(stderr, "test_report_scale: index.html in Chromium skipped: chromium not "
                        "installed (Debian: chromium; ci/setup installs it)\n");
        return;
    }
    const char *dom = path_in("dom.html"), *log = path_in("chromium.log");
    snprintf(cmd, sizeof cmd, "timeout 120 %s --headless --disable-gpu --no-sandbox "
             "--user-data-dir=%s --enable-logging=stderr --v=0 --dump-dom file://%s >%s 2>%s",
             exe, path_in("chromium-profile"), html, dom, log);
    ck_assert_msg(shell(cmd) == 0, "chromium failed on %s: see %s", html, log);
    char *d = read_text(dom, &n), *l = read_text(log, &n);
    ck_assert_msg(strstr(l, "Uncaught") == NULL, "JavaScript error in %s:\n%s", html, l);
    ck_assert_msg(strstr(d, "<h2>many</h2>") != NULL, "the suite was not drawn");
    ck_assert_msg(strstr(d, "<h2>Failures by error (3112 cases in") != NULL,
                  "the failure groups were not drawn");
    free(d);
    free(l);
}

START_TEST(three_thousand_failures)
{
    const char *suite = path_in("many.yaml"), *out = path_in("out");
    char *stdout_text;
    size_t n;
    ck_assert_int_eq(tu_write(suite, many_yaml, strlen(many_yaml)), 0);
    char *argv[] = {"run", (char *)suite, "-o", (char *)out, "--isolation", "none", NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, argv, g_dir, &stdout_text), 1);
    ck_assert_ptr_nonnull(stdout_text);
    /* the failures, counted by report.json */
    json_error_t je;
    json_t *doc = json_load_file(tu_path(out, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "report.json: %s", je.text);
    json_int_t failed = json_integer_value(json_object_get(json_object_get(doc, "summary"),
                                                           "failed"));
    ck_assert_int_ge(failed, 3000);
    json_decref(doc);
    /* printed as groups, not a line each */
    ck_assert_msg(count_lines(stdout_text) < 40, "harness run printed %d lines",
                  count_lines(stdout_text));
    char head[64];
    snprintf(head, sizeof head, "%lld failing cases in ", (long long)failed);
    ck_assert_msg(strstr(stdout_text, head) != NULL, "no group header in:\n%s", stdout_text);
    free(stdout_text);
    /* summary.md: small, and its groups add up */
    struct stat st;
    ck_assert_int_eq(stat(tu_path(out, "summary.md"), &st), 0);
    ck_assert_int_lt(st.st_size, HX_MD_MAX);
    char *md = read_text(tu_path(out, "summary.md"), &n);
    size_t groups, sum = group_table_sum(md, &groups);
    ck_assert_uint_eq(sum, (size_t)failed);
    ck_assert_uint_ge(groups, 2);
    ck_assert_uint_lt(groups, 20); /* the numbers in the messages do not split them */
    ck_assert_ptr_null(strstr(md, "**Cut**"));
    free(md);
    char xml[700], html[700];
    snprintf(xml, sizeof xml, "%s", tu_path(out, "junit.xml"));
    snprintf(html, sizeof html, "%s", tu_path(out, "index.html"));
    check_junit_schema(xml);
    check_html_in_chromium(html);
}
END_TEST

/* A failing case whose reason is unlike every other's (no digits). */
static json_t *odd_case(size_t i)
{
    char id[64], why[600];
    snprintf(id, sizeof id, "big/case-%zu", i);
    size_t k = 0;
    for (size_t v = i + 1; v && k < 12; v /= 26)
        why[k++] = (char)('a' + v % 26);
    why[k] = 0;
    strcat(why, " is wrong in a way of its own, described at length so that every group "
                "takes room in the summary: lorem ipsum dolor sit amet, consectetur adipiscing");
    return json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "suite", "big", "status", "fail",
                     "reason", why, "actual", "error", "LG_E_FORMAT");
}

START_TEST(summary_is_capped)
{
    hx_report r;
    size_t n;
    ck_assert_int_eq(hx_report_init(&r), LG_OK);
    for (size_t i = 0; i < 3000; i++)
        ck_assert_int_eq(hx_report_add(&r, odd_case(i)), LG_OK);
    const char *md = path_in("capped.md");
    ck_assert_int_eq(hx_report_write_md(&r, md), LG_OK);
    char *text = read_text(md, &n);
    ck_assert_uint_le(n, HX_MD_MAX);
    ck_assert_ptr_nonnull(strstr(text, "**Cut**: summary.md is capped at 512 KiB"));
    ck_assert_ptr_nonnull(strstr(text, "## Failures by error (3000 cases in 3000 groups)"));
    free(text);
    hx_report_free(&r);
}
END_TEST

START_TEST(message_patterns)
{
    static const struct {
        const char *in, *want;
    } t[] = {
        {"/tmp/loadgate-run-x1/a.safetensors: header length 12 runs past 0x1f",
         "PATH: header length N runs past 0xH"},
        {"tensor \"w.0\": data_offsets [8, 4096] in 'x'", "tensor \"…\": data_offsets [N, N] in '…'"},
        {"first bytes: 7 0 255 3; known", "first bytes: N; known"},
        {"ok", "ok"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *p = hx_message_pattern(t[i].in);
        ck_assert_str_eq(p, t[i].want);
        free(p);
    }
}
END_TEST

/* Groups: by status and error, examples capped, counts add up. */
START_TEST(groups_add_up)
{
    json_t *cases = json_array();
    for (int i = 0; i < 50; i++) {
        char why[64];
        snprintf(why, sizeof why, "offset %d is past the end", i);
        json_array_append_new(cases, json_pack("{s:s, s:s, s:s}", "id", "x", "status",
                                               i % 5 ? "fail" : "crash", "reason", why));
    }
    json_array_append_new(cases, json_pack("{s:s, s:s}", "id", "ok", "status", "pass"));
    hx_fail_groups G;
    ck_assert_int_eq(hx_fail_groups_make(cases, &G), LG_OK);
    ck_assert_uint_eq(G.n, 2);
    ck_assert_uint_eq(G.failing, 50);
    ck_assert_uint_eq(G.g[0].count, 40);
    ck_assert_str_eq(G.g[0].code, "fail");
    ck_assert_str_eq(G.g[0].pattern, "offset N is past the end");
    ck_assert_uint_eq(G.g[0].nexamples, HX_GROUP_EXAMPLES);
    ck_assert_uint_eq(G.g[1].count, 10);
    ck_assert_str_eq(G.g[1].code, "crash");
    hx_fail_groups_free(&G);
    json_decref(cases);
}
END_TEST

/* -o D --format json after a run that wrote all four: only report.json. */
START_TEST(output_dir_is_cleared)
{
    const char *suite = path_in("keep.yaml"), *out = path_in("clean");
    char *text;
    ck_assert_int_eq(tu_write(suite, keep_yaml, strlen(keep_yaml)), 0);
    char *all[] = {"run", (char *)suite, "-o", (char *)out, "--isolation", "none", NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, all, g_dir, &text), 1);
    free(text);
    ck_assert_int_eq(access(tu_path(out, "junit.xml"), F_OK), 0);
    char *json[] = {"run", (char *)suite, "-o", (char *)out, "--format", "json",
                    "--isolation", "none", NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, json, g_dir, &text), 1);
    free(text);
    ck_assert_int_eq(access(tu_path(out, "report.json"), F_OK), 0);
    ck_assert_int_ne(access(tu_path(out, "junit.xml"), F_OK), 0);
    ck_assert_int_ne(access(tu_path(out, "summary.md"), F_OK), 0);
    ck_assert_int_ne(access(tu_path(out, "index.html"), F_OK), 0);
}
END_TEST

START_TEST(keep_failed)
{
    const char *suite = path_in("keep.yaml"), *out = path_in("kout"), *kept = path_in("kept");
    char *text, path[700];
    size_t n;
    ck_assert_int_eq(tu_write(suite, keep_yaml, strlen(keep_yaml)), 0);
    char *argv[] = {"run", (char *)suite, "-o", (char *)out, "--keep-failed", (char *)kept,
                    NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, argv, g_dir, &text), 1);
    json_error_t je;
    json_t *doc = json_load_file(tu_path(out, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "report.json: %s", je.text);
    json_t *cut = json_array_get(json_object_get(doc, "cases"), 0);
    json_t *whole = json_array_get(json_object_get(doc, "cases"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(cut, "status")), "fail");
    const char *k = json_string_value(json_object_get(cut, "kept_file"));
    ck_assert_ptr_nonnull(k);
    snprintf(path, sizeof path, "%s", k);
    ck_assert_ptr_null(json_object_get(whole, "kept_file"));
    ck_assert_ptr_nonnull(strstr(path, "/keep_cut-"));
    /* the file the case read: the fixture cut to 100 bytes */
    void *bytes = tu_read(path, &n);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(n, 100);
    free(bytes);
    char line[800];
    snprintf(line, sizeof line, "(input kept as %s)", path);
    ck_assert_msg(strstr(text, line) != NULL, "no kept path in:\n%s", text);
    free(text);
    json_decref(doc);
}
END_TEST

START_TEST(fixtures_of_a_suite)
{
    const char *suite = path_in("many.yaml"), *dir = path_in("fx");
    char *text;
    size_t n;
    ck_assert_int_eq(tu_write(suite, many_yaml, strlen(many_yaml)), 0);
    char *argv[] = {"fixtures", "--suite", (char *)suite, (char *)dir, NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_fixtures, argv, g_dir, &text), 0);
    const char *want = tu_path(dir, "safetensors-1-760-f32-s7.safetensors");
    ck_assert_msg(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
    ck_assert_int_eq(count_lines(text), 1);
    void *bytes = tu_read(want, &n);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_gt(n, 3040);
    free(bytes);
    free(text);
}
END_TEST

static Suite *scale_suite(void)
{
    Suite *s = suite_create("report_scale");
    TCase *t = tcase_create("scale");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 240);
    tcase_add_test(t, three_thousand_failures);
    tcase_add_test(t, summary_is_capped);
    tcase_add_test(t, message_patterns);
    tcase_add_test(t, groups_add_up);
    tcase_add_test(t, output_dir_is_cleared);
    tcase_add_test(t, keep_failed);
    tcase_add_test(t, fixtures_of_a_suite);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(scale_suite()) ? EXIT_FAILURE : EXIT_SUCCESS; }
