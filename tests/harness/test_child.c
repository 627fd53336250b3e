/* run/child.c, the harness's one child-process module: output and exit
 * codes come back, a child past its timeout is killed and reported, a
 * child killed by a signal is reported as such, the stderr tail is cut,
 * spawned programs, several children at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run/child.h"
#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int says_hello(void *arg, int fd)
{
    (void)arg;
    if (write(fd, "hello", 5) != 5)
        return 1;
    return 5;
}

static int hangs(void *arg, int fd)
{
    (void)arg;
    (void)fd;
    for (;;)
        pause();
    return 0;
}

static int dies_of(void *arg, int fd)
{
    (void)fd;
    int sig = *(int *)arg;
    signal(sig, SIG_DFL);
    raise(sig);
    return 0;
}

/* Writes n bytes of 'x' and a last "END" on stderr. */
static int chatters(void *arg, int fd)
{
    (void)fd;
    size_t n = *(size_t *)arg;
    for (size_t i = 0; i < n; i++)
        fputc('x', stderr);
    fputs("END", stderr);
    return 0;
}

/* A slow start-up (2 s), then "+" and a quick case. */
static int slow_start(void *arg, int fd)
{
    (void)arg;
    usleep(2000000);
    if (hx_child_ack(fd) != LG_OK || write(fd, "done", 4) != 4)
        return 1;
    return 0;
}

/* Start-up never ends: no "+". */
static int never_ready(void *arg, int fd)
{
    (void)arg;
    (void)fd;
    for (;;)
        pause();
    return 0;
}

/* The timeout counts from the child's "+", not from its start; a child
 * that never says it is ready is killed at the start-up allowance. */
