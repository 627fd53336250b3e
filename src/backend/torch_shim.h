/* The C view of libtorch. torch_shim.cpp is the only file that includes a
 * libtorch header; everything declared here is plain C.
 *
 * Every function catches every exception at the boundary (as tch-rs's
 * PROTECT does) and returns an lg_status; the text of the last failure on
 * this thread is lgt_last_error(). Nothing here touches loadgate's own
 * error message: the C callers (torch.c, torch_archive.c) copy the text
 * into it, with their context. See docs/boundary.md. */
#ifndef LG_TORCH_SHIM_H
#define LG_TORCH_SHIM_H

#include "loadgate/loadgate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lgt_pool lgt_pool;       /* live-tensor accounting of one backend */
typedef struct lgt_tensor lgt_tensor;   /* one at::Tensor */
typedef struct lgt_archive lgt_archive; /* named tensors loaded from a file */

/* How an archive is read:
 * LGT_ARCHIVE: torch::serialize::InputArchive, its keys() (tch's at_load_multi);
 * LGT_SCRIPT:  torch::jit::load, named_parameters then named_buffers
 *              (tch's at_load_callback_with_device, VarStore::load);
 * LGT_PARAMS:  torch::jit::_load_parameters (tch's at_loadz_callback_with_device:
 *              Tensor::loadz_multi_with_device, VarStore::load of .pt and .bin);
 * LGT_PICKLE:  torch::pickle_load of the bytes, a dict of tensors, each then
 *              moved to the device with Tensor::to (pickle_load takes none). */
typedef enum { LGT_ARCHIVE, LGT_SCRIPT, LGT_PARAMS, LGT_PICKLE } lgt_loader;

/* ------------------------------------------------------------ process */
const char *lgt_last_error(void);   /* thread-local; "" if none */
const char *lgt_version(void);      /* TORCH_VERSION of the headers built against */
int lgt_has_device(lg_device d);    /* usable in this build and machine */
/* LG_OK if d is usable; else LG_E_DEVICE with libtorch's own words for
 * using it (e.g. "PyTorch is not linked with support for mps devices"). */
lg_status lgt_device_error(lg_device d);
/* LG_OK if a tiny archive, written in memory, deserializes straight onto d
 * with the values it was written with; else libtorch's refusal. */
lg_status lgt_probe_direct(lg_device d);
void lgt_set_threads(int n);

/* ---------------------------------------------------------------- pool */
lg_status lgt_pool_new(lgt_pool **out);
/* The owner lets go; the pool itself goes when its last tensor does. */
void lgt_pool_release(lgt_pool *p);
size_t lgt_pool_live(lgt_pool *p);
uint64_t lgt_pool_bytes(lgt_pool *p, lg_device d);
/* The staging budget of the pool's copies to a GPU (the ring of pinned
 * buffers, torch_ring.h, holds at most about that many bytes); 0: none,
 * the default ring. */
void lgt_pool_set_staging(lgt_pool *p, uint64_t bytes);

/* ------------------------------------------------------------- tensors */
/* A new tensor on d, counted in p. On cpu its memory is zeroed and its
 * pages untouched until written (calloc: a large one is fresh pages);
 * elsewhere its contents are unspecified. */
lg_status lgt_empty(lgt_pool *p, lg_device d, lg_dtype t, int ndim, const int64_t *shape,
                    lgt_tensor **out);
void lgt_free(lgt_tensor *t);
/* A cpu tensor over the n host bytes at data (at::from_blob), no copy,
 * counted in p. The caller hands over one reference on that memory:
 * release(ctx) is called exactly once, when libtorch lets go of the last
 * tensor over it, or before an error return (LG_E_INVALID: bad dtype or
 * shape, n not the tensor's size, data not aligned to the dtype). The
 * memory must stay readable and unchanged until then. A write into such a
 * tensor (lgt_write, lgt_copy) first gives it memory of its own. */
lg_status lgt_from_host(lgt_pool *p, lg_dtype t, int ndim, const int64_t *shape,
                        const void *data, size_t n, void (*release)(void *ctx), void *ctx,
                        lgt_tensor **out);
/* host -> t; onto a GPU, 1 MiB and more go through the ring of pinned
 * buffers on a stream of their own (docs/cuda-staging.md) */
lg_status lgt_write(lgt_tensor *t, const void *src, size_t n);
lg_status lgt_read(lgt_tensor *t, void *dst, size_t n);         /* t -> host */
/* dst.copy_(src); the dtypes and shapes must be equal: never broadcasts.
 * A contiguous cpu src to a GPU goes as lgt_write does, through the ring. */
