/* Helpers of test_cmd_errors and test_cmd_run_errors: running a harness
 * subcommand in-process with its stdout and stderr caught (or its stdout
 * on /dev/full). Inline, so that a file using some of them builds
 * without warnings about the others. */
#ifndef TEST_CMD_ERRORS_H
#define TEST_CMD_ERRORS_H

#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dir;

static void setup(void) { dir = tu_tmpdir(); }
static void teardown(void) { tu_rmtree(dir); }

/* Runs a subcommand; stdout into *out, stderr into *err (both malloc'd). */
static inline int run_cmd(int (*fn)(int, char **), char **argv, char **out, char **err)
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
static inline void expect_err(int (*fn)(int, char **), char **argv, int want_rc,
                              const char *const *want)
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
static inline int run_full(int (*fn)(int, char **), char **argv, char **err)
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

/* Writes text into dir/name; its path (static, 4 slots). */
static inline const char *write_text(const char *name, const char *text)
{
    static char paths[4][4096];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 4096, "%s", tu_path(dir, name));
    ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
    return p;
}

#endif
