/* Workers (worker.h): the result line every child sends, the loop a
 * worker runs, its bounds, and the parent's side of the protocol. */
#include "run/worker.h"
#include "run/runner.h"
#include "util/error.h"
#include "util/fds.h"
#include "util/fs.h"
#include "util/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A retiring worker that has not exited after this long is killed. */
#define STOP_WAIT_S 5.0

/* ------------------------------------------------------ the result line */

/* {"fired": N, "status": S[, "retire": why], "result": res} and a
 * newline, in one write where the pipe allows; the result last, so that
 * the parent can read what comes before it alone and keep the result's
 * text as it came (hx_result_read). Takes res. */
static lg_status emit_line(int fd, json_t *res, uint64_t fired, const char *retire)
{
    json_t *w = json_pack("{s:I}", "fired", (json_int_t)fired);
    const char *status = hx_json_get_str(res, "status");
    if (w && status)
        json_object_set_new(w, "status", json_string(status));
    if (w && retire)
        json_object_set_new(w, "retire", hx_json_str(retire));
    if (w)
        json_object_set_new(w, "result", res);
    else
        json_decref(res);
    size_t len = 0;
    char *text = w ? hx_json_text(w, &len) : NULL;
    lg_status st = LG_OK;
    int err;
    if (text)
        text[len] = '\n'; /* the NUL becomes the newline: one write */
    if (!text)
        st = hx_err(LG_E_NOMEM, "out of memory");
    else if ((err = hx_write_full(fd, text, len + 1)) != 0)
        st = hx_err(LG_E_IO, "writing the result: %s", strerror(err));
    free(text);
    json_decref(w);
    return st;
}

lg_status hx_result_emit(int fd, json_t *res, uint64_t fired)
{
    return emit_line(fd, res, fired, NULL);
}

/* The text of the result whose key "result": is at `at`, the line's
 * last key: from the brace after it to the one before the line's last
 * brace. NULL when those are not braces (or at is NULL). */
static json_t *result_text(const char *text, size_t len, const char *at)
{
    if (!at)
        return NULL;
    const char *from = at + 9, *to = text + len;
    while (from < to && strchr(" \t\r\n", *from))
        from++;
    while (to > from && strchr(" \t\r\n", to[-1]))
        to--;
    if (to - from < 2 || *from != '{' || to[-1] != '}')
        return NULL;
    to--; /* the line's own closing brace */
    while (to > from && strchr(" \t\r\n", to[-1]))
        to--;
    return to > from && to[-1] == '}' ? json_stringn_nocheck(from, (size_t)(to - from)) : NULL;
}

/* Are the line's keys fired, status and retire (any of them) before
 * "result", the last (as emit_line writes them)? Nothing before the
 * result can then hold the text "result":, and the result runs to the
 * line's last brace. */
static int keys_in_order(json_t *w)
{
    const char *key;
    json_t *v;
    size_t i = 0, n = json_object_size(w);
    json_object_foreach(w, key, v) {
        int last = ++i == n;
        if (last ? strcmp(key, "result")
                 : strcmp(key, "fired") && strcmp(key, "retire") && strcmp(key, "status"))
            return 0;
    }
    return 1;
}

int hx_result_parse_raw(const char *text, size_t len, json_t **res, json_t **raw,
                        uint64_t *fired, char *retire, size_t n)
{
    json_t *w = hx_json_parse(text, len, 0);
    json_t *r = json_object_get(w, "result");
    if (n)
        retire[0] = 0;
    if (raw)
        *raw = NULL;
    if (!json_is_object(r) || !hx_json_get_str(r, "id") || !hx_json_get_str(r, "status")) {
        json_decref(w);
        return -1;
    }
    *res = json_incref(r);
    *fired = (uint64_t)json_integer_value(json_object_get(w, "fired"));
    const char *why = hx_json_get_str(w, "retire");
    if (why && n)
        snprintf(retire, n, "%s", why);
    if (raw && keys_in_order(w))
        *raw = result_text(text, len, memmem(text, len, "\"result\":", 9));
    json_decref(w);
    return 0;
}

int hx_result_parse(const char *text, size_t len, json_t **res, uint64_t *fired, char *retire,
                    size_t n)
{
    return hx_result_parse_raw(text, len, res, NULL, fired, retire, n);
}

