/* The error paths of the harness commands, run in-process: bad options,
 * missing or malformed reports, output paths that cannot be written (a
 * regular file where a folder must be, a link to nowhere: the tests may
 * run as root, so permission bits would not stop a write), stdout on a
 * full device, and the odd corners of well-formed input (a probe that is
 * not an object, repeated ids, a report with no commit). */
#include "cmd/cmd.h"
#include "cmd/compare.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void) { tu_rmtree(dir); }

/* Runs a subcommand; stdout into *out, stderr into *err (both malloc'd). */
static int run_cmd(int (*fn)(int, char **), char **argv, char **out, char **err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_path(dir, "stderr"));
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
    int rc = tu_run_cmd(fn, argv, dir, out);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    *err = tu_read(path, &n);
    ck_assert_ptr_nonnull(*out);
    ck_assert_ptr_nonnull(*err);
    return rc;
}

/* Runs a subcommand, asserts its exit code and that its stderr holds
 * each of the NULL-terminated strings in want. */
static void expect_err(int (*fn)(int, char **), char **argv, int want_rc, const char *const *want)
{
    char *out, *err;
    int rc = run_cmd(fn, argv, &out, &err);
    ck_assert_msg(rc == want_rc, "harness %s: exit %d, want %d; stderr: %.2000s", argv[0], rc,
                  want_rc, err);
    for (; want && *want; want++)
        ck_assert_msg(strstr(err, *want), "harness %s: stderr lacks '%s': %.2000s", argv[0], *want,
                      err);
    free(out);
    free(err);
}
#define EXPECT_ERR(fn, rc, ...)                                                                    \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        expect_err(fn, argv, rc, want_);                                                           \
    } while (0)

/* Runs a subcommand with its stdout on /dev/full; stderr into *err. */
static int run_full(int (*fn)(int, char **), char **argv, char **err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_path(dir, "stderr"));
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    int full = open("/dev/full", O_WRONLY), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(full, 0);
    ck_assert_int_ge(fd, 0);
    dup2(full, 1);
    dup2(fd, 2);
    close(full);
    close(fd);
    int argc = 0;
    while (argv[argc])
        argc++;
    int rc = fn(argc, argv);
    fflush(stdout);
    clearerr(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    size_t n;
    *err = tu_read(path, &n);
    ck_assert_ptr_nonnull(*err);
    return rc;
}

/* A case of the report.json schema. */
static json_t *mk_case(const char *id, const char *status, const char *reason)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?, s:{s:s}}", "id", id, "suite", "s", "name",
                     id, "index", 0, "status", status, "reason", reason, "actual", "message",
                     "the error message");
}

/* Writes text into dir/name; its path (static, 4 slots). */
static const char *write_text(const char *name, const char *text)
{
    static char paths[4][4096];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 4096, "%s", tu_path(dir, name));
    ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
    return p;
}

/* Writes a report with env (taken; NULL: none) and the cases (taken). */
static const char *write_report(const char *name, json_t *env, json_t *cases)
{
    json_t *doc = json_pack("{s:s, s:o?, s:{s:i}, s:o}", "schema", "loadgate-report/1",
                            "environment", env, "summary", "total", (int)json_array_size(cases),
                            "cases", cases);
    ck_assert_ptr_nonnull(doc);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    const char *p = write_text(name, text);
    free(text);
    return p;
}

static const char *two_cases(const char *name, const char *second)
{
    return write_report(name, json_pack("{s:s, s:s}", "loadgate", "0.2.0", "commit",
                                         "0123456789abcdef0123456789abcdef01234567"),
                        json_pack("[o, o]", mk_case("s/a", "pass", NULL),
                                  mk_case("s/b", second, "why")));
}

/* ------------------------------------------------------------ compare */

START_TEST(test_compare_usage)
{
    const char *a = two_cases("a.json", "pass");
    {
        char *argv[] = {"compare", NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "usage");
    }
    {
        char *argv[] = {"compare", (char *)a, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "usage");
    }
    {
        char *argv[] = {"compare", "--bogus", (char *)a, (char *)a, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "--bogus");
    }
    {
        char *argv[] = {"compare", "-o", NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "-o");
    }
}
END_TEST

/* Reports that cannot be read: the side, the file and the problem named,
 * exit 2, nothing printed. */
START_TEST(test_compare_bad_reports)
{
    const char *good = two_cases("good.json", "pass");
    const char *missing = tu_path(dir, "missing.json");
    char m[4096];
    snprintf(m, sizeof m, "%s", missing);
    {
        char *argv[] = {"compare", m, (char *)good, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "BASE", "missing.json");
    }
    const char *trunc = write_text("trunc.json", "{\"schema\": \"loadgate-report/1\", \"cases\": [");
    {
        char *argv[] = {"compare", (char *)good, (char *)trunc, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "NEW", "trunc.json:1:");
    }
    const char *schema = write_text("schema.json", "{\"schema\": \"other/1\", \"cases\": []}");
    {
        char *argv[] = {"compare", (char *)good, (char *)schema, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "schema.json", "not a loadgate-report/1 report");
    }
    const char *nostatus =
        write_text("nostatus.json", "{\"schema\": \"loadgate-report/1\", \"cases\": [{\"id\": \"x\"}]}");
    {
        char *argv[] = {"compare", (char *)good, (char *)nostatus, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "nostatus.json", "an id and a status");
    }
    const char *badstatus = write_text(
        "badstatus.json",
        "{\"schema\": \"loadgate-report/1\", \"cases\": [{\"id\": \"x\", \"status\": \"meh\"}]}");
    {
        char *argv[] = {"compare", (char *)good, (char *)badstatus, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "badstatus.json", "an id and a status");
    }
    const char *notarray =
        write_text("notarray.json", "{\"schema\": \"loadgate-report/1\", \"cases\": {}}");
    {
        char *argv[] = {"compare", (char *)notarray, (char *)good, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "BASE", "notarray.json", "\"cases\" must be an array");
    }
    /* a path longer than any the harness takes */
    char *huge = malloc(5000);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', 4999);
    huge[4999] = 0;
    {
        char *argv[] = {"compare", huge, (char *)good, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "BASE: path too long (4999 bytes): xxx");
    }
    free(huge);
}
END_TEST

