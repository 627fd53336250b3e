/* The policy tch: tch-rs's VarStore::load (src/nn/var_store.rs) as it is
 * written, hazards included, so that reports can show what the real
 * pattern does next to loadgate's repaired one (docs/policies.md, "tch").
 *
 *   load:            on an MPS store, set_device(Cpu); load_internal;
 *                    set_device(Mps), even when load_internal failed.
 *                    On any other store, load_internal alone.
 *   set_device:      variable by variable, in the HashMap's order,
 *                    `set_data(&to_device(d))`; to_device panics on
 *                    failure, so the move stops where it is (LG_E_PANIC).
 *   named_tensors:   the reader the file's extension picks, every tensor
 *                    of the file read at once.
 *   load_internal:   variable by variable, in the HashMap's order: the
 *                    first missing name is an error; `f_copy_` casts and
 *                    broadcasts into the variable, in place.
 *
 * Nothing is planned up front and nothing is all-or-nothing: an error
 * part-way leaves the variables copied so far with their new values. */
#include "core/cast.h"
#include "core/store.h"
#include "formats/format.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    lg_store *s;
    lg__dev x;
    const char *path;
    size_t *order; /* the variables, in the hash-like order */
    lg_checkpoint *c;
    void **src;        /* the file's tensors, read (named_tensors) */
    lg_device src_dev; /* where they were read to */
} tch_ctx;

/* ------------------------------------------------------------ the order */

/* FNV-1a of the name, mixed with the seed by splitmix64's finalizer: a
 * stand-in for Rust's randomly keyed SipHash, repeatable through the seed. */
