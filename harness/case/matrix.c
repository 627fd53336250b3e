/* A case's combinations: the matrix's cross product, less what exclude
 * drops, plus what include merges in or adds (GitHub Actions' rules). */
#include "case/parse.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int key;
    yaml_node_t *list;
} axis;

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
        ax[(*nax)++] = (axis){k, v};
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

/* Does x hold every pair of the entry whose key is a matrix key? */
static int combo_matches(cf_ctx *c, const cf_combo *x, const cf_kvs *e, const int *keys, const axis *ax,
                         int nax)
{
    for (size_t i = 0; i < e->n; i++)
        if (is_axis(ax, nax, keys[i]) &&
            !(x->v[keys[i]] && cf_equal(c, x->v[keys[i]], e->it[i].v)))
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

static int exclude_entry(cf_ctx *c, yaml_node_t *n, const axis *ax, int nax, cf_combos *cs,
                         unsigned char *drop)
{
    cf_kvs e = {0};
    int *keys = NULL, rc = -1;
    size_t hits = 0;
    if (entry_of(c, n, "exclude", &e, &keys))
        goto done;
    for (size_t i = 0; i < e.n; i++)
        if (!is_axis(ax, nax, keys[i])) {
            cf_report(c, e.it[i].k, "exclude: '%s' is not a key of the matrix", cf_sv(e.it[i].k));
            goto done;
        }
    for (size_t j = 0; j < cs->n; j++)
        if (combo_matches(c, &cs->v[j], &e, keys, ax, nax)) {
            drop[j] = 1;
            hits++;
        }
    if (!hits)
        cf_report(c, n, "exclude: this entry matches no combination of the matrix");
    rc = 0;
done:
    free(keys);
    cf_kvs_free(&e);
    return rc;
}

static int apply_exclude(cf_ctx *c, yaml_node_t *n, const axis *ax, int nax, cf_combos *cs)
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
        exclude_entry(c, cf_node(c, *i), ax, nax, cs, drop);
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
static int include_entry(cf_ctx *c, yaml_node_t *n, const axis *ax, int nax, cf_combos *cs,
                         size_t norig)
{
    cf_kvs e = {0};
    int *keys = NULL;
    size_t hits = 0;
    if (entry_of(c, n, "include", &e, &keys)) {
        free(keys);
        cf_kvs_free(&e);
        return 0; /* reported; the other entries are still checked */
    }
    for (size_t j = 0; j < norig; j++) {
        cf_combo *x = &cs->v[j];
        if (!combo_matches(c, x, &e, keys, ax, nax))
            continue;
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

static int apply_include(cf_ctx *c, yaml_node_t *n, const axis *ax, int nax, cf_combos *cs)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "include: expected a list of mappings, got %s", cf_kind(n));
        return -1;
    }
    size_t norig = cs->n;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        if (include_entry(c, cf_node(c, *i), ax, nax, cs, norig))
            return -1;
    return 0;
}

int cf_expand_matrix(cf_ctx *c, const cf_casedef *d, cf_combos *cs)
{
    axis ax[K_COUNT];
    int nax = 0;
    yaml_node_t *m = d->slot[K_MATRIX], *inc = d->slot[K_INCLUDE], *exc = d->slot[K_EXCLUDE];
    if (!m && exc)
        cf_report(c, d->knode[K_EXCLUDE], "exclude: the case has no matrix");
    if (m && (matrix_axes(c, m, ax, &nax) || cross(c, m, ax, nax, cs)))
        return -1;
    if (m && exc && apply_exclude(c, exc, ax, nax, cs))
        return -1;
    if (inc && apply_include(c, inc, ax, nax, cs))
        return -1;
    if (!m && !inc)
        return cf_combo_push(c, cs, &(cf_combo){0});
    if (!cs->n)
        cf_report(c, d->node, "case '%s' expands into no cases", d->name);
    return 0;
}
