/* harness compare (the transitions, the probe diff, the verdict rule,
 * the Markdown cap, exit codes) and harness merge's environments, on
 * report.json files written here or by `harness run`. */
#include "cmd/cmd.h"
#include "cmd/compare.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void) { tu_rmtree(dir); }

/* Runs a subcommand; stdout into *out, stderr into *err (both malloc'd). */
static int run_cmd(int (*fn)(int, char **), char **argv, char **out, char **err)
{
    const char *epath = tu_path(dir, "stderr");
    char path[4096];
    snprintf(path, sizeof path, "%s", epath);
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

/* A case object of the report.json schema; its id is SUITE/WHAT, its
 * name WHAT up to a '[' (the parameters). */
static json_t *mk_case(const char *suite, const char *what, const char *status, const char *reason,
                       const char *message)
{
    char id[512], name[512];
    snprintf(id, sizeof id, "%s/%s", suite, what);
    snprintf(name, sizeof name, "%.*s", (int)strcspn(what, "["), what);
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s?, s:{s:s?}}", "id", id, "suite", suite, "name",
                     name, "index", 0, "status", status, "reason", reason, "actual", "message",
                     message);
}

/* A probe object as `harness probe --json` prints it: one reader on
 * cpu and mps, with the given mps result and verdict. */
static json_t *mk_probe(const char *mps_result, const char *mps_message, const char *verdict)
{
    return json_pack("{s:s, s:{s:b, s:b, s:b}, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}],"
                     " s:{s:s, s:s}}",
                     "libtorch", "2.5.1", "devices", "cpu", 1, "cuda", 0, "mps", 1, "probes",
                     "reader", "input-archive", "device", "cpu", "result", "works", "message", "",
                     "reader", "input-archive", "device", "mps", "result", mps_result, "message",
                     mps_message, "verdict", "mps_workaround", verdict, "reason", "because");
}

static json_t *mk_env(const char *libtorch, json_t *probe)
{
    json_t *e = json_pack("{s:s, s:s, s:[s], s:{s:[s]}, s:n}", "loadgate", "0.2.0", "libtorch",
                          libtorch, "backends", "sim", "devices", "sim", "cpu", "commit");
    if (probe)
        json_object_set_new(e, "probe", probe);
    return e;
}

/* Writes a report with env (taken) and the cases (taken) into dir/name. */
static const char *write_report(const char *name, json_t *env, json_t *cases)
{
    static char paths[4][4096];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 4096, "%s", tu_path(dir, name));
    json_t *doc = json_pack("{s:s, s:o, s:{s:i}, s:o}", "schema", "loadgate-report/1",
                            "environment", env ? env : json_null(), "summary", "total",
                            (int)json_array_size(cases), "cases", cases);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_dump_file(doc, p, 0), 0);
    json_decref(doc);
    return p;
}

static json_t *compare_json(const char *base, const char *new, int want_rc)
{
    char *out, *err;
    char *argv[] = {"compare", "--json", (char *)base, (char *)new, NULL};
    int rc = run_cmd(hx_cmd_compare, argv, &out, &err);
    ck_assert_msg(rc == want_rc, "exit %d, want %d; stderr: %s", rc, want_rc, err);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s\n%s", e.text, out);
    free(out);
    free(err);
    return j;
}

/* The ids in cases.LIST, joined with spaces. */
static const char *ids_of(json_t *cmp, const char *list)
{
    static char buf[4096];
    json_t *e;
    size_t i;
    buf[0] = 0;
    json_array_foreach(json_object_get(json_object_get(cmp, "cases"), list), i, e) {
        strcat(buf, i ? " " : "");
        strcat(buf, json_string_value(json_object_get(e, "id")));
    }
    return buf;
}

/* `harness run` twice on a tiny suite, the second time with one case's
 * expect changed so that it fails: exit 1, naming the case. */