/* A folder stands for its report.json, trailing slashes and all. */
START_TEST(test_compare_folder_slashes)
{
    ck_assert_int_eq(mkdir(tu_path(dir, "r"), 0755), 0);
    two_cases("r/report.json", "fail");
    char base[4200];
    snprintf(base, sizeof base, "%s///", tu_path(dir, "r"));
    const char *good = two_cases("good.json", "pass");
    char *argv[] = {"compare", "--json", (char *)good, base, NULL};
    char *out, *err;
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 1);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    const char *p = json_string_value(json_object_get(json_object_get(j, "new"), "path"));
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(strstr(p, "/r/report.json") && !strstr(p, "//"), "new.path %s", p);
    json_decref(j);
    free(out);
    free(err);
}
END_TEST

/* -o where its folder cannot be made, or where it is a folder; stdout
 * that cannot be written. Exit 2, the path named. */
START_TEST(test_compare_unwritable)
{
    const char *a = two_cases("a.json", "pass");
    ck_assert_int_eq(tu_write(tu_path(dir, "plain"), "x", 1), 0);
    char o[4200];
    snprintf(o, sizeof o, "%s/sub/cmp.md", tu_path(dir, "plain"));
    {
        char *argv[] = {"compare", (char *)a, (char *)a, "-o", o, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "plain/sub");
    }
    ck_assert_int_eq(mkdir(tu_path(dir, "afolder"), 0755), 0);
    snprintf(o, sizeof o, "%s", tu_path(dir, "afolder"));
    {
        char *argv[] = {"compare", (char *)a, (char *)a, "-o", o, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "afolder");
    }
    char *argv[] = {"compare", "--json", (char *)a, (char *)a, NULL};
    char *err;
    ck_assert_int_eq(run_full(hx_cmd_compare, argv, &err), 2);
    ck_assert_msg(strstr(err, "stdout: write error"), "stderr: %s", err);
    free(err);
    /* -o at the root of a relative path: written in place */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    char *argv2[] = {"compare", (char *)a, (char *)a, "-o", "here.md", NULL};
    char *out;
    int rc = run_cmd(hx_cmd_compare, argv2, &out, &err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    char *md = tu_read_text(tu_path(dir, "here.md"));
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "no regression"), "%s", md);
    free(md);
    free(out);
    free(err);
}
END_TEST

/* Odd but well-formed reports: a probe that is not an object on one
 * side, probe rows that are not objects or lack reader and device, a
 * verdict that is not a string, a probe row gone, a repeated case id, no
 * commit. The comparison still reads them. */