/* The longest part before the result that hx_result_parse_head reads. */
#define HEAD_MAX 1024

int hx_result_parse_head(const char *text, size_t len, json_t **raw, hx_status *st,
                         uint64_t *fired, char *retire, size_t n)
{
    char head[HEAD_MAX];
    *raw = NULL;
    /* the first "result": is the top level's key: in a string every quote
     * is escaped, and the keys before it hold no object */
    const char *at = text ? memmem(text, len, "\"result\":", 9) : NULL;
    const char *end = at;
    while (end && end > text && strchr(" \t\r\n", end[-1]))
        end--;
    if (!end || end <= text || end[-1] != ',' || (size_t)(end - text) > sizeof head)
        return -1;
    size_t hn = (size_t)(end - 1 - text);
    memcpy(head, text, hn);
    head[hn] = '}'; /* {"fired": N, "status": S[, "retire": R]} */
    json_t *h = hx_json_parse(head, hn + 1, 1);
    json_t *f = json_object_get(h, "fired");
    const char *why = hx_json_get_str(h, "retire");
    size_t keys = 2 + (why != NULL);
    int ok = json_is_integer(f) && json_integer_value(f) >= 0 && json_object_size(h) == keys &&
             hx_status_parse(hx_json_get_str(h, "status"), st) == 0;
    if (ok) {
        *fired = (uint64_t)json_integer_value(f);
        if (n)
            snprintf(retire, n, "%s", why ? why : "");
        *raw = result_text(text, len, at);
    }
    json_decref(h);
    return *raw ? 0 : -1;
}

int hx_result_read(const char *text, size_t len, json_t **res, json_t **raw, hx_status *st,
                   uint64_t *fired, char *retire, size_t n)
{
    *res = NULL;
    if (hx_result_parse_head(text, len, raw, st, fired, retire, n) == 0)
        return 0;
    if (hx_result_parse_raw(text, len, res, raw, fired, retire, n))
        return -1;
    *st = hx_case_status(*res);
    return 0;
}

/* ------------------------------------------------------- in the worker */

/* The resident set in KiB: /proc/self/statm, else the peak (getrusage).
 * statm is opened once and read again from its start for each case. */
static long resident_kib(void)
{
    static int fd = -2;
    char buf[128];
    long size = 0, pages = -1;
    if (fd == -2)
        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n > 0) {
        buf[n] = 0;
        if (sscanf(buf, "%ld %ld", &size, &pages) != 2)
            pages = -1;
    }
    if (pages >= 0)
        return pages * (sysconf(_SC_PAGESIZE) / 1024);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return -1;
#ifdef __APPLE__
    return ru.ru_maxrss / 1024; /* bytes there */
#else
    return ru.ru_maxrss;
#endif
}

typedef struct {
    int fds;
    long kib;
} usage;

/* The resident set first: its first read opens statm, which then counts
 * among the descriptors from the start. */
static usage measure(void)
{
    long kib = resident_kib();
    return (usage){hx_open_fds(), kib};
}

/* Why the worker should end after this case, in why; "" while it is
 * within its bounds. */
static void check_bounds(const usage *start, char *why, size_t n)
{
    usage now = measure();
    why[0] = 0;
    if (start->fds >= 0 && now.fds > start->fds + HX_WORKER_FD_GROWTH)
        snprintf(why, n, "open descriptors grew from %d to %d (bound: +%d)", start->fds, now.fds,
                 HX_WORKER_FD_GROWTH);
    else if (start->kib >= 0 && now.kib > start->kib + HX_WORKER_RSS_GROWTH_MIB * 1024L)
        snprintf(why, n, "resident memory grew from %ld to %ld KiB (bound: +%d MiB)", start->kib,
                 now.kib, HX_WORKER_RSS_GROWTH_MIB);
}

/* Reads the next request "JOB K[ q]\n" from fd 0. 1 and the request (*quick:
 * it has the q), 0 at end of file, -1 on an error or a malformed request. */
