/* The SIGBUS guard over mapped checkpoints (docs/limits.md, "A file that
 * changes while it is read").
 *
 * A file mapped by a checkpoint and then truncated by another process
 * turns every read of the pages past its new end into SIGBUS, which would
 * kill the process in the middle of a parse or a copy. While a checkpoint
 * is open its map is registered here. A SIGBUS whose address lies in a
 * registered map is absorbed: a page of zeros is mapped over the faulting
 * page, the map is marked as hit, and the reading instruction runs again.
 * The reader goes on over zeros, and the checkpoint's next check
 * (lg__map_check) fails the open, read or load with LG_E_IO before any
 * store is changed. Nothing jumps out of the middle of a function, so
 * nothing leaks.
 *
 * A SIGBUS anywhere else goes to the handler that was there before the
 * guard was installed; with none, the default action is restored and the
 * signal is raised again by the same instruction, so the process dies of
 * it as it would have.
 *
 * This registry and the handler are the library's one piece of global
 * state besides the thread-local error and the fault registry. It is
 * installed on the first map, once per process. LOADGATE_SIGBUS_GUARD=0
 * in the environment keeps it out: checkpoints are then read into memory
 * instead of mapped, and so is a checkpoint opened while all MAX_MAPS
 * slots are taken. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MAPS 256

typedef struct {
    atomic_int used;       /* claimed by lg__map_guard_add */
    atomic_uintptr_t base; /* 0 while the slot is being filled or emptied */
    atomic_size_t len;
    atomic_int hit;        /* a SIGBUS was absorbed in [base, base + len) */
} map_slot;

static map_slot slots[MAX_MAPS];
static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int installed;

static void pass_on(int sig, siginfo_t *si, void *uc)
{
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    /* Default (an ignored SIGBUS from a fault is not honoured either):
     * the faulting instruction runs again and the signal kills. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    int saved = errno;
    for (size_t i = 0; i < MAX_MAPS; i++) {
        uintptr_t b = atomic_load_explicit(&slots[i].base, memory_order_acquire);
        if (!b || a < b || a - b >= atomic_load_explicit(&slots[i].len, memory_order_relaxed))
            continue;
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        void *page = (void *)(a & ~(pg - 1));
        /* mmap is a plain system call on the systems this builds on */
        if (mmap(page, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == page) {
            atomic_store(&slots[i].hit, 1);
            errno = saved;
            return;
        }
        break;
    }
    errno = saved;
    pass_on(sig, si, uc);
}

static void install(void)
{
    const char *e = getenv("LOADGATE_SIGBUS_GUARD");
    if (e && !strcmp(e, "0"))
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    installed = sigaction(SIGBUS, &sa, &previous) == 0;
}

int lg__map_guard_add(const void *base, size_t len)
{
    pthread_once(&once, install);
    if (!installed || !base || !len)
        return -1;
    for (int i = 0; i < MAX_MAPS; i++) {
        int free_slot = 0;
        if (!atomic_compare_exchange_strong(&slots[i].used, &free_slot, 1))
            continue;
        atomic_store(&slots[i].hit, 0);
        atomic_store(&slots[i].len, len);
        atomic_store_explicit(&slots[i].base, (uintptr_t)base, memory_order_release);
        return i;
    }
    return -1;
}

int lg__map_guard_hit(int slot)
{
    return slot >= 0 && slot < MAX_MAPS && atomic_load(&slots[slot].hit);
}

void lg__map_guard_remove(int slot)
{
    if (slot < 0 || slot >= MAX_MAPS)
        return;
    atomic_store_explicit(&slots[slot].base, 0, memory_order_release);
    atomic_store(&slots[slot].used, 0);
}