START_TEST(clock_starts_at_ack)
{
    hx_child c;
    /* 1.2 s from the "+" for the child's write and exit, which a loaded
     * machine keeps within; the plain child is killed at 1.2 s, asleep */
    hx_child_opts o = {.timeout = 1.2, .capture = 1, .startup = 30};
    size_t len = 0;
    ck_assert_int_eq(hx_child_fork(&c, &o, slow_start, NULL), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(c.killed, 0);
    ck_assert_int_eq(hx_child_exit_code(&c), 0);
    ck_assert_str_eq(hx_child_result(&c, &len), "done");
    ck_assert_uint_eq(len, 4);
    hx_child_free(&c);
    /* without start-up allowance the same child is a timeout */
    hx_child_opts plain = {.timeout = 1.2, .capture = 1};
    ck_assert_int_eq(hx_child_fork(&c, &plain, slow_start, NULL), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(c.killed, 1);
    hx_child_free(&c);
    hx_child_opts short_startup = {.timeout = 30, .capture = 1, .startup = 0.3};
    double t0 = hx_now_s();
    ck_assert_int_eq(hx_child_fork(&c, &short_startup, never_ready, NULL), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(c.killed, 1);
    ck_assert(hx_now_s() - t0 < 20);
    hx_child_free(&c);
}
END_TEST

START_TEST(output_and_exit_code)
{
    hx_child c;
    hx_child_opts o = {.timeout = 30, .capture = 1};
    size_t len = 0;
    char buf[64];
    ck_assert_int_eq(hx_child_fork(&c, &o, says_hello, NULL), LG_OK);
    hx_child_wait(&c);
    ck_assert(hx_child_done(&c));
    ck_assert_str_eq(hx_child_output(&c, &len), "hello");
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(hx_child_exit_code(&c), 5);
    ck_assert_int_eq(hx_child_failed(&c), 0);
    ck_assert_ptr_null(hx_child_signal(&c, buf, sizeof buf));
    ck_assert_ptr_null(hx_child_stderr(&c, buf, sizeof buf));
    hx_child_free(&c);
}
END_TEST

START_TEST(timeout_kills)
{
    hx_child c;
    hx_child_opts o = {.timeout = 0.2, .capture = 1};
    char why[256], sig[32];
    double t0 = hx_now_s();
    ck_assert_int_eq(hx_child_fork(&c, &o, hangs, NULL), LG_OK);
    hx_child_wait(&c);
    ck_assert(hx_now_s() - t0 < 10);
    ck_assert_int_eq(c.killed, 1);
    ck_assert_int_eq(hx_child_failed(&c), 1);
    ck_assert_int_eq(hx_child_exit_code(&c), -1);
    ck_assert_ptr_null(hx_child_signal(&c, sig, sizeof sig));
    hx_child_describe(&c, why, sizeof why);
    ck_assert_str_eq(why, "timed out after 0.2 s; the child was killed");
    ck_assert_int_ne(kill(c.pid, 0), 0); /* reaped: gone */
    hx_child_free(&c);
}
END_TEST

START_TEST(signal_reported)
{
    hx_child c;
    hx_child_opts o = {.timeout = 30, .capture = 1};
    int which = SIGTERM;
    char why[256], sig[32];
    ck_assert_int_eq(hx_child_fork(&c, &o, dies_of, &which), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(c.killed, 0);
    ck_assert_int_eq(hx_child_failed(&c), 1);
    ck_assert_int_eq(hx_child_exit_code(&c), -1);
    ck_assert_str_eq(hx_child_signal(&c, sig, sizeof sig), "SIGTERM");
    hx_child_describe(&c, why, sizeof why);
    ck_assert_str_eq(why, "killed by SIGTERM (Terminated)");
    hx_child_free(&c);
}
END_TEST

START_TEST(stderr_tail)
{
    hx_child c;
    hx_child_opts o = {.timeout = 30, .capture = 1};
    size_t n = 3 * HX_CHILD_TAIL;
    char tail[HX_CHILD_TAIL + 8];
    ck_assert_int_eq(hx_child_fork(&c, &o, chatters, &n), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(hx_child_exit_code(&c), 0);
    const char *t = hx_child_stderr(&c, tail, sizeof tail);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strlen(t), 3 + HX_CHILD_TAIL);
    ck_assert_int_eq(strncmp(t, "...x", 4), 0);
    ck_assert_str_eq(t + strlen(t) - 3, "END");
    hx_child_free(&c);
}
END_TEST

START_TEST(spawned)
{
    hx_child c;
    hx_child_opts o = {.timeout = 30, .capture = 1};
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    char tail[HX_CHILD_TAIL + 8];
    ck_assert_int_eq(hx_child_spawn(&c, &o, argv), LG_OK);
    hx_child_wait(&c);
    ck_assert_str_eq(hx_child_output(&c, NULL), "out\n");
    ck_assert_str_eq(hx_child_stderr(&c, tail, sizeof tail), "err\n");
    ck_assert_int_eq(hx_child_exit_code(&c), 3);
    hx_child_free(&c);
    const char *missing[] = {"/nonexistent/loadgate-no-such-program", NULL};
    char why[256];
    ck_assert_int_eq(hx_child_spawn(&c, &o, missing), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(hx_child_exit_code(&c), 127);
    ck_assert_ptr_nonnull(strstr(hx_child_stderr(&c, tail, sizeof tail), "cannot run"));
    hx_child_describe(&c, why, sizeof why);
    ck_assert_str_eq(why, "the child exited with status 127 without a result");
    hx_child_free(&c);
}
END_TEST

START_TEST(several_at_once)
{
    hx_child a, b;
    hx_child_opts quick = {.timeout = 30, .capture = 1}, slow = {.timeout = 0.3, .capture = 1};
    hx_child *const both[3] = {&a, NULL, &b};
    ck_assert_int_eq(hx_child_fork(&a, &quick, says_hello, NULL), LG_OK);
    ck_assert_int_eq(hx_child_fork(&b, &slow, hangs, NULL), LG_OK);
    double t0 = hx_now_s();
    while ((!hx_child_done(&a) || !hx_child_done(&b)) && hx_now_s() - t0 < 20)
        hx_child_poll(both, 3, 1.0);
    ck_assert_int_eq(hx_child_exit_code(&a), 5);
    ck_assert_int_eq(b.killed, 1);
    hx_child_free(&a);
    hx_child_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("child");
    TCase *t = tcase_create("child");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, output_and_exit_code);
    tcase_add_test(t, timeout_kills);
    tcase_add_test(t, signal_reported);
    tcase_add_test(t, stderr_tail);
    tcase_add_test(t, spawned);
    tcase_add_test(t, several_at_once);
    tcase_add_test(t, clock_starts_at_ack);
    suite_add_tcase(s, t);
    return tu_run_suite(s) ? 1 : 0;
}