START_TEST(test_compare_odd_reports)
{
    json_t *pb = json_pack("{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s}, i, {s:s}], s:{s:i, s:s}, s:s}",
                           "probes", "reader", "r1", "device", "mps", "result", "works", "message",
                           "", "reader", "r2", "device", "cpu", 7, "result", "broken", "verdict",
                           "mps_workaround", 3, "reason", "x", "extra", "base only");
    json_t *pn = json_pack("{s:[{s:s, s:s, s:s, s:s}, {s:s, s:s}], s:{s:s}}", "probes", "reader",
                           "r1", "device", "mps", "result", "broken", "message", "boom", "reader",
                           "r2", "device", "cpu", "verdict", "mps_workaround", "needed");
    json_t *eb = json_pack("{s:s, s:o, s:[s, s], s:{s:{s:i}}}", "loadgate", "0.1", "probe", pb,
                           "backends", "sim", "torch", "deep", "er", "est", 1);
    json_t *en = json_pack("{s:s, s:o, s:[s], s:{s:{s:i}}, s:s}", "loadgate", "0.2", "probe", pn,
                           "backends", "sim", "deep", "er", "est", 2, "new", "a|b\n<c>&\t`d`");
    const char *b = write_report("b.json", eb, json_pack("[o, o]", mk_case("s/a", "pass", NULL),
                                                        mk_case("s/g", "fail", "gone")));
    const char *n = write_report("n.json", en, json_pack("[o, o, o]", mk_case("s/a", "fail", "x"),
                                                        mk_case("s/a", "pass", NULL),
                                                        mk_case("s/new", "error", "setup")));
    char *argv[] = {"compare", "--json", (char *)b, (char *)n, NULL};
    char *out, *err;
    /* a new case with an error is no regression: it did not run in BASE */
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 0);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    json_t *cases = json_object_get(j, "cases");
    /* the repeated id counts by its last case: pass -> pass */
    ck_assert_int_eq(json_integer_value(json_object_get(cases, "unchanged")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(cases, "broken")), 0);
    ck_assert_int_eq(json_array_size(json_object_get(cases, "new")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(cases, "gone")), 1);
    json_t *probe = json_object_get(j, "probe");
    ck_assert(json_is_true(json_object_get(probe, "base")));
    json_t *v = json_object_get(probe, "verdict");
    ck_assert(json_is_null(json_object_get(v, "base"))); /* 3: not a string */
    ck_assert_str_eq(json_string_value(json_object_get(v, "new")), "needed");
    /* r1 mps changed, "? ?" (no reader, no device) gone in NEW */
    json_t *rows = json_object_get(probe, "changed");
    ck_assert_msg(json_array_size(rows) == 2, "%s", out); /* r2 cpu: no result on either side */
    ck_assert_int_eq(json_integer_value(json_object_get(probe, "unchanged")), 1);
    json_t *gone = json_array_get(rows, 1);
    ck_assert(json_is_null(json_object_get(gone, "reader")));
    ck_assert_ptr_null(json_object_get(gone, "new"));
    ck_assert(json_is_null(json_object_get(json_object_get(j, "new"), "commit")));
    json_decref(j);
    free(out);
    free(err);
    /* the same as Markdown: the cells escaped, lists of strings joined */
    char *argv2[] = {"compare", (char *)b, (char *)n, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv2, &out, &err), 0);
    ck_assert_msg(strstr(out, "a\\|b &lt;c&gt;&amp; \\`d\\`"), "%s", out);
    ck_assert_msg(strstr(out, "sim, torch"), "%s", out);
    ck_assert_msg(strstr(out, "commit unknown"), "%s", out);
    ck_assert_msg(strstr(out, "**not recorded** \xe2\x86\x92 **needed**"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* A probe on one side only, and a probe that is not an object. */
START_TEST(test_compare_probe_one_side)
{
    json_t *pb = json_pack("{s:[{s:s, s:s, s:s}], s:{s:s, s:s}}", "probes", "reader", "r",
                           "device", "mps", "result", "works", "verdict", "mps_workaround",
                           "removable", "reason", "works");
    const char *b = write_report("b.json", json_pack("{s:o}", "probe", pb),
                                 json_pack("[o]", mk_case("s/a", "pass", NULL)));
    const char *n = write_report("n.json", json_pack("{s:s}", "probe", "not an object"),
                                 json_pack("[o]", mk_case("s/a", "pass", NULL)));
    char *argv[] = {"compare", (char *)b, (char *)n, NULL};
    char *out, *err;
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 0);
    ck_assert_msg(strstr(out, "NEW has no probe"), "%s", out);
    ck_assert_msg(strstr(out, "**removable** \xe2\x86\x92 **not recorded**"), "%s", out);
    ck_assert_msg(strstr(out, "- BASE: works"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* ------------------------------------------------------- compare, md */

/* hx_compare_md on a comparison made here: long paths (a line past the
 * formatter's stack buffer), a list of strings, a cap so small that the
 * note on what was cut is all that is left of the cases. */
START_TEST(test_compare_md_direct)
{
    char path[3000];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = 0;
    json_t *cmp = json_pack(
        "{s:[s], s:{s:s, s:s}, s:{s:s, s:s},"
        " s:{s:[{s:s, s:[s, s], s:[i]}], s:i},"
        " s:{s:b, s:b, s:{s:s, s:s, s:s, s:s}, s:[], s:i, s:{s:[], s:i}},"
        " s:{s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}], s:[], s:[], s:[], s:[]}}",
        "regressions", "1 case that did not fail in BASE fails in NEW", "base", "path", path,
        "commit", "0123456789abcdef", "new", "path", "n", "loadgate", "0.2", "environment",
        "changed", "key", "backends", "base", "sim", "torch", "new", 1, "unchanged", 1, "probe", "base",
        1, "new", 1, "verdict", "base", "needed", "new", "needed", "base_reason", "same",
        "new_reason", "same", "changed", "unchanged", 1, "other", "changed", "unchanged", 0,
        "cases", "unchanged", 0, "broken", "id", "s/a", "suite", "s", "name", "a", "base", "pass",
        "new", "fail", "reason", "it failed: boom", "message", "boom", "fixed", "changed", "new",
        "gone");
    ck_assert_ptr_nonnull(cmp);
    char *md = hx_compare_md(cmp, HX_COMPARE_MD_CAP);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "pppppppppp"), "%s", md);
    ck_assert_msg(strstr(md, "commit 0123456789ab)"), "%s", md);
    ck_assert_msg(strstr(md, "| sim, torch | \\[1\\] |"), "%s", md);
    ck_assert_msg(strstr(md, "**needed** in both"), "%s", md);
    ck_assert_msg(!strstr(md, "- NEW: same"), "%s", md);
    ck_assert_msg(strstr(md, "1 other value equal"), "%s", md);
    ck_assert_msg(strstr(md, "1 reader \xc3\x97 device result unchanged"), "%s", md);
    ck_assert_msg(strstr(md, "| it failed: boom |"), "%s", md); /* the reason quotes it */
    free(md);
    /* a cap of 1 KiB: the header alone fills it */
    md = hx_compare_md(cmp, 1024);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "**Cut:**"), "%s", md);
    free(md);
    json_decref(cmp);
}
END_TEST

/* -------------------------------------------------------------- merge */

START_TEST(test_merge_usage)
{
    const char *a = two_cases("a.json", "pass");
    char o[4200];
    snprintf(o, sizeof o, "%s", tu_path(dir, "m/merged.json"));
    {
        char *argv[] = {"merge", (char *)a, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "usage");
    }
    {
        char *argv[] = {"merge", "-o", o, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "usage");
    }
    {
        char *argv[] = {"merge", "-o", o, "--format", "json,pdf", (char *)a, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "unknown format in 'json,pdf'");
    }
    {
        char *argv[] = {"merge", "--nope", NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "--nope");
    }
    ck_assert_int_eq(access(o, F_OK), -1);
}
END_TEST

/* An input that cannot be read: named, exit 2, no output written. */
START_TEST(test_merge_bad_input)
{
    const char *a = two_cases("a.json", "pass");
    const char *bad = write_text("bad.json", "{\"schema\": \"loadgate-report/1\", \"cases\": [1]}");
    char o[4200];
    snprintf(o, sizeof o, "%s", tu_path(dir, "merged.json"));
    char *argv[] = {"merge", "-o", o, (char *)a, (char *)bad, NULL};
    EXPECT_ERR(hx_cmd_merge, 2, "bad.json", "an id and a status");
    ck_assert_int_eq(access(o, F_OK), -1);
}
END_TEST

