/* Corruption of a fixture file (corrupt.h, docs/cases.md): byte-level
 * generators, splices from another file, named rewrites of a safetensors
 * header, and named edits of a torch.save zip archive. The whole file is read into memory, changed and
 * written out: fixtures are small, and this keeps every generator short. */
#include "corrupt/corrupt.h"
#include "loadgate/loadgate.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <zlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t hx_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int hx_corrupt_offset(int64_t v, int half, uint64_t size, uint64_t *out)
{
    if (half) {
        *out = size / 2;
        return 0;
    }
    if (v < 0) {
        /* -(v + 1) + 1 avoids overflowing on INT64_MIN */
        uint64_t back = (uint64_t)(-(v + 1)) + 1;
        if (back > size)
            return -1;
        *out = size - back;
        return 0;
    }
    if ((uint64_t)v > size)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static void offset_text(int64_t v, int half, char *buf, size_t n)
{
    if (half)
        snprintf(buf, n, "half");
    else
        snprintf(buf, n, "%" PRId64, v);
}

void hx_corrupt_label(hx_corrupt *c)
{
    char a[24], b[24];
    offset_text(c->a, c->a_half, a, sizeof a);
    offset_text(c->b, c->b_half, b, sizeof b);
    switch (c->kind) {
    case HX_CORRUPT_TRUNCATE:
        snprintf(c->label, sizeof c->label, "truncate:%s", a);
        break;
    case HX_CORRUPT_FLIP:
        if (c->random)
            snprintf(c->label, sizeof c->label, "flip:random%s:seed%" PRIu64, a, c->seed);
        else if (c->bit < 0)
            snprintf(c->label, sizeof c->label, "flip:%s:all", a);
        else
            snprintf(c->label, sizeof c->label, "flip:%s:%d", a, c->bit);
        break;
    case HX_CORRUPT_ZERO:
        snprintf(c->label, sizeof c->label, "zero:%s:%s", a, b);
        break;
    case HX_CORRUPT_SPLICE: {
        char at[24];
        offset_text(c->at, c->at_half, at, sizeof at);
        snprintf(c->label, sizeof c->label, "splice:%s:%s:%s@%s%s",
                 c->from_name[0] ? c->from_name : "file", a, b, at, c->insert ? ":insert" : "");
        break;
    }
    case HX_CORRUPT_SAFETENSORS: {
        const hx_st_mutation *m = hx_st_mutations();
        int n = 0;
        while (m[n].name)
            n++;
        snprintf(c->label, sizeof c->label, "safetensors:%s",
                 c->mutation >= 0 && c->mutation < n ? m[c->mutation].name : "?");
        break;
    }
    case HX_CORRUPT_TORCH_ZIP: {
        const hx_tz_mutation *m = hx_tz_mutations();
        int n = 0;
        while (m[n].name)
            n++;
        snprintf(c->label, sizeof c->label, "torch_zip:%s",
                 c->mutation >= 0 && c->mutation < n ? m[c->mutation].name : "?");
        break;
    }
    default:
        snprintf(c->label, sizeof c->label, "none");
        break;
    }
}

static unsigned char *read_all(const char *path, size_t *len, char *err, size_t errlen);
static int st_mutate(const hx_corrupt *c, unsigned char **buf, size_t *len, char *err,
                     size_t errlen);
static int tz_mutate(const hx_corrupt *c, unsigned char *buf, size_t *len, char *err,
                     size_t errlen);

static int fail(char *err, size_t errlen, const char *label, const char *what, uint64_t size)
{
    snprintf(err, errlen, "corrupt %s: %s (the file has %" PRIu64 " bytes)", label, what, size);
    return -1;
}

static int apply_flip(const hx_corrupt *c, unsigned char *buf, size_t len, char *err,
                      size_t errlen)
{
    uint64_t off;
    if (c->random) {
        if (len == 0)
            return fail(err, errlen, c->label, "no byte to flip", len);
        uint64_t state = c->seed;
        for (int64_t i = 0; i < c->a; i++) {
            uint64_t r = hx_splitmix64(&state);
            buf[(r >> 3) % len] ^= (unsigned char)(1u << (r & 7));
        }
        return 0;
    }
    if (hx_corrupt_offset(c->a, c->a_half, len, &off) || off >= len)
        return fail(err, errlen, c->label, "offset outside the file", len);
    if (c->bit < 0)
        buf[off] ^= 0xFF;
    else
        buf[off] ^= (unsigned char)(1u << (c->bit & 7));
    return 0;
}

int hx_corrupt_apply_buf(const hx_corrupt *c, unsigned char *buf, size_t *len, char *err,
                         size_t errlen)
{
    uint64_t a, b;
    switch (c->kind) {
    case HX_CORRUPT_NONE:
        return 0;
    case HX_CORRUPT_TRUNCATE:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a))
            return fail(err, errlen, c->label, "length outside the file", *len);
        *len = (size_t)a;
        return 0;
    case HX_CORRUPT_FLIP:
        return apply_flip(c, buf, *len, err, errlen);
    case HX_CORRUPT_ZERO:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a) ||
            hx_corrupt_offset(c->b, c->b_half, *len, &b) || a > b)
            return fail(err, errlen, c->label, "range outside the file", *len);
        memset(buf + a, 0, (size_t)(b - a));
        return 0;
    case HX_CORRUPT_TORCH_ZIP:
        return tz_mutate(c, buf, len, err, errlen);
    case HX_CORRUPT_SPLICE:
    case HX_CORRUPT_SAFETENSORS:
        snprintf(err, errlen, "corrupt %s: may grow the file; use hx_corrupt_apply_mem",
                 c->label);
        return -1;
    }
    snprintf(err, errlen, "corrupt: unknown kind %d", (int)c->kind);
    return -1;
}

