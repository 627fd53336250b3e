/* harness run interrupted (docs/runner.md): SIGINT and SIGTERM sent to a
 * real `harness run` of a suite whose cases hang. The run exits 130 or
 * 143 with every report written and marked interrupted, every case in
 * it (the ones not finished as skips), its children gone and no
 * loadgate-run-* folder left; a second signal ends it at once. */
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_dir;
static char g_tmp[600], g_fix[600], g_suite[600];

/* One quick case, four that hang for two minutes, one after them. */
static const char hang_yaml[] =
    "suite: hang\n"
    "defaults: {backend: sim, device: mps, file: small}\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 2, shape: [8, 8], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: quick\n"
    "  - name: stuck\n"
    "    matrix:\n"
    "      policy: [via-cpu, staged, tch, auto]\n"
    "    timeout: 120\n"
    "    fault: {point: io.open, nth: 1, action: hang}\n"
    "  - name: after\n";

static const char *const ids[] = {
    "hang/quick",           "hang/stuck[policy=via-cpu]", "hang/stuck[policy=staged]",
    "hang/stuck[policy=tch]", "hang/stuck[policy=auto]",  "hang/after"};

static void setup(void)
{
    g_dir = tu_tmpdir();
    snprintf(g_tmp, sizeof g_tmp, "%s", tu_path(g_dir, "tmp"));
    snprintf(g_fix, sizeof g_fix, "%s", tu_path(g_dir, "fixtures"));
    snprintf(g_suite, sizeof g_suite, "%s", tu_path(g_dir, "hang.yaml"));
    ck_assert_int_eq(mkdir(g_tmp, 0700), 0);
    ck_assert_int_eq(tu_write(g_suite, hang_yaml, strlen(hang_yaml)), 0);
}

static void teardown(void) { tu_rmtree(g_dir); }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts `harness run SUITE -o OUT --isolation ISO` with its own TMPDIR
 * and fixture folder, its output in OUT.log. */
