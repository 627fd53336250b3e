/* The ring of staging buffers through which the torch backend moves host
 * bytes to a GPU (docs/cuda-staging.md): its plan and its chunk loop, in
 * plain C with no libtorch, so that torch_shim.cpp runs them against CUDA
 * and tests/lib/test_torch_ring.c against a CPU stand-in that checks the
 * order of the steps.
 *
 * Chunk k of the bytes is copied by the CPU into buffer k % nbuf while
 * the device copies chunk k-1 out of its own buffer. Before buffer k % nbuf
 * is filled again, the transfer last submitted from it must be over: the
 * loop waits on that buffer's event. The caller waits for the last
 * transfers (synchronizes its stream) after the loop. */
#ifndef LG_TORCH_RING_H
#define LG_TORCH_RING_H

#include <stddef.h>
#include <stdint.h>

#define LGT_RING_BUFFERS 4             /* buffers in the ring */
#define LGT_RING_CHUNK (16u << 20)     /* bytes per buffer, at most */
#define LGT_RING_MIN_CHUNK (64u << 10) /* bytes per buffer, at least */
#define LGT_RING_ALIGN (4u << 10)      /* a chunk is a multiple of this */
#define LGT_RING_MIN_BYTES (1u << 20)  /* smaller tensors: one plain copy */

typedef struct lgt_ring_plan {
    size_t nbuf;  /* 0: no ring, copy in one go */
    size_t chunk; /* bytes per buffer and per transfer (the last may be shorter) */
} lgt_ring_plan;

/* The ring for `total` bytes under a staging budget (0: none given).
 * With a budget the ring holds at most max(budget, 2 x LGT_RING_MIN_CHUNK)
 * bytes; a tensor smaller than the ring gets smaller chunks, so that even
 * it is copied in LGT_RING_BUFFERS overlapping steps. */
static inline lgt_ring_plan lgt_ring_plan_for(uint64_t total, uint64_t budget)
{
    lgt_ring_plan p = {0, 0};
    if (total < LGT_RING_MIN_BYTES)
        return p;
    uint64_t nbuf = LGT_RING_BUFFERS, chunk = LGT_RING_CHUNK;
    if (budget) {
        uint64_t per = budget / nbuf / LGT_RING_ALIGN * LGT_RING_ALIGN;
        if (per < LGT_RING_MIN_CHUNK) {
            nbuf = 2;
            per = budget / nbuf / LGT_RING_ALIGN * LGT_RING_ALIGN;
        }
        if (per < LGT_RING_MIN_CHUNK)
            per = LGT_RING_MIN_CHUNK;
        if (per < chunk)
            chunk = per;
    }
    uint64_t share = (total + nbuf - 1) / nbuf;
    share = (share + LGT_RING_ALIGN - 1) / LGT_RING_ALIGN * LGT_RING_ALIGN;
    if (share < LGT_RING_MIN_CHUNK)
        share = LGT_RING_MIN_CHUNK;
    if (share < chunk)
        chunk = share;
    uint64_t chunks = (total + chunk - 1) / chunk;
    p.nbuf = (size_t)(chunks < nbuf ? chunks : nbuf);
    p.chunk = (size_t)chunk;
    return p;
}

/* The steps of a transfer; each returns 0, or nonzero to stop the loop
 * (the C++ side throws instead). ctx is the caller's. */
typedef struct lgt_ring_ops {
    /* Until the transfer last submitted from buffer `slot` is over. */
    int (*wait)(void *ctx, size_t slot);
    /* The CPU's part: bytes [off, off + len) of the source into `slot`. */
    int (*fill)(void *ctx, size_t slot, uint64_t off, size_t len);
    /* The first len bytes of `slot` to the device at off, asynchronously;
     * records the buffer's event after the copy. */
    int (*submit)(void *ctx, size_t slot, uint64_t off, size_t len);
} lgt_ring_ops;

/* Runs the chunks of `total` bytes through the ring p (p.nbuf > 0): 0, or
 * the nonzero value of the step that stopped it. */
static inline int lgt_ring_run(lgt_ring_plan p, uint64_t total, const lgt_ring_ops *ops,
                               void *ctx)
{
    uint64_t off = 0;
    for (uint64_t k = 0; off < total; k++) {
        size_t slot = (size_t)(k % p.nbuf);
        size_t len = total - off < p.chunk ? (size_t)(total - off) : p.chunk;
        int rc = k >= p.nbuf ? ops->wait(ctx, slot) : 0;
        if (!rc)
            rc = ops->fill(ctx, slot, off, len);
        if (!rc)
            rc = ops->submit(ctx, slot, off, len);
        if (rc)
            return rc;
        off += len;
    }
    return 0;
}

#endif
