/* loadgate: load model weights into a store of named tensors on a device,
 * all-or-nothing, with a trace of every device transition.
 *
 * Conventions: every public name starts with lg_. Functions return
 * lg_status, with out-parameters last. On error, lg_error_message() gives a
 * thread-local message that names the file, the tensor and the problem. */
#ifndef LOADGATE_H
#define LOADGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version; the shared library's soname carries the major
 * number (libloadgate.so.0), raised when the ABI breaks (docs/install.md). */
#define LG_VERSION_MAJOR 0
#define LG_VERSION_MINOR 4
#define LG_VERSION_PATCH 0
#define LG_VERSION "0.4.0"

/* Marks every public declaration: the library is built with hidden
 * visibility and exports only these. */
#ifndef LG_API
#if defined(_WIN32) && defined(LG_BUILDING_DLL)
#define LG_API __declspec(dllexport)
#elif defined(_WIN32) && defined(LG_USING_DLL)
#define LG_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define LG_API __attribute__((visibility("default")))
#else
#define LG_API
#endif
#endif

/* ---------------------------------------------------------------- errors */
typedef enum {
    LG_OK = 0,
    LG_E_INVALID,  /* bad argument */
    LG_E_IO,
    LG_E_NOMEM,
    LG_E_FORMAT,   /* corrupt or unsupported file */
    LG_E_NOTFOUND, /* variable missing from file */
    LG_E_SHAPE,
    LG_E_DTYPE,
    LG_E_DEVICE,   /* device absent, refused, out of memory, transfer failed */
    LG_E_RESTORE,  /* the original device could not be re-entered */
    LG_E_BACKEND,  /* any other libtorch exception */
    /* Policy tch only: a move of the store stopped part-way where tch-rs's
     * set_device panics (to_device failed). Some variables are on one
     * device and some on the other; lg_store_var_device says which. */
    LG_E_PANIC,
    LG_STATUS_COUNT
} lg_status;

LG_API const char *lg_status_name(lg_status s);               /* "LG_E_FORMAT" */
LG_API lg_status lg_status_parse(const char *name, lg_status *out);
LG_API const char *lg_error_message(void);                    /* thread-local; "" if none */
LG_API void lg_error_clear(void);

/* ---------------------------------------------------------------- dtypes */
typedef enum {
    LG_F64, LG_F32, LG_F16, LG_BF16, LG_I64, LG_I32, LG_I16, LG_I8, LG_U8, LG_BOOL,
    LG_DTYPE_COUNT
} lg_dtype;

LG_API const char *lg_dtype_name(lg_dtype d);                 /* "f32" */
LG_API size_t lg_dtype_size(lg_dtype d);
/* Accepts loadgate names (f32), safetensors names (F32) and torch names
 * (float32, torch.float, FloatStorage's float). */
LG_API lg_status lg_dtype_parse(const char *name, lg_dtype *out);
/* dst = n elements of src (dtype `from`) cast to `to`, row-major
 * little-endian, as PyTorch's copy_ casts them (docs/policies.md,
 * "convert"). LG_E_INVALID on a bad dtype or a NULL buffer. */
LG_API lg_status lg_dtype_cast(lg_dtype to, void *dst, lg_dtype from, const void *src, size_t n);

/* --------------------------------------------------------------- devices */
typedef enum { LG_DEV_CPU, LG_DEV_CUDA, LG_DEV_MPS } lg_device_type;
/* How many device types there are (tables by lg_device_type); a macro, so
 * that switches over lg_device_type need no case for it. */
#define LG_DEVICE_TYPE_COUNT (LG_DEV_MPS + 1)
typedef struct {
    lg_device_type type;
    int index; /* cuda:N; 0 otherwise */
} lg_device;

#define LG_DEVICE_NAME_MAX 16
LG_API lg_status lg_device_parse(const char *s, lg_device *out); /* cpu, cuda, cuda:N, mps */
/* Writes "cpu", "cuda:0", "mps" into buf (LG_DEVICE_NAME_MAX bytes); returns buf. */
LG_API const char *lg_device_format(lg_device d, char *buf);
LG_API int lg_device_equal(lg_device a, lg_device b);
LG_API lg_device lg_device_cpu(void);

