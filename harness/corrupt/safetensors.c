/* The named rewrites of a safetensors header (corrupt.h, `corrupt:
 * {safetensors: NAME}`). The header is parsed with jansson into entries in
 * file order, a mutation changes them (or how they are written back), and
 * the file is written again compactly: the same input gives the same
 * bytes. */
#include "corrupt/internal.h"
#include "util/error.h"

#include <inttypes.h>
#include "util/json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tensor entry of the header. */
typedef struct {
    char *name;
    json_t *v;      /* the entry object (a reference) */
    uint64_t b, e;  /* data_offsets */
    size_t dsize;   /* bytes per element */
} st_ent;

/* A parsed safetensors file, and how to write it back. */
typedef struct {
    json_t *meta;           /* __metadata__ (a reference), or NULL */
    st_ent *e;              /* in file order */
    size_t n;
    unsigned char *data;    /* a copy of the data section */
    size_t dlen;
    /* writing back */
    const char *prefix, *suffix; /* around the object */
    int dup_first;          /* the first entry written twice */
    int bad_utf8;           /* byte 0xFF inside the first tensor's name */
    int drop_brace;         /* the closing brace replaced by a space */
    size_t extra_pad, nul_pad;
    int len_set;            /* the length field says len_value */
    uint64_t len_value;
    int len_past_end;       /* the length field is one more than what remains */
    size_t cut;             /* bytes cut from the end of the file */
} st_doc;

typedef lg_status (*st_fn)(st_doc *d);

static uint64_t st_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void st_doc_free(st_doc *d)
{
    for (size_t i = 0; d->e && i < d->n; i++) {
        free(d->e[i].name);
        json_decref(d->e[i].v);
    }
    free(d->e);
    json_decref(d->meta);
    free(d->data);
    memset(d, 0, sizeof *d);
}

static int ent_cmp(const void *pa, const void *pb)
{
    const st_ent *a = pa, *b = pb;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The integer at v[i], when it is a non-negative JSON integer. */
static int st_uint(json_t *v, size_t i, uint64_t *out)
{
    json_t *x = json_array_get(v, i);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(x);
    return LG_OK;
}

/* One entry; its data_offsets must lie inside the data section of dlen
 * bytes, as the reader requires, before any mutation moves data by them. */
static lg_status st_entry(const char *key, json_t *v, size_t dlen, st_ent *t)
{
    json_t *dt = json_object_get(v, "dtype"), *off = json_object_get(v, "data_offsets");
    lg_dtype d;
    if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(json_object_get(v, "shape")) ||
        json_array_size(off) != 2 || st_uint(off, 0, &t->b) || st_uint(off, 1, &t->e) ||
        t->e < t->b || lg_dtype_parse(json_string_value(dt), &d) != LG_OK) {
        return hx_err(LG_E_INVALID, "the input is not a valid safetensors file: entry \"%s\"", key);
    }
    if (t->e > dlen) {
        return hx_err(LG_E_INVALID, "the input is not a valid safetensors file: entry \"%s\" has "
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] past the data section of %zu bytes",
                 key, t->b, t->e, dlen);
    }
    t->dsize = lg_dtype_size(d);
    if (!(t->name = strdup(key)))
        return hx_err(LG_E_NOMEM, "out of memory");
    t->v = json_incref(v);
    return LG_OK;
}

