/* The ring of pinned buffers that carries host bytes to a GPU
 * (backend/torch_ring.h, docs/cuda-staging.md): its plan, and its chunk
 * loop run against a CPU stand-in for a device, whose transfers are
 * asynchronous (they read their buffer only when the stream gets to them),
 * so that filling a buffer before its transfer is over, or waiting when
 * nothing needs to, shows. Then, in a build with libtorch and a machine
 * with a CUDA device, bytes to cuda:0 and back through the torch backend;
 * without one that test says why it does nothing. */
#include "backend/backend.h"
#include "backend/torch_ring.h"
#include "backend/torch_shim.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1u << 20)
#define KiB (1u << 10)

/* ------------------------------------------------------------- the plan */

START_TEST(plan_small_tensors_copy_in_one_go)
{
    ck_assert_uint_eq(lgt_ring_plan_for(0, 0).nbuf, 0);
    ck_assert_uint_eq(lgt_ring_plan_for(LGT_RING_MIN_BYTES - 1, 0).nbuf, 0);
    ck_assert_uint_eq(lgt_ring_plan_for(LGT_RING_MIN_BYTES - 1, 1).nbuf, 0);
    ck_assert_uint_ne(lgt_ring_plan_for(LGT_RING_MIN_BYTES, 0).nbuf, 0);
}
END_TEST

START_TEST(plan_default_ring)
{
    lgt_ring_plan p = lgt_ring_plan_for(1ull << 30, 0);
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 16 * MiB);
    /* smaller tensors: four overlapping steps still */
    p = lgt_ring_plan_for(16 * MiB, 0);
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 4 * MiB);
    p = lgt_ring_plan_for(1 * MiB, 0);
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 256 * KiB);
    p = lgt_ring_plan_for(1 * MiB + 1, 0); /* shares are rounded up to whole pages */
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 256 * KiB + LGT_RING_ALIGN);
}
END_TEST

START_TEST(plan_budget_bounds_the_ring)
{
    lgt_ring_plan p = lgt_ring_plan_for(1ull << 30, 8 * MiB);
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 2 * MiB);
    p = lgt_ring_plan_for(1ull << 30, 200 * KiB); /* 50 KiB a buffer is too small: 2 */
    ck_assert_uint_eq(p.nbuf, 2);
    ck_assert_uint_eq(p.chunk, 100 * KiB);
    p = lgt_ring_plan_for(1ull << 30, 1); /* the least ring */
    ck_assert_uint_eq(p.nbuf, 2);
    ck_assert_uint_eq(p.chunk, LGT_RING_MIN_CHUNK);
    p = lgt_ring_plan_for(1ull << 30, 1ull << 40); /* a large budget: the default */
    ck_assert_uint_eq(p.nbuf, 4);
    ck_assert_uint_eq(p.chunk, 16 * MiB);
}
END_TEST

/* Every plan: aligned chunks, at most LGT_RING_BUFFERS of them, inside the
 * budget (or the least ring), and no more buffers than chunks. */
START_TEST(plan_properties)
{
    static const uint64_t totals[] = {1 * MiB, 1 * MiB + 1, 3 * MiB + 5, 64 * MiB - 1,
                                      64 * MiB, 65 * MiB + 7, 1ull << 33};
    static const uint64_t budgets[] = {0, 1, 4 * KiB, 100 * KiB, 256 * KiB, 1 * MiB, 3 * MiB + 1,
                                       64 * MiB, 1ull << 40};
    for (size_t i = 0; i < sizeof totals / sizeof *totals; i++)
        for (size_t j = 0; j < sizeof budgets / sizeof *budgets; j++) {
            uint64_t total = totals[i], budget = budgets[j];
            lgt_ring_plan p = lgt_ring_plan_for(total, budget);
            uint64_t ring = (uint64_t)p.nbuf * p.chunk, chunks = (total + p.chunk - 1) / p.chunk;
            ck_assert_msg(p.nbuf >= 1 && p.nbuf <= LGT_RING_BUFFERS, "total %llu budget %llu",
                          (unsigned long long)total, (unsigned long long)budget);
            ck_assert_uint_eq(p.chunk % LGT_RING_ALIGN, 0);
            ck_assert(p.chunk >= LGT_RING_MIN_CHUNK && p.chunk <= LGT_RING_CHUNK);
            ck_assert_uint_le(p.nbuf, chunks);
            if (budget)
                ck_assert_msg(ring <= budget || ring <= 2 * LGT_RING_MIN_CHUNK,
                              "ring %llu over budget %llu", (unsigned long long)ring,
                              (unsigned long long)budget);
        }
}
END_TEST

/* ------------------------------------------------- the loop, on the CPU */

#define MAX_SLOTS LGT_RING_BUFFERS
#define MAX_QUEUE 4096

/* A device whose stream runs transfers in order, lazily: a transfer
 * copies its buffer when the stream reaches it (a wait on its event, or
 * the final synchronize), as a real one reads pinned memory later than
 * it is queued. */
