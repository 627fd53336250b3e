/* A case that cannot be set up (its fixture missing or not a regular
 * file) is a setup error in `harness run`: status `error`, counted apart
 * from the failures in every report, exit 2 (2 wins over 1); `validate`
 * still names the missing fixture; `--rerun-failed` runs it again,
 * `--keep-failed` keeps nothing for it; `compare` calls pass -> error
 * broken; `merge` exits 2. Through the built `harness` program, and a
 * fixture that cannot be generated through hx_run_case. */
#include "case/case.h"
#include "run/runner.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[1024];
static char *out, *err; /* the last run's stdout and stderr */

/* one case whose fixture is there, one whose fixture is not */
static const char suite_err[] =
    "suite: setup\n"
    "fixtures:\n"
    "  here: {path: small.safetensors}\n"
    "  gone: {path: nope.safetensors}\n"
    "cases:\n"
    "  - {name: ok, backend: sim, device: cpu, file: here}\n"
    "  - {name: missing, backend: sim, device: cpu, file: gone}\n";

/* and one that fails: it expects an error from a load that succeeds */
static const char suite_both[] =
    "suite: both\n"
    "fixtures:\n"
    "  here: {path: small.safetensors}\n"
    "  gone: {path: nope.safetensors}\n"
    "cases:\n"
    "  - {name: ok, backend: sim, device: cpu, file: here}\n"
    "  - {name: missing, backend: sim, device: cpu, file: gone}\n"
    "  - {name: wrong, backend: sim, device: cpu, file: here, expect: {error: LG_E_FORMAT}}\n";

static const char *in_dir(const char *name)
{
    static char buf[4][2048];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    ck_assert_int_eq(tu_write_safetensors(in_dir("small.safetensors"), 3, 2, 5), 0);
    out = err = NULL;
}

static void teardown(void)
{
    free(out);
    free(err);
    out = err = NULL;
    tu_rmtree(dir);
}

static char *slurp(const char *path)
{
    char *s = tu_read_text(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

/* Runs `harness ARGS...` (NULL-terminated) in dir, outputs to files; its
 * exit code, the outputs in out and err. */
static int harness(const char *const *args)
{
    char prog[2048], o[2048], e[2048];
    const char *argv[32];
    int n = 0;
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(o, sizeof o, "%s/stdout", dir);
    snprintf(e, sizeof e, "%s/stderr", dir);
    argv[n++] = prog;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(o, "w", stdout) || !freopen(e, "w", stderr) || chdir(dir))
            _exit(99);
        execv(prog, (char *const *)argv);
        _exit(98);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "harness died");
    free(out);
    free(err);
    out = slurp(o);
    err = slurp(e);
    return WEXITSTATUS(status);
}

#define EXPECT(rc, ...)                                                                          \
    do {                                                                                         \
        int got_ = harness((const char *const[]){__VA_ARGS__, NULL});                            \
        ck_assert_msg(got_ == (rc), "exit %d, not %d\nstdout:\n%s\nstderr:\n%s", got_, (rc), out,  \
                      err);                                                                      \
    } while (0)

static void has(const char *text, const char *what)
{
    ck_assert_msg(strstr(text, what) != NULL, "'%s' not in:\n%s", what, text);
}

static void write_case(const char *name, const char *text)
{
    ck_assert_int_eq(tu_write(in_dir(name), text, strlen(text)), 0);
}

static json_t *load_json(const char *rel)
{
    json_error_t je;
    json_t *doc = json_load_file(in_dir(rel), 0, &je);
    ck_assert_msg(doc != NULL, "%s: %s", rel, je.text);
    return doc;
}

static const json_t *case_by_id(const json_t *doc, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "id")), id))
            return c;
    }
    ck_abort_msg("no case %s in the report", id);
    return NULL;
}

static const char *status_of(const json_t *doc, const char *id)
{
    return json_string_value(json_object_get(case_by_id(doc, id), "status"));
}

static long long summary(const json_t *doc, const char *key)
{
    const json_t *v = json_object_get(json_object_get(doc, "summary"), key);
    ck_assert_msg(json_is_integer(v), "summary.%s missing", key);
    return (long long)json_integer_value(v);
}

/* junit.xml with an <error type="error"> still validates against the
 * Jenkins xUnit schema (tests/data/junit); said to be skipped without
 * xmllint. */
