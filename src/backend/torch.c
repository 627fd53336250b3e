/* The torch backend: tensors are libtorch tensors, reached only through the
 * shim (torch_shim.h), which lives in the torch module, libloadgate-torch.so,
 * loaded when the backend is first opened (module.c). Also
 * lg_libtorch_version(), lg_torch_write_archive(), lg_torch_write_file()
 * and lg_torch_read_archive(), which exist in every build and answer "none"
 * / LG_E_BACKEND when the build has no libtorch or the module is missing. */
#include "backend/backend.h"
#include "backend/torch_shim.h"
#include "formats/format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef LOADGATE_HAVE_TORCH
#include "backend/torch_module.h"

/* direct_ok answers, cached per backend: cpu, mps, and cuda:0..N-1. */
#define TORCH_CUDA_CACHED 16
enum { DIRECT_UNKNOWN = 0, DIRECT_YES, DIRECT_NO };

typedef struct {
    lgt_pool *pool;
    unsigned char direct_cpu, direct_mps, direct_cuda[TORCH_CUDA_CACHED];
} torch_priv;

static lg_status shim_err(lg_status st, const char *what)
{
    return lg__err(st, "%s: %s", what, lgt_last_error());
}

static lg_status t_open(lg_backend *b)
{
    lg_status st = lg_torch_module_load();
    if (st != LG_OK)
        return st;
    torch_priv *p = lg__calloc(1, sizeof *p);
    if (!p)
        return lg__err(LG_E_NOMEM, "out of memory opening the torch backend");
    st = lgt_pool_new(&p->pool);
    if (st != LG_OK) {
        free(p);
        return shim_err(st, "torch backend");
    }
    b->priv = p;
    return LG_OK;
}

static void t_close(lg_backend *b)
{
    torch_priv *p = b->priv;
    if (!p)
        return;
    lgt_pool_release(p->pool);
    free(p);
    b->priv = NULL;
}

static int t_has_device(lg_backend *b, lg_device d) { return lgt_has_device(d); }

static unsigned char *direct_slot(torch_priv *p, lg_device d)
{
    switch (d.type) {
    case LG_DEV_CPU: return d.index == 0 ? &p->direct_cpu : NULL; /* cpu:1 is not cpu */
    case LG_DEV_MPS: return d.index == 0 ? &p->direct_mps : NULL;
    case LG_DEV_CUDA:
        return d.index >= 0 && d.index < TORCH_CUDA_CACHED ? &p->direct_cuda[d.index] : NULL;
    }
    return NULL;
}

/* Decided by trying: a tiny archive, written in memory, is deserialized
 * onto d by libtorch, and its values are checked. Device availability alone
 * would say yes for mps on a Mac with libtorch 1.13, whose unpickler still
 * refuses mps. The answer is cached per backend and device. */
static int t_direct_ok(lg_backend *b, lg_device d)
{
    torch_priv *p = b->priv;
    unsigned char *slot = direct_slot(p, d);
    if (slot && *slot != DIRECT_UNKNOWN)
        return *slot == DIRECT_YES;
    int ok = lgt_has_device(d) && lgt_probe_direct(d) == LG_OK;
    if (slot)
        *slot = ok ? DIRECT_YES : DIRECT_NO;
    return ok;
}

static lg_status device_refusal(lg_device d, const char *doing)
{
    char dn[LG_DEVICE_NAME_MAX];
    lg_status st = lgt_device_error(d);
    if (st == LG_OK)
        return LG_OK;
    return lg__err(LG_E_DEVICE, "%s %s: %s", doing, lg_device_format(d, dn), lgt_last_error());
}

/* The native readers hand host bytes to the backend: that works wherever
 * the device exists. */
static lg_status t_check_deserialize(lg_backend *b, lg_device d)
{
    return device_refusal(d, "deserialize onto");
}

static lg_status t_check_dtype(lg_backend *b, lg_device d, lg_dtype t)
{
    if (d.type == LG_DEV_MPS && t == LG_F64)
        return lg__err(LG_E_DTYPE, "Cannot convert a MPS Tensor to float64 dtype as the MPS "
                                   "framework doesn't support float64. Please use float32 "
                                   "instead.");
    return LG_OK;
}

static lg_status t_alloc(lg_backend *b, lg_device d, lg_dtype t, int ndim, const int64_t *shape,
                         void **out)
{
    torch_priv *p = b->priv;
    char dn[LG_DEVICE_NAME_MAX];
    lgt_tensor *x = NULL;
    lg_status st = lgt_empty(p->pool, d, t, ndim, shape, &x);
    if (st != LG_OK)
        return lg__err(st, "allocating on %s: %s", lg_device_format(d, dn), lgt_last_error());
    *out = x;
    return LG_OK;
}

