/* The cases of a suite: each case as written, with the defaults and each
 * combination of its matrix, into concrete cases with their ids (the
 * corruption list expands one combination further). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void case_init(hx_case *h)
{
    memset(h, 0, sizeof *h);
    snprintf(h->backend, sizeof h->backend, "sim");
    h->device = (lg_device){LG_DEV_CPU, 0};
    h->policy = LG_POLICY_VIA_CPU;
    h->dtype_rule = LG_DTYPE_CONVERT;
    h->store.mirror = 1;
    h->timeout = 10;
    h->expect.outcome = HX_EXPECT_OK;
}

/* Precedence: the combination, then the case, then defaults. */
static yaml_node_t *pick(cf_ctx *c, const cf_casedef *d, const cf_combo *co, int k)
{
    if (co && co->v[k])
        return co->v[k];
    if (d && d->slot[k])
        return d->slot[k];
    return c->defaults[k];
}

static void case_values(cf_ctx *c, const cf_casedef *d, const cf_combo *co, hx_case *h)
{
    for (int k = 0; k < K_SETTABLE && !c->fatal; k++) {
        yaml_node_t *n = pick(c, d, co, k);
        if (n && k != K_CORRUPT)
            cf_parse_key(c, k, n, h);
    }
}

/* Checks the values of defaults or of a case on their own, so that a
 * value every combination overrides is still checked. */
static void check_values(cf_ctx *c, const cf_casedef *d)
{
    hx_case h;
    cf_corrs l = {0};
    int expanded = 0;
    case_init(&h);
    c->scratch = 1;
    case_values(c, d, NULL, &h);
    yaml_node_t *n = pick(c, d, NULL, K_CORRUPT);
    if (n)
        cf_parse_corrupt(c, n, &h.file, &l, &expanded);
    c->scratch = 0;
    cf_corrs_free(&l);
    hx_case_free(&h);
}

static hx_case *next_case(cf_ctx *c, const cf_casedef *d)
{
    hx_suite *s = c->out;
    if (s->ncases == CF_MAX_CASES) {
        cf_report(c, d->node, "the suite expands into more than %d cases", CF_MAX_CASES);
        c->fatal = 1;
        return NULL;
    }
    if (cf_grow(c, &s->cases, &c->cap, s->ncases, sizeof *s->cases))
        return NULL;
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

/* v into the id, its control characters (a newline, an escape) written
 * as \xNN: an id is one line of `harness list`, and prints as it is. */
static void add_id_value(cf_sb *b, const char *v)
{
    char esc[5], one[2] = {0, 0};
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", ch);
            cf_sb_add(b, esc);
        } else {
            one[0] = (char)ch;
            cf_sb_add(b, one);
        }
    }
}

/* suite/name[k=v,...] */
static int make_id(hx_case *h)
{
    cf_sb b = {0};
    cf_sb_add(&b, h->suite);
    cf_sb_add(&b, "/");
    cf_sb_add(&b, h->name);
    for (size_t i = 0; i < h->nparams; i++) {
        cf_sb_add(&b, i ? "," : "[");
        cf_sb_add(&b, h->params[i].key);
        cf_sb_add(&b, "=");
        add_id_value(&b, h->params[i].value);
    }
    if (h->nparams)
        cf_sb_add(&b, "]");
    h->id = b.p;
    return b.fail ? -1 : 0;
}

/* One concrete case: h with one corruption, named and numbered. */
static int emit_one(cf_ctx *c, const cf_casedef *d, const hx_case *h, char **vals,
                    const hx_corrupt *x, int corrupt_in_id)
{
    hx_case *o = next_case(c, d);
    if (!o)
        return -1;
    if (hx_case_copy(o, h)) {
        cf_oom(c);
        return -1;
    }
    c->out->ncases++;
    o->corrupt = *x;
    o->corrupt.from = NULL;
    if (x->from && !(o->corrupt.from = strdup(x->from))) {
        cf_oom(c);
        return -1;
    }
    o->src = c->out->path;
    o->line = (int)d->node->start_mark.line + 1;
    o->col = (int)d->node->start_mark.column + 1;
    int bad = !(o->suite = strdup(c->suite)) || !(o->name = strdup(d->name));
    for (int k = 0; k < K_SETTABLE && !bad; k++) {
        if (k == K_CORRUPT && corrupt_in_id)
            bad = add_param(o, cf_case_keys[k], x->label);
        else if (k != K_CORRUPT && vals[k])
            bad = add_param(o, cf_case_keys[k], vals[k]);
    }
    if (bad || make_id(o)) {
        cf_oom(c);
        return -1;
    }
    return 0;
}

