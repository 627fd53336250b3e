/* A case's combinations: the matrix's cross product, less what exclude
 * drops, plus what include merges in or adds (GitHub Actions' rules).
 *
 * An include or exclude entry matches the combinations whose values equal
 * the entry's on every matrix key it names. Each axis's values are indexed
 * by hash, and the matches are enumerated from the values found, so an
 * entry costs what it matches, not the whole cross product: 30,000
 * entries over 30,000 combinations took 24 s one against the other. An
 * include entry walks the fewer of what it matches and what exclude kept.
 * Each combination walked counts as a visit (cf_visit), so that entries
 * that each match much of a large matrix meet the file's budget rather
 * than run for seconds. */
#include "case/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t h;
    size_t i; /* the value's index in its list */
} hashed;

typedef struct {
    int key;
    yaml_node_t *list;
    size_t len, stride;    /* a combination's cross index: sum of index * stride */
    hashed *by_hash;       /* the list's values by hash (index_axes) */
    size_t *match, nmatch; /* the values the entry at hand names; all when !named */
    unsigned char *is_match; /* by value: in match[] */
    int named;
} axis;

/* The original combinations (the cross product) and what exclude left of
 * them: pos[] by cross index, the place in cs or NOT_KEPT; cross[] by
 * place, the cross index of each of the n kept. */
typedef struct {
    size_t *pos, *cross, n;
} origins;

#define NOT_KEPT SIZE_MAX

int cf_combo_push(cf_ctx *c, cf_combos *cs, const cf_combo *x)
{
    if (cf_grow(c, &cs->v, &cs->cap, cs->n, sizeof *cs->v))
        return -1;
    cs->v[cs->n++] = *x;
    return 0;
}

static size_t list_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int matrix_axes(cf_ctx *c, yaml_node_t *n, axis *ax, int *nax)
{
    cf_kvs m;
    size_t before = c->nerrs;
    *nax = 0;
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "matrix: expected a mapping of case keys to lists, got %s", cf_kind(n));
        return -1;
    }
    if (cf_view(c, n, &m)) {
        cf_kvs_free(&m);
        return -1;
    }
    for (size_t i = 0; i < m.n; i++) {
        int k = cf_settable_key(c, m.it[i].k, "matrix");
        yaml_node_t *v = m.it[i].v;
        if (k < 0)
            continue;
        if (v->type != YAML_SEQUENCE_NODE || list_len(v) == 0) {
            cf_report(c, v, "matrix.%s: expected a non-empty list of values, got %s", cf_sv(m.it[i].k),
                   v->type == YAML_SEQUENCE_NODE ? "an empty list" : cf_kind(v));
            continue;
        }
        ax[(*nax)++] = (axis){.key = k, .list = v, .len = list_len(v)};
    }
    cf_kvs_free(&m);
    return c->nerrs > before || c->fatal ? -1 : 0;
}

/* The cross product, the first key varying slowest (as GitHub Actions). */
static int cross(cf_ctx *c, yaml_node_t *n, const axis *ax, int nax, cf_combos *cs)
{
    /* The count is computed (saturating) before anything is expanded, so
     * that the message names it: 10^12 combinations cost no time. */
    size_t total = 1;
    for (int a = 0; a < nax; a++) {
        size_t len = list_len(ax[a].list);
        if (total > SIZE_MAX / len)
            total = SIZE_MAX;
        else
            total *= len;
    }
    int over = total > CF_MAX_CASES;
    if (over && total == SIZE_MAX) {
        cf_report(c, n, "matrix: more than %zu combinations; at most %d", total, CF_MAX_CASES);
        return -1;
    }
    if (over) {
        cf_report(c, n, "matrix: %zu combinations, more than the limit of %d", total,
                  CF_MAX_CASES);
        return -1;
    }
    for (size_t i = 0; i < total && !c->fatal; i++) {
        cf_combo x = {0};
        size_t rest = i;
        for (int a = nax - 1; a >= 0; a--) {
            size_t len = list_len(ax[a].list);
            x.v[ax[a].key] = cf_node(c, ax[a].list->data.sequence.items.start[rest % len]);
            x.in_id[ax[a].key] = 1;
            rest /= len;
        }
        if (cf_combo_push(c, cs, &x))
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

/* ------------------------------------------------- values by hash */

/* Values that cf_equal finds equal hash alike: a scalar by its text (the
 * spellings of null as one: a quoted "~" equals a plain ~, which equals a
 * plain null), a list by its length and its items' shallow hashes, a
 * mapping by its kind alone (its `<<` merges would have to be resolved).
 * Values that share a hash are compared with cf_equal. */
static uint64_t value_hash(cf_ctx *c, yaml_node_t *n, int deep)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n->type;
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = cf_sv(n);
        if (cf_is_null_text(s))
            return 1;
        for (; *s; s++)
            h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
        return h;
    }
    if (n->type != YAML_SEQUENCE_NODE || !deep)
        return h;
    h ^= list_len(n) * 0x9e3779b97f4a7c15ULL;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        h = (h ^ value_hash(c, cf_node(c, *i), 0)) * 0x100000001b3ULL;
    return h;
}