/* splice: bytes [a, b) of c->from over (or into) buf at c->at. */
static int apply_splice(const hx_corrupt *c, unsigned char **buf, size_t *len, char *err,
                        size_t errlen)
{
    uint64_t a, b, at;
    size_t slen = 0;
    char why[512];
    if (!c->from) {
        snprintf(err, errlen, "corrupt %s: no source file", c->label);
        return -1;
    }
    unsigned char *src = read_all(c->from, &slen, why, sizeof why);
    if (!src) {
        snprintf(err, errlen, "corrupt %s: %s", c->label, why);
        return -1;
    }
    int rc = -1;
    if (hx_corrupt_offset(c->a, c->a_half, slen, &a) ||
        hx_corrupt_offset(c->b, c->b_half, slen, &b) || a > b)
        fail(err, errlen, c->label, "range outside the source file", slen);
    else if (hx_corrupt_offset(c->at, c->at_half, *len, &at))
        fail(err, errlen, c->label, "offset `at` outside the file", *len);
    else {
        size_t n = (size_t)(b - a), newlen = c->insert ? *len + n
                                           : (n > *len - (size_t)at ? (size_t)at + n : *len);
        unsigned char *out = n > SIZE_MAX - 1 - *len ? NULL : malloc(newlen ? newlen : 1);
        if (!out) {
            snprintf(err, errlen, "corrupt %s: out of memory", c->label);
        } else {
            memcpy(out, *buf, *len);
            if (c->insert)
                memmove(out + at + n, out + at, *len - (size_t)at);
            memcpy(out + at, src + a, n);
            free(*buf);
            *buf = out;
            *len = newlen;
            rc = 0;
        }
    }
    free(src);
    return rc;
}

int hx_corrupt_apply_mem(const hx_corrupt *c, unsigned char **buf, size_t *len, char *err,
                         size_t errlen)
{
    if (c->kind == HX_CORRUPT_SPLICE)
        return apply_splice(c, buf, len, err, errlen);
    if (c->kind == HX_CORRUPT_SAFETENSORS)
        return st_mutate(c, buf, len, err, errlen);
    return hx_corrupt_apply_buf(c, *buf, len, err, errlen);
}

static unsigned char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto io;
    long end = ftell(f);
    if (end < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto io;
    buf = malloc((size_t)end + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, (size_t)end, f) != (size_t)end)
        goto io;
    fclose(f);
    *len = (size_t)end;
    return buf;
io:
    snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
}

static int write_all(const char *path, const unsigned char *buf, size_t len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t put = len ? fwrite(buf, 1, len, f) : 0;
    int closed = fclose(f);
    if (put != len || closed != 0) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int hx_corrupt_apply(const hx_corrupt *c, const char *in, const char *out, char *err,
                     size_t errlen)
{
    size_t len = 0;
    unsigned char *buf = read_all(in, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = hx_corrupt_apply_mem(c, &buf, &len, err, errlen);
    if (rc == 0)
        rc = write_all(out, buf, len, err, errlen);
    free(buf);
    return rc;
}

/* ------------------------------------------------ safetensors mutations */

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

typedef int (*st_fn)(st_doc *d, char *err, size_t errlen);

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

static int st_fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -1;
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
    return 0;
}

/* One entry; its data_offsets must lie inside the data section of dlen
 * bytes, as the reader requires, before any mutation moves data by them. */
static int st_entry(const char *key, json_t *v, size_t dlen, st_ent *t, char *err,
                    size_t errlen)
{
    json_t *dt = json_object_get(v, "dtype"), *off = json_object_get(v, "data_offsets");
    lg_dtype d;
    if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(json_object_get(v, "shape")) ||
        json_array_size(off) != 2 || st_uint(off, 0, &t->b) || st_uint(off, 1, &t->e) ||
        t->e < t->b || lg_dtype_parse(json_string_value(dt), &d) != LG_OK) {
        snprintf(err, errlen, "the input is not a valid safetensors file: entry \"%s\"", key);
        return -1;
    }
    if (t->e > dlen) {
        snprintf(err, errlen, "the input is not a valid safetensors file: entry \"%s\" has "
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] past the data section of %zu bytes",
                 key, t->b, t->e, dlen);
        return -1;
    }
    t->dsize = lg_dtype_size(d);
    if (!(t->name = strdup(key)))
        return st_fail(err, errlen, "out of memory");
    t->v = json_incref(v);
    return 0;
}

