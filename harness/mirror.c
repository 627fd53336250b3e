/* The store a load goes into (mirror.h). */
#include "mirror.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Byte j of variable i is (i * 131 + j * 7 + 1) & 0x3f: a period of 64
 * bytes, so the first 64 are computed and the rest copied from them in
 * doubling runs. dst receives bytes [at, at + n) of the pattern. */
static void pattern_at(void *dst, size_t n, size_t i, uint64_t at)
{
    unsigned char *p = dst;
    size_t head = n < 64 ? n : 64;
    for (size_t j = 0; j < head; j++)
        p[j] = (unsigned char)((i * 131 + (size_t)(at + j) * 7 + 1) & 0x3f);
    for (size_t done = head; done < n;) {
        size_t run = done < n - done ? done : n - done;
        memcpy(p + done, p, run);
        done += run;
    }
}

void hx_fill_pattern(void *dst, size_t n, size_t i) { pattern_at(dst, n, i, 0); }

int hx_mirror_partial(uint64_t nbytes) { return nbytes > 2 * HX_MIRROR_EDGE; }

/* The pattern as variable i of dtype dt holds it (bool: 0 or 1). */
static void var_pattern(void *dst, size_t n, size_t i, uint64_t at, lg_dtype dt)
{
    pattern_at(dst, n, i, at);
    if (dt == LG_BOOL)
        for (size_t j = 0; j < n; j++)
            ((unsigned char *)dst)[j] &= 1;
}

uint64_t hx_mirror_digest(const lg_tensor_info *v, size_t i)
{
    static const unsigned char zeros[64 << 10];
    unsigned char edge[HX_MIRROR_EDGE];
    XXH3_state_t *s = XXH3_createState();
    if (!s)
        return 0; /* matches no read-back of a variable this size but by chance */
    XXH3_64bits_reset(s);
    var_pattern(edge, HX_MIRROR_EDGE, i, 0, v->dtype);
    XXH3_64bits_update(s, edge, HX_MIRROR_EDGE);
    for (uint64_t left = v->nbytes - 2 * HX_MIRROR_EDGE; left;) {
        size_t run = left < sizeof zeros ? (size_t)left : sizeof zeros;
        XXH3_64bits_update(s, zeros, run);
        left -= run;
    }
    var_pattern(edge, HX_MIRROR_EDGE, i, v->nbytes - HX_MIRROR_EDGE, v->dtype);
    XXH3_64bits_update(s, edge, HX_MIRROR_EDGE);
    uint64_t d = XXH3_64bits_digest(s);
    XXH3_freeState(s);
    return d;
}

