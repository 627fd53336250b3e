/* The case language (docs/cases.md): a suite file read with libyaml's
 * document API, checked, and expanded into concrete cases.
 *
 * Reading order: the YAML layer (errors with file:line:col, mapping views
 * with `<<` merge keys, bounded alias expansion), the value of each case
 * key, corruption lists, the matrix, the suite's top level, and last the
 * `list` and `validate` subcommands. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup, fnmatch */
#include "case/case.h"
#include "cmd/cmd.h"
#include "corrupt/corrupt.h"
#include "fixture/gen.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Limits that keep a hostile or mistaken file from hanging the harness. */
#define MAX_NODES 1000000   /* nodes of the document, aliases expanded */
#define MAX_VISITS 50000000 /* node visits while expanding every case */
#define MAX_DEPTH 64        /* nesting, aliases followed */
#define MAX_CASES 1000000   /* concrete cases of one suite */
#define MAX_ERRORS 100
#define MAX_COUNT 1000000   /* tensors, random flips, seeds */

/* The case keys. Their order here is the order of the parameters in a
 * case id; keys from K_NAME on cannot be set by defaults or a matrix. */
enum {
    K_BACKEND, K_DEVICE, K_POLICY, K_DTYPE_RULE, K_READER, K_FILE, K_STORE, K_SIM, K_CORRUPT,
    K_FAULT, K_STAGING, K_PROBE, K_KEY, K_CRC, K_REQUIRES, K_SKIP, K_XFAIL, K_TIMEOUT, K_TAGS, K_EXPECT,
    K_DESCRIPTION, K_NAME, K_MATRIX, K_EXCLUDE, K_INCLUDE, K_COUNT
};
#define K_SETTABLE K_NAME

static const char *const case_keys[] = {
    "backend", "device", "policy", "dtype_rule", "reader", "file", "store", "sim", "corrupt",
    "fault", "staging_budget", "probe", "key", "crc", "requires", "skip", "xfail", "timeout", "tags", "expect",
    "description", "name", "matrix", "exclude", "include", NULL};

/* Keys that say what to expect of a case rather than what it does: a
 * combination added by `include` leaves them out of its id. */
static int is_meta_key(int k)
{
    return k >= K_REQUIRES && k <= K_DESCRIPTION;
}

typedef struct {
    size_t line, col, seq;
    char *msg;
} perr;

typedef struct {
    yaml_node_t *k, *v;
} kv;

/* A mapping's pairs after `<<` merges. */
typedef struct {
    kv *it;
    size_t n, cap;
} kvs;

typedef struct {
    char *p;
    size_t n, cap;
    int fail;
} sb;

typedef struct {
    yaml_node_t *knode; /* the name */
    hx_file file;
} fixture;

typedef struct {
    const char *path;
    char *dir;               /* the case file's folder */
    char fixture_dir[4096];
    hx_suite *out;
    size_t cap;              /* of out->cases */
    yaml_document_t doc;
    int have_doc;
    perr *errs;
    size_t nerrs, errcap;
    int fatal, oom, full; /* full: errors past MAX_ERRORS were dropped */
    size_t visits;
    const char *suite;
    fixture *fx;
    size_t nfx;
    yaml_node_t *defaults[K_COUNT];
    int scratch;             /* checking values alone: no fixture is generated */
    int unmeasured;          /* a fixture this build cannot generate was to be enumerated */
    yaml_node_t **names;     /* the case names seen */
    size_t nnames, namecap;
} ctx;

static const char *sv(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* ------------------------------------------------------------- errors */

static void note_error(ctx *c, size_t line, size_t col, const char *msg)
{
    for (size_t i = 0; i < c->nerrs; i++)
        if (c->errs[i].line == line && c->errs[i].col == col && !strcmp(c->errs[i].msg, msg))
            return;
    if (c->nerrs == MAX_ERRORS) {
        c->full = c->fatal = 1; /* stop looking */
        return;
    }
    if (c->nerrs == c->errcap) {
        size_t cap = c->errcap ? c->errcap * 2 : 16;
        perr *e = realloc(c->errs, cap * sizeof *e);
        if (!e) {
            c->oom = c->fatal = 1;
            return;
        }
        c->errs = e;
        c->errcap = cap;
    }
    char *m = strdup(msg);
    if (!m) {
        c->oom = c->fatal = 1;
        return;
    }
    c->errs[c->nerrs] = (perr){line, col, c->nerrs, m};
    c->nerrs++;
}

static void report_mark(ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note_error(c, m.line, m.column, msg);
}

static void report(ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note_error(c, n->start_mark.line, n->start_mark.column, msg);
}

static void oom(ctx *c)
{
    c->oom = c->fatal = 1;
}

static int cmp_err(const void *pa, const void *pb)
{
    const perr *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void print_errors(ctx *c, FILE *out)
{
    qsort(c->errs, c->nerrs, sizeof *c->errs, cmp_err);
    if (!out)
        return;
    for (size_t i = 0; i < c->nerrs; i++)
        fprintf(out, "%s:%zu:%zu: %s\n", c->path, c->errs[i].line + 1, c->errs[i].col + 1,
                c->errs[i].msg);
    if (c->full)
        fprintf(out, "%s: too many errors; stopped after %d\n", c->path, MAX_ERRORS);
    if (c->oom)
        fprintf(out, "%s: out of memory\n", c->path);
}

/* -------------------------------------------------------------- nodes */

static yaml_node_t *node(ctx *c, int id)
{
    if (++c->visits == MAX_VISITS + 1) {
        report_mark(c, (yaml_mark_t){0, 0, 0},
                    "expanding the cases visits more than %d nodes; aliases or the matrix "
                    "make this file too large",
                    MAX_VISITS);
        c->fatal = 1;
    }
    return yaml_document_get_node(&c->doc, id);
}

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = sv(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
    if (is_null(n))
        return "nothing (null)";
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "an empty node";
    }
}

/* Counts the document's nodes as a walk that follows aliases sees them:
 * a "billion laughs" file or a recursive alias stops here, before any
 * other walk can blow up. */
static void doc_scan(ctx *c, yaml_node_t *n, int depth, size_t *count)
{
    if (c->fatal)
        return;
    if (depth > MAX_DEPTH) {
        report(c, n, "nesting deeper than %d levels (a recursive alias?)", MAX_DEPTH);
        c->fatal = 1;
        return;
    }
    if (++*count > MAX_NODES) {
        report(c, n, "aliases expand this document to more than %d nodes; refusing it",
               MAX_NODES);
        c->fatal = 1;
        return;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             i < n->data.sequence.items.top && !c->fatal; i++)
            doc_scan(c, yaml_document_get_node(&c->doc, *i), depth + 1, count);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top && !c->fatal; p++) {
            doc_scan(c, yaml_document_get_node(&c->doc, p->key), depth + 1, count);
            doc_scan(c, yaml_document_get_node(&c->doc, p->value), depth + 1, count);
        }
    }
}

/* ------------------------------------------------------- mapping views */

static void kvs_free(kvs *m)
{
    free(m->it);
    memset(m, 0, sizeof *m);
}

static int kvs_push(ctx *c, kvs *m, yaml_node_t *k, yaml_node_t *v)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        kv *it = realloc(m->it, cap * sizeof *it);
        if (!it) {
            oom(c);
            return -1;
        }
        m->it = it;
        m->cap = cap;
    }
    m->it[m->n++] = (kv){k, v};
    return 0;
}

static kv *kvs_find(const kvs *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(sv(m->it[i].k), key))
            return &m->it[i];
    return NULL;
}

static int is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           !strcmp(sv(k), "<<");
}

static int view_at(ctx *c, yaml_node_t *map, kvs *out, int depth);

/* One source of a `<<`: its view's keys that this mapping does not set
 * explicitly and no earlier source gave. */
static int merge_from(ctx *c, yaml_node_t *src, const kvs *own, kvs *out, int depth)
{
    if (src->type != YAML_MAPPING_NODE) {
        report(c, src, "'<<' merges a mapping or a list of mappings, not %s", kind(src));
        return 0;
    }
    kvs sub = {0};
    if (view_at(c, src, &sub, depth + 1)) {
        kvs_free(&sub);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < sub.n && !rc; i++) {
        const char *k = sv(sub.it[i].k);
        if (!kvs_find(own, k) && !kvs_find(out, k))
            rc = kvs_push(c, out, sub.it[i].k, sub.it[i].v);
    }
    kvs_free(&sub);
    return rc;
}

static int merge(ctx *c, yaml_node_t *v, const kvs *own, kvs *out, int depth)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return merge_from(c, v, own, out, depth);
    for (yaml_node_item_t *i = v->data.sequence.items.start;
         i < v->data.sequence.items.top && !c->fatal; i++)
        if (merge_from(c, node(c, *i), own, out, depth))
            return -1;
    return 0;
}

/* The explicit keys of map, checked: scalars, no duplicates. */
static int own_keys(ctx *c, yaml_node_t *map, kvs *own)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && !c->fatal; p++) {
        yaml_node_t *k = node(c, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            report(c, k, "mapping keys must be scalars, not %s", kind(k));
            continue;
        }
        if (is_merge_key(k))
            continue;
        kv *dup = kvs_find(own, sv(k));
        if (dup) {
            report(c, k, "duplicate key '%s' (first at line %zu)", sv(k),
                   dup->k->start_mark.line + 1);
            continue;
        }
        if (kvs_push(c, own, k, node(c, p->value)))
            return -1;
    }
    return 0;
}

/* The pairs of a mapping in order, `<<` merges resolved as YAML 1.1 says:
 * explicit keys win, and among merged mappings the earlier one wins. */
static int view_at(ctx *c, yaml_node_t *map, kvs *out, int depth)
{
    kvs own = {0};
    int rc = -1, merges = 0;
    if (depth > MAX_DEPTH) {
        report(c, map, "'<<' merges nest deeper than %d levels", MAX_DEPTH);
        return -1;
    }
    if (own_keys(c, map, &own))
        goto done;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && !c->fatal; p++) {
        yaml_node_t *k = node(c, p->key);
        if (k->type != YAML_SCALAR_NODE)
            continue;
        if (!is_merge_key(k)) {
            kv *e = kvs_find(&own, sv(k));
            if (e && e->k == k && kvs_push(c, out, e->k, e->v))
                goto done;
            continue;
        }
        if (merges++) {
            report(c, k, "duplicate key '<<'; merge several mappings with <<: [*a, *b]");
            continue;
        }
        if (merge(c, node(c, p->value), &own, out, depth))
            goto done;
    }
    rc = c->oom ? -1 : 0;
done:
    kvs_free(&own);
    return rc;
}

static int view(ctx *c, yaml_node_t *map, kvs *out)
{
    memset(out, 0, sizeof *out);
    return view_at(c, map, out, 0);
}

