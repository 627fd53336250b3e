/* harness probe: its usage, its table and JSON, the verdict on the MPS
 * workaround against the libtorch of this build (or its absence), and a
 * probe that runs out of time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir;

/* fd (1 or 2) into a file until unredirect(); returns the saved fd. */
static int redirect(int fd, const char *path)
{
    int saved = dup(fd), f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert(saved >= 0 && f >= 0);
    ck_assert(dup2(f, fd) == fd);
    close(f);
    return saved;
}

static void unredirect(int fd, int saved)
{
    ck_assert(dup2(saved, fd) == fd);
    close(saved);
}

/* Runs `harness probe ARGS` with its stdout in a file; returns the exit
 * code and, with --json, the parsed output. */
static int run_probe(int argc, char **argv, json_t **out)
{
    const char *path = tu_path(g_dir, "probe.out");
    fflush(NULL);
    int out_fd = redirect(1, path), err_fd = redirect(2, tu_path(g_dir, "probe.err"));
    int rc = hx_cmd_probe(argc, argv);
    fflush(NULL);
    unredirect(1, out_fd);
    unredirect(2, err_fd);
    if (out) {
        json_error_t e;
        *out = json_load_file(path, 0, &e);
        ck_assert_msg(*out != NULL, "probe output: %s", e.text);
    }
    return rc;
}

static const char *verdict_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, "verdict"), key));
}

START_TEST(probe_usage)
{
    char *help[] = {"probe", "--help"}, *bad[] = {"probe", "--bogus"},
         *badt[] = {"probe", "--timeout", "-1"};
    ck_assert_int_eq(run_probe(2, help, NULL), 0);
    ck_assert_int_eq(run_probe(2, bad, NULL), 2);
    ck_assert_int_eq(run_probe(3, badt, NULL), 2);
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH
START_TEST(probe_libtorch)
{
    char *argv[] = {"probe", "--json"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(2, argv, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "libtorch")), lg_libtorch_version());
    json_t *devs = json_object_get(o, "devices");
    ck_assert(json_is_true(json_object_get(devs, "cpu")));
    json_t *ps = json_object_get(o, "probes");
    ck_assert_uint_eq(json_array_size(ps), 6);
    int mps_rejected = 0;
    size_t i;
    json_t *p;
    json_array_foreach(ps, i, p) {
        const char *dev = json_string_value(json_object_get(p, "device"));
        const char *res = json_string_value(json_object_get(p, "result"));
        const char *msg = json_string_value(json_object_get(p, "message"));
        if (!strcmp(dev, "cpu"))
            ck_assert_msg(!strcmp(res, "works"), "cpu: %s: %s", res, msg);
        if (!strcmp(dev, "mps") && !json_is_true(json_object_get(devs, "mps"))) {
            ck_assert_msg(!strcmp(res, "rejected") || !strcmp(res, "unavailable"), "%s", res);
            ck_assert_msg(tu_is_mps_refusal(msg), "unexpected message: %s", msg);
            mps_rejected += !strcmp(res, "rejected");
        }
    }
    if (tu_libtorch_major() < 2 && !json_is_true(json_object_get(devs, "mps"))) {
        /* 1.13: the unpickler refuses mps before asking whether it exists */
        ck_assert_int_eq(mps_rejected, 2);
        ck_assert_str_eq(verdict_of(o, "mps_workaround"), "needed");
        ck_assert_msg(strstr(verdict_of(o, "reason"), "however got MPS"), "%s",
                      verdict_of(o, "reason"));
    }
    json_decref(o);
    char *table[] = {"probe"};
    ck_assert_int_eq(run_probe(1, table, NULL), 0);
}
END_TEST

START_TEST(probe_timeout_is_reported)
{
    char *argv[] = {"probe", "--json", "--timeout", "0.001"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(4, argv, &o), 1);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    /* the setup child, or else every probe, runs out of time */
    const char *why = verdict_of(o, "reason");
    ck_assert_msg(strstr(why, "timed out") || strstr(why, "crashed"), "%s", why);
    json_decref(o);
}
END_TEST
#else /* no libtorch in this build */
START_TEST(probe_without_libtorch)
{
    char *argv[] = {"probe", "--json"};
    json_t *o = NULL;
    ck_assert_int_eq(run_probe(2, argv, &o), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "libtorch")), "none");
    ck_assert_uint_eq(json_array_size(json_object_get(o, "probes")), 0);
    ck_assert_str_eq(verdict_of(o, "mps_workaround"), "unknown");
    ck_assert_str_eq(verdict_of(o, "reason"), "this build has no libtorch");
    json_decref(o);
    char *table[] = {"probe"};
    ck_assert_int_eq(run_probe(1, table, NULL), 0);
}
END_TEST
#endif

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("probe");
    TCase *probe = tcase_create("probe");
    tcase_set_timeout(probe, 120);
    tcase_add_test(probe, probe_usage);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(probe, probe_libtorch);
    tcase_add_test(probe, probe_timeout_is_reported);
#else
    tcase_add_test(probe, probe_without_libtorch);
#endif
    suite_add_tcase(s, probe);
    int failed = tu_run_suite(s);
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