static void t_free(lg_backend *b, void *t) { lgt_free(t); }

static lg_status t_write(lg_backend *b, void *t, const void *src, size_t n)
{
    lg_status st = lgt_write(t, src, n);
    return st == LG_OK ? LG_OK : shim_err(st, "copy from host");
}

static lg_status t_read(lg_backend *b, void *t, void *dst, size_t n)
{
    lg_status st = lgt_read(t, dst, n);
    return st == LG_OK ? LG_OK : shim_err(st, "copy to host");
}

static lg_status t_copy(lg_backend *b, void *dst, void *src)
{
    lg_status st = lgt_copy(dst, src);
    return st == LG_OK ? LG_OK : shim_err(st, "copy");
}

static lg_status t_device_of(lg_backend *b, void *t, lg_device *out)
{
    lg_status st = lgt_device_of(t, out);
    return st == LG_OK ? LG_OK : shim_err(st, "device of a tensor");
}

/* A cpu tensor's bytes, when it owns them: a load to cpu reads the file
 * straight into them (formats/deserialize.c); NULL for one over a
 * checkpoint's read-only mapping (lg__torch_wrap_host). */
static void *t_host_data(lg_backend *b, void *t) { return lgt_host_data(t); }
/* A contiguous cpu tensor's read() is a copy of these bytes: its own, or
 * the mapping's under a tensor built over it. */
static const void *t_peek(lg_backend *b, void *t) { return lgt_host_bytes(t); }

/* lgt_empty zeroes cpu tensors only (calloc); cuda and mps tensors come
 * from at::empty, unzeroed. */
static int t_alloc_zeroed_on(lg_backend *b, lg_device d) { return d.type == LG_DEV_CPU; }

/* A cpu tensor over host bytes (from_blob; lgt_from_host); none, and the
 * caller copies, on another device or from unaligned bytes. */
static lg_status t_wrap_host(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                             const int64_t *shape, const void *src, uint64_t nbytes,
                             void (*release)(void *ctx), void *ctx, void **out)
{
    torch_priv *p = b->priv;
    size_t es = lg_dtype_size(t);
    *out = NULL;
    if (d.type != LG_DEV_CPU || !es || (uintptr_t)src % es || nbytes > SIZE_MAX) {
        release(ctx);
        return LG_OK;
    }
    lgt_tensor *x = NULL;
    lg_status st = lgt_from_host(p->pool, t, ndim, shape, src, (size_t)nbytes, release, ctx, &x);
    if (st != LG_OK)
        return shim_err(st, "tensor over host memory");
    *out = x;
    return LG_OK;
}

static size_t t_live(lg_backend *b)
{
    torch_priv *p = b->priv;
    return lgt_pool_live(p->pool);
}

static uint64_t t_device_bytes(lg_backend *b, lg_device d)
{
    torch_priv *p = b->priv;
    return lgt_pool_bytes(p->pool, d);
}

const lg__backend_ops lg__torch_ops = {
    .name = "torch",
    .open = t_open,
    .close = t_close,
    .has_device = t_has_device,
    .direct_ok = t_direct_ok,
    .check_deserialize = t_check_deserialize,
    .check_dtype = t_check_dtype,
    .alloc = t_alloc,
    .free = t_free,
    .write = t_write,
    .read = t_read,
    .copy = t_copy,
    .device_of = t_device_of,
    .live = t_live,
    .device_bytes = t_device_bytes,
    .host_data = t_host_data,
    .peek = t_peek,
    .alloc_zeroed_on = t_alloc_zeroed_on,
    .wrap_host = t_wrap_host,
};

lgt_pool *lg__torch_pool(lg_backend *b)
{
    if (!b || b->ops != &lg__torch_ops || !b->priv)
        return NULL;
    return ((torch_priv *)b->priv)->pool;
}

void lg__torch_set_staging(lg_backend *b, uint64_t bytes)
{
    lgt_pool *p = lg__torch_pool(b);
    if (p)
        lgt_pool_set_staging(p, bytes);
}

lg_status lg__torch_wrap_host(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                              const int64_t *shape, const void *src, uint64_t nbytes,
                              void (*release)(void *ctx), void *ctx, void **out)
{
    if (!lg__torch_pool(b)) {
        *out = NULL;
        release(ctx);
        return LG_OK;
    }
    return t_wrap_host(b, d, t, ndim, shape, src, nbytes, release, ctx, out);
}

