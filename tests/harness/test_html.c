/* index.html at scale and the run history (docs/report.md): 10,000 cases
 * with 3,334 failures drawn in headless Chromium without a console error,
 * a screenshot that is not blank, the filters and the search box applied
 * from the URL fragment (the visible squares counted in the dumped DOM);
 * run_id, started and duration_s in report.json; three runs with
 * --history give three lines and the chart in the third index.html. */
#include "cmd/cmd.h"
#include "report/history.h"
#include "report/report.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define N_CASES 10000

static const char *g_dir;

static const char *const policies[] = {"direct", "via-cpu", "tch", "staged"};
static const char *const devices[] = {"cpu", "cuda:0", "mps"};

/* One fail, xfail or pass, skip in three; the failures name tensor t0..t9. */
static json_t *scale_case(int i)
{
    char id[64], why[128];
    const char *st = i % 3 == 0 ? "fail" : i % 3 == 1 ? "pass" : i % 7 ? "xfail" : "skip";
    snprintf(id, sizeof id, "big/load[%d]", i);
    snprintf(why, sizeof why, "tensor \"t%d\": data offset %d runs past the end", i % 10,
             i * 8);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s?, s:s, s:s, s:[s], s:f}", "id",
                     id, "suite", "big", "name", "load", "params", "policy",
                     policies[i % 4], "device", devices[i % 3], "status", st, "reason",
                     strcmp(st, "pass") ? why : NULL, "policy", policies[i % 4], "device",
                     devices[i % 3], "tags", i % 5 ? "quick" : "slow", "duration_s", 0.001);
}

/* How many of the cases the fragment's filters keep, counted here. */
static int expect_shown(const char *status, const char *q, const char *tag, const char *policy,
                        const char *device)
{
    int n = 0;
    for (int i = 0; i < N_CASES; i++) {
        json_t *c = scale_case(i);
        const char *reason = json_string_value(json_object_get(c, "reason"));
        n += (!status || !strcmp(status, json_string_value(json_object_get(c, "status")))) &&
             (!q || strstr(json_string_value(json_object_get(c, "id")), q) ||
              (reason && strstr(reason, q))) &&
             (!tag || !strcmp(tag, json_string_value(json_array_get(
                                        json_object_get(c, "tags"), 0)))) &&
             (!policy || !strcmp(policy, json_string_value(json_object_get(c, "policy")))) &&
             (!device || !strcmp(device, json_string_value(json_object_get(c, "device"))));
        json_decref(c);
    }
    return n;
}

static void setup(void) { g_dir = tu_tmpdir(); }

/* TEST_HTML_KEEP=1 keeps the folder (the page, the screenshot, the logs). */
static void teardown(void)
{
    if (getenv("TEST_HTML_KEEP"))
        fprintf(stderr, "test_html: kept %s\n", g_dir);
    else
        tu_rmtree(g_dir);
}

static char *path_in(const char *name)
{
    static char buf[8][700];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 700, "%s", tu_path(g_dir, name));
    return p;
}

static int shell(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser", "google-chrome"};
    char cmd[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", names[i]);
        if (shell(cmd) == 0)
            return names[i];
    }
    fprintf(stderr, "test_html: the Chromium checks are skipped: chromium not installed "
                    "(Debian: chromium; ci/setup installs it)\n");
    return NULL;
}

/* Chromium on url with mode (--dump-dom or --screenshot=PATH); its
 * stdout as text. Fails on a console message (an uncaught error or a
 * console.error) in its log. */
static char *chromium_run(const char *exe, const char *url, const char *mode)
{
    static int runs;
    char cmd[4096], profile[32];
    size_t n;
    const char *out = path_in("chromium.out"), *log = path_in("chromium.log");
    snprintf(profile, sizeof profile, "profile-%d", runs++); /* one each: a profile in use
                                                               hands the URL to its owner */
    snprintf(cmd, sizeof cmd, "timeout 180 %s --headless --disable-gpu --no-sandbox "
             "--user-data-dir=%s --window-size=1280,2000 --enable-logging=stderr --v=0 "
             "%s '%s' >%s 2>%s", exe, path_in(profile), mode, url, out, log);
    ck_assert_msg(shell(cmd) == 0, "chromium failed on %s: see %s", url, log);
    char *l = tu_read(log, &n), *o = tu_read(out, &n);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(o);
    ck_assert_msg(!strstr(l, "Uncaught") && !strstr(l, ":CONSOLE"),
                  "console message from %s:\n%s", url, l);
    free(l);
    return o;
}

