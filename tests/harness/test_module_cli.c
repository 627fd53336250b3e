/* The harness and the torch module, as a user runs the program:
 * --version, list, validate, inspect and load on sim, and a run of sim
 * cases never load libtorch, in the harness or in any child it forks
 * (glibc's loader reports every object it maps to LD_DEBUG_OUTPUT.PID);
 * with the module absent (LOADGATE_TORCH_MODULE names nothing) sim cases
 * pass, torch cases that require torch skip saying where the module was
 * looked for, and a case that says backend: torch without requiring it
 * fails with that message. */
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS LG_BINARY_DIR "/harness"
#define ABSENT "/nonexistent/libloadgate-torch.so"

static const char *dir;
static char small[1024];

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(small, sizeof small, "%s", tu_path(dir, "small.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(small, 3, 4, 4), 0);
}

static void teardown(void) { tu_rmtree(dir); }

/* sh -c "cd SOURCE && ENV harness ARGS", output into dir/out; exit code. */
static int harness(const char *env, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s '%s' %s >'%s/out' 2>&1", LG_SOURCE_DIR, env, HARNESS,
             args, dir);
    int st = system(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "%s: did not run", cmd);
    return WEXITSTATUS(st);
}

static char *output(void)
{
    size_t n;
    char *s = tu_read(tu_path(dir, "out"), &n);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Lines of the loader's logs (dir/ld/ld.*) naming a torch library: the
 * first, into line; 0 when none. The number of logs into *logs. */
static int torch_loaded(char *line, size_t n, int *logs)
{
    char ld[1024];
    snprintf(ld, sizeof ld, "%s/ld", dir);
    DIR *d = opendir(ld);
    struct dirent *e;
    int found = 0;
    *logs = 0;
    ck_assert_ptr_nonnull(d);
    while (!found && (e = readdir(d))) {
        if (strncmp(e->d_name, "ld.", 3))
            continue;
        (*logs)++;
        FILE *f = fopen(tu_path(ld, e->d_name), "r");
        ck_assert_ptr_nonnull(f);
        while (!found && fgets(line, (int)n, f))
            found = strstr(line, "libloadgate-torch") || strstr(line, "libtorch") ||
                    strstr(line, "libc10");
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Runs args with the loader's log on; 1 if a torch library was loaded. */
static int loads_torch(const char *args, int want_rc)
{
    char env[2048], line[1024];
    int logs;
    snprintf(env, sizeof env, "rm -rf '%s/ld' && mkdir '%s/ld' && LD_DEBUG=files "
             "LD_DEBUG_OUTPUT='%s/ld/ld'", dir, dir, dir);
    int rc = harness(env, args);
    char *out = output();
    ck_assert_msg(rc == want_rc, "harness %s: exit %d, not %d:\n%s", args, rc, want_rc, out);
    free(out);
    int found = torch_loaded(line, sizeof line, &logs);
    ck_assert_msg(logs > 0, "harness %s: the loader wrote no log (LD_DEBUG unsupported?)", args);
    if (found)
        fprintf(stderr, "test_module_cli: harness %s: %s", args, line);
    return found;
}

static int have_ld_debug(void)
{
#ifdef __GLIBC__
    return 1;
#else
    printf("test_module_cli: skipped: the loader's log (LD_DEBUG) is glibc's\n");
    return 0;
#endif
}

START_TEST(test_sim_commands_load_no_torch)
{
    char a[4096], sim[1024];
    snprintf(sim, sizeof sim, "%s", tu_path(dir, "sim.yaml"));
    static const char suite[] =
        "suite: sim\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 3, shape: [8, 8], seed: 1}}\n"
        "cases:\n"
        "  - name: load\n    file: small\n    matrix: {device: [cpu, mps], policy: [via-cpu, "
        "staged, tch]}\n"
        "  - name: cut\n    device: mps\n    file: small\n    corrupt: {truncate: [8, half]}\n"
        "    expect: {outcome: error, error: LG_E_FORMAT}\n";
    if (!have_ld_debug())
        return;
    ck_assert_int_eq(tu_write(sim, suite, sizeof suite - 1), 0);
    ck_assert(!loads_torch("--version", 0));
    ck_assert(!loads_torch("list cases/mps.yaml", 0));
    ck_assert(!loads_torch("validate cases/mps.yaml", 0));
    snprintf(a, sizeof a, "inspect --backend sim '%s'", small);
    ck_assert(!loads_torch(a, 0));
    snprintf(a, sizeof a, "load '%s' --device mps --backend sim", small);
    ck_assert(!loads_torch(a, 0));
    const char *iso[] = {"worker", "fork", "none"};
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "run '%s' -o '%s/rep' -j 2 --isolation %s", sim, dir, iso[i]);
        ck_assert_msg(!loads_torch(a, 0), "isolation %s", iso[i]);
    }
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH
/* The check can fail: a torch case loads the module (in its child). */
START_TEST(test_torch_case_loads_torch)
{
    char a[4096];
    if (!have_ld_debug())
        return;
    snprintf(a, sizeof a, "run cases/upgrade.yaml -k 'upgrade/cpu*' -o '%s/rep'", dir);
    ck_assert(loads_torch(a, 0));
}
END_TEST

START_TEST(test_version_lists_modules)
{
    ck_assert_int_eq(harness("", "--version"), 0);
    char *out = output();
    ck_assert_msg(strstr(out, "torch module " LG_BINARY_DIR "/libloadgate-torch.so: libtorch "),
                  "%s", out);
    ck_assert_msg(strstr(out, "(used)") && strstr(out, "backends sim,torch"), "%s", out);
    free(out);
}
END_TEST
#endif

/* The module absent: what --version says, and how torch cases end. */
START_TEST(test_module_absent_run)
{
    char a[4096], s[1024];
    snprintf(s, sizeof s, "%s", tu_path(dir, "absent.yaml"));
    static const char suite[] =
        "suite: absent\n"
        "fixtures:\n"
        "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], seed: 1}}\n"
        "cases:\n"
        "  - {name: needs-torch, backend: torch, requires: [torch], device: cpu, file: small}\n"
        "  - {name: says-torch, backend: torch, device: cpu, file: small}\n"
        "  - {name: sim, backend: sim, device: mps, file: small}\n";
    ck_assert_int_eq(tu_write(s, suite, sizeof suite - 1), 0);
    ck_assert_int_eq(harness("LOADGATE_TORCH_MODULE=" ABSENT, "--version"), 0);
    char *out = output();
    ck_assert_msg(strstr(out, "libtorch none\nbackends sim\n"), "%s", out);
#ifdef LOADGATE_HAVE_TORCH
    ck_assert_msg(strstr(out, "torch module " ABSENT ": not found"), "%s", out);
#endif
    free(out);
    snprintf(a, sizeof a, "run '%s' -o '%s/rep' --format json", s, dir);
#ifdef LOADGATE_HAVE_TORCH
    ck_assert_int_eq(harness("LOADGATE_TORCH_MODULE=" ABSENT, a), 1);
#else /* a build without libtorch skips every torch case */
    ck_assert_int_eq(harness("LOADGATE_TORCH_MODULE=" ABSENT, a), 0);
#endif
    json_error_t e;
    json_t *r = json_load_file(tu_path(tu_path(dir, "rep"), "report.json"), 0, &e);
    ck_assert_msg(r != NULL, "report.json: %s", e.text);
#ifdef LOADGATE_HAVE_TORCH
    static const char *const want[][2] = {
        {"absent/needs-torch", "skip"}, {"absent/says-torch", "fail"}, {"absent/sim", "pass"}};
#else
    static const char *const want[][2] = {
        {"absent/needs-torch", "skip"}, {"absent/says-torch", "skip"}, {"absent/sim", "pass"}};
#endif
    json_t *cases = json_object_get(r, "cases");
    ck_assert_uint_eq(json_array_size(cases), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *c = json_array_get(cases, i);
        const char *reason = json_string_value(json_object_get(c, "reason"));
        ck_assert_str_eq(json_string_value(json_object_get(c, "id")), want[i][0]);
        ck_assert_str_eq(json_string_value(json_object_get(c, "status")), want[i][1]);
#ifdef LOADGATE_HAVE_TORCH
        if (i < 2)
            ck_assert_msg(reason && strstr(reason, ABSENT) && strstr(reason, "none was found"),
                          "%s: %s", want[i][0], reason ? reason : "(no reason)");
#else
        (void)reason;
#endif
    }
    json_decref(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module_cli");
    TCase *tc = tcase_create("module_cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sim_commands_load_no_torch);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, test_torch_case_loads_torch);
    tcase_add_test(tc, test_version_lists_modules);
#endif
    tcase_add_test(tc, test_module_absent_run);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    /* not tu_run_suite, which loads the torch module first */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