static int by_hash(const void *pa, const void *pb)
{
    const hashed *a = pa, *b = pb;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Each axis's values by hash, and the strides of the cross index; o: all
 * ncombos combinations kept, in order, as cross() leaves them. */
static int index_axes(cf_ctx *c, axis *ax, int nax, size_t ncombos, origins *o)
{
    size_t stride = 1;
    for (int a = nax - 1; a >= 0; a--) {
        ax[a].stride = stride;
        stride *= ax[a].len;
        ax[a].by_hash = malloc(ax[a].len * sizeof *ax[a].by_hash);
        ax[a].match = malloc(ax[a].len * sizeof *ax[a].match);
        ax[a].is_match = calloc(ax[a].len, 1);
        if (!ax[a].by_hash || !ax[a].match || !ax[a].is_match) {
            cf_oom(c);
            return -1;
        }
        yaml_node_item_t *it = ax[a].list->data.sequence.items.start;
        for (size_t i = 0; i < ax[a].len && !c->fatal; i++)
            ax[a].by_hash[i] = (hashed){value_hash(c, cf_node(c, it[i]), 1), i};
        qsort(ax[a].by_hash, ax[a].len, sizeof *ax[a].by_hash, by_hash);
    }
    o->pos = malloc((ncombos ? ncombos : 1) * sizeof *o->pos);
    o->cross = malloc((ncombos ? ncombos : 1) * sizeof *o->cross);
    if (!o->pos || !o->cross) {
        cf_oom(c);
        return -1;
    }
    for (size_t j = 0; j < ncombos; j++)
        o->pos[j] = o->cross[j] = j;
    o->n = ncombos;
    return c->fatal ? -1 : 0;
}

static void free_axes(axis *ax, int nax)
{
    for (int a = 0; a < nax; a++) {
        free(ax[a].by_hash);
        free(ax[a].match);
        free(ax[a].is_match);
    }
}

/* The values of axis a equal to v, into a->match. */
static void find_values(cf_ctx *c, axis *a, yaml_node_t *v)
{
    uint64_t h = value_hash(c, v, 1);
    size_t lo = 0, hi = a->len;
    yaml_node_item_t *it = a->list->data.sequence.items.start;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->by_hash[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    a->named = 1;
    a->nmatch = 0;
    for (; lo < a->len && a->by_hash[lo].h == h && !c->fatal; lo++)
        if (cf_equal(c, cf_node(c, it[a->by_hash[lo].i]), v)) {
            a->match[a->nmatch++] = a->by_hash[lo].i;
            a->is_match[a->by_hash[lo].i] = 1;
        }
}

/* Sets each axis's matches from the entry's pairs whose key is a matrix
 * key: the combinations it matches hold every such pair. */
static void match_entry(cf_ctx *c, axis *ax, int nax, const cf_kvs *e, const int *keys)
{
    for (int a = 0; a < nax; a++) {
        for (size_t k = 0; ax[a].named && k < ax[a].nmatch; k++)
            ax[a].is_match[ax[a].match[k]] = 0;
        ax[a].named = 0;
    }
    for (size_t i = 0; i < e->n && !c->fatal; i++)
        for (int a = 0; a < nax; a++)
            if (ax[a].key == keys[i])
                find_values(c, &ax[a], e->it[i].v);
}

static size_t value_at(const axis *a, size_t d) { return a->named ? a->match[d] : d; }
static size_t count_at(const axis *a) { return a->named ? a->nmatch : a->len; }

/* The next combination the entry matches (match_entry), in cross order:
 * *cross its index. d (one digit an axis, zeros to start) counts through
 * each axis's matching values; 0 once there are no more. */
static int next_match(const axis *ax, int nax, size_t *d, int *started, size_t *cross)
{
    if (*started) {
        int a = nax - 1;
        while (a >= 0 && ++d[a] == count_at(&ax[a]))
            d[a--] = 0;
        if (a < 0)
            return 0;
    } else {
        for (int a = 0; a < nax; a++)
            if (!count_at(&ax[a]))
                return 0;
        *started = 1;
    }
    *cross = 0;
    for (int a = 0; a < nax; a++)
        *cross += value_at(&ax[a], d[a]) * ax[a].stride;
    return 1;
}

/* How many combinations of the cross product the entry matches. */
static size_t match_count(const axis *ax, int nax)
{
    size_t n = 1;
    for (int a = 0; a < nax; a++)
        n *= count_at(&ax[a]); /* at most the cross product's size */
    return n;
}

/* Does the combination at cross index x match the entry? */
static int cross_matches(const axis *ax, int nax, size_t x)
{
    for (int a = 0; a < nax; a++)
        if (ax[a].named && !ax[a].is_match[x / ax[a].stride % ax[a].len])
            return 0;
    return 1;
}

/* An include/exclude entry: its view and the case key of each pair (*keys
 * is allocated). Returns -1 after an error, also for an unknown key. */
static int entry_of(cf_ctx *c, yaml_node_t *n, const char *what, cf_kvs *e, int **keys)
{
    int bad = 0;
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "%s: each entry is a mapping of case keys, got %s", what, cf_kind(n));
        return -1;
    }
    if (cf_view(c, n, e))
        return -1;
    if (!(*keys = malloc((e->n ? e->n : 1) * sizeof **keys))) {
        cf_oom(c);
        return -1;
    }
    for (size_t i = 0; i < e->n; i++)
        bad |= ((*keys)[i] = cf_settable_key(c, e->it[i].k, what)) < 0;
    return bad ? -1 : 0;
}

