/* Out of memory anywhere, SQLite-style: each harness command run with its
 * Nth allocation failing, N = 1, 2, ... (every one up to FIRST, then a
 * stride that visits SPREAD more spread over the rest), until a run makes
 * no more allocations than N. The allocation that fails may be any
 * malloc, calloc or realloc of the process: the harness's, the
 * library's, jansson's, libyaml's. Every such run must end in an exit
 * code the command documents (0, 1 or 2), in its own time, and never in
 * a signal.
 *
 * The failing allocator is this program's own malloc, calloc and realloc
 * (the linker prefers them to libc's), passing to glibc's __libc_* ones.
 * It needs glibc, and cannot run under a sanitizer, which brings its own
 * allocator: the test says so and checks nothing there. */
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "failalloc.h"

static const char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void) { tu_rmtree(dir); }

#define FIRST 400
#define SPREAD 400

/* The exit code a child gives when its run made fewer than N allocations
 * (nothing failed): the sweep is over. */
#define RAN_THROUGH 100
/* A child that found its allocation count: it is in the low bits. */
#define COUNTED 101

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

/* Runs fn(argv) in a child with allocation n failing (0: none, counting
 * them into the file `count`). Returns the wait status. */
static int child(int (*fn)(int, char **), char **argv, long long n)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        int out = open(tu_path(dir, n ? "stdout" : "stdout.base"), O_WRONLY | O_CREAT | O_TRUNC,
                       0644);
        dup2(out >= 0 ? out : null, 1);
        dup2(null, 2);
        alarm(60);
#if FAILALLOC_RUNS
        countdown = n ? n : (1LL << 62);
        calls = 0;
        fired = 0;
#endif
        int rc = fn(argc_of(argv), argv);
        fflush(NULL);
#if FAILALLOC_RUNS
        if (!n) {
            FILE *f = fopen(tu_path(dir, "count"), "w");
            countdown = 0;
            if (f) {
                fprintf(f, "%lld\n", calls);
                fclose(f);
            }
            exit(COUNTED);
        }
        countdown = 0;
        exit(fired ? rc : RAN_THROUGH);
#else
        exit(rc);
#endif
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static long long allocations(int (*fn)(int, char **), char **argv)
{
    int status = child(fn, argv, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == COUNTED, "%s: status 0x%x",
                  argv[0], status);
    char *s = tu_read_text(tu_path(dir, "count"));
    ck_assert_ptr_nonnull(s);
    long long n = atoll(s);
    free(s);
    return n;
}

/* A run with an allocation failing that still exits 0 must print what
 * the run without one printed (same_output), unless the output holds
 * what varies from run to run (times, folders). */
static int same_output(void)
{
    size_t a, b;
    char *x = tu_read(tu_path(dir, "stdout.base"), &a), *y = tu_read(tu_path(dir, "stdout"), &b);
    int same = x && y && a == b && !memcmp(x, y, a);
    free(x);
    free(y);
    return same;
}