static void join_names(const char *const *names, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; names[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
}

static int slots(ctx *c, yaml_node_t *map, const char *what, const char *const *names,
             yaml_node_t **slot, yaml_node_t **knode)
{
    size_t nn = 0;
    while (names[nn])
        nn++;
    for (size_t i = 0; i < nn; i++)
        slot[i] = knode[i] = NULL;
    if (map->type != YAML_MAPPING_NODE) {
        report(c, map, "%s: expected a mapping, got %s", what, kind(map));
        return -1;
    }
    kvs m;
    if (view(c, map, &m)) {
        kvs_free(&m);
        return -1;
    }
    for (size_t j = 0; j < m.n; j++) {
        const char *k = sv(m.it[j].k);
        size_t i = 0;
        while (i < nn && strcmp(names[i], k))
            i++;
        if (i < nn) {
            slot[i] = m.it[j].v;
            knode[i] = m.it[j].k;
            continue;
        }
        char allowed[1024];
        join_names(names, allowed, sizeof allowed);
        report(c, m.it[j].k, "unknown key '%s' in %s (allowed: %s)", k, what, allowed);
    }
    kvs_free(&m);
    return 0;
}

/* ----------------------------------------------------------- rendering */

static void sb_add(sb *b, const char *s)
{
    size_t n = strlen(s);
    if (b->fail)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->fail = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

static void render_at(ctx *c, yaml_node_t *n, sb *b, int depth)
{
    if (c->fatal || depth > MAX_DEPTH)
        return;
    if (n->type == YAML_SCALAR_NODE) {
        sb_add(b, sv(n));
    } else if (n->type == YAML_SEQUENCE_NODE) {
        sb_add(b, "[");
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            if (i != n->data.sequence.items.start)
                sb_add(b, ",");
            render_at(c, node(c, *i), b, depth + 1);
        }
        sb_add(b, "]");
    } else if (n->type == YAML_MAPPING_NODE) {
        kvs m;
        if (view(c, n, &m))
            b->fail = 1;
        sb_add(b, "{");
        for (size_t i = 0; i < m.n; i++) {
            sb_add(b, i ? "," : "");
            sb_add(b, sv(m.it[i].k));
            sb_add(b, ":");
            render_at(c, m.it[i].v, b, depth + 1);
        }
        sb_add(b, "}");
        kvs_free(&m);
    }
}

static char *render(ctx *c, yaml_node_t *n)
{
    sb b = {0};
    sb_add(&b, "");
    render_at(c, n, &b, 0);
    if (b.fail) {
        free(b.p);
        oom(c);
        return NULL;
    }
    return b.p;
}

static int equal_at(ctx *c, yaml_node_t *a, yaml_node_t *b, int depth);

static int equal_maps(ctx *c, yaml_node_t *a, yaml_node_t *b, int depth)
{
    kvs ma, mb;
    int bad_a = view(c, a, &ma), bad_b = view(c, b, &mb);
    int eq = !bad_a && !bad_b && ma.n == mb.n;
    for (size_t i = 0; eq && i < ma.n; i++) {
        kv *o = kvs_find(&mb, sv(ma.it[i].k));
        eq = o && equal_at(c, ma.it[i].v, o->v, depth + 1);
    }
    kvs_free(&ma);
    kvs_free(&mb);
    return eq;
}

static int equal_at(ctx *c, yaml_node_t *a, yaml_node_t *b, int depth)
{
    if (a == b)
        return 1;
    if (c->fatal || depth > MAX_DEPTH || a->type != b->type)
        return 0;
    if (a->type == YAML_SCALAR_NODE)
        return (is_null(a) && is_null(b)) || !strcmp(sv(a), sv(b));
    if (a->type == YAML_MAPPING_NODE)
        return equal_maps(c, a, b, depth);
    yaml_node_item_t *i = a->data.sequence.items.start, *j = b->data.sequence.items.start;
    if (a->data.sequence.items.top - i != b->data.sequence.items.top - j)
        return 0;
    for (; i < a->data.sequence.items.top; i++, j++)
        if (!equal_at(c, node(c, *i), node(c, *j), depth + 1))
            return 0;
    return 1;
}

static int equal(ctx *c, yaml_node_t *a, yaml_node_t *b)
{
    return equal_at(c, a, b, 0);
}

/* ------------------------------------------------------------- scalars */

static int word_ok(const char *s, const char *extra)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr(extra, *s))
            return 0;
    return 1;
}

static const char *scalar(ctx *c, yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SCALAR_NODE && !is_null(n))
        return sv(n);
    report(c, n, "%s: expected a scalar, got %s", what, kind(n));
    return NULL;
}

static int dup_scalar(ctx *c, yaml_node_t *n, const char *what, char **out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    *out = strdup(s);
    if (!*out)
        oom(c);
    return *out ? 0 : -1;
}

static int text_i64(const char *s, int64_t *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!(*p >= '0' && *p <= '9'))
        return -1;
    int base = p[0] == '0' && (p[1] == 'x' || p[1] == 'X') ? 16 : 10;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int text_u64(const char *s, uint64_t *out)
{
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int int_in(ctx *c, yaml_node_t *n, const char *what, int64_t lo, int64_t hi,
                  int64_t *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    if (text_i64(s, out) || *out < lo || *out > hi) {
        report(c, n, "%s: expected an integer from %" PRId64 " to %" PRId64 ", got '%s'", what,
               lo, hi, s);
        return -1;
    }
    return 0;
}

static int u64_of(ctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    if (text_u64(s, out)) {
        report(c, n, "%s: expected an unsigned 64-bit integer, got '%s'", what, s);
        return -1;
    }
    return 0;
}

static int f64_in(ctx *c, yaml_node_t *n, const char *what, double lo, double hi, double *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(*out) || *out < lo || *out > hi) {
        report(c, n, "%s: expected a number from %g to %g, got '%s'", what, lo, hi, s);
        return -1;
    }
    return 0;
}

static int bool_of(ctx *c, yaml_node_t *n, const char *what, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON",  NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
                                     "NO",    "off",   "Off",   "OFF", NULL};
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    for (int i = 0; yes[i]; i++)
        if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
            *out = !strcmp(s, yes[i]);
            return 0;
        }
    report(c, n, "%s: expected true or false, got '%s'", what, s);
    return -1;
}

/* Bytes, with an optional suffix B, KiB, MiB or GiB. */
static int text_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
    char *end;
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix))
            continue;
        if (v > (UINT64_MAX >> units[i].shift))
            return -1;
        *out = (uint64_t)v << units[i].shift;
        return 0;
    }
    return -1;
}

static int size_of(ctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    if (text_size(s, out)) {
        report(c, n, "%s: expected bytes, optionally with KiB, MiB or GiB, got '%s'", what, s);
        return -1;
    }
    return 0;
}

/* s must be one of the NULL-terminated names; returns its index. */
static int one_of(ctx *c, yaml_node_t *n, const char *what, const char *const *names)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    char allowed[512];
    join_names(names, allowed, sizeof allowed);
    report(c, n, "%s: bad value '%s' (%s)", what, s, allowed);
    return -1;
}

/* A list, or a scalar taken as a list of one: the items. */
static size_t items_of(yaml_node_t *n, yaml_node_t **one, yaml_node_item_t **first)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        *first = n->data.sequence.items.start;
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    }
    *one = n;
    *first = NULL;
    return 1;
}

static yaml_node_t *item_at(ctx *c, yaml_node_t *one, yaml_node_item_t *first, size_t i)
{
    return first ? node(c, first[i]) : one;
}

/* A list of scalars (or one scalar) as strings; each passes ok(). */
typedef int (*word_check)(ctx *, yaml_node_t *, const char *);

static int strv_of(ctx *c, yaml_node_t *n, const char *what, word_check ok, char ***out,
                   size_t *nout)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        report(c, n, "%s: expected a list, got a mapping", what);
        return -1;
    }
    size_t cnt = items_of(n, &one, &first);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = item_at(c, one, first, i);
        const char *s = scalar(c, it, what);
        if (!s || (ok && ok(c, it, s)))
            continue;
        if (!((*out)[(*nout)++] = strdup(s))) {
            oom(c);
            return -1;
        }
    }
    return 0;
}

/* ----------------------------------------------------------- lg values */

static int device_of(ctx *c, yaml_node_t *n, const char *what, lg_device *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    if (lg_device_parse(s, out) != LG_OK) {
        report(c, n, "%s: bad device '%s' (cpu, cuda, cuda:N, mps)", what, s);
        return -1;
    }
    return 0;
}

static int dtype_of(ctx *c, yaml_node_t *n, const char *what, lg_dtype *out)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    if (lg_dtype_parse(s, out) == LG_OK)
        return 0;
    char names[256];
    size_t used = 0;
    names[0] = 0;
    for (int d = 0; d < LG_DTYPE_COUNT; d++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", d ? ", " : "",
                                 lg_dtype_name((lg_dtype)d));
    report(c, n, "%s: unknown dtype '%s' (%s)", what, s, names);
    return -1;
}

static int shape_of(ctx *c, yaml_node_t *n, const char *what, int *ndim, int64_t *shape)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "%s: expected a list of dimensions, got %s", what, kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (cnt > LG_MAX_DIMS) {
        report(c, n, "%s: %zu dimensions; at most %d", what, cnt, LG_MAX_DIMS);
        return -1;
    }
    *ndim = (int)cnt;
    for (size_t d = 0; d < cnt; d++)
        if (int_in(c, node(c, i[d]), what, 0, INT64_C(1) << 48, &shape[d]))
            return -1;
    return 0;
}

/* -------------------------------------------------------------- files */

static void file_free(hx_file *f)
{
    free(f->name);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static int file_copy(const hx_file *src, hx_file *dst)
{
    *dst = *src;
    dst->name = src->name ? strdup(src->name) : NULL;
    dst->path = src->path ? strdup(src->path) : NULL;
    if ((src->name && !dst->name) || (src->path && !dst->path)) {
        file_free(dst);
        return -1;
    }
    return 0;
}

static const char *const gen_keys[] = {"format", "tensors", "shape", "dtype", "dtypes", "seed",
                                       NULL};
enum { G_FORMAT, G_TENSORS, G_SHAPE, G_DTYPE, G_DTYPES, G_SEED, G_COUNT };
static const char *const gen_formats[] = {"safetensors", "torch-archive", "torch-zip", NULL};

static int dtypes_of(ctx *c, yaml_node_t *n, hx_gen *g)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "generate.dtypes: expected a list of dtypes, got %s", kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (cnt == 0 || cnt > LG_DTYPE_COUNT) {
        report(c, n, "generate.dtypes: expected 1 to %d dtypes, got %zu", LG_DTYPE_COUNT, cnt);
        return -1;
    }
    g->ndtypes = (int)cnt;
    for (size_t d = 0; d < cnt; d++)
        if (dtype_of(c, node(c, i[d]), "generate.dtypes", &g->dtypes[d]))
            return -1;
    return 0;
}

/* The most tensor data one generated fixture may hold: 1 GiB
 * (docs/cases.md). harness/gen.c refuses more with the same bound. */
#define GEN_MAX_BYTES (UINT64_C(1) << 30)

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

/* The bytes of tensor data g asks for, each product checked for overflow:
 * elements (the dimensions other than zeros must multiply to at most
 * INT64_MAX, as the strides of a torch.save file do), times the dtype
 * size, times the tensor count. Returns -1 when that is more than
 * GEN_MAX_BYTES, -2 when the strides overflow. */
static int gen_bytes(const hx_gen *g, uint64_t *bytes)
{
    uint64_t span = 1, numel, total = 0;
    int empty = 0;
    for (int k = 0; k < g->ndim; k++) {
        uint64_t d = (uint64_t)g->shape[k];
        if (d == 0) {
            empty = 1;
            continue;
        }
        if (span > (uint64_t)INT64_MAX / d)
            return -2;
        span *= d;
    }
    numel = empty ? 0 : span;
    for (int i = 0; i < (g->ndtypes ? g->ndtypes : 1); i++) {
        uint64_t es = lg_dtype_size(g->ndtypes ? g->dtypes[i] : g->dtype);
        if (numel > GEN_MAX_BYTES / es)
            return -1;
        total += numel * es; /* at most LG_DTYPE_COUNT terms of at most 1 GiB */
    }
    if (!g->ndtypes) {
        if (total && (uint64_t)g->tensors > GEN_MAX_BYTES / total)
            return -1;
        total *= (uint64_t)g->tensors;
    }
    if (total > GEN_MAX_BYTES)
        return -1;
    *bytes = total;
    return 0;
}

/* A spec whose fixture would pass GEN_MAX_BYTES (or whose sizes overflow)
 * is an error of the case file, reported at the shape. */
static int gen_size_check(ctx *c, yaml_node_t *n, yaml_node_t *const *s, const hx_gen *g)
{
    uint64_t bytes;
    char shape[256], types[128] = "";
    int rc = gen_bytes(g, &bytes);
    if (rc == 0)
        return 0;
    shape_text(g, shape, sizeof shape);
    if (rc == -2) {
        report(c, s[G_SHAPE], "generate.shape: %s: the dimensions other than 0 multiply past "
               "2^63 - 1 (the strides would overflow)", shape);
    } else if (g->ndtypes) {
        size_t u = 0;
        for (int i = 0; i < g->ndtypes && u < sizeof types; i++)
            u += (size_t)snprintf(types + u, sizeof types - u, "%s%s", i ? ", " : "",
                                  lg_dtype_name(g->dtypes[i]));
        report(c, s[G_SHAPE] ? s[G_SHAPE] : n,
               "generate.shape: %s with dtypes [%s] needs more than %" PRIu64 " bytes "
               "(1 GiB), the most tensor data a generated fixture may hold",
               shape, types, GEN_MAX_BYTES);
    } else {
        report(c, s[G_SHAPE] ? s[G_SHAPE] : s[G_TENSORS] ? s[G_TENSORS] : n,
               "generate.shape: %s of %s, %d tensor%s, needs more than %" PRIu64 " bytes "
               "(1 GiB), the most tensor data a generated fixture may hold",
               shape, lg_dtype_name(g->dtype), g->tensors, g->tensors == 1 ? "" : "s",
               GEN_MAX_BYTES);
    }
    return -1;
}

