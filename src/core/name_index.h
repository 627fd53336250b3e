/* A hash index of names, for lookups that stay constant-time as a store
 * or a checkpoint grows (a load is then linear in its tensor count).
 *
 * The index holds entry numbers only; the names stay where their owner
 * keeps them and are reached through a callback. It is an accelerator:
 * its memory comes from plain malloc, not through the mem.alloc fault
 * point (so that fault sweeps count the same allocations as before), and
 * when that memory cannot be had the index marks itself broken and every
 * lookup falls back to a scan, with the same answers. */
#ifndef LG_NAME_INDEX_H
#define LG_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

/* The hash of the project's open-addressed tables (this index, a zip's
 * record names, torch.save's storage keys), which take a slot from its
 * low bits: XXH3 of the n bytes at p under a secret drawn once per
 * process, so that a file cannot choose names that collide. */
uint64_t lg__name_hash(const void *p, size_t n);
/* lg__name_hash of the name with A-Z as a-z (ASCII only): the hash of a
 * table whose names match ignoring case (a zip's records, as PyTorch's
 * reader finds them). */
uint64_t lg__name_hash_fold(const char *p, size_t n);

static inline int lg__ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* The name of entry i of ctx. */
typedef const char *(*lg__name_at)(const void *ctx, size_t i);

typedef struct {
    uint64_t hash; /* of the entry's name: probes compare it first */
    size_t k;      /* entry + 1; 0 = empty */
} lg__name_slot;

/* Puts s in the first empty slot from its hash on, in a table of nslot
 * slots (a power of two) that has one free and does not hold s's key:
 * the step of a rehash, where every key is known to be new. */
void lg__slot_place(lg__name_slot *slot, size_t nslot, lg__name_slot s);

typedef struct {
    lg__name_slot *slot; /* nslot of them, a power of two */
    size_t nslot;
    size_t n;      /* entries indexed: 0 .. n-1 */
    int broken;    /* out of memory once: scan instead */
} lg__name_index;

/* Entry of that name among the first n of ctx, or (size_t)-1. When two
 * entries share a name, the first is found. */
size_t lg__index_find(const lg__name_index *x, const char *name, lg__name_at at,
                      const void *ctx, size_t n);
/* lg__index_find, where the names are unique, that first looks at entry
 * hint: a store and its file usually list their tensors in the same
 * order, and one look at the next entry costs less than a probe of the
 * table, wherever it lands in memory. */
size_t lg__index_find_hint(const lg__name_index *x, const char *name, lg__name_at at,
                           const void *ctx, size_t n, size_t hint);
/* Indexes entry x->n (its name: at(ctx, x->n)), keeping the table at most
 * half full. A name already indexed keeps its first entry. Cannot fail:
 * without memory the index goes broken. */
void lg__index_add(lg__name_index *x, lg__name_at at, const void *ctx);
/* lg__index_add, in one probe of the table, and says whether the name was
 * there: the entry indexed under it before, or (size_t)-1 when entry x->n
 * is the first of that name. A broken index answers by a scan. */
size_t lg__index_insert(lg__name_index *x, lg__name_at at, const void *ctx);
/* Makes room for n entries in all, so that adding them does not grow the
 * table step by step (each step a fresh table and a rehash). Out of
 * memory, the index goes broken. */
void lg__index_reserve(lg__name_index *x, size_t n);
/* lg__index_insert for entries x->n .. n-1 in one pass, in a table sized
 * for n at once: each name is hashed a few entries before its turn and
 * its slot fetched ahead, so that the table's cache misses (one a name
 * in a table of 100,000 names) overlap instead of coming one after the
 * other. Stops at the first entry whose name an earlier one has, and
 * returns it (x->n is then past it), with that earlier entry in *first;
 * (size_t)-1 when every name is new. */
size_t lg__index_insert_all(lg__name_index *x, lg__name_at at, const void *ctx, size_t n,
                            size_t *first);
/* Indexes entries 0 .. n-1 (in a table sized for n at once, fetched
 * ahead as lg__index_insert_all does). A name met again keeps its first
 * entry. */
void lg__index_build(lg__name_index *x, lg__name_at at, const void *ctx, size_t n);
void lg__index_free(lg__name_index *x);
#endif