/* The input must be a safetensors file that the mutation can take apart. */
static lg_status st_parse(const unsigned char *buf, size_t len, st_doc *d)
{
    json_error_t je;
    const char *key;
    json_t *v;
    memset(d, 0, sizeof *d);
    if (len < 8 || st_le64(buf) > len - 8)
        return hx_err(LG_E_INVALID, "the input is not a safetensors file (bad header length)");
    uint64_t n = st_le64(buf);
    json_t *root = hx_json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return hx_err(LG_E_INVALID, "the input is not a safetensors file (bad header)");
    }
    d->e = calloc(json_object_size(root) + 1, sizeof *d->e);
    d->dlen = len - 8 - (size_t)n;
    d->data = malloc(d->dlen + 1);
    if (!d->e || !d->data) {
        json_decref(root);
        return hx_err(LG_E_NOMEM, "out of memory");
    }
    memcpy(d->data, buf + 8 + n, d->dlen);
    lg_status rc = LG_OK;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__"))
            d->meta = json_incref(v);
        else if ((rc = st_entry(key, v, d->dlen, &d->e[d->n])) == LG_OK)
            d->n++;
        if (rc)
            break;
    }
    json_decref(root);
    if (rc)
        return rc;
    qsort(d->e, d->n, sizeof *d->e, ent_cmp);
    return LG_OK;
}

/* ------------------------------------------------------- writing back */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} st_buf;