static int gen_of(ctx *c, yaml_node_t *n, hx_gen *g)
{
    yaml_node_t *s[G_COUNT], *k[G_COUNT];
    int64_t v;
    int bad = 0;
    hx_gen_init(g);
    if (slots(c, n, "generate", gen_keys, s, k))
        return -1;
    int f = s[G_FORMAT] ? one_of(c, s[G_FORMAT], "generate.format", gen_formats) : 0;
    if (f >= 0)
        snprintf(g->format, sizeof g->format, "%s", gen_formats[f]);
    if (s[G_TENSORS] && int_in(c, s[G_TENSORS], "generate.tensors", 0, MAX_COUNT, &v) == 0)
        g->tensors = (int)v;
    else if (s[G_TENSORS])
        bad = 1;
    if (s[G_SHAPE] && shape_of(c, s[G_SHAPE], "generate.shape", &g->ndim, g->shape))
        bad = 1;
    if (s[G_DTYPE] && dtype_of(c, s[G_DTYPE], "generate.dtype", &g->dtype))
        bad = 1;
    if (s[G_DTYPES] && dtypes_of(c, s[G_DTYPES], g))
        bad = 1;
    if (s[G_SEED] && u64_of(c, s[G_SEED], "generate.seed", &g->seed))
        bad = 1;
    if (s[G_DTYPES] && (s[G_DTYPE] || s[G_TENSORS])) {
        report(c, k[G_DTYPES], "generate: dtypes gives one tensor per entry; drop %s",
               s[G_DTYPE] ? "dtype" : "tensors");
        return -1;
    }
    /* a spec with an error is never generated, nor measured */
    return bad || f < 0 ? -1 : gen_size_check(c, n, s, g);
}

static char *resolve(ctx *c, const char *p)
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
static int parse_file_def(ctx *c, yaml_node_t *n, const char *what, const char *name,
                          hx_file *out)
{
    yaml_node_t *s[2], *k[2];
    memset(out, 0, sizeof *out);
    if (slots(c, n, what, file_keys, s, k))
        return -1;
    if (!s[0] == !s[1]) {
        report(c, n, "%s: give exactly one of generate, path", what);
        return -1;
    }
    if (!(out->name = strdup(name))) {
        oom(c);
        return -1;
    }
    if (s[0]) {
        out->kind = HX_FILE_GENERATE;
        return gen_of(c, s[0], &out->gen);
    }
    const char *p = scalar(c, s[1], "path");
    if (!p)
        return -1;
    out->kind = HX_FILE_PATH;
    if (!(out->path = resolve(c, p)))
        oom(c);
    return out->path ? 0 : -1;
}

static int parse_file(ctx *c, yaml_node_t *n, hx_file *out)
{
    if (n->type == YAML_MAPPING_NODE)
        return parse_file_def(c, n, "file", "inline", out);
    const char *s = scalar(c, n, "file");
    if (!s)
        return -1;
    for (size_t i = 0; i < c->nfx; i++) {
        if (strcmp(sv(c->fx[i].knode), s))
            continue;
        if (file_copy(&c->fx[i].file, out))
            oom(c);
        return c->oom ? -1 : 0;
    }
    char known[512];
    size_t used = 0;
    known[0] = 0;
    for (size_t i = 0; i < c->nfx && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 sv(c->fx[i].knode));
    report(c, n, "file: no fixture named '%s' (%s%s)", s,
           c->nfx ? "defined: " : "no fixtures defined", known);
    return -1;
}

/* -------------------------------------------------------------- store */

static void vars_free(hx_var *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static void store_free(hx_store_spec *s)
{
    for (size_t i = 0; i < s->ndrop; i++)
        free(s->drop[i]);
    free(s->drop);
    vars_free(s->add, s->nadd);
    vars_free(s->reshape, s->nreshape);
    vars_free(s->retype, s->nretype);
    vars_free(s->vars, s->nvars);
    memset(s, 0, sizeof *s);
}

static const char *const var_keys[] = {"name", "dtype", "shape", NULL};

static int var_of(ctx *c, yaml_node_t *n, const char *what, hx_var *v)
{
    yaml_node_t *s[3], *k[3];
    if (slots(c, n, what, var_keys, s, k))
        return -1;
    for (int i = 0; i < 3; i++)
        if (!s[i]) {
            report(c, n, "%s: missing key '%s' (a variable has name, dtype and shape)", what,
                   var_keys[i]);
            return -1;
        }
    if (dup_scalar(c, s[0], what, &v->name))
        return -1;
    if (dtype_of(c, s[1], what, &v->dtype))
        return -1;
    return shape_of(c, s[2], what, &v->ndim, v->shape);
}

static int var_list(ctx *c, yaml_node_t *n, const char *what, hx_var **out, size_t *nout)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "%s: expected a list of {name, dtype, shape}, got %s", what, kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (!(*out = calloc(cnt ? cnt : 1, sizeof **out))) {
        oom(c);
        return -1;
    }
    for (size_t j = 0; j < cnt && !c->fatal; j++) {
        hx_var *v = &(*out)[*nout];
        if (var_of(c, node(c, i[j]), what, v) == 0) {
            (*nout)++;
            continue;
        }
        free(v->name); /* the slot is reused */
        memset(v, 0, sizeof *v);
    }
    return 0;
}

/* reshape: {name: shape} or retype: {name: dtype}. */
static int var_edits(ctx *c, yaml_node_t *n, const char *what, int retype, hx_var **out,
                     size_t *nout)
{
    kvs m;
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "%s: expected a mapping of variable names to %s, got %s", what,
               retype ? "dtypes" : "shapes", kind(n));
        return -1;
    }
    if (view(c, n, &m) || !(*out = calloc(m.n ? m.n : 1, sizeof **out))) {
        kvs_free(&m);
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        hx_var *v = &(*out)[*nout];
        int bad = retype ? dtype_of(c, m.it[i].v, what, &v->dtype)
                         : shape_of(c, m.it[i].v, what, &v->ndim, v->shape);
        if (bad)
            continue;
        if (!(v->name = strdup(sv(m.it[i].k)))) {
            oom(c);
            break;
        }
        (*nout)++;
    }
    kvs_free(&m);
    return c->oom ? -1 : 0;
}

static const char *const store_keys[] = {"mirror", "drop", "add", "reshape", "retype", NULL};

static int parse_store(ctx *c, yaml_node_t *n, hx_store_spec *st)
{
    yaml_node_t *s[5], *k[5];
    int mirror = 1;
    st->mirror = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        st->mirror = 0;
        return var_list(c, n, "store", &st->vars, &st->nvars);
    }
    if (n->type == YAML_SCALAR_NODE && !strcmp(sv(n), "mirror"))
        return 0;
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "store: expected mirror, a mapping {mirror, drop, add, reshape, retype} or "
                     "a list of {name, dtype, shape}, got %s", kind(n));
        return -1;
    }
    if (slots(c, n, "store", store_keys, s, k))
        return -1;
    if (s[0] && bool_of(c, s[0], "store.mirror", &mirror) == 0 && !mirror)
        report(c, s[0], "store.mirror: false; give the variables as a list instead");
    if (s[1])
        strv_of(c, s[1], "store.drop", NULL, &st->drop, &st->ndrop);
    if (s[2])
        var_list(c, s[2], "store.add", &st->add, &st->nadd);
    if (s[3])
        var_edits(c, s[3], "store.reshape", 0, &st->reshape, &st->nreshape);
    if (s[4])
        var_edits(c, s[4], "store.retype", 1, &st->retype, &st->nretype);
    return 0;
}
/* ------------------------------------------------------------- faults */

static const struct {
    const char *name;
    int err;
} errnos[] = {{"ENOENT", ENOENT}, {"EACCES", EACCES}, {"EMFILE", EMFILE}, {"EIO", EIO},
              {"EINTR", EINTR},   {"ENOMEM", ENOMEM}, {"ENODEV", ENODEV}, {"short", -1}};

static int errno_of(ctx *c, yaml_node_t *n, const char *point, int *out)
{
    const char *s = scalar(c, n, "fault.errno");
    if (!s)
        return -1;
    if (strncmp(point, "io.", 3)) {
        report(c, n, "fault.errno: only io.* points fail with an errno, not %s", point);
        return -1;
    }
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
        if (strcmp(s, errnos[i].name))
            continue;
        if (errnos[i].err < 0 && strcmp(point, "io.read")) {
            report(c, n, "fault.errno: 'short' (a short read) applies to io.read only");
            return -1;
        }
        *out = errnos[i].err;
        return 0;
    }
    report(c, n, "fault.errno: unknown '%s' (ENOENT, EACCES, EMFILE, EIO, EINTR, ENOMEM, ENODEV, short)",
           s);
    return -1;
}

static int point_of(ctx *c, yaml_node_t *n, hx_fault *f)
{
    const char *s = scalar(c, n, "fault.point");
    if (!s)
        return -1;
    if (lg_fault_point_valid(s) && strlen(s) < sizeof f->point) {
        snprintf(f->point, sizeof f->point, "%s", s);
        return 0;
    }
    char names[512];
    join_names(lg_fault_points(), names, sizeof names);
    report(c, n, "fault.point: unknown fault point '%s' (%s)", s, names);
    return -1;
}

static const char *const fault_keys[] = {"point", "nth", "from", "prob", "seed",
                                         "sweep", "errno", "action", NULL};
enum { F_POINT, F_NTH, F_FROM, F_PROB, F_SEED, F_SWEEP, F_ERRNO, F_ACTION, F_COUNT };
static const char *const sweeps[] = {"transient", "persistent", NULL};
static const char *const actions[] = {"fail", "crash", "hang", NULL};

static int schedule_of(ctx *c, yaml_node_t **s, yaml_node_t **k, hx_fault *f)
{
    int64_t v;
    if (s[F_NTH] || s[F_FROM]) {
        f->s.when = s[F_NTH] ? LG_FAULT_NTH : LG_FAULT_FROM;
        if (int_in(c, s[F_NTH] ? s[F_NTH] : s[F_FROM], s[F_NTH] ? "fault.nth" : "fault.from", 1,
                   INT64_MAX, &v))
            return -1;
        f->s.k = (uint64_t)v;
    } else if (s[F_PROB]) {
        f->s.when = LG_FAULT_PROB;
        if (f64_in(c, s[F_PROB], "fault.prob", 0, 1, &f->s.p))
            return -1;
    } else {
        int w = one_of(c, s[F_SWEEP], "fault.sweep", sweeps);
        if (w < 0)
            return -1;
        f->sweep = w ? HX_SWEEP_PERSISTENT : HX_SWEEP_TRANSIENT;
        f->s.when = w ? LG_FAULT_FROM : LG_FAULT_NTH;
    }
    if (s[F_SEED] && !s[F_PROB]) {
        report(c, k[F_SEED], "fault.seed: only with prob");
        return -1;
    }
    return s[F_SEED] ? u64_of(c, s[F_SEED], "fault.seed", &f->s.seed) : 0;
}

static int fault_of(ctx *c, yaml_node_t *n, hx_fault *f)
{
    yaml_node_t *s[F_COUNT], *k[F_COUNT];
    if (slots(c, n, "fault", fault_keys, s, k))
        return -1;
    if (!s[F_POINT]) {
        report(c, n, "fault: missing key 'point'");
        return -1;
    }
    int rc = point_of(c, s[F_POINT], f);
    if (!!s[F_NTH] + !!s[F_FROM] + !!s[F_PROB] + !!s[F_SWEEP] != 1) {
        report(c, n, "fault: give exactly one of nth, from, prob, sweep");
        return -1;
    }
    if (schedule_of(c, s, k, f))
        return -1;
    if (rc == 0 && s[F_ERRNO] && errno_of(c, s[F_ERRNO], f->point, &f->s.err))
        return -1;
    int a = s[F_ACTION] ? one_of(c, s[F_ACTION], "fault.action", actions) : 0;
    if (a < 0)
        return -1;
    f->s.action = a == 1 ? LG_FAULT_CRASH : a == 2 ? LG_FAULT_HANG : LG_FAULT_FAIL;
    return rc;
}

/* Several faults may be armed at once, one schedule per point, and at
 * most one of them a sweep (the runner sweeps it). */