const char *lg_libtorch_version(void) { return lg__torch_module_version(); }

void lg_torch_set_threads(int n) { lgt_set_threads(n); }

/* The libtorch readers and writers by name: every reader, and every
 * writer but torchscript's. */
static const struct {
    const char *name;
    lgt_loader how;
    const char *kind; /* for messages */
} torch_formats[] = {
    {"torch-archive", LGT_ARCHIVE, "a libtorch archive"},
    {"torchscript", LGT_SCRIPT, "a TorchScript module"},
    {"torch-params", LGT_PARAMS, "a libtorch parameters file"},
    {"torch-pickle", LGT_PICKLE, "a libtorch pickle"},
};
#define TORCH_FORMATS (sizeof torch_formats / sizeof torch_formats[0])
#define TORCH_READER_NAMES "torch-archive, torchscript, torch-params or torch-pickle"
#define TORCH_WRITER_NAMES "torch-archive, torch-params or torch-pickle"

static int format_index(const char *name)
{
    for (size_t i = 0; name && i < TORCH_FORMATS; i++)
        if (!strcmp(torch_formats[i].name, name))
            return (int)i;
    return -1;
}

lg_status lg_torch_write_file(const char *path, const char *format, const lg_named_data *t,
                              size_t n)
{
    int k = format_index(format);
    if (!path || (n && !t))
        return lg__err(LG_E_INVALID, "lg_torch_write_file: path and tensors are required");
    if (k < 0 || torch_formats[k].how == LGT_SCRIPT)
        return lg__err(LG_E_INVALID, "%s: \"%s\" is not a libtorch writer (%s)", path,
                       format ? format : "(null)", TORCH_WRITER_NAMES);
    if (lg_torch_module_load() != LG_OK)
        return lg__err(LG_E_BACKEND, "%s: cannot write %s: %s", path, torch_formats[k].kind,
                       lg__torch_module_error());
    lg_status st = lgt_file_write(torch_formats[k].how, path, t, n);
    if (st != LG_OK)
        return lg__err(st, "%s: writing %s: %s", path, torch_formats[k].kind, lgt_last_error());
    return LG_OK;
}

lg_status lg_torch_write_archive(const char *path, const lg_named_data *t, size_t n)
{
    if (!path || (n && !t))
        return lg__err(LG_E_INVALID, "lg_torch_write_archive: path and tensors are required");
    return lg_torch_write_file(path, "torch-archive", t, n);
}

static lg_status loader_named(const char *reader, lgt_loader *how)
{
    int k = format_index(reader ? reader : "torch-archive");
    if (k < 0)
        return lg__err(LG_E_INVALID, "reader \"%s\" is not a libtorch reader (%s)", reader,
                       TORCH_READER_NAMES);
    *how = torch_formats[k].how;
    return LG_OK;
}

/* Tensor i of a: copied to host and handed to fn. */
static lg_status hand_over(lgt_archive *a, size_t i, const char *path, lg_torch_tensor_fn fn,
                           void *ctx, int *stop)
{
    lg_named_data t = {0};
    int64_t shape[LG_MAX_DIMS];
    uint64_t nbytes = 0;
    lg_device where;
    lg_status st = lgt_archive_info(a, i, &t.name, &t.dtype, &t.ndim, shape);
    if (st == LG_OK)
        st = lgt_archive_device(a, i, &where);
    if (st != LG_OK) /* a dtype, layout or shape loadgate cannot take */
        return lg__err(st, "%s: tensor \"%s\": %s", path, t.name ? t.name : "?",
                       lgt_last_error());
    if (!lg__nbytes(t.dtype, t.ndim, shape, &nbytes) || nbytes > SIZE_MAX)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": size overflows", path, t.name);
    void *buf = lg__malloc((size_t)nbytes);
    if (!buf)
        return lg__err(LG_E_NOMEM, "%s: tensor \"%s\": out of memory", path, t.name);
    st = lgt_archive_read(a, i, buf, (size_t)nbytes);
    if (st != LG_OK) {
        st = lg__err(st, "%s: tensor \"%s\": %s", path, t.name, lgt_last_error());
    } else {
        t.shape = shape;
        t.data = buf;
        *stop = fn(ctx, &t, where);
    }
    free(buf);
    return st;
}

