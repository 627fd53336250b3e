/* Backends as the core sees them: the public lg_backend_* calls, and the
 * tensor operations wrapped with the trace and the device.* fault points. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

lg_status lg_backend_open(const char *name, lg_backend **out)
{
    const lg__backend_ops *ops = NULL;
    if (name && !strcmp(name, "sim"))
        ops = &lg__sim_ops;
    else if (name && !strcmp(name, "torch")) {
#ifdef LOADGATE_HAVE_TORCH
        ops = &lg__torch_ops;
#else
        return lg__err(LG_E_BACKEND, "backend \"torch\": this build has no libtorch "
                                     "(configure with -DLOADGATE_WITH_TORCH=ON)");
#endif
    } else
        return lg__err(LG_E_INVALID, "unknown backend \"%s\" (expected sim or torch)",
                       name ? name : "(null)");
    lg_backend *b = calloc(1, sizeof *b);
    if (!b)
        return lg__err(LG_E_NOMEM, "out of memory opening backend %s", name);
    b->ops = ops;
    lg_status st = ops->open(b);
    if (st != LG_OK) {
        free(b);
        return st;
    }
    *out = b;
    return LG_OK;
}

void lg_backend_close(lg_backend *b)
{
    if (!b)
        return;
    b->ops->close(b);
    free(b);
}

const char *lg_backend_name(const lg_backend *b) { return b->ops->name; }
int lg_backend_has_device(lg_backend *b, lg_device d) { return b->ops->has_device(b, d); }
int lg_backend_direct_ok(lg_backend *b, lg_device d) { return b->ops->direct_ok(b, d); }
size_t lg_backend_live_tensors(lg_backend *b) { return b->ops->live(b); }
uint64_t lg_backend_device_bytes(lg_backend *b, lg_device d) { return b->ops->device_bytes(b, d); }

lg_status lg_sim_profile_set(lg_backend *b, lg_device d, const char *key, const char *value)
{
    if (!b || b->ops != &lg__sim_ops)
        return lg__err(LG_E_INVALID, "sim profile: the backend is not sim");
    return lg__sim_profile_set(b, d, key, value);
}

/* torch when its module is found (not loaded: docs/install.md). */
const char *lg_backends_built(void)
{
#ifdef LOADGATE_HAVE_TORCH
    return strcmp(lg_libtorch_version(), "none") ? "sim,torch" : "sim";
#else
    return "sim";
#endif
}

/* ------------------------------------------------------------ wrappers */

static lg_status injected(lg__dev *x, const char *point, const char *name, lg_device from,
                          lg_device to, uint64_t nbytes)
{
    lg__trace_add(x->trace, LG_OP_FAULT, name, from, to, nbytes, 0, point);
    return LG_OK;
}

/* The device.alloc fault point: LG_OK, or the injected out of memory. */
static lg_status alloc_fault(lg__dev *x, const char *name, lg_device d, uint64_t nbytes)
{
    char dn[LG_DEVICE_NAME_MAX];
    if (!lg__fault("device.alloc", NULL))
        return LG_OK;
    injected(x, "device.alloc", name, d, d, nbytes);
    return lg__err(LG_E_DEVICE, "%s: out of memory: tried to allocate %llu bytes for \"%s\"",
                   lg_device_format(d, dn), (unsigned long long)nbytes, name);
}

lg_status lg__dev_alloc(lg__dev *x, const char *name, lg_device d, lg_dtype t, int ndim,
                        const int64_t *shape, uint64_t nbytes, void **out)
{
    lg_status st = alloc_fault(x, name, d, nbytes);
    if (st == LG_OK)
        st = x->b->ops->alloc(x->b, d, t, ndim, shape, out);
    lg__trace_add(x->trace, LG_OP_ALLOC, name, d, d, nbytes, st == LG_OK, NULL);
    return st;
}

int lg__dev_wraps(lg__dev *x, lg_device d)
{
    return x->b->ops->wrap_host && d.type == LG_DEV_CPU;
}

lg_status lg__dev_alloc_allowed(lg__dev *x, const char *name, lg_device d, uint64_t nbytes)
{
    lg_status st = alloc_fault(x, name, d, nbytes);
    if (st != LG_OK)
        lg__trace_add(x->trace, LG_OP_ALLOC, name, d, d, nbytes, 0, NULL);
    return st;
}

lg_status lg__dev_wrap(lg__dev *x, const char *name, lg_device d, lg_dtype t, int ndim,
                       const int64_t *shape, const void *src, uint64_t nbytes,
                       void (*release)(void *ctx), void *ctx, void **out)
{
    void *dst = NULL;
    lg_status st = x->b->ops->wrap_host(x->b, d, t, ndim, shape, src, nbytes, release, ctx, &dst);
    if (st == LG_OK && !dst) /* refused what lg__dev_wraps and the alignment allowed */
        st = lg__err(LG_E_BACKEND, "\"%s\": the %s backend built no tensor over its bytes", name,
                     x->b->ops->name);
    lg__trace_add(x->trace, LG_OP_ALLOC, name, d, d, nbytes, st == LG_OK, NULL);
    if (st == LG_OK)
        *out = dst;
    return st;
}

void lg__dev_free(lg__dev *x, const char *name, lg_device d, uint64_t nbytes, void *t)
{
    if (!t)
        return;
    x->b->ops->free(x->b, t);
    lg__trace_add(x->trace, LG_OP_FREE, name, d, d, nbytes, 1, NULL);
}

static lg_status copy_fault(lg__dev *x, const char *name, lg_device from, lg_device to,
                            uint64_t nbytes)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    injected(x, "device.copy", name, from, to, nbytes);
    return lg__err(LG_E_DEVICE, "copy of \"%s\" from %s to %s failed (%llu bytes)", name,
                   lg_device_format(from, a), lg_device_format(to, b),
                   (unsigned long long)nbytes);
}

lg_status lg__dev_copy(lg__dev *x, const char *name, void *dst, lg_device to, void *src,
                       lg_device from, uint64_t nbytes)
{
    lg_status st;
    if (lg__fault("device.copy", NULL))
        st = copy_fault(x, name, from, to, nbytes);
    else
        st = x->b->ops->copy(x->b, dst, src);
    lg__trace_add(x->trace, LG_OP_COPY, name, from, to, nbytes, st == LG_OK, NULL);
    return st;
}

lg_status lg__dev_move(lg__dev *x, const char *point, const char *name, void *src,
                       lg_device from, lg_device to, lg_dtype t, int ndim,
                       const int64_t *shape, uint64_t nbytes, void **out)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    void *dst = NULL;
    lg_status st;
    if (lg__fault(point, NULL)) {
        injected(x, point, name, from, to, nbytes);
        st = lg__err(LG_E_DEVICE, "moving \"%s\" from %s to %s failed", name,
                     lg_device_format(from, a), lg_device_format(to, b));
        lg__trace_add(x->trace, LG_OP_MOVE, name, from, to, nbytes, 0, point);
        return st;
    }
    st = lg__dev_alloc(x, name, to, t, ndim, shape, nbytes, &dst);
    if (st == LG_OK) {
        /* a move is a copy between devices: device.copy applies too */
        st = lg__fault("device.copy", NULL) ? copy_fault(x, name, from, to, nbytes)
                                            : x->b->ops->copy(x->b, dst, src);
        if (st != LG_OK) {
            lg__dev_free(x, name, to, nbytes, dst);
            dst = NULL;
        }
    }
    lg__trace_add(x->trace, LG_OP_MOVE, name, from, to, nbytes, st == LG_OK, point);
    if (st == LG_OK)
        *out = dst;
    return st;
}