START_TEST(test_run_flip_is_regression)
{
    static const char suite[] =
        "suite: tiny\n"
        "defaults: {device: mps, backend: sim, policy: via-cpu}\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"
        "cases:\n"
        "  - name: steady\n"
        "    file: small\n"
        "  - name: flip\n"
        "    file: small\n"
        "    expect: {outcome: %s}\n";
    char text[1024], *out, *err;
    const char *dirs[2] = {"base", "new"};
    for (int i = 0; i < 2; i++) {
        char yaml[4096], rdir[4096];
        snprintf(text, sizeof text, suite, i ? "error" : "ok");
        snprintf(yaml, sizeof yaml, "%s", tu_path(dir, i ? "new.yaml" : "base.yaml"));
        snprintf(rdir, sizeof rdir, "%s", tu_path(dir, dirs[i]));
        ck_assert_int_eq(tu_write(yaml, text, strlen(text)), 0);
        char *argv[] = {"run", yaml, "-o", rdir, "--format", "json", NULL};
        ck_assert_int_eq(run_cmd(hx_cmd_run, argv, &out, &err), i);
        free(out);
        free(err);
    }
    char base[4096], new[4096];
    snprintf(base, sizeof base, "%s", tu_path(dir, "base"));
    snprintf(new, sizeof new, "%s", tu_path(dir, "new"));
    char *argv[] = {"compare", base, new, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 1);
    ck_assert_msg(strstr(out, "**regression**"), "no regression heading in:\n%s", out);
    const char *broken = strstr(out, "#### Broken");
    ck_assert_msg(broken && strstr(broken, "| tiny/flip | pass | fail |"), "flip not broken:\n%s", out);
    ck_assert_msg(strstr(out, "1 unchanged, 1 broken"), "counts wrong:\n%s", out);
    ck_assert_msg(!strstr(out, "tiny/steady"), "an unchanged case is listed:\n%s", out);
    free(out);
    free(err);
    /* and back again: fixed, exit 0 */
    char *back[] = {"compare", new, base, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, back, &out, &err), 0);
    ck_assert_msg(strstr(out, "| tiny/flip | fail | pass |"), "flip not fixed:\n%s", out);
    free(out);
    free(err);
}
END_TEST

