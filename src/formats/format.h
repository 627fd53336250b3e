/* The reader interface: one file format each. checkpoint.c opens the file,
 * maps it, sniffs the magic bytes and hands it to a reader. */
#ifndef LG_FORMAT_H
#define LG_FORMAT_H

#include "backend/backend.h"
#include "core/name_index.h"

typedef struct lg__map_ref lg__map_ref;

typedef struct lg__reader_ops {
    const char *name; /* "safetensors", "torch-archive", "torchscript", ... */
    /* 1 if the file is this format's. head holds the whole file (size
     * bytes); the first n of them (at most 4096) are what a sniff reads,
     * except to follow a structure the head points to (a zip's central
     * directory, at the end). */
    int (*sniff)(const unsigned char *head, size_t n, uint64_t size);
    /* Parse c->map (c->size bytes) and fill c->tensors / c->ntensors. On
     * error the message names c->path, the tensor and the problem. */
    lg_status (*open)(lg_checkpoint *c);
    /* Tensor i's bytes, row-major little-endian, into dst (nbytes). */
    lg_status (*read)(lg_checkpoint *c, size_t i, void *dst);
    /* Optional: a tensor on device d straight from the file (libtorch
     * readers). NULL means: read to host, then into a new tensor on d
     * (deserialize.c). */
    lg_status (*deserialize)(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d, void **out);
    /* Optional: a pointer to tensor i's bytes in the map, when they are
     * stored row-major little-endian and contiguous; NULL otherwise. */
    const void *(*bytes)(lg_checkpoint *c, size_t i);
    /* Optional, for a tensor built over the map (deserialize.c): tensor
     * i's bytes in place in the map, stored contiguous and little-endian,
     * with nothing checked or shown (no side effect); NULL otherwise. A
     * reader without it has no tensor built over its map. */
    const void *(*in_place)(lg_checkpoint *c, size_t i);
    /* Optional: in_place's bytes checked as read() would check them (a
     * record's CRC-32) and shown to the load's observer, in one pass:
     * LG_OK, or read()'s error. NULL op: they are only shown. */
    lg_status (*check_shown)(lg_checkpoint *c, size_t i);
    void (*close)(lg_checkpoint *c); /* free c->priv */
    /* 1 if open() understands c->key (a sub-tree of a nested checkpoint). */
    int takes_key;
} lg__reader_ops;

/* What to do when a zip record's CRC-32 does not match (option `crc`). */
typedef enum { LG__CRC_ERROR, LG__CRC_WARN, LG__CRC_OFF } lg__crc_mode;

struct lg_checkpoint {
    char *path;
    const lg__reader_ops *ops;
    lg_backend *backend;      /* from the options; may be NULL */
    int fd;                   /* -1 once mapped, or for libtorch readers */
    const unsigned char *map; /* the whole file, read-only */
    int map_is_copy;          /* map was read into memory (the file system
                                 cannot map it): free, not munmap */
    int map_guard;            /* slot in the SIGBUS guard (mapguard.c), or -1 */
    int over_map;             /* tensors may be built over the map: not
                                 LOADGATE_OVER_MAP=0 at the open */
    int final_cpu;            /* set by the load (load.c) while it builds a
                                 cpu store's new variables: a cpu tensor
                                 deserialized then becomes the variable, so
                                 it may be built over the map; staging,
                                 tch's sources and the cpu leg of via-cpu
                                 are copied out of later, and are not */
    lg__map_ref *map_ref;     /* the map's reference count, made when the
                                 first tensor is built over it; NULL before */
    uint64_t size;
    lg_tensor_info *tensors;  /* names owned by the reader (priv) or strdup'd */
    size_t ntensors;
    lg__name_index index;     /* names of tensors[], built once open() succeeds */
    char **findings;
    size_t nfindings;
    void *priv;
    const char *key;          /* from the options, valid during open() only; NULL = all */
    int reader_forced;        /* the options named the reader */
    char *kept_key;           /* a copy of it, for a tch load from this open
                                 (lg_store_load_open), which opens the file again */
    lg__crc_mode crc;         /* from the options */
    int trust_code;           /* from the options: libtorch may run the file's code */
    /* lg_load_options.on_read, set by the load; NULL otherwise */
    void (*on_read)(void *ctx, size_t tensor, uint64_t offset, const void *bytes, uint64_t n);
    void *on_read_ctx;
    int threads;  /* lg_load_options.threads, set by the load; 0 = auto */
    size_t shown; /* deserialize.c: 1 + the tensor on_read was just shown
                     in runs by lg__copy_observed; 0 for none */
    /* deserialize.c: bytes read but not yet dropped from the map */
    const unsigned char *drop_lo, *drop_hi;
};

/* The map of a checkpoint, shared with the tensors built over it
 * (deserialize.c: the torch backend's cpu tensors, wrap_host): it is
 * unmapped, and its SIGBUS guard slot given back, when the checkpoint has
 * closed and the last such tensor has gone (checkpoint.c).
 * lg__map_ref_take: one more reference on c's map (the count is made on
 * the first call, holding the checkpoint's own); NULL when the map is a
 * copy in memory or no memory is to be had. lg__map_ref_release lets one
 * go (ctx: the lg__map_ref). */
lg__map_ref *lg__map_ref_take(lg_checkpoint *c);
void lg__map_ref_release(void *ctx);

/* Frees c->tensors and their names (readers whose names are strdup'd). */
void lg__checkpoint_free_tensors(lg_checkpoint *c);

