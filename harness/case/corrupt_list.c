/* The `corrupt:` key: a case's corruptions, and their expansion into one
 * case each (lists of mutations, lists of values, and the enumerations
 * over every byte or bit of the case's file). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"
#include "util/digest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One more corruption; past CF_MAX_CASES the load stops, reported at n. */
static int corr_push(cf_ctx *c, yaml_node_t *n, cf_corrs *l, hx_corrupt x)
{
    if (l->n == CF_MAX_CASES) {
        cf_report(c, n, "corrupt: more than %d cases", CF_MAX_CASES);
        c->fatal = 1;
        return -1;
    }
    if (cf_grow(c, &l->v, &l->cap, l->n, sizeof *l->v))
        return -1;
    hx_corrupt_label(&x);
    l->v[l->n++] = x;
    return 0;
}

/* The size of the case's file, for the generators that enumerate offsets.
 * Returns 1 when there is nothing to enumerate: while values are only
 * being checked, or for a torch-archive fixture in a build without torch
 * (c->unmeasured; the case is then emitted once, skipped). */
static int file_size(cf_ctx *c, yaml_node_t *n, hx_file *f, uint64_t *size)
{
    struct stat st;
    if (c->scratch)
        return 1;
    if (f->kind == HX_FILE_NONE) {
        cf_report(c, n, "corrupt: enumerating offsets needs the case's file");
        return -1;
    }
    if (cf_ungeneratable(f)) {
        c->unmeasured = 1;
        return 1;
    }
    if (f->kind == HX_FILE_GENERATE && !f->path && cf_generate(c, n, f))
        return -1;
    if (stat(f->path, &st) != 0) {
        cf_report(c, n, "corrupt: cannot measure %s: %s", f->path, strerror(errno));
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Stands for an enumeration that could not be made (see file_size). */
static int placeholder(cf_ctx *c, yaml_node_t *n, cf_corrs *l, const char *label)
{
    if (c->scratch || corr_push(c, n, l, (hx_corrupt){.kind = HX_CORRUPT_NONE}))
        return c->scratch ? 0 : -1;
    snprintf(l->v[l->n - 1].label, sizeof l->v[0].label, "%s", label);
    return 0;
}

static int enum_limit(cf_ctx *c, yaml_node_t *n, uint64_t count)
{
    if (count <= CF_MAX_CASES)
        return 0;
    cf_report(c, n, "corrupt: %" PRIu64 " cases; at most %d", count, CF_MAX_CASES);
    return -1;
}

static int offset_of(cf_ctx *c, yaml_node_t *n, const char *what, int64_t *v, int *half)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    *half = !strcmp(s, "half");
    *v = 0;
    if (*half || cf_text_i64(s, v) == 0)
        return 0;
    cf_report(c, n, "%s: expected an integer (negative counts from the end) or half, got '%s'",
           what, s);
    return -1;
}

static int parse_truncate(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded)
{
    hx_corrupt x = {.kind = HX_CORRUPT_TRUNCATE};
    uint64_t size;
    if (n->type == YAML_SCALAR_NODE && !strcmp(cf_sv(n), "every")) {
        *expanded = 1;
        int rc = file_size(c, n, f, &size);
        if (rc == 1)
            return placeholder(c, n, l, "truncate:every");
        if (rc || enum_limit(c, n, size))
            return -1;
        for (x.a = 0; (uint64_t)x.a < size; x.a++)
            if (corr_push(c, n, l, x))
                return -1;
        return 0;
    }
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        cf_report(c, n, "truncate: expected a length, a list of lengths or every, got a mapping");
        return -1;
    }
    size_t cnt = cf_items_of(n, &one, &first);
    *expanded |= first != NULL;
    for (size_t i = 0; i < cnt && !c->fatal; i++)
        if (offset_of(c, cf_item_at(c, one, first, i), "truncate", &x.a, &x.a_half) == 0 &&
            corr_push(c, n, l, x))
            return -1;
    return 0;
}

static const char *const flip_keys[] = {"offset", "bit",   "every_byte", "every_bit",
                                        "random", "seed",  "count",      NULL};
enum { FL_OFFSET, FL_BIT, FL_EVERY_BYTE, FL_EVERY_BIT, FL_RANDOM, FL_SEED, FL_COUNT, FL_N };

