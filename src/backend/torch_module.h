/* The torch module's boundary: libloadgate-torch.so holds the shim
 * (torch_shim.cpp, libtorch and the C++ runtime) and exports one symbol,
 * LGT_MODULE_ENTRY, a function that returns the table below. libloadgate
 * itself links no libtorch: module.c defines every lgt_* function of
 * torch_shim.h as a call through this table, loading the module with
 * dlopen on the first call (docs/install.md: where it is looked for).
 *
 * Each function of torch_shim.h is one line of LGT_FUNCS (returning a
 * value: X(type, name, params, args, value when the module is missing))
 * or LGT_VOID_FUNCS (returning nothing: X(name, params, args)). A function
 * added to the shim gets its line here, or libloadgate fails to link. */
#ifndef LG_TORCH_MODULE_H
#define LG_TORCH_MODULE_H

#include "backend/torch_shim.h"

/* Raise when the table changes shape: a module of another ABI is refused. */
#define LGT_MODULE_ABI 4
#define LGT_MODULE_ENTRY "lgt_module_v1"
#define LGT_MODULE_FILE "libloadgate-torch.so"
/* The stamp: a string in the module's read-only data, found by scanning the
 * file, so that the libtorch version is known without loading it:
 * "loadgate-torch-module: loadgate=0.2.0 abi=1 libtorch=1.13.0". */
#define LGT_STAMP_PREFIX "loadgate-torch-module: "

#define LGT_FUNCS(X)                                                                           \
    X(const char *, lgt_last_error, (void), (), lg__torch_module_error())                                            \
    X(const char *, lgt_version, (void), (), "none")                                           \
    X(int, lgt_has_device, (lg_device d), (d), 0)                                              \
    X(lg_status, lgt_device_error, (lg_device d), (d), LG_E_BACKEND)                           \
    X(lg_status, lgt_probe_direct, (lg_device d), (d), LG_E_BACKEND)                           \
    X(lg_status, lgt_pool_new, (lgt_pool **out), (out), LG_E_BACKEND)                          \
    X(size_t, lgt_pool_live, (lgt_pool *p), (p), 0)                                            \
    X(uint64_t, lgt_pool_bytes, (lgt_pool *p, lg_device d), (p, d), 0)                         \
    X(lg_status, lgt_empty,                                                                    \
      (lgt_pool *p, lg_device d, lg_dtype t, int ndim, const int64_t *shape, lgt_tensor **out), \
      (p, d, t, ndim, shape, out), LG_E_BACKEND)                                               \
    X(lg_status, lgt_from_host,                                                                \
      (lgt_pool *p, lg_dtype t, int ndim, const int64_t *shape, const void *data, size_t n,    \
       void (*release)(void *ctx), void *ctx, lgt_tensor **out),                               \
      (p, t, ndim, shape, data, n, release, ctx, out), LG_E_BACKEND)                           \
    X(lg_status, lgt_write, (lgt_tensor *t, const void *src, size_t n), (t, src, n),           \
      LG_E_BACKEND)                                                                            \
    X(lg_status, lgt_read, (lgt_tensor *t, void *dst, size_t n), (t, dst, n), LG_E_BACKEND)    \
    X(lg_status, lgt_copy, (lgt_tensor *dst, lgt_tensor *src), (dst, src), LG_E_BACKEND)       \
    X(lg_status, lgt_device_of, (lgt_tensor *t, lg_device *out), (t, out), LG_E_BACKEND)       \
    X(void *, lgt_host_data, (lgt_tensor *t), (t), NULL)                                       \
    X(const void *, lgt_host_bytes, (lgt_tensor *t), (t), NULL)                                \
    X(lg_status, lgt_archive_write, (const char *path, const lg_named_data *t, size_t n),      \
      (path, t, n), LG_E_BACKEND)                                                              \
    X(lg_status, lgt_file_write,                                                               \
      (lgt_loader how, const char *path, const lg_named_data *t, size_t n), (how, path, t, n), \
      LG_E_BACKEND)                                                                            \
    X(lg_status, lgt_archive_load,                                                             \
      (lgt_loader how, const char *path, const void *data, size_t size, lg_device d,           \
       lgt_archive **out),                                                                     \
      (how, path, data, size, d, out), LG_E_BACKEND)                                           \
    X(size_t, lgt_archive_count, (const lgt_archive *a), (a), 0)                               \
    X(int, lgt_archive_has_modules, (const lgt_archive *a), (a), 0)                            \
    X(lg_status, lgt_archive_info,                                                             \
      (const lgt_archive *a, size_t i, const char **name, lg_dtype *t, int *ndim,              \
       int64_t *shape),                                                                        \
      (a, i, name, t, ndim, shape), LG_E_BACKEND)                                              \
    X(size_t, lgt_archive_find, (const lgt_archive *a, const char *name), (a, name),           \
      (size_t)-1)                                                                              \
    X(lg_status, lgt_archive_read, (lgt_archive *a, size_t i, void *dst, size_t n),            \
      (a, i, dst, n), LG_E_BACKEND)                                                            \
    X(lg_status, lgt_archive_device, (lgt_archive *a, size_t i, lg_device *out), (a, i, out),  \
      LG_E_BACKEND)                                                                            \
    X(lg_status, lgt_archive_take, (lgt_archive *a, size_t i, lgt_pool *p, lgt_tensor **out),  \
      (a, i, p, out), LG_E_BACKEND)

#define LGT_VOID_FUNCS(X)                                                                      \
    X(lgt_pool_release, (lgt_pool *p), (p))                                                    \
    X(lgt_pool_set_staging, (lgt_pool *p, uint64_t bytes), (p, bytes))                         \
    X(lgt_free, (lgt_tensor *t), (t))                                                          \
    X(lgt_archive_free, (lgt_archive *a), (a))

#define LGT_FIELD(type, name, params, args, missing) type(*name) params;
#define LGT_VOID_FIELD(name, params, args) void(*name) params;

/* Not forwarded by the X-macros: lgt_set_threads is a hint kept until
 * the module is loaded (module.c), never a reason to load it. */
#define LGT_HINT_FUNCS(X) X(lgt_set_threads, (int n), (n))

typedef struct lgt_module_table {
    int abi;           /* LGT_MODULE_ABI */
    size_t size;       /* sizeof (lgt_module_table) */
    const char *stamp; /* the stamp, as in the file */
    LGT_FUNCS(LGT_FIELD)
    LGT_VOID_FUNCS(LGT_VOID_FIELD)
    LGT_HINT_FUNCS(LGT_VOID_FIELD)
} lgt_module_table;

typedef const lgt_module_table *(*lgt_module_entry_fn)(void);

/* module.c, in libloadgate: why the module is not loaded ("" if it is) */
const char *lg__torch_module_error(void);
/* The libtorch of the loaded module, else the stamp of the module that
 * would be loaded (read from the file, not loaded), else "none". */
const char *lg__torch_module_version(void);

#endif