/* The input must be a safetensors file that the mutation can take apart. */
static int st_parse(const unsigned char *buf, size_t len, st_doc *d, char *err, size_t errlen)
{
    json_error_t je;
    const char *key;
    json_t *v;
    memset(d, 0, sizeof *d);
    if (len < 8 || st_le64(buf) > len - 8)
        return st_fail(err, errlen, "the input is not a safetensors file (bad header length)");
    uint64_t n = st_le64(buf);
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return st_fail(err, errlen, "the input is not a safetensors file (bad header)");
    }
    d->e = calloc(json_object_size(root) + 1, sizeof *d->e);
    d->dlen = len - 8 - (size_t)n;
    d->data = malloc(d->dlen + 1);
    if (!d->e || !d->data) {
        json_decref(root);
        return st_fail(err, errlen, "out of memory");
    }
    memcpy(d->data, buf + 8 + n, d->dlen);
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__"))
            d->meta = json_incref(v);
        else if ((rc = st_entry(key, v, d->dlen, &d->e[d->n], err, errlen)) == 0)
            d->n++;
        if (rc)
            break;
    }
    json_decref(root);
    if (rc)
        return -1;
    qsort(d->e, d->n, sizeof *d->e, ent_cmp);
    return 0;
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
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
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
    char *s = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
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

static int st_write(const st_doc *d, unsigned char **out, size_t *outlen, char *err,
                    size_t errlen)
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
        return st_fail(err, errlen, h.oom || f.oom ? "out of memory" : "nothing left to cut");
    }
    *out = f.p;
    *outlen = f.n - d->cut;
    return 0;
}

/* ----------------------------------------------------- the mutations */

static int need_tensors(const st_doc *d, size_t n, char *err, size_t errlen)
{
    if (d->n >= n)
        return 0;
    snprintf(err, errlen, "needs a file with at least %zu tensor%s (it has %zu)", n,
             n == 1 ? "" : "s", d->n);
    return -1;
}

/* Sets key of the first tensor's entry (takes v). */
static int set_first(st_doc *d, const char *key, json_t *v, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen)) {
        json_decref(v);
        return -1;
    }
    if (!v || json_object_set_new(d->e[0].v, key, v))
        return st_fail(err, errlen, "out of memory");
    return 0;
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
static int shift(st_doc *d, size_t from, int64_t delta, char *err, size_t errlen)
{
    uint64_t down = delta < 0 ? (uint64_t)(-(delta + 1)) + 1 : 0;
    for (size_t i = from; i < d->n; i++)
        if (d->e[i].b < down)
            return st_fail(err, errlen, "the input's tensors overlap: an offset would be "
                                        "negative");
    for (size_t i = from; i < d->n; i++)
        if (set_offsets(&d->e[i], delta < 0 ? d->e[i].b - down : d->e[i].b + (uint64_t)delta,
                        delta < 0 ? d->e[i].e - down : d->e[i].e + (uint64_t)delta))
            return st_fail(err, errlen, "out of memory");
    return 0;
}

/* n zero bytes at offset at of the data section. */
static int data_insert(st_doc *d, size_t at, size_t n, char *err, size_t errlen)
{
    if (at > d->dlen || n > SIZE_MAX - 1 - d->dlen)
        return st_fail(err, errlen, "an insert outside the data section");
    unsigned char *p = realloc(d->data, d->dlen + n + 1);
    if (!p)
        return st_fail(err, errlen, "out of memory");
    memmove(p + at + n, p + at, d->dlen - at);
    memset(p + at, 0, n);
    d->data = p;
    d->dlen += n;
    return 0;
}

/* Bytes [at, at + n) of the data section removed. */
static int data_remove(st_doc *d, size_t at, size_t n, char *err, size_t errlen)
{
    if (at > d->dlen || n > d->dlen - at)
        return st_fail(err, errlen, "a removal outside the data section");
    memmove(d->data + at, d->data + at + n, d->dlen - at - n);
    d->dlen -= n;
    return 0;
}

/* The index of the first tensor (in file order) holding at least one byte. */
static int first_nonempty(const st_doc *d, size_t *i, char *err, size_t errlen)
{
    for (*i = 0; *i < d->n; (*i)++)
        if (d->e[*i].e > d->e[*i].b)
            return 0;
    return st_fail(err, errlen, "needs a tensor with at least one byte");
}