lg_status lgt_copy(lgt_tensor *dst, lgt_tensor *src);
/* Where the tensor itself says it is (t.device()). */
lg_status lgt_device_of(lgt_tensor *t, lg_device *out);
/* t's bytes, writable in place in host memory: the data of a contiguous
 * cpu tensor that owns its memory. NULL for a tensor on another device,
 * one that is not contiguous, one of no bytes, and one over borrowed host
 * memory (lgt_from_host: a read-only mapping, until a write gives it memory
 * of its own). */
void *lgt_host_data(lgt_tensor *t);
/* t's bytes in host memory, to be read only: as lgt_host_data, and also
 * for a tensor over borrowed host memory. */
const void *lgt_host_bytes(lgt_tensor *t);

/* ------------------------------------------------------------ archives */
/* Writes named tensors as an OutputArchive, as tch's Tensor::save_multi
 * does: every '.' in a name is written as '|'. */
lg_status lgt_archive_write(const char *path, const lg_named_data *t, size_t n);
/* Writes named tensors as `how` reads them back: LGT_ARCHIVE as
 * lgt_archive_write; LGT_PARAMS with torch::jit::_save_parameters (zip, not
 * flatbuffer); LGT_PICKLE with torch::pickle_save of a Dict[str, Tensor].
 * Names are kept as they are, except LGT_ARCHIVE's '.' -> '|'. LGT_SCRIPT
 * is LG_E_INVALID (no module writer). */
lg_status lgt_file_write(lgt_loader how, const char *path, const lg_named_data *t, size_t n);
/* Loads onto d, from path (data NULL) or from size bytes at data. Names
 * are given back with '|' read as '.', as tch's load_multi does. A load
 * failure is LG_E_DEVICE when libtorch's text is about a device, else
 * LG_E_FORMAT. */
lg_status lgt_archive_load(lgt_loader how, const char *path, const void *data, size_t size,
                           lg_device d, lgt_archive **out);
void lgt_archive_free(lgt_archive *a);
size_t lgt_archive_count(const lgt_archive *a);
/* LGT_ARCHIVE only: 1 if some key is a submodule, not a tensor: the file
 * is a TorchScript module, not a flat archive. */
int lgt_archive_has_modules(const lgt_archive *a);
/* Name, dtype and shape of tensor i (shape: LG_MAX_DIMS entries).
 * LG_E_FORMAT for a dtype loadgate has no name for, or too many dims. */
lg_status lgt_archive_info(const lgt_archive *a, size_t i, const char **name, lg_dtype *t,
                           int *ndim, int64_t *shape);
/* index of name, or (size_t)-1 */
size_t lgt_archive_find(const lgt_archive *a, const char *name);
lg_status lgt_archive_read(lgt_archive *a, size_t i, void *dst, size_t n);
lg_status lgt_archive_device(lgt_archive *a, size_t i, lg_device *out);
/* Hands tensor i over as a tensor counted in p; the archive lets go of it
 * (a second take of i is LG_E_INVALID). */
lg_status lgt_archive_take(lgt_archive *a, size_t i, lgt_pool *p, lgt_tensor **out);

/* Implemented in torch.c, for the libtorch readers: the pool of a torch
 * backend, or NULL when b is not one. */
lgt_pool *lg__torch_pool(lg_backend *b);

/* Implemented in torch.c, in every build, for the core (no libtorch type
 * in them). The staging budget of b's copies to a GPU (lgt_pool_set_staging);
 * nothing when b is not a torch backend. */
void lg__torch_set_staging(lg_backend *b, uint64_t bytes);
/* A tensor on cpu over nbytes of host memory at src that a reference keeps
 * (a checkpoint's mapping), instead of a copy. The caller hands over one
 * reference: release(ctx) is called exactly once, when the last tensor
 * over the memory is freed, or before this returns without a tensor.
 * LG_OK with *out set; LG_OK with *out NULL when the bytes must be copied
 * instead (b is not a torch backend, d is not cpu, src is not aligned to
 * the dtype, no libtorch); else the error, message set. */
lg_status lg__torch_wrap_host(lg_backend *b, lg_device d, lg_dtype t, int ndim,
                              const int64_t *shape, const void *src, uint64_t nbytes,
                              void (*release)(void *ctx), void *ctx, void **out);

#ifdef __cplusplus
}
#endif

#endif