/* Squares in a dumped DOM, and those the filters hid. */
static void count_squares(const char *dom, int *all, int *hidden)
{
    *all = *hidden = 0;
    for (const char *p = dom; (p = strstr(p, "class=\"sq ")); p++) {
        const char *end = strchr(p + 7, '"');
        ck_assert_ptr_nonnull(end);
        (*all)++;
        const char *h = strstr(p + 7, " hid");
        *hidden += h && h < end;
    }
}

static void check_fragment(const char *exe, const char *html, const char *frag, int want)
{
    char url[1024], shown[64];
    int all, hidden;
    snprintf(url, sizeof url, "file://%s#%s", html, frag);
    char *dom = chromium_run(exe, url, "--dump-dom");
    count_squares(dom, &all, &hidden);
    ck_assert_int_eq(all, N_CASES);
    ck_assert_msg(all - hidden == want, "#%s: %d squares visible, want %d", frag, all - hidden,
                  want);
    snprintf(shown, sizeof shown, ">%d of %d cases shown<", want, N_CASES);
    ck_assert_msg(strstr(dom, shown) != NULL, "#%s: no '%s' in the page", frag, shown);
    free(dom);
}

START_TEST(ten_thousand_cases_in_chromium)
{
    hx_report r;
    struct stat st;
    ck_assert_int_eq(hx_report_init(&r), LG_OK);
    for (int i = 0; i < N_CASES; i++)
        ck_assert_int_eq(hx_report_add(&r, scale_case(i)), LG_OK);
    ck_assert_int_ge(expect_shown("fail", NULL, NULL, NULL, NULL), 3000);
    char html[700], png[700], mode[800], url[800];
    snprintf(html, sizeof html, "%s", path_in("index.html")); /* path_in's slots are reused */
    snprintf(png, sizeof png, "%s", path_in("shot.png"));
    ck_assert_int_eq(hx_report_write_html(&r, html), LG_OK);
    hx_report_free(&r);
    const char *exe = chromium();
    if (!exe)
        return;
    snprintf(mode, sizeof mode, "--screenshot=%s", png);
    snprintf(url, sizeof url, "file://%s", html);
    free(chromium_run(exe, url, mode));
    ck_assert_msg(stat(png, &st) == 0, "no screenshot at %s", png);
    ck_assert_msg(st.st_size > 20000, "the screenshot %s is %lld bytes: a blank page?", png,
                  (long long)st.st_size);
    check_fragment(exe, html, "status=fail&q=t0", expect_shown("fail", "t0", NULL, NULL, NULL));
    check_fragment(exe, html, "tag=slow&policy=tch&device=cpu",
                   expect_shown(NULL, NULL, "slow", "tch", "cpu"));
    check_fragment(exe, html, "q=load%5B12", expect_shown(NULL, "load[12", NULL, NULL, NULL));
}
END_TEST

static const char small_yaml[] =
    "suite: small\n"
    "defaults: {backend: sim, device: cpu, file: f}\n"
    "fixtures:\n"
    "  f: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: cut\n"
    "    tags: [slow]\n"
    "    corrupt: {truncate: 100}\n"
    "  - name: whole\n";

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    ck_assert_msg(doc != NULL, "%s: %s", path, je.text);
    return doc;
}