/* The sweep over one command. */
static void sweep_as(int (*fn)(int, char **), char **argv, int stable)
{
    if (!FAILALLOC_RUNS) {
        fprintf(stderr, "test_oom: %s: skipped: the failing allocator needs glibc and no "
                        "sanitizer\n", argv[0]);
        return;
    }
    long long total = allocations(fn, argv);
    ck_assert_msg(total > 0, "%s: no allocation counted", argv[0]);
    long long stride = total > FIRST ? (total - FIRST) / SPREAD + 1 : 1;
    int runs = 0, errors = 0;
    for (long long n = 1; n <= total + 1; n += n < FIRST ? 1 : stride) {
        int status = child(fn, argv, n);
        ck_assert_msg(!WIFSIGNALED(status), "harness %s %s: allocation %lld of %lld failing: "
                      "killed by signal %d", argv[0], argv[1] ? argv[1] : "", n, total,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        int rc = WEXITSTATUS(status);
        if (rc == RAN_THROUGH)
            break;
        ck_assert_msg(rc == 0 || rc == 1 || rc == 2, "harness %s: allocation %lld of %lld "
                      "failing: exit %d", argv[0], n, total, rc);
        ck_assert_msg(rc != 0 || !stable || same_output(), "harness %s %s: allocation %lld of "
                      "%lld failing: exit 0, and the output differs from a run without it",
                      argv[0], argv[1] ? argv[1] : "", n, total);
        runs++;
        errors += rc != 0;
    }
    ck_assert_msg(errors > 0, "%s: %d runs with an allocation failing, none an error", argv[0],
                  runs);
    fprintf(stderr, "test_oom: harness %s: %lld allocations, %d runs with one failing, %d of "
                    "them errors\n", argv[0], total, runs, errors);
}

static void sweep(int (*fn)(int, char **), char **argv) { sweep_as(fn, argv, 1); }

static const char suite_yaml[] =
    "suite: oom\n"
    "defaults: {backend: sim, device: mps, policy: via-cpu}\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 3, shape: [4, 4], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: load\n"
    "    matrix:\n"
    "      policy: [via-cpu, staged]\n"
    "      device: [mps, cpu]\n"
    "      file: [small]\n"
    "    expect: {outcome: ok}\n"
    "  - name: cut\n"
    "    file: small\n"
    "    corrupt: {truncate: 10}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n";

static const char *write_suite(void)
{
    const char *y = tu_path(dir, "oom.yaml");
    ck_assert_int_eq(tu_write(y, suite_yaml, strlen(suite_yaml)), 0);
    return y;
}

START_TEST(test_oom_validate_list)
{
    const char *y = write_suite();
    char *v[] = {"validate", (char *)y, NULL};
    sweep(hx_cmd_validate, v);
    char *l[] = {"list", (char *)y, NULL};
    sweep(hx_cmd_list, l);
}
END_TEST

START_TEST(test_oom_inspect_load)
{
    const char *st = tu_path(dir, "w.safetensors");
    ck_assert_int_eq(tu_write_safetensors(st, 3, 4, 4), 0);
    char pt[1024];
    snprintf(pt, sizeof pt, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    char *i1[] = {"inspect", (char *)st, "--json", NULL};
    sweep(hx_cmd_inspect, i1);
    char *i2[] = {"inspect", pt, "--backend", "sim", NULL};
    sweep(hx_cmd_inspect, i2);
    char *l1[] = {"load", (char *)st, "--device", "mps", "--backend", "sim", "--json", NULL};
    sweep(hx_cmd_load, l1);
    char *l2[] = {"load", pt, "--device", "cpu", "--backend", "sim", "--trace", NULL};
    sweep(hx_cmd_load, l2);
}
END_TEST

START_TEST(test_oom_run_reports)
{
    const char *y = write_suite();
    const char *out = tu_path(dir, "out");
    char *r[] = {"run", (char *)y, "-o", (char *)out, "--isolation", "none", "--format",
                 "json,junit,md,html", NULL};
    sweep_as(hx_cmd_run, r, 0); /* its progress line holds times */
}
END_TEST

START_TEST(test_oom_compare_merge)
{
    const char *y = write_suite();
    char a[1024], b[1024], ja[1100], jb[1100];
    snprintf(a, sizeof a, "%s", tu_path(dir, "a"));
    snprintf(b, sizeof b, "%s", tu_path(dir, "b"));
    char *r1[] = {"run", (char *)y, "-o", a, "--isolation", "none", NULL};
    char *r2[] = {"run", (char *)y, "-o", b, "--isolation", "none", "-k", "*cpu*", NULL};
    char *out;
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, r1, dir, &out), 0);
    free(out);
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, r2, dir, &out), 0);
    free(out);
    snprintf(ja, sizeof ja, "%s/report.json", a);
    snprintf(jb, sizeof jb, "%s/report.json", b);
    char *c[] = {"compare", ja, jb, "--json", NULL};
    sweep(hx_cmd_compare, c);
    const char *m = tu_path(dir, "merged.json");
    char *g[] = {"merge", "-o", (char *)m, "--format", "json,md", ja, jb, NULL};
    sweep(hx_cmd_merge, g);
}
END_TEST

START_TEST(test_oom_probe_fixtures)
{
    const char *y = write_suite();
    char *p[] = {"probe", "--backend", "sim", "--json", NULL};
    sweep_as(hx_cmd_probe, p, 0); /* it names its own timings */
    const char *d = tu_path(dir, "fx");
    char *f[] = {"fixtures", "--suite", (char *)y, (char *)d, NULL};
    sweep_as(hx_cmd_fixtures, f, 0); /* paths under a folder made anew */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("oom");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_oom_validate_list);
    tcase_add_test(tc, test_oom_inspect_load);
    tcase_add_test(tc, test_oom_run_reports);
    tcase_add_test(tc, test_oom_compare_merge);
    tcase_add_test(tc, test_oom_probe_fixtures);
    suite_add_tcase(s, tc);
    /* not tu_run_suite: every command here runs on sim, and a process
     * without the torch module forks faster */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
