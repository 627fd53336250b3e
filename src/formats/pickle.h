/* A restricted unpickler: Python pickle protocols 2 to 5 read into a tree
 * of plain values. Globals come from an allowlist (containers, torch's
 * tensor rebuild functions, storage types, dtypes); anything else is
 * LG_E_FORMAT naming the global. Nothing is ever called: REDUCE on an
 * allowlisted callable builds a value here, in C. See docs/torch-zip.md. */
#ifndef LG_PICKLE_H
#define LG_PICKLE_H

#include "core/internal.h"

#include <stdint.h>

typedef enum {
    LG__PV_NONE, LG__PV_BOOL, LG__PV_INT, LG__PV_BIGINT, LG__PV_FLOAT, LG__PV_STR,
    LG__PV_BYTES, LG__PV_TUPLE, LG__PV_LIST, LG__PV_DICT, LG__PV_SET, LG__PV_GLOBAL,
    LG__PV_STORAGE, LG__PV_TENSOR, LG__PV_OTHER,
    LG__PV_REFUSED, /* with defer_refusals: a global off the allowlist, and all
                       that was built from it; msg is the error it would give */
    LG__PV_SCRIPT   /* lg__pickle_allow_script_objects: an instance of a __torch__ class whose
                       state is not set yet (s, s2: the class). BUILD with a dict
                       turns it into a DICT of its attributes, s and s2 kept */
} lg__pv_kind;

/* The allowlisted globals. */
typedef enum {
    LG__G_ORDERED_DICT,        /* collections.OrderedDict */
    LG__G_SET,                 /* builtins.set */
    LG__G_FROZENSET,           /* builtins.frozenset */
    LG__G_CODECS_ENCODE,       /* _codecs.encode: bytes under protocol 2 */
    LG__G_REBUILD_TENSOR,      /* torch._utils._rebuild_tensor */
    LG__G_REBUILD_TENSOR_V2,   /* torch._utils._rebuild_tensor_v2 */
    LG__G_REBUILD_TENSOR_V3,   /* torch._utils._rebuild_tensor_v3 */
    LG__G_REBUILD_PARAMETER,   /* torch._utils._rebuild_parameter */
    LG__G_REBUILD_PARAMETER_STATE, /* torch._utils._rebuild_parameter_with_state */
    LG__G_REBUILD_FROM_TYPE_V2,/* torch._tensor._rebuild_from_type_v2 */
    LG__G_STORAGE,             /* torch.FloatStorage, ...: dtype */
    LG__G_UNTYPED_STORAGE,     /* torch.UntypedStorage */
    LG__G_DTYPE,               /* torch.float32, ...: dtype */
    LG__G_SIZE,                /* torch.Size */
    LG__G_DEVICE,              /* torch.device */
    LG__G_TENSOR_TYPE,         /* torch.Tensor */
    LG__G_PARAMETER_TYPE,      /* torch.nn.parameter.Parameter */
    LG__G_RESTORE_TYPE_TAG,    /* torch.jit._pickle.restore_type_tag: (value, type) -> value */
    LG__G_SCRIPT_CLASS         /* lg__pickle_allow_script_objects: a class of module __torch__ or
                                  __torch__.*, instantiated with no arguments as an
                                  inert object; never called */
} lg__global;

typedef struct lg__pv lg__pv;
/* A value: 64 bytes, as a torch.save pickle makes about 10 per tensor and
 * the memory budget (lg__pickle_budget) counts them. Values that never
 * change once made (None, bools, ints, the empty tuple, allowlisted
 * globals) are made once per pool and shared, as a pickle's memo would
 * share them. Fields no kind uses together share their room. */