static void xsd_check(const char *xml)
{
    char cmd[8192];
    if (system("command -v xmllint >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_setup_error: junit schema check skipped: xmllint not installed\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "xmllint --noout --schema %s/tests/data/junit/xunit-junit.xsd %s",
             tu_source_dir(), xml);
    ck_assert_msg(system(cmd) == 0, "%s does not validate against the xUnit schema", xml);
}

START_TEST(test_missing_fixture_is_a_setup_error)
{
    write_case("s.yaml", suite_err);
    EXPECT(2, "run", "s.yaml", "-o", "rep", "-j", "1");
    has(out, "error   setup/missing: setup error: fixture 'gone': ");
    has(out, "nope.safetensors: No such file or directory");
    has(out, "2 cases: 1 passed, 0 failed, 1 errors, 0 skipped");

    json_t *doc = load_json("rep/report.json");
    ck_assert_str_eq(status_of(doc, "setup/ok"), "pass");
    ck_assert_str_eq(status_of(doc, "setup/missing"), "error");
    has(json_string_value(json_object_get(case_by_id(doc, "setup/missing"), "reason")),
        "fixture 'gone'");
    ck_assert_int_eq(summary(doc, "total"), 2);
    ck_assert_int_eq(summary(doc, "passed"), 1);
    ck_assert_int_eq(summary(doc, "errors"), 1);
    ck_assert_int_eq(summary(doc, "failed"), 0);
    ck_assert_int_eq(summary(doc, "crashed") + summary(doc, "timedout"), 0);
    json_decref(doc);

    char *x = slurp(in_dir("rep/junit.xml"));
    has(x, "<testsuite name=\"setup\" tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"0\"");
    has(x, "<testsuites name=\"loadgate\" tests=\"2\" failures=\"0\" errors=\"1\"");
    has(x, "<error message=\"setup error: fixture &apos;gone&apos;: ");
    has(x, "type=\"error\">");
    ck_assert_ptr_null(strstr(x, "<failure"));
    free(x);
    xsd_check(in_dir("rep/junit.xml"));

    char *m = slurp(in_dir("rep/summary.md"));
    has(m, "**ERROR**");
    has(m, "| errors |");
    has(m, "## Failing cases\n\nNone.");
    has(m, "## Setup errors by message (1 cases in 1 groups)");
    has(m, "## Setup errors (1)");
    has(m, "### error: setup/missing");
    free(m);

    char *h = slurp(in_dir("rep/index.html"));
    has(h, "\"error_groups\":[{\"count\":1,\"code\":\"error\"");
    has(h, "'error'];"); /* the status order, and so the status filter, has error */
    free(h);

    /* validate still names the missing fixture */
    EXPECT(2, "validate", "s.yaml");
    has(err, "fixture 'gone'");
    has(err, "nope.safetensors: No such file or directory");
}
END_TEST

/* A failure and a setup error in one run: 2 wins, each counted apart. */
START_TEST(test_error_wins_over_failure)
{
    write_case("b.yaml", suite_both);
    EXPECT(2, "run", "b.yaml", "-o", "rep", "-j", "2");
    has(out, "fail    both/wrong: ");
    has(out, "error   both/missing: ");
    has(out, "3 cases: 1 passed, 1 failed, 1 errors");
    json_t *doc = load_json("rep/report.json");
    ck_assert_str_eq(status_of(doc, "both/wrong"), "fail");
    ck_assert_str_eq(status_of(doc, "both/missing"), "error");
    ck_assert_int_eq(summary(doc, "failed"), 1);
    ck_assert_int_eq(summary(doc, "errors"), 1);
    json_decref(doc);
    char *m = slurp(in_dir("rep/summary.md"));
    has(m, "**ERROR, FAILED**");
    has(m, "## Failures by error (1 cases in 1 groups)");
    has(m, "## Failing cases (1)");
    has(m, "## Setup errors (1)");
    free(m);
    char *x = slurp(in_dir("rep/junit.xml"));
    has(x, "failures=\"1\" errors=\"1\"");
    free(x);
    /* without the error, the failure alone is exit 1 */
    EXPECT(1, "run", "b.yaml", "-o", "rep2", "-k", "wrong", "-j", "1");
}
END_TEST

/* A directory and a FIFO as fixtures: setup errors, and the FIFO does not
 * hang the case (it is opened without blocking). */
START_TEST(test_not_a_regular_file_is_a_setup_error)
{
    ck_assert_int_eq(mkdir(in_dir("adir"), 0700), 0);
    ck_assert_int_eq(mkfifo(in_dir("fifo.safetensors"), 0600), 0);
    write_case("n.yaml", "suite: odd\nfixtures:\n"
                         "  adir: {path: adir}\n  fifo: {path: fifo.safetensors}\ncases:\n"
                         "  - {name: folder, backend: sim, device: cpu, file: adir}\n"
                         "  - {name: pipe, backend: sim, device: cpu, file: fifo}\n");
    alarm(60);
    EXPECT(2, "run", "n.yaml", "-o", "rep", "-j", "1", "--timeout", "20");
    alarm(0);
    json_t *doc = load_json("rep/report.json");
    ck_assert_str_eq(status_of(doc, "odd/folder"), "error");
    ck_assert_str_eq(status_of(doc, "odd/pipe"), "error");
    has(json_string_value(json_object_get(case_by_id(doc, "odd/pipe"), "reason")),
        "not a regular file");
    ck_assert_int_eq(summary(doc, "errors"), 2);
    json_decref(doc);
}
END_TEST

/* --rerun-failed runs an error again; --keep-failed has no input to keep
 * for it; --fail-fast stops after it. */
START_TEST(test_rerun_keep_and_fail_fast)
{
    write_case("s.yaml", suite_err);
    EXPECT(2, "run", "s.yaml", "-o", "rep", "-j", "1", "--keep-failed", "kept");
    json_t *doc = load_json("rep/report.json");
    const json_t *c = case_by_id(doc, "setup/missing");
    ck_assert_ptr_null(json_object_get(c, "kept_file"));
    ck_assert_ptr_null(json_object_get(c, "kept_file_error"));
    json_decref(doc);
    EXPECT(2, "run", "s.yaml", "-o", "again", "-j", "1", "--rerun-failed", "rep/report.json");
    doc = load_json("again/report.json");
    ck_assert_int_eq(summary(doc, "total"), 1);
    ck_assert_str_eq(status_of(doc, "setup/missing"), "error");
    json_decref(doc);
    write_case("f.yaml", "suite: ff\nfixtures:\n  gone: {path: nope.safetensors}\n"
                         "  here: {path: small.safetensors}\ncases:\n"
                         "  - {name: a, backend: sim, device: cpu, file: gone}\n"
                         "  - {name: b, backend: sim, device: cpu, file: here}\n");
    EXPECT(2, "run", "f.yaml", "-o", "ff", "-j", "1", "--fail-fast");
    has(out, "1 not run (--fail-fast)");
}
END_TEST

/* compare: pass in BASE, error in NEW is broken (exit 1); merge of a
 * report with an error exits 2 and keeps the status. */
START_TEST(test_compare_and_merge)
{
    write_case("c.yaml", "suite: cmp\nfixtures:\n  f: {path: moving.safetensors}\ncases:\n"
                         "  - {name: one, backend: sim, device: cpu, file: f}\n");
    ck_assert_int_eq(tu_write_safetensors(in_dir("moving.safetensors"), 2, 2, 2), 0);
    EXPECT(0, "run", "c.yaml", "-o", "base", "-j", "1", "--format", "json");
    ck_assert_int_eq(unlink(in_dir("moving.safetensors")), 0);
    EXPECT(2, "run", "c.yaml", "-o", "new", "-j", "1", "--format", "json");
    EXPECT(1, "compare", "base", "new", "--json");
    json_error_t je;
    json_t *cmp = json_loads(out, 0, &je);
    ck_assert_msg(cmp != NULL, "compare --json: %s", je.text);
    json_t *br = json_array_get(json_object_get(json_object_get(cmp, "cases"), "broken"), 0);
    ck_assert_ptr_nonnull(br);
    ck_assert_str_eq(json_string_value(json_object_get(br, "base")), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(br, "new")), "error");
    has(json_string_value(json_object_get(br, "reason")), "moving.safetensors");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(cmp, "new"), "summary"), "errors")),
                     1);
    json_decref(cmp);
    EXPECT(1, "compare", "base", "new");
    has(out, "| errors |");
    EXPECT(0, "compare", "new", "new");
    EXPECT(2, "merge", "-o", "m/report.json", "new/report.json");
    has(err, "1 case with a setup error");
    json_t *doc = load_json("m/report.json");
    ck_assert_str_eq(status_of(doc, "cmp/one"), "error");
    ck_assert_int_eq(summary(doc, "errors"), 1);
    json_decref(doc);
    EXPECT(0, "merge", "-o", "m2/report.json", "base/report.json");
}
END_TEST