static int read_request(char *buf, size_t cap, size_t *have, size_t *job, uint64_t *k,
                        int *quick)
{
    char *nl;
    while (!(nl = memchr(buf, '\n', *have))) {
        if (*have + 1 >= cap)
            return -1;
        ssize_t r = read(0, buf + *have, cap - 1 - *have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && *have == 0 ? 0 : -1;
        *have += (size_t)r;
    }
    *nl = 0;
    char *end;
    unsigned long long j = strtoull(buf, &end, 10);
    unsigned long long kk = strtoull(end, &end, 10);
    *quick = !strcmp(end, " q");
    if (*end && !*quick)
        return -1;
    *job = (size_t)j;
    *k = (uint64_t)kk;
    size_t used = (size_t)(nl + 1 - buf);
    memmove(buf, nl + 1, *have - used);
    *have -= used;
    return 1;
}

typedef struct {
    hx_worker_fn fn;
    void *ctx;
} loop_arg;

static hx_worker_prepare_fn prepare;

void hx_worker_set_prepare(hx_worker_prepare_fn fn) { prepare = fn; }

/* Each case starts from a clean state: the fault registry is cleared and
 * the error messages too; the case opens its own backend (exec.c), so the
 * sim devices and their counters are new. */
static int worker_cases(void *arg, int out_fd)
{
    const loop_arg *a = arg;
    usage start = measure();
    char req[128], why[160];
    size_t have = 0, job;
    uint64_t k, fired;
    int r, quick;
    while ((r = read_request(req, sizeof req, &have, &job, &k, &quick)) > 0) {
        if (!quick && prepare)
            prepare(a->ctx, job);
        if (!quick && hx_write_full(out_fd, "+", 1))
            return 1;
        lg_fault_clear();
        lg_error_clear();
        hx_json_reset();
        fired = 0;
        json_t *res = a->fn(a->ctx, job, k, &fired);
        fflush(NULL); /* its output reaches the parent before its result */
        if (!res)
            return 1;
        check_bounds(&start, why, sizeof why);
        if (emit_line(out_fd, res, fired, why[0] ? why : NULL) != LG_OK)
            return 1;
        if (why[0])
            return 0;
    }
    return r < 0 ? 2 : 0;
}

/* The worker's cases, then what it kept between them removed. */
static int worker_loop(void *arg, int out_fd)
{
    int rc = worker_cases(arg, out_fd);
    hx_run_copy_end();
    return rc;
}

/* ------------------------------------------------------- in the parent */

lg_status hx_worker_start(hx_worker *w, hx_worker_fn fn, void *ctx)
{
    hx_child_opts o = {.timeout = 0, .capture = 1, .input = 1, .startup = HX_STARTUP_S};
    loop_arg a = {fn, ctx}; /* copied into the child by fork */
    memset(w, 0, sizeof *w);
    lg_status st = hx_child_fork(&w->child, &o, worker_loop, &a);
    w->up = st == LG_OK;
    return st;
}

static lg_status send(hx_worker *w, size_t job, uint64_t k, double timeout, int quick)
{
    char req[64];
    int n = snprintf(req, sizeof req, "%zu %" PRIu64 "%s\n", job, k, quick ? " q" : "");
    if (quick)
        hx_child_next_started(&w->child, timeout);
    else
        hx_child_next(&w->child, timeout);
    w->job = job;
    w->k = k;
    w->busy = 1;
    w->quick = quick;
    lg_status st = hx_child_send(&w->child, req, (size_t)n);
    if (st != LG_OK)
        w->busy = 0;
    return st;
}

lg_status hx_worker_send(hx_worker *w, size_t job, uint64_t k, double timeout)
{
    return send(w, job, k, timeout, 0);
}

lg_status hx_worker_send_quick(hx_worker *w, size_t job, uint64_t k, double timeout)
{
    /* a worker's first request has its "+", so that the worker's own
     * start-up is not counted in the case's time; an idle worker has read
     * all it was sent: nothing is pending */
    return send(w, job, k, timeout, w->ran > 0 && hx_child_input_pending(&w->child) == 0);
}

lg_status hx_worker_queue(hx_worker *w, size_t job, uint64_t k, double timeout)
{
    char req[64];
    if (!w->up || !w->busy || !w->quick || w->queued || w->child.killed)
        return hx_err(LG_E_INVALID, "the worker has no room for a queued request");
    int n = snprintf(req, sizeof req, "%zu %" PRIu64 " q\n", job, k);
    lg_status st = hx_child_send(&w->child, req, (size_t)n);
    if (st != LG_OK)
        return st;
    w->queued = 1;
    w->next_job = job;
    w->next_k = k;
    w->next_timeout = timeout;
    w->next_len = (size_t)n;
    return LG_OK;
}

/* The worker took its request: its output starts with "+", or it read a
 * quick one (all of its input but a queued request behind it). */
static int started(const hx_worker *w)
{
    size_t len = 0;
    if (w->quick) {
        long left = hx_child_input_pending(&w->child);
        return left == 0 || (w->queued && left >= 0 && (size_t)left <= w->next_len);
    }
    const char *out = hx_child_output(&w->child, &len);
    return out && out[0] == '+';
}

/* A complete result line, after the "+" (a quick request has none): the
 * whole output, or with a request queued, its first line (what follows
 * is the queued one's); *used: the bytes it takes, "+" included. */
static const char *result_line(const hx_worker *w, size_t *len, size_t *used)
{
    size_t all = 0;
    const char *out = hx_child_output(&w->child, &all);
    size_t plus = !w->quick;
    if (!out || all < plus + 1 || (plus && out[0] != '+'))
        return NULL;
    const char *nl = w->queued ? memchr(out + plus, '\n', all - plus)
                               : out[all - 1] == '\n' ? out + all - 1 : NULL;
    if (!nl)
        return NULL;
    *used = (size_t)(nl + 1 - out);
    *len = *used - plus;
    return out + plus;
}

static hx_worker_event ended(hx_worker *w)
{
    int busy = w->busy;
    w->up = w->busy = 0;
    if (busy)
        return started(w) ? HX_WORKER_DIED : HX_WORKER_LOST;
    hx_worker_free(w);
    return HX_WORKER_ENDED;
}

/* raw NULL: the result line read whole (hx_worker_take); else the
 * parent's fast way (hx_result_read). */
hx_worker_event hx_worker_take_raw(hx_worker *w, json_t **res, json_t **raw, hx_status *st,
                                   uint64_t *fired)
{
    char retire[160];
    size_t len = 0, used = 0;
    const char *line = w->busy && !w->child.killed ? result_line(w, &len, &used) : NULL;
    if (raw)
        *raw = NULL;
    if (!line)
        return hx_child_done(&w->child) ? ended(w) : HX_WORKER_WAITING;
    if (raw ? hx_result_read(line, len, res, raw, st, fired, retire, sizeof retire)
            : hx_result_parse(line, len, res, fired, retire, sizeof retire)) {
        /* not a result: the worker is broken; its case is a crash */
        hx_child_kill(&w->child); /* not a pid already reaped, which may be another's now */
        return ended(w);
    }
    w->ran++;
    if (w->queued && !retire[0]) { /* on to the queued request, already read or in the pipe */
        w->queued = 0;
        w->job = w->next_job;
        w->k = w->next_k;
        w->quick = 1;
        hx_child_next_queued(&w->child, used, w->next_timeout);
        return HX_WORKER_RESULT;
    }
    w->busy = 0;
    hx_child_next_started(&w->child, 0); /* idle: no deadline, no start-up allowance */
    if (retire[0])
        hx_worker_stop(w); /* a queued request is not run: w->queued stays set */
    return HX_WORKER_RESULT;
}

hx_worker_event hx_worker_take(hx_worker *w, json_t **res, uint64_t *fired)
{
    return hx_worker_take_raw(w, res, NULL, NULL, fired);
}

void hx_worker_end(hx_worker *w)
{
    if (!w->up || w->child.in_fd < 0) /* told already: its deadline stands */
        return;
    hx_child_close_input(&w->child);
    hx_child_next_started(&w->child, STOP_WAIT_S); /* killed if it lingers */
}

void hx_worker_stop(hx_worker *w)
{
    if (!w->up)
        return;
    hx_worker_end(w);
    hx_child_wait(&w->child);
    w->up = w->busy = 0;
    hx_worker_free(w);
}

void hx_worker_free(hx_worker *w) { hx_child_free(&w->child); }