static int fault_clash(ctx *c, yaml_node_t *n, const hx_case *h, const hx_fault *f)
{
    for (size_t i = 0; i < h->nfaults; i++) {
        if (!strcmp(h->faults[i].point, f->point)) {
            report(c, n, "fault: point %s is armed twice", f->point);
            return -1;
        }
        if (h->faults[i].sweep != HX_SWEEP_NONE && f->sweep != HX_SWEEP_NONE) {
            report(c, n, "fault: at most one sweep per case");
            return -1;
        }
    }
    return 0;
}

static int parse_faults(ctx *c, yaml_node_t *n, hx_case *h)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_SCALAR_NODE) {
        report(c, n, "fault: expected a mapping {point, ...} or a list of them, got %s", kind(n));
        return -1;
    }
    size_t cnt = items_of(n, &one, &first);
    if (!(h->faults = calloc(cnt ? cnt : 1, sizeof *h->faults))) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = item_at(c, one, first, i);
        hx_fault f = {0};
        if (fault_of(c, it, &f) == 0 && fault_clash(c, it, h, &f) == 0)
            h->faults[h->nfaults++] = f;
    }
    return 0;
}

/* ---------------------------------------------------------------- sim */

static const char *const sim_keys[] = {"direct_deserialize", "float64", "available", "capacity",
                                       NULL};
static const char *const ok_refuse[] = {"ok", "refuse", NULL};

/* The value of one profile key, checked and normalized for
 * lg_sim_profile_set. */
static int sim_value(ctx *c, int key, yaml_node_t *n, char *buf, size_t len)
{
    static const char *const avail[] = {"yes", "no", "true", "false", NULL};
    uint64_t bytes;
    int i;
    switch (key) {
    case 0:
    case 1:
        i = one_of(c, n, sim_keys[key], ok_refuse);
        if (i < 0)
            return -1;
        snprintf(buf, len, "%s", ok_refuse[i]);
        return 0;
    case 2:
        i = one_of(c, n, "available", avail);
        if (i < 0)
            return -1;
        snprintf(buf, len, "%s", i % 2 ? "no" : "yes");
        return 0;
    default:
        if (size_of(c, n, "capacity", &bytes))
            return -1;
        snprintf(buf, len, "%" PRIu64, bytes);
        return 0;
    }
}

static int sim_push(ctx *c, hx_case *h, lg_device d, const char *key, const char *value)
{
    hx_sim_override *o = realloc(h->sim, (h->nsim + 1) * sizeof *o);
    if (!o) {
        oom(c);
        return -1;
    }
    h->sim = o;
    o = &h->sim[h->nsim];
    o->device = d;
    o->key = strdup(key);
    o->value = strdup(value);
    h->nsim++;
    if (!o->key || !o->value)
        oom(c);
    return c->oom ? -1 : 0;
}

static int sim_device(ctx *c, lg_device d, yaml_node_t *n, hx_case *h)
{
    yaml_node_t *s[4], *k[4];
    char value[32];
    if (slots(c, n, "sim profile", sim_keys, s, k))
        return -1;
    for (int i = 0; i < 4; i++)
        if (s[i] && sim_value(c, i, s[i], value, sizeof value) == 0 &&
            sim_push(c, h, d, sim_keys[i], value))
            return -1;
    return 0;
}

static int parse_sim(ctx *c, yaml_node_t *n, hx_case *h)
{
    kvs m;
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "sim: expected a mapping of devices to profiles, got %s", kind(n));
        return -1;
    }
    if (view(c, n, &m)) {
        kvs_free(&m);
        return -1;
    }
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        lg_device d;
        if (device_of(c, m.it[i].k, "sim", &d) == 0)
            sim_device(c, d, m.it[i].v, h);
    }
    kvs_free(&m);
    return 0;
}

/* --------------------------------------------- requires, tags, expect */

static int version_ok(const char *v)
{
    int parts = 0;
    while (*v >= '0' && *v <= '9') {
        while (*v >= '0' && *v <= '9')
            v++;
        parts++;
        if (*v != '.')
            break;
        v++;
    }
    return parts >= 1 && parts <= 3 && !*v;
}

static int libtorch_ok(const char *t)
{
    static const char *const ops[] = {">=", "<=", "==", ">", "<", "=", NULL};
    if (strncmp(t, "libtorch", 8))
        return 0;
    t += 8;
    for (int i = 0; ops[i]; i++)
        if (!strncmp(t, ops[i], strlen(ops[i])))
            return version_ok(t + strlen(ops[i]));
    return 0;
}

/* torch, a device (mps, cuda, cuda:N, cpu), no-<device> or no-torch (met
 * where it is absent), libtorch<op>X.Y with op one of >= <= == > < =. */
static int requirement_ok(ctx *c, yaml_node_t *n, const char *s)
{
    char t[64];
    size_t j = 0;
    lg_device d;
    for (; *s && j + 1 < sizeof t; s++)
        if (*s != ' ')
            t[j++] = *s;
    t[j] = 0;
    const char *what = strncmp(t, "no-", 3) ? t : t + 3;
    if (!strcmp(what, "torch") || lg_device_parse(what, &d) == LG_OK || libtorch_ok(t))
        return 0;
    report(c, n, "requires: unknown requirement '%s' (torch, mps, cuda, cuda:N, no-mps, "
                 "no-cuda, no-torch, libtorch>=X.Y, libtorch<X.Y)", sv(n));
    return -1;
}

/* Requirements are stored without spaces: "libtorch>=2.1". */
static void squeeze_spaces(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *w = v[i];
        for (char *r = v[i]; *r; r++)
            if (*r != ' ')
                *w++ = *r;
        *w = 0;
    }
}

static int tag_ok(ctx *c, yaml_node_t *n, const char *s)
{
    if (word_ok(s, "_.-:+/=@"))
        return 0;
    report(c, n, "tags: '%s' is not a word (letters, digits and _.-:+/=@)", s);
    return -1;
}

static const char *const expect_keys[] = {"outcome", "error", "message", "invariants", NULL};
static const char *const outcomes[] = {"ok", "error", "any", NULL};

static int status_of(ctx *c, yaml_node_t *n, hx_expect *e)
{
    const char *s = scalar(c, n, "expect.error");
    if (!s)
        return -1;
    if (lg_status_parse(s, &e->error) == LG_OK && e->error != LG_OK) {
        e->has_error = 1;
        return 0;
    }
    char names[512];
    size_t used = 0;
    names[0] = 0;
    for (int i = 1; i < LG_STATUS_COUNT; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i > 1 ? ", " : "",
                                 lg_status_name((lg_status)i));
    report(c, n, "expect.error: unknown error '%s' (%s)", s, names);
    return -1;
}

static int invariants_of(ctx *c, yaml_node_t *n, hx_expect *e)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        report(c, n, "expect.invariants: expected a list of names, got a mapping");
        return -1;
    }
    e->has_invariants = 1;
    size_t cnt = items_of(n, &one, &first);
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = item_at(c, one, first, i);
        const char *s = scalar(c, it, "expect.invariants");
        hx_inv inv;
        if (!s)
            continue;
        if (hx_inv_parse(s, &inv) == 0) {
            e->invariants[inv] = 1;
            continue;
        }
        report(c, it, "expect.invariants: unknown invariant '%s' (via-cpu, restored, "
                      "consistent, atomic, values, no-leak)", s);
    }
    return 0;
}

static int parse_expect(ctx *c, yaml_node_t *n, hx_expect *e)
{
    yaml_node_t *s[4], *k[4];
    if (slots(c, n, "expect", expect_keys, s, k))
        return -1;
    int o = s[0] ? one_of(c, s[0], "expect.outcome", outcomes) : -1;
    if (s[1])
        status_of(c, s[1], e);
    if (s[1] && !s[0])
        o = 1; /* an error code implies outcome: error */
    e->outcome = o == 1 ? HX_EXPECT_ERROR : o == 2 ? HX_EXPECT_ANY : HX_EXPECT_OK;
    if (s[2] && dup_scalar(c, s[2], "expect.message", &e->message) == 0 && !s[1] && !s[0])
        e->outcome = HX_EXPECT_ERROR;
    if (s[3])
        invariants_of(c, s[3], e);
    if (e->outcome == HX_EXPECT_OK && (s[1] || s[2]))
        report(c, s[1] ? k[1] : k[2], "expect.%s: only with outcome: error or any",
               s[1] ? "error" : "message");
    return 0;
}

/* ------------------------------------------------------- the case keys */

static int parse_word(ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                      char *buf, size_t len)
{
    int i = one_of(c, n, what, names);
    if (i >= 0)
        snprintf(buf, len, "%s", names[i]);
    return i < 0 ? -1 : 0;
}

static int parse_reader(ctx *c, yaml_node_t *n, hx_case *h)
{
    const char *s = scalar(c, n, "reader");
    if (!s)
        return -1;
    if (!word_ok(s, "_.-:")) {
        report(c, n, "reader: '%s' is not a reader name", s);
        return -1;
    }
    if (!strcmp(s, "auto"))
        return 0;
    if (!(h->reader = strdup(s)))
        oom(c);
    return h->reader ? 0 : -1;
}

static int parse_lg_enum(ctx *c, int k, yaml_node_t *n, hx_case *h)
{
    const char *s = scalar(c, n, case_keys[k]);
    if (!s)
        return -1;
    if (k == K_POLICY && lg_policy_parse(s, &h->policy) != LG_OK) {
        report(c, n, "policy: bad value '%s' (via-cpu, staged, direct, auto)", s);
        return -1;
    }
    if (k == K_DTYPE_RULE && lg_dtype_rule_parse(s, &h->dtype_rule) != LG_OK) {
        report(c, n, "dtype_rule: bad value '%s' (adopt, strict)", s);
        return -1;
    }
    return 0;
}

static const char *const backends[] = {"sim", "torch", NULL};
static const char *const crc_modes[] = {"error", "warn", "off", NULL};

/* One case key's value into h. Corrupt is not here: it expands. */
static int parse_key(ctx *c, int k, yaml_node_t *n, hx_case *h)
{
    switch (k) {
    case K_BACKEND: return parse_word(c, n, "backend", backends, h->backend, sizeof h->backend);
    case K_DEVICE: return device_of(c, n, "device", &h->device);
    case K_POLICY:
    case K_DTYPE_RULE: return parse_lg_enum(c, k, n, h);
    case K_READER: return parse_reader(c, n, h);
    case K_FILE: return parse_file(c, n, &h->file);
    case K_STORE: return parse_store(c, n, &h->store);
    case K_SIM: return parse_sim(c, n, h);
    case K_FAULT: return parse_faults(c, n, h);
    case K_STAGING: return size_of(c, n, "staging_budget", &h->staging_budget);
    case K_PROBE: return bool_of(c, n, "probe", &h->probe);
    case K_KEY: return dup_scalar(c, n, "key", &h->key);
    case K_CRC: return parse_word(c, n, "crc", crc_modes, h->crc, sizeof h->crc);
    case K_REQUIRES:
        if (strv_of(c, n, "requires", requirement_ok, &h->requires, &h->nrequires))
            return -1;
        squeeze_spaces(h->requires, h->nrequires);
        return 0;
    case K_SKIP: return dup_scalar(c, n, "skip", &h->skip);
    case K_XFAIL: return dup_scalar(c, n, "xfail", &h->xfail);
    case K_TIMEOUT: return f64_in(c, n, "timeout", 0.001, 1e6, &h->timeout);
    case K_TAGS: return strv_of(c, n, "tags", tag_ok, &h->tags, &h->ntags);
    case K_EXPECT: return parse_expect(c, n, &h->expect);
    case K_DESCRIPTION: return dup_scalar(c, n, "description", &h->description);
    }
    return 0;
}
/* ------------------------------------------------------------ corrupt */

typedef struct {
    hx_corrupt *v;
    size_t n, cap;
} corrs;

static int corr_push(ctx *c, corrs *l, hx_corrupt x)
{
    if (l->n == MAX_CASES) {
        c->fatal = 1;
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        hx_corrupt *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            oom(c);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    hx_corrupt_label(&x);
    l->v[l->n++] = x;
    return 0;
}

static int mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0777) && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
}

/* Writes a generated fixture into the fixture folder, unless a previous
 * run already did (same spec, same bytes). A temporary name and a rename
 * keep parallel runs from seeing half a file. */
