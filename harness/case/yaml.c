/* The YAML layer of the case language: errors at libyaml's marks
 * (file:line:col), the node tree with bounded alias expansion, mapping
 * views with `<<` merge keys, and a node's flat text for case ids. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- errors */

static void note_error(cf_ctx *c, size_t line, size_t col, const char *msg)
{
    for (size_t i = 0; i < c->nerrs; i++)
        if (c->errs[i].line == line && c->errs[i].col == col && !strcmp(c->errs[i].msg, msg))
            return;
    if (c->nerrs == CF_MAX_ERRORS) {
        c->full = c->fatal = 1; /* stop looking */
        return;
    }
    if (cf_grow(c, &c->errs, &c->errcap, c->nerrs, sizeof *c->errs))
        return;
    char *m = strdup(msg);
    if (!m) {
        c->oom = c->fatal = 1;
        return;
    }
    c->errs[c->nerrs] = (cf_error){line, col, c->nerrs, m};
    c->nerrs++;
}

void cf_report_mark(cf_ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note_error(c, m.line, m.column, msg);
}

void cf_report(cf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    note_error(c, n->start_mark.line, n->start_mark.column, msg);
}

void cf_oom(cf_ctx *c)
{
    c->oom = c->fatal = 1;
}

int cf_grow(cf_ctx *c, void *array, size_t *cap, size_t n, size_t size)
{
    void *old, *v = NULL;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (n < *cap)
        return 0;
    memcpy(&old, array, sizeof old); /* array is a T **, whatever T */
    if (ncap <= SIZE_MAX / size)
        v = realloc(old, ncap * size);
    if (!v) {
        cf_oom(c);
        return -1;
    }
    memcpy(array, &v, sizeof v);
    *cap = ncap;
    return 0;
}

static int cmp_err(const void *pa, const void *pb)
{
    const cf_error *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* One error line; NULL when out of memory. */
static char *error_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *error_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void cf_errors_take(cf_ctx *c, hx_case_errors *out)
{
    size_t n = 0;
    qsort(c->errs, c->nerrs, sizeof *c->errs, cmp_err);
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    /* the error lines, the cut-off line, the out-of-memory line */
    if (!(out->line = calloc(c->nerrs + 2, sizeof *out->line)))
        return;
    for (size_t i = 0; i < c->nerrs; i++)
        if ((out->line[n] = error_line("%s:%zu:%zu: %s", c->path, c->errs[i].line + 1,
                                       c->errs[i].col + 1, c->errs[i].msg)))
            n++;
    if (c->full && (out->line[n] = error_line("%s: too many errors; stopped after %d",
                                              c->path, CF_MAX_ERRORS)))
        n++;
    if ((c->oom || n < c->nerrs) && (out->line[n] = error_line("%s: out of memory", c->path)))
        n++;
    out->n = n;
}

/* -------------------------------------------------------------- nodes */

void cf_visits_over(cf_ctx *c)
{
    cf_report_mark(c, (yaml_mark_t){0, 0, 0},
                   "expanding the cases visits more than %zu nodes, the limit for this file "
                   "(%d + 8 per byte, at most %d); aliases, the matrix or what its include "
                   "and exclude entries match make it too large",
                   CF_VISIT_BUDGET(c), CF_VISITS_BASE, CF_MAX_VISITS);
    c->fatal = 1;
}

yaml_node_t *cf_node(cf_ctx *c, int id)
{
    cf_visit(c);
    return yaml_document_get_node(&c->doc, id);
}

int cf_is_null_text(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

int cf_is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           cf_is_null_text(cf_sv(n));
}

const char *cf_kind(const yaml_node_t *n)
{
    if (cf_is_null(n))
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
void cf_doc_scan(cf_ctx *c, yaml_node_t *n, int depth, size_t *count)
{
    if (c->fatal)
        return;
    if (depth > CF_MAX_DEPTH) {
        cf_report(c, n, "nesting deeper than %d levels (a recursive alias?)", CF_MAX_DEPTH);
        c->fatal = 1;
        return;
    }
    if (++*count > CF_MAX_NODES) {
        cf_report(c, n, "aliases expand this document to more than %d nodes; refusing it",
               CF_MAX_NODES);
        c->fatal = 1;
        return;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             i < n->data.sequence.items.top && !c->fatal; i++)
            cf_doc_scan(c, yaml_document_get_node(&c->doc, *i), depth + 1, count);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top && !c->fatal; p++) {
            cf_doc_scan(c, yaml_document_get_node(&c->doc, p->key), depth + 1, count);
            cf_doc_scan(c, yaml_document_get_node(&c->doc, p->value), depth + 1, count);
        }
    }
}