/* LG_OK, or LG_E_IO when the file was cut short while mapped (a read
 * past its new end was absorbed by the SIGBUS guard): whatever was read
 * from the map since may be zeros, and must not be used. */
lg_status lg__map_check(const lg_checkpoint *c);

/* The bytes that the tensors of a file may claim in all: a view may
 * repeat its storage (stride 0) or several views share one, and a load
 * materialises every tensor, so the sum is bounded by what the file could
 * hold: deflate's largest ratio (1,032) times its size, plus 32 MiB for
 * small files with legitimately expanded views (docs/limits.md). Adds
 * tensor `name`'s nbytes to *total, and refuses (LG_E_FORMAT, message set)
 * a total past that. Every reader that lists tensors calls it: torch.save,
 * the libtorch archives, lg_torch_read_archive. */
lg_status lg__claimed_add(const char *path, uint64_t size, const char *name, uint64_t nbytes,
                          uint64_t *total);

/* Adds a finding (a warning that does not stop the load). */
lg_status lg__finding(lg_checkpoint *c, const char *fmt, ...) LG_PRINTF(2, 3);

/* Every reader is always built, so that detection works everywhere; the
 * libtorch readers answer LG_E_FORMAT "needs the torch backend" when the
 * build has no libtorch or the checkpoint was opened without the torch
 * backend. The order is the order in which sniff() is tried. */
extern const lg__reader_ops lg__safetensors_reader;
extern const lg__reader_ops lg__torch_archive_reader; /* libtorch OutputArchive (.ot) */
extern const lg__reader_ops lg__torchscript_reader;   /* torch.jit.save module */
/* Native: the tensors of a TorchScript archive's data.pkl (torch.jit.save
 * or .ot), no libtorch, no code run; picked instead of the libtorch
 * readers when the checkpoint is not opened with the torch backend. */
extern const lg__reader_ops lg__torchscript_data_reader;
extern const lg__reader_ops lg__torch_params_reader;  /* _save_parameters, by name only */
extern const lg__reader_ops lg__torch_zip_reader;     /* torch.save zip (>= 1.6) */
extern const lg__reader_ops lg__torch_legacy_reader;  /* torch.save before 1.6 */

/* Which writer laid out the zip map (size bytes, the first n the head;
 * see torch_archive.c): a libtorch serializer, torch.save, or 0 for
 * neither. */
enum { LG__ZIP_LIBTORCH = 1, LG__ZIP_TORCH_SAVE = 2 };
int lg__zip_layout(const unsigned char *map, size_t n, uint64_t size);

/* LG_OK when libtorch can load the archive without running code from it:
 * no record is compressed, the zip has one end record (so every reader
 * finds the same records), no byte of the file spells __setstate__, the
 * one method torch::jit::load calls, and every *.py record of it only
 * declares (imports, classes listing their tensors, annotations, literal
 * constants), since compiling a function evaluates its parameters'
 * defaults. Else LG_E_FORMAT saying why. */
lg_status lg__archive_runs_no_code(const lg_checkpoint *c);
/* The whole file at c->path read into memory of c's own (c->map, with
 * map_is_copy set; c->size), with the checks lg_checkpoint_open makes of
 * a path. For lg_torch_read_archive: what is checked for code is then
 * what libtorch reads. */
lg_status lg__checkpoint_read(lg_checkpoint *c);

/* deserialize.c: drops the map's pages under [p, p + n) from the process
 * (madvise MADV_DONTNEED; nothing for a map that is a copy in memory), so
 * that bytes read once do not stay in its RSS; they come back from the
 * page cache if read again. Ranges that follow each other are joined
 * and dropped by the MiB, whole pages only. _tensor: tensor i's bytes in
 * place, if any. */
void lg__map_drop(lg_checkpoint *c, const void *p, uint64_t n);
void lg__map_drop_tensor(lg_checkpoint *c, size_t i);

/* deserialize.c: copies n bytes of tensor i from src into dst in runs of
 * LG_READ_PIECE (256 KiB), continuing the CRC-32 in *crc (libdeflate's,
 * from 0) when crc is not NULL, and shows each run to the load's observer
 * (on_read) as it lands, while it is still in the cache: a reader's copy
 * of a whole tensor goes through here, and the tensor is not shown again
 * after. A large copy is shared among c->threads threads (0: auto), each
 * taking a contiguous share of runs; their CRC-32s are joined with zlib's
 * crc32_combine, and they are joined before this returns. */
void lg__copy_observed(lg_checkpoint *c, size_t i, unsigned char *dst,
                       const unsigned char *src, uint64_t n, uint32_t *crc);

/* lg_checkpoint_find, looking first at tensor hint (lg__index_find_hint):
 * a checkpoint's names are unique. */
size_t lg__checkpoint_find_hint(const lg_checkpoint *c, const char *name, size_t hint);

/* A tensor of checkpoint c on device d, through the reader (trace:
 * alloc, deserialize). On cpu, into a backend's host memory (host_data)
 * the reader copies the file's bytes once, straight into the new tensor;
 * otherwise they go through the backend's write(). */
lg_status lg__checkpoint_deserialize(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d,
                                     void **out);
/* The same, cast to dtype t on the host (the dtype rule convert): from
 * the map straight into a host tensor, in runs; else the file's bytes (in
 * place, or the reader's read(), for the libtorch readers too) are cast
 * into a buffer and written into a new tensor of dtype t on d (trace:
 * alloc, deserialize, with t's size). */
lg_status lg__checkpoint_deserialize_as(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d,
                                        lg_dtype t, void **out);
#endif