static uint64_t numel_of(const st_ent *t)
{
    return t->dsize ? (t->e - t->b) / t->dsize : 0;
}

#define LEN_MUT(fn, v)                                                                     \
    static int fn(st_doc *d, char *err, size_t errlen)                                     \
    {                                                                                      \
        d->len_set = 1;                                                                    \
        d->len_value = (v);                                                                \
        return 0;                                                                          \
    }
LEN_MUT(m_len0, 0)
LEN_MUT(m_len1, 1)
LEN_MUT(m_len7, 7)
LEN_MUT(m_len_limit, 100000001)
LEN_MUT(m_len_max, UINT64_MAX)

static int m_len_past(st_doc *d, char *err, size_t errlen)
{
    d->len_past_end = 1;
    return 0;
}

static int m_not_utf8(st_doc *d, char *err, size_t errlen)
{
    d->bad_utf8 = 1;
    return need_tensors(d, 1, err, errlen);
}

static int m_not_json(st_doc *d, char *err, size_t errlen)
{
    d->drop_brace = 1;
    return 0;
}

static int m_not_object(st_doc *d, char *err, size_t errlen)
{
    d->prefix = "[";
    d->suffix = "]";
    return 0;
}

static int m_leading_space(st_doc *d, char *err, size_t errlen)
{
    d->prefix = " ";
    return 0;
}

static int m_nul_padding(st_doc *d, char *err, size_t errlen)
{
    d->nul_pad = 8;
    return 0;
}

static int m_dtype_unknown(st_doc *d, char *err, size_t errlen)
{
    return set_first(d, "dtype", json_string("F33"), err, errlen);
}

static int m_dtype_unsupported(st_doc *d, char *err, size_t errlen)
{
    return set_first(d, "dtype", json_string("F8_E4M3"), err, errlen);
}

static int m_dtype_not_string(st_doc *d, char *err, size_t errlen)
{
    return set_first(d, "dtype", json_integer(32), err, errlen);
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

static int m_shape_negative(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    return set_first(d, "shape", shape_with_first(d, json_integer(-1)), err, errlen);
}

static int m_shape_not_integer(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    return set_first(d, "shape", shape_with_first(d, json_real(1.5)), err, errlen);
}

static int m_shape_huge(st_doc *d, char *err, size_t errlen)
{
    int64_t v[1] = {INT64_C(1) << 40};
    return set_first(d, "shape", ints(v, 1), err, errlen);
}

static int m_shape_overflow(st_doc *d, char *err, size_t errlen)
{
    int64_t v[3] = {INT64_C(1) << 32, INT64_C(1) << 32, 4};
    return set_first(d, "shape", ints(v, 3), err, errlen);
}

static int m_shape_dims(st_doc *d, char *err, size_t errlen)
{
    int64_t v[LG_MAX_DIMS + 1];
    for (int i = 0; i <= LG_MAX_DIMS; i++)
        v[i] = 1;
    return set_first(d, "shape", ints(v, LG_MAX_DIMS + 1), err, errlen);
}

static int m_offsets_reversed(st_doc *d, char *err, size_t errlen)
{
    size_t i;
    if (first_nonempty(d, &i, err, errlen))
        return -1;
    int64_t v[2] = {(int64_t)d->e[i].e, (int64_t)d->e[i].b};
    return json_object_set_new(d->e[i].v, "data_offsets", ints(v, 2))
               ? st_fail(err, errlen, "out of memory")
               : 0;
}

/* The tensors after the first non-empty one begin one byte early; the
 * data section is one byte shorter, so only the overlap is wrong. */
static int m_offsets_overlap(st_doc *d, char *err, size_t errlen)
{
    size_t i;
    if (first_nonempty(d, &i, err, errlen))
        return -1;
    if (i + 1 >= d->n)
        return st_fail(err, errlen, "needs a tensor after the first non-empty one");
    if (shift(d, i + 1, -1, err, errlen))
        return -1;
    return data_remove(d, d->dlen - 1, 1, err, errlen);
}

/* One byte between the first tensor and the next; the rest follows. */
static int m_offsets_gap(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 2, err, errlen))
        return -1;
    if (shift(d, 1, 1, err, errlen) || data_insert(d, (size_t)d->e[0].e, 1, err, errlen))
        return -1;
    return 0;
}

/* The last tensor gains an element (flattened), past the data section. */
static int m_offsets_oob(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    st_ent *t = &d->e[d->n - 1];
    int64_t v[1] = {(int64_t)numel_of(t) + 1};
    if (json_object_set_new(t->v, "shape", ints(v, 1)) || set_offsets(t, t->b, t->e + t->dsize))
        return st_fail(err, errlen, "out of memory");
    return 0;
}

/* Every tensor 8 bytes later, behind 8 bytes of zeroes. */
static int m_offsets_not_zero(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    if (shift(d, 0, 8, err, errlen) || data_insert(d, 0, 8, err, errlen))
        return -1;
    return 0;
}

