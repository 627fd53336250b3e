/* run/worker.c and `--isolation worker`: one worker answers many
 * requests; a worker that crashes, hangs, leaks descriptors or dies before
 * taking its request is reported (or its request given back) and
 * replaced; and end to end, a suite with a crashing and a hanging case
 * gives crash and timeout for those two alone, as under fork. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "run/child.h"
#include "run/worker.h"
#include "util/json.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *g_dir;

/* ------------------------------------------------- the worker, alone */

enum { REQ_OK, REQ_CRASH, REQ_HANG, REQ_LEAK, REQ_EXIT };

/* k of start_queued's first request (below). */
#define K_QUEUED_BEHIND 1

/* What a test worker does with request job: answers with its pid, or
 * misbehaves. A crash or a retirement sent as start_queued's first
 * request waits first (at most 2 s) for the request queued behind it to
 * be in its input: a worker gone before hx_worker_queue writes has it
 * refused (LG_E_IO, as the scheduler meets any worker gone), which would
 * make those tests depend on which process runs first. */
static json_t *test_fn(void *ctx, size_t job, uint64_t k, uint64_t *fired)
{
    (void)ctx;
    *fired = k;
    if (k == K_QUEUED_BEHIND && (job == REQ_CRASH || job == REQ_LEAK)) {
        struct pollfd in = {STDIN_FILENO, POLLIN, 0};
        poll(&in, 1, 2000);
    }
    if (job == REQ_CRASH) {
        fputs("about to crash\n", stderr);
        raise(SIGSEGV);
    }
    while (job == REQ_HANG)
        pause();
    for (int i = 0; job == REQ_LEAK && i < HX_WORKER_FD_GROWTH + 4; i++)
        if (open("/dev/null", O_RDONLY) < 0)
            return NULL;
    if (job == REQ_EXIT)
        return NULL; /* out of memory: the worker exits without a result */
    return json_pack("{s:s, s:s, s:i}", "id", "t/x", "status", "pass", "pid", (int)getpid());
}

/* Polls w until it has news (at most 20 s). */
static hx_worker_event await(hx_worker *w, json_t **res, uint64_t *fired)
{
    double end = hx_now_s() + 20;
    hx_child *const one[1] = {&w->child};
    while (hx_now_s() < end) {
        hx_child_poll(one, 1, 0.5);
        hx_worker_event ev = hx_worker_take(w, res, fired);
        if (ev != HX_WORKER_WAITING)
            return ev;
    }
    ck_abort_msg("the worker said nothing in 20 s");
    return HX_WORKER_WAITING;
}

static int result_pid(json_t *res)
{
    return (int)json_integer_value(json_object_get(res, "pid"));
}

/* The tests below run at least twice: _i = 0 sends requests the worker
 * acknowledges with "+", _i = 1 quick ones (hx_worker_send_quick), and
 * _i = 2 (one_worker_many_requests) quick and acknowledged ones in turn,
 * as a run with sim and torch cases sends them. */
static int quick_now(int i, uint64_t k)
{
    return i == 1 || (i == 2 && k % 2);
}

/* Sends a quick request or an acknowledged one, and checks it went as
 * asked: a worker's first request is always acknowledged. */
static lg_status send_as(hx_worker *w, int quick, size_t job, uint64_t k, double timeout)
{
    int want = quick && w->ran > 0;
    lg_status st = quick ? hx_worker_send_quick(w, job, k, timeout)
                         : hx_worker_send(w, job, k, timeout);
#ifdef __linux__ /* elsewhere every request is acknowledged */
    if (st == LG_OK)
        ck_assert_int_eq(w->quick, want);
#endif
    return st;
}

#define SEND(w, job, k, timeout) send_as(w, quick_now(_i, k), job, k, timeout)

/* In the quick runs, a request answered first, so that the one a test is
 * about is quick. */
static void warm_up(hx_worker *w, int i)
{
    json_t *res = NULL;
    uint64_t fired = 0;
    if (i != 1)
        return;
    ck_assert_int_eq(hx_worker_send(w, REQ_OK, 0, 10), LG_OK);
    ck_assert_int_eq(await(w, &res, &fired), HX_WORKER_RESULT);
    json_decref(res);
}