/* Every kind of transition, and the failure message of a broken case. */
START_TEST(test_transitions)
{
    const char *b = write_report(
        "b.json", mk_env("1.13.0", NULL),
        json_pack("[o, o, o, o, o, o]", mk_case("s", "same", "pass", NULL, NULL),
                  mk_case("s", "fixed", "fail", "expected ok", "boom"),
                  mk_case("s", "broken", "pass", NULL, NULL),
                  mk_case("s", "skipped", "pass", NULL, NULL),
                  mk_case("s", "gone", "pass", NULL, NULL),
                  mk_case("s", "xfail-broken", "xfail", "known", NULL)));
    const char *n = write_report(
        "n.json", mk_env("1.13.0", NULL),
        json_pack("[o, o, o, o, o, o]", mk_case("s", "same", "pass", NULL, NULL),
                  mk_case("s", "fixed", "pass", NULL, NULL),
                  mk_case("s", "broken", "crash", "signal SIGSEGV", "torn | <pipe>"),
                  mk_case("s", "skipped", "skip", "no mps", NULL),
                  mk_case("s", "new", "fail", "expected ok", NULL),
                  mk_case("s", "xfail-broken", "xpass", "passed unexpectedly", NULL)));
    json_t *j = compare_json(b, n, 1);
    ck_assert_str_eq(ids_of(j, "broken"), "s/broken s/xfail-broken");
    ck_assert_str_eq(ids_of(j, "fixed"), "s/fixed");
    ck_assert_str_eq(ids_of(j, "changed"), "s/skipped");
    ck_assert_str_eq(ids_of(j, "new"), "s/new");
    ck_assert_str_eq(ids_of(j, "gone"), "s/gone");
    json_t *cases = json_object_get(j, "cases");
    ck_assert_int_eq(json_integer_value(json_object_get(cases, "unchanged")), 1);
    json_t *br = json_array_get(json_object_get(cases, "broken"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(br, "base")), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(br, "new")), "crash");
    ck_assert_str_eq(json_string_value(json_object_get(br, "message")), "torn | <pipe>");
    json_t *sk = json_array_get(json_object_get(cases, "changed"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(sk, "reason")), "no mps");
    ck_assert_ptr_null(json_object_get(sk, "message"));
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(cases, "fixed"), 0), "reason"));
    ck_assert(json_is_true(json_object_get(j, "regression")));
    json_decref(j);
    /* Markdown: the message is in the row, escaped for a table cell */
    char *out, *err;
    char *argv[] = {"compare", (char *)b, (char *)n, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 1);
    ck_assert_msg(strstr(out, "| s/broken | pass | crash | signal SIGSEGV: torn \\| &lt;pipe&gt; |"),
                  "broken row wrong:\n%s", out);
    ck_assert_msg(strstr(out, "2 cases that did not fail in BASE fail in NEW"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* The same report twice: exit 0, nothing listed. */
START_TEST(test_identical)
{
    const char *b = write_report("same.json", mk_env("1.13.0", mk_probe("rejected", "got MPS", "needed")),
                                 json_pack("[o, o]", mk_case("s", "a", "pass", NULL, NULL),
                                           mk_case("s", "b", "fail", "expected ok", NULL)));
    json_t *j = compare_json(b, b, 0);
    ck_assert(json_is_false(json_object_get(j, "regression")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "cases"), "unchanged")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "environment"), "changed")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "probe"), "changed")), 0);
    json_decref(j);
    char *out, *err;
    char *argv[] = {"compare", (char *)b, (char *)b, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 0);
    ck_assert_msg(strstr(out, "no regression"), "%s", out);
    ck_assert_msg(strstr(out, "MPS workaround: **needed** in both."), "%s", out);
    ck_assert_msg(strstr(out, "2 unchanged, 0 broken"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* Verdicts: removable -> needed is a regression even with no case
 * changed; needed -> removable is not. The probe rows that changed are
 * listed reader by reader, device by device; the environment's libtorch. */
START_TEST(test_verdict)
{
    json_t *cases = json_pack("[o]", mk_case("s", "a", "pass", NULL, NULL));
    const char *rem = write_report("rem.json", mk_env("2.5.1", mk_probe("works", "", "removable")),
                                   json_deep_copy(cases));
    const char *need = write_report(
        "need.json", mk_env("1.13.0", mk_probe("rejected", "however got MPS", "needed")), cases);
    json_t *j = compare_json(rem, need, 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "regressions"), 0)),
                     "the MPS workaround verdict went from removable to needed");
    json_t *p = json_object_get(j, "probe");
    json_t *rows = json_object_get(p, "changed");
    ck_assert_uint_eq(json_array_size(rows), 1);
    json_t *r = json_array_get(rows, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "reader")), "input-archive");
    ck_assert_str_eq(json_string_value(json_object_get(r, "device")), "mps");
    ck_assert_str_eq(json_string_value(json_object_get(r, "base")), "works");
    ck_assert_str_eq(json_string_value(json_object_get(r, "new")), "rejected");
    ck_assert_str_eq(json_string_value(json_object_get(r, "new_message")), "however got MPS");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "unchanged")), 1);
    json_t *env = json_array_get(json_object_get(json_object_get(j, "environment"), "changed"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(env, "key")), "libtorch");
    ck_assert_str_eq(json_string_value(json_object_get(env, "new")), "1.13.0");
    json_decref(j);
    j = compare_json(need, rem, 0);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "regressions")), 0);
    json_decref(j);
    char *out, *err;
    char *argv[] = {"compare", (char *)rem, (char *)need, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 1);
    ck_assert_msg(strstr(out, "MPS workaround: **removable** \xe2\x86\x92 **needed**."), "%s", out);
    ck_assert_msg(strstr(out, "| input-archive | mps | works | rejected |  | however got MPS |"), "%s",
                  out);
    ck_assert_msg(strstr(out, "| libtorch | 2.5.1 | 1.13.0 |"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* A report written before probes were recorded: no probe, no verdict,
 * said so; not a regression by itself. */
START_TEST(test_probe_absent)
{
    json_t *cases = json_pack("[o]", mk_case("s", "a", "pass", NULL, NULL));
    const char *old = write_report("old.json", mk_env("1.13.0", NULL), json_deep_copy(cases));
    const char *rem = write_report("rem.json", mk_env("1.13.0", mk_probe("works", "", "removable")),
                                   cases);
    json_t *j = compare_json(old, rem, 0);
    json_t *p = json_object_get(j, "probe");
    ck_assert(json_is_false(json_object_get(p, "base")));
    ck_assert(json_is_true(json_object_get(p, "new")));
    ck_assert(json_is_null(json_object_get(json_object_get(p, "verdict"), "base")));
    json_decref(j);
    char *out, *err;
    char *argv[] = {"compare", (char *)old, (char *)rem, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 0);
    ck_assert_msg(strstr(out, "BASE has no probe"), "%s", out);
    ck_assert_msg(strstr(out, "**not recorded** \xe2\x86\x92 **removable**"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* Unreadable inputs and bad usage: exit 2, the file named on stderr. */
START_TEST(test_errors)
{
    const char *ok = write_report("ok.json", mk_env("1.13.0", NULL), json_array());
    char missing[4096], *out, *err;
    snprintf(missing, sizeof missing, "%s", tu_path(dir, "no-such-report.json"));
    char *a1[] = {"compare", (char *)ok, missing, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, a1, &out, &err), 2);
    ck_assert_msg(strstr(err, "NEW") && strstr(err, missing), "file not named: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    /* a folder without report.json: that path is named */
    char *a2[] = {"compare", (char *)dir, (char *)ok, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, a2, &out, &err), 2);
    ck_assert_msg(strstr(err, "BASE") && strstr(err, "/report.json"), "%s", err);
    free(out);
    free(err);
    /* not a report */
    const char *junk = tu_path(dir, "junk.json");
    ck_assert_int_eq(tu_write(junk, "{\"schema\": 3}", 13), 0);
    char *a3[] = {"compare", (char *)junk, (char *)ok, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, a3, &out, &err), 2);
    ck_assert_msg(strstr(err, "junk.json") && strstr(err, "not a loadgate-report/1"), "%s", err);
    free(out);
    free(err);
    char *a4[] = {"compare", (char *)ok, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, a4, &out, &err), 2);
    ck_assert_msg(strstr(err, "two reports"), "%s", err);
    free(out);
    free(err);
    char *a5[] = {"compare", "--help", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, a5, &out, &err), 0);
    ck_assert_msg(strstr(out, "usage: harness compare"), "%s", out);
    free(out);
    free(err);
}
END_TEST

/* Thousands of broken cases with long messages: the Markdown stays
 * under 512 KiB, groups them by name, and says what it cut; -o writes
 * into a folder it creates. */
START_TEST(test_markdown_cap)
{
    json_t *bc = json_array(), *nc = json_array();
    char name[64], msg[600];
    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = 0;
    for (int i = 0; i < 6000; i++) {
        snprintf(name, sizeof name, "load-%d[k=%d]", i % 3, i);
        json_array_append_new(bc, mk_case("big", name, "pass", NULL, NULL));
        json_array_append_new(nc, mk_case("big", name, "fail", "expected ok", msg));
    }
    const char *b = write_report("bb.json", mk_env("1.13.0", NULL), bc);
    const char *n = write_report("nb.json", mk_env("1.13.0", NULL), nc);
    char outp[4096], *out, *err;
    snprintf(outp, sizeof outp, "%s/made/here/compare.md", dir);
    char *argv[] = {"compare", "-o", outp, (char *)b, (char *)n, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_compare, argv, &out, &err), 1);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);
    size_t len;
    char *md = tu_read(outp, &len);
    ck_assert_ptr_nonnull(md);
    ck_assert_uint_le(len, HX_COMPARE_MD_CAP);
    ck_assert_uint_gt(len, HX_COMPARE_MD_CAP / 2);
    ck_assert_msg(strstr(md, "| big/load-0 | 2000 | pass | fail |"), "no grouped row");
    ck_assert_msg(strstr(md, "<details>") && strstr(md, "</details>"), "no details block");
    size_t opened = 0, closed = 0;
    for (const char *p = md; (p = strstr(p, "<details>")); p++)
        opened++;
    for (const char *p = md; (p = strstr(p, "</details>")); p++)
        closed++;
    ck_assert_uint_eq(opened, closed);
    const char *cut = strstr(md, "**Cut:**");
    ck_assert_msg(cut != NULL, "no note of the cut");
    ck_assert_msg(strstr(cut, "rows left out (broken: "), "%s", cut);
    ck_assert_msg(strstr(md, "\xe2\x80\xa6 |"), "a long message is not shortened");
    free(md);
}
END_TEST