static int generate(ctx *c, yaml_node_t *n, hx_file *f)
{
    char name[256], path[4400];
    struct stat st;
    hx_gen_filename(&f->gen, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", c->fixture_dir, name);
    if (stat(path, &st) != 0) {
        char tmp[4500];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        if (mkdirs(c->fixture_dir)) {
            report(c, n, "cannot create the fixture folder %s: %s", c->fixture_dir,
                   strerror(errno));
            return -1;
        }
        lg_error_clear();
        lg_status st = hx_gen_write(&f->gen, tmp);
        if (st != LG_OK || rename(tmp, path)) {
            report(c, n, "cannot generate the fixture %s: %s", path,
                   st != LG_OK ? lg_error_message() : strerror(errno));
            unlink(tmp);
            return -1;
        }
    }
    if (!(f->path = strdup(path)))
        oom(c);
    return f->path ? 0 : -1;
}

static int torch_built(void)
{
    return strstr(lg_backends_built(), "torch") != NULL;
}

/* The size of the case's file, for the generators that enumerate offsets.
 * Returns 1 when there is nothing to enumerate: while values are only
 * being checked, or for a torch-archive fixture in a build without torch
 * (c->unmeasured; the case is then emitted once, skipped). */
static int file_size(ctx *c, yaml_node_t *n, hx_file *f, uint64_t *size)
{
    struct stat st;
    if (c->scratch)
        return 1;
    if (f->kind == HX_FILE_NONE) {
        report(c, n, "corrupt: enumerating offsets needs the case's file");
        return -1;
    }
    if (f->kind == HX_FILE_GENERATE && !strcmp(f->gen.format, "torch-archive") &&
        !torch_built()) {
        c->unmeasured = 1;
        return 1;
    }
    if (f->kind == HX_FILE_GENERATE && !f->path && generate(c, n, f))
        return -1;
    if (stat(f->path, &st) != 0) {
        report(c, n, "corrupt: cannot measure %s: %s", f->path, strerror(errno));
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Stands for an enumeration that could not be made (see file_size). */
static int placeholder(ctx *c, corrs *l, const char *label)
{
    if (c->scratch || corr_push(c, l, (hx_corrupt){.kind = HX_CORRUPT_NONE}))
        return c->scratch ? 0 : -1;
    snprintf(l->v[l->n - 1].label, sizeof l->v[0].label, "%s", label);
    return 0;
}

static int enum_limit(ctx *c, yaml_node_t *n, uint64_t count)
{
    if (count <= MAX_CASES)
        return 0;
    report(c, n, "corrupt: %" PRIu64 " cases; at most %d", count, MAX_CASES);
    return -1;
}

static int offset_of(ctx *c, yaml_node_t *n, const char *what, int64_t *v, int *half)
{
    const char *s = scalar(c, n, what);
    if (!s)
        return -1;
    *half = !strcmp(s, "half");
    *v = 0;
    if (*half || text_i64(s, v) == 0)
        return 0;
    report(c, n, "%s: expected an integer (negative counts from the end) or half, got '%s'",
           what, s);
    return -1;
}

static int parse_truncate(ctx *c, yaml_node_t *n, hx_file *f, corrs *l, int *expanded)
{
    hx_corrupt x = {.kind = HX_CORRUPT_TRUNCATE};
    uint64_t size;
    if (n->type == YAML_SCALAR_NODE && !strcmp(sv(n), "every")) {
        *expanded = 1;
        int rc = file_size(c, n, f, &size);
        if (rc == 1)
            return placeholder(c, l, "truncate:every");
        if (rc || enum_limit(c, n, size))
            return -1;
        for (x.a = 0; (uint64_t)x.a < size; x.a++)
            if (corr_push(c, l, x))
                return -1;
        return 0;
    }
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        report(c, n, "truncate: expected a length, a list of lengths or every, got a mapping");
        return -1;
    }
    size_t cnt = items_of(n, &one, &first);
    *expanded |= first != NULL;
    for (size_t i = 0; i < cnt && !c->fatal; i++)
        if (offset_of(c, item_at(c, one, first, i), "truncate", &x.a, &x.a_half) == 0 &&
            corr_push(c, l, x))
            return -1;
    return 0;
}

static const char *const flip_keys[] = {"offset", "bit",   "every_byte", "every_bit",
                                        "random", "seed",  "count",      NULL};
enum { FL_OFFSET, FL_BIT, FL_EVERY_BYTE, FL_EVERY_BIT, FL_RANDOM, FL_SEED, FL_COUNT, FL_N };

static int flip_every(ctx *c, yaml_node_t *n, yaml_node_t *flag, int bits, hx_file *f, corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP, .bit = -1};
    uint64_t size;
    int on;
    if (bool_of(c, flag, bits ? "flip.every_bit" : "flip.every_byte", &on))
        return -1;
    if (!on) {
        report(c, flag, "flip: every_%s: false flips nothing; leave it out", bits ? "bit" : "byte");
        return -1;
    }
    int rc = file_size(c, n, f, &size);
    if (rc == 1)
        return placeholder(c, l, bits ? "flip:every_bit" : "flip:every_byte");
    if (rc || enum_limit(c, n, bits ? size * 8 : size))
        return -1;
    for (x.a = 0; (uint64_t)x.a < size; x.a++)
        for (x.bit = bits ? 0 : -1; x.bit < (bits ? 8 : 0); x.bit++)
            if (corr_push(c, l, x))
                return -1;
    return 0;
}

static int flip_random(ctx *c, yaml_node_t **s, corrs *l, int *expanded)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP, .random = 1};
    int64_t count = 1;
    if (int_in(c, s[FL_RANDOM], "flip.random", 1, MAX_COUNT, &x.a))
        return -1;
    if (s[FL_SEED] && u64_of(c, s[FL_SEED], "flip.seed", &x.seed))
        return -1;
    if (s[FL_COUNT] && int_in(c, s[FL_COUNT], "flip.count", 1, MAX_COUNT, &count))
        return -1;
    *expanded |= count > 1;
    for (int64_t i = 0; i < count; i++, x.seed++)
        if (corr_push(c, l, x))
            return -1;
    return 0;
}

static int flip_at(ctx *c, yaml_node_t **s, corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_FLIP};
    int64_t bit = 0;
    if (offset_of(c, s[FL_OFFSET], "flip.offset", &x.a, &x.a_half))
        return -1;
    if (s[FL_BIT] && s[FL_BIT]->type == YAML_SCALAR_NODE && !strcmp(sv(s[FL_BIT]), "all"))
        bit = -1;
    else if (s[FL_BIT] && int_in(c, s[FL_BIT], "flip.bit (or all)", 0, 7, &bit))
        return -1;
    x.bit = (int)bit;
    return corr_push(c, l, x);
}

