/* The file a case reads: the `file:` key, the fixtures' definitions
 * ({generate: ...} or {path: ...}), and a generated fixture made when
 * the expansion needs its size. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"
#include "case/require.h"
#include "util/error.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gen_keys[] = {"format", "tensors", "shape", "dtype", "dtypes", "seed",
                                       NULL};
enum { G_FORMAT, G_TENSORS, G_SHAPE, G_DTYPE, G_DTYPES, G_SEED, G_COUNT };
static const char *const gen_formats[] = {"safetensors", "torch-archive", "torch-zip", NULL};

static int dtypes_of(cf_ctx *c, yaml_node_t *n, hx_gen *g)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "generate.dtypes: expected a list of dtypes, got %s", cf_kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (cnt == 0 || cnt > LG_DTYPE_COUNT) {
        cf_report(c, n, "generate.dtypes: expected 1 to %d dtypes, got %zu", LG_DTYPE_COUNT, cnt);
        return -1;
    }
    g->ndtypes = (int)cnt;
    for (size_t d = 0; d < cnt; d++)
        if (cf_dtype_of(c, cf_node(c, i[d]), "generate.dtypes", &g->dtypes[d]))
            return -1;
    return 0;
}

/* The shape as the case file gives it, "[2, 3]". */
static void shape_text(const hx_gen *g, char *buf, size_t n)
{
    size_t u = 0;
    buf[0] = 0;
    for (int k = 0; k <= g->ndim && u < n; k++) {
        int w = k == g->ndim ? snprintf(buf + u, n - u, "]")
                             : snprintf(buf + u, n - u, "%s%" PRId64, k ? ", " : "[",
                                        g->shape[k]);
        if (w < 0)
            return;
        u += (size_t)w;
    }
}

/* A spec whose fixture would pass HX_GEN_MAX_BYTES (or whose sizes overflow)
 * is an error of the case file, reported at the shape. */
static int gen_size_check(cf_ctx *c, yaml_node_t *n, yaml_node_t *const *s, const hx_gen *g)
{
    uint64_t bytes;
    char shape[256], types[128] = "";
    int rc = hx_gen_size(g, &bytes);
    if (rc == 0)
        return 0;
    shape_text(g, shape, sizeof shape);
    if (rc == HX_GEN_STRIDES) {
        cf_report(c, s[G_SHAPE], "generate.shape: %s: the dimensions other than 0 multiply past "
               "2^63 - 1 (the strides would overflow)", shape);
    } else if (g->ndtypes) {
        size_t u = 0;
        for (int i = 0; i < g->ndtypes && u < sizeof types; i++)
            u += (size_t)snprintf(types + u, sizeof types - u, "%s%s", i ? ", " : "",
                                  lg_dtype_name(g->dtypes[i]));
        cf_report(c, s[G_SHAPE] ? s[G_SHAPE] : n,
               "generate.shape: %s with dtypes [%s] needs more than %" PRIu64 " bytes "
               "(1 GiB), the most tensor data a generated fixture may hold",
               shape, types, HX_GEN_MAX_BYTES);
    } else {
        cf_report(c, s[G_SHAPE] ? s[G_SHAPE] : s[G_TENSORS] ? s[G_TENSORS] : n,
               "generate.shape: %s of %s, %d tensor%s, needs more than %" PRIu64 " bytes "
               "(1 GiB), the most tensor data a generated fixture may hold",
               shape, lg_dtype_name(g->dtype), g->tensors, g->tensors == 1 ? "" : "s",
               HX_GEN_MAX_BYTES);
    }
    return -1;
}

