/* The store's insides, shared by store.c and load.c. */
#ifndef LG_STORE_H
#define LG_STORE_H

#include "backend/backend.h"
#include "core/name_index.h"

typedef struct {
    char *name;
    lg_tensor_info info; /* info.name == name */
    void *t;             /* the backend's tensor */
    lg_device dev;       /* where t is: the store's device, except after a
                            tch load stopped part-way (LG_E_PANIC) */
} lg__var;

struct lg_store {
    lg_backend *b;
    lg_device device;
    lg__var *v;
    size_t n, cap;
    lg__name_index index; /* names of v[0 .. n-1] */
    lg_trace *trace;
};

/* Frees t[i] (tensors on d) for every non-NULL entry. */
void lg__free_all(lg__dev *x, const lg_store *s, lg_device d, void **t);
/* out[i] = a copy of variable i on `to`, through fault point `point`.
 * All-or-nothing: on error every copy made is freed and out is zeroed. */
lg_status lg__move_all(lg__dev *x, const lg_store *s, const char *point, lg_device to,
                       void **out);
/* Swaps t[] into the store's variables (t receives the old tensors) and
 * sets the store's device to d. Cannot fail. */
void lg__swap_in(lg__dev *x, lg_store *s, lg_device d, void **t);

/* tch.c: the policy tch (lg_store_load hands the whole load over). */
lg_status lg__load_tch(lg_store *s, const char *path, const lg_load_options *o,
                       lg_load_stats *stats);
#endif
