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

/* ------------------------------------------------------------- tensors */
/* A new tensor on d (contents unspecified), counted in p. */
lg_status lgt_empty(lgt_pool *p, lg_device d, lg_dtype t, int ndim, const int64_t *shape,
                    lgt_tensor **out);
void lgt_free(lgt_tensor *t);
lg_status lgt_write(lgt_tensor *t, const void *src, size_t n);  /* host -> t */
lg_status lgt_read(lgt_tensor *t, void *dst, size_t n);         /* t -> host */
/* dst.copy_(src); the dtypes and shapes must be equal: never broadcasts. */
lg_status lgt_copy(lgt_tensor *dst, lgt_tensor *src);
/* Where the tensor itself says it is (t.device()). */
lg_status lgt_device_of(lgt_tensor *t, lg_device *out);

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

#ifdef __cplusplus
}
#endif

#endif