static int flip_one(ctx *c, yaml_node_t *n, hx_file *f, corrs *l, int *expanded)
{
    yaml_node_t *s[FL_N], *k[FL_N];
    if (slots(c, n, "flip", flip_keys, s, k))
        return -1;
    if (!!s[FL_OFFSET] + !!s[FL_EVERY_BYTE] + !!s[FL_EVERY_BIT] + !!s[FL_RANDOM] != 1) {
        report(c, n, "flip: give exactly one of offset, every_byte, every_bit, random");
        return -1;
    }
    if (s[FL_BIT] && !s[FL_OFFSET]) {
        report(c, k[FL_BIT], "flip.bit: only with offset");
        return -1;
    }
    if ((s[FL_SEED] || s[FL_COUNT]) && !s[FL_RANDOM]) {
        report(c, k[s[FL_SEED] ? FL_SEED : FL_COUNT], "flip.%s: only with random",
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

static int parse_flip(ctx *c, yaml_node_t *n, hx_file *f, corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return flip_one(c, n, f, l, expanded);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        flip_one(c, node(c, *i), f, l, expanded);
    return 0;
}

static int zero_pair(ctx *c, yaml_node_t *n, corrs *l)
{
    hx_corrupt x = {.kind = HX_CORRUPT_ZERO};
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != 2) {
        report(c, n, "zero: expected [begin, end], got %s", kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    if (offset_of(c, node(c, i[0]), "zero", &x.a, &x.a_half) ||
        offset_of(c, node(c, i[1]), "zero", &x.b, &x.b_half))
        return -1;
    return corr_push(c, l, x);
}

/* zero: [a, b], or a list of such ranges (one case each). */
static int parse_zero(ctx *c, yaml_node_t *n, corrs *l, int *expanded)
{
    yaml_node_item_t *i = n->type == YAML_SEQUENCE_NODE ? n->data.sequence.items.start : NULL;
    if (!i || i == n->data.sequence.items.top ||
        node(c, *i)->type != YAML_SEQUENCE_NODE)
        return zero_pair(c, n, l);
    *expanded = 1;
    for (; i < n->data.sequence.items.top && !c->fatal; i++)
        zero_pair(c, node(c, *i), l);
    return 0;
}

/* The file a splice takes its bytes from: a fixture's name, or an inline
 * {generate: …} / {path: …}. A generated file is written into the fixture
 * folder now, as for the enumerations, so that its path can be recorded. */
static int splice_source(ctx *c, yaml_node_t *n, hx_corrupt *x)
{
    hx_file f;
    memset(&f, 0, sizeof f);
    if (n->type == YAML_MAPPING_NODE) {
        if (parse_file_def(c, n, "splice.from", "inline", &f)) {
            file_free(&f);
            return -1;
        }
    } else {
        const char *s = scalar(c, n, "splice.from");
        size_t i = 0;
        if (!s)
            return -1;
        while (i < c->nfx && strcmp(sv(c->fx[i].knode), s))
            i++;
        if (i == c->nfx) {
            report(c, n, "splice.from: no fixture named '%s'", s);
            return -1;
        }
        if (file_copy(&c->fx[i].file, &f)) {
            oom(c);
            return -1;
        }
        snprintf(x->from_name, sizeof x->from_name, "%s", s);
    }
    if (f.kind == HX_FILE_PATH && !x->from_name[0]) {
        const char *slash = strrchr(f.path, '/');
        snprintf(x->from_name, sizeof x->from_name, "%s", slash ? slash + 1 : f.path);
    } else if (!x->from_name[0]) {
        snprintf(x->from_name, sizeof x->from_name, "inline");
    }
    int rc = 0;
    if (c->scratch) {
        rc = 0;
    } else if (f.kind == HX_FILE_GENERATE && !strcmp(f.gen.format, "torch-archive") &&
               !torch_built()) {
        c->unmeasured = 1;
    } else if (f.kind == HX_FILE_GENERATE && !f.path && generate(c, n, &f)) {
        rc = -1;
    } else if (f.path && !(x->from = strdup(f.path))) {
        oom(c);
        rc = -1;
    }
    file_free(&f);
    return rc;
}

static const char *const splice_keys[] = {"from", "range", "at", "insert", NULL};
enum { SP_FROM, SP_RANGE, SP_AT, SP_INSERT, SP_N };

/* {from: F, range: [a, b], at: N, insert: bool}: one case. */
static int splice_one(ctx *c, yaml_node_t *n, corrs *l)
{
    yaml_node_t *s[SP_N], *k[SP_N];
    hx_corrupt x = {.kind = HX_CORRUPT_SPLICE};
    if (slots(c, n, "splice", splice_keys, s, k))
        return -1;
    if (!s[SP_FROM] || !s[SP_RANGE]) {
        report(c, n, "splice: needs from and range (at and insert are optional)");
        return -1;
    }
    yaml_node_t *r = s[SP_RANGE];
    if (r->type != YAML_SEQUENCE_NODE ||
        r->data.sequence.items.top - r->data.sequence.items.start != 2) {
        report(c, r, "splice.range: expected [begin, end], got %s", kind(r));
        return -1;
    }
    yaml_node_item_t *i = r->data.sequence.items.start;
    if (offset_of(c, node(c, i[0]), "splice.range", &x.a, &x.a_half) ||
        offset_of(c, node(c, i[1]), "splice.range", &x.b, &x.b_half))
        return -1;
    if (s[SP_AT] && offset_of(c, s[SP_AT], "splice.at", &x.at, &x.at_half))
        return -1;
    if (s[SP_INSERT] && bool_of(c, s[SP_INSERT], "splice.insert", &x.insert))
        return -1;
    if (splice_source(c, s[SP_FROM], &x))
        return -1;
    if (corr_push(c, l, x)) {
        free(x.from);
        return -1;
    }
    return 0;
}

/* splice: one mapping, or a list of them (one case each). */
static int parse_splice(ctx *c, yaml_node_t *n, corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return splice_one(c, n, l);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        splice_one(c, node(c, *i), l);
    return 0;
}

static int st_push(ctx *c, corrs *l, hx_corrupt_kind kind, int m)
{
    hx_corrupt x = {.kind = kind, .mutation = m};
    return corr_push(c, l, x);
}

/* safetensors: NAME, [NAME, …] (one case each), or all (every mutation the
 * reader must refuse); torch_zip the same, with its own table. */
static int parse_st(ctx *c, yaml_node_t *n, corrs *l, int *expanded, hx_corrupt_kind kind)
{
    int tz = kind == HX_CORRUPT_TORCH_ZIP;
    const char *key = tz ? "torch_zip" : "safetensors";
    const hx_st_mutation *st = hx_st_mutations();
    const hx_tz_mutation *zt = hx_tz_mutations();
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_SCALAR_NODE && !strcmp(sv(n), "all")) {
        *expanded = 1;
        for (int m = 0; tz ? zt[m].name != NULL : st[m].name != NULL; m++)
            if ((tz ? zt[m].in_all : st[m].in_all) && st_push(c, l, kind, m))
                return -1;
        return 0;
    }
    if (n->type == YAML_MAPPING_NODE) {
        report(c, n, "%s: expected a mutation's name, a list of names or all, got a "
                     "mapping", key);
        return -1;
    }
    size_t cnt = items_of(n, &one, &first);
    *expanded |= first != NULL;
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *e = item_at(c, one, first, i);
        const char *s = scalar(c, e, key);
        int m = s ? (tz ? hx_tz_mutation_find(s) : hx_st_mutation_find(s)) : -1;
        if (s && m < 0)
            report(c, e, "%s: unknown mutation '%s' (see docs/cases.md; all names "
                         "them)", key, s);
        else if (s && st_push(c, l, kind, m))
            return -1;
    }
    return 0;
}

static const char *const corrupt_keys[] = {"truncate", "flip", "zero", "splice", "safetensors",
                                           "torch_zip", NULL};
enum { CO_TRUNCATE, CO_FLIP, CO_ZERO, CO_SPLICE, CO_ST, CO_TZ, CO_N };

static int mutation(ctx *c, yaml_node_t *n, hx_file *f, corrs *l, int *expanded)
{
    yaml_node_t *s[CO_N], *k[CO_N];
    int given = 0;
    if (slots(c, n, "corrupt", corrupt_keys, s, k))
        return -1;
    for (int i = 0; i < CO_N; i++)
        given += !!s[i];
    if (given != 1) {
        report(c, n, "corrupt: give exactly one of truncate, flip, zero, splice, safetensors, "
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
static void corrs_free(corrs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].from);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* corrupt: one mapping, or a list of them; each list entry, and each value
 * of a list inside one, is a case of its own (*expanded says so). */
static int parse_corrupt(ctx *c, yaml_node_t *n, hx_file *f, corrs *l, int *expanded)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return mutation(c, n, f, l, expanded);
    *expanded = 1;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        mutation(c, node(c, *i), f, l, expanded);
    return 0;
}
/* ---------------------------------------------------------- the cases */

/* A case as written: its keys, before defaults and the matrix. */
typedef struct {
    yaml_node_t *node;
    yaml_node_t *slot[K_COUNT], *knode[K_COUNT];
    const char *name;
} casedef;

/* One combination of the matrix: a value for some keys, and which of them
 * go into the case id. */
typedef struct {
    yaml_node_t *v[K_SETTABLE];
    unsigned char in_id[K_SETTABLE];
} combo;

typedef struct {
    combo *v;
    size_t n, cap;
} combos;

static void case_init(hx_case *h)
{
    memset(h, 0, sizeof *h);
    snprintf(h->backend, sizeof h->backend, "sim");
    h->device = (lg_device){LG_DEV_CPU, 0};
    h->policy = LG_POLICY_VIA_CPU;
    h->dtype_rule = LG_DTYPE_ADOPT;
    h->store.mirror = 1;
    h->timeout = 10;
    h->expect.outcome = HX_EXPECT_OK;
}

/* Precedence: the combination, then the case, then defaults. */
static yaml_node_t *pick(ctx *c, const casedef *d, const combo *co, int k)
{
    if (co && co->v[k])
        return co->v[k];
    if (d && d->slot[k])
        return d->slot[k];
    return c->defaults[k];
}

static void case_values(ctx *c, const casedef *d, const combo *co, hx_case *h)
{
    for (int k = 0; k < K_SETTABLE && !c->fatal; k++) {
        yaml_node_t *n = pick(c, d, co, k);
        if (n && k != K_CORRUPT)
            parse_key(c, k, n, h);
    }
}

/* Checks the values of defaults or of a case on their own, so that a
 * value every combination overrides is still checked. */
static void check_values(ctx *c, const casedef *d)
{
    hx_case h;
    corrs l = {0};
    int expanded = 0;
    case_init(&h);
    c->scratch = 1;
    case_values(c, d, NULL, &h);
    yaml_node_t *n = pick(c, d, NULL, K_CORRUPT);
    if (n)
        parse_corrupt(c, n, &h.file, &l, &expanded);
    c->scratch = 0;
    corrs_free(&l);
    hx_case_free(&h);
}

static hx_case *next_case(ctx *c, const casedef *d)
{
    hx_suite *s = c->out;
    if (s->ncases == MAX_CASES) {
        report(c, d->node, "the suite expands into more than %d cases", MAX_CASES);
        c->fatal = 1;
        return NULL;
    }
    if (s->ncases == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        hx_case *v = realloc(s->cases, cap * sizeof *v);
        if (!v) {
            oom(c);
            return NULL;
        }
        s->cases = v;
        c->cap = cap;
    }
    return &s->cases[s->ncases];
}

static int add_param(hx_case *h, const char *key, const char *value)
{
    hx_param *p = realloc(h->params, (h->nparams + 1) * sizeof *p);
    if (!p)
        return -1;
    h->params = p;
    p[h->nparams].key = strdup(key);
    p[h->nparams].value = strdup(value);
    h->nparams++;
    return p[h->nparams - 1].key && p[h->nparams - 1].value ? 0 : -1;
}

/* suite/name[k=v,...] */
static int make_id(hx_case *h)
{
    sb b = {0};
    sb_add(&b, h->suite);
    sb_add(&b, "/");
    sb_add(&b, h->name);
    for (size_t i = 0; i < h->nparams; i++) {
        sb_add(&b, i ? "," : "[");
        sb_add(&b, h->params[i].key);
        sb_add(&b, "=");
        sb_add(&b, h->params[i].value);
    }
    if (h->nparams)
        sb_add(&b, "]");
    h->id = b.p;
    return b.fail ? -1 : 0;
}

/* One concrete case: h with one corruption, named and numbered. */
static int emit_one(ctx *c, const casedef *d, const hx_case *h, char **vals,
                    const hx_corrupt *x, int corrupt_in_id)
{
    hx_case *o = next_case(c, d);
    if (!o)
        return -1;
    if (hx_case_copy(o, h)) {
        oom(c);
        return -1;
    }
    c->out->ncases++;
    o->corrupt = *x;
    o->corrupt.from = NULL;
    if (x->from && !(o->corrupt.from = strdup(x->from))) {
        oom(c);
        return -1;
    }
    o->src = c->out->path;
    o->line = (int)d->node->start_mark.line + 1;
    o->col = (int)d->node->start_mark.column + 1;
    int bad = !(o->suite = strdup(c->suite)) || !(o->name = strdup(d->name));
    for (int k = 0; k < K_SETTABLE && !bad; k++) {
        if (k == K_CORRUPT && corrupt_in_id)
            bad = add_param(o, case_keys[k], x->label);
        else if (k != K_CORRUPT && vals[k])
            bad = add_param(o, case_keys[k], vals[k]);
    }
    if (bad || make_id(o)) {
        oom(c);
        return -1;
    }
    return 0;
}

static int emit(ctx *c, const casedef *d, const combo *co, const hx_case *h, const corrs *l,
                int expanded)
{
    char *vals[K_SETTABLE] = {0};
    hx_corrupt none = {.kind = HX_CORRUPT_NONE};
    int rc = 0;
    hx_corrupt_label(&none);
    for (int k = 0; k < K_SETTABLE && !rc; k++)
        if (co->in_id[k] && k != K_CORRUPT && !(vals[k] = render(c, co->v[k])))
            rc = -1;
    int corrupt_in_id = co->in_id[K_CORRUPT] || expanded;
    for (size_t i = 0; i < (l->n ? l->n : 1) && !rc; i++)
        rc = emit_one(c, d, h, vals, l->n ? &l->v[i] : &none, corrupt_in_id);
    for (int k = 0; k < K_SETTABLE; k++)
        free(vals[k]);
    return rc;
}

/* The cases of one combination. Nothing is emitted once an error has been
 * found: the suite is invalid, and the values go on being checked. */
static void build(ctx *c, const casedef *d, const combo *co)
{
    hx_case h;
    corrs l = {0};
    int expanded = 0;
    case_init(&h);
    case_values(c, d, co, &h);
    if (!pick(c, d, co, K_FILE))
        report(c, d->node, "case '%s' has no file (give file in the case, its matrix or "
                           "defaults)", d->name);
    yaml_node_t *n = pick(c, d, co, K_CORRUPT);
    c->scratch = c->nerrs > 0; /* no fixture generation for an invalid file */
    c->unmeasured = 0;
    if (n)
        parse_corrupt(c, n, &h.file, &l, &expanded);
    c->scratch = 0;
    if (c->unmeasured && !h.skip &&
        !(h.skip = strdup("the torch-archive fixture needs the torch backend to be "
                          "generated and measured")))
        oom(c);
    if (!c->nerrs && !c->fatal)
        emit(c, d, co, &h, &l, expanded);
    corrs_free(&l);
    hx_case_free(&h);
}

/* ------------------------------------------------------------- matrix */

typedef struct {
    int key;
    yaml_node_t *list;
} axis;

static int combo_push(ctx *c, combos *cs, const combo *x)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        combo *v = realloc(cs->v, cap * sizeof *v);
        if (!v) {
            oom(c);
            return -1;
        }
        cs->v = v;
        cs->cap = cap;
    }
    cs->v[cs->n++] = *x;
    return 0;
}

/* The case key a key node names, if it can be set by `what`; -1 after an
 * error otherwise. */
static int settable_key(ctx *c, yaml_node_t *k, const char *what)
{
    for (int i = 0; case_keys[i]; i++) {
        if (strcmp(case_keys[i], sv(k)))
            continue;
        if (i < K_SETTABLE)
            return i;
        report(c, k, "%s: '%s' cannot be set here", what, sv(k));
        return -1;
    }
    char allowed[512];
    size_t used = 0;
    allowed[0] = 0;
    for (int i = 0; i < K_SETTABLE; i++)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                                 case_keys[i]);
    report(c, k, "unknown key '%s' in %s (allowed: %s)", sv(k), what, allowed);
    return -1;
}

static size_t list_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int matrix_axes(ctx *c, yaml_node_t *n, axis *ax, int *nax)
{
    kvs m;
    size_t before = c->nerrs;
    *nax = 0;
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "matrix: expected a mapping of case keys to lists, got %s", kind(n));
        return -1;
    }
    if (view(c, n, &m)) {
        kvs_free(&m);
        return -1;
    }
    for (size_t i = 0; i < m.n; i++) {
        int k = settable_key(c, m.it[i].k, "matrix");
        yaml_node_t *v = m.it[i].v;
        if (k < 0)
            continue;
        if (v->type != YAML_SEQUENCE_NODE || list_len(v) == 0) {
            report(c, v, "matrix.%s: expected a non-empty list of values, got %s", sv(m.it[i].k),
                   v->type == YAML_SEQUENCE_NODE ? "an empty list" : kind(v));
            continue;
        }
        ax[(*nax)++] = (axis){k, v};
    }
    kvs_free(&m);
    return c->nerrs > before || c->fatal ? -1 : 0;
}

/* The cross product, the first key varying slowest (as GitHub Actions). */
static int cross(ctx *c, yaml_node_t *n, const axis *ax, int nax, combos *cs)
{
    size_t total = 1;
    for (int a = 0; a < nax; a++) {
        size_t len = list_len(ax[a].list);
        if (total > MAX_CASES / len) {
            report(c, n, "matrix: more than %d combinations", MAX_CASES);
            return -1;
        }
        total *= len;
    }
    for (size_t i = 0; i < total && !c->fatal; i++) {
        combo x = {0};
        size_t rest = i;
        for (int a = nax - 1; a >= 0; a--) {
            size_t len = list_len(ax[a].list);
            x.v[ax[a].key] = node(c, ax[a].list->data.sequence.items.start[rest % len]);
            x.in_id[ax[a].key] = 1;
            rest /= len;
        }
        if (combo_push(c, cs, &x))
            return -1;
    }
    return 0;
}