START_TEST(one_worker_many_requests)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    for (uint64_t k = 1; k <= 5; k++) {
        ck_assert_int_eq(SEND(&w, REQ_OK, k, 10), LG_OK);
        ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
        ck_assert_uint_eq(fired, k);
        ck_assert_int_eq(result_pid(res), w.child.pid); /* the same process each time */
        json_decref(res);
    }
    ck_assert_uint_eq(w.ran, 5);
    ck_assert(w.up && !w.busy);
    hx_worker_stop(&w);
    ck_assert(!w.up);
    ck_assert_int_eq(hx_child_exit_code(&w.child), 0); /* left at end of input */
}
END_TEST

START_TEST(crash_is_reported_with_its_signal)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char sig[32], tail[HX_CHILD_TAIL + 8];
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    ck_assert_int_eq(SEND(&w, REQ_OK, 0, 10), LG_OK);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    json_decref(res);
    ck_assert_int_eq(SEND(&w, REQ_CRASH, 0, 10), LG_OK);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    ck_assert(!w.up);
    ck_assert(hx_child_failed(&w.child) && !w.child.killed);
    ck_assert_str_eq(hx_child_signal(&w.child, sig, sizeof sig), "SIGSEGV");
    /* the crash's own output, not the earlier request's */
    ck_assert_str_eq(hx_child_stderr(&w.child, tail, sizeof tail), "about to crash\n");
    hx_worker_free(&w);
}
END_TEST

START_TEST(hang_is_killed_at_the_deadline)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char why[256];
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    warm_up(&w, _i);
    double t0 = hx_now_s();
    ck_assert_int_eq(SEND(&w, REQ_HANG, 0, 0.3), LG_OK);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    ck_assert(w.child.killed);
    ck_assert(hx_now_s() - t0 < 5);
    hx_child_describe(&w.child, why, sizeof why);
    ck_assert_str_eq(why, "timed out after 0.3 s; the child was killed");
    hx_worker_free(&w);
}
END_TEST

START_TEST(idle_worker_has_no_deadline)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    warm_up(&w, _i);
    /* a deadline of 1 s, which the request's own work keeps well within
     * on a loaded machine */
    ck_assert_int_eq(SEND(&w, REQ_OK, 0, 1), LG_OK);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    json_decref(res);
    /* no deadline at all: not the last request's, nor the start-up
     * allowance of a worker's first request */
    ck_assert(w.child.deadline == 0 && !w.child.ack_wait);
    hx_child *const one[1] = {&w.child};
    hx_child_poll(one, 1, 1.3); /* past the last request's deadline */
    ck_assert_int_eq(hx_worker_take(&w, &res, &fired), HX_WORKER_WAITING);
    ck_assert(w.up && !w.child.killed);
    hx_worker_stop(&w);
}
END_TEST

/* A worker that does not leave when its input closes is killed once the
 * stop's wait is over (5 s), not the start-up allowance (120 s). */
START_TEST(lingering_worker_is_killed_at_stop)
{
    hx_worker w[2];
    json_t *res = NULL;
    uint64_t fired = 0;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(hx_worker_start(&w[i], test_fn, NULL), LG_OK);
        ck_assert_int_eq(SEND(&w[i], REQ_OK, 0, 10), LG_OK); /* the stop's wait is the test */
        ck_assert_int_eq(await(&w[i], &res, &fired), HX_WORKER_RESULT);
        json_decref(res);
        ck_assert_int_eq(kill(w[i].child.pid, SIGSTOP), 0); /* it cannot read the end of its input */
    }
    /* told together, as a run ends its workers: both are killed at the
     * same deadline, not the second one a deadline after the first */
    double t0 = hx_now_s();
    hx_worker_end(&w[0]);
    hx_worker_end(&w[1]);
    hx_worker_stop(&w[0]);
    hx_worker_stop(&w[1]);
    double took = hx_now_s() - t0;
    ck_assert(!w[0].up && !w[1].up);
    ck_assert_msg(took >= 4 && took < 9, "the stop took %.1f s", took);
}
END_TEST