typedef struct {
    const unsigned char *src;
    unsigned char *dst;
    unsigned char *buf[MAX_SLOTS];
    struct {
        size_t slot;
        uint64_t off;
        size_t len;
    } queue[MAX_QUEUE];
    size_t queued, done;   /* transfers submitted, transfers run */
    size_t last[MAX_SLOTS]; /* 1 + the queue index last submitted from a slot; 0: none */
    size_t nbuf, fills, waits, waits_needless, max_in_flight, overlapped;
    int stop_at_fill;      /* >0: that fill (1-based) fails with 7 */
    char error[160];
} cpu_device;

static void run_until(cpu_device *d, size_t upto)
{
    for (; d->done < upto; d->done++)
        memcpy(d->dst + d->queue[d->done].off, d->buf[d->queue[d->done].slot],
               d->queue[d->done].len);
}

static int dev_wait(void *ctx, size_t slot)
{
    cpu_device *d = ctx;
    d->waits++;
    if (!d->last[slot] || d->last[slot] <= d->done)
        d->waits_needless++;
    run_until(d, d->last[slot]);
    return 0;
}

static int dev_fill(void *ctx, size_t slot, uint64_t off, size_t len)
{
    cpu_device *d = ctx;
    d->fills++;
    if (d->stop_at_fill && (int)d->fills == d->stop_at_fill)
        return 7;
    if (slot != (d->fills - 1) % d->nbuf && !d->error[0])
        snprintf(d->error, sizeof d->error, "fill %zu went to buffer %zu", d->fills, slot);
    if (d->last[slot] > d->done && !d->error[0])
        snprintf(d->error, sizeof d->error,
                 "buffer %zu filled while its transfer (%zu) is queued", slot, d->last[slot]);
    /* the transfer of the chunk before is still running: the overlap */
    if (d->queued > d->done)
        d->overlapped++;
    memcpy(d->buf[slot], d->src + off, len);
    return 0;
}

static int dev_submit(void *ctx, size_t slot, uint64_t off, size_t len)
{
    cpu_device *d = ctx;
    ck_assert_uint_lt(d->queued, MAX_QUEUE);
    d->queue[d->queued].slot = slot;
    d->queue[d->queued].off = off;
    d->queue[d->queued].len = len;
    d->last[slot] = ++d->queued;
    if (d->queued - d->done > d->max_in_flight)
        d->max_in_flight = d->queued - d->done;
    return 0;
}

static const lgt_ring_ops cpu_ops = {dev_wait, dev_fill, dev_submit};

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

/* total bytes through the ring planned for (total, budget): every byte
 * arrives, in ring order, never into a busy buffer, overlapping. */
static void through_ring(uint64_t total, uint64_t budget)
{
    lgt_ring_plan p = lgt_ring_plan_for(total, budget);
    ck_assert_uint_gt(p.nbuf, 0);
    cpu_device *d = calloc(1, sizeof *d);
    ck_assert_ptr_nonnull(d);
    d->nbuf = p.nbuf;
    d->src = pattern((size_t)total, (unsigned)total);
    d->dst = calloc(1, (size_t)total);
    for (size_t i = 0; i < p.nbuf; i++)
        ck_assert_ptr_nonnull(d->buf[i] = malloc(p.chunk));
    ck_assert_int_eq(lgt_ring_run(p, total, &cpu_ops, d), 0);
    run_until(d, d->queued); /* the stream's synchronize */
    size_t chunks = (size_t)((total + p.chunk - 1) / p.chunk);
    ck_assert_msg(!d->error[0], "%s", d->error);
    ck_assert_uint_eq(d->fills, chunks);
    ck_assert_uint_eq(d->queued, chunks);
    size_t reuses = chunks > p.nbuf ? chunks - p.nbuf : 0; /* fills of a used buffer */
    ck_assert_uint_eq(d->waits, reuses);
    ck_assert_uint_eq(d->waits_needless, 0);
    ck_assert_uint_le(d->max_in_flight, p.nbuf);
    /* every fill but the first ran while a transfer was queued */
    ck_assert_uint_eq(d->overlapped, chunks - 1);
    ck_assert_msg(memcmp(d->src, d->dst, (size_t)total) == 0,
                  "bytes differ after the ring (total %llu, budget %llu)",
                  (unsigned long long)total, (unsigned long long)budget);
    for (size_t i = 0; i < p.nbuf; i++)
        free(d->buf[i]);
    free((void *)d->src);
    free(d->dst);
    free(d);
}

START_TEST(loop_moves_every_byte_in_order)
{
    through_ring(1 * MiB, 0);                /* 4 chunks, no reuse */
    through_ring(1 * MiB + 1, 0);            /* a 1-byte chunk at the end */
    through_ring(37 * MiB + 123, 0);         /* reuse, a short last chunk */
    through_ring(100 * MiB, 0);              /* 16 MiB chunks, each buffer twice */
    through_ring(9 * MiB + 4097, 1);         /* the least ring: 2 x 64 KiB, 147 chunks */
    through_ring(20 * MiB, 3 * MiB + 1);     /* a budget that is no multiple */
}
END_TEST

