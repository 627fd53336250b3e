/* A checkpoint's tensor into a new tensor of a backend, reading the file
 * once (docs/performance.md, "One read of the file").
 *
 * On cpu, where the backend keeps a tensor's bytes in host memory
 * (host_data: sim), the reader copies the file's bytes straight into them
 * (a torch.save record's CRC-32 taken over the same pass, torch_zip.c),
 * and a cast runs from the map into them in runs. Elsewhere the bytes go
 * through the backend's write() from the map (or from a buffer when the
 * reader has no bytes in place). Either way the map's pages under the
 * tensor are then dropped from the process (madvise MADV_DONTNEED), so
 * that a load holds at most one tensor's worth of the file in its RSS.
 * A large copy runs on several threads (lg__copy_observed), since most of
 * its time is the first touch of the new tensor's pages. */
#include "formats/format.h"
#include "core/cast.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* Elements cast per run: each run's source is dropped right after. */
#define CAST_RUN ((size_t)1 << 20)

static uintptr_t page_size(void)
{
    static uintptr_t pg;
    if (!pg) {
        long n = sysconf(_SC_PAGESIZE);
        pg = n > 0 ? (uintptr_t)n : 4096;
    }
    return pg;
}

/* Drops the whole pages inside the pending range, and forgets it. */
static void drop_pending(lg_checkpoint *c)
{
    uintptr_t pg = page_size();
    uintptr_t lo = ((uintptr_t)c->drop_lo + pg - 1) & ~(pg - 1);
    uintptr_t hi = (uintptr_t)c->drop_hi & ~(pg - 1);
    /* a read-only private mapping of the file, never written: its pages
     * come back from the page cache if they are read again */
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
    c->drop_lo = c->drop_hi = NULL;
}

/* Ranges read one after another (a file's tensors in order) are joined,
 * and dropped once they span DROP_MIN bytes: a page that the next tensor
 * shares is not dropped and faulted in again, and small tensors cost no
 * system call each. */
#define DROP_MIN ((uintptr_t)1 << 20)

void lg__map_drop(lg_checkpoint *c, const void *p, uint64_t n)
{
    const unsigned char *b = p;
    if (!c->map || c->map_is_copy || !n || b < c->map || n > c->size ||
        (uint64_t)(b - c->map) > c->size - n)
        return;
    const unsigned char *e = b + n;
    if (c->drop_lo && (b > c->drop_hi || e < c->drop_lo))
        drop_pending(c);
    if (!c->drop_lo) {
        c->drop_lo = b;
        c->drop_hi = e;
    } else {
        c->drop_lo = b < c->drop_lo ? b : c->drop_lo;
        c->drop_hi = e > c->drop_hi ? e : c->drop_hi;
    }
    if ((uintptr_t)(c->drop_hi - c->drop_lo) >= DROP_MIN)
        drop_pending(c);
}

void lg__map_drop_tensor(lg_checkpoint *c, size_t i)
{
    if (!c->ops->bytes || c->map_is_copy || i >= c->ntensors)
        return;
    const void *src = c->ops->bytes(c, i);
    if (src)
        lg__map_drop(c, src, c->tensors[i].nbytes);
}

/* The load's observer, if any, sees tensor i's bytes as read: whole,
 * unless lg__copy_observed has just shown them run by run. */
static void seen(lg_checkpoint *c, size_t i, const void *bytes)
{
    if (c->shown == i + 1) {
        c->shown = 0;
        return;
    }
    if (c->on_read && bytes)
        c->on_read(c->on_read_ctx, i, 0, bytes, c->tensors[i].nbytes);
}

/* Runs of a copy: each is still in the cache (L2 here) when the CRC-32
 * and the observer read it back. */
#define COPY_RUN ((size_t)LG_READ_PIECE)
/* A copy is shared among threads when each gets at least this many runs
 * (2 MiB): the first touch of the new tensor's pages, which is most of a
 * copy into fresh memory, then runs on several CPUs at once. */
#define COPY_THREAD_RUNS 8
#define COPY_MAX_THREADS 8

/* The threads a load copies with when its options say 0: LOADGATE_THREADS
 * if it is a number from 1 to 8 (nothing else around it), else one per
 * online CPU, at most 4. Read once per process. */
