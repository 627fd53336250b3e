/* Workers (`--isolation worker`, docs/runner.md): long-lived children,
 * forked through child.h, that run many cases one after another and hand
 * each result back as the JSON line a forked child sends.
 *
 * The protocol. The parent writes a request, "JOB K\n", on the worker's
 * stdin and waits. The worker answers "+" when it takes the request (the
 * case has started), then the result line of hx_result_emit. A request
 * with no start-up work, "JOB K q\n" (hx_worker_send_quick), gets no
 * "+": its case starts when it is sent, and the parent tells whether the
 * worker took it by what is left in the worker's stdin. A worker
 * that finds itself past a bound after a case (HX_WORKER_FD_GROWTH,
 * HX_WORKER_RSS_GROWTH_MIB) adds "retire": REASON to that line and exits;
 * the parent replaces it. A worker that dies, or is killed at its case's
 * deadline, leaves its case to be reported as a forked child's would be:
 * crash with the signal, or timeout. One that dies before its "+" (or,
 * for a quick request, before reading it) never started the case: the
 * case runs again on a new worker. Behind a running quick request the
 * parent may queue one more (hx_worker_queue), which the worker reads
 * and runs next without waiting for the parent. */
#ifndef HX_WORKER_H
#define HX_WORKER_H

#include "loadgate/loadgate.h"
#include "report/report.h"
#include "run/child.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A worker ends itself after a case that left it with this many more
 * open descriptors than it had when it started... */
#define HX_WORKER_FD_GROWTH 16
/* ... or a resident set this many MiB larger (peak RSS where there is no
 * /proc/self/statm). */
#define HX_WORKER_RSS_GROWTH_MIB 256

/* What a worker does with request (job, k): runs it and returns its result
 * object (NULL: out of memory), with *fired for a sweep. Called in the
 * worker, with ctx as the parent had it when the worker was forked. */
typedef json_t *(*hx_worker_fn)(void *ctx, size_t job, uint64_t k, uint64_t *fired);

typedef struct {
    hx_child child;
    int up;       /* forked and not yet reaped */
    int busy;     /* a request was sent, its result not yet taken */
    size_t job;   /* the request in flight */
    uint64_t k;
    size_t ran;   /* requests answered */
    int quick;    /* the request in flight has no "+" (hx_worker_send_quick) */
    int queued;   /* a quick request sent behind it (hx_worker_queue) */
    size_t next_job;
    uint64_t next_k;
    double next_timeout;
    size_t next_len; /* its bytes */
} hx_worker;

/* What hx_worker_take found. */
typedef enum {
    HX_WORKER_WAITING, /* nothing new */
    HX_WORKER_RESULT,  /* the result of the request in flight */
    HX_WORKER_DIED,    /* died (or was killed) during its case: read w->child, then
                          hx_worker_free */
    HX_WORKER_LOST,    /* died before it took its request: run it elsewhere, then
                          hx_worker_free */
    HX_WORKER_ENDED    /* died while idle, or retired; nothing to report */
} hx_worker_event;

/* Forks a worker that answers requests with fn(ctx, ...). LG_OK, or
 * LG_E_IO with the reason in hx_errmsg(). */
lg_status hx_worker_start(hx_worker *w, hx_worker_fn fn, void *ctx);
/* Optional, in the worker, before it takes request `job` (before its "+",
 * so outside the case's timeout): start-up work the case needs, such as
 * loading libtorch. Set before hx_worker_start. */
typedef void (*hx_worker_prepare_fn)(void *ctx, size_t job);
void hx_worker_set_prepare(hx_worker_prepare_fn fn);
/* The seconds a worker, a forked or a spawned case may take to say it is
 * ready (hx_child_opts.startup) before its case's timeout starts. */
#define HX_STARTUP_S 120.0
/* Sends request (job, k) to an idle worker that is up; the case's
 * deadline is timeout seconds away (0: none). LG_OK, or LG_E_IO when the
 * worker is gone (hx_worker_stop it and start another). */
lg_status hx_worker_send(hx_worker *w, size_t job, uint64_t k, double timeout);
/* As hx_worker_send, for a case with no start-up work (no module to load):
 * the worker skips the prepare function and the "+", and the deadline
 * counts from now. It spares the parent a wake-up a case. To a worker that
 * has not answered a request yet (its start-up is not the case's time),
 * or whose unread input cannot be measured (hx_child_input_pending) or is
 * not empty, it is hx_worker_send. */
