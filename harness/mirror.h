/* The store a load goes into: a mirror of the file (one variable per
 * tensor, then a case's edits) or an explicit list of variables, each
 * filled with a known pattern (at its ends only, when large), so that a
 * load that writes nothing shows. */
#ifndef HX_MIRROR_H
#define HX_MIRROR_H

#include "loadgate/loadgate.h"

#include <stddef.h>
#include <stdint.h>

/* A variable of an explicit store, or an edit of a mirror store. */
typedef struct {
    char *name;
    lg_dtype dtype;
    int ndim;
    int64_t shape[LG_MAX_DIMS];
} hx_var;

/* `store:` of a case. mirror = 1: one variable per tensor of the file,
 * then drop / add / reshape / retype. mirror = 0: exactly vars. */
typedef struct {
    int mirror;
    char **drop;
    size_t ndrop;
    hx_var *add;
    size_t nadd;
    hx_var *reshape; /* name + ndim/shape */
    size_t nreshape;
    hx_var *retype;  /* name + dtype; the name "*" retypes every other one */
    size_t nretype;
    hx_var *vars;    /* mirror = 0 */
    size_t nvars;
} hx_store_spec;

/* Adds spec's variables to st (empty, on its device): a mirror of the
 * file `from` (opened with opt) when spec is NULL or spec->mirror, else
 * spec->vars. LG_OK, or the library's status and message. When kept is
 * not NULL, *kept receives the opened file instead of its being closed
 * (the caller closes it), where its reader holds nothing but the map
 * (safetensors, torch.save); else NULL. */
lg_status hx_mirror_build(lg_store *st, const hx_store_spec *spec, const char *from,
                          const lg_open_options *opt, lg_checkpoint **kept);
/* hx_mirror_build remembers the names, dtypes and shapes of the last file
 * it mirrored without keeping it open, for the next case that mirrors
 * the same file (unchanged: same inode, size and time). This forgets
 * them. */
void hx_mirror_forget(void);
/* The known pattern a mirror store's variable i is filled with. */
void hx_fill_pattern(void *dst, size_t n, size_t i);

/* A variable of more than 2 * HX_MIRROR_EDGE bytes holds the pattern in
 * its first and last HX_MIRROR_EDGE bytes only, and zeros between (left as
 * lg_store_add made them: on sim, memory never touched), so that a large
 * store costs neither time nor memory to build. Smaller ones hold it
 * whole. */
#define HX_MIRROR_EDGE 4096u
int hx_mirror_partial(uint64_t nbytes);
/* The digest (util/digest.h) of what variable i (v: dtype and size) holds
 * once built, when hx_mirror_partial(v->nbytes): computed, not read back. */
uint64_t hx_mirror_digest(const lg_tensor_info *v, size_t i);
#endif