/* Before any tensor is handed over: the bytes they claim in all, bounded
 * by the file's size as the checkpoint readers bound them. A tensor that
 * cannot be described is left to hand_over, which names the problem. */
static lg_status check_claims(lgt_archive *a, size_t n, const char *path, uint64_t size)
{
    uint64_t claimed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        lg_dtype dt;
        int ndim;
        int64_t shape[LG_MAX_DIMS];
        uint64_t nbytes = 0;
        if (lgt_archive_info(a, i, &name, &dt, &ndim, shape) != LG_OK ||
            !lg__nbytes(dt, ndim, shape, &nbytes))
            continue;
        lg_status st = lg__claimed_add(path, size, name, nbytes, &claimed);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

lg_status lg_torch_read_archive(const char *path, const char *reader, lg_device d,
                                lg_torch_tensor_fn fn, void *ctx)
{
    char dn[LG_DEVICE_NAME_MAX];
    lgt_loader how = LGT_ARCHIVE;
    lgt_archive *a = NULL;
    if (!path || !fn)
        return lg__err(LG_E_INVALID, "lg_torch_read_archive: path and fn are required");
    /* The file once, in memory: a path handed to libtorch would be opened
     * again, and could be read as another format or changed in between. */
    lg_checkpoint c = {.path = (char *)path, .fd = -1};
    lg_status st = loader_named(reader, &how);
    if (st == LG_OK && lg_torch_module_load() != LG_OK)
        return lg__err(LG_E_BACKEND, "%s: cannot read with libtorch: %s", path,
                       lg__torch_module_error());
    if (st == LG_OK)
        st = lg__checkpoint_read(&c);
    if (st != LG_OK)
        return st;
    /* for the messages of the code check: its kind of file */
    static const lg__reader_ops pickle_kind = {.name = "torch-pickle"};
    c.ops = how == LGT_SCRIPT   ? &lg__torchscript_reader
            : how == LGT_PARAMS ? &lg__torch_params_reader
            : how == LGT_PICKLE ? &pickle_kind
                                : &lg__torch_archive_reader;
    st = lg__archive_runs_no_code(&c);
    if (st == LG_OK && (st = lgt_archive_load(how, NULL, c.map, (size_t)c.size, d, &a)) != LG_OK)
        st = lg__err(st, "%s: loading onto %s: %s", path, lg_device_format(d, dn),
                     lgt_last_error());
    int stop = 0;
    size_t n = a ? lgt_archive_count(a) : 0;
    if (st == LG_OK)
        st = check_claims(a, n, path, c.size);
    for (size_t i = 0; st == LG_OK && !stop && i < n; i++)
        st = hand_over(a, i, path, fn, ctx, &stop);
    lgt_archive_free(a);
    free((void *)c.map);
    return st;
}

#else /* no libtorch in this build */

void lg__torch_set_staging(lg_backend *b, uint64_t bytes) { (void)b, (void)bytes; }

lg_status lg__torch_wrap_host(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                              const int64_t *shape, const void *src, uint64_t nbytes,
                              void (*release)(void *ctx), void *ctx, void **out)
{
    *out = NULL;
    release(ctx);
    return LG_OK;
}

const char *lg_libtorch_version(void) { return "none"; }

void lg_torch_set_threads(int n) { (void)n; }

lg_status lg_torch_write_archive(const char *path, const lg_named_data *t, size_t n)
{
    return lg__err(LG_E_BACKEND, "%s: cannot write a libtorch archive: this build has no "
                   "libtorch", path ? path : "(null)");
}

lg_status lg_torch_write_file(const char *path, const char *format, const lg_named_data *t,
                              size_t n)
{
    static const char *const writers[] = {"torch-archive", "torch-params", "torch-pickle"};
    int known = 0;
    for (size_t i = 0; format && i < 3; i++)
        known |= !strcmp(format, writers[i]);
    if (!known)
        return lg__err(LG_E_INVALID, "%s: \"%s\" is not a libtorch writer (torch-archive, "
                       "torch-params or torch-pickle)", path ? path : "(null)",
                       format ? format : "(null)");
    return lg__err(LG_E_BACKEND, "%s: cannot write %s: this build has no libtorch",
                   path ? path : "(null)", format);
}

lg_status lg_torch_read_archive(const char *path, const char *reader, lg_device d,
                                lg_torch_tensor_fn fn, void *ctx)
{
    return lg__err(LG_E_BACKEND, "%s: cannot read with libtorch: this build has no libtorch",
                   path ? path : "(null)");
}

#endif