static void put(st_buf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (n >= SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_s(st_buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json(st_buf *b, const json_t *v)
{
    char *s = hx_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s) {
        b->oom = 1;
        return;
    }
    put_s(b, s);
    free(s);
}

static void put_entry(st_buf *b, const st_ent *t, int bad_utf8)
{
    json_t *k = json_string(t->name);
    char *s = k ? hx_json_dumps(k, JSON_ENCODE_ANY) : NULL;
    json_decref(k);
    if (!s) {
        b->oom = 1;
        return;
    }
    put(b, s, 1); /* the opening quote */
    if (bad_utf8)
        put(b, "\xff", 1);
    put_s(b, s + 1);
    free(s);
    put_s(b, ":");
    put_json(b, t->v);
}

static lg_status st_write(const st_doc *d, unsigned char **out, size_t *outlen)
{
    st_buf h = {0}, f = {0};
    int first = 1;
    if (d->prefix)
        put_s(&h, d->prefix);
    put_s(&h, "{");
    if (d->meta) {
        put_s(&h, "\"__metadata__\":");
        put_json(&h, d->meta);
        first = 0;
    }
    for (size_t i = 0; i < d->n; i++) {
        for (int twice = 0; twice < (i == 0 && d->dup_first ? 2 : 1); twice++) {
            if (!first)
                put_s(&h, ",");
            put_entry(&h, &d->e[i], i == 0 && d->bad_utf8);
            first = 0;
        }
    }
    put_s(&h, d->drop_brace ? " " : "}");
    if (d->suffix)
        put_s(&h, d->suffix);
    while (h.n % 8 && !h.oom)
        put_s(&h, " ");
    for (size_t i = 0; i < d->extra_pad; i++)
        put_s(&h, " ");
    for (size_t i = 0; i < d->nul_pad; i++)
        put(&h, "", 1);
    uint64_t n = h.n;
    if (d->len_set)
        n = d->len_value;
    if (d->len_past_end)
        n = (uint64_t)(h.n + d->dlen - d->cut) + 1;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(n >> (8 * i));
    put(&f, le, 8);
    if (!h.oom)
        put(&f, h.p, h.n);
    put(&f, d->data, d->dlen);
    free(h.p);
    if (h.oom || f.oom || f.n < d->cut) {
        free(f.p);
        return h.oom || f.oom ? hx_err(LG_E_NOMEM, "out of memory")
                              : hx_err(LG_E_INVALID, "nothing left to cut");
    }
    *out = f.p;
    *outlen = f.n - d->cut;
    return LG_OK;
}

/* ----------------------------------------------------- the mutations */

static lg_status need_tensors(const st_doc *d, size_t n)
{
    if (d->n >= n)
        return LG_OK;
    return hx_err(LG_E_INVALID, "needs a file with at least %zu tensor%s (it has %zu)", n,
             n == 1 ? "" : "s", d->n);
}

/* Sets key of the first tensor's entry (takes v). */
static lg_status set_first(st_doc *d, const char *key, json_t *v)
{
    lg_status st = need_tensors(d, 1);
    if (st) {
        json_decref(v);
        return st;
    }
    if (!v || json_object_set_new(d->e[0].v, key, v))
        return hx_err(LG_E_NOMEM, "out of memory");
    return LG_OK;
}

static json_t *ints(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static int set_offsets(st_ent *t, uint64_t b, uint64_t e)
{
    int64_t v[2] = {(int64_t)b, (int64_t)e};
    t->b = b;
    t->e = e;
    return json_object_set_new(t->v, "data_offsets", ints(v, 2));
}

/* Adds delta (|delta| at most the data section's length) to the offsets
 * of tensors from..n-1. Offsets lie in the data section (st_entry), so
 * only a shift below 0 can go wrong: an input whose tensors overlap. */
static lg_status shift(st_doc *d, size_t from, int64_t delta)
{
    uint64_t down = delta < 0 ? (uint64_t)(-(delta + 1)) + 1 : LG_OK;
    for (size_t i = from; i < d->n; i++)
        if (d->e[i].b < down)
            return hx_err(LG_E_INVALID, "the input's tensors overlap: an offset would be "
                                        "negative");
    for (size_t i = from; i < d->n; i++)
        if (set_offsets(&d->e[i], delta < 0 ? d->e[i].b - down : d->e[i].b + (uint64_t)delta,
                        delta < 0 ? d->e[i].e - down : d->e[i].e + (uint64_t)delta))
            return hx_err(LG_E_NOMEM, "out of memory");
    return LG_OK;
}

/* n zero bytes at offset at of the data section. */
static lg_status data_insert(st_doc *d, size_t at, size_t n)
{
    if (at > d->dlen || n > SIZE_MAX - 1 - d->dlen)
        return hx_err(LG_E_INVALID, "an insert outside the data section");
    unsigned char *p = realloc(d->data, d->dlen + n + 1);
    if (!p)
        return hx_err(LG_E_NOMEM, "out of memory");
    memmove(p + at + n, p + at, d->dlen - at);
    memset(p + at, 0, n);
    d->data = p;
    d->dlen += n;
    return LG_OK;
}

/* Bytes [at, at + n) of the data section removed. */
static lg_status data_remove(st_doc *d, size_t at, size_t n)
{
    if (at > d->dlen || n > d->dlen - at)
        return hx_err(LG_E_INVALID, "a removal outside the data section");
    memmove(d->data + at, d->data + at + n, d->dlen - at - n);
    d->dlen -= n;
    return LG_OK;
}

/* The index of the first tensor (in file order) holding at least one byte. */
static lg_status first_nonempty(const st_doc *d, size_t *i)
{
    for (*i = 0; *i < d->n; (*i)++)
        if (d->e[*i].e > d->e[*i].b)
            return LG_OK;
    return hx_err(LG_E_INVALID, "needs a tensor with at least one byte");
}

static uint64_t numel_of(const st_ent *t)
{
    return t->dsize ? (t->e - t->b) / t->dsize : LG_OK;
}

#define LEN_MUT(fn, v)                                                                     \
    static lg_status fn(st_doc *d)                                                         \
    {                                                                                      \
        d->len_set = 1;                                                                    \
        d->len_value = (v);                                                                \
        return LG_OK;                                                                      \
    }
LEN_MUT(m_len0, 0)
LEN_MUT(m_len1, 1)
LEN_MUT(m_len7, 7)
LEN_MUT(m_len_limit, 100000001)
LEN_MUT(m_len_max, UINT64_MAX)

static lg_status m_len_past(st_doc *d)
{
    d->len_past_end = 1;
    return LG_OK;
}

static lg_status m_not_utf8(st_doc *d)
{
    d->bad_utf8 = 1;
    return need_tensors(d, 1);
}

static lg_status m_not_json(st_doc *d)
{
    d->drop_brace = 1;
    return LG_OK;
}

static lg_status m_not_object(st_doc *d)
{
    d->prefix = "[";
    d->suffix = "]";
    return LG_OK;
}

static lg_status m_leading_space(st_doc *d)
{
    d->prefix = " ";
    return LG_OK;
}

static lg_status m_nul_padding(st_doc *d)
{
    d->nul_pad = 8;
    return LG_OK;
}

static lg_status m_dtype_unknown(st_doc *d)
{
    return set_first(d, "dtype", json_string("F33"));
}

static lg_status m_dtype_unsupported(st_doc *d)
{
    return set_first(d, "dtype", json_string("F8_E4M3"));
}

static lg_status m_dtype_not_string(st_doc *d)
{
    return set_first(d, "dtype", json_integer(32));
}

/* The first tensor's shape with dimension 0 replaced by v (a new array). */
static json_t *shape_with_first(st_doc *d, json_t *v)
{
    json_t *s = json_deep_copy(json_object_get(d->e[0].v, "shape"));
    if (!s || !v || (json_array_size(s) ? json_array_set_new(s, 0, v)
                                        : json_array_append_new(s, v))) {
        json_decref(s);
        return NULL;
    }
    return s;
}

static lg_status m_shape_negative(st_doc *d)
{
    lg_status st = need_tensors(d, 1);
    return st ? st : set_first(d, "shape", shape_with_first(d, json_integer(-1)));
}

static lg_status m_shape_not_integer(st_doc *d)
{
    lg_status st = need_tensors(d, 1);
    return st ? st : set_first(d, "shape", shape_with_first(d, json_real(1.5)));
}

static lg_status m_shape_huge(st_doc *d)
{
    int64_t v[1] = {INT64_C(1) << 40};
    return set_first(d, "shape", ints(v, 1));
}

static lg_status m_shape_overflow(st_doc *d)
{
    int64_t v[3] = {INT64_C(1) << 32, INT64_C(1) << 32, 4};
    return set_first(d, "shape", ints(v, 3));
}

static lg_status m_shape_dims(st_doc *d)
{
    int64_t v[LG_MAX_DIMS + 1];
    for (int i = 0; i <= LG_MAX_DIMS; i++)
        v[i] = 1;
    return set_first(d, "shape", ints(v, LG_MAX_DIMS + 1));
}

static lg_status m_offsets_reversed(st_doc *d)
{
    lg_status st;
    size_t i;
    if ((st = first_nonempty(d, &i)) != LG_OK)
        return st;
    int64_t v[2] = {(int64_t)d->e[i].e, (int64_t)d->e[i].b};
    return json_object_set_new(d->e[i].v, "data_offsets", ints(v, 2))
               ? hx_err(LG_E_NOMEM, "out of memory")
               : LG_OK;
}

/* The tensors after the first non-empty one begin one byte early; the
 * data section is one byte shorter, so only the overlap is wrong. */
static lg_status m_offsets_overlap(st_doc *d)
{
    lg_status st;
    size_t i;
    if ((st = first_nonempty(d, &i)) != LG_OK)
        return st;
    if (i + 1 >= d->n)
        return hx_err(LG_E_INVALID, "needs a tensor after the first non-empty one");
    if ((st = shift(d, i + 1, -1)) != LG_OK)
        return st;
    return data_remove(d, d->dlen - 1, 1);
}

/* One byte between the first tensor and the next; the rest follows. */
static lg_status m_offsets_gap(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 2)) != LG_OK)
        return st;
    if ((st = shift(d, 1, 1)) != LG_OK || (st = data_insert(d, (size_t)d->e[0].e, 1)) != LG_OK)
        return st;
    return LG_OK;
}

