/* What the three files of the unpickler share, as SQLite's vdbeInt.h does
 * for vdbe.c, vdbemem.c and vdbeaux.c:
 *   pickle.c        the machine: opcodes, the stack, the memo, the loop;
 *   pickle_value.c  values: the pool they live in, containers, and what
 *                   REDUCE builds from an allowlisted callable;
 *   pickle_allow.c  the allowlist of globals and why the rest is refused.
 * Not for the readers: they use pickle.h. */
#ifndef LG_PICKLE_INT_H
#define LG_PICKLE_INT_H

#include "formats/pickle.h"

#define LG__PICKLE_SLAB_VALUES 1024u
/* Item arrays of tuples and tensors come from chunks of this many items;
 * a longer one is allocated alone. */
#define LG__PICKLE_CHUNK_ITEMS 8192u
#define LG__PICKLE_POOLED_MAX 64u
/* Shared values: ints by a direct-mapped cache, globals by a list. */
#define LG__PICKLE_INT_CACHE 1024u
#define LG__PICKLE_GLOBAL_CACHE 64u

/* Values are carved from slabs, and short item arrays from chunks, both
 * freed all at once with the pool. */
typedef struct lg__pk_block {
    struct lg__pk_block *next;
    size_t used; /* values or items taken */
} lg__pk_block;

typedef struct {
    lg__pk_block b;
    lg__pv v[LG__PICKLE_SLAB_VALUES];
} lg__pk_slab;

typedef struct {
    lg__pk_block b;
    lg__pv *items[LG__PICKLE_CHUNK_ITEMS];
} lg__pk_chunk;

struct lg__pickle {
    lg__pk_block *slabs;  /* of lg__pk_slab, the newest first */
    lg__pk_block *chunks; /* of lg__pk_chunk, the newest first */
    size_t nvalues;     /* read, shared ones counted each time */
    lg__pv *none, *bools[2], *empty_tuple;
    lg__pv *ints[LG__PICKLE_INT_CACHE];
    lg__pv *globals[LG__PICKLE_GLOBAL_CACHE];
    size_t nglobals;
    uint64_t bytes;     /* taken so far, as lg__pk_charge counts */
    uint64_t max_bytes; /* 0: LG__PICKLE_MAX_BYTES (lg__pickle_set_budget) */
    int script_objects; /* lg__pickle_allow_script_objects */
};

/* One run of the machine. */
typedef struct {
    lg__pickle *p;
    const lg__pickle_opts *o;
    const unsigned char *buf;
    size_t n, pos;
    size_t at;            /* offset of the current opcode */
    unsigned op;
    lg__pv **stack;
    size_t sp, scap;
    size_t *marks;        /* stack heights at each MARK */
    size_t nmarks, mcap;
    lg__pv **memo;
    size_t mlen;          /* slots allocated */
    size_t mcount;        /* distinct indices set (MEMOIZE's next index) */
} lg__um;

/* pickle.c: LG_E_FORMAT "<path>: <record>: byte <at> (<OPCODE>): <text>",
 * and LG_E_NOMEM naming the byte. */
lg_status lg__pk_bad(const lg__um *u, const char *fmt, ...) LG_PRINTF(2, 3);
lg_status lg__pk_nomem(const lg__um *u);

/* pickle_value.c */
/* Counts n more bytes against the pickle's budget before they are
 * allocated; LG_E_FORMAT naming the limit past it. */
lg_status lg__pk_charge(lg__um *u, uint64_t n);
lg_status lg__pk_new_value(lg__um *u, lg__pv_kind kind, lg__pv **out);
/* None, a bool or an int with value i: the pool's shared one, made on
 * first use. */
lg_status lg__pk_scalar(lg__um *u, lg__pv_kind kind, int64_t i, lg__pv **out);
/* A shared value v read again: counted as a value read. */
lg__pv *lg__pk_reuse(lg__um *u, lg__pv *v);
lg_status lg__pk_add_items(lg__um *u, lg__pv *c, lg__pv *const *items, size_t n);
/* A new container holding n items. */
lg_status lg__pk_new_container(lg__um *u, lg__pv_kind kind, lg__pv *const *items, size_t n,
                               lg__pv **out);
/* "module.name" of a GLOBAL, for messages. */
const char *lg__pk_global_name(const lg__pv *g, char *buf, size_t n);
/* REDUCE: the value that calling the GLOBAL fn with args would give. */
lg_status lg__pk_reduce(lg__um *u, const lg__pv *fn, const lg__pv *args, lg__pv **out);
/* NEWOBJ or REDUCE of a __torch__ class (LG__G_SCRIPT_CLASS): a new
 * LG__PV_SCRIPT object; args must be an empty tuple. */
lg_status lg__pk_script_object(lg__um *u, const lg__pv *cls, const lg__pv *args, lg__pv **out);
/* BUILD on a script object: state must be a dict, whose items become the
 * object's attributes (it turns into a DICT); a second BUILD is refused. */
lg_status lg__pk_script_build(lg__um *u, lg__pv *obj, const lg__pv *state);

static inline int lg__pk_is_text(const lg__pv *v)
{
    return v->kind == LG__PV_STR || v->kind == LG__PV_BYTES;
}

/* pickle_allow.c */
/* A GLOBAL module.name: filled from the allowlist; else refused at once
 * (LG_E_FORMAT), or, where refusals are deferred, a REFUSED value. */
lg_status lg__pk_global(lg__um *u, const char *m, size_t ml, const char *nm, size_t nl,
                        lg__pv **out);
/* A class named by INST, which is never allowed: LG_E_FORMAT now, or
 * LG_OK when the refusal may be deferred (then lg__pk_defer it). */
lg_status lg__pk_refuse(const lg__um *u, const char *m, size_t ml, const char *nm, size_t nl);
/* v becomes REFUSED, carrying the message a refusal of module.name gives. */
lg_status lg__pk_defer(lg__um *u, lg__pv *v, const char *m, size_t ml, const char *nm,
                       size_t nl);
/* The REFUSED value v is, or holds as a tuple item; NULL if none. */
const lg__pv *lg__pk_refused_in(const lg__pv *v);

#endif