/* ------------------------------------------------------- mapping views */

void cf_kvs_free(cf_kvs *m)
{
    free(m->it);
    memset(m, 0, sizeof *m);
}

int cf_kvs_push(cf_ctx *c, cf_kvs *m, yaml_node_t *k, yaml_node_t *v)
{
    if (cf_grow(c, &m->it, &m->cap, m->n, sizeof *m->it))
        return -1;
    m->it[m->n++] = (cf_kv){k, v};
    return 0;
}

cf_kv *cf_kvs_find(const cf_kvs *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(cf_sv(m->it[i].k), key))
            return &m->it[i];
    return NULL;
}

static int is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           !strcmp(cf_sv(k), "<<");
}

static int view_at(cf_ctx *c, yaml_node_t *map, cf_kvs *out, int depth);

/* One source of a `<<`: its view's keys that this mapping does not set
 * explicitly and no earlier source gave. */
static int merge_from(cf_ctx *c, yaml_node_t *src, const cf_kvs *own, cf_kvs *out, int depth)
{
    if (src->type != YAML_MAPPING_NODE) {
        cf_report(c, src, "'<<' merges a mapping or a list of mappings, not %s", cf_kind(src));
        return 0;
    }
    cf_kvs sub = {0};
    if (view_at(c, src, &sub, depth + 1)) {
        cf_kvs_free(&sub);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < sub.n && !rc; i++) {
        const char *k = cf_sv(sub.it[i].k);
        if (!cf_kvs_find(own, k) && !cf_kvs_find(out, k))
            rc = cf_kvs_push(c, out, sub.it[i].k, sub.it[i].v);
    }
    cf_kvs_free(&sub);
    return rc;
}

static int merge(cf_ctx *c, yaml_node_t *v, const cf_kvs *own, cf_kvs *out, int depth)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return merge_from(c, v, own, out, depth);
    for (yaml_node_item_t *i = v->data.sequence.items.start;
         i < v->data.sequence.items.top && !c->fatal; i++)
        if (merge_from(c, cf_node(c, *i), own, out, depth))
            return -1;
    return 0;
}

/* The explicit keys of map, checked: scalars, no duplicates. */
static int own_keys(cf_ctx *c, yaml_node_t *map, cf_kvs *own)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && !c->fatal; p++) {
        yaml_node_t *k = cf_node(c, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            cf_report(c, k, "mapping keys must be scalars, not %s", cf_kind(k));
            continue;
        }
        if (is_merge_key(k))
            continue;
        cf_kv *dup = cf_kvs_find(own, cf_sv(k));
        if (dup) {
            cf_report(c, k, "duplicate key '%s' (first at line %zu)", cf_sv(k),
                   dup->k->start_mark.line + 1);
            continue;
        }
        if (cf_kvs_push(c, own, k, cf_node(c, p->value)))
            return -1;
    }
    return 0;
}

/* The pairs of a mapping in order, `<<` merges resolved as YAML 1.1 says:
 * explicit keys win, and among merged mappings the earlier one wins. */
static int view_at(cf_ctx *c, yaml_node_t *map, cf_kvs *out, int depth)
{
    cf_kvs own = {0};
    int rc = -1, merges = 0;
    if (depth > CF_MAX_DEPTH) {
        cf_report(c, map, "'<<' merges nest deeper than %d levels", CF_MAX_DEPTH);
        return -1;
    }
    if (own_keys(c, map, &own))
        goto done;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top && !c->fatal; p++) {
        yaml_node_t *k = cf_node(c, p->key);
        if (k->type != YAML_SCALAR_NODE)
            continue;
        if (!is_merge_key(k)) {
            cf_kv *e = cf_kvs_find(&own, cf_sv(k));
            if (e && e->k == k && cf_kvs_push(c, out, e->k, e->v))
                goto done;
            continue;
        }
        if (merges++) {
            cf_report(c, k, "duplicate key '<<'; merge several mappings with <<: [*a, *b]");
            continue;
        }
        if (merge(c, cf_node(c, p->value), &own, out, depth))
            goto done;
    }
    rc = c->oom ? -1 : 0;
done:
    cf_kvs_free(&own);
    return rc;
}

int cf_view(cf_ctx *c, yaml_node_t *map, cf_kvs *out)
{
    memset(out, 0, sizeof *out);
    return view_at(c, map, out, 0);
}