static int is_axis(const axis *ax, int nax, int k)
{
    for (int a = 0; a < nax; a++)
        if (ax[a].key == k)
            return 1;
    return 0;
}

/* Does x hold every pair of the entry whose key is a matrix key? */
static int combo_matches(ctx *c, const combo *x, const kvs *e, const int *keys, const axis *ax,
                         int nax)
{
    for (size_t i = 0; i < e->n; i++)
        if (is_axis(ax, nax, keys[i]) &&
            !(x->v[keys[i]] && equal(c, x->v[keys[i]], e->it[i].v)))
            return 0;
    return 1;
}

/* An include/exclude entry: its view and the case key of each pair (*keys
 * is allocated). Returns -1 after an error, also for an unknown key. */
static int entry_of(ctx *c, yaml_node_t *n, const char *what, kvs *e, int **keys)
{
    int bad = 0;
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "%s: each entry is a mapping of case keys, got %s", what, kind(n));
        return -1;
    }
    if (view(c, n, e))
        return -1;
    if (!(*keys = malloc((e->n ? e->n : 1) * sizeof **keys))) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < e->n; i++)
        bad |= ((*keys)[i] = settable_key(c, e->it[i].k, what)) < 0;
    return bad ? -1 : 0;
}

static int exclude_entry(ctx *c, yaml_node_t *n, const axis *ax, int nax, combos *cs,
                         unsigned char *drop)
{
    kvs e = {0};
    int *keys = NULL, rc = -1;
    size_t hits = 0;
    if (entry_of(c, n, "exclude", &e, &keys))
        goto done;
    for (size_t i = 0; i < e.n; i++)
        if (!is_axis(ax, nax, keys[i])) {
            report(c, e.it[i].k, "exclude: '%s' is not a key of the matrix", sv(e.it[i].k));
            goto done;
        }
    for (size_t j = 0; j < cs->n; j++)
        if (combo_matches(c, &cs->v[j], &e, keys, ax, nax)) {
            drop[j] = 1;
            hits++;
        }
    if (!hits)
        report(c, n, "exclude: this entry matches no combination of the matrix");
    rc = 0;
done:
    free(keys);
    kvs_free(&e);
    return rc;
}

static int apply_exclude(ctx *c, yaml_node_t *n, const axis *ax, int nax, combos *cs)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "exclude: expected a list of mappings, got %s", kind(n));
        return -1;
    }
    unsigned char *drop = calloc(cs->n ? cs->n : 1, 1);
    if (!drop) {
        oom(c);
        return -1;
    }
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        exclude_entry(c, node(c, *i), ax, nax, cs, drop);
    size_t kept = 0;
    for (size_t j = 0; j < cs->n; j++)
        if (!drop[j])
            cs->v[kept++] = cs->v[j];
    cs->n = kept;
    free(drop);
    return 0;
}

/* GitHub Actions' rule: an entry is merged into every original combination
 * whose matrix values it does not overwrite; values added by an earlier
 * entry may be overwritten. An entry that fits none is a combination of
 * its own; there, every key but the meta keys goes into the id. */
static int include_entry(ctx *c, yaml_node_t *n, const axis *ax, int nax, combos *cs,
                         size_t norig)
{
    kvs e = {0};
    int *keys = NULL;
    size_t hits = 0;
    if (entry_of(c, n, "include", &e, &keys)) {
        free(keys);
        kvs_free(&e);
        return 0; /* reported; the other entries are still checked */
    }
    for (size_t j = 0; j < norig; j++) {
        combo *x = &cs->v[j];
        if (!combo_matches(c, x, &e, keys, ax, nax))
            continue;
        hits++;
        for (size_t i = 0; i < e.n; i++)
            if (!is_axis(ax, nax, keys[i]))
                x->v[keys[i]] = e.it[i].v;
    }
    int rc = 0;
    if (!hits) {
        combo x = {0};
        for (size_t i = 0; i < e.n; i++) {
            x.v[keys[i]] = e.it[i].v;
            x.in_id[keys[i]] = is_axis(ax, nax, keys[i]) || !is_meta_key(keys[i]);
        }
        rc = combo_push(c, cs, &x);
    }
    free(keys);
    kvs_free(&e);
    return rc;
}

static int apply_include(ctx *c, yaml_node_t *n, const axis *ax, int nax, combos *cs)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "include: expected a list of mappings, got %s", kind(n));
        return -1;
    }
    size_t norig = cs->n;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        if (include_entry(c, node(c, *i), ax, nax, cs, norig))
            return -1;
    return 0;
}

static int expand_matrix(ctx *c, const casedef *d, combos *cs)
{
    axis ax[K_COUNT];
    int nax = 0;
    yaml_node_t *m = d->slot[K_MATRIX], *inc = d->slot[K_INCLUDE], *exc = d->slot[K_EXCLUDE];
    if (!m && exc)
        report(c, d->knode[K_EXCLUDE], "exclude: the case has no matrix");
    if (m && (matrix_axes(c, m, ax, &nax) || cross(c, m, ax, nax, cs)))
        return -1;
    if (m && exc && apply_exclude(c, exc, ax, nax, cs))
        return -1;
    if (inc && apply_include(c, inc, ax, nax, cs))
        return -1;
    if (!m && !inc)
        return combo_push(c, cs, &(combo){0});
    if (!cs->n)
        report(c, d->node, "case '%s' expands into no cases", d->name);
    return 0;
}

static int name_seen(ctx *c, yaml_node_t *n)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (!strcmp(sv(c->names[i]), sv(n))) {
            report(c, n, "duplicate case name '%s' (first at line %zu)", sv(n),
                   c->names[i]->start_mark.line + 1);
            return 1;
        }
    if (c->nnames == c->namecap) {
        size_t cap = c->namecap ? c->namecap * 2 : 32;
        yaml_node_t **v = realloc(c->names, cap * sizeof *v);
        if (!v) {
            oom(c);
            return 1;
        }
        c->names = v;
        c->namecap = cap;
    }
    c->names[c->nnames++] = n;
    return 0;
}

static void names_free(ctx *c)
{
    free(c->names);
    c->names = NULL;
    c->nnames = c->namecap = 0;
}

static int case_name(ctx *c, casedef *d)
{
    yaml_node_t *n = d->slot[K_NAME];
    if (!n) {
        report(c, d->node, "a case needs a name");
        return -1;
    }
    const char *s = scalar(c, n, "name");
    if (!s)
        return -1;
    if (!word_ok(s, "_.-+:")) {
        report(c, n, "name: '%s' is not a case name (letters, digits and _.-+:)", s);
        return -1;
    }
    d->name = s;
    return name_seen(c, n) ? -1 : 0;
}

static void parse_case(ctx *c, yaml_node_t *n)
{
    casedef d = {.node = n};
    combos cs = {0};
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "cases: each case is a mapping, got %s", kind(n));
        return;
    }
    if (slots(c, n, "a case", case_keys, d.slot, d.knode) || case_name(c, &d))
        return;
    check_values(c, &d);
    if (expand_matrix(c, &d, &cs) == 0)
        for (size_t i = 0; i < cs.n && !c->fatal; i++)
            build(c, &d, &cs.v[i]);
    free(cs.v);
}

static int parse_cases(ctx *c, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        report(c, n, "cases: expected a list of cases, got %s", kind(n));
        return -1;
    }
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        parse_case(c, node(c, *i));
    return c->nerrs ? -1 : 0;
}

static void parse_defaults(ctx *c, yaml_node_t *n)
{
    yaml_node_t *knode[K_COUNT];
    if (slots(c, n, "defaults", case_keys, c->defaults, knode))
        return;
    for (int k = K_SETTABLE; k < K_COUNT; k++)
        if (c->defaults[k]) {
            report(c, knode[k], "defaults: '%s' cannot be set here", case_keys[k]);
            c->defaults[k] = NULL;
        }
    check_values(c, NULL);
}

static int cmp_ids(const void *a, const void *b)
{
    const hx_case *x = *(const hx_case *const *)a, *y = *(const hx_case *const *)b;
    int r = strcmp(x->id, y->id);
    return r ? r : (x < y ? -1 : x > y); /* one array: address order is definition order */
}

/* Two expansions with one id are an error: ids name results. */
static int check_ids(ctx *c)
{
    hx_suite *s = c->out;
    const hx_case **ix = malloc((s->ncases ? s->ncases : 1) * sizeof *ix);
    if (!ix) {
        oom(c);
        return -1;
    }
    for (size_t i = 0; i < s->ncases; i++)
        ix[i] = &s->cases[i];
    qsort(ix, s->ncases, sizeof *ix, cmp_ids);
    for (size_t i = 1; i < s->ncases; i++) {
        const hx_case *a = ix[i - 1], *b = ix[i];
        if (strcmp(a->id, b->id))
            continue;
        report_mark(c, (yaml_mark_t){0, (size_t)b->line - 1, (size_t)b->col - 1},
                    "case id '%s' is generated twice (also by the case at line %d); vary a "
                    "matrix key or rename a case", b->id, a->line);
    }
    free(ix);
    return c->nerrs ? -1 : 0;
}

/* ------------------------------------------------------------ the suite */

static const char *const top_keys[] = {"suite", "description", "defaults", "fixtures", "cases",
                                       NULL};
enum { T_SUITE, T_DESCRIPTION, T_DEFAULTS, T_FIXTURES, T_CASES, T_COUNT };

static int parse_suite_name(ctx *c, yaml_node_t *root, yaml_node_t *n, hx_suite *s)
{
    if (!n) {
        report(c, root, "missing key 'suite' (the suite's name, used in case ids)");
        return -1;
    }
    const char *v = scalar(c, n, "suite");
    if (!v)
        return -1;
    if (!word_ok(v, "_.-")) {
        report(c, n, "suite: '%s' is not a name (letters, digits, '_', '.', '-')", v);
        return -1;
    }
    s->suite = strdup(v);
    c->suite = s->suite;
    if (!s->suite)
        oom(c);
    return s->suite ? 0 : -1;
}

static int parse_fixtures(ctx *c, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        report(c, n, "fixtures: expected a mapping of names to {generate: ...} or {path: ...}, "
                     "got %s", kind(n));
        return 0;
    }
    kvs m;
    if (view(c, n, &m))
        goto done;
    c->fx = calloc(m.n ? m.n : 1, sizeof *c->fx);
    if (!c->fx) {
        oom(c);
        goto done;
    }
    /* a fixture in error is still defined: its uses are not errors too */
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        fixture *f = &c->fx[c->nfx++];
        f->knode = m.it[i].k;
        parse_file_def(c, m.it[i].v, "fixture", sv(f->knode), &f->file);
    }
done:
    kvs_free(&m);
    return c->oom ? -1 : 0;
}

static const char *suite_rules =
    "a case file is one mapping with suite, cases and optionally description, defaults, "
    "fixtures";

static int parse_top(ctx *c, hx_suite *s)
{
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root) {
        report_mark(c, (yaml_mark_t){0, 0, 0}, "empty file: %s", suite_rules);
        return -1;
    }
    size_t count = 0;
    doc_scan(c, root, 0, &count);
    if (c->fatal)
        return -1;
    if (root->type != YAML_MAPPING_NODE) {
        report(c, root, "expected a mapping, got %s: %s", kind(root), suite_rules);
        return -1;
    }
    yaml_node_t *slot[T_COUNT], *knode[T_COUNT];
    if (slots(c, root, "the suite", top_keys, slot, knode))
        return -1;
    parse_suite_name(c, root, slot[T_SUITE], s);
    if (slot[T_DESCRIPTION] && dup_scalar(c, slot[T_DESCRIPTION], "description", &s->description))
        return -1;
    if (slot[T_FIXTURES] && parse_fixtures(c, slot[T_FIXTURES]))
        return -1;
    if (slot[T_DEFAULTS])
        parse_defaults(c, slot[T_DEFAULTS]);
    if (!slot[T_CASES]) {
        report(c, root, "missing key 'cases' (a list of cases)");
        return -1;
    }
    if (c->fatal || !s->suite)
        return -1;
    return parse_cases(c, slot[T_CASES]);
}

static void syntax_error(ctx *c, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) {
        oom(c);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        report_mark(c, p->problem_mark, "cannot read the file: %s at byte %zu", problem,
                    p->problem_offset);
        return;
    }
    if (p->context)
        report_mark(c, p->problem_mark, "YAML syntax error: %s (%s, line %zu column %zu)",
                    problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    else
        report_mark(c, p->problem_mark, "YAML syntax error: %s", problem);
}