static int m_offsets_huge(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    st_ent *t = &d->e[d->n - 1];
    return set_offsets(t, t->b, (uint64_t)INT64_MAX) ? st_fail(err, errlen, "out of memory") : 0;
}

static int m_duplicate(st_doc *d, char *err, size_t errlen)
{
    d->dup_first = 1;
    return need_tensors(d, 1, err, errlen);
}

static int m_meta_not_string(st_doc *d, char *err, size_t errlen)
{
    json_t *m = json_is_object(d->meta) && json_object_size(d->meta) ? json_deep_copy(d->meta)
                                                                     : json_object();
    char key[256] = "epoch";
    const char *first = m ? json_object_iter_key(json_object_iter(m)) : NULL;
    if (first)
        snprintf(key, sizeof key, "%s", first);
    if (!m || json_object_set_new(m, key, json_integer(3))) {
        json_decref(m);
        return st_fail(err, errlen, "out of memory");
    }
    json_decref(d->meta);
    d->meta = m;
    return 0;
}

static int m_meta_not_object(st_doc *d, char *err, size_t errlen)
{
    json_decref(d->meta);
    d->meta = json_string("pt");
    return d->meta ? 0 : st_fail(err, errlen, "out of memory");
}

static int m_extra_key(st_doc *d, char *err, size_t errlen)
{
    int64_t v[2] = {0, 0};
    return set_first(d, "offsets", ints(v, 2), err, errlen);
}

static int m_missing_key(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    json_object_del(d->e[0].v, "data_offsets");
    return 0;
}

static int m_not_object_entry(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    json_t *a = json_deep_copy(json_object_get(d->e[0].v, "data_offsets"));
    if (!a)
        return st_fail(err, errlen, "out of memory");
    json_decref(d->e[0].v);
    d->e[0].v = a;
    return 0;
}

static int m_trailing(st_doc *d, char *err, size_t errlen)
{
    return data_insert(d, d->dlen, 8, err, errlen);
}

static int m_missing(st_doc *d, char *err, size_t errlen)
{
    if (d->dlen == 0)
        return st_fail(err, errlen, "needs a data section of at least one byte");
    d->cut = 1;
    return 0;
}

/* Valid files, for controls and store mismatches. */
static int m_reserialize(st_doc *d, char *err, size_t errlen) { return 0; }

static int m_pad(st_doc *d, char *err, size_t errlen)
{
    d->extra_pad = 64;
    return 0;
}

static int m_rename(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    size_t n = strlen(d->e[0].name) + sizeof ".renamed";
    char *s = malloc(n);
    if (!s)
        return st_fail(err, errlen, "out of memory");
    snprintf(s, n, "%s.renamed", d->e[0].name);
    free(d->e[0].name);
    d->e[0].name = s;
    return 0;
}

/* The first tensor with the same elements in another shape: [numel], or
 * [1, numel] when it is already one-dimensional. */
static int m_reshape(st_doc *d, char *err, size_t errlen)
{
    if (need_tensors(d, 1, err, errlen))
        return -1;
    int64_t v[2] = {1, (int64_t)numel_of(&d->e[0])};
    int one = json_array_size(json_object_get(d->e[0].v, "shape")) == 1;
    return set_first(d, "shape", one ? ints(v, 2) : ints(v + 1, 1), err, errlen);
}

/* The first tensor whose dimension 0 is at least 2 keeps only its first
 * row: shape [1, ...], which broadcasts to the store's shape. */
static int m_broadcastable(st_doc *d, char *err, size_t errlen)
{
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
            return st_fail(err, errlen, "out of memory");
        if (shift(d, i + 1, -(int64_t)drop, err, errlen))
            return -1;
        return data_remove(d, (size_t)(t->b + row), (size_t)drop, err, errlen);
    }
    return st_fail(err, errlen, "needs a tensor whose first dimension is at least 2");
}

