/* Counting open descriptors (util/fds.h): the probe that stands in for
 * /proc/self/fd where there is none (macOS) sees every descriptor opened
 * and closed, a high-numbered one too, and on Linux agrees with /proc. */
#include "testutil.h"
#include "util/fds.h"
#include "util/fs.h"

#include <check.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(probe_sees_open_and_close)
{
    int listed = hx_open_fds(); /* first: it opens the descriptor it keeps (util/fds.c) */
    int before = hx_open_fds_probe();
    ck_assert_int_gt(before, 0);
    int fd[3];
    for (int i = 0; i < 3; i++) {
        fd[i] = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(fd[i], 0);
    }
    ck_assert_int_eq(hx_open_fds_probe(), before + 3);
    ck_assert_int_eq(hx_open_fds(), listed + 3);
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    ck_assert_int_eq(hx_open_fds_probe(), before);
    ck_assert_int_eq(hx_open_fds(), listed);
}
END_TEST

/* A leak need not take a low number: one at 1000 (or just below the
 * limit, where the limit is lower, as macOS's default 256) is counted. */
START_TEST(probe_sees_high_descriptor)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int high = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1001 ? 1000 : (int)rl.rlim_cur - 1;
    ck_assert_int_gt(high, 16);
    int before = hx_open_fds_probe();
    ck_assert_int_eq(fcntl(high, F_GETFD), -1); /* free before */
    ck_assert_int_eq(dup2(0, high), high);
    ck_assert_int_eq(hx_open_fds_probe(), before + 1);
    close(high);
    ck_assert_int_eq(hx_open_fds_probe(), before);
}
END_TEST

#ifdef __linux__
/* Where /proc lists them, the probe finds the same number, and so do the
 * size of /proc/self/fd (hx_open_fds, Linux 6.2 and later) and its
 * listing (before), with three more open and after they are closed. */
START_TEST(probe_agrees_with_proc)
{
    int kept = hx_open_fds(); /* its first count opens the descriptor it keeps */
    ck_assert_int_eq(hx_open_fds_probe(), kept);
    ck_assert_int_eq(hx_open_fds(), tu_open_fds());
    ck_assert_int_eq(hx_open_fds_listed(), hx_open_fds());
    int fd[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(fd[i] = open("/dev/null", O_RDONLY), 0);
    ck_assert_int_eq(hx_open_fds_listed(), tu_open_fds());
    ck_assert_int_eq(hx_open_fds(), tu_open_fds());
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    ck_assert_int_eq(hx_open_fds_listed(), hx_open_fds());
}
END_TEST
#endif

/* The descriptor hx_open_fds keeps is its process's own: a forked child
 * counts its own descriptors, not its parent's, and a number closed under
 * the count and taken by another file is left to that file. */
START_TEST(kept_descriptor_is_its_own)
{
    int n = hx_open_fds();
    ck_assert_int_eq(hx_open_fds_probe(), n);
    int extra = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(extra, 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(extra); /* the child has one fewer than its parent */
        _exit(hx_open_fds() == hx_open_fds_probe() && hx_open_fds() == n ? 0 : 1);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ck_assert_int_eq(hx_open_fds(), n + 1);
    /* every descriptor above stderr closed, as a case may do (in a child,
     * so that the test's own stay open); the lowest number then goes to
     * another file */
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        int other = open("/dev/null", O_RDONLY);
        int m = hx_open_fds();
        int fine = other >= 0 && m == hx_open_fds_probe() && m == hx_open_fds() &&
                   fcntl(other, F_GETFD) != -1; /* not closed as if it were the count's */
        _exit(fine ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    close(extra);
}
END_TEST

/* hx_pid: this process's pid, in a forked child and its child too. */
START_TEST(pid_is_the_process_own)
{
    pid_t parent = hx_pid();
    ck_assert_int_eq(parent, getpid());
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fine = hx_pid() == getpid() && hx_pid() != parent;
        pid_t me = hx_pid();
        pid_t g = fork();
        if (g == 0)
            _exit(hx_pid() == getpid() && hx_pid() != me ? 0 : 1);
        int gs;
        fine = fine && g > 0 && waitpid(g, &gs, 0) == g && WIFEXITED(gs) && !WEXITSTATUS(gs);
        _exit(fine ? 0 : 1);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    ck_assert_int_eq(hx_pid(), parent);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fds");
    TCase *t = tcase_create("fds");
    tcase_add_test(t, probe_sees_open_and_close);
    tcase_add_test(t, probe_sees_high_descriptor);
#ifdef __linux__
    tcase_add_test(t, probe_agrees_with_proc);
    tcase_add_test(t, kept_descriptor_is_its_own);
#endif
    tcase_add_test(t, pid_is_the_process_own);
    suite_add_tcase(s, t);
    return tu_run_suite(s) ? 1 : 0;
}