static int exclude_entry(cf_ctx *c, yaml_node_t *n, axis *ax, int nax, unsigned char *drop)
{
    cf_kvs e = {0};
    int *keys = NULL, rc = -1, started = 0;
    size_t hits = 0, d[K_COUNT] = {0}, x;
    if (entry_of(c, n, "exclude", &e, &keys))
        goto done;
    for (size_t i = 0; i < e.n; i++)
        if (!is_axis(ax, nax, keys[i])) {
            cf_report(c, e.it[i].k, "exclude: '%s' is not a key of the matrix", cf_sv(e.it[i].k));
            goto done;
        }
    match_entry(c, ax, nax, &e, keys);
    while (!c->fatal && next_match(ax, nax, d, &started, &x)) {
        drop[x] = 1;
        hits++;
        cf_visit(c);
    }
    if (!hits && !c->fatal)
        cf_report(c, n, "exclude: this entry matches no combination of the matrix");
    rc = 0;
done:
    free(keys);
    cf_kvs_free(&e);
    return rc;
}

/* Drops what the entries of exclude match (every entry is matched against
 * the whole cross product, so that one that matches nothing is told); o
 * follows the combinations that remain. */
static int apply_exclude(cf_ctx *c, yaml_node_t *n, axis *ax, int nax, cf_combos *cs,
                         origins *o)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "exclude: expected a list of mappings, got %s", cf_kind(n));
        return -1;
    }
    unsigned char *drop = calloc(cs->n ? cs->n : 1, 1);
    if (!drop) {
        cf_oom(c);
        return -1;
    }
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        exclude_entry(c, cf_node(c, *i), ax, nax, drop);
    size_t kept = 0;
    for (size_t j = 0; j < cs->n; j++) {
        o->pos[j] = drop[j] ? NOT_KEPT : kept;
        if (!drop[j]) {
            o->cross[kept] = j;
            cs->v[kept++] = cs->v[j];
        }
    }
    cs->n = o->n = kept;
    free(drop);
    return 0;
}

