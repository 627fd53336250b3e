/* Digests of bytes, piece by piece (util/digest.h). */
#include "util/digest.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* an XXH3 state on the stack: no allocation */
#include <xxhash.h>
#ifdef HX_XXH_DISPATCH
/* XXH3_64bits and its kin become their _dispatch forms: the widest
 * vectors the processor has (AVX-512, AVX2, else SSE2), chosen at the
 * first call; the digests are XXH3's whatever the choice. */
#include <xxh_x86dispatch.h>
#endif

/* From this size a digest is shared among threads (docs/performance.md). */
#define PARALLEL_MIN ((uint64_t)8 << 20)
#define MAX_THREADS 4

uint64_t hx_digest_pieces(uint64_t n)
{
    return n ? (n + HX_DIGEST_PIECE - 1) / HX_DIGEST_PIECE : 1;
}

uint64_t hx_digest_piece(const void *p, size_t len) { return XXH3_64bits(p, len); }

uint64_t hx_digest_join(const uint64_t *pieces, uint64_t n)
{
    return XXH3_64bits_withSeed(pieces, (size_t)hx_digest_pieces(n) * sizeof *pieces, n);
}

typedef struct {
    const unsigned char *p;
    uint64_t n;
    uint64_t *out;
    uint64_t from, to; /* pieces */
} share;

static void *digest_share(void *arg)
{
    share *s = arg;
    for (uint64_t k = s->from; k < s->to; k++) {
        uint64_t at = k * HX_DIGEST_PIECE;
        s->out[k] = hx_digest_piece(s->p + at, (size_t)(s->n - at < HX_DIGEST_PIECE
                                                         ? s->n - at : HX_DIGEST_PIECE));
    }
    return NULL;
}

static int cpus(void)
{
    static int n;
    if (!n) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : c > MAX_THREADS ? MAX_THREADS : (int)c;
    }
    return n;
}

/* One piece after another, joined as they come: no allocation. */
static uint64_t digest_serial(const unsigned char *p, uint64_t n)
{
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset_withSeed(&st, n);
    for (uint64_t at = 0; at < n; at += HX_DIGEST_PIECE) {
        uint64_t d = hx_digest_piece(p + at, (size_t)(n - at < HX_DIGEST_PIECE
                                                      ? n - at : HX_DIGEST_PIECE));
        XXH3_64bits_update(&st, &d, sizeof d);
    }
    return XXH3_64bits_digest(&st);
}

uint64_t hx_digest(const void *p, uint64_t n)
{
    if (n <= HX_DIGEST_PIECE)
        return XXH3_64bits(p, (size_t)n);
    int t = n >= PARALLEL_MIN ? cpus() : 1;
    uint64_t m = hx_digest_pieces(n);
    uint64_t *out = t > 1 ? malloc((size_t)m * sizeof *out) : NULL;
    if (!out)
        return digest_serial(p, n);
    share s[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    uint64_t per = (m + (uint64_t)t - 1) / (uint64_t)t;
    for (int k = 0; k < t; k++) {
        uint64_t from = (uint64_t)k * per, to = from + per;
        s[k] = (share){p, n, out, from < m ? from : m, to < m ? to : m};
    }
    for (int k = 1; k < t; k++)
        started[k] = pthread_create(&th[k], NULL, digest_share, &s[k]) == 0;
    digest_share(&s[0]);
    for (int k = 1; k < t; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            digest_share(&s[k]); /* no thread to be had: this one does it */
    }
    uint64_t d = hx_digest_join(out, n);
    free(out);
    return d;
}
