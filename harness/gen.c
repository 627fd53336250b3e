/* Deterministic generated checkpoints. The values come from splitmix64
 * seeded by the spec, so the same spec gives the same bytes everywhere. */
#include "gen.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void hx_gen_init(hx_gen *g)
{
    memset(g, 0, sizeof *g);
    snprintf(g->format, sizeof g->format, "safetensors");
    g->tensors = 4;
    g->ndim = 2;
    g->shape[0] = g->shape[1] = 16;
    g->dtype = LG_F32;
}

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int exp = (int)((x >> 23) & 0xff) - 127 + 15;
    if (exp <= 0) /* values here are in [-1, 1): tiny ones become zero */
        return (uint16_t)sign;
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    if (mant & 0x1000) /* round half up */
        h++;
    return (uint16_t)h;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

/* One element of dtype d from the generator, little-endian, into p. */
static void element(lg_dtype d, uint64_t *s, unsigned char *p)
{
    uint64_t r = next(s);
    double u = (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0; /* [-1, 1) */
    float f = (float)u;
    uint64_t v = 0;
    size_t n = lg_dtype_size(d);
    switch (d) {
    case LG_F64: memcpy(&v, &u, 8); break;
    case LG_F32: { uint32_t w; memcpy(&w, &f, 4); v = w; } break;
    case LG_F16: v = f32_to_f16(f); break;
    case LG_BF16: v = f32_to_bf16(f); break;
    case LG_I64: v = r; break;
    case LG_I32: v = (uint32_t)r; break;
    case LG_I16: v = (uint16_t)r; break;
    case LG_I8: case LG_U8: v = (uint8_t)r; break;
    case LG_BOOL: v = r & 1; break;
    default: break;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

typedef struct {
    char name[32];
    lg_dtype dtype;
    int ndim;
    int64_t shape[LG_MAX_DIMS];
    uint64_t nbytes;
    unsigned char *data;
} gen_tensor;

static void free_tensors(gen_tensor *t, int n)
{
    for (int i = 0; t && i < n; i++)
        free(t[i].data);
    free(t);
}

/* The most tensor data one generated fixture may hold: 1 GiB. case.c
 * refuses a larger spec when the case file is read (docs/cases.md, with
 * the same bound); this check is the generator's own, so that no caller
 * can make it allocate more. */
#define GEN_MAX_BYTES (UINT64_C(1) << 30)

/* The elements of one tensor of g into *numel. Returns -1 when a stride
 * overflows: the dimensions other than zeros multiply past INT64_MAX (a
 * torch.save file records the strides, products of the dimensions). */
static int gen_numel(const hx_gen *g, uint64_t *numel)
{
    uint64_t span = 1;
    int empty = 0;
    for (int k = 0; k < g->ndim; k++) {
        uint64_t d = (uint64_t)g->shape[k];
        if (g->shape[k] < 0)
            return -1;
        if (d == 0) {
            empty = 1;
            continue;
        }
        if (span > (uint64_t)INT64_MAX / d)
            return -1;
        span *= d;
    }
    *numel = empty ? 0 : span;
    return 0;
}

/* The bytes of tensor data g asks for, overflow-checked. Returns
 * LG_E_INVALID when the spec is malformed or asks for more than
 * GEN_MAX_BYTES. */
static lg_status gen_bytes(const hx_gen *g, uint64_t *bytes)
{
    uint64_t numel, total = 0;
    if (g->ndim < 0 || g->ndim > LG_MAX_DIMS || g->ndtypes < 0 ||
        g->ndtypes > LG_DTYPE_COUNT || (g->ndtypes == 0 && g->tensors < 0) ||
        gen_numel(g, &numel))
        return LG_E_INVALID;
    int n = g->ndtypes ? g->ndtypes : 1;
    for (int i = 0; i < n; i++) {
        lg_dtype d = g->ndtypes ? g->dtypes[i] : g->dtype;
        if ((int)d < 0 || (int)d >= LG_DTYPE_COUNT)
            return LG_E_INVALID;
        uint64_t es = lg_dtype_size(d);
        if (numel > GEN_MAX_BYTES / es)
            return LG_E_INVALID;
        total += numel * es; /* at most LG_DTYPE_COUNT terms of at most 1 GiB */
    }
    if (!g->ndtypes && total && (uint64_t)g->tensors > GEN_MAX_BYTES / total)
        return LG_E_INVALID;
    if (!g->ndtypes)
        total *= (uint64_t)g->tensors;
    if (total > GEN_MAX_BYTES)
        return LG_E_INVALID;
    *bytes = total;
    return LG_OK;
}

/* The tensors of g (gen_bytes must have accepted it), or NULL. */
static gen_tensor *make_tensors(const hx_gen *g, int *count)
{
    int n = g->ndtypes ? g->ndtypes : g->tensors;
    uint64_t s = g->seed * 0x100000001b3ULL + 1, numel = 0;
    if (gen_numel(g, &numel))
        return NULL;
    gen_tensor *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < n; i++) {
        t[i].dtype = g->ndtypes ? g->dtypes[i] : g->dtype;
        t[i].ndim = g->ndim;
        memcpy(t[i].shape, g->shape, sizeof t[i].shape);
        if (g->ndtypes)
            snprintf(t[i].name, sizeof t[i].name, "t%d_%s", i, lg_dtype_name(t[i].dtype));
        else
            snprintf(t[i].name, sizeof t[i].name, "t%d", i);
        size_t es = lg_dtype_size(t[i].dtype);
        t[i].nbytes = numel * es; /* at most GEN_MAX_BYTES: gen_bytes checked it */
        t[i].data = malloc(t[i].nbytes ? (size_t)t[i].nbytes : 1);
        if (!t[i].data) {
            free_tensors(t, n);
            return NULL;
        }
        for (uint64_t j = 0; j < numel; j++)
            element(t[i].dtype, &s, t[i].data + j * es);
    }
    *count = n;
    return t;
}

/* A growing byte buffer; ok turns 0 for good when an allocation fails or
 * a size would overflow, and later writes are then dropped. */
typedef struct {
    unsigned char *p;
    size_t n, cap;
    int ok;
} gen_buf;

static void buf_put(gen_buf *b, const void *src, size_t n)
{
    if (b->ok && n > b->cap - b->n) {
        if (n > (SIZE_MAX - 256) / 2 - b->n) {
            b->ok = 0;
            return;
        }
        size_t cap = (b->n + n) * 2 + 256;
        unsigned char *q = realloc(b->p, cap);
        b->ok = q != NULL;
        if (q)
            b->p = q, b->cap = cap;
    }
    if (b->ok && n)
        memcpy(b->p + b->n, src, n);
    b->n += b->ok ? n : 0;
}

/* printf into the buffer; the text is never cut short. */
static void buf_printf(gen_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->ok = 0;
        return;
    }
    if ((size_t)k < sizeof small) {
        buf_put(b, small, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->ok = 0;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    buf_put(b, big, (size_t)k);
    free(big);
}

static const char *st_dtype(lg_dtype d)
{
    static const char *const names[] = {"F64", "F32", "F16", "BF16", "I64",
                                        "I32", "I16", "I8",  "U8",   "BOOL"};
    return names[d];
}

static lg_status write_safetensors(gen_tensor *t, int n, const char *path)
{
    gen_buf h = {NULL, 0, 0, 1};
    uint64_t off = 0;
    buf_printf(&h, "{");
    for (int i = 0; i < n; i++) {
        buf_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t[i].name,
                   st_dtype(t[i].dtype));
        for (int k = 0; k < t[i].ndim; k++)
            buf_printf(&h, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
        buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + t[i].nbytes));
        off += t[i].nbytes; /* at most GEN_MAX_BYTES in all */
    }
    buf_printf(&h, "}");
    while (h.ok && h.n % 8)
        buf_put(&h, " ", 1);
    if (!h.ok) {
        free(h.p);
        return LG_E_NOMEM;
    }
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    ok = ok && fwrite(le, 1, 8, f) == 8 && fwrite(h.p, 1, h.n, f) == h.n;
    for (int i = 0; ok && i < n; i++)
        ok = !t[i].nbytes || fwrite(t[i].data, 1, (size_t)t[i].nbytes, f) == t[i].nbytes;
    if (f && fclose(f) != 0)
        ok = 0;
    free(h.p);
    return ok ? LG_OK : LG_E_IO;
}

/* ------------------------------------------------- torch.save (torch-zip) */

/* What torch.save (PyTorch 1.6 and later) writes: a zip archive whose
 * records sit in one folder ("archive/"), stored, each 64-byte aligned by
 * an "FB" padding extra field, with its sizes in a data descriptor; then
 * the central directory and zip64 end records, as PyTorch's writer does.
 * data.pkl is a protocol 2 pickle of an OrderedDict of
 * torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
 * OrderedDict()), one storage per tensor. */
static void tz_le(gen_buf *b, uint64_t v, int k)
{
    unsigned char le[8];
    for (int i = 0; i < k; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    buf_put(b, le, (size_t)k);
}

static void tz_zero(gen_buf *b, size_t n)
{
    static const unsigned char zero[32];
    buf_put(b, zero, n);
}

static void pk_op(gen_buf *b, unsigned char op) { buf_put(b, &op, 1); }

static void pk_str(gen_buf *b, const char *s)
{
    pk_op(b, 'X'); /* BINUNICODE */
    tz_le(b, strlen(s), 4);
    buf_put(b, s, strlen(s));
}

static void pk_global(gen_buf *b, const char *module, const char *name)
{
    pk_op(b, 'c');
    buf_put(b, module, strlen(module));
    pk_op(b, '\n');
    buf_put(b, name, strlen(name));
    pk_op(b, '\n');
}

static void pk_int(gen_buf *b, uint64_t v)
{
    if (v <= 0x7fffffff) {
        pk_op(b, 'J'); /* BININT */
        tz_le(b, v, 4);
    } else {
        pk_op(b, 0x8a); /* LONG1 */
        pk_op(b, 8);
        tz_le(b, v, 8);
    }
}

static void pk_ints(gen_buf *b, int n, const int64_t *v)
{
    pk_op(b, '(');
    for (int i = 0; i < n; i++)
        pk_int(b, (uint64_t)v[i]);
    pk_op(b, 't');
}

static const char *tz_storage_type(lg_dtype d)
{
    static const char *const names[] = {"DoubleStorage", "FloatStorage", "HalfStorage",
                                        "BFloat16Storage", "LongStorage", "IntStorage",
                                        "ShortStorage", "CharStorage", "ByteStorage",
                                        "BoolStorage"};
    return names[d];
}

static void tz_pickle(gen_buf *b, const gen_tensor *t, int n)
{
    char key[32];
    pk_op(b, 0x80); /* PROTO 2 */
    pk_op(b, 2);
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, ')');
    pk_op(b, 'R');
    pk_op(b, '(');
    for (int i = 0; i < n; i++) {
        int64_t stride[LG_MAX_DIMS], numel = 1;
        for (int k = t[i].ndim; k-- > 0;) {
            stride[k] = numel;
            numel *= t[i].shape[k];
        }
        snprintf(key, sizeof key, "%d", i);
        pk_str(b, t[i].name);
        pk_global(b, "torch._utils", "_rebuild_tensor_v2");
        pk_op(b, '(');
        pk_op(b, '(');
        pk_str(b, "storage");
        pk_global(b, "torch", tz_storage_type(t[i].dtype));
        pk_str(b, key);
        pk_str(b, "cpu");
        pk_int(b, (uint64_t)numel);
        pk_op(b, 't');
        pk_op(b, 'Q'); /* BINPERSID */
        pk_int(b, 0);
        pk_ints(b, t[i].ndim, t[i].shape);
        pk_ints(b, t[i].ndim, stride);
        pk_op(b, 0x89); /* NEWFALSE: requires_grad */
        pk_global(b, "collections", "OrderedDict");
        pk_op(b, ')');
        pk_op(b, 'R');
        pk_op(b, 't');
        pk_op(b, 'R');
    }
    pk_op(b, 'u'); /* SETITEMS */
    pk_op(b, '.');
}

typedef struct {
    char name[48];
    uint32_t crc;
    uint64_t size, local;
} tz_rec;

/* A stored record: local header with 64-byte-aligned data, the data, and
 * a data descriptor (64-bit sizes when they need it). */
static int tz_record(FILE *f, uint64_t *off, tz_rec *r, const char *name, const void *data,
                     uint64_t n)
{
    gen_buf h = {NULL, 0, 0, 1};
    size_t nl = strlen(name), pad = (size_t)((64 - (*off + 30 + nl + 4) % 64) % 64);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->crc = (uint32_t)crc32_z(0L, data, (size_t)n);
    r->size = n;
    r->local = *off;
    tz_le(&h, 0x04034b50, 4);
    tz_le(&h, 0, 2);      /* version needed, as PyTorch writes it */
    tz_le(&h, 0x0808, 2); /* data descriptor, UTF-8 names */
    tz_zero(&h, 18);      /* method, time, date, CRC, sizes: in the descriptor */
    tz_le(&h, nl, 2);
    tz_le(&h, 4 + pad, 2);
    buf_put(&h, name, nl);
    buf_put(&h, "FB", 2);
    tz_le(&h, pad, 2);
    for (size_t i = 0; i < pad; i++)
        pk_op(&h, 'Z');
    int ok = h.ok && fwrite(h.p, 1, h.n, f) == h.n && (!n || fwrite(data, 1, (size_t)n, f) == n);
    *off += h.n + n;
    h.n = 0;
    tz_le(&h, 0x08074b50, 4);
    tz_le(&h, r->crc, 4);
    tz_le(&h, n, n >= 0xffffffffu ? 8 : 4);
    tz_le(&h, n, n >= 0xffffffffu ? 8 : 4);
    ok = ok && h.ok && fwrite(h.p, 1, h.n, f) == h.n;
    *off += h.n;
    free(h.p);
    return ok;
}

static void tz_central(gen_buf *b, const tz_rec *r)
{
    int big = r->size >= 0xffffffffu, far = r->local >= 0xffffffffu;
    size_t nl = strlen(r->name), xl = big || far ? 4 + 16 * (size_t)big + 8 * (size_t)far : 0;
    tz_le(b, 0x02014b50, 4);
    tz_le(b, 0, 4);      /* version made by, version needed */
    tz_le(b, 0x0808, 2);
    tz_zero(b, 6);       /* method, time, date */
    tz_le(b, r->crc, 4);
    tz_le(b, big ? 0xffffffffu : r->size, 4);
    tz_le(b, big ? 0xffffffffu : r->size, 4);
    tz_le(b, nl, 2);
    tz_le(b, xl, 2);
    tz_zero(b, 10);      /* comment length, disk, internal and external attributes */
    tz_le(b, far ? 0xffffffffu : r->local, 4);
    buf_put(b, r->name, nl);
    if (xl) {
        tz_le(b, 1, 2);  /* zip64 extended information */
        tz_le(b, xl - 4, 2);
        if (big)
            tz_le(b, r->size, 8), tz_le(b, r->size, 8);
        if (far)
            tz_le(b, r->local, 8);
    }
}

/* The central directory, then the zip64 end record, its locator and the
 * end record (PyTorch's writer always writes the zip64 ones). */
static void tz_directory(gen_buf *b, const tz_rec *r, size_t n, uint64_t cd_off)
{
    for (size_t i = 0; i < n; i++)
        tz_central(b, &r[i]);
    uint64_t cd_size = b->n, z64 = cd_off + cd_size;
    tz_le(b, 0x06064b50, 4);
    tz_le(b, 44, 8);
    tz_le(b, 0x2d002d, 4); /* version made by, version needed: 4.5 */
    tz_le(b, 0, 8);        /* this disk, the central directory's disk */
    tz_le(b, n, 8);
    tz_le(b, n, 8);
    tz_le(b, cd_size, 8);
    tz_le(b, cd_off, 8);
    tz_le(b, 0x07064b50, 4);
    tz_le(b, 0, 4);
    tz_le(b, z64, 8);
    tz_le(b, 1, 4);
    tz_le(b, 0x06054b50, 4);
    tz_le(b, 0, 4);
    tz_le(b, n < 0xffff ? n : 0xffff, 2);
    tz_le(b, n < 0xffff ? n : 0xffff, 2);
    tz_le(b, cd_size < 0xffffffffu ? cd_size : 0xffffffffu, 4);
    tz_le(b, cd_off < 0xffffffffu ? cd_off : 0xffffffffu, 4);
    tz_le(b, 0, 2);
}

static lg_status write_torch_zip(const gen_tensor *t, int n, const char *path)
{
    gen_buf pkl = {NULL, 0, 0, 1}, cd = {NULL, 0, 0, 1};
    tz_rec *r = calloc((size_t)n + 3, sizeof *r);
    FILE *f = r ? fopen(path, "wb") : NULL;
    uint64_t off = 0;
    size_t k = 0;
    char name[48];
    tz_pickle(&pkl, t, n);
    int ok = f && pkl.ok && tz_record(f, &off, &r[k++], "archive/data.pkl", pkl.p, pkl.n);
    ok = ok && tz_record(f, &off, &r[k++], "archive/byteorder", "little", 6);
    for (int i = 0; ok && i < n; i++) {
        snprintf(name, sizeof name, "archive/data/%d", i);
        ok = tz_record(f, &off, &r[k++], name, t[i].data, t[i].nbytes);
    }
    ok = ok && tz_record(f, &off, &r[k++], "archive/version", "3\n", 2);
    if (ok)
        tz_directory(&cd, r, k, off);
    ok = ok && cd.ok && fwrite(cd.p, 1, cd.n, f) == cd.n;
    if (f && fclose(f) != 0)
        ok = 0;
    lg_status st = ok ? LG_OK : r ? LG_E_IO : LG_E_NOMEM;
    free(pkl.p);
    free(cd.p);
    free(r);
    return st;
}

lg_status hx_gen_write(const hx_gen *g, const char *path)
{
    int n = 0;
    uint64_t bytes;
    lg_status st = gen_bytes(g, &bytes);
    if (st != LG_OK)
        return st;
    gen_tensor *t = make_tensors(g, &n);
    if (!t)
        return LG_E_NOMEM;
    if (!strcmp(g->format, "safetensors")) {
        st = write_safetensors(t, n, path);
    } else if (!strcmp(g->format, "torch-zip")) {
        st = write_torch_zip(t, n, path);
    } else if (!strcmp(g->format, "torch-archive")) {
        lg_named_data *nd = calloc((size_t)(n > 0 ? n : 1), sizeof *nd);
        st = nd ? LG_OK : LG_E_NOMEM;
        for (int i = 0; nd && i < n; i++)
            nd[i] = (lg_named_data){t[i].name, t[i].dtype, t[i].ndim, t[i].shape, t[i].data};
        if (nd)
            st = lg_torch_write_archive(path, nd, (size_t)n);
        free(nd);
    } else {
        st = LG_E_INVALID;
    }
    free_tensors(t, n);
    return st;
}

void hx_gen_filename(const hx_gen *g, char *buf, size_t n)
{
    char dims[128] = "", types[128] = "";
    size_t u = 0;
    for (int k = 0; k < g->ndim && u < sizeof dims; k++)
        u += (size_t)snprintf(dims + u, sizeof dims - u, "%s%lld", k ? "x" : "", (long long)g->shape[k]);
    if (!g->ndim)
        snprintf(dims, sizeof dims, "scalar");
    u = 0;
    for (int k = 0; k < g->ndtypes && u < sizeof types; k++)
        u += (size_t)snprintf(types + u, sizeof types - u, "%s%s", k ? "." : "",
                              lg_dtype_name(g->dtypes[k]));
    snprintf(buf, n, "%s-%d-%s-%s-s%llu.%s", g->format, g->ndtypes ? g->ndtypes : g->tensors,
             dims, g->ndtypes ? types : lg_dtype_name(g->dtype), (unsigned long long)g->seed,
             !strcmp(g->format, "safetensors") ? "safetensors"
             : !strcmp(g->format, "torch-zip") ? "pt" : "ot");
}