/* merge keeps both inputs' environments ("environment" is the first's),
 * creates OUT's folder, and a merge of merges keeps all of them. */
START_TEST(test_merge_environments)
{
    const char *a = write_report("a.json", mk_env("1.13.0", NULL),
                                 json_pack("[o]", mk_case("s", "a", "pass", NULL, NULL)));
    const char *b = write_report("b.json", mk_env("2.5.1", NULL),
                                 json_pack("[o]", mk_case("s", "b", "pass", NULL, NULL)));
    char outp[4096], out2[4096], *out, *err;
    snprintf(outp, sizeof outp, "%s/not/yet/merged.json", dir);
    char *argv[] = {"merge", "-o", outp, (char *)a, (char *)b, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_merge, argv, &out, &err), 0);
    free(out);
    free(err);
    json_t *m = json_load_file(outp, 0, NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "environment"), "libtorch")),
                     "1.13.0");
    json_t *envs = json_object_get(m, "environments");
    ck_assert_uint_eq(json_array_size(envs), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(envs, 1), "libtorch")), "2.5.1");
    ck_assert_uint_eq(json_array_size(json_object_get(m, "cases")), 2);
    json_decref(m);
    snprintf(out2, sizeof out2, "%s/again.json", dir);
    char *again[] = {"merge", "-o", out2, outp, (char *)a, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_merge, again, &out, &err), 0);
    free(out);
    free(err);
    m = json_load_file(out2, 0, NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(json_array_size(json_object_get(m, "environments")), 3);
    json_decref(m);
    /* a merged report is one compare reads */
    json_t *j = compare_json(outp, b, 0);
    ck_assert_str_eq(ids_of(j, "gone"), "s/a");
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("compare");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_run_flip_is_regression);
    tcase_add_test(tc, test_transitions);
    tcase_add_test(tc, test_identical);
    tcase_add_test(tc, test_verdict);
    tcase_add_test(tc, test_probe_absent);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_markdown_cap);
    tcase_add_test(tc, test_merge_environments);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