#define LG_MAX_DIMS 8

/* -------------------------------------------------------------- backends */
typedef struct lg_backend lg_backend;

/* name: "sim" or "torch". LG_E_INVALID for an unknown name, LG_E_BACKEND
 * for "torch" in a build without libtorch, or when its module cannot be
 * loaded (the message says where it was looked for, or dlerror()). */
LG_API lg_status lg_backend_open(const char *name, lg_backend **out);
LG_API void lg_backend_close(lg_backend *b);
LG_API const char *lg_backend_name(const lg_backend *b);
/* Is the device usable in this backend (build and machine)? */
LG_API int lg_backend_has_device(lg_backend *b, lg_device d);
/* Can a checkpoint be deserialized straight onto d? (what `auto` asks) */
LG_API int lg_backend_direct_ok(lg_backend *b, lg_device d);
/* Live tensors owned by the backend, and bytes in use on a device. */
LG_API size_t lg_backend_live_tensors(lg_backend *b);
LG_API uint64_t lg_backend_device_bytes(lg_backend *b, lg_device d);

/* sim quirk profile, per device. Keys:
 *   direct_deserialize  ok | refuse      (mps default: refuse)
 *   float64             ok | refuse      (mps default: refuse)
 *   available           yes | no         (default: yes)
 *   capacity            bytes, 0 = unlimited; suffixes KiB MiB GiB
 *   alloc               ok | refuse      (refuse: every allocation fails
 *                                         while the device claims to be there)
 *   readback            ok | wrong       (wrong: copies to the host give other
 *                                         bytes; the probe's `broken`)
 * LG_E_INVALID on a non-sim backend, an unknown key or a bad value. */
LG_API lg_status lg_sim_profile_set(lg_backend *b, lg_device d, const char *key, const char *value);

/* The libtorch of the torch module: of the module loaded, else of the one
 * that would be loaded, read from its file without loading it ("1.13.0");
 * "none" when no module is found or the build has no libtorch. */
LG_API const char *lg_libtorch_version(void);
/* Comma-separated backends available: "sim", or "sim,torch" when the
 * torch module is found (not loaded). */
LG_API const char *lg_backends_built(void);
/* The threads libtorch's intra-op pool may use (at::set_num_threads). A
 * forked child that runs libtorch should ask for 1: the parent's pool does
 * not survive fork. A hint: nothing happens without libtorch. */
LG_API void lg_torch_set_threads(int n);

/* The torch backend lives in a loadable module, libloadgate-torch.so,
 * loaded (dlopen) when lg_backend_open("torch"), a libtorch reader or an
 * lg_torch_* function first needs it: a process that never does maps no
 * libtorch. Looked for, in order: $LOADGATE_TORCH_MODULE alone when it is
 * set; beside libloadgate (or the program it is linked into); in
 * ../LIBDIR from there; in the install prefix's LIBDIR (docs/install.md). */
#define LG_MODULE_PATH_MAX 4096
#define LG_MODULE_VERSION_MAX 32
typedef struct {
    char path[LG_MODULE_PATH_MAX];
    int found;    /* a file is there */
    /* the libtorch it was built against, read from the file; "" unknown */
    char libtorch[LG_MODULE_VERSION_MAX];
    int chosen;   /* the one that is or would be loaded: the first found */
    int loaded;   /* loaded in this process */
} lg_torch_module;
/* Fills up to n entries, one per place looked at, in order, without
 * loading anything; returns how many places there are (0 in a build
 * without libtorch). */
LG_API size_t lg_torch_modules(lg_torch_module *out, size_t n);
/* Loads the torch module now, if it is not loaded. LG_E_BACKEND with the
 * places looked at, or the module's path and dlerror()'s text. A failure
 * is final for the process. */
LG_API lg_status lg_torch_module_load(void);
LG_API int lg_torch_module_loaded(void);

