/* The error paths of harness run, load, fixtures, list, __run-one and the
 * program itself, run in-process (or as the program): bad option values,
 * output folders that are regular files, links to nowhere or paths too
 * long, an unwritable --history, no folder for the run's cache, stdout on
 * a full device, the progress line on a pseudo-terminal. */
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "test_cmd_errors.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- run */

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
    {
        /* reports not written weigh as a failure: a run that selects no
         * case still exits 5, and says why (docs/cli.md, Exit codes) */
        char *argv[] = {"run", "--isolation", "none", "-k", "no-such-case", "-o", link,
                        (char *)y, NULL};
        EXPECT_ERR(hx_cmd_run, 5, "the reports could not all be written to", "no case selected");
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
    if (openpty(&m, &t, NULL, NULL, NULL) != 0) {
        fprintf(stderr, "test_run_progress_on_tty: skipped: no pseudo-terminal here: %s\n",
                strerror(errno));
        return;
    }
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

/* load on a device the backend lacks: exit 1, the devices it has named;
 * each --crc mode taken. */
START_TEST(test_load_device_and_crc)
{
    char w[4200];
    snprintf(w, sizeof w, "%s", tu_path(dir, "w.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    {
        char *argv[] = {"load", "--backend", "sim", "--device", "cuda:7", w, NULL};
        EXPECT_ERR(hx_cmd_load, 1, "harness load: no such device: cuda:7; the sim backend has ");
    }
    static const char *const modes[] = {"error", "warn", "off"};
    for (int i = 0; i < 3; i++) {
        char *argv[] = {"load", "--backend", "sim", "--device", "cpu", "--crc", (char *)modes[i],
                        w, NULL};
        EXPECT_ERR(hx_cmd_load, 0, NULL);
    }
    char y[4200];
    snprintf(y, sizeof y, "%s", write_suite(run_suite));
    char *argv[] = {"run", "--timeout", "", y, NULL};
    EXPECT_ERR(hx_cmd_run, 2, "--timeout: bad value ''");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmd_run_errors");
    TCase *tc = tcase_create("cmd_run_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_run_bad_options);
    tcase_add_test(tc, test_run_unwritable);
    tcase_add_test(tc, test_run_paranoid_and_groups);
    tcase_add_test(tc, test_small_commands_usage);
    tcase_add_test(tc, test_load_options);
    tcase_add_test(tc, test_fixtures_unwritable);
    tcase_add_test(tc, test_fixtures_suite_errors);
    tcase_add_test(tc, test_run_one_paths);
    tcase_add_test(tc, test_stdout_full_in_process);
    tcase_add_test(tc, test_no_temp_folder);
    tcase_add_test(tc, test_shard_selects_none);
    tcase_add_test(tc, test_run_progress_on_tty);
    tcase_add_test(tc, test_load_values);
    tcase_add_test(tc, test_run_keep_failed_line);
    tcase_add_test(tc, test_fixtures_generate_fails);
    tcase_add_test(tc, test_load_device_and_crc);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