START_TEST(leaking_worker_retires)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    warm_up(&w, _i);
    ck_assert_int_eq(SEND(&w, REQ_LEAK, 0, 10), LG_OK);
    /* the case's result comes back, then the worker is gone */
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    ck_assert_str_eq(hx_json_get_str(res, "status"), "pass");
    json_decref(res);
    ck_assert(!w.up);
    ck_assert_int_eq(hx_child_exit_code(&w.child), 0);
}
END_TEST

START_TEST(exit_without_result_is_a_crash)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char why[256];
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    warm_up(&w, _i);
    ck_assert_int_eq(SEND(&w, REQ_EXIT, 0, 10), LG_OK);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    hx_child_describe(&w.child, why, sizeof why);
    ck_assert_str_eq(why, "the child exited with status 1 without a result");
    hx_worker_free(&w);
}
END_TEST

START_TEST(death_before_the_request_is_lost_not_crashed)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    warm_up(&w, _i);
    kill(w.child.pid, SIGSTOP); /* it cannot take the request ... */
    int st;
    ck_assert_int_eq(waitpid(w.child.pid, &st, WUNTRACED), w.child.pid); /* stopped now */
    ck_assert(WIFSTOPPED(st));
    ck_assert_int_eq(SEND(&w, REQ_OK, 0, 10), LG_OK);
    kill(w.child.pid, SIGKILL); /* ... before it dies */
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_LOST);
    hx_worker_free(&w);
}
END_TEST

START_TEST(dead_idle_worker_ends_quietly)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    ck_assert_int_eq(hx_worker_start(&w, test_fn, NULL), LG_OK);
    kill(w.child.pid, SIGKILL);
    hx_child_wait(&w.child);
    /* sending to it fails, and does not kill us with SIGPIPE */
    ck_assert_int_eq(SEND(&w, REQ_OK, 0, 10), LG_E_IO);
    ck_assert_int_eq(hx_worker_take(&w, &res, &fired), HX_WORKER_ENDED);
    ck_assert(!w.up);
}
END_TEST

/* A second worker forked after the first must not hold the first's stdin
 * open: closing it ends the first. */
START_TEST(siblings_do_not_hold_stdin)
{
    hx_worker a, b;
    ck_assert_int_eq(hx_worker_start(&a, test_fn, NULL), LG_OK);
    ck_assert_int_eq(hx_worker_start(&b, test_fn, NULL), LG_OK);
    double t0 = hx_now_s();
    hx_worker_stop(&a);
    ck_assert_int_eq(hx_child_exit_code(&a.child), 0); /* not killed at 5 s */
    ck_assert(hx_now_s() - t0 < 4);
    hx_worker_stop(&b);
}
END_TEST

/* ------------------------------------------------- queued requests */

/* A worker running a quick request, with another queued behind it. */
static void start_queued(hx_worker *w, size_t first, double t1, size_t second, double t2)
{
    ck_assert_int_eq(hx_worker_start(w, test_fn, NULL), LG_OK);
    ck_assert_int_eq(hx_worker_queue(w, REQ_OK, 1, 10), LG_E_INVALID); /* idle: nothing to queue behind */
    warm_up(w, 1);
    ck_assert_int_eq(hx_worker_send_quick(w, first, K_QUEUED_BEHIND, t1), LG_OK);
    ck_assert_int_eq(w->quick, 1);
    ck_assert_int_eq(hx_worker_queue(w, second, 2, t2), LG_OK);
    ck_assert_int_eq(hx_worker_queue(w, REQ_OK, 3, 10), LG_E_INVALID); /* one at a time */
}

/* Queued behind another, a request is run next, by the same process: the
 * result of each comes back in turn, and the worker is then idle. Both
 * results can be in before the parent reads either: each is read. */
