/* A hash index of names (name_index.h): open addressing, linear probing,
 * keyed XXH3. */
#include "core/name_index.h"
#include "core/internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
/* xxHash compiled into this file (its header-only mode): every function
 * static, no symbol of it exported and no library to link. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* The key: a secret drawn once per process, so that nobody can write a
 * file of names that all land in one run of slots (docs/limits.md,
 * "Names"). xxHash's own advice for a hash that meets chosen inputs is a
 * secret made by XXH3_generateSecret from random bytes. */
static unsigned char secret[XXH3_SECRET_DEFAULT_SIZE];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void secret_make(void)
{
    unsigned char seed[32];
    ssize_t got = getrandom(seed, sizeof seed, GRND_NONBLOCK);
    if (got != (ssize_t)sizeof seed) {
        /* no entropy yet (early boot) or no getrandom: less secret, but
         * still not known before the process starts */
        struct timespec t[2];
        clock_gettime(CLOCK_REALTIME, &t[0]);
        clock_gettime(CLOCK_MONOTONIC, &t[1]);
        uintptr_t a[2] = {(uintptr_t)&got, (uintptr_t)getpid()};
        memcpy(seed, t, sizeof seed < sizeof t ? sizeof seed : sizeof t);
        memcpy(seed + 16, a, sizeof a);
    }
    XXH3_generateSecret(secret, sizeof secret, seed, sizeof seed);
}

uint64_t lg__name_hash(const void *p, size_t n)
{
    pthread_once(&secret_once, secret_make);
    return XXH3_64bits_withSecret(p, n, secret, sizeof secret);
}

uint64_t lg__name_hash_fold(const char *p, size_t n)
{
    unsigned char low[256];
    if (n <= sizeof low) {
        for (size_t i = 0; i < n; i++)
            low[i] = (unsigned char)lg__ascii_lower(p[i]);
        return lg__name_hash(low, n);
    }
    /* streamed: the same value as one call over the whole lowered name */
    pthread_once(&secret_once, secret_make);
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset_withSecret(&st, secret, sizeof secret);
    for (size_t at = 0; at < n; at += sizeof low) {
        size_t k = n - at < sizeof low ? n - at : sizeof low;
        for (size_t i = 0; i < k; i++)
            low[i] = (unsigned char)lg__ascii_lower(p[at + i]);
        XXH3_64bits_update(&st, low, k);
    }
    return XXH3_64bits_digest(&st);
}

static uint64_t name_hash(const char *s) { return lg__name_hash(s, strlen(s)); }

void lg__slot_place(lg__name_slot *slot, size_t nslot, lg__name_slot s)
{
    size_t j = (size_t)s.hash & (nslot - 1);
    while (slot[j].k)
        j = (j + 1) & (nslot - 1);
    slot[j] = s;
}

/* The slot holding name (hash h), or the empty slot where it would go. */
static lg__name_slot *slot_of(const lg__name_index *x, uint64_t h, const char *name,
                              lg__name_at at, const void *ctx)
{
    size_t mask = x->nslot - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        lg__name_slot *s = &x->slot[i];
        if (!s->k || (s->hash == h && !strcmp(at(ctx, s->k - 1), name)))
            return s;
    }
}

static size_t scan(const char *name, lg__name_at at, const void *ctx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(at(ctx, i), name))
            return i;
    return (size_t)-1;
}

size_t lg__index_find(const lg__name_index *x, const char *name, lg__name_at at,
                      const void *ctx, size_t n)
{
    if (x->broken || x->n != n || !x->nslot)
        return scan(name, at, ctx, n);
    size_t k = slot_of(x, name_hash(name), name, at, ctx)->k;
    return k ? k - 1 : (size_t)-1;
}

size_t lg__index_find_hint(const lg__name_index *x, const char *name, lg__name_at at,
                           const void *ctx, size_t n, size_t hint)
{
    if (hint < n && !strcmp(at(ctx, hint), name))
        return hint;
    return lg__index_find(x, name, at, ctx, n);
}

static void go_broken(lg__name_index *x)
{
    free(x->slot);
    x->slot = NULL;
    x->nslot = 0;
    x->broken = 1;
}

/* A table of n slots (a power of two, larger than the one there is), with
 * every entry re-inserted. */
static int resize(lg__name_index *x, size_t n)
{
    lg__name_slot *old = x->slot;
    size_t nold = x->nslot;
    if (n > SIZE_MAX / sizeof *old || !(x->slot = lg__calloc(n, sizeof *old))) {
        x->slot = old;
        return 0;
    }
    x->nslot = n;
    for (size_t i = 0; i < nold; i++)
        if (old[i].k) /* names are unique in the table */
            lg__slot_place(x->slot, n, old[i]);
    free(old);
    return 1;
}