/* ----------------------------------------------------------------- trace */
typedef enum {
    LG_OP_DESERIALIZE, LG_OP_COPY, LG_OP_MOVE, LG_OP_ALLOC, LG_OP_FREE,
    LG_OP_SET_DEVICE, LG_OP_FAULT
} lg_op;

typedef struct {
    uint64_t seq;
    lg_op op;
    /* Variable or tensor name, whole, whatever its length; "" for
     * store-wide events. Owned by the trace: valid until it is cleared or
     * freed. */
    const char *tensor;
    lg_device from, to;
    uint64_t bytes;
    int ok;
    char detail[64];   /* fault: the fault point; set_device/move: the phase */
} lg_event;

typedef struct lg_trace lg_trace;
LG_API lg_status lg_trace_new(lg_trace **out);
LG_API void lg_trace_free(lg_trace *t);
LG_API void lg_trace_clear(lg_trace *t);
LG_API size_t lg_trace_count(const lg_trace *t);
LG_API const lg_event *lg_trace_event(const lg_trace *t, size_t i);
/* 1 when an event, or an event's tensor name, could not be recorded (out
 * of memory): the trace is then incomplete and proves nothing. */
LG_API int lg_trace_lost(const lg_trace *t);
LG_API const char *lg_op_name(lg_op op);

/* ---------------------------------------------------------------- faults */
/* Points: io.open io.read io.mmap mem.alloc format.parse device.alloc
 * device.copy store.move store.restore */
typedef enum { LG_FAULT_NTH, LG_FAULT_FROM, LG_FAULT_PROB } lg_fault_when;
typedef enum { LG_FAULT_FAIL, LG_FAULT_CRASH, LG_FAULT_HANG } lg_fault_action;

typedef struct {
    lg_fault_when when;
    uint64_t k;          /* NTH, FROM: 1-based hit number */
    double p;            /* PROB */
    uint64_t seed;       /* PROB */
    int err;             /* errno to fail with (io.*), 0 = the point's default;
                            for io.read, -1 means a short read (not a failure) */
    lg_fault_action action; /* test-only: crash (SIGSEGV) or hang instead of failing */
} lg_fault_schedule;

LG_API int lg_fault_point_valid(const char *point);
LG_API const char *const *lg_fault_points(void); /* NULL-terminated */
LG_API lg_status lg_fault_set(const char *point, const lg_fault_schedule *s);
LG_API void lg_fault_clear(void);               /* disarm every point, zero counters */
LG_API void lg_fault_disarm(void);              /* stop failing, keep the counters */
LG_API uint64_t lg_fault_hits(const char *point);  /* times the point was reached */
LG_API uint64_t lg_fault_fired(const char *point); /* times it failed */

/* ----------------------------------------------------------- checkpoints */
typedef struct {
    const char *name;
    lg_dtype dtype;
    int ndim;
    int64_t shape[LG_MAX_DIMS];
    uint64_t nbytes;
} lg_tensor_info;

typedef struct lg_checkpoint lg_checkpoint;

typedef struct {
    const char *reader;   /* NULL or "auto": by magic bytes; else a reader's name */
    lg_backend *backend;  /* needed by the libtorch readers; may be NULL */
    /* torch.save checkpoints: read only the sub-tree at this dotted path
     * ("model": model.fc.weight is named fc.weight). NULL = everything. */
    const char *key;
    /* zip records whose CRC-32 does not match: NULL or "error" (LG_E_FORMAT),
     * "warn" (a finding), "off" (not computed). */
    const char *crc;
    /* libtorch archives (torch-archive, torchscript) whose code runs when
     * libtorch loads them: a TorchScript class with __setstate__, or a
     * record loadgate cannot scan (compressed, or an ambiguous zip). 0
     * (the default): refused with LG_E_FORMAT before libtorch sees the
     * file. 1: handed to libtorch anyway, which runs that code with the
     * caller's rights. Only for files the caller trusts; `harness --trust-code`
     * runs such loads in a child that cannot write files (docs/limits.md). */
    int trust_code;
} lg_open_options;