static int emit(cf_ctx *c, const cf_casedef *d, const cf_combo *co, const hx_case *h, const cf_corrs *l,
                int expanded)
{
    char *vals[K_SETTABLE] = {0};
    hx_corrupt none = {.kind = HX_CORRUPT_NONE};
    int rc = 0;
    hx_corrupt_label(&none);
    for (int k = 0; k < K_SETTABLE && !rc; k++)
        if (co->in_id[k] && k != K_CORRUPT && !(vals[k] = cf_render(c, co->v[k])))
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
static void build(cf_ctx *c, const cf_casedef *d, const cf_combo *co)
{
    hx_case h;
    cf_corrs l = {0};
    int expanded = 0;
    case_init(&h);
    case_values(c, d, co, &h);
    if (!pick(c, d, co, K_FILE))
        cf_report(c, d->node, "case '%s' has no file (give file in the case, its matrix or "
                           "defaults)", d->name);
    yaml_node_t *n = pick(c, d, co, K_CORRUPT);
    c->scratch = c->nerrs > 0; /* no fixture generation for an invalid file */
    c->unmeasured = 0;
    if (n)
        cf_parse_corrupt(c, n, &h.file, &l, &expanded);
    c->scratch = 0;
    if (c->unmeasured && !h.skip &&
        !(h.skip = strdup("the torch-archive fixture needs the torch backend to be "
                          "generated and measured")))
        cf_oom(c);
    if (!c->nerrs && !c->fatal)
        emit(c, d, co, &h, &l, expanded);
    cf_corrs_free(&l);
    hx_case_free(&h);
}

static int name_seen(cf_ctx *c, yaml_node_t *n)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (!strcmp(cf_sv(c->names[i]), cf_sv(n))) {
            cf_report(c, n, "duplicate case name '%s' (first at line %zu)", cf_sv(n),
                   c->names[i]->start_mark.line + 1);
            return 1;
        }
    if (cf_grow(c, &c->names, &c->namecap, c->nnames, sizeof *c->names))
        return 1;
    c->names[c->nnames++] = n;
    return 0;
}

void cf_names_free(cf_ctx *c)
{
    free(c->names);
    c->names = NULL;
    c->nnames = c->namecap = 0;
}

static int case_name(cf_ctx *c, cf_casedef *d)
{
    yaml_node_t *n = d->slot[K_NAME];
    if (!n) {
        cf_report(c, d->node, "a case needs a name");
        return -1;
    }
    const char *s = cf_scalar(c, n, "name");
    if (!s)
        return -1;
    if (!cf_word_ok(s, "_.-+:")) {
        cf_report(c, n, "name: '%s' is not a case name (letters, digits and _.-+:)", s);
        return -1;
    }
    d->name = s;
    return name_seen(c, n) ? -1 : 0;
}

static void parse_case(cf_ctx *c, yaml_node_t *n)
{
    cf_casedef d = {.node = n};
    cf_combos cs = {0};
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "cases: each case is a mapping, got %s", cf_kind(n));
        return;
    }
    if (cf_slots(c, n, "a case", cf_case_keys, d.slot, d.knode) || case_name(c, &d))
        return;
    check_values(c, &d);
    if (cf_expand_matrix(c, &d, &cs) == 0)
        for (size_t i = 0; i < cs.n && !c->fatal; i++)
            build(c, &d, &cs.v[i]);
    free(cs.v);
}

int cf_parse_cases(cf_ctx *c, yaml_node_t *n)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "cases: expected a list of cases, got %s", cf_kind(n));
        return -1;
    }
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top && !c->fatal; i++)
        parse_case(c, cf_node(c, *i));
    return c->nerrs ? -1 : 0;
}

void cf_parse_defaults(cf_ctx *c, yaml_node_t *n)
{
    yaml_node_t *knode[K_COUNT];
    if (cf_slots(c, n, "defaults", cf_case_keys, c->defaults, knode))
        return;
    for (int k = K_SETTABLE; k < K_COUNT; k++)
        if (c->defaults[k]) {
            cf_report(c, knode[k], "defaults: '%s' cannot be set here", cf_case_keys[k]);
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
int cf_check_ids(cf_ctx *c)
{
    hx_suite *s = c->out;
    const hx_case **ix = malloc((s->ncases ? s->ncases : 1) * sizeof *ix);
    if (!ix) {
        cf_oom(c);
        return -1;
    }
    for (size_t i = 0; i < s->ncases; i++)
        ix[i] = &s->cases[i];
    qsort(ix, s->ncases, sizeof *ix, cmp_ids);
    for (size_t i = 1; i < s->ncases; i++) {
        const hx_case *a = ix[i - 1], *b = ix[i];
        if (strcmp(a->id, b->id))
            continue;
        cf_report_mark(c, (yaml_mark_t){0, (size_t)b->line - 1, (size_t)b->col - 1},
                    "case id '%s' is generated twice (also by the case at line %d); vary a "
                    "matrix key or rename a case", b->id, a->line);
    }
    free(ix);
    return c->nerrs ? -1 : 0;
}