lg_status hx_worker_send_quick(hx_worker *w, size_t job, uint64_t k, double timeout);
/* Sends quick request (job, k) behind the quick one w is running, so that
 * the worker goes on to it at once, without waiting for the parent to
 * read its result and answer (it reads its requests in order). Its case's
 * clock starts when the parent takes the result before it (deadline:
 * timeout seconds from then). LG_OK; LG_E_INVALID when w is not running a
 * quick request or has one queued already; LG_E_IO when the worker is
 * gone. A worker that dies or is killed during its running case never
 * started the queued one: HX_WORKER_DIED or _LOST tell of the running
 * case, and the caller runs the queued one elsewhere. */
lg_status hx_worker_queue(hx_worker *w, size_t job, uint64_t k, double timeout);
/* After hx_child_poll: what became of w. On HX_WORKER_RESULT, *res (taken
 * by the caller) and *fired are set and w is idle again, or down when it
 * retired (a queued request then not run: w->queued still set), or, with
 * a request queued, running that one (w->job, w->k: call again, its
 * result may have come too). */
hx_worker_event hx_worker_take(hx_worker *w, json_t **res, uint64_t *fired);
/* The same, the parent's fast way (hx_result_read): on HX_WORKER_RESULT,
 * *res (NULL when only the part before the result was parsed), *raw
 * (the result's text as the worker wrote it, a JSON string, or NULL; at
 * least one of the two is set), *st and *fired; the caller takes *res
 * and *raw. */
hx_worker_event hx_worker_take_raw(hx_worker *w, json_t **res, json_t **raw, hx_status *st,
                                   uint64_t *fired);
/* Closes w's input and waits for it to exit (killing it after a few
 * seconds), then frees it. Nothing is done for a worker that is not up. */
void hx_worker_stop(hx_worker *w);
/* The first half of hx_worker_stop: closes w's input and gives it a few
 * seconds to exit, without waiting; so that several workers end at once
 * (hx_worker_stop each then waits, within the same few seconds). Once
 * only: told again, a worker keeps its first deadline. */
void hx_worker_end(hx_worker *w);
/* Frees a worker that is done (after HX_WORKER_DIED or _LOST). */
void hx_worker_free(hx_worker *w);

/* What a child hands back on fd: {"fired": N, "status": S, "result": res}
 * (S: res's status) and a newline. Takes res. LG_OK, or LG_E_IO /
 * LG_E_NOMEM. */
lg_status hx_result_emit(int fd, json_t *res, uint64_t fired);
/* Reads a line of hx_result_emit: 0 and *res (new reference), *fired,
 * and its "retire" reason in retire (empty when none; n may be 0); -1
 * when it is not one. */
int hx_result_parse(const char *text, size_t len, json_t **res, uint64_t *fired, char *retire,
                    size_t n);
/* The same; *raw (when raw is not NULL) is also the result's text as the
 * line holds it, a new JSON string, where the line is as hx_result_emit
 * writes it (the result last); else NULL. It is the JSON of *res, kept
 * without a dump of its own. */
int hx_result_parse_raw(const char *text, size_t len, json_t **res, json_t **raw,
                        uint64_t *fired, char *retire, size_t n);
/* The parent's fast read of a line as hx_result_emit writes it, its keys
 * in that order: only the part before the result is parsed (a result is
 * about 1 KB of JSON, and a sweep's parent would parse each one again
 * when it builds the report). 0 with *raw (the result's text, a new JSON
 * string, not parsed), *st (the line's status), *fired and retire; -1
 * for a line of any other form. */
int hx_result_parse_head(const char *text, size_t len, json_t **raw, hx_status *st,
                         uint64_t *fired, char *retire, size_t n);
/* hx_result_parse_head where the line has its form (*res NULL), else
 * hx_result_parse_raw (*res set, *raw maybe), with *st the result's
 * status. 0, or -1 when the line is not a result. */
int hx_result_read(const char *text, size_t len, json_t **res, json_t **raw, hx_status *st,
                   uint64_t *fired, char *retire, size_t n);
#endif