struct lg__pv {
    uint8_t kind;       /* an lg__pv_kind */
    int8_t dtype;       /* GLOBAL storage type or dtype, STORAGE: an lg_dtype, or -1 when
                           loadgate has no such dtype (elsize and tname still say what) */
    int8_t elsize;      /* GLOBAL storage type or dtype, STORAGE: bytes per element (1 to 16) */
    uint8_t pooled;     /* items lie in the pool's arena (a tuple's, a tensor's, which
                           never grow), freed with the pool */
    uint32_t n;         /* the length of s: op_text refuses a string of 4 GiB or more */
    uint32_t count, cap; /* items: in use, room for. The budget (at most
                           LG__PICKLE_MAX_BYTES) bounds them far below 2^32 */
    const char *tname;  /* GLOBAL storage type or dtype, STORAGE: torch's dtype name */
    union {
        int64_t i;      /* BOOL, INT; GLOBAL: an lg__global; STORAGE: the reader's index;
                           TENSOR: the rebuild function (an lg__global) */
        double f;       /* FLOAT */
    };
    const char *s;      /* STR, BYTES: the bytes (into the pickle); GLOBAL, DICT of a
                           TorchScript object: the module */
    union {
        struct {
            const char *s2; /* GLOBAL, DICT of a TorchScript object: the name */
            size_t n2;
        };
        struct {
            uint64_t off, len; /* STORAGE: the bytes of the storage this view covers */
        };
        char *msg;      /* REFUSED: the full error message (owned) */
    };
    lg__pv **items;     /* TUPLE LIST SET; DICT: key, value, key, value, ...;
                           TENSOR: storage, offset, size, stride, dtype (or NULL) */
};
_Static_assert(sizeof(void *) != 8 || sizeof(struct lg__pv) == 64,
               "a value's size on 64-bit platforms, which the budget counts");

/* Turns a persistent id (a tuple) into a storage: fills *out, whose kind
 * is already LG__PV_STORAGE. Sets the message on error. */
typedef lg_status (*lg__persistent_fn)(void *ctx, const lg__pv *pid, lg__pv *out);

typedef struct {
    const char *path;     /* for messages */
    const char *record;   /* for messages: "archive/data.pkl" */
    lg__persistent_fn persistent; /* NULL: a persistent id is an error */
    void *ctx;
    size_t base;          /* for messages: where the pickle begins in the record or file */
    /* 0: a global off the allowlist is an error at once. 1 (a key selects
     * part of the checkpoint): it becomes an inert REFUSED value, and so
     * does whatever is built from it; nothing is called either way. The
     * reader fails only if one lies in the part it reads. */
    int defer_refusals;
} lg__pickle_opts;

/* Bounds (each an LG_E_FORMAT when exceeded). */
#define LG__PICKLE_MAX_MARKS 4096u

typedef struct lg__pickle lg__pickle;

/* The memory the unpickler may take for a file of file_size bytes, so
 * that no pickle (deflated or not) can make memory grow out of proportion
 * to the file: its values, container items, stack, marks and memo, as
 * allocated. LG__PICKLE_BUDGET_BASE + 3 x file_size, at most
 * LG__PICKLE_MAX_BYTES: with the file's own pages, within the 4 x its size
 * + 64 MiB that docs/limits.md allows any input. */
#define LG__PICKLE_BUDGET_BASE (48u << 20)
#define LG__PICKLE_MAX_BYTES ((uint64_t)4 << 30)
uint64_t lg__pickle_budget(uint64_t file_size);
/* The bytes the pickles loaded into p may take from now on, over all of
 * them (lg__pickle_budget of the file's size); LG__PICKLE_MAX_BYTES until
 * set. */
void lg__pickle_set_budget(lg__pickle *p, uint64_t max_bytes);
/* Counts n bytes held for the pickles' sake outside the values (a
 * record's text inflated to be unpickled) against p's budget: 0, or -1,
 * nothing counted, when they would go past it. */
int lg__pickle_hold(lg__pickle *p, uint64_t n);

/* Every value of the pickles loaded into p lives until lg__pickle_free. */
lg_status lg__pickle_new(lg__pickle **out);
void lg__pickle_free(lg__pickle *p);
/* For a TorchScript archive's data.pkl: the pickles loaded into p from now
 * on may hold objects of the classes of module __torch__ or __torch__.*,
 * made as inert values (LG__PV_SCRIPT) by NEWOBJ or REDUCE with no
 * arguments, whose BUILD state must be a dict (their attributes). No
 * method of theirs is ever run. */
void lg__pickle_allow_script_objects(lg__pickle *p);
/* Reads one pickle from buf (n bytes) up to its STOP; *root is its value
 * and *used the bytes it took. */
lg_status lg__pickle_load(lg__pickle *p, const unsigned char *buf, size_t n,
                          const lg__pickle_opts *o, lg__pv **root, size_t *used);
/* Values made so far, over every pickle loaded into p. */
size_t lg__pickle_count(const lg__pickle *p);
/* "an int", "a dict", ... for messages. */
const char *lg__pv_kind_name(lg__pv_kind k);
#endif