START_TEST(queued_request_runs_next)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    start_queued(&w, REQ_OK, 10, REQ_OK, 10);
    /* both answered and read in before either is taken: the parent's
     * buffer holds two more lines (a loaded machine may take its time) */
    size_t from = 0, len = 0;
    hx_child_output(&w.child, &from);
    hx_child *const one[1] = {&w.child};
    for (double end = hx_now_s() + 20; hx_now_s() < end;) {
        const char *o = hx_child_output(&w.child, &len);
        int lines = 0;
        for (size_t i = from; o && i < len; i++)
            lines += o[i] == '\n';
        if (lines >= 2)
            break;
        hx_child_poll(one, 1, 0.5);
    }
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    ck_assert_uint_eq(fired, 1);
    ck_assert_int_eq(result_pid(res), w.child.pid);
    json_decref(res);
    ck_assert(w.busy && !w.queued && w.k == 2); /* on to the queued one */
    ck_assert_int_eq(hx_worker_take(&w, &res, &fired), HX_WORKER_RESULT); /* no poll between */
    ck_assert_uint_eq(fired, 2);
    ck_assert_int_eq(result_pid(res), w.child.pid);
    json_decref(res);
    ck_assert(w.up && !w.busy);
    ck_assert_uint_eq(w.ran, 3);
    hx_worker_stop(&w);
    ck_assert_int_eq(hx_child_exit_code(&w.child), 0);
}
END_TEST

/* A crash, a hang or a retirement of the running request leaves the queued
 * one not run: the worker says so (w.queued stays set) for the caller to
 * run it elsewhere. */
START_TEST(queued_request_outlives_a_crash)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char sig[32];
    start_queued(&w, REQ_CRASH, 10, REQ_OK, 10);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    ck_assert_str_eq(hx_child_signal(&w.child, sig, sizeof sig), "SIGSEGV");
    ck_assert(w.queued && w.next_job == REQ_OK && w.next_k == 2);
    hx_worker_free(&w);
}
END_TEST

START_TEST(queued_request_outlives_a_hang)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char why[256];
    start_queued(&w, REQ_HANG, 0.3, REQ_OK, 10);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    hx_child_describe(&w.child, why, sizeof why);
    ck_assert_str_eq(why, "timed out after 0.3 s; the child was killed");
    ck_assert(w.queued);
    hx_worker_free(&w);
}
END_TEST

START_TEST(queued_request_outlives_a_retirement)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    start_queued(&w, REQ_LEAK, 10, REQ_OK, 10);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    json_decref(res);
    ck_assert(!w.up && w.queued); /* retired after its case: the queued one not run */
    ck_assert_int_eq(hx_child_exit_code(&w.child), 0);
}
END_TEST

/* The queued request's clock starts when the one before it is taken: a
 * queued hang is killed at its own deadline, after the first result. */
START_TEST(queued_hang_has_its_own_deadline)
{
    hx_worker w;
    json_t *res = NULL;
    uint64_t fired = 0;
    char why[256];
    start_queued(&w, REQ_OK, 10, REQ_HANG, 0.3);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_RESULT);
    json_decref(res);
    ck_assert(w.busy && w.k == 2 && w.child.timeout == 0.3);
    ck_assert_int_eq(await(&w, &res, &fired), HX_WORKER_DIED);
    ck_assert(w.child.killed);
    hx_child_describe(&w.child, why, sizeof why);
    ck_assert_str_eq(why, "timed out after 0.3 s; the child was killed");
    ck_assert(!w.queued);
    hx_worker_free(&w);
}
END_TEST

/* ------------------------------------------------------ end to end */

#define FIXTURES                                                                                 \
    "fixtures:\n"                                                                                \
    "  small: {generate: {format: safetensors, tensors: 2, shape: [8, 8], dtype: f32, seed: 1}}\n"

static const char bad_yaml[] =
    "suite: bad\n"
    "defaults: {backend: sim, device: mps, file: small, timeout: 30}\n" FIXTURES
    "cases:\n"
    "  - name: before\n"
    "    matrix: {policy: [via-cpu, staged, auto]}\n"
    "  - name: boom\n"
    "    fault: {point: io.open, nth: 1, action: crash}\n"
    "  - name: stuck\n"
    "    timeout: 1\n"
    "    fault: {point: device.copy, nth: 1, action: hang}\n"
    "  - name: leftover-fault\n" /* a fault left armed would fail these */
    "    fault: {point: device.copy, from: 1}\n"
    "    expect: {outcome: error, error: LG_E_DEVICE}\n"
    "  - name: after\n"
    "    matrix: {policy: [via-cpu, staged, auto]}\n"
    "  - name: sweep\n"
    "    policy: staged\n"
    "    fault: {point: device.copy, sweep: persistent}\n"
    "    expect: {outcome: error, error: LG_E_DEVICE}\n"
    "  - name: truncated\n"
    "    corrupt: {truncate: [0, 7, half]}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n";