/* A generated fixture that cannot be written (its cache folder is a
 * regular file) is a setup error too: hx_run_case in this process. */
START_TEST(test_generator_cannot_write)
{
    static const char yaml[] =
        "suite: gen\nfixtures:\n"
        "  g: {generate: {format: safetensors, tensors: 1, shape: [2], dtype: f32, seed: 3}}\n"
        "cases:\n  - {name: one, backend: sim, device: cpu, file: g}\n";
    char cache[2048];
    hx_suite s;
    hx_case_errors e;
    uint64_t fired;
    write_case("g.yaml", yaml);
    write_case("not-a-folder", "x");
    snprintf(cache, sizeof cache, "%s", in_dir("not-a-folder"));
    ck_assert_int_eq(hx_suite_load(in_dir("g.yaml"), cache, &s, &e), LG_OK);
    hx_case_errors_free(&e);
    ck_assert_uint_eq(s.ncases, 1);
    hx_run_opts o = {.cache_dir = cache};
    json_t *res = hx_run_case(&s.cases[0], 0, &o, &fired);
    ck_assert_ptr_nonnull(res);
    const char *st = json_string_value(json_object_get(res, "status"));
    const char *why = json_string_value(json_object_get(res, "reason"));
    ck_assert_msg(st && !strcmp(st, "error"), "status %s: %s", st, why ? why : "");
    has(why, "setup error: fixture 'g': cannot create ");
    has(why, "Not a directory");
    ck_assert(json_is_null(json_object_get(json_object_get(res, "actual"), "outcome")));
    json_decref(res);
    hx_suite_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("setup_error");
    TCase *tc = tcase_create("setup_error");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_missing_fixture_is_a_setup_error);
    tcase_add_test(tc, test_error_wins_over_failure);
    tcase_add_test(tc, test_not_a_regular_file_is_a_setup_error);
    tcase_add_test(tc, test_rerun_keep_and_fail_fast);
    tcase_add_test(tc, test_compare_and_merge);
    tcase_add_test(tc, test_generator_cannot_write);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