/* The first tensor relabelled with another dtype of the same size. */
static int m_retype(st_doc *d, char *err, size_t errlen)
{
    static const char *const pairs[][2] = {
        {"F32", "I32"}, {"I32", "F32"}, {"F16", "BF16"}, {"BF16", "F16"}, {"F64", "I64"},
        {"I64", "F64"}, {"I16", "F16"}, {"I8", "U8"},    {"U8", "I8"},    {"BOOL", "U8"},
    };
    if (need_tensors(d, 1, err, errlen))
        return -1;
    const char *dt = json_string_value(json_object_get(d->e[0].v, "dtype"));
    for (size_t i = 0; dt && i < sizeof pairs / sizeof pairs[0]; i++)
        if (!strcmp(dt, pairs[i][0]))
            return set_first(d, "dtype", json_string(pairs[i][1]), err, errlen);
    return st_fail(err, errlen, "the first tensor's dtype has no partner of its size");
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

static int st_mutate(const hx_corrupt *c, unsigned char **buf, size_t *len, char *err,
                     size_t errlen)
{
    st_doc d;
    char why[512] = "";
    unsigned char *out = NULL;
    size_t outlen = 0;
    int count = (int)(sizeof st_fns / sizeof st_fns[0]);
    if (c->mutation < 0 || c->mutation >= count) {
        snprintf(err, errlen, "corrupt %s: unknown safetensors mutation %d", c->label,
                 c->mutation);
        return -1;
    }
    int rc = st_parse(*buf, *len, &d, why, sizeof why);
    if (rc == 0)
        rc = st_fns[c->mutation](&d, why, sizeof why);
    if (rc == 0)
        rc = st_write(&d, &out, &outlen, why, sizeof why);
    st_doc_free(&d);
    if (rc) {
        snprintf(err, errlen, "corrupt %s: %s", c->label, why);
        return -1;
    }
    free(*buf);
    *buf = out;
    *len = outlen;
    return 0;
}

/* ------------------------------------------------ torch.save zip mutations */

#define TZ_EOCD 22u
#define TZ_CENTRAL 46u
#define TZ_LOCAL 30u

static uint32_t tz_rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t tz_rd32(const unsigned char *p) { return tz_rd16(p) | tz_rd16(p + 2) << 16; }
static uint64_t tz_rd64(const unsigned char *p) { return tz_rd32(p) | (uint64_t)tz_rd32(p + 4) << 32; }
static void tz_wr16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void tz_wr32(unsigned char *p, uint32_t v)
{
    tz_wr16(p, v & 0xffffu);
    tz_wr16(p + 2, v >> 16);
}

/* One record: where its central and local headers and its data lie. */
typedef struct {
    size_t central, local, data, size, nlen;
} tz_rec;

/* A zip archive, parsed just enough to edit it. */
typedef struct {
    unsigned char *b;
    size_t len, eocd, cd;
    size_t z64;                  /* the zip64 end record, or 0 when there is none */
    tz_rec pkl, rec0, version;   /* <prefix>/data.pkl, data/0, version */
} tz_zip;

typedef int (*tz_fn)(tz_zip *z, size_t *len, char *err, size_t errlen);

static int tz_suffix(const unsigned char *name, size_t n, const char *sfx)
{
    size_t k = strlen(sfx);
    return n >= k && !memcmp(name + n - k, sfx, k);
}

static int tz_parse(unsigned char *b, size_t len, tz_zip *z, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    z->b = b;
    z->len = len;
    int found = 0;
    for (size_t pos = len >= TZ_EOCD ? len - TZ_EOCD + 1 : 0; pos-- > 0;)
        if (tz_rd32(b + pos) == 0x06054b50u && tz_rd16(b + pos + 20) == len - pos - TZ_EOCD) {
            z->eocd = pos;
            found = 1;
            break;
        }
    if (!found) {
        snprintf(err, errlen, "the input is not a zip archive (no end of central directory)");
        return -1;
    }
    uint64_t count = tz_rd16(b + z->eocd + 10), at = tz_rd32(b + z->eocd + 16);
    if (z->eocd >= 20 && tz_rd32(b + z->eocd - 20) == 0x07064b50u) {
        const unsigned char *l = b + z->eocd - 20;
        uint64_t off = tz_rd64(l + 8);
        /* the zip64 end record (56 bytes) lies before its locator */
        if (off > z->eocd - 20 || z->eocd - 20 - off < 56 || tz_rd32(b + off) != 0x06064b50u) {
            snprintf(err, errlen, "the input is not a zip archive that can be edited (zip64 "
                                  "locator)");
            return -1;
        }
        z->z64 = (size_t)off;
        count = tz_rd64(b + off + 32);
        at = tz_rd64(b + off + 48);
    }
    if (at > z->eocd) {
        snprintf(err, errlen, "the input is not a zip archive that can be edited (central "
                              "directory offset %" PRIu64 " past the end record)", at);
        return -1;
    }
    z->cd = (size_t)at;
    for (uint64_t i = 0; i < count; i++) {
        if (at > z->eocd || z->eocd - at < TZ_CENTRAL || tz_rd32(b + at) != 0x02014b50u) {
            snprintf(err, errlen, "the input is not a zip archive that can be edited "
                                  "(central directory entry %" PRIu64 ")", i);
            return -1;
        }
        size_t nlen = tz_rd16(b + at + 28), xlen = tz_rd16(b + at + 30),
               clen = tz_rd16(b + at + 32), local = tz_rd32(b + at + 42);
        if (local > len || len - local < TZ_LOCAL || tz_rd32(b + local) != 0x04034b50u) {
            snprintf(err, errlen, "the input is not a zip archive that can be edited "
                                  "(local header of entry %" PRIu64 ")", i);
            return -1;
        }
        tz_rec r = {(size_t)at, local, local + TZ_LOCAL + tz_rd16(b + local + 26) +
                    tz_rd16(b + local + 28), tz_rd32(b + at + 20), nlen};
        if (z->eocd - at - TZ_CENTRAL < nlen || r.data > len || len - r.data < r.size ||
            tz_rd16(b + local + 26) != nlen) {
            snprintf(err, errlen, "the input is not a zip archive that can be edited "
                                  "(entry %" PRIu64 " runs past the end)", i);
            return -1;
        }
        const unsigned char *name = b + at + TZ_CENTRAL;
        if (tz_suffix(name, nlen, "/data.pkl") && !z->pkl.nlen)
            z->pkl = r;
        else if (tz_suffix(name, nlen, "/data/0") && !z->rec0.nlen)
            z->rec0 = r;
        else if (tz_suffix(name, nlen, "/version") && !z->version.nlen)
            z->version = r;
        at += TZ_CENTRAL + nlen + xlen + clen;
    }
    if (!z->pkl.nlen || !z->rec0.nlen || !z->version.nlen || z->pkl.size < 8 ||
        z->pkl.data + z->pkl.size > len || b[z->pkl.data] != 0x80 ||
        tz_rd16(b + z->rec0.central + 10) != 0 || tz_rd16(b + z->pkl.central + 10) != 0) {
        snprintf(err, errlen, "the input is not a torch.save zip archive with stored records "
                              "data.pkl, data/0 and version");
        return -1;
    }
    return 0;
}

/* The record's CRC-32, recomputed, in the central directory and in the
 * local header, or in the data descriptor after the data when flag bit 3
 * says the local header defers to one (torch.save writes those). */
static void tz_fix_crc(tz_zip *z, const tz_rec *r)
{
    uint32_t crc = (uint32_t)crc32(0L, z->b + r->data, (uInt)r->size);
    size_t at = r->data + r->size;
    tz_wr32(z->b + r->central + 16, crc);
    if (!(tz_rd16(z->b + r->central + 8) & 8u))
        tz_wr32(z->b + r->local + 14, crc);
    else if (at + 8 <= z->len)
        tz_wr32(z->b + at + (tz_rd32(z->b + at) == 0x08074b50u ? 4 : 0), crc);
}

/* The last byte of the record's name, in both headers. */
static void tz_rename(tz_zip *z, const tz_rec *r, unsigned char last)
{
    z->b[r->central + TZ_CENTRAL + r->nlen - 1] = last;
    z->b[r->local + TZ_LOCAL + r->nlen - 1] = last;
}

static int tz_eocd_missing(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    z->b[z->eocd + 3] = 0x07; /* PK\5\6 -> PK\5\7 */
    return 0;
}

static int tz_eocd_truncated(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    *len = z->eocd + TZ_EOCD / 2;
    return 0;
}

static int tz_cd_past_end(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    tz_wr32(z->b + z->eocd + 16, (uint32_t)(z->len + 4096));
    if (z->z64) /* the zip64 record's offset too, so that the two agree */
        tz_wr32(z->b + z->z64 + 48, (uint32_t)(z->len + 4096));
    return 0;
}

static int tz_local_name(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    z->b[z->rec0.local + TZ_LOCAL + z->rec0.nlen - 1] = '9';
    return 0;
}

static int tz_missing_pkl(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    tz_rename(z, &z->pkl, 'x'); /* data.pkl -> data.pkx */
    return 0;
}

static int tz_missing_record(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    tz_rename(z, &z->rec0, 'x'); /* data/0 -> data/x */
    return 0;
}

static int tz_crc(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    if (!z->rec0.size)
        return snprintf(err, errlen, "record data/0 is empty"), -1;
    z->b[z->rec0.data] ^= 0x01;
    return 0;
}

static int tz_version(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    if (!z->version.size)
        return snprintf(err, errlen, "record version is empty"), -1;
    z->b[z->version.data] = 'v'; /* "3\n" -> "v\n": not a number */
    tz_fix_crc(z, &z->version);
    return 0;
}

static int tz_compressed(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    tz_wr16(z->b + z->rec0.central + 10, 8);
    tz_wr16(z->b + z->rec0.local + 8, 8);
    return 0;
}

/* The zip64 end record's own length field, past the locator; an archive
 * without one: data/0's compressed size says "see the zip64 extra field",
 * which it lacks. */
static int tz_zip64(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    if (z->z64)
        tz_wr32(z->b + z->z64 + 4, 0x7fffffffu);
    else
        tz_wr32(z->b + z->rec0.central + 20, 0xffffffffu);
    return 0;
}

/* The opcodes of data.pkl after PROTO 2 (bytes 0 and 1) replaced by op. */
static int tz_pickle_at2(tz_zip *z, const unsigned char *op, size_t n)
{
    memcpy(z->b + z->pkl.data + 2, op, n);
    tz_fix_crc(z, &z->pkl);
    return 0;
}

static int tz_pk_opcode(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    static const unsigned char op[] = {0xff};
    return tz_pickle_at2(z, op, sizeof op);
}

static int tz_pk_underflow(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    static const unsigned char op[] = {'0'}; /* POP on an empty stack */
    return tz_pickle_at2(z, op, sizeof op);
}

static int tz_pk_memo(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    static const unsigned char op[] = {'h', 0xff}; /* BINGET 255: nothing memoized */
    return tz_pickle_at2(z, op, sizeof op);
}

static int tz_pk_huge(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    static const unsigned char op[] = {'X', 0xff, 0xff, 0xff, 0x7f}; /* BINUNICODE 2^31-1 */
    return tz_pickle_at2(z, op, sizeof op);
}

static int tz_pk_global(tz_zip *z, size_t *len, char *err, size_t errlen)
{
    static const char from[] = "collections\nOrderedDict\n", to[] = "subprocess\ncheck_output\n";
    unsigned char *p = z->b + z->pkl.data;
    size_t k = sizeof from - 1;
    for (size_t i = 0; i + k <= z->pkl.size; i++)
        if (!memcmp(p + i, from, k)) {
            memcpy(p + i, to, k);
            tz_fix_crc(z, &z->pkl);
            return 0;
        }
    snprintf(err, errlen, "data.pkl has no GLOBAL collections.OrderedDict to replace");
    return -1;
}

static const hx_tz_mutation tz_table[] = {
    {"eocd-missing", "LG_E_FORMAT", "no end of central directory record", 1, NULL},
    {"eocd-truncated", "LG_E_FORMAT", "no end of central directory record", 1, NULL},
    {"cd-offset-past-end", "LG_E_FORMAT", "does not end where the end records begin", 1, NULL},
    {"local-name-mismatch", "LG_E_FORMAT", "local header at", 1, NULL},
    {"missing-data-pkl", "LG_E_FORMAT", "/data.pkl (not a torch.save checkpoint?)", 0,
     "torch-zip"},
    {"missing-record", "LG_E_FORMAT", "the archive has no record", 1, NULL},
    {"crc-mismatch", "LG_E_FORMAT", "CRC-32 mismatch", 1, NULL},
    {"unsupported-version", "LG_E_FORMAT", "not a number", 1, NULL},
    {"compressed-entry", "LG_E_FORMAT", "deflated data is corrupt", 1, NULL},
    {"zip64-corrupt", "LG_E_FORMAT", "zip64", 1, NULL},
    {"pickle-unknown-opcode", "LG_E_FORMAT", "unknown opcode", 1, NULL},
    {"pickle-stack-underflow", "LG_E_FORMAT", "the stack is empty", 1, NULL},
    {"pickle-memo-out-of-range", "LG_E_FORMAT", "memo entry 255 was never set", 1, NULL},
    {"pickle-disallowed-global", "LG_E_FORMAT", "is not allowed", 1, NULL},
    {"pickle-huge-size", "LG_E_FORMAT", "truncated: a 2147483647-byte string", 1, NULL},
    {NULL, NULL, NULL, 0, NULL},
};

static const tz_fn tz_fns[] = {
    tz_eocd_missing, tz_eocd_truncated, tz_cd_past_end, tz_local_name, tz_missing_pkl,
    tz_missing_record, tz_crc, tz_version, tz_compressed, tz_zip64, tz_pk_opcode,
    tz_pk_underflow, tz_pk_memo, tz_pk_global, tz_pk_huge,
};

_Static_assert(sizeof tz_fns / sizeof tz_fns[0] == sizeof tz_table / sizeof tz_table[0] - 1,
               "one function per named mutation");

const hx_tz_mutation *hx_tz_mutations(void) { return tz_table; }

int hx_tz_mutation_find(const char *name)
{
    for (int i = 0; tz_table[i].name; i++)
        if (!strcmp(tz_table[i].name, name))
            return i;
    return -1;
}

static int tz_mutate(const hx_corrupt *c, unsigned char *buf, size_t *len, char *err,
                     size_t errlen)
{
    tz_zip z;
    char why[256] = "";
    int count = (int)(sizeof tz_fns / sizeof tz_fns[0]);
    if (c->mutation < 0 || c->mutation >= count) {
        snprintf(err, errlen, "corrupt %s: unknown torch_zip mutation %d", c->label,
                 c->mutation);
        return -1;
    }
    int rc = tz_parse(buf, *len, &z, why, sizeof why);
    if (rc == 0)
        rc = tz_fns[c->mutation](&z, len, why, sizeof why);
    if (rc) {
        snprintf(err, errlen, "corrupt %s: %s", c->label, why);
        return -1;
    }
    return 0;
}