/* The last tensor gains an element (flattened), past the data section. */
static lg_status m_offsets_oob(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    st_ent *t = &d->e[d->n - 1];
    int64_t v[1] = {(int64_t)numel_of(t) + 1};
    if (json_object_set_new(t->v, "shape", ints(v, 1)) || set_offsets(t, t->b, t->e + t->dsize))
        return hx_err(LG_E_NOMEM, "out of memory");
    return LG_OK;
}

/* Every tensor 8 bytes later, behind 8 bytes of zeroes. */
static lg_status m_offsets_not_zero(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    if ((st = shift(d, 0, 8)) != LG_OK || (st = data_insert(d, 0, 8)) != LG_OK)
        return st;
    return LG_OK;
}

static lg_status m_offsets_huge(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    st_ent *t = &d->e[d->n - 1];
    return set_offsets(t, t->b, (uint64_t)INT64_MAX) ? hx_err(LG_E_NOMEM, "out of memory") : LG_OK;
}

static lg_status m_duplicate(st_doc *d)
{
    d->dup_first = 1;
    return need_tensors(d, 1);
}

static lg_status m_meta_not_string(st_doc *d)
{
    json_t *m = json_is_object(d->meta) && json_object_size(d->meta) ? json_deep_copy(d->meta)
                                                                     : json_object();
    char key[256] = "epoch";
    const char *first = m ? json_object_iter_key(json_object_iter(m)) : NULL;
    if (first)
        snprintf(key, sizeof key, "%s", first);
    if (!m || json_object_set_new(m, key, json_integer(3))) {
        json_decref(m);
        return hx_err(LG_E_NOMEM, "out of memory");
    }
    json_decref(d->meta);
    d->meta = m;
    return LG_OK;
}

