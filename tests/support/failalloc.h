/* A failing allocator for out-of-memory sweeps (test_oom.c,
 * test_case_errors2.c): the including program's own malloc, calloc and
 * realloc, which the linker prefers to libc's, passing to glibc's __libc_*
 * ones. While countdown > 0 each allocation counts down, and the one that
 * brings it to 0 fails (fired set, errno ENOMEM as glibc sets it).
 * FAILALLOC_RUNS is 0 where it cannot work: without glibc, or under a
 * sanitizer, which brings its own allocator. Include it in one file of a
 * program only. */
#ifndef TU_FAILALLOC_H
#define TU_FAILALLOC_H

#include <errno.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FAILALLOC_RUNS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define FAILALLOC_RUNS 0
#endif
#endif
#if !defined(FAILALLOC_RUNS) && defined(__GLIBC__)
#define FAILALLOC_RUNS 1
#elif !defined(FAILALLOC_RUNS)
#define FAILALLOC_RUNS 0
#endif

#if FAILALLOC_RUNS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static long long countdown; /* > 0: the allocation that brings it to 0 fails */
static long long calls;     /* allocations while armed */
static int fired;

static int fail_now(void)
{
    if (countdown <= 0)
        return 0;
    calls++;
    if (--countdown == 0) {
        fired = 1;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return fail_now() ? NULL : __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }
#endif
#endif