LG_API lg_status lg_checkpoint_open(const char *path, const lg_open_options *opt, lg_checkpoint **out);
LG_API void lg_checkpoint_close(lg_checkpoint *c);
LG_API const char *lg_checkpoint_format(const lg_checkpoint *c); /* reader name */
LG_API size_t lg_checkpoint_count(const lg_checkpoint *c);
LG_API const lg_tensor_info *lg_checkpoint_tensor(const lg_checkpoint *c, size_t i);
/* index of name, or (size_t)-1 */
LG_API size_t lg_checkpoint_find(const lg_checkpoint *c, const char *name);
/* Copies tensor i's bytes, row-major little-endian, into dst (nbytes); a
 * large tensor on several threads, as lg_load_options.threads = 0 does. */
LG_API lg_status lg_checkpoint_read(lg_checkpoint *c, size_t i, void *dst, size_t n);
/* Deserializes tensor i straight onto d through the checkpoint's reader
 * (for the libtorch readers: libtorch's own deserializer), reads it back,
 * compares it with the file's bytes and frees it. No store is involved:
 * this answers "does direct loading onto d work?" (the upgrade gate).
 * Needs the checkpoint opened with a backend. LG_E_DEVICE with the
 * backend's message when d is refused. */
LG_API lg_status lg_checkpoint_try_device(lg_checkpoint *c, size_t i, lg_device d);
/* Non-fatal findings (warnings) met while reading. */
LG_API size_t lg_checkpoint_findings(const lg_checkpoint *c);
LG_API const char *lg_checkpoint_finding(const lg_checkpoint *c, size_t i);
/* Names of the readers built in, NULL-terminated. */
LG_API const char *const *lg_readers(void);

/* ----------------------------------------------------------------- store */
typedef struct lg_store lg_store;

/* tch reproduces tch-rs's VarStore::load as written, hazards included:
 * a policy for diagnosis, never all-or-nothing, never chosen by auto
 * (docs/policies.md). */
typedef enum {
    LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_DIRECT, LG_POLICY_AUTO, LG_POLICY_TCH
} lg_policy;
#define LG_POLICY_COUNT (LG_POLICY_TCH + 1) /* how many policies there are */
/* What a load does when a variable's dtype differs from the file's
 * (docs/policies.md): convert (the default, tch-rs's copy_) casts the
 * file's values into the variable's dtype; adopt gives the variable the
 * file's dtype; strict refuses (LG_E_DTYPE). */
typedef enum { LG_DTYPE_ADOPT, LG_DTYPE_STRICT, LG_DTYPE_CONVERT } lg_dtype_rule;
#define LG_DTYPE_RULE_COUNT (LG_DTYPE_CONVERT + 1) /* how many dtype rules there are */

LG_API const char *lg_policy_name(lg_policy p);          /* "via-cpu" */
LG_API lg_status lg_policy_parse(const char *s, lg_policy *out);
LG_API const char *lg_dtype_rule_name(lg_dtype_rule r);
LG_API lg_status lg_dtype_rule_parse(const char *s, lg_dtype_rule *out);

LG_API lg_status lg_store_new(lg_backend *b, lg_device d, lg_store **out);
LG_API void lg_store_free(lg_store *s);
/* Record every device transition of this store into t (NULL to stop). */
LG_API void lg_store_set_trace(lg_store *s, lg_trace *t);
/* A new variable, zero-filled. LG_E_INVALID on a duplicate name. */
LG_API lg_status lg_store_add(lg_store *s, const char *name, lg_dtype dtype, int ndim, const int64_t *shape);
/* Overwrite a variable's bytes from host memory (n must equal its size). */
LG_API lg_status lg_store_fill(lg_store *s, const char *name, const void *src, size_t n);
/* Overwrite bytes [offset, offset + n) of a variable from host memory; the
 * rest keep their values. LG_E_INVALID when the range is not inside the
 * variable. On a backend that keeps its tensors in host memory (sim) only
 * those bytes are touched; elsewhere the variable is read, patched and
 * written whole. */
LG_API lg_status lg_store_fill_range(lg_store *s, const char *name, uint64_t offset,
                                     const void *src, size_t n);
