/* Deterministic generated checkpoints. The values come from splitmix64
 * seeded by the spec, so the same spec gives the same bytes everywhere. */
#include "gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static gen_tensor *make_tensors(const hx_gen *g, int *count)
{
    int n = g->ndtypes ? g->ndtypes : g->tensors;
    uint64_t s = g->seed * 0x100000001b3ULL + 1;
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
        uint64_t numel = 1;
        for (int k = 0; k < t[i].ndim; k++)
            numel *= (uint64_t)t[i].shape[k];
        t[i].nbytes = numel * lg_dtype_size(t[i].dtype);
        t[i].data = malloc(t[i].nbytes ? (size_t)t[i].nbytes : 1);
        if (!t[i].data) {
            free_tensors(t, n);
            return NULL;
        }
        size_t es = lg_dtype_size(t[i].dtype);
        for (uint64_t j = 0; j < numel; j++)
            element(t[i].dtype, &s, t[i].data + j * es);
    }
    *count = n;
    return t;
}

static const char *st_dtype(lg_dtype d)
{
    static const char *const names[] = {"F64", "F32", "F16", "BF16", "I64",
                                        "I32", "I16", "I8",  "U8",   "BOOL"};
    return names[d];
}

static lg_status write_safetensors(gen_tensor *t, int n, const char *path)
{
    size_t cap = 256 + (size_t)n * 256, used = 0;
    char *h = malloc(cap);
    if (!h)
        return LG_E_NOMEM;
    uint64_t off = 0;
    used += (size_t)snprintf(h + used, cap - used, "{");
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(h + used, cap - used, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                 i ? "," : "", t[i].name, st_dtype(t[i].dtype));
        for (int k = 0; k < t[i].ndim; k++)
            used += (size_t)snprintf(h + used, cap - used, "%s%lld", k ? "," : "",
                                     (long long)t[i].shape[k]);
        used += (size_t)snprintf(h + used, cap - used, "],\"data_offsets\":[%llu,%llu]}",
                                 (unsigned long long)off, (unsigned long long)(off + t[i].nbytes));
        off += t[i].nbytes;
    }
    used += (size_t)snprintf(h + used, cap - used, "}");
    while (used % 8 && used < cap - 1)
        h[used++] = ' ';
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)used >> (8 * i));
    ok = ok && fwrite(le, 1, 8, f) == 8 && fwrite(h, 1, used, f) == used;
    for (int i = 0; ok && i < n; i++)
        ok = !t[i].nbytes || fwrite(t[i].data, 1, (size_t)t[i].nbytes, f) == t[i].nbytes;
    if (f && fclose(f) != 0)
        ok = 0;
    free(h);
    return ok ? LG_OK : LG_E_IO;
}

lg_status hx_gen_write(const hx_gen *g, const char *path)
{
    int n = 0;
    lg_status st;
    if (g->ndim < 0 || g->ndim > LG_MAX_DIMS || (g->ndtypes == 0 && g->tensors < 0))
        return LG_E_INVALID;
    gen_tensor *t = make_tensors(g, &n);
    if (!t)
        return LG_E_NOMEM;
    if (!strcmp(g->format, "safetensors")) {
        st = write_safetensors(t, n, path);
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
             strcmp(g->format, "safetensors") ? "ot" : "safetensors");
}