static int run(const char *first, ...)
{
    char *argv[40];
    int argc = 0;
    va_list ap;
    argv[argc++] = "run";
    va_start(ap, first);
    for (const char *a = first; a && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    return hx_cmd_run(argc, argv);
}

static json_t *report_of(const char *dir)
{
    json_error_t je;
    json_t *doc = json_load_file(tu_path(dir, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "%s/report.json: %s", dir, je.text);
    return doc;
}

/* Checks the report of bad_yaml: crash and timeout for boom and stuck
 * alone, every other case (sweep runs included) passes. */
static void check_bad_report(const char *out, const char *isolation)
{
    json_t *doc = report_of(out), *c;
    size_t i, runs = 0;
    ck_assert_str_eq(hx_json_get_str(json_object_get(doc, "run"), "isolation"), isolation);
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *id = hx_json_get_str(c, "id"), *st = hx_json_get_str(c, "status");
        if (!strcmp(id, "bad/boom")) {
            ck_assert_str_eq(st, "crash");
            ck_assert_str_eq(hx_json_get_str(json_object_get(c, "actual"), "signal"), "SIGSEGV");
            ck_assert_str_eq(hx_json_get_str(c, "reason"),
                             "killed by SIGSEGV (Segmentation fault)");
        } else if (!strcmp(id, "bad/stuck")) {
            ck_assert_str_eq(st, "timeout");
            ck_assert_str_eq(hx_json_get_str(c, "reason"),
                             "timed out after 1 s; the child was killed");
        } else {
            ck_assert_msg(!strcmp(st, "pass"), "%s: %s: %s", id, st,
                          hx_json_get_str(c, "reason"));
        }
        runs += !strncmp(id, "bad/sweep[k=", 12);
    }
    ck_assert_uint_ge(runs, 2);
    json_t *s = json_object_get(doc, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(s, "crashed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "timedout")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "failed")), 0);
    json_decref(doc);
}

START_TEST(crash_and_hang_alone_under_worker)
{
    char suite[600], out[600];
    snprintf(suite, sizeof suite, "%s", tu_path(g_dir, "bad.yaml"));
    ck_assert_int_eq(tu_write(suite, bad_yaml, strlen(bad_yaml)), 0);
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "bad-w1"));
    ck_assert_int_eq(run(suite, "-o", out, "-j", "1", "--isolation", "worker", NULL), 1);
    check_bad_report(out, "worker");
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "bad-w2"));
    ck_assert_int_eq(run(suite, "-o", out, "-j", "2", NULL), 1); /* the default */
    check_bad_report(out, "default");
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "bad-fork"));
    ck_assert_int_eq(run(suite, "-o", out, "-j", "2", "--isolation", "fork", NULL), 1);
    check_bad_report(out, "fork");
}
END_TEST

static const char cut_yaml[] =
    "suite: cut\n"
    "defaults: {backend: sim, device: mps, file: small, timeout: 30}\n" FIXTURES
    "cases:\n"
    "  - name: cut\n"
    "    corrupt: {truncate: every}\n"
    "    expect: {outcome: error, error: LG_E_FORMAT}\n";

/* Checks that every run of out's report passed: no crash, no other
 * status; and that the cases are in the suite's order (the results,
 * more than a hundred, are parsed on several threads: hx_sched_collect). */
static void check_all_passed(const char *out)
{
    json_t *doc = report_of(out), *s = json_object_get(doc, "summary"), *c;
    json_int_t total = json_integer_value(json_object_get(s, "total"));
    ck_assert_int_gt(total, 100);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "passed")), total);
    size_t i;
    json_array_foreach(json_object_get(doc, "cases"), i, c)
        ck_assert_int_eq(json_integer_value(json_object_get(c, "index")), (json_int_t)i);
    json_decref(doc);
}

/* Descriptors for only a few children at -j 8: a start that fails for
 * want of them waits for a running case to end, and no case is reported
 * as a crash (before, every case after the first such failure was a
 * crash "the case could not be started: pipe: Too many open files"). */