/* A case file holds exactly one document. */
static void check_one_document(ctx *c, yaml_parser_t *p)
{
    yaml_document_t next;
    if (!yaml_parser_load(p, &next)) {
        syntax_error(c, p);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&next);
    if (root)
        report(c, root, "a second YAML document; a case file holds one suite");
    yaml_document_delete(&next);
}

static int dir_of(ctx *c, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        c->dir = strdup(".");
    else if (slash == path)
        c->dir = strdup("/");
    else
        c->dir = strndup(path, (size_t)(slash - path));
    if (!c->dir)
        oom(c);
    return c->dir ? 0 : -1;
}

static void ctx_free(ctx *c)
{
    for (size_t i = 0; i < c->nerrs; i++)
        free(c->errs[i].msg);
    free(c->errs);
    for (size_t i = 0; i < c->nfx; i++)
        file_free(&c->fx[i].file);
    free(c->fx);
    free(c->dir);
    names_free(c);
    if (c->have_doc)
        yaml_document_delete(&c->doc);
}

static int load(ctx *c, hx_suite *s)
{
    FILE *f = fopen(c->path, "rb");
    if (!f) {
        report_mark(c, (yaml_mark_t){0, 0, 0}, "cannot open: %s", strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        oom(c);
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &c->doc)) {
        syntax_error(c, &p);
    } else {
        c->have_doc = 1;
        check_one_document(c, &p);
        if (!c->nerrs)
            parse_top(c, s);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return c->nerrs || c->oom ? -1 : 0;
}

void hx_fixture_dir_default(char *buf, size_t n)
{
    const char *d = getenv("LOADGATE_FIXTURE_DIR");
    if (d && *d) {
        snprintf(buf, n, "%s", d);
        return;
    }
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/loadgate-fixtures", t && *t ? t : "/tmp");
}

int hx_suite_load_ex(const char *path, const char *fixture_dir, hx_suite *out, FILE *err)
{
    ctx c;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    c.path = path;
    c.out = out;
    if (fixture_dir)
        snprintf(c.fixture_dir, sizeof c.fixture_dir, "%s", fixture_dir);
    else
        hx_fixture_dir_default(c.fixture_dir, sizeof c.fixture_dir);
    out->path = strdup(path);
    if (!out->path || dir_of(&c, path))
        oom(&c);
    int rc = c.oom ? -1 : load(&c, out);
    if (rc == 0)
        rc = check_ids(&c);
    if (rc) {
        print_errors(&c, err);
        hx_suite_free(out);
    }
    ctx_free(&c);
    return rc;
}

int hx_suite_load(const char *path, hx_suite *out, FILE *err)
{
    return hx_suite_load_ex(path, NULL, out, err);
}

void hx_suite_free(hx_suite *s)
{
    for (size_t i = 0; i < s->ncases; i++)
        hx_case_free(&s->cases[i]);
    free(s->cases);
    free(s->path);
    free(s->suite);
    free(s->description);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------- copy and free */

static int sdup(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

static int strv_dup(char **v, size_t n, char ***out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sdup(v[i], &(*out)[i]))
            return -1;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int vars_dup(const hx_var *v, size_t n, hx_var **out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = v[i];
        if (sdup(v[i].name, &(*out)[i].name))
            return -1;
    }
    return 0;
}

static int store_dup(const hx_store_spec *s, hx_store_spec *d)
{
    *d = *s;
    d->drop = NULL;
    d->add = d->reshape = d->retype = d->vars = NULL;
    return strv_dup(s->drop, s->ndrop, &d->drop) || vars_dup(s->add, s->nadd, &d->add) ||
                   vars_dup(s->reshape, s->nreshape, &d->reshape) ||
                   vars_dup(s->retype, s->nretype, &d->retype) ||
                   vars_dup(s->vars, s->nvars, &d->vars)
               ? -1
               : 0;
}

static int pairs_dup(const hx_param *p, size_t n, hx_param **out)
{
    *out = NULL;
    if (!p)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sdup(p[i].key, &(*out)[i].key) || sdup(p[i].value, &(*out)[i].value))
            return -1;
    return 0;
}

static int sim_dup(const hx_sim_override *s, size_t n, hx_sim_override **out)
{
    *out = NULL;
    if (!s)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        (*out)[i].device = s[i].device;
        if (sdup(s[i].key, &(*out)[i].key) || sdup(s[i].value, &(*out)[i].value))
            return -1;
    }
    return 0;
}

static int faults_dup(const hx_fault *f, size_t n, hx_fault **out)
{
    *out = NULL;
    if (!f)
        return 0;
    if (!(*out = malloc((n ? n : 1) * sizeof **out)))
        return -1;
    memcpy(*out, f, n * sizeof *f);
    return 0;
}

int hx_case_copy(hx_case *dst, const hx_case *src)
{
    *dst = *src;
    /* every owned pointer starts NULL, so that a failure can free dst */
    dst->id = dst->suite = dst->name = dst->reader = dst->skip = dst->xfail = dst->key = NULL;
    dst->description = dst->expect.message = NULL;
    dst->params = NULL;
    dst->file.name = dst->file.path = NULL;
    memset(&dst->store, 0, sizeof dst->store);
    dst->faults = NULL;
    dst->sim = NULL;
    dst->requires = dst->tags = NULL;
    dst->corrupt.from = NULL;
    int bad = sdup(src->corrupt.from, &dst->corrupt.from) || sdup(src->id, &dst->id) || sdup(src->suite, &dst->suite) ||
              sdup(src->name, &dst->name) || pairs_dup(src->params, src->nparams, &dst->params) ||
              sdup(src->reader, &dst->reader) || sdup(src->key, &dst->key) || file_copy(&src->file, &dst->file) ||
              store_dup(&src->store, &dst->store) ||
              faults_dup(src->faults, src->nfaults, &dst->faults) ||
              sim_dup(src->sim, src->nsim, &dst->sim) ||
              strv_dup(src->requires, src->nrequires, &dst->requires) ||
              sdup(src->skip, &dst->skip) || sdup(src->xfail, &dst->xfail) ||
              strv_dup(src->tags, src->ntags, &dst->tags) ||
              sdup(src->expect.message, &dst->expect.message) ||
              sdup(src->description, &dst->description);
    if (bad) {
        hx_case_free(dst);
        return -1;
    }
    return 0;
}

void hx_case_free(hx_case *h)
{
    free(h->id);
    free(h->suite);
    free(h->name);
    for (size_t i = 0; h->params && i < h->nparams; i++) {
        free(h->params[i].key);
        free(h->params[i].value);
    }
    free(h->params);
    free(h->reader);
    free(h->key);
    file_free(&h->file);
    store_free(&h->store);
    free(h->faults);
    for (size_t i = 0; h->sim && i < h->nsim; i++) {
        free(h->sim[i].key);
        free(h->sim[i].value);
    }
    free(h->sim);
    strv_free(h->requires, h->nrequires);
    free(h->skip);
    free(h->xfail);
    strv_free(h->tags, h->ntags);
    free(h->expect.message);
    free(h->description);
    free(h->corrupt.from);
    memset(h, 0, sizeof *h);
}

/* ---------------------------------------------------------- selection */

/* A substring, or a glob that matches anywhere (as if between two *). */
static int matches(const char *pattern, const char *s)
{
    char glob[1024];
    if (strstr(s, pattern))
        return 1;
    if (snprintf(glob, sizeof glob, "*%s*", pattern) >= (int)sizeof glob)
        return fnmatch(pattern, s, 0) == 0;
    return fnmatch(glob, s, 0) == 0;
}

int hx_case_selected(const hx_case *c, size_t index, const char *pattern, int shard_i,
                     int shard_n)
{
    if (shard_n > 1 && index % (size_t)shard_n != (size_t)(shard_i - 1))
        return 0;
    if (!pattern || !*pattern || (c->id && matches(pattern, c->id)))
        return 1;
    for (size_t i = 0; i < c->ntags; i++)
        if (matches(pattern, c->tags[i]))
            return 1;
    return 0;
}

int hx_shard_parse(const char *s, int *shard_i, int *shard_n)
{
    int64_t i, n;
    char buf[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    if (text_i64(buf, &i) || text_i64(slash + 1, &n) || n < 1 || n > 1000000 || i < 1 || i > n)
        return -1;
    *shard_i = (int)i;
    *shard_n = (int)n;
    return 0;
}

/* ----------------------------------------------------- list, validate */

typedef struct {
    const char *pattern;
    int shard_i, shard_n;
    int quiet;
    char **files;
    int nfiles;
} cli;

static const char list_usage[] =
    "usage: harness list FILE.yaml... [-k PATTERN] [--shard I/N]\n"
    "\n"
    "Prints the id of every case the files expand into, one a line, in\n"
    "definition order.\n"
    "  -k PATTERN    only cases whose id or a tag contains PATTERN or matches\n"
    "                it as a glob\n"
    "  --shard I/N   only the I-th of N shards (1-based; case k is in shard\n"
    "                k mod N + 1, counted over every file before -k)\n"
    "exit: 0, or 2 when a file does not validate (errors on stderr)\n";

static const char validate_usage[] =
    "usage: harness validate [-q] FILE.yaml...\n"
    "\n"
    "Checks case files and prints every error as file:line:col: message on\n"
    "stderr; for a valid file, prints FILE: N cases on stdout (not with -q).\n"
    "exit: 0 when every file is valid, 2 otherwise\n";

/* "--opt VALUE" or "--opt=VALUE"; NULL when argv[*i] is not opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *missing)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n))
        return NULL;
    if (argv[*i][n] == '=' && opt[1] == '-')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return opt[1] == '-' ? NULL : argv[*i] + n; /* -kPATTERN */
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Returns -1 to exit 0 (help), 1 on a usage error, 0 to go on. */
static int parse_cli(int argc, char **argv, const char *usage, int selection, cli *a)
{
    memset(a, 0, sizeof a[0]);
    if (!(a->files = calloc((size_t)argc + 1, sizeof *a->files)))
        return 1;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return -1;
        }
        if (!selection && !strcmp(argv[i], "-q")) {
            a->quiet = 1;
        } else if (selection && (v = opt_value(argc, argv, &i, "-k", &missing))) {
            a->pattern = v;
        } else if (selection && (v = opt_value(argc, argv, &i, "--shard", &missing))) {
            if (hx_shard_parse(v, &a->shard_i, &a->shard_n)) {
                fprintf(stderr, "harness %s: bad --shard '%s' (I/N, 1 <= I <= N)\n", argv[0], v);
                return 1;
            }
        } else if (missing || (argv[i][0] == '-' && argv[i][1])) {
            fprintf(stderr, "harness %s: %s '%s'\n\n%s", argv[0],
                    missing ? "missing value for" : "unknown option", argv[i], usage);
            return 1;
        } else {
            a->files[a->nfiles++] = argv[i];
        }
    }
    if (a->nfiles)
        return 0;
    fprintf(stderr, "harness %s: no case file given\n\n%s", argv[0], usage);
    return 1;
}

int hx_cmd_list(int argc, char **argv)
{
    cli a;
    int rc = parse_cli(argc, argv, list_usage, 1, &a);
    if (rc) {
        free(a.files);
        return rc < 0 ? 0 : 2;
    }
    size_t index = 0;
    for (int f = 0; f < a.nfiles; f++) {
        hx_suite s;
        if (hx_suite_load(a.files[f], &s, stderr)) {
            rc = 2;
            continue;
        }
        for (size_t i = 0; i < s.ncases; i++, index++)
            if (hx_case_selected(&s.cases[i], index, a.pattern, a.shard_i, a.shard_n))
                printf("%s\n", s.cases[i].id);
        hx_suite_free(&s);
    }
    free(a.files);
    if (fflush(stdout) != 0)
        rc = 2;
    return rc;
}

int hx_cmd_validate(int argc, char **argv)
{
    cli a;
    int rc = parse_cli(argc, argv, validate_usage, 0, &a);
    if (rc) {
        free(a.files);
        return rc < 0 ? 0 : 2;
    }
    for (int f = 0; f < a.nfiles; f++) {
        hx_suite s;
        if (hx_suite_load(a.files[f], &s, stderr)) {
            rc = 2;
            continue;
        }
        if (!a.quiet)
            printf("%s: %zu cases\n", a.files[f], s.ncases);
        hx_suite_free(&s);
    }
    free(a.files);
    return rc;
}