static int flip_every(cf_ctx *c, yaml_node_t *n, yaml_node_t *flag, int bits, hx_file *f, cf_corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP, .bit = -1};
    uint64_t size;
    int on;
    if (cf_bool_of(c, flag, bits ? "flip.every_bit" : "flip.every_byte", &on))
        return -1;
    if (!on) {
        cf_report(c, flag, "flip: every_%s: false flips nothing; leave it out", bits ? "bit" : "byte");
        return -1;
    }
    int rc = file_size(c, n, f, &size);
    if (rc == 1)
        return placeholder(c, n, l, bits ? "flip:every_bit" : "flip:every_byte");
    if (rc || enum_limit(c, n, bits ? size * 8 : size))
        return -1;
    for (x.a = 0; (uint64_t)x.a < size; x.a++)
        for (x.bit = bits ? 0 : -1; x.bit < (bits ? 8 : 0); x.bit++)
            if (corr_push(c, n, l, x))
                return -1;
    return 0;
}

static int flip_random(cf_ctx *c, yaml_node_t **s, cf_corrs *l, int *expanded)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP, .random = 1};
    int64_t count = 1;
    if (cf_int_in(c, s[FL_RANDOM], "flip.random", 1, CF_MAX_COUNT, &x.a))
        return -1;
    if (s[FL_SEED] && cf_u64_of(c, s[FL_SEED], "flip.seed", &x.seed))
        return -1;
    if (s[FL_COUNT] && cf_int_in(c, s[FL_COUNT], "flip.count", 1, CF_MAX_COUNT, &count))
        return -1;
    *expanded |= count > 1;
    for (int64_t i = 0; i < count; i++, x.seed++)
        if (corr_push(c, s[FL_RANDOM], l, x))
            return -1;
    return 0;
}

static int flip_at(cf_ctx *c, yaml_node_t **s, cf_corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP};
    int64_t bit = 0;
    if (offset_of(c, s[FL_OFFSET], "flip.offset", &x.a, &x.a_half))
        return -1;
    if (s[FL_BIT] && s[FL_BIT]->type == YAML_SCALAR_NODE && !strcmp(cf_sv(s[FL_BIT]), "all"))
        bit = -1;
    else if (s[FL_BIT] && cf_int_in(c, s[FL_BIT], "flip.bit (or all)", 0, 7, &bit))
        return -1;
    x.bit = (int)bit;
    return corr_push(c, s[FL_OFFSET], l, x);
}

static int flip_one(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded)
{
    yaml_node_t *s[FL_N], *k[FL_N];
    if (cf_slots(c, n, "flip", flip_keys, s, k))
        return -1;
    if (!!s[FL_OFFSET] + !!s[FL_EVERY_BYTE] + !!s[FL_EVERY_BIT] + !!s[FL_RANDOM] != 1) {
        cf_report(c, n, "flip: give exactly one of offset, every_byte, every_bit, random");
        return -1;
    }
    if (s[FL_BIT] && !s[FL_OFFSET]) {
        cf_report(c, k[FL_BIT], "flip.bit: only with offset");
        return -1;
    }
    if ((s[FL_SEED] || s[FL_COUNT]) && !s[FL_RANDOM]) {
        cf_report(c, k[s[FL_SEED] ? FL_SEED : FL_COUNT], "flip.%s: only with random",
               s[FL_SEED] ? "seed" : "count");
        return -1;
    }
    if (s[FL_OFFSET])
        return flip_at(c, s, l);
    if (s[FL_RANDOM])
        return flip_random(c, s, l, expanded);
    *expanded = 1;
    if (s[FL_EVERY_BYTE])
        return flip_every(c, n, s[FL_EVERY_BYTE], 0, f, l);
    return flip_every(c, n, s[FL_EVERY_BIT], 1, f, l);
}

static int parse_flip(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return flip_one(c, n, f, l, expanded);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        flip_one(c, cf_node(c, *i), f, l, expanded);
    return 0;
}