/* OUT under a regular file, OUT a folder, the other formats beside OUT
 * in a folder that cannot hold them: exit 2 and the path named. */
START_TEST(test_merge_unwritable)
{
    const char *a = two_cases("a.json", "pass");
    ck_assert_int_eq(tu_write(tu_path(dir, "plain"), "x", 1), 0);
    char o[4200];
    snprintf(o, sizeof o, "%s/merged.json", tu_path(dir, "plain"));
    {
        char *argv[] = {"merge", "-o", o, (char *)a, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "plain");
    }
    ck_assert_int_eq(mkdir(tu_path(dir, "afolder"), 0755), 0);
    snprintf(o, sizeof o, "%s", tu_path(dir, "afolder"));
    {
        char *argv[] = {"merge", "-o", o, (char *)a, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "afolder");
    }
    /* merged.json written, summary.md cannot be: a folder of that name */
    ck_assert_int_eq(mkdir(tu_path(dir, "md"), 0755), 0);
    ck_assert_int_eq(mkdir(tu_path(dir, "md/summary.md"), 0755), 0);
    snprintf(o, sizeof o, "%s", tu_path(dir, "md/merged.json"));
    {
        char *argv[] = {"merge", "-o", o, "--format", "json,md", (char *)a, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "summary.md");
    }
}
END_TEST

/* Merging into the current folder (OUT without a slash), and into the
 * root's child (a slash first): the other formats go beside OUT. */
START_TEST(test_merge_relative_out)
{
    const char *a = two_cases("a.json", "fail");
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    char *argv[] = {"merge", "-o", "merged.json", "--format", "json,junit,md,html", (char *)a,
                    NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_merge, argv, &out, &err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err); /* a case fails */
    const char *files[] = {"merged.json", "junit.xml", "summary.md", "index.html"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(access(tu_path(dir, files[i]), F_OK) == 0, "%s not written", files[i]);
    free(out);
    free(err);
}
END_TEST

/* A merged report merged again: its environments kept, not its one
 * environment; a case with a setup error: exit 2, counted. */
START_TEST(test_merge_merged_and_errors)
{
    const char *a = write_report("a.json", json_pack("{s:s}", "loadgate", "A"),
                                 json_pack("[o]", mk_case("s/a", "error", "setup")));
    const char *b = write_report("b.json", NULL, json_pack("[o]", mk_case("s/b", "pass", NULL)));
    char m1[4200], m2[4200];
    snprintf(m1, sizeof m1, "%s", tu_path(dir, "m1.json"));
    snprintf(m2, sizeof m2, "%s", tu_path(dir, "m2.json"));
    {
        char *argv[] = {"merge", "-o", m1, (char *)a, (char *)b, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "1 case with a setup error");
    }
    const char *c = write_report("c.json", json_pack("{s:s}", "loadgate", "C"),
                                 json_pack("[o]", mk_case("s/c", "pass", NULL)));
    {
        char *argv[] = {"merge", "-o", m2, m1, (char *)c, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "1 case with a setup error");
    }
    json_t *j = json_load_file(m2, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *envs = json_object_get(j, "environments");
    ck_assert_int_eq(json_array_size(envs), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(envs, 0), "loadgate")), "A");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(envs, 1), "loadgate")), "C");
    ck_assert_int_eq(json_array_size(json_object_get(j, "cases")), 3);
    json_decref(j);
}
END_TEST


/* ---------------------------------------------------------------- run */

static const char run_suite[] =
    "suite: e\n"
    "defaults: {backend: sim, device: cpu, policy: via-cpu}\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: ok\n"
    "    file: small\n";

static const char *write_suite(const char *text)
{
    return write_text("e.yaml", text);
}

/* Each bad option value: exit 2, the option named, nothing run. */
START_TEST(test_run_bad_options)
{
    const char *y = write_suite(run_suite);
    static const char *const bad[][3] = {
        {"--jobs", "0", "--jobs"},         {"--timeout", "-1", "--timeout"},
        {"--timeout", "1s", "--timeout"},  {"--seed", "x", "--seed"},
        {"--backend", "tf", "--backend"},  {"--keep-failed", "", "--keep-failed"},
        {"--history", "", "--history"},    {"--isolation", "thread", "--isolation"},
        {"--format", "pdf", "--format"},   {"--shard", "3/2", "--shard"},
    };
    char o[4200];
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"run", (char *)bad[i][0], (char *)bad[i][1], "-o", o, (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 2, bad[i][2]);
    }
    {
        char *argv[] = {"run", "-o", o, NULL};
        EXPECT_ERR(hx_cmd_run, 2, "no case file given");
    }
    ck_assert_int_eq(access(o, F_OK), -1);
}
END_TEST

/* -o a regular file: the earlier reports cannot be removed, exit 2. -o
 * a link to a folder that does not exist: the reports cannot be
 * written, exit 1, the folder named. --history under a regular file:
 * said, and the reports still written. */