LG_API size_t lg_store_count(const lg_store *s);
LG_API lg_device lg_store_device(const lg_store *s);
/* Variable i's name, dtype and shape. */
LG_API const lg_tensor_info *lg_store_var(const lg_store *s, size_t i);
LG_API size_t lg_store_find(const lg_store *s, const char *name);
/* Copies variable i's bytes to dst, and says which device the backend
 * reports the tensor is on (not the store's bookkeeping). */
LG_API lg_status lg_store_read(lg_store *s, size_t i, void *dst, size_t n, lg_device *where);
/* Variable i's bytes where they are, to be read only, when they are in
 * this process's memory on cpu and are what lg_store_read would copy
 * (the backend keeps them there, and says that the tensor is on cpu, in
 * *where as lg_store_read would; sim's readback=wrong gives NULL); NULL
 * otherwise, or for a variable of no bytes: read it with lg_store_read.
 * Valid until the store is changed or freed. A check that digests the
 * store reads it in place, without a copy. */
LG_API const void *lg_store_peek(lg_store *s, size_t i, lg_device *where);
/* Where variable i is: lg_store_device(s), except after a load under
 * policy tch that ended with LG_E_PANIC (a move that stopped part-way). */
LG_API lg_device lg_store_var_device(const lg_store *s, size_t i);
/* Moves every variable to d (all-or-nothing); those already there stay,
 * so that it also mends a store left split by LG_E_PANIC, even to the
 * device the store says it is on. */
LG_API lg_status lg_store_set_device(lg_store *s, lg_device d);

/* The unit of lg_load_options.on_read's pieces: 256 KiB. */
#define LG_READ_PIECE 262144u

typedef struct {
    lg_policy policy;
    lg_dtype_rule dtype_rule;
    uint64_t staging_budget; /* staged: bytes of host staging; 0 = one tensor at a time */
    const char *reader;      /* NULL/"auto", or a reader's name */
    const char *key;         /* lg_open_options.key */
    const char *crc;         /* lg_open_options.crc */
    int trust_code;          /* lg_open_options.trust_code */
    /* tch: the seed of the hash-like order in which variables are visited
     * (Rust's HashMap order is random per process; this one repeats). */
    uint64_t hash_seed;
    /* Optional (NULL by default): shown each tensor of the file the load
     * reads, right after reading it, with that tensor's bytes as read, in
     * one or more pieces: `tensor` is its index in the file
     * (lg_checkpoint_tensor's order); bytes are n bytes at `offset` of the
     * tensor, row-major little-endian, in the file's dtype (before any
     * cast), valid during the call only. Each piece starts at a multiple
     * of LG_READ_PIECE, and is a whole number of LG_READ_PIECE bytes
     * unless it ends the tensor; the pieces cover the tensor once. A large
     * tensor is copied by several threads (`threads`), and its pieces are
     * then shown from those threads, at the same time and in no set order;
     * every piece of a tensor has been shown, and those calls have
     * returned, before any piece of the next tensor is. With threads = 1
     * they come one after another, offsets from 0 up. A piece is shown as
     * soon as it is copied, while it is still in the cache (a tensor that
     * the torch backend builds over the file's map on cpu is not copied:
     * its pieces are the map's, shown as they are read); a tensor whose
     * read then fails (a zip record's CRC-32 that does not match) may have
     * been shown whole, and the load's status says so. An observer sees
     * what the load read without reading the file again (harness load's
     * `values` digests them). Not called by the policy tch, by the
     * libtorch readers, nor for a load that stops before the tensor.
     * Unless threads = 1, the observer must be safe to call from several
     * threads at once, and must return from each call (no longjmp out of
     * it: the other threads of the copy would be left running). */
    void (*on_read)(void *ctx, size_t tensor, uint64_t offset, const void *bytes, uint64_t n);
    void *on_read_ctx;
    /* Threads that copy a large tensor (from 2 MiB a thread) from the file
     * into host memory, where most of the time goes in touching the new
     * tensor's pages: 0 (the default) = LOADGATE_THREADS from the
     * environment, read once per process, if it is a number from 1 to 8,
     * else one per online CPU, at most 4; 1 to 8 = that many. The load
     * itself, and its changes to the store, stay on the calling thread.
     * lg_checkpoint_read copies with the count of 0. */
    int threads;
} lg_load_options;

