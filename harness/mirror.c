/* The store a load goes into (mirror.h). */
#include "mirror.h"
#include "util/digest.h"
#include "util/fs.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* Bytes [from, from + len) of what variable i holds once built, when
 * hx_mirror_partial: its pattern over the edges, zeros between. */
static void built_bytes(unsigned char *dst, size_t len, const lg_tensor_info *v, size_t i,
                        uint64_t from)
{
    memset(dst, 0, len);
    uint64_t edges[2] = {0, v->nbytes - HX_MIRROR_EDGE};
    for (int e = 0; e < 2; e++) {
        uint64_t a = edges[e] > from ? edges[e] : from;
        uint64_t b = edges[e] + HX_MIRROR_EDGE < from + len ? edges[e] + HX_MIRROR_EDGE
                                                              : from + len;
        if (a < b)
            var_pattern(dst + (a - from), (size_t)(b - a), i, a, v->dtype);
    }
}

uint64_t hx_mirror_digest(const lg_tensor_info *v, size_t i)
{
    /* digest.h's scheme: only the pieces that hold an edge are computed;
     * every other is HX_DIGEST_PIECE zeros */
    uint64_t n = v->nbytes, m = hx_digest_pieces(n);
    unsigned char *buf = malloc((size_t)(n < HX_DIGEST_PIECE ? n : HX_DIGEST_PIECE));
    uint64_t *piece = n > HX_DIGEST_PIECE ? malloc((size_t)m * sizeof *piece) : NULL;
    uint64_t d = 0; /* out of memory: matches no read-back of this size but by chance */
    if (buf && n <= HX_DIGEST_PIECE) {
        built_bytes(buf, (size_t)n, v, i, 0);
        d = hx_digest(buf, n);
    } else if (buf && piece) {
        memset(buf, 0, (size_t)HX_DIGEST_PIECE);
        uint64_t zeros = hx_digest_piece(buf, (size_t)HX_DIGEST_PIECE);
        for (uint64_t k = 0; k < m; k++) {
            uint64_t at = k * HX_DIGEST_PIECE;
            size_t len = (size_t)(n - at < HX_DIGEST_PIECE ? n - at : HX_DIGEST_PIECE);
            int edge = at < HX_MIRROR_EDGE || at + len > n - HX_MIRROR_EDGE;
            if (edge)
                built_bytes(buf, len, v, i, at);
            piece[k] = edge ? hx_digest_piece(buf, len) : zeros;
        }
        d = hx_digest_join(piece, n);
    }
    free(buf);
    free(piece);
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
    uint64_t nb = lg_store_var(st, lg_store_count(st) - 1)->nbytes; /* the one just added */
    if (hx_mirror_partial(nb))
        return fill_ends(st, name, i, dt, nb, in_place);
    unsigned char small[2 * HX_MIRROR_EDGE]; /* nb fits: it is not partial */
    var_pattern(small, (size_t)nb, i, 0, dt);
    return lg_store_fill(st, name, small, (size_t)nb);
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

/* ------------------------------------------------ the last file mirrored
 *
 * Every case of a sweep mirrors the same fixture, and only its tensors'
 * names, dtypes and shapes are read. So the last file mirrored without
 * being kept open is remembered, with what identifies its contents
 * (hx_same_file: device, inode, size, modification and change times) and
 * how it was opened: the next case that mirrors it, in the same process,
 * stats the file instead of opening and parsing it again. A file changed
 * since is read again, except one written again in place, at the same
 * size, within the file system's timestamp tick (a few milliseconds) of
 * its read: the harness writes its own fixtures once, before any case.
 * Nothing else is remembered: the store, its device and the load are
 * each case's own. */
static struct {
    pthread_mutex_t lock;
    char *path, *reader, *key, *crc, *backend;
    int trust_code;
    struct stat id;
    lg_tensor_info *v; /* names owned */
    size_t n;
} seen = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, NULL, NULL, NULL, 0, {0}, NULL, 0};