static lg_status m_meta_not_object(st_doc *d)
{
    json_decref(d->meta);
    d->meta = json_string("pt");
    return d->meta ? 0 : hx_err(LG_E_NOMEM, "out of memory");
}

static lg_status m_extra_key(st_doc *d)
{
    int64_t v[2] = {0, 0};
    return set_first(d, "offsets", ints(v, 2));
}

static lg_status m_missing_key(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    json_object_del(d->e[0].v, "data_offsets");
    return LG_OK;
}

static lg_status m_not_object_entry(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    json_t *a = json_deep_copy(json_object_get(d->e[0].v, "data_offsets"));
    if (!a)
        return hx_err(LG_E_NOMEM, "out of memory");
    json_decref(d->e[0].v);
    d->e[0].v = a;
    return LG_OK;
}

static lg_status m_trailing(st_doc *d)
{
    return data_insert(d, d->dlen, 8);
}

static lg_status m_missing(st_doc *d)
{
    if (d->dlen == 0)
        return hx_err(LG_E_INVALID, "needs a data section of at least one byte");
    d->cut = 1;
    return LG_OK;
}

/* Valid files, for controls and store mismatches. */
static lg_status m_reserialize(st_doc *d) { return LG_OK; }

static lg_status m_pad(st_doc *d)
{
    d->extra_pad = 64;
    return LG_OK;
}

static lg_status m_rename(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    size_t n = strlen(d->e[0].name) + sizeof ".renamed";
    char *s = malloc(n);
    if (!s)
        return hx_err(LG_E_NOMEM, "out of memory");
    snprintf(s, n, "%s.renamed", d->e[0].name);
    free(d->e[0].name);
    d->e[0].name = s;
    return LG_OK;
}

/* The first tensor with the same elements in another shape: [numel], or
 * [1, numel] when it is already one-dimensional. */
static lg_status m_reshape(st_doc *d)
{
    lg_status st;
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    int64_t v[2] = {1, (int64_t)numel_of(&d->e[0])};
    int one = json_array_size(json_object_get(d->e[0].v, "shape")) == 1;
    return set_first(d, "shape", one ? ints(v, 2) : ints(v + 1, 1));
}

/* The first tensor whose dimension 0 is at least 2 keeps only its first
 * row: shape [1, ...], which broadcasts to the store's shape. */