static int zero_pair(cf_ctx *c, yaml_node_t *n, cf_corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_ZERO};
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != 2) {
        cf_report(c, n, "zero: expected [begin, end], got %s", cf_kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    if (offset_of(c, cf_node(c, i[0]), "zero", &x.a, &x.a_half) ||
        offset_of(c, cf_node(c, i[1]), "zero", &x.b, &x.b_half))
        return -1;
    return corr_push(c, n, l, x);
}

/* zero: [a, b], or a list of such ranges (one case each). */
static int parse_zero(cf_ctx *c, yaml_node_t *n, cf_corrs *l, int *expanded)
{
    yaml_node_item_t *i = n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
    if (!i || i == n->data.sequence.items.top ||
        cf_node(c, *i)->type != YAML_SEQUENCE_NODE)
        return zero_pair(c, n, l);
    *expanded = 1;
    for (; i < n->data.sequence.items.top && !c->fatal; i++)
        zero_pair(c, cf_node(c, *i), l);
    return 0;
}

/* The file a splice takes its bytes from: a fixture's name, or an inline
 * {generate: …} / {path: …}. A generated file is written into the fixture
 * folder now, as for the enumerations, so that its path can be recorded. */
static int splice_source(cf_ctx *c, yaml_node_t *n, hx_corrupt *x)
{
    hx_file f;
    const char *fixture = NULL;
    memset(&f, 0, sizeof f);
    if (n->type == YAML_MAPPING_NODE) {
        if (cf_parse_file_def(c, n, "splice.from", "inline", &f)) {
            cf_file_free(&f);
            return -1;
        }
    } else {
        const char *s = cf_scalar(c, n, "splice.from");
        size_t i = 0;
        if (!s)
            return -1;
        while (i < c->nfx && strcmp(cf_sv(c->fx[i].knode), s))
            i++;
        if (i == c->nfx) {
            cf_report(c, n, "splice.from: no fixture named '%s'", s);
            return -1;
        }
        if (cf_file_copy(&c->fx[i].file, &f)) {
            cf_oom(c);
            return -1;
        }
        fixture = s;
    }
    /* The name in the label, so that two sources never share one: a
     * fixture's name or the path's last part, cut to 22 bytes and given a
     * digest of the whole when it is longer than fits; an inline source,
     * a digest of its spec as flattened for ids. */
    char *spec = NULL;
    const char *name = fixture;
    if (!name && f.kind == HX_FILE_PATH) {
        const char *slash = strrchr(f.path, '/');
        name = slash ? slash + 1 : f.path;
    } else if (!name && !(spec = cf_render(c, n))) {
        cf_file_free(&f);
        return -1;
    }
    if (spec)
        snprintf(x->from_name, sizeof x->from_name, "inline-%08" PRIx32,
                 (uint32_t)hx_digest(spec, strlen(spec)));
    else if (strlen(name) > HX_SPLICE_NAME_MAX)
        snprintf(x->from_name, sizeof x->from_name, "%.22s~%08" PRIx32, name,
                 (uint32_t)hx_digest(name, strlen(name)));
    else
        snprintf(x->from_name, sizeof x->from_name, "%s", name);
    free(spec);
    int rc = 0;
    if (c->scratch) {
        rc = 0;
    } else if (cf_ungeneratable(&f)) {
        c->unmeasured = 1;
    } else if (f.kind == HX_FILE_GENERATE && !f.path && cf_generate(c, n, &f)) {
        rc = -1;
    } else if (f.path && !(x->from = strdup(f.path))) {
        cf_oom(c);
        rc = -1;
    }
    cf_file_free(&f);
    return rc;
}

static const char *const splice_keys[] = {"from", "range", "at", "insert", NULL};
enum { SP_FROM, SP_RANGE, SP_AT, SP_INSERT, SP_N };

/* {from: F, range: [a, b], at: N, insert: bool}: one case. */
static int splice_one(cf_ctx *c, yaml_node_t *n, cf_corrs *l)
{
    yaml_node_t *s[SP_N], *k[SP_N];
    hx_corrupt x = {.kind = HX_CORRUPT_SPLICE};
    if (cf_slots(c, n, "splice", splice_keys, s, k))
        return -1;
    if (!s[SP_FROM] || !s[SP_RANGE]) {
        cf_report(c, n, "splice: needs from and range (at and insert are optional)");
        return -1;
    }
    yaml_node_t *r = s[SP_RANGE];
    if (r->type != YAML_SEQUENCE_NODE ||
        r->data.sequence.items.top - r->data.sequence.items.start != 2) {
        cf_report(c, r, "splice.range: expected [begin, end], got %s", cf_kind(r));
        return -1;
    }
    yaml_node_item_t *i = r->data.sequence.items.start;
    if (offset_of(c, cf_node(c, i[0]), "splice.range", &x.a, &x.a_half) ||
        offset_of(c, cf_node(c, i[1]), "splice.range", &x.b, &x.b_half))
        return -1;
    if (s[SP_AT] && offset_of(c, s[SP_AT], "splice.at", &x.at, &x.at_half))
        return -1;
    if (s[SP_INSERT] && cf_bool_of(c, s[SP_INSERT], "splice.insert", &x.insert))
        return -1;
    if (splice_source(c, s[SP_FROM], &x))
        return -1;
    if (corr_push(c, n, l, x)) {
        free(x.from);
        return -1;
    }
    return 0;
}

/* splice: one mapping, or a list of them (one case each). */
static int parse_splice(cf_ctx *c, yaml_node_t *n, cf_corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return splice_one(c, n, l);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        splice_one(c, cf_node(c, *i), l);
    return 0;
}

static int st_push(cf_ctx *c, yaml_node_t *n, cf_corrs *l, hx_corrupt_kind kind, int m)
{
    hx_corrupt x = {.kind = kind, .mutation = m};
    return corr_push(c, n, l, x);
}

/* safetensors: NAME, [NAME, …] (one case each), or all (every mutation the
 * reader must refuse); torch_zip the same, with its own table. */
static int parse_st(cf_ctx *c, yaml_node_t *n, cf_corrs *l, int *expanded, hx_corrupt_kind kind)
{
    int tz = kind == HX_CORRUPT_TORCH_ZIP;
    const char *key = tz ? "torch_zip" : "safetensors";
    const hx_st_mutation *st = hx_st_mutations();
    const hx_tz_mutation *zt = hx_tz_mutations();
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_SCALAR_NODE && !strcmp(cf_sv(n), "all")) {
        *expanded = 1;
        for (int m = 0; tz ? zt[m].name != NULL : st[m].name != NULL; m++)
            if ((tz ? zt[m].in_all : st[m].in_all) && st_push(c, n, l, kind, m))
                return -1;
        return 0;
    }
    if (n->type == YAML_MAPPING_NODE) {
        cf_report(c, n, "%s: expected a mutation's name, a list of names or all, got a "
                     "mapping", key);
        return -1;
    }
    size_t cnt = cf_items_of(n, &one, &first);
    *expanded |= first != NULL;
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *e = cf_item_at(c, one, first, i);
        const char *s = cf_scalar(c, e, key);
        int m = s ? (tz ? hx_tz_mutation_find(s) : hx_st_mutation_find(s)) : -1;
        if (s && m < 0)
            cf_report(c, e, "%s: unknown mutation '%s' (see docs/cases.md; all names "
                         "them)", key, s);
        else if (s && st_push(c, e, l, kind, m))
            return -1;
    }
    return 0;
}