/* Doubles the table (or makes its first). */
static int grow(lg__name_index *x) { return resize(x, x->nslot ? 2 * x->nslot : 64); }

void lg__index_reserve(lg__name_index *x, size_t n)
{
    size_t want = 64;
    if (!n)
        return;
    while (want < n && want <= SIZE_MAX / 4)
        want *= 2;
    want *= 2; /* at most half full */
    if (!x->broken && want > x->nslot && !resize(x, want))
        go_broken(x);
}

/* Indexes entry x->n: the entry already indexed under its name, or
 * (size_t)-1 when it is the first. want: whether the answer is needed
 * when the index is broken (a scan). */
static size_t add(lg__name_index *x, lg__name_at at, const void *ctx, int want)
{
    size_t i = x->n++;
    if (!x->broken && 2 * x->n > x->nslot && !grow(x))
        go_broken(x);
    if (x->broken)
        return want ? scan(at(ctx, i), at, ctx, i) : (size_t)-1;
    const char *name = at(ctx, i);
    uint64_t h = name_hash(name);
    lg__name_slot *s = slot_of(x, h, name, at, ctx);
    if (s->k)
        return s->k - 1;
    *s = (lg__name_slot){h, i + 1};
    return (size_t)-1;
}

void lg__index_add(lg__name_index *x, lg__name_at at, const void *ctx) { add(x, at, ctx, 0); }

size_t lg__index_insert(lg__name_index *x, lg__name_at at, const void *ctx)
{
    return add(x, at, ctx, 1);
}

/* How many names ahead of its insertion a name is hashed and its slot
 * fetched: enough misses in flight to cover one, few enough that the
 * fetched lines are still there when their turn comes. */
#define AHEAD 8

static uint64_t fetch_ahead(const lg__name_index *x, lg__name_at at, const void *ctx, size_t i)
{
    uint64_t h = name_hash(at(ctx, i));
    __builtin_prefetch(&x->slot[(size_t)h & (x->nslot - 1)], 1);
    return h;
}

/* Entries x->n .. n-1, with a table already sized for them. stop: return
 * at the first name met again (as lg__index_insert_all); else skip it,
 * the first entry keeping the name. */
static size_t insert_run(lg__name_index *x, lg__name_at at, const void *ctx, size_t n, int stop,
                         size_t *first)
{
    uint64_t h[AHEAD];
    size_t from = x->n;
    for (size_t i = from; i < n && i < from + AHEAD; i++)
        h[i % AHEAD] = fetch_ahead(x, at, ctx, i);
    for (size_t i = from; i < n; i++) {
        uint64_t hi = h[i % AHEAD];
        if (i + 2 * AHEAD < n) /* the name itself, before it is hashed */
            __builtin_prefetch(at(ctx, i + 2 * AHEAD));
        if (i + AHEAD < n)
            h[i % AHEAD] = fetch_ahead(x, at, ctx, i + AHEAD);
        lg__name_slot *s = slot_of(x, hi, at(ctx, i), at, ctx);
        x->n = i + 1;
        if (!s->k)
            *s = (lg__name_slot){hi, i + 1};
        else if (stop) {
            *first = s->k - 1;
            return i;
        }
    }
    return (size_t)-1;
}

size_t lg__index_insert_all(lg__name_index *x, lg__name_at at, const void *ctx, size_t n,
                            size_t *first)
{
    if (n <= x->n)
        return (size_t)-1;
    lg__index_reserve(x, n);
    if (x->broken || n > x->nslot / 2) { /* without memory: one at a time, by scans */
        while (x->n < n) {
            size_t d = add(x, at, ctx, 1);
            if (d != (size_t)-1) {
                *first = d;
                return x->n - 1;
            }
        }
        return (size_t)-1;
    }
    return insert_run(x, at, ctx, n, 1, first);
}

void lg__index_build(lg__name_index *x, lg__name_at at, const void *ctx, size_t n)
{
    size_t first;
    lg__index_free(x);
    lg__index_reserve(x, n);
    if (x->broken || n > x->nslot / 2) /* one at a time (a broken index: every find scans) */
        while (x->n < n)
            lg__index_add(x, at, ctx);
    else
        insert_run(x, at, ctx, n, 0, &first);
}

void lg__index_free(lg__name_index *x)
{
    free(x->slot);
    memset(x, 0, sizeof *x);
}
