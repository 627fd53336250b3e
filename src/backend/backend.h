/* The backend interface: what tensors live in. Each backend implements the
 * ops; src/core/dev.c wraps them with the trace and the device.* faults. */
#ifndef LG_BACKEND_H
#define LG_BACKEND_H

#include "core/internal.h"

typedef struct lg__backend_ops {
    const char *name;
    lg_status (*open)(lg_backend *b);
    void (*close)(lg_backend *b);
    int (*has_device)(lg_backend *b, lg_device d);
    /* 1 if a checkpoint can be deserialized straight onto d. */
    int (*direct_ok)(lg_backend *b, lg_device d);
    /* LG_OK, or the backend's refusal (LG_E_DEVICE, message set) to
     * deserialize onto d. */
    lg_status (*check_deserialize)(lg_backend *b, lg_device d);
    /* LG_OK, or LG_E_DTYPE with the device's message. */
    lg_status (*check_dtype)(lg_backend *b, lg_device d, lg_dtype t);
    /* A new tensor on d (contents unspecified). LG_E_DEVICE when d is
     * absent or out of memory. */
    lg_status (*alloc)(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                       const int64_t *shape, void **out);
    void (*free)(lg_backend *b, void *t);
    lg_status (*write)(lg_backend *b, void *t, const void *src, size_t n); /* host -> t */
    lg_status (*read)(lg_backend *b, void *t, void *dst, size_t n);        /* t -> host */
    lg_status (*copy)(lg_backend *b, void *dst, void *src);  /* same dtype and size */
    /* Where the backend itself says the tensor is. */
    lg_status (*device_of)(lg_backend *b, void *t, lg_device *out);
    size_t (*live)(lg_backend *b);
    uint64_t (*device_bytes)(lg_backend *b, lg_device d);
    /* Optional: tensor t's bytes, writable in place in host memory, when
     * the backend keeps them there (sim); NULL otherwise. A load to cpu
     * reads the file straight into them (formats/deserialize.c). */
    void *(*host_data)(lg_backend *b, void *t);
    /* Optional: tensor t's bytes in place in host memory, to be read
     * only, when they are what read() would copy out (lg_store_peek);
     * NULL otherwise. */
    const void *(*peek)(lg_backend *b, void *t);
    /* Optional: a new tensor on d, in dtype t, over n bytes of read-only
     * host memory at src (aligned to t's size), with no copy: release(ctx)
     * is called once, when the last tensor over the memory has gone, or
     * at once when none is made. The tensor gets memory of its own before
     * it is first written. *out is NULL, with LG_OK, where the backend
     * builds none (a device other than cpu): the caller copies. */
    lg_status (*wrap_host)(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                           const int64_t *shape, const void *src, uint64_t n,
                           void (*release)(void *ctx), void *ctx, void **out);
    /* 1 if alloc() gives zeroed memory: lg_store_add writes no zeros. */
    int alloc_zeroed;
    /* Optional, for a backend whose allocations are zeroed on some devices
     * only (torch: cpu): 1 if alloc() on d gives zeroed memory. */
    int (*alloc_zeroed_on)(lg_backend *b, lg_device d);
} lg__backend_ops;

struct lg_backend {
    const lg__backend_ops *ops;
    void *priv;
};

/* 1 if b's alloc() on d gives zeroed memory (alloc_zeroed, or
 * alloc_zeroed_on for d). */
static inline int lg__alloc_zeroed(lg_backend *b, lg_device d)
{
    return b->ops->alloc_zeroed || (b->ops->alloc_zeroed_on && b->ops->alloc_zeroed_on(b, d));
}

extern const lg__backend_ops lg__sim_ops;
#ifdef LOADGATE_HAVE_TORCH
extern const lg__backend_ops lg__torch_ops;
#endif

/* sim.c */
lg_status lg__sim_profile_set(lg_backend *b, lg_device d, const char *key, const char *value);

/* dev.c: the backend ops as the core calls them, with trace and faults.
 * `name` is the tensor's name for the trace. */
typedef struct {
    lg_backend *b;
    lg_trace *trace; /* may be NULL */
} lg__dev;

lg_status lg__dev_alloc(lg__dev *x, const char *name, lg_device d, lg_dtype t, int ndim,
                        const int64_t *shape, uint64_t nbytes, void **out);
/* 1 if lg__dev_wrap can build a tensor on d over host bytes (the backend's
 * wrap_host: torch, cpu); the bytes must be aligned to their dtype's size. */
int lg__dev_wraps(lg__dev *x, lg_device d);
/* The device.alloc fault point of a tensor about to be made by
 * lg__dev_wrap, met before its bytes are read, as lg__dev_alloc meets it
 * before a copy: LG_OK, or the injected failure, traced as lg__dev_alloc
 * traces it. */
lg_status lg__dev_alloc_allowed(lg__dev *x, const char *name, lg_device d, uint64_t nbytes);
/* After lg__dev_alloc_allowed, where lg__dev_wraps holds, for bytes at src
 * aligned to t's size: a new tensor on d over nbytes of read-only host
 * bytes, with no copy (trace: alloc). release(ctx) is called when the last
 * tensor over them has gone, or at once on an error. */
lg_status lg__dev_wrap(lg__dev *x, const char *name, lg_device d, lg_dtype t, int ndim,
                       const int64_t *shape, const void *src, uint64_t nbytes,
                       void (*release)(void *ctx), void *ctx, void **out);
void lg__dev_free(lg__dev *x, const char *name, lg_device d, uint64_t nbytes, void *t);
/* tensor -> tensor (trace: copy from -> to; fault device.copy) */
lg_status lg__dev_copy(lg__dev *x, const char *name, void *dst, lg_device to, void *src,
                       lg_device from, uint64_t nbytes);
/* A copy of src on `to` (alloc + copy; trace: move; fault `point`,
 * "store.move" or "store.restore"). */
lg_status lg__dev_move(lg__dev *x, const char *point, const char *name, void *src,
                       lg_device from, lg_device to, lg_dtype t, int ndim,
                       const int64_t *shape, uint64_t nbytes, void **out);
#endif