START_TEST(test_run_unwritable)
{
    const char *y = write_suite(run_suite);
    char plain[4200], link[4200], o[4200], h[4300];
    snprintf(plain, sizeof plain, "%s", tu_path(dir, "plain"));
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    {
        char *argv[] = {"run", "--isolation", "none", "-o", plain, (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 2, "cannot remove the earlier report", "plain/report.json");
    }
    snprintf(link, sizeof link, "%s", tu_path(dir, "link"));
    ck_assert_int_eq(symlink(tu_path(dir, "nowhere/deep"), link), 0);
    {
        char *argv[] = {"run", "--isolation", "none", "-o", link, (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 1, "the reports could not all be written to", "link/report.json");
    }
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    snprintf(h, sizeof h, "%s/h", plain);
    {
        char *argv[] = {"run", "--isolation", "none", "--history", h, "-o", o, (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 0, "--history: ", "plain/h");
    }
    ck_assert_int_eq(access(tu_path(dir, "out/report.json"), F_OK), 0);
    /* a folder path too long for the reports */
    char *huge = malloc(4300);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'o', 4299);
    huge[4299] = 0;
    {
        char *argv[] = {"run", "--isolation", "none", "-o", huge, (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 2, "path too long (4299 bytes)");
    }
    free(huge);
}
END_TEST

/* --paranoid and --seed on a run that passes; a run whose failing cases
 * and setup errors are past the lines printed: their groups, with the
 * input --keep-failed kept for a group's example. */
START_TEST(test_run_paranoid_and_groups)
{
    const char *y = write_suite(run_suite);
    char o[4200];
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    {
        char *argv[] = {"run", "--isolation", "none", "--paranoid", "--seed", "7", "-o", o,
                        (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 0, NULL);
    }
    json_t *j = json_load_file(tu_path(dir, "out/report.json"), 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "run"), "seed")), 7);
    json_decref(j);
    static const char many[] =
        "suite: many\n"
        "fixtures:\n"
        "  gone: {path: nope.safetensors}\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - name: missing\n"
        "    backend: sim\n"
        "    file: gone\n"
        "    matrix: {device: [cpu, mps], policy: [via-cpu, staged, direct], crc: [error, warn, off]}\n"
        "  - name: missing2\n"
        "    backend: sim\n"
        "    file: gone\n"
        "    matrix: {device: [cpu, mps], policy: [via-cpu, staged, direct], crc: [error, warn, off]}\n"
        "  - name: wrong\n"
        "    backend: sim\n"
        "    file: small\n"
        "    expect: {error: LG_E_FORMAT}\n"
        "    matrix: {device: [cpu, mps], policy: [via-cpu, staged, direct], crc: [error, warn, off]}\n"
        "  - name: wrong2\n"
        "    backend: sim\n"
        "    file: small\n"
        "    expect: {error: LG_E_FORMAT}\n"
        "    matrix: {device: [cpu, mps], policy: [via-cpu, staged, direct], crc: [error, warn, off]}\n";
    const char *m = write_text("many.yaml", many);
    char k[4200];
    snprintf(k, sizeof k, "%s", tu_path(dir, "kept"));
    char *argv[] = {"run", "--isolation", "none", "--keep-failed", k, "-o", o, (char *)m, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_run, argv, &out, &err);
    ck_assert_msg(rc == 2, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "36 failing cases in "), "out: %s\nerr: %.3000s", out, err);
    ck_assert_msg(strstr(out, "36 setup errors in "), "%s", out);
    ck_assert_msg(strstr(out, "        e.g. many/wrong") && strstr(out, " (input kept as "), "%s",
                  out);
    free(out);
    free(err);
}
END_TEST


/* ------------------------------------------- load, fixtures, run-one */

/* Each bad usage: exit 2 and the problem named. */
START_TEST(test_small_commands_usage)
{
    const char *st = tu_path(dir, "w.safetensors");
    char w[4200];
    snprintf(w, sizeof w, "%s", st);
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    {
        char *argv[] = {"load", "--device", "cpu", NULL};
        EXPECT_ERR(hx_cmd_load, 2, "expected exactly one CHECKPOINT");
    }
    {
        char *argv[] = {"load", "--device", "cpu", "--seed", "-3", w, NULL};
        EXPECT_ERR(hx_cmd_load, 2, "--seed");
    }
    {
        char *argv[] = {"load", "--device", "cpu", "--crc", "maybe", w, NULL};
        EXPECT_ERR(hx_cmd_load, 2, "--crc", "maybe");
    }
    {
        char *argv[] = {"fixtures", NULL};
        EXPECT_ERR(hx_cmd_fixtures, 2, "expected exactly one DIR");
    }
    {
        char *argv[] = {"__run-one", "--seed", "x", "f.yaml", "id", NULL};
        EXPECT_ERR(hx_cmd_run_one, 2, "bad value for --seed");
    }
    {
        char *argv[] = {"__run-one", "--sweep", "-1", "f.yaml", "id", NULL};
        EXPECT_ERR(hx_cmd_run_one, 2, "bad value for --sweep");
    }
    {
        char *argv[] = {"__run-one", "--help", NULL};
        EXPECT_ERR(hx_cmd_run_one, 0, NULL);
    }
    {
        char *argv[] = {"list", NULL};
        EXPECT_ERR(hx_cmd_list, 2, "no case file given");
    }
}
END_TEST