static int same_text(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static const char *backend_of(const lg_open_options *opt)
{
    return opt->backend ? lg_backend_name(opt->backend) : NULL;
}

static void seen_clear(void)
{
    for (size_t i = 0; i < seen.n; i++)
        free((char *)seen.v[i].name);
    free(seen.v);
    free(seen.path);
    free(seen.reader);
    free(seen.key);
    free(seen.crc);
    free(seen.backend);
    seen.v = NULL;
    seen.n = 0;
    seen.path = seen.reader = seen.key = seen.crc = seen.backend = NULL;
}

/* Is from, as it is now (id), the file last mirrored, opened the same way?
 * (seen.lock held) */
static int seen_is(const char *from, const struct stat *id, const lg_open_options *opt)
{
    return seen.path && !strcmp(seen.path, from) && hx_same_file(&seen.id, id) &&
           same_text(seen.reader, opt->reader) && same_text(seen.key, opt->key) &&
           same_text(seen.crc, opt->crc) &&
           same_text(seen.backend, backend_of(opt)) && seen.trust_code == opt->trust_code;
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;
    *failed |= s && !d;
    return d;
}

/* Remembers c's tensors as those of from (id). Out of memory: nothing is
 * remembered. (seen.lock held) */
static void seen_keep(const char *from, const struct stat *id, const lg_open_options *opt,
                      const lg_checkpoint *c)
{
    int failed = 0;
    size_t n = lg_checkpoint_count(c);
    seen_clear();
    seen.v = calloc(n ? n : 1, sizeof *seen.v);
    failed = !seen.v;
    for (size_t i = 0; !failed && i < n; i++, seen.n++) {
        seen.v[i] = *lg_checkpoint_tensor(c, i);
        seen.v[i].name = dup_or_null(seen.v[i].name, &failed);
    }
    seen.path = dup_or_null(from, &failed);
    seen.reader = dup_or_null(opt->reader, &failed);
    seen.key = dup_or_null(opt->key, &failed);
    seen.crc = dup_or_null(opt->crc, &failed);
    seen.backend = dup_or_null(backend_of(opt), &failed);
    seen.trust_code = opt->trust_code;
    seen.id = *id;
    if (failed)
        seen_clear();
}

void hx_mirror_forget(void)
{
    pthread_mutex_lock(&seen.lock);
    seen_clear();
    pthread_mutex_unlock(&seen.lock);
}

/* ------------------------------------------------------------- building */

/* The variables of the tensors of c, or of v[0..n) when c is NULL (as a
 * file lists them), with sp's edits. */
static lg_status add_tensors(lg_store *st, const hx_store_spec *sp, const lg_checkpoint *c,
                             const lg_tensor_info *v, size_t n, int in_place)
{
    lg_status r = LG_OK;
    size_t k = 0;
    for (size_t i = 0; i < n && r == LG_OK; i++) {
        const lg_tensor_info *x = c ? lg_checkpoint_tensor(c, i) : &v[i];
        if (dropped(sp, x->name))
            continue;
        lg_dtype dt = x->dtype;
        int ndim = x->ndim;
        const int64_t *shape = x->shape;
        hx_var *e = sp ? find_edit(sp->reshape, sp->nreshape, x->name) : NULL;
        if (e) {
            ndim = e->ndim;
            shape = e->shape;
        }
        if (sp && ((e = find_edit(sp->retype, sp->nretype, x->name)) ||
                   (e = find_edit(sp->retype, sp->nretype, "*"))))
            dt = e->dtype;
        r = add_var(st, k++, x->name, dt, ndim, shape, in_place);
    }
    for (size_t i = 0; sp && i < sp->nadd && r == LG_OK; i++)
        r = add_var(st, k++, sp->add[i].name, sp->add[i].dtype, sp->add[i].ndim, sp->add[i].shape,
                    in_place);
    return r;
}

/* The mirror of a file that is not kept: from what was last remembered of
 * it, or read and then remembered. */
static lg_status build_from_seen(lg_store *st, const hx_store_spec *sp, const char *from,
                                 const lg_open_options *opt, int in_place)
{
    static const lg_open_options defaults; /* what NULL options mean */
    const lg_open_options *how = opt ? opt : &defaults;
    struct stat id;
    lg_checkpoint *c = NULL;
    lg_status r;
    int regular = stat(from, &id) == 0 && S_ISREG(id.st_mode);
    pthread_mutex_lock(&seen.lock);
    if (regular && seen_is(from, &id, how)) {
        r = add_tensors(st, sp, NULL, seen.v, seen.n, in_place);
        pthread_mutex_unlock(&seen.lock);
        return r;
    }
    pthread_mutex_unlock(&seen.lock);
    if ((r = lg_checkpoint_open(from, opt, &c)) != LG_OK)
        return r;
    r = add_tensors(st, sp, c, NULL, lg_checkpoint_count(c), in_place);
    if (r == LG_OK && regular) {
        pthread_mutex_lock(&seen.lock);
        seen_keep(from, &id, how, c);
        pthread_mutex_unlock(&seen.lock);
    }
    lg_checkpoint_close(c);
    return r;
}

static lg_status build_mirror(lg_store *st, const hx_store_spec *sp, const char *from,
                              const lg_open_options *opt, lg_checkpoint **kept)
{
    int in_place = writes_in_place(opt, st);
    if (!kept)
        return build_from_seen(st, sp, from, opt, in_place);
    lg_checkpoint *c;
    lg_status r = lg_checkpoint_open(from, opt, &c);
    if (r != LG_OK)
        return r;
    r = add_tensors(st, sp, c, NULL, lg_checkpoint_count(c), in_place);
    if (r == LG_OK && reads_from_map(c))
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