static lg_status m_broadcastable(st_doc *d)
{
    lg_status st;
    for (size_t i = 0; i < d->n; i++) {
        st_ent *t = &d->e[i];
        json_t *shape = json_object_get(t->v, "shape");
        json_int_t rows = json_integer_value(json_array_get(shape, 0));
        if (json_array_size(shape) < 1 || rows < 2 || t->e == t->b)
            continue;
        uint64_t row = (t->e - t->b) / (uint64_t)rows, drop = (t->e - t->b) - row;
        json_t *s = json_deep_copy(shape);
        if (!s || json_array_set_new(s, 0, json_integer(1)) ||
            json_object_set_new(t->v, "shape", s) || set_offsets(t, t->b, t->b + row))
            return hx_err(LG_E_NOMEM, "out of memory");
        if ((st = shift(d, i + 1, -(int64_t)drop)) != LG_OK)
            return st;
        return data_remove(d, (size_t)(t->b + row), (size_t)drop);
    }
    return hx_err(LG_E_INVALID, "needs a tensor whose first dimension is at least 2");
}

/* The first tensor relabelled with another dtype of the same size. */
static lg_status m_retype(st_doc *d)
{
    lg_status st;
    static const char *const pairs[][2] = {
        {"F32", "I32"}, {"I32", "F32"}, {"F16", "BF16"}, {"BF16", "F16"}, {"F64", "I64"},
        {"I64", "F64"}, {"I16", "F16"}, {"I8", "U8"},    {"U8", "I8"},    {"BOOL", "U8"},
    };
    if ((st = need_tensors(d, 1)) != LG_OK)
        return st;
    const char *dt = json_string_value(json_object_get(d->e[0].v, "dtype"));
    for (size_t i = 0; dt && i < sizeof pairs / sizeof pairs[0]; i++)
        if (!strcmp(dt, pairs[i][0]))
            return set_first(d, "dtype", json_string(pairs[i][1]));
    return hx_err(LG_E_INVALID, "the first tensor's dtype has no partner of its size");
}

static const hx_st_mutation st_table[] = {
    {"header-len-0", "LG_E_FORMAT", "is too small for a JSON object", 1},
    {"header-len-1", "LG_E_FORMAT", "is too small for a JSON object", 1},
    {"header-len-7", "LG_E_FORMAT", "header is not valid JSON", 1},
    {"header-len-past-eof", "LG_E_FORMAT", "runs past the end of the file", 1},
    {"header-len-over-limit", "LG_E_FORMAT", "exceeds the safetensors limit", 1},
    {"header-len-max", "LG_E_FORMAT", "exceeds the safetensors limit", 1},
    {"header-not-utf8", "LG_E_FORMAT", "not valid UTF-8", 1},
    {"header-not-json", "LG_E_FORMAT", "header is not valid JSON", 1},
    {"header-not-object", "LG_E_FORMAT", "unknown checkpoint format", 1},
    {"header-leading-space", "LG_E_FORMAT", "header must begin with '{'", 1},
    {"header-nul-padding", "LG_E_FORMAT", "NUL byte", 1},
    {"dtype-unknown", "LG_E_FORMAT", "unknown dtype \"F33\"", 1},
    {"dtype-unsupported", "LG_E_FORMAT", "unsupported dtype \"F8_E4M3\"", 1},
    {"dtype-not-string", "LG_E_FORMAT", "dtype is an integer, not a string", 1},
    {"shape-negative", "LG_E_FORMAT", "is -1, not a non-negative integer", 1},
    {"shape-not-integer", "LG_E_FORMAT", "is a real number, not a non-negative integer", 1},
    {"shape-huge", "LG_E_FORMAT", "shape [1099511627776] of", 1},
    {"shape-overflow", "LG_E_FORMAT", "overflows 64 bits", 1},
    {"shape-too-many-dims", "LG_E_FORMAT", "shape has 9 dimensions", 1},
    {"offsets-reversed", "LG_E_FORMAT", "end before they begin", 1},
    {"offsets-overlap", "LG_E_FORMAT", "overlap by 1 bytes", 1},
    {"offsets-gap", "LG_E_FORMAT", "gap of 1 bytes", 1},
    {"offsets-out-of-bounds", "LG_E_FORMAT", "run past the end of the data section", 1},
    {"offsets-not-zero", "LG_E_FORMAT", "the first tensor must begin at 0", 1},
    {"offsets-huge", "LG_E_FORMAT", "9223372036854775807", 1},
    {"duplicate-name", "LG_E_FORMAT", "duplicate tensor name", 1},
    {"metadata-not-string", "LG_E_FORMAT", "is an integer, not a string", 1},
    {"metadata-not-object", "LG_E_FORMAT", "is a string, not a map of strings", 1},
    {"entry-extra-key", "LG_E_FORMAT", "unexpected key \"offsets\"", 1},
    {"entry-missing-key", "LG_E_FORMAT", "\"data_offsets\" is missing", 1},
    {"entry-not-object", "LG_E_FORMAT", "entry is an array, not an object", 1},
    {"trailing-bytes", "LG_E_FORMAT", "8 trailing bytes belong to no tensor", 1},
    {"missing-bytes", "LG_E_FORMAT", "run past the end of the data section", 1},
    {"reserialize", "LG_OK", NULL, 0},
    {"pad-header", "LG_OK", NULL, 0},
    {"rename-tensor", "LG_E_NOTFOUND", "is not in the file", 0},
    {"reshape-tensor", "LG_E_SHAPE", "in the file", 0},
    {"broadcastable-shape", "LG_E_SHAPE", "in the file", 0},
    {"retype-same-size", "LG_OK", NULL, 0},
    {NULL, NULL, NULL, 0},
};