START_TEST(starved_slots_wait)
{
    char suite[600], out[600];
    snprintf(suite, sizeof suite, "%s", tu_path(g_dir, "cut.yaml"));
    ck_assert_int_eq(tu_write(suite, cut_yaml, strlen(cut_yaml)), 0);
    struct rlimit was, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &was), 0);
    low = was;
    low.rlim_cur = (rlim_t)tu_open_fds() + 11; /* room for about three children */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    static const char *const iso[] = {"fork", "worker"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, sizeof out, "%s/starved-%s", g_dir, iso[i]);
        ck_assert_int_eq(run(suite, "-o", out, "-j", "8", "--isolation", iso[i], NULL), 0);
        check_all_passed(out);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &was), 0);
}
END_TEST

/* Started with stdout and stderr closed: the result pipes do not take
 * their numbers, so a child's result is not moved onto its stderr (before,
 * every forked case crashed "without a result", and every worker waited
 * out its start-up allowance). */
START_TEST(closed_std_fds)
{
    char suite[600], out[600];
    snprintf(suite, sizeof suite, "%s", tu_path(g_dir, "cut2.yaml"));
    ck_assert_int_eq(tu_write(suite, cut_yaml, strlen(cut_yaml)), 0);
    static const char *const iso[] = {"fork", "worker"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, sizeof out, "%s/closed-%s", g_dir, iso[i]);
        fflush(NULL);
        int so = dup(1), se = dup(2);
        ck_assert_int_ge(so, 0);
        ck_assert_int_ge(se, 0);
        close(1);
        close(2);
        int rc = run(suite, "-o", out, "-j", "2", "--isolation", iso[i], NULL);
        fflush(NULL);
        dup2(so, 1);
        dup2(se, 2);
        close(so);
        close(se);
        ck_assert_int_eq(rc, 0);
        check_all_passed(out);
    }
}
END_TEST

/* The harness leaves no worker behind: after a run, no child of this
 * process is left to reap. */
START_TEST(no_worker_left_behind)
{
    char suite[600], out[600];
    snprintf(suite, sizeof suite, "%s", tu_path(g_dir, "bad2.yaml"));
    ck_assert_int_eq(tu_write(suite, bad_yaml, strlen(bad_yaml)), 0);
    snprintf(out, sizeof out, "%s", tu_path(g_dir, "bad-left"));
    int fds = tu_open_fds();
    ck_assert_int_eq(run(suite, "-o", out, "-j", "3", "-k", "after", NULL), 0);
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* ECHILD: none at all */
    ck_assert_int_eq(tu_open_fds(), fds);
}
END_TEST

static Suite *worker_suite(void)
{
    Suite *s = suite_create("worker");
    TCase *t = tcase_create("worker");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, one_worker_many_requests, 0, 3);
    tcase_add_loop_test(t, crash_is_reported_with_its_signal, 0, 2);
    tcase_add_loop_test(t, hang_is_killed_at_the_deadline, 0, 2);
    tcase_add_loop_test(t, idle_worker_has_no_deadline, 0, 2);
    tcase_add_test(t, lingering_worker_is_killed_at_stop);
    tcase_add_loop_test(t, leaking_worker_retires, 0, 2);
    tcase_add_loop_test(t, exit_without_result_is_a_crash, 0, 2);
    tcase_add_loop_test(t, death_before_the_request_is_lost_not_crashed, 0, 2);
    tcase_add_loop_test(t, dead_idle_worker_ends_quietly, 0, 2);
    tcase_add_test(t, siblings_do_not_hold_stdin);
    tcase_add_test(t, queued_request_runs_next);
    tcase_add_test(t, queued_request_outlives_a_crash);
    tcase_add_test(t, queued_request_outlives_a_hang);
    tcase_add_test(t, queued_request_outlives_a_retirement);
    tcase_add_test(t, queued_hang_has_its_own_deadline);
    tcase_add_test(t, crash_and_hang_alone_under_worker);
    tcase_add_test(t, no_worker_left_behind);
    tcase_add_test(t, starved_slots_wait);
    tcase_add_test(t, closed_std_fds);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(worker_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