/* The next original combination that exclude kept and the entry matches:
 * *at its place in cs; 0 once there are no more. Whichever is fewer is
 * walked: the combinations the entry matches in the cross product
 * (enumerated; d and started as next_match's), or the kept ones (*k, from
 * 0). Each combination walked is a visit. */
static int next_kept_match(cf_ctx *c, const axis *ax, int nax, const origins *o, int by_cross,
                           size_t *d, int *started, size_t *k, size_t *at)
{
    size_t x;
    while (!c->fatal) {
        if (by_cross ? !next_match(ax, nax, d, started, &x) : *k >= o->n)
            return 0;
        cf_visit(c);
        if (by_cross && o->pos[x] != NOT_KEPT) {
            *at = o->pos[x];
            return 1;
        }
        if (!by_cross && cross_matches(ax, nax, o->cross[(*k)++])) {
            *at = *k - 1;
            return 1;
        }
    }
    return 0;
}

/* GitHub Actions' rule: an entry is merged into every original combination
 * whose matrix values it does not overwrite; values added by an earlier
 * entry may be overwritten. An entry that fits none is a combination of
 * its own; there, every key but the meta keys goes into the id.
 * o: the original combinations (NULL without a matrix). */
static int include_entry(cf_ctx *c, yaml_node_t *n, axis *ax, int nax, cf_combos *cs,
                         const origins *o)
{
    cf_kvs e = {0};
    int *keys = NULL, started = 0, by_cross = 0;
    size_t hits = 0, d[K_COUNT] = {0}, k = 0, at;
    if (entry_of(c, n, "include", &e, &keys)) {
        free(keys);
        cf_kvs_free(&e);
        return 0; /* reported; the other entries are still checked */
    }
    if (o) { /* a matrix: its combinations, what exclude left of them */
        match_entry(c, ax, nax, &e, keys);
        by_cross = match_count(ax, nax) <= o->n;
    }
    while (o && next_kept_match(c, ax, nax, o, by_cross, d, &started, &k, &at)) {
        cf_combo *x = &cs->v[at];
        hits++;
        for (size_t i = 0; i < e.n; i++)
            if (!is_axis(ax, nax, keys[i]))
                x->v[keys[i]] = e.it[i].v;
    }
    int rc = 0;
    if (!hits) {
        cf_combo x = {0};
        for (size_t i = 0; i < e.n; i++) {
            x.v[keys[i]] = e.it[i].v;
            x.in_id[keys[i]] = is_axis(ax, nax, keys[i]) || !cf_is_meta_key(keys[i]);
        }
        rc = cf_combo_push(c, cs, &x);
    }
    free(keys);
    cf_kvs_free(&e);
    return rc;
}

static int apply_include(cf_ctx *c, yaml_node_t *n, axis *ax, int nax, cf_combos *cs,
                         const origins *o)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "include: expected a list of mappings, got %s", cf_kind(n));
        return -1;
    }
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        if (include_entry(c, cf_node(c, *i), ax, nax, cs, o))
            return -1;
    return 0;
}

int cf_expand_matrix(cf_ctx *c, const cf_casedef *d, cf_combos *cs)
{
    axis ax[K_COUNT] = {{0}};
    int nax = 0, rc = -1;
    origins o = {0};
    yaml_node_t *m = d->slot[K_MATRIX], *inc = d->slot[K_INCLUDE], *exc = d->slot[K_EXCLUDE];
    if (!m && exc)
        cf_report(c, d->knode[K_EXCLUDE], "exclude: the case has no matrix");
    if (m && (matrix_axes(c, m, ax, &nax) || cross(c, m, ax, nax, cs)))
        goto done;
    if (m && (exc || inc) && index_axes(c, ax, nax, cs->n, &o))
        goto done;
    if (m && exc && apply_exclude(c, exc, ax, nax, cs, &o))
        goto done;
    if (inc && apply_include(c, inc, ax, nax, cs, m ? &o : NULL))
        goto done;
    rc = 0;
    if (!m && !inc)
        rc = cf_combo_push(c, cs, &(cf_combo){0});
    else if (!cs->n)
        cf_report(c, d->node, "case '%s' expands into no cases", d->name);
done:
    free_axes(ax, nax);
    free(o.pos);
    free(o.cross);
    return rc;
}