static uint64_t name_hash(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= seed + 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

typedef struct {
    uint64_t h;
    size_t i;
} keyed;

static int by_hash(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static lg_status make_order(tch_ctx *T, uint64_t seed)
{
    size_t n = T->s->n;
    keyed *k = lg__calloc(n ? n : 1, sizeof *k);
    T->order = lg__calloc(n ? n : 1, sizeof *T->order);
    if (!k || !T->order) {
        free(k);
        return lg__err(LG_E_NOMEM, "%s: out of memory", T->path);
    }
    for (size_t i = 0; i < n; i++)
        k[i] = (keyed){name_hash(seed, T->s->v[i].name), i};
    qsort(k, n, sizeof *k, by_hash);
    for (size_t i = 0; i < n; i++)
        T->order[i] = k[i].i;
    free(k);
    return LG_OK;
}

/* ----------------------------------------------------------- set_device */

/* VarStore::set_device: each variable moved with to_device, then its old
 * tensor dropped. A failed to_device is a panic in tch-rs: the move stops
 * there, the store's device is not updated, and the variables moved so
 * far stay moved. */
static lg_status set_device(tch_ctx *T, lg_device to, const char *point)
{
    lg_store *s = T->s;
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    for (size_t j = 0; j < s->n; j++) {
        lg__var *v = &s->v[T->order[j]];
        void *moved = NULL;
        lg_status st = lg__dev_move(&T->x, point, v->name, v->t, v->dev, to, v->info.dtype,
                                    v->info.ndim, v->info.shape, v->info.nbytes, &moved);
        if (st != LG_OK)
            return lg__err_prefix(LG_E_PANIC, "%s: tch-rs's set_device(%s) panics here, as "
                                  "to_device of \"%s\" failed; %zu of %zu variables were "
                                  "moved, the others are still on %s, and the store says %s",
                                  T->path, lg_device_format(to, a), v->name, j, s->n,
                                  lg_device_format(v->dev, b),
                                  lg_device_format(s->device, (char[LG_DEVICE_NAME_MAX]){0}));
        lg__dev_free(&T->x, v->name, v->dev, v->info.nbytes, v->t);
        v->t = moved;
        v->dev = to;
    }
    lg_device from = s->device;
    s->device = to;
    if (!lg_device_equal(from, to))
        lg__trace_add(T->x.trace, LG_OP_SET_DEVICE, "", from, to, 0, 1, lg_device_format(to, a));
    return LG_OK;
}

/* -------------------------------------------------------- named_tensors */

/* The part of the file name after its last dot, as Rust's
 * Path::extension gives it; NULL when there is none (".pt" has none). */
static const char *extension(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : NULL;
}

/* VarStore::named_tensors: .bin and .pt through
 * Tensor::loadz_multi_with_device (jit::_load_parameters), .safetensors
 * through Tensor::read_safetensors (on the CPU), anything else through
 * Tensor::load_multi_with_device (jit::load). The sim backend has no
 * libtorch: there the native reader of the same files is used (picked by
 * magic bytes among the native readers, safetensors by name). */
static const char *reader_for(const lg_store *s, const char *path)
{
    const char *ext = extension(path);
    int torch = !strcmp(lg_backend_name(s->b), "torch");
    if (ext && !strcmp(ext, "safetensors"))
        return "safetensors";
    if (!torch)
        return NULL;
    if (ext && (!strcmp(ext, "pt") || !strcmp(ext, "bin")))
        return "torch-params";
    return "torchscript";
}

static void free_src(tch_ctx *T)
{
    for (size_t k = 0; T->src && T->c && k < T->c->ntensors; k++)
        if (T->src[k])
            lg__dev_free(&T->x, T->c->tensors[k].name, T->src_dev, T->c->tensors[k].nbytes,
                         T->src[k]);
    free(T->src);
    T->src = NULL;
}

static lg_status read_all(tch_ctx *T, const lg_load_options *o, const char *reader,
                          lg_load_stats *stats)
{
    lg_open_options oo = {reader, T->s->b, o->key, o->crc, o->trust_code};
    lg_status st = lg_checkpoint_open(T->path, &oo, &T->c);
    if (st != LG_OK)
        return st;
    stats->tch_reader = lg_checkpoint_format(T->c);
    /* read_safetensors gives cpu tensors; the libtorch readers load onto
     * the store's device, which is the CPU by now on an MPS store */
    T->src_dev = reader && !strcmp(reader, "safetensors") ? lg_device_cpu() : T->s->device;
    T->src = lg__calloc(T->c->ntensors ? T->c->ntensors : 1, sizeof *T->src);
    if (!T->src)
        return lg__err(LG_E_NOMEM, "%s: out of memory", T->path);
    for (size_t k = 0; k < T->c->ntensors; k++) {
        st = lg__checkpoint_deserialize(T->c, k, &T->x, T->src_dev, &T->src[k]);
        lg__trace_detail_last(T->x.trace, stats->tch_reader);
        if (st != LG_OK) {
            if (strncmp(lg_error_message(), T->path, strlen(T->path)))
                lg__err_prefix(st, "%s", T->path);
            return st;
        }
    }
    return LG_OK;
}

/* ------------------------------------------------------------- f_copy_ */

/* copy_'s broadcast: src's dims, aligned to the right, must each be 1 or
 * equal to the variable's. LG_E_SHAPE with libtorch's words otherwise. */
static lg_status broadcastable(tch_ctx *T, const lg_tensor_info *t, const lg_tensor_info *v)
{
    char a[96], b[96];
    if (t->ndim > v->ndim)
        return lg__err(LG_E_SHAPE, "%s: tensor \"%s\": copy_: expand(%s, size=%s): the number "
                       "of sizes provided (%d) must be greater or equal to the number of "
                       "dimensions in the tensor (%d)", T->path, v->name,
                       lg__shape_str(t->ndim, t->shape, a, sizeof a),
                       lg__shape_str(v->ndim, v->shape, b, sizeof b), v->ndim, t->ndim);
    for (int d = 0; d < t->ndim; d++) {
        int64_t sd = t->shape[t->ndim - 1 - d], vd = v->shape[v->ndim - 1 - d];
        if (sd != vd && sd != 1)
            return lg__err(LG_E_SHAPE, "%s: tensor \"%s\": copy_: The size of tensor a (%lld) "
                           "must match the size of tensor b (%lld) at non-singleton dimension "
                           "%d", T->path, v->name, (long long)vd, (long long)sd,
                           v->ndim - 1 - d);
    }
    return LG_OK;
}

/* dst (v's shape) = src (t's shape, already in v's dtype) expanded. */
static void expand(const lg_tensor_info *t, const lg_tensor_info *v, size_t es,
                   const unsigned char *src, unsigned char *dst)
{
    int64_t idx[LG_MAX_DIMS] = {0}, stride[LG_MAX_DIMS];
    int64_t st = 1;
    for (int d = v->ndim - 1; d >= 0; d--) {
        int sdim = d - (v->ndim - t->ndim);
        int64_t size = sdim >= 0 ? t->shape[sdim] : 1;
        stride[d] = size == 1 ? 0 : st;
        st *= sdim >= 0 ? t->shape[sdim] : 1;
    }
    uint64_t n = es ? v->nbytes / es : 0;
    for (uint64_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int d = 0; d < v->ndim; d++)
            off += idx[d] * stride[d];
        memcpy(dst + e * es, src + (size_t)off * es, es);
        for (int d = v->ndim - 1; d >= 0 && ++idx[d] == v->shape[d]; d--)
            idx[d] = 0;
    }
}

/* var.f_copy_(src) under no_grad: cast into the variable's dtype,
 * broadcast into its shape, written over it in place. */
static lg_status copy_into(tch_ctx *T, lg__var *var, size_t k)
{
    const lg_tensor_info *t = &T->c->tensors[k], *v = &var->info;
    lg_backend *b = T->s->b;
    lg_status st = broadcastable(T, t, v);
    if (st != LG_OK)
        return st;
    size_t es = lg_dtype_size(v->dtype), n = (size_t)(t->nbytes / lg_dtype_size(t->dtype));
    int same = lg__shape_equal(t->ndim, t->shape, v->ndim, v->shape);
    unsigned char *raw = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    unsigned char *cast = malloc(n > 0 ? n * es : 1);
    unsigned char *out = same ? cast : malloc(v->nbytes ? (size_t)v->nbytes : 1);
    if (!raw || !cast || !out)
        st = lg__err(LG_E_NOMEM, "%s: tensor \"%s\": out of memory", T->path, v->name);
    if (st == LG_OK && (st = b->ops->read(b, T->src[k], raw, (size_t)t->nbytes)) != LG_OK)
        lg__err_prefix(st, "%s: tensor \"%s\"", T->path, v->name);
    if (st == LG_OK)
        st = lg_dtype_cast(v->dtype, cast, t->dtype, raw, n);
    if (st == LG_OK && !same)
        expand(t, v, es, cast, out);
    if (st == LG_OK && lg__fault("device.copy", NULL)) {
        lg__trace_add(T->x.trace, LG_OP_FAULT, v->name, T->src_dev, var->dev, v->nbytes, 0,
                      "device.copy");
        st = lg__err(LG_E_DEVICE, "%s: tensor \"%s\": copy_ failed (%llu bytes)", T->path,
                     v->name, (unsigned long long)v->nbytes);
    } else if (st == LG_OK && (st = b->ops->write(b, var->t, out, (size_t)v->nbytes)) != LG_OK)
        lg__err_prefix(st, "%s: tensor \"%s\"", T->path, v->name);
    if (raw && cast && out)
        lg__trace_add(T->x.trace, LG_OP_COPY, v->name, T->src_dev, var->dev, v->nbytes,
                      st == LG_OK, same ? "copy_" : "copy_ broadcast");
    if (out != cast)
        free(out);
    free(cast);
    free(raw);
    return st;
}

/* VarStore::load_internal. */
static lg_status load_internal(tch_ctx *T, const lg_load_options *o, lg_load_stats *stats)
{
    const char *reader = reader_for(T->s, T->path);
    lg_status st = read_all(T, o, reader, stats);
    for (size_t j = 0; st == LG_OK && j < T->s->n; j++) {
        lg__var *v = &T->s->v[T->order[j]];
        size_t k = lg__checkpoint_find_hint(T->c, v->name, T->order[j]);
        if (k == (size_t)-1)
            st = lg__err(LG_E_NOTFOUND, "%s: cannot find the tensor named \"%s\" (tch-rs's "
                         "TensorNameNotFound; %zu of %zu variables were already copied)",
                         T->path, v->name, j, T->s->n);
        else if ((st = copy_into(T, v, k)) == LG_OK) {
            stats->tensors_loaded++;
            stats->bytes_loaded += v->info.nbytes;
        }
    }
    free_src(T);
    lg_checkpoint_close(T->c);
    T->c = NULL;
    return st;
}

lg_status lg__load_tch(lg_store *s, const char *path, const lg_load_options *o,
                       lg_load_stats *stats)
{
    char why[2048];
    if (o->dtype_rule != LG_DTYPE_CONVERT)
        return lg__err(LG_E_INVALID, "%s: policy tch casts as tch-rs's copy_ does: dtype rule "
                       "%s does not apply (use convert)", path, lg_dtype_rule_name(o->dtype_rule));
    if (o->reader && strcmp(o->reader, "auto"))
        return lg__err(LG_E_INVALID, "%s: policy tch picks the reader from the file's "
                       "extension, as tch-rs does: reader %s does not apply", path, o->reader);
    tch_ctx T = {.s = s, .x = {s->b, s->trace}, .path = path};
    stats->policy_used = LG_POLICY_TCH;
    stats->hash_seed = o->hash_seed;
    lg_status st = make_order(&T, o->hash_seed);
    lg_device home = s->device;
    if (st == LG_OK && home.type != LG_DEV_MPS)
        st = load_internal(&T, o, stats);
    else if (st == LG_OK && (st = set_device(&T, lg_device_cpu(), "store.move")) == LG_OK) {
        lg_status or_error = load_internal(&T, o, stats);
        snprintf(why, sizeof why, "%s", lg_error_message());
        /* "Be cautious not to early exit so as to ensure that the device
         * is set back to Mps even on errors." */
        st = set_device(&T, home, "store.restore");
        if (st == LG_OK && or_error != LG_OK)
            st = lg__err(or_error, "%s", why);
        else if (st != LG_OK && or_error != LG_OK) {
            char panic[2048];
            snprintf(panic, sizeof panic, "%s", lg_error_message());
            st = lg__err(st, "%s (the load itself had failed before: %s: %s)", panic,
                         lg_status_name(or_error), why);
        }
    }
    free(T.order);
    return st;
}
