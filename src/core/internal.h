/* Internal helpers shared by every module of the library. Not installed. */
#ifndef LG_INTERNAL_H
#define LG_INTERNAL_H

#include "loadgate/loadgate.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define LG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LG_PRINTF(a, b)
#endif

/* error.c: set the thread-local message and return the code. */
lg_status lg__err(lg_status s, const char *fmt, ...) LG_PRINTF(2, 3);
/* Prefix the current message: "<prefix>: <old message>". Returns s. */
lg_status lg__err_prefix(lg_status s, const char *fmt, ...) LG_PRINTF(2, 3);

/* fault.c's number of a fault point's name (its slot in the registry;
 * each name a number of its own, in lg_fault_points()'s order), or -1
 * for a name that is none. Inline so that a
 * name written in the code, as nearly every lg__fault's is, becomes its
 * number when compiled: no string is compared at run time. */
static inline int lg__fault_point_id(const char *point)
{
    switch (strlen(point)) {
    case 7:
        return !strcmp(point, "io.open") ? 0 : !strcmp(point, "io.read") ? 1
             : !strcmp(point, "io.mmap") ? 2 : -1;
    case 9: return !strcmp(point, "mem.alloc") ? 3 : -1;
    case 12:
        return !strcmp(point, "format.parse") ? 4 : !strcmp(point, "device.alloc") ? 5 : -1;
    case 11: return !strcmp(point, "device.copy") ? 6 : -1;
    case 10: return !strcmp(point, "store.move") ? 7 : -1;
    case 13: return !strcmp(point, "store.restore") ? 8 : -1;
    }
    return -1;
}

/* fault.c: returns 1 when point number id (lg__fault_point_id) must fail
 * now. Counts the hit. For io points, *err receives the errno to fail
 * with (0 if err is NULL). */
int lg__fault_at(int id, int *err);
#define lg__fault(point, err) lg__fault_at(lg__fault_point_id(point), (err))

/* alloc.c: host allocation through the mem.alloc fault point. */
void *lg__malloc(size_t n);
void *lg__calloc(size_t n, size_t m);
void *lg__realloc(void *p, size_t n);
char *lg__strdup(const char *s);

/* io.c: syscalls through the io.* fault points; they fail like the real
 * call (return -1 / MAP_FAILED with errno set). lg__read_full retries EINTR
 * and short reads. */
int lg__open(const char *path, int flags);
ssize_t lg__read(int fd, void *buf, size_t n);
lg_status lg__read_full(int fd, void *buf, size_t n, const char *path);
void *lg__mmap(size_t len, int fd);

/* mapguard.c: the SIGBUS guard over mapped files. add registers a map
 * (returns its slot, or -1 when the guard is off or full: read the file
 * instead); hit is 1 once a read past the file's end was absorbed there
 * (the page reads as zeros); remove forgets the slot before munmap. */
int lg__map_guard_add(const void *base, size_t len);
int lg__map_guard_hit(int slot);
void lg__map_guard_remove(int slot);

/* trace.c */
void lg__trace_add(lg_trace *t, lg_op op, const char *tensor, lg_device from,
                   lg_device to, uint64_t bytes, int ok, const char *detail);
/* Sets the last event's detail (the tch policy names its reader there). */
void lg__trace_detail_last(lg_trace *t, const char *detail);

/* Shape helpers (names.c). Returns 0 on 64-bit overflow or a negative dim. */
int lg__numel(int ndim, const int64_t *shape, uint64_t *numel);
int lg__nbytes(lg_dtype d, int ndim, const int64_t *shape, uint64_t *nbytes);
int lg__shape_equal(int an, const int64_t *a, int bn, const int64_t *b);
/* "[2, 3]" into buf */
const char *lg__shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

#endif
