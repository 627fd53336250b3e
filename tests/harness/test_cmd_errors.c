/* The error paths of harness compare and merge, run in-process:
 * bad options, missing or malformed reports, output paths that cannot be
 * written (a regular file where a folder must be, a link to /dev/full:
 * the tests may run as root, so permission bits would not stop a write),
 * stdout on a full device, and the odd corners of well-formed input (a
 * probe that is not an object, repeated ids, a report with no commit).
 * The other commands: test_cmd_run_errors, test_cmd_program. */
#include "cmd/cmd.h"
#include "cmd/compare.h"
#include "test_cmd_errors.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A case of the report.json schema. */
static json_t *mk_case(const char *id, const char *status, const char *reason)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?, s:{s:s}}", "id", id, "suite", "s", "name",
                     id, "index", 0, "status", status, "reason", reason, "actual", "message",
                     "the error message");
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

/* Cases without a suite or an index are merged after the others, in
 * input order; two setup errors are counted in the plural. */
START_TEST(test_merge_order_and_plural)
{
    const char *a = write_report("a.json", NULL,
                                 json_pack("[{s:s, s:s}, o]", "id", "loose", "status", "error",
                                           mk_case("s/a", "error", "setup")));
    char aa[4200], m[4200];
    snprintf(aa, sizeof aa, "%s", a);
    const char *b = write_report("b.json", NULL,
                                 json_pack("[{s:s, s:s}]", "id", "loose2", "status", "pass"));
    snprintf(m, sizeof m, "%s", tu_path(dir, "m.json"));
    char *argv[] = {"merge", "-o", m, aa, (char *)b, NULL};
    EXPECT_ERR(hx_cmd_merge, 2, "2 cases with a setup error");
    json_t *j = json_load_file(m, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *cases = json_object_get(j, "cases");
    ck_assert_int_eq(json_array_size(cases), 3);
    const char *want[] = {"loose", "loose2", "s/a"}; /* suite "" first, as reports order suites */
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cases, i), "id")),
                         want[i]);
    json_decref(j);
}
END_TEST

/* Cells past their length, control characters, a message without a
 * reason, verdict reasons that differ, and rows left out at a cap. */
START_TEST(test_compare_md_cells)
{
    char big[400];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    json_t *rows = json_array();
    for (int i = 0; i < 40; i++)
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s}", "id", "s/x", "base", "pass",
                                              "new", "fail", "message", "boom"));
    json_t *cmp = json_pack(
        "{s:[], s:{s:s}, s:{s:s},"
        " s:{s:[{s:s, s:s, s:s}], s:i},"
        " s:{s:b, s:b, s:{s:s, s:s, s:s, s:s}, s:[], s:i, s:{s:[], s:i}},"
        " s:{s:i, s:o, s:[], s:[], s:[], s:[]}}",
        "regressions", "base", "path", "b", "new", "path", "n", "environment", "changed", "key",
        "k\r\x01\tv", "base", big, "new", "x", "unchanged", 0, "probe", "base", 1, "new", 1,
        "verdict", "base", "needed", "new", "removable", "base_reason", "old", "new_reason", "new",
        "changed", "unchanged", 0, "other", "changed", "unchanged", 0, "cases", "unchanged", 0,
        "broken", rows, "fixed", "changed", "new", "gone");
    ck_assert_ptr_nonnull(cmp);
    char *md = hx_compare_md(cmp, HX_COMPARE_MD_CAP);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "| k  v |"), "the key's \\r and \\t as spaces, \\x01 dropped: %s", md);
    char cut[320];
    snprintf(cut, sizeof cut, "| %.300s\xe2\x80\xa6 |", big);
    ck_assert_msg(strstr(md, cut), "the cell cut at 300 bytes: %s", md);
    ck_assert_msg(strstr(md, "- BASE: old\n- NEW: new\n"), "%s", md);
    ck_assert_msg(strstr(md, "| s/x | pass | fail | boom |"), "%s", md);
    ck_assert_msg(strstr(md, "0 other values equal"), "%s", md);
    free(md);
    md = hx_compare_md(cmp, 3000);
    ck_assert_ptr_nonnull(md);
    ck_assert_msg(strstr(md, "**Cut:** this summary stops at 2 KiB;") && strstr(md, "broken: "),
                  "%s", md);
    free(md);
    json_decref(cmp);
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
    tcase_add_test(tc, test_outputs_on_full_device);
    tcase_add_test(tc, test_merge_order_and_plural);
    tcase_add_test(tc, test_compare_md_cells);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