void cf_join_names(const char *const *names, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; names[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
}

int cf_slots(cf_ctx *c, yaml_node_t *map, const char *what, const char *const *names,
             yaml_node_t **slot, yaml_node_t **knode)
{
    size_t nn = 0;
    while (names[nn])
        nn++;
    for (size_t i = 0; i < nn; i++)
        slot[i] = knode[i] = NULL;
    if (map->type != YAML_MAPPING_NODE) {
        cf_report(c, map, "%s: expected a mapping, got %s", what, cf_kind(map));
        return -1;
    }
    cf_kvs m;
    if (cf_view(c, map, &m)) {
        cf_kvs_free(&m);
        return -1;
    }
    for (size_t j = 0; j < m.n; j++) {
        const char *k = cf_sv(m.it[j].k);
        size_t i = 0;
        while (i < nn && strcmp(names[i], k))
            i++;
        if (i < nn) {
            slot[i] = m.it[j].v;
            knode[i] = m.it[j].k;
            continue;
        }
        char allowed[1024];
        cf_join_names(names, allowed, sizeof allowed);
        cf_report(c, m.it[j].k, "unknown key '%s' in %s (allowed: %s)", k, what, allowed);
    }
    cf_kvs_free(&m);
    return 0;
}

/* ----------------------------------------------------------- rendering */

void cf_sb_add(cf_sb *b, const char *s)
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

static void render_at(cf_ctx *c, yaml_node_t *n, cf_sb *b, int depth)
{
    if (c->fatal || depth > CF_MAX_DEPTH)
        return;
    if (n->type == YAML_SCALAR_NODE) {
        cf_sb_add(b, cf_sv(n));
    } else if (n->type == YAML_SEQUENCE_NODE) {
        cf_sb_add(b, "[");
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            if (i != n->data.sequence.items.start)
                cf_sb_add(b, ",");
            render_at(c, cf_node(c, *i), b, depth + 1);
        }
        cf_sb_add(b, "]");
    } else if (n->type == YAML_MAPPING_NODE) {
        cf_kvs m;
        if (cf_view(c, n, &m))
            b->fail = 1;
        cf_sb_add(b, "{");
        for (size_t i = 0; i < m.n; i++) {
            cf_sb_add(b, i ? "," : "");
            cf_sb_add(b, cf_sv(m.it[i].k));
            cf_sb_add(b, ":");
            render_at(c, m.it[i].v, b, depth + 1);
        }
        cf_sb_add(b, "}");
        cf_kvs_free(&m);
    }
}

char *cf_render(cf_ctx *c, yaml_node_t *n)
{
    cf_sb b = {0};
    cf_sb_add(&b, "");
    render_at(c, n, &b, 0);
    if (b.fail) {
        free(b.p);
        cf_oom(c);
        return NULL;
    }
    return b.p;
}

static int equal_at(cf_ctx *c, yaml_node_t *a, yaml_node_t *b, int depth);

static int equal_maps(cf_ctx *c, yaml_node_t *a, yaml_node_t *b, int depth)
{
    cf_kvs ma, mb;
    int bad_a = cf_view(c, a, &ma), bad_b = cf_view(c, b, &mb);
    int eq = !bad_a && !bad_b && ma.n == mb.n;
    for (size_t i = 0; eq && i < ma.n; i++) {
        cf_kv *o = cf_kvs_find(&mb, cf_sv(ma.it[i].k));
        eq = o && equal_at(c, ma.it[i].v, o->v, depth + 1);
    }
    cf_kvs_free(&ma);
    cf_kvs_free(&mb);
    return eq;
}

static int equal_at(cf_ctx *c, yaml_node_t *a, yaml_node_t *b, int depth)
{
    if (a == b)
        return 1;
    if (c->fatal || depth > CF_MAX_DEPTH || a->type != b->type)
        return 0;
    if (a->type == YAML_SCALAR_NODE)
        return (cf_is_null(a) && cf_is_null(b)) || !strcmp(cf_sv(a), cf_sv(b));
    if (a->type == YAML_MAPPING_NODE)
        return equal_maps(c, a, b, depth);
    yaml_node_item_t *i = a->data.sequence.items.start, *j = b->data.sequence.items.start;
    if (a->data.sequence.items.top - i != b->data.sequence.items.top - j)
        return 0;
    for (; i < a->data.sequence.items.top; i++, j++)
        if (!equal_at(c, cf_node(c, *i), cf_node(c, *j), depth + 1))
            return 0;
    return 1;
}

int cf_equal(cf_ctx *c, yaml_node_t *a, yaml_node_t *b)
{
    return equal_at(c, a, b, 0);
}

