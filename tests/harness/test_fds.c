/* Counting open descriptors (util/fds.h): the probe that stands in for
 * /proc/self/fd where there is none (macOS) sees every descriptor opened
 * and closed, a high-numbered one too, and on Linux agrees with /proc. */
#include "testutil.h"
#include "util/fds.h"

#include <check.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

START_TEST(probe_sees_open_and_close)
{
    int before = hx_open_fds_probe(), listed = hx_open_fds();
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
    ck_assert_int_eq(hx_open_fds_probe(), hx_open_fds());
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

int main(void)
{
    Suite *s = suite_create("fds");
    TCase *t = tcase_create("fds");
    tcase_add_test(t, probe_sees_open_and_close);
    tcase_add_test(t, probe_sees_high_descriptor);
#ifdef __linux__
    tcase_add_test(t, probe_agrees_with_proc);
#endif
    suite_add_tcase(s, t);
    return tu_run_suite(s) ? 1 : 0;
}