static int gen_of(cf_ctx *c, yaml_node_t *n, hx_gen *g)
{
    yaml_node_t *s[G_COUNT], *k[G_COUNT];
    int64_t v;
    int bad = 0;
    hx_gen_init(g);
    if (cf_slots(c, n, "generate", gen_keys, s, k))
        return -1;
    int f = s[G_FORMAT] ? cf_one_of(c, s[G_FORMAT], "generate.format", gen_formats) : 0;
    if (f >= 0)
        snprintf(g->format, sizeof g->format, "%s", gen_formats[f]);
    if (s[G_TENSORS] && cf_int_in(c, s[G_TENSORS], "generate.tensors", 0, CF_MAX_COUNT, &v) == 0)
        g->tensors = (int)v;
    else if (s[G_TENSORS])
        bad = 1;
    if (s[G_SHAPE] && cf_shape_of(c, s[G_SHAPE], "generate.shape", &g->ndim, g->shape))
        bad = 1;
    if (s[G_DTYPE] && cf_dtype_of(c, s[G_DTYPE], "generate.dtype", &g->dtype))
        bad = 1;
    if (s[G_DTYPES] && dtypes_of(c, s[G_DTYPES], g))
        bad = 1;
    if (s[G_SEED] && cf_u64_of(c, s[G_SEED], "generate.seed", &g->seed))
        bad = 1;
    if (s[G_DTYPES] && (s[G_DTYPE] || s[G_TENSORS])) {
        cf_report(c, k[G_DTYPES], "generate: dtypes gives one tensor per entry; drop %s",
               s[G_DTYPE] ? "dtype" : "tensors");
        return -1;
    }
    /* a spec with an error is never generated, nor measured */
    return bad || f < 0 ? -1 : gen_size_check(c, n, s, g);
}

static char *resolve(cf_ctx *c, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", c->dir, p);
    return r;
}

static const char *const file_keys[] = {"generate", "path", NULL};

/* {generate: {...}} or {path: P}: a fixture's definition or an inline file. */
int cf_parse_file_def(cf_ctx *c, yaml_node_t *n, const char *what, const char *name,
                          hx_file *out)
{
    yaml_node_t *s[2], *k[2];
    memset(out, 0, sizeof *out);
    if (cf_slots(c, n, what, file_keys, s, k))
        return -1;
    if (!s[0] == !s[1]) {
        cf_report(c, n, "%s: give exactly one of generate, path", what);
        return -1;
    }
    if (!(out->name = strdup(name))) {
        cf_oom(c);
        return -1;
    }
    if (s[0]) {
        out->kind = HX_FILE_GENERATE;
        return gen_of(c, s[0], &out->gen);
    }
    const char *p = cf_scalar(c, s[1], "path");
    if (!p)
        return -1;
    out->kind = HX_FILE_PATH;
    if (!(out->path = resolve(c, p)))
        cf_oom(c);
    return out->path ? 0 : -1;
}

int cf_parse_file(cf_ctx *c, yaml_node_t *n, hx_file *out)
{
    if (n->type == YAML_MAPPING_NODE)
        return cf_parse_file_def(c, n, "file", "inline", out);
    const char *s = cf_scalar(c, n, "file");
    if (!s)
        return -1;
    for (size_t i = 0; i < c->nfx; i++) {
        if (strcmp(cf_sv(c->fx[i].knode), s))
            continue;
        if (cf_file_copy(&c->fx[i].file, out))
            cf_oom(c);
        return c->oom ? -1 : 0;
    }
    char known[512];
    size_t used = 0;
    known[0] = 0;
    for (size_t i = 0; i < c->nfx && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 cf_sv(c->fx[i].knode));
    cf_report(c, n, "file: no fixture named '%s' (%s%s)", s,
           c->nfx ? "defined: " : "no fixtures defined", known);
    return -1;
}

/* The fixture cache writes it once; every later case and run finds it. */
int cf_generate(cf_ctx *c, yaml_node_t *n, hx_file *f)
{
    char path[PATH_MAX + 256];
    if (hx_fixture_cache(&f->gen, c->fixture_dir, path, sizeof path) != LG_OK) {
        cf_report(c, n, "%s", hx_errmsg());
        return -1;
    }
    if (!(f->path = strdup(path)))
        cf_oom(c);
    return f->path ? 0 : -1;
}

int cf_ungeneratable(const hx_file *f)
{
    return f->kind == HX_FILE_GENERATE && !strcmp(f->gen.format, "torch-archive") &&
           !hx_torch_built();
}