static int threads_auto(void)
{
    static atomic_int cached;
    int n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n)
        return n;
    const char *e = getenv("LOADGATE_THREADS");
    char *end = NULL;
    long v = e && *e ? strtol(e, &end, 10) : 0;
    if (v < 1 || v > COPY_MAX_THREADS || *end) {
        v = sysconf(_SC_NPROCESSORS_ONLN);
        v = v < 1 ? 1 : v > 4 ? 4 : v;
    }
    atomic_store_explicit(&cached, (int)v, memory_order_relaxed);
    return (int)v;
}

/* One thread's share of a copy: bytes [from, to) of tensor i, in runs;
 * its CRC-32 starts from crc. */
typedef struct {
    lg_checkpoint *c;
    size_t i;
    unsigned char *dst;
    const unsigned char *src;
    uint64_t from, to;
    int want_crc;
    uint32_t crc;
} copy_part;

static void copy_runs(copy_part *p)
{
    for (uint64_t at = p->from; at < p->to; at += COPY_RUN) {
        size_t len = p->to - at < COPY_RUN ? (size_t)(p->to - at) : COPY_RUN;
        const unsigned char *run = p->src + at;
        if (p->dst) {
            memcpy(p->dst + at, run, len);
            run = p->dst + at;
        }
        if (p->want_crc)
            p->crc = libdeflate_crc32(p->crc, run, len);
        if (p->c->on_read)
            p->c->on_read(p->c->on_read_ctx, p->i, at, run, len);
    }
}

static void *copy_thread(void *arg)
{
    copy_runs(arg);
    return NULL;
}

void lg__copy_observed(lg_checkpoint *c, size_t i, unsigned char *dst,
                       const unsigned char *src, uint64_t n, uint32_t *crc)
{
    c->shown = 0;
    uint64_t runs = (n + COPY_RUN - 1) / COPY_RUN;
    int want = c->threads > 0 ? c->threads : threads_auto();
    if (want > COPY_MAX_THREADS)
        want = COPY_MAX_THREADS;
    int t = runs / COPY_THREAD_RUNS < (uint64_t)want ? (int)(runs / COPY_THREAD_RUNS) : want;
    if (t < 1)
        t = 1;
    copy_part part[COPY_MAX_THREADS];
    pthread_t th[COPY_MAX_THREADS];
    int started[COPY_MAX_THREADS] = {0};
    uint64_t per = (runs + (uint64_t)t - 1) / (uint64_t)t * COPY_RUN;
    for (int k = 0; k < t; k++) {
        uint64_t from = (uint64_t)k * per, to = from + per;
        part[k] = (copy_part){c, i, dst, src, from < n ? from : n, to < n ? to : n,
                              crc != NULL, 0};
    }
    if (crc)
        part[0].crc = *crc;
    for (int k = 1; k < t; k++)
        started[k] = pthread_create(&th[k], NULL, copy_thread, &part[k]) == 0;
    copy_runs(&part[0]);
    for (int k = 1; k < t; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            copy_runs(&part[k]); /* no thread to be had: this one does it */
    }
    if (crc) {
        uint32_t x = part[0].crc;
        for (int k = 1; k < t; k++)
            x = (uint32_t)crc32_combine(x, part[k].crc, (z_off_t)(part[k].to - part[k].from));
        *crc = x;
    }
    if (c->on_read && n)
        c->shown = i + 1;
}

/* Tensor i's bytes read to a buffer of their own (the reader keeps none
 * in place); *out is freed by the caller. */