static const st_fn st_fns[] = {
    m_len0, m_len1, m_len7, m_len_past, m_len_limit, m_len_max, m_not_utf8, m_not_json,
    m_not_object, m_leading_space, m_nul_padding, m_dtype_unknown, m_dtype_unsupported,
    m_dtype_not_string, m_shape_negative, m_shape_not_integer, m_shape_huge, m_shape_overflow,
    m_shape_dims, m_offsets_reversed, m_offsets_overlap, m_offsets_gap, m_offsets_oob,
    m_offsets_not_zero, m_offsets_huge, m_duplicate, m_meta_not_string, m_meta_not_object,
    m_extra_key, m_missing_key, m_not_object_entry, m_trailing, m_missing, m_reserialize,
    m_pad, m_rename, m_reshape, m_broadcastable, m_retype,
};

_Static_assert(sizeof st_fns / sizeof st_fns[0] == sizeof st_table / sizeof st_table[0] - 1,
               "one function per named mutation");

const hx_st_mutation *hx_st_mutations(void) { return st_table; }

int hx_st_mutation_find(const char *name)
{
    for (int i = 0; st_table[i].name; i++)
        if (!strcmp(st_table[i].name, name))
            return i;
    return -1;
}

lg_status hx_st_mutate(const hx_corrupt *c, unsigned char **buf, size_t *len)
{
    st_doc d;
    unsigned char *out = NULL;
    size_t outlen = 0;
    int count = (int)(sizeof st_fns / sizeof st_fns[0]);
    if (c->mutation < 0 || c->mutation >= count)
        return hx_err(LG_E_INVALID, "corrupt %s: unknown safetensors mutation %d", c->label,
                      c->mutation);
    lg_status st = st_parse(*buf, *len, &d);
    if (st == LG_OK)
        st = st_fns[c->mutation](&d);
    if (st == LG_OK)
        st = st_write(&d, &out, &outlen);
    st_doc_free(&d);
    if (st != LG_OK)
        return hx_err(st, "corrupt %s: %s", c->label, hx_errmsg());
    free(*buf);
    *buf = out;
    *len = outlen;
    return LG_OK;
}
