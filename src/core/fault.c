/* The fault registry: named points in the code that can be made to fail on
 * a schedule (SQLite-style fault loops). Process-wide mutable state,
 * guarded by a mutex; the library's only other such state is the SIGBUS
 * guard's registry of maps (mapguard.c).
 *
 * Every allocation and I/O call passes a point (a store of 100,000
 * tensors built from a file and loaded passes about 500,000, the load
 * itself 200,000), so a point that is not armed costs an atomic add
 * to its hit count and no lock (its number is found when the library is
 * compiled: lg__fault_point_id). An armed point takes the lock, which
 * orders its schedule. */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The names lg_fault_points() lists. A name's slot is its number from
 * lg__fault_point_id (internal.h), which must give each a number of its
 * own below NPOINTS: test_core's test_fault_names checks that each name
 * counts on its own slot. */
static const char *const points[] = {
    "io.open", "io.read", "io.mmap", "mem.alloc", "format.parse",
    "device.alloc", "device.copy", "store.move", "store.restore", NULL,
};
#define NPOINTS (sizeof points / sizeof points[0] - 1)

typedef struct {
    int armed;
    lg_fault_schedule s;
    uint64_t rng;
    uint64_t hits, fired;
} fault_slot;

static fault_slot slots[NPOINTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int lg_fault_point_valid(const char *point) { return point && lg__fault_point_id(point) >= 0; }

const char *const *lg_fault_points(void) { return points; }

lg_status lg_fault_set(const char *point, const lg_fault_schedule *s)
{
    int i = point ? lg__fault_point_id(point) : -1;
    if (i < 0)
        return lg__err(LG_E_INVALID, "unknown fault point \"%s\"", point ? point : "(null)");
    if (!s || (s->when != LG_FAULT_PROB && s->k == 0))
        return lg__err(LG_E_INVALID, "fault %s: the hit number k starts at 1", point);
    if (s->when == LG_FAULT_PROB && (s->p < 0 || s->p > 1))
        return lg__err(LG_E_INVALID, "fault %s: probability %g is outside [0, 1]", point, s->p);
    pthread_mutex_lock(&lock);
    slots[i].s = *s;
    slots[i].rng = s->seed ? s->seed : 0x9e3779b97f4a7c15ULL;
    slots[i].fired = 0;
    __atomic_store_n(&slots[i].hits, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&slots[i].armed, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    return LG_OK;
}

void lg_fault_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NPOINTS; i++) {
        __atomic_store_n(&slots[i].armed, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&slots[i].hits, 0, __ATOMIC_RELAXED);
        memset(&slots[i].s, 0, sizeof slots[i].s);
        slots[i].rng = slots[i].fired = 0;
    }
    pthread_mutex_unlock(&lock);
}

void lg_fault_disarm(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NPOINTS; i++)
        __atomic_store_n(&slots[i].armed, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
}

static uint64_t counter(const char *point, int fired)
{
    int i = point ? lg__fault_point_id(point) : -1;
    if (i < 0)
        return 0;
    pthread_mutex_lock(&lock);
    uint64_t v = fired ? slots[i].fired : __atomic_load_n(&slots[i].hits, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
    return v;
}

uint64_t lg_fault_hits(const char *point) { return counter(point, 0); }
uint64_t lg_fault_fired(const char *point) { return counter(point, 1); }

/* splitmix64: a small, well-known generator, so that a seed gives the same
 * sequence everywhere. */
static double next_unit(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* hits: the count with this hit (the slot's own may have moved on, by
 * hits counted without the lock) */
static int should_fire(fault_slot *f, uint64_t hits)
{
    switch (f->s.when) {
    case LG_FAULT_NTH: return hits == f->s.k;
    case LG_FAULT_FROM: return hits >= f->s.k;
    case LG_FAULT_PROB: return next_unit(&f->rng) < f->s.p;
    }
    return 0;
}

int lg__fault_at(int i, int *err)
{
    if (err)
        *err = 0;
    if (i < 0 || i >= (int)NPOINTS)
        return 0;
    fault_slot *f = &slots[i];
    if (!__atomic_load_n(&f->armed, __ATOMIC_ACQUIRE)) {
        __atomic_fetch_add(&f->hits, 1, __ATOMIC_RELAXED);
        return 0;
    }
    pthread_mutex_lock(&lock);
    uint64_t hits = __atomic_add_fetch(&f->hits, 1, __ATOMIC_RELAXED);
    int fire = f->armed && should_fire(f, hits);
    lg_fault_action action = f->s.action;
    if (fire) {
        f->fired++;
        if (err)
            *err = f->s.err;
    }
    pthread_mutex_unlock(&lock);
    if (fire && action == LG_FAULT_CRASH) /* test-only: prove crashes are caught */
        raise(SIGSEGV);
    while (fire && action == LG_FAULT_HANG) /* test-only: prove timeouts work */
        pause();
    return fire;
}