static pid_t start_run(const char *out, const char *iso)
{
    char exe[600], log[700];
    snprintf(exe, sizeof exe, "%s/harness", LG_BINARY_DIR);
    snprintf(log, sizeof log, "%s.log", out);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        setenv("TMPDIR", g_tmp, 1);
        setenv("LOADGATE_FIXTURE_DIR", g_fix, 1);
        execl(exe, exe, "run", g_suite, "-o", out, "-j", "2", "--isolation", iso, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits up to max seconds for pid; its exit code, 128 + a signal that
 * killed it, or -1 when it is still running. */
static int wait_for(pid_t pid, double max)
{
    double end = now() + max;
    int st;
    do {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(20000);
    } while (now() < end);
    return -1;
}

/* Gives the run time to start its hanging cases (a run that has not
 * started them yet must give the same report: they are not run). */
static void let_it_start(void)
{
    usleep(1500000);
}

/* Entries of g_tmp named loadgate-run-*. */
static int leftover_run_dirs(void)
{
    DIR *d = opendir(g_tmp);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        n += !strncmp(e->d_name, "loadgate-run-", 13);
    closedir(d);
    return n;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The report of an interrupted run: flags, reason, every case. */
static void check_report(const char *out, const char *signame)
{
    char why[64];
    json_error_t je;
    json_t *doc = json_load_file(tu_path(out, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "%s/report.json: %s", out, je.text);
    json_t *run = json_object_get(doc, "run"), *sum = json_object_get(doc, "summary");
    ck_assert(json_is_true(json_object_get(run, "interrupted")));
    ck_assert_str_eq(str(run, "signal"), signame);
    ck_assert(json_is_true(json_object_get(sum, "interrupted")));
    snprintf(why, sizeof why, "interrupted by %s", signame);
    ck_assert_str_eq(str(sum, "interrupted_reason"), why);
    json_t *cases = json_object_get(doc, "cases");
    ck_assert_uint_eq(json_array_size(cases), 6);
    ck_assert_int_eq(json_integer_value(json_object_get(sum, "total")), 6);
    snprintf(why, sizeof why, "not run: interrupted by %s", signame);
    for (size_t i = 0; i < 6; i++) {
        json_t *c = json_array_get(cases, i);
        ck_assert_str_eq(str(c, "id"), ids[i]);
        if (i >= 1 && i <= 4) { /* they hang: never finished */
            ck_assert_str_eq(str(c, "status"), "skip");
            ck_assert_str_eq(str(c, "reason"), why);
        }
    }
    json_decref(doc);
    /* the other reports say so too */
    size_t n;
    char *md = tu_read(tu_path(out, "summary.md"), &n);
    ck_assert_ptr_nonnull(md);
    ck_assert_ptr_nonnull(strstr(md, "**INTERRUPTED**"));
    free(md);
    char *xml = tu_read(tu_path(out, "junit.xml"), &n);
    ck_assert_ptr_nonnull(xml);
    ck_assert_ptr_nonnull(strstr(xml, "<property name=\"interrupted\""));
    free(xml);
}

static void interrupt_run(const char *name, const char *iso, int sig, const char *signame)
{
    const char *out = tu_path(g_dir, name);
    char outp[600];
    snprintf(outp, sizeof outp, "%s", out);
    pid_t pid = start_run(outp, iso);
    let_it_start();
    ck_assert_int_eq(wait_for(pid, 0), -1); /* still running: the cases hang */
    ck_assert_int_eq(kill(pid, sig), 0);
    int rc = wait_for(pid, 30);
    if (rc < 0)
        kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    ck_assert_int_eq(rc, 128 + sig);
    check_report(outp, signame);
    ck_assert_int_eq(leftover_run_dirs(), 0);
}

START_TEST(sigint_worker) { interrupt_run("int-worker", "worker", SIGINT, "SIGINT"); }
END_TEST

START_TEST(sigterm_fork) { interrupt_run("term-fork", "fork", SIGTERM, "SIGTERM"); }
END_TEST

START_TEST(sigint_spawn) { interrupt_run("int-spawn", "spawn", SIGINT, "SIGINT"); }
END_TEST

/* With --isolation none a hanging case holds the harness itself: the
 * first signal waits for it, the second ends the run at once. */
START_TEST(second_signal_exits_at_once)
{
    char out[600];
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "twice"));
    /* The first signal holds the run only once it is inside a hanging
     * case: a run signalled before (a machine slow past the 1.5 s of
     * let_it_start) ends between cases, exit 130, and is started again
     * with a longer wait; a run that ends at the first signal each time
     * fails the test. */
    static const unsigned waits_us[] = {0, 3500000, 13500000};
    pid_t pid = -1;
    int first = 0;
    for (size_t i = 0; i < sizeof waits_us / sizeof waits_us[0]; i++) {
        pid = start_run(out, "none");
        let_it_start();
        usleep(waits_us[i]);
        ck_assert_int_eq(kill(pid, SIGINT), 0);
        if ((first = wait_for(pid, 1.0)) == -1)
            break;
        fprintf(stderr, "second_signal_exits_at_once: the first signal ended the run (%d) "
                        "after %.1f s; again, waiting longer\n",
                first, 1.5 + waits_us[i] / 1e6);
    }
    ck_assert_int_eq(first, -1); /* the case still holds it */
    double t = now();
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int rc = wait_for(pid, 10);
    if (rc < 0)
        kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    ck_assert_int_eq(rc, 130);
    ck_assert_msg(now() - t < 5, "the second signal took %.1f s", now() - t);
}
END_TEST

static Suite *interrupt_suite(void)
{
    Suite *s = suite_create("interrupt");
    TCase *t = tcase_create("signals");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, sigint_worker);
    tcase_add_test(t, sigterm_fork);
    tcase_add_test(t, sigint_spawn);
    tcase_add_test(t, second_signal_exits_at_once);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(interrupt_suite()) ? EXIT_FAILURE : EXIT_SUCCESS; }