START_TEST(loop_stops_at_a_failed_step)
{
    lgt_ring_plan p = lgt_ring_plan_for(8 * MiB, 0);
    cpu_device *d = calloc(1, sizeof *d);
    ck_assert_ptr_nonnull(d);
    d->nbuf = p.nbuf;
    d->src = pattern(8 * MiB, 3);
    d->dst = calloc(1, 8 * MiB);
    for (size_t i = 0; i < p.nbuf; i++)
        d->buf[i] = malloc(p.chunk);
    d->stop_at_fill = 3;
    ck_assert_int_eq(lgt_ring_run(p, 8 * MiB, &cpu_ops, d), 7);
    ck_assert_uint_eq(d->fills, 3);
    ck_assert_uint_eq(d->queued, 2); /* nothing after the failed step */
    for (size_t i = 0; i < p.nbuf; i++)
        free(d->buf[i]);
    free((void *)d->src);
    free(d->dst);
    free(d);
}
END_TEST

/* ------------------------------------------------ through libtorch, cuda */

#ifdef LOADGATE_HAVE_TORCH
/* n bytes host -> a cuda tensor (lgt_write) -> host, and host -> a cpu
 * tensor -> a cuda tensor (lgt_copy) -> host, under the staging budget. */
static void cuda_round_trip(lg_backend *b, size_t n, uint64_t budget)
{
    lg_device cuda = {LG_DEV_CUDA, 0};
    int64_t shape[1] = {(int64_t)(n / 4)};
    unsigned char *src = pattern(n, (unsigned)n), *back = malloc(n);
    void *g = NULL, *h = NULL, *g2 = NULL;
    lg__torch_set_staging(b, budget);
    ck_assert_int_eq(b->ops->alloc(b, cuda, LG_F32, 1, shape, &g), LG_OK);
    ck_assert_msg(b->ops->write(b, g, src, n) == LG_OK, "%s", lg_error_message());
    ck_assert_int_eq(b->ops->read(b, g, back, n), LG_OK);
    ck_assert_msg(memcmp(src, back, n) == 0, "write to cuda: bytes differ (%zu)", n);
    ck_assert_int_eq(b->ops->alloc(b, lg_device_cpu(), LG_F32, 1, shape, &h), LG_OK);
    ck_assert_int_eq(b->ops->write(b, h, src, n), LG_OK);
    ck_assert_int_eq(b->ops->alloc(b, cuda, LG_F32, 1, shape, &g2), LG_OK);
    ck_assert_msg(b->ops->copy(b, g2, h) == LG_OK, "%s", lg_error_message());
    memset(back, 0, n);
    ck_assert_int_eq(b->ops->read(b, g2, back, n), LG_OK);
    ck_assert_msg(memcmp(src, back, n) == 0, "copy cpu -> cuda: bytes differ (%zu)", n);
    b->ops->free(b, g);
    b->ops->free(b, h);
    b->ops->free(b, g2);
    free(src);
    free(back);
}

START_TEST(cuda_through_the_ring)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    lg_device cuda = {LG_DEV_CUDA, 0};
    if (!lg_backend_has_device(b, cuda)) {
        /* a test that cannot run says so, with the first line of
         * libtorch's reason */
        const char *why = lgt_device_error(cuda) == LG_OK ? "no reason given" : lgt_last_error();
        size_t len = strcspn(why, "\n");
        printf("test_torch_ring: cuda_through_the_ring: SKIPPED: no CUDA device here "
               "(libtorch %s: %.*s); run it on a machine with an NVIDIA GPU "
               "(docs/cuda-staging.md)\n",
               lg_libtorch_version(), (int)(len < 160 ? len : 160), why);
        fflush(stdout);
        lg_backend_close(b);
        return;
    }
    cuda_round_trip(b, 4096, 0);                 /* below the ring: one copy_ */
    cuda_round_trip(b, 1 * MiB, 0);              /* the ring's first size */
    cuda_round_trip(b, 37 * MiB + 4 * 123, 0);   /* reuse, a short last chunk */
    cuda_round_trip(b, 9 * MiB + 4 * 1025, 1);   /* the least ring */
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST
#endif

static Suite *ring_suite(void)
{
    Suite *s = suite_create("torch_ring");
    TCase *plan = tcase_create("plan");
    tcase_add_test(plan, plan_small_tensors_copy_in_one_go);
    tcase_add_test(plan, plan_default_ring);
    tcase_add_test(plan, plan_budget_bounds_the_ring);
    tcase_add_test(plan, plan_properties);
    suite_add_tcase(s, plan);
    TCase *loop = tcase_create("loop");
    tcase_add_test(loop, loop_moves_every_byte_in_order);
    tcase_add_test(loop, loop_stops_at_a_failed_step);
    suite_add_tcase(s, loop);
#ifdef LOADGATE_HAVE_TORCH
    TCase *cuda = tcase_create("cuda");
    tcase_set_timeout(cuda, 120);
    tcase_add_test(cuda, cuda_through_the_ring);
    suite_add_tcase(s, cuda);
#endif
    return s;
}

int main(void) { return tu_run_suite(ring_suite()) ? 1 : 0; }