LG_API void lg_load_options_init(lg_load_options *o); /* via-cpu, convert, 0, auto */

typedef struct {
    lg_policy policy_used;       /* auto resolved */
    uint64_t staging_peak_bytes; /* staged: peak host staging in use */
    uint64_t bytes_loaded;
    size_t tensors_loaded;
    uint64_t hash_seed;          /* tch: the seed the order came from */
    /* tch: the reader the file's extension picked, as tch-rs's
     * VarStore::named_tensors does; NULL for the other policies. */
    const char *tch_reader;
} lg_load_stats;

/* Load every variable of the store from path. All-or-nothing: after any
 * error but LG_E_RESTORE the store is exactly as before; except under
 * policy tch, which does what tch-rs does (docs/policies.md). stats may
 * be NULL. */
LG_API lg_status lg_store_load(lg_store *s, const char *path, const lg_load_options *o, lg_load_stats *stats);
/* lg_store_load from a checkpoint that is already open, which it reads
 * but does not close: a caller that opened the file to look at it does
 * not pay for a second open (a parse of its header). c must have been
 * opened with the store's backend (LG_E_INVALID otherwise). The reader,
 * key, crc and trust_code of o are not used: c's own, from its open,
 * are. Under policy tch the file is opened again by c's path, as tch-rs
 * opens it, with c's key, crc and trust_code. The fault points of an open (io.*, format.parse) are not
 * reached: those of the reads are. */
LG_API lg_status lg_store_load_open(lg_store *s, lg_checkpoint *c, const lg_load_options *o,
                                    lg_load_stats *stats);

/* --------------------------------------------------------- torch writers */
/* Writes named tensors as a libtorch OutputArchive (.ot), as tch's
 * Tensor::save_multi does. LG_E_BACKEND without libtorch. */
typedef struct {
    const char *name;
    lg_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data; /* row-major, little-endian */
} lg_named_data;
LG_API lg_status lg_torch_write_archive(const char *path, const lg_named_data *t, size_t n);
/* Writes named tensors with libtorch in format:
 *   "torch-archive"  as lg_torch_write_archive ('.' in names written '|');
 *   "torch-params"   torch::jit::_save_parameters (a zip; the names as given);
 *   "torch-pickle"   torch::pickle_save of a Dict[str, Tensor] (a zip).
 * Each is read back by the lg_torch_read_archive reader of the same name.
 * LG_E_INVALID for another format or a bad tensor, LG_E_BACKEND without
 * libtorch. */
LG_API lg_status lg_torch_write_file(const char *path, const char *format, const lg_named_data *t,
                              size_t n);

/* Loads a libtorch file straight onto d with libtorch's own deserializer,
 * as tch does: reader "torch-archive" (InputArchive::load_from(path, d)),
 * "torchscript" (torch::jit::load(path, d), named parameters then
 * buffers), "torch-params" (torch::jit::_load_parameters(path, d): tch's
 * Tensor::loadz_multi_with_device and VarStore::load of .pt and .bin), or
 * "torch-pickle" (torch::pickle_load of the bytes, which takes no device:
 * each tensor of the dict it gives is then moved to d with Tensor::to;
 * NULL is torch-archive). The file must pass the same check for code as
 * lg_checkpoint_open's libtorch readers (docs/limits.md). Each tensor is
 * copied back to host and handed to fn with the device libtorch put it
 * on; fn returns nonzero to stop. No store and no policy stand in
 * between: this is what `harness probe` measures, and it reaches libtorch even for a device this machine lacks. LG_E_DEVICE when
 * libtorch refuses d (its message kept), LG_E_BACKEND without libtorch. */
typedef int (*lg_torch_tensor_fn)(void *ctx, const lg_named_data *t, lg_device where);
LG_API lg_status lg_torch_read_archive(const char *path, const char *reader, lg_device d,
                                lg_torch_tensor_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