static hx_var *find_edit(hx_var *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

static int dropped(const hx_store_spec *sp, const char *name)
{
    for (size_t i = 0; sp && i < sp->ndrop; i++)
        if (!strcmp(sp->drop[i], name))
            return 1;
    return 0;
}

/* Variable i's pattern at both ends, zeros between. On a backend that
 * writes a range in place (sim: its tensors are host memory) only the
 * ends are written; another would read and write the whole variable for
 * each range, so it is written once from a buffer whose middle is
 * calloc's zeros, never touched. */
static lg_status fill_ends(lg_store *st, const char *name, size_t i, lg_dtype dt, uint64_t nb,
                           int in_place)
{
    lg_status r;
    if (!in_place) {
        unsigned char *buf = calloc(1, (size_t)nb);
        if (!buf)
            return LG_E_NOMEM;
        var_pattern(buf, HX_MIRROR_EDGE, i, 0, dt);
        var_pattern(buf + nb - HX_MIRROR_EDGE, HX_MIRROR_EDGE, i, nb - HX_MIRROR_EDGE, dt);
        r = lg_store_fill(st, name, buf, (size_t)nb);
        free(buf);
        return r;
    }
    unsigned char edge[HX_MIRROR_EDGE];
    var_pattern(edge, HX_MIRROR_EDGE, i, 0, dt);
    r = lg_store_fill_range(st, name, 0, edge, HX_MIRROR_EDGE);
    var_pattern(edge, HX_MIRROR_EDGE, i, nb - HX_MIRROR_EDGE, dt);
    if (r == LG_OK)
        r = lg_store_fill_range(st, name, nb - HX_MIRROR_EDGE, edge, HX_MIRROR_EDGE);
    return r;
}

/* Variable i: the pattern, whole up to 2 * HX_MIRROR_EDGE bytes; beyond,
 * at both ends only, the rest zeros (fill_ends). */
static lg_status add_var(lg_store *st, size_t i, const char *name, lg_dtype dt, int ndim,
                         const int64_t *shape, int in_place)
{
    lg_status r = lg_store_add(st, name, dt, ndim, shape);
    if (r != LG_OK)
        return r;
    size_t k = lg_store_find(st, name);
    uint64_t nb = lg_store_var(st, k)->nbytes;
    if (hx_mirror_partial(nb))
        return fill_ends(st, name, i, dt, nb, in_place);
    unsigned char *buf = malloc(nb ? (size_t)nb : 1);
    if (!buf)
        return LG_E_NOMEM;
    var_pattern(buf, (size_t)nb, i, 0, dt);
    r = lg_store_fill(st, name, buf, (size_t)nb);
    free(buf);
    return r;
}

/* Readers that hold nothing but the map after open (their tensors are
 * read from it on demand), so that keeping the checkpoint open costs no
 * memory. */
static int reads_from_map(const lg_checkpoint *c)
{
    const char *f = lg_checkpoint_format(c);
    return !strcmp(f, "safetensors") || !strcmp(f, "torch-zip") || !strcmp(f, "torch-legacy");
}

/* Does the store's backend write a range of a variable in place? The
 * sim backend does (its tensors are host memory), and so does the torch
 * backend on cpu (its cpu tensors own host memory); the mirror is opened
 * with the store's backend. Elsewhere lg_store_fill_range reads and
 * writes the variable whole, so a large one is written once instead. */
static int writes_in_place(const lg_open_options *opt, const lg_store *st)
{
    if (!opt || !opt->backend)
        return 0;
    const char *b = lg_backend_name(opt->backend);
    return !strcmp(b, "sim") || (!strcmp(b, "torch") && lg_store_device(st).type == LG_DEV_CPU);
}

static lg_status build_mirror(lg_store *st, const hx_store_spec *sp, const char *from,
                              const lg_open_options *opt, lg_checkpoint **kept)
{
    int in_place = writes_in_place(opt, st);
    lg_checkpoint *c;
    lg_status r = lg_checkpoint_open(from, opt, &c);
    if (r != LG_OK)
        return r;
    size_t k = 0;
    for (size_t i = 0; i < lg_checkpoint_count(c) && r == LG_OK; i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        if (dropped(sp, t->name))
            continue;
        lg_dtype dt = t->dtype;
        int ndim = t->ndim;
        const int64_t *shape = t->shape;
        hx_var *e = sp ? find_edit(sp->reshape, sp->nreshape, t->name) : NULL;
        if (e) {
            ndim = e->ndim;
            shape = e->shape;
        }
        if (sp && ((e = find_edit(sp->retype, sp->nretype, t->name)) ||
                   (e = find_edit(sp->retype, sp->nretype, "*"))))
            dt = e->dtype;
        r = add_var(st, k++, t->name, dt, ndim, shape, in_place);
    }
    for (size_t i = 0; sp && i < sp->nadd && r == LG_OK; i++)
        r = add_var(st, k++, sp->add[i].name, sp->add[i].dtype, sp->add[i].ndim, sp->add[i].shape,
                    in_place);
    if (r == LG_OK && kept && reads_from_map(c))
        *kept = c;
    else
        lg_checkpoint_close(c);
    return r;
}

lg_status hx_mirror_build(lg_store *st, const hx_store_spec *spec, const char *from,
                          const lg_open_options *opt, lg_checkpoint **kept)
{
    if (kept)
        *kept = NULL;
    if (!spec || spec->mirror)
        return build_mirror(st, spec, from, opt, kept);
    int in_place = writes_in_place(opt, st);
    lg_status r = LG_OK;
    for (size_t i = 0; i < spec->nvars && r == LG_OK; i++) {
        const hx_var *v = &spec->vars[i];
        r = add_var(st, i, v->name, v->dtype, v->ndim, v->shape, in_place);
    }
    return r;
}