START_TEST(history_of_three_runs)
{
    char suite[700], out[700], hist[700], *text, ids[3][128];
    snprintf(suite, sizeof suite, "%s", path_in("small.yaml"));
    snprintf(out, sizeof out, "%s", path_in("out"));
    snprintf(hist, sizeof hist, "%s", path_in("hist/a"));
    size_t n;
    setenv("LOADGATE_FIXTURE_DIR", path_in("fixtures"), 1);
    ck_assert_int_eq(tu_write(suite, small_yaml, strlen(small_yaml)), 0);
    char *argv[] = {"run", suite, "-o", out, "--isolation", "none", "--history", hist, NULL};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(tu_run_cmd(hx_cmd_run, argv, g_dir, &text), 1);
        free(text);
        json_t *doc = load_json(tu_path(out, "report.json"));
        json_t *run = json_object_get(doc, "run");
        const char *id = json_string_value(json_object_get(run, "run_id"));
        ck_assert_ptr_nonnull(id);
        snprintf(ids[k], sizeof ids[k], "%s", id);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(run, "started")));
        ck_assert(json_is_real(json_object_get(run, "duration_s")));
        ck_assert_str_eq(json_string_value(json_array_get(
                             json_object_get(json_array_get(json_object_get(doc, "cases"), 0),
                                             "tags"), 0)), "slow");
        json_decref(doc);
    }
    ck_assert_str_ne(ids[0], ids[1]);
    ck_assert_str_ne(ids[1], ids[2]);
    /* three lines, in order, with the counts */
    char *lines = tu_read(tu_path(hist, HX_HISTORY_FILE), &n);
    ck_assert_ptr_nonnull(lines);
    char *save, *line = strtok_r(lines, "\n", &save);
    for (int k = 0; k < 3; k++, line = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(line != NULL, "history.jsonl has %d lines, want 3", k);
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(json_is_object(o), "line %d is not an object: %s", k + 1, line);
        ck_assert_str_eq(json_string_value(json_object_get(o, "run_id")), ids[k]);
        json_t *counts = json_object_get(o, "counts");
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "passed")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(counts, "failed")), 1);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(o, "loadgate")));
        json_decref(o);
    }
    ck_assert_ptr_null(line);
    free(lines);
    /* the third page carries the three runs and draws the chart */
    char html[700];
    snprintf(html, sizeof html, "%s", path_in("out/index.html"));
    char *page = tu_read(html, &n);
    ck_assert_ptr_nonnull(page);
    char *h = strstr(page, "\"history\":[");
    ck_assert_msg(h != NULL, "no history in the page's data");
    for (int k = 0; k < 3; k++)
        ck_assert_msg(strstr(h, ids[k]) != NULL, "run %s not in the page's history", ids[k]);
    free(page);
    const char *exe = chromium();
    if (exe) {
        char url[800];
        snprintf(url, sizeof url, "file://%s", html);
        char *dom = chromium_run(exe, url, "--dump-dom");
        ck_assert_msg(strstr(dom, "id=\"history-chart\"") != NULL, "no chart in the page");
        ck_assert_ptr_nonnull(strstr(dom, "History: the last 3 runs"));
        free(dom);
    }
}
END_TEST

/* A line that is not JSON is reported with the file and line, and left
 * out; the new line is still appended. */
START_TEST(history_bad_line)
{
    hx_report r;
    char dir[700];
    size_t n;
    snprintf(dir, sizeof dir, "%s", path_in("h"));
    ck_assert_int_eq(hx_report_init(&r), LG_OK);
    ck_assert_int_eq(hx_report_stamp(&r), LG_OK);
    ck_assert_int_eq(hx_history_append(&r, dir), LG_OK);
    char *file = path_in("h/" HX_HISTORY_FILE);
    FILE *f = fopen(file, "a");
    ck_assert_ptr_nonnull(f);
    fputs("not json\n", f);
    fclose(f);
    ck_assert_int_eq(hx_history_append(&r, dir), LG_E_FORMAT);
    ck_assert_msg(strstr(hx_errmsg(), HX_HISTORY_FILE ":2: not a JSON object") != NULL, "%s",
                  hx_errmsg());
    ck_assert_uint_eq(json_array_size(r.history), 2);
    char *text = tu_read(file, &n);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "not json\n{"));
    free(text);
    hx_report_free(&r);
}
END_TEST

static Suite *html_suite(void)
{
    Suite *s = suite_create("html");
    TCase *t = tcase_create("html");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 600);
    tcase_add_test(t, ten_thousand_cases_in_chromium);
    tcase_add_test(t, history_of_three_runs);
    tcase_add_test(t, history_bad_line);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(html_suite()) ? EXIT_FAILURE : EXIT_SUCCESS; }