/* load with --crc, --seed and --trust-code (confined), in text and JSON. */
START_TEST(test_load_options)
{
    char w[4200];
    snprintf(w, sizeof w, "%s", tu_path(dir, "w.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    char *argv[] = {"load", "--device", "cpu", "--backend", "sim", "--crc", "warn", "--seed",
                    "9", "--trust-code", "--json", w, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_load, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_int_eq(json_array_size(json_object_get(j, "variables")), 2);
    json_decref(j);
    free(out);
    free(err);
    char *argv2[] = {"inspect", "--trust-code", "--backend", "sim", w, NULL};
    rc = run_cmd(hx_cmd_inspect, argv2, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "t0"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* fixtures into a folder under a regular file: exit 1, named; into a
 * folder where a fixture's name is taken by a folder: that one named,
 * exit 1. */
START_TEST(test_fixtures_unwritable)
{
    char d[4200];
    ck_assert_int_eq(tu_write(tu_path(dir, "plain"), "x", 1), 0);
    snprintf(d, sizeof d, "%s/f", tu_path(dir, "plain"));
    {
        char *argv[] = {"fixtures", d, NULL};
        EXPECT_ERR(hx_cmd_fixtures, 1, "plain/f");
    }
    snprintf(d, sizeof d, "%s", tu_path(dir, "one"));
    char *argv[] = {"fixtures", d, NULL};
    char *out, *err;
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, argv, &out, &err), 0);
    char first[4200];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(out, "\n"), out);
    const char *base = strrchr(first, '/');
    ck_assert_ptr_nonnull(base);
    free(out);
    free(err);
    snprintf(d, sizeof d, "%s", tu_path(dir, "two"));
    ck_assert_int_eq(mkdir(d, 0755), 0);
    char taken[4300];
    snprintf(taken, sizeof taken, "%s%s", d, base);
    ck_assert_int_eq(mkdir(taken, 0755), 0);
    EXPECT_ERR(hx_cmd_fixtures, 1, taken);
}
END_TEST

/* fixtures --suite: a suite that cannot be read (exit 1); a fixture by
 * path left alone; a torch-archive fixture left out (said) where the
 * build has no torch backend, else generated. */
START_TEST(test_fixtures_suite_errors)
{
    char d[4200], y[4200];
    snprintf(d, sizeof d, "%s", tu_path(dir, "fx"));
    snprintf(y, sizeof y, "%s", tu_path(dir, "none.yaml"));
    {
        char *argv[] = {"fixtures", "--suite", y, d, NULL};
        EXPECT_ERR(hx_cmd_fixtures, 1, "none.yaml");
    }
    static const char suite[] =
        "suite: fx\n"
        "fixtures:\n"
        "  here: {path: here.safetensors}\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "  ot: {generate: {format: torch-archive, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - {name: a, backend: sim, device: cpu, file: here}\n"
        "  - {name: b, backend: sim, device: cpu, file: small}\n"
        "  - {name: c, backend: sim, device: cpu, file: small}\n"
        "  - {name: d, backend: torch, device: cpu, file: ot}\n";
    snprintf(y, sizeof y, "%s", write_text("fx.yaml", suite));
    char *argv[] = {"fixtures", "--suite", y, d, NULL};
    char *out, *err;
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, argv, &out, &err), 0);
    ck_assert_msg(!strstr(out, "here.safetensors"), "%s", out);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl && strstr(out, ".safetensors") < nl, "%s", out);
    if (strstr(lg_backends_built(), "torch")) {
        ck_assert_msg(strstr(nl, ".ot\n"), "%s", out);
    } else {
        ck_assert_msg(!strstr(nl + 1, "safetensors"), "the fixture of b and c twice: %s", out);
        ck_assert_msg(strstr(err, "fixture ot: fixture format torch-archive needs the torch "
                                  "backend"), "%s", err);
    }
    free(out);
    free(err);
}
END_TEST

/* __run-one: a case file that cannot be read (exit 2); a case run with
 * --backend, --paranoid, --cache and --ack: "+" first, then the result. */