static lg_status read_aside(lg_checkpoint *c, size_t i, void **out)
{
    const lg_tensor_info *ti = &c->tensors[i];
    if (!(*out = lg__malloc(ti->nbytes ? (size_t)ti->nbytes : 1)))
        return lg__err(LG_E_NOMEM, "%s: tensor \"%s\": out of memory reading %llu bytes",
                       c->path, ti->name, (unsigned long long)ti->nbytes);
    lg_status st = c->ops->read(c, i, *out);
    if (st != LG_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* Casts numel elements of tensor i (src: its bytes) into dst, dtype t, in
 * runs; each run's source pages are dropped once cast. */
static void cast_runs(lg_checkpoint *c, lg_dtype t, void *dst, lg_dtype from, const void *src,
                      uint64_t numel)
{
    size_t es = lg_dtype_size(from), et = lg_dtype_size(t);
    for (uint64_t at = 0; at < numel; at += CAST_RUN) {
        size_t n = numel - at < CAST_RUN ? (size_t)(numel - at) : CAST_RUN;
        const unsigned char *s = (const unsigned char *)src + at * es;
        lg__cast(t, (unsigned char *)dst + at * et, from, s, n);
        lg__map_drop(c, s, (uint64_t)n * es);
    }
}

/* Tensor i into host memory dst, in dtype t: the reader's own copy (one
 * pass) or a cast from its bytes in place. */
static lg_status fill_host(lg_checkpoint *c, size_t i, lg_dtype t, void *dst)
{
    const lg_tensor_info *ti = &c->tensors[i];
    uint64_t numel = 0;
    if (t == ti->dtype) {
        lg_status st = ti->nbytes ? c->ops->read(c, i, dst) : LG_OK;
        if (st == LG_OK) {
            seen(c, i, dst);
            lg__map_drop_tensor(c, i);
        }
        return st;
    }
    lg__numel(ti->ndim, ti->shape, &numel);
    const void *src = c->ops->bytes ? c->ops->bytes(c, i) : NULL;
    if (src || !ti->nbytes) {
        seen(c, i, src ? src : dst);
        cast_runs(c, t, dst, ti->dtype, src, numel);
        return LG_OK;
    }
    void *tmp;
    lg_status st = read_aside(c, i, &tmp);
    if (st == LG_OK) {
        seen(c, i, tmp);
        lg__cast(t, dst, ti->dtype, tmp, (size_t)numel);
    }
    free(tmp);
    return st;
}

/* Tensor i, in dtype t (nb bytes), through the backend's write() into
 * dst: from the map where the reader has the bytes in place, else from a
 * buffer; cast on the host first when t is not the file's dtype. */
static lg_status write_via(lg_checkpoint *c, size_t i, lg_backend *b, void *dst, lg_dtype t,
                           uint64_t nb)
{
    const lg_tensor_info *ti = &c->tensors[i];
    const void *src = c->ops->bytes ? c->ops->bytes(c, i) : NULL;
    void *tmp = NULL, *cast = NULL;
    lg_status st = LG_OK;
    if (!src && ti->nbytes && (st = read_aside(c, i, &tmp)) != LG_OK)
        return st;
    const void *from = tmp ? tmp : src;
    seen(c, i, from ? from : "");
    if (t != ti->dtype) {
        uint64_t numel = 0;
        lg__numel(ti->ndim, ti->shape, &numel);
        if (!(cast = lg__malloc(nb ? (size_t)nb : 1)))
            st = lg__err(LG_E_NOMEM, "%s: tensor \"%s\": out of memory casting %llu bytes",
                         c->path, ti->name, (unsigned long long)nb);
        else
            lg__cast(t, cast, ti->dtype, from, (size_t)numel);
        from = cast;
    }
    if (st == LG_OK)
        st = b->ops->write(b, dst, from, (size_t)nb);
    if (src)
        lg__map_drop(c, src, ti->nbytes);
    free(tmp);
    free(cast);
    return st;
}

/* Tensor i's bytes in place in the map (the reader's in_place), when they
 * lie inside it and are aligned to align; NULL otherwise. Nothing is
 * read, checked or shown. */
static const unsigned char *in_map(lg_checkpoint *c, size_t i, size_t align)
{
    const lg_tensor_info *ti = &c->tensors[i];
    const unsigned char *src = c->ops->in_place ? c->ops->in_place(c, i) : NULL;
    if (!src || src < c->map || (uint64_t)(src - c->map) > c->size ||
        ti->nbytes > c->size - (uint64_t)(src - c->map) || (uintptr_t)src % align)
        return NULL;
    return src;
}

/* Tensor i as a new tensor on d over its bytes in the map, with no copy
 * (the backend's wrap_host: torch's cpu tensors), holding a reference on
 * the map: 1 if it was tried (*st its status; *out the tensor on LG_OK),
 * 0 where it cannot be, with nothing read or shown and no fault point
 * met: the caller copies. It cannot be for another device or dtype, a map
 * that is a copy in memory, bytes not in place or not aligned, and a
 * tensor that is not the variable itself (c->final_cpu: staging, or a
 * source to copy from, whose bytes would be read after the checks of the
 * map below). As a copy does, it meets device.alloc before it reads, then
 * checks the bytes as read() would and shows them to the observer. */
static int over_map(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d, lg_dtype t,
                    void **out, lg_status *st)
{
    const lg_tensor_info *ti = &c->tensors[i];
    size_t es = lg_dtype_size(t);
    const unsigned char *src;
    lg__map_ref *ref;
    if (!c->over_map || !c->final_cpu || t != ti->dtype || !ti->nbytes || !es ||
        !lg__dev_wraps(x, d) || !(src = in_map(c, i, es)) ||
        !(ref = lg__map_ref_take(c)))
        return 0;
    *st = lg__dev_alloc_allowed(x, ti->name, d, ti->nbytes);
    if (*st == LG_OK) {
        if (c->ops->check_shown)
            *st = c->ops->check_shown(c, i);
        else
            lg__copy_observed(c, i, NULL, src, ti->nbytes, NULL);
    }
    c->shown = 0; /* shown whole, as seen() would after a copy */
    if (*st != LG_OK) {
        lg__map_ref_release(ref);
        return 1;
    }
    /* Nothing may have read the bytes (no observer, no CRC-32): the last
     * one read here meets a file cut short before it, as a copy would,
     * and the check below refuses the tensor. */
    (void)*(const volatile unsigned char *)(src + ti->nbytes - 1);
    *st = lg__dev_wrap(x, ti->name, d, t, ti->ndim, ti->shape, src, ti->nbytes,
                       lg__map_ref_release, ref, out);
    if (*st == LG_OK && lg__map_check(c) != LG_OK) { /* the file was cut short under the look */
        lg__dev_free(x, ti->name, d, ti->nbytes, *out);
        *out = NULL;
        *st = LG_E_IO;
    }
    return 1;
}

/* A new tensor on d of dtype t (nb bytes) holding tensor i (trace: alloc,
 * deserialize): over the map where it can be, else a copy. */
static lg_status deserialize_to(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d,
                                lg_dtype t, uint64_t nb, void **out)
{
    const lg_tensor_info *ti = &c->tensors[i];
    lg_backend *b = x->b;
    void *dst = NULL, *host = NULL;
    lg_status st = b->ops->check_deserialize(b, d);
    if (st == LG_OK && !over_map(c, i, x, d, t, &dst, &st) &&
        (st = lg__dev_alloc(x, ti->name, d, t, ti->ndim, ti->shape, nb, &dst)) == LG_OK) {
        if (d.type == LG_DEV_CPU && b->ops->host_data)
            host = b->ops->host_data(b, dst);
        st = host ? fill_host(c, i, t, host) : write_via(c, i, b, dst, t, nb);
        if (lg__map_check(c) != LG_OK) /* the file was cut short under the read */
            st = LG_E_IO;
        if (st != LG_OK) {
            lg__dev_free(x, ti->name, d, nb, dst);
            dst = NULL;
        }
    }
    lg__trace_add(x->trace, LG_OP_DESERIALIZE, ti->name, lg_device_cpu(), d, nb, st == LG_OK,
                  NULL);
    if (st == LG_OK)
        *out = dst;
    return st;
}

lg_status lg__checkpoint_deserialize(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d,
                                     void **out)
{
    const lg_tensor_info *ti = &c->tensors[i];
    if (c->ops->deserialize) {
        lg_status st = c->ops->deserialize(c, i, x, d, out);
        if (lg__map_check(c) != LG_OK) { /* libtorch read the file cut short */
            if (st == LG_OK)
                x->b->ops->free(x->b, *out);
            *out = NULL;
            st = LG_E_IO;
        }
        lg__trace_add(x->trace, LG_OP_DESERIALIZE, ti->name, lg_device_cpu(), d, ti->nbytes,
                      st == LG_OK, NULL);
        return st;
    }
    return deserialize_to(c, i, x, d, ti->dtype, ti->nbytes, out);
}

lg_status lg__checkpoint_deserialize_as(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d,
                                        lg_dtype t, void **out)
{
    const lg_tensor_info *ti = &c->tensors[i];
    if (t == ti->dtype)
        return lg__checkpoint_deserialize(c, i, x, d, out);
    uint64_t numel = 0, nb = 0;
    if (!lg__numel(ti->ndim, ti->shape, &numel) || !lg__nbytes(t, ti->ndim, ti->shape, &nb) ||
        nb > SIZE_MAX)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": too large to cast to %s", c->path,
                       ti->name, lg_dtype_name(t));
    return deserialize_to(c, i, x, d, t, nb, out);
}