static const char *const corrupt_keys[] = {"truncate", "flip", "zero", "splice", "safetensors",
                                           "torch_zip", NULL};
enum { CO_TRUNCATE, CO_FLIP, CO_ZERO, CO_SPLICE, CO_ST, CO_TZ, CO_N };

static int mutation(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded)
{
    yaml_node_t *s[CO_N], *k[CO_N];
    int given = 0;
    if (cf_slots(c, n, "corrupt", corrupt_keys, s, k))
        return -1;
    for (int i = 0; i < CO_N; i++)
        given += !!s[i];
    if (given != 1) {
        cf_report(c, n, "corrupt: give exactly one of truncate, flip, zero, splice, safetensors, "
                     "torch_zip (a list of mappings for several)");
        return -1;
    }
    if (s[CO_TRUNCATE])
        return parse_truncate(c, s[CO_TRUNCATE], f, l, expanded);
    if (s[CO_FLIP])
        return parse_flip(c, s[CO_FLIP], f, l, expanded);
    if (s[CO_ZERO])
        return parse_zero(c, s[CO_ZERO], l, expanded);
    if (s[CO_SPLICE])
        return parse_splice(c, s[CO_SPLICE], l, expanded);
    if (s[CO_TZ])
        return parse_st(c, s[CO_TZ], l, expanded, HX_CORRUPT_TORCH_ZIP);
    return parse_st(c, s[CO_ST], l, expanded, HX_CORRUPT_SAFETENSORS);
}

/* Frees the splice sources the list owns. */
void cf_corrs_free(cf_corrs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].from);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* corrupt: one mapping, or a list of them; each list entry, and each value
 * of a list inside one, is a case of its own (*expanded says so). */
int cf_parse_corrupt(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return mutation(c, n, f, l, expanded);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        mutation(c, cf_node(c, *i), f, l, expanded);
    return 0;
}