START_TEST(test_run_one_paths)
{
    char y[4200], cache[4200];
    snprintf(y, sizeof y, "%s", tu_path(dir, "none.yaml"));
    {
        char *argv[] = {"__run-one", y, "e/ok", NULL};
        EXPECT_ERR(hx_cmd_run_one, 2, "none.yaml");
    }
    snprintf(y, sizeof y, "%s", write_suite(run_suite));
    snprintf(cache, sizeof cache, "%s", tu_path(dir, "cache"));
    ck_assert_int_eq(mkdir(cache, 0755), 0);
    char *argv[] = {"__run-one", "--backend", "sim", "--paranoid", "--ack", "--cache", cache, y,
                    "e/ok", NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_run_one, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(out[0] == '+' && strstr(out, "\"pass\""), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* ----------------------------------------------------- the program */

/* Runs the harness program with args; its stdout and stderr in dir. */
static int run_program(char *const *args)
{
    char prog[4096], o[4200], e[4200];
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(o, sizeof o, "%s", tu_path(dir, "p.out"));
    snprintf(e, sizeof e, "%s", tu_path(dir, "p.err"));
    char *argv[8] = {prog};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(prog, argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The same with stdout on /dev/full. */
static int run_program_full(char *const *args)
{
    char prog[4096], e[4200];
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(e, sizeof e, "%s", tu_path(dir, "p.err"));
    char *argv[8] = {prog};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open("/dev/full", O_WRONLY);
        int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(prog, argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_program_usage)
{
    char *none[] = {NULL};
    ck_assert_int_eq(run_program(none), 2);
    char *s = tu_read_text(tu_path(dir, "p.err"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "usage"), "%s", s);
    free(s);
    const char *helps[] = {"--help", "-h", "help"};
    for (int i = 0; i < 3; i++) {
        char *args[] = {(char *)helps[i], NULL};
        ck_assert_int_eq(run_program(args), 0);
        s = tu_read_text(tu_path(dir, "p.out"));
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strstr(s, "usage") && strstr(s, "compare"), "%s: %s", helps[i], s);
        free(s);
    }
    char *bad[] = {"frobnicate", NULL};
    ck_assert_int_eq(run_program(bad), 2);
    s = tu_read_text(tu_path(dir, "p.err"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "unknown command 'frobnicate'"), "%s", s);
    free(s);
}
END_TEST


/* The program on a full device: every command that would exit 0 exits 2
 * and says why; --version prints its modules. */
START_TEST(test_program_stdout_full)
{
    char w[4200], prog[4096];
    snprintf(w, sizeof w, "%s", tu_path(dir, "w.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    char *ok[] = {"--version", NULL};
    ck_assert_int_eq(run_program(ok), 0);
    char *s = tu_read_text(tu_path(dir, "p.out"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "torch module"), "%s", s);
    free(s);
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    static const char *const cmds[][6] = {
        {"--version"},
        {"inspect", "--json", NULL},
        {"load", "--backend", "sim", "--device", "cpu", NULL},
        {"probe", "--backend", "sim", "--json"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *args[8] = {0};
        int k = 0;
        for (; k < 6 && cmds[i][k]; k++)
            args[k] = (char *)cmds[i][k];
        if (i == 1 || i == 2)
            args[k] = w;
        int rc = run_program_full(args);
        s = tu_read_text(tu_path(dir, "p.err"));
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(rc == 2 && strstr(s, "harness: stdout: write error"), "%s: exit %d: %s",
                      cmds[i][0], rc, s);
        free(s);
    }
}
END_TEST

/* list, __run-one and probe on a full stdout, in-process: each says so. */
START_TEST(test_stdout_full_in_process)
{
    const char *y = write_suite(run_suite);
    char yy[4200];
    snprintf(yy, sizeof yy, "%s", y);
    char *err;
    char *l[] = {"list", yy, NULL};
    ck_assert_int_eq(run_full(hx_cmd_list, l, &err), 2);
    free(err);
    char *r1[] = {"__run-one", "--ack", yy, "e/ok", NULL};
    ck_assert_int_ne(run_full(hx_cmd_run_one, r1, &err), 0);
    free(err);
    char *r2[] = {"__run-one", yy, "e/ok", NULL};
    ck_assert_int_eq(run_full(hx_cmd_run_one, r2, &err), 2);
    ck_assert_msg(strstr(err, "harness __run-one: "), "%s", err);
    free(err);
}
END_TEST

/* No folder for the run's cache ($TMPDIR a regular file): exit 2, said. */
START_TEST(test_no_temp_folder)
{
    const char *y = write_suite(run_suite);
    char yy[4200], o[4200], plain[4200];
    snprintf(yy, sizeof yy, "%s", y);
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    snprintf(plain, sizeof plain, "%s", tu_path(dir, "plain"));
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    char *saved = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", plain, 1);
    char *out, *err;
    char *r[] = {"run", "--isolation", "none", "-o", o, yy, NULL};
    int rc = run_cmd(hx_cmd_run, r, &out, &err);
    char *r1[] = {"__run-one", yy, "e/ok", NULL};
    char *out1, *err1;
    int rc1 = run_cmd(hx_cmd_run_one, r1, &out1, &err1);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    ck_assert_msg(rc == 2 && strstr(err, "cannot create a folder in") && strstr(err, "plain"),
                  "run: exit %d: %s", rc, err);
    ck_assert_msg(rc1 == 2 && strstr(err1, "cannot create a folder in"), "__run-one: exit %d: %s",
                  rc1, err1);
    free(out), free(err), free(out1), free(err1);
}
END_TEST

/* --shard selecting no case, without -k: exit 5, said. */
START_TEST(test_shard_selects_none)
{
    const char *y = write_suite(run_suite);
    char yy[4200], o[4200];
    snprintf(yy, sizeof yy, "%s", y);
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    char *argv[] = {"run", "--isolation", "none", "--shard", "2/2", "-o", o, yy, NULL};
    EXPECT_ERR(hx_cmd_run, 5, "harness run: no case selected\n");
}
END_TEST

/* The progress line, on a terminal only. */
START_TEST(test_run_progress_on_tty)
{
    static const char three[] =
        "suite: e\n"
        "defaults: {backend: sim, policy: via-cpu}\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - {name: ok, file: small, matrix: {device: [cpu, mps, cuda]}}\n";
    const char *y = write_suite(three);
    char yy[4200], o[4200];
    snprintf(yy, sizeof yy, "%s", y);
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    int m, t;
    ck_assert_int_eq(openpty(&m, &t, NULL, NULL, NULL), 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(t, 2);
    char *argv[] = {"run", "--isolation", "none", "-o", o, yy, NULL};
    char *out;
    int rc = tu_run_cmd(hx_cmd_run, argv, dir, &out); /* lines 0.1 s apart at most, and the last */
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(t);
    char buf[4096];
    ssize_t n = read(m, buf, sizeof buf - 1);
    close(m);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(buf, "[3/3] 0 failed, 0 errors"), "%s", buf);
    free(out);
}
END_TEST


/* load: --reader auto taken; a device that is no device (no list of
 * allowed values to give); the torch backend where the build has none. */
START_TEST(test_load_values)
{
    char w[4200];
    snprintf(w, sizeof w, "%s", tu_path(dir, "w.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    {
        char *argv[] = {"load", "--backend", "sim", "--device", "cpu", "--reader", "auto", w, NULL};
        EXPECT_ERR(hx_cmd_load, 0, NULL);
    }
    {
        char *argv[] = {"load", "--backend", "sim", "--device", "nowhere", w, NULL};
        EXPECT_ERR(hx_cmd_load, 2, "--device: bad value 'nowhere'");
    }
    if (!strstr(lg_backends_built(), "torch")) {
        char *argv[] = {"load", "--backend", "torch", "--device", "cpu", w, NULL};
        EXPECT_ERR(hx_cmd_load, 1, "harness load: backend \"torch\": this build has no libtorch");
    }
}
END_TEST

/* --keep-failed: a failing case's line names the input kept. */
START_TEST(test_run_keep_failed_line)
{
    static const char failing[] =
        "suite: k\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - {name: wrong, backend: sim, device: cpu, file: small, expect: {error: LG_E_FORMAT}}\n";
    const char *y = write_text("k.yaml", failing);
    char yy[4200], o[4200], k[4200];
    snprintf(yy, sizeof yy, "%s", y);
    snprintf(o, sizeof o, "%s", tu_path(dir, "out"));
    snprintf(k, sizeof k, "%s", tu_path(dir, "kept"));
    char *argv[] = {"run", "--isolation", "none", "--keep-failed", k, "-o", o, yy, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_run, argv, &out, &err);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "fail    k/wrong: ") && strstr(out, " (input kept as ") &&
                      strstr(out, "/kept/"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* A generated fixture that cannot be written (the run's scratch folder
 * for it taken by a regular file): named, exit 1. */
START_TEST(test_fixtures_generate_fails)
{
    static const char suite[] =
        "suite: fx\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - {name: b, backend: sim, device: cpu, file: small}\n";
    char d[4200], y[4200], tmp[4300];
    snprintf(y, sizeof y, "%s", write_text("fx.yaml", suite));
    snprintf(d, sizeof d, "%s", tu_path(dir, "fx"));
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld", d, (long)getpid());
    ck_assert_int_eq(tu_write(tmp, "x", 1), 0);
    char *argv[] = {"fixtures", "--suite", y, d, NULL};
    EXPECT_ERR(hx_cmd_fixtures, 1, "fx.yaml: fixture small: cannot generate the fixture");
}
END_TEST

/* compare -o and merge -o onto a full device: a write error, exit 2. */
START_TEST(test_outputs_on_full_device)
{
    const char *a = two_cases("a.json", "pass");
    char aa[4200], o[4200];
    snprintf(aa, sizeof aa, "%s", a);
    snprintf(o, sizeof o, "%s", tu_path(dir, "full.md"));
    ck_assert_int_eq(symlink("/dev/full", o), 0);
    {
        char *argv[] = {"compare", aa, aa, "-o", o, NULL};
        EXPECT_ERR(hx_cmd_compare, 2, "full.md");
    }
    snprintf(o, sizeof o, "%s", tu_path(dir, "full.json"));
    ck_assert_int_eq(symlink("/dev/full", o), 0);
    {
        char *argv[] = {"merge", "-o", o, aa, NULL};
        EXPECT_ERR(hx_cmd_merge, 2, "full.json");
    }
}
END_TEST


/* inspect --json of a torch.save zip with a comment after its end
 * record: the records still found. */
START_TEST(test_inspect_zip_comment)
{
    char src[4096], pt[4200];
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    size_t n;
    unsigned char *b = tu_read(src, &n);
    ck_assert_ptr_nonnull(b);
    size_t at = n;
    while (at-- > 0 && memcmp(b + at, "PK\x05\x06", 4))
        ;
    ck_assert_msg(at + 22 == n, "%s: no end record without a comment", src);
    unsigned char *c = malloc(n + 5);
    ck_assert_ptr_nonnull(c);
    memcpy(c, b, n);
    c[at + 20] = 5, c[at + 21] = 0;
    memcpy(c + n, "hello", 5);
    snprintf(pt, sizeof pt, "%s", tu_path(dir, "commented.pt"));
    ck_assert_int_eq(tu_write(pt, c, n + 5), 0);
    free(b);
    free(c);
    char *argv[] = {"inspect", "--json", "--backend", "sim", pt, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_inspect, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    json_t *rec = json_object_get(j, "records");
    ck_assert_msg(json_array_size(rec) > 0, "%s", out);
    ck_assert_str_eq(json_string_value(json_array_get(rec, 0)), "train_ckpt/data.pkl");
    json_decref(j);
    free(out);
    free(err);
}
END_TEST


/* inspect's text output lists the findings: a torch.save zip whose
 * version record is renamed has none (the name is in the local header and
 * in the central directory, same length, so nothing else moves). */
START_TEST(test_inspect_finding_listed)
{
    char src[4096], pt[4200];
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    size_t n, renamed = 0;
    unsigned char *b = tu_read(src, &n);
    ck_assert_ptr_nonnull(b);
    static const char name[] = "train_ckpt/version";
    for (size_t i = 0; i + sizeof name - 1 <= n; i++)
        if (!memcmp(b + i, name, sizeof name - 1)) {
            b[i + sizeof name - 2] = 'X';
            renamed++;
        }
    ck_assert_int_eq(renamed, 2);
    snprintf(pt, sizeof pt, "%s", tu_path(dir, "noversion.pt"));
    ck_assert_int_eq(tu_write(pt, b, n), 0);
    free(b);
    char *argv[] = {"inspect", "--backend", "sim", pt, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_inspect, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "  finding: no version record"), "%s", out);
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmd_errors");
    TCase *tc = tcase_create("cmd_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_compare_usage);
    tcase_add_test(tc, test_compare_bad_reports);
    tcase_add_test(tc, test_compare_folder_slashes);
    tcase_add_test(tc, test_compare_unwritable);
    tcase_add_test(tc, test_compare_odd_reports);
    tcase_add_test(tc, test_compare_probe_one_side);
    tcase_add_test(tc, test_compare_md_direct);
    tcase_add_test(tc, test_merge_usage);
    tcase_add_test(tc, test_merge_bad_input);
    tcase_add_test(tc, test_merge_unwritable);
    tcase_add_test(tc, test_merge_relative_out);
    tcase_add_test(tc, test_merge_merged_and_errors);
    tcase_add_test(tc, test_run_bad_options);
    tcase_add_test(tc, test_run_unwritable);
    tcase_add_test(tc, test_run_paranoid_and_groups);
    tcase_add_test(tc, test_small_commands_usage);
    tcase_add_test(tc, test_load_options);
    tcase_add_test(tc, test_fixtures_unwritable);
    tcase_add_test(tc, test_fixtures_suite_errors);
    tcase_add_test(tc, test_run_one_paths);
    tcase_add_test(tc, test_program_usage);
    tcase_add_test(tc, test_program_stdout_full);
    tcase_add_test(tc, test_stdout_full_in_process);
    tcase_add_test(tc, test_no_temp_folder);
    tcase_add_test(tc, test_shard_selects_none);
    tcase_add_test(tc, test_run_progress_on_tty);
    tcase_add_test(tc, test_load_values);
    tcase_add_test(tc, test_run_keep_failed_line);
    tcase_add_test(tc, test_fixtures_generate_fails);
    tcase_add_test(tc, test_outputs_on_full_device);
    tcase_add_test(tc, test_inspect_zip_comment);
    tcase_add_test(tc, test_inspect_finding_listed);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
